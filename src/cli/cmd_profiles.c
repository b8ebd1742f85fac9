/* SPDX-License-Identifier: MIT */
/* cordon profiles: list the installed profiles with their limits.
 * cordon profile check FILE: validate one profile file. */
#define _GNU_SOURCE
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cordon/limits.h"
#include "cordon/profile.h"
#include "cordon/result.h"

struct opts {
        const char *profiles_dir;
        const char *images_dir;
        bool json;
};

static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "json", no_argument, NULL, 'j' },
        { "profiles-dir", required_argument, NULL, 'p' },
        { "images-dir", required_argument, NULL, 'i' },
        {},
};

static int parse(int argc, char **argv, const char *cmd, struct opts *o, void (*help)(void))
{
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1)
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case 'j':
                        o->json = true;
                        break;
                case 'p':
                        o->profiles_dir = optarg;
                        break;
                case 'i':
                        o->images_dir = optarg;
                        break;
                default:
                        (void) cmd;
                        return -1;
                }
        return 0;
}

static void profiles_help(void)
{
        printf("Usage: cordon profiles [--profiles-dir DIR] [--images-dir DIR] [--json]\n"
               "\n"
               "List the profiles with their default and maximum limits. Every profile is\n"
               "validated; one bad file fails the listing (as it fails cordond's reload).\n"
               "Reads the profile files on this host, not cordond's socket: run it where\n"
               "cordond runs, with its --profiles-dir, to see what cordond offers.\n"
               "\n"
               "Examples:\n"
               "  cordon profiles\n"
               "  cordon profiles --profiles-dir ./profiles --json\n");
}

static void limit(const struct cd_profile *p, const char *name, char *buf, size_t size)
{
        const struct cd_limit_def *d = cd_limit_find(name);
        char a[32], b[32];

        cd_limit_format(d, cd_limit_get(&p->defaults, d), a, sizeof(a));
        cd_limit_format(d, cd_limit_get(&p->max, d), b, sizeof(b));
        if (snprintf(buf, size, strcmp(a, b) == 0 ? "%s" : "%s (max %s)", a, b) < 0)
                buf[0] = '\0';
}

/* Column widths from the longest name and image (at most 32 and 64 bytes). */
static void widths(const struct cd_profile_set *set, int *name_w, int *image_w)
{
        *name_w = (int) strlen("PROFILE");
        *image_w = (int) strlen("IMAGE");
        for (size_t i = 0; i < set->n; i++) {
                int n = (int) strlen(set->items[i]->name), m = (int) strlen(set->items[i]->image);

                *name_w = n > *name_w ? n : *name_w;
                *image_w = m > *image_w ? m : *image_w;
        }
}

static void table(const struct cd_profile_set *set)
{
        int nw, iw;

        widths(set, &nw, &iw);
        printf("%-*s  %-*s  %-16s %-12s %-14s %s\n", nw, "PROFILE", iw, "IMAGE", "MEMORY", "CPUS",
               "WALL", "DESCRIPTION");
        for (size_t i = 0; i < set->n; i++) {
                const struct cd_profile *p = set->items[i];
                char mem[48], cpu[48], wall[48];

                limit(p, "memory", mem, sizeof(mem));
                limit(p, "cpus", cpu, sizeof(cpu));
                limit(p, "wall", wall, sizeof(wall));
                printf("%-*s  %-*s  %-16s %-12s %-14s %.60s\n", nw, p->name, iw, p->image, mem, cpu,
                       wall, p->description ? p->description : "");
        }
}

int cmd_profiles(int argc, char **argv)
{
        struct cd_profile_host host;
        struct cd_profile_set set;
        struct opts o = { 0 };
        struct cd_err err = { 0 };
        int r = parse(argc, argv, "profiles", &o, profiles_help);

        if (r != 0)
                return r > 0 ? 0 : CD_EXIT_USAGE;
        host = (struct cd_profile_host){ .images_dir = o.images_dir };
        if (cd_profile_set_load(o.profiles_dir ? o.profiles_dir : CD_DEFAULT_PROFILES_DIR, &host,
                                &set, &err) < 0) {
                cli_error("profiles", "%s", err.msg);
                return 1;
        }
        if (o.json) {
                json_t *a = json_array();

                for (size_t i = 0; a && i < set.n; i++)
                        (void) json_array_append_new(a, cd_profile_to_json(set.items[i]));
                if (a)
                        (void) json_dumpf(a, stdout, JSON_INDENT(2));
                printf("\n");
                json_decref(a);
        } else {
                table(&set);
        }
        cd_profile_set_clear(&set);
        return 0;
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
        struct cd_profile_host host = { 0 };
        struct cd_profile *p = NULL;
        struct opts o = { 0 };
        struct cd_err err = { 0 };
        int r;

        if (argc < 2 || strcmp(argv[1], "check") != 0) {
                cli_error("profile", "expected 'cordon profile check FILE'");
                return CD_EXIT_USAGE;
        }
        r = parse(argc - 1, argv + 1, "profile check", &o, check_help);
        if (r != 0)
                return r > 0 ? 0 : CD_EXIT_USAGE;
        if (optind + 1 != argc - 1) {
                cli_error("profile check", "expected one FILE");
                return CD_EXIT_USAGE;
        }
        host.images_dir = o.images_dir;
        if (cd_profile_load(argv[1 + optind], &host, &p, &err) < 0) {
                cli_error("profile check", "%s", err.msg);
                return 1;
        }
        printf("%s: valid profile \"%s\"\n", argv[1 + optind], p->name);
        (void) cd_profile_free(p);
        return 0;
}
