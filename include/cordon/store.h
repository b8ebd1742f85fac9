/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The job store of cordond: one SQLite database (WAL, synchronous=FULL) at
 * <state_dir>/jobs.db holding every job and its state transitions. A call
 * that changes a job returns only once the change is durable: a 201 or a
 * state the API reports is never lost to a crash.
 *
 * Files of a job (inputs, stdout, stderr, artifacts) live beside it under
 * <state_dir>/jobs/<id>/ and are owned by store/jobfiles.c (jobfiles.h).
 *
 * Thread-safe: one connection guarded by a mutex inside; SQLite's own
 * serialisation is not relied on. Rows are returned as copies the caller
 * frees with cd_job_row_clear().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cordon/err.h"

#define CD_JOB_ID_LEN 32 /* hex characters of a job id (128 random bits) */

enum cd_job_state {
        CD_JOB_QUEUED,
        CD_JOB_RUNNING,
        CD_JOB_FINISHED,
        _CD_JOB_STATE_MAX,
};

/* "queued", "running", "finished"; NULL for an invalid value. */
const char *cd_job_state_to_string(enum cd_job_state s);
/* Parse a state name. Returns 0 or -EINVAL. */
int cd_job_state_from_string(const char *s, enum cd_job_state *ret);

/* One job as stored. Strings are owned by the row (NULL when not set). */
struct cd_job_row {
        int64_t seq;                /* insertion order, assigned by the store; > 0 */
        char id[CD_JOB_ID_LEN + 1]; /* lowercase hex */
        uint32_t owner_uid;         /* the peer uid that submitted it */
        char *profile;              /* profile name */
        enum cd_job_state state;
        char *verdict;      /* finished only: "ok", "failed", ..., see result.h */
        char *reason;       /* finished only, optional: "supervisor_restart", ... */
        int64_t created_ms; /* Unix time in milliseconds */
        int64_t started_ms; /* 0 until running */
        int64_t finished_ms;
        char *request_json;    /* the validated request (JSON text), as the API stored it */
        char *labels_json;     /* JSON object of string labels, "{}" when none */
        char *result_json;     /* finished only: the result (JSON text), NULL otherwise */
        uint64_t stored_bytes; /* written by insert and set_finished, not read back into rows */
        bool cancel_marked;    /* queued, its cancel stored but not finished */
        uint32_t cancel_uid;   /* who asked, when cancel_marked */
        bool delete_marked;    /* finished, its delete stored but not done */
        int64_t delete_uid;    /* who asked, when delete_marked; CD_STORE_DELETE_RETENTION */
        bool delete_recorded;  /* delete_marked, and its job.deleted is in the audit log */
        /* A seq at or below that of any audit record about the job written
         * since its row last changed (cd_audit_mark()); 0: unknown. */
        uint64_t audit_from;
        /* Its job.submitted is not known to be in the log: the row is gone
         * for the API until cd_store_mark_submit_recorded(). */
        bool submit_unrecorded;
        /* Not finished yet: its verdict, stored before job.finished is
         * recorded (cd_store_set_finishing); NULL otherwise. */
        char *finish_json;
};

/* delete_uid of a delete that retention asked for, not a peer. */
#define CD_STORE_DELETE_RETENTION (-1)

/* Free the strings of @row and zero it. Accepts a zeroed row. */
void cd_job_row_clear(struct cd_job_row *row);
/* Clear and free an array of @n rows. Accepts NULL. */
void cd_job_rows_free(struct cd_job_row *rows, size_t n);

struct cd_store;

/*
 * Open (creating when missing) the database <@state_dir_fd>/jobs.db,
 * mode 0600, refusing a symlink or anything but a regular file there.
 * Sets WAL and synchronous=FULL, creates or checks the schema (a newer
 * schema version than this build knows is refused with a message).
 * Returns 0 and the store, or -errno with @err: -ELOOP (jobs.db, or a
 * directory on its path, is a symlink), -EINVAL (jobs.db or its -wal, -shm
 * or -journal is not a regular file), -EPERM (not owned by the caller, or
 * hard-linked), -ENOTSUP (a newer or foreign schema, or no WAL), -EIO
 * (not a database). @state_dir_fd may be O_PATH; it is not kept.
 */
