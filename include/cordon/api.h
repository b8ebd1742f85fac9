/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The handlers of cordond's API (docs/api.md). They take plain structs and
 * never see libmicrohttpd: http/ parses the connection, enforces the
 * bounds, matches the route and checks the role first; a handler fills a
 * response, and every error is one problem+json shape from cd_api_problem().
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cordon/service.h"

/* A file upload in progress (POST /v1/jobs), fed part by part by http/. */
struct cd_upload {
        struct cd_service *svc;
        char id[CD_JOB_ID_LEN + 1];
        int dir_fd;    /* jobs/<id>.partial, -1 until the first file part */
        int inputs_fd; /* jobs/<id>.partial/inputs */
        int file_fd;   /* the input being written, -1 between parts */
        uint64_t file_bytes;
        uint64_t stored_bytes;  /* all input bytes written */
        struct cd_room room;    /* reserved on the state disk before it is written */
        uint64_t room_check_at; /* stored_bytes at which the room is checked again */
        bool declared;          /* its Content-Length was reserved whole */
        uint64_t charge;        /* against the quota (cd_service_charge), once complete */
        char *json;             /* the `job` part */
        size_t json_len;
        bool in_json;
        char *part_field; /* the form field name of the current part */
        bool announced;   /* the last call started a part without data */
        char **names;     /* input names, in order */
        unsigned int n_inputs;
        bool committed; /* the files belong to a stored job now */
        /* The first problem; later data is ignored. */
        unsigned int status;
        const char *code;
        char detail[256];
};

/* Start an upload for @svc by client @uid, holding no room yet. Returns 0
 * or -EIO. */
int cd_upload_begin(struct cd_upload *u, struct cd_service *svc, uint32_t uid);

/* Reserve room for @bytes of inputs (its declared length) before any
 * arrive; checks the reserve and the client's quota only, when 0. Past
 * @bytes, the upload asks only for what its files' blocks round up to.
 * Returns 0 or -1 as cd_upload_data(): 507 insufficient_storage or
 * quota_exceeded, 500 when the room cannot be read. */
int cd_upload_reserve(struct cd_upload *u, uint64_t bytes);

/*
 * One chunk of a multipart field: @field is its name, @filename non-NULL
 * for a file part, @content_type the part's Content-Type or NULL, @off the
 * chunk's offset within the part (0 starts a new part). Returns 0, or -1
 * once the upload has failed (u->status and u->code say why; stop reading
 * the body).
 */
int cd_upload_data(struct cd_upload *u, const char *field, const char *filename,
                   const char *content_type, const char *data, uint64_t off, size_t size);

/* Close the last part, give back the room reserved and not written, and
 * check the reserve once more. Returns 0 or -1 as cd_upload_data(). */
int cd_upload_finish(struct cd_upload *u);

/* The upload's files belong to a stored job now: kept, and its room given
 * back (the job's row counts them). */
void cd_upload_commit(struct cd_upload *u);

/* Give back the upload's room, remove everything it wrote unless it was
 * committed, and free it. */
void cd_upload_clear(struct cd_upload *u);

struct cd_api_request {
        struct cd_service *svc;
        const struct cd_peer *peer;
        const char *id;   /* {id} of the path, or NULL */
        const char *rest; /* {path} of an artifact, or NULL */
        /* The query parameter @key, or NULL. */
        const char *(*query)(void *conn, const char *key);
        /* The request header @name (any case), or NULL; NULL when there are none. */
        const char *(*header)(void *conn, const char *name);
        void *conn;
        struct cd_upload *upload; /* POST /v1/jobs */
};

/*
 * A body a producer thread writes (the tar of a job's artifacts): it writes
 * into cd_api_stream_fd() and ends with cd_api_stream_end(), saying whether
 * the body is whole. A body not whole is never ended as if it were: the
 * reader gets -EPIPE at its end, and the HTTP layer breaks the connection.
 */
struct cd_api_stream;

/* A new stream, held twice: by its producer and by the response. */
int cd_api_stream_new(struct cd_api_stream **ret);
int cd_api_stream_fd(const struct cd_api_stream *s);
/* The producer is done (closes its end, drops its hold). */
void cd_api_stream_end(struct cd_api_stream *s, bool whole);
/* Up to @max bytes; 0 at the end of a whole body; -EPIPE at the end of
 * one that is not; -errno. Blocks while the producer is working. */
ssize_t cd_api_stream_read(struct cd_api_stream *s, char *buf, size_t max);
/* The reader is done: closes its end (a producer still writing gets EPIPE)
 * and drops the response's hold. */
void cd_api_stream_release(struct cd_api_stream *s);

#define CD_API_MAX_HEADERS 8

struct cd_api_header {
        char name[48];
        char value[320];
};

struct cd_api_response {
        unsigned int status;
        const char *content_type; /* static string */
        json_t *json;             /* body as JSON, or: */
        char *text;               /* body as bytes (owned, malloc), or: */
        size_t text_len;
        int fd; /* body from this file (owned), fd_size bytes from fd_offset; -1: none */
        uint64_t fd_offset;
        uint64_t fd_size;
        struct cd_api_stream *stream; /* body from a producer (a hold on it); NULL: none */
        const char *code;             /* problem code of an error response (metrics) */
        struct cd_api_header headers[CD_API_MAX_HEADERS];
        size_t n_headers;
};

void cd_api_response_init(struct cd_api_response *resp);
void cd_api_response_clear(struct cd_api_response *resp);

/* An RFC 9457 problem: @code is a static string from docs/api.md; @fmt the
 * detail, which never repeats request content. */
void cd_api_problem(struct cd_api_response *resp, unsigned int status, const char *code,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A 2xx JSON body (taking @body). */
void cd_api_json(struct cd_api_response *resp, unsigned int status, json_t *body);

void cd_api_header(struct cd_api_response *resp, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

typedef void cd_api_handler(const struct cd_api_request *req, struct cd_api_response *resp);

cd_api_handler api_jobs_create, api_jobs_get, api_jobs_list, api_jobs_stdout, api_jobs_stderr,
        api_jobs_cancel, api_jobs_delete, api_artifacts_list, api_artifacts_get, api_artifacts_tar,
        api_profiles_list, api_health, api_metrics;

/* Load job {id} for the peer: 0, or a 404 in @resp (missing, or not its own). */
int cd_api_load_job(const struct cd_api_request *req, struct cd_job_row *row,
                    struct cd_api_response *resp);

/* The job's JSON representation (docs/api.md). NULL on ENOMEM. */
json_t *cd_api_job_json(struct cd_service *svc, const struct cd_job_row *row);
