/* SPDX-License-Identifier: MIT */
/*
 * daemon/config.c: cordond.json. The defaults against docs/operations.md's
 * table; every key with a valid value and with bad ones (wrong type, out
 * of range with the range in the key's unit, junk unit, a duration string
 * without a unit, a socket mode above 0660, relative or unclean paths, an
 * unknown group), each refusal naming the file and the key;
 * unknown and duplicate keys, a top level that is not an object; loading
 * from a file: a missing path, the default path, a symlink, a FIFO, a
 * directory and an oversized file; a file, its directory or one above
 * that someone else may change, or a symlink on the way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cordon/config.h"
#include "cordon/err.h"
#include "cordon/launcher.h"
#include "cordon/plan.h"
#include "cordon/profile.h"
#include "unit.h"

#define SOURCE "test.json"
#define MIB    (1ULL << 20)

static void config_free(void *p)
{
        cd_config_clear(p);
        free(p);
}

static void rm_dir(void *path)
{
        (void) ut_rm_rf(path);
        free(path);
}

static int teardown(void **state)
{
        (void) state;
        ut_run_deferred();
        return 0;
}

/* A string that lives until teardown. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
        char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, f);
        n = vasprintf(&s, f, ap);
        va_end(ap);
        assert_true(n >= 0);
        return ut_defer(free, s);
}

static char *temp_dir(void)
{
        char *d = ut_mkdtemp();

        assert_non_null(d);
        return ut_defer(rm_dir, d);
}

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
        int fd = ut_open_dir(dir);
        int r;

        assert_true(fd >= 0);
        r = ut_write_file(fd, name, text, len);
        (void) close(fd);
        assert_int_equal(r, 0);
}

static void assert_cleared(const struct cd_config *c)
{
        assert_null(c->socket_path);
        assert_null(c->state_dir);
        assert_null(c->profiles_dir);
        assert_null(c->images_dir);
        assert_null(c->cgroup_parent);
        assert_null(c->admins.uids);
        assert_null(c->submitters.uids);
}

static struct cd_config *parse_ok(const char *text)
{
        struct cd_config *c = calloc(1, sizeof(*c));
        struct cd_err e = { 0 };
        int r;

        assert_non_null(c);
        r = cd_config_parse(text, strlen(text), SOURCE, c, &e);
        ut_defer(config_free, c);
        if (r != 0)
                fail_msg("%s refused (%d): %s", text, r, e.msg);
        return c;
}

/* @text is refused with "test.json: <@field>: <@problem...>". */
static void parse_bad(const char *text, const char *field, const char *problem)
{
        const char *want = fmt("%s: %s: ", SOURCE, field);
        struct cd_config c = { 0 };
        struct cd_err e = { 0 };
        int r = cd_config_parse(text, strlen(text), SOURCE, &c, &e);

        if (r != -CD_E_INVALID)
                fail_msg("%s: returned %d (%s), expected a refusal", text, r, e.msg);
        assert_int_equal(e.code, CD_E_INVALID);
        if (strncmp(e.msg, want, strlen(want)) != 0)
                fail_msg("%s: message \"%s\" does not start with \"%s\"", text, e.msg, want);
        if (problem && !strstr(e.msg, problem))
                fail_msg("%s: message \"%s\" does not say \"%s\"", text, e.msg, problem);
        assert_cleared(&c);
}

/* A refusal that names the file (anything after it). */
static void parse_refused(const char *text, const char *expect)
{
        struct cd_config c = { 0 };
        struct cd_err e = { 0 };
        int r = cd_config_parse(text, strlen(text), SOURCE, &c, &e);

        if (r != -CD_E_INVALID)
                fail_msg("%s: returned %d (%s), expected a refusal", text, r, e.msg);
        if (strncmp(e.msg, SOURCE ": ", strlen(SOURCE) + 2) != 0)
                fail_msg("%s: message \"%s\" does not name the file", text, e.msg);
        if (expect && !strstr(e.msg, expect))
                fail_msg("%s: message \"%s\" does not say \"%s\"", text, e.msg, expect);
        assert_cleared(&c);
}

/* ---- defaults ---- */

static void assert_defaults(const struct cd_config *c)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        /* docs/operations.md, "Configuration: /etc/cordon/cordond.json". */
        assert_string_equal(c->socket_path, "/run/cordon/cordon.sock");
        assert_int_equal(c->socket_mode, 0660);
        assert_false(c->socket_group_set); /* root's: the group the socket is created with */
        assert_string_equal(c->state_dir, "/var/lib/cordon");
        assert_string_equal(c->profiles_dir, "/etc/cordon/profiles");
        assert_string_equal(c->images_dir, "/var/lib/cordon/images");
        assert_int_equal(c->cgroup.mode, CD_CGROUP_AUTO);
        /* None: the v2 delegated cgroup when cordond runs in one, else "cordon". */
        assert_null(c->cgroup_parent);
        assert_null(c->cgroup.parent);
        /* 0 hands the launcher its defaults: 1879048192 and 1024. */
        assert_int_equal(c->uid_base, 0);
        assert_int_equal(c->uid_count, 0);
        assert_int_equal(CD_DEFAULT_UID_BASE, 1879048192u);
        assert_int_equal(CD_DEFAULT_UID_COUNT, 1024u);
        /* One per CPU, at most 1024 (and the 1024 default job uids). */
        assert_int_equal(c->slots, cpus > 0 ? (unsigned int) (cpus < 1024 ? cpus : 1024) : 1);
        assert_int_equal(c->max_queued, 256);
        assert_int_equal(c->max_queued_per_client, 64);
        assert_int_equal(c->rate_per_second, 50);
        assert_int_equal(c->max_connections, 64);
        assert_int_equal(c->max_connections_per_client, 16);
        assert_int_equal(c->connection_timeout_s, 30);
        assert_int_equal(c->request_timeout_s, 300);
        assert_int_equal(c->max_url_bytes, 2048);
        assert_int_equal(c->max_header_bytes, 16384);
        assert_true(c->max_body_bytes == 256 * MIB);
        assert_int_equal(c->max_inputs, 64);
        assert_true(c->max_input_bytes == 128 * MIB);
        assert_int_equal(c->max_json_bytes, 65536);
        assert_true(c->output_max_bytes == 16 * MIB);
        /* The reserve: a tenth of a small file system, 512M of a large one. */
        assert_false(c->min_free_set);
        assert_true(cd_config_min_free(c, 1024 * MIB) == 1024 * MIB / 10);
        assert_true(cd_config_min_free(c, 5120 * MIB) == 512 * MIB);
        assert_true(cd_config_min_free(c, 100ULL << 30) == 512 * MIB);
        assert_true(cd_config_min_free(c, 0) == 0);
        /* A client's share: a quarter of a small file system, 8G of a large one. */
        assert_false(c->max_stored_set);
        assert_true(cd_config_client_quota(c, 1024 * MIB) == 256 * MIB);
        assert_true(cd_config_client_quota(c, 100ULL << 30) == 8ULL << 30);
        assert_true(c->retention_ms == 604800000ULL);
        assert_true(c->shutdown_grace_ms == 30000);
        assert_int_equal(c->admins.n_uids, 1);
        assert_int_equal(c->admins.uids[0], 0);
        assert_int_equal(c->admins.n_gids, 0);
        assert_int_equal(c->submitters.n_uids, 0);
        assert_int_equal(c->submitters.n_gids, 0);
}

