// SPDX-License-Identifier: GPL-2.0
/* Comparing two generations and verifying what they need. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "priv.h"

struct side {
	struct manifest m;
	uint32_t *map;
	uint64_t i;
};

static const struct extent *cur_run(const struct side *sd)
{
	return sd->i < sd->m.next ? &sd->m.ext[sd->i] : NULL;
}

static uint64_t run_end(const struct extent *e)
{
	return e ? e->vaddr + e->npages * STORE_PAGE_SIZE : UINT64_MAX;
}

/* The content hash of page vaddr of run e, which must hold data. */
static int page_hash(struct store *s, const struct side *sd,
		     const struct extent *e, uint64_t vaddr, struct hash128 *h)
{
	struct pack *p = &s->packs[sd->map[e->pack]];
	uint64_t slot = e->slot + (vaddr - e->vaddr) / STORE_PAGE_SIZE;
	int ret = pack_ready(s, p);

	if (ret)
		return ret;
	*h = hash_get(p->hashes + slot * HASH_SIZE);
	return 0;
}

/* Pages [x, stop) captured in both: same or changed? */
static int compare_run(struct store *s, struct side *a, struct side *b,
		       uint64_t x, uint64_t stop, struct store_diff *d)
{
	const struct extent *ea = cur_run(a), *eb = cur_run(b);
	uint64_t n = (stop - x) / STORE_PAGE_SIZE;
	struct hash128 ha, hb;
	int ret;

	if (ea->pack == EXT_ZERO || eb->pack == EXT_ZERO) {
		*(ea->pack == eb->pack ? &d->same : &d->changed) += n;
		return 0;
	}
	if (s->packs[a->map[ea->pack]].gen == s->packs[b->map[eb->pack]].gen &&
	    ea->slot + (x - ea->vaddr) / STORE_PAGE_SIZE ==
	    eb->slot + (x - eb->vaddr) / STORE_PAGE_SIZE) {
		d->same += n;
		return 0;
	}
	for (; x < stop; x += STORE_PAGE_SIZE) {
		ret = page_hash(s, a, ea, x, &ha);
		if (!ret)
			ret = page_hash(s, b, eb, x, &hb);
		if (ret)
			return ret;
		if (ha.lo == hb.lo && ha.hi == hb.hi)
			d->same++;
		else
			d->changed++;
	}
	return 0;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Walks both page maps at once, run by run. */
static int diff_maps(struct store *s, struct side *a, struct side *b,
		     struct store_diff *d)
{
	uint64_t x = 0;
	int ret = 0;

	while (!ret && (cur_run(a) || cur_run(b))) {
		const struct extent *ea = cur_run(a), *eb = cur_run(b);
		uint64_t as = ea ? max64(ea->vaddr, x) : UINT64_MAX;
		uint64_t bs = eb ? max64(eb->vaddr, x) : UINT64_MAX;
		uint64_t stop;

		x = min64(as, bs);
		if (as == x && bs == x) {
			stop = min64(run_end(ea), run_end(eb));
			ret = compare_run(s, a, b, x, stop, d);
		} else if (as == x) {
			stop = min64(run_end(ea), bs);
			d->removed += (stop - x) / STORE_PAGE_SIZE;
		} else {
			stop = min64(run_end(eb), as);
			d->added += (stop - x) / STORE_PAGE_SIZE;
		}
		x = stop;
		if (ea && run_end(ea) <= x)
			a->i++;
		if (eb && run_end(eb) <= x)
			b->i++;
	}
	return ret;
}

static int side_load(struct store *s, uint64_t id, struct side *sd)
{
	struct gen *gn = gen_find(s, id);

	if (!gn)
		return set_err(-ENOENT, "%s: generation %" PRIu64, s->dir, id);
	return gen_load(s, gn, &sd->m, &sd->map);
}

static void side_free(struct side *sd)
{
	manifest_free(&sd->m);
	free(sd->map);
}

int store_diff(struct store *s, uint64_t a, uint64_t b, struct store_diff *d)
{
	struct side sa = { 0 }, sb = { 0 };
	int ret;

	memset(d, 0, sizeof(*d));
	ret = side_load(s, a, &sa);
	if (ret)
		return ret;
	ret = side_load(s, b, &sb);
	if (!ret)
		ret = diff_maps(s, &sa, &sb, d);
	side_free(&sa);
	side_free(&sb);
	return ret;
}

static void failed(uint64_t *bad)
{
	warn("%s", store_strerror());
	(*bad)++;
}

/* Pages a verify reads at once: 2 MiB, as restore does. */
#define VERIFY_PAGES 512

static void verify_gen(struct store *s, uint64_t id, uint8_t *buf,
		       uint64_t *bad)
{
	struct side sd = { 0 };

	if (side_load(s, id, &sd)) {
		failed(bad);
		return;
	}
	for (uint64_t i = 0; i < sd.m.next; i++) {
		const struct extent *e = &sd.m.ext[i];

		if (e->pack == EXT_ZERO)
			continue;
		for (uint64_t k = 0; k < e->npages; k += VERIFY_PAGES)
			read_slots(s, sd.map[e->pack], e->slot + k,
				   e->npages - k < VERIFY_PAGES ?
				   e->npages - k : VERIFY_PAGES, buf, NULL,
				   false, bad);
	}
	side_free(&sd);
}

/* Every live pack, every slot, whether any manifest still uses it. */
static void verify_packs(struct store *s, uint8_t *buf, uint64_t *bad)
{
	for (uint32_t i = 0; i < s->npacks; i++) {
		struct pack *p = &s->packs[i];

		if (p->dead)
			continue;
		if (pack_ready(s, p)) {
			failed(bad);
			continue;
		}
		/* Readable page by page, but its damage is still damage. */
		if (p->unproven) {
			set_err(-EBADMSG, "%s/%s: %s", s->dir, p->path, p->why);
			failed(bad);
		}
		for (uint64_t k = 0; k < p->nslots; k += VERIFY_PAGES)
			read_slots(s, i, k, p->nslots - k < VERIFY_PAGES ?
				   p->nslots - k : VERIFY_PAGES, buf, NULL,
				   false, bad);
	}
}

/* A manifest that parses and whose packs are known; its pages not read. */
static void verify_manifest(struct store *s, uint64_t id, uint64_t *bad)
{
	struct side sd = { 0 };

	if (side_load(s, id, &sd))
		failed(bad);
	side_free(&sd);
}

/*
 * The whole store: each manifest once, each copy once (a copy shared by a
 * thousand generations is read and reported once, not a thousand times),
 * so the cost is the store's size, not its size times its history.
 */
int store_verify(struct store *s, uint64_t id, uint64_t *bad)
{
	uint8_t *buf = aligned_alloc(STORE_PAGE_SIZE,
				     VERIFY_PAGES * STORE_PAGE_SIZE);

	*bad = 0;
	if (!buf)
		return set_err(-ENOMEM, "%s", s->dir);
	if (id) {
		verify_gen(s, id, buf, bad);
	} else {
		for (size_t g = 0; g < s->ngens; g++)
			verify_manifest(s, s->gens[g].id, bad);
		verify_packs(s, buf, bad);
	}
	free(buf);
	if (!*bad)
		return 0;
	return set_err(-EIO, "%s: %" PRIu64 " failed check%s", s->dir, *bad,
		       *bad == 1 ? "" : "s");
}
