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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/snapper.h>

#include "kselftest_harness.h"
#include "timeouts.h"

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

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
	/* Its fourth field: the checkpoint pending. */
	snprintf(cmd, sizeof(cmd),
		 "sed -i -E 's/^([^ ]+ [^ ]+ [^ ]+) [0-9a-f]+/\\1 1234/' %s",
		 state);
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

/*
 * Each checkpoint records the frame of every page it scanned, and the next
 * incremental one takes a soft-clean page whose frame changed (a page moved
 * with its page table: see oracle.c, tables_proc). Without that record it
 * cannot tell, and must be full.
 */
TEST_F(proc, a_lost_record_of_frames_makes_the_next_full)
{
	char frames[64];

	ASSERT_EQ(0, checkpoint(self));
	snprintf(frames, sizeof(frames), "/run/snapper/proc-%d.frames",
		 self->pid);
	ASSERT_EQ(0, unlink(frames));
	rewrite(_metadata, self, 9);
	ASSERT_EQ(0, checkpoint(self));
	EXPECT_EQ(0, tool("snapper-tool show --store %s --json | grep -q '\"kind\": \"full\"'",
			  self->store));
	expect_export_matches(_metadata, self, 2);
	/* Recorded again: the one after is incremental. */
	ASSERT_EQ(0, access(frames, F_OK));
	rewrite(_metadata, self, 11);
	ASSERT_EQ(0, checkpoint(self));
	EXPECT_EQ(0, tool("snapper-tool show --store %s --json | grep -q '\"kind\": \"incremental\"'",
			  self->store));
	expect_export_matches(_metadata, self, 3);
}

/* The state of a process that is gone goes with the next checkpoint. */
TEST_F(proc, the_state_of_a_gone_process_is_removed)
{
	char state[64], frames[80];
	pid_t gone = fork();

	ASSERT_LE(0, gone);
	if (!gone)
		_exit(0);
	ASSERT_EQ(gone, waitpid(gone, NULL, 0));
	snprintf(state, sizeof(state), "/run/snapper/proc-%d", gone);
	snprintf(frames, sizeof(frames), "%s.frames", state);
	ASSERT_EQ(0, tool("mkdir -p /run/snapper && echo 1 0 0 0 > %s && head -c 4096 /dev/zero > %s",
			  state, frames));
	ASSERT_EQ(0, checkpoint(self));
	EXPECT_NE(0, access(state, F_OK));
	EXPECT_NE(0, access(frames, F_OK));
	snprintf(state, sizeof(state), "/run/snapper/proc-%d", self->pid);
	EXPECT_EQ(0, access(state, F_OK));
}

/*
 * Memory whose pages are not the process's to copy: device memory (a
 * VM_IO|VM_PFNMAP mapping of /dev/mem, here the firmware's ROM below 1 MiB,
 * which /proc/PID/mem reads through the driver) and secretmem (which it
 * cannot read). Both backends list such a mapping as skipped and take none
 * of its pages, as the module's vma_skipped(); a restore then leaves it
 * alone. Before procsrc read smaps' VmFlags, --backend proc listed the ROM
 * as ordinary memory and failed the checkpoint on secretmem (6.12: EIO
 * from /proc/PID/mem).
 */
#define ROM_AT 0xf0000UL

static void unread_child(int out)
{
	uint64_t at[3] = { 0 };	/* ROM, its first byte nonzero?, secretmem */
	uint8_t *m;
	size_t i;
	int fd;

	fd = open("/dev/mem", O_RDWR);
	m = fd < 0 ? MAP_FAILED :
	    mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, ROM_AT);
	if (m != MAP_FAILED) {
		at[0] = (uintptr_t)m;
		for (i = 0; i < 2 * PAGE && !at[1]; i++)
			at[1] = m[i];
	}
	fd = (int)syscall(SYS_memfd_secret, 0);
	if (fd >= 0 && !ftruncate(fd, 2 * PAGE)) {
		m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m != MAP_FAILED) {
			memset(m, 0x5e, 2 * PAGE);
			at[2] = (uintptr_t)m;
		}
	}
	if (write(out, at, sizeof(at)) != sizeof(at))
		_exit(1);
	pause();
	_exit(0);
}

