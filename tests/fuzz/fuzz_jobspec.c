/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the "job" part of POST /v1/jobs (cd_jobspec_parse),
 * as a client sends it and as the store keeps it.
 *
 * Input: the JSON text, all of it (NUL bytes included: the parser gets a
 * length). It is parsed twice, as submitted (stored=false) and as stored.
 *
 * Besides the sanitizers, it abort()s when an invariant breaks:
 * - a refusal returns -CD_E_INVALID (or -ENOMEM) with a message and
 *   leaves the spec cleared;
 * - a refusal never repeats the request (docs/api.md): no key or string
 *   of the input that no message could hold by chance (4 bytes or more,
 *   with a byte outside printable ASCII or one of "!#$%&*+<=>?@^`|~")
 *   appears in the message;
 * - what a client may send, the store may keep (false ok => true ok, and
 *   the same spec);
 * - a parsed spec keeps the rules: a name a profile could have, a valid
 *   entry, at most 16 labels with [a-z0-9_.-] keys and string values of
 *   at most 256 bytes without NUL, a limits object, valid input names,
 *   and no inputs from a client;
 * - cd_jobspec_dump, parsed back as stored, succeeds and dumps the same
 *   text.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cordon/err.h"
#include "cordon/profile.h"
#include "cordon/service.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TARGET "fuzz_jobspec"
#include "fuzz-check.h"

static bool label_key_ok(const char *k)
{
        size_t n = strlen(k);

        if (n < 1 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_' ||
                      k[i] == '.' || k[i] == '-'))
                        return false;
        return true;
}

static void check_spec(const struct cd_jobspec *s, bool stored)
{
        const char *k;
        json_t *v;

        CHECK(s->profile, "no profile");
        CHECK(cd_profile_name_is_valid(s->profile), "profile \"%s\"", s->profile);
        CHECK(!s->entry || cd_entry_is_valid(s->entry), "entry \"%s\"", s->entry);
        CHECK(json_is_object(s->limits), "limits not an object");
        CHECK(json_is_object(s->labels), "labels not an object");
        CHECK(json_object_size(s->labels) <= CD_JOB_MAX_LABELS, "%zu labels",
              json_object_size(s->labels));
        json_object_foreach(s->labels, k, v)
        {
                CHECK(label_key_ok(k), "label key \"%s\"", k);
                CHECK(json_is_string(v), "label %s not a string", k);
                CHECK(json_string_length(v) <= CD_JOB_MAX_LABEL_VALUE &&
                              strlen(json_string_value(v)) == json_string_length(v),
                      "label %s: %zu bytes", k, json_string_length(v));
        }
        CHECK(stored || !s->inputs, "inputs from a client");
        for (size_t i = 0; s->inputs && s->inputs[i]; i++)
                CHECK(cd_input_name_is_valid(s->inputs[i]), "input %zu \"%s\"", i, s->inputs[i]);
        CHECK(!s->inputs || s->inputs[0], "an empty inputs list instead of none");
}

static bool spec_equal(const struct cd_jobspec *a, const struct cd_jobspec *b)
{
        size_t i;

        if (strcmp(a->profile, b->profile) != 0 || !a->entry != !b->entry ||
            (a->entry && strcmp(a->entry, b->entry) != 0) || !json_equal(a->limits, b->limits) ||
            !json_equal(a->labels, b->labels) || !a->inputs != !b->inputs)
                return false;
        for (i = 0; a->inputs && a->inputs[i]; i++)
                if (!b->inputs[i] || strcmp(a->inputs[i], b->inputs[i]) != 0)
                        return false;
        return !a->inputs || !b->inputs[i];
}

static bool spec_cleared(const struct cd_jobspec *s)
{
        return !s->profile && !s->entry && !s->inputs && !s->limits && !s->labels;
}

/* A piece of the request no message holds by chance: the messages are
 * printable ASCII without any of these. */
static bool telltale(const char *s)
{
        if (strlen(s) < 4)
                return false;
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f ||
                    strchr("!#$%&*+<=>?@^`|~", *s))
                        return true;
        return false;
}

/* No key or string of @j that is a telltale is in @msg. */
static void check_not_echoed(json_t *j, const char *msg)
{
        const char *k;
        json_t *v;
        size_t i;

        if (json_is_string(j))
                CHECK(!telltale(json_string_value(j)) || !strstr(msg, json_string_value(j)),
                      "message \"%s\" repeats a string of the request", msg);
        json_object_foreach(j, k, v)
        {
                CHECK(!telltale(k) || !strstr(msg, k), "message \"%s\" repeats a key", msg);
                check_not_echoed(v, msg);
        }
        json_array_foreach(j, i, v) check_not_echoed(v, msg);
}

/* Parse; on success check it. Returns the result. */
static int parse(const char *text, size_t len, bool stored, struct cd_jobspec *s)
{
        struct cd_err e = { 0 };
        int r;

        memset(s, 0x5a, sizeof(*s));
        r = cd_jobspec_parse(text, len, stored, s, &e);
        if (r < 0) {
                json_t *j = json_loadb(text, len, 0, NULL);

                CHECK(r == -CD_E_INVALID || r == -ENOMEM, "returned %d", r);
                CHECK(e.code == -r && e.msg[0], "refusal %d without its message", r);
                CHECK(spec_cleared(s), "spec not cleared after a refusal");
                check_not_echoed(j, e.msg);
                json_decref(j);
                return r;
        }
        CHECK(r == 0, "returned %d", r);
        check_spec(s, stored);
        return 0;
}

/* dump, parse as stored, dump again: the same text, the same spec. */
static void round_trip(const struct cd_jobspec *s)
{
        struct cd_jobspec back;
        char *d1 = cd_jobspec_dump(s), *d2;

        if (!d1)
                return; /* ENOMEM */
        CHECK(parse(d1, strlen(d1), true, &back) == 0, "the dump \"%s\" does not parse back", d1);
        CHECK(spec_equal(s, &back), "the dump \"%s\" parses to another spec", d1);
        d2 = cd_jobspec_dump(&back);
        CHECK(!d2 || strcmp(d1, d2) == 0, "dumps differ: \"%s\" then \"%s\"", d1, d2);
        free(d2);
        free(d1);
        cd_jobspec_clear(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cd_jobspec client, stored;
        int rc = parse((const char *) data, size, false, &client);
        int rs = parse((const char *) data, size, true, &stored);

        if (rc == 0) {
                CHECK(rs == 0, "accepted from a client, refused as stored (%d)", rs);
                CHECK(spec_equal(&client, &stored), "client and stored parses differ");
                round_trip(&client);
        }
        if (rs == 0)
                round_trip(&stored);
        cd_jobspec_clear(&client);
        cd_jobspec_clear(&stored);
        return 0;
}
