/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KUnit tests of the durability handshake; included at the end of
 * session.c. Sessions here have no mm.
 */
#include <kunit/test.h>

static struct snapper_session *test_session(struct kunit *test)
{
	struct snapper_session *s = session_alloc(NULL);

	KUNIT_ASSERT_NOT_NULL(test, s);
	return s;
}

static void session_test_first_is_full(struct kunit *test)
{
	struct snapper_session *s = test_session(test);

	mutex_lock(&s->lock);
	KUNIT_EXPECT_FALSE(test, snapper_session_incremental(s, 7, 0, false));
	KUNIT_EXPECT_FALSE(test, snapper_session_incremental(s, 7, 1, false));
	KUNIT_EXPECT_EQ(test, snapper_session_next_ckpt(s, 7, false), 1ULL);
	KUNIT_EXPECT_EQ(test, snapper_session_ack(s, 7, 1, 1), 0);
	KUNIT_EXPECT_TRUE(test, snapper_session_incremental(s, 7, 1, false));
	KUNIT_EXPECT_FALSE(test, snapper_session_incremental(s, 7, 1, true));
	KUNIT_EXPECT_FALSE(test, snapper_session_incremental(s, 8, 1, false));
	KUNIT_EXPECT_FALSE(test, snapper_session_incremental(s, 7, 2, false));
	mutex_unlock(&s->lock);
	snapper_session_put(s);
}

static void session_test_owed_until_acked(struct kunit *test)
{
	struct snapper_session *s = test_session(test);
	u64 c1, c2;

	mutex_lock(&s->lock);
	c1 = snapper_session_next_ckpt(s, 7, false);
	KUNIT_EXPECT_EQ(test, snapper_session_owe(s, 0x1000, c1), 0);
	KUNIT_EXPECT_EQ(test, snapper_session_owe(s, 0x5000, c1), 0);
	/* The writer of c1 died: c2 resends 0x1000 and adds 0x9000. */
	c2 = snapper_session_next_ckpt(s, 7, false);
	KUNIT_EXPECT_EQ(test, snapper_session_owe(s, 0x1000, c2), 0);
	KUNIT_EXPECT_EQ(test, snapper_session_owe(s, 0x9000, c2), 0);
	KUNIT_EXPECT_EQ(test, s->nr_owed, 3UL);
	KUNIT_EXPECT_TRUE(test, snapper_session_owes(s, 0x5000));
	KUNIT_EXPECT_TRUE(test, snapper_session_owes_range(s, 0x2000, 0x6000));
	KUNIT_EXPECT_FALSE(test, snapper_session_owes_range(s, 0x2000, 0x5000));
	KUNIT_EXPECT_FALSE(test, snapper_session_owes(s, 0x2000));

	/* Acking c1 late keeps what c2 sent. */
	KUNIT_EXPECT_EQ(test, snapper_session_ack(s, 7, c1, 1), 0);
	KUNIT_EXPECT_FALSE(test, snapper_session_owes(s, 0x5000));
	KUNIT_EXPECT_TRUE(test, snapper_session_owes(s, 0x1000));
	KUNIT_EXPECT_TRUE(test, snapper_session_owes(s, 0x9000));
	KUNIT_EXPECT_EQ(test, snapper_session_ack(s, 7, c2, 2), 0);
	KUNIT_EXPECT_EQ(test, s->nr_owed, 0UL);
	KUNIT_EXPECT_FALSE(test, snapper_session_owes(s, 0x9000));
	KUNIT_EXPECT_FALSE(test, snapper_session_owes(s, 0x1000));

	/* Emptied whole by the ack of the newest: it records pages again. */
	c2 = snapper_session_next_ckpt(s, 7, false);
	KUNIT_EXPECT_EQ(test, snapper_session_owe(s, 0x1000, c2), 0);
	KUNIT_EXPECT_EQ(test, s->nr_owed, 1UL);
	KUNIT_EXPECT_TRUE(test, snapper_session_owes(s, 0x1000));
	KUNIT_EXPECT_FALSE(test, snapper_session_owes(s, 0x9000));
	mutex_unlock(&s->lock);
	snapper_session_put(s);
}

