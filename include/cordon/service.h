/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What cordond's parts share: configuration, store, job files, queue,
 * launcher, audit log, profiles and metrics. Built by daemon/main.c and
 * passed by pointer; no globals. Every member is safe to use from any
 * thread through the functions below (or is read-only after start).
 */

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cordon/audit.h"
#include "cordon/config.h"
#include "cordon/jobfiles.h"
#include "cordon/launcher.h"
#include "cordon/profile.h"
#include "cordon/queue.h"
#include "cordon/result.h"
#include "cordon/store.h"

enum cd_role { CD_ROLE_NONE, CD_ROLE_SUBMITTER, CD_ROLE_ADMIN };

/* "none", "submitter", "admin". */
const char *cd_role_to_string(enum cd_role r);

/* The peer of one connection, from SO_PEERCRED and SO_PEERGROUPS. */
#define CD_PEER_MAX_GROUPS 256

struct cd_peer {
        uint32_t uid;
        uint32_t gid;
        enum cd_role role;
        gid_t groups[CD_PEER_MAX_GROUPS]; /* supplementary (SO_PEERGROUPS) */
        size_t n_groups;
};

/* Whether @peer is one of @m (its uid, gid or a supplementary group). */
bool cd_peer_is(const struct cd_peer *peer, const struct cd_role_members *m);

/* Whether @peer may submit jobs of @profile: admins always, submitters
 * unless the configuration's profile_access lists the profile without
 * them (docs/operations.md). */
bool cd_peer_may_use(const struct cd_config *cfg, const struct cd_peer *peer, const char *profile);

#define CD_METRIC_BUCKETS 12

struct cd_histogram {
        uint64_t counts[CD_METRIC_BUCKETS + 1]; /* last: +Inf */
        double sum;
        uint64_t n;
};

#define CD_MAX_REFUSAL_CODES 40

struct cd_metrics {
        pthread_mutex_t lock;
        uint64_t jobs[_CD_VERDICT_MAX];
        struct cd_histogram launch; /* seconds from start to the job's first instruction */
        struct cd_histogram run;    /* seconds from start to the verdict */
        const char *refused_codes[CD_MAX_REFUSAL_CODES];
        uint64_t refused[CD_MAX_REFUSAL_CODES];
};

struct cd_rate {
        uint32_t uid;
        double tokens;
        uint64_t at_ms;
};

#define CD_RATE_SLOTS 256
/* A peer without a role: each refusal is an fsync'd audit record, so
 * there are at most this many a second per uid (bursts of ten). */
#define CD_REFUSAL_SLOTS    64
#define CD_REFUSALS_PER_SEC 1
#define CD_REFUSALS_BURST   10

/* A few job ids (the ones a step is left half done for). */
struct cd_id_set {
        char (*ids)[CD_JOB_ID_LEN + 1];
        size_t n;
};

bool cd_id_set_has(const struct cd_id_set *set, const char *id);
/* -ENOMEM when it cannot grow (the caller's retry then does the step again). */
int cd_id_set_add(struct cd_id_set *set, const char *id);
void cd_id_set_drop(struct cd_id_set *set, const char *id);
void cd_id_set_clear(struct cd_id_set *set);

/* The room one upload in progress holds on the state disk (api.h), in
 * the service's list while it holds any. Written under rooms_lock. */
struct cd_room {
        uint32_t uid;
        uint64_t bytes;     /* reserved in all, written or not: its uid's quota counts them */
        uint64_t unwritten; /* of those, not written yet: the free space does not show them */
        bool linked;
        struct cd_room *prev, *next;
};

