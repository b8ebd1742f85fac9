/* SPDX-License-Identifier: MIT */
/*
 * store/: the job store on a real SQLite file in a fresh temp directory.
 * Round trips of every field, the state machine and its transitions rows
 * (read back with a second SQLite connection), list filters and paging,
 * restart recovery, durability across close and reopen, refusal of a newer
 * schema, of a foreign database and of a symlink, FIFO or hard link where
 * the files belong, concurrent inserts from several threads and, as root
 * only, a full disk (a small tmpfs).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cordon/cleanup.h"
#include "cordon/store.h"
#include "unit.h"

#define NOT_SQLITE "this is not an SQLite database, just some text long enough to be read\n"
#define REQUEST    "{\"profile\":\"python\",\"argv\":[\"python3\",\"main.py\"]}"

struct fixture {
        char *tmp;
        int dirfd;
        struct cd_store *s;
        bool mounted; /* tmp holds a tmpfs (disk-full test) */
};

/* Rows a test holds; released by ut_run_deferred() even when it fails. */
struct rowset {
        struct cd_job_row *rows;
        size_t n;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        *state = f;
        f->dirfd = -1;
        f->tmp = ut_mkdtemp();
        if (!f->tmp)
                return -1;
        f->dirfd = ut_open_dir(f->tmp);
        return f->dirfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        ut_run_deferred();
        if (!f)
                return 0;
        f->s = cd_store_close(f->s);
        f->dirfd = cd_close(f->dirfd);
        if (f->mounted)
                (void) umount2(f->tmp, MNT_DETACH);
        (void) ut_rm_rf(f->tmp);
        free(f->tmp);
        free(f);
        return 0;
}

static void rowset_free(void *p)
{
        struct rowset *rs = p;

        cd_job_rows_free(rs->rows, rs->n);
        free(rs);
}

static struct rowset *rowset_new(void)
{
        struct rowset *rs = calloc(1, sizeof(*rs));

        assert_non_null(rs);
        return ut_defer(rowset_free, rs);
}

static void row_free(void *p)
{
        cd_job_row_clear(p);
        free(p);
}

static struct cd_job_row *row_new(void)
{
        struct cd_job_row *row = calloc(1, sizeof(*row));

        assert_non_null(row);
        return ut_defer(row_free, row);
}

static char *path_in(const struct fixture *f, const char *name)
{
        char *p;

        assert_true(asprintf(&p, "%s/%s", f->tmp, name) > 0);
        return ut_defer(free, p);
}

static void open_store(struct fixture *f)
{
        struct cd_err err = { 0 };
        int r = cd_store_open(f->dirfd, &f->s, &err);

        if (r < 0)
                fail_msg("cd_store_open: %d %s", r, err.msg);
}

static void reopen_store(struct fixture *f)
{
        f->s = cd_store_close(f->s);
        open_store(f);
}

/* Job n's id: 32 lowercase hex digits. */
static void make_id(unsigned int n, char id[CD_JOB_ID_LEN + 1])
{
        (void) snprintf(id, CD_JOB_ID_LEN + 1, "%032x", n);
}

static const char *id_of(unsigned int n)
{
        char *id = malloc(CD_JOB_ID_LEN + 1);

        assert_non_null(id);
        make_id(n, id);
        return ut_defer(free, id);
}

static int try_insert(struct fixture *f, unsigned int n, uint32_t owner, const char *labels,
                      int64_t created_ms, int64_t *ret_seq, struct cd_err *err)
{
        struct cd_job_row row = {
                .owner_uid = owner,
                .profile = (char *) "python",
                .created_ms = created_ms,
                .request_json = (char *) REQUEST,
                .labels_json = (char *) labels,
        };
        int r;

        make_id(n, row.id);
        r = cd_store_insert(f->s, &row, 0, err);
        if (r >= 0 && ret_seq)
                *ret_seq = row.seq;
        return r;
}

static int try_insert_bytes(struct fixture *f, unsigned int n, uint32_t owner, uint64_t bytes,
                            uint64_t quota, int64_t *ret_seq, struct cd_err *err)
{
        struct cd_job_row row = {
                .owner_uid = owner,
                .profile = (char *) "python",
                .created_ms = 1000 + n,
                .request_json = (char *) REQUEST,
                .stored_bytes = bytes,
        };
        int r;

        make_id(n, row.id);
        r = cd_store_insert(f->s, &row, quota, err);
        if (r >= 0)
                *ret_seq = row.seq;
        return r;
}

static int64_t owner_bytes(struct fixture *f, uint32_t owner)
{
        struct cd_err err = { 0 };
        uint64_t n = 0;
        int r = cd_store_owner_bytes(f->s, owner, &n, &err);

        if (r < 0)
                fail_msg("owner_bytes %u: %d %s", owner, r, err.msg);
        return (int64_t) n;
}

static int64_t insert(struct fixture *f, unsigned int n, uint32_t owner, const char *labels)
{
        struct cd_err err = { 0 };
        int64_t seq = 0;
        int r = try_insert(f, n, owner, labels, 1000 + n, &seq, &err);

        if (r < 0)
                fail_msg("insert %u: %d %s", n, r, err.msg);
        assert_true(seq > 0);
        return seq;
}

static void set_running(struct fixture *f, unsigned int n, int64_t at)
{
        struct cd_err err = { 0 };
        int r = cd_store_set_running(f->s, id_of(n), at, 100 + n, &err);

        if (r < 0)
                fail_msg("set_running %u: %d %s", n, r, err.msg);
}

static void set_finished(struct fixture *f, unsigned int n, const char *verdict, int64_t at)
{
        struct cd_err err = { 0 };
        int r = cd_store_set_finished(f->s, id_of(n), verdict, NULL, "{\"exit_code\":0}", 0, at,
                                      &err);

        if (r < 0)
                fail_msg("set_finished %u: %d %s", n, r, err.msg);
}

static struct cd_job_row *get(struct fixture *f, unsigned int n)
{
        struct cd_job_row *row = row_new();
        struct cd_err err = { 0 };
        int r = cd_store_get(f->s, id_of(n), row, &err);

        if (r < 0)
                fail_msg("get %u: %d %s", n, r, err.msg);
        return row;
}

static struct rowset *list(struct fixture *f, const struct cd_store_filter *flt)
{
        struct rowset *rs = rowset_new();
        struct cd_err err = { 0 };
        int r = cd_store_list(f->s, flt, &rs->rows, &rs->n, &err);

        if (r < 0)
                fail_msg("list: %d %s", r, err.msg);
        assert_true(rs->n > 0 || rs->rows == NULL);
        return rs;
}

