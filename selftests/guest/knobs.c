// SPDX-License-Identifier: GPL-2.0
/*
 * The module's knobs, as the kernel holds them: every knob takes its good
 * values and refuses bad ones through sysfs, keeping the old value; GET_CONFIG
 * (read through snapper-tool config --json) reports every one and agrees with
 * sysfs; the module unloads and loads with knobs set at insmod time, and
 * refuses bad ones there.
 *
 * Needs root and the loaded module (SNAPPER_KO names the file): run it in
 * the guest through selftests/qemu/run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/snapper.h>

#include "kselftest_harness.h"
#include "snapper_guest.h"
#include "timeouts.h"

#define PARAMS "/sys/module/snapper/parameters/"

struct knob {
	const char *name;
	bool is_bool;
	const char *good[4];
	const char *bad[5];
};

static const struct knob knobs[] = {
	/* Bools parse as kstrtobool does: by the first character. */
	{ "verbose", true, { "1", "0", "Y", "n" }, { "2", "maybe", "x", "-1", "9" } },
	{ "integrity", true, { "0", "1", "N", "y" }, { "7", "x", "-1", "+", "2" } },
	{ "threshold", false, { "16", "1048576", "0x100", "1024" },
	  { "15", "0", "1048577", "-3", "lots" } },
	{ "redundancy", false, { "0", "1000000", "1", "8" },
	  { "1000001", "-1", "4294967296", "1.5", "eight" } },
	{ "max_snapshots", false, { "0", "1000000", "3", "64" },
	  { "1000001", "-1", "99999999999", "x", "6 4" } },
	{ "min_snapshots", false, { "0", "1000000", "2", "1" },
	  { "1000001", "-2", "4294967297", "one", "0x" } },
	{ "expiration", false, { "0", "1099511627776", "86400", "0" },
	  { "1099511627777", "-1", "18446744073709551616", "soon", "1e3" } },
	{ "stream_timeout_ms", false, { "100", "86400000", "0x1000", "300000" },
	  { "99", "0", "86400001", "-1", "5s" } },
};

static int read_knob(const char *name, char *buf, size_t len)
{
	char path[256];
	int ret;

	snprintf(path, sizeof(path), PARAMS "%s", name);
	ret = guest_read_file(path, buf, len);
	if (!ret)
		buf[strcspn(buf, "\n")] = '\0';
	return ret;
}

/* Returns 0 or the negative errno that the kernel's setter gave. */
static int write_knob(const char *name, const char *val)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), PARAMS "%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

/* sysfs prints bools as Y/N and numbers in decimal. */
static void canonical(const struct knob *k, const char *val, char *out,
		      size_t len)
{
	if (k->is_bool)
		snprintf(out, len, "%s", strchr("1Yy", val[0]) ? "Y" : "N");
	else
		snprintf(out, len, "%llu", strtoull(val, NULL, 0));
}

static bool module_loaded(void)
{
	return access("/sys/module/snapper", F_OK) == 0;
}

static int run(const char *cmd)
{
	int status = system(cmd);

	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

FIXTURE(knobs) {
	char saved[ARRAY_SIZE(knobs)][64];
};

FIXTURE_SETUP(knobs)
{
	size_t i;

	if (geteuid())
		SKIP(return, "needs root");
	if (!module_loaded())
		SKIP(return, "the snapper module is not loaded");
	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		ASSERT_EQ(0, read_knob(knobs[i].name, self->saved[i],
				       sizeof(self->saved[i])));
	}
}

FIXTURE_TEARDOWN(knobs)
{
	size_t i;

	if (!module_loaded())
		return;
	for (i = 0; i < ARRAY_SIZE(knobs); i++)
		write_knob(knobs[i].name, self->saved[i]);
}

TEST_F(knobs, good_values_stick)
{
	char got[64], want[64];
	size_t i, j;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		for (j = 0; j < ARRAY_SIZE(knobs[i].good); j++) {
			const char *v = knobs[i].good[j];

			EXPECT_EQ(0, write_knob(knobs[i].name, v))
				TH_LOG("%s=%s refused", knobs[i].name, v);
			ASSERT_EQ(0, read_knob(knobs[i].name, got, sizeof(got)));
			canonical(&knobs[i], v, want, sizeof(want));
			EXPECT_STREQ(want, got)
				TH_LOG("%s after writing %s", knobs[i].name, v);
		}
	}
}

TEST_F(knobs, bad_values_refused_and_old_kept)
{
	char before[64], after[64];
	size_t i, j;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		for (j = 0; j < ARRAY_SIZE(knobs[i].bad); j++) {
			const char *v = knobs[i].bad[j];

			ASSERT_EQ(0, read_knob(knobs[i].name, before, sizeof(before)));
			EXPECT_EQ(-EINVAL, write_knob(knobs[i].name, v))
				TH_LOG("%s=\"%s\" not refused with EINVAL",
				       knobs[i].name, v);
			ASSERT_EQ(0, read_knob(knobs[i].name, after, sizeof(after)));
			EXPECT_STREQ(before, after)
				TH_LOG("%s changed by bad value \"%s\"",
				       knobs[i].name, v);
		}
	}
}

