/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>

#include "wrap.h"

int __real_mount(const char *source, const char *target, const char *fstype, unsigned long flags,
                 const void *data) __attribute__((weak));
int __wrap_mount(const char *source, const char *target, const char *fstype, unsigned long flags,
                 const void *data);

int __wrap_mount(const char *source, const char *target, const char *fstype, unsigned long flags,
                 const void *data)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_MOUNT);

        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_mount(source, target, fstype, flags, data);
}
