/* SPDX-License-Identifier: MIT */
/*
 * The payload's seccomp policy: an allow-list of what R, pandoc, Python,
 * coreutils and a Deno-based tool such as Quarto use. Unknown syscalls fail
 * with ENOSYS so programs fall back; known-dangerous ones with EPERM;
 * foreign architectures (i386 via int 0x80) get SIGSYS.
 *
 * The rules are compiled with libseccomp at build time (tools/seccomp-gen.c)
 * into the BPF that sandbox/seccomp.c embeds, and can be compiled at run
 * time too (tests compare both). The payload loads the BPF with seccomp(2),
 * which does not allocate. Two programs are
 * stacked; the kernel applies the most restrictive result of all attached
 * filters (seccomp(2)). The first says which syscalls exist. The second
 * looks at arguments of otherwise allowed calls: libseccomp drops
 * conditional rules on a syscall that also has an unconditional one, and
 * ioctl's request and the rlimit resource must be compared on their low
 * 32 bits only (the kernel ignores the rest), which needs a masked test.
 * docs/seccomp.md lists the policy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/fiemap.h>
#include <linux/fsmap.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "sandbox-internal.h"

/* Not memfd_secret: its pages leave the kernel's direct map, which stays
 * split up afterwards (a cost to the whole host), and no program a job runs
 * needs it. ENOSYS, as where secretmem is off. */
static const char *const allowed[] = {
        /* files */
        "read",
        "write",
        "readv",
        "writev",
        "pread64",
        "pwrite64",
        "preadv",
        "pwritev",
        "preadv2",
        "pwritev2",
        "open",
        "openat",
        "openat2",
        "creat",
        "close",
        "close_range",
        "lseek",
        "dup",
        "dup2",
        "dup3",
        "fcntl",
        "flock",
        "truncate",
        "ftruncate",
        "fallocate",
        "fadvise64",
        "readahead",
        "sendfile",
        "splice",
        "tee",
        "vmsplice",
        "copy_file_range",
        "stat",
        "fstat",
        "lstat",
        "newfstatat",
        "statx",
        "access",
        "faccessat",
        "faccessat2",
        "readlink",
        "readlinkat",
        "getdents",
        "getdents64",
        "getcwd",
        "chdir",
        "fchdir",
        "mkdir",
        "mkdirat",
        "rmdir",
        "rename",
        "renameat",
        "renameat2",
        "link",
        "linkat",
        "unlink",
        "unlinkat",
        "symlink",
        "symlinkat",
        "chmod",
        "fchmod",
        "fchmodat",
        "chown",
        "fchown",
        "lchown",
        "fchownat",
        "umask",
        "utime",
        "utimes",
        "futimesat",
        "utimensat",
        "statfs",
        "fstatfs",
        "getxattr",
        "lgetxattr",
        "fgetxattr",
        "listxattr",
        "llistxattr",
        "flistxattr",
        "setxattr",
        "lsetxattr",
        "fsetxattr",
        "removexattr",
        "lremovexattr",
        "fremovexattr",
        "ioctl",
        /* memory */
        "brk",
        "mmap",
        "munmap",
        "mremap",
        "mprotect",
        "msync",
        "mincore",
        "madvise",
        "mlock",
        "mlock2",
        "munlock",
        "mlockall",
        "munlockall",
        "membarrier",
        "memfd_create",
        "pkey_alloc",
        "pkey_free",
        "pkey_mprotect",
        "mbind",
        "get_mempolicy",
        "set_mempolicy",
        "remap_file_pages",
        /* processes */
        "fork",
        "vfork",
        "execve",
        "execveat",
        "exit",
        "exit_group",
        "wait4",
        "waitid",
        "kill",
        "tkill",
        "tgkill",
        "getpid",
        "getppid",
        "gettid",
        "getpgid",
        "setpgid",
        "getpgrp",
        "getsid",
        "setsid",
        "set_tid_address",
        "set_robust_list",
        "get_robust_list",
        "rseq",
        "prctl",
        "arch_prctl",
        "sched_yield",
        "sched_getaffinity",
        "sched_setaffinity",
        "sched_getparam",
        "sched_setparam",
        "sched_getscheduler",
        "sched_setscheduler",
        "sched_get_priority_max",
        "sched_get_priority_min",
        "sched_rr_get_interval",
        "sched_getattr",
        "sched_setattr",
        "getpriority",
        "setpriority",
        "ioprio_get",
        "ioprio_set",
        "getrusage",
        "times",
        "getrlimit",
        "setrlimit", /* but RLIMIT_CORE: rules_core_limit */
        /* prlimit64: filtered below */
        "pidfd_open",
        "pidfd_send_signal",
        /* credentials: only the job's own ids exist in its namespace */
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "getresuid",
        "getresgid",
        "getgroups",
        "setuid",
        "setgid",
        "setreuid",
        "setregid",
        "setresuid",
        "setresgid",
        "setfsuid",
        "setfsgid",
        "capget",
        "capset",
        /* signals */
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "rt_sigpending",
        "rt_sigtimedwait",
        "rt_sigqueueinfo",
        "rt_tgsigqueueinfo",
        "rt_sigsuspend",
        "sigaltstack",
        "signalfd",
        "signalfd4",
        "pause",
        "alarm",
        /* time */
        "nanosleep",
        "clock_nanosleep",
        "clock_gettime",
        "clock_getres",
        "gettimeofday",
        "time",
        "getitimer",
        "setitimer",
        "timer_create",
        "timer_settime",
        "timer_gettime",
        "timer_getoverrun",
        "timer_delete",
        "timerfd_create",
        "timerfd_settime",
        "timerfd_gettime",
        /* events */
        "poll",
        "ppoll",
        "select",
        "pselect6",
        "epoll_create",
        "epoll_create1",
        "epoll_ctl",
        "epoll_wait",
        "epoll_pwait",
        "epoll_pwait2",
        "eventfd",
        "eventfd2",
        /* Not inotify: a watch on the shared read-only host trees (/usr)
         * reports every open and read of those files by other jobs and by
         * the host, a side channel on what they run and a channel between
         * two colluding jobs. Left to the default ENOSYS (programs such as
         * tail -f fall back to polling); the named addition "inotify"
         * allows it. */
        "pipe",
        "pipe2",
        "futex",
        "futex_waitv",
        /* Not kernel AIO (io_setup and the rest): its contexts come from
         * one host-wide budget, fs.aio-max-nr, which 16 io_setup(4096)
         * calls use up for every process on the host. Left to the default
         * ENOSYS, so libaio users fall back to plain I/O. */
        /* sockets: socket() and socketpair() themselves are filtered below */
        "bind",
        "listen",
        "accept",
        "accept4",
        "connect",
        "getsockname",
        "getpeername",
        "sendto",
        "recvfrom",
        "sendmsg",
        "recvmsg",
        "sendmmsg",
        "recvmmsg",
        "shutdown",
        "setsockopt",
        "getsockopt",
        /* System V and POSIX IPC: private to the job's ipc namespace */
        "shmget",
        "shmat",
        "shmdt",
        "shmctl",
        "semget",
        "semop",
        "semtimedop",
        "semctl",
        "msgget",
        "msgsnd",
        "msgrcv",
        "msgctl",
        "mq_open",
        "mq_unlink",
        "mq_timedsend",
        "mq_timedreceive",
        "mq_notify",
        "mq_getsetattr",
        /* misc */
        "uname",
        "sysinfo",
        "getrandom",
        "getcpu",
        "restart_syscall",
        "seccomp",
        "landlock_create_ruleset",
        "landlock_add_rule",
        "landlock_restrict_self",
};

