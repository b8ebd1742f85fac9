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
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

bool cli_job_id_valid(const char *s)
{
        size_t n = strlen(s);

        return n >= 1 && n <= 64 && strspn(s, "0123456789abcdef") == n;
}

bool cli_job_id_ok(const char *cmd, const char *s)
{
        if (cli_job_id_valid(s))
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

/* Open @path, made if missing; says why not. */
static int out_dir_open(const char *cmd, const char *flag, const char *path, bool follow)
{
        struct stat st;
        int fd;

        /* Owner only when cordon makes it: a job's output (PHI, often). */
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
                fd = -errno; /* before cli_error()'s stdio may change it */
                cli_error(cmd, "%s: cannot create the directory: %s", flag, strerror(-fd));
                return fd;
        }
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
        if (fd >= 0)
                return fd;
        fd = -errno;
        if (!follow && fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode))
                cli_error(cmd, "%s: a symlink; refused (name the directory itself)", flag);
        else
                cli_error(cmd, "%s: not a directory: %s", flag, strerror(-fd));
        return fd;
}

/* Whether the directory @fd is the caller's alone to write (or root's). */
static int out_dir_check(const char *cmd, const char *flag, int fd)
{
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0) {
                r = -errno;
                cli_error(cmd, "%s: cannot read the directory: %s", flag, strerror(-r));
                return r;
        }
        if (st.st_uid != geteuid() && st.st_uid != 0) {
                cli_error(cmd,
                          "%s: the directory belongs to uid %u, not to you; refused (its owner "
                          "could replace the files)",
                          flag, (unsigned int) st.st_uid);
                return -EPERM;
        }
        if (st.st_mode & (S_IWGRP | S_IWOTH)) {
                cli_error(cmd,
                          "%s: the directory is writable by its group or others (mode %04o); "
                          "refused (they could replace the files)",
                          flag, (unsigned int) (st.st_mode & 07777));
                return -EPERM;
        }
        r = cli_dir_empty(fd);
        if (r < 0)
                cli_error(cmd, "%s: cannot read the directory: %s", flag, strerror(-r));
        else if (r == 0)
                cli_error(cmd, "%s: the directory must be empty (or not exist yet)", flag);
        return r < 0 ? r : r == 0 ? -EEXIST : 0;
}

int cli_out_dir_open(const char *cmd, const char *flag, const char *path, bool follow)
{
        cleanup_free char *copy = strdup(path);
        size_t n = copy ? strlen(copy) : 0;
        int fd, r;

        if (!copy) {
                cli_error(cmd, "out of memory");
                return -ENOMEM;
        }
        while (n > 1 && copy[n - 1] == '/')
                copy[--n] = '\0';
        fd = out_dir_open(cmd, flag, copy, follow);
        if (fd < 0)
                return fd;
        r = out_dir_check(cmd, flag, fd);
        if (r < 0) {
                (void) cd_close(fd);
                return r;
        }
        return fd;
}
