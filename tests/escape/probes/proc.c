/* SPDX-License-Identifier: MIT */
/*
 * Other processes: ptrace, process_vm_readv, pidfd_getfd and /proc/PID/mem
 * of the sandbox's pid 1 (or a PID the harness names when it runs the
 * probe bare, so that the host's own init is left alone), pid 1's
 * environment and executable (CVE-2019-5736), and host processes in /proc.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "probe.h"

#define MAX_PIDS 4096

/* Something to read in a copy of this very binary. */
static volatile unsigned long long marker = 0x636f72646f6e2121ULL;

static int target_pid(struct probe_ctx *c, int argc, char **argv, pid_t *ret)
{
        *ret = 1;
        if (argc > 0 && parse_pid(argv[0], ret) < 0)
                return verdict(c, BROKEN, "not a pid: %s", argv[0]);
        return 0;
}

/* PTRACE_SEIZE does not stop the tracee; the probe exits at once, which
 * detaches it (ptrace(2)). */
static int seize(struct probe_ctx *c, pid_t pid, const char *who)
{
        if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) < 0) {
                int e = errno;

                note(c, "PTRACE_SEIZE %s (pid %d)", who, (int) pid);
                return refused(c, e, "PTRACE_SEIZE");
        }
        return verdict(c, ESCAPED, "PTRACE_SEIZE %s (pid %d) worked", who, (int) pid);
}

static int probe_ptrace_init(struct probe_ctx *c, int argc, char **argv)
{
        pid_t pid;

        if (target_pid(c, argc, argv, &pid) < 0)
                return BROKEN;
        return seize(c, pid, "init");
}

static int probe_ptrace_child(struct probe_ctx *c, int argc, char **argv)
{
        pid_t child = spawn_sleeper();
        int r;

        (void) argc;
        (void) argv;
        if (child < 0)
                return verdict(c, BROKEN, "fork: %s", ename(errno));
        r = seize(c, child, "own child");
        reap_sleeper(child);
        return r;
}

static int open_mem(struct probe_ctx *c, pid_t pid)
{
        char path[64];
        int fd;

        (void) snprintf(path, sizeof(path), "/proc/%d/mem", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                note(c, "%s: %s", path, ename(errno));
                return BLOCKED;
        }
        (void) close(fd);
        return verdict(c, ESCAPED, "opened %s", path);
}

static int probe_proc_mem_init(struct probe_ctx *c, int argc, char **argv)
{
        pid_t pid;

        if (target_pid(c, argc, argv, &pid) < 0)
                return BROKEN;
        return open_mem(c, pid);
}

/* Every visible process outside this probe's session (the job's own
 * processes share it; the sandbox's pid 1 and host processes do not). */
static int probe_proc_mem_any(struct probe_ctx *c, int argc, char **argv)
{
        static pid_t pids[MAX_PIDS];
        pid_t self = getpid(), sid = getsid(0);
        size_t n = 0, tried = 0;
        int r = BLOCKED;

        for (int i = 0; i < argc && n < MAX_PIDS; i++)
                if (parse_pid(argv[i], &pids[n++]) < 0)
                        return verdict(c, BROKEN, "not a pid: %s", argv[i]);
        if (argc == 0)
                n = list_pids(pids, MAX_PIDS);
        for (size_t i = 0; i < n && r != ESCAPED; i++) {
                if (pids[i] == self || (argc == 0 && session_of(pids[i]) == sid))
                        continue;
                tried++;
                r = open_mem(c, pids[i]);
        }
        if (tried == 0)
                return verdict(c, BLOCKED, "no process outside the job is visible");
        return r;
}

static int vm_read(struct probe_ctx *c, pid_t pid, const char *who)
{
        unsigned long long got = 0;
        struct iovec local = { .iov_base = &got, .iov_len = sizeof(got) };
        struct iovec remote = { .iov_base = (void *) &marker, .iov_len = sizeof(got) };
        ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

        if (n >= 0)
                return verdict(c, ESCAPED, "process_vm_readv %s (pid %d) read %zd bytes", who,
                               (int) pid, n);
        /* EFAULT: the permission check passed, only our address is not
         * mapped in that process. */
        if (errno == EFAULT)
                return verdict(c, ESCAPED, "process_vm_readv %s (pid %d) was permitted (EFAULT)",
                               who, (int) pid);
        return refused(c, errno, who);
}

