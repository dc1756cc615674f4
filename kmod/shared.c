// SPDX-License-Identifier: GPL-2.0
/*
 * Shared memory, captured from its object rather than from the target's
 * page table (and Linux AIO's completion ring: see AIO_RING_MAGIC), and
 * hugetlb pages, which no soft-dirty bit marks (tracker.c): shared ones
 * from their hugetlbfs object too, private ones from the pages the walk
 * referenced, through the same placeholders.
 *
 * The pages of shmem (tmpfs, memfd, SysV shm, MAP_SHARED|MAP_ANONYMOUS)
 * change without a fault in the target's page table when another process
 * or write(2) writes them, and a shmem page that reclaim moves to swap
 * leaves no entry there: soft-dirty sees neither. So for every shared
 * writable mapping of a shmem object (and read-only one of an object with
 * no name: see snapper_shared_covers()), every checkpoint reads each page of
 * the mapped range from the object itself (its page cache, swapping in
 * what is in swap), hashes it, and sends it only if the hash differs from
 * the one recorded for the acknowledged base at that address. The hashes
 * are the session's per-page content hashes (session.c), the mechanism
 * that already leaves out unchanged subpages of dirty huge pages.
 *
 * The walk (tracker.c) leaves one placeholder per page of such a mapping,
 * in address order among the other pages, and does not look at its page
 * table entries. After the walk, with the target still frozen and the
 * mmap lock released, snapper_shared_read() reads the object for each
 * placeholder into a private copy (so the stream sends the content read
 * now, whatever happens later), and removes the placeholders of pages
 * that are unchanged. A page the object does not hold (never written,
 * punched out, removed with MADV_REMOVE) reads as zeros through the
 * mapping: it is reported as a hole, as the walk reports those of private
 * anonymous memory, at every checkpoint.
 *
 * Freezing the target does not freeze the object: another process may
 * write it during the checkpoint, so a shared page holds its content at
 * some moment between the freeze and the thaw, as a CRIU dump of shmem
 * does. Regular files mapped shared are left to the page-table walk: the
 * file is their storage, and reading all of it at every checkpoint would
 * cost its size in I/O. That cost is paid only where no name reaches the
 * file (snapper_shared_covers(), snapper_shared_under()): a deleted file
 * has no storage a restore could find.
 */
#include "compat.h"

#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/snapper.h>

#include "session.h"
#include "shared.h"
#include "stats.h"
#include "tracker.h"

/*
 * Linux AIO's completion ring (io_setup(2)) is the page cache of a file of
 * its own pseudo file system, mapped shared and writable into the process,
 * which the kernel writes at each completion through its own mapping; the
 * process maps a page only once it reads it. So it is read from its object
 * too. fs/aio.c's AIO_RING_MAGIC, private there, is both that file
 * system's magic and the ring header's, which userspace reads (libaio).
 */
#define AIO_RING_MAGIC	0xa10a10a1

static struct address_space *vma_object(struct vm_area_struct *vma)
{
	return vma->vm_file->f_mapping;
}

static bool is_shmem(struct address_space *mapping)
{
	/* shmem_mapping() is not exported on 6.1; tmpfs is shmem's only sb. */
	return mapping->host->i_sb->s_magic == TMPFS_MAGIC;
}

/* hugetlbfs: MAP_HUGETLB, memfd_create(MFD_HUGETLB), SHM_HUGETLB, files. */
static bool is_hugetlb(struct address_space *mapping)
{
	return mapping->host->i_sb->s_magic == HUGETLBFS_MAGIC;
}

/* Memory rather than a file: shmem or hugetlbfs. */
static bool is_memory(struct address_space *mapping)
{
	return is_shmem(mapping) || is_hugetlb(mapping);
}

