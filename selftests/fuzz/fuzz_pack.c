// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the pack parsers (header, footer, index), fed a whole
 * pack file as the reader sees it: header from the start, footer from the
 * end, index where the footer says.
 *
 * Build and run (from the top of the tree):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
 *     -Itools -Iuapi selftests/fuzz/fuzz_pack.c tools/store/format.c \
 *     -lxxhash -o build/fuzz/fuzz_pack
 *   build/fuzz/fuzz_pack -max_total_time=60 build/fuzz/pack-corpus \
 *     selftests/fuzz/corpus/pack
 */
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *foot, *index;
	uint64_t nslots, store_id, gen;
	const char *why;

	if (size < PACK_FOOTER_SIZE)
		return 0;
	/* Take the ids the footer claims, as if the store expected them. */
	foot = data + size - PACK_FOOTER_SIZE;
	store_id = get_le64(foot + 8);
	gen = get_le64(foot + 16);
	pack_header_parse(data, size < PACK_HDR_SIZE ? size : PACK_HDR_SIZE,
			  store_id, gen, &why);
	if (pack_footer_parse(foot, store_id, gen, size, &nslots, &why))
		return 0;
	/* Accepted: the index must then lie inside the file. */
	index = data + pack_index_offset(nslots);
	if (pack_index_offset(nslots) + nslots * HASH_SIZE + PACK_FOOTER_SIZE != size)
		abort();
	pack_index_check(foot, index, nslots, &why);
	return 0;
}
