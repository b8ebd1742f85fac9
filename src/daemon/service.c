/* SPDX-License-Identifier: MIT */
/* What cordond's parts share (service.h): audit, profiles, rates, job lifecycle. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cordon/cleanup.h"
#include "cordon/crypto.h"
#include "cordon/fault.h"
#include "cordon/log.h"
#include "cordon/service.h"
#include "cordon/util.h"

#define EXPIRE_BATCH     100U
#define EXPIRE_BUDGET_MS 5000U

const char *cd_role_to_string(enum cd_role r)
{
        switch (r) {
        case CD_ROLE_SUBMITTER:
                return "submitter";
        case CD_ROLE_ADMIN:
                return "admin";
        case CD_ROLE_NONE:
                break;
        }
        return "none";
}

int cd_service_audit(struct cd_service *s, const struct cd_audit_event *const *ev, size_t n,
                     struct cd_err *err)
{
        int r;

        pthread_mutex_lock(&s->audit_lock);
        r = cd_audit_append_many(s->audit, ev, n, err);
        pthread_mutex_unlock(&s->audit_lock);
        return r;
}

int cd_service_audit1(struct cd_service *s, const char *event, const struct cd_peer *peer,
                      const char *job, const char *profile, const char *verdict, json_t *details,
                      struct cd_err *err)
{
        const struct cd_audit_event e = {
                .event = event,
                .uid = peer ? peer->uid : 0,
                .role = peer ? cd_role_to_string(peer->role) : "cordond",
                .job = job,
                .profile = profile,
                .verdict = verdict,
                .details = details,
        };
        const struct cd_audit_event *ev = &e;
        int r = cd_service_audit(s, &ev, 1, err);

        json_decref(details);
        return r;
}

uint64_t cd_service_audit_mark(struct cd_service *s)
{
        uint64_t m;

        pthread_mutex_lock(&s->audit_lock);
        m = cd_audit_mark(s->audit);
        pthread_mutex_unlock(&s->audit_lock);
        return m;
}

struct wanted {
        const char *event, *job;
};

static int match_record(const struct cd_audit_seen *r, void *data)
{
        const struct wanted *w = data;

        return r->job && strcmp(r->job, w->job) == 0 && strcmp(r->event, w->event) == 0;
}

int cd_service_audit_has(struct cd_service *s, uint64_t from, const char *event, const char *job,
                         struct cd_err *err)
{
        struct wanted w = { event, job };
        int r;

        pthread_mutex_lock(&s->audit_lock);
        r = cd_audit_scan(s->audit, from, match_record, &w, err);
        pthread_mutex_unlock(&s->audit_lock);
        return r;
}

/* One hash over the profiles' bytes, each followed by a newline, in name
 * order (the set is sorted). */
static int hash_set(const struct cd_profile_set *set, char out[CD_AUDIT_HASH_HEX], json_t **names,
                    struct cd_err *err)
{
        struct cd_sha256 h;
        int r;

        *names = json_array();
        r = cd_crypto_sha256_init(&h, err);
        if (r < 0)
                return r;
        for (size_t i = 0; r == 0 && i < set->n; i++) {
                if (!*names || json_array_append_new(*names, json_string(set->items[i]->name)))
                        return cd_err_set(err, ENOMEM, "profiles: out of memory");
                r = cd_crypto_sha256_update(&h, set->items[i]->raw, set->items[i]->raw_len);
                if (r == 0)
                        r = cd_crypto_sha256_update(&h, "\n", 1);
        }
        if (r == 0)
                r = cd_crypto_sha256_final_hex(&h, out);
        return r < 0 ? cd_err_set(err, EIO, "profiles: SHA-256 failed") : 0;
}

int cd_service_load_profiles(struct cd_service *s, struct cd_err *err)
{
        const struct cd_profile_host host = { .images_dir = s->cfg->images_dir };
        struct cd_profile_set set = { 0 }, old;
        char sha[CD_AUDIT_HASH_HEX];
        json_t *names = NULL;
        int r;

        r = cd_profile_set_load(s->cfg->profiles_dir, &host, &set, err);
        if (r < 0)
                return r;
        r = hash_set(&set, sha, &names, err);
        if (r < 0) {
                json_decref(names);
                cd_profile_set_clear(&set);
                return r;
        }
        r = cd_service_audit1(s, CD_AUDIT_PROFILES_LOADED, NULL, NULL, NULL, NULL,
                              json_pack("{s:I, s:s, s:o}", "count", (json_int_t) set.n, "sha256",
                                        sha, "names", names),
                              err);
        if (r < 0) {
                cd_profile_set_clear(&set);
                return r;
        }
        pthread_rwlock_wrlock(&s->profiles_lock);
        old = s->profiles;
        s->profiles = set;
        memcpy(s->profiles_sha256, sha, sizeof(sha));
        pthread_rwlock_unlock(&s->profiles_lock);
        cd_profile_set_clear(&old);
        return 0;
}

