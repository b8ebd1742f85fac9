/* SPDX-License-Identifier: MIT */
/* Human output: colour, units, times, aligned tables, escaping (output.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cordon/artifacts.h"
#include "cordon/cleanup.h"
#include "cordon/util.h"
#include "output.h"

bool cli_isatty(int fd)
{
        return isatty(fd) == 1;
}

/* https://no-color.org: present and not empty disables colour. */
bool cli_colour(int fd)
{
        const char *no = secure_getenv("NO_COLOR"), *term = secure_getenv("TERM");

        if (no && *no)
                return false;
        if (term && strcmp(term, "dumb") == 0)
                return false;
        return cli_isatty(fd);
}

const char *cli_sgr(bool on, enum cli_colour_code c)
{
        static const char *const codes[] = {
                [CLI_PLAIN] = "\033[0m",   [CLI_GREEN] = "\033[32m", [CLI_RED] = "\033[31m",
                [CLI_YELLOW] = "\033[33m", [CLI_CYAN] = "\033[36m",  [CLI_DIM] = "\033[2m",
                [CLI_BOLD] = "\033[1m",
        };

        return on && (size_t) c < ELEMENTSOF(codes) ? codes[c] : "";
}

enum cli_colour_code cli_verdict_colour(const char *state, const char *verdict)
{
        if (state && strcmp(state, "running") == 0)
                return CLI_CYAN;
        if (state && strcmp(state, "queued") == 0)
                return CLI_DIM;
        if (!verdict)
                return CLI_PLAIN;
        if (strcmp(verdict, "ok") == 0)
                return CLI_GREEN;
        if (strcmp(verdict, "cancelled") == 0)
                return CLI_YELLOW;
        return CLI_RED;
}

void cli_human_bytes(uint64_t n, char *buf, size_t size)
{
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        double v = (double) n;
        size_t u = 0;

        if (n < 1024) {
                (void) snprintf(buf, size, "%llu B", (unsigned long long) n);
                return;
        }
        v /= 1024;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        (void) snprintf(buf, size, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void cli_human_ms(uint64_t ms, char *buf, size_t size)
{
        uint64_t s = ms / 1000;

        if (ms < 1000)
                (void) snprintf(buf, size, "%llu ms", (unsigned long long) ms);
        else if (ms < 60000)
                (void) snprintf(buf, size, "%.1f s", (double) ms / 1000);
        else if (s < 3600)
                (void) snprintf(buf, size, "%llum%02llus", (unsigned long long) (s / 60),
                                (unsigned long long) (s % 60));
        else if (s < 86400)
                (void) snprintf(buf, size, "%lluh%02llum", (unsigned long long) (s / 3600),
                                (unsigned long long) (s % 3600 / 60));
        else
                (void) snprintf(buf, size, "%llud%02lluh", (unsigned long long) (s / 86400),
                                (unsigned long long) (s % 86400 / 3600));
}

int cli_parse_time(const json_t *v, int64_t *ret_ms)
{
        const char *s = json_string_value(v), *rest;
        struct tm tm = { 0 };
        unsigned int ms = 0;
        time_t t;

        if (!s)
                return -EINVAL;
        rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!rest)
                return -EINVAL;
        if (rest[0] == '.') {
                for (int i = 1; i <= 3; i++) {
                        if (rest[i] < '0' || rest[i] > '9')
                                return -EINVAL;
                        ms = ms * 10 + (unsigned int) (rest[i] - '0');
                }
                rest += 4;
        }
        if (strcmp(rest, "Z") != 0)
                return -EINVAL;
        t = timegm(&tm);
        if (t == (time_t) -1)
                return -EINVAL;
        *ret_ms = (int64_t) t * 1000 + ms;
        return 0;
}

void cli_human_time(const json_t *v, bool relative, char *buf, size_t size)
{
        int64_t ms, now = (int64_t) cd_wall_ms();
        char when[32], ago[32];
        struct tm tm;
        time_t t;

        if (cli_parse_time(v, &ms) < 0) {
                (void) snprintf(buf, size, "-");
                return;
        }
        if (!relative) { /* for scripts: the API's own UTC timestamp */
                (void) snprintf(buf, size, "%s", json_string_value(v));
                return;
        }
        t = (time_t) (ms / 1000);
        if (!localtime_r(&t, &tm) || strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) == 0)
                (void) snprintf(when, sizeof(when), "%s", json_string_value(v));
        cli_human_ms(now > ms ? (uint64_t) (now - ms) : 0, ago, sizeof(ago));
        (void) snprintf(buf, size, "%s (%s ago)", when, ago);
}

