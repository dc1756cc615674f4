// SPDX-License-Identifier: GPL-2.0
/*
 * snapper-tool restore, judged by the target itself. The target sets up
 * its regions, takes checksums of them, is checkpointed (by the module or
 * by --backend proc), overwrites what the generation holds of them, waits
 * (quiescent), is restored (whole process, or --range per region),
 * and compares its checksums again. Covered: private file mappings (ext4
 * and memfd) with pages written and pages only read, some of each
 * overwritten after the checkpoint (a memfd's also through the memfd) (a page only read at the instant read
 * as the file then: restore writes the file's bytes into the copy the
 * target made since, and leaves every page the target did not write the
 * file's own, not copied), written copies discarded with MADV_DONTNEED
 * between two checkpoints and written again (the newer generation does not
 * hold them: restore puts the file's content back), a private mapping past
 * its file's end (its last partial page overwritten), shared
 * memory (memfd, shared anonymous, SysV), THP, large folios (huge pages
 * of shared memory, multi-size THP: still large after the round trip),
 * the heap and a thread's
 * stack, a forked child sharing copy-on-write pages (its RSS and shared
 * counts unchanged by a checkpoint and a restore that writes nothing), and
 * a damaged store (the target untouched, exit status 3, the damage named;
 * with --salvage, everything else restored and the lost page left as it
 * was and named, exit status 3), a private mapping of a file on DAX, and
 * pages poisoned after the checkpoint, private and shared (skipped). Each case also runs on a
 * store whose pack is compressed (checkpoint --compress lz4).
 *
 * Needs root, the loaded module and $SNAPPER_SCRATCH: run it through
 * selftests/qemu/run.
 */
#include <lz4.h>
#include <pthread.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include <linux/kernel-page-flags.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"

#define MAX_REGIONS 12

/* One region the target checks: [base, base + len) of a mapping. */
struct region {
	char name[24];
	uint64_t base, len;	/* the bytes checked */
	uint64_t maplen;	/* what --range restores from base */
	uint64_t scrib, nscrib;	/* pages overwritten, from base */
	uint64_t nfile;		/* pages after those: still the file's page */
	uint64_t sum, sum_scribbled;
};

/* In a shared page the test created, so that both sides see it. */
struct table {
	int n;
	struct region r[MAX_REGIONS];
	char dir[256];		/* $SNAPPER_SCRATCH, for the files */
	bool dax;		/* dir is on DAX: see file_pages() */
};

static struct table *tab;

enum {
	T_SUM = T_USER, T_SCRIBBLE, T_CHECK, T_CHECK_SCRIBBLED, T_FORK,
	T_CHECK_SALVAGED, T_DISCARD, T_POISON, T_WRITE_OBJECT,
};

static uint64_t checksum(const void *p, size_t len)
{
	const uint64_t *w = p;
	uint64_t h = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < len / 8; i++)
		h = (h ^ w[i]) * 0x100000001b3ull + i;
	return h;
}

static void add(const char *name, void *base, uint64_t len, uint64_t maplen,
		uint64_t scrib, uint64_t nscrib)
{
	struct region *r = &tab->r[tab->n++];

	if (tab->n > MAX_REGIONS || base == MAP_FAILED || !base)
		_exit(2);
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->base = (uint64_t)base;
	r->len = len;
	r->maplen = maplen;
	r->scrib = scrib;
	r->nscrib = nscrib;
}

static void fill(void *base, size_t npages, uint64_t tag)
{
	for (size_t i = 0; i < npages; i++)
		fill_page((uint64_t)base, i, tag << 40 | i << 32);
}

static void *anon(size_t npages, int flags)
{
	return mmap(NULL, npages * PG, PROT_READ | PROT_WRITE,
		    flags | MAP_ANONYMOUS, -1, 0);
}

/*
 * A file of @size bytes of a known pattern, opened read-write, named
 * @name-PID in the scratch directory until the test's teardown: a named
 * file, which a private mapping leaves the pages the target did not write
 * to (a deleted one is memory: see setup_deleted_under()).
 */
static int pattern_file(const char *name, size_t size, uint64_t tag)
{
	char path[512];
	size_t npages = (size + PG - 1) / PG;
	void *buf = malloc(npages * PG);
	int fd;

	snprintf(path, sizeof(path), "%s/%s-%d", tab->dir, name, getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || !buf)
		_exit(2);
	fill(buf, npages, tag);
	if (write(fd, buf, size) != (ssize_t)size)
		_exit(2);
	free(buf);
	return fd;
}

static volatile uint64_t sink;

/* Reads every page, so that the read-only pages are mapped, not absent. */
static void touch(const void *base, size_t len)
{
	for (size_t i = 0; i < len; i += PG)
		sink += ((const volatile uint8_t *)base)[i];
}

/* A private writable mapping of a new pattern file, every page read once. */
static uint8_t *private_file(const char *name, size_t npages, uint64_t tag)
{
	int fd = pattern_file(name, npages * PG, tag);
	uint8_t *f = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE, fd, 0);

	close(fd);
	if (f == MAP_FAILED)
		_exit(2);
	touch(f, npages * PG);
	return f;
}

/*
 * Private file mappings: pages written (copies) and pages only read. Of
 * each, pages 1-4 are overwritten after the checkpoint: 2 and 3 were
 * written before it (the generation holds them), 1 and 4 only read (the
 * file's then). The pages after them the target never writes: they must
 * stay the file's own. Here an anonymous region and an ext4 file.
 */
static void setup_ext4_file(struct target *t, void *arg)
{
	uint8_t *a = anon(64, MAP_PRIVATE), *f;

	fill(a, 64, 1);
	memset(a + 5 * PG, 0, PG);	/* captured as zero */
	add("anon", a, 64 * PG, 64 * PG, 3, 38);

	f = private_file("priv", 16, 2);
	fill(f + 2 * PG, 2, 3);
	add("file", f, 16 * PG, 5 * PG, 1, 4);
	tab->r[tab->n - 1].nfile = 11;
	t->base = (uint64_t)a;
}

/*
 * A memfd of @npages filled with @tag, mapped private, every page read
 * (still the memfd's own pages); *@fd keeps it open, or NULL closes it.
 */
static uint8_t *private_memfd(const char *name, size_t npages, uint64_t tag,
			      int *fd)
{
	int mfd = memfd_create(name, 0);
	uint8_t *m;

	if (mfd < 0 || ftruncate(mfd, (off_t)(npages * PG)))
		_exit(2);
	m = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (m == MAP_FAILED)
		_exit(2);
	fill(m, npages, tag);
	munmap(m, npages * PG);
	m = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0);
	if (m == MAP_FAILED)
		_exit(2);
	if (fd)
		*fd = mfd;
	else
		close(mfd);
	touch(m, npages * PG);
	return m;
}

