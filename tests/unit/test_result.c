/* SPDX-License-Identifier: MIT */
/*
 * launcher/result.c: verdict names, the exit status of `cordon run` and the
 * result as JSON (what web apps and scripts read).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cordon/cleanup.h"
#include "cordon/result.h"
#include "unit.h"

static void json_put(void *j)
{
        json_decref(j);
}

/* JSON values are released in teardown, failed assertion or not. */
static int teardown(void **state)
{
        (void) state;
        ut_run_deferred();
        return 0;
}

/* The verdicts of DESIGN.md, spelled exactly, in enum order. */
static const struct {
        enum cd_verdict v;
        const char *name;
} names[] = {
        { CD_VERDICT_OK, "ok" },
        { CD_VERDICT_FAILED, "failed" },
        { CD_VERDICT_SIGNALED, "signaled" },
        { CD_VERDICT_TIMEOUT, "timeout" },
        { CD_VERDICT_CPU_LIMIT, "cpu_limit" },
        { CD_VERDICT_OOM, "oom" },
        { CD_VERDICT_OUTPUT_LIMIT, "output_limit" },
        { CD_VERDICT_CANCELLED, "cancelled" },
        { CD_VERDICT_REJECTED, "rejected" },
        { CD_VERDICT_SETUP_ERROR, "setup_error" },
};

static void verdict_names_round_trip(void **state)
{
        (void) state;
        assert_int_equal(ELEMENTSOF(names), _CD_VERDICT_MAX);
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                enum cd_verdict back = _CD_VERDICT_MAX;
                const char *s = cd_verdict_to_string(names[i].v);

                assert_non_null(s);
                assert_string_equal(s, names[i].name);
                assert_int_equal(cd_verdict_from_string(names[i].name, &back), 0);
                assert_int_equal(back, names[i].v);
        }
}

static void verdict_invalid_values(void **state)
{
        static const char *const bad[] = {
                "",         "OK",  "Ok",  "setup-error", "setup error", "signalled",
                "canceled", "ok ", " ok", "timeout\n",   "unknown",
        };

        (void) state;
        assert_null(cd_verdict_to_string(_CD_VERDICT_MAX));
        assert_null(cd_verdict_to_string((enum cd_verdict) - 1));
        assert_null(cd_verdict_to_string((enum cd_verdict) 1000));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                enum cd_verdict v = CD_VERDICT_OK;

                if (cd_verdict_from_string(bad[i], &v) != -EINVAL)
                        fail_msg("\"%s\" parsed as a verdict", bad[i]);
                assert_int_equal(v, CD_VERDICT_OK); /* untouched */
        }
}

static struct cd_result result(enum cd_verdict v, int exit_code, int sig)
{
        struct cd_result r = { .verdict = v, .exit_code = exit_code, .signal = sig };

        cd_limits_default(&r.limits);
        r.cgroup_mode = "v2";
        return r;
}

static void exit_status_job_status_for_ok_and_failed(void **state)
{
        struct cd_result r;

        (void) state;
        r = result(CD_VERDICT_OK, 0, 0);
        assert_int_equal(cd_result_exit_status(&r), 0);
        r = result(CD_VERDICT_FAILED, 1, 0);
        assert_int_equal(cd_result_exit_status(&r), 1);
        r = result(CD_VERDICT_FAILED, 3, 0);
        assert_int_equal(cd_result_exit_status(&r), 3);
        r = result(CD_VERDICT_FAILED, 255, 0);
        assert_int_equal(cd_result_exit_status(&r), 255);
}

static void exit_status_signal_is_128_plus_n(void **state)
{
        struct cd_result r;

        (void) state;
        r = result(CD_VERDICT_SIGNALED, -1, SIGKILL);
        assert_int_equal(cd_result_exit_status(&r), 137);
        r = result(CD_VERDICT_SIGNALED, -1, SIGTERM);
        assert_int_equal(cd_result_exit_status(&r), 143);
        r = result(CD_VERDICT_SIGNALED, -1, SIGSEGV);
        assert_int_equal(cd_result_exit_status(&r), 139);
}