const char *cli_token(const char *s)
{
        if (!s)
                return NULL;
        for (const char *c = s; *c; c++)
                if (*c < 0x20 || *c > 0x7e)
                        return "?";
        return s;
}

/* cd_name_escape shows controls, C1, bidirectional and invisible
 * formatting characters and invalid UTF-8 as \xNN. Where the locale is
 * not UTF-8, the terminal may be in an 8-bit mode that reads the
 * continuation bytes 0x80-0x9f of well-formed UTF-8 as C1 controls
 * (U+201B is e2 80 9b, and 0x9b is CSI), as cd_tty_escape says: there
 * every byte from 0x80 on is shown as \xNN too. */
char *cli_escape(const char *s)
{
        char *e = cd_name_escape(s ? s : ""), *out, *o;
        size_t high = 0;

        if (!e || cd_tty_locale_utf8())
                return e;
        for (const char *p = e; *p; p++)
                high += (unsigned char) *p >= 0x80;
        if (high == 0)
                return e;
        out = o = malloc(strlen(e) + high * 3 + 1);
        for (const char *p = e; out && *p; p++) {
                if ((unsigned char) *p >= 0x80)
                        o += (size_t) snprintf(o, 5, "\\x%02x", (unsigned int) (unsigned char) *p);
                else
                        *o++ = *p;
        }
        if (out)
                *o = '\0';
        free(e);
        return out;
}

char *cli_escape_path(const char *s)
{
        char *e = cli_escape(s), *w = e;

        /* cli_escape writes "\x5c" for a backslash and for nothing else. */
        for (const char *r = e; r && *r;) {
                if (strncmp(r, "\\x5c", 4) == 0) {
                        *w++ = '\\';
                        r += 4;
                } else {
                        *w++ = *r++;
                }
        }
        if (w)
                *w = '\0';
        return e;
}

int cli_write_escaped(FILE *f, const char *data, size_t n, bool escape, struct cd_tty_escape *esc)
{
        char out[CD_TTY_ESCAPE_MAX(1024)];

        if (!escape)
                return fwrite(data, 1, n, f) == n ? 0 : -EIO;
        for (size_t done = 0; done < n;) {
                size_t k = n - done < 1024 ? n - done : 1024;
                size_t len = cd_tty_escape(esc, data + done, k, out);

                if (fwrite(out, 1, len, f) != len)
                        return -EIO;
                done += k;
        }
        return 0;
}

int cli_write_escaped_end(FILE *f, bool escape, struct cd_tty_escape *esc)
{
        char out[CD_TTY_ESCAPE_END_MAX];
        size_t len = escape ? cd_tty_escape_end(esc, out) : 0;

        return fwrite(out, 1, len, f) == len ? 0 : -EIO;
}

size_t cli_width(const char *s)
{
        size_t w = 0;

        for (; *s; s++)
                if (((unsigned char) *s & 0xc0) != 0x80)
                        w++;
        return w;
}

struct cli_table {
        size_t ncols, nrows, cap;
        char **cells; /* nrows * ncols, row 0 the headers */
        enum cli_colour_code *colours;
};

