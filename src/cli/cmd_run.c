/* SPDX-License-Identifier: MIT */
/*
 * cordon run: launch one job in a fresh sandbox, here, without the daemon;
 * for admins, tests and batch schedulers (a Slurm job step or a Kubernetes
 * Job command runs it unchanged). Exits with the job's status, or a fixed
 * code per verdict (docs/cli.md).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/launcher.h"
#include "cordon/limits.h"
#include "cordon/profile.h"
#include "cordon/util.h"
#include "run-audit.h"

extern char **environ;

struct run_opts {
        bool json;
        const char *result_file;
        const char *profile;
        const char *profiles_dir;
        const char *images_dir;
        const char *out_dir;
        const char *entry;
        const char *state_dir;
        struct cd_profile *loaded; /* --profile's, kept to hash its bytes for the audit */
        size_t argc;               /* of the command given after -- */
        char **inputs;
        char **binds;
        uint64_t output_max_bytes;
        struct cd_limits limits; /* values of the limit flags given */
        uint32_t limits_set;
        struct cd_launcher_config cfg;
};

enum {
        OPT_JSON = 0x100,
        OPT_RESULT,
        OPT_PROFILE,
        OPT_PROFILES_DIR,
        OPT_IMAGES_DIR,
        OPT_INPUT,
        OPT_ENTRY,
        OPT_OUT,
        OPT_RO_BIND,
        OPT_CGROUP,
        OPT_CGROUP_PARENT,
        OPT_OUTPUT_MAX,
        OPT_STATE_DIR,
        OPT_LIMIT = 0x200, /* + index in cd_limit_defs */
};

static const struct option fixed_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "json", no_argument, NULL, OPT_JSON },
        { "result", required_argument, NULL, OPT_RESULT },
        { "profile", required_argument, NULL, OPT_PROFILE },
        { "profiles-dir", required_argument, NULL, OPT_PROFILES_DIR },
        { "images-dir", required_argument, NULL, OPT_IMAGES_DIR },
        { "input", required_argument, NULL, OPT_INPUT },
        { "entry", required_argument, NULL, OPT_ENTRY },
        { "out", required_argument, NULL, OPT_OUT },
        { "ro-bind", required_argument, NULL, OPT_RO_BIND },
        { "cgroup", required_argument, NULL, OPT_CGROUP },
        { "cgroup-parent", required_argument, NULL, OPT_CGROUP_PARENT },
        { "output-max", required_argument, NULL, OPT_OUTPUT_MAX },
        { "state-dir", required_argument, NULL, OPT_STATE_DIR },
};

static const struct option *options(void)
{
        static struct cli_limit_options o;

        return cli_limit_options(&o, fixed_options, ELEMENTSOF(fixed_options), OPT_LIMIT);
}

static void help(void)
{
        printf("Usage: cordon run [OPTIONS] [-- COMMAND [ARGS...]]\n"
               "\n"
               "Run a job in a fresh sandbox (namespaces, seccomp, Landlock, cgroup limits, no\n"
               "network, read-only root) and exit with its status. Needs root.\n"
               "\n"
               "What runs:\n"
               "  --profile NAME        a profile from the profiles directory (without one: a\n"
               "                        shell job over the host image, COMMAND required)\n"
               "  --profiles-dir DIR    where profiles are (default /etc/cordon/profiles)\n"
               "  --images-dir DIR      where directory images are (default "
               "/var/lib/cordon/images)\n"
               "  --input PATH          copy a file or directory into /work (repeatable)\n"
               "  --entry FILE          the entry file the profile's command runs, inside /work\n"
               "  --out DIR             copy what the job wrote to /out into DIR (new or empty)\n"
               "  --ro-bind SRC[:DST]   make host path SRC visible read-only at DST\n"
               "  -- COMMAND [ARGS]     run this instead of the profile's command\n"
               "\n"
               "Result:\n"
               "  --json                print the result as JSON on stdout after the job\n"
               "  --result FILE         write the result as JSON to FILE\n"
               "  --output-max SIZE     stdout and stderr each, the rest is dropped (default 1G)\n"
               "\n"
               "Limits (defaults from the profile; a request may tighten, or loosen up to the\n"
               "profile's maximum):\n"
               "  --memory SIZE         memory, swap never extends it (default 1G)\n"
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
               "\n"
               "Host:\n"
               "  --cgroup v1|v2|auto   cgroup mode (default auto)\n"
               "  --cgroup-parent PATH  parent of job cgroups (default cordon)\n"
               "  --state-dir DIR       state directory; the audit log is DIR/audit (default\n"
               "                        /var/lib/cordon)\n"
               "\n"
               "SIZE: bytes with K, M, G or T (binary). DURATION: number with ms, s, m or h.\n"
               "\n"
               "Exit status: the job's own for ok and failed, 128+N when killed by signal N,\n"
               "120 output_limit, 121 cpu_limit, 122 oom, 123 cancelled, 124 timeout,\n"
               "125 setup_error (or the result or its audit record not written), 64 usage\n"
               "error, 69 a profile this host cannot run.\n"
               "\n"
               "Examples:\n"
               "  cordon run -- sh -c 'id; hostname; cat /proc/self/status'\n"
               "  cordon run --memory 256M --wall 10s --json -- python3 -c 'print(1)'\n"
               "  cordon run --profile rmarkdown --input report.Rmd --input data.csv \\\n"
               "             --entry report.Rmd --out ./report\n");
}

