/* SPDX-License-Identifier: MIT */
/*
 * common/: the parsers every flag and profile value goes through, struct
 * cd_err formatting, the small-file and pipe I/O helpers, strv helpers and
 * cd_hex(), cd_random_hex(). Wraps: openat, write, read, getrandom.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cordon/cleanup.h"
#include "cordon/err.h"
#include "cordon/util.h"
#include "unit.h"
#include "wrap.h"

#define SENTINEL 0x5a5a5a5a5a5a5a5aULL

struct fixture {
        char *dir;
        int dirfd;
};

static int setup_dir(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        f->dirfd = -1;
        f->dir = ut_mkdtemp();
        if (f->dir)
                f->dirfd = ut_open_dir(f->dir);
        *state = f;
        return f->dirfd < 0 ? -1 : 0;
}

static int teardown_dir(void **state)
{
        struct fixture *f = *state;

        cd_wrap_reset();
        ut_run_deferred();
        if (!f)
                return 0;
        if (f->dirfd >= 0)
                (void) close(f->dirfd);
        (void) ut_rm_rf(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

static int teardown(void **state)
{
        (void) state;
        cd_wrap_reset();
        ut_run_deferred();
        return 0;
}

static void strv_free(void *v)
{
        cd_strv_free(v);
}

/* ---- parsers ---- */

struct parse_case {
        const char *in;
        int r;          /* expected return */
        uint64_t value; /* expected value when r == 0 */
};

typedef int parse_fn(const char *s, uint64_t *ret);

static void check_cases(parse_fn *parse, const char *fn, const struct parse_case *c, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                uint64_t v = SENTINEL;
                int r = parse(c[i].in, &v);

                if (r != c[i].r)
                        fail_msg("%s(\"%s\") returned %d, expected %d", fn, c[i].in, r, c[i].r);
                if (c[i].r == 0 && v != c[i].value)
                        fail_msg("%s(\"%s\") gave %llu, expected %llu", fn, c[i].in,
                                 (unsigned long long) v, (unsigned long long) c[i].value);
                /* ret_ parameters are written only on success. */
                if (c[i].r != 0 && v != SENTINEL)
                        fail_msg("%s(\"%s\") failed but wrote its output", fn, c[i].in);
        }
}

#define CHECK_CASES(fn, cases) check_cases(fn, #fn, cases, ELEMENTSOF(cases))

static void parse_u64_accepts_decimal(void **state)
{
        static const struct parse_case cases[] = {
                { "0", 0, 0 },
                { "1", 0, 1 },
                { "42", 0, 42 },
                { "4294967296", 0, 4294967296ULL },
                { "18446744073709551615", 0, UINT64_MAX },
        };

        (void) state;
        CHECK_CASES(cd_parse_u64, cases);
}

