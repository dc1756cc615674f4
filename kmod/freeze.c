// SPDX-License-Identifier: GPL-2.0
/*
 * Keeps every thread that runs on a process's mm out of user mode for the
 * length of a page walk, without the process noticing: the threads of the
 * process, and those of any other process that shares the mm without
 * sharing the thread group (clone(CLONE_VM) without CLONE_THREAD: vfork()
 * and posix_spawn() children before their exec), which would otherwise
 * write the memory while it is walked.
 *
 * Each thread gets a task work queued with TWA_RESUME and a kick_process():
 * a thread running user code is interrupted and, on its way back to user
 * mode, runs the work, which sleeps (killable) until the thaw. A thread that
 * is asleep in the kernel keeps sleeping; it cannot run user code without
 * passing the exit-to-user path, which runs the work first. The freeze is
 * complete when every thread is parked in the work, or asleep off its CPU.
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
 *  - a clone() that slept at the freeze (in copy_process(), a seccomp or
 *    ptrace stop) and completes during the walk gives a task on the mm
 *    that has no work queued and runs user code at once. It cannot be
 *    stopped (no hook on a new task is exported), so it is detected: the
 *    freeze notes each thread asleep in a clone() that may share the mm
 *    and how often it had been switched out, and snapper_freeze_check()
 *    fails the checkpoint if one has run since. Threads created before
 *    the freeze completes are found by rescanning until none is new.
 *  - a process that shares the mm is found only if the mm has more users
 *    than the target's threads account for (each task on the mm holds
 *    one), and then by a scan of every process. A kernel thread that
 *    borrows the mm (kthread_use_mm(): vhost on 6.1, USB gadget AIO), and
 *    a vhost worker in the target's group (6.4 and later), write it from
 *    the kernel, as a system call does, and are not frozen.
 *  - task_work_cancel() is not exported: a work queued on a thread that
 *    slept through the checkpoint runs when that thread next returns to
 *    user mode (or exits), sees the thaw and returns at once. Each queued
 *    work holds a module reference, so the module cannot be unloaded
 *    before. A thread has at most one such work whatever the number of
 *    checkpoints: a later freeze finds the pending one (park_slots) and
 *    takes it over instead of queueing another, so a thread that never
 *    returns to user mode (a main thread in pthread_join()) pins one small
 *    slot and one module reference, not one per checkpoint.
 *
 * The work's last act is to drop its module reference, and it still
 * returns through this module's text after that: an rmmod may begin right
 * then. snapper_freeze_uninit(), last in module exit, waits for a Tasks
 * RCU grace period, which ends only once every task has switched out
 * voluntarily, run in user mode or been idle; a thread preempted in the
 * work's epilogue counts as none of these, so the text outlives it.
 *
 * Lock order: slots_lock is innermost and never held across a sleep. A
 * slot is reference counted (its pending work, the freeze that claims it);
 * so is the freeze's shared state (the freezer, each parked thread).
 */
#include "compat.h"

#include <linux/bsearch.h>
#include <linux/hashtable.h>
#include <linux/kref.h>
#include <linux/mm_types.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched/signal.h>
#include <linux/sched/task_stack.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/spinlock.h>
#include <linux/task_work.h>
#include <linux/wait.h>
#include <asm/syscall.h>
#include <asm/unistd.h>
#include <uapi/linux/audit.h>

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

/* What the parked threads of one freeze wait on. */
struct freeze_state {
	struct kref ref;
	bool thawed;
	wait_queue_head_t thaw_wq;	/* parked threads sleep here */
	wait_queue_head_t park_wq;	/* the freezer sleeps here */
};

/* One pending task work of one thread, in park_slots until it runs. */
struct park_slot {
	struct callback_head work;
	struct hlist_node node;
	struct task_struct *task;	/* the key; the work runs before it dies */
	struct freeze_state *st;	/* who wants it parked; slots_lock */
	refcount_t ref;
	bool parked;			/* set by the thread, read by the freezer */
};

struct frozen {
	struct task_struct *task;	/* referenced until the thaw */
	struct park_slot *slot;		/* referenced, or NULL: exiting */
	bool cloning;			/* asleep in clone() at the freeze */
	unsigned long switches;		/* then: times switched out */
};

struct snapper_freeze {
	struct task_struct *leader;	/* a thread of the target */
	struct mm_struct *mm;		/* its mm */
	struct freeze_state *st;
	struct frozen *known;		/* sorted by task */
	unsigned int nr_known;
};

