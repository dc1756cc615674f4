/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A page queue between a page source and a generation: the source's
 * thread copies and digests each page, a writer thread adds them to the
 * generation. See pageq.c for why.
 */
#ifndef SNAPPER_PAGEQ_H
#define SNAPPER_PAGEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct pageq;

/*
 * Starts the writer thread for @g; with @background, at a lower priority
 * than the caller's (pageq.c says when). Return: 0 or a negative errno.
 */
int pageq_start(struct pageq **out, struct store_gen *g, bool background);
/*
 * Queues a copy of the page @data at @vaddr.
 * Return: 0, or the writer's error (the first one; it sticks).
 */
int pageq_add(struct pageq *q, uint64_t vaddr, const void *data);
/* Waits until every queued page is in the generation. Return: as above. */
int pageq_drain(struct pageq *q);
/*
 * Drains, stops the thread and frees @q (NULL is a no-op). On error the
 * writer's store_strerror() line is copied to @err.
 * Return: 0 or the writer's error.
 */
int pageq_stop(struct pageq *q, char *err, size_t errlen);

#endif /* SNAPPER_PAGEQ_H */
