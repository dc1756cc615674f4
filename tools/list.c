// SPDX-License-Identifier: GPL-2.0
/* snapper-tool list: one line per generation of a store. */
#include <inttypes.h>
#include <stdio.h>

#include "store-cli.h"
#include "subcommands.h"

static const char usage[] =
	"Usage: %s list --store DIR [--json]\n"
	"Lists the committed generations, oldest first, one per line:\n"
	"id, time (UTC), pages captured, bytes written by that generation.\n"
	"A damaged manifest shows as 'damaged'. --json prints an array.\n";

static void show_line(const struct store_info *in)
{
	char when[32];

	if (in->corrupt) {
		printf("%" PRIu64 " - - - damaged\n", in->id);
		return;
	}
	cli_time(when, sizeof(when), in->meta.time_ns);
	printf("%" PRIu64 " %s %" PRIu64 " %" PRIu64 "\n", in->id, when,
	       in->pages_data + in->pages_zero, in->own.bytes_written);
}

static void show_json(const struct store_info *in, bool first)
{
	char when[32];

	cli_time(when, sizeof(when), in->meta.time_ns);
	printf("%s\n  {\"generation\": %" PRIu64 ", \"damaged\": %s", first ? "" : ",",
	       in->id, in->corrupt ? "true" : "false");
	if (!in->corrupt)
		printf(", \"time\": \"%s\", \"time_ns\": %" PRIu64
		       ", \"kind\": \"%s\", \"base\": %" PRIu64
		       ", \"pages\": %" PRIu64 ", \"bytes\": %" PRIu64,
		       when, in->meta.time_ns,
		       in->kind == STORE_GEN_FULL ? "full" : "incremental",
		       in->base, in->pages_data + in->pages_zero,
		       in->own.bytes_written);
	printf("}");
}

int list_main(int argc, char **argv)
{
	const uint64_t *ids;
	struct store *s;
	struct cli c;
	size_t n;
	int ret = cli_parse(argc, argv, CLI_JSON, usage, &c);

	if (ret >= 0)
		return ret;
	if (c.nargs)
		return fprintf(stderr, usage, prog), 1;
	s = cli_open(&c, false);
	if (!s)
		return cli_exit();
	n = store_generations(s, &ids);
	if (c.json)
		printf("[");
	for (size_t i = 0; i < n; i++) {
		struct store_info in;

		store_info(s, ids[i], &in);
		if (c.json)
			show_json(&in, !i);
		else
			show_line(&in);
	}
	if (c.json)
		printf("%s]\n", n ? "\n" : "");
	store_close(s);
	return 0;
}