static DEFINE_SPINLOCK(slots_lock);
static DEFINE_HASHTABLE(park_slots, 6);

static void state_release(struct kref *ref)
{
	kfree(container_of(ref, struct freeze_state, ref));
}

static void slot_put(struct park_slot *slot)
{
	if (refcount_dec_and_test(&slot->ref))
		kfree(slot);
}

static struct park_slot *find_slot(struct task_struct *t)
{
	struct park_slot *slot;

	lockdep_assert_held(&slots_lock);
	hash_for_each_possible(park_slots, slot, node, (unsigned long)t)
		if (slot->task == t)
			return slot;
	return NULL;
}

static void park(struct callback_head *work)
{
	struct park_slot *slot = container_of(work, struct park_slot, work);
	struct freeze_state *st;

	spin_lock(&slots_lock);
	hash_del(&slot->node);
	st = slot->st;
	if (st)
		kref_get(&st->ref);
	spin_unlock(&slots_lock);
	/* An exiting thread runs no user code again: no need to wait. */
	if (st && !READ_ONCE(st->thawed) && !(current->flags & PF_EXITING)) {
		WRITE_ONCE(slot->parked, true);
		wake_up(&st->park_wq);
		/* A fatal signal lets the thread go: it dies in the kernel. */
		wait_event_killable(st->thaw_wq, READ_ONCE(st->thawed));
	}
	if (st)
		kref_put(&st->ref, state_release);
	slot_put(slot);
	/* Last: the return from here is covered by snapper_freeze_uninit(). */
	module_put(THIS_MODULE);
}

static int cmp_task(const void *a, const void *b)
{
	unsigned long x = (unsigned long)((const struct frozen *)a)->task;
	unsigned long y = (unsigned long)((const struct frozen *)b)->task;

	return x < y ? -1 : x > y;
}

static bool is_known(struct snapper_freeze *f, struct task_struct *t)
{
	struct frozen key = { .task = t };

	return f->nr_known && bsearch(&key, f->known, f->nr_known,
				      sizeof(key), cmp_task);
}

/*
 * Whether @t never returns to user mode and runs task work only when a
 * signal is pending: a vhost worker (6.4 and later: PF_USER_WORKER, and
 * not PF_IO_WORKER, whose loop runs task work). A work queued on it would
 * run only at its exit, and a busy one would never count as quiet. It
 * writes the memory from the kernel, as a system call does.
 */
static bool never_parks(struct task_struct *t)
{
#ifdef PF_USER_WORKER
	return (READ_ONCE(t->flags) & (PF_USER_WORKER | PF_IO_WORKER)) ==
	       PF_USER_WORKER;
#else
	return false;
#endif
}

static bool wants_slot(struct snapper_freeze *f, struct task_struct *t)
{
	return t != current && !(t->flags & PF_EXITING) && !is_known(f, t);
}

/*
 * Whether @p, another process than the target, runs on @mm. Its threads
 * share one mm: the first that still has one (an exiting thread drops it)
 * answers for all.
 */
static bool runs_on(struct task_struct *p, struct mm_struct *mm)
{
	struct task_struct *t;

	for_each_thread(p, t) {
		struct mm_struct *tm = READ_ONCE(t->mm);

		if (tm)
			return tm == mm;
	}
	return false;
}

/*
 * One pass over the threads that run on the target's mm: counts them in
 * @total and those not yet frozen in @n; with @add, also appends up to
 * @cap of the latter to @f->known (referenced, slots not yet).
 */
struct scan {
	bool add;
	unsigned int cap;
	unsigned int n;
	u32 total;
};

static bool scan_one(struct snapper_freeze *f, struct scan *sc,
		     struct task_struct *t)
{
	if (never_parks(t))
		return true;
	sc->total++;
	if (!wants_slot(f, t))
		return true;
	if (sc->add) {
		if (sc->n == sc->cap)
			return false;
		get_task_struct(t);
		f->known[f->nr_known + sc->n].task = t;
		f->known[f->nr_known + sc->n].slot = NULL;
	}
	sc->n++;
	return true;
}

/*
 * The target's group first. Every task on the mm holds a user reference
 * (mmget() in copy_mm(), mmput() after exit_mm() clears its ->mm), and so
 * does the caller: more users than that means another process may share
 * the mm, or someone holds it for a moment (a /proc reader); only then
 * are all processes looked at. The users are read before the group's
 * threads are counted and after: a thread counted that exits before the
 * second read, or one made after the first, makes one read alone too low.
 * A kernel thread is left out: it never returns to user mode, where the
 * freeze parks threads.
 */
