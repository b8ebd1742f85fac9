/* SPDX-License-Identifier: MIT */
/* Responses of the API handlers: one problem+json shape for every error (api.h). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cordon/api.h"
#include "cordon/cleanup.h"

void cd_api_response_init(struct cd_api_response *resp)
{
        *resp = (struct cd_api_response){ .fd = -1 };
}

void cd_api_response_clear(struct cd_api_response *resp)
{
        json_decref(resp->json);
        free(resp->text);
        (void) cd_close(resp->fd);
        cd_api_stream_release(resp->stream);
        cd_api_response_init(resp);
}

/* The title of each code: fixed text, so that clients can show it. */
static const char *title(const char *code)
{
        static const char *const titles[][2] = {
                { "bad_request", "The request is malformed" },
                { "invalid_json", "The job is not valid JSON of the expected shape" },
                { "invalid_request", "A field of the job is not valid" },
                { "limit_exceeded", "A limit is above the profile's maximum" },
                { "bad_input_name", "An input file name is not allowed" },
                { "duplicate_input", "Two inputs have the same name" },
                { "unknown_profile", "There is no such profile" },
                { "profile_unavailable", "The profile cannot run on this host" },
                { "forbidden", "You may not do this" },
                { "not_found", "There is no such resource" },
                { "job_not_found", "There is no such job" },
                { "artifact_not_found", "There is no such artifact" },
                { "method_not_allowed", "The method is not allowed here" },
                { "job_finished", "The job has already finished" },
                { "job_not_finished", "The job has not finished yet" },
                { "range_not_satisfiable", "The range starts past the end" },
                { "request_timeout", "The request took too long" },
                { "body_too_large", "The request body is too large" },
                { "too_many_inputs", "Too many input files" },
                { "input_too_large", "An input file is too large" },
                { "json_too_large", "The job part is too large" },
                { "uri_too_long", "The URL is too long" },
                { "unsupported_media_type", "The content type is not supported" },
                { "queue_full", "The queue is full" },
                { "client_queue_full", "You have too many jobs queued" },
                { "rate_limited", "Too many requests" },
                { "headers_too_large", "The request headers are too large" },
                { "internal", "cordond could not complete the request" },
                { "shutting_down", "cordond is stopping" },
                { "too_many_connections", "Too many connections" },
                { "insufficient_storage", "cordond's disk is short of space" },
                { "quota_exceeded", "Your jobs hold all the disk space you are allowed" },
        };

        for (size_t i = 0; i < ELEMENTSOF(titles); i++)
                if (!strcmp(titles[i][0], code))
                        return titles[i][1];
        return "Error";
}

void cd_api_problem(struct cd_api_response *resp, unsigned int status, const char *code,
                    const char *fmt, ...)
{
        char detail[512], type[96];
        va_list ap;

        cd_api_response_clear(resp);
        va_start(ap, fmt);
        (void) vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        (void) snprintf(type, sizeof(type), "urn:cordon:problem:%s", code);
        resp->status = status;
        resp->code = code;
        resp->content_type = "application/problem+json";
        resp->json = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title", title(code),
                               "status", (int) status, "code", code, "detail", detail);
}

void cd_api_json(struct cd_api_response *resp, unsigned int status, json_t *body)
{
        if (!body) {
                cd_api_problem(resp, 500, "internal", "out of memory");
                return;
        }
        json_decref(resp->json);
        resp->status = status;
        resp->content_type = "application/json";
        resp->json = body;
}

void cd_api_header(struct cd_api_response *resp, const char *name, const char *fmt, ...)
{
        struct cd_api_header *h;
        va_list ap;

        if (resp->n_headers >= CD_API_MAX_HEADERS)
                return; /* a programming error: the handlers set at most five */
        h = &resp->headers[resp->n_headers++];
        (void) snprintf(h->name, sizeof(h->name), "%s", name);
        va_start(ap, fmt);
        (void) vsnprintf(h->value, sizeof(h->value), fmt, ap);
        va_end(ap);
}
