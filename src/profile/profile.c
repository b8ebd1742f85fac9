/* SPDX-License-Identifier: MIT */
/*
 * Profiles: strict JSON, validated whole on load. Every refusal names the
 * file, the field (as a JSON path) and the problem. The format is in
 * docs/profiles.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/limits.h"
#include "cordon/profile.h"
#include "cordon/util.h"
#include "profile-internal.h"

#define MAX_PROFILE_BYTES (256u << 10)
#define MAX_NAME_LEN      32

int pctx_fail(struct pctx *c, const char *field, const char *fmt, ...)
{
        char what[400];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return cd_err_set(c->err, CD_E_INVALID, "%s: %s: %s", c->source, field, what);
}

int pctx_check_keys(struct pctx *c, json_t *obj, const char *path, const char *const *known)
{
        const char *key;
        json_t *v;

        json_object_foreach(obj, key, v)
        {
                bool ok = false;

                for (size_t i = 0; known[i]; i++)
                        ok = ok || strcmp(key, known[i]) == 0;
                if (!ok)
                        return pctx_fail(c, path[0] ? path : "(top level)", "unknown key \"%.64s\"",
                                         key);
        }
        return 0;
}

/* A string member; *@ret stays as it is when absent and not @required. */
int pctx_string(struct pctx *c, json_t *obj, const char *key, const char *path, bool required,
                char **ret)
{
        json_t *v = json_object_get(obj, key);

        if (!v)
                return required ? pctx_fail(c, path, "missing") : 0;
        if (!json_is_string(v))
                return pctx_fail(c, path, "must be a string");
        if (strlen(json_string_value(v)) != json_string_length(v))
                return pctx_fail(c, path, "must not contain NUL");
        free(*ret);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : cd_err_set(c->err, ENOMEM, "%s: out of memory", c->source);
}

static int pctx_bool(struct pctx *c, json_t *obj, const char *key, const char *path, bool *ret)
{
        json_t *v = json_object_get(obj, key);

        if (!v)
                return 0;
        if (!json_is_boolean(v))
                return pctx_fail(c, path, "must be true or false");
        *ret = json_is_true(v);
        return 0;
}

/* An array of strings; NULL when absent. */
int pctx_strv(struct pctx *c, json_t *obj, const char *key, const char *path, char ***ret)
{
        json_t *v = json_object_get(obj, key), *e;
        cleanup_strv char **out = NULL;
        size_t i;

        if (!v)
                return 0;
        if (!json_is_array(v))
                return pctx_fail(c, path, "must be an array of strings");
        out = calloc(json_array_size(v) + 1, sizeof(char *));
        if (!out)
                return cd_err_set(c->err, ENOMEM, "%s: out of memory", c->source);
        json_array_foreach(v, i, e)
        {
                if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
                        return pctx_fail(c, path, "element %zu must be a string", i);
                out[i] = strdup(json_string_value(e));
                if (!out[i])
                        return cd_err_set(c->err, ENOMEM, "%s: out of memory", c->source);
        }
        cd_strv_free(*ret);
        *ret = TAKE_PTR(out);
        return 0;
}

/* 1 to @max of @charset, not starting with '-' or '.'. */
static bool valid_name(const char *s, size_t max, const char *charset)
{
        size_t n = strlen(s);

        return n > 0 && n <= max && s[0] != '-' && s[0] != '.' && strspn(s, charset) == n;
}

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789-"

bool cd_profile_name_is_valid(const char *name)
{
        return valid_name(name, MAX_NAME_LEN, NAME_CHARS);
}

static int parse_identity(struct pctx *c, json_t *root, struct cd_profile *p)
{
        int r = pctx_string(c, root, "name", "name", true, &p->name);

        if (r < 0)
                return r;
        if (!cd_profile_name_is_valid(p->name))
                return pctx_fail(c, "name", "must be 1 to %d of a-z, 0-9 and '-'", MAX_NAME_LEN);
        if (c->expect_name && strcmp(p->name, c->expect_name) != 0)
                return pctx_fail(c, "name", "\"%s\" does not match the file name \"%s.json\"",
                                 p->name, c->expect_name);
        return pctx_string(c, root, "description", "description", false, &p->description);
}