static void scan(struct snapper_freeze *f, struct scan *sc)
{
	int on_mm = 0, users = atomic_read(&f->mm->mm_users);
	struct task_struct *p, *t;

	rcu_read_lock();
	for_each_thread(f->leader, t) {
		on_mm += READ_ONCE(t->mm) == f->mm;
		if (!scan_one(f, sc, t))
			goto out;
	}
	users = max(users, atomic_read(&f->mm->mm_users));
	if (users <= on_mm + 1)
		goto out;
	for_each_process(p) {
		if (same_thread_group(p, f->leader) || (p->flags & PF_KTHREAD) ||
		    !runs_on(p, f->mm))
			continue;
		for_each_thread(p, t)
			if (!scan_one(f, sc, t))
				goto out;
	}
out:
	rcu_read_unlock();
}

/* Threads on the mm not yet frozen; all of them in @total. */
static unsigned int count_new(struct snapper_freeze *f, u32 *total)
{
	struct scan sc = { };

	scan(f, &sc);
	*total = sc.total;
	return sc.n;
}

/* Adds up to @cap new threads to @f->known, referenced, slots not yet. */
static int add_new(struct snapper_freeze *f, unsigned int cap,
		   unsigned int *first)
{
	struct scan sc = { .add = true, .cap = cap };
	struct frozen *known;

	known = krealloc_array(f->known, f->nr_known + cap, sizeof(*known),
			       GFP_KERNEL);
	if (!known)
		return -ENOMEM;
	f->known = known;
	*first = f->nr_known;
	scan(f, &sc);
	f->nr_known += sc.n;
	return 0;
}

/*
 * Claims the pending work of @t for @st, or queues @spare as a new one.
 * Return: 0 with *@used set if @spare was taken, -EBUSY if another freeze
 * holds the thread, or 0 with no slot for an exiting thread.
 */
static int claim(struct freeze_state *st, struct frozen *fz,
		 struct park_slot *spare, bool *used)
{
	struct park_slot *slot;
	int ret = 0;

	*used = false;
	spin_lock(&slots_lock);
	slot = find_slot(fz->task);
	if (slot) {
		if (slot->st) {
			ret = -EBUSY;
			goto out;
		}
		slot->st = st;
		refcount_inc(&slot->ref);
		fz->slot = slot;
		goto out;
	}
	slot = spare;
	slot->task = fz->task;
	slot->st = st;
	refcount_set(&slot->ref, 2);	/* the work's and the freeze's */
	init_task_work(&slot->work, park);
	/* Lockless for TWA_RESUME; under the lock, park() finds it hashed. */
	if (task_work_add(fz->task, &slot->work, TWA_RESUME))
		goto out;	/* exiting: it will never run user code again */
	__module_get(THIS_MODULE);
	hash_add(park_slots, &slot->node, (unsigned long)fz->task);
	fz->slot = slot;
	*used = true;
out:
	spin_unlock(&slots_lock);
	if (fz->slot)
		kick_process(fz->task);
	return ret;
}

static int claim_new(struct snapper_freeze *f, unsigned int first)
{
	struct park_slot *spare = NULL;
	unsigned int i;
	bool used;
	int ret;

	for (i = first; i < f->nr_known; i++) {
		if (!spare)
			spare = kzalloc(sizeof(*spare), GFP_KERNEL);
		if (!spare)
			return -ENOMEM;
		ret = claim(f->st, &f->known[i], spare, &used);
		if (ret)
			break;
		if (used)
			spare = NULL;
	}
	kfree(spare);
	return ret;
}

/*
 * Whether @t is off every CPU and asleep; if so, *@switches is how often it
 * has been switched out. A thread that runs is switched out before it
 * leaves the CPU, and ->on_cpu is cleared (with release) only after the
 * count went up: reading it first with acquire, a thread seen off the CPU
 * with an unchanged count has not run in between.
 */
static bool asleep(struct task_struct *t, unsigned long *switches)
{
	if (task_is_running(t))
		return false;
#ifdef CONFIG_SMP
	/* Pairs with the release in finish_task(), after the switch out. */
	if (smp_load_acquire(&t->on_cpu))
		return false;
#endif
	*switches = READ_ONCE(t->nvcsw) + READ_ONCE(t->nivcsw);
	return !task_is_running(t);
}

