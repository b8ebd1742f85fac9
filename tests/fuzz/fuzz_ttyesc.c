/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a job's output on a terminal (cd_tty_escape, as
 * `cordon logs`, `cordon run` and downloads shown on a terminal use it).
 *
 * Input: one byte of options (bit 0: ascii_only), then the job's bytes.
 * The bytes are escaped in one call, then again in pieces whose lengths come
 * from the bytes themselves, each into a buffer of exactly
 * CD_TTY_ESCAPE_MAX(piece) bytes (the end into CD_TTY_ESCAPE_END_MAX), so
 * that writing past it is an ASan report.
 *
 * Besides the sanitizers, it abort()s when:
 * - the output in pieces differs from the output in one call;
 * - the output holds what could drive a terminal: a byte below 0x20 but tab,
 *   newline, and carriage return right before a newline; DEL; a byte that
 *   is not part of well-formed UTF-8; a C1 control (U+0080..U+009F) or a
 *   bidirectional control; with ascii_only, any byte from 0x80 on;
 * - it differs from a second, whole-buffer reading of the rules in
 *   common/ttyesc.c (which also says text that needs no escape passes
 *   unchanged): ^X for an ASCII control, ^? for DEL, ^M for a carriage
 *   return not before a newline, one '?' per byte that starts no sequence,
 *   per sequence cut short, and per sequence that is ill-formed, a C1 or a
 *   bidirectional control.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cordon/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TARGET "fuzz_ttyesc"
#include "fuzz-check.h"

struct buf {
        char *p;
        size_t len, cap;
};

static bool buf_add(struct buf *b, const char *p, size_t n)
{
        if (n == 0)
                return true;
        if (b->len + n > b->cap) {
                size_t cap = (b->len + n) * 2 + 16;
                char *q = realloc(b->p, cap);

                if (!q)
                        return false;
                b->p = q;
                b->cap = cap;
        }
        memcpy(b->p + b->len, p, n);
        b->len += n;
        return true;
}

/* One call into a buffer of exactly the documented room. */
static bool escape_piece(struct cd_tty_escape *st, const uint8_t *in, size_t n, struct buf *out)
{
        char *room = malloc(CD_TTY_ESCAPE_MAX(n));
        size_t len;
        bool ok;

        if (!room)
                return false;
        len = cd_tty_escape(st, in, n, room);
        CHECK(len <= CD_TTY_ESCAPE_MAX(n), "%zu bytes out for %zu in", len, n);
        ok = buf_add(out, room, len);
        free(room);
        return ok;
}

static bool escape_end(struct cd_tty_escape *st, struct buf *out)
{
        char *room = malloc(CD_TTY_ESCAPE_END_MAX);
        size_t len;
        bool ok;

        if (!room)
                return false;
        len = cd_tty_escape_end(st, room);
        CHECK(len <= CD_TTY_ESCAPE_END_MAX, "%zu bytes at the end", len);
        CHECK(st->have == 0 && !st->cr, "state left after the end");
        ok = buf_add(out, room, len);
        free(room);
        return ok;
}

/* Pieces of 0 to 7 bytes, lengths drawn from the input itself. */
static bool escape_in_pieces(bool ascii_only, const uint8_t *in, size_t n, struct buf *out)
{
        struct cd_tty_escape st = { .ascii_only = ascii_only };
        size_t i = 0, k = 0;

        while (i < n) {
                size_t piece = (size_t) (in[k % n] * 7u + k) % 8;

                k++;

                if (piece > n - i)
                        piece = n - i;
                if (!escape_piece(&st, in + i, piece, out))
                        return false;
                i += piece;
        }
        return escape_end(&st, out);
}

static bool is_bidi(unsigned int cp)
{
        return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
               (cp >= 0x2066 && cp <= 0x2069);
}

