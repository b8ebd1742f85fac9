/* SPDX-License-Identifier: MIT */
/*
 * profile/: loading and validating profiles (tests/fixtures/profiles/good
 * and bad), directories of profiles, who may change them (owners, modes,
 * directories above, symlinks), the shipped profiles, and merging a
 * request into a profile (cd_profile_plan).
 *
 * Every profile is checked against a fixed host (8 GiB, 4 CPUs, an images
 * directory holding one image "fakeimg") so that no result depends on the
 * machine the tests run on.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cordon/cleanup.h"
#include "cordon/limits.h"
#include "cordon/plan.h"
#include "cordon/profile.h"
#include "cordon/util.h"
#include "unit.h"

#define GIB (1ULL << 30)
#define MIB (1ULL << 20)

/* Set up once: the repository (from __FILE__) and the fixed host. */
static char *repo_dir;     /* the source tree */
static char *fixtures_dir; /* tests/fixtures/profiles */
static char *base_dir;     /* temp: images/fakeimg/usr, tool/ */
static char *images_dir;   /* base_dir/images */
static char *tool_dir;     /* base_dir/tool: an existing mount source */
static struct cd_profile_host host;

static void profile_free(void *p)
{
        (void) cd_profile_free(p);
}

static void plan_free(void *p)
{
        (void) cd_plan_free(p);
}

static void set_free(void *set)
{
        cd_profile_set_clear(set);
        free(set);
}

/* A set that lives until teardown (freed there, with its profiles). */
static struct cd_profile_set *new_set(void)
{
        struct cd_profile_set *set = calloc(1, sizeof(*set));

        assert_non_null(set);
        return ut_defer(set_free, set);
}

static void rm_dir(void *path)
{
        (void) ut_rm_rf(path);
        free(path);
}

/* A string that lives until teardown. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
        char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, f);
        n = vasprintf(&s, f, ap);
        va_end(ap);
        assert_true(n >= 0);
        return ut_defer(free, s);
}

static char *temp_dir(void)
{
        char *d = ut_mkdtemp();

        assert_non_null(d);
        return ut_defer(rm_dir, d);
}

static void write_file(const char *dir, const char *name, const char *text)
{
        int fd = ut_open_dir(dir);
        int r;

        assert_true(fd >= 0);
        r = ut_write_file(fd, name, text, strlen(text));
        (void) close(fd);
        assert_int_equal(r, 0);
}

static int group_teardown(void **state)
{
        (void) state;
        (void) ut_rm_rf(base_dir);
        free(base_dir);
        free(images_dir);
        free(tool_dir);
        free(fixtures_dir);
        free(repo_dir);
        base_dir = images_dir = tool_dir = fixtures_dir = repo_dir = NULL;
        return 0;
}

/* The fixed host's directories: images/fakeimg/usr (a built image) and tool/. */
static int make_host_dirs(void)
{
        cleanup_free char *img = NULL, *usr = NULL;

        base_dir = ut_mkdtemp();
        if (!base_dir || asprintf(&images_dir, "%s/images", base_dir) < 0 ||
            asprintf(&tool_dir, "%s/tool", base_dir) < 0 ||
            asprintf(&img, "%s/fakeimg", images_dir) < 0 || asprintf(&usr, "%s/usr", img) < 0)
                return -1;
        if (mkdir(images_dir, 0755) < 0 || mkdir(tool_dir, 0755) < 0 || mkdir(img, 0755) < 0 ||
            mkdir(usr, 0755) < 0)
                return -1;
        return 0;
}

static int group_setup(void **state)
{
        static const char suffix[] = "/tests/unit/test_profile.c";
        const char *file = __FILE__;
        size_t n = strlen(file);

        /* CMake passes sources by absolute path: __FILE__ locates the tree. */
        if (file[0] != '/' || n < sizeof(suffix) ||
            strcmp(file + n - (sizeof(suffix) - 1), suffix) != 0) {
                fprintf(stderr, "cannot locate the source tree from __FILE__ \"%s\"\n", __FILE__);
                return -1;
        }
        repo_dir = strndup(file, n - (sizeof(suffix) - 1));
        if (!repo_dir || asprintf(&fixtures_dir, "%s/tests/fixtures/profiles", repo_dir) < 0 ||
            make_host_dirs() < 0) {
                perror("test_profile: setup");
                (void) group_teardown(state);
                return -1;
        }
        host = (struct cd_profile_host){
                .images_dir = images_dir,
                .memory_bytes = 8 * GIB,
                .cpu_millis = 4000,
        };
        return 0;
}

static int teardown(void **state)
{
        (void) state;
        ut_run_deferred();
        return 0;
}

static const char *fixture(const char *sub, const char *file)
{
        return fmt("%s/%s/%s", fixtures_dir, sub, file);
}

static struct cd_profile *load_ok(const char *path)
{
        struct cd_profile *p = NULL;
        struct cd_err e = { 0 };
        int r = cd_profile_load(path, &host, &p, &e);

        if (r != 0)
                fail_msg("%s refused (%d): %s", path, r, e.msg);
        assert_non_null(p);
        return ut_defer(profile_free, p);
}

static struct cd_profile *parse_ok(const char *text)
{
        struct cd_profile *p = NULL;
        struct cd_err e = { 0 };
        int r = cd_profile_parse(text, strlen(text), "inline.json", &host, &p, &e);

        if (r != 0)
                fail_msg("inline profile refused (%d): %s", r, e.msg);
        assert_non_null(p);
        return ut_defer(profile_free, p);
}

static void assert_strv_equal(char *const *got, const char *const *want)
{
        size_t i;

        assert_non_null(got);
        for (i = 0; want[i]; i++) {
                if (!got[i])
                        fail_msg("element %zu missing, expected \"%s\"", i, want[i]);
                assert_string_equal(got[i], want[i]);
        }
        if (got[i])
                fail_msg("unexpected element %zu \"%s\"", i, got[i]);
}

static void assert_limits_equal(const struct cd_limits *a, const struct cd_limits *b)
{
        for (size_t i = 0; i < cd_n_limit_defs; i++) {
                const struct cd_limit_def *d = &cd_limit_defs[i];

                if (cd_limit_get(a, d) != cd_limit_get(b, d))
                        fail_msg("%s: %llu != %llu", d->name,
                                 (unsigned long long) cd_limit_get(a, d),
                                 (unsigned long long) cd_limit_get(b, d));
        }
}

/* ---- good profiles ---- */

static void good_minimal_gets_defaults(void **state)
{
        static const char *const command[] = { "/bin/true", NULL };
        static const char *const allow[] = { "LANG", "LC_*", "TZ", NULL };
        const char *path = fixture("good", "minimal.json");
        struct cd_profile *p = load_ok(path);
        struct cd_artifact_rules a;
        struct cd_limits l;

        (void) state;
        cd_limits_default(&l);
        cd_artifact_rules_default(&a);
        assert_string_equal(p->name, "minimal");
        assert_null(p->description);
        assert_string_equal(p->image, "host");
        assert_string_equal(p->image_root, "/");
        assert_int_equal(p->n_mounts, 0);
        assert_strv_equal(p->command, command);
        assert_string_equal(p->workdir, "/work");
        assert_false(p->work_readonly);
        assert_false(p->proc_subset_pid);
        assert_strv_equal(p->env_allow, allow);
        assert_null(p->env_set);
        assert_limits_equal(&p->defaults, &l);
        /* An unlisted maximum is the default: requests may only tighten. */
        assert_limits_equal(&p->max, &l);
        assert_null(p->seccomp_allow);
        assert_null(p->artifacts.types);
        assert_true(p->artifacts.max_files == a.max_files);
        assert_true(p->artifacts.max_total_bytes == a.max_total_bytes);
        assert_true(p->artifacts.max_file_bytes == a.max_file_bytes);
        assert_true(p->artifacts.max_depth == a.max_depth);
        assert_true(p->artifacts.max_name_bytes == a.max_name_bytes);
        assert_true(p->artifacts.max_time_ms == a.max_time_ms);
        assert_true(a.max_time_ms == 60000);
        assert_string_equal(p->source, path);
}

