/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/util.h"
#include "launcher-internal.h"

/* The network namespace is the cloning thread's (sandbox/net.c). */
#define SANDBOX_NAMESPACES                                                                         \
        (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

void cd_child_init(struct cd_child *c)
{
        *c = (struct cd_child){ .pid = 0, .pidfd = -1, .go_fd = -1, .msg_fd = -1 };
}

/*
 * A new user namespace is owned by the euid of the task that creates it,
 * and the kernel charges a task's per-user counts (inotify instances and
 * watches, queued signals, POSIX message queue bytes: "ucounts") to its
 * uid and then, level by level, to each namespace's owner in the parent
 * (kernel/ucount.c). Owned by root, every job would spend host root's
 * share: 128 inotify instances in a job and root's inotify_init1() fails
 * on the host. So this thread takes the job's host uid as its euid for
 * the clone3 alone. SECBIT_NO_SETUID_FIXUP keeps its capabilities (it
 * still writes cgroups and clones into namespaces), and raw syscalls
 * change this thread only (glibc's setresuid() would change every thread
 * of cordond). The real and saved uids stay 0, so going back needs no
 * privilege. An euid change also resets the process's dumpable flag
 * (commit_creds()); it is put back as it was.
 */
struct owner_saved {
        int secbits;
        int dumpable;
};

static int owner_enter(uid_t owner, struct owner_saved *ret, struct cd_err *err)
{
        int bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
        int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);

        if (bits < 0 || dumpable < 0)
                return cd_err_errno(err, "clone: get securebits and dumpable flag");
        if (prctl(PR_SET_SECUREBITS, bits | SECBIT_NO_SETUID_FIXUP, 0, 0, 0) < 0)
                return cd_err_errno(err, "clone: set securebits");
        if (syscall(SYS_setresuid, -1, owner, -1) < 0) {
                int r = cd_err_errno(err, "clone: take uid %u for the user namespace", owner);

                (void) prctl(PR_SET_SECUREBITS, bits, 0, 0, 0);
                return r;
        }
        *ret = (struct owner_saved){ .secbits = bits, .dumpable = dumpable };
        return 0;
}

static int owner_leave(const struct owner_saved *saved, struct cd_err *err)
{
        if (syscall(SYS_setresuid, -1, 0, -1) < 0)
                return cd_err_errno(err, "clone: return to uid 0");
        if (prctl(PR_SET_SECUREBITS, saved->secbits, 0, 0, 0) < 0)
                return cd_err_errno(err, "clone: restore securebits");
        /* PR_SET_DUMPABLE takes 0 or 1 only; 2 (fs.suid_dumpable) stays as the kernel left it. */
        if (saved->dumpable <= 1 && prctl(PR_SET_DUMPABLE, saved->dumpable, 0, 0, 0) < 0)
                return cd_err_errno(err, "clone: restore dumpable flag");
        return 0;
}

static int clone_child(struct cd_sandbox *sb, int cgroup_fd, uid_t owner, struct cd_child *ret,
                       struct cd_err *err)
{
        int go[2] = { -1, -1 }, msg[2] = { -1, -1 };
        struct clone_args args = {
                .flags = SANDBOX_NAMESPACES | CLONE_PIDFD,
                .exit_signal = SIGCHLD,
        };
        struct cd_err leave_err;
        struct owner_saved saved = { 0 };
        int pidfd = -1, r;
        pid_t pid;

