/* SPDX-License-Identifier: MIT */
/*
 * cordon-probe: one static binary, one escape attempt per subcommand.
 * Each probe prints one line "NAME: blocked|escaped|broken|n/a: detail" and
 * exits 0 (blocked), 1 (escaped: the attempt worked), 2 (the probe itself
 * broke) or 3 (not applicable on this host). See docs/escape-testing.md.
 *
 * Probes must be safe to run bare as root on a host (the harness does, to
 * prove each probe can see the hole it looks for): they only open files
 * for writing without truncating them, create and remove files inside
 * temporary directories, pass arguments the kernel rejects after its
 * permission check, restore any state they change at once, and do anything
 * else in a forked child in namespaces of its own when they can.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum outcome {
        BLOCKED = 0,
        ESCAPED = 1,
        BROKEN = 2,
        NOT_APPLICABLE = 3,
};

struct probe_ctx {
        const char *name;
        /* --bare: the harness runs the probe on the host as root. "The kernel
         * lacks it" (ENOSYS, no such device, a host sysctl switched off)
         * is then n/a instead of blocked: the probe cannot show a hole here. */
        bool bare;
        char detail[1536];
};

typedef int probe_fn(struct probe_ctx *c, int argc, char **argv);

struct probe {
        const char *name;
        probe_fn *fn;
        const char *args;
        const char *summary;
};

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define PRINTF(f, a)  __attribute__((format(printf, f, a)))

/* Bound for one probe, children included (the harness bounds it too). */
#define PROBE_TIMEOUT_S 60

/* util.c */
const char *ename(int e);
const char *signame(int sig);
void note(struct probe_ctx *c, const char *fmt, ...) PRINTF(2, 3);
int verdict(struct probe_ctx *c, int outcome, const char *fmt, ...) PRINTF(3, 4);
int refused(struct probe_ctx *c, int err, const char *what);
int refused_cap(struct probe_ctx *c, int err, const char *what, int cap);
bool have_cap(int cap);
bool locked_down(void);
int unless_locked_down(struct probe_ctx *c, int outcome);
bool is_denial(int err);
int parse_uint(const char *s, unsigned long long max, unsigned long long *ret);
int parse_pid(const char *s, pid_t *ret);
ssize_t read_text(const char *path, char *buf, size_t size);
int status_field(const char *key, char *out, size_t size);
long sysctl_long(const char *path, long fallback);
int private_mounts(void);
int make_tempdir(const char *base, char *out, size_t size);
size_t list_pids(pid_t *pids, size_t max);
pid_t session_of(pid_t pid);
int in_child(struct probe_ctx *c, int (*fn)(struct probe_ctx *, void *), void *arg,
             int *ret_signal);
pid_t spawn_sleeper(void);
void reap_sleeper(pid_t pid);

/* One list per file, gathered by main.c. */
extern const struct probe caps_probes[];
extern const size_t caps_probes_n;
extern const struct probe ns_probes[];
extern const size_t ns_probes_n;
extern const struct probe proc_probes[];
extern const size_t proc_probes_n;
extern const struct probe fs_probes[];
extern const size_t fs_probes_n;
extern const struct probe mount_probes[];
extern const size_t mount_probes_n;
extern const struct probe kernel_probes[];
extern const size_t kernel_probes_n;
extern const struct probe arch_probes[];
extern const size_t arch_probes_n;
extern const struct probe net_probes[];
extern const size_t net_probes_n;
extern const struct probe tty_probes[];
extern const size_t tty_probes_n;
extern const struct probe ipc_probes[];
extern const size_t ipc_probes_n;
extern const struct probe resource_probes[];
extern const size_t resource_probes_n;
