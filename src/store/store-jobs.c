/* SPDX-License-Identifier: MIT */
/*
 * Job rows: insert, state changes, delete, lookups and lists (store.h).
 * Every public call holds the store's mutex from start to end; every
 * change is one BEGIN IMMEDIATE ... COMMIT that also writes the job's row
 * in transitions, so a state and its history never disagree.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "store-internal.h"

#define HEX        "0123456789abcdef"
#define LABEL_KEYS "abcdefghijklmnopqrstuvwxyz0123456789_.-"

static bool id_is_valid(const char *id)
{
        return id && strnlen(id, CD_JOB_ID_LEN + 1) == CD_JOB_ID_LEN &&
               strspn(id, HEX) == CD_JOB_ID_LEN;
}

/* The API allows [a-z0-9_.-]{1,64}. The key is spliced into a JSON path
 * ('$."<key>"'), so a quote or backslash must never get that far. */
static bool label_key_is_valid(const char *key)
{
        size_t n = strnlen(key, STORE_LABEL_KEY_MAX + 1);

        return n >= 1 && n <= STORE_LABEL_KEY_MAX && strspn(key, LABEL_KEYS) == n;
}

static int bind_text(struct cd_store *s, sqlite3_stmt *st, const char *name, const char *v,
                     struct cd_err *err)
{
        int i = sqlite3_bind_parameter_index(st, name);
        int rc;

        if (i <= 0) /* unreachable: the statements name their parameters */
                return cd_err_set(err, EIO, "store: no parameter %s", name);
        /* SQLITE_STATIC: @v outlives the statement's use, which ends in this call. */
        rc = v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
        return rc == SQLITE_OK ? 0 : store_sql_err(s, rc, err, "bind %s", name);
}

static int bind_int(struct cd_store *s, sqlite3_stmt *st, const char *name, int64_t v,
                    struct cd_err *err)
{
        int i = sqlite3_bind_parameter_index(st, name);
        int rc;

        if (i <= 0) /* unreachable, as above */
                return cd_err_set(err, EIO, "store: no parameter %s", name);
        rc = sqlite3_bind_int64(st, i, v);
        return rc == SQLITE_OK ? 0 : store_sql_err(s, rc, err, "bind %s", name);
}

/* Sizes past 2^63 cannot exist on a file system; the column is signed. */
static int64_t clamp_bytes(uint64_t v)
{
        return v > INT64_MAX ? INT64_MAX : (int64_t) v;
}

static int64_t limit_of(size_t limit)
{
        if (limit == 0)
                return STORE_LIST_DEFAULT;
        return limit > INT64_MAX ? INT64_MAX : (int64_t) limit;
}

static int column_dup(sqlite3_stmt *st, int col, bool nullable, char **ret, struct cd_err *err)
{
        const unsigned char *text;
        size_t len;
        char *p;

        if (sqlite3_column_type(st, col) == SQLITE_NULL) {
                if (!nullable) /* unreachable: NOT NULL columns of a STRICT table */
                        return cd_err_set(err, EIO, "store: %s is NULL in a stored job",
                                          sqlite3_column_name(st, col));
                *ret = NULL;
                return 0;
        }
        text = sqlite3_column_text(st, col);
        if (!text)
                return cd_err_set(err, ENOMEM, "store: out of memory");
        len = (size_t) sqlite3_column_bytes(st, col);
        p = malloc(len + 1);
        if (!p)
                return cd_err_set(err, ENOMEM, "store: out of memory");
        memcpy(p, text, len);
        p[len] = '\0';
        *ret = p;
        return 0;
}

/* The STORE_JOB_COLUMNS of @st's current row into @row (zeroed). On
 * failure @row may hold some strings: the caller clears it. */
