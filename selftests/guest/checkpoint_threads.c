// SPDX-License-Identifier: GPL-2.0
/*
 * Point-in-time consistency across threads, and a target that changes
 * under the checkpoint.
 *
 * Each writer thread of the target counts c = 1, 2, ... and stores c into
 * four words in order: the first and last word of its page A, then the
 * first and last word of its page B, which lies at a higher address (the
 * walk reaches it later) in another 2 MiB range. At any instant the four
 * words read (c, c, c, c), or a prefix of them is one ahead. A snapshot that
 * mixes instants shows B ahead of A, or A more than one ahead of B. Half
 * of the pairs are in a private mapping (kept by copy-on-write), half in a
 * MAP_SHARED one (copied during the freeze). The writers are threads, or
 * processes that share the target's mm without sharing its thread group
 * (clone(CLONE_VM), as vfork() and posix_spawn() make): the freeze must
 * hold those as well, or they write the memory while it is walked. Or
 * the writers are short-lived threads made anew all the time.
 *
 * Also: a clone() asleep at the freeze that completes during the walk
 * (the module fails that checkpoint, the tool takes it again); a vhost
 * worker among the target's threads, left running; 64 threads;
 * a target that forks, vforks and posix_spawn()s, exits or execs while
 * checkpoints run (each checkpoint succeeds or fails
 * cleanly with ESRCH; after exec the target is new: FULL).
 *
 * Needs root and the loaded module: run it through selftests/qemu/run.
 */
#include <dirent.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/vhost.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"

#define STORE		0x7e570002ULL
#define REGION_PAGES	2048		/* 8 MiB: A pages low, B pages high */
#define B_OFFSET	1536
#define ROUNDS		12

struct writers {
	int nthreads;
	bool procs;			/* processes on the mm, not threads */
	bool respawn;			/* threads of RESPAWN_COUNTS, made anew */
	uint64_t priv, shared;		/* the two regions */
};

struct writer_arg {
	struct writers *w;
	int t;
	uint64_t c;			/* the last count written */
};

#define RESPAWN_COUNTS	1000

static void *writer(void *arg)
{
	struct writers *w = ((struct writer_arg *)arg)->w;
	int t = ((struct writer_arg *)arg)->t;
	uint64_t base = t & 1 ? w->shared : w->priv;
	volatile uint64_t *a = (uint64_t *)(base + (t / 2) * PG);
	volatile uint64_t *b = (uint64_t *)(base + (B_OFFSET + t / 2) * PG);
	struct writer_arg *wa = arg;
	uint64_t c, last = w->respawn ? wa->c + RESPAWN_COUNTS : UINT64_MAX;

	for (c = wa->c + 1; c <= last; c++) {
		a[0] = c;
		a[PG / 8 - 1] = c;
		b[0] = c;
		b[PG / 8 - 1] = c;
		atomic_signal_fence(memory_order_seq_cst);
	}
	wa->c = last;
	return NULL;
}

/*
 * One writer after another, each a new thread: threads are made (clone3())
 * all the time, and freezes find some asleep in it.
 */
static void *respawner(void *arg)
{
	pthread_t th;

	for (;;) {
		if (pthread_create(&th, NULL, writer, arg))
			_exit(1);
		pthread_join(th, NULL);
	}
	return NULL;
}

/* A writer process on the target's mm: writer() touches no TLS. */
static int writer_process(void *arg)
{
	writer(arg);
	return 0;
}

static void start_writer(struct writers *w, struct writer_arg *a)
{
	pthread_t th;

	if (w->procs ? guest_clone_vm(writer_process, a) < 0 :
		       pthread_create(&th, NULL, w->respawn ? respawner : writer,
				      a) != 0)
		_exit(1);
}

