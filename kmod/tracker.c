// SPDX-License-Identifier: GPL-2.0
/*
 * The tracker: one walk of the target's page tables that reads and clears
 * soft-dirty per entry, write-protects as clear_refs does, and keeps the
 * content of every selected page as of that instant.
 *
 * The walk is written by hand from the inline page-table helpers, because
 * walk_page_range(), vm_normal_page() and __pte_offset_map_lock() are not
 * exported. It runs with the target frozen (freeze.c) and its mmap lock
 * held for writing, which excludes every VMA change and every fault taken
 * under the mmap lock. It does not exclude what runs under page-table locks
 * alone: reclaim and migration (rmap walks), per-VMA-lock faults on 6.4+
 * (only a frozen thread's kernel code could take one; a VMA whose flags
 * change is write-locked first, see compat.h), and khugepaged's
 * retract_page_tables() on 6.5+, which frees a PTE table with
 * pte_free_defer() (RCU) under the PMD and PTE locks without the mmap lock.
 * Hence, per PTE table: read the PMD, map the table with pte_offset_kernel()
 * inside rcu_read_lock() (the table cannot be freed before the RCU grace
 * period), take its lock with pte_lockptr(), then check that the PMD still
 * points to that table; retraction clears the PMD under the same lock, so
 * an unchanged PMD means the table stays valid until we unlock. A changed
 * PMD is examined again. Huge PMDs are handled under pmd_lock().
 *
 * Entries change atomically: a present PTE goes through
 * ptep_modify_prot_start()/commit() (the hardware cannot set Dirty in
 * between: the entry is cleared), a huge PMD through pmdp_establish() (an
 * xchg; a Dirty bit the hardware set in the window keeps the PMD
 * soft-dirty), swap entries through set_pte_at()/set_pmd_at() under the
 * lock (the hardware never writes them). A writable migration entry is
 * made readable, as mprotect() does: migration would otherwise restore a
 * writable, soft-clean PTE and the next write would go unseen.
 *
 * Holes: in a private anonymous mapping a page with no entry (neither
 * present nor swapped), or mapping the zero page or the huge zero page,
 * reads as zeros. Every walk records such ranges, merged, from the entries
 * it visits anyway: an empty PTE is one page, an empty PMD, PUD, P4D or PGD
 * its whole range. They are sent with each checkpoint, so that a writer
 * forgets what its base generation had there (MADV_DONTNEED, MADV_FREE,
 * munmap and mmap again). In a private file mapping, an incremental walk
 * records the ranges that read as the file (SNAP_FILE: no entry, or the
 * file's own page), so that a writer drops a copy the target wrote there
 * and then discarded with MADV_DONTNEED; the zero page there (KSM's merge
 * of a copy the target zeroed, UFFDIO_ZEROPAGE) reads as zeros whatever
 * the file holds: a zero hole, as in an anonymous mapping. Where that
 * file is one no name reaches (a memfd, a deleted file of a disk file
 * system: snapper_shared_under()), every walk takes those ranges from the
 * object instead, a placeholder for each page it holds
 * (add_object_pages()). In a shared mapping an empty entry says nothing:
 * the object's page need not be mapped.
 *
 * Old content: every selected page gets a reference before it is
 * write-protected. On 6.1 and 6.12 a reference alone does not make a write
 * fault copy: do_wp_page() and do_huge_pmd_wp_page() reuse any page marked
 * PageAnonExclusive whatever its count. So a private anonymous page that is
 * not pinned is also marked shared, as fork() does, with the entry cleared
 * and after folio_maybe_dma_pinned() said no (GUP-fast re-checks the entry
 * after pinning, and xchg orders both). Its next write then copies, since
 * we hold a reference, and our page keeps the content of the instant. Where
 * copy-on-write does not apply (shared mappings, pinned pages) the page is
 * copied into a private page before the thaw, and a pinned page stays
 * soft-dirty (see pinned()). Swapped-out pages are read back through the
 * mm (get_user_pages_remote(): the thread asked for may have exited)
 * before the thaw, so the freeze includes their I/O. To keep
 * that rare, the swapped-out pages a checkpoint will select are faulted in
 * before the freeze, as many as half the room in the target's memory
 * cgroup allows (prefetch_swapped()); the walk then finds them present.
 *
 * Hugetlb entries carry no soft-dirty bit: every present hugetlb page of
 * the target's own is taken at every checkpoint, copied before the thaw
 * and sent only if changed (walk_hugetlb(); shared ones from their object,
 * shared.c).
 *
 * What the snapshot allocates (page lists, copies) is charged to the
 * caller's memory cgroup (__GFP_ACCOUNT): a process may checkpoint itself
 * without privilege, and must not escape its limits that way.
 *
 * Nothing here allocates with GFP_KERNEL, sleeps or copies to user space
 * with the mmap lock or a page-table lock held: snapshot chunks come from
 * GFP_NOWAIT, and when that fails the walk stops, drops the mmap lock,
 * allocates, and resumes where it stopped (the target is still frozen).
 */
#include "compat.h"

#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/ktime.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include <linux/swapops.h>
#include <linux/userfaultfd_k.h>
#include <linux/uaccess.h>
#include <net/netlink.h>
#include <uapi/linux/magic.h>
#include <asm/tlbflush.h>
#include <linux/snapper.h>

#include "freeze.h"
#include "params.h"
#include "session.h"
#include "shared.h"
#include "stats.h"
#include "tracker.h"

#define SNAP_GROW_CHUNKS	16

struct walk {
	struct mm_struct *mm;
	struct snapper_session *s;
	struct snapper_snapshot *snap;
	struct snapper_snap_chunk *fill;	/* first chunk with room */
	unsigned long room;			/* free slots from @fill on */
	struct snapper_snap_page *last;		/* last slot filled in this VMA */
	bool vma_dirty;				/* the VMA had VM_SOFTDIRTY */
	bool dirty;				/* the PMD slot's: see note_table() */
	bool kernel_writes;			/* see kernel_written() */
	bool frames;				/* see same_frame() */
	unsigned long holes;			/* 0, SNAP_HOLE [| SNAP_FILE] */
	struct vm_area_struct *object;		/* see add_object_pages() */
	/* The last walk's frames of the PMD slot, from the next to look at. */
	const struct snapper_frame *last_frame, *last_frames_end;
};

static struct snapper_snap_chunk *chunk_alloc(gfp_t gfp)
{
	struct snapper_snap_chunk *c;

	BUILD_BUG_ON(sizeof(*c) > PAGE_SIZE);
	c = kmalloc(sizeof(*c), gfp);
	if (c) {
		c->next = NULL;
		c->nr = 0;
	}
	return c;
}

static void chunk_append(struct walk *w, struct snapper_snap_chunk *c)
{
	struct snapper_snapshot *snap = w->snap;

	if (snap->tail)
		snap->tail->next = c;
	else
		snap->head = c;
	snap->tail = c;
	if (!w->fill)
		w->fill = c;
	w->room += SNAP_CHUNK_PAGES;
}

/* Room for @n more pages, without sleeping: -EAGAIN asks for a resume. */
static int ensure_room(struct walk *w, unsigned long n, gfp_t gfp)
{
	struct snapper_snap_chunk *c;

	while (w->room < n) {
		c = chunk_alloc(gfp);
		if (!c)
			return gfpflags_allow_blocking(gfp) ? -ENOMEM : -EAGAIN;
		chunk_append(w, c);
	}
	return 0;
}

/* The next free slot; the caller made room. */
static struct snapper_snap_page *take_slot(struct walk *w)
{
	if (WARN_ON_ONCE(!w->room))
		return NULL;
	while (w->fill->nr == SNAP_CHUNK_PAGES)
		w->fill = w->fill->next;
	w->room--;
	w->last = &w->fill->pages[w->fill->nr++];
	return w->last;
}

static void add_page(struct walk *w, unsigned long addr_flags,
		     struct page *page)
{
	struct snapper_snap_page *p = take_slot(w);

	if (!p) {
		if (page)
			put_page(page);
		return;
	}
	p->addr = addr_flags;
	p->page = page;
	w->snap->nr_pages++;
	if (page)
		snapper_stats_add(SNAPPER_STAT_PAGES_HELD, 1);
}

/*
 * Records [start, end) as a hole of @kind (SNAP_HOLE: zeros, | SNAP_FILE:
 * the file), merged into the slot before when that is a hole of the same
 * kind ending at @start. The caller made room for one slot.
 */
static void add_hole_of(struct walk *w, unsigned long start,
			unsigned long end, unsigned long kind)
{
	struct snapper_snap_page *p = w->last;

	w->snap->stats.hole_pages += (end - start) >> PAGE_SHIFT;
	if (p && (p->addr & (SNAP_HOLE | SNAP_FILE)) == kind &&
	    p->hole_end == start) {
		p->hole_end = end;
		return;
	}
	p = take_slot(w);
	if (p) {
		p->addr = start | kind;
		p->hole_end = end;
	}
}

/* Page offsets in @vma's object, and back (hugetlb's too: in base pages). */
static pgoff_t object_index(struct vm_area_struct *vma, unsigned long addr)
{
	return vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
}

static unsigned long object_addr(struct vm_area_struct *vma, pgoff_t index)
{
	return vma->vm_start + ((index - vma->vm_pgoff) << PAGE_SHIFT);
}

/*
 * [start, end) of w->object's mapping, past its object's end: a private
 * mapping has no page there (SIGBUS), and a truncation took the target's
 * copies there too, so it is a hole (merged with one just before), which
 * makes a generation drop what its base held there, as it does for a
 * named file's (SNAP_FILE). A shared mapping's pages there are not read.
 */
static void add_past_end(struct walk *w, unsigned long start,
			 unsigned long end)
{
	if (start < end && !(w->object->vm_flags & VM_MAYSHARE))
		add_hole_of(w, start, end, SNAP_HOLE);
}

/*
 * [start, end) reads as the object of w->object (shared memory, or what a
 * private mapping of an object no name reaches shows where the target has
 * no copy: see snapper_shared_under()): one placeholder for each page the
 * object holds there (snapper_shared_next()), read after the walk
 * (shared.c), and a hole, zeros through the mapping, for each range where
 * it holds none. Past its end (add_past_end()) a shared mapping has
 * nothing to read; a private one has a hole. At most one slot per page of
 * the range: the caller made room for that many.
 */
static void add_object_pages(struct walk *w, unsigned long start,
			     unsigned long end)
{
	struct vm_area_struct *vma = w->object;
	unsigned long stop = min(end, snapper_shared_end(vma));
	pgoff_t index, last, next;

	last = start < stop ? object_index(vma, stop - PAGE_SIZE) : 0;
	while (start < stop) {
		index = snapper_shared_next(vma, object_index(vma, start),
					    last, &next);
		if (index > last) {
			add_hole_of(w, start, stop, SNAP_HOLE);
			break;
		}
		if (object_addr(vma, index) > start)
			add_hole_of(w, start, object_addr(vma, index),
				    SNAP_HOLE);
		for (start = object_addr(vma, index);
		     index < next && index <= last;
		     index++, start += PAGE_SIZE)
			add_page(w, start | SNAP_OBJECT, NULL);
	}
	add_past_end(w, max(start, stop), end);
}

/*
 * An unpopulated range of a mapping that reports holes (w->holes: its
 * unpopulated pages read as zeros, or with SNAP_FILE as its file), or
 * reads its object (w->object).
 */
static void add_hole(struct walk *w, unsigned long start, unsigned long end)
{
	if (w->object)
		add_object_pages(w, start, end);
	else if (w->holes)
		add_hole_of(w, start, end, w->holes);
}

/*
 * The file's own page in a private file mapping: it reads as the file, so
 * whatever the target had written there before is gone; where the file is
 * an object no name reaches, it is taken from there. Anywhere else a page
 * the target could not have written says nothing.
 */
static void add_file_hole(struct walk *w, unsigned long start,
			  unsigned long end)
{
	if ((w->holes & SNAP_FILE) || w->object)
		add_hole(w, start, end);
}

