/* SPDX-License-Identifier: MIT */
/*
 * Room on the state disk (service.h): the reserve kept free (min_free)
 * and each client's share (max_stored_per_client).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>

#include "cordon/service.h"

/* The inodes kept free with @reserve bytes: the same share of the inodes
 * as of the bytes. */
static uint64_t reserve_inodes(const struct cd_fs_space *sp, uint64_t reserve)
{
        const uint64_t per_inode = cd_fs_space_inode_bytes(sp);

        return per_inode ? reserve / per_inode : 0;
}

int cd_service_room(struct cd_service *s, uint64_t need, struct cd_err *err)
{
        struct cd_fs_space sp;
        uint64_t reserve, want;
        int r = cd_jobfiles_space(&s->files, &sp, err);

        if (r < 0)
                return r;
        reserve = cd_config_min_free(s->cfg, sp.size_bytes);
        if (__builtin_add_overflow(reserve, need, &want) || sp.free_bytes < want ||
            sp.free_inodes < reserve_inodes(&sp, reserve))
                return -ENOSPC;
        return 0;
}

int cd_service_output_floor(struct cd_service *s, struct cd_floor *ret, struct cd_err *err)
{
        struct cd_fs_space sp;
        int r = cd_jobfiles_space(&s->files, &sp, err);

        if (r < 0)
                return r;
        ret->bytes = cd_config_min_free(s->cfg, sp.size_bytes) / 2;
        ret->inodes = reserve_inodes(&sp, ret->bytes);
        return 0;
}

int cd_service_client_quota(struct cd_service *s, uint64_t *ret, struct cd_err *err)
{
        struct cd_fs_space sp;
        int r = cd_jobfiles_space(&s->files, &sp, err);

        if (r == 0)
                *ret = cd_config_client_quota(s->cfg, sp.size_bytes);
        return r;
}

int cd_service_quota_check(struct cd_service *s, uint32_t uid, uint64_t need, struct cd_quota *ret,
                           struct cd_err *err)
{
        int r;

        *ret = (struct cd_quota){ 0 };
        r = cd_service_client_quota(s, &ret->quota, err);
        if (r < 0 || ret->quota == 0)
                return r;
        r = cd_store_owner_bytes(s->store, uid, &ret->held, err);
        if (r < 0)
                return r;
        if (ret->held > ret->quota || need > ret->quota - ret->held)
                return -CD_E_QUOTA;
        return 0;
}

void cd_quota_describe(const struct cd_quota *q, char *buf, size_t size)
{
        (void) snprintf(buf, size,
                        "your jobs hold %llu of the %llu bytes allowed on cordond's disk; delete "
                        "finished jobs you have fetched, or wait for their retention to end",
                        (unsigned long long) q->held, (unsigned long long) q->quota);
}
