/* SPDX-License-Identifier: MIT */
/* Privileges the job holds: capabilities, no_new_privs, seccomp, uid 0, rlimits. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

static int probe_caps(struct probe_ctx *c, int argc, char **argv)
{
        static const char *const sets[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
        int held = 0;

        (void) argc;
        (void) argv;
        for (size_t i = 0; i < ELEMENTSOF(sets); i++) {
                char v[64];
                char *end;
                unsigned long long mask;
                int r = status_field(sets[i], v, sizeof(v));

                if (r < 0)
                        return verdict(c, BROKEN, "/proc/self/status %s: %s", sets[i], ename(-r));
                errno = 0;
                mask = strtoull(v, &end, 16);
                if (errno != 0 || end == v)
                        return verdict(c, BROKEN, "cannot parse %s '%s'", sets[i], v);
                if (mask != 0) {
                        note(c, "%s=%s", sets[i], v);
                        held++;
                }
        }
        if (held)
                return ESCAPED;
        return verdict(c, BLOCKED, "all five capability sets are empty");
}

static int probe_nnp(struct probe_ctx *c, int argc, char **argv)
{
        int r = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);

        (void) argc;
        (void) argv;
        if (r < 0)
                return verdict(c, BROKEN, "PR_GET_NO_NEW_PRIVS: %s", ename(errno));
        if (r == 1)
                return verdict(c, BLOCKED, "no_new_privs is set");
        return verdict(c, ESCAPED,
                       "no_new_privs is off: a setuid or file-capability "
                       "binary would gain privileges");
}

static int probe_seccomp(struct probe_ctx *c, int argc, char **argv)
{
        char mode[32], filters[32];
        int r = status_field("Seccomp", mode, sizeof(mode));

        (void) argc;
        (void) argv;
        if (r < 0)
                return verdict(c, BROKEN, "/proc/self/status Seccomp: %s", ename(-r));
        if (status_field("Seccomp_filters", filters, sizeof(filters)) < 0)
                (void) snprintf(filters, sizeof(filters), "?");
        if (strcmp(mode, "2") == 0)
                return verdict(c, BLOCKED, "Seccomp: 2 (filter mode, %s filters)", filters);
        if (strcmp(mode, "1") == 0)
                return verdict(c, BLOCKED, "Seccomp: 1 (strict mode)");
        return verdict(c, ESCAPED, "Seccomp: %s: no seccomp filter", mode);
}

/*
 * A seccomp filter of the job's own: every SECCOMP_RET_LOG and kill action
 * of any filter is logged to the host's kernel and audit logs with the
 * process's name and executable path (the job's choice), and so is strict
 * mode's kill. Loading an allow-all program, and strict mode with flags the
 * kernel refuses (EINVAL when it runs), shows whether either is permitted
 * without logging anything.
 */
static int own_filter(struct probe_ctx *c, void *arg)
{
        struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        struct sock_fprog prog = { .len = 1, .filter = &allow };

        (void) arg;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return verdict(c, BROKEN, "no_new_privs: %s", ename(errno));
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
                return verdict(c, ESCAPED, "seccomp(SET_MODE_FILTER) loaded a filter");
        note(c, "seccomp(SET_MODE_FILTER): %s", ename(errno));
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0)
                return verdict(c, ESCAPED, "prctl(PR_SET_SECCOMP) loaded a filter");
        note(c, "prctl(PR_SET_SECCOMP): %s", ename(errno));
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 1, NULL) == 0 || errno != EPERM)
                return verdict(c, ESCAPED, "seccomp(SET_MODE_STRICT) ran (%s)", ename(errno));
        return verdict(c, BLOCKED, "own filters and strict mode refused (EPERM)");
}

static int probe_own_seccomp(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return in_child(c, own_filter, NULL, NULL);
}

static int become_root(struct probe_ctx *c, void *arg)
{
        (void) arg;
        if (syscall(SYS_setresgid, 0, 0, 0) < 0)
                return refused(c, errno, "setresgid(0, 0, 0)");
        if (syscall(SYS_setresuid, 0, 0, 0) < 0)
                return refused(c, errno, "setresuid(0, 0, 0)");
        return verdict(c, ESCAPED, "setresuid(0, 0, 0) worked: uid %d", (int) geteuid());
}

static int probe_setuid_root(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return in_child(c, become_root, NULL, NULL);
}

/* Lower the hard limit by one (always allowed), then raise it back, which
 * needs CAP_SYS_RESOURCE: the job's limits would otherwise be advisory. */
static int raise_one(struct probe_ctx *c, int resource, const char *name)
{
        struct rlimit orig, low;

        if (getrlimit(resource, &orig) < 0)
                return verdict(c, BROKEN, "getrlimit %s: %s", name, ename(errno));
        if (orig.rlim_max < 2)
                return verdict(c, NOT_APPLICABLE, "%s hard limit is %llu", name,
                               (unsigned long long) orig.rlim_max);
        low.rlim_max = orig.rlim_max - 1;
        low.rlim_cur = orig.rlim_cur < low.rlim_max ? orig.rlim_cur : low.rlim_max;
        if (setrlimit(resource, &low) < 0)
                return verdict(c, BROKEN, "lower %s: %s", name, ename(errno));
        if (setrlimit(resource, &orig) < 0)
                return refused_cap(c, errno, name, CAP_SYS_RESOURCE);
        return verdict(c, ESCAPED, "raised the hard %s limit", name);
}

static int raise_limits(struct probe_ctx *c, void *arg)
{
        int a, b;

        (void) arg;
        a = raise_one(c, RLIMIT_NOFILE, "RLIMIT_NOFILE");
        b = raise_one(c, RLIMIT_FSIZE, "RLIMIT_FSIZE");
        if (a == BROKEN || b == BROKEN)
                return BROKEN;
        if (a == ESCAPED || b == ESCAPED)
                return ESCAPED;
        return a == NOT_APPLICABLE && b == NOT_APPLICABLE ? NOT_APPLICABLE : BLOCKED;
}

static int probe_rlimit_raise(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return in_child(c, raise_limits, NULL, NULL);
}

const struct probe caps_probes[] = {
        { "caps", probe_caps, "", "any capability in CapInh/Prm/Eff/Bnd/Amb" },
        { "nnp", probe_nnp, "", "no_new_privs is off" },
        { "seccomp", probe_seccomp, "", "no seccomp filter (Seccomp: 2 expected)" },
        { "own-seccomp", probe_own_seccomp, "",
          "load a seccomp filter of its own (its log and kill actions reach the host's logs)" },
        { "setuid-root", probe_setuid_root, "", "setresuid(0,0,0) and setresgid(0,0,0)" },
        { "rlimit-raise", probe_rlimit_raise, "", "raise a hard rlimit (NOFILE, FSIZE)" },
};
const size_t caps_probes_n = ELEMENTSOF(caps_probes);
