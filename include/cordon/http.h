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

/*
 * The form of a request target as the client sent it (RFC 9112 3.2), query
 * included. Two forms are served: origin-form ("/v1/jobs?state=queued") and
 * absolute-form with the http scheme ("http://cordon/v1/jobs"; the authority
 * is ignored, as the Host header is). Returns NULL with *@ret_prefix the
 * length of what precedes the path ("http://cordon": 13; 0 in origin-form),
 * or the reason the target is refused: any other form (asterisk-form,
 * authority-form, another scheme, a relative path), a fragment, a space or
 * a control character, an absolute-form authority that is empty or has
 * userinfo or a percent-escape. The reason is static text. Context: any.
 */
const char *cd_http_target_check(const char *target, size_t *ret_prefix);

/*
 * Why the decoded path @path cannot be routed: a "." or ".." segment (RFC
 * 3986 5.2.4 would remove it; cordond does not rewrite paths, and a client
 * that sends one expects it to mean something). NULL when it can be
 * routed. Context: any.
 */
const char *cd_http_path_check(const char *path);

/*
 * Is @value a valid Host header value (RFC 9110 7.2: uri-host [":" port],
 * possibly empty)? Only the characters are checked: those of a reg-name,
 * an IP literal and a port. Context: any.
 */
bool cd_http_host_valid(const char *value);

struct cd_http;

/* Serve @svc on @listen_fd (taken). Returns 0 or -errno with @err. */
int cd_http_start(struct cd_service *svc, int listen_fd, struct cd_http **ret, struct cd_err *err);
/* Stop accepting connections (SIGTERM); the open ones finish. */
void cd_http_quiesce(struct cd_http *h);
/* Stop and free: waits for connection threads. Accepts NULL. */
void cd_http_stop(struct cd_http *h);
