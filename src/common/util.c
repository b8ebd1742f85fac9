/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/util.h"

int cd_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;

                (void) close(fd);
                errno = saved;
        }
        return -1;
}

/* Parse leading digits of @s into @ret; *@end points past them. */
static int parse_digits(const char *s, uint64_t *ret, const char **end)
{
        uint64_t v = 0;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        for (; *s >= '0' && *s <= '9'; s++)
                if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *s - '0', &v))
                        return -ERANGE;
        *ret = v;
        *end = s;
        return 0;
}

int cd_parse_u64(const char *s, uint64_t *ret)
{
        const char *end;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(s, &v, &end);
        if (r < 0)
                return r;
        if (*end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

struct unit {
        const char *suffix;
        uint64_t factor;
};

static int parse_with_units(const char *s, const struct unit *units, size_t n_units, uint64_t *ret)
{
        const char *end;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(s, &v, &end);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_units; i++) {
                if (strcmp(end, units[i].suffix) != 0)
                        continue;
                if (__builtin_mul_overflow(v, units[i].factor, &v))
                        return -ERANGE;
                *ret = v;
                return 0;
        }
        return -EINVAL;
}

int cd_parse_size(const char *s, uint64_t *ret)
{
        static const struct unit units[] = {
                { "", 1 },           { "B", 1 },
                { "K", 1ULL << 10 }, { "KiB", 1ULL << 10 },
                { "M", 1ULL << 20 }, { "MiB", 1ULL << 20 },
                { "G", 1ULL << 30 }, { "GiB", 1ULL << 30 },
                { "T", 1ULL << 40 }, { "TiB", 1ULL << 40 },
        };

        return parse_with_units(s, units, ELEMENTSOF(units), ret);
}

int cd_parse_duration_ms(const char *s, uint64_t *ret)
{
        static const struct unit units[] = {
                { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
        };

        return parse_with_units(s, units, ELEMENTSOF(units), ret);
}

int cd_parse_millicpus(const char *s, uint64_t *ret)
{
        const char *end;
        uint64_t whole, frac = 0, scale = 100;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(s, &whole, &end);
        if (r < 0)
                return r;
        if (*end == '.') {
                end++;
                if (*end < '0' || *end > '9')
                        return -EINVAL;
                for (; *end >= '0' && *end <= '9'; end++) {
                        if (scale == 0)
                                return -EINVAL; /* more than three decimals */
                        frac += (uint64_t) (*end - '0') * scale;
                        scale /= 10;
                }
        }
        if (*end != '\0')
                return -EINVAL;
        if (__builtin_mul_overflow(whole, 1000, &whole) ||
            __builtin_add_overflow(whole, frac, &whole))
                return -ERANGE;
        *ret = whole;
        return 0;
}

uint64_t cd_now_ns(void)
{
        struct timespec ts;

        /* CLOCK_MONOTONIC cannot fail with a valid pointer (clock_gettime(2)). */
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

uint64_t cd_now_ms(void)
{
        return cd_now_ns() / 1000000ULL;
}

int cd_thread_start_unsignalled(pthread_t *t, void *(*fn)(void *), void *arg)
{
        sigset_t all, old;
        int r;

        sigfillset(&all);
        r = pthread_sigmask(SIG_SETMASK, &all, &old);
        if (r != 0)
                return r;
        r = pthread_create(t, NULL, fn, arg);
        (void) pthread_sigmask(SIG_SETMASK, &old, NULL); /* cannot fail: @old is valid */
        return r;
}

int cd_cond_init_monotonic(pthread_cond_t *cond)
{
        pthread_condattr_t attr;
        int r = pthread_condattr_init(&attr);

        if (r == 0)
                r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        if (r == 0)
                r = pthread_cond_init(cond, &attr);
        (void) pthread_condattr_destroy(&attr);
        return -r;
}

struct timespec cd_monotonic_after(uint64_t ms)
{
        uint64_t ns = cd_now_ns() + ms * 1000000ULL;

        return (struct timespec){ .tv_sec = (time_t) (ns / 1000000000ULL),
                                  .tv_nsec = (long) (ns % 1000000000ULL) };
}

int cd_write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

int cd_read_exact(int fd, void *buf, size_t len)
{
        char *p = buf;
        size_t got = 0;

        while (got < len) {
                ssize_t n = read(fd, p + got, len - got);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return got == 0 ? 0 : -EPIPE;
                got += (size_t) n;
        }
        return 1;
}

int cd_write_at(int dirfd, const char *name, const char *data)
{
        int fd, r;

        fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* Kernel control files take one write(2): a short write is an error. */
        r = (int) write(fd, data, strlen(data));
        r = r < 0 ? -errno : ((size_t) r == strlen(data) ? 0 : -EIO);
        (void) cd_close(fd);
        return r;
}

static int open_root_dir(int at, const char *name, mode_t mode, struct cd_err *err)
{
        cleanup_close int fd = -1;
        struct stat st;

        if (mkdirat(at, name, mode) < 0 && errno != EEXIST)
                return cd_err_errno(err, "create %s", name);
        fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return cd_err_errno(err, "open %s", name);
        if (fstat(fd, &st) < 0)
                return cd_err_errno(err, "stat %s", name);
        if (st.st_uid != 0 || (st.st_mode & 022))
                return cd_err_set(err, EPERM, "%s must be root's and not group or world writable",
                                  name);
        return TAKE_FD(fd);
}

int cd_open_root_subdir(const char *dir, const char *sub, mode_t mode, struct cd_err *err)
{
        cleanup_close int top = open_root_dir(AT_FDCWD, dir, 0755, err);
        int fd;

        if (top < 0)
                return top;
        fd = open_root_dir(top, sub, mode, err);
        return fd < 0 ? cd_err_prefix(err, "in %s", dir) : fd;
}

ssize_t cd_read_at(int dirfd, const char *name, char *buf, size_t size)
{
        cleanup_close int fd = -1;
        size_t got = 0;

        if (size == 0)
                return -EINVAL;
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        while (got < size - 1) {
                ssize_t n = read(fd, buf + got, size - 1 - got);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        buf[got] = '\0';
        return (ssize_t) got;
}

void cd_strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

size_t cd_strv_length(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

char **cd_strv_copy(char *const *v)
{
        size_t n = cd_strv_length(v);
        char **c = calloc(n + 1, sizeof(char *));

        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                c[i] = strdup(v[i]);
                if (!c[i]) {
                        cd_strv_free(c);
                        return NULL;
                }
        }
        return c;
}

int cd_strv_push(char ***v, const char *s)
{
        size_t n = cd_strv_length(*v);
        char **nv;
        char *copy = strdup(s);

        if (!copy)
                return -ENOMEM;
        nv = reallocarray(*v, n + 2, sizeof(char *));
        if (!nv) {
                free(copy);
                return -ENOMEM;
        }
        nv[n] = copy;
        nv[n + 1] = NULL;
        *v = nv;
        return 0;
}

bool cd_name_is_form_ambiguous(const char *name)
{
        static const char *const encoded[] = { "%22", "%0a", "%0d" };

        if (strchr(name, '"'))
                return true;
        for (const char *p = name; (p = strchr(p, '%')); p++)
                for (size_t i = 0; i < ELEMENTSOF(encoded); i++)
                        if (strncasecmp(p, encoded[i], 3) == 0)
                                return true;
        return false;
}

void cd_hex(const void *data, size_t n, char *out)
{
        static const char digits[] = "0123456789abcdef";
        const unsigned char *d = data;

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[d[i] >> 4];
                out[2 * i + 1] = digits[d[i] & 15];
        }
        out[2 * n] = '\0';
}

int cd_random_hex(char *buf, size_t nbytes)
{
        unsigned char raw[64];

        if (nbytes > sizeof(raw))
                return -EINVAL;
        if (getrandom(raw, nbytes, 0) != (ssize_t) nbytes)
                return -errno ? -errno : -EIO;
        cd_hex(raw, nbytes, buf);
        return 0;
}

uint64_t cd_wall_ms(void)
{
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000ULL + (uint64_t) ts.tv_nsec / 1000000ULL;
}
