/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the checkpoint selftests: a target process driven through a
 * pipe, the pagemap oracle, a collector of one checkpoint stream that
 * links tools/genl.c (the module's only client code), and for the tests
 * of snapper-tool: stores on the scratch disk, shell commands, and child
 * processes whose output is read as it comes.
 */
#ifndef SNAPPER_GUEST_H
#define SNAPPER_GUEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/kernel-page-flags.h>
#include <linux/magic.h>
#include <linux/userfaultfd.h>

#include "genl.h"

/* Debian 12's headers are 6.1's, and UFFDIO_MOVE came in 6.8. */
#ifndef UFFDIO_MOVE
#define _UFFDIO_MOVE	0x05
struct uffdio_move {
	__u64 dst, src, len, mode;
	__s64 move;
};
#define UFFDIO_MOVE	_IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

#define PG 4096UL
#define STATS_DIR "/sys/kernel/snapper/"

/* Why the test cannot run here, or NULL. */
static inline const char *guest_skip_reason(void)
{
	if (geteuid())
		return "needs root";
	if (access(STATS_DIR "pages_held", R_OK))
		return "needs the snapper module loaded (run it through selftests/qemu/run)";
	return NULL;
}

/* The file @path into @buf, NUL-terminated. Return: 0 or -errno. */
static inline int guest_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/*
 * The number after @key at the start of a line of @buf ("anon 123" of
 * memory.stat, "VmSwap:   12 kB" of /proc/PID/status), or -1.
 */
static inline long long guest_keyed(const char *buf, const char *key)
{
	size_t n = strlen(key);

	for (const char *line = buf; line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (!strncmp(line, key, n) && (line[n] == ' ' || line[n] == '\t'))
			return strtoll(line + n, NULL, 10);
	}
	return -1;
}

/* guest_keyed() of the file @path, or -1. */
static inline long long guest_file_keyed(const char *path, const char *key)
{
	char buf[8192];

	return guest_read_file(path, buf, sizeof(buf)) ? -1 : guest_keyed(buf, key);
}

/* The module's reference count (/sys/module/snapper/refcnt), or -1. */
static inline long long guest_module_refcnt(void)
{
	char buf[32];

	if (guest_read_file("/sys/module/snapper/refcnt", buf, sizeof(buf)))
		return -1;
	return atoll(buf);
}

static inline long long read_stat(const char *name)
{
	char path[128], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), STATS_DIR "%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return atoll(buf);
}

static inline bool guest_have_tool(void)
{
	return !system("command -v snapper-tool >/dev/null");
}

/* Why a test of stores on $SNAPPER_SCRATCH cannot run here, or NULL. */
static inline const char *guest_scratch_skip_reason(void)
{
	const char *why = guest_skip_reason();

	if (why)
		return why;
	if (!getenv("SNAPPER_SCRATCH"))
		return "needs SNAPPER_SCRATCH (an ext4 mount)";
	return NULL;
}

/* The same, for a test that runs snapper-tool as well. */
static inline const char *guest_tool_skip_reason(void)
{
	const char *why = guest_scratch_skip_reason();

	if (why)
		return why;
	if (!guest_have_tool())
		return "snapper-tool is not on PATH";
	return NULL;
}

/*
 * The same for a test with a --backend proc variant (@proc), which needs
 * root, the scratch disk and the tool, but not the module.
 */
static inline const char *guest_backend_skip_reason(bool proc)
{
	const char *why = guest_tool_skip_reason();

	if (proc && why && !geteuid() && getenv("SNAPPER_SCRATCH") &&
	    guest_have_tool())
		return NULL;
	return why;
}

/*
 * Booted on the debug kernel (KASAN, lockdep, kmemleak: several times
 * slower)? It is there for the module's own paths; tests of the tool's
 * userspace alone (restore) leave it to 6.1 and 6.12 (selftests/guest-suite).
 */
static inline bool guest_debug_kernel(void)
{
	const char *k = getenv("SNAPPER_KERNEL");

	return k && !strcmp(k, "debug");
}

#define GUEST_USERSPACE_ONLY \
	"restore is userspace: run on 6.1 and 6.12, not on the debug kernel"

/* $SNAPPER_SCRATCH/NAME-PID: a store of this test program's own. */
static inline void guest_store_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s-%d", getenv("SNAPPER_SCRATCH"), name,
		 getpid());
}

/*
 * Runs a shell command; its output (both streams) into @out, if not NULL,
 * the rest read and dropped. Returns its exit code, 128 on a signal.
 */
static inline int __attribute__((format(printf, 3, 4)))
guest_sh(char *out, size_t len, const char *fmt, ...)
{
	char cmd[1024];
	size_t n = 0;
	va_list ap;
	FILE *f;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd) - 8, fmt, ap);
	va_end(ap);
	strcat(cmd, " 2>&1");
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (out && len) {
		n = fread(out, 1, len - 1, f);
		out[n] = '\0';
	}
	while (fgetc(f) != EOF)
		;
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* `snapper-tool checkpoint --store DIR PID`: its exit code; output in @out. */
static inline int guest_checkpoint(char *out, size_t len, const char *dir,
				   pid_t pid)
{
	return guest_sh(out, len, "snapper-tool checkpoint --store %s %d", dir,
			pid);
}