/* Newer than this libseccomp's tables: harmless, and used by newer libcs.
 * Not cachestat (451): on the shared read-only host trees it reports which
 * pages other jobs and the host have read, on kernels without the fix of
 * CVE-2025-21691, the side channel inotify is left out for; no program a
 * job runs needs it. */
static const struct {
        const char *name;
        int nr;
} allowed_by_number[] = {
#if defined(__x86_64__)
        { "fchmodat2", 452 },  { "map_shadow_stack", 453 }, { "futex_wake", 454 },
        { "futex_wait", 455 }, { "futex_requeue", 456 },    { "mseal", 462 },
#endif
};

/*
 * Answered 0 without being run. Everything a job can write is a tmpfs
 * thrown away after it, so flushing has no meaning for the job; on the
 * read-only host mounts it costs the host: fsync(2) of any file, even one
 * opened read-only and clean, can send a cache flush to the host's disk
 * (ext4 with barriers), and sync(2) and syncfs(2) write back every host
 * file system or the one holding /usr. A job looping on them would slow
 * every fsync on the host (cordond's audit log and job store among them).
 * msync(2) with MS_SYNC is answered so in the guard program (rules_msync).
 */
static const char *const not_run[] = {
        "fsync", "fdatasync", "sync", "syncfs", "sync_file_range",
};

/* Refused with EPERM: escapes, kernel attack surface, host state. */
static const char *const refused[] = {
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "open_tree",
        "move_mount",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "process_madvise",
        "process_mrelease",
        "pidfd_getfd",
        "kcmp",
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "keyctl",
        "add_key",
        "request_key",
        "unshare",
        "setns",
        "open_by_handle_at",
        "name_to_handle_at",
        "swapon",
        "swapoff",
        "reboot",
        "settimeofday",
        "clock_settime",
        "clock_adjtime",
        "adjtimex",
        "sethostname",
        "setdomainname",
        "iopl",
        "ioperm",
        "setgroups",
        "quotactl",
        "quotactl_fd",
        "vhangup",
        "acct",
        "syslog",
        "lookup_dcookie",
        "uselib",
        "ustat",
        "sysfs",
        "_sysctl",
        "modify_ldt",
        "set_thread_area",
        "get_thread_area",
        "migrate_pages",
        "move_pages",
        "fanotify_init",
        "fanotify_mark",
};

