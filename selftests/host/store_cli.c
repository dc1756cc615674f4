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
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "show --store %s --gen 9", self->dir));
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
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "verify --store %s", self->dir));
	ASSERT_NE(NULL, strstr(self->out, pack));
	ASSERT_NE(NULL, strstr(self->out, "hash mismatch at offset 0x1000"));
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "verify --store %s --gen 2", self->dir));
	ASSERT_EQ(1, run(self->out, sizeof(self->out),
			 "export --store %s --range 0x%llx-0x%llx --format raw -o %s.raw",
			 self->dir, A, A + PG, self->dir));
	ASSERT_NE(NULL, strstr(self->out, "snapper-tool: "));
	snprintf(raw, sizeof(raw), "%s.raw", self->dir);
	ASSERT_NE(0, access(raw, F_OK));	/* it created the file: removed */
}

TEST_F(cli, purge)
{
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "purge --store %s", self->dir));
	ASSERT_NE(NULL, strstr(self->out, "removed 0 generations, 2 left"));
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "purge --store %s --max-snapshots 1", self->dir));
	ASSERT_NE(NULL, strstr(self->out, "removed 1 generation, 1 left"));
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "list --store %s", self->dir));
	ASSERT_EQ(0, strncmp(self->out, "2 ", 2));
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "purge --store %s --max-snapshots x", self->dir));
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "purge --store %s --threshold 3", self->dir));
}

TEST_F(cli, errors_name_the_object)
{
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "list --store %s/nope", self->dir));
	ASSERT_EQ(1, lines(self->out));
	ASSERT_NE(NULL, strstr(self->out, "/nope"));
	/* A read command never creates a store, nor does purge. */
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "purge --store %s/nope", self->dir));
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "list"));
	ASSERT_EQ(1, run(self->out, sizeof(self->out), "list --store %s --bogus", self->dir));
	ASSERT_EQ(0, run(self->out, sizeof(self->out), "export --help"));
	ASSERT_NE(NULL, strstr(self->out, "--range START-END"));
}

TEST_HARNESS_MAIN
