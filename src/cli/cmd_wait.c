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
        cleanup_with(cli_client_freep) struct cli_client *c = NULL;
        struct cli_common o = { 0 };
        json_t *job = NULL;
        int r;

        r = cli_parse_args(argc, argv, "wait", help, 1, 1, &o);
        if (r != 0)
                return r < 0 ? 0 : r;
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
