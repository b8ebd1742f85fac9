/* SPDX-License-Identifier: MIT */
/*
 * queue/queue.c with real worker threads. The run callback records the
 * order jobs start in and then blocks until the test releases it (or, in
 * the stop tests, until its cancel_fd fires): the tests decide when a job
 * ends, so no sleep orders anything. Covered: fairness between owners,
 * the bounds (-ENOSPC, -EDQUOT, force) and cd_queue_check agreeing with
 * cd_queue_push, places reserved before a job is stored, cd_queue_position
 * against the real start order, cancel of queued and running jobs,
 * cd_queue_wait, and cd_queue_stop with a running job and jobs left queued
 * (freed by cd_queue_free: run under ASan for the leak check).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cordon/queue.h"
#include "cordon/store.h"

#define MAX_STARTS 256
/* A bound on waiting for something that must happen: only a hang hits it. */
#define HANG_MS 60000

struct harness {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        char started[MAX_STARTS][CD_JOB_ID_LEN + 1]; /* in start order */
        int cancel_fd[MAX_STARTS];
        bool saw_cancel[MAX_STARTS];
        size_t n_started, n_finished;
        size_t released;   /* runs with a start index below this return */
        bool until_cancel; /* runs wait for their cancel_fd instead */
        size_t again;      /* this many first runs give their job back (-EAGAIN), once released */
        bool cancel_at_start[MAX_STARTS]; /* cancel_fd was readable when the run began */
};

struct fixture {
        struct harness h;
        struct cd_queue *q;
};

static int run(void *data, const char *id, int cancel_fd)
{
        struct harness *h = data;
        bool until_cancel;
        size_t idx;

        pthread_mutex_lock(&h->lock);
        idx = h->n_started++;
        if (idx < MAX_STARTS) {
                struct pollfd p = { .fd = cancel_fd, .events = POLLIN };

                memcpy(h->started[idx], id, CD_JOB_ID_LEN + 1);
                h->cancel_fd[idx] = cancel_fd;
                h->cancel_at_start[idx] = poll(&p, 1, 0) == 1;
        }
        until_cancel = h->until_cancel;
        pthread_cond_broadcast(&h->cond);
        while (!until_cancel && idx >= h->released)
                pthread_cond_wait(&h->cond, &h->lock);
        if (idx < h->again) {
                pthread_mutex_unlock(&h->lock);
                return -EAGAIN;
        }
        pthread_mutex_unlock(&h->lock);
        if (until_cancel) {
                struct pollfd p = { .fd = cancel_fd, .events = POLLIN };
                int r = poll(&p, 1, HANG_MS);

                pthread_mutex_lock(&h->lock);
                if (idx < MAX_STARTS)
                        h->saw_cancel[idx] = r == 1 && (p.revents & POLLIN);
                pthread_mutex_unlock(&h->lock);
        }
        pthread_mutex_lock(&h->lock);
        h->n_finished++;
        pthread_cond_broadcast(&h->cond);
        pthread_mutex_unlock(&h->lock);
        return 0;
}

static struct timespec hang_deadline(void)
{
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += HANG_MS / 1000;
        return ts;
}

/* Wait until @n runs have started (or finished); fails the test on a hang. */
static void wait_count(struct harness *h, const size_t *counter, size_t n, const char *what)
{
        struct timespec until = hang_deadline();
        bool ok;

        pthread_mutex_lock(&h->lock);
        while (*counter < n && pthread_cond_timedwait(&h->cond, &h->lock, &until) != ETIMEDOUT)
                ;
        ok = *counter >= n;
        pthread_mutex_unlock(&h->lock);
        if (!ok)
                fail_msg("%zu jobs never %s", n, what);
}

static void wait_started(struct fixture *f, size_t n)
{
        wait_count(&f->h, &f->h.n_started, n, "started");
}

static void wait_finished(struct fixture *f, size_t n)
{
        wait_count(&f->h, &f->h.n_finished, n, "finished");
}

/* Let the runs with start index below @n return. */
static void release(struct fixture *f, size_t n)
{
        pthread_mutex_lock(&f->h.lock);
        f->h.released = n;
        pthread_cond_broadcast(&f->h.cond);
        pthread_mutex_unlock(&f->h.lock);
}

