/* SPDX-License-Identifier: MIT */
/* Human output of the cordon CLI: colour, units, times, tables, escaping. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cordon/util.h"

/* True if @fd is a terminal. */
bool cli_isatty(int fd);

/* Colour on @fd: a terminal, NO_COLOR unset or empty, TERM not "dumb". */
bool cli_colour(int fd);

/* SGR sequences, or "" when colour is off. */
enum cli_colour_code { CLI_PLAIN, CLI_GREEN, CLI_RED, CLI_YELLOW, CLI_CYAN, CLI_DIM, CLI_BOLD };
const char *cli_sgr(bool on, enum cli_colour_code c);

/* The colour a state or verdict is shown in. */
enum cli_colour_code cli_verdict_colour(const char *state, const char *verdict);

/* "512 B", "1.5 KiB", "24.3 MiB" into @buf. */
void cli_human_bytes(uint64_t n, char *buf, size_t size);

/* "812 ms", "4.2 s", "3m05s", "1h02m", "2d03h" into @buf. */
void cli_human_ms(uint64_t ms, char *buf, size_t size);

/* Parse the API's "2026-11-23T10:00:00.000Z" into ms since the epoch.
 * Returns 0 or -EINVAL (also for JSON null). */
int cli_parse_time(const json_t *v, int64_t *ret_ms);

/* A timestamp: with @relative (a terminal), local "2026-11-23 10:00:00
 * (5m ago)"; otherwise the API's own UTC string. "-" for null. */
void cli_human_time(const json_t *v, bool relative, char *buf, size_t size);

/* @s when it is printable ASCII (a verdict, state, reason, signal, type,
 * id or time from cordond), else "?": a cordond that sends controls must
 * not drive the terminal. NULL for NULL. */
const char *cli_token(const char *s);

/* Copy of @s fit for a terminal: printable UTF-8 kept; control, C1,
 * bidirectional and invisible characters, '\\' and invalid bytes as \xNN
 * (cd_name_escape); where the locale is not UTF-8 (cd_tty_locale_utf8),
 * every byte from 0x80 on as \xNN. Returns a new string or NULL on ENOMEM. */
char *cli_escape(const char *s);
/* A manifest entry's path, as cli_escape but with its backslashes kept:
 * cordond escaped a refused entry's path already (cd_name_escape), and an
 * accepted name never holds one, so "\xff" is shown as cordond wrote it,
 * not as "\x5cxff". */
char *cli_escape_path(const char *s);

/* Write @n bytes of @data to @f; when @escape, as cordon run shows a job's
 * output on a terminal (cd_tty_escape: ASCII controls as ^X, C1 controls
 * and bytes that are not UTF-8 as '?'). @esc holds a sequence split across
 * calls. Returns 0 or -EIO. */
int cli_write_escaped(FILE *f, const char *data, size_t n, bool escape, struct cd_tty_escape *esc);

/* The end of what cli_write_escaped() wrote: a sequence cut short as '?'. */
int cli_write_escaped_end(FILE *f, bool escape, struct cd_tty_escape *esc);

/* Display width of UTF-8 @s in columns (one per code point). */
size_t cli_width(const char *s);

/* A table printed with aligned columns. Cells are copied. */
struct cli_table;
struct cli_table *cli_table_new(size_t ncols, const char *const *headers);
/* Add a row of @ncols cells; colours per cell (may be NULL). Returns 0 or -ENOMEM. */
int cli_table_add(struct cli_table *t, const char *const *cells,
                  const enum cli_colour_code *colours);
/* Print to stdout: header (bold with colour), then the rows. The last
 * column is not padded. */
void cli_table_print(const struct cli_table *t, bool colour);
struct cli_table *cli_table_free(struct cli_table *t);
void cli_table_freep(struct cli_table **t);

/* Print @j as indented JSON and a newline to stdout, ASCII only (anything
 * else as \uXXXX). Returns 0 or CLI_EXIT_IO. */
int cli_print_json(const json_t *j);

/* The labels object as "k=v,k2=v2" (escaped), or "-". Caller frees. */
char *cli_labels_text(const json_t *labels);
