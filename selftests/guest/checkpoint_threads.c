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
 * hold those as well, or they write the memory while it is walked.
 *
 * Also: 64 threads; a target that forks, vforks and posix_spawn()s, exits
 * or execs while checkpoints run (each checkpoint succeeds or fails
 * cleanly with ESRCH; after exec the target is new: FULL).
 *
 * Needs root and the loaded module: run it through selftests/qemu/run.
 */
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdatomic.h>

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
	uint64_t priv, shared;		/* the two regions */
};

struct writer_arg {
	struct writers *w;
	int t;
};

static void *writer(void *arg)
{
	struct writers *w = ((struct writer_arg *)arg)->w;
	int t = ((struct writer_arg *)arg)->t;
	uint64_t base = t & 1 ? w->shared : w->priv;
	volatile uint64_t *a = (uint64_t *)(base + (t / 2) * PG);
	volatile uint64_t *b = (uint64_t *)(base + (B_OFFSET + t / 2) * PG);
	uint64_t c;

	for (c = 1;; c++) {
		a[0] = c;
		a[PG / 8 - 1] = c;
		b[0] = c;
		b[PG / 8 - 1] = c;
		atomic_signal_fence(memory_order_seq_cst);
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
		       pthread_create(&th, NULL, writer, a) != 0)
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

static void run_consistency(struct __test_metadata *_metadata, int nthreads,
			    bool procs, int rounds)
{
	struct writers w = { .nthreads = nthreads, .procs = procs };
	struct snapper_genl *nl;
	struct target t = { 0 };
	struct got g = { 0 };
	uint64_t shared, progress = 0;
	struct pair *img = calloc(nthreads, sizeof(*img));
	int r, i, off;

	ASSERT_EQ(0, snapper_genl_open(&nl));
	ASSERT_EQ(0, target_start(&t, 0, setup_writers, tell_shared, &w));
	off = target_do(&t, T_USER, 0, 0, 0);
	shared = t.base + (int64_t)off * PG;
	for (r = 0; r < rounds; r++) {
		/* FULL or incremental on the last ack: both must hold. */
		ASSERT_EQ(0, checkpoint(nl, t.pid, STORE, r ? r : 0, 0, &g));
		/* The freeze counts every thread it held, on the mm. */
		ASSERT_EQ((uint32_t)nthreads + 1, g.st.threads);
		ASSERT_EQ(r == 0, g.h.full);
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
	TH_LOG("%d %s, %d checkpoints, last freeze %lu us walk %lu us, %lu copied",
	       nthreads, procs ? "processes" : "threads", rounds, (unsigned long)g.st.freeze_us,
	       (unsigned long)g.st.walk_us, (unsigned long)g.st.copied);
	ASSERT_NE(0ULL, progress);		/* the writers did run */
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
	run_consistency(_metadata, 6, false, ROUNDS);
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
	run_consistency(_metadata, 6, true, ROUNDS);
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
	run_consistency(_metadata, 64, false, 4);
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
	int r, i;

	ASSERT_EQ(0, snapper_genl_open(&nl));
	ASSERT_EQ(0, target_start(&t, 16, setup_forker, NULL, vm ? &t : NULL));
	for (r = 0; r < 8; r++) {
		ASSERT_EQ(0, checkpoint(nl, t.pid, STORE, 0, 0, &g));
		most = g.st.threads > most ? g.st.threads : most;
		for (i = 0; i < 16; i++) {
			struct got_page *p = got_find(&g, t.base + i * PG);

			ASSERT_NE(NULL, p);
			ASSERT_TRUE(p->intact);
			ASSERT_EQ((uint64_t)i << 32, p->first);
		}
	}
	/* Three threads, and the children on the mm that a freeze caught. */
	TH_LOG("at most %u threads held", most);
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
