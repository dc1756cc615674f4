// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmark's target process: a resident anonymous region that it
 * dirties on request, so that every contender checkpoints the same thing.
 *
 *   workload --rss MIB [--threads N]
 *            [--content unique|dupzero|heap|random] --ctl DIR [--spin]
 *            [--mergeable]
 *
 * Contents: unique, one distinct page each but two words a page and the
 * rest a counter (absurdly compressible); dupzero, a quarter zero pages
 * and half one of 16 shared pages; heap, what a program's heap holds
 * (allocator headers, pointers into the heap, small integers, doubles and
 * short strings, see heap_page()), a little less compressible than a real
 * one;
 * random, random bytes, which no compressor shrinks.
 *
 * It writes its pid to DIR/ready once the region is populated. Each
 * SIGUSR1 makes it read a percentage from DIR/dirty, write that share of
 * its pages (a fresh random choice each time, split among the threads)
 * and then write the request's number to DIR/done. With --spin it instead
 * writes random pages for ever and keeps DIR/written updated (every 20 ms)
 * with "PAGES USEC": the pages written so far and CLOCK_MONOTONIC in
 * microseconds when that count was read. A reader takes the rate between
 * two such lines, so neither its own wake-ups nor this thread's (both late
 * when a checkpointer or the host's load holds a CPU) move the figure.
 *
 * With --mergeable the region is offered to KSM (MADV_MERGEABLE), which
 * makes the module keep its record of frames (kmod/tracker.c,
 * same_frame()); whether anything merges is up to ksmd.
 *
 * No file descriptor stays open between requests, so CRIU can dump it.
 * The region sits at a 2 MiB-aligned address, so THP can back it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define HUGE (2UL << 20)

static uint8_t *region;
static size_t npages;
static unsigned int nthreads = 1;
static const char *ctl;
static volatile sig_atomic_t requested;
static atomic_ulong written;