/* @uid's bucket among @n, or the one used longest ago, taken over: a uid
 * keeps its own bucket until @n other uids have come since (two uids
 * sharing one by their numbers would each reset the other's). */
static struct cd_rate *rate_slot(struct cd_rate *slots, size_t n, uint32_t uid)
{
        struct cd_rate *oldest = &slots[0];

        for (size_t i = 0; i < n; i++) {
                struct cd_rate *r = &slots[i];

                if (r->at_ms != 0 && r->uid == uid)
                        return r;
                if (r->at_ms < oldest->at_ms)
                        oldest = r;
        }
        return oldest;
}

/* One token from @uid's bucket: @rate a second, at most @burst. */
static bool take_token(struct cd_service *s, struct cd_rate *slots, size_t n, uint32_t uid,
                       double rate, double burst)
{
        uint64_t now = cd_now_ms();
        struct cd_rate *slot;
        bool ok;

        pthread_mutex_lock(&s->rate_lock);
        slot = rate_slot(slots, n, uid);
        if (slot->uid != uid || slot->at_ms == 0)
                *slot = (struct cd_rate){ .uid = uid, .tokens = burst, .at_ms = now };
        slot->tokens += (double) (now - slot->at_ms) * rate / 1000.0;
        if (slot->tokens > burst)
                slot->tokens = burst;
        slot->at_ms = now;
        ok = slot->tokens >= 1.0;
        if (ok)
                slot->tokens -= 1.0;
        pthread_mutex_unlock(&s->rate_lock);
        return ok;
}

bool cd_service_rate_ok(struct cd_service *s, uint32_t uid)
{
        const double rate = s->cfg->rate_per_second;

        return take_token(s, s->rates, CD_RATE_SLOTS, uid, rate, 2.0 * rate);
}

bool cd_service_refusal_ok(struct cd_service *s, uint32_t uid)
{
        return take_token(s, s->refusals, CD_REFUSAL_SLOTS, uid, CD_REFUSALS_PER_SEC,
                          CD_REFUSALS_BURST);
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
        uint64_t n;

        return __builtin_mul_overflow(a, b, &n) ? UINT64_MAX : n;
}

uint64_t cd_service_charge(struct cd_service *s, const struct cd_disk_use *use, uint64_t content,
                           uint64_t row_bytes)
{
        struct cd_fs_space sp;
        struct cd_err err = { 0 };
        uint64_t per_inode = CD_CHARGE_INODE_MIN;

        if (cd_jobfiles_space(&s->files, &sp, &err) == 0 &&
            cd_fs_space_inode_bytes(&sp) > per_inode)
                per_inode = cd_fs_space_inode_bytes(&sp);
        return cd_sat_add(cd_sat_add(use->bytes > content ? use->bytes : content,
                                     sat_mul(use->inodes, per_inode)),
                          row_bytes);
}

static size_t len_of(const char *text)
{
        return text ? strlen(text) : 0;
}

uint64_t cd_service_charge_job(struct cd_service *s, const struct cd_job_row *row, uint64_t content,
                               uint64_t files, const char *result_json)
{
        const uint64_t row_bytes =
                len_of(result_json) + len_of(row->request_json) + len_of(row->labels_json);
        cleanup_close int dir = cd_jobfiles_open_job(&s->files, row->id);
        struct cd_disk_use use = { 0 };
        struct cd_err err = { 0 };
        int r = dir < 0 ? cd_err_neg(&err, dir, "state: open the job's directory")
                        : cd_jobfiles_usage(dir, "inputs", &use, &err);

        if (r < 0) {
                cd_log_err(CD_LOG_WARN, row->id, &err);
                use.inodes = files + 4; /* with the directory, stdout, stderr, artifacts/ */
                use.bytes = use.inodes * CD_CHARGE_INODE_MIN;
        }
        return cd_service_charge(s, &use, content, row_bytes);
}

bool cd_id_set_has(const struct cd_id_set *set, const char *id)
{
        for (size_t i = 0; i < set->n; i++)
                if (!strcmp(set->ids[i], id))
                        return true;
        return false;
}

