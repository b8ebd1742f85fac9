/* SPDX-License-Identifier: MIT */
/*
 * cordon submit: send a job to cordond (POST /v1/jobs): the profile, the
 * entry, limits and labels as the `job` part, each input file streamed
 * from disk as a part of its own. With --wait, wait for the verdict; with
 * -o DIR, fetch the artifacts after it, each checked against its SHA-256.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cordon/artifacts.h"
#include "cordon/cleanup.h"
#include "cordon/limits.h"
#include "cordon/util.h"
#include "download.h"
#include "job.h"
#include "output.h"

#define MAX_INPUT_NAME 255

enum {
        OPT_PROFILE = 0x100,
        OPT_ENTRY,
        OPT_LABEL,
        OPT_TIMEOUT,
        OPT_LIMIT = 0x200, /* + index in cd_limit_defs */
};

struct submit {
        struct cli_common common;
        const char *profile, *entry, *out_dir;
        bool wait;
        uint64_t timeout_ms; /* --timeout, or CLI_WAIT_FOREVER */
        json_t *limits, *labels;
        struct cli_input *inputs;
        size_t n_inputs;
};

static const struct option fixed_options[] = {
        CLI_COMMON_OPTIONS,
        { "profile", required_argument, NULL, OPT_PROFILE },
        { "entry", required_argument, NULL, OPT_ENTRY },
        { "label", required_argument, NULL, OPT_LABEL },
        { "wait", no_argument, NULL, 'w' },
        { "output", required_argument, NULL, 'o' },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
};

static const struct option *options(void)
{
        static struct cli_limit_options o;

        return cli_limit_options(&o, fixed_options, ELEMENTSOF(fixed_options), OPT_LIMIT);
}

static void help(void)
{
        printf("Usage: cordon submit --profile NAME [--entry FILE] [OPTIONS] [INPUT...]\n"
               "\n"
               "Submit a job to cordond and print its id. The INPUT files are copied into the\n"
               "job's /work under their own names. A directory sends the regular files directly\n"
               "inside it (names starting with '.' skipped); one that holds a subdirectory,\n"
               "a symlink or a special file is refused, since a job's inputs are one flat\n"
               "directory.\n"
               "\n"
               "  --profile NAME      the profile to run under (see 'cordon profiles')\n"
               "  --entry FILE        the input the profile's command runs (e.g. export.R)\n"
               "  --label KEY=VALUE   a label to find the job by (repeatable, at most 16)\n"
               "  -w, --wait          wait for the job to finish and exit with its status\n"
               "  -o, --output DIR    then fetch its artifacts into DIR, each checked against\n"
               "                      its SHA-256 (implies --wait)\n"
               "  --timeout DURATION  with --wait: give up waiting after DURATION (exit 119;\n"
               "                      the job goes on). The job's own time limit is "
               "--wall\n" CLI_COMMON_HELP "\n"
               "Limits (the profile's defaults unless given; up to the profile's maximum):\n"
               "  --memory SIZE  --cpus N  --pids N  --wall DURATION  --cpu-time DURATION\n"
               "  --grace DURATION  --tmp-size SIZE  --shm-size SIZE  --work-size SIZE\n"
               "  --out-size SIZE  --fsize SIZE  --nofile N\n"
               "SIZE: bytes with K, M, G or T (binary). DURATION: number with ms, s, m or h.\n"
               "\n"
               "Exit status: 0 once submitted; with --wait, the job's status as 'cordon wait'\n"
               "gives it (119: still running after --timeout); 65 refused by cordond, 75 queue\n"
               "full (retry), 64 usage (docs/cli.md).\n"
               "\n"
               "Examples:\n"
               "  cordon submit --profile data-export --entry export.R export.R cohort.csv\n"
               "  cordon submit --profile data-export --entry export.R --label study=s42 \\\n"
               "                --wall 2m -o ./export export.R ./data/\n"
               "  id=$(cordon submit --profile rmarkdown --entry report.Rmd report.Rmd)\n");
}

