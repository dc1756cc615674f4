// SPDX-License-Identifier: GPL-2.0
/*
 * A bounded, seeded fuzzer of the "snapper" generic netlink family, written
 * on a raw NETLINK_GENERIC socket so that any message can be built: random
 * commands (known, unknown, 0, 255), header versions and flags (dump, ack,
 * echo, stray bits), attributes of every known and unknown type with random
 * lengths and content, nested ones down to three levels, attribute lengths
 * that lie, several messages per send, replies read whole, truncated or
 * not at all, sockets closed with dumps in flight. Requests aimed at real
 * processes (a target, the fuzzer itself) make the module walk and stream.
 * Besides single messages it plays sequences: a checkpoint read to a
 * random depth, its id taken from the header, then an acknowledgement from
 * the reading socket or another one, with the right store or not, a second
 * checkpoint of the same target while the first stream is open, and the
 * first stream abandoned mid-way. Streams live only 300 ms meanwhile
 * (stream_timeout_ms), so that their expiry races with their reading.
 * It runs as root, then as uid 65534.
 *
 * It passes when the kernel logged no splat (selftests/qemu/run checks
 * that), the module still answers GET_CONFIG, nothing stays held for a
 * stream, and the target still runs.
 *
 *   SNAPPER_FUZZ_SEED     the seed (default: from the clock; always printed)
 *   SNAPPER_FUZZ_SECONDS  the whole budget (default 30): 2/3 root, 1/3 not
 */
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <grp.h>
#include <sys/socket.h>
#include <time.h>

#include "kselftest_harness.h"
#include "timeouts.h"
#include "snapper_guest.h"


#define BUF 65536

static uint64_t rng;

static uint64_t rnd(void)
{
	return guest_rand(&rng);
}

static uint32_t below(uint32_t n)
{
	return n ? rnd() % n : 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- raw generic netlink ---- */

static int nl_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	int one = 1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	/* Extended acks: the module's messages get exercised too. */
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	return fd;
}

static int nl_send(int fd, const void *buf, size_t len)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	return sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0 ?
	       -errno : 0;
}

static void put_attr(uint8_t *buf, size_t *off, uint16_t type, const void *data,
		     uint16_t len)
{
	struct nlattr *a = (struct nlattr *)(buf + *off);

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy(buf + *off + NLA_HDRLEN, data, len);
	*off += NLA_ALIGN(a->nla_len);
}

/*
 * Sends one well-formed request and waits for its reply; calls @fn on
 * every attribute of the first message of type @want_type. Returns the
 * netlink error (0 for a reply without one) or -ETIMEDOUT.
 */
static int nl_request(int fd, uint16_t type, uint8_t cmd, uint16_t atype,
		      const void *adata, uint16_t alen,
		      void (*fn)(void *arg, struct nlattr *a), void *arg)
{
	static uint8_t buf[BUF];
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct genlmsghdr *gh = NLMSG_DATA(nh);
	size_t off = NLMSG_HDRLEN + GENL_HDRLEN;
	struct timeval tv = { .tv_sec = 5 };
	int ret = -ETIMEDOUT;
	ssize_t n;

	memset(buf, 0, off);
	if (adata)
		put_attr(buf, &off, atype, adata, alen);
	nh->nlmsg_len = off;
	nh->nlmsg_type = type;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nh->nlmsg_seq = 4242;
	gh->cmd = cmd;
	gh->version = 1;
	if (nl_send(fd, buf, off))
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, n);
		     nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_seq != 4242)
				continue;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nh);

				return e->error;
			}
			if (nh->nlmsg_type == type && fn) {
				struct nlattr *a;
				int rem = nh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;

				for (a = (struct nlattr *)((uint8_t *)NLMSG_DATA(nh) +
							   GENL_HDRLEN);
				     rem >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
				     a->nla_len <= rem;
				     rem -= NLA_ALIGN(a->nla_len),
				     a = (struct nlattr *)((uint8_t *)a + NLA_ALIGN(a->nla_len)))
					fn(arg, a);
			}
			ret = 0;
		}
	}
	return ret;
}

