/* SPDX-License-Identifier: MIT */
/*
 * Files: reading host files (directly or through /proc/PID/root), writing
 * outside /tmp, /work, /out and /dev/shm, /proc/sys, /sys, cgroup files and
 * release_agent (CVE-2022-0492), leaked fds and a working directory outside
 * the root (CVE-2024-21626).
 *
 * Writes on the host are opens for writing of existing files (never
 * truncated, nothing written) and files created and removed at once;
 * --bare skips the creation outside temporary directories.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/fsmap.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

#define MAX_PIDS   4096
#define MAX_CGROUP 32

static int read_one(struct probe_ctx *c, const char *path)
{
        char buf[64];
        ssize_t n;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                note(c, "%s: %s", path, ename(errno));
                return BLOCKED;
        }
        n = read(fd, buf, sizeof(buf));
        (void) close(fd);
        if (n < 0 && errno != EISDIR) {
                note(c, "%s: read: %s", path, ename(errno));
                return BLOCKED;
        }
        return verdict(c, ESCAPED, "read %s (%zd bytes)", path, n < 0 ? (ssize_t) 0 : n);
}

static int probe_read_file(struct probe_ctx *c, int argc, char **argv)
{
        int r = BLOCKED;

        if (argc < 1)
                return verdict(c, BROKEN, "usage: read-file PATH...");
        for (int i = 0; i < argc; i++)
                if (read_one(c, argv[i]) == ESCAPED)
                        r = ESCAPED;
        return r;
}

static int probe_proc_root_read(struct probe_ctx *c, int argc, char **argv)
{
        static pid_t pids[MAX_PIDS];
        char path[PATH_MAX];
        size_t n, blocked = 0;

        if (argc != 1 || argv[0][0] != '/')
                return verdict(c, BROKEN, "usage: proc-root-read /ABSOLUTE/PATH");
        n = list_pids(pids, MAX_PIDS);
        for (size_t i = 0; i < n; i++) {
                struct probe_ctx quiet = { .name = c->name };

                (void) snprintf(path, sizeof(path), "/proc/%d/root%s", (int) pids[i], argv[0]);
                if (read_one(&quiet, path) == ESCAPED)
                        return verdict(c, ESCAPED, "%s", quiet.detail);
                if (blocked++ < 2)
                        note(c, "%s", quiet.detail);
        }
        return verdict(c, BLOCKED, "not readable through any of %zu /proc/PID/root", n);
}

/* Directories the job must not write to; /tmp, /work, /out and /dev/shm
 * are the writable ones by design. */
static const char *const outside[] = {
        "/",
        "/etc",
        "/usr",
        "/usr/bin",
        "/usr/lib",
        "/usr/local",
        "/bin",
        "/sbin",
        "/lib",
        "/var",
        "/var/tmp",
        "/root",
        "/home",
        "/opt",
        "/srv",
        "/mnt",
        "/boot",
        "/run",
        "/dev",
        "/proc",
        "/proc/sys/kernel",
        "/proc/sys/vm",
        "/proc/sys/fs",
        "/proc/sys/net/core",
        "/sys/kernel",
        "/sys/fs/cgroup",
        "/sys/class/net/lo",
        "/sys/power",
};

/* Open @path for writing without truncating it (and close it). */
static int open_for_write(const char *path)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);

        if (fd < 0)
                return -errno;
        (void) close(fd);
        return 0;
}

/* The first regular file in @dir (with a write bit if there is one). */
static int first_file(const char *dir, char *out, size_t size)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        bool found = false;

        if (!d)
                return -errno;
        while ((e = readdir(d))) {
                struct stat st;

                if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode))
                        continue;
                (void) snprintf(out, size, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", e->d_name);
                found = true;
                if (st.st_mode & 0222)
                        break;
        }
        (void) closedir(d);
        return found ? 0 : -ENOENT;
}

/* Create a file in @dir and remove it at once. */
static int create_in(const char *dir, char *path, size_t size)
{
        static unsigned int seq;
        int fd;

        (void) snprintf(path, size, "%s%s.cordon-probe-%d-%u", dir, strcmp(dir, "/") ? "/" : "",
                        (int) getpid(), seq++);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        (void) close(fd);
        (void) unlink(path);
        return 0;
}

static int write_dir(struct probe_ctx *c, const char *dir, int *ret_tried)
{
        char path[PATH_MAX];
        int r;

        if (!c->bare) {
                (*ret_tried)++;
                r = create_in(dir, path, sizeof(path));
                if (r == 0)
                        return verdict(c, ESCAPED, "created %s", path);
        }
        if (first_file(dir, path, sizeof(path)) < 0)
                return BLOCKED;
        (*ret_tried)++;
        r = open_for_write(path);
        if (r == 0)
                return verdict(c, ESCAPED, "opened %s for writing", path);
        return BLOCKED;
}

