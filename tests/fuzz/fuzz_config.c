/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: cordond's configuration file (cd_config_parse).
 *
 * Input: the file's bytes, all of them (NULs included), as cd_config_load
 * would pass them.
 *
 * The file is the admin's, but a typo must be refused with a message, never
 * crash cordond or start it with a value outside what docs/operations.md
 * promises. Besides the sanitizers, it abort()s when:
 * - a refusal is not -CD_E_INVALID (or -ENOMEM), its message does not start
 *   with the source and name the key (or a line, or "(top)"), or the config
 *   is not left cleared;
 * - a config taken has a value outside its documented bounds: clean absolute
 *   paths, a socket mode within 0660, slots within 1..1024 and no more than
 *   the job uids, a uid range below 4294967294, timeouts of 1 s to 24 h,
 *   sizes and counts within their keys' ranges, a valid cgroup parent that
 *   cgroup.parent points at, valid and distinct profile_access names;
 * - the config written back as JSON, with every value in another spelling
 *   (sizes and durations as cd_limit_format strings, keys in another
 *   order), is not taken or does not load to the same config;
 * - the disk reserve and the client quota exceed what was configured or,
 *   by default, their share of the file system.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cordon/config.h"
#include "cordon/launcher.h"
#include "cordon/limits.h"
#include "cordon/plan.h"
#include "cordon/profile.h"

#define SOURCE "cordond.json"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TARGET "fuzz_config"
#include "fuzz-check.h"

/* The keys of docs/operations.md, in the order the round trip writes them
 * (reversed from the table's, so that a different order is tried). */
static const char *const keys[] = {
        "profile_access",
        "submitters",
        "admins",
        "shutdown_grace",
        "retention",
        "output_max",
        "max_stored_per_client",
        "min_free",
        "max_json",
        "max_input",
        "max_inputs",
        "max_body",
        "max_header",
        "max_url",
        "request_timeout",
        "connection_timeout",
        "max_connections_per_client",
        "max_connections",
        "rate_per_second",
        "max_queued_per_client",
        "max_queued",
        "slots",
        "uid_count",
        "uid_base",
        "cgroup",
        "images_dir",
        "profiles_dir",
        "state_dir",
        "socket_group",
        "socket_mode",
        "socket",
};

/* "<source>: <field>...": the field a known key (or "cgroup.mode",
 * "profile_access.<name>"), or "line N", "unknown key", "(top)". */
static void check_refusal(int r, const struct cd_err *err, const struct cd_config *c)
{
        const char *m = err->msg;
        bool named = false;

        CHECK(r == -CD_E_INVALID || r == -ENOMEM, "refused with %d", r);
        CHECK(err->code == -r, "err.code %d for %d", err->code, r);
        CHECK(c->socket_path == NULL && c->state_dir == NULL && c->profiles_dir == NULL &&
                      c->images_dir == NULL && c->cgroup_parent == NULL &&
                      c->cgroup.parent == NULL && c->admins.uids == NULL && c->admins.n_uids == 0 &&
                      c->submitters.uids == NULL && c->profile_access == NULL &&
                      c->n_profile_access == 0,
              "config not cleared after a refusal");
        if (r == -ENOMEM)
                return;
        CHECK(strncmp(m, SOURCE ": ", strlen(SOURCE) + 2) == 0, "message without source: %s", m);
        m += strlen(SOURCE) + 2;
        if (!strncmp(m, "unknown key \"", 13))
                return;
        if (!strncmp(m, "line ", 5) || !strncmp(m, "(top): ", 7))
                named = true;
        for (size_t i = 0; !named && i < sizeof(keys) / sizeof(keys[0]); i++) {
                size_t n = strlen(keys[i]);

                named = strncmp(m, keys[i], n) == 0 && (m[n] == ':' || m[n] == '.');
        }
        CHECK(named, "message names no key: %s", err->msg);
        CHECK(strlen(m) > 0 && strstr(m, ": ") && strstr(m, ": ")[2] != '\0',
              "message without a problem: %s", err->msg);
}

/* cgroup_path_ok's rules, read again. */
static bool cgroup_parent_ok(const char *p)
{
        char *copy = strdup(p), *save = NULL;
        bool ok = copy && p[0] && p[0] != '/' && p[strlen(p) - 1] != '/' && !strstr(p, "//");

        for (char *s = ok ? strtok_r(copy, "/", &save) : NULL; ok && s;
             s = strtok_r(NULL, "/", &save)) {
                ok = strlen(s) <= 255 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
                for (const char *q = s; ok && *q; q++)
                        ok = (unsigned char) *q >= 0x20 && *q != 0x7f;
        }
        free(copy);
        return ok;
}

