/* SPDX-License-Identifier: MIT */
/*
 * What a job left: its stdout and stderr, the manifest, one artifact, all
 * of them as a tar (docs/api.md). Files are opened beneath the job's
 * directory without following anything, and served no further than the
 * size the collector recorded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "api-internal.h"
#include "cordon/api.h"
#include "cordon/cleanup.h"
#include "cordon/log.h"
#include "cordon/util.h"

#define TAR_CHUNK (64U << 10)

static int open_beneath(int dir, const char *path)
{
        struct open_how how = {
                .flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                           RESOLVE_NO_XDEV,
        };
        int fd = (int) syscall(SYS_openat2, dir, path, &how, sizeof(how));

        return fd < 0 ? -errno : fd;
}

/* A regular file of @dir opened for reading, with its size. */
static int open_regular_st(int dir, const char *path, struct stat *ret)
{
        int fd = open_beneath(dir, path);

        if (fd < 0)
                return fd;
        if (fstat(fd, ret) < 0 || !S_ISREG(ret->st_mode)) {
                (void) cd_close(fd);
                return -EINVAL;
        }
        return fd;
}

static int open_regular(int dir, const char *path, uint64_t *ret_size)
{
        struct stat st;
        int fd = open_regular_st(dir, path, &st);

        if (fd >= 0)
                *ret_size = (uint64_t) st.st_size;
        return fd;
}

/*
 * The record of a download, on disk before a byte is served: when it
 * cannot be written, nothing is served (a 507 when the disk is full, or
 * down to the half of its reserve kept for verdicts: every read is a
 * record, and reads are limited only by the request rate; else a 500).
 * Returns 0 or -1 with the problem in @resp.
 */
static int audit_read(const struct cd_api_request *req, const struct cd_job_row *row,
                      const char *event, json_t *details, struct cd_api_response *resp)
{
        struct cd_err err = { 0 };

        if (cd_service_read_room(req->svc, &err) < 0)
                json_decref(details);
        else if (cd_service_audit1(req->svc, event, req->peer, row->id, row->profile, NULL, details,
                                   &err) == 0)
                return 0;
        cd_log_err(CD_LOG_ERROR, row->id, &err);
        if (err.code == ENOSPC || err.code == EDQUOT)
                cd_api_problem(resp, 507, "insufficient_storage",
                               "no space left on cordond's disk to record the download; retry "
                               "later");
        else
                cd_api_problem(resp, 500, "internal",
                               "cannot record the download in the audit log");
        return -1;
}

/* A job's stdout or stderr as it may be served. */
struct output_file {
        struct cd_job_row row;
        int fd;        /* -1: none yet (queued, or nothing written) */
        uint64_t size; /* what may be served: at most output.max_bytes */
        bool truncated;
};

/*
 * Open the stream @name of job {id}. The supervisor wrote it, but it lies
 * in the job's directory all the same: opened beneath it without following
 * anything, and its size taken from the fd (fstat), never from a path.
 * Returns 0, or -ENOENT with a 404 in @resp.
 */
static int open_output(const struct cd_api_request *req, const char *name, struct output_file *ret,
                       struct cd_api_response *resp)
{
        const uint64_t cap = req->svc->cfg->output_max_bytes;
        cleanup_close int dir = -1;
        json_t *result;
        bool told;
        char key[32];

        *ret = (struct output_file){ .fd = -1 };
        if (cd_api_load_job(req, &ret->row, resp) < 0)
                return -ENOENT;
        (void) snprintf(key, sizeof(key), "%s_truncated", name);
        result = ret->row.result_json ? json_loads(ret->row.result_json, 0, NULL) : NULL;
        told = json_is_boolean(json_object_get(json_object_get(result, "output"), key));
        ret->truncated = json_is_true(json_object_get(json_object_get(result, "output"), key));
        json_decref(result);
        dir = cd_jobfiles_open_job(&req->svc->files, ret->row.id);
        ret->fd = dir >= 0 ? open_regular(dir, name, &ret->size) : -ENOENT;
        if (ret->fd < 0) {
                ret->fd = -1;
                ret->size = 0;
        }
        /* The job writes no more than the cap; a running job's file grows.
         * A file at the cap is cut when the job may still write, or says
         * nothing; a finished job's result tells whether it dropped any:
         * exactly the cap written is whole. More than the cap is a file
         * kept under a larger output_max, cut now. */
        if (ret->size > cap || (ret->size == cap && !told))
                ret->truncated = true;
        if (ret->size > cap)
                ret->size = cap;
        return 0;
}

