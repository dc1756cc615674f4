// SPDX-License-Identifier: GPL-2.0
/*
 * Every generation is the target's memory at its instant: a catalogue of
 * the ways a program changes its memory without a write fault, all run in
 * one child, each scenario in its own slot of its address space, step by
 * step. After each step the child parks in read(), is checkpointed (full
 * first, incremental after, full again at the end) and compared with
 * oracle_compare() against /proc/PID/mem. With the module and with
 * --backend proc. A swap file is on for the swap-out scenario when the
 * scratch disk allows. The private file scenario maps a file on the scratch
 * disk. The rings_* variants run the same test on a child with nothing but
 * an io_uring and an AIO ring (see rings()), the tables_* variants on a
 * child that moves page tables whole (see tables_only[]), the hugetlb_*
 * variants on a child with hugetlb mappings only (see huge_only[]).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <linux/aio_abi.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/io_uring.h>
#include <linux/userfaultfd.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"
#include "oracle.h"

#define SLOT(k)	((uint8_t *)0x7e0000000000ULL + (k) * (16UL << 20))
#define N	1024UL		/* pages of a scenario's region: 2 huge pages */
#define HP	512UL		/* pages per huge page */
#define SPARE(b) ((b) + (8UL << 20))	/* where a scenario may move pages */
#define STEPS	3		/* after the setup, step 0 */
/*
 * Seconds a target lives at most: when the harness kills a test that
 * timed out, its targets must not linger (a thread-spawning one would
 * starve every later test).
 */
#define TARGET_LIFE	900

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* What a step tells the parent. */
enum { STEP_OK = 'o', STEP_UNSUPPORTED = 'u', STEP_FAILED = 'f' };

/* Every byte of a page says which page and which write it was. */
static void fill(uint8_t *base, size_t first, size_t n, uint8_t tag)
{
	size_t i;

	for (i = first; i < first + n; i++)
		memset(base + i * PG, (int)(tag ^ (i * 7 + 1)), PG);
}

static uint8_t *map_at(uint8_t *at, size_t npages, int flags)
{
	void *p = mmap(at, npages * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int region(uint8_t *b, bool thp)
{
	if (!map_at(b, N, MAP_FIXED_NOREPLACE))
		return STEP_FAILED;
	if (thp)
		madvise(b, N * PG, MADV_HUGEPAGE);
	fill(b, 0, N, 1);
	return STEP_OK;
}

static int zap(uint8_t *b, size_t first, size_t n)
{
	return madvise(b + first * PG, n * PG, MADV_DONTNEED) ? STEP_FAILED :
								 STEP_OK;
}

/* ---- the catalogue: step 0 sets up, each later step changes memory ---- */

static int dontneed(uint8_t *b, int step)
{
	switch (step) {
	case 0: return region(b, false);
	case 1: return zap(b, 0, N);
	case 2: fill(b, 10, 10, 2); return STEP_OK;
	}
	return zap(b, 12, 3);
}

static int dontneed_partial(uint8_t *b, int step)
{
	switch (step) {
	case 0: return region(b, false);
	case 1: zap(b, 100, 100); return zap(b, 700, 1);
	case 2: fill(b, 150, 1, 3); return zap(b, 0, 50);
	}
	return STEP_OK;
}

static int dontneed_thp(uint8_t *b, int step)
{
	switch (step) {
	case 0: return region(b, true);
	case 1: return zap(b, HP + 7, 2);		/* inside a huge page: splits it */
	case 2: return zap(b, 0, HP);		/* a whole huge page */
	}
	fill(b, 3, 1, 4);
	return zap(b, HP, HP);
}

static int free_pageout(uint8_t *b, int step)
{
	switch (step) {
	case 0: return region(b, false);
	case 1:
		if (madvise(b, 300 * PG, MADV_FREE))
			return STEP_FAILED;
		/* Lazily freed clean pages are dropped, not swapped. */
		return madvise(b, 300 * PG, MADV_PAGEOUT) ? STEP_UNSUPPORTED :
							     STEP_OK;
	}
	fill(b, 20, 5, 5);
	return STEP_OK;
}

static int map_fixed(uint8_t *b, int step)
{
	switch (step) {
	case 0: return region(b, false);
	case 1: return map_at(b + 100 * PG, 200, MAP_FIXED) ? STEP_OK :
							       STEP_FAILED;
	}
	fill(b, 120, 4, 6);
	return STEP_OK;
}

static int mremap_cases(uint8_t *b, int step)
{
	void *p;

	switch (step) {
	case 0: return region(b, false);
	case 1:	/* move 50 pages out: leaves a gap */
		p = mremap(b + 100 * PG, 50 * PG, 50 * PG,
			   MREMAP_MAYMOVE | MREMAP_FIXED, SPARE(b));
		return p == SPARE(b) ? STEP_OK : STEP_FAILED;
	case 2:	/* grow the moved part */
		p = mremap(SPARE(b), 50 * PG, 120 * PG, MREMAP_MAYMOVE);
		if (p == MAP_FAILED)
			return STEP_FAILED;
		fill(p, 100, 2, 7);
		return STEP_OK;
	}
	/* shrink the rest, then map anew where it was */
	if (mremap(b + 150 * PG, (N - 150) * PG, 300 * PG, 0) == MAP_FAILED)
		return STEP_FAILED;
	return map_at(b + 450 * PG, 10, MAP_FIXED) ? STEP_OK : STEP_FAILED;
}

/*
 * mremap() of whole page tables: 2 MiB aligned alike, the PTE table moves
 * with its entries untouched, soft-clean at their new place (no huge
 * pages here: a huge entry moves alone, marked). Step 1 moves the first
 * 2 MiB out and maps anew where it was; step 2 unmaps that and moves the
 * first back onto its place: the layout is as it was, the entries not.
 */
static int mremap_tables(uint8_t *b, int step)
{
	size_t len = HP * PG;

	switch (step) {
	case 0:
		if (!map_at(b, N, MAP_FIXED_NOREPLACE))
			return STEP_FAILED;
		madvise(b, N * PG, MADV_NOHUGEPAGE);
		fill(b, 0, N, 1);
		return STEP_OK;
	case 1:
		if (mremap(b, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
			   SPARE(b)) != SPARE(b) || !map_at(b, HP, MAP_FIXED))
			return STEP_FAILED;
		madvise(b, len, MADV_NOHUGEPAGE);
		fill(b, 0, HP, 9);
		return STEP_OK;
	case 2:
		if (munmap(b, len) ||
		    mremap(SPARE(b), len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
			   b) != b)
			return STEP_FAILED;
		return STEP_OK;
	}
	fill(b, 3, 1, 10);
	return STEP_OK;
}

static int mprotect_cases(uint8_t *b, int step)
{
	switch (step) {
	case 0: return region(b, false);
	case 1: return mprotect(b + 100 * PG, 100 * PG, PROT_READ) ?
		       STEP_FAILED : STEP_OK;
	case 2:
		if (mprotect(b + 100 * PG, 100 * PG, PROT_READ | PROT_WRITE))
			return STEP_FAILED;
		fill(b, 150, 1, 8);
		return zap(b, 160, 10);
	}
	return STEP_OK;
}

static int thp_split_collapse(uint8_t *b, int step)
{
	switch (step) {
	case 0: return region(b, true);
	case 1:	/* split the first huge page by protection, then punch it */
		if (mprotect(b + 5 * PG, PG, PROT_READ))
			return STEP_FAILED;
		return zap(b, 9, 1);
	case 2:
		if (mprotect(b + 5 * PG, PG, PROT_READ | PROT_WRITE))
			return STEP_FAILED;
		fill(b, 9, 1, 9);
		return madvise(b, HP * PG, MADV_COLLAPSE) ? STEP_UNSUPPORTED :
							     STEP_OK;
	}
	return zap(b, 11, 1);
}

static int fork_cow(uint8_t *b, int step)
{
	pid_t pid;

	switch (step) {
	case 0: return region(b, false);
	case 1:	/* a child writes its copy; the parent writes its own */
		pid = fork();
		if (!pid) {
			fill(b, 0, 100, 10);
			zap(b, 200, 10);
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, NULL, 0) != pid)
			return STEP_FAILED;
		fill(b, 100, 100, 11);
		return STEP_OK;
	}
	/* shared with a live child, then zapped on our side only */
	pid = fork();
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	zap(b, 300, 20);
	fill(b, 310, 5, 12);
	return pid > 0 ? STEP_OK : STEP_FAILED;
}

static int munmap_remap(uint8_t *b, int step)
{
	switch (step) {
	case 0: return region(b, false);
	case 1:
		if (munmap(b, N * PG) || !map_at(b, N, MAP_FIXED_NOREPLACE))
			return STEP_FAILED;
		fill(b, 0, 10, 13);
		return STEP_OK;
	}
	if (munmap(b + 200 * PG, 100 * PG) || !map_at(b + 200 * PG, 100, 0))
		return STEP_FAILED;
	fill(b, 250, 1, 14);
	return STEP_OK;
}

static int swap_out(uint8_t *b, int step)
{
	switch (step) {
	case 0: return region(b, false);
	case 1: return madvise(b, N * PG, MADV_PAGEOUT) ? STEP_UNSUPPORTED :
							   STEP_OK;
	case 2: return zap(b, 100, 50);		/* swap entries zapped */
	}
	fill(b, 120, 1, 15);
	return madvise(b, N * PG, MADV_PAGEOUT) ? STEP_UNSUPPORTED : STEP_OK;
}

/*
 * Writes the kernel makes for the process through its page tables:
 * process_vm_writev() into its own memory (5 pages, unaligned), and
 * /proc/self/mem, which writes where the process may not (FOLL_FORCE
 * into read-only memory, breaking copy-on-write).
 */
static int kernel_writes(uint8_t *b, int step)
{
	static uint8_t src[4 * PG];
	struct iovec l = { src, sizeof(src) }, r;
	int fd, ret;

	if (!step) {
		if (region(b, false) != STEP_OK)
			return STEP_FAILED;
		return mprotect(b + 200 * PG, 100 * PG, PROT_READ) ?
		       STEP_FAILED : STEP_OK;
	}
	memset(src, 0x30 + step, sizeof(src));
	r = (struct iovec){ b + (10 + 20 * step) * PG + 100, sizeof(src) };
	if (process_vm_writev(getpid(), &l, 1, &r, 1, 0) != (ssize_t)sizeof(src))
		return STEP_FAILED;
	fd = open("/proc/self/mem", O_RDWR);
	if (fd < 0)
		return STEP_FAILED;
	/* A kernel that refuses FOLL_FORCE (proc_mem.force_override=never). */
	ret = pwrite(fd, src, sizeof(src),
		     (off_t)(uintptr_t)(b + (200 + 20 * step) * PG + 7)) ==
	      (ssize_t)sizeof(src) ? STEP_OK : STEP_UNSUPPORTED;
	close(fd);
	return ret;
}

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

/*
 * mremap(MREMAP_DONTUNMAP) moves the pages and leaves the old range
 * mapped and empty: it reads as zeros again.
 */
static int mremap_dontunmap(uint8_t *b, int step)
{
	void *p;

	switch (step) {
	case 0: return region(b, false);
	case 1:
		p = mremap(b + 100 * PG, 50 * PG, 50 * PG,
			   MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
			   SPARE(b));
		return p == SPARE(b) ? STEP_OK : STEP_FAILED;
	case 2:
		fill(b, 120, 3, 9);
		fill(SPARE(b), 0, 2, 10);
		return STEP_OK;
	}
	/* Back where they came from, over the emptied range. */
	p = mremap(SPARE(b), 50 * PG, 50 * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
		   b + 100 * PG);
	return p == b + 100 * PG ? STEP_OK : STEP_FAILED;
}

static int uffd = -1;

/*
 * The registered range's pages 200-299 of @b, each step: some discarded,
 * then filled again by userfaultfd with no write of the process. It is
 * unregistered before the target parks, so that nothing (a reader of
 * /proc/PID/mem) can wait on a missing page with no one to serve it.
 */
static int uffd_range(uint8_t *b, bool on)
{
	struct uffdio_register reg = {
		.range = { (uintptr_t)(b + 200 * PG), 100 * PG },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (!on)
		return ioctl(uffd, UFFDIO_UNREGISTER, &reg.range) ? -1 : 0;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return -1;
	return reg.ioctls & (1ULL << _UFFDIO_MOVE) ? 1 : 0;
}

static int uffd_copy(uint8_t *dst, const uint8_t *src, size_t npages)
{
	struct uffdio_copy c = { .dst = (uintptr_t)dst, .src = (uintptr_t)src,
				 .len = npages * PG };

	return ioctl(uffd, UFFDIO_COPY, &c) ? -1 : 0;
}

/*
 * userfaultfd fills missing pages: UFFDIO_COPY, UFFDIO_ZEROPAGE and (6.8
 * and later) UFFDIO_MOVE, which takes the process's own pages from one
 * place to another. MOVE answers EBUSY for a page not the process's alone
 * (after fork, or while a checkpoint keeps its old content: the module
 * shares it copy-on-write until the ack or the next write); the process
 * copies instead, as any user of MOVE must.
 */
static int uffd_fill(uint8_t *b, int step)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_zeropage z;
	struct uffdio_move mv;
	int move;

	if (!step) {
		uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api))
			return STEP_UNSUPPORTED;
		if (!map_at(b, N, MAP_FIXED_NOREPLACE))
			return STEP_FAILED;
		madvise(b, N * PG, MADV_NOHUGEPAGE);	/* MOVE splits no THP */
		fill(b, 0, N, 11);
		return STEP_OK;
	}
	if (uffd < 0)
		return STEP_UNSUPPORTED;
	if (zap(b, 200 + 10 * step, 30) != STEP_OK)
		return STEP_FAILED;
	move = uffd_range(b, true);
	if (move < 0)
		return STEP_FAILED;
	fill(b, 10, 4, (uint8_t)(12 + step));	/* sources of this step */
	if (uffd_copy(b + (200 + 10 * step) * PG, b + 10 * PG, 4))
		return STEP_FAILED;
	z = (struct uffdio_zeropage){ .range = {
		(uintptr_t)(b + (204 + 10 * step) * PG), 3 * PG } };
	if (ioctl(uffd, UFFDIO_ZEROPAGE, &z))
		return STEP_FAILED;
	mv = (struct uffdio_move){ (uintptr_t)(b + (207 + 10 * step) * PG),
				   (uintptr_t)(b + 10 * PG), 4 * PG, 0, 0 };
	if (!move || ioctl(uffd, UFFDIO_MOVE, &mv)) {
		if (move && errno != EBUSY)
			return STEP_FAILED;
		/* What a user of MOVE does on EBUSY, and before 6.8. */
		if (uffd_copy((uint8_t *)(uintptr_t)mv.dst, b + 10 * PG, 4))
			return STEP_FAILED;
		if (zap(b, 10, 4) != STEP_OK)
			return STEP_FAILED;
	}
	return uffd_range(b, false) ? STEP_FAILED : STEP_OK;
}

