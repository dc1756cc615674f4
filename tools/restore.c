// SPDX-License-Identifier: GPL-2.0
/*
 * snapper-tool restore: writes a generation's memory back into a live
 * process.
 *
 * All of it happens in userspace, without the module, in two phases.
 * First, with the target running: the mappings to restore are chosen, and
 * every stored page they need is read from the store and checked against
 * its hash, so that a damaged store fails the command before the target is
 * touched (the files of private file mappings are opened and read too, see
 * check_runs(); with two CPUs, a second thread checks half the pages, and
 * writes most of them back during the stop: see apply_runs()). The
 * pages are not kept (memory stays bounded, and no buffer as
 * large as the restore has to be allocated and zeroed): the stopped phase
 * reads them again, READ_PAGES at a time, from the same immutable pack
 * files, without hashing a second time (store_snap_reread_pages()). Both
 * reads go around the page cache (see READ_PAGES), so the second comes
 * from the disk again, as one from the cache could have at any time
 * (reclaim). Then every
 * thread of the target, and of any process sharing its mm, is seized and
 * interrupted with ptrace (threads.c), as CRIU does with the threads of a
 * tree: that keeps it out of user mode, its parent sees no
 * stop (PTRACE_INTERRUPT is not a group stop), and a detach lets it run on
 * with its signals and interrupted system calls restarted, none lost.
 *
 * What is written is what the generation knows: its captured pages, the
 * pages it records as zero, and in a private file mapping the pages it
 * does not hold because they read as the file at its instant (the target
 * had only read them, or discarded its copy): where the target has written
 * such a page since (its own copy, in pagemap), the file's bytes are
 * written back, read from the file as it is now, since the store does not
 * keep files; where it has not, the page still reads as the file and is
 * left alone, not copied. Any other page the generation does not hold is
 * left as the target has it. Reading must not change the target either:
 * a page the target shares copy-on-write is read through /proc/PID/mem,
 * which, unlike process_vm_readv, does not pin (pinning such a page
 * unshares it); a private anonymous page with no entry is known to be
 * zero and not read; shared memory is read through its object, so that
 * none of its pages is faulted into the target by a read. Only pages whose
 * content differs are written, and the pages of its own the target wrote
 * since the last checkpoint (soft-dirty), which are not read first (see
 * pm_kind()); each write is read back and compared. With
 * --salvage, a page whose stored copies are all damaged is left alone and
 * listed, and the rest restored.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>
#include <linux/snapper.h>

#include "pagemap.h"
#include "threads.h"
#include "store-cli.h"
#include "subcommands.h"

#define PG STORE_PAGE_SIZE
/*
 * 256 KiB: large transfers, and buffers small enough that the store's
 * pages and the target's stay in the cache between the read, the compare
 * and the write (1 MiB measured slower on the host).
 */
#define CHUNK_PAGES 64
/*
 * 2 MiB: stored pages are read this many at a time (the check before the
 * stop, and the second read during it), then handled a chunk at a time.
 * They are read around the page cache (pack_read_bulk() in the store),
 * where each request costs about what 1 MiB of transfer does under TCG:
 * 256 MiB took 250-316 ms in 256 KiB reads, 143-237 in 1 MiB, 121-174 in
 * 4 MiB (Documentation/benchmarks.rst).
 */
#define READ_PAGES 512

static const char usage[] =
	"Usage: %s restore --store DIR [--gen N] --pid PID [--range START-END]\n"
	"       [--salvage]\n"
	"Writes generation N (default: the newest) into the live process PID.\n"
	"With --range (hex, page aligned), the range must be covered by mappings\n"
	"of PID that the generation has at the same address and size; without,\n"
	"every writable private mapping and every writable shared memory mapping\n"
	"(memfd, SysV, shared anonymous, on hugetlb pages too) present in both is\n"
	"restored, except the main thread's stack. Pages captured or recorded as zero are written; a\n"
	"private file mapping's page the generation does not hold (it read as the\n"
	"file) gets the file's bytes back if PID has written it since; other\n"
	"pages the generation does not hold are left alone. Every stored page is\n"
	"hash-checked before PID is touched: a damaged one fails the command\n"
	"(exit 3) with PID untouched. With --salvage, a page with no good stored\n"
	"copy is left as PID has it, listed, and the rest restored (exit 3).\n"
	"A mapping PID registered with userfaultfd is refused (its handler would\n"
	"be stopped too).\n"
	"PID's threads, and those of processes sharing its memory (vfork\n"
	"children before their exec), are kept out of user mode meanwhile and\n"
	"resume unharmed.\n"
	"Another process needs root, as for checkpoint.\n";

/* One line of /proc/PID/maps. */
struct live_map {
	uint64_t start, end;
	uint64_t offset;	/* in its file, of start */
	dev_t dev;		/* of the object mapped, as maps shows it */
	uint64_t ino;
	char perms[5];
	char path[256];
};

/* [start, end) of mapping m, chosen for restore. */
struct segment {
	uint64_t start, end;
	struct live_map m;
	int obj;		/* its object or file (see open_objects()), or -1 */
	int obj_err;		/* a private file's, when obj is -1: the errno */
	uint64_t obj_size;	/* shared memory: the object's, when opened */
	bool file;		/* private, of a regular file: obj is the file */
	bool dax;		/* that file is on DAX: see own_copy() */
};

/* Where a run's bytes come from. */
enum source {
	FROM_STORE,		/* captured pages */
	FROM_ZERO,		/* pages the generation records as zero */
	FROM_FILE,		/* not held, in a private file mapping */
};

/*
 * Pages of a segment: those the generation holds, and in a private file
 * mapping those it does not, which read as the file at its instant.
 */
struct run {
	uint64_t start, npages;
	enum source src;
	bool direct;		/* the target may write there itself */
	bool anon;		/* private anonymous: a page with no entry is zero */
	size_t seg;		/* in restore.segs */
};

struct restore {
	pid_t pid;
	int mem;		/* /proc/PID/mem */
	int pagemap;		/* /proc/PID/pagemap */
	int kpageflags;		/* /proc/kpageflags if a file is on DAX, or -1 */
	struct store_snap *snap;
	uint64_t gen;
	struct held threads;	/* while stopped */
	struct live_map *maps;	/* before the stop */
	size_t nmaps;
	struct segment *segs;
	size_t nsegs;
	struct run *runs;
	size_t nruns, runs_cap;
	bool salvage;		/* --salvage: skip the pages that are lost */
	uint64_t *lost;		/* their addresses, ascending: left alone */
	uint64_t nlost;
	size_t lost_cap, lost_next;	/* lost_next: the next a chunk may hold */
	uint64_t lost_start, lost_end;	/* the range being listed */
	int exit;		/* the store's exit code, after its error */
	const char *dir;	/* the store's, for a second handle */
	struct half *half;	/* the second thread's handle, after its check */
	uint8_t *want, *have;	/* a chunk each */
	uint64_t pages, written, skipped;
	uint64_t refiled;	/* of written: the file's bytes again */
};

/* ---- the layout ---- */

