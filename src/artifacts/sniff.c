/* SPDX-License-Identifier: MIT */
/*
 * File types are sniffed with libmagic, a large parser of untrusted input
 * with a history of memory-safety bugs. It never runs in the privileged
 * collector: a child process loads the magic database, then gives up
 * everything (an unprivileged uid, no capability, no_new_privs, a seccomp
 * filter allowing little more than read, write and memory management) and
 * answers one request at a time over a socketpair: [u32 length][bytes] in,
 * [u8 length][MIME type] out. If it dies, the files it was asked about are
 * refused.
 *
 * The child does not run in a copy of the collector's memory: a fork of
 * cordond holds every other job's buffers (output, uploads, the copier's
 * chunks), which a libmagic exploit could read back out through the type
 * strings. The forked child execs the program it is (/proc/self/exe) as
 * "cordon-sniff UID GID" with the socket on fd 3 and an environment of
 * MAGIC (and CORDON_FAULT in fault-injection builds) only; a constructor
 * below, linked into every program that collects artifacts, takes that
 * call before main() and becomes the sniffer in a fresh address space.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <linux/futex.h>
#include <magic.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/coredump.h"
#include "cordon/util.h"
#include "artifacts-internal.h"

/* Checks that parse structure rather than match magic numbers, and
 * decompression: the riskiest parts of libmagic, and not needed to tell a
 * CSV from an ELF binary. The encoding ("text/csv; charset=us-ascii")
 * tells text from binary (types.c). */
#define MAGIC_FLAGS                                                                                \
        (MAGIC_MIME_TYPE | MAGIC_MIME_ENCODING | MAGIC_NO_CHECK_COMPRESS | MAGIC_NO_CHECK_CDF |    \
         MAGIC_NO_CHECK_ELF | MAGIC_NO_CHECK_TAR | MAGIC_ERROR)

/* libmagic's CPU time and address space, whatever it is asked (a crafted
 * file can make its regular expressions backtrack). The collector also
 * waits at most CD_SNIFF_TIMEOUT_MS for each answer. */
#define SNIFF_CPU_SECONDS 30
#define SNIFF_AS_BYTES    (1ULL << 30)

/* How often a wait for the fork lock looks at the cancel fd. */
#define FORK_LOCK_SLICE_MS 50

/* ASan and TSan reserve terabytes of shadow address space. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CD_SHADOW_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) /* clang */
#define CD_SHADOW_SANITIZER 1
#endif
#endif
#ifndef CD_SHADOW_SANITIZER
#define CD_SHADOW_SANITIZER 0
#endif

/* RLIMIT_CORE as the sandbox has it (coredump.h): else a crash on a crafted
 * file would hand the sniffed bytes to the host's crash helper, which runs
 * even for non-dumpable processes under fs.suid_dumpable=2 (as
 * systemd-coredump sets it). */
static int limit_self(void)
{
        const struct rlimit cpu = { SNIFF_CPU_SECONDS, SNIFF_CPU_SECONDS };

        if (setrlimit(RLIMIT_CPU, &cpu) < 0 || cd_core_limit_set(&(struct cd_err){ 0 }) < 0)
                return -1;
#if !CD_SHADOW_SANITIZER
        {
                const struct rlimit as = { SNIFF_AS_BYTES, SNIFF_AS_BYTES };

                if (setrlimit(RLIMIT_AS, &as) < 0)
                        return -1;
        }
#endif
        return 0;
}

static int restrict_self(uid_t uid, gid_t gid, pid_t collector)
{
        /* sigaltstack: the sanitizers set one up on their first allocation. */
        static const char *const allowed[] = {
                "read",   "write",  "exit",          "exit_group",  "brk",          "mmap",
                "munmap", "mremap", "madvise",       "futex",       "rt_sigreturn", "close",
                "getpid", "gettid", "clock_gettime", "sigaltstack",
        };
        scmp_filter_ctx c;
        cap_t none;
        int r = 0;

        if (limit_self() < 0 || setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
            setresuid(uid, uid, uid) < 0)
                return -1;
        none = cap_init();
        if (!none || cap_set_proc(none) < 0) {
                if (none)
                        cap_free(none);
                return -1;
        }
        cap_free(none);
        /* Dies with the collector (a killed cordon run, a cordond gone):
         * set after the uid change, which clears it, and checked against
         * a collector that went before it was set. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != collector)
                return -1;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return -1;
        c = seccomp_init(SCMP_ACT_ERRNO(EPERM));
        if (!c)
                return -1;
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(allowed); i++) {
                int nr = seccomp_syscall_resolve_name(allowed[i]);

                if (nr != __NR_SCMP_ERROR)
                        r = seccomp_rule_add(c, SCMP_ACT_ALLOW, nr, 0);
        }
        if (r == 0)
                r = seccomp_load(c);
        seccomp_release(c);
        return r < 0 ? -1 : 0;
}

/* In no CPU: futex(2) is in the filter, nanosleep(2) is not. */
static void sleep_a_second(void)
{
        static uint32_t word;
        const struct timespec one = { 1, 0 };

        (void) syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &one, NULL, 0);
}