static int parse_limit(struct submit *s, int index, const char *arg)
{
        const struct cd_limit_def *d = &cd_limit_defs[index];
        uint64_t v;
        json_t *j;

        if (cli_parse_limit("submit", (size_t) index, arg, &v) < 0)
                return -EINVAL;
        /* Plain numbers in the profile's units: bytes, ms, a count, cores. */
        j = d->kind == CD_LIMIT_CPUS ? json_real((double) v / 1000.0)
                                     : json_integer((json_int_t) v);
        if (json_object_set_new(s->limits, d->name, j) < 0) {
                cli_error("submit", "out of memory");
                return -ENOMEM;
        }
        return 0;
}

static int parse_label(struct submit *s, const char *arg)
{
        const char *eq = strchr(arg, '=');
        cleanup_free char *key = eq ? strndup(arg, (size_t) (eq - arg)) : NULL;

        if (!eq || eq == arg) {
                cli_error("submit", "--label: expected KEY=VALUE");
                return -EINVAL;
        }
        if (!key) {
                cli_error("submit", "out of memory");
                return -ENOMEM;
        }
        if (json_object_get(s->labels, key)) {
                cli_error("submit", "--label: a key given twice");
                return -EINVAL;
        }
        if (json_object_set_new(s->labels, key, json_string(eq + 1)) < 0) {
                cli_error("submit", "--label: a value must be valid UTF-8");
                return -EINVAL;
        }
        return 0;
}

static int parse_option(struct submit *s, int c, const char *arg)
{
        if (c >= OPT_LIMIT && c < OPT_LIMIT + (int) cd_n_limit_defs)
                return parse_limit(s, c - OPT_LIMIT, arg);
        switch (c) {
        case OPT_PROFILE:
                s->profile = arg;
                return 0;
        case OPT_ENTRY:
                s->entry = arg;
                return 0;
        case OPT_LABEL:
                return parse_label(s, arg);
        case OPT_TIMEOUT:
                if (cd_parse_duration_ms(arg, &s->timeout_ms) == 0)
                        return 0;
                cli_error("submit", "--timeout: expected a duration such as 90s, 10m or 2h");
                return -EINVAL;
        case 'w':
                s->wait = true;
                return 0;
        case 'o':
                s->out_dir = arg;
                s->wait = true;
                return 0;
        }
        return cli_common_option(c, arg, &s->common) ? 0 : -EINVAL;
}

/* Add input @fd named @name (copied); @arg numbers it in messages.
 * This and the other add_* return 0 or an exit status. */
static int add_input(struct submit *s, int fd, uint64_t size, const char *name, int arg)
{
        struct cli_input *in;

        /* A '"' would reach cordond as "%22": curl quotes a multipart
         * file name the HTML5 way, and cordond refuses what it cannot undo. */
        if (!cd_name_is_acceptable(name, MAX_INPUT_NAME) || name[0] == '.' ||
            cd_name_is_form_ambiguous(name)) {
                cli_error("submit",
                          "input %d: cordond takes file names of one UTF-8 component without "
                          "control characters, '\\', '\"', %%22, %%0A or %%0D, not starting "
                          "with '.' or '-', not a version control directory's or an 8.3 short "
                          "name (DATA~1); rename the file",
                          arg);
                return CLI_EXIT_USAGE;
        }
        for (size_t i = 0; i < s->n_inputs; i++)
                if (strcmp(s->inputs[i].name, name) == 0) {
                        cli_error("submit", "input %d: a second file of the same name", arg);
                        return CLI_EXIT_USAGE;
                }
        in = reallocarray(s->inputs, s->n_inputs + 1, sizeof(*in));
        if (in)
                s->inputs = in;
        if (in)
                in[s->n_inputs] =
                        (struct cli_input){ .fd = fd, .size = size, .name = strdup(name) };
        if (!in || !in[s->n_inputs].name) {
                cli_error("submit", "out of memory");
                return CLI_EXIT_IO;
        }
        s->n_inputs++;
        return 0;
}

