// SPDX-License-Identifier: GPL-2.0
/*
 * Mappings that soft-dirty tracks differently: PMD-mapped THP (soft-dirty
 * per 2 MiB: a write to one subpage makes its huge page dirty, and the
 * module sends only the subpages whose content hash changed), MAP_SHARED
 * anonymous memory and a tmpfs file (memfd), read from their object and
 * sent when their content hash changed (shared.c tests more), and an ext4
 * file on $SNAPPER_SCRATCH mapped MAP_SHARED (copy-on-write does not
 * apply: the module copies it during the freeze, and write-protects it
 * through vm_page_prot so that the next write is caught), and the same on
 * a DAX file (ext4 -o dax on persistent memory, qemu/run --pmem), whose
 * entries point at the device's memory: PTEs, and PMDs where mapping and
 * file extents are 2 MiB aligned.
 *
 * Needs root and the loaded module: run it through selftests/qemu/run.
 */
#include <fcntl.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"

#define STORE	0x3a3a0003ULL
#define NPAGES	32
#define HPAGE	(2UL << 20)

enum kind { K_SHARED_ANON, K_MEMFD, K_EXT4, K_THP, K_DAX, K_DAX_PMD };

/* ext4 -o dax on the guest's persistent memory (qemu/run --pmem). */
#define DAX_DIR	"/run/snapper-maps-dax"

