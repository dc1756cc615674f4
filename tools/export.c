// SPDX-License-Identifier: GPL-2.0
/* snapper-tool export: a range of a generation's memory as raw bytes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "store-cli.h"
#include "subcommands.h"

static const char usage[] =
	"Usage: %s export --store DIR [--gen N] --range START-END --format raw -o FILE\n"
	"       [--salvage]\n"
	"Writes exactly END-START bytes: the memory of generation N (default:\n"
	"the newest) as captured, zeros where nothing was. Addresses are hex,\n"
	"0x optional, within the generation's mappings. FILE '-' is stdout. Every\n"
	"page is hash-checked, and another good copy is used when one fails; when\n"
	"none is left, the command fails (exit 3), and a FILE it created is\n"
	"removed. With --salvage, such pages are written as zeros instead, each\n"
	"listed on stderr, and the command exits 3 if any was lost.\n"
	"--format core writes an ELF core file instead: see --format core --help.\n";

/*
 * Opens FILE for the export. Only a file this command created is removed
 * when the export fails: FILE may be a device or someone else's file.
 */
static int open_output(const char *path, bool *created)
{
	int fd;

	*created = false;
	if (!strcmp(path, "-"))
		return 1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		*created = true;
		return fd;
	}
	if (errno != EEXIST)
		return -1;
	return open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
}

int export_main(int argc, char **argv)
{
	struct store_snap *snap;
	bool created = false;
	struct store *s;
	struct cli c;
	uint64_t id;
	int fd, ret;

	if (core_requested(argc, argv))
		return core_export_main(argc, argv);
	ret = cli_parse(argc, argv, CLI_GEN | CLI_RANGE | CLI_SALVAGE, usage, &c);
	if (ret >= 0)
		return ret;
	if (c.nargs)
		return fprintf(stderr, usage, prog), 1;
	s = cli_open(&c, false);
	if (!s)
		return cli_exit();
	id = cli_gen(&c, s);
	if (!id || store_snap_open(s, id, &snap)) {
		store_close(s);
		return id ? cli_fail() : CLI_EXIT_NOTFOUND;
	}
	store_snap_set_salvage(snap, c.salvage);
	fd = open_output(c.output, &created);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: %m\n", prog, c.output);
		ret = 1;
	} else if (store_snap_export(snap, c.start, c.end, fd)) {
		ret = cli_fail();
		if (created)
			unlink(c.output);
	} else if (store_snap_lost(snap)) {
		fprintf(stderr, "%s: %s: %" PRIu64 " page%s lost, written as zeros\n",
			prog, c.output, store_snap_lost(snap),
			store_snap_lost(snap) == 1 ? "" : "s");
		ret = CLI_EXIT_DAMAGED;
	} else {
		ret = 0;
	}
	if (fd > 1)
		close(fd);
	store_snap_close(snap);
	store_close(s);
	return ret;
}
