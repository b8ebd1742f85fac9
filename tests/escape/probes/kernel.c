/* SPDX-License-Identifier: MIT */
/*
 * Kernel attack surface and host state: /dev/mem, the kernel log,
 * kallsyms, kcore, keyctl, bpf, perf_event_open, userfaultfd, io_uring,
 * kexec, modules, swap, reboot, the clock, the hostname, I/O ports,
 * personality, open_by_handle_at ("shocker").
 *
 * Calls that would change the host get arguments the kernel rejects only
 * after its permission check (so EINVAL, ENOENT, EBADF mean "permitted"),
 * or set a value to what it already is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

#define KEXEC_SEGMENT_LIMIT 16 /* KEXEC_SEGMENT_MAX in the kernel */

/* Combine the outcomes of several attempts: any escape wins; n/a only if all are. */
static int combine(const int *r, size_t n)
{
        size_t na = 0;

        for (size_t i = 0; i < n; i++) {
                if (r[i] == ESCAPED || r[i] == BROKEN)
                        return r[i];
                if (r[i] == NOT_APPLICABLE)
                        na++;
        }
        return na == n ? NOT_APPLICABLE : BLOCKED;
}

/* A call that returned @ret (errno set by it) was permitted unless errno
 * is a refusal. Call it straight after the system call. */
static int permitted_unless(struct probe_ctx *c, long ret, const char *what)
{
        int err = errno;

        if (ret >= 0) {
                note(c, "%s: permitted", what);
                return ESCAPED;
        }
        if (err == EPERM || err == EACCES || err == ENOSYS)
                return refused(c, err, what);
        note(c, "%s: permitted (%s after the permission check)", what, ename(err));
        return ESCAPED;
}

static int open_any(struct probe_ctx *c, const char *const *paths, size_t n, int flags)
{
        size_t absent = 0;

        for (size_t i = 0; i < n; i++) {
                int fd = open(paths[i], flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

                if (fd >= 0) {
                        (void) close(fd);
                        return verdict(c, ESCAPED, "opened %s", paths[i]);
                }
                if (errno == ENOENT)
                        absent++;
                note(c, "%s: %s", paths[i], ename(errno));
        }
        return absent == n && c->bare ? NOT_APPLICABLE : BLOCKED;
}

static int probe_dev_mem(struct probe_ctx *c, int argc, char **argv)
{
        static const char *const paths[] = { "/dev/mem", "/dev/kmem", "/dev/port" };

        (void) argc;
        (void) argv;
        return unless_locked_down(c, open_any(c, paths, ELEMENTSOF(paths), O_RDONLY));
}

/* Opening /proc/kmsg is only a permission check; reading it would consume
 * the messages, which this probe never does. */
static int probe_kmsg(struct probe_ctx *c, int argc, char **argv)
{
        static const char *const paths[] = { "/dev/kmsg", "/proc/kmsg" };
        char buf[64];
        int r[2];

        (void) argc;
        (void) argv;
        r[0] = open_any(c, paths, ELEMENTSOF(paths), O_RDONLY);
        r[1] = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof(buf)) >= 0
                       ? verdict(c, ESCAPED, "syslog(READ_ALL) worked")
                       : refused(c, errno, "syslog(READ_ALL)");
        return combine(r, ELEMENTSOF(r));
}

static int probe_kallsyms(struct probe_ctx *c, int argc, char **argv)
{
        static char buf[1 << 16];
        unsigned long lines = 0, visible = 0;
        char *save = NULL;
        ssize_t n;

        (void) argc;
        (void) argv;
        n = read_text("/proc/kallsyms", buf, sizeof(buf));
        if (n < 0)
                return verdict(c, n == -ENOENT && c->bare ? NOT_APPLICABLE : BLOCKED,
                               "/proc/kallsyms: %s", ename((int) -n));
        for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                lines++;
                if (strtoull(l, NULL, 16) != 0)
                        visible++;
        }
        if (visible)
                return verdict(c, ESCAPED, "%lu of the first %lu symbols show addresses", visible,
                               lines);
        if (lines == 0)
                return verdict(c, BLOCKED, "/proc/kallsyms is empty (masked)");
        if (c->bare)
                return verdict(c, NOT_APPLICABLE, "kptr_restrict hides addresses from root here");
        return verdict(c, BLOCKED, "%lu symbols, all addresses hidden", lines);
}

