/* SPDX-License-Identifier: MIT */
/*
 * cordon-stress: small, static, bounded workloads for the limit tests, so
 * they need neither Python nor R (the cgroup v2 tests run in a minimal VM).
 *
 *   hog MIB            allocate and touch MIB mebibytes, then exit 0
 *   spin THREADS SECS  busy-loop THREADS threads for SECS seconds of wall time
 *   forkspin N SECS    fork N workers that each busy-loop for SECS seconds
 *   forkbomb SECS      fork sleeping children until SECS pass; prints how many
 *                      forks succeeded and how many failed with EAGAIN
 *   daemon             double-fork a grandchild that ignores SIGTERM and
 *                      sleeps, and a child that stops itself; then sleep
 *   fill PATH MIB      write up to MIB mebibytes to PATH; prints the errno
 *                      that stopped it ("ENOSPC") or "done"
 *   tcpfill PAIRS MIB  queue up to MIB mebibytes in loopback TCP connections
 *                      (at most PAIRS) that nobody reads; prints the MiB queued
 *   unaccepted MIB     queue up to MIB mebibytes in loopback TCP connections
 *                      that no process accepts (their client ends closed);
 *                      prints the MiB queued
 *   orphans PROCS N SECS  PROCS processes each make N loopback connections,
 *                      accept them and close the client end while the
 *                      accepted end stays open (each client an orphan in
 *                      FIN_WAIT2), and hold them SECS seconds; prints
 *                      "done" once all ended well
 *   tickdodge SECS     busy between scheduler ticks and asleep across them
 *                      for SECS seconds; prints its own exact CPU time in ms
 *   oomloop N MIB      N times, one after another, fork a child that hogs MIB
 *                      mebibytes; prints how many were killed, once all ran
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static long arg(const char *s)
{
        char *end;
        long v = strtol(s, &end, 10);

        if (*s == '\0' || *end != '\0' || v < 0) {
                fprintf(stderr, "cordon-stress: bad number\n");
                exit(2);
        }
        return v;
}

static int hog(long mib)
{
        for (long i = 0; i < mib; i++) {
                char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                               -1, 0);

                if (p == MAP_FAILED) {
                        printf("mmap failed after %ld MiB\n", i);
                        return 1;
                }
                memset(p, 0xa5, 1 << 20);
        }
        printf("allocated %ld MiB\n", mib);
        return 0;
}

static double spin_until;

static void *spinner(void *unused)
{
        volatile unsigned long x = 0;

        (void) unused;
        while (now() < spin_until)
                x++;
        return NULL;
}

static int spin(long threads, long secs)
{
        pthread_t t[64];

        if (threads < 1 || threads > 64)
                return 2;
        spin_until = now() + (double) secs;
        for (long i = 1; i < threads; i++)
                if (pthread_create(&t[i], NULL, spinner, NULL) != 0)
                        return 2;
        spinner(NULL);
        for (long i = 1; i < threads; i++)
                pthread_join(t[i], NULL);
        return 0;
}

static int forkspin(long n, long secs)
{
        spin_until = now() + (double) secs;
        for (long i = 0; i < n; i++) {
                pid_t p = fork();

                if (p < 0)
                        return 2;
                if (p == 0) {
                        spinner(NULL);
                        _exit(0);
                }
        }
        while (wait(NULL) > 0)
                ;
        return 0;
}

static int forkbomb(long secs)
{
        double until = now() + (double) secs;
        long ok = 0, eagain = 0;

        while (now() < until) {
                pid_t p = fork();

                if (p == 0) {
                        prctl(PR_SET_PDEATHSIG, SIGKILL);
                        pause();
                        _exit(0);
                }
                if (p > 0)
                        ok++;
                else if (errno == EAGAIN)
                        eagain++;
                else
                        break;
                if (ok > 100000)
                        break;
        }
        /* The children die with us (parent-death signal). */
        printf("forked %ld, refused %ld\n", ok, eagain);
        return 0;
}

static int daemonize(void)
{
        pid_t p = fork();

        if (p == 0) {
                if (fork() == 0) {
                        signal(SIGTERM, SIG_IGN);
                        setsid();
                        for (;;)
                                pause();
                }
                _exit(0);
        }
        waitpid(p, NULL, 0);
        if (fork() == 0) {
                raise(SIGSTOP);
                for (;;)
                        pause();
        }
        for (;;)
                pause();
}