/* "N-" or "N-M" with N <= M: one range, no list and no suffix range.
 * Trailing whitespace is not part of a field value (RFC 9110 5.5). */
static int parse_byte_range(const char *s, uint64_t *ret_first, uint64_t *ret_last)
{
        char buf[48], *dash;
        size_t n = strnlen(s, sizeof(buf));
        uint64_t first, last = UINT64_MAX;

        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
                n--;
        if (n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, n);
        buf[n] = '\0';
        dash = strchr(buf, '-');
        if (!dash || dash == buf)
                return -EINVAL;
        *dash = '\0';
        if (cd_parse_u64(buf, &first) < 0 || (dash[1] && cd_parse_u64(dash + 1, &last) < 0) ||
            last < first)
                return -EINVAL;
        *ret_first = first;
        *ret_last = last;
        return 0;
}

/*
 * The Range of a request for @size bytes (RFC 9110 14.2): 0 for the whole
 * stream, 1 with the bytes [*ret_first, *ret_last] to send as 206, or -1
 * after a problem in @resp: 400 for a range this server does not take,
 * 416 for one that starts at or past the end. Another unit is ignored as
 * RFC 9110 requires, and so is a Range under If-Range: output has no
 * validator an If-Range could match.
 */
static int output_range(const struct cd_api_request *req, uint64_t size, uint64_t *ret_first,
                        uint64_t *ret_last, struct cd_api_response *resp)
{
        const char *h = req->header ? req->header(req->conn, "Range") : NULL;
        uint64_t first, last;

        if (!h || strncasecmp(h, "bytes=", 6) != 0 || req->header(req->conn, "If-Range"))
                return 0;
        if (parse_byte_range(h + 6, &first, &last) < 0) {
                cd_api_problem(resp, 400, "bad_request",
                               "Range: one range, bytes=N- or bytes=N-M (no lists, no suffix "
                               "ranges)");
                return -1;
        }
        if (first >= size) {
                cd_api_problem(resp, 416, "range_not_satisfiable", "the stream has %llu bytes",
                               (unsigned long long) size);
                cd_api_header(resp, "Content-Range", "bytes */%llu", (unsigned long long) size);
                return -1;
        }
        *ret_first = first;
        *ret_last = last < size - 1 ? last : size - 1;
        return 1;
}

/* The bytes of @f to serve: all of it, or the request's range. Returns
 * 0, 1 for a range, or -1 with the problem in @resp. */
static int output_span(const struct cd_api_request *req, const struct output_file *f,
                       uint64_t *first, uint64_t *bytes, struct cd_api_response *resp)
{
        uint64_t last = 0;
        int ranged = output_range(req, f->size, first, &last, resp);

        if (ranged < 0 && resp->status == 416)
                cd_api_header(resp, "Cordon-Truncated", "%s", f->truncated ? "true" : "false");
        if (ranged >= 0)
                *bytes = !ranged ? f->size : f->fd >= 0 ? last - *first + 1 : 0;
        return ranged;
}

/* Output that leaves cordond is recorded like an artifact: a job may
 * print what it could not write to /out. An empty answer is not. */
static int audit_output(const struct cd_api_request *req, const struct output_file *f,
                        const char *name, uint64_t first, uint64_t bytes,
                        struct cd_api_response *resp)
{
        if (bytes == 0)
                return 0;
        return audit_read(req, &f->row, CD_AUDIT_OUTPUT_READ,
                          json_pack("{s:s, s:I, s:I}", "stream", name, "offset", (json_int_t) first,
                                    "bytes", (json_int_t) bytes),
                          resp);
}

static void serve_output(const struct output_file *f, int ranged, uint64_t first, uint64_t bytes,
                         struct cd_api_response *resp)
{
        resp->status = ranged ? 206 : 200;
        resp->content_type = "application/octet-stream";
        if (f->fd >= 0) {
                resp->fd = f->fd;
                resp->fd_offset = first;
                resp->fd_size = bytes;
        } else {
                resp->text = strdup("");
        }
        if (ranged)
                cd_api_header(resp, "Content-Range", "bytes %llu-%llu/%llu",
                              (unsigned long long) first, (unsigned long long) (first + bytes - 1),
                              (unsigned long long) f->size);
        cd_api_header(resp, "Accept-Ranges", "bytes");
        cd_api_header(resp, "Cordon-Truncated", "%s", f->truncated ? "true" : "false");
        /* The job wrote it: as untrusted as an artifact, should a web app
         * pass it through to a browser. */
        cd_api_header(resp, "Content-Disposition", "attachment");
        cd_api_header(resp, "X-Content-Type-Options", "nosniff");
        cd_api_header(resp, "Content-Security-Policy", "sandbox");
}

