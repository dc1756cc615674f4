// SPDX-License-Identifier: GPL-2.0
/*
 * snapper-tool watch: a checkpoint of a process every interval until it
 * exits or we are told to stop.
 *
 * Each checkpoint is a `snapper-tool checkpoint` child, so that watch adds
 * nothing to the checkpoint protocol and a failed checkpoint (the target
 * busy with another checkpoint, a full disk) costs one interval, not the
 * watch. The child commits, applies the retention policy and acknowledges
 * exactly as a checkpoint from the shell does. It runs in its own process
 * group: ^C stops the watch after the checkpoint in flight, not in its
 * middle.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/snapper.h>

#include "store/store.h"
#include "store-cli.h"
#include "subcommands.h"

static const char usage[] =
	"Usage: %s watch --store DIR --interval DUR PID\n"
	"Checkpoints PID into DIR now and then every DUR (a number with ms, s\n"
	"or m; at least 10ms) until PID exits, SIGINT or SIGTERM. Retention\n"
	"applies after each commit, as for checkpoint. Prints one line per\n"
	"checkpoint, or keeps one status line up to date on a terminal. Exits 0\n"
	"when PID exits or on a signal, 1 if the last checkpoint failed.\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

struct watch {
	const char *store;
	pid_t pid;
	uint64_t interval_ms;
	int pidfd;
	bool tty;
	uint64_t ok, failed;
	bool last_failed;
};

/* What one checkpoint child printed: the rest is read from the store. */
struct result {
	uint64_t gen;
	char err[256];		/* the child's last error line */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

static bool parse_duration(const char *s, uint64_t *ms)
{
	char *end;
	uint64_t v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v > UINT32_MAX)
		return false;
	if (!strcmp(end, "ms"))
		*ms = v;
	else if (!strcmp(end, "s"))
		*ms = v * 1000;
	else if (!strcmp(end, "m"))
		*ms = v * 60000;
	else
		return false;
	return *ms >= 10 && *ms <= INT_MAX;
}

/* "generation N" is the checkpoint command's stable last line. */
static void parse_line(const char *line, struct result *r)
{
	if (!strncmp(line, prog, strlen(prog)) && line[strlen(prog)] == ':') {
		snprintf(r->err, sizeof(r->err), "%s", line);
		r->err[strcspn(r->err, "\n")] = '\0';
		return;
	}
	sscanf(line, "generation %" SCNu64, &r->gen);
}

/* Runs one checkpoint child, reading what it prints, errors included. */
static int checkpoint_once(struct watch *w, struct result *r)
{
	char pidarg[16], line[256];
	int fds[2], status;
	pid_t child;
	FILE *f;

	snprintf(pidarg, sizeof(pidarg), "%d", w->pid);
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	child = fork();
	if (child < 0)
		return -errno;
	if (!child) {
		setpgid(0, 0);
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		execl("/proc/self/exe", prog, "checkpoint", "--store", w->store,
		      pidarg, (char *)NULL);
		perror("/proc/self/exe");
		_exit(127);
	}
	close(fds[1]);
	memset(r, 0, sizeof(*r));
	f = fdopen(fds[0], "r");
	while (f && fgets(line, sizeof(line), f))
		parse_line(line, r);
	if (f)
		fclose(f);
	else
		close(fds[0]);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && !WEXITSTATUS(status) && r->gen ? 0 : -EIO;
}

/* The generation as the store recorded it, and how many are kept. */
static void report(struct watch *w, uint64_t gen, uint64_t ms)
{
	struct store_info in = { 0 };
	const uint64_t *ids;
	struct store *s;
	size_t kept = 0;
	char when[16];
	time_t t = time(NULL);
	struct tm tm;

	if (!store_open(&s, w->store, NULL, STORE_RDONLY | STORE_NOCREATE)) {
		kept = store_generations(s, &ids);
		store_info(s, gen, &in);
		store_close(s);
	}
	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&t, &tm));
	printf("%s%s generation %" PRIu64 " (%s): %" PRIu64 " pages sent, frozen %"
	       PRIu64 " us, took %" PRIu64 " ms, %zu kept%s", w->tty ? "\r\033[K" : "",
	       when, gen, in.kind == STORE_GEN_FULL ? "full" : "incremental",
	       in.meta.stats.pages_sent, in.meta.stats.freeze_us, ms, kept,
	       w->tty ? "" : "\n");
	fflush(stdout);
}

static bool exited(const struct watch *w, int timeout_ms)
{
	struct pollfd p = { .fd = w->pidfd, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 1;
}

static void tick(struct watch *w)
{
	struct result r;
	uint64_t t0 = now_ms();

	if (checkpoint_once(w, &r)) {
		/*
		 * A target that just exited fails its checkpoint: no news. Its
		 * memory goes a moment before its pidfd says it exited (the
		 * module then answers that it has none): wait that moment, up
		 * to the interval, which the loop would wait anyway.
		 */
		if (exited(w, (int)(w->interval_ms < 1000 ? w->interval_ms : 1000)))
			return;
		w->failed++;
		w->last_failed = true;
		if (w->tty)
			fprintf(stderr, "\n");
		if (!r.err[0])
			snprintf(r.err, sizeof(r.err), "%s: %d: checkpoint failed",
				 prog, w->pid);
		fprintf(stderr, "%s (next in %" PRIu64 " ms)\n", r.err,
			w->interval_ms);
		return;
	}
	w->ok++;
	w->last_failed = false;
	report(w, r.gen, now_ms() - t0);
}

/* Fixed rate: a checkpoint longer than the interval delays, not queues. */
static void loop(struct watch *w)
{
	uint64_t next = now_ms(), now;

	while (!stop) {
		tick(w);
		next += w->interval_ms;
		now = now_ms();
		if (next < now)
			next = now;
		if (stop || exited(w, next - now))
			break;
	}
}

static int parse_args(int argc, char **argv, struct watch *w)
{
	uint64_t v;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return printf(usage, prog), 0;
		if (!strcmp(argv[i], "--store") && i + 1 < argc) {
			w->store = argv[++i];
		} else if (!strcmp(argv[i], "--interval") && i + 1 < argc) {
			if (!parse_duration(argv[++i], &w->interval_ms)) {
				fprintf(stderr, "%s: --interval: bad value '%s'\n",
					prog, argv[i]);
				return 1;
			}
		} else if (argv[i][0] != '-' && !w->pid && cli_parse_u64(argv[i], &v) &&
			   v && v <= SNAPPER_PID_MAX) {
			w->pid = v;
		} else {
			break;
		}
	}
	if (i < argc || !w->store || !w->interval_ms || !w->pid)
		return fprintf(stderr, usage, prog), 1;
	return -1;
}

int watch_main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct watch w = { 0 };
	int ret = parse_args(argc, argv, &w);

	if (ret >= 0)
		return ret;
	w.pidfd = syscall(SYS_pidfd_open, w.pid, 0);
	if (w.pidfd < 0) {
		fprintf(stderr, "%s: %d: %m\n", prog, w.pid);
		return 1;
	}
	w.tty = isatty(STDOUT_FILENO);
	/* No SA_RESTART: a signal must cut the wait for the next tick. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	loop(&w);
	close(w.pidfd);
	printf("%s%d %s: %" PRIu64 " checkpoints, %" PRIu64 " failed\n",
	       w.tty && w.ok ? "\n" : "", w.pid,
	       stop ? "no longer watched" : "exited", w.ok, w.failed);
	return w.last_failed ? 1 : 0;
}
