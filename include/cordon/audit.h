/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The tamper-evident audit log: append-only JSON lines in <dir>/audit.jsonl,
 * one record per event, each holding the SHA-256 of the record before it
 * (a hash chain that continues across rotated files). Record format, events
 * and guarantees: docs/audit.md.
 *
 * Never put job input or output, environment values, user-chosen file names
 * (hash them) or command arguments from a request into an event: the log
 * keeps what it is given, for as long as it is kept.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cordon/err.h"

/* The events cordon records. An event name is [a-z0-9._], at most 64 bytes. */
#define CD_AUDIT_JOB_SUBMITTED   "job.submitted"
#define CD_AUDIT_JOB_STARTED     "job.started"
#define CD_AUDIT_JOB_FINISHED    "job.finished"
#define CD_AUDIT_ARTIFACT_READ   "artifact.read"
#define CD_AUDIT_OUTPUT_READ     "output.read"
#define CD_AUDIT_JOB_CANCELLED   "job.cancelled"
#define CD_AUDIT_JOB_DELETED     "job.deleted"
#define CD_AUDIT_AUTH_REFUSED    "auth.refused"
#define CD_AUDIT_CONFIG_LOADED   "config.loaded"
#define CD_AUDIT_PROFILES_LOADED "profiles.loaded"
/* Written by the module itself as the first record of a new file after rotation. */
#define CD_AUDIT_ROTATED "audit.rotated"
/* Written by cd_audit_repair() after it cut a torn last line. */
#define CD_AUDIT_REPAIRED "audit.repaired"

#define CD_AUDIT_FILE        "audit.jsonl"
#define CD_AUDIT_DEFAULT_MAX (64ULL << 20)
#define CD_AUDIT_MAX_RECORD  (64U << 10) /* bytes per line, newline included */
#define CD_AUDIT_HASH_HEX    65          /* cd_sha256_hex(): 64 hex digits and a NUL */
#define CD_AUDIT_MAX_STRING  256         /* role, job, profile, verdict, detail strings */

struct cd_audit;

struct cd_audit_config {
        uint64_t max_bytes; /* rotate when audit.jsonl has reached this size; 0: 64 MiB */
};

/* One event. Strings may be NULL (written as null) except @event. */
struct cd_audit_event {
        const char *event;   /* CD_AUDIT_* */
        uint32_t uid;        /* the actor */
        const char *role;    /* the actor's role ("admin", "submit", ...) */
        const char *job;     /* job id */
        const char *profile; /* profile name */
        const char *verdict; /* DESIGN.md verdict, or the reason of a refusal */
        /* A flat object of numbers, booleans and short strings (sizes, hashes,
         * counts). The caller keeps its reference; NULL writes null. */
        json_t *details;
};

/*
 * Open the audit log in @dir, creating @dir (mode 0700, last component only)
 * and <dir>/audit.jsonl (0600) when missing. @dir may not be a symlink, must
 * be owned by root or the caller's euid and not writable by group or others.
 * @cfg may be NULL. On success *@ret owns the handle (cd_audit_close()).
 * On failure @err names the step. Context: parent side, any thread that
 * owns the handle (a handle is not shared between threads).
 */
int cd_audit_open(const char *dir, const struct cd_audit_config *cfg, struct cd_audit **ret,
                  struct cd_err *err);

/*
 * Append one record for @e and return only after it is fsync'd: call it
 * before acknowledging the action it records. Several processes may append
 * to the same directory; each append takes an exclusive flock(2) on
 * <dir>/audit.lock and reads the chain's tail from the file, not from memory.
 * Rotates first when audit.jsonl has reached max_bytes. Refuses (CD_E_INVALID)
 * to append after an incomplete or unreadable last line, or when the log holds
 * fewer records than this handle already saw (truncated behind its back): the
 * damage is left for `cordon audit verify` to name. On a failed write (ENOSPC)
 * the file is truncated back, so no half record stays. Returns 0 or -errno
 * (or -CD_E_*) with @err set. Context: parent side.
 */
int cd_audit_append(struct cd_audit *a, const struct cd_audit_event *e, struct cd_err *err);

/*
 * Append @n events (1 to CD_AUDIT_MAX_BATCH) as consecutive records with
 * one write and one fsync: for events that happen together and are
 * acknowledged together (cordon run: the job submitted and started). All
 * or none are written. Otherwise as cd_audit_append().
 */
#define CD_AUDIT_MAX_BATCH 8
int cd_audit_append_many(struct cd_audit *a, const struct cd_audit_event *const *ev, size_t n,
                         struct cd_err *err);

/*
 * Read where the chain stands now (under the append lock), so that
 * cd_audit_mark() is the log's last seq even before this handle's first
 * append. The next append reuses what was read when nobody appended
 * meanwhile. Returns 0 or -errno / -CD_E_* with @err (as an append would
 * fail: a damaged tail). Context: parent side.
 */
int cd_audit_prime(struct cd_audit *a, struct cd_err *err);

/*
 * A seq at or below that of every record appended from now on: the
 * highest this handle has written or read by cd_audit_prime() (0 before
 * either). A caller
 * keeps it beside an action it is about to record, so that after a crash
 * cd_audit_scan() can tell from there whether the record was written.
 * Context: parent side, the handle's thread.
 */
uint64_t cd_audit_mark(const struct cd_audit *a);

/* A record as cd_audit_scan() passes it; borrowed for the call only.
 * job, verdict and profile are NULL when the record holds null. */
