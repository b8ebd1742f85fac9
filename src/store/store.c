/* SPDX-License-Identifier: MIT */
/*
 * Opening the job store: the file checks, the connection, its pragmas, the
 * schema and the prepared statements; SQLite errors and transactions. The
 * job operations are in store-jobs.c.
 *
 * SQLite opens files by path only, so jobs.db is reached in three steps:
 *   1. openat(state_dir_fd, "jobs.db", O_CREAT | O_NOFOLLOW | O_NONBLOCK):
 *      creates it 0600, refuses a symlink, and does not block on a FIFO or
 *      device (O_RDWR alone would not block on a FIFO, but only on Linux);
 *      fstat must show a regular file owned by us. Then it is closed again:
 *      closing any descriptor of a file drops every POSIX lock this process
 *      holds on it (fcntl(2)), so no fd of ours may outlive SQLite's open.
 *   2. The directory's path comes from readlink(/proc/self/fd/<fd>) and is
 *      checked to name that same directory (same st_dev and st_ino).
 *   3. sqlite3_open_v2() with SQLITE_OPEN_NOFOLLOW, which refuses a symlink
 *      anywhere in the path; afterwards "jobs.db" must still be the inode of
 *      step 1.
 * The -wal, -shm and -journal files: SQLite 3.40 opens each of them with
 * O_NOFOLLOW itself (seen with strace), so a planted symlink fails the open
 * and nothing is followed. Before opening, each one that exists must also
 * be a regular file owned by us, so that a symlink is refused with a clear
 * message instead of SQLite's "unable to open database file". SQLite
 * creates them with the mode of jobs.db, 0600.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "store-internal.h"

#define BUSY_TIMEOUT_MS 5000

#define STATE_CHECK(col) "CHECK (" col " IN ('queued', 'running', 'finished'))"

/*
 * Schema version 1. STRICT tables make SQLite enforce the column types.
 * A job's verdict is set exactly when it is finished. The CHECKs on the
 * JSON columns keep json_extract() in cd_store_list() from ever failing on
 * a stored row.
 */
static const char schema_v1[] =
        "CREATE TABLE jobs ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " id TEXT NOT NULL UNIQUE CHECK (length(id) = 32),"
        " owner_uid INTEGER NOT NULL CHECK (owner_uid BETWEEN 0 AND 4294967295),"
        " profile TEXT NOT NULL,"
        " state TEXT NOT NULL " STATE_CHECK(
                "state") ","
                         " verdict TEXT,"
                         " reason TEXT,"
                         " created_ms INTEGER NOT NULL,"
                         " started_ms INTEGER NOT NULL DEFAULT 0,"
                         " finished_ms INTEGER NOT NULL DEFAULT 0,"
                         " request_json TEXT NOT NULL CHECK (json_valid(request_json)),"
                         " labels_json TEXT NOT NULL"
                         "  CHECK (json_valid(labels_json) AND json_type(labels_json) = 'object'),"
                         " result_json TEXT CHECK (result_json IS NULL OR json_valid(result_json)),"
                         " CHECK ((state = 'finished') = (verdict IS NOT NULL))"
                         ") STRICT;"
                         "CREATE INDEX jobs_state ON jobs (state);"
                         "CREATE INDEX jobs_owner ON jobs (owner_uid);"
                         "CREATE INDEX jobs_expiry ON jobs (finished_ms) WHERE state = 'finished';"
                         "CREATE TABLE transitions ("
                         " job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,"
                         " state TEXT NOT NULL " STATE_CHECK(
                                 "state") ","
                                          " verdict TEXT,"
                                          " at_ms INTEGER NOT NULL"
                                          ") STRICT;"
                                          "CREATE INDEX transitions_job ON transitions (job_seq);"
                                          "PRAGMA user_version = 1;";

/* Version 2: the bytes a job holds on the state directory (a client's
 * quota adds them up). Rows from version 1 count 0 until they finish. */
static const char schema_v2[] = "ALTER TABLE jobs ADD COLUMN stored_bytes INTEGER NOT NULL "
                                "DEFAULT 0 CHECK (stored_bytes >= 0);"
                                "PRAGMA user_version = 2;";

/* Version 3: a queued job whose cancel is stored but not yet finished (its
 * record or its verdict could not be written), with the uid that asked: it
 * never runs, and is finished as cancelled later, or at the next start. */
