/* SPDX-License-Identifier: MIT */
/*
 * queue/jobspec.c: the "job" part of POST /v1/jobs (cd_jobspec_parse):
 * minimal and full requests, profile names, unknown keys, wrong types,
 * duplicate keys, nesting depth, labels, entry names, limits and their
 * numeric edges, "inputs" only as stored; refusals that never repeat what
 * was sent (a marker in every field and every limit);
 * the stored form (cd_jobspec_dump) read back; input file names
 * (cd_input_name_is_valid).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cordon/cleanup.h"
#include "cordon/err.h"
#include "cordon/limits.h"
#include "cordon/service.h"
#include "unit.h"

static void spec_free(void *p)
{
        cd_jobspec_clear(p);
        free(p);
}

static int teardown(void **state)
{
        (void) state;
        ut_run_deferred();
        return 0;
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

/* @n copies of @c, until teardown. */
static char *repeat(const char *c, size_t n)
{
        size_t len = strlen(c);
        char *s = malloc(len * n + 1);

        assert_non_null(s);
        for (size_t i = 0; i < n; i++)
                memcpy(s + i * len, c, len);
        s[len * n] = '\0';
        return ut_defer(free, s);
}

static struct cd_jobspec *parse_ok(const char *text, bool stored)
{
        struct cd_jobspec *s = calloc(1, sizeof(*s));
        struct cd_err e = { 0 };
        int r;

        assert_non_null(s);
        ut_defer(spec_free, s);
        r = cd_jobspec_parse(text, strlen(text), stored, s, &e);
        if (r != 0)
                fail_msg("%s refused (%d): %s", text, r, e.msg);
        return s;
}

static void assert_spec_empty(const struct cd_jobspec *s)
{
        assert_null(s->profile);
        assert_null(s->entry);
        assert_null(s->inputs);
        assert_null(s->limits);
        assert_null(s->labels);
}

/* Refused with CD_E_INVALID, a message containing @expect (if set), and a
 * cleared spec. Returns the message (until teardown). */
static const char *parse_bad_len(const char *text, size_t len, bool stored, const char *expect)
{
        struct cd_jobspec s;
        struct cd_err e = { 0 };
        int r;

        memset(&s, 0x5a, sizeof(s)); /* the parser must not rely on a cleared spec */
        r = cd_jobspec_parse(text, len, stored, &s, &e);
        if (r != -CD_E_INVALID)
                fail_msg("%.*s: returned %d (%s), expected a refusal", (int) len, text, r, e.msg);
        assert_int_equal(e.code, CD_E_INVALID);
        assert_true(e.msg[0] != '\0');
        if (expect && !strstr(e.msg, expect))
                fail_msg("%.*s: message \"%s\" does not say \"%s\"", (int) len, text, e.msg,
                         expect);
        assert_spec_empty(&s);
        return fmt("%s", e.msg);
}

static const char *parse_bad(const char *text, bool stored, const char *expect)
{
        return parse_bad_len(text, strlen(text), stored, expect);
}

#define STRICT    "with strings and objects, and nothing else"
#define NOT_JSON  "not valid JSON"
#define BAD_LABEL "labels:"
#define BAD_ENTRY "entry: must be a relative path"

/* ---- valid ---- */

static void test_minimal(void **state)
{
        struct cd_jobspec *s = parse_ok("{\"profile\": \"python\"}", false);

        (void) state;
        assert_string_equal(s->profile, "python");
        assert_null(s->entry);
        assert_null(s->inputs);
        assert_non_null(s->limits);
        assert_true(json_is_object(s->limits));
        assert_int_equal(json_object_size(s->limits), 0);
        assert_non_null(s->labels);
        assert_true(json_is_object(s->labels));
        assert_int_equal(json_object_size(s->labels), 0);
}

