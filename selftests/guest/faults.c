// SPDX-License-Identifier: GPL-2.0
/*
 * Faults around a checkpoint, end to end through snapper-tool and a store
 * on $SNAPPER_SCRATCH; each outcome is checked by exporting the newest
 * generation and comparing it byte for byte with the target's memory
 * (/proc/PID/mem), and by the module's counters.
 *
 *  - the writer killed mid-stream (the module's pages_sent counter moving):
 *    the store keeps its generations, and the next checkpoint still holds
 *    every change since the last acknowledged generation;
 *  - the target killed, exec'ing or forking while a checkpoint streams: a
 *    clean error or a correct generation, nothing left held; a target
 *    that exits between the commit and the acknowledgement: success;
 *  - rmmod while checkpoints run: refused while busy, or the checkpoint
 *    fails cleanly; after insmod the next one is right;
 *  - a full disk (an 8 MiB loop-mounted ext4, or a 3 MiB tmpfs where there
 *    is no loop driver): a one-line error saying so, the older
 *    generations intact, and once space is freed, a correct checkpoint;
 *  - swap: pages pushed out to a swap file are still delivered.
 *
 * Needs root and the loaded module: run it through selftests/qemu/run.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <time.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

enum { T_PAGEOUT = T_USER, T_EXEC, T_FORK, T_FILL };

static int fault_cmd(struct target *t, struct tcmd *c, void *arg)
{
	size_t i;
	pid_t p;

	switch (c->op) {
	case T_PAGEOUT:
		return madvise((void *)(t->base + c->a * PG), c->b * PG, MADV_PAGEOUT);
	case T_EXEC:
		execl("/bin/sleep", "sleep", "60", (char *)NULL);
		return -1;
	case T_FORK:
		/* The child rewrites its copy and lingers: two mms, one origin. */
		p = fork();
		if (p < 0)
			return -1;
		if (!p) {
			for (i = 0; i < c->b; i++)
				fill_page(t->base, i, c->c + (i << 32));
			pause();
			_exit(0);
		}
		return p;
	case T_FILL:
		/* Rewrite pages [a, a + b) with values from c. */
		for (i = c->a; i < c->a + c->b; i++)
			fill_page(t->base, i, c->c + (i << 32));
		return 0;
	}
	return -1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* `snapper-tool checkpoint`; the generation it printed, or 0. */
static long tool_checkpoint(const char *store, pid_t pid, char *out, size_t len)
{
	char buf[4096], *g;
	int ret;

	if (!out) {
		out = buf;
		len = sizeof(buf);
	}
	ret = guest_checkpoint(out, len, store, pid);
	g = strstr(out, "generation ");
	return !ret && g ? strtol(g + 11, NULL, 10) : 0;
}

static int verify(const char *store)
{
	return guest_sh(NULL, 0, "snapper-tool verify --store %s", store);
}

static int count_gens(const char *store)
{
	char out[8192], *p;
	int n = 0;

	if (guest_sh(out, sizeof(out), "snapper-tool list --store %s", store))
		return -1;
	for (p = out; *p; p = strchr(p, '\n') + 1) {
		n += *p >= '0' && *p <= '9';
		if (!strchr(p, '\n'))
			break;
	}
	return n;
}

/*
 * The newest generation (or @gen) of @store, exported over the target's
 * region, against @expect (or the target's memory now when NULL). Returns
 * the number of differing pages, or -1 if the export failed.
 */
static long export_diff(const char *store, uint64_t gen, struct target *t,
			const uint8_t *expect)
{
	char file[] = "/tmp/faults.XXXXXX", path[64], gens[32] = "";
	size_t len = t->npages * PG, i;
	uint8_t *got = malloc(len), *mem = expect ? NULL : malloc(len);
	long bad = -1;
	int fd, mfd = -1;

	fd = mkstemp(file);
	if (fd < 0 || !got || (!expect && !mem))
		goto out;
	if (gen)
		snprintf(gens, sizeof(gens), "--gen %llu", (unsigned long long)gen);
	if (guest_sh(NULL, 0, "snapper-tool export --store %s %s "
		     "--range %#llx-%#llx --format raw -o %s", store, gens,
		     (unsigned long long)t->base,
		     (unsigned long long)(t->base + len), file))
		goto out;
	if (pread(fd, got, len, 0) != (ssize_t)len)
		goto out;
	if (!expect) {
		snprintf(path, sizeof(path), "/proc/%d/mem", t->pid);
		mfd = open(path, O_RDONLY);
		if (mfd < 0 || pread(mfd, mem, len, t->base) != (ssize_t)len)
			goto out;
		expect = mem;
	}
	for (bad = 0, i = 0; i < t->npages; i++)
		bad += memcmp(got + i * PG, expect + i * PG, PG) != 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(file);
	}
	if (mfd >= 0)
		close(mfd);
	free(got);
	free(mem);
	return bad;
}

