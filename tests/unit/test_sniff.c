/* SPDX-License-Identifier: MIT */
/*
 * The collector's side of the sniffer's protocol (src/artifacts/sniff.c)
 * against a sniffer taken over through libmagic: one that answers ahead
 * and stops reading must not block the collector once the socket's buffer
 * is full; each call ends by its deadline and the sniffer is killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "artifacts/artifacts-internal.h"
#include "cordon/util.h"

enum peer { HONEST, AHEAD, AHEAD_ON_A_TIMER, SILENT };

/* What the peers answer: a length byte and the answer (answer_of()
 * changes it for one peer). */
#define PLAIN "\x0atext/plain"
static char answer_buf[256] = PLAIN;
static size_t answer_len = sizeof(PLAIN) - 1;

static const struct cd_sniff_until no_limit = { .deadline_ms = 0, .cancel_fd = -1 };

/* A fake sniffer on @fd: reads each request and answers it (HONEST), or
 * sends 64 answers up front and never reads (AHEAD), or never reads and
 * sends one answer every 5 ms (AHEAD_ON_A_TIMER), or reads each request
 * and never answers (SILENT: libmagic busy on a slow file). */
_Noreturn static void run_peer(int fd, enum peer kind)
{
        static char req[CD_SNIFF_BYTES];
        struct timespec tick = { 0, 5 * 1000 * 1000 };
        uint32_t n;

        if (kind == AHEAD)
                for (int i = 0; i < 64; i++)
                        (void) cd_write_all(fd, answer_buf, answer_len);
        for (;;) {
                if (kind == AHEAD)
                        (void) pause();
                if (kind == AHEAD_ON_A_TIMER) {
                        (void) cd_write_all(fd, answer_buf, answer_len);
                        (void) nanosleep(&tick, NULL);
                        continue;
                }
                if (cd_read_exact(fd, &n, sizeof(n)) <= 0 || n > sizeof(req) ||
                    cd_read_exact(fd, req, n) <= 0)
                        _exit(0);
                if (kind != SILENT)
                        (void) cd_write_all(fd, answer_buf, answer_len);
        }
}

static void start_peer(struct cd_sniffer *s, enum peer kind)
{
        int sv[2];
        pid_t pid;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* Gone with the test, even when the test fails by its alarm. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
                        _exit(1);
                (void) close(sv[0]);
                run_peer(sv[1], kind);
        }
        (void) close(sv[1]);
        *s = (struct cd_sniffer){ .pid = pid, .fd = sv[0] };
}

/* Sniff 64 KiB files, as the collector does, until a call fails or
 * @files have been sniffed. Returns the failing call's result (0: none). */
static int sniff_files(struct cd_sniffer *s, int files, int *ret_done)
{
        static char buf[CD_SNIFF_BYTES];
        struct cd_sniffed type;
        int r = 0;

        *ret_done = 0;
        for (int i = 0; i < files && r == 0; i++) {
                r = cd_sniffer_type(s, buf, sizeof(buf), &no_limit, &type);
                if (r == 0) {
                        assert_string_equal(type.type, "text/plain");
                        (*ret_done)++;
                }
        }
        return r;
}

static void alarm_fails(int sig)
{
        (void) sig;
        if (write(2, "the collector blocked on the sniffer\n", 37) < 0)
                _exit(2);
        _exit(1);
}

static void test_honest_sniffer(void **state)
{
        struct cd_sniffer s;
        int done;

        (void) state;
        start_peer(&s, HONEST);
        assert_int_equal(sniff_files(&s, 32, &done), 0);
        assert_int_equal(done, 32);
        cd_sniffer_stop(&s);
}

/* The answers are all there in time, but the requests pile up unread:
 * before, the fourth request's write blocked forever (no CPU, no deadline). */
static void test_sniffer_answering_ahead(void **state)
{
        struct cd_sniffer s;
        int done;

        (void) state;
        assert_true(signal(SIGALRM, alarm_fails) != SIG_ERR);
        (void) alarm(3 * CD_SNIFF_TIMEOUT_MS / 1000 + 5);
        start_peer(&s, AHEAD);
        {
                struct pollfd p = { .fd = s.fd, .events = POLLIN };

                assert_int_equal(poll(&p, 1, 5000), 1); /* its answers are there */
        }
        assert_int_equal(sniff_files(&s, 32, &done), -EPROTO);
        assert_int_equal(done, 0);   /* it spoke before it was asked */
        assert_int_equal(s.pid, -1); /* killed and reaped */
        assert_int_equal(s.fd, -1);
        (void) alarm(0);
}

