/* SPDX-License-Identifier: MIT */
/* A directory of profiles, loaded all or nothing. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cordon/cleanup.h"
#include "cordon/profile.h"
#include "cordon/util.h"
#include "profile-internal.h"

static int by_name(const void *a, const void *b)
{
        const struct cd_profile *const *x = a, *const *y = b;

        return strcmp((*x)->name, (*y)->name);
}

static int add(struct cd_profile_set *set, struct cd_profile *p, struct cd_err *err)
{
        struct cd_profile **items;

        if (cd_profile_set_find(set, p->name))
                return cd_err_set(err, CD_E_INVALID, "%s: a profile named \"%s\" is already loaded",
                                  p->source, p->name);
        items = reallocarray(set->items, set->n + 1, sizeof(*items));
        if (!items)
                return cd_err_set(err, ENOMEM, "profiles: out of memory");
        set->items = items;
        set->items[set->n++] = p;
        return 0;
}

int cd_profile_set_load(const char *dir, const struct cd_profile_host *host,
                        struct cd_profile_set *ret, struct cd_err *err)
{
        struct cd_profile_set set = { 0 };
        int fd = cd_open_trusted_dir(dir, err);
        struct dirent *de;
        int r = 0;
        DIR *d;

        if (fd < 0)
                return cd_err_prefix(err, "profiles");
        d = fdopendir(fd);
        if (!d) {
                r = cd_err_errno(err, "profiles: %s", dir);
                (void) cd_close(fd);
                return r;
        }
        while (r == 0 && (errno = 0, de = readdir(d))) {
                size_t n = strlen(de->d_name);
                cleanup_free char *path = NULL;
                struct cd_profile *p = NULL;

                if (n <= 5 || strcmp(de->d_name + n - 5, ".json") != 0 || de->d_name[0] == '.')
                        continue;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
                        r = cd_err_set(err, ENOMEM, "profiles: out of memory");
                        break;
                }
                /* Relative to the directory checked: not to whatever is at @dir now. */
                r = cd_profile_load_at(dirfd(d), de->d_name, path, host, &p, err);
                if (r == 0) {
                        r = add(&set, p, err);
                        if (r < 0)
                                (void) cd_profile_free(p);
                }
        }
        if (r == 0 && errno != 0)
                r = cd_err_errno(err, "profiles: read %s", dir);
        (void) closedir(d);
        if (r < 0) {
                cd_profile_set_clear(&set);
                return r;
        }
        if (set.n > 1)
                qsort(set.items, set.n, sizeof(*set.items), by_name);
        *ret = set;
        return 0;
}

void cd_profile_set_clear(struct cd_profile_set *set)
{
        for (size_t i = 0; i < set->n; i++)
                (void) cd_profile_free(set->items[i]);
        free(set->items);
        *set = (struct cd_profile_set){ 0 };
}

const struct cd_profile *cd_profile_set_find(const struct cd_profile_set *set, const char *name)
{
        for (size_t i = 0; i < set->n; i++)
                if (strcmp(set->items[i]->name, name) == 0)
                        return set->items[i];
        return NULL;
}
