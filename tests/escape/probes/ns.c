/* SPDX-License-Identifier: MIT */
/* Namespaces: creating user namespaces (and mounting in them), other
 * namespaces, and joining another process's through /proc/PID/ns. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define MAX_TARGETS 256

static int unshare_user(struct probe_ctx *c, void *arg)
{
        (void) arg;
        if (unshare(CLONE_NEWUSER) < 0)
                return refused(c, errno, "unshare(CLONE_NEWUSER)");
        return verdict(c, ESCAPED, "unshare(CLONE_NEWUSER) created a user namespace");
}

static int probe_userns_unshare(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return in_child(c, unshare_user, NULL, NULL);
}

/* Wait for a child created by a raw clone; it exits at once. */
static int reap_clone(struct probe_ctx *c, pid_t pid, const char *what)
{
        int status;

        while (waitpid(pid, &status, __WALL) < 0)
                if (errno != EINTR)
                        return verdict(c, BROKEN, "%s: waitpid: %s", what, ename(errno));
        return verdict(c, ESCAPED, "%s created a child in a new user namespace", what);
}

static int probe_userns_clone(struct probe_ctx *c, int argc, char **argv)
{
        long pid;

        (void) argc;
        (void) argv;
        (void) fflush(NULL);
        /* No new stack: the child runs on a copy of ours, like fork(). */
        pid = syscall(SYS_clone, (unsigned long) (CLONE_NEWUSER | SIGCHLD), NULL, NULL, NULL, NULL);
        if (pid == 0)
                syscall(SYS_exit_group, 0);
        if (pid < 0)
                return refused(c, errno, "clone(CLONE_NEWUSER)");
        return reap_clone(c, (pid_t) pid, "clone(CLONE_NEWUSER)");
}

static int probe_userns_clone3(struct probe_ctx *c, int argc, char **argv)
{
        struct clone_args args = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
        long pid;

        (void) argc;
        (void) argv;
        (void) fflush(NULL);
        pid = syscall(SYS_clone3, &args, sizeof(args));
        if (pid == 0)
                syscall(SYS_exit_group, 0);
        if (pid < 0)
                return refused(c, errno, "clone3(CLONE_NEWUSER)");
        return reap_clone(c, (pid_t) pid, "clone3(CLONE_NEWUSER)");
}

