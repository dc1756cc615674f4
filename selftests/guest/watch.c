// SPDX-License-Identifier: GPL-2.0
/*
 * snapper-tool watch: a checkpoint per interval, one line each, exit 0
 * when the target exits; retention applied after each commit (the store
 * keeps max_snapshots generations, numbered on); SIGTERM stops the watch
 * and not the target; a bad interval is a usage error.
 *
 * Needs root, the loaded module and $SNAPPER_SCRATCH: run it through
 * selftests/qemu/run.
 */
#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"

#define MAX_PARAM "/sys/module/snapper/parameters/max_snapshots"

static int watch_start(struct guest_child *w, const char *dir,
		       const char *interval, pid_t target)
{
	char pid[16];
	char *argv[] = { "snapper-tool", "watch", "--store", (char *)dir,
			 "--interval", (char *)interval, pid, NULL };

	snprintf(pid, sizeof(pid), "%d", target);
	return guest_child_start(w, argv);
}

static int count(const char *s, const char *what)
{
	int n = 0;

	for (; (s = strstr(s, what)); s++)
		n++;
	return n;
}

TEST(checkpoints_until_the_target_exits)
{
	const char *why = guest_tool_skip_reason();
	struct target t = { 0 };
	struct guest_child w;
	char dir[256];
	int i;

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, target_start(&t, 16, NULL, NULL, NULL));
	guest_store_path(dir, sizeof(dir), "watch-exit");
	ASSERT_EQ(0, watch_start(&w, dir, "300ms", t.pid));
	ASSERT_TRUE(guest_child_wait(&w, "generation 1 "));
	for (i = 0; i < 8; i++) {
		usleep(100000);
		ASSERT_EQ(0, target_do(&t, T_WRITE, i, 100 + i, 0));
	}
	ASSERT_TRUE(guest_child_wait(&w, "generation 3 "));
	/* Exits, stays a zombie of ours: the watch must notice all the same. */
	target_do(&t, T_EXIT, 0, 0, 0);
	ASSERT_EQ(0, guest_child_end(&w));
	TH_LOG("%s", w.text);
	ASSERT_LE(3, count(w.text, " generation "));
	ASSERT_NE(NULL, strstr(w.text, "generation 1 (full)"));
	ASSERT_NE(NULL, strstr(w.text, "generation 2 (incremental)"));
	ASSERT_NE(NULL, strstr(w.text, " exited: "));
	ASSERT_NE(NULL, strstr(w.text, ", 0 failed"));
	target_stop(&t);
}

static int write_param(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, v, strlen(v));
	close(fd);
	return n == (ssize_t)strlen(v) ? 0 : -1;
}

TEST(retention_after_each_commit)
{
	const char *why = guest_tool_skip_reason();
	char dir[256], cmd[512], old[32] = "", line[256];
	struct target t = { 0 };
	struct guest_child w;
	int fd, lines, last = 0;
	FILE *p;

	if (why)
		SKIP(return, "%s", why);
	fd = open(MAX_PARAM, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_LT(0, read(fd, old, sizeof(old) - 1));
	close(fd);
	ASSERT_EQ(0, write_param(MAX_PARAM, "3"));
	ASSERT_EQ(0, target_start(&t, 16, NULL, NULL, NULL));
	guest_store_path(dir, sizeof(dir), "watch-keep");
	ASSERT_EQ(0, watch_start(&w, dir, "100ms", t.pid));
	ASSERT_TRUE(guest_child_wait(&w, "generation 7 "));
	target_do(&t, T_EXIT, 0, 0, 0);
	ASSERT_EQ(0, guest_child_end(&w));
	write_param(MAX_PARAM, old);
	TH_LOG("%s", w.text);
	ASSERT_NE(NULL, strstr(w.text, ", 3 kept"));
	snprintf(cmd, sizeof(cmd), "snapper-tool list --store %s", dir);
	p = popen(cmd, "r");
	ASSERT_NE(NULL, p);
	for (lines = 0; fgets(line, sizeof(line), p); lines++)
		last = atoi(line);
	pclose(p);
	ASSERT_EQ(3, lines);
	ASSERT_LE(7, last);
	target_stop(&t);
}

TEST(sigterm_stops_the_watch_not_the_target)
{
	const char *why = guest_tool_skip_reason();
	struct target t = { 0 };
	struct guest_child w;
	char dir[256];

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, target_start(&t, 16, NULL, NULL, NULL));
	guest_store_path(dir, sizeof(dir), "watch-term");
	ASSERT_EQ(0, watch_start(&w, dir, "10s", t.pid));
	ASSERT_TRUE(guest_child_wait(&w, " generation "));	/* at once */
	ASSERT_EQ(0, kill(w.pid, SIGTERM));
	ASSERT_EQ(0, guest_child_end(&w));
	TH_LOG("%s", w.text);
	ASSERT_EQ(1, count(w.text, " generation "));
	ASSERT_NE(NULL, strstr(w.text, "no longer watched"));
	ASSERT_EQ(0, target_do(&t, T_WRITE, 1, 5, 0));
	target_stop(&t);
}

TEST(bad_interval)
{
	if (!guest_have_tool())
		SKIP(return, "snapper-tool is not on PATH");
	ASSERT_EQ(256, system("snapper-tool watch --store /nonexistent --interval 5 1 2>/dev/null"));
	ASSERT_EQ(256, system("snapper-tool watch --store /nonexistent --interval 3ms 1 2>/dev/null"));
	ASSERT_EQ(256, system("snapper-tool watch --store /nonexistent --interval 1h 1 2>/dev/null"));
}

TEST_HARNESS_MAIN
