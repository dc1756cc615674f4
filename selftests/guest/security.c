// SPDX-License-Identifier: GPL-2.0
/*
 * Privilege: what an unprivileged user (uid and gid 65534, no capability,
 * in a forked child) cannot do, and the one thing it may do.
 *
 *  - checkpoint or acknowledge another process, of another user or its own
 *    (the module asks for CAP_SYS_ADMIN in the initial user namespace), nor
 *    as root of a user namespace of its own;
 *  - change a knob (the module's parameters are root's, 0644);
 *  - read a store root made (directories 0700, files 0600, even under
 *    umask 0);
 *  - reach a process outside its pid namespace: the target is looked up in
 *    the caller's namespace;
 *  - but it may checkpoint itself.
 *
 * Each test checks the state the kernel holds afterwards (soft-dirty bits,
 * the module's counters, the knob's value, file modes), not only the
 * error code. Needs root and the loaded module: run it in the guest.
 */
#include <dirent.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"

#define NOBODY		GUEST_NOBODY

#define PARAMS		"/sys/module/snapper/parameters/"
#define STORE_ID	0x5ec0de

/* A checkpoint of @pid through a fresh socket; the negated error. */
static int try_checkpoint(pid_t pid, struct got *g)
{
	struct snapper_genl *nl;
	int ret;

	ret = snapper_genl_open(&nl);
	if (ret)
		return 202;
	ret = checkpoint(nl, pid, STORE_ID, 0, 0, g);
	snapper_genl_close(nl);
	return -ret;
}

static int ckpt_child(void *arg)
{
	struct got g = { 0 };
	int ret = try_checkpoint(*(pid_t *)arg, &g);

	got_free(&g);
	return ret;
}

/* How many pages of the target's region are soft-dirty now. */
static int dirty_pages(struct target *t)
{
	size_t i;
	int n = 0;

	for (i = 0; i < t->npages; i++)
		n += pagemap_soft_dirty(t->pid, t->base + i * PG);
	return n;
}

TEST(unprivileged_cannot_checkpoint_another_user)
{
	const char *why = guest_skip_reason();
	struct target t = { 0 };
	long long before;

	ASSERT_FALSE(why && guest_module_expected())
		TH_LOG("SNAPPER_LOAD=1 but: %s (left unloaded by an earlier test?)", why);
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, target_start(&t, 32, NULL, NULL, NULL));
	/* A new mapping is all soft-dirty: a checkpoint would clear that. */
	ASSERT_EQ(32, dirty_pages(&t));
	before = read_stat("checkpoints");
	ASSERT_EQ(EPERM, guest_as_nobody(ckpt_child, &t.pid));
	EXPECT_EQ(before, read_stat("checkpoints"));
	EXPECT_EQ(32, dirty_pages(&t));
	EXPECT_EQ(0, read_stat("pages_held"));
	target_stop(&t);
}

/* A target that runs as nobody too: same uid is still another process. */
static void nobody_setup(struct target *t, void *arg)
{
	void *p;
	size_t i;

	if (guest_drop_privileges())
		_exit(1);
	p = mmap(NULL, t->npages * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(1);
	t->base = (uint64_t)p;
	for (i = 0; i < t->npages; i++)
		fill_page(t->base, i, i << 32);
}

TEST(unprivileged_cannot_checkpoint_same_uid_process)
{
	const char *why = guest_skip_reason();
	struct target t = { 0 };
	long long before;
	char path[64];
	struct stat st;

	ASSERT_FALSE(why && guest_module_expected())
		TH_LOG("SNAPPER_LOAD=1 but: %s (left unloaded by an earlier test?)", why);
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, target_start(&t, 16, nobody_setup, NULL, NULL));
	snprintf(path, sizeof(path), "/proc/%d", t.pid);
	ASSERT_EQ(0, stat(path, &st));
	ASSERT_EQ(NOBODY, (int)st.st_uid);
	ASSERT_EQ(16, dirty_pages(&t));
	before = read_stat("checkpoints");
	ASSERT_EQ(EPERM, guest_as_nobody(ckpt_child, &t.pid));
	EXPECT_EQ(before, read_stat("checkpoints"));
	EXPECT_EQ(16, dirty_pages(&t));
	target_stop(&t);
}