struct cd_service {
        const struct cd_config *cfg;
        struct cd_store *store;
        struct cd_jobfiles files;
        struct cd_queue *queue;
        struct cd_launcher *launcher;
        const char *cgroup_mode;
        atomic_bool stopping;
        pthread_mutex_t audit_lock;
        pthread_mutex_t job_lock; /* one cancel or delete of a job at a time */
        /* Under job_lock: cancels recorded in the log whose row could not
         * be written yet (retried without recording them again). */
        struct cd_id_set cancels_recorded;
        atomic_bool cancels_pending; /* some cancel is left half done */
        /* Under job_lock: deletes recorded in the log whose row could not
         * be removed, nor marked recorded in the store: a retry does not
         * record them again while cordond runs. */
        struct cd_id_set deletes_recorded;
        /* Under job_lock: deleted jobs (no row, no request reaches them)
         * whose files could not all be removed; retried by the janitor. */
        struct cd_id_set removals_left;
        atomic_bool removals_pending;
        struct cd_audit *audit;
        pthread_rwlock_t profiles_lock;
        struct cd_profile_set profiles;
        char profiles_sha256[CD_AUDIT_HASH_HEX];
        struct cd_metrics metrics;
        pthread_mutex_t rate_lock; /* guards rates and refusals */
        struct cd_rate rates[CD_RATE_SLOTS];
        struct cd_rate refusals[CD_REFUSAL_SLOTS];
        pthread_mutex_t rooms_lock; /* guards rooms and every room in it */
        struct cd_room *rooms;      /* of the uploads in progress */
};

/* A job request: the `job` part of POST /v1/jobs, plus (as stored) the
 * names of its inputs. */
struct cd_jobspec {
        char *profile;
        char *entry;    /* NULL: none */
        char **inputs;  /* file names in inputs/, NULL-terminated; NULL: none */
        json_t *limits; /* object, may be empty */
        json_t *labels; /* object of strings, may be empty */
};

#define CD_JOB_MAX_LABELS      16
#define CD_JOB_MAX_LABEL_VALUE 256
#define CD_JOB_MAX_JSON_DEPTH  8

/*
 * Parse and check @text: strict keys, types, labels, entry name, limits
 * syntax; "inputs" only when @stored. Returns 0, or -CD_E_INVALID with a
 * message that never repeats request content.
 */
int cd_jobspec_parse(const char *text, size_t len, bool stored, struct cd_jobspec *ret,
                     struct cd_err *err);
void cd_jobspec_clear(struct cd_jobspec *spec);
/* @spec with its inputs, as stored (caller frees). NULL on ENOMEM. */
char *cd_jobspec_dump(const struct cd_jobspec *spec);
/* True if @name may be an input file name (one safe path component). */
bool cd_input_name_is_valid(const char *name);

/*
 * The plan of @spec under the current profiles, with inputs read from the
 * directory @inputs_dir (a path under the state directory). -ENOENT: no
 * such profile; CD_E_UNSUPPORTED: the host lacks what it needs;
 * CD_E_INVALID: limits above the maximum, bad entry.
 */
int cd_jobspec_plan(struct cd_service *s, const struct cd_jobspec *spec, const char *inputs_dir,
                    struct cd_plan **ret, struct cd_err *err);

/* Append @n events (1..CD_AUDIT_MAX_BATCH) under the service's audit lock. */
int cd_service_audit(struct cd_service *s, const struct cd_audit_event *const *ev, size_t n,
                     struct cd_err *err);

/* One event with the given fields (details may be NULL; it is taken). */
int cd_service_audit1(struct cd_service *s, const char *event, const struct cd_peer *peer,
                      const char *job, const char *profile, const char *verdict, json_t *details,
                      struct cd_err *err);

/* cd_audit_mark() of the service's log, under its lock: keep it beside a
 * step before recording it, for the recovery (store.h, audit_from). */
uint64_t cd_service_audit_mark(struct cd_service *s);

/* Whether the service's log holds @event for @job at seq @from or later:
 * 1 yes, 0 no, or -errno with @err when it could not be read. */
int cd_service_audit_has(struct cd_service *s, uint64_t from, const char *event, const char *job,
                         struct cd_err *err);

/* Load the profiles directory; on success swap it in and audit
 * profiles.loaded; on failure keep the old set. */
int cd_service_load_profiles(struct cd_service *s, struct cd_err *err);

/* Token bucket per uid: rate_per_second, burst twice that. False: over. */
bool cd_service_rate_ok(struct cd_service *s, uint32_t uid);
/* The same for the refusals (403 and auth.refused) of a peer without a
 * role: CD_REFUSALS_PER_SEC, bursts of CD_REFUSALS_BURST. */
