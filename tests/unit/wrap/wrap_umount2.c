/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>

#include "wrap.h"

int __real_umount2(const char *target, int flags) __attribute__((weak));
int __wrap_umount2(const char *target, int flags);

int __wrap_umount2(const char *target, int flags)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_UMOUNT2);

        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_umount2(target, flags);
}
