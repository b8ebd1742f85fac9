/* SPDX-License-Identifier: MIT */
/* Waiting for a job and turning its verdict into an exit status (job.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cordon/cleanup.h"
#include "cordon/result.h"
#include "cordon/util.h"
#include "job.h"
#include "output.h"

#define WAIT_S      60
#define LIVE_WAIT_S 2
/* How long after --timeout a poll's answer may still arrive. */
#define DEADLINE_MARGIN_MS 2000
#define PACE_FIRST_MS      250
#define PACE_MAX_MS        4000

const char *cli_job_str(const json_t *job, const char *key)
{
        return cli_token(json_string_value(json_object_get(job, key)));
}

const char *cli_job_state(const json_t *job)
{
        static const char *const states[] = { "queued", "running", "finished" };
        const char *s = json_string_value(json_object_get(job, "state"));

        for (size_t i = 0; s && i < ELEMENTSOF(states); i++)
                if (strcmp(s, states[i]) == 0)
                        return states[i];
        return NULL;
}

int cli_pace(struct cli_pace *p, uint64_t asked_ms, uint64_t took_ms, uint64_t deadline_ms)
{
        uint64_t now = cd_now_ms(), pause;

        if (took_ms >= asked_ms / 2) {
                p->gap_ms = 0;
                return 0;
        }
        p->gap_ms = p->gap_ms == 0 ? PACE_FIRST_MS : p->gap_ms * 2;
        if (p->gap_ms > PACE_MAX_MS)
                p->gap_ms = PACE_MAX_MS;
        pause = p->gap_ms;
        if (deadline_ms != UINT64_MAX)
                pause = deadline_ms > now ? (deadline_ms - now < pause ? deadline_ms - now : pause)
                                          : 0;
        return cli_sleep_ms(pause);
}

/* "SIGKILL" -> 9, "SIGRTMIN+3" -> SIGRTMIN+3; 0 when unknown. */
static int signal_number(const char *name)
{
        uint64_t n;

        if (!name || strncmp(name, "SIG", 3) != 0)
                return 0;
        if (strncmp(name, "SIGRTMIN+", 9) == 0)
                return cd_parse_u64(name + 9, &n) == 0 && n <= (uint64_t) (SIGRTMAX - SIGRTMIN)
                               ? SIGRTMIN + (int) n
                               : 0;
        for (int s = 1; s < SIGRTMIN; s++) {
                const char *abbrev = sigabbrev_np(s);

                if (abbrev && strcmp(abbrev, name + 3) == 0)
                        return s;
        }
        return 0;
}

/* ok or failed without an exit code: the command did not run (the error
 * says why, as the shells' 126/127), or cordond lost it. */
static int no_exit_code(const json_t *result, int sig)
{
        const char *error = json_string_value(json_object_get(result, "error"));
        const char *enoent = strerror(ENOENT);
        size_t n = error ? strlen(error) : 0, m = strlen(enoent);

        if (sig > 0)
                return 128 + sig;
        if (!error)
                return CD_EXIT_SETUP_ERROR;
        return n >= m && strcmp(error + n - m, enoent) == 0 ? CD_EXIT_NOT_FOUND
                                                            : CD_EXIT_CANNOT_EXEC;
}

int cli_job_exit_status(const json_t *job)
{
        const json_t *result = json_object_get(job, "result");
        const char *v = cli_job_str(job, "verdict");
        const json_t *code = json_object_get(result, "exit_code");
        int sig = signal_number(cli_token(json_string_value(json_object_get(result, "signal"))));
        enum cd_verdict verdict;

        if (!v || cd_verdict_from_string(v, &verdict) < 0)
                return CLI_EXIT_SERVER;
        switch (verdict) {
        case CD_VERDICT_OK:
        case CD_VERDICT_FAILED:
                if (json_is_integer(code) && json_integer_value(code) >= 0 &&
                    json_integer_value(code) <= 255)
                        return (int) json_integer_value(code);
                return no_exit_code(result, sig);
        case CD_VERDICT_SIGNALED:
                return sig > 0 ? 128 + sig : CD_EXIT_SETUP_ERROR;
        case CD_VERDICT_REJECTED:
                /* cordond refused it when a slot took it: not a usage error
                 * here (cordon run's 64), the request was sent and taken. */
                return CLI_EXIT_REJECTED;
        default: {
                struct cd_result res = { .verdict = verdict };

                return cd_result_exit_status(&res);
        }
        }
}

struct live {
        const char *id;
        json_t *job; /* the last answer */
        bool shown, colour;
};

