// SPDX-License-Identifier: GPL-2.0
/*
 * Snapper: persistent, incremental snapshots of a process's memory.
 * This file only brings the parts up and down; each lives in its own file.
 */
#include "compat.h"

#include <linux/module.h>
#include <net/genetlink.h>
#include <linux/snapper.h>

#include "freeze.h"
#include "netlink.h"
#include "session.h"
#include "stats.h"

static int __init snapper_init(void)
{
	int ret;

	ret = snapper_stats_init();
	if (ret)
		goto err_stats;
	ret = snapper_session_init();
	if (ret)
		goto err_session;
	ret = snapper_netlink_init();
	if (ret)
		goto err_netlink;

	pr_info("version %s loaded\n", SNAPPER_VERSION);
	return 0;

err_netlink:
	snapper_session_uninit();
err_session:
	snapper_stats_uninit();
err_stats:
	return ret;
}

static void __exit snapper_exit(void)
{
	/* No stream is open once the family is gone: drop the sessions. */
	snapper_netlink_uninit();
	snapper_session_uninit();
	snapper_stats_uninit();
	/* A parking thread may still be returning through our text. */
	snapper_freeze_uninit();
}

module_init(snapper_init);
module_exit(snapper_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Incremental snapshots of a process's memory from soft-dirty bits");
MODULE_VERSION(SNAPPER_VERSION);
MODULE_AUTHOR("Snapper for Linux developers");
MODULE_ALIAS_GENL_FAMILY(SNAPPER_GENL_NAME);