/*
 * Every job of the profile runs the image's programs: someone who could
 * change them could read every later job's inputs. Its root, /usr and /etc
 * must be real directories of root (or of whoever runs cordon) that no
 * group or other user may write; so must /bin, /sbin and /lib* where they
 * are directories (an image without a merged /usr keeps the dynamic loader
 * and libc in /lib; as symlinks they are made again in the sandbox, never
 * followed), and the images directory (@dir) and every directory above
 * it, reached without a symlink: whoever may write one could rename the
 * image away and put their own in its place, after this check, for every
 * job until the profiles are loaded again.
 */
static int check_image_owner(struct pctx *c, const char *dir, const char *image_root)
{
        /* May the part be absent; may it be a symlink (never followed). */
        static const struct {
                const char *path;
                bool optional, link_ok;
        } parts[] = {
                { "", false, false },     { "/usr", false, false }, { "/etc", true, false },
                { "/bin", true, true },   { "/sbin", true, true },  { "/lib", true, true },
                { "/lib32", true, true }, { "/lib64", true, true }, { "/libx32", true, true },
        };
        cleanup_close int dirfd = cd_open_trusted_dir(dir, c->err);
        struct stat st;

        /* The images directory and every one above it, as for profiles. */
        if (dirfd < 0)
                return pctx_fail(c, "image", "the images directory: %s", c->err->msg);
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                cleanup_free char *path = NULL;

                if (asprintf(&path, "%s%s", image_root, parts[i].path) < 0)
                        return cd_err_set(c->err, ENOMEM, "%s: out of memory", c->source);
                if (lstat(path, &st) < 0) {
                        if (errno == ENOENT && parts[i].optional)
                                continue;
                        return pctx_fail(c, "image", "%s: %s", path, strerror(errno));
                }
                if (parts[i].link_ok && S_ISLNK(st.st_mode))
                        continue;
                if (!S_ISDIR(st.st_mode))
                        return pctx_fail(c, "image", "%s is not a directory (a symlink?)", path);
                if (!cd_owned_alone(&st))
                        return pctx_fail(c, "image",
                                         "%s must be owned by root and not writable by group "
                                         "or others",
                                         path);
        }
        return 0;
}

static int parse_image(struct pctx *c, json_t *root, struct cd_profile *p)
{
        const char *dir =
                c->host && c->host->images_dir ? c->host->images_dir : CD_DEFAULT_IMAGES_DIR;
        cleanup_free char *usr = NULL;
        struct stat st;
        int r;

        p->image = strdup("host");
        if (!p->image)
                return cd_err_set(c->err, ENOMEM, "%s: out of memory", c->source);
        r = pctx_string(c, root, "image", "image", false, &p->image);
        if (r < 0)
                return r;
        if (strcmp(p->image, "host") == 0) {
                p->image_root = strdup("/");
                return p->image_root ? 0 : cd_err_set(c->err, ENOMEM, "out of memory");
        }
        if (!valid_name(p->image, 64, NAME_CHARS "._"))
                return pctx_fail(c, "image",
                                 "must be \"host\" or an image name (a-z, 0-9, '-', "
                                 "'.', '_')");
        if (asprintf(&p->image_root, "%s/%s", dir, p->image) < 0 ||
            asprintf(&usr, "%s/usr", p->image_root) < 0)
                return cd_err_set(c->err, ENOMEM, "%s: out of memory", c->source);
        if (stat(usr, &st) < 0 || !S_ISDIR(st.st_mode))
                return pctx_fail(c, "image",
                                 "image \"%s\" is not built: %s is missing (see images/%s/build "
                                 "and docs/images.md)",
                                 p->image, usr, p->image);
        return check_image_owner(c, dir, p->image_root);
}

/* Sandbox paths a mount may not cover: what cordon itself builds. */
static bool reserved_target(const char *t)
{
        static const char *const reserved[] = { "/proc", "/dev", "/tmp", "/work", "/out", "/etc" };

        for (size_t i = 0; i < ELEMENTSOF(reserved); i++) {
                size_t n = strlen(reserved[i]);

                if (strncmp(t, reserved[i], n) == 0 && (t[n] == '\0' || t[n] == '/'))
                        return true;
        }
        return strcmp(t, "/") == 0;
}