struct ack_arg {
	pid_t pid;
	uint64_t ckpt;
};

static int ack_child(void *arg)
{
	struct ack_arg *a = arg;
	struct snapper_genl *nl;
	int ret;

	if (snapper_genl_open(&nl))
		return 202;
	ret = snapper_genl_ack(nl, a->pid, STORE_ID, a->ckpt, 1);
	snapper_genl_close(nl);
	return -ret;
}

/*
 * An acknowledgement tells the module the pages are safe: forged by
 * someone else, it would make the owner's next checkpoint skip them.
 */
TEST(unprivileged_cannot_acknowledge_for_another)
{
	const char *why = guest_skip_reason();
	struct target t = { 0 };
	struct snapper_genl *nl;
	struct ack_arg a;
	struct got g = { 0 };

	ASSERT_FALSE(why && guest_module_expected())
		TH_LOG("SNAPPER_LOAD=1 but: %s (left unloaded by an earlier test?)", why);
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, target_start(&t, 16, NULL, NULL, NULL));
	ASSERT_EQ(0, snapper_genl_open(&nl));
	ASSERT_EQ(0, checkpoint(nl, t.pid, STORE_ID, 0, 0, &g));
	ASSERT_TRUE(g.h.full);
	a.pid = t.pid;
	a.ckpt = g.h.checkpoint_id;
	ASSERT_EQ(EPERM, guest_as_nobody(ack_child, &a));
	/* Not acknowledged: the next checkpoint on generation 1 is FULL again. */
	ASSERT_EQ(0, checkpoint(nl, t.pid, STORE_ID, 1, 0, &g));
	EXPECT_TRUE(g.h.full);
	EXPECT_EQ(16, got_in(&g, t.base, t.base + 16 * PG));
	got_free(&g);
	snapper_genl_close(nl);
	target_stop(&t);
}

/* Writes @s into the file @path: 0 or -errno. */
static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		ret = errno ? -errno : -EIO;
	close(fd);
	return ret;
}

/* Whether this process has CAP_SYS_ADMIN (in its own user namespace). */
static bool has_sys_admin(void)
{
	char buf[4096], *p;

	if (guest_read_file("/proc/self/status", buf, sizeof(buf)))
		return false;
	p = strstr(buf, "CapEff:");
	return p && strtoull(p + 7, NULL, 16) >> CAP_SYS_ADMIN & 1;
}

/*
 * Root of a user namespace of its own is not root for the module: nobody
 * makes one, maps itself to uid and gid 0 there (as `unshare -r` does),
 * and then holds every capability, in that namespace only.
 */
static int userns_child(void *arg)
{
	int ret, status;
	pid_t sib;

	/*
	 * Dropping from root left us not dumpable, and so /proc/self/ owned
	 * by root: we could not write our own uid_map.
	 */
	if (prctl(PR_SET_DUMPABLE, 1))
		return 218;
	if (unshare(CLONE_NEWUSER))
		return errno == EPERM ? 100 : errno == EINVAL || errno == ENOSPC ?
		       101 : 203;
	if (write_file("/proc/self/uid_map", "0 65534 1") ||
	    write_file("/proc/self/setgroups", "deny") ||
	    write_file("/proc/self/gid_map", "0 65534 1"))
		return 216;
	if (getuid() || getgid() || !has_sys_admin())
		return 217;
	/* A process of our own to aim at. */
	sib = fork();
	if (sib < 0)
		return 204;
	if (!sib) {
		pause();
		_exit(0);
	}
	ret = ckpt_child(&sib);
	kill(sib, SIGKILL);
	waitpid(sib, &status, 0);
	return ret;
}