static void output(const struct cd_api_request *req, struct cd_api_response *resp, const char *name)
{
        struct output_file f;
        uint64_t first = 0, bytes = 0;
        int ranged;

        if (open_output(req, name, &f, resp) < 0) {
                cd_job_row_clear(&f.row);
                return;
        }
        ranged = output_span(req, &f, &first, &bytes, resp);
        if (ranged < 0 || audit_output(req, &f, name, first, bytes, resp) < 0)
                (void) cd_close(f.fd);
        else
                serve_output(&f, ranged, first, bytes, resp);
        cd_job_row_clear(&f.row);
}

void api_jobs_stdout(const struct cd_api_request *req, struct cd_api_response *resp)
{
        output(req, resp, "stdout");
}

void api_jobs_stderr(const struct cd_api_request *req, struct cd_api_response *resp)
{
        output(req, resp, "stderr");
}

/* The manifest of a finished job (an empty one when nothing was collected). */
static json_t *manifest_of(const struct cd_api_request *req, struct cd_job_row *row,
                           struct cd_api_response *resp)
{
        json_t *result, *m;

        if (cd_api_load_job(req, row, resp) < 0)
                return NULL;
        if (row->state != CD_JOB_FINISHED) {
                cd_api_problem(resp, 409, "job_not_finished", "the job has not finished yet");
                return NULL;
        }
        result = row->result_json ? json_loads(row->result_json, 0, NULL) : NULL;
        m = json_object_get(result, "artifacts");
        m = json_is_array(m) ? json_incref(m) : json_array();
        json_decref(result);
        return m;
}

void api_artifacts_list(const struct cd_api_request *req, struct cd_api_response *resp)
{
        struct cd_job_row row = { 0 };
        json_t *m = manifest_of(req, &row, resp);

        if (m)
                cd_api_json(resp, 200, json_pack("{s:s, s:o}", "job", row.id, "artifacts", m));
        cd_job_row_clear(&row);
}

static json_t *find_taken(json_t *manifest, const char *path)
{
        json_t *e;
        size_t i;

        json_array_foreach(manifest, i, e)
        {
                const char *p = json_string_value(json_object_get(e, "path"));

                if (p && !strcmp(p, path) && json_object_get(e, "sha256"))
                        return e;
        }
        return NULL;
}

static int open_artifact(const struct cd_api_request *req, const struct cd_job_row *row,
                         const char *path, uint64_t *ret_size)
{
        cleanup_close int dir = cd_jobfiles_open_job(&req->svc->files, row->id);
        cleanup_close int art = -1;

        if (dir < 0)
                return dir;
        art = open_beneath(dir, "artifacts");
        if (art < 0)
                return art;
        return open_regular(art, path, ret_size);
}

static void serve_artifact(const struct cd_api_request *req, const struct cd_job_row *row,
                           json_t *e, struct cd_api_response *resp)
{
        const char *sha = json_string_value(json_object_get(e, "sha256"));
        const char *type = json_string_value(json_object_get(e, "type"));
        uint64_t want = (uint64_t) json_integer_value(json_object_get(e, "size")), size = 0;
        int fd = open_artifact(req, row, req->rest, &size);

        if (fd < 0 || size < want) {
                (void) cd_close(fd);
                cd_api_problem(resp, 500, "internal", "the artifact is not readable");
                return;
        }
        if (audit_read(req, row, CD_AUDIT_ARTIFACT_READ,
                       json_pack("{s:s, s:I}", "sha256", sha, "bytes", (json_int_t) want),
                       resp) < 0) {
                (void) cd_close(fd);
                return;
        }
        resp->status = 200;
        resp->fd = fd;
        resp->fd_size = want;
        /* Types are libmagic's words ("text/html"); ours, not the job's. */
        resp->content_type = NULL;
        cd_api_header(resp, "Content-Type", "%s",
                      type && *type ? type : "application/octet-stream");
        cd_api_header(resp, "ETag", "\"%s\"", sha);
        cd_api_header(resp, "Content-Disposition", "attachment");
        cd_api_header(resp, "X-Content-Type-Options", "nosniff");
        cd_api_header(resp, "Content-Security-Policy", "sandbox");
}