static const char schema_v3[] = "ALTER TABLE jobs ADD COLUMN cancel_uid INTEGER CHECK (cancel_uid "
                                "IS NULL OR cancel_uid BETWEEN 0 AND 4294967295);"
                                "PRAGMA user_version = 3;";

/* Version 4: a finished job whose delete is stored but not done. delete_uid
 * is who asked (-1: retention), delete_recorded that its job.deleted is in
 * the log. Such a row is gone for the API, across restarts too, until
 * cordond has recorded the delete and removed the row. */
static const char schema_v4[] = "ALTER TABLE jobs ADD COLUMN delete_uid INTEGER CHECK (delete_uid "
                                "IS NULL OR delete_uid BETWEEN -1 AND 4294967295);"
                                "ALTER TABLE jobs ADD COLUMN delete_recorded INTEGER NOT NULL "
                                "DEFAULT 0 CHECK (delete_recorded IN (0, 1));"
                                "CREATE INDEX jobs_deleting ON jobs (seq) "
                                "WHERE delete_uid IS NOT NULL;"
                                "PRAGMA user_version = 4;";

/* Version 5: what recovery needs to record each step of a job once. Before
 * cordond records a step it may be killed in, the row says so: a new row
 * has submit_recorded 0 until its job.submitted is written (the row is
 * gone for the API meanwhile), a running row holds its verdict in
 * finish_json before job.finished is written. audit_from is a seq at or
 * below that of any such record (cd_audit_mark()), from which recovery
 * reads the log to see whether it was written; 0: unknown (a row from
 * before version 5). */
static const char schema_v5[] = "ALTER TABLE jobs ADD COLUMN audit_from INTEGER NOT NULL DEFAULT 0 "
                                "CHECK (audit_from >= 0);"
                                "ALTER TABLE jobs ADD COLUMN submit_recorded INTEGER NOT NULL "
                                "DEFAULT 1 CHECK (submit_recorded IN (0, 1));"
                                "ALTER TABLE jobs ADD COLUMN finish_json TEXT CHECK (finish_json "
                                "IS NULL OR json_valid(finish_json));"
                                "CREATE INDEX jobs_unrecorded ON jobs (seq) "
                                "WHERE submit_recorded = 0;"
                                "PRAGMA user_version = 5;";

/* Version 6: lists go newest first by (created_ms, id), and continue
 * below the last one seen, so that a list cursor is a job's own creation
 * time and id: seq counts every owner's jobs, and a cursor holding it
 * showed a client how many jobs others had submitted meanwhile. */
static const char schema_v6[] = "CREATE INDEX jobs_created ON jobs (created_ms, id);"
                                "PRAGMA user_version = 6;";

#define SELECT_JOBS "SELECT " STORE_JOB_COLUMNS " FROM jobs "
/* Lists leave out each result's artifact manifest, which can be large: a
 * page of 500 jobs must not load 500 manifests (GET /v1/jobs/{id} and
 * /artifacts have it). */
#define LIST_JOBS                                                                                  \
        "SELECT " STORE_JOB_COLUMNS_WITH("NULL",                                                   \
                                         "json_remove(result_json, '$.artifacts')") " FROM jobs "