static void check_range(const char *key, uint64_t v, uint64_t lo, uint64_t hi)
{
        CHECK(v >= lo && v <= hi, "%s = %" PRIu64 " outside [%" PRIu64 ", %" PRIu64 "]", key, v, lo,
              hi);
}

static void check_taken(const struct cd_config *c)
{
        uint64_t base = c->uid_base ? c->uid_base : CD_DEFAULT_UID_BASE;
        uint64_t count = c->uid_count ? c->uid_count : CD_DEFAULT_UID_COUNT;

        CHECK(cd_path_is_clean_absolute(c->socket_path) &&
                      cd_path_is_clean_absolute(c->state_dir) &&
                      cd_path_is_clean_absolute(c->profiles_dir) &&
                      cd_path_is_clean_absolute(c->images_dir),
              "a path that is not clean and absolute");
        CHECK((c->socket_mode & ~0660U) == 0, "socket mode %o", (unsigned int) c->socket_mode);
        CHECK(c->uid_base == 0 || (c->uid_base >= 65536 && c->uid_base <= UINT32_MAX - 65536),
              "uid_base %" PRIu32, c->uid_base);
        CHECK(c->uid_count <= 65536, "uid_count %" PRIu32, c->uid_count);
        /* The last job uid, base + count - 1, stays below (uid_t) -2. */
        CHECK(base + count <= 0xfffffffeULL, "uid range ends at %" PRIu64, base + count - 1);
        check_range("slots", c->slots, 1, 1024);
        CHECK(c->slots <= count, "%u slots for %" PRIu64 " uids", c->slots, count);
        check_range("max_queued", c->max_queued, 1, 100000);
        check_range("max_queued_per_client", c->max_queued_per_client, 1, 100000);
        check_range("rate_per_second", c->rate_per_second, 1, 100000);
        check_range("max_connections", c->max_connections, 1, 4096);
        check_range("max_connections_per_client", c->max_connections_per_client, 1, 4096);
        check_range("connection_timeout", c->connection_timeout_s, 1, 24 * 3600);
        check_range("request_timeout", c->request_timeout_s, 1, 24 * 3600);
        check_range("max_url", c->max_url_bytes, 256, 65536);
        check_range("max_header", c->max_header_bytes, 4096, 1 << 20);
        check_range("max_body", c->max_body_bytes, 4096, CD_MAX_FS_BYTES);
        check_range("max_inputs", c->max_inputs, 0, 10000);
        check_range("max_input", c->max_input_bytes, 1, CD_MAX_FS_BYTES);
        check_range("max_json", c->max_json_bytes, 256, 1 << 20);
        check_range("output_max", c->output_max_bytes, 1, CD_MAX_FS_BYTES);
        check_range("min_free", c->min_free_bytes, 0, CD_MAX_FS_BYTES);
        check_range("max_stored_per_client", c->max_stored_per_client_bytes, 0, CD_MAX_FS_BYTES);
        check_range("retention", c->retention_ms, 1000, 3650ULL * 24 * 3600 * 1000);
        check_range("shutdown_grace", c->shutdown_grace_ms, 0, 24ULL * 3600 * 1000);
        CHECK(c->cgroup.parent == c->cgroup_parent, "cgroup.parent is not cgroup_parent");
        CHECK(!c->cgroup_parent || cgroup_parent_ok(c->cgroup_parent), "cgroup parent taken");
        CHECK(c->cgroup.root == NULL, "cgroup root set");
        CHECK(c->cgroup.mode == CD_CGROUP_AUTO || c->cgroup.mode == CD_CGROUP_V1 ||
                      c->cgroup.mode == CD_CGROUP_V2,
              "cgroup mode %d", (int) c->cgroup.mode);
        for (size_t i = 0; i < c->n_profile_access; i++) {
                CHECK(cd_profile_name_is_valid(c->profile_access[i].profile),
                      "profile_access name taken");
                for (size_t k = 0; k < i; k++)
                        CHECK(strcmp(c->profile_access[i].profile, c->profile_access[k].profile),
                              "profile_access name twice");
        }
}

