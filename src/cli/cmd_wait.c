/* SPDX-License-Identifier: MIT */
/* cordon wait ID: until the job has finished; exit with its status. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cordon/cleanup.h"
#include "job.h"
#include "output.h"

static void help(void)
{
        printf("Usage: cordon wait ID [--json] [--socket PATH]\n"
               "\n"
               "Wait until job ID has finished, then print its outcome and exit with the\n"
               "job's status. On a terminal, one live line on stderr shows its state, its\n"
               "place in the queue and the time so far. Ctrl-C stops waiting; the job goes on.\n"
               "\n" CLI_COMMON_HELP "\n"
               "Exit status: the job's own exit code (ok or failed), 128+N when killed by\n"
               "signal N, 124 timeout, 121 cpu_limit, 122 oom, 120 output_limit, 123 cancelled,\n"
               "125 setup_error; 66 no such job, 69 cordond unreachable (docs/cli.md).\n"
               "\n"
               "Examples:\n"
               "  cordon wait 3f2a9c0e5b7d41a8b6c2d9e0f1a2b3c4 && echo done\n"
               "  cordon wait \"$id\" --json > result.json\n");
}

int cmd_wait(int argc, char **argv)
{
        static const struct option options[] = { CLI_COMMON_OPTIONS, {} };
        cleanup_with(cli_client_freep) struct cli_client *c = NULL;
        struct cli_common o = { 0 };
        json_t *job = NULL;
        int ch, r;

        optind = 0;
        while ((ch = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                if (ch == 'h') {
                        help();
                        return 0;
                }
                if (!cli_common_option(ch, optarg, &o))
                        return CLI_EXIT_USAGE;
        }
        if (optind + 1 != argc) {
                cli_error("wait", "expected one job ID (see 'cordon wait --help')");
                return CLI_EXIT_USAGE;
        }
        if (!cli_job_id_ok("wait", argv[optind]))
                return CLI_EXIT_USAGE;
        r = cli_client_new("wait", o.socket, &c);
        if (r != 0)
                return r;
        r = cli_job_wait(c, argv[optind], cli_isatty(STDERR_FILENO), &job);
        if (r != 0)
                return r;
        if (o.json)
                r = cli_print_json(job);
        else
                cli_job_print_outcome(job);
        if (r == 0)
                r = cli_job_exit_status(job);
        json_decref(job);
        return r;
}
