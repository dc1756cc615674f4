// SPDX-License-Identifier: GPL-2.0
/*
 * The differential oracle on programs nobody here wrote: Debian's
 * redis-server (jemalloc) under a write, delete, FLUSHALL and MEMORY PURGE
 * workload, and a multi-threaded python3 program on glibc's malloc that
 * allocates, frees and malloc_trim()s. After each phase the program is
 * stopped with SIGSTOP, checkpointed (full first, then incremental, full
 * again at the end) and compared with oracle_compare(), then continued.
 */
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

/* Checkpoint and compare at a stop; @what names the phase. */
static void exact_at(struct __test_metadata *_metadata, const char *store,
		     pid_t pid, bool full, const char *what)
{
	uint64_t gen;

	ASSERT_EQ(0, stop(pid)) TH_LOG("stopping after %s", what);
	gen = oracle_checkpoint(store, pid, false, full);
	EXPECT_NE(0ULL, (unsigned long long)gen) TH_LOG("after %s", what);
	if (gen)
		EXPECT_EQ(0, oracle_compare(store, gen, pid))
			TH_LOG("generation %llu, after %s",
			       (unsigned long long)gen, what);
	ASSERT_EQ(0, kill(pid, SIGCONT));
}

FIXTURE(prog) {
	pid_t pid;
	int in, out;		/* the program's stdin and stdout, our ends */
	char store[256];
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
	kill(self->pid, SIGKILL);
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
	return guest_sh(NULL, 0, "%s | redis-cli -s " REDIS_SOCK " >/dev/null",
			gen);
}

TEST_F_TIMEOUT(prog, redis_server, 600)
{
	static char *const argv[] = {
		"redis-server", "--port", "0", "--unixsocket", REDIS_SOCK,
		"--save", "", "--appendonly", "no", "--dir", "/tmp",
		"--loglevel", "warning", NULL,
	};
	/* A fifth of the keys on the debug kernel, ten times slower. */
	const char *k = getenv("SNAPPER_KERNEL");
	int keys = k && !strcmp(k, "debug") ? 4000 : 20000;
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
	int n;

	if (guest_sh(NULL, 0, "command -v redis-server && command -v redis-cli"))
		SKIP(return, "redis-server is not installed (apt-get install redis-server)");
	unlink(REDIS_SOCK);
	ASSERT_EQ(0, start(self, argv));
	for (n = 0; n < 3000 && guest_sh(NULL, 0, "redis-cli -s " REDIS_SOCK " ping"); n++)
		usleep(10000);
	ASSERT_EQ(0, guest_sh(NULL, 0, "redis-cli -s " REDIS_SOCK " ping"));
	for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		snprintf(cmds, sizeof(cmds), phases[i].fmt, i == 3 ? keys / 4 : keys);
		ASSERT_EQ(0, redis(cmds)) TH_LOG("%s", phases[i].what);
		exact_at(_metadata, self->store, self->pid, i == 0,
			 phases[i].what);
	}
	exact_at(_metadata, self->store, self->pid, true, "the last, again full");
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

TEST_HARNESS_MAIN