static int probe_write_outside(struct probe_ctx *c, int argc, char **argv)
{
        int escaped = 0, tried = 0;
        size_t n = argc > 0 ? (size_t) argc : ELEMENTSOF(outside);

        for (size_t i = 0; i < n; i++) {
                const char *dir = argc > 0 ? argv[i] : outside[i];

                if (write_dir(c, dir, &tried) == ESCAPED && ++escaped >= 6)
                        break;
        }
        if (escaped)
                return ESCAPED;
        return verdict(c, BLOCKED, "%d writes refused in %zu directories", tried, n);
}

/* Open each of @paths for writing; escaped if any opens. Absent ones are n/a bare. */
static int write_any(struct probe_ctx *c, const char *const *paths, size_t n)
{
        size_t absent = 0;

        for (size_t i = 0; i < n; i++) {
                int r = open_for_write(paths[i]);

                if (r == 0)
                        return verdict(c, ESCAPED, "opened %s for writing", paths[i]);
                if (r == -ENOENT)
                        absent++;
                note(c, "%s: %s", paths[i], ename(-r));
        }
        if (absent == n && c->bare)
                return NOT_APPLICABLE;
        return BLOCKED;
}

static int probe_write_proc_sys(struct probe_ctx *c, int argc, char **argv)
{
        static const char *const paths[] = {
                "/proc/sys/kernel/core_pattern",
                "/proc/sys/kernel/hostname",
                "/proc/sys/vm/drop_caches",
                "/proc/sys/fs/file-max",
        };

        (void) argc;
        (void) argv;
        return write_any(c, paths, ELEMENTSOF(paths));
}

static int probe_write_sys(struct probe_ctx *c, int argc, char **argv)
{
        static const char *const dirs[] = { "/sys/kernel", "/sys/class/net/lo", "/sys/power",
                                            "/sys/kernel/mm/transparent_hugepage" };
        char paths[ELEMENTSOF(dirs)][PATH_MAX];
        const char *list[ELEMENTSOF(dirs)];
        size_t n = 0;

        (void) argc;
        (void) argv;
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                if (first_file(dirs[i], paths[n], sizeof(paths[n])) == 0) {
                        list[n] = paths[n];
                        n++;
                }
        if (n == 0)
                return verdict(c, c->bare ? NOT_APPLICABLE : BLOCKED, "no file under /sys");
        return write_any(c, list, n);
}

static int probe_sysrq_trigger(struct probe_ctx *c, int argc, char **argv)
{
        static const char *const paths[] = { "/proc/sysrq-trigger" };

        (void) argc;
        (void) argv;
        return write_any(c, paths, ELEMENTSOF(paths));
}

struct cgroup_mounts {
        char dirs[MAX_CGROUP][PATH_MAX];
        bool v1[MAX_CGROUP];
        size_t n;
};

/* Mount points of cgroup and cgroup2 file systems in /proc/self/mountinfo. */
static void find_cgroup_mounts(struct cgroup_mounts *m)
{
        static char buf[1 << 16];
        char *save = NULL;

        m->n = 0;
        if (read_text("/proc/self/mountinfo", buf, sizeof(buf)) <= 0)
                return;
        for (char *line = strtok_r(buf, "\n", &save); line && m->n < MAX_CGROUP;
             line = strtok_r(NULL, "\n", &save)) {
                char mnt[PATH_MAX], fstype[32];
                const char *sep = strstr(line, " - ");

                if (!sep || sscanf(sep + 3, "%31s", fstype) != 1)
                        continue;
                if (strcmp(fstype, "cgroup") != 0 && strcmp(fstype, "cgroup2") != 0)
                        continue;
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
                        continue;
                (void) snprintf(m->dirs[m->n], PATH_MAX, "%s", mnt);
                m->v1[m->n++] = strcmp(fstype, "cgroup") == 0;
        }
}

