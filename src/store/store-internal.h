/* SPDX-License-Identifier: MIT */
#pragma once

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "cordon/err.h"
#include "cordon/store.h"

/* The schema this build creates and understands (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 6
#define STORE_DB_FILE        "jobs.db"
#define STORE_LIST_DEFAULT   100
#define STORE_LABEL_KEY_MAX  64

/* The columns every row query selects, in the order store_read_row() reads;
 * @finish and @result are the last (lists give no finish_json, and
 * result_json without its artifacts). */
#define STORE_JOB_COLUMNS_WITH(finish, result)                                                     \
        "seq, id, owner_uid, profile, state, verdict, reason, created_ms, started_ms, "            \
        "finished_ms, request_json, labels_json, cancel_uid, delete_uid, delete_recorded, "        \
        "audit_from, submit_recorded, " finish ", " result
#define STORE_JOB_COLUMNS STORE_JOB_COLUMNS_WITH("finish_json", "result_json")

/* Statements prepared once at open (store.c holds their SQL). */
enum store_stmt {
        STMT_BEGIN,
        STMT_COMMIT,
        STMT_ROLLBACK,
        STMT_INSERT_JOB,
        STMT_OWNER_BYTES,
        STMT_INSERT_TRANSITION,
        STMT_GET,
        STMT_GET_STATE,
        STMT_SET_RUNNING,
        STMT_SET_FINISHED,
        STMT_DELETE,
        STMT_LIST_QUEUED,
        STMT_MARK_CANCELLED,
        STMT_LIST_CANCELLED,
        STMT_LIST_INTERRUPTED,
        STMT_SET_FINISHING,
        STMT_LIST_EXPIRED,
        STMT_COUNT_STATES,
        STMT_MARK_DELETED,
        STMT_MARK_DELETE_RECORDED,
        STMT_LIST_DELETING,
        STMT_MARK_SUBMIT_RECORDED,
        STMT_LIST_UNRECORDED,
        _STMT_MAX,
};

/* cd_store_list() has one statement per combination of filters, so that
 * each can use its index; bit set = that condition is in the WHERE. */
enum {
        LIST_BY_OWNER = 1 << 0,
        LIST_BY_STATE = 1 << 1,
        LIST_BY_LABEL = 1 << 2,
        _LIST_VARIANTS = 1 << 3,
};

struct cd_store {
        pthread_mutex_t lock; /* held for the whole of every public call */
        sqlite3 *db;
        sqlite3_stmt *stmt[_STMT_MAX];
        sqlite3_stmt *list[_LIST_VARIANTS];
};

/* Take @s's mutex; returns @s for a cleanup_with(store_unlockp) variable. */
struct cd_store *store_lock(struct cd_store *s);
void store_unlockp(struct cd_store **s);

/* Reset a statement and its bindings at the end of a scope: a statement
 * left mid-step would keep its read transaction (and the WAL) pinned. */
void store_stmt_resetp(sqlite3_stmt **st);

/*
 * Fill @err from SQLite result @rc: "store: <fmt>: <sqlite message>", code
 * SQLITE_FULL -> ENOSPC, a UNIQUE or PRIMARY KEY constraint -> EEXIST,
 * another constraint -> EINVAL, BUSY/LOCKED -> EBUSY, NOMEM -> ENOMEM,
 * a refused symlink -> ELOOP, anything else -> EIO. Returns -code.
 */
int store_sql_err(struct cd_store *s, int rc, struct cd_err *err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* BEGIN IMMEDIATE: takes the write lock now, so a busy database fails here
 * (after busy_timeout) rather than halfway through a change. */
int store_begin(struct cd_store *s, struct cd_err *err);
/* COMMIT when @r >= 0, else ROLLBACK. Returns @r, or the COMMIT's error
 * (after rolling back). */
int store_end(struct cd_store *s, int r, struct cd_err *err);

/* Step @st expecting SQLITE_DONE (a statement that returns no row). */
int store_step_done(struct cd_store *s, sqlite3_stmt *st, struct cd_err *err, const char *what);
