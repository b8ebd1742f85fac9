/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdlib.h>

/*
 * Scope-bound cleanup. Declare and initialise on the same line:
 *         cleanup_close int fd = -1;
 *         cleanup_free char *path = NULL;
 * Hand ownership on with TAKE_FD() / TAKE_PTR(), which reset the variable.
 */
#define cleanup_with(f) __attribute__((cleanup(f)))

/* Close @fd if it is >= 0, keeping errno unchanged. Returns -1 for "fd = cd_close(fd);". */
int cd_close(int fd);

static inline void cd_freep(void *p)
{
        free(*(void **) p);
}

static inline void cd_closep(const int *fd)
{
        (void) cd_close(*fd);
}

/* Free a NULL-terminated array of strings and the array. Accepts NULL. */
void cd_strv_free(char **v);

static inline void cd_strv_freep(char ***v)
{
        cd_strv_free(*v);
}

#define cleanup_free  cleanup_with(cd_freep)
#define cleanup_close cleanup_with(cd_closep)
#define cleanup_strv  cleanup_with(cd_strv_freep)

#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd_ = (fd);                                                                   \
                (fd) = -1;                                                                         \
                _fd_;                                                                              \
        })

#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p_ = (p);                                                           \
                (p) = NULL;                                                                        \
                _p_;                                                                               \
        })

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
