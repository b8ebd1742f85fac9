/* SPDX-License-Identifier: MIT */
/* The bounded, fair job queue of cordond (queue.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/queue.h"
#include "cordon/store.h"
#include "cordon/util.h"

struct qjob {
        char id[CD_JOB_ID_LEN + 1];
        bool cancelled; /* given back (-EAGAIN) after a cancel: it stays cancelled */
        struct qjob *next;
};

/* One client: its queued jobs in order, and how much it is being served. */
struct owner {
        uint32_t uid;
        struct qjob *head, *tail;
        size_t queued;
        size_t reserved; /* places taken by cd_queue_reserve(), not yet filled */
        size_t running;
        uint64_t last_served;
        struct owner *next;
};

struct slot {
        struct cd_queue *q;
        pthread_t thread;
        bool started;
        bool cancelled; /* cancel_fd fired for the job it runs */
        bool finishing; /* its verdict is being recorded: too late to cancel */
        int cancel_fd;
        char id[CD_JOB_ID_LEN + 1]; /* "" when idle */
};

struct cd_queue {
        pthread_mutex_t lock;
        pthread_cond_t work;    /* a job was queued, or stop */
        pthread_cond_t changed; /* a job finished */
        struct cd_queue_config cfg;
        cd_queue_run_fn *run;
        void *data;
        struct owner *owners;
        size_t queued, running;
        size_t reserved;
        uint64_t clock, generation;
        bool stopping;
        struct slot *slots;
};

static struct owner *find_owner(struct cd_queue *q, uint32_t uid, bool create)
{
        struct owner *o;

        for (o = q->owners; o; o = o->next)
                if (o->uid == uid)
                        return o;
        if (!create)
                return NULL;
        o = calloc(1, sizeof(*o));
        if (!o)
                return NULL;
        o->uid = uid;
        o->next = q->owners;
        q->owners = o;
        return o;
}

/* Forget owners with nothing queued or running: the list stays as long as
 * the set of active clients. */
static void prune_owners(struct cd_queue *q)
{
        struct owner **p = &q->owners;

        while (*p) {
                struct owner *o = *p;

                if (o->queued == 0 && o->running == 0 && o->reserved == 0) {
                        *p = o->next;
                        free(o);
                } else {
                        p = &o->next;
                }
        }
}

/* The owner whose job starts next: fewest running, then least recently served. */
static struct owner *next_owner(struct cd_queue *q)
{
        struct owner *best = NULL;

        for (struct owner *o = q->owners; o; o = o->next) {
                if (o->queued == 0)
                        continue;
                if (!best || o->running < best->running ||
                    (o->running == best->running && o->last_served < best->last_served))
                        best = o;
        }
        return best;
}

static struct qjob *pop(struct cd_queue *q, struct owner *o)
{
        struct qjob *j = o->head;

        o->head = j->next;
        if (!o->head)
                o->tail = NULL;
        o->queued--;
        q->queued--;
        return j;
}

static void drain(int fd)
{
        uint64_t v;

        (void) !read(fd, &v, sizeof(v));
}

/* Wake the run of @s's job: its cancel_fd becomes readable. */
static void fire(const struct slot *s)
{
        uint64_t one = 1;

        (void) !write(s->cancel_fd, &one, sizeof(one)); /* fails only past 2^64-2 */
}

/* Take the next job into @s. Returns its owner. Called locked. */
static struct owner *take(struct cd_queue *q, struct slot *s)
{
        struct owner *o = next_owner(q);
        struct qjob *j = pop(q, o);

        memcpy(s->id, j->id, sizeof(s->id));
        s->cancelled = j->cancelled;
        free(j);
        o->running++;
        o->last_served = ++q->clock;
        q->running++;
        s->finishing = false;
        drain(s->cancel_fd);
        if (s->cancelled)
                fire(s);
        return o;
}

static void link_job(struct cd_queue *q, struct owner *o, struct qjob *j);

/* A job its run gave back (-EAGAIN): queued again, past the bounds (it had
 * its place), and still cancelled if it was: the cancel was recorded and
 * answered. Without memory, or while stopping, it stays for the next
 * start's requeue of the store's queued rows. Under the lock. */
static void requeue(struct cd_queue *q, struct owner *o, const struct slot *s)
{
        struct qjob *j;

        if (!o || q->stopping || !(j = calloc(1, sizeof(*j))))
                return;
        memcpy(j->id, s->id, strnlen(s->id, CD_JOB_ID_LEN));
        j->cancelled = s->cancelled;
        link_job(q, o, j);
}

