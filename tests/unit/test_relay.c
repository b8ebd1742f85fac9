/* SPDX-License-Identifier: MIT */
/*
 * launcher/relay.c: the job's stdio pipes and the copying between them and
 * the caller's fds. Plain pipes stand in for the caller's stdin, stdout and
 * stderr; a forked child (or the test itself) plays the job on the child
 * ends. The test drives cd_relay_poll/cd_relay_step like supervise.c does,
 * reading the caller's ends as a terminal or a web app would.
 * Wraps: pipe2, fcntl.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cordon/cleanup.h"
#include "cordon/util.h"
#include "launcher/launcher-internal.h"
#include "unit.h"
#include "wrap.h"

/* A relay that cannot finish in this long is stuck (nothing here is slow). */
#define HANG_MS 10000
/* A relay that loops this often without finishing is spinning: a few
 * hundred KiB take a few hundred rounds. */
#define MAX_ROUNDS 200000
/* Poll entries supervise.c leaves for the relay at the least (MAX_POLL - 3). */
#define RELAY_POLL_MAX 5

struct sink {
        int fd; /* the caller's read end, non-blocking; -1: not read */
        char *buf;
        size_t len;
};

struct fixture {
        int in[2];  /* caller's stdin: the test writes in[1], the relay reads in[0] */
        int out[2]; /* caller's stdout: the relay writes out[1], the test reads out[0] */
        int err[2];
        int child[3]; /* the job's ends, from cd_relay_open */
        struct cd_relay r;
        bool opened;
        int saved_stdin;     /* while a test runs with fd 0 closed */
        struct sink sink[2]; /* what reached the caller's stdout and stderr */
        pid_t job;
        struct sigaction old_sigpipe;
};

static void close_fd(int *fd)
{
        *fd = cd_close(*fd);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct sigaction ign = { .sa_handler = SIG_IGN };

        if (!f)
                return -1;
        *state = f;
        f->job = -1;
        f->saved_stdin = -1;
        /* A hang bound for the whole test: a relay stuck in a blocking call
         * ends the binary (and fails it) instead of stalling ctest. */
        (void) alarm(HANG_MS / 1000 * 3);
        for (int i = 0; i < 3; i++)
                f->child[i] = -1;
        for (int i = 0; i < 2; i++)
                f->in[i] = f->out[i] = f->err[i] = -1;
        /* cordon ignores SIGPIPE (cd_launcher_new): a dead reader is EPIPE. */
        if (sigaction(SIGPIPE, &ign, &f->old_sigpipe) < 0)
                return -1;
        if (pipe2(f->in, O_CLOEXEC) < 0 || pipe2(f->out, O_CLOEXEC) < 0 ||
            pipe2(f->err, O_CLOEXEC) < 0)
                return -1;
        /* The test's own ends never block it; the caller's ends stay as a
         * caller would hand them over (blocking). */
        if (ut_set_nonblock(f->in[1], true) < 0 || ut_set_nonblock(f->out[0], true) < 0 ||
            ut_set_nonblock(f->err[0], true) < 0)
                return -1;
        f->sink[0].fd = f->out[0];
        f->sink[1].fd = f->err[0];
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        cd_wrap_reset();
        (void) alarm(0);
        if (!f)
                return 0;
        if (f->saved_stdin >= 0) {
                (void) dup3(f->saved_stdin, STDIN_FILENO, 0);
                close_fd(&f->saved_stdin);
        }
        if (f->job > 0) {
                (void) kill(f->job, SIGKILL);
                (void) waitpid(f->job, NULL, 0);
        }
        if (f->opened)
                cd_relay_close(&f->r);
        for (int i = 0; i < 3; i++)
                close_fd(&f->child[i]);
        for (int i = 0; i < 2; i++) {
                close_fd(&f->in[i]);
                close_fd(&f->out[i]);
                close_fd(&f->err[i]);
        }
        (void) sigaction(SIGPIPE, &f->old_sigpipe, NULL);
        free(f->sink[0].buf);
        free(f->sink[1].buf);
        free(f);
        ut_run_deferred();
        return 0;
}

