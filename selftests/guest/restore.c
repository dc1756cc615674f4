// SPDX-License-Identifier: GPL-2.0
/*
 * snapper-tool restore, checked against the target's memory as the kernel
 * holds it (process_vm_readv): a round trip gives back the generation's
 * bytes, zero pages included, and writes only the pages that differ or
 * that the target wrote since the checkpoint; a layout that changed is
 * refused with the mapping named and nothing written; a target with a
 * running thread goes on unharmed (no EINTR, no stop its parent can
 * see); a whole-process restore of a quiescent target; a mapping
 * registered with userfaultfd refused, nothing written; and the time for
 * 64 MiB against process_vm_writev of the same bytes.
 *
 * Needs root, the loaded module and $SNAPPER_SCRATCH: run it through
 * selftests/qemu/run.
 */
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#include <linux/userfaultfd.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"

enum { T_ZERO = T_USER, T_FILL, T_ZAP };

static int target_cmd(struct target *t, struct tcmd *c, void *arg)
{
	if (c->op == T_ZERO)
		memset((void *)(t->base + c->a * PG), 0, c->b * PG);
	else if (c->op == T_FILL)
		memset((void *)(t->base + c->a * PG), (int)c->c, c->b * PG);
	else if (c->op == T_ZAP)
		return madvise((void *)(t->base + c->a * PG), c->b * PG,
			       MADV_DONTNEED);
	else
		return -1;
	return 0;
}

/* `snapper-tool restore` of [@start, @end) into @pid; its exit code. */
static int restore_range(char *out, size_t len, const char *dir, pid_t pid,
			 uint64_t start, uint64_t end)
{
	return guest_sh(out, len, "snapper-tool restore --store %s --pid %d "
			"--range %#lx-%#lx", dir, pid, start, end);
}

static int peek(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)addr, len };

	return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -1;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ull + ts.tv_nsec / 1000;
}

TEST(round_trip)
{
	const char *why = guest_tool_skip_reason();
	char dir[256], out[4096], page[PG];
	struct target t = { 0 };
	size_t i;

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, target_start(&t, 32, NULL, target_cmd, NULL));
	guest_store_path(dir, sizeof(dir), "restore-rt");
	ASSERT_EQ(0, target_do(&t, T_ZERO, 5, 1, 0));
	ASSERT_EQ(0, guest_checkpoint(out, sizeof(out), dir, t.pid));
	/* Scribble: the zero page, some data pages, all of the last ones. */
	ASSERT_EQ(0, target_do(&t, T_WRITE, 5, 77, 0));
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, target_do(&t, T_WRITE, 10 + i, 1000 + i, 0));
	}
	ASSERT_EQ(0, target_do(&t, T_FILL, 28, 4, 0xee));
	/* Soft-dirty with the same bytes: written unread (see pm_kind()). */
	ASSERT_EQ(0, target_do(&t, T_WRITE, 20, 20ull << 32, 0));
	ASSERT_EQ(0, restore_range(out, sizeof(out), dir, t.pid, t.base,
				   t.base + 32 * PG));
	TH_LOG("%s", out);
	ASSERT_NE(NULL, strstr(out, "32 pages in 1 mappings, 10 written"));
	for (i = 0; i < 32; i++) {
		ASSERT_EQ(0, peek(t.pid, t.base + i * PG, page, PG));
		if (i == 5) {
			ASSERT_EQ(0, memcmp(page, (char[PG]){ 0 }, PG));
		} else {
			ASSERT_TRUE(page_is(page, (uint64_t)i << 32));
		}
		/* The pages the target left alone were compared, not written. */
		if (i != 5 && !(i >= 10 && i < 14) && i != 20 && i < 28)
			ASSERT_FALSE(pagemap_soft_dirty(t.pid, t.base + i * PG));
	}
	/* Alive and serving. */
	ASSERT_EQ(0, target_do(&t, T_WRITE, 1, 5, 0));
	target_stop(&t);
}