int cd_id_set_add(struct cd_id_set *set, const char *id)
{
        char(*n)[CD_JOB_ID_LEN + 1];

        if (cd_id_set_has(set, id))
                return 0;
        n = reallocarray(set->ids, set->n + 1, sizeof(*set->ids));
        if (!n)
                return -ENOMEM;
        set->ids = n;
        (void) snprintf(n[set->n++], CD_JOB_ID_LEN + 1, "%s", id);
        return 0;
}

void cd_id_set_drop(struct cd_id_set *set, const char *id)
{
        for (size_t i = 0; i < set->n; i++)
                if (!strcmp(set->ids[i], id)) {
                        memcpy(set->ids[i], set->ids[--set->n], CD_JOB_ID_LEN + 1);
                        return;
                }
}

void cd_id_set_clear(struct cd_id_set *set)
{
        free(set->ids);
        *set = (struct cd_id_set){ 0 };
}

/* Under job_lock: @id's row is gone; nothing is left half done for it. */
static void row_gone(struct cd_service *s, const char *id)
{
        cd_id_set_drop(&s->deletes_recorded, id);
        cd_id_set_drop(&s->cancels_recorded, id); /* a cancel's row never written */
}

/* job.deleted of @row: by @peer, or (NULL) by cordond, for retention
 * (@uid CD_STORE_DELETE_RETENTION) or finishing late the delete that @uid
 * asked for. */
static int record_delete(struct cd_service *s, const struct cd_job_row *row,
                         const struct cd_peer *peer, int64_t uid, struct cd_err *err)
{
        json_t *by = peer ? json_pack("{s:s}", "by", "request")
                     : uid == CD_STORE_DELETE_RETENTION
                             ? json_pack("{s:s}", "by", "retention")
                             : json_pack("{s:s, s:I}", "by", "request", "requested_by",
                                         (json_int_t) uid);

        if (cd_fault("delete_record")) {
                json_decref(by);
                return cd_err_set(err, EIO, "audit: delete: injected failure");
        }
        return cd_service_audit1(s, CD_AUDIT_JOB_DELETED, peer, row->id, row->profile, NULL, by,
                                 err);
}

/* Under job_lock: a marked delete left for the janitor, its record or its
 * row not done. When @just_recorded (the row is what failed), the mark that
 * it is recorded keeps it from being recorded again, also after a restart;
 * the set does while cordond runs, if even that mark cannot be written. */
static void delete_left(struct cd_service *s, const char *id, bool just_recorded)
{
        struct cd_err err = { 0 };

        if (just_recorded && cd_store_mark_delete_recorded(s->store, id, &err) < 0)
                (void) cd_id_set_add(&s->deletes_recorded, id); /* no memory: recorded again */
        atomic_store(&s->removals_pending, true);               /* the janitor finishes it */
}

/*
 * Under job_lock. The delete is first marked in the store: from then on
 * the job is gone for the API, also after a restart, whatever fails next.
 * Then job.deleted, unless recorded already, then the row. A failed mark
 * leaves the job as it was; a failed record or row leaves it marked, for
 * cd_service_retry_removals: -EINPROGRESS.
 */
static int delete_locked(struct cd_service *s, const struct cd_job_row *row,
                         const struct cd_peer *peer, struct cd_err *err)
{
        struct cd_job_row now = { 0 };
        int64_t uid = peer ? (int64_t) peer->uid : CD_STORE_DELETE_RETENTION;
        bool late = false, recorded = false;
        int r;

        /* Another delete (a second request, the retention sweep) may have
         * gone first: the job is gone once, audited once. */
        r = cd_store_get(s->store, row->id, &now, err);
        if (r == 0 && now.delete_marked) {
                late = true; /* recorded by cordond, for the first to ask */
                uid = now.delete_uid;
                recorded = now.delete_recorded || cd_id_set_has(&s->deletes_recorded, row->id);
        } else if (r == 0) {
                r = cd_store_mark_deleted(s->store, row->id, uid, cd_service_audit_mark(s), err);
        }
        cd_job_row_clear(&now);
        if (r < 0)
                return r;
        if (!recorded) {
                r = record_delete(s, row, late ? NULL : peer, uid, err);
                if (r < 0) {
                        delete_left(s, row->id, false);
                        return -EINPROGRESS;
                }
        }
        r = cd_fault("store_delete") ? cd_err_set(err, EIO, "store: delete: injected failure")
                                     : cd_store_delete(s->store, row->id, err);
        if (r < 0 && r != -ENOENT) {
                delete_left(s, row->id, !recorded);
                return -EINPROGRESS;
        }
        row_gone(s, row->id);
        return 0;
}