/*
 * UFFDIO_ZEROPAGE in a private mapping of a memfd (a file): the process's
 * copies discarded, then filled with the zero page by userfaultfd, with
 * no write of the process. The page reads as zeros, whatever the memfd
 * holds (tag 40 everywhere): neither the file nor the copy of before.
 */
static int uffd_zero_file(uint8_t *b, int step)
{
	static int ufd = -1;
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffdio_zeropage z;
	uint8_t buf[PG];
	size_t i;
	int fd, ret;

	if (!step) {
		fd = memfd_create("oracle-uffd-zero", 0);
		memset(buf, 40, sizeof(buf));
		for (i = 0; fd >= 0 && i < N; i++)
			if (write(fd, buf, PG) != PG)
				return STEP_FAILED;
		if (fd < 0 || mmap(b, N * PG, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0) != b)
			return STEP_FAILED;
		close(fd);
		fill(b, 0, 300, 41);		/* copies of the process's own */
		ufd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		return ufd < 0 || ioctl(ufd, UFFDIO_API, &api) ?
		       STEP_UNSUPPORTED : STEP_OK;
	}
	if (ufd < 0)
		return STEP_UNSUPPORTED;
	/* Discarded (they read as the file again), then zero pages. */
	if (zap(b, 60 * step, 40) != STEP_OK)
		return STEP_FAILED;
	reg.range = (struct uffdio_range){ (uintptr_t)(b + 60 * step * PG),
					   40 * PG };
	if (ioctl(ufd, UFFDIO_REGISTER, &reg))
		return STEP_UNSUPPORTED;
	z = (struct uffdio_zeropage){ .range = {
		(uintptr_t)(b + (60 * step + 10) * PG), 20 * PG } };
	ret = ioctl(ufd, UFFDIO_ZEROPAGE, &z) ? STEP_FAILED : STEP_OK;
	/* Unregistered before parking, as uffd_range(). */
	if (ioctl(ufd, UFFDIO_UNREGISTER, &reg.range))
		return STEP_FAILED;
	fill(b, 500 + 10 * step, 5, (uint8_t)(42 + step));
	return ret;
}

/* guest_poison(): 2 pages from @hw, 4 from @uf, as a step's status. */
static int poison(uint8_t *b, size_t hw, size_t uf)
{
	int ret = guest_poison(b + hw * PG, 2, b + uf * PG, 4);

	return ret < 0 ? STEP_FAILED : ret ? STEP_OK : STEP_UNSUPPORTED;
}

/*
 * Poisoned pages: the process gets SIGBUS there and /proc/PID/mem EIO. A
 * poisoned page has no content, and a generation holds none there
 * (oracle_map_compare() wants zeros), whatever the one before held: the
 * pages poisoned at step 1 were captured full at step 0.
 */
static int poisoned(uint8_t *b, int step)
{
	switch (step) {
	case 0:
		if (!map_at(b, N, MAP_FIXED_NOREPLACE))
			return STEP_FAILED;
		/* One small page poisoned, no huge page split for it. */
		madvise(b, N * PG, MADV_NOHUGEPAGE);
		fill(b, 0, N, 60);
		return STEP_OK;
	case 1: return poison(b, 100, 200);
	case 2:
		/* Around the poisoned pages: a write there would be SIGBUS. */
		fill(b, 96, 4, 61);
		fill(b, 102, 4, 61);
		return poison(b, 400, 500);
	}
	fill(b, 190, 10, 62);
	fill(b, 204, 6, 62);
	return STEP_OK;
}

/*
 * Shared memory poisoned (MADV_HWPOISON): half the region a memfd, half
 * shared anonymous memory, both shmem. The page stays in the object,
 * flagged: the module, reading the object, must take it for a hole, and
 * --backend proc, whose read(2) of the object fails there (EIO), too;
 * the target gets SIGBUS there and /proc/PID/mem EIO.
 */
