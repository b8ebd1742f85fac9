/* SPDX-License-Identifier: MIT */
/*
 * A request against a profile becomes a plan: the profile's defaults, the
 * request's tighter (or, up to the profile's maximum, looser) limits, the
 * command with its entry file, the inputs. Whatever the request asks
 * beyond the profile is refused with a message naming the flag.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/limits.h"
#include "cordon/profile.h"
#include "cordon/util.h"

/*
 * Named seccomp additions: syscalls the default policy refuses that a
 * profile may need. Each is documented in docs/seccomp.md with its risk.
 * Deno (Quarto) needs none: what V8 uses (pkey_*, membarrier,
 * memfd_create) is in the default policy.
 */
static const char *const add_io_uring[] = { "io_uring_setup", "io_uring_enter", "io_uring_register",
                                            NULL };
static const char *const add_ptrace[] = { "ptrace", "process_vm_readv", "process_vm_writev", NULL };
static const char *const add_inotify[] = { "inotify_init", "inotify_init1", "inotify_add_watch",
                                           "inotify_rm_watch", NULL };
/* Allowed by name already; listed, it lifts the refusal of filters and
 * strict mode (sandbox/seccomp-policy.c, rules_own_filters). */
static const char *const add_own_filters[] = { "seccomp", NULL };

static const struct {
        const char *name;
        const char *const *syscalls;
} additions[] = {
        { "io_uring", add_io_uring },
        { "ptrace", add_ptrace },
        { "inotify", add_inotify },
        { "seccomp", add_own_filters },
};

const char *const *cd_seccomp_addition(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(additions); i++)
                if (strcmp(additions[i].name, name) == 0)
                        return additions[i].syscalls;
        return NULL;
}

bool cd_entry_is_valid(const char *entry)
{
        size_t n = entry ? strlen(entry) : 0;

        if (n == 0 || n > 255 || entry[0] == '/' || entry[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) entry[i] < 0x20 || entry[i] == 0x7f)
                        return false;
        /* Clean: "/" + entry would be a clean absolute path. */
        {
                char buf[258];

                buf[0] = '/';
                memcpy(buf + 1, entry, n + 1);
                return cd_path_is_clean_absolute(buf);
        }
}

static int merge_limits(const struct cd_profile *p, const struct cd_request *req,
                        struct cd_limits *out, struct cd_err *err)
{
        *out = p->defaults;
        for (size_t i = 0; i < cd_n_limit_defs; i++) {
                const struct cd_limit_def *d = &cd_limit_defs[i];
                uint64_t v = cd_limit_get(&req->limits, d);
                char flag[32], a[32], b[32];

                if (!(req->limits_set & (1u << i)))
                        continue;
                if (cd_limit_above(d, v, cd_limit_get(&p->max, d))) {
                        cd_limit_flag(d, flag, sizeof(flag));
                        cd_limit_format(d, v, a, sizeof(a));
                        cd_limit_format(d, cd_limit_get(&p->max, d), b, sizeof(b));
                        if (strcmp(d->name, "cpu_time") == 0 && v == 0)
                                (void) snprintf(a, sizeof(a), "none");
                        return cd_err_set(err, CD_E_INVALID,
                                          "%s: %s is above the %s profile's maximum of %s", flag, a,
                                          p->name, b);
                }
                *cd_limit_field(out, d) = v;
        }
        return 0;
}

/* The entry file must be (inside) one of the inputs, which land in /work
 * under their base names. */
static bool entry_in_inputs(const char *entry, char *const *inputs)
{
        size_t first = strcspn(entry, "/");

        for (size_t i = 0; inputs && inputs[i]; i++) {
                const char *slash = strrchr(inputs[i], '/');
                const char *base = slash ? slash + 1 : inputs[i];

                if (strlen(base) == first && strncmp(base, entry, first) == 0)
                        return true;
        }
        return false;
}

static int expand_command(const struct cd_profile *p, const struct cd_request *req, char ***ret,
                          struct cd_err *err)
{
        cleanup_strv char **argv = NULL;

