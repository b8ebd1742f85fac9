/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cordon/cleanup.h"
#include "cordon/result.h"

#ifndef CORDON_VERSION
#define CORDON_VERSION "0.0.0"
#endif

static const struct {
        const char *name;
        cd_cmd_fn *fn;
        const char *summary;
} commands[] = {
        { "submit", cmd_submit,
          "submit a job to cordond; --wait for it, -o DIR for its artifacts" },
        { "status", cmd_status, "show one job" },
        { "wait", cmd_wait, "wait for a job to finish and exit with its status" },
        { "logs", cmd_logs, "print a job's stdout or stderr (--follow while it runs)" },
        { "artifacts", cmd_artifacts, "list or fetch a job's artifacts, SHA-256 checked" },
        { "cancel", cmd_cancel, "cancel queued or running jobs" },
        { "delete", cmd_delete, "delete jobs and everything stored for them" },
        { "list", cmd_list, "list jobs, newest first" },
        { "health", cmd_health, "is cordond up, and how busy" },
        { "profiles", cmd_profiles, "list cordond's profiles (--local: this host's files)" },
        { NULL, NULL, NULL }, /* --help: the local commands follow */
        { "run", cmd_run, "run a job in a fresh sandbox here, without cordond (root)" },
        { "profile", cmd_profile, "profile check FILE: validate a profile file" },
        { "audit", cmd_audit,
          "audit verify [FILE|DIR]: check the local audit log's hash chain (audit repair: cut "
          "a torn last line)" },
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
        fprintf(f, "Usage: cordon COMMAND [OPTIONS]\n\nCommands that talk to cordond (its unix "
                   "socket: --socket PATH,\n$CORDON_SOCKET, or " CLI_DEFAULT_SOCKET "):\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                if (!commands[i].name)
                        fprintf(f, "\nCommands that work on this host's files:\n");
                else
                        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
        }
        fprintf(f, "\nRun 'cordon COMMAND --help' for a command's options and examples;\n"
                   "exit statuses are in cordon(1) and docs/cli.md. 'cordon --version' prints\n"
                   "the version.\n");
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

/* "cordon --socket PATH CMD ..." as "cordon CMD --socket PATH ...": the
 * command's own parser then takes it. Returns -1 when no command follows. */
static int global_socket(int argc, char **argv)
{
        size_t n;
        char *cmd;

        if (strncmp(argv[1], "--socket=", 9) == 0)
                n = 1;
        else if (strcmp(argv[1], "--socket") == 0)
                n = 2;
        else
                return 0;
        if ((size_t) argc < n + 2)
                return -1;
        cmd = argv[1 + n];
        memmove(argv + 2, argv + 1, n * sizeof(char *));
        argv[1] = cmd;
        return 0;
}

int main(int argc, char **argv)
{
        if (ensure_std_fds() < 0)
                return CD_EXIT_SETUP_ERROR;
        /* A file size limit (ulimit -f) makes a write past it fail with
         * EFBIG, which the audit append and every copy undo; the signal
         * would kill cordon in the middle of a record or a download. Jobs
         * get every signal back at its default (sandbox/init.c). */
        if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR) {
                perror("cordon: ignore SIGXFSZ");
                return CD_EXIT_SETUP_ERROR;
        }
        if (argc < 2) {
                usage(stderr);
                return CD_EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                usage(stdout);
                return 0;
        }
        if (global_socket(argc, argv) < 0) {
                fprintf(stderr, "cordon: --socket: expected a PATH and a command\n");
                return CD_EXIT_USAGE;
        }
        if (strcmp(argv[1], "--version") == 0) {
                printf("cordon %s\n", CORDON_VERSION);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (commands[i].name && strcmp(argv[1], commands[i].name) == 0) {
                        static char prog[32];

                        /* getopt's own messages ("unrecognized option")
                         * start with argv[0]: "cordon list: ..." as ours. */
                        (void) snprintf(prog, sizeof(prog), "cordon %s", commands[i].name);
                        argv[1] = prog;
                        return commands[i].fn(argc - 1, argv + 1);
                }
        fprintf(stderr, "cordon: unknown command '%s' (see 'cordon --help')\n", argv[1]);
        return CD_EXIT_USAGE;
}
