/* SPDX-License-Identifier: GPL-2.0 */
/* One file per subcommand, each exposing <name>_main(argc, argv). */
#ifndef SNAPPER_SUBCOMMANDS_H
#define SNAPPER_SUBCOMMANDS_H

extern const char *prog;

int version_main(int argc, char **argv);
int config_main(int argc, char **argv);
int checkpoint_main(int argc, char **argv);

#endif /* SNAPPER_SUBCOMMANDS_H */