        if (cd_fault("clone"))
                return cd_err_set(err, CD_E_FAULT, "clone: injected fault");
        if (pipe2(go, O_CLOEXEC) < 0)
                return cd_err_errno(err, "clone: sync pipe");
        if (pipe2(msg, O_CLOEXEC) < 0) {
                (void) cd_close(go[0]);
                (void) cd_close(go[1]);
                return cd_err_errno(err, "clone: status pipe");
        }
        sb->go_fd = go[0];
        sb->msg_fd = msg[1];
        args.pidfd = (uint64_t) (uintptr_t) &pidfd;
        if (cgroup_fd >= 0) {
                /* Born in its cgroup: no migration on the launch path. */
                args.flags |= CLONE_INTO_CGROUP;
                args.cgroup = (uint64_t) cgroup_fd;
        }
        r = owner_enter(owner, &saved, err);
        if (r < 0) {
                (void) cd_close(go[1]);
                (void) cd_close(msg[0]);
                return r;
        }
        pid = (pid_t) syscall(SYS_clone3, &args, sizeof(args));
        if (pid == 0)
                cd_sandbox_child(sb);
        if (pid < 0) {
                r = cd_err_errno(err, "clone: clone3");
                (void) owner_leave(&saved, &leave_err);
                (void) cd_close(go[1]);
                (void) cd_close(msg[0]);
                return r;
        }
        /* Believed unreachable (the real uid is 0): the launch fails and
         * stop_job() kills the child. */
        r = owner_leave(&saved, err);
        /* The child's ends live on in the child only. */
        sb->go_fd = cd_close(sb->go_fd);
        sb->msg_fd = cd_close(sb->msg_fd);
        for (int i = 0; i < 3; i++)
                sb->stdio[i] = cd_close(sb->stdio[i]);
        *ret = (struct cd_child){ .pid = pid, .pidfd = pidfd, .go_fd = go[1], .msg_fd = msg[0] };
        return r;
}

/* The child is born in the job's cgroup and network namespace: the calling
 * thread steps into both for the clone3 and back out. */
int cd_clone_sandbox(struct cd_sandbox *sb, const struct cd_cgroup *cg, uid_t owner, int netns_fd,
                     struct cd_child *ret, struct cd_err *err)
{
        struct cd_err leave_err;
        int own_netns = -1;
        int r, rl;

        r = cd_netns_enter(netns_fd, &own_netns, err);
        if (r < 0)
                return r;
        r = cd_cgroup_enter(cg, err);
        if (r == 0)
                r = clone_child(sb, cd_cgroup_clone_fd(cg), owner, ret, err);
        if (cd_fault("clone_hold")) /* tests: while this thread is in the job's cgroup */
                cd_fault_wait();
        rl = cd_cgroup_leave(cg, r < 0 ? &leave_err : err);
        if (r == 0)
                r = rl;
        rl = cd_netns_leave(own_netns, r < 0 ? &leave_err : err);
        return r < 0 ? r : rl;
}

int cd_clone_release(struct cd_child *c, char step, struct cd_err *err)
{
        int r = cd_write_all(c->go_fd, &step, 1);

        /* EPIPE: the child died; its reason is on the status pipe. */
        if (r < 0 && r != -EPIPE)
                return cd_err_neg(err, r, "clone: release child");
        return 0;
}

int cd_clone_try_reap(struct cd_child *c)
{
        siginfo_t si = { 0 };

        if (c->reaped)
                return 1;
        if (waitid(P_PIDFD, (id_t) c->pidfd, &si, WEXITED | WNOHANG) < 0)
                return -errno;
        if (si.si_pid == 0)
                return 0;
        c->exit_info = si;
        c->reaped = true;
        return 1;
}

void cd_clone_kill(struct cd_child *c)
{
        if (c->pid > 0 && !c->reaped) {
                siginfo_t si;

                /* Killing pid 1 of a pid namespace kills every task in it (pid_namespaces(7)). */
                (void) syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
                while (waitid(P_PIDFD, (id_t) c->pidfd, &si, WEXITED) < 0 && errno == EINTR)
                        ;
                c->reaped = true;
        }
}

void cd_clone_destroy(struct cd_child *c)
{
        cd_clone_kill(c);
        c->pidfd = cd_close(c->pidfd);
        c->go_fd = cd_close(c->go_fd);
        c->msg_fd = cd_close(c->msg_fd);
}
