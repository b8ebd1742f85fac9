/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cordon/err.h"
#include "cordon/plan.h"

/*
 * One definition per limit, shared by `cordon run`'s flags, the profile
 * keys and validation: "memory" is --memory and "limits": {"memory": ...};
 * "cpu_time" is --cpu-time.
 */
enum cd_limit_kind {
        CD_LIMIT_SIZE,     /* bytes: "1G", 1073741824 */
        CD_LIMIT_DURATION, /* milliseconds: "300s", "5m" */
        CD_LIMIT_COUNT,    /* a plain number */
        CD_LIMIT_CPUS,     /* thousandths of a CPU: "0.5", 0.5 */
};

struct cd_limit_def {
        const char *name; /* the profile key; the flag is this with '-' for '_' */
        enum cd_limit_kind kind;
        size_t offset; /* of the uint64_t in struct cd_limits */
        uint64_t min, max;
};

extern const struct cd_limit_def cd_limit_defs[];
extern const size_t cd_n_limit_defs;

/* The definition named @name ("cpu_time" or "cpu-time"), or NULL. */
const struct cd_limit_def *cd_limit_find(const char *name);

/* The field of @l that @d describes. */
uint64_t *cd_limit_field(struct cd_limits *l, const struct cd_limit_def *d);
uint64_t cd_limit_get(const struct cd_limits *l, const struct cd_limit_def *d);

/* Parse @text by @d's kind. Returns 0, -EINVAL or -ERANGE. Bounds are not checked. */
int cd_limit_parse(const struct cd_limit_def *d, const char *text, uint64_t *ret);

/* Format @value in @d's unit for messages ("512M", "300s", "0.5", "256"),
 * cut to fit @size (nothing written when @size is 0). */
void cd_limit_format(const struct cd_limit_def *d, uint64_t value, char *buf, size_t size);

/* True if @a is a looser limit than @b (cpu_time 0 means none: the loosest). */
bool cd_limit_above(const struct cd_limit_def *d, uint64_t a, uint64_t b);

/* "--cpu-time" for "cpu_time", into @buf: cut to fit, always terminated
 * (empty below 3 bytes; nothing written when @size is 0). */
void cd_limit_flag(const struct cd_limit_def *d, char *buf, size_t size);

/* Check @value against @d's bounds; @err says "<label>: <value> is outside
 * [min, max]" in @d's units. @label names the flag or the profile key. */
int cd_limit_check(const struct cd_limit_def *d, const char *label, uint64_t value,
                   struct cd_err *err);