static int read_row(sqlite3_stmt *st, struct cd_job_row *row, struct cd_err *err)
{
        const char *id = (const char *) sqlite3_column_text(st, 1);
        const char *state = (const char *) sqlite3_column_text(st, 4);
        int64_t owner = sqlite3_column_int64(st, 2);
        int r;

        row->seq = sqlite3_column_int64(st, 0);
        if (!id_is_valid(id) || owner < 0 || owner > UINT32_MAX ||
            cd_job_state_from_string(state, &row->state) < 0)
                return cd_err_set(err, EIO, "store: job seq %lld is malformed in " STORE_DB_FILE,
                                  (long long) row->seq);
        memcpy(row->id, id, CD_JOB_ID_LEN + 1);
        row->owner_uid = (uint32_t) owner;
        row->created_ms = sqlite3_column_int64(st, 7);
        row->started_ms = sqlite3_column_int64(st, 8);
        row->finished_ms = sqlite3_column_int64(st, 9);
        if (sqlite3_column_type(st, 12) != SQLITE_NULL) {
                row->cancel_marked = true;
                row->cancel_uid = (uint32_t) sqlite3_column_int64(st, 12); /* CHECKed */
        }
        if (sqlite3_column_type(st, 13) != SQLITE_NULL) {
                row->delete_marked = true;
                row->delete_uid = sqlite3_column_int64(st, 13); /* CHECKed */
                row->delete_recorded = sqlite3_column_int64(st, 14) != 0;
        }
        row->audit_from = (uint64_t) sqlite3_column_int64(st, 15); /* CHECKed >= 0 */
        row->submit_unrecorded = sqlite3_column_int64(st, 16) == 0;
        r = column_dup(st, 3, false, &row->profile, err);
        if (r >= 0)
                r = column_dup(st, 5, true, &row->verdict, err);
        if (r >= 0)
                r = column_dup(st, 6, true, &row->reason, err);
        if (r >= 0)
                r = column_dup(st, 10, false, &row->request_json, err);
        if (r >= 0)
                r = column_dup(st, 11, false, &row->labels_json, err);
        if (r >= 0)
                r = column_dup(st, 17, true, &row->finish_json, err);
        if (r >= 0)
                r = column_dup(st, 18, true, &row->result_json, err);
        return r;
}

static int grow_rows(struct cd_job_row **rows, size_t *alloc, size_t need, struct cd_err *err)
{
        struct cd_job_row *n;
        size_t na;

        if (need <= *alloc)
                return 0;
        if (__builtin_mul_overflow(*alloc ? *alloc : 8, (size_t) 2, &na))
                return cd_err_set(err, ENOMEM, "store: out of memory");
        n = reallocarray(*rows, na, sizeof(*n));
        if (!n)
                return cd_err_set(err, ENOMEM, "store: out of memory");
        *rows = n;
        *alloc = na;
        return 0;
}

/* Every row @st returns, in its order. *@ret is NULL when there is none. */
static int collect_rows(struct cd_store *s, sqlite3_stmt *st, struct cd_job_row **ret, size_t *n,
                        struct cd_err *err)
{
        struct cd_job_row *rows = NULL;
        size_t count = 0, alloc = 0;
        int rc = SQLITE_DONE, r = 0;

        while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = grow_rows(&rows, &alloc, count + 1, err);
                if (r < 0)
                        break;
                memset(&rows[count], 0, sizeof(rows[count]));
                /* Counted before reading, so that a half-read row is freed too. */
                r = read_row(st, &rows[count++], err);
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = store_sql_err(s, rc, err, "list jobs");
        if (r < 0) {
                cd_job_rows_free(rows, count);
                return r;
        }
        *ret = rows;
        *n = count;
        return 0;
}

static int add_transition(struct cd_store *s, int64_t seq, enum cd_job_state state,
                          const char *verdict, int64_t at_ms, struct cd_err *err)
{
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_INSERT_TRANSITION];
        int r;

        r = bind_int(s, st, ":seq", seq, err);
        if (r >= 0)
                r = bind_text(s, st, ":state", cd_job_state_to_string(state), err);
        if (r >= 0)
                r = bind_text(s, st, ":verdict", verdict, err);
        if (r >= 0)
                r = bind_int(s, st, ":at", at_ms, err);
        if (r >= 0)
                r = store_step_done(s, st, err, "record a transition");
        return r;
}

