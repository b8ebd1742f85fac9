/* SPDX-License-Identifier: MIT */
/*
 * cordon run: launch one command in a fresh sandbox, here, without the
 * daemon; for admins, tests and batch schedulers (a Slurm job step or a
 * Kubernetes Job command runs it unchanged). Exits with the job's status,
 * or a fixed code per verdict (docs/cli.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "cordon/cleanup.h"
#include "cordon/launcher.h"
#include "cordon/util.h"

extern char **environ;

struct run_opts {
        bool json;
        uint64_t output_max_bytes;
        const char *result_file;
        const char *profile;
        struct cd_launcher_config cfg;
};

enum {
        OPT_JSON = 0x100,
        OPT_RESULT,
        OPT_PROFILE,
        OPT_MEMORY,
        OPT_CPUS,
        OPT_PIDS,
        OPT_WALL,
        OPT_CPU_TIME,
        OPT_GRACE,
        OPT_TMP_SIZE,
        OPT_SHM_SIZE,
        OPT_WORK_SIZE,
        OPT_OUT_SIZE,
        OPT_FSIZE,
        OPT_NOFILE,
        OPT_RO_BIND,
        OPT_CGROUP,
        OPT_CGROUP_PARENT,
        OPT_RUN_DIR,
        OPT_OUTPUT_MAX,
};

static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "json", no_argument, NULL, OPT_JSON },
        { "result", required_argument, NULL, OPT_RESULT },
        { "profile", required_argument, NULL, OPT_PROFILE },
        { "memory", required_argument, NULL, OPT_MEMORY },
        { "cpus", required_argument, NULL, OPT_CPUS },
        { "pids", required_argument, NULL, OPT_PIDS },
        { "wall", required_argument, NULL, OPT_WALL },
        { "cpu-time", required_argument, NULL, OPT_CPU_TIME },
        { "grace", required_argument, NULL, OPT_GRACE },
        { "tmp-size", required_argument, NULL, OPT_TMP_SIZE },
        { "shm-size", required_argument, NULL, OPT_SHM_SIZE },
        { "work-size", required_argument, NULL, OPT_WORK_SIZE },
        { "out-size", required_argument, NULL, OPT_OUT_SIZE },
        { "fsize", required_argument, NULL, OPT_FSIZE },
        { "nofile", required_argument, NULL, OPT_NOFILE },
        { "ro-bind", required_argument, NULL, OPT_RO_BIND },
        { "cgroup", required_argument, NULL, OPT_CGROUP },
        { "cgroup-parent", required_argument, NULL, OPT_CGROUP_PARENT },
        { "run-dir", required_argument, NULL, OPT_RUN_DIR },
        { "output-max", required_argument, NULL, OPT_OUTPUT_MAX },
        {},
};

static void help(void)
{
        printf("Usage: cordon run [OPTIONS] -- COMMAND [ARGS...]\n"
               "\n"
               "Run COMMAND in a fresh sandbox (namespaces, seccomp, Landlock, cgroup limits,\n"
               "no network, read-only root) and exit with its status. Needs root.\n"
               "\n"
               "Options:\n"
               "  --profile NAME        profile (only 'default' until profiles are installed)\n"
               "  --json                print the result as JSON on stdout after the job\n"
               "  --result FILE         write the result as JSON to FILE\n"
               "  --memory SIZE         memory limit, swap never extends it (default 1G)\n"
               "  --cpus N              CPU quota in cores, e.g. 0.5 (default 0.5)\n"
               "  --pids N              tasks in the job (default 256)\n"
               "  --wall DURATION       wall-clock limit from launch (default 300s)\n"
               "  --cpu-time DURATION   CPU time of the whole job tree (default none)\n"
               "  --grace DURATION      SIGTERM, then SIGKILL this much later (default 2s)\n"
               "  --tmp-size SIZE       /tmp size (default 256M)\n"
               "  --shm-size SIZE       /dev/shm size (default 64M)\n"
               "  --work-size SIZE      /work size (default 1G)\n"
               "  --out-size SIZE       /out size; more gives output_limit (default 1G)\n"
               "  --fsize SIZE          largest file the job may write (default 1G)\n"
               "  --nofile N            open files per process (default 1024)\n"
               "  --output-max SIZE     stdout and stderr each, the rest is dropped (default 1G)\n"
               "  --ro-bind SRC[:DST]   make host path SRC visible read-only at DST\n"
               "  --cgroup v1|v2|auto   cgroup mode (default auto)\n"
               "  --cgroup-parent PATH  parent of job cgroups (default cordon)\n"
               "  --run-dir DIR         runtime directory for uid leases (default /run/cordon)\n"
               "\n"
               "SIZE: bytes with K, M, G or T (binary). DURATION: number with ms, s, m or h.\n"
               "\n"
               "Exit status: the job's own for ok and failed, 128+N when killed by signal N,\n"
               "120 output_limit, 121 cpu_limit, 122 oom, 123 cancelled, 124 timeout,\n"
               "125 setup_error, 64 usage error.\n"
               "\n"
               "Examples:\n"
               "  cordon run -- sh -c 'id; hostname; cat /proc/self/status'\n"
               "  cordon run --memory 256M --wall 10s --json -- python3 -c 'print(1)'\n");
}

typedef int parse_fn(const char *s, uint64_t *ret);

static int set_limit(const char *flag, const char *arg, parse_fn *parse, uint64_t *field)
{
        int r = parse(arg, field);

        if (r == -ERANGE)
                cli_error("run", "--%s: value out of range", flag);
        else if (r < 0)
                cli_error("run", "--%s: invalid value", flag);
        return r;
}

static int add_bind(struct cd_plan *plan, const char *arg)
{
        cleanup_free char *src = strdup(arg);
        struct cd_err err = { 0 };
        char *dst;

        if (!src)
                return -ENOMEM;
        dst = strchr(src, ':');
        if (dst)
                *dst++ = '\0';
        if (cd_plan_add_bind(plan, src, dst ? dst : src, false, &err) < 0) {
                cli_error("run", "--ro-bind: %s", err.msg);
                return -EINVAL;
        }
        return 0;
}

static int parse_limit(int c, const char *arg, struct cd_limits *l)
{
        switch (c) {
        case OPT_MEMORY:
                return set_limit("memory", arg, cd_parse_size, &l->memory_max_bytes);
        case OPT_CPUS:
                return set_limit("cpus", arg, cd_parse_millicpus, &l->cpu_millis);
        case OPT_PIDS:
                return set_limit("pids", arg, cd_parse_u64, &l->pids_max);
        case OPT_WALL:
                return set_limit("wall", arg, cd_parse_duration_ms, &l->wall_timeout_ms);
        case OPT_CPU_TIME:
                return set_limit("cpu-time", arg, cd_parse_duration_ms, &l->cpu_time_ms);
        case OPT_GRACE:
                return set_limit("grace", arg, cd_parse_duration_ms, &l->grace_ms);
        case OPT_TMP_SIZE:
                return set_limit("tmp-size", arg, cd_parse_size, &l->tmp_size_bytes);
        case OPT_SHM_SIZE:
                return set_limit("shm-size", arg, cd_parse_size, &l->shm_size_bytes);
        case OPT_WORK_SIZE:
                return set_limit("work-size", arg, cd_parse_size, &l->work_size_bytes);
        case OPT_OUT_SIZE:
                return set_limit("out-size", arg, cd_parse_size, &l->out_size_bytes);
        case OPT_FSIZE:
                return set_limit("fsize", arg, cd_parse_size, &l->fsize_bytes);
        case OPT_NOFILE:
                return set_limit("nofile", arg, cd_parse_u64, &l->nofile);
        }
        return -EINVAL;
}

static int parse_option(int c, const char *arg, struct run_opts *o, struct cd_plan *plan)
{
        switch (c) {
        case OPT_JSON:
                o->json = true;
                return 0;
        case OPT_RESULT:
                o->result_file = arg;
                return 0;
        case OPT_PROFILE:
                o->profile = arg;
                return 0;
        case OPT_RO_BIND:
                return add_bind(plan, arg);
        case OPT_CGROUP:
                if (cd_cgroup_mode_from_string(arg, &o->cfg.cgroup.mode) < 0) {
                        cli_error("run", "--cgroup: expected v1, v2 or auto");
                        return -EINVAL;
                }
                return 0;
        case OPT_CGROUP_PARENT:
                o->cfg.cgroup.parent = arg;
                return 0;
        case OPT_RUN_DIR:
                o->cfg.run_dir = arg;
                return 0;
        case OPT_OUTPUT_MAX:
                if (set_limit("output-max", arg, cd_parse_size, &o->output_max_bytes) < 0)
                        return -EINVAL;
                if (o->output_max_bytes == 0) {
                        cli_error("run", "--output-max: must be at least one byte");
                        return -EINVAL;
                }
                return 0;
        }
        return parse_limit(c, arg, &plan->limits);
}

/* SIGINT, SIGTERM and SIGHUP cancel the job (SIGTERM to it, SIGKILL after
 * the grace period) instead of killing us with the sandbox still up. */