struct cli_table *cli_table_new(size_t ncols, const char *const *headers)
{
        struct cli_table *t = calloc(1, sizeof(*t));

        if (!t)
                return NULL;
        t->ncols = ncols;
        if (cli_table_add(t, headers, NULL) < 0)
                return cli_table_free(t);
        return t;
}

int cli_table_add(struct cli_table *t, const char *const *cells,
                  const enum cli_colour_code *colours)
{
        size_t base = t->nrows * t->ncols;

        if (t->nrows == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 16, n;
                char **c;
                enum cli_colour_code *k;

                if (__builtin_mul_overflow(cap, t->ncols, &n))
                        return -ENOMEM;
                c = reallocarray(t->cells, n, sizeof(*c));
                if (!c)
                        return -ENOMEM;
                t->cells = c;
                k = reallocarray(t->colours, n, sizeof(*k));
                if (!k)
                        return -ENOMEM;
                t->colours = k;
                t->cap = cap;
        }
        for (size_t i = 0; i < t->ncols; i++) {
                t->cells[base + i] = strdup(cells[i] ? cells[i] : "");
                t->colours[base + i] = colours ? colours[i] : CLI_PLAIN;
                if (!t->cells[base + i]) {
                        while (i-- > 0)
                                free(t->cells[base + i]);
                        return -ENOMEM;
                }
        }
        t->nrows++;
        return 0;
}

void cli_table_print(const struct cli_table *t, bool colour)
{
        cleanup_free size_t *w = calloc(t->ncols, sizeof(size_t));

        if (!w)
                return;
        for (size_t r = 0; r < t->nrows; r++)
                for (size_t c = 0; c < t->ncols; c++) {
                        size_t n = cli_width(t->cells[r * t->ncols + c]);

                        w[c] = n > w[c] ? n : w[c];
                }
        for (size_t r = 0; r < t->nrows; r++) {
                for (size_t c = 0; c < t->ncols; c++) {
                        const char *cell = t->cells[r * t->ncols + c];
                        enum cli_colour_code k = r == 0 ? CLI_BOLD : t->colours[r * t->ncols + c];
                        bool paint = colour && k != CLI_PLAIN;
                        size_t pad = c + 1 < t->ncols ? w[c] - cli_width(cell) : 0;

                        printf("%s%s%s%*s%s", cli_sgr(paint, k), cell, cli_sgr(paint, CLI_PLAIN),
                               (int) pad, "", c + 1 < t->ncols ? "  " : "\n");
                }
        }
}

struct cli_table *cli_table_free(struct cli_table *t)
{
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->nrows * t->ncols; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t->colours);
        free(t);
        return NULL;
}

void cli_table_freep(struct cli_table **t)
{
        *t = cli_table_free(*t);
}

int cli_print_json(const json_t *j)
{
        /* jansson escapes only C0 controls: C1 controls (U+009B is CSI to
         * a terminal) and bidirectional overrides (U+202E) from a job's
         * labels or names would reach the terminal raw. As \uXXXX, every
         * character still reads back the same from this valid JSON. */
        if (!j ||
            json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII) < 0 ||
            fputc('\n', stdout) == EOF || fflush(stdout) == EOF)
                return CLI_EXIT_IO;
        return 0;
}

char *cli_labels_text(const json_t *labels)
{
        const char *k;
        json_t *v;
        char *out = NULL;
        size_t len = 0;
        bool first = true;
        FILE *f;

        if (!json_is_object(labels) || json_object_size(labels) == 0)
                return strdup("-");
        f = open_memstream(&out, &len);
        if (!f)
                return NULL;
        json_object_foreach((json_t *) labels, k, v)
        {
                cleanup_free char *ek = cli_escape(k);
                cleanup_free char *ev = cli_escape(json_string_value(v));

                fprintf(f, "%s%s=%s", first ? "" : ",", ek ? ek : "?", ev ? ev : "?");
                first = false;
        }
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}