/* The flags generation 1 of @store gives the mapping at @start, or -1. */
static long vma_flags(const char *store, uint64_t start)
{
	char cmd[512], line[512];
	unsigned long long s, e, flags;
	unsigned int prot;
	long got = -1;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "snapper-tool show --store %s --gen 1", store);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " %llx-%llx prot %u flags %llx", &s, &e, &prot,
			   &flags) == 4 && s == start)
			got = (long)flags;
	pclose(f);
	return got;
}

/* The generation's bytes at @start, as export writes them: zeros if none. */
static bool exported_zero(const char *store, uint64_t start)
{
	uint8_t buf[2 * PAGE];
	char path[300];
	bool zero = false;
	size_t i;
	int fd;

	snprintf(path, sizeof(path), "%s.raw", store);
	if (tool("snapper-tool export --store %s --range %#llx-%#llx --format raw -o %s",
		 store, (unsigned long long)start,
		 (unsigned long long)(start + sizeof(buf)), path))
		return false;
	fd = open(path, O_RDONLY);
	if (fd >= 0 && read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf)) {
		for (i = 0; i < sizeof(buf) && !buf[i]; i++)
			;
		zero = i == sizeof(buf);
	}
	if (fd >= 0)
		close(fd);
	unlink(path);
	return zero;
}

TEST(device_and_secret_memory_are_listed_not_read)
{
	const char *backends[] = { "proc", "module" };
	const char *scratch = getenv("SNAPPER_SCRATCH");
	uint64_t at[3];
	char store[256];
	int p[2], b, n = 0;
	pid_t pid;

	if (geteuid())
		SKIP(return, "needs root");
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(p[0]);
		unread_child(p[1]);
	}
	close(p[1]);
	ASSERT_EQ((ssize_t)sizeof(at), read(p[0], at, sizeof(at)));
	close(p[0]);
	for (b = 0; b < 2; b++) {
		if (b && access("/sys/module/snapper", F_OK))
			continue;	/* no module loaded: the proc backend only */
		snprintf(store, sizeof(store), "%s/unread-%s",
			 scratch ? scratch : "/tmp", backends[b]);
		tool("rm -rf %s", store);
		ASSERT_EQ(0, tool("snapper-tool checkpoint --backend %s --quiet --store %s %d >/dev/null",
				  backends[b], store, pid));
		if (at[0]) {
			TH_LOG("%s: ROM at %#llx", backends[b],
			       (unsigned long long)at[0]);
			EXPECT_EQ(SNAPPER_VMA_F_SKIPPED,
				  vma_flags(store, at[0]) &
				  (SNAPPER_VMA_F_SKIPPED | SNAPPER_VMA_F_UNREADABLE));
			/* Not zero in the device: zero in the generation. */
			EXPECT_TRUE(at[1] && exported_zero(store, at[0]));
			n++;
		}
		if (at[2]) {
			EXPECT_EQ(SNAPPER_VMA_F_SKIPPED | SNAPPER_VMA_F_UNREADABLE,
				  vma_flags(store, at[2]) &
				  (SNAPPER_VMA_F_SKIPPED | SNAPPER_VMA_F_UNREADABLE));
			EXPECT_TRUE(exported_zero(store, at[2]));
			n++;
		}
		EXPECT_EQ(0, tool("snapper-tool verify --store %s >/dev/null", store));
		tool("rm -rf %s", store);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (!n)
		SKIP(return, "neither /dev/mem's ROM nor memfd_secret can be mapped here");
}

TEST(nonexistent_process_is_an_error)
{
	if (geteuid())
		SKIP(return, "needs root");
	EXPECT_EQ(1, tool("snapper-tool checkpoint --backend proc --store /tmp/none 2>/dev/null 999999"));
	EXPECT_EQ(1, tool("snapper-tool checkpoint --backend bogus --store /tmp/none 1 2>/dev/null"));
}

TEST_HARNESS_MAIN
