// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "snapper". uapi/linux/snapper.h documents
 * every command and attribute; this file only implements that contract.
 */
#include <linux/module.h>
#include <net/genetlink.h>
#include <linux/snapper.h>

#include "netlink.h"
#include "params.h"

static const struct nla_policy snapper_policy[SNAPPER_A_MAX + 1] = {
	[SNAPPER_A_MODULE_VERSION] = { .type = NLA_REJECT },
	[SNAPPER_A_PROTOCOL_VERSION] = { .type = NLA_REJECT },
	[SNAPPER_A_CONFIG] = { .type = NLA_REJECT },
};

static int put_config(struct sk_buff *skb, const struct snapper_config *cfg)
{
	struct nlattr *nest;

	nest = nla_nest_start(skb, SNAPPER_A_CONFIG);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u8(skb, SNAPPER_A_CONFIG_VERBOSE, cfg->verbose) ||
	    nla_put_u32(skb, SNAPPER_A_CONFIG_THRESHOLD, cfg->threshold) ||
	    nla_put_u8(skb, SNAPPER_A_CONFIG_INTEGRITY, cfg->integrity) ||
	    nla_put_u32(skb, SNAPPER_A_CONFIG_REDUNDANCY, cfg->redundancy) ||
	    nla_put_u32(skb, SNAPPER_A_CONFIG_MAX_SNAPSHOTS, cfg->max_snapshots) ||
	    nla_put_u32(skb, SNAPPER_A_CONFIG_MIN_SNAPSHOTS, cfg->min_snapshots) ||
	    nla_put_u64_64bit(skb, SNAPPER_A_CONFIG_EXPIRATION, cfg->expiration,
			      SNAPPER_A_CONFIG_UNSPEC)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static struct genl_family snapper_family;

static int get_config_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct snapper_config cfg;
	struct sk_buff *msg;
	void *hdr;
	int ret;

	snapper_params_get(&cfg);

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &snapper_family, 0,
				SNAPPER_CMD_GET_CONFIG);
	if (!hdr) {
		ret = -EMSGSIZE;
		goto err_free;
	}
	ret = -EMSGSIZE;
	if (nla_put_string(msg, SNAPPER_A_MODULE_VERSION, SNAPPER_VERSION) ||
	    nla_put_u32(msg, SNAPPER_A_PROTOCOL_VERSION,
			SNAPPER_PROTOCOL_VERSION))
		goto err_free;
	ret = put_config(msg, &cfg);
	if (ret)
		goto err_free;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
	return ret;
}

static const struct genl_small_ops snapper_ops[] = {
	{
		.cmd = SNAPPER_CMD_GET_CONFIG,
		.doit = get_config_doit,
	},
};

static struct genl_family snapper_family __ro_after_init = {
	.name = SNAPPER_GENL_NAME,
	.version = SNAPPER_GENL_VERSION,
	.maxattr = SNAPPER_A_MAX,
	.policy = snapper_policy,
	.netnsok = true,
	.module = THIS_MODULE,
	.small_ops = snapper_ops,
	.n_small_ops = ARRAY_SIZE(snapper_ops),
	.resv_start_op = SNAPPER_CMD_GET_CONFIG,
};

int __init snapper_netlink_init(void)
{
	return genl_register_family(&snapper_family);
}

void snapper_netlink_uninit(void)
{
	genl_unregister_family(&snapper_family);
}
