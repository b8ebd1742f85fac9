/* SPDX-License-Identifier: MIT */
/*
 * Step 6: the supervisor waits on the sandbox's pid 1 (its pidfd) while it
 * relays stdio and watches the wall deadline, CPU time and cancellation.
 * On any limit it sends SIGTERM to pid 1 (which forwards it to the job)
 * and, after the grace period, SIGKILL: killing a pid namespace's init
 * kills every task in it, stopped or mid-fork ones included
 * (pid_namespaces(7)). Then it reads usage and decides the verdict.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cordon/fault.h"
#include "cordon/log.h"
#include "cordon/util.h"
#include "launcher-internal.h"

#define NEVER       UINT64_MAX
#define CPU_POLL_MS 50
#define OOM_POLL_MS 50
#define NET_POLL_MS 100
/* Unaccepted connections a job may always have, whatever its memory limit. */
#define UNACCEPTED_MIN 4
/* TCP sockets a job may hold: a 32nd of the host's default
 * net.ipv4.tcp_max_orphans (131072), which its closed connections count
 * against; past it every host connection closed is reset, what it had
 * not yet sent lost. */
#define TCP_SOCKETS_MAX 4096
/* From the payload's end (or pid 1's SIGKILL) to pid 1 reaped: a few ms,
 * unless something holds it (see check_reap()). */
#define REAP_BOUND_MS 5000
#define MAX_POLL      8

struct sup {
        struct cd_job *job;
        enum cd_verdict stop_reason; /* _CD_VERDICT_MAX while none */
        uint64_t wall_deadline_ms;
        uint64_t kill_at_ms;
        uint64_t next_cpu_check_ms;
        uint64_t next_oom_check_ms; /* NEVER: the kernel ends the job at an OOM kill (v2) */
        uint64_t next_net_check_ms;
        uint64_t reap_by_ms; /* NEVER until the payload exited or pid 1 was killed */
        bool killed;
        bool msg_eof;
        bool started, exited, setup_failed, exec_failed;
        int payload_status;
        struct cd_err child_err;
};

static void signal_init(struct sup *s, int sig)
{
        /* ESRCH once pid 1 has exited is fine: the job is over. */
        (void) syscall(SYS_pidfd_send_signal, s->job->child.pidfd, sig, NULL, 0);
}

static void reap_soon(struct sup *s)
{
        if (s->reap_by_ms == NEVER)
                s->reap_by_ms = cd_now_ms() + REAP_BOUND_MS;
}

/*
 * The job's end has begun. Every task gets its SIGKILL at once from the
 * cgroup, and the job's CPU quota is lifted (cd_cgroup_signal_kill()):
 * whatever the job holds is freed by the kernel in the dying tasks, and
 * under the quota that took its share of the time (a 0.01 CPU job holding
 * 2 GiB died 15 s past its wall limit). pid 1's own exit would kill them
 * too, but pid 1 waits its turn under the quota, behind every task of the
 * job. Should the kill fail, that is how they die, slowly: said, and
 * check_reap() tries again after REAP_BOUND_MS.
 */
static void end_begins(struct sup *s)
{
        struct cd_err e = { 0 };

        if (cd_cgroup_signal_kill(&s->job->cg, &e) < 0) {
                (void) cd_err_prefix(&e, "the job's end: its tasks die under its CPU quota");
                cd_log_err(CD_LOG_WARN, NULL, &e);
        }
        reap_soon(s);
}

static void kill_all(struct sup *s)
{
        if (s->killed)
                return;
        s->killed = true;
        signal_init(s, SIGKILL);
        end_begins(s);
}

/* Stop the job for @reason: SIGTERM now, SIGKILL after the grace period.
 * The first reason wins. */
static void stop(struct sup *s, enum cd_verdict reason)
{
        uint64_t grace = s->job->plan->limits.grace_ms;

        if (s->stop_reason != _CD_VERDICT_MAX)
                return;
        s->stop_reason = reason;
        /* A job held back never ran: nothing of it needs the grace. */
        if (grace == 0 || s->job->held) {
                kill_all(s);
                return;
        }
        signal_init(s, SIGTERM);
        s->kill_at_ms = cd_now_ms() + grace;
}

