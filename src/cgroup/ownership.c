/* SPDX-License-Identifier: MIT */
/*
 * Who may act on a cgroup. Whoever may write a file of a cgroup acts on
 * every task in it and below: moves them (cgroup.procs, tasks), freezes or
 * kills them (cgroup.freeze, cgroup.kill, v1 freezer.state), starves them
 * (memory.max, cpu.max, pids.max and their v1 counterparts) or takes a
 * controller from them (cgroup.subtree_control). A supervisor in such a
 * cgroup could be frozen past a job's wall limit by that cgroup's owner.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/util.h"
#include "cgroup-internal.h"

int cd_cgroup_next_component(const char **p, char comp[static 256])
{
        size_t n;

        while (**p == '/')
                (*p)++;
        if (!**p)
                return 0;
        n = strcspn(*p, "/");
        if (n >= 256)
                return -ENAMETOOLONG;
        memcpy(comp, *p, n);
        comp[n] = '\0';
        *p += n;
        return 1;
}

static bool root_alone(const struct stat *st)
{
        return st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/*
 * Only root can change a file's owner or, unless it owns it, its mode. A
 * cgroup someone made, or that systemd delegated (Delegate=, a user
 * manager's cgroups), has its directory owned by them; other files handed
 * out alone are an admin's deliberate grant, and of those only the ones
 * that move, freeze or kill tasks are looked at (a lookup per file: reading
 * every file of every cgroup above cost 0.2 ms per launch here).
 */
bool cd_cgroup_root_only(int fd)
{
        static const char *const names[] = {
                "cgroup.procs",  "cgroup.threads",        "tasks", "cgroup.freeze", "cgroup.kill",
                "freezer.state", "cgroup.subtree_control"
        };
        struct stat st;

        if (fstat(fd, &st) < 0 || !root_alone(&st))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0 ? errno != ENOENT
                                                                        : !root_alone(&st))
                        return false;
        return true;
}

int cd_cgroup_open_root_only(int root_fd, const char *path)
{
        cleanup_close int cur = -1;
        char comp[256];
        int r;

        cur = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return -1;
        for (const char *p = path; (r = cd_cgroup_next_component(&p, comp)) > 0;) {
                int next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                if (next < 0)
                        return -1;
                (void) cd_close(cur);
                cur = next;
                if (!cd_cgroup_root_only(cur))
                        return -1;
        }
        return r < 0 ? -1 : TAKE_FD(cur);
}

int cd_cgroup_leave_foreign(int root_fd, const char *own, const char *what, int *ret_fd,
                            struct cd_err *err)
{
        int fd, r;

        fd = cd_cgroup_open_root_only(root_fd, own);
        if (fd >= 0) {
                *ret_fd = fd;
                return 0;
        }
        r = cd_fault("cgroup_leave") ? -EACCES : cd_write_at(root_fd, "cgroup.procs", "0");
        if (r < 0)
                return cd_err_neg(err, r,
                                  "cgroup: leave the %s cgroup another user may act on, for the "
                                  "root cgroup",
                                  what);
        *ret_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        if (*ret_fd < 0)
                return cd_err_errno(err, "cgroup: dup");
        return 1;
}
