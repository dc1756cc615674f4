// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the manifest parser. Whatever the bytes, it returns
 * an error or a manifest; a manifest it accepts must encode back to the
 * very same bytes (but the checksum, which this build does not check so
 * that the fuzzer gets past it), so the parser accepts nothing the writer
 * cannot make.
 *
 * Build and run (from the top of the tree):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
 *     -Itools -Iuapi selftests/fuzz/fuzz_manifest.c tools/store/format.c \
 *     -lxxhash -o build/fuzz/fuzz_manifest
 *   build/fuzz/fuzz_manifest -max_total_time=60 build/fuzz/manifest-corpus \
 *     selftests/fuzz/corpus/manifest
 */
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b = { 0 };
	struct manifest m;
	const char *why;

	if (manifest_parse(data, size, &m, &why))
		return 0;
	if (manifest_encode(&m, &b) || b.len != size ||
	    memcmp(b.p, data, size - 8))
		abort();
	free(b.p);
	manifest_free(&m);
	return 0;
}