static int shared_poisoned(uint8_t *b, int step)
{
	int fd, ret;

	switch (step) {
	case 0:
		fd = memfd_create("oracle-poisoned", 0);
		if (fd < 0 || ftruncate(fd, N / 2 * PG) ||
		    mmap(b, N / 2 * PG, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0) != b ||
		    mmap(b + N / 2 * PG, N / 2 * PG, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			 -1, 0) != b + N / 2 * PG)
			return STEP_FAILED;
		close(fd);
		fill(b, 0, N, 63);
		return STEP_OK;
	case 1:
		ret = guest_poison(b + 100 * PG, 2, NULL, 0);
		if (ret > 0)
			ret = guest_poison(b + (N / 2 + 100) * PG, 2, NULL, 0);
		return ret < 0 ? STEP_FAILED : ret ? STEP_OK : STEP_UNSUPPORTED;
	case 2:
		/* Around the poisoned pages: a write there would be SIGBUS. */
		fill(b, 96, 4, 64);
		fill(b, 102, 4, 64);
		fill(b, N / 2 + 102, 4, 64);
		return STEP_OK;
	}
	fill(b, 300, 10, 65);
	return STEP_OK;
}

/* Where scratch_file() makes its files: the scratch disk, or the DAX mount. */
static const char *file_dir;

/* Does scratch_file() delete its files once open (the deleted_* variants)? */
static bool delete_files;

/* The directory scratch_file() makes its files in. */
static const char *scratch_dir(void)
{
	const char *dir = file_dir ? file_dir : getenv("SNAPPER_SCRATCH");

	return dir ? dir : "/tmp";
}

/*
 * A file of N pages filled with @tag, in file_dir, named oracle-@nameK-PID
 * (the K-th made) while the target lives (FIXTURE_TEARDOWN removes it): a named file, of
 * which a private mapping holds only the target's copies. With
 * delete_files, deleted once open: memory no name reaches, every page of
 * a private mapping in the generation (see deleted_private()).
 * Return: its descriptor, or -1.
 */
static int scratch_file(const char *name, uint8_t tag)
{
	static unsigned int made;	/* two scenarios may share @name */
	uint8_t *buf = malloc(N * PG);
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/oracle-%s%u-%d", scratch_dir(), name,
		 ++made, getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0 && delete_files)
		unlink(path);
	if (fd >= 0 && buf) {
		fill(buf, 0, N, tag);
		if (write(fd, buf, N * PG) == (ssize_t)(N * PG)) {
			free(buf);
			return fd;
		}
	}
	free(buf);
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * A file of content @tag (see scratch_file()) mapped at @b (@flags:
 * MAP_PRIVATE or MAP_SHARED), every page read, pages 100-199 written with
 * @tag + 1: in a private mapping, the target's own copies.
 */
static int file_region(uint8_t *b, int flags, const char *name, uint8_t tag)
{
	static volatile uint8_t sink;
	int fd = scratch_file(name, tag);
	void *p;
	size_t i;

	if (fd < 0)
		return STEP_FAILED;
	p = mmap(b, N * PG, PROT_READ | PROT_WRITE, flags | MAP_FIXED_NOREPLACE,
		 fd, 0);
	close(fd);
	if (p != b)
		return STEP_FAILED;
	for (i = 0; i < N; i++)
		sink += b[i * PG];
	fill(b, 100, 100, tag + 1);
	return STEP_OK;
}

/* Written copies discarded: those pages read the file again. */
static int private_file(uint8_t *b, int step)
{
	switch (step) {
	case 0: return file_region(b, MAP_PRIVATE, "file", 20);
	case 1: return zap(b, 100, 50);
	case 2:
		fill(b, 120, 5, 22);
		fill(b, 300, 10, 23);
		return zap(b, 190, 10);
	}
	return zap(b, 0, N);
}

/*
 * Copies in a private file mapping poisoned (MADV_HWPOISON) after a full
 * generation captured them: the target gets SIGBUS there. No generation
 * after may hold the old copies: the oracle wants such a page as a page
 * the generation does not hold (export's zeros).
 */
static int private_file_poisoned(uint8_t *b, int step)
{
	int ret;

	switch (step) {
	case 0:
		ret = file_region(b, MAP_PRIVATE, "poisoned", 70);
		madvise(b, N * PG, MADV_NOHUGEPAGE);
		return ret;
	case 1:
		ret = guest_poison(b + 150 * PG, 2, NULL, 0);
		return ret < 0 ? STEP_FAILED : ret ? STEP_OK : STEP_UNSUPPORTED;
	case 2:
		/* Around the poisoned pages: a write there would be SIGBUS. */
		fill(b, 146, 4, 72);
		fill(b, 152, 4, 72);
		return STEP_OK;
	}
	fill(b, 400, 10, 73);
	return STEP_OK;
}

/*
 * A file mapped shared at @b, every page read, then written in place step
 * after step: its pages are the file's, which a write does not copy.
 */
static int shared_file_at(uint8_t *b, int step)
{
	switch (step) {
	case 0: return file_region(b, MAP_SHARED, "shared", 30);
	case 1: fill(b, 150, 100, 32); return STEP_OK;
	case 2: fill(b, 0, 1, 33); fill(b, N - 1, 1, 33); return STEP_OK;
	}
	fill(b, 600, 50, 34);
	return STEP_OK;
}

/* At the slot, 2 MiB aligned as the file: on DAX, PMD entries. */
static int shared_file(uint8_t *b, int step)
{
	return shared_file_at(b, step);
}

/* A page off the file's 2 MiB alignment: on DAX, PTEs only. */
static int shared_file_small(uint8_t *b, int step)
{
	return shared_file_at(b + PG, step);
}

/*
 * io_uring reads into registered buffers: IORING_REGISTER_BUFFERS pins the
 * region for good (FOLL_LONGTERM), and IORING_OP_READ_FIXED then copies a
 * file's bytes into it from the kernel, through no page-table entry of the
 * target: no write fault, no soft-dirty bit. The kernel's own clear_refs
 * leaves such pinned pages soft-dirty for that reason (pte_is_pinned() in
 * fs/proc/task_mmu.c). No-ops before each read move the completions on
 * through the ring (a shared mapping of the kernel's pages on 6.12, of
 * its memory with VM_PFNMAP on 6.1), which the kernel writes too. Raw
 * system calls: no liburing needed.
 */
#define URING_ENTRIES	256	/* 512 completions: 8 KiB, three pages */
#define URING_NOPS	200

static struct {
	int ring, file;
	unsigned int *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
} uring = { .ring = -1 };

/* The ring, mapped: STEP_UNSUPPORTED where io_uring is not to be had. */
static int uring_ring(void)
{
	struct io_uring_params p = { 0 };
	uint8_t *sq, *cq;

	uring.ring = (int)syscall(__NR_io_uring_setup, URING_ENTRIES, &p);
	if (uring.ring < 0)
		return STEP_UNSUPPORTED;
	sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned int),
		  PROT_READ | PROT_WRITE, MAP_SHARED, uring.ring, IORING_OFF_SQ_RING);
	cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
		  PROT_READ | PROT_WRITE, MAP_SHARED, uring.ring, IORING_OFF_CQ_RING);
	uring.sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe),
			  PROT_READ | PROT_WRITE, MAP_SHARED, uring.ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || uring.sqes == MAP_FAILED)
		return STEP_FAILED;
	uring.sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	uring.sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	uring.sq_array = (unsigned int *)(sq + p.sq_off.array);
	uring.cq_head = (unsigned int *)(cq + p.cq_off.head);
	uring.cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	uring.cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	uring.cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return STEP_OK;
}

static int uring_setup(uint8_t *b)
{
	struct iovec iov = { b, N * PG };
	int ret = uring_ring();

	if (ret != STEP_OK)
		return ret;
	uring.file = scratch_file("uring", 30);
	if (uring.file < 0 || region(b, false) != STEP_OK)
		return STEP_FAILED;
	return syscall(__NR_io_uring_register, uring.ring,
		       IORING_REGISTER_BUFFERS, &iov, 1) ? STEP_FAILED : STEP_OK;
}

/* The next submission queue entry, cleared. */
static struct io_uring_sqe *uring_sqe(unsigned int k)
{
	unsigned int i = (*uring.sq_tail + k) & *uring.sq_mask;

	uring.sq_array[i] = i;
	memset(&uring.sqes[i], 0, sizeof(uring.sqes[i]));
	return &uring.sqes[i];
}

/*
 * Submits the @n entries prepared and waits for them; their results must
 * be @res. The completions are only read here, the queue's head written:
 * the entries past the ring's first page are written by the kernel alone.
 */
static int uring_run(unsigned int n, int res)
{
	unsigned int head, k;
	int ret = STEP_OK;

	__atomic_store_n(uring.sq_tail, *uring.sq_tail + n, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, uring.ring, n, n,
		    IORING_ENTER_GETEVENTS, NULL, 0) != (long)n)
		return STEP_FAILED;
	head = *uring.cq_head;
	for (k = 0; k < n; k++, head++) {
		if (head == __atomic_load_n(uring.cq_tail, __ATOMIC_ACQUIRE))
			return STEP_FAILED;
		if (uring.cqes[head & *uring.cq_mask].res != res)
			ret = STEP_FAILED;
	}
	__atomic_store_n(uring.cq_head, head, __ATOMIC_RELEASE);
	return ret;
}

/* URING_NOPS no-ops: their completions move on through the ring. */
static int uring_nops(void)
{
	unsigned int k;

	for (k = 0; k < URING_NOPS; k++)
		uring_sqe(k)->opcode = IORING_OP_NOP;
	return uring_run(URING_NOPS, 0);
}

/*
 * Pages [@from, +@n) of the file into pages [@to, +@n) of the buffer,
 * after uring_nops().
 */
