/* SPDX-License-Identifier: MIT */
/* cordon cancel ID...: stop queued or running jobs. */
#define _GNU_SOURCE
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cordon/cleanup.h"
#include "job.h"
#include "output.h"

static void help(void)
{
        printf("Usage: cordon cancel ID... [--json] [--socket PATH]\n"
               "\n"
               "Cancel jobs. A queued job finishes at once with verdict cancelled; a running\n"
               "one gets SIGTERM, then SIGKILL after its grace period, and finishes as\n"
               "cancelled (see it with 'cordon wait ID'). A job that has already finished is\n"
               "refused (exit 65). With several IDs, the exit status is the first failure's.\n"
               "\n" CLI_COMMON_HELP "\n"
               "Examples:\n"
               "  cordon cancel 3f2a9c0e5b7d41a8b6c2d9e0f1a2b3c4\n"
               "  cordon list --state queued --json | jq -r '.jobs[].id' | xargs cordon cancel\n");
}

static int cancel_one(struct cli_client *c, const char *id, bool json)
{
        char path[128], what[96];
        json_t *job = NULL;
        const char *state;
        int r;

        (void) snprintf(path, sizeof(path), "/v1/jobs/%s/cancel", id);
        (void) snprintf(what, sizeof(what), "job %s", id);
        r = cli_call(c, "POST", path, what, 0, &job);
        if (r != 0)
                return r;
        state = cli_job_str(job, "state");
        if (json)
                r = cli_print_json(job);
        else if (state && strcmp(state, "finished") == 0)
                printf("job %s cancelled\n", id);
        else
                printf("job %s: cancelling (SIGTERM now, SIGKILL after its grace period)\n", id);
        json_decref(job);
        return r;
}

int cmd_cancel(int argc, char **argv)
{
        cleanup_with(cli_client_freep) struct cli_client *c = NULL;
        struct cli_common o = { 0 };
        int r, status = 0;

        r = cli_parse_args(argc, argv, "cancel", help, 1, INT_MAX, &o);
        if (r != 0)
                return r < 0 ? 0 : r;
        r = cli_client_new("cancel", o.socket, &c);
        if (r != 0)
                return r;
        for (int i = optind; i < argc; i++) {
                r = cancel_one(c, argv[i], o.json);
                if (r == CLI_EXIT_UNREACHABLE)
                        return r;
                if (r != 0 && status == 0)
                        status = r;
        }
        return status;
}
