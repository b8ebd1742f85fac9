/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
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

static int clone_child(struct cd_sandbox *sb, int cgroup_fd, struct cd_child *ret,
                       struct cd_err *err)
{
        int go[2] = { -1, -1 }, msg[2] = { -1, -1 };
        struct clone_args args = {
                .flags = SANDBOX_NAMESPACES | CLONE_PIDFD,
                .exit_signal = SIGCHLD,
        };
        int pidfd = -1;
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
        pid = (pid_t) syscall(SYS_clone3, &args, sizeof(args));
        if (pid == 0)
                cd_sandbox_child(sb);
        if (pid < 0) {
                int r = cd_err_errno(err, "clone: clone3");

                (void) cd_close(go[1]);
                (void) cd_close(msg[0]);
                return r;
        }
        /* The child's ends live on in the child only. */
        sb->go_fd = cd_close(sb->go_fd);
        sb->msg_fd = cd_close(sb->msg_fd);
        for (int i = 0; i < 3; i++)
                sb->stdio[i] = cd_close(sb->stdio[i]);
        *ret = (struct cd_child){ .pid = pid, .pidfd = pidfd, .go_fd = go[1], .msg_fd = msg[0] };
        return 0;
}

/* The child is born in the job's cgroup and in a new network namespace: the
 * calling thread steps into both for the clone3 and back out. */
int cd_clone_sandbox(struct cd_sandbox *sb, const struct cd_cgroup *cg, struct cd_child *ret,
                     struct cd_err *err)
{
        struct cd_err leave_err;
        int own_netns = -1;
        int r, rl;

        r = cd_netns_enter_new(&own_netns, err);
        if (r < 0)
                return r;
        r = cd_cgroup_enter(cg, err);
        if (r == 0)
                r = clone_child(sb, cd_cgroup_clone_fd(cg), ret, err);
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
