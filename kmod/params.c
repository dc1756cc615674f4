// SPDX-License-Identifier: GPL-2.0
/*
 * The knobs, kept from Snapper 2.0 under their original names. The kernel
 * does not use most of them itself: the store writer reads them through
 * SNAPPER_CMD_GET_CONFIG, so that one sysfs write configures every store.
 * Every setter validates its range and leaves the old value on -EINVAL.
 */
#include "compat.h"

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/snapper.h>

#include "params.h"

/* GET_CONFIG reports it; the writer does not use it. */
#define STREAM_TIMEOUT_MIN_MS	100U
#define STREAM_TIMEOUT_MAX_MS	86400000U

/* Log each checkpoint to the kernel log. Default: false. */
static bool verbose;
module_param(verbose, bool, 0644);
MODULE_PARM_DESC(verbose, "Log each checkpoint (bool, default N)");

/*
 * No effect: the store checks every page it reads and always falls back to
 * a good copy. Kept (and reported in GET_CONFIG) so that existing module
 * options and netlink clients keep working.
 */
static bool integrity = true;
module_param(integrity, bool, 0644);
MODULE_PARM_DESC(integrity,
		 "No effect, kept for compatibility (bool, default Y)");

static int set_u32_in(const char *val, const struct kernel_param *kp,
		      u32 min, u32 max)
{
	u32 v;
	int ret;

	/* An unparsable or overflowing value is as invalid as one out of range. */
	ret = kstrtou32(val, 0, &v);
	if (ret || v < min || v > max)
		return -EINVAL;
	WRITE_ONCE(*(u32 *)kp->arg, v);
	return 0;
}

static int set_count(const char *val, const struct kernel_param *kp)
{
	return set_u32_in(val, kp, 0, SNAPPER_COUNT_MAX);
}

static const struct kernel_param_ops count_ops = {
	.set = set_count,
	.get = param_get_uint,
};

static int set_threshold(const char *val, const struct kernel_param *kp)
{
	return set_u32_in(val, kp, SNAPPER_THRESHOLD_MIN, SNAPPER_THRESHOLD_MAX);
}

static const struct kernel_param_ops threshold_ops = {
	.set = set_threshold,
	.get = param_get_uint,
};

static int set_expiration(const char *val, const struct kernel_param *kp)
{
	u64 v;
	int ret;

	ret = kstrtou64(val, 0, &v);
	if (ret || v > SNAPPER_EXPIRATION_MAX)
		return -EINVAL;
	WRITE_ONCE(*(u64 *)kp->arg, v);
	return 0;
}

static const struct kernel_param_ops expiration_ops = {
	.set = set_expiration,
	.get = param_get_ullong,
};

/* Most files in one store directory, 16..1048576. Default: 1024. */
static u32 threshold = 1024;
module_param_cb(threshold, &threshold_ops, &threshold, 0644);
MODULE_PARM_DESC(threshold,
		 "Max files in one store directory (16..1048576, default 1024)");

/*
 * Generations one stored copy of a content backs before the next generation
 * that needs it writes a fresh copy; 0 never writes one. Default: 8.
 */
static u32 redundancy = 8;
module_param_cb(redundancy, &count_ops, &redundancy, 0644);
MODULE_PARM_DESC(redundancy,
		 "Generations one copy backs before a fresh copy (0 = never, max 1000000, default 8)");

/* Most generations kept by retention, 0 for no limit. Default: 64. */
static u32 max_snapshots = 64;
module_param_cb(max_snapshots, &count_ops, &max_snapshots, 0644);
MODULE_PARM_DESC(max_snapshots,
		 "Most generations kept (0 = unlimited, max 1000000, default 64)");

/* Retention never leaves fewer generations than this. Default: 1. */
static u32 min_snapshots = 1;
module_param_cb(min_snapshots, &count_ops, &min_snapshots, 0644);
MODULE_PARM_DESC(min_snapshots,
		 "Fewest generations retention keeps (max 1000000, default 1)");

/* Seconds a generation is kept, 0 for ever. Default: 0. */
static u64 expiration;
module_param_cb(expiration, &expiration_ops, &expiration, 0644);
MODULE_PARM_DESC(expiration,
		 "Seconds a generation is kept (0 = forever, max 2^40, default 0)");

static int set_stream_timeout(const char *val, const struct kernel_param *kp)
{
	return set_u32_in(val, kp, STREAM_TIMEOUT_MIN_MS,
			  STREAM_TIMEOUT_MAX_MS);
}

static const struct kernel_param_ops stream_timeout_ops = {
	.set = set_stream_timeout,
	.get = param_get_uint,
};

/*
 * Longest a checkpoint stream may stay open, in milliseconds, 100..86400000.
 * A reader that stops reading pins the stream's pages and keeps other
 * checkpoints of the target waiting; past this, the stream is cancelled,
 * its pages released and owed to the next checkpoint. Default: 300000.
 */
static u32 stream_timeout_ms = 300000;
module_param_cb(stream_timeout_ms, &stream_timeout_ops, &stream_timeout_ms,
		0644);
MODULE_PARM_DESC(stream_timeout_ms,
		 "Longest life of a checkpoint stream (ms, 100..86400000, default 300000)");

/*
 * Fault the swapped-out pages a checkpoint selects back in before the
 * freeze (tracker.c), so that the freeze does not wait for their reads.
 * It takes at most half the room it finds below the limits (memory.max,
 * memory.high) of the target's memory cgroup and its ancestors, and of
 * the system's available memory; the freeze reads the rest. Default:
 * true. Off, the freeze reads every selected swapped-out page itself.
 */
static bool swap_prefetch = true;
module_param(swap_prefetch, bool, 0644);
MODULE_PARM_DESC(swap_prefetch,
		 "Read swapped-out pages in before the freeze, within half the memory cgroup's room (bool, default Y)");

/**
 * snapper_params_swap_prefetch() - the swap_prefetch knob
 *
 * Return: whether a checkpoint faults its swapped-out pages in first.
 */
bool snapper_params_swap_prefetch(void)
{
	return READ_ONCE(swap_prefetch);
}

/**
 * snapper_params_stream_timeout_ms() - the stream_timeout_ms knob
 *
 * Return: its value, in milliseconds.
 */
unsigned int snapper_params_stream_timeout_ms(void)
{
	return READ_ONCE(stream_timeout_ms);
}

/**
 * snapper_params_get() - copy the knobs as one consistent set
 * @cfg: where to put them
 *
 * Takes the module's parameter lock, so a concurrent sysfs write is seen
 * either whole or not at all.
 */
void snapper_params_get(struct snapper_config *cfg)
{
	kernel_param_lock(THIS_MODULE);
	cfg->verbose = verbose;
	cfg->integrity = integrity;
	cfg->threshold = threshold;
	cfg->redundancy = redundancy;
	cfg->max_snapshots = max_snapshots;
	cfg->min_snapshots = min_snapshots;
	cfg->expiration = expiration;
	cfg->stream_timeout_ms = stream_timeout_ms;
	kernel_param_unlock(THIS_MODULE);
}

#ifdef SNAPPER_KUNIT
#include "tests/params-kunit.h"
#endif
