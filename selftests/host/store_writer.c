// SPDX-License-Identifier: GPL-2.0
/*
 * A store writer without the kernel module, for tests that need a store:
 *
 *   store_writer write --store DIR [--incremental] [--pid PID]
 *                [--vma START-END] [--pages START-END:SEED] [--zero ADDR]
 *                [--hole START-END] [--compress lz4|none]
 *
 * --pid copies a live process's private readable mappings from
 * /proc/PID/mem (every page in memory or swap, as a full checkpoint would
 * send it; the store dedups the unchanged ones). --vma and --pages build a layout and fill it
 * from the host tests' fake page source; --hole records a range as zero
 * (store_gen_add_zero()), --absent as not in the generation
 * (store_gen_add_absent()), in the order given. Prints the generation id.
 *
 * Run without arguments, it is a kselftest program that checks itself.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wclobbered"
#endif

#include <getopt.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "store_helpers.h"

static int fail(const char *what)
{
	fprintf(stderr, "store_writer: %s\n", what);
	return 1;
}

static bool range(const char *s, uint64_t *a, uint64_t *b, uint64_t *seed)
{
	int n = 0;

	if (seed)
		return sscanf(s, "%" SCNx64 "-%" SCNx64 ":%" SCNu64 "%n", a, b, seed, &n) == 3 &&
		       !s[n] && *a < *b;
	return sscanf(s, "%" SCNx64 "-%" SCNx64 "%n", a, b, &n) == 2 && !s[n] && *a < *b;
}

/*
 * Whether a page is in memory or swap (/proc/PID/pagemap bits 63, 62):
 * the rest reads as zeros, so huge sparse reservations cost nothing.
 */
static bool populated(int pagemap, uint64_t vaddr)
{
	uint64_t e;

	if (pagemap < 0 || pread(pagemap, &e, 8, vaddr / PG * 8) != 8)
		return true;
	return e >> 62;
}

/* Feeds one maps line's mapping, if it is private and readable. */
static int feed_mapping(struct store_gen *g, int mem, int pagemap,
			const char *line)
{
	char perms[8] = "", path[4096] = "";
	struct store_vma v = { .path = path };
	uint64_t off, ino;
	uint8_t page[PG];
	unsigned int maj, min;

	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64 " %4095[^\n]",
		   &v.start, &v.end, perms, &off, &maj, &min, &ino, path) < 7)
		return -EINVAL;
	if (perms[0] != 'r' || perms[3] != 'p' || strstr(path, "[vsyscall]") ||
	    strstr(path, "[vvar]"))
		return 0;
	v.offset = off;
	v.prot = (perms[0] == 'r') | (perms[1] == 'w') << 1 | (perms[2] == 'x') << 2;
	if (store_gen_add_vma(g, &v))
		return -EINVAL;
	for (uint64_t a = v.start; a < v.end; a += PG) {
		if (!populated(pagemap, a) || pread(mem, page, PG, a) != PG)
			continue;	/* not readable now: absent */
		if (store_gen_add_page(g, a, page))
			return -EIO;
	}
	return 0;
}