static void session_test_stale_acks(struct kunit *test)
{
	struct snapper_session *s = test_session(test);
	u64 c1, c2;

	mutex_lock(&s->lock);
	KUNIT_EXPECT_EQ(test, snapper_session_ack(s, 7, 1, 1), -ESTALE);
	c1 = snapper_session_next_ckpt(s, 7, false);
	c2 = snapper_session_next_ckpt(s, 8, false);
	KUNIT_EXPECT_EQ(test, snapper_session_ack(s, 8, c1, 1), -ESTALE);
	KUNIT_EXPECT_EQ(test, snapper_session_ack(s, 7, c2 + 1, 1), -ESTALE);
	KUNIT_EXPECT_EQ(test, snapper_session_ack(s, 8, c2, 4), 0);
	KUNIT_EXPECT_EQ(test, snapper_session_ack(s, 7, c1, 1), -ESTALE);
	KUNIT_EXPECT_TRUE(test, snapper_session_incremental(s, 8, 4, false));
	snapper_session_forget(s);
	KUNIT_EXPECT_FALSE(test, snapper_session_incremental(s, 8, 4, false));
	mutex_unlock(&s->lock);
	snapper_session_put(s);
}

static void session_test_thp_hashes(struct kunit *test)
{
	struct snapper_session *s = test_session(test);
	unsigned long h = 0x40000000UL;	/* PMD aligned */
	char *a, *b;
	u64 c1, c2, c3, c4;

	a = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
	b = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, a);
	KUNIT_ASSERT_NOT_NULL(test, b);
	memset(b, 0x5b, PAGE_SIZE);

	/* FULL: nothing is skipped, the hashes are recorded. */
	mutex_lock(&s->lock);
	c1 = snapper_session_next_ckpt(s, 7, true);
	mutex_unlock(&s->lock);
	KUNIT_EXPECT_FALSE(test, snapper_session_thp_unchanged(s, h, a, c1, 0));
	KUNIT_EXPECT_FALSE(test, snapper_session_thp_unchanged(s, h + PAGE_SIZE,
							       a, c1, 0));
	mutex_lock(&s->lock);
	KUNIT_EXPECT_EQ(test, snapper_session_ack(s, 7, c1, 1), 0);
	c2 = snapper_session_next_ckpt(s, 7, false);
	KUNIT_EXPECT_EQ(test, snapper_session_base_ckpt(s, c2), c1);
	snapper_session_thp_seen(s, h, c2);
	snapper_session_thp_sweep(s, c2);
	mutex_unlock(&s->lock);
	/* Subpage 0 unchanged, subpage 1 rewritten. */
	KUNIT_EXPECT_TRUE(test, snapper_session_thp_unchanged(s, h, a, c2, c1));
	KUNIT_EXPECT_FALSE(test, snapper_session_thp_unchanged(s, h + PAGE_SIZE,
							       b, c2, c1));

	/* c2 never acknowledged: c3 compares with c1, not with c2. */
	mutex_lock(&s->lock);
	c3 = snapper_session_next_ckpt(s, 7, false);
	snapper_session_thp_seen(s, h, c3);
	snapper_session_thp_sweep(s, c3);
	mutex_unlock(&s->lock);
	KUNIT_EXPECT_FALSE(test, snapper_session_thp_unchanged(s, h + PAGE_SIZE,
							       b, c3, c1));
	KUNIT_EXPECT_TRUE(test, snapper_session_thp_unchanged(s, h + PAGE_SIZE,
							      a, c3, c1));
	mutex_lock(&s->lock);
	KUNIT_EXPECT_EQ(test, snapper_session_ack(s, 7, c3, 2), 0);
	/* A walk that does not find it PMD-mapped forgets it. */
	c4 = snapper_session_next_ckpt(s, 7, false);
	snapper_session_thp_sweep(s, c4);
	mutex_unlock(&s->lock);
	KUNIT_EXPECT_FALSE(test, snapper_session_thp_unchanged(s, h, a, c4, c3));
	snapper_session_put(s);
}

/*
 * A hash recorded later (netlink.c's hasher thread): it counts only in a block
 * prepared for the same checkpoint, and a late one for an older checkpoint
 * changes nothing of a newer one's.
 */
