/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cordon/cleanup.h"
#include "cordon/util.h"
#include "cordon/result.h"

static const char *const verdicts[_CD_VERDICT_MAX] = {
        [CD_VERDICT_OK] = "ok",
        [CD_VERDICT_FAILED] = "failed",
        [CD_VERDICT_SIGNALED] = "signaled",
        [CD_VERDICT_TIMEOUT] = "timeout",
        [CD_VERDICT_CPU_LIMIT] = "cpu_limit",
        [CD_VERDICT_OOM] = "oom",
        [CD_VERDICT_OUTPUT_LIMIT] = "output_limit",
        [CD_VERDICT_CANCELLED] = "cancelled",
        [CD_VERDICT_REJECTED] = "rejected",
        [CD_VERDICT_SETUP_ERROR] = "setup_error",
};

const char *cd_verdict_to_string(enum cd_verdict v)
{
        return (unsigned int) v < _CD_VERDICT_MAX ? verdicts[v] : NULL;
}

bool cd_verdict_yields_to_cancel(enum cd_verdict v)
{
        switch (v) {
        case CD_VERDICT_OK:
        case CD_VERDICT_FAILED:
        case CD_VERDICT_SIGNALED:
        case CD_VERDICT_OOM:
        case CD_VERDICT_OUTPUT_LIMIT:
                return true;
        default:
                return false;
        }
}

int cd_verdict_from_string(const char *s, enum cd_verdict *ret)
{
        for (int i = 0; i < _CD_VERDICT_MAX; i++)
                if (strcmp(s, verdicts[i]) == 0) {
                        *ret = (enum cd_verdict) i;
                        return 0;
                }
        return -EINVAL;
}

void cd_result_output_lost(struct cd_result *res)
{
        res->output_lost = true;
        if (!res->exec_failed &&
            (res->verdict == CD_VERDICT_OK || res->verdict == CD_VERDICT_FAILED))
                res->verdict = CD_VERDICT_SETUP_ERROR;
}

int cd_result_exit_status(const struct cd_result *res)
{
        switch (res->verdict) {
        case CD_VERDICT_OK:
        case CD_VERDICT_FAILED:
                if (res->exit_code >= 0)
                        return res->exit_code;
                if (res->exec_failed) /* as the shells say it */
                        return res->error.code == ENOENT ? CD_EXIT_NOT_FOUND : CD_EXIT_CANNOT_EXEC;
                return res->signal > 0 ? 128 + res->signal : CD_EXIT_SETUP_ERROR;
        case CD_VERDICT_SIGNALED:
                return 128 + res->signal;
        case CD_VERDICT_TIMEOUT:
                return CD_EXIT_TIMEOUT;
        case CD_VERDICT_CPU_LIMIT:
                return CD_EXIT_CPU_LIMIT;
        case CD_VERDICT_OOM:
                return CD_EXIT_OOM;
        case CD_VERDICT_OUTPUT_LIMIT:
                return CD_EXIT_OUTPUT_LIMIT;
        case CD_VERDICT_CANCELLED:
                return CD_EXIT_CANCELLED;
        case CD_VERDICT_REJECTED:
                return CD_EXIT_USAGE;
        case CD_VERDICT_SETUP_ERROR:
        case _CD_VERDICT_MAX:
                break;
        }
        return CD_EXIT_SETUP_ERROR;
}

/* Build an object from (key, value) pairs; the values' references are taken.
 * Returns NULL (and releases what it took) if any value is NULL. */
