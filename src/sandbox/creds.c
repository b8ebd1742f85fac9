/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox-internal.h"

/*
 * Raw syscalls on purpose: glibc's setresuid() broadcasts the change to
 * every thread it knows of, and in this copy of a multi-threaded supervisor
 * those threads do not exist (nptl setxid). The change is for this task only.
 */
int cd_creds_setup_child(const struct cd_plan *plan, struct cd_err *err)
{
        int n;

        /* Keep the namespace's capabilities across the uid change below
         * (capabilities(7), "Effect of user ID changes on capabilities");
         * cd_caps_drop_child() drops them all before the job starts. */
        if (prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) < 0)
                return cd_err_errno(err, "creds: securebits");
        if (syscall(SYS_setresgid, plan->job_gid, plan->job_gid, plan->job_gid) < 0)
                return cd_err_errno(err, "creds: setresgid %u", plan->job_gid);
        if (syscall(SYS_setresuid, plan->job_uid, plan->job_uid, plan->job_uid) < 0)
                return cd_err_errno(err, "creds: setresuid %u", plan->job_uid);
        /* setgroups is denied in this namespace, so the supervisor dropped its
         * own supplementary groups before clone3; a host group here would
         * give the job that group's access to the read-only host trees. */
        n = getgroups(0, NULL);
        if (n < 0)
                return cd_err_errno(err, "creds: getgroups");
        if (n != 0)
                return cd_err_set(err, EPERM, "creds: %d supplementary groups inherited", n);
        if (cd_fault("creds"))
                return cd_err_set(err, CD_E_FAULT, "creds: injected fault");
        return 0;
}

int cd_uts_setup_child(const struct cd_plan *plan, struct cd_err *err)
{
        size_t len = 0;

        while (plan->hostname[len])
                len++;
        if (sethostname(plan->hostname, len) < 0)
                return cd_err_errno(err, "uts: sethostname");
        if (cd_fault("uts"))
                return cd_err_set(err, CD_E_FAULT, "uts: injected fault");
        return 0;
}