static int uring_read(uint8_t *b, size_t from, size_t to, size_t n)
{
	struct io_uring_sqe *sqe;

	if (uring_nops() != STEP_OK)
		return STEP_FAILED;
	sqe = uring_sqe(0);
	sqe->opcode = IORING_OP_READ_FIXED;
	sqe->fd = uring.file;
	sqe->addr = (uint64_t)(uintptr_t)(b + to * PG);
	sqe->len = (uint32_t)(n * PG);
	sqe->off = from * PG;
	sqe->buf_index = 0;
	return uring_run(1, (int)(n * PG));
}

static int uring_fixed(uint8_t *b, int step)
{
	if (!step)
		return uring_setup(b);
	if (uring.ring < 0)
		return STEP_UNSUPPORTED;
	switch (step) {
	case 1: return uring_read(b, 0, 100, 50);
	case 2:
		fill(b, 400, 1, 31);
		return uring_read(b, 200, 300, 10);
	}
	return uring_read(b, 500, 600, 100);
}

/*
 * Linux AIO's completion ring: io_setup() maps it shared and writable into
 * the process ("/[aio] (deleted)" in maps, a pseudo file's pages), and the
 * kernel writes each completion and the ring's head and tail there.
 */
#define AIO_EVENTS	512
#define AIO_READS	300

static aio_context_t aio_ctx;
static int aio_file = -1;

static int aio_ring(void)
{
	static char data[4096];

	if (syscall(__NR_io_setup, AIO_EVENTS, &aio_ctx))
		return STEP_UNSUPPORTED;
	aio_file = memfd_create("oracle-aio", 0);
	memset(data, 0x5a, sizeof(data));
	return aio_file >= 0 && write(aio_file, data, sizeof(data)) ==
		(ssize_t)sizeof(data) ? STEP_OK : STEP_FAILED;
}

/* AIO_READS reads of 64 bytes, their completions reaped. */
static int aio_reads(void)
{
	static struct io_event ev[AIO_READS];
	static struct iocb cb[AIO_READS];
	static char buf[AIO_READS][64];
	struct iocb *cbs[AIO_READS];
	long n, got = 0;
	int k;

	for (k = 0; k < AIO_READS; k++) {
		memset(&cb[k], 0, sizeof(cb[k]));
		cb[k].aio_lio_opcode = IOCB_CMD_PREAD;
		cb[k].aio_fildes = (uint32_t)aio_file;
		cb[k].aio_buf = (uint64_t)(uintptr_t)buf[k];
		cb[k].aio_nbytes = sizeof(buf[k]);
		cb[k].aio_offset = k * 8;
		cbs[k] = &cb[k];
	}
	if (syscall(__NR_io_submit, aio_ctx, AIO_READS, cbs) != AIO_READS)
		return STEP_FAILED;
	while (got < AIO_READS) {
		n = syscall(__NR_io_getevents, aio_ctx, 1, AIO_READS - got,
			    ev, NULL);
		if (n <= 0)
			return STEP_FAILED;
		got += n;
	}
	return STEP_OK;
}

/*
 * A packet socket's receive ring (PACKET_RX_RING, TPACKET_V2) on the
 * loopback device: the kernel copies each packet into a frame of the
 * ring's pages and sets the frame's status; the process hands the frame
 * back by writing the status. The ring is mapped whole at mmap(), shared
 * and writable; a filter lets only the process's own datagrams in, so
 * that nothing writes the ring while the target is parked.
 */
#define PKT_BLOCK	16384
#define PKT_FRAME	2048
#define PKT_FRAMES	64	/* 8 blocks: the ring wraps every step or two */
#define PKT_SENDS	40

static struct {
	int sock, udp;
	uint8_t *ring;
	unsigned int next;	/* the next frame the kernel fills */
	uint32_t sent;
} pkt = { .sock = -1, .udp = -1 };

static int packet_ring(void)
{
	struct tpacket_req req = {
		.tp_block_size = PKT_BLOCK, .tp_block_nr = PKT_FRAMES * PKT_FRAME / PKT_BLOCK,
		.tp_frame_size = PKT_FRAME, .tp_frame_nr = PKT_FRAMES,
	};
	struct sockaddr_in in = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(in);
	struct sockaddr_ll ll = { .sll_family = AF_PACKET,
				  .sll_protocol = htons(ETH_P_IP) };
	int v2 = TPACKET_V2, one = 1;
	struct sock_filter code[] = {
		/* IPv4, UDP (no IP options on loopback), to our port. */
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 5),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 3),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 36),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = ARRAY_SIZE(code), .filter = code };

	pkt.udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (pkt.udp < 0 || bind(pkt.udp, (struct sockaddr *)&in, sizeof(in)) ||
	    getsockname(pkt.udp, (struct sockaddr *)&in, &len) ||
	    connect(pkt.udp, (struct sockaddr *)&in, sizeof(in)))
		return STEP_FAILED;
	code[5].k = ntohs(in.sin_port);
	/* Protocol 0: nothing comes in before bind(), after the filter. */
	pkt.sock = socket(AF_PACKET, SOCK_RAW, 0);
	if (pkt.sock < 0)
		return STEP_UNSUPPORTED;
	ll.sll_ifindex = (int)if_nametoindex("lo");
	if (setsockopt(pkt.sock, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ||
	    setsockopt(pkt.sock, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) ||
	    setsockopt(pkt.sock, SOL_PACKET, PACKET_VERSION, &v2, sizeof(v2)) ||
	    setsockopt(pkt.sock, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)))
		return STEP_FAILED;
	pkt.ring = mmap(NULL, PKT_FRAMES * PKT_FRAME, PROT_READ | PROT_WRITE,
			MAP_SHARED, pkt.sock, 0);
	if (pkt.ring == MAP_FAILED || !ll.sll_ifindex ||
	    bind(pkt.sock, (struct sockaddr *)&ll, sizeof(ll)))
		return STEP_FAILED;
	return STEP_OK;
}

/* PKT_SENDS datagrams to ourselves; every frame they fill, handed back. */
static int packets(void)
{
	struct pollfd pfd = { .fd = pkt.sock, .events = POLLIN };
	struct tpacket2_hdr *h;
	char buf[128];
	int k;

	if (pkt.sock < 0)
		return STEP_UNSUPPORTED;

	for (k = 0; k < PKT_SENDS; k++) {
		memset(buf, 0, sizeof(buf));
		snprintf(buf, sizeof(buf), "datagram %u", pkt.sent + k);
		if (send(pkt.udp, buf, sizeof(buf), 0) != sizeof(buf))
			return STEP_FAILED;
	}
	pkt.sent += PKT_SENDS;
	for (k = 0; k < PKT_SENDS;) {
		h = (struct tpacket2_hdr *)(pkt.ring + pkt.next * PKT_FRAME);
		if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) &
		      TP_STATUS_USER)) {
			if (poll(&pfd, 1, 10000) != 1)
				return STEP_FAILED;
			continue;
		}
		__atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		pkt.next = (pkt.next + 1) % PKT_FRAMES;
		k++;
	}
	while (recv(pkt.udp, buf, sizeof(buf), 0) > 0)
		;
	return STEP_OK;
}

/*
 * An io_uring ring and a Linux AIO ring, and no registered buffers (no
 * pins, which would make --backend proc take every page and hide how it
 * reads the rings): the kernel writes the completions into the rings'
 * pages, shared mappings of its own, which no write fault marks. @b is
 * not used: the rings are where the kernel maps them.
 */
static int rings(uint8_t *b, int step)
{
	int r;

	(void)b;
	if (!step) {
		r = uring_ring();
		return r == STEP_OK ? aio_ring() : r;
	}
	if (uring.ring < 0 || aio_file < 0)
		return STEP_UNSUPPORTED;
	return uring_nops() == STEP_OK && aio_reads() == STEP_OK ? STEP_OK :
								   STEP_FAILED;
}

/* The packet ring, as rings() does the others. */
static int packet_rx(uint8_t *b, int step)
{
	(void)b;
	return step ? packets() : packet_ring();
}

/*
 * Another process writes @n pages of @fd from @first, through a mapping of
 * its own (of the whole file: @fd is sized to the scenario's region).
 */
static int fork_writes(int fd, size_t first, size_t n, uint8_t tag)
{
	pid_t pid = fork();
	struct stat st;
	uint8_t *p;

	if (!pid) {
		if (fstat(fd, &st))
			_exit(1);
		p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			_exit(1);
		fill(p, first, n, tag);
		_exit(0);
	}
	return pid > 0 && waitpid(pid, NULL, 0) == pid ? STEP_OK : STEP_FAILED;
}

/*
 * Drops from the page cache what of @fd no one maps (a memfd keeps it
 * all): the next checkpoint reads those pages of a disk file from the
 * disk, a readahead at a time among the pages still cached.
 */
static int uncache(int fd)
{
	return fdatasync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) ?
	       STEP_FAILED : STEP_OK;
}

/*
 * A memfd (shmem) the target maps, written by another process through a
 * mapping of its own, and by write(2); punched with fallocate(): no entry
 * of the target's page table sees any of it.
 */
static int shmem_others(uint8_t *b, int step)
{
	static int fd = -1;
	uint8_t buf[PG];

	switch (step) {
	case 0:
		fd = memfd_create("oracle-shmem", 0);
		if (fd < 0 || ftruncate(fd, N * PG))
			return STEP_FAILED;
		if (mmap(b, N * PG, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0) != b)
			return STEP_FAILED;
		fill(b, 0, 50, 24);
		return STEP_OK;
	case 1:
		if (fork_writes(fd, 600, 4, 25) != STEP_OK)
			return STEP_FAILED;
		memset(buf, 0x5c, sizeof(buf));
		return pwrite(fd, buf, PG, 700 * PG) == PG ? STEP_OK :
							    STEP_FAILED;
	case 2:
		return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 0, 20 * PG) ? STEP_FAILED : STEP_OK;
	}
	return fork_writes(fd, 5, 1, 26);
}

