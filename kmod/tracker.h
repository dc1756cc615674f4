/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SNAPPER_TRACKER_H
#define _SNAPPER_TRACKER_H

#include <linux/bits.h>
#include <linux/mm_types.h>
#include <linux/types.h>

struct netlink_ext_ack;
struct snapper_session;
struct task_struct;
struct xarray;

/*
 * One page of a snapshot, or one hole. @addr carries SNAPPER_PAGE_F_* and
 * the internal SNAP_* bits below PAGE_SHIFT. @page holds one reference:
 * the target's own page (kept unchanged by copy-on-write) or a private
 * copy. A hole (SNAP_HOLE) is the range [@addr, @hole_end) that reads as
 * zeros, or with SNAP_FILE as the file of a private file mapping, and
 * holds nothing.
 */
struct snapper_snap_page {
	unsigned long addr;
	union {
		struct page *page;
		unsigned long hole_end;
	};
};

/* Internal bits of snapper_snap_page.addr, above the uapi page flags. */
#define SNAP_NEED_COPY		BIT(8)	/* copy before the thaw */
#define SNAP_NEED_READ		BIT(9)	/* read in before the thaw */
#define SNAP_WHOLE		BIT(10)	/* never left out as unchanged */
#define SNAP_HOLE		BIT(11)	/* a hole, not a page */
#define SNAP_OBJECT		BIT(7)	/* to read from the object: shared.c */
#define SNAP_HASHED		BIT(6)	/* left out if its hash is the base's */
#define SNAP_FILE		BIT(5)	/* with SNAP_HOLE: reads the file */

#define SNAP_CHUNK_PAGES						\
	((PAGE_SIZE - 2 * sizeof(void *)) / sizeof(struct snapper_snap_page))

struct snapper_snap_chunk {
	struct snapper_snap_chunk *next;
	unsigned long nr;
	struct snapper_snap_page pages[SNAP_CHUNK_PAGES];
};

/* One mapping of the target, as sent in a SNAPPER_A_VMA. */
struct snapper_snap_vma {
	unsigned long start, end, pgoff;
	u32 prot, flags;
	struct file *file;	/* referenced until the path is resolved */
	char *path;		/* kmalloc()ed, or NULL */
};

struct snapper_snap_stats {
	u64 scanned, sent, thp, swap, vma_softdirty, copied, thp_unchanged;
	u64 hole_pages;
	u64 freeze_us, walk_us;
	u32 threads;
};

/*
 * What a walk found at one PMD slot of the target's page tables (@slot:
 * its address >> PMD_SHIFT): which table (see table_id() in tracker.c),
 * and in a process KSM merges in, the frames of its entries: @nr_frames
 * records from index @frames of the walk's frame record.
 */
struct snapper_table {
	unsigned long slot, id;
	unsigned int frames, nr_frames;
};

/* The frame an entry mapped at @addr: see same_frame() in tracker.c. */
struct snapper_frame {
	unsigned long addr, frame;
};

/* Everything a checkpoint streams, built by snapper_tracker_collect(). */
struct snapper_snapshot {
	bool full;
	bool file_holes;	/* report SNAP_FILE holes (incremental only) */
	u64 ckpt;
	u64 base_ckpt;		/* the acknowledged checkpoint built on */
	struct snapper_snap_vma *vmas;
	unsigned int nr_vmas, cap_vmas;
	struct snapper_table *tables;	/* this walk's, by slot */
	unsigned int nr_tables, cap_tables;
	bool ksm;			/* frames recorded: see same_frame() */
	struct snapper_frame *frames;	/* this walk's, by address */
	unsigned int nr_frames, cap_frames;
	struct snapper_snap_chunk *head, *tail;
	unsigned long nr_pages;
	struct snapper_snap_stats stats;
};

int snapper_tracker_collect(struct task_struct *task, struct mm_struct *mm,
			    struct snapper_session *s,
			    struct snapper_snapshot *snap,
			    struct netlink_ext_ack *extack);
int snapper_copy_page(struct page *to, struct page *from);
void snapper_tracker_give_back(struct mm_struct *mm, struct xarray *owed,
			       u64 ckpt);
void snapper_snap_page_release(struct snapper_snap_page *p);
void snapper_snapshot_release(struct snapper_snapshot *snap);

#endif /* _SNAPPER_TRACKER_H */