static int probe_kcore(struct probe_ctx *c, int argc, char **argv)
{
        static const char *const paths[] = { "/proc/kcore" };

        (void) argc;
        (void) argv;
        return unless_locked_down(c, open_any(c, paths, ELEMENTSOF(paths), O_RDONLY));
}

static int probe_keyctl(struct probe_ctx *c, int argc, char **argv)
{
        long r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0);

        (void) argc;
        (void) argv;
        return permitted_unless(c, r, "keyctl(GET_KEYRING_ID)");
}

static int probe_bpf(struct probe_ctx *c, int argc, char **argv)
{
        union bpf_attr attr;
        long fd;

        (void) argc;
        (void) argv;
        memset(&attr, 0, sizeof(attr));
        attr.map_type = BPF_MAP_TYPE_ARRAY;
        attr.key_size = 4;
        attr.value_size = 4;
        attr.max_entries = 1;
        fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
        if (fd < 0)
                return refused(c, errno, "bpf(BPF_MAP_CREATE)");
        (void) close((int) fd);
        return verdict(c, ESCAPED, "bpf(BPF_MAP_CREATE) made a map");
}

static int perf_open(struct probe_ctx *c, pid_t pid, int cpu, const char *what)
{
        struct perf_event_attr attr;
        long fd;

        memset(&attr, 0, sizeof(attr));
        attr.size = sizeof(attr);
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_CPU_CLOCK;
        attr.disabled = 1;
        fd = syscall(SYS_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0)
                return refused(c, errno, what);
        (void) close((int) fd);
        return verdict(c, ESCAPED, "%s worked", what);
}

static int probe_perf_event_open(struct probe_ctx *c, int argc, char **argv)
{
        int r[2];

        (void) argc;
        (void) argv;
        r[0] = perf_open(c, 0, -1, "perf_event_open(self)");
        r[1] = perf_open(c, -1, 0, "perf_event_open(cpu 0, all processes)");
        return combine(r, ELEMENTSOF(r));
}

static int probe_userfaultfd(struct probe_ctx *c, int argc, char **argv)
{
        static const char *const dev[] = { "/dev/userfaultfd" };
        long fd;
        int r[3];

        (void) argc;
        (void) argv;
        fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
        r[0] = fd >= 0 ? verdict(c, ESCAPED, "userfaultfd() worked")
                       : refused(c, errno, "userfaultfd()");
        if (fd >= 0)
                (void) close((int) fd);
        fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | 1 /* UFFD_USER_MODE_ONLY */);
        r[1] = fd >= 0 ? verdict(c, ESCAPED, "userfaultfd(UFFD_USER_MODE_ONLY) worked")
                       : refused(c, errno, "userfaultfd(UFFD_USER_MODE_ONLY)");
        if (fd >= 0)
                (void) close((int) fd);
        r[2] = open_any(c, dev, ELEMENTSOF(dev), O_RDWR);
        return combine(r, ELEMENTSOF(r));
}

static int probe_io_uring(struct probe_ctx *c, int argc, char **argv)
{
        struct io_uring_params p;
        long fd;
        int err;

        (void) argc;
        (void) argv;
        memset(&p, 0, sizeof(p));
        fd = syscall(SYS_io_uring_setup, 2, &p);
        if (fd >= 0) {
                (void) close((int) fd);
                return verdict(c, ESCAPED, "io_uring_setup made a ring");
        }
        err = errno;
        if (err == EPERM && c->bare && sysctl_long("/proc/sys/kernel/io_uring_disabled", 0) == 2)
                return verdict(c, NOT_APPLICABLE, "io_uring is disabled on this host");
        return refused(c, err, "io_uring_setup");
}

static int probe_kexec(struct probe_ctx *c, int argc, char **argv)
{
        int r[2];

        (void) argc;
        (void) argv;
        /* Too many segments: EINVAL, checked after CAP_SYS_BOOT. */
        r[0] = permitted_unless(c, syscall(SYS_kexec_load, 0UL, KEXEC_SEGMENT_LIMIT + 1, NULL, 0UL),
                                "kexec_load");
        /* Unknown flags: EINVAL, checked after CAP_SYS_BOOT. */
        r[1] = permitted_unless(c, syscall(SYS_kexec_file_load, -1, -1, 0UL, "", 0x80000000UL),
                                "kexec_file_load");
        if (c->bare && combine(r, 2) == BLOCKED &&
            sysctl_long("/proc/sys/kernel/kexec_load_disabled", 0) == 1)
                return verdict(c, NOT_APPLICABLE, "kexec is disabled on this host");
        return unless_locked_down(c, combine(r, ELEMENTSOF(r)));
}

