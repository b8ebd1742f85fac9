/* SPDX-License-Identifier: MIT */
/* Cut off clients that never finish a request head (watchdog.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "cordon/util.h"
#include "watchdog.h"

#define TICK_MS 500

struct watched {
        int fd;
        bool busy;
        bool cut;
        uint64_t since_ms;    /* connected, or the last answer finished */
        uint64_t deadline_ms; /* the request's own end (an upload's); 0: none */
        struct watched *prev, *next;
};

struct cd_watchdog {
        pthread_mutex_t lock;
        pthread_cond_t wake;
        pthread_t thread;
        bool stop;
        uint64_t timeout_ms;
        struct watched *head;
};

/* Past its request's deadline (an upload's), or idle past the head timeout. */
static bool expired(const struct cd_watchdog *w, const struct watched *c, uint64_t now)
{
        if (c->deadline_ms)
                return now > c->deadline_ms;
        return !c->busy && now - c->since_ms > w->timeout_ms;
}

/* shutdown(2) makes the connection's pending and next recv() return 0:
 * MHD then closes it as if the client had gone away. The fd stays valid
 * until MHD closes it, after cd_watchdog_remove(). */
static void sweep(struct cd_watchdog *w, uint64_t now)
{
        for (struct watched *c = w->head; c; c = c->next)
                if (!c->cut && expired(w, c, now)) {
                        (void) shutdown(c->fd, SHUT_RDWR);
                        c->cut = true;
                }
}

static void *run(void *arg)
{
        struct cd_watchdog *w = arg;

        pthread_mutex_lock(&w->lock);
        while (!w->stop) {
                struct timespec ts;

                sweep(w, cd_now_ms());
                ts = cd_monotonic_after(TICK_MS);
                (void) pthread_cond_timedwait(&w->wake, &w->lock, &ts);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

int cd_watchdog_start(unsigned int head_timeout_s, struct cd_watchdog **ret, struct cd_err *err)
{
        struct cd_watchdog *w = calloc(1, sizeof(*w));
        int r;

        if (!w)
                return cd_err_set(err, ENOMEM, "http: out of memory");
        w->timeout_ms = head_timeout_s * 1000ULL;
        pthread_mutex_init(&w->lock, NULL);
        r = -cd_cond_init_monotonic(&w->wake);
        if (r != 0) {
                free(w);
                return cd_err_set(err, r, "http: set up the connection watchdog");
        }
        r = pthread_create(&w->thread, NULL, run, w);
        if (r != 0) {
                pthread_cond_destroy(&w->wake);
                free(w);
                return cd_err_set(err, r, "http: start the connection watchdog");
        }
        *ret = w;
        return 0;
}

void cd_watchdog_stop(struct cd_watchdog *w)
{
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        (void) pthread_join(w->thread, NULL);
        while (w->head) {
                struct watched *c = w->head;

                w->head = c->next;
                free(c);
        }
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
}

void *cd_watchdog_add(struct cd_watchdog *w, int fd)
{
        struct watched *c = calloc(1, sizeof(*c));

        if (!c || fd < 0) {
                free(c);
                return NULL;
        }
        c->fd = fd;
        c->since_ms = cd_now_ms();
        pthread_mutex_lock(&w->lock);
        c->next = w->head;
        if (w->head)
                w->head->prev = c;
        w->head = c;
        pthread_mutex_unlock(&w->lock);
        return c;
}

void cd_watchdog_remove(struct cd_watchdog *w, void *handle)
{
        struct watched *c = handle;

        if (!c)
                return;
        pthread_mutex_lock(&w->lock);
        if (c->prev)
                c->prev->next = c->next;
        else
                w->head = c->next;
        if (c->next)
                c->next->prev = c->prev;
        pthread_mutex_unlock(&w->lock);
        free(c);
}

void cd_watchdog_busy(struct cd_watchdog *w, void *handle, bool busy)
{
        struct watched *c = handle;

        if (!c)
                return;
        pthread_mutex_lock(&w->lock);
        c->busy = busy;
        if (!busy) {
                c->since_ms = cd_now_ms();
                c->deadline_ms = 0;
        }
        pthread_mutex_unlock(&w->lock);
}

void cd_watchdog_deadline(struct cd_watchdog *w, void *handle, uint64_t deadline_ms)
{
        struct watched *c = handle;

        if (!c)
                return;
        pthread_mutex_lock(&w->lock);
        c->deadline_ms = deadline_ms;
        pthread_mutex_unlock(&w->lock);
}
