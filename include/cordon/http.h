/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * cordond's HTTP/1.1 server (libmicrohttpd, one thread per connection) on
 * a listening unix socket: peer identity by SO_PEERCRED, the request
 * bounds of the configuration, the route table, then an api/ handler.
 */

#include <stdbool.h>
#include <stddef.h>

#include "cordon/api.h"

/* One route: method, path pattern ("{id}" one segment, "{path}" the rest),
 * the least role that may call it, whether the body is a multipart upload,
 * and the query parameters it takes (space-separated; NULL: none; any
 * other, or one given twice, is 400 bad_request). */
struct cd_route {
        const char *method;
        const char *pattern;
        enum cd_role min_role;
        bool upload;
        cd_api_handler *handler;
        const char *params;
};

#define CD_ROUTE_MAX_ID 64

/*
 * Match @method and @path against the route table. Returns the route, with
 * {id} copied into @id (empty when longer than CD_ROUTE_MAX_ID) and {path}
 * pointed to by *@rest; or NULL with *@ret_status 404 (no such path) or 405
 * (the path exists with other methods, listed in @allow). Context: any.
 */
const struct cd_route *cd_route_match(const char *method, const char *path,
                                      char id[CD_ROUTE_MAX_ID + 1], const char **rest,
                                      unsigned int *ret_status, char *allow, size_t allow_size);

/*
 * Percent-decode @s in place, as libmicrohttpd would, except "%00": it
 * stays as the three characters, so an encoded NUL can never cut a path or
 * a query value short (MHD's own decoding would make "/v1/jobs/ID%00/x"
 * the path "/v1/jobs/ID"). Malformed escapes stay as they are. Returns the
 * new length. Context: any.
 */
size_t cd_http_unescape(char *s);

struct cd_http;

/* Serve @svc on @listen_fd (taken). Returns 0 or -errno with @err. */
int cd_http_start(struct cd_service *svc, int listen_fd, struct cd_http **ret, struct cd_err *err);
/* Stop accepting connections (SIGTERM); the open ones finish. */
void cd_http_quiesce(struct cd_http *h);
/* Stop and free: waits for connection threads. Accepts NULL. */
void cd_http_stop(struct cd_http *h);
