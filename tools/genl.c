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

/*
 * A page message is 4.2 KiB and the kernel packs dump skbs of up to 32 KiB
 * once the reader's buffer is large: read with more than that.
 */
#define RECV_BUF_SIZE	(64 * 1024)

struct snapper_genl {
	struct nl_sock *sk;
	int family;
	uint8_t *buf;		/* RECV_BUF_SIZE, unless a stream lends one */
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

static int connect_sock(struct snapper_genl *g)
{
	int one = 1;
	int ret;

	g->sk = nl_socket_alloc();
	if (!g->sk)
		return -ENOMEM;
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
	nl_socket_set_msg_buf_size(g->sk, RECV_BUF_SIZE);
	return 0;

err_sock:
	nl_socket_free(g->sk);
	g->sk = NULL;
	return ret;
}

int snapper_genl_open(struct snapper_genl **out)
{
	struct snapper_genl *g;
	int ret;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->buf = malloc(RECV_BUF_SIZE);
	ret = g->buf ? connect_sock(g) : -ENOMEM;
	if (ret) {
		free(g->buf);
		free(g);
		return ret;
	}
	*out = g;
	return 0;
}

void snapper_genl_close(struct snapper_genl *g)
{
	if (!g)
		return;
	if (g->sk)
		nl_socket_free(g->sk);
	free(g->buf);
	free(g);
}

const char *snapper_genl_strerror(int err)
{
	if (err == -ENOENT)
		return "the snapper kernel module is not loaded (modprobe snapper)";
	return strerror(-err);
}

static int parse_config(struct nlmsghdr *nlh, void *arg)
{
	static struct nla_policy cfg_policy[SNAPPER_A_CONFIG_MAX + 1] = {
		[SNAPPER_A_CONFIG_VERBOSE] = { .type = NLA_U8 },
		[SNAPPER_A_CONFIG_THRESHOLD] = { .type = NLA_U32 },
		[SNAPPER_A_CONFIG_INTEGRITY] = { .type = NLA_U8 },
		[SNAPPER_A_CONFIG_REDUNDANCY] = { .type = NLA_U32 },
		[SNAPPER_A_CONFIG_MAX_SNAPSHOTS] = { .type = NLA_U32 },
		[SNAPPER_A_CONFIG_MIN_SNAPSHOTS] = { .type = NLA_U32 },
		[SNAPPER_A_CONFIG_EXPIRATION] = { .type = NLA_U64 },
		[SNAPPER_A_CONFIG_STREAM_TIMEOUT_MS] = { .type = NLA_U32 },
	};
	struct snapper_module_config *cfg = arg;
	struct nlattr *tb[SNAPPER_A_MAX + 1];
	struct nlattr *c[SNAPPER_A_CONFIG_MAX + 1];
	int i;

	if (genlmsg_parse(nlh, 0, tb, SNAPPER_A_MAX, NULL) < 0 ||
	    !tb[SNAPPER_A_MODULE_VERSION] || !tb[SNAPPER_A_PROTOCOL_VERSION] ||
	    !tb[SNAPPER_A_CONFIG] ||
	    nla_parse_nested(c, SNAPPER_A_CONFIG_MAX, tb[SNAPPER_A_CONFIG],
			     cfg_policy) < 0)
		return -EPROTO;
	/* Every knob up to expiration; later ones are optional. */
	for (i = 1; i <= SNAPPER_A_CONFIG_EXPIRATION; i++)
		if (!c[i])
			return -EPROTO;

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
	cfg->stream_timeout_ms = c[SNAPPER_A_CONFIG_STREAM_TIMEOUT_MS] ?
		nla_get_u32(c[SNAPPER_A_CONFIG_STREAM_TIMEOUT_MS]) : 0;
	return 0;
}

/*
 * State of one request: the kernel's errno and extack message if it
 * failed, and whether its final acknowledgement or DONE has arrived.
 */
struct transaction {
	int err;
	bool done;
	char msg[256];
};

/* An NLMSG_ERROR: an acknowledgement (error 0) or the request's failure. */
static void on_error(struct transaction *t, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = nlmsg_data(nlh);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	unsigned int hlen = sizeof(*e);

	t->done = true;
	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e))) {
		t->err = -EPROTO;
		return;
	}
	t->err = e->error;
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
}

/*
 * The end of a dump; one that fails says so in its NLMSG_DONE: the errno,
 * then, with NLM_F_ACK_TLVS, the extack attributes (a checkpoint's errors
 * all come so: uapi/linux/snapper.h).
 */
