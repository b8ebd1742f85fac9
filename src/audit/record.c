/* SPDX-License-Identifier: MIT */
/* One audit record: checking an event, formatting its line, parsing a line back. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit-internal.h"
#include "cordon/cleanup.h"
#include "cordon/crypto.h"
#include "cordon/util.h"

#define EVENT_NAME_MAX   64
#define DETAIL_KEY_MAX   64
#define DETAIL_ARRAY_MAX 1024
#define RECORD_FIELDS    9
#define TIME_LEN         24 /* 2024-05-01T12:00:00.000Z */

#define cleanup_json cleanup_with(json_decrefp) /* jansson's own destructor */

/* The chain's hashes are cd_sha256_hex()'s (cordon/crypto.h: libcrypto's
 * SHA256_Init family, not EVP, whose first use would cost `cordon run` 0.9 ms). */
_Static_assert(CD_AUDIT_HASH_HEX == CD_SHA256_HEX, "a chain hash is a SHA-256 in hex");

/* [a-z0-9._], starting with a letter: event names and detail keys. */
static bool name_ok(const char *s, size_t max, bool dots)
{
        size_t n = strnlen(s, max + 1);

        if (n == 0 || n > max || s[0] < 'a' || s[0] > 'z')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                      (dots && c == '.')))
                        return false;
        }
        return true;
}

/* Bounded, no control characters. UTF-8 validity is left to jansson, which
 * refuses to build a string from invalid UTF-8. */
static bool text_ok(const char *s)
{
        size_t n = strnlen(s, CD_AUDIT_MAX_STRING + 1);

        if (n > CD_AUDIT_MAX_STRING)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
                        return false;
        return true;
}

static bool scalar_ok(const json_t *v)
{
        if (json_is_string(v))
                return text_ok(json_string_value(v)) &&
                       strlen(json_string_value(v)) == json_string_length(v);
        return json_is_number(v) || json_is_boolean(v) || json_is_null(v);
}

static int details_check(const json_t *details, struct cd_err *err)
{
        const char *key;
        json_t *v;

        if (!details)
                return 0;
        if (!json_is_object(details))
                return cd_err_set(err, CD_E_INVALID, "audit: details must be an object");
        json_object_foreach((json_t *) details, key, v)
        {
                bool ok = scalar_ok(v);

                if (!name_ok(key, DETAIL_KEY_MAX, false))
                        return cd_err_set(err, CD_E_INVALID,
                                          "audit: a details key is not [a-z0-9_] (at most %d)",
                                          DETAIL_KEY_MAX);
                if (json_is_array(v)) {
                        ok = json_array_size(v) <= DETAIL_ARRAY_MAX;
                        for (size_t i = 0; ok && i < json_array_size(v); i++)
                                ok = scalar_ok(json_array_get(v, i)) &&
                                     !json_is_array(json_array_get(v, i));
                }
                if (!ok)
                        return cd_err_set(err, CD_E_INVALID,
                                          "audit: details \"%s\" must be a number, boolean, "
                                          "short string or array of them",
                                          key);
        }
        return 0;
}

int audit_event_check(const struct cd_audit_event *e, struct cd_err *err)
{
        const struct {
                const char *field, *value;
        } texts[] = {
                { "role", e->role },
                { "job", e->job },
                { "profile", e->profile },
                { "verdict", e->verdict },
        };

        if (!e->event || !name_ok(e->event, EVENT_NAME_MAX, true))
                return cd_err_set(err, CD_E_INVALID,
                                  "audit: the event name must be [a-z0-9._] (at most %d)",
                                  EVENT_NAME_MAX);
        if (strcmp(e->event, CD_AUDIT_ROTATED) == 0 || strcmp(e->event, CD_AUDIT_REPAIRED) == 0)
                return cd_err_set(err, CD_E_INVALID,
                                  "audit: %s is written by the audit module only", e->event);
        for (size_t i = 0; i < ELEMENTSOF(texts); i++)
                if (texts[i].value && !text_ok(texts[i].value))
                        return cd_err_set(err, CD_E_INVALID,
                                          "audit: %s: %s is too long or holds control characters",
                                          e->event, texts[i].field);
        return details_check(e->details, err);
}

/* RFC 3339, UTC, milliseconds. */
static int format_time(char buf[TIME_LEN + 1])
{
        struct timespec ts;
        struct tm tm;
        long ms;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !gmtime_r(&ts.tv_sec, &tm))
                return -errno;
        if (strftime(buf, TIME_LEN + 1, "%Y-%m-%dT%H:%M:%S", &tm) != 19)
                return -ERANGE; /* a year beyond 9999 */
        ms = (ts.tv_nsec / 1000000L) % 1000;
        buf[19] = '.';
        buf[20] = (char) ('0' + ms / 100);
        buf[21] = (char) ('0' + ms / 10 % 10);
        buf[22] = (char) ('0' + ms % 10);
        buf[23] = 'Z';
        buf[24] = '\0';
        return 0;
}

