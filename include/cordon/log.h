/* SPDX-License-Identifier: MIT */
#pragma once

#include "cordon/err.h"

enum cd_log_level { CD_LOG_ERROR, CD_LOG_WARN, CD_LOG_INFO, CD_LOG_DEBUG };

/*
 * Log lines are one "key=value" record each on stderr:
 *         level=warn job=5f0c... msg="cgroup busy, retrying"
 * @job may be NULL. @fmt continues the record with more key=value pairs.
 * Never pass request bodies, environment values, user-chosen file names or
 * job output. Context: parent side only (never the post-clone child).
 */
void cd_log(enum cd_log_level level, const char *job, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Log @err as msg="..." (quoted, control characters escaped). */
void cd_log_err(enum cd_log_level level, const char *job, const struct cd_err *err);

/* Records below @level are dropped. Default: CD_LOG_INFO. */
void cd_log_set_level(enum cd_log_level level);

/* Parse "error", "warn", "info" or "debug". Returns 0 or -EINVAL. */
int cd_log_level_from_string(const char *s, enum cd_log_level *ret);

#define cd_log_error(job, ...) cd_log(CD_LOG_ERROR, job, __VA_ARGS__)
#define cd_log_warn(job, ...)  cd_log(CD_LOG_WARN, job, __VA_ARGS__)
#define cd_log_info(job, ...)  cd_log(CD_LOG_INFO, job, __VA_ARGS__)
#define cd_log_debug(job, ...) cd_log(CD_LOG_DEBUG, job, __VA_ARGS__)