static void handle_msg(struct sup *s, const struct cd_child_msg *m)
{
        switch (m->kind) {
        case CD_MSG_SETUP_FAILED:
                s->setup_failed = true;
                s->child_err = m->err;
                break;
        case CD_MSG_STARTED:
                s->started = true;
                /* Off the path after the job, while it runs. */
                cd_sandbox_drop_mounts(&s->job->sb);
                break;
        case CD_MSG_EXEC_FAILED:
                s->exec_failed = true;
                s->child_err = m->err;
                break;
        case CD_MSG_EXITED:
                s->exited = true;
                s->payload_status = m->status;
                /* pid 1 exits now and its exit kills what is left: the
                 * same end, made at once where something is left. */
                if (cd_cgroup_holds_only(&s->job->cg, s->job->child.pid))
                        reap_soon(s);
                else
                        end_begins(s);
                break;
        default:
                break; /* unreachable: pid 1 is our own code */
        }
        s->child_err.msg[sizeof(s->child_err.msg) - 1] = '\0';
}

static void read_msg(struct sup *s)
{
        struct cd_child_msg m;
        int r = cd_read_exact(s->job->child.msg_fd, &m, sizeof(m));

        if (r > 0)
                handle_msg(s, &m);
        else if (r != -EINTR && r != -EAGAIN)
                s->msg_eof = true;
}

/*
 * cgroup v1 has no memory.oom.group: an OOM kill takes one process, and a
 * job could go on forking processes for the OOM killer, each kill a line
 * in the host's kernel log with a process name of the job's choosing (a
 * review saw 70 a second). The first kill ends the job here at once, as
 * memory.oom.group does on v2: within OOM_POLL_MS, a few kills at most.
 */
static void check_oom(struct sup *s, uint64_t now)
{
        uint64_t kills;
        int r;

        if (now < s->next_oom_check_ms)
                return;
        s->next_oom_check_ms = now + OOM_POLL_MS;
        r = cd_cgroup_oom_kills(&s->job->cg, &kills);
        if (r < 0) /* v2 (the kernel does it), or a v1 without oom_kill: decide() judges */
                s->next_oom_check_ms = NEVER;
        else if (kills > 0) {
                if (s->stop_reason == _CD_VERDICT_MAX)
                        s->stop_reason = CD_VERDICT_OOM;
                kill_all(s);
        }
}

/*
 * pid 1 exits right after it reports the payload's end, and dies at once
 * of a SIGKILL; either way the kernel then kills what is left in its pid
 * namespace and pid 1 is reaped only once all of it is gone. Something
 * may hold it there (pid 1 itself stuck, or a task the host froze in a v1
 * freezer, where a SIGKILL waits for a thaw): after REAP_BOUND_MS it gets
 * a SIGKILL and the job's cgroup is killed (v1: frozen, killed, thawed),
 * once. Otherwise a cancel, the wall limit and cordond's shutdown would
 * wait on it for ever.
 */
static void check_reap(struct sup *s, uint64_t now)
{
        struct cd_err ignored;

        if (now < s->reap_by_ms)
                return;
        s->reap_by_ms = NEVER - 1; /* done: never again, and no timeout for it */
        s->killed = true;
        signal_init(s, SIGKILL);
        (void) cd_cgroup_kill(&s->job->cg, &ignored); /* the reap is what tells */
}

/*
 * Connections a listener of the job's has not accepted are charged to no
 * memory cgroup (cd_netns_unaccepted()): a job once held 1.3 GiB of the
 * host's TCP memory under a 256 MiB limit, and past net.ipv4.tcp_mem every
 * TCP socket on the host is refused memory. Each can hold up to
 * cd_netns_conn_bytes_max(): once that many could hold more than the job's
 * memory limit (and more than UNACCEPTED_MIN are queued), the job ends as
 * if it had gone over it: it may hold about twice its limit, as with v1's
 * TCP buffers. A listener's queue that its process accepts from (R's PSOCK
 * clusters, a Jupyter kernel) stays near empty. More than TCP_SOCKETS_MAX
 * TCP sockets, orphans included, end it the same way.
 */
static void check_tcp(struct sup *s, uint64_t now)
{
        uint64_t queued, each, sockets;
        int r;

        if (now < s->next_net_check_ms)
                return;
        s->next_net_check_ms = now + NET_POLL_MS;
        /* A read that fails: pid 1 on its way out; the job's end decides. */
        if (cd_netns_tcp_sockets(s->job->child.pid, &sockets) < 0 || sockets == 0)
                return;
        if (sockets <= TCP_SOCKETS_MAX) {
                r = cd_netns_unaccepted(s->job->child.pid, &queued);
                if ((r < 0 && r != -E2BIG) || (r == 0 && queued <= UNACCEPTED_MIN))
                        return;
                each = cd_netns_conn_bytes_max();
                if (r == 0 && (each == 0 || queued <= s->job->plan->limits.memory_max_bytes / each))
                        return;
        }
        if (s->stop_reason == _CD_VERDICT_MAX)
                s->stop_reason = CD_VERDICT_OOM;
        kill_all(s);
}

