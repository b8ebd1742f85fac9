/* SPDX-License-Identifier: MIT */
/*
 * libarchive, loaded when a job's artifacts are first asked for as a tar,
 * not at cordond's start. Linked, it brought libxml2, ICU and libstdc++
 * along, about 1.8 MiB of an idle cordond's resident memory
 * (docs/performance.md), for an endpoint many deployments never call.
 * dlopen from a request thread is safe against the forks of other
 * threads: the artifact sniffer, the only process cordond forks without
 * exec'ing at once, re-executes itself before it does anything else.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "api-internal.h"
#include "cordon/fault.h"

#define LIBARCHIVE "libarchive.so.13"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct cd_archive_lib lib; /* complete once loaded is set */
static bool loaded;               /* under lock */
static char why[256];             /* the last failure, under lock */

/* The table's pointers have the types of libarchive's own declarations. */
#define SAME_TYPE(field, fn)                                                                       \
        _Static_assert(__builtin_types_compatible_p(                                               \
                               __typeof__(((struct cd_archive_lib *) 0)->field), __typeof__(&fn)), \
                       #fn)
SAME_TYPE(write_new, archive_write_new);
SAME_TYPE(write_free, archive_write_free);
SAME_TYPE(write_set_format_pax_restricted, archive_write_set_format_pax_restricted);
SAME_TYPE(write_set_bytes_in_last_block, archive_write_set_bytes_in_last_block);
SAME_TYPE(write_open, archive_write_open);
SAME_TYPE(write_header, archive_write_header);
SAME_TYPE(write_data, archive_write_data);
SAME_TYPE(write_close, archive_write_close);
SAME_TYPE(set_error, archive_set_error);
SAME_TYPE(entry_new2, archive_entry_new2);
SAME_TYPE(entry_free, archive_entry_free);
SAME_TYPE(entry_clear, archive_entry_clear);
SAME_TYPE(entry_set_pathname, archive_entry_set_pathname);
SAME_TYPE(entry_set_filetype, archive_entry_set_filetype);
SAME_TYPE(entry_set_perm, archive_entry_set_perm);
SAME_TYPE(entry_set_size, archive_entry_set_size);
SAME_TYPE(entry_set_mtime, archive_entry_set_mtime);

#define RESOLVE(h, field, name) ((*(void **) &lib.field = dlsym(h, name)) != NULL)

static bool resolve(void *h)
{
        return RESOLVE(h, write_new, "archive_write_new") &&
               RESOLVE(h, write_free, "archive_write_free") &&
               RESOLVE(h, write_set_format_pax_restricted,
                       "archive_write_set_format_pax_restricted") &&
               RESOLVE(h, write_set_bytes_in_last_block, "archive_write_set_bytes_in_last_block") &&
               RESOLVE(h, write_open, "archive_write_open") &&
               RESOLVE(h, write_header, "archive_write_header") &&
               RESOLVE(h, write_data, "archive_write_data") &&
               RESOLVE(h, write_close, "archive_write_close") &&
               RESOLVE(h, set_error, "archive_set_error") &&
               RESOLVE(h, entry_new2, "archive_entry_new2") &&
               RESOLVE(h, entry_free, "archive_entry_free") &&
               RESOLVE(h, entry_clear, "archive_entry_clear") &&
               RESOLVE(h, entry_set_pathname, "archive_entry_set_pathname") &&
               RESOLVE(h, entry_set_filetype, "archive_entry_set_filetype") &&
               RESOLVE(h, entry_set_perm, "archive_entry_set_perm") &&
               RESOLVE(h, entry_set_size, "archive_entry_set_size") &&
               RESOLVE(h, entry_set_mtime, "archive_entry_set_mtime");
}

/* A failed load is tried again on the next request: the package may be
 * installed meanwhile. The handle of a load that worked is never closed. */
static bool load(void)
{
        const char *e;
        void *h = dlopen(LIBARCHIVE, RTLD_NOW | RTLD_LOCAL);

        if (h && resolve(h))
                return true;
        e = dlerror();
        (void) snprintf(why, sizeof(why), "%s", e ? e : "a symbol is missing");
        if (h)
                (void) dlclose(h);
        return false;
}

const struct cd_archive_lib *cd_archive_lib_get(struct cd_err *err)
{
        const struct cd_archive_lib *r = &lib;

        if (cd_fault("archive_load")) {
                (void) cd_err_set(err, CD_E_FAULT, "tar: injected fault loading " LIBARCHIVE);
                return NULL;
        }
        pthread_mutex_lock(&lock);
        if (!loaded)
                loaded = load();
        if (!loaded) {
                (void) cd_err_set(err, ELIBACC, "tar: load " LIBARCHIVE ": %s", why);
                r = NULL;
        }
        pthread_mutex_unlock(&lock);
        return r;
}
