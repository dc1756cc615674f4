// SPDX-License-Identifier: GPL-2.0
/* snapper-tool version: the versions of the tool, the module and the protocol. */
#include <stdio.h>
#include <string.h>

#include "genl.h"
#include "subcommands.h"

int version_main(int argc, char **argv)
{
	struct snapper_module_config cfg;
	struct snapper_genl *g;
	int ret;

	if (argc > 1) {
		bool help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");

		fprintf(help ? stdout : stderr, "Usage: %s version\n", prog);
		return help ? 0 : 1;
	}
	printf("snapper-tool %s (protocol %u)\n", SNAPPER_TOOL_VERSION,
	       SNAPPER_PROTOCOL_VERSION);
	ret = snapper_genl_open(&g);
	if (!ret) {
		ret = snapper_genl_get_config(g, &cfg);
		snapper_genl_close(g);
	}
	if (ret) {
		printf("module: %s\n", snapper_genl_strerror(ret));
		return 0;
	}
	printf("module %s (protocol %u)\n", cfg.module_version,
	       cfg.protocol_version);
	if (cfg.protocol_version != SNAPPER_PROTOCOL_VERSION)
		printf("warning: the tool and the module speak different protocol versions\n");
	return 0;
}