static int parse_mount(struct pctx *c, json_t *m, size_t i, struct cd_profile *p)
{
        static const char *const known[] = { "source", "target", "optional", "from_image", NULL };
        cleanup_free char *source = NULL, *target = NULL;
        bool optional = false, from_image = false;
        struct cd_bind *nb;
        char path[64], member[80];
        int r;

        (void) snprintf(path, sizeof(path), "mounts[%zu]", i);
        if (!json_is_object(m))
                return pctx_fail(c, path, "must be an object with source and target");
        r = pctx_check_keys(c, m, path, known);
        (void) snprintf(member, sizeof(member), "%s.source", path);
        if (r == 0)
                r = pctx_string(c, m, "source", member, true, &source);
        (void) snprintf(member, sizeof(member), "%s.target", path);
        if (r == 0)
                r = pctx_string(c, m, "target", member, false, &target);
        (void) snprintf(member, sizeof(member), "%s.optional", path);
        if (r == 0)
                r = pctx_bool(c, m, "optional", member, &optional);
        (void) snprintf(member, sizeof(member), "%s.from_image", path);
        if (r == 0)
                r = pctx_bool(c, m, "from_image", member, &from_image);
        if (r < 0)
                return r;
        if (!target && !(target = strdup(source)))
                return cd_err_set(c->err, ENOMEM, "%s: out of memory", c->source);
        if (!cd_path_is_clean_absolute(source) || !cd_path_is_clean_absolute(target))
                return pctx_fail(c, path,
                                 "source and target must be absolute, without '.', '..' "
                                 "or '//'");
        if (reserved_target(target))
                return pctx_fail(c, path, "target %s would cover a directory cordon builds",
                                 target);
        nb = reallocarray(p->mounts, p->n_mounts + 1, sizeof(*nb));
        if (!nb)
                return cd_err_set(c->err, ENOMEM, "%s: out of memory", c->source);
        p->mounts = nb;
        nb[p->n_mounts++] = (struct cd_bind){ .source = TAKE_PTR(source),
                                              .target = TAKE_PTR(target),
                                              .optional = optional,
                                              .from_image = from_image };
        return 0;
}

