// SPDX-License-Identifier: GPL-2.0
/*
 * Writing a generation. New content goes into one pack per generation,
 * appended in 1 MiB writes (the copies page aligned after a page-sized
 * header) that bypass the page cache where the filesystem allows it (see
 * flush()); the page map is built at commit by merging the base's extents,
 * clipped to the new layout, with the fed pages, so its cost follows the
 * number of runs, not the size of the address space.
 *
 * Commit order: pack data, index, footer, fsync pack and its directory;
 * manifest to a temporary name, fsync, rename, fsync its directory. The
 * rename is the commit point; before it the pack is debris that the next
 * open sweeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "priv.h"

#define WBUF_PAGES 256

/*
 * Copies lately read to be compared, by their hash's low bits. Content
 * that repeats (a zeroed structure with a header, the same buffer in
 * every thread) matches the same copy again and again; without this, each
 * repeat read it back from the pack. A slot's bytes never change once
 * written, so an entry holds for the generation's life.
 */
#define PEEKED 64

struct peeked {
	uint32_t pack;		/* EXT_ZERO: empty */
	uint64_t slot;
	uint8_t page[STORE_PAGE_SIZE];
};

/*
 * The pack's writes made durable ahead of the commit: a thread that
 * fdatasync()s the pack each time SYNC_AHEAD more bytes went out, so that
 * the disk (or, under a virtual machine, the host) writes them back while
 * the pages are still coming, instead of all of them at the commit's
 * fsync. The commit's fsync stays and is what counts; an error here
 * fails the commit too, since fsync reports a writeback error once.
 */
#define SYNC_AHEAD (64ull << 20)

struct syncer {
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stop;
	uint64_t want;		/* bytes written when last asked */
	uint64_t done;		/* ... when the last fdatasync() began */
	int err;		/* the first failure's errno */
};

struct fed {
	uint64_t vaddr;
	uint64_t seq;		/* feeding order: the last page at an address wins */
	uint64_t slot;
	uint32_t pack;		/* index in s->packs, or EXT_ZERO */
};

/* A range recorded as zero by store_gen_add_zero(). */
struct zrange {
	uint64_t vaddr;
	uint64_t npages;
	uint64_t seq;		/* pages fed before it, inside it, are replaced */
};

struct store_gen {
	struct store *s;
	uint64_t id;
	struct manifest base;	/* extents remapped to s->packs indices */
	struct manifest m;	/* what gets written */
	size_t vcap;
	struct fed *fed;
	size_t nfed, fcap;
	struct zrange *zero;
	size_t nzero, zcap;
	struct zrange *absent;	/* store_gen_add_absent(); seq unused */
	size_t nabsent, acap;
	uint64_t seq;		/* pages and zero ranges fed so far */
	uint32_t pack;		/* own pack in s->packs, or EXT_ZERO */
	int fd;
	bool direct;		/* fd is O_DIRECT: copies bypass the page cache */
	uint8_t *wbuf;		/* page aligned, for O_DIRECT */
	uint64_t flushed;	/* slots on disk; the rest sit in wbuf */
	uint32_t codec;		/* of the pack: s->codec when it was opened */
	uint64_t woff;		/* compressed: file offset of wbuf[0], page aligned */
	size_t wlen;		/* compressed: bytes of records in wbuf */
	uint64_t slot_cap;	/* slots the pack's arrays have room for */
	struct peeked *peeked;	/* PEEKED entries, from the first match */
	struct syncer sync;
	uint64_t t0;
	bool failed;
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ull + ts.tv_nsec / 1000;
}

uint64_t store_gen_id(const struct store_gen *g)
{
	return g->id;
}


static int load_base(struct store_gen *g, uint64_t base)
{
	struct store *s = g->s;
	struct gen *gn;
	uint32_t *map;
	int ret;

	if (!base)
		base = store_newest(s);
	gn = base ? gen_find(s, base) : NULL;
	if (!gn)
		return set_err(-ENOENT, "%s: no generation %" PRIu64 " to build on",
			       s->dir, base);
	/* Checked when it was parsed; immutable since. */
	if (!gn->corrupt && newest_take(s, base, &g->base))
		ret = gen_pack_map(s, gn, &g->base, &map);
	else
		ret = gen_load(s, gn, &g->base, &map);
	if (ret)
		return ret;
	for (uint64_t i = 0; i < g->base.next; i++)
		if (g->base.ext[i].pack != EXT_ZERO)
			g->base.ext[i].pack = map[g->base.ext[i].pack];
	free(map);
	g->m.base = base;
	return 0;
}

int store_gen_begin(struct store *s, enum store_gen_kind kind, uint64_t base,
		    struct store_gen **out)
{
	struct store_gen *g;
	int ret;

	if (s->rdonly)
		return set_err(-EROFS, "%s: opened read-only", s->dir);
	if (s->writing)
		return set_err(-EBUSY, "%s: a generation is being written", s->dir);
	if (kind != STORE_GEN_FULL && kind != STORE_GEN_INCREMENTAL)
		return set_err(-EINVAL, "%s: unknown generation kind", s->dir);
	g = calloc(1, sizeof(*g));
	if (!g)
		return set_err(-ENOMEM, "%s", s->dir);
	*g = (struct store_gen){ .s = s, .pack = EXT_ZERO, .fd = -1,
				 .t0 = mono_us() };
	g->m.kind = kind;
	g->m.knobs = s->knobs;
	g->m.reserved = 1;
	g->m.store_id = s->id;
	ret = kind == STORE_GEN_INCREMENTAL ? load_base(g, base) : 0;
	if (ret) {
		manifest_free(&g->base);
		free(g);
		return ret;
	}
	/* Not written to seq: the manifest will carry it (store_seq_persist()). */
	g->id = ++s->seq;
	g->m.gen = g->id;
	s->writing = g;
	*out = g;
	return 0;
}