/* A child process whose stdout and stderr we read as they come. */
struct guest_child {
	pid_t pid;
	int out;
	size_t used;
	char text[65536];	/* what it printed so far */
};

/* Starts @argv[0] (looked up in PATH) with its output piped to us. */
static inline int guest_child_start(struct guest_child *c, char *const argv[])
{
	int fds[2];

	memset(c, 0, sizeof(*c));
	if (pipe(fds))
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (!c->pid) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	c->out = fds[0];
	return 0;
}

/* Reads until @what shows (NULL: to the end); false if it never does. */
static inline bool guest_child_wait(struct guest_child *c, const char *what)
{
	ssize_t n;

	while (!what || !strstr(c->text, what)) {
		n = read(c->out, c->text + c->used, sizeof(c->text) - 1 - c->used);
		if (n <= 0)
			return !what;
		c->used += n;
		c->text[c->used] = '\0';
	}
	return true;
}

/* Reads the rest of its output; its exit code, or 128 + the signal. */
static inline int guest_child_end(struct guest_child *c)
{
	int st;

	guest_child_wait(c, NULL);
	close(c->out);
	if (waitpid(c->pid, &st, 0) != c->pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * A swap file of @mb MiB at @path, on. Return: NULL, or why this guest
 * cannot swap (then nothing is left on).
 */
static inline const char *guest_swap_on(const char *path, int mb)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "dd if=/dev/zero of=%s bs=1M count=%d status=none && chmod 600 %s && mkswap %s >/dev/null",
		 path, mb, path, path);
	if (system(cmd))
		return "mkswap failed";
	if (swapon(path, 0))
		return errno == ENOSYS ? "this kernel has no swap" : "swapon failed";
	return NULL;
}

/* Kilobytes of @key in the /proc/PID/smaps entry of the mapping at @start. */
static inline long guest_smaps_kb(pid_t pid, uint64_t start, const char *key)
{
	unsigned long long s, e;
	char path[64], line[512];
	bool in = false;
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (kb < 0 && fgets(line, sizeof(line), f)) {
		/* "AnonHugePages:" starts with a hex digit, but has no '-'. */
		if (sscanf(line, "%llx-%llx ", &s, &e) == 2)
			in = s == start;
		else if (in && !strncmp(line, key, strlen(key)))
			kb = atol(line + strlen(key));
	}
	fclose(f);
	return kb;
}

/* pagemap: bit 63 present, 62 swapped, 55 soft-dirty. */
static inline uint64_t pagemap_entry(pid_t pid, uint64_t addr)
{
	char path[64];
	uint64_t e = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (addr / PG) * sizeof(e)) != sizeof(e))
		e = 0;
	close(fd);
	return e;
}

static inline bool pagemap_soft_dirty(pid_t pid, uint64_t addr)
{
	return pagemap_entry(pid, addr) >> 55 & 1;
}

/* The 64-bit word of /proc/@file (kpagecount, kpageflags) for @pfn; ~0 if none. */
static inline uint64_t guest_kpage_word(const char *file, uint64_t pfn)
{
	char path[64];
	uint64_t w = ~0ULL;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s", file);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return w;
	if (pread(fd, &w, sizeof(w), pfn * sizeof(w)) != sizeof(w))
		w = ~0ULL;
	close(fd);
	return w;
}

/* ---- poisoned pages ---- */

#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif

/* Linux 6.6 and later: Debian 12's uapi headers are 6.1's. */
#ifndef UFFDIO_POISON
#define _UFFDIO_POISON 0x08
struct uffdio_poison {
	struct uffdio_range range;
	__u64 mode;
	__s64 updated;
};
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

#define GUEST_POISON_HW		1	/* guest_poison(): a memory error */
#define GUEST_POISON_UFFD	2	/* UFFDIO_POISON */

static inline void guest_mce_seen(int sig)
{
}

/*
 * Poisons, in the calling process's memory, @nhw pages at @hw with a
 * memory error (any mapping; MADV_HWPOISON: root and
 * CONFIG_MEMORY_FAILURE, as Debian's kernels, not the debug one; 6.12
 * sends the caller SIGBUS for it, as for a machine check on its own
 * access, which would kill it unhandled) and @nuf (0: none) at @uf, in
 * private anonymous memory, with userfaultfd
 * (UFFDIO_POISON, 6.6 and later: discarded, then a poisoned marker put in
 * their place; unregistered after, the markers stay). The process gets
 * SIGBUS at such a page, /proc/PID/mem EIO. Return: the GUEST_POISON_*
 * done (0: this kernel has neither), or -1.
 */