static int probe_init_module(struct probe_ctx *c, int argc, char **argv)
{
        int r[3];

        (void) argc;
        (void) argv;
        /* A zero-length image: ENOEXEC after CAP_SYS_MODULE. */
        r[0] = permitted_unless(c, syscall(SYS_init_module, NULL, 0UL, ""), "init_module");
        r[1] = permitted_unless(c, syscall(SYS_finit_module, -1, "", 0), "finit_module");
        /* A module that does not exist: ENOENT after CAP_SYS_MODULE. */
        r[2] = permitted_unless(c, syscall(SYS_delete_module, "cordon_probe_none", O_NONBLOCK),
                                "delete_module");
        if (c->bare && combine(r, 3) == BLOCKED &&
            sysctl_long("/proc/sys/kernel/modules_disabled", 0) == 1)
                return verdict(c, NOT_APPLICABLE, "module loading is disabled on this host");
        return combine(r, ELEMENTSOF(r));
}

static int probe_swapon(struct probe_ctx *c, int argc, char **argv)
{
        static const char none[] = "/.cordon-probe-does-not-exist";
        int r[2];

        (void) argc;
        (void) argv;
        r[0] = permitted_unless(c, syscall(SYS_swapon, none, 0), "swapon");
        r[1] = permitted_unless(c, syscall(SYS_swapoff, none), "swapoff");
        return combine(r, ELEMENTSOF(r));
}

static int probe_reboot(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        /* Wrong magic numbers: EINVAL after CAP_SYS_BOOT (kernel/reboot.c). */
        return permitted_unless(c, syscall(SYS_reboot, 0, 0, 0, NULL), "reboot");
}

/*
 * clock_settime() checks a bad timespec before the capability, so it only
 * shows whether seccomp lets the call through. settimeofday(NULL, NULL)
 * checks CAP_SYS_TIME and changes nothing; adjtimex with an impossible
 * tick checks it before the range.
 */
static int probe_clock_settime(struct probe_ctx *c, int argc, char **argv)
{
        struct timespec bad = { .tv_sec = 0, .tv_nsec = -1 };
        struct timex tx = { .modes = ADJ_TICK, .tick = 1 };
        int r[2];

        (void) argc;
        (void) argv;
        if (syscall(SYS_clock_settime, CLOCK_REALTIME, &bad) < 0)
                note(c, "clock_settime(bad time): %s", ename(errno));
        r[0] = syscall(SYS_settimeofday, NULL, NULL) == 0
                       ? verdict(c, ESCAPED, "settimeofday(NULL, NULL): CAP_SYS_TIME held")
                       : refused(c, errno, "settimeofday(NULL, NULL)");
        r[1] = permitted_unless(c, clock_adjtime(CLOCK_REALTIME, &tx), "clock_adjtime(ADJ_TICK)");
        return combine(r, ELEMENTSOF(r));
}

static int probe_sethostname(struct probe_ctx *c, int argc, char **argv)
{
        struct utsname u;
        int r[2];

        (void) argc;
        (void) argv;
        if (uname(&u) < 0)
                return verdict(c, BROKEN, "uname: %s", ename(errno));
        /* The same names back: nothing changes if it is allowed. */
        r[0] = sethostname(u.nodename, strlen(u.nodename)) == 0
                       ? verdict(c, ESCAPED, "sethostname worked")
                       : refused(c, errno, "sethostname");
        r[1] = setdomainname(u.domainname, strlen(u.domainname)) == 0
                       ? verdict(c, ESCAPED, "setdomainname worked")
                       : refused(c, errno, "setdomainname");
        return combine(r, ELEMENTSOF(r));
}

static int do_iopl(struct probe_ctx *c, void *arg)
{
        int r[2];

        (void) arg;
        r[0] = syscall(SYS_iopl, 3) == 0 ? verdict(c, ESCAPED, "iopl(3) worked")
                                         : refused(c, errno, "iopl(3)");
        r[1] = syscall(SYS_ioperm, 0x80UL, 1UL, 1) == 0 ? verdict(c, ESCAPED, "ioperm worked")
                                                        : refused(c, errno, "ioperm");
        return combine(r, ELEMENTSOF(r));
}

