/* SPDX-License-Identifier: MIT */
/*
 * cordond: the root supervisor. Loads its configuration, makes itself
 * non-dumpable in a private mount namespace, opens the state (store, job
 * files, audit log), recovers from a crash, starts the queue and serves the
 * API on its unix socket until SIGTERM. SIGHUP reloads the profiles.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/http.h"
#include "cordon/log.h"
#include "cordon/util.h"
#include "daemon.h"

#define JANITOR_MS      (60 * 1000)
#define AGAIN_MS        1000 /* retention had more to delete, or cordond just started */
#define CANCEL_AGAIN_MS 5000 /* a cancel's record or row still cannot be written */

struct opts {
        const char *config;
        const char *socket;
        const char *state_dir;
        const char *profiles_dir;
};

static void help(void)
{
        printf("Usage: cordond [OPTIONS]\n"
               "\n"
               "The cordon supervisor: runs sandboxed jobs for clients of its unix socket\n"
               "(docs/api.md, docs/operations.md). Needs root.\n"
               "\n"
               "  --config FILE        configuration (default " CD_DEFAULT_CONFIG ", optional)\n"
               "  --socket PATH        listen here (overrides the configuration)\n"
               "  --state-dir DIR      jobs, database and audit log (overrides it)\n"
               "  --profiles-dir DIR   profiles (overrides it)\n"
               "  --log-level LEVEL    error, warn, info (default) or debug\n"
               "  --version            print the version\n"
               "\n"
               "Signals: SIGHUP reloads the profiles; SIGTERM stops taking jobs, lets running\n"
               "ones finish within shutdown_grace, then exits.\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { "config", required_argument, NULL, 'c' },
                { "socket", required_argument, NULL, 's' },
                { "state-dir", required_argument, NULL, 'd' },
                { "profiles-dir", required_argument, NULL, 'p' },
                { "log-level", required_argument, NULL, 'l' },
                {},
        };
        enum cd_log_level level;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case 'V':
                        printf("cordond %s\n", CORDON_VERSION);
                        return 1;
                case 'c':
                        o->config = optarg;
                        break;
                case 's':
                        o->socket = optarg;
                        break;
                case 'd':
                        o->state_dir = optarg;
                        break;
                case 'p':
                        o->profiles_dir = optarg;
                        break;
                case 'l':
                        if (cd_log_level_from_string(optarg, &level) < 0) {
                                fprintf(stderr, "cordond: --log-level: expected error, warn, info "
                                                "or debug\n");
                                return -EINVAL;
                        }
                        cd_log_set_level(level);
                        break;
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "cordond: unexpected argument (see --help)\n");
                return -EINVAL;
        }
        return 0;
}

/*
 * A path flag replaces its config key, made absolute from the directory
 * cordond starts in (a relative --state-dir was taken as it was before, and
 * every submission then failed: "input paths must be absolute"). Unlike
 * the keys, which must be clean, a flag may hold ".." as scripts build
 * them ("$here/../../profiles"), as cordon run's flags do.
 */
static int path_flag(char **dst, const char *value, const char *flag, struct cd_err *err)
{
        cleanup_free char *cwd = NULL;
        char *abs = NULL;

        if (!value)
                return 0;
        if (value[0] == '\0')
                return cd_err_set(err, EINVAL, "%s: expected a path", flag);
        if (value[0] != '/') {
                cwd = get_current_dir_name();
                if (!cwd)
                        return cd_err_errno(err, "%s: the current directory", flag);
        }
        if (asprintf(&abs, "%s%s%s", cwd ? cwd : "", cwd ? "/" : "", value) < 0)
                return cd_err_set(err, ENOMEM, "out of memory");
        free(*dst);
        *dst = abs;
        return 0;
}

static int load_config(const struct opts *o, struct cd_config *cfg, struct cd_err *err)
{
        int r = cd_config_load(o->config, cfg, err);

        if (r == 0)
                r = path_flag(&cfg->socket_path, o->socket, "--socket", err);
        if (r == 0)
                r = path_flag(&cfg->state_dir, o->state_dir, "--state-dir", err);
        if (r == 0)
                r = path_flag(&cfg->profiles_dir, o->profiles_dir, "--profiles-dir", err);
        return r;
}

/*
 * Not dumpable (no core, no ptrace by the uid's other processes), and a
 * mount namespace of our own, made before any thread: nothing cordond or
 * its sandboxes mount is seen on the host.
 */
static int isolate_self(struct cd_err *err)
{
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return cd_err_errno(err, "prctl(PR_SET_DUMPABLE)");
        if (unshare(CLONE_NEWNS) < 0)
                return cd_err_errno(err, "unshare a private mount namespace");
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return cd_err_errno(err, "make the mount namespace private");
        return 0;
}

