/* SPDX-License-Identifier: MIT */
/* The audit directory's files as they stood at one moment, for readers
 * (verify, scan): the rotated files in seq order, then audit.jsonl. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit-internal.h"
#include "cordon/cleanup.h"
#include "cordon/util.h"

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The rotated files of the directory, sorted: zero-padded names sort by seq. */
static int list_rotated(int dirfd, const char *path, char ***ret, struct cd_err *err)
{
        cleanup_strv char **names = NULL;
        uint64_t first, last;
        struct dirent *de;
        DIR *d;
        int fd;

        fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cd_err_errno(err, "audit: open %s", path);
        d = fdopendir(fd);
        if (!d) {
                (void) cd_close(fd);
                return cd_err_errno(err, "audit: list %s", path);
        }
        while ((errno = 0, de = readdir(d)))
                if (audit_rotated_parse(de->d_name, &first, &last) &&
                    cd_strv_push(&names, de->d_name) < 0) {
                        (void) closedir(d);
                        return cd_err_set(err, ENOMEM, "audit: out of memory");
                }
        if (errno != 0) {
                int r = cd_err_errno(err, "audit: list %s", path);

                (void) closedir(d);
                return r;
        }
        (void) closedir(d);
        if (names)
                qsort(names, cd_strv_length(names), sizeof(char *), cmp_names);
        *ret = TAKE_PTR(names);
        return 0;
}

void audit_snapshot_clear(struct audit_snapshot *s)
{
        for (size_t i = 0; i < s->n; i++)
                (void) cd_close(s->fds[i]);
        free(s->fds);
        cd_strv_free(s->names);
        (void) cd_close(s->live_fd);
}

/*
 * Open @name of @dirfd (shown as @path) to read it. O_NONBLOCK: opening a
 * FIFO for reading waits for a writer (fifo(7)), and verify and scan open
 * the files under the shared lock, which would hold every append with
 * them; the flag changes nothing for a regular file, the only kind taken.
 */
static int open_regular(int dirfd, const char *path, const char *name, struct stat *ret_st,
                        struct cd_err *err)
{
        return audit_open_file(dirfd, path, name, O_RDONLY | O_NONBLOCK, ret_st, err);
}

static int snapshot_take(int dirfd, const char *path, struct audit_snapshot *s, struct cd_err *err)
{
        struct stat st;
        int q = list_rotated(dirfd, path, &s->names, err);

        if (q < 0)
                return q;
        s->fds = calloc(cd_strv_length(s->names) + 1, sizeof(int));
        if (!s->fds)
                return cd_err_set(err, ENOMEM, "audit: out of memory");
        for (; s->names && s->names[s->n]; s->n++) {
                q = open_regular(dirfd, path, s->names[s->n], &st, err);
                if (q < 0)
                        return q;
                s->fds[s->n] = q;
        }
        q = open_regular(dirfd, path, CD_AUDIT_FILE, &st, err);
        if (q < 0 && q != -ENOENT) /* none: a crash right after a rotation */
                return q;
        if (q == -ENOENT)
                *err = (struct cd_err){ 0 }; /* no failure: @err says nothing */
        s->live_fd = q < 0 ? -1 : q;
        s->live_size = q < 0 ? 0 : st.st_size;
        return 0;
}

/*
 * The snapshot is taken under a shared lock on the writers' lock file
 * (audit.c): no append or rotation is half done while the names are
 * listed, the files opened and the live file's size read. The files are
 * then read without it, the live one up to that size, so that a rotation
 * or an append while verify reads is not taken for a gap or a torn line.
 * Without the lock file (a copied directory, no right to open it) the
 * snapshot is taken unlocked.
 */
int audit_snapshot_locked(int dirfd, const char *path, struct audit_snapshot *s, struct cd_err *err)
{
        /* O_NONBLOCK: a FIFO there would make open(2) wait (see open_regular()). */
        cleanup_close int lock =
                openat(dirfd, AUDIT_LOCK_FILE, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        int q;

        while (lock >= 0 && flock(lock, LOCK_SH) < 0)
                if (errno != EINTR)
                        return cd_err_errno(err, "audit: lock %s/" AUDIT_LOCK_FILE, path);
        q = snapshot_take(dirfd, path, s, err);
        if (lock >= 0)
                (void) flock(lock, LOCK_UN);
        return q;
}