static void exit_status_fixed_codes(void **state)
{
        static const struct {
                enum cd_verdict v;
                int status;
        } fixed[] = {
                { CD_VERDICT_TIMEOUT, 124 },   { CD_VERDICT_CPU_LIMIT, 121 },
                { CD_VERDICT_OOM, 122 },       { CD_VERDICT_OUTPUT_LIMIT, 120 },
                { CD_VERDICT_CANCELLED, 123 }, { CD_VERDICT_SETUP_ERROR, 125 },
                { CD_VERDICT_REJECTED, 64 },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++) {
                /* The verdict decides, whatever the job's own status was. */
                struct cd_result a = result(fixed[i].v, 0, 0);
                struct cd_result b = result(fixed[i].v, -1, SIGKILL);
                struct cd_result c = result(fixed[i].v, 1, 0);

                if (cd_result_exit_status(&a) != fixed[i].status ||
                    cd_result_exit_status(&b) != fixed[i].status ||
                    cd_result_exit_status(&c) != fixed[i].status)
                        fail_msg("%s: exit status %d/%d/%d, expected %d",
                                 cd_verdict_to_string(fixed[i].v), cd_result_exit_status(&a),
                                 cd_result_exit_status(&b), cd_result_exit_status(&c),
                                 fixed[i].status);
        }
        assert_int_equal(CD_EXIT_TIMEOUT, 124);
        assert_int_equal(CD_EXIT_USAGE, 64);
}

/* A command that could not be executed is verdict "failed" with no exit
 * code. 125 would tell a script the sandbox broke (setup_error); the shell's
 * 127 (not found) and 126 (cannot execute) are what result.h reserves. */
static void exit_status_exec_failure_is_not_setup_error(void **state)
{
        struct cd_result r = result(CD_VERDICT_FAILED, -1, 0);

        (void) state;
        r.exec_failed = true;
        r.error.code = ENOENT;
        (void) snprintf(r.error.msg, sizeof(r.error.msg), "exec: No such file or directory");
        assert_int_equal(cd_result_exit_status(&r), CD_EXIT_NOT_FOUND);
        r.error.code = EACCES;
        assert_int_equal(cd_result_exit_status(&r), CD_EXIT_CANNOT_EXEC);
}

/* Output the runner could not store: ok and failed become setup_error (125)
 * with the job's exit code kept; a verdict that says the job did not finish
 * stands. */
static void output_lost_is_the_runners_failure(void **state)
{
        static const enum cd_verdict stands[] = { CD_VERDICT_TIMEOUT,      CD_VERDICT_OOM,
                                                  CD_VERDICT_CPU_LIMIT,    CD_VERDICT_SIGNALED,
                                                  CD_VERDICT_OUTPUT_LIMIT, CD_VERDICT_CANCELLED };
        struct cd_result r = result(CD_VERDICT_OK, 0, 0);

        (void) state;
        cd_result_output_lost(&r);
        assert_true(r.output_lost);
        assert_int_equal(r.verdict, CD_VERDICT_SETUP_ERROR);
        assert_int_equal(r.exit_code, 0);
        assert_int_equal(cd_result_exit_status(&r), CD_EXIT_SETUP_ERROR);
        r = result(CD_VERDICT_FAILED, 3, 0);
        cd_result_output_lost(&r);
        assert_int_equal(r.verdict, CD_VERDICT_SETUP_ERROR);
        assert_int_equal(r.exit_code, 3);
        /* A command that could not be executed: 127 says more than 125. */
        r = result(CD_VERDICT_FAILED, -1, 0);
        r.exec_failed = true;
        r.error.code = ENOENT;
        cd_result_output_lost(&r);
        assert_true(r.output_lost);
        assert_int_equal(r.verdict, CD_VERDICT_FAILED);
        assert_int_equal(cd_result_exit_status(&r), CD_EXIT_NOT_FOUND);
        for (size_t i = 0; i < sizeof(stands) / sizeof(stands[0]); i++) {
                r = result(stands[i], -1, 0);
                cd_result_output_lost(&r);
                assert_int_equal(r.verdict, stands[i]);
        }
}

