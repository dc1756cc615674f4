// SPDX-License-Identifier: GPL-2.0
/*
 * A kselftest program whose one test fails an ASSERT on purpose, run by
 * selftests/host/harness.c: its fixture's teardown leaves a mark (the file
 * named by $PROBE_MARK) for that test to find. A teardown skipped after a
 * failed ASSERT leaves the state of a failed test (swap files, cgroups,
 * module knobs) to the tests after it.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "kselftest_harness.h"

FIXTURE(probe) {
	int unused;
};

FIXTURE_SETUP(probe)
{
}

FIXTURE_TEARDOWN(probe)
{
	const char *mark = getenv("PROBE_MARK");
	int fd;

	if (!mark)
		return;
	fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0)
		close(fd);
}

TEST_F(probe, passes)
{
	ASSERT_EQ(0, 0);
}

TEST_F(probe, fails)
{
	ASSERT_EQ(0, 1);
}

TEST_HARNESS_MAIN
