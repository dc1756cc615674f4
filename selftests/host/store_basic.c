// SPDX-License-Identifier: GPL-2.0
/*
 * The store's write and read paths against a fake page source: what goes
 * in comes back byte for byte, dedup and zero pages cost nothing, the
 * page map of an incremental generation follows the new layout, and the
 * knobs do what they say.
 */
/*
 * The harness compares with == (plain literals against u64 are fine here)
 * and its TEST_F vfork()s, which -Wclobbered flags inside the header.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wclobbered"
#endif

#include "kselftest_harness.h"
#include "store_helpers.h"

#include <dirent.h>
#include <sys/resource.h>
#include <time.h>

#define A 0x10000000ull
#define B 0x20000000ull

FIXTURE(store) {
	char dir[256];
	struct store *s;
};

FIXTURE_SETUP(store)
{
	struct store_knobs k = knobs_with(0, 1, 8);

	tmp_store(self->dir, sizeof(self->dir));
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
}

FIXTURE_TEARDOWN(store)
{
	store_close(self->s);
	tmp_store_free(self->dir);
}

static const struct store_vma two_vmas[] = {
	{ A, A + 16 * PG, 0, 3, 0x22, "", false },
	{ B, B + 8 * PG, 0x1000, 1, 0x2, "/usr/lib/libfake.so", false },
};

/*
 * A crash between mkdir and the store's first files leaves an empty
 * directory: readers see an empty store, a writable open finishes the
 * creation. A directory with manifests but no "store" file is damage.
 */
TEST(creation_cut_short_reads_as_empty)
{
	char dir[256], m[300];
	const uint64_t *ids;
	struct store *s;

	tmp_store(dir, sizeof(dir));
	ASSERT_EQ(0, mkdir(dir, 0700));
	ASSERT_EQ(0, store_open(&s, dir, NULL, STORE_RDONLY));
	EXPECT_EQ(0u, store_generations(s, &ids));
	EXPECT_EQ(0u, store_newest(s));
	store_close(s);
	ASSERT_EQ(0, store_open(&s, dir, NULL, 0));
	EXPECT_NE(0u, store_id(s));
	store_close(s);
	tmp_store_free(dir);

	/* purge's open: writable, never creating; it finishes the creation. */
	tmp_store(dir, sizeof(dir));
	ASSERT_EQ(0, mkdir(dir, 0700));
	ASSERT_EQ(0, store_open(&s, dir, NULL, STORE_NOCREATE));
	EXPECT_NE(0u, store_id(s));
	EXPECT_EQ(0u, store_generations(s, &ids));
	store_close(s);
	tmp_store_free(dir);

	tmp_store(dir, sizeof(dir));
	ASSERT_EQ(0, mkdir(dir, 0700));
	snprintf(m, sizeof(m), "%s/m", dir);
	ASSERT_EQ(0, mkdir(m, 0700));
	EXPECT_EQ(-EBADMSG, store_open(&s, dir, NULL, STORE_RDONLY));
	EXPECT_EQ(-EBADMSG, store_open(&s, dir, NULL, STORE_NOCREATE));
	tmp_store_free(dir);
}

TEST_F(store, commit_and_reopen)
{
	struct feed f[] = { { A, 1 }, { A + 5 * PG, 2 }, { B + 7 * PG, 3 } };
	struct store_info info;
	const struct store_vma *v;
	struct store_snap *snap;
	struct store_run run;
	uint64_t id;

	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 3, &id));
	ASSERT_EQ(1, id);
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(1, store_newest(self->s));
	ASSERT_EQ(0, page_is(self->s, 1, A, 1));
	ASSERT_EQ(0, page_is(self->s, 1, A + 5 * PG, 2));
	ASSERT_EQ(0, page_is(self->s, 1, B + 7 * PG, 3));
	ASSERT_EQ(0, page_is(self->s, 1, A + PG, 0));	/* absent: zeros */
	ASSERT_EQ(0, store_info(self->s, 1, &info));
	ASSERT_EQ(1234, info.meta.pid);
	ASSERT_STREQ("fake", info.meta.comm);
	ASSERT_EQ(3, info.meta.stats.pages_sent);
	ASSERT_EQ(7, info.meta.stats.freeze_us);
	ASSERT_EQ(3, info.own.pages_written);
	ASSERT_EQ(3, info.pages_data);
	ASSERT_EQ(2, info.nvmas);
	ASSERT_EQ(STORE_GEN_FULL, info.kind);
	ASSERT_EQ(0, store_snap_open(self->s, 1, &snap));
	ASSERT_EQ(2, store_snap_vmas(snap, &v));
	ASSERT_STREQ("/usr/lib/libfake.so", v[1].path);
	ASSERT_EQ(0x1000, v[1].offset);
	ASSERT_EQ(3, store_snap_map(snap, 0, &run));
	ASSERT_EQ(A, run.vaddr);
	ASSERT_EQ(1, run.npages);
	ASSERT_EQ(STORE_PAGE_DATA, run.state);
	store_snap_close(snap);
}

/*
 * A writer keeps the newest generation's runs, from its open's scan or
 * its last commit, as the next one's base: a generation built on an
 * older base, after a reopen and after a commit, must still get that
 * base's pages, and one built on the newest its pages.
 */
