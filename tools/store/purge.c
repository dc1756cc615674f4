// SPDX-License-Identifier: GPL-2.0
/*
 * Retention and mark-and-sweep. Nothing counts references on disk: the
 * live manifests are the only truth, a pack lives while one of them names
 * it, and everything else under d/ and m/ is debris. That makes purge
 * idempotent and safe to interrupt anywhere: a crash leaves either a
 * manifest that is still whole (kept) or a file nobody names (swept by the
 * next open), never a half-decremented count.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "priv.h"

static void prune_up(struct store *s, const char *path);

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static bool expired(const struct store *s, const struct gen *g, uint64_t now)
{
	uint64_t age;

	if (!s->knobs.expiration || now < g->m.meta.time_ns)
		return false;
	age = (now - g->m.meta.time_ns) / 1000000000ull;
	return age >= s->knobs.expiration;
}

static void forget_gen(struct store *s, size_t i)
{
	manifest_free(&s->gens[i].m);
	free(s->gens[i].fed);
	memmove(&s->gens[i], &s->gens[i + 1], (s->ngens - i - 1) * sizeof(*s->gens));
	memmove(&s->ids[i], &s->ids[i + 1], (s->ngens - i - 1) * sizeof(*s->ids));
	s->ngens--;
}

/*
 * Removes the manifest of generation i, durably, before any pack goes. If
 * its id is above what seq says, seq is brought up to date first: once the
 * manifest is gone, nothing else would remember that the id was used.
 */
static int drop_gen(struct store *s, size_t i)
{
	char dir[sizeof(s->gens[i].path)];
	int ret;

	if (s->gens[i].id > s->seq_disk) {
		ret = store_seq_persist(s);
		if (ret)
			return ret;
	}
	if (sys_unlinkat(s->dfd, s->gens[i].path, 0) && errno != ENOENT)
		return set_err(-errno, "%s/%s", s->dir, s->gens[i].path);
	snprintf(dir, sizeof(dir), "%s", s->gens[i].path);
	*strrchr(dir, '/') = '\0';
	ret = fsync_dirat(s->dfd, dir);
	if (ret)
		return set_err(ret, "%s/%s", s->dir, dir);
	prune_up(s, s->gens[i].path);
	forget_gen(s, i);
	return 0;
}

/*
 * Oldest first, a generation goes while more than min_snapshots remain
 * and it is either beyond max_snapshots or older than expiration.
 * Damaged manifests are neither counted nor removed: a human looks first.
 */
static int retain(struct store *s, unsigned int *removed)
{
	uint64_t now = now_ns();
	size_t live = 0, i = 0;
	int ret;

	for (size_t g = 0; g < s->ngens; g++)
		live += !s->gens[g].corrupt;
	while (i < s->ngens && live > s->knobs.min_snapshots) {
		struct gen *g = &s->gens[i];
		bool over = s->knobs.max_snapshots && live > s->knobs.max_snapshots;

		if (g->corrupt || (!over && !expired(s, g, now))) {
			i++;
			continue;
		}
		ret = drop_gen(s, i);
		if (ret)
			return ret;
		live--;
		(*removed)++;
	}
	return 0;
}

/*
 * Marks the packs no live manifest names, in one pass over the manifests'
 * pack tables. A damaged manifest may name any pack up to its own id, so
 * those are kept (returned: the highest damaged id, 0 if none); newer
 * packs come and go as usual, so one damaged generation does not stop
 * the store from ever giving space back.
 */
static uint64_t mark(struct store *s)
{
	uint64_t keep_below = 0;

	for (size_t i = 0; i < s->npacks; i++)
		s->packs[i].named = false;
	for (size_t g = 0; g < s->ngens; g++) {
		const struct gen *gn = &s->gens[g];

		if (gn->corrupt) {
			keep_below = gn->id;
			continue;
		}
		for (uint32_t k = 0; k < gn->m.npacks; k++) {
			struct pack *p = pack_find(s, gn->m.packs[k].gen, NULL);

			if (p)
				p->named = true;
		}
	}
	for (size_t i = 0; i < s->npacks; i++) {
		struct pack *p = &s->packs[i];

		if (p->named || p->writing || p->dead || p->gen <= keep_below)
			continue;
		p->dead = true;
		p->doomed = true;
		pack_forget_fd(s, p);
		free(p->hashes);
		free(p->locs);
		p->hashes = NULL;
		p->locs = NULL;
	}
	return keep_below;
}

struct sweep {
	uint64_t keep_below;	/* packs up to a damaged manifest's id stay */
	size_t npacks;		/* packs doomed */
	char **doomed;
	size_t ndoomed;
};

/* A directory the store makes: "K/T.k" and hex digits below it. */
static bool store_dir_named(const char *path)
{
	unsigned int fanout;
	int k, n = 0;

	if (sscanf(path + 2, "%u.%d%n", &fanout, &k, &n) != 2)
		return false;
	for (const char *c = path + 2 + n; *c; c++)
		if (*c != '/' && !isxdigit((unsigned char)*c))
			return false;
	return true;
}

static int doom(struct sweep *sw, const char *path)
{
	char **nd = realloc(sw->doomed, (sw->ndoomed + 1) * sizeof(*nd));

	if (!nd)
		return -ENOMEM;
	sw->doomed = nd;
	sw->doomed[sw->ndoomed] = strdup(path);
	return sw->doomed[sw->ndoomed++] ? 0 : -ENOMEM;
}

