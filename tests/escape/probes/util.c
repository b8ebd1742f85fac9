/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"

const char *ename(int e)
{
        const char *n = strerrorname_np(e);

        return n ? n : "E?";
}

static void vnote(struct probe_ctx *c, const char *fmt, va_list ap) PRINTF(2, 0);

static void vnote(struct probe_ctx *c, const char *fmt, va_list ap)
{
        size_t len = strlen(c->detail);

        if (len + 3 >= sizeof(c->detail))
                return;
        if (len > 0) {
                memcpy(c->detail + len, "; ", 3);
                len += 2;
        }
        (void) vsnprintf(c->detail + len, sizeof(c->detail) - len, fmt, ap);
}

void note(struct probe_ctx *c, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vnote(c, fmt, ap);
        va_end(ap);
}

int verdict(struct probe_ctx *c, int outcome, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vnote(c, fmt, ap);
        va_end(ap);
        return outcome;
}

/* The call failed with @err. On the bare host ENOSYS means the kernel
 * lacks the feature, and ENOSPC that a sysctl set the namespace limit to
 * 0, so the probe cannot show anything there. */
int refused(struct probe_ctx *c, int err, const char *what)
{
        note(c, "%s: %s", what, ename(err));
        if (c->bare && (err == ENOSYS || err == ENOSPC))
                return NOT_APPLICABLE;
        return BLOCKED;
}

/* Kernel lockdown (integrity or confidentiality) refuses /dev/mem, I/O
 * ports and kexec even to root; the bare host then cannot show those holes. */
bool locked_down(void)
{
        char buf[128];

        if (read_text("/sys/kernel/security/lockdown", buf, sizeof(buf)) <= 0)
                return false;
        return strstr(buf, "[none]") == NULL;
}

/* Bare and blocked because of lockdown: n/a, said so. */
int unless_locked_down(struct probe_ctx *c, int outcome)
{
        if (c->bare && outcome == BLOCKED && locked_down())
                return verdict(c, NOT_APPLICABLE, "kernel lockdown is on");
        return outcome;
}

/* The same for a call that needs capability @cap: a bare host whose root
 * lacks it (a container, a trimmed bounding set) cannot show the hole. */
int refused_cap(struct probe_ctx *c, int err, const char *what, int cap)
{
        if (c->bare && err == EPERM && !have_cap(cap)) {
                note(c, "%s: EPERM, and root on this host lacks capability %d", what, cap);
                return NOT_APPLICABLE;
        }
        return refused(c, err, what);
}

/* Whether capability @cap is in this process's effective set. */
bool have_cap(int cap)
{
        char v[64];
        unsigned long long mask;

        if (cap < 0 || cap > 63 || status_field("CapEff", v, sizeof(v)) < 0)
                return false;
        mask = strtoull(v, NULL, 16);
        return (mask >> cap) & 1;
}

/* "SIGSYS" for SIGSYS; the buffer is static. */
const char *signame(int sig)
{
        static char buf[32];
        const char *a = sigabbrev_np(sig);

        if (a)
                (void) snprintf(buf, sizeof(buf), "SIG%s", a);
        else
                (void) snprintf(buf, sizeof(buf), "signal %d", sig);
        return buf;
}

/* Errors that mean "not allowed" or "not there", as opposed to a probe
 * mistake such as EFAULT or EBADF. */
bool is_denial(int err)
{
        switch (err) {
        case EPERM:
        case EACCES:
        case EROFS:
        case ENOENT:
        case ENOSYS:
        case ENOTDIR:
        case ELOOP:
        case EAFNOSUPPORT:
        case EPROTONOSUPPORT:
        case ESOCKTNOSUPPORT:
        case EOPNOTSUPP:
        case ENXIO:
        case ENODEV:
        case ESRCH:
        case EINVAL:
                return true;
        default:
                return false;
        }
}

