/* SPDX-License-Identifier: MIT */
/*
 * sandbox/seccomp.c and seccomp-policy.c: the BPF embedded at build time is
 * what libseccomp compiles from the policy now (a stale generated file fails
 * here), and the loaded programs allow and refuse what docs/seccomp.md says.
 *
 * Each probe runs in a forked child that sets no_new_privs (so no root is
 * needed), loads the programs with cd_seccomp_apply_child() and reports the
 * probe's errno over a pipe; the test process itself stays unfiltered. Where
 * the unfiltered kernel would give a different answer, the same probe also
 * runs without the filter, proving that the filter made the difference.
 * Probes use syscall(2) directly, so neither glibc nor a sanitizer's
 * interceptors change the arguments the filter sees.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/fsmap.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <linux/in6.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <unistd.h>

#include <cmocka.h>

#include "cordon/cleanup.h"
#include "sandbox/sandbox-internal.h"
#include "unit.h"

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif

struct fixture {
        struct cd_seccomp *built; /* the embedded programs the launcher loads */
        struct cd_seccomp *added; /* when set, probes run under it instead (not owned) */
        char *dir;                /* scratch for mknod and friends */
};

/* The probe's view of the fixture, for the forked child. */
static const struct fixture *probe_fx;

/* A syscall the next probes ask about without running it (TRACED()), or -1. */
static long trace_nr = -1;

#define TRACED(nr, check)                                                                          \
        do {                                                                                       \
                trace_nr = (nr);                                                                   \
                check;                                                                             \
                trace_nr = -1;                                                                     \
        } while (0)

/*
 * Whether the kernel would run syscall @nr, asked without running it: a
 * filter loaded before cordon's answers @nr with SECCOMP_RET_TRACE, which
 * with no tracer attached fails the call with ENOSYS without running it.
 * The kernel takes the strongest answer of all filters, and ERRNO outranks
 * TRACE, so cordon's ERRNO(e) wins and the call returns e. Loaded first:
 * cordon's filters refuse any filter after them.
 */
static int trace_load(long nr)
{
        struct sock_filter f[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) nr, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(f), .filter = f };

        return (int) syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct cd_err e = { 0 };

        if (!f)
                return -1;
        *state = f;
        if (cd_seccomp_build(&f->built, &e) < 0) {
                print_error("cd_seccomp_build: %s\n", e.msg);
                return -1;
        }
        f->dir = ut_mkdtemp();
        probe_fx = f;
        trace_nr = -1; /* a failed check may have left it set */
        return f->dir ? 0 : -1;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        ut_run_deferred();
        if (!f)
                return 0;
        (void) cd_seccomp_free(f->built);
        (void) ut_rm_rf(f->dir);
        free(f->dir);
        free(f);
        probe_fx = NULL;
        return 0;
}

/* ---- embedded == compiled ---- */

static void seccomp_put(void *s)
{
        (void) cd_seccomp_free(s);
}

static void embedded_programs_match_policy(void **state)
{
        struct fixture *f = *state;
        struct cd_seccomp *compiled = NULL;
        struct cd_err e = { 0 };

        if (cd_seccomp_compile(NULL, &compiled, &e) < 0)
                fail_msg("cd_seccomp_compile: %s", e.msg);
        ut_defer(seccomp_put, compiled);
        assert_true(f->built->n_progs >= 1);
        assert_int_equal(compiled->n_progs, f->built->n_progs);
        for (unsigned int i = 0; i < compiled->n_progs; i++) {
                const struct sock_fprog *a = &compiled->progs[i], *b = &f->built->progs[i];

                if (a->len != b->len)
                        fail_msg("program %u: %u instructions compiled, %u embedded (stale "
                                 "seccomp-default.c?)",
                                 i, a->len, b->len);
                assert_true(a->len > 0);
                if (memcmp(a->filter, b->filter, a->len * sizeof(struct sock_filter)) != 0)
                        fail_msg("program %u differs from the policy (stale seccomp-default.c?)",
                                 i);
        }
}

/* ---- probes ---- */

/* A probe returns 0 when the call succeeded, else its errno. */
typedef int probe_fn(void);

#define SYSCALL_ERRNO(...) (syscall(__VA_ARGS__) < 0 ? errno : 0)

enum outcome_kind { EXITED, KILLED, BROKEN };

struct outcome {
        enum outcome_kind kind;
        int value; /* EXITED: the probe's errno (0 = success); KILLED: the signal */
};

/* Run @fn in a child, filtered or not, and say what happened. */
static struct outcome run_probe(probe_fn *fn, bool filtered)
{
        struct outcome o = { .kind = BROKEN };
        int p[2], status, res = -1;
        pid_t pid;

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT };
                struct rlimit no_core = { 0, 0 };
                struct cd_err e = { 0 };

                /* cmocka's handlers would resume the test runner in this child. */
                for (size_t i = 0; i < ELEMENTSOF(fatal); i++)
                        (void) signal(fatal[i], SIG_DFL);
                /* Deaths by SIGSYS are expected: no core files. */
                (void) setrlimit(RLIMIT_CORE, &no_core);
                (void) close(p[0]);
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                        _exit(100);
                if (trace_nr >= 0 && trace_load(trace_nr) < 0)
                        _exit(103);
                if (filtered &&
                    cd_seccomp_apply_child(probe_fx->added ? probe_fx->added : probe_fx->built,
                                           &e) < 0)
                        _exit(101);
                res = fn();
                if (write(p[1], &res, sizeof(res)) != sizeof(res))
                        _exit(102);
                _exit(0);
        }
        (void) close(p[1]);
        if (read(p[0], &res, sizeof(res)) != sizeof(res))
                res = -1;
        (void) close(p[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status)) {
                o.kind = KILLED;
                o.value = WTERMSIG(status);
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && res >= 0) {
                o.kind = EXITED;
                o.value = res;
        } else {
                o.value = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        return o;
}

static void expect_errno(const char *what, probe_fn *fn, int expected)
{
        struct outcome o = run_probe(fn, true);

        if (o.kind == KILLED)
                fail_msg("%s: killed by signal %d, expected %s", what, o.value,
                         expected ? strerrorname_np(expected) : "success");
        if (o.kind == BROKEN)
                fail_msg("%s: probe child broke (exit %d)", what, o.value);
        if (o.value != expected)
                fail_msg("%s: got %s (%d), expected %s", what,
                         o.value ? strerrorname_np(o.value) : "success", o.value,
                         expected ? strerrorname_np(expected) : "success");
}

/* The filter refuses @fn with @expected, and without the filter the kernel
 * answers differently (so the test measures the filter). */
static void expect_filtered(const char *what, probe_fn *fn, int expected)
{
        struct outcome o;

        expect_errno(what, fn, expected);
        o = run_probe(fn, false);
        if (o.kind == EXITED && o.value == expected)
                fail_msg("%s: unfiltered the kernel also says %s: the probe proves nothing", what,
                         strerrorname_np(expected));
}