static void on_done(struct transaction *t, const struct nlmsghdr *nlh)
{
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	unsigned int hlen = NLMSG_ALIGN(sizeof(int));
	int err;

	if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(err))) {
		memcpy(&err, nlmsg_data(nlh), sizeof(err));
		if (err < 0 && !t->err)
			t->err = err;
		if (err < 0 && (nlh->nlmsg_flags & NLM_F_ACK_TLVS) &&
		    nlh->nlmsg_len > NLMSG_HDRLEN + hlen &&
		    nla_parse(tb, NLMSGERR_ATTR_MAX,
			      (struct nlattr *)((char *)nlmsg_data(nlh) + hlen),
			      nlh->nlmsg_len - NLMSG_HDRLEN - hlen, NULL) == 0 &&
		    tb[NLMSGERR_ATTR_MSG])
			nla_strlcpy(t->msg, tb[NLMSGERR_ATTR_MSG], sizeof(t->msg));
	}
	t->done = true;
}

/*
 * Sends @msg (consumed) and feeds each reply to @valid until the kernel's
 * acknowledgement, error or DONE; a non-zero @valid stops reading (its
 * caller knows why). Returns 0 or the kernel's negative errno.
 *
 * The replies are read here rather than by nl_recvmsgs(), which copies
 * every message into an nl_msg of its own (a malloc() and a memcpy() of
 * each 4.2 KiB page message of a checkpoint) before its callback: here
 * each message is parsed where recvmsg() put it. With @space, the stream
 * is received where @space(@arg, RECV_BUF_SIZE) says (the page queue's
 * memory, so that a page is not copied out again); NULL from it, or no
 * @space, means our own buffer.
 */
static int transact(struct snapper_genl *g, struct nl_msg *msg,
		    int (*valid)(struct nlmsghdr *, void *),
		    void *(*space)(void *, size_t), void *arg)
{
	struct transaction t = { 0 };
	struct sockaddr_nl from;
	struct iovec iov;
	struct msghdr mh = {
		.msg_name = &from, .msg_namelen = sizeof(from),
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	struct nlmsghdr *nlh;
	uint32_t seq, port;
	ssize_t n;
	int fd, rem, ret;

	/* Completes the header: our port, the next sequence number, ACK. */
	ret = nl_send_auto(g->sk, msg);
	seq = nlmsg_hdr(msg)->nlmsg_seq;
	nlmsg_free(msg);
	if (ret < 0) {
		t.err = nlerr_to_errno(ret);
		goto out;
	}
	fd = nl_socket_get_fd(g->sk);
	port = nl_socket_get_local_port(g->sk);
	while (!t.done) {
		iov.iov_base = space ? space(arg, RECV_BUF_SIZE) : NULL;
		if (!iov.iov_base)
			iov.iov_base = g->buf;
		iov.iov_len = RECV_BUF_SIZE;
		mh.msg_namelen = sizeof(from);
		n = recvmsg(fd, &mh, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			t.err = -errno;
			break;
		}
		/* Dump skbs are at most 32 KiB: a cut message is a bug. */
		if (n == 0 || (mh.msg_flags & MSG_TRUNC)) {
			t.err = -EPROTO;
			break;
		}
		if (from.nl_pid)	/* not from the kernel */
			continue;
		rem = n;
		for (nlh = iov.iov_base; !t.done && nlmsg_ok(nlh, rem);
		     nlh = nlmsg_next(nlh, &rem)) {
			if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != port) {
				t.err = -EPROTO;	/* not our request's */
				t.done = true;
			} else if (nlh->nlmsg_type == NLMSG_ERROR) {
				on_error(&t, nlh);
			} else if (nlh->nlmsg_type == NLMSG_DONE) {
				on_done(&t, nlh);
			} else if (nlh->nlmsg_type == NLMSG_OVERRUN) {
				t.err = -EOVERFLOW;
				t.done = true;
			} else if (nlh->nlmsg_type != NLMSG_NOOP && valid &&
				   valid(nlh, arg)) {
				t.done = true;
			}
		}
	}
out:
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
	ret = transact(g, msg, parse_config, NULL, cfg);
	if (!ret && !cfg->protocol_version)
		ret = -EPROTO;	/* acknowledged, but no usable reply */
	return ret;
}

const char *snapper_genl_errmsg(struct snapper_genl *g)
{
	return g && g->errmsg[0] ? g->errmsg : NULL;
}