/* Under job_lock. Without memory the files stay for the next start's sweep. */
static void removal_left(struct cd_service *s, const char *id)
{
        if (cd_id_set_add(&s->removals_left, id) == 0)
                atomic_store(&s->removals_pending, true);
}

/* The files go after the lock: once the row is gone no request can reach
 * them, and cancels and deletes of other jobs need not wait while a large
 * job's files (or a retention batch) are removed. Files that will not go
 * are not forgotten until the next start: the janitor tries again. */
int cd_service_delete_job(struct cd_service *s, const struct cd_job_row *row,
                          const struct cd_peer *peer, struct cd_err *err)
{
        int r;

        pthread_mutex_lock(&s->job_lock);
        r = delete_locked(s, row, peer, err);
        pthread_mutex_unlock(&s->job_lock);
        if (r < 0)
                return r;
        if (cd_jobfiles_remove(&s->files, row->id, err) == 0)
                return 0;
        pthread_mutex_lock(&s->job_lock);
        removal_left(s, row->id);
        pthread_mutex_unlock(&s->job_lock);
        return -EINPROGRESS;
}

/* The deletes left half done (marked in the store), finished one by one
 * under job_lock: recorded unless they are, their rows removed; their
 * files join the removals. Returns whether some are left. */
static bool finish_deletes(struct cd_service *s)
{
        struct cd_job_row *rows = NULL;
        struct cd_err err = { 0 };
        size_t n = 0, left = 0;

        if (cd_store_list_deleting(s->store, &rows, &n, &err) < 0) {
                cd_log_err(CD_LOG_WARN, NULL, &err);
                return true;
        }
        for (size_t i = 0; i < n; i++) {
                int r;

                pthread_mutex_lock(&s->job_lock);
                r = delete_locked(s, &rows[i], NULL, &err); /* reads the row again */
                if (r == 0)
                        (void) cd_id_set_add(&s->removals_left, rows[i].id);
                pthread_mutex_unlock(&s->job_lock);
                if (r == 0)
                        cd_log_info(rows[i].id, "msg=\"removed the row of a deleted job\"");
                else if (r != -ENOENT && left++ == 0) /* -ENOENT: another delete did */
                        cd_log_err(CD_LOG_WARN, rows[i].id, &err);
        }
        cd_job_rows_free(rows, n);
        return left > 0;
}

bool cd_service_retry_removals(struct cd_service *s)
{
        struct cd_id_set set;
        struct cd_err err = { 0 };
        bool left;

        atomic_store(&s->removals_pending, false); /* a failure after this sets it again */
        left = finish_deletes(s);
        pthread_mutex_lock(&s->job_lock);
        set = s->removals_left;
        s->removals_left = (struct cd_id_set){ 0 };
        pthread_mutex_unlock(&s->job_lock);
        for (size_t i = 0; i < set.n; i++) {
                if (cd_jobfiles_remove(&s->files, set.ids[i], &err) == 0) {
                        cd_log_info(set.ids[i], "msg=\"removed the files of a deleted job\"");
                        continue;
                }
                pthread_mutex_lock(&s->job_lock);
                removal_left(s, set.ids[i]);
                pthread_mutex_unlock(&s->job_lock);
                left = true;
        }
        cd_id_set_clear(&set);
        if (left)
                atomic_store(&s->removals_pending, true);
        return left;
}

void cd_service_drop_inputs(struct cd_service *s, const char *id)
{
        struct cd_err err = { 0 };

        /* Left for the job's delete (or retention) when it fails. */
        if (cd_jobfiles_drop_inputs(&s->files, id, &err) < 0)
                cd_log_err(CD_LOG_WARN, id, &err);
}

/* job.cancelled and job.finished in one batch: by @peer, or (NULL) by
 * cordond, finishing late what the row's cancel_uid asked for. */