static void test_full(void **state)
{
        struct cd_jobspec *s = parse_ok(
                "{\"profile\": \"r-4\", \"entry\": \"dir/main.R\","
                " \"limits\": {\"memory\": \"1G\", \"cpus\": 0.5, \"wall\": \"30s\", \"pids\": 64},"
                " \"labels\": {\"team\": \"data\", \"run.id\": \"42\", \"a_b-c\": \"\"}}",
                false);

        (void) state;
        assert_string_equal(s->profile, "r-4");
        assert_string_equal(s->entry, "dir/main.R");
        assert_null(s->inputs);
        assert_int_equal(json_object_size(s->limits), 4);
        assert_string_equal(json_string_value(json_object_get(s->limits, "memory")), "1G");
        assert_true(json_real_value(json_object_get(s->limits, "cpus")) == 0.5);
        assert_int_equal(json_integer_value(json_object_get(s->limits, "pids")), 64);
        assert_int_equal(json_object_size(s->labels), 3);
        assert_string_equal(json_string_value(json_object_get(s->labels, "team")), "data");
        assert_string_equal(json_string_value(json_object_get(s->labels, "run.id")), "42");
        assert_string_equal(json_string_value(json_object_get(s->labels, "a_b-c")), "");
}

/* The names profiles may have (profile.c): 1 to 32 of a-z, 0-9 and '-'. */
static void test_profile_name(void **state)
{
        static const char *const good[] = { "p", "python", "r-4", "data-export", "0", "a-" };
        static const char *const bad[] = {
                "",
                "a/b",
                "/python",
                "..",
                ".",
                "-p",
                "Python",
                "p y",
                "p\\n",
                "p\\t",
                "p_y",
                "p.y",
                "\\u00e9t\\u00e9",
                "p\\u007f",
                "\\u2028",
                "p\\\\",
                "p\\\"",
                ".hidden",
                "p*",
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                assert_string_equal(parse_ok(fmt("{\"profile\": \"%s\"}", good[i]), false)->profile,
                                    good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                parse_bad(fmt("{\"profile\": \"%s\"}", bad[i]), false,
                          "profile: not a profile name");
        assert_string_equal(parse_ok(fmt("{\"profile\": \"%s\"}", repeat("p", 32)), false)->profile,
                            repeat("p", 32));
        parse_bad(fmt("{\"profile\": \"%s\"}", repeat("p", 33)), false, "profile:");
        parse_bad(fmt("{\"profile\": \"%s\"}", repeat("p", 65)), false, "profile:");
}

/* ---- structure ---- */

static void test_unknown_keys(void **state)
{
        static const char *const texts[] = {
                "{\"profile\": \"p\", \"argv\": [\"sh\"]}",
                "{\"profile\": \"p\", \"Profile\": \"p\"}",
                "{\"profile\": \"p\", \"env\": {}}",
                "{\"profile\": \"p\", \"limit\": {}}",
                "{\"profile\": \"p\", \"\": 1}",
        };

        (void) state;
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                parse_bad(texts[i], false, STRICT);
                parse_bad(texts[i], true, STRICT);
        }
}

static void test_wrong_types(void **state)
{
        static const char *const strict[] = {
                "{}",
                "{\"entry\": \"main.py\"}",
                "{\"profile\": 5}",
                "{\"profile\": null}",
                "{\"profile\": [\"p\"]}",
                "{\"profile\": \"p\", \"entry\": 1}",
                "{\"profile\": \"p\", \"entry\": null}",
                "{\"profile\": \"p\", \"entry\": [\"main.py\"]}",
                "[]",
                "[{\"profile\": \"p\"}]",
        };
        static const char *const objects[] = {
                "{\"profile\": \"p\", \"limits\": []}",
                "{\"profile\": \"p\", \"limits\": \"1G\"}",
                "{\"profile\": \"p\", \"limits\": null}",
                "{\"profile\": \"p\", \"labels\": [\"a\"]}",
                "{\"profile\": \"p\", \"labels\": 1}",
        };

        (void) state;
        for (size_t i = 0; i < sizeof(strict) / sizeof(strict[0]); i++)
                parse_bad(strict[i], false, STRICT);
        for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++)
                parse_bad(objects[i], false, "must be objects");
}