TEST_F(store, base_is_the_one_asked_for)
{
	/* Per round: the newest's page, then an older base and its page. */
	const uint64_t older[2] = { 2, 3 }, want_newest[2] = { 3, 2 };
	struct feed f = { A, 0 };
	struct store_gen *g;
	uint64_t id;

	for (f.seed = 1; f.seed <= 3; f.seed++) {
		ASSERT_EQ(0, commit_one(self->s, f.seed == 1 ? STORE_GEN_FULL :
					STORE_GEN_INCREMENTAL, two_vmas, 2, &f,
					1, &id));
	}
	/* Round 0 right after a reopen (the scan's copy), 1 after commits. */
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, 0));
	for (int round = 0; round < 2; round++) {
		for (int k = 0; k < 2; k++) {
			uint64_t base = k ? older[round] : 0;

			ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_INCREMENTAL,
						     base, &g));
			for (size_t i = 0; i < 2; i++) {
				ASSERT_EQ(0, store_gen_add_vma(g, &two_vmas[i]));
			}
			ASSERT_EQ(0, store_gen_commit(g, &id));
			ASSERT_EQ(0, page_is(self->s, id, A,
					     k ? older[round] : want_newest[round]));
			ASSERT_EQ(0, page_is(self->s, id, A + PG, 0));
		}
	}
}

TEST_F(store, incremental_follows_layout)
{
	struct feed f1[] = { { A, 1 }, { A + PG, 2 }, { A + 2 * PG, 3 },
			     { B, 4 }, { B + PG, 5 } };
	/* A shrinks to 2 pages, B is unmapped, C appears. */
	struct store_vma v2[] = { { A, A + 2 * PG, 0, 3, 0, "", false },
				  { B + 0x100000, B + 0x100000 + 4 * PG, 0, 3, 0, "", false } };
	struct feed f2[] = { { A + PG, 9 }, { B + 0x100000, 10 } };
	struct store_diff d;
	struct store_info info;
	uint64_t id;

	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f1, 5, &id));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_INCREMENTAL, v2, 2, f2, 2, &id));
	ASSERT_EQ(2, id);
	ASSERT_EQ(0, store_info(self->s, 2, &info));
	ASSERT_EQ(1, info.base);
	ASSERT_EQ(3, info.pages_data);	/* A, A+1 (new), C */
	ASSERT_EQ(0, page_is(self->s, 2, A, 1));
	ASSERT_EQ(0, page_is(self->s, 2, A + PG, 9));
	ASSERT_EQ(0, page_is(self->s, 2, A + 2 * PG, 0));
	ASSERT_EQ(0, page_is(self->s, 2, B, 0));
	ASSERT_EQ(0, page_is(self->s, 2, B + 0x100000, 10));
	ASSERT_EQ(0, page_is(self->s, 1, A + PG, 2));	/* base untouched */
	ASSERT_EQ(0, store_diff(self->s, 1, 2, &d));
	ASSERT_EQ(1, d.changed);
	ASSERT_EQ(1, d.added);
	ASSERT_EQ(3, d.removed);	/* A+2, B, B+1 */
	ASSERT_EQ(1, d.same);
}

TEST_F(store, dedup_across_addresses_and_generations)
{
	struct feed f[] = { { A, 1 }, { A + PG, 1 }, { A + 2 * PG, 2 } };
	struct store_info info;
	uint8_t p1[PG], p2[PG];
	struct store_gen *g;
	uint64_t id;

	/* fake_page mixes in the address, so feed raw equal pages. */
	fake_page(p1, 1, 0);
	fake_page(p2, 2, 0);
	ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_FULL, 0, &g));
	ASSERT_EQ(0, store_gen_add_vma(g, &two_vmas[0]));
	ASSERT_EQ(0, store_gen_add_page(g, A, p1));
	ASSERT_EQ(0, store_gen_add_page(g, A + PG, p1));
	ASSERT_EQ(0, store_gen_add_page(g, A + 2 * PG, p2));
	ASSERT_EQ(0, store_gen_commit(g, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(2, info.own.pages_written);
	ASSERT_EQ(1, info.own.pages_dedup);
	ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_FULL, 0, &g));
	ASSERT_EQ(0, store_gen_add_vma(g, &two_vmas[1]));
	ASSERT_EQ(0, store_gen_add_page(g, B + 3 * PG, p2));
	ASSERT_EQ(0, store_gen_add_page(g, B + 4 * PG, p1));
	ASSERT_EQ(0, store_gen_commit(g, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(0, info.own.pages_written);
	ASSERT_EQ(0, info.own.bytes_written);
	ASSERT_EQ(2, info.own.pages_dedup);
	ASSERT_EQ(1, count_files(self->dir, ".p"));
	(void)f;
}

/*
 * A digest is never trusted alone: pages fed with one digest but different
 * bytes (a hash collision, forced through store_gen_add_digested()) are
 * told apart by their bytes, in turns, so that each lookup meets the
 * other's copy first (and the copy compared last is not the one wanted).
 * The counts say which were stored: reading them back would fail the
 * reader's own check of the forged digest.
 */
TEST_F(store, one_digest_two_contents)
{
	enum { N = 8 };
	struct store_vma v = { A, A + N * PG, 0, 3, 0x22, "", false };
	struct store_digest d = { .lo = 0x1234, .hi = 0x5678 };
	struct store_info info;
	uint8_t p[2][PG];
	struct store_gen *g;
	uint64_t id;

	fake_page(p[0], 1, 0);
	fake_page(p[1], 2, 0);
	ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_FULL, 0, &g));
	ASSERT_EQ(0, store_gen_add_vma(g, &v));
	for (uint64_t i = 0; i < N; i++) {
		ASSERT_EQ(0, store_gen_add_digested(g, A + i * PG, p[i % 2], &d));
	}
	ASSERT_EQ(0, store_gen_commit(g, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(2, info.own.pages_written);
	ASSERT_EQ(N - 2, info.own.pages_dedup);

	/* And in the next generation, against the copies on disk. */
	ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_FULL, 0, &g));
	ASSERT_EQ(0, store_gen_add_vma(g, &v));
	for (uint64_t i = 0; i < N; i++) {
		ASSERT_EQ(0, store_gen_add_digested(g, A + i * PG,
						    p[(i / 2) % 2], &d));
	}
	ASSERT_EQ(0, store_gen_commit(g, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(0, info.own.pages_written);
	ASSERT_EQ(N, info.own.pages_dedup);
}

/*
 * Dedup inside one generation whose pack outgrows the writer's 1 MiB
 * buffer many times over: the later duplicates find their copies first
 * in the buffer, then, going backwards, on disk.
 */
TEST_F(store, dedup_within_a_long_pack)
{
	enum { N = 3000 };
	struct store_vma v = { A, A + 2 * N * PG, 0, 3, 0x22, "", false };
	struct store_info info;
	struct store_snap *snap;
	uint8_t want[PG], got[PG];
	struct store_gen *g;
	uint64_t id;

	ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_FULL, 0, &g));
	ASSERT_EQ(0, store_gen_add_vma(g, &v));
	for (uint64_t i = 0; i < N; i++) {
		fake_page(want, i + 1, 0);
		ASSERT_EQ(0, store_gen_add_page(g, A + i * PG, want));
	}
	for (uint64_t i = N; i--;) {
		fake_page(want, i + 1, 0);
		ASSERT_EQ(0, store_gen_add_page(g, A + (2 * N - 1 - i) * PG, want));
	}
	ASSERT_EQ(0, store_gen_commit(g, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(N, info.own.pages_written);
	ASSERT_EQ(N, info.own.pages_dedup);
	ASSERT_EQ(0, store_snap_open(self->s, id, &snap));
	for (uint64_t i = 0; i < 2 * N; i++) {
		fake_page(want, (i < N ? i : 2 * N - 1 - i) + 1, 0);
		ASSERT_EQ(0, store_snap_read(snap, A + i * PG, got, NULL));
		ASSERT_EQ(0, memcmp(want, got, PG));
	}
	store_snap_close(snap);
}

/*
 * A pack past the writer's sync-ahead step (64 MiB): its thread syncs
 * while pages are still fed; the commit waits for it, an abort stops it,
 * and every page reads back. Fed in descending order, so the page map's
 * sort does its work too.
 */
TEST_F_TIMEOUT(store, pack_synced_ahead, 120)
{
	enum { N = 20000 };	/* 78 MiB */
	struct store_vma v = { A, A + N * PG, 0, 3, 0x22, "", false };
	struct store_gen *g;
	uint8_t page[PG];
	uint64_t id;

	for (int abort = 1; abort >= 0; abort--) {
		ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_FULL, 0, &g));
		ASSERT_EQ(0, store_gen_add_vma(g, &v));
		for (uint64_t i = N; i--;) {
			fake_page(page, abort + 1, A + i * PG);
			ASSERT_EQ(0, store_gen_add_page(g, A + i * PG, page));
		}
		if (abort)
			store_gen_abort(g);
	}
	ASSERT_EQ(0, store_gen_commit(g, &id));
	ASSERT_EQ(1, count_files(self->dir, ".p"));
	for (uint64_t i = 0; i < N; i += 97) {
		ASSERT_EQ(0, page_is(self->s, id, A + i * PG, 1));
	}
	ASSERT_EQ(0, page_is(self->s, id, A + (N - 1) * PG, 1));
}

