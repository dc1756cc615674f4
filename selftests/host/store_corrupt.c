// SPDX-License-Identifier: GPL-2.0
/*
 * Damage to each kind of file: detected, named in the error, never
 * papered over with zeros, and never a reason to lose the rest.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wclobbered"
#endif

#include "kselftest_harness.h"
#include "store_helpers.h"

#define A 0x1000000ull

static const struct store_vma vma = { A, A + 16 * PG, 0, 3, 0, "", false };

static void quiet(const char *line)
{
}

FIXTURE(bad) {
	char dir[256];
	char path[4096];
	struct store *s;
};

/* Two full generations of 3 pages each; gen 2 shares nothing with 1. */
FIXTURE_SETUP(bad)
{
	struct feed f1[] = { { A, 1 }, { A + PG, 2 }, { A + 2 * PG, 3 } };
	struct feed f2[] = { { A, 4 }, { A + PG, 5 }, { A + 2 * PG, 6 } };
	struct store_knobs k = knobs_with(0, 1, 8);
	uint64_t id;

	store_set_warn(quiet);
	tmp_store(self->dir, sizeof(self->dir));
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, &vma, 1, f1, 3, &id));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, &vma, 1, f2, 3, &id));
	store_close(self->s);
	self->s = NULL;
}

FIXTURE_TEARDOWN(bad)
{
	store_close(self->s);
	tmp_store_free(self->dir);
}

static const char *file_of(const char *dir, uint64_t gen, const char *ext)
{
	char name[40];

	snprintf(name, sizeof(name), "/%016lx%s", gen, ext);
	return find_file(dir, name);
}

TEST_F(bad, pack_data_without_another_copy)
{
	uint64_t nbad;
	uint8_t page[PG], run[3 * PG];
	struct store_snap *snap;

	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 1, ".p"));
	ASSERT_EQ(0, flip_byte(self->path, PG + PG + 77));	/* slot 1 */
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, page_is(self->s, 1, A, 1));
	ASSERT_EQ(-EIO, page_is(self->s, 1, A + PG, 2));
	ASSERT_NE(NULL, strstr(store_strerror(), self->path));
	ASSERT_NE(NULL, strstr(store_strerror(), "offset 0x2000"));
	ASSERT_EQ(-EIO, store_verify(self->s, 1, &nbad));
	ASSERT_EQ(1, nbad);
	ASSERT_EQ(0, store_verify(self->s, 2, &nbad));
	ASSERT_EQ(-EIO, store_verify(self->s, 0, &nbad));
	ASSERT_EQ(1, nbad);		/* once, however many use it */
	ASSERT_EQ(0, store_snap_open(self->s, 1, &snap));
	ASSERT_EQ(-EIO, store_snap_read(snap, A + PG, page, NULL));
	ASSERT_EQ(-EIO, store_snap_export(snap, A, A + 3 * PG, 1));
	/* The bad page fails the run read too, naming its offset. */
	ASSERT_EQ(-EIO, store_snap_read_pages(snap, A, 3, run));
	ASSERT_NE(NULL, strstr(store_strerror(), "offset 0x2000"));
	ASSERT_EQ(0, store_snap_read_pages(snap, A, 1, run));
	/* A reread checks what no read found good before. */
	ASSERT_EQ(-EIO, store_snap_reread_pages(snap, A, 3, run));
	ASSERT_NE(NULL, strstr(store_strerror(), "offset 0x2000"));
	store_snap_close(snap);
	/* Nor does a reread through a fresh snapshot trust anything. */
	ASSERT_EQ(0, store_snap_open(self->s, 1, &snap));
	ASSERT_EQ(-EIO, store_snap_reread_pages(snap, A + PG, 1, page));
	store_snap_close(snap);
}