static void test_not_json(void **state)
{
        static const char *const texts[] = {
                "",     "{", "{\"profile\": \"p\"", "{\"profile\": \"p\"} x", "\"p\"",
                "null", "1", "{\"profile\": 'p'}",
        };

        (void) state;
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
                parse_bad(texts[i], false, NOT_JSON);
        /* A NUL inside the text is not the end of it. */
        parse_bad_len("{\"profile\": \"p\"}\0junk", 21, false, NOT_JSON);
        /* Invalid UTF-8 in a string. */
        parse_bad("{\"profile\": \"p\xff\"}", false, NOT_JSON);
}

static void test_duplicate_keys(void **state)
{
        (void) state;
        parse_bad("{\"profile\": \"a\", \"profile\": \"b\"}", false, NOT_JSON);
        parse_bad("{\"profile\": \"a\", \"entry\": \"x\", \"entry\": \"x\"}", false, NOT_JSON);
        parse_bad("{\"profile\": \"a\", \"labels\": {\"k\": \"1\", \"k\": \"2\"}}", false,
                  NOT_JSON);
        parse_bad("{\"profile\": \"a\", \"limits\": {\"memory\": \"1G\", \"memory\": \"2G\"}}",
                  false, NOT_JSON);
}

/* @n arrays around @inner. */
static char *nest(size_t n, const char *inner)
{
        return fmt("%s%s%s", repeat("[", n), inner, repeat("]", n));
}

static void test_depth(void **state)
{
        (void) state;
        /* The top-level object is level 1, limits level 2: 6 arrays make 8. */
        parse_bad(fmt("{\"profile\": \"p\", \"limits\": {\"memory\": %s}}", nest(6, "1")), false,
                  "limits.memory");
        parse_bad(fmt("{\"profile\": \"p\", \"limits\": {\"memory\": %s}}", nest(7, "1")), false,
                  "nested too deep");
        parse_bad(fmt("{\"profile\": \"p\", \"limits\": {\"memory\": %s}}", nest(7, "")), false,
                  "nested too deep");
        parse_bad(fmt("{\"profile\": \"p\", \"labels\": {\"a\": %s}}", nest(7, "{}")), false,
                  "nested too deep");
        parse_bad(nest(8, ""), false, STRICT);
        parse_bad(nest(9, ""), false, "nested too deep");
        parse_bad(nest(9, "\"x\""), false, "nested too deep");
        /* Deep but within jansson's own limit: refused, not a stack overflow. */
        parse_bad(nest(1000, "1"), false, "nested too deep");
        /* A wide tree at the limit is fine to walk (and refused for its type). */
        {
                char *wide = repeat("[[[[[1]]]]],", 2000);

                wide[strlen(wide) - 1] = '\0';
                parse_bad(fmt("{\"profile\": \"p\", \"limits\": {\"memory\": [%s]}}", wide), false,
                          "limits.memory");
        }
}

/* ---- labels ---- */

static char *labels_json(size_t n)
{
        char *s = fmt("{\"profile\": \"p\", \"labels\": {");

        for (size_t i = 0; i < n; i++)
                s = fmt("%s%s\"k%zu\": \"v\"", s, i ? ", " : "", i);
        return fmt("%s}}", s);
}

