// SPDX-License-Identifier: GPL-2.0
/*
 * Keeping a process out of user mode from userspace, for restore and the
 * /proc backend: every thread is seized with ptrace and interrupted, and
 * so is every thread of the other processes that share its mm without
 * sharing its thread group (clone(CLONE_VM) without CLONE_THREAD: the
 * child of vfork() or posix_spawn() until its exec), which would
 * otherwise write the memory while it is read or written. The module's
 * freeze holds the same set (kmod/freeze.c).
 *
 * Those processes are found by kcmp(KCMP_VM) against every process in
 * /proc, the only way userspace has to tell that two processes share an
 * mm; a kernel without kcmp (CONFIG_KCMP=n) finds none.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "threads.h"

/*
 * Is thread @tid of @pid gone or on its way out: no longer listed, or a
 * zombie ("Z") or dead ("X")? Such a thread has no user mode left to keep
 * it from, and PTRACE_SEIZE refuses it with EPERM (ptrace_attach() checks
 * exit_state): a thread that exits between the listing of
 * /proc/PID/task and the seize must not fail the command. A leader that
 * exited before its threads stays listed as a zombie for as long as they
 * run.
 */
static bool thread_gone(pid_t pid, pid_t tid)
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

static bool is_held(const struct held *h, pid_t tid)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->t[i].tid == tid)
			return true;
	return false;
}

static int failed(struct held *h, const char *what, pid_t tid, int err)
{
	h->what = what;
	h->tid = tid;
	return -err;
}

/*
 * Seizes and stops thread @tid of @pid. A signal-delivery stop may come
 * before the interrupt's: it stops the thread just as well, and the
 * signal is handed back at detach. Return: 1 if held, 0 if the thread is
 * gone, or -errno.
 */
static int hold(struct held *h, pid_t pid, pid_t tid)
{
	struct tracee *t;
	int status;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;

		t = realloc(h->t, cap * sizeof(*t));
		if (!t)
			return failed(h, "growing the thread list", tid, ENOMEM);
		h->t = t;
		h->cap = cap;
	}
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL))
		return errno == ESRCH || thread_gone(pid, tid) ? 0 :
		       failed(h, "ptrace(SEIZE)", tid, errno);
	t = &h->t[h->n++];
	*t = (struct tracee){ .tid = tid };
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) && errno != ESRCH)
		return failed(h, "ptrace(INTERRUPT)", tid, errno);
	while (waitpid(tid, &status, __WALL) < 0)
		if (errno != EINTR)
			return failed(h, "waitpid", tid, errno);
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		h->n--;
		return 0;
	}
	if (status >> 16 != PTRACE_EVENT_STOP)
		t->sig = WSTOPSIG(status);
	return 1;
}

/* The threads of @pid not held yet. Return: how many were added, or -errno. */
static int hold_process(struct held *h, pid_t pid, size_t max)
{
	char path[64];
	struct dirent *de;
	int ret = 0, added = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return failed(h, "reading the threads", pid, errno);
	while (ret >= 0 && (de = readdir(d))) {
		pid_t tid = (pid_t)strtol(de->d_name, NULL, 10);

		if (tid <= 0 || is_held(h, tid))
			continue;
		if (h->n >= max)
			ret = failed(h, "holding threads", pid, E2BIG);
		else
			ret = hold(h, pid, tid);
		added += ret > 0;
	}
	closedir(d);
	return ret < 0 ? ret : added;
}

static bool shares_mm(pid_t pid, pid_t other)
{
	return syscall(SYS_kcmp, pid, other, KCMP_VM, 0, 0) == 0;
}

/*
 * The threads of the processes other than @pid that share its mm, not
 * held yet. A process that exits meanwhile is skipped. Return: how many
 * were added, or -errno.
 */
static int hold_sharers(struct held *h, pid_t pid, size_t max)
{
	struct dirent *de;
	int ret = 0, added = 0;
	DIR *d = opendir("/proc");

	if (!d)
		return failed(h, "looking for processes sharing the mm", pid, errno);
	while (ret >= 0 && (de = readdir(d))) {
		pid_t other = (pid_t)strtol(de->d_name, NULL, 10);

		if (other <= 0 || other == pid || !shares_mm(pid, other))
			continue;
		ret = hold_process(h, other, max);
		if (ret == -ENOENT && h->tid == other)
			ret = 0;	/* it exited */
		added += ret > 0 ? ret : 0;
	}
	closedir(d);
	return ret < 0 ? ret : added;
}

int threads_hold(pid_t pid, struct held *h, size_t max)
{
	int ret = 1;

	/* Again until none is new: a thread not yet held may clone. */
	while (ret > 0) {
		int more = hold_process(h, pid, max);

		if (more == -ENOENT && h->tid == pid)
			more = -ESRCH;
		ret = more < 0 ? more : hold_sharers(h, pid, max);
		if (ret >= 0)
			ret += more;
	}
	if (!ret && !h->n)
		ret = failed(h, "holding threads", pid, ESRCH);
	return ret;
}

void threads_release(struct held *h)
{
	for (size_t i = 0; i < h->n; i++)
		ptrace(PTRACE_DETACH, h->t[i].tid, NULL,
		       (void *)(uintptr_t)h->t[i].sig);
	free(h->t);
	*h = (struct held){ 0 };
}
