// SPDX-License-Identifier: GPL-2.0
/*
 * The core of issue 3, checked against what the kernel holds: the pages a
 * checkpoint sends are exactly those /proc/PID/pagemap showed soft-dirty
 * just before (bit 55), and pagemap shows them clean afterwards; after K
 * writes an incremental checkpoint sends those K pages plus a small set
 * (the target's stack and libc data it touched while serving the command);
 * pages of an unacknowledged checkpoint are sent again; a writer that dies
 * mid-stream leaves nothing held (/sys/kernel/snapper/pages_held); an
 * unprivileged caller gets EPERM for another process but may checkpoint
 * itself; munmap and mremap show in the layout and the pages.
 *
 * Needs root and the loaded module: run it through selftests/qemu/run.
 */
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"

#define NPAGES	64
#define STORE	0x5a5a0001ULL
/* Pages besides the written ones an incremental checkpoint may send. */
#define EXTRA_MAX 16

/* Every soft-dirty page of the target's writable mappings, from pagemap. */
static size_t soft_dirty_set(pid_t pid, uint64_t **out)
{
	char path[64], line[512], perms[8];
	uint64_t *set = NULL, start, end, a;
	size_t n = 0, cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 ||
		    perms[1] != 'w')
			continue;
		for (a = start; a < end; a += PG) {
			uint64_t e = pagemap_entry(pid, a);

			if (!(e >> 55 & 1) || !(e >> 62 & 3))
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 256;
				set = realloc(set, cap * sizeof(*set));
			}
			set[n++] = a;
		}
	}
	fclose(f);
	*out = set;
	return n;
}

static bool in_set(const uint64_t *set, size_t n, uint64_t a)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (set[i] == a)
			return true;
	return false;
}

FIXTURE(core) {
	struct snapper_genl *nl;
	struct target t;
	struct got g;
};

FIXTURE_SETUP(core)
{
	const char *why = guest_skip_reason();

	memset(&self->g, 0, sizeof(self->g));
	self->nl = NULL;
	self->t.pid = 0;
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, snapper_genl_open(&self->nl));
	ASSERT_EQ(0, target_start(&self->t, NPAGES, NULL, NULL, NULL));
}

FIXTURE_TEARDOWN(core)
{
	target_stop(&self->t);
	got_free(&self->g);
	snapper_genl_close(self->nl);
}

/* A FULL checkpoint acknowledged as generation 1. */
static void full_and_ack(struct __test_metadata *_metadata,
			 FIXTURE_DATA(core) *self)
{
	size_t i;

	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 0, 0, &self->g));
	ASSERT_TRUE(self->g.h.full);
	ASSERT_EQ(NPAGES, got_in(&self->g, self->t.base,
				 self->t.base + NPAGES * PG));
	for (i = 0; i < NPAGES; i++) {
		struct got_page *p = got_find(&self->g, self->t.base + i * PG);

		ASSERT_NE(NULL, p);
		ASSERT_TRUE(p->intact);
		ASSERT_EQ((uint64_t)i << 32, p->first);
	}
	ASSERT_EQ(0, snapper_genl_ack(self->nl, self->t.pid, STORE,
				      self->g.h.checkpoint_id, 1));
}

/*
 * The two shapes of the page stream (uapi/linux/snapper.h, 3.): one page
 * a message, which snapper-tool no longer asks for, and batches of up to
 * SNAPPER_PAGE_BATCH_MAX pages attached to the message carry the same
 * pages with the same bytes. The target is stopped between the two.
 */