static int compare_names(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The names in directory @fd, sorted, without "." entries and dotfiles. */
static int dir_names(int fd, char ***ret)
{
        int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        cleanup_strv char **names = NULL;
        struct dirent *de;
        DIR *d;

        if (copy < 0)
                return -errno;
        d = fdopendir(copy);
        if (!d) {
                (void) cd_close(copy);
                return -errno;
        }
        errno = 0;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && cd_strv_push(&names, de->d_name) < 0) {
                        (void) closedir(d);
                        return -ENOMEM;
                }
        (void) closedir(d);
        if (names)
                qsort(names, cd_strv_length(names), sizeof(char *), compare_names);
        *ret = TAKE_PTR(names);
        return 0;
}

/* The regular files directly in directory @dir_fd, opened without following. */
static int add_dir(struct submit *s, int dir_fd, int arg)
{
        cleanup_strv char **names = NULL;
        int r = dir_names(dir_fd, &names);

        if (r < 0) {
                cli_error("submit", "input %d: cannot read the directory: %s", arg, strerror(-r));
                return CLI_EXIT_IO;
        }
        for (size_t i = 0; names && names[i]; i++) {
                int fd = openat(dir_fd, names[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
                struct stat st;

                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                        bool link = fd < 0 && errno == ELOOP;

                        (void) cd_close(fd);
                        cli_error("submit",
                                  "input %d: the directory holds %s; only regular files can be "
                                  "sent",
                                  arg, link ? "a symlink" : "a subdirectory or special file");
                        return CLI_EXIT_USAGE;
                }
                r = add_input(s, fd, (uint64_t) st.st_size, names[i], arg);
                if (r != 0) {
                        (void) cd_close(fd);
                        return r;
                }
        }
        return 0;
}

/* "a/b/" -> "b": the name a file argument is sent under. */
static const char *base_name(char *path)
{
        size_t n = strlen(path);
        char *slash;

        while (n > 1 && path[n - 1] == '/')
                path[--n] = '\0';
        slash = strrchr(path, '/');
        return slash ? slash + 1 : path;
}

static int add_arg(struct submit *s, const char *arg, int number)
{
        cleanup_close int fd = open(arg, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        cleanup_free char *copy = strdup(arg);
        struct stat st;
        int r;

        if (fd < 0 || fstat(fd, &st) < 0) {
                cli_error("submit", "input %d: cannot open it: %s", number, strerror(errno));
                return CLI_EXIT_IO;
        }
        if (!copy) {
                cli_error("submit", "out of memory");
                return CLI_EXIT_IO;
        }
        if (S_ISDIR(st.st_mode))
                return add_dir(s, fd, number);
        if (!S_ISREG(st.st_mode)) {
                cli_error("submit", "input %d: not a regular file or a directory", number);
                return CLI_EXIT_USAGE;
        }
        r = add_input(s, fd, (uint64_t) st.st_size, base_name(copy), number);
        if (r == 0)
                (void) TAKE_FD(fd);
        return r;
}

static char *job_json(const struct submit *s)
{
        cleanup_with(json_decrefp) json_t *j = json_pack("{s:s}", "profile", s->profile);

        if (!j)
                return NULL;
        if (s->entry && json_object_set_new(j, "entry", json_string(s->entry)) < 0)
                return NULL;
        if (json_object_size(s->limits) && json_object_set(j, "limits", s->limits) < 0)
                return NULL;
        if (json_object_size(s->labels) && json_object_set(j, "labels", s->labels) < 0)
                return NULL;
        return json_dumps(j, JSON_COMPACT);
}

static void submit_clear(struct submit *s)
{
        for (size_t i = 0; i < s->n_inputs; i++) {
                (void) cd_close(s->inputs[i].fd);
                free(s->inputs[i].name);
        }
        free(s->inputs);
        json_decref(s->limits);
        json_decref(s->labels);
}

/* POST /v1/jobs. Returns 0 with the answer in *@ret, or an exit status. */
static int send_job(struct cli_client *c, const struct submit *s, json_t **ret)
{
        cleanup_free char *body = job_json(s);
        struct cli_request rq = { .method = "POST",
                                  .path = "/v1/jobs",
                                  .job_json = body,
                                  .inputs = s->inputs,
                                  .n_inputs = s->n_inputs };
        struct cli_response resp = { 0 };
        const char *id;
        int r;

        if (!body) {
                cli_error("submit", "--entry or --profile: expected valid UTF-8");
                return CLI_EXIT_USAGE;
        }
        r = cli_send(c, &rq, &resp);
        if (r == 0)
                r = cli_check(c, &resp, NULL);
        id = json_string_value(json_object_get(resp.json, "id"));
        /* Longer than 64 digits, it would not fit the paths the id goes
         * into (a poll's "?wait=" was cut off). */
        if (r == 0 && (!id || !cli_job_id_valid(id))) {
                cli_error("submit", "cordond's answer has no valid job id");
                r = CLI_EXIT_SERVER;
        }
        if (r == 0)
                *ret = TAKE_PTR(resp.json);
        cli_response_clear(&resp);
        return r;
}

/* -o DIR: made now, so that a bad path fails before the job runs. */
static int check_out_dir(const char *dir)
{
        int fd = cli_out_dir_open("submit", "-o", dir, true);

        if (fd < 0)
                return CLI_EXIT_IO;
        (void) cd_close(fd);
        return 0;
}

/* --wait and -o: the verdict, then the artifacts. */
static int finish(struct cli_client *c, const struct submit *s, const char *id)
{
        json_t *job = NULL, *manifest = NULL;
        int r, status;

        r = cli_job_wait(c, id, cli_isatty(STDERR_FILENO), s->timeout_ms, &job);
        if (r == CLI_EXIT_STILL_RUNNING && s->common.json && job && cli_print_json(job) != 0)
                r = CLI_EXIT_IO;
        if (r != 0) {
                json_decref(job);
                return r;
        }
        if (s->common.json)
                r = cli_print_json(job);
        else
                cli_job_print_outcome(job);
        status = cli_job_exit_status(job);
        json_decref(job);
        if (r == 0 && s->out_dir) {
                r = cli_artifacts_manifest(c, id, &manifest);
                if (r == 0)
                        r = cli_artifacts_fetch_all(c, id, manifest, s->out_dir, s->common.json);
                json_decref(manifest);
        }
        /* The job's own failure says more than a download's after it. */
        return status != 0 ? status : r;
}

static int run(struct submit *s)
{
        cleanup_with(cli_client_freep) struct cli_client *c = NULL;
        json_t *answer = NULL;
        const char *id;
        int r;

        if (s->out_dir && (r = check_out_dir(s->out_dir)) != 0)
                return r;
        r = cli_client_new("submit", s->common.socket, &c);
        if (r == 0)
                r = send_job(c, s, &answer);
        if (r != 0)
                return r;
        id = json_string_value(json_object_get(answer, "id"));
        if (s->common.json && !s->wait)
                r = cli_print_json(answer);
        else if (!s->common.json)
                printf("%s\n", id);
        (void) fflush(stdout);
        if (r == 0 && s->wait)
                r = finish(c, s, id);
        json_decref(answer);
        return r;
}

int cmd_submit(int argc, char **argv)
{
        struct submit s = { .limits = json_object(),
                            .labels = json_object(),
                            .timeout_ms = CLI_WAIT_FOREVER };
        int c, status = CLI_EXIT_USAGE;

        if (!s.limits || !s.labels)
                goto out;
        optind = 0;
        while ((c = getopt_long(argc, argv, "hwo:", options(), NULL)) != -1) {
                if (c == 'h') {
                        help();
                        status = 0;
                        goto out;
                }
                if (c == '?' || parse_option(&s, c, optarg) < 0)
                        goto out;
        }
        if (!s.profile) {
                cli_error("submit", "--profile: required (see 'cordon submit --help')");
                goto out;
        }
        if (s.timeout_ms != CLI_WAIT_FOREVER && !s.wait) {
                cli_error("submit", "--timeout: only with --wait or -o (how long to wait; the "
                                    "job's own limit is --wall)");
                goto out;
        }
        for (int i = optind; i < argc; i++) {
                status = add_arg(&s, argv[i], i - optind + 1);
                if (status != 0)
                        goto out;
        }
        status = run(&s);
out:
        submit_clear(&s);
        return status;
}
