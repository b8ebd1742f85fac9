/* SPDX-License-Identifier: MIT */
/*
 * Room on the state disk (service.h): the reserve kept free (min_free),
 * what uploads in progress have reserved of the rest, and each client's
 * share (max_stored_per_client).
 *
 * An upload reserves room before it writes: its declared length up front,
 * or a window at a time; it counts its files as the disk takes them, in
 * whole blocks (api/upload.c). The free space statvfs reports shows what
 * has been written; what is reserved and not written yet is counted here,
 * so that uploads side by side are held to the reserve together, not each
 * to the same free space. A write is marked written only once it is done: in
 * between it counts twice, never not at all. The free space is read and
 * every room added up under one lock, so no two uploads take the same
 * bytes; the store is read under it too, so that a job stored (and its
 * room released) meanwhile is counted once or twice, not missed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>

#include "cordon/service.h"
#include "cordon/util.h"

static uint64_t min_u64(uint64_t a, uint64_t b)
{
        return a < b ? a : b;
}

/* The inodes kept free with @reserve bytes: the same share of the inodes
 * as of the bytes. */
static uint64_t reserve_inodes(const struct cd_fs_space *sp, uint64_t reserve)
{
        const uint64_t per_inode = cd_fs_space_inode_bytes(sp);

        return per_inode ? reserve / per_inode : 0;
}

/* The state disk's space in @sp, and the floor of cd_service_output_floor(). */
static int floor_of(struct cd_service *s, struct cd_fs_space *sp, struct cd_floor *ret,
                    struct cd_err *err)
{
        int r = cd_jobfiles_space(&s->files, sp, err);

        if (r < 0)
                return r;
        ret->bytes = cd_config_min_free(s->cfg, sp->size_bytes) / 2;
        ret->inodes = reserve_inodes(sp, ret->bytes);
        return 0;
}

int cd_service_output_floor(struct cd_service *s, struct cd_floor *ret, struct cd_err *err)
{
        struct cd_fs_space sp;

        return floor_of(s, &sp, ret, err);
}