static int parse_limit(struct run_opts *o, int index, const char *arg)
{
        const struct cd_limit_def *d = &cd_limit_defs[index];
        uint64_t v;

        if (cli_parse_limit("run", (size_t) index, arg, &v) < 0)
                return -EINVAL;
        *cd_limit_field(&o->limits, d) = v;
        o->limits_set |= 1u << index;
        return 0;
}

static int push(char ***v, const char *s)
{
        if (cd_strv_push(v, s) < 0) {
                cli_error("run", "out of memory");
                return -ENOMEM;
        }
        return 0;
}

/* --input: an absolute path as given; a relative one resolved against the
 * current directory (the caller's own files, as cp(1) would). */
static int push_input(struct run_opts *o, const char *arg)
{
        cleanup_free char *abs = NULL;

        if (arg[0] == '/')
                return push(&o->inputs, arg);
        abs = realpath(arg, NULL);
        if (!abs) {
                /* The name is the caller's: say which argument, not what it holds. */
                cli_error("run", "--input %zu: %s", cd_strv_length(o->inputs) + 1, strerror(errno));
                return -EINVAL;
        }
        return push(&o->inputs, abs);
}

static int parse_option(int c, const char *arg, struct run_opts *o)
{
        if (c >= OPT_LIMIT && c < OPT_LIMIT + (int) cd_n_limit_defs)
                return parse_limit(o, c - OPT_LIMIT, arg);
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
        case OPT_PROFILES_DIR:
                o->profiles_dir = arg;
                return 0;
        case OPT_IMAGES_DIR:
                o->images_dir = arg;
                return 0;
        case OPT_INPUT:
                return push_input(o, arg);
        case OPT_ENTRY:
                o->entry = arg;
                return 0;
        case OPT_OUT:
                o->out_dir = arg;
                return 0;
        case OPT_RO_BIND:
                return push(&o->binds, arg);
        case OPT_CGROUP:
                if (cd_cgroup_mode_from_string(arg, &o->cfg.cgroup.mode) < 0) {
                        cli_error("run", "--cgroup: expected v1, v2 or auto");
                        return -EINVAL;
                }
                return 0;
        case OPT_CGROUP_PARENT:
                o->cfg.cgroup.parent = arg;
                return 0;
        case OPT_STATE_DIR:
                o->state_dir = arg;
                return 0;
        case OPT_OUTPUT_MAX:
                if (cd_parse_size(arg, &o->output_max_bytes) < 0 || o->output_max_bytes == 0) {
                        cli_error("run", "--output-max: expected a size of at least one byte");
                        return -EINVAL;
                }
                return 0;
        }
        return -EINVAL;
}

static int add_binds(struct cd_plan *plan, char *const *binds)
{
        for (size_t i = 0; binds && binds[i]; i++) {
                cleanup_free char *src = strdup(binds[i]);
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
        }
        return 0;
}