TEST_F(core, pages_alone_and_in_batches_agree)
{
	struct snapper_ckpt_request req = {
		.pid = self->t.pid, .store_id = STORE + 7,
		.flags = SNAPPER_CKPT_F_FULL,
	};
	struct got one = { .stop_after = -1 };
	struct snapper_ckpt_ops ops = {
		.header = got_header, .vma = got_vma, .page = got_page,
		.stats = got_stats, .arg = &one,
	};
	size_t i;
	int ret;

	ASSERT_EQ(0, kill(self->t.pid, SIGSTOP));
	ret = checkpoint(self->nl, self->t.pid, STORE + 7, 0,
			 SNAPPER_CKPT_F_FULL, &self->g);
	if (!ret)
		ret = snapper_genl_checkpoint(self->nl, &req, &ops);
	kill(self->t.pid, SIGCONT);
	ASSERT_EQ(0, ret);
	ASSERT_TRUE(one.h.full);
	ASSERT_EQ(NPAGES, got_in(&one, self->t.base,
				 self->t.base + NPAGES * PG));
	ASSERT_EQ(self->g.npages, one.npages);
	ASSERT_EQ(self->g.st.sent, one.st.sent);
	for (i = 0; i < one.npages; i++) {
		const struct got_page *a = &self->g.pages[i], *b = &one.pages[i];

		ASSERT_EQ(a->addr, b->addr) TH_LOG("page %zu", i);
		ASSERT_EQ(a->flags & ~SNAPPER_PAGE_F_OWED,
			  b->flags & ~SNAPPER_PAGE_F_OWED);
		ASSERT_EQ(a->first, b->first);
		ASSERT_EQ(a->last, b->last);
		ASSERT_EQ(a->intact, b->intact);
	}
	got_free(&one);
}

TEST_F(core, full_then_incremental_matches_pagemap)
{
	static const size_t written[] = { 1, 7, 8, 30, 63 };
	static uint64_t *before;
	size_t nbefore, i, extra = 0;

	full_and_ack(_metadata, self);
	/* After the walk every page is clean in pagemap. */
	for (i = 0; i < NPAGES; i++) {
		ASSERT_FALSE(pagemap_soft_dirty(self->t.pid,
						self->t.base + i * PG));
	}

	for (i = 0; i < ARRAY_SIZE(written); i++) {
		ASSERT_EQ(0, target_do(&self->t, T_WRITE, written[i],
				       0xabc000000ULL + i, 0));
	}
	/*
	 * Once back in read() the target writes nothing more; the pages it
	 * dirties on its way there (stack, libc data) would otherwise be
	 * soft-dirty again after the walk.
	 */
	ASSERT_EQ(0, guest_wait_parked(self->t.pid));
	nbefore = soft_dirty_set(self->t.pid, &before);
	for (i = 0; i < NPAGES; i++) {
		bool w = false;
		size_t k;

		for (k = 0; k < ARRAY_SIZE(written); k++)
			w |= written[k] == i;
		ASSERT_EQ(w, pagemap_soft_dirty(self->t.pid,
						self->t.base + i * PG));
	}

	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 1, 0, &self->g));
	ASSERT_FALSE(self->g.h.full);
	ASSERT_EQ((int)ARRAY_SIZE(written),
		  got_in(&self->g, self->t.base, self->t.base + NPAGES * PG));
	for (i = 0; i < ARRAY_SIZE(written); i++) {
		struct got_page *p = got_find(&self->g,
					      self->t.base + written[i] * PG);

		ASSERT_NE(NULL, p);
		ASSERT_TRUE(p->intact);
		ASSERT_EQ(0xabc000000ULL + i, p->first);
	}
	/* Every page sent was soft-dirty in pagemap just before. */
	for (i = 0; i < self->g.npages; i++) {
		uint64_t a = self->g.pages[i].addr;

		EXPECT_TRUE(in_set(before, nbefore, a))
			TH_LOG("sent %#lx, clean in pagemap before", a);
		EXPECT_FALSE(pagemap_soft_dirty(self->t.pid, a))
			TH_LOG("%#lx still soft-dirty after", a);
		if (a < self->t.base || a >= self->t.base + NPAGES * PG)
			extra++;
	}
	/* ...and every soft-dirty page of an anonymous mapping was sent. */
	for (i = 0; i < nbefore; i++) {
		if (before[i] >= self->t.base &&
		    before[i] < self->t.base + NPAGES * PG)
			EXPECT_NE(NULL, got_find(&self->g, before[i]));
	}
	TH_LOG("incremental: %zu written, %zu more (stack, libc data), scanned %lu",
	       ARRAY_SIZE(written), extra, (unsigned long)self->g.st.scanned);
	ASSERT_LE(extra, (size_t)EXTRA_MAX);
	ASSERT_EQ(self->g.npages, self->g.st.sent);
	free(before);
}