int store_gen_set_meta(struct store_gen *g, const struct store_meta *m)
{
	g->m.meta = *m;
	g->m.meta.comm[sizeof(m->comm) - 1] = '\0';
	return 0;
}

int store_gen_add_vma(struct store_gen *g, const struct store_vma *v)
{
	struct vma *nv;

	if (v->start >= v->end || (v->start | v->end) % STORE_PAGE_SIZE ||
	    (v->path && strlen(v->path) > MAX_PATH_LEN))
		return set_err(-EINVAL, "VMA %#" PRIx64 "-%#" PRIx64 ": empty, unaligned or path too long",
			       v->start, v->end);
	if (g->m.nvmas == g->vcap) {
		size_t cap = g->vcap ? 2 * g->vcap : 64;

		nv = realloc(g->m.vmas, cap * sizeof(*nv));
		if (!nv)
			return set_err(-ENOMEM, "layout");
		g->m.vmas = nv;
		g->vcap = cap;
	}
	nv = &g->m.vmas[g->m.nvmas];
	*nv = (struct vma){ v->start, v->end, v->offset, v->prot, v->flags,
			    strdup(v->path ? v->path : ""), v->fresh };
	if (!nv->path)
		return set_err(-ENOMEM, "layout");
	g->m.nvmas++;
	return 0;
}

static bool all_zero(const void *page)
{
	const uint64_t *w = page;

	for (size_t i = 0; i < STORE_PAGE_SIZE / 8; i++)
		if (w[i])
			return false;
	return true;
}

static void *syncer_main(void *arg)
{
	struct store_gen *g = arg;
	struct syncer *y = &g->sync;

	pthread_mutex_lock(&y->mu);
	while (!y->stop) {
		if (y->want == y->done) {
			pthread_cond_wait(&y->cv, &y->mu);
			continue;
		}
		y->done = y->want;
		pthread_mutex_unlock(&y->mu);
		if (fdatasync(g->fd) && !y->err)
			y->err = errno;
		pthread_mutex_lock(&y->mu);
	}
	pthread_mutex_unlock(&y->mu);
	return NULL;
}

/*
 * Called with the bytes written so far: wakes the syncer (started on the
 * first call) once SYNC_AHEAD more went out. Without a thread (none could
 * be made) the commit's fsync does it all, as it always may.
 */
static void sync_ahead(struct store_gen *g, uint64_t written)
{
	struct syncer *y = &g->sync;

	if (written < y->want + SYNC_AHEAD)
		return;
	if (!y->running) {
		if (pthread_mutex_init(&y->mu, NULL))
			return;
		if (pthread_cond_init(&y->cv, NULL)) {
			pthread_mutex_destroy(&y->mu);
			return;
		}
		if (pthread_create(&y->tid, NULL, syncer_main, g)) {
			pthread_cond_destroy(&y->cv);
			pthread_mutex_destroy(&y->mu);
			return;
		}
		y->running = true;
	}
	pthread_mutex_lock(&y->mu);
	y->want = written;
	pthread_cond_signal(&y->cv);
	pthread_mutex_unlock(&y->mu);
}

/* Stops the syncer, if any; the errno of its first failure, or 0. */
static int sync_stop(struct store_gen *g)
{
	struct syncer *y = &g->sync;

	if (!y->running)
		return 0;
	pthread_mutex_lock(&y->mu);
	y->stop = true;
	pthread_cond_signal(&y->cv);
	pthread_mutex_unlock(&y->mu);
	pthread_join(y->tid, NULL);
	pthread_cond_destroy(&y->cv);
	pthread_mutex_destroy(&y->mu);
	y->running = false;
	return y->err;
}

/* Turns O_DIRECT on or off for @fd. Return: 0 or -1 with errno set. */
static int set_direct(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT);
}

/*
 * Writes the buffered copies. With O_DIRECT they go from wbuf to the disk:
 * a buffered write would allocate, zero (init_on_alloc, Debian's default)
 * and fill a page-cache page for each, and a kworker write it back later:
 * in a profile of a full checkpoint (Documentation/benchmarks.rst) the
 * zeroing alone weighed as much as the hash. The write waits for the
 * disk; the page queue keeps the source's thread busy meanwhile. The
 * buffer, the offsets and the sizes are page multiples; a device that
 * wants more (EINVAL) gets buffered writes, with their writeback started
 * at once so that the commit's fsync finds little left to do. Durability
 * is the commit's fsync either way: it commits the journal (the pack grew),
 * which flushes the disk's cache; the syncer (sync_ahead()) has most of
 * that done by then.
 */
static int flush(struct store_gen *g, uint64_t nslots)
{
	struct pack *p = &g->s->packs[g->pack];
	size_t n = (nslots - g->flushed) * STORE_PAGE_SIZE;
	off_t off = pack_index_offset(g->flushed);
	ssize_t r;

	if (!n)
		return 0;
	r = sys_pwrite_all(g->fd, g->wbuf, n, off);
	if (r < 0 && g->direct && errno == EINVAL && !set_direct(g->fd, false)) {
		g->direct = false;
		r = sys_pwrite_all(g->fd, g->wbuf, n, off);
	}
	if (r < 0)
		return set_err(-errno, "%s/%s", g->s->dir, p->path);
	if (!g->direct)
		sync_file_range(g->fd, off, n, SYNC_FILE_RANGE_WRITE);
	g->flushed = nslots;
	sync_ahead(g, off + n);
	return 0;
}

