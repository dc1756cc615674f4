// SPDX-License-Identifier: GPL-2.0
/*
 * Per-target state and the durability handshake.
 *
 * A session is keyed by the target's mm (a new mm after exec is a new
 * target, whose first checkpoint is FULL). It holds the mm with mmgrab(),
 * which keeps the struct but not the address space, and is dropped once the
 * mm has no users left: at the next lookup, at the end of any stream, by a
 * sweep every SWEEP_INTERVAL while sessions exist, or at unload. An mmu
 * notifier would tell at once, but registering one changes the target
 * (and the tracker refuses mms that have them). What a session allocates
 * is charged to the memory cgroup of the caller that made it allocate.
 *
 * The handshake: a checkpoint clears the soft-dirty bits of the pages it
 * selects, so from then on only the session remembers that they changed.
 * Each selected page is recorded as owed with the checkpoint's id before the
 * stream starts. SNAPPER_CMD_ACK for checkpoint C forgets every page owed by
 * C or earlier (first marking those the target alone still maps exclusive
 * again: give_back() in tracker.c), and records (store, generation) as the
 * base that makes the next checkpoint of that store incremental. A writer
 * that dies, a disk that fills, a stream cut short: no ack, so the pages
 * stay owed and the next checkpoint sends them again. When the module
 * cannot remember (allocation failure), it forgets the acknowledged base
 * instead, so that the next checkpoint is FULL: no change is ever lost, at
 * worst resent.
 *
 * Content hashes: soft-dirty is per PMD, so one write makes all 512
 * subpages of a THP dirty; shared memory (shared.c) changes without
 * soft-dirty at all; and KSM drops the soft-dirty bit of a written page it
 * merges (tracker.c). All three send only the pages whose content hash
 * changed.
 * Huge pages: The stream hashes each subpage (xxh64, seeded with a
 * value drawn at load time; a hash only recorded is taken on netlink.c's
 * hasher thread, through snapper_session_hash_prepare() and
 * snapper_session_hash_record()) and skips those whose hash equals the one
 * recorded for the checkpoint the stream builds on (its base): those
 * subpages are unchanged in the writer's base generation. The hashes a
 * stream computes become the acknowledged ones only when that very
 * checkpoint is acknowledged; a huge page that a walk does not find
 * PMD-mapped loses its hashes (after a split, 4 KiB tracking takes over and
 * the hashes would go stale). Any doubt drops the hashes, which only costs
 * resending. Shared memory and KSM pages are hashed page by page at every
 * checkpoint with the same tables, keyed by address (a walk that finds a
 * KSM page marks its block seen, as it does a huge page's); the block of a
 * huge page never holds shared or KSM pages in the same walk (a PMD-mapped
 * huge page fills its block with one mapping, KSM pages are PTE-mapped,
 * and the walk does not look at the page tables of shared memory).
 */
#include "compat.h"

#include <linux/mm.h>
#include <linux/random.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <linux/xxhash.h>

#include "session.h"
#include "stats.h"
#include "tracker.h"

#define SWEEP_INTERVAL		(5 * HZ)

static LIST_HEAD(sessions);
static DEFINE_MUTEX(sessions_lock);
static void sweep(struct work_struct *work);
static DECLARE_DELAYED_WORK(sweep_work, sweep);
/*
 * xxh64 rather than SipHash: hashing every subpage of a dirty huge page is
 * the main cost of an incremental checkpoint of a THP-backed target, and
 * xxh64 does it several times faster. It is not a keyed PRF, so content
 * crafted to collide could hide a change; but only the target (and those
 * it shares the memory with) writes that content, and the seed is secret,
 * so what a collision could hide is the target's own change from its own
 * checkpoint. Documentation/tracking.rst says so.
 */
static u64 thp_seed;

static struct snapper_session *session_alloc(struct mm_struct *mm)
{
	struct snapper_session *s;

	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return NULL;
	kref_init(&s->ref);
	INIT_LIST_HEAD(&s->node);
	mutex_init(&s->lock);
	init_waitqueue_head(&s->idle_wq);
	xa_init_flags(&s->owed, XA_FLAGS_ACCOUNT);
	xa_init_flags(&s->thp, XA_FLAGS_ACCOUNT);
	s->mm = mm;
	if (mm)
		mmgrab(mm);
	snapper_stats_add(SNAPPER_STAT_SESSIONS, 1);
	return s;
}