/* Answers that arrive while the collector writes are not caught up front;
 * the write's deadline ends it then. */
static void test_sniffer_answering_on_a_timer(void **state)
{
        struct cd_sniffer s;
        int done, r;

        (void) state;
        assert_true(signal(SIGALRM, alarm_fails) != SIG_ERR);
        (void) alarm(3 * CD_SNIFF_TIMEOUT_MS / 1000 + 5);
        start_peer(&s, AHEAD_ON_A_TIMER);
        r = sniff_files(&s, 64, &done);
        assert_true(r == -EPROTO || r == -ETIMEDOUT);
        assert_int_equal(s.pid, -1);
        (void) alarm(0);
}

/* The collection's time is spent (its deadline passed): no answer is
 * waited for, however soon it would come, and the sniffer is stopped.
 * Before, each file had its own 2 s, and a thousand slow files took the
 * collection minutes. */
static void test_collection_deadline_cuts_the_wait(void **state)
{
        static char buf[CD_SNIFF_BYTES];
        struct cd_sniffer s;
        struct cd_sniffed type;
        int done;

        (void) state;
        start_peer(&s, HONEST);
        assert_int_equal(sniff_files(&s, 1, &done), 0); /* it answers */
        assert_int_equal(cd_sniffer_type(&s, buf, sizeof(buf),
                                         &(struct cd_sniff_until){ .deadline_ms = cd_now_ms() - 1,
                                                                   .cancel_fd = -1 },
                                         &type),
                         -ETIMEDOUT);
        assert_int_equal(s.pid, -1); /* killed and reaped */
        assert_int_equal(s.fd, -1);
}

/* A cancel (SIGINT to cordon run, cordond's cancel) while the collector
 * waits for an answer ends the wait then, not at the per-file deadline:
 * -ECANCELED, the sniffer stopped, and the cancel fd still readable for
 * the caller. Before, the wait ignored it (and the walk went on). */
static void test_cancel_cuts_the_wait(void **state)
{
        static char buf[CD_SNIFF_BYTES];
        const struct itimerspec soon = { .it_value = { 0, 50 * 1000 * 1000 } };
        struct cd_sniffer s;
        struct pollfd p;
        struct cd_sniffed type;
        int tfd;

        (void) state;
        assert_true(signal(SIGALRM, alarm_fails) != SIG_ERR);
        (void) alarm(3 * CD_SNIFF_TIMEOUT_MS / 1000 + 5);
        /* A timer stands for the signalfd or eventfd: readable in 50 ms. */
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        assert_true(tfd >= 0);
        assert_int_equal(timerfd_settime(tfd, 0, &soon, NULL), 0);
        start_peer(&s, SILENT);
        assert_int_equal(
                cd_sniffer_type(&s, buf, sizeof(buf),
                                &(struct cd_sniff_until){ .deadline_ms = 0, .cancel_fd = tfd },
                                &type),
                -ECANCELED);
        assert_int_equal(s.pid, -1); /* killed and reaped */
        assert_int_equal(s.fd, -1);
        p = (struct pollfd){ .fd = tfd, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 0), 1); /* not read: still there */
        (void) close(tfd);
        (void) alarm(0);
}

static void *take_for_reading(void *lock)
{
        assert_int_equal(pthread_rwlock_rdlock(lock), 0);
        return NULL;
}

/* A fork lock held (for reading, by another thread: a build of another
 * job's file systems) as the collector starts a sniffer: the wait for it
 * ends with a cancel, or with the collection's deadline, and nothing is
 * forked. Before, the start waited on the lock for as long as the build
 * took, outside max_time and the cancel. */
