// SPDX-License-Identifier: GPL-2.0
/*
 * The module's allocation-failure paths, reached with the kernel's fault
 * injection (Documentation/fault-injection/fault-injection.rst). Only the
 * debug kernel has it (FAILSLAB, FAULT_INJECTION_DEBUG_FS,
 * FAULT_INJECTION_STACKTRACE_FILTER); Debian's 6.1 and 6.12 have none, and
 * there every test skips, saying so.
 *
 * failslab is narrowed to the module's own chunk allocations: the task
 * filter (make-it-fail of the checkpointing task, or fail-nth of its
 * thread) and the stack-trace filter set to the text of the tracker's
 * ensure_room(), from /proc/kallsyms, so that nothing else of the kernel,
 * of this process or of the module fails. Every setting is restored in
 * the teardown.
 *
 *  - resume_with_huge_pages (issue 13, fix 4): every non-sleeping chunk
 *    allocation of the walk fails (ignore-gfp-wait stays Y), so the walk
 *    stops, drops the mmap lock, allocates and resumes, several times,
 *    inside a region of huge pages next to one of 4 KiB pages (every other
 *    one written). failslab's `times` counts the failures it injected,
 *    one a resume. A full and then an incremental generation, after
 *    writes in and around the huge pages, equal /proc/PID/mem byte for
 *    byte (oracle.h).
 *  - resume_meets_merged_mappings: while resumes have the mmap lock
 *    dropped, another process splits and merges the target's mapping
 *    (UFFDIO_REGISTER and UNREGISTER of its middle, through the target's
 *    userfaultfd), so that a mapping the walk recorded as three pieces
 *    is one again, running past the first record's end. The walk of
 *    466eeeb walked that record's end over and over with the mmap lock
 *    held (a soft lockup); every checkpoint must end and equal the
 *    memory.
 *  - error_after_walk_flushes (issue 15, item 5): the walk's first
 *    non-sleeping allocation fails and so does the sleeping one the
 *    resume makes, so the checkpoint returns ENOMEM after the walk
 *    write-protected and cleaned entries. A thread of the target that
 *    kept writing its pages on CPU 1 (their TLB entries warm) writes them
 *    again after the error: every such write must fault, and so set
 *    soft-dirty in pagemap, which it does not if the error exit skipped
 *    the TLB flush (no PTI on the debug kernel, and qemu's TCG keeps a
 *    vCPU's TLB entries until the guest flushes them). The bits are the
 *    evidence, not the next generation: the failure forgets the base, so
 *    the next checkpoint is FULL and reads every page anyway. The error
 *    is clean, nothing stays held, the module's references are what they
 *    were, and the next checkpoint succeeds with every page as
 *    /proc/PID/mem has it.
 *
 * Needs root, the loaded module and, for the first, snapper-tool and
 * $SNAPPER_SCRATCH: run it through selftests/qemu/run --kernel debug.
 */
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"
#include "oracle.h"

#define FAILSLAB	"/sys/kernel/debug/failslab/"
#define FAILPAGE	"/sys/kernel/debug/fail_page_alloc/"
#define HPAGE		(2UL << 20)
#define STORE		0xfa11ed0001ULL

/* Settings changed here, restored in the teardown (optional: page alloc). */
static const char *const fi_files[] = {
	FAILSLAB "times", FAILSLAB "probability", FAILSLAB "interval",
	FAILSLAB "space", FAILSLAB "verbose", FAILSLAB "ignore-gfp-wait",
	FAILSLAB "stacktrace-depth", FAILSLAB "require-start",
	FAILSLAB "require-end", FAILSLAB "reject-start", FAILSLAB "reject-end",
	FAILSLAB "task-filter", FAILSLAB "cache-filter",
	FAILPAGE "require-start", FAILPAGE "require-end",
	NULL,		/* the failslab flag of the chunks' kmalloc cache */
};
#define NFI	(sizeof(fi_files) / sizeof(fi_files[0]))

/*
 * The kmalloc cache of the walk's chunks (one page, charged to the memory
 * cgroup): with cache-filter, failslab looks at no other cache, so that the
 * allocations the kernel makes inside kmalloc() (kmemleak's objects, a new
 * slab's cgroup vector) neither fail nor count towards fail-nth.
 */
