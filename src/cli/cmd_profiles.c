/* SPDX-License-Identifier: MIT */
/*
 * cordon profiles: the profiles cordond offers (GET /v1/profiles), or with
 * --local those in a profiles directory on this host (what `cordon run`
 * uses). cordon profile check FILE: validate one profile file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cordon/cleanup.h"
#include "cordon/profile.h"
#include "cordon/result.h"
#include "output.h"

/* Exit status of a local listing whose profiles do not load. */
#define EXIT_INVALID 1

enum { OPT_LOCAL = 0x100, OPT_PROFILES_DIR, OPT_IMAGES_DIR };

struct opts {
        struct cli_common common;
        bool local;
        const char *profiles_dir;
        const char *images_dir;
};

static void profiles_help(void)
{
        printf("Usage: cordon profiles [--json] [--socket PATH]\n"
               "       cordon profiles --local [--profiles-dir DIR] [--images-dir DIR] [--json]\n"
               "\n"
               "List the profiles cordond offers, with their default and maximum limits:\n"
               "what 'cordon submit --profile' takes.\n"
               "\n"
               "  --local             list the profile files on this host instead, as\n"
               "                      'cordon run' reads them; every one is validated, and\n"
               "                      one bad file fails the listing (exit 1), as it fails\n"
               "                      cordond's reload\n"
               "  --profiles-dir DIR  with --local: where the profiles are\n"
               "                      (default: /etc/cordon/profiles)\n"
               "  --images-dir DIR    with --local: where directory images are\n" CLI_COMMON_HELP
               "\n"
               "Exit status: 0; 67 forbidden, 69 cordond unreachable (docs/cli.md).\n"
               "\n"
               "Examples:\n"
               "  cordon profiles\n"
               "  cordon profiles --json | jq -r '.profiles[].name'\n"
               "  cordon profiles --local --profiles-dir ./profiles\n");
}

/* Returns 0, 1 after --help, or -1 after a usage error. */
static int parse(int argc, char **argv, struct opts *o)
{
        static const struct option options[] = {
                CLI_COMMON_OPTIONS,
                { "local", no_argument, NULL, OPT_LOCAL },
                { "profiles-dir", required_argument, NULL, OPT_PROFILES_DIR },
                { "images-dir", required_argument, NULL, OPT_IMAGES_DIR },
                {},
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                if (c == 'h') {
                        profiles_help();
                        return 1;
                } else if (c == OPT_LOCAL) {
                        o->local = true;
                } else if (c == OPT_PROFILES_DIR) {
                        o->profiles_dir = optarg;
                } else if (c == OPT_IMAGES_DIR) {
                        o->images_dir = optarg;
                } else if (!cli_common_option(c, optarg, &o->common)) {
                        return -1;
                }
        }
        if (optind != argc) {
                cli_error("profiles", "takes no arguments (see 'cordon profiles --help')");
                return -1;
        }
        if (!o->local && (o->profiles_dir || o->images_dir)) {
                cli_error("profiles", "--profiles-dir and --images-dir read this host's files: "
                                      "add --local (without it, cordond is asked)");
                return -1;
        }
        if (o->local && o->common.socket) {
                cli_error("profiles", "--local reads this host's files: no --socket with it");
                return -1;
        }
        return 0;
}

/* {"profiles": [...]} from the profile files in o->profiles_dir. */
static int load_local(const struct opts *o, json_t **ret)
{
        struct cd_profile_host host = { .images_dir = o->images_dir };
        struct cd_profile_set set;
        struct cd_err err = { 0 };
        json_t *list;

        if (cd_profile_set_load(o->profiles_dir ? o->profiles_dir : CD_DEFAULT_PROFILES_DIR, &host,
                                &set, &err) < 0) {
                cli_error("profiles", "%s", err.msg);
                return EXIT_INVALID;
        }
        list = json_array();
        for (size_t i = 0; list && i < set.n; i++)
                if (json_array_append_new(list, cd_profile_to_json(set.items[i])) < 0)
                        list = (json_decref(list), NULL);
        cd_profile_set_clear(&set);
        *ret = list ? json_pack("{s:o}", "profiles", list) : NULL;
        if (!*ret) {
                cli_error("profiles", "out of memory");
                return CLI_EXIT_IO;
        }
        return 0;
}

/* The same document from cordond. */
static int load_remote(const struct opts *o, json_t **ret)
{
        cleanup_with(cli_client_freep) struct cli_client *c = NULL;
        int r = cli_client_new("profiles", o->common.socket, &c);

        if (r == 0)
                r = cli_call(c, "GET", "/v1/profiles", NULL, 0, ret);
        if (r == 0 && !json_is_array(json_object_get(*ret, "profiles"))) {
                cli_error("profiles", "cordond's answer has no list of profiles");
                json_decref(*ret);
                r = CLI_EXIT_SERVER;
        }
        return r;
}

