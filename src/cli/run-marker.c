/* SPDX-License-Identifier: MIT */
/* Markers of running `cordon run`s, and closing the jobs of killed ones (run-marker.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cordon/cleanup.h"
#include "cordon/jobfiles.h"
#include "cordon/launcher.h"
#include "cordon/util.h"
#include "run-marker.h"

/* "<seq> <profile> <audit dir>\n": 20 digits, a profile name, a path. */
#define MARKER_MAX (20 + 1 + CD_AUDIT_MAX_STRING + 1 + PATH_MAX + 1)

int run_marker_dir(struct cd_err *err)
{
        int fd = cd_open_root_subdir(CD_DEFAULT_RUN_DIR, "runs", 0700, err);

        return fd < 0 ? cd_err_prefix(err, "audit") : fd;
}

struct marker {
        uint64_t mark;
        char profile[CD_AUDIT_MAX_STRING + 1];
        char audit_dir[PATH_MAX];
};

/* Split off the text of *@p before its first space. */
static char *field(char **p)
{
        char *start = *p, *sp = strchr(start, ' ');

        if (!sp)
                return NULL;
        *sp = '\0';
        *p = sp + 1;
        return start;
}

/* The marker's content, read from @fd (at most MARKER_MAX bytes: nothing
 * in it is trusted further). 0, or -EINVAL. */
static int read_marker(int fd, struct marker *m)
{
        char buf[MARKER_MAX + 1];
        char *p = buf, *seq, *profile, *nl;
        ssize_t n = pread(fd, buf, MARKER_MAX, 0);

        if (n < 0)
                return -errno;
        buf[n] = '\0';
        nl = memchr(buf, '\n', (size_t) n);
        if (!nl)
                return -EINVAL;
        *nl = '\0';
        seq = field(&p);
        profile = seq ? field(&p) : NULL;
        if (!profile || cd_parse_u64(seq, &m->mark) < 0 || !profile[0] ||
            strlen(profile) > CD_AUDIT_MAX_STRING || p[0] != '/' || strlen(p) >= PATH_MAX)
                return -EINVAL;
        memcpy(m->profile, profile, strlen(profile) + 1);
        memcpy(m->audit_dir, p, strlen(p) + 1);
        return 0;
}

struct found {
        const char *job;
        bool submitted, finished;
};

static int note(const struct cd_audit_seen *r, void *data)
{
        struct found *f = data;

        if (!r->job || strcmp(r->job, f->job) != 0)
                return 0;
        if (strcmp(r->event, CD_AUDIT_JOB_SUBMITTED) == 0)
                f->submitted = true;
        else if (strcmp(r->event, CD_AUDIT_JOB_FINISHED) == 0)
                f->finished = true;
        return 0;
}

/* The job of a killed run in @log: job.finished, unless the log has it or
 * has nothing of the job. */
static int close_in(struct cd_audit *log, uint32_t uid, const char *job, const struct marker *m,
                    struct cd_err *err)
{
        struct found f = { .job = job };
        cleanup_with(json_decrefp) json_t *d = NULL;
        struct cd_audit_event e;
        int r = cd_audit_scan(log, m->mark, note, &f, err);

        if (r < 0 || !f.submitted || f.finished)
                return r;
        d = json_pack("{s:s}", "reason", "run_interrupted");
        if (!d)
                return cd_err_set(err, ENOMEM, "audit: out of memory");
        e = (struct cd_audit_event){ .event = CD_AUDIT_JOB_FINISHED,
                                     .uid = uid,
                                     .role = "admin",
                                     .job = job,
                                     .profile = m->profile,
                                     .verdict = "failed",
                                     .details = d };
        return cd_audit_append(log, &e, err);
}

/* The same, in the marker's own log: ours, or another state directory's
 * (gone with its directory: nothing left to close). */
static int close_job(struct cd_audit *log, const char *audit_dir, uint32_t uid, const char *job,
                     const struct marker *m, struct cd_err *err)
{
        struct cd_audit *other = NULL;
        struct stat st;
        int r;

        if (strcmp(m->audit_dir, audit_dir) == 0)
                return close_in(log, uid, job, m, err);
        if (lstat(m->audit_dir, &st) < 0 && errno == ENOENT)
                return 0;
        r = cd_audit_open(m->audit_dir, NULL, &other, err);
        if (r == 0)
                r = close_in(other, uid, job, m, err);
        other = cd_audit_close(other);
        return r;
}