static int check_new_row(const struct cd_job_row *row, struct cd_err *err)
{
        if (!row || !id_is_valid(row->id))
                return cd_err_set(err, EINVAL,
                                  "store: insert: a job id must be %d lowercase hex "
                                  "characters",
                                  CD_JOB_ID_LEN);
        if (!row->profile || !row->request_json)
                return cd_err_set(err, EINVAL, "store: insert job %s: no profile or request",
                                  row->id);
        return 0;
}

static int insert_job(struct cd_store *s, const struct cd_job_row *row, int64_t *ret_seq,
                      struct cd_err *err)
{
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_INSERT_JOB];
        int r, rc;

        r = bind_text(s, st, ":id", row->id, err);
        if (r >= 0)
                r = bind_int(s, st, ":owner", row->owner_uid, err);
        if (r >= 0)
                r = bind_text(s, st, ":profile", row->profile, err);
        if (r >= 0)
                r = bind_int(s, st, ":created", row->created_ms, err);
        if (r >= 0)
                r = bind_text(s, st, ":request", row->request_json, err);
        if (r >= 0)
                r = bind_text(s, st, ":labels", row->labels_json ? row->labels_json : "{}", err);
        if (r >= 0)
                r = bind_int(s, st, ":bytes", clamp_bytes(row->stored_bytes), err);
        if (r >= 0)
                r = bind_int(s, st, ":from", (int64_t) row->audit_from, err);
        if (r >= 0)
                r = bind_int(s, st, ":recorded", !row->submit_unrecorded, err);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                return cd_err_set(err, EEXIST, "store: job %s exists already", row->id);
        if (rc == SQLITE_CONSTRAINT_CHECK)
                return store_sql_err(s, rc, err,
                                     "insert job %s (labels must be a JSON object, the request "
                                     "and result JSON)",
                                     row->id);
        if (rc != SQLITE_DONE)
                return store_sql_err(s, rc, err, "insert job %s", row->id);
        *ret_seq = sqlite3_last_insert_rowid(s->db);
        return 0;
}

/* In a transaction or under the lock: what @owner's jobs hold. */
static int owner_bytes(struct cd_store *s, uint32_t owner, uint64_t *ret, struct cd_err *err)
{
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_OWNER_BYTES];
        int r, rc;

        r = bind_int(s, st, ":owner", owner, err);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return store_sql_err(s, rc, err, "add up the bytes of owner %u", owner);
        *ret = (uint64_t) sqlite3_column_int64(st, 0);
        return 0;
}

int cd_store_owner_bytes(struct cd_store *s, uint32_t owner, uint64_t *ret, struct cd_err *err)
{
        cleanup_with(store_unlockp) __attribute__((unused)) struct cd_store *locked = store_lock(s);

        return owner_bytes(s, owner, ret, err);
}

/* In the insert's transaction, so that two submissions cannot both pass. */
static int check_quota(struct cd_store *s, const struct cd_job_row *row, uint64_t quota,
                       struct cd_err *err)
{
        uint64_t held = 0;
        int r;

        if (quota == 0)
                return 0;
        r = owner_bytes(s, row->owner_uid, &held, err);
        if (r < 0)
                return r;
        if (held > quota || row->stored_bytes > quota - held)
                return cd_err_set(err, CD_E_QUOTA,
                                  "store: owner %u's jobs hold %llu bytes; %llu more is over "
                                  "the quota of %llu",
                                  row->owner_uid, (unsigned long long) held,
                                  (unsigned long long) row->stored_bytes,
                                  (unsigned long long) quota);
        return 0;
}

