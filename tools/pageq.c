// SPDX-License-Identifier: GPL-2.0
/*
 * The page queue: two threads per checkpoint stream.
 *
 * A profile of a full checkpoint (Documentation/benchmarks.rst) showed one
 * CPU idle: the module's work runs inside the reader's recvmsg() (copying
 * pages into the dump, hashing huge-page subpages), and the same thread
 * then hashed every page (XXH3-128) and wrote it. Now the source's thread
 * receives pages into a batch and digests them; a writer thread
 * adds the digested pages to the generation (dedup lookup, pack write,
 * and the writeback that sync_file_range() starts in its context). With
 * the hash on the writer's side instead, a per-thread profile had the
 * writer at 43% of the samples and the receiver at 26%, and a full
 * checkpoint took a fifth longer.
 *
 * The module's stream is received straight into the batches: genl.c asks
 * pageq_space() where to put each recvmsg(), and a page message's data is
 * queued where it landed (pageq_add()), not copied again; the writer
 * copies it into the pack's buffer. Both the copy into a batch and
 * libnl's copy of every message into an nl_msg of its own were on the
 * source's thread, the bound: without them full checkpoints took 10 to
 * 17 % less time (bench/incr-ab, benchmarks.rst). Pages from elsewhere
 * (the /proc source reads its own buffer) are copied in.
 *
 * The digest goes to whichever thread has the time: the source digests a
 * batch it starts while DIGEST_BACKLOG batches or more wait for the
 * writer, and leaves it to the writer otherwise. With the digest always on
 * the source's side the writer idled two thirds of a full checkpoint, and
 * with it always on the writer's the source waited for room; on a quiet
 * host (bench/incr-ab, 6.1 guest, 256 MiB, Documentation/benchmarks.rst)
 * the split made full checkpoints 4 to 21 % faster by the median.
 *
 * The writer also waits for the disk: each O_DIRECT write of the store's
 * 1 MiB buffer (about two batches) blocks it, and batches pile up meanwhile
 * although it is not short of CPU. With a ring of 8 and a backlog of 2,
 * the source's thread still digested most batches and was the bound (90 %
 * of a CPU, the writer 36 %, the other CPU idle a third of a full
 * checkpoint: perf by thread, 2026-12-03); a ring of 16 batches of 64
 * pages that the source digests from only once half of it waits, twice
 * what one write holds back, made full checkpoints and 50 % steps 5 to
 * 14 % faster in two boots (benchmarks.rst), small steps level. The ring
 * is now NBATCH batches of BATCH_BYTES, the same 4 MiB, half of it again
 * before the source digests.
 *
 * Batches of BATCH_BYTES of received stream (pages and the messages'
 * other bytes, which the next receive overwrites) go round a ring of
 * NBATCH; the source waits when all are queued (4 MiB in flight), the
 * writer when none is. The writer's first page also waits for the
 * store's content index (store_content_index(); a checkpoint starts it
 * ahead, ckpt.c), so the source fills the ring meanwhile; while pages
 * are queued the generation and its store are the writer's alone (ckpt.c
 * keeps the layout and the holes until the last page). Pages are
 * added in the order the source gave them, which the store relies on (the
 * last page fed at an address wins).
 *
 * From the module, the writer is background work: it runs
 * PAGEQ_WRITER_NICE above the caller's nice value. The target is thawed
 * before the first page arrives, and a target that runs while it is
 * checkpointed competes with the writer for a CPU when there are fewer
 * CPUs than busy threads.
 * In the bench's slowdown series (one spinning target, 2 vCPUs,
 * Documentation/benchmarks.rst) the target lost 62.6 % of its rate with
 * the writer at the caller's priority and 38.7 % at +10, CRIU's 39.2 % in
 * the same boot. The freeze and the source's thread keep the caller's
 * priority, so the walk and the stream out of the kernel are not slowed;
 * the writer only waits longer for a CPU when every CPU is busy, and the
 * source then waits for room. `nice -n -10 snapper-tool ...` puts the
 * writer back at 0. From /proc the target stays stopped until the last
 * page is queued: there the writer keeps the caller's priority, or a busy
 * machine would lengthen the stop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pageq.h"

#define BATCH_BYTES	(512 * 1024)
#define BATCH_PAGES	(BATCH_BYTES / STORE_PAGE_SIZE)
#define NBATCH		8
#define DIGEST_BACKLOG	(NBATCH / 2)

struct batch {
	unsigned int n;
	size_t used;			/* bytes of data[] that pages hold */
	bool digested;			/* by the source; else the writer digests */
	uint64_t vaddr[BATCH_PAGES];
	const uint8_t *page[BATCH_PAGES];	/* in data[] */
	struct store_digest digest[BATCH_PAGES];
	uint8_t *data;			/* BATCH_BYTES */
};

struct pageq {
	struct store_gen *g;
	pthread_t writer;
	pthread_mutex_t lock;
	pthread_cond_t more;		/* a batch was queued, or stop */
	pthread_cond_t room;		/* a batch was written */
	struct batch batch[NBATCH];
	uint8_t *pages;
	unsigned long queued;		/* batches handed over, ever */
	unsigned long written;		/* batches the writer is done with */
	bool filling;			/* batch[queued % NBATCH] is the source's */
	const uint8_t *lent;		/* pageq_space()'s, in the filling batch */
	size_t lent_len;
	bool background;		/* the writer runs at WRITER_NICE */
	bool stop;
	int err;			/* the writer's first error */
	char msg[512];			/* and its store_strerror() */
};