static void good_full_every_field(void **state)
{
        static const char *const command[] = { "Rscript",  "--vanilla", "{entry}",
                                               "--output", "/out",      NULL };
        static const char *const allow[] = { "LANG", "LC_*", "R_LIBS_USER", NULL };
        static const char *const set[] = { "TZ=UTC", "R_HOME=/usr/lib/R", "EMPTY=", NULL };
        static const char *const seccomp[] = { "ptrace", "io_uring", NULL };
        static const char *const types[] = { "text/csv", "application/json", "image/svg+xml",
                                             NULL };
        const struct cd_limits defaults = {
                .memory_max_bytes = 512 * MIB,
                .cpu_millis = 250,
                .pids_max = 64,
                .wall_timeout_ms = 90000,
                .cpu_time_ms = 30000,
                .grace_ms = 500,
                .tmp_size_bytes = 128 * MIB,
                .shm_size_bytes = 16 * MIB,
                .work_size_bytes = 256 * MIB,
                .out_size_bytes = 256 * MIB,
                .fsize_bytes = 64 * MIB,
                .nofile = 256,
        };
        const struct cd_limits max = {
                .memory_max_bytes = 2 * GIB,
                .cpu_millis = 1500,
                .pids_max = 512,
                .wall_timeout_ms = 120000,
                .cpu_time_ms = 60000,
                .grace_ms = 10000,
                .tmp_size_bytes = GIB,
                .shm_size_bytes = 64 * MIB,
                .work_size_bytes = GIB,
                .out_size_bytes = GIB,
                .fsize_bytes = 512 * MIB,
                .nofile = 4096,
        };
        const char *path = fixture("good", "full.json");
        struct cd_profile *p = load_ok(path);

        (void) state;
        assert_string_equal(p->name, "full");
        assert_string_equal(p->description,
                            "Every field of the profile format, each away from its default.");
        assert_string_equal(p->image, "fakeimg");
        assert_string_equal(p->image_root, fmt("%s/fakeimg", images_dir));
        assert_int_equal(p->n_mounts, 4);
        assert_string_equal(p->mounts[0].source, "/opt/tool");
        assert_string_equal(p->mounts[0].target, "/opt/tool");
        assert_false(p->mounts[0].optional);
        assert_string_equal(p->mounts[1].source, "/srv/data/reference");
        assert_string_equal(p->mounts[1].target, "/data/reference");
        assert_true(p->mounts[1].optional);
        /* No target: the same path inside. */
        assert_string_equal(p->mounts[2].source, "/usr/share/fonts");
        assert_string_equal(p->mounts[2].target, "/usr/share/fonts");
        assert_false(p->mounts[2].optional);
        for (size_t i = 0; i < 3; i++)
                assert_false(p->mounts[i].from_image);
        /* The path inside the image: kept as written, resolved by the plan. */
        assert_string_equal(p->mounts[3].source, "/var/lib/dpkg");
        assert_string_equal(p->mounts[3].target, "/var/lib/dpkg");
        assert_true(p->mounts[3].optional);
        assert_true(p->mounts[3].from_image);
        assert_strv_equal(p->command, command);
        assert_string_equal(p->workdir, "/work/src");
        assert_true(p->work_readonly);
        assert_true(p->proc_subset_pid);
        assert_strv_equal(p->env_allow, allow);
        assert_strv_equal(p->env_set, set);
        assert_limits_equal(&p->defaults, &defaults);
        assert_limits_equal(&p->max, &max);
        assert_strv_equal(p->seccomp_allow, seccomp);
        assert_strv_equal(p->artifacts.types, types);
        assert_true(p->artifacts.max_files == 50);
        assert_true(p->artifacts.max_total_bytes == 100 * MIB);
        assert_true(p->artifacts.max_file_bytes == 10 * MIB);
        assert_true(p->artifacts.max_depth == 4);
        assert_true(p->artifacts.max_name_bytes == 100);
        assert_true(p->artifacts.max_time_ms == 2 * 60 * 1000);
        assert_string_equal(p->source, path);
}

static void good_forms_number_and_string_limits(void **state)
{
        static const char *const command[] = { "/bin/sh", "-c", "exec \"$0\"", "{entry}", NULL };
        const struct cd_limits defaults = {
                .memory_max_bytes = 256 * MIB, /* 268435456 */
                .cpu_millis = 250,             /* 0.25 */
                .pids_max = 64,                /* "64" */
                .wall_timeout_ms = 90000,      /* "90s" */
                .cpu_time_ms = 30000,          /* 30000: a number is milliseconds */
                .grace_ms = 1500,              /* 1500 */
                .tmp_size_bytes = 64 << 10,    /* "64K": the floor */
                .shm_size_bytes = MIB,         /* "1M" */
                .work_size_bytes = GIB,        /* "1GiB" */
                .out_size_bytes = 512 * MIB,   /* "512MiB" */
                .fsize_bytes = 1024,           /* "1K" */
                .nofile = 16,                  /* "16": the floor */
        };
        const struct cd_limits max = {
                .memory_max_bytes = 512 * MIB, /* "512MiB" */
                .cpu_millis = 1500,            /* "1.5" */
                .pids_max = 128,
                .wall_timeout_ms = 120000,         /* "2m" */
                .cpu_time_ms = 60000,              /* "1m" */
                .grace_ms = 2000,                  /* "2s" */
                .tmp_size_bytes = CD_MAX_FS_BYTES, /* "1T": the ceiling */
                .shm_size_bytes = 2 * MIB,         /* "2M" */
                .work_size_bytes = GIB,            /* "1G" */
                .out_size_bytes = GIB,             /* "1G" */
                .fsize_bytes = 4096,               /* 4096 bytes */
                .nofile = 16,
        };
        struct cd_profile *p = load_ok(fixture("good", "forms.json"));

        (void) state;
        assert_string_equal(p->name, "forms");
        assert_strv_equal(p->command, command);
        assert_string_equal(p->workdir, "/tmp");
        assert_false(p->proc_subset_pid);
        /* "environment": {} passes nothing from the caller. */
        assert_true(p->env_allow == NULL || p->env_allow[0] == NULL);
        assert_null(p->env_set);
        assert_true(p->seccomp_allow == NULL || p->seccomp_allow[0] == NULL);
        assert_limits_equal(&p->defaults, &defaults);
        assert_limits_equal(&p->max, &max);
        assert_null(p->artifacts.types);
        assert_true(p->artifacts.max_files == 10);
        assert_true(p->artifacts.max_total_bytes == 2048);
        assert_true(p->artifacts.max_file_bytes == 1);
        assert_true(p->artifacts.max_depth == 64);
        assert_true(p->artifacts.max_name_bytes == 1);
        assert_true(p->artifacts.max_time_ms == 1000); /* a number: milliseconds */
}

/* cd_profile_parse has no file name to match, and names @source in messages. */
static void parse_uses_source_and_skips_file_name(void **state)
{
        static const char text[] = "{ \"name\": \"another-name\", \"command\": [\"x\"] }";
        static const char bad[] = "{ \"name\": \"x\", \"command\": \"x\" }";
        struct cd_profile *p = parse_ok(text);
        struct cd_profile *q = NULL;
        struct cd_err e = { 0 };

        (void) state;
        assert_string_equal(p->name, "another-name");
        assert_string_equal(p->source, "inline.json");
        assert_int_equal(cd_profile_parse(bad, strlen(bad), "api:upload", &host, &q, &e),
                         -CD_E_INVALID);
        assert_null(q);
        assert_string_equal(e.msg, "api:upload: command: must be an array of strings");
}

/* ---- bad profiles ---- */

struct bad_case {
        const char *file;   /* in tests/fixtures/profiles/bad */
        const char *field;  /* the JSON path (or "line N") after "<path>: " */
        const char *phrase; /* what the problem is */
};

static const struct bad_case bad_cases[] = {
        /* Syntax. */
        { "invalid-json.json", "line 4", "expected" },
        { "duplicate-key.json", "line 4", "duplicate object key" },
        { "nul-in-string.json", "line 1", "\\u0000 is not allowed" },
        { "top-level-array.json", "(top level)", "must be a JSON object" },
        /* Unknown keys, at every level that has them. */
        { "unknown-key.json", "(top level)", "unknown key \"networks\"" },
        { "unknown-key-limits.json", "limits", "unknown key \"defaults\"" },
        { "unknown-key-environment.json", "environment", "unknown key \"pass\"" },
        { "unknown-key-artifacts.json", "artifacts", "unknown key \"max_size\"" },
        { "unknown-key-mount.json", "mounts[1]", "unknown key \"readonly\"" },
        { "unknown-key-seccomp.json", "seccomp", "unknown key \"deny\"" },
        /* Types. */
        { "name-not-string.json", "name", "must be a string" },
        { "description-number.json", "description", "must be a string" },
        { "command-string.json", "command", "must be an array of strings" },
        { "command-element-number.json", "command", "element 1 must be a string" },
        { "work-readonly-string.json", "work_readonly", "must be true or false" },
        { "mounts-not-array.json", "mounts", "must be an array" },
        { "mount-not-object.json", "mounts[0]", "must be an object with source and target" },
        { "limits-not-object.json", "limits", "must be an object" },
        { "limit-set-not-object.json", "limits.default", "must be an object" },
        { "limit-wrong-type.json", "limits.default.wall", "must be a number or a string" },
        { "env-set-not-object.json", "environment.set", "must be an object of NAME: \"value\"" },
        { "env-value-not-string.json", "environment.set", "OMP_NUM_THREADS must be a string" },
        /* Identity and command. */
        { "missing-name.json", "name", "missing" },
        { "missing-command.json", "command", "missing" },
        { "empty-command.json", "command", "must not be empty" },
        { "empty-command-element.json", "command", "element 1 is empty" },
        { "entry-twice.json", "command", "\"{entry}\" may appear once" },
        { "name-mismatch.json", "name",
          "\"another-name\" does not match the file name \"name-mismatch.json\"" },
        { "name-bad-chars.json", "name", "must be 1 to 32 of a-z, 0-9 and '-'" },
        { "name-too-long.json", "name", "must be 1 to 32 of a-z, 0-9 and '-'" },
        { "image-not-built.json", "image", "image \"noimg\" is not built" },
        { "image-bad-name.json", "image", "must be \"host\" or an image name" },
        /* The sandbox. */
        { "network-host.json", "network", "only \"none\" is supported" },
        { "proc-none.json", "proc", "must be \"full\" or \"pid\"" },
        { "workdir-outside.json", "workdir", "must be /work, /tmp, /out or below them" },
        { "workdir-prefix.json", "workdir", "must be /work, /tmp, /out or below them" },
        { "workdir-unclean.json", "workdir", "must be /work, /tmp, /out or below them" },
        { "mount-target-reserved.json", "mounts[0]",
          "target /proc would cover a directory cordon builds" },
        { "mount-target-below-reserved.json", "mounts[0]",
          "target /etc/ssl/certs would cover a directory cordon builds" },
        { "mount-target-root.json", "mounts[0]", "target / would cover a directory cordon builds" },
        { "mount-target-relative.json", "mounts[0]", "must be absolute, without '.', '..'" },
        { "mount-source-dotdot.json", "mounts[0]", "must be absolute, without '.', '..'" },
        /* Limits. */
        { "limit-unknown.json", "limits.default", "unknown limit \"swap\"" },
        { "limit-dash-name.json", "limits.max", "unknown limit \"cpu-time\"" },
        { "limit-junk-suffix.json", "limits.default.memory", "not a valid value" },
        { "duration-no-unit.json", "limits.default.wall", "needs a unit (\"300ms\" or \"300s\")" },
        { "limit-negative-string.json", "limits.default.memory", "not a valid value" },
        { "limit-overflow.json", "limits.max.memory", "out of range" },
        { "limit-below-floor.json", "limits.default.memory", "1M is outside [4M, 1T]" },
        { "limit-above-hard-max.json", "limits.max.pids", "5000000 is outside [2, 4194304]" },
        { "default-above-max.json", "limits", "default memory 2G is above its maximum 1G" },
        { "max-below-builtin-default.json", "limits", "default wall 5m is above its maximum 1m" },
        { "memory-above-host.json", "limits.max.memory", "16G exceeds this host's memory (8G)" },
        { "cpus-above-host.json", "limits.max.cpus", "8 exceeds this host's 4 CPUs" },
        { "cpus-four-decimals.json", "limits.default.cpus", "not a valid value" },
        { "cpus-four-decimals-number.json", "limits.default.cpus", "not a valid value" },
        /* Seccomp, artifacts, environment. */
        { "seccomp-unknown.json", "seccomp.allow", "unknown addition \"bpf\"" },
        { "artifacts-bad-mime.json", "artifacts.types", "\"Text/HTML\" is not a MIME type" },
        { "artifacts-mime-no-subtype.json", "artifacts.types", "\"text/\" is not a MIME type" },
        { "artifacts-cap-zero.json", "artifacts.max_files", "0 is outside [1, 100000]" },
        /* More than a manifest lists: before, files past it were dropped unsaid. */
        { "artifacts-too-many-files.json", "artifacts.max_files", "100001 is outside [1, 100000]" },
        { "artifacts-cap-too-deep.json", "artifacts.max_depth", "65 is outside [1, 64]" },
        { "artifacts-name-too-long.json", "artifacts.max_name_bytes", "256 is outside [1, 255]" },
        { "artifacts-time-too-short.json", "artifacts.max_time", "500ms is outside [1s, 1h]" },
        { "artifacts-time-too-long.json", "artifacts.max_time", "2h is outside [1s, 1h]" },
        { "artifacts-time-no-unit.json", "artifacts.max_time", "needs a unit" },
        { "env-bad-name.json", "environment.set", "\"1ST\" is not a variable name" },
        { "env-allow-bad-pattern.json", "environment.allow",
          "\"*\" is not a variable name or NAME_* prefix" },
};

