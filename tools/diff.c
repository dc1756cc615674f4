// SPDX-License-Identifier: GPL-2.0
/* snapper-tool diff: how two generations' memory differs, page by page. */
#include <inttypes.h>
#include <stdio.h>

#include "store-cli.h"
#include "subcommands.h"

static const char usage[] =
	"Usage: %s diff --store DIR GEN_A GEN_B [--json]\n"
	"Counts pages changed (captured in both, different content), added\n"
	"(captured in GEN_B only) and removed (captured in GEN_A only).\n"
	"Pages that were never captured count in neither.\n";

int diff_main(int argc, char **argv)
{
	struct store_diff d;
	uint64_t a, b;
	struct store *s;
	struct cli c;
	int ret = cli_parse(argc, argv, CLI_JSON, usage, &c);

	if (ret >= 0)
		return ret;
	if (c.nargs != 2 || !cli_parse_u64(c.args[0], &a) ||
	    !cli_parse_u64(c.args[1], &b))
		return fprintf(stderr, usage, prog), 1;
	s = cli_open(&c, false);
	if (!s)
		return cli_exit();
	ret = store_diff(s, a, b, &d);
	if (ret)
		ret = cli_fail();
	else if (c.json)
		printf("{\"a\": %" PRIu64 ", \"b\": %" PRIu64 ", \"changed\": %" PRIu64
		       ", \"added\": %" PRIu64 ", \"removed\": %" PRIu64
		       ", \"same\": %" PRIu64 "}\n",
		       a, b, d.changed, d.added, d.removed, d.same);
	else
		printf("changed %" PRIu64 "\nadded   %" PRIu64 "\nremoved %" PRIu64
		       "\nsame    %" PRIu64 "\n", d.changed, d.added, d.removed,
		       d.same);
	store_close(s);
	return ret;
}
