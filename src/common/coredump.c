/* SPDX-License-Identifier: MIT */
/*
 * The RLIMIT_CORE that keeps a crash dump of a process holding job data on
 * the host, for the sandbox and for the artifact sniffer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cordon/coredump.h"

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
static int core_limit(rlim_t *ret, struct cd_err *err)
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
        rlim_t want = 1;
        int r = core_limit(&want, err);

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