static int probe_process_vm_readv(struct probe_ctx *c, int argc, char **argv)
{
        pid_t child, pid;
        int r, r1;

        if (target_pid(c, argc, argv, &pid) < 0)
                return BROKEN;
        child = spawn_sleeper();
        if (child < 0)
                return verdict(c, BROKEN, "fork: %s", ename(errno));
        r = vm_read(c, child, "own child");
        reap_sleeper(child);
        r1 = vm_read(c, pid, "init");
        if (r == ESCAPED || r1 == ESCAPED)
                return ESCAPED;
        return r == NOT_APPLICABLE && r1 == NOT_APPLICABLE ? NOT_APPLICABLE : BLOCKED;
}

static int probe_pidfd_getfd(struct probe_ctx *c, int argc, char **argv)
{
        pid_t pid;
        int pidfd, fd;

        if (target_pid(c, argc, argv, &pid) < 0)
                return BROKEN;
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0)
                return refused(c, errno, "pidfd_open");
        fd = (int) syscall(SYS_pidfd_getfd, pidfd, 0, 0);
        if (fd < 0) {
                int e = errno;

                (void) close(pidfd);
                /* EBADF: permitted, but the target has no fd 0. */
                if (e == EBADF)
                        return verdict(c, ESCAPED, "pidfd_getfd pid %d was permitted (EBADF)",
                                       (int) pid);
                return refused(c, e, "pidfd_getfd");
        }
        (void) close(fd);
        (void) close(pidfd);
        return verdict(c, ESCAPED, "took fd 0 of pid %d with pidfd_getfd", (int) pid);
}

static int probe_proc_environ_init(struct probe_ctx *c, int argc, char **argv)
{
        char path[64], buf[4096];
        pid_t pid;
        ssize_t n;

        if (target_pid(c, argc, argv, &pid) < 0)
                return BROKEN;
        (void) snprintf(path, sizeof(path), "/proc/%d/environ", (int) pid);
        n = read_text(path, buf, sizeof(buf));
        if (n < 0)
                return verdict(c, BLOCKED, "%s: %s", path, ename((int) -n));
        return verdict(c, ESCAPED, "read %zd bytes of %s", n, path);
}

/* The real uid in a /proc/PID/status text, or -1. */
static long status_uid(const char *status)
{
        const char *line = strstr(status, "\nUid:");
        long uid;

        if (!line || sscanf(line + 5, "%ld", &uid) != 1)
                return -1;
        return uid;
}

/* Processes the job should not see: a /proc of another pid namespace,
 * pid 1 (the sandbox's init is hidden), or anyone with another uid. */
static int probe_see_host_procs(struct probe_ctx *c, int argc, char **argv)
{
        static pid_t pids[MAX_PIDS];
        char self_link[32], want[32], path[64], buf[8192];
        size_t n = list_pids(pids, MAX_PIDS), foreign = 0;
        long uid;
        ssize_t len;

        (void) argc;
        (void) argv;
        len = readlink("/proc/self", self_link, sizeof(self_link) - 1);
        if (len < 0)
                return verdict(c, BROKEN, "readlink /proc/self: %s", ename(errno));
        self_link[len] = '\0';
        (void) snprintf(want, sizeof(want), "%d", (int) getpid());
        if (strcmp(self_link, want) != 0)
                return verdict(c, ESCAPED,
                               "/proc belongs to another pid namespace (/proc/self is %s, "
                               "getpid() %s)",
                               self_link, want);
        if (read_text("/proc/self/status", buf, sizeof(buf)) <= 0 || (uid = status_uid(buf)) < 0)
                return verdict(c, BROKEN, "cannot read own uid");
        for (size_t i = 0; i < n; i++) {
                if (pids[i] == getpid())
                        continue;
                (void) snprintf(path, sizeof(path), "/proc/%d/status", (int) pids[i]);
                if (read_text(path, buf, sizeof(buf)) <= 0)
                        continue;
                if (pids[i] != 1 && status_uid(buf) == uid)
                        continue;
                if (foreign++ < 3)
                        note(c, "sees pid %d (uid %ld)", (int) pids[i], status_uid(buf));
        }
        if (foreign)
                return verdict(c, ESCAPED, "%zu of %zu visible processes are not the job's",
                               foreign, n);
        return verdict(c, BLOCKED, "%zu visible processes, all the job's own", n);
}