TEST(user_namespace_root_cannot_checkpoint_another)
{
	const char *why = guest_skip_reason();
	char sysctl[16];
	long long before;
	int ret;

	ASSERT_FALSE(why && guest_module_expected())
		TH_LOG("SNAPPER_LOAD=1 but: %s (left unloaded by an earlier test?)", why);
	if (why)
		SKIP(return, "%s", why);
	before = read_stat("checkpoints");
	ret = guest_as_nobody(userns_child, NULL);
	/* Debian's kernels refuse unprivileged user namespaces when this is 0. */
	if (ret == 100 && !guest_read_file("/proc/sys/kernel/unprivileged_userns_clone",
				     sysctl, sizeof(sysctl)) && sysctl[0] == '0')
		SKIP(return, "unshare(CLONE_NEWUSER) as nobody: EPERM, "
		     "kernel.unprivileged_userns_clone is 0");
	/*
	 * The other refusals: a caller whose root is not the root of its
	 * mount namespace (create_user_ns() checks current_chrooted(); the
	 * qemu guest moves its root over / rather than chrooting for this),
	 * or a security module.
	 */
	if (ret == 100)
		SKIP(return, "unshare(CLONE_NEWUSER) as nobody: EPERM, the caller "
		     "is chrooted or a security module refuses user namespaces");
	if (ret == 101)
		SKIP(return, "user namespaces are disabled in this kernel "
		     "(CONFIG_USER_NS unset, or user.max_user_namespaces is 0)");
	ASSERT_EQ(EPERM, ret);
	EXPECT_EQ(before, read_stat("checkpoints"));
}

static int knob_child(void *arg)
{
	const char *name = arg;
	char path[256];
	int fd;

	snprintf(path, sizeof(path), PARAMS "%s", name);
	fd = open(path, O_WRONLY);
	if (fd >= 0) {
		/* Opened: the write itself must still be refused. */
		ssize_t n = write(fd, "1\n", 2);

		close(fd);
		return n < 0 ? 0 : 99;
	}
	return errno;
}

TEST(unprivileged_cannot_change_a_knob)
{
	static const char *const names[] = {
		"verbose", "threshold", "integrity", "redundancy",
		"max_snapshots", "min_snapshots", "expiration", "stream_timeout_ms",
	};
	const char *why = guest_skip_reason();
	char path[256], before[64], after[64];
	struct stat st;
	size_t i;

	ASSERT_FALSE(why && guest_module_expected())
		TH_LOG("SNAPPER_LOAD=1 but: %s (left unloaded by an earlier test?)", why);
	if (why)
		SKIP(return, "%s", why);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), PARAMS "%s", names[i]);
		ASSERT_EQ(0, stat(path, &st)) TH_LOG("%s", path);
		EXPECT_EQ(0, (int)st.st_uid) TH_LOG("%s", path);
		EXPECT_EQ(0, (int)(st.st_mode & 022)) TH_LOG("%s is %o", path, st.st_mode);
		ASSERT_EQ(0, guest_read_file(path, before, sizeof(before)));
		EXPECT_EQ(EACCES, guest_as_nobody(knob_child, (void *)names[i]))
			TH_LOG("%s", path);
		ASSERT_EQ(0, guest_read_file(path, after, sizeof(after)));
		EXPECT_STREQ(before, after);
	}
}

TEST(stats_are_read_only)
{
	const char *why = guest_skip_reason();
	char path[512];
	struct dirent *d;
	struct stat st;
	int n = 0;
	DIR *dir;

	ASSERT_FALSE(why && guest_module_expected())
		TH_LOG("SNAPPER_LOAD=1 but: %s (left unloaded by an earlier test?)", why);
	if (why)
		SKIP(return, "%s", why);
	dir = opendir(STATS_DIR);
	ASSERT_NE(NULL, dir);
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), STATS_DIR "%s", d->d_name);
		ASSERT_EQ(0, stat(path, &st));
		EXPECT_EQ(0, (int)(st.st_mode & 0222)) TH_LOG("%s is %o", path, st.st_mode);
		/* Not even root can write them. */
		EXPECT_EQ(-1, open(path, O_WRONLY)) TH_LOG("%s", path);
		n++;
	}
	closedir(dir);
	EXPECT_LE(10, n);
}

/* ---- the store ---- */

static int bad_modes;

/* Every directory 0700, every file 0600 or stricter, owned by root. */
static void walk_modes(const char *path, struct __test_metadata *_metadata)
{
	char sub[1024];
	struct dirent *d;
	struct stat st;
	DIR *dir;

	ASSERT_EQ(0, lstat(path, &st)) TH_LOG("%s", path);
	EXPECT_EQ(0, (int)st.st_uid) TH_LOG("%s", path);
	if (S_ISDIR(st.st_mode)) {
		if ((st.st_mode & 07777) != 0700) {
			bad_modes++;
			TH_LOG("%s: directory mode %o", path, st.st_mode & 07777);
		}
		dir = opendir(path);
		ASSERT_NE(NULL, dir);
		while ((d = readdir(dir))) {
			if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, d->d_name);
			walk_modes(sub, _metadata);
		}
		closedir(dir);
	} else if (st.st_mode & 077) {
		bad_modes++;
		TH_LOG("%s: file mode %o", path, st.st_mode & 07777);
	}
}