static const char *const stmt_sql[_STMT_MAX] = {
        [STMT_BEGIN] = "BEGIN IMMEDIATE",
        [STMT_COMMIT] = "COMMIT",
        [STMT_ROLLBACK] = "ROLLBACK",
        [STMT_INSERT_JOB] = "INSERT INTO jobs (id, owner_uid, profile, state, created_ms, "
                            "request_json, labels_json, stored_bytes, audit_from, "
                            "submit_recorded) VALUES (:id, :owner, :profile, 'queued', "
                            ":created, :request, :labels, :bytes, :from, :recorded)",
        /* total(): a float, which sqlite3_column_int64() saturates, where
         * sum() would fail past 2^63 and lock the owner out. */
        [STMT_OWNER_BYTES] = "SELECT total(stored_bytes) FROM jobs WHERE owner_uid = :owner",
        [STMT_INSERT_TRANSITION] = "INSERT INTO transitions (job_seq, state, verdict, at_ms) "
                                   "VALUES (:seq, :state, :verdict, :at)",
        [STMT_GET] = SELECT_JOBS "WHERE id = :id",
        [STMT_GET_STATE] = "SELECT seq, state FROM jobs WHERE id = :id",
        [STMT_SET_RUNNING] = "UPDATE jobs SET state = 'running', started_ms = :at, "
                             "audit_from = :from WHERE seq = :seq AND state = 'queued' "
                             "AND cancel_uid IS NULL",
        [STMT_SET_FINISHING] = "UPDATE jobs SET finish_json = :finish "
                               "WHERE seq = :seq AND state IN ('queued', 'running')",
        [STMT_SET_FINISHED] = "UPDATE jobs SET state = 'finished', verdict = :verdict, "
                              "reason = :reason, result_json = :result, finished_ms = :at, "
                              "stored_bytes = :bytes, finish_json = NULL "
                              "WHERE seq = :seq AND state IN ('queued', 'running')",
        [STMT_DELETE] = "DELETE FROM jobs WHERE id = :id",
        [STMT_LIST_QUEUED] = SELECT_JOBS "WHERE state = 'queued' AND cancel_uid IS NULL "
                                         "AND submit_recorded = 1 AND finish_json IS NULL "
                                         "ORDER BY seq",
        /* The first to ask stays the one recorded. */
        [STMT_MARK_CANCELLED] = "UPDATE jobs SET cancel_uid = coalesce(cancel_uid, :uid) "
                                "WHERE seq = :seq AND state = 'queued'",
        [STMT_LIST_CANCELLED] = SELECT_JOBS "WHERE state = 'queued' AND cancel_uid IS NOT NULL "
                                            "ORDER BY seq",
        /* finish_json is NULL on finished rows (set_finished clears it). */
        [STMT_LIST_INTERRUPTED] = SELECT_JOBS "WHERE state IN ('queued', 'running') AND "
                                              "(state = 'running' OR finish_json IS NOT NULL) "
                                              "ORDER BY seq",
        /* "state = 'finished'" literally, so that the partial index jobs_expiry applies. */
        [STMT_LIST_EXPIRED] = SELECT_JOBS "WHERE state = 'finished' AND finished_ms < :before "
                                          "AND delete_uid IS NULL "
                                          "ORDER BY finished_ms, seq LIMIT :limit",
        [STMT_COUNT_STATES] = "SELECT state, count(*) FROM jobs WHERE delete_uid IS NULL "
                              "AND submit_recorded = 1 GROUP BY state",
        /* The first to ask stays the one recorded. */
        /* The first mark's audit_from stays too: a job.deleted written
         * after it may be in the log. */
        [STMT_MARK_DELETED] = "UPDATE jobs SET delete_uid = coalesce(delete_uid, :uid), "
                              "audit_from = CASE WHEN delete_uid IS NULL THEN :from "
                              "ELSE audit_from END WHERE seq = :seq AND state = 'finished'",
        [STMT_MARK_DELETE_RECORDED] = "UPDATE jobs SET delete_recorded = 1 "
                                      "WHERE id = :id AND delete_uid IS NOT NULL",
        [STMT_LIST_DELETING] = SELECT_JOBS "WHERE delete_uid IS NOT NULL ORDER BY seq",
        [STMT_MARK_SUBMIT_RECORDED] = "UPDATE jobs SET submit_recorded = 1 "
                                      "WHERE id = :id AND submit_recorded = 0",
        [STMT_LIST_UNRECORDED] = SELECT_JOBS "WHERE submit_recorded = 0 ORDER BY seq",
};

static const char *const state_names[_CD_JOB_STATE_MAX] = {
        [CD_JOB_QUEUED] = "queued",
        [CD_JOB_RUNNING] = "running",
        [CD_JOB_FINISHED] = "finished",
};

const char *cd_job_state_to_string(enum cd_job_state s)
{
        if ((unsigned int) s >= _CD_JOB_STATE_MAX)
                return NULL;
        return state_names[s];
}

int cd_job_state_from_string(const char *s, enum cd_job_state *ret)
{
        if (!s)
                return -EINVAL;
        for (unsigned int i = 0; i < _CD_JOB_STATE_MAX; i++)
                if (strcmp(s, state_names[i]) == 0) {
                        *ret = (enum cd_job_state) i;
                        return 0;
                }
        return -EINVAL;
}

void cd_job_row_clear(struct cd_job_row *row)
{
        if (!row)
                return;
        free(row->profile);
        free(row->verdict);
        free(row->reason);
        free(row->request_json);
        free(row->labels_json);
        free(row->result_json);
        free(row->finish_json);
        memset(row, 0, sizeof(*row));
}

