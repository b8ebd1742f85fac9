/* SPDX-License-Identifier: MIT */
/* The "limits" and "artifacts" sections of a profile. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cordon/artifacts.h"
#include "cordon/cleanup.h"
#include "cordon/limits.h"
#include "cordon/util.h"
#include "profile-internal.h"

/* A JSON real for cpus: at most three decimals. Past 1e6 "%.3f" would
 * need more than the buffer and no host has that many CPUs anyway. */
static int cpus_real(const struct cd_limit_def *d, double x, uint64_t *ret)
{
        char buf[64];
        double millis, off;

        if (x >= 1e6)
                return -ERANGE;
        /* Whole thousandths, up to the double's error (no libm: the
         * launcher's start pays for every library it maps). */
        millis = x * 1000;
        off = millis - (double) (uint64_t) (millis + 0.5);
        if (off > 1e-6 || off < -1e-6)
                return -EINVAL;
        (void) snprintf(buf, sizeof(buf), "%.3f", x);
        return cd_limit_parse(d, buf, ret);
}

/* A JSON number or string, read in @d's unit (see docs/profiles.md). */
static int limit_value(struct pctx *c, const struct cd_limit_def *d, json_t *v, const char *path,
                       uint64_t *ret)
{
        char buf[64];
        int r;

        if (json_is_string(v)) {
                const char *t = json_string_value(v);

                /* "300" would be seconds here but 300 is milliseconds: say which. */
                if (d->kind == CD_LIMIT_DURATION && t[0] && strspn(t, "0123456789") == strlen(t))
                        return c->quiet ? pctx_fail(c, path,
                                                    "needs a unit (\"30s\", \"500ms\"), or "
                                                    "send a JSON number of milliseconds")
                                        : pctx_fail(c, path,
                                                    "needs a unit (\"%.20sms\" or \"%.20ss\")", t,
                                                    t);
                r = cd_limit_parse(d, t, ret);
        } else if (json_is_integer(v) && json_integer_value(v) >= 0) {
                (void) snprintf(buf, sizeof(buf), "%lld", (long long) json_integer_value(v));
                r = d->kind == CD_LIMIT_DURATION ? cd_parse_u64(buf, ret) /* milliseconds */
                                                 : cd_limit_parse(d, buf, ret);
        } else if (json_is_real(v) && d->kind == CD_LIMIT_CPUS && !signbit(json_real_value(v))) {
                r = cpus_real(d, json_real_value(v), ret);
        } else if (json_is_number(v) && signbit(json_number_value(v))) {
                return pctx_fail(c, path, "must not be negative");
        } else if (json_is_real(v)) {
                return pctx_fail(c, path, "must be a whole number (fractions only for cpus)");
        } else {
                return pctx_fail(c, path, "must be a number or a string such as \"1G\", \"300s\"");
        }
        if (r == -ERANGE)
                return pctx_fail(c, path, "out of range");
        if (r < 0)
                return pctx_fail(c, path, "not a valid value");
        return 0;
}

static int parse_limit_set(struct pctx *c, json_t *obj, const char *which, struct cd_limits *l,
                           uint32_t *ret_set)
{
        const char *key;
        json_t *v;

        if (!json_is_object(obj))
                return pctx_fail(c, which, "must be an object");
        json_object_foreach(obj, key, v)
        {
                const struct cd_limit_def *d = cd_limit_find(key);
                char path[96];
                int r;

                (void) snprintf(path, sizeof(path), "%s.%.40s", which, key);
                if ((!d || strchr(key, '-')) && c->quiet)
                        return pctx_fail(c, which,
                                         "unknown limit (the keys are those of profiles, "
                                         "with '_': memory, cpus, cpu_time, ...)");
                if (!d || strchr(key, '-'))
                        return pctx_fail(c, which, "unknown limit \"%.64s\"", key);
                r = limit_value(c, d, v, path, cd_limit_field(l, d));
                if (r < 0)
                        return r;
                if (cd_limit_check(d, path, cd_limit_get(l, d), c->err) < 0)
                        return cd_err_prefix(c->err, "%s", c->source);
                *ret_set |= 1u << (d - cd_limit_defs);
        }
        return 0;
}

/* A limit the host cannot give: more memory or CPUs than it has. */
static int check_host(struct pctx *c, const struct cd_limits *l, const char *which)
{
        const struct cd_profile_host *h = c->host;
        char path[64], a[32], b[32];

        if (h->memory_bytes && l->memory_max_bytes > h->memory_bytes) {
                const struct cd_limit_def *d = cd_limit_find("memory");

                (void) snprintf(path, sizeof(path), "%s.memory", which);
                cd_limit_format(d, l->memory_max_bytes, a, sizeof(a));
                cd_limit_format(d, h->memory_bytes, b, sizeof(b));
                return pctx_fail(c, path, "%s exceeds this host's memory (%s)", a, b);
        }
        if (h->cpu_millis && l->cpu_millis > h->cpu_millis) {
                const struct cd_limit_def *d = cd_limit_find("cpus");

                (void) snprintf(path, sizeof(path), "%s.cpus", which);
                cd_limit_format(d, l->cpu_millis, a, sizeof(a));
                cd_limit_format(d, h->cpu_millis, b, sizeof(b));
                return pctx_fail(c, path, "%s exceeds this host's %s CPUs", a, b);
        }
        return 0;
}