/* Bad fixtures whose messages are checked by a test of their own below. */
static const char *const bad_elsewhere[] = {
        "mount-missing-source.json",         /* bad_mount_member_names_its_key */
        "mount-optional-string.json",        /* bad_mount_member_names_its_key */
        "limit-negative.json",               /* bad_negative_limit_says_negative */
        "limit-fraction-size.json",          /* bad_fractional_size_says_whole_number */
        "cpu-time-max-without-default.json", /* bad_cpu_time_default_none_says_none */
};

/* Load @path; it must be refused with @code and a message that starts
 * with "<path>: <field>: " and holds @phrase. */
static void expect_refused_load(const char *path, int code, const char *field, const char *phrase)
{
        struct cd_profile *p = NULL;
        struct cd_err e = { 0 };
        int r = cd_profile_load(path, &host, &p, &e);
        const char *prefix = field ? fmt("%s: %s: ", path, field) : fmt("%s: ", path);

        if (r == 0) {
                ut_defer(profile_free, p);
                fail_msg("%s: accepted, expected a refusal with \"%s\"", path, phrase);
        }
        if (r != -code || e.code != code)
                fail_msg("%s: returned %d (code %d), expected %d: %s", path, r, e.code, -code,
                         e.msg);
        if (strncmp(e.msg, prefix, strlen(prefix)) != 0)
                fail_msg("%s: message \"%s\" does not start with \"%s\"", path, e.msg, prefix);
        if (!strstr(e.msg, phrase))
                fail_msg("%s: message \"%s\" does not say \"%s\"", path, e.msg, phrase);
        assert_null(p);
}

static void bad_fixtures_refused_with_precise_messages(void **state)
{
        (void) state;
        assert_true(ELEMENTSOF(bad_cases) >= 20);
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                const struct bad_case *c = &bad_cases[i];

                expect_refused_load(fixture("bad", c->file), CD_E_INVALID, c->field, c->phrase);
        }
}

static bool bad_file_listed(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++)
                if (strcmp(bad_cases[i].file, name) == 0)
                        return true;
        for (size_t i = 0; i < ELEMENTSOF(bad_elsewhere); i++)
                if (strcmp(bad_elsewhere[i], name) == 0)
                        return true;
        return false;
}

/* A fixture without an expectation would prove nothing: every file in
 * bad/ is in one of the tables, and every table entry is a file. */
static void bad_fixtures_all_have_expectations(void **state)
{
        const char *dir = fmt("%s/bad", fixtures_dir);
        size_t n = 0;
        DIR *d = opendir(dir);
        struct dirent *de;

        (void) state;
        assert_non_null(d);
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                n++;
                if (!bad_file_listed(de->d_name)) {
                        (void) closedir(d);
                        fail_msg("bad/%s has no expected message in test_profile.c", de->d_name);
                }
        }
        (void) closedir(d);
        assert_int_equal(n, ELEMENTSOF(bad_cases) + ELEMENTSOF(bad_elsewhere));
}

/* A file over 256 KiB is refused before parsing; one of exactly 256 KiB loads. */
static void bad_file_too_large(void **state)
{
        static const char head[] = "{ \"name\": \"big\", \"command\": [\"/bin/true\"] }";
        const size_t limit = 256 << 10;
        const char *dir = temp_dir();
        char *text = ut_defer(free, malloc(limit + 2));

        (void) state;
        assert_non_null(text);
        /* Valid JSON padded with spaces: only its size is wrong. */
        memset(text, ' ', limit + 1);
        memcpy(text, head, strlen(head));
        text[limit + 1] = '\0';
        write_file(dir, "big.json", text);
        expect_refused_load(fmt("%s/big.json", dir), CD_E_INVALID, NULL,
                            "larger than 262144 bytes");
        text[limit] = '\0';
        write_file(dir, "big.json", text);
        assert_string_equal(load_ok(fmt("%s/big.json", dir))->name, "big");
}

static void bad_not_regular_file(void **state)
{
        const char *dir = temp_dir();
        const char *path = fmt("%s/x.json", dir);
        struct cd_profile *p = NULL;
        struct cd_err e = { 0 };

        (void) state;
        assert_int_equal(mkdir(path, 0755), 0);
        expect_refused_load(path, CD_E_INVALID, NULL, "not a regular file");
        /* A missing file: the errno, and the path. */
        path = fmt("%s/missing.json", dir);
        assert_int_equal(cd_profile_load(path, &host, &p, &e), -ENOENT);
        assert_int_equal(e.code, ENOENT);
        assert_non_null(strstr(e.msg, path));
        assert_null(p);
}

static void rm_rf_deferred(void *path)
{
        (void) ut_rm_rf(path);
        free(path);
}

/* An image someone else could change, or a symlink to one, is refused. */
static void bad_image_not_roots_alone(void **state)
{
        const char *open_img = fmt("%s/openimg", images_dir);
        struct cd_profile *p = NULL;
        struct cd_err e = { 0 };
        const char *body;

        (void) state;
        assert_int_equal(mkdir(open_img, 0755), 0);
        assert_int_equal(mkdir(fmt("%s/usr", open_img), 0755), 0);
        assert_int_equal(chmod(fmt("%s/usr", open_img), 0777), 0);
        body = fmt("{\"name\": \"x\", \"image\": \"%s\", \"command\": [\"/bin/true\"]}", "openimg");
        assert_int_equal(cd_profile_parse(body, strlen(body), "x.json", &host, &p, &e),
                         -CD_E_INVALID);
        assert_non_null(strstr(e.msg, "x.json: image: "));
        assert_non_null(strstr(e.msg, "not writable by group or others"));
        assert_int_equal(chmod(fmt("%s/usr", open_img), 0755), 0);
        assert_int_equal(mkdir(fmt("%s/etc", open_img), 0775), 0);
        assert_int_equal(chmod(fmt("%s/etc", open_img), 0775), 0);
        assert_int_equal(cd_profile_parse(body, strlen(body), "x.json", &host, &p, &e),
                         -CD_E_INVALID);
        assert_non_null(strstr(e.msg, "/etc must be owned by root"));
        assert_int_equal(chmod(fmt("%s/etc", open_img), 0755), 0);
        assert_null(p);
        assert_int_equal(cd_profile_parse(body, strlen(body), "x.json", &host, &p, &e), 0);
        p = ut_defer(profile_free, p);

        /* An image that is a symlink to a good one. */
        assert_int_equal(symlink("fakeimg", fmt("%s/linkimg", images_dir)), 0);
        body = fmt("{\"name\": \"x\", \"image\": \"%s\", \"command\": [\"/bin/true\"]}", "linkimg");
        p = NULL;
        assert_int_equal(cd_profile_parse(body, strlen(body), "x.json", &host, &p, &e),
                         -CD_E_INVALID);
        assert_non_null(strstr(e.msg, "is not a directory"));
        assert_int_equal(unlink(fmt("%s/linkimg", images_dir)), 0);
        assert_int_equal(ut_rm_rf(open_img), 0);
}

/*
 * Not only /usr runs in every job: an image without a merged /usr keeps
 * the dynamic loader and libc in /lib (bound like /usr), and whoever may
 * write the images directory can put another tree in an image's place
 * once the profile has loaded. Both were taken as they were.
 */
