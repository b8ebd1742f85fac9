/* SPDX-License-Identifier: MIT */
/* cordond.json (config.h, docs/operations.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/config.h"
#include "cordon/launcher.h"
#include "cordon/limits.h"
#include "cordon/profile.h"
#include "cordon/util.h"

#define MAX_CONFIG_BYTES     (1U << 20)
#define MAX_SLOTS            1024
#define DEFAULT_MIN_FREE     (512ULL << 20)
#define DEFAULT_CLIENT_QUOTA (8ULL << 30)

struct cctx {
        const char *source;
        struct cd_err *err;
};

static int fail(struct cctx *c, const char *field, const char *problem)
{
        return cd_err_set(c->err, CD_E_INVALID, "%s: %s: %s", c->source, field, problem);
}

/* "<source>: <field>: <problem>" with a formatted problem. The file is
 * the admin's: quoting a short piece of a value is fine. */
static int failf(struct cctx *c, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int failf(struct cctx *c, const char *field, const char *fmt, ...)
{
        char problem[256];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(problem, sizeof(problem), fmt, ap);
        va_end(ap);
        return fail(c, field, problem);
}

int cd_config_defaults(struct cd_config *c, struct cd_err *err)
{
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        *c = (struct cd_config){
                .socket_path = strdup(CD_DEFAULT_SOCKET),
                .socket_mode = 0660,
                .state_dir = strdup("/var/lib/cordon"),
                .profiles_dir = strdup(CD_DEFAULT_PROFILES_DIR),
                .images_dir = strdup(CD_DEFAULT_IMAGES_DIR),
                /* No cgroup parent unless configured: on v2 the cgroup
                 * layer then uses the cgroup systemd delegated to cordond
                 * (Delegate=yes), else "cordon", as `cordon run` does. */
                .slots = n > 0 ? (unsigned int) (n < MAX_SLOTS ? n : MAX_SLOTS) : 1,
                .max_queued = 256,
                .max_queued_per_client = 64,
                .rate_per_second = 50,
                .max_connections = 64,
                .max_connections_per_client = 16,
                .connection_timeout_s = 30,
                .request_timeout_s = 300,
                .max_url_bytes = 2048,
                .max_header_bytes = 16384,
                .max_body_bytes = 256ULL << 20,
                .max_inputs = 64,
                .max_input_bytes = 128ULL << 20,
                .max_json_bytes = 65536,
                .output_max_bytes = 16ULL << 20,
                .min_free_bytes = DEFAULT_MIN_FREE,
                .max_stored_per_client_bytes = DEFAULT_CLIENT_QUOTA,
                .retention_ms = 7ULL * 24 * 3600 * 1000,
                .shutdown_grace_ms = 30000,
        };
        c->admins.uids = calloc(1, sizeof(uid_t)); /* root */
        c->admins.n_uids = 1;
        if (!c->socket_path || !c->state_dir || !c->profiles_dir || !c->images_dir ||
            !c->admins.uids) {
                cd_config_clear(c);
                return cd_err_set(err, ENOMEM, "config: out of memory");
        }
        return 0;
}

static void members_clear(struct cd_role_members *m)
{
        free(m->uids);
        free(m->gids);
        *m = (struct cd_role_members){ 0 };
}

void cd_config_clear(struct cd_config *c)
{
        free(c->socket_path);
        free(c->state_dir);
        free(c->profiles_dir);
        free(c->images_dir);
        free(c->cgroup_parent);
        members_clear(&c->admins);
        members_clear(&c->submitters);
        for (size_t i = 0; i < c->n_profile_access; i++) {
                free(c->profile_access[i].profile);
                members_clear(&c->profile_access[i].who);
        }
        free(c->profile_access);
        *c = (struct cd_config){ 0 };
}

static int set_path(struct cctx *c, json_t *v, const char *field, char **dst)
{
        char *s;

        if (!json_is_string(v))
                return fail(c, field, "expected a string");
        if (!cd_path_is_clean_absolute(json_string_value(v)))
                return fail(c, field, "expected a clean absolute path");
        s = strdup(json_string_value(v));
        if (!s)
                return cd_err_set(c->err, ENOMEM, "config: out of memory");
        free(*dst);
        *dst = s;
        return 0;
}

/* "out of range (1s to 24h)", in the key's unit. */
static int out_of_range(struct cctx *c, const struct cd_limit_def *d, bool number)
{
        char lo[32], hi[32];

        cd_limit_format(d, d->min, lo, sizeof(lo));
        cd_limit_format(d, d->max, hi, sizeof(hi));
        return failf(c, d->name, "out of range (%s to %s%s)", lo, hi,
                     number && d->kind == CD_LIMIT_DURATION ? "; a number is milliseconds" : "");
}

/*
 * A number in the base unit (a count, bytes, milliseconds), or a string
 * parsed as @kind says. A duration string needs its unit: "30" would be
 * seconds while 30 is milliseconds, so neither reading is safe to guess
 * (profiles refuse it the same way).
 */
static int get_u64(struct cctx *c, json_t *v, const char *field, enum cd_limit_kind kind,
                   uint64_t min, uint64_t max, uint64_t *ret)
{
        const struct cd_limit_def d = { field, kind, 0, min, max };
        const char *s = json_string_value(v);
        uint64_t x;

        if (json_is_integer(v) && json_integer_value(v) >= 0)
                x = (uint64_t) json_integer_value(v);
        else if (s && kind == CD_LIMIT_DURATION && s[0] && strspn(s, "0123456789") == strlen(s))
                return failf(c, field,
                             "\"%.20s\" has no unit: write \"%.20ss\" (or \"%.20sms\"), or a "
                             "number of milliseconds",
                             s, s, s);
        else if (!s || cd_limit_parse(&d, s, &x) < 0)
                return fail(c, field, "expected a non-negative number or a value with a unit");
        if (x < min || x > max)
                return out_of_range(c, &d, !s);
        *ret = x;
        return 0;
}

static int get_uint(struct cctx *c, json_t *v, const char *field, unsigned int min,
                    unsigned int max, unsigned int *ret)
{
        uint64_t x;
        int r = get_u64(c, v, field, CD_LIMIT_COUNT, min, max, &x);

        if (r == 0)
                *ret = (unsigned int) x;
        return r;
}

static int get_size(struct cctx *c, json_t *v, const char *field, uint64_t min, uint64_t max,
                    uint64_t *ret)
{
        return get_u64(c, v, field, CD_LIMIT_SIZE, min, max, ret);
}

static int get_zsize(struct cctx *c, json_t *v, const char *field, uint64_t min, uint64_t max,
                     size_t *ret)
{
        uint64_t x;
        int r = get_size(c, v, field, min, max, &x);

        if (r == 0)
                *ret = (size_t) x;
        return r;
}

/* An explicit size, "0" included, replaces a proportional default. */
static int set_explicit(struct cctx *c, json_t *v, const char *field, uint64_t *ret, bool *set)
{
        int r = get_size(c, v, field, 0, CD_MAX_FS_BYTES, ret);

        if (r == 0)
                *set = true;
        return r;
}

/* The configured size, or by default the smaller of it and @share. */
static uint64_t sized(uint64_t bytes, bool set, uint64_t share)
{
        return set || bytes < share ? bytes : share;
}

uint64_t cd_config_min_free(const struct cd_config *c, uint64_t fs_bytes)
{
        return sized(c->min_free_bytes, c->min_free_set, fs_bytes / 10);
}

uint64_t cd_config_client_quota(const struct cd_config *c, uint64_t fs_bytes)
{
        return sized(c->max_stored_per_client_bytes, c->max_stored_set, fs_bytes / 4);
}

static int get_ms(struct cctx *c, json_t *v, const char *field, uint64_t min, uint64_t max,
                  uint64_t *ret)
{
        return get_u64(c, v, field, CD_LIMIT_DURATION, min, max, ret);
}

static int get_secs(struct cctx *c, json_t *v, const char *field, unsigned int *ret)
{
        uint64_t ms;
        int r = get_ms(c, v, field, 1000, 24ULL * 3600 * 1000, &ms);

        if (r == 0)
                *ret = (unsigned int) (ms / 1000);
        return r;
}

static int get_mode(struct cctx *c, json_t *v, const char *field, mode_t *ret)
{
        const char *s = json_string_value(v);
        uint64_t m = 0;

        if (!s || strlen(s) < 3 || strlen(s) > 4 || strspn(s, "01234567") != strlen(s))
                return fail(c, field, "expected an octal mode as a string, e.g. \"0660\"");
        for (; *s; s++)
                m = m * 8 + (uint64_t) (*s - '0');
        if (m & ~0660ULL)
                return fail(c, field, "only owner and group may have access (at most 0660)");
        *ret = (mode_t) m;
        return 0;
}

static int group_id(struct cctx *c, json_t *v, const char *field, gid_t *ret)
{
        struct group gr, *res = NULL;
        char buf[4096];

        if (json_is_integer(v) && json_integer_value(v) >= 0 &&
            json_integer_value(v) < (json_int_t) UINT32_MAX) {
                *ret = (gid_t) json_integer_value(v);
                return 0;
        }
        if (!json_is_string(v))
                return fail(c, field, "expected a group name or number");
        if (getgrnam_r(json_string_value(v), &gr, buf, sizeof(buf), &res) != 0 || !res)
                return fail(c, field, "no such group");
        *ret = res->gr_gid;
        return 0;
}

static int get_members(struct cctx *c, json_t *v, const char *field, struct cd_role_members *m)
{
        json_t *uids = NULL, *groups = NULL, *x;
        json_error_t je;
        size_t i;

        if (json_unpack_ex(v, &je, JSON_STRICT, "{s?o, s?o}", "uids", &uids, "groups", &groups) < 0)
                return fail(c, field, "expected {\"uids\": [...], \"groups\": [...]} only");
        members_clear(m);
        if ((uids && !json_is_array(uids)) || (groups && !json_is_array(groups)))
                return fail(c, field, "uids and groups must be arrays");
        m->uids = calloc(json_array_size(uids) + 1, sizeof(uid_t));
        m->gids = calloc(json_array_size(groups) + 1, sizeof(gid_t));
        if (!m->uids || !m->gids)
                return cd_err_set(c->err, ENOMEM, "config: out of memory");
        json_array_foreach(uids, i, x)
        {
                if (!json_is_integer(x) || json_integer_value(x) < 0 ||
                    json_integer_value(x) >= (json_int_t) UINT32_MAX)
                        return fail(c, field, "uids: expected numbers");
                m->uids[m->n_uids++] = (uid_t) json_integer_value(x);
        }
        json_array_foreach(groups, i, x)
        {
                int r = group_id(c, x, field, &m->gids[m->n_gids]);

                if (r < 0)
                        return r;
                m->n_gids++;
        }
        return 0;
}

/* {"<profile>": {"uids": [...], "groups": [...]}, ...}: who may submit jobs
 * of each listed profile. A name need not be a loaded profile (profiles
 * are reloaded apart from the configuration). */
static int get_profile_access(struct cctx *c, json_t *v, const char *field, struct cd_config *cfg)
{
        const char *name;
        json_t *who;
        int r;

        if (!json_is_object(v))
                return fail(c, field,
                            "expected {\"<profile>\": {\"uids\": [...], \"groups\": [...]}}");
        cfg->profile_access = calloc(json_object_size(v) + 1, sizeof(*cfg->profile_access));
        if (!cfg->profile_access)
                return cd_err_set(c->err, ENOMEM, "config: out of memory");
        json_object_foreach(v, name, who)
        {
                struct cd_profile_access *a = &cfg->profile_access[cfg->n_profile_access];
                char where[64];

                /* A misspelt name would leave the real profile open to all. */
                if (!cd_profile_name_is_valid(name))
                        return cd_err_set(c->err, CD_E_INVALID,
                                          "%s: %s: \"%.64s\" is not a profile name", c->source,
                                          field, name);
                a->profile = strdup(name);
                if (!a->profile)
                        return cd_err_set(c->err, ENOMEM, "config: out of memory");
                cfg->n_profile_access++;
                (void) snprintf(where, sizeof(where), "%s.%s", field, name);
                r = get_members(c, who, where, &a->who);
                if (r < 0)
                        return r;
        }
        return 0;
}

bool cd_role_members_has(const struct cd_role_members *m, uid_t uid, gid_t gid, const gid_t *groups,
                         size_t n_groups)
{
        for (size_t i = 0; i < m->n_uids; i++)
                if (m->uids[i] == uid)
                        return true;
        for (size_t i = 0; i < m->n_gids; i++) {
                if (m->gids[i] == gid)
                        return true;
                for (size_t k = 0; k < n_groups; k++)
                        if (m->gids[i] == groups[k])
                                return true;
        }
        return false;
}

/* "a/b": components of 1 to 255 bytes, none "." or "..", no control
 * characters. cgroup.c would refuse the rest only at start, without naming
 * the key, and the kernel refuses a newline in a cgroup name. */
static bool cgroup_path_ok(const char *p)
{
        if (p[0] == '/')
                return false;
        for (;;) {
                size_t n = strcspn(p, "/");

                if (n == 0 || n > 255 || (n == 1 && p[0] == '.') ||
                    (n == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char) p[i] < 0x20 || p[i] == 0x7f)
                                return false;
                if (p[n] == '\0')
                        return true;
                p += n + 1;
        }
}

static int parse_cgroup(struct cctx *c, json_t *v, struct cd_config *cfg)
{
        const char *mode = NULL, *parent = NULL;
        json_error_t je;

        if (json_unpack_ex(v, &je, JSON_STRICT, "{s?s, s?s}", "mode", &mode, "parent", &parent) < 0)
                return fail(c, "cgroup",
                            "expected {\"mode\": \"auto|v1|v2\", \"parent\": \"...\"}");
        if (mode && cd_cgroup_mode_from_string(mode, &cfg->cgroup.mode) < 0)
                return fail(c, "cgroup.mode", "expected auto, v1 or v2");
        if (parent) {
                char *p = strdup(parent);

                if (!p)
                        return cd_err_set(c->err, ENOMEM, "config: out of memory");
                if (!cgroup_path_ok(p)) {
                        free(p);
                        return fail(c, "cgroup.parent",
                                    "expected a relative cgroup path (no empty, \".\" or \"..\" "
                                    "component, no control character)");
                }
                free(cfg->cgroup_parent);
                cfg->cgroup_parent = p;
                cfg->cgroup.parent = p;
        }
        return 0;
}

/* One top-level key. Returns 0, -errno, or 1 for an unknown key. */
static int parse_key(struct cctx *c, const char *k, json_t *v, struct cd_config *cfg)
{
        uint64_t x;
        int r;

        if (!strcmp(k, "socket"))
                return set_path(c, v, k, &cfg->socket_path);
        if (!strcmp(k, "socket_mode"))
                return get_mode(c, v, k, &cfg->socket_mode);
        if (!strcmp(k, "socket_group")) {
                cfg->socket_group_set = true;
                return group_id(c, v, k, &cfg->socket_group);
        }
        if (!strcmp(k, "state_dir"))
                return set_path(c, v, k, &cfg->state_dir);
        if (!strcmp(k, "profiles_dir"))
                return set_path(c, v, k, &cfg->profiles_dir);
        if (!strcmp(k, "images_dir"))
                return set_path(c, v, k, &cfg->images_dir);
        if (!strcmp(k, "cgroup"))
                return parse_cgroup(c, v, cfg);
        if (!strcmp(k, "uid_base")) {
                r = get_u64(c, v, k, CD_LIMIT_COUNT, 65536, UINT32_MAX - 65536, &x);
                if (r == 0)
                        cfg->uid_base = (uint32_t) x;
                return r;
        }
        if (!strcmp(k, "uid_count")) {
                r = get_u64(c, v, k, CD_LIMIT_COUNT, 1, 65536, &x);
                if (r == 0)
                        cfg->uid_count = (uint32_t) x;
                return r;
        }
        if (!strcmp(k, "slots"))
                return get_uint(c, v, k, 1, MAX_SLOTS, &cfg->slots);
        if (!strcmp(k, "max_queued"))
                return get_uint(c, v, k, 1, 100000, &cfg->max_queued);
        if (!strcmp(k, "max_queued_per_client"))
                return get_uint(c, v, k, 1, 100000, &cfg->max_queued_per_client);
        if (!strcmp(k, "rate_per_second"))
                return get_uint(c, v, k, 1, 100000, &cfg->rate_per_second);
        if (!strcmp(k, "max_connections"))
                return get_uint(c, v, k, 1, 4096, &cfg->max_connections);
        if (!strcmp(k, "max_connections_per_client"))
                return get_uint(c, v, k, 1, 4096, &cfg->max_connections_per_client);
        if (!strcmp(k, "connection_timeout"))
                return get_secs(c, v, k, &cfg->connection_timeout_s);
        if (!strcmp(k, "request_timeout"))
                return get_secs(c, v, k, &cfg->request_timeout_s);
        if (!strcmp(k, "max_url"))
                return get_zsize(c, v, k, 256, 65536, &cfg->max_url_bytes);
        if (!strcmp(k, "max_header"))
                return get_zsize(c, v, k, 4096, 1 << 20, &cfg->max_header_bytes);
        if (!strcmp(k, "max_body"))
                return get_size(c, v, k, 4096, CD_MAX_FS_BYTES, &cfg->max_body_bytes);
        if (!strcmp(k, "max_inputs"))
                return get_uint(c, v, k, 0, 10000, &cfg->max_inputs);
        if (!strcmp(k, "max_input"))
                return get_size(c, v, k, 1, CD_MAX_FS_BYTES, &cfg->max_input_bytes);
        if (!strcmp(k, "max_json"))
                return get_zsize(c, v, k, 256, 1 << 20, &cfg->max_json_bytes);
        if (!strcmp(k, "min_free"))
                return set_explicit(c, v, k, &cfg->min_free_bytes, &cfg->min_free_set);
        if (!strcmp(k, "max_stored_per_client"))
                return set_explicit(c, v, k, &cfg->max_stored_per_client_bytes,
                                    &cfg->max_stored_set);
        if (!strcmp(k, "output_max"))
                return get_size(c, v, k, 1, CD_MAX_FS_BYTES, &cfg->output_max_bytes);
        if (!strcmp(k, "retention"))
                return get_ms(c, v, k, 1000, 3650ULL * 24 * 3600 * 1000, &cfg->retention_ms);
        if (!strcmp(k, "shutdown_grace"))
                return get_ms(c, v, k, 0, 24ULL * 3600 * 1000, &cfg->shutdown_grace_ms);
        if (!strcmp(k, "admins"))
                return get_members(c, v, k, &cfg->admins);
        if (!strcmp(k, "submitters"))
                return get_members(c, v, k, &cfg->submitters);
        if (!strcmp(k, "profile_access"))
                return get_profile_access(c, v, k, cfg);
        return 1;
}

/*
 * What no single key can check. cd_launcher_new() refuses a uid range that
 * reaches (uid_t) -2; say so here, naming the keys. Each running job holds
 * one uid of the range (launcher/slot.c), so more slots than uids fail
 * jobs under load: refused when slots is set, the default (one per CPU) is
 * cut to fit.
 */
static int check_together(struct cctx *c, json_t *root, struct cd_config *cfg)
{
        uint64_t base = cfg->uid_base ? cfg->uid_base : CD_DEFAULT_UID_BASE;
        uint64_t count = cfg->uid_count ? cfg->uid_count : CD_DEFAULT_UID_COUNT;

        /* base + count is one past the last uid: the sum may be 4294967294. */
        if (base + count > 0xfffffffeULL)
                return failf(c, "uid_base",
                             "the job uids (the last, uid_base + uid_count - 1, is %" PRIu64
                             ") must stay below 4294967294",
                             base + count - 1);
        if (cfg->slots <= count)
                return 0;
        if (json_object_get(root, "slots"))
                return failf(c, "slots",
                             "more than the %" PRIu64 " job uids (uid_count): each running job "
                             "needs one",
                             count);
        cfg->slots = (unsigned int) count;
        return 0;
}

int cd_config_parse(const char *text, size_t len, const char *source, struct cd_config *c,
                    struct cd_err *err)
{
        struct cctx ctx = { .source = source, .err = err };
        json_t *root, *v;
        json_error_t je;
        const char *k;
        int r;

        /* config.h promises a cleared @c on every failure, a file that is
         * not JSON included: callers may cd_config_clear() it. */
        *c = (struct cd_config){ 0 };
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!root)
                return cd_err_set(err, CD_E_INVALID, "%s: line %d: %s", source, je.line, je.text);
        r = cd_config_defaults(c, err);
        if (r == 0 && !json_is_object(root))
                r = fail(&ctx, "(top)", "expected an object");
        json_object_foreach(root, k, v)
        {
                if (r < 0)
                        break;
                r = parse_key(&ctx, k, v, c);
                if (r == 1)
                        r = cd_err_set(err, CD_E_INVALID, "%s: unknown key \"%.64s\"", source, k);
        }
        if (r == 0)
                r = check_together(&ctx, root, c);
        json_decref(root);
        if (r < 0)
                cd_config_clear(c);
        return r;
}

/* cordond.json decides the profiles directory, the socket's group and who
 * may do what: it and the directories above it are checked as the
 * profiles are (cd_open_trusted_dir). */
int cd_config_load(const char *path, struct cd_config *c, struct cd_err *err)
{
        const char *p = path ? path : CD_DEFAULT_CONFIG, *name = NULL;
        cleanup_close int dirfd = -1;
        cleanup_free char *buf = NULL;
        size_t len = 0;
        int r;

        *c = (struct cd_config){ 0 }; /* cleared on failure, as config.h says */
        dirfd = cd_open_trusted_parent(p, &name, err);
        r = dirfd < 0 ? dirfd
                      : cd_read_trusted_at(dirfd, name, p, MAX_CONFIG_BYTES, &buf, &len, err);
        if (r == -ENOENT && !path)
                return cd_config_defaults(c, err);
        if (r < 0)
                return cd_err_prefix(err, "config");
        return cd_config_parse(buf, len, p, c, err);
}
