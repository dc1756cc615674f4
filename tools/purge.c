// SPDX-License-Identifier: GPL-2.0
/* snapper-tool purge: apply the retention policy to a store now. */
#include <stdio.h>

#include "store-cli.h"
#include "subcommands.h"

static const char usage[] =
	"Usage: %s purge --store DIR [--max-snapshots N] [--min-snapshots N]\n"
	"                [--expiration SECONDS]\n"
	"Removes generations, oldest first, while more than min-snapshots remain\n"
	"and each is beyond max-snapshots or older than expiration, then removes\n"
	"every stored page no remaining generation needs. Defaults are the\n"
	"module's: max 64, min 1, expiration 0 (never); 0 for max is unlimited.\n"
	"Safe to interrupt: run it again to finish.\n";

int purge_main(int argc, char **argv)
{
	unsigned int removed;
	struct store *s;
	struct cli c;
	int ret = cli_parse(argc, argv, CLI_KNOBS, usage, &c);

	if (ret >= 0)
		return ret;
	if (c.nargs)
		return fprintf(stderr, usage, prog), 1;
	s = cli_open(&c, true);
	if (!s)
		return 1;
	ret = store_purge(s, &removed);
	if (ret)
		cli_fail();
	else
		printf("%s: removed %u generation%s, %zu left\n", c.store, removed,
		       removed == 1 ? "" : "s",
		       store_generations(s, &(const uint64_t *){ NULL }));
	store_close(s);
	return !!ret;
}
