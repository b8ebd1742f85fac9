/* SPDX-License-Identifier: MIT */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/capability.h>
#include <sys/types.h>

#include "cordon/err.h"
#include "cordon/plan.h"

/*
 * The sandbox is built in two halves. The parent (the supervisor) prepares
 * everything that needs allocation or host privileges before clone3():
 * detached mounts, the seccomp program, the capability set. The child only
 * executes that preparation: it never allocates, never uses stdio and never
 * logs; it reports through the status pipe with struct cd_child_msg.
 */

/* Status pipe messages, child to parent. Each is written whole (< PIPE_BUF). */
enum cd_child_msg_kind {
        CD_MSG_SETUP_FAILED = 1, /* err says which step failed; the job never ran */
        CD_MSG_STARTED,          /* the payload's execve() succeeded */
        CD_MSG_EXEC_FAILED,      /* the sandbox was complete but execve() failed (err) */
        CD_MSG_EXITED,           /* the payload ended; status is its wait status */
};

struct cd_child_msg {
        uint32_t kind;
        int32_t status;
        struct cd_err err;
};

/* A detached read-only mount tree (open_tree) and where it goes in the sandbox. */
struct cd_tree {
        int fd;
        char *target; /* relative to the sandbox root, no leading '/' */
};

/* The prebuilt seccomp-bpf programs (cd_seccomp_build); opaque. */
struct cd_seccomp;

/* Everything the child needs, prepared by the parent. All fds are O_CLOEXEC. */
struct cd_sandbox {
        const struct cd_plan *plan;
        int root_fd;           /* detached tmpfs: the new root, read-only */
        struct cd_tree *trees; /* host trees to attach below the root */
        size_t n_trees;
        int work_fd; /* detached tmpfs mounts, owned by the job's host uid */
        int out_fd;
        int tmp_fd;
        int shm_fd;
        int go_fd;    /* child reads 'm': the uid and gid maps are written */
        int msg_fd;   /* child writes struct cd_child_msg */
        int stdio[3]; /* the job's stdin, stdout, stderr */
        const struct cd_seccomp *seccomp;
        cap_t nocaps;     /* an empty capability set, for cap_set_proc() (borrowed) */
        int landlock_abi; /* 0: the kernel has no Landlock */
};

/* Initialise @sb with every fd at -1. */
void cd_sandbox_init(struct cd_sandbox *sb, const struct cd_plan *plan);

/* Close every fd in @sb and free what the parent allocated. Idempotent. Context: parent. */
void cd_sandbox_destroy(struct cd_sandbox *sb);

/*
 * Close the parent's copies of the mounts pid 1 has attached (the root, the
 * host trees, /work, /tmp, /dev/shm), once the job runs: the sandbox's
 * mount namespace holds them now. /out stays open, to be measured and
 * collected. Idempotent. Context: parent.
 */
void cd_sandbox_drop_mounts(struct cd_sandbox *sb);

/*
 * Parent side, before clone3: build the detached read-only root tmpfs with
 * its skeleton, generated /etc files, the filtered host /etc and /dev nodes,
 * and clone the host trees of plan->binds. Fills sb->root_fd and sb->trees.
 */
int cd_rootfs_build(struct cd_sandbox *sb, struct cd_err *err);

/*
 * Parent side, before clone3: create the job's scratch tmpfs mounts (/work,
 * /out, /tmp, /dev/shm), sized by the plan's limits, detached and owned by
 * @host_uid/@host_gid. The job's data lives only in them: they vanish with
 * the last fd and the sandbox's mount namespace.
 */
int cd_scratch_create(struct cd_sandbox *sb, uid_t host_uid, gid_t host_gid, struct cd_err *err);

/* What /out holds before it counts as full (output_limit): @limit in whole
 * pages, as tmpfs counts; its tmpfs is one page larger. */
uint64_t cd_out_capacity(uint64_t limit);

/*
 * Parent side, before clone3: copy the plan's inputs into /work, owned by
 * @uid/@gid; then make /work read-only if the plan says so. Symlinks and
 * special files inside an input directory fail the copy.
 */
int cd_inputs_copy(struct cd_sandbox *sb, uid_t uid, gid_t gid, struct cd_err *err);