/*
 * A regular file of a file system on a block device (FS_REQUIRES_DEV:
 * ext4, xfs, vfat...), read through its page cache (disk_folio(): the
 * file system's readahead and read_folio()): such a read waits for the
 * disk, as a page fault does, never for a process. Not DAX (no page
 * cache, no read_folio()), and not fuseblk, whose reads a process serves,
 * perhaps the frozen target itself; nor any file system without a device
 * (NFS, FUSE, 9p...), whose reads wait on a server or a daemon under the
 * freeze.
 */
static bool is_disk_file(struct address_space *mapping)
{
	struct inode *host = mapping->host;
	struct super_block *sb = host->i_sb;

	return S_ISREG(host->i_mode) && !IS_DAX(host) &&
	       mapping->a_ops->read_folio &&
	       (sb->s_type->fs_flags & FS_REQUIRES_DEV) &&
	       sb->s_magic != FUSE_SUPER_MAGIC;
}

/* No name in any file system reaches the object: its last link is gone. */
static bool is_nameless(struct address_space *mapping)
{
	return !READ_ONCE(mapping->host->i_nlink);
}

/**
 * snapper_shared_covers() - is a mapping captured from its object?
 * @vma: a mapping of the target, with the mmap lock held
 *
 * Shared writable mappings of shmem and hugetlbfs are, and AIO's ring.
 * So are read-only ones (a memfd or SysV segment mapped or attached
 * read-only, shared anonymous memory after mprotect()) of an object that
 * no name in any file system reaches: its pages exist nowhere but in
 * memory, and others may write them under the target. So are shared
 * mappings, writable or not, of a deleted file of a disk file system
 * (is_disk_file()): others may write it through a descriptor, no name
 * leads a restore to it, and its blocks go with its last reference (CRIU
 * dumps such a file's content, up to 1 MiB). A read-only mapping of a
 * named file (tmpfs's too) is left to its file, as a shared one of ext4
 * is. VM_MAYSHARE, not VM_SHARED: a mapping of a file opened read-only
 * has only the former. A restore writes only what the target may write
 * (tools/restore.c).
 *
 * Return: true if it is.
 */
bool snapper_shared_covers(struct vm_area_struct *vma)
{
	struct address_space *mapping;
	struct inode *host;

	if (!(vma->vm_flags & VM_MAYSHARE) ||
	    (vma->vm_flags & (VM_PFNMAP | VM_IO)) || !vma->vm_file)
		return false;
	mapping = vma_object(vma);
	host = mapping->host;
	if (!host)
		return false;
	if (is_nameless(mapping) &&
	    (is_memory(mapping) || is_disk_file(mapping)))
		return true;
	return (vma->vm_flags & VM_WRITE) &&
	       (is_memory(mapping) || host->i_sb->s_magic == AIO_RING_MAGIC);
}

/**
 * snapper_shared_under() - does a private mapping read an object no name reaches?
 * @vma: a mapping of the target, with the mmap lock held
 *
 * A private mapping of shmem or hugetlbfs (a memfd, an unlinked file), or
 * of a deleted file of a disk file system (is_disk_file(): a temporary
 * file unlinked once mapped, a library replaced by an upgrade), reads the
 * object's pages wherever the target has no copy of its own, and others
 * may write them there (write(2), a shared mapping); once the object goes,
 * no file holds them, and while it lives no name leads a restore to them.
 * So the walk takes those pages from the object too (tracker.c), and the
 * target's copies as elsewhere (by soft-dirty; hugetlb ones at every
 * checkpoint). CRIU dumps such an object's content for the same reason
 * (a memfd's, and a deleted file's up to its ghost limit, 1 MiB).
 *
 * Return: true if it does.
 */
bool snapper_shared_under(struct vm_area_struct *vma)
{
	struct address_space *mapping;

	if ((vma->vm_flags & (VM_MAYSHARE | VM_PFNMAP | VM_IO)) ||
	    !vma->vm_file)
		return false;
	mapping = vma_object(vma);
	return mapping->host && is_nameless(mapping) &&
	       (is_memory(mapping) || is_disk_file(mapping));
}

