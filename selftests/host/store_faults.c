// SPDX-License-Identifier: GPL-2.0
/*
 * Interrupting the store at every step. The library counts each system
 * call that changes the disk; for every N, the Nth one fails (or, as a
 * crash would, every one from the Nth on), then the store is reopened
 * without faults and must hold every generation committed before, whole,
 * and no file that no manifest reaches.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wclobbered"
#endif

#include "kselftest_harness.h"
#include "store_helpers.h"

#define A 0x40000000ull

#define MAX_PAGES 3000

static const struct store_vma vma = { A, A + MAX_PAGES * PG, 0, 3, 0, "", false };

/* Pages per generation: 4, or more than the writer's buffer holds. */
static uint64_t npages = 4;
/* How the interrupted commit's pack is written (store_set_codec()). */
static enum store_codec codec = STORE_CODEC_NONE;

/* Generation k (a full one) holds pages A+i for i < npages, seeded k*10+i. */
static int commit_k(struct store *s, uint64_t k, uint64_t *id)
{
	static struct feed f[MAX_PAGES];

	for (uint64_t i = 0; i < npages; i++)
		f[i] = (struct feed){ A + i * PG, k * 10 + i };
	return commit_one(s, STORE_GEN_FULL, &vma, 1, f, npages, id);
}

static int gen_whole(struct store *s, uint64_t id)
{
	int ret = 0;

	for (uint64_t i = 0; !ret && i < npages; i++)
		ret = page_is(s, id, A + i * PG, id * 10 + i);
	return ret;
}

/* Packs and manifests pair up one to one, and nothing else is left. */
static int tidy(const char *dir, const struct store *s)
{
	const uint64_t *ids;
	size_t n = store_generations(s, &ids);
	char name[32];

	if (count_files(dir, ".tmp"))
		return -1;
	if (count_files(dir, ".p") != n || count_files(dir, ".m") != n)
		return -2;
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "/%016lx.p", ids[i]);
		if (!find_file(dir, name))
			return -3;
	}
	return 0;
}

/*
 * @before generations, then one more interrupted at call nth, for every
 * nth. With threshold 16 and 15 before, the interrupted one also makes
 * new directories.
 */
/* No state: the fixture is there for TEST_F_TIMEOUT (every commit fsyncs). */
FIXTURE(faults) {
};

FIXTURE_SETUP(faults)
{
}

FIXTURE_TEARDOWN(faults)
{
}

static void run_commit(struct __test_metadata *_metadata, bool crash,
		       uint64_t before, uint32_t threshold)
{
	struct store_knobs k = knobs_with(0, 1, 8);
	unsigned long nth, ops = 0;
	uint64_t last = before + 1;
	char dir[256];

	k.threshold = threshold;
	for (nth = 1;; nth++) {
		struct store *s;
		uint64_t id = 0, next;
		int ret;

		tmp_store(dir, sizeof(dir));
		ASSERT_EQ(0, store_open(&s, dir, &k, 0));
		for (uint64_t g = 1; g <= before; g++) {
			ASSERT_EQ(0, commit_k(s, g, &id));
		}
		ASSERT_EQ(0, store_set_codec(s, codec));
		store_fault_set(nth, crash);
		ret = commit_k(s, last, &id);
		ops = store_fault_ops();
		store_close(s);
		store_fault_set(0, false);

		ASSERT_EQ(0, store_open(&s, dir, &k, 0));
		for (uint64_t g = 1; g <= before; g++) {
			ASSERT_EQ(0, gen_whole(s, g))
				TH_LOG("fault at call %lu: %s", nth, store_strerror());
		}
		/* Committed is committed; a failed commit left nothing. */
		if (!ret)
			ASSERT_EQ(last, store_newest(s));
		ASSERT_TRUE(store_newest(s) == before || store_newest(s) == last);
		if (store_newest(s) == last)
			ASSERT_EQ(0, gen_whole(s, last));
		ASSERT_EQ(0, tidy(dir, s));
		/* And the ids go on from the highest ever reserved. */
		ASSERT_EQ(0, commit_k(s, 99, &next));
		ASSERT_LT(before, next);
		store_close(s);
		tmp_store_free(dir);
		if (nth > ops)
			break;
	}
	TH_LOG("%lu fault points", nth - 1);
	ASSERT_LT(8, nth);
}

/*
 * A pack of 3000 copies: twelve 1 MiB writes, each of which may fail,
 * between the feeding of the next pages.
 */
TEST_F_TIMEOUT(faults, long_pack_fails_at_each_call, 600)
{
	npages = MAX_PAGES;
	run_commit(_metadata, false, 1, 1024);
}

TEST_F_TIMEOUT(faults, long_pack_crashes_at_each_call, 600)
{
	npages = MAX_PAGES;
	run_commit(_metadata, true, 1, 1024);
}

/* The same through a compressed pack's records (raw here: random pages). */
TEST_F_TIMEOUT(faults, long_lz4_pack_crashes_at_each_call, 600)
{
	npages = MAX_PAGES;
	codec = STORE_CODEC_LZ4;
	run_commit(_metadata, true, 1, 1024);
}

TEST_F_TIMEOUT(faults, lz4_commit_fails_at_each_call, 600)
{
	codec = STORE_CODEC_LZ4;
	run_commit(_metadata, false, 2, 1024);
}

