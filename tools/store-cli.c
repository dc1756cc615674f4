// SPDX-License-Identifier: GPL-2.0
/* Option parsing and error printing shared by the store commands. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store-cli.h"
#include "subcommands.h"

enum {
	OPT_STORE = 0x100, OPT_GEN, OPT_JSON, OPT_RANGE, OPT_FORMAT, OPT_HELP,
	OPT_MAX, OPT_MIN,
	OPT_EXPIRATION, OPT_SALVAGE, OPT_DROP,
};

static const struct option options[] = {
	{ "store", required_argument, NULL, OPT_STORE },
	{ "gen", required_argument, NULL, OPT_GEN },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "range", required_argument, NULL, OPT_RANGE },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "output", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "max-snapshots", required_argument, NULL, OPT_MAX },
	{ "min-snapshots", required_argument, NULL, OPT_MIN },
	{ "expiration", required_argument, NULL, OPT_EXPIRATION },
	{ "salvage", no_argument, NULL, OPT_SALVAGE },
	{ "drop-damaged", no_argument, NULL, OPT_DROP },
	{ 0 }
};

void cli_warn(const char *line)
{
	fprintf(stderr, "%s: warning: %s\n", prog, line);
}

int cli_exit(void)
{
	switch (store_errno()) {
	case -ENOENT:
		return CLI_EXIT_NOTFOUND;
	case -EBADMSG: case -EIO: case -EXDEV:
		return CLI_EXIT_DAMAGED;
	case -EBUSY:
		return CLI_EXIT_BUSY;
	}
	return CLI_EXIT_ERROR;
}

int cli_fail(void)
{
	fprintf(stderr, "%s: %s\n", prog, store_strerror());
	return cli_exit();
}

int cli_apply_knobs(const struct cli *c, struct store *s)
{
	struct store_knobs k;

	store_recorded_knobs(s, &k);
	if (c->knobs_given & (1u << (OPT_MAX - OPT_MAX)))
		k.max_snapshots = c->knobs.max_snapshots;
	if (c->knobs_given & (1u << (OPT_MIN - OPT_MAX)))
		k.min_snapshots = c->knobs.min_snapshots;
	if (c->knobs_given & (1u << (OPT_EXPIRATION - OPT_MAX)))
		k.expiration = c->knobs.expiration;
	return store_set_knobs(s, &k);
}

void cli_print_safe(const char *s)
{
	for (; *s; s++) {
		unsigned char ch = *s;

		if (ch < 0x20 || ch == 0x7f || ch == '\\')
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
}

static bool parse_base(const char *s, int base, uint64_t *v)
{
	char *end;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	*v = strtoull(s, &end, base);
	return !errno && !*end;
}

/* Decimal, or hex with 0x; nothing else, no overflow. */
bool cli_parse_u64(const char *s, uint64_t *v)
{
	return parse_base(s, 0, v);
}

bool cli_parse_range(const char *s, uint64_t *start, uint64_t *end)
{
	char buf[64], *dash;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (!dash)
		return false;
	*dash = '\0';
	/* Addresses are always hex, with or without 0x. */
	return parse_base(buf, 16, start) && parse_base(dash + 1, 16, end) &&
	       *start <= *end;
}

bool cli_parse_pages(const char *s, uint64_t *start, uint64_t *end)
{
	return cli_parse_range(s, start, end) && *start < *end &&
	       !(*start % STORE_PAGE_SIZE) && !(*end % STORE_PAGE_SIZE);
}

static bool parse_u32(const char *s, uint32_t *v)
{
	uint64_t x;

	if (!cli_parse_u64(s, &x) || x > UINT32_MAX)
		return false;
	*v = x;
	return true;
}

/* One option; false if its value is bad. */
static bool take_opt(int opt, const char *arg, struct cli *c)
{
	struct store_knobs *k = &c->knobs;

	switch (opt) {
	case OPT_STORE: c->store = arg; return true;
	case OPT_GEN: return cli_parse_u64(arg, &c->gen) && c->gen;
	case OPT_JSON: c->json = true; return true;
	case OPT_RANGE:
		c->has_range = true;
		return cli_parse_range(arg, &c->start, &c->end);
	case OPT_SALVAGE: c->salvage = true; return true;
	case OPT_DROP: c->drop_damaged = true; return true;
	case OPT_FORMAT: return !strcmp(arg, "raw");
	case 'o': c->output = arg; return true;
	case OPT_MAX: return parse_u32(arg, &k->max_snapshots);
	case OPT_MIN: return parse_u32(arg, &k->min_snapshots);
	case OPT_EXPIRATION: return cli_parse_u64(arg, &k->expiration);
	}
	return false;
}

static bool accepted(int opt, unsigned int accept)
{
	switch (opt) {
	case OPT_STORE: case OPT_HELP: return true;
	case OPT_GEN: return accept & CLI_GEN;
	case OPT_JSON: return accept & CLI_JSON;
	case OPT_RANGE: case OPT_FORMAT: case 'o': return accept & CLI_RANGE;
	case OPT_SALVAGE: return accept & CLI_SALVAGE;
	case OPT_DROP: return accept & CLI_DROP;
	}
	return accept & CLI_KNOBS;
}

static int usage_error(const char *usage, const char *what)
{
	if (what)
		fprintf(stderr, "%s: %s\n", prog, what);
	fprintf(stderr, usage, prog);
	return 1;
}

int cli_parse(int argc, char **argv, unsigned int accept, const char *usage,
	      struct cli *c)
{
	int opt;

	memset(c, 0, sizeof(*c));
	store_knobs_default(&c->knobs);
	store_set_warn(cli_warn);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "o:", options, NULL)) != -1) {
		if (opt == OPT_HELP) {
			printf(usage, prog);
			return 0;
		}
		if (opt == '?' || opt == ':' || !accepted(opt, accept))
			return usage_error(usage, "unknown or incomplete option");
		if (opt >= OPT_MAX && opt <= OPT_EXPIRATION)
			c->knobs_given |= 1u << (opt - OPT_MAX);
		if (!take_opt(opt, optarg, c)) {
			fprintf(stderr, "%s: %s: bad value '%s'\n", prog,
				argv[optind - 1], optarg);
			return 1;
		}
	}
	if (!c->store)
		return usage_error(usage, "--store DIR is required");
	if ((accept & CLI_RANGE) && (!c->output || !c->has_range))
		return usage_error(usage, "--range and -o are required");
	if ((accept & CLI_RANGE) && c->start == c->end) {
		fprintf(stderr, "%s: --range %#" PRIx64 "-%#" PRIx64 ": empty range\n",
			prog, c->start, c->end);
		return 1;
	}
	if (store_knobs_check(&c->knobs))
		return cli_fail();
	c->args = argv + optind;
	c->nargs = argc - optind;
	return -1;
}

struct store *cli_open(const struct cli *c, bool writable)
{
	struct store *s;
	unsigned int flags = STORE_NOCREATE | (writable ? 0 : STORE_RDONLY);

	if (store_open(&s, c->store, &c->knobs, flags)) {
		cli_fail();
		return NULL;
	}
	return s;
}

uint64_t cli_gen(const struct cli *c, struct store *s)
{
	uint64_t id = c->gen ? c->gen : store_newest(s);

	if (!id)
		fprintf(stderr, "%s: %s: no generation\n", prog, c->store);
	return id;
}

void cli_time(char *buf, size_t n, uint64_t ns)
{
	time_t t = ns / 1000000000ull;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, n, "%" PRIu64, ns);
}

void cli_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}