static json_t *object(size_t n, const char *const *keys, json_t **values)
{
        json_t *o = json_object();

        for (size_t i = 0; i < n; i++) {
                if (!o || !values[i] || json_object_set_new(o, keys[i], values[i]) < 0) {
                        for (size_t j = o ? i + 1 : i; j < n; j++)
                                json_decref(values[j]);
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

static json_t *u64(uint64_t v)
{
        return json_integer((json_int_t) v);
}

static json_t *limits_to_json(const struct cd_limits *l)
{
        static const char *const keys[] = { "memory_bytes", "cpus",      "pids",        "wall_ms",
                                            "cpu_time_ms",  "grace_ms",  "tmp_bytes",   "shm_bytes",
                                            "work_bytes",   "out_bytes", "fsize_bytes", "nofile" };
        json_t *values[] = {
                u64(l->memory_max_bytes), json_real((double) l->cpu_millis / 1000.0),
                u64(l->pids_max),         u64(l->wall_timeout_ms),
                u64(l->cpu_time_ms),      u64(l->grace_ms),
                u64(l->tmp_size_bytes),   u64(l->shm_size_bytes),
                u64(l->work_size_bytes),  u64(l->out_size_bytes),
                u64(l->fsize_bytes),      u64(l->nofile),
        };

        return object(ELEMENTSOF(keys), keys, values);
}

static json_t *signal_json(int sig)
{
        const char *name = sig > 0 ? sigabbrev_np(sig) : NULL;
        char buf[32];

        if (sig <= 0)
                return json_null();
        if (name)
                (void) snprintf(buf, sizeof(buf), "SIG%s", name);
        else /* real-time signals have no abbreviation */
                (void) snprintf(buf, sizeof(buf), "SIGRTMIN+%d", sig - SIGRTMIN);
        return json_string(buf);
}

/* A JSON string of @s, which jansson refuses unless it is valid UTF-8: a
 * message may hold an admin's path in another encoding, or be cut in the
 * middle of a character by its fixed buffer. Then every non-ASCII byte
 * becomes '?'. */
static json_t *string_lossy(const char *s)
{
        char buf[sizeof(((struct cd_err *) 0)->msg)];
        json_t *j = json_string(s);
        size_t n;

        if (j)
                return j;
        for (n = 0; s[n] && n + 1 < sizeof(buf); n++)
                buf[n] = (unsigned char) s[n] < 0x80 ? s[n] : '?';
        return json_stringn(buf, n);
}

static json_t *output_json(const struct cd_result *res)
{
        static const char *const keys[] = { "stdout_bytes", "stdout_truncated", "stderr_bytes",
                                            "stderr_truncated" };
        json_t *values[] = { u64(res->stdout_bytes), json_boolean(res->stdout_truncated),
                             u64(res->stderr_bytes), json_boolean(res->stderr_truncated) };

        return object(ELEMENTSOF(keys), keys, values);
}

static json_t *sandbox_json(const struct cd_result *res)
{
        static const char *const keys[] = { "cgroup", "host_uid", "landlock_abi" };
        json_t *values[] = { json_string(res->cgroup_mode ? res->cgroup_mode : "none"),
                             u64(res->host_uid), json_integer(res->landlock_abi) };

        return object(ELEMENTSOF(keys), keys, values);
}

void cd_result_clear(struct cd_result *res)
{
        cd_manifest_clear(&res->manifest);
        res->collected = false;
}

json_t *cd_result_to_json(const struct cd_result *res)
{
        static const char *const keys[] = { "verdict",
                                            "exit_code",
                                            "signal",
                                            "wall_ms",
                                            "user_cpu_ms",
                                            "system_cpu_ms",
                                            "peak_memory_bytes",
                                            "oom_kills",
                                            "pids_limit_hits",
                                            "output",
                                            "limits",
                                            "sandbox",
                                            "artifacts",
                                            "error" };
        json_t *values[] = {
                json_string(cd_verdict_to_string(res->verdict)),
                res->exit_code >= 0 ? json_integer(res->exit_code) : json_null(),
                signal_json(res->signal),
                u64(res->wall_ms),
                u64(res->user_cpu_ms),
                u64(res->system_cpu_ms),
                u64(res->peak_memory_bytes),
                u64(res->oom_kills),
                u64(res->pids_limit_hits),
                output_json(res),
                limits_to_json(&res->limits),
                sandbox_json(res),
                res->collected ? cd_manifest_to_json(&res->manifest) : json_null(),
                /* Messages are ours (step and errno), never job data. */
                res->error.code != 0 ? string_lossy(res->error.msg) : NULL,
        };

        return object(ELEMENTSOF(keys) - (res->error.code == 0), keys, values);
}
