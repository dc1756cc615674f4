/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SNAPPER_PARAMS_H
#define _SNAPPER_PARAMS_H

#include <linux/types.h>

/* A consistent copy of the knobs, taken under the module's parameter lock. */
struct snapper_config {
	bool verbose;
	bool integrity;
	u32 threshold;
	u32 redundancy;
	u32 max_snapshots;
	u32 min_snapshots;
	u64 expiration;
	u32 stream_timeout_ms;
};

void snapper_params_get(struct snapper_config *cfg);
unsigned int snapper_params_stream_timeout_ms(void);
bool snapper_params_swap_prefetch(void);

#endif /* _SNAPPER_PARAMS_H */