TEST_F(core, unacknowledged_pages_are_sent_again)
{
	struct got_page *p;
	uint64_t c2;

	full_and_ack(_metadata, self);
	ASSERT_EQ(0, target_do(&self->t, T_WRITE, 3, 333, 0));
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 1, 0, &self->g));
	ASSERT_FALSE(self->g.h.full);
	ASSERT_NE(NULL, got_find(&self->g, self->t.base + 3 * PG));
	c2 = self->g.h.checkpoint_id;
	/* The writer of c2 "died": no ack. Page 3 is clean in pagemap now. */
	ASSERT_FALSE(pagemap_soft_dirty(self->t.pid, self->t.base + 3 * PG));
	ASSERT_EQ(0, target_do(&self->t, T_WRITE, 9, 999, 0));
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 1, 0, &self->g));
	ASSERT_FALSE(self->g.h.full);
	p = got_find(&self->g, self->t.base + 3 * PG);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(333ULL, p->first);
	ASSERT_TRUE(!!(p->flags & SNAPPER_PAGE_F_OWED));
	p = got_find(&self->g, self->t.base + 9 * PG);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(999ULL, p->first);
	ASSERT_EQ(0, snapper_genl_ack(self->nl, self->t.pid, STORE,
				      self->g.h.checkpoint_id, 2));
	/* An ack older than the last one is refused. */
	ASSERT_EQ(-ESTALE, snapper_genl_ack(self->nl, self->t.pid, STORE, c2, 2));
	/* Nothing owed any more: the region sends nothing. */
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 2, 0, &self->g));
	ASSERT_FALSE(self->g.h.full);
	ASSERT_EQ(0, got_in(&self->g, self->t.base, self->t.base + NPAGES * PG));
	/* Another store, or a base the module never acknowledged: FULL. */
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE + 1, 2, 0, &self->g));
	ASSERT_TRUE(self->g.h.full);
	ASSERT_EQ(NPAGES, got_in(&self->g, self->t.base,
				 self->t.base + NPAGES * PG));
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 2,
				SNAPPER_CKPT_F_FULL, &self->g));
	ASSERT_TRUE(self->g.h.full);
}

static int die_after_pages(void *arg, uint64_t addr, const void *data,
			   uint32_t flags)
{
	static int n;

	if (++n == 3)
		_exit(0);	/* the writer dies holding a half-read stream */
	return 0;
}

TEST_F(core, writer_dying_mid_stream_releases_everything)
{
	long long held = -1;
	pid_t w;
	int i, status;

	full_and_ack(_metadata, self);
	for (i = 0; i < NPAGES; i += 2) {
		ASSERT_EQ(0, target_do(&self->t, T_WRITE, i, 7000 + i, 0));
	}
	w = fork();
	ASSERT_LE(0, w);
	if (!w) {
		struct snapper_ckpt_request req = {
			.pid = self->t.pid, .store_id = STORE,
			.base_generation = 1,
		};
		struct snapper_ckpt_ops ops = { .page = die_after_pages };
		struct snapper_genl *nl;

		if (snapper_genl_open(&nl))
			_exit(2);
		snapper_genl_checkpoint(nl, &req, &ops);
		_exit(3);
	}
	ASSERT_EQ(w, waitpid(w, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/* The socket's release ends the dump: poll for up to 5 s. */
	for (i = 0; i < 50; i++) {
		held = read_stat("pages_held");
		if (!held)
			break;
		usleep(100000);
	}
	ASSERT_EQ(0, held);
	/* The dead writer's pages are owed: the next checkpoint has them. */
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 1, 0, &self->g));
	ASSERT_FALSE(self->g.h.full);
	for (i = 0; i < NPAGES; i += 2) {
		struct got_page *p = got_find(&self->g, self->t.base + i * PG);

		ASSERT_NE(NULL, p);
		ASSERT_EQ((uint64_t)(7000 + i), p->first);
	}
	ASSERT_EQ(NPAGES / 2, got_in(&self->g, self->t.base,
				     self->t.base + NPAGES * PG));
	got_free(&self->g);
	ASSERT_EQ(0, read_stat("pages_held"));
}