/**
 * snapper_shared_end() - where a mapping's object ends
 * @vma: a mapping for which snapper_shared_covers() or
 *	snapper_shared_under() is true
 *
 * Return: the address past the object's last page in @vma, at most its
 * end: beyond it an access gets SIGBUS, and there is nothing to capture.
 */
unsigned long snapper_shared_end(struct vm_area_struct *vma)
{
	loff_t size = i_size_read(vma_object(vma)->host);
	pgoff_t pages = DIV_ROUND_UP(size, PAGE_SIZE);

	if (pages <= vma->vm_pgoff)
		return vma->vm_start;
	if (pages - vma->vm_pgoff >= vma_pages(vma))
		return vma->vm_end;
	return vma->vm_start + ((pages - vma->vm_pgoff) << PAGE_SHIFT);
}

/**
 * snapper_shared_next() - where a mapping's object next holds pages
 * @vma: a mapping for which snapper_shared_covers() or
 *	snapper_shared_under() is true
 * @index: the first page offset in the object to look at
 * @last: the last one
 * @end: set to the page offset past the entry found
 *
 * A lockless look at the object's page cache, through the exported
 * xa_find() and xa_get_order(): an entry there is a folio, or a shmem page
 * in swap, and may span many pages (a huge page, a large folio, a large
 * swap entry). The walk leaves a placeholder for each page of what is
 * found, read later (snapper_shared_read()), and a hole for the rest: the
 * object held no page there when looked at, a moment between the freeze
 * and the thaw, as every shared page is read at one (see the top of this
 * file). So the work and the memory of a checkpoint go with the pages the
 * object holds, not with the size of the mapping (a memfd may be sized a
 * terabyte and hold a few pages). xa_find() from an index inside a
 * multi-index entry finds that entry, and an entry that changes size
 * between the two calls gives an @end too far (those pages then read as
 * holes) or too near (the next look starts there): no page is passed over.
 * A disk file (is_disk_file()) holds every page up to its end: those its
 * page cache lacks are read from the disk after the walk, and its own
 * holes (a sparse file) read as zeros there. That work goes with the size
 * mapped.
 *
 * Return: the page offset of the first page at or after @index that the
 * object holds, or @last + 1 when it holds none up to @last.
 */
pgoff_t snapper_shared_next(struct vm_area_struct *vma, pgoff_t index,
			    pgoff_t last, pgoff_t *end)
{
	struct address_space *mapping = vma_object(vma);
	unsigned int shift = 0;
	unsigned long i;

	/* What a file's page cache lacks is on disk: every page is held. */
	if (is_disk_file(mapping)) {
		*end = last + 1;
		return index;
	}
	if (is_hugetlb(mapping))
		shift = snapper_hugetlb_shift(huge_page_order(hstate_inode(mapping->host)));
	i = index >> shift;
	if (!xa_find(&mapping->i_pages, &i, last >> shift, XA_PRESENT))
		return last + 1;
	*end = ((i | ((1UL << xa_get_order(&mapping->i_pages, i)) - 1)) + 1)
	       << shift;
	return max_t(pgoff_t, i << shift, index);
}

/*
 * The shmem object's folio at @index, referenced; NULL for a hole (no
 * page, no swap entry, or a page fallocate() reserved and nobody wrote),
 * or ERR_PTR. Never allocates into the object. FGP_ENTRY (6.1) returns the
 * swap entry of a page in swap; later kernels dropped it and export
 * shmem_get_folio(), whose SGP_READ swaps in and never allocates. A folio
 * is looked at locked, as SGP_READ does: khugepaged's collapse_file()
 * puts the new huge page in the page cache locked and not yet up to date
 * while it copies the small ones into it, and that is no hole.
 */
