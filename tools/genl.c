// SPDX-License-Identifier: GPL-2.0
/*
 * Talks to the snapper module over generic netlink with libnl-3, and turns
 * its replies and errors into the plain structs of genl.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <linux/netlink.h>
#include <netlink/netlink.h>

#include "genl.h"

struct snapper_genl {
	struct nl_sock *sk;
	int family;
	char errmsg[256];	/* extack message of the last failed request */
};

/* libnl's own codes say little to a user; map them back to errno values. */
static int nlerr_to_errno(int err)
{
	switch (-err) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_OBJ_NOTFOUND:
		return -ENOENT;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_RANGE:
		return -ERANGE;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_NODEV:
		return -ENODEV;
	case NLE_MSGSIZE:
		return -EMSGSIZE;
	case NLE_PROTO_MISMATCH:
		return -EPROTO;
	default:
		return -EIO;
	}
}

int snapper_genl_open(struct snapper_genl **out)
{
	struct snapper_genl *g;
	int one = 1;
	int ret;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->sk = nl_socket_alloc();
	if (!g->sk) {
		ret = -ENOMEM;
		goto err_free;
	}
	ret = genl_connect(g->sk);
	if (ret < 0) {
		ret = nlerr_to_errno(ret);
		goto err_sock;
	}
	g->family = genl_ctrl_resolve(g->sk, SNAPPER_GENL_NAME);
	if (g->family < 0) {
		ret = -ENOENT;
		goto err_sock;
	}
	/* libnl 3.7 has no helper for extended acks: ask the socket directly. */
	setsockopt(nl_socket_get_fd(g->sk), SOL_NETLINK, NETLINK_EXT_ACK,
		   &one, sizeof(one));
	*out = g;
	return 0;

err_sock:
	nl_socket_free(g->sk);
err_free:
	free(g);
	return ret;
}

void snapper_genl_close(struct snapper_genl *g)
{
	if (!g)
		return;
	nl_socket_free(g->sk);
	free(g);
}

const char *snapper_genl_strerror(int err)
{
	if (err == -ENOENT)
		return "the snapper kernel module is not loaded (modprobe snapper)";
	return strerror(-err);
}

static int parse_config(struct nl_msg *msg, void *arg)
{
	static struct nla_policy cfg_policy[SNAPPER_A_CONFIG_MAX + 1] = {
		[SNAPPER_A_CONFIG_VERBOSE] = { .type = NLA_U8 },
		[SNAPPER_A_CONFIG_THRESHOLD] = { .type = NLA_U32 },
		[SNAPPER_A_CONFIG_INTEGRITY] = { .type = NLA_U8 },
		[SNAPPER_A_CONFIG_REDUNDANCY] = { .type = NLA_U32 },
		[SNAPPER_A_CONFIG_MAX_SNAPSHOTS] = { .type = NLA_U32 },
		[SNAPPER_A_CONFIG_MIN_SNAPSHOTS] = { .type = NLA_U32 },
		[SNAPPER_A_CONFIG_EXPIRATION] = { .type = NLA_U64 },
	};
	struct snapper_module_config *cfg = arg;
	struct nlattr *tb[SNAPPER_A_MAX + 1];
	struct nlattr *c[SNAPPER_A_CONFIG_MAX + 1];
	int i;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, SNAPPER_A_MAX, NULL) < 0 ||
	    !tb[SNAPPER_A_MODULE_VERSION] || !tb[SNAPPER_A_PROTOCOL_VERSION] ||
	    !tb[SNAPPER_A_CONFIG] ||
	    nla_parse_nested(c, SNAPPER_A_CONFIG_MAX, tb[SNAPPER_A_CONFIG],
			     cfg_policy) < 0)
		return NL_STOP;
	for (i = 1; i <= SNAPPER_A_CONFIG_MAX; i++)
		if (!c[i])
			return NL_STOP;

	nla_strlcpy(cfg->module_version, tb[SNAPPER_A_MODULE_VERSION],
		    sizeof(cfg->module_version));
	cfg->protocol_version = nla_get_u32(tb[SNAPPER_A_PROTOCOL_VERSION]);
	cfg->verbose = nla_get_u8(c[SNAPPER_A_CONFIG_VERBOSE]);
	cfg->threshold = nla_get_u32(c[SNAPPER_A_CONFIG_THRESHOLD]);
	cfg->integrity = nla_get_u8(c[SNAPPER_A_CONFIG_INTEGRITY]);
	cfg->redundancy = nla_get_u32(c[SNAPPER_A_CONFIG_REDUNDANCY]);
	cfg->max_snapshots = nla_get_u32(c[SNAPPER_A_CONFIG_MAX_SNAPSHOTS]);
	cfg->min_snapshots = nla_get_u32(c[SNAPPER_A_CONFIG_MIN_SNAPSHOTS]);
	cfg->expiration = nla_get_u64(c[SNAPPER_A_CONFIG_EXPIRATION]);
	return NL_OK;
}