static void *region(bool shared)
{
	void *p = mmap(NULL, REGION_PAGES * PG, PROT_READ | PROT_WRITE,
		       (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		_exit(1);
	/* Page tables, not a huge page, so that A and B are far apart. */
	madvise(p, REGION_PAGES * PG, MADV_NOHUGEPAGE);
	memset(p, 0, REGION_PAGES * PG);
	return p;
}

static void setup_writers(struct target *t, void *arg)
{
	struct writers *w = arg;
	int i;

	w->priv = (uint64_t)region(false);
	w->shared = (uint64_t)region(true);
	t->base = w->priv;
	for (i = 0; i < w->nthreads; i++) {
		struct writer_arg *a = malloc(sizeof(*a));

		if (!a)
			_exit(1);
		a->w = w;
		a->t = i;
		a->c = 0;
		start_writer(w, a);
	}
}

/* The target's answer to T_USER: where the shared region is. */
static int tell_shared(struct target *t, struct tcmd *c, void *arg)
{
	struct writers *w = arg;

	return (int)((w->shared - w->priv) / PG);
}

/* The four words of one writer, as the store would rebuild them. */
struct pair {
	uint64_t a_first, a_last, b_first, b_last;
};

/*
 * Applies one checkpoint to the rebuilt image (a FULL one must carry every
 * page; an incremental one only what changed) and checks the invariant.
 * A write the module missed leaves a stale page in the image, which shows
 * as B ahead of A or A more than one ahead of B.
 */
static void check_pairs(struct __test_metadata *_metadata, struct got *g,
			uint64_t priv, uint64_t shared, int nthreads,
			struct pair *img)
{
	int t;

	for (t = 0; t < nthreads; t++) {
		uint64_t base = t & 1 ? shared : priv;
		struct got_page *a = got_find(g, base + (t / 2) * PG);
		struct got_page *b = got_find(g, base + (B_OFFSET + t / 2) * PG);
		struct pair *p = &img[t];

		if (g->h.full) {
			ASSERT_NE(NULL, a);
			ASSERT_NE(NULL, b);
		}
		if (a) {
			p->a_first = a->first;
			p->a_last = a->last;
		}
		if (b) {
			p->b_first = b->first;
			p->b_last = b->last;
		}
		/* Program order: a.first >= a.last >= b.first >= b.last. */
		EXPECT_TRUE(p->a_first >= p->a_last && p->a_last >= p->b_first &&
			    p->b_first >= p->b_last &&
			    p->a_first - p->b_last <= 1)
			TH_LOG("thread %d (%s): A %lu/%lu B %lu/%lu: not one instant",
			       t, t & 1 ? "shared" : "private", p->a_first,
			       p->a_last, p->b_first, p->b_last);
	}
}

/*
 * checkpoint() on @base, asked again while it fails with -EAGAIN (a clone()
 * asleep at the freeze ran during the walk; the next one is FULL), as the
 * tool does. *@again counts the retries, and no more are made once it is 8.
 */
static int checkpoint_again(struct snapper_genl *nl, pid_t pid, uint64_t base,
			    struct got *g, int *again)
{
	int ret;

	while ((ret = checkpoint(nl, pid, STORE, base, 0, g)) == -EAGAIN &&
	       *again < 8)
		(*again)++;
	return ret;
}

static void run_consistency(struct __test_metadata *_metadata, int nthreads,
			    bool procs, bool respawn, int rounds)
{
	struct writers w = { .nthreads = nthreads, .procs = procs,
			     .respawn = respawn };
	struct snapper_genl *nl;
	struct target t = { 0 };
	struct got g = { 0 };
	uint64_t shared, progress = 0;
	struct pair *img = calloc(nthreads, sizeof(*img));
	int r, i, off, again, agains = 0;

	ASSERT_EQ(0, snapper_genl_open(&nl));
	ASSERT_EQ(0, target_start(&t, 0, setup_writers, tell_shared, &w));
	off = target_do(&t, T_USER, 0, 0, 0);
	shared = t.base + (int64_t)off * PG;
	for (r = 0; r < rounds; r++) {
		/* FULL or incremental on the last ack: both must hold. */
		again = 0;
		ASSERT_EQ(0, checkpoint_again(nl, t.pid, r, &g, &again));
		agains += again;
		/* The freeze counts every thread it held, on the mm. */
		if (respawn) {
			/*
			 * A respawner and its writer, and the writer before
			 * it while that one, joined, is not yet unlisted.
			 */
			ASSERT_LE((uint32_t)nthreads + 1, g.st.threads);
			ASSERT_GE((uint32_t)3 * nthreads + 1, g.st.threads);
		} else {
			ASSERT_EQ((uint32_t)nthreads + 1, g.st.threads);
		}
		ASSERT_EQ(r == 0 || again, g.h.full);
		check_pairs(_metadata, &g, t.base, shared, nthreads, img);
		for (i = 0; i < nthreads; i += 2) {
			struct got_page *a = got_find(&g, t.base + (i / 2) * PG);

			if (a)
				progress += a->first;
		}
		ASSERT_EQ(0, snapper_genl_ack(nl, t.pid, STORE,
					      g.h.checkpoint_id, r + 1));
		usleep(20000);
	}
	TH_LOG("%d %s, %d checkpoints (%d asked again), last freeze %lu us walk %lu us, %lu copied",
	       nthreads, procs ? "processes" : respawn ? "respawned threads" :
	       "threads", rounds, agains, (unsigned long)g.st.freeze_us,
	       (unsigned long)g.st.walk_us, (unsigned long)g.st.copied);
	ASSERT_NE(0ULL, progress);		/* the writers did run */
	/* Only a clone() asleep at a freeze makes one ask again. */
	if (!respawn)
		ASSERT_EQ(0, agains);
	free(img);
	target_stop(&t);
	got_free(&g);
	snapper_genl_close(nl);
	ASSERT_EQ(0, read_stat("pages_held"));
}

TEST(every_snapshot_is_one_instant)
{
	const char *why = guest_skip_reason();

	if (why)
		SKIP(return, "%s", why);
	run_consistency(_metadata, 6, false, false, ROUNDS);
}

/*
 * Writers that are processes on the target's mm (clone(CLONE_VM) without
 * CLONE_THREAD): the freeze finds them by the mm's users and holds them
 * too. Without that, the walk reads B after they wrote it again.
 */
TEST(processes_sharing_the_mm_are_frozen_too)
{
	const char *why = guest_skip_reason();

	if (why)
		SKIP(return, "%s", why);
	run_consistency(_metadata, 6, true, false, ROUNDS);
}

/*
 * Writers that are short-lived threads, each made as soon as the one before
 * it has written RESPAWN_COUNTS counts and exited: some freezes find a
 * thread asleep in clone3(), and some walks a thread that clone3() made
 * during them. Each checkpoint is one instant all the same, or fails and
 * is asked again.
 */
TEST(threads_made_during_checkpoints)
{
	const char *why = guest_skip_reason();

	if (why)
		SKIP(return, "%s", why);
	run_consistency(_metadata, 4, false, true, ROUNDS);
}

/*
 * 64 spinning threads on two TCG vCPUs: each freeze waits for all, so this
 * needs more than the harness's 30 s. (gcc sees a false -Wclobbered in
 * the harness's TEST_F_TIMEOUT expansion.)
 */
#pragma GCC diagnostic ignored "-Wclobbered"
FIXTURE(many) {
	int unused;
};
FIXTURE_SETUP(many) {}
FIXTURE_TEARDOWN(many) {}

TEST_F_TIMEOUT(many, sixty_four_threads, 300)
{
	const char *why = guest_skip_reason();

	if (why)
		SKIP(return, "%s", why);
	run_consistency(_metadata, 64, false, false, 4);
}

/*
 * A target that makes and reaps children in a loop, in two threads: by
 * fork(), or (@arg not NULL) by vfork() and posix_spawn(), whose children
 * run on the target's mm until they exit or exec, so that the freeze
 * finds processes on the mm that come and go under it.
 */
static void *forker(void *arg)
{
	char *const argv[] = { "true", NULL };
	unsigned int n = 0;

	for (;;) {
		pid_t c = -1;

		if (!arg) {
			c = fork();
			if (!c)
				_exit(0);
		} else if (n++ & 1) {
			c = vfork();
			if (!c)
				_exit(0);
		} else if (posix_spawn(&c, "/bin/true", NULL, NULL, argv, environ)) {
			c = -1;
		}
		if (c > 0)
			waitpid(c, NULL, 0);
	}
	return NULL;
}

static void setup_forker(struct target *t, void *arg)
{
	pthread_t th;
	size_t i;

	t->base = (uint64_t)mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (i = 0; i < 16; i++)
		fill_page(t->base, i, i << 32);
	pthread_create(&th, NULL, forker, arg);
	pthread_create(&th, NULL, forker, arg);
}

/* Eight checkpoints of a forking target: each must hold its 16 pages. */
static void run_forking(struct __test_metadata *_metadata, bool vm)
{
	struct snapper_genl *nl;
	struct target t = { 0 };
	struct got g = { 0 };
	uint32_t most = 0;
	int r, i, again = 0;

	ASSERT_EQ(0, snapper_genl_open(&nl));
	ASSERT_EQ(0, target_start(&t, 16, setup_forker, NULL, vm ? &t : NULL));
	for (r = 0; r < 8; r++) {
		ASSERT_EQ(0, checkpoint_again(nl, t.pid, 0, &g, &again));
		most = g.st.threads > most ? g.st.threads : most;
		for (i = 0; i < 16; i++) {
			struct got_page *p = got_find(&g, t.base + i * PG);

			ASSERT_NE(NULL, p);
			ASSERT_TRUE(p->intact);
			ASSERT_EQ((uint64_t)i << 32, p->first);
		}
	}
	/* Three threads, and the children on the mm that a freeze caught. */
	TH_LOG("at most %u threads held, %d checkpoints asked again", most,
	       again);
	target_stop(&t);
	got_free(&g);
	snapper_genl_close(nl);
	ASSERT_EQ(0, read_stat("pages_held"));
}

TEST(target_forking_during_checkpoints)
{
	const char *why = guest_skip_reason();

	if (why)
		SKIP(return, "%s", why);
	run_forking(_metadata, false);
}

TEST(target_spawning_during_checkpoints)
{
	const char *why = guest_skip_reason();

	if (why)
		SKIP(return, "%s", why);
	run_forking(_metadata, true);
}

TEST(target_exiting_during_checkpoints)
{
	const char *why = guest_skip_reason();
	struct snapper_genl *nl;
	struct got g = { 0 };
	int r, ret, ok = 0, gone = 0;

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, snapper_genl_open(&nl));
	for (r = 0; r < 10; r++) {
		struct writers w = { .nthreads = 4 };
		pid_t killer, pid;
		struct target t = { 0 };

		ASSERT_EQ(0, target_start(&t, 0, setup_writers, NULL, &w));
		pid = t.pid;
		killer = fork();
		if (!killer) {
			usleep(1000 * (r * 7 % 40));
			kill(pid, r & 1 ? SIGKILL : SIGTERM);
			_exit(0);
		}
		do {
			ret = checkpoint(nl, pid, STORE, 0, 0, &g);
			ok += !ret;
		} while (!ret);
		EXPECT_EQ(-ESRCH, ret);
		gone++;
		waitpid(killer, NULL, 0);
		target_stop(&t);
	}
	TH_LOG("%d checkpoints before %d exits", ok, gone);
	got_free(&g);
	snapper_genl_close(nl);
	ASSERT_EQ(0, read_stat("pages_held"));
}

/*
 * A clone() that is asleep in the kernel when the freeze completes, and
 * completes while the module reads the memory. The target's main thread
 * calls clone(CLONE_VM | CLONE_THREAD) under a seccomp filter that hands
 * the call to us (SECCOMP_RET_USER_NOTIF): it sleeps at the system call's
 * entry until we let it go on. We start a full checkpoint and let the
 * clone go on once the module, the target frozen, has copied the first
 * 256 pages of the 64 MiB of shared memory between the new thread's two
 * words: A at the first page, B at the last. The new
 * thread, with no park work queued, counts into A then B from its first
 * instruction, so a snapshot taken across it has B ahead of A. The module
 * must fail such a checkpoint (-EAGAIN; the next one is FULL) rather than
 * send it.
 */
#define CLONE_PAGES	16384		/* 64 MiB: copied during the freeze */

struct cloner {
	volatile uint64_t *mem;
	int listener;			/* the seccomp notification fd */
};

static int cloned_writer(void *arg)
{
	volatile uint64_t *mem = arg;
	uint64_t c;

	/* No TLS here: the thread has none of its own. */
	for (c = 1;; c++) {
		mem[0] = c;
		mem[(CLONE_PAGES - 1) * (PG / 8)] = c;
		atomic_signal_fence(memory_order_seq_cst);
	}
	return 0;
}

static void setup_cloner(struct target *t, void *arg)
{
	struct cloner *cl = arg;
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_VM, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(filter) / sizeof(filter[0]), .filter = filter,
	};

	cl->mem = mmap(NULL, CLONE_PAGES * PG, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cl->mem == MAP_FAILED)
		_exit(1);
	memset((void *)cl->mem, 0, CLONE_PAGES * PG);
	t->base = (uint64_t)cl->mem;
	/* This thread's clone()s with CLONE_VM wait for our test. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		_exit(1);
	cl->listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			       SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (cl->listener < 0)
		_exit(1);
}

/* T_USER 0: the listener's fd number; 1: clone the writer thread. */
static int cloner_cmd(struct target *t, struct tcmd *c, void *arg)
{
	struct cloner *cl = arg;
	const size_t stack = 64 * 1024;
	char *sp;

	if (!c->a)
		return cl->listener;
	sp = malloc(stack);
	if (!sp)
		return -1;
	return clone(cloned_writer, sp + stack,
		     CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
		     CLONE_THREAD | CLONE_SYSVSEM, (void *)cl->mem) < 0 ? -1 : 0;
}

struct async_ckpt {
	struct snapper_genl *nl;
	pid_t pid;
	struct got *g;
	int ret;
};

static void *async_checkpoint(void *arg)
{
	struct async_ckpt *a = arg;

	a->ret = checkpoint(a->nl, a->pid, STORE, 0, 0, a->g);
	return NULL;
}

/* The first words of A and B in generation 1 of @store. */
static int exported_pair(const char *store, uint64_t base, uint64_t *a,
			 uint64_t *b)
{
	char path[300];
	int fd, ret;

	snprintf(path, sizeof(path), "%s.raw", store);
	if (guest_sh(NULL, 0, "snapper-tool export --store %s --gen 1 --range %#lx-%#lx --format raw -o %s",
		     store, (unsigned long)base,
		     (unsigned long)(base + CLONE_PAGES * PG), path))
		return -1;
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ret = pread(fd, a, 8, 0) == 8 &&
	      pread(fd, b, 8, (CLONE_PAGES - 1) * PG) == 8 ? 0 : -1;
	close(fd);
	unlink(path);
	return ret;
}

/*
 * With @tool, snapper-tool checkpoint takes the checkpoint: it must take
 * it again by itself, in full, and commit one consistent generation.
 */
static void run_clone_during_walk(struct __test_metadata *_metadata,
				  bool tool)
{
	struct seccomp_notif_resp resp = { 0 };
	struct seccomp_notif req = { 0 };
	struct tcmd c = { .op = T_USER, .a = 1 };
	struct cloner cl = { 0 };
	struct target t = { 0 };
	struct got g = { 0 };
	struct async_ckpt a = { .g = &g };
	struct guest_child child;
	struct got_page *pa, *pb;
	int fd, pidfd, listener, reply, i;
	char store[256], pid[16];
	uint64_t first, last;
	long long held;
	pthread_t th;

	ASSERT_EQ(0, snapper_genl_open(&a.nl));
	ASSERT_EQ(0, target_start(&t, 0, setup_cloner, cloner_cmd, &cl));
	a.pid = t.pid;
	fd = target_do(&t, T_USER, 0, 0, 0);
	ASSERT_LE(0, fd);
	pidfd = syscall(SYS_pidfd_open, t.pid, 0);
	ASSERT_LE(0, pidfd);
	listener = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	ASSERT_LE(0, listener);
	held = read_stat("pages_held");

	/* The target's clone() sleeps at its entry, before the freeze. */
	ASSERT_EQ((ssize_t)sizeof(c), write(t.cmd, &c, sizeof(c)));
	ASSERT_EQ(0, ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req));
	ASSERT_EQ(__NR_clone, req.data.nr);
	if (tool) {
		char *argv[] = { "snapper-tool", "checkpoint", "--store", store,
				 pid, NULL };

		guest_store_path(store, sizeof(store), "clone-walk");
		snprintf(pid, sizeof(pid), "%d", t.pid);
		ASSERT_EQ(0, guest_child_start(&child, argv));
	} else {
		ASSERT_EQ(0, pthread_create(&th, NULL, async_checkpoint, &a));
	}
	/* Copying the shared pages (with A): the freeze is complete. */
	for (i = 0; i < 200000 && read_stat("pages_held") < held + 256; i++)
		usleep(100);
	ASSERT_LE(held + 256, read_stat("pages_held"));
	resp.id = req.id;
	resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	ASSERT_EQ(0, ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp));
	if (tool) {
		ASSERT_EQ(0, guest_child_end(&child))
			TH_LOG("%s", child.text);
		ASSERT_NE(NULL, strstr(child.text, "checkpointed again, in full"))
			TH_LOG("%s", child.text);
		ASSERT_NE(NULL, strstr(child.text, "generation 1"));
	} else {
		ASSERT_EQ(0, pthread_join(th, NULL));
	}
	ASSERT_EQ((ssize_t)sizeof(reply), read(t.reply, &reply, sizeof(reply)));
	ASSERT_EQ(0, reply);		/* the clone() succeeded */
	if (tool) {
		ASSERT_EQ(0, exported_pair(store, t.base, &first, &last));
	} else {
		if (!a.ret) {
			pa = got_find(&g, t.base);
			pb = got_find(&g, t.base + (CLONE_PAGES - 1) * PG);
			TH_LOG("sent: A %lu, B %lu (the new thread wrote B after A), freeze %lu us",
			       pa ? (unsigned long)pa->first : 0,
			       pb ? (unsigned long)pb->first : 0,
			       (unsigned long)g.st.freeze_us);
		}
		ASSERT_EQ(-EAGAIN, a.ret);
		TH_LOG("the checkpoint failed: %s", snapper_genl_errmsg(a.nl));

		/* The next checkpoint is FULL and holds both threads. */
		ASSERT_EQ(0, checkpoint(a.nl, t.pid, STORE, 0, 0, &g));
		ASSERT_TRUE(g.h.full);
		ASSERT_EQ(2U, g.st.threads);
		pa = got_find(&g, t.base);
		pb = got_find(&g, t.base + (CLONE_PAGES - 1) * PG);
		ASSERT_NE(NULL, pa);
		ASSERT_NE(NULL, pb);
		first = pa->first;
		last = pb->first;
		ASSERT_LT(0UL, first);	/* the writer ran */
	}
	EXPECT_TRUE(first == last || first == last + 1)
		TH_LOG("A %lu, B %lu: not one instant", (unsigned long)first,
		       (unsigned long)last);
	close(listener);
	close(pidfd);
	target_stop(&t);
	got_free(&g);
	snapper_genl_close(a.nl);
	ASSERT_EQ(0, read_stat("pages_held"));
}

