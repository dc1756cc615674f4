// SPDX-License-Identifier: GPL-2.0
/*
 * Reading generations back. Every copy read is hashed and compared with
 * its own entry in its pack's index before it is used (a reread through
 * the same snapshot excepted: see store_snap_reread_pages()): a mismatch
 * is a warning naming the file and offset, and another copy of the same
 * content is used if one checks out; an error only when none does. Never
 * zeros in place of data that failed its check, except in salvage mode,
 * where each such page is reported and counted.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "priv.h"

struct store_snap {
	struct store *s;
	struct manifest m;
	uint32_t *map;		/* pack table entry -> s->packs index */
	struct store_vma *vmas;
	bool salvage;		/* unreadable pages read as zeros, counted */
	uint64_t lost;
	uint64_t **checked;	/* per pack table entry, a bit per slot */
};

void store_snap_set_salvage(struct store_snap *snap, bool on)
{
	snap->salvage = on;
}

uint64_t store_snap_lost(const struct store_snap *snap)
{
	return snap->lost;
}

/* In salvage mode, a page that cannot be read is listed and zeroed. */
static int salvaged(struct store_snap *snap, uint64_t vaddr, void *buf,
		    int ret)
{
	if (!ret || !snap->salvage || ret == -ENOMEM)
		return ret;
	warn("page %#" PRIx64 " lost, zeros in its place: %s", vaddr,
	     store_strerror());
	memset(buf, 0, STORE_PAGE_SIZE);
	snap->lost++;
	return 0;
}

/* Where a slot's copy is, for messages: its record's offset in the pack. */
static uint64_t slot_offset(const struct pack *p, uint64_t slot)
{
	return p->codec ? p->locs[slot].off : pack_index_offset(slot);
}

bool slot_matches(const struct pack *p, uint64_t slot, const void *page)
{
	struct hash128 want = hash_get(p->hashes + slot * HASH_SIZE);
	struct hash128 got = hash_page(page);

	return want.lo == got.lo && want.hi == got.hi;
}

static int copy_check(struct store *s, uint32_t pack, uint64_t slot,
		      void *buf)
{
	struct pack *p = &s->packs[pack];
	const char *why;
	int ret;

	ret = pack_ready(s, p);
	if (ret)
		return ret;
	ret = pack_read_slot(s, p, slot, buf, &why);
	if (ret == -ENOMEM)
		return set_err(ret, "%s/%s", s->dir, p->path);
	if (ret)
		return set_err(ret == -EBADMSG ? -EIO : ret,
			       "%s/%s: %s at offset %#" PRIx64 " (slot %" PRIu64 ")",
			       s->dir, p->path, why, slot_offset(p, slot), slot);
	if (!slot_matches(p, slot, buf))
		return set_err(-EIO, "%s/%s: hash mismatch at offset %#" PRIx64,
			       s->dir, p->path, slot_offset(p, slot));
	return 0;
}

/* A copy elsewhere whose index entry is @h and whose content checks out. */
static bool copy_of(struct store *s, uint32_t pack, uint64_t slot,
		    struct hash128 h, bool proven_only, void *buf)
{
	uint32_t pi, si;
	size_t pos = 0;

	while (htab_next(s, h.lo, &pos, &pi, &si)) {
		struct pack *p = &s->packs[pi];

		if ((pi == pack && si == slot) || p->dead || !p->hashes ||
		    (proven_only && p->unproven) ||
		    hash_get(p->hashes + (uint64_t)si * HASH_SIZE).hi != h.hi)
			continue;
		if (!copy_check(s, pi, si, buf))
			return true;
	}
	return false;
}

/*
 * Another good copy of a slot's content. Usually the slot's data is what
 * is damaged, and its index entry finds the other copies. If the pack's
 * index is itself in doubt and the data's own hash still agrees with the
 * entry in one 64-bit half (one damaged byte touches only one), the data
 * is good when a copy in a sound pack has exactly that hash.
 */
static int other_copy(struct store *s, uint32_t pack, uint64_t slot, void *buf)
{
	struct pack *p = &s->packs[pack];
	struct hash128 want, got;
	const char *why;
	int ret;

	if (!p->hashes)
		return -ENOENT;
	ret = store_content_index(s);
	if (ret)
		return ret;
	want = hash_get(p->hashes + slot * HASH_SIZE);
	if (copy_of(s, pack, slot, want, false, buf))
		return 0;
	if (!p->unproven)
		return -ENOENT;
	if (pack_read_slot(s, p, slot, buf, &why))
		return -ENOENT;
	got = hash_page(buf);
	if ((got.lo != want.lo && got.hi != want.hi) ||
	    !copy_of(s, pack, slot, got, true, buf))
		return -ENOENT;
	return 0;
}

