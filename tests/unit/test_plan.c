/* SPDX-License-Identifier: MIT */
/*
 * profile/plan.c: default limits and their bounds, clean paths, the
 * environment allow-list of the host plan, binds and whole-plan validation.
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

#include <cmocka.h>

#include "cordon/cleanup.h"
#include "cordon/plan.h"
#include "cordon/util.h"
#include "unit.h"

/* Plans are freed in teardown: a failed assertion leaves the test by
 * longjmp, past any cleanup attribute. */
static void plan_free(void *p)
{
        (void) cd_plan_free(p);
}

static int teardown(void **state)
{
        (void) state;
        ut_run_deferred();
        return 0;
}

/* ---- limits ---- */

static void limits_default_values(void **state)
{
        struct cd_limits l;
        struct cd_err e = { 0 };

        (void) state;
        memset(&l, 0xff, sizeof(l));
        cd_limits_default(&l);
        assert_true(l.memory_max_bytes == 1ULL << 30); /* 1 GiB */
        assert_true(l.cpu_millis == 500);              /* half of one CPU */
        assert_true(l.wall_timeout_ms == 300000);      /* 5 minutes */
        assert_true(l.cpu_time_ms == 0);               /* none */
        assert_true(l.pids_max >= 2 && l.pids_max <= CD_MAX_PIDS);
        assert_true(l.nofile >= 16 && l.nofile <= CD_MAX_NOFILE);
        assert_int_equal(cd_limits_validate(&l, &e), 0);
}

struct bound {
        const char *flag; /* what the message must name */
        size_t offset;
        uint64_t min, max;
};

#define BOUND(flag, field, lo, hi)                                                                 \
        {                                                                                          \
                flag, offsetof(struct cd_limits, field), lo, hi                                    \
        }

/* The floors and ceilings of every limit, as documented for `cordon run`. */
static const struct bound bounds[] = {
        BOUND("--memory", memory_max_bytes, CD_MIN_MEMORY_BYTES, CD_MAX_MEMORY_BYTES),
        BOUND("--cpus", cpu_millis, 10, CD_MAX_CPU_MILLIS),
        BOUND("--pids", pids_max, 2, CD_MAX_PIDS),
        BOUND("--wall", wall_timeout_ms, 1, CD_MAX_TIMEOUT_MS),
        BOUND("--cpu-time", cpu_time_ms, 0, CD_MAX_TIMEOUT_MS),
        BOUND("--grace", grace_ms, 0, 60000),
        BOUND("--tmp-size", tmp_size_bytes, CD_MIN_FS_BYTES, CD_MAX_FS_BYTES),
        BOUND("--shm-size", shm_size_bytes, CD_MIN_FS_BYTES, CD_MAX_FS_BYTES),
        BOUND("--work-size", work_size_bytes, CD_MIN_FS_BYTES, CD_MAX_FS_BYTES),
        BOUND("--out-size", out_size_bytes, CD_MIN_FS_BYTES, CD_MAX_FS_BYTES),
        BOUND("--fsize", fsize_bytes, 1, CD_MAX_FS_BYTES),
        BOUND("--nofile", nofile, 16, CD_MAX_NOFILE),
};

static int validate_with(const struct bound *b, uint64_t v, struct cd_err *e)
{
        struct cd_limits l;

        cd_limits_default(&l);
        *(uint64_t *) ((char *) &l + b->offset) = v;
        cd_err_clear(e);
        return cd_limits_validate(&l, e);
}

static void expect_refused(const struct bound *b, uint64_t v)
{
        struct cd_err e;
        size_t n = strlen(b->flag);
        int r = validate_with(b, v, &e);

        if (r != -CD_E_INVALID || e.code != CD_E_INVALID)
                fail_msg("%s = %llu: returned %d (code %d), expected -CD_E_INVALID", b->flag,
                         (unsigned long long) v, r, e.code);
        /* The flag, whole: "--cpus" must not be satisfied by "--cpu-time". */
        if (strncmp(e.msg, b->flag, n) != 0 || (e.msg[n] != ':' && e.msg[n] != ' '))
                fail_msg("%s = %llu: message \"%s\" does not start with the flag", b->flag,
                         (unsigned long long) v, e.msg);
}