int cd_profile_parse_limits(struct pctx *c, json_t *limits, struct cd_profile *p)
{
        static const char *const known[] = { "default", "max", NULL };
        uint32_t set_default = 0, set_max = 0;
        int r;

        cd_limits_default(&p->defaults);
        if (limits) {
                if (!json_is_object(limits))
                        return pctx_fail(c, "limits", "must be an object");
                r = pctx_check_keys(c, limits, "limits", known);
                if (r < 0)
                        return r;
                if (json_object_get(limits, "default")) {
                        r = parse_limit_set(c, json_object_get(limits, "default"), "limits.default",
                                            &p->defaults, &set_default);
                        if (r < 0)
                                return r;
                }
        }
        /* An unlisted maximum is the default: requests may only tighten it. */
        p->max = p->defaults;
        if (limits && json_object_get(limits, "max")) {
                r = parse_limit_set(c, json_object_get(limits, "max"), "limits.max", &p->max,
                                    &set_max);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < cd_n_limit_defs; i++) {
                const struct cd_limit_def *d = &cd_limit_defs[i];
                char a[32], b[32];

                if (!cd_limit_above(d, cd_limit_get(&p->defaults, d), cd_limit_get(&p->max, d)))
                        continue;
                cd_limit_format(d, cd_limit_get(&p->defaults, d), a, sizeof(a));
                cd_limit_format(d, cd_limit_get(&p->max, d), b, sizeof(b));
                return pctx_fail(c, "limits", "default %s %s is above its maximum %s", d->name, a,
                                 b);
        }
        r = check_host(c, &p->defaults, "limits.default");
        return r < 0 ? r : check_host(c, &p->max, "limits.max");
}

/* "type/subtype", lower case, as libmagic reports it. */
static bool valid_mime(const char *t)
{
        const char *slash = strchr(t, '/');
        size_t n = strlen(t);

        return slash && slash != t && slash[1] && !strchr(slash + 1, '/') && n < 128 &&
               strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789/+-.") == n;
}

static int artifact_cap(struct pctx *c, json_t *obj, const char *key, enum cd_limit_kind kind,
                        uint64_t min, uint64_t max, uint64_t *field)
{
        const struct cd_limit_def d = { key, kind, 0, min, max };
        json_t *v = json_object_get(obj, key);
        char path[64];
        int r;

        if (!v)
                return 0;
        (void) snprintf(path, sizeof(path), "artifacts.%s", key);
        r = limit_value(c, &d, v, path, field);
        if (r == 0 && cd_limit_check(&d, path, *field, c->err) < 0)
                return cd_err_prefix(c->err, "%s", c->source);
        return r;
}

int cd_profile_parse_artifacts(struct pctx *c, json_t *a, struct cd_profile *p)
{
        static const char *const known[] = { "types",          "max_files", "max_total_bytes",
                                             "max_file_bytes", "max_depth", "max_name_bytes",
                                             "max_time",       NULL };
        struct cd_artifact_rules *rules = &p->artifacts;
        int r;

        cd_artifact_rules_default(rules);
        if (!a)
                return 0;
        if (!json_is_object(a))
                return pctx_fail(c, "artifacts", "must be an object");
        r = pctx_check_keys(c, a, "artifacts", known);
        if (r == 0)
                r = pctx_strv(c, a, "types", "artifacts.types", &rules->types);
        for (size_t i = 0; r == 0 && rules->types && rules->types[i]; i++)
                if (!valid_mime(rules->types[i]))
                        r = pctx_fail(c, "artifacts.types", "\"%.64s\" is not a MIME type",
                                      rules->types[i]);
        if (r == 0)
                r = artifact_cap(c, a, "max_files", CD_LIMIT_COUNT, 1, CD_ARTIFACTS_MAX_FILES,
                                 &rules->max_files);
        if (r == 0)
                r = artifact_cap(c, a, "max_total_bytes", CD_LIMIT_SIZE, 1, CD_MAX_FS_BYTES,
                                 &rules->max_total_bytes);
        if (r == 0)
                r = artifact_cap(c, a, "max_file_bytes", CD_LIMIT_SIZE, 1, CD_MAX_FS_BYTES,
                                 &rules->max_file_bytes);
        if (r == 0)
                r = artifact_cap(c, a, "max_depth", CD_LIMIT_COUNT, 1, CD_ARTIFACT_MAX_DEPTH,
                                 &rules->max_depth);
        if (r == 0)
                r = artifact_cap(c, a, "max_name_bytes", CD_LIMIT_COUNT, 1, 255,
                                 &rules->max_name_bytes);
        if (r == 0)
                r = artifact_cap(c, a, "max_time", CD_LIMIT_DURATION, CD_ARTIFACT_MIN_TIME_MS,
                                 CD_ARTIFACT_MAX_TIME_MS, &rules->max_time_ms);
        return r;
}

int cd_request_parse_limits(json_t *obj, const char *source, struct cd_limits *l, uint32_t *ret_set,
                            struct cd_err *err)
{
        struct pctx c = { .source = source, .err = err, .quiet = true };

        *ret_set = 0;
        return parse_limit_set(&c, obj, "limits", l, ret_set);
}