static void test_labels(void **state)
{
        (void) state;
        assert_int_equal(json_object_size(parse_ok(labels_json(16), false)->labels), 16);
        parse_bad(labels_json(17), false, "labels: at most 16");

        /* Keys: 1 to 64 of [a-z0-9_.-]. */
        assert_non_null(parse_ok(
                fmt("{\"profile\": \"p\", \"labels\": {\"%s\": \"v\"}}", repeat("k", 64)), false));
        parse_bad(fmt("{\"profile\": \"p\", \"labels\": {\"%s\": \"v\"}}", repeat("k", 65)), false,
                  BAD_LABEL);
        {
                static const char *const keys[] = { "",     "Team", "a b",  "a/b",     "a:b",
                                                    "a\\n", "é",    "a\\t", "a\\u00e9" };

                for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                        parse_bad(fmt("{\"profile\": \"p\", \"labels\": {\"%s\": \"v\"}}", keys[i]),
                                  false, BAD_LABEL);
        }

        /* Values: strings of at most 256 bytes (bytes, not characters). */
        assert_non_null(parse_ok(
                fmt("{\"profile\": \"p\", \"labels\": {\"k\": \"%s\"}}", repeat("v", 256)), false));
        parse_bad(fmt("{\"profile\": \"p\", \"labels\": {\"k\": \"%s\"}}", repeat("v", 257)), false,
                  BAD_LABEL);
        assert_non_null(parse_ok(
                fmt("{\"profile\": \"p\", \"labels\": {\"k\": \"%s\"}}", repeat("\xc3\xa9", 128)),
                false));
        parse_bad(fmt("{\"profile\": \"p\", \"labels\": {\"k\": \"%s\"}}", repeat("\xc3\xa9", 129)),
                  false, BAD_LABEL);
        {
                static const char *const values[] = { "1", "null", "true", "[\"v\"]", "{}", "1.5" };

                for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
                        parse_bad(fmt("{\"profile\": \"p\", \"labels\": {\"k\": %s}}", values[i]),
                                  false, BAD_LABEL);
        }
        /* An embedded NUL never reaches a C string (refused by jansson or by us). */
        parse_bad("{\"profile\": \"p\", \"labels\": {\"k\": \"a\\u0000b\"}}", false, NULL);
        parse_bad("{\"profile\": \"p\", \"labels\": {\"a\\u0000b\": \"v\"}}", false, NULL);
}

/* ---- entry ---- */

static void test_entry(void **state)
{
        static const char *const good[] = { "main.py", "dir/main.R", "a.b/c-d_e", "x" };
        static const char *const bad[] = {
                "../x", "/abs", "-x", "a/../b", "a/./b", "./a",     "a//b",      "a/",
                "..",   ".",    "",   "a\\nb",  "a\\tb", "\\u007f", "a/-b/../c",
        };

        (void) state;
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                assert_string_equal(
                        parse_ok(fmt("{\"profile\": \"p\", \"entry\": \"%s\"}", good[i]), false)
                                ->entry,
                        good[i]);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                parse_bad(fmt("{\"profile\": \"p\", \"entry\": \"%s\"}", bad[i]), false, BAD_ENTRY);
        parse_bad(fmt("{\"profile\": \"p\", \"entry\": \"%s\"}", repeat("e", 256)), false,
                  BAD_ENTRY);
        assert_non_null(
                parse_ok(fmt("{\"profile\": \"p\", \"entry\": \"%s\"}", repeat("e", 255)), false));
}

/* ---- limits ---- */

static void test_limits(void **state)
{
        static const char *const bad[] = {
                "{\"bogus\": 1}",          "{\"memory_max\": \"1G\"}",
                "{\"tmp-size\": \"64M\"}", "{\"memory\": \"1Q\"}",
                "{\"memory\": -1}",        "{\"memory\": true}",
                "{\"memory\": null}",      "{\"memory\": 1.5}",
                "{\"memory\": \"1\"}",     "{\"memory\": \"99999999999T\"}",
                "{\"cpus\": 0.0005}",      "{\"cpus\": \"1.2345\"}",
                "{\"cpus\": -1}",          "{\"pids\": 1}",
                "{\"pids\": \"ten\"}",     "{\"wall\": \"300\"}",
                "{\"wall\": \"5 s\"}",     "{\"wall\": 0}",
                "{\"nofile\": 15}",        "{\"grace\": \"2m\"}",
        };

        (void) state;
        assert_int_equal(json_object_size(parse_ok("{\"profile\": \"p\", \"limits\": {\"memory\": "
                                                   "\"512M\", \"cpus\": \"2\", \"wall\": 300000,"
                                                   " \"cpu_time\": 0, \"tmp_size\": \"64M\","
                                                   " \"nofile\": 1024, \"grace\": \"1m\"}}",
                                                   false)
                                                  ->limits),
                         7);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                parse_bad(fmt("{\"profile\": \"p\", \"limits\": %s}", bad[i]), false, "limits");
        parse_bad("{\"profile\": \"p\", \"limits\": {\"bogus\": 1}}", false, "unknown limit");
}

/* JSON numbers at the edges: huge, negative zero, reals where only cpus
 * take fractions. Each refusal says what is wrong with the number. */
