/* SPDX-License-Identifier: MIT */
/*
 * http/router.c: cd_route_match for every route of the table, 404 against
 * 405 with its Allow list, {id} segments at and past CD_ROUTE_MAX_ID, the
 * artifacts/{path} route with nested segments, and paths that are almost
 * a route (trailing or doubled slashes, artifacts.tar against artifacts/);
 * the request target's forms, dot segments and Host values.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cordon/http.h"

#define ID "0123456789abcdef0123456789abcdef"

struct match {
        const struct cd_route *route;
        char id[CD_ROUTE_MAX_ID + 1];
        const char *rest;
        unsigned int status;
        char allow[64];
};

/* Match with @id pre-filled with junk, so that a test sees what was written. */
static const struct cd_route *match(const char *method, const char *path, struct match *m)
{
        memset(m, 0, sizeof(*m));
        memset(m->id, 'Z', CD_ROUTE_MAX_ID);
        m->rest = "junk";
        m->status = 999;
        m->route = cd_route_match(method, path, m->id, &m->rest, &m->status, m->allow,
                                  sizeof(m->allow));
        return m->route;
}

struct want {
        const char *method;
        const char *pattern;
        cd_api_handler *handler;
        enum cd_role min_role;
        bool upload;
        const char *path;
        const char *id;   /* NULL: pattern without {id} */
        const char *rest; /* NULL: pattern without {path} */
};

/* The whole API surface (docs/api.md): one row per route of router.c. */
static const struct want routes[] = {
        { "POST", "/v1/jobs", api_jobs_create, CD_ROLE_SUBMITTER, true, "/v1/jobs", NULL, NULL },
        { "GET", "/v1/jobs", api_jobs_list, CD_ROLE_SUBMITTER, false, "/v1/jobs", NULL, NULL },
        { "GET", "/v1/jobs/{id}", api_jobs_get, CD_ROLE_SUBMITTER, false, "/v1/jobs/" ID, ID,
          NULL },
        { "DELETE", "/v1/jobs/{id}", api_jobs_delete, CD_ROLE_SUBMITTER, false, "/v1/jobs/" ID, ID,
          NULL },
        { "GET", "/v1/jobs/{id}/stdout", api_jobs_stdout, CD_ROLE_SUBMITTER, false,
          "/v1/jobs/" ID "/stdout", ID, NULL },
        { "GET", "/v1/jobs/{id}/stderr", api_jobs_stderr, CD_ROLE_SUBMITTER, false,
          "/v1/jobs/" ID "/stderr", ID, NULL },
        { "POST", "/v1/jobs/{id}/cancel", api_jobs_cancel, CD_ROLE_SUBMITTER, false,
          "/v1/jobs/" ID "/cancel", ID, NULL },
        { "GET", "/v1/jobs/{id}/artifacts", api_artifacts_list, CD_ROLE_SUBMITTER, false,
          "/v1/jobs/" ID "/artifacts", ID, NULL },
        { "GET", "/v1/jobs/{id}/artifacts.tar", api_artifacts_tar, CD_ROLE_SUBMITTER, false,
          "/v1/jobs/" ID "/artifacts.tar", ID, NULL },
        { "GET", "/v1/jobs/{id}/artifacts/{path}", api_artifacts_get, CD_ROLE_SUBMITTER, false,
          "/v1/jobs/" ID "/artifacts/report.pdf", ID, "report.pdf" },
        { "GET", "/v1/profiles", api_profiles_list, CD_ROLE_SUBMITTER, false, "/v1/profiles", NULL,
          NULL },
        { "GET", "/v1/health", api_health, CD_ROLE_SUBMITTER, false, "/v1/health", NULL, NULL },
        { "GET", "/metrics", api_metrics, CD_ROLE_ADMIN, false, "/metrics", NULL, NULL },
};

static void test_every_route(void **state)
{
        (void) state;
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
                const struct want *w = &routes[i];
                struct match m;

                if (!match(w->method, w->path, &m))
                        fail_msg("%s %s: no match (status %u)", w->method, w->path, m.status);
                assert_string_equal(m.route->method, w->method);
                assert_string_equal(m.route->pattern, w->pattern);
                if (m.route->handler != w->handler)
                        fail_msg("%s %s: wrong handler", w->method, w->path);
                assert_int_equal(m.route->min_role, w->min_role);
                assert_int_equal(m.route->upload, w->upload);
                if (w->id)
                        assert_string_equal(m.id, w->id);
                if (w->rest)
                        assert_string_equal(m.rest, w->rest);
                else
                        assert_null(m.rest);
        }
}