static void session_release(struct kref *ref)
{
	struct snapper_session *s = container_of(ref, struct snapper_session,
						 ref);

	struct snapper_thp_hashes *e;
	unsigned long idx;

	xa_for_each(&s->thp, idx, e)
		kvfree(e);
	xa_destroy(&s->thp);
	xa_destroy(&s->owed);
	kvfree(s->tables);
	kvfree(s->frames);
	if (s->mm)
		mmdrop(s->mm);
	mutex_destroy(&s->lock);
	snapper_stats_add(SNAPPER_STAT_SESSIONS, -1);
	kfree(s);
}

/* Drops the list's reference of every session whose target is gone. */
static void collect_garbage(void)
{
	struct snapper_session *s, *tmp;

	lockdep_assert_held(&sessions_lock);
	list_for_each_entry_safe(s, tmp, &sessions, node) {
		if (atomic_read(&s->mm->mm_users))
			continue;
		list_del_init(&s->node);
		kref_put(&s->ref, session_release);
	}
}

/*
 * Frees the sessions of dead targets soon, with their owed-page records,
 * rather than at the next lookup, which may never come.
 */
static void sweep(struct work_struct *work)
{
	mutex_lock(&sessions_lock);
	collect_garbage();
	if (!list_empty(&sessions))
		schedule_delayed_work(&sweep_work, SWEEP_INTERVAL);
	mutex_unlock(&sessions_lock);
}

/**
 * snapper_session_sweep() - drop the sessions of targets that are gone
 */
void snapper_session_sweep(void)
{
	mutex_lock(&sessions_lock);
	collect_garbage();
	mutex_unlock(&sessions_lock);
}

/**
 * snapper_session_get() - find the session of an mm
 * @mm: the target's mm, with a reference (mmget) held by the caller
 * @create: make one if there is none
 *
 * Return: a referenced session, NULL if there is none and @create is false,
 * or ERR_PTR(-ENOMEM).
 */
struct snapper_session *snapper_session_get(struct mm_struct *mm, bool create)
{
	struct snapper_session *s, *found = NULL;

	mutex_lock(&sessions_lock);
	collect_garbage();
	list_for_each_entry(s, &sessions, node) {
		if (s->mm == mm) {
			found = s;
			break;
		}
	}
	if (!found && create) {
		found = session_alloc(mm);
		if (found) {
			list_add(&found->node, &sessions);
			schedule_delayed_work(&sweep_work, SWEEP_INTERVAL);
		} else {
			found = ERR_PTR(-ENOMEM);
		}
	}
	if (!IS_ERR_OR_NULL(found))
		kref_get(&found->ref);
	mutex_unlock(&sessions_lock);
	return found;
}

/**
 * snapper_session_put() - drop a reference from snapper_session_get()
 * @s: the session
 */
void snapper_session_put(struct snapper_session *s)
{
	kref_put(&s->ref, session_release);
}

/**
 * snapper_session_incremental() - may a checkpoint send only the changes?
 * @s: the session, locked
 * @store: the writer's store id
 * @base: the newest generation the writer has committed, 0 for none
 * @force_full: the writer asked for a FULL checkpoint
 *
 * Return: true if (@store, @base) is what the module last acknowledged.
 */
bool snapper_session_incremental(struct snapper_session *s, u64 store,
				 u64 base, bool force_full)
{
	lockdep_assert_held(&s->lock);
	return !force_full && base && s->acked_gen &&
	       store == s->acked_store && base == s->acked_gen;
}

/**
 * snapper_session_next_ckpt() - issue the id of a new checkpoint
 * @s: the session, locked
 * @store: the store that asked for it, to be checked against the ack
 * @full: whether it is FULL (else it builds on the acknowledged one)
 *
 * Return: the new checkpoint id, never 0.
 */
u64 snapper_session_next_ckpt(struct snapper_session *s, u64 store,
			      bool full)
{
	u64 id;

	lockdep_assert_held(&s->lock);
	id = ++s->last_ckpt;
	s->recent[id % SNAPPER_SESSION_RECENT].ckpt = id;
	s->recent[id % SNAPPER_SESSION_RECENT].store = store;
	s->recent[id % SNAPPER_SESSION_RECENT].base = full ? 0 : s->acked_ckpt;
	return id;
}

/**
 * snapper_session_set_opener() - remember who asked for a checkpoint
 * @s: the session, locked
 * @ckpt: the id snapper_session_next_ckpt() just issued
 * @portid: the netlink port of the requesting socket
 * @privileged: whether the requester had CAP_SYS_ADMIN
 */
void snapper_session_set_opener(struct snapper_session *s, u64 ckpt,
				u32 portid, bool privileged)
{
	lockdep_assert_held(&s->lock);
	s->recent[ckpt % SNAPPER_SESSION_RECENT].portid = portid;
	s->recent[ckpt % SNAPPER_SESSION_RECENT].privileged = privileged;
}