/* Open @path for writing without truncating, and close it again. */
static int try_write_exe(struct probe_ctx *c, const char *path)
{
        char fdpath[64];
        int fd, w;

        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno == ELOOP)
                fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                (void) close(fd);
                return verdict(c, ESCAPED, "%s opened for writing", path);
        }
        /* The binary is busy while it runs; the attack keeps an O_PATH fd
         * and reopens it for writing once the process has exited. */
        if (errno == ETXTBSY)
                return verdict(c, ESCAPED, "%s is writable, only busy while it runs (ETXTBSY)",
                               path);
        note(c, "%s: %s", path, ename(errno));
        fd = open(path, O_PATH | O_CLOEXEC);
        if (fd < 0)
                return BLOCKED;
        (void) snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
        w = open(fdpath, O_WRONLY | O_CLOEXEC);
        if (w >= 0 || errno == ETXTBSY) {
                if (w >= 0)
                        (void) close(w);
                (void) close(fd);
                return verdict(c, ESCAPED, "%s reopened for writing through an O_PATH fd", path);
        }
        note(c, "reopen through O_PATH: %s", ename(errno));
        (void) close(fd);
        return BLOCKED;
}

static int probe_overwrite_init_exe(struct probe_ctx *c, int argc, char **argv)
{
        char path[64];
        pid_t pid;
        int r;

        if (target_pid(c, argc, argv, &pid) < 0)
                return BROKEN;
        (void) snprintf(path, sizeof(path), "/proc/%d/exe", (int) pid);
        r = try_write_exe(c, path);
        /* This probe's own binary comes from the host too (a read-only bind). */
        if (r != ESCAPED)
                r = try_write_exe(c, "/proc/self/exe");
        return r;
}

/* Files that move with the host's and other jobs' activity, or name the
 * boot: readable with content in a full /proc, masked (empty) in the
 * sandbox's. */
static const char *const host_activity[] = {
        "/proc/interrupts",   "/proc/softirqs",
        "/proc/diskstats",    "/proc/vmstat",
        "/proc/zoneinfo",     "/proc/buddyinfo",
        "/proc/swaps",        "/proc/locks",
        "/proc/key-users",    "/proc/schedstat",
        "/proc/pressure/cpu", "/proc/pressure/memory",
        "/proc/pressure/io",  "/proc/sys/kernel/random/boot_id",
        "/proc/cgroups",
};

/* The first /proc/irq/N/spurious with content (an IRQ's live count). */
static bool irq_counts_readable(char *path, size_t size)
{
        char buf[256];
        DIR *d = opendir("/proc/irq");
        struct dirent *de;
        bool found = false;

        if (!d)
                return false;
        while (!found && (de = readdir(d))) {
                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                (void) snprintf(path, size, "/proc/irq/%s/spurious", de->d_name);
                found = read_text(path, buf, sizeof(buf)) > 0;
        }
        (void) closedir(d);
        return found;
}

/* Whether /proc/fs has anything: the host file systems' own counters
 * (ext4's extent cache hits and free-space groups, jbd2's commits). */
static bool fs_counters_visible(void)
{
        DIR *d = opendir("/proc/fs");
        struct dirent *de;
        bool found = false;

        if (!d)
                return false;
        while (!found && (de = readdir(d)))
                found = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
        (void) closedir(d);
        return found;
}

