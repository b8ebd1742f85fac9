/* SPDX-License-Identifier: MIT */
/* cordon logs ID [--stderr] [--follow]: what the job wrote. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cordon/cleanup.h"
#include "job.h"
#include "output.h"

#define FOLLOW_WAIT_S 1

static void help(void)
{
        printf("Usage: cordon logs ID [--stderr] [--follow] [--socket PATH]\n"
               "\n"
               "Print what job ID wrote to its stdout (or, with --stderr, its stderr) so far.\n"
               "cordond keeps at most output_max bytes of each (16M by default); a note on\n"
               "stderr says when the output was cut. On a terminal, control characters are\n"
               "shown as ^X, so a job cannot drive it; pipe to a file for the raw bytes.\n"
               "\n"
               "  -e, --stderr        the job's stderr instead of its stdout\n"
               "  -f, --follow        keep printing new output until the job has finished\n"
               "                      (each poll fetches only the bytes not printed yet)\n"
               "  --socket PATH       cordond's socket (default: $CORDON_SOCKET, else\n"
               "                      /run/cordon/cordon.sock)\n"
               "  -h, --help          show this help\n"
               "\n"
               "Examples:\n"
               "  cordon logs 3f2a9c0e5b7d41a8b6c2d9e0f1a2b3c4\n"
               "  cordon logs \"$id\" --stderr --follow\n"
               "  cordon logs \"$id\" > stdout.txt\n");
}

struct out {
        uint64_t skip; /* bytes already printed (--follow) */
        uint64_t got;  /* bytes of this answer so far */
        /* What the finished job's result says it wrote to the stream, and
         * so the most cordond can have kept; UINT64_MAX while unknown. */
        uint64_t cap;
        const char *stream; /* "stdout" or "stderr" */
        const struct cli_response *resp;
        bool escape;
        struct cd_tty_escape esc;
        const char *cmd;
};

/* A body starts at byte 0 (200), or where its Content-Range says (206). */
static int out_sink(void *data, const char *buf, size_t n)
{
        struct out *o = data;
        uint64_t start = o->resp->range_start + o->got;

        o->got += n;
        if (start > o->skip) {
                cli_error(o->cmd, "cordond answered bytes from %llu on, not from %llu",
                          (unsigned long long) start, (unsigned long long) o->skip);
                return CLI_EXIT_SERVER;
        }
        if (start + n <= o->skip)
                return 0;
        buf += o->skip - start;
        n -= (size_t) (o->skip - start);
        if (o->skip > o->cap || n > o->cap - o->skip) {
                cli_error(o->cmd, "cordond sent more than the %llu bytes the job's result reports",
                          (unsigned long long) o->cap);
                return CLI_EXIT_SERVER;
        }
        if (cli_write_escaped(stdout, buf, n, o->escape, &o->esc) < 0) {
                cli_error(o->cmd, "cannot write to stdout");
                return CLI_EXIT_IO;
        }
        o->skip += n;
        /* All of it: a stream that goes on (or stalls) is not waited for. */
        return o->skip == o->cap ? CLI_SINK_DONE : 0;
}

/*
 * Print the stream from byte o->skip on, asking only for those bytes: 416
 * means there are none yet. A cordond that ignores the Range answers the
 * whole stream (200), and the bytes already printed are skipped. Sets
 * *@truncated.
 */
static int fetch(struct cli_client *c, const char *path, const char *what, struct out *o,
                 bool *truncated)
{
        struct cli_response resp = { 0 };
        struct cli_request rq = {
                .path = path, .sink = out_sink, .sink_data = o, .range_from = o->skip
        };
        int r;

        o->got = 0;
        o->resp = &resp;
        r = cli_send(c, &rq, &resp);
        if (r == 0 && !(resp.status == 416 && o->skip > 0))
                r = cli_check(c, &resp, what);
        if (r == 0 && fflush(stdout) == EOF) {
                cli_error(o->cmd, "cannot write to stdout");
                r = CLI_EXIT_IO;
        }
        if (r == 0)
                *truncated = resp.truncated;
        o->resp = NULL;
        cli_response_clear(&resp);
        return r;
}

/* How many bytes finished @job wrote to @stream, by its result. */
static uint64_t stream_bytes(const json_t *job, const char *stream)
{
        const json_t *output = json_object_get(json_object_get(job, "result"), "output");
        const json_t *n;
        char key[32];

        (void) snprintf(key, sizeof(key), "%s_bytes", stream);
        n = json_object_get(output, key);
        return json_is_integer(n) && json_integer_value(n) >= 0 ? (uint64_t) json_integer_value(n)
                                                                : UINT64_MAX;
}

