// SPDX-License-Identifier: GPL-2.0
/* snapper-tool export: a range of a generation's memory as raw bytes. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store-cli.h"
#include "subcommands.h"

static const char usage[] =
	"Usage: %s export --store DIR [--gen N] --range START-END --format raw -o FILE\n"
	"Writes exactly END-START bytes: the memory of generation N (default:\n"
	"the newest) as captured, zeros where nothing was. Addresses are hex\n"
	"(0x...). FILE '-' is stdout. Every page is hash-checked; on a failed\n"
	"check nothing is left in FILE.\n";

int export_main(int argc, char **argv)
{
	struct store_snap *snap;
	struct store *s;
	struct cli c;
	uint64_t id;
	int fd, ret = cli_parse(argc, argv, CLI_GEN | CLI_RANGE | CLI_INTEGRITY,
				usage, &c);
	bool out = false;

	if (ret >= 0)
		return ret;
	if (c.nargs)
		return fprintf(stderr, usage, prog), 1;
	s = cli_open(&c, false);
	if (!s)
		return 1;
	id = cli_gen(&c, s);
	if (!id || store_snap_open(s, id, &snap)) {
		store_close(s);
		return id ? cli_fail() : 1;
	}
	out = strcmp(c.output, "-");
	fd = out ? open(c.output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : 1;
	if (fd < 0) {
		fprintf(stderr, "%s: %s: %m\n", prog, c.output);
		ret = 1;
	} else if (store_snap_export(snap, c.start, c.end, fd) ||
		   (out && fsync(fd))) {
		ret = cli_fail();
		if (out)
			unlink(c.output);
	} else {
		ret = 0;
	}
	if (out && fd >= 0)
		close(fd);
	store_snap_close(snap);
	store_close(s);
	return ret;
}
