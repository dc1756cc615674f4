// SPDX-License-Identifier: GPL-2.0
/*
 * Opening a store: the header, the id sequence, every manifest, every
 * pack they reference, and the content index built from the packs. A
 * writable open then sweeps whatever no manifest reaches, which is all the
 * crash recovery there is: nothing on disk is ever updated in place, so
 * there is nothing to roll back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "priv.h"

void store_knobs_default(struct store_knobs *k)
{
	*k = (struct store_knobs){
		.threshold = 1024, .redundancy = 8,
		.max_snapshots = 64, .min_snapshots = 1, .expiration = 0,
	};
}

int store_knobs_check(const struct store_knobs *k)
{
	if (k->threshold < 16 || k->threshold > 1048576)
		return set_err(-EINVAL, "threshold %u: not in 16..1048576",
			       k->threshold);
	if (k->redundancy > 1000000 || k->max_snapshots > 1000000 ||
	    k->min_snapshots > 1000000)
		return set_err(-EINVAL, "redundancy or snapshot count above 1000000");
	if (k->expiration > (1ull << 40))
		return set_err(-EINVAL, "expiration above 2^40 seconds");
	return 0;
}

uint64_t store_id(const struct store *s)
{
	return s->id;
}

const char *store_dir(const struct store *s)
{
	return s->dir;
}

static void count_fed(struct store *s);

/*
 * The table's memory, zeroed and populated in one call. From calloc() (a
 * fresh mapping at these sizes) the first access to each page, a read of
 * the probed slot, maps the shared zero page, and the write that follows
 * copies it: two faults per 4 KiB page, in an order as random as the
 * hashes. Building the index of a 1 GiB store (262144 copies, a 16 MiB
 * table) took 116 to 148 ms in a 6.1 TCG guest, a third of a 1 % step
 * (Documentation/benchmarks.rst), with the faults a fifth of its samples.
 * MAP_POPULATE allocates the same zeroed pages without them; if it cannot
 * populate, the pages fault in as before. Its 262144 inserts at random
 * spots were then most of the rest: entries of 8 bytes (no hash, see
 * struct hent) instead of 16 halve the memory they land in, and took
 * those of a 1 GiB store from 56-82 ms to 25-54 (benchmarks.rst).
 */
static struct hent *htab_alloc(size_t cap)
{
	void *t = mmap(NULL, cap * sizeof(struct hent), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return t == MAP_FAILED ? NULL : t;
}

static void htab_free(struct hent *t, size_t cap)
{
	if (t)
		munmap(t, cap * sizeof(*t));
}

static uint64_t hent_lo(const struct pack *p, uint32_t slot)
{
	return get_le64(p->hashes + (uint64_t)slot * HASH_SIZE);
}

/* Into the first free slot from @lo's: there is one (htab_reserve()). */
static void htab_put(struct store *s, uint64_t lo, struct hent e)
{
	size_t mask = s->ht_cap - 1;

	for (size_t i = lo & mask;; i = (i + 1) & mask) {
		if (!s->ht[i].pack1) {
			s->ht[i] = e;
			s->ht_n++;
			return;
		}
	}
}

/*
 * Room for @n more entries at most two thirds full, rehashing once if need
 * be. Linear probing then looks at five slots on average for a hash that
 * is not there, at the worst; half full, the table of a 1 GiB store (a
 * power of two of pages and a few more) doubled to 16 MiB, and its build
 * took a third longer than in the 8 MiB one (benchmarks.rst).
 */
static int htab_reserve(struct store *s, size_t n)
{
	size_t cap = s->ht_cap ? s->ht_cap : 4096, oldcap = s->ht_cap;
	struct hent *old = s->ht, *nt;

	while (3 * (s->ht_n + n) > 2 * cap)
		cap *= 2;
	if (cap == oldcap)
		return 0;
	nt = htab_alloc(cap);
	if (!nt)
		return -ENOMEM;
	s->ht = nt;
	s->ht_cap = cap;
	s->ht_n = 0;
	for (size_t i = 0; i < oldcap; i++) {
		const struct pack *p = old[i].pack1 ? &s->packs[old[i].pack1 - 1] : NULL;

		/* A pack retention dropped has no hashes left: nor entries. */
		if (p && p->hashes)
			htab_put(s, hent_lo(p, old[i].slot), old[i]);
	}
	htab_free(old, oldcap);
	return 0;
}

/* Indexes a copy whose hash is in its pack's index already. */
int htab_add(struct store *s, uint32_t pack, uint32_t slot)
{
	int ret = htab_reserve(s, 1);

	if (!ret)
		htab_put(s, hent_lo(&s->packs[pack], slot),
			 (struct hent){ pack + 1, slot });
	return ret;
}

bool htab_next(const struct store *s, uint64_t lo, size_t *pos,
	       uint32_t *pack, uint32_t *slot)
{
	size_t mask = s->ht_cap - 1;

	if (!s->ht_cap)
		return false;
	for (; *pos < s->ht_cap; (*pos)++) {
		const struct hent *e = &s->ht[(lo + *pos) & mask];
		const struct pack *p;

		if (!e->pack1)
			return false;
		p = &s->packs[e->pack1 - 1];
		if (p->hashes && hent_lo(p, e->slot) == lo) {
			*pack = e->pack1 - 1;
			*slot = e->slot;
			(*pos)++;
			return true;
		}
	}
	return false;
}

struct pack *pack_find(struct store *s, uint64_t gen, uint32_t *idx)
{
	size_t lo = 0, hi = s->npacks;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->packs[mid].gen < gen)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->npacks || s->packs[lo].gen != gen)
		return NULL;
	if (idx)
		*idx = lo;
	return &s->packs[lo];
}