static int record_cancel(struct cd_service *s, const struct cd_job_row *row,
                         const struct cd_peer *peer, struct cd_err *err)
{
        json_t *by = peer ? json_pack("{s:s}", "by", "request")
                          : json_pack("{s:s, s:I}", "by", "request", "requested_by",
                                      (json_int_t) row->cancel_uid);
        const struct cd_audit_event cancelled = {
                .event = CD_AUDIT_JOB_CANCELLED,
                .uid = peer ? peer->uid : 0,
                .role = peer ? cd_role_to_string(peer->role) : "cordond",
                .job = row->id,
                .profile = row->profile,
                .details = by,
        };
        struct cd_audit_event finished = cancelled;
        const struct cd_audit_event *ev[] = { &cancelled, &finished };
        int r;

        finished.event = CD_AUDIT_JOB_FINISHED;
        finished.verdict = "cancelled";
        finished.details = NULL;
        if (cd_fault("cancel_record"))
                r = cd_err_set(err, EIO, "audit: cancel: injected failure");
        else
                r = cd_service_audit(s, ev, 2, err);
        json_decref(by);
        return r;
}

int cd_service_finish_cancelled(struct cd_service *s, const struct cd_job_row *row,
                                const struct cd_peer *peer, struct cd_err *err)
{
        int r;

        if (!cd_id_set_has(&s->cancels_recorded, row->id)) {
                r = record_cancel(s, row, peer, err);
                if (r < 0)
                        return r;
                cd_metrics_job(&s->metrics, CD_VERDICT_CANCELLED, 0, 0);
                /* Without memory, a retry records again. */
                (void) cd_id_set_add(&s->cancels_recorded, row->id);
        }
        if (cd_fault("cancel_row"))
                r = cd_err_set(err, EIO, "store: cancel: injected failure");
        else
                r = cd_store_set_finished(s->store, row->id, "cancelled", NULL, NULL,
                                          cd_service_charge_job(s, row, 0, 0, NULL),
                                          (int64_t) cd_wall_ms(), err);
        if (r == 0 || r == -ESTALE || r == -ENOENT)
                cd_id_set_drop(&s->cancels_recorded, row->id);
        return r;
}

/* Under job_lock, on the row as it is now: 0 when finished here, 1 when
 * there is nothing left to do (a request finished or deleted it first). */
static int finish_cancel_now(struct cd_service *s, const char *id, struct cd_err *err)
{
        struct cd_job_row now = { 0 };
        int r = cd_store_get(s->store, id, &now, err);

        if (r == 0 && now.state == CD_JOB_QUEUED && now.cancel_marked)
                r = cd_service_finish_cancelled(s, &now, NULL, err); /* drops @id when done */
        else if (r == 0 || r == -ENOENT)
                r = 1;
        if (r == 1 || r == -ESTALE) {
                /* Finished or deleted by a request meanwhile. */
                cd_id_set_drop(&s->cancels_recorded, id);
                r = 1;
        }
        cd_job_row_clear(&now);
        return r;
}

bool cd_service_finish_cancels(struct cd_service *s)
{
        struct cd_job_row *rows = NULL;
        struct cd_err err = { 0 };
        size_t n = 0, left = 0;
        bool paused;

        atomic_store(&s->cancels_pending, false); /* a cancel after this sets it again */
        if (cd_store_list_cancelled(s->store, &rows, &n, &err) < 0) {
                cd_log_err(CD_LOG_WARN, NULL, &err);
                left = 1;
        }
        /* A test's window between the list and the lock (test builds only). */
        paused = n > 0 && cd_fault("janitor_pause");
        if (paused) {
                cd_log_info(NULL, "msg=\"janitor paused (fault injection)\"");
                cd_fault_wait();
        }
        for (size_t i = 0; i < n; i++) {
                int r;

                pthread_mutex_lock(&s->job_lock);
                r = finish_cancel_now(s, rows[i].id, &err);
                pthread_mutex_unlock(&s->job_lock);
                if (r == 0) {
                        cd_log_info(rows[i].id, "msg=\"cancel finished late\"");
                        cd_service_drop_inputs(s, rows[i].id);
                } else if (r < 0 && left++ == 0) {
                        cd_log_err(CD_LOG_WARN, rows[i].id, &err);
                }
        }
        cd_job_rows_free(rows, n);
        if (paused)
                cd_log_info(NULL, "msg=\"janitor done (fault injection)\"");
        if (left > 0)
                atomic_store(&s->cancels_pending, true);
        return left > 0;
}

/* The start's sweep, for each job directory: whether the store knows the
 * job. A finished job's inputs go here too, if a kill (or a failure) kept
 * them after its verdict was stored: they are the client's data, and
 * nothing serves them back. */
static bool known_job(const char *id, void *data)
{
        struct cd_service *s = data;
        struct cd_job_row row = { 0 };
        struct cd_err err;
        int r = cd_store_get(s->store, id, &row, &err);

        if (r == 0 && row.state == CD_JOB_FINISHED)
                cd_service_drop_inputs(s, id);
        cd_job_row_clear(&row);
        /* Only a definite "no such job" makes files stale. */
        return r != -ENOENT;
}

