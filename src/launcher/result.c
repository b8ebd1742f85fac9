/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cordon/cleanup.h"
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

int cd_verdict_from_string(const char *s, enum cd_verdict *ret)
{
        for (int i = 0; i < _CD_VERDICT_MAX; i++)
                if (strcmp(s, verdicts[i]) == 0) {
                        *ret = (enum cd_verdict) i;
                        return 0;
                }
        return -EINVAL;
}

int cd_result_exit_status(const struct cd_result *res)
{
        switch (res->verdict) {
        case CD_VERDICT_OK:
        case CD_VERDICT_FAILED:
                if (res->exit_code >= 0)
                        return res->exit_code;
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

static json_t *limits_to_json(const struct cd_limits *l)
{
        return json_pack("{s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                         "memory_bytes", (json_int_t) l->memory_max_bytes, "cpus",
                         (double) l->cpu_millis / 1000.0, "pids", (json_int_t) l->pids_max,
                         "wall_ms", (json_int_t) l->wall_timeout_ms, "cpu_time_ms",
                         (json_int_t) l->cpu_time_ms, "grace_ms", (json_int_t) l->grace_ms,
                         "tmp_bytes", (json_int_t) l->tmp_size_bytes, "shm_bytes",
                         (json_int_t) l->shm_size_bytes, "work_bytes",
                         (json_int_t) l->work_size_bytes, "out_bytes",
                         (json_int_t) l->out_size_bytes, "fsize_bytes",
                         (json_int_t) l->fsize_bytes, "nofile", (json_int_t) l->nofile);
}

static json_t *signal_json(int sig)
{
        const char *name = sig > 0 ? sigabbrev_np(sig) : NULL;
        char buf[32];

        if (!name)
                return json_null();
        (void) snprintf(buf, sizeof(buf), "SIG%s", name);
        return json_string(buf);
}

json_t *cd_result_to_json(const struct cd_result *res)
{
        json_t *o = json_pack(
                "{s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:b, s:I, s:b}, s:o, "
                "s:{s:s, s:I, s:i}}",
                "verdict", cd_verdict_to_string(res->verdict), "exit_code",
                res->exit_code >= 0 ? json_integer(res->exit_code) : json_null(), "signal",
                signal_json(res->signal), "wall_ms", (json_int_t) res->wall_ms, "user_cpu_ms",
                (json_int_t) res->user_cpu_ms, "system_cpu_ms", (json_int_t) res->system_cpu_ms,
                "peak_memory_bytes", (json_int_t) res->peak_memory_bytes, "oom_kills",
                (json_int_t) res->oom_kills, "pids_limit_hits", (json_int_t) res->pids_limit_hits,
                "output", "stdout_bytes", (json_int_t) res->stdout_bytes, "stdout_truncated",
                res->stdout_truncated, "stderr_bytes", (json_int_t) res->stderr_bytes,
                "stderr_truncated", res->stderr_truncated, "limits",
                limits_to_json(&res->limits), "sandbox", "cgroup", res->cgroup_mode,
                "host_uid", (json_int_t) res->host_uid, "landlock_abi", res->landlock_abi);

        if (o && res->error.code != 0 &&
            json_object_set_new(o, "error", json_string(res->error.msg)) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}