/*
 * Parent side, after clone3: deny setgroups, then write uid_map and gid_map
 * of @pid: the plan's job uid/gid inside maps to @host_uid/@host_gid, and
 * nothing else is mapped.
 */
int cd_userns_setup_parent(const struct cd_plan *plan, pid_t pid, uid_t host_uid, gid_t host_gid,
                           struct cd_err *err);

/* The oom_score_adj every job runs with: the host OOM killer's first choice. */
#define CD_JOB_OOM_SCORE_ADJ "1000"

/* Parent side, after clone3: the child's oom_score_adj (inherited by the
 * job) to CD_JOB_OOM_SCORE_ADJ, whatever the supervisor's own. */
int cd_oom_setup_parent(pid_t pid, struct cd_err *err);

/*
 * Parent side: the job's network namespace, with only loopback, up (libnl).
 * Making one costs the kernel about half a millisecond, so a thread of its
 * own makes it while the launch goes on with the cgroup and file systems:
 * cd_netns_make_start() starts that thread, cd_netns_make_finish() waits
 * for it and hands over the namespace as an fd (O_CLOEXEC, the caller's to
 * close), and cd_netns_make_destroy() waits for a maker not finished and
 * closes what it made. Right before clone3, cd_netns_enter() moves the
 * calling thread into the namespace (its own, to return to with
 * cd_netns_leave() right after clone3, in *@ret_own_fd) so that the child
 * is born there.
 */
struct cd_netns_maker {
        pthread_t thread;
        bool started;
        int fd;
        int r;
        struct cd_err err;
};

void cd_netns_maker_init(struct cd_netns_maker *m);
int cd_netns_make_start(struct cd_netns_maker *m, struct cd_err *err);
int cd_netns_make_finish(struct cd_netns_maker *m, int *ret_fd, struct cd_err *err);
void cd_netns_make_destroy(struct cd_netns_maker *m);
int cd_netns_enter(int netns_fd, int *ret_own_fd, struct cd_err *err);
int cd_netns_leave(int own_fd, struct cd_err *err);

/*
 * Parent side, while the job runs: the TCP connections waiting in the
 * accept queues of the listeners in @pid's network namespace (IPv4 and
 * IPv6), from /proc/@pid/net/tcp{,6}. The kernel charges such a
 * connection, and what its peer sent it, to a memory cgroup only once a
 * process accepts it: the job's limit does not hold them. -E2BIG for more
 * listeners than are read at one check; -errno if a file cannot be read.
 */
int cd_netns_unaccepted(pid_t pid, uint64_t *ret);

/* The TCP sockets (IPv4 and IPv6) hashed in @pid's network namespace
 * ("inuse" in /proc/@pid/net/sockstat{,6}): listeners, connections, and
 * orphans, the connections closed by their process and not yet ended,
 * which count against the host-wide net.ipv4.tcp_max_orphans. */
int cd_netns_tcp_sockets(pid_t pid, uint64_t *ret);

/* What one unaccepted connection can hold at most: its receive buffer,
 * twice net.core.rmem_max when the listener set SO_RCVBUF, else
 * net.ipv4.tcp_rmem's default (the host's; a job's namespace starts with
 * them and cannot change them; the buffer grows towards tcp_rmem's
 * maximum only as a process reads, which nobody does here). 0 if neither
 * can be read. */
uint64_t cd_netns_conn_bytes_max(void);

/*
 * Parent side, once per process: build the seccomp program the payload
 * loads last before execve. Returns 0 and a program to free with
 * cd_seccomp_free().
 */
int cd_seccomp_build(struct cd_seccomp **ret, struct cd_err *err);

/* The default policy plus the syscalls in @extra (a plan's seccomp_allow),
 * compiled now with libseccomp (~2 ms). */
int cd_seccomp_build_with(char *const *extra, struct cd_seccomp **ret, struct cd_err *err);
struct cd_seccomp *cd_seccomp_free(struct cd_seccomp *s);

/* The Landlock ABI the kernel offers, 0 when none. Context: any. */
int cd_landlock_abi(void);

/*
 * Child side, right after clone3: build the sandbox from @sb, become pid 1
 * of the job, start the payload and report. Never returns: ends with
 * _exit(). Context: child; no allocation, no stdio, no logging.
 */
__attribute__((noreturn)) void cd_sandbox_child(const struct cd_sandbox *sb);
