/* SPDX-License-Identifier: MIT */
/*
 * The job's network namespace has only loopback. It is brought up from the
 * parent: libnl allocates, which the post-clone child must not. A netlink
 * socket belongs to the namespace it was created in, so the calling thread
 * enters the job's namespace only for socket creation and returns at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <sched.h>

#include "cordon/cleanup.h"
#include "sandbox-internal.h"

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

/* Connect @sk inside the network namespace of @pidfd. */
static int connect_in_netns(struct nl_sock *sk, int pidfd, struct cd_err *err)
{
        cleanup_close int self = -1;
        int r, nlr;

        self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return cd_err_errno(err, "net: open own namespace");
        if (setns(pidfd, CLONE_NEWNET) < 0)
                return cd_err_errno(err, "net: enter job namespace");
        nlr = nl_connect(sk, NETLINK_ROUTE);
        /* Going back cannot fail for a process that could enter (setns(2)
         * needs the same capability); if it ever did, this thread must not go on. */
        r = setns(self, CLONE_NEWNET);
        if (r < 0)
                return cd_err_errno(err, "net: return to own namespace");
        if (nlr < 0)
                return cd_err_set(err, EIO, "net: netlink connect: %s", nl_geterror(nlr));
        return 0;
}

int cd_net_setup_parent(int pidfd, struct cd_err *err)
{
        cleanup_with(nl_socket_freep) struct nl_sock *sk = NULL;
        cleanup_with(rtnl_link_putp) struct rtnl_link *lo = NULL;
        cleanup_with(rtnl_link_putp) struct rtnl_link *change = NULL;
        int r;

        if (cd_fault("net"))
                return cd_err_set(err, CD_E_FAULT, "net: injected fault");
        sk = nl_socket_alloc();
        if (!sk)
                return cd_err_set(err, ENOMEM, "net: out of memory");
        r = connect_in_netns(sk, pidfd, err);
        if (r < 0)
                return r;
        r = rtnl_link_get_kernel(sk, 0, "lo", &lo);
        if (r < 0)
                return cd_err_set(err, EIO, "net: find lo: %s", nl_geterror(r));
        change = rtnl_link_alloc();
        if (!change)
                return cd_err_set(err, ENOMEM, "net: out of memory");
        rtnl_link_set_flags(change, IFF_UP);
        r = rtnl_link_change(sk, lo, change, 0);
        if (r < 0)
                return cd_err_set(err, EIO, "net: bring lo up: %s", nl_geterror(r));
        return 0;
}
