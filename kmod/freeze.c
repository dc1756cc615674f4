// SPDX-License-Identifier: GPL-2.0
/*
 * Keeps every thread of a process out of user mode for the length of a
 * page walk, without the process noticing.
 *
 * Each thread gets a task work queued with TWA_RESUME and a kick_process():
 * a thread running user code is interrupted and, on its way back to user
 * mode, runs the work, which sleeps (killable) until the thaw. A thread that
 * is asleep in the kernel keeps sleeping; it cannot run user code without
 * passing the exit-to-user path, which runs the work first. The freeze is
 * complete when every thread is parked in the work or not running.
 *
 * Why not the alternatives: SIGSTOP is visible to the parent (waitpid
 * WUNTRACED, SIGCHLD) and to the process; TWA_SIGNAL sets TIF_NOTIFY_SIGNAL,
 * which makes interruptible sleeps such as epoll_wait() return -EINTR to
 * the target; the cgroup freezer is not exported to modules.
 *
 * Limits, also in Documentation/tracking.rst:
 *  - a thread asleep in a system call at the freeze may wake during the
 *    walk and write user memory from the kernel (read() filling a buffer):
 *    such a write may be seen by the snapshot in part. Its user code sees
 *    the result only after the thaw.
 *  - a clone() that slept at the freeze and completes during the walk gives
 *    a thread that the freeze did not cover; threads found before the walk
 *    are covered by rescanning until no new one appears.
 *  - processes sharing the mm without sharing the thread group (vfork()
 *    children before exec, CLONE_VM) are not frozen.
 *  - task_work_cancel() is not exported: a work queued on a thread that
 *    slept through the checkpoint runs when that thread next returns to
 *    user mode, sees the thaw and returns at once. Each queued work holds
 *    a module reference, so the module cannot be unloaded before.
 *
 * The work's last act is to drop its module reference, and it still
 * returns through this module's text after that: an rmmod may begin right
 * then. snapper_freeze_uninit(), last in module exit, waits for a Tasks
 * RCU grace period, which ends only once every task has switched out
 * voluntarily, run in user mode or been idle; a thread preempted in the
 * work's epilogue counts as none of these, so the text outlives it.
 *
 * Lock order: none is held across the wait; rounds are reference counted
 * (one reference for the freezer, one per queued work).
 */
#include <linux/bsearch.h>
#include <linux/kref.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/task_work.h>
#include <linux/wait.h>

#include "freeze.h"

/*
 * Without CONFIG_TASKS_RCU, synchronize_rcu_tasks() is synchronize_rcu():
 * enough where the kernel cannot be preempted (a CPU then reaches a
 * quiescent state only after the work has returned), not otherwise, where
 * a thread preempted in the work's epilogue would not hold it back.
 */
#if defined(CONFIG_PREEMPTION) && !defined(CONFIG_TASKS_RCU)
#error "snapper needs CONFIG_TASKS_RCU on a preemptible kernel to unload safely"
#endif

/*
 * Longest a running thread may take to reach the exit-to-user path: it may
 * have to wait for a CPU behind many others (64 spinning threads on two
 * emulated CPUs with KASAN take over a second).
 */
#define FREEZE_TIMEOUT		(5 * HZ)
#define FREEZE_SLACK		16

struct park_slot {
	struct callback_head work;
	struct task_struct *task;	/* reference held until the thaw */
	struct freeze_round *round;
	bool queued;
	bool parked;			/* set by the thread, read by the freezer */
};

/* The threads queued in one scan of the thread group. */
struct freeze_round {
	struct kref ref;
	bool thawed;
	wait_queue_head_t thaw_wq;	/* parked threads sleep here */
	wait_queue_head_t park_wq;	/* the freezer sleeps here */
	struct freeze_round *next;
	unsigned int nr;
	struct park_slot slots[];
};

struct snapper_freeze {
	struct freeze_round *rounds;
	struct task_struct **known;	/* sorted, every task in a round */
	unsigned int nr_known;
};

static void round_release(struct kref *ref)
{
	kfree(container_of(ref, struct freeze_round, ref));
}

static void park(struct callback_head *work)
{
	struct park_slot *slot = container_of(work, struct park_slot, work);
	struct freeze_round *round = slot->round;

	if (!READ_ONCE(round->thawed)) {
		WRITE_ONCE(slot->parked, true);
		wake_up(&round->park_wq);
		/* A fatal signal lets the thread go: it dies in the kernel. */
		wait_event_killable(round->thaw_wq, READ_ONCE(round->thawed));
	}
	kref_put(&round->ref, round_release);
	/* Last: the return from here is covered by snapper_freeze_uninit(). */
	module_put(THIS_MODULE);
}

static int cmp_ptr(const void *a, const void *b)
{
	unsigned long x = *(unsigned long *)a, y = *(unsigned long *)b;

	return x < y ? -1 : x > y;
}

static bool is_known(struct snapper_freeze *f, struct task_struct *t)
{
	return f->nr_known && bsearch(&t, f->known, f->nr_known,
				      sizeof(t), cmp_ptr);
}

static bool wants_slot(struct snapper_freeze *f, struct task_struct *t)
{
	return t != current && !(t->flags & PF_EXITING) && !is_known(f, t);
}

/* Threads of @leader's group not yet in a round. */
static unsigned int count_new(struct snapper_freeze *f,
			      struct task_struct *leader, u32 *total)
{
	struct task_struct *t;
	unsigned int n = 0;

