// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "snapper". uapi/linux/snapper.h documents
 * every command and attribute; this file only implements that contract.
 *
 * The family is parallel_ops: genetlink's global mutex is not held through
 * a command, whose freeze and copies can take seconds, and other families
 * (the controller's CTRL_CMD_GETFAMILY included) are not kept waiting.
 * What needs excluding has a lock of its own: a target's session->lock
 * (one checkpoint or ACK of a target at a time; a collection owns the
 * session without holding it, see session.h), the session list's lock,
 * the module's parameter lock for the knobs; a dump's callbacks are
 * serialized per socket by netlink itself.
 */
#include "compat.h"

#include <linux/highmem.h>
#include <linux/huge_mm.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>
#include <net/sock.h>
#include <linux/snapper.h>

#include "netlink.h"
#include "params.h"
#include "session.h"
#include "stats.h"
#include "tracker.h"

/*
 * A dump skb must hold one page message (SNAPPER_A_PAGE_DATA of 4096 bytes
 * plus headers); a fresh socket's first dump skb is only NLMSG_GOODSIZE.
 */
#define CKPT_MIN_DUMP_ALLOC	8192

static struct netlink_range_validation pid_range = {
	.min = 1,
	.max = SNAPPER_PID_MAX,
};

static const struct nla_policy snapper_policy[SNAPPER_A_MAX + 1] = {
	[SNAPPER_A_MODULE_VERSION] = { .type = NLA_REJECT },
	[SNAPPER_A_PROTOCOL_VERSION] = { .type = NLA_REJECT },
	[SNAPPER_A_CONFIG] = { .type = NLA_REJECT },
	[SNAPPER_A_PID] = NLA_POLICY_FULL_RANGE(NLA_U32, &pid_range),
	[SNAPPER_A_STORE_ID] = { .type = NLA_U64 },
	[SNAPPER_A_BASE_GENERATION] = { .type = NLA_U64 },
	[SNAPPER_A_CHECKPOINT_FLAGS] = { .type = NLA_U32 },
	[SNAPPER_A_CHECKPOINT_ID] = NLA_POLICY_MIN(NLA_U64, 1),
	[SNAPPER_A_CHECKPOINT_MODE] = { .type = NLA_REJECT },
	[SNAPPER_A_PAGE_SIZE] = { .type = NLA_REJECT },
	[SNAPPER_A_VMA] = { .type = NLA_REJECT },
	[SNAPPER_A_PAGE_ADDR] = { .type = NLA_REJECT },
	[SNAPPER_A_PAGE_DATA] = { .type = NLA_REJECT },
	[SNAPPER_A_PAGE_FLAGS] = { .type = NLA_REJECT },
	[SNAPPER_A_STATS] = { .type = NLA_REJECT },
	[SNAPPER_A_GENERATION] = NLA_POLICY_MIN(NLA_U64, 1),
	[SNAPPER_A_PAD] = { .type = NLA_REJECT },
	[SNAPPER_A_HOLE] = { .type = NLA_REJECT },
	[SNAPPER_A_PAGE_ADDRS] = { .type = NLA_REJECT },
};

static int put_config(struct sk_buff *skb, const struct snapper_config *cfg)
{
	struct nlattr *nest;

	nest = nla_nest_start(skb, SNAPPER_A_CONFIG);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u8(skb, SNAPPER_A_CONFIG_VERBOSE, cfg->verbose) ||
	    nla_put_u32(skb, SNAPPER_A_CONFIG_THRESHOLD, cfg->threshold) ||
	    nla_put_u8(skb, SNAPPER_A_CONFIG_INTEGRITY, cfg->integrity) ||
	    nla_put_u32(skb, SNAPPER_A_CONFIG_REDUNDANCY, cfg->redundancy) ||
	    nla_put_u32(skb, SNAPPER_A_CONFIG_MAX_SNAPSHOTS, cfg->max_snapshots) ||
	    nla_put_u32(skb, SNAPPER_A_CONFIG_MIN_SNAPSHOTS, cfg->min_snapshots) ||
	    nla_put_u64_64bit(skb, SNAPPER_A_CONFIG_EXPIRATION, cfg->expiration,
			      SNAPPER_A_CONFIG_UNSPEC) ||
	    nla_put_u32(skb, SNAPPER_A_CONFIG_STREAM_TIMEOUT_MS,
			cfg->stream_timeout_ms)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static struct genl_family snapper_family;

static int get_config_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct snapper_config cfg;
	struct sk_buff *msg;
	void *hdr;
	int ret;

	snapper_params_get(&cfg);

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &snapper_family, 0,
				SNAPPER_CMD_GET_CONFIG);
	if (!hdr) {
		ret = -EMSGSIZE;
		goto err_free;
	}
	ret = -EMSGSIZE;
	if (nla_put_string(msg, SNAPPER_A_MODULE_VERSION, SNAPPER_VERSION) ||
	    nla_put_u32(msg, SNAPPER_A_PROTOCOL_VERSION,
			SNAPPER_PROTOCOL_VERSION))
		goto err_free;
	ret = put_config(msg, &cfg);
	if (ret)
		goto err_free;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
	return ret;
}

