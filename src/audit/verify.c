/* SPDX-License-Identifier: MIT */
/*
 * Verifying the chain: every line a record, seq +1 from line to line, each
 * prev the SHA-256 of the line before, across rotated files too. Stops at
 * the first problem and names it; never quotes a line (the log may hold
 * what an attacker wrote).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit-internal.h"
#include "cordon/cleanup.h"
#include "cordon/crypto.h"
#include "cordon/util.h"

struct verifier {
        struct cd_audit_verify_opts opts;
        struct cd_audit_report rep;
        bool dir_mode;
        bool have_prev;
        bool anchor_seen;
        uint64_t prev_seq;
        char prev_hash[CD_AUDIT_HASH_HEX];
        char prev_file[256];
        /* The file being read. */
        const char *file;
        uint64_t line;
        bool named; /* a rotated file: its name gives its first and last seq */
        uint64_t name_first, name_last;
        off_t end; /* bytes of it to read (what it held when listed); -1: all */
};

static int problem(struct verifier *v, uint64_t line, uint64_t seq, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int problem(struct verifier *v, uint64_t line, uint64_t seq, const char *fmt, ...)
{
        va_list ap;

        v->rep.ok = false;
        (void) snprintf(v->rep.bad_file, sizeof(v->rep.bad_file), "%s", v->file);
        v->rep.bad_line = line;
        v->rep.bad_seq = seq;
        va_start(ap, fmt);
        (void) vsnprintf(v->rep.problem, sizeof(v->rep.problem), fmt, ap);
        va_end(ap);
        return 1;
}

static int missing(struct verifier *v, uint64_t from, uint64_t to, const char *why)
{
        if (from == to)
                return problem(v, v->line, from,
                               "record %" PRIu64 " missing: seq jumps from %" PRIu64 " to %" PRIu64
                               " (line %" PRIu64 " of %s)%s",
                               from, from - 1, to + 1, v->line, v->file, why);
        return problem(v, v->line, from,
                       "records %" PRIu64 "-%" PRIu64 " missing: seq jumps from %" PRIu64
                       " to %" PRIu64 " (line %" PRIu64 " of %s)%s",
                       from, to, from - 1, to + 1, v->line, v->file, why);
}

/* The first record read: genesis, or (when allowed) a file continuing a chain. */
static int check_start(struct verifier *v, const struct audit_record *r)
{
        if (r->seq == 1) {
                if (strcmp(r->prev, AUDIT_ZERO_HASH) != 0)
                        return problem(v, v->line, 1,
                                       "record 1 (line %" PRIu64 " of %s): prev is not 64 "
                                       "zeros, but it is the first record",
                                       v->line, v->file);
                v->rep.genesis = true;
                return 0;
        }
        if (strcmp(r->event, CD_AUDIT_ROTATED) != 0)
                return missing(v, 1, r->seq - 1, ": the first record is not audit.rotated");
        if (v->dir_mode && !v->opts.allow_pruned)
                return missing(v, 1, r->seq - 1,
                               ": the oldest file does not start the chain (older files "
                               "removed?)");
        (void) snprintf(v->rep.start_note, sizeof(v->rep.start_note),
                        "%s starts at seq %" PRIu64 " with an audit.rotated record; its prev "
                        "was taken as given",
                        v->file, r->seq);
        return 0;
}

static int check_link(struct verifier *v, const struct audit_record *r, bool first_in_file)
{
        uint64_t want = v->prev_seq + 1;

        if (r->seq > want)
                return missing(v, want, r->seq - 1,
                               first_in_file && v->dir_mode ? " (a file removed?)" : "");
        if (r->seq < want)
                return problem(v, v->line, want,
                               "line %" PRIu64 " of %s has seq %" PRIu64 " where %" PRIu64
                               " was expected (lines reordered or duplicated?)",
                               v->line, v->file, r->seq, want);
        if (strcmp(r->prev, v->prev_hash) != 0)
                return problem(v, v->line, r->seq,
                               "record %" PRIu64 " (line %" PRIu64 " of %s): prev does not "
                               "match the hash of record %" PRIu64 "%s%s",
                               r->seq, v->line, v->file, v->prev_seq,
                               first_in_file ? ", the last of " : "",
                               first_in_file ? v->prev_file : "");
        return 0;
}

/* audit.rotated opens a file and names the file before it. */
static int check_rotated(struct verifier *v, const struct audit_record *r, bool first_in_file)
{
        bool is_rot = strcmp(r->event, CD_AUDIT_ROTATED) == 0;
        json_t *pf = json_object_get(r->details, "previous_file");
        json_t *pl = json_object_get(r->details, "previous_last_seq");

        if (!is_rot) {
                if (first_in_file && v->have_prev)
                        return problem(v, v->line, r->seq,
                                       "record %" PRIu64 " (line 1 of %s): a file that "
                                       "continues the chain must start with audit.rotated",
                                       r->seq, v->file);
                return 0;
        }
        if (!first_in_file)
                return problem(v, v->line, r->seq,
                               "record %" PRIu64 " (line %" PRIu64 " of %s): audit.rotated "
                               "is only valid as the first line of a file",
                               r->seq, v->line, v->file);
        if (!json_is_string(pf) || !json_is_integer(pl) ||
            (uint64_t) json_integer_value(pl) != r->seq - 1)
                return problem(v, v->line, r->seq,
                               "record %" PRIu64 " (line 1 of %s): audit.rotated details do "
                               "not name the previous file and its last seq",
                               r->seq, v->file);
        if (v->have_prev && v->dir_mode && strcmp(json_string_value(pf), v->prev_file) != 0)
                return problem(v, v->line, r->seq,
                               "record %" PRIu64 " (line 1 of %s): audit.rotated names another "
                               "previous file than %s",
                               r->seq, v->file, v->prev_file);
        return 0;
}

static int check_anchor(struct verifier *v, const struct audit_record *r, const char *hash)
{
        if (!v->opts.anchor_hash || r->seq != v->opts.anchor_seq)
                return 0;
        v->anchor_seen = true;
        if (strcasecmp(hash, v->opts.anchor_hash) == 0)
                return 0;
        return problem(v, v->line, r->seq,
                       "record %" PRIu64 " (line %" PRIu64 " of %s) does not match the anchor: "
                       "its hash is %s (the log was rewritten)",
                       r->seq, v->line, v->file, hash);
}

/* One complete line, newline excluded. Returns 0 (go on), 1 (a problem) or -errno. */
static int check_line(struct verifier *v, const char *line, size_t len, bool first_in_file)
{
        struct audit_record r;
        char hash[CD_AUDIT_HASH_HEX], why[160];
        uint64_t want = v->have_prev ? v->prev_seq + 1 : 0;
        int q;

        if (audit_record_parse(line, len, &r, why, sizeof(why)) < 0)
                return problem(v, v->line, want, "line %" PRIu64 " of %s %s", v->line, v->file,
                               why);
        q = cd_sha256_hex(line, len, hash, &(struct cd_err){ 0 });
        if (q < 0) {
                audit_record_clear(&r);
                return q;
        }
        q = v->have_prev ? check_link(v, &r, first_in_file) : check_start(v, &r);
        if (q == 0 && first_in_file && v->named && r.seq != v->name_first)
                q = problem(v, v->line, r.seq,
                            "%s starts at seq %" PRIu64 ", but its name says %" PRIu64, v->file,
                            r.seq, v->name_first);
        if (q == 0)
                q = check_rotated(v, &r, first_in_file);
        if (q == 0)
                q = check_anchor(v, &r, hash);
        if (q == 0) {
                v->have_prev = true;
                v->prev_seq = r.seq;
                memcpy(v->prev_hash, hash, sizeof(hash));
                v->rep.records++;
                if (v->rep.first_seq == 0)
                        v->rep.first_seq = r.seq;
                v->rep.last_seq = r.seq;
                memcpy(v->rep.last_hash, hash, sizeof(hash));
        }
        audit_record_clear(&r);
        return q;
}

/* The file being read, line by line: 0 (go on), 1 (a problem) or -errno. */
static int verify_lines(struct verifier *v, struct audit_lines *l)
{
        uint64_t want;
        size_t len;
        char *line;
        int k, q;

        v->line = 0;
        while ((k = audit_lines_next(l, &line, &len)) != AUDIT_LINE_END) {
                bool first = v->line == 0;

                if (k < 0)
                        return k;
                v->line++;
                want = v->have_prev ? v->prev_seq + 1 : 0;
                if (k == AUDIT_LINE_TORN)
                        return problem(v, v->line, want,
                                       "the last line (line %" PRIu64 " of %s) is incomplete "
                                       "(a crash while writing?)",
                                       v->line, v->file);
                if (k == AUDIT_LINE_TOO_LONG)
                        return problem(v, v->line, want,
                                       "line %" PRIu64 " of %s is longer than %u bytes", v->line,
                                       v->file, CD_AUDIT_MAX_RECORD);
                q = check_line(v, line, len, first);
                if (q != 0)
                        return q;
        }
        return 0;
}

/* Only whole lines of at most a record are read, and of the live file only
 * what it held when listed (v->end). */
static int verify_stream(struct verifier *v, int fd)
{
        struct audit_lines l;
        int q = audit_lines_init(&l, fd, v->end);

        if (q < 0)
                return q;
        q = verify_lines(v, &l);
        audit_lines_clear(&l);
        if (q != 0)
                return q;
        if (v->named && v->line == 0)
                return problem(v, 0, v->name_first,
                               "%s is empty, but its name says seq %" PRIu64 "-%" PRIu64, v->file,
                               v->name_first, v->name_last);
        if (v->named && v->prev_seq != v->name_last)
                return problem(v, v->line, v->prev_seq + 1,
                               "%s ends at seq %" PRIu64 ", but its name says %" PRIu64 "%s",
                               v->file, v->prev_seq, v->name_last,
                               v->prev_seq < v->name_last ? " (records removed from its end?)"
                                                          : "");
        return 0;
}

/* Verify the file @fd (owned here), shown as @name. Returns 0, 1 (a problem) or -errno. */
static int verify_fd(struct verifier *v, int fd, const char *name, struct cd_err *err)
{
        cleanup_close int owned = fd;
        int q;

        v->file = name;
        v->rep.files++;
        q = verify_stream(v, owned);
        if (q < 0)
                return cd_err_neg(err, q, "audit: read %s", name);
        (void) snprintf(v->prev_file, sizeof(v->prev_file), "%s", name);
        return q;
}

static int verify_dir(struct verifier *v, int dirfd, const char *path, struct cd_err *err)
{
        struct audit_snapshot s = { .live_fd = -1 };
        int q = audit_snapshot_locked(dirfd, path, &s, err);

        for (size_t i = 0; q == 0 && i < s.n; i++) {
                v->named = audit_rotated_parse(s.names[i], &v->name_first, &v->name_last);
                q = verify_fd(v, TAKE_FD(s.fds[i]), s.names[i], err);
        }
        v->named = false;
        if (q == 0 && s.live_fd >= 0) { /* none: a crash right after a rotation */
                v->end = s.live_size;
                q = verify_fd(v, TAKE_FD(s.live_fd), CD_AUDIT_FILE, err);
                v->end = -1;
        }
        audit_snapshot_clear(&s);
        return q;
}

static bool anchor_hash_ok(const char *s)
{
        if (strlen(s) != CD_AUDIT_HASH_HEX - 1)
                return false;
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
                      (*s >= 'A' && *s <= 'F')))
                        return false;
        return true;
}

