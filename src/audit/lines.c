/* SPDX-License-Identifier: MIT */
/*
 * Reading a log file line by line, never holding more than a record: the
 * file is whatever someone who could write the state directory left there,
 * and getline(3) grows its buffer to the longest line, so a line of 3 GB
 * without a newline made verify allocate 3 GB (or fail with ENOMEM instead
 * of naming the line). No record is longer than CD_AUDIT_MAX_RECORD bytes,
 * newline included, so a line that has not ended by then is not one, and
 * that is all a reader needs to know about it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit-internal.h"

int audit_lines_init(struct audit_lines *l, int fd, off_t limit)
{
        *l = (struct audit_lines){ .fd = fd, .left = limit };
        l->buf = malloc(CD_AUDIT_MAX_RECORD);
        return l->buf ? 0 : -ENOMEM;
}

void audit_lines_clear(struct audit_lines *l)
{
        free(l->buf);
        l->buf = NULL;
}

/* Keep what is not yet returned, moved to the front, and read more after
 * it: at most up to a record's worth, and never past @l->left. */
static int fill(struct audit_lines *l)
{
        size_t want;
        ssize_t n;

        memmove(l->buf, l->buf + l->start, l->end - l->start);
        l->end -= l->start;
        l->start = 0;
        want = CD_AUDIT_MAX_RECORD - l->end;
        if (l->left >= 0 && (uint64_t) l->left < want)
                want = (size_t) l->left;
        if (want == 0) { /* the limit reached */
                l->eof = true;
                return 0;
        }
        do
                n = read(l->fd, l->buf + l->end, want);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        l->eof = n == 0;
        l->end += (size_t) n;
        if (l->left >= 0)
                l->left -= n;
        return 0;
}

int audit_lines_next(struct audit_lines *l, char **ret_line, size_t *ret_len)
{
        char *nl;
        int r;

        for (;;) {
                nl = memchr(l->buf + l->start, '\n', l->end - l->start);
                if (l->skipping) { /* the rest of a line too long to be a record */
                        l->skipping = !nl;
                        l->start = nl ? (size_t) (nl + 1 - l->buf) : l->end;
                        if (nl)
                                continue;
                } else if (nl) {
                        *nl = '\0';
                        *ret_line = l->buf + l->start;
                        *ret_len = (size_t) (nl - *ret_line);
                        l->start = (size_t) (nl + 1 - l->buf);
                        return AUDIT_LINE_WHOLE;
                } else if (l->end - l->start >= CD_AUDIT_MAX_RECORD) {
                        l->skipping = true;
                        return AUDIT_LINE_TOO_LONG;
                }
                if (l->eof)
                        return l->start == l->end ? AUDIT_LINE_END : AUDIT_LINE_TORN;
                r = fill(l);
                if (r < 0)
                        return r;
        }
}