static const char *chunk_cache(void)
{
	if (!access("/sys/kernel/slab/kmalloc-cg-4k/failslab", W_OK))
		return "/sys/kernel/slab/kmalloc-cg-4k/failslab";
	return "/sys/kernel/slab/kmalloc-4k/failslab";
}

/* Why fault injection cannot narrow failures to the module here, or NULL. */
static const char *fi_skip_reason(void)
{
	const char *why = guest_skip_reason();

	if (why)
		return why;
	if (access(FAILSLAB, F_OK))
		return "no /sys/kernel/debug/failslab: this kernel has no CONFIG_FAILSLAB with CONFIG_FAULT_INJECTION_DEBUG_FS (Debian's 6.1 and 6.12 have no fault injection; the debug kernel has)";
	if (access(FAILSLAB "require-start", F_OK))
		return "failslab has no stack-trace filter (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER)";
	if (access("/proc/thread-self/fail-nth", F_OK))
		return "no /proc/thread-self/fail-nth";
	return NULL;
}

static int fi_write(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fi_write(const char *path, const char *fmt, ...)
{
	char buf[64];
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ret = guest_write_file(path, buf);
	if (ret)
		fprintf(stderr, "# writing %s to %s: %s\n", buf, path,
			strerror(-ret));
	return ret;
}

static long long fi_read(const char *path)
{
	char buf[64];

	if (guest_read_file(path, buf, sizeof(buf)))
		return -1;
	return atoll(buf);
}

/*
 * [start, end) of the module's function @name (GCC may have suffixed it,
 * ".isra.0"): its address and the next one of any symbol of the module.
 */
static int module_function(const char *name, uint64_t *start, uint64_t *end)
{
	unsigned long long a, next = ~0ULL;
	char line[512], sym[256], mod[64], type;
	size_t len = strlen(name);
	FILE *f;

	*start = 0;
	f = fopen("/proc/kallsyms", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %c %255s [%63[^]]]", &a, &type, sym,
			   mod) == 4 && !strcmp(mod, "snapper") &&
		    (type == 't' || type == 'T') && !strncmp(sym, name, len) &&
		    (!sym[len] || sym[len] == '.'))
			*start = a;
	rewind(f);
	while (*start && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %c %255s [%63[^]]]", &a, &type, sym,
			   mod) == 4 && !strcmp(mod, "snapper") &&
		    a > *start && a < next)
			next = a;
	fclose(f);
	if (!*start || next == ~0ULL)
		return -ENOENT;
	*end = next;
	return 0;
}

struct fi_saved {
	char val[NFI][32];
	bool saved[NFI];
};

static void fi_save(struct fi_saved *s)
{
	size_t i;

	for (i = 0; i < NFI; i++) {
		s->saved[i] = !guest_read_file(fi_files[i] ?: chunk_cache(),
					       s->val[i], sizeof(s->val[i]));
		s->val[i][strcspn(s->val[i], "\n")] = '\0';
	}
}

/* Stops failures first (times 0), then puts every setting back. */
static void fi_restore(struct fi_saved *s)
{
	size_t i;

	guest_write_file("/proc/thread-self/fail-nth", "0");
	guest_write_file("/proc/self/make-it-fail", "0");
	if (!s->saved[0])
		return;
	guest_write_file(FAILSLAB "times", "0");
	for (i = 1; i < NFI; i++)
		if (s->saved[i])
			guest_write_file(fi_files[i] ?: chunk_cache(), s->val[i]);
	guest_write_file(FAILSLAB "times", s->val[0]);
}

/*
 * Arms failslab for the chunk allocations made in ensure_room() by tasks
 * with make-it-fail set: every one (probability 100) until @times failures,
 * sleeping ones too unless @nowait_only (then those made inside a failing
 * kmalloc() need no cache filter: the chunk fails before them, and they
 * sleep where the chunk would). fail_page_alloc, whose default filter
 * takes every stack, is given one that takes none, so that it does not
 * count down a fail-nth meant for failslab.
 */
