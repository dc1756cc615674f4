/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The differential oracle: a generation against the live memory of the
 * process it was taken from, byte for byte. The one place where a guest
 * test checks that a generation is exact; every suite that needs the check
 * includes this file.
 *
 * The generation is read through the store library's own reader, hash
 * checks included, opened once per comparison (an export process per
 * mapping cost 0.4 s under TCG: 15 s for a process of 35 mappings);
 * as `snapper-tool export` does, a range outside the span of the
 * generation's mappings is an error. The process is read through
 * /proc/PID/mem, which reads what the process itself would read: zeros
 * where nothing is mapped in a private anonymous mapping, the object's
 * content in a shared one. The target must be quiescent (stopped with
 * SIGSTOP, or parked by its own protocol) from the checkpoint to the
 * comparison.
 *
 * Compared: every anonymous mapping (no path, or [heap], [stack],
 * [anon:...]), every shared writable mapping of /proc/PID/maps and every
 * read-only shared or private one of memory no name reaches
 * (oracle_unlinked_memory(): a memfd, say), and every one of a deleted
 * file of a disk file system (oracle_unlinked_disk()), page by page. In a
 * private mapping of any other file a generation holds only the pages the
 * target wrote (its anonymous copies): there, a page that pagemap shows
 * anonymous (present or swapped, not a file page) is compared, and every
 * other page reads as the file and must not be in the generation (export
 * gives zeros); in a DAX file's mapping, where pagemap calls no page a
 * file's, /proc/kpageflags tells the anonymous copies from the file. Not
 * compared: read-only shared mappings of other files (their file holds
 * them), and the kernel's special mappings ([vdso], [vvar], [vsyscall],
 * [uprobes]). Pages /proc/PID/mem cannot read (VM_IO, VM_PFNMAP,
 * secretmem) are skipped, but for one in a private mapping, anonymous or
 * of a file, or in a shared one of memory (memfd, shared anonymous, SysV,
 * /dev/shm): poisoned (a memory error, UFFDIO_POISON), or a private
 * mapping's page past its file's end, it has no content, and the
 * generation must hold none (export's zeros).
 */
#ifndef SNAPPER_ORACLE_H
#define SNAPPER_ORACLE_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/kernel-page-flags.h>
#include <linux/magic.h>
#include <linux/userfaultfd.h>

#include "snapper_guest.h"
#include "store/store.h"

#define ORACLE_PAGE	4096UL
#define ORACLE_CHUNK	64UL		/* pages read at once */
#define ORACLE_SHOW	16		/* differing pages printed per call */

/* One line of /proc/PID/maps, as far as the oracle cares. */
struct oracle_map {
	uint64_t start, end;
	char perms[5];
	char path[256];
};

/*
 * The file system of the object @m maps if no name reaches it (a link
 * count of 0), else 0. @m->path is what maps says, " (deleted)" at the
 * end for such an object.
 */
static inline long oracle_unlinked(pid_t pid, const struct oracle_map *m)
{
	static const char mark[] = " (deleted)";
	size_t n = strlen(m->path), k = sizeof(mark) - 1;
	char path[96];
	struct statfs fs;
	struct stat st;

	if (n < k || strcmp(m->path + n - k, mark))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
		 pid, m->start, m->end);
	return !statfs(path, &fs) && !stat(path, &st) && !st.st_nlink ?
	       (long)fs.f_type : 0;
}

/*
 * Shared memory that no name reaches (a memfd, SysV shm, shared anonymous
 * memory: tmpfs or hugetlbfs): its pages exist nowhere else, and others
 * may write them. Mapped shared read-only, or private, where the target
 * reads the object's pages wherever it has no copy of its own.
 */
static inline bool oracle_unlinked_memory(pid_t pid, const struct oracle_map *m)
{
	long t = oracle_unlinked(pid, m);

	return t == TMPFS_MAGIC || t == (long)HUGETLBFS_MAGIC;
}