static int probe_host_activity(struct probe_ctx *c, int argc, char **argv)
{
        static char buf[1 << 16];
        char irq[64];
        size_t readable = 0;

        (void) argc;
        (void) argv;
        for (size_t i = 0; i < ELEMENTSOF(host_activity); i++)
                if (read_text(host_activity[i], buf, sizeof(buf)) > 0 && readable++ < 4)
                        note(c, "%s is readable", host_activity[i]);
        if (irq_counts_readable(irq, sizeof(irq)) && readable++ < 4)
                note(c, "%s is readable", irq);
        if (fs_counters_visible() && readable++ < 4)
                note(c, "/proc/fs lists the host's file systems' counters");
        if (readable)
                return verdict(c, ESCAPED, "%zu host activity file(s) readable", readable);
        return verdict(c, BLOCKED, "every host activity file is masked or absent");
}

/* A watch on a shared host tree reports other jobs' and the host's opens. */
static int probe_inotify_host(struct probe_ctx *c, int argc, char **argv)
{
        int fd, wd, e;

        (void) argc;
        (void) argv;
        fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (fd < 0)
                return refused(c, errno, "inotify_init1");
        wd = inotify_add_watch(fd, "/usr/bin", IN_OPEN | IN_ACCESS);
        e = errno;
        (void) close(fd);
        if (wd < 0)
                return refused(c, e, "inotify_add_watch /usr/bin");
        return verdict(c, ESCAPED, "a watch on /usr/bin sees every open of the host's programs");
}

/* dnotify on a shared host directory: a signal at each access to a file in
 * it, by other jobs and the host (the inotify channel by fcntl). */
