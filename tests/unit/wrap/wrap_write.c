/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/types.h>

#include "wrap.h"

ssize_t __real_write(int fd, const void *buf, size_t count) __attribute__((weak));
ssize_t __wrap_write(int fd, const void *buf, size_t count);

ssize_t __wrap_write(int fd, const void *buf, size_t count)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_WRITE);

        cd_wrap_maybe_die(a);
        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        if (count > a.max_bytes)
                count = a.max_bytes;
        cd_wrap_passing(WRAP_WRITE, fd);
        return __real_write(fd, buf, count);
}