int parse_uint(const char *s, unsigned long long max, unsigned long long *ret)
{
        unsigned long long v;
        char *end;

        if (!s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno != 0 || *end != '\0')
                return -EINVAL;
        if (v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int parse_pid(const char *s, pid_t *ret)
{
        unsigned long long v;
        int r = parse_uint(s, 4194304, &v);

        if (r < 0 || v == 0)
                return -EINVAL;
        *ret = (pid_t) v;
        return 0;
}

/* Read at most @size - 1 bytes of @path, NUL-terminated. Returns the length or -errno. */
ssize_t read_text(const char *path, char *buf, size_t size)
{
        size_t len = 0;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        while (len + 1 < size) {
                ssize_t n = read(fd, buf + len, size - 1 - len);

                if (n < 0) {
                        int e = errno;

                        (void) close(fd);
                        return -e;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        (void) close(fd);
        buf[len] = '\0';
        return (ssize_t) len;
}

/* The value of "@key:" in /proc/self/status, trimmed. */
int status_field(const char *key, char *out, size_t size)
{
        char buf[8192];
        size_t klen = strlen(key);
        ssize_t n = read_text("/proc/self/status", buf, sizeof(buf));

        if (n < 0)
                return (int) n;
        for (char *line = buf; line && *line;) {
                char *next = strchr(line, '\n');

                if (next)
                        *next++ = '\0';
                if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
                        const char *v = line + klen + 1;

                        while (*v == ' ' || *v == '\t')
                                v++;
                        (void) snprintf(out, size, "%s", v);
                        return 0;
                }
                line = next;
        }
        return -ENOENT;
}

/* A sysctl as a number, or @fallback when it cannot be read. */
long sysctl_long(const char *path, long fallback)
{
        char buf[64];
        char *end;
        long v;

        if (read_text(path, buf, sizeof(buf)) <= 0)
                return fallback;
        errno = 0;
        v = strtol(buf, &end, 10);
        if (errno != 0 || end == buf)
                return fallback;
        return v;
}

/* In a child: a mount namespace of its own whose mounts propagate
 * nowhere, so that nothing it mounts reaches the host. Returns 0 or -errno. */
int private_mounts(void)
{
        if (unshare(CLONE_NEWNS) < 0)
                return -errno;
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return -errno;
        return 0;
}

int make_tempdir(const char *base, char *out, size_t size)
{
        int n = snprintf(out, size, "%s/cordon-probe.XXXXXX", base);

        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        if (!mkdtemp(out))
                return -errno;
        return 0;
}

size_t list_pids(pid_t *pids, size_t max)
{
        DIR *d = opendir("/proc");
        struct dirent *e;
        size_t n = 0;

        if (!d)
                return 0;
        while (n < max && (e = readdir(d))) {
                pid_t p;

                if (parse_pid(e->d_name, &p) == 0)
                        pids[n++] = p;
        }
        (void) closedir(d);
        return n;
}

/* The session of @pid from /proc/PID/stat, or -1. */
pid_t session_of(pid_t pid)
{
        char path[64], buf[1024];
        int ppid, pgrp, sid;
        char state;
        const char *p;

        (void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        if (read_text(path, buf, sizeof(buf)) <= 0)
                return -1;
        p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
        if (!p || sscanf(p + 1, " %c %d %d %d", &state, &ppid, &pgrp, &sid) != 4)
                return -1;
        return (pid_t) sid;
}

/* Read the child's detail until EOF, append it to @c. */
static void collect(struct probe_ctx *c, int fd)
{
        char buf[sizeof(c->detail)];
        size_t len = 0;

        for (;;) {
                ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
                if (len + 1 >= sizeof(buf))
                        break;
        }
        buf[len] = '\0';
        if (len > 0)
                note(c, "%s", buf);
}

static void write_all(int fd, const char *s, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, s, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                s += n;
                len -= (size_t) n;
        }
}

/*
 * Run @fn in a forked child, so that whatever it changes (namespaces,
 * credentials, personality, a chroot) ends with it. Its detail is appended
 * to @c. Returns the child's outcome; if a signal killed it, returns -1 and
 * the signal in *@ret_signal, or BROKEN when @ret_signal is NULL.
 */
int in_child(struct probe_ctx *c, int (*fn)(struct probe_ctx *, void *), void *arg, int *ret_signal)
{
        int p[2], status;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return verdict(c, BROKEN, "pipe: %s", ename(errno));
        (void) fflush(NULL);
        pid = fork();
        if (pid < 0) {
                int e = errno;

                (void) close(p[0]);
                (void) close(p[1]);
                return verdict(c, BROKEN, "fork: %s", ename(e));
        }
        if (pid == 0) {
                struct probe_ctx cc = { .name = c->name, .bare = c->bare };
                int r;

                (void) close(p[0]);
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
                alarm(PROBE_TIMEOUT_S - 10);
                r = fn(&cc, arg);
                write_all(p[1], cc.detail, strlen(cc.detail));
                _exit(r);
        }
        (void) close(p[1]);
        collect(c, p[0]);
        (void) close(p[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return verdict(c, BROKEN, "waitpid: %s", ename(errno));
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (ret_signal) {
                *ret_signal = WTERMSIG(status);
                return -1;
        }
        return verdict(c, BROKEN, "child killed by %s", signame(WTERMSIG(status)));
}

/* A child that only waits to be killed: a target for probes that need another process. */
pid_t spawn_sleeper(void)
{
        pid_t pid;

        (void) fflush(NULL);
        pid = fork();
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
                for (;;)
                        pause();
        }
        return pid;
}

void reap_sleeper(pid_t pid)
{
        if (pid <= 0)
                return;
        (void) kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}