static void test_defaults_empty_object(void **state)
{
        (void) state;
        assert_defaults(parse_ok("{}"));
        assert_defaults(parse_ok(" { }\n"));
}

static void test_defaults_function(void **state)
{
        struct cd_config *c = calloc(1, sizeof(*c));
        struct cd_err e = { 0 };

        (void) state;
        assert_non_null(c);
        ut_defer(config_free, c);
        assert_int_equal(cd_config_defaults(c, &e), 0);
        assert_defaults(c);
}

/* ---- every key, accepted ---- */

static void test_paths_accepted(void **state)
{
        struct cd_config *c =
                parse_ok("{\"socket\": \"/tmp/c.sock\", \"state_dir\": \"/srv/cordon\","
                         " \"profiles_dir\": \"/srv/p\", \"images_dir\": \"/srv/i\"}");

        (void) state;
        assert_string_equal(c->socket_path, "/tmp/c.sock");
        assert_string_equal(c->state_dir, "/srv/cordon");
        assert_string_equal(c->profiles_dir, "/srv/p");
        assert_string_equal(c->images_dir, "/srv/i");
}

static void test_socket_mode_group_accepted(void **state)
{
        struct cd_config *c = parse_ok("{\"socket_mode\": \"0600\", \"socket_group\": \"root\"}");

        (void) state;
        assert_int_equal(c->socket_mode, 0600);
        assert_true(c->socket_group_set);
        assert_int_equal(c->socket_group, 0);
        c = parse_ok("{\"socket_mode\": \"660\", \"socket_group\": 4242}");
        assert_int_equal(c->socket_mode, 0660);
        assert_true(c->socket_group_set);
        assert_int_equal(c->socket_group, 4242);
        c = parse_ok("{\"socket_mode\": \"0000\"}");
        assert_int_equal(c->socket_mode, 0);
        assert_false(c->socket_group_set);
        assert_int_equal(parse_ok("{\"socket_mode\": \"0640\"}")->socket_mode, 0640);
}

static void test_cgroup_accepted(void **state)
{
        struct cd_config *c = parse_ok("{\"cgroup\": {\"mode\": \"v1\", \"parent\": \"a/b\"}}");

        (void) state;
        assert_int_equal(c->cgroup.mode, CD_CGROUP_V1);
        assert_string_equal(c->cgroup_parent, "a/b");
        assert_ptr_equal(c->cgroup.parent, c->cgroup_parent);
        c = parse_ok("{\"cgroup\": {\"mode\": \"v2\"}}");
        assert_int_equal(c->cgroup.mode, CD_CGROUP_V2);
        assert_null(c->cgroup.parent);
        c = parse_ok("{\"cgroup\": {}}");
        assert_int_equal(c->cgroup.mode, CD_CGROUP_AUTO);
        /* Dots inside a name are not "..": only whole components are. */
        assert_string_equal(parse_ok("{\"cgroup\": {\"parent\": \"a..b/.c/d.\"}}")->cgroup_parent,
                            "a..b/.c/d.");
        assert_string_equal(
                parse_ok(fmt("{\"cgroup\": {\"parent\": \"a/%0255d\"}}", 0))->cgroup_parent,
                fmt("a/%0255d", 0));
        assert_int_equal(parse_ok("{\"cgroup\": {\"mode\": \"auto\"}}")->cgroup.mode,
                         CD_CGROUP_AUTO);
}

static void test_numbers_accepted(void **state)
{
        struct cd_config *c = parse_ok(
                "{\"uid_base\": 100000, \"uid_count\": 65536, \"slots\": 1024, \"max_queued\": 1,"
                " \"max_queued_per_client\": 100000, \"rate_per_second\": \"7\","
                " \"max_connections\": 4096, \"max_connections_per_client\": 4096,"
                " \"max_inputs\": 0}");

        (void) state;
        assert_int_equal(c->uid_base, 100000);
        assert_int_equal(c->uid_count, 65536);
        assert_int_equal(c->slots, 1024);
        assert_int_equal(c->max_queued, 1);
        assert_int_equal(c->max_queued_per_client, 100000);
        assert_int_equal(c->rate_per_second, 7);
        assert_int_equal(c->max_connections, 4096);
        assert_int_equal(c->max_connections_per_client, 4096);
        assert_int_equal(c->max_inputs, 0);
        c = parse_ok("{\"uid_base\": 65536, \"uid_count\": 1, \"slots\": 1}");
        assert_int_equal(c->uid_base, 65536);
        assert_int_equal(c->uid_count, 1);
        assert_int_equal(c->slots, 1);
        assert_int_equal(parse_ok("{\"uid_base\": 4294901759}")->uid_base, 4294901759u);
}

