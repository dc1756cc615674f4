/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A generation as an ELF core file, for gdb and other readers of cores:
 * `snapper-tool export --format core`.
 */
#ifndef SNAPPER_CORE_H
#define SNAPPER_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

/*
 * Writes @snap as an ELF64 x86-64 core to @fd: a PT_NOTE with NT_PRSTATUS
 * (one thread, registers unknown: zeros) and NT_PRPSINFO from @info, then
 * one PT_LOAD per mapping with captured pages, clipped to [start, end),
 * holding its bytes as captured and zeros elsewhere. A mapping with none
 * (a file mapping the target never wrote) is left out, so that gdb reads
 * it from the file, if it has one, rather than as zeros.
 * Regular files are written sparse. Returns 0, 1 when reading the store
 * failed (store_strerror() says why), or a negative errno from writing.
 */
int core_write(struct store_snap *snap, const struct store_info *info,
	       uint64_t start, uint64_t end, int fd);

/* Does this export command line ask for --format core? */
bool core_requested(int argc, char **argv);
/* export --format core: argv as export_main() got it. */
int core_export_main(int argc, char **argv);

#endif /* SNAPPER_CORE_H */
