/* SPDX-License-Identifier: MIT */
/* cordon list: jobs, newest first, as a table. */
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

enum { OPT_STATE = 0x100, OPT_LABEL, OPT_BEFORE };

struct opts {
        struct cli_common common;
        const char *state, *label, *limit, *before;
        bool all;
};

static void help(void)
{
        printf("Usage: cordon list [--state STATE] [--label KEY=VALUE] [--all] [--limit N]\n"
               "                   [--before CURSOR] [--json] [--socket PATH]\n"
               "\n"
               "List jobs, newest first: your own, or with --all every submitter's (admins;\n"
               "a submitter only ever sees its own).\n"
               "\n"
               "  --state STATE       queued, running or finished\n"
               "  --label KEY=VALUE   only jobs with this label\n"
               "  -a, --all           every owner's jobs (admins)\n"
               "  -n, --limit N       at most N jobs, 1 to 500 (default 50)\n"
               "  --before CURSOR     the next page: the cursor a previous list "
               "printed\n" CLI_COMMON_HELP "\n"
               "Examples:\n"
               "  cordon list\n"
               "  cordon list --state running --all\n"
               "  cordon list --label course=mus101 --limit 200 --json\n");
}

static int parse_option(struct opts *o, int ch, const char *arg)
{
        uint64_t n;

        switch (ch) {
        case OPT_STATE:
                if (strcmp(arg, "queued") && strcmp(arg, "running") && strcmp(arg, "finished")) {
                        cli_error("list", "--state: expected queued, running or finished");
                        return -1;
                }
                o->state = arg;
                return 0;
        case OPT_LABEL:
                if (!strchr(arg, '=') || arg[0] == '=') {
                        cli_error("list", "--label: expected KEY=VALUE");
                        return -1;
                }
                o->label = arg;
                return 0;
        case 'a':
                o->all = true;
                return 0;
        case 'n':
                if (cd_parse_u64(arg, &n) < 0 || n < 1 || n > 500) {
                        cli_error("list", "--limit: expected a number from 1 to 500");
                        return -1;
                }
                o->limit = arg;
                return 0;
        case OPT_BEFORE:
                /* The shape cordond gives ("CREATED_MS-ID"), checked
                 * only as far as it goes into the query as it is: no
                 * character that would end or escape the parameter. */
                if (!*arg || strlen(arg) > 64 || strspn(arg, "0123456789abcdef-") != strlen(arg)) {
                        cli_error("list", "--before: expected the cursor a list printed");
                        return -1;
                }
                o->before = arg;
                return 0;
        }
        return cli_common_option(ch, arg, &o->common) ? 0 : -1;
}

/* Returns 0, 1 after --help, or -1 for a usage error. */
static int parse(int argc, char **argv, struct opts *o)
{
        static const struct option options[] = {
                CLI_COMMON_OPTIONS,
                { "state", required_argument, NULL, OPT_STATE },
                { "label", required_argument, NULL, OPT_LABEL },
                { "all", no_argument, NULL, 'a' },
                { "limit", required_argument, NULL, 'n' },
                { "before", required_argument, NULL, OPT_BEFORE },
                {},
        };
        int ch;

        optind = 0;
        while ((ch = getopt_long(argc, argv, "han:", options, NULL)) != -1) {
                if (ch == 'h') {
                        help();
                        return 1;
                }
                if (parse_option(o, ch, optarg) < 0)
                        return -1;
        }
        if (optind != argc) {
                cli_error("list", "takes no arguments (see 'cordon list --help')");
                return -1;
        }
        return 0;
}

/* "/v1/jobs?state=...&label=...": every value encoded. */
static char *query(const struct opts *o)
{
        cleanup_free char *label = o->label ? cli_url_encode(o->label, false) : NULL;
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);

        if (!f || (o->label && !label)) {
                if (f)
                        (void) fclose(f);
                free(out);
                return NULL;
        }
        fprintf(f, "/v1/jobs?limit=%s", o->limit ? o->limit : "50");
        if (!o->all)
                fprintf(f, "&owner=%u", (unsigned int) getuid());
        if (o->state)
                fprintf(f, "&state=%s", o->state);
        if (label)
                fprintf(f, "&label=%s", label);
        if (o->before)
                fprintf(f, "&before=%s", o->before);
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

static void state_cell(const json_t *job, char *buf, size_t size)
{
        const char *state = cli_job_str(job, "state");
        const json_t *pos = json_object_get(job, "queue_position");

        if (state && strcmp(state, "queued") == 0 && json_is_integer(pos))
                (void) snprintf(buf, size, "queued #%lld", (long long) json_integer_value(pos));
        else
                (void) snprintf(buf, size, "%s", state ? state : "?");
}

static void result_cell(const json_t *job, char *buf, size_t size)
{
        const char *v = cli_job_str(job, "verdict");
        const json_t *code = json_object_get(json_object_get(job, "result"), "exit_code");

        if (!v)
                (void) snprintf(buf, size, "-");
        else if (strcmp(v, "failed") == 0 && json_is_integer(code))
                (void) snprintf(buf, size, "failed (%lld)", (long long) json_integer_value(code));
        else
                (void) snprintf(buf, size, "%.32s", v);
}

