/* SPDX-License-Identifier: MIT */
/*
 * The job's standard streams are pipes, and the supervisor copies between
 * them and the caller's fds. The job never holds one of the caller's fds:
 * through /proc/self/fd a job could reopen a caller's log file or, given a
 * directory, walk the host (the CVE-2024-21626 class). Our pipe ends are
 * non-blocking. The caller's output fds are left as they are: a terminal
 * is written through a reopening of its own with O_NONBLOCK (it takes a
 * whole write or blocks, and a stalled one, Ctrl-S or a dead SSH session,
 * must not stall the limits); anything else is written at most PIPE_BUF
 * bytes per readiness.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/util.h"
#include "launcher-internal.h"

#define BUF_SIZE          65536
#define RAW_SIZE          (BUF_SIZE / 2 - 2) /* escaped, it fits BUF_SIZE */
#define FLOOR_CHECK_BYTES (1u << 20)
#define DISCARD_BYTES     (1u << 20) /* dropped output: the pipe's size, one splice's worth */
#define DISCARD_PAUSE_MS  10         /* ... and a pause after each: at most ~100 MiB/s */
_Static_assert(CD_TTY_ESCAPE_MAX(RAW_SIZE) <= BUF_SIZE, "an escaped chunk fits the buffer");

/* @fd itself, or a copy of it above 2 (@fd closed): like every launcher
 * fd, never one of 0..2, which the child's dup3 would clobber and which a
 * relay never opened holds as zeros. -1 (errno set) when @fd is. */
static int above_stdio(int fd)
{
        int hi;

        if (fd < 0 || fd > 2)
                return fd;
        hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        (void) cd_close(fd);
        return hi;
}

/* A pipe whose both ends are >= 3. */
static int make_pipe(int p[2], struct cd_err *err)
{
        if (pipe2(p, O_CLOEXEC) < 0)
                return cd_err_errno(err, "relay: pipe");
        p[0] = above_stdio(p[0]);
        p[1] = above_stdio(p[1]);
        if (p[0] < 0 || p[1] < 0) {
                int r = cd_err_errno(err, "relay: dup");

                p[0] = cd_close(p[0]);
                p[1] = cd_close(p[1]);
                return r;
        }
        return 0;
}

static int set_nonblock(int fd, struct cd_err *err)
{
        int fl = fcntl(fd, F_GETFL);

        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return cd_err_errno(err, "relay: set non-blocking");
        return 0;
}

/* Whether @fd is a terminal we may write through a reopening of our own:
 * open for writing (root could open a read-only fd's file for writing), a
 * tty, and not the pty multiplexer (a reopening would be a new pty). */
static bool reopenable_tty(int fd, struct stat *st)
{
        int fl = fcntl(fd, F_GETFL);

        return fl >= 0 && (fl & O_ACCMODE) != O_RDONLY && fstat(fd, st) == 0 &&
               S_ISCHR(st->st_mode) && isatty(fd) &&
               !(major(st->st_rdev) == 5 && minor(st->st_rdev) == 2);
}

/* The caller's output @fd, reopened non-blocking when it is a terminal (a
 * new open file description: the caller's flags stay). A terminal takes a
 * whole write or blocks; a pipe takes PIPE_BUF after POLLOUT and a regular
 * file does not block, so those are written as they are. Returns the fd to
 * write, or -1: @fd itself. */