static void check_limits(struct sup *s)
{
        const struct cd_limits *l = &s->job->plan->limits;
        uint64_t now = cd_now_ms();
        uint64_t used_us;

        if (s->kill_at_ms != NEVER && now >= s->kill_at_ms)
                kill_all(s);
        check_reap(s, now);
        /* Once the payload has exited, pid 1 exits and the kernel kills
         * what is left: the time that takes is not the job's, and its CPU
         * time is judged by decide(). */
        if (s->exited)
                return;
        check_oom(s, now);
        check_tcp(s, now);
        if (now >= s->wall_deadline_ms)
                stop(s, CD_VERDICT_TIMEOUT);
        if (l->cpu_time_ms && now >= s->next_cpu_check_ms) {
                s->next_cpu_check_ms = now + CPU_POLL_MS;
                if (cd_cgroup_cpu_usage_us(&s->job->cg, &used_us) == 0 &&
                    used_us >= l->cpu_time_ms * 1000)
                        stop(s, CD_VERDICT_CPU_LIMIT);
        }
}

static int poll_timeout(const struct sup *s)
{
        uint64_t next = s->kill_at_ms;
        uint64_t now = cd_now_ms();

        /* Once the payload has exited, only a kill already due is waited
         * for (check_limits() stops no job then: no busy loop). */
        if (s->stop_reason == _CD_VERDICT_MAX && !s->exited) {
                if (s->wall_deadline_ms < next)
                        next = s->wall_deadline_ms;
                if (s->job->plan->limits.cpu_time_ms && s->next_cpu_check_ms < next)
                        next = s->next_cpu_check_ms;
                if (s->next_oom_check_ms < next)
                        next = s->next_oom_check_ms;
                if (s->next_net_check_ms < next)
                        next = s->next_net_check_ms;
        }
        if (s->killed)
                next = NEVER;
        if (s->reap_by_ms < next)
                next = s->reap_by_ms;
        if (next >= NEVER - 1)
                return -1;
        return next <= now ? 0 : (int) (next - now < 60000 ? next - now : 60000);
}

/* The shorter of two poll timeouts (-1: none). */
static int min_timeout(int a, int b)
{
        if (a < 0)
                return b;
        return b < 0 || a < b ? a : b;
}

static void drain_cancel(int fd)
{
        char buf[256]; /* room for a signalfd_siginfo or an eventfd counter */

        (void) !read(fd, buf, sizeof(buf));
}

static int wait_events(struct sup *s, struct cd_err *err)
{
        struct cd_job *job = s->job;
        struct pollfd p[MAX_POLL];
        size_t n = 0, first_relay;
        int cancel = -1, msg = -1;

        p[n++] = (struct pollfd){ .fd = job->child.pidfd, .events = POLLIN };
        if (!s->msg_eof) {
                msg = (int) n;
                p[n++] = (struct pollfd){ .fd = job->child.msg_fd, .events = POLLIN };
        }
        /* Once the payload has exited, a cancel is the collection's: left
         * unread (and unpolled, or poll(2) would return at once). */
        if (job->io->cancel_fd >= 0 && s->stop_reason == _CD_VERDICT_MAX && !s->exited) {
                cancel = (int) n;
                p[n++] = (struct pollfd){ .fd = job->io->cancel_fd, .events = POLLIN };
        }
        first_relay = n;
        n += cd_relay_poll(&job->relay, p + n, MAX_POLL - n);
        if (poll(p, n, min_timeout(poll_timeout(s), cd_relay_timeout_ms(&job->relay))) < 0) {
                if (errno == EINTR)
                        return 0;
                return cd_err_errno(err, "supervise: poll");
        }
        if (msg >= 0 && p[msg].revents)
                read_msg(s);
        /* The job's own end first: a cancel that comes with it, or after
         * the payload exited, does not change how the job ended; nor is it
         * read: it stays pending for the collection of /out, which it
         * stops (launcher/collect.c). */
        if (p[0].revents && cd_clone_try_reap(&job->child) < 0)
                return cd_err_errno(err, "supervise: waitid");
        if (cancel >= 0 && p[cancel].revents && !job->child.reaped && !s->exited) {
                drain_cancel(job->io->cancel_fd);
                stop(s, CD_VERDICT_CANCELLED);
        }
        cd_relay_step(&job->relay, p + first_relay, n - first_relay);
        return 0;
}

