/* SPDX-License-Identifier: MIT */
/*
 * Resource limits, each bounded so that a host without limits survives the
 * bare run: a fork bomb of at most N sleeping children (killed and reaped),
 * a memory bomb of at most N MiB (touched in a child), a disk fill of at
 * most N MiB into an unlinked file (freed on close), socket buffers of at
 * most N MiB (freed when the workers are killed). "escaped" means the
 * whole bound was reached without the sandbox stopping it (host-flush: a
 * flush of the host's disks would have run).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/aio_abi.h>
#include <linux/sockios.h>
#include <linux/net_tstamp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/in6.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"

#define MIB (1024ULL * 1024)

static int arg_count(struct probe_ctx *c, int argc, char **argv, int i, unsigned long long def,
                     unsigned long long max, unsigned long long *ret)
{
        *ret = def;
        if (argc > i && (parse_uint(argv[i], max, ret) < 0 || *ret == 0))
                return verdict(c, BROKEN, "'%s' is not a number in [1, %llu]", argv[i], max);
        return 0;
}

static int probe_fork_bomb(struct probe_ctx *c, int argc, char **argv)
{
        unsigned long long want;
        pid_t *kids, self = getpid();
        size_t made = 0;
        int err = 0;

        if (arg_count(c, argc, argv, 0, 1000, 10000, &want) < 0)
                return BROKEN;
        kids = calloc(want, sizeof(*kids));
        if (!kids)
                return verdict(c, BROKEN, "out of memory");
        (void) fflush(NULL);
        while (made < want) {
                pid_t pid = fork();

                if (pid == 0) {
                        (void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
                        if (getppid() != self)
                                _exit(0);
                        for (;;)
                                pause();
                }
                if (pid < 0) {
                        err = errno;
                        break;
                }
                kids[made++] = pid;
        }
        for (size_t i = 0; i < made; i++)
                (void) kill(kids[i], SIGKILL);
        for (size_t i = 0; i < made; i++)
                while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
                        ;
        free(kids);
        if (made == want)
                return verdict(c, ESCAPED, "forked all %zu children", made);
        return verdict(c, BLOCKED, "fork failed after %zu children: %s", made, ename(err));
}

static unsigned long long mem_available_mib(void)
{
        char buf[8192];
        unsigned long long kib;
        const char *p;

        if (read_text("/proc/meminfo", buf, sizeof(buf)) <= 0)
                return 0;
        p = strstr(buf, "MemAvailable:");
        if (!p || sscanf(p, "MemAvailable: %llu", &kib) != 1)
                return 0;
        return kib / 1024;
}

/* The child touches every page of @mib MiB and reports progress in MiB. */
static __attribute__((noreturn)) void eat(unsigned long long mib, int fd)
{
        size_t len = (size_t) (mib * MIB);
        unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

        if (p == MAP_FAILED)
                _exit(3);
        for (size_t off = 0; off < len; off += 4096) {
                p[off] = 1;
                if ((off + 4096) % (16 * MIB) == 0) {
                        uint32_t done = (uint32_t) ((off + 4096) / MIB);

                        if (write(fd, &done, sizeof(done)) != sizeof(done))
                                _exit(4);
                }
        }
        _exit(0);
}

