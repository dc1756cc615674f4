// SPDX-License-Identifier: GPL-2.0
/* snapper-tool verify: check every hash a generation, or the store, holds. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "store-cli.h"
#include "subcommands.h"

static const char usage[] =
	"Usage: %s verify --store DIR [--gen N]\n"
	"Reads and hashes every stored page that generation N needs, or, without\n"
	"--gen, every manifest and every stored copy (each copy once, however many\n"
	"generations share it). Prints each failure, and exits 0 only if every\n"
	"check passed, 3 if one failed.\n";

/* Failures are the output here, not warnings. */
static void report(const char *line)
{
	fprintf(stderr, "%s: %s\n", prog, line);
}

int verify_main(int argc, char **argv)
{
	struct store *s;
	struct cli c;
	uint64_t bad;
	int ret = cli_parse(argc, argv, CLI_GEN, usage, &c);

	if (ret >= 0)
		return ret;
	if (c.nargs)
		return fprintf(stderr, usage, prog), 1;
	s = cli_open(&c, false);
	if (!s)
		return cli_exit();
	store_set_warn(report);
	if (c.gen && store_info(s, c.gen, &(struct store_info){ 0 }) == -ENOENT) {
		store_close(s);
		return cli_fail();
	}
	ret = store_verify(s, c.gen, &bad);
	if (ret)
		ret = cli_fail();
	else if (c.gen)
		printf("%s: generation %" PRIu64 ": all hashes match\n", c.store, c.gen);
	else
		printf("%s: %zu generations: all hashes match\n", c.store,
		       store_generations(s, &(const uint64_t *){ NULL }));
	store_close(s);
	return ret;
}
