/* SPDX-License-Identifier: MIT */
/* The audit records of `cordon run` (run-audit.h, docs/audit.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/crypto.h"
#include "cordon/util.h"
#include "run-audit.h"
#include "run-boot.h"
#include "run-marker.h"

/* Artifact hashes listed in job.finished; the rest are counted. A record
 * must stay under CD_AUDIT_MAX_RECORD (64 KiB): 256 hashes are 17 KiB. */
#define MAX_LISTED_HASHES 256

#define cleanup_json cleanup_with(json_decrefp)

int run_audit_open(struct run_audit *ra, const char *state_dir, const char *profile,
                   struct cd_err *err)
{
        cleanup_free char *dir = NULL;
        int r;

        *ra = (struct run_audit){
                .uid = (uint32_t) getuid(), .profile = profile, .runs_fd = -1, .marker_fd = -1
        };
        r = cd_random_hex(ra->job, 16);
        if (r < 0)
                return cd_err_set(err, -r, "audit: cannot pick a job id");
        r = run_boot_id(ra->boot, err);
        if (r < 0)
                return r;
        if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
                return cd_err_errno(err, "audit: create the state directory %s", state_dir);
        if (asprintf(&dir, "%s/audit", state_dir) < 0)
                return cd_err_set(err, ENOMEM, "audit: out of memory");
        r = cd_audit_open(dir, NULL, &ra->log, err);
        if (r >= 0)
                r = cd_audit_prime(ra->log, err);
        if (r < 0)
                return r;
        ra->audit_dir = realpath(dir, NULL);
        if (!ra->audit_dir)
                return cd_err_errno(err, "audit: resolve %s", dir);
        ra->runs_fd = run_marker_dir(err);
        if (ra->runs_fd < 0)
                return ra->runs_fd;
        run_marker_sweep(ra->runs_fd, ra->log, ra->audit_dir, ra->uid);
        run_boot_sweep(ra->runs_fd, ra->log, ra->boot, ra->uid);
        return run_marker_create(ra->runs_fd, ra->job, cd_audit_mark(ra->log), profile,
                                 ra->audit_dir, &ra->marker_fd, err);
}

/* Queue @p (taking its details); the next flush writes it. */
static int push(struct run_audit *ra, struct run_audit_pending p, struct cd_err *err)
{
        if (ra->n_queued >= RUN_AUDIT_QUEUE) {
                json_decref(p.details);
                return cd_err_set(err, EOVERFLOW, "audit: too many events queued");
        }
        ra->queued[ra->n_queued++] = p;
        return 0;
}

/* Queue an event (taking @details, NULL when building them failed). */
static int queue(struct run_audit *ra, const char *event, const char *verdict, json_t *details,
                 struct cd_err *err)
{
        if (!details)
                return cd_err_set(err, ENOMEM, "audit: out of memory");
        return push(ra,
                    (struct run_audit_pending){
                            .event = event, .verdict = verdict, .details = details },
                    err);
}

/* The details a queued event waits for: a profile's hash. */
static int complete(struct run_audit_pending *p, struct cd_err *err)
{
        char sha[CD_AUDIT_HASH_HEX];
        int r;

        if (p->details)
                return 0;
        r = cd_sha256_hex(p->raw, p->raw_len, sha, err);
        if (r < 0)
                return r;
        p->details = json_pack("{s:i,s:[s]}", "count", 1, "sha256", sha);
        return p->details ? 0 : cd_err_set(err, ENOMEM, "audit: out of memory");
}

/* Write the queued events with one write and one fsync. On failure the
 * last event's step is not taken (the job does not start, or its result is
 * not given): it is dropped, and the others stay queued for the next flush. */
static int flush(struct run_audit *ra, struct cd_err *err)
{
        struct cd_audit_event e[RUN_AUDIT_QUEUE];
        const struct cd_audit_event *ev[RUN_AUDIT_QUEUE];
        int r = 0;

        for (size_t i = 0; r == 0 && i < ra->n_queued; i++)
                r = complete(&ra->queued[i], err);
        for (size_t i = 0; r == 0 && i < ra->n_queued; i++) {
                e[i] = (struct cd_audit_event){
                        .event = ra->queued[i].event,
                        .uid = ra->uid,
                        .role = "admin",
                        .job = ra->job,
                        .profile = ra->profile,
                        .verdict = ra->queued[i].verdict,
                        .details = ra->queued[i].details,
                };
                ev[i] = &e[i];
        }
        if (r == 0)
                r = cd_audit_append_many(ra->log, ev, ra->n_queued, err);
        if (r < 0) {
                /* The step the last event records is not taken: drop it, keep
                 * the others for the next flush (job.finished). */
                json_decref(ra->queued[--ra->n_queued].details);
                return r;
        }
        while (ra->n_queued > 0)
                json_decref(ra->queued[--ra->n_queued].details);
        ra->recorded = true;
        return 0;
}