static void test_limit_numbers(void **state)
{
        static const struct {
                const char *limits, *expect;
        } bad[] = {
                { "{\"cpus\": 1e7}", "limits.cpus: out of range" },
                { "{\"cpus\": 1e300}", "limits.cpus: out of range" },
                { "{\"cpus\": 1024.5}", "limits.cpus: 1024.5 is outside" },
                { "{\"cpus\": 0.001}", "limits.cpus: 0.001 is outside" },
                { "{\"cpus\": 5e-324}", "limits.cpus: 0 is outside" },
                { "{\"cpus\": 9223372036854775807}", "limits.cpus: out of range" },
                { "{\"cpus\": -0.0}", "limits.cpus: must not be negative" },
                { "{\"cpus\": -1e-9}", "limits.cpus: must not be negative" },
                { "{\"memory\": -0.0}", "limits.memory: must not be negative" },
                { "{\"memory\": -0}", "limits.memory: 0 is outside" },
                { "{\"memory\": 1e9}", "limits.memory: must be a whole number" },
                { "{\"wall\": 1.5}", "limits.wall: must be a whole number" },
                { "{\"wall\": 9223372036854775807}", "limits.wall:" },
                { "{\"wall\": \"99999999999999999999h\"}", "limits.wall: out of range" },
                { "{\"memory\": \"99999999999T\"}", "limits.memory: out of range" },
                { "{\"pids\": \"99999999999999999999\"}", "limits.pids: out of range" },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                parse_bad(fmt("{\"profile\": \"p\", \"limits\": %s}", bad[i].limits), false,
                          bad[i].expect);
        /* Three decimals as a JSON real are fine, in range. */
        parse_ok("{\"profile\": \"p\", \"limits\": {\"cpus\": 1023.125}}", false);
        parse_ok("{\"profile\": \"p\", \"limits\": {\"cpus\": 0.01}}", false);
}

/* ---- inputs ---- */

static void test_inputs(void **state)
{
        static const char text[] = "{\"profile\": \"p\", \"entry\": \"main.py\", \"inputs\": "
                                   "[\"main.py\", \"d.csv\"]}";
        struct cd_jobspec *s;

        (void) state;
        /* A client never names inputs: they come from the upload. */
        parse_bad(text, false, STRICT);
        parse_bad("{\"profile\": \"p\", \"inputs\": []}", false, STRICT);
        s = parse_ok(text, true);
        assert_non_null(s->inputs);
        assert_string_equal(s->inputs[0], "main.py");
        assert_string_equal(s->inputs[1], "d.csv");
        assert_null(s->inputs[2]);
        s = parse_ok("{\"profile\": \"p\", \"inputs\": []}", true);
        assert_null(s->inputs);
        parse_bad("{\"profile\": \"p\", \"inputs\": \"main.py\"}", true, "must be objects");
        parse_bad("{\"profile\": \"p\", \"inputs\": {}}", true, "must be objects");
        parse_bad("{\"profile\": \"p\", \"inputs\": [1]}", true, "inputs:");
        parse_bad("{\"profile\": \"p\", \"inputs\": [\"ok\", null]}", true, "inputs:");
        parse_bad("{\"profile\": \"p\", \"inputs\": [\"../x\"]}", true, "inputs:");
        parse_bad("{\"profile\": \"p\", \"inputs\": [\".hidden\"]}", true, "inputs:");
        parse_bad("{\"profile\": \"p\", \"inputs\": [\"a/b\"]}", true, "inputs:");
}

/* Refusals never repeat what the request said (names, labels, entries). */
static void test_messages_do_not_echo(void **state)
{
        static const char *const texts[] = {
                "{\"profile\": \"SECRET/x\"}",
                "{\"profile\": \"p\", \"entry\": \"../SECRET\"}",
                "{\"profile\": \"p\", \"labels\": {\"SECRET\": \"v\"}}",
                "{\"profile\": \"p\", \"labels\": {\"k\": 5, \"SECRET\": \"v\"}}",
                "{\"profile\": \"p\", \"SECRET\": 1}",
                "{\"profile\": \"p\", \"inputs\": [\"SECRET/x\"]}",
                "{\"profile\": \"p\", \"inputs\": [\"-SECRET\"]}",
                "{\"profile\": \"SECRET\", \"profile\": \"SECRET\"}",
                "{\"SECRET\"}",
        };

        (void) state;
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                const char *msg = parse_bad(texts[i], i == 5 || i == 6, NULL);

                if (strstr(msg, "SECRET"))
                        fail_msg("%s: message \"%s\" repeats the request", texts[i], msg);
        }
}

