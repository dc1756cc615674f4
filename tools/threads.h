/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What restore and the /proc backend both ask of a thread they are about
 * to seize with ptrace.
 */
#ifndef SNAPPER_THREADS_H
#define SNAPPER_THREADS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/*
 * Is thread @tid of @pid gone or on its way out: no longer listed, or a
 * zombie ("Z") or dead ("X")? Such a thread has no user mode left to keep
 * it from, and PTRACE_SEIZE refuses it with EPERM (ptrace_attach() checks
 * exit_state): a thread that exits between the listing of
 * /proc/PID/task and the seize must not fail the command. A leader that
 * exited before its threads stays listed as a zombie for as long as they
 * run.
 */
static inline bool thread_gone(pid_t pid, pid_t tid)
{
	char path[64], buf[256], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren && (paren[2] == 'Z' || paren[2] == 'X');
}

#endif /* SNAPPER_THREADS_H */