/*
 * A page lost to a memory error has no content: a hole (the process gets
 * SIGBUS there), even where the mapping otherwise reads its object.
 */
static void add_lost(struct walk *w, unsigned long start, unsigned long end)
{
	if (w->object)
		add_hole_of(w, start, end, SNAP_HOLE);
	else
		add_hole(w, start, end);
}

/*
 * A range that reads as the object, of any size: the room made a piece at
 * a time, each within one page table's worth of pages. Return: 0, or
 * -EAGAIN when there is no room (resume from *@at).
 */
static int add_object_range(struct walk *w, unsigned long start,
			    unsigned long end, unsigned long *at)
{
	struct vm_area_struct *vma = w->object;
	unsigned long next, stop = min(end, snapper_shared_end(vma));
	pgoff_t index, held;
	int ret;

	while (start < end) {
		*at = start;
		ret = ensure_room(w, PTRS_PER_PTE,
				  GFP_NOWAIT | __GFP_NOWARN | __GFP_ACCOUNT);
		if (ret)
			return ret;
		if (start >= stop) {
			add_past_end(w, start, end);
			break;
		}
		/* Across what the object does not hold in one hole. */
		index = snapper_shared_next(vma, object_index(vma, start),
					    object_index(vma, stop - PAGE_SIZE),
					    &held);
		next = min(stop, object_addr(vma, index));
		if (next > start)
			add_hole_of(w, start, next, SNAP_HOLE);
		start = next;
		next = start + min(stop - start,
				   (PTRS_PER_PTE - 1) * PAGE_SIZE);
		add_object_pages(w, start, next);
		start = next;
		if (fatal_signal_pending(current))
			return -EINTR;
	}
	return 0;
}

/*
 * An empty upper-level entry: one hole for its whole range. Return: 0, or
 * -EAGAIN when there is no room (resume from @start).
 */
static int add_upper_hole(struct walk *w, unsigned long start,
			  unsigned long end, unsigned long *at)
{
	int ret = 0;

	if (w->object)
		return add_object_range(w, start, end, at);
	if (w->holes) {
		ret = ensure_room(w, 1, GFP_NOWAIT | __GFP_NOWARN |
					__GFP_ACCOUNT);
		if (ret)
			*at = start;
		else
			add_hole(w, start, end);
	}
	return ret;
}

/* Pages of a file mapping the target could not have written are skipped. */
static bool eligible(struct vm_area_struct *vma, struct folio *folio)
{
	return folio_test_anon(folio) ||
	       (vma->vm_flags & (VM_SHARED | VM_WRITE)) == (VM_SHARED | VM_WRITE);
}

/*
 * A shared writable mapping of a DAX file: its entries point at the file's
 * own memory on the device (ZONE_DEVICE pages, devmap entries, not the page
 * cache), which the target writes in place as it writes the page cache of
 * a file elsewhere. So its pages are taken as those are (eligible(),
 * copied during the freeze). Its write faults make the entry dirty, and
 * so soft-dirty, as any other (insert_pfn() and insert_pfn_pmd() with
 * mkwrite, wp_page_reuse()); each reference taken on such a page is
 * dropped with put_page(), which wakes a truncation waiting for the page
 * to be idle (dax_layout_busy_page()). A private mapping's devmap entry is
 * the file's: a write there copies into an anonymous page.
 */
static bool dax_shared(struct vm_area_struct *vma)
{
	return vma_is_dax(vma) &&
	       (vma->vm_flags & (VM_SHARED | VM_WRITE)) == (VM_SHARED | VM_WRITE);
}

static bool private_anon(struct vm_area_struct *vma, struct folio *folio)
{
	return folio_test_anon(folio) && !(vma->vm_flags & VM_SHARED);
}

/*
 * Whoever holds a pin on a page (io_uring's registered buffers, O_DIRECT in
 * flight, RDMA) may write it through no page-table entry of the target: no
 * write fault, no soft-dirty bit. So a pinned page keeps its entry as it
 * was, soft-dirty and writable, and every checkpoint selects it again while
 * the pin lasts; its content of the instant is copied (it cannot be shared
 * copy-on-write). The kernel's clear_refs does the same for small pages
 * (pte_is_pinned() in fs/proc/task_mmu.c), not for huge ones; here both.
 * Called with the entry cleared or just exchanged: GUP-fast re-checks the
 * entry after it pins, and the exchange orders both, so a pin cannot slip
 * in unseen.
 */
static bool pinned(struct folio *folio)
{
	return folio_maybe_dma_pinned(folio);
}

/*
 * Makes the next write to @page copy instead of reuse, as fork() does.
 * Called with the mapping entry cleared or just exchanged, after pinned()
 * said no.
 */
static void share_anon(struct page *page)
{
	if (PageAnonExclusive(page))
		ClearPageAnonExclusive(page);
}

/*
 * Moved memory. mremap() of a whole page table (2 MiB, source and
 * destination 2 MiB-aligned alike: move_normal_pmd(); 1 GiB alike:
 * move_normal_pud(), which moves a PMD table with the tables and huge
 * entries under it) moves the table itself, its entries untouched, so
 * pages the last walk cleared stay soft-clean at their new place, in a
 * mapping without VM_SOFTDIRTY (copy_vma() copies the flags): soft-dirty
 * alone would never send them. Every other way an entry comes to be marks
 * it soft-dirty (faults, move_ptes(), move_huge_pmd(), UFFDIO_COPY and
 * UFFDIO_MOVE, khugepaged's collapse, 6.1 and 6.12 alike), but for KSM's
 * merge on 6.1, which same_frame() answers, and nothing but a walk clears
 * the bit. So a soft-clean entry is one the last walk cleared,
 * carried since only inside its own table, at its own index: it still maps
 * the address it did then if and only if its table sits where it sat then.
 *
 * A slot's identity is therefore the table its entries live in: the PTE
 * table's page for a PMD entry that points to one, the PMD table's page
 * for a huge entry (a huge entry moves alone only through move_huge_pmd(),
 * which marks it, and inside its PMD table otherwise). Two tables alive at
 * one walk are two pages, and a table freed since carries no entry the
 * last walk cleared, so a page reused for another table is harmless. The
 * low bit tells the two kinds apart; no table is at pfn 0.
 */
static unsigned long table_id(pmd_t *pmdp, pmd_t pmdval)
{
	if (pmd_present(pmdval) && !pmd_trans_huge(pmdval) &&
	    !pmd_devmap(pmdval))
		return pmd_pfn(pmdval) << 1;
	return virt_to_phys(pmdp) >> PAGE_SHIFT << 1 | 1;
}

/* What the last walk found at @slot, or NULL. */
static const struct snapper_table *last_table(const struct snapper_session *s,
					      unsigned long slot)
{
	unsigned int lo = 0, hi = s->nr_tables, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->tables[mid].slot == slot)
			return &s->tables[mid];
		if (s->tables[mid].slot < slot)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Records what sits at @addr's PMD slot, for the next walk. Return: whether
 * every entry of the slot is to be taken, as in a new mapping: the last
 * walk found another table there, or none (only a moved table can hold
 * entries the soft-dirty bits would leave out; a table made since holds
 * none). A huge page split in place leaves a PTE table where the last walk
 * found a huge entry, and is taken too; it costs nothing more, since the
 * split marks every entry soft-dirty where the huge entry was dirty, as
 * it nearly always is (__split_huge_pmd_locked() applies pte_mkdirty(),
 * which sets _PAGE_SOFT_DIRTY on x86, 6.1 and 6.12 alike). Called with
 * room for one more record; the walk goes up the address space, so a slot
 * seen again (a second mapping in it, or a retry) is the last one recorded.
 */
static bool note_table(struct walk *w, pmd_t *pmdp, pmd_t pmdval,
		       unsigned long addr)
{
	struct snapper_snapshot *snap = w->snap;
	unsigned long slot = addr >> PMD_SHIFT, id = table_id(pmdp, pmdval);
	struct snapper_table *t = &snap->tables[snap->nr_tables];
	const struct snapper_table *last = last_table(w->s, slot);

	if (snap->nr_tables && t[-1].slot == slot) {
		t--;
	} else {
		snap->nr_tables++;
		t->frames = snap->nr_frames;
		t->nr_frames = 0;
	}
	t->slot = slot;
	t->id = id;
	w->last_frame = NULL;
	w->last_frames_end = NULL;
	if (last && last->id == id && w->s->frames) {
		w->last_frame = w->s->frames + last->frames;
		w->last_frames_end = w->last_frame + last->nr_frames;
	}
	return !last || last->id != id;
}

/*
 * Whether the record [*@next, @end) of one slot, gone through in address
 * order, has @frame at @addr; *@next moves past the records below @addr.
 */
static bool had_frame(const struct snapper_frame **next,
		      const struct snapper_frame *end, unsigned long addr,
		      unsigned long frame)
{
	const struct snapper_frame *f = *next;

	while (f < end && f->addr < addr)
		f++;
	*next = f;
	return f < end && f->addr == addr && f->frame == frame;
}

/*
 * KSM on 6.1 replaces the entry of a page it merges with one built from
 * the mapping's protection bits (replace_page()): the soft-dirty bit of a
 * write made since the last walk is lost. The walk takes every KSM page
 * for that reason, but a merged page can stop being one before the next
 * walk with its entry still soft-clean: a read-only pin unshares it
 * (process_vm_readv(), O_DIRECT writes, vmsplice(): FAULT_FLAG_UNSHARE),
 * and wp_page_copy() gives the private copy the old entry's soft-dirty
 * bit, none (MADV_UNMERGEABLE unshares too where it breaks merges with
 * FAULT_FLAG_UNSHARE, as 6.12 does; 6.1's write fault marks the entry);
 * a swapped-out KSM page comes back as an ordinary one. (6.12's
 * replace_page() keeps the bit, which makes all of this moot there; the
 * record is kept on every kernel all the same, so that the code is tested
 * where it runs.) Each such page is a new one: its entry mostly maps
 * another frame than at the last walk, or a clean one where the frame
 * came back (unshared()). So in a process seen registered with KSM
 * (MMF_VM_MERGEABLE at a walk, sticky in the session), every private
 * mapping's entries are recorded by their frame (pfn, or swap entry, low
 * bit set), and a soft-clean entry whose frame differs from the one the
 * last walk recorded at that address, or that the last walk did not
 * record, is taken. A page that only migrated (compaction, NUMA) is taken
 * too, as if written. Left unseen: a swap slot the last walk saw at an
 * address, freed by a swap-in and given again to the same address's
 * merged page or its copy, all between two walks (a swap entry has no
 * clean bit to tell it).
 *
 * Records @frame at @addr for the next walk (the caller checked the
 * room). Return: whether the last walk recorded the same frame there.
 */
static bool same_frame(struct walk *w, unsigned long addr, unsigned long frame)
{
	struct snapper_snapshot *snap = w->snap;

	snap->frames[snap->nr_frames].addr = addr;
	snap->frames[snap->nr_frames].frame = frame;
	snap->nr_frames++;
	snap->tables[snap->nr_tables - 1].nr_frames++;
	return had_frame(&w->last_frame, w->last_frames_end, addr, frame);
}

/*
 * The frame is not the page: KSM frees the page it merges, and the copy
 * an unsharing pin then makes for that address (same_frame()) can be
 * given that very frame, the page allocator handing out first what a CPU
 * freed last. The entry tells the copy apart: wp_page_copy() builds it
 * from vm_page_prot, clean, and nothing makes an anonymous entry dirty
 * without marking it soft-dirty on x86 (the CPU writes only through an
 * entry a write fault or mprotect() made writable, both of which mark
 * it; pte_mkdirty() sets both bits), so a soft-clean entry that is dirty
 * (pte_dirty(): also the saved-dirty bit of 6.6+) is one the last walk
 * cleared, on the page it cleared it on. Return: whether the soft-clean
 * anonymous entry @pte may map a page made since the last walk; then it
 * is taken and sent only if its content changed, as KSM's are. A page
 * clean for another reason (read back from swap, given to MADV_FREE,
 * write-protected by KSM for a merge that failed) is hashed at each
 * checkpoint until written.
 */
