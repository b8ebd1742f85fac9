/* SPDX-License-Identifier: MIT */
/*
 * The job's network namespace: only loopback, brought up with libnl.
 *
 * The supervisor makes it, not clone3 in the child: the cloning thread
 * moves itself into a new network namespace (unshare(CLONE_NEWNET) changes
 * only the calling thread), brings loopback up there (libnl allocates,
 * which the post-clone child must not), clones the child into it and goes
 * back. The namespace is therefore owned by the initial user namespace: the
 * job holds no privilege over it, not even in principle, since
 * capabilities in the job's own user namespace never reach it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <sched.h>
#include <unistd.h>

#include "cordon/cleanup.h"
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

int cd_netns_enter_new(int *ret_own_fd, struct cd_err *err)
{
        int own, r;

        if (cd_fault("net"))
                return cd_err_set(err, CD_E_FAULT, "net: injected fault");
        own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (own < 0)
                return cd_err_errno(err, "net: open own network namespace");
        if (unshare(CLONE_NEWNET) < 0) {
                r = cd_err_errno(err, "net: create network namespace");
                (void) cd_close(own);
                return r;
        }
        r = loopback_up(err);
        if (r < 0) {
                struct cd_err leave_err;

                (void) cd_netns_leave(own, &leave_err);
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
