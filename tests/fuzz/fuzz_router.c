/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a request line into the route table (cd_route_match).
 *
 * Input: the method up to the first space (at most 15 bytes; no space:
 * "GET"), then the path up to the first NUL. The path is copied into a
 * buffer of exactly its size, so that reading past it is an ASan report.
 *
 * Besides the sanitizers, it abort()s when an invariant breaks:
 * - a match has the asked method, and its pattern rebuilt with the id
 *   segment and the rest is the path itself;
 * - a pattern with {id} never yields an empty id for a segment of at most
 *   CD_ROUTE_MAX_ID bytes (it is that segment), and always an empty one
 *   for a longer segment;
 * - rest is set (non-empty, inside the path) exactly for the {path} route;
 * - no match: status 404 or 405, Allow non-empty exactly for 405; every
 *   method Allow lists matches the same path, the asked one is not in it;
 *   a 404 path is a 404 for every method;
 * - the path as a request target: taken only in origin-form or as an
 *   http:// URL without a byte a target may not hold, its prefix ending
 *   where the path or query starts, the authority without '@' or '%';
 * - a dot segment ("." or "..") is found exactly when the path has one;
 * - the path as a Host value (cd_http_host_valid) is taken exactly when
 *   each byte is one RFC 9110 7.2 allows.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cordon/http.h"

#define MAX_METHOD 15

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The handlers are never called: the target links only router.c. */
#define STUB(name)                                                                                 \
        void name(const struct cd_api_request *req, struct cd_api_response *resp)                  \
        {                                                                                          \
                (void) req;                                                                        \
                (void) resp;                                                                       \
        }
STUB(api_jobs_create)
STUB(api_jobs_get)
STUB(api_jobs_list)
STUB(api_jobs_stdout)
STUB(api_jobs_stderr)
STUB(api_jobs_cancel)
STUB(api_jobs_delete)
STUB(api_artifacts_list)
STUB(api_artifacts_get)
STUB(api_artifacts_tar)
STUB(api_profiles_list)
STUB(api_health)
STUB(api_metrics)

#define FUZZ_TARGET "fuzz_router"
#include "fuzz-check.h"

struct result {
        const struct cd_route *route;
        char id[CD_ROUTE_MAX_ID + 1];
        const char *rest;
        unsigned int status;
        char allow[64];
};

static void match(const char *method, const char *path, struct result *m)
{
        memset(m->id, 'Z', sizeof(m->id) - 1);
        m->id[sizeof(m->id) - 1] = '\0';
        m->rest = "junk";
        m->status = 0;
        memset(m->allow, 'X', sizeof(m->allow));
        m->route = cd_route_match(method, path, m->id, &m->rest, &m->status, m->allow,
                                  sizeof(m->allow));
}

/* The pattern with {id} and {path} filled in must be the path. */
static void check_match(const char *method, const char *path, const struct result *m)
{
        const char *p = m->route->pattern, *s = path;
        bool has_id = false, has_path = false;

        CHECK(strcmp(m->route->method, method) == 0, "method %s for %s", m->route->method, method);
        while (*p) {
                if (strncmp(p, "{id}", 4) == 0) {
                        size_t seg = strcspn(s, "/");

                        has_id = true;
                        CHECK(seg > 0, "%s: empty {id} segment", m->route->pattern);
                        if (seg <= CD_ROUTE_MAX_ID)
                                CHECK(strlen(m->id) == seg && memcmp(m->id, s, seg) == 0,
                                      "id \"%s\" for a %zu-byte segment", m->id, seg);
                        else
                                CHECK(m->id[0] == '\0', "id \"%s\" for a %zu-byte segment", m->id,
                                      seg);
                        s += seg;
                        p += 4;
                } else if (strncmp(p, "{path}", 6) == 0) {
                        has_path = true;
                        CHECK(m->rest == s, "rest does not point at the rest of the path");
                        CHECK(*s != '\0', "empty {path}");
                        s += strlen(s);
                        p += 6;
                        CHECK(*p == '\0', "{path} not last in %s", m->route->pattern);
                } else {
                        CHECK(*p == *s, "%s does not fit the path", m->route->pattern);
                        p++;
                        s++;
                }
        }
        CHECK(*s == '\0', "%s matched a longer path", m->route->pattern);
        if (!has_path)
                CHECK(m->rest == NULL, "rest set for %s", m->route->pattern);
        (void) has_id;
}