/*
 * The same for a compressed pack, whose records are of any length: the
 * whole pages of wbuf go out, still page aligned in the file and in
 * memory, and the partial page after them moves to the buffer's start,
 * to be completed by the next records. @last pads that page with zeros
 * and writes it too: the data area ends on a page boundary.
 */
static int flush_records(struct store_gen *g, bool last)
{
	struct pack *p = &g->s->packs[g->pack];
	size_t n = g->wlen / STORE_PAGE_SIZE * STORE_PAGE_SIZE;
	ssize_t r;

	if (last && g->wlen > n) {
		memset(g->wbuf + g->wlen, 0, n + STORE_PAGE_SIZE - g->wlen);
		n += STORE_PAGE_SIZE;
		g->wlen = n;
	}
	if (!n)
		return 0;
	r = sys_pwrite_all(g->fd, g->wbuf, n, g->woff);
	if (r < 0 && g->direct && errno == EINVAL && !set_direct(g->fd, false)) {
		g->direct = false;
		r = sys_pwrite_all(g->fd, g->wbuf, n, g->woff);
	}
	if (r < 0)
		return set_err(-errno, "%s/%s", g->s->dir, p->path);
	if (!g->direct)
		sync_file_range(g->fd, g->woff, n, SYNC_FILE_RANGE_WRITE);
	memmove(g->wbuf, g->wbuf + n, g->wlen - n);
	g->woff += n;
	g->wlen -= n;
	g->flushed = p->nslots;
	sync_ahead(g, g->woff);
	return 0;
}

/* Room for one more slot's hash and counts, growing by half. */
static int grow_pack(struct store_gen *g, struct pack *p)
{
	uint64_t n = g->slot_cap + g->slot_cap / 2 + 64;
	uint8_t *h;
	uint32_t *f;
	uint64_t *l;

	if (p->nslots < g->slot_cap)
		return 0;
	if (g->codec) {
		struct zloc *z = realloc(p->locs, n * sizeof(*z));

		if (!z)
			return -ENOMEM;
		p->locs = z;
	}
	h = realloc(p->hashes, n * HASH_SIZE);
	if (h)
		p->hashes = h;
	f = h ? realloc(p->fed, n * sizeof(*f)) : NULL;
	if (f)
		p->fed = f;
	l = f ? realloc(p->last, n * sizeof(*l)) : NULL;
	if (l)
		p->last = l;
	if (!l)
		return -ENOMEM;
	g->slot_cap = n;
	return 0;
}

