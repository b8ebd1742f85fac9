/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>

#include "wrap.h"

int __real_fsync(int fd) __attribute__((weak));
int __wrap_fsync(int fd);

int __wrap_fsync(int fd)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_FSYNC);

        cd_wrap_maybe_die(a);
        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        cd_wrap_passing(WRAP_FSYNC, fd);
        return __real_fsync(fd);
}