#define NS_FLAGS                                                                                   \
        (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
         CLONE_NEWCGROUP)

static void seccomp_releasep(scmp_filter_ctx *c)
{
        if (*c)
                seccomp_release(*c);
}

static int add(scmp_filter_ctx c, uint32_t action, const char *name, int nr, unsigned int n,
               const struct scmp_arg_cmp *cmp, struct cd_err *err)
{
        int r = seccomp_rule_add_array(c, action, nr, n, cmp);

        if (r < 0)
                return cd_err_neg(err, r, "seccomp: rule for %s", name);
        return 0;
}

static int add_named(scmp_filter_ctx c, uint32_t action, const char *name, unsigned int n,
                     const struct scmp_arg_cmp *cmp, struct cd_err *err)
{
        int nr = seccomp_syscall_resolve_name(name);

        if (nr == __NR_SCMP_ERROR)
                return 0; /* not on this architecture: the default refuses it */
        return add(c, action, name, nr, n, cmp, err);
}

#define RULE(c, act, name, err, ...)                                                               \
        add_named(c, act, name,                                                                    \
                  sizeof((struct scmp_arg_cmp[]){ __VA_ARGS__ }) / sizeof(struct scmp_arg_cmp),    \
                  (struct scmp_arg_cmp[]){ __VA_ARGS__ }, err)

/* clone(2) without namespace flags; clone3's flags sit behind a pointer, so
 * it gets ENOSYS and glibc falls back to clone(2). */
static int rules_clone(scmp_filter_ctx c, struct cd_err *err)
{
        int r = RULE(c, SCMP_ACT_ALLOW, "clone", err, SCMP_A0(SCMP_CMP_MASKED_EQ, NS_FLAGS, 0));

        for (unsigned long bit = 1; r == 0 && bit; bit <<= 1)
                if (bit & NS_FLAGS)
                        r = RULE(c, SCMP_ACT_ERRNO(EPERM), "clone", err,
                                 SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit));
        return r;
}

/* IPv4 or IPv6 of type @type with protocol 0 or @proto only: TCP and UDP,
 * not MPTCP, SCTP, SMC, L2TP or UDP-Lite, whose modules the kernel would
 * load for the asking (EPROTONOSUPPORT above UDP's number, the default
 * ENOSYS for the few below it). */
static int rules_inet(scmp_filter_ctx c, int family, int type, int proto, struct cd_err *err)
{
        int r;

        r = RULE(c, SCMP_ACT_ALLOW, "socket", err, SCMP_A0(SCMP_CMP_EQ, family),
                 SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, type), SCMP_A2(SCMP_CMP_EQ, 0));
        if (r == 0)
                r = RULE(c, SCMP_ACT_ALLOW, "socket", err, SCMP_A0(SCMP_CMP_EQ, family),
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, type), SCMP_A2(SCMP_CMP_EQ, proto));
        if (r == 0)
                r = RULE(c, SCMP_ACT_ERRNO(EPROTONOSUPPORT), "socket", err,
                         SCMP_A0(SCMP_CMP_EQ, family), SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, type),
                         SCMP_A2(SCMP_CMP_GT, IPPROTO_UDP));
        return r;
}

/* socketpair(2) for AF_UNIX only: other families (TIPC makes a working
 * pair) would reach protocol code that socket() refuses. */
static int rules_socketpair(scmp_filter_ctx c, struct cd_err *err)
{
        int r;

        r = RULE(c, SCMP_ACT_ALLOW, "socketpair", err, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
        if (r == 0)
                r = RULE(c, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socketpair", err,
                         SCMP_A0(SCMP_CMP_EQ, AF_UNSPEC));
        if (r == 0)
                r = RULE(c, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socketpair", err,
                         SCMP_A0(SCMP_CMP_GT, AF_UNIX));
        return r;
}

/* Unix, IPv4/6 TCP and UDP (loopback is all there is); never raw or packet
 * sockets, nor netlink: the kernel's replies wait in a netlink socket's
 * receive queue, up to its SO_RCVBUF (twice net.core.rmem_max: 8 MiB on
 * the development machine), in memory no memory cgroup is charged for. A job with
 * 64 MiB held 400 MiB in 50 sockets of unread RTM_GETLINK dumps, and
 * nofile x pids sockets could hold the host's memory. getaddrinfo(),
 * which asks NETLINK_ROUTE which address families the host has, takes
 * both when it cannot ask (glibc's check_pf.c). */
static int rules_socket(scmp_filter_ctx c, struct cd_err *err)
{
        static const int inet[] = { AF_INET, AF_INET6 };
        int r;

        r = RULE(c, SCMP_ACT_ALLOW, "socket", err, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(inet); i++) {
                r = rules_inet(c, inet[i], SOCK_STREAM, IPPROTO_TCP, err);
                if (r == 0)
                        r = rules_inet(c, inet[i], SOCK_DGRAM, IPPROTO_UDP, err);
                if (r == 0)
                        r = RULE(c, SCMP_ACT_ERRNO(EPERM), "socket", err,
                                 SCMP_A0(SCMP_CMP_EQ, inet[i]),
                                 SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW));
        }
        if (r == 0)
                r = rules_socketpair(c, err);
        /* Every other family: EAFNOSUPPORT, as on a kernel without it. */
        for (int fam = 0; r == 0 && fam <= AF_PACKET; fam++)
                if (fam != AF_UNIX && fam != AF_INET && fam != AF_INET6)
                        r = RULE(c, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", err,
                                 SCMP_A0(SCMP_CMP_EQ, fam));
        if (r == 0)
                r = RULE(c, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", err,
                         SCMP_A0(SCMP_CMP_GT, AF_PACKET));
        return r;
}

