// SPDX-License-Identifier: GPL-2.0
/*
 * Page tables the kernel edits on its own, after the target's writes: the
 * generation must still be the target's memory at its instant, compared
 * with oracle_compare() against /proc/PID/mem, with the module and with
 * --backend proc.
 *
 *  - KSM: ksmd merges a page the target wrote into an identical KSM page
 *    and installs the new entry without the write's soft-dirty bit
 *    (replace_page() in mm/ksm.c, on 6.1); a read-only pin then makes the
 *    merged page an ordinary one again, with the entry still soft-clean;
 *    then KSM may forget the process before the next checkpoint.
 *  - userfaultfd write-protection of unpopulated memory
 *    (UFFD_FEATURE_WP_UNPOPULATED, 6.4 and later): a page the target
 *    discarded becomes a PTE marker, which reads as zeros like no entry.
 *  - the same markers in shared memory (a memfd), write-protected where
 *    it has no page mapped, then made read-only (see shm_setup()).
 *
 * Each target parks in read() between steps; it is checkpointed fully,
 * changed, and checkpointed incrementally. Needs root; the module variant
 * needs the loaded module: run it through selftests/qemu/run.
 */
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"
#include "oracle.h"

/* Debian 12's headers are 6.1's; the feature came in 6.4. */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef MADV_MERGEABLE
#define MADV_MERGEABLE 12
#endif

#define NPAGES	64
#define SAME	0x5a5a00000000ULL

/* What a target reports after its setup: 0, or why it cannot run. */
enum { READY, NO_UFFD_WP_UNPOPULATED, NO_UFFD_WP_SHMEM, SETUP_FAILED };

/* The KSM target: pages 0..15 identical from the start, the rest not. */
static int ksm_setup(uint64_t base)
{
	size_t i;

	if (madvise((void *)base, NPAGES * PG, MADV_NOHUGEPAGE))
		return SETUP_FAILED;
	for (i = 0; i < NPAGES; i++)
		fill_page(base, i, i < 16 ? SAME : i << 32);
	return madvise((void *)base, NPAGES * PG, MADV_MERGEABLE) ?
	       SETUP_FAILED : READY;
}

/*
 * First step: pages 16..47 become SAME, for KSM to merge; 48..63 change
 * to their own. Second: pages 32..47, merged by then, are unshared by a
 * read-only pin of the target's own (process_vm_readv() of itself), last
 * page first: each becomes a private copy as soft-clean as KSM left it,
 * and, on ksmd's CPU (guest_ksm_one_cpu()), the copy of page 47, merged
 * last, mostly on the frame page 47 had before the merge.
 */
static void ksm_step(uint64_t base)
{
	static char buf[16 * PG];
	struct iovec local = { buf, sizeof(buf) }, far[16];
	static int steps;
	size_t i;

	if (steps++) {
		for (i = 0; i < 16; i++) {
			far[i].iov_base = (void *)(base + (47 - i) * PG);
			far[i].iov_len = PG;
		}
		if (process_vm_readv(getpid(), &local, 1, far, 16, 0) !=
		    sizeof(buf))
			_exit(1);
		return;
	}
	for (i = 16; i < NPAGES; i++)
		fill_page(base, i, i < 48 ? SAME : 0xabc00000000ULL + (i << 32));
}

static int uffd = -1;

/* The uffd target: every page written, the range registered for WP. */
static int uffd_setup(uint64_t base)
{
	struct uffdio_api api = {
		.api = UFFD_API, .features = UFFD_FEATURE_WP_UNPOPULATED,
	};
	struct uffdio_register reg = {
		.range = { .start = base, .len = NPAGES * PG },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	size_t i;

	if (madvise((void *)base, NPAGES * PG, MADV_NOHUGEPAGE))
		return SETUP_FAILED;
	for (i = 0; i < NPAGES; i++)
		fill_page(base, i, i << 32 | 7);
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		return SETUP_FAILED;
	if (ioctl(uffd, UFFDIO_API, &api))
		return errno == EINVAL ? NO_UFFD_WP_UNPOPULATED : SETUP_FAILED;
	return ioctl(uffd, UFFDIO_REGISTER, &reg) ? SETUP_FAILED : READY;
}

/* Pages 0..31 discarded, then the whole range write-protected. */
static void uffd_step(uint64_t base)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = base, .len = NPAGES * PG },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};

	if (madvise((void *)base, 32 * PG, MADV_DONTNEED) ||
	    ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
		_exit(3);
}

static int shm_fd = -1;

/*
 * Shared memory write-protected by userfaultfd, read-only to the process:
 * a memfd mapped shared over the region, pages 0..31 written, 32..63
 * holes; registered for missing and write-protect faults (missing ones
 * raise SIGBUS instead of waiting: UFFD_FEATURE_SIGBUS), the whole range
 * write-protected, which leaves a PTE marker where no page is mapped;
 * then mprotect(PROT_READ). Pagemap shows such a marker as swapped, and
 * reading one faults: --backend proc failed a full checkpoint with EIO
 * reading a hole of the memfd behind a marker (found by oracle_random.c).
 */