int cd_store_insert(struct cd_store *s, struct cd_job_row *row, uint64_t quota, struct cd_err *err)
{
        cleanup_with(store_unlockp) struct cd_store *locked = NULL;
        int64_t seq = 0;
        int r;

        r = check_new_row(row, err);
        if (r < 0)
                return r;
        locked = store_lock(s);
        r = store_begin(s, err);
        if (r < 0)
                return r;
        r = check_quota(s, row, quota, err);
        if (r >= 0)
                r = insert_job(s, row, &seq, err);
        if (r >= 0)
                r = add_transition(s, seq, CD_JOB_QUEUED, NULL, row->created_ms, err);
        r = store_end(s, r, err);
        if (r < 0)
                return r;
        row->seq = seq;
        return 0;
}

int cd_store_get(struct cd_store *s, const char *id, struct cd_job_row *ret, struct cd_err *err)
{
        cleanup_with(store_unlockp) struct cd_store *locked = NULL;
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = NULL;
        struct cd_job_row row = { 0 };
        int r, rc;

        cd_job_row_clear(ret);
        /* Insert refuses any other id, so no such job can exist. */
        if (!id_is_valid(id))
                return cd_err_set(err, ENOENT, "store: no such job (malformed id)");
        locked = store_lock(s);
        st = s->stmt[STMT_GET];
        r = bind_text(s, st, ":id", id, err);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return cd_err_set(err, ENOENT, "store: no job %s", id);
        if (rc != SQLITE_ROW)
                return store_sql_err(s, rc, err, "get job %s", id);
        r = read_row(st, &row, err);
        if (r < 0) {
                cd_job_row_clear(&row);
                return r;
        }
        *ret = row;
        return 0;
}

/* In a transaction: the seq and state of job @id. */
static int lookup_state(struct cd_store *s, const char *id, int64_t *ret_seq,
                        enum cd_job_state *ret_state, struct cd_err *err)
{
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_GET_STATE];
        int r, rc;

        if (!id_is_valid(id))
                return cd_err_set(err, ENOENT, "store: no such job (malformed id)");
        r = bind_text(s, st, ":id", id, err);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return cd_err_set(err, ENOENT, "store: no job %s", id);
        if (rc != SQLITE_ROW)
                return store_sql_err(s, rc, err, "look up job %s", id);
        if (cd_job_state_from_string((const char *) sqlite3_column_text(st, 1), ret_state) < 0)
                return cd_err_set(err, EIO, "store: job %s has an unknown state", id);
        *ret_seq = sqlite3_column_int64(st, 0);
        return 0;
}

/* In a transaction: the seq of job @id, which must be queued (-ESTALE if not). */
static int queued_seq(struct cd_store *s, const char *id, int64_t *ret_seq, struct cd_err *err)
{
        enum cd_job_state state;
        int r = lookup_state(s, id, ret_seq, &state, err);

        if (r == 0 && state != CD_JOB_QUEUED)
                r = cd_err_set(err, ESTALE, "store: job %s is %s, not queued", id,
                               cd_job_state_to_string(state));
        return r;
}

/* Step an UPDATE of one job that lookup_state() just found in the right state. */
static int update_one(struct cd_store *s, sqlite3_stmt *st, const char *id, struct cd_err *err)
{
        int r = store_step_done(s, st, err, "update job");

        if (r < 0)
                return r;
        if (sqlite3_changes(s->db) != 1) /* unreachable: checked in this transaction */
                return cd_err_set(err, EIO, "store: job %s changed under the write lock", id);
        return 0;
}

