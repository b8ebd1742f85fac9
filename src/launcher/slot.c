/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/util.h"
#include "launcher-internal.h"

static int try_slot(const struct cd_launcher *l, uint32_t index, struct cd_slot *ret)
{
        cleanup_close int fd = -1;
        char name[16];

        /* Named by the uid, not the index: the uid is what must be unique
         * on the host, whatever range another launcher is configured with. */
        (void) snprintf(name, sizeof(name), "%u", l->uid_base + index);
        fd = openat(l->slots_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;
        *ret = (struct cd_slot){
                .lock_fd = TAKE_FD(fd),
                .index = index,
                .uid = l->uid_base + index,
                .gid = l->uid_base + index,
        };
        /* The cgroup too: launchers with other uid ranges may share a
         * cgroup parent, and a leaf of a uid whose lease is held is live. */
        (void) snprintf(ret->name, sizeof(ret->name), "slot-%u", ret->uid);
        return 0;
}

int cd_slot_acquire(const struct cd_launcher *l, struct cd_slot *ret, struct cd_err *err)
{
        /* The lowest free slot: the same few stay in use, with their cached
         * account checks (accounts.c). A taken slot costs one flock(2) try. */
        if (cd_fault("slot"))
                return cd_err_set(err, CD_E_FAULT, "slot: injected fault");
        for (uint32_t index = 0; index < l->uid_count; index++) {
                int r = try_slot(l, index, ret);

                if (r == -EBUSY)
                        continue;
                if (r < 0)
                        return cd_err_neg(err, r, "slot: lease %u", index);
                if (!cd_accounts_ids_free(ret->lock_fd, ret->uid, ret->gid)) {
                        cd_slot_release(ret);
                        continue;
                }
                return 0;
        }
        return cd_err_set(err, CD_E_BUSY, "slot: all %u job uids are in use", l->uid_count);
}

/* A "slot-<uid>" cgroup whose lease we can take belongs to no live job:
 * its supervisor was killed (its sandbox died with it, see
 * sandbox/init.c). One of a uid outside our range is another launcher's,
 * live or not: left alone. Leaves used to be named by slot index
 * ("slot-0"; a uid is never below 65536): a killed older supervisor's
 * leaf is claimed by that index's lease, as the old sweep did. */
static int claim_stale(const char *name, void *userdata)
{
        const struct cd_launcher *l = userdata;
        struct cd_slot s;
        uint64_t n, index;

        if (strncmp(name, "slot-", 5) != 0 || cd_parse_u64(name + 5, &n) < 0)
                return -1;
        if (n < l->uid_count)
                index = n;
        else if (n >= l->uid_base && n - l->uid_base < l->uid_count)
                index = n - l->uid_base;
        else
                return -1;
        if (try_slot(l, (uint32_t) index, &s) < 0)
                return -1;
        return s.lock_fd;
}

int cd_slot_sweep(const struct cd_launcher *l, struct cd_err *err)
{
        return cd_cgroup_sweep(l->cgroup, "slot-", claim_stale, (void *) l, err);
}

void cd_slot_release(struct cd_slot *s)
{
        s->lock_fd = cd_close(s->lock_fd);
}