static void test_sizes_accepted(void **state)
{
        struct cd_config *c =
                parse_ok("{\"max_url\": \"4K\", \"max_header\": \"1M\", \"max_body\": \"1G\","
                         " \"max_input\": 1, \"max_json\": 256, \"output_max\": \"2MiB\"}");

        (void) state;
        assert_int_equal(c->max_url_bytes, 4096);
        assert_int_equal(c->max_header_bytes, 1 << 20);
        assert_true(c->max_body_bytes == 1ULL << 30);
        assert_true(c->max_input_bytes == 1);
        assert_int_equal(c->max_json_bytes, 256);
        assert_true(c->output_max_bytes == 2 * MIB);
        c = parse_ok("{\"min_free\": 0}");
        assert_true(c->min_free_set);
        assert_true(cd_config_min_free(c, 100ULL << 30) == 0);
        c = parse_ok("{\"min_free\": \"64G\"}");
        assert_true(cd_config_min_free(c, 1024 * MIB) == 64ULL << 30); /* as set, never cut */
        assert_true(cd_config_min_free(c, 100ULL << 30) == 64ULL << 30);
        c = parse_ok("{\"max_stored_per_client\": 0}");
        assert_true(cd_config_client_quota(c, 100ULL << 30) == 0); /* no quota */
        c = parse_ok("{\"max_stored_per_client\": \"100G\"}");
        assert_true(cd_config_client_quota(c, 1024 * MIB) == 100ULL << 30);
        c = parse_ok("{\"max_url\": 65536, \"max_header\": 4096, \"max_body\": \"1T\","
                     " \"max_input\": \"1T\", \"max_json\": \"1M\", \"output_max\": \"1T\"}");
        assert_int_equal(c->max_url_bytes, 65536);
        assert_int_equal(c->max_header_bytes, 4096);
        assert_true(c->max_body_bytes == CD_MAX_FS_BYTES);
        assert_true(c->max_input_bytes == CD_MAX_FS_BYTES);
        assert_int_equal(c->max_json_bytes, 1 << 20);
        assert_true(c->output_max_bytes == CD_MAX_FS_BYTES);
}

static void test_durations_accepted(void **state)
{
        struct cd_config *c =
                parse_ok("{\"connection_timeout\": \"45s\", \"request_timeout\": 2500,"
                         " \"retention\": \"1h\", \"shutdown_grace\": 0}");

        (void) state;
        assert_int_equal(c->connection_timeout_s, 45);
        assert_int_equal(c->request_timeout_s, 2); /* 2500 ms, whole seconds */
        assert_true(c->retention_ms == 3600000);
        assert_true(c->shutdown_grace_ms == 0);
        c = parse_ok("{\"connection_timeout\": \"24h\", \"request_timeout\": \"1000ms\","
                     " \"retention\": 1000, \"shutdown_grace\": \"24h\"}");
        assert_int_equal(c->connection_timeout_s, 24 * 3600);
        assert_int_equal(c->request_timeout_s, 1);
        assert_true(c->retention_ms == 1000);
        assert_true(c->shutdown_grace_ms == 24ULL * 3600 * 1000);
        c = parse_ok("{\"retention\": \"87600h\", \"shutdown_grace\": \"90m\"}");
        assert_true(c->retention_ms == 3650ULL * 24 * 3600 * 1000);
        assert_true(c->shutdown_grace_ms == 90ULL * 60 * 1000);
}

static void test_members_accepted(void **state)
{
        struct cd_config *c =
                parse_ok("{\"admins\": {\"uids\": [0, 1000], \"groups\": [\"root\", 7]},"
                         " \"submitters\": {\"uids\": [33]}}");

        (void) state;
        assert_int_equal(c->admins.n_uids, 2);
        assert_int_equal(c->admins.uids[0], 0);
        assert_int_equal(c->admins.uids[1], 1000);
        assert_int_equal(c->admins.n_gids, 2);
        assert_int_equal(c->admins.gids[0], 0);
        assert_int_equal(c->admins.gids[1], 7);
        assert_int_equal(c->submitters.n_uids, 1);
        assert_int_equal(c->submitters.uids[0], 33);
        assert_int_equal(c->submitters.n_gids, 0);
        /* Listing admins replaces the default (root), it does not add to it. */
        c = parse_ok("{\"admins\": {\"groups\": [\"root\"]}, \"submitters\": {}}");
        assert_int_equal(c->admins.n_uids, 0);
        assert_int_equal(c->admins.n_gids, 1);
        assert_int_equal(c->submitters.n_uids, 0);
        assert_int_equal(c->submitters.n_gids, 0);
}

/* Who may use which profile: each listed profile's members resolved like
 * the roles'; a profile not listed is open to every submitter. */
static void test_profile_access(void **state)
{
        struct cd_config *c = parse_ok("{\"profile_access\": {\"data-export\": {\"uids\": [33],"
                                       " \"groups\": [\"root\"]}, \"rscript\": {}}}");
        const gid_t sup[] = { 5, 0 };

        (void) state;
        assert_int_equal(c->n_profile_access, 2);
        assert_string_equal(c->profile_access[0].profile, "data-export");
        assert_int_equal(c->profile_access[0].who.n_uids, 1);
        assert_int_equal(c->profile_access[0].who.gids[0], 0);
        assert_string_equal(c->profile_access[1].profile, "rscript");
        /* By uid, primary gid or a supplementary group; nobody for "{}". */
        assert_true(cd_role_members_has(&c->profile_access[0].who, 33, 100, NULL, 0));
        assert_true(cd_role_members_has(&c->profile_access[0].who, 34, 0, NULL, 0));
        assert_true(cd_role_members_has(&c->profile_access[0].who, 34, 100, sup, 2));
        assert_false(cd_role_members_has(&c->profile_access[0].who, 34, 100, sup, 1));
        assert_false(cd_role_members_has(&c->profile_access[1].who, 33, 0, sup, 2));
        parse_bad("{\"profile_access\": []}", "profile_access", "expected");
        parse_bad("{\"profile_access\": {\"x\": {\"users\": [1]}}}", "profile_access.x", "only");
        parse_bad("{\"profile_access\": {\"x\": {\"groups\": [\"cordon-no-such-group-x\"]}}}",
                  "profile_access.x", "no such group");
        /* A misspelt name (not a profile name at all) is refused, not ignored. */
        parse_bad("{\"profile_access\": {\"clinic_export\": {}}}", "profile_access",
                  "\"clinic_export\" is not a profile name");
}

