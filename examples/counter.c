// SPDX-License-Identifier: GPL-2.0
/*
 * A persistent counter: the smallest application of libsnapper. Its whole
 * state lives in one region at a fixed address; it counts, checkpoints
 * itself every few steps, and after kill -9 the next run carries on from
 * the last checkpoint. No serialization code: the struct is the format.
 *
 *	counter --store DIR [--steps N] [--every K] [--delay-ms MS]
 *
 * The state also keeps the sum of every value counted, so that a resumed
 * run can check that what it got back is one consistent instant.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libsnapper.h"

#define REGION_ADDR ((void *)0x7e5000000000ul)
#define REGION_SIZE (1ul << 20)
#define MAGIC 0x736e617070657231ull	/* "snapper1" */

struct state {
	uint64_t magic;
	uint64_t count;
	uint64_t sum;		/* 1 + 2 + ... + count */
	uint64_t runs;		/* starts, this one included */
	uint64_t last_gen;	/* as of the previous checkpoint */
};

struct opts {
	const char *store;
	uint64_t steps;		/* 0: for ever */
	uint64_t every;		/* checkpoint every this many steps */
	long delay_ms;
};

static const char usage[] =
	"Usage: %s --store DIR [--steps N] [--every K] [--delay-ms MS]\n"
	"Counts one step every MS milliseconds (default 100), checkpoints itself\n"
	"into DIR every K steps (default 10), and stops after N steps (default:\n"
	"never) with a last checkpoint. Started again, it resumes from the last\n"
	"checkpoint.\n";

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "steps", required_argument, NULL, 'n' },
		{ "every", required_argument, NULL, 'k' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int opt;

	*o = (struct opts){ .every = 10, .delay_ms = 100 };
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 's': o->store = optarg; break;
		case 'n': o->steps = strtoull(optarg, NULL, 10); break;
		case 'k': o->every = strtoull(optarg, NULL, 10); break;
		case 'd': o->delay_ms = strtol(optarg, NULL, 10); break;
		case 'h': printf(usage, argv[0]); exit(0);
		default: return -1;
		}
	}
	return o->store && o->every && o->delay_ms >= 0 && optind == argc ? 0 : -1;
}

/* The region as this run found it: fresh, or a consistent instant. */
static int start(struct state *st, uint64_t gen)
{
	if (!gen || st->magic != MAGIC) {
		*st = (struct state){ .magic = MAGIC };
		printf("counter: a fresh start\n");
	} else if (st->sum != st->count * (st->count + 1) / 2) {
		fprintf(stderr, "counter: generation %" PRIu64 " is inconsistent: count %"
			PRIu64 ", sum %" PRIu64 "\n", gen, st->count, st->sum);
		return -1;
	} else {
		printf("counter: resumed from generation %" PRIu64 " at count %" PRIu64
		       " (run %" PRIu64 ")\n", gen, st->count, st->runs + 1);
	}
	st->runs++;
	fflush(stdout);
	return 0;
}

static void checkpoint(struct snapper_persist *p, struct state *st)
{
	struct timespec pause = { 0, 100000000 };
	uint64_t gen;
	int ret, tries = 0;

	/* Busy: someone else (snapper-tool watch) is checkpointing us. */
	while ((ret = snapper_persist_checkpoint(p, &gen)) == -EBUSY &&
	       ++tries < 50)
		nanosleep(&pause, NULL);
	if (ret) {
		fprintf(stderr, "counter: %s\n", snapper_persist_strerror());
		return;
	}
	st->last_gen = gen;
	printf("counter: count %" PRIu64 " saved as generation %" PRIu64 "\n",
	       st->count, gen);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct timespec delay;
	struct snapper_persist *p;
	struct state *st = REGION_ADDR;
	struct opts o;

	if (parse(argc, argv, &o)) {
		fprintf(stderr, usage, argv[0]);
		return 1;
	}
	delay = (struct timespec){ o.delay_ms / 1000, o.delay_ms % 1000 * 1000000 };
	if (snapper_persist_open(o.store, REGION_ADDR, REGION_SIZE, 0, &p)) {
		fprintf(stderr, "counter: %s\n", snapper_persist_strerror());
		return 1;
	}
	if (start(st, snapper_persist_restored(p)))
		return 1;
	for (uint64_t i = 1; !o.steps || i <= o.steps; i++) {
		nanosleep(&delay, NULL);
		st->count++;
		st->sum += st->count;
		if (i % o.every == 0 || i == o.steps)
			checkpoint(p, st);
	}
	snapper_persist_close(p);
	return 0;
}
