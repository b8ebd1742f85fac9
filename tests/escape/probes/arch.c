/* SPDX-License-Identifier: MIT */
/*
 * Foreign system call ABIs, which a filter written for x86-64 numbers does
 * not see unless it checks the architecture: x32 (the 0x40000000 bit) and
 * i386 (int 0x80). Each runs in a child, because the expected answer is
 * that seccomp kills it with SIGSYS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "probe.h"

#if defined(__x86_64__)

#define X32_SYSCALL_BIT 0x40000000L
#define X32_NR_GETPID   39 /* x32 shares the x86-64 number */
#define I386_NR_GETPID  20

static int x32_getpid(struct probe_ctx *c, void *arg)
{
        long r = syscall(X32_SYSCALL_BIT | X32_NR_GETPID);

        (void) arg;
        if (r < 0)
                return refused(c, errno, "x32 getpid");
        return verdict(c, ESCAPED, "x32 getpid returned %ld", r);
}

static int i386_getpid(struct probe_ctx *c, void *arg)
{
        long r;

        (void) arg;
        __asm__ volatile("int $0x80"
                         : "=a"(r)
                         : "a"((long) I386_NR_GETPID)
                         : "memory", "cc", "r8", "r9", "r10", "r11");
        if (r < 0 && r > -4096)
                return refused(c, (int) -r, "int 0x80 getpid");
        return verdict(c, ESCAPED, "int 0x80 getpid returned %ld", r);
}

/* SIGSYS is seccomp's answer; SIGSEGV means the kernel has no such ABI. */
static int foreign(struct probe_ctx *c, int (*fn)(struct probe_ctx *, void *))
{
        int sig = 0;
        int r = in_child(c, fn, NULL, &sig);

        if (r >= 0)
                return r;
        if (sig == SIGSYS)
                return verdict(c, BLOCKED, "the call was killed by SIGSYS (seccomp)");
        if (sig == SIGSEGV)
                return verdict(c, c->bare ? NOT_APPLICABLE : BLOCKED,
                               "SIGSEGV: the kernel does not offer this ABI");
        return verdict(c, BROKEN, "child killed by %s", signame(sig));
}

static int probe_x32(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return foreign(c, x32_getpid);
}

static int probe_int80(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return foreign(c, i386_getpid);
}

#else

static int probe_x32(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return verdict(c, NOT_APPLICABLE, "x86-64 only");
}

static int probe_int80(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return verdict(c, NOT_APPLICABLE, "x86-64 only");
}

#endif

const struct probe arch_probes[] = {
        { "x32", probe_x32, "", "an x32 system call (getpid | 0x40000000)" },
        { "int80", probe_int80, "", "an i386 system call through int 0x80" },
};
const size_t arch_probes_n = ELEMENTSOF(arch_probes);