/* The anchor was never met: the log lost its end, or starts after it. */
static void anchor_unseen(struct verifier *v)
{
        uint64_t a = v->opts.anchor_seq;

        if (v->rep.records == 0 || a > v->rep.last_seq)
                (void) problem(v, 0, a,
                               "record %" PRIu64 " (the anchor) is missing: the log ends at "
                               "seq %" PRIu64 " (records removed from its end?)",
                               a, v->rep.last_seq);
        else
                (void) problem(v, 0, a,
                               "record %" PRIu64 " (the anchor) is not in the log, which "
                               "starts at seq %" PRIu64,
                               a, v->rep.first_seq);
}

/*
 * Open @path, a log file or directory, as cordon's writers would take it.
 * As in snapshot.c, a FIFO must not make open(2) wait for a writer; nor is
 * a symlink followed, as the writers follow none. And the log is evidence
 * only as they left it: what someone else could have written is refused.
 */
static int open_path(const char *path, struct stat *ret_st, struct cd_err *err)
{
        cleanup_close int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0 && errno == ELOOP)
                return cd_err_set(err, ELOOP,
                                  "audit: %s is a symbolic link, which verify does not follow: "
                                  "name the file or directory it points to",
                                  path);
        if (fd < 0)
                return cd_err_errno(err, "audit: open %s", path);
        if (fstat(fd, ret_st) < 0)
                return cd_err_errno(err, "audit: stat %s", path);
        if (!S_ISDIR(ret_st->st_mode) && !S_ISREG(ret_st->st_mode))
                return cd_err_set(err, CD_E_INVALID, "audit: %s is not a file or directory", path);
        if (audit_check_owner(ret_st, NULL, path, err) < 0)
                return -err->code;
        return TAKE_FD(fd);
}