/**
 * snapper_session_may_ack() - may this requester acknowledge @ckpt?
 * @s: the session, locked
 * @ckpt: a checkpoint id
 * @portid: the netlink port the ACK came from
 * @privileged: whether its sender has CAP_SYS_ADMIN
 *
 * Only the socket that read a checkpoint may acknowledge it, and a
 * privileged requester's checkpoint only with privilege: a port id can be
 * bound again by anyone once its socket is closed.
 *
 * Return: true if it may (an unknown @ckpt is left to snapper_session_ack()).
 */
bool snapper_session_may_ack(struct snapper_session *s, u64 ckpt, u32 portid,
			     bool privileged)
{
	lockdep_assert_held(&s->lock);
	if (s->recent[ckpt % SNAPPER_SESSION_RECENT].ckpt != ckpt)
		return true;
	return s->recent[ckpt % SNAPPER_SESSION_RECENT].portid == portid &&
	       (privileged || !s->recent[ckpt % SNAPPER_SESSION_RECENT].privileged);
}

/**
 * snapper_session_base_ckpt() - the acknowledged checkpoint one builds on
 * @s: the session, locked
 * @ckpt: a recent checkpoint id
 *
 * Return: its base checkpoint id, or 0 for a FULL or unknown checkpoint.
 */
u64 snapper_session_base_ckpt(struct snapper_session *s, u64 ckpt)
{
	lockdep_assert_held(&s->lock);
	if (s->recent[ckpt % SNAPPER_SESSION_RECENT].ckpt != ckpt)
		return 0;
	return s->recent[ckpt % SNAPPER_SESSION_RECENT].base;
}

/**
 * snapper_session_owes() - was this page sent and never acknowledged?
 * @s: the session; callable under a spinlock (the lookup is RCU)
 * @addr: page address in the target
 *
 * Return: true if the next checkpoint must send it again.
 */
bool snapper_session_owes(struct snapper_session *s, unsigned long addr)
{
	return READ_ONCE(s->nr_owed) && xa_load(&s->owed, addr >> PAGE_SHIFT);
}

/**
 * snapper_session_owes_range() - is any page of [start, end) owed?
 * @s: the session
 * @start: first address
 * @end: end address, exclusive
 *
 * Return: true if one is.
 */
bool snapper_session_owes_range(struct snapper_session *s,
				unsigned long start, unsigned long end)
{
	unsigned long idx = start >> PAGE_SHIFT;
	bool found;

	if (!READ_ONCE(s->nr_owed))
		return false;
	rcu_read_lock();
	found = xa_find(&s->owed, &idx, (end >> PAGE_SHIFT) - 1, XA_PRESENT);
	rcu_read_unlock();
	return found;
}

/**
 * snapper_session_owe() - remember that a checkpoint sent a page
 * @s: the session, owned (locked, or the caller collects it: session.h)
 * @addr: page address
 * @ckpt: the checkpoint's id
 *
 * Return: 0, or -ENOMEM (the caller must then snapper_session_forget()).
 */
int snapper_session_owe(struct snapper_session *s, unsigned long addr,
			u64 ckpt)
{
	void *old;

	snapper_session_assert_owned(s);
	old = xa_store(&s->owed, addr >> PAGE_SHIFT,
		       xa_mk_value(ckpt & LONG_MAX), GFP_KERNEL_ACCOUNT);
	if (xa_is_err(old))
		return xa_err(old);
	if (!old)
		WRITE_ONCE(s->nr_owed, s->nr_owed + 1);
	return 0;
}

/**
 * snapper_session_forget() - make the next checkpoint FULL
 * @s: the session, owned
 *
 * For when a checkpoint cleared soft-dirty bits that the session could not
 * record: the next checkpoint then sends everything.
 */
void snapper_session_forget(struct snapper_session *s)
{
	snapper_session_assert_owned(s);
	s->acked_gen = 0;
	s->acked_store = 0;
	/* The next walk is FULL, and records its own. */
	kvfree(s->tables);
	kvfree(s->frames);
	s->tables = NULL;
	s->frames = NULL;
	s->nr_tables = 0;
}

/**
 * snapper_session_thp_seen() - a walk found a huge page PMD-mapped
 * @s: the session, owned; callable under the PMD lock (no allocation)
 * @haddr: its address, PMD aligned
 * @ckpt: the walking checkpoint
 */
