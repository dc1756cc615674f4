// SPDX-License-Identifier: GPL-2.0
/*
 * The userspace page source: what the module does, with the interfaces any
 * kernel with CONFIG_MEM_SOFT_DIRTY offers a root process. It is the
 * fallback where the module cannot be loaded, and the baseline the
 * benchmark measures the module against.
 *
 * The price is the freeze: userspace cannot keep a page's old content by
 * copy-on-write, so every page is copied out while the target is stopped,
 * and the stop lasts the whole read. The threads, and those of any process
 * sharing the target's mm (threads.c), are stopped with
 * PTRACE_SEIZE + PTRACE_INTERRUPT, which the target's parent does not see
 * (no SIGCHLD, no WSTOPPED), and a signal that arrives meanwhile is handed
 * back on detach.
 *
 * The durability handshake lives in /run/snapper/proc-PID: soft-dirty bits
 * are cleared before the generation is durable, so a checkpoint that never
 * gets acknowledged leaves a "pending" mark there, and the next checkpoint
 * of that process is full. Changes are never lost; only incrementality is,
 * after a failure. Next to it, proc-PID.frames records what each page held
 * at the last checkpoint, for pages moved with their page tables (see
 * load_frames()); both go once the process is gone (sweep_state()).
 *
 * Holes, as the module reports them: in a private anonymous mapping a
 * page that pagemap shows neither present nor swapped, or mapping the zero
 * page (its frame is learnt from a page of our own) or the huge zero page
 * (the one page pagemap calls a file page there), or a userfaultfd
 * write-protect marker (pagemap calls it swapped, of the markers' type).
 * In a private file mapping, an incremental checkpoint reports as FILE
 * holes the pages that read as the file (no page, no swap entry, a
 * write-protect marker, or the file's own page).
 *
 * KSM merges a written page by installing an entry without the write's
 * soft-dirty bit, and the copy an unsharing pin makes of it can sit on the
 * frame the page had before: in a process KSM knows, every present
 * anonymous page is taken (see ksm_known()). In a process that holds
 * long-term pins, every present page is (see holds_pins()).
 *
 * Mappings the module lists but does not read (VM_IO, VM_PFNMAP,
 * secretmem) are listed and not read here either: see mark_skipped().
 * Shared memory, which others write unseen, is read whole from its
 * object (so are the pages a private mapping of a memfd or a deleted
 * file reads from it), and private hugetlb pages, which no soft-dirty bit
 * tracks, are taken at every checkpoint, as the module does both: see
 * open_object() and mark_huge().
 *
 * What it cannot see: /proc/PID/maps does not show VM_SOFTDIRTY, so a
 * file or shared mapping unmapped and mapped again at the same place
 * between two checkpoints is not marked fresh, and the store may carry the
 * base's pages over where the new mapping has none yet (a private
 * anonymous one reports its empty pages as holes). Use the module where
 * that matters.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/kernel-page-flags.h>
#include <linux/magic.h>

#include "pagemap.h"
#include "procsrc.h"
#include "threads.h"

#define PAGE_SIZE 4096UL
#define STATE_DIR "/run/snapper"

static char errbuf[512];

const char *proc_strerror(void)
{
	return errbuf;
}

static int fail(int err, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	n = strlen(errbuf);
	snprintf(errbuf + n, sizeof(errbuf) - n, ": %s", strerror(-err));
	return err;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* --- handshake state ------------------------------------------------------ */

struct state {
	uint64_t starttime;	/* /proc/PID/stat field 22: tells pid reuse */
	uint64_t store_id;
	uint64_t acked_gen;
	uint64_t pending;	/* checkpoint id whose bits were cleared, unacked */
	uint64_t ksm;		/* 1 once KSM knew the process: ksm_known() */
};

static void state_path(uint32_t pid, char *buf, size_t len)
{
	snprintf(buf, len, STATE_DIR "/proc-%" PRIu32, pid);
}

static bool load_state(uint32_t pid, struct state *st)
{
	char path[64];
	bool ok;
	FILE *f;

	state_path(pid, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return false;
	/* The fifth field came later: a file without it reads as 0 there. */
	st->ksm = 0;
	ok = fscanf(f, "%" SCNu64 " %" SCNx64 " %" SCNu64 " %" SCNx64
		    " %" SCNu64, &st->starttime, &st->store_id, &st->acked_gen,
		    &st->pending, &st->ksm) >= 4;
	fclose(f);
	return ok;
}

static int save_state(uint32_t pid, const struct state *st)
{
	char path[64], tmp[80];
	FILE *f;

	if (mkdir(STATE_DIR, 0700) && errno != EEXIST)
		return fail(-errno, "%s", STATE_DIR);
	state_path(pid, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return fail(-errno, "%s", tmp);
	fprintf(f, "%" PRIu64 " %" PRIx64 " %" PRIu64 " %" PRIx64 " %" PRIu64
		"\n", st->starttime, st->store_id, st->acked_gen, st->pending,
		st->ksm);
	if (fclose(f) || rename(tmp, path))
		return fail(-errno, "%s", path);
	return 0;
}

/*
 * Removes the state of processes that are gone: a record of frames is
 * 16 bytes per page, in memory (/run is a tmpfs). A pid reused meanwhile
 * keeps its files until its next checkpoint (full: another starttime)
 * replaces them.
 */
static void sweep_state(void)
{
	DIR *d = opendir(STATE_DIR);
	struct dirent *e;
	char path[300];
	unsigned int pid;
	int n;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (sscanf(e->d_name, "proc-%u%n", &pid, &n) != 1 ||
		    (e->d_name[n] && strcmp(e->d_name + n, ".frames")) ||
		    !pid || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), STATE_DIR "/%s", e->d_name);
		unlink(path);
	}
	closedir(d);
}

