// SPDX-License-Identifier: GPL-2.0
/*
 * Reading generations back. Every copy read is hashed and compared with
 * its pack's index before it is used: with integrity set a mismatch is an
 * error naming the file and offset; without, a warning, and another copy
 * of the same content is used if one checks out. Never zeros in place of
 * data that failed its check.
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
};

static int copy_check(struct store *s, uint32_t pack, uint64_t slot,
		      void *buf)
{
	struct pack *p = &s->packs[pack];
	uint64_t off = pack_index_offset(slot);
	struct hash128 want, got;
	int fd;

	if (p->dead || p->bad || !p->hashes)
		return set_err(-EBADMSG, "%s/%s: %s", s->dir, p->path,
			       p->why ? p->why : "pack unusable");
	fd = pack_fd(s, p);
	if (fd < 0)
		return fd;
	if (pread_all(fd, buf, STORE_PAGE_SIZE, off) != STORE_PAGE_SIZE)
		return set_err(errno ? -errno : -EIO, "%s/%s: reading offset %#" PRIx64,
			       s->dir, p->path, off);
	want = hash_get(p->hashes + slot * HASH_SIZE);
	got = hash_page(buf);
	if (want.lo != got.lo || want.hi != got.hi)
		return set_err(-EIO, "%s/%s: hash mismatch at offset %#" PRIx64,
			       s->dir, p->path, off);
	return 0;
}

/* Another copy with the same content hash that checks out. */
static int other_copy(struct store *s, uint32_t pack, uint64_t slot, void *buf)
{
	struct hash128 want = hash_get(s->packs[pack].hashes + slot * HASH_SIZE);
	uint32_t pi, si;
	size_t pos = 0;

	while (htab_next(s, want.lo, &pos, &pi, &si)) {
		struct pack *p = &s->packs[pi];

		if ((pi == pack && si == slot) || p->dead || p->bad ||
		    hash_get(p->hashes + (uint64_t)si * HASH_SIZE).hi != want.hi)
			continue;
		if (!copy_check(s, pi, si, buf))
			return 0;
	}
	return -ENOENT;
}

int read_copy(struct store *s, uint32_t pack, uint64_t slot, void *buf,
	      bool fallback)
{
	char why[1024];
	int ret;

	ret = copy_check(s, pack, slot, buf);
	if (!ret || !fallback || s->knobs.integrity || !s->packs[pack].hashes)
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
	if (!snap->vmas) {
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
		ret = read_copy(snap->s, snap->map[e->pack],
				e->slot + (vaddr - e->vaddr) / STORE_PAGE_SIZE,
				buf, true);
	else
		memset(buf, 0, STORE_PAGE_SIZE);
	if (state)
		*state = st;
	return ret;
}

/*
 * The pages of one run in one pread, each then checked against its
 * pack's index; a page that fails goes through read_copy() alone, which
 * rereads it, names the fault and may fall back to another copy.
 */
static int read_slots(struct store *s, uint32_t pack, uint64_t slot,
		      uint64_t n, uint8_t *buf)
{
	struct pack *p = &s->packs[pack];
	size_t len = n * STORE_PAGE_SIZE;
	int fd = p->dead || p->bad || !p->hashes ? -1 : pack_fd(s, p);
	bool bulk = fd >= 0 && pread_all(fd, buf, len, pack_index_offset(slot)) ==
			       (ssize_t)len;

	for (uint64_t i = 0; i < n; i++) {
		uint8_t *page = buf + i * STORE_PAGE_SIZE;
		struct hash128 want, got;
		int ret;

		if (bulk) {
			want = hash_get(p->hashes + (slot + i) * HASH_SIZE);
			got = hash_page(page);
			if (want.lo == got.lo && want.hi == got.hi)
				continue;
		}
		ret = read_copy(s, pack, slot + i, page, true);
		if (ret)
			return ret;
	}
	return 0;
}

int store_snap_read_pages(struct store_snap *snap, uint64_t vaddr,
			  size_t npages, void *buf)
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
						 e->slot + off, n, out);
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

int store_snap_export(struct store_snap *snap, uint64_t start, uint64_t end,
		      int fd)
{
	enum { CHUNK = 256 * STORE_PAGE_SIZE };
	uint8_t page[STORE_PAGE_SIZE];
	uint8_t *out = malloc(CHUNK);
	size_t used = 0;
	int ret = 0;

	if (!out)
		return set_err(-ENOMEM, "export");
	if (start > end)
		ret = set_err(-EINVAL, "range %#" PRIx64 "-%#" PRIx64 ": end before start",
			      start, end);
	for (uint64_t at = start; !ret && at < end;) {
		uint64_t in = at % STORE_PAGE_SIZE;
		uint64_t n = STORE_PAGE_SIZE - in;

		if (n > end - at)
			n = end - at;
		ret = store_snap_read(snap, at, page, NULL);
		if (!ret && used + n > CHUNK) {
			ret = write_all(fd, out, used);
			if (ret)
				set_err(ret, "writing the export");
			used = 0;
		}
		memcpy(out + used, page + in, n);
		used += n;
		at += n;
	}
	if (!ret && used && (ret = write_all(fd, out, used)))
		set_err(ret, "writing the export");
	free(out);
	return ret;
}