/*
 * One checkpoint stream: the dump's state between dumpit calls. A stream
 * lives at most stream_timeout_ms, and a privileged checkpoint of the same
 * target preempts an unprivileged one: either way the expiry work cancels
 * it, releasing its pages (they stay owed), and its next dumpit fails.
 * @lock keeps dumpit and the expiry apart; it comes before the session's.
 */
struct ckpt_stream {
	struct snapper_session *s;	/* referenced; s->stream while open */
	struct mutex lock;
	struct delayed_work expire;
	int cancelled;			/* 0, or the error the reader gets */
	bool preempted;			/* under s->lock */
	struct snapper_snapshot snap;
	struct task_struct *task;	/* the target, until the collection */
	struct pid *target, *sender;	/* as the request named them */
	enum { ST_OPEN, ST_HEADER, ST_COLLECT, ST_VMAS, ST_PAGES, ST_STATS,
	       ST_DONE } state;
	unsigned int vma;		/* next layout record */
	struct snapper_snap_chunk *chunk; /* next page message */
	unsigned long page;
	u32 portid;			/* the reading socket, to ack */
	bool privileged;		/* the reader has CAP_SYS_ADMIN */
	bool batch;			/* SNAPPER_CKPT_F_PAGE_BATCH */
	/* Hashes only recorded, taken by the hasher: see hash_later(). */
	struct hash_batch *hb;		/* being filled, or NULL */
	atomic_t hashing;		/* batches queued, +1 until drained */
	struct completion hashed;	/* @hashing reached 0 */
	bool drained;			/* no more batches */
	unsigned long hash_block;	/* block last prepared, + 1; 0: none */
};

/*
 * The target, @pid as found in the caller's pid namespace, if @sender (the
 * caller's process) may take it. Another process needs CAP_SYS_ADMIN in the
 * initial user namespace, for both the socket's opener and the caller
 * (netlink_capable(): @privileged); ptrace_may_access() is not exported,
 * so there is no finer rule.
 */
static struct task_struct *find_target(struct nlattr **attrs, struct pid *pid,
				       struct pid *sender, bool privileged,
				       struct netlink_ext_ack *extack)
{
	struct task_struct *task = pid ? get_pid_task(pid, PIDTYPE_PID) : NULL;

	if (!task) {
		NL_SET_ERR_MSG_ATTR(extack, attrs[SNAPPER_A_PID],
				    "no such process");
		return ERR_PTR(-ESRCH);
	}
	if (task_tgid(task) != sender && !privileged) {
		put_task_struct(task);
		NL_SET_ERR_MSG_MOD(extack,
				   "checkpointing another process needs CAP_SYS_ADMIN");
		return ERR_PTR(-EPERM);
	}
	return task;
}

/*
 * The mm of @task's process, through any of its threads: a leader that
 * called pthread_exit() has none, while its process lives on.
 */
static struct mm_struct *process_mm(struct task_struct *task)
{
	struct mm_struct *mm = NULL;
	struct task_struct *t;

	rcu_read_lock();
	for_each_thread(task, t) {
		mm = get_task_mm(t);
		if (mm)
			break;
	}
	rcu_read_unlock();
	return mm;
}

/* A missing attribute is named in the reply (NLMSGERR_ATTR_MISS_TYPE). */
static bool require(struct nlattr **attrs, int type,
		    struct netlink_ext_ack *extack)
{
	if (attrs[type])
		return true;
	NL_SET_ERR_MSG_MOD(extack, "a required attribute is missing");
	NL_SET_ERR_ATTR_MISS(extack, NULL, type);
	return false;
}

static void account(const struct snapper_snap_stats *st)
{
	snapper_stats_add(SNAPPER_STAT_CHECKPOINTS, 1);
	snapper_stats_add(SNAPPER_STAT_PAGES_SCANNED, st->scanned);
	snapper_stats_add(SNAPPER_STAT_PAGES_THP, st->thp * HPAGE_PMD_NR);
	snapper_stats_add(SNAPPER_STAT_PAGES_SWAP, st->swap);
	snapper_stats_add(SNAPPER_STAT_VMAS_SOFTDIRTY, st->vma_softdirty);
	snapper_stats_add(SNAPPER_STAT_PAGES_COPIED, st->copied);
	snapper_stats_add(SNAPPER_STAT_FREEZE_US, st->freeze_us);
	snapper_stats_add(SNAPPER_STAT_WALK_US, st->walk_us);
}

/*
 * A page whose hash is recorded but never compared (every huge-page
 * subpage of a full checkpoint, and SNAP_WHOLE pages) is hashed on the
 * module's kthread worker (hasher), HASH_BATCH at a time, while the stream
 * goes on: in a full checkpoint of a THP-backed target the xxh64 of every
 * subpage was the largest cost of the reader's thread, the one that bounds
 * the stream (Documentation/benchmarks.rst), and another CPU is mostly
 * idle then. The worker holds a reference of its own on each page, which
 * keeps its content that of the instant as the stream's did (tracker.c),
 * and records the hashes under the session's lock. The stream prepares
 * each block (snapper_session_hash_prepare()) in the reader's context, so
 * that what is allocated is charged to its memory cgroup as before, and
 * waits for its batches (hash_drain()) before its last message, before it
 * gives up the session (another checkpoint of the target may then record),
 * and before it is freed. With HASH_INFLIGHT batches queued, or no memory for
 * a batch, a page is hashed where it is, as before.
 */