/* The same, and a private mapping of a memfd. */
static void setup_files(struct target *t, void *arg)
{
	uint8_t *m;

	setup_ext4_file(t, arg);
	m = private_memfd("restore-priv", 8, 4, NULL);
	fill(m + 2 * PG, 2, 5);
	add("memfd-private", m, 8 * PG, 8 * PG, 1, 4);
	tab->r[tab->n - 1].nfile = 3;
}

/* The object under setup_*_under()'s mapping, kept open. */
static int under_fd = -1;

/*
 * A memfd mapped private, 16 pages, every page read, pages 2 and 3
 * written (copies), 1 to 4 overwritten by T_SCRIBBLE; T_WRITE_OBJECT then
 * writes pages 8 to 15 through the memfd, as another process may: the
 * target, which only read them, reads the new bytes.
 */
static void setup_memfd_under(struct target *t, void *arg)
{
	uint8_t *m = private_memfd("restore-under", 16, 20, &under_fd);

	fill(m + 2 * PG, 2, 21);
	add("memfd-under", m, 16 * PG, 16 * PG, 1, 4);
	tab->r[tab->n - 1].nfile = 3;
	t->base = (uint64_t)m;
}

/*
 * The same over a file of the scratch disk (ext4), deleted once open: a
 * private mapping of it is memory no name reaches, as one of a memfd is
 * (snapper_shared_under() in kmod/shared.c).
 */
static void setup_deleted_under(struct target *t, void *arg)
{
	char path[512];
	uint8_t *f;

	under_fd = pattern_file("under", 16 * PG, 20);
	snprintf(path, sizeof(path), "%s/under-%d", tab->dir, getpid());
	if (unlink(path))
		_exit(2);
	f = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		 under_fd, 0);
	if (f == MAP_FAILED)
		_exit(2);
	touch(f, 16 * PG);
	fill(f + 2 * PG, 2, 21);
	add("deleted-under", f, 16 * PG, 16 * PG, 1, 4);
	tab->r[tab->n - 1].nfile = 3;
	t->base = (uint64_t)f;
}

/*
 * A private file mapping with pages 2 and 3 written: T_DISCARD drops those
 * copies (MADV_DONTNEED), and they read as the file again.
 */
static void setup_discard(struct target *t, void *arg)
{
	uint8_t *f = private_file("discard", 8, 9);

	fill(f + 2 * PG, 2, 10);
	add("file-discarded", f, 8 * PG, 8 * PG, 2, 2);
	t->base = (uint64_t)f;
}

/*
 * A private mapping of 4 pages over a file of one page and 100 bytes:
 * page 1 reads the file's tail then zeros, pages 2 and 3 raise SIGBUS.
 * Page 0 is written before the checkpoint, page 1 only after it.
 * The anonymous region is mapped first, so it lies above.
 */
static void setup_past_eof(struct target *t, void *arg)
{
	uint8_t *a = anon(16, MAP_PRIVATE), *f;
	int fd;

	fill(a, 16, 6);
	add("anon", a, 16 * PG, 16 * PG, 0, 16);
	fd = pattern_file("short", PG + 100, 7);
	f = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (f == MAP_FAILED)
		_exit(2);
	touch(f, 2 * PG);
	fill(f, 1, 8);
	add("past-eof", f, 2 * PG, 4 * PG, 0, 2);
	t->base = (uint64_t)a;
}

static void setup_shared(struct target *t, void *arg)
{
	uint8_t *m, *s, *v, *r;
	int fd, id;

	fd = memfd_create("restore-shared", 0);
	if (fd < 0 || ftruncate(fd, 8 * PG))
		_exit(2);
	m = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	add("memfd-shared", m, 8 * PG, 8 * PG, 0, 8);
	fill(m, 8, 9);
	s = anon(8, MAP_SHARED);
	add("shared-anon", s, 8 * PG, 8 * PG, 0, 8);
	fill(s, 8, 10);
	id = shmget(IPC_PRIVATE, 8 * PG, IPC_CREAT | 0600);
	v = id < 0 ? NULL : shmat(id, NULL, 0);
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
	add("sysv", v == (void *)-1 ? NULL : v, 8 * PG, 8 * PG, 0, 8);
	fill(v, 8, 11);
	/*
	 * Read-only: the generation holds its pages (no name reaches its
	 * object), the restore leaves it alone, --range cannot name it.
	 */
	r = anon(8, MAP_SHARED);
	add("shared-read-only", r, 8 * PG, 0, 0, 0);
	fill(r, 8, 12);
	if (mprotect(r, 8 * PG, PROT_READ))
		_exit(2);
	t->base = (uint64_t)m;
}

/*
 * A file of the scratch disk (ext4), deleted once open, mapped shared: a
 * writable half and, through a read-only descriptor, a read-only one.
 * Memory no name reaches, as a memfd (snapper_shared_covers() in
 * kmod/shared.c): the generation holds it whole, and the restore writes
 * the writable half back into the file.
 */
static void setup_deleted_shared(struct target *t, void *arg)
{
	char path[512];
	uint8_t *w, *r;
	int fd, ro;

	fd = pattern_file("shared", 16 * PG, 13);
	snprintf(path, sizeof(path), "%s/shared-%d", tab->dir, getpid());
	if (unlink(path))
		_exit(2);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY);
	w = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	r = ro < 0 ? MAP_FAILED : mmap(NULL, 8 * PG, PROT_READ, MAP_SHARED,
				       ro, 8 * PG);
	if (w == MAP_FAILED || r == MAP_FAILED)
		_exit(2);
	close(fd);
	close(ro);
	fill(w + 2 * PG, 2, 14);
	add("deleted-shared", w, 8 * PG, 8 * PG, 1, 6);
	add("deleted-read-only", r, 8 * PG, 0, 0, 0);
	t->base = (uint64_t)w;
}

#define HUGE (2UL << 20)

static void setup_thp(struct target *t, void *arg)
{
	uint8_t *p = anon(3 * HUGE / PG, MAP_PRIVATE), *h;

	if (p == MAP_FAILED)
		_exit(2);
	h = (uint8_t *)(((uint64_t)p + HUGE - 1) & ~(HUGE - 1));
	/* Only the aligned 2 MiB: its own VMA, as --range wants. */
	munmap(p, h - p);
	munmap(h + HUGE, p + 3 * HUGE - (h + HUGE));
	madvise(h, HUGE, MADV_HUGEPAGE);
	fill(h, HUGE / PG, 12);
	add("thp", h, HUGE, HUGE, 100, 200);
	t->base = (uint64_t)h;
}

/*
 * @npages mapped @flags (of @fd) at @skew bytes past a 2 MiB boundary, a
 * mapping of their own.
 */
static uint8_t *place(size_t npages, size_t skew, int flags, int fd)
{
	size_t len = npages * PG, span = len + 2 * HUGE;
	uint8_t *p = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0), *at;

	if (p == MAP_FAILED)
		_exit(2);
	at = (uint8_t *)(((uint64_t)p + HUGE - 1) & ~(HUGE - 1)) + skew;
	munmap(p, span);
	if (mmap(at, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0) != at)
		_exit(2);
	return at;
}