static int probe_memory_bomb(struct probe_ctx *c, int argc, char **argv)
{
        unsigned long long want;
        uint32_t done = 0, got;
        int p[2], status;
        pid_t pid;

        if (arg_count(c, argc, argv, 0, 2048, 16384, &want) < 0)
                return BROKEN;
        if (c->bare && mem_available_mib() < 2 * want)
                return verdict(c, NOT_APPLICABLE, "the host has less than %llu MiB available",
                               2 * want);
        if (pipe2(p, O_CLOEXEC) < 0)
                return verdict(c, BROKEN, "pipe: %s", ename(errno));
        (void) fflush(NULL);
        pid = fork();
        if (pid < 0)
                return verdict(c, BROKEN, "fork: %s", ename(errno));
        if (pid == 0) {
                (void) close(p[0]);
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
                eat(want, p[1]);
        }
        (void) close(p[1]);
        while (read(p[0], &got, sizeof(got)) == sizeof(got))
                done = got;
        (void) close(p[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return verdict(c, BROKEN, "waitpid: %s", ename(errno));
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return verdict(c, ESCAPED, "touched all %llu MiB", want);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
                return verdict(c, BLOCKED, "mmap of %llu MiB refused", want);
        if (WIFSIGNALED(status))
                return verdict(c, BLOCKED, "the child was killed by %s after %u MiB",
                               signame(WTERMSIG(status)), (unsigned int) done);
        return verdict(c, BROKEN, "the child exited with %d", WEXITSTATUS(status));
}

#define SOCK_WORKERS 16
#define SOCK_DONE    0x80000000u /* a report's flag: this worker's fds ran out */

/* A worker's report: the MiB it holds, when that grew. */
static void report_held(int fd, uint64_t held, uint32_t *told)
{
        if (held / MIB <= *told)
                return;
        *told = (uint32_t) (held / MIB);
        if (write(fd, told, sizeof(*told)) != sizeof(*told))
                _exit(4);
}

/* A worker's last report (it can take no more); then it waits to be killed. */
static __attribute__((noreturn)) void report_done(int fd, uint32_t told)
{
        told |= SOCK_DONE;
        if (write(fd, &told, sizeof(told)) != sizeof(told))
                _exit(4);
        for (;;)
                (void) pause();
}

/* A worker queues data on AF_UNIX socket pairs it never reads, until its
 * fds run out, reporting the MiB it holds; then it waits to be killed.
 * The kernel must charge those buffers to the job's memory cgroup. */
static __attribute__((noreturn)) void sock_worker(int fd, unsigned long long mib)
{
        static char chunk[65536];
        uint64_t held = 0;
        uint32_t told = 0;

        while (held < mib * MIB) {
                int sv[2];

                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                        break;
                for (ssize_t n; (n = send(sv[0], chunk, sizeof(chunk), MSG_DONTWAIT)) > 0;)
                        held += (uint64_t) n;
                report_held(fd, held, &told);
        }
        report_done(fd, told);
}

struct sock_bomb {
        pid_t pid[SOCK_WORKERS];
        int fd[SOCK_WORKERS]; /* -1: the worker died (its buffers are freed) */
        uint32_t held[SOCK_WORKERS];
        bool done[SOCK_WORKERS];
};

/* Follow the workers until they hold @want MiB together (1), or one was
 * killed (the OOM killer: the others would only take its share again, and
 * by RSS, which these buffers are not, it picks at random) or none can
 * queue more (0). */
static int sock_bomb_watch(struct sock_bomb *b, unsigned long long want, uint64_t *ret_max)
{
        for (;;) {
                struct pollfd p[SOCK_WORKERS];
                uint64_t total = 0;
                int live = 0;

                for (int i = 0; i < SOCK_WORKERS; i++) {
                        p[i] = (struct pollfd){ .fd = b->done[i] ? -1 : b->fd[i],
                                                .events = POLLIN };
                        live += p[i].fd >= 0;
                        total += b->fd[i] >= 0 ? b->held[i] : 0;
                }
                if (total > *ret_max)
                        *ret_max = total;
                if (total >= want)
                        return 1;
                if (live == 0)
                        return 0;
                if (poll(p, SOCK_WORKERS, -1) < 0 && errno != EINTR)
                        return 0;
                for (int i = 0; i < SOCK_WORKERS; i++) {
                        uint32_t r;

                        if (p[i].fd < 0 || !p[i].revents)
                                continue;
                        if (read(b->fd[i], &r, sizeof(r)) != sizeof(r))
                                return 0; /* killed */
                        b->held[i] = r & ~SOCK_DONE;
                        b->done[i] = r & SOCK_DONE;
                }
        }
}

typedef void sock_worker_fn(int fd, unsigned long long mib, const void *arg);

/* Start SOCK_WORKERS workers, each running @fn for its share of @want MiB,
 * follow them (sock_bomb_watch) and kill them. Returns the workers started
 * (0: none could be) and, in @ret_escaped, whether they held @want. */
static int sock_workers_run(sock_worker_fn *fn, const void *arg, unsigned long long want,
                            uint64_t *ret_max, int *ret_escaped)
{
        struct sock_bomb b = { 0 };
        int made = 0;

        (void) fflush(NULL);
        for (; made < SOCK_WORKERS; made++) {
                int p[2];

                if (pipe2(p, O_CLOEXEC) < 0)
                        break;
                b.pid[made] = fork();
                if (b.pid[made] == 0) {
                        (void) close(p[0]);
                        (void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
                        fn(p[1], want / SOCK_WORKERS + 1, arg);
                        _exit(0);
                }
                (void) close(p[1]);
                b.fd[made] = p[0];
                if (b.pid[made] < 0) {
                        (void) close(p[0]);
                        break;
                }
        }
        for (int i = made; i < SOCK_WORKERS; i++)
                b.fd[i] = -1;
        *ret_escaped = made > 0 ? sock_bomb_watch(&b, want, ret_max) : 0;
        for (int i = 0; i < made; i++) {
                (void) kill(b.pid[i], SIGKILL);
                while (waitpid(b.pid[i], NULL, 0) < 0 && errno == EINTR)
                        ;
                if (b.fd[i] >= 0)
                        (void) close(b.fd[i]);
        }
        return made;
}

static void unix_queue_worker(int fd, unsigned long long mib, const void *arg)
{
        (void) arg;
        sock_worker(fd, mib);
}

static int probe_socket_bomb(struct probe_ctx *c, int argc, char **argv)
{
        unsigned long long want;
        uint64_t max = 0;
        int made, escaped;

        if (arg_count(c, argc, argv, 0, 512, 16384, &want) < 0)
                return BROKEN;
        if (c->bare && mem_available_mib() < 2 * want)
                return verdict(c, NOT_APPLICABLE, "the host has less than %llu MiB available",
                               2 * want);
        made = sock_workers_run(unix_queue_worker, NULL, want, &max, &escaped);
        if (made == 0)
                return verdict(c, BROKEN, "could not start a worker: %s", ename(errno));
        if (escaped)
                return verdict(c, ESCAPED, "%d workers held %llu MiB in socket buffers", made,
                               (unsigned long long) max);
        return verdict(c, BLOCKED, "%d workers held at most %llu of %llu MiB in socket buffers",
                       made, (unsigned long long) max, want);
}

/*
 * Kernel memory a socket holds for its options, from its allowance
 * (net.core.optmem_max, 128 KiB a socket by default here), which no
 * memory cgroup is charged for: TCP MD5 keys, 136 bytes each as the
 * allowance counts them. A socket is filled until the kernel refuses,
 * then the next; the job's own memory (the sockets, about 3 KiB each)
 * stays far below its limit. (Multicast groups fill the same allowance,
 * but each join scans the device's list: too slow a demonstration for
 * this suite; tests/unit/test_seccomp.c checks they are refused.)
 */
struct option_fill {
        const char *name;
        int family, type;
        unsigned int item_bytes;
        int (*add)(int fd, unsigned int k);
};

static int add_md5_key(int fd, unsigned int k)
{
        struct tcp_md5sig m = { .tcpm_keylen = TCP_MD5SIG_MAXKEYLEN };
        struct sockaddr_in *a = (struct sockaddr_in *) &m.tcpm_addr;

        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(0x0a000000u + k);
        return setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &m, sizeof(m)) < 0 ? errno : 0;
}

static const struct option_fill option_fills[] = {
        { "md5", AF_INET, SOCK_STREAM, 136, add_md5_key },
};

/* The items one socket takes, then closed never: its fd holds them. */
static uint64_t option_fill_one(const struct option_fill *f)
{
        int fd = socket(f->family, f->type | SOCK_CLOEXEC, 0);
        unsigned int k = 0;

        if (fd < 0)
                return 0;
        while (k < 65536 && f->add(fd, k) == 0)
                k++;
        if (k == 0)
                (void) close(fd);
        return (uint64_t) k * f->item_bytes;
}

static void option_worker(int fd, unsigned long long mib, const void *arg)
{
        const struct option_fill *f = arg;
        uint64_t held = 0, took;
        uint32_t told = 0;

        while (held < mib * MIB && (took = option_fill_one(f)) > 0) {
                held += took;
                report_held(fd, held, &told);
        }
        report_done(fd, told);
}

static int probe_option_memory(struct probe_ctx *c, int argc, char **argv)
{
        const struct option_fill *f = NULL;
        unsigned long long want;
        uint64_t max = 0;
        int made, escaped, fd, r;

        for (size_t i = 0; argc > 0 && i < ELEMENTSOF(option_fills); i++)
                if (strcmp(argv[0], option_fills[i].name) == 0)
                        f = &option_fills[i];
        if (!f)
                return verdict(c, BROKEN, "which option: md5");
        if (arg_count(c, argc, argv, 1, 128, 16384, &want) < 0)
                return BROKEN;
        /* Refused at once, or not: asked once before any worker starts. */
        fd = socket(f->family, f->type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return refused(c, errno, "socket");
        r = f->add(fd, 0);
        (void) close(fd);
        if (r != 0)
                return refused(c, r, f->name);
        made = sock_workers_run(option_worker, f, want, &max, &escaped);
        if (made == 0)
                return verdict(c, BROKEN, "could not start a worker: %s", ename(errno));
        if (escaped)
                return verdict(c, ESCAPED, "%d workers held %llu MiB of %s option memory", made,
                               (unsigned long long) max, f->name);
        return verdict(c, BLOCKED, "%d workers held at most %llu of %llu MiB of %s option memory",
                       made, (unsigned long long) max, want, f->name);
}

/* An unlinked file in @dir: its blocks go when the probe exits, however it exits. */
static int open_unlinked(const char *dir)
{
        char path[PATH_MAX];
        int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

        if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
                return fd < 0 ? -errno : fd;
        (void) snprintf(path, sizeof(path), "%s/cordon-probe.XXXXXX", dir);
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        (void) unlink(path);
        return fd;
}

static int probe_disk_fill(struct probe_ctx *c, int argc, char **argv)
{
        static char chunk[1 << 20];
        const char *dir = argc > 0 ? argv[0] : "/tmp";
        unsigned long long want, written = 0;
        struct statvfs vfs;
        int fd, err = 0;

        if (arg_count(c, argc, argv, 1, 512, 8192, &want) < 0)
                return BROKEN;
        if (c->bare && (statvfs(dir, &vfs) < 0 ||
                        (unsigned long long) vfs.f_bavail * vfs.f_frsize < 2 * want * MIB))
                return verdict(c, NOT_APPLICABLE, "%s has less than %llu MiB free", dir, 2 * want);
        /* Past RLIMIT_FSIZE a write fails with EFBIG instead of killing us. */
        if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
                return verdict(c, BROKEN, "ignore SIGXFSZ: %s", ename(errno));
        fd = open_unlinked(dir);
        if (fd < 0)
                return verdict(c, BLOCKED, "cannot create a file in %s: %s", dir, ename(-fd));
        memset(chunk, 'x', sizeof(chunk));
        while (written < want * MIB) {
                ssize_t n = write(fd, chunk, sizeof(chunk));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        err = n < 0 ? errno : ENOSPC;
                        break;
                }
                written += (unsigned long long) n;
        }
        (void) close(fd);
        if (written >= want * MIB)
                return verdict(c, ESCAPED, "wrote all %llu MiB to %s", want, dir);
        return verdict(c, BLOCKED, "%s: stopped after %llu MiB: %s", dir, written / MIB,
                       ename(err));
}

/*
 * Kernel AIO contexts count against one host-wide budget, fs.aio-max-nr
 * (io_setup(2)): whoever takes it all makes io_setup() fail with EAGAIN
 * for every other process on the host (databases with native AIO, qemu).
 * The contexts go when the probe exits.
 */
static int probe_aio_exhaust(struct probe_ctx *c, int argc, char **argv)
{
        unsigned long made = 0;
        int err = 0;

        (void) argc;
        (void) argv;
        while (made < 1000000) {
                aio_context_t ctx = 0;

                if (syscall(SYS_io_setup, 4096, &ctx) < 0) {
                        err = errno;
                        break;
                }
                made++;
        }
        if (made == 0)
                return refused(c, err, "io_setup");
        note(c, "aio-nr %ld of aio-max-nr %ld", sysctl_long("/proc/sys/fs/aio-nr", -1),
             sysctl_long("/proc/sys/fs/aio-max-nr", -1));
        if (err == EAGAIN)
                return verdict(c, ESCAPED, "%lu AIO contexts took the host's whole aio-max-nr",
                               made);
        return verdict(c, BLOCKED, "stopped after %lu AIO contexts: %s", made, ename(err));
}

/*
 * IPv6 flow labels come from one table for the whole host (4096 labels,
 * every network namespace's together): a process without CAP_NET_ADMIN
 * in the host's namespace is refused once fewer than a quarter are free,
 * so whoever takes three quarters leaves every unprivileged process on
 * the host without. A label outlives its socket by its linger time, at
 * least 6 s and up to 150 s as its owner asks, so a few fds take them
 * all: a socket takes up to 32 (only one past half the table without
 * CAP_NET_ADMIN) and is closed, its labels kept. The probe stops at three
 * quarters, so the bare run (as root) leaves the host a quarter, and asks
 * no linger: its labels go 6 s after (a sandboxed run's go with its
 * network namespace). A run right after the bare one finds the table at
 * three quarters, and waits for them to go.
 */
#define FLOWLABELS_HOST    4096
#define FLOWLABELS_PER_FD  32
#define FLOWLABELS_WANT    (FLOWLABELS_HOST * 3 / 4)
#define FLOWLABELS_WAIT_MS 10000

static int flowlabel_take(int fd)
{
        struct in6_flowlabel_req req = {
                .flr_dst = IN6ADDR_LOOPBACK_INIT,
                .flr_action = IPV6_FL_A_GET,
                .flr_share = IPV6_FL_S_EXCL,
                .flr_flags = IPV6_FL_F_CREATE,
        };

        return setsockopt(fd, SOL_IPV6, IPV6_FLOWLABEL_MGR, &req, sizeof(req)) < 0 ? errno : 0;
}

/* Labels on a new socket, up to 32 and up to @want in all, left to linger
 * once it is closed. Returns how many, or -errno if no socket; @err gets
 * the refusal. */
static int flowlabels_take(unsigned long *made, unsigned long want, int *err)
{
        int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), got = 0;

        if (fd < 0)
                return -errno;
        while (got < FLOWLABELS_PER_FD && *made < want && (*err = flowlabel_take(fd)) == 0) {
                got++;
                (*made)++;
        }
        (void) close(fd);
        return got;
}

static int probe_flowlabel_exhaust(struct probe_ctx *c, int argc, char **argv)
{
        unsigned long made = 0;
        int err = 0, waited = 0, got;

        (void) argc;
        (void) argv;
        while (made < FLOWLABELS_WANT) {
                got = flowlabels_take(&made, FLOWLABELS_WANT, &err);
                if (got < 0)
                        return refused(c, -got, "IPv6 socket");
                if (got > 0)
                        continue;
                /* Even a fresh socket refused: the table is full, maybe of
                 * the labels of the run before, which go within 6 s. */
                if (err != ENOBUFS || waited >= FLOWLABELS_WAIT_MS)
                        break;
                (void) poll(NULL, 0, 100);
                waited += 100;
        }
        if (made >= FLOWLABELS_WANT)
                return verdict(c, ESCAPED, "took %lu of the host's %d IPv6 flow labels", made,
                               FLOWLABELS_HOST);
        if (made == 0 && err == ENOBUFS)
                return verdict(c, BROKEN, "the host's flow label table stayed full for %d ms",
                               waited);
        if (made == 0)
                return refused(c, err, "IPV6_FLOWLABEL_MGR");
        return verdict(c, BLOCKED, "stopped after %lu IPv6 flow labels: %s", made, ename(err));
}

/*
 * Whether the kernel ran a call, asked with arguments it refuses once it
 * runs (a bad fd, an unmapped address, a zero size): @ran is that refusal,
 * @filtered cordon's answer, given before the kernel looks at them. So
 * neither the bare run nor the sandboxed one flushes or maps anything.
 * (A SECCOMP_RET_TRACE filter of the probe's own would ask more
 * precisely, as tests/unit/test_seccomp.c does, but a job may not load
 * filters: rules_own_filters in src/sandbox/seccomp-policy.c.)
 */
struct asked {
        const char *name;
        long nr, a[6];
        int ran, filtered;
};

static int ask_each(struct probe_ctx *c, const struct asked *calls, size_t n, const char *held)
{
        for (size_t i = 0; i < n; i++) {
                const long *a = calls[i].a;
                int r = syscall(calls[i].nr, a[0], a[1], a[2], a[3], a[4], a[5]) < 0 ? errno : 0;

                if (r == calls[i].ran)
                        return verdict(c, ESCAPED, "%s ran (%s)", calls[i].name, ename(r));
                if (r != calls[i].filtered)
                        return verdict(c, BROKEN, "%s: %s", calls[i].name, ename(r));
        }
        return verdict(c, BLOCKED, "%s", held);
}

/*
 * Flushes that reach the host's disks: fsync(2) of a read-only host file
 * can send a cache flush to the disk under /usr, and sync(2) and syncfs(2)
 * write back host file systems; a job looping on them slows every fsync on
 * the host. sync(2) takes no argument to refuse, so it is left to
 * tests/unit/test_seccomp.c; its rule is the same as fsync's.
 */
static int host_flush(struct probe_ctx *c, void *arg)
{
        void *gone = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        const struct asked calls[] = {
                { "fsync", SYS_fsync, { -1 }, EBADF, 0 },
                { "fdatasync", SYS_fdatasync, { -1 }, EBADF, 0 },
                { "syncfs", SYS_syncfs, { -1 }, EBADF, 0 },
                { "sync_file_range", SYS_sync_file_range, { -1, 0, 0, 2 }, EBADF, 0 },
                { "msync(MS_SYNC)", SYS_msync, { (long) gone, 4096, MS_SYNC }, ENOMEM, 0 },
        };

        (void) arg;
        if (gone == MAP_FAILED || munmap(gone, 4096) < 0)
                return verdict(c, BROKEN, "an unmapped page: %s", ename(errno));
        return ask_each(c, calls, ELEMENTSOF(calls),
                        "fsync, fdatasync, syncfs, sync_file_range and msync(MS_SYNC) "
                        "answered 0 without running");
}

static int probe_host_flush(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return in_child(c, host_flush, NULL, NULL);
}

/*
 * The host's huge page pool (vm.nr_hugepages), which the job's memory
 * limit does not charge: asked with sizes and names the kernel refuses, so
 * the bare run takes no page of a host that has some.
 */
static int host_hugepages(struct probe_ctx *c, void *arg)
{
        static const struct asked calls[] = {
                { "mmap(MAP_HUGETLB)",
                  SYS_mmap,
                  { 0, 0, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1,
                    0 },
                  EINVAL,
                  ENOMEM },
                { "memfd_create(MFD_HUGETLB)",
                  SYS_memfd_create,
                  { 0, MFD_HUGETLB },
                  EFAULT,
                  EINVAL },
                { "shmget(SHM_HUGETLB)",
                  SYS_shmget,
                  { IPC_PRIVATE, 0, IPC_CREAT | SHM_HUGETLB | 0600 },
                  EINVAL,
                  EPERM },
        };

        (void) arg;
        return ask_each(c, calls, ELEMENTSOF(calls),
                        "huge page mappings refused before the kernel ran them");
}

static int probe_host_hugepages(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return in_child(c, host_hugepages, NULL, NULL);
}

/*
 * Queues whose kernel memory no memory cgroup is charged for: a netlink
 * socket's receive queue and an IP socket's error queue each hold up to
 * the socket's SO_RCVBUF (twice net.core.rmem_max), and a job has nofile x
 * pids sockets. One message is enough to show the queue can be filled.
 */
#define QUEUE_WAIT_MS 1000

/* A UDP socket on 127.0.0.1 with nothing queued, for @fd to send to. */
static int udp_peer(int fd, int *ret_peer)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int peer = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (peer < 0 || bind(peer, (struct sockaddr *) &a, sizeof(a)) < 0 ||
            getsockname(peer, (struct sockaddr *) &a, &len) < 0 ||
            connect(fd, (struct sockaddr *) &a, sizeof(a)) < 0) {
                int e = errno;

                if (peer >= 0)
                        (void) close(peer);
                return -e;
        }
        *ret_peer = peer;
        return 0;
}