/* ---- JSON ---- */

static json_t *get(json_t *o, const char *key, json_type type)
{
        json_t *v = json_object_get(o, key);

        if (!v)
                fail_msg("JSON has no \"%s\"", key);
        if (json_typeof(v) != type)
                fail_msg("\"%s\" has JSON type %d, expected %d", key, (int) json_typeof(v),
                         (int) type);
        return v;
}

static json_int_t get_int(json_t *o, const char *key)
{
        return json_integer_value(get(o, key, JSON_INTEGER));
}

/* Dump and parse again: what a client reads is valid JSON. */
static json_t *to_json(const struct cd_result *r)
{
        json_t *j = cd_result_to_json(r);
        char *text;
        json_t *back;

        assert_non_null(j);
        text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        assert_non_null(text);
        back = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        free(text);
        assert_non_null(back);
        return ut_defer(json_put, back);
}

static void json_ok_result_fields_and_types(void **state)
{
        struct cd_result r = result(CD_VERDICT_OK, 0, 0);
        json_t *j, *out, *lim, *sb;

        (void) state;
        r.wall_ms = 1234;
        r.user_cpu_ms = 10;
        r.system_cpu_ms = 5;
        r.peak_memory_bytes = 1ULL << 40;
        r.oom_kills = 2;
        r.pids_limit_hits = 3;
        r.stdout_bytes = 100;
        r.stderr_bytes = 7;
        r.stderr_truncated = true;
        r.host_uid = 4294967294u;
        r.landlock_abi = 4;
        j = to_json(&r);

        assert_string_equal(json_string_value(get(j, "verdict", JSON_STRING)), "ok");
        assert_int_equal(get_int(j, "exit_code"), 0);
        (void) get(j, "signal", JSON_NULL);
        assert_int_equal(get_int(j, "wall_ms"), 1234);
        assert_int_equal(get_int(j, "user_cpu_ms"), 10);
        assert_int_equal(get_int(j, "system_cpu_ms"), 5);
        assert_true(get_int(j, "peak_memory_bytes") == (json_int_t) (1ULL << 40));
        assert_int_equal(get_int(j, "oom_kills"), 2);
        assert_int_equal(get_int(j, "pids_limit_hits"), 3);

        out = get(j, "output", JSON_OBJECT);
        assert_int_equal(get_int(out, "stdout_bytes"), 100);
        (void) get(out, "stdout_truncated", JSON_FALSE);
        assert_int_equal(get_int(out, "stderr_bytes"), 7);
        (void) get(out, "stderr_truncated", JSON_TRUE);

        lim = get(j, "limits", JSON_OBJECT);
        assert_true(get_int(lim, "memory_bytes") == (json_int_t) (1ULL << 30));
        assert_true(json_real_value(get(lim, "cpus", JSON_REAL)) == 0.5);
        assert_int_equal(get_int(lim, "wall_ms"), 300000);
        assert_int_equal(get_int(lim, "cpu_time_ms"), 0);
        assert_int_equal(get_int(lim, "pids"), r.limits.pids_max);
        assert_int_equal(get_int(lim, "nofile"), r.limits.nofile);
        assert_int_equal(get_int(lim, "grace_ms"), r.limits.grace_ms);
        assert_true(get_int(lim, "tmp_bytes") == (json_int_t) r.limits.tmp_size_bytes);
        assert_true(get_int(lim, "out_bytes") == (json_int_t) r.limits.out_size_bytes);
        assert_true(get_int(lim, "fsize_bytes") == (json_int_t) r.limits.fsize_bytes);

        sb = get(j, "sandbox", JSON_OBJECT);
        assert_string_equal(json_string_value(get(sb, "cgroup", JSON_STRING)), "v2");
        assert_true(get_int(sb, "host_uid") == 4294967294LL);
        assert_int_equal(get_int(sb, "landlock_abi"), 4);

        /* "error" only when there is one. */
        assert_null(json_object_get(j, "error"));
}

