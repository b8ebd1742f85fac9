/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 through libcrypto loaded with dlopen (see cordon/crypto.h for
 * why). The hashes are the SHA256_Init family: EVP's first digest of a
 * process loads OpenSSL's configuration and providers, about 0.9 ms, and
 * would sit on `cordon run`'s path to the job.started record
 * (docs/performance.md). The functions are deprecated since OpenSSL 3.0,
 * not removed, and compute the same SHA-256 with the same assembly
 * (SHA-NI where the CPU has it). A libcrypto without them fails to load
 * here, loudly, rather than hashing some other way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <openssl/opensslv.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include "cordon/cleanup.h"
#include "cordon/crypto.h"
#include "cordon/util.h"

#define STR_(x)   #x
#define STR(x)    STR_(x)
#define LIBCRYPTO "libcrypto.so." STR(OPENSSL_VERSION_MAJOR)

enum load_state { NOT_LOADING, LOADING, LOADED, FAILED };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static enum load_state state; /* under lock */
static pthread_t loader;      /* while LOADING */
/* Written by whoever loads, before the state says LOADED or FAILED. */
static struct cd_err why;
static struct {
        int (*init)(SHA256_CTX *);
        int (*update)(SHA256_CTX *, const void *, size_t);
        int (*final)(unsigned char *, SHA256_CTX *);
} fn;

static enum load_state load_now(void)
{
        const struct cd_dl_sym syms[] = {
                CD_DL_SYM(fn.init, "SHA256_Init"),
                CD_DL_SYM(fn.update, "SHA256_Update"),
                CD_DL_SYM(fn.final, "SHA256_Final"),
        };

        return cd_dl_load(LIBCRYPTO, syms, ELEMENTSOF(syms), &why) == 0 ? LOADED : FAILED;
}

static void *loader_main(void *arg)
{
        return load_now() == LOADED ? arg : NULL;
}

void cd_crypto_preload(void)
{
        sigset_t all, old;

        pthread_mutex_lock(&lock);
        if (state == NOT_LOADING) {
                /* The loader takes no signal: they are for the caller's threads. */
                (void) sigfillset(&all);
                if (pthread_sigmask(SIG_SETMASK, &all, &old) == 0) {
                        if (pthread_create(&loader, NULL, loader_main, &fn) == 0)
                                state = LOADING;
                        (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
                }
        }
        pthread_mutex_unlock(&lock);
}

/* The library's state once loading is over: wait for the preload, or load. */
static enum load_state ready(void)
{
        enum load_state s;
        void *ok = NULL;

        pthread_mutex_lock(&lock);
        if (state == LOADING)
                state = pthread_join(loader, &ok) == 0 && ok ? LOADED : FAILED;
        if (state == NOT_LOADING)
                state = load_now();
        s = state;
        pthread_mutex_unlock(&lock);
        return s;
}

int cd_crypto_load(struct cd_err *err)
{
        if (ready() != LOADED)
                return cd_err_set(err, ELIBACC, "crypto: load %s: %s", LIBCRYPTO,
                                  why.msg[0] ? why.msg : "the loading thread could not be joined");
        return 0;
}

int cd_crypto_sha256_init(struct cd_sha256 *h, struct cd_err *err)
{
        int r = cd_crypto_load(err);

        if (r < 0)
                return r;
        if (fn.init(&h->ctx) != 1)
                return cd_err_set(err, EIO, "crypto: SHA256_Init failed");
        return 0;
}

int cd_crypto_sha256_update(struct cd_sha256 *h, const void *data, size_t len)
{
        return fn.update(&h->ctx, data, len) == 1 ? 0 : -EIO;
}

int cd_crypto_sha256_final(struct cd_sha256 *h, unsigned char out[CD_SHA256_LEN])
{
        return fn.final(out, &h->ctx) == 1 ? 0 : -EIO;
}

int cd_crypto_sha256_final_hex(struct cd_sha256 *h, char out[CD_SHA256_HEX])
{
        unsigned char md[CD_SHA256_LEN];

        if (cd_crypto_sha256_final(h, md) < 0)
                return -EIO;
        cd_hex(md, CD_SHA256_LEN, out);
        return 0;
}

int cd_sha256_hex(const void *data, size_t len, char out[CD_SHA256_HEX], struct cd_err *err)
{
        struct cd_sha256 h;
        int r;

        r = cd_crypto_sha256_init(&h, err);
        if (r < 0)
                return r;
        if (cd_crypto_sha256_update(&h, data, len) < 0 || cd_crypto_sha256_final_hex(&h, out) < 0)
                return cd_err_set(err, EIO, "crypto: SHA-256 failed");
        return 0;
}
