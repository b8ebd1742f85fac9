/* SPDX-License-Identifier: MIT */
/* A profile as JSON, for `cordon profiles --json` and the API. */
#define _GNU_SOURCE
#include <jansson.h>

#include "cordon/limits.h"
#include "cordon/profile.h"

static json_t *strv(char *const *v)
{
        json_t *a = json_array();

        for (size_t i = 0; a && v && v[i]; i++)
                if (json_array_append_new(a, json_string(v[i])) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

/* Limits in their units, as strings ("1G", "300s", "0.5"). */
static json_t *limits(const struct cd_limits *l)
{
        json_t *o = json_object();

        for (size_t i = 0; o && i < cd_n_limit_defs; i++) {
                char buf[32];

                cd_limit_format(&cd_limit_defs[i], cd_limit_get(l, &cd_limit_defs[i]), buf,
                                sizeof(buf));
                if (json_object_set_new(o, cd_limit_defs[i].name, json_string(buf)) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

static json_t *mounts(const struct cd_profile *p)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < p->n_mounts; i++) {
                json_t *m = json_pack("{s:s, s:s, s:b, s:b}", "source", p->mounts[i].source,
                                      "target", p->mounts[i].target, "optional",
                                      p->mounts[i].optional, "from_image", p->mounts[i].from_image);

                if (!m || json_array_append_new(a, m) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

json_t *cd_profile_to_json(const struct cd_profile *p)
{
        const struct cd_artifact_rules *a = &p->artifacts;

        return json_pack(
                "{s:s, s:s?, s:s, s:o, s:o, s:s, s:b, s:s, s:{s:o, s:o}, "
                "s:{s:o, s:o}, s:{s:o}, s:{s:o, s:I, s:I, s:I, s:I, s:I, s:I}, s:s}",
                "name", p->name, "description", p->description, "image", p->image, "mounts",
                mounts(p), "command", strv(p->command), "workdir", p->workdir, "work_readonly",
                p->work_readonly, "proc", p->proc_subset_pid ? "pid" : "full", "environment",
                "allow", strv(p->env_allow), "set", strv(p->env_set), "limits", "default",
                limits(&p->defaults), "max", limits(&p->max), "seccomp", "allow",
                strv(p->seccomp_allow), "artifacts", "types",
                a->types ? strv(a->types) : json_null(), "max_files", (json_int_t) a->max_files,
                "max_total_bytes", (json_int_t) a->max_total_bytes, "max_file_bytes",
                (json_int_t) a->max_file_bytes, "max_depth", (json_int_t) a->max_depth,
                "max_name_bytes", (json_int_t) a->max_name_bytes, "max_time",
                (json_int_t) a->max_time_ms, "network", "none");
}