TEST(layout_mismatch_is_refused)
{
	const char *why = guest_tool_skip_reason();
	char dir[256], out[4096], page[PG], want[64];
	struct target t = { 0 };

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, target_start(&t, 16, NULL, target_cmd, NULL));
	guest_store_path(dir, sizeof(dir), "restore-mm");
	ASSERT_EQ(0, guest_checkpoint(out, sizeof(out), dir, t.pid));
	ASSERT_EQ(0, target_do(&t, T_WRITE, 0, 99, 0));
	/* The region splits in two: neither part matches the generation. */
	ASSERT_EQ(0, target_do(&t, T_MUNMAP, t.base + 8 * PG, PG, 0));
	ASSERT_EQ(1, restore_range(out, sizeof(out), dir, t.pid, t.base,
				   t.base + 8 * PG));
	TH_LOG("%s", out);
	snprintf(want, sizeof(want), "mapping %#lx-%#lx", t.base, t.base + 8 * PG);
	ASSERT_NE(NULL, strstr(out, want));
	ASSERT_NE(NULL, strstr(out, "in generation 1"));
	/* A hole in the range is named too. */
	ASSERT_EQ(1, restore_range(out, sizeof(out), dir, t.pid, t.base + 8 * PG,
				   t.base + 9 * PG));
	ASSERT_NE(NULL, strstr(out, "is not mapped"));
	/* Nothing was written. */
	ASSERT_EQ(0, peek(t.pid, t.base, page, PG));
	ASSERT_TRUE(page_is(page, 99));
	target_stop(&t);
}

/* What the target's worker thread reports through shared memory. */
struct beat {
	volatile uint64_t count;
	volatile int eintr;
};

static void *worker(void *arg)
{
	struct beat *b = arg;
	struct timespec ts = { 0, 200000 };

	for (;;) {
		if (nanosleep(&ts, NULL) && errno == EINTR)
			b->eintr = 1;
		b->count++;
	}
	return NULL;
}

static void beating_setup(struct target *t, void *arg)
{
	pthread_t th;
	void *p = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || pthread_create(&th, NULL, worker, arg))
		_exit(1);
	t->base = (uint64_t)p;
	for (size_t i = 0; i < 16; i++)
		fill_page(t->base, i, (uint64_t)i << 32);
}

TEST(target_resumes_unharmed)
{
	const char *why = guest_tool_skip_reason();
	char dir[256], out[4096], page[PG];
	struct target t = { 0 };
	struct beat *b;
	siginfo_t si;
	uint64_t before;
	int i;

	if (why)
		SKIP(return, "%s", why);
	b = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		 -1, 0);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_EQ(0, target_start(&t, 16, beating_setup, target_cmd, b));
	guest_store_path(dir, sizeof(dir), "restore-beat");
	ASSERT_EQ(0, guest_checkpoint(out, sizeof(out), dir, t.pid));
	for (i = 0; i < 5; i++) {
		ASSERT_EQ(0, target_do(&t, T_WRITE, i, 4242, 0));
		ASSERT_EQ(0, restore_range(out, sizeof(out), dir, t.pid, t.base,
					   t.base + 16 * PG));
	}
	ASSERT_EQ(0, peek(t.pid, t.base, page, PG));
	ASSERT_TRUE(page_is(page, 0));
	/* The worker goes on, and never saw EINTR. */
	before = b->count;
	usleep(200000);
	ASSERT_LT(before, b->count);
	ASSERT_EQ(0, b->eintr);
	/* The parent (us) saw no stop or continue. */
	memset(&si, 0, sizeof(si));
	ASSERT_EQ(0, waitid(P_PID, t.pid, &si,
			    WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT));
	ASSERT_EQ(0, si.si_pid);
	ASSERT_EQ(0, target_do(&t, T_WRITE, 1, 5, 0));
	target_stop(&t);
	munmap(b, PG);
}

TEST(whole_process_of_a_quiescent_target)
{
	const char *why = guest_tool_skip_reason();
	char dir[256], out[4096], page[PG];
	struct target t = { 0 };

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, target_start(&t, 16, NULL, target_cmd, NULL));
	guest_store_path(dir, sizeof(dir), "restore-all");
	ASSERT_EQ(0, guest_checkpoint(out, sizeof(out), dir, t.pid));
	ASSERT_EQ(0, target_do(&t, T_FILL, 0, 16, 0x11));
	ASSERT_EQ(0, guest_sh(out, sizeof(out),
			      "snapper-tool restore --store %s --pid %d", dir, t.pid));
	TH_LOG("%s", out);
	ASSERT_EQ(0, peek(t.pid, t.base + 15 * PG, page, PG));
	ASSERT_TRUE(page_is(page, 15ull << 32));
	ASSERT_EQ(0, target_do(&t, T_WRITE, 2, 8, 0));
	ASSERT_EQ(0, peek(t.pid, t.base + 2 * PG, page, PG));
	ASSERT_TRUE(page_is(page, 8));
	/* Not ours to write: another user's request is refused. */
	ASSERT_EQ(1, guest_sh(out, sizeof(out),
			      "setpriv --reuid 65534 --regid 65534 --clear-groups "
			      "snapper-tool restore --store %s --pid %d", dir, t.pid));
	target_stop(&t);
}

