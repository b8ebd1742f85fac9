/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cordon/artifacts.h"
#include "cordon/err.h"
#include "cordon/plan.h"

enum cd_verdict {
        CD_VERDICT_OK,
        CD_VERDICT_FAILED,
        CD_VERDICT_SIGNALED,
        CD_VERDICT_TIMEOUT,
        CD_VERDICT_CPU_LIMIT,
        CD_VERDICT_OOM,
        CD_VERDICT_OUTPUT_LIMIT,
        CD_VERDICT_CANCELLED,
        CD_VERDICT_REJECTED,
        CD_VERDICT_SETUP_ERROR,
        _CD_VERDICT_MAX,
};

/* The DESIGN.md name ("ok", "setup_error", ...) or NULL for an invalid value. */
const char *cd_verdict_to_string(enum cd_verdict v);

/* Parse a verdict name. Returns 0 or -EINVAL. */
int cd_verdict_from_string(const char *s, enum cd_verdict *ret);

/* Whether a cancel asked for once the job's payload had ended this way
 * (during or after its collection, before its verdict was recorded) makes
 * the verdict cancelled: it ranks as a cancel of the running job does
 * (docs/architecture.md, Verdicts), above oom, output_limit, signaled,
 * failed and ok; a timeout or CPU limit came first and stands; a job
 * that never ran, or whose collection failed (setup_error), or that was
 * rejected keeps its verdict. */
bool cd_verdict_yields_to_cancel(enum cd_verdict v);

/* What one job did, as the launcher saw it. */
struct cd_result {
        enum cd_verdict verdict;
        int exit_code;        /* -1 when the job did not exit normally */
        int signal;           /* 0 unless the job's main process was killed */
        uint64_t wall_ms;     /* launch start to end */
        uint64_t user_cpu_ms; /* whole job tree, from the cgroup */
        uint64_t system_cpu_ms;
        uint64_t peak_memory_bytes;
        uint64_t oom_kills;
        uint64_t pids_limit_hits; /* forks refused by pids.max */
        bool exec_failed;         /* the command could not be executed */
        uint64_t stdout_bytes;    /* what the job wrote, before any cap */
        uint64_t stderr_bytes;
        bool stdout_truncated; /* more than the output cap was written */
        bool stderr_truncated;
        int output_errno;        /* a write of stdout or stderr to its destination failed */
        struct cd_limits limits; /* the limits that applied */
        const char *cgroup_mode; /* "v1" or "v2" (static string) */
        uint32_t host_uid;       /* the host uid the job ran as */
        int landlock_abi;        /* 0 when the kernel has no Landlock */
        struct cd_err error;     /* setup_error / exec failure reason */
        bool collected;          /* /out was collected: manifest is set */
        bool output_lost;        /* /out not stored in full: the manifest lists what was */
        struct cd_manifest manifest;
};

/*
 * The job's output could not be stored in full (a full disk, an I/O error,
 * no magic database): the runner failed, not the job, so a verdict of ok
 * or failed becomes setup_error (exit_code stays the job's own). A verdict
 * that already says the job did not finish stands, as does a command that
 * could not be executed (its exit status, 126 or 127, says more).
 * Context: parent.
 */
void cd_result_output_lost(struct cd_result *res);

/* Free what @res owns (the manifest). */
void cd_result_clear(struct cd_result *res);

/*
 * The exit status `cordon run` uses for a result: the job's own status for
 * ok and failed, 128+N for a signal, and a fixed code for the others
 * (documented in docs/cli.md).
 */
int cd_result_exit_status(const struct cd_result *res);

#define CD_EXIT_USAGE        64
#define CD_EXIT_UNAVAILABLE  69 /* the profile needs what this host lacks */
#define CD_EXIT_OUTPUT_LIMIT 120
#define CD_EXIT_CPU_LIMIT    121
#define CD_EXIT_OOM          122
#define CD_EXIT_CANCELLED    123
#define CD_EXIT_TIMEOUT      124
#define CD_EXIT_SETUP_ERROR  125
#define CD_EXIT_CANNOT_EXEC  126
#define CD_EXIT_NOT_FOUND    127

/*
 * The result as a JSON object (jansson, caller owns the reference), with
 * the fields of docs/api.md: verdict, exit_code, signal, wall_ms, ...
 * Returns NULL on ENOMEM.
 */
struct json_t;
struct json_t *cd_result_to_json(const struct cd_result *res);
