/* SPDX-License-Identifier: MIT */
/*
 * The job's network namespace: only loopback, brought up with libnl.
 *
 * The supervisor makes it, not clone3 in the child: a thread of its own
 * moves itself into a new network namespace (unshare(CLONE_NEWNET) changes
 * only the calling thread), brings loopback up there (libnl allocates,
 * which the post-clone child must not) and hands the namespace back as an
 * fd. It does so while the launching thread builds the cgroup and the file
 * systems: creating a network namespace is the most expensive single step
 * of a launch (docs/performance.md). The launching thread then steps into
 * the namespace for the clone3 alone. The namespace is therefore owned by
 * the initial user namespace: the job holds no privilege over it, not even
 * in principle, since capabilities in the job's own user namespace never
 * reach it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/util.h"
#include "sandbox-internal.h"

/* Linux gives the loopback device index 1 in every network namespace. */
#define LOOPBACK_IFINDEX 1

static void nl_socket_freep(struct nl_sock **s)
{
        if (*s)
                nl_socket_free(*s);
}

static void rtnl_link_putp(struct rtnl_link **l)
{
        if (*l)
                rtnl_link_put(*l);
}

/* One RTM_NEWLINK request: lo up. */
static int loopback_up(struct cd_err *err)
{
        cleanup_with(nl_socket_freep) struct nl_sock *sk = NULL;
        cleanup_with(rtnl_link_putp) struct rtnl_link *lo = NULL;
        int r;

        sk = nl_socket_alloc();
        lo = rtnl_link_alloc();
        if (!sk || !lo)
                return cd_err_set(err, ENOMEM, "net: out of memory");
        r = nl_connect(sk, NETLINK_ROUTE);
        if (r < 0)
                return cd_err_set(err, EIO, "net: netlink connect: %s", nl_geterror(r));
        rtnl_link_set_ifindex(lo, LOOPBACK_IFINDEX);
        rtnl_link_set_flags(lo, IFF_UP);
        r = rtnl_link_change(sk, lo, lo, 0);
        if (r < 0)
                return cd_err_set(err, EIO, "net: bring lo up: %s", nl_geterror(r));
        return 0;
}

/* Write @value to the sysctl @path of this thread's network namespace
 * (/proc/sys is the calling thread's). A kernel that keeps the setting
 * host-wide shows it read-only or not at all in a new namespace: nothing
 * is set then (never the host's), and docs/threat-model.md says what is
 * left. */
static int netns_sysctl(const char *path, const char *value, struct cd_err *err)
{
        int r = cd_write_at(AT_FDCWD, path, value);

        if (r == -ENOENT || r == -EACCES || r == -EPERM || r == -EROFS)
                return 0;
        if (r < 0)
                return cd_err_neg(err, r, "net: set %s", path + strlen("/proc/sys/"));
        return 0;
}

/*
 * No transmit timestamp that carries a copy of the packet: a job may ask
 * for one on any packet by a control message (SO_TIMESTAMPING in
 * sendmsg(2), which seccomp cannot see), and each copy waits in the
 * socket's error queue, up to its SO_RCVBUF, in memory no memory cgroup is
 * charged for (sandbox/seccomp-policy.c, rules_error_queue()). With 0 only
 * holders of CAP_NET_RAW in the initial user namespace get them.
 */
static int no_tx_timestamp_copies(struct cd_err *err)
{
        return netns_sysctl("/proc/sys/net/core/tstamp_allow_data", "0", err);
}

/*
 * Each socket may hold up to net.core.optmem_max of kernel memory for its
 * options (keys, group lists, filters, large control messages), which no
 * memory cgroup is charged for: 128 KiB a socket by default on this
 * kernel, where a socket itself is charged about 3 KiB, so a job could
 * hold forty times its memory limit. seccomp refuses the options that
 * fill it (sandbox/seccomp-policy.c, rules_uncharged_options()); this
 * bounds whatever is left to less than the socket's own charge, with room
 * for a control message carrying the most fds one can (253, about 1 KiB).
 * Per namespace since Linux 6.8.
 */
static int small_option_memory(struct cd_err *err)
{
        return netns_sysctl("/proc/sys/net/core/optmem_max", "2048", err);
}

/* The maker thread's body. It ends inside the new namespace, which the fd
 * keeps alive. */
static void *make_netns(void *arg)
{
        struct cd_netns_maker *m = arg;

        if (cd_fault("net_up")) { /* a failure on the maker's side */
                m->r = cd_err_set(&m->err, CD_E_FAULT, "net_up: injected fault");
                return NULL;
        }
        if (unshare(CLONE_NEWNET) < 0) {
                m->r = cd_err_errno(&m->err, "net: create network namespace");
                return NULL;
        }
        m->r = loopback_up(&m->err);
        if (m->r == 0)
                m->r = no_tx_timestamp_copies(&m->err);
        if (m->r == 0)
                m->r = small_option_memory(&m->err);
        if (m->r < 0)
                return NULL;
        m->fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (m->fd < 0)
                m->r = cd_err_errno(&m->err, "net: open the new network namespace");
        return NULL;
}

void cd_netns_maker_init(struct cd_netns_maker *m)
{
        *m = (struct cd_netns_maker){ .fd = -1 };
}