static int read_starttime(uint32_t pid, uint64_t *out)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/stat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return fail(-errno, "%s", path);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return fail(-EIO, "%s", path);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: count fields after the last ')'. */
	p = strrchr(buf, ')');
	for (i = 2; p && i < 22; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%" SCNu64, out) != 1)
		return fail(-EPROTO, "%s", path);
	return 0;
}

/* --- what is read while stopped --------------------------------------------- */

struct vma {
	struct snapper_ckpt_vma v;
	char *path;
	char perms[5];	/* as maps shows them */
	uint64_t ino;	/* of its file; 0 for none */
	bool holes;	/* private anonymous: an empty page reads as zeros */
	bool file;	/* private file: a page not anonymous reads the file */
	bool dax;	/* private DAX file: see pm_dax_file_page() */
	bool kernel;	/* shared, writable, a kernel object's: see wanted() */
	bool huge;	/* private hugetlb: no soft-dirty bit, see mark_huge() */
	bool under;	/* private, of memory no name reaches: open_object() */
	int obj;	/* shared memory's object, read whole (@under: the
			 * pages not the target's own); or -1 */
	uint64_t obj_end;	/* where the object ends in the mapping */
};

struct hole {
	uint64_t start, end;
	bool file;	/* reads as the file: not in the generation */
};

/* An entry's page frame, or swap type and offset, at an address. */
struct frame {
	uint64_t addr, frame;
};

/* In capture.addrs: the page is read from its mapping's object. */
#define FROM_OBJECT	1ULL

struct capture {
	struct vma *vmas;
	size_t nvmas;
	uint64_t *addrs;	/* ascending, | FROM_OBJECT */
	uint8_t *data;		/* PAGE_SIZE bytes per address */
	size_t npages, cap;
	struct hole *holes;	/* ascending, merged */
	size_t nholes, cap_holes;
	struct snapper_ckpt_stats stats;
	bool ksm;		/* KSM knows it: take every anonymous page */
	bool pinned;		/* it holds long-term pins (VmPin) */
	int kpageflags;		/* /proc/kpageflags if a mapping is DAX, or -1 */
	struct frame *frames;	/* this scan's, ascending: see load_frames() */
	size_t nframes, cap_frames;
	struct frame *last;	/* the last checkpoint's, or NULL */
	size_t nlast, at_last;
};

static void capture_free(struct capture *c)
{
	size_t i;

	if (c->kpageflags >= 0)
		close(c->kpageflags);

	for (i = 0; i < c->nvmas; i++) {
		free(c->vmas[i].path);
		if (c->vmas[i].obj >= 0)
			close(c->vmas[i].obj);
	}
	free(c->vmas);
	free(c->addrs);
	free(c->data);
	free(c->holes);
	free(c->frames);
	free(c->last);
}

/*
 * Pages moved with their page tables. mremap() of a whole PTE table (a
 * 2 MiB range, source and destination 2 MiB-aligned alike) moves the
 * table, its entries untouched: the pages the last checkpoint cleared
 * arrive soft-clean at their new place, and pagemap cannot tell (nor
 * can it when two pieces of a mapping trade places, which leaves maps as
 * it was). So each checkpoint records what every entry it scanned held
 * (its page frame, or swap type and offset, as pagemap shows them), and
 * an incremental one also takes each soft-clean entry that does not hold
 * what was recorded at its address: a page that was elsewhere at the last
 * checkpoint, or one migrated or swapped out or in since, taken again
 * for nothing. Frames are shown to CAP_SYS_ADMIN alone (as root runs this
 * backend); without it every frame reads 0 and such moves go unseen. A
 * frame freed and reused since by another page that then moved here,
 * with its table, to the very address: unseen too; the module tells
 * tables apart instead (kmod/tracker.c, note_table()).
 */
static void frames_path(uint32_t pid, char *buf, size_t len)
{
	snprintf(buf, len, STATE_DIR "/proc-%" PRIu32 ".frames", pid);
}

/* The last checkpoint's record into c->last. Return: false if none. */
static bool load_frames(uint32_t pid, struct capture *c)
{
	char path[64];
	struct stat sb;
	bool ok = false;
	FILE *f;

	frames_path(pid, path, sizeof(path));
	f = fopen(path, "rb");
	if (!f)
		return false;
	if (!fstat(fileno(f), &sb) && sb.st_size % sizeof(struct frame) == 0) {
		c->nlast = (size_t)sb.st_size / sizeof(struct frame);
		c->last = malloc(c->nlast ? (size_t)sb.st_size : 1);
		ok = c->last && fread(c->last, sizeof(struct frame), c->nlast,
				      f) == c->nlast;
	}
	fclose(f);
	return ok;
}

static int save_frames(uint32_t pid, const struct capture *c)
{
	char path[64], tmp[80];
	FILE *f;

	frames_path(pid, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "wb");
	if (!f)
		return fail(-errno, "%s", tmp);
	if (fwrite(c->frames, sizeof(*c->frames), c->nframes, f) != c->nframes) {
		fclose(f);
		return fail(-EIO, "%s", tmp);
	}
	if (fclose(f) || rename(tmp, path))
		return fail(-errno, "%s", path);
	return 0;
}

/* What a page map entry holds: its frame, or its swap entry (PM_SWAP set). */
static uint64_t frame_of(uint64_t pm)
{
	return pm & (PM_SWAP | PM_PFN_MASK);
}

