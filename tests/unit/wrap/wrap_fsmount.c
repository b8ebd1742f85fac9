/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>

#include "wrap.h"

int __real_fsmount(int fd, unsigned int flags, unsigned int attr_flags) __attribute__((weak));
int __wrap_fsmount(int fd, unsigned int flags, unsigned int attr_flags);

int __wrap_fsmount(int fd, unsigned int flags, unsigned int attr_flags)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_FSMOUNT);

        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_fsmount(fd, flags, attr_flags);
}