int cd_netns_make_start(struct cd_netns_maker *m, struct cd_err *err)
{
        int r;

        if (cd_fault("net"))
                return cd_err_set(err, CD_E_FAULT, "net: injected fault");
        /* The maker takes no signal: they are for the launching threads. */
        r = cd_thread_start_unsignalled(&m->thread, make_netns, m);
        if (r != 0)
                return cd_err_set(err, r, "net: start the maker thread");
        m->started = true;
        return 0;
}

static int join(struct cd_netns_maker *m)
{
        int r;

        if (!m->started)
                return 0;
        m->started = false;
        r = pthread_join(m->thread, NULL);
        return r == 0 ? 0 : -r;
}

int cd_netns_make_finish(struct cd_netns_maker *m, int *ret_fd, struct cd_err *err)
{
        int r = join(m);

        if (r < 0)
                return cd_err_neg(err, r, "net: wait for the maker thread");
        if (m->r < 0) {
                *err = m->err;
                return m->r;
        }
        *ret_fd = m->fd;
        m->fd = -1;
        return 0;
}

void cd_netns_make_destroy(struct cd_netns_maker *m)
{
        /* Joining only fails for a thread that is not joinable, and this one is. */
        (void) join(m);
        m->fd = cd_close(m->fd);
}

int cd_netns_enter(int netns_fd, int *ret_own_fd, struct cd_err *err)
{
        int own, r;

        own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (own < 0)
                return cd_err_errno(err, "net: open own network namespace");
        if (setns(netns_fd, CLONE_NEWNET) < 0) {
                r = cd_err_errno(err, "net: enter the job's network namespace");
                (void) cd_close(own);
                return r;
        }
        *ret_own_fd = own;
        return 0;
}

int cd_netns_leave(int own_fd, struct cd_err *err)
{
        int r = 0;

        /* Going back cannot fail for a thread that could leave (setns(2) asks
         * for the same capability); if it ever did, the launch fails. */
        if (setns(own_fd, CLONE_NEWNET) < 0)
                r = cd_err_errno(err, "net: return to own network namespace");
        (void) cd_close(own_fd);
        return r;
}

/* /proc/net/tcp lists the listeners first; the rows of a few thousand are
 * read at one check, not all a job could make. */
#define LISTENER_ROWS_MAX 4096
#define TCP_LISTEN        0x0A

/* Sum the accept queues of the listeners in one table: a listener's row
 * has state 0A and its queue's length where others have rx_queue. */
static int add_unaccepted(pid_t pid, const char *table, uint64_t *sum)
{
        char path[64];
        char *line = NULL;
        size_t cap = 0;
        unsigned int rows = 0;
        FILE *f;
        int r = 0;

        (void) snprintf(path, sizeof(path), "/proc/%d/net/%s", (int) pid, table);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (getline(&line, &cap, f) < 0) /* the header */
                r = ferror(f) ? -EIO : 0;
        while (r == 0 && getline(&line, &cap, f) >= 0) {
                unsigned int st;
                unsigned long queued;

                if (sscanf(line, "%*s %*s %*s %x %*x:%lx", &st, &queued) != 2) {
                        r = -EIO;
                        break;
                }
                if (st != TCP_LISTEN)
                        break;
                if (++rows > LISTENER_ROWS_MAX)
                        r = -E2BIG;
                *sum += queued;
        }
        if (r == 0 && ferror(f))
                r = -EIO;
        free(line);
        (void) fclose(f);
        return r;
}

int cd_netns_unaccepted(pid_t pid, uint64_t *ret)
{
        uint64_t sum = 0;
        int r = add_unaccepted(pid, "tcp", &sum);

        if (r == 0)
                r = add_unaccepted(pid, "tcp6", &sum);
        *ret = sum;
        return r;
}

/* The count after "@key inuse " in /proc/@pid/net/@file. */
static int sockstat_inuse(pid_t pid, const char *file, const char *key, uint64_t *sum)
{
        char path[64], buf[1024];
        unsigned long long v;
        ssize_t n;
        char *at;

        (void) snprintf(path, sizeof(path), "/proc/%d/net/%s", (int) pid, file);
        n = cd_read_at(AT_FDCWD, path, buf, sizeof(buf));
        if (n < 0)
                return (int) n;
        at = strstr(buf, key);
        if (!at || (at != buf && at[-1] != '\n') ||
            sscanf(at + strlen(key), " inuse %llu", &v) != 1)
                return -EIO;
        *sum += v;
        return 0;
}

int cd_netns_tcp_sockets(pid_t pid, uint64_t *ret)
{
        uint64_t sum = 0;
        int r = sockstat_inuse(pid, "sockstat", "TCP:", &sum);

        if (r == 0)
                r = sockstat_inuse(pid, "sockstat6", "TCP6:", &sum);
        *ret = sum;
        return r;
}

static uint64_t sysctl_field(const char *path, int field)
{
        char buf[128];
        unsigned long long v[3] = { 0, 0, 0 };
        ssize_t n = cd_read_at(AT_FDCWD, path, buf, sizeof(buf));

        if (n <= 0 || sscanf(buf, "%llu %llu %llu", &v[0], &v[1], &v[2]) < field + 1)
                return 0;
        return v[field];
}

uint64_t cd_netns_conn_bytes_max(void)
{
        uint64_t rcvbuf = 2 * sysctl_field("/proc/sys/net/core/rmem_max", 0);
        uint64_t initial = sysctl_field("/proc/sys/net/ipv4/tcp_rmem", 1);

        return rcvbuf > initial ? rcvbuf : initial;
}