bool cd_service_refusal_ok(struct cd_service *s, uint32_t uid);

void cd_metrics_init(struct cd_metrics *m);
void cd_metrics_job(struct cd_metrics *m, enum cd_verdict v, double launch_s, double run_s);
void cd_metrics_refused(struct cd_metrics *m, const char *code);
/* The Prometheus text (0.0.4) of @s; caller frees. NULL on ENOMEM. */
char *cd_metrics_render(struct cd_service *s);

/* The queue's callback: run job @id (cd_queue_run_fn with @data = service). */
int cd_service_run_job(void *data, const char *id, int cancel_fd);

/*
 * Recovery of job @row, which a stop interrupted while running or while
 * its verdict was recorded (cd_store_list_interrupted): finish it with
 * the verdict it holds (finish_json), or as failed (supervisor_restart)
 * when it holds none. Its job.finished is written unless @recorded (the
 * log has it already). Then its inputs go. Returns 0 or -errno with @err.
 */
int cd_service_settle_run(struct cd_service *s, const struct cd_job_row *row, bool recorded,
                          struct cd_err *err);

/* Finish queued job @row, its cancel marked in the store
 * (cd_store_mark_cancelled), as cancelled: job.cancelled and job.finished
 * in one batch, then the row. Called with job_lock held. Returns 0,
 * -ESTALE when it finished meanwhile, or -errno with @err (the mark stays:
 * cd_service_finish_cancels tries again). */
int cd_service_finish_cancelled(struct cd_service *s, const struct cd_job_row *row,
                                const struct cd_peer *peer, struct cd_err *err);

/* Finish every cancel left half done (marked, not finished: the record or
 * the row could not be written), recorded by cordond with the uid that
 * asked (unless the records were written and only the row failed, in this
 * run of cordond). Takes job_lock. Returns true when some are left for a
 * later call (cancels_pending says so too). */
bool cd_service_finish_cancels(struct cd_service *s);

/* Restart recovery: settle submissions and verdicts a stop interrupted
 * (each recorded once: what the log already holds is read back from it),
 * requeue queued jobs in order, remove partial uploads and orphaned files.
 * Returns 0 or -errno. */
int cd_service_recover(struct cd_service *s, struct cd_err *err);

/* Delete finished jobs older than the retention time, batch after batch;
 * audited. Returns true when it stopped on its time budget (a few
 * seconds) with more to delete: call it again soon. */
bool cd_service_expire(struct cd_service *s);

/* What a finished job's artifacts must leave free on the state disk:
 * half the reserve (cd_config_min_free), and the same share of its inodes.
 * Jobs already taken may use the other half; this half keeps room for the
 * audit log and the store, so that verdicts can still be recorded.
 * Returns 0 or -errno. Context: any thread. */
struct cd_floor {
        uint64_t bytes;
        uint64_t inodes;
};
int cd_service_output_floor(struct cd_service *s, struct cd_floor *ret, struct cd_err *err);

/* Whether a download's audit record may be written: -ENOSPC when the state
 * disk is below the same floor (each read appends a record, and a client
 * may read as often as its rate allows; the last half of the reserve stays
 * for verdicts). Returns 0 or -errno. Context: any thread. */
int cd_service_read_room(struct cd_service *s, struct cd_err *err);

/* The least an inode is charged, on a file system whose inodes are not
 * fixed (tmpfs, btrfs): one block. */
#define CD_CHARGE_INODE_MIN 4096

/*
 * What a job is charged against its owner's quota: what its files take on
 * disk (@use: allocated blocks, never less than the @content bytes they
 * hold), each inode at the disk bytes one inode stands for
 * (cd_fs_space_inode_bytes, at least CD_CHARGE_INODE_MIN), and @row_bytes
 * of the store's row. A thousand one-byte files cost what they take from
 * other clients, not a thousand bytes. Saturates at UINT64_MAX.
 */
uint64_t cd_service_charge(struct cd_service *s, const struct cd_disk_use *use, uint64_t content,
                           uint64_t row_bytes);

