/* SPDX-License-Identifier: MIT */
/*
 * A job's bytes on a terminal, as `cat -v` would show them: a job must not
 * drive the terminal of the admin who watches it (titles, clipboard,
 * emulator bugs), nor hide or reorder what it printed: printable ASCII,
 * tab and newline pass, and a carriage return only where a newline follows
 * (CRLF); other ASCII controls become ^X, a lone carriage return ^M (it
 * would write over the line it ends); well-formed UTF-8 passes, except the
 * C1 controls (U+0080..U+009F) and the bidirectional controls (U+061C,
 * U+200E, U+200F, U+202A..U+202E, U+2066..U+2069: "Trojan Source",
 * CVE-2021-42574), which become '?'; every byte that is not part
 * of well-formed UTF-8 becomes '?' too, since a terminal in an 8-bit mode
 * reads a lone 0x9b as CSI. Where the locale is not UTF-8, the terminal
 * may be in such a mode, and read the 0x80-0x9f continuation bytes of
 * well-formed UTF-8 (U+201B is e2 80 9b) as C1 controls: there every byte
 * from 0x80 on is shown as '?'.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cordon/cleanup.h"
#include "cordon/util.h"

/* The length of the sequence lead byte @c starts; 0: none (not a lead). */
static unsigned int seq_len(unsigned char c)
{
        if (c >= 0xc2 && c <= 0xdf)
                return 2;
        if (c >= 0xe0 && c <= 0xef)
                return 3;
        if (c >= 0xf0 && c <= 0xf4)
                return 4;
        return 0;
}

size_t cd_utf8_decode(const unsigned char *s, size_t n, unsigned int *cp)
{
        size_t len;
        unsigned int c, min;

        if (s[0] < 0x80) {
                *cp = s[0];
                return 1;
        }
        if ((s[0] & 0xe0) == 0xc0) {
                len = 2, c = s[0] & 0x1f, min = 0x80;
        } else if ((s[0] & 0xf0) == 0xe0) {
                len = 3, c = s[0] & 0x0f, min = 0x800;
        } else if ((s[0] & 0xf8) == 0xf0) {
                len = 4, c = s[0] & 0x07, min = 0x10000;
        } else {
                return 0;
        }
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = (c << 6) | (s[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return 0;
        *cp = c;
        return len;
}

static bool is_bidi_control(unsigned int cp)
{
        return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
               (cp >= 0x2066 && cp <= 0x2069);
}

/* A whole sequence of continuation bytes: '?' unless it is well formed
 * and neither a C1 nor a bidirectional control. */
static size_t emit_seq(const struct cd_tty_escape *st, char *out)
{
        unsigned int cp;

        if (cd_utf8_decode(st->seq, st->need, &cp) != st->need || cp <= 0x9f ||
            is_bidi_control(cp)) {
                out[0] = '?';
                return 1;
        }
        for (unsigned int i = 0; i < st->need; i++)
                out[i] = (char) st->seq[i];
        return st->need;
}

static size_t emit_ascii(unsigned char c, char *out)
{
        if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
                out[0] = '^';
                out[1] = c == 0x7f ? '?' : (char) (c + '@');
                return 2;
        }
        out[0] = (char) c;
        return 1;
}

/* The locale's codeset is UTF-8 (LC_ALL, else LC_CTYPE, else LANG; the
 * first that is set and not empty, as setlocale(3) reads them). */
bool cd_tty_locale_utf8(void)
{
        static const char *const vars[] = { "LC_ALL", "LC_CTYPE", "LANG" };

        for (size_t i = 0; i < ELEMENTSOF(vars); i++) {
                const char *v = secure_getenv(vars[i]);

                if (v && *v)
                        return strcasestr(v, "UTF-8") || strcasestr(v, "utf8");
        }
        return false;
}

size_t cd_tty_escape(struct cd_tty_escape *st, const void *data, size_t n, char *out)
{
        const unsigned char *in = data;
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = in[i];
                unsigned int len;

                if (st->have > 0) {
                        if ((c & 0xc0) == 0x80) {
                                st->seq[st->have++] = c;
                                if (st->have == st->need) {
                                        o += emit_seq(st, out + o);
                                        st->have = 0;
                                }
                                continue;
                        }
                        out[o++] = '?'; /* cut short */
                        st->have = 0;
                }
                if (st->cr) { /* the byte after a carriage return decides */
                        st->cr = false;
                        if (c == '\n')
                                out[o++] = '\r';
                        else
                                o += emit_ascii('\r', out + o);
                }
                if (c == '\r') {
                        st->cr = true;
                        continue;
                }
                len = seq_len(c);
                if (c < 0x80) {
                        o += emit_ascii(c, out + o);
                } else if (st->ascii_only || len == 0) {
                        out[o++] = '?';
                } else {
                        st->seq[0] = c;
                        st->have = 1;
                        st->need = (unsigned char) len;
                }
        }
        return o;
}

size_t cd_tty_escape_end(struct cd_tty_escape *st, char *out)
{
        if (st->cr) {
                st->cr = false;
                return emit_ascii('\r', out);
        }
        if (st->have == 0)
                return 0;
        st->have = 0;
        out[0] = '?';
        return 1;
}
