/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A fake page source and small helpers for the store's host tests: page
 * content is a function of (seed, address), so a test knows every byte a
 * generation must give back without keeping a copy.
 */
#ifndef SNAPPER_STORE_HELPERS_H
#define SNAPPER_STORE_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

#define PG STORE_PAGE_SIZE

static inline void fake_page(uint8_t *p, uint64_t seed, uint64_t vaddr)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull ^ vaddr ^ 0x5bd1e995;

	for (size_t i = 0; i < PG; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
}

static inline int rm_one(const char *path, const struct stat *st, int flag,
			 struct FTW *ftw)
{
	return remove(path);
}

static inline void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory; the store goes in DIR/s, which does not exist yet. */
static inline void tmp_store(char *dir, size_t n)
{
	char tmpl[] = "/tmp/snapper-test.XXXXXX";

	if (!mkdtemp(tmpl))
		abort();
	snprintf(dir, n, "%s/s", tmpl);
}

static inline void tmp_store_free(const char *dir)
{
	char *parent = strdup(dir);

	*strrchr(parent, '/') = '\0';
	rm_tree(parent);
	free(parent);
}

static inline struct store_knobs knobs_with(uint32_t max, uint32_t min,
					    uint32_t redundancy)
{
	struct store_knobs k;

	store_knobs_default(&k);
	k.max_snapshots = max;
	k.min_snapshots = min;
	k.redundancy = redundancy;
	return k;
}

/* One generation: layout [lo, hi) as one VMA, pages fed from @seed. */
struct feed {
	uint64_t vaddr;
	uint64_t seed;		/* 0: an all-zero page */
};

static inline int commit_one(struct store *s, enum store_gen_kind kind,
			     const struct store_vma *vmas, size_t nv,
			     const struct feed *pages, size_t np, uint64_t *id)
{
	struct store_meta meta = { .pid = 1234, .comm = "fake" };
	uint8_t page[PG];
	struct store_gen *g;
	int ret;

	ret = store_gen_begin(s, kind, 0, &g);
	if (ret)
		return ret;
	meta.stats.pages_sent = np;
	meta.stats.freeze_us = 7;
	meta.stats.duration_us = 99;
	store_gen_set_meta(g, &meta);
	for (size_t i = 0; !ret && i < nv; i++)
		ret = store_gen_add_vma(g, &vmas[i]);
	for (size_t i = 0; !ret && i < np; i++) {
		if (pages[i].seed)
			fake_page(page, pages[i].seed, pages[i].vaddr);
		else
			memset(page, 0, PG);
		ret = store_gen_add_page(g, pages[i].vaddr, page);
	}
	if (ret) {
		store_gen_abort(g);
		return ret;
	}
	return store_gen_commit(g, id);
}

/* 0 if page vaddr of generation id reads back as @want. */
static inline int page_holds(struct store *s, uint64_t id, uint64_t vaddr,
			     const uint8_t *want)
{
	struct store_snap *snap;
	uint8_t got[PG];
	int ret;

	ret = store_snap_open(s, id, &snap);
	if (ret)
		return ret;
	ret = store_snap_read(snap, vaddr, got, NULL);
	store_snap_close(snap);
	if (ret)
		return ret;
	return memcmp(want, got, PG) ? -EILSEQ : 0;
}

/* 0 if page vaddr of generation id reads back as fake_page(seed). */
static inline int page_is(struct store *s, uint64_t id, uint64_t vaddr,
			  uint64_t seed)
{
	uint8_t want[PG];

	if (seed)
		fake_page(want, seed, vaddr);
	else
		memset(want, 0, PG);
	return page_holds(s, id, vaddr, want);
}

/* Files under dir whose name ends with suffix. */
static size_t count_suffix;
static const char *count_what;
static inline int count_one(const char *path, const struct stat *st,
			    int flag, struct FTW *ftw)
{
	size_t n = strlen(path), k = strlen(count_what);

	if (flag == FTW_F && n >= k && !strcmp(path + n - k, count_what))
		count_suffix++;
	return 0;
}

static inline size_t count_files(const char *dir, const char *suffix)
{
	count_suffix = 0;
	count_what = suffix;
	nftw(dir, count_one, 16, FTW_PHYS);
	return count_suffix;
}

/* Flips one byte of a file at offset (from the end if negative). */
static inline int flip_byte(const char *path, long off)
{
	int fd = open(path, O_RDWR);
	struct stat st;
	uint8_t b;
	int ret = -1;

	if (fd < 0)
		return -1;
	if (!fstat(fd, &st)) {
		off_t at = off < 0 ? st.st_size + off : off;

		if (pread(fd, &b, 1, at) == 1) {
			b ^= 0x5a;
			ret = pwrite(fd, &b, 1, at) == 1 ? 0 : -1;
		}
	}
	close(fd);
	return ret;
}

/* The path of the one file under dir ending with suffix (first found). */
static char found_path[4096];
static inline int find_one(const char *path, const struct stat *st, int flag,
			   struct FTW *ftw)
{
	size_t n = strlen(path), k = strlen(count_what);

	if (flag == FTW_F && n >= k && !strcmp(path + n - k, count_what)) {
		snprintf(found_path, sizeof(found_path), "%s", path);
		return 1;
	}
	return 0;
}

static inline const char *find_file(const char *dir, const char *suffix)
{
	found_path[0] = '\0';
	count_what = suffix;
	nftw(dir, find_one, 16, FTW_PHYS);
	return found_path[0] ? found_path : NULL;
}

/* build/selftests/host/X -> tools/snapper-tool at the top of the tree. */
static inline bool find_tool(char *tool, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *cut;

	if (n <= 0)
		return false;
	self[n] = '\0';
	cut = strstr(self, "/build/selftests/host/");
	if (!cut)
		return false;
	*cut = '\0';
	snprintf(tool, len, "%s/tools/snapper-tool", self);
	return !access(tool, X_OK);
}

#endif /* SNAPPER_STORE_HELPERS_H */
