// SPDX-License-Identifier: GPL-2.0
/*
 * Random sequences of memory-management calls, each round checkpointed
 * and compared with the live memory by oracle_compare(): the combinations
 * oracle.c's catalogue does not list one by one (a mapping moved by
 * mremap() after part of it was discarded, made read-only, forked,
 * swapped out, collapsed into a huge page, and so on).
 *
 * A target works in an arena of ARENA_PAGES at a fixed address, mapped and
 * written whole at first (half of it with THP). Each round it makes one to
 * OPS_MAX calls chosen by a seeded generator: maps (private anonymous,
 * with or without THP; hugetlb, private or shared; a memfd shared or
 * private; a scratch file private), unmaps, mprotect()s, writes pages (from user
 * mode, and through /proc/self/mem and process_vm_writev()), reads
 * pages with process_vm_readv() (whose pin unshares KSM pages), madvise()s
 * (DONTNEED, FREE, PAGEOUT, COLD, POPULATE_READ/WRITE, HUGEPAGE,
 * NOHUGEPAGE, COLLAPSE, WIPEONFORK, REMOVE, MERGEABLE with ksmd running
 * and use_zero_pages, UNMERGEABLE, DONTNEED_LOCKED), mremap()s (move, grow, shrink,
 * DONTUNMAP), mlock()s, munlock()s, turns KSM on and off for the whole
 * process (PR_SET_MEMORY_MERGE, 6.4 and later), mseal()s (6.10 and
 * later), punches holes in the memfd, cuts the memfd or the file short and
 * grows it back (ftruncate()), writes the file under its private mapping,
 * uses userfaultfd (see do_uffd()), and forks children that write their
 * copies (one may stay alive, asleep, sharing pages copy-on-write, for a
 * few rounds). A write that meets no mapping or a read-only one faults and
 * is skipped (SIGSEGV, SIGBUS). Then it parks, is checkpointed (full
 * every FULL_EVERY rounds and first, incremental otherwise), and compared,
 * with the module and with --backend proc. Before some checkpoints the
 * test compacts memory, drops the caches, or pages out or collapses the
 * arena with process_madvise(); every fifth round it first restores one
 * arena mapping from the previous generation (snapper-tool restore
 * --range) and compares it with that generation.
 *
 * The large_* variants make the same calls with large folios wherever the
 * kernel makes them (guest_large_folios_on()), and shared anonymous
 * memory among the mappings: huge pages in shared memory, and on 6.8 and
 * later folios of 16 KiB to 1 MiB in private anonymous memory (in shared
 * anonymous memory from 6.11), mostly mapped by page table entries, which
 * the calls split, swap, collapse, migrate and copy on write. They fail
 * if the kernel made none.
 *
 * The storm_* variants make the same calls from STORM_THREADS threads at
 * once, without pause (and threads that write and end instead of half the
 * forks), through STORM_CKPTS checkpoints; then the threads park, and the
 * next generation, incremental on top of the storm's, must equal the
 * memory (see storm_test()).
 *
 * The deleted_* variants make the same calls with the scratch file
 * deleted once the target has it open: its mappings are then memory no
 * name reaches (kmod/shared.c's is_disk_file()), held whole in every
 * generation.
 *
 * A failure names the seed and the calls of the last rounds.
 * $SNAPPER_RANDOM_SEED, $SNAPPER_RANDOM_ROUNDS and $SNAPPER_RANDOM_STORM
 * (checkpoints in a storm) replay or lengthen a run. The default seed is
 * fixed for a kernel release, so that CI makes the same calls every time;
 * the kernel's own choices (THP, swap, the storm's interleaving) still
 * vary.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>

#include <linux/userfaultfd.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"
#include "oracle.h"

#define ARENA		((uint8_t *)0x7d0000000000ULL)
#define ARENA_PAGES	8192UL		/* 32 MiB */
#define HP		512UL		/* pages per huge page */
#define OBJ_PAGES	2048UL		/* the memfd's and the file's size */
#define OPS_MAX		4
#define ROUNDS		40
#define ROUNDS_DEBUG	15		/* KASAN and lockdep: several times slower */
#define FULL_EVERY	10
#define MSG		512		/* a round's report: status, then text */
#define KEEP		4		/* rounds' reports shown on a failure */
#define TARGET_LIFE	900
#define STORM_THREADS	4
#define HUGE_POOL	16		/* hugetlb pages reserved for the target */
#define STORM_CKPTS	20		/* checkpoints during a storm */

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24	/* 5.18: DONTNEED that mlock()ed pages obey too */
#endif
#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67	/* 6.4: every mapping of the process mergeable */
#endif
/* ---- the target ---- */

/* Each thread of a storm has its own generator, fault target and report. */
static __thread uint64_t rng;
static __thread sigjmp_buf fault_jmp;
static int memfd = -1, filefd = -1, selfmem = -1, uffd = -1;
static pid_t sleeper;			/* a child kept alive, or 0 */
static int sleeper_rounds;
static __thread char text[MSG];
static __thread size_t text_len;
static bool storm;			/* threads at once: no child stays */
static bool large;			/* a large_* variant's target */
static volatile sig_atomic_t calm;	/* SIGUSR1: the storm is to end */

static uint64_t next(void)
{
	return guest_rand(&rng);
}

static uint64_t below(uint64_t n)
{
	return n ? next() % n : 0;
}