#define HASH_BATCH	64
#define HASH_INFLIGHT	16
#define HASHER_NICE	10

struct hash_batch {
	struct kthread_work work;
	struct ckpt_stream *cs;
	unsigned int nr;
	unsigned long addr[HASH_BATCH];
	struct page *page[HASH_BATCH];
	u64 hash[HASH_BATCH];
};

static struct kthread_worker *hasher;

static void hash_work(struct kthread_work *work)
{
	struct hash_batch *b = container_of(work, struct hash_batch, work);
	struct ckpt_stream *cs = b->cs;
	unsigned int i;

	for (i = 0; i < b->nr; i++) {
		void *data = kmap_local_page(b->page[i]);

		b->hash[i] = snapper_session_hash(data);
		kunmap_local(data);
		put_page(b->page[i]);
		snapper_stats_add(SNAPPER_STAT_PAGES_HELD, -1);
	}
	mutex_lock(&cs->s->lock);
	for (i = 0; i < b->nr; i++)
		snapper_session_hash_record(cs->s, b->addr[i], b->hash[i],
					    cs->snap.ckpt);
	mutex_unlock(&cs->s->lock);
	kfree(b);
	/* The last touch of @cs: once the drain wakes, it may be freed. */
	if (atomic_dec_and_test(&cs->hashing))
		complete(&cs->hashed);
}

static void hash_submit(struct ckpt_stream *cs)
{
	struct hash_batch *b = cs->hb;

	if (!b)
		return;
	cs->hb = NULL;
	atomic_inc(&cs->hashing);
	kthread_queue_work(hasher, &b->work);
}

/* Under cs->lock: every hash handed to a worker is recorded on return. */
static void hash_drain(struct ckpt_stream *cs)
{
	if (cs->drained)
		return;
	hash_submit(cs);
	cs->drained = true;
	if (!atomic_dec_and_test(&cs->hashing))
		wait_for_completion(&cs->hashed);
}

/* Return: true if @p's hash is left to a worker, or cannot be recorded. */
static bool hash_later(struct ckpt_stream *cs, struct snapper_snap_page *p)
{
	unsigned long addr = p->addr & PAGE_MASK;
	unsigned long block = (addr >> PMD_SHIFT) + 1;
	struct hash_batch *b = cs->hb;
	bool room;

	if (cs->drained || atomic_read(&cs->hashing) > HASH_INFLIGHT)
		return false;
	if (!b) {
		b = kmalloc(sizeof(*b), GFP_KERNEL_ACCOUNT);
		if (!b)
			return false;
		kthread_init_work(&b->work, hash_work);
		b->cs = cs;
		b->nr = 0;
		cs->hb = b;
	}
	if (cs->hash_block != block) {
		mutex_lock(&cs->s->lock);
		room = snapper_session_hash_prepare(cs->s, addr, cs->snap.ckpt);
		mutex_unlock(&cs->s->lock);
		if (!room)
			return true;
		cs->hash_block = block;
	}
	get_page(p->page);
	snapper_stats_add(SNAPPER_STAT_PAGES_HELD, 1);
	b->addr[b->nr] = addr;
	b->page[b->nr++] = p->page;
	if (b->nr == HASH_BATCH)
		hash_submit(cs);
	return true;
}

/* Ends @cs's hold on its session, so that another checkpoint may start. */
static void detach(struct ckpt_stream *cs)
{
	struct snapper_session *s = cs->s;

	mutex_lock(&s->lock);
	if (s->stream == cs) {
		WRITE_ONCE(s->stream, NULL);
		wake_up_all(&s->idle_wq);
	}
	mutex_unlock(&s->lock);
}

static void expire(struct work_struct *work)
{
	struct ckpt_stream *cs = container_of(to_delayed_work(work),
					      struct ckpt_stream, expire);

	mutex_lock(&cs->lock);
	if (!cs->cancelled) {
		cs->cancelled = READ_ONCE(cs->preempted) ? -ECANCELED :
							   -ETIMEDOUT;
		hash_drain(cs);
		/* Recorded as owed at the walk: the next checkpoint resends. */
		snapper_snapshot_release(&cs->snap);
		detach(cs);
	}
	mutex_unlock(&cs->lock);
}

/*
 * Called with s->lock held; returns with it held and no stream open, or
 * unlocked with an error. An unprivileged stream gives way to a privileged
 * checkpoint; otherwise the newcomer gets -EBUSY.
 */
static int wait_idle(struct ckpt_stream *cs, struct netlink_ext_ack *extack)
{
	struct snapper_session *s = cs->s;
	struct ckpt_stream *other;

	while ((other = s->stream)) {
		if (!cs->privileged || other->privileged) {
			mutex_unlock(&s->lock);
			NL_SET_ERR_MSG_MOD(extack,
					   "a checkpoint of this process is streaming");
			return -EBUSY;
		}
		WRITE_ONCE(other->preempted, true);
		mod_delayed_work(system_wq, &other->expire, 0);
		mutex_unlock(&s->lock);
		if (wait_event_killable(s->idle_wq, !READ_ONCE(s->stream)) ||
		    mutex_lock_killable(&s->lock))
			return -EINTR;
	}
	return 0;
}

/*
 * Takes the target's session for @cs (with s->lock: see wait_idle()) and
 * fixes what the header says: FULL or INCREMENTAL, and the checkpoint's id.
 */