static void family_attr(void *arg, struct nlattr *a)
{
	if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID)
		*(uint16_t *)arg = *(uint16_t *)((uint8_t *)a + NLA_HDRLEN);
}

/* The family's id from the generic netlink controller, or 0. */
static uint16_t resolve_family(int fd)
{
	uint16_t id = 0;

	nl_request(fd, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME,
		   SNAPPER_GENL_NAME, sizeof(SNAPPER_GENL_NAME), family_attr, &id);
	return id;
}

struct config_seen {
	bool version, protocol, config;
	uint32_t proto;
};

static void config_attr(void *arg, struct nlattr *a)
{
	struct config_seen *c = arg;

	switch (a->nla_type & NLA_TYPE_MASK) {
	case SNAPPER_A_MODULE_VERSION:
		c->version = a->nla_len > NLA_HDRLEN + 1;
		break;
	case SNAPPER_A_PROTOCOL_VERSION:
		c->protocol = true;
		memcpy(&c->proto, (uint8_t *)a + NLA_HDRLEN, 4);
		break;
	case SNAPPER_A_CONFIG:
		c->config = true;
		break;
	}
}

/* A fresh socket, a GET_CONFIG by hand: the module still answers in full. */
static bool module_answers(void)
{
	struct config_seen c = { 0 };
	uint16_t fam;
	int fd = nl_open(), ret;

	if (fd < 0)
		return false;
	fam = resolve_family(fd);
	ret = fam ? nl_request(fd, fam, SNAPPER_CMD_GET_CONFIG, 0, NULL, 0,
			       config_attr, &c) : -ENOENT;
	close(fd);
	return !ret && c.version && c.protocol && c.config &&
	       c.proto == SNAPPER_PROTOCOL_VERSION;
}

/* ---- the fuzzer ---- */

struct fuzz {
	uint16_t family;
	pid_t pids[4];		/* target, self, a sleeper, none */
	uint64_t sent, refused, replies, truncated, reopened;
};

static void random_bytes(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = rnd();
}

static uint16_t random_len(void)
{
	static const uint16_t lens[] = { 0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 31,
					 32, 64, 255, 4095, 4096, 4097 };

	return below(4) ? lens[below(sizeof(lens) / sizeof(lens[0]))] :
			  below(600);
}

/* A plausible value for attribute @type, or garbage. */
static uint16_t attr_payload(struct fuzz *f, uint16_t type, uint8_t *p,
			     size_t room)
{
	uint32_t v32;
	uint64_t v64;
	uint16_t len;

	if (below(3)) {
		switch (type) {
		case SNAPPER_A_PID:
			/* Random pids above pid_max: never someone else's. */
			v32 = below(8) ? (uint32_t)f->pids[below(4)] :
			      below(2) ? SNAPPER_PID_MAX - below(4096) :
					 (uint32_t)rnd();
			memcpy(p, &v32, 4);
			return 4;
		case SNAPPER_A_CHECKPOINT_FLAGS:
			v32 = below(2) ? below(2) : (uint32_t)rnd();
			memcpy(p, &v32, 4);
			return 4;
		case SNAPPER_A_STORE_ID:
		case SNAPPER_A_BASE_GENERATION:
		case SNAPPER_A_CHECKPOINT_ID:
		case SNAPPER_A_GENERATION:
			v64 = below(2) ? below(4) : rnd();
			memcpy(p, &v64, 8);
			return 8;
		}
	}
	len = random_len();
	if (len > room)
		len = room;
	random_bytes(p, len);
	return len;
}

