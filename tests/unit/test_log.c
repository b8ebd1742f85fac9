/* SPDX-License-Identifier: MIT */
/*
 * common/log.c: one key=value record per call on stderr, struct cd_err
 * messages quoted with control characters escaped, level filtering.
 * stderr is captured through a pipe around each call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cordon/cleanup.h"
#include "cordon/log.h"
#include "unit.h"

typedef void log_fn(const void *arg);

/* What @fn(@arg) writes to stderr (heap string). */
static char *capture(log_fn *fn, const void *arg)
{
        char *buf = NULL;
        size_t len = 0;
        int p[2], saved, r;

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        assert_true(saved >= 0);
        assert_int_equal(dup3(p[1], STDERR_FILENO, 0), STDERR_FILENO);
        fn(arg);
        /* Restore stderr before any assertion can print to it. */
        r = dup3(saved, STDERR_FILENO, 0);
        (void) close(saved);
        (void) close(p[1]);
        assert_int_equal(r, STDERR_FILENO);
        assert_int_equal(ut_read_available(p[0], &buf, &len), 1);
        (void) close(p[0]);
        ut_defer(free, buf);
        assert_int_equal(strlen(buf), len); /* no NUL bytes in a record */
        return buf;
}

static int teardown(void **state)
{
        (void) state;
        cd_log_set_level(CD_LOG_INFO);
        ut_run_deferred();
        return 0;
}

static void log_err_error(const void *arg)
{
        cd_log_err(CD_LOG_ERROR, NULL, arg);
}

static void log_err_warn_job(const void *arg)
{
        cd_log_err(CD_LOG_WARN, "5f0c9a", arg);
}

static struct cd_err make_err(const char *msg)
{
        struct cd_err e = { .code = EPERM };

        (void) snprintf(e.msg, sizeof(e.msg), "%s", msg);
        return e;
}

static void log_err_escapes_quotes_backslashes_controls(void **state)
{
        struct cd_err e = make_err("say \"hi\" \\ back\nnew\tline\r\x01\x1f\x7f end");
        char *out = NULL;

        (void) state;
        out = capture(log_err_error, &e);
        assert_string_equal(out, "level=error msg=\"say \\\"hi\\\" \\\\ back\\x0anew\\x09line"
                                 "\\x0d\\x01\\x1f\\x7f end\"\n");
}

static void log_err_names_job_first(void **state)
{
        struct cd_err e = make_err("cgroup busy, retrying");
        char *out = NULL;

        (void) state;
        out = capture(log_err_warn_job, &e);
        assert_string_equal(out, "level=warn job=5f0c9a msg=\"cgroup busy, retrying\"\n");
}

static void log_err_keeps_utf8(void **state)
{
        struct cd_err e = make_err("profile caf\xc3\xa9");
        char *out = NULL;

        (void) state;
        out = capture(log_err_error, &e);
        assert_string_equal(out, "level=error msg=\"profile caf\xc3\xa9\"\n");
}

/* The worst case, a whole message of control characters, is still one
 * record with its quote closed and no raw control byte. */
static void log_err_long_escaped_message_stays_well_formed(void **state)
{
        struct cd_err e = { .code = EIO };
        char *out = NULL;
        size_t len;

        (void) state;
        memset(e.msg, '\x01', sizeof(e.msg) - 1);
        e.msg[sizeof(e.msg) - 1] = '\0';
        out = capture(log_err_error, &e);
        len = strlen(out);
        assert_true(len >= 2);
        assert_ptr_equal(strchr(out, '\n'), out + len - 1);
        for (size_t i = 0; i + 1 < len; i++)
                if ((unsigned char) out[i] < 0x20 || out[i] == 0x7f)
                        fail_msg("raw control byte 0x%02x at %zu", (unsigned char) out[i], i);
        if (out[len - 2] != '"')
                fail_msg("record does not close its quote: ...%s", out + len - 12);
}

struct plain {
        enum cd_log_level level;
        const char *job;
};

static void log_plain(const void *arg)
{
        const struct plain *p = arg;

        cd_log(p->level, p->job, "slot=%d uid=%u", 3, 1879048195u);
}

static char *log_at(enum cd_log_level level, const char *job)
{
        struct plain p = { level, job };

        return capture(log_plain, &p);
}

/* Runs first: the level a fresh process starts with. */
static void default_level_is_info(void **state)
{
        char *debug = NULL;
        char *info = NULL;

        (void) state;
        debug = log_at(CD_LOG_DEBUG, NULL);
        info = log_at(CD_LOG_INFO, NULL);
        assert_string_equal(debug, "");
        assert_string_equal(info, "level=info slot=3 uid=1879048195\n");
}

static void log_record_format(void **state)
{
        char *a = NULL;
        char *b = NULL;

        (void) state;
        a = log_at(CD_LOG_WARN, "abc123");
        assert_string_equal(a, "level=warn job=abc123 slot=3 uid=1879048195\n");
        b = log_at(CD_LOG_ERROR, NULL);
        assert_string_equal(b, "level=error slot=3 uid=1879048195\n");
}

