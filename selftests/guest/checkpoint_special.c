// SPDX-License-Identifier: GPL-2.0
/*
 * Entries that are not plain present pages: swapped-out pages (a swap file
 * on $SNAPPER_SCRATCH, pages pushed out with MADV_PAGEOUT; pagemap bit 62
 * is the oracle) are read back and sent, dirty or not as soft-dirty says;
 * a hugetlb page, which no soft-dirty bit marks, is sent when it changed
 * and only then. Many
 * swapped-out pages of irregular content come byte-exact against
 * /proc/PID/mem of the stopped target.
 *
 * Needs root and the loaded module: run it through selftests/qemu/run.
 */
#include <sys/swap.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif

#define STORE	0x5a0e0004ULL
#define HUGE_BYTES	(2UL << 20)
#define PREFETCH "/sys/module/snapper/parameters/swap_prefetch"
#define NPAGES	64

static int page_out(struct target *t, struct tcmd *c, void *arg)
{
	return madvise((void *)(t->base + c->a * PG), c->b * PG, MADV_PAGEOUT);
}

static int swapped(pid_t pid, uint64_t base, size_t n)
{
	size_t i;
	int k = 0;

	for (i = 0; i < n; i++)
		k += pagemap_entry(pid, base + i * PG) >> 62 & 1;
	return k;
}

TEST(swapped_out_pages_are_sent)
{
	const char *why = guest_skip_reason();
	struct snapper_genl *nl;
	struct target t = { 0 };
	struct got g = { 0 };
	char swapfile[256], cmd[1024], prefetch0[8];
	struct got_page *p;
	int n, i;

	if (why)
		SKIP(return, "%s", why);
	if (!getenv("SNAPPER_SCRATCH"))
		SKIP(return, "needs SNAPPER_SCRATCH (an ext4 mount)");
	snprintf(swapfile, sizeof(swapfile), "%s/swapfile",
		 getenv("SNAPPER_SCRATCH"));
	snprintf(cmd, sizeof(cmd),
		 "dd if=/dev/zero of=%s bs=1M count=32 status=none && chmod 600 %s && mkswap %s >/dev/null",
		 swapfile, swapfile, swapfile);
	if (system(cmd) || swapon(swapfile, 0))
		SKIP(return, "no swap here (mkswap or swapon failed: %s)",
		     strerror(errno));
	/* The reads during the freeze, not the prefetch before it. */
	ASSERT_EQ(0, guest_read_file(PREFETCH, prefetch0, sizeof(prefetch0)));
	ASSERT_EQ(0, guest_write_file(PREFETCH, "0"));
	ASSERT_EQ(0, snapper_genl_open(&nl));
	ASSERT_EQ(0, target_start(&t, NPAGES, NULL, page_out, NULL));
	ASSERT_EQ(0, target_do(&t, T_USER, 0, NPAGES, 0));
	n = swapped(t.pid, t.base, NPAGES);
	if (!n) {
		swapoff(swapfile);
		SKIP(return, "MADV_PAGEOUT swapped nothing out");
	}
	/* FULL: swapped pages are read back with their content. */
	ASSERT_EQ(0, checkpoint(nl, t.pid, STORE, 0, 0, &g));
	ASSERT_EQ(NPAGES, got_in(&g, t.base, t.base + NPAGES * PG));
	for (i = 0; i < NPAGES; i++) {
		p = got_find(&g, t.base + i * PG);
		ASSERT_NE(NULL, p);
		ASSERT_TRUE(p->intact);
		ASSERT_EQ((uint64_t)i << 32, p->first);
	}
	ASSERT_EQ((uint64_t)n, g.st.swap);
	ASSERT_EQ(0, snapper_genl_ack(nl, t.pid, STORE, g.h.checkpoint_id, 1));

	/* Written, then swapped out: its swap entry carries soft-dirty. */
	ASSERT_EQ(0, target_do(&t, T_WRITE, 9, 0x99900000000ULL, 0));
	ASSERT_EQ(0, target_do(&t, T_USER, 0, NPAGES, 0));
	if (!(pagemap_entry(t.pid, t.base + 9 * PG) >> 62 & 1)) {
		swapoff(swapfile);
		SKIP(return, "page 9 stayed in memory");
	}
	ASSERT_TRUE(pagemap_soft_dirty(t.pid, t.base + 9 * PG));
	ASSERT_EQ(0, checkpoint(nl, t.pid, STORE, 1, 0, &g));
	ASSERT_FALSE(g.h.full);
	ASSERT_EQ(1, got_in(&g, t.base, t.base + NPAGES * PG));
	p = got_find(&g, t.base + 9 * PG);
	ASSERT_NE(NULL, p);
	ASSERT_TRUE(!!(p->flags & SNAPPER_PAGE_F_SWAP));
	ASSERT_EQ(0x99900000000ULL, p->first);
	ASSERT_FALSE(pagemap_soft_dirty(t.pid, t.base + 9 * PG));
	target_stop(&t);
	got_free(&g);
	snapper_genl_close(nl);
	EXPECT_EQ(0, swapoff(swapfile));
	EXPECT_EQ(0, guest_write_file(PREFETCH, prefetch0));
	ASSERT_EQ(0, read_stat("pages_held"));
}

