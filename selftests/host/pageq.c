// SPDX-License-Identifier: GPL-2.0
/*
 * The page queue (tools/pageq.c) against a real store: pages received
 * into the space it lends are kept where they lie, pages from anywhere
 * else are copied in, and the generation gives back every byte either
 * way, in the order fed, however the batches and the ring wrap.
 *
 * The "stream" here mimics what genl.c receives: pages at unaligned
 * offsets between other bytes, which the source overwrites as soon as
 * it asks for the next space.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"

#include "kselftest_harness.h"
#include "store_helpers.h"
#include "pageq.h"

#define RECV	(64 * 1024)
#define REC	(PG + 36)	/* a page message's size, roughly */
#define NPAGES	3000		/* several times round the ring */

struct fixture_state {
	char dir[256];
	struct store *s;
	struct store_gen *g;
	struct pageq *q;
};

static void begin(struct __test_metadata *_metadata, struct fixture_state *f)
{
	struct store_knobs k = knobs_with(0, 0, 0);

	tmp_store(f->dir, sizeof(f->dir));
	ASSERT_EQ(0, store_open(&f->s, f->dir, &k, 0));
	ASSERT_EQ(0, store_gen_begin(f->s, STORE_GEN_FULL, 0, &f->g));
	ASSERT_EQ(0, pageq_start(&f->q, f->g, false));
}

/* Stops the queue, commits [0, n pages) and checks each page's seed. */
static void finish(struct __test_metadata *_metadata, struct fixture_state *f,
		   const uint64_t *seed, size_t n)
{
	struct store_vma v = { .start = 0x400000, .end = 0x400000 + n * PG,
			       .prot = 3, .path = "" };
	char err[512];
	uint64_t id;
	size_t i;

	ASSERT_EQ(0, pageq_stop(f->q, err, sizeof(err)));
	ASSERT_EQ(0, store_gen_add_vma(f->g, &v));
	ASSERT_EQ(0, store_gen_commit(f->g, &id));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, page_is(f->s, id, v.start + i * PG, seed[i]))
			TH_LOG("page %zu", i);
	}
	store_close(f->s);
	tmp_store_free(f->dir);
}

/*
 * Receives @n pages starting at page @first into the space lent, @per
 * per receive (the last page may be fed twice: the later one wins).
 * Returns the number fed.
 */
static size_t receive(struct __test_metadata *_metadata, struct pageq *q,
		      uint64_t *seed, size_t first, size_t n, size_t per,
		      uint64_t gen)
{
	size_t i = first, k;

	while (i < first + n) {
		uint8_t *buf = pageq_space(q, RECV);

		ASSERT_NE(NULL, buf);
		/* Bytes that are not pages, as a header and hole would be. */
		memset(buf, 0xa5, RECV);
		for (k = 0; k < per && i < first + n; k++, i++) {
			uint8_t *p = buf + 20 + k * REC;

			seed[i] = gen * 100000 + i + 1;
			fake_page(p, seed[i], 0x400000 + i * PG);
			ASSERT_EQ(0, pageq_add(q, 0x400000 + i * PG, p));
		}
		/* What follows the last page is the source's again. */
		memset(buf + 20 + k * REC, 0x5a, RECV - 20 - k * REC);
	}
	return n;
}

TEST(lent_space_kept_in_place)
{
	struct fixture_state f;
	static uint64_t seed[NPAGES];

	begin(_metadata, &f);
	/* Full receives, then short ones that leave most of a space unused. */
	receive(_metadata, f.q, seed, 0, NPAGES / 2, (RECV - 20) / REC, 1);
	receive(_metadata, f.q, seed, NPAGES / 2, NPAGES / 2, 1, 1);
	finish(_metadata, &f, seed, NPAGES);
}

TEST(copied_and_lent_pages_mixed)
{
	struct fixture_state f;
	static uint64_t seed[NPAGES];
	uint8_t page[PG];
	size_t i = 0;

	begin(_metadata, &f);
	while (i < NPAGES) {
		/* A page from elsewhere ends the loan; then lend again. */
		seed[i] = 7000000 + i;
		fake_page(page, seed[i], 0x400000 + i * PG);
		ASSERT_EQ(0, pageq_add(f.q, 0x400000 + i * PG, page));
		memset(page, 0, PG);
		i++;
		if (i < NPAGES)
			i += receive(_metadata, f.q, seed, i,
				     i + 5 < NPAGES ? 5 : NPAGES - i, 3, 2);
	}
	finish(_metadata, &f, seed, NPAGES);
}

TEST(later_copy_of_an_address_wins)
{
	struct fixture_state f;
	static uint64_t seed[64];
	uint8_t page[PG];

	begin(_metadata, &f);
	receive(_metadata, f.q, seed, 0, 64, 9, 3);
	/* Page 10 again, copied: the generation must hold this one. */
	seed[10] = 424242;
	fake_page(page, seed[10], 0x400000 + 10 * PG);
	ASSERT_EQ(0, pageq_add(f.q, 0x400000 + 10 * PG, page));
	finish(_metadata, &f, seed, 64);
}

TEST(space_larger_than_a_batch_refused)
{
	struct fixture_state f;
	static uint64_t seed[8];

	begin(_metadata, &f);
	ASSERT_EQ(NULL, pageq_space(f.q, 1 << 30));
	receive(_metadata, f.q, seed, 0, 8, 8, 4);
	finish(_metadata, &f, seed, 8);
}

/*
 * A store error in the writer stops the source within the ring: the lent
 * space runs out, pages from elsewhere are refused, and the stop reports
 * the writer's error and its line.
 */
TEST(writer_error_reaches_the_source)
{
	struct fixture_state f;
	uint8_t page[PG];
	char err[512] = "";
	size_t i;
	int ret = 0;

	begin(_metadata, &f);
	/* The third call that changes the disk fails: the pack's first write. */
	store_fault_set(3, false);
	for (i = 0; i < NPAGES && !ret; i++) {
		uint8_t *buf = pageq_space(f.q, RECV);

		fake_page(page, 5, 0x400000 + i * PG);
		if (!buf) {
			ret = pageq_add(f.q, 0x400000 + i * PG, page);
			break;
		}
		memcpy(buf + 20, page, PG);
		ret = pageq_add(f.q, 0x400000 + i * PG, buf + 20);
	}
	store_fault_set(0, false);
	ASSERT_EQ(-EIO, ret) TH_LOG("fed %zu pages", i);
	/* At most the ring and the store's write buffer ahead of the fault. */
	ASSERT_LT(i, 2000);
	ASSERT_EQ(-EIO, pageq_stop(f.q, err, sizeof(err)));
	ASSERT_NE(0, err[0]);
	TH_LOG("after %zu pages: %s", i, err);
	store_gen_abort(f.g);
	store_close(f.s);
	tmp_store_free(f.dir);
}

TEST_HARNESS_MAIN
