/* SPDX-License-Identifier: MIT */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>

#include "cordon/sandbox.h"

#define CD_SECCOMP_MAX_PROGS 2

/* Seccomp programs in load order; the kernel applies the most restrictive
 * result of all of them. */
struct cd_seccomp {
        struct sock_fprog progs[CD_SECCOMP_MAX_PROGS];
        unsigned int n_progs;
        bool owned; /* the filters were allocated (cd_seccomp_compile) */
};

/* Compile the default policy with libseccomp now (build time, tests), plus
 * the syscalls named in @extra (NULL-terminated, may be NULL). */
int cd_seccomp_compile(char *const *extra, struct cd_seccomp **ret, struct cd_err *err);

/* Child side, after the maps are written: become the job's uid/gid, keeping
 * capabilities in the user namespace for the rest of the setup. */
int cd_creds_setup_child(const struct cd_plan *plan, struct cd_err *err);

/* Child side: attach the prepared mounts, mount /proc, pivot_root, detach the
 * old root and enter the working directory. */
int cd_mount_setup_child(const struct cd_sandbox *sb, struct cd_err *err);

/* Child side: set the UTS namespace's hostname. */
int cd_uts_setup_child(const struct cd_plan *plan, struct cd_err *err);

/* Child side: drop every capability (bounding, ambient, effective,
 * permitted, inheritable) and lock the securebits. */
int cd_caps_drop_child(cap_t nocaps, struct cd_err *err);

/* Payload side: core 0, nofile and fsize from the plan. */
int cd_rlimit_setup_child(const struct cd_plan *plan, struct cd_err *err);

/* Payload side: restrict writes to /tmp, /work, /out, /dev/shm and the
 * null-like devices. No-op when @abi is 0. */
int cd_landlock_apply_child(const struct cd_plan *plan, int abi, struct cd_err *err);

/* Payload side, the last step before execve: load the seccomp program. */
int cd_seccomp_apply_child(const struct cd_seccomp *s, struct cd_err *err);

/* Payload side: execve argv[0], searched in the PATH of envp. Returns only
 * on failure, with @err set. */
int cd_exec_child(const struct cd_plan *plan, struct cd_err *err);

#include "cordon/fault.h"