static void expect_killed(const char *what, probe_fn *fn, int sig)
{
        struct outcome o = run_probe(fn, true);

        if (o.kind != KILLED || o.value != sig)
                fail_msg("%s: expected death by signal %d, got kind %d value %d", what, sig,
                         (int) o.kind, o.value);
}

/* Absolute path of @name in the fixture's scratch directory (static buffer). */
static const char *scratch(const char *name)
{
        static char path[4096];

        (void) snprintf(path, sizeof(path), "%s/%s", probe_fx->dir, name);
        return path;
}

static int probe_getpid(void)
{
        return syscall(SYS_getpid) > 0 ? 0 : EINVAL;
}

static int probe_pipe_read_write(void)
{
        int p[2];
        char c = 'x';

        if (syscall(SYS_pipe2, p, O_CLOEXEC) < 0)
                return errno;
        if (syscall(SYS_write, p[1], &c, 1) != 1 || syscall(SYS_read, p[0], &c, 1) != 1)
                return errno ? errno : EIO;
        return c == 'x' ? 0 : EIO;
}

static int probe_openat(void)
{
        long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return errno;
        (void) syscall(SYS_close, fd);
        return 0;
}

static void allows_basic_calls(void **state)
{
        (void) state;
        expect_errno("getpid", probe_getpid, 0);
        expect_errno("pipe2/read/write", probe_pipe_read_write, 0);
        expect_errno("openat", probe_openat, 0);
}

static int probe_mount(void)
{
        /* Unfiltered, the missing mountpoint gives ENOENT before any
         * permission check (do_mount() resolves the path first). */
        return SYSCALL_ERRNO(SYS_mount, "none", scratch("missing"), "tmpfs", 0UL, NULL);
}

static int probe_setns(void)
{
        return SYSCALL_ERRNO(SYS_setns, -1, 0); /* unfiltered: EBADF */
}

static int probe_unshare_user(void)
{
        return SYSCALL_ERRNO(SYS_unshare, CLONE_NEWUSER);
}

static int probe_unshare_bad_flags(void)
{
        return SYSCALL_ERRNO(SYS_unshare, 0x1UL); /* unfiltered: EINVAL */
}

static void refuses_mount_and_namespaces(void **state)
{
        (void) state;
        expect_filtered("mount", probe_mount, EPERM);
        expect_filtered("setns", probe_setns, EPERM);
        expect_filtered("unshare(0x1)", probe_unshare_bad_flags, EPERM);
        expect_errno("unshare(CLONE_NEWUSER)", probe_unshare_user, EPERM);
}

static int probe_keyctl(void)
{
        return SYSCALL_ERRNO(SYS_keyctl, 9999, 0, 0, 0, 0); /* unfiltered: EOPNOTSUPP */
}

static int probe_add_key(void)
{
        return SYSCALL_ERRNO(SYS_add_key, NULL, NULL, NULL, 0, 0); /* unfiltered: EFAULT */
}

static int probe_ptrace(void)
{
        /* No such pid (above PID_MAX_LIMIT): unfiltered ESRCH. */
        return SYSCALL_ERRNO(SYS_ptrace, 7 /* PTRACE_CONT */, 0x3fffffff, 0, 0);
}

static int probe_bpf(void)
{
        return SYSCALL_ERRNO(SYS_bpf, 9999, NULL, 0);
}

static int probe_io_uring_setup(void)
{
        return SYSCALL_ERRNO(SYS_io_uring_setup, 0, NULL);
}

static void refuses_kernel_attack_surface(void **state)
{
        (void) state;
        expect_filtered("keyctl", probe_keyctl, EPERM);
        expect_filtered("add_key", probe_add_key, EPERM);
        expect_filtered("ptrace", probe_ptrace, EPERM);
        expect_errno("bpf", probe_bpf, EPERM);
        expect_errno("io_uring_setup", probe_io_uring_setup, EPERM);
}

static int probe_clone3(void)
{
        return SYSCALL_ERRNO(SYS_clone3, NULL, 0); /* unfiltered: EINVAL */
}

static int probe_unknown_syscall(void)
{
        return SYSCALL_ERRNO(1000, 0, 0, 0);
}

static int probe_inotify_init1(void)
{
        long fd = syscall(SYS_inotify_init1, IN_CLOEXEC);

        if (fd < 0)
                return errno;
        (void) close((int) fd);
        return 0;
}

static int probe_inotify_add_watch(void)
{
        return SYSCALL_ERRNO(SYS_inotify_add_watch, -1, "/", IN_OPEN); /* unfiltered: EBADF */
}

/* dnotify on a directory: unfiltered it succeeds (and is undone). */
static int probe_dnotify(void)
{
        int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r, e;

        if (fd < 0)
                return errno;
        r = fcntl(fd, F_NOTIFY, DN_ACCESS | DN_MULTISHOT);
        e = errno;
        (void) close(fd);
        return r < 0 ? e : 0;
}

static void unknown_syscalls_get_enosys(void **state)
{
        (void) state;
        /* inotify would watch the shared host trees (another job's opens): left out. */
        expect_filtered("inotify_init1", probe_inotify_init1, ENOSYS);
        expect_filtered("inotify_add_watch", probe_inotify_add_watch, ENOSYS);
        /* Nor dnotify, the same watch by fcntl: as on a kernel without it. */
        expect_filtered("fcntl F_NOTIFY", probe_dnotify, EINVAL);
        /* clone3 hides its flags behind a pointer: ENOSYS makes glibc fall back to clone. */
        expect_filtered("clone3", probe_clone3, ENOSYS);
        /* ENOSYS, not a kill: programs probe for new calls and fall back. */
        expect_errno("syscall 1000", probe_unknown_syscall, ENOSYS);
}

/* clone(2) via syscall(2): in the child, return at once. */
static int raw_clone(unsigned long flags)
{
        long pid = syscall(SYS_clone, flags, 0UL, 0UL, 0UL, 0UL);
        int status;

        if (pid < 0)
                return errno;
        if (pid == 0)
                _exit(0);
        if (waitpid((pid_t) pid, &status, 0) != pid || !WIFEXITED(status))
                return ECHILD;
        return 0;
}

static int probe_clone_newuser(void)
{
        return raw_clone(CLONE_NEWUSER | SIGCHLD);
}

static int probe_clone_newns(void)
{
        return raw_clone(CLONE_NEWNS | SIGCHLD);
}

static int probe_clone_newnet(void)
{
        return raw_clone(CLONE_NEWNET | SIGCHLD);
}

static int probe_clone_plain(void)
{
        return raw_clone(SIGCHLD);
}

static int probe_fork(void)
{
        pid_t pid = fork();
        int status;

        if (pid < 0)
                return errno;
        if (pid == 0)
                _exit(0);
        return waitpid(pid, &status, 0) == pid && WIFEXITED(status) ? 0 : ECHILD;
}

static void *thread_main(void *arg)
{
        return arg;
}

