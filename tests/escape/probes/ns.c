/* SPDX-License-Identifier: MIT */
/* Namespaces: creating user namespaces (and mounting in them), other
 * namespaces, and joining another process's through /proc/PID/ns. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
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

const struct probe ns_probes[] = {
        { "userns-unshare", probe_userns_unshare, "", "unshare(CLONE_NEWUSER)" },
        { "userns-clone", probe_userns_clone, "", "clone(CLONE_NEWUSER)" },
        { "userns-clone3", probe_userns_clone3, "", "clone3(CLONE_NEWUSER)" },
        { "userns-mount", probe_userns_mount, "",
          "new user+mount namespace, then mount a tmpfs in it" },
        { "unshare-ns", probe_unshare_ns, "", "unshare mnt/net/pid/ipc/uts/cgroup/time" },
        { "setns", probe_setns, "[PID...]",
          "setns into /proc/PID/ns/* of every visible process (or PIDs) and self" },
};
const size_t ns_probes_n = ELEMENTSOF(ns_probes);
