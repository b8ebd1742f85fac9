/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Whether the kernel would run syscall @nr, asked without running it: a
 * filter loaded on top answers @nr with SECCOMP_RET_TRACE, which with no
 * tracer attached fails the call with ENOSYS without running it. The
 * kernel takes the strongest answer of all filters, and ERRNO outranks
 * TRACE, so an ERRNO(e) from a filter loaded before (cordon's) wins and the
 * call returns e. Needs no_new_privs or CAP_SYS_ADMIN; the filter stays for
 * the rest of the process, so call it in a child. Returns the call's errno
 * (0 for success; ENOSYS: it would have run), or -errno when the filter
 * could not be loaded. Shared by the escape probes host-flush and
 * host-hugepages and tests/unit/test_seccomp.c.
 */

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int seccomp_trace_probe6(long nr, long a0, long a1, long a2, long a3, long a4,
                                       long a5)
{
        struct sock_filter f[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) nr, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                return -errno;
        return syscall(nr, a0, a1, a2, a3, a4, a5) < 0 ? errno : 0;
}

/* The same for a call of at most three arguments. */
static inline int seccomp_trace_probe(long nr, long a0, long a1, long a2)
{
        return seccomp_trace_probe6(nr, a0, a1, a2, 0, 0, 0);
}