TEST_F(store, zero_pages_are_not_stored)
{
	struct feed f[] = { { A, 0 }, { A + PG, 0 } };
	struct store_info info;
	struct store_snap *snap;
	enum store_page_state st;
	uint8_t page[PG];
	uint64_t id;

	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 2, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(2, info.own.pages_zero);
	ASSERT_EQ(0, info.own.pages_written);
	ASSERT_EQ(2, info.pages_zero);
	ASSERT_EQ(0, count_files(self->dir, ".p"));
	ASSERT_EQ(0, store_snap_open(self->s, id, &snap));
	memset(page, 0xff, PG);
	ASSERT_EQ(0, store_snap_read(snap, A + PG, page, &st));
	ASSERT_EQ(STORE_PAGE_ZERO, st);
	ASSERT_EQ(0, page[100]);
	ASSERT_EQ(0, store_snap_read(snap, A + 2 * PG, page, &st));
	ASSERT_EQ(STORE_PAGE_ABSENT, st);
	store_snap_close(snap);
}

TEST_F(store, later_page_at_same_address_wins)
{
	struct feed f[] = { { A, 1 }, { A, 2 } };
	uint64_t id;

	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 2, &id));
	ASSERT_EQ(0, page_is(self->s, id, A, 2));
}

TEST_F(store, rejects_bad_feed)
{
	struct feed out[] = { { 0x5000, 1 } };
	struct store_vma overlap[] = { { A, A + 4 * PG, 0, 0, 0, "", false },
				       { A + PG, A + 2 * PG, 0, 0, 0, "", false } };
	struct store_vma bad = { A + 1, A + PG, 0, 0, 0, "", false };
	struct store_gen *g;
	uint8_t page[PG] = { 1 };
	uint64_t id;

	ASSERT_EQ(-EINVAL, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, out, 1, &id));
	ASSERT_NE(NULL, strstr(store_strerror(), "0x5000"));
	ASSERT_EQ(-EINVAL, commit_one(self->s, STORE_GEN_FULL, overlap, 2, NULL, 0, &id));
	ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_FULL, 0, &g));
	ASSERT_EQ(-EINVAL, store_gen_add_vma(g, &bad));
	ASSERT_EQ(-EINVAL, store_gen_add_page(g, A + 1, page));
	store_gen_abort(g);
	ASSERT_EQ(-ENOENT, store_gen_begin(self->s, STORE_GEN_INCREMENTAL, 0, &g));
	ASSERT_EQ(0, store_newest(self->s));
	ASSERT_EQ(0, count_files(self->dir, ".p"));
	ASSERT_EQ(0, count_files(self->dir, ".m"));
}