/* Random attributes into [p, p + room); returns the bytes used. */
static size_t put_attrs(struct fuzz *f, uint8_t *p, size_t room, int depth)
{
	size_t off = 0;
	unsigned int n = below(8), i;

	for (i = 0; i < n && off + NLA_HDRLEN + 8 <= room; i++) {
		struct nlattr *a = (struct nlattr *)(p + off);
		uint16_t type = below(8) ? below(SNAPPER_A_MAX + 3) : (uint16_t)rnd();
		size_t len;

		if (!below(8))
			type |= NLA_F_NESTED;
		if (!below(16))
			type |= NLA_F_NET_BYTEORDER;
		if ((type & NLA_F_NESTED || !below(6)) && depth < 3)
			len = put_attrs(f, p + off + NLA_HDRLEN,
					room - off - NLA_HDRLEN, depth + 1);
		else
			len = attr_payload(f, type & NLA_TYPE_MASK, p + off + NLA_HDRLEN,
					   room - off - NLA_HDRLEN);
		if (len > 0xffff - NLA_HDRLEN)
			len = 0xffff - NLA_HDRLEN;
		a->nla_type = type;
		a->nla_len = NLA_HDRLEN + len;
		/* Sometimes a length that lies. */
		if (!below(20))
			a->nla_len = below(2) ? below(NLA_HDRLEN) : (uint16_t)rnd();
		off += NLA_ALIGN(NLA_HDRLEN + len);
		if (off > room)
			off = room;
	}
	return off;
}

static const uint8_t cmds[] = {
	SNAPPER_CMD_UNSPEC, SNAPPER_CMD_GET_CONFIG, SNAPPER_CMD_CHECKPOINT,
	SNAPPER_CMD_CHECKPOINT, SNAPPER_CMD_ACK, __SNAPPER_CMD_LAST, 5, 127, 255,
};

/*
 * A request the policy accepts (or nearly: one attribute dropped or one
 * extra), so that the fuzzer reaches the tracker and the streams, not
 * only the parser.
 */
static size_t put_valid(struct fuzz *f, uint8_t *p, uint8_t cmd)
{
	uint32_t pid = f->pids[below(4)], flags = below(4) ? 0 : SNAPPER_CKPT_F_FULL;
	uint64_t store = 1 + below(3), base = below(3), ckpt = 1 + below(20);
	size_t off = 0;

	if (cmd == SNAPPER_CMD_GET_CONFIG)
		return 0;
	if (below(16))
		put_attr(p, &off, SNAPPER_A_PID, &pid, 4);
	if (below(16))
		put_attr(p, &off, SNAPPER_A_STORE_ID, &store, 8);
	if (cmd == SNAPPER_CMD_CHECKPOINT) {
		if (below(2))
			put_attr(p, &off, SNAPPER_A_BASE_GENERATION, &base, 8);
		if (below(2))
			put_attr(p, &off, SNAPPER_A_CHECKPOINT_FLAGS, &flags, 4);
	} else {
		put_attr(p, &off, SNAPPER_A_CHECKPOINT_ID, &ckpt, 8);
		base += 1;
		put_attr(p, &off, SNAPPER_A_GENERATION, &base, 8);
	}
	if (!below(8))
		off += put_attrs(f, p + off, 512, 0);
	return off;
}

/* One message at @buf; returns its length. */
static size_t build_msg(struct fuzz *f, uint8_t *buf, size_t room)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct genlmsghdr *gh = NLMSG_DATA(nh);
	size_t len = NLMSG_HDRLEN + GENL_HDRLEN;
	uint16_t flags = NLM_F_REQUEST;

	memset(buf, 0, len);
	if (!below(3)) {
		static const uint8_t ok[] = { SNAPPER_CMD_GET_CONFIG,
			SNAPPER_CMD_CHECKPOINT, SNAPPER_CMD_CHECKPOINT,
			SNAPPER_CMD_ACK };
		uint8_t cmd = ok[below(4)];

		len += put_valid(f, buf + len, cmd);
		nh->nlmsg_len = len;
		nh->nlmsg_type = f->family;
		nh->nlmsg_flags = NLM_F_REQUEST | (below(2) ? NLM_F_ACK : 0) |
			(cmd == SNAPPER_CMD_CHECKPOINT && below(8) ? NLM_F_DUMP : 0);
		nh->nlmsg_seq = rnd();
		gh->cmd = cmd;
		gh->version = 1;
		return len;
	}
	len += put_attrs(f, buf + len, room - len, 0);
	if (below(2))
		flags |= NLM_F_DUMP;
	if (below(2))
		flags |= NLM_F_ACK;
	if (!below(8))
		flags |= NLM_F_ECHO;
	if (!below(10))
		flags |= rnd() & 0xffff;
	if (!below(30))
		flags &= ~NLM_F_REQUEST;
	nh->nlmsg_len = len;
	if (!below(20))
		nh->nlmsg_len = below(2) ? below(len + 1) : len + below(64);
	nh->nlmsg_type = below(20) ? f->family : below(4) ? GENL_ID_CTRL : (uint16_t)rnd();
	nh->nlmsg_flags = flags;
	nh->nlmsg_seq = rnd();
	nh->nlmsg_pid = below(10) ? 0 : (uint32_t)rnd();
	gh->cmd = below(10) ? cmds[below(sizeof(cmds))] : (uint8_t)rnd();
	gh->version = below(4) ? 1 : (uint8_t)rnd();
	gh->reserved = below(8) ? 0 : (uint16_t)rnd();
	return len;
}