void snapper_session_thp_seen(struct snapper_session *s, unsigned long haddr,
			      u64 ckpt)
{
	struct snapper_thp_hashes *e;

	snapper_session_assert_owned(s);
	e = xa_load(&s->thp, haddr >> PMD_SHIFT);
	if (e)
		e->seen = ckpt;
}

/**
 * snapper_session_thp_sweep() - drop the hashes of huge pages a walk missed
 * @s: the session, owned
 * @ckpt: the checkpoint whose walk just ended
 */
void snapper_session_thp_sweep(struct snapper_session *s, u64 ckpt)
{
	struct snapper_thp_hashes *e;
	unsigned long idx;

	snapper_session_assert_owned(s);
	xa_for_each(&s->thp, idx, e) {
		if (e->seen == ckpt)
			continue;
		xa_erase(&s->thp, idx);
		kvfree(e);
	}
}

/**
 * snapper_session_hash() - the content hash of one page
 * @data: the page's PAGE_SIZE bytes
 *
 * Return: its seeded xxh64, never 0 (0 marks "no hash" in the tables).
 */
u64 snapper_session_hash(const void *data)
{
	return xxh64(data, PAGE_SIZE, thp_seed) ?: 1;
}

/*
 * The hashes of the PMD-sized block of @addr, ready for @ckpt to record:
 * allocated if new. The first page a checkpoint records in a block forgets
 * what an earlier checkpoint recorded for the block's other pages: only
 * pages hashed by @ckpt count once it is acked. NULL if out of memory.
 */
static struct snapper_thp_hashes *block_for(struct snapper_session *s,
					    unsigned long addr, u64 ckpt)
{
	struct snapper_thp_hashes *e;

	snapper_session_assert_owned(s);
	e = xa_load(&s->thp, addr >> PMD_SHIFT);
	if (!e) {
		e = kvzalloc(sizeof(*e), GFP_KERNEL_ACCOUNT);
		if (!e || xa_err(xa_store(&s->thp, addr >> PMD_SHIFT, e,
					  GFP_KERNEL_ACCOUNT))) {
			kvfree(e);
			return NULL;
		}
	}
	if (e->pending_ckpt != ckpt) {
		memset(e->pending, 0, sizeof(e->pending));
		e->pending_ckpt = ckpt;
	}
	e->seen = ckpt;
	return e;
}

static unsigned long block_page(unsigned long addr)
{
	return (addr >> PAGE_SHIFT) & (SNAPPER_THP_PAGES - 1);
}

/**
 * snapper_session_hash_unchanged() - has a page the content of the base?
 * @s: the session, owned
 * @addr: the page's address
 * @hash: its snapper_session_hash() at the checkpoint
 * @ckpt: the checkpoint that read it
 * @base: the acknowledged checkpoint it builds on, 0 to never skip
 *
 * Records @hash for @ckpt either way (see block_for()).
 *
 * Return: true if its content is that of @base's generation.
 */
bool snapper_session_hash_unchanged(struct snapper_session *s,
				    unsigned long addr, u64 hash, u64 ckpt,
				    u64 base)
{
	unsigned long i = block_page(addr);
	struct snapper_thp_hashes *e = block_for(s, addr, ckpt);

	if (!e)
		return false;
	e->pending[i] = hash;
	return base && e->acked_ckpt == base && e->acked[i] == hash;
}

/**
 * snapper_session_hash_prepare() - make room for a hash recorded later
 * @s: the session, owned
 * @addr: the page's address
 * @ckpt: the checkpoint that will record it
 *
 * The first half of snapper_session_hash_unchanged() with base 0, for a
 * page whose hash is only recorded: the allocation, in the caller's
 * context (and memory cgroup), so that snapper_session_hash_record() can
 * run anywhere later.
 *
 * Return: false if out of memory (nothing can be recorded there).
 */
bool snapper_session_hash_prepare(struct snapper_session *s,
				  unsigned long addr, u64 ckpt)
{
	return block_for(s, addr, ckpt);
}

/**
 * snapper_session_hash_record() - the second half
 * @s: the session, owned
 * @addr: the page's address
 * @hash: its snapper_session_hash() at the checkpoint
 * @ckpt: the checkpoint that read it, and prepared its block
 *
 * Allocates nothing. Where the block's hashes were dropped or went to a
 * later checkpoint meanwhile, nothing is recorded: a page without a hash
 * is never left out.
 */
void snapper_session_hash_record(struct snapper_session *s,
				 unsigned long addr, u64 hash, u64 ckpt)
{
	struct snapper_thp_hashes *e;

	snapper_session_assert_owned(s);
	e = xa_load(&s->thp, addr >> PMD_SHIFT);
	if (e && e->pending_ckpt == ckpt)
		e->pending[block_page(addr)] = hash;
}