static inline int guest_poison(void *hw, size_t nhw, void *uf, size_t nuf)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { (uintptr_t)uf, nuf * PG },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	struct uffdio_poison p = { .range = reg.range };
	struct sigaction sa = { .sa_handler = guest_mce_seen }, old;
	int ufd, ret, done = 0;

	sigaction(SIGBUS, &sa, &old);
	ret = madvise(hw, nhw * PG, MADV_HWPOISON);
	sigaction(SIGBUS, &old, NULL);
	if (!ret)
		done |= GUEST_POISON_HW;
	else if (errno != EINVAL && errno != EPERM)
		return -1;
	if (!nuf)
		return done;
	ufd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (ufd < 0 || ioctl(ufd, UFFDIO_API, &api)) {
		if (ufd >= 0)
			close(ufd);
		return done;
	}
	ret = -1;
	if (madvise(uf, nuf * PG, MADV_DONTNEED) ||
	    ioctl(ufd, UFFDIO_REGISTER, &reg))
		goto out;
	if (reg.ioctls & (1ULL << _UFFDIO_POISON)) {
		if (ioctl(ufd, UFFDIO_POISON, &p) || p.updated != (__s64)(nuf * PG))
			goto out;
		done |= GUEST_POISON_UFFD;
	}
	if (!ioctl(ufd, UFFDIO_UNREGISTER, &reg.range))
		ret = done;
out:
	close(ufd);
	return ret;
}

/* ---- a target driven through pipes ---- */

enum { T_WRITE = 1, T_EXIT, T_MUNMAP, T_MREMAP, T_USER };

struct tcmd {
	uint32_t op;
	uint64_t a, b, c;
};

struct target {
	pid_t pid;
	int cmd, reply;			/* our ends */
	uint64_t base;			/* the target's region */
	size_t npages;
};

typedef void (*target_setup_fn)(struct target *t, void *arg);
typedef int (*target_cmd_fn)(struct target *t, struct tcmd *c, void *arg);

/* Fills page @i of the region with @v (one u64 per 8 bytes, + offset). */
static inline void fill_page(uint64_t base, size_t i, uint64_t v)
{
	uint64_t *p = (uint64_t *)(base + i * PG);
	size_t k;

	for (k = 0; k < PG / 8; k++)
		p[k] = v + k;
}

static inline bool page_is(const void *data, uint64_t v)
{
	const uint64_t *p = data;
	size_t k;

	for (k = 0; k < PG / 8; k++)
		if (p[k] != v + k)
			return false;
	return true;
}

static inline void target_loop(struct target *t, int in, int out,
			       target_cmd_fn fn, void *arg)
{
	struct tcmd c;
	int ret;

	while (read(in, &c, sizeof(c)) == sizeof(c)) {
		ret = 0;
		switch (c.op) {
		case T_WRITE:
			fill_page(t->base, c.a, c.b);
			break;
		case T_EXIT:
			_exit(0);
		case T_MUNMAP:
			ret = munmap((void *)c.a, c.b);
			break;
		case T_MREMAP: {
			void *p = mremap((void *)c.a, c.b, c.b,
					 MREMAP_MAYMOVE | MREMAP_FIXED,
					 (void *)c.c);
			ret = p == MAP_FAILED ? -1 : 0;
			break;
		}
		default:
			ret = fn ? fn(t, &c, arg) : -1;
		}
		if (write(out, &ret, sizeof(ret)) != sizeof(ret))
			_exit(1);
	}
	_exit(0);
}

/*
 * Forks a target that maps @npages of private anonymous memory (unless
 * @setup maps something else into t->base), writes each page once, and
 * then serves commands.
 */
static inline int target_start(struct target *t, size_t npages,
			       target_setup_fn setup, target_cmd_fn fn,
			       void *arg)
{
	int cmdp[2], repp[2];
	size_t i;

	if (pipe(cmdp) || pipe(repp))
		return -errno;
	t->npages = npages;
	t->pid = fork();
	if (t->pid < 0)
		return -errno;
	if (!t->pid) {
		close(cmdp[1]);
		close(repp[0]);
		if (setup) {
			setup(t, arg);
		} else {
			void *p = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				_exit(1);
			t->base = (uint64_t)p;
			for (i = 0; i < npages; i++)
				fill_page(t->base, i, i << 32);
		}
		if (write(repp[1], &t->base, sizeof(t->base)) != sizeof(t->base))
			_exit(1);
		target_loop(t, cmdp[0], repp[1], fn, arg);
	}
	close(cmdp[0]);
	close(repp[1]);
	t->cmd = cmdp[1];
	t->reply = repp[0];
	if (read(t->reply, &t->base, sizeof(t->base)) != sizeof(t->base))
		return -EIO;
	return 0;
}

static inline int target_do(struct target *t, uint32_t op, uint64_t a,
			    uint64_t b, uint64_t c)
{
	struct tcmd cmd = { .op = op, .a = a, .b = b, .c = c };
	int ret;

	if (write(t->cmd, &cmd, sizeof(cmd)) != sizeof(cmd) ||
	    read(t->reply, &ret, sizeof(ret)) != sizeof(ret))
		return -EIO;
	return ret;
}

/*
 * Waits until @pid sleeps in read() (x86-64 syscall 0), where target_loop()
 * and the oracle's targets park between commands: from then on its memory
 * changes no more. A target that has just replied may still be on its way
 * there, its stack and libc's data changing. Return: 0, or -1 after ten
 * seconds.
 */