static int open_store_child(void *arg)
{
	const char *dir = arg;
	char path[512];
	int fd, err;

	/* Neither the directory nor its files, by name. */
	if (opendir(dir))
		return 90;
	err = errno;
	snprintf(path, sizeof(path), "%s/store", dir);
	fd = open(path, O_RDONLY);
	if (fd >= 0)
		return 91;
	if (errno != err)
		return 92;
	/* And the tool, which would print what it could read. */
	snprintf(path, sizeof(path), "snapper-tool list --store %s >/dev/null 2>&1",
		 dir);
	if (system(path) == 0)
		return 93;
	return err;
}

static int open_file_child(void *arg)
{
	int fd = open(arg, O_RDONLY);

	if (fd >= 0)
		return 94;
	return errno;
}

TEST(unprivileged_cannot_read_a_store)
{
	const char *why = guest_skip_reason();
	const char *scratch = getenv("SNAPPER_SCRATCH");
	char dir[200], cmd[1024], out[210];
	struct target t = { 0 };
	struct stat st;
	mode_t old;

	ASSERT_FALSE(why && guest_module_expected())
		TH_LOG("SNAPPER_LOAD=1 but: %s (left unloaded by an earlier test?)", why);
	if (why)
		SKIP(return, "%s", why);
	if (!scratch)
		SKIP(return, "needs SNAPPER_SCRATCH (an ext4 mount)");
	ASSERT_EQ(0, target_start(&t, 16, NULL, NULL, NULL));
	snprintf(dir, sizeof(dir), "%s/private-%d", scratch, t.pid);
	snprintf(out, sizeof(out), "%s.raw", dir);
	/* The loosest umask: the store must not depend on the caller's. */
	old = umask(0);
	snprintf(cmd, sizeof(cmd), "snapper-tool checkpoint --quiet --store %s %d "
		 ">/dev/null && snapper-tool export --store %s --range %#lx-%#lx "
		 "--format raw -o %s", dir, t.pid, dir, (unsigned long)t.base,
		 (unsigned long)(t.base + PG), out);
	ASSERT_EQ(0, system(cmd));
	umask(old);
	target_stop(&t);
	bad_modes = 0;
	walk_modes(dir, _metadata);
	EXPECT_EQ(0, bad_modes);
	ASSERT_EQ(0, stat(out, &st));
	EXPECT_EQ(0600, (int)(st.st_mode & 07777));
	EXPECT_EQ(EACCES, guest_as_nobody(open_store_child, dir));
	EXPECT_EQ(EACCES, guest_as_nobody(open_file_child, out));
}

/* ---- pid namespaces ---- */

/*
 * Runs @fn as pid 1 of a new pid namespace (root, all capabilities) and
 * returns its exit code.
 */
static int in_new_pidns(int (*fn)(void *), void *arg)
{
	pid_t p = fork();

	if (p < 0)
		return 250;
	if (!p) {
		pid_t q;

		if (unshare(CLONE_NEWPID))
			_exit(errno == EINVAL ? 100 : 205);
		q = fork();
		if (q < 0)
			_exit(206);
		if (!q)
			_exit(getpid() == 1 ? fn(arg) : 207);
		_exit(guest_exit_code(q, 252));
	}
	return guest_exit_code(p, 251);
}

TEST(pid_namespace_cannot_reach_outside)
{
	const char *why = guest_skip_reason();
	struct target t = { 0 };
	long long before;
	int ret;

	ASSERT_FALSE(why && guest_module_expected())
		TH_LOG("SNAPPER_LOAD=1 but: %s (left unloaded by an earlier test?)", why);
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, target_start(&t, 16, NULL, NULL, NULL));
	/* Root, in the namespace: its own pid 1 is there, the target is not. */
	ASSERT_LT(1, t.pid);
	before = read_stat("checkpoints");
	ret = in_new_pidns(ckpt_child, &t.pid);
	if (ret == 100)
		SKIP(return, "no pid namespaces in this kernel");
	ASSERT_EQ(ESRCH, ret);
	EXPECT_EQ(before, read_stat("checkpoints"));
	EXPECT_EQ(16, dirty_pages(&t));
	target_stop(&t);
}

