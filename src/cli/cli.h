/* SPDX-License-Identifier: MIT */
#pragma once

/* One subcommand: argv[0] is the subcommand's name. Returns the process exit status. */
typedef int cd_cmd_fn(int argc, char **argv);

cd_cmd_fn cmd_run;
cd_cmd_fn cmd_profiles;
cd_cmd_fn cmd_profile;
cd_cmd_fn cmd_audit;

/* Print "cordon <cmd>: <message>" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
