/* SPDX-License-Identifier: MIT */
/*
 * What a launch builds on threads of its own while the launching thread
 * takes the slot, makes the cgroups and the scratch mounts: the network
 * namespace (sandbox/net.c) and the root filesystem (sandbox/rootfs.c).
 * Neither needs the slot. On a busy two-CPU host the three ran one after
 * another for about 1.2 ms (docs/performance.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "launcher-internal.h"

struct cd_prep {
        const struct cd_plan *plan;
        pthread_rwlock_t *fs_lock;
        struct cd_netns_maker netns;
        struct cd_sandbox root; /* root_fd and trees only, until taken */
        pthread_t thread;
        bool started;
        int r;
        struct cd_err err;
};

/* The root's files are open for writing while it is built: shared hold
 * of the fs_lock (launcher-internal.h). */
static void *build_root(void *arg)
{
        struct cd_prep *p = arg;

        pthread_rwlock_rdlock(p->fs_lock);
        p->r = cd_rootfs_build(&p->root, &p->err);
        pthread_rwlock_unlock(p->fs_lock);
        return NULL;
}

/* Like the netns maker, the builder takes no signal: they are for the
 * launching threads (cordon run's signalfd). */
static int start_root(struct cd_prep *p, struct cd_err *err)
{
        int r = cd_thread_start_unsignalled(&p->thread, build_root, p);

        if (r != 0)
                return cd_err_set(err, r, "rootfs: start the builder thread");
        p->started = true;
        return 0;
}

static void join_root(struct cd_prep *p)
{
        if (!p->started)
                return;
        p->started = false;
        /* Joining only fails for a thread that is not joinable, and this one is. */
        (void) pthread_join(p->thread, NULL);
}

struct cd_prep *cd_prep_start(struct cd_launcher *l, const struct cd_plan *plan, struct cd_err *err)
{
        struct cd_prep *p = calloc(1, sizeof(*p));
        int r;

        if (!p) {
                (void) cd_err_set(err, ENOMEM, "launch: out of memory");
                return NULL;
        }
        p->plan = plan;
        p->fs_lock = &l->fs_lock;
        cd_netns_maker_init(&p->netns);
        cd_sandbox_init(&p->root, plan);
        r = start_root(p, err);
        if (r == 0)
                r = cd_netns_make_start(&p->netns, err);
        if (r < 0)
                return cd_prep_free(p);
        return p;
}

bool cd_prep_is_for(const struct cd_prep *p, const struct cd_plan *plan)
{
        return p && p->plan == plan;
}

struct cd_netns_maker *cd_prep_netns(struct cd_prep *p)
{
        return &p->netns;
}

int cd_prep_take_root(struct cd_prep *p, struct cd_sandbox *sb, struct cd_err *err)
{
        join_root(p);
        if (p->r < 0) {
                *err = p->err;
                return p->r;
        }
        sb->root_fd = p->root.root_fd;
        sb->trees = p->root.trees;
        sb->n_trees = p->root.n_trees;
        p->root.root_fd = -1;
        p->root.trees = NULL;
        p->root.n_trees = 0;
        return 0;
}

struct cd_prep *cd_prep_free(struct cd_prep *p)
{
        if (!p)
                return NULL;
        join_root(p);
        cd_netns_make_destroy(&p->netns);
        cd_sandbox_destroy(&p->root);
        free(p);
        return NULL;
}
