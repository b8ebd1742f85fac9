/* SPDX-License-Identifier: MIT */
/* Closing the jobs of `cordon run`s that a host crash ended (run-boot.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli.h"
#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/jobfiles.h"
#include "cordon/util.h"
#include "run-boot.h"

#define BOOT_ID_FILE "/proc/sys/kernel/random/boot_id"
/* What a test takes for a boot after this one (fault "boot_id_next"). */
#define NEXT_BOOT_ID "00000000-0000-4000-8000-00000000000b"

static bool boot_id_ok(const char *s)
{
        if (strlen(s) != RUN_BOOT_ID_SIZE - 1)
                return false;
        for (const char *c = s; *c; c++)
                if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') || *c == '-'))
                        return false;
        return true;
}

int run_boot_id(char ret[RUN_BOOT_ID_SIZE], struct cd_err *err)
{
        cleanup_close int fd = open(BOOT_ID_FILE, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (cd_fault("boot_id_next")) {
                memcpy(ret, NEXT_BOOT_ID, RUN_BOOT_ID_SIZE);
                return 0;
        }
        if (fd < 0)
                return cd_err_errno(err, "audit: open %s", BOOT_ID_FILE);
        n = read(fd, ret, RUN_BOOT_ID_SIZE - 1);
        if (n < 0)
                return cd_err_errno(err, "audit: read %s", BOOT_ID_FILE);
        ret[n] = '\0';
        if (!boot_id_ok(ret))
                return cd_err_set(err, EINVAL, "audit: %s holds no boot id", BOOT_ID_FILE);
        return 0;
}

/* The note: the boot that read the log last, and the seq to read on from.
 * -ENOENT when there is none, -EINVAL when it does not parse. */
static int note_read(struct cd_audit *log, char boot[RUN_BOOT_ID_SIZE], uint64_t *ret_from,
                     struct cd_err *err)
{
        char buf[RUN_BOOT_ID_SIZE + 24];
        char *nl;
        int r = cd_audit_note_get(log, RUN_BOOT_NOTE, buf, sizeof(buf), err);

        if (r < 0)
                return r;
        nl = strchr(buf, '\n');
        if (strlen(buf) < RUN_BOOT_ID_SIZE || buf[RUN_BOOT_ID_SIZE - 1] != ' ' || !nl)
                return -EINVAL;
        *nl = '\0';
        buf[RUN_BOOT_ID_SIZE - 1] = '\0';
        if (!boot_id_ok(buf) || cd_parse_u64(buf + RUN_BOOT_ID_SIZE, ret_from) < 0)
                return -EINVAL;
        memcpy(boot, buf, RUN_BOOT_ID_SIZE);
        return 0;
}

struct open_job {
        char job[33];
        char *profile; /* NULL for a job of this boot: never closed here */
        uint64_t seq;  /* of its job.submitted */
};

struct open_jobs {
        const char *boot;
        struct open_job *v;
        size_t n, cap;
};

static void open_jobs_clear(struct open_jobs *o)
{
        for (size_t i = 0; i < o->n; i++)
                free(o->v[i].profile);
        free(o->v);
}

/* The boot a job.submitted of a `cordon run` names; NULL for any other
 * record. */
static const char *boot_of(const struct cd_audit_seen *r)
{
        const json_t *d = r->details;
        const char *runner = json_string_value(json_object_get(d, "runner"));

        if (!runner || strcmp(runner, RUN_BOOT_RUNNER) != 0)
                return NULL;
        return json_string_value(json_object_get(d, "boot"));
}

/* A job of another boot is kept with its profile, to be closed; one of
 * this boot (a run that went on when its own sweep failed, before the
 * note) only for its seq, which the note must not pass. */
static int add(struct open_jobs *o, const struct cd_audit_seen *r, bool own)
{
        struct open_job *v = o->v;

        if (!cd_job_id_is_valid(r->job) || !r->profile)
                return 0; /* not one cordon run wrote */
        if (o->n == o->cap) {
                o->cap = o->cap ? o->cap * 2 : 8;
                v = reallocarray(o->v, o->cap, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                o->v = v;
        }
        v[o->n].profile = own ? NULL : strdup(r->profile);
        if (!own && !v[o->n].profile)
                return -ENOMEM;
        v[o->n].seq = r->seq;
        memcpy(v[o->n].job, r->job, strlen(r->job) + 1);
        o->n++;
        return 0;
}

static void drop(struct open_jobs *o, const char *job)
{
        for (size_t i = 0; i < o->n; i++)
                if (strcmp(o->v[i].job, job) == 0) {
                        free(o->v[i].profile);
                        o->v[i] = o->v[--o->n];
                        return;
                }
}

static int note_record(const struct cd_audit_seen *r, void *data)
{
        struct open_jobs *o = data;
        const char *b;

        if (!r->job)
                return 0;
        if (strcmp(r->event, CD_AUDIT_JOB_SUBMITTED) == 0 && (b = boot_of(r)))
                return add(o, r, strcmp(b, o->boot) == 0);
        if (strcmp(r->event, CD_AUDIT_JOB_FINISHED) == 0)
                drop(o, r->job);
        return 0;
}

static int close_one(struct cd_audit *log, const struct open_job *j, uint32_t uid,
                     struct cd_err *err)
{
        cleanup_with(json_decrefp) json_t *d = json_pack("{s:s}", "reason", "host_restart");
        struct cd_audit_event e;

        if (!d)
                return cd_err_set(err, ENOMEM, "audit: out of memory");
        e = (struct cd_audit_event){ .event = CD_AUDIT_JOB_FINISHED,
                                     .uid = uid,
                                     .role = "admin",
                                     .job = j->job,
                                     .profile = j->profile,
                                     .verdict = "failed",
                                     .details = d };
        return cd_audit_append(log, &e, err);
}

/* Under the lock: read the log from the note on and close what is open.
 * 0 when every job is closed and the note written. */
static int sweep_locked(struct cd_audit *log, const char *boot, uint32_t uid, struct cd_err *err)
{
        char noted[RUN_BOOT_ID_SIZE], text[RUN_BOOT_ID_SIZE + 24];
        struct open_jobs o = { .boot = boot };
        uint64_t from = 0, mark = cd_audit_mark(log);
        int r = note_read(log, noted, &from, err);

        if (r == 0 && strcmp(noted, boot) == 0)
                return 0; /* another run of this boot did it meanwhile */
        if (r < 0 && r != -ENOENT && r != -EINVAL)
                return r;
        /* None yet (or torn by a crash), or one past the log's end, which
         * was then replaced since (restored, cut, started anew): whatever
         * the note's seq passes over is not this log's. From the start. */
        if (r < 0 || from > mark + 1)
                from = 0;
        r = cd_audit_scan(log, from, note_record, &o, err);
        /* Tests: a long read, so that runs started together overlap here. */
        for (int i = 0; i < 5 && cd_fault("boot_sweep_slow"); i++)
                (void) usleep(100000);
        if (r == -ENOMEM)
                r = cd_err_set(err, ENOMEM, "audit: out of memory");
        for (size_t i = 0; r == 0 && i < o.n; i++)
                if (o.v[i].profile)
                        r = close_one(log, &o.v[i], uid, err);
        /* Every record of another boot is at or below the mark, read when
         * this run opened the log; a run of this boot writes after the note,
         * unless its own sweep failed and it went on: the note stays at or
         * below the job.submitted of each such run still open. */
        for (size_t i = 0; i < o.n; i++)
                if (!o.v[i].profile && o.v[i].seq > 0 && o.v[i].seq <= mark)
                        mark = o.v[i].seq - 1;
        open_jobs_clear(&o);
        if (r < 0)
                return r;
        (void) snprintf(text, sizeof(text), "%s %" PRIu64 "\n", boot, mark + 1);
        return cd_audit_note_set(log, RUN_BOOT_NOTE, text, err);
}

void run_boot_sweep(int runs_fd, struct cd_audit *log, const char *boot, uint32_t uid)
{
        char noted[RUN_BOOT_ID_SIZE];
        struct cd_err err = { 0 };
        uint64_t from;
        int r = note_read(log, noted, &from, &err);

        if (r == 0 && strcmp(noted, boot) == 0)
                return; /* the common case: this boot's first run did it */
        if (flock(runs_fd, LOCK_EX) < 0) {
                cli_error("run", "cannot lock the markers of earlier runs: %s", strerror(errno));
                return;
        }
        err = (struct cd_err){ 0 };
        r = sweep_locked(log, boot, uid, &err);
        if (r < 0)
                cli_error("run", "jobs of runs a host restart ended may be left open: %s", err.msg);
        (void) flock(runs_fd, LOCK_UN);
}
