/* SPDX-License-Identifier: MIT */
/* What the commands that talk to cordond share: options, ids, interrupts. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "cli.h"

static volatile sig_atomic_t interrupted;

bool cli_common_option(int c, const char *arg, struct cli_common *o)
{
        switch (c) {
        case CLI_OPT_SOCKET:
                o->socket = arg;
                return true;
        case CLI_OPT_JSON:
                o->json = true;
                return true;
        }
        return false;
}

bool cli_job_id_ok(const char *cmd, const char *s)
{
        size_t n = strlen(s);

        if (n >= 1 && n <= 64 && strspn(s, "0123456789abcdef") == n)
                return true;
        cli_error(cmd, "not a job id (lowercase hex, as 'cordon list' shows)");
        return false;
}

static void on_signal(int sig)
{
        (void) sig;
        interrupted = 1;
}

void cli_catch_interrupts(void)
{
        struct sigaction sa = { .sa_handler = on_signal };

        (void) sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);
}

bool cli_interrupted(void)
{
        return interrupted != 0;
}