struct gen *gen_find(struct store *s, uint64_t id)
{
	for (size_t lo = 0, hi = s->ngens; lo < hi;) {
		size_t mid = (lo + hi) / 2;

		if (s->gens[mid].id == id)
			return &s->gens[mid];
		if (s->gens[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int pack_add(struct store *s, uint64_t gen, uint32_t fanout, uint64_t nslots,
	     uint32_t codec, uint32_t *idx)
{
	struct pack *p;

	if (s->npacks == s->packs_cap) {
		size_t cap = s->packs_cap ? 2 * s->packs_cap : 64;
		struct pack *np = realloc(s->packs, cap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		s->packs = np;
		s->packs_cap = cap;
	}
	p = &s->packs[s->npacks];
	*p = (struct pack){ .gen = gen, .fanout = fanout, .nslots = nslots,
			    .codec = codec, .fd = -1 };
	fanout_path(p->path, sizeof(p->path), 'd', gen, fanout, ".p");
	*idx = s->npacks++;
	return 0;
}

static void dio_forget(struct store *s)
{
	if (s->dio_fd >= 0)
		close(s->dio_fd);
	s->dio_fd = -1;
	s->dio_pack = 0;
}

void pack_forget_fd(struct store *s, struct pack *p)
{
	if (s->dio_pack == p - s->packs + 1)
		dio_forget(s);
	if (p->fd < 0)
		return;
	close(p->fd);
	p->fd = -1;
	for (size_t i = 0; i < PACK_FDS; i++)
		if (s->fdring[i] == p - s->packs + 1)
			s->fdring[i] = 0;
}

static void drop_fds(struct store *s)
{
	for (size_t i = 0; i < PACK_FDS; i++)
		if (s->fdring[i])
			pack_forget_fd(s, &s->packs[s->fdring[i] - 1]);
}

/*
 * Pack descriptors are opened on first use and cached, at most PACK_FDS
 * at a time, so that a store of thousands of packs stays within the
 * process's limit and leaves descriptors for everything else. When the
 * cache is full, the descriptor opened longest ago is closed (one close
 * per open, not all of them).
 */
int pack_fd(struct store *s, struct pack *p)
{
	size_t at = s->fdnext;

	if (p->fd >= 0)
		return p->fd;
	if (s->fdring[at])
		pack_forget_fd(s, &s->packs[s->fdring[at] - 1]);
	p->fd = openat(s->dfd, p->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (p->fd < 0 && (errno == EMFILE || errno == ENFILE)) {
		drop_fds(s);
		p->fd = openat(s->dfd, p->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (p->fd < 0)
		return set_err(-errno, "%s/%s", s->dir, p->path);
	s->fdring[at] = p - s->packs + 1;
	s->fdnext = (at + 1) % PACK_FDS;
	return p->fd;
}

/*
 * Bulk reads of stored pages (a restore's, a verify's, an export's) go
 * around the page cache when they can: read once or twice, such pages
 * would only be copied into the cache and out of it again, and from a
 * cold cache O_DIRECT read 256 MiB of a pack in 116-162 ms where
 * buffered reads took 440-520 (6.1 guest, Documentation/benchmarks.rst).
 * O_DIRECT needs the buffer, length and offset aligned to the device's
 * logical block: pages are (4096 bytes covers every block size the
 * kernel allows below a page), and anything else is read through the
 * cache. A pack being written is read through the cache too, where its
 * pages are. One such descriptor is kept, for the pack read last, as bulk
 * reads go through a generation pack by pack.
 */
static int dio_fd(struct store *s, struct pack *p)
{
	uint32_t idx = p - s->packs + 1;

	if (s->dio_pack == idx)
		return s->dio_fd;
	dio_forget(s);
	s->dio_fd = openat(s->dfd, p->path,
			   O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_DIRECT);
	if (s->dio_fd < 0) {
		/* tmpfs before 6.6, some FUSE and network filesystems */
		if (errno == EINVAL)
			s->dio_off = true;
		return -1;
	}
	s->dio_pack = idx;
	return s->dio_fd;
}

ssize_t pack_read_bulk(struct store *s, struct pack *p, void *buf, size_t len,
		       uint64_t off)
{
	const uint64_t align = STORE_PAGE_SIZE - 1;
	int fd;

	if (!s->dio_off && !p->writing && !((uintptr_t)buf & align) &&
	    !(len & align) && !(off & align)) {
		fd = dio_fd(s, p);
		if (fd >= 0) {
			ssize_t n = pread_all(fd, buf, len, off);

			/* EINVAL: an alignment this device does not take */
			if (n >= 0 || errno != EINVAL)
				return n;
			s->dio_off = true;
			dio_forget(s);
		}
	}
	fd = pack_fd(s, p);
	return fd < 0 ? -1 : pread_all(fd, buf, len, off);
}

/*
 * Reads a pack's index. Only a pack of the wrong size or of another store
 * or generation is unusable as a whole: a damaged header, footer or index
 * checksum costs nothing by itself, because every page is checked against
 * its own index entry anyway, and a page that matches its entry proves
 * both (p->unproven then only keeps its copies from being shared).
 */
/* Bytes [from, to) of @fd (less than a page) are all zero. */
static bool zeros_at(int fd, uint64_t from, uint64_t to)
{
	uint8_t pad[STORE_PAGE_SIZE];
	size_t n = to - from;

	if (from >= to)
		return true;
	if (n > sizeof(pad) || pread_all(fd, pad, n, from) != (ssize_t)n)
		return false;
	return !pad[0] && !memcmp(pad, pad + 1, n - 1);
}

static int pack_read_index(struct store *s, struct pack *p)
{
	uint8_t head[PACK_HDR_SIZE], foot[PACK_FOOTER_SIZE];
	uint64_t esize = pack_entry_size(p->codec), idx = 0, nslots = 0;
	uint64_t size = 0;
	const char *why = NULL, *damage = NULL;
	uint8_t *index = NULL;	/* a compressed pack's entries */
	uint8_t *raw;		/* what is read: index, or the hashes themselves */
	struct stat st;
	int fd = pack_fd(s, p);
	int ret;

	if (fd < 0) {
		p->why = strerror(-fd);
		return fd;
	}
	if (fstat(fd, &st))
		why = "pack unreadable";
	else if (pack_geometry(size = st.st_size, p->nslots, p->codec, &idx, &why))
		why = "pack size differs from its manifest's (truncated?)";
	else if (pread_all(fd, head, sizeof(head), 0) != sizeof(head) ||
		 pread_all(fd, foot, sizeof(foot), size - sizeof(foot)) != sizeof(foot))
		why = "pack unreadable";
	if (!why) {
		const char *fdamage = NULL;
		size_t pad = p->codec ? 48 : 40;

		ret = pack_header_parse(head, sizeof(head), s->id, p->gen,
					p->codec, &damage);
		if (ret == -EXDEV)
			why = damage;
		/* The header's padding is written as zeros: anything else is damage. */
		if (!ret && (head[pad] || memcmp(head + pad, head + pad + 1,
						 sizeof(head) - pad - 1)))
			damage = "pack header padding damaged";
		ret = pack_footer_parse(foot, s->id, p->gen, size, p->codec,
					&nslots, &fdamage);
		if (ret == -EXDEV)
			why = fdamage;
		else if (!ret && nslots != p->nslots)
			why = "pack slot count differs from its manifest";
		if (!damage)
			damage = fdamage;
	}
	p->why = why;
	if (why)
		return set_err(-EBADMSG, "%s/%s: %s", s->dir, p->path, why);
	/* An uncompressed pack's index is the hashes: read in place. */
	p->hashes = malloc(p->nslots * HASH_SIZE);
	if (p->codec && p->hashes) {
		index = malloc(p->nslots * esize);
		p->locs = malloc(p->nslots * sizeof(*p->locs));
	}
	if (!p->hashes || (p->codec && (!index || !p->locs))) {
		free(index);
		free(p->hashes);
		free(p->locs);
		p->hashes = NULL;
		p->locs = NULL;
		return set_err(-ENOMEM, "%s/%s", s->dir, p->path);
	}
	raw = p->codec ? index : p->hashes;
	if (pread_all(fd, raw, p->nslots * esize, idx) !=
	    (ssize_t)(p->nslots * esize)) {
		free(index);
		free(p->hashes);
		free(p->locs);
		p->hashes = NULL;
		p->locs = NULL;
		p->why = "pack index unreadable";
		return set_err(-EIO, "%s/%s: %s", s->dir, p->path, p->why);
	}
	if (!damage)
		pack_index_check(foot, raw, p->nslots, p->codec, &damage);
	if (p->codec) {
		/*
		 * An entry that locates its record outside the data area
		 * cannot be read (len 0); its hash still finds other copies.
		 */
		uint64_t end = PACK_HDR_SIZE;

		for (uint64_t i = 0; i < p->nslots; i++) {
			struct hash128 h;
			const char *bad;

			if (zentry_parse(index + i * ZENTRY_SIZE, idx, &h,
					 &p->locs[i], &bad) && !damage)
				damage = bad;
			hash_put(p->hashes + i * HASH_SIZE, h);
			if (p->locs[i].off + p->locs[i].len > end)
				end = p->locs[i].off + p->locs[i].len;
		}
		/* Like the header's, the padding after the records is zeros. */
		if (!damage && !zeros_at(fd, end, idx))
			damage = "pack data padding damaged";
	}
	free(index);
	if (damage) {
		p->unproven = true;
		p->why = damage;
		warn("%s/%s: %s; each page is checked against its own index entry",
		     s->dir, p->path, damage);
	}
	return 0;
}

int pack_read_slot(struct store *s, struct pack *p, uint64_t slot, void *page,
		   const char **why)
{
	uint8_t rec[STORE_PAGE_SIZE];
	struct zloc z;
	ssize_t n;
	int fd = pack_fd(s, p);

	if (fd < 0) {
		*why = "pack unreadable";
		return fd;
	}
	if (!p->codec) {
		n = pread_all(fd, page, STORE_PAGE_SIZE, pack_index_offset(slot));
		*why = n < 0 ? "read error" : "short read";
		return n == STORE_PAGE_SIZE ? 0 : n < 0 ? -errno : -EIO;
	}
	z = p->locs[slot];
	if (!z.len) {
		*why = "index entry damaged";
		return -EBADMSG;
	}
	n = pread_all(fd, z.len == STORE_PAGE_SIZE ? page : rec, z.len, z.off);
	if (n != z.len) {
		*why = n < 0 ? "read error" : "short read";
		return n < 0 ? -errno : -EIO;
	}
	if (z.len == STORE_PAGE_SIZE)
		return 0;
	return codec_decompress(p->codec, rec, z.len, page, why);
}

/*
 * A pack's index, read on first use: read-only commands that need no
 * page (list, show, diff of unchanged runs) never read one.
 */
int pack_ready(struct store *s, struct pack *p)
{
	int ret;

	if (p->hashes)
		return 0;
	if (p->dead || p->bad || p->loaded)
		return set_err(-EBADMSG, "%s/%s: %s", s->dir, p->path,
			       p->why ? p->why : "pack unusable");
	p->loaded = true;
	ret = pack_read_index(s, p);
	if (ret && ret != -ENOMEM) {
		/* Missing or unreadable is damage too, and said so once. */
		p->bad = true;
		warn("%s", store_strerror());
		ret = -EBADMSG;
	}
	return ret;
}

/* Adds a loaded pack's copies to the content index. */
static int pack_index_add(struct store *s, uint32_t idx)
{
	struct pack *p = &s->packs[idx];
	int ret;

	if (!p->hashes)
		return 0;
	/* Sized once per pack, not doubled step by step. */
	ret = htab_reserve(s, p->nslots);
	if (ret)
		return ret;
	/*
	 * One loop the compiler keeps in registers: through htab_add() per
	 * copy (a call, a room check, the hash read out of line) a 1 GiB
	 * store's 262144 took 64-105 ms in a TCG guest, this way 27-33.
	 */
	for (uint64_t i = 0; i < p->nslots; i++)
		htab_put(s, hent_lo(p, i), (struct hent){ idx + 1, i });
	return 0;
}

/*
 * The content index: every live pack's index, and for writers how many
 * generations fed from each copy. Built the first time a page needs it: a
 * writer's first page (store_gen_add_digested(), on the thread that feeds
 * the generation, while the caller's source goes on reading), a reader's
 * first page that needs another copy; or ahead, on a thread of its own
 * (store_index_ahead()). Not at open: a checkpoint would wait for it
 * before its request went out, and for most of a 256 MiB store's open
 * time it is this (the full generation's 65536 hashes).
 */
static int index_build(struct store *s)
{
	int ret;

	for (uint32_t i = 0; i < s->npacks; i++) {
		struct pack *p = &s->packs[i];

		if (p->dead)
			continue;
		ret = pack_ready(s, p);
		if (ret == -ENOMEM)
			return ret;
		/*
		 * Unreadable or damaged: nothing in it is shared or counted, and
		 * its slot count (the manifest's, which its size did not bear
		 * out) must not size an allocation.
		 */
		if (!p->hashes)
			continue;
		if (!s->rdonly && !p->fed) {
			p->fed = calloc(p->nslots, sizeof(*p->fed));
			p->last = calloc(p->nslots, sizeof(*p->last));
			if (!p->fed || !p->last)
				return -ENOMEM;
		}
		ret = pack_index_add(s, i);
		if (ret)
			return ret;
	}
	if (!s->rdonly)
		count_fed(s);
	s->indexed = true;
	return 0;
}

int store_content_index(struct store *s)
{
	int ret = store_index_wait(s);

	return ret || s->indexed ? ret : index_build(s);
}

void store_thread_nice(int incr)
{
	int nice;

	if (!incr)
		return;
	/* Linux: PRIO_PROCESS with a thread id is that thread's nice. */
	errno = 0;
	nice = getpriority(PRIO_PROCESS, gettid());
	if (!errno)
		setpriority(PRIO_PROCESS, gettid(),
			    nice + incr > 19 ? 19 : nice + incr);
}

static void *index_thread(void *arg)
{
	struct store *s = arg;

	store_thread_nice(s->ahead_nice);
	s->ahead_ret = index_build(s);
	return NULL;
}

/*
 * A writer's first page waits for the index; a checkpoint starts it once
 * its request is out, so that it is built while the module freezes and
 * walks the target. For a 1 GiB store the build (reading 4 MiB of pack
 * index, 262144 inserts, the redundancy counts) took 60-70 ms in a 6.1
 * TCG guest, and the walk before the first page 16-20. Until
 * store_index_wait() the thread owns the packs' indexes, fds and counts
 * and the table: the caller may only begin a generation (store.h).
 */
void store_index_ahead(struct store *s, int nice)
{
	if (s->rdonly || s->indexed || s->ahead)
		return;
	s->ahead_nice = nice;
	/* Without a thread, the first page builds it, as before. */
	s->ahead = !pthread_create(&s->ahead_tid, NULL, index_thread, s);
}

/* Its failure (no memory) stays: an index half built is not rebuilt. */
int store_index_wait(struct store *s)
{
	if (s->ahead) {
		pthread_join(s->ahead_tid, NULL);
		s->ahead = false;
	}
	return s->ahead_ret;
}

void count_pages(const struct manifest *m, uint64_t *data, uint64_t *zero)
{
	*data = *zero = 0;
	for (uint64_t i = 0; i < m->next; i++)
		*(m->ext[i].pack == EXT_ZERO ? zero : data) += m->ext[i].npages;
}

static bool fed_copy(const struct extent *e)
{
	return (e->flags & EXT_F_FED) && e->pack != EXT_ZERO;
}

/*
 * The runs a generation fed (a few, in proportion to what changed), so
 * that open counts copy use without parsing every manifest twice.
 */
static int keep_fed(struct gen *gn, const struct manifest *m)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < m->next; i++)
		n += fed_copy(&m->ext[i]);
	if (!n)
		return 0;
	gn->fed = malloc(n * sizeof(*gn->fed));
	if (!gn->fed)
		return -ENOMEM;
	for (uint64_t i = 0; i < m->next; i++)
		if (fed_copy(&m->ext[i]))
			gn->fed[gn->nfed++] = m->ext[i];
	return 0;
}

/*
 * Moves @m's runs to s->newest (with a copy of its pack table) if it is
 * the newest generation seen: see struct store.
 */
static void keep_newest(struct store *s, struct manifest *m)
{
	struct pack_ref *packs;

	if (s->rdonly || !m->ext || m->gen <= s->newest.gen)
		return;
	packs = malloc((m->npacks ? m->npacks : 1) * sizeof(*packs));
	if (!packs)
		return;		/* the base is read again: slower, not wrong */
	memcpy(packs, m->packs, m->npacks * sizeof(*packs));
	manifest_free(&s->newest);
	s->newest = (struct manifest){ .store_id = m->store_id, .gen = m->gen,
				       .npacks = m->npacks, .packs = packs,
				       .next = m->next, .ext = m->ext };
	m->ext = NULL;
}

bool newest_take(struct store *s, uint64_t id, struct manifest *m)
{
	if (!id || s->newest.gen != id)
		return false;
	*m = s->newest;
	s->newest = (struct manifest){ 0 };
	return true;
}

/* Room for one more generation, growing geometrically. */
static int gens_reserve(struct store *s)
{
	size_t cap = s->gens_cap ? 2 * s->gens_cap : 64;
	struct gen *ng;
	uint64_t *ids;

	if (s->ngens < s->gens_cap)
		return 0;
	ng = realloc(s->gens, cap * sizeof(*ng));
	if (!ng)
		return -ENOMEM;
	s->gens = ng;
	ids = realloc(s->ids, cap * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	s->ids = ids;
	s->gens_cap = cap;
	return 0;
}

static int cmp_gen(const void *a, const void *b)
{
	const struct gen *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* After the scan, which appends in directory order: one sort. */
static void sort_gens(struct store *s)
{
	if (s->ngens)
		qsort(s->gens, s->ngens, sizeof(*s->gens), cmp_gen);
	for (size_t i = 0; i < s->ngens; i++)
		s->ids[i] = s->gens[i].id;
}

int gen_remember(struct store *s, struct manifest *m, const char *path,
		 bool counted)
{
	struct gen gn = { .id = m->gen, .m = *m };
	size_t i;

	if (gens_reserve(s) ||
	    (!s->rdonly && !counted && keep_fed(&gn, m)))
		return -ENOMEM;
	/* A commit's id is the newest: this loop only runs for the scan's. */
	for (i = s->ngens; !s->scanning && i && s->gens[i - 1].id > m->gen; i--) {
		s->gens[i] = s->gens[i - 1];
		s->ids[i] = s->ids[i - 1];
	}
	s->gens[i] = gn;
	count_pages(m, &s->gens[i].pages_data, &s->gens[i].pages_zero);
	keep_newest(s, m);
	s->gens[i].m.ext = NULL;
	s->gens[i].m.vmas = NULL;
	m->packs = NULL;
	manifest_free(m);
	snprintf(s->gens[i].path, sizeof(s->gens[i].path), "%s", path);
	s->ids[i] = m->gen;
	s->ngens++;
	return 0;
}

static int remember_corrupt(struct store *s, uint64_t id, const char *path)
{
	struct manifest m = { .gen = id };
	int ret = gen_remember(s, &m, path, false);

	/* The scan appends (sorted later): no binary search until then. */
	if (!ret)
		(s->scanning ? &s->gens[s->ngens - 1] : gen_find(s, id))->corrupt = true;
	return ret;
}

/*
 * Reads and checks one generation's manifest. @map (optional) receives,
 * per entry of its pack table, the index in s->packs.
 */
int gen_load(struct store *s, struct gen *gn, struct manifest *m,
	     uint32_t **map)
{
	const char *why;
	uint8_t *p;
	size_t len;
	int ret;

	ret = read_file_at(s->dfd, gn->path, 1ull << 40, &p, &len);
	if (ret)
		return set_err(ret, "%s/%s", s->dir, gn->path);
	ret = manifest_parse(p, len, m, &why);
	free(p);
	if (ret)
		return set_err(-EBADMSG, "%s/%s: %s", s->dir, gn->path, why);
	if (m->store_id != s->id || m->gen != gn->id) {
		manifest_free(m);
		return set_err(-EBADMSG, "%s/%s: belongs to another store or generation",
			       s->dir, gn->path);
	}
	return map ? gen_pack_map(s, gn, m, map) : 0;
}

/* Frees @m if it fails. */
int gen_pack_map(struct store *s, struct gen *gn, struct manifest *m,
		 uint32_t **map)
{
	*map = calloc(m->npacks ? m->npacks : 1, sizeof(**map));
	if (!*map) {
		manifest_free(m);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->npacks; i++) {
		if (!pack_find(s, m->packs[i].gen, &(*map)[i])) {
			free(*map);
			manifest_free(m);
			return set_err(-EBADMSG, "%s/%s: pack %" PRIu64 " unknown",
				       s->dir, gn->path, m->packs[i].gen);
		}
	}
	return 0;
}

int store_walk(struct store *s, const char *path, walk_fn fn, void *arg)
{
	char child[PATH_MAX];
	struct dirent *de;
	int fd, ret = 0;
	DIR *d;

	fd = openat(s->dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : set_err(-errno, "%s/%s", s->dir, path);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return set_err(-errno, "%s/%s", s->dir, path);
	}
	while (!ret && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
		if (de->d_type == DT_DIR)
			ret = store_walk(s, child, fn, arg);
		if (!ret)
			ret = fn(s, child, de->d_type == DT_DIR, arg);
	}
	closedir(d);
	return ret;
}

static int scan_manifest(struct store *s, const char *path, bool dir,
			 void *arg)
{
	struct manifest m;
	const char *why;
	uint8_t *p;
	size_t len;
	uint64_t id;
	int ret;

	if (dir)
		return 0;
	if (!store_named(path, ".m", &id)) {
		if (!store_named(path, ".m.tmp", &id))
			warn("%s/%s: not a store file, left alone", s->dir, path);
		return 0;
	}
	/* Even a damaged manifest's id was handed out. */
	if (id > s->seq)
		s->seq = id;
	ret = read_file_at(s->dfd, path, 1ull << 40, &p, &len);
	/* Removed by a writer since the directory was read: not ours to see. */
	if (ret == -ENOENT)
		return 0;
	if (ret == -ENOMEM)
		return set_err(ret, "%s/%s", s->dir, path);
	if (ret) {
		warn("%s/%s: %s", s->dir, path, strerror(-ret));
		return remember_corrupt(s, id, path);
	}
	ret = manifest_parse(p, len, &m, &why);
	free(p);
	if (!ret && (m.store_id != s->id || m.gen != id)) {
		manifest_free(&m);
		ret = -EBADMSG;
		why = "belongs to another store or generation";
	}
	if (ret == -ENOMEM)
		return ret;
	if (ret) {
		warn("%s/%s: %s", s->dir, path, why);
		return remember_corrupt(s, id, path);
	}
	ret = gen_remember(s, &m, path, false);
	if (ret)
		manifest_free(&m);
	return ret;
}

/* The packs live manifests reference, each loaded once. */
static int load_packs(struct store *s)
{
	for (size_t g = 0; g < s->ngens; g++) {
		struct manifest *m = &s->gens[g].m;

		for (uint32_t i = 0; i < m->npacks; i++) {
			struct pack *p = pack_find(s, m->packs[i].gen, NULL);
			uint32_t idx;
			int ret;

			if (p) {
				if (p->fanout != m->packs[i].fanout ||
				    p->nslots != m->packs[i].nslots ||
				    p->codec != m->packs[i].codec)
					return set_err(-EBADMSG, "%s/%s: disagrees with another manifest on pack %" PRIu64,
						       s->dir, s->gens[g].path, p->gen);
				continue;
			}
			/* Keep s->packs sorted: insertion into a sorted tail. */
			ret = pack_add(s, m->packs[i].gen, m->packs[i].fanout,
				       m->packs[i].nslots, m->packs[i].codec,
				       &idx);
			if (ret)
				return ret;
			while (idx && s->packs[idx - 1].gen > s->packs[idx].gen) {
				struct pack t = s->packs[idx];

				s->packs[idx] = s->packs[idx - 1];
				s->packs[--idx] = t;
			}
		}
	}
	return 0;
}

/*
 * Redundancy needs, per stored copy, how many generations fed from it.
 * Only pages fed by a generation count (not the ones carried over from
 * its base), so an unchanged page is never rewritten just for age.
 */
static void count_fed(struct store *s)
{
	for (size_t g = 0; g < s->ngens; g++) {
		struct gen *gn = &s->gens[g];

		for (uint64_t e = 0; e < gn->nfed; e++) {
			const struct extent *x = &gn->fed[e];
			struct pack *p = pack_find(s, gn->m.packs[x->pack].gen, NULL);
			/* Read once: the stores below may not alias them. */
			uint32_t *fed = p ? p->fed : NULL;
			uint64_t *last = p ? p->last : NULL, id = gn->id;

			for (uint64_t i = x->slot; fed && i < x->slot + x->npages; i++) {
				if (last[i] != id) {
					fed[i]++;
					last[i] = id;
				}
			}
		}
		free(gn->fed);
		gn->fed = NULL;
		gn->nfed = 0;
	}
}

static int max_pack_id(struct store *s, const char *path, bool dir, void *arg)
{
	uint64_t *max = arg, id;

	if (!dir && store_named(path, ".p", &id) && id > *max)
		*max = id;
	return 0;
}

/*
 * Writes the highest id handed out to seq, durably. A commit does not: its
 * manifest carries its id, and a writable open takes the highest of seq
 * and every manifest's id. Only removing the manifest that carries an id
 * above seq's could let that id be handed out again, so drop_gen() calls
 * this first. An id whose commit left no manifest may come back after a
 * crash: nothing outside the store ever saw it (a generation is reported
 * and acknowledged only once committed).
 */
int store_seq_persist(struct store *s)
{
	uint8_t seq[SEQ_FILE_SIZE];
	int ret;

	seq_file_encode(seq, s->id, s->seq);
	ret = write_file_at(s->dfd, "seq", seq, sizeof(seq), NULL, false);
	if (ret)
		return set_err(ret, "%s/seq", s->dir);
	s->seq_disk = s->seq;
	return 0;
}

/*
 * A damaged or lost seq: the highest id any manifest or pack carries (an
 * id reserved by a commit that left no file is not needed: nothing names
 * it).
 */
static int rebuild_seq(struct store *s)
{
	int ret;

	ret = store_walk(s, "d", max_pack_id, &s->seq);
	if (!ret)
		ret = store_seq_persist(s);
	if (!ret)
		s->seq_lost = false;
	return ret;
}

static int create_store(struct store *s)
{
	uint8_t hdr[STORE_FILE_SIZE], seq[SEQ_FILE_SIZE];
	struct timespec ts;
	int ret;

	do {
		if (getrandom(&s->id, sizeof(s->id), 0) != sizeof(s->id))
			return set_err(-errno, "getrandom");
	} while (!s->id);
	clock_gettime(CLOCK_REALTIME, &ts);
	/* seq first: a store file without a seq file means damage. */
	seq_file_encode(seq, s->id, 0);
	ret = write_file_at(s->dfd, "seq", seq, sizeof(seq), NULL, false);
	if (!ret) {
		store_file_encode(hdr, s->id, ts.tv_sec * 1000000000ull + ts.tv_nsec);
		/* Never over a "store" that appeared meanwhile. */
		ret = write_file_at(s->dfd, "store", hdr, sizeof(hdr), NULL, true);
	}
	return ret ? set_err(ret, "%s: creating the store", s->dir) : 0;
}

enum dir_kind {
	DIR_NEW,	/* empty, or what a cut-short creation leaves */
	DIR_STORE,	/* holds a store's trees */
	DIR_FOREIGN,	/* holds anything else */
};

/*
 * What a directory without a "store" file holds. A store is made by
 * writing seq (through seq.tmp), then store (through store.tmp), so a
 * creation cut short leaves at most those; m/ or d/ mean generations whose
 * "store" file is lost, and anything else means it is no store at all.
 */
static int classify_dir(struct store *s, enum dir_kind *kind)
{
	int fd = openat(s->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return set_err(-errno, "%s", s->dir);
	}
	*kind = DIR_NEW;
	while ((de = readdir(d))) {
		const char *n = de->d_name;

		/* lost+found: a store may be a filesystem of its own. */
		if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "seq") ||
		    !strcmp(n, "seq.tmp") || !strcmp(n, "store.tmp") ||
		    !strcmp(n, "lost+found"))
			continue;
		if (!strcmp(n, "m") || !strcmp(n, "d")) {
			*kind = DIR_STORE;
			continue;
		}
		*kind = DIR_FOREIGN;
		break;
	}
	closedir(d);
	return 0;
}

static int peek_manifest_id(struct store *s, const char *path, bool dir,
			    void *arg)
{
	uint64_t *id = arg;
	struct manifest m;
	const char *why;
	uint8_t *p;
	size_t len;

	if (dir || !ends_with(path, ".m") ||
	    read_file_at(s->dfd, path, 1ull << 40, &p, &len))
		return 0;
	if (!manifest_parse(p, len, &m, &why)) {
		*id = m.store_id;
		manifest_free(&m);
	}
	free(p);
	return *id ? 1 : 0;
}

/*
 * The store's id when its "store" file is lost or damaged: every seq and
 * manifest carries it. A reader needs nothing else; a writer refuses, as
 * it must never give the directory a second identity.
 */
static int recover_id(struct store *s, const char *why)
{
	uint8_t *p;
	size_t len;

	s->id = 0;
	if (!read_file_at(s->dfd, "seq", 4096, &p, &len)) {
		seq_file_peek(p, len, &s->id);
		free(p);
	}
	if (!s->id) {
		int ret = store_walk(s, "m", peek_manifest_id, &s->id);

		if (ret < 0)
			return ret;
	}
	if (!s->id)
		return set_err(-EBADMSG, "%s/store: %s, and no other file names the store", s->dir, why);
	if (!s->rdonly)
		return set_err(-EBADMSG, "%s/store: %s: the generations stay readable, but nothing is written to a store without its header",
			       s->dir, why);
	warn("%s/store: %s; the store's id is taken from its other files", s->dir, why);
	return 0;
}

/*
 * A writer's seq: a damaged or lost one is rebuilt from the highest id on
 * disk once the manifests and packs are known (see rebuild_seq()).
 * Readers never need it: it only hands out new ids.
 */
static int read_seq(struct store *s)
{
	const char *why;
	uint8_t *p;
	size_t len;
	int ret;

	ret = read_file_at(s->dfd, "seq", 4096, &p, &len);
	if (ret == -ENOMEM)
		return set_err(ret, "%s/seq", s->dir);
	why = ret ? strerror(-ret) : NULL;
	if (!ret) {
		ret = seq_file_parse(p, len, s->id, &s->seq, &why);
		free(p);
	}
	s->seq_disk = ret ? 0 : s->seq;
	if (ret) {
		warn("%s/seq: %s; rebuilt from the highest id on disk", s->dir, why);
		s->seq_lost = true;
	}
	return 0;
}

static int read_header(struct store *s)
{
	enum dir_kind kind = DIR_NEW;
	const char *why;
	uint8_t *p;
	size_t len;
	int ret;

	ret = read_file_at(s->dfd, "store", 4096, &p, &len);
	if (ret == -ENOENT) {
		ret = classify_dir(s, &kind);
		if (ret)
			return ret;
		if (kind == DIR_FOREIGN)
			return set_err(-ENOENT, "%s: not a snapper store (no \"store\" file, and other files in it)",
				       s->dir);
		/*
		 * Empty, or a creation cut short: to a reader an empty store;
		 * a writer finishes it, even one that would not create a
		 * store (purge: a power cut test found it refusing).
		 */
		if (kind == DIR_NEW)
			return s->rdonly ? 0 : create_store(s);
		return recover_id(s, "missing");
	}
	if (ret == -ENOMEM)
		return set_err(ret, "%s/store", s->dir);
	why = ret == -EFBIG ? "too large for a store header" : ret ? strerror(-ret) : NULL;
	if (!ret) {
		ret = store_file_parse(p, len, &s->id, &why);
		free(p);
	}
	if (ret)
		return recover_id(s, why);
	return s->rdonly ? 0 : read_seq(s);
}

/* A new store's own directory entry must be as durable as its files. */
static int sync_parent(const char *dir)
{
	char *up = strdup(dir), *slash;
	int ret;

	if (!up)
		return -ENOMEM;
	while ((slash = strrchr(up, '/')) && slash != up && !slash[1])
		*slash = '\0';		/* trailing slashes */
	slash = strrchr(up, '/');
	if (slash)
		slash[slash == up] = '\0';
	ret = fsync_dirat(AT_FDCWD, slash ? up : ".");
	free(up);
	return ret;
}

static int lock_wait_s = -1;

void store_set_lock_wait(unsigned int seconds)
{
	lock_wait_s = seconds;
}

/* Set by the caller, else SNAPPER_STORE_LOCK_WAIT, else 60 s. */
static unsigned int lock_wait(void)
{
	const char *env = getenv("SNAPPER_STORE_LOCK_WAIT");
	char *end;
	unsigned long v;

	if (lock_wait_s >= 0)
		return lock_wait_s;
	if (env && *env) {
		v = strtoul(env, &end, 10);
		if (!*end && v <= 86400)
			return v;
	}
	return 60;
}

/*
 * One writer at a time. Readers take no lock: every file is immutable
 * once named and every change is a rename or an unlink, so a reader sees
 * each generation whole or not at all. A writer that finds another says
 * so once, then gives up after lock_wait_s rather than stall a checkpoint
 * for ever.
 */
static int lock_writer(struct store *s)
{
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	unsigned int wait = lock_wait();
	uint64_t tries = wait * 20ull;

	if (!flock(s->dfd, LOCK_EX | LOCK_NB))
		return 0;
	if (errno != EWOULDBLOCK)
		return set_err(-errno, "%s: locking", s->dir);
	if (tries)
		warn("%s: another process is writing to the store; waiting up to %u s",
		     s->dir, wait);
	while (tries--) {
		nanosleep(&nap, NULL);
		if (!flock(s->dfd, LOCK_EX | LOCK_NB))
			return 0;
		if (errno != EWOULDBLOCK)
			return set_err(-errno, "%s: locking", s->dir);
	}
	return set_err(-EBUSY, "%s: another process is writing to the store", s->dir);
}

static int open_dir(struct store *s, const char *dir, unsigned int flags)
{
	if (!(flags & (STORE_NOCREATE | STORE_RDONLY))) {
		if (!sys_mkdirat(AT_FDCWD, dir)) {
			int ret = sync_parent(dir);

			if (ret)
				return set_err(ret, "%s: syncing its parent", dir);
		} else if (errno != EEXIST) {
			return set_err(-errno, "%s", dir);
		}
	}
	s->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0)
		return set_err(-errno, "%s", dir);
	return s->rdonly ? 0 : lock_writer(s);
}

int store_open(struct store **out, const char *dir,
	       const struct store_knobs *knobs, unsigned int flags)
{
	struct store *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return set_err(-ENOMEM, "%s", dir);
	s->dfd = -1;
	s->dio_fd = -1;
	s->rdonly = flags & STORE_RDONLY;
	if (knobs)
		s->knobs = *knobs;
	else
		store_knobs_default(&s->knobs);
	s->dir = strdup(dir);
	ret = s->dir ? store_knobs_check(&s->knobs) : -ENOMEM;
	if (!ret)
		ret = open_dir(s, dir, flags);
	if (!ret)
		ret = read_header(s);
	s->scanning = true;
	if (!ret)
		ret = store_walk(s, "m", scan_manifest, NULL);
	s->scanning = false;
	sort_gens(s);
	if (!ret)
		ret = load_packs(s);
	if (!ret && s->seq_lost && !s->rdonly)
		ret = rebuild_seq(s);
	/* Recovery only: retention runs after a commit or on request. */
	if (!ret && !s->rdonly)
		ret = store_sweep(s);
	if (ret == -ENOMEM)
		set_err(ret, "%s", dir);
	if (ret) {
		store_close(s);
		return ret;
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_index_wait(s);
	if (s->writing)
		store_gen_abort(s->writing);
	for (size_t i = 0; i < s->npacks; i++) {
		if (s->packs[i].fd >= 0)
			close(s->packs[i].fd);
		free(s->packs[i].hashes);
		free(s->packs[i].locs);
		free(s->packs[i].fed);
		free(s->packs[i].last);
	}
	for (size_t i = 0; i < s->ngens; i++) {
		manifest_free(&s->gens[i].m);
		free(s->gens[i].fed);
	}
	manifest_free(&s->newest);
	if (s->dio_fd >= 0)
		close(s->dio_fd);
	if (s->dfd >= 0)
		close(s->dfd);
	free(s->packs);
	free(s->gens);
	free(s->ids);
	htab_free(s->ht, s->ht_cap);
	free(s->dir);
	free(s);
}

size_t store_generations(const struct store *s, const uint64_t **ids)
{
	*ids = s->ids;
	return s->ngens;
}

void store_recorded_knobs(const struct store *s, struct store_knobs *k)
{
	store_knobs_default(k);
	for (size_t i = s->ngens; i; i--) {
		if (!s->gens[i - 1].corrupt) {
			*k = s->gens[i - 1].m.knobs;
			return;
		}
	}
}

int store_set_knobs(struct store *s, const struct store_knobs *k)
{
	int ret = store_knobs_check(k);

	if (!ret)
		s->knobs = *k;
	return ret;
}

int store_set_codec(struct store *s, enum store_codec codec)
{
	if (!codec_known(codec))
		return set_err(-EINVAL, "%s: unknown codec %u", s->dir, codec);
	s->codec = codec;
	return 0;
}

uint64_t store_newest(const struct store *s)
{
	for (size_t i = s->ngens; i; i--)
		if (!s->gens[i - 1].corrupt)
			return s->gens[i - 1].id;
	return 0;
}

int store_info(struct store *s, uint64_t id, struct store_info *info)
{
	struct gen *g = gen_find(s, id);

	if (!g)
		return set_err(-ENOENT, "%s: generation %" PRIu64, s->dir, id);
	*info = (struct store_info){
		.id = id, .base = g->m.base, .kind = g->m.kind,
		.meta = g->m.meta, .knobs = g->m.knobs, .own = g->m.own,
		.nvmas = g->m.nvmas, .nextents = g->m.next,
		.pages_data = g->pages_data, .pages_zero = g->pages_zero,
		.corrupt = g->corrupt,
	};
	if (g->corrupt)
		return set_err(-EBADMSG, "%s/%s: manifest damaged", s->dir,
			       g->path);
	return 0;
}
