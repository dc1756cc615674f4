// SPDX-License-Identifier: GPL-2.0
/*
 * Retention and mark-and-sweep. Nothing counts references on disk: the
 * live manifests are the only truth, a pack lives while one of them names
 * it, and everything else under d/ and m/ is debris. That makes purge
 * idempotent and safe to interrupt anywhere: a crash leaves either a
 * manifest that is still whole (kept) or a file nobody names (swept by the
 * next open), never a half-decremented count.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "priv.h"

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

/* Removes the manifest of generation i, durably, before any pack goes. */
static int drop_gen(struct store *s, size_t i)
{
	char dir[sizeof(s->gens[i].path)];
	int ret;

	if (sys_unlinkat(s->dfd, s->gens[i].path, 0) && errno != ENOENT)
		return set_err(-errno, "%s/%s", s->dir, s->gens[i].path);
	snprintf(dir, sizeof(dir), "%s", s->gens[i].path);
	*strrchr(dir, '/') = '\0';
	ret = fsync_dirat(s->dfd, dir);
	if (ret)
		return set_err(ret, "%s/%s", s->dir, dir);
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

/* Marks the packs no live manifest names; false if a manifest is damaged. */
static bool mark(struct store *s)
{
	for (size_t i = 0; i < s->ngens; i++)
		if (s->gens[i].corrupt)
			return false;
	for (size_t i = 0; i < s->npacks; i++) {
		struct pack *p = &s->packs[i];
		bool live = p->writing;

		for (size_t g = 0; g < s->ngens && !live; g++)
			for (uint32_t k = 0; k < s->gens[g].m.npacks && !live; k++)
				live = s->gens[g].m.packs[k].gen == p->gen;
		if (live || p->dead)
			continue;
		p->dead = true;
		if (p->fd >= 0) {
			close(p->fd);
			s->nfds--;
		}
		p->fd = -1;
		free(p->hashes);
		p->hashes = NULL;
	}
	return true;
}

struct sweep {
	bool packs_ok;		/* no damaged manifest: packs may go */
	char **doomed;
	size_t ndoomed;
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

static bool pack_live(struct store *s, const char *path)
{
	const char *base = strrchr(path, '/') + 1;
	struct pack *p;
	char *end;
	uint64_t id;

	if (strlen(base) != 18 || strcmp(base + 16, ".p"))
		return true;	/* not ours: left alone below */
	id = strtoull(base, &end, 16);
	p = pack_find(s, id, NULL);
	return p && !p->dead;
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

	if (dir)
		return 0;
	if (ends_with(path, ".tmp"))
		return doom(sw, path);
	if (!ends_with(path, ".p")) {
		warn("%s/%s: not a store file, left alone", s->dir, path);
		return 0;
	}
	if (!sw->packs_ok || pack_live(s, path))
		return 0;
	return doom(sw, path);
}

static int sweep_manifests(struct store *s, const char *path, bool dir,
			   void *arg)
{
	int ret;

	if (dir) {
		/* Pack unlinks must not outrun the manifest unlinks. */
		ret = fsync_dirat(s->dfd, path);
		return ret ? set_err(ret, "%s/%s", s->dir, path) : 0;
	}
	if (ends_with(path, ".m.tmp"))
		return doom(arg, path);
	return 0;
}

static int prune_dirs(struct store *s, const char *path, bool dir, void *arg)
{
	if (dir && sys_unlinkat(s->dfd, path, AT_REMOVEDIR) &&
	    errno != ENOTEMPTY && errno != EEXIST)
		return set_err(-errno, "%s/%s", s->dir, path);
	return 0;
}

int store_sweep(struct store *s)
{
	struct sweep sw = { .packs_ok = mark(s) };
	int ret;

	if (!sw.packs_ok)
		warn("%s: a manifest is damaged; no pack is removed", s->dir);
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

int store_retain_and_sweep(struct store *s, unsigned int *removed)
{
	unsigned int n = 0;
	int ret;

	ret = retain(s, &n);
	if (removed)
		*removed = n;
	return ret ? ret : store_sweep(s);
}

int store_purge(struct store *s, unsigned int *removed)
{
	if (s->rdonly)
		return set_err(-EROFS, "%s: opened read-only", s->dir);
	if (s->writing)
		return set_err(-EBUSY, "%s: a generation is being written", s->dir);
	return store_retain_and_sweep(s, removed);
}