static void live_draw(void *data)
{
        struct live *l = data;
        const char *state = cli_job_str(l->job, "state");
        const json_t *pos = json_object_get(l->job, "queue_position");
        const char *since = state && strcmp(state, "running") == 0 ? "started" : "created";
        int64_t t0, now = (int64_t) cd_wall_ms();
        char elapsed[32] = "", where[48] = "";

        if (!state)
                return;
        if (cli_parse_time(json_object_get(l->job, since), &t0) == 0)
                cli_human_ms(now > t0 ? (uint64_t) (now - t0) : 0, elapsed, sizeof(elapsed));
        if (json_is_integer(pos))
                (void) snprintf(where, sizeof(where), ", position %lld in the queue",
                                (long long) json_integer_value(pos));
        fprintf(stderr, "\r\033[Kjob %.12s %s%s%s%s%s%s", l->id,
                cli_sgr(l->colour, cli_verdict_colour(state, NULL)), state,
                cli_sgr(l->colour, CLI_PLAIN), where, *elapsed ? ", " : "", elapsed);
        (void) fflush(stderr);
        l->shown = true;
}

static void live_clear(struct live *l)
{
        if (l->shown)
                fputs("\r\033[K", stderr);
        (void) fflush(stderr);
        l->shown = false;
}

/* One long poll, ended by @deadline_ms (and the margin) whatever cordond
 * does. Returns 0 with the job in l->job, or an exit status. */
static int poll_once(struct cli_client *c, struct live *l, bool live, int wait_s,
                     uint64_t deadline_ms, const char *what)
{
        char path[160];
        struct cli_request rq = { .path = path,
                                  .timeout_s = wait_s + 60,
                                  .tick = live ? live_draw : NULL,
                                  .tick_data = l };
        struct cli_response resp = { 0 };
        int r;

        if (deadline_ms != UINT64_MAX &&
            __builtin_add_overflow(deadline_ms, DEADLINE_MARGIN_MS, &rq.deadline_ms))
                rq.deadline_ms = 0;
        (void) snprintf(path, sizeof(path), "/v1/jobs/%s?wait=%d", l->id, wait_s);
        r = cli_send(c, &rq, &resp);
        if (r == 0 && (resp.status < 200 || resp.status >= 300)) {
                live_clear(l);
                r = cli_check(c, &resp, what);
        } else if (r == 0 && !resp.json) {
                live_clear(l);
                cli_error(cli_client_cmd(c), "cordond's answer is not JSON");
                r = CLI_EXIT_SERVER;
        }
        if (r == 0) {
                json_decref(l->job);
                l->job = TAKE_PTR(resp.json);
        }
        cli_response_clear(&resp);
        return r;
}

/* How long the next poll may hold: a first live one answers at once, to
 * show the line from the start; none runs past @deadline_ms (rounded up to
 * a whole second, so that a poll never spins). */
static int poll_seconds(bool live, bool first, uint64_t deadline_ms)
{
        uint64_t now = cd_now_ms(), left_s;
        int s = live ? (first ? 0 : LIVE_WAIT_S) : WAIT_S;

        if (deadline_ms == UINT64_MAX)
                return s;
        left_s = now >= deadline_ms ? 0 : (deadline_ms - now + 999) / 1000;
        return left_s < (uint64_t) s ? (int) left_s : s;
}

/* --timeout ran out while cordond held the answer back. */
static void no_answer(const struct cli_client *c, const char *id, uint64_t timeout_ms)
{
        char took[32];

        cli_human_ms(timeout_ms, took, sizeof(took));
        cli_error(cli_client_cmd(c),
                  "job %s: cordond at %s did not answer within %s; the job goes on (wait again, "
                  "or stop it with 'cordon cancel %s')",
                  id, cli_client_socket(c), took, id);
}

/* --timeout ran out: say so once, with where the job is. */
static void still_running(const struct cli_client *c, const char *id, const json_t *job,
                          uint64_t timeout_ms)
{
        const char *state = cli_job_str(job, "state");
        const json_t *pos = json_object_get(job, "queue_position");
        char took[32], where[48] = "";

        cli_human_ms(timeout_ms, took, sizeof(took));
        if (json_is_integer(pos))
                (void) snprintf(where, sizeof(where), " (position %lld)",
                                (long long) json_integer_value(pos));
        cli_error(cli_client_cmd(c),
                  "job %s is still %s%s after %s; it goes on (wait again, or stop it with "
                  "'cordon cancel %s')",
                  id, state && strcmp(state, "queued") == 0 ? "queued" : "running", where, took,
                  id);
}

struct waiter {
        struct cli_client *c;
        struct live l;
        struct cli_pace pace;
        bool live;
        uint64_t deadline_ms, timeout_ms;
        char what[96];
};

/* One poll and what it means. Returns 1 when the job has finished, 0 to
 * poll again, or an exit status: CLI_EXIT_STILL_RUNNING when --timeout
 * ran out (said on stderr). */