static size_t started_count(struct fixture *f)
{
        size_t n;

        pthread_mutex_lock(&f->h.lock);
        n = f->h.n_started;
        pthread_mutex_unlock(&f->h.lock);
        return n;
}

/* Start @i's id (stable once started: only the test's thread reads it after). */
static const char *started_id(struct fixture *f, size_t i)
{
        const char *id;

        pthread_mutex_lock(&f->h.lock);
        assert_true(i < f->h.n_started && i < MAX_STARTS);
        id = f->h.started[i];
        pthread_mutex_unlock(&f->h.lock);
        return id;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        pthread_mutex_init(&f->h.lock, NULL);
        pthread_cond_init(&f->h.cond, NULL);
        *state = f;
        return 0;
}

/* Whatever a failed test left: let every run end, stop and free. */
static int teardown(void **state)
{
        struct fixture *f = *state;

        release(f, SIZE_MAX);
        if (f->q) {
                (void) cd_queue_stop(f->q, 0);
                cd_queue_free(f->q);
        }
        pthread_cond_destroy(&f->h.cond);
        pthread_mutex_destroy(&f->h.lock);
        free(f);
        return 0;
}

static void start_queue(struct fixture *f, unsigned int slots, unsigned int max_queued,
                        unsigned int max_per_client)
{
        const struct cd_queue_config cfg = {
                .slots = slots,
                .max_queued = max_queued,
                .max_per_client = max_per_client,
        };
        struct cd_err e = { 0 };
        int r = cd_queue_new(&cfg, run, &f->h, &f->q, &e);

        if (r != 0)
                fail_msg("cd_queue_new: %d %s", r, e.msg);
}

/* A job id (32 lowercase hex) naming its owner and number. */
static const char *job_id(uint32_t owner, unsigned int n)
{
        static char ids[512][CD_JOB_ID_LEN + 1];
        static unsigned int next;
        char *id = ids[next++ % 512];

        (void) snprintf(id, CD_JOB_ID_LEN + 1, "%08x%024x", owner, n);
        return id;
}