/* @t with every '@' replaced by @marker, until teardown. */
static char *subst(const char *t, const char *marker)
{
        char *s = fmt("%s", "");

        for (const char *at; (at = strchr(t, '@')); t = at + 1)
                s = fmt("%s%.*s%s", s, (int) (at - t), t, marker);
        return fmt("%s%s", s, t);
}

/* @text is refused, and @marker never comes back in the message. */
static void assert_not_echoed(const char *text, bool stored, const char *marker)
{
        const char *msg = parse_bad(text, stored, NULL);

        if (strcasestr(msg, marker))
                fail_msg("%s: message \"%s\" repeats \"%s\"", text, msg, marker);
}

#define MARK_WORD   "QZXJMARK"
#define MARK_DIGITS "8675309"

/* Bad values of limit @name carrying a marker: a word, and digits for the
 * forms only digits reach (a duration without a unit). */
static void limit_not_echoed(const char *name)
{
        static const char *const word = MARK_WORD, *const digits = MARK_DIGITS;
        /* Values of a limit: junk, signs, spaces, units where none belong. */
        static const char *const values[] = {
                "\"@\"",   "\"1@\"",  "\"-@\"", "\"1-@\"", "\"@1\"",  "\"1.@\"",    "\"0x@\"",
                "\" 1@\"", "\"1 @\"", "\"@s\"", "\"@G\"",  "[\"@\"]", "{\"@\": 1}",
        };
        /* Reached by digits only: signs, spaces, a missing or doubled unit. */
        static const char *const numeric[] = {
                "\"@\"",   "\"-@\"",   "\"+@\"",  "\"@-\"",   "\"@ \"", "\" @\"",
                "\"@.5\"", "\"@.5s\"", "\"@ss\"", "\"@-1s\"", "\"0@\"",
        };

        for (size_t i = 0; i < ELEMENTSOF(values); i++)
                assert_not_echoed(fmt("{\"profile\": \"p\", \"limits\": {\"%s\": %s}}", name,
                                      subst(values[i], word)),
                                  false, word);
        for (size_t i = 0; i < ELEMENTSOF(numeric); i++) {
                const char *text = fmt("{\"profile\": \"p\", \"limits\": {\"%s\": %s}}", name,
                                       subst(numeric[i], digits));
                struct cd_jobspec s;
                struct cd_err e = { 0 };

                /* "0<digits>" and "<digits>" are sizes, counts or cpus. A
                 * value out of range is shown as cordon renders the parsed
                 * number (docs/api.md), which is not a repeat. */
                if (cd_jobspec_parse(text, strlen(text), false, &s, &e) == 0) {
                        cd_jobspec_clear(&s);
                        continue;
                }
                if (strstr(e.msg, digits) && !strstr(e.msg, "is outside"))
                        fail_msg("%s: message \"%s\" repeats \"%s\"", text, e.msg, digits);
        }
        /* The flag spelling "cpu-time" is not a key, and not repeated. */
        if (strchr(name, '_')) {
                char *dashed = fmt("%s", name);

                for (char *p = dashed; *p; p++)
                        if (*p == '_')
                                *p = '-';
                assert_not_echoed(fmt("{\"profile\": \"p\", \"limits\": {\"%s\": \"1\"}}", dashed),
                                  false, dashed);
        }
}

/* Bad values of every field, each carrying a marker. The message may name
 * the field; it never repeats what was sent. */