static int claim(struct ckpt_stream *cs, struct nlattr **attrs, u32 flags,
		 struct netlink_ext_ack *extack)
{
	u64 store = nla_get_u64(attrs[SNAPPER_A_STORE_ID]);
	u64 base = attrs[SNAPPER_A_BASE_GENERATION] ?
		   nla_get_u64(attrs[SNAPPER_A_BASE_GENERATION]) : 0;
	struct snapper_session *s = cs->s;
	int ret;

	/*
	 * Refused at once where wait_idle() would refuse it, without queueing
	 * for s->lock under genetlink's cb_lock.
	 */
	if (!cs->privileged && READ_ONCE(s->stream)) {
		NL_SET_ERR_MSG_MOD(extack,
				   "a checkpoint of this process is streaming");
		return -EBUSY;
	}
	if (mutex_lock_killable(&s->lock))
		return -EINTR;
	ret = wait_idle(cs, extack);
	if (ret)
		return ret;
	cs->snap.full = !snapper_session_incremental(s, store, base,
						     flags & SNAPPER_CKPT_F_FULL);
	cs->snap.base_ckpt = cs->snap.full ? 0 : s->acked_ckpt;
	/* Only a base can hold what a FILE hole drops. */
	cs->snap.file_holes = !cs->snap.full &&
			      (flags & SNAPPER_CKPT_F_FILE_HOLES);
	cs->snap.ckpt = snapper_session_next_ckpt(s, store, cs->snap.full);
	snapper_session_set_opener(s, cs->snap.ckpt, cs->portid,
				   cs->privileged);
	WRITE_ONCE(s->stream, cs);
	mutex_unlock(&s->lock);
	return 0;
}

/*
 * The first part of the stream, at the first dumpit call (from the request
 * itself, or from the reader's recvmsg() when the socket was full): the
 * checks, the target, its session, the header. Return: 0, or -errno with
 * an extack message.
 */
static int open_stream(struct netlink_callback *cb, struct ckpt_stream *cs)
{
	struct nlattr **attrs = snapper_dump_attrs(cb);
	struct netlink_ext_ack *extack = cb->extack;
	struct task_struct *task;
	struct mm_struct *mm;
	u32 flags;
	int ret;

	if (!require(attrs, SNAPPER_A_PID, extack) ||
	    !require(attrs, SNAPPER_A_STORE_ID, extack))
		return -EINVAL;
	flags = attrs[SNAPPER_A_CHECKPOINT_FLAGS] ?
		nla_get_u32(attrs[SNAPPER_A_CHECKPOINT_FLAGS]) : 0;
	if (flags & ~__SNAPPER_CKPT_F_ALL) {
		NL_SET_ERR_MSG_ATTR(extack, attrs[SNAPPER_A_CHECKPOINT_FLAGS],
				    "unknown checkpoint flags");
		return -EOPNOTSUPP;
	}
	task = find_target(attrs, cs->target, cs->sender, cs->privileged,
			   extack);
	if (IS_ERR(task))
		return PTR_ERR(task);
	mm = process_mm(task);
	if (!mm) {
		put_task_struct(task);
		NL_SET_ERR_MSG_MOD(extack, "the process has no memory");
		return -ESRCH;
	}
	cs->batch = flags & SNAPPER_CKPT_F_PAGE_BATCH;
	cs->s = snapper_session_get(mm, true);
	mmput(mm);
	if (IS_ERR(cs->s)) {
		ret = PTR_ERR(cs->s);
		cs->s = NULL;
		put_task_struct(task);
		return ret;
	}
	ret = claim(cs, attrs, flags, extack);
	if (ret) {
		put_task_struct(task);
		return ret;
	}
	cs->task = task;
	schedule_delayed_work(&cs->expire,
			      msecs_to_jiffies(snapper_params_stream_timeout_ms()));
	return 0;
}

/*
 * The collection (freeze, walk, copies: snapper_tracker_collect()), in the
 * second dumpit call, from the reader's recvmsg(): not under genetlink's
 * cb_lock, which the request and the first call hold (genl_rcv()), and
 * which a registering family waits for, with every other genetlink request
 * behind it. Return: 0, or -errno with an extack message.
 */
static int collect(struct ckpt_stream *cs, struct netlink_ext_ack *extack)
{
	struct snapper_session *s = cs->s;
	struct task_struct *task = cs->task;
	struct mm_struct *mm = process_mm(task);
	int ret = -ESRCH;

	cs->task = NULL;
	if (mm != s->mm) {
		NL_SET_ERR_MSG_MOD(extack,
				   "the process exited or exec'ed since the request");
		goto out;
	}
	/*
	 * The session is ours without its lock meanwhile (see session.h), so
	 * that an ACK of the target, taken under cb_lock, never waits for
	 * the collection: it answers -EBUSY instead.
	 */
	ret = mutex_lock_killable(&s->lock);
	if (ret)
		goto out;
	/* Preempted, it is cancelled once this dumpit lets go of cs->lock. */
	if (READ_ONCE(cs->preempted)) {
		mutex_unlock(&s->lock);
		ret = -ECANCELED;
		goto out;
	}
	WRITE_ONCE(s->collector, current);
	mutex_unlock(&s->lock);
	ret = snapper_tracker_collect(task, mm, s, &cs->snap, extack);
	mutex_lock(&s->lock);
	WRITE_ONCE(s->collector, NULL);
	mutex_unlock(&s->lock);
out:
	if (mm)
		mmput(mm);
	put_task_struct(task);
	if (!ret) {
		account(&cs->snap.stats);
		cs->chunk = cs->snap.head;
	}
	return ret;
}