/*
 * Reads a copy, checked against its index entry; when that fails, any
 * other good copy of the same content will do (with a warning). Never
 * data that failed its check, never zeros in its place.
 */
int read_copy(struct store *s, uint32_t pack, uint64_t slot, void *buf,
	      bool fallback)
{
	char why[1024];
	int ret;

	ret = copy_check(s, pack, slot, buf);
	if (!ret || !fallback)
		return ret;
	snprintf(why, sizeof(why), "%s", store_strerror());
	if (!other_copy(s, pack, slot, buf)) {
		warn("%s: using a redundant copy", why);
		return 0;
	}
	return set_err(ret, "%s, and no redundant copy", why);
}

int store_snap_open(struct store *s, uint64_t id, struct store_snap **out)
{
	struct store_snap *snap;
	struct gen *gn = gen_find(s, id);
	int ret;

	if (!gn)
		return set_err(-ENOENT, "%s: generation %" PRIu64, s->dir, id);
	snap = calloc(1, sizeof(*snap));
	if (!snap)
		return set_err(-ENOMEM, "%s", s->dir);
	snap->s = s;
	ret = gen_load(s, gn, &snap->m, &snap->map);
	if (ret) {
		free(snap);
		return ret;
	}
	snap->vmas = calloc(snap->m.nvmas ? snap->m.nvmas : 1, sizeof(*snap->vmas));
	snap->checked = calloc(snap->m.npacks ? snap->m.npacks : 1,
			       sizeof(*snap->checked));
	if (!snap->vmas || !snap->checked) {
		store_snap_close(snap);
		return set_err(-ENOMEM, "%s", s->dir);
	}
	for (uint32_t i = 0; i < snap->m.nvmas; i++) {
		const struct vma *v = &snap->m.vmas[i];

		snap->vmas[i] = (struct store_vma){ v->start, v->end, v->offset,
						    v->prot, v->flags, v->path, false };
	}
	*out = snap;
	return 0;
}

void store_snap_close(struct store_snap *snap)
{
	if (!snap)
		return;
	manifest_free(&snap->m);
	free(snap->map);
	free(snap->vmas);
	for (uint32_t i = 0; snap->checked && i < snap->m.npacks; i++)
		free(snap->checked[i]);
	free(snap->checked);
	free(snap);
}

size_t store_snap_vmas(const struct store_snap *snap,
		       const struct store_vma **vmas)
{
	*vmas = snap->vmas;
	return snap->m.nvmas;
}

size_t store_snap_map(const struct store_snap *snap, size_t i,
		      struct store_run *run)
{
	const struct extent *e;

	if (i >= snap->m.next)
		return 0;
	e = &snap->m.ext[i];
	*run = (struct store_run){ e->vaddr, e->npages,
		e->pack == EXT_ZERO ? STORE_PAGE_ZERO : STORE_PAGE_DATA };
	return snap->m.next;
}

/* The run holding vaddr, or NULL. */
static const struct extent *find_run(const struct manifest *m, uint64_t vaddr)
{
	size_t lo = 0, hi = m->next;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct extent *e = &m->ext[mid];

		if (vaddr < e->vaddr)
			hi = mid;
		else if (vaddr >= e->vaddr + e->npages * STORE_PAGE_SIZE)
			lo = mid + 1;
		else
			return e;
	}
	return NULL;
}

int store_snap_read(struct store_snap *snap, uint64_t vaddr, void *buf,
		    enum store_page_state *state)
{
	const struct extent *e;
	enum store_page_state st;
	int ret = 0;

	vaddr &= ~(uint64_t)(STORE_PAGE_SIZE - 1);
	e = find_run(&snap->m, vaddr);
	st = !e ? STORE_PAGE_ABSENT :
	     e->pack == EXT_ZERO ? STORE_PAGE_ZERO : STORE_PAGE_DATA;
	if (st == STORE_PAGE_DATA)
		ret = salvaged(snap, vaddr, buf,
			       read_copy(snap->s, snap->map[e->pack],
					 e->slot + (vaddr - e->vaddr) / STORE_PAGE_SIZE,
					 buf, true));
	else
		memset(buf, 0, STORE_PAGE_SIZE);
	if (state)
		*state = st;
	return ret;
}

