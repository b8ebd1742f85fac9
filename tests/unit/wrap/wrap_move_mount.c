/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>

#include "wrap.h"

int __real_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                      unsigned int flags) __attribute__((weak));
int __wrap_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                      unsigned int flags);

int __wrap_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                      unsigned int flags)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_MOVE_MOUNT);

        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_move_mount(from_dirfd, from_path, to_dirfd, to_path, flags);
}