/*
 * A deleted regular file of a file system on a block device whose reads
 * no process serves: /proc/filesystems lists its type (named in the
 * mount's line of the target's mountinfo) without "nodev", and it is not
 * fuseblk, nor on DAX. Mapped shared, or private where the target has no
 * copy, the target reads its pages, which others may write and no name
 * leads to: they are memory. Written apart from the tools' on_disk()
 * (tools/pagemap.h), which it checks.
 */
static inline bool oracle_unlinked_disk(pid_t pid, const struct oracle_map *m)
{
	char path[96], type[64] = "", a[64], b[64], *line = NULL, *p;
	struct statx stx;
	size_t len = 0;
	bool disk = false;
	long t = oracle_unlinked(pid, m);
	FILE *f;
	int id;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
		 pid, m->start, m->end);
	if (!t || t == TMPFS_MAGIC || t == (long)HUGETLBFS_MAGIC ||
	    t == FUSE_SUPER_MAGIC ||
	    statx(AT_FDCWD, path, 0, STATX_BASIC_STATS | STATX_MNT_ID, &stx) ||
	    !S_ISREG(stx.stx_mode) || !(stx.stx_mask & STATX_MNT_ID) ||
	    (stx.stx_attributes & STATX_ATTR_DAX))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", pid);
	f = fopen(path, "re");
	while (f && !type[0] && getline(&line, &len, f) > 0)
		if (sscanf(line, "%d", &id) == 1 &&
		    (uint64_t)id == stx.stx_mnt_id && (p = strstr(line, " - ")))
			sscanf(p + 3, "%63s", type);
	if (f)
		fclose(f);
	f = type[0] ? fopen("/proc/filesystems", "re") : NULL;
	while (f && getline(&line, &len, f) > 0)
		disk |= sscanf(line, "%63s %63s", a, b) == 1 && !strcmp(a, type);
	if (f)
		fclose(f);
	free(line);
	return disk;
}

