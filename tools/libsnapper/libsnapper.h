/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libsnapper: memory of an application that outlives the process.
 *
 * The application keeps its state in a region at a fixed address. At
 * start-up snapper_persist_open() maps the region and fills it from the
 * newest generation of a Snapper store; snapper_persist_checkpoint() saves
 * the process into that store whenever the application's state is
 * consistent. After a crash or kill -9, the next start carries on from the
 * last checkpoint. Pointers inside the region stay valid: the address
 * never changes.
 *
 *	struct state *st = (void *)0x7e5000000000;
 *	struct snapper_persist *p;
 *
 *	if (snapper_persist_open("/var/lib/app/store", st, 1 << 20, 0, &p))
 *		errx(1, "%s", snapper_persist_strerror());
 *	for (;;) {
 *		work(st);
 *		if (snapper_persist_checkpoint(p, NULL))
 *			warnx("%s", snapper_persist_strerror());
 *	}
 *
 * A checkpoint is the process checkpointing itself through the snapper
 * module, which needs no privilege. It captures every mapping of the
 * process, not only the region (the store can then be inspected, diffed
 * and exported as for any checkpoint); only the region is restored. The
 * other threads of the process are held out of user mode for the moment
 * of the page walk, so the region is captured as of one instant.
 *
 * Link with build/libsnapper.a and `pkg-config --libs libnl-genl-3.0`
 * and -lxxhash -llz4. Functions return 0 or a negative errno; on failure
 * snapper_persist_strerror() gives one line naming what failed.
 */
#ifndef LIBSNAPPER_H
#define LIBSNAPPER_H

#include <stddef.h>
#include <stdint.h>

struct snapper_persist;

/* snapper_persist_open() flags */
#define SNAPPER_PERSIST_FRESH	(1U << 0)	/* start from zeros */

/*
 * Maps @size bytes (a multiple of the page size) of private anonymous
 * memory at @addr, which must be free (MAP_FIXED_NOREPLACE), and fills it
 * with the region's content in the newest generation of the store in
 * @store_dir. A store that does not exist yet, or SNAPPER_PERSIST_FRESH,
 * leaves it zero. A newest generation that does not cover the whole
 * region (the application moved or grew it) is refused with -ESTALE,
 * one whose pages fail their hash check with -EIO: never a silent start
 * from zeros.
 */
int snapper_persist_open(const char *store_dir, void *addr, size_t size,
			 unsigned int flags, struct snapper_persist **out);

/*
 * Checkpoints the calling process into the store; @generation (may be
 * NULL) receives the new generation's number. The store's retention
 * policy (the module's knobs) applies after the commit. -EBUSY when
 * another checkpoint of this process is in progress (snapper-tool watch,
 * another thread): nothing is lost, try again later. One call at a time
 * per handle.
 */
int snapper_persist_checkpoint(struct snapper_persist *p, uint64_t *generation);

/* The generation the region was filled from at open, 0 if none. */
uint64_t snapper_persist_restored(const struct snapper_persist *p);

/* Frees the handle; the region stays mapped. */
void snapper_persist_close(struct snapper_persist *p);

/* What the last failed call of this thread failed on, one line. */
const char *snapper_persist_strerror(void);

#endif /* LIBSNAPPER_H */