/* The state of one checkpoint stream, as the parser goes. */
struct ckpt_stream {
	const struct snapper_ckpt_ops *ops;
	struct snapper_ckpt_header header;
	bool have_header, have_stats;
	int err;		/* a callback's value, or -EPROTO */
};

static int stream_fail(struct ckpt_stream *cs, int err)
{
	cs->err = err;
	return err;
}

static int parse_vma(struct ckpt_stream *cs, struct nlattr *nest)
{
	static struct nla_policy pol[SNAPPER_A_VMA_MAX + 1] = {
		[SNAPPER_A_VMA_START] = { .type = NLA_U64 },
		[SNAPPER_A_VMA_END] = { .type = NLA_U64 },
		[SNAPPER_A_VMA_PROT] = { .type = NLA_U32 },
		[SNAPPER_A_VMA_FLAGS] = { .type = NLA_U32 },
		[SNAPPER_A_VMA_PGOFF] = { .type = NLA_U64 },
		[SNAPPER_A_VMA_PATH] = { .type = NLA_STRING },
	};
	struct nlattr *v[SNAPPER_A_VMA_MAX + 1];
	struct snapper_ckpt_vma vma;

	if (nla_parse_nested(v, SNAPPER_A_VMA_MAX, nest, pol) < 0 ||
	    !v[SNAPPER_A_VMA_START] || !v[SNAPPER_A_VMA_END] ||
	    !v[SNAPPER_A_VMA_PROT] || !v[SNAPPER_A_VMA_FLAGS] ||
	    !v[SNAPPER_A_VMA_PGOFF])
		return -EPROTO;
	vma.start = nla_get_u64(v[SNAPPER_A_VMA_START]);
	vma.end = nla_get_u64(v[SNAPPER_A_VMA_END]);
	vma.prot = nla_get_u32(v[SNAPPER_A_VMA_PROT]);
	vma.flags = nla_get_u32(v[SNAPPER_A_VMA_FLAGS]);
	vma.pgoff = nla_get_u64(v[SNAPPER_A_VMA_PGOFF]);
	vma.path = v[SNAPPER_A_VMA_PATH] ?
		   nla_get_string(v[SNAPPER_A_VMA_PATH]) : "";
	return cs->ops->vma ? cs->ops->vma(cs->ops->arg, &vma) : 0;
}

static int parse_hole(struct ckpt_stream *cs, struct nlattr *nest)
{
	static struct nla_policy pol[SNAPPER_A_HOLE_MAX + 1] = {
		[SNAPPER_A_HOLE_START] = { .type = NLA_U64 },
		[SNAPPER_A_HOLE_END] = { .type = NLA_U64 },
		[SNAPPER_A_HOLE_FILE] = { .type = NLA_FLAG },
	};
	struct nlattr *h[SNAPPER_A_HOLE_MAX + 1];
	uint64_t start, end;

	if (!cs->have_header ||
	    nla_parse_nested(h, SNAPPER_A_HOLE_MAX, nest, pol) < 0 ||
	    !h[SNAPPER_A_HOLE_START] || !h[SNAPPER_A_HOLE_END])
		return -EPROTO;
	start = nla_get_u64(h[SNAPPER_A_HOLE_START]);
	end = nla_get_u64(h[SNAPPER_A_HOLE_END]);
	if (start >= end || (start | end) % cs->header.page_size)
		return -EPROTO;
	return cs->ops->hole ? cs->ops->hole(cs->ops->arg, start, end,
					     h[SNAPPER_A_HOLE_FILE]) : 0;
}