/*
 * A memfd mapped private, written and punched under the target by others:
 * where the target has no copy of its own it reads the object, as the
 * object is at each instant, and once the memfd is gone nothing but a
 * generation holds those pages (CRIU dumps a memfd's content too). Half
 * the memfd written at first, half holes; the target writes copies of its
 * own and reads pages of both halves; others write under them, and a
 * disk file's pages the target does not map leave the page cache
 * (uncache()); then some copies are discarded or cut off (ftruncate()
 * takes a private mapping's copies past the new end), and the object is
 * left short over one checkpoint.
 * @fd: the object, empty, or -1; *@at: where it is kept across steps.
 */
static int object_private(uint8_t *b, int step, int fd, int *at)
{
	static volatile uint8_t sink;
	uint8_t buf[PG];
	size_t i;

	if (step)
		fd = *at;
	switch (step) {
	case 0:
		*at = fd;
		memset(buf, 60, sizeof(buf));
		if (fd < 0 || ftruncate(fd, N * PG))
			return STEP_FAILED;
		for (i = 0; i < N / 2; i++)
			if (pwrite(fd, buf, PG, (off_t)(i * PG)) != PG)
				return STEP_FAILED;
		if (mmap(b, N * PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0) != b)
			return STEP_FAILED;
		fill(b, 0, 100, 61);
		for (i = 200; i < 300; i++)
			sink += b[i * PG];
		for (i = 700; i < 720; i++)
			sink += b[i * PG];
		return STEP_OK;
	case 1:
		/* Under pages it read, pages it never touched, its copies. */
		if (fork_writes(fd, 250, 10, 62) != STEP_OK ||
		    fork_writes(fd, 50, 10, 63) != STEP_OK ||
		    fork_writes(fd, 710, 20, 64) != STEP_OK)
			return STEP_FAILED;
		memset(buf, 65, sizeof(buf));
		if (pwrite(fd, buf, PG, 400 * PG) != PG)
			return STEP_FAILED;
		return uncache(fd);
	case 2:
		/* Copies discarded read the object again; holes punched. */
		if (zap(b, 0, 30) != STEP_OK ||
		    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      40 * PG, 20 * PG) ||
		    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      240 * PG, 20 * PG))
			return STEP_FAILED;
		fill(b, 600, 5, 66);
		/*
		 * Left short: past the end the mapping has no page (SIGBUS),
		 * and the generation must drop the object's pages it held
		 * there (700-729).
		 */
		return ftruncate(fd, 650 * PG) ? STEP_FAILED : STEP_OK;
	}
	if (ftruncate(fd, N * PG))
		return STEP_FAILED;
	fill(b, 900, 5, 67);
	return ftruncate(fd, 80 * PG) || ftruncate(fd, N * PG) ? STEP_FAILED :
								  STEP_OK;
}

static int memfd_private(uint8_t *b, int step)
{
	static int fd = -1;

	return object_private(b, step,
			      step ? -1 : memfd_create("oracle-private", 0),
			      &fd);
}

/* An empty file of the scratch disk, deleted once open. Return: it, or -1. */
static int deleted_file(const char *name)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/oracle-%s-%d", scratch_dir(), name,
		 getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0 && unlink(path)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * The same with a deleted file of the scratch disk (ext4), sparse where
 * the memfd had holes: mapped private it is memory no name reaches, as a
 * memfd is (CRIU dumps such a file's content, up to its ghost limit), and
 * read from the disk where the page cache lacks a page.
 */
static int deleted_private(uint8_t *b, int step)
{
	static int fd = -1;

	return object_private(b, step, step ? -1 : deleted_file("private"),
			      &fd);
}

/*
 * A deleted file of the scratch disk mapped shared, its first half
 * writable, its second through a read-only descriptor: written by the
 * target, by another process through a mapping of its own and by
 * write(2), then punched. No entry of the target's page table sees the
 * others' writes, and no name leads to the file: the generation holds
 * both halves whole, from the page cache or the disk (the pages the
 * target does not map leave the cache after the others' writes), as for
 * a memfd.
 */
static int deleted_shared(uint8_t *b, int step)
{
	static int fd = -1;
	uint8_t buf[PG];
	char path[64];
	int ro;

	switch (step) {
	case 0:
		fd = deleted_file("shared");
		if (fd < 0 || ftruncate(fd, N * PG) ||
		    fork_writes(fd, N / 2, 100, 71) != STEP_OK)
			return STEP_FAILED;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ro = open(path, O_RDONLY);
		if (ro < 0 ||
		    mmap(b, N / 2 * PG, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0) != b ||
		    mmap(b + N / 2 * PG, N / 2 * PG, PROT_READ,
			 MAP_SHARED | MAP_FIXED_NOREPLACE, ro,
			 N / 2 * PG) != b + N / 2 * PG)
			return STEP_FAILED;
		close(ro);
		fill(b, 0, 50, 72);
		return STEP_OK;
	case 1:
		if (fork_writes(fd, 100, 4, 73) != STEP_OK ||
		    fork_writes(fd, 600, 4, 73) != STEP_OK)
			return STEP_FAILED;
		memset(buf, 0x5d, sizeof(buf));
		if (pwrite(fd, buf, PG, 700 * PG) != PG)
			return STEP_FAILED;
		return uncache(fd);
	case 2:
		fill(b, 200, 10, 74);
		return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 0, 20 * PG) ||
		       fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 520 * PG, 20 * PG) ? STEP_FAILED : STEP_OK;
	}
	return fork_writes(fd, 5, 1, 75);
}

/*
 * A tmpfs file mapped private whose name comes and goes: named, its pages
 * the target did not write are the file's (not in a generation); unlinked
 * (or made with O_TMPFILE), its object's, held as a memfd's. The first
 * half of the region maps a named file that step 1 unlinks, the second an
 * O_TMPFILE file that step 1 links and step 3 unlinks again; both files
 * are written under the target's copies, which step 2 partly discards.
 */
static int tmpfs_renamed(uint8_t *b, int step)
{
	static int named = -1, tmp = -1;
	static char path[2][64];
	uint8_t *c = b + N / 2 * PG, buf[PG];
	char fdpath[64];
	size_t i;

	switch (step) {
	case 0:
		snprintf(path[0], sizeof(path[0]), "/dev/shm/oracle-named-%d",
			 getpid());
		snprintf(path[1], sizeof(path[1]), "/dev/shm/oracle-linked-%d",
			 getpid());
		named = open(path[0], O_RDWR | O_CREAT | O_EXCL, 0600);
		tmp = open("/dev/shm", O_TMPFILE | O_RDWR, 0600);
		if (named < 0 || tmp < 0)
			return STEP_FAILED;
		for (i = 0; i < N / 2; i++) {
			memset(buf, (int)(70 + i % 2), sizeof(buf));
			if (pwrite(named, buf, PG, (off_t)(i * PG)) != PG ||
			    pwrite(tmp, buf, PG, (off_t)(i * PG)) != PG)
				return STEP_FAILED;
		}
		if (mmap(b, N / 2 * PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_FIXED_NOREPLACE, named, 0) != b ||
		    mmap(c, N / 2 * PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_FIXED_NOREPLACE, tmp, 0) != c)
			return STEP_FAILED;
		fill(b, 0, 20, 72);
		fill(c, 0, 20, 73);
		return STEP_OK;
	case 1:
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", tmp);
		if (unlink(path[0]) ||
		    linkat(AT_FDCWD, fdpath, AT_FDCWD, path[1],
			   AT_SYMLINK_FOLLOW))
			return STEP_FAILED;
		memset(buf, 74, sizeof(buf));
		for (i = 100; i < 110; i++)
			if (pwrite(named, buf, PG, (off_t)(i * PG)) != PG ||
			    pwrite(tmp, buf, PG, (off_t)(i * PG)) != PG)
				return STEP_FAILED;
		return STEP_OK;
	case 2:
		if (zap(b, 0, 10) != STEP_OK || zap(c, 0, 10) != STEP_OK)
			return STEP_FAILED;
		fill(b, 200, 5, 75);
		fill(c, 200, 5, 76);
		return STEP_OK;
	}
	return unlink(path[1]) ? STEP_FAILED : STEP_OK;
}

/* A child writes pages [first, first + n) through its copy of @b's mapping, made writable. */
static int fork_writes_mapping(uint8_t *b, size_t first, size_t n, uint8_t tag)
{
	pid_t pid = fork();
	int status;

	if (!pid) {
		if (mprotect(b + first * PG, n * PG, PROT_READ | PROT_WRITE))
			_exit(1);
		fill(b, first, n, tag);
		_exit(0);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	       WIFEXITED(status) && !WEXITSTATUS(status) ? STEP_OK : STEP_FAILED;
}

/*
 * Shared memory the target maps read-only, which others write: a memfd
 * mapped through a read-only descriptor (VM_MAYSHARE without VM_SHARED),
 * and shared anonymous memory made read-only, its second half PROT_NONE.
 * Its pages exist only in memory, and no entry of the target's page table
 * sees another process write or punch them.
 */
static int shared_read_only(uint8_t *b, int step)
{
	static int fd = -1;
	size_t a = N / 2, none = N / 2 + N / 4;
	char path[64];
	int ro;

	switch (step) {
	case 0:
		fd = memfd_create("oracle-read-only", 0);
		if (fd < 0 || ftruncate(fd, N / 2 * PG) ||
		    fork_writes(fd, 0, N / 2, 66) != STEP_OK)
			return STEP_FAILED;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ro = open(path, O_RDONLY);
		if (ro < 0 || mmap(b, N / 2 * PG, PROT_READ,
				   MAP_SHARED | MAP_FIXED_NOREPLACE, ro, 0) != b)
			return STEP_FAILED;
		close(ro);
		if (mmap(b + a * PG, N / 2 * PG, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			 -1, 0) != b + a * PG)
			return STEP_FAILED;
		fill(b, a, N / 2, 67);
		return mprotect(b + a * PG, N / 4 * PG, PROT_READ) ||
		       mprotect(b + none * PG, N / 4 * PG, PROT_NONE) ?
		       STEP_FAILED : STEP_OK;
	case 1:
		if (fork_writes(fd, 10, 4, 68) != STEP_OK ||
		    fork_writes_mapping(b, a + 10, 4, 68) != STEP_OK)
			return STEP_FAILED;
		return fork_writes_mapping(b, none + 10, 4, 68);
	case 2:
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      0, 20 * PG))
			return STEP_FAILED;
		return fork_writes_mapping(b, none + 100, 2, 69);
	}
	return fork_writes(fd, 300, 1, 70);
}

