/* SPDX-License-Identifier: MIT */
/*
 * Parent side: the sandbox's root. A small tmpfs holds the skeleton, the
 * generated and filtered /etc and the /dev nodes; it is made read-only
 * before the child sees it. Host trees are cloned as detached read-only
 * mounts for the child to attach.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/util.h"
#include "sandbox-internal.h"

#define ROOT_TMPFS_SIZE "16m"
#define ETC_MAX_BYTES   (8u << 20) /* all copied /etc files together */
#define ETC_COPY_MAX    8192       /* larger /etc files are bound, not copied */
#define MAX_TREES       48

struct etc_budget {
        uint64_t bytes_left;
};

static int push_tree(struct cd_sandbox *sb, const char *source, const char *rel, bool recursive,
                     struct cd_err *err);

static int mkdir_at(int dirfd, const char *path, mode_t mode, struct cd_err *err)
{
        if (mkdirat(dirfd, path, mode) < 0 && errno != EEXIST)
                return cd_err_errno(err, "rootfs: mkdir %s", path);
        if (fchmodat(dirfd, path, mode, 0) < 0) /* not subject to the umask */
                return cd_err_errno(err, "rootfs: chmod %s", path);
        return 0;
}

/* mkdir -p for every component of relative @path up to @upto bytes. */
static int mkdir_parents(int root_fd, const char *path, size_t upto, struct cd_err *err)
{
        char buf[4096];
        int r;

        if (upto >= sizeof(buf))
                return cd_err_set(err, ENAMETOOLONG, "rootfs: path too long");
        memcpy(buf, path, upto);
        buf[upto] = '\0';
        for (char *p = buf; (p = strchr(p + 1, '/'));) {
                *p = '\0';
                r = mkdir_at(root_fd, buf, 0755, err);
                if (r < 0)
                        return r;
                *p = '/';
        }
        return upto > 0 ? mkdir_at(root_fd, buf, 0755, err) : 0;
}

static int parent_dirs(int root_fd, const char *rel, struct cd_err *err)
{
        const char *slash = strrchr(rel, '/');

        return slash ? mkdir_parents(root_fd, rel, (size_t) (slash - rel), err) : 0;
}

static int write_file(int dirfd, const char *name, const char *data, mode_t mode,
                      struct cd_err *err)
{
        cleanup_close int fd = -1;
        int r;

        fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0)
                return cd_err_errno(err, "rootfs: create %s", name);
        r = cd_write_all(fd, data, strlen(data));
        if (r < 0)
                return cd_err_neg(err, r, "rootfs: write %s", name);
        if (fchmod(fd, mode) < 0)
                return cd_err_errno(err, "rootfs: chmod %s", name);
        return 0;
}

static int generate_etc(int etc_fd, const struct cd_plan *p, struct cd_err *err)
{
        char passwd[512], group[256], hosts[256], hostname[80];
        int r;

        (void) snprintf(passwd, sizeof(passwd),
                        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
                        "cordon:x:%u:%u:cordon job:/tmp:/bin/sh\n"
                        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
                        p->job_uid, p->job_gid);
        (void) snprintf(group, sizeof(group), "root:x:0:\ncordon:x:%u:\nnogroup:x:65534:\n",
                        p->job_gid);
        (void) snprintf(hosts, sizeof(hosts),
                        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                        "127.0.1.1\t%s\n",
                        p->hostname);
        (void) snprintf(hostname, sizeof(hostname), "%s\n", p->hostname);
        r = write_file(etc_fd, "passwd", passwd, 0644, err);
        if (r == 0)
                r = write_file(etc_fd, "group", group, 0644, err);
        if (r == 0)
                r = write_file(etc_fd, "hosts", hosts, 0644, err);
        if (r == 0)
                r = write_file(etc_fd, "hostname", hostname, 0644, err);
        if (r == 0)
                r = write_file(etc_fd, "nsswitch.conf",
                               "passwd: files\ngroup: files\nshadow: files\nhosts: files\n"
                               "networks: files\nprotocols: files\nservices: files\n",
                               0644, err);
        return r;
}

/* Recreate the symlink @src_name (relative to @src_dir) as @dst_name below @dst_dir. */
static int copy_symlink(int src_dir, const char *src_name, int dst_dir, const char *dst_name,
                        struct cd_err *err)
{
        char target[4096];
        ssize_t n = readlinkat(src_dir, src_name, target, sizeof(target) - 1);

        if (n < 0)
                return cd_err_errno(err, "rootfs: readlink");
        target[n] = '\0';
        if (symlinkat(target, dst_dir, dst_name) < 0)
                return cd_err_errno(err, "rootfs: symlink");
        return 0;
}