/* Is this mapping's memory the generation's business? */
static inline bool oracle_wanted(pid_t pid, const struct oracle_map *m)
{
	static const char *const special[] = {
		"[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]", "[uprobes]",
	};
	size_t i;

	if (m->perms[3] == 's')
		return m->perms[1] == 'w' || oracle_unlinked_memory(pid, m) ||
		       oracle_unlinked_disk(pid, m);
	if (!m->path[0] || !strncmp(m->path, "[anon:", 6))
		return true;
	if (m->path[0] != '[')	/* a private file mapping: of a memfd? */
		return oracle_unlinked_memory(pid, m) ||
		       oracle_unlinked_disk(pid, m);
	for (i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (!strcmp(m->path, special[i]))
			return false;
	return true;		/* [heap], [stack] */
}

/*
 * A private file mapping: only the pages the target wrote are its own.
 * Not one of memory no name reaches, compared whole (oracle_wanted()).
 */
static inline bool oracle_private_file(pid_t pid, const struct oracle_map *m)
{
	return m->perms[3] == 'p' && m->path[0] == '/' &&
	       !oracle_unlinked_memory(pid, m) && !oracle_unlinked_disk(pid, m);
}

static inline bool oracle_parse(const char *line, struct oracle_map *m)
{
	unsigned long long s, e;
	int n = 0;

	memset(m, 0, sizeof(*m));
	if (sscanf(line, "%llx-%llx %4s %*s %*s %*s %n", &s, &e, m->perms,
		   &n) < 3)
		return false;
	if (n)
		sscanf(line + n, "%255[^\n]", m->path);
	m->start = s;
	m->end = e;
	return true;
}

/* Reads @n pages at @addr; a page /proc/PID/mem refuses is marked bad. */
static inline void oracle_read_live(int mem, uint64_t addr, size_t n,
				    uint8_t *buf, bool *bad)
{
	size_t i;

	if (pread(mem, buf, n * ORACLE_PAGE, (off_t)addr) ==
	    (ssize_t)(n * ORACLE_PAGE)) {
		memset(bad, 0, n * sizeof(*bad));
		return;
	}
	for (i = 0; i < n; i++)
		bad[i] = pread(mem, buf + i * ORACLE_PAGE, ORACLE_PAGE,
			       (off_t)(addr + i * ORACLE_PAGE)) !=
			 (ssize_t)ORACLE_PAGE;
}

static inline void oracle_show(const struct oracle_map *m, uint64_t addr,
			       const uint8_t *gen, const uint8_t *live)
{
	size_t k;

	for (k = 0; k < ORACLE_PAGE / 8; k++)
		if (memcmp(gen + k * 8, live + k * 8, 8))
			break;
	fprintf(stderr,
		"# oracle: page %#" PRIx64 " of %" PRIx64 "-%" PRIx64 " %s %s: "
		"at +%#zx the generation has %016" PRIx64 ", the process %016"
		PRIx64 "\n", addr, m->start, m->end, m->perms,
		m->path[0] ? m->path : "(anonymous)", k * 8,
		*(const uint64_t *)(gen + k * 8),
		*(const uint64_t *)(live + k * 8));
}

/*
 * In a private file mapping, what the generation must hold: the live page
 * where the target has its own copy (pagemap: present or swapped, not a
 * file page), nothing (export's zeros) where the page reads as the file.
 * A DAX file's pages are the device's memory, which pagemap does not call
 * a file's (no page-cache page behind the entry): in such a mapping
 * (@kpageflags open, else -1) a present page is the target's own only if
 * its frame is an anonymous page.
 */
static inline int oracle_file_expect(int pagemap, int kpageflags,
				     uint64_t addr, size_t n, uint8_t *live)
{
	uint64_t pm[ORACLE_CHUNK], kf;
	bool own;
	size_t i;

	if (pread(pagemap, pm, n * 8, (off_t)(addr / ORACLE_PAGE * 8)) !=
	    (ssize_t)(n * 8))
		return -1;
	for (i = 0; i < n; i++) {
		own = (pm[i] >> 62 & 3) && !(pm[i] >> 61 & 1);
		if (own && kpageflags >= 0 && (pm[i] >> 63 & 1)) {
			if (pread(kpageflags, &kf, 8,
				  (off_t)((pm[i] & ((1ULL << 55) - 1)) * 8)) != 8)
				return -1;
			own = kf >> KPF_ANON & 1;
		}
		if (!own)
			memset(live + i * ORACLE_PAGE, 0, ORACLE_PAGE);
	}
	return 0;
}

/* Is the object of @m in process @pid a DAX file? */
static inline bool oracle_dax(pid_t pid, const struct oracle_map *m)
{
	struct statx stx;
	char path[96];

	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
		 pid, m->start, m->end);
	return !statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &stx) &&
	       (stx.stx_attributes_mask & STATX_ATTR_DAX) &&
	       (stx.stx_attributes & STATX_ATTR_DAX);
}

/* Is [start, end) within the span of @snap's mappings, as export requires? */
static inline bool oracle_in_span(struct store_snap *snap, uint64_t start,
				  uint64_t end)
{
	const struct store_vma *v;
	size_t n = store_snap_vmas(snap, &v);

	return n && start >= v[0].start && end <= v[n - 1].end;
}

/*
 * Compares one mapping of process @pid (@pagemap: its, for a private file
 * mapping). Return: differing pages, or -1.
 */
