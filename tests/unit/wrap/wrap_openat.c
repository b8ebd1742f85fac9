/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/types.h>

#include "wrap.h"

int __real_openat(int dirfd, const char *path, int flags, ...) __attribute__((weak));
int __wrap_openat(int dirfd, const char *path, int flags, ...);

int __wrap_openat(int dirfd, const char *path, int flags, ...)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_OPENAT);
        mode_t mode = 0;

        /* The mode argument exists only with O_CREAT or O_TMPFILE (open(2)). */
        if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
                va_list ap;

                va_start(ap, flags);
                mode = va_arg(ap, mode_t);
                va_end(ap);
        }
        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_openat(dirfd, path, flags, mode);
}
