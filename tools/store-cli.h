/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the store commands share: option parsing, opening the store, and
 * printing errors the same way (`snapper-tool: DIR/...: what`).
 */
#ifndef SNAPPER_STORE_CLI_H
#define SNAPPER_STORE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Options a command accepts, beyond --store and --help. */
enum {
	CLI_GEN = 1 << 0,	/* --gen N */
	CLI_JSON = 1 << 1,	/* --json */
	CLI_RANGE = 1 << 2,	/* --range START-END --format raw -o FILE */
	CLI_KNOBS = 1 << 3,	/* --max-snapshots and the other knobs */
	CLI_SALVAGE = 1 << 4,	/* --salvage */
	CLI_DROP = 1 << 5,	/* --drop-damaged */
};

/* Exit codes of the store commands (the man page's EXIT STATUS). */
enum {
	CLI_EXIT_ERROR = 1,	/* usage, or anything not below */
	CLI_EXIT_NOTFOUND = 2,	/* no such store, or generation */
	CLI_EXIT_DAMAGED = 3,	/* a check failed: damage, or pages lost */
	CLI_EXIT_BUSY = 4,	/* another writer held the store too long */
};

struct cli {
	const char *store;
	uint64_t gen;		/* 0 = the newest */
	bool json;
	uint64_t start, end;
	const char *output;
	struct store_knobs knobs;
	unsigned int knobs_given;	/* STORE_KNOB_* bits set on the command line */
	bool has_range, salvage, drop_damaged;
	char **args;		/* positional arguments */
	int nargs;
};

/*
 * Parses argv for a command. Returns -1 to go on, or the exit code: 0
 * after --help (usage on stdout), 1 after a usage error (on stderr).
 */
int cli_parse(int argc, char **argv, unsigned int accept, const char *usage,
	      struct cli *c);
/* Opens the store read-only (or writable), printing the error on failure. */
struct store *cli_open(const struct cli *c, bool writable);
/* --gen, or the newest generation; 0 after printing why there is none. */
uint64_t cli_gen(const struct cli *c, struct store *s);
/* Prints the store's last error; returns its exit code. */
int cli_fail(void);
/* Prints one of the store's warnings: the hook cli_parse() installs. */
void cli_warn(const char *line);
/* The exit code for the store's last error, printed already. */
int cli_exit(void);
/* The recorded knobs of the store, overridden by those given. */
int cli_apply_knobs(const struct cli *c, struct store *s);
/* Prints s for a terminal: control bytes and backslashes escaped. */
void cli_print_safe(const char *s);
bool cli_parse_u64(const char *s, uint64_t *v);
/* START-END in hex, 0x optional, START <= END. */
bool cli_parse_range(const char *s, uint64_t *start, uint64_t *end);
/* The same, non-empty and page aligned. */
bool cli_parse_pages(const char *s, uint64_t *start, uint64_t *end);
void cli_time(char *buf, size_t n, uint64_t ns);
/* Prints s as a JSON string, quotes included. */
void cli_json_str(const char *s);

#endif /* SNAPPER_STORE_CLI_H */
