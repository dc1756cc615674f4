// SPDX-License-Identifier: GPL-2.0
/*
 * The store against an in-memory model: random layouts (fresh mappings,
 * adjacent ones, gaps), full and incremental generations, duplicate
 * content within and across generations, zero pages, holes, retention and
 * redundancy, reopens; then damage to one random byte of one random file,
 * after which every page reads back either exactly as the model says or
 * as an error (never other data), salvage gives the rest, verify notices,
 * and a writer carries on. SNAPPER_MODEL_SEED=N replays one seed.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wclobbered"
#endif

#include "kselftest_harness.h"
#include "store_helpers.h"

#define A	0x40000000ull
#define SLOTS	4		/* places a mapping can start */
#define SLOT_PAGES 64		/* pages between two places */
#define NPAGES	(SLOTS * SLOT_PAGES)
#define MAXGEN	48
#define ABSENT	(-1)

/* What each page of a generation must read as: ABSENT, 0 (zero) or a seed. */
struct mgen {
	uint64_t id;
	int page[NPAGES];
};

struct model {
	struct mgen gen[MAXGEN];
	int n;			/* live generations, oldest first */
	unsigned int rnd;
};

static void quiet(const char *line)
{
}

static unsigned int rnd(struct model *m, unsigned int n)
{
	return rand_r(&m->rnd) % n;
}

/* Content depends on the seed only: the same seed anywhere is a duplicate. */
static void content(uint8_t *p, int seed)
{
	if (seed)
		fake_page(p, seed, 0);
	else
		memset(p, 0, PG);
	/* A third of the contents compress (in a compressed pack). */
	if (seed % 3 == 0)
		memset(p + PG / 4 + seed, seed, PG - PG / 4 - seed);
}

static int mapped(const struct store_vma *v, int nv, int i, bool *fresh)
{
	uint64_t a = A + (uint64_t)i * PG;

	for (int k = 0; k < nv; k++) {
		if (a >= v[k].start && a < v[k].end) {
			*fresh = v[k].fresh;
			return 1;
		}
	}
	return 0;
}

/* One generation, random, fed to the store and applied to the model. */
static int one_gen(struct store *s, struct model *m, struct mgen *out)
{
	struct store_vma v[SLOTS];
	const struct mgen *base = m->n ? &m->gen[m->n - 1] : NULL;
	bool full = !base || !rnd(m, 5);
	struct store_gen *g;
	uint8_t page[PG];
	int nv = 0, ret;

	for (int k = 0; k < SLOTS; k++) {
		uint64_t len = 1 + rnd(m, SLOT_PAGES);

		if (rnd(m, 4) == 0)
			continue;
		/* Sometimes the whole slot, so that mappings touch. */
		if (rnd(m, 3) == 0)
			len = SLOT_PAGES;
		v[nv++] = (struct store_vma){ A + k * SLOT_PAGES * PG,
			A + (k * SLOT_PAGES + len) * PG, 0, 3, 0, "", !rnd(m, 6) };
	}
	if (!nv)
		v[nv++] = (struct store_vma){ A, A + PG, 0, 3, 0, "", false };
	ret = store_gen_begin(s, full ? STORE_GEN_FULL : STORE_GEN_INCREMENTAL,
			      0, &g);
	if (ret)
		return ret;
	for (int k = 0; k < nv && !ret; k++)
		ret = store_gen_add_vma(g, &v[k]);
	for (int i = 0; i < NPAGES; i++) {
		bool fresh = false;

		out->page[i] = ABSENT;
		if (mapped(v, nv, i, &fresh) && !full && !fresh)
			out->page[i] = base->page[i];
	}
	for (int op = rnd(m, 40); op > 0 && !ret; op--) {
		int i = rnd(m, NPAGES), len = 1 + rnd(m, 30);
		bool fresh;

		if (!mapped(v, nv, i, &fresh))
			continue;
		if (rnd(m, 6) == 0) {
			ret = store_gen_add_zero(g, A + (uint64_t)i * PG, len);
			for (int k = i; k < i + len && k < NPAGES; k++)
				if (mapped(v, nv, k, &fresh))
					out->page[k] = 0;
		} else {
			int seed = rnd(m, 4) ? 1 + rnd(m, 12) : 0;

			content(page, seed);
			ret = store_gen_add_page(g, A + (uint64_t)i * PG, page);
			out->page[i] = seed;
		}
	}
	if (ret) {
		store_gen_abort(g);
		return ret;
	}
	return store_gen_commit(g, &out->id);
}

static void retain(struct model *m, uint32_t max, uint32_t min)
{
	while (max && m->n > max && m->n > min) {
		memmove(&m->gen[0], &m->gen[1], (m->n - 1) * sizeof(m->gen[0]));
		m->n--;
	}
}

/*
 * What a damaged byte cost: generations that would not open, and the
 * contents (seeds) of the pages that failed in the others.
 */
