/* SPDX-License-Identifier: GPL-2.0 */
/* What the files of libsnapper share; applications see libsnapper.h only. */
#ifndef LIBSNAPPER_INTERNAL_H
#define LIBSNAPPER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "libsnapper.h"

struct snapper_persist {
	char *dir;
	void *addr;
	size_t size;
	uint64_t restored;
	pthread_mutex_t lock;	/* one checkpoint at a time */
};

/* Sets this thread's error line and returns @err. */
int persist_err(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* LIBSNAPPER_INTERNAL_H */