#ifdef FGP_ENTRY
static struct folio *shmem_folio(struct address_space *mapping,
				 pgoff_t index)
{
	struct folio *folio;
	struct page *page;

	folio = __filemap_get_folio(mapping, index, FGP_ENTRY | FGP_LOCK, 0);
	if (xa_is_value(folio)) {
		page = shmem_read_mapping_page_gfp(mapping, index,
						   mapping_gfp_mask(mapping));
		if (IS_ERR(page))
			return PTR_ERR(page) == -EINVAL ? NULL : ERR_CAST(page);
		folio = page_folio(page);
	} else if (folio) {
		folio_unlock(folio);
	}
	if (folio && !folio_test_uptodate(folio)) {
		folio_put(folio);
		return NULL;
	}
	return folio;
}
#else
static struct folio *shmem_folio(struct address_space *mapping,
				 pgoff_t index)
{
	struct folio *folio;
	int ret;

	ret = shmem_get_folio(mapping->host, index, 0, &folio, SGP_READ);
	if (ret == -EINVAL)
		return NULL;	/* truncated meanwhile: past the end */
	if (ret)
		return ERR_PTR(ret);
	if (folio)
		folio_unlock(folio);
	return folio;
}
#endif

/*
 * A disk file's page (is_disk_file()), read from the disk if its page
 * cache lacks it: zeros past the file's end, as a fault would map them,
 * and never a hole. fill() asks for every page of the mapping in order,
 * with the target frozen, so a miss starts a readahead of the rest (@nr
 * pages from @index, kept within the file's end by the readahead itself),
 * as read(2) does, through @ra, fill()'s own state for the mapping: the
 * first checkpoint of a large deleted file then reads it a readahead
 * window per request, not read_mapping_folio()'s page at a time.
 */
static struct folio *disk_folio(struct file *file, struct file_ra_state *ra,
				pgoff_t index, unsigned long nr)
{
	struct address_space *mapping = file->f_mapping;
	struct folio *folio = filemap_get_folio(mapping, index);

	if (IS_ERR_OR_NULL(folio)) {
		page_cache_sync_readahead(mapping, ra, file, index, nr);
	} else {
		if (folio_test_uptodate(folio))
			return folio;
		folio_put(folio);
	}
	return read_mapping_folio(mapping, index, file);
}

/*
 * As shmem_folio(), for any object read after the walk: @index in the
 * object of @r, @nr pages left to read of @r from there (see
 * disk_folio()). AIO's ring is never swapped out or truncated: its pages
 * stay in its page cache while it exists, as do hugetlbfs pages (never
 * swapped; a truncation or hole punch removes them, and the mapping then
 * reads zeros), whose index in the page cache is not the base page's on
 * 6.1 (compat.h). filemap_get_folio() finds no page as NULL on 6.1,
 * ERR_PTR(-ENOENT) on 6.12.
 */
static struct folio *object_folio(const struct snapper_snap_vma *r,
				  struct file_ra_state *ra, pgoff_t index,
				  unsigned long nr)
{
	struct address_space *mapping = r->file->f_mapping;
	struct folio *folio;

	if (is_shmem(mapping))
		return shmem_folio(mapping, index);
	if (is_disk_file(mapping))
		return disk_folio(r->file, ra, index, nr);
	if (is_hugetlb(mapping))
		index = snapper_hugetlb_index(huge_page_order(hstate_inode(mapping->host)),
					      index);
	folio = filemap_get_folio(mapping, index);
	return IS_ERR_OR_NULL(folio) ? NULL : folio;
}

/*
 * The page at @index of the object, or NULL: HOLE. For hugetlbfs the
 * folio's base-page index is not folio->index on 6.1, so the subpage is
 * taken from the offset within the huge page, as folio_file_page() does.
 */
static struct page *object_page(const struct snapper_snap_vma *r,
				struct file_ra_state *ra, pgoff_t index,
				unsigned long nr, struct folio **folio)
{
	*folio = object_folio(r, ra, index, nr);
	if (IS_ERR_OR_NULL(*folio))
		return NULL;
	return folio_page(*folio, index & (folio_nr_pages(*folio) - 1));
}