void api_artifacts_get(const struct cd_api_request *req, struct cd_api_response *resp)
{
        struct cd_job_row row = { 0 };
        json_t *m = manifest_of(req, &row, resp);
        json_t *e = m && req->rest ? find_taken(m, req->rest) : NULL;

        if (m && !e)
                cd_api_problem(resp, 404, "artifact_not_found", "no such artifact in the manifest");
        else if (e)
                serve_artifact(req, &row, e, resp);
        json_decref(m);
        cd_job_row_clear(&row);
}

/* The tar writer: a thread feeding a stream the HTTP layer sends out. */
struct tar_job {
        const struct cd_archive_lib *la;
        int art_fd;
        struct cd_api_stream *stream;
        json_t *manifest; /* the writer's own copy, never shared (start_tar) */
        bool failed;      /* nothing more is written: no padding, no end marker */
};

/* libarchive's output: the stream, until the first failure. */
static la_ssize_t tar_out(struct archive *a, void *data, const void *buf, size_t n)
{
        struct tar_job *t = data;
        int r = t->failed ? -EPIPE : cd_write_all(cd_api_stream_fd(t->stream), buf, n);

        if (r < 0) {
                t->failed = true;
                t->la->set_error(a, -r, "tar: write");
                return -1;
        }
        return (la_ssize_t) n;
}

/* One file, whole: anything short of ARCHIVE_OK (a warning too, such as a
 * name libarchive could not put in UTF-8) fails it. */
static int tar_entry(const struct cd_archive_lib *la, struct archive *a, struct archive_entry *ae,
                     int art_fd, json_t *e)
{
        const char *path = json_string_value(json_object_get(e, "path"));
        uint64_t want = (uint64_t) json_integer_value(json_object_get(e, "size"));
        struct stat st;
        cleanup_close int fd = open_regular_st(art_fd, path, &st);
        char *buf;
        int r = 0;

        if (fd < 0 || (uint64_t) st.st_size < want)
                return -EIO;
        la->entry_clear(ae);
        la->entry_set_pathname(ae, path);
        la->entry_set_filetype(ae, AE_IFREG);
        la->entry_set_perm(ae, 0644);
        la->entry_set_size(ae, (la_int64_t) want);
        la->entry_set_mtime(ae, st.st_mtim.tv_sec, 0);
        if (la->write_header(a, ae) != ARCHIVE_OK)
                return -EIO;
        buf = malloc(TAR_CHUNK);
        for (uint64_t done = 0; buf && r == 0 && done < want;) {
                size_t n = want - done < TAR_CHUNK ? (size_t) (want - done) : TAR_CHUNK;
                ssize_t got = read(fd, buf, n);

                if (got <= 0 || la->write_data(a, buf, (size_t) got) != got)
                        r = -EIO;
                done += got > 0 ? (uint64_t) got : 0;
        }
        free(buf);
        return buf ? r : -ENOMEM;
}

/* Every taken file, then the end of the archive. Returns true when the
 * archive is whole. */
static bool tar_all(struct tar_job *t, struct archive *a, struct archive_entry *ae)
{
        const struct cd_archive_lib *la = t->la;
        json_t *e;
        size_t i;

        if (la->write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            la->write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
            la->write_open(a, t, NULL, tar_out, NULL) != ARCHIVE_OK)
                return false;
        json_array_foreach(t->manifest, i, e)
        {
                if (json_object_get(e, "sha256") && tar_entry(la, a, ae, t->art_fd, e) < 0)
                        return false;
        }
        return la->write_close(a) == ARCHIVE_OK && !t->failed;
}

/*
 * The thread. Names are UTF-8 (names.c) and go into the pax headers as
 * such, which libarchive converts from the thread's locale: C.UTF-8 here,
 * whatever the process's. A failure (the client went away, a file that
 * cannot be read, a name that cannot be written) stops all output, the
 * entry in progress unpadded and no end marker, and the stream is ended
 * as not whole: the client sees a broken transfer, never a tar that looks
 * complete with a file zeroed or missing.
 */
static atomic_bool locale_warned;

static void *tar_writer(void *arg)
{
        struct tar_job *t = arg;
        locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
        int locale_errno = errno;
        struct archive *a = t->la->write_new();
        struct archive_entry *ae = a ? t->la->entry_new2(a) : NULL;
        bool whole;

        if (utf8)
                (void) uselocale(utf8);
        else if (!atomic_exchange(&locale_warned, true)) /* once: names beyond ASCII break */
                cd_log_warn(NULL,
                            "msg=\"tar: no C.UTF-8 locale (libc-bin); artifact names beyond "
                            "ASCII cannot be archived\" errno=%d",
                            locale_errno);
        whole = a && ae && tar_all(t, a, ae);
        t->failed = !whole;
        t->la->entry_free(ae);       /* both take NULL */
        (void) t->la->write_free(a); /* after a failure, tar_out refuses what it flushes */
        if (utf8) {
                (void) uselocale(LC_GLOBAL_LOCALE);
                freelocale(utf8);
        }
        cd_api_stream_end(t->stream, whole);
        (void) cd_close(t->art_fd);
        json_decref(t->manifest);
        free(t);
        return NULL;
}