/* One marker: 0 when settled or live (left alone), or -errno with @err. */
static int settle(int dir, const char *name, struct cd_audit *log, const char *audit_dir,
                  uint32_t uid, struct cd_err *err)
{
        cleanup_close int fd = -1;
        struct marker m;
        struct stat st;
        int r;

        fd = openat(dir, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : cd_err_errno(err, "audit: open a run's marker");
        if (fstat(fd, &st) < 0)
                return cd_err_errno(err, "audit: stat a run's marker");
        if (!S_ISREG(st.st_mode))
                return cd_err_set(err, EINVAL, "audit: a run's marker is not a regular file");
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? 0 : cd_err_errno(err, "audit: lock a run's marker");
        r = read_marker(fd, &m);
        if (r == -EINVAL)
                return cd_err_set(err, EINVAL, "audit: a run's marker is malformed");
        if (r < 0)
                return cd_err_neg(err, r, "audit: read a run's marker");
        r = close_job(log, audit_dir, uid, name, &m, err);
        if (r < 0)
                return r;
        if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
                return cd_err_errno(err, "audit: remove a run's marker");
        return 0;
}

void run_marker_sweep(int dir, struct cd_audit *log, const char *audit_dir, uint32_t uid)
{
        int dup_fd = fcntl(dir, F_DUPFD_CLOEXEC, 3);
        DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
        struct cd_err err = { 0 };
        struct dirent *de;

        if (!d) {
                (void) cd_close(dup_fd);
                cli_error("run", "cannot read the markers of earlier runs: %s", strerror(errno));
                return;
        }
        /* Shared: the sweeps of runs side by side settle their markers
         * between them (each one locked); the sweep of a new boot's jobs
         * (run-boot.h) waits for them, and they for it. */
        if (flock(dir, LOCK_SH) < 0) {
                cli_error("run", "cannot lock the markers of earlier runs: %s", strerror(errno));
                (void) closedir(d);
                return;
        }
        while ((errno = 0, de = readdir(d)))
                if (cd_job_id_is_valid(de->d_name) &&
                    settle(dir, de->d_name, log, audit_dir, uid, &err) < 0)
                        cli_error("run", "the job of an earlier, killed run is left open: %s",
                                  err.msg);
        /* errno was cleared right before the readdir() that ended the loop. */
        if (errno != 0)
                cli_error("run", "cannot read all the markers of earlier runs: %s",
                          strerror(errno));
        (void) flock(dir, LOCK_UN);
        (void) closedir(d);
}

int run_marker_create(int dir, const char *job, uint64_t mark, const char *profile,
                      const char *audit_dir, int *ret_fd, struct cd_err *err)
{
        char text[MARKER_MAX + 1];
        cleanup_close int fd = -1;
        int n, r;

        n = snprintf(text, sizeof(text), "%" PRIu64 " %s %s\n", mark, profile, audit_dir);
        if (n < 0 || (size_t) n >= sizeof(text) || strchr(profile, ' ') || audit_dir[0] != '/')
                return cd_err_set(err, EINVAL, "audit: cannot name this run's profile and log");
        /* Nameless until locked and written: no other run ever sees it
         * unlocked, so none takes it for a killed run's. */
        fd = openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                return cd_err_errno(err, "audit: create this run's marker");
        if (flock(fd, LOCK_EX) < 0)
                return cd_err_errno(err, "audit: lock this run's marker");
        r = cd_write_all(fd, text, (size_t) n);
        if (r < 0)
                return cd_err_neg(err, r, "audit: write this run's marker");
        if (linkat(fd, "", dir, job, AT_EMPTY_PATH) < 0)
                return cd_err_errno(err, "audit: name this run's marker");
        *ret_fd = TAKE_FD(fd);
        return 0;
}

void run_marker_remove(int dir, const char *job)
{
        /* Left behind, it is found free with job.finished in the log: the
         * next run removes it without a record. */
        (void) unlinkat(dir, job, 0);
}