TEST_F(core, munmap_and_mremap_between_checkpoints)
{
	uint64_t moved = self->t.base + (1ULL << 30);
	bool old_mapped = false, new_mapped = false;
	size_t i;

	full_and_ack(_metadata, self);
	ASSERT_EQ(0, target_do(&self->t, T_MUNMAP, self->t.base + 8 * PG,
			       8 * PG, 0));
	ASSERT_EQ(0, target_do(&self->t, T_MREMAP, self->t.base + 32 * PG,
			       16 * PG, moved));
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 1, 0, &self->g));
	ASSERT_FALSE(self->g.h.full);
	for (i = 0; i < self->g.nvmas; i++) {
		struct snapper_ckpt_vma *v = &self->g.vmas[i];

		if (v->start < self->t.base + 16 * PG &&
		    v->end > self->t.base + 8 * PG)
			old_mapped = true;
		if (v->start <= moved && v->end >= moved + 16 * PG)
			new_mapped = true;
	}
	ASSERT_FALSE(old_mapped);
	ASSERT_TRUE(new_mapped);
	/* Moved pages are dirty at their new address, with their content. */
	for (i = 0; i < 16; i++) {
		struct got_page *p = got_find(&self->g, moved + i * PG);

		ASSERT_NE(NULL, p);
		ASSERT_EQ((uint64_t)(32 + i) << 32, p->first);
	}
	ASSERT_EQ(0, got_in(&self->g, self->t.base, self->t.base + NPAGES * PG));
}

TEST(unprivileged_caller_gets_eperm)
{
	const char *why = guest_skip_reason();
	struct target t = { 0 };
	int status;
	pid_t c;

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, target_start(&t, 4, NULL, NULL, NULL));
	c = fork();
	ASSERT_LE(0, c);
	if (!c) {
		struct snapper_genl *nl;
		struct got g = { 0 };
		int ret;

		if (setgid(65534) || setuid(65534))
			_exit(10);
		prctl(PR_SET_DUMPABLE, 1);
		if (snapper_genl_open(&nl))
			_exit(11);
		ret = checkpoint(nl, t.pid, STORE, 0, 0, &g);
		if (ret != -EPERM)
			_exit(12);
		/* Itself, though, it may checkpoint. */
		g.stop_after = 0;
		ret = checkpoint(nl, getpid(), STORE, 0, 0, &g);
		if (ret || !g.h.full || !g.npages)
			_exit(13);
		ret = snapper_genl_ack(nl, t.pid, STORE, 1, 1);
		_exit(ret == -EPERM ? 0 : 14);
	}
	ASSERT_EQ(c, waitpid(c, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	target_stop(&t);
}

TEST(bad_requests_are_refused)
{
	const char *why = guest_skip_reason();
	struct snapper_genl *nl;
	struct got g = { 0 };

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, snapper_genl_open(&nl));
	/* Each with its extack message, on 6.1 too (tracking.rst). */
	EXPECT_EQ(-EOPNOTSUPP, checkpoint(nl, getpid(), STORE, 0, 1U << 31, &g));
	EXPECT_NE(NULL, strstr(snapper_genl_errmsg(nl) ?: "",
			       "unknown checkpoint flags"))
		TH_LOG("message: %s", snapper_genl_errmsg(nl) ?: "none");
	EXPECT_EQ(-ESRCH, checkpoint(nl, 4194000, STORE, 0, 0, &g));
	EXPECT_NE(NULL, strstr(snapper_genl_errmsg(nl) ?: "", "no such process"))
		TH_LOG("message: %s", snapper_genl_errmsg(nl) ?: "none");
	/* Kernel threads have no memory. */
	EXPECT_EQ(-ESRCH, checkpoint(nl, 2, STORE, 0, 0, &g));
	EXPECT_EQ(-ESRCH, snapper_genl_ack(nl, 2, STORE, 1, 1));
	got_free(&g);
	snapper_genl_close(nl);
}

