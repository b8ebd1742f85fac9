/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cordon/cleanup.h"
#include "cordon/limits.h"
#include "cordon/util.h"

#define DEF(n, k, field, lo, hi)                                                                   \
        {                                                                                          \
                n, k, offsetof(struct cd_limits, field), lo, hi                                    \
        }

const struct cd_limit_def cd_limit_defs[] = {
        DEF("memory", CD_LIMIT_SIZE, memory_max_bytes, CD_MIN_MEMORY_BYTES, CD_MAX_MEMORY_BYTES),
        DEF("cpus", CD_LIMIT_CPUS, cpu_millis, 10, CD_MAX_CPU_MILLIS),
        DEF("pids", CD_LIMIT_COUNT, pids_max, 2, CD_MAX_PIDS),
        DEF("wall", CD_LIMIT_DURATION, wall_timeout_ms, 1, CD_MAX_TIMEOUT_MS),
        DEF("cpu_time", CD_LIMIT_DURATION, cpu_time_ms, 0, CD_MAX_TIMEOUT_MS), /* 0: none */
        DEF("grace", CD_LIMIT_DURATION, grace_ms, 0, 60ULL * 1000),
        DEF("tmp_size", CD_LIMIT_SIZE, tmp_size_bytes, CD_MIN_FS_BYTES, CD_MAX_FS_BYTES),
        DEF("shm_size", CD_LIMIT_SIZE, shm_size_bytes, CD_MIN_FS_BYTES, CD_MAX_FS_BYTES),
        DEF("work_size", CD_LIMIT_SIZE, work_size_bytes, CD_MIN_FS_BYTES, CD_MAX_FS_BYTES),
        DEF("out_size", CD_LIMIT_SIZE, out_size_bytes, CD_MIN_FS_BYTES, CD_MAX_FS_BYTES),
        DEF("fsize", CD_LIMIT_SIZE, fsize_bytes, 1, CD_MAX_FS_BYTES),
        DEF("nofile", CD_LIMIT_COUNT, nofile, 16, CD_MAX_NOFILE),
};

const size_t cd_n_limit_defs = ELEMENTSOF(cd_limit_defs);

const struct cd_limit_def *cd_limit_find(const char *name)
{
        for (size_t i = 0; i < cd_n_limit_defs; i++) {
                const char *a = cd_limit_defs[i].name, *b = name;

                while (*a && (*a == *b || (*a == '_' && *b == '-'))) {
                        a++;
                        b++;
                }
                if (*a == '\0' && *b == '\0')
                        return &cd_limit_defs[i];
        }
        return NULL;
}

uint64_t *cd_limit_field(struct cd_limits *l, const struct cd_limit_def *d)
{
        return (uint64_t *) ((char *) l + d->offset);
}

uint64_t cd_limit_get(const struct cd_limits *l, const struct cd_limit_def *d)
{
        return *(const uint64_t *) ((const char *) l + d->offset);
}

int cd_limit_parse(const struct cd_limit_def *d, const char *text, uint64_t *ret)
{
        switch (d->kind) {
        case CD_LIMIT_SIZE:
                return cd_parse_size(text, ret);
        case CD_LIMIT_DURATION:
                return cd_parse_duration_ms(text, ret);
        case CD_LIMIT_COUNT:
                return cd_parse_u64(text, ret);
        case CD_LIMIT_CPUS:
                return cd_parse_millicpus(text, ret);
        }
        return -EINVAL;
}

static void format_size(uint64_t v, char *buf, size_t size)
{
        static const char units[] = "KMGT";
        int u = -1;

        while (u < 3 && v >= 1024 && v % 1024 == 0) {
                v /= 1024;
                u++;
        }
        if (u < 0)
                (void) snprintf(buf, size, "%" PRIu64, v);
        else
                (void) snprintf(buf, size, "%" PRIu64 "%c", v, units[u]);
}

static void format_duration(uint64_t ms, char *buf, size_t size)
{
        if (ms % 3600000 == 0 && ms)
                (void) snprintf(buf, size, "%" PRIu64 "h", ms / 3600000);
        else if (ms % 60000 == 0 && ms)
                (void) snprintf(buf, size, "%" PRIu64 "m", ms / 60000);
        else if (ms % 1000 == 0)
                (void) snprintf(buf, size, "%" PRIu64 "s", ms / 1000);
        else
                (void) snprintf(buf, size, "%" PRIu64 "ms", ms);
}

void cd_limit_format(const struct cd_limit_def *d, uint64_t v, char *buf, size_t size)
{
        if (size == 0)
                return;
        switch (d->kind) {
        case CD_LIMIT_SIZE:
                format_size(v, buf, size);
                return;
        case CD_LIMIT_DURATION:
                if (v == 0 && strcmp(d->name, "cpu_time") == 0)
                        (void) snprintf(buf, size, "none");
                else
                        format_duration(v, buf, size);
                return;
        case CD_LIMIT_CPUS:
                if (v % 1000 == 0)
                        (void) snprintf(buf, size, "%" PRIu64, v / 1000);
                else
                        (void) snprintf(buf, size, "%" PRIu64 ".%03" PRIu64, v / 1000, v % 1000);
                /* "0.500" reads better as "0.5" */
                for (size_t n = strlen(buf); n > 0 && strchr(buf, '.') && buf[n - 1] == '0'; n--)
                        buf[n - 1] = '\0';
                return;
        case CD_LIMIT_COUNT:
                break;
        }
        (void) snprintf(buf, size, "%" PRIu64, v);
}

bool cd_limit_above(const struct cd_limit_def *d, uint64_t a, uint64_t b)
{
        if (strcmp(d->name, "cpu_time") == 0) {
                if (a == 0)
                        return b != 0;
                if (b == 0)
                        return false;
        }
        return a > b;
}

void cd_limit_flag(const struct cd_limit_def *d, char *buf, size_t size)
{
        size_t n = 0;

        if (size < 3) {
                if (size > 0)
                        buf[0] = '\0';
                return;
        }
        buf[n++] = '-';
        buf[n++] = '-';
        for (const char *p = d->name; *p && n + 1 < size; p++)
                buf[n++] = *p == '_' ? '-' : *p;
        buf[n] = '\0';
}

int cd_limit_check(const struct cd_limit_def *d, const char *label, uint64_t v, struct cd_err *err)
{
        char val[32], lo[32], hi[32];

        if (v >= d->min && v <= d->max)
                return 0;
        cd_limit_format(d, v, val, sizeof(val));
        cd_limit_format(d, d->min, lo, sizeof(lo));
        cd_limit_format(d, d->max, hi, sizeof(hi));
        return cd_err_set(err, CD_E_INVALID, "%s: %s is outside [%s, %s]", label, val, lo, hi);
}