TEST_F(store, export_exact_bytes)
{
	struct feed f[] = { { A + PG, 1 }, { A + 3 * PG, 0 }, { B, 2 } };
	uint8_t want[5 * PG], got[5 * PG + 1];
	char out[300];
	struct store_snap *snap;
	uint64_t id;
	int fd;

	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 3, &id));
	memset(want, 0, sizeof(want));
	fake_page(want + PG, 1, A + PG);
	snprintf(out, sizeof(out), "%s.export", self->dir);
	fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, store_snap_open(self->s, id, &snap));
	/* Unaligned on both ends: A+100 .. A+4*PG+50. */
	ASSERT_EQ(0, store_snap_export(snap, A + 100, A + 4 * PG + 50, fd));
	ASSERT_EQ(4 * PG - 50, pread(fd, got, sizeof(got), 0));
	ASSERT_EQ(0, memcmp(got, want + 100, 4 * PG - 50));
	/* Across the unmapped gap into B. */
	ASSERT_EQ(0, ftruncate(fd, 0));
	ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
	ASSERT_EQ(0, store_snap_export(snap, B - PG, B + PG, fd));
	ASSERT_EQ(2 * PG, pread(fd, got, sizeof(got), 0));
	fake_page(want, 2, B);
	ASSERT_EQ(0, got[0] | got[PG - 1]);
	ASSERT_EQ(0, memcmp(got + PG, want, PG));
	store_snap_close(snap);
	close(fd);
	unlink(out);
}

/* The batched read gives what page-by-page reads give, across runs. */
TEST_F(store, read_pages_matches_read)
{
	struct feed f[] = { { A, 1 }, { A + PG, 2 }, { A + 2 * PG, 0 },
			    { A + 3 * PG, 1 }, { A + 5 * PG, 3 } };
	uint8_t want[8 * PG], got[8 * PG];
	struct store_snap *snap;
	uint64_t id;

	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 5, &id));
	ASSERT_EQ(0, store_snap_open(self->s, id, &snap));
	for (int i = 0; i < 8; i++) {
		ASSERT_EQ(0, store_snap_read(snap, A + i * PG, want + i * PG, NULL));
	}
	memset(got, 0xee, sizeof(got));
	ASSERT_EQ(0, store_snap_read_pages(snap, A, 8, got));
	ASSERT_EQ(0, memcmp(want, got, sizeof(got)));
	/* From inside a run, and across the gap into B. */
	memset(got, 0xee, sizeof(got));
	ASSERT_EQ(0, store_snap_read_pages(snap, A + PG, 2, got));
	ASSERT_EQ(0, memcmp(want + PG, got, 2 * PG));
	ASSERT_EQ(0, store_snap_read_pages(snap, B - PG, 2, got));
	ASSERT_EQ(0, got[0] | got[PG - 1]);
	ASSERT_EQ(0, store_snap_read(snap, B, want, NULL));
	ASSERT_EQ(0, memcmp(want, got + PG, PG));
	store_snap_close(snap);
}

TEST_F(store, ids_never_reused)
{
	struct store_knobs k = knobs_with(0, 0, 8);
	struct feed f[] = { { A, 1 } };
	uint64_t id;

	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
	ASSERT_EQ(2, id);
	store_close(self->s);
	/* Expire everything, min 0: the store is empty but remembers. */
	k.expiration = 1;
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, store_purge(self->s, NULL));
	ASSERT_EQ(2, store_newest(self->s));
	store_close(self->s);
	sleep(1);
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, store_purge(self->s, NULL));
	ASSERT_EQ(0, store_newest(self->s));
	ASSERT_EQ(0, count_files(self->dir, ".p"));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
	ASSERT_EQ(3, id);
}

/* Return: 0, or -1 if the seq file cannot be read whole. */
static int read_seq_file(const char *dir, uint8_t out[32])
{
	char path[300];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/seq", dir);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, out, 32);
	close(fd);
	return n == 32 ? 0 : -1;
}

/*
 * Commits leave seq alone (their manifests carry the ids); removing the
 * generation with the highest id writes it first, so that id does not
 * come back even when no manifest names it any more.
 */
TEST_F(store, seq_written_only_before_a_removal)
{
	struct store_knobs k = knobs_with(0, 0, 8);
	struct feed f[] = { { A, 1 } };
	uint8_t before[32], after[32];
	uint64_t id;

	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
	ASSERT_EQ(0, read_seq_file(self->dir, before));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_INCREMENTAL, two_vmas, 2, f, 1, &id));
	ASSERT_EQ(3, id);
	ASSERT_EQ(0, read_seq_file(self->dir, after));
	EXPECT_EQ(0, memcmp(before, after, sizeof(after)));
	store_close(self->s);
	/* A reopen finds the highest id in the manifests. */
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, 0));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_INCREMENTAL, two_vmas, 2, f, 1, &id));
	ASSERT_EQ(4, id);
	store_close(self->s);
	/* Everything expires (min 0): seq is written before the first goes. */
	k.expiration = 1;
	sleep(1);
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, store_purge(self->s, NULL));
	ASSERT_EQ(0, store_newest(self->s));
	ASSERT_EQ(0, read_seq_file(self->dir, after));
	EXPECT_NE(0, memcmp(before, after, sizeof(after)));
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, 0));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
	ASSERT_EQ(5, id);
}