/*
 * Only what must be taken in the sender's context, which start runs in
 * (a dumpit call may run in whoever reads the socket): whom the request
 * names, in the sender's pid namespace, who sends it, and with what
 * privilege. The rest waits for the first dumpit, which has an extack on
 * 6.1 too.
 */
static int checkpoint_start(struct netlink_callback *cb)
{
	struct ckpt_stream *cs = kzalloc(sizeof(*cs), GFP_KERNEL_ACCOUNT);
	struct nlattr **attrs = snapper_dump_attrs(cb);

	if (!cs)
		return -ENOMEM;
	if (attrs[SNAPPER_A_PID])
		cs->target = find_get_pid(nla_get_u32(attrs[SNAPPER_A_PID]));
	cs->sender = get_pid(task_tgid(current));
	cs->privileged = netlink_capable(cb->skb, CAP_SYS_ADMIN);
	cs->portid = NETLINK_CB(cb->skb).portid;
	mutex_init(&cs->lock);
	INIT_DELAYED_WORK(&cs->expire, expire);
	atomic_set(&cs->hashing, 1);
	init_completion(&cs->hashed);
	cb->args[0] = (long)cs;
	cb->min_dump_alloc = CKPT_MIN_DUMP_ALLOC;
	return 0;
}

static int put_header(struct sk_buff *skb, struct ckpt_stream *cs)
{
	return nla_put_u64_64bit(skb, SNAPPER_A_CHECKPOINT_ID, cs->snap.ckpt,
				 SNAPPER_A_PAD) ||
	       nla_put_u8(skb, SNAPPER_A_CHECKPOINT_MODE,
			  cs->snap.full ? SNAPPER_CKPT_MODE_FULL :
					  SNAPPER_CKPT_MODE_INCREMENTAL) ||
	       nla_put_u32(skb, SNAPPER_A_PAGE_SIZE, PAGE_SIZE);
}

static int put_vma(struct sk_buff *skb, const struct snapper_snap_vma *r)
{
	struct nlattr *nest = nla_nest_start(skb, SNAPPER_A_VMA);

	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(skb, SNAPPER_A_VMA_START, r->start,
			      SNAPPER_A_VMA_PAD) ||
	    nla_put_u64_64bit(skb, SNAPPER_A_VMA_END, r->end,
			      SNAPPER_A_VMA_PAD) ||
	    nla_put_u32(skb, SNAPPER_A_VMA_PROT, r->prot) ||
	    nla_put_u32(skb, SNAPPER_A_VMA_FLAGS, r->flags) ||
	    nla_put_u64_64bit(skb, SNAPPER_A_VMA_PGOFF, r->pgoff,
			      SNAPPER_A_VMA_PAD) ||
	    (r->path && nla_put_string(skb, SNAPPER_A_VMA_PATH, r->path))) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int put_vmas(struct sk_buff *skb, struct ckpt_stream *cs)
{
	unsigned int first = cs->vma;

	while (cs->vma < cs->snap.nr_vmas &&
	       !put_vma(skb, &cs->snap.vmas[cs->vma]))
		cs->vma++;
	return cs->vma == first ? -EMSGSIZE : 0;
}

static int put_page_msg(struct sk_buff *skb, struct snapper_snap_page *p)
{
	void *data;
	int ret;

	data = kmap_local_page(p->page);
	ret = nla_put_u64_64bit(skb, SNAPPER_A_PAGE_ADDR, p->addr & PAGE_MASK,
				SNAPPER_A_PAD) ||
	      nla_put(skb, SNAPPER_A_PAGE_DATA, PAGE_SIZE, data) ||
	      nla_put_u32(skb, SNAPPER_A_PAGE_FLAGS,
			  p->addr & __SNAPPER_PAGE_F_ALL);
	kunmap_local(data);
	return ret ? -EMSGSIZE : 0;
}

