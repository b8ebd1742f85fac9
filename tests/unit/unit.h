/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers shared by the unit tests: temp directories that are removed even
 * when a test fails (call from cmocka setup/teardown), fd counting and
 * capture of what a function writes to a file descriptor.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A fresh empty directory under $TMPDIR (or /tmp), mode 0700. Returns the
 * path (free it) or NULL with errno set. */
char *ut_mkdtemp(void);

/* Remove @path and everything below it, without following symlinks. Returns
 * 0 or -errno. Accepts NULL. */
int ut_rm_rf(const char *path);

/* Open the directory @path (O_PATH is not enough for *at calls that create). */
int ut_open_dir(const char *path);

/* Number of entries in directory @path, "." and ".." not counted; -errno. */
int ut_count_entries(const char *path);

/* Number of open file descriptors of this process. */
int ut_count_fds(void);

/* Create @path (relative to @dirfd) holding @data, mode 0644. Returns 0 or -errno. */
int ut_write_file(int dirfd, const char *path, const void *data, size_t len);

/* Read all of @path relative to @dirfd into a NUL-terminated heap buffer. */
char *ut_read_file(int dirfd, const char *path, size_t *ret_len);

/* Read what is available on non-blocking @fd, appending to *@buf / *@len.
 * Returns 1 on EOF, 0 when nothing more is available now, -errno. */
int ut_read_available(int fd, char **buf, size_t *len);

/* Deterministic test data: byte i of stream @seed. */
void ut_fill_pattern(char *buf, size_t len, unsigned int seed);

/*
 * Release @p with @fn in the next ut_run_deferred() (call it from teardown).
 * For what a test allocates before an assertion that may fail: cmocka leaves
 * a failed test by longjmp, past any cleanup attribute. Returns @p.
 */
void *ut_defer(void (*fn)(void *), void *p);
void ut_run_deferred(void);

/* Set or clear O_NONBLOCK. Returns 0 or -errno. */
int ut_set_nonblock(int fd, bool on);