        if (req->argv && req->argv[0]) {
                argv = cd_strv_copy(req->argv);
        } else {
                argv = cd_strv_copy(p->command);
                for (size_t i = 0; argv && argv[i]; i++) {
                        if (strcmp(argv[i], "{entry}") != 0)
                                continue;
                        if (!req->entry)
                                return cd_err_set(err, CD_E_INVALID,
                                                  "--entry: the %s profile runs an entry file; "
                                                  "name one",
                                                  p->name);
                        free(argv[i]);
                        argv[i] = strdup(req->entry);
                        if (!argv[i])
                                return cd_err_set(err, ENOMEM, "plan: out of memory");
                }
        }
        if (!argv)
                return cd_err_set(err, ENOMEM, "plan: out of memory");
        *ret = TAKE_PTR(argv);
        return 0;
}

static int check_request(const struct cd_profile *p, const struct cd_request *req,
                         struct cd_err *err)
{
        if (!req->entry)
                return 0;
        if (!cd_entry_is_valid(req->entry))
                return cd_err_set(err, CD_E_INVALID,
                                  "--entry: must be a relative path inside /work, without '..', "
                                  "control characters or a leading '-'");
        /* No inputs, no entry: /work starts empty, and a profile command of
         * "{entry}" would otherwise run whatever host program it named. */
        if (!entry_in_inputs(req->entry, req->inputs))
                return cd_err_set(err, CD_E_INVALID, "--entry: not among the --input files");
        (void) p;
        return 0;
}

/* The host path an open fd @fd names, into @buf (PATH_MAX bytes). */
static int fd_path(int fd, char *buf)
{
        char link[64];
        ssize_t n;

        (void) snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, buf, PATH_MAX - 1);
        if (n < 0)
                return -errno;
        if (n >= PATH_MAX - 1)
                return -ENAMETOOLONG;
        buf[n] = '\0';
        return 0;
}

/*
 * @source, a path inside the image at @root, as the host path of what it
 * names there: resolved as if @root were "/", as a process inside the
 * image would resolve it. Joined to @root and resolved on the host, an
 * absolute symlink in the image (Debian's var/run -> /run, usr/lib/ssl/certs
 * -> /etc/ssl/certs, usr/lib/R/etc/Renviron -> /etc/R/Renviron) would lead
 * to the host's own file, bound into every job of a profile that asked for
 * the image's. A last component that is a symlink is kept as one (the
 * sandbox gets the link, as from any other source). *@ret is NULL when the
 * path is not in the image. Returns 0 or -errno.
 */