/* Reads what is there, in full, truncated, or only in part. */
static void drain(struct fuzz *f, int fd)
{
	static uint8_t buf[BUF];
	unsigned int i, max = below(4) ? 64 : below(4);
	size_t size = below(4) ? sizeof(buf) : 1 + below(8192);
	ssize_t n;

	for (i = 0; i < max; i++) {
		n = recv(fd, buf, size, MSG_DONTWAIT | (below(8) ? 0 : MSG_TRUNC));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		f->replies++;
		f->truncated += (size_t)n > size;
	}
}

/* ---- sequences ---- */

/* A well-formed request of the family, with the attributes given. */
static int send_cmd(struct fuzz *f, int fd, uint8_t cmd, uint16_t flags,
		    uint32_t pid, uint64_t store, uint64_t ckpt, uint64_t gen)
{
	static uint8_t buf[512];
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct genlmsghdr *gh = NLMSG_DATA(nh);
	size_t off = NLMSG_HDRLEN + GENL_HDRLEN;

	memset(buf, 0, off);
	put_attr(buf, &off, SNAPPER_A_PID, &pid, 4);
	put_attr(buf, &off, SNAPPER_A_STORE_ID, &store, 8);
	if (cmd == SNAPPER_CMD_ACK) {
		put_attr(buf, &off, SNAPPER_A_CHECKPOINT_ID, &ckpt, 8);
		put_attr(buf, &off, SNAPPER_A_GENERATION, &gen, 8);
	} else if (gen) {
		put_attr(buf, &off, SNAPPER_A_BASE_GENERATION, &gen, 8);
	}
	nh->nlmsg_len = off;
	nh->nlmsg_type = f->family;
	nh->nlmsg_flags = NLM_F_REQUEST | flags;
	nh->nlmsg_seq = rnd();
	gh->cmd = cmd;
	gh->version = 1;
	f->sent++;
	return nl_send(fd, buf, off);
}

/*
 * Reads up to @max messages of a stream (blocking, 2 s at most each);
 * returns the checkpoint id of its header, or 0.
 */
static uint64_t read_stream(struct fuzz *f, int fd, unsigned int max)
{
	static uint8_t buf[BUF];
	struct timeval tv = { .tv_sec = 2 };
	uint64_t id = 0;
	unsigned int i;
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (i = 0; i < max; i++) {
		struct nlmsghdr *nh = (struct nlmsghdr *)buf;

		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		f->replies++;
		for (; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
			struct nlattr *a = (struct nlattr *)((uint8_t *)
					   NLMSG_DATA(nh) + GENL_HDRLEN);

			if (nh->nlmsg_type == NLMSG_DONE ||
			    nh->nlmsg_type == NLMSG_ERROR)
				return id;
			if (!id && nh->nlmsg_len >= NLMSG_HDRLEN + GENL_HDRLEN +
						    NLA_HDRLEN + 8 &&
			    (a->nla_type & NLA_TYPE_MASK) == SNAPPER_A_CHECKPOINT_ID)
				memcpy(&id, (uint8_t *)a + NLA_HDRLEN, 8);
		}
	}
	return id;
}

/*
 * Checkpoint, read to a random depth, maybe a second checkpoint of the
 * same target on another socket meanwhile, an ACK from either socket with
 * the right or a wrong store and id, then the first stream finished or
 * abandoned.
 */