static int feed_pid(struct store_gen *g, const char *pid)
{
	char path[64], line[8192];
	int mem, pagemap, ret = 0;
	FILE *maps;

	snprintf(path, sizeof(path), "/proc/%s/maps", pid);
	maps = fopen(path, "re");
	snprintf(path, sizeof(path), "/proc/%s/mem", pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%s/pagemap", pid);
	pagemap = open(path, O_RDONLY | O_CLOEXEC);
	if (!maps || mem < 0)
		ret = -errno;
	while (!ret && fgets(line, sizeof(line), maps))
		ret = feed_mapping(g, mem, pagemap, line);
	if (maps)
		fclose(maps);
	if (mem >= 0)
		close(mem);
	if (pagemap >= 0)
		close(pagemap);
	return ret;
}

static int feed_opt(struct store_gen *g, int opt, const char *arg)
{
	struct store_vma v = { .path = "" };
	uint64_t a, b, seed;
	uint8_t page[PG];

	switch (opt) {
	case 'v':
		if (!range(arg, &v.start, &v.end, NULL))
			return -EINVAL;
		v.prot = 3;
		return store_gen_add_vma(g, &v);
	case 'p':
		if (!range(arg, &a, &b, &seed))
			return -EINVAL;
		for (; a < b; a += PG) {
			fake_page(page, seed, a);
			if (store_gen_add_page(g, a, page))
				return -EINVAL;
		}
		return 0;
	case 'z':
		memset(page, 0, PG);
		return store_gen_add_page(g, strtoull(arg, NULL, 16), page);
	case 'P':
		return feed_pid(g, arg);
	case 'h':
		if (!range(arg, &a, &b, NULL) || (a | b) % PG)
			return -EINVAL;
		return store_gen_add_zero(g, a, (b - a) / PG);
	case 'a':
		if (!range(arg, &a, &b, NULL) || (a | b) % PG)
			return -EINVAL;
		return store_gen_add_absent(g, a, (b - a) / PG);
	}
	return -EINVAL;
}

static int writer_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "incremental", no_argument, NULL, 'i' },
		{ "pid", required_argument, NULL, 'P' },
		{ "vma", required_argument, NULL, 'v' },
		{ "pages", required_argument, NULL, 'p' },
		{ "zero", required_argument, NULL, 'z' },
		{ "hole", required_argument, NULL, 'h' },
		{ "absent", required_argument, NULL, 'a' },
		{ "compress", required_argument, NULL, 'c' },
		{ 0 }
	};
	struct store_meta meta = { .comm = "store_writer" };
	enum store_gen_kind kind = STORE_GEN_FULL;
	enum store_codec codec = STORE_CODEC_NONE;
	const char *dir = NULL;
	struct store_gen *g;
	struct store *s;
	uint64_t id;
	int opt;

	/* First pass: the store and the kind; second: the feed, in order. */
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 's')
			dir = optarg;
		else if (opt == 'i')
			kind = STORE_GEN_INCREMENTAL;
		else if (opt == 'c' && (!strcmp(optarg, "lz4") || !strcmp(optarg, "none")))
			codec = strcmp(optarg, "lz4") ? STORE_CODEC_NONE : STORE_CODEC_LZ4;
		else if (opt == '?' || opt == 'c')
			return fail("bad option");
	}
	if (!dir || optind != argc)
		return fail("usage: store_writer write --store DIR [--incremental] [--pid PID] [--vma A-B] [--pages A-B:SEED] [--zero A] [--hole A-B] [--absent A-B] [--compress lz4|none]");
	if (store_open(&s, dir, NULL, 0))
		return fail(store_strerror());
	store_set_codec(s, codec);
	if (store_gen_begin(s, kind, 0, &g)) {
		fail(store_strerror());
		store_close(s);
		return 1;
	}
	meta.pid = getpid();
	store_gen_set_meta(g, &meta);
	for (optind = 1; (opt = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		if (opt != 's' && opt != 'i' && opt != 'c' && feed_opt(g, opt, optarg)) {
			fprintf(stderr, "store_writer: %s: %s\n", optarg, store_strerror());
			store_gen_abort(g);
			store_close(s);
			return 1;
		}
	}
	if (store_gen_commit(g, &id)) {
		fail(store_strerror());
		store_close(s);
		return 1;
	}
	printf("%" PRIu64 "\n", id);
	store_close(s);
	return 0;
}