/* prlimit64 on the caller only (pid 0), so the job cannot lower pid 1's
 * limits. RLIMIT_CORE is the guard program's (rules_core_limit). */
static int rules_prlimit(scmp_filter_ctx c, struct cd_err *err)
{
        int r = RULE(c, SCMP_ACT_ALLOW, "prlimit64", err, SCMP_A0(SCMP_CMP_EQ, 0));

        if (r == 0)
                r = RULE(c, SCMP_ACT_ERRNO(EPERM), "prlimit64", err, SCMP_A0(SCMP_CMP_NE, 0));
        return r;
}

/* personality(2) queries only; prlimit64 as rules_prlimit says; mknod of
 * fifos, sockets and regular files only (devices would be unusable on
 * nodev mounts anyway). */
static int rules_misc(scmp_filter_ctx c, struct cd_err *err)
{
        static const unsigned int ok_types[] = { 0, S_IFREG, S_IFIFO, S_IFSOCK };
        int r;

        r = RULE(c, SCMP_ACT_ALLOW, "personality", err, SCMP_A0(SCMP_CMP_EQ, 0xffffffffULL));
        if (r == 0)
                r = RULE(c, SCMP_ACT_ERRNO(EPERM), "personality", err,
                         SCMP_A0(SCMP_CMP_NE, 0xffffffffULL));
        if (r == 0)
                r = rules_prlimit(c, err);
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(ok_types); i++) {
                r = RULE(c, SCMP_ACT_ALLOW, "mknod", err,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, S_IFMT, ok_types[i]));
                if (r == 0)
                        r = RULE(c, SCMP_ACT_ALLOW, "mknodat", err,
                                 SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, ok_types[i]));
        }
        for (unsigned int t = S_IFCHR; r == 0 && t; t = t == S_IFCHR ? S_IFBLK : 0) {
                r = RULE(c, SCMP_ACT_ERRNO(EPERM), "mknod", err,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, S_IFMT, t));
                if (r == 0)
                        r = RULE(c, SCMP_ACT_ERRNO(EPERM), "mknodat", err,
                                 SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, t));
        }
        return r;
}

static bool listed(char *const *v, const char *name)
{
        for (size_t i = 0; v && v[i]; i++)
                if (strcmp(v[i], name) == 0)
                        return true;
        return false;
}

/* @extra: refused syscalls a profile's named additions allow (docs/seccomp.md). */
static int rules_lists(scmp_filter_ctx c, char *const *extra, struct cd_err *err)
{
        int r = 0;

        for (size_t i = 0; r == 0 && i < ELEMENTSOF(allowed); i++)
                r = add_named(c, SCMP_ACT_ALLOW, allowed[i], 0, NULL, err);
        for (size_t i = 0; r == 0 && extra && extra[i]; i++)
                r = add_named(c, SCMP_ACT_ALLOW, extra[i], 0, NULL, err);
        /* By number whether or not this libseccomp knows the name (it was
         * added only when it did not, so a libseccomp that knew it left
         * the call to the default ENOSYS). */
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(allowed_by_number); i++)
                r = add(c, SCMP_ACT_ALLOW, allowed_by_number[i].name, allowed_by_number[i].nr, 0,
                        NULL, err);
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(not_run); i++)
                r = add_named(c, SCMP_ACT_ERRNO(0), not_run[i], 0, NULL, err);
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(refused); i++)
                if (!listed(extra, refused[i]))
                        r = add_named(c, SCMP_ACT_ERRNO(EPERM), refused[i], 0, NULL, err);
        /* clone3 is left to the default, ENOSYS (see rules_clone). */
        return r;
}

/* Newer than these headers (Linux 6.10 and ext4's own). */
struct cd_fsuuid2 {
        uint8_t len, uuid[16];
};
struct cd_fs_sysfs_path {
        uint8_t len, name[128];
};
struct cd_ext4_fsuuid {
        uint32_t len, flags;
};
/* Linux 6.4 (include/uapi/linux/prctl.h). */
#define CD_PR_SET_MEMORY_MERGE 67
/* Both numbers of SO_TIMESTAMPING (asm-generic, x86-64's too): the kernel
 * takes either, and a 64-bit libc names only the old one. */
