// SPDX-License-Identifier: GPL-2.0
/*
 * Compressed packs (store_set_codec(), store-format.rst): every kind of
 * page round-trips (compressible, incompressible and kept as is, zero,
 * deduplicated within and across packs), compressed and plain packs mix
 * in one store, a store that never compresses keeps the version 1 format,
 * and a damaged compressed record or index entry is a clean error that
 * verify and every read report, whatever the decoder is given.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wclobbered"
#endif

#include <lz4.h>
#include <xxhash.h>

#include "kselftest_harness.h"
#include "store_helpers.h"

#define A 0x4000000ull

static void quiet(const char *line)
{
}

static char last_warning[1024];

static void keep(const char *line)
{
	snprintf(last_warning, sizeof(last_warning), "%s", line);
}

/* Words from a small vocabulary: compresses to about a third, like text. */
static void text_page(uint8_t *p, uint64_t seed, uint64_t vaddr)
{
	static const char *const words[] = {
		"the ", "page ", "store ", "snapshot ", "of ", "a ", "process ",
		"memory ", "generation ", "42 ", "\n", "checkpoint ", "and ",
	};
	uint64_t x = seed * 0x9e3779b97f4a7c15ull ^ vaddr ^ 0x1234567;
	size_t at = 0;

	while (at < PG) {
		const char *w;
		size_t n;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w = words[x % (sizeof(words) / sizeof(words[0]))];
		n = strlen(w) < PG - at ? strlen(w) : PG - at;
		memcpy(p + at, w, n);
		at += n;
	}
	/* A number that makes each page unique. */
	memcpy(p, &seed, sizeof(seed));
	memcpy(p + 8, &vaddr, sizeof(vaddr));
}

/* Kinds of content, by seed: 0 zero, odd random, even text. */
static void content(uint8_t *p, uint64_t seed, uint64_t vaddr)
{
	if (!seed)
		memset(p, 0, PG);
	else if (seed % 2)
		fake_page(p, seed, vaddr);
	else
		text_page(p, seed, vaddr);
}

struct cfeed {
	uint64_t vaddr;
	uint64_t seed;
	uint64_t at;		/* the address whose content it is (dups) */
};

static int commit_feed(struct store *s, enum store_gen_kind kind,
		       enum store_codec codec, uint64_t npages,
		       const struct cfeed *f, size_t n, uint64_t *id)
{
	struct store_vma v = { A, A + npages * PG, 0, 3, 0, "", false };
	struct store_meta meta = { .pid = 1, .comm = "compress" };
	struct store_gen *g;
	uint8_t page[PG];
	int ret;

	ret = store_set_codec(s, codec);
	if (!ret)
		ret = store_gen_begin(s, kind, 0, &g);
	if (ret)
		return ret;
	store_gen_set_meta(g, &meta);
	ret = store_gen_add_vma(g, &v);
	for (size_t i = 0; !ret && i < n; i++) {
		content(page, f[i].seed, f[i].at);
		ret = store_gen_add_page(g, f[i].vaddr, page);
	}
	if (ret) {
		store_gen_abort(g);
		return ret;
	}
	return store_gen_commit(g, id);
}

/* Every page of generation @id reads as @want says, by every path. */
static int check_gen(struct store *s, uint64_t id, uint64_t npages,
		     const uint64_t *seed, const uint64_t *at)
{
	uint8_t *buf = malloc(npages * PG), want[PG], one[PG];
	struct store_snap *snap;
	int ret = store_snap_open(s, id, &snap);

	if (ret || !buf) {
		free(buf);
		return ret ? ret : -ENOMEM;
	}
	ret = store_snap_read_pages(snap, A, npages, buf);
	for (uint64_t i = 0; !ret && i < npages; i++) {
		content(want, seed[i], at[i]);
		if (memcmp(want, buf + i * PG, PG))
			ret = -EILSEQ;
		else if (store_snap_read(snap, A + i * PG, one, NULL) ||
			 memcmp(want, one, PG))
			ret = -EILSEQ;
	}
	/* The pass restore makes after checking: decompressed again. */
	memset(buf, 0xee, npages * PG);
	if (!ret)
		ret = store_snap_reread_pages(snap, A, npages, buf);
	for (uint64_t i = 0; !ret && i < npages; i++) {
		content(want, seed[i], at[i]);
		if (memcmp(want, buf + i * PG, PG))
			ret = -EILSEQ;
	}
	store_snap_close(snap);
	free(buf);
	return ret;
}

