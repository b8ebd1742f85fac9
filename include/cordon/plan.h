/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cordon/err.h"

/*
 * The limits of one job. Every field is set (defaults filled in by
 * cd_limits_default()); 0 means "none" only where a comment says so.
 */
struct cd_limits {
        uint64_t memory_max_bytes; /* cgroup memory limit; swap may not extend it */
        uint64_t cpu_millis;       /* CFS quota in thousandths of a CPU (500 = half a core) */
        uint64_t pids_max;         /* tasks in the job's cgroup, init included */
        uint64_t wall_timeout_ms;  /* from launch start to the end of the job */
        uint64_t cpu_time_ms;      /* user+system CPU of the whole job tree; 0 = none */
        uint64_t grace_ms;         /* SIGTERM, then SIGKILL after this long */
        uint64_t tmp_size_bytes;   /* /tmp tmpfs (and /dev/shm shares nothing with it) */
        uint64_t shm_size_bytes;   /* /dev/shm tmpfs */
        uint64_t work_size_bytes;  /* /work tmpfs, inputs included */
        uint64_t out_size_bytes;   /* /out tmpfs; filling it gives output_limit */
        uint64_t fsize_bytes;      /* RLIMIT_FSIZE */
        uint64_t nofile;           /* RLIMIT_NOFILE */
};

/* Hard ceilings that no flag or profile may exceed. */
#define CD_MAX_MEMORY_BYTES (1ULL << 40) /* 1 TiB */
#define CD_MAX_CPU_MILLIS   (1024ULL * 1000)
#define CD_MAX_PIDS         (1ULL << 22)
#define CD_MAX_TIMEOUT_MS   (7ULL * 24 * 3600 * 1000) /* one week */
#define CD_MAX_FS_BYTES     (1ULL << 40)
#define CD_MAX_NOFILE       (1ULL << 20)
#define CD_MIN_MEMORY_BYTES (4ULL << 20)
#define CD_MIN_FS_BYTES     (64ULL << 10)

/* One host path made visible read-only in the sandbox. */
struct cd_bind {
        char *source;    /* absolute host path, admin-chosen */
        char *target;    /* absolute sandbox path */
        bool optional;   /* skip silently when the source does not exist */
        bool from_image; /* profiles only: source is a path inside the image */
};

/* The deepest nesting of directories under /out a profile may allow. */
#define CD_ARTIFACT_MAX_DEPTH 64
/* The time a job's artifact collection may take (artifacts.max_time): by
 * default a minute, which the default caps (1000 files, 1 GiB) need a
 * small part of; a profile may set 1 s to 1 h (docs/profiles.md). */
#define CD_ARTIFACT_DEFAULT_TIME_MS (60ULL * 1000)
#define CD_ARTIFACT_MIN_TIME_MS     1000ULL
#define CD_ARTIFACT_MAX_TIME_MS     (3600ULL * 1000)

/* Which files may leave the sandbox (the artifact collector's caps). */
struct cd_artifact_rules {
        char **types; /* MIME types that may leave, e.g. "text/csv"; NULL: any */
        uint64_t max_files;
        uint64_t max_total_bytes;
        uint64_t max_file_bytes;
        uint64_t max_depth;
        uint64_t max_name_bytes;
        /* The whole collection, sniffing and copying, from its start; files
         * not reached by then are refused (out_of_time). 0: no limit. */
        uint64_t max_time_ms;
};

/* The defaults when a profile says nothing. */
void cd_artifact_rules_default(struct cd_artifact_rules *a);

/*
 * Everything the launcher needs to run one job: plain, validated data with
 * no strings left to interpret. Built by the CLI (flags) or a profile.
 */
struct cd_plan {
        char *profile; /* name, for records */
        char **argv;   /* command; argv[0] is searched in PATH inside */
        char **envp;   /* the job's whole environment, already filtered */
        char *workdir; /* absolute, inside the sandbox */
        char *hostname;
        struct cd_bind *binds; /* image trees, then extra read-only mounts */
        size_t n_binds;
        char *etc_source;     /* the image's /etc, "/etc" for the host image */
        char **etc_allow;     /* names under etc_source copied or bound into the sandbox */
        char **inputs;        /* host files and directories copied into /work */
        char **seccomp_allow; /* named seccomp additions (docs/seccomp.md) */
        struct cd_artifact_rules artifacts;
        bool work_readonly;   /* /work read-only (inputs only) */
        bool proc_subset_pid; /* /proc with process directories only (breaks R's
                               * detectCores(), procps) */
        uint32_t job_uid;     /* uid and gid inside the sandbox, never 0 */
        uint32_t job_gid;
        struct cd_limits limits;
};

/* The clinical depot's defaults: 1 GiB, half a CPU, 5 minutes, no swap. */
void cd_limits_default(struct cd_limits *l);

/* Check every limit against its hard ceiling and floor; @err names the field. */
int cd_limits_validate(const struct cd_limits *l, struct cd_err *err);

/*
 * A new plan for the host image with default limits and the given command.
 * @environ_in is the caller's environment; only LANG, LC_* and TZ pass.
 * Returns 0 and the plan in *@ret (free with cd_plan_free), or -errno.
 */
int cd_plan_new_host(char *const *argv, char *const *environ_in, struct cd_plan **ret,
                     struct cd_err *err);

/*
 * A new plan for the image whose root is @image_root ("/" for the host):
 * its /usr, /bin, /sbin and /lib* trees read-only and its filtered /etc.
 * The environment is the fixed base (PATH, HOME, TMPDIR, USER, LOGNAME,
 * LANG), then the names of @environ_in that @env_allow lists ("LC_*" is a
 * prefix), then @env_set ("NAME=value"), later entries replacing earlier.
 */
int cd_plan_new_image(const char *image_root, char *const *argv, char *const *environ_in,
                      char *const *env_allow, char *const *env_set, struct cd_plan **ret,
                      struct cd_err *err);

/* True if @entry ("NAME=value") passes the allow-list @allow. */
bool cd_env_allowed(const char *entry, char *const *allow);

/* Add a read-only bind of host @source at sandbox @target. Both must be absolute and
 * normalised (no "..", no "//"). */
int cd_plan_add_bind(struct cd_plan *plan, const char *source, const char *target, bool optional,
                     struct cd_err *err);

/* Validate the whole plan: argv non-empty, paths absolute and clean, uid non-zero, limits. */
int cd_plan_validate(const struct cd_plan *plan, struct cd_err *err);

/* Free @plan and everything it owns. Accepts NULL; returns NULL. */
struct cd_plan *cd_plan_free(struct cd_plan *plan);

static inline void cd_plan_freep(struct cd_plan **p)
{
        *p = cd_plan_free(*p);
}

/* True if @path is absolute, has no "." or ".." component, no "//" and no trailing '/'. */
bool cd_path_is_clean_absolute(const char *path);