static __attribute__((noreturn)) void serve(int fd, magic_t m)
{
        static char buf[CD_SNIFF_BYTES];

        for (;;) {
                uint32_t len;
                const char *type;
                unsigned char n;
                char reply[256];

                if (cd_read_exact(fd, &len, sizeof(len)) <= 0 || len > sizeof(buf) ||
                    (len && cd_read_exact(fd, buf, len) <= 0))
                        _exit(0);
                /* Tests: a libmagic that spins on a crafted file, or
                 * takes a second on each (as on 64 KiB of newlines,
                 * which takes libmagic 5.44 a third of a second). */
                while (cd_fault("sniff_hang"))
                        continue;
                if (cd_fault("sniff_die")) /* Tests: libmagic crashes on it. */
                        _exit(1);
                if (cd_fault("sniff_slow"))
                        sleep_a_second();
                type = magic_buffer(m, buf, len);
                if (!type)
                        type = "application/octet-stream";
                n = (unsigned char) strnlen(type, 200);
                reply[0] = (char) n;
                memcpy(reply + 1, type, n);
                /* Tests: an exploited sniffer that answers in part, then
                 * waits in read(2), where no CPU limit reaches it. */
                if (cd_fault("sniff_stall_reply") && cd_write_all(fd, reply, 1) == 0 &&
                    read(fd, buf, 1) <= 0)
                        _exit(0);
                if (cd_write_all(fd, reply, n + 1u) < 0)
                        _exit(0);
        }
}

#define SNIFFER_ARGV0 "cordon-sniff"
#ifdef CORDON_FAULT_INJECTION
#define CD_FAULT_INJECTION_BUILD 1
#else
#define CD_FAULT_INJECTION_BUILD 0
#endif
#define SNIFFER_FD 3

static __attribute__((noreturn)) void child(int fd, uid_t uid, gid_t gid)
{
        pid_t collector = getppid(); /* the sniffer is exec'd by the collector's fork */
        magic_t m;

        /* Nothing but this socket, not even stdio. */
        if (fd < 3 || close_range(0, (unsigned int) fd - 1, 0) < 0 ||
            close_range((unsigned int) fd + 1, ~0U, 0) < 0)
                _exit(1);
        if (cd_magic_load(&(struct cd_err){ 0 }) < 0)
                _exit(1);
        m = magic_open(MAGIC_FLAGS);
        if (!m || magic_load(m, NULL) < 0)
                _exit(1);
        if (restrict_self(uid, gid, collector) < 0)
                _exit(1);
        /* Tests: a sniffer that never gets ready (a host too loaded to
         * start it, a database that takes libmagic that long to load). */
        while (cd_fault("sniff_start_hang"))
                sleep_a_second();
        if (cd_write_all(fd, "r", 1) < 0) /* ready: see wait_ready() */
                _exit(0);
        serve(fd, m);
}

/* A job's uid or gid: never root's, which no job has (profile/plan.c). */
static bool parse_id(const char *s, uint64_t *ret)
{
        return cd_parse_u64(s, ret) == 0 && *ret > 0 && *ret < UINT32_MAX;
}

/* "cordon-sniff UID GID" with a unix socket on fd 3: the exec'd sniffer,
 * before main() (glibc passes argc and argv to constructors). Any other
 * start of the program goes on to main(). */
static __attribute__((constructor)) void sniffer_entry(int argc, char **argv)
{
        uint64_t uid, gid;
        struct stat st;

        if (argc != 3 || !argv || strcmp(argv[0], SNIFFER_ARGV0) != 0)
                return;
        /* Never in a privilege-raising exec (set-id or file capabilities):
         * whoever started it would choose MAGIC, the database root parses. */
        if (getauxval(AT_SECURE) || fstat(SNIFFER_FD, &st) < 0 || !S_ISSOCK(st.st_mode) ||
            !parse_id(argv[1], &uid) || !parse_id(argv[2], &gid))
                _exit(1);
        cd_fault_init();
        child(SNIFFER_FD, (uid_t) uid, (gid_t) gid);
}