static inline int guest_wait_parked(pid_t pid)
{
	char path[64], buf[128];
	int i, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/syscall", pid);
	for (i = 0; i < 10000; i++) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return -1;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 2 && !strncmp(buf, "0 ", 2))
			return 0;
		usleep(1000);
	}
	fprintf(stderr, "# process %d never parked in read()\n", pid);
	return -1;
}

/*
 * Kills and reaps the child *@pid, if there is one, closes our two pipe
 * ends @a and @b to it, and sets *@pid to 0: every kind of target ends so.
 */
static inline void guest_kill_child(pid_t *pid, int a, int b)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	close(a);
	close(b);
	*pid = 0;
}

static inline void target_stop(struct target *t)
{
	guest_kill_child(&t->pid, t->cmd, t->reply);
}

/* ---- one checkpoint, collected ---- */

struct got_page {
	uint64_t addr;
	uint32_t flags;
	uint64_t first;		/* first u64 of the page */
	uint64_t last;		/* last u64 of the page */
	bool intact;		/* page_is(data, first) */
};

struct got {
	struct snapper_ckpt_header h;
	struct snapper_ckpt_stats st;
	struct got_page *pages;
	size_t npages, cap;
	struct snapper_ckpt_vma *vmas;
	size_t nvmas;
	long stop_after;	/* stop the stream after this many pages */
};

static inline int got_header(void *arg, const struct snapper_ckpt_header *h)
{
	((struct got *)arg)->h = *h;
	return 0;
}