/* The kinds of rows recovery reads the log for (cd_store_list_*). */
enum kind {
        K_SUBMISSION, /* unrecorded */
        K_RUN,        /* interrupted */
        K_CANCEL,     /* cancelled */
        K_DELETE,     /* deleting */
        K_QUEUED,     /* queued: started or cancelled in the log, not in the store? */
        _K_MAX,
};

/* What the log holds of the jobs recovery settles. */
struct seen_job {
        const struct cd_job_row *row;
        enum kind kind;
        bool submitted, started, cancelled, finished, deleted;
};

struct seen {
        struct seen_job *jobs;
        size_t n;
};

/* By id: a job is in one kind only. */
static int cmp_seen(const void *a, const void *b)
{
        return strcmp(((const struct seen_job *) a)->row->id,
                      ((const struct seen_job *) b)->row->id);
}

static int note_record(const struct cd_audit_seen *r, void *data)
{
        struct seen *s = data;
        struct cd_job_row key_row = { 0 };
        struct seen_job key = { .row = &key_row }, *j;

        if (!r->job || strlen(r->job) != CD_JOB_ID_LEN)
                return 0;
        memcpy(key_row.id, r->job, CD_JOB_ID_LEN + 1);
        j = bsearch(&key, s->jobs, s->n, sizeof(*s->jobs), cmp_seen);
        if (!j)
                return 0;
        if (strcmp(r->event, CD_AUDIT_JOB_SUBMITTED) == 0)
                j->submitted = true;
        else if (strcmp(r->event, CD_AUDIT_JOB_STARTED) == 0)
                j->started = true;
        else if (strcmp(r->event, CD_AUDIT_JOB_CANCELLED) == 0)
                j->cancelled = true;
        else if (strcmp(r->event, CD_AUDIT_JOB_FINISHED) == 0)
                j->finished = true;
        else if (strcmp(r->event, CD_AUDIT_JOB_DELETED) == 0)
                j->deleted = true;
        return 0;
}

/* Read the log from the lowest audit_from of @rows on (those that have
 * one: rows from before schema 5 have none, and their records are taken as
 * missing, at worst written twice, never none). */
static int read_back(struct cd_service *s, struct seen *seen, struct cd_err *err)
{
        uint64_t from = UINT64_MAX;
        int r;

        for (size_t i = 0; i < seen->n; i++)
                if (seen->jobs[i].row->audit_from > 0 && seen->jobs[i].row->audit_from < from)
                        from = seen->jobs[i].row->audit_from;
        if (from == UINT64_MAX)
                return 0;
        pthread_mutex_lock(&s->audit_lock);
        r = cd_audit_scan(s->audit, from, note_record, seen, err);
        pthread_mutex_unlock(&s->audit_lock);
        return r < 0 ? r : 0;
}

/* A submission a stop or a failure left before its row was marked
 * recorded: the client saw no 201, so the job never runs. Its
 * job.submitted, when the log has it, is closed with job.finished
 * (rejected, not_stored), once; then the row and the files go. */
static int settle_submission(struct cd_service *s, const struct seen_job *j, struct cd_err *err)
{
        const struct cd_job_row *row = j->row;
        int r = 0;

        cd_log_warn(row->id,
                    "msg=\"a submission was interrupted; the job is removed\" "
                    "recorded=%s",
                    j->submitted ? "yes" : "no");
        if (j->submitted && !j->finished)
                r = cd_service_audit1(s, CD_AUDIT_JOB_FINISHED, NULL, row->id, row->profile,
                                      "rejected", json_pack("{s:s}", "reason", "not_stored"), err);
        if (r == 0 && cd_store_delete(s->store, row->id, err) < 0 && err->code != ENOENT)
                r = -err->code;
        if (r == 0 && cd_jobfiles_remove(&s->files, row->id, err) < 0)
                cd_log_err(CD_LOG_WARN, row->id, err); /* swept at the next start */
        return r;
}

/* A queued job whose cancel the log holds and that never started: a
 * request found it taken by a slot (its sandbox being built) and recorded
 * job.cancelled, and cordond stopped before the worker finished it. It is
 * not run: job.finished (cancelled) is written unless the log has it, then
 * the row; its inputs go. */