static int read_maps(pid_t pid, struct live_map **out, size_t *count)
{
	char path[64], line[512];
	unsigned int major, minor;
	struct live_map m, *n;
	FILE *f;
	int at;

	*out = NULL;
	*count = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		memset(&m, 0, sizeof(m));
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 " %n",
			   &m.start, &m.end, m.perms, &m.offset, &major, &minor,
			   &m.ino, &at) < 7)
			continue;
		m.dev = makedev(major, minor);
		snprintf(m.path, sizeof(m.path), "%s", line + at);
		m.path[strcspn(m.path, "\n")] = '\0';
		n = realloc(*out, (*count + 1) * sizeof(*n));
		if (!n) {
			fclose(f);
			return -ENOMEM;
		}
		*out = n;
		(*out)[(*count)++] = m;
	}
	fclose(f);
	return 0;
}

static const struct live_map *live_at(const struct restore *r, uint64_t addr)
{
	for (size_t i = 0; i < r->nmaps; i++)
		if (addr >= r->maps[i].start && addr < r->maps[i].end)
			return &r->maps[i];
	return NULL;
}

/* The generation's mapping overlapping [start, end), or NULL. */
static const struct store_vma *gen_at(const struct restore *r, uint64_t start,
				      uint64_t end)
{
	const struct store_vma *v;
	size_t n = store_snap_vmas(r->snap, &v);

	for (size_t i = 0; i < n; i++)
		if (v[i].start < end && start < v[i].end)
			return &v[i];
	return NULL;
}

static bool same_in_gen(const struct restore *r, const struct live_map *m)
{
	const struct store_vma *v = gen_at(r, m->start, m->end);

	return v && v->start == m->start && v->end == m->end;
}

/* Says which mapping breaks the rule, naming both sides. */
static int layout_error(const struct restore *r, const struct live_map *m,
			uint64_t addr)
{
	const struct store_vma *v;

	if (!m) {
		fprintf(stderr, "%s: %d: %#" PRIx64 " is not mapped\n", prog,
			r->pid, addr);
		return -EINVAL;
	}
	v = gen_at(r, m->start, m->end);
	if (!v)
		fprintf(stderr, "%s: %d: mapping %#" PRIx64 "-%#" PRIx64 " %s%s%s is not in generation %" PRIu64 "\n",
			prog, r->pid, m->start, m->end, m->perms,
			*m->path ? " " : "", m->path, r->gen);
	else
		fprintf(stderr, "%s: %d: mapping %#" PRIx64 "-%#" PRIx64 " %s%s%s is %#" PRIx64 "-%#" PRIx64 " in generation %" PRIu64 "\n",
			prog, r->pid, m->start, m->end, m->perms,
			*m->path ? " " : "", m->path, v->start, v->end, r->gen);
	return -EINVAL;
}

/*
 * Even a tracer cannot write a shared mapping without write permission
 * (FOLL_FORCE breaks copy-on-write of private ones only): refused up
 * front, so that no write fails half-way.
 */
static int unwritable_error(const struct restore *r, const struct live_map *m)
{
	fprintf(stderr, "%s: %d: mapping %#" PRIx64 "-%#" PRIx64 " %s%s%s is shared and read-only: it cannot be written\n",
		prog, r->pid, m->start, m->end, m->perms, *m->path ? " " : "",
		m->path);
	return -EACCES;
}

static int add_segment(struct restore *r, uint64_t start, uint64_t end,
		       const struct live_map *m)
{
	struct segment *s = realloc(r->segs, (r->nsegs + 1) * sizeof(*s));

	if (!s)
		return -ENOMEM;
	r->segs = s;
	r->segs[r->nsegs++] = (struct segment){
		.start = start, .end = end, .m = *m, .obj = -1,
	};
	return 0;
}

/* --range: every mapping it touches must match, else nothing is written. */
static int plan_given(struct restore *r, uint64_t start, uint64_t end)
{
	const struct live_map *m;
	uint64_t at;
	int ret = 0;

	for (at = start; at < end; at = m->end) {
		m = live_at(r, at);
		if (!m || !same_in_gen(r, m))
			return layout_error(r, m, at);
		if (m->perms[1] != 'w' && m->perms[3] == 's')
			return unwritable_error(r, m);
	}
	for (at = start; !ret && at < end; at = m->end) {
		m = live_at(r, at);
		ret = add_segment(r, at, m->end < end ? m->end : end, m);
	}
	return ret;
}

/*
 * Shared memory (memfd, SysV, shared anonymous, /dev/shm, and the same on
 * hugetlb pages: MFD_HUGETLB, SHM_HUGETLB, MAP_HUGETLB, hugetlbfs files)
 * is the process's state, and so is a deleted file of a disk file system
 * (on_disk(): generations hold its shared mappings whole, as the module's
 * snapper_shared_covers() takes them); a shared mapping of a file
 * elsewhere is the file's, which a memory restore does not rewrite.
 */
static bool shared_memory(const struct restore *r, const struct live_map *m)
{
	char path[96];
	struct statfs fs;
	struct stat st;
	bool memory;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
		 r->pid, m->start, m->end);
	if (statfs(path, &fs))
		return false;
	if (memory_fs(&fs))
		return true;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	memory = !fstat(fd, &st) && !st.st_nlink &&
		 on_disk((uint32_t)r->pid, fd, &fs, &st);
	close(fd);
	return memory;
}

/*
 * Registers are not part of a generation: the main stack, whose return
 * addresses belong to the code running now, is left alone.
 */
static bool restorable(const struct restore *r, const struct live_map *m)
{
	const struct store_vma *v;

	if (m->perms[1] != 'w' || !strcmp(m->path, "[stack]") ||
	    !same_in_gen(r, m))
		return false;
	v = gen_at(r, m->start, m->end);
	if (v->flags & SNAPPER_VMA_F_SKIPPED)
		return false;
	return m->perms[3] == 'p' || shared_memory(r, m);
}

static int plan_all(struct restore *r)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < r->nmaps; i++)
		if (restorable(r, &r->maps[i]))
			ret = add_segment(r, r->maps[i].start, r->maps[i].end,
					  &r->maps[i]);
	if (!ret && !r->nsegs) {
		fprintf(stderr, "%s: %d: no writable mapping matches generation %" PRIu64 "\n",
			prog, r->pid, r->gen);
		ret = -EINVAL;
	}
	return ret;
}

/* ---- what the generation knows of the segments ---- */

/*
 * A private mapping of no file (the heap, the stacks, MAP_ANONYMOUS,
 * named ones): where its page table has no entry, it reads as zeros. A
 * private file mapping's page would be the file's, and a shared one's is
 * in the shared object.
 */
static bool anonymous(const struct live_map *m)
{
	return m->perms[3] == 'p' && m->path[0] != '/';
}

static int add_run(struct restore *r, uint64_t start, uint64_t npages,
		   enum source src, size_t seg)
{
	const struct live_map *m = &r->segs[seg].m;
	struct run *n;