static void test_fork_lock_wait_ends(void **state)
{
        const struct itimerspec soon = { .it_value = { 0, 50 * 1000 * 1000 } };
        pthread_rwlock_t lock;
        pthread_rwlockattr_t a;
        struct cd_sniffer s;
        struct cd_err err = { 0 };
        pthread_t reader;
        int tfd;

        (void) state;
        /* The kind of the launcher's fs_lock (launcher/launch.c). */
        assert_int_equal(pthread_rwlockattr_init(&a), 0);
        assert_int_equal(
                pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP), 0);
        assert_int_equal(pthread_rwlock_init(&lock, &a), 0);
        (void) pthread_rwlockattr_destroy(&a);
        assert_true(signal(SIGALRM, alarm_fails) != SIG_ERR);
        (void) alarm(10);
        assert_int_equal(pthread_create(&reader, NULL, take_for_reading, &lock), 0);
        assert_int_equal(pthread_join(reader, NULL), 0);
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        assert_true(tfd >= 0);
        assert_int_equal(timerfd_settime(tfd, 0, &soon, NULL), 0);
        assert_int_equal(
                cd_sniffer_start(&s, 65534, 65534, &lock,
                                 &(struct cd_sniff_until){ .deadline_ms = 0, .cancel_fd = tfd },
                                 &err),
                -ECANCELED);
        assert_int_equal(err.code, ECANCELED);
        assert_int_equal(s.pid, -1);
        assert_int_equal(s.fd, -1);
        assert_int_equal(
                cd_sniffer_start(&s, 65534, 65534, &lock,
                                 &(struct cd_sniff_until){ .deadline_ms = cd_now_ms() + 100,
                                                           .cancel_fd = -1 },
                                 &err),
                -ETIMEDOUT);
        assert_int_equal(err.code, ETIMEDOUT);
        assert_int_equal(s.pid, -1);
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* no child was forked */
        assert_int_equal(errno, ECHILD);
        (void) close(tfd);
        (void) alarm(0);
}

/* A sniffer that answers @text (@len bytes) to one request: what
 * cd_sniffer_type() makes of it. */
static int answer_of(const char *text, size_t len, struct cd_sniffed *ret)
{
        static char buf[16];
        struct cd_sniffer s;
        int r;

        assert_true(len < sizeof(answer_buf) - 1);
        answer_buf[0] = (char) len;
        memcpy(answer_buf + 1, text, len);
        answer_len = len + 1;
        start_peer(&s, HONEST);
        memcpy(answer_buf, PLAIN, sizeof(PLAIN)); /* the peer has its copy */
        answer_len = sizeof(PLAIN) - 1;
        r = cd_sniffer_type(&s, buf, sizeof(buf), &no_limit, ret);
        cd_sniffer_stop(&s);
        return r;
}

#define ANSWER(text, ret) answer_of(text, sizeof(text) - 1, ret)

/* libmagic's answer with its encoding: the type, and text or binary by the
 * charset (types.c judges a file's tail by it), both lower-cased and
 * kept to their shapes; no charset is binary. */
static void test_answer_with_charset(void **state)
{
        struct cd_sniffed t;

        (void) state;
        assert_int_equal(ANSWER("text/CSV; charset=US-ASCII", &t), 0);
        assert_string_equal(t.type, "text/csv");
        assert_string_equal(t.charset, "us-ascii");
        assert_true(t.text);
        assert_int_equal(ANSWER("text/plain; charset=utf-16le", &t), 0);
        assert_true(t.text);
        assert_int_equal(ANSWER("application/zip; charset=binary", &t), 0);
        assert_string_equal(t.type, "application/zip");
        assert_false(t.text);
        assert_int_equal(ANSWER("text/plain", &t), 0);
        assert_string_equal(t.charset, "binary");
        assert_false(t.text);
        assert_int_equal(ANSWER("text/plain; charset=", &t), -EPROTO);
        assert_int_equal(ANSWER("text/plain; charset=utf 8", &t), -EPROTO);
        assert_int_equal(ANSWER("text/plain; charset=a;b", &t), -EPROTO);
        assert_int_equal(ANSWER("text/plain\0; charset=binary", &t), -EPROTO);
        assert_int_equal(ANSWER("text/<b>; charset=us-ascii", &t), -EPROTO);
        assert_int_equal(ANSWER("; charset=us-ascii", &t), -EPROTO);
        assert_int_equal(ANSWER("text/plain; charset=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &t),
                         -EPROTO); /* longer than any charset */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_honest_sniffer),
                cmocka_unit_test(test_collection_deadline_cuts_the_wait),
                cmocka_unit_test(test_cancel_cuts_the_wait),
                cmocka_unit_test(test_fork_lock_wait_ends),
                cmocka_unit_test(test_answer_with_charset),
                cmocka_unit_test(test_sniffer_answering_ahead),
                cmocka_unit_test(test_sniffer_answering_on_a_timer),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
