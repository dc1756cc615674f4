// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the pack parsers (header, footer, index), fed a whole
 * pack file as the reader sees it: header from the start, footer from the
 * end, index where the size puts it. A pack whose header says version 2
 * is taken as compressed, as its manifest would say: then every index
 * entry is parsed, and every record it accepts is decompressed, which
 * must stay inside the record and inside one page.
 *
 * Build and run (from the top of the tree):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
 *     -Itools -Iuapi selftests/fuzz/fuzz_pack.c tools/store/format.c \
 *     tools/store/codec.c -lxxhash -llz4 -o build/fuzz/fuzz_pack
 *   build/fuzz/fuzz_pack -max_total_time=60 build/fuzz/pack-corpus \
 *     selftests/fuzz/corpus/pack
 */
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

static void records(const uint8_t *data, uint64_t index_off, uint64_t nslots)
{
	uint8_t *page = malloc(STORE_PAGE_SIZE);

	for (uint64_t i = 0; page && i < nslots; i++) {
		uint8_t *rec;
		struct hash128 h;
		struct zloc z;
		const char *why;

		if (zentry_parse(data + index_off + i * ZENTRY_SIZE, index_off,
				 &h, &z, &why))
			continue;
		if (z.off + z.len > index_off)
			abort();
		/* A copy of exactly the record: ASan sees any over-read. */
		rec = malloc(z.len);
		if (!rec)
			break;
		memcpy(rec, data + z.off, z.len);
		codec_decompress(STORE_CODEC_LZ4, rec, z.len, page, &why);
		free(rec);
	}
	free(page);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *foot, *index;
	uint64_t nslots, store_id, gen, index_off;
	uint32_t codec;
	const char *why;

	if (size < PACK_FOOTER_SIZE)
		return 0;
	codec = size > 12 && data[8] == PACK_VERSION_CODEC ? STORE_CODEC_LZ4 :
							      STORE_CODEC_NONE;
	/* Take the ids the footer claims, as if the store expected them. */
	foot = data + size - PACK_FOOTER_SIZE;
	store_id = get_le64(foot + 8);
	gen = get_le64(foot + 16);
	pack_header_parse(data, size < PACK_HDR_SIZE ? size : PACK_HDR_SIZE,
			  store_id, gen, codec, &why);
	if (pack_footer_parse(foot, store_id, gen, size, codec, &nslots, &why))
		return 0;
	/* Accepted: the index must then lie inside the file. */
	if (pack_geometry(size, nslots, codec, &index_off, &why) ||
	    index_off + nslots * pack_entry_size(codec) + PACK_FOOTER_SIZE != size)
		abort();
	index = data + index_off;
	pack_index_check(foot, index, nslots, codec, &why);
	if (codec)
		records(data, index_off, nslots);
	return 0;
}
