/* SPDX-License-Identifier: MIT */
/*
 * Run one queued job of cordond (the queue's callback): its stored request
 * becomes a plan under the current profiles; its output and artifacts go
 * to its directory; every step is in the store and the audit log before
 * the API can report it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/log.h"
#include "cordon/service.h"
#include "cordon/util.h"

struct run {
        struct cd_service *svc;
        const struct cd_job_row *row;
        uint64_t start_ns;
        uint64_t launch_ns; /* when the job was released */
        bool finishing;     /* finishing() done: too late to cancel */
};

static const struct cd_peer daemon_peer = { .uid = 0, .gid = 0, .role = CD_ROLE_ADMIN };

/* Before the job runs an instruction: running in the store and the log. */
static int started(void *data, uint32_t host_uid, struct cd_err *err)
{
        struct run *r = data;
        int ret;

        r->launch_ns = cd_now_ns();
        ret = cd_service_audit1(r->svc, CD_AUDIT_JOB_STARTED, &daemon_peer, r->row->id,
                                r->row->profile, NULL,
                                json_pack("{s:I}", "host_uid", (json_int_t) host_uid), err);
        if (ret < 0)
                return ret;
        if (cd_fault("crash_after_start_record"))
                _exit(70); /* a cordond killed between the record and the row */
        /* After job.started: below any record of the job from here on. */
        return cd_store_set_running(r->svc->store, r->row->id, (int64_t) cd_wall_ms(),
                                    cd_service_audit_mark(r->svc), err);
}

static int open_out(int dir, const char *name)
{
        return openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
}

