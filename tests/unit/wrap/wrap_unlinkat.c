/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>

#include "wrap.h"

int __real_unlinkat(int dirfd, const char *path, int flags) __attribute__((weak));
int __wrap_unlinkat(int dirfd, const char *path, int flags);

int __wrap_unlinkat(int dirfd, const char *path, int flags)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_UNLINKAT);

        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_unlinkat(dirfd, path, flags);
}
