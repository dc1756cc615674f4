// SPDX-License-Identifier: GPL-2.0
/*
 * snapper-tool checkpoint: one checkpoint of a process into a store (the
 * flow is in ckpt.c), from the module or, with --backend proc, from /proc.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "genl.h"
#include "subcommands.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s checkpoint --store DIR [--full] [--quiet]\n"
		"                  [--backend module|proc] [--compress lz4|none] PID\n"
		"Saves the pages PID changed since the store's newest generation\n"
		"as a new generation, and prints \"generation N\" last.\n"
		"--backend proc reads /proc/PID/pagemap instead of asking the\n"
		"module: slower, and the target stays stopped while it is read.\n"
		"--compress lz4 stores this generation's new pages compressed\n"
		"with LZ4 (each page alone; kept as is when that saves nothing);\n"
		"none, the default, stores them as they are. Every reader reads\n"
		"both, and one store may hold both.\n",
		prog);
}

struct args {
	const char *dir;
	uint32_t pid;
	uint32_t flags;
	bool quiet;
	bool proc;
};

/* Returns 0, 2 for --help, or -1 for a usage error. */
static int parse_args(int argc, char **argv, struct args *a)
{
	char *end;
	long v;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--store") && i + 1 < argc)
			a->dir = argv[++i];
		else if (!strcmp(argv[i], "--full"))
			a->flags |= SNAPPER_CKPT_F_FULL;
		else if (!strcmp(argv[i], "--quiet"))
			a->quiet = true;
		else if (!strcmp(argv[i], "--compress") && i + 1 < argc &&
			 (!strcmp(argv[i + 1], "lz4") || !strcmp(argv[i + 1], "none")))
			a->flags = !strcmp(argv[++i], "lz4") ? a->flags | CKPT_F_LZ4 :
				   a->flags & ~CKPT_F_LZ4;
		else if (!strcmp(argv[i], "--backend") && i + 1 < argc &&
			 (!strcmp(argv[i + 1], "proc") || !strcmp(argv[i + 1], "module")))
			a->proc = !strcmp(argv[++i], "proc");
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 2;
		else if (argv[i][0] != '-' && !a->pid) {
			errno = 0;
			v = strtol(argv[i], &end, 10);
			if (errno || *end || v < 1 || v > (long)SNAPPER_PID_MAX)
				return -1;
			a->pid = (uint32_t)v;
		} else {
			return -1;
		}
	}
	return a->dir && a->pid ? 0 : -1;
}

static void report(const struct args *a, const struct ckpt_result *r)
{
	const struct snapper_ckpt_stats *st = &r->stats;

	if (!a->quiet)
		printf("%s checkpoint of %" PRIu32 ": %" PRIu64 " pages sent of %"
		       PRIu64 " scanned (%" PRIu64 " unchanged in huge pages), %"
		       PRIu32 " threads frozen %" PRIu64 " us, walk %" PRIu64
		       " us\n", r->full ? "full" : "incremental", a->pid,
		       st->sent, st->scanned, st->thp_unchanged, st->threads,
		       st->freeze_us, st->walk_us);
	printf("generation %" PRIu64 "\n", r->generation);
}

int checkpoint_main(int argc, char **argv)
{
	struct snapper_genl *g = NULL;
	struct ckpt_result res;
	struct args a = { 0 };
	char err[512];
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret) {
		usage(ret == 2 ? stdout : stderr);
		return ret == 2 ? 0 : 1;
	}
	if (!a.proc) {
		ret = snapper_genl_open(&g);
		if (ret) {
			fprintf(stderr, "%s: connecting to the module: %s\n", prog,
				snapper_genl_strerror(ret));
			return 1;
		}
	}
	ret = ckpt_run(g, a.dir, a.pid, a.flags, &res, err, sizeof(err));
	snapper_genl_close(g);
	if (ret)
		fprintf(stderr, "%s: %s\n", prog, err);
	if (res.retries)
		fprintf(stderr, "%s: note: a clone() completed during the "
			"module's walk of %" PRIu32 ": checkpointed again, in "
			"full (%u %s)\n", prog, a.pid, res.retries,
			res.retries == 1 ? "retry" : "retries");
	/* Not acknowledged, but committed: the generation stands. */
	if (!ret || res.generation)
		report(&a, &res);
	if (!ret && res.target_gone)
		fprintf(stderr, "%s: note: process %" PRIu32 " exited or exec'd "
			"after generation %" PRIu64 " was committed: the module "
			"has nothing left to acknowledge\n", prog, a.pid,
			res.generation);
	return ret ? 1 : 0;
}