/* Records what @pm holds at @addr. Return: 0 or -ENOMEM. */
static int note_frame(struct capture *c, uint64_t addr, uint64_t pm)
{
	if (c->nframes == c->cap_frames) {
		size_t cap = c->cap_frames ? c->cap_frames * 2 : 4096;
		struct frame *f = realloc(c->frames, cap * sizeof(*f));

		if (!f)
			return fail(-ENOMEM, "frame list");
		c->frames = f;
		c->cap_frames = cap;
	}
	c->frames[c->nframes++] = (struct frame){
		addr, frame_of(pm),
	};
	return 0;
}

/* Whether @pm at @addr holds what the last checkpoint saw there. */
static bool same_frame(struct capture *c, uint64_t addr, uint64_t pm)
{
	while (c->at_last < c->nlast && c->last[c->at_last].addr < addr)
		c->at_last++;
	return c->at_last < c->nlast && c->last[c->at_last].addr == addr &&
	       c->last[c->at_last].frame == frame_of(pm);
}

/* Special mappings that hold no memory of the process's own. */
static bool special(const char *path)
{
	return !strcmp(path, "[vvar]") || !strcmp(path, "[vsyscall]") ||
	       !strcmp(path, "[vvar_vclock]");
}

static int parse_maps_line(const char *line, struct vma *m)
{
	char perms[5], path[4096] = "";
	unsigned long long start, end, off, ino;
	int n = 0;

	if (sscanf(line, "%llx-%llx %4s %llx %*s %llu %n", &start, &end, perms,
		   &off, &ino, &n) < 5)
		return -EPROTO;
	sscanf(line + n, "%4095[^\n]", path);
	memset(m, 0, sizeof(*m));
	m->obj = -1;
	m->ino = ino;
	memcpy(m->perms, perms, sizeof(perms));
	m->v.start = start;
	m->v.end = end;
	m->v.pgoff = off / PAGE_SIZE;
	m->v.prot = (perms[0] == 'r' ? 1 : 0) | (perms[1] == 'w' ? 2 : 0) |
		    (perms[2] == 'x' ? 4 : 0);
	if (perms[3] == 's')
		m->v.flags |= SNAPPER_VMA_F_SHARED;
	if (path[0] == '/')
		m->v.flags |= SNAPPER_VMA_F_FILE;
	if (!strcmp(path, "[stack]"))
		m->v.flags |= SNAPPER_VMA_F_STACK;
	if (!strcmp(path, "[heap]"))
		m->v.flags |= SNAPPER_VMA_F_HEAP;
	if (special(path))
		m->v.flags |= SNAPPER_VMA_F_SKIPPED;
	/* As the module's: a private mapping without a file (or /dev/zero's). */
	m->holes = perms[3] == 'p' &&
		   (!path[0] || !strcmp(path, "[heap]") ||
		    !strcmp(path, "[stack]") || !strncmp(path, "[anon:", 6) ||
		    !strcmp(path, "/dev/zero"));
	m->file = perms[3] == 'p' && path[0] == '/' && !m->holes;
	m->kernel = perms[3] == 's' && perms[1] == 'w' &&
		    ((path[0] && path[0] != '/' &&
		      strncmp(path, "[anon_shmem", 11)) ||
		     !strncmp(path, "/[aio]", 6));
	/* The store names files only: "[heap]" and the like are not paths. */
	m->path = strdup(path[0] == '/' ? path : "");
	if (!m->path)
		return -ENOMEM;
	m->v.path = m->path;
	return 0;
}

/* Is the file of @m, a private file mapping of process @pid, a DAX file? */
static bool dax_file(uint32_t pid, const struct vma *m)
{
	char path[96];

	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/map_files/%" PRIx64 "-%" PRIx64,
		 pid, m->v.start, m->v.end);
	return is_dax(AT_FDCWD, path);
}

static int read_maps(uint32_t pid, struct capture *c)
{
	char path[64], *line = NULL;
	size_t len = 0, cap = 0;
	int ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return fail(-errno, "%s", path);
	while (!ret && getline(&line, &len, f) > 0) {
		if (c->nvmas == cap) {
			struct vma *v;

			cap = cap ? cap * 2 : 64;
			v = realloc(c->vmas, cap * sizeof(*v));
			if (!v) {
				ret = fail(-ENOMEM, "%s", path);
				break;
			}
			c->vmas = v;
		}
		ret = parse_maps_line(line, &c->vmas[c->nvmas]);
		if (ret) {
			fail(ret, "%s: cannot parse '%s'", path, line);
			break;
		}
		c->vmas[c->nvmas].dax = c->vmas[c->nvmas].file &&
					dax_file(pid, &c->vmas[c->nvmas]);
		if (c->vmas[c->nvmas].dax && c->kpageflags < 0)
			c->kpageflags = open("/proc/kpageflags",
					     O_RDONLY | O_CLOEXEC);
		c->nvmas++;
	}
	free(line);
	fclose(f);
	return ret;
}

/* --- mappings whose pages are not read ------------------------------------ */

/*
 * A file mapping as /proc/PID/smaps showed it. Its "VmFlags" line tells
 * what the module's vma_skipped() reads from vm_flags: VM_IO or VM_PFNMAP
 * ("io", "pf": device memory, which /proc/PID/mem reads through the
 * driver where it can, and which a restore must never write). No
 * interface offers those flags for less than a walk of every page table,
 * which smaps is: it is read before the target is stopped, and again
 * while it is only if a file mapping changed in between (see mark_skipped()).
 */