/*
 * Large folios, which the test turns on (guest_large_folios_on()): private
 * anonymous memory in folios smaller than a huge page (6.8 and later; 1
 * MiB from a 64 KiB boundary), a memfd in a huge page mapped shared (a
 * PMD) and privately (a PMD of the file's page until a write copies a
 * page: 2 and 3 written, the rest only read, as in setup_files()), and
 * shared anonymous memory in folios smaller than a huge page (6.11 and
 * later), and a huge page mapped by PTEs once one of its pages is let go
 * (MADV_DONTNEED: the folio stays whole, 511 of its pages mapped; 6.1
 * too, where THP is not "never"). Each is overwritten after the
 * checkpoint in part of its folios: the restore writes into folios the
 * target keeps, mapped by PTEs.
 */
static void setup_large(struct target *t, void *arg)
{
	uint8_t *a, *m, *f, *s, *h;
	int fd;

	a = place(256, 64 << 10, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	fill(a, 256, 20);
	add("mthp-private", a, 256 * PG, 256 * PG, 3, 40);

	fd = memfd_create("restore-large", 0);
	if (fd < 0 || ftruncate(fd, HUGE))
		_exit(2);
	m = place(HUGE / PG, 0, MAP_SHARED, fd);
	fill(m, HUGE / PG, 21);
	add("memfd-huge", m, HUGE, HUGE, 100, 30);
	f = place(HUGE / PG, 0, MAP_PRIVATE, fd);
	close(fd);
	touch(f, HUGE);
	fill(f + 2 * PG, 2, 22);
	add("memfd-huge-private", f, 8 * PG, HUGE, 1, 4);
	tab->r[tab->n - 1].nfile = 3;

	s = place(256, 64 << 10, MAP_SHARED | MAP_ANONYMOUS, -1);
	fill(s, 256, 23);
	add("mthp-shared-anon", s, 256 * PG, 256 * PG, 5, 40);

	/* A huge page split into PTEs by a page let go: 511 mapped. */
	h = place(HUGE / PG, 0, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	madvise(h, HUGE, MADV_HUGEPAGE);
	fill(h, HUGE / PG, 24);
	madvise(h + HUGE - PG, PG, MADV_DONTNEED);
	add("thp-split", h, HUGE - PG, HUGE, 7, 40);
	t->base = (uint64_t)a;
}

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 4U
#endif

/*
 * Hugetlb pages (the test reserves the pool): private MAP_HUGETLB, shared
 * MAP_HUGETLB and a memfd of MFD_HUGETLB, one 2 MiB page each, written in
 * part after the checkpoint.
 */
static void setup_hugetlb(struct target *t, void *arg)
{
	uint8_t *p, *s, *m;
	int fd;

	p = mmap(NULL, HUGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	add("hugetlb-private", p, HUGE, HUGE, 3, 100);
	fill(p, HUGE / PG, 13);
	s = mmap(NULL, HUGE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	add("hugetlb-shared", s, HUGE, HUGE, 200, 50);
	fill(s, HUGE / PG, 14);
	fd = memfd_create("restore-huge", MFD_HUGETLB);
	if (fd < 0 || ftruncate(fd, HUGE))
		_exit(2);
	m = mmap(NULL, HUGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	add("hugetlb-memfd", m, HUGE, HUGE, 0, HUGE / PG);
	fill(m, HUGE / PG, 15);
	t->base = (uint64_t)p;
}

static pthread_barrier_t ready;
static uint8_t *stack_region;

/* Keeps a buffer of its own stack filled and live. */
static void *stack_holder(void *arg)
{
	uint8_t buf[6 * PG];
	uint8_t *p = (uint8_t *)(((uint64_t)buf + PG - 1) & ~(PG - 1));

	fill(p, 4, 13);
	stack_region = p;
	pthread_barrier_wait(&ready);
	for (;;)
		pause();
	return NULL;
}

static void setup_heap_stack(struct target *t, void *arg)
{
	uint8_t *h = sbrk(0);
	pthread_t th;

	/* Whole pages of the heap, of our own. */
	h = (uint8_t *)(((uint64_t)h + PG - 1) & ~(PG - 1));
	if (brk(h + 32 * PG))
		_exit(2);
	fill(h, 32, 14);
	add("heap", h, 32 * PG, 32 * PG, 0, 32);
	pthread_barrier_init(&ready, NULL, 2);
	if (pthread_create(&th, NULL, stack_holder, NULL))
		_exit(2);
	pthread_barrier_wait(&ready);
	add("thread-stack", stack_region, 4 * PG, 4 * PG, 0, 4);
	t->base = (uint64_t)h;
}

/*
 * Private anonymous, 136 pages: 64 checked, 8 that T_POISON poisons (2 by
 * a memory error, 4 by userfaultfd, 2 left alone), 64 checked. Shared
 * memory (a memfd, shared anonymous), 40 pages each: 16 checked, 4 of
 * which T_POISON poisons 2 by a memory error, 20 checked. A private
 * mapping of a file of 44 pages, the first 40 the target's copies, the
 * same: 16 checked, 2 of 4 poisoned, 20 checked; then one page the
 * target writes after the checkpoint (the generation has the file's
 * there) and T_POISON poisons, one it writes after the checkpoint, two
 * it only reads. --range restores the checked ranges only.
 */
#define POISON_AT 64
#define SHARED_POISON_AT 16
#define FILE_PAGES 44

static void setup_poison(struct target *t, void *arg)
{
	uint8_t *a = anon(136, MAP_PRIVATE), *m, *s, *f;
	int fd;

	madvise(a, 136 * PG, MADV_NOHUGEPAGE);
	fill(a, 136, 17);
	add("before-poison", a, 64 * PG, 64 * PG, 0, 64);
	add("after-poison", a + 72 * PG, 64 * PG, 64 * PG, 0, 64);
	fd = memfd_create("restore-poison", 0);
	if (fd < 0 || ftruncate(fd, 40 * PG))
		_exit(2);
	m = mmap(NULL, 40 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	s = anon(40, MAP_SHARED);
	if (m == MAP_FAILED || s == MAP_FAILED)
		_exit(2);
	fill(m, 40, 18);
	fill(s, 40, 19);
	add("memfd-before-poison", m, 16 * PG, 16 * PG, 0, 16);
	add("memfd-after-poison", m + 20 * PG, 20 * PG, 20 * PG, 0, 20);
	add("shared-before-poison", s, 16 * PG, 16 * PG, 0, 16);
	add("shared-after-poison", s + 20 * PG, 20 * PG, 20 * PG, 0, 20);
	f = private_file("poison", FILE_PAGES, 20);
	fill(f, 40, 20);
	add("file-before-poison", f, 16 * PG, 16 * PG, 0, 16);
	add("file-after-poison", f + 20 * PG, 20 * PG, 20 * PG, 0, 20);
	add("file-tail", f + 41 * PG, 3 * PG, 3 * PG, 0, 1);
	tab->r[tab->n - 1].nfile = 2;
	t->base = (uint64_t)a;
}

/*
 * T_POISON: the pages setup_poison() leaves for it. Return: the
 * GUEST_POISON_* done in private memory (a memory error there means one
 * in each shared mapping and in the file's too), or -1.
 */
static int poison(void)
{
	uint8_t *after = (uint8_t *)tab->r[6].base + 40 * PG;
	int done, i;

	/* Copies the generation does not hold: the file's pages there. */
	memset(after, 0x5a, 2 * PG);
	done = guest_poison((void *)(tab->r[0].base + POISON_AT * PG), 2,
			    (void *)(tab->r[0].base + (POISON_AT + 2) * PG), 4);
	for (i = 2; done > 0 && (done & GUEST_POISON_HW) && i < 8; i += 2) {
		if (guest_poison((void *)(tab->r[i].base + SHARED_POISON_AT * PG),
				 2, NULL, 0) != GUEST_POISON_HW)
			return -1;
	}
	if (done > 0 && (done & GUEST_POISON_HW) &&
	    guest_poison(after, 1, NULL, 0) != GUEST_POISON_HW)
		return -1;
	return done;
}

static void setup_cow(struct target *t, void *arg)
{
	uint8_t *a = anon(256, MAP_PRIVATE);

	fill(a, 256, 15);
	add("cow", a, 256 * PG, 256 * PG, 0, 0);
	t->base = (uint64_t)a;
}

/*
 * 16 MiB: more than restore's SPLIT_MIN_PAGES (8 MiB), so that on a guest
 * with two CPUs a second thread checks the later half of the stored pages.
 */
#define BIG 4096

static void setup_big(struct target *t, void *arg)
{
	uint8_t *a = anon(BIG, MAP_PRIVATE);

	fill(a, BIG, 16);
	add("big", a, BIG * PG, BIG * PG, 0, BIG);
	t->base = (uint64_t)a;
}

/*
 * The big region after a salvaging restore: page @lost still scribbled,
 * every other one as filled. Returns 0, or the first wrong page + 1.
 */
static int check_salvaged(uint64_t lost)
{
	const uint8_t *base = (const uint8_t *)tab->r[0].base;

	for (uint64_t i = 0; i < BIG; i++) {
		const uint64_t *w = (const uint64_t *)(base + i * PG);
		uint64_t want = 16ull << 40 | i << 32;
		bool ok = true;

		for (size_t k = 0; ok && k < PG / 8; k++)
			ok = w[k] == (i == lost ? 0xa5a5a5a5a5a5a5a5ull :
				      want + k);
		if (!ok)
			return i + 1;
	}
	return 0;
}

#define PM_PRESENT (1ULL << 63)
#define PM_FILE (1ULL << 61)	/* a file's page */
#define PM_PFN(pm) ((pm) & ((1ULL << 55) - 1))

/*
 * Are @npages from @at mapped, and the file's pages, not copies? On DAX
 * pagemap does not call the device's pages a file's: a present page whose
 * frame is not anonymous is.
 */
static bool file_pages(uint64_t at, uint64_t npages)
{
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t pm = pagemap_entry(getpid(), at + i * PG);

		if (tab->dax ? !(pm & PM_PRESENT) || !PM_PFN(pm) ||
			       guest_kpage_word("kpageflags", PM_PFN(pm)) >> KPF_ANON & 1 :
			       !(pm & PM_FILE))
			return false;
	}
	return true;
}

static int first_bad(bool scribbled)
{
	for (int i = 0; i < tab->n; i++) {
		struct region *r = &tab->r[i];
		uint64_t sum = checksum((void *)r->base, r->len);

		if (sum != (scribbled ? r->sum_scribbled : r->sum) ||
		    !file_pages(r->base + (r->scrib + r->nscrib) * PG, r->nfile))
			return i + 1;
	}
	return 0;
}

static int target_cmd(struct target *t, struct tcmd *c, void *arg)
{
	pid_t child;

	switch (c->op) {
	case T_SUM:
		for (int i = 0; i < tab->n; i++)
			tab->r[i].sum = checksum((void *)tab->r[i].base,
						 tab->r[i].len);
		return 0;
	case T_SCRIBBLE:
		for (int i = 0; i < tab->n; i++) {
			struct region *r = &tab->r[i];

			memset((void *)(r->base + r->scrib * PG), 0xa5,
			       r->nscrib * PG);
			r->sum_scribbled = checksum((void *)r->base, r->len);
		}
		return 0;
	case T_CHECK:
		return first_bad(false);
	case T_CHECK_SCRIBBLED:
		return first_bad(true);
	case T_CHECK_SALVAGED:
		return check_salvaged(c->a);
	case T_DISCARD:
		for (int i = 0; i < tab->n; i++) {
			struct region *r = &tab->r[i];

			if (madvise((void *)(r->base + r->scrib * PG),
				    r->nscrib * PG, MADV_DONTNEED))
				return -1;
			r->sum = checksum((void *)r->base, r->len);
		}
		return 0;
	case T_POISON:
		return poison();
	case T_WRITE_OBJECT:
		for (uint64_t i = 8; i < 16; i++) {
			uint8_t page[PG];

			memset(page, 0x3c, sizeof(page));
			if (pwrite(under_fd, page, PG, (off_t)(i * PG)) != PG)
				return -1;
		}
		tab->r[0].sum_scribbled = checksum((void *)tab->r[0].base,
						   tab->r[0].len);
		return 0;
	case T_FORK:
		child = fork();
		if (!child) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;)
				pause();
		}
		return child;
	}
	return -1;
}

FIXTURE(rx) {
	struct target t;
	char dir[256], out[8192];
	struct guest_thp thp;	/* knobs large_folios set, put back */
};

FIXTURE_VARIANT(rx) {
	bool proc;	/* checkpoint --backend proc */
	bool range;	/* restore --range, region by region */
	bool lz4;	/* checkpoint --compress lz4 */
};

FIXTURE_VARIANT_ADD(rx, module_whole) { .proc = false, .range = false };
FIXTURE_VARIANT_ADD(rx, module_range) { .proc = false, .range = true };
FIXTURE_VARIANT_ADD(rx, proc_whole) { .proc = true, .range = false };
FIXTURE_VARIANT_ADD(rx, proc_range) { .proc = true, .range = true };
FIXTURE_VARIANT_ADD(rx, module_whole_lz4) { .range = false, .lz4 = true };
FIXTURE_VARIANT_ADD(rx, proc_range_lz4) { .proc = true, .range = true, .lz4 = true };

FIXTURE_SETUP(rx)
{
	const char *why = guest_tool_skip_reason();

	if (why)
		SKIP(return, "%s", why);
	tab = mmap(NULL, sizeof(*tab), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, tab);
	snprintf(tab->dir, sizeof(tab->dir), "%s", getenv("SNAPPER_SCRATCH"));
	guest_store_path(self->dir, sizeof(self->dir), "restore-exact");
	guest_sh(NULL, 0, "rm -rf %s", self->dir);
}

#define DAX_DIR "/run/snapper-restore-dax"

FIXTURE_TEARDOWN(rx)
{
	pid_t pid = self->t.pid;

	target_stop(&self->t);
	/* pattern_file()'s files. */
	if (tab && tab != MAP_FAILED && pid > 0)
		guest_sh(NULL, 0, "rm -f %s/*-%d", tab->dir, pid);
	guest_large_folios_off(&self->thp);
	if (tab && tab != MAP_FAILED && tab->dax)
		guest_sh(NULL, 0, "umount " DAX_DIR);
	/* The suite's programs share one scratch disk: 16 MiB a store here. */
	if (*self->dir)
		guest_sh(NULL, 0, "rm -rf %s", self->dir);
	if (tab && tab != MAP_FAILED)
		munmap(tab, sizeof(*tab));
	tab = NULL;
}

static int start(struct __test_metadata *_metadata, FIXTURE_DATA(rx) *self,
		 target_setup_fn setup)
{
	int ret = target_start(&self->t, 0, setup, target_cmd, NULL);

	if (!ret)
		ret = target_do(&self->t, T_SUM, 0, 0, 0);
	return ret;
}

static int ckpt(FIXTURE_DATA(rx) *self, const FIXTURE_VARIANT(rx) *v)
{
	return guest_sh(self->out, sizeof(self->out),
			"snapper-tool checkpoint --store %s%s%s %d", self->dir,
			v->proc ? " --backend proc" : "",
			v->lz4 ? " --compress lz4" : "", self->t.pid);
}

/*
 * Whole process, or each region's --range; the first failing exit code.
 * @pre: what runs the tool ("" or a command that execs it), @opt: more
 * options, or "".
 */
static int restore_as(FIXTURE_DATA(rx) *self, const FIXTURE_VARIANT(rx) *v,
		      const char *pre, const char *opt)
{
	size_t used = 0;
	int ret = 0;

	if (!v->range)
		return guest_sh(self->out, sizeof(self->out),
				"%ssnapper-tool restore --store %s --pid %d%s",
				pre, self->dir, self->t.pid, opt);
	self->out[0] = '\0';
	for (int i = 0; !ret && i < tab->n; i++) {
		struct region *r = &tab->r[i];

		if (!r->maplen)
			continue;
		ret = guest_sh(self->out + used, sizeof(self->out) - used,
			       "%ssnapper-tool restore --store %s --pid %d --range %#lx-%#lx%s",
			       pre, self->dir, self->t.pid, r->base,
			       r->base + r->maplen, opt);
		used = strlen(self->out);
	}
	return ret;
}

static int restore_opt(FIXTURE_DATA(rx) *self, const FIXTURE_VARIANT(rx) *v,
		       const char *opt)
{
	return restore_as(self, v, "", opt);
}

static int restore(FIXTURE_DATA(rx) *self, const FIXTURE_VARIANT(rx) *v)
{
	return restore_opt(self, v, "");
}

/*
 * Root without CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE, as in a
 * container: /proc/PID/map_files is refused.
 */
#define NO_MAP_FILES "setpriv --bounding-set -sys_admin,-checkpoint_restore "

/*
 * Checkpoint, overwrite, restore (run by @pre, see restore_as()), and let
 * the target judge.
 */
static void round_trip_as(struct __test_metadata *_metadata,
			  FIXTURE_DATA(rx) *self, const FIXTURE_VARIANT(rx) *v,
			  target_setup_fn setup, const char *pre)
{
	int bad;

	ASSERT_EQ(0, start(_metadata, self, setup));
	ASSERT_EQ(0, ckpt(self, v)) TH_LOG("%s", self->out);
	ASSERT_EQ(0, target_do(&self->t, T_SCRIBBLE, 0, 0, 0));
	ASSERT_NE(0, target_do(&self->t, T_CHECK, 0, 0, 0));
	ASSERT_EQ(0, restore_as(self, v, pre, "")) TH_LOG("%s", self->out);
	TH_LOG("%s", self->out);
	bad = target_do(&self->t, T_CHECK, 0, 0, 0);
	ASSERT_EQ(0, bad) TH_LOG("region %s differs after the restore",
				 bad > 0 ? tab->r[bad - 1].name : "?");
}

static void round_trip(struct __test_metadata *_metadata,
		       FIXTURE_DATA(rx) *self, const FIXTURE_VARIANT(rx) *v,
		       target_setup_fn setup)
{
	round_trip_as(_metadata, self, v, setup, "");
}

TEST_F(rx, private_files_written_and_read)
{
	round_trip(_metadata, self, variant, setup_files);
	/* Pages 1 and 4 of each file: the file's bytes, put back. */
	ASSERT_NE(NULL, strstr(self->out, "of them the file's again"))
		TH_LOG("%s", self->out);
}

/*
 * The memfd's pages the target only read, rewritten through the memfd
 * after the checkpoint: the restore puts back what they read at the
 * instant, as copies in the target's mapping (as CRIU, which dumps a
 * memfd's content, does), where it used to leave the memfd's bytes of now
 * (the generation did not hold them: snapper_shared_under() in
 * kmod/shared.c, open_object() in tools/procsrc.c). Pages nobody wrote
 * stay the memfd's own (nfile).
 */
static void written_under(struct __test_metadata *_metadata,
			  FIXTURE_DATA(rx) *self, const FIXTURE_VARIANT(rx) *v,
			  target_setup_fn setup)
{
	int bad;

	ASSERT_EQ(0, start(_metadata, self, setup));
	ASSERT_EQ(0, ckpt(self, v)) TH_LOG("%s", self->out);
	ASSERT_EQ(0, target_do(&self->t, T_SCRIBBLE, 0, 0, 0));
	ASSERT_EQ(0, target_do(&self->t, T_WRITE_OBJECT, 0, 0, 0));
	ASSERT_EQ(0, target_do(&self->t, T_CHECK_SCRIBBLED, 0, 0, 0));
	ASSERT_NE(0, target_do(&self->t, T_CHECK, 0, 0, 0));
	ASSERT_EQ(0, restore(self, v)) TH_LOG("%s", self->out);
	TH_LOG("%s", self->out);
	bad = target_do(&self->t, T_CHECK, 0, 0, 0);
	ASSERT_EQ(0, bad) TH_LOG("the object's pages differ after the restore");
}

TEST_F(rx, private_memfd_written_under_it)
{
	written_under(_metadata, self, variant, setup_memfd_under);
}

/*
 * The same over a deleted ext4 file: the generation holds the pages the
 * target only read, from the file's page cache or its disk (CRIU dumps a
 * deleted file's content too, up to 1 MiB), where it used to hold the
 * copies alone and a restore left the file's bytes of now.
 */
TEST_F(rx, private_deleted_file_written_under_it)
{
	written_under(_metadata, self, variant, setup_deleted_under);
}

/*
 * The same where map_files is refused: the file is opened by the path
 * maps shows (a memfd or a deleted file has none: see persistence.rst).
 */
TEST_F(rx, private_file_without_map_files)
{
	if (guest_sh(NULL, 0, "command -v setpriv"))
		SKIP(return, "no setpriv (util-linux) to drop the capabilities");
	round_trip_as(_metadata, self, variant, setup_ext4_file, NO_MAP_FILES);
	ASSERT_NE(NULL, strstr(self->out, "of them the file's again"))
		TH_LOG("%s", self->out);
	/* Not a test of anything unless map_files was refused indeed. */
	EXPECT_NE(0, guest_sh(NULL, 0, NO_MAP_FILES "ls /proc/%d/map_files/*",
			      self->t.pid));
}

/*
 * The ext4 file of private_files_written_and_read on DAX (make check's
 * --pmem boots): its pages are the device's memory, mapped with no page
 * cache, and the generation holds the pages the target wrote. The pages
 * it only read must stay the device's after the restore, not copies.
 */
TEST_F(rx, private_dax_file)
{
	const char *why = guest_dax_mount(DAX_DIR);

	if (why)
		SKIP(return, "%s", why);
	tab->dax = true;
	snprintf(tab->dir, sizeof(tab->dir), "%s", DAX_DIR);
	round_trip(_metadata, self, variant, setup_ext4_file);
	ASSERT_NE(NULL, strstr(self->out, "of them the file's again"))
		TH_LOG("%s", self->out);
}

/*
 * Pages poisoned after the checkpoint (a memory error, UFFDIO_POISON; in
 * shared memory a memory error, which leaves the page in its object,
 * flagged): the generation holds their content, which cannot be put back
 * there (a write is EFAULT, a read EIO). The restore skips them, counts them, and
 * restores everything else. A checkpoint after the poison holds none of
 * them (holes), and its restore skips them too.
 */
TEST_F(rx, poisoned_pages_skipped)
{
	int done, bad, want;
	char what[64];

	ASSERT_EQ(0, start(_metadata, self, setup_poison));
	ASSERT_EQ(0, ckpt(self, variant)) TH_LOG("%s", self->out);
	done = target_do(&self->t, T_POISON, 0, 0, 0);
	ASSERT_LE(0, done);
	if (!done)
		SKIP(return, "neither MADV_HWPOISON (CONFIG_MEMORY_FAILURE) nor UFFDIO_POISON (6.6+)");
	/*
	 * A memory error: 2 private pages, 2 of the memfd, 2 shared
	 * anonymous, 3 copies in the file's mapping.
	 */
	want = (done & GUEST_POISON_HW ? 9 : 0) + (done & GUEST_POISON_UFFD ? 4 : 0);
	snprintf(what, sizeof(what), ", %d skipped (", want);
	for (int round = 0; round < 2; round++) {
		ASSERT_EQ(0, target_do(&self->t, T_SCRIBBLE, 0, 0, 0));
		ASSERT_EQ(0, restore(self, variant)) TH_LOG("%s", self->out);
		TH_LOG("%s", self->out);
		bad = target_do(&self->t, T_CHECK, 0, 0, 0);
		ASSERT_EQ(0, bad) TH_LOG("region %s differs after the restore",
					 bad > 0 ? tab->r[bad - 1].name : "?");
		/* --range leaves the poisoned pages out. */
		if (!variant->range)
			ASSERT_NE(NULL, strstr(self->out, what))
				TH_LOG("want '%s' in: %s", what, self->out);
		ASSERT_EQ(0, ckpt(self, variant)) TH_LOG("%s", self->out);
	}
}

/*
 * Written, checkpointed, discarded, checkpointed again: the newest
 * generation does not hold those pages (they read as the file), so the
 * restore must not write the first generation's copies back. The target
 * writes them once more before the restore: they must read as the file.
 */
TEST_F(rx, private_file_copies_discarded)
{
	int bad;

	ASSERT_EQ(0, start(_metadata, self, setup_discard));
	ASSERT_EQ(0, ckpt(self, variant)) TH_LOG("%s", self->out);
	ASSERT_EQ(0, target_do(&self->t, T_DISCARD, 0, 0, 0));
	ASSERT_EQ(0, ckpt(self, variant)) TH_LOG("%s", self->out);
	ASSERT_NE(NULL, strstr(self->out, "incremental")) TH_LOG("%s", self->out);
	ASSERT_EQ(0, target_do(&self->t, T_SCRIBBLE, 0, 0, 0));
	ASSERT_EQ(0, restore(self, variant)) TH_LOG("%s", self->out);
	bad = target_do(&self->t, T_CHECK, 0, 0, 0);
	ASSERT_EQ(0, bad) TH_LOG("the file's pages differ after the restore");
}

TEST_F(rx, private_mapping_past_eof)
{
	round_trip(_metadata, self, variant, setup_past_eof);
}

TEST_F(rx, shared_memfd_anon_sysv)
{
	round_trip(_metadata, self, variant, setup_shared);
}

/*
 * A deleted ext4 file mapped shared: restored as shared memory is, where
 * a generation used to hold only what the target wrote since the
 * checkpoint before, and the restore left the mapping alone.
 */
TEST_F(rx, shared_deleted_file)
{
	round_trip(_metadata, self, variant, setup_deleted_shared);
}

TEST_F(rx, hugetlb)
{
	const char *why;
	char pool[32];

	why = guest_reserve_huge(pool, sizeof(pool), 4);
	if (why) {
		guest_release_huge(pool);
		SKIP(return, "%s", why);
	}
	round_trip(_metadata, self, variant, setup_hugetlb);
	target_stop(&self->t);
	guest_release_huge(pool);
}

/* AnonHugePages of @pid in kB, or -1. */
static long anon_huge_kb(pid_t pid)
{
	char path[64], buf[4096], *p;
	long v = -1;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	if (!guest_read_file(path, buf, sizeof(buf)) &&
	    (p = strstr(buf, "AnonHugePages:")))
		sscanf(p, "AnonHugePages: %ld", &v);
	return v;
}

/* Does the kernel make huge pages of anonymous memory (THP not "never")? */
static bool thp_enabled(void)
{
	char mode[128] = "";

	return !guest_read_file("/sys/kernel/mm/transparent_hugepage/enabled",
				mode, sizeof(mode)) && !strstr(mode, "[never]");
}

TEST_F(rx, thp)
{
	bool on = thp_enabled();

	round_trip(_metadata, self, variant, setup_thp);
	/* Restored in place: the huge page is still there, not split. */
	TH_LOG("THP %s, target AnonHugePages %ld kB after the restore",
	       on ? "on" : "never", anon_huge_kb(self->t.pid));
	if (on)
		ASSERT_LE(2048, anon_huge_kb(self->t.pid));
}

/*
 * Large folios of every kind the kernel makes (see setup_large()), which
 * it must have made: the counters it keeps (guest_large_folio_counts())
 * say how many since the start, -1 where it keeps none.
 */
TEST_F(rx, large_folios)
{
	const char *why = guest_large_folios_on(&self->thp);
	long long before[3], after[3];

	if (why && !self->thp.n)
		SKIP(return, "%s", why);
	ASSERT_EQ(NULL, why);
	guest_large_folio_counts(before);
	round_trip(_metadata, self, variant, setup_large);
	guest_large_folio_counts(after);
	TH_LOG("large folios made: %lld huge pages of shared memory, %lld and %lld smaller ones, anonymous and shared (-1: not counted)",
	       after[0] < 0 ? -1 : after[0] - before[0],
	       after[1] < 0 ? -1 : after[1] - before[1],
	       after[2] < 0 ? -1 : after[2] - before[2]);
	/*
	 * Each region of a kind the kernel makes is in large folios still,
	 * but for the pages overwritten: a private file mapping's copies
	 * (memfd-huge-private), or pages copied when written if the ack did
	 * not give the folio back; a restore that reads pages shared with the
	 * snapshot unshares them into small pages too.
	 */
	for (int i = 0; i < tab->n; i++) {
		struct region *r = &tab->r[i];
		long n = guest_large_pages(self->t.pid, r->base, r->len / PG);
		bool made = strstr(r->name, "memfd") ? true :
			    !strcmp(r->name, "thp-split") ? thp_enabled() :
			    strstr(r->name, "private") ? before[1] >= 0 :
			    before[2] >= 0;

		TH_LOG("%s: %ld of %llu pages in large folios", r->name, n,
		       (unsigned long long)(r->len / PG));
		if (made)
			EXPECT_LE((long)(r->len / PG - r->nscrib), n);
	}
}

TEST_F(rx, heap_and_thread_stack)
{
	round_trip(_metadata, self, variant, setup_heap_stack);
}

/* What smaps_rollup says of the sharing. */
struct usage {
	long rss, shared, private_;
};

static int usage_of(pid_t pid, struct usage *u)
{
	char path[64], buf[4096], *p;
	long v;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	if (guest_read_file(path, buf, sizeof(buf)))
		return -1;
	memset(u, 0, sizeof(*u));
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (sscanf(p, "Rss: %ld", &v) == 1)
			u->rss = v;
		else if (sscanf(p, "Shared_Clean: %ld", &v) == 1 ||
			 sscanf(p, "Shared_Dirty: %ld", &v) == 1)
			u->shared += v;
		else if (sscanf(p, "Private_Clean: %ld", &v) == 1 ||
			 sscanf(p, "Private_Dirty: %ld", &v) == 1)
			u->private_ += v;
	}
	return 0;
}

/*
 * After the fork, the target and the child each write a few pages of
 * their own (stack, libc) on their way back to sleep, which unshares
 * those: waits until neither moves for 200 ms.
 */
static int settled(pid_t a, pid_t b, struct usage *ua, struct usage *ub)
{
	struct usage na, nb;

	for (int i = 0; i < 50; i++) {
		if (usage_of(a, ua) || usage_of(b, ub))
			return -1;
		usleep(200000);
		if (usage_of(a, &na) || usage_of(b, &nb))
			return -1;
		if (!memcmp(ua, &na, sizeof(na)) && !memcmp(ub, &nb, sizeof(nb)))
			return 0;
	}
	return -1;
}

#define ASSERT_SAME_USAGE(a, b) do {				\
	ASSERT_EQ((a).rss, (b).rss);				\
	ASSERT_EQ((a).shared, (b).shared);			\
	ASSERT_EQ((a).private_, (b).private_);			\
} while (0)

/* The "N written" of restore's report, or -1. */
static long written(const char *out)
{
	const char *p = strstr(out, " written");
	long n = -1;

	while (p && p > out && p[-1] >= '0' && p[-1] <= '9')
		p--;
	if (p)
		sscanf(p, "%ld", &n);
	return n;
}

static void cow_kept(struct __test_metadata *_metadata, FIXTURE_DATA(rx) *self,
		     const FIXTURE_VARIANT(rx) *variant)
{
	struct usage t0, c0, t1, c1;
	pid_t child;

	ASSERT_EQ(0, start(_metadata, self, setup_cow));
	child = target_do(&self->t, T_FORK, 0, 0, 0);
	ASSERT_LT(0, child);
	ASSERT_EQ(0, settled(self->t.pid, child, &t0, &c0));
	TH_LOG("before: target rss %ld shared %ld, child rss %ld shared %ld kB",
	       t0.rss, t0.shared, c0.rss, c0.shared);
	ASSERT_LE(1024, c0.shared);	/* the 1 MiB region at least */
	ASSERT_EQ(0, ckpt(self, variant)) TH_LOG("%s", self->out);
	ASSERT_EQ(0, usage_of(self->t.pid, &t1));
	ASSERT_EQ(0, usage_of(child, &c1));
	TH_LOG("after checkpoint: target rss %ld shared %ld, child rss %ld shared %ld kB",
	       t1.rss, t1.shared, c1.rss, c1.shared);
	ASSERT_SAME_USAGE(t0, t1);
	ASSERT_SAME_USAGE(c0, c1);
	ASSERT_EQ(0, restore(self, variant)) TH_LOG("%s", self->out);
	TH_LOG("%s", self->out);
	/*
	 * The region is restored without a write. A whole-process restore
	 * may find a page or so of the target's own state changed since
	 * the checkpoint by its being stopped and resumed (the kernel keeps
	 * rseq's cpu_id in the thread's TLS, for instance): such a page is
	 * the target's alone already, and writing it unshares nothing.
	 */
	if (variant->range) {
		ASSERT_NE(NULL, strstr(self->out, " 0 written"));
	} else {
		ASSERT_TRUE(written(self->out) >= 0 && written(self->out) <= 2);
	}
	ASSERT_EQ(0, usage_of(self->t.pid, &t1));
	ASSERT_EQ(0, usage_of(child, &c1));
	TH_LOG("after restore: target rss %ld shared %ld, child rss %ld shared %ld kB",
	       t1.rss, t1.shared, c1.rss, c1.shared);
	/*
	 * Copy-on-write sharing is kept and nothing is faulted in: neither
	 * side's counts move (restore does not even read the pages the
	 * target maps none of, which read as zeros).
	 */
	ASSERT_SAME_USAGE(t0, t1);
	ASSERT_SAME_USAGE(c0, c1);
	ASSERT_EQ(0, target_do(&self->t, T_CHECK, 0, 0, 0));
}

TEST_F(rx, cow_sharing_with_a_forked_child_is_kept)
{
	cow_kept(_metadata, self, variant);
}

/* The same in folios smaller than a huge page (6.8 and later). */
TEST_F(rx, cow_sharing_of_large_folios_is_kept)
{
	const char *why = guest_large_folios_on(&self->thp);
	long long before[3], after[3];
	uint64_t first, last;
	long n;

	if (why && !self->thp.n)
		SKIP(return, "%s", why);
	ASSERT_EQ(NULL, why);
	guest_large_folio_counts(before);
	if (before[1] < 0)
		SKIP(return, "this kernel has no multi-size THP of anonymous memory (6.8 and later)");
	cow_kept(_metadata, self, variant);
	guest_large_folio_counts(after);
	n = guest_large_pages(self->t.pid, tab->r[0].base, tab->r[0].len / PG);
	/*
	 * Every page in a 16 KiB block within the region: the smallest
	 * multi-size THP guest_large_folios_on() enables, which a fault
	 * takes wherever the block lies within the mapping (larger where
	 * alignment allows), unless the allocation fails, which a fresh
	 * guest does not see.
	 */
	first = (tab->r[0].base + 4 * PG - 1) / (4 * PG) * (4 * PG);
	last = (tab->r[0].base + tab->r[0].len) / (4 * PG) * (4 * PG);
	TH_LOG("%lld anonymous folios smaller than a huge page made; %ld of the region's %llu pages in large folios, %llu in its 16 KiB blocks",
	       after[1] - before[1], n,
	       (unsigned long long)(tab->r[0].len / PG),
	       (unsigned long long)((last - first) / PG));
	EXPECT_LE((long)((last - first) / PG), n);
}

/*
 * In a compressed pack (store-format.rst), the record whose page starts
 * with @first_word: its offset and length, from the index before the
 * footer; -1 if none.
 */
static off_t find_record(int fd, uint64_t first_word, uint32_t *len)
{
	uint8_t foot[48], e[32], page[PG], rec[PG];
	struct stat st;
	uint64_t n, off;

	if (fstat(fd, &st) || pread(fd, foot, 48, st.st_size - 48) != 48)
		return -1;
	memcpy(&n, foot + 24, 8);
	for (uint64_t i = 0; n < (uint64_t)st.st_size / 32 && i < n; i++) {
		if (pread(fd, e, 32, st.st_size - 48 - 32 * n + 32 * i) != 32)
			return -1;
		memcpy(&off, e + 16, 8);
		memcpy(len, e + 24, 4);
		if (!*len || *len > PG || pread(fd, rec, *len, off) != *len)
			continue;
		if (*len == PG)
			memcpy(page, rec, PG);
		else if (LZ4_decompress_safe((char *)rec, (char *)page, *len, PG) != PG)
			continue;
		if (!memcmp(page, &first_word, 8))
			return off;
	}
	return -1;
}

/*
 * Damages the stored copy of page @page of the region (found by its
 * content, which is unique): flips a byte in the middle of the slot, or
 * of its compressed record.
 */
static int damage_copy(const char *dir, uint64_t first_word)
{
	char cmd[1024], path[512];
	FILE *f;
	int done = 0;

	snprintf(cmd, sizeof(cmd), "find %s -name '*.p'", dir);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (!done && fgets(path, sizeof(path), f)) {
		uint32_t version = 0, len;
		int fd;
		uint64_t w;
		off_t off;
		uint8_t b;

		path[strcspn(path, "\n")] = '\0';
		fd = open(path, O_RDWR);
		if (fd < 0)
			continue;
		if (pread(fd, &version, 4, 8) == 4 && version == 2) {
			off = find_record(fd, first_word, &len);
			if (off >= 0 && pread(fd, &b, 1, off + len / 2) == 1) {
				b ^= 0x40;
				done = pwrite(fd, &b, 1, off + len / 2) == 1;
			}
			close(fd);
			continue;
		}
		for (off = PG; pread(fd, &w, 8, off) == 8; off += PG) {
			if (w != first_word)
				continue;
			if (pread(fd, &b, 1, off + 2000) == 1) {
				b ^= 0x40;
				done = pwrite(fd, &b, 1, off + 2000) == 1;
			}
			break;
		}
		close(fd);
	}
	pclose(f);
	return done ? 0 : -1;
}

/* Page @page of the big region damaged in the store: exit 3, untouched. */
static void damaged_page_is_refused(struct __test_metadata *_metadata,
				    FIXTURE_DATA(rx) *self,
				    const FIXTURE_VARIANT(rx) *variant,
				    uint64_t page)
{
	ASSERT_EQ(0, start(_metadata, self, setup_big));
	ASSERT_EQ(0, ckpt(self, variant)) TH_LOG("%s", self->out);
	ASSERT_EQ(0, target_do(&self->t, T_SCRIBBLE, 0, 0, 0));
	ASSERT_EQ(0, damage_copy(self->dir, 16ull << 40 | page << 32));
	ASSERT_EQ(3, restore(self, variant));	/* damage: the man page's 3 */
	TH_LOG("%s", self->out);
	ASSERT_NE(NULL, strstr(self->out, self->dir));
	ASSERT_EQ(0, target_do(&self->t, T_CHECK_SCRIBBLED, 0, 0, 0));
}

/* A page well past the first MiB, so not in the first chunk. */
TEST_F(rx, damaged_store_leaves_the_target_untouched)
{
	damaged_page_is_refused(_metadata, self, variant, 400);
}

/* A page of the later half: the second checking thread's (restore.c). */
TEST_F(rx, damage_in_the_later_half_leaves_the_target_untouched)
{
	damaged_page_is_refused(_metadata, self, variant, BIG - 100);
}

/* Both halves checked, the stopped phase trusting both: byte-exact. */
TEST_F(rx, big_region_round_trip)
{
	ASSERT_EQ(0, start(_metadata, self, setup_big));
	ASSERT_EQ(0, ckpt(self, variant)) TH_LOG("%s", self->out);
	ASSERT_EQ(0, target_do(&self->t, T_SCRIBBLE, 0, 0, 0));
	ASSERT_EQ(0, restore(self, variant)) TH_LOG("%s", self->out);
	ASSERT_EQ(0, target_do(&self->t, T_CHECK, 0, 0, 0));
}

TEST_F(rx, salvage_restores_the_good_pages_and_names_the_lost)
{
	char lost[64];

	ASSERT_EQ(0, start(_metadata, self, setup_big));
	ASSERT_EQ(0, ckpt(self, variant)) TH_LOG("%s", self->out);
	ASSERT_EQ(0, target_do(&self->t, T_SCRIBBLE, 0, 0, 0));
	ASSERT_EQ(0, damage_copy(self->dir, 16ull << 40 | 400ull << 32));
	ASSERT_EQ(3, restore_opt(self, variant, " --salvage"));
	TH_LOG("%s", self->out);
	snprintf(lost, sizeof(lost), "%#lx-%#lx: lost", tab->r[0].base + 400 * PG,
		 tab->r[0].base + 401 * PG);
	ASSERT_NE(NULL, strstr(self->out, lost)) TH_LOG("no '%s'", lost);
	ASSERT_NE(NULL, strstr(self->out, "restored generation"));
	/* Page 400 is left as the target had it: not zeroed, not restored. */
	ASSERT_EQ(0, target_do(&self->t, T_CHECK_SALVAGED, 400, 0, 0));
}

TEST_HARNESS_MAIN