/* The plan from a profile, or the built-in shell job over the host. */
static int make_plan(struct run_opts *o, char **argv, struct cd_plan **ret)
{
        const struct cd_profile_host host = { .images_dir = o->images_dir };
        cleanup_free char *path = NULL;
        struct cd_request req = {
                .entry = o->entry,
                .argv = argv,
                .inputs = o->inputs,
                .environ_in = environ,
                .limits = o->limits,
                .limits_set = o->limits_set,
        };
        struct cd_err err = { 0 };

        if (o->profile) {
                if (strchr(o->profile, '/') ||
                    asprintf(&path, "%s/%s.json",
                             o->profiles_dir ? o->profiles_dir : CD_DEFAULT_PROFILES_DIR,
                             o->profile) < 0) {
                        cli_error("run", "--profile: a profile name, not a path");
                        return -EINVAL;
                }
                if (cd_profile_load(path, &host, &o->loaded, &err) < 0) {
                        cli_error("run", "%s", err.msg);
                        return -EINVAL;
                }
        } else if (!argv || !argv[0]) {
                cli_error("run", "no command given and no --profile (see 'cordon run --help')");
                return -EINVAL;
        }
        if (cd_profile_plan_or_host(o->loaded, &req, ret, &err) < 0) {
                cli_error("run", "%s", err.msg);
                /* A sound profile that needs what this host lacks. */
                return err.code == CD_E_UNSUPPORTED ? -EOPNOTSUPP : -EINVAL;
        }
        return add_binds(*ret, o->binds);
}

/* SIGINT, SIGTERM and SIGHUP cancel the job (SIGTERM to it, SIGKILL after
 * the grace period), or the collection of its --out files once it has
 * ended, instead of killing us with the sandbox still up.
 * Job control cannot stop us either (Ctrl-Z, a background read or write of
 * the terminal): the job runs in its own session and would go on while
 * its wall and CPU-time limits went unwatched. The job gets every signal
 * back at its default (sandbox/init.c). */
static int cancel_signals(void)
{
        static const int stops[] = { SIGTSTP, SIGTTIN, SIGTTOU };
        sigset_t set;
        int fd;

        for (size_t i = 0; i < ELEMENTSOF(stops); i++)
                if (signal(stops[i], SIG_IGN) == SIG_ERR)
                        return -errno;
        if (sigemptyset(&set) < 0 || sigaddset(&set, SIGINT) < 0 || sigaddset(&set, SIGTERM) < 0 ||
            sigaddset(&set, SIGHUP) < 0 || sigprocmask(SIG_BLOCK, &set, NULL) < 0)
                return -errno;
        fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        return fd < 0 ? -errno : fd;
}

/* --out DIR: created if missing, otherwise an empty directory of the
 * caller's (or root's) that no one else may write; opened without
 * following a symlink, since the collector writes there as root. */
static int open_out_dir(const char *path)
{
        return cli_out_dir_open("run", "--out", path, false);
}

/* The directory that holds @path, fsync'd: the rename into it survives a
 * power loss. A file system that cannot sync a directory (EINVAL) has
 * nothing more to give. */
static int sync_parent(const char *path)
{
        cleanup_free char *copy = strdup(path);
        cleanup_close int fd = -1;

        if (!copy)
                return -ENOMEM;
        fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || (fsync(fd) < 0 && errno != EINVAL))
                return -errno;
        return 0;
}

/* --result FILE: @j into @path, whole or not at all. A new file beside it,
 * on disk, then renamed over it (a symlink there is replaced, never
 * followed), so a full disk leaves an earlier result as it was, not cut;
 * then the rename is synced. */