/* A copy of the target's region now. */
static uint8_t *snapshot_mem(struct target *t)
{
	size_t len = t->npages * PG;
	uint8_t *buf = malloc(len);
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", t->pid);
	fd = open(path, O_RDONLY);
	if (!buf || fd < 0 || pread(fd, buf, len, t->base) != (ssize_t)len) {
		free(buf);
		buf = NULL;
	}
	if (fd >= 0)
		close(fd);
	return buf;
}

static pid_t spawn_checkpoint(const char *store, pid_t pid, const char *log)
{
	char p[16];
	pid_t w = fork();

	if (w)
		return w;
	snprintf(p, sizeof(p), "%d", pid);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	dup2(fd, 1);
	dup2(fd, 2);
	execlp("snapper-tool", "snapper-tool", "checkpoint", "--store", store, p,
	       (char *)NULL);
	_exit(127);
}

/* Waits until the module has sent @n more pages than @base, or @secs. */
static bool wait_sent(long long base, long long n, double secs)
{
	double end = now() + secs;

	while (now() < end) {
		if (read_stat("pages_sent") - base >= n)
			return true;
		usleep(1000);
	}
	return false;
}

static bool wait_released(void)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (read_stat("pages_held") == 0)
			return true;
		usleep(50000);
	}
	return false;
}

FIXTURE(faults) {
	struct target t;
	char store[256];
};

FIXTURE_SETUP(faults)
{
	const char *why = guest_tool_skip_reason();

	memset(&self->t, 0, sizeof(self->t));
	ASSERT_FALSE(why && guest_module_expected())
		TH_LOG("SNAPPER_LOAD=1 but: %s (left unloaded by an earlier test?)", why);
	if (why)
		SKIP(return, "%s", why);
}

FIXTURE_TEARDOWN(faults)
{
	target_stop(&self->t);
}

#define BIG 1024	/* pages (4 MiB): a stream long enough to cut */

/* What checkpoint says when the process went before its acknowledgement. */
#define NOTHING_TO_ACK "the module has nothing left to acknowledge"

TEST_F_TIMEOUT(faults, writer_killed_mid_stream, 600)
{
	struct target *t = &self->t;
	long long sent0;
	int status, killed = 0, round;
	pid_t w;

	guest_store_path(self->store, sizeof(self->store), "faults-writer");
	ASSERT_EQ(0, target_start(t, BIG, NULL, fault_cmd, NULL));
	ASSERT_EQ(1, tool_checkpoint(self->store, t->pid, NULL, 0));
	for (round = 1; round <= 3; round++) {
		/* Every page changes: the next stream is long. */
		ASSERT_EQ(0, target_do(t, T_FILL, 0, BIG, 0x1000 * round));
		sent0 = read_stat("pages_sent");
		w = spawn_checkpoint(self->store, t->pid, "/tmp/faults.writer");
		ASSERT_LT(0, w);
		/* Cut it at a different depth each round. */
		if (wait_sent(sent0, 50 * round * round, 120)) {
			kill(w, SIGKILL);
			killed++;
		}
		ASSERT_EQ(w, waitpid(w, &status, 0));
		TH_LOG("round %d: writer %s after %lld pages", round,
		       WIFSIGNALED(status) ? "killed" : "finished",
		       read_stat("pages_sent") - sent0);
		EXPECT_TRUE(wait_released());
		/* What the store holds is still whole. */
		EXPECT_EQ(0, verify(self->store));
	}
	EXPECT_LT(0, killed);
	/* Change a few more; the next checkpoint must hold everything. */
	ASSERT_EQ(0, target_do(t, T_FILL, 7, 3, 0xabc000));
	ASSERT_LT(1, tool_checkpoint(self->store, t->pid, NULL, 0));
	EXPECT_EQ(0, export_diff(self->store, 0, t, NULL));
	EXPECT_EQ(0, read_stat("pages_held"));
}