struct seen {
	uint64_t start, end, pgoff, ino;
	char perms[5];
	bool io;
	bool huge;	/* "ht": hugetlb */
};

struct vmflags {
	struct seen *s;		/* ascending */
	size_t n, cap;
};

static int read_vmflags(uint32_t pid, struct vmflags *vf)
{
	unsigned long long start, end, off, ino;
	char path[64], perms[5], *line = NULL;
	struct seen *cur = NULL;
	size_t len = 0;
	int ret = 0;
	FILE *f;

	vf->n = 0;
	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/smaps", pid);
	f = fopen(path, "r");
	if (!f)
		return fail(-errno, "%s", path);
	while (!ret && getline(&line, &len, f) > 0) {
		if (sscanf(line, "%llx-%llx %4s %llx %*s %llu", &start, &end,
			   perms, &off, &ino) == 5) {
			cur = NULL;
			if (!ino)
				continue;	/* no file: no driver */
			if (vf->n == vf->cap) {
				size_t cap = vf->cap ? 2 * vf->cap : 64;
				struct seen *s = realloc(vf->s, cap * sizeof(*s));

				if (!s) {
					ret = fail(-ENOMEM, "%s", path);
					break;
				}
				vf->s = s;
				vf->cap = cap;
			}
			cur = &vf->s[vf->n++];
			*cur = (struct seen){ .start = start, .end = end,
					      .pgoff = off / PAGE_SIZE, .ino = ino };
			memcpy(cur->perms, perms, sizeof(perms));
		} else if (cur && !strncmp(line, "VmFlags:", 8)) {
			/* Each flag is two letters and a space. */
			cur->io = strstr(line, " io ") || strstr(line, " pf ");
			cur->huge = strstr(line, " ht ");
		}
	}
	free(line);
	fclose(f);
	return ret;
}

/* smaps' record of the file mapping @m, or NULL if it has none. */
static const struct seen *seen_as(const struct vmflags *vf,
				  const struct vma *m)
{
	size_t lo = 0, hi = vf->n;
	const struct seen *s;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (vf->s[mid].start < m->v.start)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == vf->n)
		return NULL;
	s = &vf->s[lo];
	return s->start == m->v.start && s->end == m->v.end &&
	       s->pgoff == m->v.pgoff && s->ino == m->ino &&
	       !strcmp(s->perms, m->perms) ? s : NULL;
}

/*
 * secretmem's pages are out of the kernel's direct map: /proc/PID/mem
 * cannot read them (the module's kernel_unreadable()). Its file is
 * "/secretmem (deleted)"; the file system's magic number tells a real file
 * of that name apart.
 */
static bool secretmem(uint32_t pid, const struct vma *m)
{
	char path[96];
	struct statfs fs;

	if (strcmp(m->path, "/secretmem (deleted)"))
		return false;
	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/map_files/%" PRIx64 "-%" PRIx64,
		 pid, m->v.start, m->v.end);
	return !statfs(path, &fs) && fs.f_type == SECRETMEM_MAGIC;
}

/*
 * A private hugetlb mapping (smaps' "ht"), as the module's walk_hugetlb()
 * takes it: no soft-dirty bit ever marks a hugetlb page (pagemap reports
 * only the mapping's VM_SOFTDIRTY there), so every present page of the
 * process's own is taken at every checkpoint, and one made with
 * MAP_ANONYMOUS reads as zeros where it has no page. A shared one is
 * shared memory: see open_object().
 */
static void mark_huge(struct vma *m)
{
	m->huge = true;
	if (!strcmp(m->path, "/anon_hugepage (deleted)")) {
		m->holes = true;
		m->file = false;
	}
}

/* maps shows "PATH (deleted)" for an object no name reaches (unlinked). */
static bool unlinked(const char *path)
{
	static const char mark[] = " (deleted)";
	size_t n = strlen(path), k = sizeof(mark) - 1;

	return n >= k && !strcmp(path + n - k, mark);
}

/*
 * A shared writable mapping of shared memory (tmpfs: memfd, SysV, shared
 * anonymous, /dev/shm; hugetlbfs: the same on hugetlb pages) is read whole
 * from its object through map_files, as the module's shared.c reads it:
 * another process, or write(2), writes pages of it through no entry of the
 * target's page table (no soft-dirty bit; hugetlb entries have none at
 * all), and a page punched out of the object reads as zeros where the
 * base still holds it. A read of the object gives zeros for a hole and
 * allocates nothing, where one through /proc/PID/mem would fault a new
 * page in. So is a read-only one of an object no name reaches (a link
 * count of 0: see snapper_shared_covers() in kmod/shared.c), and any
 * shared one of a deleted file of a disk file system (on_disk()); one of
 * a named file, and other shared mappings, are left to pagemap. A private
 * mapping of an object no name reaches (a memfd, or a deleted file of a
 * disk file system: @m->under, see snapper_shared_under()) reads it
 * wherever the target has no copy of its own: those pages are read from
 * the object too, the copies through pagemap. Return: 0, or -errno
 * (map_files needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE).
 */