	/* A generation may hold many runs: grow by doubling. */
	if (r->nruns == r->runs_cap) {
		r->runs_cap = r->runs_cap ? 2 * r->runs_cap : 64;
		n = realloc(r->runs, r->runs_cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		r->runs = n;
	}
	r->runs[r->nruns++] = (struct run){ start, npages, src,
					    m->perms[1] == 'w', anonymous(m),
					    seg };
	return 0;
}

/*
 * Segment @k's runs: the generation's captured and zero runs clipped to
 * it, from store run @i on, and in a private file mapping the gaps
 * between them, which the generation does not hold because at its instant
 * they read as the file. Elsewhere a gap is left as the target has it
 * (shared memory's page is the object's, an anonymous one is held as zero
 * where it reads as zero).
 */
static int plan_segment(struct restore *r, size_t k, size_t i)
{
	const struct segment *g = &r->segs[k];
	struct store_run run;
	uint64_t at = g->start;
	size_t n;
	int ret = 0;

	for (n = store_snap_map(r->snap, i, &run); !ret && i < n &&
	     run.vaddr < g->end; n = store_snap_map(r->snap, ++i, &run)) {
		uint64_t a = run.vaddr > at ? run.vaddr : at;
		uint64_t b = run.vaddr + run.npages * PG;

		if (b > g->end)
			b = g->end;
		if (run.state == STORE_PAGE_ABSENT || b <= a)
			continue;
		if (g->file && at < a)
			ret = add_run(r, at, (a - at) / PG, FROM_FILE, k);
		if (!ret)
			ret = add_run(r, a, (b - a) / PG,
				      run.state == STORE_PAGE_ZERO ?
				      FROM_ZERO : FROM_STORE, k);
		at = b;
	}
	if (!ret && g->file && at < g->end)
		ret = add_run(r, at, (g->end - at) / PG, FROM_FILE, k);
	return ret;
}

/* Every segment's runs; the segments and the store's runs both ascend. */
static int plan_runs(struct restore *r)
{
	struct store_run run;
	size_t i = 0, n = store_snap_map(r->snap, 0, &run);
	int ret = 0;

	for (size_t k = 0; !ret && k < r->nsegs; k++) {
		/* A store run may span segments: it is not passed over. */
		while (i < n && run.vaddr + run.npages * PG <= r->segs[k].start)
			store_snap_map(r->snap, ++i, &run);
		ret = plan_segment(r, k, i);
	}
	return ret;
}

/* Lists the lost pages as ranges, on standard error. */
static void lost_flush(struct restore *r)
{
	if (r->lost_start == r->lost_end)
		return;
	fprintf(stderr, "%s: %d: %#" PRIx64 "-%#" PRIx64 ": lost, no good stored copy: left as it is\n",
		prog, r->pid, r->lost_start, r->lost_end);
	r->lost_start = r->lost_end = 0;
}

/* Runs ascend, so the list of lost pages does. */
static int lost_page(struct restore *r, uint64_t addr)
{
	if (r->nlost == r->lost_cap) {
		size_t cap = r->lost_cap ? 2 * r->lost_cap : 64;
		uint64_t *n = realloc(r->lost, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		r->lost = n;
		r->lost_cap = cap;
	}
	fprintf(stderr, "%s: %s\n", prog, store_strerror());
	if (addr != r->lost_end || r->lost_start == r->lost_end) {
		lost_flush(r);
		r->lost_start = addr;
	}
	r->lost_end = addr + PG;
	r->lost[r->nlost++] = addr;
	return 0;
}

/*
 * --salvage, after the read of a chunk failed: again page by page, and a
 * page that no good copy gives back is listed as lost, to be left as the
 * target has it (zeros would be a lie as well as a loss).
 */
static int salvage_chunk(struct restore *r, uint64_t at, uint64_t npages)
{
	int ret = 0;

	for (uint64_t k = 0; !ret && k < npages; k++) {
		uint64_t addr = at + k * PG;

		if (!store_snap_read_pages(r->snap, addr, 1, r->want))
			continue;
		ret = store_errno() == -ENOMEM ? -ENOMEM : lost_page(r, addr);
	}
	if (ret)
		fprintf(stderr, "%s: %s\n", prog, strerror(ENOMEM));
	return ret;
}

static int file_pages(struct restore *r, const struct run *u, uint64_t at,
		      size_t npages, uint8_t *buf, bool *none);

/*
 * Checks the stored pages at @from and above through @snap, a chunk at a
 * time into @buf, until *@stop (if given) is set. Return: 0, -ECANCELED
 * when stopped, or the first failure's negative errno, with the store's
 * message (thread-local) set.
 */
static int check_stored(const struct restore *r, struct store_snap *snap,
			uint8_t *buf, uint64_t from, const atomic_bool *stop)
{
	for (size_t i = 0; i < r->nruns; i++) {
		const struct run *u = &r->runs[i];
		uint64_t end = u->start + u->npages * PG;

		if (u->src != FROM_STORE || end <= from)
			continue;
		for (uint64_t at = u->start > from ? u->start : from; at < end;
		     at += READ_PAGES * PG) {
			uint64_t n = (end - at) / PG;
			int ret = store_snap_read_pages(snap, at, n < READ_PAGES ?
							n : READ_PAGES, buf);

			if (ret)
				return ret;
			if (stop && atomic_load_explicit(stop, memory_order_relaxed))
				return -ECANCELED;
		}
	}
	return 0;
}

/*
 * The check is most of a restore's time before the stop, and its hash a
 * third of the tool's CPU time (Documentation/benchmarks.rst). With a
 * second CPU, a thread checks the later half of the stored pages (those
 * at the address @at and above: the runs are in address order) through
 * a store handle and snapshot of its own (a handle is not shared between
 * threads), and what it found good is adopted by the main snapshot, so
 * that the stopped phase trusts both halves alike.
 */
struct half {
	const struct restore *r;
	const char *dir;
	uint64_t at;		/* where the later half starts */
	atomic_bool stop;	/* the main thread failed: no need to go on */
	struct store *s;
	struct store_snap *snap;
	uint8_t *buf;
	pthread_t thread;
	int ret;
};

#define SPLIT_MIN_PAGES 2048	/* 8 MiB: below that a thread is not worth it */

/* The second handle's open would repeat the first's warnings. */
static __thread bool opening_again;

static void split_warn(const char *line)
{
	if (!opening_again)
		cli_warn(line);
}

static void *check_half(void *arg)
{
	struct half *h = arg;

	opening_again = true;
	h->ret = store_open(&h->s, h->dir, NULL, STORE_NOCREATE | STORE_RDONLY);
	if (!h->ret)
		h->ret = store_snap_open(h->s, h->r->gen, &h->snap);
	opening_again = false;
	if (!h->ret)
		h->ret = check_stored(h->r, h->snap, h->buf, h->at, &h->stop);
	return NULL;
}

static void free_half(struct half *h)
{
	if (!h)
		return;
	store_snap_close(h->snap);
	if (h->s)
		store_close(h->s);
	free(h->buf);
	free(h);
}

static struct half *start_half(struct restore *r, uint64_t stored)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t pos = 0, half = stored / 2;
	struct half *h;

	if (r->salvage || !r->dir || cpus < 2 || stored < SPLIT_MIN_PAGES)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	*h = (struct half){ .r = r, .dir = r->dir };
	for (size_t i = 0; i < r->nruns && !h->at; i++) {
		const struct run *u = &r->runs[i];

		if (u->src != FROM_STORE)
			continue;
		if (half < pos + u->npages)
			h->at = u->start + (half - pos) * PG;
		pos += u->npages;
	}
	h->buf = aligned_alloc(PG, READ_PAGES * PG);
	store_set_warn(split_warn);
	if (h->buf && !pthread_create(&h->thread, NULL, check_half, h))
		return h;
	store_set_warn(cli_warn);
	free_half(h);
	return NULL;
}

/*
 * Joins the thread, told to stop first when the main thread's check
 * failed (@ret); where it did not check its half, checks it here, so
 * that a damaged page is reported as a serial check would (a warning
 * about a bad copy may then be printed twice). A thread that checked its
 * half keeps its handle for the stop (r->half). Return: @ret, or as
 * check_stored().
 */
static int end_half(struct restore *r, struct half *h, int ret)
{
	if (ret)
		atomic_store(&h->stop, true);
	pthread_join(h->thread, NULL);
	store_set_warn(cli_warn);
	if (!ret && h->ret)
		ret = check_stored(r, r->snap, r->want, h->at, NULL);
	else if (!ret && store_snap_adopt_checks(r->snap, h->snap))
		ret = -ENOMEM;
	else if (!ret)
		r->half = h;
	if (r->half != h)
		free_half(h);
	return ret;
}

/*
 * Every stored page the restore needs, read and hash-checked before the
 * target is stopped, a chunk at a time into one buffer: a damaged store
 * fails the command with the target as it was, unless --salvage says to
 * restore what is still good. The file pages that the target has copies
 * of now are read too, so that a file that cannot be read fails it just
 * as early (those it copies before the stop are read after it only).
 */
static int check_runs(struct restore *r)
{
	bool none[CHUNK_PAGES];
	uint64_t stored = 0;
	struct half *h;
	int ret = 0;

	for (size_t i = 0; i < r->nruns; i++)
		if (r->runs[i].src == FROM_STORE)
			stored += r->runs[i].npages;
	h = start_half(r, stored);
	for (size_t i = 0; !ret && i < r->nruns; i++) {
		const struct run *u = &r->runs[i];
		uint64_t step = u->src == FROM_STORE ? READ_PAGES : CHUNK_PAGES;

		for (uint64_t k = 0; u->src != FROM_ZERO && !ret &&
		     k < u->npages; k += step) {
			uint64_t at = u->start + k * PG, n = u->npages - k;

			if (n > step)
				n = step;
			if (u->src == FROM_FILE) {
				ret = file_pages(r, u, at, n, r->want, none);
				continue;
			}
			/* The other thread's half. */
			if (h && at + n * PG > h->at)
				n = at < h->at ? (h->at - at) / PG : 0;
			if (!n || !store_snap_read_pages(r->snap, at, n, r->want))
				continue;
			if (r->salvage && store_errno() != -ENOMEM) {
				ret = salvage_chunk(r, at, n);
			} else {
				r->exit = cli_fail();
				ret = -EIO;
			}
		}
	}
	if (h && end_half(r, h, ret) && !ret) {
		r->exit = cli_fail();
		ret = -EIO;
	}
	lost_flush(r);
	return ret;
}

/*
 * The object or file opened for @g (see open_objects()) is still the one
 * mapped there (@now: the mapping as maps shows it now, whose device and
 * inode tell where map_files cannot be read); a shared object's size is
 * taken again.
 */
static bool same_object(const struct restore *r, struct segment *g,
			const struct live_map *now)
{
	struct stat mapped, st;
	char path[96];

	if (g->obj < 0)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
		 r->pid, g->m.start, g->m.end);
	if (stat(path, &mapped)) {
		if (errno != EPERM && errno != EACCES)
			return false;
		mapped.st_dev = now->dev;
		mapped.st_ino = now->ino;
	}
	if (fstat(g->obj, &st) || mapped.st_dev != st.st_dev ||
	    mapped.st_ino != st.st_ino)
		return false;
	if (!g->file)
		g->obj_size = st.st_size;
	return true;
}

