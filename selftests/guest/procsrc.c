// SPDX-License-Identifier: GPL-2.0
/*
 * snapper-tool checkpoint --backend proc, checked against the target's
 * real memory: a full then an incremental checkpoint of a child whose
 * region holds known bytes; the exported region equals what the child
 * holds; the incremental one carries the written pages; the handshake
 * makes the checkpoint after an unacknowledged one full; and the child's
 * parent never sees it stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "timeouts.h"

#define PAGE 4096UL
#define NPAGES 256UL

/* The child's region sits at a fixed address, so the test knows where. */
#define REGION ((uintptr_t)0x7e0000000000ULL)

static void child(int cmd_fd, int ack_fd)
{
	uint8_t *r = mmap((void *)REGION, NPAGES * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	char c;
	size_t i;

	if (r == MAP_FAILED)
		_exit(1);
	for (i = 0; i < NPAGES; i++)
		memset(r + i * PAGE, (int)(i + 1), PAGE);
	if (write(ack_fd, "r", 1) != 1)
		_exit(1);
	/* Each byte read is a page index to rewrite; EOF ends the child. */
	while (read(cmd_fd, &c, 1) == 1) {
		memset(r + (uint8_t)c * PAGE, 0xee, PAGE);
		if (write(ack_fd, "w", 1) != 1)
			_exit(1);
	}
	_exit(0);
}

FIXTURE(proc) {
	pid_t pid;
	int cmd, ack;
	char store[256];
};

FIXTURE_SETUP(proc)
{
	int to_child[2], from_child[2];
	const char *scratch = getenv("SNAPPER_SCRATCH");
	char c;

	if (geteuid())
		SKIP(return, "needs root (ptrace and pagemap of another process)");
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(from_child));
	self->pid = fork();
	ASSERT_LE(0, self->pid);
	if (!self->pid) {
		close(to_child[1]);
		close(from_child[0]);
		child(to_child[0], from_child[1]);
	}
	close(to_child[0]);
	close(from_child[1]);
	self->cmd = to_child[1];
	self->ack = from_child[0];
	ASSERT_EQ(1, read(self->ack, &c, 1));
	snprintf(self->store, sizeof(self->store), "%s/procsrc-%d",
		 scratch ? scratch : "/tmp", self->pid);
}

FIXTURE_TEARDOWN(proc)
{
	char cmd[512];

	if (geteuid())
		return;
	close(self->cmd);
	waitpid(self->pid, NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->store);
	system(cmd);
}

static void rewrite(struct __test_metadata *_metadata,
		    FIXTURE_DATA(proc) *self, uint8_t page)
{
	char c;

	ASSERT_EQ(1, write(self->cmd, &page, 1));
	ASSERT_EQ(1, read(self->ack, &c, 1));
}

/* Runs a snapper-tool command line; returns its exit status. */
static int tool(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int checkpoint(FIXTURE_DATA(proc) *self)
{
	return tool("snapper-tool checkpoint --backend proc --quiet --store %s %d >/dev/null",
		    self->store, self->pid);
}

/* The region as generation @gen holds it must equal the child's memory. */
static void expect_export_matches(struct __test_metadata *_metadata,
				  FIXTURE_DATA(proc) *self, int gen)
{
	static uint8_t got[NPAGES * PAGE], want[NPAGES * PAGE];
	char path[300], mem[64];
	int fd;

	snprintf(path, sizeof(path), "%s.raw", self->store);
	ASSERT_EQ(0, tool("snapper-tool export --store %s --gen %d --range %#lx-%#lx --format raw -o %s",
			  self->store, gen, (unsigned long)REGION,
			  (unsigned long)(REGION + NPAGES * PAGE), path));
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)sizeof(got), read(fd, got, sizeof(got)));
	close(fd);
	unlink(path);
	snprintf(mem, sizeof(mem), "/proc/%d/mem", self->pid);
	fd = open(mem, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)sizeof(want), pread(fd, want, sizeof(want), (off_t)REGION));
	close(fd);
	EXPECT_EQ(0, memcmp(got, want, sizeof(got)));
}

/* Counts the pages a diff reports as changed between two generations. */
static long changed(FIXTURE_DATA(proc) *self, int a, int b)
{
	char cmd[512], line[128];
	long n = -1;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "snapper-tool diff --store %s %d %d", self->store, a, b);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		sscanf(line, "changed %ld", &n);
	pclose(f);
	return n;
}

TEST_F(proc, full_then_incremental_match_memory)
{
	int st;

	ASSERT_EQ(0, checkpoint(self));
	expect_export_matches(_metadata, self, 1);
	rewrite(_metadata, self, 3);
	rewrite(_metadata, self, 200);
	ASSERT_EQ(0, checkpoint(self));
	expect_export_matches(_metadata, self, 2);
	/* The two pages, plus whatever the child's stack and libc touched. */
	EXPECT_LE(2, changed(self, 1, 2));
	EXPECT_GE(16, changed(self, 1, 2));
	EXPECT_EQ(0, tool("snapper-tool verify --store %s >/dev/null", self->store));
	/* The parent never saw a stop. */
	EXPECT_EQ(0, waitpid(self->pid, &st, WNOHANG | WUNTRACED));
}

TEST_F(proc, unacknowledged_checkpoint_makes_the_next_full)
{
	char state[64], cmd[256];

	ASSERT_EQ(0, checkpoint(self));
	/* A checkpoint whose bits were cleared but never acknowledged. */
	snprintf(state, sizeof(state), "/run/snapper/proc-%d", self->pid);
	snprintf(cmd, sizeof(cmd), "sed -i 's/ [0-9a-f]*$/ 1234/' %s", state);
	ASSERT_EQ(0, system(cmd));
	rewrite(_metadata, self, 7);
	ASSERT_EQ(0, checkpoint(self));
	EXPECT_EQ(0, tool("snapper-tool show --store %s --json | grep -q '\"kind\": \"full\"'",
			  self->store));
	expect_export_matches(_metadata, self, 2);
}

/*
 * Another store clears the soft-dirty bits too: back on the first store,
 * an incremental checkpoint would miss what changed before that; it must
 * be full, and hold both writes.
 */
TEST_F(proc, another_store_in_between_makes_the_next_full)
{
	ASSERT_EQ(0, checkpoint(self));
	rewrite(_metadata, self, 5);
	ASSERT_EQ(0, tool("snapper-tool checkpoint --backend proc --quiet --store %s.other %d >/dev/null",
			  self->store, self->pid));
	rewrite(_metadata, self, 7);
	ASSERT_EQ(0, checkpoint(self));
	EXPECT_EQ(0, tool("snapper-tool show --store %s --json | grep -q '\"kind\": \"full\"'",
			  self->store));
	expect_export_matches(_metadata, self, 2);
	tool("rm -rf %s.other", self->store);
}

TEST(nonexistent_process_is_an_error)
{
	if (geteuid())
		SKIP(return, "needs root");
	EXPECT_EQ(1, tool("snapper-tool checkpoint --backend proc --store /tmp/none 2>/dev/null 999999"));
	EXPECT_EQ(1, tool("snapper-tool checkpoint --backend bogus --store /tmp/none 1 2>/dev/null"));
}

TEST_HARNESS_MAIN