#define CD_SO_TIMESTAMPING_OLD   37
#define CD_SO_TIMESTAMPING_NEW   65
#define CD_FS_IOC_GETFSUUID      _IOR(0x15, 0, struct cd_fsuuid2)
#define CD_FS_IOC_GETFSSYSFSPATH _IOR(0x15, 1, struct cd_fs_sysfs_path)
#define CD_EXT4_IOC_GETFSUUID    _IOR('f', 44, struct cd_ext4_fsuuid)
#define CD_EXT4_IOC_GET_ES_CACHE _IOWR('f', 42, struct fiemap)
/* include/uapi/linux/in6.h, which glibc's headers do not carry. */
#define CD_IPV6_FLOWLABEL_MGR 32
/* include/uapi/linux/tcp.h, Linux 4.13 and 6.7: newer than some headers. */
#define CD_TCP_MD5SIG_EXT 32
#define CD_TCP_AO_ADD_KEY 38
#define CD_TCP_AO_DEL_KEY 39
#define CD_TCP_AO_INFO    40
#define CD_TCP_AO_REPAIR  42

/*
 * Requests refused on any fd, compared on the low 32 bits (the kernel's
 * type). TIOCSTI and TIOCLINUX push input into a terminal. The others
 * answer from the host's file systems under the shared read-only trees,
 * none of it a job's business: the free and used space map of the whole
 * disk (FS_IOC_GETFSMAP, no capability needed: it follows cordond's
 * uploads and artifacts as they come and go), the file system's UUID and
 * label (persistent host identifiers, as the masked boot_id), its sysfs
 * name, and where host files lie on the disk (FIEMAP, and ext4's copy of
 * it over its extent cache, which needs no more permission). Answered as
 * by a file system without them.
 */
static const struct {
        unsigned long request;
        int errno_value;
} refused_ioctls[] = {
        { TIOCSTI, EPERM },
        { TIOCLINUX, EPERM },
        { FS_IOC_GETFSMAP, ENOTTY },
        { CD_FS_IOC_GETFSUUID, ENOTTY },
        { CD_EXT4_IOC_GETFSUUID, ENOTTY },
        { CD_FS_IOC_GETFSSYSFSPATH, ENOTTY },
        { FS_IOC_GETFSLABEL, ENOTTY },
        { FS_IOC_FIEMAP, EOPNOTSUPP },
        { CD_EXT4_IOC_GET_ES_CACHE, EOPNOTSUPP },
};

static int rules_ioctl_guard(scmp_filter_ctx c, struct cd_err *err)
{
        int r = 0;

        for (size_t i = 0; r == 0 && i < ELEMENTSOF(refused_ioctls); i++)
                r = RULE(c, SCMP_ACT_ERRNO(refused_ioctls[i].errno_value), "ioctl", err,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, refused_ioctls[i].request));
        return r;
}

/*
 * The page cache of the shared read-only host trees is one for every job
 * and the host. preadv2(RWF_NOWAIT) says exactly whether a page of a host
 * file is cached (EAGAIN when it is not), and posix_fadvise(DONTNEED)
 * drops a file's clean pages without any permission: together, a job sees
 * which host files other jobs and the host read, within milliseconds (the
 * channel inotify and cachestat are left out for), and can evict shared
 * files over and over. RWF_NOWAIT reads fail with EOPNOTSUPP, as on a
 * file system without them (callers retry without the flag); DONTNEED is
 * answered 0 without running (advice only: a tmpfs file, the only kind a
 * job can write, ignores it anyway). Reading timings stays a channel.
 */
static int rules_page_cache(scmp_filter_ctx c, struct cd_err *err)
{
        int r = RULE(c, SCMP_ACT_ERRNO(EOPNOTSUPP), "preadv2", err,
                     SCMP_A5(SCMP_CMP_MASKED_EQ, RWF_NOWAIT, RWF_NOWAIT));

        if (r == 0)
                r = RULE(c, SCMP_ACT_ERRNO(0), "fadvise64", err,
                         SCMP_A3(SCMP_CMP_MASKED_EQ, 0xffffffffULL, POSIX_FADV_DONTNEED));
        /* Same-page merging shares pages between processes that asked for
         * it, and a write's timing tells whether another job's page was
         * merged with the asker's: EINVAL, as without CONFIG_KSM. For one
         * range (madvise) and for the whole process and its children
         * (prctl PR_SET_MEMORY_MERGE, which needs no capability). */
        if (r == 0)
                r = RULE(c, SCMP_ACT_ERRNO(EINVAL), "madvise", err,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, 0xffffffffULL, MADV_MERGEABLE));
        if (r == 0)
                r = RULE(c, SCMP_ACT_ERRNO(EINVAL), "prctl", err,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffULL, CD_PR_SET_MEMORY_MERGE));
        return r;
}