static int open_artifacts(int dir)
{
        if (mkdirat(dir, "artifacts", 0700) < 0 && errno != EEXIST)
                return -errno;
        return openat(dir, "artifacts", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static int plan_of(struct run *r, struct cd_plan **ret, struct cd_err *err)
{
        struct cd_jobspec spec;
        cleanup_free char *inputs = NULL;
        int ret_code;

        ret_code = cd_jobspec_parse(r->row->request_json, strlen(r->row->request_json), true, &spec,
                                    err);
        if (ret_code < 0)
                return ret_code;
        if (asprintf(&inputs, "%s/jobs/%s/inputs", r->svc->cfg->state_dir, r->row->id) < 0)
                ret_code = cd_err_set(err, ENOMEM, "run: out of memory");
        else
                ret_code = cd_jobspec_plan(r->svc, &spec, inputs, ret, err);
        cd_jobspec_clear(&spec);
        return ret_code;
}

/*
 * What the API serves must be on disk before the verdict is: the output,
 * and every artifact file and directory the collector made (none of them
 * fsync'd one by one), in one syncfs(2). A job whose stdout or stderr
 * could not be written, or whose files failed to reach the disk (a full
 * disk, an I/O error at writeback; syncfs reports any on the state file
 * system since @artifacts was opened), ran but lost output: @res says so,
 * and *@ret_code is the error. After a failed syncfs no file can be told
 * whole (a later fsync of a fresh fd would not see the error), so the
 * manifest lists none: the API serves only what is known to be stored.
 * Context: parent.
 */
static void keep_output(const char *id, int artifacts, struct cd_result *res, int *ret_code)
{
        int synced = cd_fault("syncfs") ? -EIO : syncfs(artifacts) < 0 ? -errno : 0;
        int r = res->output_errno ? -res->output_errno : synced;

        if (synced < 0)
                cd_manifest_clear(&res->manifest);
        /* Nothing lost, already said (the collection), or the job never ran. */
        if (r == 0 || res->output_lost || res->verdict == CD_VERDICT_SETUP_ERROR ||
            res->verdict == CD_VERDICT_REJECTED)
                return;
        if (*ret_code < 0) /* a failed teardown, whose message is replaced below */
                cd_log_err(CD_LOG_WARN, id, &res->error);
        if (!res->exec_failed) /* else the exec's message stands */
                *ret_code = cd_err_neg(&res->error, r, "run: write the job's %s",
                                       res->output_errno ? "stdout or stderr"
                                                         : "output to disk (syncfs)");
        cd_result_output_lost(res);
}

/*
 * The job has ended: a cancel that comes after this is answered
 * job_finished (its job.cancelled would follow job.finished). One taken
 * before, with job.cancelled recorded, that came too late to stop the job
 * or its collection (during its teardown, say) makes the verdict cancelled
 * all the same, ranked as cd_verdict_yields_to_cancel() says, so that the
 * verdict agrees with the log and with the 202 the caller was given. Done
 * before the output is synced, so that a loss found there
 * (output_not_stored) meets a cancelled verdict as it does when the
 * cancel cut the collection (cd_result_output_lost() keeps it).
 */
static void finishing(struct run *r, struct cd_result *res)
{
        bool cancelled;

        if (cd_fault("finishing_hold")) { /* a test's window (test builds only) */
                cd_log_info(r->row->id, "msg=\"finishing held (fault injection)\"");
                cd_fault_wait();
        }
        pthread_mutex_lock(&r->svc->job_lock);
        cancelled = cd_queue_mark_finishing(r->svc->queue, r->row->id);
        pthread_mutex_unlock(&r->svc->job_lock);
        r->finishing = true;
        if (cancelled && cd_verdict_yields_to_cancel(res->verdict))
                res->verdict = CD_VERDICT_CANCELLED;
}

/* Launch the job with its files; @res is always filled. */
static int launch(struct run *r, int cancel_fd, struct cd_result *res)
{
        cleanup_with(cd_plan_freep) struct cd_plan *plan = NULL;
        cleanup_close int dir = cd_jobfiles_open_job(&r->svc->files, r->row->id);
        cleanup_close int out = -1, err_fd = -1, artifacts = -1;
        struct cd_launch_io io;
        struct cd_floor floor;
        int ret;

        *res = (struct cd_result){ .verdict = CD_VERDICT_SETUP_ERROR, .exit_code = -1 };
        if (dir < 0)
                return cd_err_neg(&res->error, dir, "run: open the job's directory");
        ret = plan_of(r, &plan, &res->error);
        if (ret < 0) {
                res->verdict = CD_VERDICT_REJECTED;
                return ret;
        }
        /* Each checked at once: a later call would clobber the errno of a
         * failed one (mkdirat()'s EEXIST, say). */
        out = open_out(dir, "stdout");
        if (out < 0)
                return cd_err_errno(&res->error, "run: create the job's stdout file");
        err_fd = open_out(dir, "stderr");
        if (err_fd < 0)
                return cd_err_errno(&res->error, "run: create the job's stderr file");
        artifacts = open_artifacts(dir);
        if (artifacts < 0)
                return cd_err_errno(&res->error, "run: create the job's artifacts directory");
        ret = cd_service_output_floor(r->svc, &floor, &res->error);
        if (ret < 0)
                return ret;
        io = (struct cd_launch_io){ .stdin_fd = -1,
                                    .stdout_fd = out,
                                    .stderr_fd = err_fd,
                                    .output_cap_bytes = r->svc->cfg->output_max_bytes,
                                    .cancel_fd = cancel_fd,
                                    .collect = true,
                                    .out_dir_fd = artifacts,
                                    .out_keep_free_bytes = floor.bytes,
                                    .out_keep_free_inodes = floor.inodes,
                                    .before_start = started,
                                    .before_start_data = r };
        ret = cd_launch(r->svc->launcher, plan, &io, res);
        finishing(r, res);
        keep_output(r->row->id, artifacts, res, &ret);
        return ret;
}

/* The job's reason, beside its verdict: why a job that ran has no full result. */
static const char *reason_of(const struct cd_result *res)
{
        return res->output_lost ? "output_not_stored" : NULL;
}

static json_t *finished_details(const struct cd_result *res)
{
        const struct cd_manifest *m = &res->manifest;

        return json_pack("{s:s*, s:i, s:I, s:I, s:I, s:I, s:I, s:I}", "reason", reason_of(res),
                         "exit_code", res->exit_code, "wall_ms", (json_int_t) res->wall_ms,
                         "peak_memory_bytes", (json_int_t) res->peak_memory_bytes, "stdout_bytes",
                         (json_int_t) res->stdout_bytes, "artifacts_taken",
                         (json_int_t) (res->collected ? m->files : 0), "artifacts_bytes",
                         (json_int_t) (res->collected ? m->bytes : 0), "artifacts_refused",
                         (json_int_t) (res->collected ? m->refused : 0));
}

/* The bytes the job's files hold once it has finished (its inputs go
 * next): stdout and stderr as kept (cut at output_max) and the artifacts. */
static uint64_t content_bytes(const struct run *r, const struct cd_result *res)
{
        const uint64_t cap = r->svc->cfg->output_max_bytes;
        uint64_t n = res->collected ? res->manifest.bytes : 0;

        n += res->stdout_bytes < cap ? res->stdout_bytes : cap;
        n += res->stderr_bytes < cap ? res->stderr_bytes : cap;
        return n;
}

/* A failed step of record() is tried again (0.1 s, doubling to 5 s), with
 * its error logged the first time and every 60th, until cordond stops. */
static bool again(struct run *r, unsigned int *attempt, const struct cd_err *err)
{
        unsigned int ms = *attempt < 6 ? 100U << *attempt : 5000;

        if (*attempt % 60 == 0)
                cd_log_err(CD_LOG_ERROR, r->row->id, err);
        (*attempt)++;
        if (atomic_load(&r->svc->stopping))
                return false;
        (void) usleep(ms * 1000);
        return true;
}

/* What a job ends with: the verdict recorded and stored. */
struct finish {
        const char *verdict;
        const char *reason;
        json_t *result;  /* NULL: none */
        json_t *details; /* of job.finished */
        uint64_t bytes;  /* what its files hold */
        int64_t at_ms;
};

/* The finish as the row keeps it until the verdict is stored (finish_json). */
static char *finish_dump(const struct finish *f)
{
        json_t *j = json_pack("{s:s, s:s?, s:O?, s:O, s:I, s:I}", "verdict", f->verdict, "reason",
                              f->reason, "result", f->result, "details", f->details, "bytes",
                              (json_int_t) f->bytes, "at_ms", (json_int_t) f->at_ms);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

        json_decref(j);
        return text;
}

/* finish_json back into @f, which borrows from *@ret_root (the caller's). */
static int finish_load(const char *text, struct finish *f, json_t **ret_root, struct cd_err *err)
{
        json_error_t jerr;
        json_t *root = json_loads(text, 0, &jerr);
        json_t *bytes = json_object_get(root, "bytes"), *at = json_object_get(root, "at_ms");

        *ret_root = root;
        *f = (struct finish){ .verdict = json_string_value(json_object_get(root, "verdict")),
                              .reason = json_string_value(json_object_get(root, "reason")),
                              .result = json_object_get(root, "result"),
                              .details = json_object_get(root, "details") };
        if (!root)
                return cd_err_set(err, EIO, "recover: a held verdict in the store is not JSON: %s",
                                  jerr.text);
        if (!f->verdict || !json_is_object(f->details) || !json_is_integer(bytes) ||
            json_integer_value(bytes) < 0 || !json_is_integer(at))
                return cd_err_set(err, EIO, "recover: a held verdict in the store is malformed");
        if (!json_is_object(f->result))
                f->result = NULL;
        f->bytes = (uint64_t) json_integer_value(bytes);
        f->at_ms = (int64_t) json_integer_value(at);
        return 0;
}

/* Step 2 and 3 of a finish: job.finished by @peer (NULL: cordond), unless
 * @recorded; then the row, with @result (f->result as text; NULL: none).
 * Each tried until it holds unless @retry is NULL (recovery: the first
 * error ends it). */
static int finish_steps(struct cd_service *svc, const struct cd_job_row *row,
                        const struct cd_peer *peer, const struct finish *f, const char *result,
                        bool recorded, struct run *retry, struct cd_err *err)
{
        unsigned int attempt = 0;
        int r;

        while (!recorded) {
                r = cd_service_audit1(svc, CD_AUDIT_JOB_FINISHED, peer, row->id, row->profile,
                                      f->verdict, json_incref(f->details), err);
                if (r == 0)
                        break;
                if (!retry || !again(retry, &attempt, err))
                        return r;
        }
        if (cd_fault("crash_after_finish_record"))
                _exit(70); /* a cordond killed between the record and the row */
        attempt = 0;
        for (;;) {
                r = cd_store_set_finished(svc->store, row->id, f->verdict, f->reason, result,
                                          f->bytes, f->at_ms, err);
                if (r == 0 || err->code == ESTALE)
                        return 0;
                if (!retry || !again(retry, &attempt, err))
                        return r;
        }
}

/* Step 1: the verdict held on the row, tried until it holds. Returns 0,
 * 1 when the job is finished already (nothing to record), or < 0 when
 * cordond stops first. */
static int hold(struct run *r, struct finish *f, const struct cd_result *res, struct cd_err *err)
{
        unsigned int attempt = 0;

        for (;;) {
                cleanup_free char *held = NULL;
                int ret;

                if (!f->details)
                        f->details = finished_details(res);
                held = f->details ? finish_dump(f) : NULL;
                ret = held ? cd_store_set_finishing(r->svc->store, r->row->id, held, err)
                           : cd_err_set(err, ENOMEM, "run: out of memory");
                if (ret == 0)
                        return 0;
                if (err->code == ESTALE) {
                        cd_log_err(CD_LOG_WARN, r->row->id, err);
                        return 1;
                }
                if (!again(r, &attempt, err))
                        return ret;
        }
}

/*
 * The verdict: on the row (held), in the log, then on the row (finished,
 * which the API reads). A full disk must neither lose it nor let the API
 * give a verdict the log does not hold, so each step is tried until it
 * holds, with the slot kept (no other job could be recorded as starting
 * meanwhile either). When cordond stops first, the next start's recovery
 * finishes the job with the verdict held (cd_service_settle_run), writing
 * job.finished only if the log does not have it.
 */
static bool record(struct run *r, const struct cd_result *res)
{
        json_t *j = cd_result_to_json(res);
        cleanup_free char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        struct finish f = { .verdict = cd_verdict_to_string(res->verdict),
                            .reason = reason_of(res),
                            .result = j,
                            .at_ms = (int64_t) cd_wall_ms() };
        struct cd_err err = { 0 };
        uint64_t now = cd_now_ns();
        int ret;

        f.bytes = cd_service_charge_job(r->svc, r->row, content_bytes(r, res),
                                        res->collected ? res->manifest.n : 0, text);
        ret = hold(r, &f, res, &err);
        if (ret != 0) {
                ret = ret > 0 ? 0 : ret; /* finished already: its inputs may go */
                goto out;
        }
        if (cd_fault("finish_hold")) { /* a test's window (test builds only) */
                cd_log_info(r->row->id, "msg=\"finish held (fault injection)\"");
                cd_fault_wait();
        }
        if (cd_fault("crash_before_finish_record"))
                _exit(70); /* a cordond killed between the held verdict and the record */
        ret = j && !text ? cd_err_set(&err, ENOMEM, "run: out of memory")
                         : finish_steps(r->svc, r->row, &daemon_peer, &f, text, false, r, &err);
        if (ret < 0)
                goto out;
        cd_metrics_job(&r->svc->metrics, res->verdict,
                       r->launch_ns ? (double) (r->launch_ns - r->start_ns) / 1e9 : 0,
                       (double) (now - r->start_ns) / 1e9);
        cd_log_info(r->row->id, "msg=\"job finished\" verdict=%s wall_ms=%llu", f.verdict,
                    (unsigned long long) res->wall_ms);
out:
        json_decref(j);
        json_decref(f.details);
        return ret == 0;
}

/*
 * The finish of a job that held none (or one that is not what record()
 * wrote): failed, supervisor_restart. What its collection had copied when
 * cordond stopped goes first: no manifest lists it, so nothing could ever
 * serve it, yet it would stay on the disk (the job's output, as sensitive
 * as its artifacts) until the job is deleted, charged to nobody. What is
 * left (stdout, stderr, and what could not be removed) is charged as the
 * disk holds it, as for any finished job.
 */
static int restart_finish(struct cd_service *s, const struct cd_job_row *row, bool recorded,
                          struct finish *f, struct cd_err *err)
{
        struct cd_err why = { 0 };

        if (cd_jobfiles_drop_artifacts(&s->files, row->id, &why) < 0)
                cd_log_err(CD_LOG_WARN, row->id, &why); /* charged below, and kept */
        *f = (struct finish){ .verdict = "failed",
                              .reason = "supervisor_restart",
                              .details = json_pack("{s:s}", "reason", "supervisor_restart"),
                              .bytes = cd_service_charge_job(s, row, 0, 0, NULL),
                              .at_ms = (int64_t) cd_wall_ms() };
        cd_log_warn(row->id,
                    "msg=\"cordond stopped while the job ran; it failed\" "
                    "reason=supervisor_restart recorded=%s",
                    recorded ? "yes" : "no");
        return f->details ? 0 : cd_err_set(err, ENOMEM, "recover: out of memory");
}

/* The finish @row holds, marked recovered: its strings borrowed from
 * *@ret_root (the caller's), its details owned. On failure @f is zeroed. */
static int held_finish(const struct cd_job_row *row, bool recorded, struct finish *f,
                       json_t **ret_root, struct cd_err *err)
{
        int r = finish_load(row->finish_json, f, ret_root, err);

        if (r < 0) {
                *f = (struct finish){ 0 };
                return r;
        }
        json_incref(f->details);
        if (json_object_set_new(f->details, "recovered", json_true()) < 0)
                return cd_err_set(err, ENOMEM, "recover: out of memory");
        cd_log_info(row->id,
                    "msg=\"the job finished before cordond stopped; its verdict is kept\" "
                    "verdict=%s recorded=%s",
                    f->verdict, recorded ? "yes" : "no");
        return 0;
}

int cd_service_settle_run(struct cd_service *s, const struct cd_job_row *row, bool recorded,
                          struct cd_err *err)
{
        struct finish f = { 0 };
        json_t *root = NULL;
        cleanup_free char *result = NULL;
        int r = -ENOENT;

        if (row->finish_json) {
                r = held_finish(row, recorded, &f, &root, err);
                if (r == -EIO) /* not what record() wrote: as if it held none */
                        cd_log_err(CD_LOG_WARN, row->id, err);
        }
        if (r == -ENOENT || r == -EIO)
                r = restart_finish(s, row, recorded, &f, err);
        if (r == 0 && !recorded && cd_fault("recover_record"))
                r = cd_err_set(err, CD_E_FAULT, "audit: injected fault");
        if (r == 0 && f.result && !(result = json_dumps(f.result, JSON_COMPACT)))
                r = cd_err_set(err, ENOMEM, "recover: out of memory");
        if (r == 0)
                r = finish_steps(s, row, NULL, &f, result, recorded, NULL, err);
        if (r == 0)
                cd_service_drop_inputs(s, row->id);
        json_decref(f.details);
        json_decref(root);
        return r;
}

/* The row of job @id, to run it. 1: run it; 0: nothing to run (cancelled or
 * deleted while it waited; a cancel left half done is finished by
 * cd_service_finish_cancels); -EAGAIN: the store could not say (logged; the
 * job is queued again after a pause, not dropped). */
static int row_to_run(struct cd_service *svc, const char *id, struct cd_job_row *row)
{
        struct cd_err err = { 0 };
        int r = cd_fault("store_get") ? cd_err_set(&err, CD_E_FAULT, "store: injected fault")
                                      : cd_store_get(svc->store, id, row, &err);

        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                cd_log_err(CD_LOG_ERROR, id, &err);
                cd_log_warn(id, "msg=\"job queued again: its row could not be read\"");
                (void) usleep(1000 * 1000); /* a store that keeps failing: once a second */
                return -EAGAIN;
        }
        return row->state == CD_JOB_QUEUED && !row->cancel_marked;
}

int cd_service_run_job(void *data, const char *id, int cancel_fd)
{
        struct cd_service *svc = data;
        struct cd_job_row row = { 0 };
        struct cd_result res;
        struct run r = { .svc = svc, .row = &row, .start_ns = cd_now_ns() };
        int go = row_to_run(svc, id, &row);

        if (go <= 0) {
                cd_job_row_clear(&row);
                return go;
        }
        /* A job that could not run, or whose output could not all be stored
         * (then setup_error too, unless it had already failed): why, in the log. */
        if (launch(&r, cancel_fd, &res) < 0)
                cd_log_err(res.verdict == CD_VERDICT_SETUP_ERROR ? CD_LOG_ERROR : CD_LOG_WARN, id,
                           &res.error);
        if (!r.finishing) /* it never ran */
                finishing(&r, &res);
        if (record(&r, &res)) {
                if (cd_fault("crash_before_drop_inputs"))
                        _exit(70); /* a cordond killed between the verdict and this */
                cd_service_drop_inputs(svc, id);
        }
        cd_result_clear(&res);
        cd_job_row_clear(&row);
        return 0;
}