TEST_F(store, redundancy_writes_fresh_copies)
{
	struct store_knobs k = knobs_with(0, 1, 2);
	struct store_info info;
	struct feed f[] = { { A, 1 } };
	uint64_t id, written[5];

	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	for (int i = 0; i < 5; i++) {
		ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
		ASSERT_EQ(0, store_info(self->s, id, &info));
		written[i] = info.own.pages_written;
	}
	/* A copy backs 2 generations, then the next one writes its own. */
	ASSERT_EQ(1, written[0]);
	ASSERT_EQ(0, written[1]);
	ASSERT_EQ(1, written[2]);
	ASSERT_EQ(0, written[3]);
	ASSERT_EQ(1, written[4]);
	/* The counts survive a reopen. */
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(0, info.own.pages_written);
	ASSERT_EQ(2, info.knobs.redundancy);
	/*
	 * And in a new handle, after a generation of new content: gen 5's
	 * copy backs gens 5 and 6, so gen 8 writes its own, which gen 9
	 * shares.
	 */
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	f[0].seed = 2;
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(1, info.own.pages_written);
	f[0].seed = 1;
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
		ASSERT_EQ(0, store_info(self->s, id, &info));
		written[i] = info.own.pages_written;
	}
	ASSERT_EQ(1, written[0]);
	ASSERT_EQ(0, written[1]);
	/* redundancy 0: never a fresh copy. */
	store_close(self->s);
	k.redundancy = 0;
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
		ASSERT_EQ(0, store_info(self->s, id, &info));
		ASSERT_EQ(0, info.own.pages_written);
	}
}

/*
 * The content index built ahead on its own thread (a checkpoint's
 * store_index_ahead()) finds what the one built at the first page finds,
 * and counts what it counts: with redundancy 2, the copy fed by gens 1
 * and 2 is not fed a third time. Each generation opens a new handle, so
 * each index is built afresh, ahead; a handle closed or a generation
 * committed before its first page waits for the thread.
 */
TEST_F(store, index_built_ahead)
{
	enum { N = 32 };
	struct store_knobs k = knobs_with(0, 1, 2);
	struct store_vma v = { A, A + 2 * N * PG, 0, 3, 0x22, "", false };
	struct store_info info;
	struct store_gen *g;
	uint8_t page[PG];
	uint64_t id;

	store_close(self->s);
	for (int gen = 1; gen <= 3; gen++) {
		ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
		store_index_ahead(self->s, gen == 3 ? 10 : 0);
		ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_FULL, 0, &g));
		ASSERT_EQ(0, store_gen_add_vma(g, &v));
		/* The same N contents, at addresses that move each time. */
		for (uint64_t i = 0; i < N; i++) {
			fake_page(page, i + 1, 0);
			ASSERT_EQ(0, store_gen_add_page(g, A + ((i + gen) % (2 * N)) * PG, page));
		}
		ASSERT_EQ(0, store_gen_commit(g, &id));
		ASSERT_EQ(0, store_info(self->s, id, &info));
		EXPECT_EQ(gen == 2 ? 0 : N, info.own.pages_written);
		EXPECT_EQ(gen == 2 ? N : 0, info.own.pages_dedup);
		for (uint64_t i = 0; i < N; i++) {
			fake_page(page, i + 1, 0);
			EXPECT_EQ(0, page_holds(self->s, id, A + ((i + gen) % (2 * N)) * PG, page));
		}
		store_close(self->s);
	}
	/* Closed, and committed without a page, before the thread is done. */
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	store_index_ahead(self->s, 0);
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	store_index_ahead(self->s, 0);
	ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_INCREMENTAL, 0, &g));
	ASSERT_EQ(0, store_gen_add_vma(g, &v));
	ASSERT_EQ(0, store_gen_commit(g, &id));
	fake_page(page, 1, 0);
	EXPECT_EQ(0, page_holds(self->s, id, A + 3 * PG, page));
}

static size_t max_entries;
static int widest(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	if (flag != FTW_D)
		return 0;
	d = opendir(path);
	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	if (n > max_entries)
		max_entries = n;
	return 0;
}

TEST_F_TIMEOUT(store, threshold_caps_directories, 300)
{
	struct store_knobs k = knobs_with(0, 1, 8);
	struct feed f[1];
	char sub[300];
	uint64_t id;

	k.threshold = 16;
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	for (int i = 0; i < 300; i++) {
		f[0] = (struct feed){ A, i + 1 };
		ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
	}
	snprintf(sub, sizeof(sub), "%s/d", self->dir);
	max_entries = 0;
	nftw(sub, widest, 16, FTW_PHYS);
	ASSERT_GE(16, max_entries);
	snprintf(sub, sizeof(sub), "%s/m", self->dir);
	nftw(sub, widest, 16, FTW_PHYS);
	ASSERT_GE(16, max_entries);
	ASSERT_EQ(300, count_files(self->dir, ".p"));
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, page_is(self->s, 300, A, 300));
	ASSERT_EQ(0, page_is(self->s, 17, A, 17));
	k.threshold = 15;
	ASSERT_EQ(-EINVAL, store_knobs_check(&k));
}

