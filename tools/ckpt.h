/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One checkpoint, from the page source into a new durable generation and
 * back to the source as an acknowledgement. Shared by snapper-tool
 * checkpoint and libsnapper; it prints nothing.
 */
#ifndef SNAPPER_CKPT_H
#define SNAPPER_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "genl.h"

struct ckpt_result {
	uint64_t generation;
	bool full;
	/*
	 * Committed, but the process exited or exec'd before the
	 * acknowledgement: the module kept nothing of it to acknowledge.
	 */
	bool target_gone;
	/*
	 * Times the module asked for the checkpoint again (a clone() it did
	 * not freeze completed during its walk); each retry is FULL.
	 */
	unsigned int retries;
	struct snapper_ckpt_stats stats;
};

/*
 * Checkpoints @pid into the store @dir. @g is the module's connection, or
 * NULL for the /proc page source (then the store's default knobs apply;
 * otherwise the module's). @flags are SNAPPER_CKPT_F_*, and CKPT_F_LZ4,
 * which the tool keeps: the new pack's pages compressed with LZ4
 * (store_set_codec()).
 *
 * The generation is committed before it is acknowledged: if the
 * acknowledgement fails, the generation stands, the source owes the pages
 * again, and -EAGAIN is returned with @res filled: @res->generation is not
 * 0 exactly when a generation was committed. If the module answers
 * that the process has no session (ESRCH: it exited or exec'd since the
 * freeze, and what it owed went with its memory), that is success with
 * @res->target_gone set. If the module answers the checkpoint itself with
 * -EAGAIN, the checkpoint is taken again, up to CKPT_TRIES times in all.
 *
 * Return: 0, or a negative errno with one line in @err naming what failed.
 */
#define CKPT_TRIES	3

/* Not a module flag: never sent, outside __SNAPPER_CKPT_F_ALL. */
#define CKPT_F_LZ4	(1U << 31)

int ckpt_run(struct snapper_genl *g, const char *dir, uint32_t pid,
	     uint32_t flags, struct ckpt_result *res, char *err, size_t errlen);

#endif /* SNAPPER_CKPT_H */
