/* SPDX-License-Identifier: MIT */
/* cordon delete ID...: cancel if needed, then remove every stored byte. */
#define _GNU_SOURCE
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "cli.h"
#include "client.h"
#include "cordon/cleanup.h"

static void help(void)
{
        printf("Usage: cordon delete ID... [--json] [--socket PATH]\n"
               "\n"
               "Delete jobs: a queued or running job is cancelled first; then its inputs,\n"
               "output, artifacts and record are removed from cordond. The audit log keeps\n"
               "a job.deleted record (the id, never the content). This cannot be undone.\n"
               "With several IDs, the exit status is the first failure's. cordond answers a\n"
               "delete with no body: with --json, nothing is printed.\n"
               "\n" CLI_COMMON_HELP "\n"
               "Examples:\n"
               "  cordon delete 3f2a9c0e5b7d41a8b6c2d9e0f1a2b3c4\n"
               "  cordon list --label course=mus101 --json | jq -r '.jobs[].id' | xargs cordon "
               "delete\n");
}

int cmd_delete(int argc, char **argv)
{
        cleanup_with(cli_client_freep) struct cli_client *c = NULL;
        struct cli_common o = { 0 };
        int r, status = 0;

        r = cli_parse_args(argc, argv, "delete", help, 1, INT_MAX, &o);
        if (r != 0)
                return r < 0 ? 0 : r;
        r = cli_client_new("delete", o.socket, &c);
        if (r != 0)
                return r;
        for (int i = optind; i < argc; i++) {
                char path[128], what[96];

                (void) snprintf(path, sizeof(path), "/v1/jobs/%s", argv[i]);
                (void) snprintf(what, sizeof(what), "job %s", argv[i]);
                /* DELETE waits up to 60 s for a running job to stop. */
                r = cli_call(c, "DELETE", path, what, 120, NULL);
                if (r == 0 && !o.json)
                        printf("job %s deleted\n", argv[i]);
                if (r == CLI_EXIT_UNREACHABLE)
                        return r;
                if (r != 0 && status == 0)
                        status = r;
        }
        return status;
}