static int fi_arm(bool nowait_only, long times)
{
	uint64_t start, end;
	int ret;

	ret = module_function("ensure_room", &start, &end);
	if (ret)
		return ret;
	ret = fi_write(FAILSLAB "times", "0") ?:
	      fi_write(FAILSLAB "task-filter", "Y") ?:
	      fi_write(FAILSLAB "probability", "100") ?:
	      fi_write(FAILSLAB "interval", "1") ?:
	      fi_write(FAILSLAB "space", "0") ?:
	      fi_write(FAILSLAB "verbose", "0") ?:
	      fi_write(FAILSLAB "ignore-gfp-wait", nowait_only ? "Y" : "N") ?:
	      fi_write(FAILSLAB "stacktrace-depth", "32") ?:
	      fi_write(FAILSLAB "reject-start", "0") ?:
	      fi_write(FAILSLAB "reject-end", "0") ?:
	      fi_write(FAILSLAB "require-start", "%llu",
		       (unsigned long long)start) ?:
	      fi_write(FAILSLAB "require-end", "%llu", (unsigned long long)end) ?:
	      fi_write(FAILSLAB "cache-filter", nowait_only ? "N" : "Y");
	if (!ret && !nowait_only)
		ret = fi_write(chunk_cache(), "1");
	if (ret)
		return ret;
	if (!access(FAILPAGE, F_OK))
		ret = fi_write(FAILPAGE "require-start", "0") ?:
		      fi_write(FAILPAGE "require-end", "0");
	return ret ?: fi_write(FAILSLAB "times", "%ld", times);
}

FIXTURE(fi) {
	struct fi_saved saved;
	struct snapper_genl *nl;
	struct target t;
	struct got g;
	char store[256];
};

FIXTURE_SETUP(fi)
{
	const char *why = guest_skip_reason();

	memset(self, 0, sizeof(*self));
	ASSERT_FALSE(why && guest_module_expected())
		TH_LOG("SNAPPER_LOAD=1 but: %s", why);
	why = fi_skip_reason();
	if (why)
		SKIP(return, "%s", why);
	fi_save(&self->saved);
	ASSERT_TRUE(self->saved.saved[0]);
	ASSERT_EQ(0, snapper_genl_open(&self->nl));
}

FIXTURE_TEARDOWN(fi)
{
	fi_restore(&self->saved);
	target_stop(&self->t);
	got_free(&self->g);
	snapper_genl_close(self->nl);
	if (self->store[0])
		guest_sh(NULL, 0, "rm -rf '%s'", self->store);
}

/* ---- resume_with_huge_pages ---- */

#define ORD_PAGES	4096	/* 16 MiB of 4 KiB pages, every other written */
#define THP_PAGES	4096	/* 16 MiB right above: 8 huge pages */
#define RESUME_BUDGET	1000000

/*
 * t->base: the 4 KiB-page region, the huge-page one right above it. The
 * holes between the written small pages take a slot each in the walk's
 * page list but no page of the RSS the module sizes that list by, so
 * even a full checkpoint outgrows it and resumes, in the huge pages.
 */
static void huge_setup(struct target *t, void *arg)
{
	size_t len = (ORD_PAGES + THP_PAGES) * PG + HPAGE, i;
	uintptr_t raw, thp;

	(void)arg;
	oracle_target_init();
	raw = (uintptr_t)mmap(NULL, len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == (uintptr_t)MAP_FAILED)
		_exit(1);
	thp = (raw + ORD_PAGES * PG + HPAGE - 1) & ~(HPAGE - 1);
	t->base = thp - ORD_PAGES * PG;
	if (madvise((void *)t->base, ORD_PAGES * PG, MADV_NOHUGEPAGE) ||
	    madvise((void *)thp, THP_PAGES * PG, MADV_HUGEPAGE))
		_exit(1);
	for (i = 0; i < ORD_PAGES; i += 2)
		fill_page(t->base, i, (uint64_t)i << 32);
	for (i = ORD_PAGES; i < ORD_PAGES + THP_PAGES; i++)
		fill_page(t->base, i, (uint64_t)i << 32);
}

/*
 * `snapper-tool checkpoint` with make-it-fail set (the tool inherits it).
 * Return: the generation, 0 on failure; @incremental from its output.
 */
