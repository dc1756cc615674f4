/* SPDX-License-Identifier: GPL-2.0 */
/* The in-memory store, shared by store.c, writer.c and reader.c. */
#ifndef SNAPPER_STORE_PRIV_H
#define SNAPPER_STORE_PRIV_H

#include <limits.h>
#include <pthread.h>

#include "internal.h"

/*
 * A pack known to the store: referenced by some live manifest, or being
 * written. Packs are only appended to s->packs (in generation order) and
 * marked dead when no manifest needs them any more, so that indices held
 * by the hash table stay valid.
 */
struct pack {
	uint64_t gen;
	uint32_t fanout;
	uint64_t nslots;
	uint8_t *hashes;	/* nslots XXH3-128s; NULL if the index is bad */
	uint32_t codec;		/* enum store_codec, as the manifests say */
	struct zloc *locs;	/* compressed: each slot's record, with hashes */
	uint32_t *fed;		/* per slot: generations that fed from it */
	uint64_t *last;		/* per slot: the last of those */
	int fd;			/* -1 until needed */
	bool dead, bad, writing;
	bool named;		/* mark(): a live manifest names it */
	bool loaded;		/* pack_ready() tried its index */
	bool doomed;		/* marked dead, its file not yet removed */
	bool unproven;		/* header, footer or index sum damaged */
	const char *why;	/* why it is bad (a static string) */
	char path[96];
};

struct gen {
	uint64_t id;
	bool corrupt;
	struct manifest m;	/* header and pack table; no VMAs, no extents */
	uint64_t pages_data, pages_zero;
	/* Runs of copies this generation fed, until open has counted them. */
	struct extent *fed;
	uint64_t nfed;
	char path[96];
};

/*
 * Hash index: XXH3-128 low half -> (pack, slot); copies may repeat. An
 * entry holds no hash: the probe starts at the hash's low bits and each
 * candidate's is read from its pack's index (struct pack's hashes), so
 * that the table is half the size (see htab_alloc()).
 */
struct hent {
	uint32_t pack1;		/* pack index + 1; 0 = empty */
	uint32_t slot;
};

#define PACK_FDS 32

struct store {
	char *dir;
	int dfd;
	uint64_t id;
	uint64_t seq;		/* highest id ever handed out */
	uint64_t seq_disk;	/* what seq says on disk (see store_seq_persist()) */
	struct store_knobs knobs;
	uint32_t codec;		/* for the packs this handle writes */
	bool rdonly;
	bool seq_lost;		/* seq unreadable: rebuilt by a writable open */
	struct gen *gens;	/* ascending ids */
	uint64_t *ids;
	size_t ngens, gens_cap;
	bool scanning;		/* open's scan: gens appended, sorted after */
	struct pack *packs;
	size_t npacks, packs_cap;
	struct hent *ht;
	size_t ht_cap, ht_n;
	struct store_gen *writing;
	bool indexed;		/* the content index holds every live pack */
	bool ahead;		/* store_index_ahead()'s thread is running */
	pthread_t ahead_tid;
	int ahead_nice;		/* its nice value above the caller's */
	int ahead_ret;		/* its result, for store_index_wait() */
	uint32_t fdring[PACK_FDS];	/* packs with a cached fd, index + 1 */
	size_t fdnext;		/* the ring's oldest entry */
	/* The pack last read in bulk with O_DIRECT (pack_read_bulk()). */
	int dio_fd;		/* -1 if none */
	uint32_t dio_pack;	/* its index + 1 */
	bool dio_off;		/* the filesystem refused O_DIRECT */
	/*
	 * Writers: the newest valid generation's runs and pack table (no
	 * layout) as the scan parsed them or a commit wrote them, so that
	 * the next generation takes its base from here instead of reading
	 * and parsing that manifest again (newest_take()). Empty: gen 0.
	 */
	struct manifest newest;
};

int htab_add(struct store *s, uint32_t pack, uint32_t slot);
/* Iterate with *pos = 0 first; returns false at the end. */
bool htab_next(const struct store *s, uint64_t lo, size_t *pos,
	       uint32_t *pack, uint32_t *slot);

struct pack *pack_find(struct store *s, uint64_t gen, uint32_t *idx);
int pack_fd(struct store *s, struct pack *p);
void pack_forget_fd(struct store *s, struct pack *p);
/*
 * @len bytes at @off of uncompressed pack @p into @buf, all of it or -1
 * with errno; bypassing the page cache where buf, len and off allow.
 */
ssize_t pack_read_bulk(struct store *s, struct pack *p, void *buf, size_t len,
		       uint64_t off);
int pack_ready(struct store *s, struct pack *p);
int store_content_index(struct store *s);
/* Joins store_index_ahead()'s thread, if any; its result. */
int store_index_wait(struct store *s);
int pack_add(struct store *s, uint64_t gen, uint32_t fanout, uint64_t nslots,
	     uint32_t codec, uint32_t *idx);
/*
 * One copy of pack @p, slot @slot, into @page (unverified: the caller
 * checks the hash). A compressed one is read and decompressed; a record
 * that lies outside the pack or does not decompress to exactly one page
 * is -EBADMSG with @why. -errno for a failed read.
 */
int pack_read_slot(struct store *s, struct pack *p, uint64_t slot, void *page,
		   const char **why);
struct gen *gen_find(struct store *s, uint64_t id);
int gen_load(struct store *s, struct gen *gn, struct manifest *m,
	     uint32_t **map);
/* Per entry of @m's pack table (of generation @gn), its index in s->packs. */
int gen_pack_map(struct store *s, struct gen *gn, struct manifest *m,
		 uint32_t **map);
/* Moves s->newest to @m if it is generation @id; false if it is not. */
bool newest_take(struct store *s, uint64_t id, struct manifest *m);
int read_copy(struct store *s, uint32_t pack, uint64_t slot, void *buf,
	      bool fallback);
/* Slots of one pack, read at once and checked: see reader.c. */
int read_slots(struct store *s, uint32_t pack, uint64_t slot, uint64_t n,
	       uint8_t *buf, uint64_t *checked, bool trust, uint64_t *bad);
/* @page hashes to slot @slot's index entry in loaded pack @p. */
bool slot_matches(const struct pack *p, uint64_t slot, const void *page);
int store_retain_and_sweep(struct store *s, unsigned int *removed);
/* Removes what no live manifest reaches: recovery, and after a purge. */
int store_sweep(struct store *s);
/*
 * Records a parsed or committed manifest as a live generation; takes its
 * pack table and (see struct store) its runs. @counted: its copies' use
 * is counted already (a commit counts them as they are fed).
 */
int gen_remember(struct store *s, struct manifest *m, const char *path,
		 bool counted);
/* Walks a tree of the store, children before their directory. */
typedef int (*walk_fn)(struct store *s, const char *path, bool dir, void *arg);
int store_walk(struct store *s, const char *path, walk_fn fn, void *arg);
int store_seq_persist(struct store *s);
void count_pages(const struct manifest *m, uint64_t *data, uint64_t *zero);

#endif /* SNAPPER_STORE_PRIV_H */
