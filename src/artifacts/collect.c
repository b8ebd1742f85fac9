/* SPDX-License-Identifier: MIT */
/*
 * Walk a finished job's /out and copy what may leave. Judge0's
 * CVE-2024-28185 and CVE-2024-28189 were a privileged process following a
 * symlink the job planted; here nothing is ever resolved through a path
 * the job could have shaped:
 *
 *  - every source entry is classified with fstatat(AT_SYMLINK_NOFOLLOW) and
 *    opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 *    RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) relative to its directory's
 *    fd, with O_NOFOLLOW and O_NONBLOCK (a FIFO is never opened: it was
 *    refused by type first), then fstat()ed again;
 *  - reads stop at the size fstat() gave;
 *  - sources are read with the job's own rights (setfsuid to its host uid
 *    drops the file capabilities of this thread), so what the job could
 *    not read itself is refused as unreadable;
 *  - destination entries are created with O_CREAT | O_EXCL | O_NOFOLLOW or
 *    mkdirat() relative to the destination directory's fd, modes exactly
 *    0600 and 0700: a job's output is often PHI, readable by root alone
 *    until someone shares it on purpose.
 *
 * Messages never name a file: names are the job's, and only the manifest
 * shows them, escaped.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/crypto.h"
#include "cordon/util.h"
#include "artifacts-internal.h"

#define COPY_CHUNK (1u << 20)
/* A file's last window, and the bytes before it where a ZIP end record
 * (types.c) may start. */