static int open_pack(struct store_gen *g)
{
	struct store *s = g->s;
	uint8_t hdr[PACK_HDR_SIZE];
	struct pack *p;
	int ret;

	ret = pack_add(s, g->id, s->knobs.threshold, 0, s->codec, &g->pack);
	if (ret)
		return set_err(ret, "%s", s->dir);
	p = &s->packs[g->pack];
	p->writing = true;
	g->codec = s->codec;
	g->woff = PACK_HDR_SIZE;
	if (posix_memalign((void **)&g->wbuf, STORE_PAGE_SIZE,
			   WBUF_PAGES * STORE_PAGE_SIZE))
		g->wbuf = NULL;
	ret = g->wbuf ? mkdirs_at(s->dfd, p->path) : -ENOMEM;
	if (ret)
		return set_err(ret, "%s/%s", s->dir, p->path);
	/* Never over an existing pack: it may hold other generations' pages. */
	g->fd = sys_openat(s->dfd, p->path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (g->fd < 0)
		return set_err(-errno, "%s/%s", s->dir, p->path);
	pack_header_encode(hdr, s->id, g->id, g->codec);
	if (sys_pwrite_all(g->fd, hdr, sizeof(hdr), 0) < 0)
		return set_err(-errno, "%s/%s", s->dir, p->path);
	/* Where the filesystem cannot (EINVAL), the copies go buffered. */
	g->direct = !set_direct(g->fd, true);
	return 0;
}

/* Appends a new copy to the generation's pack; returns its slot. */
static int store_copy(struct store_gen *g, const void *page,
		      struct hash128 h, uint64_t *slot)
{
	struct pack *p;
	int ret;

	if (g->pack == EXT_ZERO && (ret = open_pack(g)))
		return ret;
	p = &g->s->packs[g->pack];
	if (p->nslots + 1 >= MAX_SLOTS)
		return set_err(-EFBIG, "%s/%s", g->s->dir, p->path);
	if (g->codec) {
		if (g->wlen + STORE_PAGE_SIZE > WBUF_PAGES * STORE_PAGE_SIZE &&
		    (ret = flush_records(g, false)))
			return ret;
	} else if (p->nslots - g->flushed == WBUF_PAGES &&
		   (ret = flush(g, p->nslots))) {
		return ret;
	}
	if (grow_pack(g, p))
		return set_err(-ENOMEM, "%s/%s", g->s->dir, p->path);
	*slot = p->nslots++;
	if (g->codec) {
		uint32_t len = codec_compress(g->codec, page, g->wbuf + g->wlen);

		p->locs[*slot] = (struct zloc){ g->woff + g->wlen, len };
		g->wlen += len;
	} else {
		memcpy(g->wbuf + (*slot - g->flushed) * STORE_PAGE_SIZE, page,
		       STORE_PAGE_SIZE);
	}
	hash_put(p->hashes + *slot * HASH_SIZE, h);
	p->fed[*slot] = 1;
	p->last[*slot] = g->id;
	g->m.own.pages_written++;
	return htab_add(g->s, g->pack, *slot);
}

/*
 * Reads a copy, also from this generation's unwritten buffer; its written
 * ones through a read-only fd when g->fd is O_DIRECT (@buf is not aligned
 * for it).
 */
static int peek_copy(struct store_gen *g, uint32_t pack, uint64_t slot,
		     void *buf)
{
	struct pack *p = &g->s->packs[pack];
	const char *why;
	int fd;

	if (p->codec) {
		uint8_t rec[STORE_PAGE_SIZE];
		struct zloc z = p->locs[slot];
		size_t head;

		if (pack != g->pack || z.off + z.len <= g->woff)
			return pack_read_slot(g->s, p, slot, buf, &why);
		/* Still in wbuf, or its first bytes already written. */
		head = z.off < g->woff ? g->woff - z.off : 0;
		fd = head ? pack_fd(g->s, p) : 0;
		if (fd < 0)
			return fd;
		if (head && pread_all(fd, rec, head, z.off) != (ssize_t)head)
			return -EIO;
		memcpy(rec + head, g->wbuf + (z.off + head - g->woff), z.len - head);
		return codec_decompress(p->codec, rec, z.len, buf, &why);
	}
	if (pack == g->pack && slot >= g->flushed) {
		memcpy(buf, g->wbuf + (slot - g->flushed) * STORE_PAGE_SIZE,
		       STORE_PAGE_SIZE);
		return 0;
	}
	fd = pack == g->pack && !g->direct ? g->fd : pack_fd(g->s, p);
	if (fd < 0)
		return fd;
	if (pread_all(fd, buf, STORE_PAGE_SIZE, pack_index_offset(slot)) !=
	    STORE_PAGE_SIZE)
		return -EIO;
	return 0;
}

static struct peeked *peeked_alloc(void)
{
	struct peeked *c = malloc(PEEKED * sizeof(*c));

	for (size_t i = 0; c && i < PEEKED; i++)
		c[i].pack = EXT_ZERO;
	return c;
}

/*
 * A copy to share: same 128-bit hash, the same bytes (a hash is never
 * trusted alone), and, with redundancy, not yet backing that many
 * generations.
 */
static bool find_copy(struct store_gen *g, const void *page, struct hash128 h,
		      uint32_t *pack, uint64_t *slot)
{
	uint32_t redundancy = g->s->knobs.redundancy;
	struct peeked *c;
	uint32_t pi, si;
	size_t pos = 0;

	while (htab_next(g->s, h.lo, &pos, &pi, &si)) {
		struct pack *p = &g->s->packs[pi];

		/* Nothing new comes to depend on a damaged pack. */
		if (p->dead || p->bad || p->unproven ||
		    hash_get(p->hashes + (uint64_t)si * HASH_SIZE).hi != h.hi)
			continue;
		if (redundancy && p->last[si] != g->id && p->fed[si] >= redundancy)
			continue;
		if (!g->peeked && !(g->peeked = peeked_alloc()))
			return false;	/* stored again: costs space, not truth */
		c = &g->peeked[h.lo % PEEKED];
		if (c->pack != pi || c->slot != si) {
			c->pack = EXT_ZERO;
			if (peek_copy(g, pi, si, c->page))
				continue;
			c->pack = pi;
			c->slot = si;
		}
		if (memcmp(c->page, page, STORE_PAGE_SIZE))
			continue;
		if (p->last[si] != g->id)
			p->fed[si]++;
		p->last[si] = g->id;
		*pack = pi;
		*slot = si;
		return true;
	}
	return false;
}

void store_page_digest(const void *data, struct store_digest *d)
{
	struct hash128 h = { 0 };

	d->zero = all_zero(data);
	if (!d->zero)
		h = hash_page(data);
	d->lo = h.lo;
	d->hi = h.hi;
}

int store_gen_add_digested(struct store_gen *g, uint64_t vaddr,
			   const void *data, const struct store_digest *d)
{
	struct fed f = { .vaddr = vaddr, .seq = g->seq, .pack = EXT_ZERO };
	int ret;

	if (g->failed)
		return set_err(-EIO, "%s: generation already failed", g->s->dir);
	if (vaddr % STORE_PAGE_SIZE)
		return set_err(-EINVAL, "page %#" PRIx64 ": not page aligned", vaddr);
	ret = store_content_index(g->s);
	if (ret) {
		g->failed = true;
		return set_err(ret, "%s: content index", g->s->dir);
	}
	if (g->nfed == g->fcap) {
		size_t cap = g->fcap ? 2 * g->fcap : 1024;
		struct fed *nf = realloc(g->fed, cap * sizeof(*nf));

		if (!nf)
			return set_err(-ENOMEM, "page map");
		g->fed = nf;
		g->fcap = cap;
	}
	if (d->zero) {
		g->m.own.pages_zero++;
	} else {
		struct hash128 h = { .lo = d->lo, .hi = d->hi };

		if (find_copy(g, data, h, &f.pack, &f.slot)) {
			g->m.own.pages_dedup++;
		} else {
			ret = store_copy(g, data, h, &f.slot);
			if (ret) {
				g->failed = true;
				return ret;
			}
			f.pack = g->pack;
		}
	}
	g->fed[g->nfed++] = f;
	g->seq++;
	return 0;
}

/*
 * Only the range is kept: the runs are made at commit, so a range of any
 * size costs one entry here and one run per mapping it spans.
 */
static int add_range(struct store_gen *g, const char *what,
		     struct zrange **r, size_t *n, size_t *cap,
		     uint64_t vaddr, uint64_t npages, uint64_t seq)
{
	if (g->failed)
		return set_err(-EIO, "%s: generation already failed", g->s->dir);
	if (vaddr % STORE_PAGE_SIZE || npages > (UINT64_MAX - vaddr) / STORE_PAGE_SIZE)
		return set_err(-EINVAL, "%s range %#" PRIx64 " + %" PRIu64 " pages: unaligned or past the end of the address space",
			       what, vaddr, npages);
	if (!npages)
		return 0;
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		struct zrange *nr = realloc(*r, ncap * sizeof(*nr));

		if (!nr)
			return set_err(-ENOMEM, "page map");
		*r = nr;
		*cap = ncap;
	}
	(*r)[(*n)++] = (struct zrange){ vaddr, npages, seq };
	return 0;
}

