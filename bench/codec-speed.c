// SPDX-License-Identifier: GPL-2.0
/*
 * The measurement behind the store's codec (tools/store/codec.c): each
 * 4 KiB page of the files given compressed on its own, as the store does,
 * by zstd at levels 1, -1 and -5 and by LZ4; all-zero pages left out (the
 * store never writes them). Prints, per codec, the bytes out over the
 * bytes in (a page that does not shrink counts whole, as the store keeps
 * it) and the compression and decompression rates: the best of ROUNDS
 * rounds, each of which runs every codec in turn, so that a host whose
 * load moves (TCG on a shared machine) slows them all alike. At most
 * 8192 pages are used. Not built by make: zstd is not a dependency of
 * the project.
 *
 *   cc -O2 bench/codec-speed.c -o build/codec-speed -lzstd -llz4
 *   build/codec-speed FILE...
 */
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#define PG 4096

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static size_t compress(int codec, ZSTD_CCtx *c, const char *in, char *out)
{
	static const int level[] = { 1, -1, -5 };
	size_t n;

	if (codec == 3) {
		int r = LZ4_compress_default(in, out, PG, PG - 1);

		return r > 0 ? (size_t)r : 0;
	}
	n = ZSTD_compressCCtx(c, out, PG - 1, in, PG, level[codec]);
	return ZSTD_isError(n) ? 0 : n;
}

static int decompress(int codec, ZSTD_DCtx *d, const char *in, size_t len,
		      char *out)
{
	if (codec == 3)
		return LZ4_decompress_safe(in, out, len, PG) == PG ? 0 : -1;
	return ZSTD_decompressDCtx(d, out, PG, in, len) == PG ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const char *const name[] = { "zstd-1", "zstd--1", "zstd--5", "lz4" };
	enum { ROUNDS = 5 };
	size_t cap = 32 << 20, len = 0, np = 0;
	double best_c[4] = { 0 }, best_d[4] = { 0 };
	size_t outb[4] = { 0 };
	char *data = malloc(cap), *recs = malloc(cap), back[PG];
	size_t *rlen = malloc(cap / PG * sizeof(*rlen));
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_DCtx *d = ZSTD_createDCtx();

	if (!data || !recs || !rlen || !c || !d)
		return 1;
	for (int i = 1; i < argc && len < cap; i++) {
		FILE *f = fopen(argv[i], "rb");
		char page[PG];

		while (f && len < cap && fread(page, 1, PG, f) == PG) {
			int zero = 1;

			for (int k = 0; zero && k < PG; k++)
				zero = !page[k];
			if (!zero) {
				memcpy(data + len, page, PG);
				len += PG;
			}
		}
		if (f)
			fclose(f);
	}
	np = len / PG;
	if (!np)
		return 1;
	for (int round = 0; round < ROUNDS; round++) {
		for (int codec = 0; codec < 4; codec++) {
			size_t out = 0;
			double t0 = now(), tc, td;

			for (size_t i = 0; i < np; i++) {
				rlen[i] = compress(codec, c, data + i * PG, recs + i * PG);
				out += rlen[i] ? rlen[i] : PG;
			}
			tc = now() - t0;
			t0 = now();
			for (size_t i = 0; i < np; i++)
				if (rlen[i] && decompress(codec, d, recs + i * PG,
							  rlen[i], back))
					return 2;
			td = now() - t0;
			if (!round || tc < best_c[codec])
				best_c[codec] = tc;
			if (!round || td < best_d[codec])
				best_d[codec] = td;
			outb[codec] = out;
		}
	}
	for (int codec = 0; codec < 4; codec++)
		printf("%-8s %zu pages: out/in %.3f, compress %.0f MB/s, decompress %.0f MB/s (best of %d)\n",
		       name[codec], np, (double)outb[codec] / len,
		       len / best_c[codec] / 1e6, len / best_d[codec] / 1e6, ROUNDS);
	return 0;
}
