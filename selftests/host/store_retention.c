// SPDX-License-Identifier: GPL-2.0
/* Retention: max, min and expiration alone and together, and the sweep. */
#pragma GCC diagnostic ignored "-Wsign-compare"
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wclobbered"
#endif

#include <time.h>

#include "kselftest_harness.h"
#include "store_helpers.h"

#define A 0x7f0000000000ull

static const struct store_vma vma = { A, A + 16 * PG, 0, 3, 0, "", false };

/* A full generation of one page (seed), stamped @age seconds ago. */
static int commit_aged(struct store *s, uint64_t seed, uint64_t age,
		       uint64_t *id)
{
	struct store_meta meta = { .pid = 1, .comm = "aged" };
	uint8_t page[PG];
	struct store_gen *g;
	int ret;

	ret = store_gen_begin(s, STORE_GEN_FULL, 0, &g);
	if (ret)
		return ret;
	meta.time_ns = (time(NULL) - age) * 1000000000ull;
	store_gen_set_meta(g, &meta);
	fake_page(page, seed, A);
	if (store_gen_add_vma(g, &vma) || store_gen_add_page(g, A, page)) {
		store_gen_abort(g);
		return -EINVAL;
	}
	return store_gen_commit(g, id);
}

static size_t ngens(struct store *s, uint64_t *first)
{
	const uint64_t *ids;
	size_t n = store_generations(s, &ids);

	*first = n ? ids[0] : 0;
	return n;
}

FIXTURE(ret) {
	char dir[256];
	struct store *s;
};

FIXTURE_SETUP(ret)
{
	tmp_store(self->dir, sizeof(self->dir));
	self->s = NULL;
}

FIXTURE_TEARDOWN(ret)
{
	store_close(self->s);
	tmp_store_free(self->dir);
}

TEST_F(ret, max_snapshots)
{
	struct store_knobs k = knobs_with(3, 1, 8);
	uint64_t id, first;

	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	for (uint64_t i = 1; i <= 5; i++) {
		ASSERT_EQ(0, commit_aged(self->s, i, 0, &id));
	}
	ASSERT_EQ(3, ngens(self->s, &first));
	ASSERT_EQ(3, first);
	ASSERT_EQ(3, count_files(self->dir, ".p"));
	ASSERT_EQ(3, count_files(self->dir, ".m"));
	ASSERT_EQ(0, page_is(self->s, 3, A, 3));
}

TEST_F(ret, min_wins_over_max)
{
	struct store_knobs k = knobs_with(2, 4, 8);
	uint64_t id, first;

	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	for (uint64_t i = 1; i <= 6; i++) {
		ASSERT_EQ(0, commit_aged(self->s, i, 0, &id));
	}
	ASSERT_EQ(4, ngens(self->s, &first));
	ASSERT_EQ(3, first);
}

TEST_F(ret, expiration)
{
	struct store_knobs k = knobs_with(0, 1, 8);
	unsigned int removed;
	uint64_t id, first;

	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, commit_aged(self->s, 1, 1000, &id));
	ASSERT_EQ(0, commit_aged(self->s, 2, 500, &id));
	ASSERT_EQ(0, commit_aged(self->s, 3, 10, &id));
	ASSERT_EQ(0, commit_aged(self->s, 4, 0, &id));
	store_close(self->s);
	k.expiration = 100;
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, STORE_RDONLY));
	ASSERT_EQ(4, ngens(self->s, &first));	/* read-only: no purge */
	store_close(self->s);
	k.expiration = 600;
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(4, ngens(self->s, &first));	/* open alone purges nothing */
	ASSERT_EQ(0, store_purge(self->s, &removed));
	ASSERT_EQ(1, removed);
	ASSERT_EQ(3, ngens(self->s, &first));
	ASSERT_EQ(2, first);
	store_close(self->s);
	k.expiration = 100;
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, STORE_NOCREATE));
	ASSERT_EQ(0, store_purge(self->s, &removed));
	ASSERT_EQ(1, removed);
	ASSERT_EQ(2, ngens(self->s, &first));
	ASSERT_EQ(3, first);
	ASSERT_EQ(0, store_purge(self->s, &removed));
	ASSERT_EQ(0, removed);
	/* Expiration never goes below min_snapshots. */
	store_close(self->s);
	k.expiration = 1;
	k.min_snapshots = 1;
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, store_purge(self->s, NULL));
	ASSERT_EQ(1, ngens(self->s, &first));
	ASSERT_EQ(4, first);
	ASSERT_EQ(1, count_files(self->dir, ".p"));
}

TEST_F(ret, expiration_and_max_together)
{
	struct store_knobs k = knobs_with(0, 1, 8);
	uint64_t id, first;

	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, commit_aged(self->s, 1, 1000, &id));
	for (uint64_t i = 2; i <= 6; i++) {
		ASSERT_EQ(0, commit_aged(self->s, i, 0, &id));
	}
	store_close(self->s);
	k.expiration = 100;
	k.max_snapshots = 3;
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, store_purge(self->s, NULL));
	ASSERT_EQ(3, ngens(self->s, &first));
	ASSERT_EQ(4, first);
}