static int sweep_data(struct store *s, const char *path, bool dir, void *arg)
{
	struct sweep *sw = arg;
	struct pack *p;
	uint64_t id;

	if (dir)
		return 0;
	if (!store_named(path, ".p", &id)) {
		warn("%s/%s: not a store file, left alone", s->dir, path);
		return 0;
	}
	p = pack_find(s, id, NULL);
	if ((p && !p->dead) || id <= sw->keep_below)
		return 0;
	sw->npacks++;
	return doom(sw, path);
}

static int sweep_manifests(struct store *s, const char *path, bool dir,
			   void *arg)
{
	struct sweep *sw = arg;
	int ret;

	if (dir && sw->npacks) {
		/* Pack unlinks must not outrun the manifest unlinks. */
		ret = fsync_dirat(s->dfd, path);
		return ret ? set_err(ret, "%s/%s", s->dir, path) : 0;
	}
	if (store_named(path, ".m.tmp", &(uint64_t){ 0 }))
		return doom(arg, path);
	return 0;
}

static int prune_dirs(struct store *s, const char *path, bool dir, void *arg)
{
	if (dir && store_dir_named(path) &&
	    sys_unlinkat(s->dfd, path, AT_REMOVEDIR) &&
	    errno != ENOTEMPTY && errno != EEXIST)
		return set_err(-errno, "%s/%s", s->dir, path);
	return 0;
}

int store_sweep(struct store *s)
{
	struct sweep sw = { .keep_below = mark(s) };
	int ret;

	if (sw.keep_below)
		warn("%s: generation %" PRIu64 " is damaged: no pack up to it is removed (drop it with purge --drop-damaged)",
		     s->dir, sw.keep_below);
	for (size_t i = 0; i < 2; i++) {
		const char *tmp = i ? "store.tmp" : "seq.tmp";

		if (!faccessat(s->dfd, tmp, F_OK, 0) && doom(&sw, tmp))
			return -ENOMEM;
	}
	ret = store_walk(s, "d", sweep_data, &sw);
	if (!ret)
		ret = store_walk(s, "m", sweep_manifests, &sw);
	for (size_t i = 0; i < sw.ndoomed; i++) {
		if (!ret && sys_unlinkat(s->dfd, sw.doomed[i], 0) && errno != ENOENT)
			ret = set_err(-errno, "%s/%s", s->dir, sw.doomed[i]);
		free(sw.doomed[i]);
	}
	free(sw.doomed);
	if (!ret)
		ret = store_walk(s, "d", prune_dirs, NULL);
	if (!ret)
		ret = store_walk(s, "m", prune_dirs, NULL);
	return ret;
}

/* Removes a file's directory and the empty ones above it, in its tree. */
static void prune_up(struct store *s, const char *path)
{
	char dir[sizeof(s->packs[0].path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	while ((slash = strrchr(dir, '/')) && slash - dir > 1) {
		*slash = '\0';
		if (!store_dir_named(dir) || sys_unlinkat(s->dfd, dir, AT_REMOVEDIR))
			return;
	}
}

/*
 * After a commit: the packs that the generations retention removed were
 * the only ones to name, by their known paths. Each manifest unlink was
 * made durable before (drop_gen()), so no pack outruns its manifest. The
 * whole-tree sweep is for recovery and purge; a commit's cost must not
 * grow with the number of files in the store.
 */
static int sweep_doomed(struct store *s)
{
	int ret = 0;

	mark(s);
	for (size_t i = 0; i < s->npacks; i++) {
		struct pack *p = &s->packs[i];

		if (!p->doomed)
			continue;
		p->doomed = false;
		if (!ret && sys_unlinkat(s->dfd, p->path, 0) && errno != ENOENT)
			ret = set_err(-errno, "%s/%s", s->dir, p->path);
		else if (!ret)
			prune_up(s, p->path);
	}
	return ret;
}

int store_retain_and_sweep(struct store *s, unsigned int *removed)
{
	unsigned int n = 0;
	int ret;

	ret = retain(s, &n);
	if (removed)
		*removed = n;
	if (ret || !n)
		return ret;
	return sweep_doomed(s);
}

/* Removes damaged manifests on purpose: see store.h. */
int store_drop_damaged(struct store *s, unsigned int *dropped)
{
	unsigned int n = 0;
	int ret = 0;

	if (s->rdonly)
		return set_err(-EROFS, "%s: opened read-only", s->dir);
	if (s->writing)
		return set_err(-EBUSY, "%s: a generation is being written", s->dir);
	for (size_t i = 0; !ret && i < s->ngens;) {
		if (!s->gens[i].corrupt) {
			i++;
			continue;
		}
		warn("%s/%s: damaged generation %" PRIu64 " removed", s->dir,
		     s->gens[i].path, s->gens[i].id);
		ret = drop_gen(s, i);
		n += !ret;
	}
	if (dropped)
		*dropped = n;
	return ret;
}

int store_purge(struct store *s, unsigned int *removed)
{
	unsigned int n = 0;
	int ret;

	if (s->rdonly)
		return set_err(-EROFS, "%s: opened read-only", s->dir);
	if (s->writing)
		return set_err(-EBUSY, "%s: a generation is being written", s->dir);
	ret = retain(s, &n);
	if (removed)
		*removed = n;
	return ret ? ret : store_sweep(s);
}
