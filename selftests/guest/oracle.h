/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The differential oracle: a generation against the live memory of the
 * process it was taken from, byte for byte. The one place where a guest
 * test checks that a generation is exact; every suite that needs the check
 * includes this file.
 *
 * The generation is read with `snapper-tool export` (so the store's own
 * reader, hash checks included, is what is compared), the process through
 * /proc/PID/mem, which reads what the process itself would read: zeros
 * where nothing is mapped in a private anonymous mapping, the object's
 * content in a shared one. The target must be quiescent (stopped with
 * SIGSTOP, or parked by its own protocol) from the checkpoint to the
 * comparison.
 *
 * Compared: every anonymous mapping (no path, or [heap], [stack],
 * [anon:...]) and every shared writable mapping of /proc/PID/maps. Not
 * compared: private file mappings (an untouched page there is the file's,
 * which a generation does not hold), read-only shared mappings, and the
 * kernel's special mappings ([vdso], [vvar], [vsyscall], [uprobes]).
 * Pages /proc/PID/mem cannot read (VM_IO, VM_PFNMAP, secretmem) are skipped.
 */
#ifndef SNAPPER_ORACLE_H
#define SNAPPER_ORACLE_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define ORACLE_PAGE	4096UL
#define ORACLE_CHUNK	64UL		/* pages read at once */
#define ORACLE_SHOW	16		/* differing pages printed per call */

/* One line of /proc/PID/maps, as far as the oracle cares. */
struct oracle_map {
	uint64_t start, end;
	char perms[5];
	char path[256];
};

/* Is this mapping's memory the generation's business? */
static inline bool oracle_wanted(const struct oracle_map *m)
{
	static const char *const special[] = {
		"[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]", "[uprobes]",
	};
	size_t i;

	if (m->perms[3] == 's')
		return m->perms[1] == 'w';
	if (!m->path[0] || !strncmp(m->path, "[anon:", 6))
		return true;
	if (m->path[0] != '[')
		return false;	/* a private file mapping */
	for (i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (!strcmp(m->path, special[i]))
			return false;
	return true;		/* [heap], [stack] */
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

/* Compares one mapping. Return: differing pages, or -1. */
static inline long oracle_map_compare(const char *store, uint64_t gen,
				      int mem, const struct oracle_map *m,
				      long *shown)
{
	static uint8_t g[ORACLE_CHUNK * ORACLE_PAGE], l[ORACLE_CHUNK * ORACLE_PAGE];
	bool bad[ORACLE_CHUNK];
	uint64_t addr = m->start;
	char cmd[1024];
	long diff = 0;
	size_t n, i;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "snapper-tool export --store '%s' --gen %" PRIu64
		 " --range %" PRIx64 "-%" PRIx64 " --format raw -o -",
		 store, gen, m->start, m->end);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	for (; addr < m->end; addr += n * ORACLE_PAGE) {
		n = (m->end - addr) / ORACLE_PAGE;
		if (n > ORACLE_CHUNK)
			n = ORACLE_CHUNK;
		if (fread(g, ORACLE_PAGE, n, f) != n) {
			diff = -1;
			break;
		}
		oracle_read_live(mem, addr, n, l, bad);
		for (i = 0; i < n; i++) {
			if (bad[i] || !memcmp(g + i * ORACLE_PAGE,
					      l + i * ORACLE_PAGE, ORACLE_PAGE))
				continue;
			diff++;
			if ((*shown)++ < ORACLE_SHOW)
				oracle_show(m, addr + i * ORACLE_PAGE,
					    g + i * ORACLE_PAGE,
					    l + i * ORACLE_PAGE);
		}
	}
	while (diff >= 0 && fread(g, 1, sizeof(g), f) > 0)
		;
	if (pclose(f) && diff >= 0) {
		fprintf(stderr, "# oracle: `%s` failed\n", cmd);
		diff = -1;
	}
	return diff;
}

/*
 * Compares generation @gen of the store at @store with /proc/@pid/mem of the
 * stopped target, for every anonymous and every shared writable mapping (from
 * /proc/PID/maps); prints each differing page (address, mapping); returns the
 * number of differing pages, 0 when exact, -1 on error.
 */
static inline long oracle_compare(const char *store, uint64_t gen, pid_t pid)
{
	char path[64], *line = NULL;
	struct oracle_map m;
	long total = 0, shown = 0, d;
	size_t len = 0;
	FILE *maps;
	int mem;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	mem = open(path, O_RDONLY);
	if (!maps || mem < 0) {
		fprintf(stderr, "# oracle: process %d: %s\n", pid,
			strerror(errno));
		total = -1;
		goto out;
	}
	while (getline(&line, &len, maps) > 0) {
		if (!oracle_parse(line, &m) || !oracle_wanted(&m))
			continue;
		d = oracle_map_compare(store, gen, mem, &m, &shown);
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

#endif /* SNAPPER_ORACLE_H */