static int probe_cgroup_write(struct probe_ctx *c, int argc, char **argv)
{
        static const char *const files[] = { "cgroup.procs", "tasks", "cgroup.subtree_control",
                                             "release_agent", "notify_on_release" };
        static struct cgroup_mounts m;
        char own[4096], path[PATH_MAX];
        const char *own_paths[MAX_CGROUP];
        size_t n_own = 0;
        char *save = NULL;
        int tried = 0;

        (void) argc;
        (void) argv;
        find_cgroup_mounts(&m);
        if (m.n == 0)
                return verdict(c, BLOCKED, "no cgroup file system is mounted");
        if (read_text("/proc/self/cgroup", own, sizeof(own)) < 0)
                own[0] = '\0';
        for (char *l = strtok_r(own, "\n", &save); l && n_own < MAX_CGROUP;
             l = strtok_r(NULL, "\n", &save)) {
                char *p = strchr(l, ':');

                p = p ? strchr(p + 1, ':') : NULL;
                if (p && strcmp(p + 1, "/") != 0)
                        own_paths[n_own++] = p + 1;
        }
        for (size_t i = 0; i < m.n; i++) {
                for (size_t j = 0; j < ELEMENTSOF(files); j++) {
                        (void) snprintf(path, sizeof(path), "%s/%s", m.dirs[i], files[j]);
                        tried++;
                        if (open_for_write(path) == 0)
                                return verdict(c, ESCAPED, "opened %s for writing", path);
                }
                /* The job's own cgroup: the path after the second ':' of
                 * each line of /proc/self/cgroup. */
                for (size_t k = 0; k < n_own; k++) {
                        (void) snprintf(path, sizeof(path), "%s%s/cgroup.procs", m.dirs[i],
                                        own_paths[k]);
                        tried++;
                        if (open_for_write(path) == 0)
                                return verdict(c, ESCAPED, "opened %s for writing", path);
                }
        }
        return verdict(c, BLOCKED, "%zu cgroup mounts, %d files refused", m.n, tried);
}

/* Read release_agent and write the same value back: a write that changes
 * nothing, but is refused unless the writer has CAP_SYS_ADMIN in the
 * initial user namespace (the CVE-2022-0492 fix checks on write). */
static int rewrite_release_agent(struct probe_ctx *c, const char *path)
{
        char value[PATH_MAX + 1];
        ssize_t n;
        int fd;

        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                note(c, "open %s: %s", path, ename(errno));
                return BLOCKED;
        }
        n = read(fd, value, sizeof(value) - 1);
        if (n < 0) {
                note(c, "read %s: %s", path, ename(errno));
                (void) close(fd);
                return BLOCKED;
        }
        if (n == 0)
                value[n++] = '\n';
        if (pwrite(fd, value, (size_t) n, 0) < 0) {
                note(c, "write %s: %s", path, ename(errno));
                (void) close(fd);
                return BLOCKED;
        }
        (void) close(fd);
        return verdict(c, ESCAPED, "wrote %s (its own value back)", path);
}

static int map_root(void)
{
        char map[64];
        uid_t uid = geteuid();
        gid_t gid = getegid();
        int fd;

        fd = open("/proc/self/setgroups", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                if (write(fd, "deny", 4) < 0) {
                        /* gid_map below fails then, which is reported */
                }
                (void) close(fd);
        }
        for (int i = 0; i < 2; i++) {
                (void) snprintf(map, sizeof(map), "0 %u 1\n", i ? (unsigned) gid : (unsigned) uid);
                fd = open(i ? "/proc/self/gid_map" : "/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                if (write(fd, map, strlen(map)) < 0) {
                        int e = errno;

                        (void) close(fd);
                        return -e;
                }
                (void) close(fd);
        }
        return 0;
}

/* Where the mount below happens. In the sandbox: a new user, mount and
 * cgroup namespace, as CVE-2022-0492 did, else the sandbox's own namespace
 * (the sandbox refuses both). Bare: host root in a private mount namespace,
 * which shows the hole without a user namespace. Returns 0 or -1. */
static int release_agent_ns(struct probe_ctx *c)
{
        int r;

        if (!c->bare) {
                if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) == 0) {
                        if (map_root() < 0)
                                note(c, "uid/gid map: %s", ename(errno));
                        note(c, "in a new user namespace");
                } else {
                        note(c, "unshare(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWCGROUP): %s",
                             ename(errno));
                }
                if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                        note(c, "make / private: %s", ename(errno));
                return 0;
        }
        r = private_mounts();
        if (r < 0) {
                note(c, "no private mount namespace on the host: %s", ename(-r));
                return -1;
        }
        return 0;
}

/* Mount a cgroup v1 hierarchy (a controller v2 does not hold, else a new
 * named one, which the kernel lets any user namespace create) and set its
 * release_agent, which the kernel would run as host root. */