TEST_F(ret, shared_pack_survives_its_generation)
{
	struct store_knobs k = knobs_with(0, 1, 8);
	struct store_gen *g;
	uint8_t page[PG];
	uint64_t id, first;

	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_FULL, 0, &g));
	ASSERT_EQ(0, store_gen_add_vma(g, &vma));
	for (int i = 0; i < 4; i++) {
		fake_page(page, 1, A + i * PG);
		ASSERT_EQ(0, store_gen_add_page(g, A + i * PG, page));
	}
	ASSERT_EQ(0, store_gen_commit(g, &id));
	ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_INCREMENTAL, 0, &g));
	ASSERT_EQ(0, store_gen_add_vma(g, &vma));
	fake_page(page, 2, A + PG);
	ASSERT_EQ(0, store_gen_add_page(g, A + PG, page));
	ASSERT_EQ(0, store_gen_commit(g, &id));
	store_close(self->s);
	k.max_snapshots = 1;
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, store_purge(self->s, NULL));
	ASSERT_EQ(1, ngens(self->s, &first));
	ASSERT_EQ(2, first);
	ASSERT_EQ(2, count_files(self->dir, ".p"));
	ASSERT_EQ(0, page_is(self->s, 2, A, 1));
	ASSERT_EQ(0, page_is(self->s, 2, A + PG, 2));
	ASSERT_EQ(0, page_is(self->s, 2, A + 3 * PG, 1));
	/* A full generation that shares nothing lets the old pack go. */
	ASSERT_EQ(0, commit_aged(self->s, 9, 0, &id));
	ASSERT_EQ(1, count_files(self->dir, ".p"));
	ASSERT_EQ(0, store_verify(self->s, 0, &first));
}

/* A full generation of @n pages of @seed from A, in one handle. */
static int commit_pages(struct store *s, const struct store_vma *v,
			uint64_t seed, size_t n, uint64_t *id)
{
	struct store_gen *g;
	uint8_t page[PG];
	int ret = store_gen_begin(s, STORE_GEN_FULL, 0, &g);

	if (ret)
		return ret;
	ret = store_gen_add_vma(g, v);
	for (size_t i = 0; !ret && i < n; i++) {
		fake_page(page, seed, A + i * PG);
		ret = store_gen_add_page(g, A + i * PG, page);
	}
	if (ret) {
		store_gen_abort(g);
		return ret;
	}
	return store_gen_commit(g, id);
}

/*
 * The content index names copies and keeps no hash of its own: an entry
 * of a pack that retention dropped within the handle (its hashes freed)
 * is passed over by lookups, and dropped when the table grows.
 */