static uint32_t owner_of(const char *id)
{
        uint32_t o = 0;

        for (int i = 0; i < 8; i++)
                o = o * 16 + (uint32_t) (id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
        return o;
}

static void push_ok(struct fixture *f, const char *id, uint32_t owner)
{
        int r = cd_queue_push(f->q, id, owner, false);

        if (r != 0)
                fail_msg("push %s: %d", id, r);
}

/* cd_queue_check says what cd_queue_push then does. */
static int push_checked(struct fixture *f, const char *id, uint32_t owner)
{
        int c = cd_queue_check(f->q, owner);
        int r = cd_queue_push(f->q, id, owner, false);

        if (c != r)
                fail_msg("push %s of %u: check said %d, push returned %d", id, owner, c, r);
        return r;
}

static void assert_counts(struct fixture *f, size_t queued, size_t running)
{
        size_t q, r;

        cd_queue_counts(f->q, &q, &r);
        if (q != queued || r != running)
                fail_msg("queued %zu running %zu, expected %zu and %zu", q, r, queued, running);
}

/* Wait until the queue itself has seen every job end: the callback's
 * return is recorded after the harness counts it. */
static void wait_idle(struct fixture *f)
{
        for (;;) {
                uint64_t g = cd_queue_generation(f->q);
                size_t queued, running;

                cd_queue_counts(f->q, &queued, &running);
                if (queued == 0 && running == 0)
                        return;
                if (cd_queue_wait(f->q, g, HANG_MS) == g)
                        fail_msg("the queue never went idle (%zu queued, %zu running)", queued,
                                 running);
        }
}

/* Start a blocker for the only slot and wait until it runs. */
static const char *occupy_slot(struct fixture *f)
{
        const char *id = job_id(9, 0);

        push_ok(f, id, 9);
        wait_started(f, 1);
        assert_string_equal(started_id(f, 0), id);
        return id;
}

/* ---- fairness ---- */

static void test_fairness(void **state)
{
        struct fixture *f = *state;
        const char *b = job_id(2000, 0);
        bool b_early = false;
        size_t next_a = 1;

        start_queue(f, 1, 100, 50);
        for (unsigned int i = 0; i < 20; i++)
                push_ok(f, job_id(1000, i), 1000);
        wait_started(f, 1);
        assert_string_equal(started_id(f, 0), job_id(1000, 0));
        push_ok(f, b, 2000);
        assert_counts(f, 20, 1);
        assert_true(cd_queue_position(f->q, b) >= 1 && cd_queue_position(f->q, b) <= 2);

        for (size_t i = 1; i <= 20; i++) {
                release(f, i);
                wait_started(f, i + 1);
                if (strcmp(started_id(f, i), b) == 0) {
                        b_early = i <= 2;
                        continue;
                }
                /* A's own jobs keep their order. */
                assert_string_equal(started_id(f, i), job_id(1000, (unsigned int) next_a));
                next_a++;
        }
        if (!b_early)
                fail_msg("B's job was not among the first two after A's running one");
        release(f, 21);
        wait_finished(f, 21);
        wait_idle(f);
        assert_int_equal(started_count(f), 21);
}

/* Three owners, each with a backlog: no owner waits behind another's. */
static void test_round_robin(void **state)
{
        struct fixture *f = *state;
        uint32_t seen[3] = { 0 };

        start_queue(f, 1, 100, 50);
        (void) occupy_slot(f);
        for (unsigned int i = 0; i < 6; i++)
                push_ok(f, job_id(1, i), 1);
        for (unsigned int i = 0; i < 6; i++)
                push_ok(f, job_id(2, i), 2);
        for (unsigned int i = 0; i < 6; i++)
                push_ok(f, job_id(3, i), 3);
        for (size_t i = 1; i <= 3; i++) {
                release(f, i);
                wait_started(f, i + 1);
                seen[i - 1] = owner_of(started_id(f, i));
        }
        assert_true(seen[0] != seen[1] && seen[1] != seen[2] && seen[0] != seen[2]);
}

/* ---- bounds ---- */

static void test_bounds(void **state)
{
        struct fixture *f = *state;

        start_queue(f, 1, 4, 2);
        (void) occupy_slot(f);
        assert_int_equal(push_checked(f, job_id(1, 1), 1), 0);
        assert_int_equal(push_checked(f, job_id(1, 2), 1), 0);
        assert_int_equal(push_checked(f, job_id(1, 3), 1), -EDQUOT);
        assert_int_equal(push_checked(f, job_id(1, 3), 1), -EDQUOT);
        assert_counts(f, 2, 1);
        assert_int_equal(push_checked(f, job_id(2, 1), 2), 0);
        assert_int_equal(push_checked(f, job_id(2, 2), 2), 0);
        assert_counts(f, 4, 1);
        /* Full: every owner, new or not, gets -ENOSPC (before -EDQUOT). */
        assert_int_equal(push_checked(f, job_id(3, 1), 3), -ENOSPC);
        assert_int_equal(push_checked(f, job_id(2, 3), 2), -ENOSPC);
        assert_int_equal(push_checked(f, job_id(1, 3), 1), -ENOSPC);
        assert_counts(f, 4, 1);
        /* Restart recovery bypasses both bounds. */
        assert_int_equal(cd_queue_push(f->q, job_id(3, 1), 3, true), 0);
        assert_int_equal(cd_queue_push(f->q, job_id(1, 3), 1, true), 0);
        assert_int_equal(cd_queue_push(f->q, job_id(1, 4), 1, true), 0);
        assert_counts(f, 7, 1);
        assert_int_equal(cd_queue_check(f->q, 4), -ENOSPC);
        /* Back under the bounds by cancelling. */
        assert_int_equal(cd_queue_cancel(f->q, job_id(1, 1)), 1);
        assert_int_equal(cd_queue_cancel(f->q, job_id(1, 3)), 1);
        assert_int_equal(cd_queue_cancel(f->q, job_id(3, 1)), 1);
        assert_counts(f, 4, 1);
        assert_int_equal(cd_queue_check(f->q, 4), -ENOSPC);
        assert_int_equal(cd_queue_cancel(f->q, job_id(2, 1)), 1);
        assert_counts(f, 3, 1);
        /* Owner 1 still has 2 queued (1.2 and 1.4); owner 2 has one. */
        assert_int_equal(push_checked(f, job_id(1, 5), 1), -EDQUOT);
        assert_int_equal(push_checked(f, job_id(2, 5), 2), 0);
        assert_counts(f, 4, 1);
        assert_int_equal(push_checked(f, job_id(5, 5), 5), -ENOSPC);
        /* A running job is not queued: it does not count against its owner. */
        assert_int_equal(cd_queue_check(f->q, 9), -ENOSPC);
        assert_int_equal(cd_queue_cancel(f->q, job_id(2, 5)), 1);
        assert_int_equal(push_checked(f, job_id(9, 1), 9), 0);
}

/* Reserved places count against both bounds, a filled place is an ordinary
 * queued job (it runs), a released one frees its place, and an owner whose
 * only claim is a reservation is kept until it is filled or released. */
static void test_reserve(void **state)
{
        struct fixture *f = *state;
        struct cd_queue_place *a, *b, *c, *d;

        start_queue(f, 1, 3, 2);
        (void) occupy_slot(f);
        assert_int_equal(cd_queue_reserve(f->q, 1, &a), 0);
        assert_int_equal(cd_queue_reserve(f->q, 1, &b), 0);
        assert_int_equal(cd_queue_check(f->q, 1), -EDQUOT);
        assert_int_equal(cd_queue_reserve(f->q, 1, &d), -EDQUOT);
        assert_int_equal(cd_queue_push(f->q, job_id(1, 9), 1, false), -EDQUOT);
        assert_counts(f, 0, 1);
        assert_int_equal(cd_queue_reserve(f->q, 2, &c), 0);
        assert_int_equal(cd_queue_check(f->q, 3), -ENOSPC);
        assert_int_equal(cd_queue_reserve(f->q, 3, &d), -ENOSPC);
        assert_int_equal(cd_queue_push(f->q, job_id(3, 1), 3, false), -ENOSPC);
        /* Owner 2 holds nothing but its reservation: it must outlive the
         * pruning that failed calls and releases do. */
        cd_queue_release(f->q, b);
        assert_int_equal(cd_queue_reserve(f->q, 3, &d), 0);
        cd_queue_fill(f->q, c, job_id(2, 1));
        cd_queue_fill(f->q, a, job_id(1, 1));
        assert_counts(f, 2, 1);
        assert_int_equal(cd_queue_position(f->q, job_id(2, 1)), 1);
        cd_queue_fill(f->q, d, job_id(3, 1));
        assert_counts(f, 3, 1);
        assert_int_equal(cd_queue_check(f->q, 4), -ENOSPC);
        /* Filled places run like pushed jobs. */
        release(f, 4);
        wait_finished(f, 4);
        wait_idle(f);
        assert_counts(f, 0, 0);
        assert_int_equal(cd_queue_reserve(f->q, 4, &a), 0);
        assert_int_equal(cd_queue_stop(f->q, HANG_MS), 0);
        assert_int_equal(cd_queue_reserve(f->q, 4, &b), -ESHUTDOWN);
        /* A place taken before the stop is still filled: its job is stored
         * by then, and must stay queued for the restart. */
        cd_queue_fill(f->q, a, job_id(4, 1));
        assert_counts(f, 1, 0);
}

/* ---- positions ---- */

struct pos {
        const char *id;
        size_t pos;
};

/* A run that gives its job back (-EAGAIN: its row could not be read) has
 * it queued again, last, even past a full queue: it is run again, not lost. */
static void test_run_gives_the_job_back(void **state)
{
        struct fixture *f = *state;

        f->h.again = 2;
        start_queue(f, 1, 1, 1);
        assert_int_equal(cd_queue_push(f->q, job_id(1, 1), 1, false), 0);
        release(f, 2);
        wait_started(f, 3); /* given back twice, then run */
        for (size_t i = 0; i < 3; i++)
                assert_string_equal(started_id(f, i), job_id(1, 1));
        assert_false(f->h.cancel_at_start[2]);
        assert_counts(f, 0, 1);
        release(f, 3);
        wait_finished(f, 1);
        wait_idle(f);
        assert_counts(f, 0, 0);
}

/* A job cancelled while running and then given back stays cancelled: its
 * next run starts with cancel_fd readable (the cancel was recorded and
 * answered), and meanwhile it counts as being cancelled. */
static void test_give_back_keeps_the_cancel(void **state)
{
        struct fixture *f = *state;
        const char *id = job_id(1, 1);

        f->h.again = 1;
        start_queue(f, 1, 2, 2);
        assert_int_equal(cd_queue_push(f->q, id, 1, false), 0);
        wait_started(f, 1);
        assert_false(f->h.cancel_at_start[0]);
        assert_int_equal(cd_queue_cancel(f->q, id), 2); /* running: cancel_fd fired */
        assert_true(cd_queue_cancelling(f->q, id));
        release(f, 1);
        wait_started(f, 2);
        assert_string_equal(started_id(f, 1), id);
        assert_true(f->h.cancel_at_start[1]);
        assert_true(cd_queue_cancelling(f->q, id));
        release(f, 2);
        wait_finished(f, 1);
}

static void test_position_matches_start_order(void **state)
{
        static const uint32_t owners[] = { 1, 1, 1, 2, 3, 1, 2, 2, 4, 1, 3, 1, 2, 4, 4, 1 };
        enum { N = sizeof(owners) / sizeof(owners[0]) };
        struct fixture *f = *state;
        struct pos p[N];
        const char *blocker;

        start_queue(f, 1, 100, 50);
        blocker = occupy_slot(f);
        for (size_t i = 0; i < N; i++) {
                p[i].id = job_id(owners[i], (unsigned int) i);
                push_ok(f, p[i].id, owners[i]);
        }
        /* Positions are 1..N, each once. */
        for (size_t i = 0; i < N; i++) {
                p[i].pos = cd_queue_position(f->q, p[i].id);
                assert_true(p[i].pos >= 1 && p[i].pos <= N);
                for (size_t k = 0; k < i; k++)
                        assert_true(p[k].pos != p[i].pos);
        }
        assert_int_equal(cd_queue_position(f->q, blocker), 0);
        assert_int_equal(cd_queue_position(f->q, job_id(77, 77)), 0);

        /* Job by job: the one at position 1 starts, the others move up one. */
        for (size_t started = 1; started <= N; started++) {
                const char *id;

                release(f, started);
                wait_started(f, started + 1);
                id = started_id(f, started);
                for (size_t i = 0; i < N; i++) {
                        size_t now = cd_queue_position(f->q, p[i].id);

                        if (p[i].pos == started) {
                                if (strcmp(p[i].id, id) != 0)
                                        fail_msg("start %zu: expected %s (position %zu), got %s",
                                                 started, p[i].id, p[i].pos, id);
                                assert_int_equal(now, 0);
                        } else if (p[i].pos > started) {
                                assert_int_equal(now, p[i].pos - started);
                        } else {
                                assert_int_equal(now, 0);
                        }
                }
        }
        release(f, N + 1);
        wait_finished(f, N + 1);
}

/* ---- cancel ---- */

static bool readable(int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void test_cancel_queued(void **state)
{
        struct fixture *f = *state;
        const char *x = job_id(1, 1), *y = job_id(1, 2), *z = job_id(1, 3), *w = job_id(1, 4);

        start_queue(f, 1, 100, 50);
        (void) occupy_slot(f);
        push_ok(f, x, 1);
        push_ok(f, y, 1);
        assert_int_equal(cd_queue_position(f->q, x), 1);
        /* The head of the owner's list. */
        assert_int_equal(cd_queue_cancel(f->q, x), 1);
        assert_counts(f, 1, 1);
        assert_int_equal(cd_queue_position(f->q, x), 0);
        assert_int_equal(cd_queue_position(f->q, y), 1);
        assert_int_equal(cd_queue_cancel(f->q, x), 0);
        assert_int_equal(cd_queue_cancel(f->q, job_id(5, 5)), 0);
        /* The tail: a job pushed after it must still be linked in. */
        push_ok(f, z, 1);
        assert_int_equal(cd_queue_cancel(f->q, z), 1);
        push_ok(f, w, 1);
        assert_counts(f, 2, 1);
        assert_int_equal(cd_queue_position(f->q, w), 2);
        /* x was ahead of y and z of w: had they stayed, they would start. */
        release(f, 1);
        wait_started(f, 2);
        assert_string_equal(started_id(f, 1), y);
        release(f, 2);
        wait_started(f, 3);
        assert_string_equal(started_id(f, 2), w);
        release(f, 3);
        wait_finished(f, 3);
        wait_idle(f);
        assert_int_equal(started_count(f), 3);
}

static void test_cancel_running(void **state)
{
        struct fixture *f = *state;
        const char *r = job_id(1, 1), *s = job_id(1, 2);
        int fd;

        start_queue(f, 1, 100, 50);
        push_ok(f, r, 1);
        wait_started(f, 1);
        pthread_mutex_lock(&f->h.lock);
        fd = f->h.cancel_fd[0];
        pthread_mutex_unlock(&f->h.lock);
        assert_false(readable(fd));
        assert_int_equal(cd_queue_cancel(f->q, r), 2);
        assert_true(readable(fd));
        /* Cancel asks; the job still runs until its callback returns. */
        assert_counts(f, 0, 1);
        push_ok(f, s, 1);
        release(f, 1);
        wait_started(f, 2);
        assert_string_equal(started_id(f, 1), s);
        assert_int_equal(cd_queue_cancel(f->q, r), 0);
        /* The slot's next job starts with its cancel_fd drained. */
        pthread_mutex_lock(&f->h.lock);
        assert_int_equal(f->h.cancel_fd[1], fd);
        pthread_mutex_unlock(&f->h.lock);
        assert_false(readable(fd));
        release(f, 2);
        wait_finished(f, 2);
}

/* ---- waiting for changes ---- */

struct waiter {
        struct cd_queue *q;
        uint64_t seen, got;
        pthread_t thread;
};

static void *wait_thread(void *arg)
{
        struct waiter *w = arg;

        w->got = cd_queue_wait(w->q, w->seen, HANG_MS);
        return NULL;
}

static void start_waiter(struct waiter *w, struct cd_queue *q)
{
        *w = (struct waiter){ .q = q, .seen = cd_queue_generation(q) };
        w->got = w->seen;
        assert_int_equal(pthread_create(&w->thread, NULL, wait_thread, w), 0);
}

static uint64_t join_waiter(struct waiter *w)
{
        assert_int_equal(pthread_join(w->thread, NULL), 0);
        return w->got;
}

static void test_wait(void **state)
{
        struct fixture *f = *state;
        struct waiter w;
        uint64_t g;

        start_queue(f, 1, 100, 50);
        g = cd_queue_generation(f->q);
        /* Nothing happens: it times out and returns what it was given. */
        assert_true(cd_queue_wait(f->q, g, 20) == g);
        /* A generation already past: no wait at all. */
        assert_true(cd_queue_wait(f->q, g + 100, HANG_MS) == g);

        /* A job finishing wakes a waiter. Starting one does not change it. */
        push_ok(f, job_id(1, 1), 1);
        wait_started(f, 1);
        assert_true(cd_queue_generation(f->q) == g);
        start_waiter(&w, f->q);
        release(f, 1);
        assert_true(join_waiter(&w) == g + 1);
        wait_finished(f, 1);

        /* So does cd_queue_notify. */
        start_waiter(&w, f->q);
        cd_queue_notify(f->q);
        assert_true(join_waiter(&w) == g + 2);
        assert_true(cd_queue_generation(f->q) == g + 2);

        /* A cancelled queued job changes nothing by itself (the caller notifies). */
        push_ok(f, job_id(1, 2), 1);
        wait_started(f, 2);
        push_ok(f, job_id(1, 3), 1);
        assert_int_equal(cd_queue_cancel(f->q, job_id(1, 3)), 1);
        assert_true(cd_queue_wait(f->q, g + 2, 20) == g + 2);
        release(f, 2);
        wait_finished(f, 2);
}

/* ---- stop ---- */

/* A running job is cancelled once: a second cancel says so (3) and fires
 * nothing; the slot's next job starts uncancelled. */
static void test_cancel_running_once(void **state)
{
        struct fixture *f = *state;
        const char *x = job_id(1, 1), *y = job_id(1, 2);

        f->h.until_cancel = true;
        start_queue(f, 1, 100, 50);
        push_ok(f, x, 1);
        wait_started(f, 1);
        assert_false(cd_queue_cancelling(f->q, x));
        assert_int_equal(cd_queue_cancel(f->q, x), 2);
        assert_true(cd_queue_cancelling(f->q, x));
        assert_int_equal(cd_queue_cancel(f->q, x), 3);
        wait_finished(f, 1);
        assert_true(f->h.saw_cancel[0]);
        /* The one slot takes y once x's worker has let it go. */
        push_ok(f, y, 1);
        wait_started(f, 2);
        assert_false(cd_queue_cancelling(f->q, x));
        assert_int_equal(cd_queue_cancel(f->q, x), 0);
        assert_false(cd_queue_cancelling(f->q, y));
        assert_int_equal(cd_queue_cancel(f->q, y), 2);
        wait_finished(f, 2);
}

static void test_stop_cancels_running(void **state)
{
        struct fixture *f = *state;

        f->h.until_cancel = true;
        start_queue(f, 2, 100, 50);
        push_ok(f, job_id(1, 1), 1);
        push_ok(f, job_id(2, 1), 2);
        wait_started(f, 2);
        /* Both slots busy: these stay queued. */
        push_ok(f, job_id(1, 2), 1);
        push_ok(f, job_id(3, 1), 3);
        push_ok(f, job_id(3, 2), 3);
        assert_counts(f, 3, 2);

        assert_int_equal(cd_queue_stop(f->q, 0), 2);
        /* Stop joined the workers: both runs saw their cancel_fd and returned. */
        assert_int_equal(f->h.n_finished, 2);
        assert_true(f->h.saw_cancel[0]);
        assert_true(f->h.saw_cancel[1]);
        assert_int_equal(f->h.n_started, 2);
        assert_counts(f, 3, 0);
        assert_int_equal(cd_queue_position(f->q, job_id(3, 2)), 3);
        assert_int_equal(cd_queue_push(f->q, job_id(4, 1), 4, false), -ESHUTDOWN);
        assert_int_equal(cd_queue_push(f->q, job_id(4, 1), 4, true), -ESHUTDOWN);
        assert_int_equal(cd_queue_check(f->q, 1), -ESHUTDOWN);
        assert_int_equal(cd_queue_check(f->q, 4), -ESHUTDOWN);
        /* The queued jobs are freed with the queue (ASan: no leak). */
        cd_queue_free(f->q);
        f->q = NULL;
}

struct stopper {
        struct cd_queue *q;
        unsigned int cancelled;
        pthread_t thread;
};

static void *stop_thread(void *arg)
{
        struct stopper *s = arg;

        s->cancelled = cd_queue_stop(s->q, HANG_MS);
        return NULL;
}

/* Within the grace time a job that ends by itself is not cancelled. */
static void test_stop_grace(void **state)
{
        struct fixture *f = *state;
        struct stopper s;
        int fd;

        start_queue(f, 1, 100, 50);
        (void) occupy_slot(f);
        pthread_mutex_lock(&f->h.lock);
        fd = f->h.cancel_fd[0];
        pthread_mutex_unlock(&f->h.lock);
        s = (struct stopper){ .q = f->q };
        assert_int_equal(pthread_create(&s.thread, NULL, stop_thread, &s), 0);
        release(f, 1);
        assert_int_equal(pthread_join(s.thread, NULL), 0);
        assert_int_equal(s.cancelled, 0);
        assert_false(readable(fd));
        assert_int_equal(f->h.n_finished, 1);
        assert_counts(f, 0, 0);
}

static void test_stop_idle(void **state)
{
        struct fixture *f = *state;

        start_queue(f, 4, 100, 50);
        assert_int_equal(cd_queue_stop(f->q, HANG_MS), 0);
        assert_int_equal(cd_queue_push(f->q, job_id(1, 1), 1, false), -ESHUTDOWN);
        assert_counts(f, 0, 0);
        /* Stopping twice is harmless. */
        assert_int_equal(cd_queue_stop(f->q, 0), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_fairness),
                T(test_round_robin),
                T(test_bounds),
                T(test_reserve),
                T(test_run_gives_the_job_back),
                T(test_give_back_keeps_the_cancel),
                T(test_position_matches_start_order),
                T(test_cancel_queued),
                T(test_cancel_running),
                T(test_cancel_running_once),
                T(test_wait),
                T(test_stop_cancels_running),
                T(test_stop_grace),
                T(test_stop_idle),
        };
#undef T

        return cmocka_run_group_tests(tests, NULL, NULL);
}