/* Whether @fd's error queue holds anything within QUEUE_WAIT_MS. */
static bool error_queued(int fd)
{
        struct pollfd p = { .fd = fd };
        char buf[256], ctl[512];
        struct iovec iov = { buf, sizeof(buf) };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

        for (int waited = 0; waited < QUEUE_WAIT_MS; waited += 10) {
                m.msg_control = ctl;
                m.msg_controllen = sizeof(ctl);
                if (recvmsg(fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) >= 0)
                        return true;
                (void) poll(&p, 1, 10);
        }
        return false;
}

static int queue_netlink(struct probe_ctx *c)
{
        struct {
                struct nlmsghdr nh;
                struct ifinfomsg ifi;
        } req = {
                .nh = { .nlmsg_len = sizeof(req),
                        .nlmsg_type = RTM_GETLINK,
                        .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
                .ifi = { .ifi_family = AF_UNSPEC },
        };
        struct pollfd p;
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

        if (fd < 0)
                return refused(c, errno, "NETLINK_ROUTE socket");
        p = (struct pollfd){ .fd = fd, .events = POLLIN };
        if (send(fd, &req, sizeof(req), 0) < 0 || poll(&p, 1, QUEUE_WAIT_MS) != 1) {
                (void) close(fd);
                return verdict(c, BROKEN, "no RTM_GETLINK dump came back");
        }
        (void) close(fd);
        return verdict(c, ESCAPED, "an unread RTM_GETLINK dump waits in the socket's queue");
}

/* IP_RECVERR: an ICMP error (port unreachable) queued for each datagram. */
static int queue_recverr(struct probe_ctx *c)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int one = 1, fd, closed, r;

        /* A port that was just bound and closed: nobody listens there. */
        closed = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (closed < 0 || bind(closed, (struct sockaddr *) &a, sizeof(a)) < 0 ||
            getsockname(closed, (struct sockaddr *) &a, &len) < 0)
                return verdict(c, BROKEN, "find a closed UDP port: %s", ename(errno));
        (void) close(closed);
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return refused(c, errno, "UDP socket");
        if (setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof(one)) < 0)
                note(c, "IP_RECVERR: %s", ename(errno));
        if (connect(fd, (struct sockaddr *) &a, sizeof(a)) < 0 || send(fd, "x", 1, 0) < 0) {
                r = errno;
                (void) close(fd);
                return verdict(c, BROKEN, "send to a closed port: %s", ename(r));
        }
        r = error_queued(fd);
        (void) close(fd);
        if (r)
                return verdict(c, ESCAPED, "an ICMP error waits in the error queue");
        return verdict(c, BLOCKED, "no ICMP error queued");
}

