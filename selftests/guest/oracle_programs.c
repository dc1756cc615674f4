// SPDX-License-Identifier: GPL-2.0
/*
 * The differential oracle on programs nobody here wrote: Debian's
 * redis-server (jemalloc) under a write, delete, FLUSHALL and MEMORY PURGE
 * workload, and a multi-threaded python3 program on glibc's malloc that
 * allocates, frees and malloc_trim()s, and SQLite in WAL mode through
 * python3's sqlite3 module (see sqlite_prog). After each phase the program is
 * stopped with SIGSTOP, checkpointed (full first, then incremental, full
 * again at the end) and compared with oracle_compare(), then continued.
 *
 * Then the way back: redis-server is checkpointed, stopped, its anonymous
 * memory overwritten with garbage through /proc/PID/mem (after changing
 * keys, in one variant), `snapper-tool restore`d and continued, and must
 * serve exactly the data set of the checkpoint's instant; SQLite too, at
 * the instant (sqlite_restore_at_the_instant).
 *
 * And, stopped at arbitrary instants of their work rather than between
 * phases: four python3 threads that never rest
 * (python_threads_at_any_instant), Debian's cc1 compiling
 * (gcc_at_any_instant), and QEMU emulating a machine that boots, its
 * guest RAM private or a shared memfd (qemu_at_any_instant,
 * qemu_memfd_ram_at_any_instant). And PostgreSQL with its shared memory on hugetlb
 * pages (postgres_huge_pages).
 */
#include <dirent.h>
#include <sys/prctl.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"
#include "oracle.h"

/* Stops @pid (our child) and waits until every thread of it is stopped. */
static int stop(pid_t pid)
{
	int st;

	if (kill(pid, SIGSTOP) || waitpid(pid, &st, WUNTRACED) != pid)
		return -1;
	return WIFSTOPPED(st) ? 0 : -1;
}

/* Checkpoint and compare @pid, stopped; @what names the phase. */
static void compare_at(struct __test_metadata *_metadata, const char *store,
		       pid_t pid, bool full, const char *what)
{
	uint64_t gen = oracle_checkpoint(store, pid, false, full);

	EXPECT_NE(0ULL, (unsigned long long)gen) TH_LOG("after %s", what);
	if (gen)
		EXPECT_EQ(0, oracle_compare(store, gen, pid))
			TH_LOG("generation %llu, after %s",
			       (unsigned long long)gen, what);
}

/* Stop, checkpoint and compare, continue. */
static void exact_at(struct __test_metadata *_metadata, const char *store,
		     pid_t pid, bool full, const char *what)
{
	ASSERT_EQ(0, stop(pid)) TH_LOG("stopping after %s", what);
	compare_at(_metadata, store, pid, full, what);
	ASSERT_EQ(0, kill(pid, SIGCONT));
}

FIXTURE(prog) {
	pid_t pid;
	int in, out;		/* the program's stdin and stdout, our ends */
	char store[256];
	bool group;		/* @pid leads a process group of its own */
};

FIXTURE_SETUP(prog)
{
	const char *why = guest_tool_skip_reason();

	self->pid = 0;
	if (why)
		SKIP(return, "%s", why);
	guest_store_path(self->store, sizeof(self->store), "oracle-prog");
}

FIXTURE_TEARDOWN(prog)
{
	if (self->pid <= 0)
		return;
	/* Stopped or not, every process of a group dies with it. */
	kill(self->group ? -self->pid : self->pid, SIGKILL);
	waitpid(self->pid, NULL, 0);
	close(self->in);
	close(self->out);
	guest_sh(NULL, 0, "rm -rf '%s'", self->store);
}

