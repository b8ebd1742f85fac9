/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * cordond's job queue: a bounded queue in front of a fixed number of slots
 * (worker threads), fair between clients. The next job comes from the
 * client with the fewest running jobs, ties broken by whoever was served
 * least recently, so one backend flooding the queue cannot starve another.
 * Jobs are ids; what running one means is the caller's @run callback.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cordon/err.h"

struct cd_queue_config {
        unsigned int slots;          /* worker threads */
        unsigned int max_queued;     /* whole queue */
        unsigned int max_per_client; /* queued jobs of one owner */
};

/* Run job @id; @cancel_fd becomes readable when the job is cancelled (an
 * eventfd the queue owns). Called on a worker thread. Returns 0, or
 * -EAGAIN when the job could not be started for now (its row could not be
 * read): it is queued again, last, unless the queue is stopping. */
typedef int cd_queue_run_fn(void *data, const char *id, int cancel_fd);

struct cd_queue;

/* Start the workers. Returns 0 or -errno with @err. */
int cd_queue_new(const struct cd_queue_config *cfg, cd_queue_run_fn *run, void *data,
                 struct cd_queue **ret, struct cd_err *err);

/*
 * Queue @id of @owner_uid. @force skips the bounds: a job already stored
 * is queued again (restart recovery, a cancel whose mark failed); a new
 * job takes its place with cd_queue_reserve() instead. Returns 0, -ENOSPC
 * when the queue is full, -EDQUOT when this owner has max_per_client
 * queued, -ESHUTDOWN after cd_queue_stop() began.
 */
int cd_queue_push(struct cd_queue *q, const char *id, uint32_t owner_uid, bool force);

/* Would cd_queue_reserve() take a place for a job of @owner_uid now? Same
 * returns (http/ asks before it reads a submission's body). */
int cd_queue_check(struct cd_queue *q, uint32_t owner_uid);

/*
 * A place in the queue taken before the job is stored, so that a job once
 * stored is always queued: cd_queue_reserve() applies the bounds and
 * returns as cd_queue_push() does (reserved places count against them);
 * cd_queue_fill() queues the job in its place and cannot fail, not even
 * after cd_queue_stop() began (the stored job then runs after a restart);
 * cd_queue_release() gives a place back unused. Either frees @place.
 */
struct cd_queue_place;
int cd_queue_reserve(struct cd_queue *q, uint32_t owner_uid, struct cd_queue_place **ret);
void cd_queue_fill(struct cd_queue *q, struct cd_queue_place *place, const char *id);
void cd_queue_release(struct cd_queue *q, struct cd_queue_place *place);

/* Wake cd_queue_wait(): a job changed state outside a worker (a queued
 * job was cancelled). */
void cd_queue_notify(struct cd_queue *q);

/* Cancel @id: 1 when it was queued (removed; the caller records the
 * verdict), 2 when it is running (its cancel_fd fired), 3 when it is
 * running and was cancelled before (nothing done), 0 when unknown. */
int cd_queue_cancel(struct cd_queue *q, const char *id);

/* Take @id out of the queue if it is queued there: true when it was. */
bool cd_queue_unqueue(struct cd_queue *q, const char *id);

/* True when a slot has taken @id (its sandbox being set up, or running). */
bool cd_queue_taken(struct cd_queue *q, const char *id);

/* True when @id runs and has been cancelled already, or was given back
 * (cd_queue_run_fn's -EAGAIN) after its cancel and waits to run again,
 * cancelled from its start. */
bool cd_queue_cancelling(struct cd_queue *q, const char *id);

/* Running job @id's verdict is about to be recorded: from here on a cancel
 * is too late (cd_queue_finishing). The service calls both under its
 * job_lock, so that a cancel's record never follows job.finished. Returns
 * whether a cancel of the job was taken before (cd_queue_cancel). */
bool cd_queue_mark_finishing(struct cd_queue *q, const char *id);
bool cd_queue_finishing(struct cd_queue *q, const char *id);

/* 1-based position of @id in the order jobs will start, 0 if not queued. */
size_t cd_queue_position(struct cd_queue *q, const char *id);

void cd_queue_counts(struct cd_queue *q, size_t *ret_queued, size_t *ret_running);

/* A counter that changes whenever a job finishes; cd_queue_wait() blocks
 * until it differs from @seen or @timeout_ms passes, and returns it. */
uint64_t cd_queue_generation(struct cd_queue *q);
uint64_t cd_queue_wait(struct cd_queue *q, uint64_t seen, uint64_t timeout_ms);

/*
 * Stop: take no more jobs, leave queued ones queued (they are stored and
 * run after a restart), give running ones @grace_ms to finish, then cancel
 * them and wait for their workers. Returns the number that were cancelled.
 */
unsigned int cd_queue_stop(struct cd_queue *q, uint64_t grace_ms);

/* Free after cd_queue_stop(). Accepts NULL. */
void cd_queue_free(struct cd_queue *q);