/*
 * Byte-exact against /proc/PID/mem: many swapped-out pages of irregular
 * content, a full then an incremental checkpoint of the stopped target,
 * once with swap_prefetch (the pages are faulted in before the freeze and
 * kept by copy-on-write) and once without (read in during the freeze).
 * Each page sent must be what the target has, flagged SWAP only where it
 * was swapped out at the walk, and then COPIED. /proc/PID/mem is read
 * after the checkpoint: reading it faults pages in.
 */
#define XPAGES	2048

struct exact {
	uint64_t base;
	uint8_t *data;		/* the pages as the checkpoint sent them */
	uint32_t *flags;
	int *seen;
	bool swapped[XPAGES];	/* pagemap's bit 62 before the checkpoint */
	int nswapped, left, nseen, nswap, differ, badflags;
	struct snapper_ckpt_header h;
	struct snapper_ckpt_stats st;
};

static int exact_header(void *arg, const struct snapper_ckpt_header *h)
{
	((struct exact *)arg)->h = *h;
	return 0;
}

static int exact_page(void *arg, uint64_t addr, const void *data,
		      uint32_t flags)
{
	struct exact *x = arg;
	size_t i = (addr - x->base) / PG;

	if (addr < x->base || i >= XPAGES)
		return 0;
	x->seen[i]++;
	x->flags[i] = flags;
	memcpy(x->data + i * PG, data, PG);
	return 0;
}

static int exact_stats(void *arg, const struct snapper_ckpt_stats *st)
{
	((struct exact *)arg)->st = *st;
	return 0;
}

