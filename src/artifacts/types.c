/* SPDX-License-Identifier: MIT */
/*
 * Which types may leave, judged by a file's two ends. libmagic types a
 * file by its first 64 KiB: bytes past them are what a CSV reader reads on
 * into, and the last ones are where a ZIP reader starts (the end of
 * central directory record, then the directory it points back to). A CSV
 * with an executable after its first window, or with a ZIP appended (a
 * file that opens as both), was taken as text/csv. For profiles that list
 * types, the collector also sniffs a file's last window, and a file whose
 * ends disagree in a way a reader would see is refused:
 *
 *  - a text head (libmagic's charset is not "binary") needs a text end;
 *  - a ZIP end record near the end makes the file a ZIP too, which the
 *    profile must allow.
 *
 * libmagic's type for the last window of a binary file is not judged: it
 * is the middle of compressed data, where a stray "MZ" reads as a DOS
 * executable (a PNG of this host's valgrind documentation does). Nor is a
 * text end's own type: the end of an HTML report may look like
 * JavaScript. The middle of a file is not looked at: a job can encode any
 * bytes as valid CSV, so none of this is a bound on what leaves, only on
 * what type a consumer finds at either end (docs/profiles.md).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>

#include "artifacts-internal.h"

#define ZIP_TYPE      "application/zip"
#define ZIP_END_BYTES 22 /* the record without its comment */

bool cd_type_allowed(const struct cd_artifact_rules *r, const char *type)
{
        if (!r->types)
                return true;
        for (size_t i = 0; r->types[i]; i++)
                if (strcmp(r->types[i], type) == 0)
                        return true;
        return false;
}

static uint32_t le32(const unsigned char *p)
{
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
               (uint32_t) p[3] << 24;
}

bool cd_zip_end_in(const void *end, size_t n, uint64_t size)
{
        const unsigned char *p = end;

        if (n > size)
                return false; /* a caller's mistake: not the end of this file */
        for (size_t i = 0; i + ZIP_END_BYTES <= n; i++) {
                uint64_t at = size - n + i; /* the record's offset in the file */
                uint32_t cd_size;

                if (memcmp(p + i, "PK\x05\x06", 4) != 0)
                        continue;
                /* The central directory lies before the record: no reader
                 * takes one whose size leaves no room for it (ZIP64 marks
                 * the field 0xffffffff and keeps the size elsewhere). */
                cd_size = le32(p + i + 12);
                if (cd_size <= at || cd_size == UINT32_MAX)
                        return true;
        }
        return false;
}

const char *cd_tail_refusal(const struct cd_artifact_rules *r, const struct cd_sniffed *head,
                            const struct cd_sniffed *end, bool zip_end)
{
        /* A text file that ends as a ZIP is one to every ZIP reader,
         * whatever its last window sniffs as (a ZIP comment can make it
         * text): refused even where ZIPs may leave. */
        if (zip_end && (head->text || !cd_type_allowed(r, ZIP_TYPE)))
                return ZIP_TYPE;
        if (head->text && !end->text)
                return end->type;
        return NULL;
}
