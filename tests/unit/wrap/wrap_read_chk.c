/* SPDX-License-Identifier: MIT */
/*
 * With _FORTIFY_SOURCE, a read() whose buffer size the compiler can see
 * becomes __read_chk() (it can, for instance, in the sanitizer build).
 * Wrapping "read" wraps this entry point too, with the same arming.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/types.h>

#include "wrap.h"

ssize_t __real___read_chk(int fd, void *buf, size_t count, size_t buflen) __attribute__((weak));
ssize_t __wrap___read_chk(int fd, void *buf, size_t count, size_t buflen);

ssize_t __wrap___read_chk(int fd, void *buf, size_t count, size_t buflen)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_READ);

        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        if (count > a.max_bytes)
                count = a.max_bytes;
        return __real___read_chk(fd, buf, count, buflen);
}