static void map_irregular(struct target *t, void *arg)
{
	uint64_t *p, v = 0x9e3779b97f4a7c15ULL;
	size_t k;

	p = mmap(NULL, XPAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(1);
	t->base = (uint64_t)p;
	for (k = 0; k < XPAGES * PG / 8; k++) {
		v ^= v << 13;
		v ^= v >> 7;
		v ^= v << 17;
		p[k] = v;
	}
}

/* Stops the target, checkpoints it and compares; 0 or -errno. */
static int exact_checkpoint(struct snapper_genl *nl, struct target *t,
			    uint64_t store, uint64_t base, struct exact *x)
{
	struct snapper_ckpt_request req = {
		.pid = t->pid, .store_id = store, .base_generation = base,
	};
	struct snapper_ckpt_ops ops = {
		.header = exact_header, .page = exact_page,
		.stats = exact_stats, .arg = x,
	};
	char path[64], *mem = malloc(XPAGES * PG);
	int fd, i, ret, st;

	x->base = t->base;
	memset(x->seen, 0, XPAGES * sizeof(*x->seen));
	x->nswapped = x->left = x->nseen = x->nswap = 0;
	x->differ = x->badflags = 0;
	if (!mem)
		return -ENOMEM;
	ret = -errno;
	if (kill(t->pid, SIGSTOP) || waitpid(t->pid, &st, WUNTRACED) != t->pid)
		goto out;
	for (i = 0; i < XPAGES; i++) {
		x->swapped[i] = pagemap_entry(t->pid, t->base + i * PG) >> 62 & 1;
		x->nswapped += x->swapped[i];
	}
	ret = snapper_genl_checkpoint(nl, &req, &ops);
	if (ret)
		goto out_cont;
	for (i = 0; i < XPAGES; i++)
		x->left += pagemap_entry(t->pid, t->base + i * PG) >> 62 & 1;
	snprintf(path, sizeof(path), "/proc/%d/mem", t->pid);
	fd = open(path, O_RDONLY);
	ret = -EIO;
	if (fd < 0)
		goto out_cont;
	if (pread(fd, mem, XPAGES * PG, t->base) != XPAGES * PG) {
		close(fd);
		goto out_cont;
	}
	close(fd);
	ret = 0;
	for (i = 0; i < XPAGES; i++) {
		if (!x->seen[i])
			continue;
		x->nseen++;
		x->nswap += !!(x->flags[i] & SNAPPER_PAGE_F_SWAP);
		x->differ += x->seen[i] != 1 ||
			     memcmp(x->data + i * PG, mem + i * PG, PG);
		/* SWAP: swapped out at the walk, so swapped out before. */
		x->badflags += (x->flags[i] & SNAPPER_PAGE_F_SWAP) &&
			       (!x->swapped[i] ||
				!(x->flags[i] & SNAPPER_PAGE_F_COPIED));
	}
out_cont:
	kill(t->pid, SIGCONT);
	waitpid(t->pid, &st, WCONTINUED);
out:
	free(mem);
	return ret;
}

static void exact_run(struct __test_metadata *_metadata,
		      struct snapper_genl *nl, struct exact *x, bool prefetch)
{
	uint64_t store = STORE + 1 + prefetch;
	struct target t = { 0 };
	int i;

	ASSERT_EQ(0, guest_write_file(PREFETCH, prefetch ? "1" : "0"));
	ASSERT_EQ(0, target_start(&t, 0, map_irregular, page_out, NULL));
	ASSERT_EQ(0, target_do(&t, T_USER, 0, XPAGES, 0));

	/* FULL: every page. */
	ASSERT_EQ(0, exact_checkpoint(nl, &t, store, 0, x));
	TH_LOG("prefetch %d, full: %d of %d swapped out, %d sent as SWAP, %d left in swap, frozen %llu us",
	       prefetch, x->nswapped, XPAGES, x->nswap, x->left,
	       (unsigned long long)x->st.freeze_us);
	ASSERT_LT(0, x->nswapped);
	EXPECT_TRUE(x->h.full);
	EXPECT_EQ(XPAGES, x->nseen);
	EXPECT_EQ(0, x->differ);
	EXPECT_EQ(0, x->badflags);
	EXPECT_EQ((uint64_t)x->nswap, x->st.swap);
	/* Without prefetch every swapped page is read in the freeze. */
	if (!prefetch)
		EXPECT_EQ(x->nswapped, x->nswap);
	ASSERT_EQ(0, snapper_genl_ack(nl, t.pid, store, x->h.checkpoint_id, 1));

	/* Written, then swapped out again: sent as written. */
	for (i = 0; i < XPAGES; i += 97) {
		ASSERT_EQ(0, target_do(&t, T_WRITE, i, (uint64_t)i << 40, 0));
	}
	ASSERT_EQ(0, target_do(&t, T_USER, 0, XPAGES, 0));
	ASSERT_EQ(0, exact_checkpoint(nl, &t, store, 1, x));
	TH_LOG("prefetch %d, incremental: %d of %d swapped out, %d sent, %d as SWAP, %d left in swap",
	       prefetch, x->nswapped, XPAGES, x->nseen, x->nswap, x->left);
	EXPECT_FALSE(x->h.full);
	for (i = 0; i < XPAGES; i += 97) {
		EXPECT_EQ(1, x->seen[i]);
	}
	EXPECT_EQ((XPAGES + 96) / 97, x->nseen);
	EXPECT_EQ(0, x->differ);
	EXPECT_EQ(0, x->badflags);
	/* Only the pages it sends are read in: the clean ones stay out. */
	EXPECT_LE(x->nswapped - x->nseen, x->left);
	target_stop(&t);
}

TEST(swapped_out_pages_are_byte_exact)
{
	const char *why = guest_skip_reason();
	struct snapper_genl *nl;
	char swapfile[256], prefetch0[8];
	struct exact *x;

	if (why)
		SKIP(return, "%s", why);
	if (!getenv("SNAPPER_SCRATCH"))
		SKIP(return, "needs SNAPPER_SCRATCH (an ext4 mount)");
	snprintf(swapfile, sizeof(swapfile), "%s/swapfile-exact",
		 getenv("SNAPPER_SCRATCH"));
	why = guest_swap_on(swapfile, 64);
	if (why)
		SKIP(return, "%s", why);
	x = calloc(1, sizeof(*x));
	ASSERT_NE(NULL, x);
	x->data = malloc(XPAGES * PG);
	x->flags = calloc(XPAGES, sizeof(*x->flags));
	x->seen = calloc(XPAGES, sizeof(*x->seen));
	ASSERT_TRUE(x->data && x->flags && x->seen);
	ASSERT_EQ(0, snapper_genl_open(&nl));
	ASSERT_EQ(0, guest_read_file(PREFETCH, prefetch0, sizeof(prefetch0)));
	exact_run(_metadata, nl, x, false);
	exact_run(_metadata, nl, x, true);
	snapper_genl_close(nl);
	free(x->data);
	free(x->flags);
	free(x->seen);
	free(x);
	EXPECT_EQ(0, guest_write_file(PREFETCH, prefetch0));
	EXPECT_EQ(0, swapoff(swapfile));
	unlink(swapfile);
	ASSERT_EQ(0, read_stat("pages_held"));
}

/* One private MAP_HUGETLB page of 2 MiB, every subpage filled as fill_page(). */
static void map_hugetlb(struct target *t, void *arg)
{
	void *p = mmap(NULL, HUGE_BYTES, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	size_t i;

	(void)arg;
	t->base = p == MAP_FAILED ? 0 : (uint64_t)p;
	for (i = 0; p != MAP_FAILED && i < HUGE_BYTES / PG; i++)
		fill_page(t->base, i, (uint64_t)i << 32 | 0x4711);
}

/*
 * No soft-dirty bit marks a hugetlb page: every present one is read at
 * every checkpoint, and a subpage is sent only when its content differs
 * from the base's (tracker.c, shared.c). A full checkpoint sends all 512
 * subpages, an incremental one after no write none, after one write that
 * subpage alone; the references the walk took are all dropped.
 */
TEST(hugetlb_sends_what_changed)
{
	const char *why = guest_skip_reason();
	char pool[32];
	struct snapper_genl *nl;
	struct target t = { 0 };
	struct got g = { 0 };
	struct got_page *p;
	size_t i;

	if (why)
		SKIP(return, "%s", why);
	why = guest_reserve_huge(pool, sizeof(pool), 2);
	if (why) {
		guest_release_huge(pool);
		SKIP(return, "%s", why);
	}
	ASSERT_EQ(0, target_start(&t, 0, map_hugetlb, NULL, NULL));
	if (!t.base) {
		target_stop(&t);
		guest_release_huge(pool);
		SKIP(return, "could not map a hugetlb page");
	}
	ASSERT_EQ(0, snapper_genl_open(&nl));
	ASSERT_EQ(0, checkpoint(nl, t.pid, STORE, 0, 0, &g));
	ASSERT_EQ((int)(HUGE_BYTES / PG), got_in(&g, t.base, t.base + HUGE_BYTES));
	for (i = 0; i < HUGE_BYTES / PG; i++) {
		p = got_find(&g, t.base + i * PG);
		ASSERT_NE(NULL, p);
		ASSERT_TRUE(p->intact);
		ASSERT_EQ((uint64_t)i << 32 | 0x4711, p->first);
		ASSERT_TRUE(!!(p->flags & SNAPPER_PAGE_F_COPIED));
	}
	ASSERT_EQ(0, snapper_genl_ack(nl, t.pid, STORE, g.h.checkpoint_id, 1));

	ASSERT_EQ(0, checkpoint(nl, t.pid, STORE, 1, 0, &g));
	ASSERT_FALSE(g.h.full);
	EXPECT_EQ(0, got_in(&g, t.base, t.base + HUGE_BYTES));
	ASSERT_EQ(0, snapper_genl_ack(nl, t.pid, STORE, g.h.checkpoint_id, 2));

	ASSERT_EQ(0, target_do(&t, T_WRITE, 300, 0x31415ULL << 32, 0));
	ASSERT_EQ(0, checkpoint(nl, t.pid, STORE, 2, 0, &g));
	ASSERT_EQ(1, got_in(&g, t.base, t.base + HUGE_BYTES));
	p = got_find(&g, t.base + 300 * PG);
	ASSERT_NE(NULL, p);
	ASSERT_TRUE(p->intact);
	EXPECT_EQ(0x31415ULL << 32, p->first);
	target_stop(&t);
	got_free(&g);
	snapper_genl_close(nl);
	guest_release_huge(pool);
	ASSERT_EQ(0, read_stat("pages_held"));
}

TEST_HARNESS_MAIN