static void bad_image_lib_or_images_dir_not_roots_alone(void **state)
{
        const char *img = fmt("%s/splitimg", images_dir);
        const char *open_dir = fmt("%s/openimages", base_dir);
        struct cd_profile_host open_host = host;
        struct cd_profile *p = NULL;
        struct cd_err e = { 0 };
        const char *body =
                "{\"name\": \"x\", \"image\": \"splitimg\", \"command\": [\"/bin/true\"]}";

        (void) state;
        ut_defer(rm_rf_deferred, strdup(img));
        ut_defer(rm_rf_deferred, strdup(open_dir));
        assert_int_equal(mkdir(img, 0755), 0);
        assert_int_equal(mkdir(fmt("%s/usr", img), 0755), 0);
        assert_int_equal(mkdir(fmt("%s/lib", img), 0755), 0);
        assert_int_equal(chmod(fmt("%s/lib", img), 0777), 0);
        assert_int_equal(cd_profile_parse(body, strlen(body), "x.json", &host, &p, &e),
                         -CD_E_INVALID);
        assert_null(p);
        if (!strstr(e.msg, fmt("%s/lib must be owned by root", img)))
                fail_msg("\"%s\" should refuse %s/lib", e.msg, img);
        /* As a symlink (merged /usr) it is made again in the sandbox: fine. */
        assert_int_equal(rmdir(fmt("%s/lib", img)), 0);
        assert_int_equal(symlink("usr/lib", fmt("%s/lib", img)), 0);
        assert_int_equal(cd_profile_parse(body, strlen(body), "x.json", &host, &p, &e), 0);
        p = ut_defer(profile_free, p);

        /* The same image in an images directory its group may write. */
        assert_int_equal(mkdir(open_dir, 0755), 0);
        assert_int_equal(mkdir(fmt("%s/splitimg", open_dir), 0755), 0);
        assert_int_equal(mkdir(fmt("%s/splitimg/usr", open_dir), 0755), 0);
        assert_int_equal(chmod(open_dir, 0775), 0);
        open_host.images_dir = open_dir;
        p = NULL;
        assert_int_equal(cd_profile_parse(body, strlen(body), "x.json", &open_host, &p, &e),
                         -CD_E_INVALID);
        assert_null(p);
        if (!strstr(e.msg, "images directory") || !strstr(e.msg, open_dir))
                fail_msg("\"%s\" should refuse the images directory %s", e.msg, open_dir);

        /* Its own mode is fine, but a directory above may be written: the
         * whole images directory could be renamed away and replaced. */
        assert_int_equal(mkdir(fmt("%s/inner", open_dir), 0755), 0);
        assert_int_equal(rename(fmt("%s/splitimg", open_dir), fmt("%s/inner/splitimg", open_dir)),
                         0);
        open_host.images_dir = fmt("%s/inner", open_dir);
        assert_int_equal(cd_profile_parse(body, strlen(body), "x.json", &open_host, &p, &e),
                         -CD_E_INVALID);
        assert_null(p);
        if (!strstr(e.msg, "images directory") || !strstr(e.msg, fmt("%s must be", open_dir)))
                fail_msg("\"%s\" should refuse %s above the images directory", e.msg, open_dir);

        /* Reached through a symlink: refused, never followed. */
        assert_int_equal(chmod(open_dir, 0755), 0);
        assert_int_equal(symlink("inner", fmt("%s/link", open_dir)), 0);
        open_host.images_dir = fmt("%s/link", open_dir);
        assert_int_equal(cd_profile_parse(body, strlen(body), "x.json", &open_host, &p, &e),
                         -CD_E_INVALID);
        assert_null(p);
        if (!strstr(e.msg, "is a symlink"))
                fail_msg("\"%s\" should refuse the symlinked images directory", e.msg);
        open_host.images_dir = fmt("%s/inner", open_dir);
        assert_int_equal(cd_profile_parse(body, strlen(body), "x.json", &open_host, &p, &e), 0);
        p = ut_defer(profile_free, p);
}

/*
 * The field of a mount's member: "mounts[0]: missing" does not say that
 * "source" is what is missing, nor which member must be true or false.
 */
static void bad_mount_member_names_its_key(void **state)
{
        (void) state;
        expect_refused_load(fixture("bad", "mount-missing-source.json"), CD_E_INVALID,
                            "mounts[0].source", "missing");
        expect_refused_load(fixture("bad", "mount-optional-string.json"), CD_E_INVALID,
                            "mounts[0].optional", "must be true or false");
}

/* Message of a load refused with CD_E_INVALID naming @field. */
static const char *refusal(const char *path, const char *field)
{
        struct cd_profile *p = NULL;
        struct cd_err *e = ut_defer(free, calloc(1, sizeof(*e)));
        const char *prefix = fmt("%s: %s: ", path, field);

        assert_non_null(e);
        if (cd_profile_load(path, &host, &p, e) == 0) {
                ut_defer(profile_free, p);
                fail_msg("%s accepted", path);
        }
        assert_int_equal(e->code, CD_E_INVALID);
        if (strncmp(e->msg, prefix, strlen(prefix)) != 0)
                fail_msg("message \"%s\" does not start with \"%s\"", e->msg, prefix);
        return e->msg;
}

/* -1 is a number: "must be a number or a string" sends the admin looking
 * for the wrong mistake. */
static void bad_negative_limit_says_negative(void **state)
{
        const char *msg = refusal(fixture("bad", "limit-negative.json"), "limits.default.pids");

        (void) state;
        if (strstr(msg, "must be a number") || !strstr(msg, "negative"))
                fail_msg("\"%s\" should say the value is negative", msg);
}

/* 1.5 is a number too: only cpus takes a fraction. */
static void bad_fractional_size_says_whole_number(void **state)
{
        const char *msg =
                refusal(fixture("bad", "limit-fraction-size.json"), "limits.default.memory");

        (void) state;
        if (strstr(msg, "must be a number") || !strstr(msg, "whole"))
                fail_msg("\"%s\" should say that only a whole number is accepted", msg);
}

/* A max cpu_time with no default cpu_time: the default is none, which is
 * looser than any maximum. The message must say "none", not "0s". */
static void bad_cpu_time_default_none_says_none(void **state)
{
        const char *msg = refusal(fixture("bad", "cpu-time-max-without-default.json"), "limits");

        (void) state;
        if (!strstr(msg, "default cpu_time none is above its maximum 1m"))
                fail_msg("\"%s\" should say \"default cpu_time none is above its maximum 1m\"",
                         msg);
}

/* The rule the message states ("a-z, 0-9 and '-'") is the rule applied. */
static void bad_name_with_underscore(void **state)
{
        static const char text[] = "{ \"name\": \"my_profile\", \"command\": [\"x\"] }";
        struct cd_profile *p = NULL;
        struct cd_err e = { 0 };
        int r = cd_profile_parse(text, strlen(text), "inline.json", &host, &p, &e);

        (void) state;
        if (r == 0) {
                ut_defer(profile_free, p);
                fail_msg("name \"my_profile\" accepted; names are a-z, 0-9 and '-'");
        }
        assert_int_equal(r, -CD_E_INVALID);
        assert_non_null(strstr(e.msg, "inline.json: name: "));
}

/* ---- directories of profiles ---- */

static void copy_fixture(const char *dir, const char *sub, const char *file)
{
        cleanup_free char *text = NULL;
        int fd = ut_open_dir(fmt("%s/%s", fixtures_dir, sub));

        assert_true(fd >= 0);
        text = ut_read_file(fd, file, NULL);
        (void) close(fd);
        assert_non_null(text);
        write_file(dir, file, text);
}

static void set_load_sorted_by_name(void **state)
{
        const char *dir = temp_dir();
        struct cd_profile_set *set = new_set();
        struct cd_err e = { 0 };
        int r;

        (void) state;
        copy_fixture(dir, "good", "minimal.json");
        copy_fixture(dir, "good", "full.json");
        copy_fixture(dir, "good", "forms.json");
        /* Not profiles: no .json suffix, hidden, or just ".json". */
        write_file(dir, "README", "not a profile");
        write_file(dir, "minimal.json.orig", "{");
        write_file(dir, ".hidden.json", "{");
        write_file(dir, ".json", "{");
        r = cd_profile_set_load(dir, &host, set, &e);
        if (r != 0)
                fail_msg("set refused: %s", e.msg);
        assert_int_equal(set->n, 3);
        assert_string_equal(set->items[0]->name, "forms");
        assert_string_equal(set->items[1]->name, "full");
        assert_string_equal(set->items[2]->name, "minimal");
        assert_ptr_equal(cd_profile_set_find(set, "full"), set->items[1]);
        assert_string_equal(cd_profile_set_find(set, "full")->source, fmt("%s/full.json", dir));
        assert_null(cd_profile_set_find(set, "ful"));
        assert_null(cd_profile_set_find(set, "README"));
}

static void set_load_empty_and_missing(void **state)
{
        const char *dir = temp_dir();
        const char *missing = fmt("%s/none", dir);
        struct cd_profile_set set = { 0 };
        struct cd_err e = { 0 };

        (void) state;
        assert_int_equal(cd_profile_set_load(dir, &host, &set, &e), 0);
        assert_int_equal(set.n, 0);
        cd_profile_set_clear(&set);
        assert_int_equal(cd_profile_set_load(missing, &host, &set, &e), -ENOENT);
        assert_non_null(strstr(e.msg, missing));
}

/* One bad file refuses the whole set: *ret untouched, every profile
 * already loaded freed (the sanitizer build checks), no fd left open. */
static void set_load_one_bad_refuses_all(void **state)
{
        static const char *const bad[] = { "limit-below-floor.json", "name-mismatch.json",
                                           "invalid-json.json" };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                const char *dir = temp_dir();
                struct cd_profile **sentinel = ut_defer(free, calloc(1, sizeof(*sentinel)));
                struct cd_profile_set set = { .items = sentinel, .n = 0 };
                struct cd_err e = { 0 };
                int fds, r;

                assert_non_null(sentinel);
                copy_fixture(dir, "good", "minimal.json");
                copy_fixture(dir, "good", "full.json");
                copy_fixture(dir, "good", "forms.json");
                copy_fixture(dir, "bad", bad[i]);
                fds = ut_count_fds();
                r = cd_profile_set_load(dir, &host, &set, &e);
                assert_int_equal(r, -CD_E_INVALID);
                assert_int_equal(e.code, CD_E_INVALID);
                if (!strstr(e.msg, fmt("%s/%s: ", dir, bad[i])))
                        fail_msg("message \"%s\" does not name %s", e.msg, bad[i]);
                assert_ptr_equal(set.items, sentinel);
                assert_int_equal(set.n, 0);
                assert_int_equal(ut_count_fds(), fds);
        }
}

