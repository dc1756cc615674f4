// SPDX-License-Identifier: GPL-2.0
/*
 * snapper-tool restore: writes a generation's memory back into a live
 * process.
 *
 * All of it happens in userspace, without the module. Every thread of the
 * target is seized and interrupted with ptrace, as CRIU does: that keeps
 * it out of user mode, its parent sees no stop (PTRACE_INTERRUPT is not a
 * group stop), and a detach lets it run on with its signals and
 * interrupted system calls restarted, none lost. The bytes move with
 * process_vm_readv/writev where the target may write, and through
 * /proc/PID/mem elsewhere: for a tracer that file writes through
 * read-only private mappings (copy on write, as a debugger's breakpoints).
 * Only pages whose content differs are written, so that a restore does
 * not make the whole range soft-dirty for the next checkpoint; each chunk
 * is read back and compared before the next.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/snapper.h>

#include "store-cli.h"
#include "subcommands.h"

#define PG STORE_PAGE_SIZE
#define CHUNK_PAGES 256		/* 1 MiB: large transfers, small buffers */

static const char usage[] =
	"Usage: %s restore --store DIR [--gen N] --pid PID [--range START-END]\n"
	"Writes generation N (default: the newest) into the live process PID.\n"
	"With --range (hex, page aligned), the range must be covered by mappings\n"
	"of PID that the generation has at the same address and size; without,\n"
	"every writable private mapping present in both is restored, except the\n"
	"main thread's stack. Pages zero or not captured in the generation become\n"
	"zero. PID's threads are kept out of user mode meanwhile and resume\n"
	"unharmed. Another process needs root, as for checkpoint.\n";

/* One line of /proc/PID/maps. */
struct live_map {
	uint64_t start, end;
	char perms[5];
	char path[256];
};

struct tracee {
	pid_t tid;
	int sig;		/* signal to deliver at detach, or 0 */
};

struct restore {
	pid_t pid;
	int mem;		/* /proc/PID/mem */
	struct store_snap *snap;
	uint64_t gen;
	struct tracee *threads;
	size_t nthreads;
	struct live_map *maps;
	size_t nmaps;
	uint8_t *want, *have;
	uint64_t pages, written, mappings;
};

/* ---- keeping the target out of user mode ---- */

static bool is_known(const struct restore *r, pid_t tid)
{
	for (size_t i = 0; i < r->nthreads; i++)
		if (r->threads[i].tid == tid)
			return true;
	return false;
}

/*
 * Waits until @t is in a ptrace stop. A signal-delivery stop may come
 * before the interrupt's: it stops the thread just as well, and the signal
 * is handed back at detach. Returns 1 if the thread exited meanwhile.
 */
static int wait_stop(struct tracee *t)
{
	int status;

	while (waitpid(t->tid, &status, __WALL) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status) || WIFSIGNALED(status))
		return 1;
	if (status >> 16 != PTRACE_EVENT_STOP)
		t->sig = WSTOPSIG(status);
	return 0;
}

static int seize(struct restore *r, pid_t tid)
{
	struct tracee *t;
	int ret;

	t = realloc(r->threads, (r->nthreads + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	r->threads = t;
	if (ptrace(PTRACE_SEIZE, tid, 0, 0))
		return errno == ESRCH ? 0 : -errno;	/* ESRCH: gone */
	t = &r->threads[r->nthreads++];
	*t = (struct tracee){ .tid = tid };
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) && errno != ESRCH)
		return -errno;
	ret = wait_stop(t);
	if (ret == 1) {
		r->nthreads--;
		return 0;
	}
	return ret;
}

/*
 * A leader that exited before its threads stays listed as a zombie: it
 * never reaches a ptrace stop, and has no user mode to keep it from.
 */
static bool is_zombie(pid_t pid, pid_t tid)
{
	char path[64], buf[256], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	paren = strrchr(buf, ')');
	return paren && (paren[2] == 'Z' || paren[2] == 'X');
}

