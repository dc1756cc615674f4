// SPDX-License-Identifier: GPL-2.0
/*
 * snapper-tool checkpoint: asks the module for the pages of a process that
 * changed since the store's newest generation, writes them as a new
 * generation, commits it durably, and only then acknowledges it to the
 * module. If anything fails before the acknowledgement, the module still
 * owes those pages, and the next checkpoint sends them again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "genl.h"
#include "procsrc.h"
#include "store/store.h"
#include "subcommands.h"

struct ckpt {
	struct store *store;
	struct store_gen *gen;
	uint64_t base;
	struct snapper_ckpt_header header;
	struct snapper_ckpt_stats stats;
	bool quiet;
	bool store_failed;	/* the stream stopped on a store error */
};

/* Remembers whose error stopped the stream, to name it right. */
static int store_ret(struct ckpt *c, int ret)
{
	c->store_failed |= ret != 0;
	return ret;
}

static int on_header(void *arg, const struct snapper_ckpt_header *h)
{
	struct ckpt *c = arg;

	if (h->page_size != STORE_PAGE_SIZE)
		return -EPROTO;
	c->header = *h;
	return store_ret(c, store_gen_begin(c->store, h->full ? STORE_GEN_FULL :
					    STORE_GEN_INCREMENTAL, c->base, &c->gen));
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
		.path = v->path,
		/*
		 * A mapping new or remapped since the base: the module sent
		 * every page it has, so none of the base's may be carried over.
		 */
		.fresh = v->flags & SNAPPER_VMA_F_SOFTDIRTY,
	};

	return store_ret(c, store_gen_add_vma(c->gen, &sv));
}

static int on_page(void *arg, uint64_t addr, const void *data, uint32_t flags)
{
	struct ckpt *c = arg;

	(void)flags;
	return store_ret(c, store_gen_add_page(c->gen, addr, data));
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

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s checkpoint --store DIR [--full] [--quiet]\n"
		"                  [--backend module|proc] PID\n"
		"Saves the pages PID changed since the store's newest generation\n"
		"as a new generation, and prints \"generation N\" last.\n"
		"--backend proc reads /proc/PID/pagemap instead of asking the\n"
		"module: slower, and the target stays stopped while it is read.\n",
		prog);
}

static int fail(const char *what, int err, struct snapper_genl *g)
{
	const char *why = snapper_genl_errmsg(g);

	fprintf(stderr, "%s: %s: %s%s%s\n", prog, what,
		snapper_genl_strerror(err), why ? ": " : "", why ? why : "");
	return 1;
}

static int parse_args(int argc, char **argv, const char **dir, uint32_t *pid,
		      uint32_t *flags, bool *quiet, bool *proc)
{
	char *end;
	long v;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--store") && i + 1 < argc)
			*dir = argv[++i];
		else if (!strcmp(argv[i], "--full"))
			*flags |= SNAPPER_CKPT_F_FULL;
		else if (!strcmp(argv[i], "--quiet"))
			*quiet = true;
		else if (!strcmp(argv[i], "--backend") && i + 1 < argc &&
			 (!strcmp(argv[i + 1], "proc") || !strcmp(argv[i + 1], "module")))
			*proc = !strcmp(argv[++i], "proc");
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 2;
		else if (argv[i][0] != '-' && !*pid) {
			errno = 0;
			v = strtol(argv[i], &end, 10);
			if (errno || *end || v < 1 || v > (long)SNAPPER_PID_MAX)
				return -1;
			*pid = (uint32_t)v;
		} else {
			return -1;
		}
	}
	return *dir && *pid ? 0 : -1;
}

/*
 * Where the pages come from: the module over netlink, or /proc. Both feed
 * the same callbacks and are acknowledged the same way, after the commit.
 */
struct source {
	bool proc;
	struct snapper_genl *g;
};

static int source_open(struct source *src, struct store_knobs *knobs)
{
	struct snapper_module_config cfg;
	int ret;

	store_knobs_default(knobs);
	if (src->proc)
		return 0;	/* no module: the store's defaults */
	ret = snapper_genl_open(&src->g);
	if (ret)
		return fail("connecting to the module", ret, NULL);
	ret = snapper_genl_get_config(src->g, &cfg);
	if (ret)
		return fail("reading the module's config", ret, src->g);
	knobs->threshold = cfg.threshold;
	knobs->integrity = cfg.integrity;
	knobs->redundancy = cfg.redundancy;
	knobs->max_snapshots = cfg.max_snapshots;
	knobs->min_snapshots = cfg.min_snapshots;
	knobs->expiration = cfg.expiration;
	return 0;
}