static int wait_step(struct waiter *w, bool first)
{
        int wait_s = poll_seconds(w->live, first, w->deadline_ms);
        uint64_t t0 = cd_now_ms();
        const char *state;
        int r = poll_once(w->c, &w->l, w->live, wait_s, w->deadline_ms, w->what);

        if (r == 0 && cli_interrupted())
                r = CLI_EXIT_INTERRUPTED;
        if (r == CLI_EXIT_STILL_RUNNING) {
                live_clear(&w->l);
                no_answer(w->c, w->l.id, w->timeout_ms);
        }
        if (r != 0)
                return r;
        state = cli_job_state(w->l.job);
        if (!state) {
                live_clear(&w->l);
                cli_error(cli_client_cmd(w->c), "%s: cordond's answer has no valid state", w->what);
                return CLI_EXIT_SERVER;
        }
        if (strcmp(state, "finished") == 0)
                return 1;
        if (cd_now_ms() >= w->deadline_ms) {
                live_clear(&w->l);
                still_running(w->c, w->l.id, w->l.job, w->timeout_ms);
                return CLI_EXIT_STILL_RUNNING;
        }
        if (w->live)
                live_draw(&w->l);
        if (cli_pace(&w->pace, wait_s * 1000ULL, cd_now_ms() - t0, w->deadline_ms) < 0)
                return CLI_EXIT_INTERRUPTED;
        return 0;
}

int cli_job_wait(struct cli_client *c, const char *id, bool live, uint64_t timeout_ms, json_t **ret)
{
        struct waiter w = { .c = c,
                            .l = { .id = id, .colour = cli_colour(STDERR_FILENO) },
                            .live = live,
                            .deadline_ms = UINT64_MAX,
                            .timeout_ms = timeout_ms };
        bool first = true;
        int r;

        if (timeout_ms != CLI_WAIT_FOREVER &&
            __builtin_add_overflow(cd_now_ms(), timeout_ms, &w.deadline_ms))
                w.deadline_ms = UINT64_MAX;
        (void) snprintf(w.what, sizeof(w.what), "job %s", id);
        cli_catch_interrupts();
        do {
                r = wait_step(&w, first);
                first = false;
        } while (r == 0);
        live_clear(&w.l);
        if (r == 1 || r == CLI_EXIT_STILL_RUNNING) {
                *ret = TAKE_PTR(w.l.job);
                return r == 1 ? 0 : r;
        }
        if (r == CLI_EXIT_INTERRUPTED)
                cli_error(cli_client_cmd(c),
                          "interrupted; job %s goes on (stop it with 'cordon cancel %s')", id, id);
        json_decref(w.l.job);
        return r;
}

void cli_job_outcome(const json_t *job, char *buf, size_t size)
{
        const json_t *result = json_object_get(job, "result");
        const json_t *code = json_object_get(result, "exit_code");
        const char *v = cli_job_str(job, "verdict"), *reason = cli_job_str(job, "reason");
        const char *sig = cli_token(json_string_value(json_object_get(result, "signal")));
        const json_t *wall = json_object_get(result, "wall_ms");
        char took[32] = "", extra[64] = "";

        if (json_is_integer(wall))
                cli_human_ms((uint64_t) json_integer_value(wall), took, sizeof(took));
        if (json_is_integer(code))
                (void) snprintf(extra, sizeof(extra), ", exit %lld",
                                (long long) json_integer_value(code));
        else if (sig)
                (void) snprintf(extra, sizeof(extra), ", %.32s", sig);
        if (reason) { /* e.g. output_not_stored beside "setup_error, exit 0" */
                size_t n = strlen(extra);

                (void) snprintf(extra + n, sizeof(extra) - n, " (%.40s)", reason);
        }
        (void) snprintf(buf, size, "%s%s%s%s", v ? v : "?", extra, *took ? ", " : "", took);
}

void cli_job_print_outcome(const json_t *job)
{
        const char *id = cli_job_str(job, "id"), *v = cli_job_str(job, "verdict");
        const char *error =
                json_string_value(json_object_get(json_object_get(job, "result"), "error"));
        bool colour = cli_colour(STDOUT_FILENO);
        char outcome[160];

        cli_job_outcome(job, outcome, sizeof(outcome));
        printf("job %s finished: %s%s%s\n", id ? id : "?",
               cli_sgr(colour, cli_verdict_colour("finished", v)), outcome,
               cli_sgr(colour, CLI_PLAIN));
        if (error) {
                cleanup_free char *e = cli_escape(error);

                printf("  error: %s\n", e ? e : "?");
        }
        if (v && strcmp(v, "ok") != 0 && id)
                printf("  its output: cordon logs %s --stderr\n", id);
        (void) fflush(stdout);
}