static int fill(const char *path, long mib)
{
        static char buf[1 << 20];
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0) {
                printf("%s\n", strerrorname_np(errno));
                return 1;
        }
        memset(buf, 'x', sizeof(buf));
        for (long i = 0; i < mib; i++) {
                ssize_t n = write(fd, buf, sizeof(buf));

                if (n < 0) {
                        printf("%s\n", strerrorname_np(errno));
                        close(fd);
                        return 1;
                }
        }
        close(fd);
        printf("done\n");
        return 0;
}

/* One connection to @port, its accepted end left unread; returns the bytes
 * the sender queued before the kernel said no more, or -1. */
static long long tcp_pair_fill(int lfd, const struct sockaddr_in *sa, long long room)
{
        static char buf[1 << 16];
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        long long queued = 0;

        if (c < 0 || connect(c, (const struct sockaddr *) sa, sizeof(*sa)) < 0 ||
            accept4(lfd, NULL, NULL, SOCK_CLOEXEC) < 0 || fcntl(c, F_SETFL, O_NONBLOCK) < 0)
                return -1;
        while (queued < room) {
                ssize_t n = send(c, buf, sizeof(buf), MSG_NOSIGNAL);

                if (n <= 0)
                        break;
                queued += n;
        }
        return queued; /* both ends stay open until the process exits */
}

static int tcpfill(long pairs, long mib)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        long long total = 0, want = (long long) mib << 20;
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0 ||
            getsockname(lfd, (struct sockaddr *) &sa, &len) < 0) {
                printf("%s\n", strerrorname_np(errno));
                return 1;
        }
        for (long i = 0; i < pairs && total < want; i++) {
                long long q = tcp_pair_fill(lfd, &sa, want - total);

                if (q < 0)
                        break;
                total += q;
        }
        printf("%lld\n", total >> 20);
        return 0;
}

/* One connection to the listener at @sa, sent to until its receive
 * buffer is full, then closed: what it took waits in the listener's
 * accept queue. -1 once none can be made. */
static long long unaccepted_one(const struct sockaddr_in *sa)
{
        static char buf[65536];
        struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), outq = 0, small = 16384;
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        long long sent = 0;
        ssize_t n;

        /* A small send buffer, dropped at the close (a reset): what the job
         * itself holds, and is charged for, stays small. */
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) < 0 ||
            connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) < 0 ||
            fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        do
                while ((n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL)) > 0)
                        sent += n;
        while (n < 0 && errno == EAGAIN && poll(&p, 1, 20) == 1);
        if (ioctl(fd, SIOCOUTQ, &outq) < 0)
                outq = 0;
        (void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close));
        close(fd); /* what the peer took stays there */
        return sent - outq;
}

static int unaccepted(long mib)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        long long total = 0, want = (long long) mib << 20, q = 0;
        int big = 4 << 20; /* capped at net.core.rmem_max; inherited by each connection */

        for (int l = 0; l < 64 && total < want && q >= 0; l++) {
                int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

                sa.sin_port = 0;
                if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)) < 0 ||
                    bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0 ||
                    getsockname(lfd, (struct sockaddr *) &sa, &len) < 0) {
                        printf("%s\n", strerrorname_np(errno));
                        return 1;
                }
                /* Listeners stay open until the process exits. */
                for (int i = 0; i < 4096 && total < want && (q = unaccepted_one(&sa)) >= 0; i++)
                        total += q;
                q = 0;
        }
        printf("%lld\n", total >> 20);
        return 0;
}

/* N orphans of one process, held @secs; 0 if all were made. */
static int orphans_one(long n, long secs)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 64) < 0 ||
            getsockname(lfd, (struct sockaddr *) &sa, &len) < 0)
                return 1;
        for (long i = 0; i < n; i++) {
                int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

                if (c < 0 || connect(c, (const struct sockaddr *) &sa, sizeof(sa)) < 0 ||
                    accept4(lfd, NULL, NULL, SOCK_CLOEXEC) < 0)
                        return 1;
                close(c); /* the accepted end stays open: c lingers in FIN_WAIT2 */
        }
        sleep((unsigned int) secs);
        return 0;
}

