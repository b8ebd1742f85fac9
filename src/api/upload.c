/* SPDX-License-Identifier: MIT */
/*
 * The body of POST /v1/jobs, part by part (api.h): the `job` JSON into
 * memory (bounded), each file part into jobs/<id>.partial/inputs/<name>,
 * created exclusively and never through a symlink. Nothing is kept unless
 * the job is committed: a failed or cut upload removes its directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cordon/api.h"
#include "cordon/cleanup.h"
#include "cordon/log.h"
#include "cordon/util.h"

static int fail(struct cd_upload *u, unsigned int status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Room on the state disk is reserved before a write (service.h): an upload
 * without a Content-Length takes it ROOM_WINDOW_BYTES at a time, and any
 * upload checks after each ROOM_WINDOW_BYTES written that the reserve is
 * still whole (running jobs' output may have taken what it counted on). */
#define ROOM_WINDOW_BYTES (1ULL << 20)
/*
 * The room counts a file in the blocks the disk takes for it, of
 * ROOM_BLOCK_BYTES (ext4's, xfs's and btrfs's default block, a tmpfs's
 * page): a write counts the blocks it starts, each whole, and nothing for
 * what it adds to a block already counted. A file's last block,
 * part-filled, is so counted once, from the write that starts it, and
 * marked written with that write: the free space then shows it whole. (On
 * larger blocks, what the room misses shows in the free space once
 * written, for the checks that follow.) The quota charges a stored job
 * its blocks too, and besides an inode's worth (at least a block) per file
 * and directory and its request (cd_service_charge): a room refused for
 * its blocks is one whose charge would be refused too, once the upload is
 * whole and its charge checked against what the disk holds then.
 */
#define ROOM_BLOCK_BYTES 4096ULL

static int fail(struct cd_upload *u, unsigned int status, const char *code, const char *fmt, ...)
{
        va_list ap;

        if (u->status)
                return -1;
        u->status = status;
        u->code = code;
        va_start(ap, fmt);
        (void) vsnprintf(u->detail, sizeof(u->detail), fmt, ap);
        va_end(ap);
        return -1;
}

/* A write that failed for want of space is the disk's fault, not ours. */
static int fail_store(struct cd_upload *u, int errnum, const char *what)
{
        if (errnum == ENOSPC || errnum == EDQUOT)
                return fail(u, 507, "insufficient_storage",
                            "no space left on cordond's disk for %s; retry later", what);
        return fail(u, 500, "internal", "cannot store %s", what);
}

/* At least @need more bytes of room, up to @want (cd_service_room_take). */
static int take_room(struct cd_upload *u, uint64_t need, uint64_t want)
{
        struct cd_err err = { 0 };
        struct cd_quota q;
        char detail[sizeof(u->detail)];
        int r = cd_service_room_take(u->svc, &u->room, need, want, &q, &err);

        if (r == -ENOSPC)
                return fail_store(u, ENOSPC, "the inputs");
        if (r == -CD_E_QUOTA) {
                cd_quota_describe(&q, detail, sizeof(detail));
                return fail(u, 507, "quota_exceeded", "%s", detail);
        }
        if (r < 0) {
                cd_log_err(CD_LOG_ERROR, NULL, &err);
                return fail(u, 500, "internal", "cannot check the room on cordond's disk");
        }
        u->room_check_at = u->stored_bytes + ROOM_WINDOW_BYTES;
        return 0;
}

/* @bytes of a file as the disk holds them: in whole blocks. */
static uint64_t in_blocks(uint64_t bytes)
{
        return cd_sat_add(bytes / ROOM_BLOCK_BYTES * ROOM_BLOCK_BYTES,
                          bytes % ROOM_BLOCK_BYTES ? ROOM_BLOCK_BYTES : 0);
}

/* What writing @size more bytes to the open file takes on the disk: the
 * blocks it starts. */
static uint64_t file_take(const struct cd_upload *u, uint64_t size)
{
        return in_blocks(u->file_bytes + size) - in_blocks(u->file_bytes);
}

/* Room for @take more bytes on the disk, before they are written. A
 * chunked upload's window grows with what it has written, up to
 * ROOM_WINDOW_BYTES: a small upload, or one that stalls, holds little room
 * it does not use. A declared one reserved its length whole: what its
 * files take past it is their blocks' rounding, a block at most per file,
 * asked for as it comes (a window would hold room its body cannot fill). */