static int cancel_signals(void)
{
        sigset_t set;

        if (sigemptyset(&set) < 0 || sigaddset(&set, SIGINT) < 0 || sigaddset(&set, SIGTERM) < 0 ||
            sigaddset(&set, SIGHUP) < 0 || sigprocmask(SIG_BLOCK, &set, NULL) < 0)
                return -errno;
        return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int write_result(const struct run_opts *o, const struct cd_result *res)
{
        json_t *j = cd_result_to_json(res);
        int r = 0;

        if (!j)
                return -ENOMEM;
        if (o->json && json_dumpf(j, stdout, JSON_COMPACT) == 0)
                fputc('\n', stdout);
        if (o->result_file) {
                int fd = open(o->result_file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                              0644);

                if (fd < 0 || json_dumpfd(j, fd, JSON_COMPACT) < 0 || write(fd, "\n", 1) != 1)
                        r = -errno ? -errno : -EIO;
                (void) cd_close(fd);
        }
        json_decref(j);
        (void) fflush(stdout);
        return r;
}

/* One line on stderr when the job did not simply finish. */
static void report(const struct cd_result *res)
{
        const char *v = cd_verdict_to_string(res->verdict);

        switch (res->verdict) {
        case CD_VERDICT_OK:
                return;
        case CD_VERDICT_FAILED:
                if (res->exec_failed)
                        cli_error("run", "%s", res->error.msg);
                return;
        case CD_VERDICT_SETUP_ERROR:
        case CD_VERDICT_REJECTED:
                cli_error("run", "%s: %s", v, res->error.msg);
                return;
        default:
                cli_error("run", "job ended with verdict %s after %llu ms", v,
                          (unsigned long long) res->wall_ms);
        }
}

static int run(struct run_opts *o, struct cd_plan *plan)
{
        cleanup_close int cancel = -1;
        struct cd_launcher *l = NULL;
        struct cd_launch_io io;
        struct cd_result res;
        struct cd_err err = { 0 };

        if (cd_launcher_new(&o->cfg, &l, &err) < 0) {
                cli_error("run", "%s", err.msg);
                return CD_EXIT_SETUP_ERROR;
        }
        cancel = cancel_signals();
        if (cancel < 0) {
                cli_error("run", "cannot set up signal handling: %s", strerror(-cancel));
                (void) cd_launcher_free(l);
                return CD_EXIT_SETUP_ERROR;
        }
        io = (struct cd_launch_io){ .output_cap_bytes = o->output_max_bytes,
                                    .stdin_fd = STDIN_FILENO,
                                    .stdout_fd = STDOUT_FILENO,
                                    .stderr_fd = STDERR_FILENO,
                                    .cancel_fd = cancel };
        (void) cd_launch(l, plan, &io, &res);
        (void) cd_launcher_free(l);
        report(&res);
        if (write_result(o, &res) < 0)
                cli_error("run", "cannot write the result");
        return cd_result_exit_status(&res);
}

int cmd_run(int argc, char **argv)
{
        cleanup_with(cd_plan_freep) struct cd_plan *plan = NULL;
        struct run_opts o = { .output_max_bytes = 1ULL << 30 };
        struct cd_err err = { 0 };
        char *empty[] = { NULL };
        int c;

        /* A plan with no command yet: the flags fill it, argv comes last. */
        if (cd_plan_new_host(empty, environ, &plan, &err) < 0) {
                cli_error("run", "%s", err.msg);
                return CD_EXIT_SETUP_ERROR;
        }
        optind = 1;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
                if (c == 'h') {
                        help();
                        return 0;
                }
                if (c == '?' || parse_option(c, optarg, &o, plan) < 0)
                        return CD_EXIT_USAGE;
        }
        if (optind >= argc) {
                cli_error("run", "no command given (see 'cordon run --help')");
                return CD_EXIT_USAGE;
        }
        if (o.profile && strcmp(o.profile, "default") != 0) {
                cli_error("run", "--profile: unknown profile");
                return CD_EXIT_USAGE;
        }
        cd_strv_free(plan->argv);
        plan->argv = cd_strv_copy(argv + optind);
        if (!plan->argv)
                return CD_EXIT_SETUP_ERROR;
        if (cd_plan_validate(plan, &err) < 0) {
                cli_error("run", "%s", err.msg);
                return CD_EXIT_USAGE;
        }
        return run(&o, plan);
}