static void *worker(void *arg)
{
        struct slot *s = arg;
        struct cd_queue *q = s->q;

        pthread_mutex_lock(&q->lock);
        for (;;) {
                struct owner *o;
                uint32_t uid;
                bool again;

                while (!q->stopping && q->queued == 0)
                        pthread_cond_wait(&q->work, &q->lock);
                if (q->stopping)
                        break;
                o = take(q, s);
                uid = o->uid;
                pthread_mutex_unlock(&q->lock);
                again = q->run(q->data, s->id, s->cancel_fd) == -EAGAIN;
                pthread_mutex_lock(&q->lock);
                o = find_owner(q, uid, again);
                if (o)
                        o->running--;
                if (again)
                        requeue(q, o, s);
                q->running--;
                s->id[0] = '\0';
                q->generation++;
                prune_owners(q);
                pthread_cond_broadcast(&q->changed);
        }
        pthread_mutex_unlock(&q->lock);
        return NULL;
}

int cd_queue_new(const struct cd_queue_config *cfg, cd_queue_run_fn *run, void *data,
                 struct cd_queue **ret, struct cd_err *err)
{
        struct cd_queue *q = calloc(1, sizeof(*q));
        int r;

        if (!q)
                return cd_err_set(err, ENOMEM, "queue: out of memory");
        *q = (struct cd_queue){ .cfg = *cfg, .run = run, .data = data };
        pthread_mutex_init(&q->lock, NULL);
        pthread_cond_init(&q->work, NULL);
        /* Waited on with deadlines (?wait, the stop's grace): monotonic. */
        r = cd_cond_init_monotonic(&q->changed);
        if (r < 0) {
                pthread_cond_destroy(&q->work);
                pthread_mutex_destroy(&q->lock);
                free(q);
                return cd_err_set(err, -r, "queue: set up its condition variable");
        }
        q->slots = calloc(cfg->slots, sizeof(*q->slots));
        if (!q->slots) {
                cd_queue_free(q);
                return cd_err_set(err, ENOMEM, "queue: out of memory");
        }
        for (unsigned int i = 0; i < cfg->slots; i++)
                q->slots[i] = (struct slot){ .q = q, .cancel_fd = -1 };
        for (unsigned int i = 0; i < cfg->slots; i++) {
                struct slot *s = &q->slots[i];

                s->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (s->cancel_fd < 0) {
                        r = cd_err_errno(err, "queue: eventfd");
                        goto fail;
                }
                r = -pthread_create(&s->thread, NULL, worker, s);
                if (r < 0) {
                        (void) cd_err_neg(err, r, "queue: start worker %u", i);
                        goto fail;
                }
                s->started = true;
        }
        *ret = q;
        return 0;
fail:
        (void) cd_queue_stop(q, 0);
        cd_queue_free(q);
        return r;
}

/* May @o (NULL: no job of its owner yet) queue one more? Called locked. */
static int bounds(const struct cd_queue *q, const struct owner *o)
{
        if (q->stopping)
                return -ESHUTDOWN;
        if (q->queued + q->reserved >= q->cfg.max_queued)
                return -ENOSPC;
        if (o && o->queued + o->reserved >= q->cfg.max_per_client)
                return -EDQUOT;
        return 0;
}

/* Append @j to @o's jobs. Called locked. */
static void link_job(struct cd_queue *q, struct owner *o, struct qjob *j)
{
        j->next = NULL;
        if (o->tail)
                o->tail->next = j;
        else
                o->head = j;
        o->tail = j;
        o->queued++;
        q->queued++;
        pthread_cond_signal(&q->work);
}

int cd_queue_push(struct cd_queue *q, const char *id, uint32_t owner_uid, bool force)
{
        struct qjob *j = NULL;
        struct owner *o;
        int r = 0;

        pthread_mutex_lock(&q->lock);
        o = find_owner(q, owner_uid, true);
        if (q->stopping)
                r = -ESHUTDOWN;
        else if (!o)
                r = -ENOMEM;
        else if (!force)
                r = bounds(q, o);
        if (r == 0 && !(j = calloc(1, sizeof(*j))))
                r = -ENOMEM;
        if (r == 0) {
                memcpy(j->id, id, strnlen(id, CD_JOB_ID_LEN));
                link_job(q, o, j);
        }
        if (r < 0)
                prune_owners(q);
        pthread_mutex_unlock(&q->lock);
        return r;
}

int cd_queue_check(struct cd_queue *q, uint32_t owner_uid)
{
        int r;

        pthread_mutex_lock(&q->lock);
        r = bounds(q, find_owner(q, owner_uid, false));
        pthread_mutex_unlock(&q->lock);
        return r;
}

/* A reserved place: the job's entry, allocated up front so that filling it
 * cannot fail, and its owner. */