struct cd_audit_seen {
        uint64_t seq;
        const char *event;
        const char *job;
        const char *verdict;
        const char *profile;
        const json_t *details; /* NULL when the record holds null */
};

/* 0: go on; > 0: stop, and cd_audit_scan() returns it; < 0: an error. */
typedef int (*cd_audit_scan_fn)(const struct cd_audit_seen *r, void *data);

/*
 * Call @fn for each record of seq @from or later, in order: the rotated
 * files that hold such records, then audit.jsonl up to where it stood
 * when the scan began (its files are listed and opened under a shared
 * lock on the writers' lock file, as verify does). It reads, it does not
 * verify: a line that does not parse, and a torn end, are passed over
 * (`cordon audit verify` names them). Returns 0 after the last record,
 * what @fn returned when it stopped, or -errno with @err set when a file
 * could not be read or is not one a writer would take (not a regular file,
 * -CD_E_INVALID; owned by another uid than root or the caller's euid, or
 * writable by group or others, -EPERM). Context: parent side.
 */
int cd_audit_scan(struct cd_audit *a, uint64_t from, cd_audit_scan_fn fn, void *data,
                  struct cd_err *err);

/*
 * A note of a writer's own beside the log: @name is a plain name no log
 * file has (not audit*, not hidden). cd_audit_note_get() reads at most
 * @size - 1 bytes of it into @buf, NUL-terminated (-ENOENT when there is
 * none; the file is checked as a log file is: regular, owned by root or
 * the caller, not writable by group or others). cd_audit_note_set()
 * replaces it whole: written beside it, fsync'd and renamed over it, so a
 * reader sees the old text or the new one; the directory is not fsync'd
 * (a crash may bring the old one back). Return 0 or -errno with @err.
 * Context: parent side.
 */
int cd_audit_note_get(struct cd_audit *a, const char *name, char *buf, size_t size,
                      struct cd_err *err);
int cd_audit_note_set(struct cd_audit *a, const char *name, const char *text, struct cd_err *err);

/* Close the handle. Accepts NULL. Returns NULL. */
struct cd_audit *cd_audit_close(struct cd_audit *a);

/* What cd_audit_repair() cut; cut_bytes 0 when there was nothing to cut. */
struct cd_audit_repair {
        uint64_t cut_bytes;
        char cut_sha256[CD_AUDIT_HASH_HEX]; /* of the bytes cut */
        uint64_t seq;                       /* of the audit.repaired record */
};

/*
 * Cut the torn end of audit.jsonl: bytes after its last newline, fewer than
 * a record, that follow a sound record (what an append killed mid-write or
 * a power loss during its fsync leaves: never acknowledged). Under the
 * append lock, then an audit.repaired record by @uid (role admin) with the
 * count and SHA-256 of the bytes cut, so the repair stays in the chain.
 * Anything else (a complete line that does not parse, a longer tail) is
 * refused with CD_E_INVALID and left for `cordon audit verify` and a
 * person. Returns 0 (*@ret says what was cut), or -errno / -CD_E_* with
 * @err. Context: parent side.
 */
int cd_audit_repair(struct cd_audit *a, uint32_t uid, struct cd_audit_repair *ret,
                    struct cd_err *err);

/* What cd_audit_verify() checks beyond the chain itself. Zeroed: no extras. */
struct cd_audit_verify_opts {
        /* The record @anchor_seq must have the line hash @anchor_hash (64 hex
         * digits): a seq and hash kept off-host from an earlier run. This
         * detects a removed or edited tail, which the chain alone cannot. */
        uint64_t anchor_seq;
        const char *anchor_hash;
        /* Directory only: the oldest file may start after seq 1 (older files
         * were removed on purpose). Its first prev is then taken as given. */
        bool allow_pruned;
};

struct cd_audit_report {
        bool ok;
        uint64_t records;                  /* records read before the first problem */
        unsigned int files;                /* files read */
        uint64_t first_seq, last_seq;      /* of the valid records; 0 when none */
        char last_hash[CD_AUDIT_HASH_HEX]; /* SHA-256 of the last valid line */
        bool genesis;                      /* the chain starts at seq 1 (prev 64 zeros) */
        char start_note[256];              /* why the first prev was taken as given, or "" */
        /* When !ok, the first problem: */
        char bad_file[256]; /* base name of the file */
        uint64_t bad_line;  /* 1-based line in bad_file, 0 when not a line */
        uint64_t bad_seq;   /* the record named, 0 when unknown */
        char problem[512];  /* one sentence naming record, line and file */
};

/*
 * Verify the hash chain of @path: a file (its own chain; a first record
 * that is audit.rotated is accepted with its prev as given, and reported in
 * start_note) or a directory (every rotated audit-*.jsonl in order, then
 * audit.jsonl, links between files included). @opts may be NULL.
 * Returns 0 when the files were read, with the verdict in *@ret (ret->ok);
 * -errno with @err set when they could not be (missing, unreadable; @path
 * a symlink, -ELOOP: none is followed; a log file that is not a regular
 * file, -CD_E_INVALID, opened without waiting if it is a FIFO) or are not
 * as cordon's writers would take them (@path, or a log file in the
 * directory, owned by another uid than root or the caller's euid, or
 * writable by group or others: -EPERM). Context: any.
 */
int cd_audit_verify(const char *path, const struct cd_audit_verify_opts *opts,
                    struct cd_audit_report *ret, struct cd_err *err);