/* ---- every key, refused ---- */

static void test_paths_refused(void **state)
{
        static const char *const keys[] = { "socket", "state_dir", "profiles_dir", "images_dir" };
        static const char *const bad[] = { "\"relative/path\"", "\"/a/../b\"", "\"/a//b\"", "\"\"",
                                           "\"/a/./b\"" };

        (void) state;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                parse_bad(fmt("{\"%s\": 5}", keys[i]), keys[i], "expected a string");
                parse_bad(fmt("{\"%s\": null}", keys[i]), keys[i], "expected a string");
                parse_bad(fmt("{\"%s\": [\"/x\"]}", keys[i]), keys[i], "expected a string");
                for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++)
                        parse_bad(fmt("{\"%s\": %s}", keys[i], bad[j]), keys[i],
                                  "clean absolute path");
        }
}

static void test_socket_mode_refused(void **state)
{
        static const char *const above[] = { "\"0666\"", "\"0700\"", "\"0661\"",
                                             "\"0670\"", "\"4660\"", "\"0760\"" };
        static const char *const bad[] = { "660",      "\"0x1b0\"", "\"06600\"", "\"66\"",
                                           "\"0680\"", "\"\"",      "true",      "\"-660\"" };

        (void) state;
        for (size_t i = 0; i < sizeof(above) / sizeof(above[0]); i++)
                parse_bad(fmt("{\"socket_mode\": %s}", above[i]), "socket_mode", "at most 0660");
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                parse_bad(fmt("{\"socket_mode\": %s}", bad[i]), "socket_mode", "octal mode");
}

static void test_socket_group_refused(void **state)
{
        (void) state;
        parse_bad("{\"socket_group\": \"cordon-no-such-group-x\"}", "socket_group",
                  "no such group");
        parse_bad("{\"socket_group\": -1}", "socket_group", "group name or number");
        parse_bad("{\"socket_group\": 4294967295}", "socket_group", "group name or number");
        parse_bad("{\"socket_group\": true}", "socket_group", "group name or number");
        parse_bad("{\"socket_group\": [0]}", "socket_group", "group name or number");
        parse_bad("{\"socket_group\": 1.5}", "socket_group", "group name or number");
}

static void test_cgroup_refused(void **state)
{
        (void) state;
        parse_bad("{\"cgroup\": {\"mode\": \"v3\"}}", "cgroup.mode", "auto, v1 or v2");
        parse_bad("{\"cgroup\": {\"mode\": \"\"}}", "cgroup.mode", "auto, v1 or v2");
        parse_bad("{\"cgroup\": {\"parent\": \"/abs\"}}", "cgroup.parent", "relative");
        parse_bad("{\"cgroup\": {\"parent\": \"\"}}", "cgroup.parent", "relative");
        parse_bad("{\"cgroup\": {\"parent\": \"../up\"}}", "cgroup.parent", "relative");
        parse_bad("{\"cgroup\": {\"parent\": \"a/../../b\"}}", "cgroup.parent", "relative");
        parse_bad("{\"cgroup\": {\"parent\": \"a//b\"}}", "cgroup.parent", "relative");
        {
                static const char *const bad[] = {
                        ".", "./x",  "x/.",   "a/./b",   "a/..",      "..",    "a/",
                        "/", "a\\n", "a\\tb", "\\u007f", "a/\\u001b", "a\\rb", "a\\u0001",
                };

                for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                        parse_bad(fmt("{\"cgroup\": {\"parent\": \"%s\"}}", bad[i]),
                                  "cgroup.parent", "relative cgroup path");
                /* A component over 255 bytes cannot be a directory name. */
                parse_bad(fmt("{\"cgroup\": {\"parent\": \"a/%0256d\"}}", 0), "cgroup.parent",
                          "relative cgroup path");
        }
        parse_bad("{\"cgroup\": {\"mode\": 2}}", "cgroup", NULL);
        parse_bad("{\"cgroup\": {\"parent\": 1}}", "cgroup", NULL);
        parse_bad("{\"cgroup\": {\"bogus\": \"x\"}}", "cgroup", NULL);
        parse_bad("{\"cgroup\": \"v2\"}", "cgroup", NULL);
        parse_bad("{\"cgroup\": null}", "cgroup", NULL);
}

struct range_case {
        const char *key;
        const char *value;
        const char *problem; /* NULL: out of range */
};

#define OUT_OF_RANGE "out of range"
#define NOT_A_NUMBER "expected a non-negative number or a value with a unit"

static void test_numbers_refused(void **state)
{
        static const struct range_case cases[] = {
                { "uid_base", "65535", NULL },
                { "uid_base", "4294901760", NULL },
                { "uid_base", "0", NULL },
                { "uid_count", "0", NULL },
                { "uid_count", "65537", NULL },
                { "slots", "0", NULL },
                { "slots", "1025", NULL },
                { "slots", "1099511627776", NULL },
                { "max_queued", "0", NULL },
                { "max_queued", "100001", NULL },
                { "max_queued_per_client", "0", NULL },
                { "max_queued_per_client", "100001", NULL },
                { "rate_per_second", "0", NULL },
                { "rate_per_second", "100001", NULL },
                { "max_connections", "0", NULL },
                { "max_connections", "4097", NULL },
                { "max_connections_per_client", "0", NULL },
                { "max_connections_per_client", "4097", NULL },
                { "max_inputs", "10001", NULL },
                /* Plain counts take no unit. */
                { "slots", "\"4x\"", NOT_A_NUMBER },
                { "slots", "\"4K\"", NOT_A_NUMBER },
                { "max_queued", "\"\"", NOT_A_NUMBER },
                { "uid_count", "\" 5\"", NOT_A_NUMBER },
                { "max_inputs", "\"+5\"", NOT_A_NUMBER },
                { "rate_per_second", "\"99999999999999999999999\"", NOT_A_NUMBER },
                /* Wrong types. */
                { "slots", "-1", NOT_A_NUMBER },
                { "slots", "1.5", NOT_A_NUMBER },
                { "slots", "2.0", NOT_A_NUMBER },
                { "max_connections", "true", NOT_A_NUMBER },
                { "max_queued", "null", NOT_A_NUMBER },
                { "uid_base", "[100000]", NOT_A_NUMBER },
                { "max_inputs", "{}", NOT_A_NUMBER },
        };

        (void) state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                parse_bad(fmt("{\"%s\": %s}", cases[i].key, cases[i].value), cases[i].key,
                          cases[i].problem ? cases[i].problem : OUT_OF_RANGE);
}