/* msync(MS_SYNC) flushes a shared mapping like fsync(2) (see not_run); other
 * flags keep their answers, since some programs probe whether an address is
 * mapped with msync(MS_ASYNC) and ENOMEM. */
static int rules_msync(scmp_filter_ctx c, struct cd_err *err)
{
        return RULE(c, SCMP_ACT_ERRNO(0), "msync", err,
                    SCMP_A2(SCMP_CMP_MASKED_EQ, MS_SYNC, MS_SYNC));
}

/* A job's own limits, but never a new RLIMIT_CORE: where core_pattern
 * pipes to a helper, the job has 1, the one value that keeps the kernel
 * from starting it, and 0 would start it again (rlimit.c). Reading it
 * (prlimit64 with no new limit) is fine. The kernel takes the resource as
 * an unsigned int, so it is compared on its low 32 bits, which needs the
 * masked test of this program (RLIMIT_CORE | 1 << 32 is RLIMIT_CORE). */
static int rules_core_limit(scmp_filter_ctx c, struct cd_err *err)
{
        int r = RULE(c, SCMP_ACT_ERRNO(EPERM), "setrlimit", err,
                     SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffULL, RLIMIT_CORE));

        if (r == 0)
                r = RULE(c, SCMP_ACT_ERRNO(EPERM), "prlimit64", err,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, RLIMIT_CORE),
                         SCMP_A2(SCMP_CMP_NE, 0));
        return r;
}

/* dnotify (fcntl F_NOTIFY) on a directory of the shared host trees signals
 * the job at every access to a file in it by other jobs and the host: the
 * side channel inotify is refused for (rules_lists). Answered EINVAL, as
 * by a kernel without CONFIG_DNOTIFY; the named addition "inotify" allows
 * it with inotify. The command is compared on its low 32 bits, as the
 * kernel reads it. */
static int rules_dnotify(scmp_filter_ctx c, char *const *extra, struct cd_err *err)
{
        if (listed(extra, "inotify_add_watch"))
                return 0;
        return RULE(c, SCMP_ACT_ERRNO(EINVAL), "fcntl", err,
                    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, F_NOTIFY));
}

/* setsockopt(2) of each level and option in @opts answered with its errno
 * (0: success) without running; level and option are compared on their
 * low 32 bits, as the kernel reads them. */
struct sockopt_refusal {
        int level, name, errno_value;
};

static int rules_sockopts(scmp_filter_ctx c, const struct sockopt_refusal *opts, size_t n,
                          struct cd_err *err)
{
        int r = 0;

        for (size_t i = 0; r == 0 && i < n; i++)
                r = RULE(c, SCMP_ACT_ERRNO(opts[i].errno_value), "setsockopt", err,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, opts[i].level),
                         SCMP_A2(SCMP_CMP_MASKED_EQ, 0xffffffffULL, opts[i].name));
        return r;
}

/*
 * A socket's error queue holds copies of what it sent, or the ICMP errors
 * it got, up to its SO_RCVBUF (twice net.core.rmem_max), and no memory
 * cgroup is charged for them: 50 UDP sockets of a job with 64 MiB held
 * 160 MiB of ICMP errors (IP_RECVERR), and 330 MiB of transmit timestamps
 * (SO_TIMESTAMPING). Nothing is queued without these options, or without
 * a timestamp asked for a single packet by a control message, which the
 * job's network namespace refuses where it carries data
 * (net.core.tstamp_allow_data, sandbox/net.c) and this filter cannot see.
 * IP_RECVERR and IPV6_RECVERR answer 0 without running: glibc's resolver
 * sets them and gives up if that fails, and a connected socket (the
 * resolver's) still learns of an ICMP error without them. Timestamps on
 * sent packets are for clock and network tools no job needs: refused as
 * by a kernel without them. Level and option are compared on their low
 * 32 bits, as the kernel reads them.
 */
static int rules_error_queue(scmp_filter_ctx c, struct cd_err *err)
{
        static const struct sockopt_refusal opts[] = {
                { SOL_IP, IP_RECVERR, 0 },
                { SOL_IPV6, IPV6_RECVERR, 0 },
                { SOL_SOCKET, CD_SO_TIMESTAMPING_OLD, ENOPROTOOPT },
                { SOL_SOCKET, CD_SO_TIMESTAMPING_NEW, ENOPROTOOPT },
        };

        return rules_sockopts(c, opts, ELEMENTSOF(opts), err);
}