TEST_F(ret, dropped_pack_in_the_content_index)
{
	static const struct store_vma big = { A, A + 4096 * PG, 0, 3, 0, "", false };
	struct store_knobs k = knobs_with(1, 1, 8);
	struct store_info info;
	uint64_t id, first;

	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, commit_pages(self->s, &vma, 1, 4, &id));
	/* Gen 2 shares nothing: gen 1 and its pack go. */
	ASSERT_EQ(0, commit_pages(self->s, &vma, 2, 4, &id));
	ASSERT_EQ(1, count_files(self->dir, ".p"));
	/* Gen 1's content again: its old copies are gone, new ones written. */
	ASSERT_EQ(0, commit_pages(self->s, &vma, 1, 4, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(4, info.own.pages_written);
	ASSERT_EQ(0, page_is(self->s, id, A + 3 * PG, 1));
	/* 3000 pages more than the first table holds: it grows. */
	ASSERT_EQ(0, commit_pages(self->s, &big, 3, 3000, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(3000, info.own.pages_written);
	/* And gen 4's pages are found through it: all shared. */
	ASSERT_EQ(0, commit_pages(self->s, &big, 3, 3000, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(0, info.own.pages_written);
	ASSERT_EQ(0, page_is(self->s, id, A + 2999 * PG, 3));
	ASSERT_EQ(1, ngens(self->s, &first));
	ASSERT_EQ(0, store_verify(self->s, 0, &first));
}

TEST_F(ret, unlimited_and_min_zero)
{
	struct store_knobs k = knobs_with(0, 0, 8);
	uint64_t id, first;

	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	for (uint64_t i = 1; i <= 70; i++) {
		ASSERT_EQ(0, commit_aged(self->s, i, 0, &id));
	}
	ASSERT_EQ(70, ngens(self->s, &first));
	store_close(self->s);
	/* Defaults: max 64, min 1. */
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, 0));
	ASSERT_EQ(0, store_purge(self->s, NULL));
	ASSERT_EQ(64, ngens(self->s, &first));
	ASSERT_EQ(7, first);
}

static void quiet(const char *line)
{
}

/*
 * A damaged manifest may name any pack up to its id: those stay, newer
 * ones still go (they used to stay for ever while retention went on
 * removing good generations); dropping it on purpose frees the rest.
 */
TEST_F(ret, damaged_manifest_holds_only_older_packs)
{
	struct store_knobs k = knobs_with(0, 1, 8);
	char path[4096];
	unsigned int n;
	uint64_t id, first;

	store_set_warn(quiet);
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	for (uint64_t i = 1; i <= 4; i++) {
		ASSERT_EQ(0, commit_aged(self->s, i, 0, &id));
	}
	store_close(self->s);
	snprintf(path, sizeof(path), "%s", find_file(self->dir, "/0000000000000002.m"));
	ASSERT_EQ(0, flip_byte(path, 30));
	k.max_snapshots = 2;
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, commit_aged(self->s, 5, 0, &id));
	ASSERT_EQ(0, commit_aged(self->s, 6, 0, &id));
	/* Good ones: 5, 6 kept; 1, 3, 4 removed; 2 damaged. */
	ASSERT_EQ(3, ngens(self->s, &first));
	ASSERT_EQ(4, count_files(self->dir, ".p"));	/* 1, 2, 5, 6 */
	ASSERT_EQ(0, store_drop_damaged(self->s, &n));
	ASSERT_EQ(1, n);
	ASSERT_EQ(0, store_purge(self->s, NULL));
	ASSERT_EQ(2, ngens(self->s, &first));
	ASSERT_EQ(5, first);
	ASSERT_EQ(2, count_files(self->dir, ".p"));
	ASSERT_EQ(2, count_files(self->dir, ".m"));
	ASSERT_EQ(0, page_is(self->s, 6, A, 6));
}

/* The knobs the store's generations recorded, for purge without flags. */
TEST_F(ret, recorded_knobs)
{
	struct store_knobs k = knobs_with(5, 2, 3), got;
	uint64_t id, first;

	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	store_recorded_knobs(self->s, &got);
	ASSERT_EQ(64, got.max_snapshots);	/* no generation yet */
	ASSERT_EQ(0, commit_aged(self->s, 1, 0, &id));
	store_close(self->s);
	k.max_snapshots = 0;
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	for (uint64_t i = 2; i <= 8; i++) {
		ASSERT_EQ(0, commit_aged(self->s, i, 0, &id));
	}
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, 0));
	store_recorded_knobs(self->s, &got);
	ASSERT_EQ(0, got.max_snapshots);
	ASSERT_EQ(2, got.min_snapshots);
	ASSERT_EQ(3, got.redundancy);
	got.max_snapshots = 4;
	ASSERT_EQ(0, store_set_knobs(self->s, &got));
	ASSERT_EQ(0, store_purge(self->s, NULL));
	ASSERT_EQ(4, ngens(self->s, &first));
	got.threshold = 1;
	ASSERT_EQ(-EINVAL, store_set_knobs(self->s, &got));
}

static void touch(const char *dir, const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0)
		close(fd);
}

/* The sweep removes only what the store itself names. */
TEST_F(ret, sweep_leaves_foreign_files)
{
	struct store_knobs k = knobs_with(1, 1, 8);
	char path[4096];
	uint64_t id;

	store_set_warn(quiet);
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, commit_aged(self->s, 1, 0, &id));
	ASSERT_EQ(0, commit_aged(self->s, 2, 0, &id));
	touch(self->dir, "d/0000000000000099.p");
	touch(self->dir, "d/1024.1/0000000000000001.p");
	touch(self->dir, "d/1024.1/notes.tmp");
	touch(self->dir, "m/1024.1/0/0000000000000077.m.tmp.keep");
	snprintf(path, sizeof(path), "%s/d/mine", self->dir);
	ASSERT_EQ(0, mkdir(path, 0700));
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, commit_aged(self->s, 3, 0, &id));
	ASSERT_EQ(0, store_purge(self->s, NULL));
	ASSERT_EQ(0, access(path, F_OK));
	ASSERT_NE(NULL, find_file(self->dir, "d/0000000000000099.p"));
	ASSERT_NE(NULL, find_file(self->dir, "d/1024.1/0000000000000001.p"));
	ASSERT_NE(NULL, find_file(self->dir, "notes.tmp"));
	ASSERT_NE(NULL, find_file(self->dir, ".m.tmp.keep"));
	/* Its own debris still goes. */
	touch(self->dir, "m/1024.1/0/0000000000000003.m.tmp");
	touch(self->dir, "d/1024.1/0/0000000000000004.p");
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(NULL, find_file(self->dir, "0000000000000003.m.tmp"));
	ASSERT_EQ(NULL, find_file(self->dir, "0000000000000004.p"));
	ASSERT_EQ(0, page_is(self->s, 3, A, 3));
}

TEST_HARNESS_MAIN