/*
 * Objects cut short and grown again under their mappings: ftruncate() takes
 * a memfd's pages past the new end out of the object (no entry of the
 * target's page table says so), and a file's out of every mapping of it,
 * the target's own copies in a private mapping included (the kernel unmaps
 * those too, as the file no longer reaches them). Grown back, the memfd
 * reads as zeros there and the private mapping as the file (zeros too).
 * While the file is short, the pages of the private mapping past its end
 * cannot be read (SIGBUS; the oracle skips them), and step 2 shows whether
 * the generation dropped the copies there. The memfd's shared mapping is
 * the first half of the region, the file's private one the second.
 */
static int truncated(uint8_t *b, int step)
{
	static volatile uint8_t sink;
	static int mfd = -1, ffd = -1;
	uint8_t *f = b + N / 2 * PG;
	size_t i;

	switch (step) {
	case 0:
		mfd = memfd_create("oracle-truncated", 0);
		ffd = scratch_file("truncated", 30);
		if (mfd < 0 || ffd < 0 || ftruncate(mfd, N / 2 * PG) ||
		    mmap(b, N / 2 * PG, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED_NOREPLACE, mfd, 0) != b ||
		    mmap(f, N / 2 * PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_FIXED_NOREPLACE, ffd, 0) != f)
			return STEP_FAILED;
		fill(b, 0, N / 2, 31);
		for (i = 0; i < N / 2; i++)
			sink += f[i * PG];
		fill(f, 100, 200, 32);
		return STEP_OK;
	case 1:
		/* The memfd back at once; the file left short: 150 pages. */
		if (ftruncate(mfd, 100 * PG) || ftruncate(mfd, N / 2 * PG) ||
		    ftruncate(ffd, 150 * PG))
			return STEP_FAILED;
		fill(b, 120, 10, 33);
		fill(f, 40, 10, 34);
		return STEP_OK;
	case 2:
		if (ftruncate(ffd, N * PG))
			return STEP_FAILED;
		fill(f, 250, 10, 35);
		fill(b, 400, 10, 36);
		return STEP_OK;
	}
	return ftruncate(mfd, 0) || ftruncate(mfd, N / 2 * PG) ? STEP_FAILED :
								  STEP_OK;
}

/*
 * ---- hugetlb: 2 MiB pages from the pool the fixture reserves ----
 *
 * No soft-dirty bit marks a hugetlb page (tracker.c): the module reads each
 * present one at every checkpoint, and the shared ones from their object,
 * where another process may have written or punched them.
 */
#define HUGE		(HP * PG)
#define HUGE_PAGES	24	/* the pool: what the scenarios and the oracle's reads need */

#ifndef MFD_HUGETLB
#define MFD_HUGETLB	4U
#endif

static uint8_t *map_huge(uint8_t *at, size_t n, int flags, int fd)
{
	void *p = mmap(at, n * HUGE, PROT_READ | PROT_WRITE,
		       MAP_FIXED_NOREPLACE | flags | (fd < 0 ? MAP_ANONYMOUS : 0) |
		       (fd < 0 ? MAP_HUGETLB : 0), fd, 0);

	return p == at ? at : NULL;
}


/* MAP_PRIVATE|MAP_HUGETLB: written in part, discarded, refaulted, unmapped. */
static int huge_private(uint8_t *b, int step)
{
	switch (step) {
	case 0:
		if (!map_huge(b, 3, MAP_PRIVATE, -1))
			return STEP_FAILED;
		fill(b, 0, HP + 10, 30);	/* the third page never touched */
		return STEP_OK;
	case 1:
		fill(b, 7, 2, 31);
		return zap(b, HP, HP);		/* MADV_DONTNEED, whole page */
	case 2:
		fill(b, HP + 3, 1, 32);		/* a new page: the rest zeros */
		fill(b, 2 * HP + 100, 1, 33);
		return STEP_OK;
	}
	return munmap(b + HUGE, HUGE) ? STEP_FAILED : STEP_OK;
}

/*
 * MAP_SHARED|MAP_HUGETLB, and a forked child writing it: the same object,
 * through the child's copy of the mapping.
 */
static int huge_shared(uint8_t *b, int step)
{
	pid_t pid;

	switch (step) {
	case 0:
		if (!map_huge(b, 2, MAP_SHARED, -1))
			return STEP_FAILED;
		fill(b, 0, 20, 34);
		return STEP_OK;
	case 1:
		pid = fork();
		if (!pid) {
			fill(b, HP + 5, 3, 35);
			_exit(0);
		}
		return pid > 0 && waitpid(pid, NULL, 0) == pid ? STEP_OK :
								  STEP_FAILED;
	case 2:	/* MADV_REMOVE punches the object: zeros again */
		return madvise(b, HUGE, MADV_REMOVE) ? STEP_FAILED : STEP_OK;
	}
	fill(b, 2, 1, 36);
	return STEP_OK;
}

/*
 * memfd_create(MFD_HUGETLB) mapped by the target, written by another
 * process through a mapping of its own (the target's page table never
 * sees the page), then punched with fallocate().
 */
static int huge_memfd(uint8_t *b, int step)
{
	static int fd = -1;

	switch (step) {
	case 0:
		fd = memfd_create("oracle-huge", MFD_HUGETLB);
		if (fd < 0)
			return errno == EINVAL ? STEP_UNSUPPORTED : STEP_FAILED;
		if (ftruncate(fd, 2 * HUGE) || !map_huge(b, 2, MAP_SHARED, fd))
			return STEP_FAILED;
		fill(b, 0, 5, 37);
		return STEP_OK;
	case 1:
		return fd < 0 ? STEP_UNSUPPORTED : fork_writes(fd, HP + 1, 4, 38);
	case 2:
		if (fd < 0)
			return STEP_UNSUPPORTED;
		return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 0, HUGE) ? STEP_FAILED : STEP_OK;
	}
	return fd < 0 ? STEP_UNSUPPORTED : fork_writes(fd, 9, 1, 39);
}

/*
 * A hugetlbfs file (an MFD_HUGETLB memfd) with content, mapped private
 * (its pages the file's until the target writes one: the copy is then its
 * own, and MADV_DONTNEED gives the file's back) and, through a read-only
 * descriptor, shared read-only (VM_MAYSHARE without VM_SHARED, where
 * hugetlb may share page tables: nothing the target wrote). Another
 * process writes the file meanwhile.
 */
static int huge_file(uint8_t *b, int step)
{
	static volatile uint8_t sink;
	static int fd = -1;
	char path[64];
	uint8_t *p;
	int ro;
	size_t i;

	switch (step) {
	case 0:
		fd = memfd_create("oracle-hfile", MFD_HUGETLB);
		if (fd < 0 || ftruncate(fd, 2 * HUGE))
			return STEP_FAILED;
		if (fork_writes(fd, 0, 2 * HP, 50) != STEP_OK)
			return STEP_FAILED;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ro = open(path, O_RDONLY);
		if (ro < 0)
			return STEP_FAILED;
		p = mmap(SPARE(b), 2 * HUGE, PROT_READ,
			 MAP_SHARED | MAP_FIXED_NOREPLACE, ro, 0);
		close(ro);
		if (p != SPARE(b) || !map_huge(b, 2, MAP_PRIVATE, fd))
			return STEP_FAILED;
		for (i = 0; i < 2 * HP; i += 64)
			sink += b[i * PG] + SPARE(b)[i * PG];
		fill(b, 3, 1, 51);		/* huge page 0: the target's copy */
		return STEP_OK;
	case 1:
		return fork_writes(fd, HP + 10, 2, 52);	/* seen through page 1 */
	case 2:
		return zap(b, 0, HP);			/* the file's page again */
	}
	fill(b, HP + 11, 1, 53);
	return STEP_OK;
}

/* SysV shared memory with SHM_HUGETLB, removed once attached. */
static int huge_sysv(uint8_t *b, int step)
{
	int id;

	if (!step) {
		id = shmget(IPC_PRIVATE, 2 * HUGE, IPC_CREAT | SHM_HUGETLB | 0600);
		if (id < 0)
			return STEP_FAILED;
		if (shmat(id, b, 0) != b) {
			shmctl(id, IPC_RMID, NULL);
			return STEP_FAILED;
		}
		shmctl(id, IPC_RMID, NULL);
		fill(b, 0, HP + 1, 40);
		return STEP_OK;
	}
	fill(b, (size_t)step * 100, 2, (uint8_t)(40 + step));
	return STEP_OK;
}