static int probe_thread(void)
{
        pthread_t t;
        void *ret = NULL;
        int r = pthread_create(&t, NULL, thread_main, (void *) 0x1234);

        if (r != 0)
                return r;
        if (pthread_join(t, &ret) != 0 || ret != (void *) 0x1234)
                return EIO;
        return 0;
}

static void clone_without_namespaces_only(void **state)
{
        (void) state;
        expect_errno("clone(CLONE_NEWUSER)", probe_clone_newuser, EPERM);
        expect_errno("clone(CLONE_NEWNS)", probe_clone_newns, EPERM);
        expect_errno("clone(CLONE_NEWNET)", probe_clone_newnet, EPERM);
        expect_errno("clone(SIGCHLD)", probe_clone_plain, 0);
        expect_errno("fork", probe_fork, 0);
        /* glibc tries clone3 first and falls back on ENOSYS. */
        expect_errno("pthread_create", probe_thread, 0);
}

static int ioctl_on_pipe(unsigned long request)
{
        int p[2];
        char c = 'x';
        int r;

        if (syscall(SYS_pipe2, p, O_CLOEXEC) < 0)
                return errno;
        /* A pipe, never a terminal: unfiltered, TIOCSTI is just ENOTTY. */
        r = SYSCALL_ERRNO(SYS_ioctl, p[0], request, &c);
        (void) syscall(SYS_close, p[0]);
        (void) syscall(SYS_close, p[1]);
        return r;
}

static int probe_tiocsti(void)
{
        return ioctl_on_pipe(TIOCSTI);
}

static int probe_tiocsti_high_bits(void)
{
        /* The kernel looks at the low 32 bits only (the request is an
         * unsigned int there), so the filter must too. */
        return ioctl_on_pipe(0xdeadbeef00000000UL | TIOCSTI);
}

static int probe_tioclinux(void)
{
        return ioctl_on_pipe(TIOCLINUX);
}

static int probe_fionread(void)
{
        int p[2], n = -1;
        char c = 'x';

        if (syscall(SYS_pipe2, p, O_CLOEXEC) < 0)
                return errno;
        if (syscall(SYS_write, p[1], &c, 1) != 1)
                return errno;
        if (syscall(SYS_ioctl, p[0], FIONREAD, &n) < 0)
                return errno;
        return n == 1 ? 0 : EIO;
}

static void ioctl_tiocsti_refused_on_low_32_bits(void **state)
{
        (void) state;
        expect_filtered("ioctl(TIOCSTI)", probe_tiocsti, EPERM);
        expect_filtered("ioctl(0xdeadbeef00005412)", probe_tiocsti_high_bits, EPERM);
        expect_filtered("ioctl(TIOCLINUX)", probe_tioclinux, EPERM);
        expect_errno("ioctl(FIONREAD)", probe_fionread, 0);
}

/* ---- host file systems and the shared page cache ---- */

/* @request on /usr/bin/sh, a file of the shared read-only host trees
 * (ext4 on the machines this runs on, which answers each of them). */
static int host_file_ioctl(unsigned long request, void *arg)
{
        long fd = syscall(SYS_openat, AT_FDCWD, "/usr/bin/sh", O_RDONLY | O_CLOEXEC);
        int r;

        if (fd < 0)
                return errno;
        r = SYSCALL_ERRNO(SYS_ioctl, fd, request, arg);
        (void) syscall(SYS_close, fd);
        return r;
}

static int probe_getfsmap(void)
{
        struct fsmap_head h;

        /* No records asked for, over every key: the count of the whole disk's map. */
        memset(&h, 0, sizeof(h));
        h.fmh_keys[1].fmr_device = UINT32_MAX;
        h.fmh_keys[1].fmr_physical = UINT64_MAX;
        h.fmh_keys[1].fmr_owner = UINT64_MAX;
        h.fmh_keys[1].fmr_offset = UINT64_MAX;
        return host_file_ioctl(FS_IOC_GETFSMAP, &h);
}

static int probe_fiemap(void)
{
        struct fiemap fm;

        memset(&fm, 0, sizeof(fm));
        fm.fm_length = FIEMAP_MAX_OFFSET;
        return host_file_ioctl(FS_IOC_FIEMAP, &fm);
}

/* ext4's FIEMAP over its extent status cache: the same physical extents. */
static int probe_ext4_get_es_cache(void)
{
        struct fiemap fm;

        memset(&fm, 0, sizeof(fm));
        fm.fm_length = FIEMAP_MAX_OFFSET;
        return host_file_ioctl(_IOWR('f', 42, struct fiemap), &fm);
}

static int probe_getfslabel(void)
{
        char label[FSLABEL_MAX];

        return host_file_ioctl(FS_IOC_GETFSLABEL, label);
}

static int probe_getfsuuid(void)
{
        unsigned char u[17] = { 0 }; /* struct fsuuid2: len, uuid[16] */

        return host_file_ioctl(_IOR(0x15, 0, unsigned char[17]), u);
}

static int probe_getfssysfspath(void)
{
        unsigned char p[129] = { 0 }; /* struct fs_sysfs_path: len, name[128] */

        return host_file_ioctl(_IOR(0x15, 1, unsigned char[129]), p);
}

static int probe_ext4_getfsuuid(void)
{
        uint32_t u[2 + 4] = { 0 }; /* struct fsuuid: len 0 asks for the length */

        return host_file_ioctl(_IOR('f', 44, uint32_t[2]), u);
}

static void ioctl_host_file_system_refused(void **state)
{
        (void) state;
        expect_filtered("ioctl(FS_IOC_GETFSMAP)", probe_getfsmap, ENOTTY);
        expect_filtered("ioctl(FS_IOC_FIEMAP)", probe_fiemap, EOPNOTSUPP);
        expect_filtered("ioctl(EXT4_IOC_GET_ES_CACHE)", probe_ext4_get_es_cache, EOPNOTSUPP);
        expect_filtered("ioctl(FS_IOC_GETFSLABEL)", probe_getfslabel, ENOTTY);
        expect_filtered("ioctl(FS_IOC_GETFSUUID)", probe_getfsuuid, ENOTTY);
        expect_filtered("ioctl(FS_IOC_GETFSSYSFSPATH)", probe_getfssysfspath, ENOTTY);
        expect_filtered("ioctl(EXT4_IOC_GETFSUUID)", probe_ext4_getfsuuid, ENOTTY);
}

