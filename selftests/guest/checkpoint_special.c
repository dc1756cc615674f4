// SPDX-License-Identifier: GPL-2.0
/*
 * Entries that are not plain present pages: swapped-out pages (a swap file
 * on $SNAPPER_SCRATCH, pages pushed out with MADV_PAGEOUT; pagemap bit 62
 * is the oracle) are read back and sent, dirty or not as soft-dirty says;
 * hugetlb mappings are refused with EOPNOTSUPP rather than missed.
 *
 * Needs root and the loaded module: run it through selftests/qemu/run.
 */
#include <sys/swap.h>
#include <sys/utsname.h>

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
	char swapfile[256], cmd[1024];
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
	ASSERT_EQ(0, read_stat("pages_held"));
}

static void map_hugetlb(struct target *t, void *arg)
{
	void *p = mmap(NULL, 2UL << 20, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

	t->base = p == MAP_FAILED ? 0 : (uint64_t)p;
	if (p != MAP_FAILED)
		memset(p, 1, 2UL << 20);
}

TEST(hugetlb_is_refused)
{
	const char *why = guest_skip_reason();
	struct utsname u;
	struct snapper_genl *nl;
	struct target t = { 0 };
	struct got g = { 0 };

	if (why)
		SKIP(return, "%s", why);
	if (system("echo 2 > /proc/sys/vm/nr_hugepages 2>/dev/null"))
		SKIP(return, "no hugetlb pages here");
	ASSERT_EQ(0, target_start(&t, 0, map_hugetlb, NULL, NULL));
	if (!t.base) {
		target_stop(&t);
		SKIP(return, "could not map a hugetlb page");
	}
	ASSERT_EQ(0, snapper_genl_open(&nl));
	EXPECT_EQ(-EOPNOTSUPP, checkpoint(nl, t.pid, STORE, 0, 0, &g));
	/* 6.1's genetlink drops the extack message of a dump's start. */
	if (uname(&u) || strncmp(u.release, "6.1.", 4))
		EXPECT_NE(NULL, snapper_genl_errmsg(nl));
	target_stop(&t);
	got_free(&g);
	snapper_genl_close(nl);
	EXPECT_EQ(0, system("echo 0 > /proc/sys/vm/nr_hugepages"));
}

TEST_HARNESS_MAIN