/* Starts @argv with its stdin and stdout piped to us. */
static int start(FIXTURE_DATA(prog) *self, char *const argv[])
{
	int in[2], out[2];

	if (pipe(in) || pipe(out))
		return -1;
	self->pid = fork();
	if (self->pid < 0)
		return -1;
	if (!self->pid) {
		/* Gone with the test, even one the harness killed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (self->group)
			setpgid(0, 0);
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	self->in = in[1];
	self->out = out[0];
	return 0;
}

/* ---- redis-server (jemalloc) ---- */

#define REDIS_SOCK "/tmp/oracle-redis.sock"

/* Feeds the commands a shell pipeline prints to redis-cli. */
static int redis(const char *gen)
{
	return guest_sh(NULL, 0, "%s | timeout 300 redis-cli -s " REDIS_SOCK " >/dev/null",
			gen);
}

/* One reply of redis-cli to @cmd, its trailing newline cut; -1 on failure. */
static int redis_get(char *out, size_t len, const char *cmd)
{
	/* A redis that lost its way must fail the test, not hang it. */
	int ret = guest_sh(out, len, "timeout 60 redis-cli -s " REDIS_SOCK " %s", cmd);

	out[strcspn(out, "\n")] = '\0';
	return ret ? -1 : 0;
}

/* A fifth of the keys on the debug kernel, ten times slower. */
static int redis_keys(void)
{
	return guest_debug_kernel() ? 4000 : 20000;
}

/* Starts redis-server (DEBUG DIGEST allowed over its socket) and waits for it. */
static int redis_start(FIXTURE_DATA(prog) *self)
{
	static char *const argv[] = {
		"redis-server", "--port", "0", "--unixsocket", REDIS_SOCK,
		"--save", "", "--appendonly", "no", "--dir", "/tmp",
		"--loglevel", "warning", "--enable-debug-command", "local", NULL,
	};
	int n;

	unlink(REDIS_SOCK);
	if (start(self, argv))
		return -1;
	for (n = 0; n < 3000 && guest_sh(NULL, 0, "redis-cli -s " REDIS_SOCK " ping"); n++)
		usleep(10000);
	return guest_sh(NULL, 0, "redis-cli -s " REDIS_SOCK " ping");
}

TEST_F_TIMEOUT(prog, redis_server, 600)
{
	int keys = redis_keys();
	const struct {
		const char *what, *fmt;
	} phases[] = {
		{ "writing keys", "seq 1 %d | awk '{printf \"SET key:%%d %%0300d\\n\", $1, $1}'" },
		{ "deleting half of them", "seq 1 2 %d | awk '{print \"DEL key:\" $1}'" },
		{ "FLUSHALL and MEMORY PURGE", "printf 'FLUSHALL\\nMEMORY PURGE\\n' # %d" },
		{ "writing a quarter as many bigger keys", "seq 1 %d | awk '{printf \"SET big:%%d %%02000d\\n\", $1, $1}'" },
	};
	char cmds[256];
	size_t i;

	if (guest_sh(NULL, 0, "command -v redis-server && command -v redis-cli"))
		SKIP(return, "redis-server is not installed (apt-get install redis-server)");
	ASSERT_EQ(0, redis_start(self));
	for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		snprintf(cmds, sizeof(cmds), phases[i].fmt, i == 3 ? keys / 4 : keys);
		ASSERT_EQ(0, redis(cmds)) TH_LOG("%s", phases[i].what);
		exact_at(_metadata, self->store, self->pid, i == 0,
			 phases[i].what);
	}
	exact_at(_metadata, self->store, self->pid, true, "the last, again full");
}

/*
 * Overwrites every writable anonymous mapping of the stopped @pid but the
 * main thread's stack (which restore leaves alone: see persistence.rst)
 * with garbage, through /proc/PID/mem. Return: the bytes written, or -1.
 */
static long long scribble(pid_t pid)
{
	static uint8_t junk[256 * ORACLE_PAGE];
	char path[64], *line = NULL;
	struct oracle_map m;
	long long done = 0;
	size_t len = 0, i, n;
	uint64_t a;
	FILE *maps;
	int mem;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(0xa5 ^ i ^ (i >> 12));
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	mem = open(path, O_RDWR);
	if (!maps || mem < 0)
		done = -1;
	while (done >= 0 && getline(&line, &len, maps) > 0) {
		if (!oracle_parse(line, &m) || m.perms[1] != 'w' ||
		    m.perms[3] != 'p' || !oracle_wanted(pid, &m) ||
		    !strcmp(m.path, "[stack]"))
			continue;
		for (a = m.start; a < m.end; a += n) {
			n = m.end - a < sizeof(junk) ? m.end - a : sizeof(junk);
			if (pwrite(mem, junk, n, (off_t)a) != (ssize_t)n) {
				fprintf(stderr, "# scribble %#" PRIx64 " of %s: %s\n",
					a, line, strerror(errno));
				done = -1;
				break;
			}
			done += n;
		}
	}
	free(line);
	if (maps)
		fclose(maps);
	if (mem >= 0)
		close(mem);
	return done;
}

/*
 * The stopped program's writable anonymous memory overwritten (scribble()),
 * then `snapper-tool restore`d from its store's newest generation, and
 * continued.
 */
static void scribble_and_restore(struct __test_metadata *_metadata,
				 FIXTURE_DATA(prog) *self)
{
	long long junk = scribble(self->pid);
	char out[4096];

	ASSERT_LT(0, junk);
	ASSERT_EQ(0, guest_sh(out, sizeof(out), "snapper-tool restore --store '%s' --pid %d",
			      self->store, self->pid)) TH_LOG("%s", out);
	TH_LOG("%lld KiB overwritten; restore: %s", junk / 1024, out);
	ASSERT_EQ(0, kill(self->pid, SIGCONT));
}

/* Sockets open in @pid, or -1. */
static int sockets(pid_t pid)
{
	char path[64], link[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		ssize_t len = readlinkat(dirfd(d), de->d_name, link,
					 sizeof(link) - 1);

		n += len > 7 && !strncmp(link, "socket:", 7);
	}
	closedir(d);
	return n;
}

/*
 * Waits until @pid has had the same number of sockets for 0.5 s, and, with
 * @want > 0, until that number is @want: redis has then closed every
 * client connection (redis-cli's included, which it closes only once it
 * sees it gone). A memory restore brings back redis's own record of its
 * connections, not the kernel's sockets: both instants, checkpoint and
 * restore, must have none. Return: the number, or -1 after 30 s.
 */
static int settled_sockets(pid_t pid, int want)
{
	int i, n, last = -1, same = 0;

	for (i = 0; i < 3000; i++) {
		n = sockets(pid);
		same = n == last ? same + 1 : 0;
		last = n;
		if (n >= 0 && same >= 50 && (want <= 0 || n == want))
			return n;
		usleep(10000);
	}
	return -1;
}

/* What a client sees of redis's data set: size, digest and some values. */
struct redis_view {
	char dbsize[32], digest[64], get[4][400];
};

static const char *const redis_sample[] = {
	"GET key:1", "GET key:2", "GET key:3", "GET key:1000",
};

static int redis_look(struct redis_view *v)
{
	size_t i;

	if (redis_get(v->dbsize, sizeof(v->dbsize), "DBSIZE") ||
	    redis_get(v->digest, sizeof(v->digest), "DEBUG DIGEST"))
		return -1;
	for (i = 0; i < 4; i++)
		if (redis_get(v->get[i], sizeof(v->get[i]), redis_sample[i]))
			return -1;
	return 0;
}

/*
 * Keys written, a third deleted and purged; checkpoint with redis stopped;
 * with @change, redis continued and its keys changed (rewritten, deleted,
 * added) and stopped again; its memory overwritten; restore; continue. It
 * must then answer as at the checkpoint, and a new checkpoint must be
 * exact again.
 */
static void redis_round_trip(struct __test_metadata *_metadata,
			     FIXTURE_DATA(prog) *self, bool change)
{
	/* A quarter of the oracle test's keys: what matters is the way back. */
	int keys = redis_keys() / 4, idle;
	struct redis_view at, now;
	char cmds[512], out[4096];
	uint64_t gen;
	size_t i;

	if (guest_debug_kernel())
		SKIP(return, GUEST_USERSPACE_ONLY);
	if (guest_sh(NULL, 0, "command -v redis-server && command -v redis-cli"))
		SKIP(return, "redis-server is not installed (apt-get install redis-server)");
	ASSERT_EQ(0, redis_start(self));
	idle = settled_sockets(self->pid, 0);
	ASSERT_LT(0, idle);
	snprintf(cmds, sizeof(cmds),
		 "seq 1 %d | awk '{printf \"SET key:%%d %%0300d\\n\", $1, $1}'", keys);
	ASSERT_EQ(0, redis(cmds));
	snprintf(cmds, sizeof(cmds),
		 "(seq 3 3 %d | awk '{print \"DEL key:\" $1}'; echo 'MEMORY PURGE')", keys);
	ASSERT_EQ(0, redis(cmds));
	ASSERT_EQ(0, redis_look(&at));
	TH_LOG("at the checkpoint: DBSIZE %s, DEBUG DIGEST %s", at.dbsize, at.digest);

	ASSERT_EQ(idle, settled_sockets(self->pid, idle));
	ASSERT_EQ(0, stop(self->pid));
	gen = oracle_checkpoint(self->store, self->pid, false, true);
	ASSERT_NE(0ULL, (unsigned long long)gen);
	if (change) {
		ASSERT_EQ(0, kill(self->pid, SIGCONT));
		snprintf(cmds, sizeof(cmds),
			 "(seq 1 2 %d | awk '{printf \"SET key:%%d %%0300d\\n\", $1, $1 + 7}'; "
			 "seq 2 4 %d | awk '{print \"DEL key:\" $1}'; "
			 "seq 1 100 | awk '{print \"SET new:\" $1 \" x\"}'; echo 'MEMORY PURGE')",
			 keys, keys);
		ASSERT_EQ(0, redis(cmds));
		ASSERT_EQ(0, redis_look(&now));
		TH_LOG("changed: DBSIZE %s, DEBUG DIGEST %s", now.dbsize, now.digest);
		ASSERT_STRNE(at.digest, now.digest);
		ASSERT_STRNE(at.dbsize, now.dbsize);
		ASSERT_EQ(idle, settled_sockets(self->pid, idle));
		ASSERT_EQ(0, stop(self->pid));
	}
	scribble_and_restore(_metadata, self);

	ASSERT_EQ(0, redis_look(&now)) TH_LOG("redis after the restore");
	EXPECT_STREQ(at.dbsize, now.dbsize);
	EXPECT_STREQ(at.digest, now.digest);
	for (i = 0; i < 4; i++) {
		EXPECT_STREQ(at.get[i], now.get[i]) TH_LOG("sample %zu", i);
	}
	/* The sample is what was written: key:3 deleted, the others there. */
	EXPECT_STREQ("", at.get[2]);
	snprintf(cmds, sizeof(cmds), "%0300d", 1000);
	EXPECT_STREQ(cmds, at.get[3]);

	/* It goes on serving, and a generation of it is exact again. */
	ASSERT_EQ(0, redis("echo 'SET after restore'"));
	ASSERT_EQ(0, redis_get(out, sizeof(out), "GET after"));
	EXPECT_STREQ("restore", out);
	exact_at(_metadata, self->store, self->pid, false, "the restore");
}

TEST_F_TIMEOUT(prog, redis_restore_at_the_instant, 600)
{
	redis_round_trip(_metadata, self, false);
}

TEST_F_TIMEOUT(prog, redis_restore_after_changes, 600)
{
	redis_round_trip(_metadata, self, true);
}

/* ---- python3, threads on glibc malloc ---- */

static const char python_prog[] =
	"import sys, threading, ctypes, random\n"
	"libc = ctypes.CDLL('libc.so.6')\n"
	"keep = [[] for _ in range(4)]\n"
	"def work(i, phase):\n"
	"    r = random.Random(i * 100 + phase)\n"
	"    if phase == 0:\n"
	"        keep[i] = [bytearray(r.choice((64, 1000, 20000, 200000))) for _ in range(300)]\n"
	"        for b in keep[i]: b[0:8] = b'snapper!'\n"
	"    elif phase == 1:\n"
	"        del keep[i][::2]\n"
	"    elif phase == 2:\n"
	"        keep[i] = []\n"
	"    else:\n"
	"        keep[i] = [bytes([r.getrandbits(8)]) * r.choice((50, 3000, 70000)) for _ in range(400)]\n"
	"for line in sys.stdin:\n"
	"    phase = int(line)\n"
	"    ts = [threading.Thread(target=work, args=(i, phase)) for i in range(4)]\n"
	"    [t.start() for t in ts]\n"
	"    [t.join() for t in ts]\n"
	"    if phase == 2: libc.malloc_trim(0)\n"
	"    print('done', flush=True)\n";

TEST_F_TIMEOUT(prog, python_threads, 600)
{
	char *const argv[] = { "python3", "-c", (char *)python_prog, NULL };
	static const char *const what[] = {
		"4 threads allocating", "freeing half", "freeing all and malloc_trim(0)",
		"allocating again",
	};
	char line[8], buf[8];
	int i;

	ASSERT_EQ(0, start(self, argv));
	for (i = 0; i < 4; i++) {
		snprintf(line, sizeof(line), "%d\n", i);
		ASSERT_EQ((ssize_t)strlen(line), write(self->in, line, strlen(line)));
		ASSERT_EQ(5, read(self->out, buf, 5)) TH_LOG("%s", what[i]);
		exact_at(_metadata, self->store, self->pid, i == 0, what[i]);
	}
	exact_at(_metadata, self->store, self->pid, true, "the last, again full");
}

/*
 * The same allocator, never at rest: four threads that allocate and free
 * without pause (glibc's per-thread arenas, mmap()ed and munmap()ed big
 * blocks), stopped with SIGSTOP wherever they are, every 0.5 s. All four
 * must be in the generation as of one instant.
 */
static const char python_busy[] =
	"import sys, threading, random\n"
	"keep = [[] for _ in range(4)]\n"
	"def work(i):\n"
	"    r = random.Random(i)\n"
	"    k = keep[i]\n"
	"    while True:\n"
	"        if len(k) > 200: del k[:r.randrange(1, 150)]\n"
	"        k.append(bytearray(r.choice((64, 1000, 20000, 200000))))\n"
	"        k[-1][0:8] = b'snapper!'\n"
	"for i in range(4): threading.Thread(target=work, args=(i,), daemon=True).start()\n"
	"print('go', flush=True)\n"
	"sys.stdin.read()\n";

/*
 * The program, busy, stopped wherever it is every @period_us, @n times
 * (exact_at(): full first, then incremental), and once more, full.
 */
static void exact_anywhere(struct __test_metadata *_metadata,
			   FIXTURE_DATA(prog) *self, int n, useconds_t period_us)
{
	char what[64];
	int i;

	for (i = 0; i <= n; i++) {
		usleep(period_us);
		snprintf(what, sizeof(what), i < n ? "instant %d" :
			 "instant %d, the last, full", i);
		exact_at(_metadata, self->store, self->pid, i == 0 || i == n,
			 what);
	}
}

TEST_F_TIMEOUT(prog, python_threads_at_any_instant, 600)
{
	char *const argv[] = { "python3", "-c", (char *)python_busy, NULL };
	char buf[3];

	ASSERT_EQ(0, start(self, argv));
	ASSERT_EQ(3, read(self->out, buf, 3));
	exact_anywhere(_metadata, self, 6, 500000);
}

/* ---- SQLite, through python3's sqlite3 module ---- */

/*
 * A database in WAL mode on the scratch ext4 disk: the write-ahead log's
 * index is its -shm file, mapped shared and writable (a regular file's
 * shared mapping, tracked by soft-dirty), the database itself is mapped
 * read-only (mmap_size), and the page cache is anonymous memory. The
 * phases insert, update, delete and VACUUM, checkpoint the log into the
 * database (which truncates the log and rewrites the index), then close
 * the connection (the -shm file unmapped) and open another.
 */
static const char sqlite_prog[] =
	"import sys, random, sqlite3, hashlib\n"
	"db = sys.argv[1]\n"
	"def connect():\n"
	"    c = sqlite3.connect(db, isolation_level=None)\n"
	"    c.execute('PRAGMA journal_mode=WAL')\n"
	"    c.execute('PRAGMA wal_autocheckpoint=0')\n"
	"    c.execute('PRAGMA cache_size=-32768')\n"
	"    c.execute('PRAGMA mmap_size=67108864')\n"
	"    return c\n"
	"con = connect()\n"
	"con.execute('CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)')\n"
	"keep = None\n"
	"for line in sys.stdin:\n"
	"    if line == 'digest\\n':\n"
	"        h = hashlib.sha256()\n"
	"        for k, v in con.execute('SELECT k, v FROM t ORDER BY k'):\n"
	"            h.update(k.to_bytes(8, 'little') + v)\n"
	"        print(h.hexdigest()[:16], flush=True)\n"
	"        continue\n"
	"    if line == 'check\\n':\n"
	"        ok = con.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'\n"
	"        con.execute('INSERT INTO t VALUES (?, ?)', (10 ** 6, b'after'))\n"
	"        print('done' if ok else 'bad!', flush=True)\n"
	"        continue\n"
	"    phase = int(line)\n"
	"    r = random.Random(phase)\n"
	"    con.execute('BEGIN')\n"
	"    if phase == 0:\n"
	"        for k in range(12000):\n"
	"            con.execute('INSERT INTO t VALUES (?, ?)', (k, r.randbytes(r.choice((100, 900, 3000)))))\n"
	"    elif phase == 1:\n"
	"        for k in range(0, 12000, 3):\n"
	"            con.execute('UPDATE t SET v = ? WHERE k = ?', (r.randbytes(r.choice((50, 2000))), k))\n"
	"    elif phase == 2:\n"
	"        con.execute('DELETE FROM t WHERE k % 2 = 0')\n"
	"    con.execute('COMMIT')\n"
	"    if phase == 2:\n"
	"        con.execute('VACUUM')\n"
	"        con.execute('PRAGMA wal_checkpoint(TRUNCATE)')\n"
	"    elif phase == 3:\n"
	"        con.close()\n"
	"        con = connect()\n"
	"        keep = con.execute('SELECT k, v FROM t ORDER BY k DESC').fetchall()\n"
	"    print('done', flush=True)\n";

TEST_F_TIMEOUT(prog, sqlite_wal, 600)
{
	char db[300];
	char *const argv[] = { "python3", "-c", (char *)sqlite_prog, db, NULL };
	static const char *const what[] = {
		"inserting 12000 rows", "updating a third of them",
		"deleting half, VACUUM and a WAL checkpoint",
		"a new connection reading every row",
	};
	char line[8], buf[8];
	int i;

	if (guest_sh(NULL, 0, "python3 -c 'import sqlite3'"))
		SKIP(return, "python3 has no sqlite3 module");
	snprintf(db, sizeof(db), "%s.db", self->store);
	ASSERT_EQ(0, start(self, argv));
	for (i = 0; i < 4; i++) {
		snprintf(line, sizeof(line), "%d\n", i);
		ASSERT_EQ((ssize_t)strlen(line), write(self->in, line, strlen(line)));
		ASSERT_EQ(5, read(self->out, buf, 5)) TH_LOG("%s", what[i]);
		/* What the test is for: the log's index mapped shared, writable. */
		ASSERT_EQ(0, guest_sh(NULL, 0, "grep -q ' rw-s .*%s-shm$' /proc/%d/maps",
				      db, self->pid)) TH_LOG("no -shm mapping after %s", what[i]);
		exact_at(_metadata, self->store, self->pid, i == 0, what[i]);
	}
	exact_at(_metadata, self->store, self->pid, true, "the last, again full");
	guest_sh(NULL, 0, "rm -f '%s' '%s-wal' '%s-shm'", db, db, db);
}

/* One line to the SQLite program, its reply of @len bytes into @out. */
static int sqlite_ask(FIXTURE_DATA(prog) *self, const char *cmd, char *out,
		      size_t len)
{
	if (write(self->in, cmd, strlen(cmd)) != (ssize_t)strlen(cmd) ||
	    read(self->out, out, len) != (ssize_t)len)
		return -1;
	out[len - 1] = '\0';
	return 0;
}

/*
 * The way back with a shared file mapping in the process: rows written
 * and updated, a checkpoint with the program stopped, its writable
 * anonymous memory overwritten, restore (which leaves the -shm mapping,
 * a regular file's, alone), continue. The files did not change, so
 * SQLite must read every row as before, find the database sound, write
 * on, and a new generation of it must be exact.
 */
TEST_F_TIMEOUT(prog, sqlite_restore_at_the_instant, 600)
{
	char db[300], at[17], now[17], reply[5];
	char *const argv[] = { "python3", "-c", (char *)sqlite_prog, db, NULL };
	uint64_t gen;

	if (guest_debug_kernel())
		SKIP(return, GUEST_USERSPACE_ONLY);
	if (guest_sh(NULL, 0, "python3 -c 'import sqlite3'"))
		SKIP(return, "python3 has no sqlite3 module");
	snprintf(db, sizeof(db), "%s.db", self->store);
	ASSERT_EQ(0, start(self, argv));
	ASSERT_EQ(0, sqlite_ask(self, "0\n", reply, sizeof(reply)));
	ASSERT_EQ(0, sqlite_ask(self, "1\n", reply, sizeof(reply)));
	ASSERT_EQ(0, sqlite_ask(self, "digest\n", at, sizeof(at)));
	TH_LOG("at the checkpoint: rows hash to %s", at);

	ASSERT_EQ(0, stop(self->pid));
	gen = oracle_checkpoint(self->store, self->pid, false, true);
	ASSERT_NE(0ULL, (unsigned long long)gen);
	scribble_and_restore(_metadata, self);

	ASSERT_EQ(0, sqlite_ask(self, "digest\n", now, sizeof(now)))
		TH_LOG("SQLite after the restore");
	EXPECT_STREQ(at, now);
	ASSERT_EQ(0, sqlite_ask(self, "check\n", reply, sizeof(reply)));
	EXPECT_STREQ("done", reply);
	exact_at(_metadata, self->store, self->pid, false, "the restore");
	guest_sh(NULL, 0, "rm -f '%s' '%s-wal' '%s-shm'", db, db, db);
}

/* ---- GCC's compiler proper, stopped anywhere ---- */

#define GCC_FUNCS	800	/* 2.5 s of cc1 natively, 50 MB, 2500 madvise() */
#define GCC_INSTANTS	6

/* A C file of GCC_FUNCS small functions calling each other, for -O2. */
static int gcc_source(const char *path)
{
	FILE *f = fopen(path, "w");
	int i;

	if (!f)
		return -1;
	for (i = 0; i < GCC_FUNCS; i++)
		fprintf(f, "static int f%d(int *a, int n) { int s = %d; "
			"for (int i = 0; i < n; i++) s += a[i] * %d ^ (s >> %d); "
			"if (s & 1) s += f%d(a, n - 1); return s; }\n",
			i, i, i % 97 + 1, i % 7 + 1, i ? i - 1 : 0);
	fprintf(f, "int g(int *a, int n) { return 0");
	for (i = 0; i < GCC_FUNCS; i += 10)
		fprintf(f, " + f%d(a, n)", i);
	fprintf(f, "; }\n");
	return fclose(f) ? -1 : 0;
}

/*
 * Debian's cc1 (GCC's compiler proper) at -O2, its garbage collector made
 * to run often: it maps pages, frees them (MADV_DONTNEED) and reuses them
 * all the time (2500 madvise() calls in a run). Unlike
 * the programs above it is stopped wherever it happens to be, every 0.7 s,
 * not between phases of its work (exact_anywhere()).
 */
TEST_F_TIMEOUT(prog, gcc_at_any_instant, 600)
{
	char cc1[512], src[300];
	/* A collection whenever the heap grew by a tenth past 8 MiB. */
	char *argv[] = { cc1, "-quiet", "-w", "-O2", "--param", "ggc-min-expand=10",
			 "--param", "ggc-min-heapsize=8192", src, "-o", "/dev/null",
			 NULL };
	if (guest_sh(cc1, sizeof(cc1), "gcc -print-prog-name=cc1") ||
	    cc1[0] != '/')
		SKIP(return, "gcc is not installed");
	cc1[strcspn(cc1, "\n")] = '\0';
	snprintf(src, sizeof(src), "%s-gcc.c", self->store);
	ASSERT_EQ(0, gcc_source(src));
	ASSERT_EQ(0, start(self, argv));
	/* A stop that finds cc1 done fails: give it more to do then. */
	exact_anywhere(_metadata, self, GCC_INSTANTS, 700000);
	unlink(src);
}

/* ---- QEMU: a machine emulated by another program's JIT ---- */

#define QEMU_MB		"96"
#define QEMU_INSTANTS	6

/*
 * Debian's qemu-system-x86_64 (TCG, two vCPU threads) booting a Debian
 * kernel into 96 MiB, stopped wherever it is every 0.7 s (exact_anywhere()).
 * What no other program here does: a JIT that writes its code buffer and
 * runs it (tb-size caps the buffer at 16 MiB, which the oracle reads
 * whole), guest RAM that QEMU registers with KSM (MADV_MERGEABLE: the
 * module follows its frames) and asks huge pages for, written by the vCPU
 * threads and by the main loop (the kernel loaded through fw_cfg). @memfd: the guest RAM a shared memfd instead
 * (memory-backend-memfd, share=on, as for vhost-user), which the module
 * reads from its object at every checkpoint.
 */
static void qemu_anywhere(struct __test_metadata *_metadata,
			  FIXTURE_DATA(prog) *self, bool memfd)
{
	char kernel[256], backend[64];
	char *argv[] = {
		"qemu-system-x86_64", "-nodefaults", "-display", "none",
		"-monitor", "none", "-serial", "none", "-machine", backend,
		"-accel", "tcg,tb-size=16", "-smp", "2", "-m", QEMU_MB,
		"-kernel", kernel, "-append", "console=ttyS0 panic=0",
		memfd ? "-object" : NULL,
		"memory-backend-memfd,id=ram,share=on,size=" QEMU_MB "M", NULL,
	};

	if (guest_sh(NULL, 0, "command -v qemu-system-x86_64 >/dev/null"))
		SKIP(return, "qemu-system-x86 is not installed");
	if (guest_sh(kernel, sizeof(kernel), "ls /boot/vmlinuz-* | head -n 1") ||
	    kernel[0] != '/')
		SKIP(return, "no kernel in /boot for QEMU to boot");
	kernel[strcspn(kernel, "\n")] = '\0';
	snprintf(backend, sizeof(backend), "pc%s",
		 memfd ? ",memory-backend=ram" : "");
	ASSERT_EQ(0, start(self, argv));
	exact_anywhere(_metadata, self, QEMU_INSTANTS, 700000);
	/* What the test is for: RAM registered with KSM, or the memfd's. */
	ASSERT_EQ(0, guest_sh(NULL, 0, memfd ?
			      "grep -q ' rw-s .*/memfd:' /proc/%d/maps" :
			      "grep -q '^VmFlags:.* mg' /proc/%d/smaps",
			      self->pid)) TH_LOG("no guest RAM of that kind");
}

TEST_F_TIMEOUT(prog, qemu_at_any_instant, 600)
{
	qemu_anywhere(_metadata, self, false);
}

TEST_F_TIMEOUT(prog, qemu_memfd_ram_at_any_instant, 600)
{
	qemu_anywhere(_metadata, self, true);
}

/* ---- PostgreSQL: its shared memory on hugetlb pages ---- */

#define PG_BIN		"/usr/lib/postgresql/15/bin"
#define PG_AS		"setpriv --reuid=postgres --regid=postgres --init-groups "
#define PG_SQL		PG_BIN "/psql -X -q -h /tmp -U postgres -d postgres -v ON_ERROR_STOP=1"
#define PG_POOL		48	/* 2 MiB pages: its segment needs some 12 */

/* Runs @sql (no double quotes), each statement on its own (VACUUM must). */
static int pg_sql(const char *sql)
{
	return guest_sh(NULL, 0, "echo \"%s\" | timeout 300 " PG_SQL " -f - >/dev/null 2>&1",
			sql);
}

/*
 * The state letter and parent of @pid, from /proc/PID/stat (after the
 * command name, which may hold anything). Return: 0, or -1 if it is gone.
 */
static int proc_state(pid_t pid, char *state, int *ppid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (guest_read_file(path, buf, sizeof(buf)))
		return -1;
	p = strrchr(buf, ')');
	return p && sscanf(p + 2, "%c %d", state, ppid) == 2 ? 0 : -1;
}

/* The pids of @pid's children, at most @max; their number. */
static int children(pid_t pid, pid_t *kids, int max)
{
	struct dirent *d;
	int n = 0, ppid;
	DIR *dir = opendir("/proc");
	char state;

	while (dir && n < max && (d = readdir(dir))) {
		if (d->d_name[0] >= '1' && d->d_name[0] <= '9' &&
		    !proc_state(atoi(d->d_name), &state, &ppid) && ppid == pid)
			kids[n++] = atoi(d->d_name);
	}
	if (dir)
		closedir(dir);
	return n;
}

/*
 * Is @pid stopped, or gone (a backend that ended stays a zombie until the
 * stopped postmaster reaps it)?
 */
static bool stopped(pid_t pid)
{
	int ppid;
	char state;

	return proc_state(pid, &state, &ppid) || strchr("TtZX", state);
}

/*
 * Every process of the server (the postmaster and its children, which
 * share its memory) stopped, the postmaster checkpointed and compared,
 * then all continued.
 */
static void pg_exact_at(struct __test_metadata *_metadata,
			FIXTURE_DATA(prog) *self, bool full, const char *what)
{
	pid_t kids[64];
	int n, i, tries;

	ASSERT_EQ(0, stop(self->pid)) TH_LOG("stopping after %s", what);
	n = children(self->pid, kids, 64);
	for (i = 0; i < n; i++)
		kill(kids[i], SIGSTOP);
	for (i = 0, tries = 0; i < n && tries < 3000; tries++) {
		if (stopped(kids[i]))
			i++;
		else
			usleep(1000);
	}
	ASSERT_EQ(n, i) TH_LOG("a server process did not stop after %s", what);
	compare_at(_metadata, self->store, self->pid, full, what);
	for (i = 0; i < n; i++)
		kill(kids[i], SIGCONT);
	ASSERT_EQ(0, kill(self->pid, SIGCONT));
}

/*
 * Debian's PostgreSQL 15 with huge_pages=on: its main shared memory
 * segment is a MAP_SHARED|MAP_ANONYMOUS|MAP_HUGETLB mapping that every
 * server process writes (shared buffers, the WAL buffers, locks), and its
 * dynamic shared memory is SysV shm. A table is created, updated in part,
 * pruned and vacuumed, and checkpointed by the server; after each phase
 * every server process is stopped and the postmaster's generation must
 * equal its memory, hugetlb segment included. Before hugetlb support the
 * module refused such a process, and --backend proc missed every page of
 * the segment written after its first checkpoint.
 */
TEST_F_TIMEOUT(prog, postgres_huge_pages, 900)
{
	int rows = guest_debug_kernel() ? 4000 : 20000;
	char data[300], pool[32], sql[512];
	const char *why;
	char *const argv[] = {
		"setpriv", "--reuid=postgres", "--regid=postgres",
		"--init-groups", PG_BIN "/postgres", "-D", data,
		"-c", "huge_pages=on", "-c", "shared_buffers=16MB",
		"-c", "listen_addresses=", "-c", "unix_socket_directories=/tmp",
		"-c", "max_connections=8", "-c", "fsync=off",
		"-c", "dynamic_shared_memory_type=sysv",
		"-c", "log_min_messages=fatal", NULL,
	};
	const struct {
		const char *what, *fmt;
	} phases[] = {
		{ "the server started", "SELECT %d" },
		{ "a table of rows written", "CREATE TABLE t AS SELECT g, md5(g::text) || repeat('x', 300) AS v FROM generate_series(1, %d) g" },
		{ "a third updated, a fifth deleted", "UPDATE t SET v = md5(v) WHERE g %% 3 = 0; DELETE FROM t WHERE g %% 5 = 0 AND g < %d" },
		{ "VACUUM and CHECKPOINT", "VACUUM t; CHECKPOINT; SELECT %d" },
	};
	size_t i;
	int n;

	if (guest_sh(NULL, 0, "test -x " PG_BIN "/postgres && id postgres"))
		SKIP(return, "PostgreSQL 15 is not installed (apt-get install postgresql-15)");
	why = guest_reserve_huge(pool, sizeof(pool), PG_POOL);
	if (why) {
		guest_release_huge(pool);
		SKIP(return, "%s", why);
	}
	snprintf(data, sizeof(data), "%s.pg", self->store);
	ASSERT_EQ(0, guest_sh(NULL, 0, "rm -rf '%s' && mkdir -m 700 '%s' && "
			      "chown postgres: '%s' && cd / && " PG_AS PG_BIN
			      "/initdb -D '%s' -A trust -U postgres --no-sync "
			      "--locale=C -E UTF8 >/dev/null 2>&1",
			      data, data, data, data)) TH_LOG("initdb");
	self->group = true;
	ASSERT_EQ(0, start(self, argv));
	for (n = 0; n < 3000 && pg_sql("SELECT 1"); n++)
		usleep(20000);
	ASSERT_EQ(0, pg_sql("SELECT 1")) TH_LOG("the server did not start");
	/* What the test is for: the segment on hugetlb pages. */
	ASSERT_EQ(0, guest_sh(NULL, 0, "grep -q ' rw-s .*anon_hugepage' /proc/%d/maps",
			      self->pid)) TH_LOG("no hugetlb segment");
	for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		snprintf(sql, sizeof(sql), phases[i].fmt, rows);
		ASSERT_EQ(0, pg_sql(sql)) TH_LOG("%s", phases[i].what);
		pg_exact_at(_metadata, self, i == 0, phases[i].what);
	}
	pg_exact_at(_metadata, self, true, "the last, again full");
	/* A fast shutdown, so that the pool can shrink back. */
	kill(self->pid, SIGINT);
	waitpid(self->pid, NULL, 0);
	self->pid = 0;
	close(self->in);
	close(self->out);
	guest_sh(NULL, 0, "rm -rf '%s' '%s'", data, self->store);
	guest_release_huge(pool);
}

TEST_HARNESS_MAIN