/*
 * Socket options that take from a table the whole host shares, or hold
 * kernel memory no memory cgroup is charged for. Each is refused as by a
 * kernel or host without it; level and option are compared on their low
 * 32 bits, as above.
 *
 * IPv6 flow labels come from one table of 4096 for the whole host, every
 * network namespace's together: once fewer than a quarter are free the
 * kernel refuses them to every process without CAP_NET_ADMIN in the
 * host's namespace (shown: after a job took three quarters, an
 * unprivileged host process got one label, then ENOBUFS), and a label
 * outlives its socket by up to 150 s, so a few fds hold them all while
 * the job runs (escape probe flowlabel-exhaust).
 *
 * TCP MD5 and TCP-AO keys are kernel memory from the socket's option
 * allowance (net.core.optmem_max, 128 KiB a socket on 6.x kernels), which
 * no memory cgroup is charged for: a job with --memory 64M held 950 MiB
 * of MD5 keys in 16,000 sockets, its peak memory 56 MiB. No job signs its
 * loopback TCP.
 *
 * A multicast group joined takes the same allowance for the socket's
 * list (2,300 IPv6 groups a socket) and, for each group new to the
 * device, an entry of the device's, charged to no one either. A job's
 * only device is its loopback, where multicast reaches no one: joins
 * fail as with no multicast device (ENODEV). The job's network namespace
 * also has a small optmem_max (sandbox/net.c), which bounds what any
 * option left can hold (escape probe option-memory).
 */
static int rules_uncharged_options(scmp_filter_ctx c, struct cd_err *err)
{
        static const struct sockopt_refusal opts[] = {
                { SOL_IPV6, CD_IPV6_FLOWLABEL_MGR, ENOPROTOOPT },
                { IPPROTO_TCP, TCP_MD5SIG, ENOPROTOOPT },
                { IPPROTO_TCP, CD_TCP_MD5SIG_EXT, ENOPROTOOPT },
                { IPPROTO_TCP, CD_TCP_AO_ADD_KEY, ENOPROTOOPT },
                { IPPROTO_TCP, CD_TCP_AO_DEL_KEY, ENOPROTOOPT },
                { IPPROTO_TCP, CD_TCP_AO_INFO, ENOPROTOOPT },
                { IPPROTO_TCP, CD_TCP_AO_REPAIR, ENOPROTOOPT },
                { SOL_IP, IP_ADD_MEMBERSHIP, ENODEV },
                { SOL_IP, IP_ADD_SOURCE_MEMBERSHIP, ENODEV },
                { SOL_IP, MCAST_JOIN_GROUP, ENODEV },
                { SOL_IP, MCAST_JOIN_SOURCE_GROUP, ENODEV },
                { SOL_IPV6, IPV6_ADD_MEMBERSHIP, ENODEV },
                { SOL_IPV6, MCAST_JOIN_GROUP, ENODEV },
                { SOL_IPV6, MCAST_JOIN_SOURCE_GROUP, ENODEV },
        };

        return rules_sockopts(c, opts, ELEMENTSOF(opts), err);
}

/* Huge pages come from the host's pool (vm.nr_hugepages), which no limit of
 * the job's cgroup charges (v1 has a hugetlb controller cordon does not
 * use; v2 charges memory.max only under memory_hugetlb_accounting): a job
 * could take every page reserved for the host's databases. Refused as on a
 * host without hugetlbfs, so that programs fall back to normal pages. The
 * flags are tested by their bits, whatever else is set. */
static int rules_hugetlb(scmp_filter_ctx c, struct cd_err *err)
{
        int r = RULE(c, SCMP_ACT_ERRNO(ENOMEM), "mmap", err,
                     SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_HUGETLB, MAP_HUGETLB));

        if (r == 0)
                r = RULE(c, SCMP_ACT_ERRNO(EINVAL), "memfd_create", err,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, MFD_HUGETLB, MFD_HUGETLB));
        if (r == 0)
                r = RULE(c, SCMP_ACT_ERRNO(EPERM), "shmget", err,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, SHM_HUGETLB, SHM_HUGETLB));
        return r;
}

/*
 * A filter of the job's own: the kernel logs every SECCOMP_RET_LOG and
 * kill action of any filter (kernel.seccomp.actions_logged holds them all
 * by default) to the host's kernel log and audit log, with the process's
 * name and executable path, both the job's choice: a way for its data out
 * of the sandbox, at a syscall's pace, unbounded under auditd. Strict
 * mode's kill is logged the same way. So the job may not add a filter nor
 * enter strict mode (EPERM; programs that confine themselves, such as
 * file(1), say so and stop, or run unconfined under cordon's filters);
 * the queries (SECCOMP_GET_ACTION_AVAIL, SECCOMP_GET_NOTIF_SIZES,
 * PR_GET_SECCOMP) stay. The named addition "seccomp" allows them. The
 * operation is compared on its low 32 bits, as the kernel reads it.
 */
static int rules_own_filters(scmp_filter_ctx c, char *const *extra, struct cd_err *err)
{
        static const unsigned long ops[] = { SECCOMP_SET_MODE_STRICT, SECCOMP_SET_MODE_FILTER };
        int r = 0;

        if (listed(extra, "seccomp"))
                return 0;
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(ops); i++)
                r = RULE(c, SCMP_ACT_ERRNO(EPERM), "seccomp", err,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffULL, ops[i]));
        if (r == 0)
                r = RULE(c, SCMP_ACT_ERRNO(EPERM), "prctl", err,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffULL, PR_SET_SECCOMP));
        return r;
}

