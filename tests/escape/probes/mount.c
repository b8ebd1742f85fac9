/* SPDX-License-Identifier: MIT */
/*
 * Mount table and device nodes: mount, remount read-write, umount (the
 * masks over /proc), pivot_root, chroot with the fchdir escape, the new
 * mount API, mknod. On the host they run in a child with a private mount
 * namespace, on temporary directories, so nothing reaches the host's mounts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/mount.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "probe.h"

/* In the child: a private mount namespace where possible. The sandbox
 * refuses one, and then the attempt happens in its own namespace; on the
 * host the probe never touches the host's mounts. Returns 0 or -1. */
static int isolate(struct probe_ctx *c)
{
        int r = private_mounts();

        if (r == 0)
                return 0;
        note(c, "own mount namespace: %s", ename(-r));
        if (c->bare) {
                note(c, "refusing to mount in the host's namespace");
                return -1;
        }
        return 0;
}

static int do_mount(struct probe_ctx *c, void *arg)
{
        char dir[PATH_MAX];
        int escaped = 0;

        (void) arg;
        if (isolate(c) < 0)
                return BROKEN;
        if (make_tempdir("/tmp", dir, sizeof(dir)) < 0)
                return verdict(c, BROKEN, "mkdtemp in /tmp: %s", ename(errno));
        if (mount("none", dir, "tmpfs", 0, "size=64k") == 0) {
                note(c, "mounted a tmpfs");
                (void) umount2(dir, MNT_DETACH);
                escaped++;
        } else {
                note(c, "mount tmpfs: %s", ename(errno));
        }
        if (mount("/", dir, NULL, MS_BIND | MS_REC, NULL) == 0) {
                note(c, "bind-mounted /");
                (void) umount2(dir, MNT_DETACH);
                escaped++;
        } else {
                note(c, "bind /: %s", ename(errno));
        }
        if (mount("proc", dir, "proc", 0, NULL) == 0) {
                note(c, "mounted a proc");
                (void) umount2(dir, MNT_DETACH);
                escaped++;
        } else {
                note(c, "mount proc: %s", ename(errno));
        }
        (void) rmdir(dir);
        return escaped ? ESCAPED : BLOCKED;
}

static int probe_mount(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return in_child(c, do_mount, NULL, NULL);
}

static const char *const remount_targets[] = { "/", "/usr", "/etc", "/proc" };

/* MS_REMOUNT|MS_BIND changes only this mount's flags (mount(2)); in a
 * private namespace that is a copy of the host's. */
static int do_remount(struct probe_ctx *c, void *arg)
{
        int escaped = 0;

        (void) arg;
        if (isolate(c) < 0)
                return BROKEN;
        for (size_t i = 0; i < ELEMENTSOF(remount_targets); i++) {
                if (mount(NULL, remount_targets[i], NULL, MS_REMOUNT | MS_BIND, NULL) == 0) {
                        note(c, "%s remounted read-write", remount_targets[i]);
                        escaped++;
                } else {
                        note(c, "%s: %s", remount_targets[i], ename(errno));
                }
        }
        return escaped ? ESCAPED : BLOCKED;
}

static int probe_remount_rw(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return in_child(c, do_remount, NULL, NULL);
}

/* /proc/kallsyms and friends are masked with bind mounts: unmounting one
 * would reveal what is under it. */
static const char *const umount_targets[] = { "/proc/kallsyms", "/proc/timer_list", "/proc",
                                              "/usr" };

static int do_umount(struct probe_ctx *c, void *arg)
{
        int escaped = 0;

        (void) arg;
        if (isolate(c) < 0)
                return BROKEN;
        for (size_t i = 0; i < ELEMENTSOF(umount_targets); i++) {
                if (umount2(umount_targets[i], MNT_DETACH) == 0) {
                        note(c, "unmounted %s", umount_targets[i]);
                        escaped++;
                } else {
                        note(c, "%s: %s", umount_targets[i], ename(errno));
                }
        }
        return escaped ? ESCAPED : BLOCKED;
}

static int probe_umount(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return in_child(c, do_umount, NULL, NULL);
}

/* A path that does not exist: the kernel checks the capability first
 * (may_mount()), so ENOENT means pivot_root was permitted. */
