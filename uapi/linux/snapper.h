/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Snapper: incremental snapshots of a process's memory.
 *
 * This header is the contract between the snapper kernel module and its
 * userspace tools. It is a generic netlink family named SNAPPER_GENL_NAME,
 * version SNAPPER_GENL_VERSION. Every attribute is listed below with its
 * type and limits. The protocol is append-only: commands and attributes are
 * never renumbered or removed, and new ones go before the __*_LAST markers.
 *
 * Errors come back as netlink error acknowledgements carrying a negative
 * errno; where the module has more to say it adds an extack message (and,
 * for a bad attribute, the offending attribute). Unknown attributes are
 * rejected (strict validation), as are unknown flag bits (-EOPNOTSUPP).
 *
 * SNAPPER_CMD_GET_CONFIG (doit; no privilege needed)
 *   Request: no attributes.
 *   Reply, one message with command SNAPPER_CMD_GET_CONFIG:
 *     SNAPPER_A_MODULE_VERSION    string, at most 31 bytes  "MAJOR.MINOR.PATCH"
 *     SNAPPER_A_PROTOCOL_VERSION  u32                       SNAPPER_PROTOCOL_VERSION
 *     SNAPPER_A_CONFIG            nested, the module's knobs as of the request:
 *       SNAPPER_A_CONFIG_VERBOSE        u8   0 or 1
 *       SNAPPER_A_CONFIG_THRESHOLD      u32  max files in one store directory,
 *                                            16..1048576
 *       SNAPPER_A_CONFIG_INTEGRITY      u8   0 (warn, use a redundant copy) or
 *                                            1 (refuse on a failed hash check)
 *       SNAPPER_A_CONFIG_REDUNDANCY     u32  generations one stored copy backs
 *                                            before a fresh copy is written,
 *                                            0 (never) ..1000000
 *       SNAPPER_A_CONFIG_MAX_SNAPSHOTS  u32  0 (unlimited) ..1000000
 *       SNAPPER_A_CONFIG_MIN_SNAPSHOTS  u32  0..1000000
 *       SNAPPER_A_CONFIG_EXPIRATION     u64  seconds a generation is kept,
 *                                            0 (forever) ..(1 << 40)
 *
 * The knobs are module parameters (/sys/module/snapper/parameters/), the
 * single source of truth; GET_CONFIG reads them. They are written through
 * sysfs or at insmod time, never through netlink.
 */
#ifndef _UAPI_LINUX_SNAPPER_H
#define _UAPI_LINUX_SNAPPER_H

#define SNAPPER_GENL_NAME		"snapper"
#define SNAPPER_GENL_VERSION		1

/* Bumped on any change to this header a peer must know about. */
#define SNAPPER_PROTOCOL_VERSION	1

/* Longest SNAPPER_A_MODULE_VERSION string, including the NUL. */
#define SNAPPER_VERSION_LEN		32

enum snapper_cmd {
	SNAPPER_CMD_UNSPEC,
	SNAPPER_CMD_GET_CONFIG,

	__SNAPPER_CMD_LAST
};
#define SNAPPER_CMD_MAX (__SNAPPER_CMD_LAST - 1)

enum snapper_attr {
	SNAPPER_A_UNSPEC,
	SNAPPER_A_MODULE_VERSION,	/* string */
	SNAPPER_A_PROTOCOL_VERSION,	/* u32 */
	SNAPPER_A_CONFIG,		/* nested: enum snapper_config_attr */

	__SNAPPER_A_LAST
};
#define SNAPPER_A_MAX (__SNAPPER_A_LAST - 1)

enum snapper_config_attr {
	SNAPPER_A_CONFIG_UNSPEC,
	SNAPPER_A_CONFIG_VERBOSE,	/* u8 */
	SNAPPER_A_CONFIG_THRESHOLD,	/* u32 */
	SNAPPER_A_CONFIG_INTEGRITY,	/* u8 */
	SNAPPER_A_CONFIG_REDUNDANCY,	/* u32 */
	SNAPPER_A_CONFIG_MAX_SNAPSHOTS,	/* u32 */
	SNAPPER_A_CONFIG_MIN_SNAPSHOTS,	/* u32 */
	SNAPPER_A_CONFIG_EXPIRATION,	/* u64, seconds */

	__SNAPPER_A_CONFIG_LAST
};
#define SNAPPER_A_CONFIG_MAX (__SNAPPER_A_CONFIG_LAST - 1)

/* Knob limits, shared so that the tools validate as the module does. */
#define SNAPPER_THRESHOLD_MIN		16U
#define SNAPPER_THRESHOLD_MAX		1048576U
#define SNAPPER_COUNT_MAX		1000000U
#define SNAPPER_EXPIRATION_MAX		(1ULL << 40)

#endif /* _UAPI_LINUX_SNAPPER_H */
