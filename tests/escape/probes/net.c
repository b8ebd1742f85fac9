/* SPDX-License-Identifier: MIT */
/*
 * Network: interfaces other than lo, raw and packet sockets, route changes
 * over netlink, DNS, TCP to a listener on the host, and the host's unix
 * sockets (abstract and path). The listeners are the harness's.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "probe.h"

#define CONNECT_TIMEOUT_MS 3000
#define REPLY_TIMEOUT_MS   2000
#define MAX_SERVERS        4

static int probe_net_only_lo(struct probe_ctx *c, int argc, char **argv)
{
        static char buf[16384];
        char *save = NULL;
        int others = 0, lines = 0;
        ssize_t n;

        (void) argc;
        (void) argv;
        n = read_text("/proc/net/dev", buf, sizeof(buf));
        if (n < 0)
                return verdict(c, BROKEN, "/proc/net/dev: %s", ename((int) -n));
        for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char name[IFNAMSIZ + 1];

                if (lines++ < 2 || sscanf(l, " %16[^:]:", name) != 1)
                        continue; /* the two header lines */
                if (strcmp(name, "lo") != 0 && others++ < 6)
                        note(c, "interface %s", name);
        }
        if (others)
                return verdict(c, ESCAPED, "%d interfaces besides lo", others);
        return verdict(c, c->bare ? NOT_APPLICABLE : BLOCKED, "lo is the only interface");
}

static int try_socket(struct probe_ctx *c, int domain, int type, int protocol, const char *what)
{
        int fd = socket(domain, type | SOCK_CLOEXEC, protocol);

        if (fd < 0)
                return refused(c, errno, what);
        (void) close(fd);
        return verdict(c, ESCAPED, "%s created", what);
}

static int any_escaped(const int *r, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (r[i] == ESCAPED)
                        return ESCAPED;
        return BLOCKED;
}

static int probe_raw_socket(struct probe_ctx *c, int argc, char **argv)
{
        int r[3];

        (void) argc;
        (void) argv;
        r[0] = try_socket(c, AF_INET, SOCK_RAW, IPPROTO_ICMP, "raw IPv4 ICMP socket");
        r[1] = try_socket(c, AF_INET, SOCK_RAW, IPPROTO_RAW, "raw IPv4 socket");
        r[2] = try_socket(c, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6, "raw IPv6 ICMP socket");
        return any_escaped(r, ELEMENTSOF(r));
}

static int probe_packet_socket(struct probe_ctx *c, int argc, char **argv)
{
        int r[3];

        (void) argc;
        (void) argv;
        r[0] = try_socket(c, AF_PACKET, SOCK_RAW, htons(ETH_P_ALL), "AF_PACKET raw socket");
        r[1] = try_socket(c, AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL), "AF_PACKET dgram socket");
        r[2] = try_socket(c, AF_INET, SOCK_PACKET, htons(ETH_P_ALL), "SOCK_PACKET socket");
        return any_escaped(r, ELEMENTSOF(r));
}

/*
 * RTM_NEWLINK for an interface index that does not exist, without
 * NLM_F_CREATE: rtnetlink checks CAP_NET_ADMIN first (EPERM), the handler
 * then answers ENODEV. Nothing is changed either way.
 */
static int probe_netlink_route(struct probe_ctx *c, int argc, char **argv)
{
        struct {
                struct nlmsghdr nh;
                struct ifinfomsg ifi;
        } req = {
                .nh = { .nlmsg_len = sizeof(req),
                        .nlmsg_type = RTM_NEWLINK,
                        .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
                        .nlmsg_seq = 1 },
                .ifi = { .ifi_family = AF_UNSPEC,
                         .ifi_index = 0x7ffffff0,
                         .ifi_flags = IFF_UP,
                         .ifi_change = IFF_UP },
        };
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        union {
                struct nlmsghdr nh;
                char buf[4096];
        } ans;
        struct pollfd p;
        const struct nlmsgerr *e;
        ssize_t n;
        int fd;

        (void) argc;
        (void) argv;
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return refused(c, errno, "NETLINK_ROUTE socket");
        if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *) &kernel, sizeof(kernel)) < 0) {
                int err = errno;

                (void) close(fd);
                return refused(c, err, "send RTM_NEWLINK");
        }
        p = (struct pollfd){ .fd = fd, .events = POLLIN };
        if (poll(&p, 1, REPLY_TIMEOUT_MS) != 1) {
                (void) close(fd);
                return verdict(c, BROKEN, "no answer from rtnetlink");
        }
        n = recv(fd, &ans, sizeof(ans), 0);
        (void) close(fd);
        if (n < (ssize_t) (sizeof(struct nlmsghdr) + sizeof(struct nlmsgerr)) ||
            ans.nh.nlmsg_type != NLMSG_ERROR)
                return verdict(c, BROKEN, "unexpected rtnetlink answer");
        e = NLMSG_DATA(&ans.nh);
        if (e->error == -EPERM || e->error == -EACCES)
                return refused(c, -e->error, "RTM_NEWLINK");
        return verdict(c, ESCAPED, "RTM_NEWLINK was permitted (%s for a missing interface)",
                       e->error ? ename(-e->error) : "success");
}