int run_audit_profile(struct run_audit *ra, const void *raw, size_t raw_len, struct cd_err *err)
{
        return push(ra,
                    (struct run_audit_pending){
                            .event = CD_AUDIT_PROFILES_LOADED, .raw = raw, .raw_len = raw_len },
                    err);
}

int run_audit_submitted(struct run_audit *ra, const struct cd_plan *plan, size_t n_inputs,
                        size_t argc, struct cd_err *err)
{
        const struct cd_limits *l = &plan->limits;

        return queue(ra, CD_AUDIT_JOB_SUBMITTED, NULL,
                     json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "runner",
                               RUN_BOOT_RUNNER, "boot", ra->boot, "inputs", (json_int_t) n_inputs,
                               "argc", (json_int_t) argc, "memory_bytes",
                               (json_int_t) l->memory_max_bytes, "cpu_millis",
                               (json_int_t) l->cpu_millis, "pids", (json_int_t) l->pids_max,
                               "wall_ms", (json_int_t) l->wall_timeout_ms, "cpu_time_ms",
                               (json_int_t) l->cpu_time_ms, "out_bytes",
                               (json_int_t) l->out_size_bytes),
                     err);
}

int run_audit_started(void *data, uint32_t host_uid, struct cd_err *err)
{
        struct run_audit *ra = data;
        int r = queue(ra, CD_AUDIT_JOB_STARTED, NULL,
                      json_pack("{s:I}", "host_uid", (json_int_t) host_uid), err);

        return r < 0 ? r : flush(ra, err);
}

int run_audit_cancelled(struct run_audit *ra, struct cd_err *err)
{
        return queue(ra, CD_AUDIT_JOB_CANCELLED, NULL, json_pack("{s:s}", "by", "signal"), err);
}

/* The taken artifacts' SHA-256s (never their names), and how many there were. */
static json_t *artifact_hashes(const struct cd_result *res)
{
        json_t *a = json_array();

        for (size_t i = 0; a && res->collected && i < res->manifest.n; i++) {
                const struct cd_artifact *it = &res->manifest.items[i];

                if (it->refused != CD_TAKEN || json_array_size(a) >= MAX_LISTED_HASHES)
                        continue;
                if (json_array_append_new(a, json_string(it->sha256)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

int run_audit_finished(struct run_audit *ra, const struct cd_result *res, struct cd_err *err)
{
        const struct cd_manifest *m = &res->manifest;
        json_t *hashes = artifact_hashes(res);
        cleanup_json json_t *d =
                hashes ? json_pack("{s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "exit_code",
                                   res->exit_code, "signal", res->signal, "wall_ms",
                                   (json_int_t) res->wall_ms, "user_cpu_ms",
                                   (json_int_t) res->user_cpu_ms, "system_cpu_ms",
                                   (json_int_t) res->system_cpu_ms, "peak_memory_bytes",
                                   (json_int_t) res->peak_memory_bytes, "stdout_bytes",
                                   (json_int_t) res->stdout_bytes, "stderr_bytes",
                                   (json_int_t) res->stderr_bytes, "artifacts_taken",
                                   (json_int_t) (res->collected ? m->files : 0), "artifacts_bytes",
                                   (json_int_t) (res->collected ? m->bytes : 0),
                                   "artifacts_refused",
                                   (json_int_t) (res->collected ? m->refused : 0),
                                   "artifact_sha256", hashes)
                       : NULL;
        int r = queue(ra, CD_AUDIT_JOB_FINISHED, cd_verdict_to_string(res->verdict), TAKE_PTR(d),
                      err);

        if (r == 0)
                r = flush(ra, err);
        ra->finished_recorded = r == 0;
        return r;
}

void run_audit_close(struct run_audit *ra)
{
        /* Kept when the job is recorded without its verdict: the next run
         * closes it. */
        if (ra->marker_fd >= 0 && (ra->finished_recorded || !ra->recorded))
                run_marker_remove(ra->runs_fd, ra->job);
        ra->marker_fd = cd_close(ra->marker_fd);
        ra->runs_fd = cd_close(ra->runs_fd);
        free(ra->audit_dir);
        ra->audit_dir = NULL;
        while (ra->n_queued > 0)
                json_decref(ra->queued[--ra->n_queued].details);
        ra->log = cd_audit_close(ra->log);
}