static void test_sizes_refused(void **state)
{
        static const struct range_case cases[] = {
                { "max_url", "255", NULL },
                { "max_url", "\"65537\"", NULL },
                { "max_url", "\"1M\"", NULL },
                { "max_header", "4095", NULL },
                { "max_header", "\"2M\"", NULL },
                { "max_body", "4095", NULL },
                { "max_body", "\"2T\"", NULL },
                { "max_input", "0", NULL },
                { "max_input", "\"1025G\"", NULL },
                { "max_json", "255", NULL },
                { "max_json", "\"2M\"", NULL },
                { "output_max", "0", NULL },
                { "output_max", "\"2T\"", NULL },
                { "min_free", "\"2T\"", NULL },
                /* Junk units. */
                { "max_url", "\"4Q\"", NOT_A_NUMBER },
                { "max_header", "\"16 K\"", NOT_A_NUMBER },
                { "max_body", "\"1g\"", NOT_A_NUMBER },
                { "max_input", "\"M\"", NOT_A_NUMBER },
                { "max_json", "\"64KB\"", NOT_A_NUMBER },
                { "output_max", "\"1.5M\"", NOT_A_NUMBER },
                { "max_body", "\"99999999999T\"", NOT_A_NUMBER },
                /* Wrong types. */
                { "max_url", "-2048", NOT_A_NUMBER },
                { "max_header", "1e4", NOT_A_NUMBER },
                { "max_body", "false", NOT_A_NUMBER },
                { "output_max", "[1]", NOT_A_NUMBER },
                { "min_free", "\"-1M\"", NOT_A_NUMBER },
                { "min_free", "\"10%\"", NOT_A_NUMBER },
                { "max_stored_per_client", "\"2T\"", NULL },
                { "max_stored_per_client", "\"25%\"", NOT_A_NUMBER },
                { "max_stored_per_client", "-1", NOT_A_NUMBER },
        };

        (void) state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                parse_bad(fmt("{\"%s\": %s}", cases[i].key, cases[i].value), cases[i].key,
                          cases[i].problem ? cases[i].problem : OUT_OF_RANGE);
}

static void test_durations_refused(void **state)
{
        static const struct range_case cases[] = {
                { "connection_timeout", "999", NULL },
                { "connection_timeout", "\"0s\"", NULL },
                { "connection_timeout", "\"25h\"", NULL },
                { "request_timeout", "\"500ms\"", NULL },
                { "request_timeout", "\"1441m\"", NULL },
                { "retention", "999", NULL },
                { "retention", "\"87601h\"", NULL },
                { "shutdown_grace", "\"25h\"", NULL },
                { "shutdown_grace", "86400001", NULL },
                /* Junk units. */
                { "connection_timeout", "\"30sec\"", NOT_A_NUMBER },
                { "request_timeout", "\"5 m\"", NOT_A_NUMBER },
                { "retention", "\"7days\"", NOT_A_NUMBER },
                { "shutdown_grace", "\"1.5s\"", NOT_A_NUMBER },
                { "shutdown_grace", "\"s\"", NOT_A_NUMBER },
                /* Wrong types. */
                { "connection_timeout", "-1", NOT_A_NUMBER },
                { "request_timeout", "30.5", NOT_A_NUMBER },
                { "retention", "true", NOT_A_NUMBER },
                { "shutdown_grace", "{}", NOT_A_NUMBER },
        };

        (void) state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                parse_bad(fmt("{\"%s\": %s}", cases[i].key, cases[i].value), cases[i].key,
                          cases[i].problem ? cases[i].problem : OUT_OF_RANGE);
}

/* A duration string without a unit: "30" would be seconds, 30 is
 * milliseconds. Refused, naming the key and what to write instead. */
static void test_durations_need_unit(void **state)
{
        static const char *const keys[] = { "connection_timeout", "request_timeout", "retention",
                                            "shutdown_grace" };

        (void) state;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                parse_bad(fmt("{\"%s\": \"30\"}", keys[i]), keys[i], "\"30\" has no unit");
                parse_bad(fmt("{\"%s\": \"30\"}", keys[i]), keys[i],
                          "write \"30s\" (or \"30ms\"), or a number of milliseconds");
                parse_bad(fmt("{\"%s\": \"3600\"}", keys[i]), keys[i], "has no unit");
                parse_bad(fmt("{\"%s\": \"0\"}", keys[i]), keys[i], "has no unit");
                parse_bad(fmt("{\"%s\": \"00030\"}", keys[i]), keys[i], "has no unit");
                /* Long digit strings are cut in the message. */
                parse_bad(fmt("{\"%s\": \"%s\"}", keys[i], "123456789012345678901234567890"),
                          keys[i], "\"12345678901234567890\" has no unit");
                /* With a unit, or as a number: as before. */
                assert_non_null(parse_ok(fmt("{\"%s\": \"30s\"}", keys[i])));
                assert_non_null(parse_ok(fmt("{\"%s\": 30000}", keys[i])));
        }
        assert_int_equal(parse_ok("{\"connection_timeout\": \"30s\"}")->connection_timeout_s, 30);
        assert_int_equal(parse_ok("{\"connection_timeout\": 30000}")->connection_timeout_s, 30);
        /* Sizes and counts have no such ambiguity: "4096" is bytes, "7" a count. */
        assert_int_equal(parse_ok("{\"max_url\": \"4096\"}")->max_url_bytes, 4096);
        assert_int_equal(parse_ok("{\"slots\": \"7\"}")->slots, 7);
}

