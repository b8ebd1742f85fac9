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
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "api-internal.h"
#include "cordon/cleanup.h"
#include "cordon/util.h"

#define LIBARCHIVE "libarchive.so.13"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct cd_archive_lib lib; /* complete once loaded is set */
static bool loaded;               /* under lock */

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

/* A failed load is tried again on the next request: the package may be
 * installed meanwhile. Called locked. */
static bool load(struct cd_err *err)
{
        const struct cd_dl_sym syms[] = {
                CD_DL_SYM(lib.write_new, "archive_write_new"),
                CD_DL_SYM(lib.write_free, "archive_write_free"),
                CD_DL_SYM(lib.write_set_format_pax_restricted,
                          "archive_write_set_format_pax_restricted"),
                CD_DL_SYM(lib.write_set_bytes_in_last_block,
                          "archive_write_set_bytes_in_last_block"),
                CD_DL_SYM(lib.write_open, "archive_write_open"),
                CD_DL_SYM(lib.write_header, "archive_write_header"),
                CD_DL_SYM(lib.write_data, "archive_write_data"),
                CD_DL_SYM(lib.write_close, "archive_write_close"),
                CD_DL_SYM(lib.set_error, "archive_set_error"),
                CD_DL_SYM(lib.entry_new2, "archive_entry_new2"),
                CD_DL_SYM(lib.entry_free, "archive_entry_free"),
                CD_DL_SYM(lib.entry_clear, "archive_entry_clear"),
                CD_DL_SYM(lib.entry_set_pathname, "archive_entry_set_pathname"),
                CD_DL_SYM(lib.entry_set_filetype, "archive_entry_set_filetype"),
                CD_DL_SYM(lib.entry_set_perm, "archive_entry_set_perm"),
                CD_DL_SYM(lib.entry_set_size, "archive_entry_set_size"),
                CD_DL_SYM(lib.entry_set_mtime, "archive_entry_set_mtime"),
        };
        struct cd_err why = { 0 };

        if (cd_dl_load(LIBARCHIVE, syms, ELEMENTSOF(syms), &why) == 0)
                return true;
        (void) cd_err_set(err, ELIBACC, "tar: load " LIBARCHIVE ": %s", why.msg);
        return false;
}

const struct cd_archive_lib *cd_archive_lib_get(struct cd_err *err)
{
        const struct cd_archive_lib *r = &lib;

        pthread_mutex_lock(&lock);
        if (!loaded)
                loaded = load(err);
        if (!loaded)
                r = NULL;
        pthread_mutex_unlock(&lock);
        return r;
}
