// SPDX-License-Identifier: GPL-2.0
/*
 * Pages migrating while they are checkpointed: another process moves the
 * target's pages between two NUMA nodes with move_pages(2) without pause,
 * so that some walks meet migration entries (PTE, and PMD for huge pages).
 * A writable migration entry must come back read-only: after each
 * checkpoint the target rewrites every page, and the next incremental
 * checkpoint must hold every page with its new content.
 *
 * Needs root, the loaded module and two NUMA nodes:
 *   selftests/qemu/run --numa -- build/selftests/guest/migration
 */
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"

#define STORE	0x5a4a0002ULL
#define ROUNDS	40
#define HPAGE	(2UL << 20)
#define MPOL_MF_MOVE	(1 << 1)

static void map_region(struct target *t, void *arg)
{
	bool thp = *(bool *)arg;
	size_t len = t->npages * PG, i;
	char *raw = mmap(NULL, len + HPAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;

	if (raw == MAP_FAILED)
		_exit(1);
	p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	madvise(p, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	t->base = (uint64_t)p;
	for (i = 0; i < t->npages; i++)
		fill_page(t->base, i, (uint64_t)i << 32);
}

/* A process that moves the target's pages from node to node until killed. */
static pid_t start_mover(struct target *t)
{
	void **pages = calloc(t->npages, sizeof(*pages));
	int *nodes = calloc(t->npages, sizeof(*nodes));
	int *status = calloc(t->npages, sizeof(*status));
	unsigned int round;
	size_t i;
	pid_t pid;

	pid = fork();
	if (pid)
		return pid;
	for (i = 0; i < t->npages; i++)
		pages[i] = (void *)(t->base + i * PG);
	for (round = 0;; round++) {
		for (i = 0; i < t->npages; i++)
			nodes[i] = round & 1;
		syscall(SYS_move_pages, t->pid, t->npages, pages, nodes,
			status, MPOL_MF_MOVE);
	}
}

FIXTURE(migration) {
	struct snapper_genl *nl;
	struct target t;
	struct got g;
	pid_t mover;
};

FIXTURE_VARIANT(migration) {
	size_t npages;
	bool thp;
};

FIXTURE_VARIANT_ADD(migration, small_pages) { .npages = 64, .thp = false };
FIXTURE_VARIANT_ADD(migration, huge_pages) { .npages = 1024, .thp = true };

FIXTURE_SETUP(migration)
{
	const char *why = guest_skip_reason();
	bool thp = variant->thp;

	memset(&self->g, 0, sizeof(self->g));
	self->nl = NULL;
	self->t.pid = 0;
	self->mover = 0;
	if (why)
		SKIP(return, "%s", why);
	if (access("/sys/devices/system/node/node1", F_OK))
		SKIP(return, "needs two NUMA nodes (selftests/qemu/run --numa)");
	ASSERT_EQ(0, snapper_genl_open(&self->nl));
	ASSERT_EQ(0, target_start(&self->t, variant->npages, map_region, NULL,
				  &thp));
}

FIXTURE_TEARDOWN(migration)
{
	if (self->mover > 0) {
		kill(self->mover, SIGKILL);
		waitpid(self->mover, NULL, 0);
	}
	target_stop(&self->t);
	got_free(&self->g);
	snapper_genl_close(self->nl);
}

TEST_F_TIMEOUT(migration, writes_after_a_migrating_checkpoint_are_seen, 300)
{
	uint64_t base = self->t.base, v;
	unsigned int round, met = 0;
	struct got_page *p;
	size_t i, n = variant->npages;

	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 0, 0, &self->g));
	ASSERT_EQ(0, snapper_genl_ack(self->nl, self->t.pid, STORE,
				      self->g.h.checkpoint_id, 1));
	self->mover = start_mover(&self->t);
	ASSERT_LT(0, self->mover);
	for (round = 1; round <= ROUNDS; round++) {
		/* Every page rewritten since the last checkpoint. */
		v = (uint64_t)round << 48;
		for (i = 0; i < n; i++) {
			ASSERT_EQ(0, target_do(&self->t, T_WRITE, i,
					       v + ((uint64_t)i << 32), 0));
		}
		ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, round, 0,
					&self->g));
		ASSERT_FALSE(self->g.h.full);
		for (i = 0; i < n; i++) {
			p = got_find(&self->g, base + i * PG);
			ASSERT_NE(NULL, p)
				TH_LOG("round %u: page %zu missed (%d of %zu sent, pagemap %#llx)",
				       round, i, got_in(&self->g, base, base + n * PG),
				       n, (unsigned long long)pagemap_entry(self->t.pid,
									    base + i * PG));
			ASSERT_TRUE(p->intact);
			ASSERT_EQ(v + ((uint64_t)i << 32), p->first)
				TH_LOG("round %u: page %zu", round, i);
			/* No swap here: a SWAP page was a migration entry. */
			met += !!(p->flags & SNAPPER_PAGE_F_SWAP);
		}
		ASSERT_EQ(0, snapper_genl_ack(self->nl, self->t.pid, STORE,
					      self->g.h.checkpoint_id,
					      round + 1));
	}
	TH_LOG("%u pages were migrating at a checkpoint, in %u rounds", met,
	       ROUNDS);
	if (!met)
		SKIP(return, "no checkpoint met a migration entry");
}

TEST_HARNESS_MAIN
