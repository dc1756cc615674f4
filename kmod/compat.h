/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Force-included into every file of the module (see Kbuild): the one place
 * where differences between the supported kernels are bridged.
 */
#ifndef _SNAPPER_COMPAT_H
#define _SNAPPER_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "snapper needs Linux 6.1 or newer"
#endif

#ifndef pr_fmt
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#endif

#endif /* _SNAPPER_COMPAT_H */
