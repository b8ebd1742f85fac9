/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>

#include "wrap.h"

int __real_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
        __attribute__((weak));
int __wrap_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux);

int __wrap_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_FSCONFIG);

        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_fsconfig(fd, cmd, key, value, aux);
}
