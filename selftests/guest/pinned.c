// SPDX-License-Identifier: GPL-2.0
/*
 * Pages pinned for good by their holder, here io_uring's registered
 * buffers (IORING_REGISTER_BUFFERS pins with FOLL_LONGTERM): the holder
 * writes them through the kernel's own mapping, with no write fault and so
 * no soft-dirty bit. The module leaves such a page soft-dirty, as the
 * kernel's clear_refs does for small pages (and not for huge ones), so
 * that every checkpoint takes it; one whose content did not change is left
 * out by its hash, as a KSM page is. These tests check both, on small
 * pages and on a huge one. That a generation then holds what the holder
 * wrote is checked by oracle.c ("io_uring reads into registered buffers").
 *
 * Needs root and the loaded module: run it through selftests/qemu/run.
 */
#include <sys/syscall.h>
#include <sys/uio.h>

#include <linux/io_uring.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"

#define STORE	0x70696e01ULL
#define HPAGE	(2UL << 20)

/* io_uring's reason not to run here, or NULL. */
static const char *no_io_uring(void)
{
	struct io_uring_params p = { 0 };
	int fd = (int)syscall(__NR_io_uring_setup, 1, &p);

	if (fd < 0)
		return "io_uring_setup() fails here (io_uring disabled?)";
	close(fd);
	return NULL;
}

static bool thp_never(void)
{
	char buf[128] = "";

	guest_read_file("/sys/kernel/mm/transparent_hugepage/enabled", buf,
			sizeof(buf));
	return strstr(buf, "[never]") != NULL;
}

/* The region (a huge page's worth, aligned), written, then pinned. */
static void pinned_target(struct target *t, void *arg)
{
	bool huge = *(const bool *)arg;
	struct io_uring_params p = { 0 };
	struct iovec iov;
	uint8_t *m = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;
	int ring;

	if (m == MAP_FAILED)
		_exit(1);
	m = (uint8_t *)(((uintptr_t)m + HPAGE - 1) & ~(HPAGE - 1));
	if (madvise(m, HPAGE, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		_exit(1);
	t->base = (uint64_t)(uintptr_t)m;
	for (i = 0; i < t->npages; i++)
		fill_page(t->base, i, (i + 1) << 32);
	ring = (int)syscall(__NR_io_uring_setup, 1, &p);
	iov = (struct iovec){ m, t->npages * PG };
	if (ring < 0 || syscall(__NR_io_uring_register, ring,
				IORING_REGISTER_BUFFERS, &iov, 1))
		_exit(1);
}

FIXTURE(pinned) {
	struct snapper_genl *nl;
	struct target t;
	struct got g;
};

FIXTURE_VARIANT(pinned) {
	bool huge;
};

FIXTURE_VARIANT_ADD(pinned, small) {
	.huge = false,
};

FIXTURE_VARIANT_ADD(pinned, huge) {
	.huge = true,
};

FIXTURE_SETUP(pinned)
{
	const char *why = guest_skip_reason();

	memset(&self->g, 0, sizeof(self->g));
	self->nl = NULL;
	self->t.pid = 0;
	if (!why)
		why = no_io_uring();
	if (!why && variant->huge && thp_never())
		why = "transparent huge pages are off";
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, snapper_genl_open(&self->nl));
	ASSERT_EQ(0, target_start(&self->t, HPAGE / PG, pinned_target, NULL,
				  (void *)&variant->huge));
}

FIXTURE_TEARDOWN(pinned)
{
	target_stop(&self->t);
	got_free(&self->g);
	snapper_genl_close(self->nl);
}

/* Pages of the region still soft-dirty in pagemap. */
static size_t soft_dirty(FIXTURE_DATA(pinned) *self)
{
	size_t i, n = 0;

	for (i = 0; i < self->t.npages; i++)
		n += pagemap_soft_dirty(self->t.pid, self->t.base + i * PG);
	return n;
}

TEST_F_TIMEOUT(pinned, taken_every_time_sent_when_changed, 300)
{
	uint64_t start = self->t.base, end = start + self->t.npages * PG;
	struct got_page *p;

	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 0, 0, &self->g));
	ASSERT_TRUE(self->g.h.full);
	ASSERT_EQ((int)self->t.npages, got_in(&self->g, start, end));
	if (variant->huge && !self->g.st.thp)
		SKIP(return, "the region did not get a huge page");
	ASSERT_EQ(0, snapper_genl_ack(self->nl, self->t.pid, STORE,
				      self->g.h.checkpoint_id, 1));
	/* Its holder may write it unseen: still soft-dirty. */
	EXPECT_EQ(self->t.npages, soft_dirty(self));

	/* Taken again, and left out: nothing changed. */
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 1, 0, &self->g));
	ASSERT_FALSE(self->g.h.full);
	EXPECT_EQ(0, got_in(&self->g, start, end));
	EXPECT_LE(self->t.npages, self->g.st.thp_unchanged);
	ASSERT_EQ(0, snapper_genl_ack(self->nl, self->t.pid, STORE,
				      self->g.h.checkpoint_id, 2));
	EXPECT_EQ(self->t.npages, soft_dirty(self));

	/* A page that changed is sent, alone. */
	ASSERT_EQ(0, target_do(&self->t, T_WRITE, 7, 0xabcULL << 40, 0));
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 2, 0, &self->g));
	EXPECT_EQ(1, got_in(&self->g, start, end));
	p = got_find(&self->g, start + 7 * PG);
	ASSERT_NE(NULL, p);
	EXPECT_TRUE(p->intact && p->first == 0xabcULL << 40);
	TH_LOG("%s pages: %lu left out as unchanged by content hash",
	       variant->huge ? "huge" : "small",
	       (unsigned long)self->g.st.thp_unchanged);
}

TEST_HARNESS_MAIN