/* A checkpoint in the background, disturbed by @op once pages flow. */
static int disturbed(struct __test_metadata *_metadata, struct target *t,
		     const char *store, uint32_t op, char *log, size_t loglen)
{
	long long sent0 = read_stat("pages_sent");
	int status;
	pid_t w;

	w = spawn_checkpoint(store, t->pid, "/tmp/faults.ckpt");
	if (w < 0)
		return -1;
	wait_sent(sent0, 20, 120);
	if (op == T_EXIT) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
	} else {
		struct tcmd c = { .op = op, .b = 8, .c = 0x5eed0000 };

		/* Not waiting for the answer: exec never answers. */
		if (write(t->cmd, &c, sizeof(c)) != sizeof(c))
			return -1;
	}
	if (waitpid(w, &status, 0) != w)
		return -1;
	guest_sh(log, loglen, "cat /tmp/faults.ckpt");
	TH_LOG("checkpoint exit %d: %s", WEXITSTATUS(status), log);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

TEST_F_TIMEOUT(faults, target_killed_during_checkpoint, 600)
{
	struct target *t = &self->t;
	uint8_t *before;
	char log[4096];
	int ret, gens;

	guest_store_path(self->store, sizeof(self->store), "faults-kill");
	ASSERT_EQ(0, target_start(t, BIG, NULL, fault_cmd, NULL));
	before = snapshot_mem(t);
	ASSERT_NE(NULL, before);
	ret = disturbed(_metadata, t, self->store, T_EXIT, log, sizeof(log));
	t->pid = 0;
	/*
	 * Either a clean error and nothing committed, or a generation of the
	 * instant: committed before the acknowledgement, which then finds no
	 * process (ESRCH); the command says so and succeeds.
	 */
	gens = count_gens(self->store);
	EXPECT_GE(1, gens);
	if (gens > 0) {
		struct target gone = *t;

		EXPECT_EQ(0, ret);
		EXPECT_NE(NULL, strstr(log, NOTHING_TO_ACK)) TH_LOG("%s", log);
		gone.pid = -1;
		EXPECT_EQ(0, export_diff(self->store, 0, &gone, before));
		EXPECT_EQ(0, verify(self->store));
	} else {
		EXPECT_EQ(1, ret);
		EXPECT_NE(NULL, strstr(log, "snapper-tool: ")) TH_LOG("%s", log);
	}
	EXPECT_TRUE(wait_released());
	free(before);
}

/*
 * The target exits by itself between the commit and the acknowledgement:
 * the writer is stopped mid-stream while it does, so the order is sure.
 */
TEST_F_TIMEOUT(faults, target_exits_before_the_acknowledgement, 600)
{
	struct target *t = &self->t;
	struct tcmd bye = { .op = T_EXIT };
	long long sent0;
	uint8_t *before;
	char log[4096];
	int status;
	pid_t w;

	guest_store_path(self->store, sizeof(self->store), "faults-exit");
	ASSERT_EQ(0, target_start(t, BIG, NULL, fault_cmd, NULL));
	before = snapshot_mem(t);
	ASSERT_NE(NULL, before);
	sent0 = read_stat("pages_sent");
	w = spawn_checkpoint(self->store, t->pid, "/tmp/faults.exit");
	ASSERT_LT(0, w);
	ASSERT_TRUE(wait_sent(sent0, 20, 120));
	ASSERT_EQ(0, kill(w, SIGSTOP));
	ASSERT_EQ((ssize_t)sizeof(bye), write(t->cmd, &bye, sizeof(bye)));
	ASSERT_EQ(t->pid, waitpid(t->pid, &status, 0));
	EXPECT_EQ(0, status);
	ASSERT_EQ(0, kill(w, SIGCONT));
	ASSERT_EQ(w, waitpid(w, &status, 0));
	guest_sh(log, sizeof(log), "cat /tmp/faults.exit");
	TH_LOG("checkpoint exit %d: %s", WEXITSTATUS(status), log);
	/* Committed, nothing left to acknowledge: success, and a note. */
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	EXPECT_NE(NULL, strstr(log, "generation 1\n")) TH_LOG("%s", log);
	EXPECT_NE(NULL, strstr(log, NOTHING_TO_ACK)) TH_LOG("%s", log);
	EXPECT_EQ(1, count_gens(self->store));
	t->pid = -1;	/* gone: compare with the copy taken before */
	EXPECT_EQ(0, export_diff(self->store, 0, t, before));
	t->pid = 0;
	EXPECT_EQ(0, verify(self->store));
	EXPECT_TRUE(wait_released());
	free(before);
}

