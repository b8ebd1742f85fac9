/* SPDX-License-Identifier: MIT */
/*
 * Parent side, before clone3: copy the job's inputs into its /work tmpfs,
 * owned by the job's host uid. An input is an admin-given host file or
 * directory (cordon run) or a file the supervisor stored; inside a
 * directory nothing is followed: a symlink, FIFO, socket or device there
 * fails the copy. Messages name inputs by position, never by name.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/util.h"
#include "sandbox-internal.h"

#define INPUT_MAX_DEPTH 32

struct copy {
        uid_t uid;
        gid_t gid;
        size_t index; /* which input, for messages */
        char buf[1 << 16];
};

static int copy_file(struct copy *c, int in, int dest_dir, const char *name, mode_t mode,
                     struct cd_err *err)
{
        cleanup_close int out = -1;
        ssize_t n;

        out = openat(dest_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return cd_err_errno(err, "inputs: input %zu: create in /work", c->index);
        while ((n = read(in, c->buf, sizeof(c->buf))) > 0)
                if (cd_write_all(out, c->buf, (size_t) n) < 0)
                        return errno == ENOSPC
                                       ? cd_err_errno(err, "inputs: they do not fit in /work "
                                                           "(--work-size)")
                                       : cd_err_errno(err, "inputs: input %zu: write", c->index);
        if (n < 0)
                return cd_err_errno(err, "inputs: input %zu: read", c->index);
        /* Executable if it was; never setuid, setgid or sticky. */
        if (fchown(out, c->uid, c->gid) < 0 || fchmod(out, (mode & 0100) ? 0755 : 0644) < 0)
                return cd_err_errno(err, "inputs: input %zu: set owner", c->index);
        return 0;
}

static int copy_tree(struct copy *c, int src_dir, int dest_dir, const char *name, int depth,
                     struct cd_err *err);

static int copy_dir(struct copy *c, int src, int dest_dir, const char *name, int depth,
                    struct cd_err *err)
{
        cleanup_close int dest = -1;
        int fd = -1, r = 0;
        DIR *d;
        struct dirent *de;

        if (depth > INPUT_MAX_DEPTH)
                return cd_err_set(err, CD_E_INVALID, "inputs: input %zu is nested too deep",
                                  c->index);
        if (mkdirat(dest_dir, name, 0700) < 0)
                return cd_err_errno(err, "inputs: input %zu: mkdir in /work", c->index);
        dest = openat(dest_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dest < 0 || fchown(dest, c->uid, c->gid) < 0 || fchmod(dest, 0755) < 0)
                return cd_err_errno(err, "inputs: input %zu: directory in /work", c->index);
        fd = fcntl(src, F_DUPFD_CLOEXEC, 3);
        d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                (void) cd_close(fd);
                return cd_err_errno(err, "inputs: input %zu: read directory", c->index);
        }
        while (r == 0 && (errno = 0, de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        r = copy_tree(c, dirfd(d), dest, de->d_name, depth + 1, err);
        if (r == 0 && errno != 0)
                r = cd_err_errno(err, "inputs: input %zu: read directory", c->index);
        (void) closedir(d);
        return r;
}

/* One entry below an input directory: opened without following anything. */
static int copy_tree(struct copy *c, int src_dir, int dest_dir, const char *name, int depth,
                     struct cd_err *err)
{
        struct open_how how = { .flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                                           RESOLVE_NO_MAGICLINKS };
        cleanup_close int fd = -1;
        struct stat st, opened;

        /* Looked at before it is opened, so that no device is ever opened. */
        if (fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return cd_err_errno(err, "inputs: input %zu: stat", c->index);
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
                return cd_err_set(err, CD_E_INVALID,
                                  "inputs: input %zu holds a symlink or special file", c->index);
        /* Tests: hold here, so that the entry can be swapped meanwhile. */
        if (cd_fault("inputs_hold"))
                cd_fault_wait();
        fd = (int) syscall(SYS_openat2, src_dir, name, &how, sizeof(how));
        if (fd < 0)
                return cd_err_errno(err, "inputs: input %zu: open", c->index);
        /* And again once open: whoever else may write the directory could
         * have put a FIFO (whose read would see an empty file) or another
         * file in its place meanwhile. */
        if (fstat(fd, &opened) < 0)
                return cd_err_errno(err, "inputs: input %zu: stat", c->index);
        if (opened.st_dev != st.st_dev || opened.st_ino != st.st_ino ||
            (opened.st_mode & S_IFMT) != (st.st_mode & S_IFMT))
                return cd_err_set(err, CD_E_INVALID,
                                  "inputs: input %zu changed while it was copied", c->index);
        if (S_ISDIR(st.st_mode))
                return copy_dir(c, fd, dest_dir, name, depth, err);
        return copy_file(c, fd, dest_dir, name, st.st_mode, err);
}

/* A top-level input: the admin's path, followed like any command argument. */
static int copy_input(struct copy *c, const char *path, int work, struct cd_err *err)
{
        cleanup_close int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return cd_err_errno(err, "inputs: input %zu", c->index);
        if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
                return cd_err_set(err, CD_E_INVALID, "inputs: input %zu has no file name",
                                  c->index);
        if (S_ISDIR(st.st_mode))
                return copy_dir(c, fd, work, base, 0, err);
        if (!S_ISREG(st.st_mode))
                return cd_err_set(err, CD_E_INVALID, "inputs: input %zu is not a file or directory",
                                  c->index);
        return copy_file(c, fd, work, base, st.st_mode, err);
}

int cd_inputs_copy(struct cd_sandbox *sb, uid_t uid, gid_t gid, struct cd_err *err)
{
        struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
        cleanup_close int work = -1;
        struct copy *c;
        int r = 0;

        if (cd_fault("inputs"))
                return cd_err_set(err, CD_E_FAULT, "inputs: injected fault");
        if (sb->plan->inputs && sb->plan->inputs[0]) {
                work = openat(sb->work_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (work < 0)
                        return cd_err_errno(err, "inputs: open /work");
                c = calloc(1, sizeof(*c));
                if (!c)
                        return cd_err_set(err, ENOMEM, "inputs: out of memory");
                *c = (struct copy){ .uid = uid, .gid = gid };
                for (size_t i = 0; r == 0 && sb->plan->inputs[i]; i++) {
                        c->index = i + 1;
                        r = copy_input(c, sb->plan->inputs[i], work, err);
                }
                free(c);
                if (r < 0)
                        return r;
        }
        if (sb->plan->work_readonly &&
            mount_setattr(sb->work_fd, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0)
                return cd_err_errno(err, "inputs: make /work read-only");
        return 0;
}