static int source_stream(struct source *src, const struct snapper_ckpt_request *req,
			 const struct snapper_ckpt_ops *ops, struct ckpt *c)
{
	int ret;

	ret = src->proc ? proc_checkpoint(req, ops) :
			  snapper_genl_checkpoint(src->g, req, ops);
	if (!ret)
		return 0;
	if (c->gen)
		store_gen_abort(c->gen);
	if (c->store_failed)
		fprintf(stderr, "%s: writing the generation: %s\n", prog,
			store_strerror());
	else if (src->proc)
		fprintf(stderr, "%s: checkpoint: %s\n", prog, proc_strerror());
	else
		fail("checkpoint", ret, src->g);
	return 1;
}

static int source_ack(struct source *src, const struct snapper_ckpt_request *req,
		      uint64_t ckpt, uint64_t gen)
{
	int ret;

	if (src->proc) {
		ret = proc_ack(req->pid, req->store_id, ckpt, gen);
		if (ret)
			fprintf(stderr, "%s: acknowledging the generation: %s\n",
				prog, proc_strerror());
		return ret ? 1 : 0;
	}
	ret = snapper_genl_ack(src->g, req->pid, req->store_id,
			       ckpt, gen);
	return ret ? fail("acknowledging the generation", ret, src->g) : 0;
}

int checkpoint_main(int argc, char **argv)
{
	struct snapper_ckpt_ops ops = {
		.header = on_header, .vma = on_vma,
		.page = on_page, .stats = on_stats,
	};
	struct snapper_ckpt_request req = { 0 };
	struct store_knobs knobs;
	struct store_meta meta = { 0 };
	struct source src = { 0 };
	struct ckpt c = { 0 };
	const char *dir = NULL;
	uint64_t t0, gen;
	int ret;

	ret = parse_args(argc, argv, &dir, &req.pid, &req.flags, &c.quiet,
			 &src.proc);
	if (ret) {
		usage(ret == 2 ? stdout : stderr);
		return ret == 2 ? 0 : 1;
	}
	ops.arg = &c;
	t0 = now_us();
	ret = source_open(&src, &knobs);
	if (ret)
		goto out_source;
	ret = store_open(&c.store, dir, &knobs, 0);
	if (ret) {
		fprintf(stderr, "%s: %s\n", prog, store_strerror());
		goto out_source;
	}
	c.base = store_newest(c.store);
	req.store_id = store_id(c.store);
	req.base_generation = c.base;
	ret = source_stream(&src, &req, &ops, &c);
	if (ret)
		goto out_store;
	meta.pid = req.pid;
	read_comm(req.pid, meta.comm);
	meta.stats.pages_sent = c.stats.sent;
	meta.stats.freeze_us = c.stats.freeze_us;
	meta.stats.walk_us = c.stats.walk_us;
	meta.stats.duration_us = now_us() - t0;
	ret = store_gen_set_meta(c.gen, &meta);
	if (ret) {
		store_gen_abort(c.gen);
		fprintf(stderr, "%s: %s\n", prog, store_strerror());
		goto out_store;
	}
	/* Durable first, acknowledged after: never the other way round. */
	ret = store_gen_commit(c.gen, &gen);
	if (ret) {
		fprintf(stderr, "%s: %s\n", prog, store_strerror());
		goto out_store;
	}
	/* If this fails the generation stands; the next checkpoint resends. */
	ret = source_ack(&src, &req, c.header.checkpoint_id, gen);
	if (ret)
		goto out_store;
	if (!c.quiet)
		printf("%s checkpoint of %" PRIu32 ": %" PRIu64 " pages sent of %"
		       PRIu64 " scanned (%" PRIu64 " unchanged in huge pages), %"
		       PRIu32 " threads frozen %" PRIu64 " us, walk %" PRIu64
		       " us\n",
		       c.header.full ? "full" : "incremental", req.pid,
		       c.stats.sent, c.stats.scanned, c.stats.thp_unchanged,
		       c.stats.threads, c.stats.freeze_us, c.stats.walk_us);
	printf("generation %" PRIu64 "\n", gen);
out_store:
	store_close(c.store);
out_source:
	snapper_genl_close(src.g);
	return ret ? 1 : 0;
}