static int new_filter(uint32_t def, scmp_filter_ctx *ret, struct cd_err *err)
{
        scmp_filter_ctx c = seccomp_init(def);
        int r;

        if (!c)
                return cd_err_set(err, ENOMEM, "seccomp: init");
        /* SIGSYS by TRAP, not KILL_PROCESS: the kernel logs every seccomp
         * kill to the host's kernel log (and auditd), naming the process
         * and its executable, both of which the job chooses. The call is
         * refused either way; the signal kills unless the job handles it. */
        r = seccomp_attr_set(c, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
        if (r == 0) /* the payload sets no_new_privs itself */
                r = seccomp_attr_set(c, SCMP_FLTATR_CTL_NNP, 0);
        if (r == 0) /* a binary search on the syscall number: the job pays on every call */
                r = seccomp_attr_set(c, SCMP_FLTATR_CTL_OPTIMIZE, 2);
        if (r < 0) {
                seccomp_release(c);
                return cd_err_neg(err, r, "seccomp: attributes");
        }
        *ret = c;
        return 0;
}

/* Export @c as BPF into a heap copy (libseccomp 2.5 exports to an fd only). */
static int export(scmp_filter_ctx c, struct sock_fprog *ret, struct cd_err *err)
{
        cleanup_close int fd = -1;
        struct stat st;
        void *buf;
        int r;

        fd = memfd_create("cordon-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return cd_err_errno(err, "seccomp: memfd");
        r = seccomp_export_bpf(c, fd);
        if (r < 0)
                return cd_err_neg(err, r, "seccomp: export");
        if (fstat(fd, &st) < 0)
                return cd_err_errno(err, "seccomp: stat export");
        if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
            st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
                return cd_err_set(err, EINVAL, "seccomp: exported program has a bad size");
        buf = malloc((size_t) st.st_size);
        if (!buf)
                return cd_err_set(err, ENOMEM, "seccomp: out of memory");
        if (pread(fd, buf, (size_t) st.st_size, 0) != st.st_size) {
                free(buf);
                return cd_err_set(err, EIO, "seccomp: short read of exported program");
        }
        ret->filter = buf;
        ret->len = (unsigned short) (st.st_size / sizeof(struct sock_filter));
        return 0;
}

static int build_main(char *const *extra, struct sock_fprog *ret, struct cd_err *err)
{
        cleanup_with(seccomp_releasep) scmp_filter_ctx c = NULL;
        int r;

        r = new_filter(SCMP_ACT_ERRNO(ENOSYS), &c, err);
        if (r == 0)
                r = rules_lists(c, extra, err);
        if (r == 0)
                r = rules_clone(c, err);
        if (r == 0)
                r = rules_socket(c, err);
        if (r == 0)
                r = rules_misc(c, err);
        if (r == 0)
                r = export(c, ret, err);
        return r;
}

static int build_guard(char *const *extra, struct sock_fprog *ret, struct cd_err *err)
{
        cleanup_with(seccomp_releasep) scmp_filter_ctx c = NULL;
        int r;

        r = new_filter(SCMP_ACT_ALLOW, &c, err);
        if (r == 0)
                r = rules_ioctl_guard(c, err);
        if (r == 0)
                r = rules_page_cache(c, err);
        if (r == 0)
                r = rules_msync(c, err);
        if (r == 0)
                r = rules_core_limit(c, err);
        if (r == 0)
                r = rules_hugetlb(c, err);
        if (r == 0)
                r = rules_dnotify(c, extra, err);
        if (r == 0)
                r = rules_error_queue(c, err);
        if (r == 0)
                r = rules_uncharged_options(c, err);
        if (r == 0)
                r = rules_own_filters(c, extra, err);
        if (r == 0)
                r = export(c, ret, err);
        return r;
}

int cd_seccomp_compile(char *const *extra, struct cd_seccomp **ret, struct cd_err *err)
{
        struct cd_seccomp *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return cd_err_set(err, ENOMEM, "seccomp: out of memory");
        s->owned = true;
        /* Loaded in this order: the guard last, since it refuses any
         * filter after it (rules_own_filters). */
        r = build_main(extra, &s->progs[0], err);
        if (r == 0)
                r = build_guard(extra, &s->progs[1], err);
        if (r < 0) {
                (void) cd_seccomp_free(s);
                return r;
        }
        s->n_progs = 2;
        *ret = s;
        return 0;
}

struct cd_seccomp *cd_seccomp_free(struct cd_seccomp *s)
{
        if (!s)
                return NULL;
        if (s->owned)
                for (unsigned int i = 0; i < CD_SECCOMP_MAX_PROGS; i++)
                        free(s->progs[i].filter);
        free(s);
        return NULL;
}
