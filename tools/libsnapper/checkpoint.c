// SPDX-License-Identifier: GPL-2.0
/*
 * libsnapper: the process checkpoints itself. The module lets a process
 * checkpoint itself without privilege and never freezes the calling
 * thread, so the thread that asks is the one that streams the pages into
 * the store; the others stay out of user mode only for the page walk.
 *
 * This is the flow of `snapper-tool checkpoint` (tools/checkpoint.c):
 * durable commit first, acknowledgement after, so that a checkpoint cut
 * short is sent again by the next one.
 */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "../genl.h"
#include "../store/store.h"
#include "internal.h"

struct self {
	struct store *store;
	struct store_gen *gen;
	uint64_t base;
	struct snapper_ckpt_header header;
	struct snapper_ckpt_stats stats;
	bool store_failed;	/* the stream stopped on a store error */
};

static int store_ret(struct self *c, int ret)
{
	c->store_failed |= ret != 0;
	return ret;
}

static int on_header(void *arg, const struct snapper_ckpt_header *h)
{
	struct self *c = arg;

	if (h->page_size != STORE_PAGE_SIZE)
		return -EPROTO;
	c->header = *h;
	return store_ret(c, store_gen_begin(c->store, h->full ? STORE_GEN_FULL :
					    STORE_GEN_INCREMENTAL, c->base, &c->gen));
}

static int on_vma(void *arg, const struct snapper_ckpt_vma *v)
{
	struct self *c = arg;
	struct store_vma sv = {
		.start = v->start, .end = v->end,
		.offset = v->pgoff * STORE_PAGE_SIZE,
		.prot = v->prot, .flags = v->flags, .path = v->path,
		/* New or remapped since the base: nothing carries over. */
		.fresh = v->flags & SNAPPER_VMA_F_SOFTDIRTY,
	};

	return store_ret(c, store_gen_add_vma(c->gen, &sv));
}

static int on_page(void *arg, uint64_t addr, const void *data, uint32_t flags)
{
	return store_ret(arg, store_gen_add_page(((struct self *)arg)->gen,
						 addr, data));
}

static int on_stats(void *arg, const struct snapper_ckpt_stats *st)
{
	((struct self *)arg)->stats = *st;
	return 0;
}

static int genl_err(struct snapper_genl *g, const char *what, int ret)
{
	const char *why = g ? snapper_genl_errmsg(g) : NULL;

	return persist_err(ret, "%s: %s%s%s", what, snapper_genl_strerror(ret),
			   why ? ": " : "", why ? why : "");
}

/* The store's knobs are the module's, as for snapper-tool checkpoint. */
static int open_store(struct snapper_persist *p, struct snapper_genl *g,
		      struct store **s)
{
	struct snapper_module_config cfg;
	struct store_knobs k;
	int ret;

	ret = snapper_genl_get_config(g, &cfg);
	if (ret)
		return genl_err(g, "reading the module's config", ret);
	store_knobs_default(&k);
	k.threshold = cfg.threshold;
	k.integrity = cfg.integrity;
	k.redundancy = cfg.redundancy;
	k.max_snapshots = cfg.max_snapshots;
	k.min_snapshots = cfg.min_snapshots;
	k.expiration = cfg.expiration;
	ret = store_open(s, p->dir, &k, 0);
	return ret ? persist_err(ret, "%s", store_strerror()) : 0;
}

static int commit(struct self *c, uint64_t t0_us, uint64_t *gen)
{
	struct store_meta meta = { .pid = getpid() };
	struct timespec ts;
	int ret;

	prctl(PR_GET_NAME, meta.comm);
	meta.stats.pages_sent = c->stats.sent;
	meta.stats.freeze_us = c->stats.freeze_us;
	meta.stats.walk_us = c->stats.walk_us;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	meta.stats.duration_us = ts.tv_sec * 1000000ull + ts.tv_nsec / 1000 - t0_us;
	ret = store_gen_set_meta(c->gen, &meta);
	if (ret) {
		store_gen_abort(c->gen);
		return persist_err(ret, "%s", store_strerror());
	}
	ret = store_gen_commit(c->gen, gen);
	return ret ? persist_err(ret, "%s", store_strerror()) : 0;
}

static int run(struct snapper_persist *p, struct snapper_genl *g, uint64_t *gen)
{
	struct snapper_ckpt_ops ops = {
		.header = on_header, .vma = on_vma,
		.page = on_page, .stats = on_stats,
	};
	struct snapper_ckpt_request req = { .pid = getpid() };
	struct self c = { 0 };
	struct timespec ts;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ret = open_store(p, g, &c.store);
	if (ret)
		return ret;
	ops.arg = &c;
	c.base = store_newest(c.store);
	req.store_id = store_id(c.store);
	req.base_generation = c.base;
	ret = snapper_genl_checkpoint(g, &req, &ops);
	if (ret) {
		if (c.gen)
			store_gen_abort(c.gen);
		if (c.store_failed)
			persist_err(ret, "%s", store_strerror());
		else
			genl_err(g, "checkpoint", ret);
	} else {
		ret = commit(&c, ts.tv_sec * 1000000ull + ts.tv_nsec / 1000, gen);
	}
	/* Committed: a failed acknowledgement only makes the next one resend. */
	if (!ret)
		snapper_genl_ack(g, req.pid, req.store_id,
				 c.header.checkpoint_id, *gen);
	store_close(c.store);
	return ret;
}

int snapper_persist_checkpoint(struct snapper_persist *p, uint64_t *generation)
{
	struct snapper_genl *g;
	uint64_t gen = 0;
	int ret;

	pthread_mutex_lock(&p->lock);
	ret = snapper_genl_open(&g);
	if (ret) {
		genl_err(NULL, "connecting to the module", ret);
	} else {
		ret = run(p, g, &gen);
		snapper_genl_close(g);
	}
	pthread_mutex_unlock(&p->lock);
	if (!ret && generation)
		*generation = gen;
	return ret;
}
