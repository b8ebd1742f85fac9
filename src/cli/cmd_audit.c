/* SPDX-License-Identifier: MIT */
/* cordon audit verify [FILE|DIR]: check the audit log's hash chain.
 * cordon audit repair: cut a torn last line, and record that. */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cordon/audit.h"
#include "cordon/cleanup.h"
#include "cordon/result.h"
#include "cordon/util.h"

#define DEFAULT_STATE_DIR "/var/lib/cordon"
#define EXIT_BROKEN       1
#define EXIT_UNREADABLE   2

struct opts {
        const char *state_dir;
        const char *anchor;
        bool allow_pruned;
        bool json;
};

static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "json", no_argument, NULL, 'j' },
        { "state-dir", required_argument, NULL, 's' },
        { "anchor", required_argument, NULL, 'a' },
        { "allow-pruned", no_argument, NULL, 'p' },
        {},
};

static void help(void)
{
        printf("Usage: cordon audit verify [FILE|DIR] [--state-dir DIR] [--anchor SEQ:HASH]\n"
               "                           [--allow-pruned] [--json]\n"
               "\n"
               "Check the audit log's hash chain: every line a record, seq +1 from line to\n"
               "line, each record's prev the SHA-256 of the line before it, across rotated\n"
               "files too. Without FILE or DIR, checks STATE_DIR/audit (default state "
               "dir\n" DEFAULT_STATE_DIR
               "). A FILE is checked alone; a DIR is checked as one chain\n"
               "(audit-*.jsonl in order, then audit.jsonl).\n"
               "\n"
               "  --anchor SEQ:HASH  record SEQ must still have line hash HASH: the seq and\n"
               "                     hash printed by an earlier run, kept off this host.\n"
               "                     Detects a removed or rewritten end of the log.\n"
               "  --allow-pruned     DIR only: the oldest file may start after seq 1\n"
               "  --json             print the report as JSON\n"
               "\n"
               "Prints \"ok: N records, seq A..B, last hash H\" and exits 0, or the first\n"
               "broken or missing record and exits 1; exits 2 when the log cannot be read,\n"
               "or is not as cordon leaves it: FILE, DIR or a log file in DIR owned by\n"
               "neither root nor you, or writable by group or others.\n"
               "Without --anchor it also says that a removed or edited end of the log\n"
               "cannot be detected: no later record covers it.\n"
               "\n"
               "Examples:\n"
               "  cordon audit verify\n"
               "  cordon audit verify /var/lib/cordon/audit/audit.jsonl\n"
               "  cordon audit verify --anchor \"$(cat /backup/cordon-audit.anchor)\" --json\n"
               "\n"
               "Usage: cordon audit repair [--state-dir DIR]\n"
               "\n"
               "Cut the torn end of STATE_DIR/audit/audit.jsonl: the bytes after its last\n"
               "newline, shorter than a record, that an append killed mid-write (or a power\n"
               "loss) left, never acknowledged. cordond and cordon run refuse to append\n"
               "after them. The cut is recorded as an audit.repaired record with the count\n"
               "and SHA-256 of the bytes cut. Anything else (a complete line that is not a\n"
               "record, a longer tail) is left as it is. Exits 0 (repaired, or nothing to\n"
               "repair), 1 when refused, 2 when the log cannot be read.\n");
}

/* Options may come before or after FILE|DIR, as the synopsis shows:
 * getopt_long permutes (no leading '+'), and "--" still ends the options,
 * for a FILE whose name starts with '-'. optind 0 makes glibc start over. */
static int parse(int argc, char **argv, struct opts *o)
{
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1)
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case 'j':
                        o->json = true;
                        break;
                case 's':
                        o->state_dir = optarg;
                        break;
                case 'a':
                        o->anchor = optarg;
                        break;
                case 'p':
                        o->allow_pruned = true;
                        break;
                default:
                        return -1;
                }
        return 0;
}

/* "SEQ:HASH" into @v; @buf holds the copy @v points into. */
static int parse_anchor(const char *s, char *buf, size_t size, struct cd_audit_verify_opts *v)
{
        char *colon;

        if (snprintf(buf, size, "%s", s) >= (int) size)
                return -1;
        colon = strchr(buf, ':');
        if (!colon)
                return -1;
        *colon = '\0';
        if (cd_parse_u64(buf, &v->anchor_seq) < 0 || v->anchor_seq == 0)
                return -1;
        if (strlen(colon + 1) != CD_AUDIT_HASH_HEX - 1 ||
            strspn(colon + 1, "0123456789abcdefABCDEF") != CD_AUDIT_HASH_HEX - 1)
                return -1;
        v->anchor_hash = colon + 1;
        return 0;
}

/*
 * "anchored" is kept for the scripts that read it, but it never meant
 * --anchor: it is true when the chain starts at seq 1, now "genesis".
 * "anchor_seq" is the --anchor record that matched, null without one.
 */
static void print_json(const struct cd_audit_report *rep, uint64_t anchor_seq)
{
        json_t *j;

        if (rep->ok)
                j = json_pack("{s:b, s:I, s:i, s:I, s:I, s:s, s:b, s:o, s:b, s:s?}", "ok", 1,
                              "records", (json_int_t) rep->records, "files", (int) rep->files,
                              "first_seq", (json_int_t) rep->first_seq, "last_seq",
                              (json_int_t) rep->last_seq, "last_hash", rep->last_hash, "genesis",
                              rep->genesis, "anchor_seq",
                              anchor_seq ? json_integer((json_int_t) anchor_seq) : json_null(),
                              "anchored", rep->genesis, "note",
                              rep->start_note[0] ? rep->start_note : NULL);
        else
                j = json_pack("{s:b, s:s, s:I, s:I, s:s, s:I, s:I}", "ok", 0, "file", rep->bad_file,
                              "line", (json_int_t) rep->bad_line, "seq", (json_int_t) rep->bad_seq,
                              "problem", rep->problem, "valid_records", (json_int_t) rep->records,
                              "valid_last_seq", (json_int_t) rep->last_seq);
        if (!j) {
                cli_error("audit verify", "out of memory");
                return;
        }
        (void) json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
        json_decref(j);
}

