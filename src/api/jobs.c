/* SPDX-License-Identifier: MIT */
/* /v1/jobs: submit, read, list, cancel, delete (docs/api.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cordon/api.h"
#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/log.h"
#include "cordon/util.h"

#define MAX_WAIT_S 60

static json_t *time_json(int64_t ms)
{
        struct tm tm;
        time_t t = (time_t) (ms / 1000);
        char buf[64];

        if (ms <= 0 || !gmtime_r(&t, &tm))
                return json_null();
        (void) snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                        (int) (ms % 1000));
        return json_string(buf);
}

static json_t *links(const char *id)
{
        char base[64];

        (void) snprintf(base, sizeof(base), "/v1/jobs/%s", id);
        return json_pack("{s:s, s:s+, s:s+, s:s+, s:s+, s:s+}", "self", base, "stdout", base,
                         "/stdout", "stderr", base, "/stderr", "artifacts", base, "/artifacts",
                         "artifacts_tar", base, "/artifacts.tar", "cancel", base, "/cancel");
}

static json_t *parsed(const char *text)
{
        json_t *j = text ? json_loads(text, 0, NULL) : NULL;

        return j ? j : json_null();
}

json_t *cd_api_job_json(struct cd_service *svc, const struct cd_job_row *row)
{
        size_t pos = row->state == CD_JOB_QUEUED ? cd_queue_position(svc->queue, row->id) : 0;
        json_t *labels = parsed(row->labels_json);

        /* Queued in the store but no longer in the queue: a slot has taken
         * it and is setting it up (it is running once it has started),
         * unless its cancel is left half done (it never starts: null). */
        if (row->state == CD_JOB_QUEUED && pos == 0 && !row->cancel_marked)
                pos = 1;

        if (!json_is_object(labels)) {
                json_decref(labels);
                labels = json_object();
        }
        return json_pack("{s:s, s:I, s:s, s:s, s:s?, s:s?, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                         "id", row->id, "owner_uid", (json_int_t) row->owner_uid, "profile",
                         row->profile, "state", cd_job_state_to_string(row->state), "verdict",
                         row->verdict, "reason", row->reason, "created", time_json(row->created_ms),
                         "started", time_json(row->started_ms), "finished",
                         time_json(row->finished_ms), "labels", labels, "queue_position",
                         pos ? json_integer((json_int_t) pos) : json_null(), "result",
                         parsed(row->result_json), "links", links(row->id));
}

int cd_api_load_job(const struct cd_api_request *req, struct cd_job_row *row,
                    struct cd_api_response *resp)
{
        struct cd_err err = { 0 };
        int r;

        if (!cd_job_id_is_valid(req->id)) {
                cd_api_problem(resp, 404, "job_not_found", "no such job");
                return -ENOENT;
        }
        r = cd_store_get(req->svc->store, req->id, row, &err);
        /* Someone else's job does not exist for this peer, nor one marked
         * deleted (its row is left only until cordond has removed it), nor
         * one whose job.submitted is not known to be recorded. */
        if (r == 0 && ((req->peer->role != CD_ROLE_ADMIN && row->owner_uid != req->peer->uid) ||
                       row->delete_marked || row->submit_unrecorded)) {
                cd_job_row_clear(row);
                r = -ENOENT;
        }
        if (r == -ENOENT)
                cd_api_problem(resp, 404, "job_not_found", "no such job");
        else if (r < 0)
                cd_api_problem(resp, 500, "internal", "the job store failed");
        return r;
}

/* Map a plan error to its problem. */
static void plan_problem(struct cd_api_response *resp, int r, const struct cd_err *err)
{
        if (r == -ENOENT)
                cd_api_problem(resp, 400, "unknown_profile", "no such profile");
        else if (err->code == CD_E_UNSUPPORTED)
                cd_api_problem(resp, 400, "profile_unavailable", "%s", err->msg);
        else if (strstr(err->msg, "profile's maximum"))
                cd_api_problem(resp, 400, "limit_exceeded", "%s", err->msg);
        else if (err->code == CD_E_INVALID)
                cd_api_problem(resp, 400, "invalid_request", "%s", err->msg);
        else
                cd_api_problem(resp, 500, "internal", "cannot check the request");
}

