/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SNAPPER_SHARED_H
#define _SNAPPER_SHARED_H

#include <linux/types.h>

struct snapper_session;
struct snapper_snapshot;
struct vm_area_struct;

bool snapper_shared_covers(struct vm_area_struct *vma);
bool snapper_shared_under(struct vm_area_struct *vma);
unsigned long snapper_shared_end(struct vm_area_struct *vma);
pgoff_t snapper_shared_next(struct vm_area_struct *vma, pgoff_t index,
			    pgoff_t last, pgoff_t *end);
int snapper_shared_read(struct snapper_session *s,
			struct snapper_snapshot *snap);

#endif /* _SNAPPER_SHARED_H */
