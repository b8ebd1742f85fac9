/* SPDX-License-Identifier: MIT */
/*
 * cordon artifacts ID: list what the job left in /out;
 * cordon artifacts ID NAME [-o FILE]: fetch one;
 * cordon artifacts ID -o DIR: fetch all. Every fetch is checked against
 * the manifest's SHA-256 (download.c).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cordon/cleanup.h"
#include "download.h"
#include "output.h"

#define SHA_SHOWN 16

static void help(void)
{
        printf("Usage: cordon artifacts ID [--json]\n"
               "       cordon artifacts ID NAME [-o FILE]\n"
               "       cordon artifacts ID -o DIR [--json]\n"
               "\n"
               "List the artifacts of finished job ID (what it wrote to /out: files taken\n"
               "with size, type and SHA-256; entries refused, with the reason and, for a\n"
               "file refused for its type, that type and its tail's when the tail refused\n"
               "it), fetch one by its NAME (its path in the list) to stdout or FILE, or\n"
               "fetch them all into DIR under their paths. Every file is checked against\n"
               "the manifest's size and SHA-256 as it arrives, and named only once it\n"
               "passed; one that fails leaves nothing and the exit status is 76. A file\n"
               "that does not fit in the free space is not fetched (74).\n"
               "Names that would leave DIR (absolute, '..', through a symlink already in DIR)\n"
               "are refused, and so are paths through a repository directory (.git, .hg,\n"
               ".jj, ...) and a bare repository's HEAD (a repository's config runs\n"
               "commands; cordond refuses them, an older one did not); existing files are\n"
               "never overwritten.\n"
               "\n"
               "  -o, --output PATH   FILE for NAME (new; '-' for stdout), or DIR for all\n"
               "                      (created if missing)\n" CLI_COMMON_HELP "\n"
               "Binary artifacts are not written to a terminal: use -o FILE.\n"
               "\n"
               "Examples:\n"
               "  cordon artifacts 3f2a9c0e5b7d41a8b6c2d9e0f1a2b3c4\n"
               "  cordon artifacts \"$id\" summary.csv | head\n"
               "  cordon artifacts \"$id\" report/figure.png -o figure.png\n"
               "  cordon artifacts \"$id\" -o ./export\n");
}

/* "refused: REASON", and for a file refused for its type, the type of its
 * head and, when its tail refused it, the tail's ("tail_type"). */
static void refusal_text(const json_t *e, char *buf, size_t size)
{
        const char *refused = cli_token(json_string_value(json_object_get(e, "refused")));
        const char *type = cli_token(json_string_value(json_object_get(e, "type")));
        const char *tail = cli_token(json_string_value(json_object_get(e, "tail_type")));

        refused = refused ? refused : "?";
        if (!type && !tail)
                (void) snprintf(buf, size, "refused: %.64s", refused);
        else if (!tail)
                (void) snprintf(buf, size, "refused: %.64s (%.127s)", refused, type);
        else
                (void) snprintf(buf, size, "refused: %.64s (%.127s, tail %.127s)", refused,
                                type ? type : "?", tail);
}

static int list(const json_t *manifest)
{
        static const char *const headers[] = { "PATH", "SIZE", "TYPE", "SHA-256" };
        cleanup_with(cli_table_freep) struct cli_table *t = cli_table_new(4, headers);
        bool colour = cli_colour(STDOUT_FILENO);
        const json_t *e;
        size_t i;

        if (!t)
                return CLI_EXIT_IO;
        json_array_foreach(manifest, i, e)
        {
                cleanup_free char *path =
                        cli_escape_path(json_string_value(json_object_get(e, "path")));
                const char *sha = cli_token(json_string_value(json_object_get(e, "sha256")));
                char size[32] = "-", why[352], short_sha[SHA_SHOWN + 1];
                const char *cells[4];
                enum cli_colour_code colours[4] = { CLI_PLAIN, CLI_PLAIN, CLI_PLAIN, CLI_DIM };

                if (sha) {
                        cli_human_bytes((uint64_t) json_integer_value(json_object_get(e, "size")),
                                        size, sizeof(size));
                        (void) snprintf(short_sha, sizeof(short_sha), "%s", sha);
                } else {
                        refusal_text(e, why, sizeof(why));
                        colours[2] = CLI_YELLOW;
                }
                cells[0] = path ? path : "?";
                cells[1] = size;
                cells[2] = sha ? cli_token(json_string_value(json_object_get(e, "type"))) : why;
                cells[3] = sha ? short_sha : "-";
                if (cli_table_add(t, cells, colours) < 0)
                        return CLI_EXIT_IO;
        }
        if (json_array_size(manifest) == 0)
                printf("no artifacts\n");
        else
                cli_table_print(t, colour);
        return 0;
}