/* The job's state, after waiting up to @wait_s for it to finish; when it
 * has, o->cap. */
static int finished(struct cli_client *c, const char *id, const char *what, int wait_s,
                    struct out *o, bool *ret)
{
        char path[128];
        json_t *job = NULL;
        const char *state;
        int r;

        (void) snprintf(path, sizeof(path), "/v1/jobs/%s?wait=%d", id, wait_s);
        r = cli_call(c, "GET", path, what, wait_s + 60, &job);
        if (r != 0)
                return r;
        state = cli_job_state(job);
        if (!state) {
                cli_error("logs", "%s: cordond's answer has no valid state", what);
                r = CLI_EXIT_SERVER;
        } else {
                *ret = strcmp(state, "finished") == 0;
                if (*ret)
                        o->cap = stream_bytes(job, o->stream);
        }
        json_decref(job);
        return r;
}

static int follow(struct cli_client *c, const char *id, const char *path, const char *what,
                  struct out *o, bool *truncated)
{
        struct cli_pace pace = { 0 };
        bool done = false;
        int r;

        cli_catch_interrupts();
        for (int wait_s = 0; !done; wait_s = FOLLOW_WAIT_S) {
                uint64_t t0 = cd_now_ms();

                /* The state first: output fetched after "finished" is complete. */
                r = finished(c, id, what, wait_s, o, &done);
                /* Everything the finished job wrote is printed: nothing to
                 * ask for (a server holding the stream open would stall us). */
                if (r == 0 && o->skip < o->cap)
                        r = fetch(c, path, what, o, truncated);
                if (r == 0 && cli_interrupted())
                        r = CLI_EXIT_INTERRUPTED;
                if (r == 0 && !done &&
                    cli_pace(&pace, wait_s * 1000ULL, cd_now_ms() - t0, UINT64_MAX) < 0)
                        r = CLI_EXIT_INTERRUPTED;
                if (r != 0)
                        return r;
        }
        return 0;
}

int cmd_logs(int argc, char **argv)
{
        static const struct option options[] = {
                CLI_OPTION_HELP,
                CLI_OPTION_SOCKET,
                { "stderr", no_argument, NULL, 'e' },
                { "follow", no_argument, NULL, 'f' },
                {},
        };
        cleanup_with(cli_client_freep) struct cli_client *c = NULL;
        struct cli_common o = { 0 };
        struct out out = { .cmd = "logs",
                           .escape = cli_isatty(STDOUT_FILENO),
                           .cap = UINT64_MAX,
                           .esc = { .ascii_only = !cd_tty_locale_utf8() } };
        bool err_stream = false, follow_it = false, truncated = false, done = false;
        char path[128], what[96];
        const char *id;
        int ch, r;

        optind = 0;
        while ((ch = getopt_long(argc, argv, "hef", options, NULL)) != -1) {
                if (ch == 'h') {
                        help();
                        return 0;
                } else if (ch == 'e') {
                        err_stream = true;
                } else if (ch == 'f') {
                        follow_it = true;
                } else if (!cli_common_option(ch, optarg, &o)) {
                        return CLI_EXIT_USAGE;
                }
        }
        if (optind + 1 != argc) {
                cli_error("logs", "expected one job ID (see 'cordon logs --help')");
                return CLI_EXIT_USAGE;
        }
        id = argv[optind];
        if (!cli_job_id_ok("logs", id))
                return CLI_EXIT_USAGE;
        r = cli_client_new("logs", o.socket, &c);
        if (r != 0)
                return r;
        out.stream = err_stream ? "stderr" : "stdout";
        (void) snprintf(path, sizeof(path), "/v1/jobs/%s/%s", id, out.stream);
        (void) snprintf(what, sizeof(what), "job %s", id);
        /* Without --follow, the job first: a finished one's stream ends
         * at the count its result reports, whatever the answer does. */
        if (follow_it) {
                r = follow(c, id, path, what, &out, &truncated);
        } else {
                r = finished(c, id, what, 0, &out, &done);
                if (r == 0 && out.cap > 0)
                        r = fetch(c, path, what, &out, &truncated);
        }
        if (cli_write_escaped_end(stdout, out.escape, &out.esc) < 0 && r == 0) {
                cli_error("logs", "cannot write to stdout");
                r = CLI_EXIT_IO;
        }
        if (r == 0 && truncated)
                cli_error("logs", "note: the job wrote more; cordond kept the first %llu bytes",
                          (unsigned long long) out.skip);
        return r;
}