static void map_region(struct target *t, void *arg)
{
	enum kind k = *(enum kind *)arg;
	size_t len = t->npages * PG, i;
	char path[256];
	void *p = MAP_FAILED;
	int fd = -1;

	switch (k) {
	case K_SHARED_ANON:
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		break;
	case K_MEMFD:
		fd = syscall(SYS_memfd_create, "snapper-test", 0);
		break;
	case K_EXT4:
		snprintf(path, sizeof(path), "%s/mapped-%d",
			 getenv("SNAPPER_SCRATCH"), getpid());
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		break;
	case K_DAX:
	case K_DAX_PMD:
		snprintf(path, sizeof(path), DAX_DIR "/mapped-%d", getpid());
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		break;
	case K_THP: {
		/* Two huge pages, 2 MiB aligned. */
		char *raw = mmap(NULL, len + HPAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (raw == MAP_FAILED)
			_exit(1);
		p = (void *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
		madvise(p, len, MADV_HUGEPAGE);
		break;
	}
	}
	if (fd >= 0 && k == K_DAX_PMD) {
		/*
		 * Written whole in one request, which the allocator aligns to
		 * the file system's 2 MiB stripe, and mapped aligned too.
		 */
		char *raw = mmap(NULL, len + HPAGE, PROT_NONE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		void *zero = calloc(1, len);

		if (raw == MAP_FAILED || !zero ||
		    write(fd, zero, len) != (ssize_t)len)
			_exit(1);
		free(zero);
		p = (void *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
		p = mmap(p, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 fd, 0);
	} else if (fd >= 0) {
		if (ftruncate(fd, len))
			_exit(1);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	}
	if (p == MAP_FAILED)
		_exit(1);
	t->base = (uint64_t)p;
	for (i = 0; i < t->npages; i++)
		fill_page(t->base, i, (uint64_t)i << 32);
}

/* T_USER for THP: map the region anew, with the same content. */
static int remap_same(struct target *t, struct tcmd *c, void *arg)
{
	size_t len = t->npages * PG, i;
	void *p;

	if (munmap((void *)t->base, len))
		return -1;
	p = mmap((void *)t->base, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	madvise(p, len, MADV_HUGEPAGE);
	for (i = 0; i < t->npages; i++)
		fill_page(t->base, i, (uint64_t)i << 32);
	return 0;
}

FIXTURE(maps) {
	struct snapper_genl *nl;
	struct target t;
	struct got g;
	bool dax_mounted;
};

FIXTURE_VARIANT(maps) {
	enum kind kind;
	size_t npages;
};

FIXTURE_VARIANT_ADD(maps, shared_anon) { .kind = K_SHARED_ANON, .npages = NPAGES };
FIXTURE_VARIANT_ADD(maps, memfd_tmpfs) { .kind = K_MEMFD, .npages = NPAGES };
FIXTURE_VARIANT_ADD(maps, ext4_file) { .kind = K_EXT4, .npages = NPAGES };
FIXTURE_VARIANT_ADD(maps, thp) { .kind = K_THP, .npages = 1024 };
FIXTURE_VARIANT_ADD(maps, dax) { .kind = K_DAX, .npages = NPAGES };
FIXTURE_VARIANT_ADD(maps, dax_pmd) { .kind = K_DAX_PMD, .npages = 1024 };

static bool thp_available(void)
{
	char buf[128] = "";
	int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY);

	if (fd < 0)
		return false;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = '\0';
	close(fd);
	return !strstr(buf, "[never]");
}

FIXTURE_SETUP(maps)
{
	const char *why = guest_skip_reason();
	enum kind k = variant->kind;

	memset(&self->g, 0, sizeof(self->g));
	self->nl = NULL;
	self->t.pid = 0;
	self->dax_mounted = false;
	if (why)
		SKIP(return, "%s", why);
	if (k == K_DAX || k == K_DAX_PMD) {
		why = guest_dax_mount(DAX_DIR);
		/* In a boot made for it, no DAX mount is a failure. */
		ASSERT_FALSE(why && guest_pmem_booted()) TH_LOG("%s", why);
		if (why)
			SKIP(return, "%s", why);
		self->dax_mounted = true;
	}
	if (k == K_EXT4 && !getenv("SNAPPER_SCRATCH"))
		SKIP(return, "needs SNAPPER_SCRATCH (an ext4 mount)");
	if (k == K_THP && !thp_available())
		SKIP(return, "transparent huge pages are disabled");
	ASSERT_EQ(0, snapper_genl_open(&self->nl));
	ASSERT_EQ(0, target_start(&self->t, variant->npages, map_region,
				  remap_same, &k));
}

FIXTURE_TEARDOWN(maps)
{
	target_stop(&self->t);
	got_free(&self->g);
	snapper_genl_close(self->nl);
	if (self->dax_mounted)
		guest_sh(NULL, 0, "rm -f " DAX_DIR "/mapped-*; umount " DAX_DIR);
}

/* shmem is read from its object: its soft-dirty bits are not the module's. */
static bool from_object(enum kind k)
{
	return k == K_SHARED_ANON || k == K_MEMFD;
}

static void expect_page(struct __test_metadata *_metadata, struct got *g,
			uint64_t addr, uint64_t v)
{
	struct got_page *p = got_find(g, addr);

	ASSERT_NE(NULL, p) TH_LOG("page %#lx not sent", addr);
	ASSERT_TRUE(p->intact);
	ASSERT_EQ(v, p->first);
}

TEST_F(maps, tracked_and_content_of_the_instant)
{
	uint64_t base = self->t.base, end = base + variant->npages * PG;
	size_t n = variant->npages, i, thp = 0;

	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 0, 0, &self->g));
	ASSERT_TRUE(self->g.h.full);
	ASSERT_EQ((int)n, got_in(&self->g, base, end));
	for (i = 0; i < n; i++) {
		expect_page(_metadata, &self->g, base + i * PG, (uint64_t)i << 32);
		thp += !!(got_find(&self->g, base + i * PG)->flags &
			  SNAPPER_PAGE_F_THP);
		if (!from_object(variant->kind))
			ASSERT_FALSE(pagemap_soft_dirty(self->t.pid,
							base + i * PG));
	}
	if (variant->kind == K_THP && !thp)
		SKIP(return, "no huge page was allocated");
	/* The file system's 2 MiB stripe gives the mapping PMD entries. */
	if (variant->kind == K_THP || variant->kind == K_DAX_PMD)
		ASSERT_EQ(n, thp);
	ASSERT_EQ(0, snapper_genl_ack(self->nl, self->t.pid, STORE,
				      self->g.h.checkpoint_id, 1));

	/* Writes after the checkpoint are caught, shared mappings included. */
	ASSERT_EQ(0, target_do(&self->t, T_WRITE, 5, 0x55500000000ULL, 0));
	ASSERT_TRUE(pagemap_soft_dirty(self->t.pid, base + 5 * PG));
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 1, 0, &self->g));
	ASSERT_FALSE(self->g.h.full);
	expect_page(_metadata, &self->g, base + 5 * PG, 0x55500000000ULL);
	/*
	 * Soft-dirty is per PMD: the whole first huge page is dirty, but the
	 * module sends only the subpage whose content hash changed.
	 */
	ASSERT_EQ(1, got_in(&self->g, base, end));
	if (variant->kind == K_THP || variant->kind == K_DAX_PMD) {
		TH_LOG("THP: %lu dirty huge page(s), %lu subpages unchanged",
		       (unsigned long)self->g.st.thp,
		       (unsigned long)self->g.st.thp_unchanged);
		ASSERT_EQ(1ULL, self->g.st.thp);
		ASSERT_EQ(511ULL, self->g.st.thp_unchanged);
	}
	if (!from_object(variant->kind))
		ASSERT_FALSE(pagemap_soft_dirty(self->t.pid, base + 5 * PG));
	/*
	 * The stream read above ran after the thaw: the content is that of
	 * the instant. Now the target overwrites page 5 and the unacked
	 * checkpoint's page is owed: the next one sends the new content.
	 */
	ASSERT_EQ(0, target_do(&self->t, T_WRITE, 5, 0x66600000000ULL, 0));
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 1, 0, &self->g));
	expect_page(_metadata, &self->g, base + 5 * PG, 0x66600000000ULL);
	ASSERT_EQ(0, snapper_genl_ack(self->nl, self->t.pid, STORE,
				      self->g.h.checkpoint_id, 2));
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 2, 0, &self->g));
	ASSERT_EQ(0, got_in(&self->g, base, end));
}

