/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cordon/err.h"

/*
 * These run in the post-clone child too, where nothing may allocate or take
 * a lock another thread could have held at clone time. vsnprintf with plain
 * conversions formats into the caller's buffer; strerrordesc_np() returns a
 * static, untranslated string (strerror() may go through gettext's locks).
 */
static const char *errno_text(int code)
{
        const char *s = strerrordesc_np(code);

        return s ? s : "unknown error";
}

__attribute__((format(printf, 3, 0))) static int err_vset(struct cd_err *err, int code,
                                                          const char *fmt, va_list ap)
{
        err->code = code;
        (void) vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        return -code;
}

static void append_errno(struct cd_err *err)
{
        size_t n = strnlen(err->msg, sizeof(err->msg));

        (void) snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", errno_text(err->code));
}

int cd_err_errno(struct cd_err *err, const char *fmt, ...)
{
        int code = errno > 0 ? errno : EIO;
        va_list ap;

        va_start(ap, fmt);
        (void) err_vset(err, code, fmt, ap);
        va_end(ap);
        append_errno(err);
        return -code;
}

int cd_err_neg(struct cd_err *err, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void) err_vset(err, r < 0 ? -r : EIO, fmt, ap);
        va_end(ap);
        append_errno(err);
        return -err->code;
}

int cd_err_set(struct cd_err *err, int code, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void) err_vset(err, code > 0 ? code : EIO, fmt, ap);
        va_end(ap);
        return -err->code;
}

int cd_err_prefix(struct cd_err *err, const char *fmt, ...)
{
        char prefix[sizeof(err->msg)];
        char old[sizeof(err->msg)];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof(old));
        old[sizeof(old) - 1] = '\0';
        /* Truncation keeps the head of the message, which is what matters. */
        if (snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old) < 0)
                err->msg[0] = '\0';
        if (err->code <= 0)
                err->code = EIO;
        return -err->code;
}

void cd_err_clear(struct cd_err *err)
{
        err->code = 0;
        err->msg[0] = '\0';
}
