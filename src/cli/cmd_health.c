/* SPDX-License-Identifier: MIT */
/* cordon health: is cordond up, and how busy. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cordon/cleanup.h"
#include "output.h"

static void help(void)
{
        printf("Usage: cordon health [--json] [--socket PATH]\n"
               "\n"
               "Ask cordond how it is: ok or stopping and its version; for admins also its\n"
               "cgroup mode, busy and total slots, and the queue's length. Exit 0 when ok,\n"
               "75 when stopping, 69 when it cannot be reached: usable as a probe.\n"
               "\n" CLI_COMMON_HELP "\n"
               "Examples:\n"
               "  cordon health\n"
               "  cordon health --socket /tmp/cordon.sock --json\n");
}

static long long num(const json_t *o, const char *a, const char *b)
{
        return json_integer_value(json_object_get(json_object_get(o, a), b));
}

int cmd_health(int argc, char **argv)
{
        cleanup_with(cli_client_freep) struct cli_client *c = NULL;
        struct cli_common o = { 0 };
        bool colour = cli_colour(STDOUT_FILENO), ok;
        json_t *h = NULL;
        const char *status;
        int r;

        r = cli_parse_args(argc, argv, "health", help, 0, 0, &o);
        if (r != 0)
                return r < 0 ? 0 : r;
        r = cli_client_new("health", o.socket, &c);
        if (r == 0)
                r = cli_call(c, "GET", "/v1/health", NULL, 0, &h);
        if (r != 0)
                return r;
        status = json_string_value(json_object_get(h, "status"));
        ok = status && strcmp(status, "ok") == 0;
        if (o.json) {
                r = cli_print_json(h);
        } else {
                cleanup_free char *s = cli_escape(status ? status : "?");
                cleanup_free char *v =
                        cli_escape(json_string_value(json_object_get(h, "version")) ?: "?");
                cleanup_free char *m =
                        cli_escape(json_string_value(json_object_get(h, "cgroup_mode")) ?: "?");

                printf("cordond %s%s%s at %s\n", cli_sgr(colour, ok ? CLI_GREEN : CLI_YELLOW),
                       s ? s : "?", cli_sgr(colour, CLI_PLAIN), cli_client_socket(c));
                printf("version  %s\n", v ? v : "?");
                if (json_object_get(h, "slots")) /* admins only */
                        printf("cgroup   %s\nslots    %lld of %lld busy\nqueue    %lld of "
                               "at most %lld\n",
                               m ? m : "?", num(h, "slots", "busy"), num(h, "slots", "total"),
                               num(h, "queue", "length"), num(h, "queue", "max"));
        }
        json_decref(h);
        return r != 0 ? r : ok ? 0 : CLI_EXIT_BUSY;
}