/*
 * A checkpoint shares each private anonymous page it takes copy-on-write
 * with its snapshot. Once it is acknowledged, a page the target did not
 * write since is the target's alone again (tracker.c, give_back()), as
 * after CRIU's pre-dump, which never shares it: UFFDIO_MOVE (6.8+), which
 * moves only such pages, moves every one, small and huge, where before
 * the module gave them back it answered EBUSY for each. A page the target
 * shares with a child it forked stays shared: its write copies, and the
 * child keeps what it had.
 */
#define MOVE_PAGES	64
#define MOVE_HUGE	(2UL << 20)

/* Where the target mapped what: shared with the test (MAP_SHARED). */
struct moves {
	uint64_t dst;			/* MOVE_PAGES after t->base's */
	uint64_t huge, huge_dst;	/* MOVE_HUGE each, aligned */
	int offered;			/* 1, 0: not offered, -1: no userfaultfd */
	pid_t child;			/* forked by T_USER + 1 */
};

static int move_uffd = -1;

static uint8_t *map_aligned(size_t len, size_t align)
{
	uint8_t *p = mmap(NULL, len + align, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	return (uint8_t *)(((uintptr_t)p + align - 1) & ~(align - 1));
}

static void moves_setup(struct target *t, void *arg)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	uint8_t *small = map_aligned(2 * MOVE_PAGES * PG, PG);
	uint8_t *huge = map_aligned(2 * MOVE_HUGE, MOVE_HUGE);
	struct moves *m = arg;
	size_t i;

	if (!small || !huge)
		_exit(1);
	madvise(small, 2 * MOVE_PAGES * PG, MADV_NOHUGEPAGE);
	madvise(huge, 2 * MOVE_HUGE, MADV_HUGEPAGE);
	t->base = (uint64_t)small;
	m->dst = t->base + MOVE_PAGES * PG;
	m->huge = (uint64_t)huge;
	m->huge_dst = m->huge + MOVE_HUGE;
	for (i = 0; i < MOVE_PAGES; i++)
		fill_page(t->base, i, i << 32);
	for (i = 0; i < MOVE_HUGE / PG; i++)
		fill_page(m->huge, i, 1ULL << 48 | i << 32);
	m->offered = -1;
	move_uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (move_uffd < 0 || ioctl(move_uffd, UFFDIO_API, &api))
		return;
	reg.range = (struct uffdio_range){ m->dst, MOVE_PAGES * PG };
	if (ioctl(move_uffd, UFFDIO_REGISTER, &reg))
		return;
	m->offered = !!(reg.ioctls & (1ULL << _UFFDIO_MOVE));
	reg.range = (struct uffdio_range){ m->huge_dst, MOVE_HUGE };
	if (ioctl(move_uffd, UFFDIO_REGISTER, &reg))
		m->offered = -1;
}

/* T_USER: moves @a to @b, @c bytes (0 or errno); T_USER + 1: forks. */
static int moves_cmd(struct target *t, struct tcmd *c, void *arg)
{
	struct uffdio_move mv = { .dst = c->b, .src = c->a, .len = c->c };
	struct moves *m = arg;

	(void)t;
	if (c->op == T_USER + 1) {
		pid_t child = fork();

		if (!child) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			pause();
			_exit(0);
		}
		m->child = child;	/* not in the child: the page is shared */
		return child < 0 ? -1 : 0;
	}
	if (c->op != T_USER)
		return -1;
	return ioctl(move_uffd, UFFDIO_MOVE, &mv) ? errno : 0;
}

/* Starts the target; Return: why to skip, or NULL. */
static const char *moves_start(struct __test_metadata *_metadata,
			       struct target *t, struct moves **m)
{
	const char *why = guest_skip_reason();

