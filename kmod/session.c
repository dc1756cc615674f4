// SPDX-License-Identifier: GPL-2.0
/*
 * Per-target state and the durability handshake.
 *
 * A session is keyed by the target's mm (a new mm after exec is a new
 * target, whose first checkpoint is FULL). It holds the mm with mmgrab(),
 * which keeps the struct but not the address space, and is dropped once the
 * mm has no users left: at the next lookup, or at unload.
 *
 * The handshake: a checkpoint clears the soft-dirty bits of the pages it
 * selects, so from then on only the session remembers that they changed.
 * Each selected page is recorded as owed with the checkpoint's id before the
 * stream starts. SNAPPER_CMD_ACK for checkpoint C forgets every page owed by
 * C or earlier, and records (store, generation) as the base that makes the
 * next checkpoint of that store incremental. A writer that dies, a disk
 * that fills, a stream cut short: no ack, so the pages stay owed and the
 * next checkpoint sends them again. When the module cannot remember
 * (allocation failure), it forgets the acknowledged base instead, so that
 * the next checkpoint is FULL: no change is ever lost, at worst resent.
 */
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "session.h"
#include "stats.h"

static LIST_HEAD(sessions);
static DEFINE_MUTEX(sessions_lock);

static struct snapper_session *session_alloc(struct mm_struct *mm)
{
	struct snapper_session *s;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return NULL;
	kref_init(&s->ref);
	INIT_LIST_HEAD(&s->node);
	mutex_init(&s->lock);
	xa_init(&s->owed);
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

	xa_destroy(&s->owed);
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
		if (found)
			list_add(&found->node, &sessions);
		else
			found = ERR_PTR(-ENOMEM);
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
 *
 * Return: the new checkpoint id, never 0.
 */
u64 snapper_session_next_ckpt(struct snapper_session *s, u64 store)
{
	u64 id;

	lockdep_assert_held(&s->lock);
	id = ++s->last_ckpt;
	s->recent[id % SNAPPER_SESSION_RECENT].ckpt = id;
	s->recent[id % SNAPPER_SESSION_RECENT].store = store;
	return id;
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
 * @s: the session, locked
 * @addr: page address
 * @ckpt: the checkpoint's id
 *
 * Return: 0, or -ENOMEM (the caller must then snapper_session_forget()).
 */
int snapper_session_owe(struct snapper_session *s, unsigned long addr,
			u64 ckpt)
{
	void *old;

	lockdep_assert_held(&s->lock);
	old = xa_store(&s->owed, addr >> PAGE_SHIFT,
		       xa_mk_value(ckpt & LONG_MAX), GFP_KERNEL);
	if (xa_is_err(old))
		return xa_err(old);
	if (!old)
		WRITE_ONCE(s->nr_owed, s->nr_owed + 1);
	return 0;
}

/**
 * snapper_session_forget() - make the next checkpoint FULL
 * @s: the session, locked
 *
 * For when a checkpoint cleared soft-dirty bits that the session could not
 * record: the next checkpoint then sends everything.
 */
void snapper_session_forget(struct snapper_session *s)
{
	lockdep_assert_held(&s->lock);
	s->acked_gen = 0;
	s->acked_store = 0;
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
	xa_for_each(&s->owed, idx, entry) {
		if (xa_to_value(entry) > (ckpt & LONG_MAX))
			continue;
		xa_erase(&s->owed, idx);
		WRITE_ONCE(s->nr_owed, s->nr_owed - 1);
	}
	s->acked_store = store;
	s->acked_gen = gen;
	s->acked_ckpt = ckpt;
	return 0;
}

/* Drops every session: at unload, when no stream can be open any more. */
void snapper_session_uninit(void)
{
	struct snapper_session *s, *tmp;

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
