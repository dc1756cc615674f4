// SPDX-License-Identifier: GPL-2.0
/* snapper-tool: the command-line face of Snapper. */
#include <stdio.h>
#include <string.h>

#include "subcommands.h"

const char *prog;

static const struct {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
} subcommands[] = {
	{ "version", version_main, "Show the tool, module and protocol versions" },
	{ "config", config_main, "Show the module's knobs" },
	{ "checkpoint", checkpoint_main, "Save a process's changed pages as a new generation" },
	{ "list", list_main, "List the generations of a store" },
	{ "show", show_main, "Show one generation" },
	{ "diff", diff_main, "Count pages changed, added, removed" },
	{ "verify", verify_main, "Check every hash of a store" },
	{ "export", export_main, "Write a memory range of a generation" },
	{ "purge", purge_main, "Apply the retention policy now" },
	{ "restore", restore_main, "Write a generation back into a live process" },
	{ "watch", watch_main, "Checkpoint a process at an interval until it exits" },
};

static void show_usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: %s <command> [<args>]\n\nCommands:\n", prog);
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-10s %s\n", subcommands[i].name,
			subcommands[i].summary);
	fprintf(f, "\n'%s <command> --help' describes a command.\n", prog);
}

int main(int argc, char **argv)
{
	size_t i;

	prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (argc < 2) {
		show_usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		show_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version"))
		return version_main(1, argv + 1);
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "%s: '%s' is not a command\n", prog, argv[1]);
	show_usage(stderr);
	return 1;
}
