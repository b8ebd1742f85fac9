/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>

#include "wrap.h"

int __real_pipe2(int fds[2], int flags) __attribute__((weak));
int __wrap_pipe2(int fds[2], int flags);

int __wrap_pipe2(int fds[2], int flags)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_PIPE2);

        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_pipe2(fds, flags);
}
