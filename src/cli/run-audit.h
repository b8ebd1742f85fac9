/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The audit records of one `cordon run` (docs/audit.md): profiles.loaded,
 * job.submitted, job.started, job.cancelled and job.finished, each on disk
 * before the step it records goes ahead. Never the command, its arguments,
 * input or entry names, environment values or file contents: counts, sizes
 * and hashes.
 */

#include <stdbool.h>
#include <stdint.h>

#include "cordon/audit.h"
#include "cordon/plan.h"
#include "cordon/result.h"
#include "run-boot.h"

#define CD_DEFAULT_STATE_DIR "/var/lib/cordon"

#define RUN_AUDIT_QUEUE 4

/* An event waiting for the next fsync (they are written in batches). A
 * profiles.loaded event has no details until then: @raw is hashed at the
 * flush. */
struct run_audit_pending {
        const char *event;
        const char *verdict;
        json_t *details;
        const void *raw;
        size_t raw_len;
};

/*
 * profiles.loaded and job.submitted are queued and written with job.started,
 * in one fsync just before the job runs its first instruction (or with
 * job.finished when it never started); job.cancelled goes with job.finished,
 * before the result is given. The log itself is opened first, so a log that
 * cannot be used refuses the job before anything is built.
 */
struct run_audit {
        struct cd_audit *log;
        char *audit_dir;             /* <state_dir>/audit, resolved */
        int runs_fd;                 /* /run/cordon/runs (run-marker.h) */
        int marker_fd;               /* this run's marker, locked while it runs */
        bool recorded;               /* a record of the job is in the log */
        bool finished_recorded;      /* its job.finished is */
        char job[33];                /* random job id, hex */
        char boot[RUN_BOOT_ID_SIZE]; /* this boot's id */
        uint32_t uid;                /* who ran cordon */
        const char *profile;
        struct run_audit_pending queued[RUN_AUDIT_QUEUE];
        size_t n_queued;
};

/* Open <state_dir>/audit (creating @state_dir 0700 when missing), pick the
 * job id, close the jobs of earlier runs that were killed, and leave this
 * run's marker (run-marker.h). */
int run_audit_open(struct run_audit *ra, const char *state_dir, const char *profile,
                   struct cd_err *err);
/* Queue profiles.loaded for the profile file's @raw bytes (not copied: they
 * must live until the next flush), whose SHA-256 the record names. */
int run_audit_profile(struct run_audit *ra, const void *raw, size_t raw_len, struct cd_err *err);
int run_audit_submitted(struct run_audit *ra, const struct cd_plan *plan, size_t n_inputs,
                        size_t argc, struct cd_err *err);
/* A cd_launch_io.before_start callback: @data is the struct run_audit. */
int run_audit_started(void *data, uint32_t host_uid, struct cd_err *err);
/* The job was cancelled: cordon run got SIGINT, SIGTERM or SIGHUP. */
int run_audit_cancelled(struct run_audit *ra, struct cd_err *err);
int run_audit_finished(struct run_audit *ra, const struct cd_result *res, struct cd_err *err);
void run_audit_close(struct run_audit *ra);
