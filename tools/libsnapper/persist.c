// SPDX-License-Identifier: GPL-2.0
/*
 * libsnapper: the persistent region, and filling it from the store at
 * start-up. The store is read directly (the store library): restoring
 * needs neither the module nor any privilege.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../store/store.h"
#include "internal.h"

#define PG STORE_PAGE_SIZE

static __thread char err_line[1024];

int persist_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_line, sizeof(err_line), fmt, ap);
	va_end(ap);
	return err;
}

const char *snapper_persist_strerror(void)
{
	return err_line;
}

uint64_t snapper_persist_restored(const struct snapper_persist *p)
{
	return p->restored;
}

/* The generation's mappings must cover [start, end) without a hole. */
static bool covered(struct store_snap *snap, uint64_t start, uint64_t end)
{
	const struct store_vma *v;
	size_t n = store_snap_vmas(snap, &v);
	uint64_t at = start;

	/* Mappings are sorted and do not overlap. */
	for (size_t i = 0; i < n && at < end; i++)
		if (v[i].start <= at && at < v[i].end)
			at = v[i].end;
	return at >= end;
}

/* Copies the captured data pages of [start, end); the rest stays zero. */
static int fill(struct store_snap *snap, uint8_t *start, uint8_t *end)
{
	uint64_t lo = (uintptr_t)start, hi = (uintptr_t)end;
	struct store_run run;
	size_t n = store_snap_map(snap, 0, &run);

	for (size_t i = 0; i < n; i++) {
		store_snap_map(snap, i, &run);
		if (run.state != STORE_PAGE_DATA)
			continue;
		for (uint64_t k = 0; k < run.npages; k++) {
			uint64_t a = run.vaddr + k * PG;

			if (a < lo || a >= hi)
				continue;
			if (store_snap_read(snap, a, (void *)(uintptr_t)a, NULL))
				return -EIO;
		}
	}
	return 0;
}

static int restore(struct snapper_persist *p)
{
	uint64_t lo = (uintptr_t)p->addr, hi = lo + p->size;
	struct store_snap *snap;
	struct store *s;
	int ret;

	ret = store_open(&s, p->dir, NULL, STORE_RDONLY | STORE_NOCREATE);
	if (ret == -ENOENT)
		return 0;	/* first run: nothing to restore */
	if (ret)
		return persist_err(ret, "%s", store_strerror());
	p->restored = store_newest(s);
	if (!p->restored)
		goto out;
	ret = store_snap_open(s, p->restored, &snap);
	if (ret) {
		persist_err(ret, "%s", store_strerror());
		goto out;
	}
	if (!covered(snap, lo, hi))
		ret = persist_err(-ESTALE, "%s: generation %" PRIu64 " does not map all of %#" PRIx64 "-%#" PRIx64,
				  p->dir, p->restored, lo, hi);
	else if (fill(snap, p->addr, (uint8_t *)p->addr + p->size))
		ret = persist_err(-EIO, "%s", store_strerror());
	store_snap_close(snap);
out:
	store_close(s);
	return ret;
}

static int map_region(void *addr, size_t size)
{
	void *m = mmap(addr, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (m == MAP_FAILED)
		return persist_err(-errno, "mapping %p+%#zx: %m", addr, size);
	/* Before 4.17 the flag was ignored: the kernel may have moved it. */
	if (m != addr) {
		munmap(m, size);
		return persist_err(-EEXIST, "mapping %p+%#zx: address in use", addr, size);
	}
	return 0;
}

int snapper_persist_open(const char *store_dir, void *addr, size_t size,
			 unsigned int flags, struct snapper_persist **out)
{
	struct snapper_persist *p;
	int ret;

	if (!size || size % PG || (uintptr_t)addr % PG || flags & ~SNAPPER_PERSIST_FRESH)
		return persist_err(-EINVAL, "%p+%#zx: not page aligned, or bad flags", addr, size);
	p = calloc(1, sizeof(*p));
	if (!p || !(p->dir = strdup(store_dir))) {
		free(p);
		return persist_err(-ENOMEM, "%s: out of memory", store_dir);
	}
	p->addr = addr;
	p->size = size;
	pthread_mutex_init(&p->lock, NULL);
	ret = map_region(addr, size);
	if (!ret && !(flags & SNAPPER_PERSIST_FRESH)) {
		ret = restore(p);
		if (ret)
			munmap(addr, size);
	}
	if (ret) {
		snapper_persist_close(p);
		return ret;
	}
	*out = p;
	return 0;
}

void snapper_persist_close(struct snapper_persist *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p->dir);
	free(p);
}