/* A reread gives back the bytes the checked read gave. */
TEST_F(bad, reread_gives_the_checked_bytes)
{
	uint8_t run[3 * PG], again[3 * PG], want[PG];
	struct store_snap *snap;

	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, store_snap_open(self->s, 2, &snap));
	ASSERT_EQ(0, store_snap_read_pages(snap, A, 3, run));
	memset(again, 0xa5, sizeof(again));
	ASSERT_EQ(0, store_snap_reread_pages(snap, A, 3, again));
	ASSERT_EQ(0, memcmp(run, again, sizeof(run)));
	fake_page(want, 5, A + PG);
	ASSERT_EQ(0, memcmp(again + PG, want, PG));
	store_snap_close(snap);
}

/*
 * Bulk reads into a page-aligned buffer go around the page cache where
 * the filesystem allows (O_DIRECT), others through it: the same bytes
 * either way, and damage written after the first read is found by the
 * next, whichever way it reads.
 */
TEST_F(bad, aligned_and_unaligned_reads_agree)
{
	uint8_t *al = aligned_alloc(PG, 4 * PG), *un = malloc(4 * PG + 1);
	uint8_t want[PG];
	struct store_snap *snap;

	ASSERT_NE(NULL, al);
	ASSERT_NE(NULL, un);
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, store_snap_open(self->s, 2, &snap));
	ASSERT_EQ(0, store_snap_read_pages(snap, A, 3, al));
	ASSERT_EQ(0, store_snap_read_pages(snap, A, 3, un + 1));
	ASSERT_EQ(0, memcmp(al, un + 1, 3 * PG));
	for (int i = 0; i < 3; i++) {
		fake_page(want, 4 + i, A + i * PG);
		ASSERT_EQ(0, memcmp(al + i * PG, want, PG));
	}
	store_snap_close(snap);
	/* Damage after the pages were read, and so cached. */
	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 2, ".p"));
	ASSERT_EQ(0, flip_byte(self->path, PG + 2 * PG + 5));	/* slot 2 */
	ASSERT_EQ(0, store_snap_open(self->s, 2, &snap));
	ASSERT_EQ(-EIO, store_snap_read_pages(snap, A, 3, al));
	ASSERT_NE(NULL, strstr(store_strerror(), "offset 0x3000"));
	ASSERT_EQ(-EIO, store_snap_read_pages(snap, A + 2 * PG, 1, un + 1));
	ASSERT_EQ(0, store_snap_read_pages(snap, A, 2, al));
	store_snap_close(snap);
	free(al);
	free(un);
}

/*
 * Verify reads a run of pages at once and checks each: two damaged pages
 * of one run are two failed checks, the good page between them none.
 */
TEST_F(bad, verify_counts_each_damaged_page_of_a_run)
{
	uint64_t nbad;

	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 1, ".p"));
	ASSERT_EQ(0, flip_byte(self->path, PG + 9));		/* slot 0 */
	ASSERT_EQ(0, flip_byte(self->path, PG + 2 * PG + 9));	/* slot 2 */
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(-EIO, store_verify(self->s, 1, &nbad));
	ASSERT_EQ(2, nbad);
	ASSERT_EQ(0, store_verify(self->s, 2, &nbad));
	ASSERT_EQ(0, nbad);
	ASSERT_EQ(-EIO, store_verify(self->s, 0, &nbad));
	ASSERT_EQ(2, nbad);
	ASSERT_EQ(0, page_is(self->s, 1, A + PG, 2));
}

/*
 * What a read through a second handle found good is adopted by the first
 * (restore checks with two threads): a reread then trusts exactly those
 * slots. The damage made after the check shows which were trusted.
 */