static void set_load_refuses_a_directory_entry(void **state)
{
        const char *dir = temp_dir();
        struct cd_profile_set set = { 0 };
        struct cd_err e = { 0 };

        (void) state;
        copy_fixture(dir, "good", "minimal.json");
        assert_int_equal(mkdir(fmt("%s/x.json", dir), 0755), 0);
        assert_int_equal(cd_profile_set_load(dir, &host, &set, &e), -CD_E_INVALID);
        assert_non_null(strstr(e.msg, "x.json: not a regular file"));
        assert_null(set.items);
}

/* ---- who may change the profiles ---- */

/* What a refusal of a profile file others may change says. */
static const char *not_alone(const char *path)
{
        return fmt("%s must be owned by root and not writable by group or others", path);
}

/* The same of a directory: "profiles: " and the directory. */
static const char *dir_not_alone(const char *path)
{
        return fmt("profiles: %s", not_alone(path));
}

/* A fresh profiles directory (0755) holding minimal.json (0644), below a
 * temp directory of its own (0700). */
static const char *owner_dir(void)
{
        const char *dir = fmt("%s/profiles", temp_dir());

        assert_int_equal(mkdir(dir, 0755), 0);
        assert_int_equal(chmod(dir, 0755), 0);
        copy_fixture(dir, "good", "minimal.json");
        return dir;
}

/* The set in @dir loads the one profile, and so does @dir/minimal.json. */
static void expect_owner_ok(const char *dir)
{
        struct cd_profile_set *set = new_set();
        struct cd_err e = { 0 };

        if (cd_profile_set_load(dir, &host, set, &e) != 0)
                fail_msg("%s refused: %s", dir, e.msg);
        assert_int_equal(set->n, 1);
        assert_string_equal(load_ok(fmt("%s/minimal.json", dir))->name, "minimal");
}

/* The set in @dir and the profile @dir/minimal.json are both refused with
 * -@code, saying @want. */
static void expect_owner_refused(const char *dir, int code, const char *want)
{
        struct cd_profile_set set = { 0 };
        struct cd_profile *p = NULL;
        struct cd_err e = { 0 };
        int r = cd_profile_set_load(dir, &host, &set, &e);

        if (r == 0) {
                cd_profile_set_clear(&set);
                fail_msg("%s: set accepted, expected \"%s\"", dir, want);
        }
        if (r != -code || e.code != code || !strstr(e.msg, want))
                fail_msg("%s: set refused with %d \"%s\", expected %d \"%s\"", dir, r, e.msg, -code,
                         want);
        assert_null(set.items);
        r = cd_profile_load(fmt("%s/minimal.json", dir), &host, &p, &e);
        if (r == 0) {
                ut_defer(profile_free, p);
                fail_msg("%s/minimal.json: accepted, expected \"%s\"", dir, want);
        }
        if (r != -code || e.code != code || !strstr(e.msg, want))
                fail_msg("%s/minimal.json: refused with %d \"%s\", expected %d \"%s\"", dir, r,
                         e.msg, -code, want);
}

/* Root's files (or the caller's) that no one else may write, in a
 * directory below a sticky one that everyone may write (as /tmp is): the
 * profiles directory is the caller's, and no one else may rename it. */
static void owner_good_cases_load(void **state)
{
        const char *dir = owner_dir(), *sticky = fmt("%s/sticky", temp_dir());
        const char *below = fmt("%s/profiles", sticky);

        (void) state;
        expect_owner_ok(dir);
        assert_int_equal(chmod(fmt("%s/minimal.json", dir), 0400), 0);
        expect_owner_ok(dir);
        assert_int_equal(mkdir(sticky, 0700), 0);
        assert_int_equal(chmod(sticky, 01777), 0);
        assert_int_equal(mkdir(below, 0755), 0);
        copy_fixture(below, "good", "minimal.json");
        expect_owner_ok(below);
}

/* A profile file its group or others may write: they could loosen every
 * later job of the profile. It loaded. */
static void owner_writable_file_refused(void **state)
{
        const char *dir = owner_dir(), *file = fmt("%s/minimal.json", dir);

        (void) state;
        assert_int_equal(chmod(file, 0664), 0);
        expect_owner_refused(dir, EPERM, not_alone(file));
        assert_int_equal(chmod(file, 0646), 0);
        expect_owner_refused(dir, EPERM, not_alone(file));
        assert_int_equal(chmod(file, 0644), 0);
        expect_owner_ok(dir);
}

/* A profiles directory others may write: they could add a profile or put
 * their own file in a profile's place. Sticky or not. It loaded. */
static void owner_writable_dir_refused(void **state)
{
        static const mode_t modes[] = { 0775, 0757, 01777 };
        const char *dir = owner_dir();

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                assert_int_equal(chmod(dir, modes[i]), 0);
                expect_owner_refused(dir, EPERM, dir_not_alone(dir));
        }
        assert_int_equal(chmod(dir, 0755), 0);
        expect_owner_ok(dir);
}

/* Whoever may write a directory above the profiles directory may rename
 * it away and put their own in its place; a sticky one lets only the
 * entry's owner (and root) do that. It loaded. */
static void owner_writable_ancestor_refused(void **state)
{
        const char *top = temp_dir(), *mid = fmt("%s/mid", top), *dir = fmt("%s/profiles", mid);

        (void) state;
        assert_int_equal(mkdir(mid, 0755), 0);
        assert_int_equal(mkdir(dir, 0755), 0);
        copy_fixture(dir, "good", "minimal.json");
        expect_owner_ok(dir);
        assert_int_equal(chmod(mid, 0775), 0);
        expect_owner_refused(dir, EPERM, dir_not_alone(mid));
        assert_int_equal(chmod(mid, 0777), 0);
        expect_owner_refused(dir, EPERM, dir_not_alone(mid));
        assert_int_equal(chmod(top, 0757), 0);
        assert_int_equal(chmod(mid, 0755), 0);
        expect_owner_refused(dir, EPERM, dir_not_alone(top));
        assert_int_equal(chmod(top, 0700), 0);
        assert_int_equal(chmod(mid, 01777), 0);
        expect_owner_ok(dir);
}

/* Files and directories of another user (chown needs root: run as a user,
 * the rest of the owner tests still run). It loaded. */
static void owner_other_uid_refused(void **state)
{
        const char *dir = owner_dir(), *file = fmt("%s/minimal.json", dir);
        const char *top = fmt("%.*s", (int) (strrchr(dir, '/') - dir), dir);

        (void) state;
        if (geteuid() != 0) {
                fprintf(stderr, "skipped: chown to uid 65534 needs root\n");
                skip();
        }
        assert_int_equal(chown(file, 65534, 65534), 0);
        expect_owner_refused(dir, EPERM, not_alone(file));
        assert_int_equal(chown(file, 0, 0), 0);
        assert_int_equal(chown(dir, 65534, 65534), 0);
        expect_owner_refused(dir, EPERM, dir_not_alone(dir));
        assert_int_equal(chown(dir, 0, 0), 0);
        assert_int_equal(chown(top, 65534, 65534), 0);
        expect_owner_refused(dir, EPERM, dir_not_alone(top));
        /* Below a sticky directory, another user's directory could be
         * renamed by them. */
        assert_int_equal(chmod(top, 01777), 0);
        assert_int_equal(chown(top, 0, 0), 0);
        expect_owner_ok(dir);
        assert_int_equal(chown(dir, 65534, 65534), 0);
        expect_owner_refused(dir, EPERM, dir_not_alone(dir));
        assert_int_equal(chown(dir, 0, 0), 0);
        assert_int_equal(chmod(top, 0700), 0);
}

/* A profile that is a symlink is not read (whoever planted it chose what
 * it reads), nor is a profiles directory reached through one. Both were
 * followed. */
static void owner_symlinks_refused(void **state)
{
        const char *top = temp_dir(), *dir = fmt("%s/profiles", top), *other = owner_dir();
        const char *link = fmt("%s/via", top);

        (void) state;
        assert_int_equal(mkdir(dir, 0755), 0);
        assert_int_equal(symlink(fmt("%s/minimal.json", other), fmt("%s/minimal.json", dir)), 0);
        expect_owner_refused(dir, ELOOP, fmt("%s/minimal.json is a symlink", dir));
        assert_int_equal(symlink(other, link), 0);
        expect_owner_refused(link, ELOOP, fmt("profiles: %s is a symlink", link));
}

/* A FIFO named like a profile: refused at once, not waited on (O_NONBLOCK). */
static void owner_fifo_refused_without_blocking(void **state)
{
        const char *dir = owner_dir(), *fifo = fmt("%s/x.json", dir);
        struct cd_profile_set set = { 0 };
        struct cd_err e = { 0 };

        (void) state;
        assert_int_equal(mkfifo(fifo, 0644), 0);
        assert_int_equal(cd_profile_set_load(dir, &host, &set, &e), -CD_E_INVALID);
        if (!strstr(e.msg, fmt("%s: not a regular file", fifo)))
                fail_msg("\"%s\" should refuse %s", e.msg, fifo);
        assert_null(set.items);
}

/* ---- the shipped profiles ---- */

static void shipped_profiles_load(void **state)
{
        static const char *const names[] = { "data-export", "default", "quarto", "rmarkdown",
                                             "rscript" };
        const char *dir = fmt("%s/profiles", repo_dir);
        struct cd_profile_set *set = new_set();
        const struct cd_profile *p;
        struct cd_err e = { 0 };

        (void) state;
        if (cd_profile_set_load(dir, &host, set, &e) != 0)
                fail_msg("shipped profiles refused: %s", e.msg);
        assert_int_equal(set->n, ELEMENTSOF(names));
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                assert_string_equal(set->items[i]->name, names[i]);
                assert_string_equal(set->items[i]->image_root, "/");
                assert_non_null(set->items[i]->description);
        }
        /* The clinical depot's export: read-only inputs and no loosening at all. */
        p = cd_profile_set_find(set, "data-export");
        assert_non_null(p);
        assert_true(p->work_readonly);
        assert_true(p->defaults.memory_max_bytes == GIB);
        assert_true(p->defaults.cpu_millis == 500);
        assert_true(p->defaults.wall_timeout_ms == 5 * 60 * 1000);
        assert_limits_equal(&p->max, &p->defaults);
        assert_non_null(p->artifacts.types);
}

