/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "cordon/profile.h"

/* Parsing state: every message starts with the file's name. */
struct pctx {
        const char *source;
        struct cd_err *err;
        const struct cd_profile_host *host; /* probed: sizes are set */
        const char *expect_name;            /* the file's base name, or NULL */
        bool quiet; /* an API request: messages name fields, never repeat its text */
};

/* "<source>: <field>: <what>", CD_E_INVALID. */
int pctx_fail(struct pctx *c, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Refuse a key of @obj that is not in @known (NULL-terminated). */
int pctx_check_keys(struct pctx *c, json_t *obj, const char *path, const char *const *known);

int pctx_string(struct pctx *c, json_t *obj, const char *key, const char *path, bool required,
                char **ret);
int pctx_strv(struct pctx *c, json_t *obj, const char *key, const char *path, char ***ret);

/* "limits": {"default": {...}, "max": {...}} (profile-limits.c). */
int cd_profile_parse_limits(struct pctx *c, json_t *limits, struct cd_profile *p);

/* "artifacts": {...} (profile-limits.c). */
int cd_profile_parse_artifacts(struct pctx *c, json_t *artifacts, struct cd_profile *p);

/*
 * cd_profile_load() of the file @name in the profiles directory @dirfd
 * (from cd_open_trusted_dir; @path names the file in messages): read
 * relative to @dirfd, so a directory put in place of the one checked
 * cannot redirect the read (profile-set.c).
 */
int cd_profile_load_at(int dirfd, const char *name, const char *path,
                       const struct cd_profile_host *host, struct cd_profile **ret,
                       struct cd_err *err);
