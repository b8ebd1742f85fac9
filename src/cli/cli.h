/* SPDX-License-Identifier: MIT */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cordon/limits.h"

/* One subcommand: argv[0] is the subcommand's name. Returns the process exit status. */
typedef int cd_cmd_fn(int argc, char **argv);

cd_cmd_fn cmd_run;
cd_cmd_fn cmd_profiles;
cd_cmd_fn cmd_profile;
cd_cmd_fn cmd_audit;
cd_cmd_fn cmd_submit;
cd_cmd_fn cmd_status;
cd_cmd_fn cmd_wait;
cd_cmd_fn cmd_logs;
cd_cmd_fn cmd_artifacts;
cd_cmd_fn cmd_cancel;
cd_cmd_fn cmd_delete;
cd_cmd_fn cmd_list;
cd_cmd_fn cmd_health;

/* Print "cordon <cmd>: <message>" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Exit statuses of the commands that talk to cordond (docs/cli.md). The
 * verdict codes of a job (120-125) are cd_result's, from cordon/result.h.
 * They follow sysexits.h where one fits.
 */
#define CLI_EXIT_USAGE       64 /* bad flag, value or argument */
#define CLI_EXIT_REJECTED    65 /* cordond refused the request (400, 405, 408, 409, 413-415) */
#define CLI_EXIT_NOT_FOUND   66 /* no such job or artifact (404) */
#define CLI_EXIT_FORBIDDEN   67 /* this uid has no role, or not the one needed (403) */
#define CLI_EXIT_UNREACHABLE 69 /* cannot connect to cordond, or it went away */
#define CLI_EXIT_SERVER      70 /* cordond failed (500) or answered what it should not */
#define CLI_EXIT_IO          74 /* a local file could not be read or written */
#define CLI_EXIT_BUSY        75 /* try again later (429, 503) */
#define CLI_EXIT_VERIFY      76 /* an artifact failed its SHA-256 or has an unsafe name */
/* wait --timeout ran out; the job goes on. Just below the verdict codes. */
#define CLI_EXIT_STILL_RUNNING 119
#define CLI_EXIT_INTERRUPTED   130

/* Options every command that talks to cordond takes. */
struct cli_common {
        const char *socket; /* --socket, or NULL */
        bool json;          /* --json */
};

enum {
        CLI_OPT_SOCKET = 0x1000,
        CLI_OPT_JSON,
};

/* getopt_long entries: --help, --socket PATH, --json. */
/* clang-format off */
#define CLI_OPTION_HELP    { "help", no_argument, NULL, 'h' }
#define CLI_OPTION_SOCKET  { "socket", required_argument, NULL, CLI_OPT_SOCKET }
#define CLI_OPTION_JSON    { "json", no_argument, NULL, CLI_OPT_JSON }
#define CLI_COMMON_OPTIONS CLI_OPTION_HELP, CLI_OPTION_SOCKET, CLI_OPTION_JSON
/* clang-format on */

/* Handle a common option (@c from getopt_long). Returns true if it was one. */
bool cli_common_option(int c, const char *arg, struct cli_common *o);

/* The help lines of the common options, for each command's --help. */
#define CLI_COMMON_HELP                                                                            \
        "  --socket PATH       cordond's socket (default: $CORDON_SOCKET, else\n"                  \
        "                      /run/cordon/cordon.sock)\n"                                         \
        "  --json              print the API's JSON instead of text\n"                             \
        "  -h, --help          show this help\n"

/* True if @s looks like a job id (lowercase hex, 1 to 64 digits): anything
 * else would change the URL. */
bool cli_job_id_valid(const char *s);
/* The same for an id given on the command line: prints the usage error for
 * @cmd when not. */
bool cli_job_id_ok(const char *cmd, const char *s);

/*
 * The arguments of a command that takes only the common options and
 * @min_ids to @max_ids job IDs (INT_MAX: any number). Returns 0 with
 * optind at the first ID; -1 after printing --help (exit 0); or
 * CLI_EXIT_USAGE after a message.
 */
int cli_parse_args(int argc, char **argv, const char *cmd, void (*help)(void), int min_ids,
                   int max_ids, struct cli_common *o);

/* The options of a command that takes limit flags: @fixed, then one flag
 * per cd_limit_defs entry (--cpu-time for "cpu_time"), whose getopt value
 * is @first_val + its index. The table lives in @o. */
#define CLI_MAX_OPTIONS 48
struct cli_limit_options {
        struct option opts[CLI_MAX_OPTIONS];
        char names[CLI_MAX_OPTIONS][32];
};
const struct option *cli_limit_options(struct cli_limit_options *o, const struct option *fixed,
                                       size_t n_fixed, int first_val);

/* Parse and range-check the value of limit flag @index; a message naming
 * the flag on failure (-EINVAL). */
int cli_parse_limit(const char *cmd, size_t index, const char *arg, uint64_t *ret);

/* Set up SIGINT/SIGTERM so that a long wait can end cleanly: they set a flag
 * that cli_interrupted() reports (and the client aborts its transfer). */
void cli_catch_interrupts(void);
bool cli_interrupted(void);

/* Sleep @ms, in steps that notice an interrupt: -1 then, else 0. */
int cli_sleep_ms(uint64_t ms);

/* 1 when the directory @fd holds nothing, 0 when it holds something, or
 * -errno. Where artifacts go (-o DIR, --out DIR) must be empty: a job's
 * files then land only in what this download made, never merged into an
 * existing tree (a home directory's .ssh, a repository's .git). */
int cli_dir_empty(int fd);

/*
 * The directory @path where @cmd puts a job's artifacts (@flag: "-o",
 * "--out", for messages): created 0700 if missing. Otherwise it must be
 * empty (cli_dir_empty), and owned by the caller's euid or root and not
 * writable by its group or others: anyone else who can write it could
 * replace a verified file once it is there. Trailing slashes are dropped,
 * so that @path itself is a symlink only when @follow allows one (with
 * O_NOFOLLOW, "link/" would still follow it). Returns an fd of it, or
 * -errno after saying why.
 */
int cli_out_dir_open(const char *cmd, const char *flag, const char *path, bool follow);