static void sequence(struct fuzz *f)
{
	int a = nl_open(), b = nl_open(), fd;
	uint64_t store = 1 + below(2), gen = 1 + below(3), id;
	uint32_t pid = f->pids[below(3)];

	if (a < 0 || b < 0)
		goto out;
	if (send_cmd(f, a, SNAPPER_CMD_CHECKPOINT, NLM_F_DUMP, pid, store, 0,
		     below(2) ? gen : 0))
		goto out;
	id = read_stream(f, a, below(4) ? 1 + below(8) : 0);
	if (!below(3)) {
		send_cmd(f, b, SNAPPER_CMD_CHECKPOINT, NLM_F_DUMP, pid, store, 0,
			 gen);
		read_stream(f, b, below(2) ? 1000000 : below(4));
	}
	fd = below(4) ? a : b;
	send_cmd(f, fd, SNAPPER_CMD_ACK, NLM_F_ACK, pid,
		 below(4) ? store : store + 1, below(4) ? id : id + 1, gen);
	drain(f, fd);
	if (below(2))
		read_stream(f, a, 1000000);
	else
		f->reopened++;
out:
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
}

static void fuzz_for(struct fuzz *f, double seconds)
{
	static uint8_t buf[BUF];
	double end = now() + seconds;
	int fd = nl_open();

	while (fd >= 0 && now() < end) {
		size_t len = 0;
		unsigned int n = below(6) ? 1 : 1 + below(4), i;

		if (!below(10)) {
			sequence(f);
			continue;
		}

		for (i = 0; i < n && len + 8192 <= sizeof(buf); i++)
			len += NLMSG_ALIGN(build_msg(f, buf + len, 8192));
		f->sent += n;
		if (nl_send(fd, buf, len))
			f->refused++;
		if (below(8))
			drain(f, fd);
		/* Sometimes walk away from whatever is in flight. */
		if (!below(40)) {
			close(fd);
			fd = nl_open();
			f->reopened++;
		}
	}
	if (fd >= 0)
		close(fd);
}