/*
 * A process on the target's mm (clone(CLONE_VM) without CLONE_THREAD, as
 * vfork() and posix_spawn() make) counts c = 1, 2, ... into the first
 * word of the region's first page, then of its last: at any instant the
 * first equals the last or is one ahead. The region is 1 MiB, so the
 * /proc backend reads the two in different chunks.
 */
#define SHARER_PAGES 256

static int count_pairs(void *arg)
{
	volatile uint64_t *first = arg;
	volatile uint64_t *last = first + (SHARER_PAGES - 1) * PG / 8;

	for (uint64_t c = 1;; c++) {
		*first = c;
		*last = c;
	}
	return 0;
}

static void sharer_setup(struct target *t, void *arg)
{
	void *p = mmap(NULL, SHARER_PAGES * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(1);
	t->base = (uint64_t)p;
	for (size_t i = 0; i < SHARER_PAGES; i++)
		fill_page(t->base, i, i << 32);
	if (guest_clone_vm(count_pairs, p) < 0)
		_exit(1);
}

/* The two counters as the newest generation holds them. */
static int stored_pair(const char *dir, uint64_t base, uint64_t *first,
		       uint64_t *last)
{
	static uint64_t words[SHARER_PAGES * PG / 8];
	char raw[300];
	ssize_t n;
	int fd;

	snprintf(raw, sizeof(raw), "%s.raw", dir);
	if (guest_sh(NULL, 0, "snapper-tool export --store %s --range %#lx-%#lx --format raw -o %s",
		     dir, base, base + SHARER_PAGES * PG, raw))
		return -1;
	fd = open(raw, O_RDONLY);
	n = fd < 0 ? -1 : read(fd, words, sizeof(words));
	if (fd >= 0)
		close(fd);
	unlink(raw);
	*first = words[0];
	*last = words[(SHARER_PAGES - 1) * PG / 8];
	return n == (ssize_t)sizeof(words) ? 0 : -1;
}

/*
 * Such a process writes the memory as the target's threads do: the /proc
 * backend and restore must hold it too (tools/threads.c), or a generation
 * mixes instants and a restore's read-back finds its pages changed.
 */
TEST(processes_sharing_the_mm_are_stopped_too)
{
	const char *why = guest_tool_skip_reason();
	char dir[256], out[4096];
	struct target t = { 0 };
	uint64_t first, last;
	int i;

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, target_start(&t, SHARER_PAGES, sharer_setup, NULL, NULL));
	guest_store_path(dir, sizeof(dir), "restore-sharer");
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, guest_sh(out, sizeof(out),
				      "snapper-tool checkpoint --backend proc --store %s %d",
				      dir, t.pid))
			TH_LOG("%s", out);
		ASSERT_EQ(0, stored_pair(dir, t.base, &first, &last));
		EXPECT_TRUE(last && (first == last || first == last + 1))
			TH_LOG("generation %d: first %lu last %lu: not one instant",
			       i + 1, first, last);
	}
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, restore_range(out, sizeof(out), dir, t.pid, t.base,
					   t.base + SHARER_PAGES * PG))
			TH_LOG("restore %d: %s", i + 1, out);
	}
	TH_LOG("%s", out);
	target_stop(&t);
}

#define BIG_PAGES (64 * 256)	/* 64 MiB */