/* A request to loosen data-export's memory is refused, naming the flag and the maximum. */
/* Inputs holding every entry file the plan tests name: an entry must be
 * among the inputs. */
static char *entry_inputs[] = { "/in/main.R",    "/in/export.R", "/in/dir", "/in/a b.R",
                                "/in/.hidden.R", "/in/x-y",      NULL };

static void shipped_data_export_refuses_more_memory(void **state)
{
        const char *dir = fmt("%s/profiles", repo_dir);
        struct cd_profile *p = load_ok(fmt("%s/data-export.json", dir));
        const struct cd_limit_def *d = cd_limit_find("memory");
        struct cd_request req = { .entry = "export.R", .inputs = entry_inputs };
        struct cd_plan *plan = NULL;
        struct cd_err e = { 0 };

        (void) state;
        req.limits.memory_max_bytes = 2 * GIB;
        req.limits_set = 1u << (d - cd_limit_defs);
        assert_int_equal(cd_profile_plan(p, &req, &plan, &e), -CD_E_INVALID);
        assert_null(plan);
        assert_string_equal(e.msg, "--memory: 2G is above the data-export profile's maximum of 1G");
}

/* ---- cd_profile_plan ---- */

/* A profile over fakeimg with an existing required mount and a missing
 * optional one; its limits leave room between default and maximum. */
static struct cd_profile *plan_profile(void)
{
        return parse_ok(fmt(
                "{ \"name\": \"plan\", \"image\": \"fakeimg\","
                "  \"mounts\": [ { \"source\": \"%s\", \"target\": \"/opt/tool\" },"
                "                { \"source\": \"%s/absent\", \"target\": \"/opt/absent\","
                "                  \"optional\": true } ],"
                "  \"command\": [\"Rscript\", \"--vanilla\", \"{entry}\"],"
                "  \"workdir\": \"/work/sub\", \"work_readonly\": true, \"proc\": \"pid\","
                "  \"environment\": { \"allow\": [\"LANG\", \"LC_*\", \"TZ\"],"
                "                     \"set\": { \"TZ\": \"UTC\", \"OMP_NUM_THREADS\": \"1\" } },"
                "  \"limits\": {"
                "    \"default\": { \"memory\": \"1G\", \"cpus\": 0.5, \"wall\": \"5m\","
                "                   \"cpu_time\": \"30s\" },"
                "    \"max\": { \"memory\": \"2G\", \"cpus\": 1, \"wall\": \"1h\","
                "               \"cpu_time\": \"60s\" } },"
                "  \"seccomp\": { \"allow\": [\"ptrace\", \"io_uring\"] },"
                "  \"artifacts\": { \"types\": [\"text/csv\", \"application/pdf\"],"
                "                   \"max_files\": 7, \"max_total_bytes\": \"3M\","
                "                   \"max_file_bytes\": \"1M\", \"max_depth\": 2,"
                "                   \"max_name_bytes\": 64, \"max_time\": \"90s\" } }",
                tool_dir, base_dir));
}

static struct cd_plan *plan_ok(const struct cd_profile *p, const struct cd_request *req)
{
        struct cd_plan *plan = NULL;
        struct cd_err e = { 0 };
        int r = cd_profile_plan(p, req, &plan, &e);

        if (r != 0)
                fail_msg("plan refused (%d): %s", r, e.msg);
        assert_non_null(plan);
        return ut_defer(plan_free, plan);
}

/* The refusal's message; the plan stays unset. */
static const char *plan_refused(const struct cd_profile *p, const struct cd_request *req, int code)
{
        struct cd_plan *plan = NULL;
        struct cd_err *e = ut_defer(free, calloc(1, sizeof(*e)));
        int r;

        assert_non_null(e);
        r = cd_profile_plan(p, req, &plan, e);
        if (r == 0) {
                ut_defer(plan_free, plan);
                fail_msg("plan accepted, expected code %d", code);
        }
        if (r != -code || e->code != code)
                fail_msg("returned %d (code %d), expected %d: %s", r, e->code, -code, e->msg);
        assert_null(plan);
        return e->msg;
}

static void request_set(struct cd_request *req, const char *name, uint64_t v)
{
        const struct cd_limit_def *d = cd_limit_find(name);

        assert_non_null(d);
        *cd_limit_field(&req->limits, d) = v;
        req->limits_set |= 1u << (d - cd_limit_defs);
}

static const struct cd_bind *find_bind(const struct cd_plan *plan, const char *target)
{
        for (size_t i = 0; i < plan->n_binds; i++)
                if (strcmp(plan->binds[i].target, target) == 0)
                        return &plan->binds[i];
        return NULL;
}

static void plan_from_profile_defaults(void **state)
{
        static const char *const argv[] = { "Rscript", "--vanilla", "main.R", NULL };
        struct cd_profile *p = plan_profile();
        struct cd_request req = { .entry = "main.R", .inputs = entry_inputs };
        struct cd_plan *plan = plan_ok(p, &req);
        const struct cd_bind *b;

        (void) state;
        assert_string_equal(plan->profile, "plan");
        assert_strv_equal(plan->argv, argv);
        /* The profile's template is untouched. */
        assert_string_equal(p->command[2], "{entry}");
        assert_string_equal(plan->workdir, "/work/sub");
        assert_true(plan->work_readonly);
        assert_true(plan->proc_subset_pid);
        assert_strv_equal(plan->inputs, (const char *const *) entry_inputs);
        assert_limits_equal(&plan->limits, &p->defaults);
        /* The image's trees, then the profile's mounts. */
        b = find_bind(plan, "/usr");
        assert_non_null(b);
        assert_string_equal(b->source, fmt("%s/fakeimg/usr", images_dir));
        assert_string_equal(plan->etc_source, fmt("%s/fakeimg/etc", images_dir));
        b = find_bind(plan, "/opt/tool");
        assert_non_null(b);
        assert_string_equal(b->source, tool_dir);
        assert_false(b->optional);
}

static void plan_tightens_any_limit(void **state)
{
        struct cd_profile *p = plan_profile();
        struct cd_request req = { .entry = "main.R", .inputs = entry_inputs };
        struct cd_limits want = p->defaults;
        struct cd_plan *plan;

        (void) state;
        request_set(&req, "memory", 512 * MIB);
        request_set(&req, "cpus", 100);
        request_set(&req, "pids", 16);
        request_set(&req, "cpu_time", 1000);
        want.memory_max_bytes = 512 * MIB;
        want.cpu_millis = 100;
        want.pids_max = 16;
        want.cpu_time_ms = 1000;
        plan = plan_ok(p, &req);
        assert_limits_equal(&plan->limits, &want);
}

static void plan_loosens_up_to_max(void **state)
{
        struct cd_profile *p = plan_profile();
        struct cd_request req = { .entry = "main.R", .inputs = entry_inputs };
        struct cd_plan *plan;

        (void) state;
        for (size_t i = 0; i < cd_n_limit_defs; i++) {
                *cd_limit_field(&req.limits, &cd_limit_defs[i]) =
                        cd_limit_get(&p->max, &cd_limit_defs[i]);
                req.limits_set |= 1u << i;
        }
        plan = plan_ok(p, &req);
        assert_limits_equal(&plan->limits, &p->max);
        assert_true(plan->limits.memory_max_bytes == 2 * GIB);
        assert_true(plan->limits.cpu_millis == 1000);
        assert_true(plan->limits.wall_timeout_ms == 3600 * 1000);
        assert_true(plan->limits.cpu_time_ms == 60000);
}

/* Short buffers: cut and terminated, never written past (0: not at all). */
static void limit_text_in_short_buffers(void **state)
{
        const struct cd_limit_def *d = cd_limit_find("cpu_time");
        char buf[8];

        (void) state;
        assert_non_null(d);
        memset(buf, 'x', sizeof(buf));
        cd_limit_flag(d, buf, 2);
        assert_string_equal(buf, "");
        assert_int_equal(buf[1], 'x');
        memset(buf, 'x', sizeof(buf));
        cd_limit_flag(d, buf, 6);
        assert_string_equal(buf, "--cpu");
        memset(buf, 'x', sizeof(buf));
        cd_limit_flag(d, buf, 0);
        cd_limit_format(cd_limit_find("cpus"), 500, buf, 0);
        assert_int_equal(buf[0], 'x');
        cd_limit_format(cd_limit_find("cpus"), 1500, buf, 3);
        assert_string_equal(buf, "1.");
}

/* Every limit, one past the profile's maximum: refused, naming the flag
 * (whole: "--cpus" is not "--cpu-time"), the profile and its maximum. */
static void plan_refuses_past_max(void **state)
{
        struct cd_profile *p = plan_profile();

        (void) state;
        for (size_t i = 0; i < cd_n_limit_defs; i++) {
                const struct cd_limit_def *d = &cd_limit_defs[i];
                struct cd_request req = { .entry = "main.R", .inputs = entry_inputs };
                char flag[32], max[32];
                const char *msg, *want;

                cd_limit_flag(d, flag, sizeof(flag));
                cd_limit_format(d, cd_limit_get(&p->max, d), max, sizeof(max));
                request_set(&req, d->name, cd_limit_get(&p->max, d) + 1);
                msg = plan_refused(p, &req, CD_E_INVALID);
                want = fmt("the plan profile's maximum of %s", max);
                if (strncmp(msg, flag, strlen(flag)) != 0 || msg[strlen(flag)] != ':' ||
                    !strstr(msg, want))
                        fail_msg("%s: \"%s\" should start with \"%s:\" and say \"%s\"", d->name,
                                 msg, flag, want);
        }
        /* The exact message for the common case. */
        {
                struct cd_request req = { .entry = "main.R", .inputs = entry_inputs };

                request_set(&req, "memory", 3 * GIB);
                assert_string_equal(plan_refused(p, &req, CD_E_INVALID),
                                    "--memory: 3G is above the plan profile's maximum of 2G");
        }
}