#define TAIL_BYTES (CD_ZIP_END_REACH > CD_SNIFF_BYTES ? CD_ZIP_END_REACH : CD_SNIFF_BYTES)
#define RESOLVE_STRICT                                                                             \
        (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

struct walk {
        const struct cd_collect *c;
        struct cd_manifest *m;
        struct cd_sniffer sniffer;
        unsigned int sniffer_restarts;
        uint64_t deadline_ms; /* cd_now_ms() time the rules' max_time ends; 0: none */
        struct cd_err *err;
        char *buf;  /* COPY_CHUNK bytes */
        char *tail; /* TAIL_BYTES: the last bytes of a file */
};

static const char *const refusals[_CD_REFUSAL_MAX] = {
        [CD_REFUSED_SYMLINK] = "symlink",
        [CD_REFUSED_FIFO] = "fifo",
        [CD_REFUSED_DEVICE] = "device",
        [CD_REFUSED_SOCKET] = "socket",
        [CD_REFUSED_HARDLINK] = "hardlink",
        [CD_REFUSED_TOO_LARGE] = "too_large",
        [CD_REFUSED_TOO_MANY] = "too_many",
        [CD_REFUSED_TOO_DEEP] = "too_deep",
        [CD_REFUSED_BAD_NAME] = "bad_name",
        [CD_REFUSED_TYPE_NOT_ALLOWED] = "type_not_allowed",
        [CD_REFUSED_UNREADABLE] = "unreadable",
        [CD_REFUSED_OUT_OF_TIME] = "out_of_time",
        [CD_REFUSED_CANCELLED] = "cancelled",
        [CD_REFUSED_SNIFF_TIMEOUT] = "sniff_timeout",
        [CD_REFUSED_SNIFF_FAILED] = "sniff_failed",
};

const char *cd_refusal_to_string(enum cd_refusal r)
{
        return r > CD_TAKEN && r < _CD_REFUSAL_MAX ? refusals[r] : NULL;
}

/* This thread's file system identity: the job's for reading /out, root's
 * for writing the destination. setfsuid(2) is per thread and, going from
 * 0 to another uid, clears the thread's file capabilities. */
static void become_job(const struct cd_collect *c)
{
        (void) syscall(SYS_setfsgid, c->job_gid);
        (void) syscall(SYS_setfsuid, c->job_uid);
}

static void become_root(void)
{
        (void) syscall(SYS_setfsuid, 0);
        (void) syscall(SYS_setfsgid, 0);
}

static int open_beneath(int dirfd, const char *name, int flags)
{
        struct open_how how = { .flags = (uint64_t) (flags | O_NOFOLLOW | O_CLOEXEC),
                                .resolve = RESOLVE_STRICT };

        return (int) syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
}

/* The manifest entry for @path in *ret, or NULL when it is only counted: a
 * refused entry past CD_MANIFEST_MAX_REFUSED (a job's junk must not make
 * every read of its manifest large). Returns 0 or -ENOMEM. */
static int add(struct walk *w, const char *path, enum cd_refusal why, struct cd_artifact **ret)
{
        struct cd_manifest *m = w->m;
        struct cd_artifact *items, *a;

        *ret = NULL;
        if (why == CD_REFUSED_TOO_LARGE || why == CD_REFUSED_TOO_MANY ||
            why == CD_REFUSED_OUT_OF_TIME)
                m->over_caps++;
        if (why != CD_TAKEN && ++m->refused > CD_MANIFEST_MAX_REFUSED)
                return 0;
        /* max_files is at most CD_ARTIFACTS_MAX_FILES, so this never holds;
         * were it to, the collection fails rather than drop a file unsaid. */
        if (m->n >= CD_MANIFEST_MAX_ENTRIES)
                return cd_err_set(w->err, EOVERFLOW,
                                  "artifacts: more entries than a manifest holds");
        items = reallocarray(m->items, m->n + 1, sizeof(*items));
        if (!items)
                return cd_err_set(w->err, ENOMEM, "artifacts: out of memory");
        m->items = items;
        a = &items[m->n];
        *a = (struct cd_artifact){ .refused = why, .path = cd_name_escape(path) };
        if (!a->path)
                return cd_err_set(w->err, ENOMEM, "artifacts: out of memory");
        m->n++;
        *ret = a;
        return 0;
}

/* Take back the entry add() just made: its copy failed, and the manifest
 * lists only what was stored. */
static void unlist(struct walk *w, struct cd_artifact *a)
{
        struct cd_manifest *m = w->m;

        if (m->n > 0 && a == &m->items[m->n - 1]) {
                free(a->path);
                free(a->tail_type);
                m->n--;
        }
}

static int refuse(struct walk *w, const char *path, enum cd_refusal why)
{
        struct cd_artifact *a;

        return add(w, path, why, &a);
}

/* Copy at most @size bytes of @in to @out, hashing them; @first (@n bytes)
 * is already read. Returns the bytes copied or -errno. */
static int64_t copy_hash(struct walk *w, int in, int out, uint64_t size, size_t n, char *sha)
{
        struct cd_sha256 ctx;
        uint64_t done = 0;
        int r;

        r = cd_crypto_sha256_init(&ctx, &(struct cd_err){ 0 }); /* the errno says it all */
        while (r == 0 && n > 0) {
                r = cd_crypto_sha256_update(&ctx, w->buf, n);
                if (r == 0)
                        r = cd_write_all(out, w->buf, n);
                done += n;
                n = 0;
                if (r == 0 && done < size) {
                        ssize_t k = read(in, w->buf,
                                         size - done < COPY_CHUNK ? size - done : COPY_CHUNK);

                        if (k < 0)
                                r = -errno;
                        else
                                n = (size_t) k; /* 0: the file shrank; stop there */
                }
        }
        if (r == 0)
                r = cd_crypto_sha256_final_hex(&ctx, sha);
        return r < 0 ? r : (int64_t) done;
}

static uint64_t cap(uint64_t rule, uint64_t src_max)
{
        return src_max && src_max < rule ? src_max : rule;
}

/* Decide on a regular file before a byte is copied: links, counts, sizes.
 * The sizes are what stat says, holes included: a sparse file is as large
 * as its copy will be. */
static enum cd_refusal precheck(struct walk *w, const struct stat *st)
{
        const struct cd_artifact_rules *r = w->c->rules;
        uint64_t size = (uint64_t) st->st_size;

        if (st->st_nlink > 1)
                return CD_REFUSED_HARDLINK;
        if (w->m->files >= r->max_files)
                return CD_REFUSED_TOO_MANY;
        if (size > cap(r->max_file_bytes, w->c->src_max_bytes) ||
            w->m->bytes + size > cap(r->max_total_bytes, w->c->src_max_bytes))
                return CD_REFUSED_TOO_LARGE;
        return CD_TAKEN;
}

/* Room for one more inode of @size bytes on the destination's disk, beyond
 * keep_free_bytes and keep_free_inodes. Returns 0 or -errno (-ENOSPC: no room). */
static int room(const struct walk *w, int dest_fd, uint64_t size)
{
        struct statvfs sv;
        uint64_t want;

        if (w->c->keep_free_bytes == 0 && w->c->keep_free_inodes == 0)
                return 0;
        if (fstatvfs(dest_fd, &sv) < 0)
                return -errno;
        if (__builtin_add_overflow(w->c->keep_free_bytes, size, &want) ||
            (uint64_t) sv.f_bavail * sv.f_frsize < want)
                return -ENOSPC;
        if (sv.f_files && (uint64_t) sv.f_favail <= w->c->keep_free_inodes)
                return -ENOSPC;
        return 0;
}

/* Write @in's head and rest to a new file @name below @dest_fd. */
static int store(struct walk *w, int in, int dest_fd, const char *name, const struct stat *st,
                 size_t head, struct cd_artifact *a)
{
        cleanup_close int out = -1;
        int64_t n;
        int r = room(w, dest_fd, (uint64_t) st->st_size);

        if (r < 0) {
                unlist(w, a);
                return cd_err_neg(w->err, r, "artifacts: room for file %zu on the disk",
                                  w->m->n + 1);
        }
        become_root();
        out = openat(dest_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        /* Exactly 0600 whatever the umask: never setuid, setgid, executable
         * or readable by others. */
        if (out < 0 || fchmod(out, 0600) < 0) {
                r = cd_err_errno(w->err, "artifacts: create file %zu of the copy", w->m->n);
                if (out >= 0)
                        (void) unlinkat(dest_fd, name, 0);
                become_job(w->c);
                unlist(w, a);
                return r;
        }
        become_job(w->c);
        n = copy_hash(w, in, out, (uint64_t) st->st_size, head, a->sha256);
        if (n < 0) {
                become_root();
                (void) unlinkat(dest_fd, name, 0);
                become_job(w->c);
                unlist(w, a);
                return cd_err_neg(w->err, (int) n, "artifacts: copy file %zu", w->m->n + 1);
        }
        a->size = (uint64_t) n;
        w->m->files++;
        w->m->bytes += (uint64_t) n;
        return 0;
}

/* A cancel is pending: c->cancel_fd is readable (polled, not read). */
static bool cancel_pending(const struct cd_collect *c)
{
        struct pollfd p = { .fd = c->cancel_fd, .events = POLLIN };

        return c->cancel_fd >= 0 && poll(&p, 1, 0) > 0;
}

/* Whether the walk has stopped examining files, and why (CD_TAKEN: it
 * goes on). Once the collection is cancelled (SIGINT to cordon run, a
 * cancel of a cordond job) or its time is spent, what is left is only
 * listed: a job that leaves files libmagic is slow on (64 KiB of newlines
 * take it a third of a second, each within the per-file deadline) cannot
 * hold the supervisor's CPU and its worker slot for minutes, and a cancel
 * is not ignored while it does. */
static enum cd_refusal stopped(struct walk *w)
{
        if (w->m->stopped != CD_TAKEN)
                return w->m->stopped;
        if (cancel_pending(w->c))
                w->m->stopped = CD_REFUSED_CANCELLED;
        else if (w->deadline_ms && cd_now_ms() >= w->deadline_ms)
                w->m->stopped = CD_REFUSED_OUT_OF_TIME;
        return w->m->stopped;
}

/* The reason for a file whose type could not be had (@r from sniff()):
 * the walk's stop if that is what cut the sniffer's wait short; else
 * sniff_timeout when the sniffer hung on the file (it was killed), and
 * sniff_failed when it died or answered out of turn on it, or none could
 * be started. Not unreadable: the job could read the file; the sniffer is
 * what failed (perhaps on bytes crafted for libmagic). */
static enum cd_refusal sniff_failed(struct walk *w, int r)
{
        enum cd_refusal why = stopped(w);

        if (why != CD_TAKEN)
                return why;
        return r == -ETIMEDOUT ? CD_REFUSED_SNIFF_TIMEOUT : CD_REFUSED_SNIFF_FAILED;
}

/* When the walk waits for a sniffer no longer: its max_time, or a cancel. */
static struct cd_sniff_until walk_until(const struct walk *w)
{
        return (struct cd_sniff_until){ .deadline_ms = w->deadline_ms,
                                        .cancel_fd = w->c->cancel_fd };
}

/* The type of the @len bytes at @buf. A sniffer that died or hung on an
 * earlier file (and was killed) is replaced, a few times at most; the wait
 * for a new one ends with the walk's time or a cancel too. */
static int sniff(struct walk *w, const void *buf, size_t len, struct cd_sniffed *ret)
{
        const struct cd_sniff_until u = walk_until(w);
        struct cd_err ignored = { 0 };

        if (w->sniffer.fd < 0) {
                if (w->sniffer_restarts >= CD_SNIFF_RESTARTS)
                        return -EPIPE;
                w->sniffer_restarts++;
                /* Not the file's doing, whatever cut the start short. */
                if (cd_sniffer_start(&w->sniffer, w->c->job_uid, w->c->job_gid, w->c->fork_lock, &u,
                                     &ignored) < 0)
                        return -EPIPE;
        }
        return cd_sniffer_type(&w->sniffer, buf, len, &u, ret);
}

/* The type of a file's last window, at the end of the @n bytes at @end
 * (which may change). libmagic knows UTF-16 by the byte-order mark that
 * only the head of a file has: for such a head the window gets one, in
 * place of its first two bytes (an even count from the end, so that the
 * units stay aligned), or UTF-16 text would end as binary. */
static int sniff_tail(struct walk *w, const struct cd_sniffed *head, char *end, size_t n,
                      struct cd_sniffed *ret)
{
        size_t len = n < CD_SNIFF_BYTES ? n : CD_SNIFF_BYTES;
        char *win = end + (n - len);

        if (len >= 2 && !strcmp(head->charset, "utf-16le"))
                memcpy(win, "\xff\xfe", 2);
        else if (len >= 2 && !strcmp(head->charset, "utf-16be"))
                memcpy(win, "\xfe\xff", 2);
        return sniff(w, win, len, ret);
}

/* Whether a file of @size bytes, whose first @head_len bytes (in w->buf)
 * sniffed as @head, a type the rules allow, may leave by its end: its last
 * window sniffed (past the first one), and its last bytes searched for a
 * ZIP end record. Returns CD_TAKEN; CD_REFUSED_TYPE_NOT_ALLOWED with the
 * type found at the end in @ret_type (types.c says when); or why the end
 * could not be judged (unreadable, sniff_timeout, sniff_failed,
 * out_of_time, cancelled). */
static enum cd_refusal judge_tail(struct walk *w, int in, uint64_t size,
                                  const struct cd_sniffed *head, size_t head_len, char *ret_type,
                                  size_t type_size)
{
        struct cd_sniffed end = *head;
        const char *why;
        char *last = w->buf;
        size_t n = head_len;
        bool zip;

        if (size > head_len) {
                n = size < TAIL_BYTES ? (size_t) size : TAIL_BYTES;
                if (pread(in, w->tail, n, (off_t) (size - n)) != (ssize_t) n)
                        return CD_REFUSED_UNREADABLE; /* nothing changes /out now */
                last = w->tail;
        }
        /* Before sniff_tail(), which may write a byte-order mark there. */
        zip = cd_zip_end_in(last, n, size);
        if (last == w->tail) {
                int r = sniff_tail(w, head, w->tail, n, &end);

                if (r < 0)
                        return sniff_failed(w, r);
        }
        why = cd_tail_refusal(w->c->rules, head, &end, zip);
        if (!why)
                return CD_TAKEN;
        (void) snprintf(ret_type, type_size, "%s", why);
        return CD_REFUSED_TYPE_NOT_ALLOWED;
}

static int take(struct walk *w, int dirfd, int dest_fd, const char *name, const char *path,
                const struct stat *st)
{
        enum cd_refusal why = stopped(w);
        cleanup_close int in = -1;
        struct stat now;
        struct cd_artifact *a;
        struct cd_sniffed type;
        char tail_type[sizeof(type.type)] = "";
        ssize_t head;
        int r;

        if (why == CD_TAKEN)
                why = precheck(w, st);
        if (why != CD_TAKEN)
                return refuse(w, path, why);
        in = open_beneath(dirfd, name, O_RDONLY | O_NONBLOCK);
        if (in < 0 || fstat(in, &now) < 0 || !S_ISREG(now.st_mode) || now.st_ino != st->st_ino ||
            now.st_dev != st->st_dev)
                return refuse(w, path, CD_REFUSED_UNREADABLE);
        head = pread(in, w->buf,
                     (size_t) st->st_size < CD_SNIFF_BYTES ? (size_t) st->st_size : CD_SNIFF_BYTES,
                     0);
        if (head < 0 || lseek(in, head, SEEK_SET) < 0)
                return refuse(w, path, CD_REFUSED_UNREADABLE);
        r = sniff(w, w->buf, (size_t) head, &type);
        if (r < 0)
                return refuse(w, path, sniff_failed(w, r));
        why = cd_type_allowed(w->c->rules, type.type) ? CD_TAKEN : CD_REFUSED_TYPE_NOT_ALLOWED;
        /* Without a list any type may leave: the end cannot refuse it. */
        if (why == CD_TAKEN && w->c->rules->types)
                why = judge_tail(w, in, (uint64_t) st->st_size, &type, (size_t) head, tail_type,
                                 sizeof(tail_type));
        if (why != CD_TAKEN && why != CD_REFUSED_TYPE_NOT_ALLOWED)
                return refuse(w, path, why);
        r = add(w, path, why, &a);
        if (r < 0 || !a)
                return r;
        (void) snprintf(a->type, sizeof(a->type), "%s", type.type);
        if (tail_type[0] && !(a->tail_type = strdup(tail_type)))
                return cd_err_set(w->err, ENOMEM, "artifacts: out of memory");
        if (a->refused != CD_TAKEN)
                return 0;
        return store(w, in, dest_fd, name, st, (size_t) head, a);
}

static int walk_dir(struct walk *w, int dirfd, int dest_fd, const char *prefix, uint64_t depth);

static int descend(struct walk *w, int dirfd, int dest_fd, const char *name, const char *path,
                   uint64_t depth)
{
        cleanup_close int sub = -1;
        cleanup_close int dsub = -1;
        int r;

        if (depth >= w->c->rules->max_depth)
                return refuse(w, path, CD_REFUSED_TOO_DEEP);
        sub = open_beneath(dirfd, name, O_RDONLY | O_DIRECTORY);
        if (sub < 0)
                return refuse(w, path, CD_REFUSED_UNREADABLE);
        /* Stopped: what is below is listed, and nothing made for it. */
        if (stopped(w) != CD_TAKEN)
                return walk_dir(w, sub, -1, path, depth + 1);
        r = room(w, dest_fd, 0);
        if (r < 0)
                return cd_err_neg(w->err, r, "artifacts: room for a directory on the disk");
        become_root();
        if (mkdirat(dest_fd, name, 0700) < 0 ||
            (dsub = openat(dest_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
            fchmod(dsub, 0700) < 0) {
                r = cd_err_errno(w->err, "artifacts: create a directory of the copy");
                become_job(w->c);
                return r;
        }
        become_job(w->c);
        return walk_dir(w, sub, dsub, path, depth + 1);
}

static int visit(struct walk *w, int dirfd, int dest_fd, const char *name, const char *prefix,
                 uint64_t depth, bool repository)
{
        cleanup_free char *path = NULL;
        struct stat st;

        if (asprintf(&path, "%s%s%s", prefix, prefix[0] ? "/" : "", name) < 0)
                return cd_err_set(w->err, ENOMEM, "artifacts: out of memory");
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return refuse(w, path, CD_REFUSED_UNREADABLE);
        if (!cd_name_is_acceptable(name, w->c->rules->max_name_bytes) ||
            (repository && cd_name_folds_to(name, "HEAD")))
                return refuse(w, path, CD_REFUSED_BAD_NAME);
        switch (st.st_mode & S_IFMT) {
        case S_IFREG:
                return take(w, dirfd, dest_fd, name, path, &st);
        case S_IFDIR:
                return descend(w, dirfd, dest_fd, name, path, depth);
        case S_IFLNK:
                return refuse(w, path, CD_REFUSED_SYMLINK);
        case S_IFIFO:
                return refuse(w, path, CD_REFUSED_FIFO);
        case S_IFSOCK:
                return refuse(w, path, CD_REFUSED_SOCKET);
        default:
                return refuse(w, path, CD_REFUSED_DEVICE);
        }
}

static int by_name(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The names in @dirfd, sorted so that manifests are stable. */
static int list(int dirfd, char ***ret, struct cd_err *err)
{
        cleanup_strv char **names = NULL;
        int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        DIR *d;
        struct dirent *de;

        if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0 || !(d = fdopendir(fd))) {
                (void) cd_close(fd);
                return cd_err_errno(err, "artifacts: read a directory");
        }
        while ((errno = 0, de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
                    cd_strv_push(&names, de->d_name) < 0) {
                        (void) closedir(d);
                        return cd_err_set(err, ENOMEM, "artifacts: out of memory");
                }
        /* An entry the listing skipped would be neither taken nor refused. */
        if (errno != 0) {
                int r = cd_err_errno(err, "artifacts: read a directory");

                (void) closedir(d);
                return r;
        }
        (void) closedir(d);
        if (names)
                qsort(names, cd_strv_length(names), sizeof(char *), by_name);
        *ret = TAKE_PTR(names);
        return 0;
}

static int walk_dir(struct walk *w, int dirfd, int dest_fd, const char *prefix, uint64_t depth)
{
        cleanup_strv char **names = NULL;
        int r = list(dirfd, &names, w->err);
        bool repository = r == 0 && cd_names_are_repository(names);

        for (size_t i = 0; r == 0 && names && names[i]; i++)
                r = visit(w, dirfd, dest_fd, names[i], prefix, depth, repository);
        return r;
}

/* The walk's first sniffer. A start cut short by the walk's stop (a
 * cancel, or max_time spent, before the sniffer was ready) is no failure:
 * no file is sniffed any more, and each is listed with that reason. A
 * cancel already there forks none. */
static int first_sniffer(struct walk *w)
{
        const struct cd_sniff_until u = walk_until(w);
        struct cd_err why = { 0 };
        int r;

        if (stopped(w) != CD_TAKEN)
                return 0;
        r = cd_sniffer_start(&w->sniffer, w->c->job_uid, w->c->job_gid, w->c->fork_lock, &u, &why);
        /* Only a wait the stop cut short: a sniffer that failed on its own
         * (no magic database, say) fails the collection with its reason. */
        if ((r == -ECANCELED || r == -ETIMEDOUT) && stopped(w) != CD_TAKEN)
                return 0;
        if (r < 0)
                *w->err = why;
        return r;
}

int cd_artifacts_collect(int src_fd, const struct cd_collect *c, struct cd_manifest *ret,
                         struct cd_err *err)
{
        struct walk w = { .c = c, .m = ret, .sniffer = { .pid = -1, .fd = -1 }, .err = err };
        int r;

        *ret = (struct cd_manifest){ .stopped = CD_TAKEN };
        if (c->rules->max_time_ms)
                w.deadline_ms = cd_now_ms() + c->rules->max_time_ms;
        w.buf = malloc(COPY_CHUNK);
        w.tail = malloc(TAIL_BYTES);
        if (!w.buf || !w.tail) {
                free(w.buf);
                free(w.tail);
                return cd_err_set(err, ENOMEM, "artifacts: out of memory");
        }
        r = first_sniffer(&w);
        if (r == 0) {
                int root;

                become_job(c);
                /* @src_fd may be a mount fd (fsmount(2)), which cannot be read as a directory. */
                root = open_beneath(src_fd, ".", O_RDONLY | O_DIRECTORY);
                if (root >= 0)
                        r = walk_dir(&w, root, c->dest_fd, "", 1);
                else if (errno == EACCES) /* the job's doing (chmod 000 /out): */
                        ret->refused++;   /* nothing taken, one refusal counted */
                else
                        r = cd_err_errno(err, "artifacts: open /out");
                (void) cd_close(root);
                become_root();
        }
        cd_sniffer_stop(&w.sniffer);
        free(w.buf);
        free(w.tail);
        return r;
}

void cd_manifest_clear(struct cd_manifest *m)
{
        for (size_t i = 0; i < m->n; i++) {
                free(m->items[i].path);
                free(m->items[i].tail_type);
        }
        free(m->items);
        *m = (struct cd_manifest){ 0 };
}
