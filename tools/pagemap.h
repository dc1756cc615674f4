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
/* A swap entry's type, shown to CAP_SYS_ADMIN: 31 for a PTE marker. */
#define PM_SWAP_TYPE(pm) ((pm) & 0x1f)
#define SWAP_TYPE_PTE_MARKER 0x1f

/*
 * No entry, or a userfaultfd write-protect marker (6.4+), which pagemap
 * shows as swapped but which stands for no page.
 */
static inline bool pm_no_entry(uint64_t pm)
{
	if (!(pm & (PM_PRESENT | PM_SWAP)))
		return true;
	return !(pm & PM_PRESENT) && (pm & PM_UFFD_WP) &&
	       PM_SWAP_TYPE(pm) == SWAP_TYPE_PTE_MARKER;
}

#endif /* SNAPPER_PAGEMAP_H */