/* Runs this program in writer mode; returns its exit status. */
static int run_writer(char *const args[])
{
	pid_t pid = fork();
	int status;

	if (!pid) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execv("/proc/self/exe", args);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(fake_pages)
{
	char dir[256];
	struct store *s;
	char *args[] = { "store_writer", "write", "--store", dir,
			 "--vma", "0x10000-0x20000", "--pages", "0x10000-0x13000:5",
			 "--zero", "0x13000", NULL };

	tmp_store(dir, sizeof(dir));
	ASSERT_EQ(0, run_writer(args));
	ASSERT_EQ(0, store_open(&s, dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, page_is(s, 1, 0x12000, 5));
	ASSERT_EQ(0, page_is(s, 1, 0x13000, 0));
	store_close(s);
	args[5] = "0x10000-0x11000";	/* the pages no longer fit */
	ASSERT_EQ(1, run_writer(args));
	tmp_store_free(dir);
}

/* --hole: an incremental generation whose range reads as zero. */
TEST(holes)
{
	enum store_page_state st;
	char dir[256];
	uint8_t buf[PG];
	struct store_snap *snap;
	struct store *s;
	char *full[] = { "store_writer", "write", "--store", dir,
			 "--vma", "0x10000-0x20000", "--pages", "0x10000-0x20000:5",
			 NULL };
	char *incr[] = { "store_writer", "write", "--store", dir, "--incremental",
			 "--vma", "0x10000-0x20000", "--hole", "0x12000-0x18000",
			 "--pages", "0x13000-0x14000:6", NULL };

	tmp_store(dir, sizeof(dir));
	ASSERT_EQ(0, run_writer(full));
	ASSERT_EQ(0, run_writer(incr));
	ASSERT_EQ(0, store_open(&s, dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, store_snap_open(s, 2, &snap));
	ASSERT_EQ(0, store_snap_read(snap, 0x12000, buf, &st));
	EXPECT_EQ(STORE_PAGE_ZERO, st);
	ASSERT_EQ(0, store_snap_read(snap, 0x17000, buf, &st));
	EXPECT_EQ(STORE_PAGE_ZERO, st);
	store_snap_close(snap);
	EXPECT_EQ(0, page_is(s, 2, 0x13000, 6));
	EXPECT_EQ(0, page_is(s, 2, 0x18000, 5));
	EXPECT_EQ(0, page_is(s, 1, 0x12000, 5));
	store_close(s);
	tmp_store_free(dir);
}

static enum store_page_state state(struct store *s, uint64_t gen,
				   uint64_t addr)
{
	enum store_page_state st = STORE_PAGE_DATA;
	struct store_snap *snap;
	uint8_t buf[PG];

	if (!store_snap_open(s, gen, &snap)) {
		if (store_snap_read(snap, addr, buf, &st))
			st = STORE_PAGE_DATA;
		store_snap_close(snap);
	}
	return st;
}

/*
 * --absent: the base's pages there are dropped, whether the range starts
 * inside a base run or covers several; pages and holes of the same
 * generation stay, and a later generation keeps the range absent.
 */
TEST(absent)
{
	char dir[256];
	struct store *s;
	char *full[] = { "store_writer", "write", "--store", dir,
			 "--vma", "0x10000-0x20000", "--vma", "0x20000-0x30000",
			 "--pages", "0x10000-0x20000:5",
			 "--pages", "0x20000-0x24000:7", NULL };
	char *incr[] = { "store_writer", "write", "--store", dir, "--incremental",
			 "--vma", "0x10000-0x20000", "--vma", "0x20000-0x30000",
			 "--pages", "0x13000-0x14000:6", "--hole", "0x16000-0x17000",
			 "--absent", "0x12000-0x18000", "--absent", "0x1f000-0x21000",
			 "--absent", "0x14000-0x15000", "--absent", "0x23000-0x28000",
			 NULL };
	char *again[] = { "store_writer", "write", "--store", dir, "--incremental",
			  "--vma", "0x10000-0x20000", "--vma", "0x20000-0x30000",
			  NULL };

	tmp_store(dir, sizeof(dir));
	ASSERT_EQ(0, run_writer(full));
	ASSERT_EQ(0, run_writer(incr));
	ASSERT_EQ(0, run_writer(again));
	ASSERT_EQ(0, store_open(&s, dir, NULL, STORE_RDONLY));
	for (uint64_t gen = 2; gen <= 3; gen++) {
		EXPECT_EQ(0, page_is(s, gen, 0x11000, 5));
		EXPECT_EQ(STORE_PAGE_ABSENT, state(s, gen, 0x12000));
		EXPECT_EQ(0, page_is(s, gen, 0x13000, 6));
		EXPECT_EQ(STORE_PAGE_ABSENT, state(s, gen, 0x14000));
		EXPECT_EQ(STORE_PAGE_ABSENT, state(s, gen, 0x15000));
		EXPECT_EQ(STORE_PAGE_ZERO, state(s, gen, 0x16000));
		EXPECT_EQ(STORE_PAGE_ABSENT, state(s, gen, 0x17000));
		EXPECT_EQ(0, page_is(s, gen, 0x18000, 5));
		EXPECT_EQ(0, page_is(s, gen, 0x1e000, 5));
		EXPECT_EQ(STORE_PAGE_ABSENT, state(s, gen, 0x1f000));
		EXPECT_EQ(STORE_PAGE_ABSENT, state(s, gen, 0x20000));
		EXPECT_EQ(0, page_is(s, gen, 0x21000, 7));
		EXPECT_EQ(0, page_is(s, gen, 0x22000, 7));
		EXPECT_EQ(STORE_PAGE_ABSENT, state(s, gen, 0x23000));
	}
	EXPECT_EQ(0, page_is(s, 1, 0x12000, 5));
	EXPECT_EQ(0, page_is(s, 1, 0x23000, 7));
	store_close(s);
	tmp_store_free(dir);
}

TEST(live_process)
{
	char dir[256], pid[16];
	struct store_snap *snap;
	uint8_t *mem, got[PG];
	struct store *s;
	pid_t child;
	char *args[] = { "store_writer", "write", "--store", dir, "--pid", pid, NULL };

#if defined(__SANITIZE_ADDRESS__) || defined(__has_feature)
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
	/* Terabytes of shadow mappings: a page walk would take hours. */
	SKIP(return, "built with AddressSanitizer");
#endif
#endif
	mem = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	fake_page(mem + PG, 42, 0);
	child = fork();
	if (!child) {
		pause();
		_exit(0);
	}
	snprintf(pid, sizeof(pid), "%d", child);
	tmp_store(dir, sizeof(dir));
	ASSERT_EQ(0, run_writer(args));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	ASSERT_EQ(0, store_open(&s, dir, NULL, STORE_RDONLY));
	ASSERT_EQ(0, store_snap_open(s, 1, &snap));
	ASSERT_EQ(0, store_snap_read(snap, (uintptr_t)mem + PG, got, NULL));
	ASSERT_EQ(0, memcmp(got, mem + PG, PG));
	store_snap_close(snap);
	store_close(s);
	tmp_store_free(dir);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "write"))
		return writer_main(argc - 1, argv + 1);
	return test_harness_run(argc, argv);
}