static int write_proc(const char *file, const char *data)
{
        int fd = open(file, O_WRONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = write(fd, data, strlen(data));
        if (n < 0) {
                int e = errno;

                (void) close(fd);
                return -e;
        }
        (void) close(fd);
        return 0;
}

/* The classic first step of many escapes: root in a fresh user namespace,
 * then a mount that namespace's capabilities allow. */
static int userns_mount(struct probe_ctx *c, void *arg)
{
        uid_t uid = geteuid();
        gid_t gid = getegid();
        char map[64];

        (void) arg;
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                return refused(c, errno, "unshare(CLONE_NEWUSER|CLONE_NEWNS)");
        (void) write_proc("/proc/self/setgroups", "deny");
        (void) snprintf(map, sizeof(map), "0 %u 1\n", (unsigned int) uid);
        if (write_proc("/proc/self/uid_map", map) < 0)
                note(c, "uid_map: %s", ename(errno));
        (void) snprintf(map, sizeof(map), "0 %u 1\n", (unsigned int) gid);
        if (write_proc("/proc/self/gid_map", map) < 0)
                note(c, "gid_map: %s", ename(errno));
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                note(c, "make / private: %s", ename(errno));
        else if (mount("none", "/tmp", "tmpfs", 0, "size=64k") < 0)
                note(c, "mount tmpfs in it: %s", ename(errno));
        else
                note(c, "mounted a tmpfs on /tmp in it");
        return verdict(c, ESCAPED, "created a user and mount namespace");
}

static int probe_userns_mount(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return in_child(c, userns_mount, NULL, NULL);
}

static const struct {
        int flag;
        const char *name;
} ns_flags[] = {
        { CLONE_NEWNS, "mnt" },    { CLONE_NEWNET, "net" }, { CLONE_NEWPID, "pid" },
        { CLONE_NEWIPC, "ipc" },   { CLONE_NEWUTS, "uts" }, { CLONE_NEWCGROUP, "cgroup" },
        { CLONE_NEWTIME, "time" },
};

static int unshare_each(struct probe_ctx *c, void *arg)
{
        int made = 0;

        (void) arg;
        for (size_t i = 0; i < ELEMENTSOF(ns_flags); i++) {
                if (unshare(ns_flags[i].flag) == 0) {
                        note(c, "%s: created", ns_flags[i].name);
                        made++;
                } else {
                        note(c, "%s: %s", ns_flags[i].name, ename(errno));
                }
        }
        return made ? ESCAPED : BLOCKED;
}

static int probe_unshare_ns(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return in_child(c, unshare_each, NULL, NULL);
}

struct targets {
        pid_t pids[MAX_TARGETS];
        size_t n;
};

static const char *const ns_files[] = {
        "mnt", "net", "pid", "ipc", "uts", "cgroup", "time", "user"
};

/* Join every namespace of every target that can be opened. Joining one's
 * own user namespace is refused with EINVAL by design, not counted. */
static int join_all(struct probe_ctx *c, void *arg)
{
        const struct targets *t = arg;
        int opened = 0, joined = 0, last_err = 0;

        for (size_t i = 0; i < t->n; i++)
                for (size_t j = 0; j < ELEMENTSOF(ns_files); j++) {
                        char path[64];
                        int fd;

                        (void) snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int) t->pids[i],
                                        ns_files[j]);
                        fd = open(path, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                continue;
                        opened++;
                        if (setns(fd, 0) == 0) {
                                if (joined++ < 4)
                                        note(c, "setns %s: joined", path);
                        } else {
                                last_err = errno;
                        }
                        (void) close(fd);
                }
        if (joined)
                return verdict(c, ESCAPED, "%d of %d namespaces joined", joined, opened);
        if (!opened)
                return verdict(c, BLOCKED, "no /proc/PID/ns file could be opened");
        return refused(c, last_err, "setns");
}

static int probe_setns(struct probe_ctx *c, int argc, char **argv)
{
        struct targets t = { .n = 0 };

        for (int i = 0; i < argc && t.n < MAX_TARGETS; i++)
                if (parse_pid(argv[i], &t.pids[t.n++]) < 0)
                        return verdict(c, BROKEN, "not a pid: %s", argv[i]);
        if (argc == 0)
                t.n = list_pids(t.pids, MAX_TARGETS);
        if (t.n < MAX_TARGETS)
                t.pids[t.n++] = getpid();
        note(c, "%zu processes", t.n);
        return in_child(c, join_all, &t, NULL);
}

/* The owner of the caller's user namespace, as a uid of that namespace
 * (the overflow uid when the owner is not mapped in it). */
static int userns_owner_raw(uid_t *ret)
{
        int fd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
        int r, e;

        if (fd < 0)
                return -errno;
        r = ioctl(fd, NS_GET_OWNER_UID, ret);
        e = errno;
        (void) close(fd);
        return r < 0 ? -e : 0;
}

/* The kernel charges a task's per-user counts (inotify instances and
 * watches, queued signals, POSIX message queue bytes: "ucounts") to its
 * uid in its own user namespace and, level by level, to the owner of each
 * namespace in its parent. A job whose user namespace is owned by host
 * root uses up root's share on the host (root's inotify_init1() fails with
 * EMFILE while the job holds 128 instances), and every job shares it. */
static int judge_owner(struct probe_ctx *c, uid_t owner, uid_t me)
{
        if (owner == me)
                return verdict(c, BLOCKED, "user namespace owned by the job's own uid %u",
                               (unsigned int) me);
        return verdict(c, ESCAPED,
                       "user namespace owned by uid %u, not the job's %u: the job's per-user "
                       "kernel counts (inotify, signals, mqueues) are charged to that host user",
                       (unsigned int) owner, (unsigned int) me);
}