TEST_F(store, incremental_cost_follows_changes)
{
	struct store_vma big = { A, A + 4096 * PG, 0, 3, 0, "", false };
	struct store_info info;
	struct store_gen *g;
	uint8_t page[PG];
	uint64_t id;

	ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_FULL, 0, &g));
	ASSERT_EQ(0, store_gen_add_vma(g, &big));
	for (uint64_t i = 0; i < 4096; i++) {
		fake_page(page, 1, A + i * PG);
		ASSERT_EQ(0, store_gen_add_page(g, A + i * PG, page));
	}
	ASSERT_EQ(0, store_gen_commit(g, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(1, info.nextents);
	ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_INCREMENTAL, 0, &g));
	ASSERT_EQ(0, store_gen_add_vma(g, &big));
	for (uint64_t i = 0; i < 41; i++) {
		fake_page(page, 2, A + i * 97 * PG);
		ASSERT_EQ(0, store_gen_add_page(g, A + i * 97 * PG, page));
	}
	ASSERT_EQ(0, store_gen_commit(g, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(41, info.own.pages_written);
	ASSERT_GE(2 * 41 + 1, info.nextents);
	ASSERT_EQ(4096, info.pages_data);
	ASSERT_EQ(0, page_is(self->s, id, A + 97 * PG, 2));
	ASSERT_EQ(0, page_is(self->s, id, A + 98 * PG, 1));
}

/* A mapping replaced at the same addresses carries nothing over. */
TEST_F(store, fresh_mapping_drops_base_pages)
{
	struct store_vma v[] = { { A, A + 4 * PG, 0, 3, 0, "", false },
				 { B, B + 4 * PG, 0, 3, 0, "", false } };
	struct feed f1[] = { { A, 1 }, { A + PG, 1 }, { B, 1 }, { B + PG, 1 } };
	struct feed f2[] = { { B + PG, 2 } };
	struct store_info info;
	uint64_t id;

	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, v, 2, f1, 4, &id));
	v[1].fresh = true;
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_INCREMENTAL, v, 2, f2, 1, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(3, info.pages_data);
	ASSERT_EQ(0, page_is(self->s, id, A + PG, 1));	/* carried */
	ASSERT_EQ(0, page_is(self->s, id, B, 0));	/* dropped: absent */
	ASSERT_EQ(0, page_is(self->s, id, B + PG, 2));
}

/* Runs never span two mappings, so either can go alone. */
TEST_F(store, adjacent_mappings)
{
	struct store_vma v[] = { { A, A + 2 * PG, 0, 3, 0, "", false },
				 { A + 2 * PG, A + 4 * PG, 0, 1, 0, "", false } };
	struct feed f[] = { { A, 1 }, { A + PG, 1 }, { A + 2 * PG, 1 },
			    { A + 3 * PG, 1 } };
	struct store_info info;
	uint64_t id;

	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, v, 2, f, 4, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(2, info.nextents);
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_INCREMENTAL, v + 1, 1, NULL, 0, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(2, info.pages_data);
	ASSERT_EQ(0, page_is(self->s, id, A + 3 * PG, 1));
	ASSERT_EQ(0, page_is(self->s, id, A, 0));
}

/* A changed threshold starts a new tree; the old packs are still found. */
TEST_F(store, threshold_changes_between_sessions)
{
	struct store_knobs k = knobs_with(0, 1, 8);
	struct feed f1[] = { { A, 1 }, { A + PG, 2 } };
	struct feed f2[] = { { A + PG, 3 } };
	uint64_t id, bad;

	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f1, 2, &id));
	store_close(self->s);
	k.threshold = 16;
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_INCREMENTAL, two_vmas, 2, f2, 1, &id));
	ASSERT_NE(NULL, find_file(self->dir, "/d/1024.1/0/0000000000000001.p"));
	ASSERT_NE(NULL, find_file(self->dir, "/d/16.1/0/0000000000000002.p"));
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, page_is(self->s, id, A, 1));
	ASSERT_EQ(0, page_is(self->s, id, A + PG, 3));
	ASSERT_EQ(0, store_verify(self->s, 0, &bad));
}

/* More packs than open files allowed: descriptors are recycled. */
TEST_F_TIMEOUT(store, more_packs_than_descriptors, 300)
{
	struct rlimit rl = { 48, 48 };
	struct feed f[1];
	uint64_t id, bad;

	for (int i = 0; i < 100; i++) {
		f[0] = (struct feed){ A + (i % 16) * PG, i + 1 };
		ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
	}
	store_close(self->s);
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, store_verify(self->s, 0, &bad));
	ASSERT_EQ(0, page_is(self->s, 1, A, 1));
	ASSERT_EQ(0, page_is(self->s, 100, A + 3 * PG, 100));
}

/* Begins a generation on one VMA of @npages pages at A. */
static struct store_gen *begin_on(struct store *s, enum store_gen_kind kind,
				  uint64_t npages)
{
	struct store_vma v = { A, A + npages * PG, 0, 3, 0x22, "", false };
	struct store_gen *g;

	if (store_gen_begin(s, kind, 0, &g))
		return NULL;
	if (store_gen_add_vma(g, &v)) {
		store_gen_abort(g);
		return NULL;
	}
	return g;
}

static int add_fake(struct store_gen *g, uint64_t vaddr, uint64_t seed)
{
	uint8_t page[PG];

	fake_page(page, seed, vaddr);
	return store_gen_add_page(g, vaddr, page);
}

/* The state and content of one page. */
static int page_state(struct store *s, uint64_t id, uint64_t vaddr,
		      enum store_page_state *st, uint8_t *buf)
{
	struct store_snap *snap;
	int ret = store_snap_open(s, id, &snap);

	if (ret)
		return ret;
	ret = store_snap_read(snap, vaddr, buf, st);
	store_snap_close(snap);
	return ret;
}

/*
 * A hole recorded in an incremental generation replaces the base's data
 * there: it reads as zero (not absent) in that generation and in later
 * ones that do not overwrite it; a page fed before the hole is replaced,
 * one fed after it wins; diff counts the hole as changed; verify passes.
 */