/* In the forked child (async-signal-safe calls only: the parent may have
 * threads): stdio on /dev/null, the socket on fd 3, nothing else, and the
 * program again, as the sniffer. */
static __attribute__((noreturn)) void exec_sniffer(int fd, char **argv, char **env)
{
        int null;

        /* The collector may be reading /out as the job (setfsuid, which
         * also drops the thread's file capabilities): exec with root's file
         * system identity, as at the first start, or glibc in the new image
         * runs in secure mode and ignores CORDON_FAULT. */
        (void) syscall(SYS_setfsuid, 0);
        (void) syscall(SYS_setfsgid, 0);
        /* dup2() onto another number clears close-on-exec; onto itself not. */
        if (fd == SNIFFER_FD ? fcntl(fd, F_SETFD, 0) < 0 : dup2(fd, SNIFFER_FD) < 0)
                _exit(1);
        null = open("/dev/null", O_RDWR); /* not fd 3, now taken */
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
            close_range(SNIFFER_FD + 1, ~0U, 0) < 0)
                _exit(1);
        (void) execve("/proc/self/exe", argv, env);
        /* Not libmagic's fault: say so (see wait_ready). */
        (void) !write(SNIFFER_FD, "x", 1);
        _exit(1);
}

/* The sniffer's environment: only what libmagic and the fault tests read. */
static void sniffer_env(char *buf, size_t size, char **env)
{
        static const char *const keep[] = { "MAGIC", "CORDON_FAULT" };
        size_t n = 0, used = 0;

        for (size_t i = 0; i < ELEMENTSOF(keep); i++) {
                const char *v = secure_getenv(keep[i]);
                int len;

                if (!v || (!CD_FAULT_INJECTION_BUILD && !strcmp(keep[i], "CORDON_FAULT")))
                        continue;
                len = snprintf(buf + used, size - used, "%s=%s", keep[i], v);
                if (len < 0 || (size_t) len >= size - used)
                        continue;
                env[n++] = buf + used;
                used += (size_t) len + 1;
        }
        env[n] = NULL;
}

/* The wait for one step of the sniffer's (its start, an answer): at most
 * CD_SNIFF_TIMEOUT_MS, and no longer than @until allows. */
static struct cd_sniff_until due_by(const struct cd_sniff_until *until)
{
        struct cd_sniff_until u = { .deadline_ms = cd_now_ms() + CD_SNIFF_TIMEOUT_MS,
                                    .cancel_fd = until->cancel_fd };

        if (until->deadline_ms && until->deadline_ms < u.deadline_ms)
                u.deadline_ms = until->deadline_ms;
        return u;
}

/* Whether @u's own deadline (not a step's) has passed. */
static bool past(const struct cd_sniff_until *u)
{
        return u->deadline_ms && cd_now_ms() >= u->deadline_ms;
}

/* Wait until @fd is ready for @events, or @u's deadline passes (each
 * answer is due within CD_SNIFF_TIMEOUT_MS, and a sniffer stuck on a file
 * is killed), or its cancel_fd becomes readable (a cancel of the job is
 * not held up by the sniffer: -ECANCELED). The cancel fd is only polled,
 * never read: it stays readable for the caller. */
static int ready_by(int fd, short events, const struct cd_sniff_until *u)
{
        /* poll(2) ignores an entry whose fd is negative: no cancel_fd. */
        struct pollfd p[2] = { { .fd = fd, .events = events },
                               { .fd = u->cancel_fd, .events = POLLIN } };

        for (;;) {
                uint64_t now = cd_now_ms();
                int n = now >= u->deadline_ms ? 0 : poll(p, 2, (int) (u->deadline_ms - now));

                if (n > 0 && p[1].revents)
                        return -ECANCELED;
                if (n > 0)
                        return 0;
                if (n == 0)
                        return -ETIMEDOUT;
                if (errno != EINTR)
                        return -errno;
        }
}

/* @len bytes from the sniffer, all of them by @u's deadline: a sniffer
 * that sends part of an answer and stops (a libmagic exploit needs no CPU
 * to wait) is killed like one that never answers. */
