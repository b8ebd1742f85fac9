/* SPDX-License-Identifier: MIT */
/* Start and stop cordond's parts in order (daemon.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/log.h"
#include "daemon.h"

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

int cd_daemon_start(struct cd_daemon *d, const struct cd_config *cfg, struct cd_err *err)
{
        struct cd_service *s = &d->svc;
        int fd, r;

        *d = (struct cd_daemon){ .started = true };
        s->cfg = cfg;
        s->files = (struct cd_jobfiles){ .state_fd = -1, .jobs_fd = -1 };
        pthread_mutex_init(&s->audit_lock, NULL);
        pthread_mutex_init(&s->rate_lock, NULL);
        pthread_rwlock_init(&s->profiles_lock, NULL);
        cd_metrics_init(&s->metrics);
        /* The launcher first: it drops supplementary groups before any thread. */
        r = open_launcher(s, err);
        if (r == 0)
                r = cd_jobfiles_open(cfg->state_dir, &s->files, err);
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
        cd_service_expire(s); /* then once a minute (main.c) */
        fd = cd_daemon_listen(cfg, &d->socket_created, err);
        if (fd < 0)
                return fd;
        if (d->socket_created)
                d->socket_path = strdup(cfg->socket_path);
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
        cd_queue_free(s->queue);
        s->queue = NULL;
        s->store = cd_store_close(s->store);
        s->audit = cd_audit_close(s->audit);
        s->launcher = cd_launcher_free(s->launcher);
        cd_profile_set_clear(&s->profiles);
        cd_jobfiles_close(&s->files);
        free(d->socket_path);
        d->socket_path = NULL;
        d->started = false;
}