static enum cd_verdict decide(const struct sup *s, const struct cd_cgroup_usage *u, bool out_full)
{
        const struct cd_limits *l = &s->job->plan->limits;

        if (s->setup_failed)
                return CD_VERDICT_SETUP_ERROR;
        if (s->stop_reason != _CD_VERDICT_MAX)
                return s->stop_reason;
        /* Finished between two CPU checks but over the limit all the same
         * (the same comparison as check_limits()). */
        if (l->cpu_time_ms && u->user_us + u->system_us >= l->cpu_time_ms * 1000)
                return CD_VERDICT_CPU_LIMIT;
        if (u->oom_kills > 0)
                return CD_VERDICT_OOM;
        if (out_full)
                return CD_VERDICT_OUTPUT_LIMIT;
        if (s->exec_failed)
                return CD_VERDICT_FAILED;
        if (!s->exited || WIFSIGNALED(s->payload_status))
                return CD_VERDICT_SIGNALED;
        return WEXITSTATUS(s->payload_status) == 0 ? CD_VERDICT_OK : CD_VERDICT_FAILED;
}

/* /out filled to its last page: the job wrote more than it may (the tmpfs
 * is one page larger than the limit, see sandbox/mount.c). */
static bool out_full(const struct cd_job *job)
{
        struct statfs fs;

        if (job->sb.out_fd < 0 || fstatfs(job->sb.out_fd, &fs) < 0)
                return false;
        return fs.f_bfree == 0 || fs.f_ffree == 0;
}

static void fill_status(const struct sup *s, struct cd_result *ret)
{
        const siginfo_t *si = &s->job->child.exit_info;

        ret->exit_code = -1;
        ret->signal = 0;
        if (s->exited && WIFEXITED(s->payload_status))
                ret->exit_code = WEXITSTATUS(s->payload_status);
        else if (s->exited && WIFSIGNALED(s->payload_status))
                ret->signal = WTERMSIG(s->payload_status);
        else if (si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED)
                ret->signal = si->si_status; /* pid 1 itself was killed */
}

static int finish(struct sup *s, struct cd_result *ret, struct cd_err *err)
{
        struct cd_job *job = s->job;
        struct cd_cgroup_usage u;
        int r;

        cd_relay_drain(&job->relay);
        /* pid 1 is reaped, so every task of the namespace is gone: the pipe ends at EOF. */
        while (!s->msg_eof)
                read_msg(s);
        r = cd_cgroup_empty(&job->cg, err);
        if (r < 0)
                return r;
        r = cd_cgroup_usage(&job->cg, &u, err);
        if (r < 0)
                return r;
        fill_status(s, ret);
        ret->verdict = decide(s, &u, out_full(job));
        ret->exec_failed = s->exec_failed;
        ret->user_cpu_ms = u.user_us / 1000;
        ret->system_cpu_ms = u.system_us / 1000;
        ret->peak_memory_bytes = u.peak_memory_bytes;
        ret->oom_kills = u.oom_kills;
        ret->pids_limit_hits = u.pids_limit_hits;
        ret->stdout_bytes = job->relay.s[1].total;
        ret->stderr_bytes = job->relay.s[2].total;
        ret->stdout_truncated = job->relay.s[1].truncated;
        ret->stderr_truncated = job->relay.s[2].truncated;
        ret->output_errno =
                job->relay.s[1].dst_errno ? job->relay.s[1].dst_errno : job->relay.s[2].dst_errno;
        if (s->setup_failed || s->exec_failed)
                ret->error = s->child_err;
        return 0;
}

int cd_supervise(struct cd_job *job, struct cd_result *ret, struct cd_err *err)
{
        struct sup s = {
                .job = job,
                .stop_reason = _CD_VERDICT_MAX,
                .wall_deadline_ms = job->start_ms + job->plan->limits.wall_timeout_ms,
                .kill_at_ms = NEVER,
                .reap_by_ms = NEVER,
                .next_cpu_check_ms = cd_now_ms() + CPU_POLL_MS,
                .next_oom_check_ms = cd_now_ms() + OOM_POLL_MS,
                .next_net_check_ms = cd_now_ms() + NET_POLL_MS,
        };
        int r;

        /* A test's window (test builds only): the job runs, and may end,
         * before the supervisor first looks at it. */
        if (cd_fault("supervise_hold"))
                cd_fault_wait();
        while (!job->child.reaped) {
                r = wait_events(&s, err);
                if (r < 0) {
                        kill_all(&s);
                        return r;
                }
                if (!job->child.reaped)
                        check_limits(&s);
        }
        job->end_ms = cd_now_ms();
        return finish(&s, ret, err);
}