/* Why this kernel cannot hold a clone() for us, or NULL. */
static const char *clone_hold_skip(void)
{
	uint32_t action = SECCOMP_RET_USER_NOTIF;

	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action))
		return "no seccomp user notification in this kernel (CONFIG_SECCOMP_FILTER)";
	return guest_skip_reason();
}

TEST(a_clone_completed_during_the_walk_fails_the_checkpoint)
{
	const char *why = clone_hold_skip();

	if (why)
		SKIP(return, "%s", why);
	run_clone_during_walk(_metadata, false);
}

TEST(the_tool_checkpoints_again_after_such_a_clone)
{
	const char *why = clone_hold_skip();

	if (why)
		SKIP(return, "%s", why);
	run_clone_during_walk(_metadata, true);
}

/*
 * A vhost worker: on 6.4 and later a thread of its owner (PF_USER_WORKER)
 * that never returns to user mode and runs task work only for a signal.
 * The freeze leaves it alone (it writes the memory from the kernel, as a
 * system call does): a park work queued on it would stay pending, with
 * its module reference, until the worker exits, and a busy worker would
 * keep the freeze from completing.
 */
static void setup_vhost(struct target *t, void *arg)
{
	int *fd = arg;

	t->base = (uint64_t)mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fill_page(t->base, 0, 1);
	if (ioctl(*fd, VHOST_SET_OWNER, NULL))
		_exit(1);
}