static void json_signal_and_missing_exit_code(void **state)
{
        struct cd_result r = result(CD_VERDICT_SIGNALED, -1, SIGKILL);
        json_t *j;

        (void) state;
        j = to_json(&r);
        assert_string_equal(json_string_value(get(j, "verdict", JSON_STRING)), "signaled");
        (void) get(j, "exit_code", JSON_NULL);
        assert_string_equal(json_string_value(get(j, "signal", JSON_STRING)), "SIGKILL");

        r = result(CD_VERDICT_TIMEOUT, -1, SIGTERM);
        j = to_json(&r);
        assert_string_equal(json_string_value(get(j, "signal", JSON_STRING)), "SIGTERM");
}

static void json_error_only_when_set(void **state)
{
        struct cd_result r = result(CD_VERDICT_SETUP_ERROR, -1, 0);
        json_t *j;

        (void) state;
        r.error.code = EPERM;
        (void) snprintf(r.error.msg, sizeof(r.error.msg), "%s",
                        "mount: bind-ro \"/usr\": Operation not permitted\n\ttab");
        j = to_json(&r);
        assert_string_equal(json_string_value(get(j, "verdict", JSON_STRING)), "setup_error");
        assert_string_equal(json_string_value(get(j, "error", JSON_STRING)),
                            "mount: bind-ro \"/usr\": Operation not permitted\n\ttab");
}

static void json_verdict_names_match(void **state)
{
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                struct cd_result r = result(names[i].v, 0, 0);
                json_t *j = to_json(&r);

                assert_string_equal(json_string_value(get(j, "verdict", JSON_STRING)),
                                    names[i].name);
        }
}

/* err.msg is cut at 511 bytes by snprintf, which can split a UTF-8 sequence
 * (a long admin path with "é"). The result must still be produced: losing it
 * hides why the job failed. */
static void json_error_with_invalid_utf8(void **state)
{
        struct cd_result r = result(CD_VERDICT_SETUP_ERROR, -1, 0);
        json_t *j;
        const char *s;

        (void) state;
        r.error.code = ENOENT;
        (void) snprintf(r.error.msg, sizeof(r.error.msg), "%s", "rootfs: bind /srv/caf\xc3");
        j = ut_defer(json_put, cd_result_to_json(&r));
        assert_non_null(j);
        s = json_string_value(json_object_get(j, "error"));
        assert_non_null(s);
        assert_memory_equal(s, "rootfs: bind /srv/caf", 21);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(verdict_names_round_trip, teardown),
                cmocka_unit_test_teardown(verdict_invalid_values, teardown),
                cmocka_unit_test_teardown(exit_status_job_status_for_ok_and_failed, teardown),
                cmocka_unit_test_teardown(exit_status_signal_is_128_plus_n, teardown),
                cmocka_unit_test_teardown(exit_status_fixed_codes, teardown),
                cmocka_unit_test_teardown(exit_status_exec_failure_is_not_setup_error, teardown),
                cmocka_unit_test_teardown(output_lost_is_the_runners_failure, teardown),
                cmocka_unit_test_teardown(json_ok_result_fields_and_types, teardown),
                cmocka_unit_test_teardown(json_signal_and_missing_exit_code, teardown),
                cmocka_unit_test_teardown(json_error_only_when_set, teardown),
                cmocka_unit_test_teardown(json_verdict_names_match, teardown),
                cmocka_unit_test_teardown(json_error_with_invalid_utf8, teardown),
        };

        return cmocka_run_group_tests_name("result", tests, NULL, NULL);
}