static void parse_u64_refuses_junk_and_overflow(void **state)
{
        static const struct parse_case cases[] = {
                { "", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "-0", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 ", -EINVAL, 0 },
                { "\t1", -EINVAL, 0 },
                { "1\n", -EINVAL, 0 },
                { "1a", -EINVAL, 0 },
                { "0x10", -EINVAL, 0 },
                { "1.0", -EINVAL, 0 },
                { "1e3", -EINVAL, 0 },
                { "18446744073709551616", -ERANGE, 0 }, /* exactly 2^64 */
                { "18446744073709551620", -ERANGE, 0 },
                { "99999999999999999999", -ERANGE, 0 },
                { "184467440737095516150", -ERANGE, 0 },
        };
        uint64_t v = SENTINEL;

        (void) state;
        CHECK_CASES(cd_parse_u64, cases);
        assert_int_equal(cd_parse_u64(NULL, &v), -EINVAL);
        assert_true(v == SENTINEL);
}

static void parse_size_accepts_suffixes(void **state)
{
        static const struct parse_case cases[] = {
                { "0", 0, 0 },
                { "1", 0, 1 },
                { "1B", 0, 1 },
                { "1K", 0, 1024 },
                { "1KiB", 0, 1024 },
                { "512M", 0, 512ULL << 20 },
                { "512MiB", 0, 512ULL << 20 },
                { "1G", 0, 1ULL << 30 },
                { "1GiB", 0, 1ULL << 30 },
                { "2T", 0, 2ULL << 40 },
                { "2TiB", 0, 2ULL << 40 },
                { "16777215T", 0, 16777215ULL << 40 },
                { "17179869183G", 0, 17179869183ULL << 30 },
                { "18446744073709551615", 0, UINT64_MAX },
                { "18446744073709551615B", 0, UINT64_MAX },
        };

        (void) state;
        CHECK_CASES(cd_parse_size, cases);
}

static void parse_size_refuses_junk_and_overflow(void **state)
{
        static const struct parse_case cases[] = {
                { "", -EINVAL, 0 },
                { "G", -EINVAL, 0 },
                { "KiB", -EINVAL, 0 },
                { "1KB", -EINVAL, 0 },
                { "1GB", -EINVAL, 0 },
                { "1Gi", -EINVAL, 0 },
                { "1GG", -EINVAL, 0 },
                { "1 G", -EINVAL, 0 },
                { "1G ", -EINVAL, 0 },
                { " 1G", -EINVAL, 0 },
                { "-1G", -EINVAL, 0 },
                { "+1G", -EINVAL, 0 },
                { "1.5G", -EINVAL, 0 },
                { "1P", -EINVAL, 0 },
                { "16777216T", -ERANGE, 0 },    /* 2^64 */
                { "17179869184G", -ERANGE, 0 }, /* 2^64 */
                { "18446744073709551616", -ERANGE, 0 },
                { "18446744073709551616B", -ERANGE, 0 },
        };

        (void) state;
        CHECK_CASES(cd_parse_size, cases);
}

static void parse_duration_accepts_units(void **state)
{
        static const struct parse_case cases[] = {
                { "0", 0, 0 },
                { "300", 0, 300000 }, /* bare digits are seconds */
                { "300s", 0, 300000 },
                { "250ms", 0, 250 },
                { "5m", 0, 300000 },
                { "2h", 0, 7200000 },
                { "18446744073709551615ms", 0, UINT64_MAX },
                { "18446744073709551s", 0, 18446744073709551000ULL },
                { "5124095576030h", 0, 5124095576030ULL * 3600000 },
        };

        (void) state;
        CHECK_CASES(cd_parse_duration_ms, cases);
}

static void parse_duration_refuses_junk_and_overflow(void **state)
{
        static const struct parse_case cases[] = {
                { "", -EINVAL, 0 },
                { "s", -EINVAL, 0 },
                { "ms", -EINVAL, 0 },
                { "1d", -EINVAL, 0 },
                { "1 s", -EINVAL, 0 },
                { "1s ", -EINVAL, 0 },
                { " 1s", -EINVAL, 0 },
                { "-1s", -EINVAL, 0 },
                { "+1s", -EINVAL, 0 },
                { "1.5s", -EINVAL, 0 },
                { "1msx", -EINVAL, 0 },
                { "1hm", -EINVAL, 0 },
                { "1sec", -EINVAL, 0 },
                { "18446744073709552s", -ERANGE, 0 },
                { "18446744073709551616ms", -ERANGE, 0 },
                { "5124095576031h", -ERANGE, 0 },
                { "307445734561826m", -ERANGE, 0 },
                { "18446744073709552", -ERANGE, 0 },
        };

        (void) state;
        CHECK_CASES(cd_parse_duration_ms, cases);
}

static void form_ambiguous_names(void **state)
{
        static const char *const ambiguous[] = {
                "a\"b", "\"", "a%22b", "%22", "x%0a", "x%0A", "%0dx", "%0D", "50%%22",
        };
        static const char *const plain[] = {
                "a.csv", "50%.csv", "%", "a%2", "%41.txt", "%2F", "a%20b", "100%25", "%0", "%0b",
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(ambiguous); i++)
                if (!cd_name_is_form_ambiguous(ambiguous[i]))
                        fail_msg("\"%s\" taken as unambiguous", ambiguous[i]);
        for (size_t i = 0; i < ELEMENTSOF(plain); i++)
                if (cd_name_is_form_ambiguous(plain[i]))
                        fail_msg("\"%s\" taken as ambiguous", plain[i]);
}

static void parse_millicpus_accepts_three_decimals(void **state)
{
        static const struct parse_case cases[] = {
                { "0", 0, 0 },
                { "2", 0, 2000 },
                { "0.5", 0, 500 },
                { "1.125", 0, 1125 },
                { "0.001", 0, 1 },
                { "1.0", 0, 1000 },
                { "1.10", 0, 1100 },
                { "1.000", 0, 1000 },
                { "18446744073709551.615", 0, UINT64_MAX },
        };

        (void) state;
        CHECK_CASES(cd_parse_millicpus, cases);
}

static void parse_millicpus_refuses_junk_and_overflow(void **state)
{
        static const struct parse_case cases[] = {
                { "", -EINVAL, 0 },
                { ".", -EINVAL, 0 },
                { "1.", -EINVAL, 0 },
                { ".5", -EINVAL, 0 },
                { "1.1234", -EINVAL, 0 }, /* more than three decimals */
                { "1.0000", -EINVAL, 0 },
                { "0.0001", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 ", -EINVAL, 0 },
                { "1,5", -EINVAL, 0 },
                { "1.5x", -EINVAL, 0 },
                { "0.5.5", -EINVAL, 0 },
                { "1e3", -EINVAL, 0 },
                { "18446744073709552", -ERANGE, 0 },
                { "18446744073709551.616", -ERANGE, 0 },
                { "18446744073709551616", -ERANGE, 0 },
        };

        (void) state;
        CHECK_CASES(cd_parse_millicpus, cases);
}

/* ---- struct cd_err ---- */

static void err_errno_appends_errno_text(void **state)
{
        struct cd_err e = { 0 };
        int r;

        (void) state;
        errno = ENOENT;
        r = cd_err_errno(&e, "open %s", "/etc/x");
        assert_int_equal(r, -ENOENT);
        assert_int_equal(e.code, ENOENT);
        assert_string_equal(e.msg, "open /etc/x: No such file or directory");
}

static void err_errno_without_errno_is_eio(void **state)
{
        struct cd_err e = { 0 };

        (void) state;
        errno = 0;
        assert_int_equal(cd_err_errno(&e, "step"), -EIO);
        assert_int_equal(e.code, EIO);
        assert_string_equal(e.msg, "step: Input/output error");
}

static void err_set_formats_without_errno_text(void **state)
{
        struct cd_err e = { 0 };

        (void) state;
        assert_int_equal(cd_err_set(&e, CD_E_INVALID, "bad %s %d", "limit", 3), -CD_E_INVALID);
        assert_int_equal(e.code, CD_E_INVALID);
        assert_string_equal(e.msg, "bad limit 3");
        /* A non-positive code would read as success: it becomes EIO. */
        assert_int_equal(cd_err_set(&e, 0, "zero"), -EIO);
        assert_int_equal(e.code, EIO);
        assert_int_equal(cd_err_set(&e, -EPERM, "negative"), -EIO);
}

static void err_neg_takes_code_from_return(void **state)
{
        struct cd_err e = { 0 };

        (void) state;
        errno = EBADF; /* must not be used */
        assert_int_equal(cd_err_neg(&e, -EACCES, "mkdir %s", "a/b"), -EACCES);
        assert_int_equal(e.code, EACCES);
        assert_string_equal(e.msg, "mkdir a/b: Permission denied");
        assert_int_equal(cd_err_neg(&e, 0, "odd"), -EIO);
        assert_int_equal(e.code, EIO);
}

static void err_prefix_prepends_context(void **state)
{
        struct cd_err e = { 0 };

        (void) state;
        (void) cd_err_set(&e, EPERM, "inner");
        assert_int_equal(cd_err_prefix(&e, "middle %d", 2), -EPERM);
        assert_int_equal(cd_err_prefix(&e, "outer"), -EPERM);
        assert_int_equal(e.code, EPERM);
        assert_string_equal(e.msg, "outer: middle 2: inner");

        cd_err_clear(&e);
        assert_int_equal(e.code, 0);
        assert_string_equal(e.msg, "");
        /* Prefixing "no error" still yields an error. */
        assert_int_equal(cd_err_prefix(&e, "ctx"), -EIO);
        assert_int_equal(e.code, EIO);
}

static void err_long_messages_stay_terminated(void **state)
{
        char long_text[601];
        struct cd_err e;

        (void) state;
        memset(long_text, 'x', 600);
        long_text[600] = '\0';

        memset(&e, 'z', sizeof(e));
        (void) cd_err_set(&e, EINVAL, "%s", long_text);
        assert_int_equal(strnlen(e.msg, sizeof(e.msg)), sizeof(e.msg) - 1);
        assert_int_equal(e.msg[0], 'x');

        memset(&e, 'z', sizeof(e));
        errno = EACCES;
        (void) cd_err_errno(&e, "%s", long_text);
        assert_int_equal(strnlen(e.msg, sizeof(e.msg)), sizeof(e.msg) - 1);
        assert_int_equal(e.code, EACCES);

        memset(&e, 'z', sizeof(e));
        (void) cd_err_neg(&e, -EACCES, "%s", long_text);
        assert_int_equal(strnlen(e.msg, sizeof(e.msg)), sizeof(e.msg) - 1);

        /* A long old message: the head (the new context) is kept. */
        (void) cd_err_set(&e, EINVAL, "%s", long_text);
        (void) cd_err_prefix(&e, "ctx");
        assert_int_equal(strnlen(e.msg, sizeof(e.msg)), sizeof(e.msg) - 1);
        assert_memory_equal(e.msg, "ctx: xxx", 8);

        /* A long prefix. */
        (void) cd_err_set(&e, EINVAL, "short");
        (void) cd_err_prefix(&e, "%s", long_text);
        assert_int_equal(strnlen(e.msg, sizeof(e.msg)), sizeof(e.msg) - 1);

        /* A message without any NUL (as read whole from a child's pipe). */
        memset(e.msg, 'y', sizeof(e.msg));
        e.code = EPERM;
        (void) cd_err_prefix(&e, "ctx");
        assert_true(strnlen(e.msg, sizeof(e.msg)) < sizeof(e.msg));
        assert_memory_equal(e.msg, "ctx: yyy", 8);
}

/* ---- cd_close ---- */

static void close_keeps_errno(void **state)
{
        int p[2];

        (void) state;
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        errno = ERANGE;
        assert_int_equal(cd_close(p[0]), -1);
        assert_int_equal(errno, ERANGE);
        assert_int_equal(fcntl(p[0], F_GETFD), -1); /* really closed */
        assert_int_equal(errno, EBADF);
        errno = ERANGE;
        assert_int_equal(cd_close(-1), -1);
        assert_int_equal(errno, ERANGE);
        /* Even when close(2) itself fails (here EBADF: p[0] is gone). */
        errno = ERANGE;
        assert_int_equal(cd_close(p[0]), -1);
        assert_int_equal(errno, ERANGE);
        (void) cd_close(p[1]);
}

/* ---- cd_write_at / cd_read_at ---- */

static void write_at_writes_existing_file(void **state)
{
        struct fixture *f = *state;
        char *got = NULL;

        assert_int_equal(ut_write_file(f->dirfd, "memory.max", "old", 3), 0);
        assert_int_equal(cd_write_at(f->dirfd, "memory.max", "1073741824"), 0);
        got = ut_defer(free, ut_read_file(f->dirfd, "memory.max", NULL));
        assert_non_null(got);
        /* No O_TRUNC: kernel files take the write whole, like here. */
        assert_string_equal(got, "1073741824");
}

static void write_at_never_creates(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(cd_write_at(f->dirfd, "cgroup.kill", "1"), -ENOENT);
        assert_int_equal(ut_count_entries(f->dir), 0);
}

static void write_at_refuses_symlink(void **state)
{
        struct fixture *f = *state;
        char *got = NULL;

        assert_int_equal(ut_write_file(f->dirfd, "target", "orig", 4), 0);
        assert_int_equal(symlinkat("target", f->dirfd, "link"), 0);
        assert_int_equal(cd_write_at(f->dirfd, "link", "evil"), -ELOOP);
        got = ut_defer(free, ut_read_file(f->dirfd, "target", NULL));
        assert_non_null(got);
        assert_string_equal(got, "orig");
}

static void write_at_reports_open_and_write_errors(void **state)
{
        struct fixture *f = *state;
        int fds;

        assert_int_equal(ut_write_file(f->dirfd, "f", "", 0), 0);
        fds = ut_count_fds();

        cd_wrap_fail(WRAP_OPENAT, EACCES, 1);
        assert_int_equal(cd_write_at(f->dirfd, "f", "1"), -EACCES);

        cd_wrap_fail(WRAP_WRITE, ENOSPC, 1);
        assert_int_equal(cd_write_at(f->dirfd, "f", "1"), -ENOSPC);
        assert_int_equal(ut_count_fds(), fds);
}

static void write_at_short_write_is_an_error(void **state)
{
        struct fixture *f = *state;
        int fds;

        assert_int_equal(ut_write_file(f->dirfd, "f", "", 0), 0);
        fds = ut_count_fds();
        cd_wrap_short(WRAP_WRITE, 2, 1);
        assert_int_equal(cd_write_at(f->dirfd, "f", "12345"), -EIO);
        assert_false(cd_wrap_pending(WRAP_WRITE));
        assert_int_equal(ut_count_fds(), fds);
}

static void read_at_reads_and_terminates(void **state)
{
        struct fixture *f = *state;
        char buf[64];

        assert_int_equal(ut_write_file(f->dirfd, "f", "12345\n", 6), 0);
        memset(buf, 'z', sizeof(buf));
        assert_int_equal(cd_read_at(f->dirfd, "f", buf, sizeof(buf)), 6);
        assert_string_equal(buf, "12345\n");

        /* Too small: size-1 bytes and a NUL, never past the buffer. */
        memset(buf, 'z', sizeof(buf));
        assert_int_equal(cd_read_at(f->dirfd, "f", buf, 4), 3);
        assert_string_equal(buf, "123");
        assert_int_equal(buf[4], 'z');
        assert_int_equal(cd_read_at(f->dirfd, "f", buf, 1), 0);
        assert_string_equal(buf, "");
        assert_int_equal(cd_read_at(f->dirfd, "f", buf, 0), -EINVAL);
}

static void read_at_refuses_symlink_and_reports_errors(void **state)
{
        struct fixture *f = *state;
        char buf[64];
        int fds;

        assert_int_equal(ut_write_file(f->dirfd, "target", "secret", 6), 0);
        assert_int_equal(symlinkat("target", f->dirfd, "link"), 0);
        assert_int_equal(mkdirat(f->dirfd, "d", 0700), 0);
        fds = ut_count_fds();

        assert_int_equal(cd_read_at(f->dirfd, "link", buf, sizeof(buf)), -ELOOP);
        assert_int_equal(cd_read_at(f->dirfd, "missing", buf, sizeof(buf)), -ENOENT);
        assert_int_equal(cd_read_at(f->dirfd, "d", buf, sizeof(buf)), -EISDIR);
        cd_wrap_fail(WRAP_READ, EIO, 1);
        assert_int_equal(cd_read_at(f->dirfd, "target", buf, sizeof(buf)), -EIO);
        assert_int_equal(ut_count_fds(), fds);
}

static void read_at_retries_eintr_and_short_reads(void **state)
{
        struct fixture *f = *state;
        char buf[64];

        assert_int_equal(ut_write_file(f->dirfd, "f", "0123456789", 10), 0);
        cd_wrap_fail(WRAP_READ, EINTR, 1);
        assert_int_equal(cd_read_at(f->dirfd, "f", buf, sizeof(buf)), 10);
        assert_false(cd_wrap_pending(WRAP_READ));
        assert_string_equal(buf, "0123456789");

        cd_wrap_short(WRAP_READ, 3, 1);
        assert_int_equal(cd_read_at(f->dirfd, "f", buf, sizeof(buf)), 10);
        assert_false(cd_wrap_pending(WRAP_READ));
        assert_string_equal(buf, "0123456789");
}

/* ---- cd_write_all / cd_read_exact ---- */

static void write_all_and_read_exact_move_everything(void **state)
{
        char out[40000], in[40000];
        int p[2];

        (void) state;
        ut_fill_pattern(out, sizeof(out), 1);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(cd_write_all(p[1], out, sizeof(out)), 0);
        assert_int_equal(cd_read_exact(p[0], in, sizeof(in)), 1);
        assert_memory_equal(in, out, sizeof(out));
        (void) cd_close(p[0]);
        (void) cd_close(p[1]);
}

static void write_all_retries_eintr_and_short_writes(void **state)
{
        char out[5000], in[5000];
        int p[2];

        (void) state;
        ut_fill_pattern(out, sizeof(out), 2);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);

        cd_wrap_fail(WRAP_WRITE, EINTR, 1);
        assert_int_equal(cd_write_all(p[1], out, sizeof(out)), 0);
        assert_false(cd_wrap_pending(WRAP_WRITE));
        assert_int_equal(cd_read_exact(p[0], in, sizeof(in)), 1);
        assert_memory_equal(in, out, sizeof(out));

        cd_wrap_short(WRAP_WRITE, 7, 1);
        assert_int_equal(cd_write_all(p[1], out, sizeof(out)), 0);
        assert_false(cd_wrap_pending(WRAP_WRITE));
        assert_int_equal(cd_read_exact(p[0], in, sizeof(in)), 1);
        assert_memory_equal(in, out, sizeof(out));
        (void) cd_close(p[0]);
        (void) cd_close(p[1]);
}

static void write_all_reports_errors(void **state)
{
        struct sigaction ign = { .sa_handler = SIG_IGN }, old;
        int p[2];

        (void) state;
        assert_int_equal(cd_write_all(-1, "x", 1), -EBADF);

        assert_int_equal(sigaction(SIGPIPE, &ign, &old), 0);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        (void) cd_close(p[0]);
        assert_int_equal(cd_write_all(p[1], "x", 1), -EPIPE);
        (void) cd_close(p[1]);
        assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        cd_wrap_fail(WRAP_WRITE, ENOSPC, 1);
        assert_int_equal(cd_write_all(p[1], "x", 1), -ENOSPC);
        (void) cd_close(p[0]);
        (void) cd_close(p[1]);
}

static void read_exact_eof_semantics(void **state)
{
        char buf[16];
        int p[2];

        (void) state;
        /* EOF before any byte: 0. */
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        (void) cd_close(p[1]);
        assert_int_equal(cd_read_exact(p[0], buf, sizeof(buf)), 0);
        (void) cd_close(p[0]);

        /* EOF after a partial read: -EPIPE. */
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(cd_write_all(p[1], "12345", 5), 0);
        (void) cd_close(p[1]);
        assert_int_equal(cd_read_exact(p[0], buf, sizeof(buf)), -EPIPE);
        (void) cd_close(p[0]);

        /* Exactly enough, then EOF: 1, then 0. */
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(cd_write_all(p[1], "1234", 4), 0);
        (void) cd_close(p[1]);
        assert_int_equal(cd_read_exact(p[0], buf, 4), 1);
        assert_memory_equal(buf, "1234", 4);
        assert_int_equal(cd_read_exact(p[0], buf, 4), 0);
        (void) cd_close(p[0]);
}

static void read_exact_errors_and_retries(void **state)
{
        char buf[16];
        int p[2];

        (void) state;
        assert_int_equal(cd_read_exact(-1, buf, sizeof(buf)), -EBADF);

        assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        assert_int_equal(cd_read_exact(p[0], buf, sizeof(buf)), -EAGAIN);

        assert_int_equal(cd_write_all(p[1], "abcdefgh", 8), 0);
        cd_wrap_fail(WRAP_READ, EINTR, 1);
        assert_int_equal(cd_read_exact(p[0], buf, 4), 1);
        assert_false(cd_wrap_pending(WRAP_READ));
        assert_memory_equal(buf, "abcd", 4);
        cd_wrap_short(WRAP_READ, 1, 1);
        assert_int_equal(cd_read_exact(p[0], buf, 4), 1);
        assert_false(cd_wrap_pending(WRAP_READ));
        assert_memory_equal(buf, "efgh", 4);
        (void) cd_close(p[0]);
        (void) cd_close(p[1]);
}

/* ---- strv ---- */

static void strv_length_and_copy(void **state)
{
        char a[] = "alpha", b[] = "beta";
        char *v[] = { a, b, NULL };
        char **c = NULL;
        char **e = NULL;

        (void) state;
        assert_int_equal(cd_strv_length(NULL), 0);
        assert_int_equal(cd_strv_length(v), 2);

        c = ut_defer(strv_free, cd_strv_copy(v));
        assert_non_null(c);
        assert_int_equal(cd_strv_length(c), 2);
        assert_string_equal(c[0], "alpha");
        assert_string_equal(c[1], "beta");
        assert_null(c[2]);
        /* A deep copy: changing the original changes nothing in it. */
        a[0] = 'X';
        assert_string_equal(c[0], "alpha");
        assert_ptr_not_equal(c[0], a);

        e = ut_defer(strv_free, cd_strv_copy(NULL));
        assert_non_null(e);
        assert_null(e[0]);
}

static void strv_push_appends_copies(void **state)
{
        char **v = NULL;
        char s[] = "one";
        int r[3];

        (void) state;
        r[0] = cd_strv_push(&v, s);
        r[1] = cd_strv_push(&v, "two");
        r[2] = cd_strv_push(&v, "");
        ut_defer(strv_free, v);
        for (int i = 0; i < 3; i++)
                assert_int_equal(r[i], 0);
        s[0] = 'X';
        assert_int_equal(cd_strv_length(v), 3);
        assert_string_equal(v[0], "one");
        assert_string_equal(v[1], "two");
        assert_string_equal(v[2], "");
        assert_null(v[3]);
        cd_strv_free(NULL); /* accepted */
}

/* ---- cd_hex, cd_random_hex ---- */

/* Every byte value, high nibble first, lowercase; exactly 2n+1 bytes written. */
static void hex_encodes_every_byte(void **state)
{
        unsigned char all[256];
        char out[2 * sizeof(all) + 2];

        (void) state;
        for (size_t i = 0; i < sizeof(all); i++)
                all[i] = (unsigned char) i;
        memset(out, 'z', sizeof(out));
        cd_hex(all, sizeof(all), out);
        assert_int_equal(strlen(out), 2 * sizeof(all));
        assert_int_equal(out[sizeof(out) - 1], 'z');
        for (size_t i = 0; i < sizeof(all); i++) {
                char want[3];

                (void) snprintf(want, sizeof(want), "%02x", (unsigned int) i);
                assert_memory_equal(out + 2 * i, want, 2);
        }
        cd_hex("\x0f\xf0", 2, out);
        assert_string_equal(out, "0ff0");
        cd_hex("", 0, out);
        assert_string_equal(out, "");
}

static void random_hex_is_lowercase_hex(void **state)
{
        char *a = ut_defer(free, malloc(33));
        char *b = ut_defer(free, malloc(33));
        char *big = ut_defer(free, malloc(129));
        bool seen[16] = { false };
        int distinct = 0;

        (void) state;
        assert_non_null(a);
        assert_non_null(b);
        assert_non_null(big);
        assert_int_equal(cd_random_hex(a, 16), 0);
        assert_int_equal(cd_random_hex(b, 16), 0);
        assert_int_equal(strlen(a), 32);
        assert_int_equal(strspn(a, "0123456789abcdef"), 32);
        assert_string_not_equal(a, b);

        /* The largest request fills exactly 2n+1 bytes (ASan checks the bound). */
        assert_int_equal(cd_random_hex(big, 64), 0);
        assert_int_equal(strlen(big), 128);
        for (size_t i = 0; i < 128; i++) {
                const char *hex = "0123456789abcdef";
                size_t d = (size_t) (strchr(hex, big[i]) - hex);

                if (d < 16 && !seen[d]) {
                        seen[d] = true;
                        distinct++;
                }
        }
        /* A given digit is absent from 128 random ones with p = (15/16)^128,
         * about 3e-4: five absent at once does not happen by chance. A stuck
         * generator gives one or two distinct digits. */
        assert_true(distinct >= 12);

        assert_int_equal(cd_random_hex(a, 0), 0);
        assert_string_equal(a, "");
}

static void random_hex_refuses_and_reports(void **state)
{
        char buf[200];

        (void) state;
        memset(buf, 'z', sizeof(buf));
        assert_int_equal(cd_random_hex(buf, 65), -EINVAL);
        assert_int_equal(buf[0], 'z');

        cd_wrap_fail(WRAP_GETRANDOM, EAGAIN, 1);
        assert_int_equal(cd_random_hex(buf, 16), -EAGAIN);
}

static void clock_is_monotonic(void **state)
{
        uint64_t ns1, ns2, ms;

        (void) state;
        ns1 = cd_now_ns();
        ms = cd_now_ms();
        ns2 = cd_now_ns();
        assert_true(ns1 > 0);
        assert_true(ns2 >= ns1);
        assert_true(ms >= ns1 / 1000000 && ms <= ns2 / 1000000);
}

/* cd_dl_load: every symbol resolved, or nothing and the loader's reason. */
static void dl_load_resolves_or_says_why(void **state)
{
        void *getpid_fn = NULL, *other = NULL;
        struct cd_dl_sym ok[] = { { "getpid", &getpid_fn } };
        struct cd_dl_sym missing[] = { { "getpid", &other }, { "cd_no_such_symbol", &other } };
        struct cd_err err = { 0 };

        (void) state;
        assert_int_equal(cd_dl_load("libc.so.6", ok, 1, &err), 0);
        assert_ptr_equal(getpid_fn, (void *) getpid);
        assert_int_equal(cd_dl_load("libc.so.6", missing, 2, &err), -ELIBACC);
        assert_int_equal(err.code, ELIBACC);
        assert_non_null(strstr(err.msg, "cd_no_such_symbol"));
        err = (struct cd_err){ 0 };
        assert_int_equal(cd_dl_load("libcordon-no-such-library.so.0", ok, 1, &err), -ELIBACC);
        assert_non_null(strstr(err.msg, "libcordon-no-such-library.so.0"));
}

/* A monotonic condition variable waits out a monotonic deadline: taken as
 * a wall-clock time (seconds since boot), the deadline would be long past
 * and the wait would end at once. */
static void monotonic_wait_waits(void **state)
{
        pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
        pthread_cond_t c;
        struct timespec until;
        uint64_t start;
        int r;

        (void) state;
        assert_int_equal(cd_cond_init_monotonic(&c), 0);
        pthread_mutex_lock(&m);
        start = cd_now_ms();
        until = cd_monotonic_after(100);
        do
                r = pthread_cond_timedwait(&c, &m, &until);
        while (r == 0); /* spurious wake-ups */
        assert_int_equal(r, ETIMEDOUT);
        assert_true(cd_now_ms() - start >= 100);
        assert_true(cd_now_ms() - start < 10000); /* only a hang */
        pthread_mutex_unlock(&m);
        pthread_cond_destroy(&c);
}

/* @in escaped in one call (and the end), against @want. */
static void assert_escaped(const char *in, size_t n, const char *want)
{
        struct cd_tty_escape st = { 0 };
        char out[CD_TTY_ESCAPE_MAX(64)];
        size_t len;

        assert_true(n <= 64);
        len = cd_tty_escape(&st, in, n, out);
        len += cd_tty_escape_end(&st, out + len);
        out[len] = '\0';
        if (len != strlen(want) || memcmp(out, want, len) != 0)
                fail_msg("escaped to \"%s\", not \"%s\"", out, want);
}

#define ESC(in, want) assert_escaped(in, sizeof(in) - 1, want)

/* What a terminal is shown of a job's bytes: text and well-formed UTF-8
 * pass; ASCII controls as ^X; C1 controls, in UTF-8 or as the lone 8-bit
 * bytes a terminal in an 8-bit mode acts on (CSI 0x9b, OSC 0x9d), and every
 * byte that is not well-formed UTF-8 as '?'. */
static void tty_escape_shows_controls_and_bad_bytes(void **state)
{
        (void) state;
        ESC("plain text\t\n", "plain text\t\n");
        ESC("a\033[31mb\007\177", "a^[[31mb^G^?");
        ESC("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
        ESC("\xc2\x9b"
            "2J",
            "?2J"); /* CSI as UTF-8 */
        ESC("\x9b"
            "2J\x9d"
            "0;x\a",
            "?2J?0;x^G");                /* CSI and OSC, 8-bit */
        ESC("\xc2\xa0", "\xc2\xa0");     /* U+00A0: not a control */
        ESC("\xc0\x80\xc1\xbf", "????"); /* never lead bytes */
        ESC("\xe0\x80\x80", "?");        /* overlong */
        ESC("\xed\xa0\x80", "?");        /* a surrogate */
        ESC("\xf4\x90\x80\x80", "?");    /* past U+10FFFF */
        ESC("\xf5\xff\xfe", "???");
        ESC("\xe2\x82"
            "A",
            "?A"); /* cut short by ASCII */
        ESC("\xe2\x82\xe2\x82\xac", "?\xe2\x82\xac");
        ESC("x\xe2\x82", "x?"); /* cut short by the end */
}

/* Not a UTF-8 locale: every byte from 0x80 on is '?', since the terminal
 * may read a continuation byte (U+201B is e2 80 9b) as CSI. */
static void tty_escape_ascii_only(void **state)
{
        struct cd_tty_escape st = { .ascii_only = true };
        char out[CD_TTY_ESCAPE_MAX(16)];
        size_t len;

        (void) state;
        len = cd_tty_escape(&st,
                            "a\xe2\x80\x9b"
                            "2J\t\x1b",
                            8, out);
        len += cd_tty_escape_end(&st, out + len);
        assert_int_equal(len, 9);
        assert_memory_equal(out, "a???2J\t^[", 9);
}

/* The locale as setlocale(3) would read it: LC_ALL, LC_CTYPE, LANG. */
static void tty_locale_is_read_in_order(void **state)
{
        (void) state;
        assert_int_equal(unsetenv("LC_ALL"), 0);
        assert_int_equal(unsetenv("LC_CTYPE"), 0);
        assert_int_equal(unsetenv("LANG"), 0);
        assert_false(cd_tty_locale_utf8());
        assert_int_equal(setenv("LANG", "en_US.UTF-8", 1), 0);
        assert_true(cd_tty_locale_utf8());
        assert_int_equal(setenv("LC_CTYPE", "de_DE.ISO-8859-1", 1), 0);
        assert_false(cd_tty_locale_utf8());
        assert_int_equal(setenv("LC_ALL", "C.utf8", 1), 0);
        assert_true(cd_tty_locale_utf8());
        assert_int_equal(setenv("LC_ALL", "", 1), 0); /* empty: the next one */
        assert_false(cd_tty_locale_utf8());
        assert_int_equal(unsetenv("LC_ALL"), 0);
        assert_int_equal(unsetenv("LC_CTYPE"), 0);
        assert_int_equal(unsetenv("LANG"), 0);
}

/* A sequence split across calls comes out whole, or as one '?'. */
static void tty_escape_holds_split_sequences(void **state)
{
        struct cd_tty_escape st = { 0 };
        char out[CD_TTY_ESCAPE_MAX(4)];
        size_t len;

        (void) state;
        assert_int_equal(cd_tty_escape(&st, "a\xe2", 2, out), 1);
        assert_int_equal(cd_tty_escape(&st, "\x82", 1, out), 0);
        len = cd_tty_escape(&st,
                            "\xac"
                            "b",
                            2, out);
        assert_int_equal(len, 4);
        assert_memory_equal(out,
                            "\xe2\x82\xac"
                            "b",
                            4);
        assert_int_equal(cd_tty_escape(&st, "\xc2", 1, out), 0);
        assert_int_equal(cd_tty_escape(&st, "\x85", 1, out), 1); /* NEL, a C1 control */
        assert_int_equal(out[0], '?');
        assert_int_equal(cd_tty_escape_end(&st, out), 0);
        /* A carriage return waits for the next byte, in the next call. */
        assert_int_equal(cd_tty_escape(&st, "a\r", 2, out), 1);
        assert_int_equal(cd_tty_escape(&st, "\n", 1, out), 2);
        assert_memory_equal(out, "\r\n", 2);
        assert_int_equal(cd_tty_escape(&st, "\r", 1, out), 0);
        assert_int_equal(cd_tty_escape(&st, "x", 1, out), 3);
        assert_memory_equal(out, "^Mx", 3);
        assert_int_equal(cd_tty_escape(&st, "\r", 1, out), 0);
        assert_int_equal(cd_tty_escape_end(&st, out), 2);
        assert_memory_equal(out, "^M", 2);
}

/* Nothing printed can be hidden or reordered on the screen: a carriage
 * return that is not a line end (it would let the rest of the line write
 * over what came before it: a progress bar, or a forged "verdict ok") is
 * ^M; the bidirectional controls of "Trojan Source" (CVE-2021-42574) are
 * '?'. */
static void tty_escape_keeps_text_where_it_was_printed(void **state)
{
        (void) state;
        ESC("dos line\r\n", "dos line\r\n");
        ESC("leaked\rhidden", "leaked^Mhidden");
        ESC("\r\r\n", "^M\r\n");
        ESC("end\r", "end^M");
        ESC("\r\xe2\x82\xac", "^M\xe2\x82\xac");
        ESC("a\xe2\x80\xae"
            "cba",
            "a?cba"); /* U+202E RIGHT-TO-LEFT OVERRIDE */
        ESC("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", "????");
        ESC("\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9", "????"); /* isolates */
        ESC("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", "???");                  /* LRM RLM ALM */
        ESC("\xe2\x80\x8d\xe2\x81\xa0", "\xe2\x80\x8d\xe2\x81\xa0");     /* ZWJ, WJ: not bidi */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(parse_u64_accepts_decimal, teardown),
                cmocka_unit_test_teardown(dl_load_resolves_or_says_why, teardown),
                cmocka_unit_test_teardown(parse_u64_refuses_junk_and_overflow, teardown),
                cmocka_unit_test_teardown(parse_size_accepts_suffixes, teardown),
                cmocka_unit_test_teardown(parse_size_refuses_junk_and_overflow, teardown),
                cmocka_unit_test_teardown(parse_duration_accepts_units, teardown),
                cmocka_unit_test_teardown(parse_duration_refuses_junk_and_overflow, teardown),
                cmocka_unit_test_teardown(form_ambiguous_names, teardown),
                cmocka_unit_test_teardown(parse_millicpus_accepts_three_decimals, teardown),
                cmocka_unit_test_teardown(parse_millicpus_refuses_junk_and_overflow, teardown),
                cmocka_unit_test_teardown(err_errno_appends_errno_text, teardown),
                cmocka_unit_test_teardown(err_errno_without_errno_is_eio, teardown),
                cmocka_unit_test_teardown(err_set_formats_without_errno_text, teardown),
                cmocka_unit_test_teardown(err_neg_takes_code_from_return, teardown),
                cmocka_unit_test_teardown(err_prefix_prepends_context, teardown),
                cmocka_unit_test_teardown(err_long_messages_stay_terminated, teardown),
                cmocka_unit_test_teardown(close_keeps_errno, teardown),
                cmocka_unit_test_setup_teardown(write_at_writes_existing_file, setup_dir,
                                                teardown_dir),
                cmocka_unit_test_setup_teardown(write_at_never_creates, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(write_at_refuses_symlink, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(write_at_reports_open_and_write_errors, setup_dir,
                                                teardown_dir),
                cmocka_unit_test_setup_teardown(write_at_short_write_is_an_error, setup_dir,
                                                teardown_dir),
                cmocka_unit_test_setup_teardown(read_at_reads_and_terminates, setup_dir,
                                                teardown_dir),
                cmocka_unit_test_setup_teardown(read_at_refuses_symlink_and_reports_errors,
                                                setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(read_at_retries_eintr_and_short_reads, setup_dir,
                                                teardown_dir),
                cmocka_unit_test_teardown(write_all_and_read_exact_move_everything, teardown),
                cmocka_unit_test_teardown(write_all_retries_eintr_and_short_writes, teardown),
                cmocka_unit_test_teardown(write_all_reports_errors, teardown),
                cmocka_unit_test_teardown(read_exact_eof_semantics, teardown),
                cmocka_unit_test_teardown(read_exact_errors_and_retries, teardown),
                cmocka_unit_test_teardown(strv_length_and_copy, teardown),
                cmocka_unit_test_teardown(strv_push_appends_copies, teardown),
                cmocka_unit_test_teardown(hex_encodes_every_byte, teardown),
                cmocka_unit_test_teardown(random_hex_is_lowercase_hex, teardown),
                cmocka_unit_test_teardown(random_hex_refuses_and_reports, teardown),
                cmocka_unit_test_teardown(clock_is_monotonic, teardown),
                cmocka_unit_test_teardown(tty_escape_shows_controls_and_bad_bytes, teardown),
                cmocka_unit_test_teardown(tty_escape_holds_split_sequences, teardown),
                cmocka_unit_test_teardown(tty_escape_ascii_only, teardown),
                cmocka_unit_test_teardown(tty_escape_keeps_text_where_it_was_printed, teardown),
                cmocka_unit_test_teardown(tty_locale_is_read_in_order, teardown),
                cmocka_unit_test_teardown(monotonic_wait_waits, teardown),
        };

        return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