static int count_threads(pid_t pid)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}

TEST(a_vhost_worker_is_left_running)
{
	const char *why = guest_skip_reason();
	struct snapper_genl *nl;
	struct target t = { 0 };
	struct got g = { 0 };
	long long ref;
	int fd, r;

	if (why)
		SKIP(return, "%s", why);
	/* Built in, or absent: the open tells. */
	guest_sh(NULL, 0, "modprobe -q vhost_net");
	fd = open("/dev/vhost-net", O_RDWR);
	if (fd < 0)
		SKIP(return, "no /dev/vhost-net in this kernel (vhost_net)");
	ASSERT_EQ(0, snapper_genl_open(&nl));
	ASSERT_EQ(0, target_start(&t, 0, setup_vhost, NULL, &fd));
	close(fd);
	TH_LOG("the target has %d threads (a vhost worker among them from 6.4 on)",
	       count_threads(t.pid));
	ref = guest_module_refcnt();
	for (r = 0; r < 3; r++) {
		ASSERT_EQ(0, checkpoint(nl, t.pid, STORE, 0, 0, &g));
		ASSERT_EQ(1U, g.st.threads);	/* the main thread alone */
		ASSERT_EQ(1ULL, got_find(&g, t.base)->first);
	}
	/*
	 * The main thread slept in read() through the freezes: a command
	 * takes it through user mode, where its pending work runs. Then no
	 * work is left pending, holding the module, on the worker either.
	 */
	ASSERT_EQ(0, target_do(&t, T_WRITE, 1, 2, 0));
	ASSERT_EQ(ref, guest_module_refcnt());
	target_stop(&t);
	got_free(&g);
	snapper_genl_close(nl);
	ASSERT_EQ(0, read_stat("pages_held"));
}