static int write_result_file(const char *path, const json_t *j)
{
        cleanup_free char *tmp = NULL;
        cleanup_close int fd = -1;
        int r = 0;

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
        if (fd < 0)
                return -errno;
        errno = 0;
        if (json_dumpfd(j, fd, JSON_COMPACT | JSON_ENSURE_ASCII) < 0 ||
            cd_write_all(fd, "\n", 1) < 0)
                r = errno ? -errno : -EIO;
        else if (fsync(fd) < 0 || rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        return cd_fault("result_dir_fsync") ? -EIO : sync_parent(path);
}

/* The result on stdout (--json) and in --result FILE; a negative errno
 * when either could not be written (a reader of stdout that left, EPIPE,
 * is no failure: `cordon run --json ... | head`). */
static int write_result(const struct run_opts *o, const struct cd_result *res, const char *job)
{
        json_t *j = cd_result_to_json(res);
        int r = 0, rf = 0;

        if (!j || json_object_set_new(j, "job", json_string(job)) < 0) {
                json_decref(j);
                return -ENOMEM;
        }
        /* The file first: it is the channel meant for when stdout fails. */
        if (o->result_file)
                rf = write_result_file(o->result_file, j);
        errno = 0;
        if (o->json &&
            (json_dumpf(j, stdout, JSON_COMPACT | JSON_ENSURE_ASCII) < 0 ||
             fputc('\n', stdout) == EOF || fflush(stdout) == EOF) &&
            errno != EPIPE)
                r = errno ? -errno : -EIO;
        r = rf < 0 ? rf : r;
        json_decref(j);
        (void) fflush(stdout);
        return r;
}

/* The collection of --out stopped before every file was looked at: the
 * verdict's "after N ms" is the job's own time, not what the wait was. */
static void report_collection(const struct cd_result *res)
{
        const struct cd_manifest *m = &res->manifest;

        if (!res->collected || m->stopped == CD_TAKEN)
                return;
        cli_error("run",
                  m->stopped == CD_REFUSED_CANCELLED
                          ? "the collection of --out was cancelled: %llu files stored, the rest "
                            "listed as %s"
                          : "the collection of --out ran out of time (the profile's "
                            "artifacts.max_time): %llu files stored, the rest listed as %s",
                  (unsigned long long) m->files, cd_refusal_to_string(m->stopped));
}

/* One line on stderr when the job did not simply finish. */
static void report_verdict(const struct cd_result *res, int launch_r)
{
        const char *v = cd_verdict_to_string(res->verdict);

        /* The verdict stands; what could not be written is said (but not
         * for a reader that left: `cordon run ... | head`). */
        if (res->output_errno && res->output_errno != EPIPE)
                cli_error("run", "the job's output could not all be written: %s",
                          strerror(res->output_errno));

        switch (res->verdict) {
        case CD_VERDICT_OK:
        case CD_VERDICT_FAILED:
                if (res->exec_failed || launch_r < 0)
                        cli_error("run", "%s", res->error.msg);
                return;
        case CD_VERDICT_SETUP_ERROR:
        case CD_VERDICT_REJECTED:
                cli_error("run", "%s: %s", v, res->error.msg);
                return;
        default:
                cli_error("run", "job ended with verdict %s after %llu ms", v,
                          (unsigned long long) res->wall_ms);
                /* A timeout, cancel or CPU limit is the verdict; memory
                 * trouble (before it, or in the grace period) may be why. */
                if (res->verdict != CD_VERDICT_OOM && res->oom_kills > 0)
                        cli_error("run",
                                  "the memory limit also killed %llu of its "
                                  "processes (oom_kills in the result)",
                                  (unsigned long long) res->oom_kills);
                if (launch_r < 0)
                        cli_error("run", "%s", res->error.msg);
        }
}

/* What stderr says of a job that did not simply finish. */
static void report(const struct cd_result *res, int launch_r)
{
        report_verdict(res, launch_r);
        report_collection(res);
}

/* The audit records before the job: the log must hold them first. */
static int audit_begin(const struct run_opts *o, const struct cd_plan *plan, struct run_audit *ra)
{
        struct cd_err err = { 0 };
        int r;

        r = run_audit_open(ra, o->state_dir ? o->state_dir : CD_DEFAULT_STATE_DIR,
                           o->profile ? o->profile : "host", &err);
        if (r == 0 && o->profile)
                r = run_audit_profile(ra, o->loaded->raw, o->loaded->raw_len, &err);
        if (r == 0)
                r = run_audit_submitted(ra, plan, cd_strv_length(o->inputs), o->argc, &err);
        if (r < 0)
                cli_error("run", "%s (the job was not run)", err.msg);
        return r;
}

/* The launcher, made before the audit records are written: the job's
 * network namespace and root are built meanwhile (cd_launcher_prepare).
 * One that could not be made is reported by launch(), after the records. */
struct launcher {
        struct cd_launcher *l;
        int r;
        struct cd_err err;
};

static void launcher_open(const struct run_opts *o, const struct cd_plan *plan,
                          struct launcher *ret)
{
        *ret = (struct launcher){ 0 };
        ret->r = cd_launcher_new(&o->cfg, &ret->l, &ret->err);
        if (ret->r == 0)
                cd_launcher_prepare(ret->l, plan);
}

/* Run the job; when it cannot even be launched, @res says so (setup_error). */
static int launch(struct launcher *lr, const struct cd_plan *plan, int out,
                  const struct run_opts *o, struct run_audit *ra, struct cd_result *res)
{
        cleanup_close int cancel = -1;
        struct cd_launch_io io;

        *res = (struct cd_result){ .verdict = CD_VERDICT_SETUP_ERROR, .exit_code = -1 };
        if (lr->r < 0) {
                res->error = lr->err;
                return lr->r;
        }
        cancel = cancel_signals();
        if (cancel < 0)
                return cd_err_neg(&res->error, cancel, "run: cannot set up signal handling");
        io = (struct cd_launch_io){ .output_cap_bytes = o->output_max_bytes,
                                    .stdin_fd = STDIN_FILENO,
                                    .stdout_fd = STDOUT_FILENO,
                                    .stderr_fd = STDERR_FILENO,
                                    .cancel_fd = cancel,
                                    .collect = out >= 0,
                                    .out_dir_fd = out,
                                    .before_start = run_audit_started,
                                    .before_start_data = ra };
        return cd_launch(lr->l, plan, &io, res);
}

static int run(struct run_opts *o, const struct cd_plan *plan)
{
        cleanup_close int out = -1;
        struct run_audit ra = { 0 };
        struct launcher lr;
        struct cd_result res;
        struct cd_err err = { 0 };
        int r, w, status;

        if (o->out_dir && (out = open_out_dir(o->out_dir)) < 0)
                return CD_EXIT_USAGE;
        launcher_open(o, plan, &lr);
        if (audit_begin(o, plan, &ra) < 0) {
                (void) cd_launcher_free(lr.l);
                run_audit_close(&ra);
                return CD_EXIT_SETUP_ERROR;
        }
        r = launch(&lr, plan, out, o, &ra, &res);
        lr.l = cd_launcher_free(lr.l);
        status = cd_result_exit_status(&res);
        /* A job that ran, but whose teardown then failed (its cgroup or mounts). */
        if (r < 0 && res.verdict != CD_VERDICT_SETUP_ERROR && status == 0)
                status = CD_EXIT_SETUP_ERROR;
        /* The result is given only once the log holds the verdict. A cancel
         * (SIGINT, SIGTERM, SIGHUP to cordon run) is its own event too. The
         * record comes before any message: a terminal that stalls our
         * stderr must not keep the verdict out of the log. */
        if ((res.verdict == CD_VERDICT_CANCELLED && run_audit_cancelled(&ra, &err) < 0) ||
            run_audit_finished(&ra, &res, &err) < 0) {
                report(&res, r);
                cli_error("run", "%s (%s; its result is not recorded)", err.msg,
                          res.verdict == CD_VERDICT_SETUP_ERROR ? "the job did not run"
                                                                : "the job ran");
                status = CD_EXIT_SETUP_ERROR;
        } else {
                report(&res, r);
        }
        w = write_result(o, &res, ra.job);
        if (w < 0) {
                /* Exit 0 beside a result that is not there would be believed. */
                cli_error("run", "cannot write the result: %s (the job %s)", strerror(-w),
                          res.verdict == CD_VERDICT_SETUP_ERROR ? "did not run" : "ran");
                status = CD_EXIT_SETUP_ERROR;
        }
        run_audit_close(&ra);
        cd_result_clear(&res);
        return status;
}

static void opts_clear(struct run_opts *o)
{
        cd_strv_free(o->inputs);
        cd_strv_free(o->binds);
        o->loaded = cd_profile_free(o->loaded);
}

int cmd_run(int argc, char **argv)
{
        cleanup_with(cd_plan_freep) struct cd_plan *plan = NULL;
        struct run_opts o = { .output_max_bytes = 1ULL << 30 };
        int c, status = CD_EXIT_USAGE;

        optind = 1;
        while ((c = getopt_long(argc, argv, "+h", options(), NULL)) != -1) {
                if (c == 'h') {
                        help();
                        opts_clear(&o);
                        return 0;
                }
                if (c == '?' || parse_option(c, optarg, &o) < 0)
                        goto out;
        }
        o.argc = (size_t) (argc - optind);
        c = make_plan(&o, optind < argc ? argv + optind : NULL, &plan);
        if (c < 0) {
                status = c == -EOPNOTSUPP ? CD_EXIT_UNAVAILABLE : CD_EXIT_USAGE;
                goto out;
        }
        status = run(&o, plan);
out:
        opts_clear(&o);
        return status;
}