/*
 * Which slots of pack table entry @e a bulk read found good, for
 * store_snap_reread_pages(); NULL if that cannot be recorded.
 */
static uint64_t *checked_bits(struct store_snap *snap, uint32_t e)
{
	struct pack *p = &snap->s->packs[snap->map[e]];

	if (!snap->checked[e])
		snap->checked[e] = calloc((p->nslots + 63) / 64, sizeof(uint64_t));
	return snap->checked[e];
}

/*
 * The records of compressed slots [slot, slot + n) in one pread into a
 * buffer of its own, when their index entries place them one after the
 * other as the writer does (otherwise, or on failure, NULL: each is then
 * read alone by read_copy(), which names what is wrong).
 */
static uint8_t *read_records(struct pack *p, int fd, uint64_t slot,
			     uint64_t n)
{
	const struct zloc *z = p->locs + slot;
	uint64_t span = 0;
	uint8_t *recs;

	for (uint64_t i = 0; i < n; i++) {
		if (!z[i].len || z[i].off != z[0].off + span)
			return NULL;
		span += z[i].len;
	}
	recs = malloc(span);
	if (recs && pread_all(fd, recs, span, z[0].off) != (ssize_t)span) {
		free(recs);
		recs = NULL;
	}
	return recs;
}

/*
 * Slots [@slot, @slot + @n) of pack @pack into @buf: read at once (an
 * uncompressed pack's pages around the page cache, pack_read_bulk(); a
 * compressed pack's records in one pread, then each decompressed), each
 * page then checked against its index entry, unless @trust and @checked
 * say a bulk read through the same snapshot checked that slot before. A
 * page that fails, or every page when the run could not be read at once,
 * goes through read_copy() alone, which rereads it and names the fault.
 * Reading (@bad NULL), that falls back to a redundant copy, and the
 * first page that has none ends the run with its error. Verifying (@bad
 * given, store_verify()), every page is tried, none from a redundant copy
 * (each copy is checked on its own), and each that fails is warned about
 * and counted in @bad: the return is then 0.
 */
int read_slots(struct store *s, uint32_t pack, uint64_t slot, uint64_t n,
	       uint8_t *buf, uint64_t *checked, bool trust, uint64_t *bad)
{
	struct pack *p = &s->packs[pack];
	size_t len = n * STORE_PAGE_SIZE;
	int fd = pack_ready(s, p) ? -1 : pack_fd(s, p);
	uint8_t *recs = fd >= 0 && p->codec ? read_records(p, fd, slot, n) : NULL;
	bool bulk = p->codec ? recs != NULL :
		    fd >= 0 && pack_read_bulk(s, p, buf, len,
					      pack_index_offset(slot)) ==
			       (ssize_t)len;
	int ret = 0;

	for (uint64_t i = 0, k = slot; i < n; i++, k++) {
		uint8_t *page = buf + i * STORE_PAGE_SIZE;
		uint64_t bit = checked ? checked[k / 64] & (1ull << (k % 64)) : 0;
		bool got_it = bulk;
		const char *why;

		if (bulk && p->codec)
			got_it = !codec_decompress(p->codec, recs + (p->locs[k].off -
								      p->locs[slot].off),
						   p->locs[k].len, page, &why);
		if (got_it && trust && bit)
			continue;
		if (got_it && slot_matches(p, k, page)) {
			if (checked)
				checked[k / 64] |= 1ull << (k % 64);
			continue;
		}
		ret = read_copy(s, pack, k, page, !bad);
		if (ret && bad) {
			warn("%s", store_strerror());
			(*bad)++;
			ret = 0;
		}
		if (ret)
			break;
	}
	free(recs);
	return ret;
}

static int salvage_run(struct store_snap *snap, uint64_t vaddr, uint64_t n,
		       uint8_t *out)
{
	int ret = 0;

	for (uint64_t i = 0; !ret && i < n; i++)
		ret = store_snap_read(snap, vaddr + i * STORE_PAGE_SIZE,
				      out + i * STORE_PAGE_SIZE, NULL);
	return ret;
}