/* A transmit timestamp with a copy of the packet, asked by setsockopt
 * (@by_option) or by a control message on the packet alone. */
static int queue_tstamp(struct probe_ctx *c, bool by_option)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        struct iovec iov = { "x", 1 };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
        int flags = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
        int fd, peer = -1, r;

        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return refused(c, errno, "UDP socket");
        r = udp_peer(fd, &peer);
        if (r < 0) {
                (void) close(fd);
                return verdict(c, BROKEN, "a UDP peer on 127.0.0.1: %s", ename(-r));
        }
        if (by_option && setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof(flags)) < 0) {
                r = refused(c, errno, "SO_TIMESTAMPING");
                (void) close(fd);
                (void) close(peer);
                return r;
        }
        if (!by_option) {
                struct cmsghdr *h;

                m.msg_control = u.buf;
                m.msg_controllen = sizeof(u.buf);
                h = CMSG_FIRSTHDR(&m);
                *h = (struct cmsghdr){ .cmsg_level = SOL_SOCKET,
                                       .cmsg_type = SO_TIMESTAMPING,
                                       .cmsg_len = CMSG_LEN(sizeof(int)) };
                /* A packet's own request takes the recording flags only. */
                flags = SOF_TIMESTAMPING_TX_SOFTWARE;
                memcpy(CMSG_DATA(h), &flags, sizeof(flags));
        }
        if (sendmsg(fd, &m, 0) < 0) {
                r = refused(c, errno, "sendmsg with a timestamp asked");
                (void) close(fd);
                (void) close(peer);
                return r;
        }
        r = error_queued(fd);
        (void) close(fd);
        (void) close(peer);
        if (r)
                return verdict(c, ESCAPED, "a copy of the packet waits in the error queue");
        return verdict(c, BLOCKED, "no transmit timestamp queued");
}

