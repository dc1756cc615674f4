// SPDX-License-Identifier: GPL-2.0
/*
 * The checkpoint flow: ask the page source for the pages that changed
 * since the store's newest generation, write them as a new generation,
 * commit it durably, and only then acknowledge it to the source. If
 * anything fails before the acknowledgement, the source still owes those
 * pages, and the next checkpoint sends them again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckpt.h"
#include "pageq.h"
#include "procsrc.h"
#include "store/store.h"

struct ckpt {
	struct store *store;
	struct store_gen *gen;
	struct pageq *q;	/* the generation's writer thread, from the header */
	uint64_t base;
	struct snapper_ckpt_header header;
	struct snapper_ckpt_stats stats;
	/*
	 * The layout and the holes, added after the last page: the generation
	 * (and its store) belong to the writer thread while pages are queued,
	 * the layout is used only at commit, and a stream's holes and pages
	 * never overlap, so their order does not matter. Adding a mapping
	 * as it came used to wait for the writer to empty the queue, once
	 * per mapping. A FILE hole (@file) reads as a private file mapping's
	 * file: not in the generation, whatever the base had there.
	 */
	struct store_vma *vmas;
	size_t nvmas, cap_vmas;
	struct hole { uint64_t start, end; bool file; } *holes;
	size_t nholes, cap_holes;
	bool file_holes;	/* the module sends FILE holes (protocol 4) */
	bool page_batch;	/* several pages a message (protocol 5) */
	bool proc;		/* the /proc page source: the target stays stopped */
	bool store_failed;	/* the stream stopped on a store error */
	char store_msg[512];	/* its store_strerror(), from whichever thread */
	char *err;
	size_t errlen;
};

static int say(struct ckpt *c, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return ret;
}

/* Remembers whose error stopped the stream, to name it right. */
static int store_ret(struct ckpt *c, int ret)
{
	if (ret && !c->store_failed)
		snprintf(c->store_msg, sizeof(c->store_msg), "%s",
			 store_strerror());
	c->store_failed |= ret != 0;
	return ret;
}

/* The same for an error of the writer thread, which has its own line. */
static int writer_ret(struct ckpt *c, int ret)
{
	if (ret && !c->store_failed) {
		c->store_failed = true;
		pageq_stop(c->q, c->store_msg, sizeof(c->store_msg));
		c->q = NULL;
	}
	return ret;
}

static int on_header(void *arg, const struct snapper_ckpt_header *h)
{
	struct ckpt *c = arg;
	int ret;

	if (h->page_size != STORE_PAGE_SIZE)
		return -EPROTO;
	c->header = *h;
	ret = store_ret(c, store_gen_begin(c->store, h->full ? STORE_GEN_FULL :
					   STORE_GEN_INCREMENTAL, c->base,
					   &c->gen));
	/* From /proc the target is stopped until the last page: no lower priority. */
	if (!ret && (ret = pageq_start(&c->q, c->gen, !c->proc))) {
		snprintf(c->store_msg, sizeof(c->store_msg),
			 "starting the writer thread: %s", strerror(-ret));
		c->store_failed = true;
	}
	return ret;
}