static bool unshared(pte_t pte, struct folio *folio)
{
	return !pte_dirty(pte) && folio_test_anon(folio);
}

static unsigned long selected(struct walk *w, unsigned long addr,
			      bool soft_dirty)
{
	if (w->snap->full || w->dirty || soft_dirty)
		return 1;
	if (snapper_session_owes(w->s, addr))
		return 1 | SNAPPER_PAGE_F_OWED;
	return 0;
}

/*
 * For a page taken at every checkpoint whether written or not: the flags
 * that make the stream leave it out when its content hash is the base's
 * (a new mapping's pages never are), and its block's hashes kept.
 */
static unsigned long by_hash(struct walk *w, unsigned long addr)
{
	snapper_session_thp_seen(w->s, addr & PMD_MASK, w->snap->ckpt);
	return SNAP_HASHED | (w->vma_dirty ? SNAP_WHOLE : 0);
}

static void pte_present_entry(struct walk *w, struct vm_area_struct *vma,
			      pte_t *ptep, pte_t pte, unsigned long addr)
{
	unsigned long sel;
	struct folio *folio;
	struct page *page;
	bool cow, pin, dirty;
	pte_t old;

	w->snap->stats.scanned++;
	/*
	 * Zeros, in a private file mapping too, at every checkpoint: there
	 * the zero page stands for a copy of the target's own, KSM's merge
	 * of one it zeroed (use_zero_pages; on 6.1 without the soft-dirty
	 * bit of the write) or UFFDIO_ZEROPAGE's fill, which a full
	 * checkpoint must not leave to the file, nor an incremental one to
	 * its base. Only DAX maps it for the file's own hole, shared or not.
	 */
	if (is_zero_pfn(pte_pfn(pte))) {
		if ((vma->vm_flags & VM_SHARED) || vma_is_dax(vma))
			add_file_hole(w, addr, addr + PAGE_SIZE);
		else
			add_hole_of(w, addr, addr + PAGE_SIZE, SNAP_HOLE);
		return;
	}
	/*
	 * Never a copy of the target's own: the object's page. Except in a
	 * shared writable mapping of a DAX file (see dax_shared()).
	 */
	if ((pte_special(pte) || pte_devmap(pte)) &&
	    !(pte_devmap(pte) && dax_shared(vma))) {
		add_file_hole(w, addr, addr + PAGE_SIZE);
		return;
	}
	page = pte_page(pte);
	folio = page_folio(page);
	if (!eligible(vma, folio)) {
		add_file_hole(w, addr, addr + PAGE_SIZE);
		return;
	}
	dirty = pte_soft_dirty(pte);
	if (w->frames && !same_frame(w, addr, pte_pfn(pte) << 1))
		dirty = true;
	sel = selected(w, addr, dirty);
	/*
	 * KSM merges a page into an identical KSM page by installing an entry
	 * built from vm_page_prot (replace_page()), on 6.1 without the
	 * soft-dirty bit of a write made since the last walk (see
	 * same_frame() for the page unshared since). So a KSM page is always
	 * sent, and the stream leaves it out when its content hash is the
	 * base's (session.c). Its content cannot change: every write copies it.
	 * So is every page of a mapping the kernel writes (kernel_written()),
	 * and, where frames are recorded, every clean one (unshared()).
	 */
	if (folio_test_ksm(folio) || w->kernel_writes ||
	    (w->frames && !dirty && unshared(pte, folio)))
		sel |= 1 | by_hash(w, addr);
	if (!sel)
		return;
	folio_get(folio);
	old = ptep_modify_prot_start(vma, addr, ptep);
	pin = pinned(folio);
	cow = !pin && private_anon(vma, folio);
	if (cow)
		share_anon(page);
	ptep_modify_prot_commit(vma, addr, ptep, old, pin ? old :
				pte_clear_soft_dirty(pte_wrprotect(old)));
	/* Selected at every checkpoint: sent only when changed, as KSM's. */
	if (pin)
		sel |= by_hash(w, addr);
	add_page(w, addr | (sel & (SNAPPER_PAGE_F_OWED | SNAP_HASHED |
				   SNAP_WHOLE)) |
		 (cow ? 0 : SNAP_NEED_COPY), page);
}

/*
 * A writable migration entry comes back as a writable PTE, without a fault
 * to mark it soft-dirty again: as mprotect() does, make it readable (an
 * anonymous page stays exclusive, so its next write reuses it and faults).
 */
static swp_entry_t migration_readable(swp_entry_t entry)
{
	if (!is_writable_migration_entry(entry))
		return entry;
	if (folio_test_anon(page_folio(pfn_swap_entry_to_page(entry))))
		return make_readable_exclusive_migration_entry(swp_offset(entry));
	return make_readable_migration_entry(swp_offset(entry));
}

/* For same_frame(): a migrating page's pfn, as if present, or the swap slot. */
static unsigned long swap_frame(swp_entry_t entry)
{
	if (is_migration_entry(entry))
		return page_to_pfn(pfn_swap_entry_to_page(entry)) << 1;
	return entry.val << 1 | 1;
}

static void pte_swap_entry(struct walk *w, struct vm_area_struct *vma,
			   pte_t *ptep, pte_t pte, unsigned long addr)
{
	swp_entry_t entry = pte_to_swp_entry(pte);
	unsigned long sel;
	bool dirty;

	/*
	 * A poisoned page has no content: a hole, as where nothing is
	 * mapped (the process would get SIGBUS there, and a restore leaves
	 * it so). Markers and device-private entries say nothing.
	 */
	if (snapper_entry_poisoned(entry)) {
		add_lost(w, addr, addr + PAGE_SIZE);
		return;
	}
	if (non_swap_entry(entry) && !is_migration_entry(entry))
		return;
	w->snap->stats.scanned++;
	if (is_migration_entry(entry) &&
	    !eligible(vma, page_folio(pfn_swap_entry_to_page(entry)))) {
		add_file_hole(w, addr, addr + PAGE_SIZE);
		return;
	}
	dirty = pte_swp_soft_dirty(pte);
	if (w->frames && !same_frame(w, addr, swap_frame(entry)))
		dirty = true;
	sel = selected(w, addr, dirty);
	if (!sel)
		return;
	if (is_writable_migration_entry(entry))
		set_pte_at(w->mm, addr, ptep,
			   swp_entry_to_pte(migration_readable(entry)));
	else if (pte_swp_soft_dirty(pte))
		set_pte_at(w->mm, addr, ptep, pte_swp_clear_soft_dirty(pte));
	w->snap->stats.swap++;
	add_page(w, addr | (sel & SNAPPER_PAGE_F_OWED) | SNAPPER_PAGE_F_SWAP |
		 SNAP_NEED_READ, NULL);
}

/* Return: 0, or 1 if the PMD changed under us and must be looked at again. */
static int walk_ptes(struct walk *w, struct vm_area_struct *vma, pmd_t *pmdp,
		     pmd_t pmdval, unsigned long addr, unsigned long end)
{
	spinlock_t *ptl;	/* the PTE table's, held for the whole range */
	pte_t *ptep, pte;
	int ret = 0;

	rcu_read_lock();
	ptep = pte_offset_kernel(&pmdval, addr);
	ptl = pte_lockptr(w->mm, &pmdval);
	spin_lock(ptl);
	if (!pmd_same(pmdval, READ_ONCE(*pmdp))) {
		ret = 1;
		goto out;
	}
	for (; addr != end; ptep++, addr += PAGE_SIZE) {
		pte = ptep_get(ptep);
		/*
		 * A uffd-wp marker is an empty entry that userfaultfd
		 * write-protects (UFFD_FEATURE_WP_UNPOPULATED, 6.4+, and
		 * file memory zapped under UFFD-WP): it reads as no entry.
		 */
		if (pte_none(pte) || pte_marker_uffd_wp(pte))
			add_hole(w, addr, addr + PAGE_SIZE);
		else if (pte_present(pte))
			pte_present_entry(w, vma, ptep, pte, addr);
		else
			pte_swap_entry(w, vma, ptep, pte, addr);
	}
out:
	spin_unlock(ptl);
	rcu_read_unlock();
	return ret;
}

/*
 * Whether the 2 MiB of a present huge entry at @addr are taken: at a full
 * checkpoint, when the entry is soft-dirty, or when the session owes a
 * page in it (*@flags gains SNAPPER_PAGE_F_OWED). A new or grown mapping
 * comes whole (SNAP_WHOLE): the store drops its base.
 */
static bool pmd_selected(struct walk *w, pmd_t pmdval, unsigned long addr,
			 unsigned long *flags)
{
	if (!w->snap->full && !w->dirty && !w->kernel_writes &&
	    !pmd_soft_dirty(pmdval)) {
		if (!snapper_session_owes_range(w->s, addr,
						addr + HPAGE_PMD_SIZE))
			return false;
		*flags |= SNAPPER_PAGE_F_OWED;
	}
	if (w->vma_dirty)
		*flags |= SNAP_WHOLE;
	return true;
}

/* @addr is the huge page's, aligned to HPAGE_PMD_SIZE. */
static void pmd_thp(struct walk *w, struct vm_area_struct *vma, pmd_t *pmdp,
		    pmd_t pmdval, unsigned long addr)
{
	struct page *page = pmd_page(pmdval);
	struct folio *folio = page_folio(page);
	unsigned long flags = SNAPPER_PAGE_F_THP;
	pmd_t new, old;
	int i;

	w->snap->stats.scanned += HPAGE_PMD_NR;
	snapper_session_thp_seen(w->s, addr, w->snap->ckpt);
	/*
	 * In a private anonymous mapping a folio that is not anonymous is
	 * the huge zero page (is_huge_zero_pmd() needs huge_zero_pfn, which
	 * is not exported).
	 */
	if (vma_is_anonymous(vma) && !folio_test_anon(folio)) {
		add_hole(w, addr, addr + HPAGE_PMD_SIZE);
		return;
	}
	if (!eligible(vma, folio)) {
		add_file_hole(w, addr, addr + HPAGE_PMD_SIZE);
		return;		/* an untouched file */
	}
	if (!pmd_selected(w, pmdval, addr, &flags))
		return;
	folio_ref_add(folio, HPAGE_PMD_NR);
	new = pmd_clear_soft_dirty(pmd_wrprotect(pmdval));
	old = pmdp_establish(vma, addr, pmdp, new);
	if (pinned(folio)) {
		/* As it was: see pinned(). */
		set_pmd_at(w->mm, addr, pmdp, old);
		flags |= SNAP_NEED_COPY;
	} else {
		/* Written through a stale TLB entry meanwhile: still changed. */
		if (pmd_dirty(old) && !pmd_dirty(pmdval))
			set_pmd_at(w->mm, addr, pmdp, pmd_mkdirty(new));
		if (private_anon(vma, folio))
			share_anon(page);
		else
			flags |= SNAP_NEED_COPY;
	}
	w->snap->stats.thp++;
	for (i = 0; i < HPAGE_PMD_NR; i++)
		add_page(w, (addr + i * PAGE_SIZE) | flags, nth_page(page, i));
}

/*
 * A PMD of a shared writable DAX mapping (dax_shared()): 2 MiB of the
 * file's memory, taken as pmd_thp() takes a huge page of the page cache,
 * every subpage when the entry is soft-dirty, each copied during the
 * freeze. On 6.1 and 6.12 the 512 pages are not one folio: each has a
 * count of its own, and a reference of its own is taken on each. @addr is
 * aligned to HPAGE_PMD_SIZE.
 */