struct cd_queue_place {
        struct qjob job;
        uint32_t uid;
};
/* Filled, a place is linked as its job and later freed as one (take()). */
_Static_assert(offsetof(struct cd_queue_place, job) == 0, "a place is its job");

int cd_queue_reserve(struct cd_queue *q, uint32_t owner_uid, struct cd_queue_place **ret)
{
        struct cd_queue_place *p = calloc(1, sizeof(*p));
        struct owner *o;
        int r;

        if (!p)
                return -ENOMEM;
        p->uid = owner_uid;
        pthread_mutex_lock(&q->lock);
        o = find_owner(q, owner_uid, true);
        r = o ? bounds(q, o) : -ENOMEM;
        if (r == 0) {
                o->reserved++;
                q->reserved++;
        } else {
                prune_owners(q);
        }
        pthread_mutex_unlock(&q->lock);
        if (r < 0) {
                free(p);
                return r;
        }
        *ret = p;
        return 0;
}

/* Give back @p's place, locked; its owner exists while it holds one. */
static struct owner *unreserve(struct cd_queue *q, const struct cd_queue_place *p)
{
        struct owner *o = find_owner(q, p->uid, false);

        o->reserved--;
        q->reserved--;
        return o;
}

void cd_queue_fill(struct cd_queue *q, struct cd_queue_place *place, const char *id)
{
        struct qjob *j = &place->job;

        /* The entry is the place's first member: freeing it frees the place. */
        memcpy(j->id, id, strnlen(id, CD_JOB_ID_LEN));
        pthread_mutex_lock(&q->lock);
        link_job(q, unreserve(q, place), j);
        pthread_mutex_unlock(&q->lock);
}

void cd_queue_release(struct cd_queue *q, struct cd_queue_place *place)
{
        pthread_mutex_lock(&q->lock);
        (void) unreserve(q, place);
        prune_owners(q);
        pthread_mutex_unlock(&q->lock);
        free(place);
}

void cd_queue_notify(struct cd_queue *q)
{
        pthread_mutex_lock(&q->lock);
        q->generation++;
        pthread_cond_broadcast(&q->changed);
        pthread_mutex_unlock(&q->lock);
}

/* Unlink @id from its owner's list. Called locked. */
static bool unqueue(struct cd_queue *q, const char *id)
{
        for (struct owner *o = q->owners; o; o = o->next) {
                struct qjob *prev = NULL;

                for (struct qjob *j = o->head; j; prev = j, j = j->next) {
                        if (strcmp(j->id, id) != 0)
                                continue;
                        if (prev)
                                prev->next = j->next;
                        else
                                o->head = j->next;
                        if (o->tail == j)
                                o->tail = prev;
                        free(j);
                        o->queued--;
                        q->queued--;
                        return true;
                }
        }
        return false;
}

/* Queued @id, given back after a cancel (requeue()). Called locked. */
static bool queued_cancelled(const struct cd_queue *q, const char *id)
{
        for (const struct owner *o = q->owners; o; o = o->next)
                for (const struct qjob *j = o->head; j; j = j->next)
                        if (!strcmp(j->id, id))
                                return j->cancelled;
        return false;
}

static struct slot *running_slot(struct cd_queue *q, const char *id)
{
        for (unsigned int i = 0; i < q->cfg.slots; i++)
                if (!strcmp(q->slots[i].id, id))
                        return &q->slots[i];
        return NULL;
}

int cd_queue_cancel(struct cd_queue *q, const char *id)
{
        struct slot *s;
        int r = 0;

        pthread_mutex_lock(&q->lock);
        if (unqueue(q, id)) {
                r = 1;
                prune_owners(q);
        } else if ((s = running_slot(q, id)) && s->cancelled) {
                r = 3;
        } else if (s) {
                fire(s);
                s->cancelled = true;
                r = 2;
        }
        pthread_mutex_unlock(&q->lock);
        return r;
}

bool cd_queue_unqueue(struct cd_queue *q, const char *id)
{
        bool r;

        pthread_mutex_lock(&q->lock);
        r = unqueue(q, id);
        if (r)
                prune_owners(q);
        pthread_mutex_unlock(&q->lock);
        return r;
}

bool cd_queue_taken(struct cd_queue *q, const char *id)
{
        bool r;

        pthread_mutex_lock(&q->lock);
        r = running_slot(q, id) != NULL;
        pthread_mutex_unlock(&q->lock);
        return r;
}

bool cd_queue_cancelling(struct cd_queue *q, const char *id)
{
        struct slot *s;
        bool r;

        pthread_mutex_lock(&q->lock);
        s = running_slot(q, id);
        r = (s && s->cancelled) || queued_cancelled(q, id);
        pthread_mutex_unlock(&q->lock);
        return r;
}