static void test_messages_never_echo_values(void **state)
{
        static const char *const word = MARK_WORD;
        static const char *const top[] = {
                "{\"profile\": \"@\"}",
                "{\"profile\": \"@/x\"}",
                "{\"profile\": \"-@\"}",
                "{\"profile\": \"../@\"}",
                "{\"profile\": [\"@\"]}",
                "{\"profile\": \"p\", \"entry\": \"../@\"}",
                "{\"profile\": \"p\", \"entry\": \"-@\"}",
                "{\"profile\": \"p\", \"entry\": \"/@\"}",
                "{\"profile\": \"p\", \"entry\": \"@\\n\"}",
                "{\"profile\": \"p\", \"entry\": {\"@\": 1}}",
                "{\"profile\": \"p\", \"@\": 1}",
                "{\"@\": \"p\"}",
                "{\"profile\": \"p\", \"labels\": {\"@\": \"v\"}}",
                "{\"profile\": \"p\", \"labels\": {\"k @\": \"v\"}}",
                "{\"profile\": \"p\", \"labels\": {\"k\": [\"@\"]}}",
                "{\"profile\": \"p\", \"labels\": [\"@\"]}",
                "{\"profile\": \"p\", \"limits\": {\"@\": 1}}",
                "{\"profile\": \"p\", \"limits\": {\"memory_@\": \"1G\"}}",
                "{\"profile\": \"p\", \"limits\": [\"@\"]}",
                "{\"profile\": \"p\", \"limits\": \"@\"}",
                "{\"profile\": \"p\", \"limits\": {\"memory\": [[[[[[[\"@\"]]]]]]]}}",
                "{\"profile\": \"@\", \"profile\": \"@\"}",
                "{\"profile\": \"@\"",
                "{\"profile\": '@'}",
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(top); i++) {
                assert_not_echoed(subst(top[i], word), false, word);
                assert_not_echoed(subst(top[i], word), true, word);
        }
        assert_not_echoed(fmt("{\"profile\": \"p\", \"inputs\": [\"%s/x\"]}", word), true, word);
        assert_not_echoed(fmt("{\"profile\": \"p\", \"inputs\": [\"-%s\"]}", word), true, word);
        assert_not_echoed(fmt("{\"profile\": \"p\", \"inputs\": [\"%s\"]}", word), false, word);
        for (size_t l = 0; l < cd_n_limit_defs; l++)
                limit_not_echoed(cd_limit_defs[l].name);
}

/* A duration string without a unit: refused, naming the limit and what to
 * write instead, but not the value. */
static void test_duration_needs_unit(void **state)
{
        static const char *const names[] = { "wall", "cpu_time", "grace" };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                const char *msg;

                msg = parse_bad(fmt("{\"profile\": \"p\", \"limits\": {\"%s\": \"31\"}}", names[i]),
                                false, fmt("limits.%s: needs a unit", names[i]));
                assert_non_null(strstr(msg, "milliseconds"));
                assert_null(strstr(msg, "31"));
                parse_bad(fmt("{\"profile\": \"p\", \"limits\": {\"%s\": \"0\"}}", names[i]), false,
                          fmt("limits.%s: needs a unit", names[i]));
        }
        /* With a unit, or as a number of milliseconds: fine. */
        parse_ok("{\"profile\": \"p\", \"limits\": {\"wall\": \"31s\", \"grace\": 31}}", false);
}

/* ---- the stored form ---- */

static char *dump(const struct cd_jobspec *s)
{
        char *d = cd_jobspec_dump(s);

        assert_non_null(d);
        return ut_defer(free, d);
}

/* dump, parse as stored, dump again: the same text and the same spec. */
static void round_trip(const char *text, bool stored)
{
        struct cd_jobspec *a = parse_ok(text, stored), *b;
        char *da = dump(a), *db;

        b = parse_ok(da, true);
        db = dump(b);
        assert_string_equal(da, db);
        assert_string_equal(a->profile, b->profile);
        if (a->entry)
                assert_string_equal(a->entry, b->entry);
        else
                assert_null(b->entry);
        assert_true(json_equal(a->limits, b->limits));
        assert_true(json_equal(a->labels, b->labels));
        for (size_t i = 0; a->inputs && a->inputs[i]; i++)
                assert_string_equal(a->inputs[i], b->inputs[i]);
        if (!a->inputs)
                assert_null(b->inputs);
        /* Stored is not submittable: it names inputs. */
        parse_bad(da, false, STRICT);
}