static struct {
	int gens;
	bool seed[64];
	int nseeds;
} lost;

/*
 * Every page of every live generation: exactly the model's, or (with
 * @damaged) an error, noted in @lost; returns the pages that failed.
 */
static int check(struct __test_metadata *_metadata, struct store *s,
		 const struct model *m, bool damaged)
{
	uint8_t *buf = malloc(NPAGES * PG), want[PG];
	int failed = 0;

	ASSERT_NE(NULL, buf);
	for (int k = 0; k < m->n; k++) {
		const struct mgen *g = &m->gen[k];
		struct store_snap *snap;
		int ret = store_snap_open(s, g->id, &snap);

		if (damaged && ret) {
			failed += NPAGES;
			lost.gens++;
			continue;
		}
		ASSERT_EQ(0, ret) TH_LOG("gen %lu: %s", g->id, store_strerror());
		for (int i = 0; i < NPAGES; i++) {
			enum store_page_state st;

			ret = store_snap_read(snap, A + (uint64_t)i * PG, buf, &st);
			if (ret) {
				ASSERT_TRUE(damaged) TH_LOG("gen %lu page %d: %s",
							    g->id, i, store_strerror());
				failed++;
				lost.nseeds += !lost.seed[g->page[i]];
				lost.seed[g->page[i]] = true;
				continue;
			}
			content(want, g->page[i] > 0 ? g->page[i] : 0);
			ASSERT_EQ(g->page[i] == ABSENT ? STORE_PAGE_ABSENT :
				  g->page[i] ? STORE_PAGE_DATA : STORE_PAGE_ZERO, st)
				TH_LOG("gen %lu page %d", g->id, i);
			ASSERT_EQ(0, memcmp(buf, want, PG))
				TH_LOG("gen %lu page %d: wrong content", g->id, i);
		}
		/* The run reader agrees, or fails where a page did. */
		ret = store_snap_read_pages(snap, A, NPAGES, buf);
		if (!damaged)
			ASSERT_EQ(0, ret);
		store_snap_close(snap);
	}
	free(buf);
	return failed;
}

/* All files of the store, for the damage phase. */
static char files[4096][512];
static int nfiles;

static int collect(const char *path, const struct stat *st, int flag,
		   struct FTW *ftw)
{
	if (flag == FTW_F && st->st_size && nfiles < 4096)
		snprintf(files[nfiles++], sizeof(files[0]), "%s", path);
	return 0;
}

/*
 * Where to flip a byte of @path: anywhere, or half the time in a pack's
 * few checked bytes of header or footer, or in its index, which a random
 * offset in a file of mostly copies rarely hits.
 */
/*
 * @path names a file of that kind by its suffix: the temporary directory's
 * random name may hold ".m" or ".p" too (mkdtemp's "XXXXXX").
 */
static bool named(const char *path, const char *suffix)
{
	size_t n = strlen(path), k = strlen(suffix);

	return n >= k && !strcmp(path + n - k, suffix);
}

static long pick_offset(struct model *m, const char *path, long size)
{
	long n = (size - PG - 48) / (PG + 16);	/* slots of a whole pack */
	uint8_t head[12], foot[32];
	int fd = open(path, O_RDONLY);
	bool z;

	z = fd >= 0 && pread(fd, head, sizeof(head), 0) == sizeof(head) &&
	    head[8] == 2 && pread(fd, foot, sizeof(foot), size - 48) == sizeof(foot);
	if (fd >= 0)
		close(fd);
	/* A compressed pack: the slot count from the footer, the index before it. */
	if (z) {
		memcpy(&n, foot + 24, sizeof(n));
		if (n <= 0 || n > size / 32)
			n = 0;
	}
	if (!named(path, ".p") || n <= 0 || rnd(m, 2))
		return rnd(m, size);
	if (z) {
		switch (rnd(m, 3)) {
		case 0:
			return rnd(m, 48);
		case 1:
			return size - 1 - rnd(m, 48);
		}
		return size - 48 - 32 * n + rnd(m, 32 * n);
	}
	switch (rnd(m, 3)) {
	case 0:
		return rnd(m, 40);
	case 1:
		return size - 1 - rnd(m, 48);
	}
	return PG + n * PG + rnd(m, 16 * n);
}