static int open_object(uint32_t pid, struct vma *m)
{
	char path[96];
	struct statfs fs;
	struct stat st;
	uint64_t size;
	bool memory, keep;

	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/map_files/%" PRIx64 "-%" PRIx64,
		 pid, m->v.start, m->v.end);
	m->obj = open(path, O_RDONLY | O_CLOEXEC);
	if (m->obj < 0 || fstatfs(m->obj, &fs) || fstat(m->obj, &st))
		return fail(-errno, "%s (shared memory is read from its object)",
			    path);
	memory = memory_fs(&fs);
	if (!st.st_nlink)
		keep = memory || on_disk(pid, m->obj, &fs, &st);
	else
		keep = memory && m->perms[3] == 's' && m->perms[1] == 'w';
	if (!keep) {
		close(m->obj);
		m->obj = -1;
		return 0;
	}
	m->under = m->perms[3] == 'p';
	size = (uint64_t)st.st_size / PAGE_SIZE;
	m->obj_end = size <= m->v.pgoff ? m->v.start :
		     size - m->v.pgoff >= (m->v.end - m->v.start) / PAGE_SIZE ?
		     m->v.end : m->v.start + (size - m->v.pgoff) * PAGE_SIZE;
	return 0;
}

/*
 * Flags the mappings whose pages are not read, as the module's
 * vma_skipped(), and the private hugetlb ones (mark_huge()), from what @vf
 * saw of them, and opens the objects of shared memory (open_object()).
 * Return: the number of file mappings @vf has no record of (mapped or
 * changed since it was read), or -errno.
 */
static long mark_skipped(uint32_t pid, struct capture *c,
			 const struct vmflags *vf)
{
	size_t i;
	long unseen = 0;
	int ret;

	for (i = 0; i < c->nvmas; i++) {
		struct vma *m = &c->vmas[i];
		const struct seen *s;

		if (!m->ino || (m->v.flags & SNAPPER_VMA_F_SKIPPED))
			continue;
		if (secretmem(pid, m)) {
			m->v.flags |= SNAPPER_VMA_F_SKIPPED |
				      SNAPPER_VMA_F_UNREADABLE;
			continue;
		}
		s = seen_as(vf, m);
		if (!s) {
			unseen++;
			continue;
		}
		if (s->io) {
			m->v.flags |= SNAPPER_VMA_F_SKIPPED;
			continue;
		}
		if (s->huge && m->perms[3] == 'p')
			mark_huge(m);
		if (m->obj < 0 && !m->kernel &&
		    (m->perms[3] == 's' ? m->perms[1] == 'w' ||
					  unlinked(m->path) :
		     m->file && unlinked(m->path))) {
			ret = open_object(pid, m);
			if (ret)
				return ret;
		}
	}
	return unseen;
}

static int add_page(struct capture *c, uint64_t addr)
{
	if (c->npages == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		uint64_t *a = realloc(c->addrs, cap * sizeof(*a));
		uint8_t *d;

		if (!a)
			return fail(-ENOMEM, "page list");
		c->addrs = a;
		d = realloc(c->data, cap * PAGE_SIZE);
		if (!d)
			return fail(-ENOMEM, "page buffer");
		c->data = d;
		c->cap = cap;
	}
	c->addrs[c->npages++] = addr;
	return 0;
}

/*
 * The page frame of the zero page, as pagemap shows it to root (0 where
 * it hides frames): the frame a read fault maps in a private anonymous page.
 */
static uint64_t zero_pfn(void)
{
	static uint64_t pfn = ~0ULL;
	volatile const char *p;
	uint64_t e = 0;
	int fd;

	if (pfn != ~0ULL)
		return pfn;
	pfn = 0;
	p = mmap(NULL, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return pfn;
	(void)*p;
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd >= 0 && pread(fd, &e, sizeof(e),
			     (off_t)((uintptr_t)p / PAGE_SIZE * 8)) == sizeof(e) &&
	    (e & PM_PRESENT))
		pfn = e & PM_PFN_MASK;
	if (fd >= 0)
		close(fd);
	munmap((void *)p, PAGE_SIZE);
	return pfn;
}

/*
 * Does the page read as zeros without being captured? In a private
 * anonymous mapping: no entry, the zero page, or the huge zero page (the
 * only page there that pagemap calls a file page).
 */
static bool is_hole(const struct vma *m, uint64_t pm)
{
	if (!m->holes)
		return false;
	if (pm_no_entry(pm))
		return true;
	if (!(pm & PM_PRESENT))
		return false;
	return (pm & PM_FILE) ||
	       (zero_pfn() && (pm & PM_PFN_MASK) == zero_pfn());
}

/*
 * Is the page of a private file mapping the file's, as the module's FILE
 * holes: no entry, or the file's own page (pagemap's file bit; a swapped
 * page there is the target's, its own anonymous copy).
 */
static bool is_file_hole(const struct vma *m, uint64_t pm)
{
	return m->file && (pm_no_entry(pm) || (pm & PM_FILE));
}

/*
 * Records a hole page, merged with the one before if of the same kind,
 * unless it starts a mapping.
 */
static int add_hole(struct capture *c, uint64_t addr, bool merge, bool file)
{
	struct hole *h;

	c->stats.hole_pages++;
	if (merge && c->nholes && c->holes[c->nholes - 1].end == addr &&
	    c->holes[c->nholes - 1].file == file) {
		c->holes[c->nholes - 1].end += PAGE_SIZE;
		return 0;
	}
	if (c->nholes == c->cap_holes) {
		c->cap_holes = c->cap_holes ? 2 * c->cap_holes : 256;
		h = realloc(c->holes, c->cap_holes * sizeof(*h));
		if (!h)
			return fail(-ENOMEM, "hole list");
		c->holes = h;
	}
	c->holes[c->nholes++] = (struct hole){ addr, addr + PAGE_SIZE, file };
	return 0;
}