TEST_F(knobs, modes_are_0644)
{
	char path[256];
	struct stat st;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		snprintf(path, sizeof(path), PARAMS "%s", knobs[i].name);
		ASSERT_EQ(0, stat(path, &st));
		EXPECT_EQ(0644U, st.st_mode & 0777U) TH_LOG("%s", path);
	}
}

/* Parses "key": value out of the one-line JSON that config --json prints. */
static bool json_value(const char *json, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p;
	size_t n;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(json, pat);
	if (!p)
		return false;
	p += strlen(pat);
	n = strcspn(p, ",}");
	if (n >= len)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

TEST_F(knobs, get_config_agrees_with_sysfs)
{
	static const char *const set[][2] = {
		{ "verbose", "1" }, { "integrity", "0" }, { "threshold", "4096" },
		{ "redundancy", "3" }, { "max_snapshots", "12" },
		{ "min_snapshots", "2" }, { "expiration", "3600" },
		{ "stream_timeout_ms", "4500" },
	};
	char json[1024], got[64], sys[64], want[64];
	size_t i, n;
	FILE *f;

	for (i = 0; i < ARRAY_SIZE(set); i++) {
		ASSERT_EQ(0, write_knob(set[i][0], set[i][1]));
	}

	f = popen("snapper-tool config --json", "r");
	ASSERT_NE(NULL, f);
	n = fread(json, 1, sizeof(json) - 1, f);
	json[n] = '\0';
	ASSERT_EQ(0, pclose(f)) TH_LOG("snapper-tool config --json failed");

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		ASSERT_TRUE(json_value(json, knobs[i].name, got, sizeof(got)))
			TH_LOG("no %s in %s", knobs[i].name, json);
		ASSERT_EQ(0, read_knob(knobs[i].name, sys, sizeof(sys)));
		/* JSON says true/false where sysfs says Y/N. */
		if (!strcmp(got, "true") || !strcmp(got, "false"))
			snprintf(want, sizeof(want), "%s", got[0] == 't' ? "Y" : "N");
		else
			snprintf(want, sizeof(want), "%s", got);
		EXPECT_STREQ(sys, want) TH_LOG("%s", knobs[i].name);
	}
	ASSERT_TRUE(json_value(json, "protocol_version", got, sizeof(got)));
	snprintf(want, sizeof(want), "%u", SNAPPER_PROTOCOL_VERSION);
	EXPECT_STREQ(want, got);
}

FIXTURE(reload) {
};

FIXTURE_SETUP(reload)
{
}

FIXTURE_TEARDOWN(reload)
{
}

/*
 * Unloads and reloads the module, leaving it loaded with its defaults.
 * On the debug kernel every load runs the KUnit suites under KASAN: far
 * beyond the harness's default 30 s.
 */
TEST_F_TIMEOUT(reload, unload_and_load_with_knobs, 600)
{
	const char *ko = getenv("SNAPPER_KO");
	char cmd[512], val[64];

	if (geteuid())
		SKIP(return, "needs root");
	if (!ko || !*ko || access(ko, R_OK))
		SKIP(return, "SNAPPER_KO does not name the module file");
	if (module_loaded())
		ASSERT_EQ(0, run("rmmod snapper"));
	EXPECT_FALSE(module_loaded());
	/* Without the module the tool says so in one line and fails. */
	EXPECT_EQ(0, run("snapper-tool config 2>&1 | grep -q 'module is not loaded'"));
	EXPECT_EQ(1, run("snapper-tool config >/dev/null 2>&1"));

	snprintf(cmd, sizeof(cmd), "insmod %s threshold=5 2>/dev/null", ko);
	EXPECT_NE(0, run(cmd)) TH_LOG("insmod accepted threshold=5");
	EXPECT_FALSE(module_loaded());

	snprintf(cmd, sizeof(cmd),
		 "insmod %s threshold=32 max_snapshots=5 expiration=60 integrity=0", ko);
	ASSERT_EQ(0, run(cmd));
	ASSERT_EQ(0, read_knob("threshold", val, sizeof(val)));
	EXPECT_STREQ("32", val);
	ASSERT_EQ(0, read_knob("max_snapshots", val, sizeof(val)));
	EXPECT_STREQ("5", val);
	ASSERT_EQ(0, read_knob("expiration", val, sizeof(val)));
	EXPECT_STREQ("60", val);
	ASSERT_EQ(0, read_knob("integrity", val, sizeof(val)));
	EXPECT_STREQ("N", val);
	EXPECT_EQ(0, run("snapper-tool config --json | grep -q '\"threshold\": 32,'"));

	/* Leave the module loaded with its defaults for the tests after us. */
	ASSERT_EQ(0, run("rmmod snapper"));
	snprintf(cmd, sizeof(cmd), "insmod %s", ko);
	ASSERT_EQ(0, run(cmd));
}

TEST_HARNESS_MAIN
