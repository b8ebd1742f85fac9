/* SPDX-License-Identifier: MIT */
/*
 * libmagic, loaded when artifacts are first sniffed rather than at every
 * exec of `cordon` and at cordond's start. Linked, it brought four shared
 * libraries (libmagic, liblzma, libbz2, libz) into every `cordon run -- ...`
 * that collects nothing, about 0.4 ms of each launch, and their pages into
 * an idle cordond (docs/performance.md). The three functions the sniffer
 * calls keep libmagic's own names and signatures, so sniff.c is written
 * against <magic.h> as usual; each forwards to libmagic.so.1's symbol,
 * resolved once, before the sniffer's fork (sniff.c), by cd_magic_load().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <magic.h>
#include <pthread.h>
#include <stdbool.h>

#include "artifacts-internal.h"
#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/util.h"

#define LIBMAGIC "libmagic.so.1"

static struct {
        bool loaded;
        magic_t (*open)(int);
        int (*load)(magic_t, const char *);
        const char *(*buffer)(magic_t, const void *, size_t);
} lib;

static pthread_once_t once = PTHREAD_ONCE_INIT;
/* Written by load(), read after pthread_once() returned. */
static struct cd_err why;

static void load(void)
{
        const struct cd_dl_sym syms[] = {
                CD_DL_SYM(lib.open, "magic_open"),
                CD_DL_SYM(lib.load, "magic_load"),
                CD_DL_SYM(lib.buffer, "magic_buffer"),
        };

        lib.loaded = cd_dl_load(LIBMAGIC, syms, ELEMENTSOF(syms), &why) == 0;
}

int cd_magic_load(struct cd_err *err)
{
        int r;

        if (cd_fault("magic_load"))
                return cd_err_set(err, CD_E_FAULT, "artifacts: injected fault loading " LIBMAGIC);
        r = pthread_once(&once, load);
        if (r != 0)
                return cd_err_set(err, r, "artifacts: load " LIBMAGIC);
        if (!lib.loaded)
                return cd_err_set(err, ELIBACC,
                                  "artifacts: load " LIBMAGIC ": %s (is libmagic1 installed?)",
                                  why.msg);
        return 0;
}

magic_t magic_open(int flags)
{
        if (!lib.loaded) {
                errno = ELIBACC;
                return NULL;
        }
        return lib.open(flags);
}

int magic_load(magic_t m, const char *file)
{
        if (!lib.loaded) {
                errno = ELIBACC;
                return -1;
        }
        return lib.load(m, file);
}

const char *magic_buffer(magic_t m, const void *buf, size_t len)
{
        return lib.loaded ? lib.buffer(m, buf, len) : NULL;
}
