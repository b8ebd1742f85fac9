/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cordon/log.h"

static enum cd_log_level max_level = CD_LOG_INFO;

static const char *const level_names[] = {
        [CD_LOG_ERROR] = "error",
        [CD_LOG_WARN] = "warn",
        [CD_LOG_INFO] = "info",
        [CD_LOG_DEBUG] = "debug",
};

void cd_log_set_level(enum cd_log_level level)
{
        max_level = level;
}

int cd_log_level_from_string(const char *s, enum cd_log_level *ret)
{
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
                if (strcmp(s, level_names[i]) == 0) {
                        *ret = (enum cd_log_level) i;
                        return 0;
                }
        return -EINVAL;
}

/* One record is built in a buffer and written with one write(2) so that
 * lines from several threads never interleave. */
void cd_log(enum cd_log_level level, const char *job, const char *fmt, ...)
{
        char line[PIPE_BUF]; /* one write(2) of up to PIPE_BUF bytes is atomic */
        size_t n = 0;
        int saved = errno;
        va_list ap;
        int r;

        if (level > max_level)
                return;
        r = snprintf(line, sizeof(line), "level=%s ", level_names[level]);
        n = r > 0 ? (size_t) r : 0;
        if (job) {
                r = snprintf(line + n, sizeof(line) - n, "job=%s ", job);
                n += r > 0 ? (size_t) r : 0;
        }
        if (n < sizeof(line)) {
                va_start(ap, fmt);
                r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
                va_end(ap);
                n += r > 0 ? (size_t) r : 0;
        }
        if (n >= sizeof(line) - 1)
                n = sizeof(line) - 2;
        line[n++] = '\n';
        (void) !write(STDERR_FILENO, line, n);
        errno = saved;
}

/* Quote @s for a key="value" field: backslash, quote and control characters escaped. */
static void quote(const char *s, char *out, size_t size)
{
        size_t o = 0;

        for (; *s && o + 5 < size; s++) {
                unsigned char c = (unsigned char) *s;

                if (c == '"' || c == '\\') {
                        out[o++] = '\\';
                        out[o++] = (char) c;
                } else if (c < 0x20 || c == 0x7f) {
                        o += (size_t) snprintf(out + o, size - o, "\\x%02x", c);
                } else {
                        out[o++] = (char) c;
                }
        }
        out[o] = '\0';
}

void cd_log_err(enum cd_log_level level, const char *job, const struct cd_err *err)
{
        char q[sizeof(err->msg) * 4 + 1]; /* worst case: every byte as \xNN */

        quote(err->msg, q, sizeof(q));
        cd_log(level, job, "msg=\"%s\"", q);
}
