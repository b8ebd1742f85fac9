/* SPDX-License-Identifier: MIT */
#pragma once

#include <pthread.h>

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "cordon/cgroup.h"
#include "cordon/launcher.h"
#include "cordon/sandbox.h"
#include "cordon/util.h"

struct cd_launcher {
        struct cd_cgroup_host *cgroup;
        struct cd_seccomp *seccomp;
        cap_t nocaps;
        int slots_fd;
        uint32_t uid_base;
        uint32_t uid_count;
        int landlock_abi;
        /* Held shared while a thread has files of a sandbox filesystem open
         * for writing, exclusively while a thread clones: a child cloned
         * meanwhile would inherit such an fd until its close_range(), and
         * the other job's read-only remount would fail with EBUSY. */
        pthread_rwlock_t fs_lock;
        struct cd_prep *prep; /* cd_launcher_prepare()'s, until a launch takes it */
};

/* The network namespace and the root file system, built on threads of
 * their own while the launching thread goes on (prep.c). */
struct cd_prep;

/* Start both builders for @plan; NULL, with @err set, when either cannot start. */
struct cd_prep *cd_prep_start(struct cd_launcher *l, const struct cd_plan *plan,
                              struct cd_err *err);
bool cd_prep_is_for(const struct cd_prep *p, const struct cd_plan *plan);
/* The namespace's maker, for cd_netns_make_finish(). */
struct cd_netns_maker *cd_prep_netns(struct cd_prep *p);
/* Wait for the root file system and move it into @sb; its builder's error
 * when it failed. */
int cd_prep_take_root(struct cd_prep *p, struct cd_sandbox *sb, struct cd_err *err);
/* Wait for both builders and close what they made and was not taken. Returns NULL. */
struct cd_prep *cd_prep_free(struct cd_prep *p);

/* A lease on one host uid, held by an flock(2) on /run/cordon/slots/<uid>: it
 * ends with the process that holds it, so a killed supervisor frees it. */
struct cd_slot {
        int lock_fd;
        uint32_t index;
        uid_t uid;
        gid_t gid;
        char name[32]; /* the job cgroup's name, "slot-<uid>" */
};

int cd_slot_acquire(const struct cd_launcher *l, struct cd_slot *ret, struct cd_err *err);

/* True if neither @uid nor @gid names an account (NSS), using the answer
 * cached in the lease file @lease_fd while the local account sources are
 * unchanged (launcher/accounts.c). */
bool cd_accounts_ids_free(int lease_fd, uid_t uid, gid_t gid);

/* True if the "passwd:" and "group:" lines of @nsswitch (the text of
 * nsswitch.conf) name only local sources: files, compat, systemd. */
bool cd_accounts_nss_local(const char *nsswitch);
void cd_slot_release(struct cd_slot *s);
/* Remove the cgroups of slots whose supervisor died. Returns how many. */
int cd_slot_sweep(const struct cd_launcher *l, struct cd_err *err);

/* The sandbox's pid 1 as the parent sees it. */
struct cd_child {
        pid_t pid;
        int pidfd;
        int go_fd;  /* parent writes the go bytes */
        int msg_fd; /* parent reads struct cd_child_msg */
        bool reaped;
        siginfo_t exit_info;
};

void cd_child_init(struct cd_child *c);
/* Step 2: clone3 the sandbox's pid 1 into new namespaces, born inside @cg
 * and in the network namespace @netns_fd (cd_netns_make_finish()). Its user namespace is
 * owned by host uid @owner (the job's lease), never root. */
int cd_clone_sandbox(struct cd_sandbox *sb, const struct cd_cgroup *cg, uid_t owner, int netns_fd,
                     struct cd_child *ret, struct cd_err *err);
int cd_clone_release(struct cd_child *c, char step, struct cd_err *err);
/* Reap the child if it has exited; returns 1 when reaped, 0 if still running. */
int cd_clone_try_reap(struct cd_child *c);
/* SIGKILL (which takes its whole pid namespace with it) and reap. Idempotent. */
void cd_clone_kill(struct cd_child *c);
/* cd_clone_kill(), then close the fds. Idempotent. */
void cd_clone_destroy(struct cd_child *c);

/* One relayed standard stream. */
struct cd_stream {
        int src;
        int dst;
        bool own_src, own_dst; /* our pipe ends, closed by us */
        bool dst_reopened;     /* dst is our non-blocking reopening of the caller's fd */
        bool src_eof;
        bool dst_broken;
        int dst_errno; /* what the first failed write said; 0: none (or given up on) */
        char *buf;
        size_t len, off;
        uint64_t total;
        uint64_t cap;
        bool truncated;     /* the destination did not get every byte: the cap, or a failed write */
        uint64_t keep_free; /* a regular file's disk keeps this much free; 0: no floor */
        uint64_t unchecked; /* bytes written since that was last checked */
        bool escape;        /* the caller's fd is a terminal: show control characters as ^X */
        struct cd_tty_escape esc; /* escaping: a UTF-8 sequence split across reads */
        char *raw;                /* escaping: the bytes read, before escaping into buf */
        int null_fd;        /* /dev/null (>= 3 when open), once output is dropped: splice's sink */
        uint64_t resume_ms; /* dropping output: not read again before this time */
};

#define CD_RELAY_MAX_POLL 3

struct cd_relay {
        struct cd_stream s[3];
        int poll_owner[CD_RELAY_MAX_POLL]; /* stream of each entry cd_relay_poll() filled */
};

/* Make the job's stdio pipes; their child ends go to @child_stdio. */
int cd_relay_open(struct cd_relay *r, const struct cd_launch_io *io, int child_stdio[3],
                  struct cd_err *err);
/* Add the poll entries for live streams; returns how many were added. */
size_t cd_relay_poll(struct cd_relay *r, struct pollfd *p, size_t max);
/* The longest a poll of those entries may wait, in ms: -1 without limit, or
 * until a stream whose output is dropped may be read again. */
int cd_relay_timeout_ms(const struct cd_relay *r);
/* Move data for the poll results in @p (as filled by cd_relay_poll). */
void cd_relay_step(struct cd_relay *r, const struct pollfd *p, size_t n);
/* After the job ended: move what is left in the output pipes. */
void cd_relay_drain(struct cd_relay *r);
void cd_relay_close(struct cd_relay *r);

/* One job on its way through the launch sequence. */
struct cd_job {
        struct cd_launcher *l;
        const struct cd_plan *plan;
        const struct cd_launch_io *io;
        struct cd_slot slot;
        struct cd_cgroup cg;
        struct cd_sandbox sb;
        struct cd_prep *prep; /* the network namespace and the root, built meanwhile */
        struct cd_child child;
        struct cd_relay relay;
        struct cd_seccomp *own_seccomp; /* with the profile's additions */
        uint64_t start_ms;
        uint64_t end_ms; /* pid 1 reaped; 0 while it runs */
        bool held;       /* cancelled or out of time before 'g': never let go */
};

/* Copy /out into io->out_dir_fd, after the job is over and its cgroup empty. */
int cd_collect_out(struct cd_job *job, struct cd_result *ret, struct cd_err *err);

/* Step 6: wait for the job under its limits, then fill @ret with the
 * verdict and usage. */
int cd_supervise(struct cd_job *job, struct cd_result *ret, struct cd_err *err);
