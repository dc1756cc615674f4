// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: whole store directories, not single buffers. A small
 * valid store (three generations, two thresholds, the second one's pack
 * compressed) is made once in /dev/shm;
 * each input is a list of edits applied to a copy of it: flip a byte,
 * truncate, delete, replace by a symlink (to a sibling, to /dev/zero, to
 * nothing), put a file of the store under another store name, add a
 * foreign file or directory. The copy is then opened read-only (every
 * generation's map, pages, diff and verify) and writable (a commit, a
 * purge, dropping damaged generations). Nothing may crash, hang or leak,
 * and no foreign file may be removed.
 *
 * Build and run: selftests/fuzz/run (which links the whole store library).
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/internal.h"

#define A 0x10000ull
#define PG STORE_PAGE_SIZE

static char tmpl[64], work[80];
static char files[64][200];	/* the template's files, relative */
static int nfiles;

static const char *const foreign[] = {
	"README", "d/0000000000000099.p", "d/1024.1/junk.tmp",
	"m/1024.1/0/0000000000000002.m.bak", "d/mine/x", "m/16.1/0/note",
};

static void quiet(const char *line)
{
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int list_one(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	if (flag == FTW_F && nfiles < 64)
		snprintf(files[nfiles++], sizeof(files[0]), "%s",
			 path + strlen(tmpl) + 1);
	return 0;
}

static int gen(struct store *s, enum store_gen_kind kind, int seed)
{
	struct store_vma v = { A, A + 8 * PG, 0, 3, 0, "/lib/x", false };
	uint8_t page[PG];
	struct store_gen *g;
	uint64_t id;
	int ret;

	ret = store_gen_begin(s, kind, 0, &g);
	if (ret)
		return ret;
	ret = store_gen_add_vma(g, &v);
	for (int i = 0; !ret && i < 4; i++) {
		memset(page, seed + i, PG);
		ret = store_gen_add_page(g, A + (i + seed) % 8 * PG, page);
	}
	if (!ret)
		ret = store_gen_add_zero(g, A + 6 * PG, 1);
	if (ret) {
		store_gen_abort(g);
		return ret;
	}
	return store_gen_commit(g, &id);
}

static void cleanup(void)
{
	rm_tree(work);
	rm_tree(tmpl);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct store_knobs k;
	struct store *s;

	store_set_warn(quiet);
	store_set_lock_wait(0);
	snprintf(tmpl, sizeof(tmpl), "/dev/shm/fuzz-dir.%d", getpid());
	snprintf(work, sizeof(work), "%s.work", tmpl);
	store_knobs_default(&k);
	k.redundancy = 1;
	k.max_snapshots = 0;
	/* The second generation's pack compressed, the others not. */
	if (store_open(&s, tmpl, &k, 0) || gen(s, STORE_GEN_FULL, 1) ||
	    store_set_codec(s, STORE_CODEC_LZ4) ||
	    gen(s, STORE_GEN_INCREMENTAL, 2))
		abort();
	store_close(s);
	k.threshold = 16;
	if (store_open(&s, tmpl, &k, 0) || gen(s, STORE_GEN_INCREMENTAL, 1))
		abort();
	store_close(s);
	nftw(tmpl, list_one, 16, FTW_PHYS);
	atexit(cleanup);
	return 0;
}

static void copy_tree(void)
{
	char cmd[256];

	rm_tree(work);
	snprintf(cmd, sizeof(cmd), "cp -a %s %s", tmpl, work);
	if (system(cmd))
		abort();
}

static void at(char *out, size_t n, const char *rel)
{
	snprintf(out, n, "%s/%s", work, rel);
}

static bool put_file(const char *rel)
{
	char path[300], dir[300];
	int fd;

	at(path, sizeof(path), rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	mkdir(dir, 0700);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* One edit: 4 bytes of input; true if it placed a foreign file. */
static bool edit(const uint8_t *e)
{
	const char *rel = files[e[1] % nfiles];
	char path[300], other[300];
	long off = e[2] | e[3] << 8;
	struct stat st;
	int fd;

	at(path, sizeof(path), rel);
	switch (e[0] % 8) {
	case 0:	/* flip a byte, near the start or the end */
	case 1:
		fd = open(path, O_RDWR);
		if (fd >= 0 && !fstat(fd, &st) && st.st_size) {
			uint8_t b;
			off_t o = e[0] % 8 ? st.st_size - 1 - off % st.st_size :
				  off % st.st_size;

			if (pread(fd, &b, 1, o) == 1) {
				b ^= e[3] | 1;
				if (pwrite(fd, &b, 1, o) != 1)
					abort();
			}
		}
		if (fd >= 0)
			close(fd);
		break;
	case 2:
		if (truncate(path, off)) {
			/* gone already */
		}
		break;
	case 3:
		unlink(path);
		break;
	case 4:	/* a symlink to a sibling, to a device, to nothing */
		unlink(path);
		at(other, sizeof(other), files[e[2] % nfiles]);
		if (symlink(e[3] % 3 == 0 ? other : e[3] % 3 == 1 ?
			    "/dev/zero" : "/nonexistent", path)) {
			/* best effort */
		}
		break;
	case 5:	/* one store file under another's name */
		at(other, sizeof(other), files[e[2] % nfiles]);
		if (rename(path, other)) {
			/* best effort */
		}
		break;
	case 6:	/* a directory where a file was */
		unlink(path);
		mkdir(path, 0700);
		break;
	case 7:
		return put_file(foreign[e[2] % (sizeof(foreign) / sizeof(*foreign))]);
	}
	return false;
}

static void read_all(struct store *s)
{
	const uint64_t *ids;
	size_t n = store_generations(s, &ids);
	uint8_t buf[16 * PG];
	uint64_t bad;

	for (size_t i = 0; i < n; i++) {
		struct store_snap *snap;
		struct store_info info;
		struct store_diff d;
		struct store_run run;

		store_info(s, ids[i], &info);
		if (i)
			store_diff(s, ids[i - 1], ids[i], &d);
		if (store_snap_open(s, ids[i], &snap))
			continue;
		/* Bounded: a manifest may claim any layout. */
		for (size_t r = 0; r < 64 && store_snap_map(snap, r, &run); r++)
			store_snap_read_pages(snap, run.vaddr,
					      run.npages < 16 ? run.npages : 16, buf);
		store_snap_set_salvage(snap, true);
		store_snap_read_pages(snap, A, 8, buf);
		store_snap_close(snap);
	}
	store_verify(s, 0, &bad);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool placed[sizeof(foreign) / sizeof(*foreign)] = { false };
	struct store *s;
	char path[300];

	copy_tree();
	for (size_t i = 0; i + 4 <= size && i < 64; i += 4) {
		if (edit(data + i))
			placed[data[i + 2] % (sizeof(foreign) / sizeof(*foreign))] = true;
	}
	if (!store_open(&s, work, NULL, STORE_RDONLY)) {
		read_all(s);
		store_close(s);
	}
	if (!store_open(&s, work, NULL, 0)) {
		unsigned int n;

		if (store_newest(s))
			gen(s, STORE_GEN_INCREMENTAL, 3);
		store_drop_damaged(s, &n);
		store_purge(s, &n);
		read_all(s);
		store_close(s);
	}
	/* Whatever happened, nothing foreign was removed. */
	for (size_t i = 0; i < sizeof(placed); i++) {
		at(path, sizeof(path), foreign[i]);
		if (placed[i] && access(path, F_OK))
			abort();
	}
	return 0;
}
