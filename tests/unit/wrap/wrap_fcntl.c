/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>

#include "wrap.h"

int __real_fcntl(int fd, int cmd, ...) __attribute__((weak));
int __wrap_fcntl(int fd, int cmd, ...);

int __wrap_fcntl(int fd, int cmd, ...)
{
        struct cd_wrap_action a = cd_wrap_next(WRAP_FCNTL);
        va_list ap;
        void *arg;

        /* Every fcntl(2) argument fits in a pointer; glibc reads it the same
         * way and the kernel takes an unsigned long. */
        va_start(ap, cmd);
        arg = va_arg(ap, void *);
        va_end(ap);
        if (a.errnum) {
                errno = a.errnum;
                return -1;
        }
        return __real_fcntl(fd, cmd, arg);
}