static int probe_iopl(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return unless_locked_down(c, in_child(c, do_iopl, NULL, NULL));
}

static int do_personality(struct probe_ctx *c, void *arg)
{
        long old = syscall(SYS_personality, 0xffffffffUL);

        (void) arg;
        if (old < 0)
                return refused(c, errno, "personality(query)");
        if (syscall(SYS_personality, (unsigned long) old | ADDR_NO_RANDOMIZE) < 0)
                return refused(c, errno, "personality(ADDR_NO_RANDOMIZE)");
        (void) syscall(SYS_personality, (unsigned long) old);
        return verdict(c, ESCAPED, "personality(ADDR_NO_RANDOMIZE) worked");
}

static int probe_personality(struct probe_ctx *c, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        return in_child(c, do_personality, NULL, NULL);
}

/* "Shocker": open a file by handle, bypassing every path check. With a
 * real handle of /etc if name_to_handle_at works, else with the ext4
 * handle of inode 2 (a file system's root), as the original exploit did. */
static int probe_open_by_handle(struct probe_ctx *c, int argc, char **argv)
{
        struct {
                struct file_handle fh;
                unsigned char bytes[MAX_HANDLE_SZ];
        } h;
        int mount_id, mfd, fd, err;
        bool real;

        (void) argc;
        (void) argv;
        memset(&h, 0, sizeof(h));
        h.fh.handle_bytes = MAX_HANDLE_SZ;
        real = name_to_handle_at(AT_FDCWD, "/etc", &h.fh, &mount_id, 0) == 0;
        if (!real) {
                const unsigned int ino_gen[2] = { 2, 0 };

                note(c, "name_to_handle_at: %s", ename(errno));
                h.fh.handle_bytes = sizeof(ino_gen);
                h.fh.handle_type = 1; /* FILEID_INO32_GEN */
                memcpy(h.fh.f_handle, ino_gen, sizeof(ino_gen));
        }
        mfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (mfd < 0)
                return verdict(c, BROKEN, "open /: %s", ename(errno));
        fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_CLOEXEC);
        err = errno;
        (void) close(mfd);
        if (fd >= 0) {
                (void) close(fd);
                return verdict(c, ESCAPED, "open_by_handle_at opened %s",
                               real ? "/etc by its handle" : "inode 2");
        }
        if (real || err == EPERM || err == EACCES || err == ENOSYS)
                return refused(c, err, "open_by_handle_at");
        return verdict(c, ESCAPED, "open_by_handle_at was permitted (%s for a guessed handle)",
                       ename(err));
}

const struct probe kernel_probes[] = {
        { "dev-mem", probe_dev_mem, "", "open /dev/mem, /dev/kmem, /dev/port" },
        { "kmsg", probe_kmsg, "", "open /dev/kmsg or /proc/kmsg, syslog(READ_ALL)" },
        { "kallsyms", probe_kallsyms, "", "kernel symbol addresses in /proc/kallsyms" },
        { "kcore", probe_kcore, "", "open /proc/kcore" },
        { "keyctl", probe_keyctl, "", "keyctl(KEYCTL_GET_KEYRING_ID)" },
        { "bpf", probe_bpf, "", "bpf(BPF_MAP_CREATE)" },
        { "perf-event-open", probe_perf_event_open, "", "perf_event_open on self and cpu 0" },
        { "userfaultfd", probe_userfaultfd, "", "userfaultfd(2) and /dev/userfaultfd" },
        { "io-uring", probe_io_uring, "", "io_uring_setup" },
        { "kexec", probe_kexec, "", "kexec_load, kexec_file_load (permission check only)" },
        { "init-module", probe_init_module, "",
          "init_module, finit_module, delete_module (permission check only)" },
        { "swapon", probe_swapon, "", "swapon, swapoff of a missing file" },
        { "reboot", probe_reboot, "", "reboot with bad magic (permission check only)" },
        { "clock-settime", probe_clock_settime, "",
          "clock_settime, settimeofday, clock_adjtime (CAP_SYS_TIME)" },
        { "sethostname", probe_sethostname, "", "sethostname, setdomainname (same value)" },
        { "iopl", probe_iopl, "", "iopl(3), ioperm" },
        { "personality", probe_personality, "", "personality(ADDR_NO_RANDOMIZE)" },
        { "open-by-handle", probe_open_by_handle, "", "open_by_handle_at (shocker)" },
};
const size_t kernel_probes_n = ELEMENTSOF(kernel_probes);