static int shm_setup(uint64_t base)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_SIGBUS };
	struct uffdio_register reg = {
		.range = { .start = base, .len = NPAGES * PG },
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = {
		.range = reg.range, .mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	size_t i;

	shm_fd = memfd_create("edits", 0);
	if (shm_fd < 0 || ftruncate(shm_fd, NPAGES * PG) ||
	    mmap((void *)base, NPAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, shm_fd, 0) != (void *)base)
		return SETUP_FAILED;
	for (i = 0; i < 32; i++)
		fill_page(base, i, i << 32 | 9);
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api))
		return SETUP_FAILED;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return errno == EINVAL ? NO_UFFD_WP_SHMEM : SETUP_FAILED;
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) ||
	    mprotect((void *)base, NPAGES * PG, PROT_READ))
		return SETUP_FAILED;
	return READY;
}

/* Pages 40..47 of the memfd written through the file, under the markers. */
static void shm_step(uint64_t base)
{
	static uint64_t page[PG / 8];
	size_t i, k;

	(void)base;
	for (i = 40; i < 48; i++) {
		for (k = 0; k < PG / 8; k++)
			page[k] = i << 32 | 11;
		if (pwrite(shm_fd, page, PG, (off_t)(i * PG)) != PG)
			_exit(3);
	}
}

struct scenario {
	int (*setup)(uint64_t base);
	void (*step)(uint64_t base);
};

static const struct scenario ksm_merge = { ksm_setup, ksm_step };
static const struct scenario uffd_wp = { uffd_setup, uffd_step };
static const struct scenario uffd_wp_shm = { shm_setup, shm_step };

/* The target: setup, report, then one step per byte read; parks in read(). */
static void __attribute__((noreturn)) child(const struct scenario *sc,
					    int in, int out)
{
	void *p;
	char c;
	int r;

	oracle_target_init();
	alarm(600);
	p = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r = p == MAP_FAILED ? SETUP_FAILED : sc->setup((uint64_t)p);
	if (write(out, &r, sizeof(r)) != sizeof(r) || r != READY)
		_exit(0);
	while (read(in, &c, 1) == 1) {
		sc->step((uint64_t)p);
		r = 0;
		if (write(out, &r, sizeof(r)) != sizeof(r))
			_exit(1);
	}
	_exit(0);
}

FIXTURE(edits) {
	struct oracle_link t;
	char store[256];
	struct guest_ksm ksm;
};

FIXTURE_VARIANT(edits) {
	bool proc;
};

FIXTURE_VARIANT_ADD(edits, module) { .proc = false };
FIXTURE_VARIANT_ADD(edits, proc) { .proc = true };

FIXTURE_SETUP(edits)
{
	const char *why = guest_backend_skip_reason(variant->proc);

	self->t.pid = 0;
	memset(&self->ksm, 0, sizeof(self->ksm));
	if (why)
		SKIP(return, "%s", why);
	guest_store_path(self->store, sizeof(self->store),
			 variant->proc ? "edits-proc" : "edits");
}

FIXTURE_TEARDOWN(edits)
{
	oracle_kill(&self->t);
	guest_sh(NULL, 0, "rm -rf '%s'", self->store);
	guest_ksm_stop(&self->ksm);
}

/* Starts the target of @sc. Return: its READY-or-not report. */
static int start(struct __test_metadata *_metadata,
		 FIXTURE_DATA(edits) *self, const struct scenario *sc)
{
	int r = SETUP_FAILED;

	ASSERT_LE(0, oracle_fork(&self->t));
	if (!self->t.pid)
		child(sc, self->t.cmd, self->t.ack);
	EXPECT_EQ((ssize_t)sizeof(r), read(self->t.ack, &r, sizeof(r)));
	return r;
}

static void step(struct __test_metadata *_metadata, FIXTURE_DATA(edits) *self)
{
	int r = -1;

	ASSERT_EQ(1, write(self->t.cmd, "s", 1));
	ASSERT_EQ((ssize_t)sizeof(r), read(self->t.ack, &r, sizeof(r)));
	ASSERT_EQ(0, r);
}

/* Checkpoints the parked target and compares; Return: the generation. */
static uint64_t check(struct __test_metadata *_metadata,
		      FIXTURE_DATA(edits) *self, bool proc, bool full)
{
	uint64_t gen;

	EXPECT_EQ(0, guest_wait_parked(self->t.pid));
	gen = oracle_checkpoint(self->store, self->t.pid, proc, full);
	EXPECT_NE(0ULL, gen);
	if (gen)
		EXPECT_EQ(0, oracle_compare(self->store, gen, self->t.pid));
	return gen;
}

/*
 * The KSM target started, checkpointed fully once its first 16 pages are
 * merged, changed (the first step of ksm_step()) and merged again, with
 * no checkpoint in between. Return: false if the test was skipped.
 */