/* "1G", or "1G (max 4G)" when the maximum is above the default; escaped. */
static char *limit_cell(const json_t *profile, const char *name)
{
        const json_t *limits = json_object_get(profile, "limits");
        const char *def =
                json_string_value(json_object_get(json_object_get(limits, "default"), name));
        const char *max = json_string_value(json_object_get(json_object_get(limits, "max"), name));
        cleanup_free char *text = NULL;

        if (!def || !max)
                return strdup("?");
        if (strcmp(def, max) == 0)
                return cli_escape(def);
        if (asprintf(&text, "%s (max %s)", def, max) < 0)
                return NULL;
        return cli_escape(text);
}

/* One row; every string is cordond's, shown as inert text. */
static int add_row(struct cli_table *t, const json_t *p)
{
        static const char *const keys[] = { "name", "image" };
        static const char *const limits[] = { "memory", "cpus", "wall" };
        char *cells[6] = { 0 };
        const char *desc = json_string_value(json_object_get(p, "description"));
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const char *v = json_string_value(json_object_get(p, keys[i]));

                cells[i] = cli_escape(v ? v : "?");
        }
        for (size_t i = 0; i < ELEMENTSOF(limits); i++)
                cells[2 + i] = limit_cell(p, limits[i]);
        cells[5] = cli_escape(desc ? desc : "");
        for (size_t i = 0; i < ELEMENTSOF(cells); i++)
                if (!cells[i])
                        r = -ENOMEM;
        if (r == 0)
                r = cli_table_add(t, (const char *const *) cells, NULL);
        for (size_t i = 0; i < ELEMENTSOF(cells); i++)
                free(cells[i]);
        return r;
}

static int print_table(const json_t *doc)
{
        static const char *const headers[] = { "PROFILE", "IMAGE", "MEMORY",
                                               "CPUS",    "WALL",  "DESCRIPTION" };
        cleanup_with(cli_table_freep) struct cli_table *t = cli_table_new(6, headers);
        const json_t *p;
        size_t i;

        if (!t)
                goto oom;
        json_array_foreach(json_object_get(doc, "profiles"), i, p)
        {
                if (add_row(t, p) < 0)
                        goto oom;
        }
        cli_table_print(t, cli_colour(STDOUT_FILENO));
        if (fflush(stdout) == EOF) {
                cli_error("profiles", "cannot write to stdout");
                return CLI_EXIT_IO;
        }
        return 0;
oom:
        cli_error("profiles", "out of memory");
        return CLI_EXIT_IO;
}

int cmd_profiles(int argc, char **argv)
{
        struct opts o = { 0 };
        json_t *doc = NULL;
        int r = parse(argc, argv, &o);

        if (r != 0)
                return r > 0 ? 0 : CLI_EXIT_USAGE;
        r = o.local ? load_local(&o, &doc) : load_remote(&o, &doc);
        if (r != 0)
                return r;
        r = o.common.json ? cli_print_json(doc) : print_table(doc);
        json_decref(doc);
        return r;
}

static void check_help(void)
{
        printf("Usage: cordon profile check FILE [--images-dir DIR]\n"
               "\n"
               "Validate one profile file: unknown keys, wrong types, limits above the hard\n"
               "maximums or this host's size, images that are not built and unknown seccomp\n"
               "additions are refused with the file, the field and the problem.\n"
               "Exit status 0 when valid, 1 when not.\n"
               "\n"
               "Example:\n"
               "  cordon profile check /etc/cordon/profiles/rmarkdown.json\n");
}

int cmd_profile(int argc, char **argv)
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "images-dir", required_argument, NULL, OPT_IMAGES_DIR },
                {},
        };
        static char prog[] = "cordon profile check";
        struct cd_profile_host host = { 0 };
        struct cd_profile *p = NULL;
        struct cd_err err = { 0 };
        int c;

        /* "cordon profile --help", as "cordon audit --help" answers. */
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                check_help();
                return 0;
        }
        if (argc < 2 || strcmp(argv[1], "check") != 0) {
                cli_error("profile", "expected 'cordon profile check FILE' (see --help)");
                return CD_EXIT_USAGE;
        }
        argv[1] = prog; /* getopt's messages: "cordon profile check: ..." */
        optind = 0;
        while ((c = getopt_long(argc - 1, argv + 1, "h", options, NULL)) != -1) {
                if (c == 'h') {
                        check_help();
                        return 0;
                }
                if (c != OPT_IMAGES_DIR)
                        return CD_EXIT_USAGE;
                host.images_dir = optarg;
        }
        if (optind + 1 != argc - 1) {
                cli_error("profile check", "expected one FILE");
                return CD_EXIT_USAGE;
        }
        if (cd_profile_load(argv[1 + optind], &host, &p, &err) < 0) {
                cli_error("profile check", "%s", err.msg);
                return EXIT_INVALID;
        }
        printf("%s: valid profile \"%s\"\n", argv[1 + optind], p->name);
        (void) cd_profile_free(p);
        return 0;
}
