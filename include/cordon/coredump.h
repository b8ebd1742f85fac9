/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/resource.h>

#include "cordon/err.h"

/* The RLIMIT_CORE that keeps a crash of a process holding job data on the
 * host (0, or 1 under a piped core_pattern), or -EPERM when none does (a
 * core_pattern that sends dumps to a socket). */
int cd_core_limit(rlim_t *ret, struct cd_err *err);

/* The calling process's RLIMIT_CORE set to that, soft and hard, or an
 * error (a hard limit of 0 that a piped core_pattern needs raised). */
int cd_core_limit_set(struct cd_err *err);
