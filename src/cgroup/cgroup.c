/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/util.h"
#include "cgroup-internal.h"

#define DEFAULT_ROOT   "/sys/fs/cgroup"
#define DEFAULT_PARENT "cordon"

const char *cd_cgroup_mode_to_string(enum cd_cgroup_mode mode)
{
        switch (mode) {
        case CD_CGROUP_V1:
                return "v1";
        case CD_CGROUP_V2:
                return "v2";
        case CD_CGROUP_AUTO:
                return "auto";
        }
        return "unknown";
}

int cd_cgroup_mode_from_string(const char *s, enum cd_cgroup_mode *ret)
{
        if (strcmp(s, "v1") == 0)
                *ret = CD_CGROUP_V1;
        else if (strcmp(s, "v2") == 0)
                *ret = CD_CGROUP_V2;
        else if (strcmp(s, "auto") == 0)
                *ret = CD_CGROUP_AUTO;
        else
                return -EINVAL;
        return 0;
}

static bool is_cgroup2(const char *root)
{
        struct statfs fs;

        return statfs(root, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

int cd_cgroup_host_open(const struct cd_cgroup_config *cfg, struct cd_cgroup_host **ret,
                        struct cd_err *err)
{
        const char *root = cfg && cfg->root ? cfg->root : DEFAULT_ROOT;
        const char *parent = cfg ? cfg->parent : NULL;
        enum cd_cgroup_mode mode = cfg ? cfg->mode : CD_CGROUP_AUTO;
        struct cd_cgroup_host *h;
        int r;

        /* Before anything is read of where we are: a supervisor another user
         * could freeze or stop would hold back its jobs' wall limits. */
        r = cd_cgroup_leave_every_foreign(err);
        if (r < 0)
                return r;
        if (mode == CD_CGROUP_AUTO)
                mode = is_cgroup2(root) ? CD_CGROUP_V2 : CD_CGROUP_V1;
        h = calloc(1, sizeof(*h));
        if (!h)
                return cd_err_set(err, ENOMEM, "cgroup: out of memory");
        for (int i = 0; i < _CG_MAX; i++) {
                h->parent_fd[i] = -1;
                h->self_fd[i] = -1;
                h->top_fd[i] = -1;
                h->alias[i] = i;
        }
        h->mode = mode;
        h->swap_active = cd_cgroup_swap_active();
        if (mode == CD_CGROUP_V2) {
                h->ops = &cd_cgroup_v2_ops;
                r = cd_cgroup_v2_open(h, root, parent, err);
        } else {
                h->ops = &cd_cgroup_v1_ops;
                r = cd_cgroup_v1_open(h, root, parent ? parent : DEFAULT_PARENT, err);
        }
        if (r < 0) {
                (void) cd_cgroup_host_free(h);
                return r;
        }
        *ret = h;
        return 0;
}

struct cd_cgroup_host *cd_cgroup_host_free(struct cd_cgroup_host *h)
{
        if (!h)
                return NULL;
        for (int i = 0; i < _CG_MAX; i++)
                if (h->alias[i] == i) {
                        (void) cd_close(h->parent_fd[i]);
                        (void) cd_close(h->self_fd[i]);
                        (void) cd_close(h->top_fd[i]);
                }
        free(h);
        return NULL;
}

enum cd_cgroup_mode cd_cgroup_host_mode(const struct cd_cgroup_host *h)
{
        return h->mode;
}

void cd_cgroup_init(struct cd_cgroup *cg)
{
        *cg = (struct cd_cgroup){ 0 };
        for (int i = 0; i < CD_CGROUP_MAX_FDS; i++)
                cg->fd[i] = -1;
}

static bool valid_name(const char *name)
{
        size_t n = strlen(name);

        if (n == 0 || n >= sizeof(((struct cd_cgroup *) 0)->name) || name[0] == '.')
                return false;
        return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

int cd_cgroup_create(struct cd_cgroup *cg, const struct cd_cgroup_host *h, const char *name,
                     const struct cd_limits *l, struct cd_err *err)
{
        if (!valid_name(name))
                return cd_err_set(err, CD_E_INVALID, "cgroup: invalid name");
        /* Where swap is not accounted, asked again for each job: a swapon
         * after start must not let jobs spill past their memory limit. */
        if (!(h->mode == CD_CGROUP_V2 ? h->swap_max : h->memsw) && cd_cgroup_swap_active())
                return cd_err_set(err, CD_E_UNSUPPORTED,
                                  "cgroup: swap is on but the kernel does not account it "
                                  "(boot with swapaccount=1): the memory limit would not hold");
        if (cd_fault("cgroup"))
                return cd_err_set(err, CD_E_FAULT, "cgroup: injected fault");
        cg->host = h;
        (void) snprintf(cg->name, sizeof(cg->name), "%s", name);
        return h->ops->create_leaf(cg, l, err);
}

int cd_cgroup_clone_fd(const struct cd_cgroup *cg)
{
        return cg->host->mode == CD_CGROUP_V2 ? cg->fd[CG_V2] : -1;
}

int cd_cgroup_enter(const struct cd_cgroup *cg, struct cd_err *err)
{
        return cg->host->ops->enter(cg, err);
}

int cd_cgroup_leave(const struct cd_cgroup *cg, struct cd_err *err)
{
        return cg->host->ops->leave(cg, err);
}

int cd_cgroup_cpu_usage_us(const struct cd_cgroup *cg, uint64_t *ret)
{
        return cg->host->ops->cpu_usage_us(cg, ret);
}

int cd_cgroup_oom_kills(const struct cd_cgroup *cg, uint64_t *ret)
{
        return cg->host->ops->oom_kills(cg, ret);
}

int cd_cgroup_usage(const struct cd_cgroup *cg, struct cd_cgroup_usage *ret, struct cd_err *err)
{
        *ret = (struct cd_cgroup_usage){ 0 };
        return cg->host->ops->usage(cg, ret, err);
}

/* Every task has its SIGKILL once ops->signal_kill returns: nothing of the
 * job runs again but the kernel's exit paths, which the quota would only
 * slow down. */
int cd_cgroup_signal_kill(const struct cd_cgroup *cg, struct cd_err *err)
{
        int r = cd_fault("cgroup_signal_kill")
                        ? cd_err_set(err, CD_E_FAULT, "cgroup: injected fault")
                        : cg->host->ops->signal_kill(cg, err);

        return r < 0 ? r : cg->host->ops->lift_cpu_quota(cg, err);
}

int cd_cgroup_kill(const struct cd_cgroup *cg, struct cd_err *err)
{
        struct cd_err ignored;
        int r = cg->host->ops->signal_kill(cg, err);

        if (r < 0)
                return r;
        /* Not lifted: their end is slower, and the wait below bounds it. */
        (void) cg->host->ops->lift_cpu_quota(cg, &ignored);
        if (!cg->host->ops->wait_empty(cg, 5000))
                return cd_err_set(err, CD_E_NOT_EMPTY, "cgroup: %s still has tasks", cg->name);
        return 0;
}

struct only {
        pid_t pid;
        bool other;
};

static int note_other(pid_t pid, void *u)
{
        struct only *o = u;

        o->other |= pid != o->pid;
        return 0;
}

bool cd_cgroup_holds_only(const struct cd_cgroup *cg, pid_t pid)
{
        struct only o = { .pid = pid };
        int i = 0;

        /* Every leaf holds the same tasks; a read error counts as "others". */
        while (i < CD_CGROUP_MAX_FDS && cg->fd[i] < 0)
                i++;
        if (i == CD_CGROUP_MAX_FDS)
                return true;
        return cd_cgroup_for_each_pid(cg->fd[i], "cgroup.procs", note_other, &o) == 0 && !o.other;
}

bool cd_cgroup_is_empty(const struct cd_cgroup *cg)
{
        return cg->host->ops->is_empty(cg);
}

int cd_cgroup_empty(const struct cd_cgroup *cg, struct cd_err *err)
{
        return cd_cgroup_is_empty(cg) ? 0 : cd_cgroup_kill(cg, err);
}

/* rmdir(2) on a cgroup can fail with EBUSY for a moment after its last task
 * was reaped; the kernel removes the task from the cgroup asynchronously. */
static int remove_leaf(int parent_fd, const char *name)
{
        for (int i = 0; i < 200; i++) {
                struct timespec ts = { 0, 5 * 1000 * 1000 };

                if (unlinkat(parent_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
                        return 0;
                if (errno != EBUSY)
                        return -errno;
                (void) nanosleep(&ts, NULL);
        }
        return -EBUSY;
}

/* The leaves' fds, once a removal failed: no caller tries again with
 * them, and cordond would lose them with every failed teardown. */
static void close_leaves(struct cd_cgroup *cg)
{
        for (int i = 0; i < CD_CGROUP_MAX_FDS; i++)
                cg->fd[i] = cd_close(cg->fd[i]);
}

/* rmdir(2) is the check that the leaf is empty: it fails with EBUSY while
 * a task is in it. Only then are the leaves' tasks looked for and killed. */
static int destroy_leaf(struct cd_cgroup *cg, int i, struct cd_err *err)
{
        int parent_fd = cg->host->parent_fd[i];
        int r = unlinkat(parent_fd, cg->name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -errno;

        if (r == -EBUSY) {
                r = cd_cgroup_empty(cg, err);
                if (r < 0)
                        return r;
                r = remove_leaf(parent_fd, cg->name);
        }
        if (r < 0)
                return cd_err_neg(err, r, "cgroup: remove %s", cg->name);
        cg->fd[i] = cd_close(cg->fd[i]);
        return 0;
}

int cd_cgroup_destroy(struct cd_cgroup *cg, struct cd_err *err)
{
        if (!cg->host)
                return 0;
        for (int i = 0; i < CD_CGROUP_MAX_FDS; i++) {
                int r;

                if (cg->fd[i] < 0)
                        continue;
                r = destroy_leaf(cg, i, err);
                if (r < 0) {
                        close_leaves(cg);
                        return r;
                }
        }
        cg->host = NULL;
        return 0;
}

static int sweep_one(const struct cd_cgroup_host *h, const char *name, struct cd_err *err)
{
        struct cd_cgroup cg;

        cd_cgroup_init(&cg);
        cg.host = h;
        (void) snprintf(cg.name, sizeof(cg.name), "%s", name);
        for (int i = 0; i < _CG_MAX && i < CD_CGROUP_MAX_FDS; i++) {
                if (h->alias[i] != i || h->parent_fd[i] < 0)
                        continue;
                cg.fd[i] = openat(h->parent_fd[i], name,
                                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (cg.fd[i] < 0 && errno != ENOENT) {
                        struct cd_err ignored;
                        int r = cd_err_errno(err, "cgroup: open stale %s", name);

                        /* The leaves opened so far go; the open's error is the one to report. */
                        (void) cd_cgroup_destroy(&cg, &ignored);
                        return r;
                }
        }
        return cd_cgroup_destroy(&cg, err);
}

/* Sweep the leaves named @prefix* under the parent in hierarchy @i. */
static int sweep_hierarchy(const struct cd_cgroup_host *h, int i, const char *prefix,
                           int (*claim)(const char *name, void *userdata), void *userdata,
                           struct cd_err *err)
{
        cleanup_close int fd = -1;
        DIR *d;
        struct dirent *de;
        int n = 0, r = 0;

        fd = openat(h->parent_fd[i], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cd_err_errno(err, "cgroup: open parent");
        d = fdopendir(fd);
        if (!d)
                return cd_err_errno(err, "cgroup: fdopendir");
        fd = -1;
        while (r == 0 && (de = readdir(d))) {
                int lock;

                if (de->d_type != DT_DIR || strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
                    !valid_name(de->d_name))
                        continue;
                lock = claim(de->d_name, userdata);
                if (lock < 0)
                        continue;
                r = sweep_one(h, de->d_name, err);
                (void) cd_close(lock);
                if (r == 0)
                        n++;
        }
        (void) closedir(d);
        return r < 0 ? r : n;
}

/* Every hierarchy is listed: a supervisor killed while it removed a
 * leaf's directories one by one leaves them in some hierarchies only. */
int cd_cgroup_sweep(const struct cd_cgroup_host *h, const char *prefix,
                    int (*claim)(const char *name, void *userdata), void *userdata,
                    struct cd_err *err)
{
        int n = 0;

        for (int i = 0; i < _CG_MAX && i < CD_CGROUP_MAX_FDS; i++) {
                int r;

                if (h->alias[i] != i || h->parent_fd[i] < 0)
                        continue;
                r = sweep_hierarchy(h, i, prefix, claim, userdata, err);
                if (r < 0)
                        return r;
                n += r;
        }
        return n;
}

int cd_cgroup_keyed(const char *buf, const char *key, uint64_t *ret)
{
        size_t klen = strlen(key);

        for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                char num[32];
                size_t n;

                if (strncmp(p, key, klen) != 0 || p[klen] != ' ')
                        continue;
                n = strcspn(p + klen + 1, "\n");
                if (n == 0 || n >= sizeof(num))
                        return -EINVAL;
                memcpy(num, p + klen + 1, n);
                num[n] = '\0';
                return cd_parse_u64(num, ret);
        }
        return -ENOENT;
}

void cd_cgroup_split_cpu(uint64_t total, uint64_t user_ticks, uint64_t sys_ticks,
                         uint64_t *ret_user, uint64_t *ret_sys)
{
        uint64_t sys;

        if (sys_ticks == 0)
                sys = 0; /* no samples at all: all of it is user time, as the kernel says */
        else if (user_ticks == 0)
                sys = total;
        else
                sys = (uint64_t) ((unsigned __int128) total * sys_ticks /
                                  ((unsigned __int128) user_ticks + sys_ticks));
        *ret_sys = sys;
        *ret_user = total - sys;
}

int cd_cgroup_read_u64(int dirfd, const char *name, uint64_t *ret)
{
        char buf[64];
        ssize_t n = cd_read_at(dirfd, name, buf, sizeof(buf));

        if (n < 0)
                return (int) n;
        buf[strcspn(buf, "\n")] = '\0';
        if (strcmp(buf, "max") == 0) {
                *ret = UINT64_MAX;
                return 0;
        }
        return cd_parse_u64(buf, ret);
}

int cd_cgroup_write_u64(int dirfd, const char *name, uint64_t v)
{
        char buf[32];

        (void) snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return cd_write_at(dirfd, name, buf);
}

int cd_cgroup_open_parent(int root_fd, const char *path, int *ret_fd, struct cd_err *err)
{
        cleanup_close int cur = -1;
        char comp[256];

        cur = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cur < 0)
                return cd_err_errno(err, "cgroup: open hierarchy root");
        for (const char *p = path; *p;) {
                size_t n = strcspn(p, "/");
                int next;

                if (n == 0) {
                        p++;
                        continue;
                }
                if (n >= sizeof(comp) || (n <= 2 && strncmp(p, "..", n) == 0))
                        return cd_err_set(err, CD_E_INVALID, "cgroup: bad parent path %s", path);
                memcpy(comp, p, n);
                comp[n] = '\0';
                if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
                        return cd_err_errno(err, "cgroup: create parent %s", path);
                next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0)
                        return cd_err_errno(err, "cgroup: open parent %s", path);
                (void) cd_close(cur);
                cur = next;
                p += n;
        }
        *ret_fd = TAKE_FD(cur);
        return 0;
}

bool cd_cgroup_wait_empty(const struct cd_cgroup *cg, uint64_t timeout_ms)
{
        uint64_t deadline = cd_now_ms() + timeout_ms;

        for (;;) {
                struct timespec ts = { 0, 1000 * 1000 };

                if (cd_cgroup_is_empty(cg))
                        return true;
                if (cd_now_ms() >= deadline)
                        return false;
                (void) nanosleep(&ts, NULL);
        }
}

static int parse_pid(const char *num, pid_t *ret)
{
        uint64_t pid;

        if (cd_parse_u64(num, &pid) < 0 || pid == 0 || pid > INT32_MAX)
                return -EINVAL;
        *ret = (pid_t) pid;
        return 0;
}

int cd_cgroup_for_each_pid(int dirfd, const char *file, int (*fn)(pid_t pid, void *u), void *u)
{
        cleanup_close int fd = -1;
        char buf[8192], num[16];
        size_t nlen = 0;
        ssize_t n;
        pid_t pid;
        int r;

        fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        while ((n = read(fd, buf, sizeof(buf))) > 0) {
                for (ssize_t i = 0; i < n; i++) {
                        if (buf[i] != '\n') {
                                if (nlen + 1 >= sizeof(num))
                                        return -EINVAL;
                                num[nlen++] = buf[i];
                                continue;
                        }
                        num[nlen] = '\0';
                        nlen = 0;
                        r = parse_pid(num, &pid);
                        if (r == 0)
                                r = fn(pid, u);
                        if (r < 0)
                                return r;
                }
        }
        if (n < 0)
                return -errno;
        if (nlen == 0)
                return 0;
        /* A last line without its newline. */
        num[nlen] = '\0';
        r = parse_pid(num, &pid);
        return r < 0 ? r : fn(pid, u);
}

bool cd_cgroup_swap_active(void)
{
        char buf[512];
        ssize_t n = cd_read_at(AT_FDCWD, "/proc/swaps", buf, sizeof(buf));

        /* No file: a kernel without swap. Unreadable: assume swap. */
        if (n < 0)
                return n != -ENOENT;
        /* The first line is a header; any second line is an active swap area. */
        return n > 0 && strchr(buf, '\n') && strchr(buf, '\n')[1] != '\0';
}