/* Whether every thread is parked, or asleep and off its CPU. */
static bool all_quiet(struct snapper_freeze *f)
{
	unsigned long switches;
	unsigned int i;

	for (i = 0; i < f->nr_known; i++) {
		struct frozen *fz = &f->known[i];

		if (fz->slot && !READ_ONCE(fz->slot->parked) &&
		    !asleep(fz->task, &switches))
			return false;
	}
	return true;
}

static int wait_quiet(struct snapper_freeze *f)
{
	unsigned long deadline = jiffies + FREEZE_TIMEOUT;

	/* A thread going to sleep wakes nobody: poll every jiffy as well. */
	while (!all_quiet(f)) {
		if (time_after(jiffies, deadline))
			return -EBUSY;
		if (fatal_signal_pending(current))
			return -EINTR;
		wait_event_killable_timeout(f->st->park_wq, all_quiet(f), 1);
	}
	return 0;
}

/*
 * Whether the system call @t entered the kernel with (@regs) creates a task
 * that may share its mm: clone() with CLONE_VM, vfork(), or clone3(), whose
 * flags are in user memory (counted in). Not fork(): its child has an mm of
 * its own.
 */
static bool clone_vm_call(struct task_struct *t, struct pt_regs *regs)
{
	unsigned long args[6];
	long nr = syscall_get_nr(t, regs);

#if defined(CONFIG_X86_64) && defined(CONFIG_IA32_EMULATION)
	if (syscall_get_arch(t) == AUDIT_ARCH_I386) {
		syscall_get_arguments(t, regs, args);
		return nr == __NR_ia32_clone3 || nr == __NR_ia32_vfork ||
		       (nr == __NR_ia32_clone && (args[0] & CLONE_VM));
	}
#endif
#ifdef __X32_SYSCALL_BIT
	nr &= ~__X32_SYSCALL_BIT;
#endif
#ifdef __NR_vfork
	if (nr == __NR_vfork)
		return true;
#endif
	if (nr != __NR_clone)
		return nr == __NR_clone3;
	syscall_get_arguments(t, regs, args);
	return args[0] & CLONE_VM;
}

/*
 * Whether @t, asleep in the kernel, is in such a system call. Its registers
 * are on its stack (try_get_task_stack() would pin it, but its
 * put_task_stack() is not exported). Once @t is seen not exiting, which it
 * is well before it dies, the stack is read through the pointer read once:
 * free_thread_stack() clears ->stack at once, and the stack stays mapped
 * (a vmap'ed stack goes back to the per-CPU cache or is freed after an RCU
 * grace period), though a dead task's may meanwhile serve another, whose
 * registers then say nothing of @t; nothing depends on that, as @t is
 * exiting. The address is task_pt_regs()'s on x86-64, from that pointer.
 */
static bool in_clone_vm(struct task_struct *t)
{
	struct pt_regs *regs;
	bool ret = false;
	void *stack;

	rcu_read_lock();
	stack = READ_ONCE(t->stack);
	if (!(READ_ONCE(t->flags) & PF_EXITING) && stack) {
		regs = (struct pt_regs *)((unsigned long)stack + THREAD_SIZE -
					  TOP_OF_KERNEL_STACK_PADDING) - 1;
		ret = clone_vm_call(t, regs);
	}
	rcu_read_unlock();
	return ret;
}

/*
 * Whether @t is past copy_process() in a vfork(), waiting for its child to
 * exec or exit: the child, on the mm and frozen like any other, points back
 * to it (->vfork_done is set before the child first runs). Its waking
 * creates nothing.
 */
static bool waits_for_vfork(struct snapper_freeze *f, struct task_struct *t)
{
	unsigned int i;

	for (i = 0; i < f->nr_known; i++) {
		struct task_struct *c = f->known[i].task;

		if (READ_ONCE(c->vfork_done) &&
		    rcu_access_pointer(c->real_parent) == t)
			return true;
	}
	return false;
}

/*
 * Notes the threads asleep in a clone() that may share the mm, for
 * snapper_freeze_check(). Return: false if one is not asleep after all
 * (still on a CPU, or woken): wait for it again. A thread seen asleep
 * after a clone() listed its new task had listed it before (the release
 * and acquire of ->on_cpu in asleep()), so the scan after this finds it.
 */
static bool note_cloning(struct snapper_freeze *f)
{
	unsigned int i;

	for (i = 0; i < f->nr_known; i++) {
		struct frozen *fz = &f->known[i];

		fz->cloning = fz->slot && !READ_ONCE(fz->slot->parked) &&
			      in_clone_vm(fz->task) &&
			      !waits_for_vfork(f, fz->task);
		if (fz->cloning && !asleep(fz->task, &fz->switches))
			return false;
	}
	return true;
}

