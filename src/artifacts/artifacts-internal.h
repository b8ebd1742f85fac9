/* SPDX-License-Identifier: MIT */
#pragma once

#include <pthread.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cordon/artifacts.h"

/* The first bytes of a file the sniffer looks at, and with types, its last
 * ones too (types.c). */
#define CD_SNIFF_BYTES 65536
/* How far from its end a ZIP reader looks for the end record: 22 bytes
 * and a comment of at most 65535. */
#define CD_ZIP_END_REACH    (22 + 65535)
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

/* When an answer, or a sniffer's start, is no longer waited for. */
struct cd_sniff_until {
        uint64_t deadline_ms; /* cd_now_ms() time; 0: none (CD_SNIFF_TIMEOUT_MS still holds) */
        int cancel_fd;        /* readable: stop waiting; -1: none */
};

/* Fork the sniffer; it runs as @uid/@gid. @fork_lock (NULL: none) is held
 * for the fork. Returns 0 once it is ready, or -errno with @err: -ECANCELED
 * or -ETIMEDOUT when @until's cancel_fd became readable or its deadline
 * passed first (while waiting for @fork_lock or for the sniffer), and
 * nothing is left running. Context: parent. */
int cd_sniffer_start(struct cd_sniffer *s, uid_t uid, gid_t gid, pthread_rwlock_t *fork_lock,
                     const struct cd_sniff_until *until, struct cd_err *err);

/* What libmagic says of some bytes. */
struct cd_sniffed {
        char type[128];   /* MIME type, lower case, without parameters */
        char charset[32]; /* its "charset" parameter: "us-ascii", "utf-16le", "binary" */
        bool text;        /* the charset is not "binary" (no charset: binary) */
};

/* The MIME type and charset of @buf (a window of a file) into @ret.
 * Returns 0, or -errno when the sniffer died, took longer than
 * CD_SNIFF_TIMEOUT_MS or than @until allows (-ETIMEDOUT), or @until's
 * cancel_fd became readable meanwhile (-ECANCELED): it is stopped then, and
 * the caller refuses the file; -EPROTO for an answer that is not a MIME
 * type. */
int cd_sniffer_type(struct cd_sniffer *s, const void *buf, size_t len,
                    const struct cd_sniff_until *until, struct cd_sniffed *ret);

/* Stop and reap it. Idempotent. */
void cd_sniffer_stop(struct cd_sniffer *s);

/* True if @type may leave under @r (any type when r->types is NULL). */
bool cd_type_allowed(const struct cd_artifact_rules *r, const char *type);

/* True if @end, the last @n bytes of a file of @size bytes, holds a ZIP end
 * of central directory record that a ZIP reader would take (types.c). */
bool cd_zip_end_in(const void *end, size_t n, uint64_t size);

/* Whether a file whose first window is @head (a type @r allows) may leave
 * by its last window @end (@head again for a file within one window) and
 * @zip_end (cd_zip_end_in() of its last bytes): NULL if it may, else the
 * type found at its end, which refuses it (a static string or @end's). */
const char *cd_tail_refusal(const struct cd_artifact_rules *r, const struct cd_sniffed *head,
                            const struct cd_sniffed *end, bool zip_end);
