/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cordon/audit.h"
#include "cordon/err.h"

#define AUDIT_LOCK_FILE "audit.lock"
/* "audit-" 20 digits "-" 20 digits ".jsonl": zero-padded so names sort by seq. */
#define AUDIT_ROTATED_NAME_MAX 54
#define AUDIT_ZERO_HASH        "0000000000000000000000000000000000000000000000000000000000000000"

/*
 * Refuse what cordon's writers would not have made: @st (of @name in
 * directory @dir, NULL when @name is the whole path) owned by another uid
 * than root or the caller's euid, or writable by group or others. Returns
 * 0 or -EPERM with @err set.
 */
int audit_check_owner(const struct stat *st, const char *dir, const char *name, struct cd_err *err);

/*
 * Open @name of @dirfd (@dir names the directory in messages, or NULL) with
 * @flags, O_NOFOLLOW and O_CLOEXEC (O_CREAT makes it 0600), as writers and
 * readers open every log file: only a regular file (-CD_E_INVALID), that
 * passes audit_check_owner() (-EPERM). Fills *@ret_st when not NULL.
 * Returns the fd (the caller's), or -errno with @err set.
 */
int audit_open_file(int dirfd, const char *dir, const char *name, int flags, struct stat *ret_st,
                    struct cd_err *err);

/* A parsed line. Pointers borrow from @root, which the record owns. */
struct audit_record {
        json_t *root;
        uint64_t seq;
        const char *event;
        const char *prev;
        json_t *details; /* NULL when the line holds null */
};

/* Check @e before anything is locked or written: the event name, string
 * lengths and UTF-8, the shape of details. Returns 0 or -CD_E_INVALID. */
int audit_event_check(const struct cd_audit_event *e, struct cd_err *err);

/*
 * The line for record @seq of @e chained to @prev (64 hex digits), newline
 * included, keys in the documented order. *@ret_line is the caller's
 * (free()). Returns 0 or a negative code with @err set.
 */
int audit_record_format(uint64_t seq, const char *prev, const struct cd_audit_event *e,
                        char **ret_line, size_t *ret_len, struct cd_err *err);

/*
 * Parse one line (@len bytes, no newline) into @ret; on failure @why (at
 * least 128 bytes) says what is wrong, without quoting the line. Returns 0,
 * or -EINVAL (not JSON, or not the shape of a record). Free with
 * audit_record_clear().
 */
int audit_record_parse(const char *line, size_t len, struct audit_record *ret, char *why,
                       size_t why_size);
void audit_record_clear(struct audit_record *r);

/* Name of the rotated file holding seq @first..@last (AUDIT_ROTATED_NAME_MAX bytes). */
void audit_rotated_name(uint64_t first, uint64_t last, char buf[AUDIT_ROTATED_NAME_MAX]);
/* True when @name is a rotated file's name; fills @ret_first, @ret_last. */
bool audit_rotated_parse(const char *name, uint64_t *ret_first, uint64_t *ret_last);

/* What audit_lines_next() found. */
enum audit_line {
        AUDIT_LINE_END,      /* nothing left to read */
        AUDIT_LINE_WHOLE,    /* a line with its newline, at most CD_AUDIT_MAX_RECORD bytes */
        AUDIT_LINE_TORN,     /* the end: bytes without a newline, fewer than a record */
        AUDIT_LINE_TOO_LONG, /* CD_AUDIT_MAX_RECORD bytes and no newline: not a record */
};

/* A file read line by line with one buffer of CD_AUDIT_MAX_RECORD bytes. */
struct audit_lines {
        int fd;     /* borrowed */
        off_t left; /* bytes still to read; -1: up to the end of the file */
        char *buf;  /* buf[start..end): read, not yet returned */
        size_t start, end;
        bool eof;      /* read(2) said so, or left reached 0 */
        bool skipping; /* the rest of a line too long is being dropped */
};

/* Read @fd (borrowed, at its offset) up to @limit bytes, or to its end when
 * @limit is -1. Returns 0, or -ENOMEM. Free with audit_lines_clear(). */
int audit_lines_init(struct audit_lines *l, int fd, off_t limit);
/*
 * The next line. AUDIT_LINE_WHOLE: *@ret_line (its newline replaced by a
 * NUL; borrowed until the next call) and *@ret_len. AUDIT_LINE_TOO_LONG:
 * the next call drops the rest of that line (reading, not keeping it) and
 * goes on after its newline. AUDIT_LINE_TORN and AUDIT_LINE_END: the end.
 * Returns one of them, or -errno of read(2).
 */
int audit_lines_next(struct audit_lines *l, char **ret_line, size_t *ret_len);
void audit_lines_clear(struct audit_lines *l);

/* The files of a directory as they stood at one moment: opened in order,
 * the live file with its size then. */
struct audit_snapshot {
        char **names;
        int *fds;
        size_t n;
        int live_fd; /* -1: none (a crash right after a rotation) */
        off_t live_size;
};

/* Take the snapshot of directory @dirfd (shown as @path) under a shared lock
 * on the writers' lock file. Returns 0 or -errno with @err. */
int audit_snapshot_locked(int dirfd, const char *path, struct audit_snapshot *s,
                          struct cd_err *err);
void audit_snapshot_clear(struct audit_snapshot *s);

/* cd_audit_scan() of directory @dirfd (shown as @path). */
int audit_scan_dir(int dirfd, const char *path, uint64_t from, cd_audit_scan_fn fn, void *data,
                   struct cd_err *err);
