/* SPDX-License-Identifier: MIT */
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "cordon/err.h"

/* The libarchive functions the tar writer (artifacts.c) uses, from
 * libarchive.so.13 loaded when a tar is first asked for (archive-load.c). */
struct cd_archive_lib {
        struct archive *(*write_new)(void);
        int (*write_free)(struct archive *);
        int (*write_set_format_pax_restricted)(struct archive *);
        int (*write_set_bytes_in_last_block)(struct archive *, int);
        int (*write_open)(struct archive *, void *, archive_open_callback *,
                          archive_write_callback *, archive_close_callback *);
        int (*write_header)(struct archive *, struct archive_entry *);
        la_ssize_t (*write_data)(struct archive *, const void *, size_t);
        int (*write_close)(struct archive *);
        void (*set_error)(struct archive *, int, const char *, ...);
        struct archive_entry *(*entry_new2)(struct archive *);
        void (*entry_free)(struct archive_entry *);
        struct archive_entry *(*entry_clear)(struct archive_entry *);
        void (*entry_set_pathname)(struct archive_entry *, const char *);
        void (*entry_set_filetype)(struct archive_entry *, unsigned int);
        void (*entry_set_perm)(struct archive_entry *, __LA_MODE_T);
        void (*entry_set_size)(struct archive_entry *, la_int64_t);
        void (*entry_set_mtime)(struct archive_entry *, time_t, long);
};

/* Load libarchive once per process (thread-safe); NULL and @err if it
 * cannot be. Context: a request thread of cordond. */
const struct cd_archive_lib *cd_archive_lib_get(struct cd_err *err);