int store_gen_add_zero(struct store_gen *g, uint64_t vaddr, uint64_t npages)
{
	int ret = add_range(g, "zero", &g->zero, &g->nzero, &g->zcap, vaddr,
			    npages, g->seq);

	if (!ret && npages)
		g->seq++;
	return ret;
}

int store_gen_add_absent(struct store_gen *g, uint64_t vaddr, uint64_t npages)
{
	return add_range(g, "absent", &g->absent, &g->nabsent, &g->acap,
			 vaddr, npages, 0);
}

int store_gen_add_page(struct store_gen *g, uint64_t vaddr, const void *data)
{
	struct store_digest d;

	store_page_digest(data, &d);
	return store_gen_add_digested(g, vaddr, data, &d);
}

/* Index and footer after the copies, then everything durable. */
static int seal_pack(struct store_gen *g)
{
	struct store *s = g->s;
	struct pack *p = &s->packs[g->pack];
	uint8_t foot[PACK_FOOTER_SIZE], *index = p->hashes;
	uint64_t idx = pack_index_offset(p->nslots);
	uint64_t isize = p->nslots * pack_entry_size(g->codec);
	char dir[sizeof(p->path)];
	int ret;

	ret = g->codec ? flush_records(g, true) : flush(g, p->nslots);
	if (!ret && (ret = sync_stop(g)))
		ret = set_err(-ret, "%s/%s", s->dir, p->path);
	if (ret)
		return ret;
	if (g->codec) {
		idx = g->woff;
		index = malloc(isize);
		if (!index)
			return set_err(-ENOMEM, "%s/%s", s->dir, p->path);
		for (uint64_t i = 0; i < p->nslots; i++)
			zentry_encode(index + i * ZENTRY_SIZE,
				      hash_get(p->hashes + i * HASH_SIZE),
				      &p->locs[i]);
	}
	/* The index and footer are not page multiples: buffered. */
	ret = 0;
	if (g->direct && set_direct(g->fd, false))
		ret = set_err(-errno, "%s/%s", s->dir, p->path);
	g->direct = false;
	pack_footer_encode(foot, s->id, g->id, p->nslots, index, g->codec);
	if (!ret && (sys_pwrite_all(g->fd, index, isize, idx) < 0 ||
		     sys_pwrite_all(g->fd, foot, sizeof(foot), idx + isize) < 0 ||
		     sys_fsync(g->fd)))
		ret = set_err(-errno, "%s/%s", s->dir, p->path);
	if (index != p->hashes)
		free(index);
	if (ret)
		return ret;
	snprintf(dir, sizeof(dir), "%s", p->path);
	*strrchr(dir, '/') = '\0';
	ret = fsync_dirat(s->dfd, dir);
	if (ret)
		return set_err(ret, "%s/%s", s->dir, dir);
	g->m.own.bytes_written = idx + isize + sizeof(foot);
	return 0;
}

