/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SNAPPER_FREEZE_H
#define _SNAPPER_FREEZE_H

#include <linux/types.h>

struct mm_struct;
struct task_struct;
struct snapper_freeze;

struct snapper_freeze *snapper_freeze_start(struct task_struct *leader,
					    struct mm_struct *mm,
					    u32 *nr_threads);
int snapper_freeze_check(struct snapper_freeze *f);
void snapper_freeze_thaw(struct snapper_freeze *f);
void snapper_freeze_uninit(void);

#endif /* _SNAPPER_FREEZE_H */