static int on_vma(void *arg, const struct snapper_ckpt_vma *v)
{
	struct ckpt *c = arg;
	struct store_vma sv = {
		.start = v->start,
		.end = v->end,
		.offset = v->pgoff * STORE_PAGE_SIZE,
		.prot = v->prot,
		.flags = v->flags,
		/*
		 * A mapping new or remapped since the base: the source sent
		 * every page it has, so none of the base's may be carried over.
		 */
		.fresh = v->flags & SNAPPER_VMA_F_SOFTDIRTY,
	};
	struct store_vma *nv;

	if (!c->q)
		return -EPROTO;
	if (c->nvmas == c->cap_vmas) {
		size_t cap = c->cap_vmas ? 2 * c->cap_vmas : 64;

		nv = realloc(c->vmas, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		c->vmas = nv;
		c->cap_vmas = cap;
	}
	sv.path = strdup(v->path ? v->path : "");
	if (!sv.path)
		return -ENOMEM;
	c->vmas[c->nvmas++] = sv;
	return 0;
}

static int on_page(void *arg, uint64_t addr, const void *data, uint32_t flags)
{
	struct ckpt *c = arg;

	if (!c->q)
		return -EPROTO;
	return writer_ret(c, pageq_add(c->q, addr, data));
}

/* Pages are received into the queue's memory once it is there. */
static void *on_space(void *arg, size_t len)
{
	struct ckpt *c = arg;

	return c->q ? pageq_space(c->q, len) : NULL;
}

static int on_hole(void *arg, uint64_t start, uint64_t end, bool file)
{
	struct ckpt *c = arg;
	struct hole *h;

	if (!c->q)
		return -EPROTO;
	if (c->nholes && c->holes[c->nholes - 1].end == start &&
	    c->holes[c->nholes - 1].file == file) {
		c->holes[c->nholes - 1].end = end;
		return 0;
	}
	if (c->nholes == c->cap_holes) {
		c->cap_holes = c->cap_holes ? 2 * c->cap_holes : 256;
		h = realloc(c->holes, c->cap_holes * sizeof(*h));
		if (!h)
			return -ENOMEM;
		c->holes = h;
	}
	c->holes[c->nholes++] = (struct hole){ start, end, file };
	return 0;
}

/*
 * Records the layout, then the holes over whatever the base had there: as
 * zeros, or, for a FILE hole, as not in the generation.
 */
static int add_layout(struct ckpt *c)
{
	const struct hole *h;
	uint64_t n;
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < c->nvmas; i++)
		ret = store_ret(c, store_gen_add_vma(c->gen, &c->vmas[i]));
	for (i = 0; !ret && i < c->nholes; i++) {
		h = &c->holes[i];
		n = (h->end - h->start) / STORE_PAGE_SIZE;
		ret = store_ret(c, h->file ?
				store_gen_add_absent(c->gen, h->start, n) :
				store_gen_add_zero(c->gen, h->start, n));
	}
	return ret;
}

static int on_stats(void *arg, const struct snapper_ckpt_stats *st)
{
	struct ckpt *c = arg;

	c->stats = *st;
	return 0;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void read_comm(uint32_t pid, char comm[16])
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/comm", pid);
	memset(comm, 0, 16);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(comm, 16, f))
		comm[strcspn(comm, "\n")] = '\0';
	fclose(f);
}

static int genl_say(struct ckpt *c, struct snapper_genl *g, const char *what,
		    int ret)
{
	const char *why = g ? snapper_genl_errmsg(g) : NULL;

	return say(c, ret, "%s: %s%s%s", what, snapper_genl_strerror(ret),
		   why ? ": " : "", why ? why : "");
}

/* The module's knobs govern the store; without the module, the defaults. */
static int open_store(struct ckpt *c, struct snapper_genl *g, const char *dir)
{
	struct snapper_module_config cfg;
	struct store_knobs k;
	int ret;

	store_knobs_default(&k);
	if (g) {
		ret = snapper_genl_get_config(g, &cfg);
		if (ret)
			return genl_say(c, g, "reading the module's config", ret);
		k.threshold = cfg.threshold;
		k.redundancy = cfg.redundancy;
		k.max_snapshots = cfg.max_snapshots;
		k.min_snapshots = cfg.min_snapshots;
		k.expiration = cfg.expiration;
		/* Older modules would refuse the flags. */
		c->file_holes = cfg.protocol_version >= 4;
		c->page_batch = cfg.protocol_version >= 5;
	}
	ret = store_open(&c->store, dir, &k, 0);
	return ret ? say(c, ret, "%s", store_strerror()) : 0;
}

static int stream(struct ckpt *c, struct snapper_genl *g,
		  const struct snapper_ckpt_request *req)
{
	struct snapper_ckpt_ops ops = {
		.header = on_header, .vma = on_vma, .page = on_page,
		.hole = on_hole, .stats = on_stats, .space = on_space, .arg = c,
	};
	int ret;

	ret = g ? snapper_genl_checkpoint(g, req, &ops) : proc_checkpoint(req, &ops);
	/* The pages still queued go in before the commit, or before failing. */
	if (c->q && !c->store_failed) {
		int err = writer_ret(c, pageq_drain(c->q));

		if (!ret)
			ret = err;
	}
	pageq_stop(c->q, NULL, 0);
	c->q = NULL;
	if (!ret)
		ret = add_layout(c);
	if (!ret)
		return 0;
	if (c->gen)
		store_gen_abort(c->gen);
	if (c->store_failed)
		return say(c, ret, "writing the generation: %s", c->store_msg);
	if (!g)
		return say(c, ret, "checkpoint: %s", proc_strerror());
	return genl_say(c, g, "checkpoint", ret);
}

