/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cordon/result.h"

#ifndef CORDON_VERSION
#define CORDON_VERSION "0.0.0"
#endif

static const struct {
        const char *name;
        cd_cmd_fn *fn;
        const char *summary;
} commands[] = {
        { "run", cmd_run, "run a job in a fresh sandbox on this host (root)" },
        { "profiles", cmd_profiles, "list the profiles with their limits" },
        { "profile", cmd_profile, "profile check FILE: validate a profile" },
        { "audit", cmd_audit, "audit verify [FILE|DIR]: check the audit log's hash chain" },
};

void cli_error(const char *cmd, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "cordon %s: ", cmd);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static void usage(FILE *f)
{
        fprintf(f, "Usage: cordon COMMAND [OPTIONS]\n\nCommands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "\nRun 'cordon COMMAND --help' for a command's options.\n");
}

/* The job's stdio relay and the sandbox's pipes assume fds 0-2 are taken. */
static int ensure_std_fds(void)
{
        for (int fd = 0; fd < 3; fd++)
                if (fcntl(fd, F_GETFD) < 0) {
                        int n = open("/dev/null", O_RDWR);

                        if (n < 0)
                                return -1;
                        if (n != fd)
                                return -1;
                }
        return 0;
}

int main(int argc, char **argv)
{
        if (ensure_std_fds() < 0)
                return CD_EXIT_SETUP_ERROR;
        if (argc < 2) {
                usage(stderr);
                return CD_EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                usage(stdout);
                return 0;
        }
        if (strcmp(argv[1], "--version") == 0) {
                printf("cordon %s\n", CORDON_VERSION);
                return 0;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        return commands[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "cordon: unknown command '%s' (see 'cordon --help')\n", argv[1]);
        return CD_EXIT_USAGE;
}