	if (why)
		return why;
	*m = mmap(NULL, sizeof(**m), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, *m);
	ASSERT_EQ(0, target_start(t, MOVE_PAGES, moves_setup, moves_cmd, *m));
	if ((*m)->offered < 0)
		return "no userfaultfd";
	if (!(*m)->offered)
		return "no UFFDIO_MOVE before 6.8";
	return NULL;
}

/* A FULL checkpoint of @t for generation 1, acknowledged. */
static void full_acked(struct __test_metadata *_metadata,
		       struct snapper_genl *nl, struct target *t,
		       const struct moves *m, struct got *g)
{
	ASSERT_EQ(0, checkpoint(nl, t->pid, STORE, 0, SNAPPER_CKPT_F_FULL, g));
	ASSERT_TRUE(g->h.full);
	ASSERT_EQ(MOVE_PAGES, got_in(g, t->base, t->base + MOVE_PAGES * PG) +
			      got_in(g, m->dst, m->dst + MOVE_PAGES * PG));
	ASSERT_EQ(0, snapper_genl_ack(nl, t->pid, STORE, g->h.checkpoint_id, 1));
}

TEST(uffdio_move_takes_pages_of_an_acknowledged_checkpoint)
{
	struct snapper_genl *nl = NULL;
	struct target t = { 0 };
	struct got g = { 0 };
	struct moves *m = NULL;
	const char *why = moves_start(_metadata, &t, &m);
	struct got_page *p;
	size_t i, busy = 0;
	long long abandoned;
	long huge_kb;
	int ret;

	if (why) {
		target_stop(&t);
		SKIP(return, "%s", why);
	}
	huge_kb = guest_smaps_kb(t.pid, m->huge, "AnonHugePages:");
	ASSERT_EQ(0, snapper_genl_open(&nl));
	/* Before any checkpoint: the target's pages move. */
	ASSERT_EQ(0, target_do(&t, T_USER, t.base, m->dst, PG));
	abandoned = read_stat("give_backs_abandoned");
	full_acked(_metadata, nl, &t, m, &g);
	for (i = 1; i < MOVE_PAGES; i++) {
		ret = target_do(&t, T_USER, t.base + i * PG, m->dst + i * PG, PG);
		if (ret != EBUSY)
			ASSERT_EQ(0, ret);
		busy += ret == EBUSY;
	}
	EXPECT_EQ(0, (int)busy)
		TH_LOG("give-backs abandoned for the mmap lock meanwhile: %lld",
		       read_stat("give_backs_abandoned") - abandoned);
	if (huge_kb >= (long)(MOVE_HUGE >> 10)) {
		EXPECT_EQ(0, target_do(&t, T_USER, m->huge, m->huge_dst,
				       MOVE_HUGE));
	} else {
		TH_LOG("no huge page to move (AnonHugePages %ld kB)", huge_kb);
	}
	/* Where they went, with what they held, in the next generation. */
	ASSERT_EQ(0, checkpoint(nl, t.pid, STORE, 1, 0, &g));
	ASSERT_FALSE(g.h.full);
	for (i = 1; i < MOVE_PAGES; i++) {
		p = got_find(&g, m->dst + i * PG);
		ASSERT_NE(NULL, p);
		ASSERT_TRUE(p->intact);
		ASSERT_EQ(i << 32, p->first);
	}
	for (i = 0; huge_kb >= (long)(MOVE_HUGE >> 10) &&
	     i < MOVE_HUGE / PG; i++) {
		p = got_find(&g, m->huge_dst + i * PG);
		ASSERT_NE(NULL, p);
		ASSERT_TRUE(p->intact);
		ASSERT_EQ(1ULL << 48 | i << 32, p->first);
	}
	got_free(&g);
	snapper_genl_close(nl);
	target_stop(&t);
}

