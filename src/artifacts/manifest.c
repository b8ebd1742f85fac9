/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <jansson.h>

#include "cordon/artifacts.h"

/* Paths were escaped when found, so they are valid UTF-8 here. */
static json_t *entry(const struct cd_artifact *a)
{
        if (a->refused == CD_TAKEN)
                return json_pack("{s:s, s:I, s:s, s:s}", "path", a->path, "size",
                                 (json_int_t) a->size, "sha256", a->sha256, "type", a->type);
        if (a->refused == CD_REFUSED_TYPE_NOT_ALLOWED)
                return json_pack("{s:s, s:s, s:s, s:s*}", "path", a->path, "refused",
                                 cd_refusal_to_string(a->refused), "type", a->type, "tail_type",
                                 a->tail_type);
        return json_pack("{s:s, s:s}", "path", a->path, "refused",
                         cd_refusal_to_string(a->refused));
}

json_t *cd_manifest_to_json(const struct cd_manifest *m)
{
        json_t *arr = json_array();

        for (size_t i = 0; arr && i < m->n; i++) {
                json_t *e = entry(&m->items[i]);

                if (!e || json_array_append_new(arr, e) < 0) {
                        json_decref(arr);
                        return NULL;
                }
        }
        return arr;
}
