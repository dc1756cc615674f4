/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tools' only view of the kernel module. genl.c is the one file that
 * speaks netlink; everything else sees these plain structs.
 */
#ifndef SNAPPER_GENL_H
#define SNAPPER_GENL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/snapper.h>

struct snapper_module_config {
	char module_version[SNAPPER_VERSION_LEN];
	uint32_t protocol_version;
	bool verbose;
	bool integrity;
	uint32_t threshold;
	uint32_t redundancy;
	uint32_t max_snapshots;
	uint32_t min_snapshots;
	uint64_t expiration;
	uint32_t stream_timeout_ms;	/* 0: the module does not report it */
};

struct snapper_genl;

/*
 * Connects to the "snapper" family. Returns 0, -ENOENT when the module is
 * not loaded, or another negative errno.
 */
int snapper_genl_open(struct snapper_genl **out);
void snapper_genl_close(struct snapper_genl *g);

int snapper_genl_get_config(struct snapper_genl *g,
			    struct snapper_module_config *cfg);

/* A SNAPPER_CMD_CHECKPOINT request (see uapi/linux/snapper.h). */
struct snapper_ckpt_request {
	uint32_t pid;
	uint64_t store_id;
	uint64_t base_generation;	/* 0: none, the checkpoint is FULL */
	uint32_t flags;			/* SNAPPER_CKPT_F_* */
};

struct snapper_ckpt_header {
	uint64_t checkpoint_id;		/* to quote in snapper_genl_ack() */
	bool full;
	uint32_t page_size;
};

/* One mapping of the target; @path is valid during the callback only. */
struct snapper_ckpt_vma {
	uint64_t start, end, pgoff;
	uint32_t prot;			/* PROT_* */
	uint32_t flags;			/* SNAPPER_VMA_F_* */
	const char *path;		/* "" when anonymous */
};

struct snapper_ckpt_stats {
	uint64_t scanned, sent, thp, swap, vma_softdirty, copied;
	uint64_t thp_unchanged;		/* huge-page subpages left out */
	uint64_t hole_pages;		/* pages in the holes reported */
	uint64_t freeze_us, walk_us;
	uint32_t threads;
};

/*
 * Called in stream order: header once, every vma, every page (page_size
 * bytes) and every hole (a range [start, end) that reads as zeros, or,
 * with @file, that reads as its private file mapping's file and is not in
 * the generation: see SNAPPER_A_HOLE) in ascending address order, stats
 * once. A NULL callback
 * ignores its messages. A non-zero return stops the stream: the request
 * then fails with that value, and the module releases what it held for it.
 */
struct snapper_ckpt_ops {
	int (*header)(void *arg, const struct snapper_ckpt_header *h);
	int (*vma)(void *arg, const struct snapper_ckpt_vma *v);
	int (*page)(void *arg, uint64_t addr, const void *data, uint32_t flags);
	int (*hole)(void *arg, uint64_t start, uint64_t end, bool file);
	int (*stats)(void *arg, const struct snapper_ckpt_stats *st);
	/*
	 * Optional: where to receive the next @len bytes of the stream.
	 * Without it, or when it returns NULL, a page's @data lives only
	 * until its callback returns; with it, @data points into the memory
	 * it gave, which is its owner's (a page can be kept where it lies).
	 */
	void *(*space)(void *arg, size_t len);
	void *arg;
};

/*
 * Streams one checkpoint. Returns 0 once the stats arrived, the kernel's
 * negative errno, a callback's value, or -EPROTO for a malformed stream.
 */
int snapper_genl_checkpoint(struct snapper_genl *g,
			    const struct snapper_ckpt_request *req,
			    const struct snapper_ckpt_ops *ops);

/* Tells the module that checkpoint @ckpt is durable as generation @gen. */
int snapper_genl_ack(struct snapper_genl *g, uint32_t pid, uint64_t store_id,
		     uint64_t ckpt, uint64_t gen);

/* The kernel's extack message for the last failed request, or NULL. */
const char *snapper_genl_errmsg(struct snapper_genl *g);

/* One line for a failed snapper_genl_* call, naming the module when absent. */
const char *snapper_genl_strerror(int err);

#endif /* SNAPPER_GENL_H */