/* With the target stopped: its mappings must be the ones planned for. */
static int check_unchanged(struct restore *r)
{
	struct live_map *now;
	size_t n, k;
	int ret = read_maps(r->pid, &now, &n);

	if (ret)
		fprintf(stderr, "%s: /proc/%d/maps: %s\n", prog, r->pid,
			strerror(-ret));
	for (size_t i = 0; !ret && i < r->nsegs; i++) {
		const struct live_map *m = &r->segs[i].m;

		for (k = 0; k < n; k++)
			if (now[k].start == m->start && now[k].end == m->end &&
			    now[k].offset == m->offset &&
			    !strcmp(now[k].perms, m->perms) &&
			    !strcmp(now[k].path, m->path))
				break;
		if (k == n || !same_object(r, &r->segs[i], &now[k])) {
			fprintf(stderr, "%s: %d: mapping %#" PRIx64 "-%#" PRIx64 " %s%s%s changed before the target stopped: nothing written\n",
				prog, r->pid, m->start, m->end, m->perms,
				*m->path ? " " : "", m->path);
			ret = -EAGAIN;
		}
	}
	free(now);
	return ret;
}

/* ---- moving the bytes ---- */

/* @err: an errno, ESRCH when the target is gone. */
static int transfer_error(const struct restore *r, const char *what,
			  uint64_t addr, uint64_t len, int err)
{
	fprintf(stderr, "%s: %d: %s %#" PRIx64 "-%#" PRIx64 ": %s\n", prog,
		r->pid, what, addr, addr + len,
		err == ESRCH ? "the process is gone" : strerror(err));
	return -err;
}

/*
 * Reads @npages from @at through /proc/PID/mem, which takes plain page
 * references: process_vm_readv pins, and pinning a shared anonymous page
 * unshares it from the process's forked children. A page with nothing
 * behind it (a private mapping's tail past its file's end raises SIGBUS
 * there, as a poisoned page does) reads as EIO; it is marked in @bad and
 * skipped, byte-exactly around it.
 */
static int read_target(struct restore *r, uint64_t at, size_t npages,
		       uint8_t *buf, bool *bad)
{
	size_t done = 0;
	ssize_t n;

	while (done < npages) {
		n = pread(r->mem, buf + done * PG, (npages - done) * PG,
			  at + done * PG);
		/* mem_rw copies whole pages from an aligned address. */
		if (n >= (ssize_t)PG) {
			for (size_t k = 0; k < (size_t)n / PG; k++)
				bad[done++] = false;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno != EIO))
			return transfer_error(r, "reading", at + done * PG,
					      (npages - done) * PG,
					      n ? errno : ESRCH);
		bad[done++] = true;
	}
	return 0;
}

/* @none: nothing to put there (see chunk_pages()): not read. */
enum page_kind {
	PAGE_OURS, PAGE_CHANGED, PAGE_NONE, PAGE_OTHER, PAGE_SKIP, PAGE_POISONED,
};

/*
 * Shared memory is read through its object (tmpfs), not through the
 * target's mapping: a page of the object that the target does not map
 * (another process wrote it, or it is a hole) stays unmapped, where
 * reading through the mapping would fault it in. Only whole pages below
 * the object's end: past it the mapping raises SIGBUS. Writes still go
 * through the mapping, so that the pages written are soft-dirty in the
 * target's page table for the next checkpoint by --backend proc. Returns
 * how many of @npages from @at are such pages.
 */
static size_t in_object(const struct segment *g, uint64_t at, size_t npages)
{
	uint64_t off = g->m.offset + (at - g->m.start);
	uint64_t whole;

	if (g->obj < 0 || g->file || off >= g->obj_size)
		return 0;
	whole = (g->obj_size - off) / PG;
	return whole < npages ? whole : npages;
}

/*
 * Reads @g's object or file behind @npages from @at, up to its end: the
 * bytes read, or -errno after saying which. With @bad, a page the object
 * refuses with EIO is marked there (zeros in @buf) and the read goes on
 * after it: a page of shared memory lost to a memory error (left in the
 * object, flagged) or to a failed swap-in (an error entry in its place)
 * is SIGBUS for the target and nothing can be written there, as at a
 * poisoned page of its own (see read_target()).
 */
