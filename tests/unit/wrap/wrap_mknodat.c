/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/types.h>

#include "wrap.h"

int __real_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev) __attribute__((weak));
int __wrap_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev);

int __wrap_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_MKNODAT);

        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_mknodat(dirfd, path, mode, dev);
}
