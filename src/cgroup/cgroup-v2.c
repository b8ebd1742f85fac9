/* SPDX-License-Identifier: MIT */
/*
 * cgroup v2: one leaf per job under the parent, with memory, cpu and pids
 * enabled down the path. The child is born in its leaf (CLONE_INTO_CGROUP),
 * so no task is ever migrated on the launch path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/util.h"
#include "cgroup-internal.h"

#define CFS_PERIOD_US 100000ULL
#define CONTROLLERS   "+memory +cpu +pids"

static const char *const needed[] = { "memory", "cpu", "pids" };

/* The first of memory, cpu and pids missing from the space-separated @list. */
static const char *first_missing(const char *list)
{
        for (size_t i = 0; i < ELEMENTSOF(needed); i++) {
                const char *p = list;
                bool found = false;
                size_t n = strlen(needed[i]);

                while ((p = strstr(p, needed[i]))) {
                        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
                                found = true;
                        p += n;
                }
                if (!found)
                        return needed[i];
        }
        return NULL;
}

static bool has_controllers(const char *list)
{
        return !first_missing(list);
}

/* Make memory, cpu and pids available to the children of @dirfd. The two
 * refusals an admin meets (cgroup-v2.rst, "Top-down Constraint" and "No
 * Internal Process Constraint") are named, not left as a bare errno. */
static int enable_controllers(int dirfd, const char *what, struct cd_err *err)
{
        const char *missing = NULL;
        char buf[512];
        int r;

        if (cd_read_at(dirfd, "cgroup.subtree_control", buf, sizeof(buf)) >= 0 &&
            has_controllers(buf))
                return 0;
        r = cd_write_at(dirfd, "cgroup.subtree_control", CONTROLLERS);
        if (r == -ENOENT && cd_read_at(dirfd, "cgroup.controllers", buf, sizeof(buf)) >= 0)
                missing = first_missing(buf);
        if (missing)
                return cd_err_neg(err, r,
                                  "cgroup v2: enable controllers in %s: the %s controller is not "
                                  "available there (the cgroup above does not enable or delegate "
                                  "it)",
                                  what, missing);
        if (r == -EBUSY)
                return cd_err_neg(err, r,
                                  "cgroup v2: enable controllers in %s: it holds processes, "
                                  "and a cgroup whose children get controllers may hold none",
                                  what);
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v2: enable controllers in %s", what);
        return 0;
}

/* The supervisor's own cgroup, from /proc/self/cgroup ("0::/path"). */
static int own_cgroup(char *buf, size_t size, struct cd_err *err)
{
        char data[4096];
        const char *p;

        if (cd_read_at(AT_FDCWD, "/proc/self/cgroup", data, sizeof(data)) < 0)
                return cd_err_errno(err, "cgroup v2: read /proc/self/cgroup");
        p = strstr(data, "0::");
        if (!p || (p != data && p[-1] != '\n'))
                return cd_err_set(err, CD_E_UNSUPPORTED, "cgroup v2: not in a unified hierarchy");
        p += 3;
        if (strcspn(p, "\n") >= size)
                return cd_err_set(err, ENAMETOOLONG, "cgroup v2: own cgroup path too long");
        (void) snprintf(buf, size, "%.*s", (int) strcspn(p, "\n"), p);
        return 0;
}

/* systemd marks a cgroup it delegates (Delegate=yes) with this xattr. */
static bool is_delegated(int fd)
{
        char v[8];

        return (fgetxattr(fd, "trusted.delegate", v, sizeof(v)) > 0 && v[0] == '1') ||
               (fgetxattr(fd, "user.delegate", v, sizeof(v)) > 0 && v[0] == '1');
}

/*
 * Delegated: cgroup v2 lets only leaves hold tasks once controllers are
 * enabled below, so the supervisor moves itself into a "supervisor" child
 * and the jobs become its siblings. Done once, at start.
 */
