/* SPDX-License-Identifier: MIT */
/*
 * libcurl, loaded when a subcommand first talks to cordond rather than at
 * every exec of `cordon`. Linking it pulled about 30 more shared libraries
 * (GnuTLS, nghttp2, LDAP, Kerberos, ...) into every `cordon run`, which
 * added ~9 ms to each launch (docs/performance.md) for code `run` never
 * calls. The functions below have libcurl's own names and signatures, so
 * client.c is written against <curl/curl.h> as usual; each one forwards to
 * the symbol of libcurl.so.4, resolved once by curl_global_init().
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <stdarg.h>
#include <stdbool.h>

#include "client.h"
#include "cordon/cleanup.h"
#include "cordon/util.h"

/* curl.h turns these names into type-checking macros under GCC. */
#undef curl_easy_setopt
#undef curl_easy_getinfo

#define LIBCURL "libcurl.so.4"

static struct {
        bool loaded;
        CURLcode (*global_init)(long);
        void (*global_cleanup)(void);
        CURL *(*easy_init)(void);
        void (*easy_cleanup)(CURL *);
        void (*easy_reset)(CURL *);
        CURLcode (*easy_perform)(CURL *);
        CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
        CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
        const char *(*easy_strerror)(CURLcode);
        curl_mime *(*mime_init)(CURL *);
        void (*mime_free)(curl_mime *);
        curl_mimepart *(*mime_addpart)(curl_mime *);
        CURLcode (*mime_name)(curl_mimepart *, const char *);
        CURLcode (*mime_filename)(curl_mimepart *, const char *);
        CURLcode (*mime_type)(curl_mimepart *, const char *);
        CURLcode (*mime_data)(curl_mimepart *, const char *, size_t);
        CURLcode (*mime_data_cb)(curl_mimepart *, curl_off_t, curl_read_callback,
                                 curl_seek_callback, curl_free_callback, void *);
        struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
        void (*slist_free_all)(struct curl_slist *);
} lib;
static struct cd_err why; /* when the load failed: the loader's reason */

static bool load(void)
{
        const struct cd_dl_sym syms[] = {
                CD_DL_SYM(lib.global_init, "curl_global_init"),
                CD_DL_SYM(lib.global_cleanup, "curl_global_cleanup"),
                CD_DL_SYM(lib.easy_init, "curl_easy_init"),
                CD_DL_SYM(lib.easy_cleanup, "curl_easy_cleanup"),
                CD_DL_SYM(lib.easy_reset, "curl_easy_reset"),
                CD_DL_SYM(lib.easy_perform, "curl_easy_perform"),
                CD_DL_SYM(lib.easy_setopt, "curl_easy_setopt"),
                CD_DL_SYM(lib.easy_getinfo, "curl_easy_getinfo"),
                CD_DL_SYM(lib.easy_strerror, "curl_easy_strerror"),
                CD_DL_SYM(lib.mime_init, "curl_mime_init"),
                CD_DL_SYM(lib.mime_free, "curl_mime_free"),
                CD_DL_SYM(lib.mime_addpart, "curl_mime_addpart"),
                CD_DL_SYM(lib.mime_name, "curl_mime_name"),
                CD_DL_SYM(lib.mime_filename, "curl_mime_filename"),
                CD_DL_SYM(lib.mime_type, "curl_mime_type"),
                CD_DL_SYM(lib.mime_data, "curl_mime_data"),
                CD_DL_SYM(lib.mime_data_cb, "curl_mime_data_cb"),
                CD_DL_SYM(lib.slist_append, "curl_slist_append"),
                CD_DL_SYM(lib.slist_free_all, "curl_slist_free_all"),
        };

        if (!lib.loaded)
                lib.loaded = cd_dl_load(LIBCURL, syms, ELEMENTSOF(syms), &why) == 0;
        return lib.loaded;
}

const char *cli_curl_load_error(void)
{
        return lib.loaded ? "" : why.msg;
}

CURLcode curl_global_init(long flags)
{
        return load() ? lib.global_init(flags) : CURLE_FAILED_INIT;
}

/* The others are reached only after curl_global_init() succeeded. */
void curl_global_cleanup(void)
{
        if (lib.loaded)
                lib.global_cleanup();
}

CURL *curl_easy_init(void)
{
        return lib.loaded ? lib.easy_init() : NULL;
}

void curl_easy_cleanup(CURL *c)
{
        lib.easy_cleanup(c);
}

void curl_easy_reset(CURL *c)
{
        lib.easy_reset(c);
}

CURLcode curl_easy_perform(CURL *c)
{
        return lib.easy_perform(c);
}

/* One argument whose type the option's number range gives (curl.h:
 * CURLOPTTYPE_LONG, _OBJECTPOINT, _FUNCTIONPOINT, _OFF_T, _BLOB). */
CURLcode curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
        CURLcode r;
        va_list ap;

        va_start(ap, opt);
        if (opt < CURLOPTTYPE_OBJECTPOINT)
                r = lib.easy_setopt(c, opt, va_arg(ap, long));
        else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
                r = lib.easy_setopt(c, opt, va_arg(ap, void *));
        else if (opt < CURLOPTTYPE_OFF_T)
                r = lib.easy_setopt(c, opt, va_arg(ap, void (*)(void)));
        else if (opt < CURLOPTTYPE_BLOB)
                r = lib.easy_setopt(c, opt, va_arg(ap, curl_off_t));
        else
                r = lib.easy_setopt(c, opt, va_arg(ap, void *));
        va_end(ap);
        return r;
}

/* Every CURLINFO takes a pointer to where the value goes. */
CURLcode curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
        CURLcode r;
        va_list ap;

        va_start(ap, info);
        r = lib.easy_getinfo(c, info, va_arg(ap, void *));
        va_end(ap);
        return r;
}

const char *curl_easy_strerror(CURLcode code)
{
        return lib.loaded ? lib.easy_strerror(code) : "libcurl.so.4 could not be loaded";
}

curl_mime *curl_mime_init(CURL *c)
{
        return lib.mime_init(c);
}

void curl_mime_free(curl_mime *m)
{
        if (lib.loaded)
                lib.mime_free(m);
}

curl_mimepart *curl_mime_addpart(curl_mime *m)
{
        return lib.mime_addpart(m);
}

CURLcode curl_mime_name(curl_mimepart *p, const char *name)
{
        return lib.mime_name(p, name);
}

CURLcode curl_mime_filename(curl_mimepart *p, const char *name)
{
        return lib.mime_filename(p, name);
}

CURLcode curl_mime_type(curl_mimepart *p, const char *type)
{
        return lib.mime_type(p, type);
}

CURLcode curl_mime_data(curl_mimepart *p, const char *data, size_t size)
{
        return lib.mime_data(p, data, size);
}

CURLcode curl_mime_data_cb(curl_mimepart *p, curl_off_t size, curl_read_callback rd,
                           curl_seek_callback seek, curl_free_callback fr, void *arg)
{
        return lib.mime_data_cb(p, size, rd, seek, fr, arg);
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
        return lib.loaded ? lib.slist_append(list, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
        if (lib.loaded)
                lib.slist_free_all(list);
}
