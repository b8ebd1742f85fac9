/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>

#include "wrap.h"

int __real_fdatasync(int fd) __attribute__((weak));
int __wrap_fdatasync(int fd);

int __wrap_fdatasync(int fd)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_FDATASYNC);

        cd_wrap_maybe_die(a);
        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        cd_wrap_passing(WRAP_FDATASYNC, fd);
        return __real_fdatasync(fd);
}