static uint64_t seed(void)
{
	const char *s = getenv("SNAPPER_FUZZ_SEED");

	if (s && *s)
		return strtoull(s, NULL, 0);
	return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

static double budget(void)
{
	const char *s = getenv("SNAPPER_FUZZ_SECONDS");
	double v = s && *s ? atof(s) : 30;

	return v > 0 ? v : 30;
}

static bool pages_released(void)
{
	int i;

	/* A closed socket's dump is released when the socket is destroyed. */
	for (i = 0; i < 50; i++) {
		if (read_stat("pages_held") == 0)
			return true;
		usleep(100000);
	}
	return false;
}

FIXTURE(nlfuzz) {
	struct target t;
	pid_t sleeper;		/* asleep in the kernel through every freeze */
	struct fuzz f;
	uint64_t seed;
	char timeout[32];	/* stream_timeout_ms to restore */
};

FIXTURE_SETUP(nlfuzz)
{
	const char *why = guest_skip_reason();
	int fd;

	memset(&self->t, 0, sizeof(self->t));
	self->timeout[0] = '\0';
	ASSERT_FALSE(why && guest_module_expected())
		TH_LOG("SNAPPER_LOAD=1 but: %s (left unloaded by an earlier test?)", why);
	if (why)
		SKIP(return, "%s", why);
	self->seed = seed();
	ASSERT_EQ(0, target_start(&self->t, 64, NULL, NULL, NULL));
	fd = nl_open();
	ASSERT_LE(0, fd);
	memset(&self->f, 0, sizeof(self->f));
	self->f.family = resolve_family(fd);
	close(fd);
	ASSERT_NE(0, self->f.family);
	self->f.pids[0] = self->t.pid;
	self->f.pids[1] = getpid();
	self->sleeper = fork();
	ASSERT_LE(0, self->sleeper);
	if (!self->sleeper) {
		pause();
		_exit(0);
	}
	self->f.pids[2] = self->sleeper;
	self->f.pids[3] = SNAPPER_PID_MAX;
	ASSERT_TRUE(module_answers());
	ASSERT_EQ(0, guest_read_file(GUEST_STREAM_TIMEOUT, self->timeout,
				     sizeof(self->timeout)));
	ASSERT_EQ(0, guest_write_file(GUEST_STREAM_TIMEOUT, "300"));
}

FIXTURE_TEARDOWN(nlfuzz)
{
	if (self->timeout[0])
		guest_write_file(GUEST_STREAM_TIMEOUT, self->timeout);
	target_stop(&self->t);
	if (self->sleeper > 0) {
		kill(self->sleeper, SIGKILL);
		waitpid(self->sleeper, NULL, 0);
	}
}

/*
 * Once the processes the fuzzer froze are gone, nothing holds the module:
 * rmmod would work. (A thread that slept through a freeze holds a module
 * reference until it returns to user mode or exits.)
 */
static bool module_idle(FIXTURE_DATA(nlfuzz) *self)
{
	int i;

	target_stop(&self->t);
	kill(self->sleeper, SIGKILL);
	waitpid(self->sleeper, NULL, 0);
	self->sleeper = 0;
	for (i = 0; i < 50; i++) {
		if (!guest_module_refcnt())
			return true;
		usleep(100000);
	}
	return false;
}

static void report(struct __test_metadata *_metadata, const char *who,
		   struct fuzz *f, uint64_t s)
{
	TH_LOG("%s: seed %#llx: %llu messages, %llu sends refused, %llu replies "
	       "read (%llu truncated), %llu sockets dropped", who,
	       (unsigned long long)s, (unsigned long long)f->sent,
	       (unsigned long long)f->refused, (unsigned long long)f->replies,
	       (unsigned long long)f->truncated, (unsigned long long)f->reopened);
}

/* The target still runs: it answers a command, so no freeze is left on it. */
static bool target_alive(struct target *t)
{
	return target_do(t, T_WRITE, 1, 77, 0) == 0;
}

TEST_F_TIMEOUT(nlfuzz, as_root, 600)
{
	long long before = read_stat("checkpoints");

	rng = self->seed | 1;
	printf("# nlfuzz: seed %#llx (SNAPPER_FUZZ_SEED=%#llx to replay), %.0f s as root\n",
	       (unsigned long long)self->seed, (unsigned long long)self->seed,
	       budget() * 2 / 3);
	fuzz_for(&self->f, budget() * 2 / 3);
	report(_metadata, "root", &self->f, self->seed);
	TH_LOG("%lld checkpoints went through", read_stat("checkpoints") - before);
	EXPECT_TRUE(module_answers());
	EXPECT_TRUE(pages_released());
	EXPECT_TRUE(target_alive(&self->t));
	EXPECT_TRUE(module_idle(self));
}

TEST_F_TIMEOUT(nlfuzz, unprivileged, 600)
{
	uint64_t s = self->seed ^ 0x6e6f626f6479ULL;
	int status, dirty = 0;
	size_t i;
	pid_t p;

	printf("# nlfuzz: seed %#llx, %.0f s as uid %d\n",
	       (unsigned long long)self->seed, budget() / 3, GUEST_NOBODY);
	p = fork();
	ASSERT_LE(0, p);
	if (!p) {
		if (guest_drop_privileges())
			_exit(2);
		rng = s | 1;
		self->f.pids[1] = getpid();
		fuzz_for(&self->f, budget() / 3);
		report(_metadata, "uid 65534", &self->f, self->seed);
		_exit(module_answers() ? 0 : 3);
	}
	ASSERT_EQ(p, waitpid(p, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_TRUE(module_answers());
	EXPECT_TRUE(pages_released());
	/* The target's pages were never the unprivileged fuzzer's to take. */
	for (i = 0; i < self->t.npages; i++)
		dirty += pagemap_soft_dirty(self->t.pid, self->t.base + i * PG);
	EXPECT_EQ(64, dirty);
	EXPECT_TRUE(target_alive(&self->t));
	EXPECT_TRUE(module_idle(self));
}

TEST_HARNESS_MAIN
