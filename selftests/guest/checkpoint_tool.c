// SPDX-License-Identifier: GPL-2.0
/*
 * snapper-tool checkpoint end to end (a store on $SNAPPER_SCRATCH: FULL,
 * then incremental generations; "generation N" as the last line), and
 * rmmod while a checkpoint streams: refused while the stream is open,
 * clean once it ended and the target's threads have left the freeze.
 *
 * Needs root and the loaded module: run it through selftests/qemu/run.
 */
#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"

static int run_tool(const char *dir, pid_t pid, char *last, size_t len,
		    char *all, size_t alllen)
{
	char cmd[512], line[512];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "snapper-tool checkpoint --store %s %d", dir,
		 pid);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	last[0] = all[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strlen(line) < len)
			strcpy(last, line);
		strncat(all, line, alllen - strlen(all) - 2);
		strcat(all, "\n");
	}
	return pclose(f);
}

TEST(tool_writes_generations)
{
	const char *why = guest_skip_reason();
	char dir[256], last[256], all[2048];
	struct target t = { 0 };
	int i;

	if (why)
		SKIP(return, "%s", why);
	if (!getenv("SNAPPER_SCRATCH"))
		SKIP(return, "needs SNAPPER_SCRATCH (an ext4 mount)");
	if (system("command -v snapper-tool >/dev/null"))
		SKIP(return, "snapper-tool is not on PATH");
	ASSERT_EQ(0, target_start(&t, 64, NULL, NULL, NULL));
	snprintf(dir, sizeof(dir), "%s/store-%d", getenv("SNAPPER_SCRATCH"),
		 t.pid);
	ASSERT_EQ(0, run_tool(dir, t.pid, last, sizeof(last), all, sizeof(all)));
	ASSERT_STREQ("generation 1", last);
	ASSERT_NE(NULL, strstr(all, "full checkpoint"));
	for (i = 0; i < 10; i++) {
		ASSERT_EQ(0, target_do(&t, T_WRITE, i * 3, 42 + i, 0));
	}
	ASSERT_EQ(0, run_tool(dir, t.pid, last, sizeof(last), all, sizeof(all)));
	ASSERT_STREQ("generation 2", last);
	ASSERT_NE(NULL, strstr(all, "incremental checkpoint"));
	TH_LOG("%s", all);
	target_stop(&t);
	ASSERT_EQ(0, read_stat("pages_held"));
}

static int slow_page(void *arg, uint64_t addr, const void *data,
		     uint32_t flags)
{
	static bool told;
	int *fd = arg;

	if (!told) {
		told = true;
		if (write(*fd, "x", 1) != 1)
			return -EIO;
		sleep(3);
	}
	return 0;
}

TEST(rmmod_during_a_checkpoint)
{
	const char *why = guest_skip_reason();
	const char *ko = getenv("SNAPPER_KO");
	struct target t = { 0 };
	int pfd[2], status;
	char c, cmd[512];
	pid_t w;

	if (why)
		SKIP(return, "%s", why);
	if (!ko)
		SKIP(return, "needs SNAPPER_KO to load the module again");
	ASSERT_EQ(0, target_start(&t, 256, NULL, NULL, NULL));
	ASSERT_EQ(0, pipe(pfd));
	w = fork();
	ASSERT_LE(0, w);
	if (!w) {
		struct snapper_ckpt_request req = {
			.pid = t.pid, .store_id = 1,
		};
		struct snapper_ckpt_ops ops = { .page = slow_page,
						.arg = &pfd[1] };
		struct snapper_genl *nl;

		if (snapper_genl_open(&nl))
			_exit(2);
		_exit(snapper_genl_checkpoint(nl, &req, &ops) ? 3 : 0);
	}
	ASSERT_EQ(1, read(pfd[0], &c, 1));
	/* The open stream holds the module. */
	ASSERT_NE(0, system("rmmod snapper 2>/dev/null"));
	ASSERT_EQ(0, access(STATS_DIR "pages_held", R_OK));
	ASSERT_EQ(w, waitpid(w, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(0, read_stat("pages_held"));
	/* The target slept through the freeze: let it leave the task work. */
	ASSERT_EQ(0, target_do(&t, T_WRITE, 0, 1, 0));
	target_stop(&t);
	ASSERT_EQ(0, system("rmmod snapper"));
	ASSERT_NE(0, access(STATS_DIR "pages_held", R_OK));
	snprintf(cmd, sizeof(cmd), "insmod %s", ko);
	ASSERT_EQ(0, system(cmd));
	ASSERT_EQ(0, read_stat("pages_held"));
}

TEST_HARNESS_MAIN
