/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: profile text (cd_profile_parse), then a request merged
 * into each profile that parses (cd_profile_plan).
 *
 * Input: the profile's JSON, optionally followed by a NUL byte and bytes
 * that choose the request. Without them the request is drawn from a hash
 * of the profile, so the seed corpus (tests/fixtures/profiles) exercises
 * plans too.
 *
 * Besides the sanitizers, it abort()s when an invariant breaks:
 * - a refusal names the source and says what is wrong;
 * - a parsed profile has a valid name, a command, a clean image root and
 *   workdir, every limit within its bounds and the host's size, no
 *   default above its maximum, and artifact caps within their bounds;
 * - a plan never exceeds the profile's maximum, and holds exactly what
 *   was asked where it was allowed.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cordon/limits.h"
#include "cordon/plan.h"
#include "cordon/profile.h"

#define SOURCE   "fuzz.json"
#define HOST_MEM (8ULL << 30)
#define HOST_CPU 4000ULL

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base_dir[] = "/tmp/cordon-fuzz-profile.XXXXXX";
static struct cd_profile_host host;

/* Directories made by LLVMFuzzerInitialize, deepest first. */
static const char *const image_dirs[] = { "images/fakeimg/usr", "images/fakeimg", "images" };

static void remove_images(void)
{
        char path[sizeof(base_dir) + 32];

        for (size_t i = 0; i < sizeof(image_dirs) / sizeof(image_dirs[0]); i++) {
                (void) snprintf(path, sizeof(path), "%s/%s", base_dir, image_dirs[i]);
                (void) rmdir(path);
        }
        (void) rmdir(base_dir);
}

#define FUZZ_TARGET  "fuzz_profile"
#define FUZZ_ON_FAIL remove_images
#include "fuzz-check.h"

/* One built image, "fakeimg", so that "image" can name one that exists. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        static char images_dir[sizeof(base_dir) + 8];
        char path[sizeof(base_dir) + 32];

        (void) argc;
        (void) argv;
        if (!mkdtemp(base_dir)) {
                perror("fuzz_profile: mkdtemp");
                exit(1);
        }
        for (size_t i = sizeof(image_dirs) / sizeof(image_dirs[0]); i-- > 0;) {
                (void) snprintf(path, sizeof(path), "%s/%s", base_dir, image_dirs[i]);
                if (mkdir(path, 0700) < 0) {
                        perror("fuzz_profile: mkdir");
                        exit(1);
                }
        }
        (void) atexit(remove_images);
        (void) snprintf(images_dir, sizeof(images_dir), "%s/images", base_dir);
        host = (struct cd_profile_host){
                .images_dir = images_dir,
                .memory_bytes = HOST_MEM,
                .cpu_millis = HOST_CPU,
        };
        return 0;
}

/* ---- the profile ---- */

