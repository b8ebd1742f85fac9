/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/types.h>

#include "wrap.h"

ssize_t __real_getrandom(void *buf, size_t len, unsigned int flags) __attribute__((weak));
ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags);

ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_GETRANDOM);

        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_getrandom(buf, len, flags);
}
