// SPDX-License-Identifier: GPL-2.0
/*
 * libsnapper: the process checkpoints itself. The module lets a process
 * checkpoint itself without privilege and never freezes the calling
 * thread, so the thread that asks is the one that streams the pages into
 * the store; the others stay out of user mode only for the page walk.
 * The flow is snapper-tool checkpoint's (tools/ckpt.c).
 */
#include <errno.h>
#include <unistd.h>

#include "../ckpt.h"
#include "internal.h"

int snapper_persist_checkpoint(struct snapper_persist *p, uint64_t *generation)
{
	struct snapper_genl *g;
	struct ckpt_result res;
	char err[512];
	int ret;

	pthread_mutex_lock(&p->lock);
	ret = snapper_genl_open(&g);
	if (ret) {
		persist_err(ret, "connecting to the module: %s",
			    snapper_genl_strerror(ret));
	} else {
		ret = ckpt_run(g, p->dir, (uint32_t)getpid(), 0, &res, err,
			       sizeof(err));
		snapper_genl_close(g);
		/* Committed: a failed acknowledgement only makes the next resend. */
		if (res.generation)
			ret = 0;
		if (ret)
			persist_err(ret, "%s", err);
	}
	pthread_mutex_unlock(&p->lock);
	if (!ret && generation)
		*generation = res.generation;
	return ret;
}