/* Out of range says the range, in the key's unit; for a duration given as
 * a number, that the number is milliseconds (30 meant as seconds). */
static void test_out_of_range_says_range(void **state)
{
        (void) state;
        parse_bad("{\"connection_timeout\": 30}", "connection_timeout",
                  "out of range (1s to 24h; a number is milliseconds)");
        parse_bad("{\"connection_timeout\": \"25h\"}", "connection_timeout",
                  "out of range (1s to 24h)");
        parse_bad("{\"retention\": \"0s\"}", "retention", "out of range (1s to 87600h)");
        parse_bad("{\"shutdown_grace\": \"2d\"}", "shutdown_grace", NOT_A_NUMBER);
        parse_bad("{\"max_body\": 1}", "max_body", "out of range (4K to 1T)");
        parse_bad("{\"max_url\": \"1M\"}", "max_url", "out of range (256 to 64K)");
        parse_bad("{\"slots\": 0}", "slots", "out of range (1 to 1024)");
        parse_bad("{\"uid_count\": 65537}", "uid_count", "out of range (1 to 65536)");
}

static void test_members_refused(void **state)
{
        static const char *const keys[] = { "admins", "submitters" };

        (void) state;
        for (size_t i = 0; i < 2; i++) {
                const char *k = keys[i];

                parse_bad(fmt("{\"%s\": [0]}", k), k, "only");
                parse_bad(fmt("{\"%s\": {\"users\": [0]}}", k), k, "only");
                parse_bad(fmt("{\"%s\": {\"uids\": 0}}", k), k, "must be arrays");
                parse_bad(fmt("{\"%s\": {\"groups\": \"root\"}}", k), k, "must be arrays");
                parse_bad(fmt("{\"%s\": {\"uids\": [-1]}}", k), k, "uids: expected numbers");
                parse_bad(fmt("{\"%s\": {\"uids\": [\"root\"]}}", k), k, "uids: expected numbers");
                parse_bad(fmt("{\"%s\": {\"uids\": [4294967295]}}", k), k,
                          "uids: expected numbers");
                parse_bad(fmt("{\"%s\": {\"uids\": [1.0]}}", k), k, "uids: expected numbers");
                parse_bad(fmt("{\"%s\": {\"groups\": [\"cordon-no-such-group-x\"]}}", k), k,
                          "no such group");
                parse_bad(fmt("{\"%s\": {\"groups\": [\"root\", null]}}", k), k,
                          "group name or number");
                parse_bad(fmt("{\"%s\": {\"groups\": [-5]}}", k), k, "group name or number");
                parse_bad(fmt("{\"%s\": null}", k), k, NULL);
        }
}

/* The job uid range must end below (uid_t) -2, as the launcher requires,
 * and hold one uid per slot. */
static void test_uids_and_slots_together(void **state)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        struct cd_config *c;

        (void) state;
        parse_bad("{\"uid_base\": 4294901759, \"uid_count\": 65536}", "uid_base",
                  "is 4294967294) must stay below 4294967294");
        parse_bad("{\"uid_count\": 65536, \"uid_base\": 4294901759}", "uid_base",
                  "must stay below 4294967294");
        c = parse_ok("{\"uid_base\": 4294901758, \"uid_count\": 65536}");
        assert_int_equal(c->uid_base, 4294901758u);

        parse_bad("{\"uid_count\": 4, \"slots\": 5}", "slots", "more than the 4 job uids");
        parse_bad("{\"slots\": 1024, \"uid_count\": 1023}", "slots", "more than the 1023 job uids");
        c = parse_ok("{\"uid_count\": 4, \"slots\": 4}");
        assert_int_equal(c->slots, 4);
        /* Without "slots", the default (one per CPU) is cut to the uids. */
        c = parse_ok("{\"uid_count\": 1}");
        assert_int_equal(c->slots, 1);
        c = parse_ok("{\"uid_count\": 65536}");
        assert_int_equal(c->slots, cpus > 0 ? (unsigned int) (cpus < 1024 ? cpus : 1024) : 1);
}

/* jansson refuses \u0000 in strings unless asked (JSON_ALLOW_NUL): no
 * value is cut short at a NUL into something else ("/etc\0junk"). */
static void test_nul_in_strings_refused(void **state)
{
        static const char *const texts[] = {
                "{\"socket\": \"/tmp/a.sock\\u0000junk\"}",
                "{\"state_dir\": \"/srv\\u0000/x\"}",
                "{\"socket_mode\": \"0660\\u0000\"}",
                "{\"socket_group\": \"root\\u0000x\"}",
                "{\"cgroup\": {\"parent\": \"a\\u0000/../..\"}}",
                "{\"cgroup\": {\"mode\": \"v2\\u0000\"}}",
                "{\"retention\": \"1h\\u0000x\"}",
                "{\"max_body\": \"1G\\u0000\"}",
                "{\"slots\": \"4\\u00004\"}",
                "{\"admins\": {\"groups\": [\"root\\u0000\"]}}",
                "{\"slots\\u0000\": 4}",
        };

        (void) state;
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
                parse_refused(texts[i], "line 1");
}

/* A refusal clears @c whatever it held before, as config.h says, also for
 * a file that is not JSON or cannot be opened (fuzz_config found both left
 * the caller's bytes in place, which cd_config_clear() would then free). */
static void test_refusal_clears_dirty_config(void **state)
{
        static const char *const texts[] = { "{", "{\"slots\": 1, \"slots\": 2}",
                                             "{\"slots\": 0}" };
        const char *dir = temp_dir(), *path = fmt("%s/absent.json", dir);
        struct cd_config c;
        struct cd_err e = { 0 };

        (void) state;
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                memset(&c, 0xa5, sizeof(c));
                assert_int_equal(cd_config_parse(texts[i], strlen(texts[i]), SOURCE, &c, &e),
                                 -CD_E_INVALID);
                assert_cleared(&c);
        }
        memset(&c, 0xa5, sizeof(c));
        assert_int_equal(cd_config_load(path, &c, &e), -ENOENT);
        assert_cleared(&c);
}