static int room_for(struct cd_upload *u, uint64_t take)
{
        uint64_t need, want;

        if (take <= u->room.unwritten)
                return u->stored_bytes >= u->room_check_at ? take_room(u, 0, 0) : 0;
        need = take - u->room.unwritten;
        want = u->stored_bytes < ROOM_WINDOW_BYTES ? u->stored_bytes : ROOM_WINDOW_BYTES;
        return take_room(u, need, !u->declared && want > need ? want : need);
}

int cd_upload_begin(struct cd_upload *u, struct cd_service *svc, uint32_t uid)
{
        *u = (struct cd_upload){ .svc = svc,
                                 .dir_fd = -1,
                                 .inputs_fd = -1,
                                 .file_fd = -1,
                                 .room = { .uid = uid },
                                 .room_check_at = ROOM_WINDOW_BYTES };
        if (cd_random_hex(u->id, CD_JOB_ID_LEN / 2) < 0)
                return -EIO;
        return 0;
}

int cd_upload_reserve(struct cd_upload *u, uint64_t bytes)
{
        u->declared = bytes > 0;
        return take_room(u, bytes, bytes);
}

/* The staging directory, made when the first file arrives. */
static int stage(struct cd_upload *u)
{
        struct cd_err err = { 0 };

        if (u->dir_fd >= 0)
                return 0;
        if (cd_jobfiles_stage(&u->svc->files, u->id, &u->dir_fd, &u->inputs_fd, &err) < 0)
                return fail_store(u, err.code, "the inputs");
        return 0;
}

static int close_file(struct cd_upload *u)
{
        int fd = u->file_fd;

        if (fd < 0)
                return 0;
        u->file_fd = -1;
        if (fsync(fd) < 0) {
                int e = errno;

                (void) cd_close(fd);
                return fail_store(u, e, "an input");
        }
        return close(fd) < 0 ? fail_store(u, errno, "an input") : 0;
}

