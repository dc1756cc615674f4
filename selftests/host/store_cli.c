// SPDX-License-Identifier: GPL-2.0
/*
 * The store commands of snapper-tool as scripts use them: output lines,
 * JSON keys, exit codes, exact export bytes, one-line errors.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wclobbered"
#endif

#include <limits.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "store_helpers.h"

static char tool[PATH_MAX + 32];

#define A 0x7f0000000000ull

/* Runs the tool with a shell-quoted argument string; output in out. */
static int run(char *out, size_t n, const char *fmt, ...)
{
	char args[2048], cmd[PATH_MAX + 2200 + 32];
	va_list ap;
	size_t got;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", tool, args);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	got = fread(out, 1, n - 1, p);
	out[got] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static size_t lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

FIXTURE(cli) {
	char dir[256];
	char out[65536];
};

/* Gen 1: pages A..A+3 seed 1; gen 2 (incr): A+1 changed, A+5 added. */
FIXTURE_SETUP(cli)
{
	struct store_vma v = { A, A + 8 * PG, 0, 3, 0, "", false };
	struct feed f1[] = { { A, 1 }, { A + PG, 1 }, { A + 2 * PG, 1 },
			     { A + 3 * PG, 0 } };
	struct feed f2[] = { { A + PG, 2 }, { A + 5 * PG, 2 } };
	struct store *s;
	uint64_t id;

	if (!find_tool(tool, sizeof(tool)))
		SKIP(return, "tools/snapper-tool not built");
	tmp_store(self->dir, sizeof(self->dir));
	ASSERT_EQ(0, store_open(&s, self->dir, NULL, 0));
	ASSERT_EQ(0, commit_one(s, STORE_GEN_FULL, &v, 1, f1, 4, &id));
	ASSERT_EQ(0, commit_one(s, STORE_GEN_INCREMENTAL, &v, 1, f2, 2, &id));
	store_close(s);
}

FIXTURE_TEARDOWN(cli)
{
	tmp_store_free(self->dir);
}

TEST_F(cli, list)
{
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "list --store %s", self->dir));
	ASSERT_EQ(2, lines(self->out));
	ASSERT_EQ(0, strncmp(self->out, "1 ", 2));
	ASSERT_NE(NULL, strstr(self->out, "\n2 "));
	ASSERT_NE(NULL, strstr(self->out, " 4 "));	/* gen 1: 4 pages */
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "list --store %s --json", self->dir));
	ASSERT_NE(NULL, strstr(self->out, "\"generation\": 2"));
	ASSERT_NE(NULL, strstr(self->out, "\"kind\": \"incremental\""));
}

TEST_F(cli, show_json)
{
	static const char *keys[] = { "generation", "pages_sent", "pages_written",
				      "bytes_written", "freeze_us", "duration_us" };

	ASSERT_EQ(0, run(self->out, sizeof(self->out), "show --store %s --json", self->dir));
	for (size_t i = 0; i < 6; i++) {
		char key[64];

		snprintf(key, sizeof(key), "\"%s\":", keys[i]);
		ASSERT_NE(NULL, strstr(self->out, key));
	}
	ASSERT_NE(NULL, strstr(self->out, "\"generation\": 2,"));
	ASSERT_NE(NULL, strstr(self->out, "\"pages_written\": 2,"));
	ASSERT_NE(NULL, strstr(self->out, "\"freeze_us\": 7,"));
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "show --store %s --gen 1", self->dir));
	ASSERT_NE(NULL, strstr(self->out, "generation     1 (full)"));
	ASSERT_EQ(2, run(self->out, sizeof(self->out), "show --store %s --gen 9", self->dir));
	ASSERT_EQ(1, lines(self->out));
}

TEST_F(cli, diff)
{
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "diff --store %s 1 2 --json", self->dir));
	ASSERT_NE(NULL, strstr(self->out, "\"changed\": 1, \"added\": 1, \"removed\": 0"));
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "diff --store %s 2 1", self->dir));
	ASSERT_NE(NULL, strstr(self->out, "added   0\nremoved 1\n"));
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "diff --store %s 1", self->dir));
}