int cd_audit_verify(const char *path, const struct cd_audit_verify_opts *opts,
                    struct cd_audit_report *ret, struct cd_err *err)
{
        struct verifier v = { .rep.ok = true };
        cleanup_close int fd = -1;
        struct stat st;
        int q;

        v.end = -1;
        if (opts)
                v.opts = *opts;
        if (v.opts.anchor_hash && (v.opts.anchor_seq == 0 || !anchor_hash_ok(v.opts.anchor_hash)))
                return cd_err_set(err, CD_E_INVALID,
                                  "audit: an anchor is a seq above 0 and 64 hex digits");
        fd = open_path(path, &st, err);
        if (fd < 0)
                return fd;
        v.file = basename(path);
        if (S_ISDIR(st.st_mode)) {
                v.dir_mode = true;
                q = verify_dir(&v, fd, path, err);
        } else {
                v.named = audit_rotated_parse(v.file, &v.name_first, &v.name_last);
                q = verify_fd(&v, TAKE_FD(fd), v.file, err);
        }
        if (q < 0)
                return q;
        if (q == 0 && v.opts.anchor_hash && !v.anchor_seen) {
                v.file = v.prev_file[0] ? v.prev_file : basename(path);
                anchor_unseen(&v);
        }
        *ret = v.rep;
        return 0;
}