static inline long oracle_map_compare(struct store_snap *snap, pid_t pid,
				      int mem, int pagemap, int kpageflags,
				      const struct oracle_map *m, long *shown)
{
	static uint8_t g[ORACLE_CHUNK * ORACLE_PAGE], l[ORACLE_CHUNK * ORACLE_PAGE];
	bool file = oracle_private_file(pid, m);
	/* Private and compared whole: anonymous, or of a memfd. */
	bool anon = m->perms[3] == 'p' && !file;
	bool memory = m->perms[3] == 's' &&
		      (!strncmp(m->path, "/memfd:", 7) ||
		       !strncmp(m->path, "/dev/zero", 9) ||
		       !strncmp(m->path, "/SYSV", 5) ||
		       !strncmp(m->path, "/dev/shm/", 9));
	bool bad[ORACLE_CHUNK];
	uint64_t addr = m->start;
	long diff = 0;
	size_t n, i;

	if (!oracle_in_span(snap, m->start, m->end)) {
		fprintf(stderr, "# oracle: %" PRIx64 "-%" PRIx64 " %s is outside "
			"the generation's mappings\n", m->start, m->end,
			m->path[0] ? m->path : "(anonymous)");
		return -1;
	}
	for (; addr < m->end; addr += n * ORACLE_PAGE) {
		n = (m->end - addr) / ORACLE_PAGE;
		if (n > ORACLE_CHUNK)
			n = ORACLE_CHUNK;
		if (store_snap_read_pages(snap, addr, n, g)) {
			fprintf(stderr, "# oracle: reading %" PRIx64 " of the "
				"generation: %s\n", addr, store_strerror());
			return -1;
		}
		oracle_read_live(mem, addr, n, l, bad);
		/* Reading a file's page maps it in: still the file's. */
		if (file && oracle_file_expect(pagemap, kpageflags, addr, n, l))
			return -1;
		for (i = 0; i < n; i++) {
			/* Unreadable: poisoned, which a hole stands for. */
			if (bad[i] && (anon || memory || file))
				memset(l + i * ORACLE_PAGE, 0, ORACLE_PAGE);
			if ((bad[i] && !anon && !memory && !file) ||
			    !memcmp(g + i * ORACLE_PAGE, l + i * ORACLE_PAGE,
				    ORACLE_PAGE))
				continue;
			diff++;
			if ((*shown)++ < ORACLE_SHOW)
				oracle_show(m, addr + i * ORACLE_PAGE,
					    g + i * ORACLE_PAGE,
					    l + i * ORACLE_PAGE);
		}
	}
	return diff;
}

/*
 * Compares generation @gen of the store at @store with /proc/@pid/mem of the
 * stopped target, for every anonymous, every shared writable and every
 * private file mapping (from /proc/PID/maps, as said at the top); prints each differing page (address, mapping); returns the
 * number of differing pages, 0 when exact, -1 on error.
 */
static inline long oracle_compare(const char *store, uint64_t gen, pid_t pid)
{
	struct store_snap *snap = NULL;
	char path[64], *line = NULL;
	struct store *s = NULL;
	struct oracle_map m;
	long total = 0, shown = 0, d;
	size_t len = 0;
	FILE *maps;
	int mem, pagemap, kpageflags;

	if (store_open(&s, store, NULL, STORE_RDONLY | STORE_NOCREATE) ||
	    store_snap_open(s, gen, &snap)) {
		fprintf(stderr, "# oracle: generation %" PRIu64 " of %s: %s\n",
			gen, store, store_strerror());
		if (s)
			store_close(s);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	mem = open(path, O_RDONLY);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pagemap = open(path, O_RDONLY);
	if (!maps || mem < 0 || pagemap < 0) {
		fprintf(stderr, "# oracle: process %d: %s\n", pid,
			strerror(errno));
		total = -1;
		goto out;
	}
	while (getline(&line, &len, maps) > 0) {
		if (!oracle_parse(line, &m) ||
		    (!oracle_wanted(pid, &m) && !oracle_private_file(pid, &m)))
			continue;
		kpageflags = -1;
		if (oracle_private_file(pid, &m) && oracle_dax(pid, &m))
			kpageflags = open("/proc/kpageflags", O_RDONLY);
		d = oracle_map_compare(snap, pid, mem, pagemap, kpageflags, &m,
				       &shown);
		if (kpageflags >= 0)
			close(kpageflags);
		if (d < 0) {
			total = -1;
			break;
		}
		total += d;
	}
	if (total > 0)
		fprintf(stderr, "# oracle: generation %" PRIu64 " of %s and "
			"process %d differ in %ld pages\n", gen, store, pid,
			total);
out:
	free(line);
	if (maps)
		fclose(maps);
	if (mem >= 0)
		close(mem);
	if (pagemap >= 0)
		close(pagemap);
	store_snap_close(snap);
	store_close(s);
	return total;
}

/*
 * `snapper-tool checkpoint [--backend proc] [--full] --store @store @pid`.
 * Return: the generation it committed, 0 on failure (its output printed).
 */
static inline uint64_t oracle_checkpoint(const char *store, pid_t pid,
					 bool proc, bool full)
{
	char cmd[1024], out[4096];
	const char *g;
	size_t n;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd),
		 "snapper-tool checkpoint %s%s--store '%s' %d 2>&1",
		 proc ? "--backend proc " : "", full ? "--full " : "", store,
		 pid);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	st = pclose(f);
	g = strstr(out, "generation ");
	if (st || !g) {
		fprintf(stderr, "# oracle: `%s`: %s", cmd, out);
		return 0;
	}
	return strtoull(g + strlen("generation "), NULL, 10);
}