static int set_running(struct cd_store *s, const char *id, int64_t started_ms, uint64_t audit_from,
                       struct cd_err *err)
{
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_SET_RUNNING];
        int64_t seq;
        int r = queued_seq(s, id, &seq, err);

        if (r < 0)
                return r;
        r = bind_int(s, st, ":seq", seq, err);
        if (r >= 0)
                r = bind_int(s, st, ":at", started_ms, err);
        if (r >= 0)
                r = bind_int(s, st, ":from", (int64_t) audit_from, err);
        if (r >= 0)
                r = store_step_done(s, st, err, "update job");
        if (r >= 0 && sqlite3_changes(s->db) != 1)
                return cd_err_set(err, ESTALE, "store: job %s was cancelled", id);
        if (r >= 0)
                r = add_transition(s, seq, CD_JOB_RUNNING, NULL, started_ms, err);
        return r;
}

int cd_store_set_running(struct cd_store *s, const char *id, int64_t started_ms,
                         uint64_t audit_from, struct cd_err *err)
{
        cleanup_with(store_unlockp) __attribute__((unused)) struct cd_store *locked = store_lock(s);
        int r;

        r = store_begin(s, err);
        if (r < 0)
                return r;
        if (audit_from > INT64_MAX)
                return store_end(s, cd_err_set(err, EINVAL, "store: audit seq out of range"), err);
        return store_end(s, set_running(s, id, started_ms, audit_from, err), err);
}

static int mark_cancelled(struct cd_store *s, const char *id, uint32_t uid, struct cd_err *err)
{
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_MARK_CANCELLED];
        int64_t seq;
        int r = queued_seq(s, id, &seq, err);

        if (r < 0)
                return r;
        r = bind_int(s, st, ":seq", seq, err);
        if (r >= 0)
                r = bind_int(s, st, ":uid", uid, err);
        return r < 0 ? r : update_one(s, st, id, err);
}

int cd_store_mark_cancelled(struct cd_store *s, const char *id, uint32_t uid, struct cd_err *err)
{
        cleanup_with(store_unlockp) __attribute__((unused)) struct cd_store *locked = store_lock(s);
        int r;

        if (cd_fault("store_mark_cancelled"))
                return cd_err_set(err, EIO, "store: mark cancelled: injected failure");
        r = store_begin(s, err);
        if (r < 0)
                return r;
        return store_end(s, mark_cancelled(s, id, uid, err), err);
}

struct finish {
        const char *verdict;
        const char *reason;
        const char *result_json;
        uint64_t stored_bytes;
        int64_t at_ms;
};

static int set_finished(struct cd_store *s, const char *id, const struct finish *f,
                        struct cd_err *err)
{
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_SET_FINISHED];
        enum cd_job_state state;
        int64_t seq;
        int r;

        r = lookup_state(s, id, &seq, &state, err);
        if (r < 0)
                return r;
        if (state == CD_JOB_FINISHED)
                return cd_err_set(err, ESTALE, "store: job %s is finished already", id);
        r = bind_int(s, st, ":seq", seq, err);
        if (r >= 0)
                r = bind_text(s, st, ":verdict", f->verdict, err);
        if (r >= 0)
                r = bind_text(s, st, ":reason", f->reason, err);
        if (r >= 0)
                r = bind_text(s, st, ":result", f->result_json, err);
        if (r >= 0)
                r = bind_int(s, st, ":bytes", clamp_bytes(f->stored_bytes), err);
        if (r >= 0)
                r = bind_int(s, st, ":at", f->at_ms, err);
        if (r >= 0)
                r = update_one(s, st, id, err);
        if (r >= 0)
                r = add_transition(s, seq, CD_JOB_FINISHED, f->verdict, f->at_ms, err);
        return r;
}

int cd_store_set_finished(struct cd_store *s, const char *id, const char *verdict,
                          const char *reason, const char *result_json, uint64_t stored_bytes,
                          int64_t finished_ms, struct cd_err *err)
{
        cleanup_with(store_unlockp) struct cd_store *locked = NULL;
        const struct finish f = { verdict, reason, result_json, stored_bytes, finished_ms };
        int r;

        if (!verdict || !verdict[0])
                return cd_err_set(err, EINVAL, "store: finish job: no verdict");
        locked = store_lock(s);
        r = store_begin(s, err);
        if (r < 0)
                return r;
        return store_end(s, set_finished(s, id, &f, err), err);
}