static const json_t *find(const json_t *manifest, const char *name)
{
        const json_t *e;
        size_t i;

        json_array_foreach(manifest, i, e)
        {
                const char *p = json_string_value(json_object_get(e, "path"));

                if (p && strcmp(p, name) == 0)
                        return e;
        }
        return NULL;
}

static bool text_type(const char *type)
{
        return type && (strncmp(type, "text/", 5) == 0 || strcmp(type, "application/json") == 0);
}

/* One artifact to stdout or a new FILE. */
static int fetch_one(struct cli_client *c, const char *id, const json_t *manifest, const char *name,
                     const char *file)
{
        const json_t *e = find(manifest, name);
        bool to_stdout = !file || strcmp(file, "-") == 0;

        if (!e || !cli_artifact_taken(e)) {
                cli_error("artifacts", "job %s: %s (see 'cordon artifacts %s')", id,
                          e ? "that artifact was refused when collected" : "no such artifact", id);
                return CLI_EXIT_NOT_FOUND;
        }
        if (!cli_artifact_inert(manifest, e)) {
                cli_error("artifacts",
                          "job %s: a repository in the path (.git, .hg, .jj, ..., a bare "
                          "repository's HEAD: its configuration runs commands); refused",
                          id);
                return CLI_EXIT_VERIFY;
        }
        if (!cli_artifact_safe(e)) {
                cli_error("artifacts", "job %s: the manifest entry is malformed; refused", id);
                return CLI_EXIT_VERIFY;
        }
        if (to_stdout) {
                bool tty = cli_isatty(STDOUT_FILENO);

                if (tty && !text_type(json_string_value(json_object_get(e, "type")))) {
                        cli_error("artifacts", "not writing a binary artifact to the terminal; "
                                               "use -o FILE");
                        return CLI_EXIT_USAGE;
                }
                return cli_artifact_fetch_fd(c, id, e, STDOUT_FILENO, tty);
        }
        return cli_artifact_fetch_file(c, id, e, file);
}

static int print_manifest(const char *id, json_t *manifest)
{
        json_t *doc = json_pack("{s:s, s:O}", "job", id, "artifacts", manifest);
        int r = cli_print_json(doc);

        json_decref(doc);
        return r;
}

int cmd_artifacts(int argc, char **argv)
{
        static const struct option options[] = {
                CLI_COMMON_OPTIONS,
                { "output", required_argument, NULL, 'o' },
                {},
        };
        cleanup_with(cli_client_freep) struct cli_client *c = NULL;
        struct cli_common o = { 0 };
        const char *output = NULL, *id, *name;
        json_t *manifest = NULL;
        int ch, r;

        /* Ctrl-C, SIGTERM, a closed terminal: the transfer stops, and a
         * file not yet whole and checked never gets its name. */
        cli_catch_interrupts();
        optind = 0;
        while ((ch = getopt_long(argc, argv, "ho:", options, NULL)) != -1) {
                if (ch == 'h') {
                        help();
                        return 0;
                } else if (ch == 'o') {
                        output = optarg;
                } else if (!cli_common_option(ch, optarg, &o)) {
                        return CLI_EXIT_USAGE;
                }
        }
        if (optind >= argc || argc - optind > 2) {
                cli_error("artifacts", "expected ID [NAME] (see 'cordon artifacts --help')");
                return CLI_EXIT_USAGE;
        }
        id = argv[optind];
        name = optind + 1 < argc ? argv[optind + 1] : NULL;
        if (!cli_job_id_ok("artifacts", id))
                return CLI_EXIT_USAGE;
        if (name && o.json && (!output || strcmp(output, "-") == 0)) {
                cli_error("artifacts", "--json with NAME needs -o FILE (stdout has the file)");
                return CLI_EXIT_USAGE;
        }
        r = cli_client_new("artifacts", o.socket, &c);
        if (r == 0)
                r = cli_artifacts_manifest(c, id, &manifest);
        if (r != 0)
                return r;
        if (name)
                r = fetch_one(c, id, manifest, name, output);
        else if (output)
                r = cli_artifacts_fetch_all(c, id, manifest, output, o.json);
        if (r == 0 && o.json)
                r = name ? cli_print_json(find(manifest, name)) : print_manifest(id, manifest);
        else if (r == 0 && !name && !output)
                r = list(manifest);
        json_decref(manifest);
        return r;
}
