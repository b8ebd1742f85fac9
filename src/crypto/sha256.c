/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 from libcrypto's SHA256_Init family, linked statically (see
 * cordon/crypto.h for why). EVP's first digest of a process loads OpenSSL's
 * configuration and providers, about 0.9 ms, and would sit on `cordon
 * run`'s path to the job.started record (docs/performance.md). The
 * functions are deprecated since OpenSSL 3.0, not removed, and compute the
 * same SHA-256 with the same assembly (SHA-NI where the CPU has it).
 */
#define _GNU_SOURCE
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <errno.h>

#include "cordon/crypto.h"
#include "cordon/util.h"

int cd_crypto_sha256_init(struct cd_sha256 *h, struct cd_err *err)
{
        if (SHA256_Init(&h->ctx) != 1)
                return cd_err_set(err, EIO, "crypto: SHA256_Init failed");
        return 0;
}

int cd_crypto_sha256_update(struct cd_sha256 *h, const void *data, size_t len)
{
        return SHA256_Update(&h->ctx, data, len) == 1 ? 0 : -EIO;
}

int cd_crypto_sha256_final(struct cd_sha256 *h, unsigned char out[CD_SHA256_LEN])
{
        return SHA256_Final(out, &h->ctx) == 1 ? 0 : -EIO;
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