/* A good key before a bad one: the whole file is refused, nothing kept. */
static void test_bad_after_good(void **state)
{
        (void) state;
        parse_bad("{\"socket\": \"/tmp/ok.sock\", \"admins\": {\"uids\": [1]},"
                  " \"slots\": 0}",
                  "slots", OUT_OF_RANGE);
}

/* ---- the file as a whole ---- */

static void test_unknown_key(void **state)
{
        (void) state;
        parse_refused("{\"bogus\": 1}", "unknown key \"bogus\"");
        parse_refused("{\"slots\": 2, \"Slots\": 2}", "unknown key \"Slots\"");
        parse_refused("{\"max_body_bytes\": 4096}", "unknown key \"max_body_bytes\"");
        /* The nested keys of cgroup are not top-level keys. */
        parse_refused("{\"mode\": \"v2\"}", "unknown key \"mode\"");
        /* A long key is cut in the message, not copied whole. */
        {
                char key[300], *text;
                struct cd_config c = { 0 };
                struct cd_err e = { 0 };

                memset(key, 'k', sizeof(key) - 1);
                key[sizeof(key) - 1] = '\0';
                text = fmt("{\"%s\": 1}", key);
                assert_int_equal(cd_config_parse(text, strlen(text), SOURCE, &c, &e),
                                 -CD_E_INVALID);
                assert_non_null(strstr(e.msg, "unknown key \"kkkk"));
                assert_true(strlen(e.msg) < 200);
        }
}

static void test_duplicate_keys(void **state)
{
        (void) state;
        parse_refused("{\"slots\": 1, \"slots\": 2}", NULL);
        parse_refused("{\"socket\": \"/a\", \"state_dir\": \"/b\", \"socket\": \"/a\"}", NULL);
        parse_refused("{\"cgroup\": {\"mode\": \"v1\", \"mode\": \"v2\"}}", NULL);
}

static void test_not_an_object(void **state)
{
        static const char *const texts[] = { "[]", "[{}]", "1",     "\"x\"",          "null",
                                             "",   "{",    "{} {}", "{\"slots\": 1,}" };

        (void) state;
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
                parse_refused(texts[i], NULL);
}

/* ---- cd_config_load ---- */

static void test_load_file(void **state)
{
        static const char text[] = "{\"slots\": 3, \"socket\": \"/tmp/x.sock\"}\n";
        const char *dir = temp_dir(), *path = fmt("%s/cordond.json", dir);
        struct cd_config *c = calloc(1, sizeof(*c));
        struct cd_err e = { 0 };
        int r;

        (void) state;
        assert_non_null(c);
        ut_defer(config_free, c);
        write_file(dir, "cordond.json", text, strlen(text));
        r = cd_config_load(path, c, &e);
        if (r != 0)
                fail_msg("load: %d %s", r, e.msg);
        assert_int_equal(c->slots, 3);
        assert_string_equal(c->socket_path, "/tmp/x.sock");
        assert_int_equal(c->max_queued, 256);
}

static void test_load_bad_value_names_path(void **state)
{
        static const char text[] = "{\"max_body\": \"1Q\"}";
        const char *dir = temp_dir(), *path = fmt("%s/cordond.json", dir);
        const char *want = fmt("%s: max_body: ", path);
        struct cd_config c = { 0 };
        struct cd_err e = { 0 };

        (void) state;
        write_file(dir, "cordond.json", text, strlen(text));
        assert_int_equal(cd_config_load(path, &c, &e), -CD_E_INVALID);
        if (strncmp(e.msg, want, strlen(want)) != 0)
                fail_msg("message \"%s\" does not start with \"%s\"", e.msg, want);
        assert_cleared(&c);
}

static void test_load_missing_explicit(void **state)
{
        const char *dir = temp_dir(), *path = fmt("%s/absent.json", dir);
        struct cd_config c = { 0 };
        struct cd_err e = { 0 };

        (void) state;
        assert_int_equal(cd_config_load(path, &c, &e), -ENOENT);
        assert_int_equal(e.code, ENOENT);
        assert_non_null(strstr(e.msg, path));
        assert_cleared(&c);
}

static void test_load_default_absent(void **state)
{
        struct cd_config *c;
        struct cd_err e = { 0 };
        struct stat st;

        (void) state;
        if (lstat(CD_DEFAULT_CONFIG, &st) == 0 || errno != ENOENT) {
                fprintf(stderr, "skipped: %s exists\n", CD_DEFAULT_CONFIG);
                skip();
        }
        c = calloc(1, sizeof(*c));
        assert_non_null(c);
        ut_defer(config_free, c);
        assert_int_equal(cd_config_load(NULL, c, &e), 0);
        assert_defaults(c);
}

static void load_refused(const char *path, int code)
{
        struct cd_config c = { 0 };
        struct cd_err e = { 0 };
        int r = cd_config_load(path, &c, &e);

        if (r != -code)
                fail_msg("%s: returned %d (%s), expected %d", path, r, e.msg, -code);
        assert_non_null(strstr(e.msg, path));
        assert_cleared(&c);
}

static void test_load_symlink_refused(void **state)
{
        static const char text[] = "{}";
        const char *dir = temp_dir();

        (void) state;
        write_file(dir, "real.json", text, strlen(text));
        assert_int_equal(symlink(fmt("%s/real.json", dir), fmt("%s/link.json", dir)), 0);
        load_refused(fmt("%s/link.json", dir), ELOOP);
        /* A dangling link too: never followed, never treated as "absent". */
        assert_int_equal(symlink(fmt("%s/none.json", dir), fmt("%s/dangling.json", dir)), 0);
        load_refused(fmt("%s/dangling.json", dir), ELOOP);
}

/* O_NONBLOCK: opening a FIFO without a writer must not hang; it is refused. */
static void test_load_fifo_refused(void **state)
{
        const char *dir = temp_dir(), *path = fmt("%s/fifo.json", dir);

        (void) state;
        assert_int_equal(mkfifo(path, 0600), 0);
        load_refused(path, CD_E_INVALID);
}

