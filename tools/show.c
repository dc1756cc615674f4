// SPDX-License-Identifier: GPL-2.0
/* snapper-tool show: one generation's metadata, statistics and layout. */
#include <inttypes.h>
#include <stdio.h>

#include "store-cli.h"
#include "subcommands.h"

static const char usage[] =
	"Usage: %s show --store DIR [--gen N] [--json]\n"
	"Shows a generation (default: the newest): when and from what it was\n"
	"taken, what the checkpoint and the store measured, the knobs in use,\n"
	"and the mappings it recorded.\n";

static void show_vmas(struct store_snap *snap, bool json)
{
	const struct store_vma *v;
	size_t n = store_snap_vmas(snap, &v);

	for (size_t i = 0; i < n; i++) {
		if (!json) {
			printf("  %#" PRIx64 "-%#" PRIx64 " prot %u flags %#x off %#" PRIx64 " ",
			       v[i].start, v[i].end, v[i].prot, v[i].flags,
			       v[i].offset);
			cli_print_safe(v[i].path);
			putchar('\n');
			continue;
		}
		printf("%s\n    {\"start\": \"%#" PRIx64 "\", \"end\": \"%#" PRIx64
		       "\", \"prot\": %u, \"flags\": %u, \"offset\": %" PRIu64
		       ", \"path\": ", i ? "," : "", v[i].start, v[i].end,
		       v[i].prot, v[i].flags, v[i].offset);
		cli_json_str(v[i].path);
		printf("}");
	}
}

static void show_human(const struct store_info *in, struct store_snap *snap)
{
	const struct store_knobs *k = &in->knobs;
	char when[32];

	cli_time(when, sizeof(when), in->meta.time_ns);
	printf("generation     %" PRIu64 " (%s", in->id,
	       in->kind == STORE_GEN_FULL ? "full" : "incremental");
	if (in->base)
		printf(" on %" PRIu64, in->base);
	/* Names come from the target: never raw to a terminal. */
	printf(")\ntime           %s\nprocess        %u (", when, in->meta.pid);
	cli_print_safe(in->meta.comm);
	printf(")\n");
	printf("pages          %" PRIu64 " captured, %" PRIu64 " of them zero, in %" PRIu64 " runs\n",
	       in->pages_data + in->pages_zero, in->pages_zero, in->nextents);
	printf("checkpoint     %" PRIu64 " pages sent, frozen %" PRIu64
	       " us, walk %" PRIu64 " us, total %" PRIu64 " us\n",
	       in->meta.stats.pages_sent, in->meta.stats.freeze_us,
	       in->meta.stats.walk_us, in->meta.stats.duration_us);
	printf("store          %" PRIu64 " pages written (%" PRIu64
	       " bytes), %" PRIu64 " shared, %" PRIu64 " zero, commit %" PRIu64 " us\n",
	       in->own.pages_written, in->own.bytes_written,
	       in->own.pages_dedup, in->own.pages_zero, in->own.commit_us);
	printf("knobs          threshold %u redundancy %u max %u min %u expiration %" PRIu64 "\n",
	       k->threshold, k->redundancy,
	       k->max_snapshots, k->min_snapshots, k->expiration);
	printf("mappings       %u\n", in->nvmas);
	show_vmas(snap, false);
}

static void show_json(const struct store_info *in, struct store_snap *snap)
{
	const struct store_knobs *k = &in->knobs;

	printf("{\"generation\": %" PRIu64 ", \"kind\": \"%s\", \"base\": %" PRIu64
	       ", \"time_ns\": %" PRIu64 ", \"pid\": %u, \"comm\": ",
	       in->id, in->kind == STORE_GEN_FULL ? "full" : "incremental",
	       in->base, in->meta.time_ns, in->meta.pid);
	cli_json_str(in->meta.comm);
	printf(", \"pages\": %" PRIu64 ", \"pages_zero\": %" PRIu64 ", \"runs\": %" PRIu64
	       ", \"pages_sent\": %" PRIu64 ", \"freeze_us\": %" PRIu64
	       ", \"walk_us\": %" PRIu64 ", \"duration_us\": %" PRIu64
	       ", \"pages_written\": %" PRIu64 ", \"bytes_written\": %" PRIu64
	       ", \"pages_dedup\": %" PRIu64 ", \"pages_zero_fed\": %" PRIu64
	       ", \"commit_us\": %" PRIu64,
	       in->pages_data + in->pages_zero, in->pages_zero, in->nextents,
	       in->meta.stats.pages_sent, in->meta.stats.freeze_us,
	       in->meta.stats.walk_us, in->meta.stats.duration_us,
	       in->own.pages_written, in->own.bytes_written,
	       in->own.pages_dedup, in->own.pages_zero, in->own.commit_us);
	printf(", \"knobs\": {\"threshold\": %u, \"redundancy\": %u"
	       ", \"max_snapshots\": %u, \"min_snapshots\": %u, \"expiration\": %" PRIu64 "}",
	       k->threshold, k->redundancy,
	       k->max_snapshots, k->min_snapshots, k->expiration);
	printf(", \"vmas\": [");
	show_vmas(snap, true);
	printf("%s]}\n", in->nvmas ? "\n  " : "");
}

int show_main(int argc, char **argv)
{
	struct store_snap *snap = NULL;
	struct store_info in;
	struct store *s;
	struct cli c;
	uint64_t id;
	int ret = cli_parse(argc, argv, CLI_GEN | CLI_JSON, usage, &c);

	if (ret >= 0)
		return ret;
	ret = 0;
	if (c.nargs)
		return fprintf(stderr, usage, prog), 1;
	s = cli_open(&c, false);
	if (!s)
		return cli_exit();
	id = cli_gen(&c, s);
	if (!id)
		ret = CLI_EXIT_NOTFOUND;
	else if (store_info(s, id, &in) || store_snap_open(s, id, &snap))
		ret = cli_fail();
	else if (c.json)
		show_json(&in, snap);
	else
		show_human(&in, snap);
	store_snap_close(snap);
	store_close(s);
	return ret;
}