static bool is_sleep(pid_t pid)
{
	char path[64], comm[32] = "";
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	return n > 0 && !strncmp(comm, "sleep", 5);
}

static int do_exec(struct target *t, struct tcmd *c, void *arg)
{
	execl("/bin/sleep", "sleep", "60", NULL);
	return -1;
}

TEST(target_exec_makes_a_new_full_target)
{
	const char *why = guest_skip_reason();
	struct snapper_genl *nl;
	struct target t = { 0 };
	struct got g = { 0 };
	struct tcmd c = { .op = T_USER };
	int i;

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, snapper_genl_open(&nl));
	ASSERT_EQ(0, target_start(&t, 8, NULL, do_exec, NULL));
	ASSERT_EQ(0, checkpoint(nl, t.pid, STORE, 0, 0, &g));
	ASSERT_EQ(0, snapper_genl_ack(nl, t.pid, STORE, g.h.checkpoint_id, 1));
	ASSERT_EQ(0, checkpoint(nl, t.pid, STORE, 1, 0, &g));
	ASSERT_FALSE(g.h.full);
	ASSERT_EQ(0, snapper_genl_ack(nl, t.pid, STORE, g.h.checkpoint_id, 2));
	/* exec without waiting for a reply; checkpoint around it. */
	ASSERT_EQ((ssize_t)sizeof(c), write(t.cmd, &c, sizeof(c)));
	/* Slow kernels (KASAN under TCG) take a while to exec. */
	for (i = 0; i < 200 && !is_sleep(t.pid); i++)
		usleep(50000);
	ASSERT_TRUE(is_sleep(t.pid));
	ASSERT_EQ(0, checkpoint(nl, t.pid, STORE, 2, 0, &g));
	ASSERT_TRUE(g.h.full);		/* a new mm: nothing acknowledged */
	ASSERT_EQ(0, got_in(&g, t.base, t.base + 8 * PG));
	target_stop(&t);
	got_free(&g);
	snapper_genl_close(nl);
}

TEST_HARNESS_MAIN