/* Rescans until no thread is new: a thread not yet seized may clone. */
static int stop_threads(struct restore *r)
{
	char path[64];
	struct dirent *de;
	bool more = true;
	DIR *d;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", r->pid);
	while (more && !ret) {
		more = false;
		d = opendir(path);
		if (!d)
			return -errno;
		while (!ret && (de = readdir(d))) {
			pid_t tid = atoi(de->d_name);

			if (tid <= 0 || is_known(r, tid) || is_zombie(r->pid, tid))
				continue;
			ret = seize(r, tid);
			more = true;
		}
		closedir(d);
	}
	return ret ? ret : r->nthreads ? 0 : -ESRCH;
}

static void resume_threads(struct restore *r)
{
	for (size_t i = 0; i < r->nthreads; i++)
		ptrace(PTRACE_DETACH, r->threads[i].tid, 0, r->threads[i].sig);
	r->nthreads = 0;
}

/* ---- the layout ---- */

static int read_maps(struct restore *r)
{
	char path[64], line[512];
	struct live_map m, *n;
	FILE *f;
	int at;

	snprintf(path, sizeof(path), "/proc/%d/maps", r->pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		memset(&m, 0, sizeof(m));
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %*s %*s %*s %n",
			   &m.start, &m.end, m.perms, &at) < 3)
			continue;
		snprintf(m.path, sizeof(m.path), "%s", line + at);
		m.path[strcspn(m.path, "\n")] = '\0';
		n = realloc(r->maps, (r->nmaps + 1) * sizeof(*n));
		if (!n) {
			fclose(f);
			return -ENOMEM;
		}
		r->maps = n;
		r->maps[r->nmaps++] = m;
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

/* ---- moving the bytes ---- */

/*
 * process_vm_readv/writev honour the target's protections and are the
 * fast path; /proc/PID/mem goes through them, for our tracee only.
 */
static int remote(struct restore *r, uint64_t addr, void *buf, size_t len,
		  bool write, bool direct)
{
	struct iovec local = { buf, len }, far = { (void *)addr, len };
	ssize_t n;

	if (direct)
		n = write ? process_vm_writev(r->pid, &local, 1, &far, 1, 0) :
			    process_vm_readv(r->pid, &local, 1, &far, 1, 0);
	else
		n = write ? pwrite(r->mem, buf, len, addr) :
			    pread(r->mem, buf, len, addr);
	if (n == (ssize_t)len)
		return 0;
	fprintf(stderr, "%s: %d: %s %#" PRIx64 "-%#" PRIx64 ": %s\n", prog,
		r->pid, write ? "writing" : "reading", addr, addr + len,
		n < 0 ? strerror(errno) : "short transfer");
	return n < 0 ? -errno : -EIO;
}

/* Writes the pages of the chunk that differ, in runs. */
static int write_changed(struct restore *r, uint64_t at, size_t npages,
			 bool direct)
{
	size_t i = 0, j;
	int ret;

	while (i < npages) {
		if (!memcmp(r->want + i * PG, r->have + i * PG, PG)) {
			i++;
			continue;
		}
		for (j = i + 1; j < npages; j++)
			if (!memcmp(r->want + j * PG, r->have + j * PG, PG))
				break;
		ret = remote(r, at + i * PG, r->want + i * PG, (j - i) * PG,
			     true, direct);
		if (ret)
			return ret;
		r->written += j - i;
		i = j;
	}
	return 0;
}

static int restore_chunk(struct restore *r, uint64_t at, size_t npages,
			 bool direct)
{
	size_t len = npages * PG;
	int ret;

	if (store_snap_read_pages(r->snap, at, npages, r->want))
		return -cli_fail();
	ret = remote(r, at, r->have, len, false, direct);
	if (!ret)
		ret = write_changed(r, at, npages, direct);
	if (!ret)
		ret = remote(r, at, r->have, len, false, direct);
	if (ret)
		return ret;
	if (memcmp(r->want, r->have, len)) {
		fprintf(stderr, "%s: %d: %#" PRIx64 "-%#" PRIx64 " differs after the write\n",
			prog, r->pid, at, at + len);
		return -EIO;
	}
	r->pages += npages;
	return 0;
}