static void queue_problem(struct cd_api_response *resp, int r)
{
        if (r == -ENOSPC) {
                cd_api_problem(resp, 429, "queue_full", "the queue is full; retry later");
                cd_api_header(resp, "Retry-After", "5");
        } else if (r == -EDQUOT) {
                cd_api_problem(resp, 429, "client_queue_full",
                               "you have the most queued jobs allowed; retry when one has started");
                cd_api_header(resp, "Retry-After", "5");
        } else if (r == -ESHUTDOWN) {
                cd_api_problem(resp, 503, "shutting_down", "cordond is stopping");
        } else {
                cd_api_problem(resp, 500, "internal", "cannot queue the job");
        }
}

/* Parse and check the job against the profiles, with its staged inputs. */
static int check_spec(const struct cd_api_request *req, struct cd_jobspec *spec,
                      struct cd_api_response *resp)
{
        struct cd_upload *u = req->upload;
        cleanup_with(cd_plan_freep) struct cd_plan *plan = NULL;
        cleanup_free char *dir = NULL;
        struct cd_err err = { 0 };
        int r;

        r = cd_jobspec_parse(u->json, u->json_len, false, spec, &err);
        if (r < 0) {
                cd_api_problem(resp, 400,
                               strncmp(err.msg, "job: ", 5) ? "invalid_request" : "invalid_json",
                               "%s", err.msg);
                return r;
        }
        if (!cd_peer_may_use(req->svc->cfg, req->peer, spec->profile)) {
                cd_api_problem(resp, 403, "forbidden", "you may not submit jobs of this profile");
                return -EACCES;
        }
        spec->inputs = cd_strv_copy(u->names ? u->names : (char *[]){ NULL });
        if (!spec->inputs ||
            asprintf(&dir, "%s/jobs/%s.partial/inputs", req->svc->cfg->state_dir, u->id) < 0) {
                cd_api_problem(resp, 500, "internal", "out of memory");
                return -ENOMEM;
        }
        r = cd_jobspec_plan(req->svc, spec, dir, &plan, &err);
        if (r < 0)
                plan_problem(resp, r, &err);
        return r;
}

static int insert_row(struct cd_service *svc, struct cd_job_row *row, struct cd_err *err)
{
        uint64_t quota;
        int r;

        if (cd_fault("store_insert"))
                return cd_err_set(err, EIO, "store: insert: injected failure");
        r = cd_service_client_quota(svc, &quota, err);
        return r < 0 ? r : cd_store_insert(svc->store, row, quota, err);
}

static void quota_problem(struct cd_api_response *resp, const struct cd_quota *q)
{
        char detail[256];

        cd_quota_describe(q, detail, sizeof(detail));
        cd_api_problem(resp, 507, "quota_exceeded", "%s", detail);
}

/* What the stored job will be charged: its inputs as the disk holds them
 * and the request (cd_service_charge). */
static int upload_charge(struct cd_upload *u, struct cd_err *err)
{
        struct cd_disk_use use = { 0 };
        int r = u->dir_fd < 0 ? 0 : cd_jobfiles_usage(u->dir_fd, NULL, &use, err);

        if (r == 0)
                u->charge = cd_service_charge(u->svc, &use, u->stored_bytes, u->json_len);
        return r;
}

/* Before anything is recorded: the client's jobs and these inputs within
 * the quota (the insert checks again, against a concurrent submission). */
static int check_quota(const struct cd_api_request *req, struct cd_api_response *resp)
{
        struct cd_quota q;
        struct cd_err err = { 0 };
        int r = upload_charge(req->upload, &err);

        if (r == 0)
                r = cd_service_quota_check(req->svc, req->peer->uid, req->upload->charge,
                                           &req->upload->room, &q, &err);
        if (r == -CD_E_QUOTA) {
                quota_problem(resp, &q);
        } else if (r < 0) {
                cd_log_err(CD_LOG_ERROR, NULL, &err);
                cd_api_problem(resp, 500, "internal", "cannot check the client's quota");
        }
        return r;
}