static void check_no_match(const char *method, const char *path, const struct result *m)
{
        static const char *const methods[] = { "GET", "POST", "DELETE", "PUT" };
        size_t n = strnlen(m->allow, sizeof(m->allow));
        char allow[sizeof(m->allow)];
        char *save = NULL;

        CHECK(n < sizeof(m->allow), "Allow not terminated");
        CHECK(m->status == 404 || m->status == 405, "status %u", m->status);
        CHECK((m->status == 405) == (n > 0), "status %u with Allow \"%s\"", m->status, m->allow);
        if (m->status == 404) {
                for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
                        struct result o;

                        match(methods[i], path, &o);
                        CHECK(!o.route && o.status == 404, "404 for %s, %u for %s", method,
                              o.status, methods[i]);
                }
                return;
        }
        memcpy(allow, m->allow, n + 1);
        for (char *tok = strtok_r(allow, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
                struct result o;

                CHECK(strcmp(tok, method) != 0, "Allow \"%s\" lists the asked method", m->allow);
                match(tok, path, &o);
                CHECK(o.route && strcmp(o.route->method, tok) == 0,
                      "Allow lists %s, which does not match", tok);
                check_match(tok, path, &o);
        }
}

/* The path as a request target (cd_http_target_check): a target taken has
 * no byte it may not hold, and its prefix ends where its path or query
 * starts; one refused says why and leaves the prefix alone. */
static void check_target(const char *target)
{
        size_t len = strlen(target), prefix = SIZE_MAX;
        const char *why = cd_http_target_check(target, &prefix);

        if (why) {
                CHECK(*why, "refused without a reason");
                CHECK(prefix == SIZE_MAX, "prefix written for a refused target");
                return;
        }
        for (const char *c = target; *c; c++)
                CHECK((unsigned char) *c > 0x20 && *c != 0x7f && *c != '#',
                      "target with byte 0x%02x taken", (unsigned char) *c);
        CHECK(prefix <= len, "prefix %zu past the end (%zu)", prefix, len);
        if (target[0] == '/') {
                CHECK(prefix == 0, "origin-form with prefix %zu", prefix);
                return;
        }
        CHECK(prefix > 7 && strncasecmp(target, "http://", 7) == 0, "taken: not http://");
        CHECK(!target[prefix] || target[prefix] == '/' || target[prefix] == '?',
              "prefix ends inside the authority");
        for (size_t i = 7; i < prefix; i++)
                CHECK(!strchr("/?@%", target[i]), "authority with '%c' taken", target[i]);
}

/* cd_http_path_check against a second reading: "/" + path + "/" holds
 * "/./" or "/../" exactly when the path has a dot segment. */
static void check_dots(const char *path)
{
        size_t len = strlen(path);
        char *framed = malloc(len + 3);
        bool dots;

        if (!framed)
                return;
        framed[0] = '/';
        memcpy(framed + 1, path, len);
        memcpy(framed + 1 + len, "/", 2);
        dots = strstr(framed, "/./") || strstr(framed, "/../");
        free(framed);
        CHECK(dots == (cd_http_path_check(path) != NULL), "dot segment %s",
              dots ? "missed" : "seen where there is none");
}

/* cd_http_host_valid against RFC 9110 7.2's characters, read again: a
 * reg-name's (unreserved, sub-delims, pct-encoded), an IP literal's
 * brackets and the port's colon; nothing else, no byte from 0x80 on. */
static void check_host(const char *value)
{
        static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789-._~!$&'()*+,;=%:[]";
        bool want = strspn(value, allowed) == strlen(value);

        CHECK(cd_http_host_valid(value) == want, "Host value %s", want ? "refused" : "taken");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *sp = memchr(data, ' ', size < MAX_METHOD + 1 ? size : MAX_METHOD + 1);
        char method[MAX_METHOD + 1] = "GET";
        const uint8_t *p = data;
        size_t len;
        char *path;
        struct result m;

        if (sp) {
                memcpy(method, data, (size_t) (sp - data));
                method[sp - data] = '\0';
                p = sp + 1;
        }
        len = strnlen((const char *) p, size - (size_t) (p - data));
        path = malloc(len + 1);
        if (!path)
                return 0;
        memcpy(path, p, len);
        path[len] = '\0';

        match(method, path, &m);
        if (m.route)
                check_match(method, path, &m);
        else
                check_no_match(method, path, &m);
        check_target(path);
        check_dots(path);
        check_host(path);
        free(path);
        return 0;
}