static int reopen_nonblock(int fd)
{
        char path[32];
        struct stat st, now;
        int nb;

        if (!reopenable_tty(fd, &st))
                return -1;
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        nb = above_stdio(open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
        if (nb >= 0 && (fstat(nb, &now) < 0 || now.st_rdev != st.st_rdev)) /* not the same tty */
                nb = cd_close(nb);
        return nb;
}

static int stream_init(struct cd_stream *s, int src, int dst, bool own_src, uint64_t cap,
                       uint64_t keep_free, struct cd_err *err)
{
        struct stat st;

        int nb = own_src && dst >= 0 ? reopen_nonblock(dst) : -1;

        *s = (struct cd_stream){ .src = src,
                                 .dst = dst,
                                 .own_src = own_src,
                                 .own_dst = !own_src,
                                 .cap = cap,
                                 .null_fd = -1 };
        /* A job's output shown on the caller's terminal could drive it
         * (escape sequences: titles, clipboard, emulator bugs). */
        s->escape = own_src && dst >= 0 && isatty(dst);
        s->esc.ascii_only = s->escape && !cd_tty_locale_utf8();
        if (nb >= 0) {
                s->dst = nb;
                s->dst_reopened = true;
        }
        s->buf = malloc(BUF_SIZE);
        s->raw = s->escape ? malloc(RAW_SIZE) : NULL;
        if (!s->buf || (s->escape && !s->raw))
                return cd_err_set(err, ENOMEM, "relay: out of memory");
        if (src < 0)
                s->src_eof = true;
        if (dst < 0)
                s->dst_broken = true;
        /* Only a regular file's free space means anything (not a pipe's). */
        if (own_src && keep_free && dst >= 0 && fstat(dst, &st) == 0 && S_ISREG(st.st_mode)) {
                s->keep_free = keep_free;
                s->unchecked = FLOOR_CHECK_BYTES;
        }
        return set_nonblock(own_src ? src : dst, err);
}

/*
 * The relay reads and writes the caller's fds as root. A file of a kernel
 * interface acts on the kernel, and some of them check who reads or writes,
 * not who opened the file: cgroup.procs before Linux 5.16 (CVE-2021-4197:
 * root writing "0" to a user's cgroup.procs moves root's process there),
 * sysctls, /proc/PID/wchan. Such an fd, opened by an unprivileged user and
 * handed to `sudo cordon run`, would let the job's output act as root.
 */
static bool kernel_interface(long type)
{
        static const long types[] = { CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, PROC_SUPER_MAGIC,
                                      SYSFS_MAGIC,        DEBUGFS_MAGIC,       TRACEFS_MAGIC,
                                      SECURITYFS_MAGIC,   BPF_FS_MAGIC,        SELINUX_MAGIC,
                                      SMACK_MAGIC,        EFIVARFS_MAGIC };

        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if (type == types[i])
                        return true;
        return false;
}

static int check_caller_fd(int fd, const char *name, struct cd_err *err)
{
        struct statfs fs;

        if (fd < 0)
                return 0;
        if (fstatfs(fd, &fs) < 0)
                return cd_err_errno(err, "relay: fstatfs %s", name);
        if (kernel_interface((long) fs.f_type))
                return cd_err_set(err, EPERM,
                                  "relay: %s is a file of a kernel interface (cgroup, /proc, /sys "
                                  "or the like), which cordon does not read or write for a job; "
                                  "use a pipe or a regular file",
                                  name);
        return 0;
}

int cd_relay_open(struct cd_relay *r, const struct cd_launch_io *io, int child_stdio[3],
                  struct cd_err *err)
{
        int p[2];
        int rr;

        for (int i = 0; i < 3; i++)
                r->s[i] = (struct cd_stream){ .src = -1, .dst = -1, .null_fd = -1 };
        rr = check_caller_fd(io->stdin_fd, "stdin", err);
        if (rr == 0)
                rr = check_caller_fd(io->stdout_fd, "stdout", err);
        if (rr == 0)
                rr = check_caller_fd(io->stderr_fd, "stderr", err);
        if (rr < 0)
                return rr;
        rr = make_pipe(p, err);
        if (rr < 0)
                return rr;
        child_stdio[0] = p[0];
        rr = stream_init(&r->s[0], io->stdin_fd, p[1], false, 0, 0, err);
        if (rr == 0 && io->stdin_fd < 0)
                r->s[0].dst = cd_close(r->s[0].dst); /* the job reads EOF */
        for (int i = 1; rr == 0 && i < 3; i++) {
                rr = make_pipe(p, err);
                if (rr < 0)
                        break;
                child_stdio[i] = p[1];
                rr = stream_init(&r->s[i], p[0], i == 1 ? io->stdout_fd : io->stderr_fd, true,
                                 io->output_cap_bytes, io->out_keep_free_bytes, err);
        }
        /* After every pipe is made: their cleanup is what a test checks. */
        if (rr == 0 && cd_fault("relay"))
                rr = cd_err_set(err, CD_E_FAULT, "relay: injected fault");
        return rr;
}

static bool stream_live(const struct cd_stream *s)
{
        return !(s->src_eof && s->len == s->off) && !(s->own_dst && s->dst_broken);
}

size_t cd_relay_poll(struct cd_relay *r, struct pollfd *p, size_t max)
{
        uint64_t now = cd_now_ms();
        size_t n = 0;

        /* At most one entry per stream; each remembers its stream, because
         * two streams may share an fd (stdout and stderr to one file). */
        for (int i = 0; i < 3 && n < max && n < CD_RELAY_MAX_POLL; i++) {
                struct cd_stream *s = &r->s[i];

                if (!stream_live(s))
                        continue;
                if (s->len > s->off && !s->dst_broken)
                        p[n] = (struct pollfd){ .fd = s->dst, .events = POLLOUT };
                else if (!s->src_eof && s->resume_ms > now)
                        p[n] = (struct pollfd){ .fd = s->src }; /* resting: POLLHUP only */
                else if (!s->src_eof)
                        p[n] = (struct pollfd){ .fd = s->src, .events = POLLIN };
                else
                        continue;
                r->poll_owner[n++] = i;
        }
        return n;
}

/*
 * Once output is dropped (past the cap, or the caller's end gone), what
 * the job writes is only counted, and the supervisor's CPU, outside the
 * job's quota, must not pay for it: a job flooding its stdout (with
 * vmsplice, nearly free for it) made the supervisor spend three times the
 * job's CPU reading and throwing away. splice(2) into /dev/null frees the
 * pipe's pages without a copy, a megabyte at a time (the pipe is grown to
 * that), and the stream then rests DISCARD_PAUSE_MS: a flood is slowed to
 * ~100 MiB/s, which no job's logging needs, and its writes still succeed.
 * Returns what read(2) would, or -2 when splicing is not possible here
 * (then read as before).
 */
static ssize_t stream_discard(struct cd_stream *s)
{
        ssize_t n;

        if (s->null_fd < 3) {
                s->null_fd = above_stdio(open("/dev/null", O_WRONLY | O_CLOEXEC));
                if (s->null_fd < 0)
                        return -2;
                (void) fcntl(s->src, F_SETPIPE_SZ, DISCARD_BYTES); /* smaller is fine too */
        }
        n = splice(s->src, NULL, s->null_fd, NULL, DISCARD_BYTES, SPLICE_F_NONBLOCK);
        if (n < 0 && errno == EINVAL)
                return -2; /* not a pipe, or a /dev/null that takes no splice */
        if (n > 0)
                s->resume_ms = cd_now_ms() + DISCARD_PAUSE_MS;
        return n;
}

static ssize_t stream_take(struct cd_stream *s)
{
        if ((s->truncated || s->dst_broken) && s->len == s->off) {
                ssize_t n = stream_discard(s);

                if (n != -2)
                        return n;
        }
        return read(s->src, s->escape ? s->raw : s->buf, s->escape ? RAW_SIZE : BUF_SIZE);
}

int cd_relay_timeout_ms(const struct cd_relay *r)
{
        uint64_t now = cd_now_ms(), next = UINT64_MAX;

        for (int i = 1; i < 3; i++) {
                const struct cd_stream *s = &r->s[i];

                if (stream_live(s) && !s->src_eof && s->resume_ms > now && s->resume_ms < next)
                        next = s->resume_ms;
        }
        return next == UINT64_MAX ? -1 : (int) (next - now);
}

/* Returns false when nothing could be read now. */
static bool stream_read(struct cd_stream *s)
{
        ssize_t n = stream_take(s);
        size_t keep;

        if (n < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        s->src_eof = true;
                return false;
        }
        if (n == 0) {
                s->src_eof = true;
                if (s->escape && !s->dst_broken) {
                        s->off = 0;
                        s->len = cd_tty_escape_end(&s->esc, s->buf);
                }
                return false;
        }
        keep = (size_t) n;
        if (s->cap && s->total + keep > s->cap) {
                keep = s->total < s->cap ? (size_t) (s->cap - s->total) : 0;
                s->truncated = true;
        }
        s->total += (uint64_t) n;
        s->off = 0;
        s->len = 0;
        if (s->dst_broken || keep == 0)
                return true;
        if (s->escape)
                s->len = cd_tty_escape(&s->esc, s->raw, keep, s->buf);
        else
                s->len = keep;
        return true;
}

/* The write that would take the disk of a file below its floor fails
 * as a full disk would: the job's output must not eat the room kept for
 * the records (cordond's min_free). Checked every FLOOR_CHECK_BYTES. */
static bool below_floor(struct cd_stream *s, size_t chunk)
{
        struct statvfs fs;

        if (!s->keep_free || (s->unchecked += chunk) < FLOOR_CHECK_BYTES)
                return false;
        s->unchecked = 0;
        if (fstatvfs(s->dst, &fs) < 0)
                return false; /* the write itself will say what is wrong */
        return (uint64_t) fs.f_bavail * fs.f_frsize < s->keep_free + FLOOR_CHECK_BYTES;
}

static void stream_broken(struct cd_stream *s, int errno_)
{
        s->dst_errno = errno_;
        s->dst_broken = true; /* e.g. EPIPE: keep draining, drop the rest */
        s->truncated = true;
        s->off = s->len;
}

/* Returns false when nothing could be written now. */
static bool stream_write(struct cd_stream *s)
{
        size_t chunk = s->len - s->off;
        ssize_t n;

        if (below_floor(s, chunk)) {
                stream_broken(s, ENOSPC);
                return false;
        }
        /* The caller's fd may be blocking: after POLLOUT a pipe takes PIPE_BUF without blocking. */
        if (!s->own_dst && !s->dst_reopened && chunk > PIPE_BUF)
                chunk = PIPE_BUF;
        n = write(s->dst, s->buf + s->off, chunk);
        if (n < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        stream_broken(s, errno);
                return false;
        }
        s->off += (size_t) n;
        return true;
}

/* A caller's fd that stays unwritable this long after the job ended is given up on. */
#define DRAIN_WRITE_TIMEOUT_MS 10000

static void stream_write_blocking(struct cd_stream *s)
{
        struct pollfd p = { .fd = s->dst, .events = POLLOUT };

        if (stream_write(s))
                return;
        if (!s->dst_broken && poll(&p, 1, DRAIN_WRITE_TIMEOUT_MS) <= 0)
                stream_broken(s, ETIMEDOUT); /* what was left is dropped: say so */
}

static void stream_close_input(struct cd_stream *s)
{
        /* stdin reached EOF and is flushed: the job sees EOF too. */
        if (s->own_dst && s->src_eof && s->off == s->len && s->dst >= 0)
                s->dst = cd_close(s->dst);
}

void cd_relay_step(struct cd_relay *r, const struct pollfd *p, size_t n)
{
        for (size_t k = 0; k < n && k < CD_RELAY_MAX_POLL; k++) {
                int i = r->poll_owner[k];
                struct cd_stream *s = &r->s[i];

                if (!p[k].revents)
                        continue;
                if (p[k].events & POLLOUT) {
                        if (p[k].revents & (POLLERR | POLLHUP)) {
                                stream_broken(s, EPIPE); /* the reader left */
                        } else {
                                (void) stream_write(s);
                        }
                } else {
                        (void) stream_read(s);
                }
                if (i == 0)
                        stream_close_input(s);
        }
}

void cd_relay_drain(struct cd_relay *r)
{
        for (int i = 1; i < 3; i++) {
                struct cd_stream *s = &r->s[i];

                /* Every writer is dead by now: EOF or EAGAIN both mean "all
                 * read". The caller's fd may block here: the job is over, no
                 * limit needs watching. */
                while (stream_live(s)) {
                        if (s->len > s->off && !s->dst_broken) {
                                stream_write_blocking(s);
                                continue;
                        }
                        if (s->src_eof)
                                break;
                        /* EOF may still hand over a held sequence's '?' to write. */
                        if (!stream_read(s) && s->len == s->off)
                                break;
                }
        }
}

void cd_relay_close(struct cd_relay *r)
{
        for (int i = 0; i < 3; i++) {
                struct cd_stream *s = &r->s[i];

                if (s->own_src)
                        s->src = cd_close(s->src);
                if (s->own_dst || s->dst_reopened)
                        s->dst = cd_close(s->dst);
                if (s->null_fd >= 3)
                        s->null_fd = cd_close(s->null_fd);
                free(s->buf);
                free(s->raw);
                s->buf = NULL;
                s->raw = NULL;
        }
}