static void expect_accepted(const struct bound *b, uint64_t v)
{
        struct cd_err e;
        int r = validate_with(b, v, &e);

        if (r != 0)
                fail_msg("%s = %llu refused: %s", b->flag, (unsigned long long) v, e.msg);
}

static void limits_validate_boundaries(void **state)
{
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bounds); i++) {
                const struct bound *b = &bounds[i];

                if (b->min > 0)
                        expect_refused(b, b->min - 1);
                expect_accepted(b, b->min);
                expect_accepted(b, b->max);
                expect_refused(b, b->max + 1);
                expect_refused(b, UINT64_MAX);
        }
}

/* ---- paths ---- */

static void path_clean_absolute_accepts(void **state)
{
        static const char *const good[] = {
                "/",    "/a",    "/a/b",   "/usr/lib/x86_64-linux-gnu",
                "/...", "/a/.b", "/a/b..", "/.hidden",
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!cd_path_is_clean_absolute(good[i]))
                        fail_msg("\"%s\" refused", good[i]);
}

static void path_clean_absolute_refuses(void **state)
{
        static const char *const bad[] = {
                "",     "a",    "a/b", "./a", "/a/",   "//a",     "/a//b", "//",
                "/a/.", "/./a", "/.",  "/..", "/a/..", "/a/../b", "/../a", "/a/./b",
        };

        (void) state;
        assert_false(cd_path_is_clean_absolute(NULL));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (cd_path_is_clean_absolute(bad[i]))
                        fail_msg("\"%s\" accepted", bad[i]);
}

/* ---- the host plan and its environment ---- */

static struct cd_plan *new_plan(char *const *environ_in)
{
        char *argv[] = { "sh", "-c", "true", NULL };
        struct cd_plan *p = NULL;
        struct cd_err e = { 0 };

        if (cd_plan_new_host(argv, environ_in, &p, &e) < 0)
                fail_msg("cd_plan_new_host: %s", e.msg);
        return ut_defer(plan_free, p);
}

/* How many entries of @env start with @prefix. */
static size_t env_count(char **env, const char *prefix)
{
        size_t n = 0;

        for (size_t i = 0; env && env[i]; i++)
                if (strncmp(env[i], prefix, strlen(prefix)) == 0)
                        n++;
        return n;
}

