/* SPDX-License-Identifier: MIT */
/*
 * The sandbox child after clone3(): steps 3 to 5 of the launch sequence
 * (docs/architecture.md). It runs in a copy of a possibly multi-threaded
 * supervisor, so it never allocates, never uses stdio and never logs; every
 * failure is reported whole through the status pipe and ends the child.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/util.h"
#include "sandbox-internal.h"

#define MAX_KEEP_FDS 64

static void report(int fd, uint32_t kind, int status, const struct cd_err *err)
{
        struct cd_child_msg m = { .kind = kind, .status = status };

        if (err)
                m.err = *err;
        /* Nothing to do if this fails: the supervisor sees the child die. */
        (void) cd_write_all(fd, &m, sizeof(m));
}

static int wait_go(int fd, char expect, struct cd_err *err)
{
        char c;
        int r = cd_read_exact(fd, &c, 1);

        if (r == 0)
                return cd_err_set(err, EPIPE, "sync: the supervisor went away");
        if (r < 0)
                return cd_err_neg(err, r, "sync: read");
        if (c != expect)
                return cd_err_set(err, EPROTO, "sync: unexpected message");
        return 0;
}

static void sort_fds(int *fds, size_t n)
{
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
                        int t = fds[j];

                        fds[j] = fds[j - 1];
                        fds[j - 1] = t;
                }
}

/* Close every fd but @keep. The child inherits all of the supervisor's fds
 * (it never executes, so O_CLOEXEC does not help): another job's pipes or
 * the API socket must not live on in this sandbox's pid 1. */
static int close_all_except(int *keep, size_t n, struct cd_err *err)
{
        unsigned int from = 0;

        sort_fds(keep, n);
        for (size_t i = 0; i <= n; i++) {
                unsigned int to = i < n ? (unsigned int) keep[i] : ~0U;

                if (i < n && keep[i] < 0)
                        continue;
                if (to > from && close_range(from, to - 1, 0) < 0)
                        return cd_err_errno(err, "close_range");
                if (i < n)
                        from = (unsigned int) keep[i] + 1;
        }
        return 0;
}

static int close_inherited(const struct cd_sandbox *sb, struct cd_err *err)
{
        int keep[MAX_KEEP_FDS];
        size_t n = 0;
        const int fixed[] = { sb->root_fd, sb->work_fd, sb->out_fd,   sb->tmp_fd,   sb->shm_fd,
                              sb->go_fd,   sb->msg_fd,  sb->stdio[0], sb->stdio[1], sb->stdio[2] };

        if (sb->n_trees + ELEMENTSOF(fixed) > MAX_KEEP_FDS)
                return cd_err_set(err, E2BIG, "close fds: too many mounts");
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++)
                keep[n++] = fixed[i];
        for (size_t i = 0; i < sb->n_trees; i++)
                keep[n++] = sb->trees[i].fd;
        return close_all_except(keep, n, err);
}

/* pid 1 must be neither traceable nor readable by the job, and must die
 * with its supervisor. The kernel clears the parent-death signal on every
 * credential change (commit_creds()), so this runs after the last one. */
static int guard_init(const struct cd_sandbox *sb, struct cd_err *err)
{
        struct pollfd p = { .fd = sb->msg_fd, .events = POLLOUT };

        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return cd_err_errno(err, "init: set non-dumpable");
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                return cd_err_errno(err, "init: set parent-death signal");
        /* If the supervisor died before that, the status pipe has no reader. */
        if (poll(&p, 1, 0) < 0)
                return cd_err_errno(err, "init: poll status pipe");
        if (p.revents & POLLERR)
                return cd_err_set(err, EPIPE, "init: the supervisor went away");
        if (cd_fault("init"))
                return cd_err_set(err, CD_E_FAULT, "init: injected fault");
        return 0;
}

/* Steps 3 and the first half of 4: the sandbox, built from what the parent prepared. */
static int child_setup(const struct cd_sandbox *sb, struct cd_err *err)
{
        int r;

        r = close_inherited(sb, err);
        if (r < 0)
                return r;
        r = wait_go(sb->go_fd, 'm', err); /* uid_map and gid_map written */
        if (r < 0)
                return r;
        r = cd_creds_setup_child(sb->plan, err);
        if (r < 0)
                return r;
        r = cd_mount_setup_child(sb, err);
        if (r < 0)
                return r;
        r = cd_uts_setup_child(sb->plan, err);
        if (r < 0)
                return r;
        r = cd_caps_drop_child(sb->nocaps, err);
        if (r < 0)
                return r;
        return guard_init(sb, err);
}

