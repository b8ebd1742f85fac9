/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cordon/err.h"
#include "cordon/plan.h"

#define CD_DEFAULT_PROFILES_DIR "/etc/cordon/profiles"
#define CD_DEFAULT_IMAGES_DIR   "/var/lib/cordon/images"

/*
 * A job profile (profiles/<name>.json, docs/profiles.md): which image,
 * which command, which environment, default and maximum limits, seccomp
 * additions and artifact rules. Loaded and validated whole; plain data.
 */
struct cd_profile {
        char *name;
        char *description;
        char *image;            /* "host" or a directory image's name */
        char *image_root;       /* "/" or <images_dir>/<image> */
        struct cd_bind *mounts; /* extra read-only mounts */
        size_t n_mounts;
        char **command; /* argv template: an element "{entry}" is the entry file */
        char *workdir;
        bool work_readonly;
        bool proc_subset_pid;
        char **env_allow; /* names passed from the caller; "LC_*" is a prefix */
        char **env_set;   /* "NAME=value" set for every job */
        struct cd_limits defaults;
        struct cd_limits max;
        char **seccomp_allow;
        struct cd_artifact_rules artifacts;
        char *source; /* the file it came from, for messages */
        char *raw;    /* cd_profile_load: the bytes parsed (hashed into the audit log) */
        size_t raw_len;
};

/* What a profile is checked against: where images live, and the host's size. */
struct cd_profile_host {
        const char *images_dir; /* NULL: CD_DEFAULT_IMAGES_DIR */
        uint64_t memory_bytes;  /* 0: probe the host */
        uint64_t cpu_millis;    /* 0: probe the host */
};

/*
 * Parse and validate the profile in @path. Returns 0 and the profile (free
 * with cd_profile_free), or -errno with @err as "<path>: <field>: <problem>".
 */
int cd_profile_load(const char *path, const struct cd_profile_host *host, struct cd_profile **ret,
                    struct cd_err *err);

/* The same from JSON text; @source names it in messages. For tests and the fuzzer. */
int cd_profile_parse(const char *text, size_t len, const char *source,
                     const struct cd_profile_host *host, struct cd_profile **ret,
                     struct cd_err *err);

struct cd_profile *cd_profile_free(struct cd_profile *p);

static inline void cd_profile_freep(struct cd_profile **p)
{
        *p = cd_profile_free(*p);
}

/* @p as JSON (docs/profiles.md), limits in their units; NULL on ENOMEM. */
struct json_t;
struct json_t *cd_profile_to_json(const struct cd_profile *p);

/* All profiles of @dir (every *.json), or none: one bad file fails the set. */
struct cd_profile_set {
        struct cd_profile **items;
        size_t n;
};

int cd_profile_set_load(const char *dir, const struct cd_profile_host *host,
                        struct cd_profile_set *ret, struct cd_err *err);
void cd_profile_set_clear(struct cd_profile_set *set);

/* True if @name could name a profile: 1 to 32 of a-z, 0-9 and '-', not
 * starting with '-'. Context: any. */
bool cd_profile_name_is_valid(const char *name);

/* The profile called @name in @set, or NULL. */
const struct cd_profile *cd_profile_set_find(const struct cd_profile_set *set, const char *name);

/* What a request asks of a profile. */
struct cd_request {
        const char *entry;       /* relative to the working directory; NULL: none */
        char *const *argv;       /* replaces the profile's command (cordon run); NULL: none */
        char *const *inputs;     /* host paths copied into /work; NULL: none */
        char *const *environ_in; /* the caller's environment, filtered by the profile */
        struct cd_limits limits; /* values for the limits flagged in limits_set */
        uint32_t limits_set;     /* bit i: cd_limit_defs[i] is set */
};

/*
 * Merge @req into @p: a request may tighten any limit and loosen one only up
 * to the profile's maximum; anything else is refused with a message naming
 * the flag. Returns 0 and a validated plan (free with cd_plan_free).
 */
int cd_profile_plan(const struct cd_profile *p, const struct cd_request *req, struct cd_plan **ret,
                    struct cd_err *err);

/* The same, or with @p NULL the built-in shell job over the host image:
 * the request's command, cordon's default limits, any limit up to the hard
 * maximums (cordon run without --profile). */
int cd_profile_plan_or_host(const struct cd_profile *p, const struct cd_request *req,
                            struct cd_plan **ret, struct cd_err *err);

/*
 * The "limits" object of an API request, in the units of docs/profiles.md:
 * each key a limit name, each value a number or a string with a unit.
 * Fills the fields of @l that are given and sets their bits in *@ret_set.
 * Returns 0, or -errno with @err as "<source>: limits.<key>: <problem>".
 * The message names a key only if it is a limit's name, and never repeats
 * a value as sent: a value out of bounds is shown as cordon renders the
 * parsed number ("limits.memory: 2T is outside [4M, 1T]").
 */
int cd_request_parse_limits(struct json_t *obj, const char *source, struct cd_limits *l,
                            uint32_t *ret_set, struct cd_err *err);

/* Named seccomp additions a profile may ask for (docs/seccomp.md). The
 * syscalls each one allows, NULL-terminated; NULL for an unknown name. */
const char *const *cd_seccomp_addition(const char *name);

/* True if @entry is a safe entry-file name: relative, clean, no leading '-'. */
bool cd_entry_is_valid(const char *entry);
