/* SPDX-License-Identifier: MIT */
#pragma once

#include "cordon/err.h"

/* The calling process's RLIMIT_CORE set, soft and hard, to the value that
 * keeps a crash of a process holding job data on the host: 0, or 1 under a
 * piped core_pattern. An error when none does (a core_pattern that sends
 * dumps to a socket) or when 1 is above the inherited hard limit. */
int cd_core_limit_set(struct cd_err *err);
