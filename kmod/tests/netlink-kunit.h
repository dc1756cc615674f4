/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KUnit tests of the attribute policy: every request attribute is bounded
 * and every reply-only attribute is refused in a request. Included at the
 * end of netlink.c.
 */
#include <kunit/test.h>

/* Builds one attribute and parses it against the family's policy. */
static int parse_one(struct kunit *test, int type, const void *data, int len)
{
	struct nlattr *tb[SNAPPER_A_MAX + 1];
	struct sk_buff *skb;
	int ret;

	skb = alloc_skb(256, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, skb);
	KUNIT_ASSERT_EQ(test, nla_put(skb, type, len, data), 0);
	ret = nla_parse(tb, SNAPPER_A_MAX, (struct nlattr *)skb->data,
			skb->len, snapper_policy, NULL);
	kfree_skb(skb);
	return ret;
}

static void netlink_test_pid_range(struct kunit *test)
{
	u32 v;

	v = 1;
	KUNIT_EXPECT_EQ(test, parse_one(test, SNAPPER_A_PID, &v, 4), 0);
	v = SNAPPER_PID_MAX;
	KUNIT_EXPECT_EQ(test, parse_one(test, SNAPPER_A_PID, &v, 4), 0);
	v = 0;
	KUNIT_EXPECT_LT(test, parse_one(test, SNAPPER_A_PID, &v, 4), 0);
	v = SNAPPER_PID_MAX + 1;
	KUNIT_EXPECT_LT(test, parse_one(test, SNAPPER_A_PID, &v, 4), 0);
	/* A u16 is not a u32. */
	KUNIT_EXPECT_LT(test, parse_one(test, SNAPPER_A_PID, &v, 2), 0);
}

static void netlink_test_ids(struct kunit *test)
{
	u64 v = 0;

	KUNIT_EXPECT_EQ(test, parse_one(test, SNAPPER_A_STORE_ID, &v, 8), 0);
	KUNIT_EXPECT_LT(test, parse_one(test, SNAPPER_A_GENERATION, &v, 8), 0);
	KUNIT_EXPECT_LT(test, parse_one(test, SNAPPER_A_CHECKPOINT_ID, &v, 8), 0);
	v = 1;
	KUNIT_EXPECT_EQ(test, parse_one(test, SNAPPER_A_GENERATION, &v, 8), 0);
	KUNIT_EXPECT_EQ(test, parse_one(test, SNAPPER_A_CHECKPOINT_ID, &v, 8), 0);
	KUNIT_EXPECT_LT(test, parse_one(test, SNAPPER_A_STORE_ID, &v, 4), 0);
}

static void netlink_test_reply_only(struct kunit *test)
{
	static const int reply_only[] = {
		SNAPPER_A_MODULE_VERSION, SNAPPER_A_CONFIG,
		SNAPPER_A_CHECKPOINT_MODE, SNAPPER_A_PAGE_SIZE, SNAPPER_A_VMA,
		SNAPPER_A_PAGE_ADDR, SNAPPER_A_PAGE_DATA, SNAPPER_A_PAGE_FLAGS,
		SNAPPER_A_STATS, SNAPPER_A_PAD,
	};
	u64 v = 1;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(reply_only); i++)
		KUNIT_EXPECT_LT_MSG(test, parse_one(test, reply_only[i], &v, 8),
				    0, "attribute %d", reply_only[i]);
	/* Beyond the last attribute: strict parsing refuses it. */
	KUNIT_EXPECT_LT(test, parse_one(test, SNAPPER_A_MAX + 1, &v, 8), 0);
}

static struct kunit_case netlink_test_cases[] = {
	KUNIT_CASE(netlink_test_pid_range),
	KUNIT_CASE(netlink_test_ids),
	KUNIT_CASE(netlink_test_reply_only),
	{}
};

static struct kunit_suite netlink_test_suite = {
	.name = "snapper-netlink",
	.test_cases = netlink_test_cases,
};

kunit_test_suite(netlink_test_suite);