static int read_pages(struct store_snap *snap, uint64_t vaddr,
		      size_t npages, void *buf, bool trust)
{
	uint8_t *out = buf;
	int ret;

	vaddr &= ~(uint64_t)(STORE_PAGE_SIZE - 1);
	while (npages) {
		const struct extent *e = find_run(&snap->m, vaddr);
		uint64_t n = 1;

		if (e) {
			uint64_t off = (vaddr - e->vaddr) / STORE_PAGE_SIZE;

			n = e->npages - off < npages ? e->npages - off : npages;
			if (e->pack != EXT_ZERO) {
				ret = read_slots(snap->s, snap->map[e->pack],
						 e->slot + off, n, out,
						 checked_bits(snap, e->pack),
						 trust, NULL);
				/* Salvage: again page by page, keeping the good. */
				if (ret && ret != -ENOMEM && snap->salvage)
					ret = salvage_run(snap, vaddr, n, out);
				if (ret)
					return ret;
			}
		}
		if (!e || e->pack == EXT_ZERO)
			memset(out, 0, n * STORE_PAGE_SIZE);
		out += n * STORE_PAGE_SIZE;
		vaddr += n * STORE_PAGE_SIZE;
		npages -= n;
	}
	return 0;
}

int store_snap_adopt_checks(struct store_snap *snap,
			    const struct store_snap *from)
{
	if (snap->m.gen != from->m.gen || snap->s->id != from->s->id ||
	    snap->m.npacks != from->m.npacks)
		return set_err(-EINVAL, "%s: not a snapshot of the same generation",
			       snap->s->dir);
	for (uint32_t e = 0; e < snap->m.npacks; e++) {
		const struct pack *p = &snap->s->packs[snap->map[e]];
		const struct pack *q = &from->s->packs[from->map[e]];
		uint64_t *bits;

		/* Checks carry over only for the same pack file, seen alike. */
		if (!from->checked[e] || p->nslots != q->nslots ||
		    strcmp(p->path, q->path))
			continue;
		bits = checked_bits(snap, e);
		if (!bits)
			return set_err(-ENOMEM, "%s", snap->s->dir);
		for (uint64_t w = 0; w < (p->nslots + 63) / 64; w++)
			bits[w] |= from->checked[e][w];
	}
	return 0;
}

int store_snap_read_pages(struct store_snap *snap, uint64_t vaddr,
			  size_t npages, void *buf)
{
	return read_pages(snap, vaddr, npages, buf, false);
}

int store_snap_reread_pages(struct store_snap *snap, uint64_t vaddr,
			    size_t npages, void *buf)
{
	return read_pages(snap, vaddr, npages, buf, true);
}

static int write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r ? -errno : -EIO;
		p = (const char *)p + r;
		n -= r;
	}
	return 0;
}

/*
 * The span of the generation's layout, which bounds an export: a range
 * far outside it would only be zeros, written for ever.
 */
static int export_range_ok(const struct store_snap *snap, uint64_t start,
			   uint64_t end)
{
	uint64_t lo = snap->m.nvmas ? snap->m.vmas[0].start : 0;
	uint64_t hi = snap->m.nvmas ? snap->m.vmas[snap->m.nvmas - 1].end : 0;

	if (start >= end)
		return set_err(-EINVAL, "range %#" PRIx64 "-%#" PRIx64 ": empty",
			       start, end);
	if (start < lo || end > hi)
		return set_err(-ERANGE, "range %#" PRIx64 "-%#" PRIx64 ": outside the generation's mappings (%#" PRIx64 "-%#" PRIx64 ")",
			       start, end, lo, hi);
	return 0;
}

int store_snap_export(struct store_snap *snap, uint64_t start, uint64_t end,
		      int fd)
{
	enum { CHUNK = 256 };
	uint8_t *buf = malloc((CHUNK + 1) * STORE_PAGE_SIZE);
	int ret = export_range_ok(snap, start, end);

	if (!buf)
		return set_err(-ENOMEM, "export");
	/* Whole pages around [start, end), read a chunk of runs at a time. */
	for (uint64_t at = start; !ret && at < end;) {
		uint64_t page = at & ~(uint64_t)(STORE_PAGE_SIZE - 1);
		uint64_t in = at - page, n = (end - page + STORE_PAGE_SIZE - 1) /
					     STORE_PAGE_SIZE;
		uint64_t len;

		if (n > CHUNK)
			n = CHUNK;
		len = n * STORE_PAGE_SIZE - in;
		if (len > end - at)
			len = end - at;
		ret = store_snap_read_pages(snap, page, n, buf);
		if (!ret && (ret = write_all(fd, buf + in, len)))
			set_err(ret, "writing the export");
		at += len;
	}
	free(buf);
	return ret;
}
