/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the shared number parsers (cd_parse_u64, cd_parse_size,
 * cd_parse_duration_ms, cd_parse_millicpus), the limit table on top of them
 * (cd_limit_parse, cd_limit_check, cd_limit_format, cd_limit_above,
 * cd_limit_find, cd_limit_flag) and cd_name_is_form_ambiguous. They read
 * `cordon run`/`submit` flags, profile and job limits, cordond.json and
 * list queries; the form check reads a client's multipart file names.
 *
 * Input: the text up to the first NUL (copied into a buffer of exactly its
 * size); the up to 16 bytes after it are two values for the formatter and
 * cd_limit_above (missing bytes are 0).
 *
 * Besides the sanitizers, it abort()s when:
 * - a parser disagrees with a second reading of the grammar in util.h (digits,
 *   then one suffix of the kind; CPUs with at most three decimals): the
 *   same value when taken, -EINVAL for junk, -ERANGE only for a value past
 *   UINT64_MAX (or digits that overflow before the junk); a refusal leaves
 *   the output as it was;
 * - cd_limit_parse is not its kind's parser, or cd_limit_check takes a value
 *   outside [min, max] (or refuses one inside), or refuses without a message
 *   that starts with the label;
 * - cd_limit_format of any value, in its 32-byte buffer, is cut short or does
 *   not parse back to the value (cpu_time 0 is "none"), or writes past a
 *   smaller buffer or leaves it unterminated;
 * - cd_limit_above is not a strict order (cpu_time 0 the loosest);
 * - cd_limit_find takes a name that is not a limit's, '_' spelt '-' or not;
 * - cd_name_is_form_ambiguous disagrees with: a '"', or "%22", "%0a", "%0d"
 *   in any case.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cordon/limits.h"
#include "cordon/util.h"

#define SENTINEL 0x5eed5eed5eed5eedULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TARGET "fuzz_units"
#include "fuzz-check.h"

struct unit {
        const char *suffix;
        uint64_t factor;
};