static int parse_mounts(struct pctx *c, json_t *root, struct cd_profile *p)
{
        json_t *v = json_object_get(root, "mounts"), *m;
        size_t i;
        int r;

        if (!v)
                return 0;
        if (!json_is_array(v))
                return pctx_fail(c, "mounts", "must be an array");
        json_array_foreach(v, i, m)
        {
                r = parse_mount(c, m, i, p);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_command(struct pctx *c, json_t *root, struct cd_profile *p)
{
        size_t entries = 0;
        int r;

        if (!json_object_get(root, "command"))
                return pctx_fail(c, "command", "missing");
        r = pctx_strv(c, root, "command", "command", &p->command);
        if (r < 0)
                return r;
        if (!p->command[0])
                return pctx_fail(c, "command", "must not be empty");
        for (size_t i = 0; p->command[i]; i++) {
                if (p->command[i][0] == '\0')
                        return pctx_fail(c, "command", "element %zu is empty", i);
                entries += strcmp(p->command[i], "{entry}") == 0;
        }
        if (entries > 1)
                return pctx_fail(c, "command", "\"{entry}\" may appear once");
        return 0;
}

static bool under_writable(const char *path)
{
        static const char *const roots[] = { "/work", "/tmp", "/out" };

        for (size_t i = 0; i < ELEMENTSOF(roots); i++) {
                size_t n = strlen(roots[i]);

                if (strncmp(path, roots[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
                        return true;
        }
        return false;
}

static int parse_sandbox(struct pctx *c, json_t *root, struct cd_profile *p)
{
        cleanup_free char *proc = NULL, *network = NULL;
        int r;

        p->workdir = strdup("/work");
        if (!p->workdir)
                return cd_err_set(c->err, ENOMEM, "%s: out of memory", c->source);
        r = pctx_string(c, root, "workdir", "workdir", false, &p->workdir);
        if (r == 0 && (!cd_path_is_clean_absolute(p->workdir) || !under_writable(p->workdir)))
                r = pctx_fail(c, "workdir", "must be /work, /tmp, /out or below them");
        if (r == 0)
                r = pctx_bool(c, root, "work_readonly", "work_readonly", &p->work_readonly);
        if (r == 0)
                r = pctx_string(c, root, "proc", "proc", false, &proc);
        if (r == 0 && proc && strcmp(proc, "full") != 0 && strcmp(proc, "pid") != 0)
                r = pctx_fail(c, "proc", "must be \"full\" or \"pid\"");
        if (r == 0)
                r = pctx_string(c, root, "network", "network", false, &network);
        if (r == 0 && network && strcmp(network, "none") != 0)
                r = pctx_fail(c, "network", "only \"none\" is supported: jobs get no network");
        if (r < 0)
                return r;
        p->proc_subset_pid = proc && strcmp(proc, "pid") == 0;
        return 0;
}

static bool valid_env_name(const char *s, bool pattern)
{
        size_t n = strlen(s);

        if (pattern && n > 1 && s[n - 1] == '*')
                n--;
        return n > 0 && !(s[0] >= '0' && s[0] <= '9') &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static int parse_env_set(struct pctx *c, json_t *set, struct cd_profile *p)
{
        const char *key;
        json_t *v;

        if (!json_is_object(set))
                return pctx_fail(c, "environment.set", "must be an object of NAME: \"value\"");
        json_object_foreach(set, key, v)
        {
                cleanup_free char *entry = NULL;

                if (!valid_env_name(key, false))
                        return pctx_fail(c, "environment.set", "\"%.64s\" is not a variable name",
                                         key);
                if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                        return pctx_fail(c, "environment.set", "%s must be a string", key);
                if (asprintf(&entry, "%s=%s", key, json_string_value(v)) < 0 ||
                    cd_strv_push(&p->env_set, entry) < 0)
                        return cd_err_set(c->err, ENOMEM, "%s: out of memory", c->source);
        }
        return 0;
}

static int parse_environment(struct pctx *c, json_t *root, struct cd_profile *p)
{
        static const char *const known[] = { "allow", "set", NULL };
        json_t *env = json_object_get(root, "environment");
        int r;

        if (!env) {
                static const char *const def[] = { "LANG", "LC_*", "TZ", NULL };

                p->env_allow = cd_strv_copy((char *const *) def);
                return p->env_allow ? 0 : cd_err_set(c->err, ENOMEM, "out of memory");
        }
        if (!json_is_object(env))
                return pctx_fail(c, "environment", "must be an object");
        r = pctx_check_keys(c, env, "environment", known);
        if (r == 0)
                r = pctx_strv(c, env, "allow", "environment.allow", &p->env_allow);
        if (r < 0)
                return r;
        for (size_t i = 0; p->env_allow && p->env_allow[i]; i++)
                if (!valid_env_name(p->env_allow[i], true))
                        return pctx_fail(c, "environment.allow",
                                         "\"%.64s\" is not a variable name or NAME_* prefix",
                                         p->env_allow[i]);
        return json_object_get(env, "set") ? parse_env_set(c, json_object_get(env, "set"), p) : 0;
}

static int parse_seccomp(struct pctx *c, json_t *root, struct cd_profile *p)
{
        static const char *const known[] = { "allow", NULL };
        json_t *sc = json_object_get(root, "seccomp");
        int r;

        if (!sc)
                return 0;
        if (!json_is_object(sc))
                return pctx_fail(c, "seccomp", "must be an object");
        r = pctx_check_keys(c, sc, "seccomp", known);
        if (r == 0)
                r = pctx_strv(c, sc, "allow", "seccomp.allow", &p->seccomp_allow);
        if (r < 0)
                return r;
        for (size_t i = 0; p->seccomp_allow && p->seccomp_allow[i]; i++)
                if (!cd_seccomp_addition(p->seccomp_allow[i]))
                        return pctx_fail(c, "seccomp.allow",
                                         "unknown addition \"%.64s\" (docs/seccomp.md lists them)",
                                         p->seccomp_allow[i]);
        return 0;
}

static int parse_document(struct pctx *c, json_t *root, struct cd_profile *p)
{
        static const char *const known[] = {
                "name", "description", "image",  "mounts",  "command",   "workdir", "work_readonly",
                "proc", "environment", "limits", "seccomp", "artifacts", "network", NULL,
        };
        int r;

        if (!json_is_object(root))
                return pctx_fail(c, "(top level)", "must be a JSON object");
        r = pctx_check_keys(c, root, "", known);
        if (r == 0)
                r = parse_identity(c, root, p);
        if (r == 0)
                r = parse_image(c, root, p);
        if (r == 0)
                r = parse_mounts(c, root, p);
        if (r == 0)
                r = parse_command(c, root, p);
        if (r == 0)
                r = parse_sandbox(c, root, p);
        if (r == 0)
                r = parse_environment(c, root, p);
        if (r == 0)
                r = cd_profile_parse_limits(c, json_object_get(root, "limits"), p);
        if (r == 0)
                r = parse_seccomp(c, root, p);
        if (r == 0)
                r = cd_profile_parse_artifacts(c, json_object_get(root, "artifacts"), p);
        return r;
}

static void probe_host(const struct cd_profile_host *in, struct cd_profile_host *out)
{
        struct sysinfo si;

        *out = in ? *in : (struct cd_profile_host){ 0 };
        if (!out->memory_bytes && sysinfo(&si) == 0)
                out->memory_bytes = (uint64_t) si.totalram * si.mem_unit;
        if (!out->cpu_millis)
                out->cpu_millis = (uint64_t) get_nprocs() * 1000;
}

static int parse(const char *text, size_t len, const char *source, const char *expect_name,
                 const struct cd_profile_host *host, struct cd_profile **ret, struct cd_err *err)
{
        cleanup_with(cd_profile_freep) struct cd_profile *p = calloc(1, sizeof(*p));
        struct cd_profile_host h;
        struct pctx c = { .source = source, .err = err, .host = &h, .expect_name = expect_name };
        json_error_t jerr;
        json_t *root;
        int r;

        if (!p)
                return cd_err_set(err, ENOMEM, "%s: out of memory", source);
        probe_host(host, &h);
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return cd_err_set(err, CD_E_INVALID, "%s: line %d: %s", source, jerr.line,
                                  jerr.text);
        r = parse_document(&c, root, p);
        json_decref(root);
        if (r < 0)
                return r;
        p->source = strdup(source);
        if (!p->source)
                return cd_err_set(err, ENOMEM, "%s: out of memory", source);
        *ret = TAKE_PTR(p);
        return 0;
}

int cd_profile_parse(const char *text, size_t len, const char *source,
                     const struct cd_profile_host *host, struct cd_profile **ret,
                     struct cd_err *err)
{
        return parse(text, len, source, NULL, host, ret, err);
}

int cd_profile_load_at(int dirfd, const char *name, const char *path,
                       const struct cd_profile_host *host, struct cd_profile **ret,
                       struct cd_err *err)
{
        cleanup_free char *text = NULL, *expect = NULL;
        size_t len = 0, n = strlen(name);
        int r;

        /* Profiles are small admin files: read whole, bounded. */
        r = cd_read_trusted_at(dirfd, name, path, MAX_PROFILE_BYTES, &text, &len, err);
        if (r < 0)
                return r;
        expect = strndup(name, n > 5 && strcmp(name + n - 5, ".json") == 0 ? n - 5 : n);
        if (!expect)
                return cd_err_set(err, ENOMEM, "%s: out of memory", path);
        r = parse(text, len, path, expect, host, ret, err);
        if (r < 0)
                return r;
        (*ret)->raw = TAKE_PTR(text);
        (*ret)->raw_len = len;
        return 0;
}

int cd_profile_load(const char *path, const struct cd_profile_host *host, struct cd_profile **ret,
                    struct cd_err *err)
{
        const char *name = NULL;
        cleanup_close int dirfd = cd_open_trusted_parent(path, &name, err);

        if (dirfd < 0)
                return cd_err_prefix(err, "profiles");
        return cd_profile_load_at(dirfd, name, path, host, ret, err);
}

struct cd_profile *cd_profile_free(struct cd_profile *p)
{
        if (!p)
                return NULL;
        free(p->name);
        free(p->description);
        free(p->image);
        free(p->image_root);
        for (size_t i = 0; i < p->n_mounts; i++) {
                free(p->mounts[i].source);
                free(p->mounts[i].target);
        }
        free(p->mounts);
        cd_strv_free(p->command);
        free(p->workdir);
        cd_strv_free(p->env_allow);
        cd_strv_free(p->env_set);
        cd_strv_free(p->seccomp_allow);
        cd_strv_free(p->artifacts.types);
        free(p->source);
        free(p->raw);
        free(p);
        return NULL;
}