static void plan_env_drops_secrets(void **state)
{
        char *in[] = {
                "SECRET=hunter2",
                "AWS_SECRET_ACCESS_KEY=AKIAhunter2",
                "AWS_PROFILE=prod",
                "DATABASE_URL=postgres://u:hunter2@db/x",
                "LD_PRELOAD=/tmp/evil.so",
                "PATH=/tmp/evil:/usr/bin",
                "HOME=/root",
                "LANGUAGE=de",
                "LANGX=1",
                "TZDIR=/tmp",
                "XLANG=1",
                "LANG",
                "=LANG=x",
                "LANG=de_DE.UTF-8",
                "LC_ALL=C.UTF-8",
                "LC_CTYPE=de_DE.UTF-8",
                "LC_MESSAGES=C",
                "TZ=Europe/Berlin",
                NULL,
        };
        struct cd_plan *p = new_plan(in);

        (void) state;
        for (size_t i = 0; p->envp[i]; i++) {
                if (strstr(p->envp[i], "hunter2") || strstr(p->envp[i], "evil") ||
                    strncmp(p->envp[i], "AWS_", 4) == 0 || strncmp(p->envp[i], "SECRET", 6) == 0 ||
                    strncmp(p->envp[i], "LD_", 3) == 0 || strncmp(p->envp[i], "LANGUAGE", 8) == 0 ||
                    strncmp(p->envp[i], "LANGX", 5) == 0 || strncmp(p->envp[i], "XLANG", 5) == 0 ||
                    strncmp(p->envp[i], "TZDIR", 5) == 0 || p->envp[i][0] == '=' ||
                    !strchr(p->envp[i], '='))
                        fail_msg("envp holds \"%s\"", p->envp[i]);
        }
        /* The fixed entries win over the caller's, and appear once. */
        assert_int_equal(env_count(p->envp, "PATH="), 1);
        assert_int_equal(env_count(p->envp, "PATH=/usr/local/bin:/usr/bin:/bin"), 1);
        assert_int_equal(env_count(p->envp, "HOME="), 1);
        assert_int_equal(env_count(p->envp, "HOME=/tmp"), 1);
        /* The allowed names pass with their values. */
        assert_int_equal(env_count(p->envp, "LANG="), 1);
        assert_int_equal(env_count(p->envp, "LANG=de_DE.UTF-8"), 1);
        assert_int_equal(env_count(p->envp, "LC_ALL=C.UTF-8"), 1);
        assert_int_equal(env_count(p->envp, "LC_CTYPE=de_DE.UTF-8"), 1);
        assert_int_equal(env_count(p->envp, "LC_MESSAGES=C"), 1);
        assert_int_equal(env_count(p->envp, "TZ=Europe/Berlin"), 1);
}

static void plan_env_passes_every_lc_category(void **state)
{
        char *in[] = {
                "LC_NUMERIC=de_DE.UTF-8",  "LC_TIME=en_GB.UTF-8",  "LC_COLLATE=C",
                "LC_MONETARY=de_DE.UTF-8", "LC_PAPER=de_DE.UTF-8", NULL,
        };
        struct cd_plan *p = new_plan(in);

        (void) state;
        for (size_t i = 0; in[i]; i++)
                if (env_count(p->envp, in[i]) != 1)
                        fail_msg("\"%s\" did not reach the job (LC_* is allowed)", in[i]);
}

static void plan_env_defaults_lang(void **state)
{
        char *in[] = { "TZ=UTC", "LC_ALL=C", NULL };
        struct cd_plan *p = new_plan(in);
        struct cd_plan *q = new_plan(NULL);

        (void) state;
        assert_int_equal(env_count(p->envp, "LANG="), 1);
        assert_int_equal(env_count(p->envp, "LANG=C.UTF-8"), 1);
        assert_int_equal(env_count(q->envp, "LANG=C.UTF-8"), 1);
        assert_int_equal(env_count(q->envp, "PATH=/usr/local/bin:/usr/bin:/bin"), 1);
        assert_int_equal(env_count(q->envp, "HOME=/tmp"), 1);
        assert_int_equal(env_count(q->envp, "TZ="), 0);
}

static void plan_new_host_is_valid_and_owns_its_copy(void **state)
{
        char arg0[] = "python3";
        char *argv[] = { arg0, "-c", "print(1)", NULL };
        struct cd_plan *p = NULL;
        struct cd_err e = { 0 };
        bool have_usr = false;

        (void) state;
        assert_int_equal(cd_plan_new_host(argv, NULL, &p, &e), 0);
        ut_defer(plan_free, p);
        arg0[0] = 'X';
        assert_int_equal(cd_strv_length(p->argv), 3);
        assert_string_equal(p->argv[0], "python3");
        assert_true(p->job_uid != 0 && p->job_gid != 0);
        assert_int_equal(cd_plan_validate(p, &e), 0);
        for (size_t i = 0; i < p->n_binds; i++) {
                assert_true(cd_path_is_clean_absolute(p->binds[i].source));
                assert_true(cd_path_is_clean_absolute(p->binds[i].target));
                if (strcmp(p->binds[i].target, "/usr") == 0)
                        have_usr = true;
        }
        assert_true(have_usr);
        assert_null(cd_plan_free(NULL));
}

