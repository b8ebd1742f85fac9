/* SPDX-License-Identifier: MIT */
/*
 * cgroup v1: one leaf per hierarchy (memory, cpu, cpuacct, pids, freezer;
 * comounted ones such as cpu,cpuacct share a leaf). The hybrid layout,
 * with an empty cgroup2 at /sys/fs/cgroup/unified, is v1 for cordon.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/util.h"
#include "cgroup-internal.h"

#define CFS_PERIOD_US   100000ULL
#define OWN_CGROUPS_MAX 8192 /* /proc/thread-self/cgroup, all hierarchies */

static const char *const controllers[_CG_MAX] = {
        [CG_MEMORY] = "memory", [CG_CPU] = "cpu",         [CG_CPUACCT] = "cpuacct",
        [CG_PIDS] = "pids",     [CG_FREEZER] = "freezer",
};

static int open_hierarchy(int root_fd, const char *name, int *ret_fd, struct cd_err *err)
{
        struct statfs fs;
        int fd, r;

        /* Following a symlink here is fine: /sys/fs/cgroup is the admin's
         * (e.g. cpu -> cpu,cpuacct), never the job's. */
        fd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cd_err_errno(err, "cgroup v1: no %s hierarchy", name);
        if (fstatfs(fd, &fs) < 0) {
                r = cd_err_errno(err, "cgroup v1: statfs %s", name);
                (void) cd_close(fd);
                return r;
        }
        if (fs.f_type != CGROUP_SUPER_MAGIC) {
                (void) cd_close(fd);
                return cd_err_set(err, CD_E_UNSUPPORTED, "cgroup v1: %s is not a cgroup hierarchy",
                                  name);
        }
        *ret_fd = fd;
        return 0;
}

/* Comounted controllers are one hierarchy: keep one leaf for them. */
static void find_alias(struct cd_cgroup_host *h, int i, const struct stat *st,
                       const struct stat *seen)
{
        for (int j = 0; j < i; j++)
                if (seen[j].st_dev == st->st_dev && seen[j].st_ino == st->st_ino) {
                        h->alias[i] = j;
                        return;
                }
}

/* The calling thread's cgroup in the hierarchy of @controller, from @own,
 * the text of /proc/thread-self/cgroup ("N:cpu,cpuacct:/path"), opened
 * below @hier. */
static int open_self(int hier, const char *controller, const char *own, int *ret_fd,
                     struct cd_err *err)
{
        char buf[OWN_CGROUPS_MAX];
        size_t clen = strlen(controller);

        (void) snprintf(buf, sizeof(buf), "%s", own);
        for (char *line = buf; line && *line;) {
                char *next = strchr(line, '\n');
                char *ctrls = strchr(line, ':');
                char *path = ctrls ? strchr(ctrls + 1, ':') : NULL;

                if (next)
                        *next++ = '\0';
                if (path) {
                        *path++ = '\0';
                        for (char *c = ctrls + 1; c && *c; c = strchr(c, ','), c = c ? c + 1 : c)
                                if (strncmp(c, controller, clen) == 0 &&
                                    (c[clen] == ',' || c[clen] == '\0')) {
                                        *ret_fd = openat(hier, path[1] ? path + 1 : ".",
                                                         O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                                        if (*ret_fd < 0)
                                                return cd_err_errno(err,
                                                                    "cgroup v1: open own %s "
                                                                    "cgroup",
                                                                    controller);
                                        return 0;
                                }
                }
                line = next;
        }
        return cd_err_set(err, CD_E_UNSUPPORTED, "cgroup v1: not in a %s hierarchy", controller);
}

int cd_cgroup_v1_open(struct cd_cgroup_host *h, const char *root, const char *parent,
                      struct cd_err *err)
{
        cleanup_close int root_fd = -1;
        struct stat seen[_CG_MAX];
        char own[OWN_CGROUPS_MAX];
        ssize_t n;
        int r;