static void test_id_values(void **state)
{
        struct match m;

        (void) state;
        /* Any one segment is an id to the router: the handler checks it. */
        assert_non_null(match("GET", "/v1/jobs/x", &m));
        assert_string_equal(m.id, "x");
        assert_ptr_equal(m.route->handler, api_jobs_get);
        assert_non_null(match("GET", "/v1/jobs/..", &m));
        assert_string_equal(m.id, "..");
        assert_non_null(match("GET", "/v1/jobs/a%2Fb/stdout", &m));
        assert_string_equal(m.id, "a%2Fb");
        assert_ptr_equal(m.route->handler, api_jobs_stdout);
}

static void test_id_length(void **state)
{
        char seg[CD_ROUTE_MAX_ID + 2], path[128];
        struct match m;

        (void) state;
        /* Exactly CD_ROUTE_MAX_ID bytes: copied whole. */
        memset(seg, 'a', CD_ROUTE_MAX_ID);
        seg[CD_ROUTE_MAX_ID] = '\0';
        (void) snprintf(path, sizeof(path), "/v1/jobs/%s", seg);
        assert_non_null(match("GET", path, &m));
        assert_string_equal(m.id, seg);
        (void) snprintf(path, sizeof(path), "/v1/jobs/%s/artifacts/a/b", seg);
        assert_non_null(match("GET", path, &m));
        assert_string_equal(m.id, seg);
        assert_string_equal(m.rest, "a/b");

        /* One more: the route still matches, with an empty id (a 404 later). */
        memset(seg, 'b', CD_ROUTE_MAX_ID + 1);
        seg[CD_ROUTE_MAX_ID + 1] = '\0';
        (void) snprintf(path, sizeof(path), "/v1/jobs/%s", seg);
        assert_non_null(match("DELETE", path, &m));
        assert_ptr_equal(m.route->handler, api_jobs_delete);
        assert_string_equal(m.id, "");
        (void) snprintf(path, sizeof(path), "/v1/jobs/%s/cancel", seg);
        assert_non_null(match("POST", path, &m));
        assert_ptr_equal(m.route->handler, api_jobs_cancel);
        assert_string_equal(m.id, "");
        (void) snprintf(path, sizeof(path), "/v1/jobs/%s/artifacts/x", seg);
        assert_non_null(match("GET", path, &m));
        assert_string_equal(m.id, "");
        assert_string_equal(m.rest, "x");
}

static void test_artifact_paths(void **state)
{
        static const char *const rests[] = { "a",    "a/b",  "a/b/c.txt",          "dir/",
                                             "a//b", "../x", "a/../../etc/passwd", "artifacts/y" };
        char path[256];
        struct match m;

        (void) state;
        for (size_t i = 0; i < sizeof(rests) / sizeof(rests[0]); i++) {
                (void) snprintf(path, sizeof(path), "/v1/jobs/%s/artifacts/%s", ID, rests[i]);
                if (!match("GET", path, &m))
                        fail_msg("%s: no match", path);
                assert_ptr_equal(m.route->handler, api_artifacts_get);
                assert_string_equal(m.id, ID);
                /* rest points into the path: the handler checks each component. */
                assert_ptr_equal(m.rest, path + strlen(path) - strlen(rests[i]));
                assert_string_equal(m.rest, rests[i]);
        }
        /* artifacts/ with nothing after it is no route at all. */
        assert_null(match("GET", "/v1/jobs/" ID "/artifacts/", &m));
        assert_int_equal(m.status, 404);
}

static void test_near_misses(void **state)
{
        static const char *const paths[] = {
                "/v1/jobs/",
                "//v1/jobs",
                "/v1/jobs//",
                "/v1//jobs",
                "/v1/jobs//" ID,
                "/v1/jobs/" ID "/",
                "/v1/jobs/" ID "//stdout",
                "/v1/jobs/" ID "/stdout/",
                "/v1/jobs/" ID "/stdoutx",
                "/v1/jobs/" ID "/artifacts.tar/",
                "/v1/jobs/" ID "/artifacts.tarx",
                "/v1/jobs/" ID "/artifactsx",
                "/v1/jobs/" ID "/artifacts.zip",
                "/v1/job",
                "/v1/jobsx",
                "/v1/jobs/" ID "/cancel/x",
                "v1/jobs",
                "/V1/jobs",
                "/v1/health/",
                "/metrics/",
                "/metricsx",
                "/v2/jobs",
                "/",
                "",
        };
        struct match m;

        (void) state;
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                if (match("GET", paths[i], &m))
                        fail_msg("\"%s\" matched %s", paths[i], m.route->pattern);
                assert_int_equal(m.status, 404);
                assert_string_equal(m.allow, "");
                assert_null(m.rest);
                if (match("POST", paths[i], &m))
                        fail_msg("POST \"%s\" matched %s", paths[i], m.route->pattern);
                assert_int_equal(m.status, 404);
        }
}

