/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cordon/cleanup.h"
#include "cordon/plan.h"
#include "cordon/util.h"

/* The host image: the host's software trees, read-only. On merged-/usr
 * systems the top-level ones are symlinks and are recreated as such. */
static const char *const host_trees[] = {
        "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
};

/*
 * The filtered /etc of the host image: what dynamic linking, R, Python,
 * pandoc and fontconfig read. passwd, group, hosts, hostname and
 * nsswitch.conf are generated for the job instead; shadow, ssh keys,
 * resolv.conf and everything else stay out (images/host/README.md).
 */
static const char *const host_etc_allow[] = {
        "alternatives", "debian_version", "fonts",      "ld.so.cache", "ld.so.conf",
        "ld.so.conf.d", "localtime",      "mime.types", "os-release",  "papersize",
        "protocols",    "python3",        "python3.11", "R",           "services",
        "texmf",        "timezone",       "magic",      "magic.mime",  NULL,
};

/* Environment names passed from the caller when set (and every LC_*
 * locale category); everything else is dropped. */
static const char *const env_allow[] = { "LANG", "TZ", NULL };

void cd_limits_default(struct cd_limits *l)
{
        *l = (struct cd_limits){
                .memory_max_bytes = 1ULL << 30,
                .cpu_millis = 500,
                .pids_max = 256,
                .wall_timeout_ms = 5ULL * 60 * 1000,
                .cpu_time_ms = 0,
                .grace_ms = 2000,
                .tmp_size_bytes = 256ULL << 20,
                .shm_size_bytes = 64ULL << 20,
                .work_size_bytes = 1ULL << 30,
                .out_size_bytes = 1ULL << 30,
                .fsize_bytes = 1ULL << 30,
                .nofile = 1024,
        };
}

struct limit_rule {
        const char *name;
        size_t offset;
        uint64_t min;
        uint64_t max;
};

/* Names are the `cordon run` flags without "--" (and the profile keys). */
#define RULE(name, field, lo, hi)                                                                  \
        {                                                                                          \
                name, offsetof(struct cd_limits, field), lo, hi                                    \
        }

static const struct limit_rule limit_rules[] = {
        RULE("memory", memory_max_bytes, CD_MIN_MEMORY_BYTES, CD_MAX_MEMORY_BYTES),
        RULE("cpus (thousandths)", cpu_millis, 10, CD_MAX_CPU_MILLIS),
        RULE("pids", pids_max, 2, CD_MAX_PIDS),
        RULE("wall (ms)", wall_timeout_ms, 1, CD_MAX_TIMEOUT_MS),
        RULE("cpu-time (ms)", cpu_time_ms, 0, CD_MAX_TIMEOUT_MS),
        RULE("grace (ms)", grace_ms, 0, 60ULL * 1000),
        RULE("tmp-size", tmp_size_bytes, CD_MIN_FS_BYTES, CD_MAX_FS_BYTES),
        RULE("shm-size", shm_size_bytes, CD_MIN_FS_BYTES, CD_MAX_FS_BYTES),
        RULE("work-size", work_size_bytes, CD_MIN_FS_BYTES, CD_MAX_FS_BYTES),
        RULE("out-size", out_size_bytes, CD_MIN_FS_BYTES, CD_MAX_FS_BYTES),
        RULE("fsize", fsize_bytes, 1, CD_MAX_FS_BYTES),
        RULE("nofile", nofile, 16, CD_MAX_NOFILE),
};

int cd_limits_validate(const struct cd_limits *l, struct cd_err *err)
{
        for (size_t i = 0; i < ELEMENTSOF(limit_rules); i++) {
                const struct limit_rule *r = &limit_rules[i];
                uint64_t v = *(const uint64_t *) ((const char *) l + r->offset);

                if (v < r->min || v > r->max)
                        return cd_err_set(err, CD_E_INVALID,
                                          "--%s: %" PRIu64 " is outside [%" PRIu64 ", %" PRIu64 "]",
                                          r->name, v, r->min, r->max);
        }
        return 0;
}

bool cd_path_is_clean_absolute(const char *path)
{
        if (!path || path[0] != '/')
                return false;
        if (path[1] == '\0')
                return true;
        for (const char *p = path; *p;) {
                const char *c = p + 1; /* component after '/' */
                size_t len = strcspn(c, "/");

                if (len == 0) /* "//" or a trailing '/' */
                        return false;
                if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                p = c + len;
        }
        return true;
}

int cd_plan_add_bind(struct cd_plan *plan, const char *source, const char *target, bool optional,
                     struct cd_err *err)
{
        struct cd_bind *nb;