static bool ksm_merged(struct __test_metadata *_metadata,
		       FIXTURE_DATA(edits) *self, bool proc)
{
	const char *why = guest_ksm_start(&self->ksm);

	if (why && !self->ksm.started)
		SKIP(return false, "%s", why);
	ASSERT_TRUE(!why) TH_LOG("%s", why);
	ASSERT_EQ(READY, start(_metadata, self, &ksm_merge));
	if (guest_ksm_merged(self->t.pid) < 0)
		SKIP(return false,
		     "no /proc/PID/ksm_merging_pages to see the merge");
	ASSERT_TRUE(guest_ksm_wait(self->t.pid, 16, 120));
	check(_metadata, self, proc, true);
	step(_metadata, self);
	ASSERT_TRUE(guest_ksm_wait(self->t.pid, 48, 120))
		TH_LOG("KSM merged %ld pages in 120 s, 48 expected",
		       guest_ksm_merged(self->t.pid));
	return true;
}

TEST_F_TIMEOUT(edits, ksm_merges_written_pages, 300)
{
	if (!ksm_merged(_metadata, self, variant->proc))
		return;
	check(_metadata, self, variant->proc, false);
	/* Nothing changed since: the same again. */
	check(_metadata, self, variant->proc, false);
}

/*
 * ksm_merged() with ksmd and the target on one CPU, then ksmd stopped and
 * pages 32..47 unshared (the second step of ksm_step()): one copy gets
 * its old frame back. Return: false if the test was skipped.
 */
static bool ksm_unshared(struct __test_metadata *_metadata,
			 FIXTURE_DATA(edits) *self, bool proc)
{
	ASSERT_EQ(0, guest_ksm_one_cpu(&self->ksm));
	if (!ksm_merged(_metadata, self, proc))
		return false;
	/* No merge again behind our back: ksmd stops, the merges stay. */
	ASSERT_EQ(0, guest_write_file(GUEST_KSM_DIR "run", "0"));
	step(_metadata, self);
	return true;
}

/* Merged pages made ordinary again before the next checkpoint. */
TEST_F_TIMEOUT(edits, ksm_merged_pages_unshared, 300)
{
	if (!ksm_unshared(_metadata, self, variant->proc))
		return;
	check(_metadata, self, variant->proc, false);
	check(_metadata, self, variant->proc, false);
}

/* @pid's ksm_rmap_items (ksm_stat), or -1 if the kernel does not say. */
static long ksm_rmap_items(pid_t pid)
{
	char path[64], buf[256], *at;

	snprintf(path, sizeof(path), "/proc/%d/ksm_stat", pid);
	if (guest_read_file(path, buf, sizeof(buf)))
		return -1;
	at = strstr(buf, "ksm_rmap_items ");
	return at ? strtol(at + strlen("ksm_rmap_items "), NULL, 10) : -1;
}

/*
 * The same, and then KSM forgets the target before the next checkpoint:
 * "run" 2 unmerges every page and drops every rmap item, so that the
 * process shows no sign of KSM any more, while the copies the pin made
 * are still soft-clean, one on its old frame. The module knows the mm
 * was registered (MMF_VM_MERGEABLE stays set); --backend proc remembers
 * that KSM knew the process at an earlier checkpoint (the state file's
 * fifth field).
 */
TEST_F_TIMEOUT(edits, ksm_forgotten_after_unshare, 300)
{
	if (!ksm_unshared(_metadata, self, variant->proc))
		return;
	ASSERT_EQ(0, guest_write_file(GUEST_KSM_DIR "run", "2"));
	ASSERT_EQ(0, guest_ksm_merged(self->t.pid));
	if (ksm_rmap_items(self->t.pid) < 0)
		SKIP(return, "no /proc/PID/ksm_stat to see KSM forget");
	ASSERT_EQ(0, ksm_rmap_items(self->t.pid));
	check(_metadata, self, variant->proc, false);
	check(_metadata, self, variant->proc, false);
}

TEST_F_TIMEOUT(edits, uffd_wp_markers_read_as_zeros, 300)
{
	int r = start(_metadata, self, &uffd_wp);

	if (r == NO_UFFD_WP_UNPOPULATED)
		SKIP(return, "no UFFD_FEATURE_WP_UNPOPULATED before 6.4");
	ASSERT_EQ(READY, r);
	check(_metadata, self, variant->proc, true);
	step(_metadata, self);
	check(_metadata, self, variant->proc, false);
}

TEST_F_TIMEOUT(edits, uffd_wp_markers_in_read_only_shared_memory, 300)
{
	int r = start(_metadata, self, &uffd_wp_shm);

	if (r == NO_UFFD_WP_SHMEM)
		SKIP(return, "no userfaultfd write-protection of shared memory");
	ASSERT_EQ(READY, r);
	check(_metadata, self, variant->proc, true);
	step(_metadata, self);
	check(_metadata, self, variant->proc, false);
	check(_metadata, self, variant->proc, true);
}

TEST_HARNESS_MAIN