/* SIGTERM, SIGINT and SIGHUP arrive on a signalfd; SIGPIPE is ignored (a
 * client that goes away is an EPIPE, not a death), and SIGXFSZ too (a file
 * size limit, LimitFSIZE=, is an EFBIG that the audit log's append and the
 * artifacts' copies undo, not a death in the middle of a record). Before
 * any thread, so that every thread inherits the mask. */
static int signals(struct cd_err *err)
{
        sigset_t set;
        int fd;

        if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
                return cd_err_errno(err, "ignore SIGPIPE");
        if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
                return cd_err_errno(err, "ignore SIGXFSZ");
        (void) sigemptyset(&set);
        (void) sigaddset(&set, SIGTERM);
        (void) sigaddset(&set, SIGINT);
        (void) sigaddset(&set, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
                return cd_err_errno(err, "block signals");
        fd = signalfd(-1, &set, SFD_CLOEXEC);
        if (fd < 0)
                return cd_err_errno(err, "signalfd");
        return fd;
}

/* Serve until SIGTERM or SIGINT; SIGHUP reloads; every 5 s while some
 * are left, cancels left half done and deleted jobs' files that would not
 * go; once a minute, retention (sooner
 * while a backlog is left, and once just after the start's sweep, which
 * stops on its time budget too). */
static void serve(struct cd_service *svc, int sig_fd)
{
        uint64_t next_janitor = cd_now_ms() + AGAIN_MS;

        for (;;) {
                struct pollfd p = { .fd = sig_fd, .events = POLLIN };
                struct signalfd_siginfo si;
                struct cd_err err = { 0 };
                uint64_t now = cd_now_ms();
                uint64_t wait = now >= next_janitor ? 0 : next_janitor - now;
                int r = poll(&p, 1, (int) (wait < CANCEL_AGAIN_MS ? wait : CANCEL_AGAIN_MS));

                if (r == 0) {
                        if (atomic_load(&svc->cancels_pending))
                                (void) cd_service_finish_cancels(svc);
                        if (atomic_load(&svc->removals_pending))
                                (void) cd_service_retry_removals(svc);
                        if (cd_now_ms() >= next_janitor)
                                next_janitor = cd_now_ms() +
                                               (cd_service_expire(svc) ? AGAIN_MS : JANITOR_MS);
                        continue;
                }
                if (r < 0 || read(sig_fd, &si, sizeof(si)) != sizeof(si))
                        continue; /* EINTR */
                if (si.ssi_signo != SIGHUP)
                        return;
                if (cd_service_load_profiles(svc, &err) < 0) {
                        cd_log_err(CD_LOG_ERROR, NULL, &err);
                        cd_log_warn(NULL, "msg=\"profiles not reloaded; the old set stays\"");
                } else {
                        cd_log_info(NULL, "msg=\"profiles reloaded\" count=%zu", svc->profiles.n);
                }
        }
}

int main(int argc, char **argv)
{
        struct opts o = { 0 };
        struct cd_config cfg = { 0 };
        struct cd_daemon d = { 0 };
        struct cd_err err = { 0 };
        cleanup_close int sig_fd = -1;
        int r;

        /* One malloc arena for every thread. A process forked from a worker
         * thread (the artifact sniffer) would otherwise grow that thread's
         * arena page by page with mprotect(2): ~16 000 calls to load
         * libmagic's database, tens of milliseconds per job (measured). */
        if (mallopt(M_ARENA_MAX, 1) != 1)
                cd_log_warn(NULL, "msg=\"mallopt(M_ARENA_MAX) failed, continuing\"");
        r = parse_args(argc, argv, &o);
        if (r != 0)
                return r > 0 ? 0 : 64;
        if (load_config(&o, &cfg, &err) < 0) {
                fprintf(stderr, "cordond: %s\n", err.msg);
                cd_config_clear(&cfg);
                return 64;
        }
        r = geteuid() == 0 ? 0 : cd_err_set(&err, EPERM, "cordond must run as root");
        if (r == 0)
                r = sig_fd = signals(&err);
        if (r >= 0)
                r = isolate_self(&err);
        if (r >= 0)
                r = cd_daemon_start(&d, &cfg, &err);
        if (r < 0) {
                cd_log_err(CD_LOG_ERROR, NULL, &err);
                cd_daemon_stop(&d);
                cd_config_clear(&cfg);
                return 1;
        }
        cd_log_info(NULL, "msg=\"cordond ready\" version=%s cgroup=%s slots=%u", CORDON_VERSION,
                    d.svc.cgroup_mode, cfg.slots);
        serve(&d.svc, sig_fd);
        cd_log_info(NULL, "msg=\"stopping\" grace_ms=%llu",
                    (unsigned long long) cfg.shutdown_grace_ms);
        cd_daemon_stop(&d);
        cd_config_clear(&cfg);
        return 0;
}
