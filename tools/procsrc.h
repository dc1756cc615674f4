/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The userspace page source (snapper-tool checkpoint --backend=proc): the
 * same stream as the module's, made from /proc/PID/pagemap, clear_refs and
 * /proc/PID/mem, for machines where the module cannot be loaded.
 */
#ifndef SNAPPER_PROCSRC_H
#define SNAPPER_PROCSRC_H

#include "genl.h"

/*
 * Stops every thread of req->pid (ptrace, invisible to its parent), reads
 * the soft-dirty pages (all present ones for a full checkpoint) and the
 * layout, clears soft-dirty, resumes the target, then feeds @ops exactly
 * as snapper_genl_checkpoint() does. Returns 0 or a negative errno.
 */
int proc_checkpoint(const struct snapper_ckpt_request *req,
		    const struct snapper_ckpt_ops *ops);

/* Records that checkpoint @ckpt of @pid is durable as generation @gen. */
int proc_ack(uint32_t pid, uint64_t store_id, uint64_t ckpt, uint64_t gen);

/* One line about the last failure of proc_checkpoint()/proc_ack(). */
const char *proc_strerror(void);

#endif /* SNAPPER_PROCSRC_H */