TEST_F_TIMEOUT(faults, commit_fails_at_each_call, 600)
{
	run_commit(_metadata, false, 2, 1024);
}

TEST_F_TIMEOUT(faults, commit_crashes_at_each_call, 600)
{
	run_commit(_metadata, true, 2, 1024);
}

TEST_F_TIMEOUT(faults, commit_into_new_directories_crashes_at_each_call, 600)
{
	run_commit(_metadata, true, 15, 16);
}

static void run_purge(struct __test_metadata *_metadata, bool crash)
{
	struct store_knobs keep = knobs_with(0, 1, 8), two = knobs_with(2, 1, 8);
	unsigned long nth, ops = 0;
	char dir[256];

	for (nth = 1;; nth++) {
		unsigned int removed;
		struct store *s;
		uint64_t id;
		int ret;

		tmp_store(dir, sizeof(dir));
		ASSERT_EQ(0, store_open(&s, dir, &keep, 0));
		for (uint64_t g = 1; g <= 5; g++) {
			ASSERT_EQ(0, commit_k(s, g, &id));
		}
		store_close(s);
		/* Interrupt the open (recovery) and the purge with max 2. */
		store_fault_set(nth, crash);
		ret = store_open(&s, dir, &two, 0);
		if (!ret) {
			ret = store_purge(s, &removed);
			store_close(s);
		}
		ops = store_fault_ops();
		store_fault_set(0, false);

		ASSERT_EQ(0, store_open(&s, dir, &keep, 0));
		/* What the policy keeps is always there and whole. */
		ASSERT_EQ(0, gen_whole(s, 4));
		ASSERT_EQ(0, gen_whole(s, 5));
		for (uint64_t g = 1; g <= 3; g++)
			if (store_info(s, g, &(struct store_info){ 0 }) == 0)
				ASSERT_EQ(0, gen_whole(s, g));
		ASSERT_EQ(0, tidy(dir, s));
		store_close(s);
		/* Running it again finishes the job. */
		ASSERT_EQ(0, store_open(&s, dir, &two, 0));
		ASSERT_EQ(0, store_purge(s, NULL));
		ASSERT_EQ(2, store_generations(s, &(const uint64_t *){ NULL }));
		ASSERT_EQ(0, tidy(dir, s));
		store_close(s);
		tmp_store_free(dir);
		if (nth > ops)
			break;
	}
	TH_LOG("%lu fault points", nth - 1);
	ASSERT_LT(4, nth);
}

TEST_F_TIMEOUT(faults, purge_fails_at_each_call, 600)
{
	run_purge(_metadata, false);
}

TEST_F_TIMEOUT(faults, purge_crashes_at_each_call, 600)
{
	run_purge(_metadata, true);
}

/* A crash in the middle of a shared-content incremental: base stays. */
TEST_F_TIMEOUT(faults, incremental_crash_keeps_base, 600)
{
	struct store_knobs k = knobs_with(0, 1, 8);
	struct feed f[] = { { A + PG, 77 } };
	unsigned long nth, ops;
	char dir[256];

	for (nth = 1;; nth++) {
		struct store *s;
		uint64_t id;
		int ret;

		tmp_store(dir, sizeof(dir));
		ASSERT_EQ(0, store_open(&s, dir, &k, 0));
		ASSERT_EQ(0, commit_k(s, 1, &id));
		store_fault_set(nth, true);
		ret = commit_one(s, STORE_GEN_INCREMENTAL, &vma, 1, f, 1, &id);
		ops = store_fault_ops();
		store_close(s);
		store_fault_set(0, false);
		ASSERT_EQ(0, store_open(&s, dir, &k, 0));
		ASSERT_EQ(0, gen_whole(s, 1));
		if (!ret || store_newest(s) == 2) {
			ASSERT_EQ(0, page_is(s, 2, A, 10));
			ASSERT_EQ(0, page_is(s, 2, A + PG, 77));
		}
		ASSERT_EQ(0, count_files(dir, ".tmp"));
		store_close(s);
		tmp_store_free(dir);
		if (nth > ops)
			break;
	}
}

/* Creating a store and its first generation, interrupted anywhere. */
TEST_F_TIMEOUT(faults, create_crashes_at_each_call, 600)
{
	struct store_knobs k = knobs_with(0, 1, 8);
	unsigned long nth, ops;
	char dir[256];

	for (nth = 1;; nth++) {
		struct store *s;
		uint64_t id;
		int ret;

		tmp_store(dir, sizeof(dir));
		store_fault_set(nth, true);
		ret = store_open(&s, dir, &k, 0);
		if (!ret) {
			ret = commit_k(s, 1, &id);
			store_close(s);
		}
		ops = store_fault_ops();
		store_fault_set(0, false);
		ASSERT_EQ(0, store_open(&s, dir, &k, 0));
		if (!ret)
			ASSERT_EQ(0, gen_whole(s, 1));
		ASSERT_EQ(0, tidy(dir, s));
		ASSERT_EQ(0, commit_k(s, 2, &id));
		ASSERT_EQ(0, page_is(s, id, A + 3 * PG, 23));
		store_close(s);
		tmp_store_free(dir);
		if (nth > ops)
			break;
	}
	ASSERT_LT(10, nth);
}

TEST_HARNESS_MAIN
