/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cordon/coredump.h"
#include "cordon/util.h"
#include "sandbox-internal.h"

#define CD_JOB_MEMLOCK_BYTES  (8ULL << 20)
#define CD_JOB_MSGQUEUE_BYTES 819200ULL

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

        r = cd_core_limit_set(err);
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
        /* Also inherited, and a unit's LimitMEMLOCK=infinity would let a job
         * pin memory (mlockall, memfd_secret) beyond what swap-less memcg
         * accounting shows: the kernel's defaults, 8 MiB and 800 KiB. */
        r = set_limit(RLIMIT_MEMLOCK, CD_JOB_MEMLOCK_BYTES, "memlock", err);
        if (r < 0)
                return r;
        r = set_limit(RLIMIT_MSGQUEUE, CD_JOB_MSGQUEUE_BYTES, "msgqueue", err);
        if (r < 0)
                return r;
        r = set_limit(RLIMIT_NICE, 0, "nice", err);
        if (r < 0)
                return r;
        r = set_limit(RLIMIT_FSIZE, (rlim_t) plan->limits.fsize_bytes, "fsize", err);
        if (r == 0 && cd_fault("rlimit"))
                r = cd_err_set(err, CD_E_FAULT, "rlimit: injected fault");
        return r;
}

/* The job is the host OOM killer's first choice, whatever the supervisor's
 * own score (a unit's OOMScoreAdjust=-1000 would otherwise pass down, and a
 * job at its memory limit with no task the kernel may kill would hang
 * instead of ending as oom). The job cannot lower it: that needs
 * CAP_SYS_RESOURCE. */
int cd_oom_setup_parent(pid_t pid, struct cd_err *err)
{
        char path[64];
        int r;

        if (cd_fault("oom"))
                return cd_err_set(err, CD_E_FAULT, "oom: injected fault");
        (void) snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int) pid);
        r = cd_write_at(AT_FDCWD, path, CD_JOB_OOM_SCORE_ADJ);
        if (r < 0)
                return cd_err_neg(err, r, "oom: set the job's oom_score_adj");
        return 0;
}