TEST_F_TIMEOUT(faults, target_execs_during_checkpoint, 600)
{
	struct target *t = &self->t;
	uint8_t *before;
	char log[4096], out[4096];
	int ret;

	guest_store_path(self->store, sizeof(self->store), "faults-exec");
	ASSERT_EQ(0, target_start(t, BIG, NULL, fault_cmd, NULL));
	before = snapshot_mem(t);
	ASSERT_NE(NULL, before);
	ret = disturbed(_metadata, t, self->store, T_EXEC, log, sizeof(log));
	/*
	 * Committed: the old image's session went with its memory, so the
	 * acknowledgement may find nothing to acknowledge, which is success.
	 */
	if (count_gens(self->store) > 0) {
		EXPECT_EQ(0, ret);
		EXPECT_EQ(0, export_diff(self->store, 1, t, before));
	} else {
		EXPECT_EQ(1, ret);
		EXPECT_NE(NULL, strstr(log, "snapper-tool: ")) TH_LOG("%s", log);
	}
	/* The new program is a new target: its first checkpoint is FULL. */
	usleep(200000);
	ASSERT_LT(0, tool_checkpoint(self->store, t->pid, out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "full checkpoint")) TH_LOG("%s", out);
	EXPECT_TRUE(wait_released());
	free(before);
}

TEST_F_TIMEOUT(faults, target_forks_during_checkpoint, 600)
{
	struct target *t = &self->t;
	struct target child;
	uint8_t *before;
	char log[4096];
	int ret, cpid;

	guest_store_path(self->store, sizeof(self->store), "faults-fork");
	ASSERT_EQ(0, target_start(t, BIG, NULL, fault_cmd, NULL));
	before = snapshot_mem(t);
	ASSERT_NE(NULL, before);
	ret = disturbed(_metadata, t, self->store, T_FORK, log, sizeof(log));
	ASSERT_EQ((ssize_t)sizeof(cpid), read(t->reply, &cpid, sizeof(cpid)));
	ASSERT_LT(0, cpid);
	/* The fork happened after the freeze: the generation is the instant's. */
	EXPECT_EQ(0, ret);
	EXPECT_EQ(0, export_diff(self->store, 0, t, before));
	/* The parent changes on; the next checkpoint is incremental and exact. */
	ASSERT_EQ(0, target_do(t, T_FILL, 100, 20, 0x77770000));
	ASSERT_LT(1, tool_checkpoint(self->store, t->pid, log, sizeof(log)));
	EXPECT_NE(NULL, strstr(log, "incremental")) TH_LOG("%s", log);
	EXPECT_EQ(0, export_diff(self->store, 0, t, NULL));
	/* And the child, a process of its own, checkpoints right too. */
	child = *t;
	child.pid = cpid;
	guest_store_path(self->store, sizeof(self->store), "faults-forkchild");
	ASSERT_LT(0, tool_checkpoint(self->store, cpid, NULL, 0));
	EXPECT_EQ(0, export_diff(self->store, 0, &child, NULL));
	kill(cpid, SIGKILL);
	waitpid(cpid, NULL, 0);
	EXPECT_TRUE(wait_released());
	free(before);
}