enum { UNCHANGED, SEND, HOLE };

/*
 * Reads the page of @p into *@copy: from the object of @r (a disk file's
 * through @ra), or the page the walk referenced (a private hugetlb page,
 * tracker.c), whose reference it drops. Return: SEND (*@copy is then
 * @p's), UNCHANGED, HOLE (the object has no page there, or one lost to a
 * memory error), or -errno.
 */
static int read_page(struct snapper_session *s, struct snapper_snapshot *snap,
		     const struct snapper_snap_vma *r, struct file_ra_state *ra,
		     struct snapper_snap_page *p, struct page **copy)
{
	unsigned long addr = p->addr & PAGE_MASK;
	pgoff_t index = r->pgoff + ((addr - r->start) >> PAGE_SHIFT);
	struct folio *folio = NULL;
	struct page *page = p->page;
	bool disk = !page && is_disk_file(r->file->f_mapping);
	void *data;
	u64 hash;
	int ret;

	if (!page) {
		page = object_page(r, ra, index, (r->end - addr) >> PAGE_SHIFT,
				   &folio);
		/*
		 * EIO: a shmem page whose swap-in failed, which shmem then
		 * marks lost for good (its swap entry replaced by an error
		 * entry), or a disk file's page the disk could not read: a
		 * fault there is SIGBUS, read(2) of the object EIO, as at a
		 * poisoned page below.
		 */
		if (PTR_ERR_OR_ZERO(folio) == -EIO)
			return HOLE;
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		if (!page)
			return HOLE;
	}
	/*
	 * A page lost to a memory error (or MADV_HWPOISON) has no content:
	 * a fault on it through the mapping is SIGBUS, read(2) of the object
	 * fails, and the cache keeps it only until the object is truncated.
	 * A hole, as a private page's hwpoison entry is (tracker.c); a
	 * hugetlb page is lost whole, its flag on the head page.
	 */
	if (is_page_hwpoison(page)) {
		if (folio)
			folio_put(folio);
		else
			snapper_snap_page_release(p);
		return HOLE;
	}
	if (!*copy)
		*copy = alloc_page(GFP_KERNEL_ACCOUNT);
	/*
	 * Copy first, then hash the copy: others may write the object. A
	 * memory error in the source (hugetlb's long-lived pages above all)
	 * fails the checkpoint, not the machine.
	 */
	ret = *copy ? snapper_copy_page(*copy, page) : -ENOMEM;
	if (folio)
		folio_put(folio);
	else
		snapper_snap_page_release(p);
	if (ret)
		return ret;
	snap->stats.scanned++;
	data = kmap_local_page(*copy);
	/*
	 * A disk file's page cache cannot tell its holes (a sparse file,
	 * sized and never written there) from its data, and both read as
	 * zeros: a page of zeros of one is a hole, as the object's missing
	 * page is elsewhere, and no copy of it is held. Else a sparse file
	 * of some GiB, mapped, had as many GiB of copies held at once (an
	 * OOM in a 3 GiB guest from a 4 GiB file with one page written).
	 */
	if (disk && !memchr_inv(data, 0, PAGE_SIZE)) {
		kunmap_local(data);
		return HOLE;
	}
	hash = snapper_session_hash(data);
	kunmap_local(data);
	/* A mapping new since the base comes whole (SNAPPER_VMA_F_SOFTDIRTY). */
	if (snapper_session_hash_unchanged(s, addr, hash, snap->ckpt,
					   r->flags & SNAPPER_VMA_F_SOFTDIRTY ?
					   0 : snap->base_ckpt))
		return UNCHANGED;
	p->page = *copy;
	p->addr = addr | SNAPPER_PAGE_F_COPIED;
	*copy = NULL;
	snap->stats.copied++;
	snapper_stats_add(SNAPPER_STAT_PAGES_HELD, 1);
	return SEND;
}