static int probe_uncharged_queue(struct probe_ctx *c, int argc, char **argv)
{
        const char *which = argc > 0 ? argv[0] : "";

        if (strcmp(which, "netlink") == 0)
                return queue_netlink(c);
        if (strcmp(which, "recverr") == 0)
                return queue_recverr(c);
        if (strcmp(which, "tstamp") == 0)
                return queue_tstamp(c, false);
        if (strcmp(which, "tstamp-option") == 0)
                return queue_tstamp(c, true);
        return verdict(c, BROKEN, "which queue: netlink, recverr, tstamp or tstamp-option");
}

/*
 * Loopback TCP connections that no process accepts: the kernel creates the
 * listener's side of each in softirq, where no memory cgroup is current,
 * and charges its receive queue to one only once accept(2) hands it to a
 * process ("late association"). Until then the data waits in memory no
 * job limit counts, up to the listener's SO_RCVBUF (inherited, twice
 * net.core.rmem_max) per connection and somaxconn connections per
 * listener. The client end is closed (abortively: no orphan keeps data),
 * so a few fds hold it all; it goes when the listener closes.
 */
#define UNACCEPTED_LISTENERS 8
#define UNACCEPTED_WAIT_MS   20

/* Send on @fd until its peer's window is full; returns what the peer took. */
static long long fill_peer(int fd)
{
        static char chunk[65536];
        long long sent = 0;
        int outq = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                ssize_t n;

                while ((n = send(fd, chunk, sizeof(chunk), MSG_DONTWAIT | MSG_NOSIGNAL)) > 0)
                        sent += n;
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        break;
                if (poll(&p, 1, UNACCEPTED_WAIT_MS) <= 0)
                        break; /* the peer's window is full */
        }
        if (ioctl(fd, SIOCOUTQ, &outq) < 0)
                return 0;
        return sent - outq;
}