static void relay_open(struct fixture *f, int stdin_fd, int stdout_fd, int stderr_fd, uint64_t cap)
{
        struct cd_launch_io io = { .stdin_fd = stdin_fd,
                                   .stdout_fd = stdout_fd,
                                   .stderr_fd = stderr_fd,
                                   .output_cap_bytes = cap,
                                   .cancel_fd = -1 };
        struct cd_err e = { 0 };
        int r = cd_relay_open(&f->r, &io, f->child, &e);

        f->opened = true; /* cd_relay_close() undoes a failed open too */
        if (r < 0)
                fail_msg("cd_relay_open: %s", e.msg);
        for (int i = 0; i < 3; i++)
                assert_true(f->child[i] > STDERR_FILENO);
}

/* ---- the job ---- */

struct job_spec {
        const char *out;
        size_t out_len;
        const char *err;
        size_t err_len;
        bool echo_stdin; /* copy stdin to stdout until EOF, first */
};

static int job_main(const struct job_spec *js)
{
        char buf[8192];
        ssize_t n;

        if (js->echo_stdin)
                while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                return 10;
                        if (cd_write_all(STDOUT_FILENO, buf, (size_t) n) < 0)
                                return 11;
                }
        if (js->out_len && cd_write_all(STDOUT_FILENO, js->out, js->out_len) < 0)
                return 12;
        if (js->err_len && cd_write_all(STDERR_FILENO, js->err, js->err_len) < 0)
                return 13;
        return 0;
}

/* Fork the job with the child ends as its stdio, as the sandbox's pid 1
 * would, and give up the test's copies so that EOF reaches the relay. */
static void spawn_job(struct fixture *f, const struct job_spec *js)
{
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                for (int i = 0; i < 3; i++)
                        if (dup3(f->child[i], i, 0) < 0)
                                _exit(20);
                if (close_range(3, ~0U, 0) < 0)
                        _exit(21);
                _exit(job_main(js));
        }
        f->job = pid;
        for (int i = 0; i < 3; i++)
                close_fd(&f->child[i]);
}