static int set_finishing(struct cd_store *s, const char *id, const char *finish_json,
                         struct cd_err *err)
{
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_SET_FINISHING];
        enum cd_job_state state;
        int64_t seq;
        int r = lookup_state(s, id, &seq, &state, err);

        if (r == 0 && state == CD_JOB_FINISHED)
                r = cd_err_set(err, ESTALE, "store: job %s is finished already", id);
        if (r >= 0)
                r = bind_int(s, st, ":seq", seq, err);
        if (r >= 0)
                r = bind_text(s, st, ":finish", finish_json, err);
        if (r >= 0)
                r = update_one(s, st, id, err);
        if (r == -EINVAL)
                r = cd_err_set(err, EINVAL, "store: job %s: its finish is not JSON", id);
        return r;
}

int cd_store_set_finishing(struct cd_store *s, const char *id, const char *finish_json,
                           struct cd_err *err)
{
        cleanup_with(store_unlockp) struct cd_store *locked = NULL;
        int r;

        if (!finish_json)
                return cd_err_set(err, EINVAL, "store: set finishing: no finish");
        if (cd_fault("store_set_finishing"))
                return cd_err_set(err, EIO, "store: set finishing: injected failure");
        locked = store_lock(s);
        r = store_begin(s, err);
        if (r < 0)
                return r;
        return store_end(s, set_finishing(s, id, finish_json, err), err);
}

static int mark_deleted(struct cd_store *s, const char *id, int64_t uid, uint64_t audit_from,
                        struct cd_err *err)
{
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_MARK_DELETED];
        enum cd_job_state state;
        int64_t seq;
        int r = lookup_state(s, id, &seq, &state, err);

        if (r < 0)
                return r;
        if (state != CD_JOB_FINISHED)
                return cd_err_set(err, ESTALE, "store: job %s is %s, not finished", id,
                                  cd_job_state_to_string(state));
        r = bind_int(s, st, ":seq", seq, err);
        if (r >= 0)
                r = bind_int(s, st, ":uid", uid, err);
        if (r >= 0)
                r = bind_int(s, st, ":from", (int64_t) audit_from, err);
        return r < 0 ? r : update_one(s, st, id, err);
}

int cd_store_mark_deleted(struct cd_store *s, const char *id, int64_t uid, uint64_t audit_from,
                          struct cd_err *err)
{
        cleanup_with(store_unlockp) __attribute__((unused)) struct cd_store *locked = store_lock(s);
        int r;

        if (uid < CD_STORE_DELETE_RETENTION || uid > UINT32_MAX)
                return cd_err_set(err, EINVAL, "store: mark deleted: uid %lld out of range",
                                  (long long) uid);
        if (audit_from > INT64_MAX)
                return cd_err_set(err, EINVAL, "store: mark deleted: audit seq out of range");
        if (cd_fault("store_mark_deleted"))
                return cd_err_set(err, EIO, "store: mark deleted: injected failure");
        r = store_begin(s, err);
        if (r < 0)
                return r;
        return store_end(s, mark_deleted(s, id, uid, audit_from, err), err);
}

/* @which, an UPDATE of the row :id, changed one row, or says it is
 * @missing ("no job <id> <missing>"). */
static int update_row(struct cd_store *s, int which, const char *id, const char *what,
                      const char *missing, struct cd_err *err)
{
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[which];
        int r = bind_text(s, st, ":id", id, err);

        if (r >= 0)
                r = store_step_done(s, st, err, what);
        if (r >= 0 && sqlite3_changes(s->db) == 0)
                r = cd_err_set(err, ENOENT, "store: no job %s %s", id, missing);
        return r;
}