struct scenario {
	const char *name;
	int (*step)(uint8_t *b, int step);
};

/* The catalogue: each scenario has its own slot of the target's memory. */
static const struct scenario catalogue[] = {
	{ "MADV_DONTNEED whole", dontneed },
	{ "MADV_DONTNEED partial", dontneed_partial },
	{ "MADV_DONTNEED inside a huge page", dontneed_thp },
	{ "MADV_FREE + MADV_PAGEOUT", free_pageout },
	{ "MAP_FIXED over written pages", map_fixed },
	{ "mremap move, grow, shrink", mremap_cases },
	{ "mprotect split and merge", mprotect_cases },
	{ "THP split and MADV_COLLAPSE", thp_split_collapse },
	{ "fork and copy-on-write", fork_cow },
	{ "munmap and a new mapping", munmap_remap },
	{ "swap-out (MADV_PAGEOUT)", swap_out },
	{ "MADV_DONTNEED in a private file mapping", private_file },
	{ "io_uring reads into registered buffers", uring_fixed },
	{ "process_vm_writev and /proc/self/mem", kernel_writes },
	{ "mremap MREMAP_DONTUNMAP", mremap_dontunmap },
	{ "userfaultfd COPY, ZEROPAGE and MOVE", uffd_fill },
	{ "memfd written by others, punched", shmem_others },
	{ "a memfd and a file cut short and grown again", truncated },
	{ "UFFDIO_ZEROPAGE in a private memfd mapping", uffd_zero_file },
	{ "a memfd mapped private, written and punched under it", memfd_private },
	{ "a deleted ext4 file mapped private, written under it", deleted_private },
	{ "a deleted ext4 file mapped shared, written by others", deleted_shared },
	{ "tmpfs files mapped private, unlinked and linked", tmpfs_renamed },
	{ "pages poisoned (MADV_HWPOISON, UFFDIO_POISON)", poisoned },
	{ "shared memory poisoned (memfd, shared anonymous)", shared_poisoned },
	{ "copies in a private file mapping poisoned", private_file_poisoned },
	{ "read-only shared memory written by others", shared_read_only },
};

/* A process of its own: see rings(). */
static const struct scenario ring_only[] = {
	{ "io_uring and Linux AIO completion rings, no pins", rings },
	{ "a packet socket's receive ring", packet_rx },
};

/*
 * Page tables moved whole: a process of its own and without pins (a
 * process with pins has --backend proc take every page, see holds_pins()
 * in tools/procsrc.c, and so could not show it sees the move).
 */
static const struct scenario tables_only[] = {
	{ "mremap of whole page tables, moved back", mremap_tables },
};

/* Hugetlb mappings: a process of their own, with a pool reserved. */
static const struct scenario huge_only[] = {
	{ "MAP_PRIVATE|MAP_HUGETLB", huge_private },
	{ "MAP_SHARED|MAP_HUGETLB written by a child", huge_shared },
	{ "memfd MFD_HUGETLB written by another process, punched", huge_memfd },
	{ "SysV SHM_HUGETLB", huge_sysv },
	{ "a hugetlbfs file mapped private and shared read-only", huge_file },
};

/*
 * Files on persistent memory (ext4 -o dax, see guest_dax_mount()): their
 * page-table entries point at the device's memory, with no page cache
 * (pte_devmap, pmd_devmap where mapping and file are 2 MiB aligned), which
 * the walk treats apart (tracker.c). A process of its own, in a boot with
 * selftests/qemu/run --pmem.
 */
static const struct scenario dax_only[] = {
	{ "MADV_DONTNEED in a private DAX file mapping", private_file },
	{ "a DAX file mapped shared, written in place (PMDs)", shared_file },
	{ "a DAX file mapped shared, written in place (PTEs)", shared_file_small },
};

/*
 * The catalogue's scenarios of scratch files mapped private, with the
 * files deleted once open (delete_files): where the target has no copy
 * of its own, the generation holds what it reads, from the page cache or
 * the disk.
 */
static const struct scenario deleted_only[] = {
	{ "MADV_DONTNEED in a private mapping of a deleted file", private_file },
	{ "a memfd and a deleted file cut short and grown again", truncated },
	{ "copies in a private mapping of a deleted file poisoned",
	  private_file_poisoned },
};

/*
 * The target: each step of every scenario of @scen, then a report (the
 * worst status, the scenario it came from, how many scenarios this kernel
 * cannot run), then parked in read().
 */
static void child(int cmd, int ack, const struct scenario *scen, size_t n)
{
	char rep[3], c;
	size_t k;
	int i, r;

	oracle_target_init();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(TARGET_LIFE);
	for (i = 0; i <= STEPS; i++) {
		if (i && read(cmd, &c, 1) != 1)
			_exit(0);
		rep[0] = STEP_OK;
		rep[1] = 0;
		rep[2] = 0;
		for (k = 0; k < n; k++) {
			r = scen[k].step(SLOT(k), i);
			rep[2] += r == STEP_UNSUPPORTED;
			if (r != STEP_OK && rep[0] != STEP_FAILED) {
				rep[0] = (char)r;
				rep[1] = (char)k;
			}
		}
		if (write(ack, rep, 3) != 3)
			_exit(1);
	}
	while (read(cmd, &c, 1) == 1)
		;
	_exit(0);
}

FIXTURE(oracle) {
	struct oracle_link t;
	char store[256], swapfile[256];
	const char *no_swap;
	char hugepages[32];	/* vm.nr_hugepages to put back, or "" */
	bool dax_mounted;
};

#define DAX_DIR	"/run/snapper-oracle-dax"

/* Which backend, and which scenarios the target runs. */
FIXTURE_VARIANT(oracle) {
	bool proc;
	const struct scenario *scen;
	size_t n;
	bool huge;		/* reserve HUGE_PAGES hugetlb pages first */
	bool dax;		/* files on a DAX mount (file_dir) */
	bool deleted;		/* scratch files deleted (delete_files) */
};

FIXTURE_VARIANT_ADD(oracle, module) {
	.proc = false, .scen = catalogue, .n = ARRAY_SIZE(catalogue),
};

FIXTURE_VARIANT_ADD(oracle, proc) {
	.proc = true, .scen = catalogue, .n = ARRAY_SIZE(catalogue),
};

FIXTURE_VARIANT_ADD(oracle, rings_module) {
	.proc = false, .scen = ring_only, .n = ARRAY_SIZE(ring_only),
};

FIXTURE_VARIANT_ADD(oracle, rings_proc) {
	.proc = true, .scen = ring_only, .n = ARRAY_SIZE(ring_only),
};

FIXTURE_VARIANT_ADD(oracle, tables_module) {
	.proc = false, .scen = tables_only, .n = ARRAY_SIZE(tables_only),
};

FIXTURE_VARIANT_ADD(oracle, tables_proc) {
	.proc = true, .scen = tables_only, .n = ARRAY_SIZE(tables_only),
};

FIXTURE_VARIANT_ADD(oracle, hugetlb_module) {
	.proc = false, .scen = huge_only, .n = ARRAY_SIZE(huge_only),
	.huge = true,
};

FIXTURE_VARIANT_ADD(oracle, hugetlb_proc) {
	.proc = true, .scen = huge_only, .n = ARRAY_SIZE(huge_only),
	.huge = true,
};

FIXTURE_VARIANT_ADD(oracle, deleted_module) {
	.proc = false, .scen = deleted_only, .n = ARRAY_SIZE(deleted_only),
	.deleted = true,
};

FIXTURE_VARIANT_ADD(oracle, deleted_proc) {
	.proc = true, .scen = deleted_only, .n = ARRAY_SIZE(deleted_only),
	.deleted = true,
};

FIXTURE_VARIANT_ADD(oracle, dax_module) {
	.proc = false, .scen = dax_only, .n = ARRAY_SIZE(dax_only),
	.dax = true,
};

FIXTURE_VARIANT_ADD(oracle, dax_proc) {
	.proc = true, .scen = dax_only, .n = ARRAY_SIZE(dax_only),
	.dax = true,
};

FIXTURE_SETUP(oracle)
{
	const char *why = guest_backend_skip_reason(variant->proc);

	self->t.pid = 0;
	self->swapfile[0] = '\0';
	self->hugepages[0] = '\0';
	self->dax_mounted = false;
	if (why)
		SKIP(return, "%s", why);
	if (variant->huge) {
		why = guest_reserve_huge(self->hugepages,
					 sizeof(self->hugepages), HUGE_PAGES);
		if (why)
			SKIP(return, "%s", why);
	}
	if (variant->dax) {
		why = guest_dax_mount(DAX_DIR);
		/* In a boot made for it, no DAX mount is a failure. */
		ASSERT_FALSE(why && guest_pmem_booted()) TH_LOG("%s", why);
		if (why)
			SKIP(return, "%s", why);
		self->dax_mounted = true;
		file_dir = DAX_DIR;
	}
	delete_files = variant->deleted;
	guest_store_path(self->store, sizeof(self->store),
			 variant->proc ? "oracle-proc" : "oracle");
	self->no_swap = oracle_swap_on(self->swapfile, sizeof(self->swapfile));
	ASSERT_LE(0, oracle_fork(&self->t));
	if (!self->t.pid)
		child(self->t.cmd, self->t.ack, variant->scen, variant->n);
}

FIXTURE_TEARDOWN(oracle)
{
	pid_t pid = self->t.pid;

	if (pid > 0) {
		oracle_kill(&self->t);
		guest_sh(NULL, 0, "rm -rf '%s'", self->store);
		/* scratch_file()'s files */
		guest_sh(NULL, 0, "rm -f '%s'/oracle-*-%d", scratch_dir(), pid);
	}
	oracle_swap_off(self->swapfile);
	guest_release_huge(self->hugepages);
	if (self->dax_mounted)
		guest_sh(NULL, 0, "umount " DAX_DIR);
}

