/* SPDX-License-Identifier: GPL-2.0 */
/* One file per subcommand, each exposing <name>_main(argc, argv). */
#ifndef SNAPPER_SUBCOMMANDS_H
#define SNAPPER_SUBCOMMANDS_H

extern const char *prog;

int version_main(int argc, char **argv);
int config_main(int argc, char **argv);
int checkpoint_main(int argc, char **argv);
int list_main(int argc, char **argv);
int show_main(int argc, char **argv);
int diff_main(int argc, char **argv);
int verify_main(int argc, char **argv);
int export_main(int argc, char **argv);
int purge_main(int argc, char **argv);
int restore_main(int argc, char **argv);
int watch_main(int argc, char **argv);

#endif /* SNAPPER_SUBCOMMANDS_H */