static void die(const char *what)
{
	fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* xorshift64*: fast, and each thread has its own state. */
static uint64_t next_random(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void write_page(size_t i, uint64_t stamp)
{
	uint64_t *p = (uint64_t *)(region + i * PAGE);

	/* Two words are enough to make the content new and checkable. */
	p[0] = stamp;
	p[PAGE / sizeof(uint64_t) - 1] = stamp ^ i;
	atomic_fetch_add_explicit(&written, 1, memory_order_relaxed);
}

enum content { UNIQUE, DUPZERO, HEAP, RANDOM };

/*
 * A page like a program's heap: chunks with an 8-byte size header, each
 * an object (one of 8 type pointers, a count, pointers to its neighbours),
 * small integers, a double, a short string of common words, or freed and
 * zero. LZ4 takes it to 45% of its size; the heap of a real Python process
 * holding dicts went to 26% (measured, zero pages left out), so this is
 * the harder case of the two.
 */
static void heap_page(uint8_t *page, uint64_t *s)
{
	static const char *const words[] = {
		"name", "value", "id", "user", "key", "count", "error", "data",
		"http://", "/usr/lib/", "true", "false", "null", "index", "the ",
	};
	const uint64_t heap = 0x5612a0000000ULL;
	uint64_t near = next_random(s) & 0x3ff0000;
	size_t at = 0;

	memset(page, 0, PAGE);
	while (at + 16 <= PAGE) {
		uint64_t r = next_random(s);
		size_t len = 16 + (r & 7) * 8, k;

		if (at + len > PAGE)
			len = PAGE - at;
		*(uint64_t *)(page + at) = len | 1;	/* size, in use */
		at += 8;
		switch ((r >> 3) % 8) {
		case 0: case 1:			/* an object: type, count, pointers */
			*(uint64_t *)(page + at) = heap + 0x100 * (r >> 8 & 7);
			*(uint64_t *)(page + at + 8) = 1 + (r >> 11 & 1);
			for (k = 16; k + 8 <= len - 8; k += 8)
				*(uint64_t *)(page + at + k) = heap + near +
					(next_random(s) & 0xfff0);
			break;
		case 2: case 3:			/* small integers */
			for (k = 0; k + 8 <= len - 8; k += 8)
				*(uint64_t *)(page + at + k) = next_random(s) % 1000;
			break;
		case 6: {			/* a double */
			double d = (double)(next_random(s) % 100000) / 7;

			memcpy(page + at, &d, 8);
			break;
		}
		case 4: case 5:			/* a string */
			for (k = 0; k < len - 9;) {
				const char *w = words[next_random(s) % 15];
				size_t n = strlen(w) < len - 9 - k ? strlen(w) : len - 9 - k;

				memcpy(page + at + k, w, n);
				k += n;
			}
			break;
		default:			/* freed: left zero */
			break;
		}
		at += len - 8;
	}
}

static void populate(enum content content)
{
	uint64_t s = 88172645463325252ULL;
	bool dupzero = content == DUPZERO;
	size_t i;

	for (i = 0; i < npages; i++) {
		uint64_t *p = (uint64_t *)(region + i * PAGE);
		unsigned int kind = dupzero ? i % 4 : 3;

		if (content == HEAP) {
			heap_page((uint8_t *)p, &s);
			continue;
		}
		if (content == RANDOM) {
			for (size_t w = 0; w < PAGE / sizeof(*p); w++)
				p[w] = next_random(&s);
			continue;
		}

		if (kind == 0)
			continue;	/* a zero page, touched below */
		/* kinds 1 and 2: one of 16 shared contents; 3: unique */
		uint64_t seed = kind == 3 ? next_random(&s) : 1 + (i % 16);
		for (size_t w = 0; w < PAGE / sizeof(*p); w += 8)
			p[w] = seed + w;
	}
	for (i = 0; i < npages; i += 4)
		if (dupzero)
			region[i * PAGE] = 0;	/* resident, content zero */
}

/* A stateless mix, so that each thread picks its pages independently. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

/*
 * The writer threads live as long as the process. Creating them per
 * request would map a fresh stack each time, and a stack mapped next to
 * the region merges with it: the kernel then flags the whole merged
 * mapping soft-dirty, and every request would look like a full rewrite.
 */
static pthread_barrier_t job_start, job_end;
static struct {
	uint64_t cutoff;	/* pages whose mix falls below are written */
	uint64_t stamp;
} job;

/* Thread t owns pages t, t + n, t + 2n...: distinct pages, no overlap. */
static void dirty_share(unsigned int t)
{
	size_t i;

	for (i = t; i < npages; i += nthreads)
		if (mix(i ^ (job.stamp << 40)) % 1000000 < job.cutoff)
			write_page(i, job.stamp);
}

static void *writer(void *arg)
{
	for (;;) {
		pthread_barrier_wait(&job_start);
		dirty_share((unsigned int)(uintptr_t)arg);
		pthread_barrier_wait(&job_end);
	}
	return NULL;
}

static void start_writers(void)
{
	pthread_t tid;
	unsigned int t;

	if (pthread_barrier_init(&job_start, NULL, nthreads + 1) ||
	    pthread_barrier_init(&job_end, NULL, nthreads + 1))
		die("pthread_barrier_init");
	for (t = 0; t < nthreads; t++)
		if (pthread_create(&tid, NULL, writer, (void *)(uintptr_t)t))
			die("pthread_create");
}

static void dirty(double pct, uint64_t stamp)
{
	job.cutoff = (uint64_t)(pct * 10000);
	job.stamp = stamp;
	pthread_barrier_wait(&job_start);
	pthread_barrier_wait(&job_end);
}

static void put_file(const char *name, const char *text)
{
	char path[4096], tmp[4100];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", ctl, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die(tmp);
	if (write(fd, text, strlen(text)) < 0)
		die(tmp);
	close(fd);
	if (rename(tmp, path))
		die(path);
}

static double get_percent(void)
{
	char path[4096];
	double pct = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/dirty", ctl);
	f = fopen(path, "r");
	if (!f)
		die(path);
	if (fscanf(f, "%lf", &pct) != 1 || pct < 0 || pct > 100)
		pct = 0;
	fclose(f);
	return pct;
}

static void on_usr1(int sig)
{
	requested = 1;
}

static void *spinner(void *arg)
{
	uint64_t s = (uintptr_t)arg * 1000003 + 1;

	for (;;)
		write_page(next_random(&s) % npages, s);
	return NULL;
}

static void spin(void)
{
	pthread_t tid;
	struct timespec now;
	unsigned int t;
	char buf[64];

	for (t = 0; t < nthreads; t++)
		if (pthread_create(&tid, NULL, spinner, (void *)(uintptr_t)(t + 1)))
			die("pthread_create");
	for (;;) {
		usleep(20000);
		clock_gettime(CLOCK_MONOTONIC, &now);
		snprintf(buf, sizeof(buf), "%lu %llu\n", atomic_load(&written),
			 (unsigned long long)now.tv_sec * 1000000 +
			 now.tv_nsec / 1000);
		put_file("written", buf);
	}
}

int main(int argc, char **argv)
{
	enum content content = UNIQUE;
	bool spinning = false, mergeable = false;
	unsigned long rss_mib = 256;
	uint64_t stamp = 1;
	char buf[64];
	sigset_t usr1, old;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rss") && i + 1 < argc)
			rss_mib = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nthreads = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--content") && i + 1 < argc) {
			const char *c = argv[++i];

			content = !strcmp(c, "dupzero") ? DUPZERO :
				  !strcmp(c, "heap") ? HEAP :
				  !strcmp(c, "random") ? RANDOM : UNIQUE;
			if (content == UNIQUE && strcmp(c, "unique")) {
				fprintf(stderr, "workload: unknown content %s\n", c);
				return 2;
			}
		}
		else if (!strcmp(argv[i], "--ctl") && i + 1 < argc)
			ctl = argv[++i];
		else if (!strcmp(argv[i], "--spin"))
			spinning = true;
		else if (!strcmp(argv[i], "--mergeable"))
			mergeable = true;
		else {
			fprintf(stderr, "usage: workload --rss MIB [--threads N] "
				"[--content unique|dupzero|heap|random] --ctl DIR [--spin] [--mergeable]\n");
			return 2;
		}
	}
	if (!ctl || !rss_mib || !nthreads || nthreads > 1024) {
		fprintf(stderr, "workload: --ctl DIR, a non-zero --rss and 1..1024 threads\n");
		return 2;
	}

	npages = rss_mib * (1 << 20) / PAGE;
	/* Over-allocate by one huge page, then use the aligned part. */
	region = mmap(NULL, npages * PAGE + HUGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED)
		die("mmap");
	region = (uint8_t *)(((uintptr_t)region + HUGE - 1) & ~(HUGE - 1));
	populate(content);
	if (mergeable && madvise(region, npages * PAGE, MADV_MERGEABLE))
		die("madvise(MADV_MERGEABLE)");

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &old);
	signal(SIGUSR1, on_usr1);
	/* Before "ready", so no stack is mapped after the first checkpoint. */
	if (!spinning)
		start_writers();	/* SIGUSR1 blocked: only main takes it */
	snprintf(buf, sizeof(buf), "%d\n", getpid());
	put_file("ready", buf);
	if (spinning)
		spin();

	for (;;) {
		while (!requested)
			sigsuspend(&old);
		requested = 0;
		dirty(get_percent(), ++stamp);
		snprintf(buf, sizeof(buf), "%lu\n", (unsigned long)stamp);
		put_file("done", buf);
	}
}
