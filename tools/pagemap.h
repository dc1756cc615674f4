/* SPDX-License-Identifier: GPL-2.0 */
/*
 * /proc/PID/pagemap entries, as the kernel documents them
 * (Documentation/admin-guide/mm/pagemap.rst): the bits the /proc backend
 * and restore read, and what /proc/kpageflags adds for files on DAX; and
 * which mapped files are memory rather than files (on_disk()).
 */
#ifndef SNAPPER_PAGEMAP_H
#define SNAPPER_PAGEMAP_H

#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/kernel-page-flags.h>
#include <linux/magic.h>

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

/*
 * UFFDIO_POISON's marker (6.6 and later): no page, and none to be had (a
 * fault there is SIGBUS, a write through /proc/PID/mem or
 * process_vm_writev EFAULT). Its bit among the marker's (PTE_MARKER_POISONED
 * in include/linux/swapops.h); root only, as pm_no_entry()'s.
 */
static inline bool pm_poison_marker(uint64_t pm)
{
	return (pm & PM_SWAP) && pm_no_entry(pm) && (PM_SWAP_OFFSET(pm) & 2);
}

/* Is @path (relative to @dirfd; "": @dirfd itself) a file on DAX? */
static inline bool is_dax(int dirfd, const char *path)
{
	struct statx stx;

	return !statx(dirfd, path, *path ? 0 : AT_EMPTY_PATH,
		      STATX_BASIC_STATS, &stx) &&
	       (stx.stx_attributes_mask & STATX_ATTR_DAX) &&
	       (stx.stx_attributes & STATX_ATTR_DAX);
}

/*
 * Is @fs (a statfs()) that of memory rather than files: tmpfs (memfd,
 * SysV, shared anonymous, /dev/shm) or hugetlbfs?
 */
static inline bool memory_fs(const struct statfs *fs)
{
	return fs->f_type == TMPFS_MAGIC ||
	       fs->f_type == (typeof(fs->f_type))HUGETLBFS_MAGIC;
}

/*
 * Is the file behind @fd (@fs, @st: its fstatfs() and fstat()), opened
 * through process @pid's map_files, a regular file of a file system on a
 * block device whose reads no process serves? Deleted, such a file is
 * memory (the /proc backend captures its mappings from it, restore writes
 * them back), as for the module's is_disk_file() (kmod/shared.c). Seen
 * from userspace: the mount's line in the target's mountinfo (found by the
 * mount's id) names the file system's type, and /proc/filesystems marks
 * "nodev" the types without a device (no FS_REQUIRES_DEV). Not fuseblk,
 * not DAX.
 */
static inline bool on_disk(uint32_t pid, int fd, const struct statfs *fs,
			   const struct stat *st)
{
	char path[64], type[64] = "", word[64], name[64], *line = NULL, *p;
	struct statx stx;
	size_t len = 0;
	bool disk = false;
	FILE *f;
	int id;

	if (!S_ISREG(st->st_mode) ||
	    fs->f_type == (typeof(fs->f_type))FUSE_SUPER_MAGIC ||
	    is_dax(fd, "") ||
	    statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) ||
	    !(stx.stx_mask & STATX_MNT_ID))
		return false;
	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/mountinfo", pid);
	f = fopen(path, "re");
	while (f && !type[0] && getline(&line, &len, f) > 0)
		if (sscanf(line, "%d", &id) == 1 && (uint64_t)id == stx.stx_mnt_id &&
		    (p = strstr(line, " - ")))
			sscanf(p + 3, "%63s", type);
	if (f)
		fclose(f);
	f = type[0] ? fopen("/proc/filesystems", "re") : NULL;
	while (f && getline(&line, &len, f) > 0)
		if (sscanf(line, "%63s %63s", word, name) == 1 &&
		    !strcmp(word, type))
			disk = true;
	if (f)
		fclose(f);
	free(line);
	return disk;
}

/*
 * A DAX file's pages are the device's memory, which pagemap does not call
 * a file's page (no page-cache page behind the entry), where the module
 * sees a devmap entry (tracker.c). In a private mapping of such a file a
 * present page is the target's own copy only if its frame is an anonymous
 * page, which /proc/kpageflags (@kpageflags, open, or -1) tells from the
 * frame pagemap shows: to root alone, as is the frame. Without them such
 * pages are taken as copies, the file's bytes. Return: whether @pm, an
 * entry of a private mapping of a DAX file, is the file's page.
 */
static inline bool pm_dax_file_page(int kpageflags, uint64_t pm)
{
	uint64_t flags;

	if (kpageflags < 0 || !(pm & PM_PRESENT) || (pm & PM_FILE) ||
	    !(pm & PM_PFN_MASK))
		return false;
	return pread(kpageflags, &flags, sizeof(flags),
		     (off_t)((pm & PM_PFN_MASK) * sizeof(flags))) ==
	       sizeof(flags) && !(flags & (1ULL << KPF_ANON));
}

#endif /* SNAPPER_PAGEMAP_H */
