/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cordon/cgroup.h"
#include "cordon/err.h"
#include "cordon/plan.h"
#include "cordon/result.h"

/* Host uids for jobs: one per concurrently running job ("slot"). The
 * default range lies in what systemd documents as unused
 * (docs/operations.md). */
#define CD_DEFAULT_UID_BASE  1879048192u /* 0x70000000 */
#define CD_DEFAULT_UID_COUNT 1024u
/* Uid leases are flocks on CD_DEFAULT_RUN_DIR/slots/<uid>, one directory for
 * the whole host: every launcher, whatever its configuration, takes them
 * there, so two jobs never share a uid. */
#define CD_DEFAULT_RUN_DIR "/run/cordon"

struct cd_launcher_config {
        uint32_t uid_base;  /* 0: CD_DEFAULT_UID_BASE */
        uint32_t uid_count; /* 0: CD_DEFAULT_UID_COUNT */
        struct cd_cgroup_config cgroup;
};

/* Process-wide launcher state: cgroup hierarchy, seccomp programs, slot
 * directory. Opaque. */
struct cd_launcher;

/*
 * Prepare this process to launch sandboxes: check it is root, drop its own
 * supplementary groups (the sandbox's user namespace cannot, see
 * sandbox/creds.c), probe cgroups, build the seccomp programs. Returns 0
 * and the launcher in *@ret, or -errno with @err saying what is missing.
 * Context: parent, before any thread that could race with the setgroups.
 */
int cd_launcher_new(const struct cd_launcher_config *cfg, struct cd_launcher **ret,
                    struct cd_err *err);
struct cd_launcher *cd_launcher_free(struct cd_launcher *l);

/*
 * Start building the network namespace and the root file system of a
 * launch of @plan now, on threads of their own, so that what the caller
 * does before cd_launch() overlaps them (cordon run opens its audit log
 * meanwhile). The next cd_launch() of this @plan takes them over; another
 * plan, another call or cd_launcher_free() discards them. Nothing is
 * reported here: a build that failed fails that cd_launch() (setup_error),
 * as if it had built it itself. @plan must outlive the launch, unchanged.
 * Context: parent; not while a cd_launch() of @l runs.
 */
void cd_launcher_prepare(struct cd_launcher *l, const struct cd_plan *plan);

/* The cgroup mode in use. */
enum cd_cgroup_mode cd_launcher_cgroup_mode(const struct cd_launcher *l);

/* Where the job's standard streams go. */
struct cd_launch_io {
        int stdin_fd;  /* relayed to the job's stdin; -1: the job reads EOF */
        int stdout_fd; /* the job's stdout is relayed here; -1: discarded */
        int stderr_fd;
        uint64_t output_cap_bytes;     /* per stream, beyond it output is dropped; 0: no cap */
        int cancel_fd;                 /* becomes readable to cancel the job (signalfd,
                                    * eventfd); -1: none */
        bool collect;                  /* copy /out into out_dir_fd when the job is over */
        int out_dir_fd;                /* an empty directory (when collect) */
        uint64_t out_keep_free_bytes;  /* bytes the copy leaves free on out_dir_fd's disk, and
                                        * the stdout and stderr files on theirs */
        uint64_t out_keep_free_inodes; /* and inodes */
        /* Called while the child builds the sandbox, before the job runs one
         * instruction of its own (e.g. to write the audit record that it
         * starts). A negative return stops the job: setup_error, with @err.
         * The sandbox may still fail after it returns. NULL: none. */
        int (*before_start)(void *data, uint32_t host_uid, struct cd_err *err);
        void *before_start_data;
};

/*
 * Run @plan in a fresh sandbox and wait for it: the six steps of
 * docs/architecture.md. Always fills @ret. Returns 0 when the job ran
 * (whatever its verdict), or -errno when it could not be started: then
 * ret->verdict is setup_error (or rejected for an invalid plan) and
 * ret->error says which step failed. Nothing is left behind either way.
 * Context: parent.
 */
int cd_launch(struct cd_launcher *l, const struct cd_plan *plan, const struct cd_launch_io *io,
              struct cd_result *ret);