/* The submission failed after its row was inserted: the row and the files
 * go. A row that cannot be removed stays out of sight (it is not marked
 * recorded) until the next start's recovery removes it. */
static void unstore(const struct cd_api_request *req, const struct cd_job_row *row)
{
        struct cd_err err = { 0 };

        if (cd_store_delete(req->svc->store, row->id, &err) < 0 && err.code != ENOENT) {
                cd_log_err(CD_LOG_ERROR, row->id, &err);
                return; /* its files too, for the recovery */
        }
        if (cd_jobfiles_remove(&req->svc->files, row->id, &err) < 0)
                cd_log_err(CD_LOG_WARN, row->id, &err);
}

/* The job.submitted record stands, but the job cannot be: close it with a
 * job.finished (rejected, not_stored), then unstore it. When that record
 * fails too, the next start's recovery writes it. */
static void unstored(const struct cd_api_request *req, const struct cd_job_row *row)
{
        struct cd_err err = { 0 };

        if (cd_service_audit1(req->svc, CD_AUDIT_JOB_FINISHED, req->peer, row->id, row->profile,
                              "rejected", json_pack("{s:s}", "reason", "not_stored"), &err) < 0) {
                cd_log_err(CD_LOG_ERROR, row->id, &err);
                return;
        }
        unstore(req, row);
}

/* The job's files committed, its row inserted out of sight. */
static int store_unrecorded(const struct cd_api_request *req, const struct cd_jobspec *spec,
                            struct cd_job_row *row, struct cd_err *err)
{
        struct cd_service *svc = req->svc;
        struct cd_upload *u = req->upload;
        int r;

        memcpy(row->id, u->id, sizeof(row->id));
        row->owner_uid = req->peer->uid;
        row->profile = strdup(spec->profile);
        row->created_ms = (int64_t) cd_wall_ms();
        row->stored_bytes = u->charge;
        row->request_json = cd_jobspec_dump(spec);
        row->labels_json = json_dumps(spec->labels, JSON_COMPACT | JSON_SORT_KEYS);
        row->submit_unrecorded = true;
        row->audit_from = cd_service_audit_mark(svc); /* before the record, below it */
        if (!row->profile || !row->request_json || !row->labels_json)
                return cd_err_set(err, ENOMEM, "out of memory");
        r = cd_jobfiles_commit(&svc->files, u->id, u->dir_fd, u->inputs_fd, err);
        if (r < 0)
                return r;
        r = insert_row(svc, row, err);
        if (r < 0)
                (void) cd_jobfiles_remove(&svc->files, row->id, &(struct cd_err){ 0 });
        return r;
}

/* Record job.submitted, then mark the row recorded. A crash anywhere in
 * between is settled by the next start's recovery, which reads the log
 * from the row's audit_from: a job whose record is there is closed
 * (job.finished, rejected, not_stored), and either way its row and files
 * go. The client never saw a 201 for it, so it never runs. */
static int record_submitted(const struct cd_api_request *req, const struct cd_job_row *row,
                            size_t n_labels, struct cd_err *err)
{
        struct cd_service *svc = req->svc;
        int r;

        if (cd_fault("crash_before_submit_record"))
                _exit(70); /* a cordond killed between the row and the record */
        r = cd_fault("submit_record")
                    ? cd_err_set(err, CD_E_FAULT, "audit: injected fault")
                    : cd_service_audit1(
                              svc, CD_AUDIT_JOB_SUBMITTED, req->peer, row->id, row->profile, NULL,
                              json_pack("{s:I, s:I}", "inputs", (json_int_t) req->upload->n_inputs,
                                        "labels", (json_int_t) n_labels),
                              err);
        if (r == 0 && cd_fault("submit_record_kept")) /* written, then reported failed */
                r = cd_err_set(err, EIO, "audit: injected failure after the append");
        if (r < 0) {
                /* A failed append is cut back; if even that failed, the record
                 * may stand: then it is closed. When the log cannot be read,
                 * the row stays out of sight for the next start's recovery. */
                int has = cd_service_audit_has(svc, row->audit_from, CD_AUDIT_JOB_SUBMITTED,
                                               row->id, &(struct cd_err){ 0 });

                if (has == 0)
                        unstore(req, row);
                else if (has > 0)
                        unstored(req, row);
                return r;
        }
        if (cd_fault("crash_after_submit_record"))
                _exit(70); /* a cordond killed between the record and the mark */
        r = cd_store_mark_submit_recorded(svc->store, row->id, err);
        if (r < 0)
                unstored(req, row);
        return r;
}

