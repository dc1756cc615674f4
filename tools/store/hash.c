// SPDX-License-Identifier: GPL-2.0
/*
 * The page hash, XXH3-128, from whichever of two builds of libxxhash's
 * code runs faster on this machine.
 *
 * Every page a checkpoint stores, and every page a restore or a verify
 * reads, is hashed once. Debian's libxxhash is compiled for SSE2, which
 * QEMU's TCG emulates with a helper call per instruction: in the project's
 * guests (selftests/qemu/run) it hashed 370-420 MB/s, and the hash was a
 * third of the busy time of a full checkpoint (bench/profile-full,
 * Documentation/benchmarks.rst).
 *
 * The other build is the same library's header compiled here inline with
 * its vector unit off (XXH_INLINE_ALL, XXH_VECTOR 0, as xxhash.h offers),
 * and, by the Makefile, with gcc's vectoriser off too (at -O2 it turns the
 * scalar loop into SSE2 again) and its loops unrolled (fewer of the
 * branches TCG pays for). 64 MiB a page at a time, 2026-12-06: in a 6.1
 * guest 2.4-3.3 GB/s, against 1.1-1.4 for the scalar build at plain -O2;
 * on the development host 10-12.5 GB/s, the library's 10.2, plain -O2 7.4.
 * XXH3's result does not depend on the build (selftests/host/hash checks
 * both against each other), so the choice changes the speed only. As the
 * kernel picks its RAID-6 and XOR routines, the first page hashed by the
 * process times both builds on a few pages and keeps the faster: well under
 * a millisecond, once.
 *
 * The checksums of the store's files and pack indexes (XXH3-64, sum64())
 * follow the same choice: the same code at their sizes. Checking the
 * 4 MiB index of a 1 GiB store's full generation took 12 ms of every
 * checkpoint's content index in the TCG guest with the SSE2 build.
 */
#define XXH_INLINE_ALL
#define XXH_VECTOR 0		/* XXH_SCALAR */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "internal.h"

#define CALIBRATE_PAGES		8
#define CALIBRATE_ROUNDS	3

struct hash128 hash_page_scalar(const void *page)
{
	XXH128_hash_t h = XXH3_128bits(page, STORE_PAGE_SIZE);

	return (struct hash128){ .lo = h.low64, .hi = h.high64 };
}

uint64_t sum64_scalar(const void *p, size_t len)
{
	return XXH3_64bits(p, len);
}

static struct hash128 (*hash_impl)(const void *page) = hash_page_lib;
static uint64_t (*sum_impl)(const void *p, size_t len) = sum64_lib;
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;
/* Where the timed hashes go, so that the calls are not optimised away. */
static volatile uint64_t hash_sink;

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Nanoseconds @fn takes for the pages of @buf, the best of a few rounds. */
static uint64_t time_impl(struct hash128 (*fn)(const void *),
			  const uint8_t *buf)
{
	uint64_t best = UINT64_MAX, t;
	int r, i;

	for (r = 0; r < CALIBRATE_ROUNDS; r++) {
		t = now_ns();
		for (i = 0; i < CALIBRATE_PAGES; i++)
			hash_sink ^= fn(buf + (size_t)i * STORE_PAGE_SIZE).lo;
		t = now_ns() - t;
		if (t < best)
			best = t;
	}
	return best;
}

static void choose(void)
{
	static uint8_t buf[CALIBRATE_PAGES * STORE_PAGE_SIZE];
	uint64_t x = 0x9e3779b97f4a7c15ull, lib, scalar;
	size_t i;

	/* Content that is not all alike, so neither build can shortcut. */
	for (i = 0; i < sizeof(buf); i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
	lib = time_impl(hash_page_lib, buf);
	scalar = time_impl(hash_page_scalar, buf);
	if (scalar < lib) {
		hash_impl = hash_page_scalar;
		sum_impl = sum64_scalar;
	}
}

struct hash128 hash_page(const void *page)
{
	pthread_once(&hash_once, choose);
	return hash_impl(page);
}

uint64_t sum64(const void *p, size_t len)
{
	pthread_once(&hash_once, choose);
	return sum_impl(p, len);
}