static int settle_cancelled(struct cd_service *s, const struct seen_job *j, struct cd_err *err)
{
        const struct cd_job_row *row = j->row;
        int r = 0;

        cd_log_warn(row->id,
                    "msg=\"cordond stopped before a cancelled job was finished; it is not run\" "
                    "recorded=%s",
                    j->finished ? "yes" : "no");
        if (!j->finished)
                r = cd_service_audit1(s, CD_AUDIT_JOB_FINISHED, NULL, row->id, row->profile,
                                      "cancelled", NULL, err);
        if (r == 0)
                r = cd_store_set_finished(s->store, row->id, "cancelled", NULL, NULL,
                                          cd_service_charge_job(s, row, 0, 0, NULL),
                                          (int64_t) cd_wall_ms(), err);
        if (r == 0)
                cd_service_drop_inputs(s, row->id);
        return r;
}

/* A cancel or a delete whose record the log holds is not recorded again
 * when cordond finishes it (cd_service_finish_cancels, _retry_removals). */
static void settle_marked(struct cd_service *s, const struct seen_job *j)
{
        struct cd_err err = { 0 };

        pthread_mutex_lock(&s->job_lock);
        if (j->kind == K_CANCEL && j->finished)
                (void) cd_id_set_add(&s->cancels_recorded, j->row->id); /* else again */
        if (j->kind == K_DELETE && j->deleted && !j->row->delete_recorded &&
            cd_store_mark_delete_recorded(s->store, j->row->id, &err) < 0)
                (void) cd_id_set_add(&s->deletes_recorded, j->row->id);
        pthread_mutex_unlock(&s->job_lock);
}

static int list_kind(struct cd_service *s, enum kind k, struct cd_job_row **rows, size_t *n,
                     struct cd_err *err)
{
        switch (k) {
        case K_SUBMISSION:
                return cd_store_list_unrecorded(s->store, rows, n, err);
        case K_RUN:
                return cd_store_list_interrupted(s->store, rows, n, err);
        case K_CANCEL:
                return cd_store_list_cancelled(s->store, rows, n, err);
        case K_DELETE:
                return cd_store_list_deleting(s->store, rows, n, err);
        case K_QUEUED:
                return cd_store_list_queued(s->store, rows, n, err);
        case _K_MAX:
                break;
        }
        return 0;
}

/* The rows of every kind, in @seen (which borrows them from @rows). */
static int gather(struct cd_service *s, struct cd_job_row *rows[_K_MAX], size_t n[_K_MAX],
                  struct seen *seen, struct cd_err *err)
{
        size_t total = 0;
        int r = 0;

        for (int k = 0; r == 0 && k < _K_MAX; k++) {
                r = list_kind(s, (enum kind) k, &rows[k], &n[k], err);
                total += n[k];
        }
        if (r == 0 && total > 0) {
                seen->jobs = calloc(total, sizeof(*seen->jobs));
                if (!seen->jobs)
                        r = cd_err_set(err, ENOMEM, "recover: out of memory");
        }
        for (int k = 0; r == 0 && k < _K_MAX; k++)
                for (size_t i = 0; i < n[k]; i++)
                        seen->jobs[seen->n++] =
                                (struct seen_job){ .row = &rows[k][i], .kind = (enum kind) k };
        if (seen->n > 1)
                qsort(seen->jobs, seen->n, sizeof(*seen->jobs), cmp_seen);
        return r;
}

/* Settle what a stop interrupted: submissions not marked recorded, jobs
 * that were running or whose verdict was being recorded, queued jobs whose
 * job.started was written (killed before they were set running: they end
 * failed, as if they had run), queued jobs whose job.cancelled was written
 * (they end cancelled, never run), and (for the janitor to finish) marked
 * cancels and deletes. Each record is written unless the log has it. The
 * log is read from the oldest of their bounds: for queued jobs, their
 * submission. */
static int settle_interrupted(struct cd_service *s, struct cd_err *err)
{
        struct cd_job_row *rows[_K_MAX] = { 0 };
        size_t n[_K_MAX] = { 0 };
        struct seen seen = { 0 };
        int r = gather(s, rows, n, &seen, err);

        if (r == 0)
                r = read_back(s, &seen, err);
        for (size_t i = 0; r == 0 && i < seen.n; i++) {
                const struct seen_job *j = &seen.jobs[i];

                if (j->kind == K_SUBMISSION)
                        r = settle_submission(s, j, err);
                else if (j->kind == K_RUN || (j->kind == K_QUEUED && j->started))
                        r = cd_service_settle_run(s, j->row, j->finished, err);
                else if (j->kind == K_QUEUED && j->cancelled)
                        r = settle_cancelled(s, j, err);
                else
                        settle_marked(s, j);
        }
        free(seen.jobs);
        for (int k = 0; k < _K_MAX; k++)
                cd_job_rows_free(rows[k], n[k]);
        return r;
}