/* The reserve and the quota: what was configured, else at most the share. */
static void check_shares(const struct cd_config *c, uint64_t fs)
{
        uint64_t free_bytes = cd_config_min_free(c, fs), quota = cd_config_client_quota(c, fs);

        CHECK(free_bytes == c->min_free_bytes ||
                      (!c->min_free_set && free_bytes == fs / 10 && free_bytes < c->min_free_bytes),
              "min_free %" PRIu64 " on %" PRIu64 " bytes", free_bytes, fs);
        CHECK(quota == c->max_stored_per_client_bytes || (!c->max_stored_set && quota == fs / 4 &&
                                                          quota < c->max_stored_per_client_bytes),
              "quota %" PRIu64 " on %" PRIu64 " bytes", quota, fs);
}

static json_t *size_string(const char *key, uint64_t v)
{
        const struct cd_limit_def d = { key, CD_LIMIT_SIZE, 0, 0, UINT64_MAX };
        char buf[32];

        cd_limit_format(&d, v, buf, sizeof(buf));
        return json_string(buf);
}

/* Durations as cd_limit_format strings ("30s", "7h"): never a bare number
 * of digits, which the parser refuses. */
static json_t *duration_string(const char *key, uint64_t ms)
{
        const struct cd_limit_def d = { key, CD_LIMIT_DURATION, 0, 0, UINT64_MAX };
        char buf[32];

        cd_limit_format(&d, ms, buf, sizeof(buf));
        return json_string(buf);
}

static json_t *members_json(const struct cd_role_members *m)
{
        json_t *uids = json_array(), *groups = json_array();

        for (size_t i = 0; i < m->n_uids; i++)
                json_array_append_new(uids, json_integer(m->uids[i]));
        for (size_t i = 0; i < m->n_gids; i++)
                json_array_append_new(groups, json_integer(m->gids[i]));
        return json_pack("{s:o, s:o}", "uids", uids, "groups", groups);
}

/* Every key with an explicit value: what the parser produced, spelled
 * another way. */
static json_t *config_json(const struct cd_config *c)
{
        json_t *o = json_object(), *cg = json_object(), *pa = json_object();
        char mode[8];

        for (size_t i = 0; i < c->n_profile_access; i++)
                json_object_set_new(pa, c->profile_access[i].profile,
                                    members_json(&c->profile_access[i].who));
        json_object_set_new(o, "profile_access", pa);
        json_object_set_new(o, "submitters", members_json(&c->submitters));
        json_object_set_new(o, "admins", members_json(&c->admins));
        json_object_set_new(o, "shutdown_grace",
                            duration_string("shutdown_grace", c->shutdown_grace_ms));
        json_object_set_new(o, "retention", duration_string("retention", c->retention_ms));
        json_object_set_new(o, "output_max", size_string("output_max", c->output_max_bytes));
        if (c->max_stored_set)
                json_object_set_new(o, "max_stored_per_client",
                                    size_string("max_stored", c->max_stored_per_client_bytes));
        if (c->min_free_set)
                json_object_set_new(o, "min_free", size_string("min_free", c->min_free_bytes));
        json_object_set_new(o, "max_json", json_integer((json_int_t) c->max_json_bytes));
        json_object_set_new(o, "max_input", size_string("max_input", c->max_input_bytes));
        json_object_set_new(o, "max_inputs", json_sprintf("%u", c->max_inputs));
        json_object_set_new(o, "max_body", size_string("max_body", c->max_body_bytes));
        json_object_set_new(o, "max_header", size_string("max_header", c->max_header_bytes));
        json_object_set_new(o, "max_url", json_integer((json_int_t) c->max_url_bytes));
        json_object_set_new(o, "request_timeout", json_sprintf("%us", c->request_timeout_s));
        json_object_set_new(o, "connection_timeout",
                            json_integer((json_int_t) c->connection_timeout_s * 1000));
        json_object_set_new(o, "max_connections_per_client",
                            json_integer(c->max_connections_per_client));
        json_object_set_new(o, "max_connections", json_sprintf("%u", c->max_connections));
        json_object_set_new(o, "rate_per_second", json_integer(c->rate_per_second));
        json_object_set_new(o, "max_queued_per_client", json_integer(c->max_queued_per_client));
        json_object_set_new(o, "max_queued", json_sprintf("%u", c->max_queued));
        json_object_set_new(o, "slots", json_integer(c->slots));
        if (c->uid_count)
                json_object_set_new(o, "uid_count", json_sprintf("%" PRIu32, c->uid_count));
        if (c->uid_base)
                json_object_set_new(o, "uid_base", json_integer(c->uid_base));
        json_object_set_new(cg, "mode", json_string(cd_cgroup_mode_to_string(c->cgroup.mode)));
        if (c->cgroup_parent)
                json_object_set_new(cg, "parent", json_string(c->cgroup_parent));
        json_object_set_new(o, "cgroup", cg);
        json_object_set_new(o, "images_dir", json_string(c->images_dir));
        json_object_set_new(o, "profiles_dir", json_string(c->profiles_dir));
        json_object_set_new(o, "state_dir", json_string(c->state_dir));
        if (c->socket_group_set)
                json_object_set_new(o, "socket_group", json_integer(c->socket_group));
        (void) snprintf(mode, sizeof(mode), "%04o", (unsigned int) c->socket_mode);
        json_object_set_new(o, "socket_mode", json_string(mode));
        json_object_set_new(o, "socket", json_string(c->socket_path));
        return o;
}