int cd_service_read_room(struct cd_service *s, struct cd_err *err)
{
        struct cd_fs_space sp;
        struct cd_floor f;
        int r = floor_of(s, &sp, &f, err);

        if (r < 0)
                return r;
        if (sp.free_bytes < f.bytes || (sp.inodes && sp.free_inodes < f.inodes))
                return cd_err_set(err, ENOSPC,
                                  "the state disk is down to the half of its reserve kept for "
                                  "verdicts");
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

/* Under rooms_lock: the bytes every room has reserved and not written. */
static uint64_t rooms_unwritten(const struct cd_service *s)
{
        uint64_t n = 0;

        for (const struct cd_room *r = s->rooms; r; r = r->next)
                n = cd_sat_add(n, r->unwritten);
        return n;
}

/* Under rooms_lock: the bytes the rooms of @uid hold, but @skip's. */
static uint64_t rooms_staged(const struct cd_service *s, uint32_t uid, const struct cd_room *skip)
{
        uint64_t n = 0;

        for (const struct cd_room *r = s->rooms; r; r = r->next)
                if (r->uid == uid && r != skip)
                        n = cd_sat_add(n, r->bytes);
        return n;
}

/* Under rooms_lock: the bytes uploads may still reserve on the disk of
 * @sp; -ENOSPC when its reserve is short already. */
static int disk_left(const struct cd_service *s, const struct cd_fs_space *sp, uint64_t *ret)
{
        const uint64_t reserve = cd_config_min_free(s->cfg, sp->size_bytes);
        const uint64_t kept = cd_sat_add(reserve, rooms_unwritten(s));

        if (sp->free_bytes < kept || sp->free_inodes < reserve_inodes(sp, reserve))
                return -ENOSPC;
        *ret = sp->free_bytes - kept;
        return 0;
}

/* Under rooms_lock: what @uid's jobs and its uploads (but @skip) hold of
 * its quota (on the disk of @sp), in @q; the bytes left in *@ret
 * (UINT64_MAX: no quota). -CD_E_QUOTA when they hold more than it. */
static int quota_left(struct cd_service *s, const struct cd_fs_space *sp, uint32_t uid,
                      const struct cd_room *skip, struct cd_quota *q, uint64_t *ret,
                      struct cd_err *err)
{
        uint64_t used;
        int r;

        *q = (struct cd_quota){ .quota = cd_config_client_quota(s->cfg, sp->size_bytes) };
        *ret = UINT64_MAX;
        if (q->quota == 0)
                return 0;
        r = cd_store_owner_bytes(s->store, uid, &q->held, err);
        if (r < 0)
                return r;
        q->staged = rooms_staged(s, uid, skip);
        used = cd_sat_add(q->held, q->staged);
        if (used > q->quota)
                return -CD_E_QUOTA;
        *ret = q->quota - used;
        return 0;
}

int cd_service_quota_check(struct cd_service *s, uint32_t uid, uint64_t need,
                           const struct cd_room *mine, struct cd_quota *ret, struct cd_err *err)
{
        struct cd_fs_space sp;
        uint64_t left = 0;
        int r;

        *ret = (struct cd_quota){ 0 };
        r = cd_jobfiles_space(&s->files, &sp, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&s->rooms_lock);
        r = quota_left(s, &sp, uid, mine, ret, &left, err);
        pthread_mutex_unlock(&s->rooms_lock);
        if (r == 0 && need > left)
                r = -CD_E_QUOTA;
        return r;
}

/* Under rooms_lock. */
static void room_link(struct cd_service *s, struct cd_room *room)
{
        if (room->linked)
                return;
        room->prev = NULL;
        room->next = s->rooms;
        if (s->rooms)
                s->rooms->prev = room;
        s->rooms = room;
        room->linked = true;
}

/* Under rooms_lock: the disk first, then the quota, so that a full disk
 * is told as such whoever asks. */
static int room_take_locked(struct cd_service *s, struct cd_room *room, uint64_t need,
                            uint64_t want, struct cd_quota *quota, struct cd_err *err)
{
        struct cd_fs_space sp;
        uint64_t disk = 0, share = 0, grant;
        int r = cd_jobfiles_space(&s->files, &sp, err);

        if (r == 0)
                r = disk_left(s, &sp, &disk);
        if (r == 0 && need > disk)
                r = -ENOSPC;
        /* Taking nothing cannot take a client past its quota: no store
         * read (this is the upload path's check every MiB). */
        if (r == 0 && (need || want))
                r = quota_left(s, &sp, room->uid, NULL, quota, &share, err);
        else if (r == 0)
                share = UINT64_MAX;
        if (r == 0 && need > share)
                r = -CD_E_QUOTA;
        if (r < 0)
                return r;
        grant = min_u64(want > need ? want : need, min_u64(disk, share));
        room->bytes = cd_sat_add(room->bytes, grant);
        room->unwritten = cd_sat_add(room->unwritten, grant);
        room_link(s, room);
        return 0;
}

int cd_service_room_take(struct cd_service *s, struct cd_room *room, uint64_t need, uint64_t want,
                         struct cd_quota *quota, struct cd_err *err)
{
        int r;

        *quota = (struct cd_quota){ 0 };
        pthread_mutex_lock(&s->rooms_lock);
        r = room_take_locked(s, room, need, want, quota, err);
        pthread_mutex_unlock(&s->rooms_lock);
        return r;
}

void cd_service_room_written(struct cd_service *s, struct cd_room *room, uint64_t n)
{
        pthread_mutex_lock(&s->rooms_lock);
        /* More than was reserved would be a caller's bug: never below 0. */
        room->unwritten -= min_u64(n, room->unwritten);
        pthread_mutex_unlock(&s->rooms_lock);
}

void cd_service_room_trim(struct cd_service *s, struct cd_room *room)
{
        pthread_mutex_lock(&s->rooms_lock);
        room->bytes -= room->unwritten;
        room->unwritten = 0;
        pthread_mutex_unlock(&s->rooms_lock);
}

void cd_service_room_release(struct cd_service *s, struct cd_room *room)
{
        pthread_mutex_lock(&s->rooms_lock);
        if (room->linked) {
                if (room->prev)
                        room->prev->next = room->next;
                else
                        s->rooms = room->next;
                if (room->next)
                        room->next->prev = room->prev;
        }
        *room = (struct cd_room){ .uid = room->uid };
        pthread_mutex_unlock(&s->rooms_lock);
}

void cd_quota_describe(const struct cd_quota *q, char *buf, size_t size)
{
        if (q->staged > 0)
                (void) snprintf(
                        buf, size,
                        "your jobs hold %llu of the %llu bytes allowed on cordond's disk, "
                        "and your uploads in progress %llu more; let them end, delete "
                        "finished jobs you have fetched, or wait for their retention to end",
                        (unsigned long long) q->held, (unsigned long long) q->quota,
                        (unsigned long long) q->staged);
        else
                (void) snprintf(buf, size,
                                "your jobs hold %llu of the %llu bytes allowed on cordond's disk; "
                                "delete finished jobs you have fetched, or wait for their "
                                "retention to end",
                                (unsigned long long) q->held, (unsigned long long) q->quota);
}
