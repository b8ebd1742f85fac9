/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>

#include "wrap.h"

int __real_open_tree(int dirfd, const char *path, unsigned int flags) __attribute__((weak));
int __wrap_open_tree(int dirfd, const char *path, unsigned int flags);

int __wrap_open_tree(int dirfd, const char *path, unsigned int flags)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_OPEN_TREE);

        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_open_tree(dirfd, path, flags);
}
