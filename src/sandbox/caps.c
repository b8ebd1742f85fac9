/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/securebits.h>
#include <sys/capability.h>

#include "sandbox-internal.h"

/* Locked, so nothing later can bring capabilities back: no root magic on
 * execve, no ambient raise, no keep-caps across a uid change. */
#define LOCKED_SECUREBITS                                                                          \
        (SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |                           \
         SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |   \
         SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

/*
 * libcap's calls here are thin wrappers around prctl(2) and capset(2) and
 * do not allocate; @nocaps was allocated by the parent (cap_init()).
 * Order matters: securebits and the bounding set need CAP_SETPCAP, which
 * cap_set_proc() removes last.
 */
int cd_caps_drop_child(cap_t nocaps, struct cd_err *err)
{
        if (cap_set_secbits(LOCKED_SECUREBITS) < 0)
                return cd_err_errno(err, "caps: lock securebits");
        for (cap_value_t c = 0; c < (cap_value_t) cap_max_bits(); c++)
                if (cap_drop_bound(c) < 0 && errno != EINVAL)
                        return cd_err_errno(err, "caps: drop bounding %d", c);
        if (cap_reset_ambient() < 0)
                return cd_err_errno(err, "caps: clear ambient");
        if (cap_set_proc(nocaps) < 0)
                return cd_err_errno(err, "caps: clear sets");
        if (cd_fault("caps"))
                return cd_err_set(err, CD_E_FAULT, "caps: injected fault");
        return 0;
}