/* Adds one batch; after an error, only skips it (the stream is lost). */
static void write_batch(struct pageq *q, struct batch *b)
{
	unsigned int i;
	int ret;

	for (i = 0; i < b->n; i++) {
		const uint8_t *page = b->page[i];

		if (!b->digested)
			store_page_digest(page, &b->digest[i]);
		ret = store_gen_add_digested(q->g, b->vaddr[i], page,
					     &b->digest[i]);
		if (ret) {
			pthread_mutex_lock(&q->lock);
			q->err = ret;
			snprintf(q->msg, sizeof(q->msg), "%s", store_strerror());
			pthread_mutex_unlock(&q->lock);
			return;
		}
	}
}

static void *writer(void *arg)
{
	struct pageq *q = arg;
	struct batch *b;
	bool skip;

	if (q->background)
		store_thread_nice(PAGEQ_WRITER_NICE);

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (q->written == q->queued && !q->stop)
			pthread_cond_wait(&q->more, &q->lock);
		if (q->written == q->queued)
			break;
		b = &q->batch[q->written % NBATCH];
		skip = q->err;
		pthread_mutex_unlock(&q->lock);
		if (!skip)
			write_batch(q, b);
		pthread_mutex_lock(&q->lock);
		q->written++;
		pthread_cond_signal(&q->room);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int pageq_start(struct pageq **out, struct store_gen *g, bool background)
{
	struct pageq *q = calloc(1, sizeof(*q));
	int i, ret;

	*out = NULL;
	if (!q)
		return -ENOMEM;
	q->g = g;
	q->background = background;
	q->pages = malloc((size_t)NBATCH * BATCH_BYTES);
	if (!q->pages) {
		free(q);
		return -ENOMEM;
	}
	for (i = 0; i < NBATCH; i++)
		q->batch[i].data = q->pages + (size_t)i * BATCH_BYTES;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->more, NULL);
	pthread_cond_init(&q->room, NULL);
	ret = pthread_create(&q->writer, NULL, writer, q);
	if (ret) {
		free(q->pages);
		free(q);
		return -ret;
	}
	*out = q;
	return 0;
}

/* Hands the filling batch to the writer. Call with the lock held. */
static void queue_batch(struct pageq *q)
{
	q->filling = false;
	q->lent = NULL;
	q->queued++;
	pthread_cond_signal(&q->more);
}

/*
 * The batch being filled, with room for @len more bytes: the one being
 * filled if it has it, else the next one once the writer is done with it.
 * Return: as pageq_add().
 */
static int filling(struct pageq *q, size_t len, struct batch **out)
{
	struct batch *b = &q->batch[q->queued % NBATCH];
	int err;

	pthread_mutex_lock(&q->lock);
	if (q->filling && b->used + len > BATCH_BYTES) {
		queue_batch(q);
		b = &q->batch[q->queued % NBATCH];
	}
	if (!q->filling) {
		while (q->queued - q->written == NBATCH)
			pthread_cond_wait(&q->room, &q->lock);
		/* Whoever has the time digests: see the top of this file. */
		b->digested = q->queued - q->written >= DIGEST_BACKLOG;
		b->n = 0;
		b->used = 0;
		q->filling = true;
	}
	err = q->err;
	pthread_mutex_unlock(&q->lock);
	*out = b;
	return err;
}

void *pageq_space(struct pageq *q, size_t len)
{
	struct batch *b;

	q->lent = NULL;
	if (len > BATCH_BYTES || filling(q, len, &b))
		return NULL;
	q->lent = b->data + b->used;
	q->lent_len = len;
	return (void *)q->lent;
}

int pageq_add(struct pageq *q, uint64_t vaddr, const void *data)
{
	const uint8_t *p = data;
	struct batch *b = &q->batch[q->queued % NBATCH];
	int err;

	if (q->lent && p >= q->lent &&
	    p + STORE_PAGE_SIZE <= q->lent + q->lent_len) {
		/* Received where it stays: taken as it lies. */
		b->used = p + STORE_PAGE_SIZE - b->data;
	} else {
		/* From elsewhere: copied in, and the loan is over. */
		q->lent = NULL;
		err = filling(q, STORE_PAGE_SIZE, &b);
		if (err)
			return err;
		memcpy(b->data + b->used, p, STORE_PAGE_SIZE);
		p = b->data + b->used;
		b->used += STORE_PAGE_SIZE;
	}
	if (b->digested)
		store_page_digest(p, &b->digest[b->n]);
	b->page[b->n] = p;
	b->vaddr[b->n++] = vaddr;
	return 0;
}

int pageq_drain(struct pageq *q)
{
	int err;

	pthread_mutex_lock(&q->lock);
	if (q->filling)
		queue_batch(q);
	while (q->written != q->queued)
		pthread_cond_wait(&q->room, &q->lock);
	err = q->err;
	pthread_mutex_unlock(&q->lock);
	return err;
}

int pageq_stop(struct pageq *q, char *err, size_t errlen)
{
	int ret;

	if (!q)
		return 0;
	ret = pageq_drain(q);
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->writer, NULL);
	if (ret && err)
		snprintf(err, errlen, "%s", q->msg);
	pthread_cond_destroy(&q->room);
	pthread_cond_destroy(&q->more);
	pthread_mutex_destroy(&q->lock);
	free(q->pages);
	free(q);
	return ret;
}
