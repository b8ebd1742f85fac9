/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdarg.h>

/* Codes above CD_E_BASE are cordon's own; below it, positive errno values. */
#define CD_E_BASE 1000
enum {
        CD_E_INVALID = CD_E_BASE + 1, /* bad input: a flag, a profile, a request */
        CD_E_CHILD,                   /* the sandbox child died without reporting */
        CD_E_UNSUPPORTED,             /* the host lacks something cordon needs */
        CD_E_BUSY,                    /* no free slot, queue full */
        CD_E_NOT_EMPTY,               /* a cgroup kept tasks after a kill */
        CD_E_FAULT,                   /* injected by a test (CORDON_FAULT_INJECTION) */
        CD_E_QUOTA,                   /* a client's jobs hold their share of the disk */
};

/*
 * The error of one operation, filled by the function that failed and
 * reported once, at the top. The buffer is fixed so that the post-clone
 * child can fill it without allocating and write it whole to a pipe.
 */
struct cd_err {
        int code;      /* positive errno, or a CD_E_* value */
        char msg[512]; /* "mount: bind-ro /usr: Permission denied" */
};

/* Fill @err from errno: "<fmt>: <strerror>". Returns -code. Context: any, child included. */
int cd_err_errno(struct cd_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fill @err with @code (errno or CD_E_*) and a message. Returns -code. Context: any. */
int cd_err_set(struct cd_err *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Fill @err from a negative errno return @r (for calls that return -errno). Returns r. */
int cd_err_neg(struct cd_err *err, int r, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Prepend "<fmt>: " to the message in @err. Returns -err->code. Context: any. */
int cd_err_prefix(struct cd_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset @err to "no error". */
void cd_err_clear(struct cd_err *err);