/*
 * Runs step @i in the target and waits until it is parked again.
 * Return: how many scenarios met a call this kernel lacks.
 */
static size_t step(struct __test_metadata *_metadata,
		   FIXTURE_DATA(oracle) *self,
		   const FIXTURE_VARIANT(oracle) *variant, int i)
{
	char rep[3] = { 0 };
	const char *name;

	if (i)
		ASSERT_EQ(1, write(self->t.cmd, "s", 1));
	ASSERT_EQ(3, read(self->t.ack, rep, 3));
	name = variant->scen[(size_t)rep[1] % variant->n].name;
	ASSERT_NE(STEP_FAILED, rep[0])
		TH_LOG("step %d of \"%s\" failed in the target", i, name);
	if (rep[0] == STEP_UNSUPPORTED)
		TH_LOG("note: step %d of \"%s\": a call this kernel does not "
		       "support; the state it left is compared all the same",
		       i, name);
	ASSERT_EQ(0, guest_wait_parked(self->t.pid));
	return (size_t)rep[2];
}

/* Return: the generation taken, 0 if none. */
static uint64_t exact(struct __test_metadata *_metadata,
		      FIXTURE_DATA(oracle) *self,
		      const FIXTURE_VARIANT(oracle) *variant, bool full, int i)
{
	uint64_t gen = oracle_checkpoint(self->store, self->t.pid, variant->proc,
					 full);
	size_t k;
	long d;

	EXPECT_NE(0ULL, (unsigned long long)gen)
		TH_LOG("checkpoint after step %d", i);
	if (!gen)
		return 0;
	d = oracle_compare(self->store, gen, self->t.pid);
	EXPECT_EQ(0, d)
		TH_LOG("generation %llu (%s, after step %d)",
		       (unsigned long long)gen, full ? "full" : "incremental", i);
	for (k = 0; d && k < variant->n; k++)
		TH_LOG("  slot %p: %s", SLOT(k), variant->scen[k].name);
	return gen;
}

/*
 * The oracle must see what it is there to see: one byte of the target's
 * first private anonymous mapping changed behind the generation's back
 * is one differing page, and putting it back makes them equal again.
 */
static void oracle_sees_a_change(struct __test_metadata *_metadata,
				 pid_t pid, const char *store, uint64_t gen)
{
	char path[64], line[512];
	struct oracle_map m;
	bool found = false;
	uint8_t b, x;
	FILE *maps;
	int mem;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "r");
	ASSERT_NE(NULL, maps);
	while (!found && fgets(line, sizeof(line), maps))
		found = oracle_parse(line, &m) && !m.path[0] &&
			!strcmp(m.perms, "rw-p");
	fclose(maps);
	ASSERT_TRUE(found);
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	mem = open(path, O_RDWR);
	ASSERT_LE(0, mem);
	ASSERT_EQ(1, pread(mem, &b, 1, (off_t)m.start));
	x = b ^ 0xff;
	ASSERT_EQ(1, pwrite(mem, &x, 1, (off_t)m.start));
	TH_LOG("the oracle's report of the byte changed on purpose at %#llx:",
	       (unsigned long long)m.start);
	EXPECT_EQ(1, oracle_compare(store, gen, pid));
	ASSERT_EQ(1, pwrite(mem, &b, 1, (off_t)m.start));
	EXPECT_EQ(0, oracle_compare(store, gen, pid));
	close(mem);
}

TEST_F_TIMEOUT(oracle, exact, 600)
{
	uint64_t gen;
	int i;

	if (self->no_swap)
		TH_LOG("note: %s: MADV_PAGEOUT leaves anonymous pages in place",
		       self->no_swap);
	for (i = 0; i <= STEPS; i++) {
		if (step(_metadata, self, variant, i) == variant->n)
			SKIP(return, "no scenario of this variant runs on this kernel");
		exact(_metadata, self, variant, i == 0, i);
	}
	/* The same instant as the last incremental: a full one must agree. */
	gen = exact(_metadata, self, variant, true, i);
	if (gen)
		oracle_sees_a_change(_metadata, self->t.pid, self->store, gen);
}

/* ---- the process, not its main thread ---- */

static int parked_cmd = -1;

/* Writes a region, reports, and parks: the process's last thread. */
static void *last_thread(void *ack)
{
	char c = STEP_OK;

	if (region(SLOT(0), false) != STEP_OK)
		c = STEP_FAILED;
	if (write((int)(intptr_t)ack, &c, 1) != 1)
		_exit(1);
	while (read(parked_cmd, &c, 1) == 1)
		;
	_exit(0);
}

/* A thread of @pid other than its leader, or -1. */
static pid_t other_thread(pid_t pid)
{
	char path[64];
	struct dirent *d;
	pid_t tid = -1;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		if (atoi(d->d_name) > 0 && atoi(d->d_name) != pid)
			tid = atoi(d->d_name);
	closedir(dir);
	return tid;
}

FIXTURE(process) {
};

FIXTURE_SETUP(process)
{
}

FIXTURE_TEARDOWN(process)
{
}

/*
 * The main thread calls pthread_exit(): the process lives on in another
 * thread, its leader a zombie without an mm. Checkpoints (full, then
 * incremental, acknowledged in between) must still work and be exact.
 */
TEST_F_TIMEOUT(process, leader_exited, 300)
{
	const char *why = guest_tool_skip_reason();
	char store[256], out[512], c;
	int to[2], from[2], i;
	uint64_t gen;
	pthread_t t;
	pid_t pid, tid;

	if (why)
		SKIP(return, "%s", why);
	guest_store_path(store, sizeof(store), "oracle-leader");
	ASSERT_EQ(0, pipe(to));
	ASSERT_EQ(0, pipe(from));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		oracle_target_init();
		alarm(TARGET_LIFE);
		parked_cmd = to[0];
		if (pthread_create(&t, NULL, last_thread,
				   (void *)(intptr_t)from[1]))
			_exit(1);
		pthread_exit(NULL);
	}
	ASSERT_EQ(1, read(from[0], &c, 1));
	ASSERT_EQ(STEP_OK, c);
	/*
	 * Parked once the leader is a zombie (it stays one, and counted in
	 * Threads:, until the whole group exits) and the thread is in read().
	 */
	for (i = 0; i < 1000; i++) {
		if (!guest_sh(NULL, 0, "grep -q '^State:.*Z' /proc/%d/status && "
			      "grep -qs '^0 ' /proc/%d/task/*/syscall", pid, pid))
			break;
		usleep(10000);
	}
	/* The zombie leader's /proc/PID/maps is empty: compare its thread's. */
	tid = other_thread(pid);
	ASSERT_LT(0, tid);
	gen = oracle_checkpoint(store, pid, false, false);
	EXPECT_NE(0ULL, (unsigned long long)gen);
	EXPECT_EQ(0, oracle_compare(store, gen, tid));
	EXPECT_EQ(0, guest_sh(out, sizeof(out),
			      "snapper-tool checkpoint --store %s %d", store, pid))
		TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "incremental")) TH_LOG("%s", out);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	guest_sh(NULL, 0, "rm -rf '%s'", store);
}

/* Threads that are born and exit all the time, never waited for. */
static void *short_lived(void *arg)
{
	return arg;
}

/*
 * Created detached: pthread_detach() after pthread_create() races with
 * the thread's exit in glibc 2.36 (Debian 12). Once its compare-and-swap
 * has marked the thread detached, it reads the thread's descriptor again
 * (cancelhandling), which the exiting thread, now detached, may have
 * freed with its stack: SIGSEGV in pthread_detach(), as CI 46 saw (6.12:
 * "segfault at ... in libc.so.6[8a28c]", pthread_detach+28), when
 * glibc's stack cache was over its limit and the stack unmapped.
 */
static void *spawner(void *arg)
{
	pthread_attr_t a;
	pthread_t t;

	if (pthread_attr_init(&a) ||
	    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED))
		_exit(2);
	for (;;)
		pthread_create(&t, &a, short_lived, NULL);
	return arg;
}

/* A thread exiting during the freeze must not fail the checkpoint. */
TEST_F_TIMEOUT(process, threads_exiting, 300)
{
	const char *why = guest_tool_skip_reason();
	char store[256], out[512];
	int i, status = 0;
	pthread_t t;
	pid_t pid, w;

	if (why)
		SKIP(return, "%s", why);
	guest_store_path(store, sizeof(store), "oracle-threads");
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(TARGET_LIFE);
		for (i = 0; i < 2; i++)
			pthread_create(&t, NULL, spawner, NULL);
		pause();
		_exit(0);
	}
	usleep(100000);
	for (i = 0; i < 10; i++) {
		EXPECT_EQ(0, guest_sh(out, sizeof(out),
				      "snapper-tool checkpoint --quiet --store %s %d",
				      store, pid)) TH_LOG("checkpoint %d: %s", i, out);
		/* The target must live through every checkpoint. */
		w = waitpid(pid, &status, WNOHANG);
		ASSERT_EQ(0, w) {
			TH_LOG("after checkpoint %d the target %s %d", i,
			       WIFSIGNALED(status) ? "was killed by signal" :
			       "exited with", WIFSIGNALED(status) ?
			       WTERMSIG(status) : WEXITSTATUS(status));
			guest_sh(out, sizeof(out), "dmesg | tail -5");
			TH_LOG("dmesg: %s", out);
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	guest_sh(NULL, 0, "rm -rf '%s'", store);
}

TEST_HARNESS_MAIN