static void level_filtering(void **state)
{
        static const struct {
                enum cd_log_level set;
                bool shown[4]; /* error, warn, info, debug */
        } cases[] = {
                { CD_LOG_ERROR, { true, false, false, false } },
                { CD_LOG_WARN, { true, true, false, false } },
                { CD_LOG_INFO, { true, true, true, false } },
                { CD_LOG_DEBUG, { true, true, true, true } },
        };

        (void) state;
        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                cd_log_set_level(cases[c].set);
                for (int l = CD_LOG_ERROR; l <= CD_LOG_DEBUG; l++) {
                        char *out = log_at((enum cd_log_level) l, NULL);
                        bool shown = out[0] != '\0';

                        if (shown != cases[c].shown[l])
                                fail_msg("level %d at threshold %d: %s", l, (int) cases[c].set,
                                         shown ? "shown" : "dropped");
                }
        }
}

static void level_from_string(void **state)
{
        static const struct {
                const char *s;
                enum cd_log_level l;
        } ok[] = {
                { "error", CD_LOG_ERROR },
                { "warn", CD_LOG_WARN },
                { "info", CD_LOG_INFO },
                { "debug", CD_LOG_DEBUG },
        };
        static const char *const bad[] = { "", "WARN", "warning", "err", "info ", "trace" };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                enum cd_log_level l = (enum cd_log_level) 99;

                assert_int_equal(cd_log_level_from_string(ok[i].s, &l), 0);
                assert_int_equal(l, ok[i].l);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                enum cd_log_level l = CD_LOG_WARN;

                if (cd_log_level_from_string(bad[i], &l) != -EINVAL)
                        fail_msg("\"%s\" accepted as a level", bad[i]);
                assert_int_equal(l, CD_LOG_WARN);
        }
}

static void log_long(const void *arg)
{
        cd_log_info(NULL, "detail=%s", (const char *) arg);
}

static void long_record_is_one_line(void **state)
{
        char *big = ut_defer(free, malloc(5001));
        char *out = NULL;
        size_t len;

        (void) state;
        assert_non_null(big);
        memset(big, 'a', 5000);
        big[5000] = '\0';
        out = capture(log_long, big);
        len = strlen(out);
        /* Cut, and within PIPE_BUF: a write(2) that large is atomic on a
         * pipe, so records from several threads never interleave. */
        assert_true(len > 1000 && len <= PIPE_BUF);
        assert_ptr_equal(strchr(out, '\n'), out + len - 1);
        assert_memory_equal(out, "level=info detail=aaa", 21);
}

static int errno_after; /* errno right after the logging call */

static void log_dropped(const void *arg)
{
        (void) arg;
        errno = EBADF;
        cd_log_debug(NULL, "x=1");
        errno_after = errno;
}

static void log_shown(const void *arg)
{
        (void) arg;
        errno = EBADF;
        cd_log_error(NULL, "x=1");
        errno_after = errno;
}

/* Run @fn with stderr a pipe nobody reads, so the record's write(2) fails. */
static void with_broken_stderr(log_fn *fn)
{
        struct sigaction ign = { .sa_handler = SIG_IGN }, old;
        int p[2], saved, r;

        assert_int_equal(sigaction(SIGPIPE, &ign, &old), 0);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        (void) close(p[0]);
        saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        assert_true(saved >= 0);
        assert_int_equal(dup3(p[1], STDERR_FILENO, 0), STDERR_FILENO);
        fn(NULL);
        r = dup3(saved, STDERR_FILENO, 0);
        (void) close(saved);
        (void) close(p[1]);
        (void) sigaction(SIGPIPE, &old, NULL);
        assert_int_equal(r, STDERR_FILENO);
}

/* Callers log and then use errno ("..., ignoring: %m"): logging keeps it,
 * even when writing the record fails. */
static void logging_keeps_errno(void **state)
{
        char *a = NULL;

        (void) state;
        cd_log_set_level(CD_LOG_INFO);
        errno_after = 0;
        a = capture(log_shown, NULL);
        assert_int_equal(errno_after, EBADF);
        assert_string_equal(a, "level=error x=1\n");
        errno_after = 0;
        with_broken_stderr(log_shown);
        assert_int_equal(errno_after, EBADF);
        errno_after = 0;
        with_broken_stderr(log_dropped);
        assert_int_equal(errno_after, EBADF);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(default_level_is_info, teardown),
                cmocka_unit_test_teardown(log_err_escapes_quotes_backslashes_controls, teardown),
                cmocka_unit_test_teardown(log_err_names_job_first, teardown),
                cmocka_unit_test_teardown(log_err_keeps_utf8, teardown),
                cmocka_unit_test_teardown(log_err_long_escaped_message_stays_well_formed, teardown),
                cmocka_unit_test_teardown(log_record_format, teardown),
                cmocka_unit_test_teardown(level_filtering, teardown),
                cmocka_unit_test_teardown(level_from_string, teardown),
                cmocka_unit_test_teardown(long_record_is_one_line, teardown),
                cmocka_unit_test_teardown(logging_keeps_errno, teardown),
        };

        return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
