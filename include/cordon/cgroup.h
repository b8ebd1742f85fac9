/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cordon/err.h"
#include "cordon/plan.h"

enum cd_cgroup_mode {
        CD_CGROUP_AUTO = 0,
        CD_CGROUP_V1 = 1,
        CD_CGROUP_V2 = 2,
};

struct cd_cgroup_config {
        const char *root;         /* where cgroupfs is mounted; NULL: /sys/fs/cgroup */
        const char *parent;       /* parent of the job cgroups, relative to each hierarchy's
                               * root; NULL: "cordon" (v2: the delegated cgroup when the
                               * supervisor runs in one, as under Delegate=yes) */
        enum cd_cgroup_mode mode; /* CD_CGROUP_AUTO probes the host */
};

/* The probed host hierarchies; opaque. */
struct cd_cgroup_host;

/*
 * Probe the host (v2 if cgroupfs root is cgroup2, otherwise the v1
 * controllers memory, cpu, cpuacct, pids and freezer), create the parent
 * cgroup and enable the controllers it needs. Returns 0 and the host in
 * *@ret (free with cd_cgroup_host_free), or -errno with @err naming what is
 * missing. Context: parent, once per process.
 */
int cd_cgroup_host_open(const struct cd_cgroup_config *cfg, struct cd_cgroup_host **ret,
                        struct cd_err *err);
struct cd_cgroup_host *cd_cgroup_host_free(struct cd_cgroup_host *h);

/* The mode the host was opened in (never CD_CGROUP_AUTO). */
enum cd_cgroup_mode cd_cgroup_host_mode(const struct cd_cgroup_host *h);

/* "v1" or "v2" (static). */
const char *cd_cgroup_mode_to_string(enum cd_cgroup_mode mode);

/* Parse "v1", "v2" or "auto". Returns 0 or -EINVAL. */
int cd_cgroup_mode_from_string(const char *s, enum cd_cgroup_mode *ret);

#define CD_CGROUP_MAX_FDS 5

/* One job's cgroup: a leaf per hierarchy (v2: one). */
struct cd_cgroup {
        const struct cd_cgroup_host *host;
        char name[64];
        int fd[CD_CGROUP_MAX_FDS]; /* open leaf directories, -1 where none */
};

struct cd_cgroup_usage {
        uint64_t user_us;
        uint64_t system_us;
        uint64_t peak_memory_bytes;
        uint64_t oom_kills;
        uint64_t pids_limit_hits;
};

/* Initialise @cg so that cd_cgroup_destroy() on it is a no-op. */
void cd_cgroup_init(struct cd_cgroup *cg);

/*
 * Create the job cgroup @name under the host's parent and write @l's
 * memory (swap may not extend it), CPU quota and pids limits. A stale
 * cgroup of the same name (left by a killed supervisor) is killed and
 * removed first. Context: parent.
 */
int cd_cgroup_create(struct cd_cgroup *cg, const struct cd_cgroup_host *h, const char *name,
                     const struct cd_limits *l, struct cd_err *err);

/* v2: the leaf's fd for clone3's CLONE_INTO_CGROUP; v1: -1. */
int cd_cgroup_clone_fd(const struct cd_cgroup *cg);

/*
 * v1: move the calling thread into the job's leaves, so that the child it
 * clones next is born there; cd_cgroup_leave() moves it back to where it
 * was when the host was opened. Writing "0" to a v1 "tasks" file moves only
 * the caller and skips the kernel's global threadgroup lock
 * (cgroup_procs_write_start()), so unlike moving the child afterwards
 * through cgroup.procs it never waits for an RCU grace period (~10 ms after
 * an idle spell). v2: nothing to do, clone3 uses CLONE_INTO_CGROUP.
 */
int cd_cgroup_enter(const struct cd_cgroup *cg, struct cd_err *err);
int cd_cgroup_leave(const struct cd_cgroup *cg, struct cd_err *err);

/* User+system CPU time of the whole cgroup, in microseconds. Returns 0 or -errno. */
int cd_cgroup_cpu_usage_us(const struct cd_cgroup *cg, uint64_t *ret);

/* v1: the OOM kills so far. v2: -EOPNOTSUPP, as memory.oom.group already
 * ends the whole job at the first. Returns 0 or -errno. */
int cd_cgroup_oom_kills(const struct cd_cgroup *cg, uint64_t *ret);

/* CPU, peak memory, OOM kills and refused forks. Read before destroying. */
int cd_cgroup_usage(const struct cd_cgroup *cg, struct cd_cgroup_usage *ret, struct cd_err *err);

/*
 * SIGKILL every task in the cgroup now (v2 cgroup.kill; v1 freeze, SIGKILL
 * each, thaw), and lift its CPU quota once they all have theirs: what the
 * job runs from then on is the kernel's exit path (freeing its memory, its
 * sockets), which a quota of 0.01 CPU stretched to 15 s past the wall
 * limit for 2 GiB. Lifted before every task was killed, the job's own code
 * would run unthrottled (250 busy loops at 0.05 CPU took 0.6 s of CPU
 * while pid 1 waited its turn to kill them). Does not wait for them to be
 * gone. v1: blocks until frozen (at most 1 s). Returns 0 or -errno.
 */
int cd_cgroup_signal_kill(const struct cd_cgroup *cg, struct cd_err *err);

/* cd_cgroup_signal_kill(), then wait until the cgroup is empty. Returns
 * -CD_E_NOT_EMPTY on a timeout. */
int cd_cgroup_kill(const struct cd_cgroup *cg, struct cd_err *err);

/* True if @pid is the only process in the cgroup, or there is none. */
bool cd_cgroup_holds_only(const struct cd_cgroup *cg, pid_t pid);

/* True if no task is left. */
bool cd_cgroup_is_empty(const struct cd_cgroup *cg);

/* Make sure no task is left: check, and kill what is there. */
int cd_cgroup_empty(const struct cd_cgroup *cg, struct cd_err *err);

/* Kill what is left, check the cgroup is empty and remove it. Idempotent;
 * tolerates a half-built cgroup. Returns 0 or -errno: the leaves not yet
 * removed are then left, named @cg->name, for the next cd_cgroup_create()
 * of that name to remove; their fds are closed either way. */
int cd_cgroup_destroy(struct cd_cgroup *cg, struct cd_err *err);

/*
 * Crash recovery: for every cgroup under the host's parent whose name
 * starts with @prefix, call @claim(name, userdata). A return >= 0 is an fd
 * (a lock) meaning "stale, and nobody else may touch it now": the cgroup is
 * killed and removed, then the fd is closed. Returns the number removed or
 * -errno.
 */
int cd_cgroup_sweep(const struct cd_cgroup_host *h, const char *prefix,
                    int (*claim)(const char *name, void *userdata), void *userdata,
                    struct cd_err *err);
