/* SPDX-License-Identifier: MIT */
/*
 * Reading records back from a seq on, for a writer that must know whether
 * a record it may have written before a crash is there (cordond's
 * recovery). It reads; `cordon audit verify` judges the chain.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
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
                                               .verdict = string_of(r.root, "verdict") };
                ret = s->fn(&seen, s->data);
        }
        audit_record_clear(&r);
        return ret;
}

/* The file @fd (owned here): 0 at its end, or what @fn returned. Only
 * complete lines are read: a torn end is not a record. */
static int scan_fd(struct scan *s, int fd, const char *name, struct cd_err *err)
{
        cleanup_free char *buf = NULL;
        FILE *f = fdopen(fd, "re");
        size_t cap = 0;
        off_t done = 0;
        ssize_t n = 0;
        int q = 0;

        if (!f) {
                (void) cd_close(fd);
                return cd_err_errno(err, "audit: read %s", name);
        }
        while (q == 0 && (s->end < 0 || done < s->end) &&
               (errno = 0, n = getline(&buf, &cap, f)) > 0) {
                done += n;
                if (buf[n - 1] != '\n' || (s->end >= 0 && done > s->end))
                        break;
                buf[n - 1] = '\0';
                q = scan_line(s, buf, (size_t) n - 1);
        }
        if (q == 0 && n < 0 && errno != 0)
                q = cd_err_errno(err, "audit: read %s", name);
        (void) fclose(f);
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