static uint32_t file_le32(const char *path, off_t off)
{
	uint8_t b[4] = { 0 };
	int fd = open(path, O_RDONLY);

	if (fd >= 0) {
		if (pread(fd, b, 4, off) != 4)
			memset(b, 0xff, 4);
		close(fd);
	}
	return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static const char *file_of(const char *dir, uint64_t gen, const char *ext)
{
	char name[40];

	snprintf(name, sizeof(name), "/%016lx%s", gen, ext);
	return find_file(dir, name);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : st.st_size;
}

/*
 * Compressible, incompressible, zero and duplicate pages in a compressed
 * pack, then a plain pack on top that shares some of them, then a
 * compressed one again: all read back, verify is clean, the formats are
 * the ones documented.
 */
TEST(mixed_packs_round_trip)
{
	enum { N = 64 };
	uint64_t seed[N], at[N], id1, id2, id3, bad;
	struct cfeed f[N];
	struct store_info info;
	char dir[256], path[4096];
	struct store *s;
	uint64_t dups = 0;
	size_t n = 0;

	store_set_warn(quiet);
	tmp_store(dir, sizeof(dir));
	ASSERT_EQ(0, store_open(&s, dir, NULL, 0));
	for (uint64_t i = 0; i < N; i++) {
		/* Zeros, random, text; the last eight repeat earlier pages. */
		seed[i] = i % 7 == 3 ? 0 : 1 + i;
		at[i] = A + i * PG;
		if (i >= N - 8) {
			seed[i] = seed[i - 20];
			at[i] = at[i - 20];
		}
		f[n++] = (struct cfeed){ A + i * PG, seed[i], at[i] };
	}
	ASSERT_EQ(0, commit_feed(s, STORE_GEN_FULL, STORE_CODEC_LZ4, N, f, n, &id1));
	ASSERT_EQ(0, store_info(s, id1, &info));
	/* The repeats of zero pages are zero pages, not shared copies. */
	for (uint64_t i = N - 8; i < N; i++)
		dups += seed[i] != 0;
	EXPECT_EQ(dups, info.own.pages_dedup);
	ASSERT_EQ(0, check_gen(s, id1, N, seed, at));

	/* Version 2 pack and manifest; smaller than the pages it holds. */
	snprintf(path, sizeof(path), "%s", file_of(dir, id1, ".p"));
	EXPECT_EQ(2, file_le32(path, 8));
	EXPECT_EQ(STORE_CODEC_LZ4, file_le32(path, 32));
	EXPECT_GT(info.own.pages_written * PG, (uint64_t)file_size(path));
	EXPECT_EQ(info.own.bytes_written, (uint64_t)file_size(path));
	EXPECT_EQ(2, file_le32(file_of(dir, id1, ".m"), 8));

	/* A plain pack; some new pages are the compressed pack's content. */
	n = 0;
	for (uint64_t i = 0; i < N; i += 4) {
		seed[i] = i % 8 ? 1000 + i : seed[i + 1];
		at[i] = i % 8 ? A + i * PG : at[i + 1];
		f[n++] = (struct cfeed){ A + i * PG, seed[i], at[i] };
	}
	ASSERT_EQ(0, commit_feed(s, STORE_GEN_INCREMENTAL, STORE_CODEC_NONE, N,
				 f, n, &id2));
	ASSERT_EQ(0, store_info(s, id2, &info));
	EXPECT_LE(4, info.own.pages_dedup);
	EXPECT_EQ(1, file_le32(file_of(dir, id2, ".p"), 8));
	/* It names gen 1's compressed pack: version 2. */
	EXPECT_EQ(2, file_le32(file_of(dir, id2, ".m"), 8));
	ASSERT_EQ(0, check_gen(s, id2, N, seed, at));

	/* Compressed again, deduplicating against both packs. */
	n = 0;
	for (uint64_t i = 1; i < N; i += 4) {
		seed[i] = seed[i - 1];
		at[i] = at[i - 1];
		f[n++] = (struct cfeed){ A + i * PG, seed[i], at[i] };
	}
	f[n++] = (struct cfeed){ A + 2 * PG, 7002, A + 2 * PG };
	seed[2] = 7002;
	at[2] = A + 2 * PG;
	ASSERT_EQ(0, commit_feed(s, STORE_GEN_INCREMENTAL, STORE_CODEC_LZ4, N,
				 f, n, &id3));
	ASSERT_EQ(0, check_gen(s, id3, N, seed, at));
	ASSERT_EQ(0, store_verify(s, 0, &bad));
	store_close(s);

	/* Read-only, indexes loaded lazily: the same. */
	ASSERT_EQ(0, store_open(&s, dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, check_gen(s, id3, N, seed, at));
	ASSERT_EQ(0, store_verify(s, 0, &bad));
	ASSERT_EQ(0, store_verify(s, id1, &bad));
	store_close(s);
	tmp_store_free(dir);
}

/* A store that never compresses is written exactly as before: version 1. */
TEST(plain_store_keeps_version_1)
{
	struct cfeed f[] = { { A, 2, A }, { A + PG, 3, A + PG } };
	char dir[256];
	struct store *s;
	uint64_t id;

	tmp_store(dir, sizeof(dir));
	ASSERT_EQ(0, store_open(&s, dir, NULL, 0));
	ASSERT_EQ(-EINVAL, store_set_codec(s, 77));
	ASSERT_EQ(0, commit_feed(s, STORE_GEN_FULL, STORE_CODEC_NONE, 4, f, 2, &id));
	EXPECT_EQ(1, file_le32(file_of(dir, id, ".p"), 8));
	EXPECT_EQ(1, file_le32(file_of(dir, id, ".m"), 8));
	EXPECT_EQ(PG + 2 * PG + 2 * 16 + 48, file_size(file_of(dir, id, ".p")));
	store_close(s);
	tmp_store_free(dir);
}

/*
 * Far more than the writer's 1 MiB buffer, so records straddle its
 * flushes; then every page again elsewhere: deduplication compares with
 * records on disk, half on disk and in the buffer.
 */
TEST(records_across_flushes)
{
	enum { N = 1500 };
	uint64_t *seed = calloc(2 * N, 8), *at = calloc(2 * N, 8), id, bad;
	struct cfeed *f = calloc(2 * N, sizeof(*f));
	struct store_info info;
	char dir[256];
	struct store *s;

	ASSERT_TRUE(seed && at && f);
	store_set_warn(quiet);
	tmp_store(dir, sizeof(dir));
	ASSERT_EQ(0, store_open(&s, dir, NULL, 0));
	for (uint64_t i = 0; i < N; i++) {
		seed[i] = 1 + i;
		at[i] = A + i * PG;
		f[i] = (struct cfeed){ at[i], seed[i], at[i] };
	}
	/* Interleaved: each duplicate soon after, or long after, its page. */
	for (uint64_t i = 0; i < N; i++) {
		uint64_t k = i % 2 ? i : N - 1 - i;

		seed[N + i] = seed[k];
		at[N + i] = at[k];
		f[N + i] = (struct cfeed){ A + (N + i) * PG, seed[k], at[k] };
	}
	ASSERT_EQ(0, commit_feed(s, STORE_GEN_FULL, STORE_CODEC_LZ4, 2 * N, f,
				 2 * N, &id));
	ASSERT_EQ(0, store_info(s, id, &info));
	EXPECT_EQ(N, info.own.pages_written);
	EXPECT_EQ(N, info.own.pages_dedup);
	ASSERT_EQ(0, check_gen(s, id, 2 * N, seed, at));
	ASSERT_EQ(0, store_verify(s, 0, &bad));
	store_close(s);
	tmp_store_free(dir);
	free(seed);
	free(at);
	free(f);
}

/* Damage to one compressed pack of 8 text pages and 4 random ones. */
FIXTURE(zbad) {
	char dir[256];
	char pack[4096];
	uint64_t id;
	uint64_t seed[12], at[12];
	struct store *s;
};

FIXTURE_SETUP(zbad)
{
	struct cfeed f[12];

	store_set_warn(quiet);
	tmp_store(self->dir, sizeof(self->dir));
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, 0));
	for (int i = 0; i < 12; i++) {
		self->seed[i] = i < 8 ? 2 + 2 * i : 101 + 2 * i;
		self->at[i] = A + i * PG;
		f[i] = (struct cfeed){ A + i * PG, self->seed[i], self->at[i] };
	}
	ASSERT_EQ(0, commit_feed(self->s, STORE_GEN_FULL, STORE_CODEC_LZ4, 12,
				 f, 12, &self->id));
	snprintf(self->pack, sizeof(self->pack), "%s",
		 file_of(self->dir, self->id, ".p"));
	store_close(self->s);
	self->s = NULL;
}

