/* SPDX-License-Identifier: MIT */
/* Start and stop cordond's parts in order (daemon.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/log.h"
#include "daemon.h"

/*
 * One cordond per state directory: a second one (a manual start next to the
 * service, a unit with the same configuration) would otherwise "recover" the
 * first one's running jobs as failed, run its queued jobs a second time and
 * sweep its uploads, all before finding the socket taken. A POSIX lock, not
 * flock(): it belongs to this process, so the sandbox children that inherit
 * the descriptor until they close it do not hold it after a kill -9.
 */
static int lock_state(struct cd_daemon *d, struct cd_err *err)
{
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

        d->lock_fd = openat(d->svc.files.state_fd, "cordond.lock",
                            O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
        if (d->lock_fd < 0)
                return cd_err_errno(err, "state: open %s/cordond.lock", d->svc.cfg->state_dir);
        if (fcntl(d->lock_fd, F_SETLK, &fl) == 0)
                return 0;
        if (errno != EAGAIN && errno != EACCES)
                return cd_err_errno(err, "state: lock %s/cordond.lock", d->svc.cfg->state_dir);
        fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET };
        if (fcntl(d->lock_fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
                return cd_err_set(err, EBUSY, "state: %s is in use by another cordond (pid %d)",
                                  d->svc.cfg->state_dir, (int) fl.l_pid);
        return cd_err_set(err, EBUSY, "state: %s is in use by another cordond",
                          d->svc.cfg->state_dir);
}

static int open_audit(struct cd_service *s, struct cd_err *err)
{
        cleanup_free char *dir = NULL;

        if (asprintf(&dir, "%s/audit", s->cfg->state_dir) < 0)
                return cd_err_set(err, ENOMEM, "out of memory");
        return cd_audit_open(dir, NULL, &s->audit, err);
}

static int open_launcher(struct cd_service *s, struct cd_err *err)
{
        const struct cd_launcher_config lc = {
                .uid_base = s->cfg->uid_base,
                .uid_count = s->cfg->uid_count,
                .cgroup = s->cfg->cgroup,
        };
        int r = cd_launcher_new(&lc, &s->launcher, err);

        if (r == 0)
                s->cgroup_mode = cd_cgroup_mode_to_string(cd_launcher_cgroup_mode(s->launcher));
        return r;
}

static int start_queue(struct cd_service *s, struct cd_err *err)
{
        const struct cd_queue_config qc = {
                .slots = s->cfg->slots,
                .max_queued = s->cfg->max_queued,
                .max_per_client = s->cfg->max_queued_per_client,
        };

        return cd_queue_new(&qc, cd_service_run_job, s, &s->queue, err);
}

static int audit_config(struct cd_service *s, struct cd_err *err)
{
        return cd_service_audit1(s, CD_AUDIT_CONFIG_LOADED, NULL, NULL, NULL, NULL,
                                 json_pack("{s:s, s:I, s:I, s:s}", "version", CORDON_VERSION,
                                           "slots", (json_int_t) s->cfg->slots, "max_queued",
                                           (json_int_t) s->cfg->max_queued, "cgroup",
                                           s->cgroup_mode),
                                 err);
}

/*
 * The socket before any job can start: a cordond that cannot listen (another
 * one does, something else is at the path) must fail before its queue takes
 * a stored job, or that job would run, or be cancelled, under a supervisor
 * that exits at once. Connections wait in the backlog until the server starts.
 */
static int listen_early(struct cd_daemon *d, struct cd_err *err)
{
        d->listen_fd = cd_daemon_listen(d->svc.cfg, &d->socket_created, err);
        if (d->listen_fd < 0)
                return d->listen_fd;
        if (d->socket_created && !(d->socket_path = strdup(d->svc.cfg->socket_path)))
                return cd_err_set(err, ENOMEM, "out of memory");
        return 0;
}

int cd_daemon_start(struct cd_daemon *d, const struct cd_config *cfg, struct cd_err *err)
{
        struct cd_service *s = &d->svc;
        int fd, r;

        *d = (struct cd_daemon){ .started = true, .lock_fd = -1, .listen_fd = -1 };
        s->cfg = cfg;
        s->files = (struct cd_jobfiles){ .state_fd = -1, .jobs_fd = -1 };
        pthread_mutex_init(&s->audit_lock, NULL);
        pthread_mutex_init(&s->job_lock, NULL);
        pthread_mutex_init(&s->rate_lock, NULL);
        pthread_mutex_init(&s->rooms_lock, NULL);
        pthread_rwlock_init(&s->profiles_lock, NULL);
        cd_metrics_init(&s->metrics);
        /* The launcher first: it drops supplementary groups before any thread. */
        r = open_launcher(s, err);
        if (r == 0)
                r = cd_jobfiles_open(cfg->state_dir, &s->files, err);
        if (r == 0)
                r = lock_state(d, err);
        if (r == 0)
                r = listen_early(d, err);
        if (r == 0)
                r = open_audit(s, err);
        if (r == 0)
                r = audit_config(s, err);
        if (r == 0)
                r = cd_store_open(s->files.state_fd, &s->store, err);
        if (r == 0)
                r = cd_service_load_profiles(s, err);
        if (r == 0)
                r = start_queue(s, err);
        if (r == 0)
                r = cd_service_recover(s, err);
        if (r < 0)
                return r;
        (void) cd_service_expire(s); /* then from serve() (main.c) */
        fd = d->listen_fd;
        d->listen_fd = -1; /* cd_http_start takes it */
        return cd_http_start(s, fd, &d->http, err);
}

void cd_daemon_stop(struct cd_daemon *d)
{
        struct cd_service *s = &d->svc;
        unsigned int cancelled;

        if (!d->started)
                return;
        atomic_store(&s->stopping, true);
        cd_http_quiesce(d->http);
        if (d->socket_path && unlink(d->socket_path) < 0 && errno != ENOENT)
                cd_log_warn(NULL, "msg=\"cannot remove the socket\"");
        if (s->queue) {
                cd_queue_notify(s->queue); /* wake long polls: they see stopping */
                cancelled = cd_queue_stop(s->queue, s->cfg->shutdown_grace_ms);
                if (cancelled)
                        cd_log_warn(NULL, "msg=\"jobs cancelled at shutdown\" count=%u", cancelled);
        }
        cd_http_stop(d->http);
        d->http = NULL;
        d->listen_fd = cd_close(d->listen_fd); /* a start that failed before the server */
        cd_queue_free(s->queue);
        s->queue = NULL;
        s->store = cd_store_close(s->store);
        s->audit = cd_audit_close(s->audit);
        s->launcher = cd_launcher_free(s->launcher);
        cd_profile_set_clear(&s->profiles);
        cd_jobfiles_close(&s->files);
        d->lock_fd = cd_close(d->lock_fd); /* last: the state is closed */
        free(d->socket_path);
        d->socket_path = NULL;
        cd_id_set_clear(&s->cancels_recorded);
        cd_id_set_clear(&s->deletes_recorded);
        cd_id_set_clear(&s->removals_left);
        d->started = false;
}
