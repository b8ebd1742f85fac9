/* SPDX-License-Identifier: MIT */
/*
 * HTTP to cordond over its unix socket (libcurl, CURLOPT_UNIX_SOCKET_PATH).
 * Every function that can fail prints its one error line ("cordon <cmd>:
 * ...") and returns the exit status of docs/cli.md; 0 means success.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_DEFAULT_SOCKET "/run/cordon/cordon.sock"

struct cli_client;

/*
 * A client for @cmd (named in error lines) on the socket @flag (--socket),
 * else $CORDON_SOCKET (secure_getenv), else CLI_DEFAULT_SOCKET. Nothing is
 * connected yet. Returns 0 and *@ret (free with cli_client_free), or an
 * exit status.
 */
int cli_client_new(const char *cmd, const char *flag, struct cli_client **ret);
struct cli_client *cli_client_free(struct cli_client *c);
void cli_client_freep(struct cli_client **c);

/* Why libcurl.so.4 could not be loaded (curl-load.c: the loader's reason),
 * or "" when it was, or was not tried yet. */
const char *cli_curl_load_error(void);

/* The command name and the socket path of @c. */
const char *cli_client_cmd(const struct cli_client *c);
const char *cli_client_socket(const struct cli_client *c);

/* Receives a 2xx body as it arrives. Returns 0, or an exit status (after
 * printing why) to abort the transfer; cli_send then returns that status.
 * CLI_SINK_DONE ends the transfer too, with the answer as it came (0):
 * the sink has every byte it will take. */
typedef int cli_sink_fn(void *data, const char *buf, size_t n);
#define CLI_SINK_DONE (-1)

/* One file part of a submission: @fd is read from its start (offset 0, and
 * again from there when cli_send resends the request) for @size bytes, as
 * it is sent (never loaded whole). Owned by the caller. */
struct cli_input {
        int fd;
        uint64_t size;
        char *name; /* the file name cordond stores it under */
};

struct cli_request {
        const char *method; /* NULL: GET */
        const char *path;   /* "/v1/jobs/ID?wait=60": already encoded */
        cli_sink_fn *sink;  /* 2xx body; NULL keeps it in memory */
        void *sink_data;
        size_t max_bytes;    /* memory body cap; 0: CLI_MAX_JSON_BYTES */
        uint64_t range_from; /* > 0: "Range: bytes=N-" (the stream from byte N) */
        long timeout_s;      /* whole transfer; 0: none (stalls still end it) */
        /* cd_now_ms() by which the transfer ends however it goes, or 0:
         * then cli_send returns CLI_EXIT_STILL_RUNNING, saying nothing
         * (the caller knows what the deadline was for). */
        uint64_t deadline_ms;
        /* Called about once a second while the transfer runs (a live line). */
        void (*tick)(void *data);
        void *tick_data;
        /* POST /v1/jobs: the job part and the input files. */
        const char *job_json;
        const struct cli_input *inputs;
        size_t n_inputs;
};

#define CLI_MAX_JSON_BYTES  (32U << 20)
#define CLI_MAX_ERROR_BYTES (64U << 10)

struct cli_response {
        long status;
        char content_type[128];
        char etag[136];
        unsigned int retry_after_s;
        bool truncated;       /* Cordon-Truncated: true */
        uint64_t range_start; /* Content-Range: the first byte of a 206 body, else 0 */
        char *body;           /* a memory body, NUL-terminated */
        size_t len;
        json_t *json; /* the body parsed, when its type is JSON */
};

void cli_response_clear(struct cli_response *r);

/*
 * Send @rq and read the answer into @resp (cleared first). Returns 0 when
 * cordond answered, whatever the status; otherwise an exit status:
 * CLI_EXIT_UNREACHABLE (cannot connect, the socket is served by neither
 * root nor the caller's euid so nothing was sent, or the connection broke),
 * CLI_EXIT_SERVER (an answer over the size cap), CLI_EXIT_INTERRUPTED,
 * CLI_EXIT_STILL_RUNNING (rq->deadline_ms passed), or what the sink
 * returned.
 */
int cli_send(struct cli_client *c, const struct cli_request *rq, struct cli_response *resp);

/*
 * 0 for a 2xx answer. Otherwise print the problem document as one line,
 * "cordon <cmd>: [<what>: ]<detail> (<code>; <what to do>)", and return
 * its exit status (CLI_EXIT_REJECTED, _NOT_FOUND, _FORBIDDEN, _BUSY or
 * _SERVER). @what (e.g. "job 3f2a...") may be NULL.
 */
int cli_check(const struct cli_client *c, const struct cli_response *resp, const char *what);

/* The exit status for an HTTP error status. */
int cli_status_exit(long status);

/*
 * @method @path, expecting JSON (or nothing, for 204). On success *@ret
 * holds the parsed body (NULL for an empty one; caller owns it). @ret may
 * be NULL. @timeout_s as in struct cli_request (0: 120 s).
 */
int cli_call(struct cli_client *c, const char *method, const char *path, const char *what,
             long timeout_s, json_t **ret);

/* Percent-encode @s for a URL path ('/' kept when @keep_slash) or a query
 * value. Returns a new string or NULL on ENOMEM. */
char *cli_url_encode(const char *s, bool keep_slash);