/*
 * State of one request: the kernel's errno and extack message if it
 * failed, and whether its final acknowledgement or DONE has arrived.
 */
struct transaction {
	int err;
	bool done;
	char msg[256];
	int (*valid)(struct nl_msg *msg, void *arg);
	void *arg;
};

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct transaction *t = arg;

	return t->valid ? t->valid(msg, t->arg) : NL_OK;
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)e - 1;
	struct transaction *t = arg;
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	unsigned int hlen = sizeof(*e);

	(void)nla;
	t->err = e->error;
	t->done = true;
	/* With NLM_F_CAPPED the request is not echoed back. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		hlen += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) &&
	    nlh->nlmsg_len > NLMSG_HDRLEN + hlen &&
	    nla_parse(tb, NLMSGERR_ATTR_MAX,
		      (struct nlattr *)((char *)e + hlen),
		      nlh->nlmsg_len - NLMSG_HDRLEN - hlen, NULL) == 0 &&
	    tb[NLMSGERR_ATTR_MSG])
		nla_strlcpy(t->msg, tb[NLMSGERR_ATTR_MSG], sizeof(t->msg));
	return NL_STOP;
}

static int on_done(struct nl_msg *msg, void *arg)
{
	struct transaction *t = arg;

	(void)msg;
	t->done = true;
	return NL_STOP;
}

/*
 * Sends @msg (consumed) and feeds each reply to @valid until the kernel's
 * acknowledgement, error or DONE. Returns 0 or the kernel's negative errno.
 */
static int transact(struct snapper_genl *g, struct nl_msg *msg,
		    int (*valid)(struct nl_msg *, void *), void *arg)
{
	struct transaction t = { .valid = valid, .arg = arg };
	struct nl_cb *cb;
	int ret;

	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, &t);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_done, &t);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_done, &t);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, &t);

	ret = nl_send_auto(g->sk, msg);
	nlmsg_free(msg);
	if (ret < 0) {
		t.err = nlerr_to_errno(ret);
		goto out;
	}
	while (!t.done) {
		ret = nl_recvmsgs(g->sk, cb);
		if (ret < 0 && !t.err) {
			t.err = nlerr_to_errno(ret);
			break;
		}
	}
out:
	nl_cb_put(cb);
	snprintf(g->errmsg, sizeof(g->errmsg), "%s", t.msg);
	return t.err;
}

static struct nl_msg *new_request(struct snapper_genl *g, uint8_t cmd,
				  int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, g->family, 0,
				flags, cmd, SNAPPER_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

int snapper_genl_get_config(struct snapper_genl *g,
			    struct snapper_module_config *cfg)
{
	struct nl_msg *msg;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	msg = new_request(g, SNAPPER_CMD_GET_CONFIG, 0);
	if (!msg)
		return -ENOMEM;
	ret = transact(g, msg, parse_config, cfg);
	if (!ret && !cfg->protocol_version)
		ret = -EPROTO;	/* acknowledged, but no usable reply */
	return ret;
}

const char *snapper_genl_errmsg(struct snapper_genl *g)
{
	return g && g->errmsg[0] ? g->errmsg : NULL;
}