static int release_agent_mount(struct probe_ctx *c, void *arg)
{
        static const char *const options[] = { "rdma", "memory", "pids", "cpu",
                                               "none,name=cordon-probe" };
        char dir[256], path[PATH_MAX];
        int r = BLOCKED;

        (void) arg;
        if (release_agent_ns(c) < 0)
                return BROKEN;
        if (make_tempdir("/tmp", dir, sizeof(dir)) < 0)
                return verdict(c, BROKEN, "mkdtemp in /tmp: %s", ename(errno));
        for (size_t i = 0; i < ELEMENTSOF(options) && r != ESCAPED; i++) {
                if (mount("cgroup", dir, "cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC, options[i]) <
                    0) {
                        note(c, "mount cgroup %s: %s", options[i], ename(errno));
                        continue;
                }
                (void) snprintf(path, sizeof(path), "%s/release_agent", dir);
                r = rewrite_release_agent(c, path);
                (void) umount2(dir, MNT_DETACH);
        }
        (void) rmdir(dir);
        return r;
}

/* Whether /proc/filesystems lists @fs. */
static bool has_filesystem(const char *fs)
{
        static char buf[8192];
        char want[64];

        if (read_text("/proc/filesystems", buf, sizeof(buf)) <= 0)
                return true; /* cannot tell: try */
        (void) snprintf(want, sizeof(want), "\t%s\n", fs);
        return strstr(buf, want) != NULL;
}

static int probe_release_agent(struct probe_ctx *c, int argc, char **argv)
{
        static struct cgroup_mounts m;
        char path[PATH_MAX];

        (void) argc;
        (void) argv;
        /* A v1 hierarchy already visible: opening its release_agent for
         * writing is enough (nothing is written). */
        find_cgroup_mounts(&m);
        for (size_t i = 0; i < m.n; i++) {
                if (!m.v1[i])
                        continue;
                (void) snprintf(path, sizeof(path), "%s/release_agent", m.dirs[i]);
                if (open_for_write(path) == 0)
                        return verdict(c, ESCAPED, "opened %s for writing", path);
        }
        note(c, "%zu cgroup mounts visible", m.n);
        if (c->bare && !has_filesystem("cgroup"))
                return verdict(c, NOT_APPLICABLE, "this kernel has no cgroup v1");
        return in_child(c, release_agent_mount, NULL, NULL);
}

static int probe_leaked_fds(struct probe_ctx *c, int argc, char **argv)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        int leaked = 0;

        (void) argc;
        (void) argv;
        if (!d)
                return verdict(c, BROKEN, "/proc/self/fd: %s", ename(errno));
        while ((e = readdir(d))) {
                char link[64], target[PATH_MAX];
                pid_t fd;
                ssize_t n;

                if (parse_pid(e->d_name, &fd) < 0 || fd <= 2 || fd == dirfd(d))
                        continue;
                (void) snprintf(link, sizeof(link), "/proc/self/fd/%d", (int) fd);
                n = readlink(link, target, sizeof(target) - 1);
                target[n < 0 ? 0 : n] = '\0';
                if (leaked++ < 4)
                        note(c, "fd %d -> %s", (int) fd, target);
        }
        (void) closedir(d);
        if (leaked)
                return verdict(c, ESCAPED, "%d fds above 2 are open", leaked);
        return verdict(c, BLOCKED, "only fds 0-2 are open");
}

/* The working directory is outside the root if the kernel says so
 * ("(unreachable)", getcwd(2)) or if walking ".." from it ends somewhere
 * other than "/". */
static int probe_cwd_outside(struct probe_ctx *c, int argc, char **argv)
{
        char cwd[PATH_MAX];
        struct stat root, st, up;
        long n;
        int fd;

        (void) argc;
        (void) argv;
        n = syscall(SYS_getcwd, cwd, sizeof(cwd));
        if (n < 0)
                return verdict(c, BROKEN, "getcwd: %s", ename(errno));
        if (cwd[0] != '/')
                return verdict(c, ESCAPED, "getcwd: %s", cwd);
        if (stat("/", &root) < 0)
                return verdict(c, BROKEN, "stat /: %s", ename(errno));
        fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return verdict(c, BROKEN, "open .: %s", ename(errno));
        for (int depth = 0; depth < 256; depth++) {
                int parent;

                if (fstat(fd, &st) < 0 || fstatat(fd, "..", &up, 0) < 0)
                        break;
                if (st.st_dev == up.st_dev && st.st_ino == up.st_ino)
                        break; /* a root: "/" or a foreign one */
                parent = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
                (void) close(fd);
                fd = parent;
                if (fd < 0)
                        return verdict(c, BROKEN, "open ..: %s", ename(errno));
        }
        (void) close(fd);
        if (st.st_dev != root.st_dev || st.st_ino != root.st_ino)
                return verdict(c, ESCAPED, "'..' from %s ends outside the root", cwd);
        return verdict(c, BLOCKED, "working directory %s is inside the root", cwd);
}