TEST_F(store, zero_range_replaces_base_pages)
{
	static const uint8_t zeros[PG];
	enum store_page_state st;
	struct store_snap *snap;
	struct store_diff d;
	struct store_gen *g;
	uint64_t id1, id2, id3, bad;
	uint8_t buf[PG];
	char path[300];
	int fd;

	g = begin_on(self->s, STORE_GEN_FULL, 64);
	ASSERT_NE(NULL, g);
	for (int i = 0; i < 64; i++) {
		ASSERT_EQ(0, add_fake(g, A + i * PG, 1));
	}
	ASSERT_EQ(0, store_gen_commit(g, &id1));

	g = begin_on(self->s, STORE_GEN_INCREMENTAL, 64);
	ASSERT_NE(NULL, g);
	ASSERT_EQ(0, add_fake(g, A + 20 * PG, 5));		/* before: replaced */
	ASSERT_EQ(0, store_gen_add_zero(g, A + 8 * PG, 16));
	ASSERT_EQ(0, add_fake(g, A + 10 * PG, 2));		/* after: wins */
	ASSERT_EQ(0, store_gen_add_zero(g, A + 12 * PG, 4));	/* overlaps */
	ASSERT_EQ(0, store_gen_commit(g, &id2));

	for (int i = 0; i < 64; i++) {
		ASSERT_EQ(0, page_state(self->s, id2, A + i * PG, &st, buf));
		if (i == 10) {
			EXPECT_EQ(STORE_PAGE_DATA, st);
			EXPECT_EQ(0, page_is(self->s, id2, A + i * PG, 2));
		} else if (i >= 8 && i < 24) {
			EXPECT_EQ(STORE_PAGE_ZERO, st);
			EXPECT_EQ(0, memcmp(buf, zeros, PG));
		} else {
			EXPECT_EQ(0, page_is(self->s, id2, A + i * PG, 1));
		}
	}
	/* The base is untouched. */
	EXPECT_EQ(0, page_is(self->s, id1, A + 12 * PG, 1));

	ASSERT_EQ(0, store_diff(self->s, id1, id2, &d));
	EXPECT_EQ(16, d.changed);
	EXPECT_EQ(48, d.same);
	EXPECT_EQ(0, d.added + d.removed);

	/* Carried over by a later generation that does not overwrite it. */
	g = begin_on(self->s, STORE_GEN_INCREMENTAL, 64);
	ASSERT_NE(NULL, g);
	ASSERT_EQ(0, add_fake(g, A + 9 * PG, 3));
	ASSERT_EQ(0, store_gen_commit(g, &id3));
	ASSERT_EQ(0, page_state(self->s, id3, A + 15 * PG, &st, buf));
	EXPECT_EQ(STORE_PAGE_ZERO, st);
	EXPECT_EQ(0, page_is(self->s, id3, A + 9 * PG, 3));
	EXPECT_EQ(0, page_is(self->s, id3, A + 10 * PG, 2));

	/* Export gives zeros over the hole. */
	snprintf(path, sizeof(path), "%s.export", self->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, store_snap_open(self->s, id3, &snap));
	ASSERT_EQ(0, store_snap_export(snap, A, A + 64 * PG, fd));
	store_snap_close(snap);
	ASSERT_EQ(PG, pread(fd, buf, PG, 20 * PG));
	EXPECT_EQ(0, memcmp(buf, zeros, PG));
	ASSERT_EQ(PG, pread(fd, buf, PG, 30 * PG));
	close(fd);
	unlink(path);
	ASSERT_EQ(0, store_verify(self->s, 0, &bad));
	EXPECT_EQ(0, bad);
}

/* A 1 GiB hole is one run, recorded in no time, in a full generation too. */
TEST_F(store, zero_range_of_a_gib_is_cheap)
{
	const uint64_t n = (1ull << 30) / PG;
	enum store_page_state st;
	struct store_info info;
	struct timespec t0, t1;
	struct store_gen *g;
	uint64_t id1, id2, bad;
	uint8_t buf[PG];

	g = begin_on(self->s, STORE_GEN_FULL, n);
	ASSERT_NE(NULL, g);
	for (int i = 0; i < 64; i++) {
		ASSERT_EQ(0, add_fake(g, A + i * 4099 * PG, 1));
	}
	ASSERT_EQ(0, store_gen_commit(g, &id1));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	g = begin_on(self->s, STORE_GEN_INCREMENTAL, n);
	ASSERT_NE(NULL, g);
	ASSERT_EQ(0, store_gen_add_zero(g, A, n));
	ASSERT_EQ(0, add_fake(g, A + 77 * PG, 4));
	ASSERT_EQ(0, store_gen_commit(g, &id2));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	EXPECT_GT(0.5, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);

	ASSERT_EQ(0, store_info(self->s, id2, &info));
	EXPECT_EQ(3, info.nextents);
	EXPECT_EQ(n - 1, info.pages_zero);
	EXPECT_EQ(1, info.pages_data);
	ASSERT_EQ(0, page_state(self->s, id2, A + 4099 * PG, &st, buf));
	EXPECT_EQ(STORE_PAGE_ZERO, st);
	ASSERT_EQ(0, page_state(self->s, id2, A + n * PG - PG, &st, buf));
	EXPECT_EQ(STORE_PAGE_ZERO, st);
	EXPECT_EQ(0, page_is(self->s, id2, A + 77 * PG, 4));
	EXPECT_EQ(0, page_is(self->s, id1, A + 4099 * PG, 1));
	ASSERT_EQ(0, store_verify(self->s, 0, &bad));
}

/*
 * Zero ranges are cut to the layout (fresh mappings included: the hole is
 * about the new mapping), across adjacent mappings; bad ones are refused.
 */