/* A mark that a step's audit record is written, in a transaction of its own. */
static int mark_recorded(struct cd_store *s, int which, const char *id, const char *fault,
                         const char *what, const char *missing, struct cd_err *err)
{
        cleanup_with(store_unlockp) __attribute__((unused)) struct cd_store *locked = store_lock(s);
        int r;

        if (!id_is_valid(id))
                return cd_err_set(err, ENOENT, "store: no such job (malformed id)");
        if (cd_fault(fault))
                return cd_err_set(err, EIO, "store: %s: injected failure", what);
        r = store_begin(s, err);
        if (r < 0)
                return r;
        return store_end(s, update_row(s, which, id, what, missing, err), err);
}

int cd_store_mark_delete_recorded(struct cd_store *s, const char *id, struct cd_err *err)
{
        return mark_recorded(s, STMT_MARK_DELETE_RECORDED, id, "store_mark_delete_recorded",
                             "mark a delete recorded", "marked deleted", err);
}

int cd_store_mark_submit_recorded(struct cd_store *s, const char *id, struct cd_err *err)
{
        return mark_recorded(s, STMT_MARK_SUBMIT_RECORDED, id, "store_mark_submit_recorded",
                             "mark a submission recorded", "waiting for its record", err);
}

/* Every row @which (a SELECT without parameters) gives. */
static int list_all(struct cd_store *s, int which, struct cd_job_row **ret, size_t *n,
                    struct cd_err *err)
{
        cleanup_with(store_unlockp) __attribute__((unused)) struct cd_store *locked = store_lock(s);
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[which];

        return collect_rows(s, st, ret, n, err);
}

int cd_store_list_deleting(struct cd_store *s, struct cd_job_row **ret, size_t *n,
                           struct cd_err *err)
{
        return list_all(s, STMT_LIST_DELETING, ret, n, err);
}

static int delete_job(struct cd_store *s, const char *id, struct cd_err *err)
{
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_DELETE];
        int r;

        r = bind_text(s, st, ":id", id, err);
        if (r >= 0)
                r = store_step_done(s, st, err, "delete job");
        if (r < 0)
                return r;
        /* The transitions go with it: ON DELETE CASCADE, foreign_keys=ON. */
        if (sqlite3_changes(s->db) == 0)
                return cd_err_set(err, ENOENT, "store: no job %s", id);
        return 0;
}

int cd_store_delete(struct cd_store *s, const char *id, struct cd_err *err)
{
        cleanup_with(store_unlockp) struct cd_store *locked = NULL;
        int r;

        if (!id_is_valid(id))
                return cd_err_set(err, ENOENT, "store: no such job (malformed id)");
        locked = store_lock(s);
        r = store_begin(s, err);
        if (r < 0)
                return r;
        return store_end(s, delete_job(s, id, err), err);
}

static int check_filter(const struct cd_store_filter *f, unsigned int *ret_variant,
                        struct cd_err *err)
{
        unsigned int v = 0;

        if (f->by_owner)
                v |= LIST_BY_OWNER;
        if (f->by_state) {
                if (!cd_job_state_to_string(f->state))
                        return cd_err_set(err, EINVAL, "store: list: invalid state %d",
                                          (int) f->state);
                v |= LIST_BY_STATE;
        }
        if (f->label_key || f->label_value) {
                /* The key is user input: refuse it without repeating it. */
                if (!f->label_key || !f->label_value || !label_key_is_valid(f->label_key))
                        return cd_err_set(err, EINVAL,
                                          "store: list: a label filter needs a key of "
                                          "[a-z0-9_.-]{1,%d} and a value",
                                          STORE_LABEL_KEY_MAX);
                v |= LIST_BY_LABEL;
        }
        if (f->before_id && (f->before_created_ms < 0 || !id_is_valid(f->before_id)))
                return cd_err_set(err, EINVAL, "store: list: invalid paging position");
        *ret_variant = v;
        return 0;
}

