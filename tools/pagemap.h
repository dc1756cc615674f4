/* SPDX-License-Identifier: GPL-2.0 */
/*
 * /proc/PID/pagemap entries, as the kernel documents them
 * (Documentation/admin-guide/mm/pagemap.rst): the bits the /proc backend
 * and restore read.
 */
#ifndef SNAPPER_PAGEMAP_H
#define SNAPPER_PAGEMAP_H

#include <stdbool.h>
#include <stdint.h>

#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_FILE (1ULL << 61)		/* a file's page, or shared anonymous */
#define PM_UFFD_WP (1ULL << 57)
#define PM_EXCLUSIVE (1ULL << 56)	/* mapped by this process only */
#define PM_SOFT_DIRTY (1ULL << 55)
#define PM_PFN_MASK ((1ULL << 55) - 1)
/* A swap entry's type and offset, shown to CAP_SYS_ADMIN. */
#define PM_SWAP_TYPE(pm) ((pm) & 0x1f)
#define PM_SWAP_OFFSET(pm) (((pm) & PM_PFN_MASK) >> 5)
/*
 * Types from here up are not swap devices but the kernel's own entries
 * (migration, hwpoison, device memory, PTE markers): 32 types less at
 * most 9 of those (include/linux/swap.h, MAX_SWAPFILES).
 */
#define SWAP_TYPE_SPECIAL 23
/* A PTE marker's offset is its flag bits (uffd-wp, poisoned, guard). */
#define PTE_MARKER_OFFSET_MAX 7

/*
 * No entry, or a PTE marker, which pagemap shows as swapped but which
 * stands for no page: userfaultfd's write-protection of a page not mapped
 * (shared memory and hugetlb since 5.19, anonymous memory with
 * UFFD_FEATURE_WP_UNPOPULATED since 6.4); reading there faults. Its type
 * is the last special one, which depends on the kernel's configuration:
 * 30 on Debian's 6.1, 31 on its 6.12. Every other special entry's offset
 * is a page frame number, never one of the first eight. Without
 * CAP_SYS_ADMIN pagemap shows neither type nor offset, and a marker
 * looks like a swapped page.
 */
static inline bool pm_no_entry(uint64_t pm)
{
	if (!(pm & (PM_PRESENT | PM_SWAP)))
		return true;
	return !(pm & PM_PRESENT) && PM_SWAP_TYPE(pm) >= SWAP_TYPE_SPECIAL &&
	       PM_SWAP_OFFSET(pm) && PM_SWAP_OFFSET(pm) <= PTE_MARKER_OFFSET_MAX;
}

#endif /* SNAPPER_PAGEMAP_H */