TEST(a_page_shared_with_a_child_stays_shared_after_the_ack)
{
	struct snapper_genl *nl = NULL;
	struct target t = { 0 };
	struct got g = { 0 };
	struct moves *m = NULL;
	const char *why = moves_start(_metadata, &t, &m);
	uint64_t have[PG / 8];
	char path[64];
	size_t i;
	int fd;

	if (why) {
		target_stop(&t);
		SKIP(return, "%s", why);
	}
	ASSERT_EQ(0, snapper_genl_open(&nl));
	ASSERT_EQ(0, target_do(&t, T_USER + 1, 0, 0, 0));
	full_acked(_metadata, nl, &t, m, &g);
	/* The kernel's rule: a page the child maps too does not move. */
	EXPECT_EQ(EBUSY, target_do(&t, T_USER, t.base, m->dst, PG));
	snprintf(path, sizeof(path), "/proc/%d/mem", m->child);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	for (i = 0; i < MOVE_PAGES; i++) {
		ASSERT_EQ(0, target_do(&t, T_WRITE, i, 7ULL << 56, 0));
		ASSERT_EQ((ssize_t)PG, pread(fd, have, PG,
					     (off_t)(t.base + i * PG)));
		ASSERT_TRUE(page_is(have, i << 32))
			TH_LOG("page %zu: the child sees its parent's write", i);
	}
	close(fd);
	kill(m->child, SIGKILL);
	got_free(&g);
	snapper_genl_close(nl);
	target_stop(&t);
}

/*
 * mremap() of whole page tables (2 MiB, source and destination aligned
 * alike) moves the tables, not their entries: the pages the last
 * checkpoint cleared arrive soft-clean at their new place (pagemap bit 55
 * is 0 there on 6.1 and 6.12). The module takes every entry of a table
 * it finds where the last walk did not, so the incremental checkpoint
 * after such a move holds every page at its new place, with its content;
 * the module before sent none of them, and the generation read zeros there.
 */
#define MOVED_LEN	(4UL << 20)