static void duration_cell(const json_t *job, char *buf, size_t size)
{
        const json_t *wall = json_object_get(json_object_get(job, "result"), "wall_ms");
        const char *state = cli_job_str(job, "state");
        int64_t t0, now = (int64_t) cd_wall_ms();

        if (json_is_integer(wall))
                cli_human_ms((uint64_t) json_integer_value(wall), buf, size);
        else if (state && strcmp(state, "running") == 0 &&
                 cli_parse_time(json_object_get(job, "started"), &t0) == 0)
                cli_human_ms(now > t0 ? (uint64_t) (now - t0) : 0, buf, size);
        else
                (void) snprintf(buf, size, "-");
}

static void created_cell(const json_t *job, bool tty, char *buf, size_t size)
{
        int64_t t0, now = (int64_t) cd_wall_ms();
        char ago[32];

        if (!tty) {
                (void) snprintf(buf, size, "%.40s", cli_job_str(job, "created") ?: "-");
        } else if (cli_parse_time(json_object_get(job, "created"), &t0) == 0) {
                cli_human_ms(now > t0 ? (uint64_t) (now - t0) : 0, ago, sizeof(ago));
                (void) snprintf(buf, size, "%s ago", ago);
        } else {
                (void) snprintf(buf, size, "-");
        }
}

static int add_job(struct cli_table *t, const json_t *job, bool all, bool tty)
{
        cleanup_free char *labels = cli_labels_text(json_object_get(job, "labels"));
        cleanup_free char *profile = cli_escape(cli_job_str(job, "profile"));
        const char *state = cli_job_str(job, "state"), *verdict = cli_job_str(job, "verdict");
        char st[32], res[48], created[64], took[32], owner[24];
        const char *cells[8];
        enum cli_colour_code colours[8] = { 0 };
        size_t n = 0;

        state_cell(job, st, sizeof(st));
        result_cell(job, res, sizeof(res));
        created_cell(job, tty, created, sizeof(created));
        duration_cell(job, took, sizeof(took));
        (void) snprintf(owner, sizeof(owner), "%lld",
                        (long long) json_integer_value(json_object_get(job, "owner_uid")));
        cells[n++] = cli_job_str(job, "id") ?: "?";
        colours[n] = cli_verdict_colour(state, NULL);
        cells[n++] = st;
        colours[n] = cli_verdict_colour("finished", verdict);
        cells[n++] = res;
        cells[n++] = profile ? profile : "?";
        if (all)
                cells[n++] = owner;
        cells[n++] = created;
        cells[n++] = took;
        cells[n++] = labels ? labels : "?";
        return cli_table_add(t, cells, colours);
}

static int table(const json_t *doc, const struct opts *o)
{
        static const char *const h_own[] = { "ID",      "STATE",    "RESULT", "PROFILE",
                                             "CREATED", "DURATION", "LABELS" };
        static const char *const h_all[] = { "ID",    "STATE",   "RESULT",   "PROFILE",
                                             "OWNER", "CREATED", "DURATION", "LABELS" };
        cleanup_with(cli_table_freep) struct cli_table *t =
                o->all ? cli_table_new(8, h_all) : cli_table_new(7, h_own);
        const json_t *jobs = json_object_get(doc, "jobs"), *job;
        const char *next = json_string_value(json_object_get(doc, "next"));
        bool tty = cli_isatty(STDOUT_FILENO);
        size_t i;

        if (!t) {
                cli_error("list", "out of memory");
                return CLI_EXIT_IO;
        }
        if (!json_is_array(jobs)) {
                cli_error("list", "cordond's answer has no list of jobs");
                return CLI_EXIT_SERVER;
        }
        json_array_foreach(jobs, i, job)
        {
                if (add_job(t, job, o->all, tty) < 0)
                        return CLI_EXIT_IO;
        }
        if (json_array_size(jobs) == 0)
                printf("no jobs\n");
        else
                cli_table_print(t, cli_colour(STDOUT_FILENO));
        /* Printed only as the shape cordond gives it ("CREATED_MS-ID"):
         * nothing else from the answer reaches the terminal unchecked. */
        if (next && strspn(next, "0123456789abcdef-") == strlen(next))
                fprintf(stderr, "more: cordon list --before %s\n", next);
        return 0;
}

int cmd_list(int argc, char **argv)
{
        cleanup_with(cli_client_freep) struct cli_client *c = NULL;
        cleanup_free char *path = NULL;
        struct opts o = { 0 };
        json_t *doc = NULL;
        int r = parse(argc, argv, &o);

        if (r != 0)
                return r > 0 ? 0 : CLI_EXIT_USAGE;
        r = cli_client_new("list", o.common.socket, &c);
        if (r != 0)
                return r;
        path = query(&o);
        if (!path) {
                cli_error("list", "out of memory");
                return CLI_EXIT_IO;
        }
        r = cli_call(c, "GET", path, NULL, 0, &doc);
        if (r != 0)
                return r;
        r = o.common.json ? cli_print_json(doc) : table(doc, &o);
        json_decref(doc);
        return r;
}
