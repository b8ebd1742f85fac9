/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>

#include "cordon/cleanup.h"
#include "cordon/util.h"
#include "sandbox-internal.h"

int cd_userns_setup_parent(const struct cd_plan *plan, pid_t pid, uid_t host_uid, gid_t host_gid,
                           struct cd_err *err)
{
        cleanup_close int proc = -1;
        char path[64], map[64];
        int r;

        if (host_uid == 0 || host_gid == 0)
                return cd_err_set(err, EPERM, "userns: refusing to map the job to host root");
        if (cd_fault("userns"))
                return cd_err_set(err, CD_E_FAULT, "userns: injected fault");
        /* The child stays unreaped until we are done, so its pid cannot be reused. */
        (void) snprintf(path, sizeof(path), "/proc/%d", (int) pid);
        proc = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (proc < 0)
                return cd_err_errno(err, "userns: open %s", path);
        /* Deny setgroups before gid_map exists: otherwise the job could drop
         * a supplementary group and pass a "deny this group" permission
         * (user_namespaces(7), CVE-2014-8989). */
        r = cd_write_at(proc, "setgroups", "deny");
        if (r < 0)
                return cd_err_neg(err, r, "userns: deny setgroups");
        /* One uid and one gid, nothing else: root inside is unmapped. */
        (void) snprintf(map, sizeof(map), "%u %u 1\n", plan->job_uid, (unsigned int) host_uid);
        r = cd_write_at(proc, "uid_map", map);
        if (r < 0)
                return cd_err_neg(err, r, "userns: write uid_map");
        (void) snprintf(map, sizeof(map), "%u %u 1\n", plan->job_gid, (unsigned int) host_gid);
        r = cd_write_at(proc, "gid_map", map);
        if (r < 0)
                return cd_err_neg(err, r, "userns: write gid_map");
        return 0;
}