/* Inputs on disk, row in the store (out of sight), record in the log, row
 * marked recorded: then it may run. A job is never seen or run without its
 * job.submitted, nor left with one and no verdict. */
static int store_job(const struct cd_api_request *req, const struct cd_jobspec *spec,
                     struct cd_job_row *row, struct cd_api_response *resp)
{
        struct cd_err err = { 0 };
        int r = store_unrecorded(req, spec, row, &err);

        if (r == 0)
                r = record_submitted(req, row, json_object_size(spec->labels), &err);
        if (r == -CD_E_QUOTA) { /* lost a race with another of the client's submissions */
                cd_api_problem(resp, 507, "quota_exceeded",
                               "your jobs hold the disk space you are allowed; delete finished "
                               "jobs you have fetched");
        } else if (r < 0) {
                cd_log_err(CD_LOG_ERROR, row->id, &err);
                if (err.code == ENOSPC || err.code == EDQUOT)
                        cd_api_problem(resp, 507, "insufficient_storage",
                                       "no space left on cordond's disk for the job; retry later");
                else
                        cd_api_problem(resp, 500, "internal", "cannot store the job");
        }
        return r;
}

void api_jobs_create(const struct cd_api_request *req, struct cd_api_response *resp)
{
        struct cd_queue_place *place = NULL;
        struct cd_upload *u = req->upload;
        struct cd_jobspec spec = { 0 };
        struct cd_job_row row = { 0 };
        int r;

        if (cd_upload_finish(u) < 0) {
                cd_api_problem(resp, u->status, u->code, "%s", u->detail);
                return;
        }
        r = check_spec(req, &spec, resp);
        /* The quota first: a submission refused for it holds no queue place
         * meanwhile (another one would get a false queue_full). */
        if (r == 0)
                r = check_quota(req, resp);
        /* Its place in the queue is taken before the job is stored: once
         * stored and recorded, a job is always queued, never refused for a
         * place another submission took meanwhile. */
        if (r == 0) {
                r = cd_queue_reserve(req->svc->queue, req->peer->uid, &place);
                if (r < 0)
                        queue_problem(resp, r);
        }
        /* A test's window between the reservation and the store (test builds only). */
        if (r == 0 && cd_fault("submit_hold")) {
                cd_log_info(NULL, "msg=\"submission held (fault injection)\"");
                cd_fault_wait();
        }
        if (r == 0)
                r = store_job(req, &spec, &row, resp);
        if (r == 0) {
                cd_queue_fill(req->svc->queue, place, row.id);
                cd_upload_commit(u);
                cd_log_info(row.id, "msg=\"job submitted\" uid=%u profile=%s inputs=%u",
                            row.owner_uid, row.profile, u->n_inputs);
                cd_api_json(resp, 201,
                            json_pack("{s:s, s:s, s:o}", "id", row.id, "state", "queued", "links",
                                      links(row.id)));
                cd_api_header(resp, "Location", "/v1/jobs/%s", row.id);
        } else if (place) {
                cd_queue_release(req->svc->queue, place);
        }
        cd_jobspec_clear(&spec);
        cd_job_row_clear(&row);
}

static int wait_seconds(const struct cd_api_request *req, unsigned int *ret,
                        struct cd_api_response *resp)
{
        const char *w = req->query(req->conn, "wait");
        uint64_t v = 0;

        if (w && (cd_parse_u64(w, &v) < 0 || v > MAX_WAIT_S)) {
                cd_api_problem(resp, 400, "bad_request", "wait: seconds from 0 to %d", MAX_WAIT_S);
                return -EINVAL;
        }
        *ret = (unsigned int) v;
        return 0;
}