static void test_dump_round_trip(void **state)
{
        (void) state;
        round_trip("{\"profile\": \"python\"}", false);
        round_trip("{\"profile\": \"python\", \"entry\": \"main.py\"}", false);
        round_trip(
                "{\"profile\": \"r\", \"entry\": \"d/m.R\", \"limits\": {\"memory\": \"1G\","
                " \"cpus\": 1.5, \"wall\": 60000}, \"labels\": {\"team\": \"a \\\"q\\\" \\u00e9\","
                " \"z\": \"\"}}",
                false);
        round_trip("{\"profile\": \"p\", \"entry\": \"a.py\", \"inputs\": [\"a.py\", "
                   "\"donn\\u00e9es.csv\", \"b c.txt\"]}",
                   true);
        round_trip("{\"profile\": \"p\", \"inputs\": []}", true);
}

static void test_dump_shape(void **state)
{
        struct cd_jobspec *s = parse_ok("{\"profile\": \"p\"}", false);

        (void) state;
        /* Sorted, compact; no "entry" key when there is none. */
        assert_string_equal(dump(s),
                            "{\"inputs\":[],\"labels\":{},\"limits\":{},\"profile\":\"p\"}");
        s = parse_ok("{\"profile\": \"p\", \"entry\": \"m.py\", \"inputs\": [\"m.py\"]}", true);
        assert_string_equal(dump(s), "{\"entry\":\"m.py\",\"inputs\":[\"m.py\"],\"labels\":{},"
                                     "\"limits\":{},\"profile\":\"p\"}");
}

/* ---- input names ---- */

static void test_input_names(void **state)
{
        static const char *const good[] = {
                "a.csv",
                "main.py",
                "a",
                "b c.txt",
                ("donn\xc3\xa9"
                 "es.csv"), /* split: 'e' would extend the \x escape */
                "a..b",
                "a-",
                "x.",
                "\xe6\x97\xa5\xe6\x9c\xac.txt",
        };
        static const char *const bad[] = {
                "",
                ".",
                "..",
                ".hidden",
                "-x",
                "a/b",
                "a\\b",
                "/abs",
                "a\nb",
                "a\x01",
                "\t",
                "a\x7f",
                "\xff",
                "a\xc3",
                "\xc0\xaf",
                "\xed\xa0\x80",
                "\xc2\x85",
                "\xe2\x80\xae.txt",
                "a\xe2\x80\x8b",
                ("\xef\xbb\xbf"
                 "a"),
        };
        char name[258];

        (void) state;
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                if (!cd_input_name_is_valid(good[i]))
                        fail_msg("\"%s\" refused", good[i]);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (cd_input_name_is_valid(bad[i]))
                        fail_msg("bad name %zu accepted", i);
        memset(name, 'n', sizeof(name));
        name[255] = '\0';
        assert_true(cd_input_name_is_valid(name));
        name[255] = 'n';
        name[256] = '\0';
        assert_false(cd_input_name_is_valid(name));
        /* 255 bytes of two-byte characters and one more byte: over. */
        for (size_t i = 0; i + 1 < 256; i += 2)
                memcpy(name + i, "\xc3\xa9", 2);
        name[254] = 'x';
        name[255] = '\0';
        assert_true(cd_input_name_is_valid(name));
        name[255] = 'y';
        name[256] = '\0';
        assert_false(cd_input_name_is_valid(name));
}

int main(void)
{
#define T(fn) cmocka_unit_test_teardown(fn, teardown)
        const struct CMUnitTest tests[] = {
                T(test_minimal),
                T(test_full),
                T(test_profile_name),
                T(test_unknown_keys),
                T(test_wrong_types),
                T(test_not_json),
                T(test_duplicate_keys),
                T(test_depth),
                T(test_labels),
                T(test_entry),
                T(test_limits),
                T(test_limit_numbers),
                T(test_inputs),
                T(test_messages_do_not_echo),
                T(test_messages_never_echo_values),
                T(test_duration_needs_unit),
                T(test_dump_round_trip),
                T(test_dump_shape),
                T(test_input_names),
        };
#undef T

        return cmocka_run_group_tests(tests, NULL, NULL);
}