static int put_hole_msg(struct sk_buff *skb, struct snapper_snap_page *p)
{
	struct nlattr *nest = nla_nest_start(skb, SNAPPER_A_HOLE);

	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(skb, SNAPPER_A_HOLE_START, p->addr & PAGE_MASK,
			      SNAPPER_A_HOLE_PAD) ||
	    nla_put_u64_64bit(skb, SNAPPER_A_HOLE_END, p->hole_end,
			      SNAPPER_A_HOLE_PAD) ||
	    ((p->addr & SNAP_FILE) && nla_put_flag(skb, SNAPPER_A_HOLE_FILE))) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int put_stats(struct sk_buff *skb, const struct snapper_snap_stats *st)
{
	struct nlattr *nest = nla_nest_start(skb, SNAPPER_A_STATS);

	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(skb, SNAPPER_A_STATS_SCANNED, st->scanned,
			      SNAPPER_A_STATS_PAD) ||
	    nla_put_u64_64bit(skb, SNAPPER_A_STATS_SENT, st->sent,
			      SNAPPER_A_STATS_PAD) ||
	    nla_put_u64_64bit(skb, SNAPPER_A_STATS_THP, st->thp,
			      SNAPPER_A_STATS_PAD) ||
	    nla_put_u64_64bit(skb, SNAPPER_A_STATS_SWAP, st->swap,
			      SNAPPER_A_STATS_PAD) ||
	    nla_put_u64_64bit(skb, SNAPPER_A_STATS_VMA_SOFTDIRTY,
			      st->vma_softdirty, SNAPPER_A_STATS_PAD) ||
	    nla_put_u64_64bit(skb, SNAPPER_A_STATS_FREEZE_US, st->freeze_us,
			      SNAPPER_A_STATS_PAD) ||
	    nla_put_u64_64bit(skb, SNAPPER_A_STATS_WALK_US, st->walk_us,
			      SNAPPER_A_STATS_PAD) ||
	    nla_put_u64_64bit(skb, SNAPPER_A_STATS_COPIED, st->copied,
			      SNAPPER_A_STATS_PAD) ||
	    nla_put_u32(skb, SNAPPER_A_STATS_THREADS, st->threads) ||
	    nla_put_u64_64bit(skb, SNAPPER_A_STATS_THP_UNCHANGED,
			      st->thp_unchanged, SNAPPER_A_STATS_PAD) ||
	    nla_put_u64_64bit(skb, SNAPPER_A_STATS_HOLE_PAGES, st->hole_pages,
			      SNAPPER_A_STATS_PAD)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

/* The next page to send, or NULL when all are sent. */
static struct snapper_snap_page *next_page(struct ckpt_stream *cs)
{
	while (cs->chunk && cs->page == cs->chunk->nr) {
		cs->chunk = cs->chunk->next;
		cs->page = 0;
	}
	return cs->chunk ? &cs->chunk->pages[cs->page] : NULL;
}

/*
 * A subpage of a dirty huge page, or a KSM page (tracker.c), whose content
 * is that of the base generation need not be sent (see session.c).
 */
static bool thp_unchanged(struct ckpt_stream *cs, struct snapper_snap_page *p)
{
	/* Base 0 records the hash but never skips: for SNAP_WHOLE pages. */
	u64 base = p->addr & SNAP_WHOLE ? 0 : cs->snap.base_ckpt;
	void *data;
	bool same;

	if (!(p->addr & (SNAPPER_PAGE_F_THP | SNAP_HASHED)))
		return false;
	if (!base && hash_later(cs, p))
		return false;
	data = kmap_local_page(p->page);
	same = snapper_session_thp_unchanged(cs->s, p->addr & PAGE_MASK, data,
					     cs->snap.ckpt, base);
	kunmap_local(data);
	return same;
}

/* Leaves out a page thp_unchanged() finds unchanged, and counts it. */
static bool skip_unchanged(struct ckpt_stream *cs, struct snapper_snap_page *p)
{
	if (!thp_unchanged(cs, p))
		return false;
	snapper_snap_page_release(p);
	cs->snap.stats.thp_unchanged++;
	snapper_stats_add(SNAPPER_STAT_PAGES_THP_UNCHANGED, 1);
	return true;
}

/*
 * Pages of one SNAPPER_CKPT_F_PAGE_BATCH message: each is a fragment of
 * the skb, and SNAPPER_A_PAGE_DATA's length is a u16.
 */
#define CKPT_BATCH	min_t(unsigned int, SNAPPER_PAGE_BATCH_MAX, MAX_SKB_FRAGS)
#define CKPT_BATCH_HEAD	(NLMSG_HDRLEN + GENL_HDRLEN + \
			 nla_total_size(SNAPPER_PAGE_BATCH_MAX * sizeof(u64)) + \
			 NLA_HDRLEN)

/*
 * Puts up to CKPT_BATCH pages in one message (SNAPPER_CKPT_F_PAGE_BATCH),
 * alone in its skb. The pages are not copied: each becomes a fragment of
 * the skb, which takes over the stream's reference, and the reader's
 * recvmsg() copies them out (the only copy between a held page and the
 * reader; the other message kinds copy their bytes into the skb). A held
 * page's content stays that of the instant however long the skb waits:
 * the target, or anyone writing through its page table, gets a copy of
 * it (tracker.c). The fragments come after the skb's linear bytes: the
 * message starts the skb, its data is its last attribute, and nothing
 * follows it in this skb. netlink_dump() charged the skb's head to the
 * socket (sk_rmem_alloc, undone by the destructor by skb->truesize): the
 * fragments are charged the same way, so that the socket's receive
 * buffer bounds the pages in queued skbs as it bounds copies.
 *
 * Return: -EMSGSIZE once the skb holds the batch or holds something else
 * already, 0 when no page is next (a hole, or the end).
 */
static int put_page_batch(struct sk_buff *skb, struct netlink_callback *cb,
			  struct ckpt_stream *cs)
{
	struct snapper_snap_page *batch[SNAPPER_PAGE_BATCH_MAX];
	struct snapper_snap_page *p;
	struct nlmsghdr *nlh;
	struct nlattr *data;
	unsigned int n = 0, i;
	unsigned int bytes;
	__u64 *addrs;

