/* SPDX-License-Identifier: MIT */
/* cordon status ID: one job as cordond has it. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cordon/cleanup.h"
#include "cordon/util.h"
#include "job.h"
#include "output.h"

static void help(void)
{
        printf("Usage: cordon status ID [--json] [--socket PATH]\n"
               "\n"
               "Show job ID: its state (queued with its place in the queue, running, or\n"
               "finished with its verdict), profile, labels, times, resource use and\n"
               "artifacts. Exits 0 whatever the job's verdict; 'cordon wait ID' exits with it.\n"
               "\n" CLI_COMMON_HELP "\n"
               "Examples:\n"
               "  cordon status 3f2a9c0e5b7d41a8b6c2d9e0f1a2b3c4\n"
               "  cordon status \"$id\" --json | jq -r .verdict\n");
}

static uint64_t u64_of(const json_t *o, const char *key)
{
        const json_t *v = json_object_get(o, key);

        return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t) json_integer_value(v)
                                                               : 0;
}

static void row(const char *key, const char *value)
{
        printf("%-10s %s\n", key, value);
}

static void state_line(const json_t *job, bool colour)
{
        const char *state = cli_job_str(job, "state"), *verdict = cli_job_str(job, "verdict");
        const json_t *pos = json_object_get(job, "queue_position");
        char text[192] = "", took[160];
        int64_t t0;

        if (state && strcmp(state, "finished") == 0) {
                cli_job_outcome(job, took, sizeof(took));
                (void) snprintf(text, sizeof(text), "finished: %s", took);
        } else if (state && strcmp(state, "queued") == 0 && json_is_integer(pos)) {
                (void) snprintf(text, sizeof(text), "queued, position %lld",
                                (long long) json_integer_value(pos));
        } else if (state && strcmp(state, "running") == 0 &&
                   cli_parse_time(json_object_get(job, "started"), &t0) == 0) {
                int64_t now = (int64_t) cd_wall_ms();

                cli_human_ms(now > t0 ? (uint64_t) (now - t0) : 0, took, sizeof(took));
                (void) snprintf(text, sizeof(text), "running for %s", took);
        } else {
                (void) snprintf(text, sizeof(text), "%s", state ? state : "?");
        }
        printf("%-10s %s%s%s\n", "state", cli_sgr(colour, cli_verdict_colour(state, verdict)), text,
               cli_sgr(colour, CLI_PLAIN));
}

static void times(const json_t *job, bool tty)
{
        static const char *const keys[] = { "created", "started", "finished" };
        char buf[96];

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const json_t *t = json_object_get(job, keys[i]);

                if (json_is_null(t) || !t)
                        continue;
                cli_human_time(t, tty, buf, sizeof(buf));
                row(keys[i], buf);
        }
}

static void usage_rows(const json_t *result)
{
        const json_t *out = json_object_get(result, "output");
        const json_t *limits = json_object_get(result, "limits");
        char a[32], b[32], buf[160];

        if (!json_is_object(result))
                return;
        cli_human_ms(u64_of(result, "user_cpu_ms"), a, sizeof(a));
        cli_human_ms(u64_of(result, "system_cpu_ms"), b, sizeof(b));
        (void) snprintf(buf, sizeof(buf), "%s user, %s system", a, b);
        row("cpu", buf);
        cli_human_bytes(u64_of(result, "peak_memory_bytes"), a, sizeof(a));
        cli_human_bytes(u64_of(limits, "memory_bytes"), b, sizeof(b));
        (void) snprintf(buf, sizeof(buf), "%s peak of %s", a, b);
        row("memory", buf);
        cli_human_bytes(u64_of(out, "stdout_bytes"), a, sizeof(a));
        cli_human_bytes(u64_of(out, "stderr_bytes"), b, sizeof(b));
        (void) snprintf(
                buf, sizeof(buf), "stdout %s%s, stderr %s%s", a,
                json_is_true(json_object_get(out, "stdout_truncated")) ? " (truncated)" : "", b,
                json_is_true(json_object_get(out, "stderr_truncated")) ? " (truncated)" : "");
        row("output", buf);
}

static void artifacts_row(const json_t *result, const char *id)
{
        const json_t *m = json_object_get(result, "artifacts"), *e;
        size_t i, taken = 0, refused = 0;
        uint64_t bytes = 0;
        char size[32], buf[192];

        if (!json_is_array(m))
                return;
        json_array_foreach(m, i, e)
        {
                if (json_object_get(e, "sha256")) {
                        taken++;
                        bytes += u64_of(e, "size");
                } else {
                        refused++;
                }
        }
        cli_human_bytes(bytes, size, sizeof(size));
        if (refused)
                (void) snprintf(buf, sizeof(buf),
                                "%zu taken (%s), %zu refused: cordon artifacts %s", taken, size,
                                refused, id);
        else
                (void) snprintf(buf, sizeof(buf), "%zu taken (%s): cordon artifacts %s", taken,
                                size, id);
        row("artifacts", buf);
}

static void show(const json_t *job)
{
        bool colour = cli_colour(STDOUT_FILENO), tty = cli_isatty(STDOUT_FILENO);
        const json_t *result = json_object_get(job, "result");
        const char *error = json_string_value(json_object_get(result, "error"));
        const char *id = cli_job_str(job, "id");
        cleanup_free char *labels = cli_labels_text(json_object_get(job, "labels"));
        char buf[64];

        row("job", id ? id : "?");
        state_line(job, colour);
        row("profile", cli_job_str(job, "profile") ?: "?");
        (void) snprintf(buf, sizeof(buf), "uid %lld",
                        (long long) json_integer_value(json_object_get(job, "owner_uid")));
        row("owner", buf);
        row("labels", labels ? labels : "?");
        times(job, tty);
        usage_rows(result);
        if (error) {
                cleanup_free char *e = cli_escape(error);

                row("error", e ? e : "?");
        }
        if (id)
                artifacts_row(result, id);
}

int cmd_status(int argc, char **argv)
{
        cleanup_with(cli_client_freep) struct cli_client *c = NULL;
        struct cli_common o = { 0 };
        json_t *job = NULL;
        char path[128], what[96];
        int r;

        r = cli_parse_args(argc, argv, "status", help, 1, 1, &o);
        if (r != 0)
                return r < 0 ? 0 : r;
        r = cli_client_new("status", o.socket, &c);
        if (r != 0)
                return r;
        (void) snprintf(path, sizeof(path), "/v1/jobs/%s", argv[optind]);
        (void) snprintf(what, sizeof(what), "job %s", argv[optind]);
        r = cli_call(c, "GET", path, what, 0, &job);
        if (r != 0)
                return r;
        if (o.json)
                r = cli_print_json(job);
        else
                show(job);
        json_decref(job);
        return r;
}