/* Why @s could drive a terminal (with the offset in *@at), or NULL. */
static const char *unsafe(bool ascii_only, const unsigned char *s, size_t len, size_t *at)
{
        for (size_t i = 0; i < len;) {
                unsigned int cp;
                size_t n;

                *at = i;
                if (s[i] == '\r') {
                        if (i + 1 == len || s[i + 1] != '\n')
                                return "a carriage return not before a newline";
                        i++;
                        continue;
                }
                if ((s[i] < 0x20 && s[i] != '\t' && s[i] != '\n') || s[i] == 0x7f)
                        return "an ASCII control";
                if (ascii_only && s[i] >= 0x80)
                        return "a byte from 0x80 on with ascii_only";
                n = cd_utf8_decode(s + i, len - i, &cp);
                if (n == 0)
                        return "ill-formed UTF-8";
                if ((cp >= 0x80 && cp <= 0x9f) || is_bidi(cp))
                        return "a C1 or bidirectional control";
                i += n;
        }
        return NULL;
}

/* The sequence length a lead byte announces (RFC 3629 lead bytes only). */
static size_t lead_len(unsigned char c)
{
        return c >= 0xc2 && c <= 0xdf   ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
}

/* The rules read again, over the whole input at once: a carriage return
 * looks at the next byte, a lead byte at those that follow. */
static bool model(bool ascii_only, const uint8_t *in, size_t n, struct buf *out)
{
        for (size_t i = 0; i < n;) {
                unsigned char c = in[i];
                char caret[2] = { '^', (char) (c == 0x7f ? '?' : c + '@') };
                size_t want, got = 1;
                unsigned int cp;

                if (c == '\r' && i + 1 < n && in[i + 1] == '\n') {
                        if (!buf_add(out, "\r", 1))
                                return false;
                        i++;
                        continue;
                }
                if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
                        if (!buf_add(out, caret, 2))
                                return false;
                        i++;
                        continue;
                }
                if (c < 0x80) {
                        if (!buf_add(out, (const char *) &c, 1))
                                return false;
                        i++;
                        continue;
                }
                want = ascii_only ? 0 : lead_len(c);
                while (want && got < want && i + got < n && (in[i + got] & 0xc0) == 0x80)
                        got++;
                if (want && got == want && cd_utf8_decode(in + i, want, &cp) == want && cp > 0x9f &&
                    !is_bidi(cp)) {
                        if (!buf_add(out, (const char *) in + i, want))
                                return false;
                } else if (!buf_add(out, "?", 1)) {
                        return false;
                }
                i += got;
        }
        return true;
}

/* @b holds the @n bytes at @p (an empty buffer's pointer may be NULL). */
static bool same(const struct buf *b, const char *p, size_t n)
{
        return b->len == n && (n == 0 || memcmp(b->p, p, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct buf whole = { 0 }, pieces = { 0 }, want = { 0 };
        struct cd_tty_escape st = { 0 };
        const char *why;
        bool ascii_only;
        size_t at = 0;

        if (size == 0)
                return 0;
        ascii_only = data[0] & 1;
        data++;
        size--;
        st.ascii_only = ascii_only;
        if (escape_piece(&st, data, size, &whole) && escape_end(&st, &whole) &&
            escape_in_pieces(ascii_only, data, size, &pieces) &&
            model(ascii_only, data, size, &want)) {
                CHECK(same(&whole, pieces.p, pieces.len), "pieces: %zu bytes, one call: %zu",
                      pieces.len, whole.len);
                why = unsafe(ascii_only, (const unsigned char *) whole.p, whole.len, &at);
                CHECK(!why, "%s at byte %zu of the output", why, at);
                CHECK(same(&whole, want.p, want.len), "%zu bytes out, the rules say %zu", whole.len,
                      want.len);
                /* Text that needs no escape passes as it is. */
                if (!unsafe(ascii_only, data, size, &at))
                        CHECK(same(&whole, (const char *) data, size),
                              "text that needs no escape changed");
        }
        free(whole.p);
        free(pieces.p);
        free(want.p);
        return 0;
}