static int write_maps(pid_t pid)
{
        static const char *const files[] = { "setgroups", "uid_map", "gid_map" };
        static const char *const data[] = { "deny", "1000 65534 1\n", "1000 65534 1\n" };
        char path[64];

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                int r;

                (void) snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, files[i]);
                r = write_proc(path, data[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Bare: child side. Sends its owner and uid, or nothing if a step failed. */
static __attribute__((noreturn)) void owner_child(int in, int out)
{
        uid_t ids[2];
        char go;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (unshare(CLONE_NEWUSER) < 0 || write(out, "u", 1) != 1)
                _exit(1);
        if (read(in, &go, 1) != 1 || go != 'm')
                _exit(1);
        if (syscall(SYS_setresgid, 1000, 1000, 1000) < 0 ||
            syscall(SYS_setresuid, 1000, 1000, 1000) < 0)
                _exit(1);
        ids[1] = getuid();
        if (userns_owner_raw(&ids[0]) < 0)
                _exit(1);
        _exit(write(out, ids, sizeof(ids)) == (ssize_t) sizeof(ids) ? 0 : 1);
}

/* Bare: what a launcher does, root cloning a user namespace for uid 1000
 * (mapped to nobody): the namespace is owned by root. */
static int owner_bare(struct probe_ctx *c)
{
        int to_child[2], to_parent[2], status, r;
        uid_t ids[2];
        ssize_t n;
        char u;
        pid_t pid;

        if (pipe2(to_child, O_CLOEXEC) < 0 || pipe2(to_parent, O_CLOEXEC) < 0)
                return verdict(c, BROKEN, "pipe: %s", ename(errno));
        (void) fflush(NULL);
        pid = fork();
        if (pid < 0)
                return verdict(c, BROKEN, "fork: %s", ename(errno));
        if (pid == 0)
                owner_child(to_child[0], to_parent[1]);
        (void) close(to_parent[1]);
        r = read(to_parent[0], &u, 1) == 1 ? write_maps(pid) : -EPROTO;
        (void) !write(to_child[1], r < 0 ? "x" : "m", 1);
        n = r < 0 ? 0 : read(to_parent[0], ids, sizeof(ids));
        (void) close(to_child[0]);
        (void) close(to_child[1]);
        (void) close(to_parent[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return verdict(c, BROKEN, "waitpid: %s", ename(errno));
        if (r < 0)
                return verdict(c, BROKEN, "user namespace and maps: %s", ename(-r));
        if (n != (ssize_t) sizeof(ids))
                return verdict(c, BROKEN, "the child could not read its namespace's owner");
        return judge_owner(c, ids[0], ids[1]);
}

static int probe_userns_owner(struct probe_ctx *c, int argc, char **argv)
{
        uid_t owner;
        int r;

        (void) argc;
        (void) argv;
        if (c->bare)
                return owner_bare(c);
        r = userns_owner_raw(&owner);
        if (r < 0)
                return verdict(c, BROKEN, "NS_GET_OWNER_UID of /proc/self/ns/user: %s", ename(-r));
        return judge_owner(c, owner, getuid());
}

const struct probe ns_probes[] = {
        { "userns-unshare", probe_userns_unshare, "", "unshare(CLONE_NEWUSER)" },
        { "userns-clone", probe_userns_clone, "", "clone(CLONE_NEWUSER)" },
        { "userns-clone3", probe_userns_clone3, "", "clone3(CLONE_NEWUSER)" },
        { "userns-mount", probe_userns_mount, "",
          "new user+mount namespace, then mount a tmpfs in it" },
        { "unshare-ns", probe_unshare_ns, "", "unshare mnt/net/pid/ipc/uts/cgroup/time" },
        { "setns", probe_setns, "[PID...]",
          "setns into /proc/PID/ns/* of every visible process (or PIDs) and self" },
        { "userns-owner", probe_userns_owner, "",
          "is the job's user namespace owned by a host uid other than its own (root)" },
};
const size_t ns_probes_n = ELEMENTSOF(ns_probes);