static struct snapper_freeze *freeze_alloc(void)
{
	struct snapper_freeze *f;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return NULL;
	f->st = kzalloc(sizeof(*f->st), GFP_KERNEL);
	if (!f->st) {
		kfree(f);
		return NULL;
	}
	kref_init(&f->st->ref);
	init_waitqueue_head(&f->st->thaw_wq);
	init_waitqueue_head(&f->st->park_wq);
	return f;
}

/**
 * snapper_freeze_start() - keep every thread on a process's mm out of user mode
 * @leader: any thread of the process
 * @mm: its mm, with a user reference (mmget()) held by the caller
 * @nr_threads: set to the number of threads frozen or asleep: the
 *	group's, and those of other processes sharing @mm
 *
 * The calling thread is never frozen, so a process may freeze itself. Sleeps
 * until each thread is parked or asleep in the kernel; the caller must
 * call snapper_freeze_thaw() soon, and hold no lock meanwhile that a
 * thread on its way to user mode might need.
 *
 * Return: the freeze, or ERR_PTR(-ENOMEM), ERR_PTR(-EINTR) if the caller
 * got a fatal signal, ERR_PTR(-EBUSY) if a thread stayed running in the
 * kernel for FREEZE_TIMEOUT or another freeze holds one of the threads.
 */
struct snapper_freeze *snapper_freeze_start(struct task_struct *leader,
					    struct mm_struct *mm,
					    u32 *nr_threads)
{
	struct snapper_freeze *f;
	unsigned int n, first;
	bool noted;
	int ret;

	f = freeze_alloc();
	if (!f)
		return ERR_PTR(-ENOMEM);
	f->leader = leader;
	f->mm = mm;
	/*
	 * Rescan until no thread is new: clone() may run in a parking thread.
	 * The threads asleep in clone() are noted before each scan, so that
	 * a task it lists after the scan is one snapper_freeze_check() sees.
	 */
	for (;;) {
		noted = note_cloning(f);
		n = count_new(f, nr_threads);
		if (!n && noted)
			return f;
		if (n) {
			ret = add_new(f, n + FREEZE_SLACK, &first);
			if (ret)
				goto err_thaw;
			ret = claim_new(f, first);
			sort(f->known, f->nr_known, sizeof(*f->known),
			     cmp_task, NULL);
			if (ret)
				goto err_thaw;
		}
		ret = wait_quiet(f);
		if (ret)
			goto err_thaw;
	}

err_thaw:
	snapper_freeze_thaw(f);
	return ERR_PTR(ret);
}

/**
 * snapper_freeze_check() - whether the freeze held every task on the mm
 * @f: from snapper_freeze_start(), not thawed
 *
 * Called once what the snapshot keeps of the memory is taken, before the
 * thaw. A thread asleep in a clone() at the freeze that has run since may
 * have completed it: its new task runs user code on the mm from the start,
 * and may have written the memory while it was read. Whether it did cannot
 * be told (it may have exited already), so it is counted as having done so.
 *
 * Return: 0, or -EAGAIN if such a thread has run since the freeze.
 */
int snapper_freeze_check(struct snapper_freeze *f)
{
	unsigned long switches;
	unsigned int i;

	for (i = 0; i < f->nr_known; i++) {
		struct frozen *fz = &f->known[i];

		if (fz->cloning && (READ_ONCE(fz->slot->parked) ||
				    !asleep(fz->task, &switches) ||
				    switches != fz->switches))
			return -EAGAIN;
	}
	return 0;
}

/**
 * snapper_freeze_thaw() - let the threads of a freeze return to user mode
 * @f: from snapper_freeze_start()
 *
 * Wakes every parked thread, releases the works not yet run to whichever
 * freeze comes next, and frees @f.
 */
void snapper_freeze_thaw(struct snapper_freeze *f)
{
	unsigned int i;

	spin_lock(&slots_lock);
	for (i = 0; i < f->nr_known; i++) {
		struct park_slot *slot = f->known[i].slot;

		if (slot && slot->st == f->st)
			slot->st = NULL;
	}
	spin_unlock(&slots_lock);
	WRITE_ONCE(f->st->thawed, true);
	wake_up_all(&f->st->thaw_wq);
	for (i = 0; i < f->nr_known; i++) {
		if (f->known[i].slot)
			slot_put(f->known[i].slot);
		put_task_struct(f->known[i].task);
	}
	kref_put(&f->st->ref, state_release);
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