FIXTURE_TEARDOWN(zbad)
{
	store_close(self->s);
	tmp_store_free(self->dir);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/*
 * Rewrites index entry @slot of a compressed pack (offset, length) and,
 * with the record bytes @rec (if any) at that offset, keeps the index's
 * checksum right: the pack then looks sound, and only the reader's own
 * bounds and the page's hash stand between the decoder and the caller.
 */
static int rewrite_entry(const char *path, uint64_t slot, int64_t off,
			 int64_t len, const void *rec, size_t reclen)
{
	int fd = open(path, O_RDWR);
	uint8_t foot[48], *index;
	struct stat st;
	uint64_t n, at;
	int ret = -1;

	if (fd < 0 || fstat(fd, &st) || pread(fd, foot, 48, st.st_size - 48) != 48)
		goto out;
	n = get64(foot + 24);
	at = st.st_size - 48 - 32 * n;
	index = malloc(32 * n);
	if (!index || pread(fd, index, 32 * n, at) != (ssize_t)(32 * n))
		goto out_free;
	if (off < 0)
		off = get64(index + 32 * slot + 16);
	if (len >= 0)
		put32(index + 32 * slot + 24, len);
	put64(index + 32 * slot + 16, off);
	if (rec && pwrite(fd, rec, reclen, off) != (ssize_t)reclen)
		goto out_free;
	put64(foot + 32, XXH3_64bits(index, 32 * n));
	put64(foot + 40, XXH3_64bits(foot, 40));
	if (pwrite(fd, index, 32 * n, at) == (ssize_t)(32 * n) &&
	    pwrite(fd, foot, 48, st.st_size - 48) == 48)
		ret = 0;
out_free:
	free(index);
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

static uint64_t entry_field(const char *path, uint64_t slot, int field)
{
	int fd = open(path, O_RDONLY);
	uint8_t foot[48], e[32];
	struct stat st;
	uint64_t n, v = 0;

	if (fd >= 0 && !fstat(fd, &st) &&
	    pread(fd, foot, 48, st.st_size - 48) == 48) {
		n = get64(foot + 24);
		if (pread(fd, e, 32, st.st_size - 48 - 32 * n + 32 * slot) == 32)
			v = field == 0 ? get64(e + 16) : (uint32_t)get64(e + 24);
	}
	if (fd >= 0)
		close(fd);
	return v;
}

/* Page @i fails by every path, cleanly; every other page still reads. */
static void only_page_fails(struct __test_metadata *_metadata,
			    FIXTURE_DATA(zbad) *self, int bad_page)
{
	uint8_t want[PG], got[PG], *buf = malloc(12 * PG);
	struct store_snap *snap;
	uint64_t bad;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, store_snap_open(self->s, self->id, &snap));
	for (int i = 0; i < 12; i++) {
		int ret = store_snap_read(snap, A + i * PG, got, NULL);

		if (i == bad_page) {
			EXPECT_EQ(-EIO, ret) TH_LOG("page %d read", i);
			EXPECT_NE(NULL, strstr(store_strerror(), self->pack + strlen(self->dir)));
			continue;
		}
		content(want, self->seed[i], self->at[i]);
		EXPECT_EQ(0, ret) TH_LOG("page %d: %s", i, store_strerror());
		EXPECT_EQ(0, memcmp(want, got, PG));
	}
	EXPECT_EQ(-EIO, store_snap_read_pages(snap, A, 12, buf));
	/* Salvage: that page as zeros, counted; the others as they were. */
	store_snap_set_salvage(snap, true);
	ASSERT_EQ(0, store_snap_read_pages(snap, A, 12, buf));
	EXPECT_EQ(1, store_snap_lost(snap));
	for (int i = 0; i < 12; i++) {
		if (i == bad_page)
			memset(want, 0, PG);
		else
			content(want, self->seed[i], self->at[i]);
		EXPECT_EQ(0, memcmp(want, buf + i * PG, PG)) TH_LOG("page %d", i);
	}
	store_snap_close(snap);
	EXPECT_EQ(-EIO, store_verify(self->s, self->id, &bad));
	EXPECT_EQ(1, bad);
	EXPECT_EQ(-EIO, store_verify(self->s, 0, &bad));
	EXPECT_LE(1, bad);
	store_close(self->s);
	self->s = NULL;
	free(buf);
}

TEST_F(zbad, sound_before_damage)
{
	uint64_t bad;

	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, check_gen(self->s, self->id, 12, self->seed, self->at));
	ASSERT_EQ(0, store_verify(self->s, 0, &bad));
	/* Text compressed, random kept as is. */
	EXPECT_GT(PG, entry_field(self->pack, 3, 1));
	EXPECT_EQ(PG, entry_field(self->pack, 10, 1));
}