bool cd_queue_mark_finishing(struct cd_queue *q, const char *id)
{
        struct slot *s;
        bool cancelled = false;

        pthread_mutex_lock(&q->lock);
        s = running_slot(q, id);
        if (s) {
                s->finishing = true;
                cancelled = s->cancelled;
        }
        pthread_mutex_unlock(&q->lock);
        return cancelled;
}

bool cd_queue_finishing(struct cd_queue *q, const char *id)
{
        struct slot *s;
        bool r;

        pthread_mutex_lock(&q->lock);
        s = running_slot(q, id);
        r = s && s->finishing;
        pthread_mutex_unlock(&q->lock);
        return r;
}

/* Replay the scheduler on copies of the counters until @id would start. */
size_t cd_queue_position(struct cd_queue *q, const char *id)
{
        size_t pos = 0;

        pthread_mutex_lock(&q->lock);
        {
                size_t n = 0, k = 0;
                struct sim {
                        struct owner *o;
                        struct qjob *next;
                        size_t running;
                        uint64_t last;
                } * sim;

                for (struct owner *o = q->owners; o; o = o->next)
                        n++;
                sim = calloc(n ? n : 1, sizeof(*sim));
                for (struct owner *o = q->owners; sim && o; o = o->next)
                        sim[k++] = (struct sim){ o, o->head, o->running, o->last_served };
                for (uint64_t clock = q->clock; sim && pos < q->queued;) {
                        struct sim *best = NULL;

                        for (size_t i = 0; i < n; i++)
                                if (sim[i].next &&
                                    (!best || sim[i].running < best->running ||
                                     (sim[i].running == best->running && sim[i].last < best->last)))
                                        best = &sim[i];
                        pos++;
                        if (!strcmp(best->next->id, id))
                                goto found;
                        best->next = best->next->next;
                        best->running++;
                        best->last = ++clock;
                }
                pos = 0;
        found:
                free(sim);
        }
        pthread_mutex_unlock(&q->lock);
        return pos;
}

void cd_queue_counts(struct cd_queue *q, size_t *ret_queued, size_t *ret_running)
{
        pthread_mutex_lock(&q->lock);
        *ret_queued = q->queued;
        *ret_running = q->running;
        pthread_mutex_unlock(&q->lock);
}

uint64_t cd_queue_generation(struct cd_queue *q)
{
        uint64_t g;

        pthread_mutex_lock(&q->lock);
        g = q->generation;
        pthread_mutex_unlock(&q->lock);
        return g;
}

uint64_t cd_queue_wait(struct cd_queue *q, uint64_t seen, uint64_t timeout_ms)
{
        struct timespec until = cd_monotonic_after(timeout_ms);
        uint64_t g;

        pthread_mutex_lock(&q->lock);
        while (q->generation == seen &&
               pthread_cond_timedwait(&q->changed, &q->lock, &until) != ETIMEDOUT)
                ;
        g = q->generation;
        pthread_mutex_unlock(&q->lock);
        return g;
}

unsigned int cd_queue_stop(struct cd_queue *q, uint64_t grace_ms)
{
        struct timespec until = cd_monotonic_after(grace_ms);
        unsigned int cancelled = 0;

        pthread_mutex_lock(&q->lock);
        q->stopping = true;
        pthread_cond_broadcast(&q->work);
        while (q->running > 0 && pthread_cond_timedwait(&q->changed, &q->lock, &until) != ETIMEDOUT)
                ;
        for (unsigned int i = 0; i < q->cfg.slots; i++)
                if (q->slots[i].id[0]) {
                        fire(&q->slots[i]);
                        cancelled++;
                }
        pthread_mutex_unlock(&q->lock);
        for (unsigned int i = 0; i < q->cfg.slots; i++)
                if (q->slots[i].started) {
                        (void) pthread_join(q->slots[i].thread, NULL);
                        q->slots[i].started = false;
                }
        return cancelled;
}

void cd_queue_free(struct cd_queue *q)
{
        if (!q)
                return;
        for (unsigned int i = 0; q->slots && i < q->cfg.slots; i++)
                (void) cd_close(q->slots[i].cancel_fd);
        free(q->slots);
        for (struct owner *o = q->owners, *next; o; o = next) {
                next = o->next;
                while (o->head) {
                        struct qjob *j = o->head;

                        o->head = j->next;
                        free(j);
                }
                free(o);
        }
        pthread_cond_destroy(&q->work);
        pthread_cond_destroy(&q->changed);
        pthread_mutex_destroy(&q->lock);
        free(q);
}
