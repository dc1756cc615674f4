// SPDX-License-Identifier: GPL-2.0
/*
 * libsnapper through its example, examples/counter: killed with SIGKILL,
 * it resumes from its last checkpoint with a consistent state; an
 * unprivileged user checkpoints itself; a store whose newest generation
 * does not hold the region is refused rather than started from zeros; a
 * watch on the same store and the program's own checkpoints coexist.
 *
 * Needs root, the loaded module and $SNAPPER_SCRATCH: run it through
 * selftests/qemu/run.
 */
#include <limits.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"

static char counter[PATH_MAX];

/* build/selftests/guest/X -> build/examples/counter. */
static bool find_counter(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *cut;

	if (n <= 0)
		return false;
	self[n] = '\0';
	cut = strstr(self, "/selftests/guest/");
	if (!cut)
		return false;
	strcpy(cut, "/examples/counter");
	snprintf(counter, sizeof(counter), "%s", self);
	return !access(counter, X_OK);
}

static const char *skip_reason(void)
{
	const char *why = guest_scratch_skip_reason();

	if (why)
		return why;
	if (!find_counter())
		return "build/examples/counter is not built";
	return NULL;
}

/* Starts `[setpriv...] counter --store DIR ARGS` with stdout+stderr piped. */
static int prog_start(struct guest_child *p, const char *prefix,
		      const char *dir, const char *args)
{
	char cmd[PATH_MAX + 512];
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };

	snprintf(cmd, sizeof(cmd), "exec %s %s --store %s %s", prefix, counter,
		 dir, args);
	return guest_child_start(p, argv);
}

/* The last "count X saved as generation G" line. */
static bool last_saved(const char *text, uint64_t *count, uint64_t *gen)
{
	const char *s, *last = NULL;

	for (s = text; (s = strstr(s, "count ")); s++)
		if (sscanf(s, "count %lu saved as generation %lu", count, gen) == 2)
			last = s;
	return last && sscanf(last, "count %lu saved as generation %lu",
			      count, gen) == 2;
}

TEST(survives_kill_9)
{
	const char *why = skip_reason();
	uint64_t count, gen, rgen, rcount, runs;
	struct guest_child p;
	char dir[256];
	const char *s;

	if (why)
		SKIP(return, "%s", why);
	guest_store_path(dir, sizeof(dir), "persist-kill");
	ASSERT_EQ(0, prog_start(&p, "", dir, "--every 5 --delay-ms 20"));
	ASSERT_TRUE(guest_child_wait(&p, "saved as generation 3\n"));
	ASSERT_NE(NULL, strstr(p.text, "a fresh start"));
	ASSERT_EQ(0, kill(p.pid, SIGKILL));
	ASSERT_EQ(128 + SIGKILL, guest_child_end(&p));
	ASSERT_TRUE(last_saved(p.text, &count, &gen));
	TH_LOG("killed after count %lu saved as generation %lu", count, gen);

	ASSERT_EQ(0, prog_start(&p, "", dir, "--steps 5 --every 5 --delay-ms 1"));
	ASSERT_EQ(0, guest_child_end(&p));
	TH_LOG("%s", p.text);
	s = strstr(p.text, "resumed from generation ");
	ASSERT_NE(NULL, s);
	ASSERT_EQ(3, sscanf(s, "resumed from generation %lu at count %lu (run %lu)",
			    &rgen, &rcount, &runs));
	ASSERT_EQ(2u, runs);
	/* The last line printed, or a commit that the kill cut before printing. */
	if (rgen == gen) {
		ASSERT_EQ(count, rcount);
	} else {
		ASSERT_EQ(gen + 1, rgen);
		ASSERT_EQ(count + 5, rcount);
	}
	ASSERT_TRUE(last_saved(p.text, &count, &gen));
	ASSERT_EQ(rcount + 5, count);
	ASSERT_LT(rgen, gen);
}