TEST_F_TIMEOUT(faults, rmmod_during_checkpoints, 600)
{
	struct target *t = &self->t;
	const char *ko = getenv("SNAPPER_KO");
	int status, refused = 0, unloaded = 0, i;
	char out[4096];
	pid_t w;

	if (!ko)
		SKIP(return, "needs SNAPPER_KO to load the module again");
	guest_store_path(self->store, sizeof(self->store), "faults-rmmod");
	ASSERT_EQ(0, target_start(t, BIG, NULL, fault_cmd, NULL));
	for (i = 0; i < 3 && !unloaded; i++) {
		long long sent0 = read_stat("pages_sent");

		ASSERT_EQ(0, target_do(t, T_FILL, 0, BIG, 0x2000 * (i + 1)));
		w = spawn_checkpoint(self->store, t->pid, "/tmp/faults.rmmod");
		ASSERT_LT(0, w);
		wait_sent(sent0, 30, 120);
		/* Busy: refused, and the module is still there. */
		if (guest_sh(NULL, 0, "rmmod snapper")) {
			refused++;
			EXPECT_EQ(0, access(STATS_DIR "pages_held", R_OK));
		} else {
			unloaded++;
		}
		ASSERT_EQ(w, waitpid(w, &status, 0));
		guest_sh(out, sizeof(out), "cat /tmp/faults.rmmod");
		TH_LOG("rmmod %s; checkpoint exit %d: %s", unloaded ? "went through" :
		       "refused", WEXITSTATUS(status), out);
		/* If it did go, the checkpoint failed cleanly. */
		if (unloaded)
			EXPECT_NE(0, WEXITSTATUS(status));
	}
	EXPECT_LT(0, refused + unloaded);
	if (!unloaded) {
		/* Idle now (the freeze's task work left with the next command). */
		ASSERT_EQ(0, target_do(t, T_FILL, 0, 1, 0x3000));
		ASSERT_EQ(0, guest_sh(out, sizeof(out), "rmmod snapper"))
			TH_LOG("%s", out);
	}
	ASSERT_NE(0, access(STATS_DIR "pages_held", R_OK));
	ASSERT_EQ(0, guest_sh(out, sizeof(out), "insmod %s", ko)) TH_LOG("%s", out);
	/* A new module knows no base: a FULL checkpoint, and exact. */
	ASSERT_EQ(0, target_do(t, T_FILL, 5, 5, 0x4000));
	ASSERT_LT(0, tool_checkpoint(self->store, t->pid, out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "full checkpoint")) TH_LOG("%s", out);
	EXPECT_EQ(0, export_diff(self->store, 0, t, NULL));
	EXPECT_EQ(0, verify(self->store));
}

#define SMALL_FS "/mnt/faults-enospc"

TEST_F_TIMEOUT(faults, disk_full, 600)
{
	struct target *t = &self->t;
	char out[4096], filler[300];
	uint8_t *gen1, chunk[65536];
	long g;
	int fd;

	mkdir(SMALL_FS, 0700);
	/*
	 * A small ext4 on a loop device where there is one (the Debian
	 * kernels), else a tmpfs (the debug kernel has no loop driver): room
	 * for one 1 MiB generation and not much else.
	 */
	if (guest_sh(out, sizeof(out), "modprobe -q loop; "
		     "truncate -s 8M /tmp/enospc.img && "
		     "mkfs.ext4 -q -F /tmp/enospc.img && "
		     "mount -o loop /tmp/enospc.img " SMALL_FS)) {
		TH_LOG("no loop-mounted ext4 (%s): a 3 MiB tmpfs instead", out);
		ASSERT_EQ(0, mount("tmpfs", SMALL_FS, "tmpfs", 0, "size=3m,mode=0700"));
	}
	snprintf(self->store, sizeof(self->store), SMALL_FS "/store");
	ASSERT_EQ(0, target_start(t, 256, NULL, fault_cmd, NULL));
	ASSERT_EQ(1, tool_checkpoint(self->store, t->pid, NULL, 0));
	gen1 = snapshot_mem(t);
	ASSERT_NE(NULL, gen1);
	/* Fill the rest of the disk. */
	snprintf(filler, sizeof(filler), SMALL_FS "/filler");
	fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	memset(chunk, 0x5a, sizeof(chunk));
	while (write(fd, chunk, sizeof(chunk)) > 0)
		;
	EXPECT_EQ(ENOSPC, errno);
	close(fd);
	/* Every page changes; the checkpoint cannot be stored. */
	ASSERT_EQ(0, target_do(t, T_FILL, 0, 256, 0xf0f0));
	g = tool_checkpoint(self->store, t->pid, out, sizeof(out));
	EXPECT_EQ(0, g);
	EXPECT_NE(NULL, strstr(out, "No space left on device")) TH_LOG("%s", out);
	/* One line, naming what failed. */
	EXPECT_EQ(strlen(out) - 1, strcspn(out, "\n")) TH_LOG("%s", out);
	EXPECT_EQ(1, count_gens(self->store));
	EXPECT_EQ(0, verify(self->store));
	EXPECT_EQ(0, export_diff(self->store, 1, t, gen1));
	/* Space again: the next checkpoint holds everything since generation 1. */
	ASSERT_EQ(0, unlink(filler));
	ASSERT_EQ(0, target_do(t, T_FILL, 3, 2, 0xbeef));
	g = tool_checkpoint(self->store, t->pid, out, sizeof(out));
	EXPECT_LT(1, g) TH_LOG("%s", out);
	EXPECT_EQ(0, export_diff(self->store, 0, t, NULL));
	EXPECT_EQ(0, export_diff(self->store, 1, t, gen1));
	EXPECT_EQ(0, verify(self->store));
	free(gen1);
	target_stop(t);
	EXPECT_EQ(0, umount(SMALL_FS));
	unlink("/tmp/enospc.img");
}

