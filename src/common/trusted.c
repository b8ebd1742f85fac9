/* SPDX-License-Identifier: MIT */
/*
 * Files that decide how loose every job's sandbox is (profiles,
 * cordond.json). Whoever may change one, or put another file or directory
 * in its place, loosens every later job's sandbox and can read what the
 * jobs process. So the file, its directory and every directory above are
 * reached without a symlink and must be root's (or, for tests run as a
 * user, the caller's) and not writable by group or others. The rule, and
 * why a sticky directory such as /tmp may be above, is in
 * docs/operations.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/util.h"

/* Root, or whoever runs cordon. */
static bool ours(uid_t uid)
{
        return uid == 0 || uid == geteuid();
}

bool cd_owned_alone(const struct stat *st)
{
        return ours(st->st_uid) && !(st->st_mode & 022);
}

/*
 * The directory @fd, the first @len bytes of @path, is cd_owned_alone().
 * One the walk goes on below (@above) may also be writable by others if it
 * is ours and sticky (/tmp): only its owner and root may then rename or
 * remove an entry of someone else's (rename(2), unlink(2): EPERM), and the
 * entry below is checked to be ours in turn. Not the last one: it holds
 * the files, and whoever may write it could add one, or hard-link any file
 * of root's in under a profile's name where fs.protected_hardlinks is 0.
 */
static int check_dir(int fd, const char *path, size_t len, bool above, struct cd_err *err)
{
        struct stat st;

        if (fstat(fd, &st) < 0)
                return cd_err_errno(err, "%.*s", (int) len, path);
        if (ours(st.st_uid) && (!(st.st_mode & 022) || (above && (st.st_mode & S_ISVTX))))
                return 0;
        return cd_err_set(err, EPERM,
                          "%.*s must be owned by root and not writable by group or others%s (it "
                          "is uid %u's, mode %04o)",
                          (int) len, path, above ? ", unless sticky as /tmp is" : "",
                          (unsigned int) st.st_uid, (unsigned int) (st.st_mode & 07777));
}

/* Component @name of @path (its first @len bytes) in directory @at, never
 * following a symlink. O_PATH: a directory one may only search is fine. */
static int open_component(int at, const char *name, const char *path, size_t len,
                          struct cd_err *err)
{
        int fd = openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        int saved;

        if (fd >= 0)
                return fd;
        saved = errno;
        /* O_DIRECTORY|O_NOFOLLOW fails with ENOTDIR on a symlink: say which it was. */
        if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                return cd_err_set(err, ELOOP, "%.*s is a symlink: name the directory itself",
                                  (int) len, path);
        errno = saved;
        return cd_err_errno(err, "%.*s", (int) len, path);
}

/* @path, with the working directory before it when relative. */
static char *absolute(const char *path)
{
        cleanup_free char *cwd = NULL;
        char *abs = NULL;

        if (path[0] == '/')
                return strdup(path);
        cwd = getcwd(NULL, 0);
        if (!cwd || asprintf(&abs, "%s/%s", cwd, path) < 0)
                return NULL;
        return abs;
}

int cd_open_trusted_dir(const char *path, struct cd_err *err)
{
        cleanup_free char *abs = absolute(path);
        cleanup_close int cur = -1;
        size_t len = 1; /* of the part of abs walked so far: "/" */
        int r, fd;

        if (!abs)
                return cd_err_errno(err, "%s", path);
        cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cur < 0)
                return cd_err_errno(err, "/");
        for (char *p = abs + strspn(abs, "/"); *p; p += strspn(p, "/")) {
                char *end = p + strcspn(p, "/"), saved = *end;

                if (end - p == 1 && p[0] == '.') { /* stays where it is */
                        p = end;
                        continue;
                }
                r = check_dir(cur, abs, len, true, err);
                if (r < 0)
                        return r;
                *end = '\0';
                fd = open_component(cur, p, abs, (size_t) (end - abs), err);
                *end = saved;
                if (fd < 0)
                        return fd;
                (void) cd_close(cur);
                cur = fd;
                len = (size_t) (end - abs);
                p = end;
        }
        r = check_dir(cur, abs, len, false, err);
        if (r < 0)
                return r;
        /* The same directory, now readable (readdir, openat). */
        fd = openat(cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? cd_err_errno(err, "%.*s", (int) len, abs) : fd;
}

int cd_read_trusted_at(int dirfd, const char *name, const char *shown, size_t max_bytes, char **ret,
                       size_t *ret_len, struct cd_err *err)
{
        /* O_NONBLOCK: a FIFO does not wait for a writer (fifo(7)); it is refused below. */
        cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        cleanup_free char *buf = NULL;
        struct stat st;
        ssize_t n;

        if (fd < 0 && errno == ELOOP)
                return cd_err_set(err, ELOOP, "%s is a symlink: name the file itself", shown);
        if (fd < 0 || fstat(fd, &st) < 0)
                return cd_err_errno(err, "%s", shown);
        if (!S_ISREG(st.st_mode))
                return cd_err_set(err, CD_E_INVALID, "%s: not a regular file", shown);
        if (!cd_owned_alone(&st))
                return cd_err_set(err, EPERM,
                                  "%s must be owned by root and not writable by group or others "
                                  "(it is uid %u's, mode %04o)",
                                  shown, (unsigned int) st.st_uid,
                                  (unsigned int) (st.st_mode & 07777));
        if ((uint64_t) st.st_size > max_bytes)
                return cd_err_set(err, CD_E_INVALID, "%s: larger than %zu bytes", shown, max_bytes);
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return cd_err_set(err, ENOMEM, "%s: out of memory", shown);
        n = pread(fd, buf, (size_t) st.st_size, 0);
        if (n < 0)
                return cd_err_errno(err, "%s", shown);
        buf[n] = '\0';
        *ret_len = (size_t) n;
        *ret = TAKE_PTR(buf);
        return 0;
}

int cd_open_trusted_parent(const char *path, const char **ret_name, struct cd_err *err)
{
        const char *slash = strrchr(path, '/');
        cleanup_free char *dir =
                slash ? strndup(path, slash == path ? 1 : (size_t) (slash - path)) : strdup(".");
        int fd;

        if (!dir)
                return cd_err_set(err, ENOMEM, "%s: out of memory", path);
        fd = cd_open_trusted_dir(dir, err);
        if (fd >= 0)
                *ret_name = slash ? slash + 1 : path;
        return fd;
}
