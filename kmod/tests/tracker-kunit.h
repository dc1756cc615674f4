/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KUnit tests of the tracker's pure parts: batching of snapshot pages into
 * chunks (room accounting, order, growth without sleeping), merging of
 * holes, the translation of VMA flags, the record of page tables that
 * tells moved ones, and the record of frames. Included at the end of
 * tracker.c.
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

/* A PMD entry pointing to a PTE table at @pfn, or a huge one. */
static pmd_t test_pmd(unsigned long pfn, bool huge)
{
	return __pmd(pfn << PAGE_SHIFT | _PAGE_TABLE | (huge ? _PAGE_PSE : 0));
}

/*
 * note_table(): a slot whose table the last walk found there is not taken
 * whole; one it found another table at, or none, is.
 */
static void tracker_test_tables(struct kunit *test)
{
	struct snapper_session *s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);
	pmd_t *pmds = kunit_kzalloc(test, 2 * PAGE_SIZE, GFP_KERNEL);
	struct snapper_snapshot snap = {};
	struct walk w = { .s = s, .snap = &snap };
	unsigned long a = 0x7f0000000000UL, b = a + PMD_SIZE;

	KUNIT_ASSERT_NOT_NULL(test, s);
	KUNIT_ASSERT_NOT_NULL(test, pmds);
	KUNIT_ASSERT_EQ(test, grow_tables(&snap, 4), 0);
	/* No record: every table is new. */
	KUNIT_EXPECT_TRUE(test, note_table(&w, &pmds[0], test_pmd(10, false), a));
	KUNIT_EXPECT_TRUE(test, note_table(&w, &pmds[1], test_pmd(11, false), b));
	/* A second mapping in the same slot: one record. */
	KUNIT_EXPECT_TRUE(test, note_table(&w, &pmds[1], test_pmd(11, false), b));
	KUNIT_EXPECT_EQ(test, snap.nr_tables, 2U);
	keep_tables(s, &snap);
	KUNIT_EXPECT_NULL(test, snap.tables);
	KUNIT_EXPECT_EQ(test, s->nr_tables, 2U);

	/* The two traded places (mremap() of each onto the other's). */
	KUNIT_ASSERT_EQ(test, grow_tables(&snap, 1), 0);
	KUNIT_EXPECT_TRUE(test, note_table(&w, &pmds[0], test_pmd(11, false), a));
	/* Out of room: the walk stops (-EAGAIN) and grows the record. */
	KUNIT_ASSERT_EQ(test, grow_tables(&snap, 2 * snap.cap_tables), 0);
	KUNIT_EXPECT_EQ(test, snap.tables[0].slot, a >> PMD_SHIFT);
	KUNIT_EXPECT_TRUE(test, note_table(&w, &pmds[1], test_pmd(10, false), b));
	keep_tables(s, &snap);
	KUNIT_ASSERT_EQ(test, grow_tables(&snap, 4), 0);
	KUNIT_EXPECT_FALSE(test, note_table(&w, &pmds[0], test_pmd(11, false), a));
	/* Split or collapsed: another kind of entry, taken whole. */
	KUNIT_EXPECT_TRUE(test, note_table(&w, &pmds[1], test_pmd(12, true), b));
	keep_tables(s, &snap);
	KUNIT_ASSERT_EQ(test, grow_tables(&snap, 4), 0);
	/* Another huge page in the same PMD table, at the same slot. */
	KUNIT_EXPECT_FALSE(test, note_table(&w, &pmds[1], test_pmd(13, true), b));
	keep_tables(s, &snap);
	KUNIT_ASSERT_EQ(test, grow_tables(&snap, 4), 0);
	/* Its PMD table replaced by one moved there (mremap() of 1 GiB). */
	KUNIT_EXPECT_TRUE(test, note_table(&w, &pmds[PTRS_PER_PMD + 1],
					   test_pmd(13, true), b));
	/* Split in place: taken whole (its entries are soft-dirty anyway). */
	keep_tables(s, &snap);
	KUNIT_ASSERT_EQ(test, grow_tables(&snap, 4), 0);
	KUNIT_EXPECT_TRUE(test, note_table(&w, &pmds[PTRS_PER_PMD + 1],
					   test_pmd(14, false), b));
	KUNIT_EXPECT_EQ(test, snap.nr_tables, 1U);
	snapper_snapshot_release(&snap);
	kvfree(s->tables);
}