/* The jobs of @rs by number (the id's value), in order. */
static void assert_jobs(const struct rowset *rs, size_t n, ...)
{
        va_list ap;

        assert_int_equal(rs->n, n);
        va_start(ap, n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(rs->rows[i].id, id_of(va_arg(ap, unsigned int)));
        va_end(ap);
}

/* A second connection, as another process would open it: one integer. */
static int64_t db_int(struct fixture *f, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static int64_t db_int(struct fixture *f, const char *fmt, ...)
{
        cleanup_free char *sql = NULL;
        sqlite3_stmt *st = NULL;
        sqlite3 *db = NULL;
        int64_t v;
        va_list ap;
        int rc;

        va_start(ap, fmt);
        assert_true(vasprintf(&sql, fmt, ap) > 0);
        va_end(ap);
        assert_int_equal(sqlite3_open_v2(path_in(f, "jobs.db"), &db, SQLITE_OPEN_READWRITE, NULL),
                         SQLITE_OK);
        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
        (void) sqlite3_finalize(st);
        (void) sqlite3_close(db);
        if (rc != SQLITE_ROW)
                fail_msg("%s: sqlite %d", sql, rc);
        return v;
}

static void db_exec(struct fixture *f, const char *sql)
{
        sqlite3 *db = NULL;
        int rc;

        assert_int_equal(sqlite3_open_v2(path_in(f, "jobs.db"), &db,
                                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                         SQLITE_OK);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        (void) sqlite3_close(db);
        assert_int_equal(rc, SQLITE_OK);
}

static int64_t transitions_of(struct fixture *f, int64_t seq)
{
        return db_int(f, "SELECT count(*) FROM transitions WHERE job_seq = %" PRId64, seq);
}

static void assert_str_or_null(const char *a, const char *b)
{
        if (!a || !b)
                assert_ptr_equal(a, b);
        else
                assert_string_equal(a, b);
}

static void assert_row_equal(const struct cd_job_row *a, const struct cd_job_row *b)
{
        assert_int_equal(a->seq, b->seq);
        assert_string_equal(a->id, b->id);
        assert_int_equal(a->owner_uid, b->owner_uid);
        assert_string_equal(a->profile, b->profile);
        assert_int_equal(a->state, b->state);
        assert_str_or_null(a->verdict, b->verdict);
        assert_str_or_null(a->reason, b->reason);
        assert_int_equal(a->created_ms, b->created_ms);
        assert_int_equal(a->started_ms, b->started_ms);
        assert_int_equal(a->finished_ms, b->finished_ms);
        assert_string_equal(a->request_json, b->request_json);
        assert_string_equal(a->labels_json, b->labels_json);
        assert_str_or_null(a->result_json, b->result_json);
        assert_int_equal(a->audit_from, b->audit_from);
        assert_int_equal(a->submit_unrecorded, b->submit_unrecorded);
        assert_str_or_null(a->finish_json, b->finish_json);
}

static void test_state_strings(void **state)
{
        enum cd_job_state s;

        (void) state;
        for (int i = 0; i < _CD_JOB_STATE_MAX; i++) {
                const char *name = cd_job_state_to_string((enum cd_job_state) i);

                assert_non_null(name);
                assert_int_equal(cd_job_state_from_string(name, &s), 0);
                assert_int_equal(s, i);
        }
        assert_string_equal(cd_job_state_to_string(CD_JOB_QUEUED), "queued");
        assert_string_equal(cd_job_state_to_string(CD_JOB_RUNNING), "running");
        assert_string_equal(cd_job_state_to_string(CD_JOB_FINISHED), "finished");
        assert_null(cd_job_state_to_string(_CD_JOB_STATE_MAX));
        assert_null(cd_job_state_to_string((enum cd_job_state) - 1));
        s = CD_JOB_RUNNING;
        assert_int_equal(cd_job_state_from_string("Queued", &s), -EINVAL);
        assert_int_equal(cd_job_state_from_string("", &s), -EINVAL);
        assert_int_equal(cd_job_state_from_string(NULL, &s), -EINVAL);
        assert_int_equal(s, CD_JOB_RUNNING);
}

static void test_open_private_files(void **state)
{
        struct fixture *f = *state;
        int fds = ut_count_fds();
        struct stat st;

        open_store(f);
        insert(f, 1, 1000, NULL);
        assert_int_equal(fstatat(f->dirfd, "jobs.db", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(fstatat(f->dirfd, "jobs.db-wal", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(db_int(f, "PRAGMA user_version"), 6);
        f->s = cd_store_close(f->s);
        assert_int_equal(ut_count_fds(), fds);

        /* An existing jobs.db with a loose mode is tightened. */
        assert_int_equal(fchmodat(f->dirfd, "jobs.db", 0644, 0), 0);
        open_store(f);
        assert_int_equal(fstatat(f->dirfd, "jobs.db", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_string_equal(get(f, 1)->id, id_of(1));
        assert_null(cd_store_close(NULL));
}

/* fsync(2) refuses an O_PATH fd; the store must still work from one. */
static void test_open_from_o_path_dir(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        int fd = open(f->tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(cd_store_open(fd, &f->s, &err), 0);
        (void) close(fd);
        insert(f, 7, 0, NULL);
        assert_int_equal(get(f, 7)->owner_uid, 0);
}

static void test_roundtrip(void **state)
{
        struct fixture *f = *state;
        struct cd_job_row in = {
                .owner_uid = UINT32_MAX - 1,
                .profile = (char *) "python-ml",
                .created_ms = INT64_C(1700000000123),
                .request_json = (char *) REQUEST,
                .labels_json = (char *) "{\"course\":\"mus101\",\"requested_by\":\"42\"}",
        };
        struct cd_err err = { 0 };
        struct cd_job_row *out;

        open_store(f);
        make_id(0xabcdef, in.id);
        assert_int_equal(cd_store_insert(f->s, &in, 0, &err), 0);
        assert_true(in.seq > 0);
        out = get(f, 0xabcdef);
        assert_row_equal(out, &in);
        assert_int_equal(out->state, CD_JOB_QUEUED);
        assert_null(out->verdict);
        assert_null(out->reason);
        assert_null(out->result_json);
        assert_int_equal(out->started_ms, 0);
        assert_int_equal(out->finished_ms, 0);

        assert_int_equal(cd_store_set_running(f->s, in.id, INT64_C(1700000000456), 7, &err), 0);
        assert_int_equal(cd_store_set_finished(f->s, in.id, "timeout", "wall_timeout",
                                               "{\"verdict\":\"timeout\",\"wall_ms\":2}", 0,
                                               INT64_C(1700000000789), &err),
                         0);
        out = get(f, 0xabcdef);
        in.state = CD_JOB_FINISHED;
        in.verdict = (char *) "timeout";
        in.reason = (char *) "wall_timeout";
        in.result_json = (char *) "{\"verdict\":\"timeout\",\"wall_ms\":2}";
        in.started_ms = INT64_C(1700000000456);
        in.finished_ms = INT64_C(1700000000789);
        in.audit_from = 7; /* what set_running kept */
        assert_row_equal(out, &in);

        /* cd_store_get() clears what *ret held (no leak under ASan). */
        assert_int_equal(cd_store_get(f->s, in.id, out, &err), 0);
        assert_row_equal(out, &in);
}

static void test_insert_defaults(void **state)
{
        struct fixture *f = *state;
        int64_t a, b, c;

        open_store(f);
        a = insert(f, 1, 1000, NULL);
        b = insert(f, 2, 1000, "{}");
        c = insert(f, 3, 1000, "{\"x\":\"y\"}");
        assert_true(a < b && b < c);
        assert_string_equal(get(f, 1)->labels_json, "{}");
        assert_string_equal(get(f, 2)->labels_json, "{}");
        assert_int_equal(get(f, 3)->seq, c);
        /* One "queued" transition each, at created_ms. */
        assert_int_equal(transitions_of(f, a), 1);
        assert_int_equal(db_int(f, "SELECT at_ms FROM transitions WHERE job_seq = %" PRId64, a),
                         1001);
}

static void test_insert_duplicate(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        int64_t seq;

        open_store(f);
        seq = insert(f, 5, 1000, "{\"a\":\"1\"}");
        assert_int_equal(try_insert(f, 5, 2000, "{\"b\":\"2\"}", 99, NULL, &err), -EEXIST);
        assert_int_equal(err.code, EEXIST);
        assert_non_null(strstr(err.msg, id_of(5)));
        /* The first job is untouched and nothing else was written. */
        assert_int_equal(get(f, 5)->owner_uid, 1000);
        assert_string_equal(get(f, 5)->labels_json, "{\"a\":\"1\"}");
        assert_int_equal(db_int(f, "SELECT count(*) FROM jobs"), 1);
        assert_int_equal(db_int(f, "SELECT count(*) FROM transitions"), 1);
        assert_int_equal(transitions_of(f, seq), 1);
        /* The store is usable after the failed transaction. */
        insert(f, 6, 1000, NULL);
}

static void test_insert_invalid(void **state)
{
        static const char *const bad_ids[] = {
                "",
                "0123",
                "0123456789ABCDEF0123456789abcdef",
                "0123456789abcdef0123456789abcdeg",
                "'; DROP TABLE jobs; --0123456789ab",
        };
        struct fixture *f = *state;
        struct cd_job_row row = {
                .profile = (char *) "python",
                .request_json = (char *) REQUEST,
        };
        struct cd_err err = { 0 };

        open_store(f);
        for (size_t i = 0; i < ELEMENTSOF(bad_ids); i++) {
                (void) snprintf(row.id, sizeof(row.id), "%s", bad_ids[i]);
                assert_int_equal(cd_store_insert(f->s, &row, 0, &err), -EINVAL);
                assert_int_equal(err.code, EINVAL);
        }
        /* No terminating NUL in the array. */
        memset(row.id, 'a', sizeof(row.id));
        assert_int_equal(cd_store_insert(f->s, &row, 0, &err), -EINVAL);
        make_id(1, row.id);
        row.labels_json = (char *) "[\"not\",\"an\",\"object\"]";
        assert_int_equal(cd_store_insert(f->s, &row, 0, &err), -EINVAL);
        row.labels_json = (char *) "{\"unterminated\":";
        assert_int_equal(cd_store_insert(f->s, &row, 0, &err), -EINVAL);
        row.labels_json = NULL;
        row.request_json = (char *) "not json";
        assert_int_equal(cd_store_insert(f->s, &row, 0, &err), -EINVAL);
        row.request_json = NULL;
        assert_int_equal(cd_store_insert(f->s, &row, 0, &err), -EINVAL);
        row.request_json = (char *) REQUEST;
        row.profile = NULL;
        assert_int_equal(cd_store_insert(f->s, &row, 0, &err), -EINVAL);
        assert_int_equal(cd_store_insert(f->s, NULL, 0, &err), -EINVAL);
        assert_int_equal(row.seq, 0);
        assert_int_equal(db_int(f, "SELECT count(*) FROM jobs"), 0);
        assert_int_equal(db_int(f, "SELECT count(*) FROM transitions"), 0);
}

static void test_get_missing(void **state)
{
        struct fixture *f = *state;
        struct cd_job_row *row = row_new();
        struct cd_err err = { 0 };

        open_store(f);
        insert(f, 1, 1000, NULL);
        assert_int_equal(cd_store_get(f->s, id_of(2), row, &err), -ENOENT);
        assert_int_equal(err.code, ENOENT);
        assert_int_equal(cd_store_get(f->s, "1", row, &err), -ENOENT);
        assert_int_equal(cd_store_get(f->s, "%", row, &err), -ENOENT);
        assert_int_equal(row->seq, 0);
        assert_null(row->profile);
}

static void test_state_machine(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        struct cd_job_row *row;

        open_store(f);
        insert(f, 1, 1000, NULL);
        insert(f, 2, 1000, NULL);

        assert_int_equal(cd_store_set_running(f->s, id_of(9), 5, 7, &err), -ENOENT);
        assert_int_equal(cd_store_set_finished(f->s, id_of(9), "ok", NULL, NULL, 0, 5, &err),
                         -ENOENT);
        assert_int_equal(cd_store_set_running(f->s, "zz", 5, 7, &err), -ENOENT);

        set_running(f, 1, 2000);
        assert_int_equal(cd_store_set_running(f->s, id_of(1), 2001, 7, &err), -ESTALE);
        assert_int_equal(err.code, ESTALE);
        assert_non_null(strstr(err.msg, "running"));
        assert_int_equal(get(f, 1)->started_ms, 2000);

        assert_int_equal(
                cd_store_set_finished(f->s, id_of(1), "oom", "memory", NULL, 0, 3000, &err), 0);
        assert_int_equal(
                cd_store_set_finished(f->s, id_of(1), "ok", NULL, "{\"late\":1}", 0, 4000, &err),
                -ESTALE);
        assert_int_equal(err.code, ESTALE);
        assert_int_equal(cd_store_set_running(f->s, id_of(1), 5000, 7, &err), -ESTALE);
        row = get(f, 1);
        assert_int_equal(row->state, CD_JOB_FINISHED);
        assert_string_equal(row->verdict, "oom");
        assert_string_equal(row->reason, "memory");
        assert_null(row->result_json);
        assert_int_equal(row->started_ms, 2000);
        assert_int_equal(row->finished_ms, 3000);

        /* Queued straight to finished (cancelled before it ran). */
        assert_int_equal(cd_store_set_finished(f->s, id_of(2), "", NULL, NULL, 0, 1, &err),
                         -EINVAL);
        assert_int_equal(cd_store_set_finished(f->s, id_of(2), NULL, NULL, NULL, 0, 1, &err),
                         -EINVAL);
        set_finished(f, 2, "cancelled", 2500);
        row = get(f, 2);
        assert_int_equal(row->state, CD_JOB_FINISHED);
        assert_string_equal(row->verdict, "cancelled");
        assert_int_equal(row->started_ms, 0);
        assert_int_equal(row->finished_ms, 2500);
}

static void test_transitions_recorded(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        int64_t seq;

        open_store(f);
        seq = insert(f, 1, 1000, NULL);
        set_running(f, 1, 2000);
        set_finished(f, 1, "failed", 3000);
        /* A refused change writes no transition. */
        assert_int_equal(cd_store_set_finished(f->s, id_of(1), "ok", NULL, NULL, 0, 4000, &err),
                         -ESTALE);
        assert_int_equal(transitions_of(f, seq), 3);
        assert_int_equal(db_int(f,
                                "SELECT count(*) FROM transitions WHERE job_seq = %" PRId64
                                " AND ((state = 'queued' AND at_ms = 1001 AND verdict IS NULL)"
                                " OR (state = 'running' AND at_ms = 2000 AND verdict IS NULL)"
                                " OR (state = 'finished' AND at_ms = 3000 AND verdict = 'failed'))",
                                seq),
                         3);
        /* In the order they happened. */
        assert_int_equal(db_int(f, "SELECT group_concat(state, ',') = 'queued,running,finished' "
                                   "FROM (SELECT state FROM transitions ORDER BY rowid)"),
                         1);
}

static void test_delete(void **state)
{
        struct fixture *f = *state;
        struct cd_job_row *row = row_new();
        struct cd_err err = { 0 };
        int64_t a, b;

        open_store(f);
        a = insert(f, 1, 1000, NULL);
        b = insert(f, 2, 1000, NULL);
        set_running(f, 1, 2000);
        set_finished(f, 1, "ok", 3000);
        assert_int_equal(transitions_of(f, a), 3);

        assert_int_equal(cd_store_delete(f->s, id_of(1), &err), 0);
        assert_int_equal(cd_store_get(f->s, id_of(1), row, &err), -ENOENT);
        assert_int_equal(transitions_of(f, a), 0);
        assert_int_equal(db_int(f, "SELECT count(*) FROM jobs WHERE seq = %" PRId64, a), 0);
        assert_int_equal(cd_store_delete(f->s, id_of(1), &err), -ENOENT);
        assert_int_equal(err.code, ENOENT);
        assert_int_equal(cd_store_delete(f->s, "nope", &err), -ENOENT);
        /* The other job and its history stay. */
        assert_int_equal(get(f, 2)->seq, b);
        assert_int_equal(transitions_of(f, b), 1);
        /* A deleted id can be used again, with a new seq. */
        assert_true(insert(f, 1, 1000, NULL) > b);
}

/*
 * Jobs 1..8: owner 1000 for odd, 2000 for even; 3 and 4 running, 5 and 6
 * finished; labels on some.
 */
static void insert_mix(struct fixture *f)
{
        insert(f, 1, 1000, "{\"course\":\"mus101\"}");
        insert(f, 2, 2000, "{\"course\":\"mus101\",\"x.y-z_0\":\"v\"}");
        insert(f, 3, 1000, "{\"course\":\"cs50\"}");
        insert(f, 4, 2000, NULL);
        insert(f, 5, 1000, "{\"course\":\"mus101\",\"requested_by\":\"42\"}");
        insert(f, 6, 2000, "{\"course\":\"MUS101\"}");
        insert(f, 7, 1000, "{\"a\\\"b\":\"mus101\"}");
        insert(f, 8, 2000, "{\"course\":\"mus101 \"}");
        set_running(f, 3, 10);
        set_running(f, 4, 10);
        set_running(f, 5, 10);
        set_finished(f, 5, "ok", 20);
        set_finished(f, 6, "cancelled", 20);
}

static void test_list_filters(void **state)
{
        struct fixture *f = *state;
        struct cd_store_filter flt = { 0 };

        open_store(f);
        assert_jobs(list(f, NULL), 0);
        insert_mix(f);

        assert_jobs(list(f, NULL), 8, 8, 7, 6, 5, 4, 3, 2, 1);
        assert_jobs(list(f, &flt), 8, 8, 7, 6, 5, 4, 3, 2, 1);
        flt = (struct cd_store_filter){ .by_owner = true, .owner_uid = 1000 };
        assert_jobs(list(f, &flt), 4, 7, 5, 3, 1);
        flt = (struct cd_store_filter){ .by_owner = true, .owner_uid = 0 };
        assert_jobs(list(f, &flt), 0);
        flt = (struct cd_store_filter){ .by_state = true, .state = CD_JOB_QUEUED };
        assert_jobs(list(f, &flt), 4, 8, 7, 2, 1);
        flt = (struct cd_store_filter){ .by_state = true, .state = CD_JOB_RUNNING };
        assert_jobs(list(f, &flt), 2, 4, 3);
        flt = (struct cd_store_filter){ .by_state = true, .state = CD_JOB_FINISHED };
        assert_jobs(list(f, &flt), 2, 6, 5);
        /* Exact matches only: not "MUS101", not "mus101 ", not another key. */
        flt = (struct cd_store_filter){ .label_key = "course", .label_value = "mus101" };
        assert_jobs(list(f, &flt), 3, 5, 2, 1);
        flt = (struct cd_store_filter){ .label_key = "x.y-z_0", .label_value = "v" };
        assert_jobs(list(f, &flt), 1, 2);
        flt = (struct cd_store_filter){ .label_key = "requested_by", .label_value = "4" };
        assert_jobs(list(f, &flt), 0);
        /* Everything at once. */
        flt = (struct cd_store_filter){ .by_owner = true,
                                        .owner_uid = 1000,
                                        .by_state = true,
                                        .state = CD_JOB_FINISHED,
                                        .label_key = "course",
                                        .label_value = "mus101" };
        assert_jobs(list(f, &flt), 1, 5);
        flt = (struct cd_store_filter){
                .by_owner = true, .owner_uid = 2000, .label_key = "course", .label_value = "mus101"
        };
        assert_jobs(list(f, &flt), 1, 2);
}

static void test_list_bad_filters(void **state)
{
        static const char *const bad_keys[] = {
                "",
                "Course",
                "a\"b",
                "a\\b",
                "a b",
                "a'b",
                "$.course",
                "a*",
                "\xc3\xa9",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
        };
        struct fixture *f = *state;
        struct cd_store_filter flt = { 0 };
        struct cd_job_row *rows = (struct cd_job_row *) &flt;
        struct cd_err err = { 0 };
        size_t n = 77;

        open_store(f);
        insert_mix(f);
        for (size_t i = 0; i < ELEMENTSOF(bad_keys); i++) {
                flt = (struct cd_store_filter){ .label_key = bad_keys[i], .label_value = "mus101" };
                assert_int_equal(cd_store_list(f->s, &flt, &rows, &n, &err), -EINVAL);
                assert_int_equal(err.code, EINVAL);
                /* The key is not repeated in the message. */
                if (bad_keys[i][0])
                        assert_null(strstr(err.msg, bad_keys[i]));
        }
        flt = (struct cd_store_filter){ .label_key = "course" };
        assert_int_equal(cd_store_list(f->s, &flt, &rows, &n, &err), -EINVAL);
        flt = (struct cd_store_filter){ .label_value = "mus101" };
        assert_int_equal(cd_store_list(f->s, &flt, &rows, &n, &err), -EINVAL);
        flt = (struct cd_store_filter){ .by_state = true, .state = _CD_JOB_STATE_MAX };
        assert_int_equal(cd_store_list(f->s, &flt, &rows, &n, &err), -EINVAL);
        flt = (struct cd_store_filter){ .before_created_ms = -1, .before_id = id_of(1) };
        assert_int_equal(cd_store_list(f->s, &flt, &rows, &n, &err), -EINVAL);
        flt = (struct cd_store_filter){ .before_created_ms = 1, .before_id = "x" };
        assert_int_equal(cd_store_list(f->s, &flt, &rows, &n, &err), -EINVAL);
        /* Outputs untouched on failure. */
        assert_ptr_equal(rows, &flt);
        assert_int_equal(n, 77);
        /* A 64-character key is fine (and matches nothing). */
        flt = (struct cd_store_filter){
                .label_key = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                .label_value = "mus101"
        };
        assert_jobs(list(f, &flt), 0);
}

/* A list leaves each result's manifest out; one job's read keeps it. */
static void test_list_leaves_out_artifacts(void **state)
{
        static const char result[] = "{\"verdict\":\"ok\",\"artifacts\":[{\"path\":\"a\"}],"
                                     "\"wall_ms\":2}";
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        struct rowset *rs;

        open_store(f);
        insert(f, 1, 1000, NULL);
        insert(f, 2, 1000, NULL);
        assert_int_equal(cd_store_set_finished(f->s, id_of(1), "ok", NULL, result, 0, 5, &err), 0);
        assert_string_equal(get(f, 1)->result_json, result);
        rs = list(f, NULL);
        assert_jobs(rs, 2, 2, 1);
        assert_null(rs->rows[0].result_json); /* still queued: no result */
        assert_string_equal(rs->rows[1].result_json, "{\"verdict\":\"ok\",\"wall_ms\":2}");
}

static void test_list_paging(void **state)
{
        struct fixture *f = *state;
        struct cd_store_filter flt = { .limit = 3 };
        unsigned int expect = 20;
        struct rowset *rs;
        int64_t seq[21];

        open_store(f);
        for (unsigned int i = 1; i <= 20; i++)
                seq[i] = insert(f, i, i % 2 ? 1000 : 2000, NULL);
        /* Pages of 3 from the newest, each continuing below the last job seen. */
        do {
                rs = list(f, &flt);
                assert_true(rs->n <= 3);
                for (size_t i = 0; i < rs->n; i++) {
                        assert_int_equal(rs->rows[i].seq, seq[expect]);
                        expect--;
                }
                if (rs->n > 0) {
                        flt.before_created_ms = rs->rows[rs->n - 1].created_ms;
                        flt.before_id = rs->rows[rs->n - 1].id;
                }
        } while (rs->n == 3);
        assert_int_equal(expect, 0);

        /* Paging with a filter. */
        flt = (struct cd_store_filter){ .by_owner = true,
                                        .owner_uid = 2000,
                                        .before_created_ms = 1010,
                                        .before_id = id_of(10),
                                        .limit = 2 };
        assert_jobs(list(f, &flt), 2, 8, 6);
        flt.before_created_ms = 1001;
        flt.before_id = id_of(1);
        assert_jobs(list(f, &flt), 0);
}

/* Jobs created in the same millisecond go by id, highest first, and a page
 * continues below its last job even when that job is gone by then: the
 * position is (created_ms, id), not a row that must still exist. */
static void test_list_paging_ties_and_deletes(void **state)
{
        struct fixture *f = *state;
        struct cd_store_filter flt = { .limit = 2 };
        struct cd_err err = { 0 };
        struct rowset *rs;

        open_store(f);
        /* Inserted out of id order: the order is the ids', not the seqs'. */
        assert_int_equal(try_insert(f, 3, 1000, NULL, 500, NULL, &err), 0);
        assert_int_equal(try_insert(f, 1, 1000, NULL, 500, NULL, &err), 0);
        assert_int_equal(try_insert(f, 4, 1000, NULL, 400, NULL, &err), 0);
        assert_int_equal(try_insert(f, 2, 1000, NULL, 500, NULL, &err), 0);
        assert_int_equal(try_insert(f, 5, 1000, NULL, 600, NULL, &err), 0);
        assert_jobs(list(f, NULL), 5, 5, 3, 2, 1, 4);
        rs = list(f, &flt);
        assert_jobs(rs, 2, 5, 3);
        flt.before_created_ms = rs->rows[1].created_ms;
        flt.before_id = rs->rows[1].id;
        /* The page's last job is deleted before the next page is asked. */
        assert_int_equal(cd_store_delete(f->s, id_of(3), &err), 0);
        rs = list(f, &flt);
        assert_jobs(rs, 2, 2, 1);
        flt.before_created_ms = rs->rows[1].created_ms;
        flt.before_id = rs->rows[1].id;
        assert_jobs(list(f, &flt), 1, 4);
        /* A position no job holds: from the next one below it. */
        flt.before_created_ms = 500;
        flt.before_id = id_of(2);
        assert_jobs(list(f, &flt), 2, 1, 4);
        flt.before_created_ms = 450;
        flt.before_id = id_of(99);
        assert_jobs(list(f, &flt), 1, 4);
}

static void test_list_default_limit(void **state)
{
        struct fixture *f = *state;
        struct cd_store_filter flt = { 0 };
        struct rowset *rs;

        open_store(f);
        for (unsigned int i = 1; i <= 150; i++)
                insert(f, i, 1000, NULL);
        rs = list(f, &flt);
        assert_int_equal(rs->n, 100);
        assert_string_equal(rs->rows[0].id, id_of(150));
        assert_string_equal(rs->rows[99].id, id_of(51));
        flt.limit = 1000;
        assert_int_equal(list(f, &flt)->n, 150);
        flt.limit = SIZE_MAX;
        assert_int_equal(list(f, &flt)->n, 150);
}

static void test_list_queued(void **state)
{
        struct fixture *f = *state;
        struct rowset *rs = rowset_new();
        struct cd_err err = { 0 };

        open_store(f);
        assert_int_equal(cd_store_list_queued(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 0);
        insert_mix(f);
        rs = rowset_new();
        assert_int_equal(cd_store_list_queued(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 4, 1, 2, 7, 8);
        assert_int_equal(rs->rows[0].state, CD_JOB_QUEUED);
        assert_string_equal(rs->rows[1].labels_json, "{\"course\":\"mus101\",\"x.y-z_0\":\"v\"}");
}

/* A queued job marked cancelled is never set running nor requeued at a
 * start; it is listed as a cancel to finish until it has finished. A job
 * that is not queued cannot be marked. */
static void test_mark_cancelled(void **state)
{
        struct fixture *f = *state;
        struct rowset *rs = rowset_new();
        struct cd_err err = { 0 };

        open_store(f);
        insert_mix(f);
        assert_false(get(f, 2)->cancel_marked);
        assert_int_equal(cd_store_mark_cancelled(f->s, id_of(2), 2000, &err), 0);
        /* A second cancel: still marked, the first asker kept. */
        assert_int_equal(cd_store_mark_cancelled(f->s, id_of(2), 0, &err), 0);
        assert_true(get(f, 2)->cancel_marked);
        assert_int_equal(get(f, 2)->cancel_uid, 2000);
        assert_int_equal(cd_store_mark_cancelled(f->s, id_of(3), 0, &err), -ESTALE); /* running */
        assert_int_equal(cd_store_mark_cancelled(f->s, id_of(99), 0, &err), -ENOENT);
        assert_int_equal(cd_store_set_running(f->s, id_of(2), 5000, 7, &err), -ESTALE);
        assert_non_null(strstr(err.msg, "cancelled"));
        assert_int_equal(cd_store_list_queued(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 3, 1, 7, 8);
        rs = rowset_new();
        assert_int_equal(cd_store_list_cancelled(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 1, 2);
        assert_true(rs->rows[0].cancel_marked);
        assert_int_equal(rs->rows[0].cancel_uid, 2000);
        assert_int_equal(
                cd_store_set_finished(f->s, id_of(2), "cancelled", NULL, NULL, 0, 6000, &err), 0);
        rs = rowset_new();
        assert_int_equal(cd_store_list_cancelled(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 0);
}

/* A finished job marked deleted is gone from lists, counts and retention's
 * list, is still found by id (marked, with who asked), and is listed as a
 * delete to finish until its row is removed; the first asker stays. A job
 * that is not finished cannot be marked. */
static void test_mark_deleted(void **state)
{
        struct fixture *f = *state;
        struct cd_store_filter all = { .limit = 1000 };
        uint64_t counts[_CD_JOB_STATE_MAX] = { 0 };
        struct rowset *rs = rowset_new();
        struct cd_err err = { 0 };

        open_store(f);
        insert_mix(f);
        assert_false(get(f, 5)->delete_marked);
        assert_int_equal(cd_store_mark_deleted(f->s, id_of(5), 2000, 50, &err), 0);
        assert_int_equal(cd_store_mark_deleted(f->s, id_of(5), 0, 60, &err), 0);
        assert_int_equal(get(f, 5)->audit_from, 50); /* the first mark's */
        assert_int_equal(cd_store_mark_deleted(f->s, id_of(6), CD_STORE_DELETE_RETENTION, 50, &err),
                         0);
        assert_true(get(f, 5)->delete_marked);
        assert_int_equal(get(f, 5)->delete_uid, 2000);
        assert_false(get(f, 5)->delete_recorded);
        assert_int_equal(get(f, 6)->delete_uid, CD_STORE_DELETE_RETENTION);
        assert_int_equal(cd_store_mark_deleted(f->s, id_of(1), 0, 50, &err), -ESTALE); /* queued */
        assert_int_equal(cd_store_mark_deleted(f->s, id_of(3), 0, 50, &err), -ESTALE); /* running */
        assert_int_equal(cd_store_mark_deleted(f->s, id_of(99), 0, 50, &err), -ENOENT);
        assert_int_equal(cd_store_mark_deleted(f->s, id_of(5), -2, 50, &err), -EINVAL);
        assert_int_equal(cd_store_mark_deleted(f->s, id_of(5), (int64_t) UINT32_MAX + 1, 50, &err),
                         -EINVAL);
        assert_jobs(list(f, &all), 6, 8, 7, 4, 3, 2, 1);
        assert_int_equal(cd_store_count_states(f->s, counts, &err), 0);
        assert_int_equal(counts[CD_JOB_FINISHED], 0);
        assert_int_equal(counts[CD_JOB_QUEUED], 4);
        assert_int_equal(cd_store_list_deleting(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 2, 5, 6);
        rs = rowset_new(); /* retention leaves them to the janitor */
        assert_int_equal(cd_store_list_expired(f->s, INT64_MAX, 0, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 0);
        assert_int_equal(cd_store_mark_delete_recorded(f->s, id_of(5), &err), 0);
        assert_int_equal(cd_store_mark_delete_recorded(f->s, id_of(1), &err), -ENOENT);
        assert_true(get(f, 5)->delete_recorded);
        assert_false(get(f, 6)->delete_recorded);
        /* Marks are durable. */
        reopen_store(f);
        assert_int_equal(get(f, 5)->delete_uid, 2000);
        assert_true(get(f, 5)->delete_recorded);
        assert_int_equal(cd_store_delete(f->s, id_of(5), &err), 0);
        rs = rowset_new();
        assert_int_equal(cd_store_list_deleting(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 1, 6);
}

/* Recovery's list: every running job, and every queued one holding a
 * finish; a finish is kept until the verdict is stored, which clears it. */
static void test_list_interrupted(void **state)
{
        struct fixture *f = *state;
        struct rowset *rs = rowset_new();
        struct cd_err err = { 0 };
        static const char held[] = "{\"verdict\":\"ok\",\"bytes\":5}";

        open_store(f);
        insert_mix(f);
        assert_int_equal(cd_store_list_interrupted(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 2, 3, 4);
        assert_int_equal(rs->rows[0].audit_from, 103);
        assert_null(rs->rows[0].finish_json);

        /* Job 4 (running) and job 7 (queued, failed before it started) hold
         * a finish; a finished job cannot. */
        assert_int_equal(cd_store_set_finishing(f->s, id_of(4), held, &err), 0);
        assert_int_equal(cd_store_set_finishing(f->s, id_of(7), held, &err), 0);
        assert_int_equal(cd_store_set_finishing(f->s, id_of(5), held, &err), -ESTALE);
        assert_int_equal(cd_store_set_finishing(f->s, id_of(99), held, &err), -ENOENT);
        assert_int_equal(cd_store_set_finishing(f->s, id_of(1), "{not json", &err), -EINVAL);
        assert_null(get(f, 1)->finish_json);
        assert_string_equal(get(f, 4)->finish_json, held);
        assert_int_equal(get(f, 4)->state, CD_JOB_RUNNING);
        /* Lists leave it out, as they leave out artifacts: it holds a result. */
        rs = list(f, NULL);
        for (size_t i = 0; i < rs->n; i++)
                assert_null(rs->rows[i].finish_json);
        rs = rowset_new();
        assert_int_equal(cd_store_list_interrupted(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 3, 3, 4, 7);
        /* Job 7 is not run again at a restart: recovery finishes it. */
        rs = rowset_new();
        assert_int_equal(cd_store_list_queued(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 3, 1, 2, 8);

        set_finished(f, 4, "ok", 30);
        set_finished(f, 7, "setup_error", 30);
        assert_null(get(f, 4)->finish_json);
        assert_null(get(f, 7)->finish_json);
        rs = rowset_new();
        assert_int_equal(cd_store_list_interrupted(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 1, 3);
}

/* A row inserted unrecorded is out of sight (lists, counts, the queue)
 * until it is marked recorded, and listed for recovery until then; it
 * counts against its owner's quota meanwhile. */
static void test_unrecorded_submission(void **state)
{
        struct fixture *f = *state;
        struct cd_job_row in = { .owner_uid = 1000,
                                 .profile = (char *) "default",
                                 .created_ms = 1002, /* as insert() would */
                                 .request_json = (char *) REQUEST,
                                 .stored_bytes = 300,
                                 .audit_from = 41,
                                 .submit_unrecorded = true };
        uint64_t counts[_CD_JOB_STATE_MAX] = { 0 };
        struct rowset *rs = rowset_new();
        struct cd_err err = { 0 };
        struct cd_job_row *row;

        open_store(f);
        insert(f, 1, 1000, NULL);
        make_id(2, in.id);
        assert_int_equal(cd_store_insert(f->s, &in, 0, &err), 0);
        row = get(f, 2);
        assert_true(row->submit_unrecorded);
        assert_int_equal(row->audit_from, 41);
        assert_jobs(list(f, NULL), 1, 1);
        assert_int_equal(cd_store_count_states(f->s, counts, &err), 0);
        assert_int_equal(counts[CD_JOB_QUEUED], 1);
        assert_int_equal(cd_store_list_queued(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 1, 1);
        assert_int_equal(owner_bytes(f, 1000), 300);
        rs = rowset_new();
        assert_int_equal(cd_store_list_unrecorded(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 1, 2);

        assert_int_equal(cd_store_mark_submit_recorded(f->s, id_of(2), &err), 0);
        assert_int_equal(cd_store_mark_submit_recorded(f->s, id_of(2), &err), -ENOENT);
        assert_int_equal(cd_store_mark_submit_recorded(f->s, id_of(1), &err), -ENOENT);
        assert_false(get(f, 2)->submit_unrecorded);
        assert_jobs(list(f, NULL), 2, 2, 1);
        rs = rowset_new();
        assert_int_equal(cd_store_list_unrecorded(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 0);
        rs = rowset_new();
        assert_int_equal(cd_store_list_queued(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 2, 1, 2);
}

static void test_list_expired(void **state)
{
        struct fixture *f = *state;
        struct rowset *rs = rowset_new();
        struct cd_err err = { 0 };

        open_store(f);
        for (unsigned int i = 1; i <= 6; i++)
                insert(f, i, 1000, NULL);
        set_finished(f, 1, "ok", 500);
        set_finished(f, 2, "ok", 300);
        set_finished(f, 3, "ok", 700);
        set_finished(f, 4, "ok", 300);
        set_running(f, 5, 100); /* running and queued never expire */

        assert_int_equal(cd_store_list_expired(f->s, 700, 10, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 3, 2, 4, 1);
        rs = rowset_new();
        assert_int_equal(cd_store_list_expired(f->s, 701, 2, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 2, 2, 4);
        rs = rowset_new();
        assert_int_equal(cd_store_list_expired(f->s, 300, 10, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 0);
        rs = rowset_new();
        assert_int_equal(cd_store_list_expired(f->s, INT64_MAX, 0, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 4, 2, 4, 1, 3);
}

static void test_count_states(void **state)
{
        struct fixture *f = *state;
        uint64_t counts[_CD_JOB_STATE_MAX] = { 9, 9, 9 };
        struct cd_err err = { 0 };

        open_store(f);
        assert_int_equal(cd_store_count_states(f->s, counts, &err), 0);
        assert_int_equal(counts[CD_JOB_QUEUED], 0);
        assert_int_equal(counts[CD_JOB_RUNNING], 0);
        assert_int_equal(counts[CD_JOB_FINISHED], 0);
        insert_mix(f);
        assert_int_equal(cd_store_count_states(f->s, counts, &err), 0);
        assert_int_equal(counts[CD_JOB_QUEUED], 4);
        assert_int_equal(counts[CD_JOB_RUNNING], 2);
        assert_int_equal(counts[CD_JOB_FINISHED], 2);
}

static void test_reopen_durable(void **state)
{
        struct fixture *f = *state;
        struct rowset *before, *after;
        struct cd_store_filter all = { .limit = 1000 };
        int64_t last;

        open_store(f);
        insert_mix(f);
        before = list(f, &all);
        last = before->rows[0].seq;
        /* AUTOINCREMENT: the seq of a deleted newest job is never reused. */
        assert_int_equal(cd_store_delete(f->s, id_of(8), &(struct cd_err){ 0 }), 0);
        before = list(f, &all);
        reopen_store(f);
        after = list(f, &all);
        assert_int_equal(after->n, before->n);
        for (size_t i = 0; i < after->n; i++)
                assert_row_equal(&after->rows[i], &before->rows[i]);
        /* Jobs 1..7: 7 queued, 3 running, 2 finished; job 8's went with it. */
        assert_int_equal(db_int(f, "SELECT count(*) FROM transitions"), 7 + 3 + 2);
        assert_true(insert(f, 9, 1000, NULL) > last);
        /* Changes after the reopen work as before. */
        set_running(f, 1, 50);
        assert_int_equal(get(f, 1)->state, CD_JOB_RUNNING);
}

static void test_newer_schema_refused(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        struct cd_store *s = NULL;

        open_store(f);
        insert(f, 1, 1000, NULL);
        f->s = cd_store_close(f->s);
        db_exec(f, "PRAGMA user_version = 7");
        assert_int_equal(cd_store_open(f->dirfd, &s, &err), -ENOTSUP);
        assert_null(s);
        assert_int_equal(err.code, ENOTSUP);
        assert_non_null(strstr(err.msg, "schema version 7"));
        assert_non_null(strstr(err.msg, "refusing"));
        /* Left as it was. */
        assert_int_equal(db_int(f, "PRAGMA user_version"), 7);
        assert_int_equal(db_int(f, "SELECT count(*) FROM jobs"), 1);

        db_exec(f, "PRAGMA user_version = -1");
        assert_int_equal(cd_store_open(f->dirfd, &s, &err), -ENOTSUP);
}

/* What versions 6, 5 and 4 added, taken away again to make an older database. */
#define DROP_V6 "DROP INDEX jobs_created; "
#define DROP_V5                                                                                    \
        DROP_V6 "DROP INDEX jobs_unrecorded; ALTER TABLE jobs DROP COLUMN audit_from; "            \
                "ALTER TABLE jobs DROP COLUMN submit_recorded; ALTER TABLE jobs DROP COLUMN "      \
                "finish_json; "
#define DROP_V4                                                                                    \
        DROP_V5 "DROP INDEX jobs_deleting; ALTER TABLE jobs DROP COLUMN delete_uid; "              \
                "ALTER TABLE jobs DROP COLUMN delete_recorded; "

/* A database of schema version 1 (before stored_bytes) is upgraded in
 * place: its jobs stay and count 0 bytes until they finish. */
static void test_upgrade_from_v1(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        int64_t seq;

        open_store(f);
        insert(f, 1, 1000, NULL);
        f->s = cd_store_close(f->s);
        db_exec(f, DROP_V4 "ALTER TABLE jobs DROP COLUMN stored_bytes; "
                           "ALTER TABLE jobs DROP COLUMN cancel_uid; PRAGMA user_version = 1");
        assert_int_equal(db_int(f, "SELECT count(*) FROM pragma_table_info('jobs') "
                                   "WHERE name = 'stored_bytes'"),
                         0);

        open_store(f);
        assert_int_equal(db_int(f, "PRAGMA user_version"), 6);
        assert_int_equal(db_int(f, "SELECT cancel_uid IS NULL FROM jobs WHERE id = '%s'", id_of(1)),
                         1);
        assert_string_equal(get(f, 1)->id, id_of(1));
        assert_int_equal(db_int(f, "SELECT stored_bytes FROM jobs WHERE id = '%s'", id_of(1)), 0);
        assert_int_equal(try_insert_bytes(f, 2, 1000, 4096, 0, &seq, &err), 0);
        assert_int_equal(owner_bytes(f, 1000), 4096);
        assert_int_equal(cd_store_set_finished(f->s, id_of(1), "ok", NULL, NULL, 100, 5, &err), 0);
        assert_int_equal(owner_bytes(f, 1000), 4196);
}

/* A database of schema version 2 (before cancel_uid) is upgraded in
 * place: its queued jobs stay queued, unmarked, and are requeued. */
static void test_upgrade_from_v2(void **state)
{
        struct fixture *f = *state;
        struct rowset *rs = rowset_new();
        struct cd_err err = { 0 };

        open_store(f);
        insert(f, 1, 1000, NULL);
        f->s = cd_store_close(f->s);
        db_exec(f, DROP_V4 "ALTER TABLE jobs DROP COLUMN cancel_uid; PRAGMA user_version = 2");
        open_store(f);
        assert_int_equal(db_int(f, "PRAGMA user_version"), 6);
        assert_int_equal(cd_store_list_queued(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 1, 1);
        assert_int_equal(cd_store_mark_cancelled(f->s, id_of(1), 1000, &err), 0);
}

/* A database of schema version 3 (before delete marks) is upgraded in
 * place: its finished jobs are listed, unmarked, and can be marked. */
static void test_upgrade_from_v3(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };

        open_store(f);
        insert(f, 1, 1000, NULL);
        set_finished(f, 1, "ok", 20);
        f->s = cd_store_close(f->s);
        db_exec(f, DROP_V4 "PRAGMA user_version = 3");
        open_store(f);
        assert_int_equal(db_int(f, "PRAGMA user_version"), 6);
        assert_false(get(f, 1)->delete_marked);
        assert_jobs(list(f, NULL), 1, 1);
        assert_int_equal(cd_store_mark_deleted(f->s, id_of(1), 1000, 50, &err), 0);
        assert_jobs(list(f, NULL), 0);
}

/* A database of schema version 4 (before audit_from, submit_recorded and
 * finish_json) is upgraded in place: its jobs are recorded submissions
 * with no known seq (recovery writes their records, as before), and a
 * running one is listed for recovery. */
static void test_upgrade_from_v4(void **state)
{
        struct fixture *f = *state;
        struct rowset *rs = rowset_new();
        struct cd_err err = { 0 };
        struct cd_job_row *row;

        open_store(f);
        insert(f, 1, 1000, NULL);
        insert(f, 2, 1000, NULL);
        set_running(f, 2, 10);
        f->s = cd_store_close(f->s);
        db_exec(f, DROP_V5 "PRAGMA user_version = 4");
        open_store(f);
        assert_int_equal(db_int(f, "PRAGMA user_version"), 6);
        row = get(f, 2);
        assert_int_equal(row->audit_from, 0);
        assert_false(row->submit_unrecorded);
        assert_null(row->finish_json);
        assert_jobs(list(f, NULL), 2, 2, 1);
        assert_int_equal(cd_store_list_interrupted(f->s, &rs->rows, &rs->n, &err), 0);
        assert_jobs(rs, 1, 2);
        assert_int_equal(cd_store_set_finishing(f->s, id_of(2), "{}", &err), 0);
}

/* A database of schema version 5 (before the list index) is upgraded in
 * place: it gets the index, and lists as before. */
static void test_upgrade_from_v5(void **state)
{
        struct fixture *f = *state;

        open_store(f);
        insert(f, 1, 1000, NULL);
        insert(f, 2, 1000, NULL);
        f->s = cd_store_close(f->s);
        db_exec(f, DROP_V6 "PRAGMA user_version = 5");
        assert_int_equal(
                db_int(f, "SELECT count(*) FROM sqlite_schema WHERE name = 'jobs_created'"), 0);
        open_store(f);
        assert_int_equal(db_int(f, "PRAGMA user_version"), 6);
        assert_int_equal(
                db_int(f, "SELECT count(*) FROM sqlite_schema WHERE name = 'jobs_created'"), 1);
        assert_jobs(list(f, NULL), 2, 2, 1);
}

/* The quota is checked in the insert's transaction, per owner; a
 * finished job's bytes replace what its insert counted; a delete frees. */
static void test_owner_quota(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        int64_t seq;

        open_store(f);
        assert_int_equal(try_insert_bytes(f, 1, 1000, 600, 1000, &seq, &err), 0);
        assert_int_equal(try_insert_bytes(f, 2, 1000, 400, 1000, &seq, &err), 0);
        assert_int_equal(owner_bytes(f, 1000), 1000);
        /* One byte more is refused, and nothing of it is stored. */
        assert_int_equal(try_insert_bytes(f, 3, 1000, 1, 1000, &seq, &err), -CD_E_QUOTA);
        assert_int_equal(err.code, CD_E_QUOTA);
        assert_non_null(strstr(err.msg, "quota"));
        assert_int_equal(db_int(f, "SELECT count(*) FROM jobs WHERE id = '%s'", id_of(3)), 0);
        /* Another owner has its own share; no quota (0) takes anything. */
        assert_int_equal(try_insert_bytes(f, 4, 2000, 1000, 1000, &seq, &err), 0);
        assert_int_equal(try_insert_bytes(f, 5, 2000, 1ULL << 40, 0, &seq, &err), 0);
        assert_int_equal(owner_bytes(f, 2000), 1000 + (1LL << 40));
        /* Sizes near 2^64 neither wrap the check nor the column. */
        assert_int_equal(try_insert_bytes(f, 6, 3000, UINT64_MAX, UINT64_MAX - 1, &seq, &err),
                         -CD_E_QUOTA);
        assert_int_equal(try_insert_bytes(f, 7, 3000, UINT64_MAX, 0, &seq, &err), 0);
        assert_int_equal(owner_bytes(f, 3000), INT64_MAX);
        /* Two of them add up past 2^63: still an answer, and over any quota. */
        assert_int_equal(try_insert_bytes(f, 9, 3000, UINT64_MAX, 0, &seq, &err), 0);
        assert_int_equal(owner_bytes(f, 3000), INT64_MAX);
        assert_int_equal(try_insert_bytes(f, 10, 3000, 1, 1ULL << 62, &seq, &err), -CD_E_QUOTA);

        /* Job 1 finishes holding 100 bytes: room for 500 more. */
        assert_int_equal(cd_store_set_finished(f->s, id_of(1), "ok", NULL, NULL, 100, 5, &err), 0);
        assert_int_equal(owner_bytes(f, 1000), 500);
        assert_int_equal(try_insert_bytes(f, 3, 1000, 500, 1000, &seq, &err), 0);
        assert_int_equal(try_insert_bytes(f, 8, 1000, 1, 1000, &seq, &err), -CD_E_QUOTA);
        assert_int_equal(cd_store_delete(f->s, id_of(3), &err), 0);
        assert_int_equal(try_insert_bytes(f, 8, 1000, 500, 1000, &seq, &err), 0);
        /* Nobody's jobs: 0. */
        assert_int_equal(owner_bytes(f, 4000), 0);
}

static void test_foreign_db_refused(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        struct cd_store *s = NULL;

        db_exec(f, "CREATE TABLE jobs (x); INSERT INTO jobs VALUES (1)");
        assert_int_equal(cd_store_open(f->dirfd, &s, &err), -ENOTSUP);
        assert_non_null(strstr(err.msg, "no cordon schema"));
        assert_int_equal(db_int(f, "SELECT count(*) FROM jobs"), 1);

        /* Not a database at all. */
        assert_int_equal(unlinkat(f->dirfd, "jobs.db", 0), 0);
        assert_int_equal(ut_write_file(f->dirfd, "jobs.db", NOT_SQLITE, strlen(NOT_SQLITE)), 0);
        assert_int_equal(cd_store_open(f->dirfd, &s, &err), -EIO);
        assert_null(s);
}

static void test_symlink_refused(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        struct cd_store *s = NULL;
        int fds = ut_count_fds();
        cleanup_free char *data = NULL;
        struct stat st;

        assert_int_equal(mkdirat(f->dirfd, "elsewhere", 0700), 0);
        /* Dangling: O_CREAT must not create the target. */
        assert_int_equal(symlinkat(path_in(f, "elsewhere/victim.db"), f->dirfd, "jobs.db"), 0);
        assert_int_equal(cd_store_open(f->dirfd, &s, &err), -ELOOP);
        assert_int_equal(err.code, ELOOP);
        assert_non_null(strstr(err.msg, "jobs.db"));
        assert_null(s);
        assert_int_equal(ut_count_entries(path_in(f, "elsewhere")), 0);

        /* To an existing file: neither its mode nor its content change. */
        assert_int_equal(ut_write_file(f->dirfd, "elsewhere/victim.db", "precious", 8), 0);
        assert_int_equal(cd_store_open(f->dirfd, &s, &err), -ELOOP);
        data = ut_read_file(f->dirfd, "elsewhere/victim.db", NULL);
        assert_string_equal(data, "precious");
        assert_int_equal(fstatat(f->dirfd, "elsewhere/victim.db", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(ut_count_entries(path_in(f, "elsewhere")), 1);
        assert_int_equal(ut_count_entries(f->tmp), 2); /* elsewhere, jobs.db: no -wal, -shm */
        assert_int_equal(ut_count_fds(), fds);
}

static void test_fifo_refused(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        struct cd_store *s = NULL;
        struct stat st;

        /* Refused by fstat after the open, which must not block: Linux opens a
         * FIFO O_RDWR at once, and the store adds O_NONBLOCK besides. */
        assert_int_equal(mkfifoat(f->dirfd, "jobs.db", 0600), 0);
        assert_int_equal(cd_store_open(f->dirfd, &s, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "not a regular file"));
        assert_null(s);
        assert_int_equal(fstatat(f->dirfd, "jobs.db", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISFIFO(st.st_mode));

        assert_int_equal(unlinkat(f->dirfd, "jobs.db", 0), 0);
        assert_int_equal(mkdirat(f->dirfd, "jobs.db", 0700), 0);
        assert_true(cd_store_open(f->dirfd, &s, &err) < 0);
        assert_null(s);
}

static void test_hardlink_refused(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        struct cd_store *s = NULL;

        open_store(f);
        f->s = cd_store_close(f->s);
        assert_int_equal(linkat(f->dirfd, "jobs.db", f->dirfd, "copy.db", 0), 0);
        assert_int_equal(cd_store_open(f->dirfd, &s, &err), -EPERM);
        assert_non_null(strstr(err.msg, "hard links"));
        assert_int_equal(unlinkat(f->dirfd, "copy.db", 0), 0);
        open_store(f);
}

static void test_sidecar_symlink_refused(void **state)
{
        static const char *const sidecars[] = { "jobs.db-wal", "jobs.db-shm", "jobs.db-journal" };
        struct fixture *f = *state;

        assert_int_equal(mkdirat(f->dirfd, "elsewhere", 0700), 0);
        for (size_t i = 0; i < ELEMENTSOF(sidecars); i++) {
                struct cd_err err = { 0 };
                struct cd_store *s = NULL;

                assert_int_equal(symlinkat(path_in(f, "elsewhere/victim"), f->dirfd, sidecars[i]),
                                 0);
                assert_int_equal(cd_store_open(f->dirfd, &s, &err), -EINVAL);
                assert_non_null(strstr(err.msg, sidecars[i]));
                assert_null(s);
                assert_int_equal(ut_count_entries(path_in(f, "elsewhere")), 0);
                assert_int_equal(unlinkat(f->dirfd, sidecars[i], 0), 0);
        }
        open_store(f);
        insert(f, 1, 1000, NULL);
        assert_int_equal(ut_count_entries(path_in(f, "elsewhere")), 0);
}

/*
 * SQLite needs a path, read back from the directory fd: after a rename it
 * is the new path; a deleted directory is refused and nothing is created.
 */
static void test_state_dir_renamed_or_deleted(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        struct cd_store *s = NULL;
        int fd;

        assert_int_equal(mkdirat(f->dirfd, "state", 0700), 0);
        fd = openat(f->dirfd, "state", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(renameat(f->dirfd, "state", f->dirfd, "moved"), 0);
        if (cd_store_open(fd, &s, &err) < 0) {
                (void) close(fd);
                fail_msg("open in a renamed directory: %s", err.msg);
        }
        s = cd_store_close(s);
        assert_int_equal(ut_count_entries(path_in(f, "moved")), 1); /* jobs.db only */

        assert_int_equal(unlinkat(fd, "jobs.db", 0), 0);
        assert_int_equal(unlinkat(f->dirfd, "moved", AT_REMOVEDIR), 0);
        assert_true(cd_store_open(fd, &s, &err) < 0);
        (void) close(fd);
        assert_null(s);
        assert_int_equal(ut_count_entries(f->tmp), 0);
}

struct worker {
        struct fixture *f;
        unsigned int base;
        int failed; /* the first error, or 0 */
        char msg[600];
};

#define THREADS         4
#define JOBS_PER_THREAD 200

static void *insert_many(void *arg)
{
        struct worker *w = arg;

        for (unsigned int i = 0; i < JOBS_PER_THREAD && !w->failed; i++) {
                struct cd_job_row got = { 0 };
                struct cd_err err = { 0 };
                char id[CD_JOB_ID_LEN + 1];
                uint64_t counts[_CD_JOB_STATE_MAX];
                int r;

                make_id(w->base + i, id);
                r = try_insert(w->f, w->base + i, w->base, NULL, i, NULL, &err);
                /* Reads interleaved with the other threads' writes. */
                if (r >= 0)
                        r = cd_store_get(w->f->s, id, &got, &err);
                if (r >= 0 && got.owner_uid != w->base)
                        r = cd_err_set(&err, EIO, "job %s has owner %u", id, got.owner_uid);
                if (r >= 0 && i % 50 == 0)
                        r = cd_store_count_states(w->f->s, counts, &err);
                cd_job_row_clear(&got);
                if (r < 0) {
                        w->failed = r;
                        (void) snprintf(w->msg, sizeof(w->msg), "job %u: %s", w->base + i, err.msg);
                }
        }
        return NULL;
}

static void test_concurrent_inserts(void **state)
{
        struct fixture *f = *state;
        struct worker w[THREADS];
        pthread_t t[THREADS];
        uint64_t counts[_CD_JOB_STATE_MAX];
        struct cd_err err = { 0 };

        open_store(f);
        for (unsigned int i = 0; i < THREADS; i++) {
                w[i] = (struct worker){ .f = f, .base = (i + 1) * 10000 };
                assert_int_equal(pthread_create(&t[i], NULL, insert_many, &w[i]), 0);
        }
        for (unsigned int i = 0; i < THREADS; i++)
                assert_int_equal(pthread_join(t[i], NULL), 0);
        for (unsigned int i = 0; i < THREADS; i++)
                if (w[i].failed)
                        fail_msg("thread %u: %d %s", i, w[i].failed, w[i].msg);
        assert_int_equal(cd_store_count_states(f->s, counts, &err), 0);
        assert_int_equal(counts[CD_JOB_QUEUED], THREADS * JOBS_PER_THREAD);
        assert_int_equal(db_int(f, "SELECT count(DISTINCT seq) FROM jobs"),
                         THREADS * JOBS_PER_THREAD);
        assert_int_equal(db_int(f, "SELECT count(*) FROM transitions"), THREADS * JOBS_PER_THREAD);
        reopen_store(f);
        assert_int_equal(cd_store_count_states(f->s, counts, &err), 0);
        assert_int_equal(counts[CD_JOB_QUEUED], THREADS * JOBS_PER_THREAD);
}

/* Root only: a 512 KiB tmpfs fills up; the insert that does not fit fails
 * with ENOSPC and leaves no trace, and what was stored before stays. */
static void test_disk_full(void **state)
{
        struct fixture *f = *state;
        struct cd_job_row row = { .profile = (char *) "python" };
        struct cd_job_row *got = row_new();
        char *req = ut_defer(free, malloc(16384));
        uint64_t counts[_CD_JOB_STATE_MAX];
        struct cd_err err = { 0 };
        unsigned int stored = 0;
        int r = 0;

        if (geteuid() != 0) {
                print_message("disk full: not root, skipped\n");
                skip();
        }
        f->dirfd = cd_close(f->dirfd);
        if (mount("tmpfs", f->tmp, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=512k,mode=0700") < 0) {
                print_message("disk full: cannot mount a tmpfs (%s), skipped\n", strerror(errno));
                skip();
        }
        f->mounted = true;
        f->dirfd = ut_open_dir(f->tmp);
        assert_true(f->dirfd >= 0);
        assert_non_null(req);
        memset(req, 'x', 16383);
        memcpy(req, "{\"pad\":\"", 8);
        memcpy(req + 16381, "\"}", 3);
        row.request_json = req;

        open_store(f);
        for (unsigned int i = 1; i <= 200; i++) {
                make_id(i, row.id);
                r = cd_store_insert(f->s, &row, 0, &err);
                if (r < 0)
                        break;
                stored = i;
        }
        assert_int_equal(r, -ENOSPC);
        assert_int_equal(err.code, ENOSPC);
        assert_true(stored > 0);
        assert_int_equal(cd_store_get(f->s, id_of(stored + 1), got, &err), -ENOENT);
        assert_int_equal(cd_store_count_states(f->s, counts, &err), 0);
        assert_int_equal(counts[CD_JOB_QUEUED], stored);
        assert_int_equal(db_int(f, "SELECT count(*) FROM transitions"), stored);
        assert_int_equal(cd_store_get(f->s, id_of(stored), got, &err), 0);
        assert_string_equal(got->request_json, req);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_state_strings),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(test_open_private_files),
                T(test_open_from_o_path_dir),
                T(test_roundtrip),
                T(test_insert_defaults),
                T(test_insert_duplicate),
                T(test_insert_invalid),
                T(test_get_missing),
                T(test_state_machine),
                T(test_transitions_recorded),
                T(test_delete),
                T(test_list_filters),
                T(test_list_bad_filters),
                T(test_list_leaves_out_artifacts),
                T(test_list_paging),
                T(test_list_paging_ties_and_deletes),
                T(test_list_default_limit),
                T(test_list_queued),
                T(test_mark_deleted),
                T(test_list_interrupted),
                T(test_unrecorded_submission),
                T(test_list_expired),
                T(test_count_states),
                T(test_reopen_durable),
                T(test_newer_schema_refused),
                T(test_mark_cancelled),
                T(test_upgrade_from_v3),
                T(test_upgrade_from_v4),
                T(test_upgrade_from_v5),
                T(test_upgrade_from_v2),
                T(test_upgrade_from_v1),
                T(test_owner_quota),
                T(test_foreign_db_refused),
                T(test_symlink_refused),
                T(test_fifo_refused),
                T(test_hardlink_refused),
                T(test_sidecar_symlink_refused),
                T(test_state_dir_renamed_or_deleted),
                T(test_concurrent_inserts),
                T(test_disk_full),
#undef T
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