struct endpoint {
        struct sockaddr_storage addr;
        socklen_t len;
        char text[INET6_ADDRSTRLEN + 8];
};

static int parse_endpoint(const char *host, const char *port, struct endpoint *ret)
{
        unsigned long long p;
        struct sockaddr_in *v4 = (struct sockaddr_in *) &ret->addr;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &ret->addr;

        if (parse_uint(port, 65535, &p) < 0 || p == 0)
                return -EINVAL;
        memset(ret, 0, sizeof(*ret));
        if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
                v4->sin_family = AF_INET;
                v4->sin_port = htons((uint16_t) p);
                ret->len = sizeof(*v4);
        } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
                v6->sin6_family = AF_INET6;
                v6->sin6_port = htons((uint16_t) p);
                ret->len = sizeof(*v6);
        } else {
                return -EINVAL;
        }
        (void) snprintf(ret->text, sizeof(ret->text), "%s:%llu", host, p);
        return 0;
}

/* Connect with a timeout; returns the fd or -errno. */
static int connect_timeout(const struct sockaddr *a, socklen_t len, int type)
{
        struct pollfd p;
        socklen_t elen = sizeof(int);
        int fd, err = 0;

        fd = socket(a->sa_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, a, len) == 0)
                return fd;
        if (errno != EINPROGRESS) {
                err = errno;
                (void) close(fd);
                return -err;
        }
        p = (struct pollfd){ .fd = fd, .events = POLLOUT };
        if (poll(&p, 1, CONNECT_TIMEOUT_MS) != 1) {
                (void) close(fd);
                return -ETIMEDOUT;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
                err = errno;
        if (err) {
                (void) close(fd);
                return -err;
        }
        return fd;
}

/* What the listener says first, for the record. */
static void banner(struct probe_ctx *c, int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char buf[64];
        ssize_t n;

        if (poll(&p, 1, 1000) != 1)
                return;
        n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
                return;
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        note(c, "it said '%s'", buf);
}

static int probe_tcp_connect(struct probe_ctx *c, int argc, char **argv)
{
        struct endpoint ep;
        int fd;

        if (argc != 2 || parse_endpoint(argv[0], argv[1], &ep) < 0)
                return verdict(c, BROKEN, "usage: tcp-connect HOST PORT");
        fd = connect_timeout((struct sockaddr *) &ep.addr, ep.len, SOCK_STREAM);
        if (fd < 0)
                return verdict(c, BLOCKED, "connect %s: %s", ep.text, ename(-fd));
        note(c, "connected to %s", ep.text);
        banner(c, fd);
        (void) close(fd);
        return ESCAPED;
}

static size_t resolv_conf(struct endpoint *eps, size_t max)
{
        char buf[4096], *save = NULL;
        size_t n = 0;

        if (read_text("/etc/resolv.conf", buf, sizeof(buf)) <= 0)
                return 0;
        for (char *l = strtok_r(buf, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save)) {
                char host[INET6_ADDRSTRLEN];

                if (sscanf(l, " nameserver %45s", host) == 1 &&
                    parse_endpoint(host, "53", &eps[n]) == 0)
                        n++;
        }
        return n;
}