TEST_F(zbad, byte_in_compressed_record)
{
	uint64_t off = entry_field(self->pack, 3, 0), len = entry_field(self->pack, 3, 1);

	ASSERT_GT(PG, len);
	ASSERT_EQ(0, flip_byte(self->pack, off + len / 2));
	only_page_fails(_metadata, self, 3);
}

TEST_F(zbad, byte_in_raw_record)
{
	ASSERT_EQ(0, flip_byte(self->pack, entry_field(self->pack, 9, 0) + 100));
	only_page_fails(_metadata, self, 9);
}

TEST_F(zbad, length_past_the_data)
{
	ASSERT_EQ(0, rewrite_entry(self->pack, 5, -1, 0x7fffffff, NULL, 0));
	only_page_fails(_metadata, self, 5);
}

TEST_F(zbad, offset_past_the_data)
{
	ASSERT_EQ(0, rewrite_entry(self->pack, 5, 1ll << 40, -1, NULL, 0));
	only_page_fails(_metadata, self, 5);
}

TEST_F(zbad, zero_length)
{
	ASSERT_EQ(0, rewrite_entry(self->pack, 2, -1, 0, NULL, 0));
	only_page_fails(_metadata, self, 2);
}

TEST_F(zbad, record_cut_short)
{
	ASSERT_EQ(0, rewrite_entry(self->pack, 4, -1,
				   entry_field(self->pack, 4, 1) - 1, NULL, 0));
	only_page_fails(_metadata, self, 4);
}