int cd_store_open(int state_dir_fd, struct cd_store **ret, struct cd_err *err);
/* Close; accepts NULL; returns NULL. */
struct cd_store *cd_store_close(struct cd_store *s);

/*
 * Insert a new job in state "queued": @row's id, owner_uid, profile,
 * created_ms, request_json, labels_json (NULL: "{}"), stored_bytes,
 * audit_from and submit_unrecorded are used; row->seq is set on return. Durable when it returns 0. With
 * @quota > 0, refused with -CD_E_QUOTA when the stored_bytes of the
 * owner's jobs and this one's would add up to more, checked in the same
 * transaction as the insert. -EEXIST if the id is taken; -EINVAL for an
 * id that is not CD_JOB_ID_LEN lowercase hex, no profile or request, or
 * labels/request that are not JSON (labels: an object). Any failure
 * stores nothing. Errors of every call below: -ENOSPC (disk full), -EBUSY
 * (another process held the database for busy_timeout, 5 s), -ENOMEM,
 * -EIO (anything else SQLite reports).
 */
int cd_store_insert(struct cd_store *s, struct cd_job_row *row, uint64_t quota, struct cd_err *err);

/* The stored_bytes of every job of @owner, added up. */
int cd_store_owner_bytes(struct cd_store *s, uint32_t owner, uint64_t *ret, struct cd_err *err);

/* The job @id into *@ret (cleared first: *@ret must be zeroed or hold a
 * row). -ENOENT when there is none, also for a malformed id. */
int cd_store_get(struct cd_store *s, const char *id, struct cd_job_row *ret, struct cd_err *err);

/* queued -> running, at @started_ms, its job.started at or after seq
 * @audit_from (which the row keeps). -ENOENT when there is no such job,
 * -ESTALE when it is not queued. */
int cd_store_set_running(struct cd_store *s, const char *id, int64_t started_ms,
                         uint64_t audit_from, struct cd_err *err);
/*
 * Keep @finish_json (JSON: what is about to be recorded as the job's
 * verdict) on queued or running job @id, durably, before its job.finished
 * is written: recovery finishes the job with it rather than fail it or run
 * it again. cd_store_set_finished() clears it. -ESTALE when the job is
 * finished, -ENOENT when there is none, -EINVAL when it is not JSON.
 */
int cd_store_set_finishing(struct cd_store *s, const char *id, const char *finish_json,
                           struct cd_err *err);

/*
 * queued or running -> finished, with @verdict, @reason (NULL: none),
 * @result_json (NULL: none) and the bytes its files hold now (which
 * replace what the insert counted). -ENOENT when there is none, -ESTALE
 * when the job is already finished (the first verdict stays).
 */
int cd_store_set_finished(struct cd_store *s, const char *id, const char *verdict,
                          const char *reason, const char *result_json, uint64_t stored_bytes,
                          int64_t finished_ms, struct cd_err *err);

/* Remove the job and its transitions. -ENOENT when there is none. */
int cd_store_delete(struct cd_store *s, const char *id, struct cd_err *err);

/* What cd_store_list() returns. Zero values mean "any". */
struct cd_store_filter {
        bool by_owner;
        uint32_t owner_uid;
        bool by_state;
        enum cd_job_state state;
        const char *label_key; /* with label_value: labels_json has key == value;
                                * a key outside [a-z0-9_.-]{1,64} is -EINVAL */
        const char *label_value;
        /* Paging: only jobs before this one in the list's order, that is
         * with (created_ms, id) < (before_created_ms, before_id); it need
         * not exist. before_id NULL: from the newest. */
        int64_t before_created_ms;
        const char *before_id;
        size_t limit; /* at most this many; 0: 100 */
};

