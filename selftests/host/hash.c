// SPDX-License-Identifier: GPL-2.0
/*
 * The store's page hash (tools/store/hash.c): the two builds of XXH3-128
 * it chooses between give the same hash for every page, so that the
 * choice never changes what a store holds, and both give XXH3-128 as
 * defined (known answers from Debian's xxh128sum 0.8.1, which prints the
 * high half first: `head -c 4096 /dev/zero | xxh128sum`, and the page of
 * bytes i % 251). The same for the checksum, XXH3-64 (``xxhsum -H3``).
 */
#include "kselftest_harness.h"
#include "store_helpers.h"
#include "store/internal.h"

static void expect_same(struct __test_metadata *_metadata, const uint8_t *p,
			const char *what)
{
	struct hash128 lib = hash_page_lib(p);
	struct hash128 scalar = hash_page_scalar(p);
	struct hash128 chosen = hash_page(p);

	EXPECT_EQ(lib.lo, scalar.lo) TH_LOG("%s", what);
	EXPECT_EQ(lib.hi, scalar.hi) TH_LOG("%s", what);
	EXPECT_EQ(lib.lo, chosen.lo) TH_LOG("%s", what);
	EXPECT_EQ(lib.hi, chosen.hi) TH_LOG("%s", what);
}

static void expect_hash(struct __test_metadata *_metadata, const uint8_t *p,
			uint64_t hi, uint64_t lo)
{
	struct hash128 h;

	h = hash_page_scalar(p);
	EXPECT_EQ(hi, h.hi);
	EXPECT_EQ(lo, h.lo);
	h = hash_page_lib(p);
	EXPECT_EQ(hi, h.hi);
	EXPECT_EQ(lo, h.lo);
}

TEST(known_answers)
{
	static uint8_t page[PG];
	size_t i;

	memset(page, 0, PG);
	expect_hash(_metadata, page, 0x3ee8dc4f9e7ee495ull,
		    0x93d76fe148c689baull);
	for (i = 0; i < PG; i++)
		page[i] = i % 251;
	expect_hash(_metadata, page, 0xe12cd72144990fe5ull,
		    0x7135ffa504f1bc71ull);
}

TEST(builds_agree)
{
	static uint8_t page[PG];
	uint64_t seed;
	size_t bit;

	memset(page, 0, PG);
	expect_same(_metadata, page, "zero page");
	memset(page, 0xff, PG);
	expect_same(_metadata, page, "all ones");
	for (seed = 1; seed <= 2000; seed++) {
		fake_page(page, seed, seed * PG);
		expect_same(_metadata, page, "random page");
	}
	/* One bit set anywhere: every stripe and the tail of the input. */
	for (bit = 0; bit < PG * 8; bit += 61) {
		memset(page, 0, PG);
		page[bit / 8] = 1u << (bit % 8);
		expect_same(_metadata, page, "one bit");
	}
}

/* A different page gives a different hash, in either build. */
TEST(builds_tell_pages_apart)
{
	static uint8_t a[PG], b[PG];
	struct hash128 ha, hb;

	fake_page(a, 7, 0x1000);
	memcpy(b, a, PG);
	b[PG - 1] ^= 0x80;
	ha = hash_page_scalar(a);
	hb = hash_page_scalar(b);
	EXPECT_TRUE(ha.lo != hb.lo || ha.hi != hb.hi);
	ha = hash_page_lib(a);
	hb = hash_page_lib(b);
	EXPECT_TRUE(ha.lo != hb.lo || ha.hi != hb.hi);
}

/*
 * The checksums (sum64()) from both builds, at every length up to a few
 * stripes and at the sizes the store checks (a 4 MiB pack index), and as
 * xxhsum -H3 gives them: of nothing, of a zero page, of 100000 bytes
 * i % 251.
 */
TEST(checksum_builds_agree)
{
	static uint8_t buf[(4 << 20) + 3];
	static const size_t big[] = { 4096, 65536, 1 << 20, sizeof(buf) };
	size_t i, len;

	for (i = 0; i < sizeof(buf); i += PG)
		fake_page(buf + i, i + 1, i);
	for (len = 0; len <= 1100; len++) {
		EXPECT_EQ(sum64_lib(buf, len), sum64_scalar(buf, len))
			TH_LOG("%zu bytes", len);
		EXPECT_EQ(sum64_lib(buf + 3, len), sum64(buf + 3, len))
			TH_LOG("%zu bytes, unaligned", len);
	}
	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		EXPECT_EQ(sum64_lib(buf, big[i]), sum64_scalar(buf, big[i]))
			TH_LOG("%zu bytes", big[i]);
	}
	EXPECT_EQ(0x2d06800538d394c2ull, sum64_scalar(buf, 0));
	EXPECT_EQ(0x2d06800538d394c2ull, sum64_lib(buf, 0));
	memset(buf, 0, PG);
	EXPECT_EQ(0x93d76fe148c689baull, sum64_scalar(buf, PG));
	EXPECT_EQ(0x93d76fe148c689baull, sum64_lib(buf, PG));
	for (i = 0; i < 100000; i++)
		buf[i] = i % 251;
	EXPECT_EQ(0x42c23aeead96750dull, sum64_scalar(buf, 100000));
	EXPECT_EQ(0x42c23aeead96750dull, sum64_lib(buf, 100000));
}

TEST_HARNESS_MAIN