TEST(unprivileged_self_checkpoint)
{
	const char *why = skip_reason();
	uint64_t count, gen;
	struct guest_child p;
	char dir[256];

	if (why)
		SKIP(return, "%s", why);
	guest_store_path(dir, sizeof(dir), "persist-user");
	ASSERT_EQ(0, mkdir(dir, 0700));
	ASSERT_EQ(0, chown(dir, 65534, 65534));
	ASSERT_EQ(0, prog_start(&p, "setpriv --reuid 65534 --regid 65534 --clear-groups",
				dir, "--steps 4 --every 2 --delay-ms 1"));
	ASSERT_EQ(0, guest_child_end(&p));
	TH_LOG("%s", p.text);
	ASSERT_TRUE(last_saved(p.text, &count, &gen));
	ASSERT_EQ(4u, count);
	ASSERT_EQ(2u, gen);
	ASSERT_EQ(0, prog_start(&p, "setpriv --reuid 65534 --regid 65534 --clear-groups",
				dir, "--steps 1 --delay-ms 1"));
	ASSERT_EQ(0, guest_child_end(&p));
	ASSERT_NE(NULL, strstr(p.text, "resumed from generation 2 at count 4"));
}

TEST(a_store_without_the_region_is_refused)
{
	const char *why = skip_reason();
	struct target t = { 0 };
	char dir[256], cmd[512];
	struct guest_child p;

	if (why)
		SKIP(return, "%s", why);
	if (!guest_have_tool())
		SKIP(return, "snapper-tool is not on PATH");
	guest_store_path(dir, sizeof(dir), "persist-other");
	ASSERT_EQ(0, target_start(&t, 4, NULL, NULL, NULL));
	snprintf(cmd, sizeof(cmd), "snapper-tool checkpoint --store %s %d >/dev/null",
		 dir, t.pid);
	ASSERT_EQ(0, system(cmd));
	target_stop(&t);
	ASSERT_EQ(0, prog_start(&p, "", dir, "--steps 1"));
	ASSERT_EQ(1, guest_child_end(&p));
	TH_LOG("%s", p.text);
	ASSERT_NE(NULL, strstr(p.text, "does not map all of 0x7e5000000000-0x7e5000100000"));
}

TEST(watched_while_checkpointing_itself)
{
	const char *why = skip_reason();
	char dir[256], cmd[512];
	uint64_t count, gen;
	struct guest_child p;
	char pid[16];
	pid_t watch;
	int st;

	if (why)
		SKIP(return, "%s", why);
	if (!guest_have_tool())
		SKIP(return, "snapper-tool is not on PATH");
	guest_store_path(dir, sizeof(dir), "persist-both");
	ASSERT_EQ(0, prog_start(&p, "", dir, "--steps 60 --every 10 --delay-ms 50"));
	ASSERT_TRUE(guest_child_wait(&p, "a fresh start"));
	snprintf(pid, sizeof(pid), "%d", p.pid);
	watch = fork();
	ASSERT_LE(0, watch);
	if (!watch) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execlp("snapper-tool", "snapper-tool", "watch", "--store", dir,
		       "--interval", "700ms", pid, (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(0, guest_child_end(&p));
	/* The target exited: so does the watch, with 0. */
	ASSERT_EQ(watch, waitpid(watch, &st, 0));
	ASSERT_EQ(0, st);
	TH_LOG("%s", p.text);
	ASSERT_TRUE(last_saved(p.text, &count, &gen));
	ASSERT_EQ(60u, count);
	snprintf(cmd, sizeof(cmd), "snapper-tool verify --store %s", dir);
	ASSERT_EQ(0, system(cmd));
	ASSERT_EQ(0, prog_start(&p, "", dir, "--steps 1 --delay-ms 1"));
	ASSERT_EQ(0, guest_child_end(&p));
	ASSERT_NE(NULL, strstr(p.text, "at count 60"));
}

TEST_HARNESS_MAIN
