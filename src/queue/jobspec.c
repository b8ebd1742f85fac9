/* SPDX-License-Identifier: MIT */
/* A job request: parsed, checked, stored and turned into a plan (service.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cordon/artifacts.h"
#include "cordon/cleanup.h"
#include "cordon/limits.h"
#include "cordon/profile.h"
#include "cordon/service.h"
#include "cordon/util.h"

#define MAX_INPUT_NAME 255

bool cd_input_name_is_valid(const char *name)
{
        return cd_name_is_acceptable(name, MAX_INPUT_NAME) && name[0] != '.';
}

void cd_jobspec_clear(struct cd_jobspec *spec)
{
        free(spec->profile);
        free(spec->entry);
        cd_strv_free(spec->inputs);
        json_decref(spec->limits);
        json_decref(spec->labels);
        *spec = (struct cd_jobspec){ 0 };
}

static int invalid(struct cd_err *err, const char *msg)
{
        return cd_err_set(err, CD_E_INVALID, "%s", msg);
}

static bool label_key_ok(const char *k)
{
        size_t n = strlen(k);

        return n >= 1 && n <= 64 && strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int check_labels(json_t *labels, struct cd_err *err)
{
        const char *k;
        json_t *v;

        if (json_object_size(labels) > CD_JOB_MAX_LABELS)
                return invalid(err, "labels: at most 16");
        json_object_foreach(labels, k, v)
        {
                if (!label_key_ok(k))
                        return invalid(err, "labels: keys are 1 to 64 of [a-z0-9_.-]");
                if (!json_is_string(v) || json_string_length(v) > CD_JOB_MAX_LABEL_VALUE ||
                    strlen(json_string_value(v)) != json_string_length(v))
                        return invalid(err, "labels: values are strings of at most 256 bytes");
        }
        return 0;
}

/* Every key a limit's name as profiles spell it: cd_limit_find() also takes
 * the flag spelling ("cpu-time"), which is not a key. An unknown key is not
 * repeated in the message. */
static int check_limit_keys(json_t *limits, struct cd_err *err)
{
        const char *k;
        json_t *v;

        json_object_foreach(limits, k, v)
        {
                if (!cd_limit_find(k) || strchr(k, '-'))
                        return invalid(err, "limits: unknown limit (the keys are those of "
                                            "profiles, with '_': memory, cpus, cpu_time, ...)");
        }
        return 0;
}

static int take_inputs(json_t *inputs, struct cd_jobspec *spec, struct cd_err *err)
{
        json_t *v;
        size_t i;

        json_array_foreach(inputs, i, v)
        {
                if (!json_is_string(v) || !cd_input_name_is_valid(json_string_value(v)))
                        return invalid(err, "inputs: not a valid file name");
                if (cd_strv_push(&spec->inputs, json_string_value(v)) < 0)
                        return cd_err_set(err, ENOMEM, "request: out of memory");
        }
        return 0;
}

/* Depth of nested arrays and objects, stopping past @max. */
static int deeper(int a, int b)
{
        return a > b ? a : b;
}

static int depth(json_t *j, int max)
{
        const char *k;
        json_t *v;
        size_t i;
        int d = 0;

        if (max < 0)
                return 1;
        if (json_is_object(j))
                json_object_foreach(j, k, v) d = deeper(d, depth(v, max - 1));
        else if (json_is_array(j))
                json_array_foreach(j, i, v) d = deeper(d, depth(v, max - 1));
        else
                return 0;
        return d + 1;
}