/*
 * A page to take, as the module does: present or swapped, anonymous or in
 * a shared writable mapping (an untouched page of a private file mapping
 * is the file's), and soft-dirty unless @full. The kernel writes the pages
 * of a shared mapping of its own objects (io_uring's rings, perf's buffer:
 * a path in maps that is not a file's; AIO's ring, "/[aio] (deleted)")
 * through its own mapping, which no soft-dirty bit sees: those are always
 * taken, every page (AIO's ring maps a page only once the process reads
 * it; /proc/PID/mem reads the kernel's page either way).
 */
static bool wanted(struct capture *c, const struct vma *m, uint64_t addr,
		   uint64_t pm, bool full)
{
	bool shared_rw = (m->v.flags & SNAPPER_VMA_F_SHARED) && (m->v.prot & 2);

	if (m->kernel)
		return true;	/* read through the mapping, mapped or not */
	/*
	 * A userfaultfd marker is no page either (pagemap shows it swapped):
	 * a read would fault there, and fail where userfaultfd answers
	 * missing pages with SIGBUS (a hole of shared memory).
	 */
	if (pm_no_entry(pm))
		return false;
	if ((pm & PM_FILE) && !shared_rw)
		return false;
	return full || m->huge || (pm & PM_SOFT_DIRTY) ||
	       !same_frame(c, addr, pm);
}

/*
 * A page the process can no longer read: a memory error's hwpoison entry,
 * which pagemap shows as a swap entry of one of the kernel's own types
 * (to root: see pm_no_entry()), and which /proc/PID/mem (@mem_fd) refuses
 * where a migration or device entry reads. It has no content: as the
 * module does, it is taken as no entry, a hole. UFFDIO_POISON's marker is
 * a PTE marker, no entry already.
 */
static bool poisoned(int mem_fd, uint64_t addr, uint64_t pm)
{
	uint8_t b;

	if ((pm & (PM_PRESENT | PM_SWAP)) != PM_SWAP || pm_no_entry(pm) ||
	    PM_SWAP_TYPE(pm) < SWAP_TYPE_SPECIAL)
		return false;
	return pread(mem_fd, &b, 1, (off_t)addr) != 1;
}

static int scan_pagemap(int pm_fd, int mem_fd, struct capture *c, bool full)
{
	static uint64_t ent[8192];
	bool lost;
	size_t i;

	c->nframes = 0;
	c->at_last = 0;
	for (i = 0; i < c->nvmas; i++) {
		const struct snapper_ckpt_vma *v = &c->vmas[i].v;
		uint64_t addr = v->start;

		if (v->flags & SNAPPER_VMA_F_SKIPPED)
			continue;
		if (c->vmas[i].obj >= 0 && !c->vmas[i].under) {
			/* Read whole from its object: see open_object(). */
			for (; addr < c->vmas[i].obj_end; addr += PAGE_SIZE) {
				c->stats.scanned++;
				if (add_page(c, addr | FROM_OBJECT))
					return -ENOMEM;
			}
			continue;
		}
		while (addr < v->end) {
			size_t n = (v->end - addr) / PAGE_SIZE, k;
			ssize_t got;

			if (n > 8192)
				n = 8192;
			got = pread(pm_fd, ent, n * 8, (off_t)(addr / PAGE_SIZE * 8));
			if (got <= 0)
				return fail(got ? -errno : -EIO, "pagemap at %#" PRIx64, addr);
			n = (size_t)got / 8;
			for (k = 0; k < n; k++, addr += PAGE_SIZE) {
				if (ent[k] & (PM_PRESENT | PM_SWAP))
					c->stats.scanned++;
				lost = poisoned(mem_fd, addr, ent[k]);
				if (lost)
					ent[k] = 0;
				if ((ent[k] & (PM_PRESENT | PM_SWAP)) &&
				    !pm_no_entry(ent[k]) &&
				    note_frame(c, addr, ent[k]))
					return -ENOMEM;
				if ((ent[k] & PM_SWAP) && !pm_no_entry(ent[k]))
					c->stats.swap++;
				if (c->vmas[i].dax &&
				    pm_dax_file_page(c->kpageflags, ent[k]))
					ent[k] |= PM_FILE;
				/*
				 * Not a copy of the target's own, in a private
				 * mapping of a memfd or a deleted file: its
				 * object's (zeros in its holes); past its end
				 * (SIGBUS, and a truncation took the copies
				 * there) or poisoned, a hole, as the module's.
				 * See open_object().
				 */
				if (c->vmas[i].under && !lost &&
				    addr < c->vmas[i].obj_end &&
				    (pm_no_entry(ent[k]) || (ent[k] & PM_FILE))) {
					if (add_page(c, addr | FROM_OBJECT))
						return -ENOMEM;
					continue;
				}
				/* Holes stay within their mapping, as the module's. */
				if (is_hole(&c->vmas[i], ent[k]) ||
				    (c->vmas[i].under &&
				     (lost || addr >= c->vmas[i].obj_end))) {
					if (add_hole(c, addr, addr != v->start,
						     false))
						return -ENOMEM;
				} else if (!full &&
					   is_file_hole(&c->vmas[i], ent[k])) {
					/* Only a base can hold what it drops. */
					if (add_hole(c, addr, addr != v->start,
						     true))
						return -ENOMEM;
				} else if ((wanted(c, &c->vmas[i], addr, ent[k],
						   full || c->pinned) ||
					    (c->ksm &&
					     (ent[k] & (PM_PRESENT | PM_FILE)) ==
					     PM_PRESENT)) &&
					   add_page(c, addr)) {
					return -ENOMEM;
				}
			}
		}
	}
	return 0;
}

