/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KUnit tests of the knob setters; included at the end of params.c so that
 * the static setters can be called directly.
 */
#include <kunit/test.h>

struct u32_case {
	const char *val;
	int ret;
	u32 expect;	/* value after the call, starting from 77 */
};

static void check_u32_setter(struct kunit *test,
			     int (*set)(const char *, const struct kernel_param *),
			     const struct u32_case *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		u32 v = 77;
		struct kernel_param kp = { .name = "knob", .arg = &v };

		KUNIT_EXPECT_EQ_MSG(test, set(cases[i].val, &kp), cases[i].ret,
				    "value \"%s\"", cases[i].val);
		KUNIT_EXPECT_EQ_MSG(test, v, cases[i].expect,
				    "value \"%s\"", cases[i].val);
	}
}

static void params_test_threshold(struct kunit *test)
{
	static const struct u32_case cases[] = {
		{ "16", 0, 16 },
		{ "1048576", 0, 1048576 },
		{ "0x400\n", 0, 1024 },
		{ "15", -EINVAL, 77 },
		{ "0", -EINVAL, 77 },
		{ "1048577", -EINVAL, 77 },
		{ "-1", -EINVAL, 77 },
		{ "99999999999", -EINVAL, 77 },
		{ "ten", -EINVAL, 77 },
		{ "", -EINVAL, 77 },
	};

	check_u32_setter(test, set_threshold, cases, ARRAY_SIZE(cases));
}

static void params_test_count(struct kunit *test)
{
	static const struct u32_case cases[] = {
		{ "0", 0, 0 },
		{ "1000000", 0, 1000000 },
		{ "3\n", 0, 3 },
		{ "1000001", -EINVAL, 77 },
		{ "4294967296", -EINVAL, 77 },
		{ "1.5", -EINVAL, 77 },
	};

	check_u32_setter(test, set_count, cases, ARRAY_SIZE(cases));
}

static void params_test_expiration(struct kunit *test)
{
	static const struct {
		const char *val;
		int ret;
		u64 expect;
	} cases[] = {
		{ "0", 0, 0 },
		{ "86400", 0, 86400 },
		{ "1099511627776", 0, SNAPPER_EXPIRATION_MAX },
		{ "1099511627777", -EINVAL, 77 },
		{ "18446744073709551616", -EINVAL, 77 },
		{ "-5", -EINVAL, 77 },
		{ "soon", -EINVAL, 77 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		u64 v = 77;
		struct kernel_param kp = { .name = "expiration", .arg = &v };

		KUNIT_EXPECT_EQ_MSG(test, set_expiration(cases[i].val, &kp),
				    cases[i].ret, "value \"%s\"", cases[i].val);
		KUNIT_EXPECT_EQ_MSG(test, v, cases[i].expect,
				    "value \"%s\"", cases[i].val);
	}
}

static void params_test_get(struct kunit *test)
{
	struct snapper_config cfg;

	snapper_params_get(&cfg);
	KUNIT_EXPECT_EQ(test, cfg.threshold, threshold);
	KUNIT_EXPECT_EQ(test, cfg.max_snapshots, max_snapshots);
	KUNIT_EXPECT_EQ(test, cfg.expiration, expiration);
	KUNIT_EXPECT_EQ(test, cfg.stream_timeout_ms, stream_timeout_ms);
	KUNIT_EXPECT_GE(test, cfg.threshold, SNAPPER_THRESHOLD_MIN);
}

static struct kunit_case params_test_cases[] = {
	KUNIT_CASE(params_test_threshold),
	KUNIT_CASE(params_test_count),
	KUNIT_CASE(params_test_expiration),
	KUNIT_CASE(params_test_get),
	{}
};

static struct kunit_suite params_test_suite = {
	.name = "snapper-params",
	.test_cases = params_test_cases,
};

kunit_test_suite(params_test_suite);