void cd_job_rows_free(struct cd_job_row *rows, size_t n)
{
        if (!rows)
                return;
        for (size_t i = 0; i < n; i++)
                cd_job_row_clear(&rows[i]);
        free(rows);
}

struct cd_store *store_lock(struct cd_store *s)
{
        /* A default mutex: lock fails only on a broken contract (EDEADLK needs ERRORCHECK). */
        (void) pthread_mutex_lock(&s->lock);
        return s;
}

void store_unlockp(struct cd_store **s)
{
        if (*s)
                (void) pthread_mutex_unlock(&(*s)->lock);
}

void store_stmt_resetp(sqlite3_stmt **st)
{
        if (!*st)
                return;
        /* reset() repeats the last step's error, which was handled already. */
        (void) sqlite3_reset(*st);
        (void) sqlite3_clear_bindings(*st);
}

static int sql_errno(sqlite3 *db, int rc)
{
        switch (rc) {
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY:
                return EEXIST;
        case SQLITE_CANTOPEN_SYMLINK:
                return ELOOP;
        case SQLITE_IOERR_NOMEM:
                return ENOMEM;
        default:
                break;
        }
        switch (rc & 0xff) {
        case SQLITE_FULL:
                return ENOSPC;
        case SQLITE_CONSTRAINT:
                return EINVAL;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return EBUSY;
        case SQLITE_NOMEM:
                return ENOMEM;
        case SQLITE_IOERR:
                /* A write that hit a full disk or a quota is still "disk full". */
                if (db &&
                    (sqlite3_system_errno(db) == ENOSPC || sqlite3_system_errno(db) == EDQUOT))
                        return ENOSPC;
                return EIO;
        default:
                return EIO;
        }
}

int store_sql_err(struct cd_store *s, int rc, struct cd_err *err, const char *fmt, ...)
{
        sqlite3 *db = s ? s->db : NULL;
        const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        char what[256];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return cd_err_set(err, sql_errno(db, rc), "store: %s: %s (sqlite code %d)", what, msg, rc);
}

int store_step_done(struct cd_store *s, sqlite3_stmt *st, struct cd_err *err, const char *what)
{
        int rc = sqlite3_step(st);

        if (rc == SQLITE_DONE)
                return 0;
        if (rc == SQLITE_ROW) /* unreachable: only statements without a result come here */
                return cd_err_set(err, EIO, "store: %s: unexpected row", what);
        return store_sql_err(s, rc, err, "%s", what);
}

int store_begin(struct cd_store *s, struct cd_err *err)
{
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_BEGIN];

        return store_step_done(s, st, err, "begin");
}

static void rollback(struct cd_store *s)
{
        cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_ROLLBACK];

        /* Some errors (SQLITE_FULL among them) roll back by themselves. */
        if (sqlite3_get_autocommit(s->db))
                return;
        /* A failed ROLLBACK leaves nothing to do: SQLite rolls back the hot
         * journal or ignores the uncommitted WAL frames at the next open. */
        (void) sqlite3_step(st);
}

int store_end(struct cd_store *s, int r, struct cd_err *err)
{
        if (r >= 0) {
                cleanup_with(store_stmt_resetp) sqlite3_stmt *st = s->stmt[STMT_COMMIT];
                int rc = sqlite3_step(st);

                if (rc == SQLITE_DONE)
                        return r;
                r = store_sql_err(s, rc, err, "commit");
        }
        rollback(s);
        return r;
}

static int check_owned_file(const struct stat *st, const char *name, struct cd_err *err)
{
        if (!S_ISREG(st->st_mode))
                return cd_err_set(err, EINVAL,
                                  "store: %s is not a regular file (a symlink, FIFO or other "
                                  "file is refused)",
                                  name);
        if (st->st_uid != geteuid())
                return cd_err_set(err, EPERM, "store: %s is owned by uid %u, not by cordond", name,
                                  (unsigned int) st->st_uid);
        /* Another name for the file would be another way to read and write it. */
        if (st->st_nlink > 1)
                return cd_err_set(err, EPERM, "store: %s has %lu hard links, not one", name,
                                  (unsigned long) st->st_nlink);
        return 0;
}