void api_jobs_get(const struct cd_api_request *req, struct cd_api_response *resp)
{
        struct cd_job_row row = { 0 };
        uint64_t deadline, gen;
        unsigned int wait_s;

        if (wait_seconds(req, &wait_s, resp) < 0)
                return;
        deadline = cd_now_ms() + wait_s * 1000ULL;
        for (;;) {
                uint64_t now;

                gen = cd_queue_generation(req->svc->queue);
                if (cd_api_load_job(req, &row, resp) < 0)
                        return;
                /* One reading of the clock: a second one could pass the
                 * deadline, and the wait below would wrap to centuries. */
                now = cd_now_ms();
                if (row.state == CD_JOB_FINISHED || now >= deadline ||
                    atomic_load(&req->svc->stopping))
                        break;
                cd_job_row_clear(&row);
                (void) cd_queue_wait(req->svc->queue, gen, deadline - now);
        }
        cd_api_json(resp, 200, cd_api_job_json(req->svc, &row));
        cd_job_row_clear(&row);
}

/*
 * A list cursor is "CREATED_MS-ID", the last job of the page before: the
 * list's order is (created_ms, id), newest first, so the next page starts
 * below that pair whether that job still exists or not (deleted since, or
 * never the caller's: it is only a position). Neither part says anything
 * of other clients' jobs, unlike the store's seq, which counts them all.
 */
static int parse_cursor(const char *cursor, struct cd_store_filter *f)
{
        const char *dash = strchr(cursor, '-');
        char ms[24];
        uint64_t v;

        if (!dash || dash == cursor || (size_t) (dash - cursor) >= sizeof(ms) ||
            !cd_job_id_is_valid(dash + 1))
                return -EINVAL;
        memcpy(ms, cursor, (size_t) (dash - cursor));
        ms[dash - cursor] = '\0';
        if (cd_parse_u64(ms, &v) < 0 || v > INT64_MAX)
                return -EINVAL;
        f->before_created_ms = (int64_t) v;
        f->before_id = dash + 1;
        return 0;
}

static int list_filter(const struct cd_api_request *req, struct cd_store_filter *f,
                       struct cd_api_response *resp)
{
        const char *state = req->query(req->conn, "state");
        const char *limit = req->query(req->conn, "limit"),
                   *before = req->query(req->conn, "before");
        const char *owner = req->query(req->conn, "owner");
        uint64_t v;

        *f = (struct cd_store_filter){ .limit = 50 };
        if (owner && (cd_parse_u64(owner, &v) < 0 || v > UINT32_MAX))
                goto bad;
        if (req->peer->role != CD_ROLE_ADMIN) {
                if (owner && v != req->peer->uid) {
                        cd_api_problem(resp, 403, "forbidden",
                                       "only admins may list the jobs of another owner");
                        return -EPERM;
                }
                f->by_owner = true;
                f->owner_uid = req->peer->uid;
        } else if (owner) {
                f->by_owner = true;
                f->owner_uid = (uint32_t) v;
        }
        if (state && cd_job_state_from_string(state, &f->state) < 0)
                goto bad;
        f->by_state = state != NULL;
        if (limit && (cd_parse_u64(limit, &v) < 0 || v < 1 || v > 500))
                goto bad;
        if (limit)
                f->limit = v;
        if (before && parse_cursor(before, f) < 0)
                goto bad;
        return 0;
bad:
        cd_api_problem(resp, 400, "bad_request",
                       "query: state=queued|running|finished, label=KEY=VALUE, limit=1..500, "
                       "before=CURSOR, owner=UID (admin)");
        return -EINVAL;
}