static int resolve_in_image(const char *root, const char *source, char **ret)
{
        struct open_how how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
                                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
        cleanup_close int root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        cleanup_close int fd = -1;
        char root_path[PATH_MAX], path[PATH_MAX];
        size_t n;
        int r;

        *ret = NULL;
        if (root_fd < 0)
                return -errno;
        fd = (int) syscall(SYS_openat2, root_fd, source, &how, sizeof(how));
        if (fd < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        r = fd_path(root_fd, root_path);
        if (r == 0)
                r = fd_path(fd, path);
        if (r < 0)
                return r;
        /* RESOLVE_IN_ROOT never leaves @root; checked all the same. */
        n = strcmp(root_path, "/") == 0 ? 0 : strlen(root_path);
        if (strncmp(path, root_path, n) != 0 || (path[n] != '/' && path[n] != '\0'))
                return -EXDEV;
        *ret = strdup(path);
        return *ret ? 0 : -ENOMEM;
}

/* Required mounts must exist on this host: the profile loads anywhere,
 * a job only where what it needs is installed. A from_image source that
 * is not in the image is not bound, nor looked for elsewhere. */
static int add_mounts(const struct cd_profile *p, struct cd_plan *plan, struct cd_err *err)
{
        for (size_t i = 0; i < p->n_mounts; i++) {
                const struct cd_bind *m = &p->mounts[i];
                cleanup_free char *in_image = NULL;
                const char *source = m->source;
                struct stat st;
                int r;

                if (m->from_image && strcmp(p->image_root, "/") != 0) {
                        r = resolve_in_image(p->image_root, m->source, &in_image);
                        if (r < 0)
                                return cd_err_neg(err, r, "plan: the %s profile's mount %s%s",
                                                  p->name, p->image_root, m->source);
                        if (!in_image && m->optional)
                                continue;
                        if (!in_image)
                                return cd_err_set(err, CD_E_UNSUPPORTED,
                                                  "the %s profile needs %s%s, which is not in "
                                                  "its image",
                                                  p->name, p->image_root, m->source);
                        source = in_image;
                }
                if (!m->optional && lstat(source, &st) < 0)
                        return cd_err_set(err, CD_E_UNSUPPORTED,
                                          "the %s profile needs %s, which is not on this host",
                                          p->name, source);
                r = cd_plan_add_bind(plan, source, m->target, m->optional, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Resolve the profile's named seccomp additions into syscall names. */
static int add_seccomp(const struct cd_profile *p, struct cd_plan *plan, struct cd_err *err)
{
        for (size_t i = 0; p->seccomp_allow && p->seccomp_allow[i]; i++) {
                const char *const *sys = cd_seccomp_addition(p->seccomp_allow[i]);

                for (size_t k = 0; sys && sys[k]; k++)
                        if (cd_strv_push(&plan->seccomp_allow, sys[k]) < 0)
                                return cd_err_set(err, ENOMEM, "plan: out of memory");
        }
        return 0;
}

static int fill(const struct cd_profile *p, const struct cd_request *req, struct cd_plan *plan,
                struct cd_err *err)
{
        int r;

        free(plan->profile);
        free(plan->workdir);
        plan->profile = strdup(p->name);
        plan->workdir = strdup(p->workdir);
        plan->work_readonly = p->work_readonly;
        plan->proc_subset_pid = p->proc_subset_pid;
        cd_strv_free(plan->artifacts.types);
        plan->artifacts = p->artifacts;
        plan->artifacts.types = p->artifacts.types ? cd_strv_copy(p->artifacts.types) : NULL;
        plan->inputs = req->inputs ? cd_strv_copy(req->inputs) : NULL;
        if (!plan->profile || !plan->workdir || (p->artifacts.types && !plan->artifacts.types) ||
            (req->inputs && !plan->inputs))
                return cd_err_set(err, ENOMEM, "plan: out of memory");
        r = merge_limits(p, req, &plan->limits, err);
        if (r == 0)
                r = add_mounts(p, plan, err);
        if (r == 0)
                r = add_seccomp(p, plan, err);
        return r;
}

int cd_profile_plan(const struct cd_profile *p, const struct cd_request *req, struct cd_plan **ret,
                    struct cd_err *err)
{
        cleanup_with(cd_plan_freep) struct cd_plan *plan = NULL;
        cleanup_strv char **argv = NULL;
        int r;

        r = check_request(p, req, err);
        if (r == 0)
                r = expand_command(p, req, &argv, err);
        if (r == 0)
                r = cd_plan_new_image(p->image_root, argv, req->environ_in, p->env_allow,
                                      p->env_set, &plan, err);
        if (r == 0)
                r = fill(p, req, plan, err);
        if (r == 0)
                r = cd_plan_validate(plan, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(plan);
        return 0;
}

int cd_profile_plan_or_host(const struct cd_profile *p, const struct cd_request *req,
                            struct cd_plan **ret, struct cd_err *err)
{
        static char *const env_allow[] = { "LANG", "LC_*", "TZ", NULL };
        struct cd_profile builtin = {
                .name = (char *) "default",
                .image = (char *) "host",
                .image_root = (char *) "/",
                .workdir = (char *) "/work",
                .env_allow = (char **) env_allow,
                .command = (char **) req->argv,
        };

        if (p)
                return cd_profile_plan(p, req, ret, err);
        if (!req->argv || !req->argv[0])
                return cd_err_set(err, CD_E_INVALID, "no command given");
        cd_limits_default(&builtin.defaults);
        cd_artifact_rules_default(&builtin.artifacts);
        for (size_t i = 0; i < cd_n_limit_defs; i++)
                *cd_limit_field(&builtin.max, &cd_limit_defs[i]) = cd_limit_defs[i].max;
        return cd_profile_plan(&builtin, req, ret, err);
}
