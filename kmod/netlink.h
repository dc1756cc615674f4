/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SNAPPER_NETLINK_H
#define _SNAPPER_NETLINK_H

int snapper_netlink_init(void);
void snapper_netlink_uninit(void);

#endif /* _SNAPPER_NETLINK_H */
