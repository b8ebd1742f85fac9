/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/types.h>

#include "wrap.h"

int __real_ftruncate(int fd, off_t length) __attribute__((weak));
int __wrap_ftruncate(int fd, off_t length);

int __wrap_ftruncate(int fd, off_t length)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_FTRUNCATE);

        cd_wrap_maybe_die(a);
        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        cd_wrap_passing(WRAP_FTRUNCATE, fd);
        return __real_ftruncate(fd, length);
}