/*
 * same_frame(): an entry is the one the last walk saw only where that walk
 * recorded the same frame at the same address, in the same table.
 */
static void tracker_test_frames(struct kunit *test)
{
	struct snapper_session *s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);
	pmd_t *pmds = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
	struct snapper_snapshot snap = {};
	struct walk w = { .s = s, .snap = &snap };
	unsigned long a = 0x7f0000000000UL, b = a + PMD_SIZE;

	KUNIT_ASSERT_NOT_NULL(test, s);
	KUNIT_ASSERT_NOT_NULL(test, pmds);
	KUNIT_ASSERT_EQ(test, grow_tables(&snap, 4), 0);
	KUNIT_ASSERT_EQ(test, grow_frames(&snap, 8), 0);
	/* Nothing recorded: every frame is new. */
	note_table(&w, &pmds[0], test_pmd(10, false), a);
	KUNIT_EXPECT_FALSE(test, same_frame(&w, a, 100 << 1));
	KUNIT_EXPECT_FALSE(test, same_frame(&w, a + 2 * PAGE_SIZE, 101 << 1));
	note_table(&w, &pmds[1], test_pmd(11, false), b);
	KUNIT_EXPECT_FALSE(test, same_frame(&w, b, 7 << 1 | 1));
	/* A second mapping in the same slot adds to the slot's frames. */
	note_table(&w, &pmds[1], test_pmd(11, false), b + 8 * PAGE_SIZE);
	KUNIT_EXPECT_FALSE(test, same_frame(&w, b + 8 * PAGE_SIZE, 104 << 1));
	KUNIT_EXPECT_EQ(test, snap.nr_frames, 4U);
	KUNIT_EXPECT_EQ(test, snap.tables[0].nr_frames, 2U);
	KUNIT_EXPECT_EQ(test, snap.tables[1].frames, 2U);
	KUNIT_EXPECT_EQ(test, snap.tables[1].nr_frames, 2U);
	keep_tables(s, &snap);

	KUNIT_ASSERT_EQ(test, grow_tables(&snap, 4), 0);
	KUNIT_ASSERT_EQ(test, grow_frames(&snap, 8), 0);
	note_table(&w, &pmds[0], test_pmd(10, false), a);
	/* A page unshared since: another frame at the same address. */
	KUNIT_EXPECT_FALSE(test, same_frame(&w, a, 102 << 1));
	/* An entry the last walk did not see. */
	KUNIT_EXPECT_FALSE(test, same_frame(&w, a + PAGE_SIZE, 103 << 1));
	KUNIT_EXPECT_TRUE(test, same_frame(&w, a + 2 * PAGE_SIZE, 101 << 1));
	/* Still in the same swap slot; then the second mapping's page. */
	note_table(&w, &pmds[1], test_pmd(11, false), b);
	KUNIT_EXPECT_TRUE(test, same_frame(&w, b, 7 << 1 | 1));
	note_table(&w, &pmds[1], test_pmd(11, false), b + 8 * PAGE_SIZE);
	KUNIT_EXPECT_TRUE(test, same_frame(&w, b + 8 * PAGE_SIZE, 104 << 1));
	keep_tables(s, &snap);

	/* Another table at the slot: taken whole, no frame compares. */
	KUNIT_ASSERT_EQ(test, grow_tables(&snap, 4), 0);
	KUNIT_ASSERT_EQ(test, grow_frames(&snap, 8), 0);
	KUNIT_EXPECT_TRUE(test, note_table(&w, &pmds[0], test_pmd(12, false), a));
	KUNIT_EXPECT_FALSE(test, same_frame(&w, a + 2 * PAGE_SIZE, 101 << 1));
	snapper_snapshot_release(&snap);
	kvfree(s->tables);
	kvfree(s->frames);
}

static struct kunit_case tracker_test_cases[] = {
	KUNIT_CASE(tracker_test_batching),
	KUNIT_CASE(tracker_test_chunk_fits_a_page),
	KUNIT_CASE(tracker_test_holes),
	KUNIT_CASE(tracker_test_vma_prot),
	KUNIT_CASE(tracker_test_tables),
	KUNIT_CASE(tracker_test_frames),
	{}
};

static struct kunit_suite tracker_test_suite = {
	.name = "snapper-tracker",
	.test_cases = tracker_test_cases,
};

kunit_test_suite(tracker_test_suite);