static ssize_t read_object(struct restore *r, const struct segment *g,
			   uint64_t at, size_t npages, uint8_t *buf, bool *bad)
{
	uint64_t off = g->m.offset + (at - g->m.start);
	size_t done = 0, len = npages * PG;
	ssize_t n = 1;

	while (done < len && n) {
		n = pread(g->obj, buf + done, len - done, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EIO && bad && !(done % PG)) {
			memset(buf + done, 0, PG);
			bad[done / PG] = true;
			done += PG;
			n = 1;
			continue;
		}
		if (n < 0)
			return transfer_error(r, "reading the object behind",
					      at + done, len - done, errno);
		done += n;
	}
	return done;
}

/*
 * A page of a private file mapping (@g) is the target's own copy (it wrote
 * there) when pagemap shows it present or swapped and not the file's
 * page. A userfaultfd write-protect marker counts as swapped in pagemap,
 * but stands for no page, which reads as the file. On DAX, kpageflags
 * tells the file's pages (see pm_dax_file_page()).
 */
static bool own_copy(const struct restore *r, const struct segment *g,
		     uint64_t pm)
{
	return !pm_no_entry(pm) && !(pm & PM_FILE) &&
	       !(g->dax && pm_dax_file_page(r->kpageflags, pm));
}

/*
 * What a file run puts back, @npages from @at: where the target has a
 * copy of its own (it wrote the page after the instant), the file's
 * bytes at the mapping's offset, zeros past the file's end within its
 * last page. Every other page is marked in @none and left alone: the
 * file's own page, or no page, reads as the file already (writing it
 * would only break the sharing with the page cache), and a page wholly
 * past the file's end has nothing behind it. The file is read as it is
 * now: the generation does not keep what it held at the instant.
 */
static int file_pages(struct restore *r, const struct run *u, uint64_t at,
		      size_t npages, uint8_t *buf, bool *none)
{
	const struct segment *g = &r->segs[u->seg];
	size_t len = npages * sizeof(uint64_t), i, j;
	uint64_t pm[CHUNK_PAGES];
	ssize_t n = pread(r->pagemap, pm, len, at / PG * sizeof(*pm));

	if (n != (ssize_t)len)
		return transfer_error(r, "reading the page map of", at,
				      npages * PG, n < 0 ? errno : EIO);
	for (i = 0; i < npages; i = j) {
		bool own = own_copy(r, g, pm[i]);

		for (j = i + 1; j < npages && own_copy(r, g, pm[j]) == own; j++)
			;
		for (size_t k = i; k < j; k++)
			none[k] = !own;
		if (!own)
			continue;
		if (g->obj < 0) {
			fprintf(stderr, "%s: %d: mapping %#" PRIx64 "-%#" PRIx64 " %s %s: its file: %s\n",
				prog, r->pid, g->m.start, g->m.end, g->m.perms,
				g->m.path, strerror(g->obj_err));
			return -g->obj_err;
		}
		n = read_object(r, g, at + i * PG, j - i, buf + i * PG, NULL);
		if (n < 0)
			return n;
		memset(buf + i * PG + n, 0, (j - i) * PG - n);
		for (size_t k = i + (n + PG - 1) / PG; k < j; k++)
			none[k] = true;
	}
	return 0;
}

/*
 * By a page's page map entry; @anon: in a private anonymous mapping;
 * @direct: a mapping the target may write (the run's, see struct run).
 * PAGE_CHANGED is a page of the target's own there (anonymous: not a
 * file's page) that is soft-dirty: written since the bits were last
 * cleared, which every checkpoint does (the module's walk, or clear_refs
 * for --backend proc), or in a mapping made since (pagemap shows all its
 * pages soft-dirty), so most likely not what the generation holds. It is
 * written without being read and compared first: the read-back after the
 * write checks it all the same, and writing it again changes nothing a
 * later checkpoint sees (it is dirty already) and unshares nothing (it
 * is mapped by the target alone). In a restore after the target rewrote
 * its memory that is every page, and the stop saves a read and a compare
 * of each.
 */
static enum page_kind pm_kind(uint64_t pm, bool anon, bool direct)
{
	if ((pm & (PM_PRESENT | PM_EXCLUSIVE)) == (PM_PRESENT | PM_EXCLUSIVE))
		return direct && (pm & (PM_SOFT_DIRTY | PM_FILE)) == PM_SOFT_DIRTY ?
		       PAGE_CHANGED : PAGE_OURS;
	if (pm_poison_marker(pm))
		return PAGE_POISONED;
	if (anon && pm_no_entry(pm))
		return PAGE_NONE;
	return PAGE_OTHER;
}

/*
 * Page @i of a chunk: @pm, its page map (NULL: unread), @none, the pages
 * with nothing to put there (see chunk_pages()).
 */
static enum page_kind page_kind(const uint64_t *pm, const bool *none,
				size_t i, bool anon, bool direct)
{
	if (none[i])
		return PAGE_SKIP;
	return pm ? pm_kind(pm[i], anon, direct) : PAGE_OTHER;
}

/*
 * The first read of a chunk, by the kind of each page. A page with
 * nothing to put there (@none) is not read. A page of a
 * private anonymous mapping with no entry (neither present nor swapped)
 * reads as zeros, and is not read at all: a read would fault a page in
 * where the target maps none, and a restore that writes nothing there
 * must leave its page tables and counts as they were. A page
 * mapped by the target alone is read with process_vm_readv, at half the
 * cost or less: pinning it shares nothing out. Any other page (shared
 * copy-on-write with a forked child, swapped) is read through
 * /proc/PID/mem, which does not pin, and so is any run that
 * process_vm_readv refuses (no read permission). A page of the target's
 * own that it changed (PAGE_CHANGED, see pm_kind()) is not read but
 * marked in @changed, to be written. A page poisoned by userfaultfd
 * (PAGE_POISONED) is marked bad, as one poisoned by a memory error is by
 * its read (see read_target()): nothing can be written there.
 */
static int read_chunk(struct restore *r, uint64_t at, size_t npages,
		      const struct run *u, uint8_t *buf, const bool *none,
		      bool *bad, bool *changed)
{
	const struct segment *g = &r->segs[u->seg];
	uint64_t map[CHUNK_PAGES], *pm = map;
	size_t i = in_object(g, at, npages), j, len;
	bool anon = u->anon, direct = u->direct;
	ssize_t n;
	int ret;

	memset(changed, 0, npages * sizeof(*changed));
	if (i) {
		memset(bad, 0, i * sizeof(*bad));
		n = read_object(r, g, at, i, buf, bad);
		if (n >= 0 && n < (ssize_t)(i * PG))	/* it shrank */
			n = transfer_error(r, "reading the object behind",
					   at + n, i * PG - n, EIO);
		if (n < 0 || i == npages)
			return n < 0 ? n : 0;
		at += i * PG;
		buf += i * PG;
		none += i;
		bad += i;
		changed += i;
		npages -= i;
		i = 0;
	}
	if (pread(r->pagemap, map, npages * sizeof(*map), at / PG * sizeof(*map)) !=
	    (ssize_t)(npages * sizeof(*map)))
		pm = NULL;
	while (i < npages) {
		enum page_kind kind = page_kind(pm, none, i, anon, direct);

		for (j = i + 1; j < npages &&
			    page_kind(pm, none, j, anon, direct) == kind; j++)
			;
		len = (j - i) * PG;
		memset(bad + i, 0, (j - i) * sizeof(*bad));
		if (kind == PAGE_SKIP) {
			i = j;
			continue;
		}
		if (kind == PAGE_POISONED) {
			memset(bad + i, true, (j - i) * sizeof(*bad));
			i = j;
			continue;
		}
		if (kind == PAGE_CHANGED) {
			memset(changed + i, 1, (j - i) * sizeof(*changed));
			i = j;
			continue;
		}
		if (kind == PAGE_NONE) {
			memset(buf + i * PG, 0, len);
			i = j;
			continue;
		}
		if (kind == PAGE_OURS) {
			struct iovec local = { buf + i * PG, len };
			struct iovec far = { (void *)(at + i * PG), len };

			if (process_vm_readv(r->pid, &local, 1, &far, 1, 0) ==
			    (ssize_t)len) {
				i = j;
				continue;
			}
		}
		ret = read_target(r, at + i * PG, j - i, buf + i * PG, bad + i);
		if (ret)
			return ret;
		i = j;
	}
	return 0;
}

