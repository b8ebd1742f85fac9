/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "cordon/http.h"
#include "cordon/service.h"

/* A running cordond: the service and what serves it. */
struct cd_daemon {
        struct cd_service svc;
        struct cd_http *http;
        bool started;        /* svc's locks and metrics are initialised */
        bool socket_created; /* we bound the socket (not systemd): unlink at exit */
        char *socket_path;
        int lock_fd;   /* state_dir/cordond.lock, write-locked while we run */
        int listen_fd; /* until cd_http_start takes it */
};

/* Open the state, recover, start the queue and the server. On failure
 * cd_daemon_stop() undoes what was done. */
int cd_daemon_start(struct cd_daemon *d, const struct cd_config *cfg, struct cd_err *err);

/* Stop taking jobs, give running ones the grace, close everything. */
void cd_daemon_stop(struct cd_daemon *d);

/*
 * The listening socket: the one systemd passed (LISTEN_FDS=1 and
 * LISTEN_PID = our pid: fd 3), or a new one bound at cfg->socket_path
 * (a stale socket there is replaced; anything else there is refused) with
 * cfg's mode and group. *@ret_created tells which. Returns the fd or -errno.
 */
int cd_daemon_listen(const struct cd_config *cfg, bool *ret_created, struct cd_err *err);