static int probe_pivot_root(struct probe_ctx *c, int argc, char **argv)
{
        static const char none[] = "/.cordon-probe-does-not-exist";

        (void) argc;
        (void) argv;
        if (syscall(SYS_pivot_root, none, none) == 0)
                return verdict(c, BROKEN, "pivot_root to a missing directory succeeded");
        if (errno == EPERM || errno == ENOSYS || errno == EACCES)
                return refused(c, errno, "pivot_root");
        return verdict(c, ESCAPED, "pivot_root was permitted (%s after the permission check)",
                       ename(errno));
}

/* chroot into a directory, then leave it through a directory fd opened
 * before (fchdir) and "..": the classic chroot escape. */
static int do_chroot(struct probe_ctx *c, void *arg)
{
        const char *dir = arg;
        int root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

        if (root_fd < 0)
                return verdict(c, BROKEN, "open /: %s", ename(errno));
        if (chroot(dir) < 0)
                return refused(c, errno, "chroot");
        if (fchdir(root_fd) < 0)
                return verdict(c, ESCAPED, "chroot worked; fchdir: %s", ename(errno));
        for (int i = 0; i < 64; i++)
                if (chdir("..") < 0)
                        break;
        if (chroot(".") < 0)
                return verdict(c, ESCAPED, "chroot worked; chroot(\".\") after fchdir: %s",
                               ename(errno));
        return verdict(c, ESCAPED, "chroot worked, and fchdir plus \"..\" left it");
}

static int probe_chroot(struct probe_ctx *c, int argc, char **argv)
{
        char dir[PATH_MAX];
        int r;

        (void) argc;
        (void) argv;
        if (make_tempdir("/tmp", dir, sizeof(dir)) < 0)
                return verdict(c, BROKEN, "mkdtemp in /tmp: %s", ename(errno));
        r = in_child(c, do_chroot, dir, NULL);
        (void) rmdir(dir);
        return r;
}

static int try_fd(struct probe_ctx *c, const char *what, long fd)
{
        if (fd < 0)
                return refused(c, errno, what);
        (void) close((int) fd);
        note(c, "%s worked", what);
        return ESCAPED;
}

/* Each call only returns an fd; nothing is attached or reconfigured. */
static int probe_mount_api(struct probe_ctx *c, int argc, char **argv)
{
        int r[3];

        (void) argc;
        (void) argv;
        r[0] = try_fd(c, "fsopen(tmpfs)", syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC));
        r[1] = try_fd(c, "open_tree(/, OPEN_TREE_CLONE)",
                      syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
        r[2] = try_fd(c, "fspick(/)", syscall(SYS_fspick, AT_FDCWD, "/", FSPICK_CLOEXEC));
        for (size_t i = 0; i < ELEMENTSOF(r); i++)
                if (r[i] == ESCAPED)
                        return ESCAPED;
        return r[0] == NOT_APPLICABLE && r[1] == NOT_APPLICABLE ? NOT_APPLICABLE : BLOCKED;
}

static int probe_mknod(struct probe_ctx *c, int argc, char **argv)
{
        static const struct {
                const char *name;
                mode_t type;
                unsigned int major, minor;
        } nodes[] = {
                { "mem", S_IFCHR, 1, 1 },
                { "null", S_IFCHR, 1, 3 },
                { "loop0", S_IFBLK, 7, 0 },
        };
        const char *base = argc > 0 ? argv[0] : "/tmp";
        char dir[PATH_MAX];
        int made = 0, dfd;

        if (make_tempdir(base, dir, sizeof(dir)) < 0)
                return verdict(c, BROKEN, "mkdtemp in %s: %s", base, ename(errno));
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                (void) rmdir(dir);
                return verdict(c, BROKEN, "open %s: %s", dir, ename(errno));
        }
        for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
                if (mknodat(dfd, nodes[i].name, nodes[i].type | 0600,
                            makedev(nodes[i].major, nodes[i].minor)) == 0) {
                        note(c, "created %s (%u,%u)", nodes[i].name, nodes[i].major,
                             nodes[i].minor);
                        (void) unlinkat(dfd, nodes[i].name, 0);
                        made++;
                } else {
                        note(c, "%s: %s", nodes[i].name, ename(errno));
                }
        }
        (void) close(dfd);
        (void) rmdir(dir);
        return made ? ESCAPED : BLOCKED;
}

