// SPDX-License-Identifier: GPL-2.0
/*
 * Running totals under /sys/kernel/snapper/, one read-only file each, so
 * that tests and operators can check what the module holds (pages_held
 * must come back to 0 when no stream is open) and what it has done.
 */
#include "compat.h"

#include <linux/atomic.h>
#include <linux/kobject.h>
#include <linux/sysfs.h>

#include "stats.h"

static atomic64_t stats[__SNAPPER_STAT_NR];
static struct kobject *stats_kobj;

/**
 * snapper_stats_add() - add to one counter
 * @stat: which
 * @delta: how much (negative for the levels)
 */
void snapper_stats_add(enum snapper_stat stat, s64 delta)
{
	if (WARN_ON_ONCE(stat >= __SNAPPER_STAT_NR))
		return;
	atomic64_add(delta, &stats[stat]);
}

/**
 * snapper_stats_read() - read one counter
 * @stat: which
 *
 * Return: its value.
 */
s64 snapper_stats_read(enum snapper_stat stat)
{
	if (WARN_ON_ONCE(stat >= __SNAPPER_STAT_NR))
		return 0;
	return atomic64_read(&stats[stat]);
}

struct stat_attr {
	struct kobj_attribute attr;
	enum snapper_stat stat;
};

static ssize_t stat_show(struct kobject *kobj, struct kobj_attribute *attr,
			 char *buf)
{
	struct stat_attr *sa = container_of(attr, struct stat_attr, attr);

	return sysfs_emit(buf, "%lld\n", snapper_stats_read(sa->stat));
}

#define STAT_ATTR(_name, _stat)						\
	static struct stat_attr stat_attr_##_name = {			\
		.attr = __ATTR(_name, 0444, stat_show, NULL),		\
		.stat = _stat,						\
	}

STAT_ATTR(checkpoints, SNAPPER_STAT_CHECKPOINTS);
STAT_ATTR(pages_scanned, SNAPPER_STAT_PAGES_SCANNED);
STAT_ATTR(pages_sent, SNAPPER_STAT_PAGES_SENT);
STAT_ATTR(pages_thp, SNAPPER_STAT_PAGES_THP);
STAT_ATTR(pages_swap, SNAPPER_STAT_PAGES_SWAP);
STAT_ATTR(vmas_softdirty, SNAPPER_STAT_VMAS_SOFTDIRTY);
STAT_ATTR(pages_copied, SNAPPER_STAT_PAGES_COPIED);
STAT_ATTR(freeze_us, SNAPPER_STAT_FREEZE_US);
STAT_ATTR(walk_us, SNAPPER_STAT_WALK_US);
STAT_ATTR(pages_thp_unchanged, SNAPPER_STAT_PAGES_THP_UNCHANGED);
STAT_ATTR(give_backs_abandoned, SNAPPER_STAT_GIVE_BACKS_ABANDONED);
STAT_ATTR(pages_held, SNAPPER_STAT_PAGES_HELD);
STAT_ATTR(sessions, SNAPPER_STAT_SESSIONS);

static struct attribute *stat_attrs[] = {
	&stat_attr_checkpoints.attr.attr,
	&stat_attr_pages_scanned.attr.attr,
	&stat_attr_pages_sent.attr.attr,
	&stat_attr_pages_thp.attr.attr,
	&stat_attr_pages_swap.attr.attr,
	&stat_attr_vmas_softdirty.attr.attr,
	&stat_attr_pages_copied.attr.attr,
	&stat_attr_freeze_us.attr.attr,
	&stat_attr_walk_us.attr.attr,
	&stat_attr_pages_thp_unchanged.attr.attr,
	&stat_attr_give_backs_abandoned.attr.attr,
	&stat_attr_pages_held.attr.attr,
	&stat_attr_sessions.attr.attr,
	NULL
};

static const struct attribute_group stat_group = {
	.attrs = stat_attrs,
};

/**
 * snapper_stats_init() - create /sys/kernel/snapper/
 *
 * Return: 0 or -errno.
 */
int snapper_stats_init(void)
{
	int ret;

	stats_kobj = kobject_create_and_add("snapper", kernel_kobj);
	if (!stats_kobj)
		return -ENOMEM;
	ret = sysfs_create_group(stats_kobj, &stat_group);
	if (ret)
		goto err_kobj;
	return 0;

err_kobj:
	kobject_put(stats_kobj);
	return ret;
}

void snapper_stats_uninit(void)
{
	sysfs_remove_group(stats_kobj, &stat_group);
	kobject_put(stats_kobj);
}