static int bind_filter(struct cd_store *s, sqlite3_stmt *st, const struct cd_store_filter *f,
                       unsigned int v, struct cd_err *err)
{
        int r;

        /* From the newest: every stored created_ms is below INT64_MAX. */
        r = bind_int(s, st, ":before_ms", f->before_id ? f->before_created_ms : INT64_MAX, err);
        if (r >= 0)
                r = bind_text(s, st, ":before_id", f->before_id ? f->before_id : "", err);
        if (r >= 0)
                r = bind_int(s, st, ":limit", limit_of(f->limit), err);
        if (r >= 0 && (v & LIST_BY_OWNER))
                r = bind_int(s, st, ":owner", f->owner_uid, err);
        if (r >= 0 && (v & LIST_BY_STATE))
                r = bind_text(s, st, ":state", cd_job_state_to_string(f->state), err);
        if (r >= 0 && (v & LIST_BY_LABEL))
                r = bind_text(s, st, ":key", f->label_key, err);
        if (r >= 0 && (v & LIST_BY_LABEL))
                r = bind_text(s, st, ":value", f->label_value, err);
        return r;
}

int cd_store_list(struct cd_store *s, const struct cd_store_filter *f, struct cd_job_row **ret,
                  size_t *n, struct cd_err *err)
{
        static const struct cd_store_filter any = { 0 };
        cleanup_with(store_unlockp) struct cd_store *locked = NULL;
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = NULL;
        unsigned int v = 0;
        int r;

        if (!f)
                f = &any;
        r = check_filter(f, &v, err);
        if (r < 0)
                return r;
        locked = store_lock(s);
        st = s->list[v];
        r = bind_filter(s, st, f, v, err);
        if (r < 0)
                return r;
        return collect_rows(s, st, ret, n, err);
}

int cd_store_list_queued(struct cd_store *s, struct cd_job_row **ret, size_t *n, struct cd_err *err)
{
        return list_all(s, STMT_LIST_QUEUED, ret, n, err);
}

int cd_store_list_cancelled(struct cd_store *s, struct cd_job_row **ret, size_t *n,
                            struct cd_err *err)
{
        return list_all(s, STMT_LIST_CANCELLED, ret, n, err);
}

int cd_store_list_interrupted(struct cd_store *s, struct cd_job_row **ret, size_t *n,
                              struct cd_err *err)
{
        return list_all(s, STMT_LIST_INTERRUPTED, ret, n, err);
}

int cd_store_list_unrecorded(struct cd_store *s, struct cd_job_row **ret, size_t *n,
                             struct cd_err *err)
{
        return list_all(s, STMT_LIST_UNRECORDED, ret, n, err);
}

int cd_store_list_expired(struct cd_store *s, int64_t before_ms, size_t limit,
                          struct cd_job_row **ret, size_t *n, struct cd_err *err)
{
        cleanup_with(store_unlockp) __attribute__((unused)) struct cd_store *locked = store_lock(s);
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_LIST_EXPIRED];
        int r;

        r = bind_int(s, st, ":before", before_ms, err);
        if (r >= 0)
                r = bind_int(s, st, ":limit", limit_of(limit), err);
        if (r < 0)
                return r;
        return collect_rows(s, st, ret, n, err);
}

int cd_store_count_states(struct cd_store *s, uint64_t counts[_CD_JOB_STATE_MAX],
                          struct cd_err *err)
{
        cleanup_with(store_unlockp) __attribute__((unused)) struct cd_store *locked = store_lock(s);
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_COUNT_STATES];
        uint64_t c[_CD_JOB_STATE_MAX] = { 0 };
        enum cd_job_state state;
        int rc;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (cd_job_state_from_string((const char *) sqlite3_column_text(st, 0), &state) < 0)
                        return cd_err_set(err, EIO, "store: a job has an unknown state");
                c[state] = (uint64_t) sqlite3_column_int64(st, 1);
        }
        if (rc != SQLITE_DONE)
                return store_sql_err(s, rc, err, "count jobs");
        memcpy(counts, c, sizeof(c));
        return 0;
}