static int unpack(json_t *root, bool stored, struct cd_jobspec *spec, struct cd_err *err)
{
        const char *profile = NULL, *entry = NULL;
        json_t *limits = NULL, *labels = NULL, *inputs = NULL;
        struct cd_limits l;
        uint32_t set;
        json_error_t je;
        int r;

        if (json_unpack_ex(root, &je, JSON_STRICT, "{s:s, s?s, s?o, s?o, s?o}", "profile", &profile,
                           "entry", &entry, "limits", &limits, "labels", &labels, "inputs",
                           &inputs) < 0 ||
            (inputs && !stored))
                return invalid(err,
                               "job: expected {\"profile\", \"entry\", \"limits\", \"labels\"} "
                               "with strings and objects, and nothing else");
        if ((limits && !json_is_object(limits)) || (labels && !json_is_object(labels)) ||
            (inputs && !json_is_array(inputs)))
                return invalid(err, "job: limits and labels must be objects");
        /* Only a name a profile could have is looked up (and later stored). */
        if (!cd_profile_name_is_valid(profile))
                return invalid(err, "profile: not a profile name (1 to 32 of a-z, 0-9 and '-')");
        if (entry && !cd_entry_is_valid(entry))
                return invalid(err, "entry: must be a relative path inside /work, without '..', "
                                    "control characters or a leading '-'");
        r = check_labels(labels, err);
        if (r == 0 && limits)
                r = check_limit_keys(limits, err);
        /* "request: limits.X: ...": a bad value is invalid_request, not
         * invalid_json (whose messages start "job: "), see api/jobs.c. */
        if (r == 0 && limits)
                r = cd_request_parse_limits(limits, "request", &l, &set, err);
        if (r < 0)
                return r;
        spec->profile = strdup(profile);
        spec->entry = entry ? strdup(entry) : NULL;
        spec->limits = limits ? json_incref(limits) : json_object();
        spec->labels = labels ? json_incref(labels) : json_object();
        if (!spec->profile || (entry && !spec->entry) || !spec->limits || !spec->labels)
                return cd_err_set(err, ENOMEM, "request: out of memory");
        return inputs ? take_inputs(inputs, spec, err) : 0;
}

int cd_jobspec_parse(const char *text, size_t len, bool stored, struct cd_jobspec *ret,
                     struct cd_err *err)
{
        json_error_t je;
        json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        int r;

        *ret = (struct cd_jobspec){ 0 };
        if (!root)
                return invalid(err, "job: not valid JSON (or a duplicate key)");
        if (depth(root, CD_JOB_MAX_JSON_DEPTH) > CD_JOB_MAX_JSON_DEPTH)
                r = invalid(err, "job: nested too deep");
        else
                r = unpack(root, stored, ret, err);
        json_decref(root);
        if (r < 0)
                cd_jobspec_clear(ret);
        return r;
}

char *cd_jobspec_dump(const struct cd_jobspec *spec)
{
        json_t *inputs = json_array(), *o;
        char *s;

        for (size_t i = 0; inputs && spec->inputs && spec->inputs[i]; i++)
                if (json_array_append_new(inputs, json_string(spec->inputs[i])) < 0) {
                        json_decref(inputs);
                        return NULL;
                }
        o = json_pack("{s:s, s:s*, s:O, s:O, s:o}", "profile", spec->profile, "entry", spec->entry,
                      "limits", spec->limits, "labels", spec->labels, "inputs", inputs);
        if (!o)
                return NULL;
        s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        return s;
}

/* The inputs' paths; an empty list for a job without any (the plan checks
 * an entry against none: a profile whose command is "{entry}" must never
 * run a host program the request named). */
static int input_paths(const struct cd_jobspec *spec, const char *dir, char ***ret)
{
        cleanup_strv char **v = calloc(1, sizeof(*v));

        if (!v)
                return -ENOMEM;
        for (size_t i = 0; spec->inputs && spec->inputs[i]; i++) {
                cleanup_free char *p = NULL;

                if (asprintf(&p, "%s/%s", dir, spec->inputs[i]) < 0 || cd_strv_push(&v, p) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

int cd_jobspec_plan(struct cd_service *s, const struct cd_jobspec *spec, const char *inputs_dir,
                    struct cd_plan **ret, struct cd_err *err)
{
        static char *const no_env[] = { NULL };
        cleanup_strv char **inputs = NULL;
        struct cd_request req = { .entry = spec->entry, .environ_in = no_env };
        const struct cd_profile *p;
        int r;

        if (input_paths(spec, inputs_dir, &inputs) < 0)
                return cd_err_set(err, ENOMEM, "request: out of memory");
        req.inputs = inputs;
        r = cd_request_parse_limits(spec->limits, "request", &req.limits, &req.limits_set, err);
        if (r < 0)
                return r;
        pthread_rwlock_rdlock(&s->profiles_lock);
        p = cd_profile_set_find(&s->profiles, spec->profile);
        if (!p)
                r = cd_err_set(err, ENOENT, "profile: no such profile");
        else
                r = cd_profile_plan(p, &req, ret, err);
        pthread_rwlock_unlock(&s->profiles_lock);
        return r;
}