static void run_seed(struct __test_metadata *_metadata, unsigned int seed)
{
	struct model *m = calloc(1, sizeof(*m));
	struct store_knobs k;
	char dir[256];
	struct store *s;
	uint64_t bad;
	int gens, target, failed;
	struct stat st;
	long off;

	ASSERT_NE(NULL, m);
	m->rnd = seed;
	store_knobs_default(&k);
	k.max_snapshots = 3 + rnd(m, 8);
	k.min_snapshots = 1 + rnd(m, 2);
	k.redundancy = rnd(m, 4);
	k.threshold = rnd(m, 2) ? 16 : 1024;
	tmp_store(dir, sizeof(dir));
	ASSERT_EQ(0, store_open(&s, dir, &k, 0));
	gens = 10 + rnd(m, 25);
	for (int i = 0; i < gens; i++) {
		struct mgen g;

		/* Compressed packs and plain ones in one store. */
		store_set_codec(s, (seed + i) % 2 ? STORE_CODEC_LZ4 :
						    STORE_CODEC_NONE);
		ASSERT_EQ(0, one_gen(s, m, &g)) TH_LOG("seed %u gen %d: %s",
							seed, i, store_strerror());
		m->gen[m->n++] = g;
		retain(m, k.max_snapshots, k.min_snapshots);
		if (!rnd(m, 5)) {
			store_close(s);
			ASSERT_EQ(0, store_open(&s, dir, &k, 0));
		}
	}
	check(_metadata, s, m, false);
	ASSERT_EQ(0, store_verify(s, 0, &bad)) TH_LOG("seed %u: %s", seed,
						       store_strerror());
	store_close(s);

	/* One damaged byte in one file. */
	nfiles = 0;
	nftw(dir, collect, 16, FTW_PHYS);
	ASSERT_LT(0, nfiles);
	target = rnd(m, nfiles);
	ASSERT_EQ(0, stat(files[target], &st));
	off = pick_offset(m, files[target], st.st_size);
	ASSERT_EQ(0, flip_byte(files[target], off));
	ASSERT_EQ(0, store_open(&s, dir, &k, STORE_RDONLY))
		TH_LOG("seed %u, %s at %ld: %s", seed, files[target], off,
		       store_strerror());
	memset(&lost, 0, sizeof(lost));
	failed = check(_metadata, s, m, true);
	/* No more than store-format.rst says one damaged byte costs. */
	if (named(files[target], ".m")) {
		/* That generation, nothing else. */
		ASSERT_GE(1, lost.gens) TH_LOG("seed %u", seed);
		ASSERT_EQ(0, lost.nseeds) TH_LOG("seed %u", seed);
	} else if (named(files[target], ".p")) {
		/* One slot or entry: one content; a header or footer: nothing. */
		ASSERT_EQ(0, lost.gens) TH_LOG("seed %u", seed);
		ASSERT_GE(1, lost.nseeds) TH_LOG("seed %u: %s at %ld", seed,
						 files[target], off);
		if (off < PG || off >= st.st_size - 48)
			ASSERT_EQ(0, failed) TH_LOG("seed %u: %s at %ld", seed,
						    files[target], off);
	}
	if (named(files[target], ".p") || named(files[target], ".m")) {
		/* verify sees the damage (a copy, an entry, a header, a sum). */
		ASSERT_EQ(-EIO, store_verify(s, 0, &bad))
			TH_LOG("seed %u: %s at %ld unnoticed", seed,
			       files[target], off);
	} else {
		ASSERT_EQ(0, failed);
	}
	/* Salvage gives every page that is still good, zeros elsewhere. */
	for (int i = 0; i < m->n; i++) {
		struct store_snap *snap;
		uint8_t *buf = malloc(NPAGES * PG);

		if (store_snap_open(s, m->gen[i].id, &snap)) {
			free(buf);
			continue;
		}
		store_snap_set_salvage(snap, true);
		ASSERT_EQ(0, store_snap_read_pages(snap, A, NPAGES, buf));
		store_snap_close(snap);
		free(buf);
	}
	store_close(s);
	/* A writer carries on, unless the store's own header is damaged. */
	if (strstr(files[target], "/store")) {
		ASSERT_EQ(-EBADMSG, store_open(&s, dir, &k, 0));
	} else {
		struct mgen g;

		ASSERT_EQ(0, store_open(&s, dir, &k, 0));
		/* Its base may be the damaged one: build on a full one. */
		m->n = 0;
		ASSERT_EQ(0, one_gen(s, m, &g)) TH_LOG("seed %u: %s", seed,
							store_strerror());
		m->gen[m->n++] = g;
		check(_metadata, s, m, false);
		store_close(s);
	}
	tmp_store_free(dir);
	free(m);
}

FIXTURE(model) {
	int unused;
};

FIXTURE_SETUP(model)
{
}

FIXTURE_TEARDOWN(model)
{
}

TEST_F_TIMEOUT(model, random_against_model, 600)
{
	const char *env = getenv("SNAPPER_MODEL_SEED");
	unsigned int n = env ? 1 : 30;

	store_set_warn(quiet);
	for (unsigned int i = 0; i < n; i++) {
		unsigned int seed = env ? strtoul(env, NULL, 0) : 1000 + i;

		run_seed(_metadata, seed);
		if (_metadata->exit_code)
			TH_LOG("failed with SNAPPER_MODEL_SEED=%u", seed);
	}
}

TEST_HARNESS_MAIN