static bool members_equal(const struct cd_role_members *a, const struct cd_role_members *b)
{
        return a->n_uids == b->n_uids && a->n_gids == b->n_gids &&
               (a->n_uids == 0 || !memcmp(a->uids, b->uids, a->n_uids * sizeof(uid_t))) &&
               (a->n_gids == 0 || !memcmp(a->gids, b->gids, a->n_gids * sizeof(gid_t)));
}

#define SAME(field) CHECK(a->field == b->field, "round trip changed " #field)
#define SAME_STR(field)                                                                            \
        CHECK((!a->field && !b->field) || (a->field && b->field && !strcmp(a->field, b->field)),   \
              "round trip changed " #field)

static void check_same(const struct cd_config *a, const struct cd_config *b)
{
        SAME_STR(socket_path);
        SAME(socket_mode);
        SAME(socket_group_set);
        SAME(socket_group);
        SAME_STR(state_dir);
        SAME_STR(profiles_dir);
        SAME_STR(images_dir);
        SAME(cgroup.mode);
        SAME_STR(cgroup_parent);
        SAME(uid_base);
        SAME(uid_count);
        SAME(slots);
        SAME(max_queued);
        SAME(max_queued_per_client);
        SAME(rate_per_second);
        SAME(max_connections);
        SAME(max_connections_per_client);
        SAME(connection_timeout_s);
        SAME(request_timeout_s);
        SAME(max_url_bytes);
        SAME(max_header_bytes);
        SAME(max_body_bytes);
        SAME(max_inputs);
        SAME(max_input_bytes);
        SAME(max_json_bytes);
        SAME(output_max_bytes);
        SAME(min_free_bytes);
        SAME(min_free_set);
        SAME(max_stored_per_client_bytes);
        SAME(max_stored_set);
        SAME(retention_ms);
        SAME(shutdown_grace_ms);
        CHECK(members_equal(&a->admins, &b->admins), "round trip changed admins");
        CHECK(members_equal(&a->submitters, &b->submitters), "round trip changed submitters");
        SAME(n_profile_access);
        for (size_t i = 0; i < a->n_profile_access; i++) {
                const struct cd_profile_access *x = &a->profile_access[i];
                const struct cd_profile_access *y = NULL;

                for (size_t k = 0; k < b->n_profile_access && !y; k++)
                        if (!strcmp(b->profile_access[k].profile, x->profile))
                                y = &b->profile_access[k];
                CHECK(y && members_equal(&x->who, &y->who), "round trip changed profile_access");
        }
}

static void round_trip(const struct cd_config *c)
{
        json_t *o = config_json(c);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        struct cd_config again = { 0 };
        struct cd_err err = { 0 };
        int r;

        json_decref(o);
        if (!text)
                return; /* out of memory: nothing to compare */
        r = cd_config_parse(text, strlen(text), SOURCE, &again, &err);
        if (r == -ENOMEM) {
                free(text);
                return;
        }
        CHECK(r == 0, "written back, refused: %s", err.msg);
        free(text);
        check_same(c, &again);
        cd_config_clear(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const uint64_t fs_sizes[] = { 0, 1, 4096, 5ULL << 30, 1ULL << 40, UINT64_MAX };
        struct cd_config c;
        struct cd_err err = { 0 };
        int r;

        memset(&c, 0xa5, sizeof(c));
        r = cd_config_parse((const char *) data, size, SOURCE, &c, &err);
        if (r < 0) {
                check_refusal(r, &err, &c);
                return 0;
        }
        CHECK(r == 0, "returned %d", r);
        check_taken(&c);
        for (size_t i = 0; i < sizeof(fs_sizes) / sizeof(fs_sizes[0]); i++)
                check_shares(&c, fs_sizes[i]);
        round_trip(&c);
        cd_config_clear(&c);
        return 0;
}