static const struct unit size_units[] = {
        { "", 1 },           { "B", 1 },
        { "K", 1ULL << 10 }, { "KiB", 1ULL << 10 },
        { "M", 1ULL << 20 }, { "MiB", 1ULL << 20 },
        { "G", 1ULL << 30 }, { "GiB", 1ULL << 30 },
        { "T", 1ULL << 40 }, { "TiB", 1ULL << 40 },
        { NULL, 0 },
};
static const struct unit duration_units[] = {
        { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { NULL, 0 },
};
static const struct unit count_units[] = { { "", 1 }, { NULL, 0 } };

/* What the oracle says of a text: taken (with a value), junk, or a value
 * past UINT64_MAX. */
enum verdict { TAKEN, JUNK, TOO_BIG };

struct reading {
        enum verdict verdict;
        uint64_t value;
        bool lead_overflows; /* the leading digits alone pass UINT64_MAX */
};

/* Leading ASCII digits as a 128-bit value, saturated far above UINT64_MAX. */
static size_t digits(const char *s, unsigned __int128 *v)
{
        const unsigned __int128 cap = (unsigned __int128) UINT64_MAX * 1000000;
        size_t n = 0;

        *v = 0;
        for (; s[n] >= '0' && s[n] <= '9'; n++)
                *v = *v > cap ? *v : *v * 10 + (unsigned) (s[n] - '0');
        return n;
}

static struct reading read_units(const char *s, const struct unit *units)
{
        struct reading r = { JUNK, 0, false };
        unsigned __int128 v;
        size_t n = digits(s, &v);

        r.lead_overflows = v > UINT64_MAX;
        if (n == 0)
                return r;
        for (const struct unit *u = units; u->suffix; u++) {
                if (strcmp(s + n, u->suffix) != 0)
                        continue;
                v *= u->factor;
                r.verdict = v > UINT64_MAX ? TOO_BIG : TAKEN;
                r.value = (uint64_t) v;
                return r;
        }
        return r;
}

/* "2", "0.5", "1.125": digits, then '.' and one to three digits. */
static struct reading read_cpus(const char *s)
{
        struct reading r = { JUNK, 0, false };
        unsigned __int128 whole, frac = 0;
        size_t n = digits(s, &whole), k = 0;

        r.lead_overflows = whole > UINT64_MAX;
        if (n == 0)
                return r;
        s += n;
        if (*s == '.') {
                s++;
                k = strspn(s, "0123456789");
                if (k == 0 || k > 3)
                        return r;
                for (size_t i = 0; i < 3; i++)
                        frac = frac * 10 + (i < k ? (unsigned) (s[i] - '0') : 0);
                s += k;
        }
        if (*s)
                return r;
        whole = whole * 1000 + frac;
        r.verdict = whole > UINT64_MAX ? TOO_BIG : TAKEN;
        r.value = (uint64_t) whole;
        return r;
}

static struct reading read_kind(enum cd_limit_kind kind, const char *s)
{
        switch (kind) {
        case CD_LIMIT_SIZE:
                return read_units(s, size_units);
        case CD_LIMIT_DURATION:
                return read_units(s, duration_units);
        case CD_LIMIT_COUNT:
                return read_units(s, count_units);
        case CD_LIMIT_CPUS:
                return read_cpus(s);
        }
        abort();
}

static const char *const kind_names[] = { "size", "duration", "count", "cpus" };

/* One parser's answer against the oracle's. */
static void check_parse(enum cd_limit_kind kind, const char *s, int r, uint64_t got)
{
        struct reading want = read_kind(kind, s);
        const char *k = kind_names[kind];

        switch (want.verdict) {
        case TAKEN:
                CHECK(r == 0, "%s: %d for a valid text", k, r);
                CHECK(got == want.value, "%s: %llu, not %llu", k, (unsigned long long) got,
                      (unsigned long long) want.value);
                return;
        case TOO_BIG:
                CHECK(r == -ERANGE, "%s: %d for a value past UINT64_MAX", k, r);
                break;
        case JUNK:
                CHECK(r == -EINVAL || (r == -ERANGE && want.lead_overflows), "%s: %d for junk", k,
                      r);
                break;
        }
        CHECK(got == SENTINEL, "%s: refused, but the output was written", k);
}

static void check_parsers(const char *s)
{
        static int (*const parsers[])(const char *, uint64_t *) = {
                [CD_LIMIT_SIZE] = cd_parse_size,
                [CD_LIMIT_DURATION] = cd_parse_duration_ms,
                [CD_LIMIT_COUNT] = cd_parse_u64,
                [CD_LIMIT_CPUS] = cd_parse_millicpus,
        };

        for (size_t k = 0; k < sizeof(parsers) / sizeof(parsers[0]); k++) {
                uint64_t v = SENTINEL;
                int r = parsers[k](s, &v);

                check_parse((enum cd_limit_kind) k, s, r, v);
        }
}

static bool is_cpu_time(const struct cd_limit_def *d)
{
        return strcmp(d->name, "cpu_time") == 0;
}

/* cd_limit_format of @v in the buffer callers use, and in small ones. */
static void check_format(const struct cd_limit_def *d, uint64_t v)
{
        char buf[32];
        uint64_t back = SENTINEL;
        size_t len;

        memset(buf, 'Z', sizeof(buf));
        cd_limit_format(d, v, buf, sizeof(buf));
        len = strnlen(buf, sizeof(buf));
        CHECK(len > 0 && len < sizeof(buf) - 1, "%s: %llu formatted to %zu bytes", d->name,
              (unsigned long long) v, len);
        if (v == 0 && is_cpu_time(d)) {
                CHECK(strcmp(buf, "none") == 0, "cpu_time 0 is \"%s\"", buf);
        } else {
                CHECK(cd_limit_parse(d, buf, &back) == 0 && back == v,
                      "%s: %llu formatted to \"%s\", which reads back as %llu", d->name,
                      (unsigned long long) v, buf, (unsigned long long) back);
        }
        for (size_t n = 1; n <= 8; n++) {
                char *small = malloc(n);

                if (!small)
                        return;
                cd_limit_format(d, v, small, n);
                CHECK(strnlen(small, n) < n && strncmp(small, buf, strlen(small)) == 0,
                      "%s: %zu-byte buffer not a terminated prefix", d->name, n);
                free(small);
        }
}

static void check_above(const struct cd_limit_def *d, uint64_t a, uint64_t b)
{
        bool ab = cd_limit_above(d, a, b), ba = cd_limit_above(d, b, a);

        CHECK(!(ab && ba), "%s: %llu and %llu each above the other", d->name,
              (unsigned long long) a, (unsigned long long) b);
        CHECK((a == b) == (!ab && !ba), "%s: %llu and %llu not ordered", d->name,
              (unsigned long long) a, (unsigned long long) b);
        if (is_cpu_time(d) && (a == 0 || b == 0))
                CHECK(ab == (a == 0 && b != 0), "cpu_time: 0 is not the loosest");
        else
                CHECK(ab == (a > b), "%s: above is not >", d->name);
}

static void check_limit(const struct cd_limit_def *d, const char *s)
{
        uint64_t v = SENTINEL;
        int r = cd_limit_parse(d, s, &v);
        struct cd_err err = { 0 };
        char flag[32];

        check_parse(d->kind, s, r, v);
        if (r < 0)
                return;
        cd_limit_flag(d, flag, sizeof(flag));
        r = cd_limit_check(d, flag, v, &err);
        CHECK((r == 0) == (v >= d->min && v <= d->max), "%s: %llu %s", d->name,
              (unsigned long long) v, r == 0 ? "taken" : "refused");
        if (r < 0) {
                CHECK(r == -CD_E_INVALID && err.code == CD_E_INVALID, "%s: refused with %d",
                      d->name, r);
                CHECK(strncmp(err.msg, flag, strlen(flag)) == 0 && err.msg[strlen(flag)] == ':',
                      "%s: message \"%s\"", d->name, err.msg);
        }
        check_format(d, v);
}

/* @s names a limit: its name, any '_' of it written '-' or not. */
static void check_find(const char *s)
{
        const struct cd_limit_def *d = cd_limit_find(s);

        if (!d)
                return;
        CHECK(strlen(s) == strlen(d->name), "found %s for a name of another length", d->name);
        for (size_t i = 0; s[i]; i++)
                CHECK(s[i] == d->name[i] || (s[i] == '-' && d->name[i] == '_'),
                      "found %s for another name", d->name);
}

static void check_table(void)
{
        for (size_t i = 0; i < cd_n_limit_defs; i++) {
                const struct cd_limit_def *d = &cd_limit_defs[i];
                char flag[32];

                cd_limit_flag(d, flag, sizeof(flag));
                CHECK(cd_limit_find(d->name) == d && cd_limit_find(flag + 2) == d,
                      "%s not found by its name or flag", d->name);
                CHECK(d->min <= d->max, "%s: min above max", d->name);
                check_format(d, d->min);
                check_format(d, d->max);
        }
}

static bool form_ambiguous(const char *s)
{
        if (strchr(s, '"'))
                return true;
        for (const char *p = s; *p; p++)
                if (p[0] == '%' && p[1] && p[2] &&
                    (!strncasecmp(p, "%22", 3) || !strncasecmp(p, "%0a", 3) ||
                     !strncasecmp(p, "%0d", 3)))
                        return true;
        return false;
}

static uint64_t take_u64(const uint8_t *p, size_t n)
{
        uint64_t v = 0;

        for (size_t i = 0; i < n && i < 8; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static bool table_checked;
        size_t len = strnlen((const char *) data, size), rest;
        uint64_t a, b;
        char *s;

        if (!table_checked) {
                check_table();
                table_checked = true;
        }
        s = malloc(len + 1);
        if (!s)
                return 0;
        memcpy(s, data, len);
        s[len] = '\0';
        rest = len < size ? size - len - 1 : 0;
        a = take_u64(data + size - rest, rest);
        b = take_u64(data + size - rest + (rest > 8 ? 8 : rest), rest > 8 ? rest - 8 : 0);

        check_parsers(s);
        check_find(s);
        CHECK(cd_name_is_form_ambiguous(s) == form_ambiguous(s), "form ambiguity: %d",
              cd_name_is_form_ambiguous(s));
        for (size_t i = 0; i < cd_n_limit_defs; i++) {
                check_limit(&cd_limit_defs[i], s);
                check_format(&cd_limit_defs[i], a);
                check_above(&cd_limit_defs[i], a, b);
        }
        free(s);
        return 0;
}