	BUILD_BUG_ON(NLA_HDRLEN + SNAPPER_PAGE_BATCH_MAX * PAGE_SIZE > U16_MAX);
	if (skb->len || skb_shinfo(skb)->nr_frags)
		return -EMSGSIZE;
	/* Checked before any page is taken: none may be lost. */
	if (WARN_ON_ONCE(skb_tailroom(skb) < CKPT_BATCH_HEAD || !skb->sk))
		return -ENOBUFS;
	while (n < CKPT_BATCH && (p = next_page(cs)) &&
	       !(p->addr & SNAP_HOLE)) {
		cs->page++;
		if (!skip_unchanged(cs, p))
			batch[n++] = p;
	}
	if (!n)
		return 0;

	/* The message starts the skb: its header is at skb->data. */
	nlh = (struct nlmsghdr *)skb->data;
	genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
		    &snapper_family, NLM_F_MULTI, SNAPPER_CMD_CHECKPOINT);
	addrs = nla_data(__nla_reserve(skb, SNAPPER_A_PAGE_ADDRS,
				       n * sizeof(u64)));
	data = __nla_reserve(skb, SNAPPER_A_PAGE_DATA, 0);
	data->nla_len = NLA_HDRLEN + n * PAGE_SIZE;
	for (i = 0; i < n; i++) {
		p = batch[i];
		addrs[i] = (p->addr & PAGE_MASK) |
			   (p->addr & __SNAPPER_PAGE_F_ALL);
		/*
		 * _noacc: a user page's lru field says nothing of the
		 * pfmemalloc reserves, and an skb taken for pfmemalloc is
		 * dropped by sk_filter(): the stream would lose its pages.
		 */
		skb_fill_page_desc_noacc(skb, i, p->page, 0, PAGE_SIZE);
		/* The skb's reference now: put when it is freed. */
		p->page = NULL;
		snapper_stats_add(SNAPPER_STAT_PAGES_HELD, -1);
	}
	bytes = n * PAGE_SIZE;
	skb->len += bytes;
	skb->data_len += bytes;
	skb->truesize += bytes;
	atomic_add(bytes, &skb->sk->sk_rmem_alloc);
	sk_mem_charge(skb->sk, bytes);
	nlh->nlmsg_len = skb->len;
	cs->snap.stats.sent += n;
	snapper_stats_add(SNAPPER_STAT_PAGES_SENT, n);
	return -EMSGSIZE;
}

/* Puts one message; Return: 0, or -EMSGSIZE when the skb is full. */
static int put_one(struct sk_buff *skb, struct netlink_callback *cb,
		   struct ckpt_stream *cs)
{
	struct snapper_snap_page *p = NULL;
	void *hdr;
	int ret;

	if (cs->state == ST_PAGES) {
		p = next_page(cs);
		if (!p) {
			hash_drain(cs);
			cs->state = ST_STATS;
			return 0;
		}
		if (cs->batch && !(p->addr & SNAP_HOLE))
			return put_page_batch(skb, cb, cs);
		if (skip_unchanged(cs, p)) {
			cs->page++;
			return 0;
		}
	}
	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &snapper_family, NLM_F_MULTI, SNAPPER_CMD_CHECKPOINT);
	if (!hdr)
		return -EMSGSIZE;
	switch (cs->state) {
	case ST_HEADER:
		ret = put_header(skb, cs) ? -EMSGSIZE : 0;
		break;
	case ST_VMAS:
		ret = put_vmas(skb, cs);
		break;
	case ST_PAGES:
		ret = p->addr & SNAP_HOLE ? put_hole_msg(skb, p) :
					    put_page_msg(skb, p);
		break;
	default:
		ret = put_stats(skb, &cs->snap.stats);
		break;
	}
	if (ret) {
		genlmsg_cancel(skb, hdr);
		return ret;
	}
	genlmsg_end(skb, hdr);
	if (cs->state == ST_HEADER) {
		cs->state = ST_COLLECT;
	} else if (cs->state == ST_VMAS && cs->vma == cs->snap.nr_vmas) {
		cs->state = ST_PAGES;
	} else if (cs->state == ST_PAGES && (p->addr & SNAP_HOLE)) {
		cs->page++;
	} else if (cs->state == ST_PAGES) {
		/* The skb has the bytes now: let the page go early. */
		snapper_snap_page_release(p);
		cs->page++;
		cs->snap.stats.sent++;
		snapper_stats_add(SNAPPER_STAT_PAGES_SENT, 1);
	} else if (cs->state == ST_STATS) {
		cs->state = ST_DONE;
	}
	return 0;
}

static int checkpoint_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct ckpt_stream *cs = (struct ckpt_stream *)cb->args[0];
	int ret;

	mutex_lock(&cs->lock);
	ret = cs->cancelled;
	if (ret)
		goto out;
	if (cs->state == ST_OPEN || cs->state == ST_COLLECT) {
		ret = cs->state == ST_OPEN ? open_stream(cb, cs) :
					     collect(cs, cb->extack);
		if (ret)
			goto out;
		cs->state++;
	}
	/* The header alone in the first skb: see collect(). */
	while (cs->state != ST_DONE && cs->state != ST_COLLECT) {
		if (put_one(skb, cb, cs))
			break;
	}
	/* Never 0 before ST_DONE: an empty skb would end the dump early. */
	ret = !skb->len && cs->state != ST_DONE ? -EMSGSIZE : skb->len;