static void session_test_hash_later(struct kunit *test)
{
	struct snapper_session *s = test_session(test);
	unsigned long h = 0x40000000UL, h1 = h + PMD_SIZE;
	u64 c1, c2, x = 0x1234, y = 0x5678;

	mutex_lock(&s->lock);
	c1 = snapper_session_next_ckpt(s, 7, true);
	KUNIT_EXPECT_TRUE(test, snapper_session_hash_prepare(s, h, c1));
	snapper_session_hash_record(s, h, x, c1);
	/* Not prepared: nothing is allocated, nothing recorded. */
	snapper_session_hash_record(s, h1, y, c1);
	KUNIT_EXPECT_EQ(test, snapper_session_ack(s, 7, c1, 1), 0);
	c2 = snapper_session_next_ckpt(s, 7, false);
	snapper_session_thp_seen(s, h, c2);
	snapper_session_thp_seen(s, h1, c2);
	snapper_session_thp_sweep(s, c2);
	KUNIT_EXPECT_TRUE(test, snapper_session_hash_unchanged(s, h, x, c2, c1));
	KUNIT_EXPECT_FALSE(test, snapper_session_hash_unchanged(s, h1, y, c2, c1));
	/* c1's late record lands nowhere: the block is c2's now. */
	snapper_session_hash_record(s, h + PAGE_SIZE, y, c1);
	KUNIT_EXPECT_EQ(test, snapper_session_ack(s, 7, c2, 2), 0);
	KUNIT_EXPECT_FALSE(test, snapper_session_hash_unchanged(s, h + PAGE_SIZE,
								y, c2 + 1, c2));
	mutex_unlock(&s->lock);
	snapper_session_put(s);
}

/*
 * Shared memory (shared.c) hashes only the mapped pages of a block: a page
 * the last acknowledged checkpoint did not hash is never "unchanged".
 */
static void session_test_page_hashes(struct kunit *test)
{
	struct snapper_session *s = test_session(test);
	unsigned long h = 0x40000000UL;	/* PMD aligned */
	unsigned long h1 = h + PAGE_SIZE;
	u64 c1, c2, c3, x = 0x1234, y = 0x5678;

	mutex_lock(&s->lock);
	c1 = snapper_session_next_ckpt(s, 7, true);
	KUNIT_EXPECT_FALSE(test, snapper_session_hash_unchanged(s, h, x, c1, 0));
	KUNIT_EXPECT_FALSE(test, snapper_session_hash_unchanged(s, h1, y, c1, 0));
	KUNIT_EXPECT_EQ(test, snapper_session_ack(s, 7, c1, 1), 0);
	/* c2 hashes page 0 only (page 1 was unmapped meanwhile). */
	c2 = snapper_session_next_ckpt(s, 7, false);
	KUNIT_EXPECT_TRUE(test, snapper_session_hash_unchanged(s, h, x, c2, c1));
	snapper_session_thp_sweep(s, c2);
	KUNIT_EXPECT_EQ(test, snapper_session_ack(s, 7, c2, 2), 0);
	c3 = snapper_session_next_ckpt(s, 7, false);
	KUNIT_EXPECT_TRUE(test, snapper_session_hash_unchanged(s, h, x, c3, c2));
	KUNIT_EXPECT_FALSE(test, snapper_session_hash_unchanged(s, h1, y, c3, c2));
	/* A mapping new since the base (base 0) is never skipped. */
	KUNIT_EXPECT_FALSE(test, snapper_session_hash_unchanged(s, h, x, c3, 0));
	mutex_unlock(&s->lock);
	snapper_session_put(s);
}

static struct kunit_case session_test_cases[] = {
	KUNIT_CASE(session_test_page_hashes),
	KUNIT_CASE(session_test_first_is_full),
	KUNIT_CASE(session_test_owed_until_acked),
	KUNIT_CASE(session_test_stale_acks),
	KUNIT_CASE(session_test_thp_hashes),
	KUNIT_CASE(session_test_hash_later),
	{}
};

static struct kunit_suite session_test_suite = {
	.name = "snapper-session",
	.test_cases = session_test_cases,
};

kunit_test_suite(session_test_suite);