        if (!cd_path_is_clean_absolute(source) || !cd_path_is_clean_absolute(target))
                return cd_err_set(err, CD_E_INVALID,
                                  "bind: paths must be absolute, without '.', '..' or '//'");
        if (strcmp(target, "/") == 0)
                return cd_err_set(err, CD_E_INVALID, "bind: cannot bind over the sandbox root");
        nb = reallocarray(plan->binds, plan->n_binds + 1, sizeof(*nb));
        if (!nb)
                return cd_err_set(err, ENOMEM, "bind: out of memory");
        plan->binds = nb;
        nb[plan->n_binds] = (struct cd_bind){ .source = strdup(source),
                                              .target = strdup(target),
                                              .optional = optional };
        plan->n_binds++;
        if (!nb[plan->n_binds - 1].source || !nb[plan->n_binds - 1].target)
                return cd_err_set(err, ENOMEM, "bind: out of memory");
        return 0;
}

static bool env_allowed(const char *entry)
{
        size_t n = strcspn(entry, "=");

        if (entry[n] != '=')
                return false;
        if (n > 3 && strncmp(entry, "LC_", 3) == 0 &&
            strspn(entry + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == n - 3)
                return true;
        for (size_t i = 0; env_allow[i]; i++)
                if (strlen(env_allow[i]) == n && strncmp(entry, env_allow[i], n) == 0)
                        return true;
        return false;
}

static int build_env(char *const *environ_in, char ***ret)
{
        static const char *const fixed[] = {
                "PATH=/usr/local/bin:/usr/bin:/bin",
                "HOME=/tmp",
                "TMPDIR=/tmp",
                "USER=cordon",
                "LOGNAME=cordon",
                NULL,
        };
        cleanup_strv char **env = NULL;
        bool have_lang = false;

        for (size_t i = 0; fixed[i]; i++)
                if (cd_strv_push(&env, fixed[i]) < 0)
                        return -ENOMEM;
        for (size_t i = 0; environ_in && environ_in[i]; i++) {
                if (!env_allowed(environ_in[i]))
                        continue;
                if (strncmp(environ_in[i], "LANG=", 5) == 0)
                        have_lang = true;
                if (cd_strv_push(&env, environ_in[i]) < 0)
                        return -ENOMEM;
        }
        if (!have_lang && cd_strv_push(&env, "LANG=C.UTF-8") < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(env);
        return 0;
}

int cd_plan_new_host(char *const *argv, char *const *environ_in, struct cd_plan **ret,
                     struct cd_err *err)
{
        cleanup_with(cd_plan_freep) struct cd_plan *p = calloc(1, sizeof(*p));
        int r;

        if (!p)
                return cd_err_set(err, ENOMEM, "plan: out of memory");
        cd_limits_default(&p->limits);
        p->job_uid = 1000;
        p->job_gid = 1000;
        p->profile = strdup("default");
        p->workdir = strdup("/work");
        p->hostname = strdup("cordon");
        p->argv = cd_strv_copy(argv);
        p->etc_allow = cd_strv_copy((char *const *) host_etc_allow);
        if (!p->profile || !p->workdir || !p->hostname || !p->argv || !p->etc_allow)
                return cd_err_set(err, ENOMEM, "plan: out of memory");
        if (build_env(environ_in, &p->envp) < 0)
                return cd_err_set(err, ENOMEM, "plan: out of memory");
        for (size_t i = 0; i < ELEMENTSOF(host_trees); i++) {
                r = cd_plan_add_bind(p, host_trees[i], host_trees[i], true, err);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

/* It goes into /etc/hosts and /etc/hostname: no newline, space or the like. */
static bool valid_hostname(const char *h)
{
        size_t n = h ? strlen(h) : 0;

        return n > 0 && n <= 64 && h[0] != '-' && h[0] != '.' &&
               strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == n;
}

int cd_plan_validate(const struct cd_plan *plan, struct cd_err *err)
{
        if (cd_strv_length(plan->argv) == 0 || plan->argv[0][0] == '\0')
                return cd_err_set(err, CD_E_INVALID, "plan: no command");
        if (!cd_path_is_clean_absolute(plan->workdir))
                return cd_err_set(err, CD_E_INVALID, "plan: workdir must be a clean absolute path");
        if (plan->job_uid == 0 || plan->job_gid == 0)
                return cd_err_set(err, CD_E_INVALID, "plan: the job may not run as uid or gid 0");
        if (!valid_hostname(plan->hostname))
                return cd_err_set(err, CD_E_INVALID,
                                  "plan: hostname must be 1 to 64 letters, digits, '-' or '.'");
        for (size_t i = 0; plan->etc_allow && plan->etc_allow[i]; i++)
                if (strchr(plan->etc_allow[i], '/') || plan->etc_allow[i][0] == '.')
                        return cd_err_set(err, CD_E_INVALID,
                                          "plan: /etc allow-list entries are plain names");
        return cd_limits_validate(&plan->limits, err);
}

struct cd_plan *cd_plan_free(struct cd_plan *plan)
{
        if (!plan)
                return NULL;
        free(plan->profile);
        cd_strv_free(plan->argv);
        cd_strv_free(plan->envp);
        free(plan->workdir);
        free(plan->hostname);
        for (size_t i = 0; i < plan->n_binds; i++) {
                free(plan->binds[i].source);
                free(plan->binds[i].target);
        }
        free(plan->binds);
        cd_strv_free(plan->etc_allow);
        free(plan);
        return NULL;
}