static void pmd_dax(struct walk *w, struct vm_area_struct *vma, pmd_t *pmdp,
		    pmd_t pmdval, unsigned long addr)
{
	struct page *page = pmd_page(pmdval);
	unsigned long flags = SNAPPER_PAGE_F_THP | SNAP_NEED_COPY;
	bool pin = false;
	pmd_t new, old;
	int i;

	w->snap->stats.scanned += HPAGE_PMD_NR;
	snapper_session_thp_seen(w->s, addr, w->snap->ckpt);
	if (!pmd_selected(w, pmdval, addr, &flags))
		return;
	for (i = 0; i < HPAGE_PMD_NR; i++)
		get_page(nth_page(page, i));
	new = pmd_clear_soft_dirty(pmd_wrprotect(pmdval));
	old = pmdp_establish(vma, addr, pmdp, new);
	for (i = 0; i < HPAGE_PMD_NR && !pin; i++)
		pin = pinned(page_folio(nth_page(page, i)));
	if (pin)		/* as it was: see pinned() */
		set_pmd_at(w->mm, addr, pmdp, old);
	else if (pmd_dirty(old) && !pmd_dirty(pmdval))
		set_pmd_at(w->mm, addr, pmdp, pmd_mkdirty(new));
	w->snap->stats.thp++;
	for (i = 0; i < HPAGE_PMD_NR; i++)
		add_page(w, (addr + i * PAGE_SIZE) | flags, nth_page(page, i));
}

static void pmd_migration(struct walk *w, struct vm_area_struct *vma,
			  pmd_t *pmdp, pmd_t pmdval, unsigned long addr)
{
	unsigned long flags = SNAPPER_PAGE_F_THP | SNAPPER_PAGE_F_SWAP |
			      SNAP_NEED_READ;
	swp_entry_t entry = pmd_to_swp_entry(pmdval);
	int i;

	w->snap->stats.scanned += HPAGE_PMD_NR;
	if (!is_migration_entry(entry))
		return;
	if (!eligible(vma, page_folio(pfn_swap_entry_to_page(entry)))) {
		add_file_hole(w, addr, addr + HPAGE_PMD_SIZE);
		return;
	}
	if (!w->snap->full && !w->dirty && !pmd_swp_soft_dirty(pmdval)) {
		if (!snapper_session_owes_range(w->s, addr,
						addr + HPAGE_PMD_SIZE))
			return;
		flags |= SNAPPER_PAGE_F_OWED;
	}
	if (is_writable_migration_entry(entry))
		set_pmd_at(w->mm, addr, pmdp,
			   swp_entry_to_pmd(migration_readable(entry)));
	else if (pmd_swp_soft_dirty(pmdval))
		set_pmd_at(w->mm, addr, pmdp, pmd_swp_clear_soft_dirty(pmdval));
	w->snap->stats.swap += HPAGE_PMD_NR;
	for (i = 0; i < HPAGE_PMD_NR; i++)
		add_page(w, (addr + i * PAGE_SIZE) | flags, NULL);
}

/*
 * Return: 0, or 1 if the PMD is no longer huge and must be looked at again.
 * @addr may lie inside the huge page when a walk resumes there (after
 * dropping the mmap lock) or a mapping starts there: the huge page's
 * subpages are recorded from its aligned start.
 */
static int walk_huge_pmd(struct walk *w, struct vm_area_struct *vma,
			 pmd_t *pmdp, unsigned long addr)
{
	spinlock_t *ptl = pmd_lock(w->mm, pmdp);
	pmd_t pmdval = *pmdp;
	int ret = 0;

	addr &= HPAGE_PMD_MASK;
	/*
	 * A migration entry first: the offset bits of a swap PMD overlap
	 * _PAGE_DEVMAP on x86, so pmd_devmap() is true for nearly all of them.
	 */
	if (!pmd_none(pmdval) && !pmd_present(pmdval))
		pmd_migration(w, vma, pmdp, pmdval, addr);
	else if (pmd_devmap(pmdval) && dax_shared(vma))
		pmd_dax(w, vma, pmdp, pmdval, addr);
	else if (pmd_devmap(pmdval))	/* DAX: the file's page */
		add_file_hole(w, addr, addr + HPAGE_PMD_SIZE);
	else if (pmd_trans_huge(pmdval))
		pmd_thp(w, vma, pmdp, pmdval, addr);
	else
		ret = 1;
	spin_unlock(ptl);
	return ret;
}

static int walk_pmd(struct walk *w, struct vm_area_struct *vma, pmd_t *pmdp,
		    unsigned long addr, unsigned long end)
{
	pmd_t pmdval;
	int ret;

	ret = ensure_room(w, max(PTRS_PER_PMD, PTRS_PER_PTE),
			  GFP_NOWAIT | __GFP_NOWARN | __GFP_ACCOUNT);
	if (ret)
		return ret;
	if (w->snap->nr_tables == w->snap->cap_tables ||
	    (w->frames &&
	     w->snap->cap_frames - w->snap->nr_frames < PTRS_PER_PTE))
		return -EAGAIN;		/* walk_locked() makes room */
	do {
		pmdval = READ_ONCE(*pmdp);
		if (pmd_none(pmdval)) {
			add_hole(w, addr, end);
			return 0;
		}
		w->dirty = w->vma_dirty;
		if (note_table(w, pmdp, pmdval, addr))
			w->dirty = true;
		if (!pmd_present(pmdval) || pmd_trans_huge(pmdval) ||
		    pmd_devmap(pmdval))
			ret = walk_huge_pmd(w, vma, pmdp, addr);
		else if (!pmd_bad(pmdval))
			ret = walk_ptes(w, vma, pmdp, pmdval, addr, end);
		else
			ret = 0;	/* pmd_bad() reported the corrupt table */
	} while (ret == 1);
	return ret;
}

static int walk_pud(struct walk *w, struct vm_area_struct *vma, pud_t *pud,
		    unsigned long addr, unsigned long end, unsigned long *at)
{
	unsigned long next;
	pmd_t *pmdp;
	int ret;

	pmdp = pmd_offset(pud, addr);
	do {
		next = pmd_addr_end(addr, end);
		*at = addr;
		ret = walk_pmd(w, vma, pmdp, addr, next);
		if (ret)
			return ret;
	} while (pmdp++, addr = next, addr != end);
	return 0;
}

static int walk_p4d(struct walk *w, struct vm_area_struct *vma, p4d_t *p4d,
		    unsigned long addr, unsigned long end, unsigned long *at)
{
	unsigned long next;
	pud_t *pud;
	int ret;

	pud = pud_offset(p4d, addr);
	do {
		next = pud_addr_end(addr, end);
		if (pud_none(*pud)) {
			ret = add_upper_hole(w, addr, next, at);
			if (ret)
				return ret;
			continue;
		}
		/* PUD-sized entries are DAX only: device memory, skipped. */
		if (pud_bad(*pud) || pud_trans_huge(*pud) || pud_devmap(*pud))
			continue;
		ret = walk_pud(w, vma, pud, addr, next, at);
		if (ret)
			return ret;
	} while (pud++, addr = next, addr != end);
	return 0;
}

static int walk_range(struct walk *w, struct vm_area_struct *vma,
		      unsigned long addr, unsigned long end, unsigned long *at)
{
	unsigned long next, p4next;
	pgd_t *pgd;
	p4d_t *p4d;
	int ret;

	mmap_assert_write_locked(w->mm);
	pgd = pgd_offset(w->mm, addr);
	do {
		next = pgd_addr_end(addr, end);
		if (pgd_none(*pgd)) {
			ret = add_upper_hole(w, addr, next, at);
			if (ret)
				return ret;
			continue;
		}
		if (pgd_bad(*pgd))
			continue;
		p4d = p4d_offset(pgd, addr);
		do {
			p4next = p4d_addr_end(addr, next);
			if (p4d_none(*p4d)) {
				ret = add_upper_hole(w, addr, p4next, at);
				if (ret)
					return ret;
				continue;
			}
			if (p4d_bad(*p4d))
				continue;
			ret = walk_p4d(w, vma, p4d, addr, p4next, at);
			if (ret)
				return ret;
		} while (p4d++, addr = p4next, addr != next);
	} while (pgd++, addr = next, addr != end);
	return 0;
}

/*
 * The entry that maps the hugetlb page of @addr in @mm, as huge_pte_offset()
 * (not exported) finds it: the PUD itself for a PUD-sized page, else the
 * PMD (check_mm() lets no other size in). NULL where no table leads there.
 * Private hugetlb mappings never share their page tables (PMD sharing is
 * for VM_MAYSHARE only, which a MAP_SHARED mapping of a file opened
 * read-only has without VM_SHARED: walk_vmas() leaves those out), and
 * those of our mm are freed only under its mmap lock, which the walk
 * holds.
 */
static pte_t *hugetlb_entry(struct mm_struct *mm, unsigned long addr,
			    unsigned long size)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	p4d_t *p4d;
	pud_t *pud;

	if (!pgd_present(*pgd))
		return NULL;
	p4d = p4d_offset(pgd, addr);
	if (!p4d_present(*p4d))
		return NULL;
	pud = pud_offset(p4d, addr);
	if (size == PUD_SIZE)
		return (pte_t *)pud;
	if (!pud_present(*pud))
		return NULL;
	return (pte_t *)pmd_offset(pud, addr);
}

/*
 * [@addr, @end) within one hugetlb page of a private mapping, at most
 * PMD_SIZE. Its entry, read under the lock the kernel's hugetlb code takes
 * (huge_pte_lock()), is one of:
 *  - none (or a uffd-wp marker, as in walk_ptes()): a hole, zeros where
 *    the object has no page (always so for MAP_ANONYMOUS), else the
 *    file's;
 *  - present: the file's own page (not eligible, as for small pages), or
 *    the target's: each subpage referenced and left as a placeholder,
 *    which shared.c copies and hashes before the thaw and keeps only if
 *    changed. Hugetlb entries have no soft-dirty bit (the kernel's fault
 *    paths do not set it, pagemap reports only VM_SOFTDIRTY for them),
 *    and a hugetlb write fault reuses a page mapped once whatever its
 *    count (hugetlb_wp()), so copy-on-write cannot keep the instant
 *    either: every present page is read at every checkpoint;
 *  - a migration entry: read in through the mm before the thaw, as a
 *    migrating small page is (GUP waits for the migration);
 *  - poisoned: a hole, as in pte_swap_entry();
 *  - anything else (another marker): says nothing.
 */
static void hugetlb_step(struct walk *w, struct vm_area_struct *vma,
			 struct hstate *h, unsigned long addr, unsigned long end)
{
	unsigned long haddr = addr & huge_page_mask(h);
	struct folio *folio;
	struct page *page;
	swp_entry_t entry;
	spinlock_t *ptl;	/* huge_pte_lock(): the PMD's, or the mm's for a PUD */
	pte_t *ptep, pte;

	ptep = hugetlb_entry(w->mm, haddr, huge_page_size(h));
	if (!ptep) {
		add_hole(w, addr, end);
		return;
	}
	ptl = huge_pte_lock(h, w->mm, ptep);
	pte = snapper_huge_ptep_get(w->mm, haddr, ptep);
	if (huge_pte_none(pte) || pte_marker_uffd_wp(pte)) {
		add_hole(w, addr, end);
	} else if (pte_present(pte)) {
		page = pte_page(pte);
		folio = page_folio(page);
		if (!eligible(vma, folio)) {
			add_file_hole(w, addr, end);
		} else {
			folio_ref_add(folio, (end - addr) >> PAGE_SHIFT);
			for (; addr < end; addr += PAGE_SIZE)
				add_page(w, addr | SNAP_OBJECT,
					 nth_page(page, (addr - haddr) >> PAGE_SHIFT));
		}
	} else {
		entry = pte_to_swp_entry(pte);
		w->snap->stats.scanned += (end - addr) >> PAGE_SHIFT;
		if (is_migration_entry(entry)) {
			w->snap->stats.swap += (end - addr) >> PAGE_SHIFT;
			for (; addr < end; addr += PAGE_SIZE)
				add_page(w, addr | SNAPPER_PAGE_F_SWAP |
					 SNAP_NEED_READ, NULL);
		} else if (snapper_entry_poisoned(entry)) {
			add_lost(w, addr, end);
		}
	}
	spin_unlock(ptl);
}

/*
 * A private hugetlb mapping, PMD_SIZE at a time (a PUD-sized page too, so
 * that the room needed stays that of one page table).
 */