/* artifacts.tar is its own route, not a file called "artifacts.tar". */
static void test_tar_against_file(void **state)
{
        struct match m;

        (void) state;
        assert_non_null(match("GET", "/v1/jobs/x/artifacts.tar", &m));
        assert_ptr_equal(m.route->handler, api_artifacts_tar);
        assert_string_equal(m.id, "x");
        assert_null(m.rest);
        assert_non_null(match("GET", "/v1/jobs/x/artifacts/a.tar", &m));
        assert_ptr_equal(m.route->handler, api_artifacts_get);
        assert_string_equal(m.id, "x");
        assert_string_equal(m.rest, "a.tar");
        assert_non_null(match("GET", "/v1/jobs/x/artifacts/artifacts.tar", &m));
        assert_ptr_equal(m.route->handler, api_artifacts_get);
        assert_string_equal(m.rest, "artifacts.tar");
        assert_non_null(match("GET", "/v1/jobs/x/artifacts", &m));
        assert_ptr_equal(m.route->handler, api_artifacts_list);
        assert_null(m.rest);
}

static void expect_405(const char *method, const char *path, const char *allow)
{
        struct match m;

        if (match(method, path, &m))
                fail_msg("%s %s matched %s", method, path, m.route->pattern);
        if (m.status != 405)
                fail_msg("%s %s: status %u, expected 405", method, path, m.status);
        assert_string_equal(m.allow, allow);
}

static void expect_404(const char *method, const char *path)
{
        struct match m;

        if (match(method, path, &m))
                fail_msg("%s %s matched %s", method, path, m.route->pattern);
        if (m.status != 404)
                fail_msg("%s %s: status %u, expected 404", method, path, m.status);
        assert_string_equal(m.allow, "");
}

static void test_405_allow(void **state)
{
        (void) state;
        expect_405("PUT", "/v1/jobs", "POST, GET");
        expect_405("DELETE", "/v1/jobs", "POST, GET");
        expect_405("POST", "/v1/jobs/" ID, "GET, DELETE");
        expect_405("PUT", "/v1/jobs/" ID, "GET, DELETE");
        expect_405("GET", "/v1/jobs/" ID "/cancel", "POST");
        expect_405("DELETE", "/v1/jobs/" ID "/stdout", "GET");
        expect_405("POST", "/v1/jobs/" ID "/stderr", "GET");
        expect_405("POST", "/v1/jobs/" ID "/artifacts", "GET");
        expect_405("HEAD", "/v1/jobs/" ID "/artifacts.tar", "GET");
        expect_405("DELETE", "/v1/jobs/" ID "/artifacts/a/b", "GET");
        expect_405("POST", "/v1/profiles", "GET");
        expect_405("PATCH", "/v1/health", "GET");
        expect_405("POST", "/metrics", "GET");
        /* Methods are case-sensitive (RFC 9110, 9.1). */
        expect_405("get", "/v1/health", "GET");
        expect_405("", "/v1/health", "GET");
}

static void test_404(void **state)
{
        (void) state;
        expect_404("GET", "/v1/nothing");
        expect_404("POST", "/v1/nothing");
        expect_404("GET", "/v1/jobs/" ID "/logs");
        expect_404("DELETE", "/v1/profiles/python");
        expect_404("GET", "/v1/jobs/");
        expect_404("GET", "//v1/jobs");
}

/* A small Allow buffer is cut, never overrun, and still NUL-terminated. */
static void test_allow_truncated(void **state)
{
        static const struct {
                const char *method, *path, *full;
        } cases[] = {
                { "PUT", "/v1/jobs/" ID, "GET, DELETE" },
                { "PUT", "/v1/jobs", "POST, GET" },
        };

        (void) state;
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
                for (size_t size = 2; size <= 16; size++) {
                        const struct cd_route *r;
                        unsigned int status = 0;
                        char id[CD_ROUTE_MAX_ID + 1];
                        const char *rest;
                        char allow[24];

                        memset(allow, 'X', sizeof(allow));
                        r = cd_route_match(cases[c].method, cases[c].path, id, &rest, &status,
                                           allow, size);
                        assert_null(r);
                        assert_int_equal(status, 405);
                        assert_true(strlen(allow) < size);
                        assert_true(strlen(allow) > 0);
                        assert_memory_equal(allow, cases[c].full, strlen(allow));
                        for (size_t i = size; i < sizeof(allow); i++)
                                assert_int_equal(allow[i], 'X');
                }
        }
}

