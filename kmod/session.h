/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SNAPPER_SESSION_H
#define _SNAPPER_SESSION_H

#include <asm/current.h>
#include <linux/kref.h>
#include <linux/lockdep.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/xarray.h>

struct snapper_table;
struct snapper_frame;

struct mm_struct;

#define SNAPPER_SESSION_RECENT	8
#define SNAPPER_THP_PAGES	(1UL << (PMD_SHIFT - PAGE_SHIFT))

/*
 * Content hashes of the pages of one PMD-sized block of addresses: the
 * subpages of a PMD-mapped huge page, so that a dirty huge page (soft-dirty
 * is per PMD) sends only the subpages whose content differs from the
 * acknowledged generation's, or the pages of shared memory there (see
 * shared.c). 0 is no hash. Valid only while the block is walked at every
 * checkpoint; see session.c.
 */
struct snapper_thp_hashes {
	u64 seen;			/* last checkpoint that walked it */
	u64 acked_ckpt;			/* @acked is that checkpoint's; 0 none */
	u64 pending_ckpt;		/* @pending is that checkpoint's */
	u64 acked[SNAPPER_THP_PAGES];
	u64 pending[SNAPPER_THP_PAGES];
};

/*
 * What the module remembers about one target between checkpoints: which
 * (store, generation) a writer last declared durable, and which pages were
 * sent since without being acknowledged ("owed": the next checkpoint sends
 * them again whatever their soft-dirty bit says).
 *
 * Lock order: sessions_lock (session.c) -> session->lock -> mmap_lock ->
 * page-table locks; a stream's lock (netlink.c) -> session->lock. The owed
 * xarray has its own spinlock inside; it is written only by the session's
 * owner (see snapper_session_assert_owned()), and read under RCU by the
 * walk.
 */
struct snapper_session {
	struct kref ref;
	struct list_head node;		/* in the session list */
	struct mm_struct *mm;		/* mmgrab()ed; NULL in KUnit tests */
	struct mutex lock;
	struct task_struct *collector;	/* under @lock: see below */
	void *stream;			/* the open checkpoint stream, or NULL */
	wait_queue_head_t idle_wq;	/* woken when @stream goes */
	u64 acked_store;
	u64 acked_gen;			/* 0: nothing durable, next is FULL */
	u64 acked_ckpt;
	u64 last_ckpt;			/* newest checkpoint id issued */
	struct {			/* recent checkpoints */
		u64 ckpt;
		u64 store;		/* who asked */
		u64 base;		/* acked checkpoint it built on; 0 FULL */
		u32 portid;		/* the socket that asked, to ack */
		bool privileged;	/* it had CAP_SYS_ADMIN */
	} recent[SNAPPER_SESSION_RECENT];
	struct xarray owed;		/* page index -> xa_mk_value(ckpt id) */
	unsigned long nr_owed;
	struct xarray thp;		/* haddr >> PMD_SHIFT -> thp_hashes */
	struct snapper_table *tables;	/* the last walk's, by slot */
	unsigned int nr_tables;
	struct snapper_frame *frames;	/* the last walk's, by address */
	bool ksm;			/* the mm was seen registered with KSM */
};

/*
 * What @lock guards belongs to whoever holds it, or, without it, to the
 * task collecting a checkpoint (netlink.c's collect()). That task marks
 * itself @collector under @lock and lets the lock go for the freeze, the
 * walk and the copies (seconds at worst), so that no request waits for
 * them under genetlink's cb_lock. Whoever takes @lock and finds a
 * collector leaves the session alone: an ACK answers -EBUSY, a checkpoint
 * finds the collector's stream open (it is detached only by its expiry,
 * which waits for the stream's lock that the collection holds, or once
 * its dump is done). Nothing else runs for the session meanwhile: the
 * hashes of a stream are taken after its collection, and all of them
 * before the stream is detached and another may open.
 */
static inline void snapper_session_assert_owned(struct snapper_session *s)
{
	lockdep_assert(READ_ONCE(s->collector) == current ||
		       (lockdep_is_held(&s->lock) && !s->collector));
}

struct snapper_session *snapper_session_get(struct mm_struct *mm,
					    bool create);
void snapper_session_put(struct snapper_session *s);
void snapper_session_sweep(void);
bool snapper_session_incremental(struct snapper_session *s, u64 store,
				 u64 base, bool force_full);
u64 snapper_session_next_ckpt(struct snapper_session *s, u64 store,
			      bool full);
void snapper_session_set_opener(struct snapper_session *s, u64 ckpt,
				u32 portid, bool privileged);
bool snapper_session_may_ack(struct snapper_session *s, u64 ckpt, u32 portid,
			     bool privileged);
bool snapper_session_owes(struct snapper_session *s, unsigned long addr);
bool snapper_session_owes_range(struct snapper_session *s,
				unsigned long start, unsigned long end);
int snapper_session_owe(struct snapper_session *s, unsigned long addr,
			u64 ckpt);
void snapper_session_forget(struct snapper_session *s);
int snapper_session_ack(struct snapper_session *s, u64 store, u64 ckpt,
			u64 gen);
void snapper_session_thp_seen(struct snapper_session *s, unsigned long haddr,
			      u64 ckpt);
void snapper_session_thp_sweep(struct snapper_session *s, u64 ckpt);
u64 snapper_session_hash(const void *data);
bool snapper_session_hash_unchanged(struct snapper_session *s,
				    unsigned long addr, u64 hash, u64 ckpt,
				    u64 base);
bool snapper_session_hash_prepare(struct snapper_session *s,
				  unsigned long addr, u64 ckpt);
void snapper_session_hash_record(struct snapper_session *s,
				 unsigned long addr, u64 hash, u64 ckpt);
bool snapper_session_thp_unchanged(struct snapper_session *s,
				   unsigned long addr, const void *data,
				   u64 ckpt, u64 base);
u64 snapper_session_base_ckpt(struct snapper_session *s, u64 ckpt);
int snapper_session_init(void);
void snapper_session_uninit(void);

#endif /* _SNAPPER_SESSION_H */