/*
 * Whether @len bytes (a multiple of 32) at @a and @b are the same. By
 * hand rather than memcmp() for its speed under TCG, where the compares
 * of a restore are a sixth of its profile: glibc picks __memcmp_sse2 on
 * QEMU's CPU models, and QEMU emulates each SSE2 instruction with a
 * helper call. 256 MiB of equal pages in 256 KiB calls, 6.1 guest:
 * memcmp() 257-267 ms, this loop 78-80; on the host both 17 ms.
 */
static bool same_bytes(const void *a, const void *b, size_t len)
{
	typedef uint64_t __attribute__((may_alias)) word;
	const word *x = a, *y = b;

	for (size_t i = 0; i < len / sizeof(*x); i += 4)
		if ((x[i] ^ y[i]) | (x[i + 1] ^ y[i + 1]) |
		    (x[i + 2] ^ y[i + 2]) | (x[i + 3] ^ y[i + 3]))
			return false;
	return true;
}

/*
 * Reads back what was just written to a mapping the target may write.
 * The written pages are the target's own now (the write broke any
 * copy-on-write sharing), so the pin of process_vm_readv unshares
 * nothing there, and it is the faster way.
 */
static int read_written(struct restore *r, uint64_t at, size_t len,
			uint8_t *have)
{
	struct iovec local = { have, len }, far = { (void *)at, len };
	ssize_t n = process_vm_readv(r->pid, &local, 1, &far, 1, 0);

	if (n == (ssize_t)len)
		return 0;
	return transfer_error(r, "reading back", at, len, n < 0 ? errno : EIO);
}

/*
 * Writes [at, at + npages) and reads it back into @have: with
 * process_vm_writev where the target may write (it copies straight into
 * the target's pages, at a third of the cost of /proc/PID/mem under
 * TCG), and through /proc/PID/mem elsewhere, which for a tracer writes
 * through read-only private mappings (copy on write, as a debugger's
 * breakpoints).
 */
static int write_target(struct restore *r, uint64_t at, size_t npages,
			const uint8_t *want, uint8_t *have, const struct run *u)
{
	size_t len = npages * PG;
	bool bad[CHUNK_PAGES], direct = u->direct;
	ssize_t n;
	int ret;

	if (direct) {
		struct iovec local = { (void *)want, len };
		struct iovec far = { (void *)at, len };

		n = process_vm_writev(r->pid, &local, 1, &far, 1, 0);
	} else {
		n = pwrite(r->mem, want, len, at);
	}
	if (n != (ssize_t)len)
		return transfer_error(r, "writing", at, len, n < 0 ? errno : EIO);
	r->written += npages;
	ret = direct ? read_written(r, at, len, have) :
		       read_target(r, at, npages, have, bad);
	if (!ret && !same_bytes(want, have, len)) {
		fprintf(stderr, "%s: %d: %#" PRIx64 "-%#" PRIx64 " differs after the write\n",
			prog, r->pid, at, at + len);
		ret = -EIO;
	}
	return ret;
}

/*
 * What a chunk should hold, into r->want: its checked pages, read again
 * from the store (see store_snap_reread_pages()), around the pages
 * --salvage found lost; zeros for a zero run; the file's bytes for a file
 * run (see file_pages()). The pages with nothing to put there (lost, or
 * the file's) are marked in @none. The second read fails only if the
 * pack files changed or failed since the first, or the file cannot be
 * read now: the chunks before are written by then, which is said.
 */
static int chunk_pages(struct restore *r, uint64_t at, size_t npages,
		       const struct run *u, bool *none)
{
	uint64_t end = at + npages * PG;
	size_t i, j;
	int ret;

	memset(none, 0, npages * sizeof(*none));
	if (u->src == FROM_ZERO) {
		memset(r->want, 0, npages * PG);
		return 0;
	}
	if (u->src == FROM_FILE) {
		ret = file_pages(r, u, at, npages, r->want, none);
		if (ret)
			fprintf(stderr, "%s: %d: restore stopped at %#" PRIx64 ", the chunks before it restored\n",
				prog, r->pid, at);
		return ret;
	}
	while (r->lost_next < r->nlost && r->lost[r->lost_next] < at)
		r->lost_next++;
	for (i = 0; i < npages; i = j) {
		uint64_t next = r->lost_next < r->nlost &&
				r->lost[r->lost_next] < end ?
				r->lost[r->lost_next] : end;

		j = (next - at) / PG;
		if (j > i && store_snap_reread_pages(r->snap, at + i * PG,
						     j - i, r->want + i * PG)) {
			r->exit = cli_fail();
			fprintf(stderr, "%s: %d: the store's second read failed: restore stopped at %#" PRIx64 ", the chunks before it restored\n",
				prog, r->pid, at + i * PG);
			return -EIO;
		}
		if (j < npages) {
			none[j++] = true;
			r->lost_next++;
		}
	}
	return 0;
}

/*
 * One chunk: reads the target, then writes the pages that differ, in
 * runs. A page that is identical is not written: writing would make it
 * soft-dirty for the next checkpoint and break its sharing. Neither is a
 * page with nothing behind it, nor one with nothing to put there (lost
 * from the store, or the file's own). A page the target changed is
 * written unread (see pm_kind()).
 */
static int apply_chunk(struct restore *r, uint64_t at, size_t npages,
		       const struct run *u, const uint8_t *want,
		       const bool *none)
{
	bool bad[CHUNK_PAGES], keep[CHUNK_PAGES], changed[CHUNK_PAGES];
	size_t i, j;
	int ret = read_chunk(r, at, npages, u, r->have, none, bad, changed);

	for (i = 0; !ret && i < npages; i++) {
		r->skipped += bad[i];
		keep[i] = bad[i] || none[i] ||
			  (!changed[i] &&
			   same_bytes(want + i * PG, r->have + i * PG, PG));
	}
	for (i = 0; !ret && i < npages; i = j) {
		for (j = i + 1; j < npages && keep[j] == keep[i]; j++)
			;
		if (keep[i])
			continue;
		ret = write_target(r, at + i * PG, j - i, want + i * PG,
				   r->have + i * PG, u);
		if (!ret && u->src == FROM_FILE)
			r->refiled += j - i;
	}
	return ret;
}