/* Copy at most the size fstat() reported; host /etc is admin-owned, the
 * budget only bounds what one sandbox's root may hold. */
static int copy_regular(int src_dir, int dst_dir, const char *name, struct etc_budget *b,
                        struct cd_err *err)
{
        cleanup_close int in = -1;
        cleanup_close int out = -1;
        struct stat st;
        char buf[65536];
        uint64_t left;

        in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (in < 0)
                return errno == EACCES ? 0 : cd_err_errno(err, "rootfs: open /etc entry");
        if (fstat(in, &st) < 0)
                return cd_err_errno(err, "rootfs: stat /etc entry");
        if (!S_ISREG(st.st_mode))
                return 0;
        if ((uint64_t) st.st_size > b->bytes_left)
                return cd_err_set(err, EFBIG, "rootfs: the /etc allow-list exceeds %u bytes",
                                  ETC_MAX_BYTES);
        b->bytes_left -= (uint64_t) st.st_size;
        out = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return cd_err_errno(err, "rootfs: create /etc entry");
        for (left = (uint64_t) st.st_size; left > 0;) {
                ssize_t n = read(in, buf, left < sizeof(buf) ? left : sizeof(buf));

                if (n < 0)
                        return cd_err_errno(err, "rootfs: read /etc entry");
                if (n == 0)
                        break;
                if (cd_write_all(out, buf, (size_t) n) < 0)
                        return cd_err_errno(err, "rootfs: write /etc entry");
                left -= (uint64_t) n;
        }
        /* Same permission bits, never setuid/setgid/sticky; owner root. */
        if (fchmod(out, st.st_mode & 0777) < 0)
                return cd_err_errno(err, "rootfs: chmod /etc entry");
        return 0;
}

/* One allow-listed /etc entry: symlinks are recreated, small files copied
 * (cheaper than a mount), larger ones (ld.so.cache, mime.types: tmpfs pages
 * filled and freed again for every job) and directories bound read-only. */
static int add_etc_entry(struct cd_sandbox *sb, int host_etc, int etc, const char *name,
                         struct etc_budget *b, struct cd_err *err)
{
        char source[512], rel[512];
        struct stat st;
        int r;