/* The figure for Documentation/persistence.rst, with its baseline. */
TEST(time_64mib)
{
	const char *why = guest_tool_skip_reason();
	char dir[256], out[4096];
	struct target t = { 0 };
	struct iovec l, r;
	uint64_t t0, t_restore, t_write, t_copy;
	char *buf, *dst;

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, target_start(&t, BIG_PAGES, NULL, target_cmd, NULL));
	guest_store_path(dir, sizeof(dir), "restore-big");
	ASSERT_EQ(0, guest_checkpoint(out, sizeof(out), dir, t.pid));
	ASSERT_EQ(0, target_do(&t, T_FILL, 0, BIG_PAGES, 0x5c));
	t0 = now_us();
	ASSERT_EQ(0, restore_range(out, sizeof(out), dir, t.pid, t.base,
				   t.base + BIG_PAGES * PG));
	t_restore = now_us() - t0;
	TH_LOG("%s", out);
	/* Baselines: the same bytes from a buffer, then a local memcpy. */
	buf = malloc(BIG_PAGES * PG);
	dst = malloc(BIG_PAGES * PG);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, dst);
	memset(buf, 0x33, BIG_PAGES * PG);
	memset(dst, 0x44, BIG_PAGES * PG);
	l = (struct iovec){ buf, BIG_PAGES * PG };
	r = (struct iovec){ (void *)t.base, BIG_PAGES * PG };
	t0 = now_us();
	ASSERT_EQ((ssize_t)(BIG_PAGES * PG),
		  process_vm_writev(t.pid, &l, 1, &r, 1, 0));
	t_write = now_us() - t0;
	t0 = now_us();
	memcpy(dst, buf, BIG_PAGES * PG);
	t_copy = now_us() - t0;
	TH_LOG("64 MiB: restore (whole command) %lu ms, process_vm_writev %lu ms, memcpy %lu ms",
	       t_restore / 1000, t_write / 1000, t_copy / 1000);
	free(buf);
	free(dst);
	target_stop(&t);
}

/* The target's userfaultfd handler: every missing page becomes zeros. */
static void *uffd_handler(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct uffd_msg m;

	while (read(fd, &m, sizeof(m)) == sizeof(m)) {
		struct uffdio_zeropage z = { .range = {
			m.arg.pagefault.address & ~(PG - 1), PG } };

		if (m.event == UFFD_EVENT_PAGEFAULT)
			ioctl(fd, UFFDIO_ZEROPAGE, &z);
	}
	return NULL;
}

/* 16 pages written, then registered for missing faults, served by a thread. */
static void uffd_setup(struct target *t, void *arg)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	void *p = mmap(NULL, t->npages * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t th;
	int fd;

	(void)arg;
	if (p == MAP_FAILED)
		_exit(1);
	t->base = (uint64_t)p;
	for (size_t i = 0; i < t->npages; i++)
		fill_page(t->base, i, i << 32);
	reg.range = (struct uffdio_range){ t->base, t->npages * PG };
	fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC);
	if (fd < 0 || ioctl(fd, UFFDIO_API, &api) ||
	    ioctl(fd, UFFDIO_REGISTER, &reg) ||
	    pthread_create(&th, NULL, uffd_handler, (void *)(intptr_t)fd))
		_exit(1);
}

/*
 * A mapping registered with userfaultfd is refused, nothing written: a
 * write into a page it has not got would wait for the handler thread,
 * which the restore keeps stopped with the rest of the process (before
 * the refusal, the restore hung there until the harness killed it).
 */
TEST(userfaultfd_mapping_is_refused)
{
	const char *why = guest_tool_skip_reason();
	char dir[256], out[4096], page[PG];
	struct target t = { 0 };

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, target_start(&t, 16, uffd_setup, target_cmd, NULL));
	guest_store_path(dir, sizeof(dir), "restore-uffd");
	ASSERT_EQ(0, guest_checkpoint(out, sizeof(out), dir, t.pid));
	/* Pages 0..7 go: the restore would have to write them back. */
	ASSERT_EQ(0, target_do(&t, T_ZAP, 0, 8, 0));
	ASSERT_EQ(0, target_do(&t, T_WRITE, 9, 99, 0));
	ASSERT_EQ(1, restore_range(out, sizeof(out), dir, t.pid, t.base,
				   t.base + 16 * PG));
	TH_LOG("%s", out);
	ASSERT_NE(NULL, strstr(out, "is registered with userfaultfd"));
	/* Nothing written: page 9 as the target left it, page 0 its handler's zeros. */
	ASSERT_EQ(0, peek(t.pid, t.base + 9 * PG, page, PG));
	ASSERT_TRUE(page_is(page, 99));
	ASSERT_EQ(0, peek(t.pid, t.base, page, PG));
	ASSERT_EQ(0, memcmp(page, (char[PG]){ 0 }, PG));
	/* Alive and serving. */
	ASSERT_EQ(0, target_do(&t, T_WRITE, 1, 5, 0));
	target_stop(&t);
}

TEST_HARNESS_MAIN
