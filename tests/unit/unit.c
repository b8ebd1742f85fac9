/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

char *ut_mkdtemp(void)
{
        const char *base = secure_getenv("TMPDIR");
        char *path;

        if (!base || base[0] != '/')
                base = "/tmp";
        if (asprintf(&path, "%s/cordon-unit.XXXXXX", base) < 0)
                return NULL;
        if (!mkdtemp(path)) {
                int saved = errno;

                free(path);
                errno = saved;
                return NULL;
        }
        return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void) st;
        (void) ftw;
        /* A directory a test left without write permission: make it removable. */
        if (flag == FTW_DP || flag == FTW_D)
                (void) chmod(path, 0700);
        return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int ut_rm_rf(const char *path)
{
        if (!path)
                return 0;
        if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 0;
}

int ut_open_dir(const char *path)
{
        return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int count_dir(const char *path)
{
        DIR *d = opendir(path);
        struct dirent *de;
        int n = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        (void) closedir(d);
        return n;
}

int ut_count_entries(const char *path)
{
        return count_dir(path);
}

int ut_count_fds(void)
{
        int n = count_dir("/proc/self/fd");

        /* opendir's own descriptor was listed too. */
        return n < 0 ? n : n - 1;
}

int ut_write_file(int dirfd, const char *path, const void *data, size_t len)
{
        int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        const char *p = data;
        int r = 0;

        if (fd < 0)
                return -errno;
        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0) {
                        r = -errno;
                        break;
                }
                p += n;
                len -= (size_t) n;
        }
        (void) close(fd);
        return r;
}

char *ut_read_file(int dirfd, const char *path, size_t *ret_len)
{
        int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        char *buf = NULL;
        size_t len = 0;
        int r;

        if (fd < 0)
                return NULL;
        r = ut_read_available(fd, &buf, &len);
        (void) close(fd);
        if (r != 1) {
                free(buf);
                return NULL;
        }
        if (ret_len)
                *ret_len = len;
        return buf;
}

int ut_read_available(int fd, char **buf, size_t *len)
{
        for (;;) {
                char *nb = realloc(*buf, *len + 65536 + 1);
                ssize_t n;

                if (!nb)
                        return -ENOMEM;
                *buf = nb;
                n = read(fd, nb + *len, 65536);
                if (n < 0) {
                        nb[*len] = '\0';
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                *len += (size_t) n;
                nb[*len] = '\0';
                if (n == 0)
                        return 1;
        }
}

void ut_fill_pattern(char *buf, size_t len, unsigned int seed)
{
        uint32_t x = seed * 2654435761u + 1;

        for (size_t i = 0; i < len; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf[i] = (char) (x & 0xff);
        }
}

struct deferred {
        void (*fn)(void *);
        void *p;
};

static struct deferred *deferred;
static size_t n_deferred, n_alloc;

void *ut_defer(void (*fn)(void *), void *p)
{
        if (!p)
                return p;
        if (n_deferred == n_alloc) {
                size_t n = n_alloc ? 2 * n_alloc : 16;
                struct deferred *d = reallocarray(deferred, n, sizeof(*d));

                if (!d) {
                        fn(p); /* cannot track it: fail loudly rather than leak */
                        abort();
                }
                deferred = d;
                n_alloc = n;
        }
        deferred[n_deferred++] = (struct deferred){ fn, p };
        return p;
}

void ut_run_deferred(void)
{
        while (n_deferred > 0) {
                n_deferred--;
                deferred[n_deferred].fn(deferred[n_deferred].p);
        }
        free(deferred);
        deferred = NULL;
        n_alloc = 0;
}

int ut_set_nonblock(int fd, bool on)
{
        int fl = fcntl(fd, F_GETFL);

        if (fl < 0)
                return -errno;
        fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
        return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}
