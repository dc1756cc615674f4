// SPDX-License-Identifier: GPL-2.0
/*
 * Page compression for packs (Documentation/store-format.rst). Each page
 * is compressed on its own, so that any one can be read without its
 * neighbours, and a page that compression does not shrink is kept as it
 * is. liblz4 does the work; this file only bounds it: a record
 * decompresses to exactly one page or is refused, whatever its bytes.
 *
 * LZ4, not zstd: under TCG, page by page on a real Python heap
 * (bench/codec-speed.c, best of five rounds), zstd compressed 35 MB/s at
 * level 1, 50 at -1 and 54 at -5, LZ4 242 MB/s (to 28% of the bytes;
 * zstd to 14%, 15% and 26%): zstd would have made the commit of a full
 * checkpoint several times slower for a saving LZ4 mostly makes too.
 */
#include <errno.h>
#include <string.h>
#include <lz4.h>

#include "internal.h"

bool codec_known(uint32_t codec)
{
	return codec == STORE_CODEC_NONE || codec == STORE_CODEC_LZ4;
}

const char *codec_name(uint32_t codec)
{
	switch (codec) {
	case STORE_CODEC_NONE:
		return "none";
	case STORE_CODEC_LZ4:
		return "lz4";
	}
	return "unknown";
}

uint32_t codec_compress(uint32_t codec, const void *page, uint8_t *out)
{
	int n = 0;

	/* Room for less than a page: anything longer is not worth it. */
	if (codec == STORE_CODEC_LZ4)
		n = LZ4_compress_default(page, (char *)out, STORE_PAGE_SIZE,
					 STORE_PAGE_SIZE - 1);
	if (n > 0 && n < (int)STORE_PAGE_SIZE)
		return n;
	memcpy(out, page, STORE_PAGE_SIZE);
	return STORE_PAGE_SIZE;
}

int codec_decompress(uint32_t codec, const uint8_t *rec, uint32_t len,
		     void *page, const char **why)
{
	int n;

	if (!len || len > STORE_PAGE_SIZE) {
		*why = "record length out of range";
		return -EBADMSG;
	}
	if (len == STORE_PAGE_SIZE) {
		memcpy(page, rec, STORE_PAGE_SIZE);
		return 0;
	}
	if (codec != STORE_CODEC_LZ4) {
		*why = "compressed record in a pack of no known codec";
		return -EBADMSG;
	}
	/* Reads no more than @len bytes, writes no more than one page. */
	n = LZ4_decompress_safe((const char *)rec, page, len, STORE_PAGE_SIZE);
	if (n < 0) {
		*why = "record does not decompress";
		return -EBADMSG;
	}
	if (n != (int)STORE_PAGE_SIZE) {
		*why = "record decompresses to less than a page";
		return -EBADMSG;
	}
	return 0;
}