static void test_load_directory_and_size_refused(void **state)
{
        const char *dir = temp_dir();
        size_t big = (1U << 20) + 1;
        char *text = malloc(big);

        (void) state;
        assert_non_null(text);
        ut_defer(free, text);
        /* In a directory no one else may write: in /tmp it would be refused for that. */
        assert_int_equal(mkdir(fmt("%s/sub", dir), 0755), 0);
        load_refused(fmt("%s/sub", dir), CD_E_INVALID);
        /* Valid JSON, but over 1 MiB. */
        memset(text, ' ', big);
        text[0] = '{';
        text[big - 1] = '}';
        write_file(dir, "big.json", text, big);
        load_refused(fmt("%s/big.json", dir), CD_E_INVALID);
        /* An empty file is not an object. */
        write_file(dir, "empty.json", "", 0);
        load_refused(fmt("%s/empty.json", dir), CD_E_INVALID);
}

/* ---- who may change cordond.json ---- */

/* @path loads. */
static void load_ok(const char *path)
{
        struct cd_config *c = calloc(1, sizeof(*c));
        struct cd_err e = { 0 };
        int r;

        assert_non_null(c);
        ut_defer(config_free, c);
        r = cd_config_load(path, c, &e);
        if (r != 0)
                fail_msg("%s refused (%d): %s", path, r, e.msg);
        assert_int_equal(c->slots, 3);
}

/* @path is refused with EPERM: @who must be root's alone. */
static void load_not_alone(const char *path, const char *who)
{
        const char *want = fmt("config: %s must be owned by root and not writable by group or "
                               "others",
                               who);
        struct cd_config c = { 0 };
        struct cd_err e = { 0 };
        int r = cd_config_load(path, &c, &e);

        if (r != -EPERM || e.code != EPERM)
                fail_msg("%s: returned %d (%s), expected EPERM", path, r, e.msg);
        if (!strstr(e.msg, want))
                fail_msg("%s: message \"%s\" does not say \"%s\"", path, e.msg, want);
        assert_cleared(&c);
}

/* cordond.json decides the profiles directory, the socket's group and who
 * may do what: a file others may write, or one in a directory whose
 * writers could put their own in its place, is refused. It loaded. */
static void test_load_owner_refused(void **state)
{
        static const char text[] = "{\"slots\": 3}";
        const char *top = temp_dir(), *dir = fmt("%s/etc", top);
        const char *path = fmt("%s/cordond.json", dir);
        /* In turn: chmod @what to @mode; refused naming @refused, or loads. */
        const struct {
                const char *what;
                mode_t mode;
                const char *refused;
        } steps[] = {
                { path, 0664, path },
                { path, 0646, path },
                { path, 0600, NULL },
                { dir, 0775, dir },
                { dir, 01777, dir },
                { dir, 0755, NULL },
                { top, 0777, top },
                /* Sticky, as /tmp: only the owner of etc/ (the caller) may rename it. */
                { top, 01777, NULL },
                { top, 0700, NULL },
        };
        const char *const owned[] = { path, dir };

        (void) state;
        assert_int_equal(mkdir(dir, 0755), 0);
        assert_int_equal(chmod(dir, 0755), 0);
        write_file(dir, "cordond.json", text, strlen(text));
        load_ok(path);
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                assert_int_equal(chmod(steps[i].what, steps[i].mode), 0);
                if (steps[i].refused)
                        load_not_alone(path, steps[i].refused);
                else
                        load_ok(path);
        }
        if (geteuid() != 0) {
                fprintf(stderr, "skipped: chown to uid 65534 needs root\n");
                return;
        }
        for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
                assert_int_equal(chown(owned[i], 65534, 65534), 0);
                load_not_alone(path, owned[i]);
                assert_int_equal(chown(owned[i], 0, 0), 0);
        }
        load_ok(path);
}

/* A directory above cordond.json reached through a symlink: refused, as
 * the file itself is when it is one. */
static void test_load_symlinked_dir_refused(void **state)
{
        static const char text[] = "{\"slots\": 3}";
        const char *top = temp_dir(), *link = fmt("%s/link", top);
        struct cd_config c = { 0 };
        struct cd_err e = { 0 };

        (void) state;
        write_file(top, "cordond.json", text, strlen(text));
        assert_int_equal(symlink(top, link), 0);
        assert_int_equal(cd_config_load(fmt("%s/cordond.json", link), &c, &e), -ELOOP);
        if (!strstr(e.msg, fmt("config: %s is a symlink", link)))
                fail_msg("\"%s\" should name the symlink %s", e.msg, link);
        assert_cleared(&c);
}

int main(void)
{
#define T(fn) cmocka_unit_test_teardown(fn, teardown)
        const struct CMUnitTest tests[] = {
                T(test_defaults_empty_object),
                T(test_defaults_function),
                T(test_paths_accepted),
                T(test_socket_mode_group_accepted),
                T(test_cgroup_accepted),
                T(test_numbers_accepted),
                T(test_sizes_accepted),
                T(test_durations_accepted),
                T(test_members_accepted),
                T(test_paths_refused),
                T(test_socket_mode_refused),
                T(test_socket_group_refused),
                T(test_cgroup_refused),
                T(test_numbers_refused),
                T(test_sizes_refused),
                T(test_durations_refused),
                T(test_durations_need_unit),
                T(test_out_of_range_says_range),
                T(test_members_refused),
                T(test_profile_access),
                T(test_uids_and_slots_together),
                T(test_nul_in_strings_refused),
                T(test_bad_after_good),
                T(test_refusal_clears_dirty_config),
                T(test_unknown_key),
                T(test_duplicate_keys),
                T(test_not_an_object),
                T(test_load_file),
                T(test_load_bad_value_names_path),
                T(test_load_missing_explicit),
                T(test_load_default_absent),
                T(test_load_symlink_refused),
                T(test_load_fifo_refused),
                T(test_load_directory_and_size_refused),
                T(test_load_owner_refused),
                T(test_load_symlinked_dir_refused),
        };
#undef T

        return cmocka_run_group_tests(tests, NULL, NULL);
}
