/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Holding a process out of user mode with ptrace, for restore and the
 * /proc backend (threads.c).
 */
#ifndef SNAPPER_THREADS_H
#define SNAPPER_THREADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Threads held at most: more fails with E2BIG rather than grow unbounded. */
#define MAX_THREADS 65536

struct tracee {
	pid_t tid;
	int sig;	/* a signal caught at our stop, handed back on detach */
};

struct held {
	struct tracee *t;
	size_t n, cap;
	const char *what;	/* on failure: what failed, */
	pid_t tid;		/* and for which thread or process */
};

/*
 * Seizes and stops every thread of @pid and of the processes that share
 * its mm, into @h (zeroed, or released), at most @max threads. Threads
 * that exit meanwhile are left out. Return: 0, or -errno with h->what and
 * h->tid saying what failed (-ESRCH: no thread of @pid left; -E2BIG: more
 * than @max). Whatever was held is held until threads_release(), failure
 * or not.
 */
int threads_hold(pid_t pid, struct held *h, size_t max);

/* Lets every held thread go, with the signal it was stopped by, if any. */
void threads_release(struct held *h);

#endif /* SNAPPER_THREADS_H */