/*
 * Up to READ_PAGES of a store run, or CHUNK_PAGES of another, into
 * r->want, then applied a chunk at a time.
 */
static int apply_pages(struct restore *r, uint64_t at, size_t npages,
		       const struct run *u)
{
	bool none[READ_PAGES];
	int ret = chunk_pages(r, at, npages, u, none);

	for (size_t k = 0; !ret && k < npages; k += CHUNK_PAGES)
		ret = apply_chunk(r, at + k * PG, npages - k < CHUNK_PAGES ?
				  npages - k : CHUNK_PAGES, u, r->want + k * PG,
				  none + k);
	return ret;
}

/*
 * The stop's work is split as the check's was (r->half): the second
 * thread takes the chunks of the later half through its own snapshot,
 * which rereads what it checked without hashing again, but only where it
 * writes with process_vm_writev and reads what the mapping lets anyone
 * read. A write through /proc/PID/mem into a mapping the target may not
 * write, like a read the mapping forbids, needs FOLL_FORCE, which a 6.12
 * kernel booted with proc_mem.force_override=ptrace grants only to the
 * target's tracer, the thread that seized it (proc_mem_foll_force()):
 * those chunks stay with the main thread.
 */
static bool for_later_half(const struct restore *r, const struct run *u)
{
	return u->src == FROM_STORE && u->direct &&
	       r->segs[u->seg].m.perms[0] == 'r';
}

/*
 * The runs' chunks, in order: with @split (an address, 0 for none), the
 * main thread's (@later false) or the second thread's (@later true).
 * Each thread stops at its own first failure.
 */
static int apply_runs(struct restore *r, uint64_t split, bool later)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < r->nruns; i++) {
		const struct run *u = &r->runs[i];
		uint64_t start = u->start, end = u->start + u->npages * PG;
		uint64_t step = u->src == FROM_STORE ? READ_PAGES : CHUNK_PAGES;

		if (split && for_later_half(r, u)) {
			if (later && start < split)
				start = split;
			if (!later && end > split)
				end = split;
		} else if (later) {
			continue;
		}
		for (uint64_t at = start; !ret && at < end; at += step * PG) {
			uint64_t n = (end - at) / PG;

			ret = apply_pages(r, at, n < step ? n : step, u);
		}
		if (u->src != FROM_FILE && start < end)
			r->pages += (end - start) / PG;
	}
	return ret;
}

/* The second thread's part of the stop: a restore of its own but for its fds. */
struct later {
	struct restore r;
	uint64_t split;
	pthread_t thread;
	int ret;
};

static void *apply_later(void *arg)
{
	struct later *l = arg;

	l->ret = apply_runs(&l->r, l->split, true);
	return NULL;
}

static struct later *start_later(struct restore *r)
{
	struct later *l;

	if (!r->half || !r->half->at)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->r = *r;
	l->r.snap = r->half->snap;
	l->r.want = r->half->buf;
	l->r.have = aligned_alloc(PG, CHUNK_PAGES * PG);
	l->r.half = NULL;
	l->r.pages = l->r.written = l->r.skipped = l->r.refiled = 0;
	l->r.exit = 0;
	l->split = r->half->at;
	if (l->r.have && !pthread_create(&l->thread, NULL, apply_later, l))
		return l;
	free(l->r.have);
	free(l);
	return NULL;
}

/* Joins the second thread and counts its work in @r. Return: @ret or its error. */
static int end_later(struct restore *r, struct later *l, int ret)
{
	pthread_join(l->thread, NULL);
	r->pages += l->r.pages;
	r->written += l->r.written;
	r->skipped += l->r.skipped;
	r->refiled += l->r.refiled;
	if (!ret && l->ret) {
		ret = l->ret;
		r->exit = l->r.exit;
	}
	free(l->r.have);
	free(l);
	return ret;
}

/* ---- the command ---- */

struct args {
	struct cli c;
	pid_t pid;
	bool range, salvage;
	uint64_t start, end;
};

/* Returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "gen", required_argument, NULL, 'g' },
		{ "pid", required_argument, NULL, 'p' },
		{ "range", required_argument, NULL, 'r' },
		{ "salvage", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint64_t v;
	int opt;

	memset(a, 0, sizeof(*a));
	store_knobs_default(&a->c.knobs);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;

		if (opt == 'h')
			return printf(usage, prog), 0;
		else if (opt == 's')
			a->c.store = optarg;
		else if (opt == 'g')
			ok = cli_parse_u64(optarg, &a->c.gen) && a->c.gen;
		else if (opt == 'p')
			ok = cli_parse_u64(optarg, &v) && v && v <= SNAPPER_PID_MAX &&
			     (a->pid = v);
		else if (opt == 'r')
			ok = a->range = cli_parse_pages(optarg, &a->start, &a->end);
		else if (opt == 'S')
			a->salvage = true;
		else
			return fprintf(stderr, usage, prog), 1;
		if (!ok) {
			fprintf(stderr, "%s: %s: bad value '%s'\n", prog,
				argv[optind - 1], optarg);
			return 1;
		}
	}
	if (!a->c.store || !a->pid || optind != argc)
		return fprintf(stderr, usage, prog), 1;
	return -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

/*
 * A private mapping's file where map_files is refused (it wants
 * CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN in the initial user namespace,
 * which root in a container lacks): the path maps shows, if the file
 * there is still the one mapped (the same device and inode).
 */
static int open_by_path(const struct live_map *m)
{
	struct stat st;
	int fd = open(m->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || st.st_dev != m->dev || st.st_ino != m->ino) {
		close(fd);
		errno = ESTALE;
		return -1;
	}
	return fd;
}

/*
 * The objects behind the segments, opened through /proc/PID/map_files/
 * (the object mapped, even if its name is gone or now another file's),
 * or for a private file mapping by its path (see open_by_path());
 * same_object() checks them again once the target is stopped. Shared
 * memory's object is read instead of the target's mapping (see
 * in_object()): one that cannot be opened is read and written through
 * the mapping. A private mapping of a regular file needs the file for the
 * pages the generation does not hold that the target has copies of (see
 * file_pages()): where it cannot be opened, only such a page fails the
 * command, still before the target is stopped. A private mapping of
 * something else (a device: /dev/zero) has no file content to restore.
 */
static int open_objects(struct restore *r)
{
	char path[96];
	struct stat st;

	for (size_t i = 0; i < r->nsegs; i++) {
		struct segment *g = &r->segs[i];
		bool shm = g->m.perms[3] == 's';

		if (shm ? !shared_memory(r, &g->m) : g->m.path[0] != '/')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
			 r->pid, g->m.start, g->m.end);
		g->obj = open(path, O_RDONLY | O_CLOEXEC);
		if (g->obj < 0 && !shm && (errno == EPERM || errno == EACCES))
			g->obj = open_by_path(&g->m);
		if (g->obj >= 0 && fstat(g->obj, &st)) {
			close(g->obj);
			g->obj = -1;
		}
		if (g->obj < 0 && !shm) {
			g->obj_err = errno;
			g->file = true;
			continue;
		}
		if (g->obj < 0)
			continue;
		if (shm) {
			g->obj_size = st.st_size;
		} else if (S_ISREG(st.st_mode)) {
			g->file = true;
			g->dax = is_dax(g->obj, "");
			if (g->dax && r->kpageflags < 0)
				r->kpageflags = open("/proc/kpageflags",
						     O_RDONLY | O_CLOEXEC);
		} else {
			close(g->obj);
			g->obj = -1;
		}
	}
	return 0;
}

