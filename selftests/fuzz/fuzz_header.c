// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the store header and sequence file parsers. An
 * accepted file must encode back to the same bytes (but the checksum,
 * which fuzzing builds do not check).
 *
 * Build and run (from the top of the tree):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
 *     -Itools -Iuapi selftests/fuzz/fuzz_header.c tools/store/format.c \
 *     -lxxhash -o build/fuzz/fuzz_header
 *   build/fuzz/fuzz_header -max_total_time=60 build/fuzz/header-corpus \
 *     selftests/fuzz/corpus/header
 */
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t seq[SEQ_FILE_SIZE];
	uint64_t id, last;
	const char *why;

	if (!store_file_parse(data, size, &id, &why) &&
	    get_le64(data + 16) != id)
		abort();
	if (size >= 16 && !seq_file_parse(data, size, get_le64(data + 8), &last,
					  &why)) {
		seq_file_encode(seq, get_le64(data + 8), last);
		if (memcmp(seq, data, SEQ_FILE_SIZE - 8))
			abort();
	}
	return 0;
}