TEST_F(bad, adopted_checks_are_trusted_and_no_others)
{
	struct store_snap *snap, *other, *gen1;
	struct store *s2;
	uint8_t run[3 * PG], want[PG];

	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, store_open(&s2, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, store_snap_open(self->s, 2, &snap));
	ASSERT_EQ(0, store_snap_open(s2, 2, &other));
	ASSERT_EQ(0, store_snap_open(s2, 1, &gen1));
	ASSERT_EQ(-EINVAL, store_snap_adopt_checks(snap, gen1));
	/* The other handle checks pages 1 and 2; this one none. */
	ASSERT_EQ(0, store_snap_read_pages(other, A + PG, 2, run));
	ASSERT_EQ(0, store_snap_adopt_checks(snap, other));
	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 2, ".p"));
	ASSERT_EQ(0, flip_byte(self->path, PG + 2 * PG + 9));	/* slot 2 */
	ASSERT_EQ(0, flip_byte(self->path, PG + 9));		/* slot 0 */
	/* Slot 2 was checked before its damage: trusted, as documented. */
	ASSERT_EQ(0, store_snap_reread_pages(snap, A + PG, 2, run));
	fake_page(want, 5, A + PG);
	ASSERT_EQ(0, memcmp(run, want, PG));
	/* Slot 0 was not: checked, and found damaged. */
	ASSERT_EQ(-EIO, store_snap_reread_pages(snap, A, 1, run));
	store_snap_close(gen1);
	store_snap_close(other);
	store_snap_close(snap);
	store_close(s2);
}

TEST_F(bad, reads_use_a_redundant_copy)
{
	struct store_knobs k = knobs_with(0, 1, 1);
	struct feed f[] = { { A + PG, 2 } };
	uint8_t run[2 * PG], one[PG];
	struct store_snap *snap;
	uint64_t id;

	/* redundancy 1: gen 3 needs gen 1's content and writes a copy. */
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, &vma, 1, f, 1, &id));
	store_close(self->s);
	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 1, ".p"));
	ASSERT_EQ(0, flip_byte(self->path, 2 * PG + 5));
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, STORE_RDONLY));
	ASSERT_EQ(0, page_is(self->s, 1, A + PG, 2));
	/* The run read falls back to the good copy as well. */
	ASSERT_EQ(0, store_snap_open(self->s, 1, &snap));
	ASSERT_EQ(0, store_snap_read_pages(snap, A, 2, run));
	ASSERT_EQ(0, store_snap_read(snap, A + PG, one, NULL));
	ASSERT_EQ(0, memcmp(run + PG, one, PG));
	/* A reread uses the good copy again, checked again. */
	memset(run, 0, sizeof(run));
	ASSERT_EQ(0, store_snap_reread_pages(snap, A, 2, run));
	ASSERT_EQ(0, memcmp(run + PG, one, PG));
	store_snap_close(snap);
	/* No copy of slot 0's content: still an error, not zeros. */
	ASSERT_EQ(0, flip_byte(self->path, PG + 5));
	ASSERT_EQ(-EIO, page_is(self->s, 1, A, 1));
	ASSERT_NE(NULL, strstr(store_strerror(), "no redundant copy"));
}

/* A damaged copy is never shared: the byte compare catches it. */
TEST_F(bad, damaged_copy_not_shared)
{
	struct feed f[] = { { A + PG, 2 } };
	struct store_info info;
	uint64_t id;

	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 1, ".p"));
	ASSERT_EQ(0, flip_byte(self->path, 2 * PG + 300));
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, 0));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, &vma, 1, f, 1, &id));
	ASSERT_EQ(0, store_info(self->s, id, &info));
	ASSERT_EQ(1, info.own.pages_written);
	ASSERT_EQ(0, info.own.pages_dedup);
	ASSERT_EQ(0, page_is(self->s, id, A + PG, 2));
}

TEST_F(bad, manifest)
{
	uint64_t nbad;
	struct store_info info;

	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 1, ".m"));
	ASSERT_EQ(0, flip_byte(self->path, 40));
	/* Writable open: gen 2 stays usable, gen 1's pack is not swept. */
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, 0));
	ASSERT_EQ(-EBADMSG, store_info(self->s, 1, &info));
	ASSERT_TRUE(info.corrupt);
	ASSERT_NE(NULL, strstr(store_strerror(), self->path));
	ASSERT_EQ(0, page_is(self->s, 2, A, 4));
	ASSERT_EQ(2, count_files(self->dir, ".p"));
	ASSERT_EQ(-EIO, store_verify(self->s, 0, &nbad));
	ASSERT_EQ(-EBADMSG, page_is(self->s, 1, A, 1));
	ASSERT_EQ(2, store_newest(self->s));
}

