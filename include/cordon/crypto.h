/* SPDX-License-Identifier: MIT */
#pragma once

#include <openssl/sha.h>
#include <stddef.h>

#include "cordon/err.h"

/*
 * SHA-256 from libcrypto, linked statically (unless the build sets
 * CORDON_STATIC_HELPERS=OFF): only its SHA-256 code and
 * CPU feature detection (about 20 KiB) come into the binary, and none of
 * it is exported. Linked as a shared library, libcrypto cost every `cordon
 * run` about 0.5 ms of relocations and copy-on-write faults for three
 * functions (docs/performance.md). The price: a libssl3 security update
 * reaches these hashes only when cordon is rebuilt (docs/operations.md).
 *
 * Context: any; no state beyond the caller's struct cd_sha256.
 */
#define CD_SHA256_LEN 32
#define CD_SHA256_HEX (2 * CD_SHA256_LEN + 1) /* 64 lowercase hex digits and a NUL */

struct cd_sha256 {
        SHA256_CTX ctx;
};

/* Begin a hash: 0 or -EIO with @err. After it succeeded, update and final
 * return 0 or -EIO. */
int cd_crypto_sha256_init(struct cd_sha256 *h, struct cd_err *err);
int cd_crypto_sha256_update(struct cd_sha256 *h, const void *data, size_t len);
int cd_crypto_sha256_final(struct cd_sha256 *h, unsigned char out[CD_SHA256_LEN]);
/* The same, as lowercase hex. */
int cd_crypto_sha256_final_hex(struct cd_sha256 *h, char out[CD_SHA256_HEX]);

/* SHA-256 of @len bytes as lowercase hex into @out: how an audit record
 * names something it must not hold, and how the audit chain links. Returns
 * 0, or -EIO with @err. (A digest made with the calls above is
 * written as hex by cd_hex(), cordon/util.h.) */
int cd_sha256_hex(const void *data, size_t len, char out[CD_SHA256_HEX], struct cd_err *err);
