/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cordon/cleanup.h"
#include "cordon/limits.h"
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
 * resolv.conf and everything else stay out (images/README.md).
 */
static const char *const host_etc_allow[] = {
        "alternatives", "debian_version", "fonts",      "ld.so.cache", "ld.so.conf",
        "ld.so.conf.d", "localtime",      "mime.types", "os-release",  "papersize",
        "protocols",    "python3",        "python3.11", "R",           "services",
        "texmf",        "timezone",       "magic",      "magic.mime",  NULL,
};

/* What cordon run passes from the caller without a profile. */
static const char *const default_env_allow[] = { "LANG", "LC_*", "TZ", NULL };

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

int cd_limits_validate(const struct cd_limits *l, struct cd_err *err)
{
        for (size_t i = 0; i < cd_n_limit_defs; i++) {
                const struct cd_limit_def *d = &cd_limit_defs[i];
                char flag[32];
                int r;

                cd_limit_flag(d, flag, sizeof(flag));
                r = cd_limit_check(d, flag, cd_limit_get(l, d), err);
                if (r < 0)
                        return r;
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

/* @name matches @pattern, where a trailing '*' matches any suffix of
 * upper-case letters, digits and '_'. */
static bool env_name_matches(const char *name, size_t n, const char *pattern)
{
        size_t p = strlen(pattern);

        if (p > 0 && pattern[p - 1] == '*')
                return n >= p - 1 && strncmp(name, pattern, p - 1) == 0 &&
                       strspn(name + p - 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n - (p - 1);
        return p == n && strncmp(name, pattern, n) == 0;
}

bool cd_env_allowed(const char *entry, char *const *allow)
{
        size_t n = strcspn(entry, "=");

        if (entry[n] != '=' || n == 0)
                return false;
        for (size_t i = 0; allow && allow[i]; i++)
                if (env_name_matches(entry, n, allow[i]))
                        return true;
        return false;
}

/* Add or replace "NAME=value" in *@env. */
static int env_put(char ***env, const char *entry)
{
        size_t n = strcspn(entry, "=");

        for (size_t i = 0; *env && (*env)[i]; i++)
                if (strncmp((*env)[i], entry, n + 1) == 0) {
                        char *copy = strdup(entry);

                        if (!copy)
                                return -ENOMEM;
                        free((*env)[i]);
                        (*env)[i] = copy;
                        return 0;
                }
        return cd_strv_push(env, entry);
}

static int build_env(char *const *environ_in, char *const *allow, char *const *set, char ***ret)
{
        static const char *const fixed[] = {
                "PATH=/usr/local/bin:/usr/bin:/bin",
                "HOME=/tmp",
                "TMPDIR=/tmp",
                "USER=cordon",
                "LOGNAME=cordon",
                "LANG=C.UTF-8",
                NULL,
        };
        cleanup_strv char **env = NULL;

        for (size_t i = 0; fixed[i]; i++)
                if (env_put(&env, fixed[i]) < 0)
                        return -ENOMEM;
        for (size_t i = 0; environ_in && environ_in[i]; i++)
                if (cd_env_allowed(environ_in[i], allow) && env_put(&env, environ_in[i]) < 0)
                        return -ENOMEM;
        for (size_t i = 0; set && set[i]; i++)
                if (env_put(&env, set[i]) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(env);
        return 0;
}

void cd_artifact_rules_default(struct cd_artifact_rules *a)
{
        *a = (struct cd_artifact_rules){
                .types = NULL,
                .max_files = 1000,
                .max_total_bytes = 1ULL << 30,
                .max_file_bytes = 1ULL << 30,
                .max_depth = 16,
                .max_name_bytes = 255,
                .max_time_ms = CD_ARTIFACT_DEFAULT_TIME_MS,
        };
}

/* "/" + "usr" -> "/usr"; "/srv/img" + "usr" -> "/srv/img/usr" */
static char *under_root(const char *root, const char *path)
{
        char *s = NULL;

        if (asprintf(&s, "%s%s", strcmp(root, "/") == 0 ? "" : root, path) < 0)
                return NULL;
        return s;
}

int cd_plan_new_image(const char *image_root, char *const *argv, char *const *environ_in,
                      char *const *env_allow, char *const *env_set, struct cd_plan **ret,
                      struct cd_err *err)
{
        cleanup_with(cd_plan_freep) struct cd_plan *p = calloc(1, sizeof(*p));
        int r;

        if (!p)
                return cd_err_set(err, ENOMEM, "plan: out of memory");
        if (!cd_path_is_clean_absolute(image_root))
                return cd_err_set(err, CD_E_INVALID,
                                  "plan: image root must be a clean absolute path");
        cd_limits_default(&p->limits);
        cd_artifact_rules_default(&p->artifacts);
        p->job_uid = 1000;
        p->job_gid = 1000;
        p->profile = strdup("default");
        p->workdir = strdup("/work");
        p->hostname = strdup("cordon");
        p->argv = cd_strv_copy(argv);
        p->etc_allow = cd_strv_copy((char *const *) host_etc_allow);
        p->etc_source = under_root(image_root, "/etc");
        if (!p->profile || !p->workdir || !p->hostname || !p->argv || !p->etc_allow ||
            !p->etc_source)
                return cd_err_set(err, ENOMEM, "plan: out of memory");
        if (build_env(environ_in, env_allow, env_set, &p->envp) < 0)
                return cd_err_set(err, ENOMEM, "plan: out of memory");
        for (size_t i = 0; i < ELEMENTSOF(host_trees); i++) {
                cleanup_free char *src = under_root(image_root, host_trees[i]);

                if (!src)
                        return cd_err_set(err, ENOMEM, "plan: out of memory");
                r = cd_plan_add_bind(p, src, host_trees[i], true, err);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

int cd_plan_new_host(char *const *argv, char *const *environ_in, struct cd_plan **ret,
                     struct cd_err *err)
{
        return cd_plan_new_image("/", argv, environ_in, (char *const *) default_env_allow, NULL,
                                 ret, err);
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
        if (!cd_path_is_clean_absolute(plan->etc_source))
                return cd_err_set(err, CD_E_INVALID,
                                  "plan: etc source must be a clean absolute path");
        for (size_t i = 0; plan->inputs && plan->inputs[i]; i++)
                if (plan->inputs[i][0] != '/')
                        return cd_err_set(err, CD_E_INVALID, "plan: input paths must be absolute");
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
        free(plan->etc_source);
        cd_strv_free(plan->inputs);
        cd_strv_free(plan->seccomp_allow);
        cd_strv_free(plan->artifacts.types);
        free(plan);
        return NULL;
}