TEST_F(zbad, record_of_another_slot)
{
	ASSERT_EQ(0, rewrite_entry(self->pack, 6, entry_field(self->pack, 1, 0),
				   entry_field(self->pack, 1, 1), NULL, 0));
	only_page_fails(_metadata, self, 6);
}

/*
 * Well-formed LZ4 of less, or of more, than a page, in place of slot 0's
 * record (it fits there): refused, never used, nothing written past the
 * page.
 */
static void wrong_size(struct __test_metadata *_metadata,
		       FIXTURE_DATA(zbad) *self, size_t size)
{
	static uint8_t src[2 * PG];
	uint8_t rec[PG];
	uint64_t off = entry_field(self->pack, 0, 0);
	int n;

	memset(src, 'x', sizeof(src));
	n = LZ4_compress_default((char *)src, (char *)rec, size, sizeof(rec));
	ASSERT_LT(0, n);
	ASSERT_GE(entry_field(self->pack, 0, 1), (uint64_t)n);
	ASSERT_EQ(0, rewrite_entry(self->pack, 0, off, n, rec, n));
	only_page_fails(_metadata, self, 0);
}

TEST_F(zbad, record_less_than_a_page)
{
	wrong_size(_metadata, self, PG - 1);
}

TEST_F(zbad, record_more_than_a_page)
{
	wrong_size(_metadata, self, 2 * PG);
}