static int parse_stats(struct ckpt_stream *cs, struct nlattr *nest)
{
	static struct nla_policy pol[SNAPPER_A_STATS_MAX + 1] = {
		[SNAPPER_A_STATS_SCANNED] = { .type = NLA_U64 },
		[SNAPPER_A_STATS_SENT] = { .type = NLA_U64 },
		[SNAPPER_A_STATS_THP] = { .type = NLA_U64 },
		[SNAPPER_A_STATS_SWAP] = { .type = NLA_U64 },
		[SNAPPER_A_STATS_VMA_SOFTDIRTY] = { .type = NLA_U64 },
		[SNAPPER_A_STATS_FREEZE_US] = { .type = NLA_U64 },
		[SNAPPER_A_STATS_WALK_US] = { .type = NLA_U64 },
		[SNAPPER_A_STATS_COPIED] = { .type = NLA_U64 },
		[SNAPPER_A_STATS_THREADS] = { .type = NLA_U32 },
		[SNAPPER_A_STATS_THP_UNCHANGED] = { .type = NLA_U64 },
		[SNAPPER_A_STATS_HOLE_PAGES] = { .type = NLA_U64 },
	};
	struct nlattr *t[SNAPPER_A_STATS_MAX + 1];
	struct snapper_ckpt_stats st;
	int i;

	if (nla_parse_nested(t, SNAPPER_A_STATS_MAX, nest, pol) < 0)
		return -EPROTO;
	for (i = SNAPPER_A_STATS_SCANNED; i <= SNAPPER_A_STATS_THREADS; i++)
		if (!t[i])
			return -EPROTO;
	st.scanned = nla_get_u64(t[SNAPPER_A_STATS_SCANNED]);
	st.sent = nla_get_u64(t[SNAPPER_A_STATS_SENT]);
	st.thp = nla_get_u64(t[SNAPPER_A_STATS_THP]);
	st.swap = nla_get_u64(t[SNAPPER_A_STATS_SWAP]);
	st.vma_softdirty = nla_get_u64(t[SNAPPER_A_STATS_VMA_SOFTDIRTY]);
	st.freeze_us = nla_get_u64(t[SNAPPER_A_STATS_FREEZE_US]);
	st.walk_us = nla_get_u64(t[SNAPPER_A_STATS_WALK_US]);
	st.copied = nla_get_u64(t[SNAPPER_A_STATS_COPIED]);
	st.threads = nla_get_u32(t[SNAPPER_A_STATS_THREADS]);
	st.thp_unchanged = t[SNAPPER_A_STATS_THP_UNCHANGED] ?
			   nla_get_u64(t[SNAPPER_A_STATS_THP_UNCHANGED]) : 0;
	st.hole_pages = t[SNAPPER_A_STATS_HOLE_PAGES] ?
			nla_get_u64(t[SNAPPER_A_STATS_HOLE_PAGES]) : 0;
	cs->have_stats = true;
	return cs->ops->stats ? cs->ops->stats(cs->ops->arg, &st) : 0;
}

static int parse_header(struct ckpt_stream *cs, struct nlattr **tb)
{
	if (cs->have_header || !tb[SNAPPER_A_CHECKPOINT_MODE] ||
	    !tb[SNAPPER_A_PAGE_SIZE])
		return -EPROTO;
	cs->header.checkpoint_id = nla_get_u64(tb[SNAPPER_A_CHECKPOINT_ID]);
	cs->header.full = nla_get_u8(tb[SNAPPER_A_CHECKPOINT_MODE]) ==
			  SNAPPER_CKPT_MODE_FULL;
	cs->header.page_size = nla_get_u32(tb[SNAPPER_A_PAGE_SIZE]);
	cs->have_header = true;
	return cs->ops->header ? cs->ops->header(cs->ops->arg, &cs->header) : 0;
}

static int parse_page(struct ckpt_stream *cs, struct nlattr **tb)
{
	struct nlattr *data = tb[SNAPPER_A_PAGE_DATA];

	if (!cs->have_header || !data ||
	    (uint32_t)nla_len(data) != cs->header.page_size ||
	    nla_len(tb[SNAPPER_A_PAGE_ADDR]) != sizeof(uint64_t))
		return -EPROTO;
	return cs->ops->page ?
	       cs->ops->page(cs->ops->arg,
			     nla_get_u64(tb[SNAPPER_A_PAGE_ADDR]),
			     nla_data(data),
			     tb[SNAPPER_A_PAGE_FLAGS] ?
			     nla_get_u32(tb[SNAPPER_A_PAGE_FLAGS]) : 0) : 0;
}

/*
 * A message of SNAPPER_CKPT_F_PAGE_BATCH: the pages' addresses (each ORed
 * with its flags), then their bytes, in the same order.
 */
static int parse_batch(struct ckpt_stream *cs, struct nlattr **tb)
{
	struct nlattr *addrs = tb[SNAPPER_A_PAGE_ADDRS];
	struct nlattr *data = tb[SNAPPER_A_PAGE_DATA];
	uint32_t ps = cs->header.page_size;
	const uint8_t *a, *d;
	size_t n, i;
	uint64_t v;
	int ret;

	if (!cs->have_header || !data || tb[SNAPPER_A_PAGE_ADDR] ||
	    !ps || (ps & (ps - 1)))
		return -EPROTO;
	n = (size_t)nla_len(addrs) / sizeof(v);
	if (!n || n > SNAPPER_PAGE_BATCH_MAX ||
	    (size_t)nla_len(addrs) != n * sizeof(v) ||
	    (size_t)nla_len(data) != n * ps)
		return -EPROTO;
	a = nla_data(addrs);
	d = nla_data(data);
	for (i = 0; i < n && cs->ops->page; i++) {
		memcpy(&v, a + i * sizeof(v), sizeof(v));
		ret = cs->ops->page(cs->ops->arg, v & ~(uint64_t)(ps - 1),
				    d + i * ps, v & (ps - 1));
		if (ret)
			return ret;
	}
	return 0;
}