static void say(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (text_len >= sizeof(text) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(text + text_len, sizeof(text) - text_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		text_len += (size_t)n;
	if (text_len > sizeof(text) - 1)
		text_len = sizeof(text) - 1;
}

static void on_fault(int sig)
{
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

/* A range of the arena: [first, first + n) in pages, huge-aligned at times. */
static void pick(size_t *first, size_t *n)
{
	static const size_t sizes[] = { 1, 3, 16, 100, HP, HP, 2 * HP, 700 };

	*n = sizes[below(sizeof(sizes) / sizeof(sizes[0]))];
	*first = below(ARENA_PAGES - *n + 1);
	if (below(2))
		*first &= ~(HP - 1);
}

static uint8_t *at(size_t page)
{
	return ARENA + page * PG;
}

/*
 * Writes @count random pages of [first, first + n), each whole or one
 * word, skipping those that fault. Return: pages written.
 */
static int write_pages(size_t first, size_t n, int count)
{
	volatile int done = 0, i;

	for (i = 0; i < count; i++) {
		volatile uint64_t *p = (volatile uint64_t *)at(first + below(n));
		uint64_t v = next();

		if (sigsetjmp(fault_jmp, 1))
			continue;
		if (below(4) == 0) {
			/*
			 * One of four contents: pages KSM can merge, zeros
			 * with the zero page (use_zero_pages).
			 */
			v = 0x1111111111111111ULL * below(4);
			for (size_t k = 0; k < PG / 8; k++)
				p[k] = v;
		} else if (below(2)) {
			for (size_t k = 0; k < PG / 8; k++)
				p[k] = v + k;
		} else {
			p[below(PG / 8)] = v;
		}
		done++;
	}
	return done;
}

/*
 * Private anonymous memory, with or without MADV_HUGEPAGE; with large
 * folios, shared anonymous memory a time in three (6.11 and later make
 * folios of every size in it, not in a memfd: shmem_allowable_huge_orders()).
 */
static int map_anon(size_t first, size_t n)
{
	bool thp = below(2), shared = large && !below(3);

	say("anon%s%s %zu+%zu; ", shared ? "(shared)" : "", thp ? "(thp)" : "",
	    first, n);
	if (mmap(at(first), n * PG, PROT_READ | PROT_WRITE,
		 (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0) == MAP_FAILED)
		return -1;
	if (thp)
		madvise(at(first), n * PG, MADV_HUGEPAGE);
	return 0;
}

/*
 * Hugetlb pages, private or shared (MAP_ANONYMOUS), one or two, at a
 * huge-aligned place: from the pool the test reserved (HUGE_POOL pages;
 * when it is empty the mapping fails, and so does a fault on it later:
 * SIGBUS, a skipped write).
 */
static int map_huge(size_t first, size_t n)
{
	bool shared = below(2);
	void *p;

	first &= ~(HP - 1);
	n = n > HP && first + 2 * HP <= ARENA_PAGES ? 2 * HP : HP;
	p = mmap(at(first), n * PG, PROT_READ | PROT_WRITE,
		 (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS |
		 MAP_HUGETLB | MAP_FIXED, -1, 0);
	say("hugetlb(%s) %zu+%zu%s; ", shared ? "shared" : "private", first,
	    n, p == MAP_FAILED ? "(failed)" : "");
	return 0;
}

static int map_object(size_t first, size_t n, bool shared)
{
	int fd = shared ? memfd : filefd;
	size_t off;
	bool priv;

	if (n > OBJ_PAGES)
		n = OBJ_PAGES;
	off = below(OBJ_PAGES - n + 1);
	/*
	 * With large folios, half the memfd's mappings at an offset that
	 * lines its huge pages up with the arena's, so that the kernel may
	 * map them whole (a PMD); the others map parts of them (PTEs).
	 */
	if (large && shared && below(2) && first % HP + n <= OBJ_PAGES)
		off = first % HP + below((OBJ_PAGES - n - first % HP) / HP + 1) * HP;
	/*
	 * The memfd private at odd offsets (no draw of its own: the calls
	 * stay those of before): the target's copies over the object's
	 * pages, which the other mappings and the memfd's calls change.
	 */
	priv = !shared || off % 2;
	say("%s %zu+%zu@%zu; ", shared ? priv ? "memfd-private" : "memfd" :
		"file", first, n, off);
	if (mmap(at(first), n * PG, PROT_READ | PROT_WRITE,
		 (priv ? MAP_PRIVATE : MAP_SHARED) | MAP_FIXED, fd,
		 (off_t)(off * PG)) == MAP_FAILED)
		return -1;
	return 0;
}

static int do_madvise(size_t first, size_t n)
{
	static const struct { int advice; const char *name; } a[] = {
		{ MADV_DONTNEED, "dontneed" }, { MADV_FREE, "free" },
		{ MADV_PAGEOUT, "pageout" }, { MADV_COLD, "cold" },
		{ MADV_POPULATE_READ, "populate_read" },
		{ MADV_POPULATE_WRITE, "populate_write" },
		{ MADV_HUGEPAGE, "hugepage" }, { MADV_NOHUGEPAGE, "nohugepage" },
		{ MADV_COLLAPSE, "collapse" }, { MADV_WIPEONFORK, "wipeonfork" },
		{ MADV_REMOVE, "remove" }, { MADV_MERGEABLE, "mergeable" },
		{ MADV_UNMERGEABLE, "unmergeable" },
		{ MADV_DONTNEED_LOCKED, "dontneed_locked" },
	};
	size_t k = below(sizeof(a) / sizeof(a[0]));
	int r = madvise(at(first), n * PG, a[k].advice);

	say("%s %zu+%zu%s; ", a[k].name, first, n, r ? "(failed)" : "");
	return 0;
}

static int do_mremap(size_t first, size_t n)
{
	size_t to = below(ARENA_PAGES - 2 * n + 1), m;
	void *p;

	switch (below(4)) {
	case 0:
		p = mremap(at(first), n * PG, n * PG,
			   MREMAP_MAYMOVE | MREMAP_FIXED, at(to));
		say("mremap move %zu+%zu->%zu%s; ", first, n, to,
		    p == MAP_FAILED ? "(failed)" : "");
		return 0;
	case 1:
		m = n + below(n) + 1;
		p = first + m <= ARENA_PAGES ?
		    mremap(at(first), n * PG, m * PG, 0) : MAP_FAILED;
		say("mremap grow %zu+%zu->%zu%s; ", first, n, m,
		    p == MAP_FAILED ? "(failed)" : "");
		return 0;
	case 2:
		m = n > 1 ? 1 + below(n - 1) : 1;
		p = mremap(at(first), n * PG, m * PG, 0);
		say("mremap shrink %zu+%zu->%zu%s; ", first, n, m,
		    p == MAP_FAILED ? "(failed)" : "");
		return 0;
	}
	p = mremap(at(first), n * PG, n * PG,
		   MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, at(to));
	say("mremap dontunmap %zu+%zu->%zu%s; ", first, n, to,
	    p == MAP_FAILED ? "(failed)" : "");
	return 0;
}

/*
 * Reads [first, first + n) with process_vm_readv(), page after page into
 * one buffer: its read-only pin unshares what it meets without a write
 * fault (a KSM page becomes the process's own copy, on 6.1 as soft-clean
 * as KSM left it, at times on the frame its written page had).
 */
static int pin_read(size_t first, size_t n)
{
	static __thread uint8_t page[PG];
	struct iovec local[2 * HP], far = { at(first), n * PG };
	ssize_t r;

	for (size_t i = 0; i < n; i++)
		local[i] = (struct iovec){ page, PG };
	r = process_vm_readv(getpid(), local, n, &far, 1, 0);
	say("process_vm_readv %zu+%zu: %zd; ", first, n, r < 0 ? r : r / (ssize_t)PG);
	return 0;
}

/* Writes through the kernel: /proc/self/mem (even read-only), process_vm_writev. */
static int kernel_write(size_t first, size_t n)
{
	uint64_t v = next();
	uint8_t *p = at(first + below(n)) + below(PG / 8) * 8;
	struct iovec local = { &v, sizeof(v) }, far = { p, sizeof(v) };
	bool vm = below(2);
	ssize_t r;

	if (below(3) == 0)
		return pin_read(first, n);
	r = vm ? process_vm_writev(getpid(), &local, 1, &far, 1, 0) :
		 pwrite(selfmem, &v, sizeof(v), (off_t)(uintptr_t)p);
	say("%s %#lx%s; ", vm ? "process_vm_writev" : "/proc/self/mem",
	    (unsigned long)(uintptr_t)p, r == (ssize_t)sizeof(v) ? "" : "(failed)");
	return 0;
}

/*
 * The memfd or the file cut to @pages (modulo their size) and grown back
 * at once: the memfd's pages past the cut are gone from the object (zeros
 * now, in every shared mapping), and the file's from every mapping, the
 * target's own copies in a private one included (the file's bytes, zeros,
 * again).
 */
static int cut_short(size_t pages)
{
	bool file = below(2);
	int fd = file ? filefd : memfd;
	int r;

	pages %= OBJ_PAGES;
	r = ftruncate(fd, (off_t)(pages * PG)) ||
	    ftruncate(fd, (off_t)(OBJ_PAGES * PG));
	say("truncate %s %zu%s; ", file ? "file" : "memfd", pages,
	    r ? "(failed)" : "");
	return 0;
}

/* The objects behind the mappings, changed through no mapping of them. */
static int object_call(size_t first)
{
	uint64_t v = next();
	off_t off = (off_t)(below(OBJ_PAGES) * PG);
	int r;

	switch (below(3)) {
	case 0:
		r = fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      off, (off_t)((1 + below(64)) * PG));
		say("punch memfd%s; ", r ? "(failed)" : "");
		return 0;
	case 1:
		return cut_short(first);
	}
	r = pwrite(filefd, &v, sizeof(v), off) != sizeof(v);
	say("pwrite file %lld%s; ", (long long)off, r ? "(failed)" : "");
	return 0;
}

static void end_sleeper(void)
{
	if (!sleeper)
		return;
	kill(sleeper, SIGKILL);
	waitpid(sleeper, NULL, 0);
	sleeper = 0;
}

struct spawned {
	size_t first, n;
	uint64_t seed;
};

static void *spawned(void *arg)
{
	struct spawned *a = arg;

	rng = a->seed | 1;
	write_pages(a->first, a->n, 8);
	return NULL;
}

/*
 * In a storm: a thread that writes a few pages and ends, so that threads
 * come and go while the checkpoints freeze the others.
 */
static int do_thread(size_t first, size_t n)
{
	struct spawned a = { first, n, next() };
	pthread_t t;

	if (pthread_create(&t, NULL, spawned, &a))
		return 0;
	pthread_join(t, NULL);
	return 0;
}

/*
 * A child writes its copies; it exits, or sleeps on for a few rounds. In
 * a storm, half the time a thread does instead (do_thread()).
 */
static int do_fork(size_t first, size_t n)
{
	bool stay = !storm && !sleeper && below(2);
	pid_t pid;

	if (storm && below(2))
		return do_thread(first, n);

	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		write_pages(first, n, 8);
		if (stay)
			pause();
		_exit(0);
	}
	if (stay) {
		sleeper = pid;
		sleeper_rounds = 1 + (int)below(4);
	} else {
		waitpid(pid, NULL, 0);
	}
	say("fork%s %zu+%zu; ", stay ? "(stays)" : "", first, n);
	return 0;
}

/*
 * userfaultfd on a range: registered (missing faults, and write-protect
 * where the kernel allows it) or not, pages filled (COPY, ZEROPAGE, MOVE
 * from elsewhere in the arena), write-protected or released. The file
 * descriptor asks for SIGBUS instead of events: a fault in a registered
 * range is a skipped write, never a wait (nobody reads events here).
 */
static int do_uffd(size_t first, size_t n)
{
	static uint64_t src[PG / 8];
	struct uffdio_register reg = {
		.range = { (uintptr_t)at(first), n * PG },
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = { .range = reg.range };
	struct uffdio_zeropage z = { .range = { (uintptr_t)at(first), PG } };
	struct uffdio_copy c = { .dst = (uintptr_t)at(first),
				 .src = (uintptr_t)src, .len = PG };
	struct uffdio_move mv = { .dst = (uintptr_t)at(first),
				  .src = (uintptr_t)at(below(ARENA_PAGES)),
				  .len = PG };
	const char *what;
	int r;

	switch (below(6)) {
	case 0:
		r = ioctl(uffd, UFFDIO_REGISTER, &reg);
		if (r) {
			reg.mode = UFFDIO_REGISTER_MODE_MISSING;
			r = ioctl(uffd, UFFDIO_REGISTER, &reg);
		}
		what = "register";
		break;
	case 1:
		r = ioctl(uffd, UFFDIO_UNREGISTER, &reg.range);
		what = "unregister";
		break;
	case 2:
		for (size_t k = 0; k < PG / 8; k++)
			src[k] = next();
		r = ioctl(uffd, UFFDIO_COPY, &c);
		what = "copy";
		break;
	case 3:
		r = ioctl(uffd, UFFDIO_ZEROPAGE, &z);
		what = "zeropage";
		break;
	case 4:
		wp.mode = below(2) ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
		r = ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
		what = wp.mode ? "writeprotect" : "unprotect";
		break;
	default:
		r = ioctl(uffd, UFFDIO_MOVE, &mv);
		what = "move";
		break;
	}
	say("uffd %s %zu+%zu%s; ", what, first, n, r ? "(failed)" : "");
	return 0;
}

static int one_call(void)
{
	size_t first, n;
	int r = 0, prot;

	pick(&first, &n);
	switch (below(17)) {
	case 0:
		return map_anon(first, n);
	case 1:
		return below(2) ? map_anon(first, n) : map_huge(first, n);
	case 2:
		return map_object(first, n, true);
	case 3:
		return map_object(first, n, false);
	case 4:
		say("munmap %zu+%zu; ", first, n);
		return munmap(at(first), n * PG);
	case 5:
		prot = (int[]){ PROT_READ, PROT_READ | PROT_WRITE, PROT_NONE }[below(3)];
		r = mprotect(at(first), n * PG, prot);
		say("mprotect %zu+%zu %d%s; ", first, n, prot, r ? "(failed)" : "");
		return 0;
	case 6: case 7: case 8:
		say("write %zu+%zu: %d; ", first, n, write_pages(first, n, 1 + (int)below(32)));
		return 0;
	case 9: case 10:
		return do_madvise(first, n);
	case 11:
		return do_mremap(first, n);
	case 12:
		return do_fork(first, n);
	case 13:
		return kernel_write(first, n);
	case 14:
		return do_uffd(first, n);
	case 15:
		return object_call(first);
	}
	switch (below(6)) {
	case 0: case 1:
		r = mlock(at(first), n * PG);
		say("mlock %zu+%zu%s; ", first, n, r ? "(failed)" : "");
		return 0;
	case 2: case 3:
		r = munlock(at(first), n * PG);
		say("munlock %zu+%zu%s; ", first, n, r ? "(failed)" : "");
		return 0;
	case 4:
		prot = (int)below(2);
		r = prctl(PR_SET_MEMORY_MERGE, prot, 0, 0, 0);
		say("prctl memory_merge %d%s; ", prot, r ? "(failed)" : "");
		return 0;
	}
	/* mseal(), 6.10 and later: the range can no longer be unmapped, moved or reprotected. */
	r = (int)syscall(462, at(first), n * PG, 0);
	say("mseal %zu+%zu%s; ", first, n, r ? "(failed)" : "");
	return 0;
}

static void on_calm(int sig)
{
	(void)sig;
	calm = 1;
}

/*
 * A thread of a storm: calls until SIGUSR1, then parks in read() of
 * @park (nothing is ever written there), where oracle_wait_all_parked()
 * finds it.
 */
struct stormer {
	pthread_t thread;
	uint64_t seed;
	int park;
};

static atomic_long storm_calls;

static void *stormer(void *arg)
{
	struct stormer *t = arg;
	char c;

	rng = t->seed | 1;
	while (!calm) {
		text_len = 0;
		one_call();
		atomic_fetch_add(&storm_calls, 1);
	}
	while (read(t->park, &c, 1) < 0)
		;
	return NULL;
}

/*
 * STORM_THREADS threads call at once, without pause, while the test
 * checkpoints; on SIGUSR1 they park, the main thread reports, and the
 * target waits in read() for the end.
 */
static void storm_on(int cmd, int ack, uint64_t seed)
{
	struct sigaction sa = { .sa_handler = on_calm };
	struct stormer t[STORM_THREADS];
	char msg[MSG] = "o", c;
	int park[2], i;

	sigset_t usr1;

	storm = true;
	sigaction(SIGUSR1, &sa, NULL);
	/* The threads inherit SIGUSR1 blocked: it wakes the main thread. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	if (pipe(park))
		_exit(1);
	for (i = 0; i < STORM_THREADS; i++) {
		t[i].seed = seed + (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL;
		t[i].park = park[0];
		if (pthread_create(&t[i].thread, NULL, stormer, &t[i]))
			_exit(1);
	}
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	if (write(ack, msg, MSG) != MSG)
		_exit(1);
	while (!calm)
		pause();
	snprintf(msg, sizeof(msg), "o%ld", atomic_load(&storm_calls));
	if (write(ack, msg, MSG) != MSG)
		_exit(1);
	while (read(cmd, &c, 1) == 1)
		;
	_exit(0);
}

static void target(int cmd, int ack, uint64_t seed, const char *file,
		   bool with_storm, bool with_large, bool deleted)
{
	struct sigaction sa = { .sa_handler = on_fault };
	char msg[MSG], c;

	oracle_target_init();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(TARGET_LIFE);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	rng = seed | 1;
	memfd = memfd_create("oracle-random", 0);
	filefd = open(file, O_RDWR);
	if (filefd >= 0 && deleted && unlink(file))
		_exit(1);
	selfmem = open("/proc/self/mem", O_RDWR);
	uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd >= 0) {
		struct uffdio_api api = { .api = UFFD_API,
					  .features = UFFD_FEATURE_SIGBUS };

		if (ioctl(uffd, UFFDIO_API, &api))
			_exit(1);
	}
	if (memfd < 0 || ftruncate(memfd, (off_t)(OBJ_PAGES * PG)) ||
	    filefd < 0 || selfmem < 0)
		_exit(1);
	/*
	 * The memfd written whole first, by write(2), so that its private
	 * mappings read content of its own; with large folios (random
	 * bytes), which the mappings' alignment does not limit: huge pages
	 * from the start. Without, a pattern: no draws, the calls stay
	 * those of before.
	 */
	large = with_large;
	for (size_t i = 0; i < OBJ_PAGES; i++) {
		uint64_t page[PG / 8];

		for (size_t k = 0; k < PG / 8; k++)
			page[k] = large ? next() : i << 32 | k | 1ULL << 63;
		if (pwrite(memfd, page, PG, (off_t)(i * PG)) != (ssize_t)PG)
			_exit(1);
	}
	/* Round 0 starts from the arena mapped and written whole, half THP. */
	if (mmap(ARENA, ARENA_PAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != ARENA)
		_exit(1);
	madvise(ARENA, ARENA_PAGES / 2 * PG, MADV_HUGEPAGE);
	/*
	 * With large folios, the arena's end is shared anonymous memory, from
	 * a 256 KiB boundary: folios smaller than a huge page up to the next
	 * 2 MiB one, then a huge page.
	 */
	if (large && mmap(at(ARENA_PAGES - 2 * HP + 64), (2 * HP - 64) * PG,
			  PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		_exit(1);
	for (size_t i = 0; i < ARENA_PAGES * PG / 8; i++)
		((uint64_t *)ARENA)[i] = next();
	if (with_storm)
		storm_on(cmd, ack, seed);
	for (;;) {
		int k, calls = 1 + (int)below(OPS_MAX);

		text_len = 0;
		text[0] = '\0';
		msg[0] = 'o';
		if (sleeper && !--sleeper_rounds) {
			end_sleeper();
			say("sleeper ends; ");
		}
		/*
		 * A call the kernel refuses is said, not a failure: many are
		 * meant to be refused (a range over a hole, a small-page
		 * split of a hugetlb mapping: ENOMEM from mmap() on 6.1).
		 * The comparisons judge.
		 */
		for (k = 0; k < calls; k++)
			if (one_call())
				say("(failed: %s) ", strerror(errno));
		memcpy(msg + 1, text, MSG - 1);
		msg[MSG - 1] = '\0';
		if (write(ack, msg, MSG) != MSG)
			_exit(1);
		if (read(cmd, &c, 1) != 1) {
			end_sleeper();
			_exit(0);
		}
	}
}

/* ---- the test ---- */

FIXTURE(oracle_random) {
	struct oracle_link t;
	char store[256], file[256], swapfile[256];
	char hugepages[32];	/* vm.nr_hugepages to put back, or "" */
	struct guest_ksm ksm;
	struct guest_thp thp;
	long long folios[3];	/* guest_large_folio_counts() at the start */
	const char *no_swap;
};

FIXTURE_VARIANT(oracle_random) {
	bool proc;
	bool storm;		/* threads calling during the checkpoints */
	bool large;		/* large folios: guest_large_folios_on() */
	bool deleted;		/* the scratch file deleted once open */
};

FIXTURE_VARIANT_ADD(oracle_random, module) { .proc = false };
FIXTURE_VARIANT_ADD(oracle_random, proc) { .proc = true };
FIXTURE_VARIANT_ADD(oracle_random, storm_module) { .proc = false, .storm = true };
FIXTURE_VARIANT_ADD(oracle_random, storm_proc) { .proc = true, .storm = true };
FIXTURE_VARIANT_ADD(oracle_random, large_module) { .proc = false, .large = true };
FIXTURE_VARIANT_ADD(oracle_random, large_proc) { .proc = true, .large = true };
FIXTURE_VARIANT_ADD(oracle_random, storm_large_module) {
	.proc = false, .storm = true, .large = true
};
FIXTURE_VARIANT_ADD(oracle_random, storm_large_proc) {
	.proc = true, .storm = true, .large = true
};
FIXTURE_VARIANT_ADD(oracle_random, deleted_module) {
	.proc = false, .deleted = true
};
FIXTURE_VARIANT_ADD(oracle_random, deleted_proc) {
	.proc = true, .deleted = true
};

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

/* Fixed for a kernel release, so that each kernel of make check runs its own calls. */
static uint64_t default_seed(void)
{
	struct utsname u;
	uint64_t h = 0x5eed2026;

	if (!uname(&u))
		for (const char *c = u.release; *c; c++)
			h = (h ^ (uint8_t)*c) * 0x100000001b3ULL;
	return h;
}

FIXTURE_SETUP(oracle_random)
{
	const char *why = guest_backend_skip_reason(variant->proc);
	uint64_t seed = env_u64("SNAPPER_RANDOM_SEED", default_seed());

	self->t.pid = 0;
	self->swapfile[0] = '\0';
	self->file[0] = '\0';
	self->hugepages[0] = '\0';
	memset(&self->ksm, 0, sizeof(self->ksm));
	self->thp.n = 0;
	if (why)
		SKIP(return, "%s", why);
	if (variant->proc && guest_debug_kernel())
		SKIP(return, "--backend proc and restore are userspace: run on 6.1 and 6.12");
	guest_store_path(self->store, sizeof(self->store),
			 variant->proc ? "oracle-random-proc" : "oracle-random");
	snprintf(self->file, sizeof(self->file), "%s/oracle-random-%d.file",
		 getenv("SNAPPER_SCRATCH"), getpid());
	ASSERT_EQ(0, guest_sh(NULL, 0, "head -c %lu /dev/urandom > '%s'",
			      OBJ_PAGES * PG, self->file));
	self->no_swap = oracle_swap_on(self->swapfile, sizeof(self->swapfile));
	if (self->no_swap)
		TH_LOG("note: %s: MADV_PAGEOUT leaves anonymous pages in place",
		       self->no_swap);
	why = guest_reserve_huge(self->hugepages, sizeof(self->hugepages),
				 HUGE_POOL);
	if (why)
		TH_LOG("note: %s: the hugetlb mappings fail", why);
	self->ksm.zero_pages = true;
	why = guest_ksm_start(&self->ksm);
	if (why)
		TH_LOG("note: %s: MADV_MERGEABLE merges nothing", why);
	if (variant->large) {
		why = guest_large_folios_on(&self->thp);
		if (why && !self->thp.n)
			SKIP(return, "%s", why);
		ASSERT_EQ(NULL, why);
		guest_large_folio_counts(self->folios);
	}
	TH_LOG("seed %#llx (SNAPPER_RANDOM_SEED replays it)",
	       (unsigned long long)seed);
	ASSERT_LE(0, oracle_fork(&self->t));
	if (!self->t.pid)
		target(self->t.cmd, self->t.ack, seed, self->file, variant->storm,
		       variant->large, variant->deleted);
}

FIXTURE_TEARDOWN(oracle_random)
{
	if (self->t.pid > 0) {
		oracle_kill(&self->t);
		guest_sh(NULL, 0, "rm -rf '%s'", self->store);
	}
	if (self->file[0])
		unlink(self->file);
	oracle_swap_off(self->swapfile);
	guest_release_huge(self->hugepages);
	guest_ksm_stop(&self->ksm);
	guest_large_folios_off(&self->thp);
}

/*
 * What the kernel does to a parked target's pages without it: compaction
 * migrates them (and may build huge pages), dropped caches take the file's
 * pages its mappings read through, and another process's
 * process_madvise() pages its arena out or collapses it into huge pages.
 * Said in the round's report (@seen).
 */
static void kernel_moves(struct __test_metadata *_metadata, char *seen,
			 pid_t pid, uint64_t r)
{
	struct iovec arena = { ARENA, ARENA_PAGES * PG };
	size_t len = strlen(seen);
	char what[64];
	int ret, fd;

	switch (r % 3) {
	case 0:
		ret = guest_write_file("/proc/sys/vm/compact_memory", "1");
		snprintf(what, sizeof(what), "compact_memory");
		break;
	case 1:
		ret = guest_write_file("/proc/sys/vm/drop_caches", "3");
		snprintf(what, sizeof(what), "drop_caches");
		break;
	default:
		fd = (int)syscall(SYS_pidfd_open, pid, 0);
		ret = fd < 0 ? -1 : (int)syscall(SYS_process_madvise, fd, &arena,
						 1, r % 2 ? MADV_PAGEOUT :
						 MADV_COLLAPSE, 0);
		snprintf(what, sizeof(what), "process_madvise %s%s",
			 r % 2 ? "PAGEOUT" : "COLLAPSE", ret < 0 ? "(failed)" : "");
		if (fd >= 0)
			close(fd);
		ret = 0;
		break;
	}
	if (ret)
		TH_LOG("note: %s failed", what);
	else if (len < MSG - 64)
		snprintf(seen + len, MSG - 1 - len, "(test: %s)", what);
}

/*
 * Of the target's arena mappings, one that generation @gen has at the same
 * address and size, private anonymous or shared memfd (a private file
 * mapping's restored copies read as the file's bytes, which the oracle
 * does not compare), chosen by @pick. Return: false if there is none.
 */
static bool restorable_map(const char *store, uint64_t gen, pid_t pid,
			   uint64_t pick, struct oracle_map *out)
{
	struct oracle_map maps[64], m;
	struct store_snap *snap = NULL;
	const struct store_vma *v;
	struct store *s = NULL;
	size_t n = 0, nv, i;
	char path[64], line[512];
	FILE *f;

	if (store_open(&s, store, NULL, STORE_RDONLY | STORE_NOCREATE) ||
	    store_snap_open(s, gen, &snap)) {
		if (s)
			store_close(s);
		return false;
	}
	nv = store_snap_vmas(snap, &v);
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	while (f && n < 64 && fgets(line, sizeof(line), f)) {
		if (!oracle_parse(line, &m) || m.start < (uintptr_t)ARENA ||
		    m.end > (uintptr_t)ARENA + ARENA_PAGES * PG ||
		    (m.path[0] && !strstr(m.path, "memfd:")))
			continue;
		for (i = 0; i < nv; i++)
			if (v[i].start == m.start && v[i].end == m.end)
				maps[n++] = m;
	}
	if (f)
		fclose(f);
	store_snap_close(snap);
	store_close(s);
	if (!n)
		return false;
	*out = maps[pick % n];
	return true;
}

/* Is @pid's mapping at @start registered with userfaultfd (smaps' VmFlags)? */
static bool uffd_registered(pid_t pid, uint64_t start)
{
	unsigned long long s;
	char path[64], line[512];
	bool here = false, reg = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx-", &s) == 1 && strchr(line, '-'))
			here = s == start;
		else if (here && !strncmp(line, "VmFlags:", 8))
			reg = strstr(line, " um ") || strstr(line, " uw ") ||
			      strstr(line, " ui ");
	}
	if (f)
		fclose(f);
	return reg;
}

/*
 * The bytes of [@start, @end) of @pid, in a buffer to free; zeros for a
 * page that cannot be read (a shared mapping's page past its object's
 * end, a poisoned one), the same before and after a refused restore.
 */
static uint8_t *live_bytes(pid_t pid, uint64_t start, uint64_t end)
{
	uint8_t *buf = malloc(end - start);
	char path[64];
	int mem;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	mem = open(path, O_RDONLY);
	if (buf && (mem < 0 || pread(mem, buf, end - start, (off_t)start) !=
			       (ssize_t)(end - start))) {
		for (uint64_t a = start; mem >= 0 && a < end; a += PG)
			if (pread(mem, buf + (a - start), PG, (off_t)a) != (ssize_t)PG)
				memset(buf + (a - start), 0, PG);
		if (mem < 0) {
			free(buf);
			buf = NULL;
		}
	}
	if (mem >= 0)
		close(mem);
	return buf;
}

/*
 * Restores mapping @m of the parked target from generation @gen (taken
 * before the round's calls changed it) with --range, and compares it with
 * that generation. A shared mapping without write permission cannot be
 * written, even by a tracer, and one registered with userfaultfd could
 * wait for a handler the restore has stopped: the restore must refuse
 * either, with the mapping as it was. Return: the pages that differ (or 1 for a refusal that
 * changed it), -1 on an error.
 */
static long restore_and_compare(const char *store, uint64_t gen, pid_t pid,
				const struct oracle_map *m)
{
	const char *refuse = m->perms[3] == 's' && m->perms[1] != 'w' ?
			     "is shared and read-only: it cannot be written" :
			     uffd_registered(pid, m->start) ?
			     "is registered with userfaultfd" : NULL;
	uint8_t *before = refuse ? live_bytes(pid, m->start, m->end) : NULL;
	struct store_snap *snap = NULL;
	struct store *s = NULL;
	char out[2048], path[64];
	long shown = 0, d = -1;
	int st, mem, pagemap;

	st = guest_sh(out, sizeof(out),
		      "snapper-tool restore --store '%s' --gen %llu --pid %d --range %#llx-%#llx",
		      store, (unsigned long long)gen, pid,
		      (unsigned long long)m->start, (unsigned long long)m->end);
	if (refuse) {
		uint8_t *after = live_bytes(pid, m->start, m->end);

		const char *why = !before || !after ? "its memory could not be read" :
				  st != 1 || !strstr(out, refuse) ? "not refused so" :
				  memcmp(before, after, m->end - m->start) ?
				  "the mapping changed" : NULL;

		d = why ? 1 : 0;
		if (d)
			fprintf(stderr, "# restore of %llx-%llx, to be refused (%s): %s: exit %d: %s",
				(unsigned long long)m->start,
				(unsigned long long)m->end, refuse, why, st, out);
		free(before);
		free(after);
		return d;
	}
	if (st) {
		fprintf(stderr, "# restore of %llx-%llx %s from generation %llu: exit %d: %s",
			(unsigned long long)m->start, (unsigned long long)m->end,
			m->perms, (unsigned long long)gen, st, out);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	mem = open(path, O_RDONLY);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pagemap = open(path, O_RDONLY);
	if (mem >= 0 && pagemap >= 0 &&
	    !store_open(&s, store, NULL, STORE_RDONLY | STORE_NOCREATE) &&
	    !store_snap_open(s, gen, &snap))
		d = oracle_map_compare(snap, pid, mem, pagemap, -1, m, &shown);
	store_snap_close(snap);
	if (s)
		store_close(s);
	if (mem >= 0)
		close(mem);
	if (pagemap >= 0)
		close(pagemap);
	return d;
}

/* Every thread of @pid in read(), its parking place. Return: 0, or -1 after 60 s. */
static int wait_all_parked(pid_t pid)
{
	char path[320], buf[64], out[4096];
	struct dirent *e;
	bool all;
	DIR *d;
	int i, fd;
	ssize_t n;

	for (i = 0; i < 6000; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task", pid);
		d = opendir(path);
		if (!d)
			return -1;
		all = true;
		while (all && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task/%s/syscall",
				 pid, e->d_name);
			fd = open(path, O_RDONLY);
			n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
			if (fd >= 0)
				close(fd);
			all = n > 2 && !strncmp(buf, "0 ", 2);
		}
		closedir(d);
		if (all)
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "# oracle: the threads of %d never all parked in read()\n", pid);
	/* What each thread does instead: the next failure says where. */
	guest_sh(out, sizeof(out), "cd /proc/%d/task && for t in *; do "
		 "echo \"# $t $(grep ^State: $t/status | cut -f2) "
		 "syscall $(cut -d' ' -f1 $t/syscall) wchan $(cat $t/wchan) "
		 "stack $(head -4 $t/stack | cut -d' ' -f2 | tr '\\n' ' ')\"; done",
		 pid);
	fprintf(stderr, "# oracle: its threads (tid, state, syscall, wchan, kernel stack):\n%s",
		out);
	/* A thread in wait4() waits for a child: where is that one? */
	guest_sh(out, sizeof(out), "cd /proc/%d/task && for c in $(cat */children); do "
		 "echo \"# $c $(grep ^State: /proc/$c/status | cut -f2) "
		 "syscall $(cut -d' ' -f1-3 /proc/$c/syscall) wchan $(cat /proc/$c/wchan) "
		 "stack $(head -6 /proc/$c/stack | cut -d' ' -f2 | tr '\\n' ' ')\"; done",
		 pid);
	fprintf(stderr, "# oracle: its children (pid, state, syscall, wchan, kernel stack):\n%s",
		out);
	return -1;
}

/*
 * The storm: checkpoints while STORM_THREADS threads call at once. Each
 * must commit; then the threads park, and an incremental checkpoint on top
 * of the storm's generations, and a full one, must equal the memory: a
 * change that a checkpoint during the storm lost (its soft-dirty bit
 * cleared, its content not taken) would show in the first.
 */
static void storm_test(struct __test_metadata *_metadata,
		       FIXTURE_DATA(oracle_random) *self,
		       const FIXTURE_VARIANT(oracle_random) *variant)
{
	char msg[MSG];
	uint64_t gen;
	int ckpts = (int)env_u64("SNAPPER_RANDOM_STORM", STORM_CKPTS), ok = 0, i;
	long calls;

	ASSERT_EQ(MSG, read(self->t.ack, msg, MSG));
	for (i = 0; i < ckpts; i++) {
		ok += oracle_checkpoint(self->store, self->t.pid, variant->proc,
					i == 0) != 0;
		/* What a storm writes would fill the scratch disk: retention. */
		if (i % 10 == 9)
			EXPECT_EQ(0, guest_sh(NULL, 0, "snapper-tool purge --store '%s' --max-snapshots 3",
					      self->store));
	}
	EXPECT_EQ(ckpts, ok)
		TH_LOG("%d of %d checkpoints during the storm committed", ok,
		       ckpts);
	ASSERT_EQ(0, kill(self->t.pid, SIGUSR1));
	ASSERT_EQ(MSG, read(self->t.ack, msg, MSG));
	/* The storm blew through the checkpoints, not before or after them. */
	calls = atol(msg + 1);
	TH_LOG("%ld calls by %d threads during %d checkpoints", calls,
	       STORM_THREADS, ckpts);
	ASSERT_LT(ckpts, calls);
	ASSERT_EQ(0, wait_all_parked(self->t.pid));
	gen = oracle_checkpoint(self->store, self->t.pid, variant->proc, false);
	ASSERT_NE(0ULL, (unsigned long long)gen);
	EXPECT_EQ(0, oracle_compare(self->store, gen, self->t.pid))
		TH_LOG("the incremental generation %llu after the storm",
		       (unsigned long long)gen);
	gen = oracle_checkpoint(self->store, self->t.pid, variant->proc, true);
	ASSERT_NE(0ULL, (unsigned long long)gen);
	EXPECT_EQ(0, oracle_compare(self->store, gen, self->t.pid))
		TH_LOG("the full generation %llu after the storm",
		       (unsigned long long)gen);
}

static void show_rounds(struct __test_metadata *_metadata, char seen[][MSG],
			uint64_t r)
{
	for (int k = KEEP - 1; k >= 0; k--)
		if (r >= (uint64_t)k)
			TH_LOG("round %llu: %s", (unsigned long long)(r - k),
			       seen[(r - k) % KEEP]);
}

/*
 * What a large_* variant ran on: it must have had large folios to check,
 * huge pages of shared memory on every kernel, folios of the sizes below
 * the PMD's where the kernel counts them.
 */
static void large_folios_made(struct __test_metadata *_metadata,
			      FIXTURE_DATA(oracle_random) *self)
{
	static const char *const what[] = {
		"huge pages of shared memory",
		"smaller large folios of anonymous memory",
		"smaller large folios of shared memory",
	};
	long long now[3];

	guest_large_folio_counts(now);
	for (int i = 0; i < 3; i++) {
		if (now[i] < 0 || self->folios[i] < 0) {
			TH_LOG("%s: not counted by this kernel", what[i]);
			continue;
		}
		TH_LOG("%s allocated: %lld", what[i], now[i] - self->folios[i]);
		EXPECT_LT(self->folios[i], now[i])
			TH_LOG("the variant made no %s", what[i]);
	}
}

TEST_F_TIMEOUT(oracle_random, exact, 600)
{
	uint64_t rounds = env_u64("SNAPPER_RANDOM_ROUNDS", guest_debug_kernel() ?
				  ROUNDS_DEBUG : ROUNDS), gen, r;
	bool verbose = env_u64("SNAPPER_RANDOM_VERBOSE", 0);
	char msg[MSG], seen[KEEP][MSG];
	struct oracle_map m;
	uint64_t prev = 0;
	long d;

	if (variant->storm) {
		storm_test(_metadata, self, variant);
		if (variant->large)
			large_folios_made(_metadata, self);
		return;
	}
	memset(seen, 0, sizeof(seen));
	for (r = 0; r <= rounds; r++) {
		bool full = r % FULL_EVERY == 0 || r == rounds;

		if (r)
			ASSERT_EQ(1, write(self->t.cmd, "s", 1));
		ASSERT_EQ(MSG, read(self->t.ack, msg, MSG));
		memcpy(seen[r % KEEP], msg + 1, MSG - 1);
		if (verbose)
			TH_LOG("round %llu: %s", (unsigned long long)r, msg + 1);
		ASSERT_EQ('o', msg[0]) TH_LOG("round %llu: %s",
					      (unsigned long long)r, msg + 1);
		ASSERT_EQ(0, guest_wait_parked(self->t.pid));
		if (r % 4 == 3)
			kernel_moves(_metadata, seen[r % KEEP], self->t.pid, r / 4);
		if (prev && r % 5 == 2 &&
		    restorable_map(self->store, prev, self->t.pid, r * 7919, &m)) {
			d = restore_and_compare(self->store, prev, self->t.pid, &m);
			if (verbose || d)
				TH_LOG("round %llu: restored %llx-%llx %s %s from generation %llu",
				       (unsigned long long)r,
				       (unsigned long long)m.start,
				       (unsigned long long)m.end, m.perms,
				       m.path[0] ? m.path : "(anonymous)",
				       (unsigned long long)prev);
			if (d)
				show_rounds(_metadata, seen, r);
			ASSERT_EQ(0, d);
		}
		gen = oracle_checkpoint(self->store, self->t.pid, variant->proc,
					full);
		ASSERT_NE(0ULL, (unsigned long long)gen)
			TH_LOG("checkpoint after round %llu", (unsigned long long)r);
		d = oracle_compare(self->store, gen, self->t.pid);
		if (d)
			show_rounds(_metadata, seen, r);
		prev = gen;
		ASSERT_EQ(0, d) TH_LOG("generation %llu (%s, round %llu)",
				       (unsigned long long)gen,
				       full ? "full" : "incremental",
				       (unsigned long long)r);
	}
	if (variant->large)
		large_folios_made(_metadata, self);
}

TEST_HARNESS_MAIN