out:
	mutex_unlock(&cs->lock);
	return ret;
}

static int checkpoint_done(struct netlink_callback *cb)
{
	struct ckpt_stream *cs = (struct ckpt_stream *)cb->args[0];

	if (!cs)
		return 0;
	/* Before the detach: no hash may land after another stream's. */
	mutex_lock(&cs->lock);
	hash_drain(cs);
	mutex_unlock(&cs->lock);
	/* Detached first, so that no preempting checkpoint queues it again. */
	if (cs->s)
		detach(cs);
	cancel_delayed_work_sync(&cs->expire);
	snapper_snapshot_release(&cs->snap);
	if (cs->s)
		snapper_session_put(cs->s);
	if (cs->task)
		put_task_struct(cs->task);
	put_pid(cs->target);
	put_pid(cs->sender);
	kfree(cs);
	/* The target may have died meanwhile: free what it left. */
	snapper_session_sweep();
	return 0;
}

static int ack_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct snapper_session *s = NULL;
	struct task_struct *task;
	struct pid *pid;
	struct mm_struct *mm;
	u64 ckpt;
	int ret;

	if (!require(attrs, SNAPPER_A_PID, info->extack) ||
	    !require(attrs, SNAPPER_A_STORE_ID, info->extack) ||
	    !require(attrs, SNAPPER_A_CHECKPOINT_ID, info->extack) ||
	    !require(attrs, SNAPPER_A_GENERATION, info->extack))
		return -EINVAL;
	pid = find_get_pid(nla_get_u32(attrs[SNAPPER_A_PID]));
	task = find_target(attrs, pid, task_tgid(current),
			   netlink_capable(skb, CAP_SYS_ADMIN), info->extack);
	put_pid(pid);
	if (IS_ERR(task))
		return PTR_ERR(task);
	mm = process_mm(task);
	put_task_struct(task);
	if (mm) {
		s = snapper_session_get(mm, false);
		mmput(mm);
	}
	if (!s) {
		NL_SET_ERR_MSG_MOD(info->extack,
				   "this process has no checkpoint to acknowledge");
		return -ESRCH;
	}
	ckpt = nla_get_u64(attrs[SNAPPER_A_CHECKPOINT_ID]);
	if (mutex_lock_killable(&s->lock)) {
		snapper_session_put(s);
		return -EINTR;
	}
	if (!snapper_session_may_ack(s, ckpt, NETLINK_CB(skb).portid,
				     netlink_capable(skb, CAP_SYS_ADMIN))) {
		NL_SET_ERR_MSG_MOD(info->extack,
				   "only the socket that read a checkpoint may acknowledge it");
		ret = -EPERM;
		goto out_unlock;
	}
	/* See collect(): the session is not ours to change now. */
	if (s->collector) {
		NL_SET_ERR_MSG_MOD(info->extack,
				   "a checkpoint of this process is being taken: ask again");
		ret = -EBUSY;
		goto out_unlock;
	}
	ret = snapper_session_ack(s, nla_get_u64(attrs[SNAPPER_A_STORE_ID]),
				  ckpt, nla_get_u64(attrs[SNAPPER_A_GENERATION]));
	if (ret)
		NL_SET_ERR_MSG_MOD(info->extack,
				   "not a recent unacknowledged checkpoint of this store and process");
out_unlock:
	mutex_unlock(&s->lock);
	snapper_session_put(s);
	return ret;
}

static const struct genl_ops snapper_ops[] = {
	{
		.cmd = SNAPPER_CMD_CHECKPOINT,
		.start = checkpoint_start,
		.dumpit = checkpoint_dumpit,
		.done = checkpoint_done,
	},
	{
		.cmd = SNAPPER_CMD_ACK,
		.doit = ack_doit,
	},
};

static const struct genl_small_ops snapper_small_ops[] = {
	{
		.cmd = SNAPPER_CMD_GET_CONFIG,
		.doit = get_config_doit,
	},
};

static struct genl_family snapper_family __ro_after_init = {
	.name = SNAPPER_GENL_NAME,
	.version = SNAPPER_GENL_VERSION,
	.maxattr = SNAPPER_A_MAX,
	.policy = snapper_policy,
	.netnsok = true,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.ops = snapper_ops,
	.n_ops = ARRAY_SIZE(snapper_ops),
	.small_ops = snapper_small_ops,
	.n_small_ops = ARRAY_SIZE(snapper_small_ops),
	.resv_start_op = SNAPPER_CMD_GET_CONFIG,
};

int __init snapper_netlink_init(void)
{
	int ret;

	hasher = kthread_create_worker(0, "snapper_hash");
	if (IS_ERR(hasher))
		return PTR_ERR(hasher);
	/* Background work, as the tool's writer thread is (tools/pageq.c). */
	set_user_nice(hasher->task, HASHER_NICE);
	ret = genl_register_family(&snapper_family);
	if (ret)
		kthread_destroy_worker(hasher);
	return ret;
}

void snapper_netlink_uninit(void)
{
	genl_unregister_family(&snapper_family);
	/* Every stream drained its batches; the worker may still return. */
	kthread_destroy_worker(hasher);
}

#ifdef SNAPPER_KUNIT
#include "tests/netlink-kunit.h"
#endif