static int commit(struct ckpt *c, uint32_t pid, uint64_t t0, uint64_t *gen)
{
	struct store_meta meta = { .pid = pid };
	int ret;

	read_comm(pid, meta.comm);
	meta.stats.pages_sent = c->stats.sent;
	meta.stats.freeze_us = c->stats.freeze_us;
	meta.stats.walk_us = c->stats.walk_us;
	meta.stats.duration_us = now_us() - t0;
	ret = store_gen_set_meta(c->gen, &meta);
	if (ret) {
		store_gen_abort(c->gen);
		return say(c, ret, "%s", store_strerror());
	}
	ret = store_gen_commit(c->gen, gen);
	return ret ? say(c, ret, "%s", store_strerror()) : 0;
}

/*
 * The module answers -EBUSY, rather than keep the request waiting in the
 * kernel, while it takes a checkpoint of the target for someone else (a
 * privileged caller, another store): ask again until that is over. A
 * checkpoint lasts seconds at worst (its freeze gives up after five); a
 * minute is far past that.
 */
static int ack_module(struct snapper_genl *g,
		      const struct snapper_ckpt_request *req, uint64_t id,
		      uint64_t gen)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	uint64_t t0 = now_us();
	int ret;

	while ((ret = snapper_genl_ack(g, req->pid, req->store_id, id,
				       gen)) == -EBUSY &&
	       now_us() - t0 < 60ULL * 1000 * 1000) {
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 320 * 1000 * 1000)
			pause.tv_nsec *= 2;
	}
	return ret;
}

static int ack(struct ckpt *c, struct snapper_genl *g,
	       const struct snapper_ckpt_request *req, struct ckpt_result *res)
{
	uint64_t id = c->header.checkpoint_id, gen = res->generation;
	int ret;

	if (g) {
		ret = ack_module(g, req, id, gen);
		/*
		 * The module drops a session only with its mm: nothing is owed
		 * any more, so nothing is lost by not acknowledging.
		 */
		if (ret == -ESRCH) {
			res->target_gone = true;
			return 0;
		}
		if (ret)
			genl_say(c, g, "acknowledging the generation", ret);
		return ret ? -EAGAIN : 0;
	}
	ret = proc_ack(req->pid, req->store_id, id, gen);
	return ret ? say(c, -EAGAIN, "acknowledging the generation: %s",
			 proc_strerror()) : 0;
}

static int ckpt_once(struct snapper_genl *g, const char *dir, uint32_t pid,
		     uint32_t flags, struct ckpt_result *res, char *err,
		     size_t errlen)
{
	struct snapper_ckpt_request req = { .pid = pid,
					    .flags = flags & ~CKPT_F_LZ4 };
	struct ckpt c = { .err = err, .errlen = errlen, .proc = !g };
	uint64_t t0 = now_us();
	int ret;

	memset(res, 0, sizeof(*res));
	ret = open_store(&c, g, dir);
	if (!ret && (flags & CKPT_F_LZ4) &&
	    store_set_codec(c.store, STORE_CODEC_LZ4))
		ret = say(&c, -EINVAL, "%s", store_strerror());
	if (ret) {
		store_close(c.store);
		return ret;
	}
	c.base = store_newest(c.store);
	req.store_id = store_id(c.store);
	req.base_generation = c.base;
	/* --backend proc always reports them. */
	if (c.file_holes)
		req.flags |= SNAPPER_CKPT_F_FILE_HOLES;
	if (c.page_batch)
		req.flags |= SNAPPER_CKPT_F_PAGE_BATCH;
	/* Its work was the writer's: at the writer's priority. */
	store_index_ahead(c.store, c.proc ? 0 : PAGEQ_WRITER_NICE);
	ret = stream(&c, g, &req);
	if (!ret)
		ret = commit(&c, pid, t0, &res->generation);
	/* Durable first, acknowledged after: never the other way round. */
	if (!ret) {
		res->full = c.header.full;
		res->stats = c.stats;
		ret = ack(&c, g, &req, res);
	}
	store_close(c.store);
	for (size_t i = 0; i < c.nvmas; i++)
		free((char *)c.vmas[i].path);
	free(c.vmas);
	free(c.holes);
	return ret;
}

int ckpt_run(struct snapper_genl *g, const char *dir, uint32_t pid,
	     uint32_t flags, struct ckpt_result *res, char *err, size_t errlen)
{
	unsigned int tries = 0;
	int ret;

	/*
	 * -EAGAIN from the module itself (nothing committed): a task it could
	 * not freeze may have written the memory during its walk. Its soft-dirty
	 * bits are spent, so the next checkpoint is FULL.
	 */
	for (;; tries++) {
		ret = ckpt_once(g, dir, pid, flags, res, err, errlen);
		if (ret != -EAGAIN || !g || res->generation ||
		    tries + 1 == CKPT_TRIES)
			break;
	}
	res->retries = tries;
	return ret;
}