/*
 * A hole of the object reads as zeros through the mapping: the placeholder
 * becomes a hole, or grows the one just before (*@last) in the same
 * mapping, and is then left to be dropped.
 */
static void add_hole(struct snapper_snapshot *snap,
		     struct snapper_snap_page *p,
		     struct snapper_snap_page **last)
{
	unsigned long addr = p->addr & PAGE_MASK;

	snap->stats.hole_pages++;
	if (*last && (*last)->hole_end == addr) {
		(*last)->hole_end += PAGE_SIZE;
		return;
	}
	p->addr = addr | SNAP_HOLE;
	p->hole_end = addr + PAGE_SIZE;
	snap->nr_pages--;
	*last = p;
}

/* The layout record holding @addr, from *@v on (pages ascend). */
static const struct snapper_snap_vma *record_of(struct snapper_snapshot *snap,
						unsigned int *v,
						unsigned long addr)
{
	while (*v < snap->nr_vmas && snap->vmas[*v].end <= addr)
		(*v)++;
	if (*v == snap->nr_vmas || snap->vmas[*v].start > addr ||
	    !snap->vmas[*v].file)
		return NULL;
	return &snap->vmas[*v];
}

/* Fills the placeholders; those still marked SNAP_OBJECT are dropped. */
static int fill(struct snapper_session *s, struct snapper_snapshot *snap)
{
	const struct snapper_snap_vma *r, *prev = NULL;
	struct snapper_snap_page *p, *last = NULL;
	struct snapper_snap_chunk *c;
	struct file_ra_state ra;
	struct page *copy = NULL;
	unsigned int v = 0;
	unsigned long i;
	int ret = 0;

	for (c = snap->head; c && ret >= 0; c = c->next) {
		for (i = 0; i < c->nr && ret >= 0; i++) {
			p = &c->pages[i];
			if (!(p->addr & SNAP_OBJECT))
				continue;
			r = record_of(snap, &v, p->addr & PAGE_MASK);
			if (r != prev) {
				last = NULL;	/* holes stay within a mapping */
				if (r)
					file_ra_state_init(&ra, r->file->f_mapping);
			}
			prev = r;
			ret = r ? read_page(s, snap, r, &ra, p, &copy) : UNCHANGED;
			if (ret == HOLE)
				add_hole(snap, p, &last);
			if (fatal_signal_pending(current))
				ret = -EINTR;
			cond_resched();
		}
	}
	if (copy)
		__free_page(copy);
	return ret < 0 ? ret : 0;
}

/* Removes the placeholders still unfilled, keeping the order. */
static void compact(struct snapper_snapshot *snap)
{
	struct snapper_snap_chunk *c, *out = snap->head;
	unsigned long i, o = 0;

	for (c = snap->head; c; c = c->next) {
		for (i = 0; i < c->nr; i++) {
			if (c->pages[i].addr & SNAP_OBJECT) {
				/* Still referenced if fill() stopped early. */
				snapper_snap_page_release(&c->pages[i]);
				snap->nr_pages--;
				continue;
			}
			if (o == SNAP_CHUNK_PAGES) {
				out->nr = o;
				out = out->next;
				o = 0;
			}
			out->pages[o++] = c->pages[i];
		}
	}
	for (; out; out = out->next, o = 0)
		out->nr = o;
}

/**
 * snapper_shared_read() - capture the shared pages the walk left placeholders for
 * @s: the target's session, owned (see session.h)
 * @snap: the snapshot the walk built; the target is frozen, and its mmap
 *	lock is not held
 *
 * Return: 0, or -errno (the snapshot stays consistent for release).
 */
int snapper_shared_read(struct snapper_session *s,
			struct snapper_snapshot *snap)
{
	int ret;

	snapper_session_assert_owned(s);
	ret = fill(s, snap);
	compact(snap);
	return ret;
}