/* One query for cordon-probe.example. A; any answer with our id counts. */
static int ask(struct probe_ctx *c, const struct endpoint *ep)
{
        static const unsigned char tail[] = { 12,  'c', 'o', 'r', 'd', 'o', 'n', '-', 'p',
                                              'r', 'o', 'b', 'e', 7,   'e', 'x', 'a', 'm',
                                              'p', 'l', 'e', 0,   0,   1,   0,   1 };
        unsigned char q[12 + sizeof(tail)] = { 0 }, a[512];
        unsigned int id = (unsigned int) getpid() & 0xffff;
        struct pollfd p;
        ssize_t n;
        int fd;

        q[0] = (unsigned char) (id >> 8);
        q[1] = (unsigned char) id;
        q[2] = 0x01; /* recursion desired */
        q[5] = 1;    /* one question */
        memcpy(q + 12, tail, sizeof(tail));
        fd = connect_timeout((const struct sockaddr *) &ep->addr, ep->len, SOCK_DGRAM);
        if (fd < 0)
                return verdict(c, BLOCKED, "udp %s: %s", ep->text, ename(-fd));
        if (send(fd, q, sizeof(q), 0) < 0) {
                note(c, "send to %s: %s", ep->text, ename(errno));
                (void) close(fd);
                return BLOCKED;
        }
        p = (struct pollfd){ .fd = fd, .events = POLLIN };
        n = poll(&p, 1, REPLY_TIMEOUT_MS) == 1 ? recv(fd, a, sizeof(a), 0) : -1;
        (void) close(fd);
        if (n >= 12 && a[0] == q[0] && a[1] == q[1] && (a[2] & 0x80))
                return verdict(c, ESCAPED, "DNS answer from %s", ep->text);
        note(c, "no answer from %s", ep->text);
        return BLOCKED;
}

static int probe_dns(struct probe_ctx *c, int argc, char **argv)
{
        struct endpoint eps[MAX_SERVERS];
        size_t n;

        if (argc == 2) {
                if (parse_endpoint(argv[0], argv[1], &eps[0]) < 0)
                        return verdict(c, BROKEN, "usage: dns [SERVER PORT]");
                n = 1;
        } else if (argc == 0) {
                n = resolv_conf(eps, MAX_SERVERS);
                if (n == 0)
                        return verdict(c, BLOCKED, "no name server in /etc/resolv.conf");
        } else {
                return verdict(c, BROKEN, "usage: dns [SERVER PORT]");
        }
        for (size_t i = 0; i < n; i++)
                if (ask(c, &eps[i]) == ESCAPED)
                        return ESCAPED;
        return BLOCKED;
}

static int unix_connect(struct probe_ctx *c, const char *name, bool abstract)
{
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        size_t len = strlen(name);
        int fd;

        if (len == 0 || len + 1 >= sizeof(a.sun_path))
                return verdict(c, BROKEN, "bad socket name");
        memcpy(a.sun_path + (abstract ? 1 : 0), name, len);
        fd = connect_timeout(
                (struct sockaddr *) &a,
                (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + (abstract ? 1 : 0)),
                SOCK_STREAM);
        if (fd < 0)
                return verdict(c, BLOCKED, "connect %s%s: %s", abstract ? "@" : "", name,
                               ename(-fd));
        note(c, "connected to %s%s", abstract ? "@" : "", name);
        banner(c, fd);
        (void) close(fd);
        return ESCAPED;
}

static int probe_abstract_connect(struct probe_ctx *c, int argc, char **argv)
{
        if (argc != 1)
                return verdict(c, BROKEN, "usage: abstract-connect NAME");
        return unix_connect(c, argv[0], true);
}

static int probe_unix_connect(struct probe_ctx *c, int argc, char **argv)
{
        if (argc != 1 || argv[0][0] != '/')
                return verdict(c, BROKEN, "usage: unix-connect /PATH");
        return unix_connect(c, argv[0], false);
}

const struct probe net_probes[] = {
        { "net-only-lo", probe_net_only_lo, "", "an interface other than lo in /proc/net/dev" },
        { "raw-socket", probe_raw_socket, "", "raw IPv4/IPv6 sockets" },
        { "packet-socket", probe_packet_socket, "", "AF_PACKET and SOCK_PACKET sockets" },
        { "netlink-route", probe_netlink_route, "",
          "RTM_NEWLINK over NETLINK_ROUTE (permission check only)" },
        { "tcp-connect", probe_tcp_connect, "HOST PORT", "TCP connection to HOST:PORT" },
        { "dns", probe_dns, "[SERVER PORT]",
          "a DNS answer from SERVER or the name servers in /etc/resolv.conf" },
        { "abstract-connect", probe_abstract_connect, "NAME", "connect to abstract socket @NAME" },
        { "unix-connect", probe_unix_connect, "PATH", "connect to the unix socket PATH" },
};
const size_t net_probes_n = ELEMENTSOF(net_probes);
