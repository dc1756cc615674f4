/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Included first by every file of the module: the one place where
 * differences between the supported kernels are bridged, and where a
 * kernel the module cannot serve is refused at build time.
 *
 * checkpatch --strict: LINUX_VERSION_CODE (and CONSTANT_COMPARISON, the
 * form of that test) is how a module built out of tree for 6.1 and 6.12
 * tells them apart where there is nothing to probe; the macros below are
 * only ever given plain variables, so reusing an argument is harmless
 * (MACRO_ARG_REUSE).
 */
#ifndef _SNAPPER_COMPAT_H
#define _SNAPPER_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "snapper needs Linux 6.1 or newer"
#endif

/* Without it every incremental checkpoint would come back empty. */
#ifndef CONFIG_MEM_SOFT_DIRTY
#error "snapper needs CONFIG_MEM_SOFT_DIRTY=y"
#endif

/* Huge PMDs are walked with THP helpers that are BUILD_BUG() without it. */
#ifndef CONFIG_TRANSPARENT_HUGEPAGE
#error "snapper needs CONFIG_TRANSPARENT_HUGEPAGE=y"
#endif

/* Hugetlb mappings are walked with helpers that exist only with it. */
#ifndef CONFIG_HUGETLB_PAGE
#error "snapper needs CONFIG_HUGETLB_PAGE=y (CONFIG_HUGETLBFS)"
#endif

/*
 * Huge-page subpage hashes use xxh64 (session.c). XXHASH has no prompt of
 * its own: btrfs, zstd and CRYPTO_XXHASH select it, as every distribution
 * kernel does; a minimal kernel needs e.g. CONFIG_CRYPTO_XXHASH=y.
 */
#if !IS_BUILTIN(CONFIG_XXHASH)
#error "snapper needs CONFIG_XXHASH=y (select it with CONFIG_CRYPTO_XXHASH=y)"
#endif

#ifndef pr_fmt
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#endif

/*
 * Changing vm_flags or vm_page_prot needs the VMA's write lock on 6.4 and
 * later, since faults may run under the per-VMA lock alone (the mmap lock
 * excludes only the others). vm_flags_clear() (6.3+) takes it through
 * vma_start_write(): inline up to 6.14, out of line in the exported
 * __vma_start_write() from 6.15. The lock is held until the mmap lock is
 * released, so vm_page_prot may be written after it. 6.1 has no per-VMA
 * locks: the mmap write lock is enough.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define snapper_vma_clear_flags(vma, flags)	vm_flags_clear(vma, flags)
#else
#define snapper_vma_clear_flags(vma, flags)				\
	WRITE_ONCE((vma)->vm_flags, (vma)->vm_flags & ~(flags))
#endif

/*
 * pgprot_modify() needs cc_mask, which 6.1 does not export. Keep the cache
 * mode of the old protection (a driver may have set it) and take the rest
 * from the new one.
 */
#define snapper_pgprot_modify(oldprot, newprot)				\
	__pgprot((pgprot_val(oldprot) & _PAGE_CACHE_MASK) |		\
		 (pgprot_val(newprot) & ~_PAGE_CACHE_MASK))

/* 6.5 dropped the vmas argument of get_user_pages_remote(). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define snapper_gup_remote(mm, addr, flags, pagep)			\
	get_user_pages_remote((mm), (addr), 1, (flags), (pagep), NULL)
#else
#define snapper_gup_remote(mm, addr, flags, pagep)			\
	get_user_pages_remote((mm), (addr), 1, (flags), (pagep), NULL, NULL)
#endif

/* 6.11 gave huge_ptep_get() the mm and the address (for arm64). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
#define snapper_huge_ptep_get(mm, addr, ptep)	huge_ptep_get(mm, addr, ptep)
#else
#define snapper_huge_ptep_get(mm, addr, ptep)	huge_ptep_get(ptep)
#endif

/*
 * The page cache of a hugetlbfs file: one entry per huge page at the huge
 * page's own index on 6.1, a multi-index entry at the base-page index of
 * its first page from 6.7 (filemap_lock_hugetlb_folio()).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
#define snapper_hugetlb_index(order, index)	((index) & ~((1UL << (order)) - 1))
/* From a base-page index to that page cache's, as a shift. */
static inline unsigned int snapper_hugetlb_shift(unsigned int order)
{
	return 0;
}
#else
#define snapper_hugetlb_index(order, index)	((index) >> (order))
static inline unsigned int snapper_hugetlb_shift(unsigned int order)
{
	return order;
}
#endif

/*
 * A page the process can no longer read: a memory error's hwpoison entry,
 * or from 6.6 a poisoned PTE marker (UFFDIO_POISON, and a swap-in that
 * failed to read).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
#define snapper_entry_poisoned(entry)					\
	(is_hwpoison_entry(entry) || is_poisoned_swp_entry(entry))
#else
#define snapper_entry_poisoned(entry)	is_hwpoison_entry(entry)
#endif

/*
 * How many times a large folio is mapped, by PTEs or whole: 6.11 keeps the
 * total, folio_mapcount() (inline). Before, folio_mapcount() is not
 * exported; the pages' mapcounts are summed, and a folio also mapped
 * whole somewhere counts as more than any page table could map.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
#define snapper_large_mapcount(folio)	folio_mapcount(folio)
#else
#include <linux/mm.h>
static inline long snapper_large_mapcount(struct folio *folio)
{
	long i, n = 0;

	if (folio_entire_mapcount(folio))
		return LONG_MAX;
	for (i = 0; i < folio_nr_pages(folio); i++)
		n += page_mapcount(folio_page(folio, i));
	return n;
}
#endif

/* 6.2 moved the parsed attributes of a dump into a struct genl_info. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#define snapper_dump_attrs(cb)	(genl_dumpit_info(cb)->info.attrs)
#else
#define snapper_dump_attrs(cb)	(genl_dumpit_info(cb)->attrs)
#endif

#endif /* _SNAPPER_COMPAT_H */