static int restore_range(struct restore *r, uint64_t start, uint64_t end,
			 const struct live_map *m)
{
	/* A mapping we may not read directly is not one to write directly. */
	bool direct = m->perms[0] == 'r' && m->perms[1] == 'w';
	int ret = 0;

	for (uint64_t at = start; !ret && at < end; at += CHUNK_PAGES * PG) {
		uint64_t n = (end - at) / PG;

		ret = restore_chunk(r, at, n < CHUNK_PAGES ? n : CHUNK_PAGES,
				    direct);
	}
	r->mappings++;
	return ret;
}

/* --range: every mapping it touches must match, else nothing is written. */
static int restore_given(struct restore *r, uint64_t start, uint64_t end)
{
	const struct live_map *m;
	uint64_t at;
	int ret = 0;

	for (at = start; at < end; at = m->end) {
		m = live_at(r, at);
		if (!m || !same_in_gen(r, m))
			return layout_error(r, m, at);
	}
	for (at = start; !ret && at < end; at = m->end) {
		m = live_at(r, at);
		ret = restore_range(r, at, m->end < end ? m->end : end, m);
	}
	return ret;
}

/*
 * Registers are not part of a generation: the main stack, whose return
 * addresses belong to the code running now, is left alone.
 */
static bool restorable(const struct restore *r, const struct live_map *m)
{
	const struct store_vma *v;

	if (m->perms[1] != 'w' || m->perms[3] != 'p' ||
	    !strcmp(m->path, "[stack]") || !same_in_gen(r, m))
		return false;
	v = gen_at(r, m->start, m->end);
	return !(v->flags & (SNAPPER_VMA_F_SHARED | SNAPPER_VMA_F_SKIPPED));
}

static int restore_all(struct restore *r)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < r->nmaps; i++)
		if (restorable(r, &r->maps[i]))
			ret = restore_range(r, r->maps[i].start, r->maps[i].end,
					    &r->maps[i]);
	if (!ret && !r->mappings) {
		fprintf(stderr, "%s: %d: no writable private mapping matches generation %" PRIu64 "\n",
			prog, r->pid, r->gen);
		ret = -EINVAL;
	}
	return ret;
}

/* ---- the command ---- */

struct args {
	struct cli c;
	pid_t pid;
	bool range;
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

/* With the target stopped: the layout it has now, then the bytes. */
static int restore_stopped(struct restore *r, const struct args *a)
{
	char path[64];
	int ret;

	ret = read_maps(r);
	if (ret) {
		fprintf(stderr, "%s: /proc/%d/maps: %s\n", prog, r->pid,
			strerror(-ret));
		return ret;
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", r->pid);
	r->mem = open(path, O_RDWR | O_CLOEXEC);
	if (r->mem < 0) {
		fprintf(stderr, "%s: %s: %m\n", prog, path);
		return -errno;
	}
	ret = a->range ? restore_given(r, a->start, a->end) : restore_all(r);
	close(r->mem);
	return ret;
}

static int run(struct restore *r, const struct args *a)
{
	uint64_t t0 = now_ms(), t1;
	int ret;

	ret = stop_threads(r);
	if (ret) {
		fprintf(stderr, "%s: %d: stopping its threads: %s\n", prog,
			r->pid, strerror(-ret));
	} else {
		ret = restore_stopped(r, a);
	}
	resume_threads(r);
	t1 = now_ms();
	if (!ret)
		printf("restored generation %" PRIu64 " into %d: %" PRIu64
		       " pages in %" PRIu64 " mappings, %" PRIu64
		       " written, verified; stopped %" PRIu64 " ms\n",
		       r->gen, r->pid, r->pages, r->mappings, r->written,
		       t1 - t0);
	return ret;
}

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
		return 1;
	}
	s = cli_open(&a.c, false);
	if (!s)
		return 1;
	r.pid = a.pid;
	r.gen = cli_gen(&a.c, s);
	r.want = malloc(CHUNK_PAGES * PG);
	r.have = malloc(CHUNK_PAGES * PG);
	if (!r.want || !r.have)
		ret = fprintf(stderr, "%s: %m\n", prog);
	else if (r.gen && store_snap_open(s, r.gen, &r.snap))
		ret = cli_fail();
	else if (r.gen)
		ret = run(&r, &a);
	store_snap_close(r.snap);
	free(r.maps);
	free(r.threads);
	free(r.want);
	free(r.have);
	store_close(s);
	return ret || !r.gen ? 1 : 0;
}
