/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KUnit tests of the tracker's pure parts: batching of snapshot pages into
 * chunks (room accounting, order, growth without sleeping), merging of
 * holes, and the translation of VMA flags. Included at the end of tracker.c.
 */
#include <kunit/test.h>

static void tracker_test_batching(struct kunit *test)
{
	struct snapper_snapshot snap = {};
	struct walk w = { .snap = &snap };
	struct snapper_snap_chunk *c;
	unsigned long i, n = 3 * SNAP_CHUNK_PAGES + 7, seen = 0, chunks = 0;

	KUNIT_ASSERT_EQ(test, ensure_room(&w, 10, GFP_KERNEL), 0);
	KUNIT_EXPECT_EQ(test, w.room, SNAP_CHUNK_PAGES);
	KUNIT_ASSERT_EQ(test, ensure_room(&w, n, GFP_KERNEL), 0);
	KUNIT_EXPECT_GE(test, w.room, n);
	for (i = 0; i < n; i++)
		add_page(&w, (i << PAGE_SHIFT) | SNAPPER_PAGE_F_SWAP, NULL);
	KUNIT_EXPECT_EQ(test, snap.nr_pages, n);
	for (c = snap.head; c; c = c->next) {
		chunks++;
		for (i = 0; i < c->nr; i++, seen++)
			KUNIT_EXPECT_EQ(test, c->pages[i].addr,
					(seen << PAGE_SHIFT) | SNAPPER_PAGE_F_SWAP);
		/* Only the last chunk may be partly filled. */
		if (c->next)
			KUNIT_EXPECT_EQ(test, c->nr, SNAP_CHUNK_PAGES);
	}
	KUNIT_EXPECT_EQ(test, seen, n);
	KUNIT_EXPECT_EQ(test, chunks, 4UL);
	/* A full walk asks for more room without sleeping: -EAGAIN or room. */
	i = ensure_room(&w, w.room + 1, GFP_NOWAIT | __GFP_NOWARN);
	KUNIT_EXPECT_TRUE(test, i == 0 || (int)i == -EAGAIN);
	snapper_snapshot_release(&snap);
	KUNIT_EXPECT_NULL(test, snap.head);
}

static void tracker_test_chunk_fits_a_page(struct kunit *test)
{
	KUNIT_EXPECT_LE(test, sizeof(struct snapper_snap_chunk), PAGE_SIZE);
	KUNIT_EXPECT_GE(test, SNAP_CHUNK_PAGES, 200UL);
	/* Internal bits stay clear of the page address and uapi flags. */
	KUNIT_EXPECT_EQ(test, (SNAP_NEED_COPY | SNAP_NEED_READ | SNAP_WHOLE |
			       SNAP_HOLE | SNAP_FILE | SNAP_OBJECT |
			       SNAP_HASHED) &
			      (__SNAPPER_PAGE_F_ALL | PAGE_MASK),
			0UL);
}

/*
 * Adjacent holes of one kind merge into one slot; a page, a new mapping or
 * the other kind ends one.
 */
static void tracker_test_holes(struct kunit *test)
{
	struct snapper_snapshot snap = {};
	struct walk w = { .snap = &snap, .holes = SNAP_HOLE };
	struct snapper_snap_page *p;
	unsigned long at = 0;

	KUNIT_ASSERT_EQ(test, ensure_room(&w, 8, GFP_KERNEL), 0);
	add_hole(&w, 0, PAGE_SIZE);
	add_hole(&w, PAGE_SIZE, 3 * PAGE_SIZE);
	add_page(&w, 3 * PAGE_SIZE | SNAPPER_PAGE_F_SWAP, NULL);
	KUNIT_EXPECT_EQ(test, add_upper_hole(&w, 4 * PAGE_SIZE, PMD_SIZE, &at), 0);
	add_hole(&w, PMD_SIZE, PMD_SIZE + PAGE_SIZE);
	w.last = NULL;				/* the next mapping */
	add_hole(&w, PMD_SIZE + PAGE_SIZE, PMD_SIZE + 2 * PAGE_SIZE);
	w.holes = 0;				/* a shared mapping: none */
	add_hole(&w, PMD_SIZE + 2 * PAGE_SIZE, PMD_SIZE + 3 * PAGE_SIZE);
	add_file_hole(&w, PMD_SIZE + 2 * PAGE_SIZE, PMD_SIZE + 3 * PAGE_SIZE);
	w.holes = SNAP_HOLE | SNAP_FILE;	/* a private file mapping */
	add_hole(&w, PMD_SIZE + 2 * PAGE_SIZE, PMD_SIZE + 4 * PAGE_SIZE);
	add_file_hole(&w, PMD_SIZE + 4 * PAGE_SIZE, PMD_SIZE + 5 * PAGE_SIZE);

	p = snap.head->pages;
	KUNIT_ASSERT_EQ(test, snap.head->nr, 5UL);
	KUNIT_EXPECT_EQ(test, p[0].addr, SNAP_HOLE);
	KUNIT_EXPECT_EQ(test, p[0].hole_end, 3 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, p[1].addr, 3 * PAGE_SIZE | SNAPPER_PAGE_F_SWAP);
	KUNIT_EXPECT_EQ(test, p[2].addr, 4 * PAGE_SIZE | SNAP_HOLE);
	KUNIT_EXPECT_EQ(test, p[2].hole_end, PMD_SIZE + PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, p[3].addr, (PMD_SIZE + PAGE_SIZE) | SNAP_HOLE);
	/* Adjacent to p[3], but of the other kind. */
	KUNIT_EXPECT_EQ(test, p[4].addr,
			(PMD_SIZE + 2 * PAGE_SIZE) | SNAP_HOLE | SNAP_FILE);
	KUNIT_EXPECT_EQ(test, p[4].hole_end, PMD_SIZE + 5 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, snap.stats.hole_pages,
			(PMD_SIZE >> PAGE_SHIFT) + 4);
	KUNIT_EXPECT_EQ(test, snap.nr_pages, 1UL);
	snapper_snapshot_release(&snap);
}