static int start_tar(const struct cd_archive_lib *la, int art_fd, json_t *manifest,
                     struct cd_api_stream **ret)
{
        struct tar_job *t = calloc(1, sizeof(*t));
        pthread_attr_t attr;
        pthread_t th;
        int r;

        if (!t)
                return -ENOMEM;
        r = cd_api_stream_new(&t->stream);
        if (r < 0) {
                free(t);
                return r;
        }
        /* A copy, not a reference: jansson's json_decref() releases without
         * acquiring, so the thread that drops the last reference could free
         * what the other still reads (a data race, shown by TSan). */
        t->manifest = json_deep_copy(manifest);
        if (!t->manifest) {
                cd_api_stream_end(t->stream, false);
                cd_api_stream_release(t->stream);
                free(t);
                return -ENOMEM;
        }
        t->la = la;
        t->art_fd = art_fd;
        *ret = t->stream;
        (void) pthread_attr_init(&attr);
        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = -pthread_create(&th, &attr, tar_writer, t);
        (void) pthread_attr_destroy(&attr);
        if (r < 0) {
                cd_api_stream_end(t->stream, false);
                cd_api_stream_release(t->stream);
                json_decref(t->manifest);
                free(t);
                *ret = NULL;
        }
        return r;
}

static bool has_taken(json_t *m)
{
        json_t *e;
        size_t i;

        json_array_foreach(m, i, e) if (json_object_get(e, "sha256")) return true;
        return false;
}

static json_t *tar_details(json_t *m)
{
        json_int_t files = 0, bytes = 0;
        json_t *e;
        size_t i;

        json_array_foreach(m, i, e) if (json_object_get(e, "sha256"))
        {
                files++;
                bytes += json_integer_value(json_object_get(e, "size"));
        }
        return json_pack("{s:b, s:I, s:I}", "archive", 1, "files", files, "bytes", bytes);
}

/* The archive of every taken artifact, recorded before it is sent. */
static void serve_tar(const struct cd_api_request *req, const struct cd_job_row *row, json_t *m,
                      int art, struct cd_api_response *resp)
{
        struct cd_api_stream *stream = NULL;
        const struct cd_archive_lib *la;
        struct cd_err err = { 0 };

        la = cd_archive_lib_get(&err);
        if (!la) { /* before the read is recorded: nothing is read */
                cd_log_err(CD_LOG_ERROR, row->id, &err);
                (void) cd_close(art);
                cd_api_problem(resp, 500, "internal",
                               "cannot make the tar (libarchive is not available); fetch the "
                               "artifacts one by one");
                return;
        }
        if (audit_read(req, row, CD_AUDIT_ARTIFACT_READ, tar_details(m), resp) < 0) {
                (void) cd_close(art);
                return;
        }
        if (start_tar(la, art, m, &stream) < 0) {
                (void) cd_close(art);
                cd_api_problem(resp, 500, "internal", "cannot read the artifacts");
                return;
        }
        resp->status = 200;
        resp->content_type = "application/x-tar";
        resp->stream = stream;
        cd_api_header(resp, "Content-Disposition", "attachment; filename=\"%s.tar\"", row->id);
        cd_api_header(resp, "X-Content-Type-Options", "nosniff");
}

void api_artifacts_tar(const struct cd_api_request *req, struct cd_api_response *resp)
{
        struct cd_job_row row = { 0 };
        json_t *m = manifest_of(req, &row, resp);
        cleanup_close int dir = -1;
        int art;

        if (!m) {
                cd_job_row_clear(&row);
                return;
        }
        dir = cd_jobfiles_open_job(&req->svc->files, row.id);
        art = dir >= 0 ? open_beneath(dir, "artifacts") : dir;
        /* Nothing was collected (cancelled while queued, a setup error):
         * there may be no artifacts/ at all, and the archive is empty. */
        if (art >= 0 || (art == -ENOENT && dir >= 0 && !has_taken(m)))
                serve_tar(req, &row, m, art >= 0 ? art : -1, resp);
        else
                cd_api_problem(resp, 500, "internal", "cannot read the artifacts");
        json_decref(m);
        cd_job_row_clear(&row);
}
