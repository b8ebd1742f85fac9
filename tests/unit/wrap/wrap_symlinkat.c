/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>

#include "wrap.h"

int __real_symlinkat(const char *target, int dirfd, const char *path) __attribute__((weak));
int __wrap_symlinkat(const char *target, int dirfd, const char *path);

int __wrap_symlinkat(const char *target, int dirfd, const char *path)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_SYMLINKAT);

        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_symlinkat(target, dirfd, path);
}
