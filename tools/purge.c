// SPDX-License-Identifier: GPL-2.0
/* snapper-tool purge: apply the retention policy to a store now. */
#include <stdio.h>

#include "store-cli.h"
#include "subcommands.h"

static const char usage[] =
	"Usage: %s purge --store DIR [--max-snapshots N] [--min-snapshots N]\n"
	"                [--expiration SECONDS] [--drop-damaged]\n"
	"Removes generations, oldest first, while more than min-snapshots remain\n"
	"and each is beyond max-snapshots or older than expiration, then removes\n"
	"every stored page no remaining generation needs. The knobs are those the\n"
	"newest generation recorded (the module's defaults in an empty store),\n"
	"each overridden by its flag; 0 for max is unlimited. --drop-damaged first\n"
	"removes the generations whose manifest is damaged, so that the pages\n"
	"only they might have used can go. Safe to interrupt: run it again.\n";

int purge_main(int argc, char **argv)
{
	unsigned int removed, dropped = 0;
	struct store *s;
	struct cli c;
	int ret = cli_parse(argc, argv, CLI_KNOBS | CLI_DROP, usage, &c);

	if (ret >= 0)
		return ret;
	if (c.nargs)
		return fprintf(stderr, usage, prog), 1;
	s = cli_open(&c, true);
	if (!s)
		return cli_exit();
	ret = cli_apply_knobs(&c, s);
	if (!ret && c.drop_damaged)
		ret = store_drop_damaged(s, &dropped);
	if (!ret)
		ret = store_purge(s, &removed);
	if (ret)
		ret = cli_fail();
	else
		printf("%s: removed %u generation%s%s, %zu left\n", c.store,
		       removed + dropped, removed + dropped == 1 ? "" : "s",
		       dropped ? " (some damaged)" : "",
		       store_generations(s, &(const uint64_t *){ NULL }));
	store_close(s);
	return ret;
}