static int probe_dnotify_host(struct probe_ctx *c, int argc, char **argv)
{
        int fd, r, e;

        (void) argc;
        (void) argv;
        fd = open("/usr/bin", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return refused(c, errno, "open /usr/bin");
        r = fcntl(fd, F_NOTIFY, DN_ACCESS | DN_MULTISHOT);
        e = errno;
        if (r == 0)
                (void) fcntl(fd, F_NOTIFY, 0);
        (void) close(fd);
        if (r < 0)
                return refused(c, e, "fcntl F_NOTIFY /usr/bin");
        return verdict(c, ESCAPED,
                       "dnotify on /usr/bin signals every access to the host's programs");
}

/* The page cache of the shared host trees: preadv2(RWF_NOWAIT) tells
 * whether a page of a host file is cached (EAGAIN when not), which shows
 * what other jobs and the host read. */
static int probe_page_cache_host(struct probe_ctx *c, int argc, char **argv)
{
        char buf[512];
        struct iovec iov = { buf, sizeof(buf) };
        int fd, e;
        ssize_t n;

        (void) argc;
        (void) argv;
        fd = open("/usr/bin/sh", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return refused(c, errno, "open /usr/bin/sh");
        n = preadv2(fd, &iov, 1, 0, RWF_NOWAIT);
        e = errno;
        (void) close(fd);
        if (n >= 0 || e == EAGAIN)
                return verdict(c, ESCAPED,
                               "preadv2(RWF_NOWAIT) tells whether a host file's pages are cached");
        return refused(c, e, "preadv2(RWF_NOWAIT) /usr/bin/sh");
}

/* Same-page merging (KSM) of the job's memory with other processes': a
 * write's timing then tells whether another job or the host holds the
 * same page. Asked for a range (madvise) or for the whole process
 * (prctl PR_SET_MEMORY_MERGE, Linux 6.4), in a child: whether the host
 * runs KSM or not, the kernel taking the request is the hole. */
static int ksm_merge(struct probe_ctx *c, void *arg)
{
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int e;

        (void) arg;
        if (p == MAP_FAILED)
                return verdict(c, BROKEN, "mmap: %s", ename(errno));
        if (madvise(p, 4096, MADV_MERGEABLE) == 0)
                return verdict(c, ESCAPED, "madvise(MADV_MERGEABLE) was taken");
        e = errno;
        note(c, "madvise(MADV_MERGEABLE): %s", ename(e));
        if (prctl(67 /* PR_SET_MEMORY_MERGE */, 1, 0, 0, 0) == 0)
                return verdict(c, ESCAPED, "prctl(PR_SET_MEMORY_MERGE) was taken");
        e = errno;
        /* EINVAL is also a kernel without KSM, or older than 6.4. */
        if (c->bare && e == EINVAL)
                return verdict(c, NOT_APPLICABLE,
                               "prctl(PR_SET_MEMORY_MERGE): EINVAL: no KSM here");
        return refused(c, e, "prctl(PR_SET_MEMORY_MERGE)");
}

static int probe_ksm_merge(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return in_child(c, ksm_merge, NULL, NULL);
}

/*
 * The caller's environment in the job: the harness runs the job with
 * @token in the values of many variables (its own and names that usually
 * hold secrets: AWS_*, GITHUB_TOKEN, SSH_AUTH_SOCK, HOME, ...); a profile
 * passes the caller's LANG, LC_* and TZ only. Escaped when another
 * variable carries the token. Only the names are printed, never a value.
 */
static int probe_env_leak(struct probe_ctx *c, int argc, char **argv)
{
        extern char **environ;
        int leaked = 0, total = 0;

        if (argc != 1 || strlen(argv[0]) < 8)
                return verdict(c, BROKEN, "usage: env-leak TOKEN (8 characters or more)");
        for (char **e = environ; e && *e; e++) {
                size_t n = strcspn(*e, "=");

                total++;
                if (!strstr(*e + n, argv[0]))
                        continue;
                if ((n == 4 && strncmp(*e, "LANG", 4) == 0) ||
                    (n == 2 && strncmp(*e, "TZ", 2) == 0) || (n > 3 && strncmp(*e, "LC_", 3) == 0))
                        continue;
                if (leaked++ < 12)
                        note(c, "%.*s", (int) (n > 64 ? 64 : n), *e);
        }
        if (leaked)
                return verdict(c, ESCAPED, "%d of the caller's variables passed to the job",
                               leaked);
        return verdict(c, BLOCKED,
                       "none of %d variables came from the caller (LANG, LC_*, TZ aside)", total);
}

const struct probe proc_probes[] = {
        { "ptrace-init", probe_ptrace_init, "[PID]", "PTRACE_SEIZE pid 1 (or PID)" },
        { "ptrace-child", probe_ptrace_child, "", "PTRACE_SEIZE a child of the probe" },
        { "proc-mem-init", probe_proc_mem_init, "[PID]", "open /proc/1/mem (or PID's)" },
        { "proc-mem-any", probe_proc_mem_any, "[PID...]",
          "open /proc/PID/mem of any visible process outside the job's session" },
        { "process-vm-readv", probe_process_vm_readv, "[PID]",
          "process_vm_readv a child and pid 1 (or PID)" },
        { "pidfd-getfd", probe_pidfd_getfd, "[PID]", "pidfd_getfd fd 0 of pid 1 (or PID)" },
        { "proc-environ-init", probe_proc_environ_init, "[PID]",
          "read /proc/1/environ (or PID's)" },
        { "see-host-procs", probe_see_host_procs, "",
          "a foreign /proc, pid 1, or processes of other uids are visible" },
        { "overwrite-init-exe", probe_overwrite_init_exe, "[PID]",
          "open /proc/1/exe (or PID's) and /proc/self/exe for writing (CVE-2019-5736)" },
        { "host-activity", probe_host_activity, "",
          "read the host's activity counters in /proc (interrupts, disk and memory events, "
          "locks, pressure, IRQ counts, scheduler counts) or its boot id" },
        { "inotify-host", probe_inotify_host, "",
          "inotify watch on /usr/bin (other jobs' and the host's opens)" },
        { "dnotify-host", probe_dnotify_host, "",
          "dnotify (fcntl F_NOTIFY) on /usr/bin (other jobs' and the host's accesses)" },
        { "page-cache-host", probe_page_cache_host, "",
          "preadv2(RWF_NOWAIT) on /usr/bin/sh (which host files are cached)" },
        { "ksm-merge", probe_ksm_merge, "",
          "same-page merging of the job's memory (madvise MADV_MERGEABLE, prctl "
          "PR_SET_MEMORY_MERGE)" },
        { "env-leak", probe_env_leak, "TOKEN",
          "a caller's variable (with TOKEN in its value) in the job, LANG, LC_* and TZ aside" },
};
const size_t proc_probes_n = ELEMENTSOF(proc_probes);