TEST_F(cli, export_raw)
{
	char file[300];
	uint8_t want[3 * PG], got[3 * PG + 1];
	int fd;

	snprintf(file, sizeof(file), "%s.raw", self->dir);
	ASSERT_EQ(0, run(self->out, sizeof(self->out),
			 "export --store %s --range 0x%llx-0x%llx --format raw -o %s",
			 self->dir, A + PG, A + 4 * PG, file));
	fake_page(want, 2, A + PG);
	fake_page(want + PG, 1, A + 2 * PG);
	memset(want + 2 * PG, 0, PG);
	fd = open(file, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(3 * PG, read(fd, got, sizeof(got)));
	ASSERT_EQ(0, memcmp(want, got, 3 * PG));
	close(fd);
	ASSERT_EQ(0, run(self->out, sizeof(self->out),
			 "export --store %s --gen 1 --range 0x%llx-0x%llx --format raw -o %s",
			 self->dir, A + PG + 10, A + PG + 20, file));
	fd = open(file, O_RDONLY);
	ASSERT_EQ(10, read(fd, got, sizeof(got)));
	fake_page(want, 1, A + PG);
	ASSERT_EQ(0, memcmp(want + 10, got, 10));
	close(fd);
	/* Hex without 0x too: 10-20 is sixteen bytes, not ten. */
	ASSERT_EQ(0, run(self->out, sizeof(self->out),
			 "export --store %s --range %llx-%llx --format raw -o %s",
			 self->dir, A + 0x10, A + 0x20, file));
	fd = open(file, O_RDONLY);
	ASSERT_EQ(16, read(fd, got, sizeof(got)));
	close(fd);
	ASSERT_EQ(1, run(self->out, sizeof(self->out),
			 "export --store %s --range 0x%llx-0x%llx --format elf -o %s",
			 self->dir, A, A + PG, file));
	unlink(file);
}

TEST_F(cli, verify_and_corruption)
{
	char name[40], raw[300];
	const char *pack;

	ASSERT_EQ(0, run(self->out, sizeof(self->out), "verify --store %s", self->dir));
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "verify --store %s --gen 1", self->dir));
	snprintf(name, sizeof(name), "/%016x.p", 1);
	pack = find_file(self->dir, name);
	ASSERT_NE(NULL, pack);
	ASSERT_EQ(0, flip_byte(pack, PG + 9));
	ASSERT_EQ(3, run(self->out, sizeof(self->out), "verify --store %s", self->dir));
	ASSERT_NE(NULL, strstr(self->out, pack));
	ASSERT_NE(NULL, strstr(self->out, "hash mismatch at offset 0x1000"));
	ASSERT_EQ(2, lines(self->out));		/* the copy once, the total */
	ASSERT_EQ(3, run(self->out, sizeof(self->out), "verify --store %s --gen 2", self->dir));
	ASSERT_EQ(2, run(self->out, sizeof(self->out), "verify --store %s --gen 7", self->dir));
	ASSERT_EQ(3, run(self->out, sizeof(self->out),
			 "export --store %s --range 0x%llx-0x%llx --format raw -o %s.raw",
			 self->dir, A, A + PG, self->dir));
	ASSERT_NE(NULL, strstr(self->out, "snapper-tool: "));
	snprintf(raw, sizeof(raw), "%s.raw", self->dir);
	ASSERT_NE(0, access(raw, F_OK));	/* it created the file: removed */
	/* Salvage: the good pages, the lost one listed and zeroed, exit 3. */
	ASSERT_EQ(3, run(self->out, sizeof(self->out),
			 "export --store %s --gen 1 --range 0x%llx-0x%llx --format raw -o %s --salvage",
			 self->dir, A, A + 3 * PG, raw));
	ASSERT_NE(NULL, strstr(self->out, "page 0x7f0000000000 lost"));
	ASSERT_NE(NULL, strstr(self->out, "1 page lost, written as zeros"));
	ASSERT_EQ(0, access(raw, F_OK));
	unlink(raw);
}

/* Ranges: empty, endless, outside the mappings. */
TEST_F(cli, export_ranges)
{
	ASSERT_EQ(1, run(self->out, sizeof(self->out),
			 "export --store %s --range 0-0 --format raw -o -", self->dir));
	ASSERT_NE(NULL, strstr(self->out, "empty range"));
	ASSERT_EQ(1, run(self->out, sizeof(self->out),
			 "export --store %s --range 0-ffffffffffffffff --format raw -o -",
			 self->dir));
	ASSERT_NE(NULL, strstr(self->out, "outside the generation's mappings"));
	ASSERT_EQ(1, run(self->out, sizeof(self->out),
			 "export --store %s --range 0x%llx-0x%llx --format raw -o -",
			 self->dir, A, A + 9 * PG));
}

/* No integrity knob: reads always check and fall back, nothing to choose. */
TEST_F(cli, no_integrity_knob)
{
	ASSERT_EQ(1, run(self->out, sizeof(self->out),
			 "export --store %s --range 0x%llx-0x%llx --format raw -o - "
			 "--integrity no", self->dir, A, A + PG));
	ASSERT_NE(NULL, strstr(self->out, "unknown or incomplete option"));
	ASSERT_EQ(1, run(self->out, sizeof(self->out),
			 "purge --store %s --integrity yes", self->dir));
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "show --store %s", self->dir));
	ASSERT_EQ(NULL, strstr(self->out, "integrity"));
}