/*
 * Copies the chosen pages out, in runs of adjacent addresses, through
 * /proc/PID/mem: it takes plain page references, where process_vm_readv
 * pins, and pinning a shared anonymous page unshares it from the
 * process's forked children (their copy-on-write sharing would not
 * survive a checkpoint). For the tracer it also reads mappings without
 * read permission.
 */
static int read_pages(uint32_t pid, int mem_fd, struct capture *c)
{
	const struct vma *m = c->vmas;
	size_t i = 0, n, done;
	uint64_t addr;
	bool obj;
	int fd;
	off_t at;
	ssize_t got;

	while (i < c->npages) {
		/* Pages ascend, as mappings do: the one holding this run. */
		while (m + 1 < c->vmas + c->nvmas && m->v.end <= c->addrs[i])
			m++;
		for (n = 1; i + n < c->npages && n < 256 &&
		     c->addrs[i + n] == c->addrs[i] + n * PAGE_SIZE &&
		     c->addrs[i + n] < m->v.end; n++)
			;
		/* Runs are of one source: FROM_OBJECT is in the sum. */
		obj = c->addrs[i] & FROM_OBJECT;
		addr = c->addrs[i] & ~FROM_OBJECT;
		fd = obj ? m->obj : mem_fd;
		at = obj ? (off_t)(m->v.pgoff * PAGE_SIZE + addr - m->v.start) :
			   (off_t)addr;
		for (done = 0; done < n * PAGE_SIZE; done += (size_t)got) {
			got = pread(fd, c->data + i * PAGE_SIZE + done,
				    n * PAGE_SIZE - done, at + (off_t)done);
			if (got < 0 && errno == EINTR) {
				got = 0;
			} else if (got < 0 && errno == EIO && obj) {
				/*
				 * A page of the object lost to a memory error
				 * (or a swap-in error, which shmem keeps for
				 * good): read(2) fails there, the mapping is
				 * SIGBUS. No content: zeros, as the module's
				 * hole. A huge folio fails whole here.
				 */
				got = (ssize_t)(PAGE_SIZE - done % PAGE_SIZE);
				memset(c->data + i * PAGE_SIZE + done, 0,
				       (size_t)got);
			} else if (got <= 0) {
				return fail(got ? -errno : -EIO,
					    "reading process %" PRIu32 " at %#" PRIx64,
					    pid, addr + done);
			}
		}
		i += n;
	}
	return 0;
}

static int clear_soft_dirty(uint32_t pid)
{
	char path[64];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/clear_refs", pid);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return fail(-errno, "%s", path);
	if (write(fd, "4", 1) != 1)
		ret = fail(-errno, "%s", path);
	close(fd);
	return ret;
}

static int open_proc(uint32_t pid, const char *name, int *fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/%s", pid, name);
	*fd = open(path, O_RDONLY);
	return *fd < 0 ? fail(-errno, "%s", path) : 0;
}

/* The number after @key in /proc/@pid/@name, or 0 if none can be read. */
static uint64_t proc_number(uint32_t pid, const char *name, const char *key)
{
	char path[64], line[128];
	uint64_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/%s", pid, name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key))) {
			n = strtoull(line + strlen(key), NULL, 10);
			break;
		}
	fclose(f);
	return n;
}

/*
 * Does KSM know @pid: pages merged (ksm_merging_pages), or pages it looked
 * at (ksm_rmap_items in ksm_stat, 6.1 and later; KSM merges no page it has
 * not looked at)? Then a page of the process may have been merged and
 * unshared since the last checkpoint, the copy soft-clean where the
 * written page was, on its very frame at times (the allocator hands out
 * first what a CPU freed last). The module tells such a copy by its clean
 * entry (unshared() in kmod/tracker.c), which pagemap does not show; so
 * every present anonymous page of the process is taken, from then on (the
 * store keeps one copy of unchanged content). A process only registered
 * with KSM (MADV_MERGEABLE) that ksmd has not scanned yet costs nothing.
 */
static bool ksm_known(uint32_t pid)
{
	return proc_number(pid, "ksm_merging_pages", "") ||
	       proc_number(pid, "ksm_stat", "ksm_rmap_items ");
}

/*
 * Does @pid hold long-term pins on its memory (io_uring's registered
 * buffers, RDMA: "VmPin" in its status)? Their holders write the pages
 * through no page-table entry, so no write fault marks them. clear_refs
 * leaves a pinned small page soft-dirty, but clears a pinned huge one like
 * any other (clear_soft_dirty_pmd() in fs/proc/task_mmu.c, 6.1 and 6.12),
 * and nothing in /proc says which pages are pinned: with pins, every
 * present page is taken (the store keeps one copy of unchanged content).
 * A short pin (O_DIRECT in flight) does not show here: see
 * Documentation/tracking.rst. Return: true if it does, or if it cannot
 * be told.
 */
static bool holds_pins(uint32_t pid)
{
	char path[64], line[128];
	bool pins = true;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/status", pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmPin:", 6)) {
			pins = strtoull(line + 6, NULL, 10) != 0;
			break;
		}
	fclose(f);
	return pins;
}

/* Everything that happens while the target is stopped. */
static int capture_stopped(uint32_t pid, struct capture *c,
			   struct vmflags *vf, bool full)
{
	int pm_fd, mem_fd, ret;
	uint64_t t0 = now_us();
	long unseen;