static int setup_stdio(const struct cd_sandbox *sb, struct cd_err *err)
{
        for (int i = 0; i < 3; i++) {
                /* The parent hands over pipes numbered 3 and up, so no dup3 clobbers another. */
                if (sb->stdio[i] < 3)
                        return cd_err_set(err, EBADF, "stdio: pipe fd below 3");
                if (dup3(sb->stdio[i], i, 0) < 0)
                        return cd_err_errno(err, "stdio: dup3");
        }
        /* A new session: the job never has a controlling terminal (TIOCSTI, CVE-2017-5226). */
        if (setsid() < 0)
                return cd_err_errno(err, "stdio: setsid");
        return 0;
}

static int close_fds_except(int fd, struct cd_err *err)
{
        int keep[] = { 0, 1, 2, fd };

        return close_all_except(keep, ELEMENTSOF(keep), err);
}

static int reset_signals(struct cd_err *err)
{
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t none;

        for (int sig = 1; sig < NSIG; sig++) {
                if (sig == SIGKILL || sig == SIGSTOP)
                        continue;
                /* glibc reserves two real-time signals and refuses them with EINVAL. */
                if (sigaction(sig, &sa, NULL) < 0 && errno != EINVAL)
                        return cd_err_errno(err, "signals: reset %d", sig);
        }
        if (sigemptyset(&none) < 0 || sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                return cd_err_errno(err, "signals: unblock");
        return 0;
}

static int no_new_privs(struct cd_err *err)
{
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return cd_err_errno(err, "no_new_privs");
        return 0;
}

/* Step 5: the payload's own restrictions, the last of them seccomp. */
static int payload_setup(const struct cd_sandbox *sb, int exec_fd, struct cd_err *err)
{
        int r;

        r = setup_stdio(sb, err);
        if (r < 0)
                return r;
        r = close_fds_except(exec_fd, err);
        if (r < 0)
                return r;
        r = reset_signals(err);
        if (r < 0)
                return r;
        r = cd_rlimit_setup_child(sb->plan, err);
        if (r < 0)
                return r;
        r = no_new_privs(err);
        if (r < 0)
                return r;
        r = cd_landlock_apply_child(sb->plan, sb->landlock_abi, err);
        if (r < 0)
                return r;
        return cd_seccomp_apply_child(sb->seccomp, err);
}

static __attribute__((noreturn)) void run_payload(const struct cd_sandbox *sb, int exec_fd)
{
        struct cd_err err = { 0 };

        if (payload_setup(sb, exec_fd, &err) < 0) {
                report(exec_fd, CD_MSG_SETUP_FAILED, 0, &err);
                _exit(1);
        }
        (void) cd_exec_child(sb->plan, &err);
        report(exec_fd, CD_MSG_EXEC_FAILED, err.code, &err);
        _exit(err.code == ENOENT ? 127 : 126);
}

/* The payload's exec pipe closes on a successful execve (O_CLOEXEC) or
 * carries the reason it failed; pass either on to the supervisor. Pid 1
 * resumes only once the payload has exec'd or exited (CLONE_VFORK), so
 * the pipe holds the whole reason or nothing. A read that fails all the
 * same leaves it unknown whether the payload runs as set up: the job ends
 * here (pid 1's exit kills every process of its namespace), setup_error. */
static void forward_exec_status(int msg_fd, int exec_fd)
{
        struct cd_err err = { 0 };
        struct cd_child_msg m;
        int r;

        if (cd_fault("exec_status"))
                r = cd_err_set(&err, CD_E_FAULT, "exec_status: injected fault");
        else if ((r = cd_read_exact(exec_fd, &m, sizeof(m))) < 0)
                (void) cd_err_neg(&err, r, "init: read the payload's exec status");
        if (r < 0) {
                report(msg_fd, CD_MSG_SETUP_FAILED, 0, &err);
                _exit(1);
        }
        if (r == 0)
                report(msg_fd, CD_MSG_STARTED, 0, NULL);
        else
                (void) cd_write_all(msg_fd, &m, sizeof(m));
        (void) cd_close(exec_fd);
}

/* Reap every child; forward every other signal to the payload. Returns the
 * payload's wait status. Orphans of the job are reparented here and reaped. */
static int reap(pid_t payload, const sigset_t *all)
{
        for (;;) {
                siginfo_t si;
                int sig = sigwaitinfo(all, &si);

                if (sig < 0)
                        continue; /* EINTR only: the set is valid */
                if (sig != SIGCHLD) {
                        (void) kill(payload, sig);
                        continue;
                }
                for (;;) {
                        int status;
                        pid_t p = waitpid(-1, &status, WNOHANG);

                        if (p <= 0)
                                break;
                        if (p == payload)
                                return status;
                }
        }
}

/* pid 1 closed fds 0-2 (it must not hold the caller's terminal), so a new
 * pipe would take them; the payload's dup3() onto 0-2 would then clobber it. */
static int pipe_above_stdio(int p[2], struct cd_err *err)
{
        if (pipe2(p, O_CLOEXEC) < 0)
                return cd_err_errno(err, "init: exec pipe");
        for (int i = 0; i < 2; i++)
                if (p[i] < 3) {
                        int hi = fcntl(p[i], F_DUPFD_CLOEXEC, 3);

                        if (hi < 0)
                                return cd_err_errno(err, "init: exec pipe");
                        (void) cd_close(p[i]);
                        p[i] = hi;
                }
        return 0;
}

/* The payload's stack until its execve: it shares pid 1's memory until
 * then (CLONE_VM), while pid 1 waits (CLONE_VFORK). */
static char payload_stack[128 * 1024] __attribute__((aligned(64)));

struct payload_arg {
        const struct cd_sandbox *sb;
        int exec_fd;  /* the payload's end of the exec pipe */
        int other_fd; /* pid 1's end */
};

static int payload_main(void *data)
{
        const struct payload_arg *a = data;

        (void) cd_close(a->other_fd);
        run_payload(a->sb, a->exec_fd);
}

/* Step 4: pid 1. Starts the payload as posix_spawn(3) does, without
 * glibc's fork(): its atfork handlers take locks another supervisor
 * thread may have held at clone, and copying pid 1's page tables (all of
 * the supervisor's) for a process that execs at once costs more than the
 * rest of this step. Nothing but this file's own code runs in the shared
 * memory: the job's first instruction comes after execve. */
static __attribute__((noreturn)) void run_init(const struct cd_sandbox *sb)
{
        struct cd_err err = { 0 };
        struct payload_arg arg;
        int exec_pipe[2];
        sigset_t all;
        pid_t payload;
        int status;

        if (sigfillset(&all) < 0 || sigprocmask(SIG_SETMASK, &all, NULL) < 0) {
                (void) cd_err_errno(&err, "init: block signals");
                goto fail;
        }
        if (pipe_above_stdio(exec_pipe, &err) < 0)
                goto fail;
        arg = (struct payload_arg){ .sb = sb, .exec_fd = exec_pipe[1], .other_fd = exec_pipe[0] };
        payload = clone(payload_main, payload_stack + sizeof(payload_stack),
                        CLONE_VM | CLONE_VFORK | SIGCHLD, &arg);
        if (payload < 0) {
                (void) cd_err_errno(&err, "init: start payload");
                goto fail;
        }
        (void) cd_close(exec_pipe[1]);
        for (int i = 0; i < 3; i++)
                (void) cd_close(sb->stdio[i]);
        forward_exec_status(sb->msg_fd, exec_pipe[0]);
        status = reap(payload, &all);
        report(sb->msg_fd, CD_MSG_EXITED, status, NULL);
        /* Tests: pid 1 stuck after the payload's end (every signal is
         * blocked; only a SIGKILL ends it). */
        while (cd_fault("init_linger"))
                (void) pause();
        _exit(0);
fail:
        report(sb->msg_fd, CD_MSG_SETUP_FAILED, 0, &err);
        _exit(1);
}

void cd_sandbox_child(const struct cd_sandbox *sb)
{
        struct cd_err err = { 0 };

        if (child_setup(sb, &err) < 0) {
                report(sb->msg_fd, CD_MSG_SETUP_FAILED, 0, &err);
                _exit(1);
        }
        /* The supervisor records that the job starts (audit log) while the
         * sandbox was being built: nothing of the job runs before 'g'. */
        if (wait_go(sb->go_fd, 'g', &err) < 0) {
                report(sb->msg_fd, CD_MSG_SETUP_FAILED, 0, &err);
                _exit(1);
        }
        run_init(sb);
}