void api_jobs_list(const struct cd_api_request *req, struct cd_api_response *resp)
{
        const char *label = req->query(req->conn, "label");
        cleanup_free char *key = label ? strdup(label) : NULL;
        struct cd_job_row *rows = NULL;
        struct cd_store_filter f;
        struct cd_err err = { 0 };
        json_t *jobs, *next;
        size_t n = 0, page;

        if (list_filter(req, &f, resp) < 0)
                return;
        page = f.limit;
        f.limit = page + 1; /* one more than the page: is there a next one? */
        if (label) {
                char *eq = key ? strchr(key, '=') : NULL;

                if (!eq || eq == key) {
                        cd_api_problem(resp, 400, "bad_request", "label: expected KEY=VALUE");
                        return;
                }
                *eq = '\0';
                f.label_key = key;
                f.label_value = eq + 1;
        }
        if (cd_store_list(req->svc->store, &f, &rows, &n, &err) < 0) {
                if (err.code == EINVAL)
                        cd_api_problem(resp, 400, "bad_request", "label: keys are [a-z0-9_.-]");
                else
                        cd_api_problem(resp, 500, "internal", "the job store failed");
                return;
        }
        jobs = json_array();
        for (size_t i = 0; jobs && i < n && i < page; i++)
                if (json_array_append_new(jobs, cd_api_job_json(req->svc, &rows[i])) < 0)
                        jobs = (json_decref(jobs), NULL);
        /* `next` only when there is a next page: null on the last one. */
        next = n > page ? json_sprintf("%lld-%s", (long long) rows[page - 1].created_ms,
                                       rows[page - 1].id)
                        : json_null();
        cd_job_rows_free(rows, n);
        cd_api_json(resp, 200, jobs ? json_pack("{s:o, s:o}", "jobs", jobs, "next", next) : NULL);
}

/*
 * A queued job (@in_queue: taken out of the queue just now): first marked
 * in the store, so that it never runs whatever fails next, not even after
 * a restart; then job.cancelled and job.finished in one batch, and the
 * row. A failed mark puts it back in the queue (at its owner's end),
 * nothing recorded. A failed record or row leaves it marked, for
 * cd_service_finish_cancels (the janitor, or the next start): -EINPROGRESS.
 */
static int cancel_queued(const struct cd_api_request *req, const struct cd_job_row *row,
                         bool in_queue, bool *ret_unrun)
{
        struct cd_service *svc = req->svc;
        struct cd_err err = { 0 };
        int r = cd_store_mark_cancelled(svc->store, row->id, req->peer->uid, &err);

        if (r < 0) {
                if (in_queue && cd_queue_push(svc->queue, row->id, row->owner_uid, true) < 0)
                        cd_log_warn(row->id, "msg=\"cannot queue the job again\"");
                if (r == -ESTALE || r == -ENOENT) /* it finished, or was deleted, meanwhile */
                        return -EALREADY;
                cd_log_err(CD_LOG_ERROR, row->id, &err);
                return r;
        }
        r = cd_service_finish_cancelled(svc, row, req->peer, &err);
        cd_queue_notify(svc->queue);
        *ret_unrun = r == 0;
        if (r == 0 || r == -ESTALE) /* -ESTALE: it finished meanwhile */
                return 0;
        cd_log_err(CD_LOG_ERROR, row->id, &err);
        atomic_store(&svc->cancels_pending, true);
        return -EINPROGRESS;
}

/* Under the job lock, on the row as it is now: record job.cancelled only
 * when this request is what cancels it, so that two cancels (or a cancel
 * and a delete) at once, or one racing the job's end, give one record. */
static int cancel_locked(const struct cd_api_request *req, const char *id, bool *ret_unrun)
{
        struct cd_service *svc = req->svc;
        struct cd_job_row row = { 0 };
        struct cd_err err = { 0 };
        bool in_queue = false;
        int r;

        r = cd_store_get(svc->store, id, &row, &err);
        if (r == 0 && (row.state == CD_JOB_FINISHED || cd_queue_finishing(svc->queue, id)))
                r = -EALREADY;
        /* Taken by a slot (running, or still queued in the store while its
         * sandbox is set up) and cancelled already: its worker stops it. */
        if (r < 0 || cd_queue_cancelling(svc->queue, id))
                goto out;
        /* Queued, or queued in the store with no slot to take it (a
         * cancel left half done): it never runs. */
        in_queue = cd_queue_unqueue(svc->queue, id);
        if (in_queue || (row.state == CD_JOB_QUEUED && !cd_queue_taken(svc->queue, id))) {
                r = cancel_queued(req, &row, in_queue, ret_unrun);
                goto out;
        }
        r = cd_service_audit1(svc, CD_AUDIT_JOB_CANCELLED, req->peer, id, row.profile, NULL,
                              json_pack("{s:s}", "by", "request"), &err);
        if (r == 0)
                (void) cd_queue_cancel(svc->queue, id); /* its worker records the verdict */
out:
        cd_job_row_clear(&row);
        return r == -ENOENT ? -EALREADY : r; /* deleted meanwhile: nothing to cancel */
}