static int use_delegated(struct cd_cgroup_host *h, int own_fd, struct cd_err *err)
{
        cleanup_close int self = -1;
        char pid[16];
        int r;

        if (mkdirat(own_fd, "supervisor", 0755) < 0 && errno != EEXIST)
                return cd_err_errno(err, "cgroup v2: create supervisor cgroup");
        self = openat(own_fd, "supervisor", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (self < 0)
                return cd_err_errno(err, "cgroup v2: open supervisor cgroup");
        (void) snprintf(pid, sizeof(pid), "%d", (int) getpid());
        r = cd_write_at(self, "cgroup.procs", pid);
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v2: move supervisor into its leaf");
        r = enable_controllers(own_fd, "the delegated cgroup", err);
        if (r < 0)
                return r;
        h->parent_fd[CG_V2] = fcntl(own_fd, F_DUPFD_CLOEXEC, 3);
        if (h->parent_fd[CG_V2] < 0)
                return cd_err_errno(err, "cgroup v2: dup");
        h->swap_max = faccessat(own_fd, "memory.swap.max", F_OK, 0) == 0;
        return 0;
}

/* Enable the controllers on every level from the root down to @parent. */
static int open_parent_enabled(int root_fd, const char *parent, int *ret_fd, struct cd_err *err)
{
        int r = enable_controllers(root_fd, "the root", err);

        if (r < 0)
                return r;
        return cd_cgroup_open_parent_root_only(root_fd, parent, enable_controllers, ret_fd, err);
}

int cd_cgroup_v2_open(struct cd_cgroup_host *h, const char *root, const char *parent,
                      struct cd_err *err)
{
        cleanup_close int root_fd = -1, own_fd = -1;
        char buf[512], own[4096];
        int r;

        root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return cd_err_errno(err, "cgroup v2: open %s", root);
        if (cd_read_at(root_fd, "cgroup.controllers", buf, sizeof(buf)) < 0 ||
            !has_controllers(buf))
                return cd_err_set(err, CD_E_UNSUPPORTED,
                                  "cgroup v2: memory, cpu and pids are not all available at %s",
                                  root);
        if (!parent) {
                r = own_cgroup(own, sizeof(own), err);
                if (r < 0)
                        return r;
                /* A cgroup delegated to someone else (systemd's Delegate= with
                 * User=, a user manager's user.delegate) is theirs, limits
                 * included; the supervisor has left it already
                 * (cd_cgroup_leave_every_foreign()). The jobs go to the root's
                 * "cordon" then. */
                if (strcmp(own, "/") != 0) {
                        own_fd = cd_cgroup_open_root_only(root_fd, own);
                        if (own_fd >= 0 && is_delegated(own_fd))
                                return use_delegated(h, own_fd, err);
                }
                parent = "cordon";
        }
        r = open_parent_enabled(root_fd, parent, &h->parent_fd[CG_V2], err);
        if (r < 0)
                return r;
        h->swap_max = faccessat(h->parent_fd[CG_V2], "memory.swap.max", F_OK, 0) == 0;
        return 0;
}

static int write_limits(const struct cd_cgroup *cg, const struct cd_limits *l, struct cd_err *err)
{
        int fd = cg->fd[CG_V2];
        char cpu[64];
        int r;

        r = cd_cgroup_write_u64(fd, "memory.max", l->memory_max_bytes);
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v2: memory.max");
        r = cd_write_at(fd, "memory.swap.max", "0");
        /* Not accounted: only while no swap is on (cd_cgroup_create asked). */
        if (r < 0 && !(r == -ENOENT && !cd_cgroup_swap_active()))
                return cd_err_neg(err, r, "cgroup v2: memory.swap.max");
        /* An OOM kill takes the whole job, not one process of it. */
        r = cd_write_at(fd, "memory.oom.group", "1");
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v2: memory.oom.group");
        (void) snprintf(cpu, sizeof(cpu), "%llu %llu",
                        (unsigned long long) (l->cpu_millis * CFS_PERIOD_US / 1000),
                        (unsigned long long) CFS_PERIOD_US);
        r = cd_write_at(fd, "cpu.max", cpu);
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v2: cpu.max");
        r = cd_cgroup_write_u64(fd, "pids.max", l->pids_max);
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v2: pids.max");
        return 0;
}

static int make_leaf(struct cd_cgroup *cg, struct cd_err *err)
{
        int pfd = cg->host->parent_fd[CG_V2];

        if (mkdirat(pfd, cg->name, 0755) < 0)
                return errno == EEXIST ? -EEXIST
                                       : cd_err_errno(err, "cgroup v2: create %s", cg->name);
        /* O_DIRECTORY without O_PATH: clone3(CLONE_INTO_CGROUP) takes this fd. */
        cg->fd[CG_V2] = openat(pfd, cg->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cg->fd[CG_V2] < 0)
                return cd_err_errno(err, "cgroup v2: open %s", cg->name);
        return 0;
}

static int v2_create_leaf(struct cd_cgroup *cg, const struct cd_limits *l, struct cd_err *err)
{
        const struct cd_cgroup_host *h = cg->host;
        int r = make_leaf(cg, err);

        if (r == -EEXIST) {
                cg->fd[CG_V2] = openat(h->parent_fd[CG_V2], cg->name,
                                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                r = cd_cgroup_destroy(cg, err);
                cg->host = h;
                if (r == 0)
                        r = make_leaf(cg, err);
                if (r == -EEXIST)
                        r = cd_err_set(err, EEXIST, "cgroup v2: %s exists", cg->name);
        }
        if (r < 0)
                return r;
        return write_limits(cg, l, err);
}

/* Nothing to move: clone3(CLONE_INTO_CGROUP) starts the child in its leaf. */
static int v2_nothing(const struct cd_cgroup *cg, struct cd_err *err)
{
        (void) cg;
        (void) err;
        return 0;
}

static int v2_cpu_usage_us(const struct cd_cgroup *cg, uint64_t *ret)
{
        char buf[1024];
        ssize_t n = cd_read_at(cg->fd[CG_V2], "cpu.stat", buf, sizeof(buf));

        if (n < 0)
                return (int) n;
        return cd_cgroup_keyed(buf, "usage_usec", ret);
}

static int v2_usage(const struct cd_cgroup *cg, struct cd_cgroup_usage *u, struct cd_err *err)
{
        int fd = cg->fd[CG_V2];
        char buf[1024];
        int r;

        if (cd_read_at(fd, "cpu.stat", buf, sizeof(buf)) < 0 ||
            cd_cgroup_keyed(buf, "user_usec", &u->user_us) < 0 ||
            cd_cgroup_keyed(buf, "system_usec", &u->system_us) < 0)
                return cd_err_set(err, EIO, "cgroup v2: cannot read cpu.stat");
        /* memory.peak exists from Linux 5.19. */
        r = cd_cgroup_read_u64(fd, "memory.peak", &u->peak_memory_bytes);
        if (r < 0 && r != -ENOENT)
                return cd_err_neg(err, r, "cgroup v2: memory.peak");
        if (cd_read_at(fd, "memory.events", buf, sizeof(buf)) < 0 ||
            cd_cgroup_keyed(buf, "oom_kill", &u->oom_kills) < 0)
                return cd_err_set(err, EIO, "cgroup v2: cannot read memory.events");
        if (cd_read_at(fd, "pids.events", buf, sizeof(buf)) < 0 ||
            cd_cgroup_keyed(buf, "max", &u->pids_limit_hits) < 0)
                return cd_err_set(err, EIO, "cgroup v2: cannot read pids.events");
        return 0;
}

static bool v2_is_empty(const struct cd_cgroup *cg)
{
        char buf[256];
        uint64_t populated;

        if (cg->fd[CG_V2] < 0)
                return true;
        if (cd_read_at(cg->fd[CG_V2], "cgroup.events", buf, sizeof(buf)) < 0 ||
            cd_cgroup_keyed(buf, "populated", &populated) < 0)
                return false;
        return populated == 0;
}

/* cgroup.events signals POLLPRI on every change of "populated". */
static bool wait_unpopulated(const struct cd_cgroup *cg, uint64_t timeout_ms)
{
        cleanup_close int fd = -1;
        uint64_t deadline = cd_now_ms() + timeout_ms;

        fd = openat(cg->fd[CG_V2], "cgroup.events", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return cd_cgroup_wait_empty(cg, timeout_ms);
        while (!v2_is_empty(cg)) {
                struct pollfd p = { .fd = fd, .events = POLLPRI };
                uint64_t now = cd_now_ms();
                char buf[256];

                if (now >= deadline)
                        return false;
                if (poll(&p, 1, (int) (deadline - now)) < 0 && errno != EINTR)
                        return false;
                /* Re-arm the notification; the content is read by v2_is_empty(). */
                if (pread(fd, buf, sizeof(buf), 0) < 0)
                        return false;
        }
        return true;
}

/* cgroup.kill has sent every task its SIGKILL before the write returns,
 * and refuses forks meanwhile. */
static int v2_signal_kill(const struct cd_cgroup *cg, struct cd_err *err)
{
        int r = cd_write_at(cg->fd[CG_V2], "cgroup.kill", "1");

        return r < 0 ? cd_err_neg(err, r, "cgroup v2: cgroup.kill") : 0;
}

static int v2_lift_cpu_quota(const struct cd_cgroup *cg, struct cd_err *err)
{
        int r = cd_write_at(cg->fd[CG_V2], "cpu.max", "max");

        return r < 0 ? cd_err_neg(err, r, "cgroup v2: lift cpu.max") : 0;
}

static int v2_oom_kills(const struct cd_cgroup *cg, uint64_t *ret)
{
        (void) cg;
        *ret = 0;
        return -EOPNOTSUPP; /* memory.oom.group: the first OOM kill takes the whole job */
}

const struct cg_ops cd_cgroup_v2_ops = {
        .create_leaf = v2_create_leaf,
        .enter = v2_nothing,
        .leave = v2_nothing,
        .cpu_usage_us = v2_cpu_usage_us,
        .oom_kills = v2_oom_kills,
        .usage = v2_usage,
        .signal_kill = v2_signal_kill,
        .lift_cpu_quota = v2_lift_cpu_quota,
        .wait_empty = wait_unpopulated,
        .is_empty = v2_is_empty,
};