/* One message of the stream: its kind follows from its attributes. */
static int parse_ckpt_msg(struct nlmsghdr *nlh, void *arg)
{
	struct ckpt_stream *cs = arg;
	struct nlattr *tb[SNAPPER_A_MAX + 1] = { 0 };
	struct nlattr *a;
	int rem, ret = 0;

	if (!genlmsg_valid_hdr(nlh, 0))
		return stream_fail(cs, -EPROTO);
	/* Layout and hole messages repeat their nest: one by one. */
	nla_for_each_attr(a, genlmsg_attrdata(nlmsg_data(nlh), 0),
			  genlmsg_attrlen(nlmsg_data(nlh), 0), rem) {
		int type = nla_type(a);

		if (type == SNAPPER_A_VMA || type == SNAPPER_A_HOLE) {
			if (!cs->have_header)
				return stream_fail(cs, -EPROTO);
			ret = type == SNAPPER_A_VMA ? parse_vma(cs, a) :
						      parse_hole(cs, a);
			if (ret)
				return stream_fail(cs, ret);
		} else if (type > 0 && type <= SNAPPER_A_MAX) {
			tb[type] = a;
		}
	}
	if (tb[SNAPPER_A_CHECKPOINT_ID])
		ret = parse_header(cs, tb);
	else if (tb[SNAPPER_A_PAGE_ADDR])
		ret = parse_page(cs, tb);
	else if (tb[SNAPPER_A_PAGE_ADDRS])
		ret = parse_batch(cs, tb);
	else if (tb[SNAPPER_A_STATS])
		ret = parse_stats(cs, tb[SNAPPER_A_STATS]);
	return ret ? stream_fail(cs, ret) : 0;
}

static void *ckpt_space(void *arg, size_t len)
{
	const struct ckpt_stream *cs = arg;

	return cs->ops->space(cs->ops->arg, len);
}

int snapper_genl_checkpoint(struct snapper_genl *g,
			    const struct snapper_ckpt_request *req,
			    const struct snapper_ckpt_ops *ops)
{
	struct ckpt_stream cs = { .ops = ops };
	struct nl_msg *msg;
	int ret;

	msg = new_request(g, SNAPPER_CMD_CHECKPOINT, NLM_F_DUMP);
	if (!msg)
		return -ENOMEM;
	if (nla_put_u32(msg, SNAPPER_A_PID, req->pid) ||
	    nla_put_u64(msg, SNAPPER_A_STORE_ID, req->store_id) ||
	    nla_put_u64(msg, SNAPPER_A_BASE_GENERATION, req->base_generation) ||
	    (req->flags &&
	     nla_put_u32(msg, SNAPPER_A_CHECKPOINT_FLAGS, req->flags))) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	ret = transact(g, msg, parse_ckpt_msg, ops->space ? ckpt_space : NULL,
		       &cs);
	if (cs.err || (!ret && !cs.have_stats)) {
		/*
		 * Stopped reading mid-stream: a new socket, so that the rest
		 * of this stream is not read as the reply to the next request;
		 * closing the old one ends the dump in the kernel.
		 */
		nl_socket_free(g->sk);
		g->sk = NULL;
		connect_sock(g);
		if (!ret)
			ret = cs.err ? cs.err : -EPROTO;
	}
	return ret;
}

int snapper_genl_ack(struct snapper_genl *g, uint32_t pid, uint64_t store_id,
		     uint64_t ckpt, uint64_t gen)
{
	struct nl_msg *msg;

	if (!g->sk)
		return -ENOTCONN;
	msg = new_request(g, SNAPPER_CMD_ACK, NLM_F_ACK);
	if (!msg)
		return -ENOMEM;
	if (nla_put_u32(msg, SNAPPER_A_PID, pid) ||
	    nla_put_u64(msg, SNAPPER_A_STORE_ID, store_id) ||
	    nla_put_u64(msg, SNAPPER_A_CHECKPOINT_ID, ckpt) ||
	    nla_put_u64(msg, SNAPPER_A_GENERATION, gen)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return transact(g, msg, NULL, NULL, NULL);
}