static uint64_t tool_checkpoint(const char *store, pid_t pid, bool *incremental)
{
	char out[4096];
	const char *g;
	int st;

	if (guest_write_file("/proc/self/make-it-fail", "1"))
		return 0;
	st = guest_checkpoint(out, sizeof(out), store, pid);
	guest_write_file("/proc/self/make-it-fail", "0");
	g = strstr(out, "generation ");
	if (st || !g) {
		fprintf(stderr, "# snapper-tool checkpoint: %s", out);
		return 0;
	}
	*incremental = strstr(out, "incremental") != NULL;
	return strtoull(g + strlen("generation "), NULL, 10);
}

/* Pages written after the full generation: in and around the huge pages. */
static const size_t huge_writes[] = {
	ORD_PAGES - 2,			/* small, written before */
	ORD_PAGES - 1,			/* small, a hole just below the huge */
	ORD_PAGES,			/* first subpage of the first huge */
	ORD_PAGES + 511,		/* its last */
	ORD_PAGES + 512,		/* first of the second */
	ORD_PAGES + 3 * 512 + 200,	/* inside the fourth */
	ORD_PAGES + THP_PAGES - 1,	/* last subpage of the last */
	1,				/* a hole at the bottom */
};

/*
 * A checkpoint by the tool with every chunk allocation of the walk failing
 * (so that it resumes), FULL or not as @full says, equal to the target's
 * memory. Return: how many times the walk resumed, or -1 if the
 * checkpoint failed, was not of that kind or differs from the memory.
 */
static long resuming_checkpoint(struct __test_metadata *_metadata,
				const char *store, pid_t pid, bool full)
{
	uint64_t gen;
	bool incr;
	long resumes;

	gen = tool_checkpoint(store, pid, &incr);
	resumes = RESUME_BUDGET - fi_read(FAILSLAB "times");
	TH_LOG("%s: generation %llu, %ld resumes", full ? "full" : "incremental",
	       (unsigned long long)gen, resumes);
	if (!gen || incr == full || oracle_compare(store, gen, pid))
		return -1;
	return resumes;
}

TEST_F_TIMEOUT(fi, resume_with_huge_pages, 300)
{
	const char *why = guest_tool_skip_reason();
	char buf[128];
	uint64_t thp;
	size_t i;

	if (why)
		SKIP(return, "%s", why);
	if (!guest_read_file("/sys/kernel/mm/transparent_hugepage/enabled",
			     buf, sizeof(buf)) && strstr(buf, "[never]"))
		SKIP(return, "transparent huge pages are disabled here");
	guest_store_path(self->store, sizeof(self->store), "fi-huge");
	ASSERT_EQ(0, target_start(&self->t, ORD_PAGES + THP_PAGES, huge_setup,
				  NULL, NULL));
	ASSERT_EQ(0, guest_wait_parked(self->t.pid));
	thp = self->t.base + ORD_PAGES * PG;
	ASSERT_EQ((long)(THP_PAGES * PG / 1024),
		  guest_smaps_kb(self->t.pid, thp, "AnonHugePages:"))
		TH_LOG("the region at %#llx is not all huge pages",
		       (unsigned long long)thp);

	ASSERT_EQ(0, fi_arm(true, RESUME_BUDGET));
	ASSERT_LT(0, resuming_checkpoint(_metadata, self->store, self->t.pid,
					 true));

	for (i = 0; i < ARRAY_SIZE(huge_writes); i++) {
		ASSERT_EQ(0, target_do(&self->t, T_WRITE, huge_writes[i],
				       0x5eed00000000ULL + (i << 16), 0));
	}
	ASSERT_EQ(0, guest_wait_parked(self->t.pid));
	ASSERT_EQ(0, fi_write(FAILSLAB "times", "%d", RESUME_BUDGET));
	ASSERT_LT(0, resuming_checkpoint(_metadata, self->store, self->t.pid,
					 false));
}

/* ---- resume_meets_merged_mappings ---- */

#define MERGED_PAGES	8192
#define MERGED_ROUNDS	6

static int merged_uffd = -1;

/*
 * The target's region, every other page written (the holes between take
 * slots of the walk's list that the module does not size it for, as in
 * huge_setup(), so that every checkpoint resumes), and a userfaultfd of
 * its mm.
 */
