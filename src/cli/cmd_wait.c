/* SPDX-License-Identifier: MIT */
/* cordon wait ID: until the job has finished; exit with its status. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cordon/cleanup.h"
#include "cordon/util.h"
#include "job.h"
#include "output.h"

static void help(void)
{
        printf("Usage: cordon wait ID [--timeout DURATION] [--json] [--socket PATH]\n"
               "\n"
               "Wait until job ID has finished, then print its outcome and exit with the\n"
               "job's status. On a terminal, one live line on stderr shows its state, its\n"
               "place in the queue and the time so far. Ctrl-C stops waiting; the job goes on.\n"
               "\n"
               "  --timeout DURATION  give up after DURATION (ms, s, m or h; bare digits are\n"
               "                      seconds; 0 looks once): exit 119 with one line saying\n"
               "                      the job is still queued or running; it goes "
               "on\n" CLI_COMMON_HELP "\n"
               "Exit status: the job's own exit code (ok or failed), 128+N when killed by\n"
               "signal N, 124 timeout, 121 cpu_limit, 122 oom, 120 output_limit, 123 cancelled,\n"
               "125 setup_error; 119 still running after --timeout; 66 no such job, 69\n"
               "cordond unreachable (docs/cli.md).\n"
               "\n"
               "Examples:\n"
               "  cordon wait 3f2a9c0e5b7d41a8b6c2d9e0f1a2b3c4 && echo done\n"
               "  cordon wait \"$id\" --json > result.json\n"
               "  cordon wait \"$id\" --timeout 10m || [ $? -ne 119 ] || echo 'not yet'\n");
}

/* --timeout DURATION into *@ms. Returns 0, 1 after --help, or an exit status. */
static int parse(int argc, char **argv, struct cli_common *o, uint64_t *ms)
{
        static const struct option options[] = {
                CLI_COMMON_OPTIONS,
                { "timeout", required_argument, NULL, 't' },
                {},
        };
        int ch;

        optind = 0;
        while ((ch = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                if (ch == 'h') {
                        help();
                        return 1;
                } else if (ch == 't') {
                        if (cd_parse_duration_ms(optarg, ms) < 0) {
                                cli_error("wait", "--timeout: expected a duration such as 90s, "
                                                  "10m or 2h");
                                return CLI_EXIT_USAGE;
                        }
                } else if (!cli_common_option(ch, optarg, o)) {
                        return CLI_EXIT_USAGE;
                }
        }
        if (optind + 1 != argc) {
                cli_error("wait", "expected one job ID (see 'cordon wait --help')");
                return CLI_EXIT_USAGE;
        }
        return cli_job_id_ok("wait", argv[optind]) ? 0 : CLI_EXIT_USAGE;
}

int cmd_wait(int argc, char **argv)
{
        cleanup_with(cli_client_freep) struct cli_client *c = NULL;
        struct cli_common o = { 0 };
        uint64_t timeout_ms = CLI_WAIT_FOREVER;
        json_t *job = NULL;
        int r, status;

        r = parse(argc, argv, &o, &timeout_ms);
        if (r != 0)
                return r == 1 ? 0 : r;
        r = cli_client_new("wait", o.socket, &c);
        if (r != 0)
                return r;
        status = cli_job_wait(c, argv[optind], cli_isatty(STDERR_FILENO), timeout_ms, &job);
        if (status != 0 && status != CLI_EXIT_STILL_RUNNING)
                return status;
        if (o.json && job) /* none when cordond did not answer in time */
                r = cli_print_json(job);
        else if (status == 0)
                cli_job_print_outcome(job);
        if (r == 0)
                r = status == 0 ? cli_job_exit_status(job) : status;
        json_decref(job);
        return r;
}