/**
 * snapper_session_thp_unchanged() - may a huge page's subpage be skipped?
 * @s: the session, unlocked (a stream runs without it)
 * @addr: the subpage's address
 * @data: its content at the checkpoint
 * @ckpt: the streaming checkpoint
 * @base: the acknowledged checkpoint it builds on, 0 if FULL
 *
 * Records the subpage's hash for @ckpt either way.
 *
 * Return: true if its content is that of @base's generation.
 */
bool snapper_session_thp_unchanged(struct snapper_session *s,
				   unsigned long addr, const void *data,
				   u64 ckpt, u64 base)
{
	u64 hash = snapper_session_hash(data);
	bool same;

	mutex_lock(&s->lock);
	same = snapper_session_hash_unchanged(s, addr, hash, ckpt, base);
	mutex_unlock(&s->lock);
	return same;
}

/*
 * Checkpoint @ckpt is durable: what it hashed becomes the acknowledged
 * content; a huge page it walked without sending keeps the content of its
 * base, now also @ckpt's; anything else is no longer known.
 */
static void ack_thp(struct snapper_session *s, u64 ckpt)
{
	u64 base = snapper_session_base_ckpt(s, ckpt);
	struct snapper_thp_hashes *e;
	unsigned long idx;

	lockdep_assert_held(&s->lock);
	xa_for_each(&s->thp, idx, e) {
		if (e->pending_ckpt == ckpt) {
			memcpy(e->acked, e->pending, sizeof(e->acked));
			e->acked_ckpt = ckpt;
		} else if (e->seen == ckpt && base && e->acked_ckpt == base) {
			e->acked_ckpt = ckpt;
		} else {
			e->acked_ckpt = 0;
		}
	}
}

/**
 * snapper_session_ack() - a writer made a checkpoint durable
 * @s: the session, locked
 * @store: the writer's store id, as in the checkpoint request
 * @ckpt: the checkpoint's id
 * @gen: the generation it became in the store
 *
 * Return: 0, or -ESTALE if @ckpt is unknown, was asked by another store,
 * or is not newer than the last acknowledged checkpoint.
 */
int snapper_session_ack(struct snapper_session *s, u64 store, u64 ckpt,
			u64 gen)
{
	unsigned long idx;
	void *entry;

	lockdep_assert_held(&s->lock);
	if (!ckpt || ckpt > s->last_ckpt || ckpt <= s->acked_ckpt ||
	    s->recent[ckpt % SNAPPER_SESSION_RECENT].ckpt != ckpt ||
	    s->recent[ckpt % SNAPPER_SESSION_RECENT].store != store)
		return -ESTALE;
	/* Before they are forgotten: see give_back() in tracker.c. */
	snapper_tracker_give_back(s->mm, &s->owed, ckpt);
	if (ckpt == s->last_ckpt) {
		/*
		 * The newest checkpoint, the usual case: every page owed was
		 * sent by it or an earlier one. Freeing the tree whole costs
		 * a fraction of erasing its entries one by one (a full
		 * checkpoint of 256 MiB owes 65536 pages).
		 */
		WRITE_ONCE(s->nr_owed, 0);
		xa_destroy(&s->owed);
	} else {
		xa_for_each(&s->owed, idx, entry) {
			if (xa_to_value(entry) > (ckpt & LONG_MAX))
				continue;
			xa_erase(&s->owed, idx);
			WRITE_ONCE(s->nr_owed, s->nr_owed - 1);
		}
	}
	ack_thp(s, ckpt);
	s->acked_store = store;
	s->acked_gen = gen;
	s->acked_ckpt = ckpt;
	return 0;
}

/**
 * snapper_session_init() - draw the seed of the huge-page hashes
 *
 * Return: 0.
 */
int snapper_session_init(void)
{
	thp_seed = get_random_u64();
	return 0;
}

/* Drops every session: at unload, when no stream can be open any more. */
void snapper_session_uninit(void)
{
	struct snapper_session *s, *tmp;

	cancel_delayed_work_sync(&sweep_work);
	mutex_lock(&sessions_lock);
	list_for_each_entry_safe(s, tmp, &sessions, node) {
		list_del_init(&s->node);
		WARN_ON_ONCE(kref_read(&s->ref) != 1);
		kref_put(&s->ref, session_release);
	}
	mutex_unlock(&sessions_lock);
}

#ifdef SNAPPER_KUNIT
#include "tests/session-kunit.h"
#endif
