/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/resource.h>

#include "sandbox-internal.h"

/* Soft and hard both at @want, or at the current hard limit when @want is
 * above it: raising a hard limit needs CAP_SYS_RESOURCE in the initial user
 * namespace, which the sandbox never has (getrlimit(2)). */
static int set_limit(int resource, rlim_t want, const char *name, struct cd_err *err)
{
        struct rlimit cur, lim;

        if (getrlimit(resource, &cur) < 0)
                return cd_err_errno(err, "rlimit: get %s", name);
        if (cur.rlim_max != RLIM_INFINITY && want > cur.rlim_max)
                want = cur.rlim_max;
        lim.rlim_cur = lim.rlim_max = want;
        if (setrlimit(resource, &lim) < 0)
                return cd_err_errno(err, "rlimit: set %s", name);
        return 0;
}

int cd_rlimit_setup_child(const struct cd_plan *plan, struct cd_err *err)
{
        int r;

        r = set_limit(RLIMIT_CORE, 0, "core", err);
        if (r < 0)
                return r;
        r = set_limit(RLIMIT_NOFILE, (rlim_t) plan->limits.nofile, "nofile", err);
        if (r < 0)
                return r;
        /* Inherited from whoever started the supervisor, and not always 0:
         * a non-zero RLIMIT_RTPRIO lets a job take SCHED_FIFO, which no
         * CFS quota bounds (cgroup v2 has no real-time group limit), and
         * RLIMIT_NICE above 20 lets it go below nice 0 (sched(7)). */
        r = set_limit(RLIMIT_RTPRIO, 0, "rtprio", err);
        if (r < 0)
                return r;
        r = set_limit(RLIMIT_NICE, 0, "nice", err);
        if (r < 0)
                return r;
        return set_limit(RLIMIT_FSIZE, (rlim_t) plan->limits.fsize_bytes, "fsize", err);
}