/* ext4's FIEMAP of the extents it has cached: where a file lies on the disk. */
#define EXT4_IOC_GET_ES_CACHE _IOWR('f', 42, struct fiemap)

/* The host file system under the shared trees, asked about itself: the
 * whole disk's space map (no capability needed), its UUIDs, label and
 * sysfs name, and where a host file lies on the disk (FIEMAP, or ext4's
 * copy of it over its extent cache). */
static int probe_host_fs_info(struct probe_ctx *c, int argc, char **argv)
{
        static const struct {
                const char *what;
                unsigned long request;
        } asks[] = {
                { "FS_IOC_GETFSMAP", FS_IOC_GETFSMAP },
                { "FS_IOC_GETFSUUID", _IOR(0x15, 0, unsigned char[17]) },
                { "FS_IOC_GETFSSYSFSPATH", _IOR(0x15, 1, unsigned char[129]) },
                { "EXT4_IOC_GETFSUUID", _IOR('f', 44, uint32_t[2]) },
                { "FS_IOC_GETFSLABEL", FS_IOC_GETFSLABEL },
                { "FS_IOC_FIEMAP", FS_IOC_FIEMAP },
                { "EXT4_IOC_GET_ES_CACHE", EXT4_IOC_GET_ES_CACHE },
        };
        int fd, answered = 0;

        (void) argc;
        (void) argv;
        fd = open("/usr/bin/sh", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return refused(c, errno, "open /usr/bin/sh");
        for (size_t i = 0; i < ELEMENTSOF(asks); i++) {
                /* Zeroed: no records, no extents, length 0 (each then says
                 * how much it has), a full key range for GETFSMAP. */
                union {
                        struct fsmap_head fsmap;
                        struct fiemap fiemap;
                        char bytes[FSLABEL_MAX];
                } u;

                memset(&u, 0, sizeof(u));
                if (asks[i].request == FS_IOC_GETFSMAP) {
                        u.fsmap.fmh_keys[1].fmr_device = UINT32_MAX;
                        u.fsmap.fmh_keys[1].fmr_physical = UINT64_MAX;
                        u.fsmap.fmh_keys[1].fmr_owner = UINT64_MAX;
                        u.fsmap.fmh_keys[1].fmr_offset = UINT64_MAX;
                } else if (asks[i].request == FS_IOC_FIEMAP ||
                           asks[i].request == EXT4_IOC_GET_ES_CACHE) {
                        u.fiemap.fm_length = FIEMAP_MAX_OFFSET;
                }
                if (ioctl(fd, asks[i].request, &u) == 0) {
                        note(c, "%s answered", asks[i].what);
                        answered++;
                } else {
                        note(c, "%s: %s", asks[i].what, ename(errno));
                }
        }
        (void) close(fd);
        if (answered)
                return verdict(c, ESCAPED, "%d of the host file system's own ioctls answered",
                               answered);
        return verdict(c, BLOCKED, "the host file system's ioctls are refused");
}

const struct probe fs_probes[] = {
        { "read-file", probe_read_file, "PATH...", "read a host file (canary, /etc/shadow)" },
        { "proc-root-read", probe_proc_root_read, "PATH",
          "read PATH through /proc/PID/root of every visible process" },
        { "write-outside", probe_write_outside, "[DIR...]",
          "create or open-for-write files outside /tmp, /work, /out, /dev/shm" },
        { "write-proc-sys", probe_write_proc_sys, "", "open /proc/sys files for writing" },
        { "write-sys", probe_write_sys, "", "open /sys files for writing" },
        { "sysrq-trigger", probe_sysrq_trigger, "", "open /proc/sysrq-trigger for writing" },
        { "cgroup-write", probe_cgroup_write, "", "open any cgroup file for writing" },
        { "release-agent", probe_release_agent, "",
          "cgroup v1 release_agent, directly or from a new userns (CVE-2022-0492)" },
        { "leaked-fds", probe_leaked_fds, "", "any fd above 2 is open" },
        { "cwd-outside", probe_cwd_outside, "",
          "working directory outside the root (CVE-2024-21626)" },
        { "host-fs-info", probe_host_fs_info, "",
          "ask the host file system for its space map, UUID, label, sysfs name, extents" },
};
const size_t fs_probes_n = ELEMENTSOF(fs_probes);