/* Cancel @row if it has not finished. Returns 0, or -EALREADY when it has. */
static int cancel(const struct cd_api_request *req, const struct cd_job_row *row)
{
        bool unrun = false;
        int r;

        if (row->state == CD_JOB_FINISHED)
                return -EALREADY;
        pthread_mutex_lock(&req->svc->job_lock);
        r = cancel_locked(req, row->id, &unrun);
        pthread_mutex_unlock(&req->svc->job_lock);
        /* After the lock, as a delete's files: other jobs' cancels need not wait. */
        if (unrun)
                cd_service_drop_inputs(req->svc, row->id);
        return r;
}

void api_jobs_cancel(const struct cd_api_request *req, struct cd_api_response *resp)
{
        struct cd_job_row row = { 0 };
        int r;

        if (cd_api_load_job(req, &row, resp) < 0)
                return;
        r = cancel(req, &row);
        cd_job_row_clear(&row);
        if (r == -EALREADY) {
                cd_api_problem(resp, 409, "job_finished", "the job has already finished");
                return;
        }
        if (r == -EINPROGRESS) {
                cd_api_problem(resp, 500, "internal",
                               "the job will not run, but its cancel could not be recorded yet; "
                               "cordond records it as soon as it can");
                return;
        }
        if (r < 0 || cd_api_load_job(req, &row, resp) < 0) {
                if (r < 0)
                        cd_api_problem(resp, 500, "internal", "cannot cancel the job");
                return;
        }
        cd_api_json(resp, 202, cd_api_job_json(req->svc, &row));
        cd_job_row_clear(&row);
}

/* After a cancel: wait for a running job's worker to record its verdict. */
static int wait_finished(const struct cd_api_request *req, struct cd_job_row *row,
                         struct cd_api_response *resp)
{
        uint64_t deadline = cd_now_ms() + 60000;

        while (row->state != CD_JOB_FINISHED) {
                uint64_t gen = cd_queue_generation(req->svc->queue);

                if (cd_now_ms() >= deadline) {
                        cd_api_problem(resp, 409, "job_not_finished",
                                       "the job did not stop in time; retry the delete");
                        return -ETIMEDOUT;
                }
                cd_job_row_clear(row);
                if (cd_api_load_job(req, row, resp) < 0)
                        return -ENOENT;
                if (row->state != CD_JOB_FINISHED)
                        (void) cd_queue_wait(req->svc->queue, gen, 1000);
        }
        return 0;
}

void api_jobs_delete(const struct cd_api_request *req, struct cd_api_response *resp)
{
        struct cd_job_row row = { 0 };
        struct cd_err err = { 0 };
        int r;

        if (cd_api_load_job(req, &row, resp) < 0)
                return;
        r = cancel(req, &row);
        if (r < 0 && r != -EALREADY) {
                cd_api_problem(resp, 500, "internal", "cannot cancel the job");
        } else if (wait_finished(req, &row, resp) == 0) {
                r = cd_service_delete_job(req->svc, &row, req->peer, &err);
                if (r == -ENOENT) {
                        cd_api_problem(resp, 404, "job_not_found", "no such job");
                } else if (r < 0) {
                        cd_log_err(CD_LOG_ERROR, row.id, &err);
                        cd_api_problem(resp, 500, "internal", "%s",
                                       r == -EINPROGRESS
                                               ? "the job is deleted, but cordond could not "
                                                 "remove all of it yet; it tries again"
                                               : "cannot delete the job");
                } else {
                        cd_log_info(row.id, "msg=\"job deleted\" uid=%u", req->peer->uid);
                        resp->status = 204;
                }
        }
        cd_job_row_clear(&row);
}