/* One more connection to the listener at @sa, filled and closed; -1 when
 * none could be made (the listener's queue is full). */
static long long unaccepted_one(const struct sockaddr_in *sa)
{
        struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };
        int small = 16384, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        long long took = -1;

        if (fd < 0)
                return -1;
        /* A small send buffer: what the peer did not take stays small. */
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
        if ((connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) == 0 || errno == EINPROGRESS) &&
            poll(&p, 1, 1000) == 1 && !(p.revents & (POLLERR | POLLHUP)))
                took = fill_peer(fd);
        (void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close));
        (void) close(fd);
        return took;
}

static int unaccepted_listener(struct sockaddr_in *sa)
{
        int big = 4 << 20, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        socklen_t len = sizeof(*sa);

        if (fd < 0)
                return -errno;
        /* Inherited by every connection it queues; the kernel caps it at rmem_max. */
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
        *sa = (struct sockaddr_in){ .sin_family = AF_INET,
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (bind(fd, (struct sockaddr *) sa, sizeof(*sa)) < 0 || listen(fd, 4096) < 0 ||
            getsockname(fd, (struct sockaddr *) sa, &len) < 0) {
                int e = errno;

                (void) close(fd);
                return -e;
        }
        return fd;
}

static int probe_tcp_unaccepted(struct probe_ctx *c, int argc, char **argv)
{
        int listeners[UNACCEPTED_LISTENERS], made = 0;
        unsigned long long want, tcp_mem[3] = { 0 };
        unsigned long conns = 0;
        long long held = 0;
        char buf[256];

        if (arg_count(c, argc, argv, 0, 512, 4096, &want) < 0)
                return BROKEN;
        if (c->bare && mem_available_mib() < 2 * want)
                return verdict(c, NOT_APPLICABLE, "the host has less than %llu MiB available",
                               2 * want);
        /* Bare, stay below the host's TCP memory pressure threshold. */
        if (c->bare && (read_text("/proc/sys/net/ipv4/tcp_mem", buf, sizeof(buf)) <= 0 ||
                        sscanf(buf, "%llu %llu %llu", &tcp_mem[0], &tcp_mem[1], &tcp_mem[2]) != 3 ||
                        tcp_mem[0] * 4096 < 2 * want * MIB))
                return verdict(c, NOT_APPLICABLE, "net.ipv4.tcp_mem is below %llu MiB", 2 * want);
        while (held < (long long) (want * MIB) && made < UNACCEPTED_LISTENERS) {
                struct sockaddr_in sa;
                long long took;
                int fd = unaccepted_listener(&sa);

                if (fd < 0) {
                        note(c, "listener: %s", ename(-fd));
                        break;
                }
                listeners[made++] = fd;
                while (held < (long long) (want * MIB) && (took = unaccepted_one(&sa)) >= 0) {
                        held += took;
                        conns++;
                }
        }
        for (int i = 0; i < made; i++)
                (void) close(listeners[i]);
        if (made == 0)
                return verdict(c, BROKEN, "no listener");
        if (held >= (long long) (want * MIB))
                return verdict(c, ESCAPED,
                               "%lu connections nobody accepted held %llu MiB sent to them", conns,
                               (unsigned long long) held / MIB);
        return verdict(c, BLOCKED, "%lu connections nobody accepted held at most %llu of %llu MiB",
                       conns, (unsigned long long) held / MIB, want);
}

const struct probe resource_probes[] = {
        { "fork-bomb", probe_fork_bomb, "[N]", "fork N (1000) sleeping children" },
        { "memory-bomb", probe_memory_bomb, "[MIB]", "touch MIB (2048) MiB of memory" },
        { "socket-bomb", probe_socket_bomb, "[MIB]",
          "queue MIB (512) MiB in AF_UNIX socket buffers nobody reads" },
        { "disk-fill", probe_disk_fill, "[DIR [MIB]]", "write MIB (512) MiB into DIR (/tmp)" },
        { "aio-exhaust", probe_aio_exhaust, "", "take the host's whole AIO budget (aio-max-nr)" },
        { "flowlabel-exhaust", probe_flowlabel_exhaust, "",
          "take three quarters of the host's IPv6 flow labels" },
        { "host-flush", probe_host_flush, "", "flush the host's disks (fsync, sync, syncfs)" },
        { "host-hugepages", probe_host_hugepages, "", "map the host's huge pages (MAP_HUGETLB)" },
        { "uncharged-queue", probe_uncharged_queue, "netlink|recverr|tstamp|tstamp-option",
          "queue a message in socket memory no memory cgroup is charged for" },
        { "option-memory", probe_option_memory, "md5 [MIB]",
          "hold MIB (128) MiB of socket option memory (TCP MD5 keys)" },
        { "tcp-unaccepted", probe_tcp_unaccepted, "[MIB]",
          "queue MIB (512) MiB in loopback TCP connections no process accepts" },
};
const size_t resource_probes_n = ELEMENTSOF(resource_probes);