int audit_record_format(uint64_t seq, const char *prev, const struct cd_audit_event *e,
                        char **ret_line, size_t *ret_len, struct cd_err *err)
{
        cleanup_json json_t *root = NULL;
        char when[TIME_LEN + 1];
        json_error_t jerr;
        char *line, *grown;
        size_t len;
        int r;

        if (seq > INT64_MAX)
                return cd_err_set(err, ERANGE, "audit: seq %" PRIu64 " is out of range", seq);
        r = format_time(when);
        if (r < 0)
                return cd_err_neg(err, r, "audit: clock");
        /* json_pack inserts keys in format order; JSON_PRESERVE_ORDER keeps it. */
        root = json_pack_ex(&jerr, 0, "{s:I, s:s, s:s, s:{s:I, s:s?}, s:s?, s:s?, s:s?, s:O?, s:s}",
                            "seq", (json_int_t) seq, "time", when, "event", e->event, "actor",
                            "uid", (json_int_t) e->uid, "role", e->role, "job", e->job, "profile",
                            e->profile, "verdict", e->verdict, "details", e->details, "prev", prev);
        if (!root)
                /* jerr.text names the format position, never a value. */
                return cd_err_set(err, CD_E_INVALID, "audit: %s: cannot build the record (%s)",
                                  e->event, jerr.text);
        line = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        if (!line)
                return cd_err_set(err, ENOMEM, "audit: %s: cannot format the record", e->event);
        len = strlen(line);
        if (len + 1 > CD_AUDIT_MAX_RECORD) {
                free(line);
                return cd_err_set(err, CD_E_INVALID,
                                  "audit: %s: the record would take %zu bytes, more than %u",
                                  e->event, len + 1, CD_AUDIT_MAX_RECORD);
        }
        grown = realloc(line, len + 2);
        if (!grown) {
                free(line);
                return cd_err_set(err, ENOMEM, "audit: %s: cannot format the record", e->event);
        }
        grown[len] = '\n';
        grown[len + 1] = '\0';
        *ret_line = grown;
        *ret_len = len + 1;
        return 0;
}

static bool time_ok(const char *s)
{
        static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";

        if (strlen(s) != TIME_LEN)
                return false;
        for (size_t i = 0; i < TIME_LEN; i++)
                if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
                        return false;
        return true;
}

static bool hash_ok(const char *s)
{
        if (strlen(s) != CD_AUDIT_HASH_HEX - 1)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

static bool null_or_string(const json_t *o, const char *key)
{
        const json_t *v = json_object_get(o, key);

        return v && (json_is_null(v) || json_is_string(v));
}

/* Field by field, so that the message names the field; never the value. */
static const char *shape_problem(json_t *root)
{
        json_t *seq = json_object_get(root, "seq"), *time = json_object_get(root, "time");
        json_t *event = json_object_get(root, "event"), *actor = json_object_get(root, "actor");
        json_t *details = json_object_get(root, "details"), *prev = json_object_get(root, "prev");
        json_t *uid = json_object_get(actor, "uid");

        if (!json_is_integer(seq) || json_integer_value(seq) < 1)
                return "\"seq\" is missing or not a positive integer";
        if (!json_is_string(time) || !time_ok(json_string_value(time)))
                return "\"time\" is missing or not RFC 3339 UTC with milliseconds";
        if (!json_is_string(event) || !name_ok(json_string_value(event), EVENT_NAME_MAX, true))
                return "\"event\" is missing or not an event name";
        if (!json_is_object(actor) || json_object_size(actor) != 2 || !json_is_integer(uid) ||
            json_integer_value(uid) < 0 || json_integer_value(uid) > UINT32_MAX ||
            !null_or_string(actor, "role"))
                return "\"actor\" is missing or not {\"uid\": integer, \"role\": string or null}";
        if (!null_or_string(root, "job") || !null_or_string(root, "profile") ||
            !null_or_string(root, "verdict"))
                return "\"job\", \"profile\" or \"verdict\" is missing or not a string or null";
        if (!details || !(json_is_null(details) || json_is_object(details)))
                return "\"details\" is missing or not an object or null";
        if (!json_is_string(prev) || !hash_ok(json_string_value(prev)))
                return "\"prev\" is missing or not 64 lowercase hex digits";
        if (json_object_size(root) != RECORD_FIELDS)
                return "it has fields a record does not have";
        return NULL;
}

int audit_record_parse(const char *line, size_t len, struct audit_record *ret, char *why,
                       size_t why_size)
{
        cleanup_json json_t *root = NULL;
        json_error_t jerr;
        const char *problem;
        json_t *details;

        root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                (void) snprintf(why, why_size, "is not valid JSON");
                return -EINVAL;
        }
        problem = json_is_object(root) ? shape_problem(root) : "is not a JSON object";
        if (problem) {
                (void) snprintf(why, why_size, "is not an audit record: %s", problem);
                return -EINVAL;
        }
        details = json_object_get(root, "details");
        ret->seq = (uint64_t) json_integer_value(json_object_get(root, "seq"));
        ret->event = json_string_value(json_object_get(root, "event"));
        ret->prev = json_string_value(json_object_get(root, "prev"));
        ret->details = json_is_object(details) ? details : NULL;
        ret->root = TAKE_PTR(root);
        return 0;
}

void audit_record_clear(struct audit_record *r)
{
        json_decref(r->root);
        *r = (struct audit_record){ 0 };
}

void audit_rotated_name(uint64_t first, uint64_t last, char buf[AUDIT_ROTATED_NAME_MAX])
{
        (void) snprintf(buf, AUDIT_ROTATED_NAME_MAX, "audit-%020" PRIu64 "-%020" PRIu64 ".jsonl",
                        first, last);
}

static bool digits20(const char *s, uint64_t *ret)
{
        char buf[21];

        for (int i = 0; i < 20; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        memcpy(buf, s, 20);
        buf[20] = '\0';
        return cd_parse_u64(buf, ret) == 0;
}

bool audit_rotated_parse(const char *name, uint64_t *ret_first, uint64_t *ret_last)
{
        uint64_t first, last;

        if (strlen(name) != AUDIT_ROTATED_NAME_MAX - 1 || strncmp(name, "audit-", 6) != 0 ||
            name[26] != '-' || strcmp(name + 47, ".jsonl") != 0)
                return false;
        if (!digits20(name + 6, &first) || !digits20(name + 27, &last) || first == 0 ||
            last < first)
                return false;
        *ret_first = first;
        *ret_last = last;
        return true;
}
