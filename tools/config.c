// SPDX-License-Identifier: GPL-2.0
/* snapper-tool config: the module's knobs, as GET_CONFIG reports them. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "genl.h"
#include "subcommands.h"

static void show_human(const struct snapper_module_config *c)
{
	printf("verbose        %s\n", c->verbose ? "yes" : "no");
	printf("threshold      %" PRIu32 " files per directory\n", c->threshold);
	printf("integrity      %s\n", c->integrity ? "yes" : "no");
	printf("redundancy     %" PRIu32 " generations per copy%s\n",
	       c->redundancy, c->redundancy ? "" : " (never copy)");
	printf("max_snapshots  %" PRIu32 "%s\n", c->max_snapshots,
	       c->max_snapshots ? "" : " (unlimited)");
	printf("min_snapshots  %" PRIu32 "\n", c->min_snapshots);
	printf("expiration     %" PRIu64 " s%s\n", c->expiration,
	       c->expiration ? "" : " (never)");
	if (c->stream_timeout_ms)
		printf("stream_timeout_ms %" PRIu32 " ms\n",
		       c->stream_timeout_ms);
}

static void show_json(const struct snapper_module_config *c)
{
	printf("{\"module_version\": \"%s\", \"protocol_version\": %" PRIu32
	       ", \"verbose\": %s, \"threshold\": %" PRIu32
	       ", \"integrity\": %s, \"redundancy\": %" PRIu32
	       ", \"max_snapshots\": %" PRIu32 ", \"min_snapshots\": %" PRIu32
	       ", \"expiration\": %" PRIu64,
	       c->module_version, c->protocol_version,
	       c->verbose ? "true" : "false", c->threshold,
	       c->integrity ? "true" : "false", c->redundancy,
	       c->max_snapshots, c->min_snapshots, c->expiration);
	if (c->stream_timeout_ms)
		printf(", \"stream_timeout_ms\": %" PRIu32, c->stream_timeout_ms);
	printf("}\n");
}

int config_main(int argc, char **argv)
{
	struct snapper_module_config cfg;
	struct snapper_genl *g;
	bool json = false;
	int ret;

	if (argc == 2 && !strcmp(argv[1], "--json")) {
		json = true;
	} else if (argc == 2 && (!strcmp(argv[1], "--help") ||
				 !strcmp(argv[1], "-h"))) {
		printf("Usage: %s config [--json]\n"
		       "Shows the knobs of the loaded module. Change them in\n"
		       "/sys/module/snapper/parameters/ or at insmod time.\n",
		       prog);
		return 0;
	} else if (argc != 1) {
		fprintf(stderr, "Usage: %s config [--json]\n", prog);
		return 1;
	}

	ret = snapper_genl_open(&g);
	if (ret) {
		fprintf(stderr, "%s: %s\n", prog, snapper_genl_strerror(ret));
		return 1;
	}
	ret = snapper_genl_get_config(g, &cfg);
	if (ret) {
		const char *why = snapper_genl_errmsg(g);

		fprintf(stderr, "%s: reading the module's config: %s%s%s\n",
			prog, snapper_genl_strerror(ret), why ? ": " : "",
			why ? why : "");
		snapper_genl_close(g);
		return 1;
	}
	snapper_genl_close(g);
	if (json)
		show_json(&cfg);
	else
		show_human(&cfg);
	return 0;
}