int cd_service_recover(struct cd_service *s, struct cd_err *err)
{
        struct cd_job_row *rows = NULL;
        unsigned int failed = 0;
        size_t n = 0;
        int r;

        r = settle_interrupted(s, err);
        if (r < 0)
                return r;
        r = cd_jobfiles_sweep(&s->files, known_job, s, &failed, err);
        if (r < 0)
                return r;
        if (r > 0)
                cd_log_info(NULL, "msg=\"removed stale job files\" count=%d", r);
        /* Left for the next start; cordond runs meanwhile. */
        if (failed > 0)
                cd_log_warn(NULL, "msg=\"cannot remove stale job files\" count=%u error=\"%s\"",
                            failed, err->msg);
        (void) cd_service_finish_cancels(s); /* else left for the janitor */
        (void) cd_service_retry_removals(s); /* deletes left half done; as above */
        r = cd_store_list_queued(s->store, &rows, &n, err);
        if (r < 0)
                return r;
        /* Forced past the bounds: only out of memory fails it, and a stored
         * job left out would stay queued, unrun, until the next start. */
        for (size_t i = 0; r == 0 && i < n; i++) {
                r = cd_queue_push(s->queue, rows[i].id, rows[i].owner_uid, true);
                if (r < 0)
                        (void) cd_err_neg(err, r, "queue: requeue job %s", rows[i].id);
        }
        if (r == 0 && n > 0)
                cd_log_info(NULL, "msg=\"requeued jobs stored before the restart\" count=%zu", n);
        cd_job_rows_free(rows, n);
        return r;
}

/* One batch of expired jobs deleted. Returns how many were listed (-1 on
 * a store error); *ret_gone counts those that are gone now. */
static ssize_t expire_batch(struct cd_service *s, int64_t before, size_t *ret_gone)
{
        struct cd_job_row *rows = NULL;
        struct cd_err err = { 0 };
        size_t n = 0;

        if (cd_store_list_expired(s->store, before, EXPIRE_BATCH, &rows, &n, &err) < 0) {
                cd_log_err(CD_LOG_WARN, NULL, &err);
                return -1;
        }
        for (size_t i = 0; i < n; i++) {
                int r = cd_service_delete_job(s, &rows[i], NULL, &err);

                /* -ENOENT: a request deleted it first; -EINPROGRESS: it is
                 * marked deleted (and no longer listed as expired), and what
                 * is left of it (its record, its row, its files) is for
                 * cd_service_retry_removals. */
                if (r == 0 || r == -ENOENT || r == -EINPROGRESS)
                        (*ret_gone)++;
                if (r < 0 && r != -ENOENT)
                        cd_log_err(CD_LOG_WARN, rows[i].id, &err);
        }
        cd_job_rows_free(rows, n);
        return (ssize_t) n;
}

bool cd_service_expire(struct cd_service *s)
{
        uint64_t now = cd_wall_ms(), until = cd_now_ms() + EXPIRE_BUDGET_MS;
        ssize_t n;

        if (now < s->cfg->retention_ms)
                return false;
        /* Batch after batch until the backlog is gone: a job past its
         * retention is data kept longer than promised. A batch of which
         * nothing could be deleted ends the sweep (the next one retries). */
        for (;;) {
                size_t gone = 0;

                n = expire_batch(s, (int64_t) (now - s->cfg->retention_ms), &gone);
                if (n < (ssize_t) EXPIRE_BATCH || gone == 0)
                        return false;
                if (atomic_load(&s->stopping) || cd_now_ms() >= until)
                        return true;
        }
}

bool cd_peer_is(const struct cd_peer *peer, const struct cd_role_members *m)
{
        return cd_role_members_has(m, peer->uid, peer->gid, peer->groups, peer->n_groups);
}

bool cd_peer_may_use(const struct cd_config *cfg, const struct cd_peer *peer, const char *profile)
{
        if (peer->role == CD_ROLE_ADMIN)
                return true;
        for (size_t i = 0; i < cfg->n_profile_access; i++)
                if (strcmp(cfg->profile_access[i].profile, profile) == 0)
                        return cd_peer_is(peer, &cfg->profile_access[i].who);
        return true;
}