/* Percent-decoding never makes a NUL; malformed escapes stay as sent. */
static void test_unescape(void **state)
{
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "/v1/jobs/abc", "/v1/jobs/abc" },
                { "/v1/jobs/a%62c", "/v1/jobs/abc" },
                { "/v1/jobs/abc%00/stdout", "/v1/jobs/abc%00/stdout" },
                { "%2e%2E%2F", "../" },
                { "%", "%" },
                { "%4", "%4" },
                { "%zz%41", "%zzA" },
                { "100%", "100%" },
                { "%%41", "%A" },
                { "%0a%0D", "\n\r" },
                { "", "" },
        };

        (void) state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char buf[64];

                snprintf(buf, sizeof(buf), "%s", cases[i].in);
                assert_int_equal(cd_http_unescape(buf), strlen(cases[i].out));
                assert_string_equal(buf, cases[i].out);
        }
}

/* The forms of a request target: origin and http:// absolute, nothing else. */
static void test_target_forms(void **state)
{
        static const struct {
                const char *target;
                size_t prefix;
        } good[] = {
                { "/", 0 },
                { "/v1/jobs?state=queued", 0 },
                { "/v1/jobs/%41", 0 },
                { "/caf\xc3\xa9", 0 },
                { "http://cordon/v1/health", 13 },
                { "HTTP://cordon/v1/health", 13 },
                { "http://c:80/v1/health", 11 },
                { "http://[::1]:80/v1/health", 15 },
                { "http://cordon", 13 },
                { "http://cordon?x=1", 13 },
        };
        static const char *const bad[] = {
                "",
                "*",
                "cordon:80",
                "v1/health",
                "https://cordon/v1/health",
                "http:/v1/health",
                "http:cordon/v1/health",
                "http://",
                "http:///v1/health",
                "http://?x",
                "http://u@cordon/v1/health",
                "http://c%2Fv1/health",
                "/v1/health#x",
                "/v1/health?a#",
                "#",
                "/v1/he alth",
                "/v1/he\talth",
                "/v1/he\x01"
                "alth",
                "/v1/he\x7f"
                "alth",
                "http://cordon/v1/he alth",
        };

        (void) state;
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                size_t prefix = 999;
                const char *why = cd_http_target_check(good[i].target, &prefix);

                if (why)
                        fail_msg("%s refused: %s", good[i].target, why);
                assert_int_equal(prefix, good[i].prefix);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                size_t prefix = 999;
                const char *why = cd_http_target_check(bad[i], &prefix);

                if (!why)
                        fail_msg("\"%s\" taken", bad[i]);
                assert_true(*why);
                assert_int_equal(prefix, 999); /* not written on failure */
        }
}

/* "." and ".." segments anywhere; dots inside a segment are no dot segment. */
static void test_dot_segments(void **state)
{
        static const char *const bad[] = {
                "/.",      "/..",      "/./v1",
                "/../v1",  "/v1/.",    "/v1/..",
                "/v1/./x", "/v1/../x", "/v1/jobs/" ID "/artifacts/a/../b",
                ".",       "..",       "../x",
                "/v1//..",
        };
        static const char *const good[] = {
                "/",           "",
                "/v1/health",  "/.x",
                "/..x",        "/x.",
                "/x..",        "/...",
                "/v1//health", "/v1/jobs/" ID "/artifacts/.hidden",
                "/a.b/c..d",
        };

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (!cd_http_path_check(bad[i]))
                        fail_msg("\"%s\" taken", bad[i]);
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                if (cd_http_path_check(good[i]))
                        fail_msg("\"%s\" refused", good[i]);
}

/* A Host value: a reg-name, an IP literal or an IPv4 address, a port. */
static void test_host_values(void **state)
{
        static const char *const good[] = {
                "",          "cordon",    "localhost:80", "[::1]", "[::1]:8080",
                "127.0.0.1", "a-b.c_d~e", "xn--caf-dma",  "%41",   "a!$&'()*+,;=b",
        };
        static const char *const bad[] = {
                "a/b", "u@a", "a b", "a\tb", "a\x01", "caf\xc3\xa9", "a?b", "a#b", "a\"b", "<a>",
        };

        (void) state;
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                if (!cd_http_host_valid(good[i]))
                        fail_msg("\"%s\" refused", good[i]);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (cd_http_host_valid(bad[i]))
                        fail_msg("\"%s\" taken", bad[i]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_route),     cmocka_unit_test(test_id_values),
                cmocka_unit_test(test_id_length),       cmocka_unit_test(test_artifact_paths),
                cmocka_unit_test(test_near_misses),     cmocka_unit_test(test_tar_against_file),
                cmocka_unit_test(test_405_allow),       cmocka_unit_test(test_404),
                cmocka_unit_test(test_allow_truncated), cmocka_unit_test(test_unescape),
                cmocka_unit_test(test_target_forms),    cmocka_unit_test(test_dot_segments),
                cmocka_unit_test(test_host_values),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
