/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>

#include "wrap.h"

int __real_fsopen(const char *fs_name, unsigned int flags) __attribute__((weak));
int __wrap_fsopen(const char *fs_name, unsigned int flags);

int __wrap_fsopen(const char *fs_name, unsigned int flags)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_FSOPEN);

        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_fsopen(fs_name, flags);
}
