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
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/util.h"
#include "cgroup-internal.h"

/* The next component of the path ("a/b") at *@p, into @comp: 1; 0 at the
 * end; -ENAMETOOLONG for one of 256 bytes or more. */
static int next_component(const char **p, char comp[static 256])
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
static bool root_only(int fd)
{
        static const char *const names[] = {
                "cgroup.procs",  "cgroup.threads",        "tasks", "cgroup.freeze", "cgroup.kill",
                "freezer.state", "cgroup.subtree_control"
        };
        struct stat st;

        if (fstat(fd, &st) < 0 || !root_alone(&st))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0
                            ? errno != ENOENT || i == 0 /* no cgroup.procs: not a cgroup */
                            : !root_alone(&st))
                        return false;
        return true;
}

/*
 * systemd-logind lets a session's owner signal every process of the
 * session's scope, and of their user slice, without authentication
 * (loginctl kill-session, kill-user: SIGSTOP included), though the cgroups
 * are root's. "." and ".." lead out of the cgroup they seem to name.
 */
static bool others_may_signal(const char *comp)
{
        size_t n = strlen(comp);

        if (!strcmp(comp, ".") || !strcmp(comp, "..") || !strcmp(comp, "user.slice"))
                return true;
        if (n > 11 && !strncmp(comp, "user-", 5) && !strcmp(comp + n - 6, ".slice"))
                return true;
        return n > 14 && !strncmp(comp, "session-", 8) && !strcmp(comp + n - 6, ".scope");
}

/* The cgroup @fd, named @comp, is not root's alone, or is a login
 * session's: whoever it is could stop or starve what is in it. */
static bool others_may_act(int fd, const char *comp)
{
        return others_may_signal(comp) || !root_only(fd);
}

int cd_cgroup_open_root_only(int root_fd, const char *path)
{
        cleanup_close int cur = -1;
        char comp[256];
        int r;

        cur = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return -1;
        for (const char *p = path; (r = next_component(&p, comp)) > 0;) {
                int next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                if (next < 0)
                        return -1;
                (void) cd_close(cur);
                cur = next;
                if (others_may_act(cur, comp))
                        return -1;
        }
        return r < 0 ? -1 : TAKE_FD(cur);
}

int cd_cgroup_open_parent_root_only(int root_fd, const char *path,
                                    int (*each)(int fd, const char *path, struct cd_err *err),
                                    int *ret_fd, struct cd_err *err)
{
        cleanup_close int cur = -1;
        char comp[256];
        int r;

        cur = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return cd_err_errno(err, "cgroup: dup");
        for (const char *p = path; (r = next_component(&p, comp)) != 0;) {
                int next;

                if (r < 0)
                        return cd_err_set(err, CD_E_INVALID, "cgroup: bad parent %s", path);
                r = cd_cgroup_open_parent(cur, comp, &next, err);
                if (r < 0)
                        return r;
                (void) cd_close(cur);
                cur = next;
                if (others_may_act(cur, comp))
                        return cd_err_set(err, EPERM,
                                          "cgroup: parent %s: %s is not root's alone (or is a "
                                          "login session's), and its owner could move, freeze "
                                          "or starve the jobs' tasks",
                                          path, comp);
                r = each ? each(cur, path, err) : 0;
                if (r < 0)
                        return r;
        }
        *ret_fd = TAKE_FD(cur);
        return 0;
}

/* Move this process to the root cgroup of the hierarchy at @root_fd if
 * its cgroup there, @own, is not cd_cgroup_open_root_only()'s. */
static int leave_foreign(int root_fd, const char *own, const char *what, struct cd_err *err)
{
        cleanup_close int fd = cd_cgroup_open_root_only(root_fd, own);
        int r;

        if (fd >= 0)
                return 0;
        r = cd_fault("cgroup_leave") ? -EACCES : cd_write_at(root_fd, "cgroup.procs", "0");
        if (r < 0)
                return cd_err_neg(err, r,
                                  "cgroup: leave the %s cgroup another user may act on, for the "
                                  "root cgroup",
                                  what);
        return 0;
}