static int orphans(long procs, long n, long secs)
{
        int failed = 0, status;

        for (long p = 0; p < procs; p++) {
                pid_t pid = fork();

                if (pid < 0)
                        return 1;
                if (pid == 0)
                        _exit(orphans_one(n, secs));
        }
        while (wait(&status) > 0)
                failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        printf("%s\n", failed ? "failed" : "done");
        return 0;
}

static long long clock_ns(clockid_t c)
{
        struct timespec ts;

        clock_gettime(c, &ts);
        return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Busy between scheduler ticks, asleep across each: the tick-sampled
 * user/system times see almost none of it. The coarse clock moves at the
 * tick, and its resolution is the tick's period. Prints the process's own
 * exact CPU time in ms. */
static int tickdodge(long secs)
{
        struct timespec res;
        long long period, edge, end;
        volatile unsigned long x = 0;

        if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) < 0 || res.tv_sec != 0 ||
            res.tv_nsec < 1000000) {
                printf("no tick to dodge\n");
                return 1;
        }
        period = res.tv_nsec;
        edge = clock_ns(CLOCK_MONOTONIC_COARSE);
        while (clock_ns(CLOCK_MONOTONIC_COARSE) == edge)
                x++;
        edge = clock_ns(CLOCK_MONOTONIC); /* just after a tick */
        end = edge + secs * 1000000000LL;
        while (clock_ns(CLOCK_MONOTONIC) < end) {
                long long wake;
                struct timespec ts;

                edge += period;
                while (clock_ns(CLOCK_MONOTONIC) < edge - period / 4)
                        x++;
                wake = edge + period / 16;
                ts.tv_sec = wake / 1000000000LL;
                ts.tv_nsec = wake % 1000000000LL;
                (void) clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        printf("%lld\n", clock_ns(CLOCK_PROCESS_CPUTIME_ID) / 1000000);
        return 0;
}

static int oomloop(long n, long mib)
{
        long killed = 0;

        for (long i = 0; i < n; i++) {
                pid_t pid = fork();
                int status;

                if (pid < 0)
                        return 1;
                if (pid == 0)
                        _exit(hog(mib));
                if (waitpid(pid, &status, 0) != pid)
                        return 1;
                killed += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        }
        printf("all %ld ran, %ld killed\n", n, killed);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc >= 3 && strcmp(argv[1], "hog") == 0)
                return hog(arg(argv[2]));
        if (argc >= 4 && strcmp(argv[1], "spin") == 0)
                return spin(arg(argv[2]), arg(argv[3]));
        if (argc >= 4 && strcmp(argv[1], "forkspin") == 0)
                return forkspin(arg(argv[2]), arg(argv[3]));
        if (argc >= 3 && strcmp(argv[1], "forkbomb") == 0)
                return forkbomb(arg(argv[2]));
        if (argc >= 2 && strcmp(argv[1], "daemon") == 0)
                return daemonize();
        if (argc >= 4 && strcmp(argv[1], "fill") == 0)
                return fill(argv[2], arg(argv[3]));
        if (argc >= 4 && strcmp(argv[1], "tcpfill") == 0)
                return tcpfill(arg(argv[2]), arg(argv[3]));
        if (argc >= 3 && strcmp(argv[1], "unaccepted") == 0)
                return unaccepted(arg(argv[2]));
        if (argc >= 5 && strcmp(argv[1], "orphans") == 0)
                return orphans(arg(argv[2]), arg(argv[3]), arg(argv[4]));
        if (argc >= 3 && strcmp(argv[1], "tickdodge") == 0)
                return tickdodge(arg(argv[2]));
        if (argc >= 4 && strcmp(argv[1], "oomloop") == 0)
                return oomloop(arg(argv[2]), arg(argv[3]));
        fprintf(stderr, "usage: cordon-stress hog MIB | spin THREADS SECS | forkspin N SECS | "
                        "forkbomb SECS | daemon | fill PATH MIB | tcpfill PAIRS MIB | unaccepted "
                        "MIB | orphans PROCS N SECS | "
                        "tickdodge SECS | oomloop N MIB\n");
        return 2;
}