/* cpu_time 0 means none: the loosest of all, above a 60s maximum. */
static void plan_refuses_cpu_time_none(void **state)
{
        struct cd_profile *p = plan_profile();
        struct cd_request req = { .entry = "main.R", .inputs = entry_inputs };

        (void) state;
        request_set(&req, "cpu_time", 0);
        assert_string_equal(plan_refused(p, &req, CD_E_INVALID),
                            "--cpu-time: none is above the plan profile's maximum of 1m");
}

/* Tightening below a limit's floor is refused too, by plan validation. */
static void plan_refuses_below_floor(void **state)
{
        struct cd_profile *p = plan_profile();
        struct cd_request req = { .entry = "main.R", .inputs = entry_inputs };
        const char *msg;

        (void) state;
        request_set(&req, "memory", MIB);
        msg = plan_refused(p, &req, CD_E_INVALID);
        if (strncmp(msg, "--memory: ", 10) != 0 || !strstr(msg, "outside [4M, 1T]"))
                fail_msg("\"%s\"", msg);
}

static void plan_entry_validation(void **state)
{
        static const char *const bad[] = {
                "../x", "/abs", "-rf", "a\nb", "a//b",  "",      "a/../b", "./a",
                "a/",   ".",    "..",  "a\tb", "a\x7f", "a/./b", "-",
        };
        static const char *const good[] = { "dir/report.Rmd", "main.R", "a b.R", ".hidden.R",
                                            "x-y/-z.R" };
        struct cd_profile *p = plan_profile();

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct cd_request req = { .entry = bad[i] };
                const char *msg;

                if (cd_entry_is_valid(bad[i]))
                        fail_msg("entry \"%s\" is valid", bad[i]);
                msg = plan_refused(p, &req, CD_E_INVALID);
                if (strncmp(msg, "--entry: ", 9) != 0)
                        fail_msg("entry %zu: \"%s\" does not name --entry", i, msg);
        }
        assert_false(cd_entry_is_valid(NULL));
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                struct cd_request req = { .entry = good[i], .inputs = entry_inputs };
                struct cd_plan *plan;

                if (!cd_entry_is_valid(good[i]))
                        fail_msg("entry \"%s\" is not valid", good[i]);
                plan = plan_ok(p, &req);
                assert_string_equal(plan->argv[2], good[i]);
        }
}

static void plan_entry_required_by_command(void **state)
{
        struct cd_profile *p = plan_profile();
        struct cd_profile *q = parse_ok("{ \"name\": \"noentry\", \"command\": [\"make\"] }");
        struct cd_request req = { 0 };
        const char *msg;

        (void) state;
        msg = plan_refused(p, &req, CD_E_INVALID);
        if (strncmp(msg, "--entry: ", 9) != 0 || !strstr(msg, "plan profile"))
                fail_msg("\"%s\"", msg);
        /* A command without {entry} runs as it is. */
        assert_string_equal(plan_ok(q, &req)->argv[0], "make");
}

static void plan_entry_among_inputs(void **state)
{
        char *inputs[] = { "/home/u/report.Rmd", "/home/u/dir", NULL };
        char *relative[] = { "report.Rmd", NULL };
        static const char *const ok[] = { "report.Rmd", "dir/report.Rmd", "dir/a/b.R" };
        static const char *const refused[] = { "other.Rmd", "report.Rmd.bak", "report", "di/x.R",
                                               "u/report.Rmd" };
        struct cd_profile *p = plan_profile();
        struct cd_request rel = { .entry = "report.Rmd", .inputs = relative };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                struct cd_request req = { .entry = ok[i], .inputs = inputs };
                struct cd_plan *plan = plan_ok(p, &req);

                assert_string_equal(plan->argv[2], ok[i]);
                assert_strv_equal(plan->inputs, (const char *const *) inputs);
                assert_ptr_not_equal(plan->inputs, inputs);
        }
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                struct cd_request req = { .entry = refused[i], .inputs = inputs };

                assert_string_equal(plan_refused(p, &req, CD_E_INVALID),
                                    "--entry: not among the --input files");
        }
        /* No inputs at all (NULL or empty): /work is empty, so no entry is
         * there, and a "{entry}" command must not run a host program by name. */
        for (int i = 0; i < 2; i++) {
                char *none[] = { NULL };
                struct cd_request req = { .entry = "sh", .inputs = i ? none : NULL };

                assert_string_equal(plan_refused(p, &req, CD_E_INVALID),
                                    "--entry: not among the --input files");
        }
        /* Inputs are host paths, absolute. */
        assert_string_equal(plan_refused(p, &rel, CD_E_INVALID),
                            "plan: input paths must be absolute");
}

static void plan_argv_replaces_command(void **state)
{
        char *argv[] = { "python3", "-c", "print(1)", NULL };
        struct cd_profile *p = plan_profile();
        struct cd_request req = { .argv = argv };
        struct cd_plan *plan = plan_ok(p, &req);

        (void) state;
        /* No entry needed: the profile's command, and its {entry}, are not used. */
        assert_strv_equal(plan->argv, (const char *const *) argv);
        assert_ptr_not_equal(plan->argv, argv);
        assert_string_equal(plan->workdir, "/work/sub");
}

static size_t env_count(char **env, const char *entry)
{
        size_t n = 0;

        for (size_t i = 0; env && env[i]; i++)
                if (strncmp(env[i], entry, strlen(entry)) == 0)
                        n++;
        return n;
}

static void plan_environment_filtered(void **state)
{
        char *in[] = {
                "LANG=de_DE.UTF-8",
                "LC_ALL=C",
                "LC_TIME=en_GB.UTF-8",
                "TZ=Europe/Berlin",
                "SECRET=hunter2",
                "LCX=1",
                "LC_lower=1",
                "OMP_NUM_THREADS=64",
                "PATH=/tmp/evil",
                "LANGUAGE=de",
                NULL,
        };
        struct cd_profile *p = plan_profile();
        struct cd_request req = { .entry = "main.R", .inputs = entry_inputs, .environ_in = in };
        struct cd_plan *plan = plan_ok(p, &req);

        (void) state;
        /* Allowed by name or by the LC_* prefix, with the caller's value. */
        assert_int_equal(env_count(plan->envp, "LANG="), 1);
        assert_int_equal(env_count(plan->envp, "LANG=de_DE.UTF-8"), 1);
        assert_int_equal(env_count(plan->envp, "LC_ALL=C"), 1);
        assert_int_equal(env_count(plan->envp, "LC_TIME=en_GB.UTF-8"), 1);
        /* "set" overrides the caller, whether allowed (TZ) or not (OMP_NUM_THREADS). */
        assert_int_equal(env_count(plan->envp, "TZ="), 1);
        assert_int_equal(env_count(plan->envp, "TZ=UTC"), 1);
        assert_int_equal(env_count(plan->envp, "OMP_NUM_THREADS="), 1);
        assert_int_equal(env_count(plan->envp, "OMP_NUM_THREADS=1"), 1);
        /* Everything else stays out. */
        assert_int_equal(env_count(plan->envp, "SECRET="), 0);
        assert_int_equal(env_count(plan->envp, "LCX="), 0);
        assert_int_equal(env_count(plan->envp, "LC_lower="), 0);
        assert_int_equal(env_count(plan->envp, "LANGUAGE="), 0);
        assert_int_equal(env_count(plan->envp, "PATH="), 1);
        assert_int_equal(env_count(plan->envp, "PATH=/tmp/evil"), 0);
}

static void plan_mount_required_missing(void **state)
{
        const char *missing = fmt("%s/not-installed", base_dir);
        struct cd_profile *p =
                parse_ok(fmt("{ \"name\": \"needs\", \"command\": [\"x\"],"
                             "  \"mounts\": [ { \"source\": \"%s\", \"target\": \"/opt/x\" } ] }",
                             missing));
        struct cd_profile *q =
                parse_ok(fmt("{ \"name\": \"wants\", \"command\": [\"x\"],"
                             "  \"mounts\": [ { \"source\": \"%s\", \"target\": \"/opt/x\","
                             "                  \"optional\": true } ] }",
                             missing));
        struct cd_request req = { 0 };
        const struct cd_bind *b;
        const char *msg;

        (void) state;
        /* The profile loads anywhere; a job needs the path on this host. */
        msg = plan_refused(p, &req, CD_E_UNSUPPORTED);
        if (!strstr(msg, missing) || !strstr(msg, "needs"))
                fail_msg("\"%s\" should name %s and the profile", msg, missing);
        b = find_bind(plan_ok(q, &req), "/opt/x");
        assert_non_null(b);
        assert_string_equal(b->source, missing);
        assert_true(b->optional);
}

/* A from_image source is a path inside the profile's image; on the host
 * image it is the host's own path. */
static void plan_mount_from_image(void **state)
{
        const char *img = fmt("%s/fakeimg", images_dir);
        struct cd_profile *p =
                parse_ok("{ \"name\": \"img\", \"image\": \"fakeimg\", \"command\": [\"x\"],"
                         "  \"mounts\": [ { \"source\": \"/usr\", \"target\": \"/opt/usr\","
                         "                  \"from_image\": true },"
                         "                { \"source\": \"/var/lib/dpkg\", \"from_image\": true,"
                         "                  \"optional\": true } ] }");
        struct cd_profile *q = parse_ok(
                "{ \"name\": \"needs\", \"image\": \"fakeimg\", \"command\": [\"x\"],"
                "  \"mounts\": [ { \"source\": \"/opt/quarto\", \"from_image\": true } ] }");
        struct cd_profile *h =
                parse_ok(fmt("{ \"name\": \"hostimg\", \"command\": [\"x\"],"
                             "  \"mounts\": [ { \"source\": \"%s\", \"target\": \"/opt/tool\","
                             "                  \"from_image\": true } ] }",
                             tool_dir));
        struct cd_request req = { 0 };
        struct cd_plan *plan = plan_ok(p, &req);
        const struct cd_bind *b;
        const char *msg;

        (void) state;
        b = find_bind(plan, "/opt/usr");
        assert_non_null(b);
        assert_string_equal(b->source, fmt("%s/usr", img));
        assert_false(b->optional);
        /* Optional and not in the image: not bound. */
        assert_null(find_bind(plan, "/var/lib/dpkg"));
        /* Missing from the image: refused, naming the path looked for. */
        msg = plan_refused(q, &req, CD_E_UNSUPPORTED);
        if (!strstr(msg, fmt("%s/opt/quarto", img)))
                fail_msg("\"%s\" should name %s/opt/quarto", msg, img);
        b = find_bind(plan_ok(h, &req), "/opt/tool");
        assert_non_null(b);
        assert_string_equal(b->source, tool_dir);
}

