/* SPDX-License-Identifier: MIT */
#pragma once

#include <openssl/sha.h>
#include <stddef.h>

#include "cordon/err.h"

/*
 * SHA-256 from libcrypto, which is loaded at run time (dlopen) rather than
 * linked: loading it is about half a millisecond of relocations and
 * copy-on-write faults, which every `cordon run` would otherwise pay before
 * main() (docs/performance.md). cd_crypto_preload() starts loading it on a
 * thread of its own, while the caller goes on with other work; the first
 * hash waits for it, or loads it then if nothing did. A library that cannot
 * be loaded fails every hash, with the loader's reason.
 *
 * Context: parent only (a mutex guards the loading); never in a post-clone
 * child.
 */
#define CD_SHA256_LEN 32
#define CD_SHA256_HEX (2 * CD_SHA256_LEN + 1) /* 64 lowercase hex digits and a NUL */

struct cd_sha256 {
        SHA256_CTX ctx;
};

/* Start loading libcrypto on a thread of its own. Call it before any other
 * thread changes credentials (glibc's setgroups() and friends reach every
 * thread); a thread that cannot be started is not an error (the first hash
 * loads the library itself). */
void cd_crypto_preload(void);

/* Load libcrypto now (or wait for the preload). 0, or -ELIBACC with an
 * error naming the library and what the loader said. */
int cd_crypto_load(struct cd_err *err);

/* Begin a hash: 0, -ELIBACC (libcrypto could not be loaded: @err says why)
 * or -EIO. After it succeeded, update and final return 0 or -EIO. */
int cd_crypto_sha256_init(struct cd_sha256 *h, struct cd_err *err);
int cd_crypto_sha256_update(struct cd_sha256 *h, const void *data, size_t len);
int cd_crypto_sha256_final(struct cd_sha256 *h, unsigned char out[CD_SHA256_LEN]);
/* The same, as lowercase hex. */
int cd_crypto_sha256_final_hex(struct cd_sha256 *h, char out[CD_SHA256_HEX]);

/* SHA-256 of @len bytes as lowercase hex into @out: how an audit record
 * names something it must not hold, and how the audit chain links. Returns
 * 0, or -ELIBACC or -EIO with @err. (A digest made with the calls above is
 * written as hex by cd_hex(), cordon/util.h.) */
int cd_sha256_hex(const void *data, size_t len, char out[CD_SHA256_HEX], struct cd_err *err);
