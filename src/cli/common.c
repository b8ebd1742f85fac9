/* SPDX-License-Identifier: MIT */
/* What the commands that talk to cordond share: options, ids, interrupts. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cordon/cleanup.h"

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

int cli_parse_args(int argc, char **argv, const char *cmd, void (*help)(void), int min_ids,
                   int max_ids, struct cli_common *o)
{
        static const struct option options[] = { CLI_COMMON_OPTIONS, {} };
        int ch, n;

        optind = 0;
        while ((ch = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                if (ch == 'h') {
                        help();
                        return -1;
                }
                if (!cli_common_option(ch, optarg, o))
                        return CLI_EXIT_USAGE;
        }
        n = argc - optind;
        if (n < min_ids || n > max_ids) {
                cli_error(cmd, "%s (see 'cordon %s --help')",
                          max_ids == 0   ? "takes no arguments"
                          : max_ids == 1 ? "expected one job ID"
                                         : "expected a job ID",
                          cmd);
                return CLI_EXIT_USAGE;
        }
        for (int i = optind; i < argc; i++)
                if (!cli_job_id_ok(cmd, argv[i]))
                        return CLI_EXIT_USAGE;
        return 0;
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
        (void) sigaction(SIGHUP, &sa, NULL);
}

bool cli_interrupted(void)
{
        return interrupted != 0;
}

int cli_sleep_ms(uint64_t ms)
{
        while (ms > 0 && !cli_interrupted()) {
                uint64_t step = ms < 100 ? ms : 100;
                struct timespec ts = { .tv_nsec = (long) (step * 1000000ULL) };

                (void) nanosleep(&ts, NULL); /* EINTR: a signal; checked above */
                ms -= step;
        }
        return cli_interrupted() ? -1 : 0;
}

int cli_dir_empty(int fd)
{
        int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
        struct dirent *de;
        int r = 1;

        if (!d) {
                r = -errno;
                (void) cd_close(dup_fd);
                return r;
        }
        while (r == 1 && (errno = 0, de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        r = 0;
        if (r == 1 && errno != 0)
                r = -errno;
        (void) closedir(d);
        return r;
}
