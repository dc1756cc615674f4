// SPDX-License-Identifier: GPL-2.0
/*
 * make bench-store: the store's commit throughput against dd on the same
 * filesystem, measured in the same run (a benchmark, not a test: it
 * reports the goals as met or not, and fails only if something fails).
 *
 *   build/bench/store [MIB [DIR]]     (default 1024 MiB in /var/tmp)
 *
 * Goals (issue 4): a full commit of distinct pages at least half of
 * `dd bs=1M conv=fsync` of the same size; an incremental commit of 1%
 * changed pages costing, beyond an empty commit (its fsyncs), a share of
 * the full one proportional to the change, not to the whole.
 */
#include <stdio.h>
#include <time.h>

#include "../selftests/host/store_helpers.h"

#define A 0x100000000ull

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Distinct and cheap: the first word is unique, the rest a pattern. */
static void page_n(uint8_t *p, uint64_t n, uint64_t salt)
{
	memset(p, (int)(n * 7 + salt), PG);
	memcpy(p, &n, 8);
	memcpy(p + 8, &salt, 8);
	p[16] = 1;
}

static double dd_seconds(const char *dir, uint64_t mib)
{
	char cmd[600];
	double t;

	snprintf(cmd, sizeof(cmd),
		 "dd if=/dev/zero of=%s/dd.out bs=1M count=%lu conv=fsync status=none",
		 dir, (unsigned long)mib);
	t = now();
	if (system(cmd))
		return -1;
	t = now() - t;
	snprintf(cmd, sizeof(cmd), "%s/dd.out", dir);
	unlink(cmd);
	return t;
}

static double commit_seconds(struct store *s, enum store_gen_kind kind,
			     uint64_t pages, uint64_t stride, uint64_t salt)
{
	struct store_vma v = { A, A + pages * PG, 0, 3, 0, "", false };
	uint8_t page[PG];
	struct store_gen *g;
	uint64_t id;
	double t = now();

	if (store_gen_begin(s, kind, 0, &g) || store_gen_add_vma(g, &v))
		return -1;
	for (uint64_t i = 0; i < pages; i += stride) {
		page_n(page, i, salt);
		if (store_gen_add_page(g, A + i * PG, page))
			return -1;
	}
	if (store_gen_commit(g, &id))
		return -1;
	return now() - t;
}

static void die(const char *what)
{
	fprintf(stderr, "bench/store: %s: %s\n", what, store_strerror());
	exit(1);
}

int main(int argc, char **argv)
{
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 1024;
	const char *base = argc > 2 ? argv[2] : "/var/tmp";
	char tmpl[512], dir[600];
	double dd, dd2, full, incr, empty;
	struct store *s;

	snprintf(tmpl, sizeof(tmpl), "%s/snapper-bench.XXXXXX", base);
	if (!mib || !mkdtemp(tmpl)) {
		fprintf(stderr, "usage: %s [MIB [DIR]]\n", argv[0]);
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/s", tmpl);
	if (store_open(&s, dir, NULL, 0))
		die(dir);
	printf("store benchmark: %lu MiB in %s\n", (unsigned long)mib, base);
	dd = dd_seconds(tmpl, mib);
	full = commit_seconds(s, STORE_GEN_FULL, mib * 256, 1, 1);
	/* 1% of the pages changed, spread over the whole range. */
	incr = commit_seconds(s, STORE_GEN_INCREMENTAL, mib * 256, 100, 2);
	/* Nothing changed: what every commit costs (fsyncs, mostly). */
	empty = commit_seconds(s, STORE_GEN_INCREMENTAL, mib * 256, mib * 256, 2);
	/* dd again, after: the better of the two, so order does not favour us. */
	dd2 = dd_seconds(tmpl, mib);
	store_close(s);
	rm_tree(tmpl);
	if (dd <= 0 || full <= 0 || incr <= 0 || empty <= 0)
		die("a commit or dd failed");
	if (dd2 > 0 && dd2 < dd)
		dd = dd2;
	printf("dd conv=fsync      %.2f s  %.0f MiB/s\n", dd, mib / dd);
	printf("full commit        %.2f s  %.0f MiB/s  ratio to dd %.2f (goal at least 0.5: %s)\n",
	       full, mib / full, dd / full, dd / full >= 0.5 ? "met" : "NOT met");
	printf("1%% incremental     %.3f s  beyond an empty commit (%.3f s): %.1f%% of the full commit (goal: about 1%%, well under 20%%: %s)\n",
	       incr, empty, 100 * (incr - empty) / full,
	       (incr - empty) <= full / 5 ? "met" : "NOT met");
	return 0;
}