/* Jobs matching @f, newest (highest created_ms, then highest id) first, their result_json without
 * "artifacts", leaving out jobs marked deleted and unrecorded submissions. *@ret is NULL when none. */
int cd_store_list(struct cd_store *s, const struct cd_store_filter *f, struct cd_job_row **ret,
                  size_t *n, struct cd_err *err);

/* Every queued job, oldest first (restart: they run again in order),
 * except those marked cancelled, unrecorded submissions and those holding
 * a finish. */
int cd_store_list_queued(struct cd_store *s, struct cd_job_row **ret, size_t *n,
                         struct cd_err *err);

/* Mark queued job @id cancelled at the request of @uid (the first one to
 * ask stays), durably, before its cancel is recorded and finished: from
 * then on it is never set running, nor listed by cd_store_list_queued, but
 * by cd_store_list_cancelled until it finishes. -ESTALE when it is not
 * queued, -ENOENT when there is no such job. */
int cd_store_mark_cancelled(struct cd_store *s, const char *id, uint32_t uid, struct cd_err *err);

/* Queued jobs marked cancelled, oldest first: cancels left half done. */
int cd_store_list_cancelled(struct cd_store *s, struct cd_job_row **ret, size_t *n,
                            struct cd_err *err);

/* Jobs a stop may have interrupted, oldest first: every running job, and
 * every queued one that holds a finish (it failed before it started).
 * Restart recovery finishes them. */
int cd_store_list_interrupted(struct cd_store *s, struct cd_job_row **ret, size_t *n,
                              struct cd_err *err);
/* Job @id's job.submitted is in the audit log: from now on the API, lists
 * and the queue see it. -ENOENT when there is no such job waiting for it. */
int cd_store_mark_submit_recorded(struct cd_store *s, const char *id, struct cd_err *err);
/* Jobs inserted with submit_unrecorded and never marked recorded, oldest
 * first: submissions that a crash or a failure left half done. */
int cd_store_list_unrecorded(struct cd_store *s, struct cd_job_row **ret, size_t *n,
                             struct cd_err *err);

/* Finished jobs with finished_ms < @before_ms (retention), oldest first, at most @limit
 * (0: 100), leaving out jobs marked deleted (cd_store_list_deleting has them). */
int cd_store_list_expired(struct cd_store *s, int64_t before_ms, size_t limit,
                          struct cd_job_row **ret, size_t *n, struct cd_err *err);

/*
 * Mark finished job @id deleted at the request of @uid (a peer's uid, or
 * CD_STORE_DELETE_RETENTION; the first one to ask stays), durably, before
 * its delete is recorded: from then on cd_store_list and
 * cd_store_count_states leave it out, cd_store_get returns it with
 * delete_marked, and cd_store_list_deleting lists it until cd_store_delete
 * removes it. The first mark also keeps @audit_from (cd_audit_mark(),
 * taken before job.deleted is written). -ESTALE when it is not finished,
 * -ENOENT when there is none, -EINVAL for a uid or seq out of range.
 */
int cd_store_mark_deleted(struct cd_store *s, const char *id, int64_t uid, uint64_t audit_from,
                          struct cd_err *err);

/* Marked job @id's job.deleted is in the audit log (its row could not be
 * removed after the record). -ENOENT when there is no such marked job. */
int cd_store_mark_delete_recorded(struct cd_store *s, const char *id, struct cd_err *err);

/* Jobs marked deleted, oldest first: deletes left half done. */
int cd_store_list_deleting(struct cd_store *s, struct cd_job_row **ret, size_t *n,
                           struct cd_err *err);

/* Number of jobs in each state (metrics, health), leaving out jobs marked
 * deleted and unrecorded submissions. */
int cd_store_count_states(struct cd_store *s, uint64_t counts[_CD_JOB_STATE_MAX],
                          struct cd_err *err);