static void merged_setup(struct target *t, void *arg)
{
	struct uffdio_api api = { .api = UFFD_API };
	size_t i;
	void *p;

	(void)arg;
	oracle_target_init();
	p = mmap(NULL, MERGED_PAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || madvise(p, MERGED_PAGES * PG, MADV_NOHUGEPAGE))
		_exit(1);
	t->base = (uint64_t)p;
	for (i = 0; i < MERGED_PAGES; i += 2)
		fill_page(t->base, i, (uint64_t)i << 32 | 3);
	merged_uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (merged_uffd < 0 || ioctl(merged_uffd, UFFDIO_API, &api))
		_exit(1);
}

/* T_USER: the userfaultfd's number, for pidfd_getfd(). */
static int merged_cmd(struct target *t, struct tcmd *c, void *arg)
{
	(void)t;
	(void)arg;
	return c->op == T_USER ? merged_uffd : -1;
}

struct flipper {
	int uffd;
	uint64_t start, len;
	atomic_bool stop;
	long flips;
	int err;
};

/* Registers the middle (three mappings) and unregisters it (one), again. */
static void *flip(void *arg)
{
	struct flipper *f = arg;
	struct uffdio_register reg = {
		.range = { .start = f->start, .len = f->len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	struct uffdio_range range = { .start = f->start, .len = f->len };

	while (!atomic_load(&f->stop)) {
		if (ioctl(f->uffd, UFFDIO_REGISTER, &reg) ||
		    ioctl(f->uffd, UFFDIO_UNREGISTER, &range)) {
			f->err = errno;
			break;
		}
		f->flips++;
	}
	return NULL;
}

TEST_F_TIMEOUT(fi, resume_meets_merged_mappings, 300)
{
	const char *why = guest_tool_skip_reason();
	struct flipper f = { .uffd = -1 };
	long resumes = 0;
	pthread_t th;
	uint64_t gen;
	int pidfd, fd, i;
	bool incr;

	if (why)
		SKIP(return, "%s", why);
	guest_store_path(self->store, sizeof(self->store), "fi-merged");
	ASSERT_EQ(0, target_start(&self->t, MERGED_PAGES, merged_setup,
				  merged_cmd, NULL));
	fd = target_do(&self->t, T_USER, 0, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, guest_wait_parked(self->t.pid));
	pidfd = syscall(SYS_pidfd_open, self->t.pid, 0);
	ASSERT_LE(0, pidfd);
	f.uffd = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	ASSERT_LE(0, f.uffd);
	f.start = self->t.base + MERGED_PAGES / 4 * PG;
	f.len = MERGED_PAGES / 2 * PG;
	ASSERT_EQ(0, pthread_create(&th, NULL, flip, &f));

	for (i = 0; i < MERGED_ROUNDS; i++) {
		ASSERT_EQ(0, fi_arm(true, RESUME_BUDGET));
		gen = tool_checkpoint(self->store, self->t.pid, &incr);
		resumes += RESUME_BUDGET - fi_read(FAILSLAB "times");
		EXPECT_NE(0ULL, gen);
		if (gen)
			EXPECT_EQ(0, oracle_compare(self->store, gen,
						    self->t.pid));
	}
	atomic_store(&f.stop, true);
	pthread_join(th, NULL);
	close(f.uffd);
	TH_LOG("%d checkpoints, %ld resumes, %ld register/unregister pairs",
	       MERGED_ROUNDS, resumes, f.flips);
	EXPECT_EQ(0, f.err);
	/* The layout changed under resumes, or the test showed nothing. */
	EXPECT_LT(0, resumes);
	EXPECT_LT(0, f.flips);
}

/* ---- error_after_walk_flushes ---- */

/*
 * Fixed addresses below everything else, so that the walk meets them
 * first: W (worker and control pages), then B, whose pages, all written
 * after the acknowledged checkpoint, outgrow the walk's page list.
 */
#define W_ADDR		0x10000000UL
#define W_PAGES		32		/* 0..15 the worker's, 16..31 control */
#define WORKER_PAGES	16
#define B_ADDR		0x20000000UL
#define B_PAGES		4096
#define T_WORKER_START	(T_USER + 0)
#define T_WORKER_STOP	(T_USER + 1)
#define T_DIRTY		(T_USER + 2)

/* In the target; the same address in this process (fork()). */
static struct {
	volatile uint64_t passes;
	volatile int stop;
	pthread_t th;
} worker;

/* On CPU 1, rewrites its pages as fast as it can: their TLB entries stay. */
static void *worker_run(void *arg)
{
	cpu_set_t set;
	uint64_t n;
	size_t i;

	(void)arg;
	CPU_ZERO(&set);
	CPU_SET(1, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return NULL;
	for (n = 1; !worker.stop; n++) {
		for (i = 0; i < WORKER_PAGES; i++)
			fill_page(W_ADDR, i, n << 32 | i << 16);
		worker.passes = n;
	}
	return NULL;
}

static void tlb_setup(struct target *t, void *arg)
{
	size_t i;

	(void)arg;
	if (mmap((void *)W_ADDR, HPAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) !=
	    (void *)W_ADDR ||
	    mmap((void *)B_ADDR, B_PAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) !=
	    (void *)B_ADDR)
		_exit(1);
	/* 4 KiB entries: soft-dirty per page, not per huge page. */
	if (madvise((void *)W_ADDR, HPAGE, MADV_NOHUGEPAGE))
		_exit(1);
	t->base = W_ADDR;
	for (i = 0; i < W_PAGES; i++)
		fill_page(W_ADDR, i, (uint64_t)i << 32);
	for (i = 0; i < B_PAGES; i++)
		fill_page(B_ADDR, i, (uint64_t)(i + 1) << 40);
}

static int tlb_cmd(struct target *t, struct tcmd *c, void *arg)
{
	size_t i;

	(void)t;
	(void)arg;
	switch (c->op) {
	case T_WORKER_START:
		return pthread_create(&worker.th, NULL, worker_run, NULL);
	case T_WORKER_STOP:
		worker.stop = 1;
		return pthread_join(worker.th, NULL);
	case T_DIRTY:
		for (i = WORKER_PAGES; i < W_PAGES; i++)
			fill_page(W_ADDR, i, (uint64_t)i << 32 | c->a);
		for (i = 0; i < B_PAGES; i++)
			fill_page(B_ADDR, i, (uint64_t)(i + 1) << 40 | c->a);
		return 0;
	}
	return -1;
}

static uint64_t worker_passes(pid_t pid)
{
	uint64_t n = 0;
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	if (pread(fd, &n, sizeof(n), (off_t)(uintptr_t)&worker.passes) !=
	    sizeof(n))
		n = 0;
	close(fd);
	return n;
}

/* Waits until the worker has rewritten all its pages @n more times. */
static bool worker_wait(pid_t pid, uint64_t n)
{
	uint64_t until = worker_passes(pid) + n;
	int i;

	for (i = 0; i < 10000; i++) {
		if (worker_passes(pid) >= until)
			return true;
		usleep(1000);
	}
	return false;
}

/* Is @addr in @g with exactly what /proc/PID/mem reads there now? */
static bool got_is_live(struct got *g, pid_t pid, uint64_t addr)
{
	struct got_page *p = got_find(g, addr);
	static uint8_t live[PG];
	char path[64];
	bool ok;
	int fd;

	if (!p || !p->intact)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	ok = pread(fd, live, PG, (off_t)addr) == (ssize_t)PG &&
	     page_is(live, p->first);
	close(fd);
	return ok;
}

/*
 * Fails the n-th and the (n+1)-th allocation in ensure_room() for n = 1,
 * 2, ... (fail-nth, then failslab's `times` of 2 with the nth counted):
 * while n falls in the list sized before the freeze the checkpoint fails
 * there, with one failure spent and nothing changed; the first n that
 * spends both is the walk's first non-sleeping allocation, the second
 * failure the sleeping one of its resume. Return: that n, 0 if none.
 */
static int fail_after_walk(struct __test_metadata *_metadata,
			   FIXTURE_DATA(fi) *self)
{
	long long left;
	int n, ret, i;

	for (n = 1; n <= 64; n++) {
		ASSERT_EQ(0, fi_write(FAILSLAB "times", "2"));
		ASSERT_EQ(0, fi_write("/proc/thread-self/fail-nth", "%d", n));
		ret = checkpoint(self->nl, self->t.pid, STORE, 1, 0, &self->g);
		fi_write("/proc/thread-self/fail-nth", "0");
		left = fi_read(FAILSLAB "times");
		EXPECT_EQ(-ENOMEM, ret) TH_LOG("allocation %d failed", n);
		if (ret != -ENOMEM || left == 0)
			return ret == -ENOMEM ? n : 0;
		ASSERT_EQ(1, left);
		/* Before the walk: every control page still soft-dirty. */
		for (i = WORKER_PAGES; i < W_PAGES; i++) {
			ASSERT_TRUE(pagemap_soft_dirty(self->t.pid,
						       W_ADDR + i * PG));
		}
	}
	return 0;
}

TEST_F_TIMEOUT(fi, error_after_walk_flushes, 300)
{
	long long refcnt;
	int n, i, stale;
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs two CPUs");
	/* This process and the target's main thread on CPU 0, the worker on 1. */
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(set), &set));
	ASSERT_EQ(0, target_start(&self->t, W_PAGES, tlb_setup, tlb_cmd, NULL));
	ASSERT_EQ(0, target_do(&self->t, T_WORKER_START, 0, 0, 0));
	ASSERT_TRUE(worker_wait(self->t.pid, 2));

	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 0, 0, &self->g));
	ASSERT_EQ(0, snapper_genl_ack(self->nl, self->t.pid, STORE,
				      self->g.h.checkpoint_id, 1));
	ASSERT_EQ(0, target_do(&self->t, T_DIRTY, 1, 0, 0));
	refcnt = guest_module_refcnt();

	ASSERT_EQ(0, fi_arm(false, 0));
	ASSERT_EQ(0, guest_write_file("/proc/self/make-it-fail", "1"));
	n = fail_after_walk(_metadata, self);
	fi_restore(&self->saved);
	ASSERT_LT(0, n);
	TH_LOG("allocation %d of ensure_room() was the walk's first", n);
	ASSERT_EQ(0, read_stat("pages_held"));
	/* The walk had cleaned the control pages before it failed. */
	for (i = WORKER_PAGES; i < W_PAGES; i++) {
		ASSERT_FALSE(pagemap_soft_dirty(self->t.pid, W_ADDR + i * PG))
			TH_LOG("control page %d still soft-dirty", i);
	}
	ASSERT_TRUE(worker_wait(self->t.pid, 3));
	for (i = 0, stale = 0; i < WORKER_PAGES; i++)
		stale += !pagemap_soft_dirty(self->t.pid, W_ADDR + i * PG);
	ASSERT_EQ(0, stale)
		TH_LOG("%d of %d pages written without a fault: stale TLB "
		       "entries survived the failed checkpoint", stale,
		       WORKER_PAGES);

	/*
	 * Both threads back in user mode ran their freeze works: the module
	 * holds what it held before. The session works again: FULL, as the
	 * failure forgot the base.
	 */
	ASSERT_EQ(0, target_do(&self->t, T_WORKER_STOP, 0, 0, 0));
	ASSERT_EQ(refcnt, guest_module_refcnt());
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 1, 0, &self->g));
	ASSERT_TRUE(self->g.h.full);
	for (i = 0; i < W_PAGES; i++) {
		ASSERT_TRUE(got_is_live(&self->g, self->t.pid, W_ADDR + i * PG))
			TH_LOG("page %d of W", i);
	}
	for (i = 0; i < B_PAGES; i++) {
		ASSERT_TRUE(got_is_live(&self->g, self->t.pid, B_ADDR + i * PG))
			TH_LOG("page %d of B", i);
	}
	ASSERT_EQ(0, snapper_genl_ack(self->nl, self->t.pid, STORE,
				      self->g.h.checkpoint_id, 2));
	ASSERT_EQ(0, target_do(&self->t, T_WRITE, 3, 0x3a3a00000000ULL, 0));
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 2, 0, &self->g));
	ASSERT_FALSE(self->g.h.full);
	ASSERT_TRUE(got_is_live(&self->g, self->t.pid, W_ADDR + 3 * PG));
	ASSERT_EQ(0x3a3a00000000ULL, got_find(&self->g, W_ADDR + 3 * PG)->first);
	got_free(&self->g);
	ASSERT_EQ(0, read_stat("pages_held"));
}

TEST_HARNESS_MAIN