/* ---- binds ---- */

static void plan_add_bind_accepts_clean_paths(void **state)
{
        struct cd_plan *p = new_plan(NULL);
        struct cd_err e = { 0 };
        size_t n = p->n_binds;
        char src[] = "/srv/data";

        (void) state;
        assert_int_equal(cd_plan_add_bind(p, src, "/data", false, &e), 0);
        assert_int_equal(cd_plan_add_bind(p, "/opt/R", "/opt/R", true, &e), 0);
        src[1] = 'X';
        assert_int_equal(p->n_binds, n + 2);
        assert_string_equal(p->binds[n].source, "/srv/data");
        assert_string_equal(p->binds[n].target, "/data");
        assert_false(p->binds[n].optional);
        assert_true(p->binds[n + 1].optional);
}

static void plan_add_bind_refuses_unclean_paths(void **state)
{
        static const char *const pairs[][2] = {
                { "srv", "/srv" },     { "/srv", "srv" },    { "/srv/../etc", "/x" },
                { "/srv", "/x/../y" }, { "//srv", "/srv" },  { "/srv/", "/srv" },
                { "/srv", "/srv/" },   { "/srv/./a", "/a" }, { "", "/a" },
                { "/a", "" },          { "/", "/" },         { "/srv", "/" },
        };
        struct cd_plan *p = new_plan(NULL);
        size_t n = p->n_binds;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
                struct cd_err e = { 0 };
                int r = cd_plan_add_bind(p, pairs[i][0], pairs[i][1], false, &e);

                if (r != -CD_E_INVALID || e.code != CD_E_INVALID || strncmp(e.msg, "bind:", 5))
                        fail_msg("bind \"%s\" -> \"%s\": %d \"%s\"", pairs[i][0], pairs[i][1], r,
                                 e.msg);
        }
        assert_int_equal(p->n_binds, n);
}

/* ---- cd_plan_validate ---- */

static void expect_invalid(const struct cd_plan *p, const char *needle)
{
        struct cd_err e = { 0 };
        int r = cd_plan_validate(p, &e);

        if (r != -CD_E_INVALID || e.code != CD_E_INVALID)
                fail_msg("plan accepted (r=%d), expected a refusal naming \"%s\"", r, needle);
        if (!strstr(e.msg, needle))
                fail_msg("message \"%s\" does not mention \"%s\"", e.msg, needle);
}

/* Replace a string of @p with a copy of @v (NULL allowed): the plan keeps
 * owning everything it points to, whatever assertion fails. */
static void set_str(char **field, const char *v)
{
        free(*field);
        *field = v ? strdup(v) : NULL;
        assert_true(!v || *field);
}

static void set_strv(char ***field, char *const *v)
{
        cd_strv_free(*field);
        *field = v ? cd_strv_copy(v) : NULL;
        assert_true(!v || *field);
}

static void plan_validate_refuses_no_command(void **state)
{
        struct cd_plan *p = new_plan(NULL);
        char *none[] = { NULL };
        char *empty[] = { "", NULL };

        (void) state;
        set_strv(&p->argv, none);
        expect_invalid(p, "command");
        set_strv(&p->argv, empty);
        expect_invalid(p, "command");
        set_strv(&p->argv, NULL);
        expect_invalid(p, "command");
}

static void plan_validate_refuses_root(void **state)
{
        struct cd_plan *p = new_plan(NULL);

        (void) state;
        p->job_uid = 0;
        expect_invalid(p, "uid");
        p->job_uid = 1000;
        p->job_gid = 0;
        expect_invalid(p, "gid");
}

