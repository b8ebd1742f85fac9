/* SPDX-License-Identifier: MIT */
/*
 * Which types may leave, by a file's two ends (src/artifacts/types.c): a
 * text head needs a text tail, and a ZIP end record near the end makes
 * the file a ZIP too. Before, only the first 64 KiB were typed: a CSV with
 * an executable after them, or with a ZIP appended, left as text/csv.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "artifacts/artifacts-internal.h"

static char *export_types[] = {
        "text/csv",  "text/plain", "application/json", "application/zip", "application/pdf",
        "image/png", NULL
};
static char *no_zip_types[] = { "text/html", "application/pdf", "image/png", "text/plain", NULL };
static const struct cd_artifact_rules export = { .types = export_types };
static const struct cd_artifact_rules no_zip = { .types = no_zip_types };

static const struct cd_sniffed csv = { "text/csv", "us-ascii", true };
static const struct cd_sniffed plain = { "text/plain", "us-ascii", true };
static const struct cd_sniffed js = { "application/javascript", "us-ascii", true };
static const struct cd_sniffed octets = { "application/octet-stream", "binary", false };
static const struct cd_sniffed png = { "image/png", "binary", false };
static const struct cd_sniffed dosexec = { "application/x-dosexec", "binary", false };
static const struct cd_sniffed zip = { "application/zip", "binary", false };
static const struct cd_sniffed pdf = { "application/pdf", "binary", false };

static void test_type_allowed(void **state)
{
        (void) state;
        assert_true(cd_type_allowed(&export, "text/csv"));
        assert_false(cd_type_allowed(&export, "text/x-shellscript"));
        assert_false(cd_type_allowed(&export, "text/cs"));
        assert_true(cd_type_allowed(&(struct cd_artifact_rules){ .types = NULL }, "x/y"));
        assert_false(cd_type_allowed(&(struct cd_artifact_rules){ .types = (char *[]){ NULL } },
                                     "text/csv"));
}

/* A text head with a binary tail: the reviewer's CSV followed by an ELF
 * (its last window sniffs as octet-stream) is refused, the tail's type
 * said. A text tail of any type passes: the end of a CSV reads as
 * text/plain, of an HTML report as JavaScript. */
static void test_text_head_needs_a_text_tail(void **state)
{
        (void) state;
        assert_string_equal(cd_tail_refusal(&export, &csv, &octets, false),
                            "application/octet-stream");
        assert_string_equal(cd_tail_refusal(&export, &csv, &png, false), "image/png");
        assert_null(cd_tail_refusal(&export, &csv, &plain, false));
        assert_null(cd_tail_refusal(&export, &csv, &csv, false));
        assert_null(cd_tail_refusal(&no_zip, &plain, &js, false));
}

/* A binary head: the last window's own type is noise (a PNG's ends as a
 * DOS executable on this host), so only a ZIP end record counts. */
static void test_binary_head_is_judged_by_zip_end_only(void **state)
{
        (void) state;
        assert_null(cd_tail_refusal(&no_zip, &png, &dosexec, false));
        assert_null(cd_tail_refusal(&no_zip, &pdf, &plain, false));
        assert_null(cd_tail_refusal(&export, &zip, &octets, true)); /* a ZIP */
        assert_null(cd_tail_refusal(&export, &png, &octets, true)); /* both allowed */
        /* A PNG with a ZIP appended, where ZIPs may not leave. */
        assert_string_equal(cd_tail_refusal(&no_zip, &png, &octets, true), "application/zip");
}

/* A CSV that is also a ZIP: refused even where ZIPs may leave, as a text
 * head with a binary tail, and named for what a reader finds there. */
static void test_csv_zip_polyglot(void **state)
{
        (void) state;
        assert_string_equal(cd_tail_refusal(&export, &csv, &octets, true), "application/zip");
        assert_string_equal(cd_tail_refusal(&no_zip, &plain, &octets, true), "application/zip");
        /* Its end record with a comment of text: the last window sniffs as text. */
        assert_string_equal(cd_tail_refusal(&export, &csv, &plain, true), "application/zip");
}

/* An end of central directory record at @at of @buf: central directory
 * of @cd_size bytes, a comment of @comment bytes declared. */
static void put_end(unsigned char *buf, size_t at, uint32_t cd_size, uint16_t comment)
{
        memcpy(buf + at, "PK\x05\x06", 4);
        memset(buf + at + 4, 0, 8); /* disks and entry counts */
        buf[at + 8] = buf[at + 10] = 1;
        for (int i = 0; i < 4; i++)
                buf[at + 12 + i] = (unsigned char) (cd_size >> (8 * i));
        memset(buf + at + 16, 0, 4); /* directory offset */
        buf[at + 20] = (unsigned char) comment;
        buf[at + 21] = (unsigned char) (comment >> 8);
}

static void test_zip_end_record(void **state)
{
        static unsigned char buf[CD_ZIP_END_REACH];
        const size_t n = sizeof(buf);

        (void) state;
        memset(buf, 'x', n);
        assert_false(cd_zip_end_in(buf, n, n));
        /* At the very end, and its directory before it. */
        put_end(buf, n - 22, 46, 0);
        assert_true(cd_zip_end_in(buf, n, n));
        /* As far from the end as a reader looks: a 65535-byte comment. */
        memset(buf, 'x', n);
        put_end(buf, 0, 46, 65535);
        assert_true(cd_zip_end_in(buf, n, 10 * 1000 * 1000));
        /* A directory larger than all that precedes the record: no reader
         * opens it; random bytes with the signature mostly look so. */
        assert_false(cd_zip_end_in(buf, n, n));
        put_end(buf, 0, UINT32_MAX, 0); /* ZIP64: the size is elsewhere */
        assert_true(cd_zip_end_in(buf, n, n));
        /* A record cut by the end of the file is none. */
        memset(buf, 'x', n);
        put_end(buf, n - 22, 46, 0);
        assert_false(cd_zip_end_in(buf, n - 1, n - 1));
        /* More bytes than the file has: a mistake, never a match. */
        assert_false(cd_zip_end_in(buf, n, n - 1));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_type_allowed),
                cmocka_unit_test(test_text_head_needs_a_text_tail),
                cmocka_unit_test(test_binary_head_is_judged_by_zip_end_only),
                cmocka_unit_test(test_csv_zip_polyglot),
                cmocka_unit_test(test_zip_end_record),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
