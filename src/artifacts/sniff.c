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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <grp.h>
#include <magic.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/util.h"
#include "artifacts-internal.h"

/* Checks that parse structure rather than match magic numbers, and
 * decompression: the riskiest parts of libmagic, and not needed to tell a
 * CSV from an ELF binary. */
#define MAGIC_FLAGS                                                                                \
        (MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_NO_CHECK_CDF | MAGIC_NO_CHECK_ELF |     \
         MAGIC_NO_CHECK_TAR | MAGIC_ERROR)

/* libmagic's CPU time and address space, whatever it is asked (a crafted
 * file can make its regular expressions backtrack). The collector also
 * waits at most CD_SNIFF_TIMEOUT_MS for each answer. */
#define SNIFF_CPU_SECONDS 30
#define SNIFF_AS_BYTES    (1ULL << 30)

#if defined(__SANITIZE_ADDRESS__)
#define CD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) /* clang */
#define CD_ASAN 1
#endif
#endif
#ifndef CD_ASAN
#define CD_ASAN 0
#endif

static int limit_self(void)
{
        const struct rlimit cpu = { SNIFF_CPU_SECONDS, SNIFF_CPU_SECONDS };
        const struct rlimit core = { 0, 0 };

        if (setrlimit(RLIMIT_CPU, &cpu) < 0 || setrlimit(RLIMIT_CORE, &core) < 0)
                return -1;
#if !CD_ASAN /* ASan reserves terabytes of shadow address space */
        {
                const struct rlimit as = { SNIFF_AS_BYTES, SNIFF_AS_BYTES };

                if (setrlimit(RLIMIT_AS, &as) < 0)
                        return -1;
        }
#endif
        return 0;
}

static int restrict_self(uid_t uid, gid_t gid)
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
                /* Tests: a libmagic that spins on a crafted file. */
                while (cd_fault("sniff_hang"))
                        continue;
                type = magic_buffer(m, buf, len);
                if (!type)
                        type = "application/octet-stream";
                n = (unsigned char) strnlen(type, 200);
                reply[0] = (char) n;
                memcpy(reply + 1, type, n);
                if (cd_write_all(fd, reply, n + 1u) < 0)
                        _exit(0);
        }
}

static __attribute__((noreturn)) void child(int fd, uid_t uid, gid_t gid)
{
        magic_t m;

        /* Nothing of the collector's but this socket, not even its stdio. */
        if (fd < 3 || close_range(0, (unsigned int) fd - 1, 0) < 0 ||
            close_range((unsigned int) fd + 1, ~0U, 0) < 0)
                _exit(1);
        m = magic_open(MAGIC_FLAGS);
        if (!m || magic_load(m, NULL) < 0)
                _exit(1);
        if (restrict_self(uid, gid) < 0)
                _exit(1);
        if (cd_write_all(fd, "r", 1) < 0) /* ready: see wait_ready() */
                _exit(0);
        serve(fd, m);
}

/* The answer is due within CD_SNIFF_TIMEOUT_MS; a sniffer stuck on a file is killed. */
static int wait_answer(int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };
        uint64_t deadline = cd_now_ms() + CD_SNIFF_TIMEOUT_MS;

        for (;;) {
                uint64_t now = cd_now_ms();
                int n = now >= deadline ? 0 : poll(&p, 1, (int) (deadline - now));

                if (n > 0)
                        return 0;
                if (n == 0)
                        return -ETIMEDOUT;
                if (errno != EINTR)
                        return -errno;
        }
}

/* The sniffer says it is ready once libmagic has loaded its database and
 * the sniffer has given up its privileges: a host without the database
 * (libmagic-mgc) fails the collection with a reason, instead of every
 * file being refused as unreadable. */
static int wait_ready(struct cd_sniffer *s, struct cd_err *err)
{
        char c = 0;

        if (wait_answer(s->fd) < 0 || cd_read_exact(s->fd, &c, 1) <= 0 || c != 'r') {
                cd_sniffer_stop(s);
                return cd_err_set(err, EIO,
                                  "artifacts: the type sniffer did not start (libmagic could "
                                  "not load its database: is libmagic-mgc installed?)");
        }
        return 0;
}

int cd_sniffer_start(struct cd_sniffer *s, uid_t uid, gid_t gid, pthread_rwlock_t *fork_lock,
                     struct cd_err *err)
{
        int sv[2], r;
        pid_t pid;

        *s = (struct cd_sniffer){ .pid = -1, .fd = -1 };
        /* In the parent: dlopen() after fork() in a threaded process is unsafe. */
        r = cd_magic_load(err);
        if (r < 0)
                return r;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return cd_err_errno(err, "artifacts: sniffer socket");
        /* glibc's fork(): the child allocates (libmagic), which is safe after
         * fork() even in a multi-threaded process, unlike after a raw clone. */
        if (fork_lock)
                pthread_rwlock_wrlock(fork_lock);
        pid = fork();
        if (pid > 0 && fork_lock)
                pthread_rwlock_unlock(fork_lock);
        if (pid < 0) {
                if (fork_lock)
                        pthread_rwlock_unlock(fork_lock);
                r = cd_err_errno(err, "artifacts: start sniffer");
                (void) cd_close(sv[0]);
                (void) cd_close(sv[1]);
                return r;
        }
        if (pid == 0) {
                (void) cd_close(sv[0]);
                child(sv[1] < 3 ? fcntl(sv[1], F_DUPFD_CLOEXEC, 3) : sv[1], uid, gid);
        }
        (void) cd_close(sv[1]);
        s->pid = pid;
        s->fd = sv[0];
        return wait_ready(s, err);
}

int cd_sniffer_type(struct cd_sniffer *s, const void *buf, size_t len, char *type, size_t size)
{
        uint32_t n = (uint32_t) (len < CD_SNIFF_BYTES ? len : CD_SNIFF_BYTES);
        unsigned char rlen;
        int r;

        if (s->fd < 0)
                return -EPIPE;
        r = cd_write_all(s->fd, &n, sizeof(n));
        if (r == 0)
                r = cd_write_all(s->fd, buf, n);
        if (r == 0)
                r = wait_answer(s->fd);
        if (r == 0)
                r = cd_read_exact(s->fd, &rlen, 1) > 0 ? 0 : -EPIPE;
        if (r == 0 && (rlen == 0 || rlen >= size))
                r = -EPROTO;
        if (r == 0)
                r = cd_read_exact(s->fd, type, rlen) > 0 ? 0 : -EPIPE;
        if (r < 0) {
                cd_sniffer_stop(s);
                return r;
        }
        type[rlen] = '\0';
        /* MIME types are case-insensitive (RFC 2045): libmagic says "text/PGP". */
        for (unsigned int i = 0; i < rlen; i++)
                if (type[i] >= 'A' && type[i] <= 'Z')
                        type[i] = (char) (type[i] - 'A' + 'a');
        /* The answer comes from an untrusted process: keep it to a MIME shape. */
        if (strspn(type, "abcdefghijklmnopqrstuvwxyz0123456789/+-._") != rlen)
                return -EPROTO;
        return 0;
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