/* A scratch file just written, so its page is cached. */
static int cached_file(void)
{
        long fd = syscall(SYS_openat, AT_FDCWD, scratch("cached"),
                          O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        if (fd < 0)
                return -errno;
        if (syscall(SYS_write, fd, "cached", 6) != 6) {
                (void) syscall(SYS_close, fd);
                return -EIO;
        }
        return (int) fd;
}

static int preadv2_flags(int flags)
{
        char buf[6];
        struct iovec iov = { buf, sizeof(buf) };
        int fd = cached_file(), r;

        if (fd < 0)
                return -fd;
        /* preadv2(fd, iov, count, pos_low, pos_high, flags): flags are argument 5. */
        r = SYSCALL_ERRNO(SYS_preadv2, fd, &iov, 1, 0, 0, flags);
        (void) syscall(SYS_close, fd);
        return r;
}

static int probe_preadv2_nowait(void)
{
        return preadv2_flags(RWF_NOWAIT);
}

static int probe_preadv2_nowait_hipri(void)
{
        return preadv2_flags(RWF_NOWAIT | RWF_HIPRI);
}

static int probe_preadv2_plain(void)
{
        return preadv2_flags(0);
}

/* On a closed fd: run, it says EBADF; answered without running, 0. */
static int probe_fadvise_dontneed(void)
{
        return SYSCALL_ERRNO(SYS_fadvise64, 999, 0, 0, POSIX_FADV_DONTNEED);
}

static int probe_fadvise_willneed(void)
{
        return SYSCALL_ERRNO(SYS_fadvise64, 999, 0, 0, POSIX_FADV_WILLNEED);
}

static int madvise_anon(int advice)
{
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int r;

        if (p == MAP_FAILED)
                return errno;
        r = SYSCALL_ERRNO(SYS_madvise, p, 4096, advice);
        (void) munmap(p, 4096);
        return r;
}

static int probe_madvise_mergeable(void)
{
        return madvise_anon(MADV_MERGEABLE);
}

/* Asked to turn merging off, which the kernel does at once when it was not
 * on: the filter refuses the option whatever its argument. Turning it on
 * and off again in the unfiltered child walks every page of the process to
 * unmerge, which under ASan's shadow (terabytes of address space) takes
 * minutes. The escape probe ksm-merge turns it on in a sandbox. */
static int probe_prctl_memory_merge(void)
{
        return SYSCALL_ERRNO(SYS_prctl, 67 /* PR_SET_MEMORY_MERGE */, 0, 0, 0, 0);
}

static int probe_prctl_memory_merge_high_bits(void)
{
        return SYSCALL_ERRNO(SYS_prctl, 67 | (1UL << 32), 0, 0, 0, 0);
}

static int probe_madvise_hugepage(void)
{
        return madvise_anon(MADV_HUGEPAGE);
}

static void page_cache_probes_refused(void **state)
{
        (void) state;
        expect_filtered("preadv2(RWF_NOWAIT)", probe_preadv2_nowait, EOPNOTSUPP);
        expect_filtered("preadv2(RWF_NOWAIT | RWF_HIPRI)", probe_preadv2_nowait_hipri, EOPNOTSUPP);
        expect_errno("preadv2(0)", probe_preadv2_plain, 0);
        expect_filtered("fadvise64(DONTNEED) is not run", probe_fadvise_dontneed, 0);
        expect_errno("fadvise64(WILLNEED) runs", probe_fadvise_willneed, EBADF);
        expect_filtered("madvise(MADV_MERGEABLE)", probe_madvise_mergeable, EINVAL);
        expect_filtered("prctl(PR_SET_MEMORY_MERGE)", probe_prctl_memory_merge, EINVAL);
        expect_filtered("prctl(PR_SET_MEMORY_MERGE) with high bits",
                        probe_prctl_memory_merge_high_bits, EINVAL);
        expect_errno("madvise(MADV_HUGEPAGE)", probe_madvise_hugepage, 0);
}

/* An allow-all program: harmless in the probe's child. */
static struct sock_fprog allow_all(void)
{
        static struct sock_filter insn[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };

        return (struct sock_fprog){ .len = 1, .filter = insn };
}

static int probe_own_filter(void)
{
        struct sock_fprog prog = allow_all();

        return SYSCALL_ERRNO(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static int probe_own_filter_high_bits(void)
{
        struct sock_fprog prog = allow_all();

        return SYSCALL_ERRNO(SYS_seccomp, SECCOMP_SET_MODE_FILTER | (1UL << 32), 0, &prog);
}

static int probe_own_filter_prctl(void)
{
        struct sock_fprog prog = allow_all();

        return SYSCALL_ERRNO(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

/* Strict mode with flags the kernel refuses (EINVAL unfiltered): entering
 * it for real would end the child with a kill the kernel logs. */
static int probe_strict_mode(void)
{
        return SYSCALL_ERRNO(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 1, NULL);
}

static int probe_action_avail(void)
{
        uint32_t action = SECCOMP_RET_LOG;

        return SYSCALL_ERRNO(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action);
}

static int probe_get_seccomp(void)
{
        return SYSCALL_ERRNO(SYS_prctl, PR_GET_SECCOMP, 0, 0, 0, 0);
}

/* A filter of the job's own could log its data to the host (SECCOMP_RET_LOG
 * and kills are logged with the job's process name and path). */
static void own_filters_are_refused(void **state)
{
        struct fixture *f = *state;
        struct cd_seccomp *with = NULL;
        struct cd_err e = { 0 };

        expect_filtered("seccomp(SET_MODE_FILTER)", probe_own_filter, EPERM);
        expect_filtered("seccomp(SET_MODE_FILTER) with high bits", probe_own_filter_high_bits,
                        EPERM);
        expect_filtered("prctl(PR_SET_SECCOMP, FILTER)", probe_own_filter_prctl, EPERM);
        expect_filtered("seccomp(SET_MODE_STRICT)", probe_strict_mode, EPERM);
        expect_errno("seccomp(GET_ACTION_AVAIL)", probe_action_avail, 0);
        expect_errno("prctl(PR_GET_SECCOMP)", probe_get_seccomp, 0);
        /* The named addition "seccomp" lifts the refusal. */
        if (cd_seccomp_compile((char *[]){ "seccomp", NULL }, &with, &e) < 0)
                fail_msg("cd_seccomp_compile with seccomp: %s", e.msg);
        ut_defer(seccomp_put, with);
        f->added = with;
        expect_errno("seccomp(SET_MODE_FILTER), added", probe_own_filter, 0);
        expect_errno("prctl(PR_SET_SECCOMP, FILTER), added", probe_own_filter_prctl, 0);
        f->added = NULL;
}

static int probe_personality_query(void)
{
        return SYSCALL_ERRNO(SYS_personality, 0xffffffffUL);
}

static int probe_personality_set(void)
{
        return SYSCALL_ERRNO(SYS_personality, 0UL); /* unfiltered: succeeds */
}

static int probe_personality_addr_no_randomize(void)
{
        return SYSCALL_ERRNO(SYS_personality, 0x0040000UL); /* ADDR_NO_RANDOMIZE */
}

static void personality_query_only(void **state)
{
        (void) state;
        expect_errno("personality(0xffffffff)", probe_personality_query, 0);
        expect_filtered("personality(0)", probe_personality_set, EPERM);
        expect_filtered("personality(ADDR_NO_RANDOMIZE)", probe_personality_addr_no_randomize,
                        EPERM);
}

static int socket_probe(int family, int type, int protocol)
{
        long fd = syscall(SYS_socket, family, type | SOCK_CLOEXEC, protocol);

        if (fd < 0)
                return errno;
        (void) syscall(SYS_close, fd);
        return 0;
}

static int probe_socket_packet(void)
{
        return socket_probe(AF_PACKET, SOCK_RAW, 0);
}

static int probe_socket_high_family(void)
{
        return socket_probe(AF_PACKET + 20, SOCK_STREAM, 0);
}

static int probe_socket_inet_raw(void)
{
        return socket_probe(AF_INET, SOCK_RAW, IPPROTO_ICMP);
}

static int probe_socket_inet6_raw(void)
{
        return socket_probe(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
}

static int probe_socket_inet_stream(void)
{
        return socket_probe(AF_INET, SOCK_STREAM, 0);
}

static int probe_socket_inet6_dgram(void)
{
        return socket_probe(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
}

static int probe_socket_unix(void)
{
        return socket_probe(AF_UNIX, SOCK_STREAM, 0);
}

static int probe_socket_netlink_route(void)
{
        return socket_probe(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
}

static int probe_socket_netlink_audit(void)
{
        return socket_probe(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
}

static int probe_socket_tcp(void)
{
        return socket_probe(AF_INET, SOCK_STREAM, IPPROTO_TCP);
}

static int probe_socket_udp6(void)
{
        return socket_probe(AF_INET6, SOCK_DGRAM, IPPROTO_UDP);
}

static int probe_socket_mptcp(void)
{
        return socket_probe(AF_INET, SOCK_STREAM, 262 /* IPPROTO_MPTCP */);
}

static int probe_socket_sctp6(void)
{
        return socket_probe(AF_INET6, SOCK_STREAM, IPPROTO_SCTP);
}

static int probe_socket_udplite(void)
{
        return socket_probe(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
}

static int probe_socket_icmp_dgram(void)
{
        return socket_probe(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
}

static int socketpair_probe(int family, int type)
{
        int sv[2] = { -1, -1 };
        int r = SYSCALL_ERRNO(SYS_socketpair, family, type | SOCK_CLOEXEC, 0, sv);

        if (r == 0) {
                (void) syscall(SYS_close, sv[0]);
                (void) syscall(SYS_close, sv[1]);
        }
        return r;
}

static int probe_socketpair_unix(void)
{
        return socketpair_probe(AF_UNIX, SOCK_STREAM);
}

static int probe_socketpair_tipc(void)
{
        return socketpair_probe(30 /* AF_TIPC */, SOCK_SEQPACKET);
}

static int probe_socketpair_netlink(void)
{
        return socketpair_probe(AF_NETLINK, SOCK_RAW);
}

static int probe_socketpair_unspec(void)
{
        return socketpair_probe(AF_UNSPEC, SOCK_STREAM);
}

static int probe_setrlimit_core(void)
{
        struct rlimit zero = { 0, 0 };

        return SYSCALL_ERRNO(SYS_setrlimit, RLIMIT_CORE, &zero);
}

static int probe_prlimit_core_set(void)
{
        struct rlimit zero = { 0, 0 };

        return SYSCALL_ERRNO(SYS_prlimit64, 0, RLIMIT_CORE, &zero, NULL);
}

/* The kernel takes the resource as an unsigned int and drops the high
 * bits: RLIMIT_CORE with bit 32 set is still RLIMIT_CORE. */
#define HIGH_BITS (1ULL << 32)

static int probe_setrlimit_core_high_bits(void)
{
        struct rlimit zero = { 0, 0 };

        return SYSCALL_ERRNO(SYS_setrlimit, HIGH_BITS | RLIMIT_CORE, &zero);
}

static int probe_prlimit_core_set_high_bits(void)
{
        struct rlimit zero = { 0, 0 };

        return SYSCALL_ERRNO(SYS_prlimit64, 0, HIGH_BITS | RLIMIT_CORE, &zero, NULL);
}

static int probe_prlimit_core_get(void)
{
        struct rlimit old;

        return SYSCALL_ERRNO(SYS_prlimit64, 0, RLIMIT_CORE, NULL, &old);
}

static int probe_setrlimit_nofile(void)
{
        struct rlimit cur;

        if (getrlimit(RLIMIT_NOFILE, &cur) < 0)
                return -1;
        cur.rlim_cur = cur.rlim_cur > 64 ? cur.rlim_cur - 1 : cur.rlim_cur;
        return SYSCALL_ERRNO(SYS_setrlimit, RLIMIT_NOFILE, &cur);
}

static int probe_prlimit_nofile_set(void)
{
        struct rlimit cur;

        if (getrlimit(RLIMIT_NOFILE, &cur) < 0)
                return -1;
        return SYSCALL_ERRNO(SYS_prlimit64, 0, RLIMIT_NOFILE, &cur, NULL);
}

/* A job sets its own limits, but never RLIMIT_CORE (1 under a pipe
 * core_pattern, which 0 would undo); reading it is fine. */
static void rlimits_but_core(void **state)
{
        (void) state;
        expect_errno("setrlimit(RLIMIT_CORE)", probe_setrlimit_core, EPERM);
        expect_errno("prlimit64(0, RLIMIT_CORE, new)", probe_prlimit_core_set, EPERM);
        expect_filtered("setrlimit(RLIMIT_CORE | 1 << 32)", probe_setrlimit_core_high_bits, EPERM);
        expect_filtered("prlimit64(0, RLIMIT_CORE | 1 << 32, new)",
                        probe_prlimit_core_set_high_bits, EPERM);
        expect_errno("prlimit64(0, RLIMIT_CORE, NULL, old)", probe_prlimit_core_get, 0);
        expect_errno("setrlimit(RLIMIT_NOFILE)", probe_setrlimit_nofile, 0);
        expect_errno("prlimit64(0, RLIMIT_NOFILE, new)", probe_prlimit_nofile_set, 0);
}

#if defined(__x86_64__)
static int probe_fchmodat2(void)
{
        return SYSCALL_ERRNO(452 /* fchmodat2 */, AT_FDCWD, "/nonexistent/cordon", 0644, 0);
}

static int probe_cachestat(void)
{
        return SYSCALL_ERRNO(451 /* cachestat */, -1, NULL, NULL, 0);
}

static int probe_memfd_secret(void)
{
        return SYSCALL_ERRNO(447 /* memfd_secret */, 0);
}
#endif

/* Calls newer than some libseccomps' tables are allowed by number: the
 * kernel answers them (ENOENT, EBADF), not the filter's ENOSYS. */
static void newer_calls_by_number(void **state)
{
        (void) state;
#if defined(__x86_64__)
        /* Only where the kernel has them (6.5, 6.6). */
        if (run_probe(probe_fchmodat2, false).value != ENOSYS)
                expect_errno("fchmodat2", probe_fchmodat2, ENOENT);
        else
                printf("# fchmodat2: not in this kernel\n");
        /* Not cachestat: a page cache side channel on older kernels. */
        expect_errno("cachestat", probe_cachestat, ENOSYS);
        /* Not memfd_secret: it splits the host's direct map. */
        expect_errno("memfd_secret", probe_memfd_secret, ENOSYS);
#endif
}

/* IPv4/6 take TCP and UDP only (protocol 0 or named); the protocols whose
 * modules the kernel would load on request are refused, and socketpair(2)
 * is for AF_UNIX only. */
static void sockets_by_protocol(void **state)
{
        (void) state;
        expect_errno("socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)", probe_socket_tcp, 0);
        expect_errno("socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDP)", probe_socket_udp6, 0);
        expect_errno("socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP)", probe_socket_mptcp,
                     EPROTONOSUPPORT);
        expect_errno("socket(AF_INET6, SOCK_STREAM, IPPROTO_SCTP)", probe_socket_sctp6,
                     EPROTONOSUPPORT);
        expect_errno("socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE)", probe_socket_udplite,
                     EPROTONOSUPPORT);
        expect_errno("socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)", probe_socket_icmp_dgram, ENOSYS);
        expect_errno("socketpair(AF_UNIX)", probe_socketpair_unix, 0);
        expect_errno("socketpair(AF_TIPC)", probe_socketpair_tipc, EAFNOSUPPORT);
        expect_errno("socketpair(AF_NETLINK)", probe_socketpair_netlink, EAFNOSUPPORT);
        expect_errno("socketpair(AF_UNSPEC)", probe_socketpair_unspec, EAFNOSUPPORT);
}

static void sockets_by_family_and_type(void **state)
{
        struct outcome o;

        (void) state;
        expect_errno("socket(AF_PACKET)", probe_socket_packet, EAFNOSUPPORT);
        expect_errno("socket(AF_PACKET+20)", probe_socket_high_family, EAFNOSUPPORT);
        expect_errno("socket(AF_INET, SOCK_RAW)", probe_socket_inet_raw, EPERM);
        expect_errno("socket(AF_INET6, SOCK_RAW)", probe_socket_inet6_raw, EPERM);
        expect_errno("socket(AF_INET, SOCK_STREAM)", probe_socket_inet_stream, 0);
        expect_errno("socket(AF_INET6, SOCK_DGRAM)", probe_socket_inet6_dgram, 0);
        expect_errno("socket(AF_UNIX)", probe_socket_unix, 0);
        /* Unread replies in a netlink socket's queue are charged to no
         * memory cgroup: no netlink family at all. */
        expect_filtered("socket(AF_NETLINK, NETLINK_ROUTE)", probe_socket_netlink_route,
                        EAFNOSUPPORT);
        o = run_probe(probe_socket_netlink_audit, true);
        assert_int_equal(o.kind, EXITED);
        assert_int_equal(o.value, EAFNOSUPPORT);
}

/* On a closed fd: run, it says EBADF; answered without running, 0. */
static int probe_recverr_unrun(void)
{
        int one = 1;

        return SYSCALL_ERRNO(SYS_setsockopt, 999, SOL_IP, IP_RECVERR, &one, sizeof(one));
}

static int probe_recverr_high_bits_unrun(void)
{
        int one = 1;

        return SYSCALL_ERRNO(SYS_setsockopt, 999, SOL_IP | (1UL << 32), IP_RECVERR | (1UL << 32),
                             &one, sizeof(one));
}

static int probe_ipv6_recverr_unrun(void)
{
        int one = 1;

        return SYSCALL_ERRNO(SYS_setsockopt, 999, SOL_IPV6, IPV6_RECVERR, &one, sizeof(one));
}

static int udp_setsockopt(int level, int name, int value)
{
        long fd = syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int r;

        if (fd < 0)
                return errno;
        r = SYSCALL_ERRNO(SYS_setsockopt, fd, level, name, &value, sizeof(value));
        (void) syscall(SYS_close, fd);
        return r;
}

static int probe_timestamping_old(void)
{
        return udp_setsockopt(SOL_SOCKET, 37 /* SO_TIMESTAMPING_OLD */, 1 /* TX_HARDWARE */);
}

static int probe_timestamping_new(void)
{
        return udp_setsockopt(SOL_SOCKET, 65 /* SO_TIMESTAMPING_NEW */, 1 /* TX_HARDWARE */);
}

/* IPV6_FLOWLABEL_MGR (32) on a fresh IPv6 socket: ask for a new label. */
static int probe_flowlabel_mgr(void)
{
        struct in6_flowlabel_req req = {
                .flr_dst = IN6ADDR_LOOPBACK_INIT,
                .flr_action = IPV6_FL_A_GET,
                .flr_share = IPV6_FL_S_EXCL,
                .flr_flags = IPV6_FL_F_CREATE,
        };
        long fd = syscall(SYS_socket, AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int r;

        if (fd < 0)
                return errno;
        r = SYSCALL_ERRNO(SYS_setsockopt, fd, SOL_IPV6 | (1UL << 32), 32 | (1UL << 32), &req,
                          sizeof(req));
        (void) syscall(SYS_close, fd);
        return r;
}

static int probe_reuseaddr(void)
{
        return udp_setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
}

static void socket_error_queues_stay_empty(void **state)
{
        (void) state;
        /* What fills an error queue (ICMP errors, copies of sent packets),
         * in memory no memory cgroup is charged for. */
        expect_filtered("setsockopt(IP_RECVERR) is not run", probe_recverr_unrun, 0);
        expect_filtered("setsockopt(IP_RECVERR) with high bits is not run",
                        probe_recverr_high_bits_unrun, 0);
        expect_filtered("setsockopt(IPV6_RECVERR) is not run", probe_ipv6_recverr_unrun, 0);
        expect_filtered("setsockopt(SO_TIMESTAMPING_OLD)", probe_timestamping_old, ENOPROTOOPT);
        expect_filtered("setsockopt(SO_TIMESTAMPING_NEW)", probe_timestamping_new, ENOPROTOOPT);
        expect_errno("setsockopt(SO_REUSEADDR)", probe_reuseaddr, 0);
}

/* On a closed fd: run, the kernel says EBADF. */
static int closed_fd_setsockopt(unsigned long level, unsigned long name)
{
        char opt[256] = { 0 };

        return SYSCALL_ERRNO(SYS_setsockopt, 999, level, name, opt, sizeof(opt));
}

static int probe_tcp_md5sig(void)
{
        return closed_fd_setsockopt(IPPROTO_TCP, 14 /* TCP_MD5SIG */);
}

static int probe_tcp_md5sig_ext(void)
{
        return closed_fd_setsockopt(IPPROTO_TCP | (1UL << 32), 32 /* TCP_MD5SIG_EXT */);
}

static int probe_tcp_ao_add_key(void)
{
        return closed_fd_setsockopt(IPPROTO_TCP, 38 /* TCP_AO_ADD_KEY */);
}

static int probe_tcp_ao_info(void)
{
        return closed_fd_setsockopt(IPPROTO_TCP, 40 /* TCP_AO_INFO */);
}

static int probe_ip_add_membership(void)
{
        return closed_fd_setsockopt(SOL_IP, IP_ADD_MEMBERSHIP);
}

static int probe_ip_mcast_join_group(void)
{
        return closed_fd_setsockopt(SOL_IP, MCAST_JOIN_GROUP | (1UL << 32));
}

static int probe_ip_mcast_join_source_group(void)
{
        return closed_fd_setsockopt(SOL_IP, MCAST_JOIN_SOURCE_GROUP);
}

static int probe_ipv6_add_membership(void)
{
        return closed_fd_setsockopt(SOL_IPV6, IPV6_ADD_MEMBERSHIP);
}

static int probe_ipv6_mcast_join_group(void)
{
        return closed_fd_setsockopt(SOL_IPV6, MCAST_JOIN_GROUP);
}

static int probe_ip_options(void)
{
        return closed_fd_setsockopt(SOL_IP, IP_OPTIONS);
}

static void uncharged_socket_options_refused(void **state)
{
        (void) state;
        /* One table for the whole host; the high bits are the kernel's to
         * ignore, so the filter must too. */
        expect_filtered("setsockopt(IPV6_FLOWLABEL_MGR)", probe_flowlabel_mgr, ENOPROTOOPT);
        /* Kernel memory of the socket's option allowance, charged to no
         * memory cgroup. */
        expect_filtered("setsockopt(TCP_MD5SIG)", probe_tcp_md5sig, ENOPROTOOPT);
        expect_filtered("setsockopt(TCP_MD5SIG_EXT) with high bits", probe_tcp_md5sig_ext,
                        ENOPROTOOPT);
        expect_filtered("setsockopt(TCP_AO_ADD_KEY)", probe_tcp_ao_add_key, ENOPROTOOPT);
        expect_filtered("setsockopt(TCP_AO_INFO)", probe_tcp_ao_info, ENOPROTOOPT);
        expect_filtered("setsockopt(IP_ADD_MEMBERSHIP)", probe_ip_add_membership, ENODEV);
        expect_filtered("setsockopt(SOL_IP, MCAST_JOIN_GROUP) with high bits",
                        probe_ip_mcast_join_group, ENODEV);
        expect_filtered("setsockopt(SOL_IP, MCAST_JOIN_SOURCE_GROUP)",
                        probe_ip_mcast_join_source_group, ENODEV);
        expect_filtered("setsockopt(IPV6_ADD_MEMBERSHIP)", probe_ipv6_add_membership, ENODEV);
        expect_filtered("setsockopt(SOL_IPV6, MCAST_JOIN_GROUP)", probe_ipv6_mcast_join_group,
                        ENODEV);
        /* A fixed 40 bytes a socket, left to the allowance's bound. */
        expect_errno("setsockopt(IP_OPTIONS) runs", probe_ip_options, EBADF);
}

static int probe_prlimit_parent(void)
{
        struct rlimit rl;

        return SYSCALL_ERRNO(SYS_prlimit64, getppid(), RLIMIT_NOFILE, NULL, &rl);
}

static int probe_prlimit_self(void)
{
        struct rlimit rl;

        return SYSCALL_ERRNO(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl);
}

static int probe_getrlimit(void)
{
        struct rlimit rl;

        return getrlimit(RLIMIT_NOFILE, &rl) < 0 ? errno : 0;
}

static void prlimit_on_self_only(void **state)
{
        (void) state;
        /* The parent runs as the same user: unfiltered this succeeds. */
        expect_filtered("prlimit64(parent)", probe_prlimit_parent, EPERM);
        expect_errno("prlimit64(0)", probe_prlimit_self, 0);
        expect_errno("getrlimit", probe_getrlimit, 0);
}

static int probe_mknodat_chr(void)
{
        return SYSCALL_ERRNO(SYS_mknodat, AT_FDCWD, scratch("null"), S_IFCHR | 0600, makedev(1, 3));
}

static int probe_mknodat_blk(void)
{
        return SYSCALL_ERRNO(SYS_mknodat, AT_FDCWD, scratch("blk"), S_IFBLK | 0600, makedev(7, 0));
}

static int probe_mknodat_fifo(void)
{
        return SYSCALL_ERRNO(SYS_mknodat, AT_FDCWD, scratch("fifo"), S_IFIFO | 0600, 0);
}

static int probe_mkfifo(void)
{
        return mkfifo(scratch("fifo2"), 0600) < 0 ? errno : 0;
}

static int probe_mknodat_reg(void)
{
        return SYSCALL_ERRNO(SYS_mknodat, AT_FDCWD, scratch("reg"), S_IFREG | 0600, 0);
}

#ifdef __x86_64__
static int probe_mknod_chr(void)
{
        return SYSCALL_ERRNO(SYS_mknod, scratch("null2"), S_IFCHR | 0600, makedev(1, 3));
}
#endif

static void mknod_no_devices(void **state)
{
        struct fixture *f = *state;
        struct stat st;

        expect_errno("mknodat(S_IFCHR)", probe_mknodat_chr, EPERM);
        expect_errno("mknodat(S_IFBLK)", probe_mknodat_blk, EPERM);
#ifdef __x86_64__
        expect_errno("mknod(S_IFCHR)", probe_mknod_chr, EPERM);
#endif
        expect_errno("mknodat(S_IFIFO)", probe_mknodat_fifo, 0);
        expect_errno("mkfifo", probe_mkfifo, 0);
        expect_errno("mknodat(S_IFREG)", probe_mknodat_reg, 0);
        assert_int_equal(stat(scratch("fifo"), &st), 0);
        assert_true(S_ISFIFO(st.st_mode));
        assert_int_equal(stat(scratch("fifo2"), &st), 0);
        assert_true(S_ISFIFO(st.st_mode));
        assert_int_equal(stat(scratch("reg"), &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(stat(scratch("null"), &st), -1);
        (void) f;
}

/* Call @nr, asked about by TRACED(): 0 means cordon's ERRNO(0) answered,
 * ENOSYS that the call would have run. Nothing is flushed either way. */
static int trace_only6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
        if (trace_nr != nr)
                return 999; /* not asked for: not an answer the checks expect */
        return syscall(nr, a0, a1, a2, a3, a4, a5) < 0 ? errno : 0;
}

static int trace_only(long nr, long a0, long a1, long a2)
{
        return trace_only6(nr, a0, a1, a2, 0, 0, 0);
}

static int probe_fsync(void)
{
        return trace_only(SYS_fsync, 0, 0, 0);
}

static int probe_fdatasync(void)
{
        return trace_only(SYS_fdatasync, 0, 0, 0);
}

static int probe_sync(void)
{
        return trace_only(SYS_sync, 0, 0, 0);
}

static int probe_syncfs(void)
{
        return trace_only(SYS_syncfs, 0, 0, 0);
}

static int probe_sync_file_range(void)
{
        return trace_only(SYS_sync_file_range, 0, 0, 0);
}

static int probe_msync(int flags)
{
        static char page[4096] __attribute__((aligned(4096)));

        return trace_only(SYS_msync, (long) page, sizeof(page), flags);
}

static int probe_msync_sync(void)
{
        return probe_msync(MS_SYNC);
}

static int probe_msync_sync_invalidate(void)
{
        return probe_msync(MS_SYNC | MS_INVALIDATE);
}

static int probe_msync_async(void)
{
        return probe_msync(MS_ASYNC);
}

/* Flushes reach the host's disks, never the job's tmpfs: answered 0 unrun. */
static void flushes_are_answered_unrun(void **state)
{
        (void) state;
        TRACED(SYS_fsync, expect_filtered("fsync", probe_fsync, 0));
        TRACED(SYS_fdatasync, expect_filtered("fdatasync", probe_fdatasync, 0));
        TRACED(SYS_sync, expect_filtered("sync", probe_sync, 0));
        TRACED(SYS_syncfs, expect_filtered("syncfs", probe_syncfs, 0));
        TRACED(SYS_sync_file_range, expect_filtered("sync_file_range", probe_sync_file_range, 0));
        TRACED(SYS_msync, expect_filtered("msync(MS_SYNC)", probe_msync_sync, 0));
        TRACED(SYS_msync,
               expect_filtered("msync(MS_SYNC|MS_INVALIDATE)", probe_msync_sync_invalidate, 0));
        /* The rest of msync runs (and still says ENOMEM for unmapped memory). */
        TRACED(SYS_msync, expect_errno("msync(MS_ASYNC)", probe_msync_async, ENOSYS));
}

static int probe_mmap_flags(long flags)
{
        return trace_only6(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, flags, -1, 0);
}

static int probe_mmap_hugetlb(void)
{
        return probe_mmap_flags(MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
}

static int probe_mmap_hugetlb_2m(void)
{
        /* The page size sits in the high bits (MAP_HUGE_SHIFT). */
        return probe_mmap_flags(MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | (21 << 26));
}

static int probe_mmap_plain(void)
{
        return probe_mmap_flags(MAP_PRIVATE | MAP_ANONYMOUS);
}

static int probe_memfd_hugetlb(void)
{
        return trace_only(SYS_memfd_create, (long) "x", MFD_HUGETLB | MFD_CLOEXEC, 0);
}

static int probe_shmget_hugetlb(void)
{
        return trace_only(SYS_shmget, IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | 0600);
}

/* The host's huge page pool is not the job's: refused as where there is
 * none, asked without mapping anything (TRACED()); plain mmap runs. */
static void huge_pages_are_refused(void **state)
{
        (void) state;
        TRACED(SYS_mmap, expect_filtered("mmap(MAP_HUGETLB)", probe_mmap_hugetlb, ENOMEM));
        TRACED(SYS_mmap,
               expect_filtered("mmap(MAP_HUGETLB | MAP_HUGE_2MB)", probe_mmap_hugetlb_2m, ENOMEM));
        TRACED(SYS_memfd_create,
               expect_filtered("memfd_create(MFD_HUGETLB)", probe_memfd_hugetlb, EINVAL));
        TRACED(SYS_shmget, expect_filtered("shmget(SHM_HUGETLB)", probe_shmget_hugetlb, EPERM));
        TRACED(SYS_mmap, expect_errno("mmap", probe_mmap_plain, ENOSYS));
}

#ifdef __x86_64__
static int probe_x32(void)
{
        /* getpid through the x32 ABI: a foreign architecture for the filter. */
        return SYSCALL_ERRNO(0x40000000L | SYS_getpid);
}

static int probe_int80(void)
{
        long ret = 20; /* i386 getpid */

        /* The compat entry may clobber r8-r11 (entry_INT80_compat). */
        __asm__ volatile("int $0x80" : "+a"(ret) : : "memory", "cc", "r8", "r9", "r10", "r11");
        return ret < 0 ? (int) -ret : 0;
}

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1 /* si_code of a seccomp SIGSYS (asm-generic/siginfo.h) */
#endif

static volatile sig_atomic_t sigsys_code = -1;

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
        (void) sig;
        (void) ctx;
        sigsys_code = si->si_code;
}

/* x32 getpid with a SIGSYS handler: 0 when the handler saw seccomp's trap. */
static int probe_x32_trapped(void)
{
        struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };

        if (sigaction(SIGSYS, &sa, NULL) < 0)
                return errno;
        (void) syscall(0x40000000L | SYS_getpid);
        return sigsys_code == SYS_SECCOMP ? 0 : EINVAL;
}

static void foreign_architectures_are_killed(void **state)
{
        struct outcome o;

        (void) state;
        expect_killed("x32 getpid", probe_x32, SIGSYS);
        /* By SECCOMP_RET_TRAP, which a handler could catch, not by a kill,
         * which the kernel logs to the host with the job's chosen names. */
        expect_errno("x32 getpid, SIGSYS handled", probe_x32_trapped, 0);
        /* Without IA32 emulation int 0x80 faults before seccomp sees it. */
        o = run_probe(probe_int80, false);
        if (o.kind != EXITED) {
                print_message("int 0x80 unavailable here (signal %d), skipping i386\n", o.value);
                return;
        }
        expect_killed("i386 getpid (int 0x80)", probe_int80, SIGSYS);
}
#endif

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(embedded_programs_match_policy, setup, teardown),
                cmocka_unit_test_setup_teardown(allows_basic_calls, setup, teardown),
                cmocka_unit_test_setup_teardown(refuses_mount_and_namespaces, setup, teardown),
                cmocka_unit_test_setup_teardown(refuses_kernel_attack_surface, setup, teardown),
                cmocka_unit_test_setup_teardown(unknown_syscalls_get_enosys, setup, teardown),
                cmocka_unit_test_setup_teardown(clone_without_namespaces_only, setup, teardown),
                cmocka_unit_test_setup_teardown(ioctl_tiocsti_refused_on_low_32_bits, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(ioctl_host_file_system_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(page_cache_probes_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(own_filters_are_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(personality_query_only, setup, teardown),
                cmocka_unit_test_setup_teardown(sockets_by_family_and_type, setup, teardown),
                cmocka_unit_test_setup_teardown(sockets_by_protocol, setup, teardown),
                cmocka_unit_test_setup_teardown(socket_error_queues_stay_empty, setup, teardown),
                cmocka_unit_test_setup_teardown(uncharged_socket_options_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(newer_calls_by_number, setup, teardown),
                cmocka_unit_test_setup_teardown(rlimits_but_core, setup, teardown),
                cmocka_unit_test_setup_teardown(prlimit_on_self_only, setup, teardown),
                cmocka_unit_test_setup_teardown(mknod_no_devices, setup, teardown),
                cmocka_unit_test_setup_teardown(flushes_are_answered_unrun, setup, teardown),
                cmocka_unit_test_setup_teardown(huge_pages_are_refused, setup, teardown),
#ifdef __x86_64__
                cmocka_unit_test_setup_teardown(foreign_architectures_are_killed, setup, teardown),
#endif
        };

        return cmocka_run_group_tests_name("seccomp", tests, NULL, NULL);
}
