/* SPDX-License-Identifier: MIT */
#pragma once

#include <pthread.h>

#include <stddef.h>
#include <sys/types.h>

#include "cordon/artifacts.h"

/* The first bytes of a file the sniffer looks at. */
#define CD_SNIFF_BYTES      65536
#define CD_SNIFF_TIMEOUT_MS 2000 /* per file; then the sniffer is killed */
#define CD_SNIFF_RESTARTS   3    /* sniffers started after the first one died */

/* A helper process that runs libmagic on untrusted bytes, with no
 * capability, an unprivileged uid, no_new_privs and a seccomp filter. */
struct cd_sniffer {
        pid_t pid;
        int fd;
};

/* Load libmagic (artifacts/magic-load.c); once per process, before the
 * first sniffer forks. */
int cd_magic_load(struct cd_err *err);

/* Fork the sniffer; it runs as @uid/@gid. */
int cd_sniffer_start(struct cd_sniffer *s, uid_t uid, gid_t gid, pthread_rwlock_t *fork_lock,
                     struct cd_err *err);

/* When an answer is no longer waited for. */
struct cd_sniff_until {
        uint64_t deadline_ms; /* cd_now_ms() time; 0: none (CD_SNIFF_TIMEOUT_MS still holds) */
        int cancel_fd;        /* readable: stop waiting; -1: none */
};

/* The MIME type of @buf (a file's first bytes) into @type. Returns 0, or
 * -errno when the sniffer died, took longer than CD_SNIFF_TIMEOUT_MS or
 * than @until allows (-ETIMEDOUT), or @until's cancel_fd became readable
 * meanwhile (-ECANCELED): it is stopped then, and the caller refuses the
 * file. */
int cd_sniffer_type(struct cd_sniffer *s, const void *buf, size_t len,
                    const struct cd_sniff_until *until, char *type, size_t size);

/* Stop and reap it. Idempotent. */
void cd_sniffer_stop(struct cd_sniffer *s);