        if (fstatat(host_etc, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : cd_err_errno(err, "rootfs: stat /etc entry");
        if (S_ISLNK(st.st_mode))
                return copy_symlink(host_etc, name, etc, name, err);
        if (S_ISREG(st.st_mode) && st.st_size <= ETC_COPY_MAX)
                return copy_regular(host_etc, etc, name, b, err);
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return 0; /* devices, fifos and sockets never enter the sandbox's /etc */
        if (snprintf(source, sizeof(source), "%s/%s", sb->plan->etc_source, name) >=
            (int) sizeof(source))
                return cd_err_set(err, ENAMETOOLONG, "rootfs: image /etc path too long");
        (void) snprintf(rel, sizeof(rel), "etc/%s", name);
        if (S_ISREG(st.st_mode))
                r = write_file(etc, name, "", 0444, err);
        else
                r = mkdir_at(etc, name, 0755, err);
        if (r < 0)
                return r;
        return push_tree(sb, source, rel, S_ISDIR(st.st_mode), err);
}

static int build_etc(struct cd_sandbox *sb, struct cd_err *err)
{
        const struct cd_plan *p = sb->plan;
        cleanup_close int host_etc = -1;
        cleanup_close int etc = -1;
        struct etc_budget b = { .bytes_left = ETC_MAX_BYTES };
        int r;

        etc = openat(sb->root_fd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (etc < 0)
                return cd_err_errno(err, "rootfs: open etc");
        r = generate_etc(etc, p, err);
        if (r < 0)
                return r;
        /* The image's /etc is admin-provided, like the host's: not job-writable. */
        host_etc = open(p->etc_source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (host_etc < 0)
                return cd_err_errno(err, "rootfs: open %s", p->etc_source);
        for (size_t i = 0; p->etc_allow && p->etc_allow[i]; i++) {
                r = add_etc_entry(sb, host_etc, etc, p->etc_allow[i], &b, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int make_dev(int root_fd, struct cd_err *err)
{
        static const struct {
                const char *name;
                unsigned int major, minor;
        } nodes[] = {
                { "dev/null", 1, 3 },   { "dev/zero", 1, 5 },    { "dev/full", 1, 7 },
                { "dev/random", 1, 8 }, { "dev/urandom", 1, 9 },
        };
        static const struct {
                const char *name, *target;
        } links[] = {
                { "dev/fd", "/proc/self/fd" },
                { "dev/stdin", "/proc/self/fd/0" },
                { "dev/stdout", "/proc/self/fd/1" },
                { "dev/stderr", "/proc/self/fd/2" },
        };

        for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
                if (mknodat(root_fd, nodes[i].name, S_IFCHR | 0666,
                            makedev(nodes[i].major, nodes[i].minor)) < 0)
                        return cd_err_errno(err, "rootfs: mknod %s", nodes[i].name);
                if (fchmodat(root_fd, nodes[i].name, 0666, 0) < 0)
                        return cd_err_errno(err, "rootfs: chmod %s", nodes[i].name);
        }
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                if (symlinkat(links[i].target, root_fd, links[i].name) < 0)
                        return cd_err_errno(err, "rootfs: symlink %s", links[i].name);
        return 0;
}

/* /proc/stat's lines a job does not get: the host's interrupt and softirq
 * counts (the same side channel as /proc/interrupts, which is masked). */
static bool stat_line_hidden(const char *line)
{
        return !strncmp(line, "intr ", 5) || !strncmp(line, "softirq ", 8);
}

/* The lines of @in that a job gets, into @out, however long a line is (a
 * host with thousands of interrupts has a long intr line). */
static int copy_proc_stat(FILE *in, int out, struct cd_err *err)
{
        cleanup_free char *line = NULL;
        size_t size = 0;
        ssize_t n;
        int r;

        while ((n = getline(&line, &size, in)) > 0) {
                if (stat_line_hidden(line))
                        continue;
                r = cd_write_all(out, line, (size_t) n);
                if (r < 0)
                        return cd_err_neg(err, r, "rootfs: write proc/stat");
        }
        if (ferror(in))
                return cd_err_errno(err, "rootfs: read /proc/stat");
        return 0;
}

/*
 * The job's /proc/stat: a copy of the host's taken now, without the lines
 * above. It is written into the root's proc/ directory, which the job's
 * procfs covers; pid 1 clones it before and binds it over /proc/stat after
 * (mount.c). A snapshot: its CPU times do not advance while the job runs.
 */
static int make_proc_stat(int root_fd, struct cd_err *err)
{
        cleanup_close int out = -1;
        FILE *in;
        int r;

        out = openat(root_fd, "proc/stat", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     0444);
        if (out < 0)
                return cd_err_errno(err, "rootfs: create proc/stat");
        if (fchmod(out, 0444) < 0) /* past the umask */
                return cd_err_errno(err, "rootfs: chmod proc/stat");
        in = fopen("/proc/stat", "re");
        if (!in)
                return cd_err_errno(err, "rootfs: open /proc/stat");
        r = copy_proc_stat(in, out, err);
        (void) fclose(in); /* read only: nothing to flush */
        return r;
}

static int make_skeleton(int root_fd, struct cd_err *err)
{
        static const char *const dirs[] = { "etc", "proc", "dev", "dev/shm", "tmp", "work", "out" };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                r = mkdir_at(root_fd, dirs[i], 0755, err);
                if (r < 0)
                        return r;
        }
        return make_dev(root_fd, err);
}

/* A detached, recursive, read-only, nosuid, nodev clone of host @source.
 * Private: a clone of a shared host mount (/ is shared under systemd) would
 * join its peer group, and whatever the host mounts below @source while a
 * job runs would appear inside it, with the host's flags (read-write). */
static int clone_tree(const char *source, bool recursive, int *ret_fd, struct cd_err *err)
{
        struct mount_attr attr = {
                .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                .propagation = MS_PRIVATE,
        };
        cleanup_close int fd = -1;
        unsigned int rec = recursive ? AT_RECURSIVE : 0;

        fd = open_tree(AT_FDCWD, source,
                       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW | rec);
        if (fd < 0)
                return cd_err_errno(err, "rootfs: clone %s", source);
        if (mount_setattr(fd, "", AT_EMPTY_PATH | rec, &attr, sizeof(attr)) < 0)
                return cd_err_errno(err, "rootfs: make %s read-only", source);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Clone host @source as a read-only tree to be attached at @rel. */
static int push_tree(struct cd_sandbox *sb, const char *source, const char *rel, bool recursive,
                     struct cd_err *err)
{
        int fd = -1, r;
        char *t;

        if (sb->n_trees >= MAX_TREES)
                return cd_err_set(err, E2BIG, "rootfs: more than %d binds", MAX_TREES);
        t = strdup(rel);
        if (!t)
                return cd_err_set(err, ENOMEM, "rootfs: out of memory");
        r = clone_tree(source, recursive, &fd, err);
        if (r < 0) {
                free(t);
                return r;
        }
        sb->trees[sb->n_trees++] = (struct cd_tree){ .fd = fd, .target = t };
        return 0;
}

static int add_tree(struct cd_sandbox *sb, const struct cd_bind *b, struct cd_err *err)
{
        const char *rel = b->target + 1;
        struct stat st;
        int r;

        if (lstat(b->source, &st) < 0) {
                if (errno == ENOENT && b->optional)
                        return 0;
                return cd_err_errno(err, "rootfs: bind source %s", b->source);
        }
        r = parent_dirs(sb->root_fd, rel, err);
        if (r < 0)
                return r;
        if (S_ISLNK(st.st_mode))
                return copy_symlink(AT_FDCWD, b->source, sb->root_fd, rel, err);
        if (S_ISDIR(st.st_mode))
                r = mkdir_at(sb->root_fd, rel, 0755, err);
        else if (S_ISREG(st.st_mode))
                r = write_file(sb->root_fd, rel, "", 0444, err);
        else
                r = cd_err_set(err, CD_E_INVALID,
                               "rootfs: bind source %s is not a file or directory", b->source);
        if (r < 0)
                return r;
        return push_tree(sb, b->source, rel, S_ISDIR(st.st_mode), err);
}

static int make_root_tmpfs(int *ret_fd, struct cd_err *err)
{
        cleanup_close int fs = -1;
        int mnt;

        fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fs < 0)
                return cd_err_errno(err, "rootfs: fsopen tmpfs");
        if (fsconfig(fs, FSCONFIG_SET_STRING, "size", ROOT_TMPFS_SIZE, 0) < 0 ||
            fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0 ||
            fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return cd_err_errno(err, "rootfs: configure tmpfs");
        mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID);
        if (mnt < 0)
                return cd_err_errno(err, "rootfs: fsmount");
        *ret_fd = mnt;
        return 0;
}

/* Read-only from here on; not nodev, because /dev's nodes live on it (the
 * job can create none: the mount is read-only and every writable mount is nodev). */
static int seal_root(int root_fd, struct cd_err *err)
{
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID };

        if (mount_setattr(root_fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
                return cd_err_errno(err, "rootfs: make root read-only");
        return 0;
}

int cd_rootfs_build(struct cd_sandbox *sb, struct cd_err *err)
{
        int r;

        if (cd_fault("rootfs"))
                return cd_err_set(err, CD_E_FAULT, "rootfs: injected fault");
        sb->trees = calloc(MAX_TREES, sizeof(*sb->trees));
        if (!sb->trees)
                return cd_err_set(err, ENOMEM, "rootfs: out of memory");
        r = make_root_tmpfs(&sb->root_fd, err);
        if (r < 0)
                return r;
        r = make_skeleton(sb->root_fd, err);
        if (r == 0 && !sb->plan->proc_subset_pid)
                r = make_proc_stat(sb->root_fd, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < sb->plan->n_binds; i++) {
                r = add_tree(sb, &sb->plan->binds[i], err);
                if (r < 0)
                        return r;
        }
        r = build_etc(sb, err);
        if (r < 0)
                return r;
        return seal_root(sb->root_fd, err);
}

void cd_sandbox_init(struct cd_sandbox *sb, const struct cd_plan *plan)
{
        *sb = (struct cd_sandbox){
                .plan = plan,
                .root_fd = -1,
                .work_fd = -1,
                .out_fd = -1,
                .tmp_fd = -1,
                .shm_fd = -1,
                .go_fd = -1,
                .msg_fd = -1,
                .stdio = { -1, -1, -1 },
        };
}

void cd_sandbox_drop_mounts(struct cd_sandbox *sb)
{
        int *fds[] = { &sb->root_fd, &sb->work_fd, &sb->tmp_fd, &sb->shm_fd };

        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                *fds[i] = cd_close(*fds[i]);
        for (size_t i = 0; i < sb->n_trees; i++)
                sb->trees[i].fd = cd_close(sb->trees[i].fd);
}

void cd_sandbox_destroy(struct cd_sandbox *sb)
{
        int *fds[] = { &sb->out_fd,   &sb->go_fd,    &sb->msg_fd,
                       &sb->stdio[0], &sb->stdio[1], &sb->stdio[2] };

        cd_sandbox_drop_mounts(sb);
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                *fds[i] = cd_close(*fds[i]);
        for (size_t i = 0; i < sb->n_trees; i++)
                free(sb->trees[i].target);
        free(sb->trees);
        sb->trees = NULL;
        sb->n_trees = 0;
}