TEST_F(bad, manifest_truncated)
{
	struct store_info info;

	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 2, ".m"));
	ASSERT_EQ(0, truncate(self->path, 100));
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(-EBADMSG, store_info(self->s, 2, &info));
	ASSERT_EQ(1, store_newest(self->s));
	ASSERT_EQ(0, page_is(self->s, 1, A + 2 * PG, 3));
}

/*
 * One damaged index entry costs its own page only (it used to cost the
 * whole pack), and nothing when a sound pack holds the same content.
 */
TEST_F(bad, pack_index)
{
	uint64_t nbad;

	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 2, ".p"));
	ASSERT_EQ(0, flip_byte(self->path, -48 - 3));	/* last index entry */
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, page_is(self->s, 2, A, 4));
	ASSERT_EQ(0, page_is(self->s, 2, A + PG, 5));
	ASSERT_EQ(-EIO, page_is(self->s, 2, A + 2 * PG, 6));
	ASSERT_NE(NULL, strstr(store_strerror(), self->path));
	ASSERT_EQ(0, page_is(self->s, 1, A, 1));
	ASSERT_EQ(-EIO, store_verify(self->s, 2, &nbad));
	ASSERT_EQ(1, nbad);
}

TEST_F(bad, pack_index_entry_with_a_copy)
{
	struct store_knobs k = knobs_with(0, 1, 1);
	struct feed f[] = { { A + 2 * PG, 6 } };
	uint64_t id, nbad;
	int half;

	/* redundancy 1: gen 3 writes its own copy of gen 2's last page. */
	ASSERT_EQ(0, store_open(&self->s, self->dir, &k, 0));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, &vma, 1, f, 1, &id));
	store_close(self->s);
	self->s = NULL;
	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 2, ".p"));
	for (half = 0; half < 2; half++) {
		/* The entry's low half, then (undone) its high half. */
		ASSERT_EQ(0, flip_byte(self->path, -48 - 16 + 8 * half + 2));
		ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
		ASSERT_EQ(0, page_is(self->s, 2, A + 2 * PG, 6));
		ASSERT_EQ(0, page_is(self->s, 2, A, 4));
		ASSERT_EQ(-EIO, store_verify(self->s, 0, &nbad));
		store_close(self->s);
		self->s = NULL;
		ASSERT_EQ(0, flip_byte(self->path, -48 - 16 + 8 * half + 2));
	}
}

/* A damaged pack header or footer costs no page; verify reports it. */
TEST_F(bad, pack_header)
{
	uint64_t nbad;

	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 1, ".p"));
	ASSERT_EQ(0, flip_byte(self->path, 20));
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, page_is(self->s, 1, A, 1));
	ASSERT_EQ(0, store_verify(self->s, 1, &nbad));
	ASSERT_EQ(-EIO, store_verify(self->s, 0, &nbad));
	ASSERT_EQ(1, nbad);
	ASSERT_NE(NULL, strstr(store_strerror(), "1 failed check"));
	ASSERT_EQ(0, page_is(self->s, 2, A, 4));
}

TEST_F(bad, pack_footer_and_missing_pack)
{
	uint64_t nbad;

	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 2, ".p"));
	ASSERT_EQ(0, flip_byte(self->path, -1));
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, page_is(self->s, 2, A, 4));
	ASSERT_EQ(0, page_is(self->s, 2, A + 2 * PG, 6));
	ASSERT_EQ(-EIO, store_verify(self->s, 0, &nbad));
	store_close(self->s);
	/* Truncated: the index is gone with it. */
	ASSERT_EQ(0, truncate(self->path, 4 * PG));
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(-EBADMSG, page_is(self->s, 2, A, 4));
	ASSERT_NE(NULL, strstr(store_strerror(), "truncated"));
	store_close(self->s);
	ASSERT_EQ(0, unlink(self->path));
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(-EBADMSG, page_is(self->s, 2, A, 4));
	ASSERT_NE(NULL, strstr(store_strerror(), self->path));
}

