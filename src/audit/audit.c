/* SPDX-License-Identifier: MIT */
/*
 * Appending to the audit log. Every append runs under an exclusive flock(2)
 * on <dir>/audit.lock, a file that is never renamed: locking audit.jsonl
 * itself would not do, because rotation renames it, and a process that
 * opened the old file would lock and append to the renamed one. Under the
 * lock the writer re-opens audit.jsonl if it was replaced, reads the chain's
 * tail from the file (another process may have appended since), writes,
 * fsyncs and unlocks.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit-internal.h"
#include "cordon/cleanup.h"
#include "cordon/crypto.h"
#include "cordon/fault.h"
#include "cordon/util.h"

struct cd_audit {
        int dirfd;
        int fd; /* audit.jsonl as of the last append; re-checked under the lock */
        uint64_t max_bytes;
        uint64_t last_seq; /* the highest seq this handle wrote or primed */
        /* The file as this handle's last append left it: while it is still
         * that file, at that size and change time, nobody else wrote,
         * and its last line is ours (seq last_seq, hash last_hash): no need
         * to read it again. */
        bool tail_known;
        dev_t tail_dev;
        ino_t tail_ino;
        uint64_t tail_size;
        struct timespec tail_ctime; /* which no one can set (utimensat sets mtime) */
        char last_hash[CD_AUDIT_HASH_HEX];
};

/* Where the chain stands: the record the next one links to. */
struct tail {
        uint64_t size;     /* of audit.jsonl */
        uint64_t last_seq; /* 0: no record yet (genesis) */
        char last_hash[CD_AUDIT_HASH_HEX];
        char prev_file[AUDIT_ROTATED_NAME_MAX]; /* size == 0 after a rotation: the file before */
};

/* cordon's writers make the directory 0700 and the files 0600, as root (or
 * as the user running cordon, in tests): anything else could have been
 * written by someone else, and is no evidence. */
int audit_check_owner(const struct stat *st, const char *dir, const char *name, struct cd_err *err)
{
        const char *sep = dir ? "/" : "", *shown = dir ? dir : "";

        if (st->st_uid != 0 && st->st_uid != geteuid())
                return cd_err_set(err, EPERM,
                                  "audit: %s%s%s is owned by uid %u, not by root or the caller",
                                  shown, sep, name, (unsigned int) st->st_uid);
        if (st->st_mode & (S_IWGRP | S_IWOTH))
                return cd_err_set(err, EPERM, "audit: %s%s%s is writable by group or others", shown,
                                  sep, name);
        return 0;
}