/* The rule that "name" states: 1 to 32 of a-z, 0-9 and '-', no leading '-'. */
static bool valid_profile_name(const char *s)
{
        size_t n = strlen(s);

        return n >= 1 && n <= 32 && s[0] != '-' &&
               strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static bool under(const char *path, const char *const *roots)
{
        for (size_t i = 0; roots[i]; i++) {
                size_t n = strlen(roots[i]);

                if (strncmp(path, roots[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
                        return true;
        }
        return false;
}

static void check_command(const struct cd_profile *p)
{
        size_t entries = 0;

        CHECK(p->command && p->command[0], "empty command");
        for (size_t i = 0; p->command[i]; i++) {
                CHECK(p->command[i][0] != '\0', "command element %zu is empty", i);
                entries += strcmp(p->command[i], "{entry}") == 0;
        }
        CHECK(entries <= 1, "{entry} %zu times", entries);
}

static void check_paths(const struct cd_profile *p)
{
        static const char *const writable[] = { "/work", "/tmp", "/out", NULL };
        static const char *const reserved[] = { "/proc", "/dev", "/tmp", "/work",
                                                "/out",  "/etc", NULL };

        CHECK(p->image && p->image_root && p->image_root[0], "no image root");
        CHECK(cd_path_is_clean_absolute(p->image_root), "image root \"%s\"", p->image_root);
        CHECK((strcmp(p->image, "host") == 0) == (strcmp(p->image_root, "/") == 0),
              "image \"%s\" has root \"%s\"", p->image, p->image_root);
        CHECK(p->workdir && cd_path_is_clean_absolute(p->workdir) && under(p->workdir, writable),
              "workdir \"%s\"", p->workdir ? p->workdir : "(null)");
        for (size_t i = 0; i < p->n_mounts; i++) {
                const struct cd_bind *m = &p->mounts[i];

                CHECK(cd_path_is_clean_absolute(m->source) && cd_path_is_clean_absolute(m->target),
                      "mount %zu: \"%s\" -> \"%s\"", i, m->source, m->target);
                CHECK(strcmp(m->target, "/") != 0 && !under(m->target, reserved),
                      "mount %zu covers \"%s\"", i, m->target);
        }
}

static void check_limits(const struct cd_profile *p)
{
        for (size_t i = 0; i < cd_n_limit_defs; i++) {
                const struct cd_limit_def *d = &cd_limit_defs[i];
                uint64_t def = cd_limit_get(&p->defaults, d), max = cd_limit_get(&p->max, d);
                struct cd_err e = { 0 };

                CHECK(cd_limit_check(d, "default", def, &e) == 0, "%s: %s", d->name, e.msg);
                CHECK(cd_limit_check(d, "max", max, &e) == 0, "%s: %s", d->name, e.msg);
                CHECK(!cd_limit_above(d, def, max), "%s: default %llu above max %llu", d->name,
                      (unsigned long long) def, (unsigned long long) max);
        }
        CHECK(p->max.memory_max_bytes <= HOST_MEM, "max memory above the host's");
        CHECK(p->max.cpu_millis <= HOST_CPU, "max cpus above the host's");
        CHECK(p->defaults.memory_max_bytes <= HOST_MEM, "default memory above the host's");
        CHECK(p->defaults.cpu_millis <= HOST_CPU, "default cpus above the host's");
}

static void check_cap(const char *name, uint64_t v, uint64_t min, uint64_t max)
{
        CHECK(v >= min && v <= max, "artifacts.%s = %llu outside [%llu, %llu]", name,
              (unsigned long long) v, (unsigned long long) min, (unsigned long long) max);
}

static void check_rest(const struct cd_profile *p)
{
        const struct cd_artifact_rules *a = &p->artifacts;

        check_cap("max_files", a->max_files, 1, 1000000);
        check_cap("max_total_bytes", a->max_total_bytes, 1, CD_MAX_FS_BYTES);
        check_cap("max_file_bytes", a->max_file_bytes, 1, CD_MAX_FS_BYTES);
        check_cap("max_depth", a->max_depth, 1, 64);
        check_cap("max_name_bytes", a->max_name_bytes, 1, 255);
        check_cap("max_time", a->max_time_ms, 1000, 3600 * 1000);
        for (size_t i = 0; a->types && a->types[i]; i++)
                CHECK(strchr(a->types[i], '/') && strlen(a->types[i]) < 128, "artifact type \"%s\"",
                      a->types[i]);
        for (size_t i = 0; p->seccomp_allow && p->seccomp_allow[i]; i++)
                CHECK(cd_seccomp_addition(p->seccomp_allow[i]), "seccomp addition \"%s\"",
                      p->seccomp_allow[i]);
        for (size_t i = 0; p->env_set && p->env_set[i]; i++)
                CHECK(strchr(p->env_set[i], '=') && p->env_set[i][0] != '=',
                      "environment.set entry %zu", i);
        for (size_t i = 0; p->env_allow && p->env_allow[i]; i++)
                CHECK(p->env_allow[i][0] && !strchr(p->env_allow[i], '='), "environment.allow %zu",
                      i);
}

static void check_profile(const struct cd_profile *p)
{
        CHECK(p->name && valid_profile_name(p->name), "name \"%s\"", p->name ? p->name : "(null)");
        CHECK(p->source && strcmp(p->source, SOURCE) == 0, "source");
        check_command(p);
        check_paths(p);
        check_limits(p);
        check_rest(p);
}

/* ---- the request ---- */

/* The request's bytes, then a stream drawn from @seed when they run out. */
struct draw {
        const uint8_t *data;
        size_t size, at;
        uint64_t seed;
};

static uint8_t draw_byte(struct draw *d)
{
        uint64_t z;

        if (d->at < d->size)
                return d->data[d->at++];
        /* splitmix64 */
        z = (d->seed += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return (uint8_t) (z ^ (z >> 31));
}

static uint64_t draw_u64(struct draw *d)
{
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
                v = v << 8 | draw_byte(d);
        return v;
}

static uint64_t fnv1a(const uint8_t *data, size_t size)
{
        uint64_t h = 0xcbf29ce484222325ULL;

        for (size_t i = 0; i < size; i++)
                h = (h ^ data[i]) * 0x100000001b3ULL;
        return h;
}

/* A value near the interesting edges of @d for @p. */
static uint64_t draw_limit(struct draw *dr, const struct cd_profile *p,
                           const struct cd_limit_def *d)
{
        uint64_t max = cd_limit_get(&p->max, d), def = cd_limit_get(&p->defaults, d);

        switch (draw_byte(dr) % 9) {
        case 0:
                return max;
        case 1:
                return max + 1;
        case 2:
                return max ? max - 1 : 0;
        case 3:
                return 0;
        case 4:
                return def;
        case 5:
                return d->min;
        case 6:
                return d->max;
        case 7:
                return d->max + 1;
        default:
                return draw_u64(dr);
        }
}

static char *const env_in[] = {
        "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC",   "FUZZ_SECRET=leak",
        "PATH=/leak",   "=x",       "NOEQUALS", NULL,
};
static char *const inputs_abs[] = { "/in/main.R", "/in/dir", NULL };
static char *const inputs_rel[] = { "main.R", NULL };
static char *const inputs_none[] = { NULL };
static char *const argv_sh[] = { "sh", "-c", "true", NULL };
static char *const argv_empty[] = { "", NULL };

static void draw_request(struct draw *dr, const struct cd_profile *p, struct cd_request *req)
{
        static const char *const entries[] = {
                NULL,   "main.R", "dir/report.Rmd", "../x", "-rf", "a//b",
                "a\nb", "/abs",   "{entry}",        "",     "dir",
        };
        static char *const *const inputs[] = { NULL, inputs_abs, inputs_rel, inputs_none };
        static char *const *const argvs[] = { NULL, NULL, argv_sh, argv_empty };

        *req = (struct cd_request){ .environ_in = env_in };
        req->entry = entries[draw_byte(dr) % (sizeof(entries) / sizeof(entries[0]))];
        req->inputs = inputs[draw_byte(dr) % 4];
        req->argv = argvs[draw_byte(dr) % 4];
        for (size_t i = 0; i < cd_n_limit_defs; i++) {
                if (!(draw_byte(dr) & 1))
                        continue;
                req->limits_set |= 1u << i;
                *cd_limit_field(&req->limits, &cd_limit_defs[i]) =
                        draw_limit(dr, p, &cd_limit_defs[i]);
        }
}

/* ---- the plan ---- */

static void check_plan_limits(const struct cd_profile *p, const struct cd_request *req,
                              const struct cd_plan *plan)
{
        for (size_t i = 0; i < cd_n_limit_defs; i++) {
                const struct cd_limit_def *d = &cd_limit_defs[i];
                uint64_t v = cd_limit_get(&plan->limits, d), max = cd_limit_get(&p->max, d);
                uint64_t want = req->limits_set & (1u << i) ? cd_limit_get(&req->limits, d)
                                                            : cd_limit_get(&p->defaults, d);
                struct cd_err e = { 0 };

                CHECK(!cd_limit_above(d, v, max), "plan %s %llu above the maximum %llu", d->name,
                      (unsigned long long) v, (unsigned long long) max);
                CHECK(cd_limit_check(d, "plan", v, &e) == 0, "plan %s: %s", d->name, e.msg);
                CHECK(v == want, "plan %s %llu, asked for %llu", d->name, (unsigned long long) v,
                      (unsigned long long) want);
        }
}

/* The entry's first component is the base name of an input. */
static bool entry_in_inputs(const char *entry, char *const *inputs)
{
        size_t first = strcspn(entry, "/");

        for (size_t i = 0; inputs[i]; i++) {
                const char *base =
                        strrchr(inputs[i], '/') ? strrchr(inputs[i], '/') + 1 : inputs[i];

                if (strlen(base) == first && strncmp(base, entry, first) == 0)
                        return true;
        }
        return false;
}

static void check_plan_command(const struct cd_profile *p, const struct cd_request *req,
                               const struct cd_plan *plan)
{
        char *const *want = req->argv && req->argv[0] ? req->argv : p->command;
        size_t i;

        CHECK(plan->argv && plan->argv[0] && plan->argv[0][0], "plan without a command");
        for (i = 0; want[i]; i++) {
                const char *w = want == p->command && strcmp(want[i], "{entry}") == 0 ? req->entry
                                                                                      : want[i];

                CHECK(w && plan->argv[i] && strcmp(plan->argv[i], w) == 0, "argv[%zu]", i);
        }
        CHECK(!plan->argv[i], "argv longer than the command");
        if (!req->entry)
                return;
        CHECK(cd_entry_is_valid(req->entry), "invalid entry accepted");
        if (req->inputs)
                CHECK(entry_in_inputs(req->entry, req->inputs), "entry not among the inputs");
}

static void check_plan_rest(const struct cd_profile *p, const struct cd_plan *plan)
{
        CHECK(strcmp(plan->profile, p->name) == 0, "plan profile");
        CHECK(strcmp(plan->workdir, p->workdir) == 0, "plan workdir");
        CHECK(plan->work_readonly == p->work_readonly, "work_readonly");
        CHECK(plan->proc_subset_pid == p->proc_subset_pid, "proc");
        CHECK(plan->job_uid != 0 && plan->job_gid != 0, "plan runs as root");
        for (size_t i = 0; plan->envp && plan->envp[i]; i++) {
                const char *e = plan->envp[i];

                CHECK(strchr(e, '=') && e[0] != '=', "envp entry \"%s\"", e);
                if (strcmp(e, "FUZZ_SECRET=leak") == 0 || strcmp(e, "PATH=/leak") == 0)
                        CHECK(cd_env_allowed(e, p->env_allow), "\"%s\" passed unallowed", e);
        }
        for (size_t i = 0; i < plan->n_binds; i++)
                CHECK(cd_path_is_clean_absolute(plan->binds[i].source) &&
                              cd_path_is_clean_absolute(plan->binds[i].target) &&
                              strcmp(plan->binds[i].target, "/") != 0,
                      "bind %zu", i);
        for (size_t i = 0; plan->seccomp_allow && plan->seccomp_allow[i]; i++) {
                bool found = false;

                for (size_t k = 0; !found && p->seccomp_allow && p->seccomp_allow[k]; k++) {
                        const char *const *sys = cd_seccomp_addition(p->seccomp_allow[k]);

                        for (size_t j = 0; !found && sys && sys[j]; j++)
                                found = strcmp(sys[j], plan->seccomp_allow[i]) == 0;
                }
                CHECK(found, "syscall \"%s\" not asked for", plan->seccomp_allow[i]);
        }
        CHECK(plan->artifacts.max_files == p->artifacts.max_files &&
                      plan->artifacts.max_total_bytes == p->artifacts.max_total_bytes &&
                      plan->artifacts.max_file_bytes == p->artifacts.max_file_bytes &&
                      plan->artifacts.max_depth == p->artifacts.max_depth &&
                      plan->artifacts.max_name_bytes == p->artifacts.max_name_bytes &&
                      !plan->artifacts.types == !p->artifacts.types,
              "artifact rules not copied");
}

static bool loosens(const struct cd_profile *p, const struct cd_request *req)
{
        for (size_t i = 0; i < cd_n_limit_defs; i++)
                if ((req->limits_set & (1u << i)) &&
                    cd_limit_above(&cd_limit_defs[i], cd_limit_get(&req->limits, &cd_limit_defs[i]),
                                   cd_limit_get(&p->max, &cd_limit_defs[i])))
                        return true;
        return false;
}

static void check_refusal(int r, const struct cd_err *e)
{
        CHECK(r < 0 && r == -e->code, "returned %d with code %d", r, e->code);
        CHECK(e->msg[0] != '\0', "refusal without a message");
}

static void plan_one(const struct cd_profile *p, struct draw *dr)
{
        struct cd_request req;
        struct cd_plan *plan = NULL;
        struct cd_err e = { 0 };
        int r;

        draw_request(dr, p, &req);
        r = cd_profile_plan(p, &req, &plan, &e);
        if (r < 0) {
                check_refusal(r, &e);
                CHECK(!plan, "plan set on failure");
                return;
        }
        CHECK(r == 0 && plan, "no plan");
        CHECK(!loosens(p, &req), "a request above the maximum was accepted");
        check_plan_limits(p, &req, plan);
        check_plan_command(p, &req, plan);
        check_plan_rest(p, plan);
        (void) cd_plan_free(plan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *nul = memchr(data, '\0', size);
        size_t text_len = nul ? (size_t) (nul - data) : size;
        struct draw dr = { .seed = fnv1a(data, text_len) };
        struct cd_profile *p = NULL;
        struct cd_err e = { 0 };
        int r;

        if (nul) {
                dr.data = nul + 1;
                dr.size = size - text_len - 1;
        }
        r = cd_profile_parse((const char *) data, text_len, SOURCE, &host, &p, &e);
        if (r < 0) {
                check_refusal(r, &e);
                CHECK(!p, "profile set on failure");
                /* Every refusal starts with the source ("<source>: <field>: <what>"). */
                if (e.code == CD_E_INVALID)
                        CHECK(strncmp(e.msg, SOURCE ": ", strlen(SOURCE) + 2) == 0,
                              "message \"%s\" does not name the source", e.msg);
                return 0;
        }
        check_profile(p);
        /* Two requests per profile: one asked for, one drawn. */
        plan_one(p, &dr);
        dr.size = dr.at;
        plan_one(p, &dr);
        (void) cd_profile_free(p);
        return 0;
}