static int sync_dir(int dirfd, struct cd_err *err)
{
        /* dirfd may be O_PATH, which fsync(2) refuses: open "." to get a real one. */
        cleanup_close int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return cd_err_errno(err, "store: open the state directory");
        if (fsync(fd) < 0)
                return cd_err_errno(err, "store: fsync the state directory");
        return 0;
}

/* Step 1 (top of file): create or check jobs.db by fd; *@ret_st identifies it. */
static int prepare_db_file(int dirfd, struct stat *ret_st, struct cd_err *err)
{
        cleanup_close int fd = -1;
        struct stat st;
        int r;

        fd = openat(dirfd, STORE_DB_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                    0600);
        if (fd < 0)
                return cd_err_errno(err, "store: open " STORE_DB_FILE " (a symlink is refused)");
        if (fstat(fd, &st) < 0)
                return cd_err_errno(err, "store: stat " STORE_DB_FILE);
        r = check_owned_file(&st, STORE_DB_FILE, err);
        if (r < 0)
                return r;
        if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
                return cd_err_errno(err, "store: chmod " STORE_DB_FILE);
        /* Empty: just created (or never written). Make its name durable;
         * SQLite syncs the directory for the -wal it creates itself. */
        if (st.st_size == 0) {
                r = sync_dir(dirfd, err);
                if (r < 0)
                        return r;
        }
        *ret_st = st;
        return 0;
}

