/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Snapper store: generations of a process's memory on a local
 * filesystem. No netlink here: the checkpoint command feeds a generation
 * from the kernel stream, the tests from a fake page source, and the read
 * commands only read. Documentation/store-format.rst describes the files.
 *
 * Every function returns 0 or a negative errno. On failure,
 * store_strerror() gives one line naming the file or object at fault
 * ("DIR/m/...: what"), so that callers print it as is.
 *
 * A store is written by one process at a time: a writable store_open()
 * takes an exclusive lock, waiting for another writer a bounded time
 * (store_set_lock_wait()). Read-only handles take no lock: files are
 * immutable once named, so a reader sees each generation whole or not at
 * all (one removed by a writer's retention meanwhile reads as -ENOENT).
 * Handles are not thread-safe.
 */
#ifndef SNAPPER_STORE_H
#define SNAPPER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_PAGE_SIZE 4096u

/*
 * The module knobs the store uses (not verbose, not integrity: every read
 * is checked and falls back to any good copy, so there is nothing to
 * choose). Filled from store_knobs_default()
 * (the module's defaults), then from GET_CONFIG or from command-line
 * flags: a plain struct so that either source can fill it.
 */
struct store_knobs {
	uint32_t threshold;	/* max files in one directory, 16..1048576 */
	uint32_t redundancy;	/* generations one copy backs; 0 = never copy */
	uint32_t max_snapshots;	/* 0 = unlimited */
	uint32_t min_snapshots;	/* retention never goes below this */
	uint64_t expiration;	/* seconds a generation is kept, 0 = forever */
};

void store_knobs_default(struct store_knobs *k);
/* -EINVAL (and store_strerror() names the knob) when out of range. */
int store_knobs_check(const struct store_knobs *k);

/* One mapping of the target at checkpoint time, as /proc/PID/maps has it. */
struct store_vma {
	uint64_t start, end;	/* page aligned, start < end */
	uint64_t offset;	/* file offset of start */
	uint32_t prot;		/* PROT_* bits */
	uint32_t flags;		/* MAP_* / VM_* bits as the caller defines them */
	const char *path;	/* backing file or "" (copied by the store) */
	/*
	 * The mapping is new since the base (the kernel's VM_SOFTDIRTY on
	 * the VMA): pages of the base at these addresses belonged to
	 * something else, so none is carried over; unsent pages are absent.
	 */
	bool fresh;
};

/*
 * What the caller measured; stored verbatim so that `show` reports it.
 * A fixed struct rather than key/value pairs: the fields are few and the
 * format stays trivially parseable.
 */
struct store_caller_stats {
	uint64_t pages_sent;	/* pages the module streamed */
	uint64_t freeze_us;	/* target frozen */
	uint64_t walk_us;	/* page-table walk */
	uint64_t duration_us;	/* whole checkpoint, as the caller saw it */
};

struct store_meta {
	uint32_t pid;
	char comm[16];		/* NUL-terminated */
	uint64_t time_ns;	/* wall clock, CLOCK_REALTIME; 0 = now */
	struct store_caller_stats stats;
};

/* What the store itself did for a generation. */
struct store_own_stats {
	uint64_t pages_written;	/* new copies written to the pack */
	uint64_t bytes_written;	/* pack + manifest bytes */
	uint64_t pages_zero;	/* fed pages that were all zero */
	uint64_t pages_dedup;	/* fed pages found already stored */
	uint64_t commit_us;	/* store_gen_commit() wall time */
};

enum store_gen_kind {
	STORE_GEN_FULL = 1,
	STORE_GEN_INCREMENTAL = 2,
};

struct store_info {
	uint64_t id;
	uint64_t base;		/* 0 for a full generation */
	enum store_gen_kind kind;
	struct store_meta meta;
	struct store_knobs knobs;	/* as used when committed */
	struct store_own_stats own;
	uint32_t nvmas;
	uint64_t nextents;
	uint64_t pages_data;	/* pages of the map backed by a copy */
	uint64_t pages_zero;	/* pages of the map recorded as zero */
	bool corrupt;		/* manifest unreadable: see store_strerror */
};

struct store;
struct store_gen;
struct store_snap;

enum {
	STORE_RDONLY = 1 << 0,	/* no lock, no recovery, no writes */
	STORE_NOCREATE = 1 << 1,	/* never mkdir @dir: -ENOENT if absent */
};

/*
 * Opens the store in @dir. A writable open creates one (mode 0700) only in
 * an absent or empty directory, or finishes one whose creation a crash cut
 * short (it holds at most seq); a directory holding anything else without
 * a "store" file is refused (-ENOENT, "not a snapper store"), and one whose
 * "store" file is lost or damaged but that holds generations is read-only
 * (-EBADMSG for a writable open; readers take the id from seq or a
 * manifest). A lost or damaged seq is rebuilt by a writable open from the
 * highest id on disk; readers never read it.
 *
 * A writable open recovers by itself: whatever no committed manifest
 * reaches is removed. It applies no retention: that follows a commit, or
 * store_purge(). @knobs may be NULL for the defaults; they govern writes
 * and retention.
 */
int store_open(struct store **out, const char *dir,
	       const struct store_knobs *knobs, unsigned int flags);
void store_close(struct store *s);
/*
 * How long a writable open waits for another writer before it fails with
 * -EBUSY (0 fails at once). Without a call, SNAPPER_STORE_LOCK_WAIT
 * (seconds) from the environment, or 60. It says once, through the warn
 * hook, that it is waiting.
 */
void store_set_lock_wait(unsigned int seconds);
uint64_t store_id(const struct store *s);
const char *store_dir(const struct store *s);

/* Last error of this thread, one line, and its (negative) errno. */
const char *store_strerror(void);
int store_errno(void);
/* Where warnings go (damage found, fallbacks to another copy, skipped debris). */
void store_set_warn(void (*fn)(const char *line));

/*
 * Committed generations, oldest first (ids ascend). The array belongs to
 * the store and is valid until the next write.
 */
size_t store_generations(const struct store *s, const uint64_t **ids);
uint64_t store_newest(const struct store *s);	/* 0 if none */
int store_info(struct store *s, uint64_t id, struct store_info *info);

/*
 * How the packs written from now on through @s store their copies:
 * STORE_CODEC_NONE (the default) page by page as they are; STORE_CODEC_LZ4
 * each page compressed on its own with LZ4, or as it is when that saves
 * nothing. Recorded per pack, so one store may mix both; a page's hash is
 * always that of the page itself. -EINVAL for an unknown codec.
 */
enum store_codec {
	STORE_CODEC_NONE = 0,
	STORE_CODEC_LZ4 = 1,
};
int store_set_codec(struct store *s, enum store_codec codec);

/*
 * Writing. @base is used for STORE_GEN_INCREMENTAL only; 0 means the
 * newest committed generation (-ENOENT if there is none). The generation's
 * id is reserved (persisted) here, so ids are never reused, even after a
 * crash.
 */
int store_gen_begin(struct store *s, enum store_gen_kind kind, uint64_t base,
		    struct store_gen **out);
/*
 * Starts building the content index (what dedup looks pages up in) on a
 * thread of its own, for a writer that has something else to wait for
 * before its first page (a checkpoint: the module's walk). Until the
 * generation's first page, commit or abort, or store_close(), which wait
 * for it, the caller may only call store_newest(), store_id(),
 * store_gen_begin() and what adds to the generation without a page
 * (its layout, zero and absent ranges, its metadata). Without it, the
 * first page builds the index. The thread runs @nice above the caller's
 * nice value.
 */
void store_index_ahead(struct store *s, int nice);
/*
 * Lowers the calling thread's priority by @incr nice levels (to 19 at
 * most); at worst it keeps the one it has.
 */
void store_thread_nice(int incr);
int store_gen_set_meta(struct store_gen *g, const struct store_meta *m);
/* The layout at the checkpoint, in any order; must not overlap. */
int store_gen_add_vma(struct store_gen *g, const struct store_vma *v);
/*
 * One changed page. A later page at the same address replaces an earlier
 * one. Every page must lie inside the layout by commit time.
 */
int store_gen_add_page(struct store_gen *g, uint64_t vaddr, const void *data);
/*
 * Records [vaddr, vaddr + npages * STORE_PAGE_SIZE) as zero in the
 * generation (a hole: no page, no swap entry, or the zero page), replacing
 * whatever the base or earlier calls had there; cheap for large ranges
 * (no per-page work beyond what the manifest's extents need). A later
 * store_gen_add_page() at an address inside it replaces that page.
 * Parts outside the layout at commit time are ignored (unmapped pages are
 * not part of a generation); an unaligned @vaddr or a range past the end
 * of the address space is -EINVAL; @npages 0 records nothing.
 */
int store_gen_add_zero(struct store_gen *g, uint64_t vaddr, uint64_t npages);
/*
 * Records [vaddr, vaddr + npages * STORE_PAGE_SIZE) as not in the
 * generation: whatever the base had there is dropped, and the range reads
 * as absent (a private file mapping's page that reads as the file again,
 * which a generation does not hold). Pages and zero ranges recorded in
 * this generation are not affected, before or after. Same checks as
 * store_gen_add_zero().
 */
int store_gen_add_absent(struct store_gen *g, uint64_t vaddr, uint64_t npages);
/*
 * The same in two halves, so that a caller can digest pages on one thread
 * while another adds them: store_page_digest() touches no handle and is
 * safe on any thread; store_gen_add_digested() trusts @d to be @data's.
 */
struct store_digest {
	uint64_t lo, hi;	/* XXH3-128 of the page */
	bool zero;		/* all zero bytes: stored as a hole, not hashed */
};
void store_page_digest(const void *data, struct store_digest *d);
int store_gen_add_digested(struct store_gen *g, uint64_t vaddr,
			   const void *data, const struct store_digest *d);
/*
 * Makes the generation durable and returns its id; frees @g either way.
 * Then applies retention and removes what is no longer reachable (errors
 * there are warnings: the commit stands). On failure nothing may be
 * acknowledged to the module, even though, if only the last directory
 * fsync failed, the generation may turn up after all: the next checkpoint
 * then resends its pages, which dedup makes cheap.
 */
int store_gen_commit(struct store_gen *g, uint64_t *id);
void store_gen_abort(struct store_gen *g);
uint64_t store_gen_id(const struct store_gen *g);

/*
 * Applies retention with the store's knobs now, then sweeps. @removed
 * (may be NULL) counts generations removed.
 */
int store_purge(struct store *s, unsigned int *removed);
/*
 * Removes every generation whose manifest is damaged (its pages cannot be
 * read anyway), so that the packs only it might have named can go at the
 * next sweep: until then no pack up to the newest damaged id is removed.
 * Each removal is reported through the warn hook. @dropped may be NULL.
 */
int store_drop_damaged(struct store *s, unsigned int *dropped);
/*
 * The knobs recorded by the newest readable generation (the defaults if
 * none), and a way to apply them: `purge` without flags follows what the
 * checkpoints that wrote the store used, not the built-in defaults.
 */
void store_recorded_knobs(const struct store *s, struct store_knobs *k);
int store_set_knobs(struct store *s, const struct store_knobs *k);

/* Reading one generation. */
int store_snap_open(struct store *s, uint64_t id, struct store_snap **out);
void store_snap_close(struct store_snap *snap);
size_t store_snap_vmas(const struct store_snap *snap,
		       const struct store_vma **vmas);

enum store_page_state {
	STORE_PAGE_ABSENT,	/* not captured or not mapped: reads as zeros */
	STORE_PAGE_ZERO,	/* captured, all zero */
	STORE_PAGE_DATA,	/* captured, has a stored copy */
};

/* One run of the page map; iterate with store_snap_map(). */
struct store_run {
	uint64_t vaddr;
	uint64_t npages;
	enum store_page_state state;
};
size_t store_snap_map(const struct store_snap *snap, size_t i,
		      struct store_run *run);

/*
 * Reads one page, verifying its hash against its pack's index entry, and
 * using any other good copy of the same content when that fails; zeros
 * when not captured.
 */
int store_snap_read(struct store_snap *snap, uint64_t vaddr, void *buf,
		    enum store_page_state *state);
/*
 * The same for @npages pages from @vaddr, reading each run of stored
 * pages at once.
 */
int store_snap_read_pages(struct store_snap *snap, uint64_t vaddr,
			  size_t npages, void *buf);
/*
 * The same again, without hashing a second time the copies that an
 * earlier read through @snap read and found good (the others are checked
 * as by store_snap_read_pages()): for a caller that checks everything
 * first and uses the bytes later without keeping them (restore). The bytes
 * are read again from the same offsets of the same files, and a pack's
 * file is never modified once its generation commits (store-format.rst).
 */
int store_snap_reread_pages(struct store_snap *snap, uint64_t vaddr,
			    size_t npages, void *buf);
/*
 * Takes over what reads through @from (a snapshot of the same generation
 * through another handle of the same store, used by another thread) found
 * good, for store_snap_reread_pages() through @snap: a caller that checks
 * with two threads. Neither may be in use meanwhile.
 * Return: 0, -EINVAL if @from is of another generation or store, -ENOMEM.
 */
int store_snap_adopt_checks(struct store_snap *snap,
			    const struct store_snap *from);
/*
 * Writes bytes [start, end) to @fd: the region as captured, zeros elsewhere.
 * The range must lie within the span of the generation's mappings
 * (-ERANGE otherwise, -EINVAL if empty).
 */
int store_snap_export(struct store_snap *snap, uint64_t start, uint64_t end,
		      int fd);
/*
 * Salvage mode for everything read through @snap (read, read_pages,
 * export): a page that no good copy can give back is reported through the
 * warn hook ("page 0x...: lost, zeros in its place: why"), read as zeros
 * and counted, instead of failing the read. store_snap_lost() says how
 * many; a restore that salvages reports them the same way.
 */
void store_snap_set_salvage(struct store_snap *snap, bool on);
uint64_t store_snap_lost(const struct store_snap *snap);

struct store_diff {
	uint64_t changed;	/* captured in both, different content */
	uint64_t added;		/* captured in b only */
	uint64_t removed;	/* captured in a only */
	uint64_t same;
};
int store_diff(struct store *s, uint64_t a, uint64_t b, struct store_diff *d);

/*
 * Checks every hash a generation needs (id != 0) or every stored copy and
 * manifest (id == 0). Each failure is reported through the warn hook;
 * @bad counts them. Returns -EIO if any.
 */
int store_verify(struct store *s, uint64_t id, uint64_t *bad);

/*
 * Fault injection, for the tests only: the @nth mutating system call
 * (open for writing, write, fsync, rename, unlink, mkdir, rmdir; counted
 * from 1) fails with EIO. With @crash, every later one fails too, as if
 * the process had died there. 0 disables. store_fault_ops() counts the
 * calls made since the last store_fault_set().
 */
void store_fault_set(unsigned long nth, bool crash);
unsigned long store_fault_ops(void);

#endif /* SNAPPER_STORE_H */
