/* SPDX-License-Identifier: MIT */
/*
 * Mounts. The parent makes every tmpfs and host tree as a detached mount
 * (fsmount(2), open_tree(2)): nothing appears in any host directory, and
 * what is left when a job ends vanishes with the last fd and the sandbox's
 * mount namespace, even if the supervisor is killed. The child attaches
 * them below the new root, mounts /proc and pivots.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/util.h"
#include "sandbox-internal.h"

#define PAGE 4096ULL

struct tmpfs_spec {
        const char *what;
        uint64_t size_bytes;
        const char *mode;
        uint64_t nr_inodes; /* 0: tmpfs's default */
        unsigned int attrs; /* MOUNT_ATTR_* */
};

static int set_option(int fs, const char *key, uint64_t v, const char *what, struct cd_err *err)
{
        char buf[32];

        (void) snprintf(buf, sizeof(buf), "%" PRIu64, v);
        if (fsconfig(fs, FSCONFIG_SET_STRING, key, buf, 0) < 0)
                return cd_err_errno(err, "scratch %s: %s", what, key);
        return 0;
}

/* Parent side: a detached tmpfs whose root belongs to @uid/@gid. */
static int make_tmpfs(const struct tmpfs_spec *t, uid_t uid, gid_t gid, int *ret_fd,
                      struct cd_err *err)
{
        cleanup_close int fs = -1;
        int mnt, r;

        fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fs < 0)
                return cd_err_errno(err, "scratch %s: fsopen tmpfs", t->what);
        r = set_option(fs, "size", t->size_bytes, t->what, err);
        if (r == 0 && t->nr_inodes)
                r = set_option(fs, "nr_inodes", t->nr_inodes, t->what, err);
        if (r == 0)
                r = set_option(fs, "uid", uid, t->what, err);
        if (r == 0)
                r = set_option(fs, "gid", gid, t->what, err);
        if (r < 0)
                return r;
        if (fsconfig(fs, FSCONFIG_SET_STRING, "mode", t->mode, 0) < 0)
                return cd_err_errno(err, "scratch %s: mode", t->what);
        if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return cd_err_errno(err, "scratch %s: create", t->what);
        mnt = fsmount(fs, FSMOUNT_CLOEXEC, t->attrs);
        if (mnt < 0)
                return cd_err_errno(err, "scratch %s: fsmount", t->what);
        *ret_fd = mnt;
        return 0;
}

uint64_t cd_out_capacity(uint64_t limit)
{
        return (limit + PAGE - 1) / PAGE * PAGE;
}

/* One page more than the limit: a job that fills /out to the last page has
 * written more than it may (output_limit), one that stays within it has not.
 * tmpfs counts whole pages. */
static uint64_t out_tmpfs_size(uint64_t limit)
{
        return cd_out_capacity(limit) + PAGE;
}

int cd_scratch_create(struct cd_sandbox *sb, uid_t host_uid, gid_t host_gid, struct cd_err *err)
{
        const struct cd_limits *l = &sb->plan->limits;
        const unsigned int common = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
        /* Every file and directory in /out is an inode: bounding them bounds
         * what the collector walks. Running out is output_limit too. */
        const uint64_t out_inodes = sb->plan->artifacts.max_files * 2 + 64;
        const struct tmpfs_spec work = { "work", l->work_size_bytes, "0755", 0, common };
        const struct tmpfs_spec out = { "out", out_tmpfs_size(l->out_size_bytes), "0755",
                                        out_inodes, common | MOUNT_ATTR_NOEXEC };
        const struct tmpfs_spec tmp = { "tmp", l->tmp_size_bytes, "1777", 0, common };
        const struct tmpfs_spec shm = { "shm", l->shm_size_bytes, "1777", 0,
                                        common | MOUNT_ATTR_NOEXEC };
        int r;

        if (cd_fault("scratch"))
                return cd_err_set(err, CD_E_FAULT, "scratch: injected fault");
        r = make_tmpfs(&work, host_uid, host_gid, &sb->work_fd, err);
        if (r == 0)
                r = make_tmpfs(&out, host_uid, host_gid, &sb->out_fd, err);
        if (r == 0)
                r = make_tmpfs(&tmp, host_uid, host_gid, &sb->tmp_fd, err);
        if (r == 0)
                r = make_tmpfs(&shm, host_uid, host_gid, &sb->shm_fd, err);
        return r;
}