static int check_sidecars(int dirfd, struct cd_err *err)
{
        static const char *const names[] = {
                STORE_DB_FILE "-wal",
                STORE_DB_FILE "-shm",
                STORE_DB_FILE "-journal",
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                struct stat st;
                int r;

                if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return cd_err_errno(err, "store: stat %s", names[i]);
                }
                r = check_owned_file(&st, names[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Step 2: "<path of dirfd>/jobs.db", the path checked to name dirfd. */
static int db_path(int dirfd, char **ret, struct cd_err *err)
{
        cleanup_free char *dir = malloc(PATH_MAX);
        char link[sizeof("/proc/self/fd/") + 12];
        struct stat by_fd, by_path;
        ssize_t n;

        if (!dir)
                return cd_err_set(err, ENOMEM, "store: out of memory");
        (void) snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
        n = readlink(link, dir, PATH_MAX);
        if (n < 0)
                return cd_err_errno(err, "store: readlink %s", link);
        if (n >= PATH_MAX)
                return cd_err_set(err, ENAMETOOLONG,
                                  "store: the state directory's path is too long");
        dir[n] = '\0';
        if (fstat(dirfd, &by_fd) < 0)
                return cd_err_errno(err, "store: stat the state directory");
        /* A deleted or moved directory reads as "<old path> (deleted)" or a
         * path that is now something else: the identity check catches both. */
        if (dir[0] != '/' || stat(dir, &by_path) < 0 || by_path.st_dev != by_fd.st_dev ||
            by_path.st_ino != by_fd.st_ino)
                return cd_err_set(err, ENOENT,
                                  "store: the state directory is no longer at %s (moved or "
                                  "deleted?)",
                                  dir);
        if (asprintf(ret, "%s/" STORE_DB_FILE, strcmp(dir, "/") == 0 ? "" : dir) < 0)
                return cd_err_set(err, ENOMEM, "store: out of memory");
        return 0;
}

static int check_same_file(int dirfd, const struct stat *want, struct cd_err *err)
{
        struct stat st;

        if (fstatat(dirfd, STORE_DB_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return cd_err_errno(err, "store: stat " STORE_DB_FILE);
        if (st.st_dev != want->st_dev || st.st_ino != want->st_ino)
                return cd_err_set(err, EAGAIN,
                                  "store: " STORE_DB_FILE " was replaced while it was opened");
        return 0;
}

/* Run a pragma or query returning one row; its first column into *@ret_int or @ret_text. */
static int query_one(struct cd_store *s, const char *sql, int64_t *ret_int, char *ret_text,
                     size_t text_size, struct cd_err *err)
{
        sqlite3_stmt *st = NULL;
        const unsigned char *text;
        int rc;

        rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                /* No row: a pragma this SQLite was built without. */
                int r = rc == SQLITE_DONE ? cd_err_set(err, ENOTSUP, "store: %s: no result", sql)
                                          : store_sql_err(s, rc, err, "%s", sql);

                (void) sqlite3_finalize(st);
                return r;
        }
        if (ret_int)
                *ret_int = sqlite3_column_int64(st, 0);
        if (ret_text) {
                text = sqlite3_column_text(st, 0);
                (void) snprintf(ret_text, text_size, "%s", text ? (const char *) text : "");
        }
        (void) sqlite3_finalize(st);
        return 0;
}

static int exec_sql(struct cd_store *s, const char *sql, const char *what, struct cd_err *err)
{
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

        return rc == SQLITE_OK ? 0 : store_sql_err(s, rc, err, "%s", what);
}

static int set_pragmas(struct cd_store *s, struct cd_err *err)
{
        char mode[16];
        int64_t v;
        int r;

        /* Defensive: no writable_schema or other ways to corrupt the file by
         * SQL; no double-quoted strings taken as literals. trusted_schema
         * stays on: SQLite 3.40 calls json_valid() in a CHECK "unsafe" without
         * it, and the file is cordond's own (0600, checked above). */
        if (sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK ||
            sqlite3_db_config(s->db, SQLITE_DBCONFIG_DQS_DDL, 0, NULL) != SQLITE_OK ||
            sqlite3_db_config(s->db, SQLITE_DBCONFIG_DQS_DML, 0, NULL) != SQLITE_OK)
                return store_sql_err(s, sqlite3_extended_errcode(s->db), err, "configure");
        (void) sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);

        r = query_one(s, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode), err);
        if (r < 0)
                return r;
        if (strcmp(mode, "wal") != 0)
                return cd_err_set(err, ENOTSUP,
                                  "store: " STORE_DB_FILE " cannot use WAL (journal mode is "
                                  "\"%s\"; is the state directory on a network filesystem?)",
                                  mode);
        r = exec_sql(s, "PRAGMA synchronous = FULL", "set synchronous", err);
        if (r >= 0)
                r = query_one(s, "PRAGMA synchronous", &v, NULL, 0, err);
        if (r >= 0 && v != 2)
                r = cd_err_set(err, ENOTSUP, "store: synchronous=FULL did not apply");
        if (r < 0)
                return r;
        r = exec_sql(s, "PRAGMA foreign_keys = ON", "set foreign_keys", err);
        if (r >= 0)
                r = query_one(s, "PRAGMA foreign_keys", &v, NULL, 0, err);
        /* SQLite built without foreign keys would keep orphaned transitions. */
        if (r >= 0 && v != 1)
                r = cd_err_set(err, ENOTSUP, "store: this SQLite has no foreign key support");
        return r;
}

/* In a write transaction: refuse a schema newer than ours, create it when new. */
static int check_or_create_schema(struct cd_store *s, struct cd_err *err)
{
        int64_t version, objects;
        int r;

        r = query_one(s, "PRAGMA user_version", &version, NULL, 0, err);
        if (r < 0)
                return r;
        if (version > STORE_SCHEMA_VERSION || version < 0)
                return cd_err_set(err, ENOTSUP,
                                  "store: " STORE_DB_FILE " has schema version %lld, but this "
                                  "cordond knows only up to %d (written by a newer cordond?); "
                                  "refusing to open it",
                                  (long long) version, STORE_SCHEMA_VERSION);
        if (version == STORE_SCHEMA_VERSION)
                return 0;
        if (version == 0) {
                r = query_one(s, "SELECT count(*) FROM sqlite_schema", &objects, NULL, 0, err);
                if (r < 0)
                        return r;
                if (objects > 0)
                        return cd_err_set(err, ENOTSUP,
                                          "store: " STORE_DB_FILE " holds tables but no cordon "
                                          "schema version; refusing to open it");
                r = exec_sql(s, schema_v1, "create the schema", err);
                if (r < 0)
                        return r;
        }
        /* In the caller's transaction: an upgrade is whole or not at all. */
        if (version < 2)
                r = exec_sql(s, schema_v2, "upgrade the schema to version 2", err);
        if (r >= 0 && version < 3)
                r = exec_sql(s, schema_v3, "upgrade the schema to version 3", err);
        if (r >= 0 && version < 4)
                r = exec_sql(s, schema_v4, "upgrade the schema to version 4", err);
        if (r >= 0 && version < 5)
                r = exec_sql(s, schema_v5, "upgrade the schema to version 5", err);
        return r < 0 ? r : exec_sql(s, schema_v6, "upgrade the schema to version 6", err);
}

static int setup_schema(struct cd_store *s, struct cd_err *err)
{
        int r;

        /* IMMEDIATE: two cordonds starting at once must not both create it. */
        r = exec_sql(s, "BEGIN IMMEDIATE", "begin", err);
        if (r < 0)
                return r;
        r = check_or_create_schema(s, err);
        if (r >= 0)
                return exec_sql(s, "COMMIT", "commit the schema", err);
        if (!sqlite3_get_autocommit(s->db))
                (void) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
}

static int prepare_one(struct cd_store *s, const char *sql, sqlite3_stmt **ret, struct cd_err *err)
{
        const char *tail = NULL;
        int rc;

        rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, &tail);
        if (rc != SQLITE_OK)
                return store_sql_err(s, rc, err, "prepare");
        if (tail && *tail) /* unreachable: every statement above is a single one */
                return cd_err_set(err, EIO, "store: prepare: trailing SQL");
        return 0;
}

/* The WHERE of cd_store_list() is one of eight, made of these constant parts
 * only: data is always bound, never part of the SQL. */
static int prepare_list(struct cd_store *s, unsigned int variant, struct cd_err *err)
{
        char sql[1024];
        int n;

        n = snprintf(sql, sizeof(sql),
                     "%sWHERE (created_ms, id) < (:before_ms, :before_id) "
                     "AND delete_uid IS NULL AND submit_recorded = 1%s%s%s "
                     "ORDER BY created_ms DESC, id DESC "
                     "LIMIT :limit",
                     LIST_JOBS, variant & LIST_BY_OWNER ? " AND owner_uid = :owner" : "",
                     variant & LIST_BY_STATE ? " AND state = :state" : "",
                     variant & LIST_BY_LABEL
                             ? " AND json_extract(labels_json, '$.\"' || :key || '\"') = :value"
                             : "");
        if (n < 0 || (size_t) n >= sizeof(sql)) /* unreachable: the parts are constant */
                return cd_err_set(err, EIO, "store: list statement too long");
        return prepare_one(s, sql, &s->list[variant], err);
}

static int prepare_all(struct cd_store *s, struct cd_err *err)
{
        int r;

        for (unsigned int i = 0; i < _STMT_MAX; i++) {
                r = prepare_one(s, stmt_sql[i], &s->stmt[i], err);
                if (r < 0)
                        return r;
        }
        for (unsigned int v = 0; v < _LIST_VARIANTS; v++) {
                r = prepare_list(s, v, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int open_db(struct cd_store *s, int dirfd, struct cd_err *err)
{
        const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW |
                          SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_EXRESCODE;
        cleanup_free char *path = NULL;
        struct stat st = { 0 };
        int r, rc;

        r = prepare_db_file(dirfd, &st, err);
        if (r >= 0)
                r = check_sidecars(dirfd, err);
        if (r >= 0)
                r = db_path(dirfd, &path, err);
        if (r < 0)
                return r;
        rc = sqlite3_open_v2(path, &s->db, flags, NULL);
        if (rc != SQLITE_OK)
                return s->db ? store_sql_err(s, rc, err, "open " STORE_DB_FILE)
                             : cd_err_set(err, ENOMEM, "store: out of memory");
        r = set_pragmas(s, err);
        if (r >= 0)
                r = check_same_file(dirfd, &st, err);
        if (r >= 0)
                r = setup_schema(s, err);
        if (r >= 0)
                r = prepare_all(s, err);
        return r;
}

int cd_store_open(int state_dir_fd, struct cd_store **ret, struct cd_err *err)
{
        struct cd_store *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return cd_err_set(err, ENOMEM, "store: out of memory");
        r = pthread_mutex_init(&s->lock, NULL);
        if (r != 0) {
                free(s);
                return cd_err_set(err, r, "store: mutex init");
        }
        r = open_db(s, state_dir_fd, err);
        if (r < 0) {
                (void) cd_store_close(s);
                return r;
        }
        *ret = s;
        return 0;
}

struct cd_store *cd_store_close(struct cd_store *s)
{
        if (!s)
                return NULL;
        for (unsigned int i = 0; i < _STMT_MAX; i++)
                (void) sqlite3_finalize(s->stmt[i]);
        for (unsigned int v = 0; v < _LIST_VARIANTS; v++)
                (void) sqlite3_finalize(s->list[v]);
        /* Every statement is finalized, so this closes (and checkpoints) now. */
        (void) sqlite3_close_v2(s->db);
        (void) pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}
