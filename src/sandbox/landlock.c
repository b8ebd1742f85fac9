/* SPDX-License-Identifier: MIT */
/*
 * Landlock, where the kernel has it: the job may read and execute anything
 * it can see, but write only below /tmp, /work (unless read-only), /out and
 * /dev/shm, and to the null-like devices. From ABI 6 it may also neither
 * signal processes outside its domain (pid 1) nor reach abstract unix
 * sockets outside it. The constants newer than the build host's headers
 * are defined here from the kernel's UAPI (include/uapi/linux/landlock.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "sandbox-internal.h"

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL               (1ULL << 1)
#endif

#ifndef LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF
#define LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF (1U << 2)
#endif

/* struct landlock_ruleset_attr as of ABI 6; older kernels take a prefix. */
struct ruleset_attr {
        uint64_t handled_access_fs;
        uint64_t handled_access_net;
        uint64_t scoped;
};

#define FS_READ                                                                                    \
        (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_ABI1 ((1ULL << 13) - 1)

static uint64_t handled_fs(int abi)
{
        uint64_t h = FS_ABI1;

        if (abi >= 2)
                h |= LANDLOCK_ACCESS_FS_REFER;
        if (abi >= 3)
                h |= LANDLOCK_ACCESS_FS_TRUNCATE;
        if (abi >= 5)
                h |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
        return h;
}

static size_t attr_size(int abi)
{
        if (abi >= 6)
                return sizeof(struct ruleset_attr);
        if (abi >= 4)
                return offsetof(struct ruleset_attr, scoped);
        return offsetof(struct ruleset_attr, handled_access_net);
}

int cd_landlock_abi(void)
{
        long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

        return abi < 0 ? 0 : (int) abi;
}

static int allow(int ruleset, const char *path, uint64_t access, struct cd_err *err)
{
        struct landlock_path_beneath_attr rule = { .allowed_access = access };
        cleanup_close int fd = -1;

        fd = open(path, O_PATH | O_CLOEXEC);
        if (fd < 0)
                return cd_err_errno(err, "landlock: open %s", path);
        rule.parent_fd = fd;
        if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0)
                return cd_err_errno(err, "landlock: rule for %s", path);
        return 0;
}

static int add_rules(int ruleset, const struct cd_plan *plan, int abi, struct cd_err *err)
{
        static const char *const devices[] = { "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                               "/dev/urandom" };
        const uint64_t all = handled_fs(abi);
        /* Files accept only file rights (landlock(7)). */
        const uint64_t dev = all & (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                    LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV);
        const uint64_t rw = all & ~(LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK);
        int r;

        r = allow(ruleset, "/", FS_READ, err);
        if (r == 0)
                r = allow(ruleset, "/tmp", rw, err);
        if (r == 0)
                r = allow(ruleset, "/out", rw, err);
        if (r == 0)
                r = allow(ruleset, "/dev/shm", rw, err);
        if (r == 0 && !plan->work_readonly)
                r = allow(ruleset, "/work", rw, err);
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(devices); i++)
                r = allow(ruleset, devices[i], dev, err);
        return r;
}

/*
 * From ABI 7 the kernel logs denials to the audit log (under auditd) with
 * the path asked for: a domain the job makes for itself would log paths
 * of its choosing, a way for its data out of the sandbox. Denials in
 * nested domains are not logged. The job's own denials in cordon's domain
 * are not either: only those before the job's execve are, by default.
 */
static unsigned int restrict_flags(int abi)
{
        return abi >= 7 ? LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF : 0;
}

int cd_landlock_apply_child(const struct cd_plan *plan, int abi, struct cd_err *err)
{
        struct ruleset_attr attr = { .handled_access_fs = handled_fs(abi) };
        cleanup_close int ruleset = -1;
        int r;

        if (abi <= 0)
                return 0;
        if (abi >= 6)
                attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
        ruleset = (int) syscall(SYS_landlock_create_ruleset, &attr, attr_size(abi), 0);
        if (ruleset < 0)
                return cd_err_errno(err, "landlock: create ruleset (ABI %d)", abi);
        r = add_rules(ruleset, plan, abi, err);
        if (r < 0)
                return r;
        if (syscall(SYS_landlock_restrict_self, ruleset, restrict_flags(abi)) < 0)
                return cd_err_errno(err, "landlock: restrict");
        if (cd_fault("landlock"))
                return cd_err_set(err, CD_E_FAULT, "landlock: injected fault");
        return 0;
}