/* Child side: attach the detached mount @fd at @target below @dirfd. */
static int attach(int fd, int dirfd, const char *target, struct cd_err *err)
{
        if (move_mount(fd, "", dirfd, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return cd_err_errno(err, "mount: attach %s", target);
        return 0;
}

/* Files of a full /proc that an unprivileged process can read and that
 * tell it about the host's kernel (addresses where kptr_restrict and
 * perf_event_paranoid are lax; host timers on older kernels; the boot
 * command line, which may carry anything the host was booted with; the
 * host's interrupt counts, a timing side channel on other users' keystrokes
 * and network traffic), or that move with the host's and other jobs'
 * activity (disk I/O, memory events and free pages, swap use, every file
 * lock on the host, other uids' key counts, per-CPU run times, the count
 * of cgroups per controller, which other jobs' start and end) or name
 * the boot: masked with /dev/null. Root-only files (kcore, kmsg,
 * vmallocinfo, ...) are already unreadable for the job's host uid; /proc
 * is mounted read-only. */
static const char *const proc_masked[] = {
        "kallsyms",   "modules",  "timer_list", "sched_debug", "cmdline",
        "interrupts", "softirqs", "diskstats",  "vmstat",      "zoneinfo",
        "buddyinfo",  "swaps",    "locks",      "key-users",   "sys/kernel/random/boot_id",
        "schedstat",  "cgroups",
};

/* Directories of such files, covered by an empty read-only tmpfs: per-IRQ
 * counts (irq/N/spurious, the same channel as interrupts), the host's
 * stall times (pressure/), and the host file systems' own counters (fs/:
 * ext4's extent cache hits and misses and free-space groups, jbd2's
 * commits, which follow the host's reads and cordond's fsyncs). */
static const char *const proc_masked_dirs[] = { "irq", "pressure", "fs" };

/* Whether the fresh /proc has @target: 0 yes, 1 absent on this kernel
 * (nothing to hide), or -errno. Asked before a mask is cloned, because a
 * clone closed unattached costs an expedited RCU grace period
 * (namespace_unlock()), about 50 us, on the launch path. */
static int proc_entry_absent(int root_fd, const char *target, struct cd_err *err)
{
        struct stat st;

        if (fstatat(root_fd, target, &st, AT_SYMLINK_NOFOLLOW) == 0)
                return 0;
        if (errno == ENOENT)
                return 1;
        return cd_err_errno(err, "mount: look up /%s", target);
}

static int mask_proc_files(int root_fd, struct cd_err *err)
{
        for (size_t i = 0; i < ELEMENTSOF(proc_masked); i++) {
                cleanup_close int null = -1;
                char target[64];
                int r;

                (void) snprintf(target, sizeof(target), "proc/%s", proc_masked[i]);
                r = proc_entry_absent(root_fd, target, err);
                if (r != 0) {
                        if (r < 0)
                                return r;
                        continue;
                }
                null = open_tree(root_fd, "dev/null", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                if (null < 0)
                        return cd_err_errno(err, "mount: clone /dev/null");
                if (move_mount(null, "", root_fd, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                        return cd_err_errno(err, "mount: mask /%s", target);
        }
        return 0;
}

/* An empty, read-only tmpfs, detached. Returns its mount fd or -errno. */
static int empty_ro_tmpfs(struct cd_err *err)
{
        cleanup_close int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
        int mnt;

        if (fs < 0)
                return cd_err_errno(err, "mount: fsopen tmpfs to mask /proc directories");
        if (fsconfig(fs, FSCONFIG_SET_STRING, "size", "4k", 0) < 0 ||
            fsconfig(fs, FSCONFIG_SET_STRING, "nr_inodes", "1", 0) < 0 ||
            fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0555", 0) < 0 ||
            fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return cd_err_errno(err, "mount: create tmpfs to mask /proc directories");
        mnt = fsmount(fs, FSMOUNT_CLOEXEC,
                      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        if (mnt < 0)
                return cd_err_errno(err, "mount: fsmount tmpfs to mask /proc directories");
        return mnt;
}

/* A clone of the mask already on /proc/@dir. Returns its fd or -errno. */
static int clone_mask(int root_fd, const char *dir, struct cd_err *err)
{
        char source[64];
        int fd;

        (void) snprintf(source, sizeof(source), "proc/%s", dir);
        fd = open_tree(root_fd, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (fd < 0)
                return cd_err_errno(err, "mount: clone the mask of /%s", source);
        return fd;
}

/* One tmpfs for every directory: the first present is attached, the others
 * get clones of it (older kernels cannot clone a detached mount). */
static int mask_proc_dirs(int root_fd, struct cd_err *err)
{
        const char *first = NULL;

        for (size_t i = 0; i < ELEMENTSOF(proc_masked_dirs); i++) {
                cleanup_close int fd = -1;
                char target[64];
                int r;

                (void) snprintf(target, sizeof(target), "proc/%s", proc_masked_dirs[i]);
                r = proc_entry_absent(root_fd, target, err);
                if (r != 0) {
                        if (r < 0)
                                return r;
                        continue;
                }
                fd = first ? clone_mask(root_fd, first, err) : empty_ro_tmpfs(err);
                if (fd < 0)
                        return fd;
                if (move_mount(fd, "", root_fd, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                        return cd_err_errno(err, "mount: mask /%s", target);
                first = first ? first : proc_masked_dirs[i];
        }
        return 0;
}

static int mask_proc(int root_fd, struct cd_err *err)
{
        int r = mask_proc_files(root_fd, err);

        return r < 0 ? r : mask_proc_dirs(root_fd, err);
}

/*
 * A fresh, read-only /proc for the job's pid namespace, listing only the
 * processes the job may ptrace (hidepid=invisible: pid 1, non-dumpable, is
 * not even listed). With subset=pid only process directories remain;
 * otherwise the host-revealing kernel files are masked, and /proc/stat is
 * the supervisor's copy without the interrupt counts.
 */
static int mount_proc(int root_fd, bool subset_pid, struct cd_err *err)
{
        cleanup_close int fs = -1;
        cleanup_close int mnt = -1;
        cleanup_close int stat_copy = -1;
        int r;

        /* The filtered /proc/stat the supervisor left in the root's proc/
         * (rootfs.c), taken before procfs covers it. */
        if (!subset_pid) {
                stat_copy = open_tree(root_fd, "proc/stat", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                if (stat_copy < 0)
                        return cd_err_errno(err, "mount: clone the filtered /proc/stat");
        }

        fs = fsopen("proc", FSOPEN_CLOEXEC);
        if (fs < 0)
                return cd_err_errno(err, "mount: fsopen proc");
        if (fsconfig(fs, FSCONFIG_SET_STRING, "hidepid", "invisible", 0) < 0)
                return cd_err_errno(err, "mount: proc hidepid");
        if (subset_pid && fsconfig(fs, FSCONFIG_SET_STRING, "subset", "pid", 0) < 0)
                return cd_err_errno(err, "mount: proc subset");
        if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return cd_err_errno(err, "mount: create proc");
        mnt = fsmount(fs, FSMOUNT_CLOEXEC,
                      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        if (mnt < 0)
                return cd_err_errno(err, "mount: fsmount proc");
        r = attach(mnt, root_fd, "proc", err);
        if (r < 0 || subset_pid)
                return r;
        r = attach(stat_copy, root_fd, "proc/stat", err);
        if (r < 0)
                return r;
        return mask_proc(root_fd, err);
}

/* pivot_root(".", ".") stacks the old root under the new one; detaching it
 * leaves nothing of the host's mount tree in this namespace (pivot_root(2)). */
static int pivot(int root_fd, struct cd_err *err)
{
        if (fchdir(root_fd) < 0)
                return cd_err_errno(err, "mount: enter new root");
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return cd_err_errno(err, "mount: pivot_root");
        if (umount2(".", MNT_DETACH) < 0)
                return cd_err_errno(err, "mount: detach old root");
        if (chdir("/") < 0)
                return cd_err_errno(err, "mount: chdir /");
        return 0;
}

/* The working directory must be inside the new root, never a leftover
 * reference to a host directory (runc CVE-2024-21626): the kernel's
 * getcwd(2) prefixes "(unreachable)" to a directory outside the root. */
static int enter_workdir(const char *workdir, struct cd_err *err)
{
        char cwd[PATH_MAX];
        long n;

        if (chdir(workdir) < 0)
                return cd_err_errno(err, "mount: chdir %s", workdir);
        n = syscall(SYS_getcwd, cwd, sizeof(cwd));
        if (n < 0)
                return cd_err_errno(err, "mount: getcwd");
        if (cwd[0] != '/' || strcmp(cwd, workdir) != 0)
                return cd_err_set(err, EXDEV, "mount: working directory is outside the new root");
        return 0;
}

static int attach_scratch(const struct cd_sandbox *sb, struct cd_err *err)
{
        int r;

        r = attach(sb->work_fd, sb->root_fd, "work", err);
        if (r < 0)
                return r;
        r = attach(sb->out_fd, sb->root_fd, "out", err);
        if (r < 0)
                return r;
        r = attach(sb->tmp_fd, sb->root_fd, "tmp", err);
        if (r < 0)
                return r;
        return attach(sb->shm_fd, sb->root_fd, "dev/shm", err);
}

int cd_mount_setup_child(const struct cd_sandbox *sb, struct cd_err *err)
{
        int r;

        /* Nothing mounted from here on may propagate to a peer outside. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return cd_err_errno(err, "mount: make / private");
        /* Any directory of this private copy of the host's tree will do as
         * the new root's mountpoint; it is detached with the old root. */
        r = attach(sb->root_fd, AT_FDCWD, "/tmp", err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < sb->n_trees; i++) {
                r = attach(sb->trees[i].fd, sb->root_fd, sb->trees[i].target, err);
                if (r < 0)
                        return r;
        }
        r = attach_scratch(sb, err);
        if (r < 0)
                return r;
        r = mount_proc(sb->root_fd, sb->plan->proc_subset_pid, err);
        if (r < 0)
                return r;
        if (cd_fault("mount"))
                return cd_err_set(err, CD_E_FAULT, "mount: injected fault");
        r = pivot(sb->root_fd, err);
        if (r < 0)
                return r;
        return enter_workdir(sb->plan->workdir, err);
}