static void map_for_moving(struct target *t, void *arg)
{
	uint8_t *src = map_aligned(MOVED_LEN, 2UL << 20);
	uint8_t *dst = mmap(NULL, MOVED_LEN + (2UL << 20), PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint64_t *to = arg;
	size_t i;

	if (!src || dst == MAP_FAILED)
		_exit(1);
	madvise(src, MOVED_LEN, MADV_NOHUGEPAGE);
	t->base = (uint64_t)src;
	for (i = 0; i < MOVED_LEN / PG; i++)
		fill_page(t->base, i, i << 32);
	*to = ((uint64_t)dst + (2UL << 20) - 1) & ~((2UL << 20) - 1);
}

/* A target whose setup says where memory will move to in *away. */
FIXTURE(moved) {
	struct snapper_genl *nl;
	struct target t;
	struct got g;
	uint64_t *away;
};

FIXTURE_SETUP(moved)
{
	const char *why = guest_skip_reason();

	memset(self, 0, sizeof(*self));
	if (why)
		SKIP(return, "%s", why);
	self->away = mmap(NULL, sizeof(*self->away), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->away);
	ASSERT_EQ(0, snapper_genl_open(&self->nl));
}

FIXTURE_TEARDOWN(moved)
{
	got_free(&self->g);
	if (self->nl)
		snapper_genl_close(self->nl);
	if (self->t.pid > 0)
		target_stop(&self->t);
}

/*
 * After a move: the next checkpoint is incremental and holds the @n pages
 * from @at, page i with the content setup gave it (i << 32).
 */
static void expect_moved_sent(struct __test_metadata *_metadata,
			      FIXTURE_DATA(moved) *self, uint64_t at, size_t n)
{
	size_t i, clean = 0;
	struct got_page *p;

	for (i = 0; i < n; i++)
		clean += !pagemap_soft_dirty(self->t.pid, at + i * PG);
	TH_LOG("%zu of %zu pages soft-clean after the move", clean, n);
	ASSERT_EQ(0, checkpoint(self->nl, self->t.pid, STORE, 1, 0, &self->g));
	ASSERT_FALSE(self->g.h.full);
	ASSERT_EQ((int)n, got_in(&self->g, at, at + n * PG));
	for (i = 0; i < n; i++) {
		p = got_find(&self->g, at + i * PG);
		ASSERT_NE(NULL, p);
		ASSERT_TRUE(p->intact);
		ASSERT_EQ(i << 32, p->first);
	}
}

TEST_F(moved, pages_moved_with_their_page_tables_are_sent)
{
	size_t n = MOVED_LEN / PG;
	struct target *t = &self->t;

	ASSERT_EQ(0, target_start(t, n, map_for_moving, NULL, self->away));
	ASSERT_EQ(0, checkpoint(self->nl, t->pid, STORE, 0,
				SNAPPER_CKPT_F_FULL, &self->g));
	ASSERT_EQ((int)n, got_in(&self->g, t->base, t->base + MOVED_LEN));
	ASSERT_EQ(0, snapper_genl_ack(self->nl, t->pid, STORE,
				      self->g.h.checkpoint_id, 1));
	ASSERT_EQ(0, target_do(t, T_MREMAP, t->base, MOVED_LEN, *self->away));
	expect_moved_sent(_metadata, self, *self->away, n);
}

/*
 * Two pieces of one mapping trading places with nothing in the layout to
 * tell: a piece moved away, a new mapping made where it was (merged into
 * the rest: same origin, same anon_vma), then, after a checkpoint, the new
 * piece unmapped and the first moved whole-table back onto its place. The
 * layout reads as the last walk's, but the entries there are the first
 * piece's, soft-clean: the module that compared layouts (d2a061c) sent
 * none of them, and the generation held the new piece's bytes there.
 */
#define TRADE_LEN	(8UL << 20)
#define TRADE_PIECE	(2UL << 20)
#define TRADE_NEW	(1ULL << 62)

static void map_for_trading(struct target *t, void *arg)
{
	uint8_t *a = map_aligned(TRADE_LEN, TRADE_PIECE);
	uint8_t *x = map_aligned(TRADE_PIECE, TRADE_PIECE);
	uint64_t *away = arg;
	size_t i;

	if (!a || !x)
		_exit(1);
	madvise(a, TRADE_LEN, MADV_NOHUGEPAGE);
	madvise(x, TRADE_PIECE, MADV_NOHUGEPAGE);
	t->base = (uint64_t)a;
	for (i = 0; i < TRADE_LEN / PG; i++)
		fill_page(t->base, i, i << 32);
	if (mremap(a, TRADE_PIECE, TRADE_PIECE, MREMAP_MAYMOVE | MREMAP_FIXED,
		   x) == MAP_FAILED ||
	    mmap(a, TRADE_PIECE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		_exit(1);
	/* Same flags as the rest: merged into it before its first fault. */
	madvise(a, TRADE_PIECE, MADV_NOHUGEPAGE);
	for (i = 0; i < TRADE_PIECE / PG; i++)
		fill_page(t->base, i, TRADE_NEW | i << 32);
	*away = (uint64_t)x;
}

TEST_F(moved, pieces_trading_places_are_sent)
{
	struct target *t = &self->t;
	struct got_page *p;

	ASSERT_EQ(0, target_start(t, TRADE_LEN / PG, map_for_trading, NULL,
				  self->away));
	ASSERT_EQ(0, checkpoint(self->nl, t->pid, STORE, 0,
				SNAPPER_CKPT_F_FULL, &self->g));
	p = got_find(&self->g, t->base);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(TRADE_NEW, p->first);
	ASSERT_EQ(0, snapper_genl_ack(self->nl, t->pid, STORE,
				      self->g.h.checkpoint_id, 1));
	ASSERT_EQ(0, target_do(t, T_MUNMAP, t->base, TRADE_PIECE, 0));
	ASSERT_EQ(0, target_do(t, T_MREMAP, *self->away, TRADE_PIECE, t->base));
	expect_moved_sent(_metadata, self, t->base, TRADE_PIECE / PG);
	/* The rest of the mapping stayed put: nothing of it is sent. */
	ASSERT_EQ(0, got_in(&self->g, t->base + TRADE_PIECE, t->base + TRADE_LEN));
}

TEST_HARNESS_MAIN