static int walk_hugetlb(struct walk *w, struct vm_area_struct *vma,
			unsigned long addr, unsigned long end, unsigned long *at)
{
	struct hstate *h = hstate_vma(vma);
	unsigned long next;
	int ret;

	for (; addr < end; addr = next) {
		next = min(end, (addr & PMD_MASK) + PMD_SIZE);
		*at = addr;
		ret = ensure_room(w, PTRS_PER_PTE,
				  GFP_NOWAIT | __GFP_NOWARN | __GFP_ACCOUNT);
		if (ret)
			return ret;
		hugetlb_step(w, vma, h, addr, next);
	}
	return 0;
}

static u32 vma_prot(vm_flags_t f)
{
	return (f & VM_READ ? PROT_READ : 0) | (f & VM_WRITE ? PROT_WRITE : 0) |
	       (f & VM_EXEC ? PROT_EXEC : 0);
}

/*
 * Soft-dirty tracking starts for a VMA when VM_SOFTDIRTY is cleared; a
 * shared writable mapping must then lose write permission in vm_page_prot
 * so that the first write faults and marks its PTE, as vma_set_page_prot()
 * (not exported) makes it do through vma_wants_writenotify().
 */
static void vma_start_tracking(struct vm_area_struct *vma)
{
	vm_flags_t flags = vma->vm_flags & ~VM_SOFTDIRTY;
	pgprot_t prot;

	/* Takes the VMA's write lock first: see compat.h. */
	snapper_vma_clear_flags(vma, VM_SOFTDIRTY);
	if ((flags & (VM_SHARED | VM_WRITE)) == (VM_SHARED | VM_WRITE))
		flags &= ~VM_SHARED;
	prot = snapper_pgprot_modify(vma->vm_page_prot, vm_get_page_prot(flags));
	WRITE_ONCE(vma->vm_page_prot, prot);
}

/*
 * Secretmem pages are taken out of the kernel's direct map: copying one
 * from here faults. GUP, /proc/PID/mem and core dumps refuse them too.
 * vma_is_secretmem() and secretmem_aops are not exported; the pseudo
 * file system's magic number identifies the file on 6.1 and 6.12 alike.
 * guest_memfd cannot be mapped on either kernel (it has no mmap).
 */
static bool kernel_unreadable(struct vm_area_struct *vma)
{
	return vma->vm_file &&
	       file_inode(vma->vm_file)->i_sb->s_magic == SECRETMEM_MAGIC;
}

/*
 * A writable shared mapping of a kernel object that is neither a file's
 * page cache (regular or block device) nor shmem (read from its object:
 * shared.c): io_uring's rings, perf's ring buffer, a packet socket's ring,
 * a driver's buffer. The kernel writes such pages through its own mapping
 * of them: no fault, no soft-dirty bit. Every present page of it is taken
 * at every checkpoint, and sent when its content changed (as KSM's, in
 * pte_present_entry()).
 */
static bool kernel_written(struct vm_area_struct *vma)
{
	umode_t mode;

	if ((vma->vm_flags & (VM_SHARED | VM_WRITE)) != (VM_SHARED | VM_WRITE) ||
	    !vma->vm_file)
		return false;
	mode = file_inode(vma->vm_file)->i_mode;
	return !S_ISREG(mode) && !S_ISBLK(mode);
}

/* Return: the SNAPPER_VMA_F_* flags of a mapping whose pages are not read. */
static u32 vma_skipped(struct vm_area_struct *vma)
{
	if (vma->vm_flags & (VM_PFNMAP | VM_IO))
		return SNAPPER_VMA_F_SKIPPED;
	if (kernel_unreadable(vma))
		return SNAPPER_VMA_F_SKIPPED | SNAPPER_VMA_F_UNREADABLE;
	return 0;
}

