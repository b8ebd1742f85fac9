/* SPDX-License-Identifier: MIT */
#pragma once

#include "cordon/cgroup.h"

/* Leaf slots in struct cd_cgroup.fd for v1; v2 uses CG_V2. */
enum { CG_MEMORY, CG_CPU, CG_CPUACCT, CG_PIDS, CG_FREEZER, _CG_MAX };
#define CG_V2 0

struct cg_ops {
        int (*create_leaf)(struct cd_cgroup *cg, const struct cd_limits *l, struct cd_err *err);
        int (*enter)(const struct cd_cgroup *cg, struct cd_err *err);
        int (*leave)(const struct cd_cgroup *cg, struct cd_err *err);
        int (*cpu_usage_us)(const struct cd_cgroup *cg, uint64_t *ret);
        int (*oom_kills)(const struct cd_cgroup *cg, uint64_t *ret);
        int (*usage)(const struct cd_cgroup *cg, struct cd_cgroup_usage *ret, struct cd_err *err);
        int (*signal_kill)(const struct cd_cgroup *cg, struct cd_err *err);
        int (*lift_cpu_quota)(const struct cd_cgroup *cg, struct cd_err *err);
        bool (*wait_empty)(const struct cd_cgroup *cg, uint64_t timeout_ms);
        bool (*is_empty)(const struct cd_cgroup *cg);
};

struct cd_cgroup_host {
        enum cd_cgroup_mode mode;
        const struct cg_ops *ops;
        /* Parent directory per hierarchy; v1 comounted controllers share
         * one (alias[i] is the slot that owns the directory, else i). */
        int parent_fd[_CG_MAX];
        int alias[_CG_MAX];
        int self_fd[_CG_MAX]; /* v1: the opening thread's own cgroup, to return to */
        int top_fd[_CG_MAX];  /* v1: the hierarchy's root, if the own one is gone */
        bool memsw;           /* v1: memory.memsw.* exists */
        bool kmem_tcp;        /* v1: memory.kmem.tcp.* exists */
        bool swap_max;        /* v2: memory.swap.max exists */
        bool swap_active;     /* the host has swap enabled */
};

extern const struct cg_ops cd_cgroup_v1_ops;
extern const struct cg_ops cd_cgroup_v2_ops;

int cd_cgroup_v1_open(struct cd_cgroup_host *h, const char *root, const char *parent,
                      struct cd_err *err);
int cd_cgroup_v2_open(struct cd_cgroup_host *h, const char *root, const char *parent,
                      struct cd_err *err);

/* Shared helpers (cgroup.c). */

/* Value of "key N" in a keyed file such as memory.events; -ENOENT if absent. */
int cd_cgroup_keyed(const char *buf, const char *key, uint64_t *ret);

/* Split @total CPU time between user and system in the proportion of
 * @user_ticks to @sys_ticks (the kernel's cputime_adjust()): v1's
 * cpuacct.usage is exact, its user/system split is sampled at the
 * scheduler tick. The two parts always add up to @total. */
void cd_cgroup_split_cpu(uint64_t total, uint64_t user_ticks, uint64_t sys_ticks,
                         uint64_t *ret_user, uint64_t *ret_sys);

/* Read a file holding one number. */
int cd_cgroup_read_u64(int dirfd, const char *name, uint64_t *ret);

/* Write a number. */
int cd_cgroup_write_u64(int dirfd, const char *name, uint64_t v);

/* mkdir -p @path below @root_fd (admin-configured, not job-writable) and open it. */
int cd_cgroup_open_parent(int root_fd, const char *path, int *ret_fd, struct cd_err *err);

/* ownership.c */

/* The jobs' parent: cd_cgroup_open_parent() one level at a time, each level
 * checked before anything is made in it: its owner could move, freeze or
 * starve every job below, so one that is not root's alone (its directory,
 * and its files that move, freeze or kill tasks or take their controllers,
 * root's and writable by root only), or is a logind session's, fails with
 * EPERM. @each (may be NULL) runs on every level once checked. */
int cd_cgroup_open_parent_root_only(int root_fd, const char *path,
                                    int (*each)(int fd, const char *path, struct cd_err *err),
                                    int *ret_fd, struct cd_err *err);

/* Open the cgroup @path ("a/b") below the hierarchy root @root_fd if it and
 * every cgroup between are root's alone (the root itself is not judged),
 * and none is a systemd-logind session scope or user slice, whose owner may
 * signal what is in it; -1 otherwise. */
int cd_cgroup_open_root_only(int root_fd, const char *path);

/* In every hierarchy this process is in below its root (/proc/self/cgroup),
 * v1 (named ones too) and v2, wherever mounted (/proc/self/mountinfo; one
 * that is not mounted fails): if its cgroup there is not
 * cd_cgroup_open_root_only()'s, move the whole process to the hierarchy's
 * root cgroup. */
int cd_cgroup_leave_every_foreign(struct cd_err *err);

/* Wait up to @timeout_ms for @is_empty. Sleeps between checks: the cgroup v1
 * interface has no notification for "empty". */
bool cd_cgroup_wait_empty(const struct cd_cgroup *cg, uint64_t timeout_ms);

/* Read a cgroup.procs-style file and call @fn for each pid. */
int cd_cgroup_for_each_pid(int dirfd, const char *file, int (*fn)(pid_t pid, void *u), void *u);

/* True if /proc/swaps lists any active swap. */
bool cd_cgroup_swap_active(void);
