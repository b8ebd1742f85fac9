/* SPDX-License-Identifier: MIT */
/*
 * Reading records back from a seq on, for a writer that must know whether
 * a record it may have written before a crash is there (cordond's
 * recovery). It reads; `cordon audit verify` judges the chain.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "audit-internal.h"
#include "cordon/cleanup.h"
#include "cordon/util.h"

struct scan {
        uint64_t from;
        cd_audit_scan_fn fn;
        void *data;
        off_t end; /* bytes of the file to read; -1: all */
};

static const char *string_of(json_t *root, const char *key)
{
        return json_string_value(json_object_get(root, key));
}

/* The seq a line starts with, cheaply ('{"seq":N,' is how records are
 * written), so that lines before @from are not parsed; 0 when it does not
 * start that way. */
static uint64_t quick_seq(const char *line)
{
        static const char prefix[] = "{\"seq\":";
        const char *p = line + sizeof(prefix) - 1;
        char digits[21];
        size_t n = 0;
        uint64_t v;

        if (strncmp(line, prefix, sizeof(prefix) - 1) != 0)
                return 0;
        while (n < sizeof(digits) - 1 && p[n] >= '0' && p[n] <= '9') {
                digits[n] = p[n];
                n++;
        }
        digits[n] = '\0';
        return p[n] == ',' && cd_parse_u64(digits, &v) == 0 ? v : 0;
}

/* One complete line: 0 to go on, or what @fn returned. A line that does
 * not parse is passed over (verify names it). */
static int scan_line(struct scan *s, const char *line, size_t len)
{
        struct audit_record r;
        struct cd_audit_seen seen;
        uint64_t q = quick_seq(line);
        char why[128];
        int ret;

        if (q != 0 && q < s->from)
                return 0;
        if (audit_record_parse(line, len, &r, why, sizeof(why)) < 0)
                return 0;
        ret = 0;
        if (r.seq >= s->from) {
                seen = (struct cd_audit_seen){ .seq = r.seq,
                                               .event = r.event,
                                               .job = string_of(r.root, "job"),
                                               .verdict = string_of(r.root, "verdict"),
                                               .profile = string_of(r.root, "profile"),
                                               .details = r.details };
                ret = s->fn(&seen, s->data);
        }
        audit_record_clear(&r);
        return ret;
}

/* The file @fd (owned here): 0 at its end, or what @fn returned. Only
 * whole lines are read, and at most a record of each: a torn end is not a
 * record, and neither is a line longer than one (passed over). */
static int scan_fd(struct scan *s, int fd, const char *name, struct cd_err *err)
{
        cleanup_close int owned = fd;
        struct audit_lines l;
        size_t len;
        char *line;
        int k, q = 0;

        if (audit_lines_init(&l, owned, s->end) < 0)
                return cd_err_set(err, ENOMEM, "audit: out of memory");
        while (q == 0 && (k = audit_lines_next(&l, &line, &len)) != AUDIT_LINE_END &&
               k != AUDIT_LINE_TORN) {
                if (k < 0)
                        q = cd_err_neg(err, k, "audit: read %s", name);
                else if (k == AUDIT_LINE_WHOLE)
                        q = scan_line(s, line, len);
        }
        audit_lines_clear(&l);
        return q;
}

int audit_scan_dir(int dirfd, const char *path, uint64_t from, cd_audit_scan_fn fn, void *data,
                   struct cd_err *err)
{
        struct audit_snapshot snap = { .live_fd = -1 };
        struct scan s = { .from = from, .fn = fn, .data = data, .end = -1 };
        uint64_t first, last;
        int q = audit_snapshot_locked(dirfd, path, &snap, err);

        for (size_t i = 0; q == 0 && i < snap.n; i++)
                if (!audit_rotated_parse(snap.names[i], &first, &last) || last >= from)
                        q = scan_fd(&s, TAKE_FD(snap.fds[i]), snap.names[i], err);
        if (q == 0 && snap.live_fd >= 0) {
                s.end = snap.live_size;
                q = scan_fd(&s, TAKE_FD(snap.live_fd), CD_AUDIT_FILE, err);
        }
        audit_snapshot_clear(&snap);
        return q;
}