/*
 * Called first in a target forked from a test: leaves it only memory that
 * it alone changes. The kernel rewrites a thread's rseq area (cpu_id)
 * whenever the thread returns to user mode on another CPU, which a
 * ptrace stop (--backend proc) makes it do after the instant: unregister
 * it. The harness's shared result page is written by the test process:
 * unmap every inherited shared mapping.
 */
static inline void oracle_target_init(void)
{
	char line[512];
	struct oracle_map m;
	FILE *f;

	if (__rseq_size &&
	    syscall(__NR_rseq, (char *)__builtin_thread_pointer() + __rseq_offset,
		    32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG))
		syscall(__NR_rseq, (char *)__builtin_thread_pointer() + __rseq_offset,
			__rseq_size, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
	f = fopen("/proc/self/maps", "r");
	if (!f)
		return;
	/* Reading on after munmap() is fine: the file tracks the address. */
	while (fgets(line, sizeof(line), f))
		if (oracle_parse(line, &m) && m.perms[3] == 's')
			munmap((void *)(uintptr_t)m.start, m.end - m.start);
	fclose(f);
}

/*
 * A parked target and its two pipes: the test writes commands to @cmd,
 * the target answers on @ack.
 */
struct oracle_link {
	pid_t pid;
	int cmd, ack;
};

/*
 * Forks a target. In the child: returns 0 with @l->cmd and @l->ack the
 * ends it reads commands from and answers on. In the parent: returns the
 * child's pid, @l holding the other ends; -1 if a pipe or the fork failed.
 */
static inline pid_t oracle_fork(struct oracle_link *l)
{
	int to[2], from[2];

	l->pid = -1;
	if (pipe(to))
		return -1;
	if (pipe(from)) {
		close(to[0]);
		close(to[1]);
		return -1;
	}
	l->pid = fork();
	if (l->pid < 0) {
		close(to[0]);
		close(to[1]);
		close(from[0]);
		close(from[1]);
		return -1;
	}
	close(l->pid ? to[0] : to[1]);
	close(l->pid ? from[1] : from[0]);
	l->cmd = l->pid ? to[1] : to[0];
	l->ack = l->pid ? from[0] : from[1];
	return l->pid;
}

/* Kills and reaps a target oracle_fork() started, if it did. */
static inline void oracle_kill(struct oracle_link *l)
{
	guest_kill_child(&l->pid, l->cmd, l->ack);
}

/*
 * A 64 MiB swap file on $SNAPPER_SCRATCH, on, named in @path.
 * Return: NULL, or why there can be none (@path is then empty or names a
 * file for oracle_swap_off() to remove).
 */
static inline const char *oracle_swap_on(char *path, size_t len)
{
	char cmd[600];

	snprintf(path, len, "%s/oracle-%d.swap", getenv("SNAPPER_SCRATCH"),
		 getpid());
	/* ext4 swaps to preallocated (unwritten) extents: no need to write. */
	snprintf(cmd, sizeof(cmd), "fallocate -l 64M %s && chmod 600 %s && "
		 "mkswap %s >/dev/null 2>&1", path, path, path);
	if (system(cmd))
		return "cannot make a swap file on $SNAPPER_SCRATCH";
	if (swapon(path, 0))
		return errno == ENOSYS ? "this kernel has no swap (CONFIG_SWAP unset)" :
					 "swapon failed";
	return NULL;
}

static inline void oracle_swap_off(const char *path)
{
	if (!path[0])
		return;
	swapoff(path);
	unlink(path);
}

#endif /* SNAPPER_ORACLE_H */