/* The padding after the records is checked like the header's. */
TEST_F(zbad, padding_after_records)
{
	uint64_t end = entry_field(self->pack, 11, 0) + entry_field(self->pack, 11, 1);
	uint64_t bad;

	ASSERT_NE(0, end % PG);
	ASSERT_EQ(0, flip_byte(self->pack, end));
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	/* Every page still reads: each proves itself. */
	ASSERT_EQ(0, check_gen(self->s, self->id, 12, self->seed, self->at));
	EXPECT_EQ(-EIO, store_verify(self->s, 0, &bad));
}

/*
 * A manifest naming a codec this reader does not know: that generation
 * is refused as damaged, with the reason, and nothing is guessed.
 */
TEST_F(zbad, unknown_codec_refused)
{
	const char *m = file_of(self->dir, self->id, ".m");
	uint32_t hdr = file_le32(m, 12);
	struct store_snap *snap;
	struct store_info info;
	uint8_t buf[65536];
	ssize_t n;
	int fd;

	store_set_warn(keep);
	fd = open(m, O_RDWR);
	ASSERT_LE(0, fd);
	n = pread(fd, buf, sizeof(buf), 0);
	ASSERT_LT(hdr + 36 + 24 + 8, n);
	/* One VMA of 36 bytes (no path), then the pack: gen, fan-out, slots, codec. */
	put32(buf + hdr + 36 + 20, 9);
	put64(buf + n - 8, XXH3_64bits(buf, n - 8));
	ASSERT_EQ(n, pwrite(fd, buf, n, 0));
	close(fd);
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	EXPECT_NE(NULL, strstr(last_warning, "unknown codec")) TH_LOG("%s", last_warning);
	EXPECT_EQ(-EBADMSG, store_info(self->s, self->id, &info));
	EXPECT_EQ(-EBADMSG, store_snap_open(self->s, self->id, &snap));
	EXPECT_NE(NULL, strstr(store_strerror(), "unknown codec")) TH_LOG("%s", store_strerror());
	store_set_warn(quiet);
}

/* A header that names another codec than the manifest: damage, not fatal. */
TEST_F(zbad, header_codec_differs)
{
	uint8_t head[48];
	uint64_t bad;
	int fd = open(self->pack, O_RDWR);

	ASSERT_LE(0, fd);
	ASSERT_EQ(48, pread(fd, head, 48, 0));
	put32(head + 32, 9);
	put64(head + 40, XXH3_64bits(head, 40));
	ASSERT_EQ(48, pwrite(fd, head, 48, 0));
	close(fd);
	store_set_warn(keep);
	ASSERT_EQ(0, store_open(&self->s, self->dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, check_gen(self->s, self->id, 12, self->seed, self->at));
	EXPECT_NE(NULL, strstr(last_warning, "codec differs")) TH_LOG("%s", last_warning);
	EXPECT_EQ(-EIO, store_verify(self->s, 0, &bad));
	store_set_warn(quiet);
}

TEST_HARNESS_MAIN