TEST_F(bad, store_header)
{
	snprintf(self->path, sizeof(self->path), "%s/store", self->dir);
	ASSERT_EQ(0, flip_byte(self->path, 20));
	ASSERT_EQ(-EBADMSG, store_open(&self->s, self->dir, NULL, 0));
	ASSERT_NE(NULL, strstr(store_strerror(), self->path));
	/* Nothing was touched. */
	ASSERT_EQ(2, count_files(self->dir, ".p"));
}

/*
 * seq only hands out ids: readers never need it, and a writable open
 * rebuilds a damaged or lost one from the highest id on disk.
 */
TEST_F(bad, seq_file)
{
	struct feed f[] = { { A, 9 } };
	uint64_t id;

	snprintf(self->path, sizeof(self->path), "%s/seq", self->dir);
	ASSERT_EQ(0, flip_byte(self->path, 17));
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, page_is(self->s, 2, A, 4));
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, 0));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, &vma, 1, f, 1, &id));
	ASSERT_EQ(3, id);
	store_close(self->s);
	ASSERT_EQ(0, unlink(self->path));
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	store_close(self->s);
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, 0));
	ASSERT_EQ(0, commit_one(self->s, STORE_GEN_FULL, &vma, 1, f, 1, &id));
	ASSERT_EQ(4, id);
	ASSERT_EQ(0, page_is(self->s, 1, A, 1));
	ASSERT_EQ(0, page_is(self->s, 3, A, 9));
}

/*
 * A store whose "store" file is lost or damaged is never made again in
 * place (that wrote generation 1 over the old one and truncated its
 * pack): readers still read it, writers refuse and touch nothing.
 */
TEST_F(bad, store_file_lost)
{
	struct stat before, after;
	const char *pack = file_of(self->dir, 1, ".p");

	ASSERT_NE(NULL, pack);
	snprintf(self->path, sizeof(self->path), "%s", pack);
	ASSERT_EQ(0, stat(self->path, &before));
	snprintf(self->path, sizeof(self->path), "%s/store", self->dir);
	ASSERT_EQ(0, unlink(self->path));
	ASSERT_EQ(-EBADMSG, store_open(&self->s, self->dir, NULL, 0));
	ASSERT_NE(NULL, strstr(store_strerror(), "missing"));
	ASSERT_EQ(-EBADMSG, store_open(&self->s, self->dir, NULL, STORE_NOCREATE));
	ASSERT_EQ(-1, access(self->path, F_OK));
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, page_is(self->s, 1, A + PG, 2));
	ASSERT_EQ(0, page_is(self->s, 2, A, 4));
	store_close(self->s);
	self->s = NULL;
	/* Even without seq, the manifests name the store. */
	snprintf(self->path, sizeof(self->path), "%s/seq", self->dir);
	ASSERT_EQ(0, unlink(self->path));
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, page_is(self->s, 1, A + 2 * PG, 3));
	snprintf(self->path, sizeof(self->path), "%s", pack);
	ASSERT_EQ(0, stat(self->path, &after));
	ASSERT_EQ(before.st_size, after.st_size);
	ASSERT_EQ(before.st_mtime, after.st_mtime);
}