	ret = read_maps(pid, c);
	if (ret)
		return ret;
	unseen = mark_skipped(pid, c, vf);
	if (unseen < 0)
		return (int)unseen;
	if (unseen) {
		ret = read_vmflags(pid, vf);
		if (!ret)
			unseen = mark_skipped(pid, c, vf);
		if (ret || unseen < 0)
			return ret ? ret : (int)unseen;
	}
	ret = open_proc(pid, "pagemap", &pm_fd);
	if (ret)
		return ret;
	ret = open_proc(pid, "mem", &mem_fd);
	if (!ret) {
		c->pinned = holds_pins(pid);
		c->ksm = c->ksm || ksm_known(pid);
		ret = scan_pagemap(pm_fd, mem_fd, c, full);
		/* ksmd runs on while the target is stopped: merged meanwhile? */
		if (!ret && !c->ksm && ksm_known(pid)) {
			c->ksm = true;
			c->npages = 0;
			c->nholes = 0;
			c->stats = (struct snapper_ckpt_stats){ 0 };
			ret = scan_pagemap(pm_fd, mem_fd, c, full);
		}
		if (!ret)
			ret = read_pages(pid, mem_fd, c);
		close(mem_fd);
	}
	close(pm_fd);
	if (!ret)
		ret = clear_soft_dirty(pid);
	c->stats.walk_us = now_us() - t0;
	return ret;
}

static int feed(const struct capture *c, uint64_t ckpt, bool full,
		const struct snapper_ckpt_ops *ops)
{
	struct snapper_ckpt_header h = {
		.checkpoint_id = ckpt, .full = full, .page_size = PAGE_SIZE,
	};
	size_t i, j = 0;
	int ret;

	ret = ops->header(ops->arg, &h);
	for (i = 0; !ret && i < c->nvmas; i++)
		ret = ops->vma(ops->arg, &c->vmas[i].v);
	/* Pages and holes never overlap: merge them into address order. */
	for (i = 0; !ret && (i < c->npages || j < c->nholes);) {
		if (j < c->nholes &&
		    (i == c->npages || c->holes[j].start < c->addrs[i])) {
			if (ops->hole)
				ret = ops->hole(ops->arg, c->holes[j].start,
						c->holes[j].end,
						c->holes[j].file);
			j++;
			continue;
		}
		ret = ops->page(ops->arg, c->addrs[i] & ~FROM_OBJECT,
				c->data + i * PAGE_SIZE, SNAPPER_PAGE_F_COPIED);
		i++;
	}
	return ret ? ret : ops->stats(ops->arg, &c->stats);
}

int proc_checkpoint(const struct snapper_ckpt_request *req,
		    const struct snapper_ckpt_ops *ops)
{
	struct capture c = { .kpageflags = -1 };
	struct vmflags vf = { 0 };
	struct held th = { 0 };
	struct state st = { 0 }, old;
	uint64_t ckpt, t0;
	char path[64];
	bool full, same;
	int ret;

	if (req->pid == (uint32_t)getpid())
		return fail(-EINVAL, "--backend=proc cannot checkpoint its own process");
	sweep_state();
	ret = read_starttime(req->pid, &st.starttime);
	if (ret)
		return ret;
	/* Incremental only on the very generation whose clearing was acked. */
	same = load_state(req->pid, &old) && old.starttime == st.starttime;
	full = (req->flags & SNAPPER_CKPT_F_FULL) || !req->base_generation ||
	       !same || old.store_id != req->store_id || old.pending ||
	       old.acked_gen != req->base_generation;
	/* Without the last record, a moved page could go unseen. */
	if (!full && !load_frames(req->pid, &c))
		full = true;
	if (getrandom(&ckpt, sizeof(ckpt), 0) != sizeof(ckpt))
		return fail(-errno, "getrandom");
	ckpt |= 1;	/* never 0, which means "none" */
	st.store_id = req->store_id;
	st.acked_gen = full ? 0 : req->base_generation;
	st.pending = ckpt;
	/* Once KSM knew the process, always: what it merged may be unshared. */
	st.ksm = same && old.ksm;
	c.ksm = st.ksm;
	ret = read_vmflags(req->pid, &vf);
	if (!ret)
		ret = save_state(req->pid, &st);
	if (ret)
		goto out;
	/* A record older than this checkpoint's must never be read. */
	frames_path(req->pid, path, sizeof(path));
	if (unlink(path) && errno != ENOENT) {
		ret = fail(-errno, "%s", path);
		goto out;
	}

	t0 = now_us();
	ret = threads_hold((pid_t)req->pid, &th, MAX_THREADS);
	if (ret)
		fail(ret, "%s of %d", th.what, th.tid);
	else
		ret = capture_stopped(req->pid, &c, &vf, full);
	c.stats.threads = (uint32_t)th.n;
	threads_release(&th);
	if (!ret)
		ret = save_frames(req->pid, &c);
	if (!ret && c.ksm && !st.ksm) {
		st.ksm = 1;
		ret = save_state(req->pid, &st);
	}
	c.stats.freeze_us = now_us() - t0;
	c.stats.sent = c.npages;
	c.stats.copied = c.npages;
	if (!ret)
		ret = feed(&c, ckpt, full, ops);
out:
	capture_free(&c);
	free(vf.s);
	return ret;
}

int proc_ack(uint32_t pid, uint64_t store_id, uint64_t ckpt, uint64_t gen)
{
	struct state st;

	if (!load_state(pid, &st) || st.store_id != store_id || st.pending != ckpt)
		return fail(-ESTALE, "checkpoint %#" PRIx64 " of process %" PRIu32,
			    ckpt, pid);
	st.pending = 0;
	st.acked_gen = gen;
	return save_state(pid, &st);
}