static int check_mm(struct mm_struct *mm, struct netlink_ext_ack *extack)
{
	VMA_ITERATOR(vmi, mm, 0);
	struct vm_area_struct *vma;

	mmap_assert_locked(mm);
	if (mm_has_notifiers(mm)) {
		NL_SET_ERR_MSG_MOD(extack,
				   "target has MMU notifiers (KVM, RDMA or SVA): its pages can change unseen");
		return -EOPNOTSUPP;
	}
	for_each_vma(vmi, vma) {
		/* x86-64's sizes; walk_hugetlb() knows no other. */
		if (is_vm_hugetlb_page(vma) &&
		    huge_page_size(hstate_vma(vma)) != PMD_SIZE &&
		    huge_page_size(hstate_vma(vma)) != PUD_SIZE) {
			NL_SET_ERR_MSG_MOD(extack,
					   "target has hugetlb mappings of a page size not supported");
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

/* Records the layout and starts tracking new VMAs: the first change made. */
static int collect_vmas(struct walk *w)
{
	struct snapper_snapshot *snap = w->snap;
	struct mm_struct *mm = w->mm;
	VMA_ITERATOR(vmi, mm, 0);
	struct snapper_snap_vma *r;
	struct vm_area_struct *vma;

	mmap_assert_write_locked(mm);
	if (mm->map_count > snap->cap_vmas)
		return -EAGAIN;
	for_each_vma(vmi, vma) {
		if (WARN_ON_ONCE(snap->nr_vmas == snap->cap_vmas))
			return -EAGAIN;
		r = &snap->vmas[snap->nr_vmas++];
		r->start = vma->vm_start;
		r->end = vma->vm_end;
		r->pgoff = vma->vm_pgoff;
		r->prot = vma_prot(vma->vm_flags);
		r->flags = 0;
		/* MAP_SHARED, as maps' 's': a file opened read-only too. */
		if (vma->vm_flags & VM_MAYSHARE)
			r->flags |= SNAPPER_VMA_F_SHARED;
		if (vma->vm_flags & VM_GROWSDOWN)
			r->flags |= SNAPPER_VMA_F_STACK;
		if (vma->vm_start <= mm->brk && vma->vm_end >= mm->start_brk &&
		    !vma->vm_file)
			r->flags |= SNAPPER_VMA_F_HEAP;
		if (vma->vm_file) {
			r->flags |= SNAPPER_VMA_F_FILE;
			r->file = get_file(vma->vm_file);
		}
		if (vma_skipped(vma)) {
			r->flags |= vma_skipped(vma);
			continue;
		}
		if (vma->vm_flags & VM_SOFTDIRTY) {
			r->flags |= SNAPPER_VMA_F_SOFTDIRTY;
			snap->stats.vma_softdirty++;
			vma_start_tracking(vma);
		}
	}
	return 0;
}

static void flush_all(void *unused)
{
	__flush_tlb_all();
}

/*
 * Stale writable TLB entries would let writes bypass the faults that set
 * soft-dirty again (and write into the pages kept for copy-on-write).
 *
 * No exported API does this: flush_tlb_mm_range() is not exported on 6.1
 * or 6.12 (Module.symvers), and flush_tlb_mm() and inc_mm_tlb_gen() sit
 * under #ifndef MODULE in asm/tlbflush.h. So this does what
 * inc_mm_tlb_gen() does, then flushes the CPUs in mm_cpumask(). Writing
 * tlb_gen from here is correct with PCID because of how switch_mm_irqs_off()
 * reads it (the same on 6.1 and 6.12):
 *  - a CPU not in mm_cpumask() may still hold entries of this mm tagged
 *    with a PCID slot it keeps; when it loads the mm again,
 *    choose_new_asid() flushes that slot because the slot's recorded
 *    generation is now older than tlb_gen;
 *  - a lazy CPU returning to this mm compares the same two and flushes;
 *  - the CPUs in mm_cpumask() flush now, every PCID and (under PTI) the
 *    user half too: __flush_tlb_all() is the only exported local flush.
 *    They leave their slot's generation behind tlb_gen, so the kernel's
 *    next flush_tlb_func() there is a full one: never less than needed,
 *    and tlb_gen only grows, so its local <= mm generation checks hold.
 * atomic64_inc_return() is a full barrier after the page table writes,
 * as is switch_mm's setting of its bit in mm_cpumask() before it reads
 * tlb_gen: either that CPU is in the mask read below or it sees the new
 * generation.
 */
static void flush_mm(struct mm_struct *mm)
{
	atomic64_inc_return(&mm->context.tlb_gen);
	on_each_cpu_mask(mm_cpumask(mm), flush_all, NULL, true);
}

/*
 * Which holes a mapping reports: in a private anonymous one a page without
 * an entry reads as zeros; in a private file one it reads as the file,
 * which matters only to a generation built on a base that may hold the
 * target's own copy there. A shared mapping's content is its object's.
 */
static unsigned long hole_kind(const struct walk *w,
			       struct vm_area_struct *vma)
{
	if (vma_is_anonymous(vma))
		return SNAP_HOLE;
	/*
	 * MAP_ANONYMOUS|MAP_HUGETLB maps a file of its own, which a private
	 * mapping never adds a page to: no page there reads as zeros.
	 */
	if (is_vm_hugetlb_page(vma) && !(vma->vm_flags & VM_MAYSHARE) &&
	    !vma->vm_file->f_mapping->nrpages)
		return SNAP_HOLE;
	if (w->snap->file_holes && !(vma->vm_flags & VM_SHARED))
		return SNAP_HOLE | SNAP_FILE;
	return 0;
}

/*
 * Walks every recorded VMA from @idx and @at on. Return: 0, -EAGAIN after
 * running out of preallocated room (resume from @idx and @at), or -errno.
 */
static int walk_vmas(struct walk *w, unsigned int *idx, unsigned long *at)
{
	struct snapper_snapshot *snap = w->snap;
	struct vm_area_struct *vma;
	unsigned long start, end;
	bool covers;
	int ret;

	for (; *idx < snap->nr_vmas; (*idx)++, *at = 0) {
		struct snapper_snap_vma *r = &snap->vmas[*idx];

		if (r->flags & SNAPPER_VMA_F_SKIPPED)
			continue;
		/*
		 * Each mapping now in the record's range: one, unless the
		 * range was split (a monitor's UFFDIO_REGISTER, say) or
		 * merged with a neighbour (an mprotect() that waited for the
		 * lock) while a resume had the lock dropped. A mapping that
		 * now goes on past the record's end is left at its end: the
		 * next record, or none, covers the rest.
		 */
		while ((start = max(*at, r->start)) < r->end &&
		       (vma = find_vma(w->mm, start)) &&
		       vma->vm_start < r->end) {
			start = max(start, vma->vm_start);
			end = min(r->end, vma->vm_end);
			/* Changed while the lock was dropped: take all of it. */
			w->vma_dirty = (r->flags & SNAPPER_VMA_F_SOFTDIRTY) ||
				       vma->vm_start != r->start ||
				       vma->vm_end != r->end;
			w->dirty = w->vma_dirty;
			w->kernel_writes = kernel_written(vma);
			w->frames = snap->ksm && !(vma->vm_flags & VM_SHARED);
			w->holes = hole_kind(w, vma);
			w->last = NULL;
			covers = snapper_shared_covers(vma);
			w->object = covers || snapper_shared_under(vma) ?
				    vma : NULL;
			if (vma_skipped(vma))
				ret = 0;
			else if (covers)	/* shared.c */
				ret = add_object_range(w, start, end, at);
			else if (!is_vm_hugetlb_page(vma))
				ret = walk_range(w, vma, start, end, at);
			else if (!(vma->vm_flags & VM_MAYSHARE))
				ret = walk_hugetlb(w, vma, start, end, at);
			else
				ret = 0;	/* a named file's, read-only */
			if (ret)
				return ret;
			*at = end;
		}
	}
	return 0;
}

/* Room for @cap records of what the walk finds at each PMD slot. */
static int grow_tables(struct snapper_snapshot *snap, unsigned int cap)
{
	struct snapper_table *t;

	t = kvmalloc_array(cap, sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return -ENOMEM;
	if (snap->nr_tables)
		memcpy(t, snap->tables, snap->nr_tables * sizeof(*t));
	kvfree(snap->tables);
	snap->tables = t;
	snap->cap_tables = cap;
	return 0;
}

static unsigned long estimate_pages(struct mm_struct *mm, bool full)
{
	unsigned long n;

	mmap_read_lock(mm);
	n = get_mm_rss(mm) + get_mm_counter(mm, MM_SWAPENTS);
	mmap_read_unlock(mm);
	return full ? n + PTRS_PER_PTE : n / 8 + PTRS_PER_PTE;
}

/* Room for @cap frame records (see same_frame()). */
static int grow_frames(struct snapper_snapshot *snap, unsigned long cap)
{
	struct snapper_frame *f;

	if (cap > UINT_MAX / 2)
		return -ENOMEM;
	f = kvmalloc_array(cap, sizeof(*f), GFP_KERNEL_ACCOUNT);
	if (!f)
		return -ENOMEM;
	if (snap->nr_frames)
		memcpy(f, snap->frames, snap->nr_frames * sizeof(*f));
	kvfree(snap->frames);
	snap->frames = f;
	snap->cap_frames = cap;
	return 0;
}

/* What walk_pmd() ran out of, made room for. */
static int make_room(struct walk *w)
{
	struct snapper_snapshot *snap = w->snap;

	if (snap->nr_tables == snap->cap_tables)
		return grow_tables(snap, 2 * snap->cap_tables);
	if (w->frames && snap->cap_frames - snap->nr_frames < PTRS_PER_PTE)
		return grow_frames(snap, max_t(unsigned long,
					       2 * snap->cap_frames,
					       estimate_pages(w->mm, true)));
	return ensure_room(w, w->room + SNAP_GROW_CHUNKS * SNAP_CHUNK_PAGES,
			   GFP_KERNEL_ACCOUNT);
}

/*
 * Every exit after walk_vmas() ran, error or not, flushes: it may have
 * write-protected entries (and the target stays frozen until then).
 */
static int walk_locked(struct walk *w, struct netlink_ext_ack *extack)
{
	struct mm_struct *mm = w->mm;
	unsigned long at = 0;
	unsigned int idx = 0;
	bool walked = false;
	ktime_t t0;
	int ret;

	for (;;) {
		if (mmap_write_lock_killable(mm)) {
			ret = -EINTR;
			goto out_flush;
		}
		t0 = ktime_get();
		ret = check_mm(mm, extack);
		if (ret)
			goto out_unlock;
		/* Decided once, under the lock madvise() and prctl() take. */
		if (!walked && test_bit(MMF_VM_MERGEABLE, &mm->flags))
			w->s->ksm = true;
		w->snap->ksm = w->s->ksm;
		if (!w->snap->nr_vmas) {
			ret = collect_vmas(w);
			if (ret == -EAGAIN) {
				/* Only now is the count stable: retry larger. */
				unsigned int cap = mm->map_count + 16;

				mmap_write_unlock(mm);
				kvfree(w->snap->vmas);
				w->snap->nr_vmas = 0;
				w->snap->vmas = kvcalloc(cap, sizeof(*w->snap->vmas),
							 GFP_KERNEL_ACCOUNT);
				if (!w->snap->vmas) {
					ret = -ENOMEM;
					goto out_flush;
				}
				w->snap->cap_vmas = cap;
				continue;
			}
		}
		ret = walk_vmas(w, &idx, &at);
		walked = true;
		if (ret != -EAGAIN)
			break;
		mmap_write_unlock(mm);
		w->snap->stats.walk_us += ktime_us_delta(ktime_get(), t0);
		ret = make_room(w);
		if (ret)
			goto out_flush;
	}
out_unlock:
	if (walked)
		flush_mm(mm);
	mmap_write_unlock(mm);
	w->snap->stats.walk_us += ktime_us_delta(ktime_get(), t0);
	return ret;

out_flush:
	if (walked)
		flush_mm(mm);
	return ret;
}

/**
 * snapper_copy_page() - copy a page of the target into a page of ours
 * @to: the copy, a lowmem page
 * @from: the target's page
 *
 * A machine check in the source page (memory with an uncorrectable error)
 * fails the checkpoint instead of the machine: copy_mc_to_kernel() returns
 * what it could not copy.
 *
 * Return: 0, or -EIO.
 */
int snapper_copy_page(struct page *to, struct page *from)
{
	void *src = kmap_local_page(from);
	unsigned long left;

	left = copy_mc_to_kernel(page_address(to), src, PAGE_SIZE);
	kunmap_local(src);
	return left ? -EIO : 0;
}

static int copy_one(struct page *to, struct page *from,
		    struct netlink_ext_ack *extack)
{
	int ret = snapper_copy_page(to, from);

	if (ret)
		NL_SET_ERR_MSG_MOD(extack, "a page of the target has a memory error");
	return ret;
}

/*
 * Faults in the page at @addr of @mm (the caller holds the mmap lock) and
 * returns it referenced, or ERR_PTR() of get_user_pages_remote()'s error.
 *
 * The fault maps the page young, as the target's own access would; but
 * get_user_pages_remote() also marks it accessed (FOLL_TOUCH, not ours to
 * leave out), and a mapped page found both young and marked is activated
 * by the first reclaim that looks at it (folio_check_references()), where
 * a page the target faulted in only once is reclaimed on the second look.
 * Reading a swapped-out region into a memory cgroup at its limit thus
 * left every page just read on the active list, and reclaim nothing it
 * could take at once: the cgroup's OOM killer took the target (pressure
 * test, debug kernel, classic LRU). Our read is no use of the page by the
 * target: the mark is taken back. A page marked before it (on its second
 * use) was activated instead, and stays so.
 */
static struct page *fault_in(struct mm_struct *mm, unsigned long addr)
{
	struct page *page;
	long ret = snapper_gup_remote(mm, addr, FOLL_FORCE, &page);

	if (ret != 1)
		return ERR_PTR(ret < 0 ? ret : -EFAULT);
	folio_clear_referenced(page_folio(page));
	return page;
}

/*
 * Reads in a page the walk found swapped out or migrating, through the mm:
 * the thread the checkpoint was asked for may have exited meanwhile.
 */
static int read_page(struct mm_struct *mm, unsigned long addr,
		     struct page *copy, struct netlink_ext_ack *extack)
{
	struct page *page;
	int ret;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	page = fault_in(mm, addr);
	mmap_read_unlock(mm);
	/*
	 * -EFAULT: the fault would be SIGBUS for the target too: its swap-in
	 * failed (a read error of the swap device). The page is not lost
	 * for good, as a shmem page is (shared.c): the swap entry stays, and
	 * a read after the swap cache drops the failed folio may succeed.
	 */
	if (PTR_ERR_OR_ZERO(page) == -EFAULT)
		NL_SET_ERR_MSG_MOD(extack,
				   "a swapped-out page of the target could not be read in (a swap read error?)");
	if (IS_ERR(page))
		return -EIO;
	ret = copy_one(copy, page, extack);
	put_page(page);
	return ret;
}

/* Replaces @p's page by a private copy of its content. */
static int copy_private(struct mm_struct *mm, struct snapper_snap_page *p,
			struct netlink_ext_ack *extack)
{
	struct page *copy = alloc_page(GFP_KERNEL_ACCOUNT);
	int ret;

	if (!copy)
		return -ENOMEM;
	if (p->addr & SNAP_NEED_COPY)
		ret = copy_one(copy, p->page, extack);
	else
		ret = read_page(mm, p->addr & PAGE_MASK, copy, extack);
	if (ret) {
		__free_page(copy);
		return ret;
	}
	if (p->addr & SNAP_NEED_COPY)
		put_page(p->page);
	else
		snapper_stats_add(SNAPPER_STAT_PAGES_HELD, 1);
	p->page = copy;
	p->addr &= ~(SNAP_NEED_COPY | SNAP_NEED_READ);
	p->addr |= SNAPPER_PAGE_F_COPIED;
	return 0;
}

/* Gives every page that copy-on-write does not protect a private copy. */
static int copy_pages(struct mm_struct *mm, struct snapper_snapshot *snap,
		      struct netlink_ext_ack *extack)
{
	struct snapper_snap_chunk *c;
	struct snapper_snap_page *p;
	unsigned long i;
	int ret;

	for (c = snap->head; c; c = c->next) {
		for (i = 0; i < c->nr; i++) {
			p = &c->pages[i];
			if (!(p->addr & (SNAP_NEED_COPY | SNAP_NEED_READ)))
				continue;
			ret = copy_private(mm, p, extack);
			if (ret)
				return ret;
			snap->stats.copied++;
		}
	}
	return 0;
}

static int owe_pages(struct snapper_session *s, struct snapper_snapshot *snap)
{
	struct snapper_snap_chunk *c;
	unsigned long i;
	int ret;

	for (c = snap->head; c; c = c->next) {
		for (i = 0; i < c->nr; i++) {
			/* Holes are reported by every checkpoint: never owed. */
			if (c->pages[i].addr & SNAP_HOLE)
				continue;
			ret = snapper_session_owe(s, c->pages[i].addr & PAGE_MASK,
						  snap->ckpt);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static void resolve_paths(struct snapper_snapshot *snap)
{
	unsigned int i;
	char *buf, *path;

	buf = kmalloc(SNAPPER_PATH_MAX, GFP_KERNEL);
	for (i = 0; i < snap->nr_vmas; i++) {
		struct snapper_snap_vma *r = &snap->vmas[i];

		if (!r->file)
			continue;
		path = buf ? file_path(r->file, buf, SNAPPER_PATH_MAX) : NULL;
		if (!IS_ERR_OR_NULL(path))
			r->path = kstrdup(path, GFP_KERNEL_ACCOUNT);
		fput(r->file);
		r->file = NULL;
	}
	kfree(buf);
}

/*
 * Before the freeze, the swapped-out pages the walk will select are faulted
 * back in, so that the walk finds them present and keeps them by
 * copy-on-write instead of reading them in while the target is stopped.
 * It cannot be avoided otherwise with what is exported: the content of a
 * swapped-out page is kept only by its swap slot or a swap-cache folio,
 * and keeping either past the thaw needs swap_duplicate() or the swap
 * cache (swapper_spaces), neither exported (Documentation/tracking.rst).
 *
 * Only a head start: the target runs meanwhile and reclaim may push a page
 * out again, which the walk then reads in during the freeze as before.
 * Faulting in is what the checkpoint would do anyway (read_page() maps the
 * page into the target), only earlier. One page at a time, as the target's
 * own faults would (each with the kernel's swap readahead): starting the
 * reads of a whole page table at once (FOLL_NOWAIT) kept up to 2 MiB
 * locked under I/O and charged to the target's memory cgroup, where
 * reclaim cannot take it back; in a cgroup of 2 MiB the target's next
 * swap-in then met the cgroup's OOM killer (pressure test, debug kernel).
 *
 * Bounded by room: the pages read in are charged to the target's memory
 * cgroup, and the walk then holds every one of them (copy-on-write) until
 * the stream sends it, where reclaim cannot take it back. Brought in
 * beyond the cgroup's room, they would push out the target's other pages
 * and leave the freeze's own reads, and the target's faults after the
 * thaw, a cgroup full of held pages: its OOM killer then takes the target.
 * So the prefetch uses at most half of the room it finds when it starts
 * (prefetch_room()), less PREFETCH_SLACK, and leaves the rest to the
 * target and to the freeze, which reads what is left, as without it.
 */
struct prefetch {
	struct mm_struct *mm;
	struct snapper_session *s;
	struct mem_cgroup *memcg;	/* the target's, referenced, or NULL */
	unsigned long keep;		/* room, in pages, left to others */
	bool all;		/* every swapped-out page is selected */
	bool frames;		/* compare frames (see same_frame()) */
	unsigned int nr;
	unsigned long addr[PTRS_PER_PTE];
};

/*
 * Room kept beyond half, in pages: what one fault may charge more than its
 * page (swap readahead: 8 pages at the default vm.page-cluster of 3), and
 * the charges the per-CPU stocks hold ahead (up to 64 pages per CPU, which
 * only make the room read smaller).
 */
#define PREFETCH_SLACK	64

/*
 * How many pages may still be charged for the target without reclaim: the
 * least, over its memory cgroup and every ancestor, of what is left below
 * memory.max and below memory.high (above high, each task charging there
 * is made to reclaim and is throttled on its way back to user space: the
 * target's faults as much as ours), and of the system's available memory
 * (si_mem_available()), which alone bounds a target outside any memory
 * cgroup (the root's counters have no limit) or without CONFIG_MEMCG.
 * Lockless reads: the limits change at any time anyway. Our reference on
 * the cgroup keeps its ancestors (a css pins its parent).
 */
static unsigned long prefetch_room(const struct prefetch *pf)
{
	unsigned long room = max(si_mem_available(), 0L);
#ifdef CONFIG_MEMCG
	struct page_counter *c;
	unsigned long limit, usage;

	for (c = pf->memcg ? &pf->memcg->memory : NULL; c; c = c->parent) {
		limit = min(READ_ONCE(c->max), READ_ONCE(c->high));
		usage = page_counter_read(c);
		room = min(room, limit > usage ? limit - usage : 0);
	}
#endif
	return room;
}

/*
 * Return: false when the prefetch should stop: the room it may use is
 * spent (see struct prefetch), or reclaim pushed out about as many of the
 * target's pages as this batch brought in (its swap entries did not drop
 * by half the batch), which means the same from outside its memory cgroup
 * (global reclaim): going on would only thrash and leave the freeze to
 * read them all the same.
 */
static bool prefetch_batch(struct prefetch *pf)
{
	unsigned long before = get_mm_counter(pf->mm, MM_SWAPENTS);
	unsigned int i, nr = pf->nr;
	struct page *page;

	pf->nr = 0;
	for (i = 0; i < nr; i++) {
		if (prefetch_room(pf) <= pf->keep)
			return false;
		page = fault_in(pf->mm, pf->addr[i]);
		if (!IS_ERR(page))
			put_page(page);
	}
	cond_resched();
	/* The counter is per-CPU on 6.2+: judge only batches well above its slack. */
	return nr < 64 || before >= get_mm_counter(pf->mm, MM_SWAPENTS) + nr / 2;
}

/*
 * The swap entries of one PTE table the walk would select, as walk_ptes().
 * Return: false to stop (see prefetch_batch()).
 */
static bool prefetch_ptes(struct prefetch *pf, pmd_t *pmdp,
			  unsigned long addr, unsigned long end)
{
	pmd_t pmdval = READ_ONCE(*pmdp);
	spinlock_t *ptl;	/* the PTE table's, as in walk_ptes() */
	const struct snapper_frame *frame = NULL, *frames_end = NULL;
	const struct snapper_table *last;
	pte_t *ptep, pte;
	bool all;

	if (pmd_none(pmdval) || !pmd_present(pmdval) ||
	    pmd_trans_huge(pmdval) || pmd_devmap(pmdval) || pmd_bad(pmdval))
		return true;
	/* A table note_table() will not trust: every entry taken. */
	last = last_table(pf->s, addr >> PMD_SHIFT);
	all = pf->all || !last || last->id != table_id(pmdp, pmdval);
	if (!all && pf->frames && pf->s->frames) {
		frame = pf->s->frames + last->frames;
		frames_end = frame + last->nr_frames;
	}
	rcu_read_lock();
	ptep = pte_offset_kernel(&pmdval, addr);
	ptl = pte_lockptr(pf->mm, &pmdval);
	spin_lock(ptl);
	if (pmd_same(pmdval, READ_ONCE(*pmdp))) {
		for (; addr != end; ptep++, addr += PAGE_SIZE) {
			pte = ptep_get(ptep);
			if (pte_none(pte) || pte_present(pte) ||
			    non_swap_entry(pte_to_swp_entry(pte)))
				continue;
			if (all || pte_swp_soft_dirty(pte) ||
			    (pf->frames &&
			     !had_frame(&frame, frames_end, addr,
					swap_frame(pte_to_swp_entry(pte)))) ||
			    snapper_session_owes(pf->s, addr))
				pf->addr[pf->nr++] = addr;
		}
	}
	spin_unlock(ptl);
	rcu_read_unlock();
	return !pf->nr || prefetch_batch(pf);
}

/*
 * The mmap lock for reading, waited for no longer than what is *@left_ns
 * of a budget (GIVE_BACK_WAIT_MS for a whole give-back, which runs in an
 * ACK under genetlink's cb_lock and is best effort). Whoever holds the
 * lock may hold it for as long as they like (a read of /proc/PID/mem
 * faulting on a page of a FUSE file whose daemon does not answer, and
 * every writer queued behind that reader); rwsems have no timed wait, so
 * this polls. Return: true if taken; the time waited is taken off
 * *@left_ns either way.
 */
#define GIVE_BACK_WAIT_MS	20

static bool mmap_read_lock_briefly(struct mm_struct *mm, s64 *left_ns)
{
	ktime_t t0 = ktime_get();
	s64 waited;
	bool taken;

	for (;;) {
		taken = mmap_read_trylock(mm);
		waited = ktime_to_ns(ktime_sub(ktime_get(), t0));
		if (taken || waited >= *left_ns || fatal_signal_pending(current))
			break;
		usleep_range(100, 200);
	}
	*left_ns -= waited;
	return taken;
}

/*
 * Between two page tables of a walk that holds the mmap lock for reading
 * while the target runs (the prefetch, the give-back): lets a writer that
 * waits (the target's mmap()) and the scheduler in. @left_ns: NULL to wait
 * for the lock again (killable), or the budget of
 * mmap_read_lock_briefly(). Return: false if the lock could not be taken
 * again (a fatal signal, or the budget spent), unlocked then.
 */
static bool mmap_read_yield(struct mm_struct *mm, s64 *left_ns)
{
	if (!need_resched() && !mmap_lock_is_contended(mm))
		return true;
	mmap_read_unlock(mm);
	cond_resched();
	return left_ns ? mmap_read_lock_briefly(mm, left_ns) :
			 !mmap_read_lock_killable(mm);
}

/*
 * The PMD entry of @addr, or NULL; *@next: where the next range starts.
 * A fresh descent for every PMD range, apart from walk_range()'s: the
 * prefetch and the give-back may drop the mmap lock between ranges, after
 * which no upper table they walked may still exist (munmap() frees them),
 * and they read, allocate and record nothing of what the walk does at
 * those levels.
 */
static pmd_t *find_pmd(struct mm_struct *mm, unsigned long addr,
		       unsigned long end, unsigned long *next)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	p4d_t *p4d;
	pud_t *pud;

	*next = pgd_addr_end(addr, end);
	if (pgd_none(*pgd) || pgd_bad(*pgd))
		return NULL;
	p4d = p4d_offset(pgd, addr);
	*next = p4d_addr_end(addr, end);
	if (p4d_none(*p4d) || p4d_bad(*p4d))
		return NULL;
	pud = pud_offset(p4d, addr);
	*next = pud_addr_end(addr, end);
	if (pud_none(*pud) || pud_bad(*pud) || pud_trans_huge(*pud) ||
	    pud_devmap(*pud))
		return NULL;
	*next = pmd_addr_end(addr, end);
	return pmd_offset(pud, addr);
}

static void prefetch_swapped(struct mm_struct *mm, struct snapper_session *s,
			     bool full)
{
	struct vm_area_struct *vma;
	unsigned long addr, next;
	struct prefetch *pf;
	pmd_t *pmdp;

	if (!snapper_params_swap_prefetch() ||
	    !get_mm_counter(mm, MM_SWAPENTS))
		return;
	pf = kmalloc(sizeof(*pf), GFP_KERNEL_ACCOUNT);
	if (!pf)
		return;
	pf->mm = mm;
	pf->s = s;
	pf->nr = 0;
	pf->memcg = get_mem_cgroup_from_mm(mm);
	pf->keep = prefetch_room(pf) / 2 + PREFETCH_SLACK;
	if (mmap_read_lock_killable(mm))
		goto out;
	/*
	 * One PMD range at a time, the VMA looked up again each time: the
	 * lock is let go between page tables when a writer waits (the target
	 * runs, and its mmap() must not wait for our reads). A fatal signal
	 * to the caller ends the prefetch; the freeze reads what is left.
	 */
	for (addr = 0; !fatal_signal_pending(current); addr = next) {
		vma = find_vma(mm, addr);
		if (!vma)
			break;
		addr = max(addr, vma->vm_start);
		next = vma->vm_end;
		if (vma_skipped(vma) || is_vm_hugetlb_page(vma) ||
		    snapper_shared_covers(vma))
			continue;
		pf->all = full || (vma->vm_flags & VM_SOFTDIRTY);
		/* As the walk will (see same_frame()), on the last walk's word. */
		pf->frames = pf->s->ksm && !(vma->vm_flags & VM_SHARED);
		pmdp = find_pmd(mm, addr, vma->vm_end, &next);
		if (!pmdp)
			continue;
		if (!prefetch_ptes(pf, pmdp, addr, next))
			break;
		if (!mmap_read_yield(mm, NULL))
			goto out;
	}
	mmap_read_unlock(mm);
out:
	mem_cgroup_put(pf->memcg);
	kfree(pf);
}

/*
 * Giving pages back. A private anonymous page that a checkpoint shared
 * with its snapshot (share_anon()) stays shared once the snapshot lets it
 * go, until the target writes it: the write fault then reuses it and marks
 * it exclusive again (do_wp_page(), do_huge_pmd_wp_page()). Until then the
 * kernel treats it as after fork(): UFFDIO_MOVE (6.8+) answers EBUSY for
 * it, and a read-only pin (FOLL_PIN) first takes an unsharing fault. So
 * when a checkpoint is acknowledged, and so read out whole, each page it
 * took that the target still maps is marked exclusive again where that
 * fault would reuse it, under the same locks (the page-table lock, the
 * folio lock): a folio of the VMA's own anon_vma (reuse moves it there
 * with folio_move_anon_rmap(), not exported; this also rules out KSM),
 * not in the swap cache, whose only reference is that mapping's. Any other
 * (a stream, the hasher or an unread skb that still holds the page, GUP, a
 * forked child that maps it) leaves it shared, as the fault would copy it.
 * A reference GUP-fast takes after the check is the race do_wp_page() has
 * too: a plain reference promises nothing of later writes, and a read-only
 * pin looks at the flag after it took its reference (gup_must_unshare()).
 *
 * A large folio mapped by PTEs (a huge page split, 6.8's multi-size THP)
 * is one the write fault never reuses on 6.12 (wp_can_reuse_anon_folio()
 * cannot tell whose its references are), nor would a read-only pin: left
 * shared, each page the target writes after a checkpoint is copied into a
 * small page, as is each one the restore reads back with
 * process_vm_readv(), and the target's large folios fall apart, where a
 * clear_refs write-protection (CRIU's) keeps them whole. give_back_large()
 * marks them exclusive again where it can tell that every mapping and
 * every reference of the folio is one of this page table's entries.
 */
static void give_back(struct vm_area_struct *vma, struct folio *folio,
		      struct page *page)
{
	void *own = (void *)vma->anon_vma + PAGE_MAPPING_ANON;

	if (READ_ONCE(folio->mapping) != own || PageAnonExclusive(page) ||
	    folio_ref_count(folio) != 1 || !folio_trylock(folio))
		return;
	/* Adding to the swap cache holds the folio lock. */
	if (!folio_test_swapcache(folio) && folio_ref_count(folio) == 1)
		SetPageAnonExclusive(page);
	folio_unlock(folio);
}

/*
 * give_back() for a page of a large folio mapped by PTEs, with the page
 * table of @addr (@table, its lock held). The folio must lie where its
 * pages would be had it been faulted in whole (at @addr minus @page's
 * offset in it), inside @vma and this page table; it must belong to the
 * VMA's own anon_vma, be out of the swap cache, locked; and each of its
 * references and mappings must be one of the entries here that map its
 * pages in place: then no other process maps it and nothing else holds
 * it, and each page so mapped is marked exclusive, at once (those that
 * are already, again).
 */
static void give_back_large(struct vm_area_struct *vma, pte_t *table,
			    unsigned long addr, struct folio *folio,
			    struct page *page)
{
	void *own = (void *)vma->anon_vma + PAGE_MAPPING_ANON;
	unsigned long nr = folio_nr_pages(folio), size = nr * PAGE_SIZE;
	unsigned long pfn = folio_pfn(folio), first, i;
	long ours = 0;
	pte_t pte;

	/* More references than pages: not all of them can be ours. */
	if (READ_ONCE(folio->mapping) != own || folio_ref_count(folio) > nr)
		return;
	first = (page_to_pfn(page) - pfn) * PAGE_SIZE;	/* for now, the offset */
	if (first > addr - vma->vm_start)
		return;
	first = addr - first;
	if (size > vma->vm_end - first || (first & PMD_MASK) != (addr & PMD_MASK) ||
	    ((first + size - 1) & PMD_MASK) != (addr & PMD_MASK))
		return;
	for (i = 0; i < nr; i++) {
		pte = ptep_get(table + pte_index(first + i * PAGE_SIZE));
		ours += pte_present(pte) && pte_pfn(pte) == pfn + i;
	}
	if (folio_ref_count(folio) != ours || !folio_trylock(folio))
		return;
	if (!folio_test_swapcache(folio) && folio_ref_count(folio) == ours &&
	    snapper_large_mapcount(folio) == ours) {
		for (i = 0; i < nr; i++) {
			pte = ptep_get(table + pte_index(first + i * PAGE_SIZE));
			if (pte_present(pte) && pte_pfn(pte) == pfn + i)
				SetPageAnonExclusive(folio_page(folio, i));
		}
	}
	folio_unlock(folio);
}

/* The pages of @owed (see snapper_tracker_give_back()) in [@addr, @end). */
static void give_back_pmd(struct mm_struct *mm, struct vm_area_struct *vma,
			  pmd_t *pmdp, struct xarray *owed, u64 ckpt,
			  unsigned long addr, unsigned long end)
{
	pmd_t pmdval = READ_ONCE(*pmdp);
	struct folio *folio, *tried = NULL;
	unsigned long idx;
	spinlock_t *ptl;	/* the PMD's or the PTE table's */
	pte_t *table, pte;
	void *entry;

	/* A migration entry first: see walk_huge_pmd(). */
	if (pmd_none(pmdval) || !pmd_present(pmdval) || pmd_devmap(pmdval))
		return;
	if (pmd_trans_huge(pmdval)) {
		ptl = pmd_lock(mm, pmdp);
		pmdval = *pmdp;
		if (pmd_present(pmdval) && pmd_trans_huge(pmdval) &&
		    !pmd_devmap(pmdval))
			give_back(vma, page_folio(pmd_page(pmdval)),
				  pmd_page(pmdval));
		spin_unlock(ptl);
		return;
	}
	if (pmd_bad(pmdval))
		return;
	/* As walk_ptes(): the table stays while its PMD is unchanged. */
	rcu_read_lock();
	table = pte_offset_kernel(&pmdval, addr & PMD_MASK);
	ptl = pte_lockptr(mm, &pmdval);
	spin_lock(ptl);
	if (pmd_same(pmdval, READ_ONCE(*pmdp))) {
		xa_for_each_range(owed, idx, entry, addr >> PAGE_SHIFT,
				  (end - 1) >> PAGE_SHIFT) {
			if (xa_to_value(entry) > (ckpt & LONG_MAX))
				continue;
			pte = ptep_get(table + pte_index(idx << PAGE_SHIFT));
			if (!pte_present(pte) || pte_special(pte) ||
			    pte_devmap(pte))
				continue;
			folio = page_folio(pte_page(pte));
			if (!folio_test_large(folio)) {
				give_back(vma, folio, pte_page(pte));
			} else if (folio != tried) {
				/* Once a folio: its pages are all given back, or none. */
				give_back_large(vma, table, idx << PAGE_SHIFT,
						folio, pte_page(pte));
				tried = folio;
			}
		}
	}
	spin_unlock(ptl);
	rcu_read_unlock();
}

/**
 * snapper_tracker_give_back() - mark acknowledged pages exclusive again
 * @mm: the target's mm, mmgrab()ed (NULL: nothing to do)
 * @owed: the session's owed pages, page index -> checkpoint id
 * @ckpt: the acknowledged checkpoint: its pages and earlier ones'
 *
 * See give_back(). Called before the pages are forgotten; takes the mmap
 * lock for reading, a page table at a time (the target runs), giving up
 * once it waited GIVE_BACK_WAIT_MS for it in all, or the caller got a fatal
 * signal meanwhile (mmap_read_lock_briefly()), which
 * /sys/kernel/snapper/give_backs_abandoned counts. A page it cannot give
 * back stays shared, as before: nothing depends on it.
 */
void snapper_tracker_give_back(struct mm_struct *mm, struct xarray *owed,
			       u64 ckpt)
{
	s64 left_ns = GIVE_BACK_WAIT_MS * NSEC_PER_MSEC;
	struct vm_area_struct *vma;
	unsigned long idx = 0, addr, next;
	pmd_t *pmdp;

	if (!mm || xa_empty(owed) || !mmget_not_zero(mm))
		return;
	if (!mmap_read_lock_briefly(mm, &left_ns))
		goto abandoned;
	while (xa_find(owed, &idx, ULONG_MAX, XA_PRESENT)) {
		addr = idx << PAGE_SHIFT;
		vma = find_vma(mm, addr);
		if (!vma)
			break;
		next = vma->vm_end;
		if (vma->vm_start <= addr && vma->anon_vma &&
		    !(vma->vm_flags & VM_SHARED) && !is_vm_hugetlb_page(vma) &&
		    !vma_skipped(vma)) {
			pmdp = find_pmd(mm, addr, vma->vm_end, &next);
			if (pmdp)
				give_back_pmd(mm, vma, pmdp, owed, ckpt, addr,
					      next);
		} else if (vma->vm_start > addr) {
			next = vma->vm_start;
		}
		idx = next >> PAGE_SHIFT;
		if (!idx)	/* the top of the address space */
			break;
		if (!mmap_read_yield(mm, &left_ns))
			goto abandoned;
	}
	mmap_read_unlock(mm);
	mmput(mm);
	return;
abandoned:
	snapper_stats_add(SNAPPER_STAT_GIVE_BACKS_ABANDONED, 1);
	mmput(mm);
}

/* Hands @snap's record of the page tables to @s, for the next walk. */
static void keep_tables(struct snapper_session *s,
			struct snapper_snapshot *snap)
{
	kvfree(s->tables);
	kvfree(s->frames);
	s->tables = snap->tables;
	s->nr_tables = snap->nr_tables;
	s->frames = snap->frames;
	snap->tables = NULL;
	snap->nr_tables = 0;
	snap->cap_tables = 0;
	snap->frames = NULL;
	snap->nr_frames = 0;
	snap->cap_frames = 0;
}

/**
 * snapper_tracker_collect() - take a snapshot of a process's changed pages
 * @task: a thread of the target, referenced
 * @mm: its mm, referenced with mmget()
 * @s: the target's session, owned (see session.h)
 * @snap: zeroed, with ->full and ->ckpt set by the caller
 * @extack: for error messages
 *
 * Freezes the target, walks it, keeps the old content of each selected
 * page, thaws it, and records the selected pages as owed by @snap->ckpt.
 * On failure after soft-dirty bits were cleared, the session forgets its
 * acknowledged base, so the next checkpoint is FULL. The caller releases
 * @snap with snapper_snapshot_release() in every case.
 *
 * Return: 0, or -errno (-EOPNOTSUPP with an @extack message for targets
 * the tracker cannot follow).
 */
int snapper_tracker_collect(struct task_struct *task, struct mm_struct *mm,
			    struct snapper_session *s,
			    struct snapper_snapshot *snap,
			    struct netlink_ext_ack *extack)
{
	struct walk w = { .mm = mm, .s = s, .snap = snap };
	struct snapper_freeze *freeze;
	unsigned long tables;
	ktime_t t0;
	int ret;

	snapper_session_assert_owned(s);
	mmap_read_lock(mm);
	ret = check_mm(mm, extack);
	snap->cap_vmas = mm->map_count + 16;
	/* A PTE table per slot, or the one a huge page deposited: an estimate. */
	tables = mm_pgtables_bytes(mm) / PAGE_SIZE + 64;
	mmap_read_unlock(mm);
	if (ret)
		return ret;
	snap->vmas = kvcalloc(snap->cap_vmas, sizeof(*snap->vmas),
			      GFP_KERNEL_ACCOUNT);
	if (!snap->vmas)
		return -ENOMEM;
	ret = grow_tables(snap, min_t(unsigned long, tables, UINT_MAX / 2));
	if (ret)
		return ret;
	/* Room for a frame per page, so that the walk seldom resumes. */
	if (s->ksm || test_bit(MMF_VM_MERGEABLE, &mm->flags)) {
		ret = grow_frames(snap, estimate_pages(mm, true));
		if (ret)
			return ret;
	}
	prefetch_swapped(mm, s, snap->full);
	ret = ensure_room(&w, estimate_pages(mm, snap->full), GFP_KERNEL_ACCOUNT);
	if (ret)
		return ret;

	t0 = ktime_get();
	freeze = snapper_freeze_start(task, mm, &snap->stats.threads);
	if (IS_ERR(freeze)) {
		if (PTR_ERR(freeze) == -EBUSY)
			NL_SET_ERR_MSG_MOD(extack,
					   "a thread of the target did not leave user mode");
		return PTR_ERR(freeze);
	}
	ret = walk_locked(&w, extack);
	if (!ret)
		ret = copy_pages(mm, snap, extack);
	if (!ret)
		ret = snapper_shared_read(s, snap);
	if (!ret) {
		ret = snapper_freeze_check(freeze);
		if (ret)
			NL_SET_ERR_MSG_MOD(extack,
					   "a clone() completed during the walk: ask again, for a FULL checkpoint");
	}
	snapper_freeze_thaw(freeze);
	snap->stats.freeze_us = ktime_us_delta(ktime_get(), t0);
	if (!ret)
		snapper_session_thp_sweep(s, snap->ckpt);

	/*
	 * Whatever was cleared is owed now, even if this stream fails, and
	 * the next walk compares its page tables with this one's.
	 */
	if (snap->nr_vmas && (ret || owe_pages(s, snap)))
		snapper_session_forget(s);
	else if (snap->nr_vmas)
		keep_tables(s, snap);
	resolve_paths(snap);
	return ret;
}

/**
 * snapper_snap_page_release() - drop what one snapshot page holds
 * @p: the page
 */
void snapper_snap_page_release(struct snapper_snap_page *p)
{
	if ((p->addr & SNAP_HOLE) || !p->page)
		return;
	put_page(p->page);
	p->page = NULL;
	snapper_stats_add(SNAPPER_STAT_PAGES_HELD, -1);
}

/**
 * snapper_snapshot_release() - free a snapshot and drop its references
 * @snap: the snapshot; left empty
 */
void snapper_snapshot_release(struct snapper_snapshot *snap)
{
	struct snapper_snap_chunk *c, *next;
	unsigned int i;

	for (c = snap->head; c; c = next) {
		next = c->next;
		for (i = 0; i < c->nr; i++)
			snapper_snap_page_release(&c->pages[i]);
		kfree(c);
	}
	snap->head = NULL;
	snap->tail = NULL;
	for (i = 0; i < snap->nr_vmas; i++) {
		if (snap->vmas[i].file)
			fput(snap->vmas[i].file);
		kfree(snap->vmas[i].path);
	}
	kvfree(snap->vmas);
	snap->vmas = NULL;
	snap->nr_vmas = 0;
	kvfree(snap->tables);
	snap->tables = NULL;
	snap->nr_tables = 0;
	snap->cap_tables = 0;
	kvfree(snap->frames);
	snap->frames = NULL;
	snap->nr_frames = 0;
	snap->cap_frames = 0;
}

#ifdef SNAPPER_KUNIT
#include "tests/tracker-kunit.h"
#endif