static void close_objects(struct restore *r)
{
	for (size_t i = 0; i < r->nsegs; i++)
		if (r->segs[i].obj >= 0) {
			close(r->segs[i].obj);
			r->segs[i].obj = -1;
		}
}

/*
 * A mapping registered with userfaultfd (smaps' VmFlags "um", "uw", "ui":
 * missing, write-protect, minor faults) is refused before anything is
 * written: a write there may fault into userfaultfd, and a fault taken
 * for another process (process_vm_writev's, /proc/PID/mem's) waits for
 * the handler, a thread of the target that the stop keeps from running:
 * the restore would hang with the target stopped (or, where userfaultfd
 * answers with SIGBUS, fail half-way). smaps walks the page tables, so it
 * is read once, here, with the target running; both lists are ascending.
 */
static int refuse_userfaultfd(const struct restore *r)
{
	unsigned long long start = 0, end = 0, s, e;
	char path[64], *line = NULL;
	size_t len = 0, k = 0;
	int ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", r->pid);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "%s: %s: %m\n", prog, path);
		return -errno;
	}
	while (!ret && getline(&line, &len, f) > 0) {
		if (sscanf(line, "%llx-%llx ", &s, &e) == 2) {
			start = s;
			end = e;
			continue;
		}
		if (strncmp(line, "VmFlags:", 8) || (!strstr(line, " um ") &&
		    !strstr(line, " uw ") && !strstr(line, " ui ")))
			continue;
		while (k < r->nsegs && r->segs[k].end <= start)
			k++;
		if (k < r->nsegs && r->segs[k].start < end) {
			fprintf(stderr, "%s: %d: mapping %#llx-%#llx is registered with userfaultfd: a write there would wait for its handler, stopped with the process; nothing written\n",
				prog, r->pid, start, end);
			ret = -EBUSY;
		}
	}
	free(line);
	fclose(f);
	return ret;
}

/*
 * The plan, with the target running: a failure here leaves it untouched.
 * The page map is read here already, for the file runs (see check_runs()).
 */
static int plan(struct restore *r, const struct args *a)
{
	char path[64];
	int ret = read_maps(r->pid, &r->maps, &r->nmaps);

	if (ret) {
		fprintf(stderr, "%s: /proc/%d/maps: %s\n", prog, r->pid,
			strerror(-ret));
		return ret;
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", r->pid);
	r->pagemap = open(path, O_RDONLY | O_CLOEXEC);
	if (r->pagemap < 0) {
		fprintf(stderr, "%s: %s: %m\n", prog, path);
		return -errno;
	}
	ret = a->range ? plan_given(r, a->start, a->end) : plan_all(r);
	if (!ret)
		ret = refuse_userfaultfd(r);
	if (!ret)
		ret = open_objects(r);
	if (!ret)
		ret = plan_runs(r);
	if (ret == -ENOMEM)
		fprintf(stderr, "%s: %s\n", prog, strerror(ENOMEM));
	if (!ret)
		ret = check_runs(r);
	return ret;
}

/* With the target stopped: the layout checked again, then the bytes. */
static int restore_stopped(struct restore *r)
{
	struct later *later;
	char path[64];
	int ret = check_unchanged(r);

	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/proc/%d/mem", r->pid);
	r->mem = open(path, O_RDWR | O_CLOEXEC);
	if (r->mem < 0) {
		fprintf(stderr, "%s: %s: %m\n", prog, path);
		return -errno;
	}
	later = start_later(r);
	ret = apply_runs(r, later ? later->split : 0, false);
	if (later)
		ret = end_later(r, later, ret);
	close(r->mem);
	return ret;
}

static int run(struct restore *r, const struct args *a)
{
	uint64_t t0, t1;
	char skipped[96] = "", refiled[64] = "";
	int ret = plan(r, a);

	if (ret)
		return ret;
	t0 = now_ms();
	ret = threads_hold(r->pid, &r->threads, MAX_THREADS);
	if (ret) {
		fprintf(stderr, "%s: %d: stopping its threads: %s of %d: %s\n",
			prog, r->pid, r->threads.what, r->threads.tid,
			strerror(-ret));
	} else {
		ret = restore_stopped(r);
	}
	threads_release(&r->threads);
	t1 = now_ms();
	if (r->skipped)
		snprintf(skipped, sizeof(skipped), ", %" PRIu64
			 " skipped (no page there: past the end of a file, or poisoned)",
			 r->skipped);
	if (r->refiled)
		snprintf(refiled, sizeof(refiled), " (%" PRIu64 " of them the file's again)",
			 r->refiled);
	if (!ret)
		printf("restored generation %" PRIu64 " into %d: %" PRIu64
		       " pages in %zu mappings, %" PRIu64 " written%s%s, verified;"
		       " stopped %" PRIu64 " ms\n",
		       r->gen, r->pid, r->pages, r->nsegs, r->written, refiled,
		       skipped, t1 - t0);
	if (!ret && r->nlost)
		fprintf(stderr, "%s: %d: %" PRIu64 " page%s lost from generation %" PRIu64 ", left as they were (listed above)\n",
			prog, r->pid, r->nlost, r->nlost == 1 ? "" : "s",
			r->gen);
	return ret;
}

/*
 * The exit codes of the store commands (store-cli.h): 2 for no such store
 * or generation, 3 for damage (and for pages --salvage lost), 1 for
 * anything else.
 */
int restore_main(int argc, char **argv)
{
	struct restore r = { 0 };
	struct args a;
	struct store *s;
	int ret = parse_args(argc, argv, &a);

	if (ret >= 0)
		return ret;
	/* Our own threads cannot be ptrace-stopped: libsnapper restores itself. */
	if (a.pid == getpid() || geteuid()) {
		fprintf(stderr, "%s: %d: %s\n", prog, a.pid, a.pid == getpid() ?
			"a process cannot restore itself with this command" :
			"restoring another process needs root");
		return CLI_EXIT_ERROR;
	}
	s = cli_open(&a.c, false);
	if (!s)
		return cli_exit();
	r.pid = a.pid;
	r.dir = a.c.store;
	r.pagemap = -1;
	r.kpageflags = -1;
	r.salvage = a.salvage;
	r.gen = cli_gen(&a.c, s);
	r.want = aligned_alloc(PG, READ_PAGES * PG);
	r.have = aligned_alloc(PG, CHUNK_PAGES * PG);
	if (!r.gen)
		ret = CLI_EXIT_NOTFOUND;
	else if (!r.want || !r.have)
		ret = (fprintf(stderr, "%s: %m\n", prog), CLI_EXIT_ERROR);
	else if (store_snap_open(s, r.gen, &r.snap))
		ret = cli_fail();
	else if (run(&r, &a))
		ret = r.exit ? r.exit : CLI_EXIT_ERROR;
	else
		ret = r.nlost ? CLI_EXIT_DAMAGED : 0;
	close_objects(&r);
	if (r.pagemap >= 0)
		close(r.pagemap);
	if (r.kpageflags >= 0)
		close(r.kpageflags);
	free_half(r.half);
	store_snap_close(r.snap);
	free(r.lost);
	free(r.runs);
	free(r.segs);
	free(r.maps);
	free(r.want);
	free(r.have);
	store_close(s);
	return ret;
}
