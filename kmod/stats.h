/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SNAPPER_STATS_H
#define _SNAPPER_STATS_H

#include <linux/types.h>

/* Running totals, shown read-only in /sys/kernel/snapper/. */
enum snapper_stat {
	SNAPPER_STAT_CHECKPOINTS,
	SNAPPER_STAT_PAGES_SCANNED,
	SNAPPER_STAT_PAGES_SENT,
	SNAPPER_STAT_PAGES_THP,
	SNAPPER_STAT_PAGES_SWAP,
	SNAPPER_STAT_VMAS_SOFTDIRTY,
	SNAPPER_STAT_PAGES_COPIED,
	SNAPPER_STAT_FREEZE_US,
	SNAPPER_STAT_WALK_US,
	SNAPPER_STAT_PAGES_THP_UNCHANGED,
	SNAPPER_STAT_GIVE_BACKS_ABANDONED,
	SNAPPER_STAT_PAGES_HELD,	/* a level, not a total */
	SNAPPER_STAT_SESSIONS,		/* a level, not a total */
	__SNAPPER_STAT_NR
};

void snapper_stats_add(enum snapper_stat stat, s64 delta);
s64 snapper_stats_read(enum snapper_stat stat);
int snapper_stats_init(void);
void snapper_stats_uninit(void);

#endif /* _SNAPPER_STATS_H */