static int cmp_fed(const void *a, const void *b)
{
	const struct fed *x = a, *y = b;

	if (x->vaddr != y->vaddr)
		return x->vaddr < y->vaddr ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_vma(const void *a, const void *b)
{
	const struct vma *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * Sorts the fed pages, keeping the last one fed at each address. A source
 * feeds them in ascending order (the module's stream does): then the sort
 * is one look (qsort() of 131072 sorted pages took 67 ms in a TCG guest).
 */
static void sort_fed(struct store_gen *g)
{
	size_t n = 0, k = 1;

	while (k < g->nfed && cmp_fed(&g->fed[k - 1], &g->fed[k]) < 0)
		k++;
	if (k < g->nfed)
		qsort(g->fed, g->nfed, sizeof(*g->fed), cmp_fed);
	for (size_t i = 0; i < g->nfed; i++) {
		if (n && g->fed[n - 1].vaddr == g->fed[i].vaddr)
			n--;
		g->fed[n++] = g->fed[i];
	}
	g->nfed = n;
}

struct builder {
	struct extent *ext;
	uint64_t n, cap;
	bool oom;
};

static void push(struct builder *b, const struct extent *e)
{
	if (b->n == b->cap) {
		uint64_t cap = b->cap ? 2 * b->cap : 256;
		struct extent *ne = realloc(b->ext, cap * sizeof(*ne));

		if (!ne) {
			b->oom = true;
			return;
		}
		b->ext = ne;
		b->cap = cap;
	}
	b->ext[b->n++] = *e;
}

/* Appends a run, merging it into the previous one when it continues it. */
static void emit(struct builder *b, uint64_t vaddr, uint64_t npages,
		 uint32_t pack, uint64_t slot, uint32_t flags)
{
	struct extent *last = b->n ? &b->ext[b->n - 1] : NULL;
	struct extent e = { vaddr, pack == EXT_ZERO ? 0 : slot, npages, pack,
			    flags };

	if (last && last->pack == pack && last->flags == flags &&
	    last->vaddr + last->npages * STORE_PAGE_SIZE == vaddr &&
	    (pack == EXT_ZERO || last->slot + last->npages == slot)) {
		last->npages += npages;
		return;
	}
	push(b, &e);
}

static uint64_t run_end(const struct extent *e)
{
	return e->vaddr + e->npages * STORE_PAGE_SIZE;
}

/*
 * Runs cut to the new layout: unmapped pages are dropped, and so are those
 * of fresh mappings unless @fresh_too (the base's pages there belonged to
 * something else; a zero range recorded now is about the new mapping).
 */
static void clip_runs(struct store_gen *g, const struct extent *ext,
		      uint64_t n, bool fresh_too, uint32_t flags,
		      struct builder *out)
{
	uint32_t v = 0;

	for (uint64_t i = 0; i < n; i++) {
		const struct extent *e = &ext[i];
		uint64_t end = run_end(e);

		while (v < g->m.nvmas && g->m.vmas[v].end <= e->vaddr)
			v++;
		for (uint32_t k = v; k < g->m.nvmas && g->m.vmas[k].start < end; k++) {
			uint64_t a = e->vaddr > g->m.vmas[k].start ? e->vaddr : g->m.vmas[k].start;
			uint64_t z = end < g->m.vmas[k].end ? end : g->m.vmas[k].end;

			if (g->m.vmas[k].fresh && !fresh_too)
				continue;
			emit(out, a, (z - a) / STORE_PAGE_SIZE, e->pack,
			     e->slot + (a - e->vaddr) / STORE_PAGE_SIZE, flags);
		}
	}
}

/*
 * Copies @under with @over laid on top: both sorted and without overlaps,
 * the result too. Linear in the number of runs of both; with nothing on
 * top, @under's runs move to @out uncopied.
 */
static void overlay_runs(struct builder *under, const struct builder *over,
			 struct builder *out)
{
	uint64_t i = 0, j = 0;
	uint64_t at = under->n ? under->ext[0].vaddr : 0;

	if (!over->n) {
		*out = *under;
		*under = (struct builder){ 0 };
		return;
	}
	while (i < under->n || j < over->n) {
		const struct extent *e = i < under->n ? &under->ext[i] : NULL;
		const struct extent *z = j < over->n ? &over->ext[j] : NULL;
		uint64_t stop;

		if (z && (!e || z->vaddr <= at)) {
			uint64_t zend = run_end(z), was = i;

			emit(out, z->vaddr, z->npages, z->pack, z->slot, z->flags);
			j++;
			while (i < under->n && run_end(&under->ext[i]) <= zend)
				i++;
			if (i < under->n) {
				if (i != was)
					at = under->ext[i].vaddr;
				if (at < zend)
					at = zend;
			}
			continue;
		}
		stop = run_end(e);
		if (z && z->vaddr < stop)
			stop = z->vaddr;
		emit(out, at, (stop - at) / STORE_PAGE_SIZE, e->pack,
		     e->slot + (at - e->vaddr) / STORE_PAGE_SIZE, e->flags);
		at = stop;
		if (at >= run_end(e) && ++i < under->n)
			at = under->ext[i].vaddr;
	}
}

static int cmp_zrange(const void *a, const void *b)
{
	const struct zrange *x = a, *y = b;

	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

/* A max-heap of zero ranges (indices into g->zero) by feeding order. */
static void heap_push(const struct zrange *z, size_t *h, size_t *n, size_t k)
{
	size_t i = (*n)++;

	for (; i && z[h[(i - 1) / 2]].seq < z[k].seq; i = (i - 1) / 2)
		h[i] = h[(i - 1) / 2];
	h[i] = k;
}

static void heap_pop(const struct zrange *z, size_t *h, size_t *n)
{
	size_t last = h[--(*n)], i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= *n)
			break;
		if (c + 1 < *n && z[h[c + 1]].seq > z[h[c]].seq)
			c++;
		if (z[h[c]].seq <= z[last].seq)
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n)
		h[i] = last;
}

/*
 * Drops the fed pages that a zero range fed after them covers: the newest
 * range over a page is the top of a heap of the ranges begun at or before
 * it, once those ended before it are popped. Sorts g->zero by address.
 */
static int drop_zeroed(struct store_gen *g)
{
	const struct zrange *z = g->zero;
	size_t *heap, nheap = 0, k = 0, n = 0;

	qsort(g->zero, g->nzero, sizeof(*g->zero), cmp_zrange);
	heap = malloc(g->nzero * sizeof(*heap));
	if (!heap)
		return -ENOMEM;
	for (size_t i = 0; i < g->nfed; i++) {
		uint64_t a = g->fed[i].vaddr;

		while (k < g->nzero && z[k].vaddr <= a)
			heap_push(z, heap, &nheap, k++);
		while (nheap && z[heap[0]].vaddr +
		       z[heap[0]].npages * STORE_PAGE_SIZE <= a)
			heap_pop(z, heap, &nheap);
		if (nheap && z[heap[0]].seq > g->fed[i].seq)
			continue;
		g->fed[n++] = g->fed[i];
	}
	g->nfed = n;
	free(heap);
	return 0;
}

static uint64_t range_end(const struct zrange *r)
{
	return r->vaddr + r->npages * STORE_PAGE_SIZE;
}

/*
 * The base's runs without the absent ranges: what the base had there is
 * no longer the process's (a private file mapping's page that reads as
 * the file again). Sorts g->absent by address; linear after that.
 */
static void cut_absent(struct store_gen *g, const struct builder *in,
		       struct builder *out)
{
	const struct zrange *r = g->absent;
	size_t j = 0;

	qsort(g->absent, g->nabsent, sizeof(*g->absent), cmp_zrange);
	for (uint64_t i = 0; i < in->n; i++) {
		const struct extent *e = &in->ext[i];
		uint64_t a = e->vaddr, end = run_end(e), stop;

		while (a < end) {
			while (j < g->nabsent && range_end(&r[j]) <= a)
				j++;
			if (j < g->nabsent && r[j].vaddr <= a) {
				a = range_end(&r[j]) < end ? range_end(&r[j]) : end;
				continue;
			}
			stop = j < g->nabsent && r[j].vaddr < end ? r[j].vaddr : end;
			emit(out, a, (stop - a) / STORE_PAGE_SIZE, e->pack,
			     e->slot + (a - e->vaddr) / STORE_PAGE_SIZE, e->flags);
			a = stop;
		}
	}
}

/* The union of the zero ranges (sorted by address), as zero runs. */
static void zero_runs(struct store_gen *g, struct builder *out)
{
	for (size_t i = 0; i < g->nzero;) {
		uint64_t a = g->zero[i].vaddr;
		uint64_t z = a + g->zero[i].npages * STORE_PAGE_SIZE;

		for (i++; i < g->nzero && g->zero[i].vaddr <= z; i++) {
			uint64_t e = g->zero[i].vaddr +
				     g->zero[i].npages * STORE_PAGE_SIZE;

			if (e > z)
				z = e;
		}
		emit(out, a, (z - a) / STORE_PAGE_SIZE, EXT_ZERO, 0, EXT_F_FED);
	}
}

/* The fed pages (sorted, unique) as runs. */
static void fed_runs(struct store_gen *g, struct builder *out)
{
	for (size_t i = 0; i < g->nfed; i++)
		emit(out, g->fed[i].vaddr, 1, g->fed[i].pack, g->fed[i].slot,
		     EXT_F_FED);
}

/*
 * Cuts runs at mapping boundaries: merging ignores them, but a run that
 * spans two mappings would not survive either one being unmapped alone.
 */
static void split_at_vmas(struct store_gen *g, const struct builder *in,
			  struct builder *out)
{
	uint32_t v = 0;

	for (uint64_t i = 0; i < in->n; i++) {
		struct extent e = in->ext[i];

		while (e.npages) {
			struct extent part = e;

			while (v < g->m.nvmas && g->m.vmas[v].end <= e.vaddr)
				v++;
			if (v < g->m.nvmas && g->m.vmas[v].end <
			    e.vaddr + e.npages * STORE_PAGE_SIZE)
				part.npages = (g->m.vmas[v].end - e.vaddr) /
					      STORE_PAGE_SIZE;
			push(out, &part);
			e.vaddr += part.npages * STORE_PAGE_SIZE;
			if (e.pack != EXT_ZERO)
				e.slot += part.npages;
			e.npages -= part.npages;
		}
	}
}

static int check_layout(struct store_gen *g)
{
	struct vma *v = g->m.vmas;
	uint32_t k = 0;

	if (g->m.nvmas)
		qsort(v, g->m.nvmas, sizeof(*v), cmp_vma);
	for (uint32_t i = 1; i < g->m.nvmas; i++)
		if (v[i].start < v[i - 1].end)
			return set_err(-EINVAL, "VMA %#" PRIx64 "-%#" PRIx64 ": overlaps the one before",
				       v[i].start, v[i].end);
	for (size_t i = 0; i < g->nfed; i++) {
		while (k < g->m.nvmas && v[k].end <= g->fed[i].vaddr)
			k++;
		if (k == g->m.nvmas || v[k].start > g->fed[i].vaddr)
			return set_err(-EINVAL, "page %#" PRIx64 ": outside the layout",
				       g->fed[i].vaddr);
	}
	return 0;
}

/* Renumbers the runs' packs from s->packs indices to a pack table. */
static int pack_table(struct store_gen *g)
{
	struct store *s = g->s;
	uint32_t *map = calloc(s->npacks ? s->npacks : 1, sizeof(*map));
	uint32_t n = 0;

	if (!map)
		return -ENOMEM;
	for (uint64_t i = 0; i < g->m.next; i++)
		if (g->m.ext[i].pack != EXT_ZERO)
			map[g->m.ext[i].pack] = 1;
	for (size_t i = 0; i < s->npacks; i++)
		n += map[i];
	g->m.packs = calloc(n ? n : 1, sizeof(*g->m.packs));
	if (!g->m.packs) {
		free(map);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->npacks; i++) {
		if (!map[i])
			continue;
		map[i] = g->m.npacks;
		g->m.packs[g->m.npacks++] = (struct pack_ref){
			s->packs[i].gen, s->packs[i].fanout, s->packs[i].nslots,
			s->packs[i].codec };
	}
	for (uint64_t i = 0; i < g->m.next; i++)
		if (g->m.ext[i].pack != EXT_ZERO)
			g->m.ext[i].pack = map[g->m.ext[i].pack];
	free(map);
	return 0;
}

/*
 * The page map: the base's runs clipped to the new layout and cut by the
 * absent ranges, the zero ranges over them, the fed pages over those, cut
 * at mapping boundaries.
 */
static int build_map(struct store_gen *g)
{
	struct builder base = { 0 }, zu = { 0 }, zero = { 0 }, fed = { 0 };
	struct builder mid = { 0 }, merged = { 0 }, out = { 0 }, kept = { 0 };
	int ret;

	sort_fed(g);
	ret = check_layout(g);
	if (ret)
		return ret;
	if (g->nzero && drop_zeroed(g))
		return set_err(-ENOMEM, "page map");
	clip_runs(g, g->base.ext, g->base.next, false, 0, &kept);
	if (g->nabsent) {
		cut_absent(g, &kept, &base);
	} else {
		base = kept;
		kept = (struct builder){ 0 };
	}
	zero_runs(g, &zu);
	clip_runs(g, zu.ext, zu.n, true, EXT_F_FED, &zero);
	fed_runs(g, &fed);
	overlay_runs(&base, &zero, &mid);
	overlay_runs(&mid, &fed, &merged);
	split_at_vmas(g, &merged, &out);
	g->m.ext = out.ext;
	g->m.next = out.n;
	ret = kept.oom || base.oom || zu.oom || zero.oom || fed.oom ||
	      mid.oom || merged.oom || out.oom;
	free(kept.ext);
	free(base.ext);
	free(zu.ext);
	free(zero.ext);
	free(fed.ext);
	free(mid.ext);
	free(merged.ext);
	if (ret)
		return set_err(-ENOMEM, "page map");
	ret = pack_table(g);
	return ret ? set_err(ret, "page map") : 0;
}

/*
 * Parses what is about to be committed: a writer bug must fail this
 * commit, not make a generation that no reader can open.
 */
static int self_check(const struct buf *b)
{
	struct manifest m;
	const char *why;
	int ret = manifest_parse(b->p, b->len, &m, &why);

	if (ret)
		return set_err(-EPROTO, "manifest fails its own check: %s", why);
	manifest_free(&m);
	return 0;
}

static int write_manifest(struct store_gen *g, char *path, size_t n,
			  bool *renamed)
{
	struct store *s = g->s;
	struct buf b = { 0 };
	int ret;

	fanout_path(path, n, 'm', g->id, s->knobs.threshold, ".m");
	if (!g->m.meta.time_ns) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		g->m.meta.time_ns = ts.tv_sec * 1000000000ull + ts.tv_nsec;
	}
	g->m.own.commit_us = mono_us() - g->t0;
	ret = manifest_encode(&g->m, &b);
	if (!ret)
		ret = self_check(&b);
	if (!ret)
		ret = mkdirs_at(s->dfd, path);
	if (!ret)
		ret = write_file_at(s->dfd, path, b.p, b.len, renamed, true);
	free(b.p);
	if (ret == -EPROTO)
		return ret;
	return ret ? set_err(ret, "%s/%s", s->dir, path) : 0;
}

static void gen_free(struct store_gen *g)
{
	sync_stop(g);
	if (g->fd >= 0)
		close(g->fd);
	g->s->writing = NULL;
	manifest_free(&g->base);
	manifest_free(&g->m);
	free(g->fed);
	free(g->zero);
	free(g->absent);
	free(g->wbuf);
	free(g->peeked);
	free(g);
}

int store_gen_commit(struct store_gen *g, uint64_t *id)
{
	struct store *s = g->s;
	bool renamed = false;
	char path[96];
	int ret, err;

	/* Retention below drops packs: the index thread must be done. */
	if (store_index_wait(s))
		g->failed = true;
	if (g->failed) {
		store_gen_abort(g);
		return set_err(-EIO, "%s: generation failed earlier", s->dir);
	}
	ret = build_map(g);
	if (!ret && g->pack != EXT_ZERO)
		ret = seal_pack(g);
	if (!ret)
		ret = write_manifest(g, path, sizeof(path), &renamed);
	if (ret && !renamed) {
		store_gen_abort(g);
		return ret;
	}
	/*
	 * Once renamed, the manifest may be on disk even if its directory's
	 * fsync failed: keep its pack, but report no commit, so the caller
	 * sends these changes again.
	 */
	if (g->pack != EXT_ZERO)
		s->packs[g->pack].writing = false;
	*id = g->id;
	err = gen_remember(s, &g->m, path, true);
	gen_free(g);
	if (ret || err)
		return ret ? ret : set_err(err, "%s", s->dir);
	if (store_retain_and_sweep(s, NULL))
		warn("%s", store_strerror());
	return 0;
}

/* Nothing of an aborted generation is reachable; unlink what is cheap. */
void store_gen_abort(struct store_gen *g)
{
	struct store *s = g->s;

	store_index_wait(s);

	if (g->pack != EXT_ZERO) {
		struct pack *p = &s->packs[g->pack];

		p->writing = false;
		p->dead = true;
		/* Only a pack this generation created: see open_pack(). */
		if (g->fd >= 0)
			sys_unlinkat(s->dfd, p->path, 0);
	}
	gen_free(g);
}