static int read_by(int fd, void *buf, size_t len, const struct cd_sniff_until *u)
{
        char *p = buf;

        while (len > 0) {
                int r = ready_by(fd, POLLIN, u);
                ssize_t n;

                if (r < 0)
                        return r;
                n = read(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EPIPE;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* The sniffer says it is ready once libmagic has loaded its database and
 * the sniffer has given up its privileges: a host without the database
 * (libmagic-mgc) fails the collection with a reason, instead of every
 * file being refused. The wait ends with @until too. */
static int wait_ready(struct cd_sniffer *s, const struct cd_sniff_until *until, struct cd_err *err)
{
        const struct cd_sniff_until u = due_by(until);
        char c = 0;
        int r = read_by(s->fd, &c, 1, &u);

        if (r == 0 && c == 'r')
                return 0;
        cd_sniffer_stop(s);
        if (r == -ECANCELED)
                return cd_err_set(err, ECANCELED,
                                  "artifacts: cancelled while the type sniffer "
                                  "started");
        if (r == -ETIMEDOUT && past(until))
                return cd_err_set(err, ETIMEDOUT,
                                  "artifacts: the collection's time ran out while "
                                  "the type sniffer started");
        if (c == 'x')
                return cd_err_set(err, ENOEXEC,
                                  "artifacts: cannot start the type sniffer (exec of "
                                  "/proc/self/exe failed: is /proc mounted?)");
        return cd_err_set(err, EIO,
                          "artifacts: the type sniffer did not start (libmagic could "
                          "not load its database: is libmagic-mgc installed?)");
}

/* Take @lock (the launcher's fs_lock) for a fork, waiting no longer than
 * @u allows: a build of another job's file systems holds it for as long as
 * its inputs take to copy. A cancel fd cannot be waited on with a lock, so
 * it is looked at between waits of FORK_LOCK_SLICE_MS. Returns 0,
 * -ETIMEDOUT or -ECANCELED. */
static int lock_for_fork(pthread_rwlock_t *lock, const struct cd_sniff_until *u)
{
        for (;;) {
                struct pollfd p = { .fd = u->cancel_fd, .events = POLLIN };
                uint64_t until = cd_now_ms() + FORK_LOCK_SLICE_MS;
                struct timespec ts;
                int r;

                if (past(u))
                        return -ETIMEDOUT;
                if (p.fd >= 0 && poll(&p, 1, 0) > 0)
                        return -ECANCELED;
                if (u->deadline_ms && u->deadline_ms < until)
                        until = u->deadline_ms;
                ts = (struct timespec){ .tv_sec = (time_t) (until / 1000),
                                        .tv_nsec = (long) (until % 1000) * 1000000 };
                r = pthread_rwlock_clockwrlock(lock, CLOCK_MONOTONIC, &ts);
                if (r != ETIMEDOUT)
                        return -r;
        }
}

/* Fork the child that execs the sniffer on @sv[1], under @fork_lock (the
 * child must not inherit another job's writable fds; it closes them all
 * before its exec anyway). Returns its pid, or -errno. */
static pid_t fork_sniffer(int sv[2], char **argv, char **env, pthread_rwlock_t *fork_lock,
                          const struct cd_sniff_until *until, struct cd_err *err)
{
        pid_t pid;
        int r = fork_lock ? lock_for_fork(fork_lock, until) : 0;

        if (r == -ECANCELED)
                return cd_err_set(err, ECANCELED,
                                  "artifacts: cancelled while the type sniffer "
                                  "waited to start");
        if (r == -ETIMEDOUT)
                return cd_err_set(err, ETIMEDOUT,
                                  "artifacts: the collection's time ran out while "
                                  "the type sniffer waited to start");
        if (r < 0)
                return cd_err_neg(err, r, "artifacts: lock for the sniffer's start");
        pid = fork();
        if (pid == 0)
                exec_sniffer(sv[1], argv, env);
        r = pid < 0 ? cd_err_errno(err, "artifacts: start sniffer") : 0; /* before errno moves */
        if (fork_lock)
                pthread_rwlock_unlock(fork_lock);
        return r < 0 ? r : pid;
}

int cd_sniffer_start(struct cd_sniffer *s, uid_t uid, gid_t gid, pthread_rwlock_t *fork_lock,
                     const struct cd_sniff_until *until, struct cd_err *err)
{
        char env_buf[4096], *env[3], u[16], g[16];
        char *argv[] = { SNIFFER_ARGV0, u, g, NULL };
        int sv[2], r;
        pid_t pid;

        *s = (struct cd_sniffer){ .pid = -1, .fd = -1 };
        /* Here, for a clear error when libmagic is missing; the sniffer
         * loads it again after its exec. */
        r = cd_magic_load(err);
        if (r < 0)
                return r;
        sniffer_env(env_buf, sizeof(env_buf), env);
        (void) snprintf(u, sizeof(u), "%u", (unsigned int) uid); /* not after fork() */
        (void) snprintf(g, sizeof(g), "%u", (unsigned int) gid);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return cd_err_errno(err, "artifacts: sniffer socket");
        pid = fork_sniffer(sv, argv, env, fork_lock, until, err);
        (void) cd_close(sv[1]);
        if (pid < 0) {
                (void) cd_close(sv[0]);
                return (int) pid;
        }
        s->pid = pid;
        s->fd = sv[0];
        return wait_ready(s, until, err);
}

/* @len bytes to the sniffer, all of them by @u's deadline. A sniffer that
 * stops reading (and answers ahead, so that no answer is late) would
 * otherwise block the collector once the socket's buffer is full. */
static int write_by(int fd, const void *buf, size_t len, const struct cd_sniff_until *u)
{
        const char *p = buf;

        while (len > 0) {
                int r = ready_by(fd, POLLOUT, u);
                ssize_t n;

                if (r < 0)
                        return r;
                n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Bytes from the sniffer before it was asked anything: an answer sent
 * ahead, which no honest sniffer does. */
static bool spoke_first(int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, 0) > 0;
}

/* libmagic's "type/subtype; charset=name" (or a bare type, taken as
 * binary) into @ret. The answer comes from an untrusted process: both
 * parts are kept to their shapes. */
static int parse_answer(char *a, struct cd_sniffed *ret)
{
        static const char charset_key[] = "; charset=";
        char *charset = strstr(a, charset_key);
        size_t n;

        /* MIME types and charsets are case-insensitive (RFC 2045):
         * libmagic says "text/PGP". */
        for (char *c = a; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                        *c = (char) (*c - 'A' + 'a');
        if (charset) {
                *charset = '\0';
                charset += sizeof(charset_key) - 1;
        }
        n = strlen(a);
        if (n == 0 || n >= sizeof(ret->type) ||
            strspn(a, "abcdefghijklmnopqrstuvwxyz0123456789/+-._") != n)
                return -EPROTO;
        if (!charset)
                charset = "binary";
        if (!charset[0] || strlen(charset) >= sizeof(ret->charset) ||
            strspn(charset, "abcdefghijklmnopqrstuvwxyz0123456789-._") != strlen(charset))
                return -EPROTO;
        memcpy(ret->type, a, n + 1);
        memcpy(ret->charset, charset, strlen(charset) + 1);
        ret->text = strcmp(charset, "binary") != 0;
        return 0;
}

int cd_sniffer_type(struct cd_sniffer *s, const void *buf, size_t len,
                    const struct cd_sniff_until *until, struct cd_sniffed *ret)
{
        uint32_t n = (uint32_t) (len < CD_SNIFF_BYTES ? len : CD_SNIFF_BYTES);
        const struct cd_sniff_until u = due_by(until);
        char answer[UINT8_MAX + 1];
        unsigned char rlen;
        int r;

        if (s->fd < 0)
                return -EPIPE;
        r = spoke_first(s->fd) ? -EPROTO : 0;
        if (r == 0)
                r = write_by(s->fd, &n, sizeof(n), &u);
        if (r == 0)
                r = write_by(s->fd, buf, n, &u);
        if (r == 0)
                r = read_by(s->fd, &rlen, 1, &u);
        if (r == 0 && rlen == 0)
                r = -EPROTO;
        if (r == 0)
                r = read_by(s->fd, answer, rlen, &u);
        if (r < 0) {
                cd_sniffer_stop(s);
                return r;
        }
        answer[rlen] = '\0';
        /* A NUL inside would hide the rest from the checks: refused too. */
        if (strlen(answer) != rlen)
                return -EPROTO;
        return parse_answer(answer, ret);
}

void cd_sniffer_stop(struct cd_sniffer *s)
{
        s->fd = cd_close(s->fd);
        if (s->pid > 0) {
                (void) kill(s->pid, SIGKILL);
                while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                s->pid = -1;
        }
}