/* A mountinfo field with its octal escapes ("\\040") undone, in place. */
static void unescape(char *s)
{
        char *o = s;

        for (char *i = s; *i;) {
                if (i[0] == '\\' && i[1] >= '0' && i[1] <= '3' && i[2] >= '0' && i[2] <= '7' &&
                    i[3] >= '0' && i[3] <= '7') {
                        *o++ = (char) ((i[1] - '0') * 64 + (i[2] - '0') * 8 + (i[3] - '0'));
                        i += 4;
                } else {
                        *o++ = *i++;
                }
        }
        *o = '\0';
}

/* Every item of the comma-separated @want ("cpu,cpuacct", "name=systemd")
 * is one of @have ("rw,cpu,cpuacct"). */
static bool has_all(const char *want, const char *have)
{
        for (const char *w = want; *w;) {
                size_t n = strcspn(w, ",");
                bool found = false;

                for (const char *h = have; *h && !found;) {
                        size_t m = strcspn(h, ",");

                        found = m == n && !strncmp(h, w, n);
                        h += m + (h[m] == ',');
                }
                if (!found)
                        return false;
                w += n + (w[n] == ',');
        }
        return true;
}

/* Of one /proc/self/mountinfo @line: the mount point, if it mounts the
 * root of the hierarchy of @ctrls ("" for cgroup2); else NULL. */
static char *mount_of(char *line, const char *ctrls)
{
        char *sep = strstr(line, " - "), *save = NULL, *field[5], *type, *opts;
        size_t k = 0;

        if (!sep)
                return NULL;
        *sep = '\0';
        for (char *t = strtok_r(line, " ", &save); t && k < 5; t = strtok_r(NULL, " ", &save))
                field[k++] = t;
        type = strtok_r(sep + 3, " ", &save);
        opts = type && strtok_r(NULL, " ", &save) ? strtok_r(NULL, " \n", &save) : NULL;
        if (k < 5 || !opts || strcmp(field[3], "/") != 0)
                return NULL;
        if (*ctrls ? strcmp(type, "cgroup") != 0 || !has_all(ctrls, opts)
                   : strcmp(type, "cgroup2") != 0)
                return NULL;
        unescape(field[4]);
        return field[4];
}

/* Open where the hierarchy of @ctrls is mounted; -ENOENT if nowhere. */
static int open_hierarchy(const char *ctrls)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char *line = NULL, *point = NULL;
        size_t cap = 0;
        struct statfs fs;
        int fd = -ENOENT;

        if (!f)
                return -errno;
        while (!point && getline(&line, &cap, f) > 0)
                point = mount_of(line, ctrls);
        if (point) {
                fd = open(point, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        fd = -errno;
                else if (fstatfs(fd, &fs) < 0 ||
                         (fs.f_type != CGROUP_SUPER_MAGIC && fs.f_type != CGROUP2_SUPER_MAGIC)) {
                        (void) cd_close(fd);
                        fd = -EMEDIUMTYPE;
                }
        }
        free(line);
        (void) fclose(f);
        return fd;
}

int cd_cgroup_leave_every_foreign(struct cd_err *err)
{
        char own[16384];
        ssize_t n = cd_read_at(AT_FDCWD, "/proc/self/cgroup", own, sizeof(own));

        if (n < 0)
                return cd_err_neg(err, (int) n, "cgroup: read /proc/self/cgroup");
        if ((size_t) n >= sizeof(own) - 1)
                return cd_err_set(err, ENAMETOOLONG, "cgroup: /proc/self/cgroup is too long");
        for (char *line = own, *next; *line; line = next) {
                char *ctrls, *path;
                cleanup_close int root = -1;
                int r;

                next = line + strcspn(line, "\n");
                if (*next)
                        *next++ = '\0';
                ctrls = strchr(line, ':');
                path = ctrls ? strchr(ctrls + 1, ':') : NULL;
                if (!path || !strcmp(path + 1, "/"))
                        continue;
                *path++ = '\0';
                ctrls++;
                root = open_hierarchy(ctrls);
                if (root < 0)
                        return cd_err_neg(err, root,
                                          "cgroup: the %s hierarchy holds this process below its "
                                          "root but is not mounted here, so who may act on it "
                                          "cannot be told",
                                          *ctrls ? ctrls : "cgroup2");
                r = leave_foreign(root, path, *ctrls ? ctrls : "cgroup2", err);
                if (r < 0)
                        return r;
        }
        return 0;
}