static int open_file(struct cd_upload *u, const char *filename)
{
        const struct cd_config *cfg = u->svc->cfg;

        if (close_file(u) < 0 || stage(u) < 0)
                return -1;
        if (u->n_inputs >= cfg->max_inputs)
                return fail(u, 413, "too_many_inputs", "at most %u input files", cfg->max_inputs);
        if (!cd_input_name_is_valid(filename))
                return fail(u, 400, "bad_input_name",
                            "input %u: a file name must be one path component of valid UTF-8, "
                            "without control characters, '\\', a leading '-' or '.'",
                            u->n_inputs + 1);
        /* Stored as it came, the file would not have the client's name. */
        if (cd_name_is_form_ambiguous(filename))
                return fail(u, 400, "bad_input_name",
                            "input %u: a file name must not hold '\"', %%22, %%0A or %%0D (form "
                            "encoding sends '\"', LF and CR so); rename the file",
                            u->n_inputs + 1);
        u->file_fd = openat(u->inputs_fd, filename,
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (u->file_fd < 0 && errno == EEXIST)
                return fail(u, 400, "duplicate_input", "input %u: a second file of that name",
                            u->n_inputs + 1);
        if (u->file_fd < 0)
                return fail_store(u, errno, "an input");
        if (cd_strv_push(&u->names, filename) < 0)
                return fail(u, 500, "internal", "out of memory");
        u->n_inputs++;
        u->file_bytes = 0;
        return 0;
}

static int file_data(struct cd_upload *u, const char *data, size_t size)
{
        uint64_t take;
        int r;

        if (u->file_bytes + size > u->svc->cfg->max_input_bytes)
                return fail(u, 413, "input_too_large", "input %u: over %llu bytes", u->n_inputs,
                            (unsigned long long) u->svc->cfg->max_input_bytes);
        take = file_take(u, size);
        if (room_for(u, take) < 0)
                return -1;
        r = cd_write_all(u->file_fd, data, size);
        if (r < 0)
                return fail_store(u, -r, "an input");
        cd_service_room_written(u->svc, &u->room, take);
        u->file_bytes += size;
        u->stored_bytes += size;
        return 0;
}

static int json_data(struct cd_upload *u, const char *data, size_t size)
{
        char *n;

        if (u->json_len + size > u->svc->cfg->max_json_bytes)
                return fail(u, 413, "json_too_large", "the job part is over %zu bytes",
                            u->svc->cfg->max_json_bytes);
        n = realloc(u->json, u->json_len + size + 1);
        if (!n)
                return fail(u, 500, "internal", "out of memory");
        u->json = n;
        memcpy(u->json + u->json_len, data, size);
        u->json_len += size;
        u->json[u->json_len] = '\0';
        return 0;
}

/* The `job` part is JSON: application/json (parameters allowed), or no type. */
static bool job_part_type_ok(const char *type)
{
        size_t n;

        if (!type)
                return true;
        type += strspn(type, " \t");
        n = strcspn(type, "; \t");
        return n == 16 && !strncasecmp(type, "application/json", 16);
}

/* A new part, at offset 0. */
static int new_part(struct cd_upload *u, const char *field, const char *filename,
                    const char *content_type)
{
        if (filename) {
                u->in_json = false;
                return open_file(u, filename);
        }
        if (close_file(u) < 0)
                return -1;
        if (!field || strcmp(field, "job") != 0)
                return fail(u, 400, "bad_request",
                            "unexpected form field: only `job` and file parts are accepted");
        if (u->json)
                return fail(u, 400, "bad_request", "more than one `job` part");
        if (!job_part_type_ok(content_type))
                return fail(u, 415, "unsupported_media_type",
                            "the `job` part must be "
                            "application/json");
        u->in_json = true;
        u->json = strdup("");
        return u->json ? 0 : fail(u, 500, "internal", "out of memory");
}

/*
 * Does a chunk at offset 0 carry on the part announced just before? MHD
 * (0.9.75, postprocessor.c) calls once per part at offset 0 even when no
 * byte of it has arrived yet, with size 0; the part's first bytes then
 * come at offset 0 again. Any other call at offset 0 starts a new part:
 * an empty part is followed by the next one's bytes at offset 0 too, and
 * they must not land in the empty part's file or in the `job` JSON. A
 * next part with the very same name and filename as an announced empty
 * one cannot be told apart: its bytes fill that one file.
 */
static bool carries_on(const struct cd_upload *u, const char *field, const char *filename,
                       size_t size)
{
        if (!u->announced || size == 0)
                return false;
        if (filename)
                return u->file_fd >= 0 && u->file_bytes == 0 && u->names &&
                       !strcmp(u->names[u->n_inputs - 1], filename) && u->part_field && field &&
                       !strcmp(u->part_field, field);
        return u->in_json && u->json_len == 0 && field && !strcmp(field, "job");
}

int cd_upload_data(struct cd_upload *u, const char *field, const char *filename,
                   const char *content_type, const char *data, uint64_t off, size_t size)
{
        if (u->status)
                return -1;
        if (off == 0 && !carries_on(u, field, filename, size)) {
                if (new_part(u, field, filename, content_type) < 0)
                        return -1;
                free(u->part_field);
                u->part_field = field ? strdup(field) : NULL;
                if (field && !u->part_field)
                        return fail(u, 500, "internal", "out of memory");
        }
        u->announced = off == 0 && size == 0;
        if (size == 0)
                return 0;
        if (filename)
                return u->file_fd >= 0 ? file_data(u, data, size) : -1;
        return u->in_json ? json_data(u, data, size) : -1;
}

int cd_upload_finish(struct cd_upload *u)
{
        if (u->status)
                return -1;
        if (close_file(u) < 0)
                return -1;
        if (!u->json)
                return fail(u, 400, "bad_request", "no `job` part");
        if (stage(u) < 0)
                return -1;
        cd_service_room_trim(u->svc, &u->room);
        return take_room(u, 0, 0);
}

void cd_upload_commit(struct cd_upload *u)
{
        u->committed = true;
        cd_service_room_release(u->svc, &u->room);
}

void cd_upload_clear(struct cd_upload *u)
{
        struct cd_err err = { 0 };

        if (u->svc)
                cd_service_room_release(u->svc, &u->room);
        (void) cd_close(u->file_fd);
        (void) cd_close(u->inputs_fd);
        (void) cd_close(u->dir_fd);
        /* Left behind, the staged files are the next start's to sweep
         * (jobs/<id>.partial); said in the log, since they take space. */
        if (!u->committed && u->svc && u->id[0] &&
            cd_jobfiles_remove(&u->svc->files, u->id, &err) < 0)
                cd_log_err(CD_LOG_WARN, u->id, &err);
        free(u->json);
        free(u->part_field);
        cd_strv_free(u->names);
        *u = (struct cd_upload){ .dir_fd = -1, .inputs_fd = -1, .file_fd = -1 };
}