/*
 * An image's absolute symlinks point into the image, as its programs see
 * them: Debian's var/run -> /run (and usr/lib/ssl/certs -> /etc/ssl/certs,
 * usr/lib/R/etc/Renviron -> /etc/R/Renviron). A from_image source through
 * one is the image's file, never the host's: the plain join
 * <root>/var/run/x, resolved on the host, bound the host's /run/x into
 * every job of the profile (shown with the debian-r image and a host file
 * under /run).
 */
static void plan_mount_from_image_stays_in_it(void **state)
{
        const char *img = fmt("%s/symimg", images_dir);
        const char *hostrun = ut_defer(rm_rf_deferred, strdup(fmt("%s/hostrun", base_dir)));
        const char *cmd = "\"command\": [\"x\"]";
        struct cd_profile *leak, *p, *q;
        struct cd_request req = { 0 };
        const struct cd_bind *b;
        cleanup_free char *real_img = NULL;
        const char *msg;

        (void) state;
        ut_defer(rm_rf_deferred, strdup(img));
        assert_int_equal(mkdir(img, 0755), 0);
        assert_int_equal(mkdir(fmt("%s/usr", img), 0755), 0);
        assert_int_equal(mkdir(fmt("%s/var", img), 0755), 0);
        assert_int_equal(mkdir(fmt("%s/run", img), 0755), 0);
        assert_int_equal(mkdir(fmt("%s/run/both", img), 0755), 0);
        assert_int_equal(mkdir(hostrun, 0755), 0);
        assert_int_equal(mkdir(fmt("%s/both", hostrun), 0755), 0);
        assert_int_equal(mkdir(fmt("%s/hostonly", hostrun), 0755), 0);
        /* The image's /var/run is "/run", absolute; on this host /run is
         * played by hostrun. */
        assert_int_equal(symlink("/run", fmt("%s/var/run", img)), 0);
        assert_int_equal(symlink(hostrun, fmt("%s/run/out", img)), 0);
        real_img = realpath(img, NULL);
        assert_non_null(real_img);
        leak = parse_ok(fmt("{ \"name\": \"symleak\", \"image\": \"symimg\", %s,"
                            "  \"mounts\": [ { \"source\": \"/run/out/hostonly\","
                            "                  \"target\": \"/opt/b\", \"from_image\": true,"
                            "                  \"optional\": true } ] }",
                            cmd));
        p = parse_ok(fmt("{ \"name\": \"sym\", \"image\": \"symimg\", %s, \"mounts\": ["
                         "  { \"source\": \"/var/run/both\", \"target\": \"/opt/a\","
                         "    \"from_image\": true },"
                         "  { \"source\": \"/run/out\", \"target\": \"/opt/c\","
                         "    \"from_image\": true } ] }",
                         cmd));
        q = parse_ok(fmt("{ \"name\": \"symneeds\", \"image\": \"symimg\", %s,"
                         "  \"mounts\": [ { \"source\": \"/var/run/hostonly\","
                         "                  \"target\": \"/opt/a\", \"from_image\": true } ] }",
                         cmd));
        /* Through the image's link to an absolute host path: not the host's. */
        b = find_bind(plan_ok(leak, &req), "/opt/b");
        if (b)
                fail_msg("bound %s, which is %s on the host, not in the image", b->source,
                         fmt("%s/hostonly", hostrun));
        b = find_bind(plan_ok(p, &req), "/opt/a");
        assert_non_null(b);
        assert_string_equal(b->source, fmt("%s/run/both", real_img));
        /* A link as the last component stays a link (the sandbox gets it). */
        b = find_bind(plan_ok(p, &req), "/opt/c");
        assert_non_null(b);
        assert_string_equal(b->source, fmt("%s/run/out", real_img));
        msg = plan_refused(q, &req, CD_E_UNSUPPORTED);
        if (!strstr(msg, "/var/run/hostonly") || !strstr(msg, "not in its image"))
                fail_msg("\"%s\" should say /var/run/hostonly is not in the image", msg);
}

static void plan_seccomp_additions_resolved(void **state)
{
        static const char *const want[] = {
                "ptrace",
                "process_vm_readv",
                "process_vm_writev",
                "io_uring_setup",
                "io_uring_enter",
                "io_uring_register",
                NULL,
        };
        struct cd_profile *p = plan_profile();
        struct cd_profile *q = load_ok(fixture("good", "minimal.json"));
        struct cd_request req = { .entry = "main.R", .inputs = entry_inputs };

        (void) state;
        assert_strv_equal(plan_ok(p, &req)->seccomp_allow, want);
        assert_null(plan_ok(q, &req)->seccomp_allow);
        assert_null(cd_seccomp_addition("bpf"));
        assert_null(cd_seccomp_addition(""));
        assert_string_equal(cd_seccomp_addition("ptrace")[0], "ptrace");
}

static void plan_artifact_rules_copied(void **state)
{
        static const char *const types[] = { "text/csv", "application/pdf", NULL };
        struct cd_profile *p = plan_profile();
        struct cd_request req = { .entry = "main.R", .inputs = entry_inputs };
        struct cd_plan *plan = plan_ok(p, &req);

        (void) state;
        assert_strv_equal(plan->artifacts.types, types);
        /* A copy: the plan outlives the profile set it came from. */
        assert_ptr_not_equal(plan->artifacts.types, p->artifacts.types);
        assert_ptr_not_equal(plan->artifacts.types[0], p->artifacts.types[0]);
        assert_true(plan->artifacts.max_files == 7);
        assert_true(plan->artifacts.max_total_bytes == 3 * MIB);
        assert_true(plan->artifacts.max_file_bytes == MIB);
        assert_true(plan->artifacts.max_depth == 2);
        assert_true(plan->artifacts.max_name_bytes == 64);
        assert_true(plan->artifacts.max_time_ms == 90000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(good_minimal_gets_defaults, teardown),
                cmocka_unit_test_teardown(good_full_every_field, teardown),
                cmocka_unit_test_teardown(good_forms_number_and_string_limits, teardown),
                cmocka_unit_test_teardown(parse_uses_source_and_skips_file_name, teardown),
                cmocka_unit_test_teardown(bad_fixtures_refused_with_precise_messages, teardown),
                cmocka_unit_test_teardown(bad_fixtures_all_have_expectations, teardown),
                cmocka_unit_test_teardown(bad_file_too_large, teardown),
                cmocka_unit_test_teardown(bad_not_regular_file, teardown),
                cmocka_unit_test_teardown(bad_image_not_roots_alone, teardown),
                cmocka_unit_test_teardown(bad_image_lib_or_images_dir_not_roots_alone, teardown),
                cmocka_unit_test_teardown(bad_mount_member_names_its_key, teardown),
                cmocka_unit_test_teardown(bad_negative_limit_says_negative, teardown),
                cmocka_unit_test_teardown(bad_fractional_size_says_whole_number, teardown),
                cmocka_unit_test_teardown(bad_cpu_time_default_none_says_none, teardown),
                cmocka_unit_test_teardown(bad_name_with_underscore, teardown),
                cmocka_unit_test_teardown(set_load_sorted_by_name, teardown),
                cmocka_unit_test_teardown(set_load_empty_and_missing, teardown),
                cmocka_unit_test_teardown(set_load_one_bad_refuses_all, teardown),
                cmocka_unit_test_teardown(set_load_refuses_a_directory_entry, teardown),
                cmocka_unit_test_teardown(owner_good_cases_load, teardown),
                cmocka_unit_test_teardown(owner_writable_file_refused, teardown),
                cmocka_unit_test_teardown(owner_writable_dir_refused, teardown),
                cmocka_unit_test_teardown(owner_writable_ancestor_refused, teardown),
                cmocka_unit_test_teardown(owner_other_uid_refused, teardown),
                cmocka_unit_test_teardown(owner_symlinks_refused, teardown),
                cmocka_unit_test_teardown(owner_fifo_refused_without_blocking, teardown),
                cmocka_unit_test_teardown(shipped_profiles_load, teardown),
                cmocka_unit_test_teardown(shipped_data_export_refuses_more_memory, teardown),
                cmocka_unit_test_teardown(plan_from_profile_defaults, teardown),
                cmocka_unit_test_teardown(plan_tightens_any_limit, teardown),
                cmocka_unit_test_teardown(plan_loosens_up_to_max, teardown),
                cmocka_unit_test_teardown(plan_refuses_past_max, teardown),
                cmocka_unit_test(limit_text_in_short_buffers),
                cmocka_unit_test_teardown(plan_refuses_cpu_time_none, teardown),
                cmocka_unit_test_teardown(plan_refuses_below_floor, teardown),
                cmocka_unit_test_teardown(plan_entry_validation, teardown),
                cmocka_unit_test_teardown(plan_entry_required_by_command, teardown),
                cmocka_unit_test_teardown(plan_entry_among_inputs, teardown),
                cmocka_unit_test_teardown(plan_argv_replaces_command, teardown),
                cmocka_unit_test_teardown(plan_environment_filtered, teardown),
                cmocka_unit_test_teardown(plan_mount_required_missing, teardown),
                cmocka_unit_test_teardown(plan_mount_from_image, teardown),
                cmocka_unit_test_teardown(plan_mount_from_image_stays_in_it, teardown),
                cmocka_unit_test_teardown(plan_seccomp_additions_resolved, teardown),
                cmocka_unit_test_teardown(plan_artifact_rules_copied, teardown),
        };

        return cmocka_run_group_tests_name("profile", tests, group_setup, group_teardown);
}