/* Without an anchor an intact chain still cannot show that its end was
 * cut off or its last record edited (docs/audit.md): say so every time. */
static void print_text(const struct cd_audit_report *rep, uint64_t anchor_seq)
{
        if (!rep->ok) {
                printf("broken: %s\n", rep->problem);
                if (rep->records > 0)
                        printf("the %" PRIu64 " records before it chain correctly (seq %" PRIu64
                               "..%" PRIu64 ")\n",
                               rep->records, rep->first_seq, rep->last_seq);
                return;
        }
        if (rep->records == 0) {
                printf("ok: 0 records: the log is empty\n");
        } else {
                printf("ok: %" PRIu64 " records, seq %" PRIu64 "..%" PRIu64 ", last hash %s\n",
                       rep->records, rep->first_seq, rep->last_seq, rep->last_hash);
                printf("anchor: %" PRIu64 ":%s\n", rep->last_seq, rep->last_hash);
        }
        if (rep->start_note[0])
                printf("note: %s\n", rep->start_note);
        if (anchor_seq == 0)
                printf("note: without --anchor, a removed or edited end of the log cannot be "
                       "detected\n");
}

static int verify(int argc, char **argv)
{
        struct cd_audit_verify_opts vo = { 0 };
        struct cd_audit_report rep;
        struct cd_err err = { 0 };
        cleanup_free char *dflt = NULL;
        struct opts o = { .state_dir = DEFAULT_STATE_DIR };
        char anchor[128];
        const char *path;
        int r = parse(argc, argv, &o);

        if (r != 0)
                return r > 0 ? 0 : CD_EXIT_USAGE;
        if (optind + 1 < argc) {
                cli_error("audit verify", "expected at most one FILE or DIR");
                return CD_EXIT_USAGE;
        }
        if (o.anchor && parse_anchor(o.anchor, anchor, sizeof(anchor), &vo) < 0) {
                cli_error("audit verify", "--anchor wants SEQ:HASH, e.g. 42:<64 hex digits>");
                return CD_EXIT_USAGE;
        }
        vo.allow_pruned = o.allow_pruned;
        if (optind < argc) {
                path = argv[optind];
        } else {
                if (asprintf(&dflt, "%s/audit", o.state_dir) < 0) {
                        cli_error("audit verify", "out of memory");
                        return EXIT_UNREADABLE;
                }
                path = dflt;
        }
        if (cd_audit_verify(path, &vo, &rep, &err) < 0) {
                cli_error("audit verify", "%s", err.msg);
                return EXIT_UNREADABLE;
        }
        if (o.json)
                print_json(&rep, vo.anchor_seq);
        else
                print_text(&rep, vo.anchor_seq);
        return rep.ok ? 0 : EXIT_BROKEN;
}

static int repair(int argc, char **argv)
{
        struct cd_audit_repair rep;
        struct cd_err err = { 0 };
        cleanup_free char *dir = NULL;
        struct cd_audit *log = NULL;
        struct opts o = { .state_dir = DEFAULT_STATE_DIR };
        int r = parse(argc, argv, &o);

        if (r != 0)
                return r > 0 ? 0 : CD_EXIT_USAGE;
        if (optind < argc || o.anchor || o.allow_pruned || o.json) {
                cli_error("audit repair", "takes only --state-dir (see --help)");
                return CD_EXIT_USAGE;
        }
        if (asprintf(&dir, "%s/audit", o.state_dir) < 0) {
                cli_error("audit repair", "out of memory");
                return EXIT_UNREADABLE;
        }
        r = cd_audit_open(dir, NULL, &log, &err);
        if (r == 0)
                r = cd_audit_repair(log, (uint32_t) getuid(), &rep, &err);
        log = cd_audit_close(log);
        if (r < 0) {
                cli_error("audit repair", "%s", err.msg);
                return err.code == CD_E_INVALID ? EXIT_BROKEN : EXIT_UNREADABLE;
        }
        if (rep.cut_bytes == 0)
                printf("nothing to repair: the log ends with a whole record\n");
        else
                printf("cut %" PRIu64 " bytes (sha256 %s) from the end of " CD_AUDIT_FILE
                       "; recorded as seq %" PRIu64 " (audit.repaired)\n",
                       rep.cut_bytes, rep.cut_sha256, rep.seq);
        return 0;
}

int cmd_audit(int argc, char **argv)
{
        /* getopt's messages start with argv[0]: "cordon audit verify: ...". */
        static char verify_prog[] = "cordon audit verify", repair_prog[] = "cordon audit repair";

        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                help();
                return 0;
        }
        if (argc >= 2 && strcmp(argv[1], "repair") == 0) {
                argv[1] = repair_prog;
                return repair(argc - 1, argv + 1);
        }
        if (argc < 2 || strcmp(argv[1], "verify") != 0) {
                cli_error("audit", "expected 'cordon audit verify [FILE|DIR]' or 'cordon audit "
                                   "repair' (see --help)");
                return CD_EXIT_USAGE;
        }
        argv[1] = verify_prog;
        return verify(argc - 1, argv + 1);
}