static int swapped(struct target *t)
{
	size_t i;
	int n = 0;

	for (i = 0; i < t->npages; i++)
		n += pagemap_entry(t->pid, t->base + i * PG) >> 62 & 1;
	return n;
}

TEST_F_TIMEOUT(faults, swapped_out_pages_are_stored, 600)
{
	struct target *t = &self->t;
	char swapfile[300], out[4096], prefetch0[8];
	long long swap0, sent0;
	int out1, out2, status;
	pid_t w;

	snprintf(swapfile, sizeof(swapfile), "%s/faults.swap",
		 getenv("SNAPPER_SCRATCH"));
	ASSERT_EQ(0, guest_sh(out, sizeof(out), "dd if=/dev/zero of=%s bs=1M count=64 "
			      "status=none && chmod 600 %s && mkswap %s >/dev/null",
			      swapfile, swapfile, swapfile)) TH_LOG("%s", out);
	if (swapon(swapfile, 0)) {
		unlink(swapfile);
		SKIP(return, "swapon: %s", strerror(errno));
	}
	guest_store_path(self->store, sizeof(self->store), "faults-swap");
	/* The reads during the freeze, not the prefetch before it. */
	ASSERT_EQ(0, guest_read_file("/sys/module/snapper/parameters/swap_prefetch",
				     prefetch0, sizeof(prefetch0)));
	ASSERT_EQ(0, guest_write_file("/sys/module/snapper/parameters/swap_prefetch",
				      "0"));
	ASSERT_EQ(0, target_start(t, 1024, NULL, fault_cmd, NULL));
	/* Out before the first checkpoint, and again before the second. */
	ASSERT_EQ(0, target_do(t, T_PAGEOUT, 0, 1024, 0));
	out1 = swapped(t);
	swap0 = read_stat("pages_swap");
	ASSERT_LT(0, tool_checkpoint(self->store, t->pid, NULL, 0));
	EXPECT_EQ(0, export_diff(self->store, 0, t, NULL));
	ASSERT_EQ(0, target_do(t, T_FILL, 0, 512, 0xc0ffee));
	ASSERT_EQ(0, target_do(t, T_PAGEOUT, 0, 1024, 0));
	out2 = swapped(t);
	ASSERT_LT(1, tool_checkpoint(self->store, t->pid, out, sizeof(out)));
	TH_LOG("swapped out: %d then %d of 1024; module read %lld back", out1,
	       out2, read_stat("pages_swap") - swap0);
	EXPECT_LT(0, out1 + out2);
	EXPECT_LT(0, read_stat("pages_swap") - swap0);
	EXPECT_NE(NULL, strstr(out, "incremental")) TH_LOG("%s", out);
	EXPECT_EQ(0, export_diff(self->store, 0, t, NULL));
	/* Pushed out again while the pages stream: the instant's bytes still. */
	ASSERT_EQ(0, target_do(t, T_FILL, 0, 1024, 0xd00d));
	sent0 = read_stat("pages_sent");
	w = spawn_checkpoint(self->store, t->pid, "/tmp/faults.swap");
	ASSERT_LT(0, w);
	wait_sent(sent0, 10, 120);
	ASSERT_EQ(0, target_do(t, T_PAGEOUT, 0, 1024, 0));
	out2 = swapped(t);
	ASSERT_EQ(w, waitpid(w, &status, 0));
	guest_sh(out, sizeof(out), "cat /tmp/faults.swap");
	TH_LOG("paged out during the stream: %d; %s", out2, out);
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(0, export_diff(self->store, 0, t, NULL));
	EXPECT_EQ(0, verify(self->store));
	target_stop(t);
	EXPECT_EQ(0, guest_write_file("/sys/module/snapper/parameters/swap_prefetch",
				      prefetch0));
	EXPECT_EQ(0, swapoff(swapfile));
	unlink(swapfile);
}

TEST_HARNESS_MAIN