/* Mount points the sandbox makes itself: the root, the host image's trees
 * (exactly), and what a profile may not cover (anything below them). */
static bool own_mount(const char *point, int argc, char **argv)
{
        static const char *const exact[] = { "/",    "/usr",   "/bin",   "/sbin",
                                             "/lib", "/lib32", "/lib64", "/libx32" };
        static const char *const below[] = { "/proc", "/dev", "/etc", "/tmp", "/work", "/out" };

        for (size_t i = 0; i < ELEMENTSOF(exact); i++)
                if (strcmp(point, exact[i]) == 0)
                        return true;
        for (size_t i = 0; i < ELEMENTSOF(below); i++) {
                size_t n = strlen(below[i]);

                if (strncmp(point, below[i], n) == 0 && (point[n] == '\0' || point[n] == '/'))
                        return true;
        }
        /* The ones the harness and the profile's expectations name, and what
         * lies below them (a directory's bind brings its submounts). */
        for (int i = 0; i < argc; i++) {
                size_t n = strlen(argv[i]);

                if (n > 1 && strncmp(point, argv[i], n) == 0 &&
                    (point[n] == '\0' || point[n] == '/'))
                        return true;
        }
        return false;
}

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo. */
static void unescape(char *s)
{
        char *o = s;

        for (char *p = s; *p; o++) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
                    p[3] >= '0' && p[3] <= '7') {
                        *o = (char) ((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                        p += 4;
                } else {
                        *o = *p++;
                }
        }
        *o = '\0';
}

/*
 * Every host tree mounted in the job besides the sandbox's own (a
 * profile's `mounts`): the job reads whatever is in it, and connects to
 * the unix sockets in it (a read-only mount does not stop connect(2)).
 * Escaped when one is not among @argv, the mount points the profile's
 * expectations accept. Bare, the host's /sys and /run are such mounts.
 */
static int probe_extra_mounts(struct probe_ctx *c, int argc, char **argv)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096];
        int extra = 0, total = 0;

        for (int i = 0; i < argc; i++)
                if (argv[i][0] != '/')
                        return verdict(c, BROKEN, "usage: extra-mounts [/MOUNTPOINT...]");
        if (!f)
                return verdict(c, BROKEN, "open /proc/self/mountinfo: %s", ename(errno));
        while (fgets(line, sizeof(line), f)) {
                char point[PATH_MAX];

                /* ID PARENT MAJ:MIN ROOT POINT ... */
                if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
                        continue;
                total++;
                unescape(point);
                if (own_mount(point, argc, argv))
                        continue;
                if (extra++ < 8)
                        note(c, "%s", point);
        }
        (void) fclose(f);
        if (total == 0)
                return verdict(c, BROKEN, "no mounts in /proc/self/mountinfo");
        if (extra)
                return verdict(c, ESCAPED, "%d host mount(s) besides the sandbox's own", extra);
        return verdict(c, BLOCKED, "none of %d mounts is a host tree besides the sandbox's own",
                       total);
}

const struct probe mount_probes[] = {
        { "mount", probe_mount, "", "mount a tmpfs, bind /, mount proc" },
        { "remount-rw", probe_remount_rw, "", "remount /, /usr, /etc, /proc read-write" },
        { "umount", probe_umount, "", "unmount the /proc masks, /proc, /usr" },
        { "pivot-root", probe_pivot_root, "", "pivot_root (permission check only)" },
        { "chroot", probe_chroot, "", "chroot, then fchdir and \"..\" out of it" },
        { "mount-api", probe_mount_api, "", "fsopen, open_tree, fspick" },
        { "mknod", probe_mknod, "[DIR]", "create /dev/mem, null and loop0 nodes in a temp dir" },
        { "extra-mounts", probe_extra_mounts, "[/MOUNTPOINT...]",
          "a host tree mounted besides the sandbox's own (a profile's mounts)" },
};
const size_t mount_probes_n = ELEMENTSOF(mount_probes);