static void plan_validate_refuses_bad_workdir(void **state)
{
        static const char *const bad[] = { "work", "/work/../etc", "/work/", "" };
        struct cd_plan *p = new_plan(NULL);

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                set_str(&p->workdir, bad[i]);
                expect_invalid(p, "workdir");
        }
        set_str(&p->workdir, NULL);
        expect_invalid(p, "workdir");
}

static void plan_validate_hostname_length(void **state)
{
        struct cd_plan *p = new_plan(NULL);
        char name[66];
        struct cd_err e = { 0 };

        (void) state;
        memset(name, 'a', sizeof(name));
        name[64] = '\0';
        set_str(&p->hostname, name);
        assert_int_equal(cd_plan_validate(p, &e), 0);
        name[64] = 'a';
        name[65] = '\0';
        set_str(&p->hostname, name);
        expect_invalid(p, "hostname");
        set_str(&p->hostname, "");
        expect_invalid(p, "hostname");
        set_str(&p->hostname, NULL);
        expect_invalid(p, "hostname");
}

/* The hostname is written into the sandbox's /etc/hosts and /etc/hostname
 * (sandbox/rootfs.c): a newline or blank there adds host entries. */
static void plan_validate_refuses_hostname_with_bad_characters(void **state)
{
        static const char *const bad[] = {
                "a\nb", "db.internal\n10.0.0.1 db", "a b", "a\tb", "a/b", "a\\b", "a#b",
        };
        struct cd_plan *p = new_plan(NULL);

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                set_str(&p->hostname, bad[i]);
                expect_invalid(p, "hostname");
        }
}

static void plan_validate_refuses_etc_paths(void **state)
{
        struct cd_plan *p = new_plan(NULL);
        char *slash[] = { "passwd", "ssl/private", NULL };
        char *dotdot[] = { "..", NULL };
        char *dot[] = { ".ssh", NULL };

        (void) state;
        set_strv(&p->etc_allow, slash);
        expect_invalid(p, "/etc");
        set_strv(&p->etc_allow, dotdot);
        expect_invalid(p, "/etc");
        set_strv(&p->etc_allow, dot);
        expect_invalid(p, "/etc");
}

static void plan_validate_checks_limits(void **state)
{
        struct cd_plan *p = new_plan(NULL);

        (void) state;
        p->limits.memory_max_bytes = CD_MAX_MEMORY_BYTES + 1;
        expect_invalid(p, "--memory");
        p->limits.memory_max_bytes = 1ULL << 30;
        p->limits.nofile = 0;
        expect_invalid(p, "--nofile");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(limits_default_values, teardown),
                cmocka_unit_test_teardown(limits_validate_boundaries, teardown),
                cmocka_unit_test_teardown(path_clean_absolute_accepts, teardown),
                cmocka_unit_test_teardown(path_clean_absolute_refuses, teardown),
                cmocka_unit_test_teardown(plan_env_drops_secrets, teardown),
                cmocka_unit_test_teardown(plan_env_passes_every_lc_category, teardown),
                cmocka_unit_test_teardown(plan_env_defaults_lang, teardown),
                cmocka_unit_test_teardown(plan_new_host_is_valid_and_owns_its_copy, teardown),
                cmocka_unit_test_teardown(plan_add_bind_accepts_clean_paths, teardown),
                cmocka_unit_test_teardown(plan_add_bind_refuses_unclean_paths, teardown),
                cmocka_unit_test_teardown(plan_validate_refuses_no_command, teardown),
                cmocka_unit_test_teardown(plan_validate_refuses_root, teardown),
                cmocka_unit_test_teardown(plan_validate_refuses_bad_workdir, teardown),
                cmocka_unit_test_teardown(plan_validate_hostname_length, teardown),
                cmocka_unit_test_teardown(plan_validate_refuses_hostname_with_bad_characters,
                                          teardown),
                cmocka_unit_test_teardown(plan_validate_refuses_etc_paths, teardown),
                cmocka_unit_test_teardown(plan_validate_checks_limits, teardown),
        };

        return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
