/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tools' only view of the kernel module. genl.c is the one file that
 * speaks netlink; everything else sees these plain structs.
 */
#ifndef SNAPPER_GENL_H
#define SNAPPER_GENL_H

#include <stdbool.h>
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

/* The kernel's extack message for the last failed request, or NULL. */
const char *snapper_genl_errmsg(struct snapper_genl *g);

/* One line for a failed snapper_genl_* call, naming the module when absent. */
const char *snapper_genl_strerror(int err);

#endif /* SNAPPER_GENL_H */