/* Only an absent or empty directory becomes a store; nothing is deleted. */
TEST(not_a_store)
{
	char dir[256], path[300], lf[300];
	struct store *s;
	uint64_t bad;
	int fd;

	store_set_warn(quiet);
	tmp_store(dir, sizeof(dir));
	ASSERT_EQ(0, mkdir(dir, 0700));
	snprintf(path, sizeof(path), "%s/README", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ASSERT_LE(0, fd);
	close(fd);
	snprintf(path, sizeof(path), "%s/d", dir);
	ASSERT_EQ(0, mkdir(path, 0700));
	snprintf(path, sizeof(path), "%s/d/0000000000000001.p", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ASSERT_LE(0, fd);
	close(fd);
	EXPECT_EQ(-ENOENT, store_open(&s, dir, NULL, STORE_RDONLY));
	EXPECT_NE(NULL, strstr(store_strerror(), "not a snapper store"));
	EXPECT_EQ(-ENOENT, store_open(&s, dir, NULL, 0));
	EXPECT_EQ(-ENOENT, store_open(&s, dir, NULL, STORE_NOCREATE));
	EXPECT_EQ(0, access(path, F_OK));
	snprintf(path, sizeof(path), "%s/seq", dir);
	EXPECT_EQ(-1, access(path, F_OK));
	snprintf(path, sizeof(path), "%s/README", dir);
	ASSERT_EQ(0, unlink(path));
	/* A filesystem of its own: lost+found does not stop a new store. */
	snprintf(path, sizeof(path), "%s/d/0000000000000001.p", dir);
	ASSERT_EQ(0, unlink(path));
	snprintf(path, sizeof(path), "%s/d", dir);
	snprintf(lf, sizeof(lf), "%s/lost+found", dir);
	ASSERT_EQ(0, rename(path, lf));
	ASSERT_EQ(0, store_open(&s, dir, NULL, 0));
	store_close(s);
	snprintf(path, sizeof(path), "%s/d", dir);
	ASSERT_EQ(0, mkdir(path, 0700));
	snprintf(path, sizeof(path), "%s/store", dir);
	ASSERT_EQ(0, unlink(path));
	snprintf(path, sizeof(path), "%s/seq", dir);
	ASSERT_EQ(0, unlink(path));
	/* d/ without "store": generations lost their header, or not a store. */
	EXPECT_EQ(-EBADMSG, store_open(&s, dir, NULL, STORE_RDONLY));
	(void)bad;
	tmp_store_free(dir);
}

TEST_F(bad, foreign_store_pack)
{
	char other[256], cmd[9000];
	struct store *o;
	struct feed f[] = { { A, 1 }, { A + PG, 2 }, { A + 2 * PG, 3 } };
	uint64_t id;

	/* Same name and size, another store id: must not be trusted. */
	tmp_store(other, sizeof(other));
	ASSERT_EQ(0, store_open(&o, other, NULL, 0));
	ASSERT_EQ(0, commit_one(o, STORE_GEN_FULL, &vma, 1, f, 3, &id));
	store_close(o);
	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 1, ".p"));
	snprintf(cmd, sizeof(cmd), "cp %s %s", file_of(other, 1, ".p"), self->path);
	ASSERT_EQ(0, system(cmd));
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(-EBADMSG, page_is(self->s, 1, A, 1));
	ASSERT_NE(NULL, strstr(store_strerror(), "another store"));
	tmp_store_free(other);
}

/*
 * A pack or manifest already at a new generation's name (an id sequence
 * gone wrong) is never truncated or replaced: the commit fails instead.
 */
