/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

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
        return set_limit(RLIMIT_FSIZE, (rlim_t) plan->limits.fsize_bytes, "fsize", err);
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

        (void) snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int) pid);
        r = cd_write_at(AT_FDCWD, path, CD_JOB_OOM_SCORE_ADJ);
        if (r < 0)
                return cd_err_neg(err, r, "oom: set the job's oom_score_adj");
        return 0;
}

/*
 * RLIMIT_CORE 0 stops core files, but not a core_pattern that pipes the
 * dump to a helper ("|/usr/lib/systemd/systemd-coredump ..."): the kernel
 * starts that anyway, as root on the host and outside the job's cgroup,
 * and hands it the job's memory, command line and environment (into the
 * journal, a crash report): a way for the job's data out of the sandbox.
 * Only a limit of exactly 1 makes the kernel skip it (core(5)), and 1 byte
 * is too small for a core file. So: 1 there, or when the pattern cannot be
 * read; 0 otherwise.
 *
 * A pattern that sends dumps to a unix socket ("@/path", "@@/path", Linux
 * 6.16 and later) ignores RLIMIT_CORE altogether: no job runs on such a
 * host. The sysctl is global and read at each launch.
 */
int cd_core_limit(rlim_t *ret, struct cd_err *err)
{
        char c = 0;
        int fd = open("/proc/sys/kernel/core_pattern", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, &c, 1);

        if (fd >= 0)
                (void) close(fd);
        if (n == 1 && c == '@')
                return cd_err_set(err, EPERM,
                                  "core: kernel.core_pattern sends core dumps to a socket, "
                                  "which no RLIMIT_CORE stops: a crashing job's memory would "
                                  "leave the sandbox (set core_pattern to a file or a pipe)");
        *ret = n == 1 && c != '|' ? 0 : 1;
        return 0;
}

/* Exactly the limit above, soft and hard, or the launch fails: a hard
 * limit of 0 inherited from whoever started the supervisor (LimitCORE=0,
 * `ulimit -c 0`) cannot be raised to 1 without CAP_SYS_RESOURCE in the
 * initial user namespace, and 0 is the value that lets the helper run. */
int cd_core_limit_set(struct cd_err *err)
{
        struct rlimit lim;
        rlim_t want;
        int r = cd_core_limit(&want, err);

        if (r < 0)
                return r;
        lim.rlim_cur = lim.rlim_max = want;
        if (setrlimit(RLIMIT_CORE, &lim) < 0)
                return cd_err_errno(err,
                                    want ? "core: a piped core_pattern needs RLIMIT_CORE 1, above "
                                           "the hard limit cordon was started with (LimitCORE=1 "
                                           "or more)"
                                         : "core: set RLIMIT_CORE 0");
        return 0;
}
