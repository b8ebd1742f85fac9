/* SPDX-License-Identifier: MIT */
/* The route table of cordond's API: the whole surface, as data; and the
 * checks of a request line and Host that need no server (http.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cordon/cleanup.h"
#include "cordon/http.h"

static const struct cd_route routes[] = {
        { "POST", "/v1/jobs", CD_ROLE_SUBMITTER, true, api_jobs_create, NULL },
        { "GET", "/v1/jobs", CD_ROLE_SUBMITTER, false, api_jobs_list,
          "state label limit before owner" },
        { "GET", "/v1/jobs/{id}", CD_ROLE_SUBMITTER, false, api_jobs_get, "wait" },
        { "DELETE", "/v1/jobs/{id}", CD_ROLE_SUBMITTER, false, api_jobs_delete, NULL },
        { "GET", "/v1/jobs/{id}/stdout", CD_ROLE_SUBMITTER, false, api_jobs_stdout, NULL },
        { "GET", "/v1/jobs/{id}/stderr", CD_ROLE_SUBMITTER, false, api_jobs_stderr, NULL },
        { "POST", "/v1/jobs/{id}/cancel", CD_ROLE_SUBMITTER, false, api_jobs_cancel, NULL },
        { "GET", "/v1/jobs/{id}/artifacts", CD_ROLE_SUBMITTER, false, api_artifacts_list, NULL },
        { "GET", "/v1/jobs/{id}/artifacts.tar", CD_ROLE_SUBMITTER, false, api_artifacts_tar, NULL },
        { "GET", "/v1/jobs/{id}/artifacts/{path}", CD_ROLE_SUBMITTER, false, api_artifacts_get,
          NULL },
        { "GET", "/v1/profiles", CD_ROLE_SUBMITTER, false, api_profiles_list, NULL },
        { "GET", "/v1/health", CD_ROLE_SUBMITTER, false, api_health, NULL },
        { "GET", "/metrics", CD_ROLE_ADMIN, false, api_metrics, NULL },
};

/* Does @path fit @pattern? Fills @id and @rest on a match. */
static bool fits(const char *pattern, const char *path, char id[CD_ROUTE_MAX_ID + 1],
                 const char **rest)
{
        const char *p = pattern, *s = path;

        while (*p) {
                if (!strncmp(p, "{path}", 6)) {
                        if (!*s)
                                return false;
                        *rest = s;
                        return true;
                }
                if (!strncmp(p, "{id}", 4)) {
                        size_t n = strcspn(s, "/");

                        if (n == 0)
                                return false;
                        if (n <= CD_ROUTE_MAX_ID) {
                                memcpy(id, s, n);
                                id[n] = '\0';
                        } else {
                                id[0] = '\0';
                        }
                        s += n;
                        p += 4;
                        continue;
                }
                if (*p != *s)
                        return false;
                p++;
                s++;
        }
        return *s == '\0';
}

const struct cd_route *cd_route_match(const char *method, const char *path,
                                      char id[CD_ROUTE_MAX_ID + 1], const char **rest,
                                      unsigned int *ret_status, char *allow, size_t allow_size)
{
        size_t used = 0;

        allow[0] = '\0';
        *rest = NULL;
        for (size_t i = 0; i < ELEMENTSOF(routes); i++) {
                if (!fits(routes[i].pattern, path, id, rest))
                        continue;
                if (!strcmp(routes[i].method, method))
                        return &routes[i];
                if (used < allow_size)
                        used += (size_t) snprintf(allow + used, allow_size - used, "%s%s",
                                                  used ? ", " : "", routes[i].method);
        }
        *ret_status = allow[0] ? 405 : 404;
        return NULL;
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

size_t cd_http_unescape(char *s)
{
        char *out = s;

        for (const char *in = s; *in;) {
                int hi = in[0] == '%' ? hex_value(in[1]) : -1;
                int lo = hi >= 0 ? hex_value(in[2]) : -1;

                if (lo < 0 || (hi == 0 && lo == 0)) {
                        *out++ = *in++;
                        continue;
                }
                *out++ = (char) (hi * 16 + lo);
                in += 3;
        }
        *out = '\0';
        return (size_t) (out - s);
}

/* RFC 3986 2.3 and 2.2: unreserved and sub-delims. */
static bool is_unreserved(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("-._~", c));
}

static bool is_sub_delim(char c)
{
        return c && strchr("!$&'()*+,;=", c);
}

const char *cd_http_target_check(const char *target, size_t *ret_prefix)
{
        static const char scheme[] = "http://";
        size_t n;

        for (const char *s = target; *s; s++) {
                unsigned char c = (unsigned char) *s;

                /* libmicrohttpd (0.9.75) keeps a space inside the target
                 * ("GET /v1/he alth HTTP/1.1"): RFC 9112 3.2 allows none. */
                if (c <= 0x20 || c == 0x7f)
                        return "a space or a control character in the request target";
                if (c == '#')
                        return "a fragment (#...) is not part of a request target";
        }
        if (target[0] == '/') {
                *ret_prefix = 0;
                return NULL;
        }
        if (strncasecmp(target, scheme, sizeof(scheme) - 1) != 0)
                return "the request target must be a path (\"/v1/jobs\") or an http:// URL";
        /* The authority ends at the path or the query (RFC 3986 3.2). */
        n = strcspn(target + sizeof(scheme) - 1, "/?");
        if (n == 0)
                return "an http:// URL without a host";
        for (size_t i = 0; i < n; i++) {
                char c = target[sizeof(scheme) - 1 + i];

                /* Userinfo is deprecated in http URLs (RFC 9110 4.2.4); an
                 * escape would be decoded with the path, and then could
                 * turn into a '/' that moves where the path starts. */
                if (c == '@' || c == '%')
                        return "userinfo or a percent-escape in the host of an http:// URL";
        }
        *ret_prefix = sizeof(scheme) - 1 + n;
        return NULL;
}

const char *cd_http_path_check(const char *path)
{
        for (const char *s = path;;) {
                size_t n = strcspn(s, "/");

                if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                        return "a \".\" or \"..\" segment in the path";
                if (!s[n])
                        return NULL;
                s += n + 1;
        }
}

bool cd_http_host_valid(const char *value)
{
        for (const char *s = value; *s; s++)
                if (!is_unreserved(*s) && !is_sub_delim(*s) && !strchr("%:[]", *s))
                        return false;
        return true;
}
