/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * cordond's configuration: one JSON file (default /etc/cordon/cordond.json),
 * every field optional with the default documented in docs/operations.md.
 * Unknown keys and bad values are refused with a message naming the field.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cordon/cgroup.h"
#include "cordon/err.h"

#define CD_DEFAULT_CONFIG "/etc/cordon/cordond.json"
#define CD_DEFAULT_SOCKET "/run/cordon/cordon.sock"

/* Who gets a role: peers whose uid is listed, or whose gid or a
 * supplementary group is one of the groups. */
struct cd_role_members {
        uid_t *uids;
        size_t n_uids;
        gid_t *gids; /* resolved from names at load */
        size_t n_gids;
};

struct cd_config {
        char *socket_path;
        mode_t socket_mode;
        bool socket_group_set;
        gid_t socket_group;
        char *state_dir;
        char *profiles_dir;
        char *images_dir;
        struct cd_cgroup_config cgroup; /* .parent points into this struct's own string */
        char *cgroup_parent;
        uint32_t uid_base, uid_count;
        /* queue */
        unsigned int slots;
        unsigned int max_queued;
        unsigned int max_queued_per_client;
        unsigned int rate_per_second; /* requests per client; burst = 2x */
        /* request bounds */
        unsigned int max_connections;
        unsigned int max_connections_per_client; /* admins are not held to it */
        unsigned int connection_timeout_s;       /* idle time before a connection is cut */
        unsigned int request_timeout_s;          /* whole request, upload included */
        size_t max_url_bytes;
        size_t max_header_bytes;
        uint64_t max_body_bytes;
        unsigned int max_inputs;
        uint64_t max_input_bytes;
        size_t max_json_bytes;
        uint64_t output_max_bytes; /* stdout and stderr each */
        uint64_t min_free_bytes;   /* uploads refused (507) below this free space; */
        bool min_free_set;         /* else the smaller of 512M and 10% of the file system */
        uint64_t max_stored_per_client_bytes; /* a client's jobs' files (0: no quota); */
        bool max_stored_set; /* else the smaller of 8G and 25% of the file system */
        /* lifetime */
        uint64_t retention_ms;      /* finished jobs are deleted after this */
        uint64_t shutdown_grace_ms; /* SIGTERM: running jobs get this long */
        struct cd_role_members admins;
        struct cd_role_members submitters;
        /* Profiles only some submitters may use (profile_access); a
         * profile not listed is open to every submitter. */
        struct cd_profile_access *profile_access;
        size_t n_profile_access;
};

struct cd_profile_access {
        char *profile;
        struct cd_role_members who;
};

/* Whether a peer with @uid, primary @gid and the supplementary @groups is
 * one of @m. */
bool cd_role_members_has(const struct cd_role_members *m, uid_t uid, gid_t gid, const gid_t *groups,
                         size_t n_groups);

/* The defaults, as if an empty file were loaded. Returns 0 or -ENOMEM. */
int cd_config_defaults(struct cd_config *c, struct cd_err *err);

/*
 * Load @path over the defaults. @path NULL: CD_DEFAULT_CONFIG if it exists,
 * else the defaults. Returns 0, or -errno with @err as "<path>: <field>:
 * <problem>". On failure @c is left cleared.
 */
int cd_config_load(const char *path, struct cd_config *c, struct cd_err *err);

/* The same from text (tests). */
int cd_config_parse(const char *text, size_t len, const char *source, struct cd_config *c,
                    struct cd_err *err);

void cd_config_clear(struct cd_config *c);

/* The free space to keep on a state file system of @fs_bytes: min_free if
 * it was configured, else the smaller of 512M and a tenth of @fs_bytes, so
 * that a small disk is not all reserve. */
uint64_t cd_config_min_free(const struct cd_config *c, uint64_t fs_bytes);

/* The bytes one client's jobs may hold on a state file system of
 * @fs_bytes (0: no quota): max_stored_per_client if it was configured,
 * else the smaller of 8G and a quarter of @fs_bytes. */
uint64_t cd_config_client_quota(const struct cd_config *c, uint64_t fs_bytes);