#define NS_MARK 0x6e73696e73696465ULL	/* "nsinside" */

/* In the namespace: a child (pid 2 there) checkpointed by its inner pid. */
static int inner_child(void *arg)
{
	struct got g = { 0 };
	int pfd[2], ret, status;
	uint64_t addr;
	pid_t c;

	if (pipe(pfd))
		return 208;
	c = fork();
	if (c < 0)
		return 209;
	if (!c) {
		void *p = mmap(NULL, PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			_exit(1);
		fill_page((uint64_t)p, 0, NS_MARK);
		addr = (uint64_t)p;
		if (write(pfd[1], &addr, sizeof(addr)) != sizeof(addr))
			_exit(1);
		pause();
		_exit(0);
	}
	if (read(pfd[0], &addr, sizeof(addr)) != sizeof(addr))
		return 210;
	ret = try_checkpoint(c, &g);
	if (!ret) {
		struct got_page *p = got_find(&g, addr);

		/* The page of our child, not of whatever has that pid outside. */
		ret = p && p->intact && p->first == NS_MARK ? 0 : 211;
	}
	kill(c, SIGKILL);
	waitpid(c, &status, 0);
	got_free(&g);
	return ret;
}

TEST(pid_namespace_resolves_its_own_pids)
{
	const char *why = guest_skip_reason();
	int ret;

	ASSERT_FALSE(why && guest_module_expected())
		TH_LOG("SNAPPER_LOAD=1 but: %s (left unloaded by an earlier test?)", why);
	if (why)
		SKIP(return, "%s", why);
	ret = in_new_pidns(inner_child, NULL);
	if (ret == 100)
		SKIP(return, "no pid namespaces in this kernel");
	ASSERT_EQ(0, ret);
}

/* ---- checkpointing oneself ---- */

#define SELF_MARK 0x73656c6673656c66ULL	/* "selfself" */

static int self_child(void *arg)
{
	struct snapper_genl *nl;
	struct got g = { 0 };
	struct got_page *p;
	uint64_t base;
	void *m;
	int ret;

	m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 212;
	base = (uint64_t)m;
	fill_page(base, 0, SELF_MARK);
	fill_page(base, 1, SELF_MARK + 1);
	if (snapper_genl_open(&nl))
		return 213;
	ret = checkpoint(nl, getpid(), STORE_ID, 0, 0, &g);
	if (ret)
		return -ret;
	p = got_find(&g, base);
	if (!g.h.full || !p || !p->intact || p->first != SELF_MARK)
		return 214;
	/* Our own acknowledgement is accepted, and makes the next incremental. */
	ret = snapper_genl_ack(nl, getpid(), STORE_ID, g.h.checkpoint_id, 1);
	if (ret)
		return 100 + (-ret & 63);
	fill_page(base, 1, SELF_MARK + 2);
	ret = checkpoint(nl, getpid(), STORE_ID, 1, 0, &g);
	if (ret)
		return 160 + (-ret & 31);
	p = got_find(&g, base + PG);
	if (g.h.full || !p || p->first != SELF_MARK + 2 || got_find(&g, base))
		return 215;
	got_free(&g);
	snapper_genl_close(nl);
	return 0;
}

TEST(unprivileged_may_checkpoint_itself)
{
	const char *why = guest_skip_reason();
	long long before;

	ASSERT_FALSE(why && guest_module_expected())
		TH_LOG("SNAPPER_LOAD=1 but: %s (left unloaded by an earlier test?)", why);
	if (why)
		SKIP(return, "%s", why);
	before = read_stat("checkpoints");
	ASSERT_EQ(0, guest_as_nobody(self_child, NULL));
	EXPECT_EQ(before + 2, read_stat("checkpoints"));
	EXPECT_EQ(0, read_stat("pages_held"));
}

TEST_HARNESS_MAIN