/*
 * Holes punched in the mapped file or shared memory while checkpoints run
 * (shmem is read from its object during the freeze, shared.c): every
 * punch and every checkpoint completes, and nothing stays held. A punch
 * in a DAX file waits until nobody holds a reference on its pages
 * (dax_layout_busy_page()), and the module drops its references with
 * put_page(), which wakes it; a punch that met a reference dropped
 * without that wake would sleep for good (then this test's timeout), but
 * the module holds them only from the walk to the copy, within the
 * freeze, and a build dropping them with folio_put() passed 200 punches
 * beside 20 checkpoints: this does not prove the wake. Each punched page
 * is written again by the target (a fresh fault, on a new block).
 */
TEST_F(maps, holes_punched_during_checkpoints)
{
	uint64_t base = self->t.base, end = base + variant->npages * PG;
	struct snapper_genl *nl;
	char path[96];
	int fd, i, st, failed = 0;
	pid_t child;

	if (variant->kind == K_THP)
		SKIP(return, "a file or shared memory only");
	snprintf(path, sizeof(path), "/proc/%d/map_files/%lx-%lx", self->t.pid,
		 (unsigned long)base, (unsigned long)end);
	fd = open(path, O_RDWR);
	ASSERT_LE(0, fd);
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		struct got g = { 0 };

		if (snapper_genl_open(&nl))
			_exit(2);
		for (i = 0; i < 20; i++)
			failed += !!checkpoint(nl, self->t.pid, STORE, 0, 0, &g);
		got_free(&g);
		snapper_genl_close(nl);
		_exit(failed ? 1 : 0);
	}
	for (i = 0; i < 200; i++) {
		size_t k = (size_t)i * 37 % variant->npages;

		ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE |
				       FALLOC_FL_KEEP_SIZE, (off_t)(k * PG), PG))
			TH_LOG("punch %d, page %zu: %s", i, k, strerror(errno));
		ASSERT_EQ(0, target_do(&self->t, T_WRITE, k, (uint64_t)i, 0));
	}
	close(fd);
	ASSERT_EQ(child, waitpid(child, &st, 0));
	ASSERT_TRUE(WIFEXITED(st) && !WEXITSTATUS(st))
		TH_LOG("a checkpoint beside the punches failed (status %#x)", st);
	ASSERT_EQ(0, read_stat("pages_held"));
}

/* Content of the instant, for a page written while the stream is read. */
static int write_during_stream(void *arg, uint64_t addr, const void *data,
			       uint32_t flags)
{
	struct got *g = arg;
	struct target *t = (struct target *)g->vmas;	/* smuggled */

	if (addr == t->base)
		target_do(t, T_WRITE, 1, 0x77700000000ULL, 0);
	return got_page(arg, addr, data, flags);
}

TEST_F(maps, page_written_mid_stream_keeps_old_content)
{
	struct snapper_ckpt_request req = {
		.pid = self->t.pid, .store_id = STORE,
	};
	struct snapper_ckpt_ops ops = {
		.page = write_during_stream, .header = got_header,
		.stats = got_stats, .arg = &self->g,
	};

	self->g.stop_after = -1;
	self->g.vmas = (void *)&self->t;
	ASSERT_EQ(0, snapper_genl_checkpoint(self->nl, &req, &ops));
	self->g.vmas = NULL;
	/* Page 1 was rewritten after page 0 was read: still the old value. */
	expect_page(_metadata, &self->g, self->t.base + PG, 1ULL << 32);
	ASSERT_EQ(0, read_stat("pages_held"));
}

/*
 * A mapping new since the base (VM_SOFTDIRTY) comes whole, even where its
 * huge pages hold what the base had at those addresses: a store may drop
 * the base's pages of a mapping flagged SNAPPER_VMA_F_SOFTDIRTY.
 */
TEST_F(maps, new_mapping_comes_whole)
{
	uint64_t base = self->t.base, end = base + variant->npages * PG;

	if (variant->kind != K_THP)
		SKIP(return, "huge pages only");
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 0, 0, &self->g));
	ASSERT_EQ(0, snapper_genl_ack(self->nl, self->t.pid, STORE,
				      self->g.h.checkpoint_id, 1));
	ASSERT_EQ(0, target_do(&self->t, T_USER, 0, 0, 0));
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 1, 0, &self->g));
	ASSERT_FALSE(self->g.h.full);
	ASSERT_EQ((int)variant->npages, got_in(&self->g, base, end));
	ASSERT_EQ(0ULL, self->g.st.thp_unchanged);
	expect_page(_metadata, &self->g, base + 700 * PG, 700ULL << 32);
}

TEST_HARNESS_MAIN