        root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return cd_err_errno(err, "cgroup v1: open %s", root);
        n = cd_read_at(AT_FDCWD, "/proc/thread-self/cgroup", own, sizeof(own));
        if (n < 0)
                return cd_err_neg(err, (int) n, "cgroup v1: read /proc/thread-self/cgroup");
        for (int i = 0; i < _CG_MAX; i++) {
                cleanup_close int hier = -1;

                r = open_hierarchy(root_fd, controllers[i], &hier, err);
                if (r < 0)
                        return r;
                if (fstat(hier, &seen[i]) < 0)
                        return cd_err_errno(err, "cgroup v1: stat %s", controllers[i]);
                find_alias(h, i, &seen[i], seen);
                if (h->alias[i] != i) {
                        h->parent_fd[i] = h->parent_fd[h->alias[i]];
                        continue;
                }
                r = cd_cgroup_open_parent_root_only(hier, parent, NULL, &h->parent_fd[i], err);
                if (r < 0)
                        return r;
                r = open_self(hier, controllers[i], own, &h->self_fd[i], err);
                if (r < 0)
                        return r;
                h->top_fd[i] = hier;
                hier = -1;
        }
        h->memsw = faccessat(h->parent_fd[CG_MEMORY], "memory.memsw.limit_in_bytes", F_OK, 0) == 0;
        h->kmem_tcp =
                faccessat(h->parent_fd[CG_MEMORY], "memory.kmem.tcp.limit_in_bytes", F_OK, 0) == 0;
        return 0;
}

static int write_limits(const struct cd_cgroup *cg, const struct cd_limits *l, struct cd_err *err)
{
        int r;

        r = cd_cgroup_write_u64(cg->fd[CG_MEMORY], "memory.limit_in_bytes", l->memory_max_bytes);
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v1: memory.limit_in_bytes");
        if (cg->host->memsw) {
                r = cd_cgroup_write_u64(cg->fd[CG_MEMORY], "memory.memsw.limit_in_bytes",
                                        l->memory_max_bytes);
                if (r < 0)
                        return cd_err_neg(err, r, "cgroup v1: memory.memsw.limit_in_bytes");
        }
        /* v1 charges socket buffers to the memory cgroup only once a TCP
         * limit is set (v2 always charges them to memory.current). Without
         * it a job queued gigabytes in unread loopback connections, all of
         * it from the host's one tcp_mem budget. Counted apart from
         * memory.limit_in_bytes, so a job may hold twice its limit at most. */
        if (cg->host->kmem_tcp) {
                r = cd_cgroup_write_u64(cg->fd[CG_MEMORY], "memory.kmem.tcp.limit_in_bytes",
                                        l->memory_max_bytes);
                if (r < 0)
                        return cd_err_neg(err, r, "cgroup v1: memory.kmem.tcp.limit_in_bytes");
        }
        r = cd_cgroup_write_u64(cg->fd[CG_CPU], "cpu.cfs_period_us", CFS_PERIOD_US);
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v1: cpu.cfs_period_us");
        r = cd_cgroup_write_u64(cg->fd[CG_CPU], "cpu.cfs_quota_us",
                                l->cpu_millis * CFS_PERIOD_US / 1000);
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v1: cpu.cfs_quota_us");
        r = cd_cgroup_write_u64(cg->fd[CG_PIDS], "pids.max", l->pids_max);
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v1: pids.max");
        return 0;
}

/* Open (and first remove, if stale) the leaf of hierarchy @i. */
static int make_leaf(struct cd_cgroup *cg, int i, struct cd_err *err)
{
        int pfd = cg->host->parent_fd[i];

        if (mkdirat(pfd, cg->name, 0755) < 0) {
                if (errno != EEXIST)
                        return cd_err_errno(err, "cgroup v1: create %s/%s", controllers[i],
                                            cg->name);
                return -EEXIST;
        }
        cg->fd[i] = openat(pfd, cg->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cg->fd[i] < 0)
                return cd_err_errno(err, "cgroup v1: open %s/%s", controllers[i], cg->name);
        return 0;
}

static int make_leaves(struct cd_cgroup *cg, struct cd_err *err)
{
        for (int i = 0; i < _CG_MAX; i++) {
                int r;

                if (cg->host->alias[i] != i)
                        continue;
                r = make_leaf(cg, i, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A leaf of this name was left by a killed supervisor: kill what is in it
 * and remove it, in every hierarchy. */
static int remove_stale(struct cd_cgroup *cg, struct cd_err *err)
{
        const struct cd_cgroup_host *h = cg->host;
        int r;

        for (int i = 0; i < _CG_MAX; i++)
                if (h->alias[i] == i && cg->fd[i] < 0)
                        cg->fd[i] = openat(h->parent_fd[i], cg->name,
                                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = cd_cgroup_destroy(cg, err);
        cg->host = h;
        return r;
}

static int v1_create_leaf(struct cd_cgroup *cg, const struct cd_limits *l, struct cd_err *err)
{
        int r = make_leaves(cg, err);

        if (r == -EEXIST) {
                r = remove_stale(cg, err);
                if (r == 0)
                        r = make_leaves(cg, err);
                if (r == -EEXIST)
                        r = cd_err_set(err, EEXIST, "cgroup v1: %s exists", cg->name);
        }
        if (r < 0)
                return r;
        return write_limits(cg, l, err);
}

/* The fd of hierarchy @i's leaf, through the comount alias. */
static int leaf(const struct cd_cgroup *cg, int i)
{
        return cg->fd[cg->host->alias[i]];
}

/* The calling thread into the hierarchy root @root_fd, its own cgroup
 * having refused it with @refused: 0, or @refused if the root did too. */
static int move_to_root(int root_fd, int refused)
{
        if (cd_fault("cgroup_top"))
                return refused;
        return cd_write_at(root_fd, "tasks", "0") == 0 ? 0 : refused;
}

/* Move the calling thread (tasks file, "0") into the directories of @fds,
 * or where one refuses it, of @fallback (may be NULL). Every hierarchy is
 * tried, and the first failure reported (@fds's, where @fallback refused
 * too): a thread that could not leave the job's memory cgroup still leaves
 * its others. */
static int move_self(const struct cd_cgroup_host *h, const int *fds, const int *fallback,
                     const char *what, struct cd_err *err)
{
        int ret = 0;

        for (int i = 0; i < _CG_MAX; i++) {
                int r;

                if (h->alias[i] != i)
                        continue;
                r = cd_write_at(fds[i], "tasks", "0");
                if (r < 0 && fallback)
                        r = move_to_root(fallback[i], r);
                if (r < 0 && ret == 0)
                        ret = cd_err_neg(err, r, "cgroup v1: move into %s %s cgroup", what,
                                         controllers[i]);
        }
        return ret;
}

static int v1_enter(const struct cd_cgroup *cg, struct cd_err *err)
{
        return move_self(cg->host, cg->fd, NULL, "the job's", err);
}

/* Back to the thread's own cgroups. One can be gone (removed while this
 * thread, its last task, sat in the job's for a clone3): the hierarchy's
 * root takes the thread then. A thread left in the job's cgroups would be
 * under the job's limits, frozen and killed with it. */
static int v1_leave(const struct cd_cgroup *cg, struct cd_err *err)
{
        return move_self(cg->host, cg->host->self_fd, cg->host->top_fd, "our own", err);
}

static int v1_cpu_usage_us(const struct cd_cgroup *cg, uint64_t *ret)
{
        uint64_t ns;
        int r = cd_cgroup_read_u64(leaf(cg, CG_CPUACCT), "cpuacct.usage", &ns);

        if (r == 0)
                *ret = ns / 1000;
        return r;
}

/* cpuacct.usage is the scheduler's exact runtime; usage_user and usage_sys
 * are sampled at the tick, so a job that runs between ticks and sleeps
 * across them shows next to nothing there. The total is the exact one (the
 * figure the CPU-time limit is checked against), split in the sampled
 * proportion, as v2's cpu.stat does. */
static int v1_cpu_times(const struct cd_cgroup *cg, struct cd_cgroup_usage *u, struct cd_err *err)
{
        uint64_t total, user, sys;
        int r;

        r = cd_cgroup_read_u64(leaf(cg, CG_CPUACCT), "cpuacct.usage", &total);
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v1: cpuacct.usage");
        r = cd_cgroup_read_u64(leaf(cg, CG_CPUACCT), "cpuacct.usage_user", &user);
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v1: cpuacct.usage_user");
        r = cd_cgroup_read_u64(leaf(cg, CG_CPUACCT), "cpuacct.usage_sys", &sys);
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v1: cpuacct.usage_sys");
        cd_cgroup_split_cpu(total / 1000, user, sys, &u->user_us, &u->system_us);
        return 0;
}

static int v1_oom_kills(const struct cd_cgroup *cg, uint64_t *ret)
{
        char buf[256];
        ssize_t n = cd_read_at(leaf(cg, CG_MEMORY), "memory.oom_control", buf, sizeof(buf));

        if (n < 0)
                return (int) n;
        return cd_cgroup_keyed(buf, "oom_kill", ret) < 0 ? -EIO : 0;
}

static int v1_usage(const struct cd_cgroup *cg, struct cd_cgroup_usage *u, struct cd_err *err)
{
        char buf[1024];
        int r;

        r = v1_cpu_times(cg, u, err);
        if (r < 0)
                return r;
        r = cd_cgroup_read_u64(leaf(cg, CG_MEMORY), "memory.max_usage_in_bytes",
                               &u->peak_memory_bytes);
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v1: memory.max_usage_in_bytes");
        if (v1_oom_kills(cg, &u->oom_kills) < 0)
                return cd_err_set(err, EIO, "cgroup v1: memory.oom_control has no oom_kill");
        if (cd_read_at(leaf(cg, CG_PIDS), "pids.events", buf, sizeof(buf)) < 0 ||
            cd_cgroup_keyed(buf, "max", &u->pids_limit_hits) < 0)
                return cd_err_set(err, EIO, "cgroup v1: cannot read pids.events");
        return 0;
}

static bool v1_is_empty(const struct cd_cgroup *cg)
{
        for (int i = 0; i < _CG_MAX; i++) {
                char buf[8];

                if (cg->host->alias[i] != i || cg->fd[i] < 0)
                        continue;
                /* A read error counts as "not empty": never remove what we cannot see. */
                if (cd_read_at(cg->fd[i], "cgroup.procs", buf, sizeof(buf)) != 0)
                        return false;
        }
        return true;
}

/* With @wait, 0 only once the state is reached: -EBUSY after 1 s of
 * FREEZING (a task in an uninterruptible sleep), never a guess. */
static int freezer_set(int fd, const char *state, bool wait)
{
        int r = cd_write_at(fd, "freezer.state", state);

        if (r < 0 || !wait)
                return r;
        for (int i = 0; i < 1000; i++) {
                char buf[32];
                struct timespec ts = { 0, 1000 * 1000 };
                ssize_t n = cd_read_at(fd, "freezer.state", buf, sizeof(buf));

                if (n < 0)
                        return (int) n;
                if (strncmp(buf, state, strlen(state)) == 0)
                        return 0;
                (void) nanosleep(&ts, NULL);
        }
        return -EBUSY;
}

static int kill_pid(pid_t pid, void *u)
{
        (void) u;
        /* Never ourselves: a launching thread sits in the leaf for one clone3. */
        if (pid == getpid())
                return 0;
        if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
                return -errno;
        return 0;
}

struct pid_search {
        pid_t pid;
        bool found;
};

static int find_pid(pid_t pid, void *u)
{
        struct pid_search *s = u;

        s->found |= pid == s->pid;
        return 0;
}

static int v1_lift_cpu_quota(const struct cd_cgroup *cg, struct cd_err *err)
{
        int fd = leaf(cg, CG_CPU);
        int r;

        if (fd < 0)
                return 0;
        r = cd_write_at(fd, "cpu.cfs_quota_us", "-1");
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v1: lift cpu.cfs_quota_us");
        return 0;
}

static int kill_frozen(const struct cd_cgroup *cg, struct cd_err *err)
{
        for (int i = 0; i < _CG_MAX; i++) {
                int r;

                if (cg->host->alias[i] != i || cg->fd[i] < 0)
                        continue;
                r = cd_cgroup_for_each_pid(cg->fd[i], "cgroup.procs", kill_pid, NULL);
                if (r < 0)
                        return cd_err_neg(err, r, "cgroup v1: kill tasks");
        }
        return 0;
}

/* Frozen tasks cannot fork or exit, so the pid list is complete and no pid
 * in it is reused before the SIGKILL lands. Another thread of ours in the
 * leaf (launching into it) freezes and thaws with it; the calling thread in
 * it (one that could not leave, v1_leave) would freeze itself for good
 * before it thaws: that leaf is left as it is. */
static int v1_signal_kill(const struct cd_cgroup *cg, struct cd_err *err)
{
        int fz = leaf(cg, CG_FREEZER);
        struct pid_search self = { .pid = gettid() };
        int r, thawed;

        r = cd_cgroup_for_each_pid(fz, "tasks", find_pid, &self);
        if (r < 0)
                return cd_err_neg(err, r, "cgroup v1: read the job's tasks");
        if (self.found)
                return cd_err_set(err, CD_E_NOT_EMPTY,
                                  "cgroup v1: the calling thread is in %s; not frozen", cg->name);
        r = freezer_set(fz, "FROZEN", true);
        if (r < 0) {
                /* Not frozen: its pids could fork or be reused; kill none by number. */
                (void) freezer_set(fz, "THAWED", false);
                return cd_err_neg(err, r, "cgroup v1: freeze");
        }
        r = kill_frozen(cg, err);
        thawed = freezer_set(fz, "THAWED", false);
        if (r == 0 && thawed < 0)
                r = cd_err_neg(err, thawed, "cgroup v1: thaw");
        return r;
}

const struct cg_ops cd_cgroup_v1_ops = {
        .create_leaf = v1_create_leaf,
        .enter = v1_enter,
        .leave = v1_leave,
        .cpu_usage_us = v1_cpu_usage_us,
        .oom_kills = v1_oom_kills,
        .usage = v1_usage,
        .signal_kill = v1_signal_kill,
        .lift_cpu_quota = v1_lift_cpu_quota,
        .wait_empty = cd_cgroup_wait_empty,
        .is_empty = v1_is_empty,
};