/* What job @row is charged once it has finished, run or not: its directory
 * as the disk holds it, without inputs/ (removed next), never less than
 * @content bytes, and its row with @result_json (NULL: none). When the
 * directory cannot be measured (logged), each of @files files, the
 * directory, stdout, stderr and artifacts/ is charged a block and an inode. */
uint64_t cd_service_charge_job(struct cd_service *s, const struct cd_job_row *row, uint64_t content,
                               uint64_t files, const char *result_json);

/* The bytes one client's jobs may hold (cd_config_client_quota for the
 * state file system; 0: no quota). Returns 0 or -errno. */
int cd_service_client_quota(struct cd_service *s, uint64_t *ret, struct cd_err *err);

struct cd_quota {
        uint64_t quota;  /* 0: none */
        uint64_t held;   /* what the client's stored jobs hold now */
        uint64_t staged; /* what its uploads in progress hold (struct cd_room) */
};

/* Whether @uid's jobs and uploads in progress (but @mine, the caller's
 * own: NULL for none), with @need more bytes, stay within the client
 * quota. A first check for a request; the store's insert checks again
 * in its transaction. Returns 0, -CD_E_QUOTA (*@ret says how far), or
 * -errno with @err. Context: any thread. */
int cd_service_quota_check(struct cd_service *s, uint32_t uid, uint64_t need,
                           const struct cd_room *mine, struct cd_quota *ret, struct cd_err *err);

/*
 * Reserve room on the state disk for the upload that holds @room: at
 * least @need more bytes, and up to @want, as far as both the disk and
 * its uid's quota allow. The disk keeps its reserve (cd_config_min_free,
 * bytes and the same share of the inodes) free of what every upload in
 * progress has written and has reserved but not yet written; the quota
 * counts the uid's stored jobs and all its uploads' rooms, written or not.
 * With @need and @want 0 it only checks that neither is over already.
 * @room links into the service on success; cd_service_room_release()
 * unlinks it. Returns 0, -ENOSPC, -CD_E_QUOTA (*@quota says how far), or
 * -errno with @err when the free space or the store cannot be read.
 * Context: any thread (the upload's own for @room).
 */
int cd_service_room_take(struct cd_service *s, struct cd_room *room, uint64_t need, uint64_t want,
                         struct cd_quota *quota, struct cd_err *err);

/* @n of @room's reserved bytes are written: the free space shows them now.
 * Call it after the write, never before (in between they count twice). */
void cd_service_room_written(struct cd_service *s, struct cd_room *room, uint64_t n);

/* The upload writes nothing more: what @room reserved and did not write
 * goes back; what it wrote counts against its uid until released. */
void cd_service_room_trim(struct cd_service *s, struct cd_room *room);

/* Give back all of @room: the upload is stored (its job's row counts it
 * now) or gone. Any number of times; a room never taken is left alone. */
void cd_service_room_release(struct cd_service *s, struct cd_room *room);

/* The problem detail of a refusal by the quota (no request content). */
void cd_quota_describe(const struct cd_quota *q, char *buf, size_t size);

/* Delete finished job @row: mark it deleted in the store (from then on it
 * is gone for the API), audit job.deleted by @peer (NULL: cordond itself,
 * for retention), then remove the row and the files. Deletes are
 * serialised: a job already deleted gives -ENOENT and no second record.
 * Returns 0, or -EINPROGRESS when the job is marked deleted but its record,
 * its row or some of its files are not done yet (why in @err;
 * cd_service_retry_removals finishes them, also after a restart), or
 * -errno when nothing was changed. */
int cd_service_delete_job(struct cd_service *s, const struct cd_job_row *row,
                          const struct cd_peer *peer, struct cd_err *err);

/* Finish the deletes left half done: record those not recorded, remove their
 * rows, and their files (also those whose removal failed). Takes job_lock
 * briefly. Returns true when some are left for a later call. */
bool cd_service_retry_removals(struct cd_service *s);

/* Remove a finished job's inputs (jobfiles.h); a failure is logged. */
void cd_service_drop_inputs(struct cd_service *s, const char *id);
