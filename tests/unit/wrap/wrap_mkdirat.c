/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/types.h>

#include "wrap.h"

int __real_mkdirat(int dirfd, const char *path, mode_t mode) __attribute__((weak));
int __wrap_mkdirat(int dirfd, const char *path, mode_t mode);

int __wrap_mkdirat(int dirfd, const char *path, mode_t mode)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_MKDIRAT);

        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_mkdirat(dirfd, path, mode);
}