/* Wait for the job; returns its exit status, or 128+signal. */
static int reap_job(struct fixture *f)
{
        int status;

        assert_int_equal(waitpid(f->job, &status, 0), f->job);
        f->job = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- the caller ---- */

struct source {
        int *fd; /* the caller's write end, non-blocking; closed when all is written */
        const char *data;
        size_t len, off;
};

static void sink_read(struct sink *s)
{
        int r = s->fd >= 0 ? ut_read_available(s->fd, &s->buf, &s->len) : 0;

        if (r < 0)
                fail_msg("reading the caller's end: %s", strerror(-r));
}

static void source_write(struct source *src)
{
        if (!src || *src->fd < 0)
                return;
        while (src->off < src->len) {
                ssize_t n = write(*src->fd, src->data + src->off, src->len - src->off);

                if (n < 0) {
                        if (errno == EAGAIN)
                                return;
                        if (errno == EPIPE)
                                break; /* the relay closed its side: the job is gone */
                        fail_msg("writing the caller's stdin: %s", strerror(errno));
                }
                src->off += (size_t) n;
        }
        close_fd(src->fd); /* EOF on the caller's stdin */
}

/* Run the relay until it has nothing left to do, as supervise.c does while
 * the job runs (it offers the relay what is left of its 8 poll entries: at
 * least 5), serving the caller's ends in the same poll. */
/* The relay's own timeout (a stream resting after dropped output), else 500 ms. */
static int pump_timeout(const struct fixture *f)
{
        int t = cd_relay_timeout_ms(&f->r);

        return t >= 0 ? t : 500;
}

static void pump(struct fixture *f, struct source *src, struct sink *sinks, size_t n_sinks)
{
        uint64_t deadline = cd_now_ms() + HANG_MS;

        for (unsigned long round = 0;; round++) {
                struct pollfd p[8];
                size_t n = cd_relay_poll(&f->r, p, RELAY_POLL_MAX);
                size_t m = n;

                if (n == 0)
                        break;
                if (round > MAX_ROUNDS)
                        fail_msg("relay spins: %lu rounds without finishing", round);
                if (cd_now_ms() > deadline)
                        fail_msg("relay stuck for %d ms", HANG_MS);
                for (size_t i = 0; i < n_sinks; i++)
                        if (sinks[i].fd >= 0)
                                p[m++] = (struct pollfd){ .fd = sinks[i].fd, .events = POLLIN };
                if (src && *src->fd >= 0)
                        p[m++] = (struct pollfd){ .fd = *src->fd, .events = POLLOUT };
                if (poll(p, m, pump_timeout(f)) < 0 && errno != EINTR)
                        fail_msg("poll: %s", strerror(errno));
                cd_relay_step(&f->r, p, n);
                for (size_t i = 0; i < n_sinks; i++)
                        sink_read(&sinks[i]);
                source_write(src);
        }
        for (size_t i = 0; i < n_sinks; i++)
                sink_read(&sinks[i]);
}

static char *pattern(size_t len, unsigned int seed)
{
        char *b = malloc(len ? len : 1);

        assert_non_null(b);
        ut_fill_pattern(b, len, seed);
        return ut_defer(free, b);
}

static void assert_received(const struct sink *s, const char *data, size_t len)
{
        if (s->len != len)
                fail_msg("caller received %zu bytes, expected %zu", s->len, len);
        if (len && memcmp(s->buf, data, len) != 0)
                fail_msg("caller received different bytes");
}

/* ---- tests ---- */

static void output_reaches_caller_intact(void **state)
{
        struct fixture *f = *state;
        char *out = pattern(300 * 1024, 1);
        char *err = pattern(70 * 1024 + 3, 2);
        struct job_spec js = { out, 300 * 1024, err, 70 * 1024 + 3, false };
        struct sink *sinks = f->sink;

        relay_open(f, -1, f->out[1], f->err[1], 0);
        spawn_job(f, &js);
        pump(f, NULL, sinks, 2);
        assert_int_equal(reap_job(f), 0);
        assert_received(&sinks[0], out, 300 * 1024);
        assert_received(&sinks[1], err, 70 * 1024 + 3);
        assert_true(f->r.s[1].total == 300 * 1024);
        assert_true(f->r.s[2].total == 70 * 1024 + 3);
        assert_false(f->r.s[1].truncated);
        assert_false(f->r.s[2].truncated);
}

static void output_beyond_cap_is_dropped(void **state)
{
        struct fixture *f = *state;
        char *out = pattern(200 * 1024, 3);
        char *err = pattern(1000, 4);
        struct job_spec js = { out, 200 * 1024, err, 1000, false };
        struct sink *sinks = f->sink;

        /* The cap falls inside a read: the job writes far more than one pipe buffer. */
        relay_open(f, -1, f->out[1], f->err[1], 70000);
        spawn_job(f, &js);
        pump(f, NULL, sinks, 2);
        /* The job itself never noticed: its writes all succeeded. */
        assert_int_equal(reap_job(f), 0);
        assert_received(&sinks[0], out, 70000);
        assert_true(f->r.s[1].truncated);
        assert_true(f->r.s[1].total == 200 * 1024); /* counts what was written */
        /* Past the cap it was spliced into /dev/null, not copied (stream_discard). */
        assert_true(f->r.s[1].null_fd >= 3);
        assert_received(&sinks[1], err, 1000);
        assert_false(f->r.s[2].truncated);
        assert_true(f->r.s[2].null_fd < 3);
}

/* Past the cap, a stream rests between two megabytes dropped: it is polled
 * for POLLHUP only, and the relay says how long to wait for it. */
static void dropped_output_rests_between_splices(void **state)
{
        struct fixture *f = *state;
        char *out = pattern(64 * 1024, 5);
        struct pollfd p[RELAY_POLL_MAX];
        size_t n;
        int t;

        relay_open(f, -1, f->out[1], f->err[1], 1);
        assert_int_equal(cd_relay_timeout_ms(&f->r), -1);
        assert_int_equal(cd_write_all(f->child[1], out, 64 * 1024), 0);
        n = cd_relay_poll(&f->r, p, RELAY_POLL_MAX);
        assert_true(n >= 1 && p[0].events == POLLIN);
        p[0].revents = POLLIN;
        cd_relay_step(&f->r, p, 1); /* the cap's byte, truncated */
        assert_true(f->r.s[1].truncated);
        n = cd_relay_poll(&f->r, p, RELAY_POLL_MAX);
        assert_true(n >= 1 && p[0].events == POLLOUT);
        p[0].revents = POLLOUT;
        cd_relay_step(&f->r, p, 1); /* written to the caller */
        assert_int_equal(cd_write_all(f->child[1], out, 10000), 0);
        n = cd_relay_poll(&f->r, p, RELAY_POLL_MAX);
        assert_true(n >= 1 && p[0].events == POLLIN);
        p[0].revents = POLLIN;
        cd_relay_step(&f->r, p, 1); /* more: spliced away */
        assert_true(f->r.s[1].total == 64 * 1024 + 10000);
        assert_true(f->r.s[1].null_fd >= 3);
        n = cd_relay_poll(&f->r, p, RELAY_POLL_MAX);
        assert_true(n >= 1);
        assert_int_equal(p[0].fd, f->r.s[1].src);
        assert_int_equal(p[0].events, 0);
        t = cd_relay_timeout_ms(&f->r);
        assert_true(t >= 0 && t <= 10);
        /* The writer gone, POLLHUP wakes the resting stream and it ends. */
        close_fd(&f->child[1]);
        assert_int_equal(poll(p, 1, 1000), 1);
        assert_true(p[0].revents & POLLHUP);
        cd_relay_step(&f->r, p, 1);
        assert_true(f->r.s[1].src_eof);
        assert_int_equal(cd_relay_timeout_ms(&f->r), -1);
}

/* A launch that fails before cd_relay_open() still closes its (zeroed)
 * relay: nothing may be closed then, fd 0 least of all. */
static void close_of_a_relay_never_opened_closes_nothing(void **state)
{
        struct cd_relay never;
        int before;

        (void) state;
        if (fcntl(0, F_GETFD) < 0)
                assert_int_equal(open("/dev/null", O_RDONLY), 0); /* the lowest free: 0 */
        before = ut_count_fds();
        memset(&never, 0, sizeof(never));
        cd_relay_close(&never);
        assert_true(fcntl(0, F_GETFD) >= 0);
        assert_int_equal(ut_count_fds(), before);
}

static void output_cap_exact_and_one_over(void **state)
{
        struct fixture *f = *state;
        char *out = pattern(1000, 5);
        char *err = pattern(1001, 6);
        struct job_spec js = { out, 1000, err, 1001, false };
        struct sink *sinks = f->sink;

        relay_open(f, -1, f->out[1], f->err[1], 1000);
        spawn_job(f, &js);
        pump(f, NULL, sinks, 2);
        assert_int_equal(reap_job(f), 0);
        /* Exactly the cap: all of it, not truncated. */
        assert_received(&sinks[0], out, 1000);
        assert_false(f->r.s[1].truncated);
        assert_true(f->r.s[1].total == 1000);
        /* One byte over: the cap's worth, truncated. */
        assert_received(&sinks[1], err, 1000);
        assert_true(f->r.s[2].truncated);
        assert_true(f->r.s[2].total == 1001);
}

static void stdin_reaches_job_then_eof(void **state)
{
        struct fixture *f = *state;
        char *in = pattern(100 * 1024 + 7, 7);
        struct job_spec js = { .echo_stdin = true };
        struct sink *sinks = &f->sink[0];
        struct source src = { .fd = &f->in[1], .data = in, .len = 100 * 1024 + 7 };

        relay_open(f, f->in[0], f->out[1], f->err[1], 0);
        spawn_job(f, &js);
        /* The echo job ends only when it reads EOF: the relay must close the
         * job's stdin once the caller's stdin is at EOF. */
        pump(f, &src, sinks, 1);
        assert_int_equal(reap_job(f), 0);
        assert_true(src.off == src.len);
        assert_received(&sinks[0], in, 100 * 1024 + 7);
}

static void no_stdin_gives_eof_at_once(void **state)
{
        struct fixture *f = *state;
        char c;

        relay_open(f, -1, f->out[1], f->err[1], 0);
        assert_int_equal(ut_set_nonblock(f->child[0], true), 0);
        /* 0 (EOF), not -1/EAGAIN: nobody holds the write end. */
        assert_int_equal(read(f->child[0], &c, 1), 0);
}

static void job_ignoring_stdin_does_not_hang(void **state)
{
        struct fixture *f = *state;
        char *in = pattern(300 * 1024, 8);
        struct job_spec js = { .out = "done", .out_len = 4 };
        struct sink *sinks = &f->sink[0];
        struct source src = { .fd = &f->in[1], .data = in, .len = 300 * 1024 };

        relay_open(f, f->in[0], f->out[1], f->err[1], 0);
        spawn_job(f, &js);
        pump(f, &src, sinks, 1);
        assert_int_equal(reap_job(f), 0);
        assert_received(&sinks[0], "done", 4);
}

static void closed_caller_stdout_neither_hangs_nor_kills(void **state)
{
        struct fixture *f = *state;
        char *out = pattern(200 * 1024, 9);
        struct job_spec js = { out, 200 * 1024, "still here", 10, false };
        struct sink *sinks = &f->sink[1];

        close_fd(&f->out[0]); /* the caller's reader went away */
        relay_open(f, -1, f->out[1], f->err[1], 0);
        spawn_job(f, &js);
        pump(f, NULL, sinks, 1);
        /* The job's own writes succeeded: the relay kept draining its pipe. */
        assert_int_equal(reap_job(f), 0);
        assert_true(f->r.s[1].total == 200 * 1024);
        assert_received(&sinks[0], "still here", 10);
}

static void discarded_stdout_is_drained_and_counted(void **state)
{
        struct fixture *f = *state;
        char *out = pattern(150 * 1024, 10);
        struct job_spec js = { out, 150 * 1024, "e", 1, false };
        struct sink *sinks = &f->sink[1];

        relay_open(f, -1, -1, f->err[1], 0);
        spawn_job(f, &js);
        pump(f, NULL, sinks, 1);
        assert_int_equal(reap_job(f), 0);
        assert_true(f->r.s[1].total == 150 * 1024);
        assert_true(f->r.s[1].null_fd >= 3);
        assert_received(&sinks[0], "e", 1);
}

static void drain_moves_what_is_left(void **state)
{
        struct fixture *f = *state;
        char *out = pattern(10000, 11);
        struct sink *sinks = f->sink;

        relay_open(f, -1, f->out[1], f->err[1], 0);
        /* The job wrote and exited before the relay read anything. */
        assert_int_equal(cd_write_all(f->child[1], out, 10000), 0);
        assert_int_equal(cd_write_all(f->child[2], "bye\n", 4), 0);
        for (int i = 0; i < 3; i++)
                close_fd(&f->child[i]);
        cd_relay_drain(&f->r);
        sink_read(&sinks[0]);
        sink_read(&sinks[1]);
        assert_received(&sinks[0], out, 10000);
        assert_received(&sinks[1], "bye\n", 4);
        assert_true(f->r.s[1].total == 10000);
}

static void drain_with_closed_caller_returns(void **state)
{
        struct fixture *f = *state;
        char *out = pattern(50000, 12);
        uint64_t start;

        close_fd(&f->out[0]);
        relay_open(f, -1, f->out[1], f->err[1], 0);
        assert_int_equal(cd_write_all(f->child[1], out, 50000), 0);
        for (int i = 0; i < 3; i++)
                close_fd(&f->child[i]);
        start = cd_now_ms();
        cd_relay_drain(&f->r);
        /* EPIPE gives the stream up at once; only a hang bound here. */
        assert_true(cd_now_ms() - start < 5000);
        assert_true(f->r.s[1].total == 50000);
}

/* A process that outlived the job (a daemonised grandchild) may still hold
 * the pipe: drain takes what is there and returns. */
static void drain_with_live_writer_returns(void **state)
{
        struct fixture *f = *state;
        char *out = pattern(5000, 13);
        struct sink *sinks = &f->sink[0];

        relay_open(f, -1, f->out[1], f->err[1], 0);
        assert_int_equal(cd_write_all(f->child[1], out, 5000), 0);
        close_fd(&f->child[0]);
        close_fd(&f->child[2]);
        cd_relay_drain(&f->r); /* f->child[1] still open: no EOF */
        sink_read(&sinks[0]);
        assert_received(&sinks[0], out, 5000);
}

/* With fd 0 free, pipe2 returns it; the job's dup3 onto 0..2 would then
 * clobber a relay end. Every end must lie above stderr. */
static void pipe_ends_stay_above_stderr(void **state)
{
        struct fixture *f = *state;
        int before;

        f->saved_stdin = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        assert_true(f->saved_stdin >= 0);
        (void) close(STDIN_FILENO);
        before = ut_count_fds();

        relay_open(f, -1, f->out[1], f->err[1], 0); /* asserts child ends > 2 */
        assert_int_equal(fcntl(STDIN_FILENO, F_GETFD), -1);
        for (int i = 0; i < 3; i++)
                close_fd(&f->child[i]);
        cd_relay_close(&f->r);
        f->opened = false;
        assert_int_equal(ut_count_fds(), before);

        /* Moving an end up fails: reported, and nothing is left open. */
        {
                struct cd_launch_io io = { .stdin_fd = -1,
                                           .stdout_fd = f->out[1],
                                           .stderr_fd = f->err[1],
                                           .cancel_fd = -1 };
                struct cd_err e = { 0 };

                cd_wrap_fail(WRAP_FCNTL, EMFILE, 1);
                assert_int_equal(cd_relay_open(&f->r, &io, f->child, &e), -EMFILE);
                f->opened = true;
                assert_non_null(strstr(e.msg, "relay: dup"));
                cd_relay_close(&f->r);
                f->opened = false;
                for (int i = 0; i < 3; i++)
                        close_fd(&f->child[i]);
                assert_int_equal(ut_count_fds(), before);
        }
}

static void caller_fds_keep_their_flags(void **state)
{
        struct fixture *f = *state;
        struct job_spec js = { "x", 1, "y", 1, false };
        struct sink *sinks = f->sink;
        int fl[3];

        relay_open(f, f->in[0], f->out[1], f->err[1], 0);
        spawn_job(f, &js);
        close_fd(&f->in[1]);
        pump(f, NULL, sinks, 2);
        assert_int_equal(reap_job(f), 0);
        fl[0] = fcntl(f->in[0], F_GETFL);
        fl[1] = fcntl(f->out[1], F_GETFL);
        fl[2] = fcntl(f->err[1], F_GETFL);
        for (int i = 0; i < 3; i++) {
                assert_true(fl[i] >= 0);
                /* O_NONBLOCK is shared by every holder of a file description:
                 * the caller's terminal or log would turn non-blocking too. */
                assert_int_equal(fl[i] & O_NONBLOCK, 0);
        }
}

static void close_releases_every_fd(void **state)
{
        struct fixture *f = *state;
        int before = ut_count_fds();

        relay_open(f, f->in[0], f->out[1], f->err[1], 0);
        assert_true(ut_count_fds() > before);
        for (int i = 0; i < 3; i++)
                close_fd(&f->child[i]);
        cd_relay_close(&f->r);
        f->opened = false;
        assert_int_equal(ut_count_fds(), before);
        /* The caller's fds are the caller's: still open. */
        assert_true(fcntl(f->in[0], F_GETFD) >= 0);
        assert_true(fcntl(f->out[1], F_GETFD) >= 0);
        assert_true(fcntl(f->err[1], F_GETFD) >= 0);

        /* Also with /dev/null opened for output dropped past the cap. */
        relay_open(f, -1, f->out[1], f->err[1], 1);
        assert_int_equal(cd_write_all(f->child[1], "dropped", 7), 0);
        close_fd(&f->child[1]);
        cd_relay_drain(&f->r);
        assert_true(f->r.s[1].null_fd >= 3);
        for (int i = 0; i < 3; i++)
                close_fd(&f->child[i]);
        cd_relay_close(&f->r);
        f->opened = false;
        assert_int_equal(ut_count_fds(), before);

        /* Also after a job ran and left output unread. */
        relay_open(f, -1, f->out[1], f->err[1], 0);
        assert_int_equal(cd_write_all(f->child[1], "unread", 6), 0);
        for (int i = 0; i < 3; i++)
                close_fd(&f->child[i]);
        cd_relay_close(&f->r);
        f->opened = false;
        assert_int_equal(ut_count_fds(), before);
}

static void open_failures_leave_nothing(void **state)
{
        struct fixture *f = *state;
        int before = ut_count_fds();
        static const struct {
                enum cd_wrap_sym sym;
                unsigned int nth;
                const char *msg;
        } faults[] = {
                { WRAP_PIPE2, 1, "relay: pipe" },
                { WRAP_PIPE2, 2, "relay: pipe" },
                { WRAP_PIPE2, 3, "relay: pipe" },
                { WRAP_FCNTL, 1, "relay: set non-blocking" },
                { WRAP_FCNTL, 4, "relay: set non-blocking" },
        };

        for (size_t i = 0; i < ELEMENTSOF(faults); i++) {
                struct cd_launch_io io = { .stdin_fd = f->in[0],
                                           .stdout_fd = f->out[1],
                                           .stderr_fd = f->err[1],
                                           .cancel_fd = -1 };
                struct cd_err e = { 0 };
                int r;

                cd_wrap_fail(faults[i].sym, EMFILE, faults[i].nth);
                r = cd_relay_open(&f->r, &io, f->child, &e);
                f->opened = true;
                if (r != -EMFILE || e.code != EMFILE || !strstr(e.msg, faults[i].msg) ||
                    !strstr(e.msg, "Too many open files"))
                        fail_msg("fault %zu: %d \"%s\"", i, r, e.msg);
                assert_false(cd_wrap_pending(faults[i].sym));
                /* The launcher closes the relay and the child ends it got. */
                cd_relay_close(&f->r);
                f->opened = false;
                for (int k = 0; k < 3; k++)
                        close_fd(&f->child[k]);
                if (ut_count_fds() != before)
                        fail_msg("fault %zu: %d fds left open", i, ut_count_fds() - before);
        }
}

/* supervise.c passes what is left of its poll array; with exactly room for
 * the three streams all three must be polled (and nothing written past). */
static void poll_fills_exactly_max_entries(void **state)
{
        struct fixture *f = *state;
        struct pollfd p[4];
        size_t n;

        relay_open(f, f->in[0], f->out[1], f->err[1], 0);
        memset(p, 0, sizeof(p));
        p[3].fd = 12345;
        n = cd_relay_poll(&f->r, p, 3);
        assert_int_equal(p[3].fd, 12345);
        assert_int_equal(n, 3);
        n = cd_relay_poll(&f->r, p, 1);
        assert_int_equal(n, 1);
        assert_int_equal(cd_relay_poll(&f->r, p, 0), 0);
}

/* A caller may send stdout and stderr to one fd (a log, a socket). */
static void same_fd_for_stdout_and_stderr(void **state)
{
        struct fixture *f = *state;
        struct job_spec js = { .err = "to stderr only\n", .err_len = 15 };
        struct sink *sinks = &f->sink[0];

        relay_open(f, -1, f->out[1], f->out[1], 0);
        spawn_job(f, &js);
        pump(f, NULL, sinks, 1);
        assert_int_equal(reap_job(f), 0);
        assert_received(&sinks[0], "to stderr only\n", 15);
}

/* A pseudo-terminal without line discipline translation (bytes compare as
 * written), its master non-blocking for the test to read. */
static void open_raw_pty(int *master, int *slave)
{
        struct termios raw;

        assert_int_equal(openpty(master, slave, NULL, NULL, NULL), 0);
        assert_int_equal(tcgetattr(*slave, &raw), 0);
        cfmakeraw(&raw);
        assert_int_equal(tcsetattr(*slave, TCSANOW, &raw), 0);
        assert_int_equal(ut_set_nonblock(*master, true), 0);
}

/* The caller's stdout is a terminal: a job must not be able to drive it
 * with escape sequences, so control characters arrive shown as ^X and C1
 * controls (here CSI, U+009B, split across two reads, and the 8-bit CSI
 * and OSC bytes alone) as '?'. Text, UTF-8, tab, newline and carriage
 * return pass unchanged. */
static void terminal_output_has_controls_escaped(void **state)
{
        static const char job_out[] = "a\033[31mb\007\t\xc3\xa9\177\x9b"
                                      "2J\x9d"
                                      "0\r\n";
        static const char shown[] = "a^[[31mb^G\t\xc3\xa9^??2J?0\r\n";
        struct fixture *f = *state;
        size_t big = 65536 / 2 - 3; /* the relay's raw chunk is 32766 bytes */
        char *out = malloc(big + 2 + sizeof(job_out) - 1);
        char *want = malloc(big + 1 + sizeof(shown) - 1);
        struct sink tty = { .fd = -1 };
        int master, slave;

        assert_non_null(out);
        assert_non_null(want);
        ut_defer(free, out);
        ut_defer(free, want);
        memset(out, 'x', big);
        memcpy(out + big, "\xc2\x9b", 2);
        memcpy(out + big + 2, job_out, sizeof(job_out) - 1);
        memset(want, 'x', big);
        want[big] = '?';
        memcpy(want + big + 1, shown, sizeof(shown) - 1);
        open_raw_pty(&master, &slave);
        tty.fd = master;
        assert_int_equal(setenv("LC_ALL", "C.UTF-8", 1), 0); /* UTF-8 passes */
        {
                struct job_spec js = { out, big + 2 + sizeof(job_out) - 1, NULL, 0, false };

                relay_open(f, -1, slave, f->err[1], 0);
                assert_true(f->r.s[1].escape);
                assert_false(f->r.s[2].escape);
                spawn_job(f, &js);
                pump(f, NULL, &tty, 1);
                assert_int_equal(reap_job(f), 0);
        }
        cd_relay_drain(&f->r);
        sink_read(&tty);
        assert_received(&tty, want, big + 1 + sizeof(shown) - 1);
        /* What the job wrote is counted, not what was shown. */
        assert_true(f->r.s[1].total == big + 2 + sizeof(job_out) - 1);
        assert_int_equal(unsetenv("LC_ALL"), 0);
        free(tty.buf);
        close(master);
        close(slave);
}

/* Where the locale is not UTF-8, the terminal may read the continuation
 * bytes of well-formed UTF-8 as C1 controls (U+201B is e2 80 9b, CSI in
 * an 8-bit mode): every byte from 0x80 on is shown as '?'. */
static void terminal_output_without_utf8_locale(void **state)
{
        static const char job_out[] = "x\xe2\x80\x9b"
                                      "2J\xc3\xa9\n";
        static const char shown[] = "x???2J??\n";
        struct fixture *f = *state;
        struct sink tty = { .fd = -1 };
        int master, slave;

        open_raw_pty(&master, &slave);
        tty.fd = master;
        assert_int_equal(setenv("LC_ALL", "C", 1), 0);
        {
                struct job_spec js = { job_out, sizeof(job_out) - 1, NULL, 0, false };

                relay_open(f, -1, slave, f->err[1], 0);
                assert_true(f->r.s[1].escape);
                spawn_job(f, &js);
                pump(f, NULL, &tty, 1);
                assert_int_equal(reap_job(f), 0);
        }
        assert_int_equal(unsetenv("LC_ALL"), 0);
        cd_relay_drain(&f->r);
        sink_read(&tty);
        assert_received(&tty, shown, sizeof(shown) - 1);
        free(tty.buf);
        close(master);
        close(slave);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(output_reaches_caller_intact),
                T(output_beyond_cap_is_dropped),
                T(output_cap_exact_and_one_over),
                T(dropped_output_rests_between_splices),
                T(close_of_a_relay_never_opened_closes_nothing),
                T(stdin_reaches_job_then_eof),
                T(no_stdin_gives_eof_at_once),
                T(job_ignoring_stdin_does_not_hang),
                T(closed_caller_stdout_neither_hangs_nor_kills),
                T(discarded_stdout_is_drained_and_counted),
                T(drain_moves_what_is_left),
                T(drain_with_closed_caller_returns),
                T(drain_with_live_writer_returns),
                T(pipe_ends_stay_above_stderr),
                T(caller_fds_keep_their_flags),
                T(close_releases_every_fd),
                T(open_failures_leave_nothing),
                T(poll_fills_exactly_max_entries),
                T(same_fd_for_stdout_and_stderr),
                T(terminal_output_has_controls_escaped),
                T(terminal_output_without_utf8_locale),
        };
#undef T

        return cmocka_run_group_tests_name("relay", tests, NULL, NULL);
}