static int open_dir(const char *dir, int *ret_fd, struct cd_err *err)
{
        cleanup_close int fd = -1;
        struct stat st;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return cd_err_errno(err, "audit: mkdir %s", dir);
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return cd_err_errno(err, "audit: open %s", dir);
        if (fstat(fd, &st) < 0)
                return cd_err_errno(err, "audit: stat %s", dir);
        if (audit_check_owner(&st, NULL, dir, err) < 0)
                return -err->code;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* One check for writers and readers alike. An O_RDWR open of a FIFO does not
 * wait (fifo(7)), nor does an O_NONBLOCK one; the S_ISREG check then refuses
 * it. */
int audit_open_file(int dirfd, const char *dir, const char *name, int flags, struct stat *ret_st,
                    struct cd_err *err)
{
        cleanup_close int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
        const char *sep = dir ? "/" : "", *shown = dir ? dir : "";
        struct stat st;

        if (fd < 0)
                return cd_err_errno(err, "audit: open %s%s%s", shown, sep, name);
        if (fstat(fd, &st) < 0)
                return cd_err_errno(err, "audit: stat %s%s%s", shown, sep, name);
        if (!S_ISREG(st.st_mode))
                return cd_err_set(err, CD_E_INVALID, "audit: %s%s%s is not a regular file", shown,
                                  sep, name);
        if (audit_check_owner(&st, dir, name, err) < 0)
                return -err->code;
        if (ret_st)
                *ret_st = st;
        return TAKE_FD(fd);
}

/* O_RDWR, not O_WRONLY: the tail is read back through the same fd. O_APPEND
 * makes every write land at the end whatever the offset. */
static int open_log(int dirfd, int *ret_fd, struct cd_err *err)
{
        int fd =
                audit_open_file(dirfd, NULL, CD_AUDIT_FILE, O_RDWR | O_APPEND | O_CREAT, NULL, err);

        if (fd < 0)
                return fd;
        *ret_fd = fd;
        return 0;
}

int cd_audit_open(const char *dir, const struct cd_audit_config *cfg, struct cd_audit **ret,
                  struct cd_err *err)
{
        cleanup_free struct cd_audit *a = calloc(1, sizeof(*a));
        int r;

        if (!a)
                return cd_err_set(err, ENOMEM, "audit: out of memory");
        a->dirfd = a->fd = -1;
        a->max_bytes = cfg && cfg->max_bytes ? cfg->max_bytes : CD_AUDIT_DEFAULT_MAX;
        r = open_dir(dir, &a->dirfd, err);
        if (r >= 0)
                r = open_log(a->dirfd, &a->fd, err);
        if (r < 0) {
                (void) cd_audit_close(TAKE_PTR(a));
                return r;
        }
        *ret = TAKE_PTR(a);
        return 0;
}

struct cd_audit *cd_audit_close(struct cd_audit *a)
{
        if (!a)
                return NULL;
        (void) cd_close(a->fd);
        (void) cd_close(a->dirfd);
        free(a);
        return NULL;
}

uint64_t cd_audit_mark(const struct cd_audit *a)
{
        return a->last_seq;
}

/* A note's name: a plain name that no log file has. */
static bool note_name_ok(const char *name)
{
        return name[0] && name[0] != '.' && !strchr(name, '/') && strlen(name) < 64 &&
               strcmp(name, CD_AUDIT_FILE) != 0 && strcmp(name, AUDIT_LOCK_FILE) != 0 &&
               strncmp(name, "audit", 5) != 0;
}

int cd_audit_note_get(struct cd_audit *a, const char *name, char *buf, size_t size,
                      struct cd_err *err)
{
        cleanup_close int fd = -1;
        ssize_t n;

        if (!note_name_ok(name) || size < 2)
                return cd_err_set(err, EINVAL, "audit: not a note's name");
        fd = audit_open_file(a->dirfd, NULL, name, O_RDONLY | O_NONBLOCK, NULL, err);
        if (fd < 0)
                return fd;
        /* Read at most @size - 1 bytes: nothing in it is trusted further. */
        n = pread(fd, buf, size - 1, 0);
        if (n < 0)
                return cd_err_errno(err, "audit: read %s", name);
        buf[n] = '\0';
        return 0;
}

int cd_audit_note_set(struct cd_audit *a, const char *name, const char *text, struct cd_err *err)
{
        char tmp[80];
        cleanup_close int fd = -1;
        int r;

        if (!note_name_ok(name))
                return cd_err_set(err, EINVAL, "audit: not a note's name");
        (void) snprintf(tmp, sizeof(tmp), ".%s.new", name);
        if (unlinkat(a->dirfd, tmp, 0) < 0 && errno != ENOENT)
                return cd_err_errno(err, "audit: remove %s", tmp);
        fd = audit_open_file(a->dirfd, NULL, tmp, O_WRONLY | O_CREAT | O_EXCL, NULL, err);
        if (fd < 0)
                return fd;
        r = cd_write_all(fd, text, strlen(text));
        if (r < 0)
                return cd_err_neg(err, r, "audit: write %s", tmp);
        if (fsync(fd) < 0)
                return cd_err_errno(err, "audit: fsync %s", tmp);
        if (renameat(a->dirfd, tmp, a->dirfd, name) < 0)
                return cd_err_errno(err, "audit: rename %s", tmp);
        return 0;
}

int cd_audit_scan(struct cd_audit *a, uint64_t from, cd_audit_scan_fn fn, void *data,
                  struct cd_err *err)
{
        return audit_scan_dir(a->dirfd, "the audit directory", from, fn, data, err);
}

/* Another process may have rotated audit.jsonl since this handle opened it. */
static int refresh_fd(struct cd_audit *a, struct cd_err *err)
{
        struct stat cur, ours;
        int fd = -1, r;

        if (fstatat(a->dirfd, CD_AUDIT_FILE, &cur, AT_SYMLINK_NOFOLLOW) == 0) {
                if (fstat(a->fd, &ours) < 0)
                        return cd_err_errno(err, "audit: stat " CD_AUDIT_FILE);
                if (ours.st_dev == cur.st_dev && ours.st_ino == cur.st_ino)
                        return 0;
        } else if (errno != ENOENT) {
                return cd_err_errno(err, "audit: stat " CD_AUDIT_FILE);
        }
        r = open_log(a->dirfd, &fd, err);
        if (r < 0)
                return r;
        (void) cd_close(a->fd);
        a->fd = fd;
        a->tail_known = false; /* that file is closed: its inode may be reused */
        return 0;
}

static int pread_all(int fd, char *buf, size_t len, uint64_t off)
{
        size_t got = 0;

        while (got < len) {
                ssize_t n = pread(fd, buf + got, len - got, (off_t) (off + got));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO; /* the file shrank under the lock: someone else wrote it */
                got += (size_t) n;
        }
        return 0;
}

/* A first look at the end of the log: most records are a few hundred bytes. */
#define TAIL_GUESS 4096

/* Read and parse the last line of @fd (@size bytes) from its last @window
 * bytes: its seq and hash. 1 when the window is too small for it. */
static int read_last_in(int fd, uint64_t size, size_t window, const char *name, uint64_t *ret_seq,
                        char ret_hash[CD_AUDIT_HASH_HEX], struct cd_err *err)
{
        size_t n = size < window ? (size_t) size : window;
        cleanup_free char *buf = malloc(n);
        struct audit_record rec;
        const char *start, *nl;
        char why[160];
        int r;

        if (!buf)
                return cd_err_set(err, ENOMEM, "audit: out of memory");
        r = pread_all(fd, buf, n, size - n);
        if (r < 0)
                return cd_err_neg(err, r, "audit: read %s", name);
        if (buf[n - 1] != '\n')
                return cd_err_set(err, CD_E_INVALID,
                                  "audit: the last line of %s is incomplete (a crash while "
                                  "writing?); refusing to append: see 'cordon audit verify', "
                                  "and 'cordon audit repair' to cut it",
                                  name);
        nl = memrchr(buf, '\n', n - 1);
        if (!nl && n < size && window < CD_AUDIT_MAX_RECORD + 1)
                return 1;
        if (!nl && n < size)
                return cd_err_set(err, CD_E_INVALID,
                                  "audit: the last line of %s is longer than %u bytes; refusing "
                                  "to append: run 'cordon audit verify'",
                                  name, CD_AUDIT_MAX_RECORD);
        start = nl ? nl + 1 : buf;
        if (audit_record_parse(start, (size_t) (buf + n - 1 - start), &rec, why, sizeof(why)) < 0)
                return cd_err_set(err, CD_E_INVALID,
                                  "audit: the last line of %s %s; refusing to append: run "
                                  "'cordon audit verify'",
                                  name, why);
        *ret_seq = rec.seq;
        audit_record_clear(&rec);
        return cd_sha256_hex(start, (size_t) (buf + n - 1 - start), ret_hash, err);
}

/* The last line of @fd (@size bytes): its seq and hash. */
static int read_last(int fd, uint64_t size, const char *name, uint64_t *ret_seq,
                     char ret_hash[CD_AUDIT_HASH_HEX], struct cd_err *err)
{
        int r = read_last_in(fd, size, TAIL_GUESS, name, ret_seq, ret_hash, err);

        /* One byte more than a record: the newline before a full-size last line. */
        if (r == 1)
                r = read_last_in(fd, size, CD_AUDIT_MAX_RECORD + 1, name, ret_seq, ret_hash, err);
        return r;
}

/* The seq of the first line of audit.jsonl (@size > 0 bytes), for the rotated name. */
static int read_first_seq(int fd, uint64_t size, uint64_t *ret, struct cd_err *err)
{
        size_t n = size < CD_AUDIT_MAX_RECORD ? (size_t) size : CD_AUDIT_MAX_RECORD;
        cleanup_free char *buf = malloc(n);
        struct audit_record rec;
        const char *nl;
        char why[160];
        int r;

        if (!buf)
                return cd_err_set(err, ENOMEM, "audit: out of memory");
        r = pread_all(fd, buf, n, 0);
        if (r < 0)
                return cd_err_neg(err, r, "audit: read " CD_AUDIT_FILE);
        nl = memchr(buf, '\n', n);
        if (!nl || audit_record_parse(buf, (size_t) (nl - buf), &rec, why, sizeof(why)) < 0)
                return cd_err_set(err, CD_E_INVALID,
                                  "audit: the first line of " CD_AUDIT_FILE " is not a valid "
                                  "record; cannot rotate: run 'cordon audit verify'");
        *ret = rec.seq;
        audit_record_clear(&rec);
        return 0;
}

/* The rotated file with the highest seq, or "" when there is none. */
static int latest_rotated(int dirfd, char name[AUDIT_ROTATED_NAME_MAX], uint64_t *ret_last,
                          struct cd_err *err)
{
        uint64_t best = 0, first, last;
        struct dirent *de;
        DIR *d;
        int fd;

        name[0] = '\0';
        fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cd_err_errno(err, "audit: open the audit directory");
        d = fdopendir(fd);
        if (!d) {
                (void) cd_close(fd);
                return cd_err_errno(err, "audit: list the audit directory");
        }
        while ((errno = 0, de = readdir(d)))
                if (audit_rotated_parse(de->d_name, &first, &last) && last > best) {
                        best = last;
                        memcpy(name, de->d_name, AUDIT_ROTATED_NAME_MAX);
                }
        if (errno != 0) {
                int r = cd_err_errno(err, "audit: list the audit directory");

                (void) closedir(d);
                return r;
        }
        (void) closedir(d);
        *ret_last = best;
        return 0;
}

/* audit.jsonl is empty: continue from the newest rotated file, or start the chain. */
static int tail_from_rotated(struct cd_audit *a, struct tail *t, struct cd_err *err)
{
        cleanup_close int fd = -1;
        uint64_t name_last = 0;
        struct stat st;
        int r;

        r = latest_rotated(a->dirfd, t->prev_file, &name_last, err);
        if (r < 0)
                return r;
        if (!t->prev_file[0]) {
                t->last_seq = 0;
                memcpy(t->last_hash, AUDIT_ZERO_HASH, CD_AUDIT_HASH_HEX);
                return 0;
        }
        /* O_NONBLOCK: opening a FIFO for reading would wait for a writer
         * (fifo(7)), here under the append lock; audit_open_file() takes
         * only a regular file, for which the flag changes nothing. */
        fd = audit_open_file(a->dirfd, NULL, t->prev_file, O_RDONLY | O_NONBLOCK, &st, err);
        if (fd < 0)
                return fd;
        if (st.st_size == 0)
                return cd_err_set(err, CD_E_INVALID, "audit: %s is empty; refusing to append",
                                  t->prev_file);
        r = read_last(fd, (uint64_t) st.st_size, t->prev_file, &t->last_seq, t->last_hash, err);
        if (r < 0)
                return r;
        if (t->last_seq != name_last)
                return cd_err_set(err, CD_E_INVALID,
                                  "audit: %s ends at seq %" PRIu64 ", but its name says %" PRIu64
                                  "; refusing to append: run 'cordon audit verify'",
                                  t->prev_file, t->last_seq, name_last);
        return 0;
}

static int read_tail(struct cd_audit *a, struct tail *t, struct cd_err *err)
{
        struct stat st;

        *t = (struct tail){ 0 };
        if (fstat(a->fd, &st) < 0)
                return cd_err_errno(err, "audit: stat " CD_AUDIT_FILE);
        t->size = (uint64_t) st.st_size;
        if (a->tail_known && st.st_dev == a->tail_dev && st.st_ino == a->tail_ino &&
            t->size == a->tail_size && st.st_ctim.tv_sec == a->tail_ctime.tv_sec &&
            st.st_ctim.tv_nsec == a->tail_ctime.tv_nsec) {
                t->last_seq = a->last_seq;
                memcpy(t->last_hash, a->last_hash, sizeof(t->last_hash));
                return 0;
        }
        if (t->size == 0)
                return tail_from_rotated(a, t, err);
        return read_last(a->fd, t->size, CD_AUDIT_FILE, &t->last_seq, t->last_hash, err);
}

/* After an append of @len bytes to @old_size: what read_tail() may trust. */
static void remember_tail(struct cd_audit *a, uint64_t old_size, size_t len)
{
        struct stat st;

        a->tail_known = fstat(a->fd, &st) == 0 && (uint64_t) st.st_size == old_size + len;
        if (!a->tail_known)
                return;
        a->tail_dev = st.st_dev;
        a->tail_ino = st.st_ino;
        a->tail_size = (uint64_t) st.st_size;
        a->tail_ctime = st.st_ctim;
}

/* Rename audit.jsonl to audit-<first>-<last>.jsonl; the next append starts a
 * new audit.jsonl whose first record links to the renamed file's last. */
static int rotate(struct cd_audit *a, struct tail *t, struct cd_err *err)
{
        char name[AUDIT_ROTATED_NAME_MAX];
        uint64_t first = 0;
        int r;

        r = read_first_seq(a->fd, t->size, &first, err);
        if (r < 0)
                return r;
        if (first > t->last_seq)
                return cd_err_set(err, CD_E_INVALID,
                                  "audit: " CD_AUDIT_FILE " starts at seq %" PRIu64
                                  " but ends at %" PRIu64 "; cannot rotate",
                                  first, t->last_seq);
        audit_rotated_name(first, t->last_seq, name);
        /* RENAME_NOREPLACE: never overwrite an older file of the chain. */
        if (renameat2(a->dirfd, CD_AUDIT_FILE, a->dirfd, name, RENAME_NOREPLACE) < 0)
                return cd_err_errno(err, "audit: rename " CD_AUDIT_FILE " to %s", name);
        if (fsync(a->dirfd) < 0)
                return cd_err_errno(err, "audit: fsync the audit directory");
        r = refresh_fd(a, err);
        if (r < 0)
                return r;
        return read_tail(a, t, err);
}

static int append_line(char **buf, size_t *len, const char *line, size_t n)
{
        char *grown = realloc(*buf, *len + n + 1);

        if (!grown)
                return -ENOMEM;
        memcpy(grown + *len, line, n + 1);
        *buf = grown;
        *len += n;
        return 0;
}

/* The lines to write: an audit.rotated record first when audit.jsonl is new
 * after a rotation, then the events', each chained to the one before. */
static int format_records(const struct tail *t, const struct cd_audit_event *const *ev, size_t n_ev,
                          char **ret, size_t *ret_len, uint64_t *ret_seq,
                          char ret_hash[CD_AUDIT_HASH_HEX], struct cd_err *err)
{
        cleanup_free char *buf = NULL, *line = NULL;
        char prev[CD_AUDIT_HASH_HEX];
        uint64_t seq = t->last_seq + 1;
        size_t len = 0, n;
        int r;

        memcpy(prev, t->last_hash, sizeof(prev));
        if (t->size == 0 && t->prev_file[0]) {
                json_t *d = json_pack("{s:s, s:I}", "previous_file", t->prev_file,
                                      "previous_last_seq", (json_int_t) t->last_seq);
                struct cd_audit_event rot = { .event = CD_AUDIT_ROTATED,
                                              .uid = (uint32_t) geteuid(),
                                              .details = d };

                r = d ? audit_record_format(seq, prev, &rot, &line, &n, err)
                      : cd_err_set(err, ENOMEM, "audit: out of memory");
                json_decref(d);
                if (r < 0)
                        return r;
                if (append_line(&buf, &len, line, n) < 0)
                        return cd_err_set(err, ENOMEM, "audit: out of memory");
                r = cd_sha256_hex(line, n - 1, prev, err);
                if (r < 0)
                        return r;
                free(TAKE_PTR(line));
                seq++;
        }
        for (size_t i = 0; i < n_ev; i++, seq++) {
                r = audit_record_format(seq, prev, ev[i], &line, &n, err);
                if (r < 0)
                        return r;
                if (append_line(&buf, &len, line, n) < 0)
                        return cd_err_set(err, ENOMEM, "audit: out of memory");
                r = cd_sha256_hex(line, n - 1, prev, err);
                if (r < 0)
                        return r;
                free(TAKE_PTR(line));
        }
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        *ret_seq = seq - 1;
        memcpy(ret_hash, prev, CD_AUDIT_HASH_HEX); /* the last line's */
        return 0;
}

/* Leave no half record behind: on a failed or short write (ENOSPC) or a
 * failed fsync (of a new file's directory too), cut the file back to where
 * it was, so that the chain stays verifiable and the caller, who does not
 * acknowledge the action, does not find it recorded when it tries again. */
static int write_durably(struct cd_audit *a, const char *buf, size_t len, uint64_t old_size,
                         struct cd_err *err)
{
        const char *step = "write";
        int r;

        r = cd_write_all(a->fd, buf, len);
        if (r == 0 && fsync(a->fd) < 0) {
                r = -errno;
                step = "fsync";
        }
        /* A new file: its directory entry must be on disk before the ack too. */
        if (r == 0 && old_size == 0) {
                r = cd_fault("audit_dir_fsync") ? -EIO : fsync(a->dirfd) < 0 ? -errno : 0;
                step = "fsync the directory of";
        }
        if (r < 0) {
                if (ftruncate(a->fd, (off_t) old_size) < 0 || fsync(a->fd) < 0)
                        return cd_err_neg(err, r,
                                          "audit: %s " CD_AUDIT_FILE " (and cutting it back "
                                          "failed: run 'cordon audit verify')",
                                          step);
                return cd_err_neg(err, r, "audit: %s " CD_AUDIT_FILE, step);
        }
        return 0;
}

static int append_locked(struct cd_audit *a, const struct cd_audit_event *const *ev, size_t n_ev,
                         struct cd_err *err)
{
        cleanup_free char *buf = NULL;
        char hash[CD_AUDIT_HASH_HEX];
        struct tail t;
        uint64_t seq = 0;
        size_t len = 0;
        int r;

        r = refresh_fd(a, err);
        if (r >= 0)
                r = read_tail(a, &t, err);
        if (r >= 0 && t.size >= a->max_bytes)
                r = rotate(a, &t, err);
        if (r < 0)
                return r;
        if (t.last_seq < a->last_seq)
                return cd_err_set(err, CD_E_INVALID,
                                  "audit: the log ends at seq %" PRIu64 " but this process "
                                  "already wrote seq %" PRIu64 " (records removed?); refusing "
                                  "to append: run 'cordon audit verify'",
                                  t.last_seq, a->last_seq);
        r = format_records(&t, ev, n_ev, &buf, &len, &seq, hash, err);
        if (r < 0)
                return r;
        a->tail_known = false;
        r = write_durably(a, buf, len, t.size, err);
        if (r < 0)
                return r;
        a->last_seq = seq;
        memcpy(a->last_hash, hash, sizeof(hash));
        remember_tail(a, t.size, len);
        return 0;
}

int cd_audit_append(struct cd_audit *a, const struct cd_audit_event *e, struct cd_err *err)
{
        return cd_audit_append_many(a, &e, 1, err);
}

/* The append lock, held until *@ret_fd is closed. Opened each time:
 * flock(2) locks belong to the open file description, which a forked
 * child would otherwise share with its parent. */
static int lock_log(struct cd_audit *a, int *ret_fd, struct cd_err *err)
{
        cleanup_close int fd =
                audit_open_file(a->dirfd, NULL, AUDIT_LOCK_FILE, O_RDWR | O_CREAT, NULL, err);

        if (fd < 0)
                return fd;
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return cd_err_errno(err, "audit: lock " AUDIT_LOCK_FILE);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int cd_audit_prime(struct cd_audit *a, struct cd_err *err)
{
        cleanup_close int lockfd = -1;
        struct tail t;
        int r = lock_log(a, &lockfd, err);

        if (r >= 0)
                r = refresh_fd(a, err);
        if (r >= 0)
                r = read_tail(a, &t, err);
        if (r < 0)
                return r;
        if (t.last_seq > a->last_seq) {
                a->last_seq = t.last_seq;
                memcpy(a->last_hash, t.last_hash, sizeof(a->last_hash));
        }
        /* An empty file's tail is the rotated file's, with its name, which
         * the next append needs: read again then. */
        if (t.size > 0 && t.last_seq == a->last_seq)
                remember_tail(a, t.size, 0);
        return 0;
}

int cd_audit_append_many(struct cd_audit *a, const struct cd_audit_event *const *ev, size_t n,
                         struct cd_err *err)
{
        cleanup_close int lockfd = -1;
        int r;

        if (n == 0 || n > CD_AUDIT_MAX_BATCH)
                return cd_err_set(err, CD_E_INVALID, "audit: 1 to %d events at a time",
                                  CD_AUDIT_MAX_BATCH);
        for (size_t i = 0; i < n; i++) {
                r = audit_event_check(ev[i], err);
                if (r < 0)
                        return r;
        }
        r = lock_log(a, &lockfd, err);
        return r < 0 ? r : append_locked(a, ev, n, err);
}

/* Where the torn end of audit.jsonl (@size bytes) starts: after its last
 * newline; @size when it ends with one. A torn append is shorter than a
 * record; a longer end without a newline is something else. */
static int torn_start(int fd, uint64_t size, uint64_t *ret, struct cd_err *err)
{
        size_t n = size < CD_AUDIT_MAX_RECORD ? (size_t) size : CD_AUDIT_MAX_RECORD;
        cleanup_free char *buf = malloc(n ? n : 1);
        const char *nl;
        int r;

        if (!buf)
                return cd_err_set(err, ENOMEM, "audit: out of memory");
        r = pread_all(fd, buf, n, size - n);
        if (r < 0)
                return cd_err_neg(err, r, "audit: read " CD_AUDIT_FILE);
        *ret = size;
        if (n == 0 || buf[n - 1] == '\n')
                return 0;
        nl = memrchr(buf, '\n', n);
        /* A torn record is shorter than CD_AUDIT_MAX_RECORD (its newline included). */
        if (!nl && (n < size || n == CD_AUDIT_MAX_RECORD))
                return cd_err_set(err, CD_E_INVALID,
                                  "audit: the end of " CD_AUDIT_FILE " after its last newline is "
                                  "%u bytes or more, longer than any record: not a torn append; "
                                  "left as it is (run 'cordon audit verify')",
                                  CD_AUDIT_MAX_RECORD);
        *ret = size - n + (nl ? (uint64_t) (nl - buf) + 1 : 0);
        return 0;
}

/* The bytes from @off to @size into *@ret_buf, and their hash. */
static int read_torn(struct cd_audit *a, uint64_t off, uint64_t size, char **ret_buf,
                     struct cd_audit_repair *ret, struct cd_err *err)
{
        cleanup_free char *buf = malloc((size_t) (size - off));
        int r;

        if (!buf)
                return cd_err_set(err, ENOMEM, "audit: out of memory");
        r = pread_all(a->fd, buf, (size_t) (size - off), off);
        if (r < 0)
                return cd_err_neg(err, r, "audit: read " CD_AUDIT_FILE);
        r = cd_sha256_hex(buf, (size_t) (size - off), ret->cut_sha256, err);
        if (r < 0)
                return r;
        ret->cut_bytes = size - off;
        *ret_buf = TAKE_PTR(buf);
        return 0;
}

static int pwrite_all(int fd, const char *buf, size_t len, uint64_t off)
{
        size_t done = 0;

        while (done < len) {
                ssize_t n = pwrite(fd, buf + done, len - done, (off_t) (off + done));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                done += (size_t) n;
        }
        return 0;
}

/* The log once more, without O_APPEND: pwrite(2) on an O_APPEND file
 * appends whatever the offset (Linux). Reopened through our own fd, so it
 * is the same file whatever the directory now holds. */
static int reopen_to_overwrite(struct cd_audit *a, int *ret_fd, struct cd_err *err)
{
        char path[64];
        struct stat ours, st;
        int fd;

        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", a->fd);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return cd_err_errno(err, "audit: reopen " CD_AUDIT_FILE " to repair it");
        if (fstat(a->fd, &ours) < 0 || fstat(fd, &st) < 0 || ours.st_dev != st.st_dev ||
            ours.st_ino != st.st_ino) {
                (void) cd_close(fd);
                return cd_err_set(err, EIO,
                                  "audit: reopen " CD_AUDIT_FILE
                                  " to repair it: not the same file");
        }
        *ret_fd = fd;
        return 0;
}

/* @len bytes of @buf at @off, then fdatasync(2): on disk before the
 * caller's next write is made. */
static int pwrite_synced(int fd, const char *buf, size_t len, uint64_t off)
{
        int r = pwrite_all(fd, buf, len, off);

        if (r == 0 && fdatasync(fd) < 0)
                r = -errno;
        return r;
}

static int cut_synced(int fd, uint64_t size)
{
        if (ftruncate(fd, (off_t) size) < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

/* Where the newline that ends line @i (0: the first) of @lines is. */
static size_t newline_of(const char *lines, size_t i)
{
        const char *nl = strchr(lines, '\n');

        while (i-- > 0)
                nl = strchr(nl + 1, '\n');
        return (size_t) (nl - lines);
}

/*
 * Write @lines (@len bytes, NUL-terminated, one or more lines) over the
 * torn bytes at @off, then cut the file after them. The page cache writes
 * a file's blocks back in any order, an fdatasync aside: a line written
 * with its newline could reach the disk as its newline without its first
 * bytes, a complete line that is no record, which no repair may cut. So
 * the lines' bytes go first, without their newlines (where one will go, a
 * torn byte stays, or a hole reads as zero), and are synced; then each
 * newline, in order, each synced. Until the first newline is on disk the
 * torn end has no newline (torn bytes and the lines', mixed); after it,
 * the rest of the lines, or what is left of the torn bytes, follows as a
 * torn end again. *@ret_newlines counts the newlines written or tried.
 */
static int write_lines_over(int fd, const char *lines, size_t len, uint64_t off,
                            size_t *ret_newlines)
{
        size_t n = 0, start = 0, end;
        int r = 0;

        for (; r == 0 && start < len; start = end + 1, n++) {
                end = newline_of(lines, n);
                r = pwrite_all(fd, lines + start, end - start, off + start);
        }
        if (r == 0 && fdatasync(fd) < 0)
                r = -errno;
        *ret_newlines = 0;
        for (size_t i = 0; r == 0 && i < n; i++) {
                ++*ret_newlines;
                r = pwrite_synced(fd, "\n", 1, off + newline_of(lines, i));
        }
        return r < 0 ? r : cut_synced(fd, off + len);
}

/* Put the torn bytes back after write_lines_over() failed, having written
 * or tried @newlines newlines of @lines: those first, the last first, each
 * replaced by the torn byte it overwrote (a space past their end) and
 * synced, so that no complete line ever ends over bytes that are torn ones
 * again; then the torn bytes, synced, and the cut after them. */
static int put_torn_back(int fd, const char *lines, size_t newlines, const char *torn,
                         size_t torn_len, uint64_t off)
{
        int r = 0;

        for (size_t i = newlines; r == 0 && i > 0; i--) {
                size_t at = newline_of(lines, i - 1);

                r = pwrite_synced(fd, at < torn_len ? torn + at : " ", 1, off + at);
        }
        if (r == 0)
                r = pwrite_synced(fd, torn, torn_len, off);
        return r < 0 ? r : cut_synced(fd, off + torn_len);
}

/*
 * Write the record of the cut over the torn bytes at @kept->size (after an
 * audit.rotated record when the file is new after a rotation), then cut
 * what is left of them, so that no crash leaves a cut without its record,
 * nor a complete line that is not a record (write_lines_over()). Until the
 * record's newline is on disk, the log ends without a newline after its
 * last sound record: the torn bytes, some or all overwritten by the
 * record's first bytes should those have reached the disk. The next repair
 * cuts that end and records the count and SHA-256 of what it then cuts:
 * the mixture, not the torn bytes as they were. Once the newline is on
 * disk, what is left of the torn bytes (or, after a rotation, the record
 * after audit.rotated) follows as a torn end that the next repair cuts
 * with a record of its own. A write that fails puts the torn bytes back
 * (@torn, @torn_len): the cut is recorded or not made.
 */
static int record_over_torn(struct cd_audit *a, const struct tail *kept, const char *torn,
                            size_t torn_len, const struct cd_audit_event *ev, struct cd_err *err)
{
        cleanup_close int fd = -1;
        cleanup_free char *buf = NULL;
        char hash[CD_AUDIT_HASH_HEX];
        uint64_t seq = 0;
        size_t len = 0, newlines = 0, used;
        int r, back;

        r = format_records(kept, &ev, 1, &buf, &len, &seq, hash, err);
        if (r == 0)
                r = reopen_to_overwrite(a, &fd, err);
        if (r < 0)
                return r;
        a->tail_known = false;
        r = write_lines_over(fd, buf, len, kept->size, &newlines);
        if (r == 0) {
                a->last_seq = seq;
                memcpy(a->last_hash, hash, sizeof(hash));
                return 0;
        }
        r = cd_err_neg(err, r,
                       "audit: write the record of the repair over the torn end of " CD_AUDIT_FILE);
        back = put_torn_back(fd, buf, newlines, torn, torn_len, kept->size);
        used = strlen(err->msg);
        if (back < 0)
                (void) snprintf(err->msg + used, sizeof(err->msg) - used,
                                "; and the torn bytes could not be put back: %s", strerror(-back));
        return r;
}

int cd_audit_repair(struct cd_audit *a, uint32_t uid, struct cd_audit_repair *ret,
                    struct cd_err *err)
{
        cleanup_close int lockfd = -1;
        cleanup_with(json_decrefp) json_t *details = NULL;
        cleanup_free char *torn = NULL;
        struct cd_audit_event ev = { .event = CD_AUDIT_REPAIRED, .uid = uid, .role = "admin" };
        struct tail t = { 0 }, kept;
        uint64_t off = 0;
        int r;

        *ret = (struct cd_audit_repair){ 0 };
        r = lock_log(a, &lockfd, err);
        if (r == 0)
                r = refresh_fd(a, err);
        if (r < 0)
                return r;
        r = read_tail(a, &t, err);
        if (r == 0 || err->code != CD_E_INVALID)
                return r; /* sound, or not readable at all */
        r = torn_start(a->fd, t.size, &off, err);
        if (r < 0)
                return r;
        if (off == t.size)
                return cd_err_set(err, CD_E_INVALID,
                                  "audit: the last line of " CD_AUDIT_FILE " is complete but not "
                                  "a record: not a torn append; left as it is (run 'cordon audit "
                                  "verify')");
        /* What stays must end in a sound record (or be empty: the chain
         * goes on from the rotated file before, if any). */
        kept = (struct tail){ .size = off };
        if (off > 0)
                r = read_last(a->fd, off, CD_AUDIT_FILE, &kept.last_seq, kept.last_hash, err);
        else
                r = tail_from_rotated(a, &kept, err);
        if (r == 0)
                r = read_torn(a, off, t.size, &torn, ret, err);
        if (r < 0)
                return r;
        details = json_pack("{s:I,s:s}", "cut_bytes", (json_int_t) ret->cut_bytes, "cut_sha256",
                            ret->cut_sha256);
        if (!details)
                return cd_err_set(err, ENOMEM, "audit: out of memory");
        ev.details = details;
        r = record_over_torn(a, &kept, torn, (size_t) ret->cut_bytes, &ev, err);
        if (r < 0) {
                ret->cut_bytes = 0;
                return r;
        }
        ret->seq = a->last_seq;
        return 0;
}
