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

/* How far above the caller's nice value a background writer runs. */
#define PAGEQ_WRITER_NICE	10

/*
 * Starts the writer thread for @g; with @background, at a lower priority
 * than the caller's (pageq.c says when). Return: 0 or a negative errno.
 */
int pageq_start(struct pageq **out, struct store_gen *g, bool background);
/*
 * Lends @len bytes (at most 512 KiB) of the queue's memory, to receive
 * pages into, until the next call; NULL after a writer's error.
 */
void *pageq_space(struct pageq *q, size_t len);
/*
 * Queues the page @data at @vaddr: taken where it lies if it is in the
 * space lent, else copied in (which ends the loan).
 * Return: 0, or the writer's error (the first one; it sticks, and shows
 * here by the next pageq_space() at the latest).
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