/* Names from the target never reach the terminal raw. */
TEST_F(cli, show_escapes_names)
{
	struct store_vma v = { A, A + PG, 0, 3, 0, "/tmp/\033[2Jevil\nx", false };
	struct store_meta meta = { .pid = 1, .comm = "a\033]0;t\007" };
	struct store_gen *g;
	struct store *s;
	uint64_t id;

	ASSERT_EQ(0, store_open(&s, self->dir, NULL, 0));
	ASSERT_EQ(0, store_gen_begin(s, STORE_GEN_FULL, 0, &g));
	ASSERT_EQ(0, store_gen_set_meta(g, &meta));
	ASSERT_EQ(0, store_gen_add_vma(g, &v));
	ASSERT_EQ(0, store_gen_commit(g, &id));
	store_close(s);
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "show --store %s", self->dir));
	ASSERT_EQ(NULL, strchr(self->out, 033));
	ASSERT_EQ(NULL, strchr(self->out, 007));
	ASSERT_NE(NULL, strstr(self->out, "\\x1b[2Jevil\\x0ax"));
	ASSERT_NE(NULL, strstr(self->out, "(a\\x1b]0;t\\x07)"));
}

TEST_F(cli, purge)
{
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "purge --store %s", self->dir));
	ASSERT_NE(NULL, strstr(self->out, "removed 0 generations, 2 left"));
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "purge --store %s --drop-damaged", self->dir));
	ASSERT_NE(NULL, strstr(self->out, "removed 0 generations, 2 left"));
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "purge --store %s --max-snapshots 1", self->dir));
	ASSERT_NE(NULL, strstr(self->out, "removed 1 generation, 1 left"));
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "list --store %s", self->dir));
	ASSERT_EQ(0, strncmp(self->out, "2 ", 2));
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "purge --store %s --max-snapshots x", self->dir));
	/* Write-side knobs mean nothing to purge: refused, not ignored. */
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "purge --store %s --threshold 1024", self->dir));
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "purge --store %s --redundancy 8", self->dir));
}

/*
 * purge without flags follows the knobs the store's generations recorded
 * (it used to apply the built-in max of 64).
 */
TEST_F(cli, purge_follows_recorded_knobs)
{
	struct store_knobs k = knobs_with(0, 1, 8);
	struct store_vma v = { A, A + 8 * PG, 0, 3, 0, "", false };
	struct feed f[] = { { A, 1 } };
	struct store *s;
	uint64_t id;

	ASSERT_EQ(0, store_open(&s, self->dir, &k, 0));
	for (int i = 0; i < 68; i++) {
		ASSERT_EQ(0, commit_one(s, STORE_GEN_FULL, &v, 1, f, 1, &id));
	}
	store_close(s);
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "purge --store %s", self->dir));
	ASSERT_NE(NULL, strstr(self->out, "removed 0 generations, 70 left"));
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "purge --store %s --max-snapshots 60", self->dir));
	ASSERT_NE(NULL, strstr(self->out, "removed 10 generations, 60 left"));
}

/* Not a store, or busy: refused with their own exit codes. */
TEST_F(cli, not_a_store_and_busy)
{
	struct store *s;
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s.other", self->dir);
	ASSERT_EQ(0, mkdir(path, 0700));
	snprintf(path, sizeof(path), "%s.other/file", self->dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	ASSERT_EQ(2, run(self->out, sizeof(self->out), "verify --store %s.other", self->dir));
	ASSERT_NE(NULL, strstr(self->out, "not a snapper store"));
	ASSERT_EQ(2, run(self->out, sizeof(self->out), "purge --store %s.other", self->dir));
	snprintf(path, sizeof(path), "%s.other/seq", self->dir);
	ASSERT_NE(0, access(path, F_OK));
	snprintf(path, sizeof(path), "%s.other", self->dir);
	rm_tree(path);
	/* A writer holds it: readers go on, a second writer says why. */
	ASSERT_EQ(0, store_open(&s, self->dir, NULL, 0));
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "list --store %s", self->dir));
	setenv("SNAPPER_STORE_LOCK_WAIT", "0", 1);
	ASSERT_EQ(4, run(self->out, sizeof(self->out), "purge --store %s", self->dir));
	unsetenv("SNAPPER_STORE_LOCK_WAIT");
	ASSERT_NE(NULL, strstr(self->out, "another process is writing"));
	store_close(s);
}

TEST_F(cli, errors_name_the_object)
{
	ASSERT_EQ(2, run(self->out, sizeof(self->out), "list --store %s/nope", self->dir));
	ASSERT_EQ(1, lines(self->out));
	ASSERT_NE(NULL, strstr(self->out, "/nope"));
	/* A read command never creates a store, nor does purge. */
	ASSERT_EQ(2, run(self->out, sizeof(self->out), "purge --store %s/nope", self->dir));
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "list"));
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "list --store %s --bogus", self->dir));
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "export --help"));
	ASSERT_NE(NULL, strstr(self->out, "--range START-END"));
}

TEST_HARNESS_MAIN