static void tracker_test_vma_prot(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, vma_prot(0), 0U);
	KUNIT_EXPECT_EQ(test, vma_prot(VM_READ), (u32)PROT_READ);
	KUNIT_EXPECT_EQ(test, vma_prot(VM_READ | VM_WRITE | VM_SHARED),
			(u32)(PROT_READ | PROT_WRITE));
	KUNIT_EXPECT_EQ(test, vma_prot(VM_EXEC | VM_MAYWRITE), (u32)PROT_EXEC);
}

/* moved(): a mapping the last walk saw whole at its place with its origin. */
static void tracker_test_moved(struct kunit *test)
{
	struct snapper_snapshot last = { .nr_vmas = 3 };
	struct snapper_snap_vma v[3] = {
		{ .start = 0x100000, .end = 0x200000, .pgoff = 0x100 },
		{ .start = 0x200000, .end = 0x300000, .pgoff = 0x500 },
		{ .start = 0x400000, .end = 0x600000, .pgoff = 0x400 },
	};
	struct snapper_session *s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);
	struct snapper_snap_vma r;

	KUNIT_ASSERT_NOT_NULL(test, s);
	last.vmas = v;
	/* No layout: everything is new. */
	KUNIT_EXPECT_TRUE(test, moved(s, &v[0]));
	KUNIT_ASSERT_EQ(test, keep_layout(s, &last), 0);
	KUNIT_EXPECT_FALSE(test, moved(s, &v[0]));
	KUNIT_EXPECT_FALSE(test, moved(s, &v[2]));
	/* A piece of one, split off by mprotect(): same origin. */
	r = (struct snapper_snap_vma){ .start = 0x480000, .end = 0x500000,
				       .pgoff = 0x480 };
	KUNIT_EXPECT_FALSE(test, moved(s, &r));
	/* Moved by mremap(): pgoff kept, start changed. */
	r = (struct snapper_snap_vma){ .start = 0x400000, .end = 0x500000,
				       .pgoff = 0x100 };
	KUNIT_EXPECT_TRUE(test, moved(s, &r));
	/* Two merged whose origins differ, or that cover a gap. */
	r = (struct snapper_snap_vma){ .start = 0x100000, .end = 0x300000,
				       .pgoff = 0x100 };
	KUNIT_EXPECT_TRUE(test, moved(s, &r));
	r = (struct snapper_snap_vma){ .start = 0x200000, .end = 0x500000,
				       .pgoff = 0x500 };
	KUNIT_EXPECT_TRUE(test, moved(s, &r));
	/* Grown below (a stack): start and pgoff down together, but new there. */
	r = (struct snapper_snap_vma){ .start = 0x380000, .end = 0x600000,
				       .pgoff = 0x380 };
	KUNIT_EXPECT_TRUE(test, moved(s, &r));
	/* Same place and origin, but another mapping's memory. */
	r = v[2];
	r.anon = &r;
	KUNIT_EXPECT_TRUE(test, moved(s, &r));
	/* Beyond everything. */
	r = (struct snapper_snap_vma){ .start = 0x700000, .end = 0x800000,
				       .pgoff = 0x700 };
	KUNIT_EXPECT_TRUE(test, moved(s, &r));
	kvfree(s->layout);
}

static struct kunit_case tracker_test_cases[] = {
	KUNIT_CASE(tracker_test_batching),
	KUNIT_CASE(tracker_test_chunk_fits_a_page),
	KUNIT_CASE(tracker_test_holes),
	KUNIT_CASE(tracker_test_vma_prot),
	KUNIT_CASE(tracker_test_moved),
	{}
};

static struct kunit_suite tracker_test_suite = {
	.name = "snapper-tracker",
	.test_cases = tracker_test_cases,
};

kunit_test_suite(tracker_test_suite);
