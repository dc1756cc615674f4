// SPDX-License-Identifier: GPL-2.0
/*
 * The kselftest harness as the build makes it (see KSFT_HDRS in the
 * Makefile): a fixture's teardown runs after its test passed and after
 * a failed ASSERT cut the test short. Every fixture that changes the
 * machine (swap files, cgroups, module knobs, device-mapper tables) relies
 * on it so that one failing test does not fail the tests after it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#define PROBE "build/selftests/host/probes/teardown"

FIXTURE(probe) {
	char dir[64];
	char mark[96];
};

FIXTURE_SETUP(probe)
{
	if (access(PROBE, X_OK))
		SKIP(return, "%s not built (make host-tests)", PROBE);
	snprintf(self->dir, sizeof(self->dir), "/tmp/snapper-harness-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->mark, sizeof(self->mark), "%s/torn-down", self->dir);
}

FIXTURE_TEARDOWN(probe)
{
	if (self->mark[0])
		unlink(self->mark);
	if (self->dir[0])
		rmdir(self->dir);
}

/* Runs the probe's one test; returns its exit status. */
static int run_probe(struct __test_metadata *_metadata, const char *mark,
		     const char *test)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		setenv("PROBE_MARK", mark, 1);
		execl(PROBE, PROBE, "-t", test, (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	return WEXITSTATUS(status);
}

TEST_F(probe, teardown_after_pass)
{
	ASSERT_EQ(0, run_probe(_metadata, self->mark, "passes"));
	EXPECT_EQ(0, access(self->mark, F_OK)) {
		TH_LOG("the probe's teardown did not run after its test passed");
	}
}

TEST_F(probe, teardown_after_failed_assert)
{
	/* KSFT_FAIL: the probe's test failed, as it should. */
	ASSERT_EQ(1, run_probe(_metadata, self->mark, "fails"));
	EXPECT_EQ(0, access(self->mark, F_OK)) {
		TH_LOG("the probe's teardown did not run after its ASSERT failed: "
		       "is TEST_F's child volatile in %s?",
		       "build/kselftest/kselftest_harness.h");
	}
}

TEST_HARNESS_MAIN