	*total = 0;
	rcu_read_lock();
	for_each_thread(leader, t) {
		(*total)++;
		if (wants_slot(f, t))
			n++;
	}
	rcu_read_unlock();
	return n;
}

static struct freeze_round *fill_round(struct snapper_freeze *f,
				       struct task_struct *leader,
				       unsigned int cap)
{
	struct freeze_round *round;
	struct task_struct *t;

	round = kzalloc(struct_size(round, slots, cap), GFP_KERNEL);
	if (!round)
		return NULL;
	kref_init(&round->ref);
	init_waitqueue_head(&round->thaw_wq);
	init_waitqueue_head(&round->park_wq);
	rcu_read_lock();
	for_each_thread(leader, t) {
		if (round->nr == cap)
			break;
		if (!wants_slot(f, t))
			continue;
		get_task_struct(t);
		round->slots[round->nr].task = t;
		round->slots[round->nr].round = round;
		round->nr++;
	}
	rcu_read_unlock();
	return round;
}

static void queue_round(struct freeze_round *round)
{
	unsigned int i;

	for (i = 0; i < round->nr; i++) {
		struct park_slot *slot = &round->slots[i];

		kref_get(&round->ref);
		__module_get(THIS_MODULE);
		init_task_work(&slot->work, park);
		if (task_work_add(slot->task, &slot->work, TWA_RESUME)) {
			/* Exiting: it will never run user code again. */
			kref_put(&round->ref, round_release);
			module_put(THIS_MODULE);
			continue;
		}
		slot->queued = true;
		kick_process(slot->task);
	}
}

static bool round_quiet(struct freeze_round *round)
{
	unsigned int i;

	for (i = 0; i < round->nr; i++) {
		struct park_slot *slot = &round->slots[i];

		if (slot->queued && !READ_ONCE(slot->parked) &&
		    task_is_running(slot->task))
			return false;
	}
	return true;
}

static int wait_round(struct freeze_round *round)
{
	unsigned long deadline = jiffies + FREEZE_TIMEOUT;

	/* A thread going to sleep wakes nobody: poll every jiffy as well. */
	while (!round_quiet(round)) {
		if (time_after(jiffies, deadline))
			return -EBUSY;
		if (fatal_signal_pending(current))
			return -EINTR;
		wait_event_killable_timeout(round->park_wq, round_quiet(round), 1);
	}
	return 0;
}

static int add_known(struct snapper_freeze *f, struct freeze_round *round)
{
	struct task_struct **known;
	unsigned int i;

	known = krealloc_array(f->known, f->nr_known + round->nr,
			       sizeof(*known), GFP_KERNEL);
	if (!known)
		return -ENOMEM;
	for (i = 0; i < round->nr; i++)
		known[f->nr_known++] = round->slots[i].task;
	f->known = known;
	sort(f->known, f->nr_known, sizeof(*known), cmp_ptr, NULL);
	return 0;
}

/**
 * snapper_freeze_start() - keep every thread of a process out of user mode
 * @leader: any thread of the process
 * @nr_threads: set to the number of threads in the group
 *
 * The calling thread is never frozen, so a process may freeze itself. Sleeps
 * until each thread is parked or asleep in the kernel; the caller must
 * call snapper_freeze_thaw() soon, and hold no lock meanwhile that a
 * thread on its way to user mode might need.
 *
 * Return: the freeze, or ERR_PTR(-ENOMEM), ERR_PTR(-EINTR) if the caller
 * got a fatal signal, ERR_PTR(-EBUSY) if a thread stayed running in the
 * kernel for FREEZE_TIMEOUT.
 */
struct snapper_freeze *snapper_freeze_start(struct task_struct *leader,
					    u32 *nr_threads)
{
	struct snapper_freeze *f;
	struct freeze_round *round;
	unsigned int n;
	int ret;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return ERR_PTR(-ENOMEM);
	/* Rescan until no thread is new: clone() may run in a parking thread. */
	while ((n = count_new(f, leader, nr_threads))) {
		round = fill_round(f, leader, n + FREEZE_SLACK);
		if (!round) {
			ret = -ENOMEM;
			goto err_thaw;
		}
		round->next = f->rounds;
		f->rounds = round;
		queue_round(round);
		ret = add_known(f, round);
		if (ret)
			goto err_thaw;
		ret = wait_round(round);
		if (ret)
			goto err_thaw;
	}
	return f;

err_thaw:
	snapper_freeze_thaw(f);
	return ERR_PTR(ret);
}

/**
 * snapper_freeze_thaw() - let the threads of a freeze return to user mode
 * @f: from snapper_freeze_start()
 *
 * Wakes every parked thread and frees @f.
 */
void snapper_freeze_thaw(struct snapper_freeze *f)
{
	struct freeze_round *round, *next;
	unsigned int i;

	for (round = f->rounds; round; round = next) {
		next = round->next;
		WRITE_ONCE(round->thawed, true);
		wake_up_all(&round->thaw_wq);
		for (i = 0; i < round->nr; i++)
			put_task_struct(round->slots[i].task);
		kref_put(&round->ref, round_release);
	}
	kfree(f->known);
	kfree(f);
}

/**
 * snapper_freeze_uninit() - wait until no thread runs in a parking work
 *
 * Called last at module exit, when no work holds a module reference any
 * more: a thread may still be between park()'s module_put() and its
 * return. It is either running there or preempted there, and so has not
 * passed a Tasks RCU quiescent state since; once a grace period has
 * elapsed, every such thread has left the module's text.
 */
void snapper_freeze_uninit(void)
{
	synchronize_rcu_tasks();
}