TEST_F(store, zero_range_follows_layout)
{
	struct store_vma v[] = {
		{ A, A + 4 * PG, 0, 3, 0, "", false },
		{ A + 4 * PG, A + 8 * PG, 0, 1, 0, "", true },
		{ B, B + 4 * PG, 0, 3, 0, "", false },
	};
	enum store_page_state st;
	struct store_gen *g;
	struct store_info info;
	struct store_run run;
	struct store_snap *snap;
	uint64_t id;
	uint8_t buf[PG];

	ASSERT_EQ(0, store_gen_begin(self->s, STORE_GEN_FULL, 0, &g));
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, store_gen_add_vma(g, &v[i]));
	}
	EXPECT_EQ(-EINVAL, store_gen_add_zero(g, A + 1, 1));
	EXPECT_EQ(-EINVAL, store_gen_add_zero(g, UINT64_MAX & ~(uint64_t)(PG - 1), 2));
	EXPECT_EQ(0, store_gen_add_zero(g, A, 0));
	ASSERT_EQ(0, store_gen_add_zero(g, A - 4 * PG, (B - A) / PG + 6));
	ASSERT_EQ(0, add_fake(g, B + PG, 1));
	ASSERT_EQ(0, store_gen_commit(g, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	EXPECT_EQ(9, info.pages_zero);
	EXPECT_EQ(1, info.pages_data);
	ASSERT_EQ(0, store_snap_open(self->s, id, &snap));
	ASSERT_EQ(4, store_snap_map(snap, 0, &run));
	EXPECT_EQ(A, run.vaddr);
	EXPECT_EQ(4, run.npages);
	ASSERT_EQ(4, store_snap_map(snap, 1, &run));
	EXPECT_EQ(A + 4 * PG, run.vaddr);
	EXPECT_EQ(STORE_PAGE_ZERO, run.state);
	ASSERT_EQ(4, store_snap_map(snap, 3, &run));
	EXPECT_EQ(B + PG, run.vaddr);
	EXPECT_EQ(STORE_PAGE_DATA, run.state);
	ASSERT_EQ(0, store_snap_read(snap, B + 3 * PG, buf, &st));
	EXPECT_EQ(STORE_PAGE_ABSENT, st);
	store_snap_close(snap);
}

/*
 * Random pages and zero ranges in random order, on a random base, against
 * a model of what each address must read as.
 */
TEST_F(store, zero_ranges_against_a_model)
{
	enum { N = 96 };
	uint64_t model[N];	/* 0: zero, ~0: absent, else seed */
	unsigned int r = 12345;
	uint64_t id, bad;

	for (int i = 0; i < N; i++)
		model[i] = ~0ull;
	for (int round = 0; round < 30; round++) {
		struct store_gen *g = begin_on(self->s, round % 7 ? STORE_GEN_INCREMENTAL :
					       STORE_GEN_FULL, N);

		ASSERT_NE(NULL, g);
		if (!(round % 7))
			for (int i = 0; i < N; i++)
				model[i] = ~0ull;
		for (int op = 0; op < 20; op++) {
			int at = rand_r(&r) % N, len = 1 + rand_r(&r) % 24;

			if (rand_r(&r) % 3) {
				uint64_t seed = 1 + rand_r(&r) % 5;

				ASSERT_EQ(0, add_fake(g, A + at * PG, seed));
				model[at] = seed;
			} else {
				ASSERT_EQ(0, store_gen_add_zero(g, A + at * PG, len));
				for (int i = at; i < at + len && i < N; i++)
					model[i] = 0;
			}
		}
		ASSERT_EQ(0, store_gen_commit(g, &id));
		for (int i = 0; i < N; i++) {
			enum store_page_state st;
			uint8_t buf[PG];

			ASSERT_EQ(0, page_state(self->s, id, A + i * PG, &st, buf));
			if (model[i] == ~0ull) {
				ASSERT_EQ(STORE_PAGE_ABSENT, st);
			} else if (!model[i]) {
				ASSERT_EQ(STORE_PAGE_ZERO, st);
			} else {
				ASSERT_EQ(STORE_PAGE_DATA, st);
				ASSERT_EQ(0, page_is(self->s, id, A + i * PG, model[i]));
			}
		}
	}
	ASSERT_EQ(0, store_verify(self->s, 0, &bad));
}

static int lock_warnings;

static void count_lock(const char *line)
{
	lock_warnings += !!strstr(line, "another process is writing");
}

/*
 * Readers take no lock; a second writer says it waits, and gives up after
 * the bound instead of stalling for ever.
 */
TEST_F(store, writers_wait_a_bounded_time)
{
	struct feed f[] = { { A, 1 } };
	struct store *r, *w;
	struct timespec t0, t1;
	uint64_t id;
	double took;

	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
	/* self->s holds the writer's lock. */
	ASSERT_EQ(0, store_open(&r, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, page_is(r, id, A, 1));
	store_set_warn(count_lock);
	store_set_lock_wait(1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(-EBUSY, store_open(&w, self->dir, NULL, 0));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	took = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	EXPECT_LE(0.9, took);
	EXPECT_GT(5.0, took);
	EXPECT_EQ(1, lock_warnings);
	EXPECT_NE(NULL, strstr(store_strerror(), "another process"));
	/* The reader still reads while the writer commits. */
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
	ASSERT_EQ(0, page_is(r, 1, A, 1));
	store_close(r);
	store_set_lock_wait(0);
	ASSERT_EQ(-EBUSY, store_open(&w, self->dir, NULL, 0));
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, 0));
	store_set_lock_wait(60);
	store_set_warn(NULL);
}

/*
 * A commit that retention leaves alone makes no call beyond its own: the
 * pack (3 mkdirs that find their directory, open, 4 writes, fsync, fsync
 * dir), the manifest (3 mkdirs, open, write, fsync, rename, fsync dir):
 * 18, four of them fsyncs; seq is not written (see store_seq_persist()).
 * The sweep used to fsync every manifest directory and try to remove every
 * directory after each commit, even when nothing was removed.
 */
TEST_F(store, commit_makes_only_its_own_calls)
{
	struct feed f[] = { { A, 1 } };
	uint64_t id;

	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, two_vmas, 2, f, 1, &id));
	for (int i = 0; i < 3; i++) {
		f[0].seed = i + 2;
		store_fault_set(0, false);
		ASSERT_EQ(0, commit_one(self->s, STORE_GEN_INCREMENTAL, two_vmas, 2,
					f, 1, &id));
		EXPECT_EQ(18, store_fault_ops());
	}
}

TEST_HARNESS_MAIN