TEST_F(bad, never_overwrites)
{
	struct feed f[] = { { A, 9 } };
	char pack[4096], man[4096], buf[16] = "";
	uint64_t id;
	int fd;

	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, 0));
	snprintf(pack, sizeof(pack), "%s/d/1024.1/0/0000000000000003.p", self->dir);
	fd = open(pack, O_WRONLY | O_CREAT, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(8, write(fd, "precious", 8));
	close(fd);
	ASSERT_EQ(-EEXIST, commit_one(self->s, STORE_GEN_FULL, &vma, 1, f, 1, &id));
	fd = open(pack, O_RDONLY);
	ASSERT_EQ(8, read(fd, buf, sizeof(buf)));
	close(fd);
	ASSERT_EQ(0, memcmp(buf, "precious", 8));
	/* A manifest in the way: generation 4 has no pack (a zero page). */
	f[0].seed = 0;
	snprintf(man, sizeof(man), "%s/m/1024.1/0/0000000000000004.m", self->dir);
	fd = open(man, O_WRONLY | O_CREAT, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(8, write(fd, "precious", 8));
	close(fd);
	ASSERT_EQ(-EEXIST, commit_one(self->s, STORE_GEN_FULL, &vma, 1, f, 1, &id));
	fd = open(man, O_RDONLY);
	ASSERT_EQ(8, read(fd, buf, sizeof(buf)));
	close(fd);
	ASSERT_EQ(0, memcmp(buf, "precious", 8));
	ASSERT_EQ(0, page_is(self->s, 2, A, 4));
}

static int nwarn;
static char last_warn[1024];

static void counting(const char *line)
{
	nwarn++;
	snprintf(last_warn, sizeof(last_warn), "%s", line);
}

/* Salvage: everything still good, the lost pages zeroed and listed. */
TEST_F(bad, salvage)
{
	static const uint8_t zeros[PG];
	uint8_t run[3 * PG], want[PG];
	struct store_snap *snap;
	char out[300];
	int fd;

	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 1, ".p"));
	ASSERT_EQ(0, flip_byte(self->path, PG + PG + 77));	/* slot 1 */
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, store_snap_open(self->s, 1, &snap));
	ASSERT_EQ(-EIO, store_snap_read_pages(snap, A, 3, run));
	store_snap_set_salvage(snap, true);
	nwarn = 0;
	store_set_warn(counting);
	ASSERT_EQ(0, store_snap_read_pages(snap, A, 3, run));
	ASSERT_EQ(1, store_snap_lost(snap));
	ASSERT_EQ(1, nwarn);
	ASSERT_NE(NULL, strstr(last_warn, "page 0x1001000 lost"));
	ASSERT_NE(NULL, strstr(last_warn, self->path));
	fake_page(want, 1, A);
	ASSERT_EQ(0, memcmp(run, want, PG));
	ASSERT_EQ(0, memcmp(run + PG, zeros, PG));
	fake_page(want, 3, A + 2 * PG);
	ASSERT_EQ(0, memcmp(run + 2 * PG, want, PG));
	snprintf(out, sizeof(out), "%s.out", self->dir);
	fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, store_snap_export(snap, A, A + 3 * PG, fd));
	ASSERT_EQ(2, store_snap_lost(snap));
	ASSERT_EQ(3 * PG, pread(fd, run, 3 * PG, 0));
	ASSERT_EQ(0, memcmp(run + PG, zeros, PG));
	ASSERT_EQ(0, memcmp(run + 2 * PG, want, PG));
	close(fd);
	unlink(out);
	store_snap_close(snap);
	store_set_warn(quiet);
}

/*
 * Read-only opens build no writer state: no pack is read until a page is,
 * so list and show work (and say nothing) with every pack gone.
 */
TEST_F(bad, readers_read_no_pack_to_list)
{
	struct store_info info;

	ASSERT_EQ(0, unlink(file_of(self->dir, 1, ".p")));
	ASSERT_EQ(0, unlink(file_of(self->dir, 2, ".p")));
	nwarn = 0;
	store_set_warn(counting);
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, store_info(self->s, 2, &info));
	ASSERT_EQ(3, info.pages_data);
	ASSERT_EQ(0, nwarn);
	ASSERT_EQ(-EBADMSG, page_is(self->s, 2, A, 4));
	store_set_warn(quiet);
}

/* A pack cut short under a reader says so, not a stale errno. */
TEST_F(bad, short_read_says_so)
{
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, page_is(self->s, 1, A, 1));
	snprintf(self->path, sizeof(self->path), "%s", file_of(self->dir, 1, ".p"));
	ASSERT_EQ(0, truncate(self->path, PG + PG + 100));
	errno = EACCES;
	ASSERT_EQ(-EIO, page_is(self->s, 1, A + PG, 2));
	ASSERT_NE(NULL, strstr(store_strerror(), "short read at offset 0x2000"));
	ASSERT_EQ(NULL, strstr(store_strerror(), "ermission"));
}

TEST_HARNESS_MAIN