static inline int got_vma(void *arg, const struct snapper_ckpt_vma *v)
{
	struct got *g = arg;
	struct snapper_ckpt_vma *n;

	n = realloc(g->vmas, (g->nvmas + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	g->vmas = n;
	g->vmas[g->nvmas] = *v;
	g->vmas[g->nvmas++].path = NULL;
	return 0;
}

static inline int got_page(void *arg, uint64_t addr, const void *data,
			   uint32_t flags)
{
	struct got *g = arg;
	struct got_page *p;
	const uint64_t *w = data;

	if (g->stop_after >= 0 && (long)g->npages >= g->stop_after)
		return -ECANCELED;
	if (g->npages == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 1024;
		p = realloc(g->pages, g->cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		g->pages = p;
	}
	p = &g->pages[g->npages++];
	p->addr = addr;
	p->flags = flags;
	p->first = w[0];
	p->last = w[PG / 8 - 1];
	p->intact = page_is(data, w[0]);
	return 0;
}

static inline int got_stats(void *arg, const struct snapper_ckpt_stats *st)
{
	((struct got *)arg)->st = *st;
	return 0;
}

static inline void got_free(struct got *g)
{
	free(g->pages);
	free(g->vmas);
	memset(g, 0, sizeof(*g));
}

/*
 * Checkpoints @pid for store @store on @base; fills @g (freed first). The
 * pages come in batches, as snapper-tool asks for them.
 */
static inline int checkpoint(struct snapper_genl *nl, pid_t pid,
			     uint64_t store, uint64_t base, uint32_t flags,
			     struct got *g)
{
	struct snapper_ckpt_request req = {
		.pid = pid, .store_id = store, .base_generation = base,
		.flags = flags | SNAPPER_CKPT_F_PAGE_BATCH,
	};
	struct snapper_ckpt_ops ops = {
		.header = got_header, .vma = got_vma, .page = got_page,
		.stats = got_stats, .arg = g,
	};
	long stop = g->stop_after;

	got_free(g);
	g->stop_after = stop ? stop : -1;
	return snapper_genl_checkpoint(nl, &req, &ops);
}

static inline struct got_page *got_find(struct got *g, uint64_t addr)
{
	size_t lo = 0, hi = g->npages;

	/* Pages come in ascending order. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (g->pages[mid].addr == addr)
			return &g->pages[mid];
		if (g->pages[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static inline int got_in(struct got *g, uint64_t start, uint64_t end)
{
	size_t i;
	int n = 0;

	for (i = 0; i < g->npages; i++)
		n += g->pages[i].addr >= start && g->pages[i].addr < end;
	return n;
}

/* Writes @val into the file @path (a knob). Return: 0 or -errno. */
static inline int guest_write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The next number of a seeded test's generator (xorshift64*); @s not 0. */
static inline uint64_t guest_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

#define GUEST_NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

/*
 * @n more hugetlb pages of 2 MiB in the pool, free; what vm.nr_hugepages
 * was goes into @saved, for guest_release_huge(). Return: NULL once they
 * are there, or why not.
 */
static inline const char *guest_reserve_huge(char *saved, size_t len,
					     unsigned long n)
{
	char want[32], free_pages[64] = "";

	saved[0] = '\0';
	if (guest_read_file(GUEST_NR_HUGEPAGES, saved, len))
		return "no " GUEST_NR_HUGEPAGES " (CONFIG_HUGETLBFS)";
	snprintf(want, sizeof(want), "%lu", strtoul(saved, NULL, 10) + n);
	if (guest_write_file(GUEST_NR_HUGEPAGES, want) ||
	    guest_read_file("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
			    free_pages, sizeof(free_pages)) ||
	    strtoul(free_pages, NULL, 10) < n)
		return "the kernel could not reserve the hugetlb pages of 2 MiB asked for";
	return NULL;
}

/* vm.nr_hugepages back to what guest_reserve_huge() found (if it ran). */
static inline void guest_release_huge(const char *saved)
{
	if (saved[0])
		guest_write_file(GUEST_NR_HUGEPAGES, saved);
}

/* ---- persistent memory (DAX) ---- */

#define GUEST_DAX_DEV	"/dev/pmem0"

/* Was this guest booted with a persistent-memory region (qemu/run --pmem)? */
static inline bool guest_pmem_booted(void)
{
	char line[4096] = "";

	return !guest_read_file("/proc/cmdline", line, sizeof(line)) &&
	       strstr(line, "memmap=");
}

/*
 * ext4 mounted with -o dax at @dir, made afresh on the persistent-memory
 * device that selftests/qemu/run --pmem makes of guest RAM: its files'
 * mappings point at the device's memory, with no page cache between.
 * Blocks of 4 KiB: DAX wants the page size. A stripe of 2 MiB: files of
 * that size and more get extents aligned to it, which a mapping aligned
 * as well maps with PMD entries. Return: NULL once mounted, or why not.
 */
static inline const char *guest_dax_mount(const char *dir)
{
	struct stat st;
	int i;

	if (!guest_pmem_booted())
		return "no persistent memory: boot with selftests/qemu/run --pmem MB";
	guest_sh(NULL, 0, "modprobe -q nd_e820; modprobe -q nd_pmem");
	/* The driver may probe the region after modprobe returns. */
	for (i = 0; i < 50 && stat(GUEST_DAX_DEV, &st); i++)
		usleep(100000);
	if (stat(GUEST_DAX_DEV, &st))
		return "no " GUEST_DAX_DEV " (nd_e820 and nd_pmem)";
	/* A test that failed may have left its mount: made afresh. */
	guest_sh(NULL, 0, "umount " GUEST_DAX_DEV);
	if (guest_sh(NULL, 0, "mkfs.ext4 -q -F -b 4096 -E stride=512,stripe_width=512 "
		     GUEST_DAX_DEV
		     " && mkdir -p '%s' && mount -o dax " GUEST_DAX_DEV " '%s'",
		     dir, dir))
		return "mounting ext4 -o dax on " GUEST_DAX_DEV " failed";
	return NULL;
}

#define GUEST_STREAM_TIMEOUT "/sys/module/snapper/parameters/stream_timeout_ms"

/* ---- privilege ---- */

#define GUEST_NOBODY	65534

/*
 * Run by the guest suite with SNAPPER_LOAD=1, the module must be there: if
 * an earlier program left it unloaded, that is a failure, not a skip.
 */
static inline bool guest_module_expected(void)
{
	const char *load = getenv("SNAPPER_LOAD");

	return load && !strcmp(load, "1") && !geteuid();
}

/* Drops to uid/gid 65534 with no supplementary group and no capability. */
static inline int guest_drop_privileges(void)
{
	if (setgroups(0, NULL) || setresgid(GUEST_NOBODY, GUEST_NOBODY,
					    GUEST_NOBODY) ||
	    setresuid(GUEST_NOBODY, GUEST_NOBODY, GUEST_NOBODY))
		return -errno;
	return geteuid() == GUEST_NOBODY ? 0 : -EPERM;
}

/* The exit code of child @p, or @failed if it did not exit normally. */
static inline int guest_exit_code(pid_t p, int failed)
{
	int status;

	if (waitpid(p, &status, 0) != p || !WIFEXITED(status))
		return failed;
	return WEXITSTATUS(status);
}

/*
 * Runs @fn(@arg) in a child as nobody; returns what it returned (a small
 * non-negative number: 0 or an errno), or 200+ for a setup failure.
 */
static inline int guest_as_nobody(int (*fn)(void *), void *arg)
{
	pid_t p = fork();

	if (p < 0)
		return 250;
	if (!p) {
		if (guest_drop_privileges())
			_exit(201);
		_exit(fn(arg));
	}
	return guest_exit_code(p, 251);
}

struct guest_vm_child {
	int (*fn)(void *);
	void *arg;
};

static inline int guest_vm_child_run(void *arg)
{
	struct guest_vm_child *c = arg;

	syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	return c->fn(c->arg);
}

/*
 * Starts @fn(@arg) in a process that shares the caller's mm without
 * sharing its thread group (clone(CLONE_VM), as vfork() and posix_spawn()
 * make), and dies with the calling thread. It runs on the caller's TLS:
 * @fn must call nothing that touches it (syscall() sets errno only on
 * failure). Returns its pid, or -1.
 */
static inline pid_t guest_clone_vm(int (*fn)(void *), void *arg)
{
	const size_t stack = 64 * 1024;
	struct guest_vm_child *c = malloc(sizeof(*c));
	char *sp = malloc(stack);	/* the child's for its whole life */

	if (!c || !sp) {
		free(c);
		free(sp);
		return -1;
	}
	c->fn = fn;
	c->arg = arg;
	return clone(guest_vm_child_run, sp + stack, CLONE_VM | SIGCHLD, c);
}

/* ---- KSM: ksmd started fast for a test, its settings put back ---- */

#define GUEST_KSM_DIR "/sys/kernel/mm/ksm/"

struct guest_ksm {
	char saved[4][32];	/* run, pages_to_scan, sleep_millisecs, use_zero_pages */
	bool zero_pages;	/* set before the start: pages of zeros merge with the zero page */
	bool started;
	pid_t ksmd;		/* pinned by guest_ksm_one_cpu(), or 0 */
	cpu_set_t ksmd_cpus, own_cpus;
};

static const char *const guest_ksm_knobs[] = {
	"run", "pages_to_scan", "sleep_millisecs", "use_zero_pages",
};

/*
 * Starts ksmd scanning 10000 pages every 20 ms, with use_zero_pages if
 * k->zero_pages. Return: NULL, or why it cannot (no KSM: the caller
 * skips; otherwise it fails).
 */
static inline const char *guest_ksm_start(struct guest_ksm *k)
{
	char path[128];
	size_t i;

	if (access(GUEST_KSM_DIR "run", W_OK))
		return "this kernel has no KSM (CONFIG_KSM)";
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), GUEST_KSM_DIR "%s",
			 guest_ksm_knobs[i]);
		if (guest_read_file(path, k->saved[i], sizeof(k->saved[i])))
			return "cannot read the KSM settings";
	}
	k->started = true;
	if (guest_write_file(GUEST_KSM_DIR "pages_to_scan", "10000") ||
	    guest_write_file(GUEST_KSM_DIR "sleep_millisecs", "20") ||
	    (k->zero_pages &&
	     guest_write_file(GUEST_KSM_DIR "use_zero_pages", "1")) ||
	    guest_write_file(GUEST_KSM_DIR "run", "1"))
		return "cannot start ksmd";
	return NULL;
}

/* ksmd's pid, or 0 if none runs. */
static inline pid_t guest_ksmd_pid(void)
{
	char path[64], comm[32];
	pid_t pid;

	for (pid = 2; pid < 4096; pid++) {
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		if (!guest_read_file(path, comm, sizeof(comm)) &&
		    !strcmp(comm, "ksmd\n"))
			return pid;
	}
	return 0;
}

/*
 * Puts ksmd and the caller (and what it forks from now on) on CPU 0 until
 * guest_ksm_stop(): the page allocator hands out first the frames a CPU
 * freed last, so a page allocated right after ksmd merged (and freed) a
 * page mostly gets a frame KSM just freed. Return: 0, or -errno.
 */
static inline int guest_ksm_one_cpu(struct guest_ksm *k)
{
	cpu_set_t one;
	pid_t ksmd = guest_ksmd_pid();

	if (!ksmd)
		return -ESRCH;
	if (sched_getaffinity(ksmd, sizeof(k->ksmd_cpus), &k->ksmd_cpus) ||
	    sched_getaffinity(0, sizeof(k->own_cpus), &k->own_cpus))
		return -errno;
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	k->ksmd = ksmd;
	if (sched_setaffinity(ksmd, sizeof(one), &one) ||
	    sched_setaffinity(0, sizeof(one), &one))
		return -errno;
	return 0;
}

/*
 * Puts back the CPUs guest_ksm_one_cpu() took, unmerges every page ("run"
 * 2) and puts the settings back.
 */
static inline void guest_ksm_stop(struct guest_ksm *k)
{
	char path[128];
	size_t i;

	if (k->ksmd) {
		sched_setaffinity(k->ksmd, sizeof(k->ksmd_cpus), &k->ksmd_cpus);
		sched_setaffinity(0, sizeof(k->own_cpus), &k->own_cpus);
		k->ksmd = 0;
	}
	if (!k->started)
		return;
	guest_write_file(GUEST_KSM_DIR "run", "2");
	/* The others only while it is off; "run" last. */
	for (i = 1; i < 4; i++) {
		snprintf(path, sizeof(path), GUEST_KSM_DIR "%s",
			 guest_ksm_knobs[i]);
		guest_write_file(path, k->saved[i]);
	}
	guest_write_file(GUEST_KSM_DIR "run", k->saved[0]);
	k->started = false;
}

/* Pages of @pid that KSM merged, or -1 if the kernel does not say. */
static inline long guest_ksm_merged(pid_t pid)
{
	char path[64], buf[64];

	snprintf(path, sizeof(path), "/proc/%d/ksm_merging_pages", pid);
	if (guest_read_file(path, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
}

/* Waits until KSM merged at least @n pages of @pid. Return: true if so. */
static inline bool guest_ksm_wait(pid_t pid, long n, int seconds)
{
	int i;

	for (i = 0; i < seconds * 10; i++) {
		if (guest_ksm_merged(pid) >= n)
			return true;
		usleep(100 * 1000);
	}
	return false;
}

/* ---- large folios: THP in shared memory, multi-size THP ---- */

#define GUEST_THP_DIR	"/sys/kernel/mm/transparent_hugepage/"
#define GUEST_THP_KNOBS	24

/*
 * The knobs guest_large_folios_on() set, each with its word before: a
 * knob reads as its words with the one in force bracketed ("always
 * [inherit] madvise never").
 */
struct guest_thp {
	int n;
	char path[GUEST_THP_KNOBS][96];
	char was[GUEST_THP_KNOBS][16];
};

/* @path's word in force into @word. Return: 0, or -1. */
static inline int guest_thp_word(const char *path, char *word, size_t len)
{
	char buf[128], *l, *r;

	if (guest_read_file(path, buf, sizeof(buf)))
		return -1;
	l = strchr(buf, '[');
	r = l ? strchr(l, ']') : NULL;
	if (!r || (size_t)(r - l - 1) >= len)
		return -1;
	memcpy(word, l + 1, r - l - 1);
	word[r - l - 1] = '\0';
	return 0;
}

/* Sets @path to @word, keeping the word before in @t. Return: 0, or -1. */
static inline int guest_thp_set(struct guest_thp *t, const char *path,
				const char *word)
{
	int i = t->n;

	if (i == GUEST_THP_KNOBS ||
	    guest_thp_word(path, t->was[i], sizeof(t->was[i])))
		return -1;
	snprintf(t->path[i], sizeof(t->path[i]), "%s", path);
	t->n++;
	return guest_write_file(path, word) ? -1 : 0;
}

/*
 * The directories of the multi-size THP sizes below the PMD's
 * (GUEST_THP_DIR "hugepages-16kB" and so on, 6.8 and later), at most
 * @max, into @dir. Return: how many.
 */
static inline int guest_mthp_dirs(char dir[][64], int max)
{
	char pmd[32];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(pmd, sizeof(pmd), "hugepages-%ldkB", 2048L);
	d = opendir(GUEST_THP_DIR);
	while (d && n < max && (e = readdir(d)))
		if (!strncmp(e->d_name, "hugepages-", 10) && strcmp(e->d_name, pmd))
			snprintf(dir[n++], 64, GUEST_THP_DIR "%.20s", e->d_name);
	if (d)
		closedir(d);
	return n;
}

/*
 * Large folios wherever the kernel makes them, until guest_large_folios_off():
 * huge pages in shared memory (memfd, SysV, shared anonymous: the
 * top-level shmem_enabled, "always"), and where the kernel has multi-size
 * THP, every size below the PMD's "always" for private anonymous memory
 * (hugepages-*kB/enabled, 6.8 and later) and for shared memory
 * (hugepages-*kB/shmem_enabled, 6.11 and later). The PMD size keeps the
 * anonymous setting it had. Return: NULL, or why not (no THP: the caller
 * skips; otherwise it fails).
 */
static inline const char *guest_large_folios_on(struct guest_thp *t)
{
	static const char *const knob[] = { "enabled", "shmem_enabled" };
	char dir[GUEST_THP_KNOBS / 2][64], path[96];
	int n;

	t->n = 0;
	if (access(GUEST_THP_DIR "shmem_enabled", W_OK))
		return "this kernel has no THP in shared memory (CONFIG_TRANSPARENT_HUGEPAGE)";
	if (guest_thp_set(t, GUEST_THP_DIR "shmem_enabled", "always"))
		return "cannot set " GUEST_THP_DIR "shmem_enabled";
	n = guest_mthp_dirs(dir, GUEST_THP_KNOBS / 2 - 1);
	for (int i = 0; i < n; i++)
		for (size_t k = 0; k < 2; k++) {
			snprintf(path, sizeof(path), "%.63s/%s", dir[i], knob[k]);
			if (!access(path, F_OK) && guest_thp_set(t, path, "always"))
				return "cannot set a multi-size THP knob";
		}
	return NULL;
}

/*
 * Pages of [@start, @start + @npages pages) of @pid that are mapped and
 * part of a large folio (compound: /proc/kpageflags), hugetlb's aside; -1
 * if pagemap or kpageflags cannot be read.
 */
static inline long guest_large_pages(pid_t pid, uint64_t start, size_t npages)
{
	char path[64];
	long n = 0;
	int pm, kf;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pm = open(path, O_RDONLY);
	kf = open("/proc/kpageflags", O_RDONLY);
	for (size_t i = 0; pm >= 0 && kf >= 0 && i < npages; i++) {
		uint64_t e, f, pfn;

		if (pread(pm, &e, 8, (start / PG + i) * 8) != 8) {
			n = -1;
			break;
		}
		pfn = e & ((1ULL << 55) - 1);
		if (!(e >> 63 & 1) || !pfn)
			continue;
		if (pread(kf, &f, 8, pfn * 8) != 8) {
			n = -1;
			break;
		}
		n += (f >> KPF_COMPOUND_HEAD & 1 || f >> KPF_COMPOUND_TAIL & 1) &&
		     !(f >> KPF_HUGE & 1);
	}
	if (pm < 0 || kf < 0)
		n = -1;
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
	return n;
}

/* Puts back what guest_large_folios_on() set, last first. */
static inline void guest_large_folios_off(struct guest_thp *t)
{
	while (t->n > 0) {
		t->n--;
		guest_write_file(t->path[t->n], t->was[t->n]);
	}
}

/*
 * Large folios allocated since boot: [0] huge pages of shared memory
 * (/proc/vmstat thp_file_alloc), [1] and [2] anonymous and shared folios
 * of the sizes below the PMD's (hugepages-*kB/stats/anon_fault_alloc and
 * shmem_alloc, 6.9 and 6.11 on), -1 where the kernel does not count.
 */
static inline void guest_large_folio_counts(long long count[3])
{
	static const char *const stat[] = { "anon_fault_alloc", "shmem_alloc" };
	static char vmstat[32768];	/* a debug kernel's is over 8 KiB */
	char dir[GUEST_THP_KNOBS][64], path[96], buf[64];
	int n = guest_mthp_dirs(dir, GUEST_THP_KNOBS);

	count[0] = guest_read_file("/proc/vmstat", vmstat, sizeof(vmstat)) ? -1 :
		   guest_keyed(vmstat, "thp_file_alloc");
	count[1] = count[2] = -1;
	for (int i = 0; i < n; i++)
		for (size_t k = 0; k < 2; k++) {
			snprintf(path, sizeof(path), "%.63s/stats/%s", dir[i], stat[k]);
			if (guest_read_file(path, buf, sizeof(buf)))
				continue;
			count[1 + k] = (count[1 + k] < 0 ? 0 : count[1 + k]) +
				       strtoll(buf, NULL, 10);
		}
}

/* ---- a memory cgroup ---- */

#define GUEST_CG_ROOT	"/sys/fs/cgroup"

struct guest_memcg {
	char path[256];
	bool made, mounted, enabled;	/* what guest_memcg_remove() undoes */
};

/* Whether the list of words @list (cgroup.controllers) holds @word. */
static inline bool guest_has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p;

	for (p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

/*
 * A cgroup v2 @name-PID with memory.max = @limit bytes and swap allowed,
 * cgroup2 mounted and its memory controller enabled first where they are
 * not. Return: why this kernel cannot have one (the caller skips), or
 * NULL with *@err 0, or the errno of the step that failed.
 */
static inline const char *guest_memcg_make(struct guest_memcg *g,
					   const char *name, long limit,
					   int *err)
{
	char path[300], buf[256];
	struct statfs sf;

	memset(g, 0, sizeof(*g));
	*err = 0;
	if (statfs(GUEST_CG_ROOT, &sf))
		return "no " GUEST_CG_ROOT ": this kernel has no cgroups (CONFIG_CGROUPS unset)";
	if (sf.f_type != CGROUP2_SUPER_MAGIC) {
		if (mount("cgroup2", GUEST_CG_ROOT, "cgroup2", 0, NULL)) {
			if (errno == ENODEV)
				return "no cgroup v2 file system in this kernel";
			*err = errno;
			return NULL;
		}
		g->mounted = true;
	}
	if (guest_read_file(GUEST_CG_ROOT "/cgroup.controllers", buf, sizeof(buf)) ||
	    !guest_has_word(buf, "memory"))
		return "cgroup v2 has no memory controller here (CONFIG_MEMCG unset, "
		       "or cgroup_disable=memory)";
	if (!guest_read_file(GUEST_CG_ROOT "/cgroup.subtree_control", buf, sizeof(buf)) &&
	    !guest_has_word(buf, "memory")) {
		*err = -guest_write_file(GUEST_CG_ROOT "/cgroup.subtree_control",
					 "+memory");
		if (*err)
			return NULL;
		g->enabled = true;
	}
	snprintf(g->path, sizeof(g->path), GUEST_CG_ROOT "/%s-%d", name, getpid());
	if (mkdir(g->path, 0755)) {
		*err = errno;
		return NULL;
	}
	g->made = true;
	snprintf(path, sizeof(path), "%s/memory.max", g->path);
	snprintf(buf, sizeof(buf), "%ld", limit);
	*err = -guest_write_file(path, buf);
	/* Missing when swap is not accounted; then memory.max alone limits. */
	snprintf(path, sizeof(path), "%s/memory.swap.max", g->path);
	if (!*err && !access(path, F_OK))
		*err = -guest_write_file(path, "max");
	return NULL;
}

/* Undoes guest_memcg_make(), once the processes in the cgroup are reaped. */
static inline void guest_memcg_remove(struct guest_memcg *g)
{
	int i;

	/* The cgroup goes once its last process is reaped: that can lag. */
	for (i = 0; g->made && i < 50 && rmdir(g->path); i++)
		usleep(20000);
	if (g->enabled)
		guest_write_file(GUEST_CG_ROOT "/cgroup.subtree_control", "-memory");
	if (g->mounted)
		umount(GUEST_CG_ROOT);
	memset(g, 0, sizeof(*g));
}

#endif /* SNAPPER_GUEST_H */
