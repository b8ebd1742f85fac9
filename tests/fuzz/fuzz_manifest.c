/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer targets over the artifact collector (include/cordon/artifacts.h),
 * the only way anything leaves a sandbox, and it runs as root. The threat is
 * a hostile job's /out (Judge0 CVE-2024-28185/28189: a root process that
 * followed a symlink the job planted).
 *
 * fuzz_manifest: the input is a small program that builds a /out in a
 * private tmpfs (directories, files with raw-byte names, symlinks to a host
 * canary, hardlinks, FIFOs, sockets, devices, odd modes) and the rules;
 * cd_artifacts_collect copies it into an empty directory, and a model of the
 * tree predicts the manifest item by item.
 *
 * fuzz_names (this file built with -DCD_FUZZ_NAMES_ONLY): raw bytes up to
 * the first NUL straight into cd_name_is_acceptable and cd_name_escape.
 *
 * Input of fuzz_manifest (a missing byte reads as 0, which picks the
 * defaults):
 *   6 bytes of rules: max_files, max_total_bytes, max_file_bytes, max_depth
 *   (low 4 bits index a table each), max_name_bytes (0: 255, 255: no limit),
 *   types (0: NULL, any type; otherwise bits 0..6 pick from a list, so 0x80
 *   is the empty list);
 *   then operations, one byte (modulo 9) and its arguments:
 *     0 mkdir   dir name
 *     1 file    dir name template len bytes[len]
 *     2 symlink dir name target (7: len bytes[len])
 *     3 link    dir name source (0: the canary outside the tree)
 *     4 fifo    dir name         5 socket dir name    6 device dir name kind
 *     7 chmod   entry mode_hi mode_lo
 *     8 grow    file size        (ftruncate: sparse, across the sniff and
 *                                 copy chunk sizes)
 *   "dir" picks one of the directories made so far (0 is /out itself);
 *   "name" is a length byte and that many raw bytes, or 0, a length byte and
 *   a fill byte for a long name (200..255 bytes). Names holding NUL or '/',
 *   "." and ".." are skipped: they cannot name an entry.
 *
 * Besides the sanitizers, it abort()s when an invariant breaks:
 * - every entry the walk can reach is in the manifest exactly once, in the
 *   walk's order, with the reason the model predicts (bad_name before the
 *   type; symlink, fifo, socket, device, hardlink for st_nlink > 1,
 *   too_deep, too_many, too_large, unreadable where the job could not read
 *   it), and nothing else is; counts and byte totals match the manifest and
 *   never exceed the caps;
 *   a taken file's type is allowed, a type_not_allowed one's is not, and
 *   files with the same first bytes get the same type;
 * - every taken file is a regular file in the copy, mode 0600, owned by
 *   root, one link, with the manifest's size and SHA-256, equal to what was
 *   written; the copy holds exactly the walked directories (mode 0700) and
 *   the taken files;
 * - no byte of the canaries leaves (copy or manifest); nothing appears
 *   outside the destination, the canaries keep their content and mtime,
 *   and the source tree is unchanged;
 * - every manifest path is valid UTF-8 without control, C1 or
 *   bidirectional characters, and unescapes to the entry's raw path;
 *   cd_manifest_to_json succeeds, json_dumps it and json_loads gives the
 *   same document, with the documented reason strings;
 * - the collector gives back this thread's fsuid and fsgid (0), leaves no
 *   child process and no fd.
 * fuzz_names: cd_name_escape's output is valid UTF-8 without bytes below
 * 0x20, DEL, C1 or bidirectional controls, unescapes to the name, keeps
 * exactly the printable UTF-8 except '\' (shown as \x5c); an acceptable
 * name therefore shows as itself with '\' as \x5c; cd_name_is_acceptable
 * agrees with the rules in artifacts.h at every length limit.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sanitizer/asan_interface.h>

#include "cordon/artifacts.h"

#ifdef CD_FUZZ_NAMES_ONLY
#define TARGET "fuzz_names"
#else
#define TARGET "fuzz_manifest"
int LLVMFuzzerInitialize(int *argc, char ***argv);
#endif
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* libFuzzer writes the crash input next: as root, not as the job. */
static void back_to_root(void)
{
        (void) syscall(SYS_setfsuid, 0);
        (void) syscall(SYS_setfsgid, 0);
}

#define FUZZ_TARGET  TARGET
#define FUZZ_ON_FAIL back_to_root
#include "fuzz-check.h"

/* One UTF-8 sequence at @s (@n bytes left), RFC 3629 table 3-7: its length
 * and code point, or 0 (bad lead byte, truncated, overlong, surrogate,
 * above U+10FFFF). Written apart from names.c on purpose: it is the oracle. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
        size_t len;
        uint32_t c;

        if (s[0] < 0x80) {
                *cp = s[0];
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                len = 2, c = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                len = 3, c = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                len = 4, c = s[0] & 0x07;
        else
                return 0;
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = c << 6 | (s[i] & 0x3f);
        }
        if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
            (c >= 0xd800 && c <= 0xdfff))
                return 0;
        *cp = c;
        return len;
}

/* What a shown name may not hold: C0, DEL, C1, the bidirectional controls
 * (LRM/RLM, ALM, embeddings and overrides, isolates) and the invisible
 * characters (soft hyphen, Mongolian vowel separator, zero-width space and
 * joiners, line and paragraph separators, word joiner and invisible
 * operators, BOM, interlinear annotation; the spaces other than U+0020:
 * no-break, Ogham, en quad to hair, narrow no-break, medium mathematical,
 * ideographic; the combining grapheme joiner, Hangul and Khmer fillers,
 * the braille blank, variation selectors, musical formatting, tags). */
static bool invisible(uint32_t c)
{
        static const uint32_t one[] = { 0x00a0, 0x00ad, 0x034f, 0x115f, 0x1160, 0x1680, 0x17b4,
                                        0x17b5, 0x180e, 0x2800, 0x3000, 0x3164, 0xfeff, 0xffa0 };
        static const uint32_t range[][2] = {
                { 0x2000, 0x200f }, { 0x2028, 0x202f },   { 0x205f, 0x206f },   { 0xfe00, 0xfe0f },
                { 0xfff9, 0xfffb }, { 0x1d173, 0x1d17a }, { 0xe0000, 0xe0fff },
        };

        for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++)
                if (c == one[i])
                        return true;
        for (size_t i = 0; i < sizeof(range) / sizeof(range[0]); i++)
                if (c >= range[i][0] && c <= range[i][1])
                        return true;
        return false;
}

static bool forbidden(uint32_t c)
{
        return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c || invisible(c);
}

/* The names cd_name_is_repository documents in artifacts.h, in code
 * points: cut at ':', trailing '.' and ' ' dropped, the code points that
 * case folding makes ASCII folded, then one of the names in any case or
 * shaped like an 8.3 short name. */
static bool model_repository(const char *name)
{
        static const char *const vcs[] = { ".git",   ".hg",       ".sl",      ".jj", ".pijul",
                                           "_darcs", ".fslckout", "_FOSSIL_", ".bzr" };
        static const struct {
                uint32_t from;
                const char *to;
        } folds[] = { { 0xdf, "ss" },   { 0x130, "i" },    { 0x131, "i" },    { 0x17f, "s" },
                      { 0x1e9e, "ss" }, { 0x212a, "k" },   { 0xfb00, "ff" },  { 0xfb01, "fi" },
                      { 0xfb02, "fl" }, { 0xfb03, "ffi" }, { 0xfb04, "ffl" }, { 0xfb05, "st" },
                      { 0xfb06, "st" } };
        const unsigned char *s = (const unsigned char *) name;
        size_t n = strlen(name), k = 0, base, digits;
        uint32_t *cps = malloc((3 * n + 1) * sizeof(*cps));
        bool match = false;

        CHECK(cps, "out of memory");
        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t len = utf8_next(s + i, n - i, &c);
                size_t f = 0;

                if (len == 0) { /* refused by the acceptability rules anyway */
                        free(cps);
                        return false;
                }
                if (c == ':')
                        break;
                while (f < ELEMENTS(folds) && folds[f].from != c)
                        f++;
                if (f == ELEMENTS(folds))
                        cps[k++] = c >= 'A' && c <= 'Z' ? c + 32 : c;
                for (const char *t = f < ELEMENTS(folds) ? folds[f].to : ""; *t; t++)
                        cps[k++] = (uint32_t) *t;
                i += len;
        }
        while (k > 0 && (cps[k - 1] == '.' || cps[k - 1] == ' '))
                k--;
        for (size_t v = 0; v < ELEMENTS(vcs) && !match; v++) {
                size_t j = 0;

                while (j < k && vcs[v][j] &&
                       cps[j] == (uint32_t) tolower((unsigned char) vcs[v][j]))
                        j++;
                match = j == k && !vcs[v][j];
        }
        for (base = 0; base < k && cps[base] != '.' && cps[base] != '~'; base++)
                ;
        for (digits = 0; base + 1 + digits < k && cps[base + 1 + digits] >= '0' &&
                         cps[base + 1 + digits] <= '9';
             digits++)
                ;
        match = match || (base >= 1 && base <= 6 && base < k && cps[base] == '~' && digits >= 1 &&
                          digits <= 6 && base + 1 + digits == k);
        free(cps);
        return match;
}

/* The rules cd_name_is_acceptable documents in artifacts.h. */
static bool model_acceptable(const char *name, uint64_t max_bytes)
{
        const unsigned char *s = (const unsigned char *) name;
        size_t n = strlen(name);

        if (n == 0 || n > max_bytes || name[0] == '-' || strcmp(name, ".") == 0 ||
            strcmp(name, "..") == 0 || model_repository(name))
                return false;
        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t len = utf8_next(s + i, n - i, &c);

                if (len == 0 || c == '/' || c == '\\' || forbidden(c))
                        return false;
                i += len;
        }
        return true;
}

/* "Printable UTF-8 kept, everything else as \xNN", '\' included so that
 * the display is unambiguous. Returns a new string. */
static char *model_escape(const char *name)
{
        const unsigned char *s = (const unsigned char *) name;
        size_t n = strlen(name), o = 0;
        char *out = malloc(4 * n + 1);

        CHECK(out, "out of memory");
        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t len = utf8_next(s + i, n - i, &c);

                if (len == 0 || forbidden(c) || c == '\\') {
                        out[o++] = '\\';
                        out[o++] = 'x';
                        out[o++] = "0123456789abcdef"[s[i] >> 4];
                        out[o++] = "0123456789abcdef"[s[i] & 15];
                        i++;
                        continue;
                }
                memcpy(out + o, s + i, len);
                o += len;
                i += len;
        }
        out[o] = '\0';
        return out;
}

static int hexval(unsigned char c)
{
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Check a shown name or path (cd_name_escape output) and decode it into
 * @raw (strlen(@shown) + 1 bytes). Returns the raw length. */
static size_t check_shown(const char *shown, char *raw)
{
        const unsigned char *s = (const unsigned char *) shown;
        size_t n = strlen(shown), o = 0;

        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t len = utf8_next(s + i, n - i, &c);

                CHECK(len > 0, "shown name is not valid UTF-8 at byte %zu", i);
                CHECK(!forbidden(c), "shown name holds U+%04X at byte %zu", (unsigned int) c, i);
                if (c == '\\') {
                        CHECK(i + 4 <= n && s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 &&
                                      hexval(s[i + 3]) >= 0,
                              "shown name has a '\\' that is not \\xNN at byte %zu", i);
                        raw[o++] = (char) (hexval(s[i + 2]) << 4 | hexval(s[i + 3]));
                        i += 4;
                        continue;
                }
                memcpy(raw + o, s + i, len);
                o += len;
                i += len;
        }
        raw[o] = '\0';
        return o;
}

static void check_name(const char *name)
{
        size_t n = strlen(name);
        char *shown = cd_name_escape(name), *want = model_escape(name), *raw;
        bool ok = cd_name_is_acceptable(name, UINT64_MAX);

        CHECK(shown, "cd_name_escape returned NULL");
        raw = malloc(strlen(shown) + 1);
        CHECK(raw, "out of memory");
        CHECK(check_shown(shown, raw) == n && memcmp(raw, name, n) == 0,
              "cd_name_escape(\"%s\") = \"%s\" does not decode to the name", want, shown);
        CHECK(strcmp(shown, want) == 0, "cd_name_escape(\"%s\") = \"%s\"", want, shown);
        CHECK(ok == model_acceptable(name, UINT64_MAX), "cd_name_is_acceptable(\"%s\") = %d", want,
              ok);
        CHECK(cd_name_is_acceptable(name, n) == ok, "\"%s\" changes at its own length", want);
        CHECK(n == 0 || !cd_name_is_acceptable(name, n - 1),
              "\"%s\" (%zu bytes) acceptable with a limit of %zu", want, n, n - 1);
        free(raw);
        free(want);
        free(shown);
}

#ifdef CD_FUZZ_NAMES_ONLY

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *name = strndup((const char *) data, size);

        CHECK(name, "out of memory");
        check_name(name);
        free(name);
        return 0;
}

#else /* fuzz_manifest */

/* The job's host uid and gid, as a slot lease gives (docs/architecture.md). */
#define JOB_UID     ((uid_t) 1879048192 + 977)
#define JOB_GID     ((gid_t) 1879048192 + 977)
#define SHM         "/dev/shm"
#define MAX_ENTRIES 64
#define MAX_OPS     256
#define MAX_CONTENT 512
#define SNIFF_BYTES 65536        /* CD_SNIFF_BYTES: what the type is sniffed from */
#define MAX_SPARSE  (6ULL << 20) /* ftruncate'd bytes per input; copies are not sparse */
#define WALK        (-1)         /* classify(): a directory the walk enters */
#define SNIFF       (-2)         /* classify(): taken or type_not_allowed */

enum kind { K_DIR, K_REG, K_LNK, K_FIFO, K_SOCK, K_CHR, K_BLK };

struct inode {
        enum kind kind;
        mode_t mode;    /* permission bits, setuid, setgid and sticky included */
        bool job_owned; /* false: the canary, root's */
        unsigned int nlink;
        uint64_t size;
        size_t len; /* bytes written; zeros follow up to size */
        unsigned char content[MAX_CONTENT];
};

struct entry {
        int parent; /* its directory's entry; -1 for /out */
        int ino;
        int fd; /* directories: open, to create entries in */
        char name[256];
        char *path; /* from /out, raw bytes joined with '/' */
};

struct tree {
        struct inode ino[MAX_ENTRIES + 2]; /* [0] the canary, [1] /out */
        struct entry e[MAX_ENTRIES + 1];   /* [0] /out */
        size_t n_ino, n;
        uint64_t sparse;
};

/* The docs' spelling of each reason (docs/cli.md), checked against the library's. */
static const char *const reasons[_CD_REFUSAL_MAX] = {
        [CD_TAKEN] = "taken",
        [CD_REFUSED_SYMLINK] = "symlink",
        [CD_REFUSED_FIFO] = "fifo",
        [CD_REFUSED_DEVICE] = "device",
        [CD_REFUSED_SOCKET] = "socket",
        [CD_REFUSED_HARDLINK] = "hardlink",
        [CD_REFUSED_TOO_LARGE] = "too_large",
        [CD_REFUSED_TOO_MANY] = "too_many",
        [CD_REFUSED_TOO_DEEP] = "too_deep",
        [CD_REFUSED_BAD_NAME] = "bad_name",
        [CD_REFUSED_TYPE_NOT_ALLOWED] = "type_not_allowed",
        [CD_REFUSED_UNREADABLE] = "unreadable",
        [CD_REFUSED_OUT_OF_TIME] = "out_of_time",
        [CD_REFUSED_CANCELLED] = "cancelled",
        [CD_REFUSED_SNIFF_TIMEOUT] = "sniff_timeout",
        [CD_REFUSED_SNIFF_FAILED] = "sniff_failed",
};

static const char *reason(int r)
{
        return r == WALK ? "walked" : r == SNIFF ? "taken or type_not_allowed" : reasons[r];
}

static int shm_fd = -1, scratch_fd = -1;
static char secret[64], outside_secret[64];
static struct timespec canary_mtime;

/* ---- input ---- */

struct rd {
        const uint8_t *p;
        size_t n;
};

static uint8_t u8(struct rd *r)
{
        if (r->n == 0)
                return 0;
        r->n--;
        return *r->p++;
}

static size_t bytes(struct rd *r, size_t want, void *out)
{
        size_t k = want < r->n ? want : r->n;

        memcpy(out, r->p, k);
        r->p += k;
        r->n -= k;
        return k;
}

static bool read_name(struct rd *r, char name[256])
{
        size_t len = u8(r);

        if (len == 0) {
                len = 200 + u8(r) % 56;
                memset(name, u8(r), len);
        } else {
                len = bytes(r, len, name);
        }
        name[len] = '\0';
        return len > 0 && strlen(name) == len && !memchr(name, '/', len) &&
               strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static const uint64_t counts[16] = { 1000, 0, 1,  2,  3,  4,   5,       6,
                                     7,    8, 10, 16, 32, 100, 1000000, UINT64_MAX };
static const uint64_t sizes[16] = { 1ULL << 30, 0,     1,     2,          63,
                                    64,         255,   256,   300,        4096,
                                    65535,      65536, 65537, 1ULL << 20, (1ULL << 20) + 1,
                                    UINT64_MAX };
static const uint64_t depths[16] = {
        16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 32, 64, 1000, UINT64_MAX
};
static const char *const mime_types[7] = {
        "text/plain",
        "text/csv",
        "application/json",
        "image/png",
        "text/x-c",
        "application/x-empty",
        "application/octet-stream",
};

static void read_rules(struct rd *r, struct cd_artifact_rules *a, char *types[8])
{
        uint8_t b;
        size_t k = 0;

        a->max_files = counts[u8(r) & 15];
        a->max_total_bytes = sizes[u8(r) & 15];
        a->max_file_bytes = sizes[u8(r) & 15];
        a->max_depth = depths[u8(r) & 15];
        b = u8(r);
        a->max_name_bytes = b == 0 ? 255 : b == 255 ? UINT64_MAX : b;
        a->max_time_ms = 0; /* no time budget: the model has no clock */
        b = u8(r);
        a->types = NULL;
        if (b == 0)
                return;
        for (size_t i = 0; i < ELEMENTS(mime_types); i++)
                if (b & (1u << i))
                        types[k++] = (char *) mime_types[i];
        types[k] = NULL;
        a->types = types;
}

/* ---- building /out ---- */

#define T(s)                                                                                       \
        {                                                                                          \
                s, sizeof(s) - 1                                                                   \
        }
static const struct {
        const char *data;
        size_t len;
} templates[] = {
        T(""),
        T("\x7f"
          "ELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00\x01\x00\x00\x00"
          "\x00\x10\x40\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
          "\x00\x00\x00\x00\x00\x00\x00\x00\x40\x00\x38\x00\x00\x00\x40\x00\x00\x00\x00\x00"),
        T("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
          "\x00\x90wS\xde"),
        T("%PDF-1.4\n"),
        T("PK\x03\x04\x14\x00\x00\x00\x08\x00"),
        T("{\"id\": 1, \"name\": \"x\", \"values\": [1, 2, 3]}\n"),
        T("id,name,value\n1,a,2.5\n2,b,3.5\n3,c,4.5\n"),
        T("-----BEGIN PGP MESSAGE-----\n\n"),
        T("GIF89a\x01\x00\x01\x00"),
        T("#!/bin/sh\n"),
        T("<!DOCTYPE html>\n<html><head><title>x</title></head><body>"),
        T("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"),
        T("#include <stdio.h>\nint main(void)\n{\n"),
};

static void setup_check(bool ok, const char *what)
{
        CHECK(ok, "setup: %s: %s", what, strerror(errno));
}

/* Hand a new entry to the job, as its own files are, with exactly @mode
 * (chown clears setuid and setgid, so it comes first). */
static void own(int dirfd, const char *name, mode_t mode, bool is_link)
{
        setup_check(fchownat(dirfd, name, JOB_UID, JOB_GID, AT_SYMLINK_NOFOLLOW) == 0, "chown");
        if (!is_link)
                setup_check(fchmodat(dirfd, name, mode, 0) == 0, "chmod");
}

static int add_inode(struct tree *t, enum kind k, mode_t mode)
{
        t->ino[t->n_ino] = (struct inode){ .kind = k, .mode = mode, .job_owned = true, .nlink = 1 };
        return (int) t->n_ino++;
}

static int add_entry(struct tree *t, int parent, int ino, const char *name)
{
        struct entry *e = &t->e[t->n];

        *e = (struct entry){ .parent = parent, .ino = ino, .fd = -1 };
        (void) snprintf(e->name, sizeof(e->name), "%s", name);
        CHECK(asprintf(&e->path, "%s%s%s", t->e[parent].path, parent ? "/" : "", name) >= 0,
              "out of memory");
        check_name(name);
        return (int) t->n++;
}

static int pick(const struct tree *t, uint8_t b, enum kind k, bool job_owned)
{
        int found[MAX_ENTRIES + 1], n = 0;

        for (size_t i = 0; i < t->n; i++)
                if (t->ino[t->e[i].ino].kind == k && (!job_owned || t->ino[t->e[i].ino].job_owned))
                        found[n++] = (int) i;
        return n ? found[b % n] : -1;
}

static int dir_depth(const struct tree *t, int e)
{
        int d = 0;

        for (; t->e[e].parent >= 0; e = t->e[e].parent)
                d++;
        return d;
}

static void op_mkdir(struct tree *t, struct rd *r)
{
        int p = pick(t, u8(r), K_DIR, false), fd, e;
        char name[256];

        if (!read_name(r, name) || mkdirat(t->e[p].fd, name, 0700) < 0)
                return;
        own(t->e[p].fd, name, 0755, false);
        fd = openat(t->e[p].fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        setup_check(fd >= 0, "open a new directory");
        e = add_entry(t, p, add_inode(t, K_DIR, 0755), name);
        t->e[e].fd = fd;
}

static void op_file(struct tree *t, struct rd *r)
{
        int p = pick(t, u8(r), K_DIR, false), fd;
        struct inode *i = &t->ino[t->n_ino];
        size_t tpl, len;
        char name[256];
        bool named = read_name(r, name);

        tpl = u8(r) % ELEMENTS(templates);
        memcpy(i->content, templates[tpl].data, templates[tpl].len);
        len = templates[tpl].len + bytes(r, u8(r), i->content + templates[tpl].len);
        if (!named)
                return;
        fd = openat(t->e[p].fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return;
        setup_check(write(fd, i->content, len) == (ssize_t) len, "write");
        (void) close(fd);
        own(t->e[p].fd, name, 0644, false);
        /* add_inode clears the content: keep it. */
        i->len = len;
        i->size = len;
        i->kind = K_REG;
        i->mode = 0644;
        i->job_owned = true;
        i->nlink = 1;
        add_entry(t, p, (int) t->n_ino++, name);
}

/* A target for a planted link: if it were followed, it would lead out of
 * /out (the canary, the outside directory, host files) or around in it. */
static char *link_target(const struct tree *t, int p, const char *name, uint8_t kind, struct rd *r)
{
        int up = dir_depth(t, p), d;
        size_t cap = 3 * (size_t) (up + 2) + 4096 * 2;
        char *s = calloc(1, cap), raw[256];
        size_t o = 0;

        CHECK(s, "out of memory");
        switch (kind % 9) {
        case 0:
                (void) snprintf(s, cap, SHM "/canary");
                break;
        case 1: /* from @p up to /dev/shm, then the canary */
                for (int i = 0; i <= up; i++)
                        o += (size_t) snprintf(s + o, cap - o, "../");
                (void) snprintf(s + o, cap - o, "canary");
                break;
        case 2:
                (void) snprintf(s, cap, "..");
                break;
        case 3:
                (void) snprintf(s, cap, SHM "/outside");
                break;
        case 4: /* a directory of the tree, relative from @p */
                d = pick(t, u8(r), K_DIR, false);
                for (int i = 0; i < up; i++)
                        o += (size_t) snprintf(s + o, cap - o, "../");
                (void) snprintf(s + o, cap - o, "%s", d ? t->e[d].path : ".");
                break;
        case 5:
                (void) snprintf(s, cap, "/etc/shadow");
                break;
        case 6:
                (void) snprintf(s, cap, "/proc/self/root" SHM "/canary");
                break;
        case 7:
                raw[bytes(r, u8(r) % 128, raw)] = '\0';
                (void) snprintf(s, cap, "%s", raw);
                break;
        default:
                (void) snprintf(s, cap, "%s", name); /* a loop */
        }
        return s;
}

static void op_symlink(struct tree *t, struct rd *r)
{
        int p = pick(t, u8(r), K_DIR, false);
        char name[256], *target;
        bool named = read_name(r, name);

        target = link_target(t, p, name, u8(r), r);
        if (named && symlinkat(target, t->e[p].fd, name) == 0) {
                own(t->e[p].fd, name, 0, true);
                add_entry(t, p, add_inode(t, K_LNK, 0777), name);
        }
        free(target);
}

/* A second name for the canary (outside /out, root's) or for a file of the tree. */
static void op_link(struct tree *t, struct rd *r)
{
        int p = pick(t, u8(r), K_DIR, false), src, ino, rc;
        char name[256];
        bool named = read_name(r, name);
        uint8_t b = u8(r);

        src = b ? pick(t, b, K_REG, false) : -1;
        if (!named)
                return;
        if (src < 0) {
                ino = 0;
                rc = linkat(shm_fd, "canary", t->e[p].fd, name, 0);
        } else {
                ino = t->e[src].ino;
                rc = linkat(t->e[t->e[src].parent].fd, t->e[src].name, t->e[p].fd, name, 0);
        }
        if (rc < 0)
                return;
        t->ino[ino].nlink++;
        add_entry(t, p, ino, name);
}

static void op_fifo(struct tree *t, struct rd *r)
{
        int p = pick(t, u8(r), K_DIR, false);
        char name[256];

        if (!read_name(r, name) || mkfifoat(t->e[p].fd, name, 0600) < 0)
                return;
        own(t->e[p].fd, name, 0644, false);
        add_entry(t, p, add_inode(t, K_FIFO, 0644), name);
}

/* bind(2) takes a path of at most 107 bytes: bind in the scratch directory,
 * then move the socket to its (up to 255-byte) name. */
static void op_socket(struct tree *t, struct rd *r)
{
        static const struct sockaddr_un a = { .sun_family = AF_UNIX, .sun_path = SHM "/scratch/s" };
        int p = pick(t, u8(r), K_DIR, false), s;
        char name[256];

        if (!read_name(r, name))
                return;
        s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setup_check(s >= 0 && bind(s, (const struct sockaddr *) &a, sizeof(a)) == 0, "bind");
        (void) close(s);
        if (renameat2(scratch_fd, "s", t->e[p].fd, name, RENAME_NOREPLACE) < 0) {
                setup_check(unlinkat(scratch_fd, "s", 0) == 0, "unlink a socket");
                return;
        }
        own(t->e[p].fd, name, 0755, false);
        add_entry(t, p, add_inode(t, K_SOCK, 0755), name);
}

/* /dev/null's or loop0's numbers; the tmpfs is nodev, and nothing opens them. */
static void op_device(struct tree *t, struct rd *r)
{
        int p = pick(t, u8(r), K_DIR, false);
        char name[256];
        bool named = read_name(r, name), blk = u8(r) & 1;

        if (!named || mknodat(t->e[p].fd, name, (blk ? S_IFBLK : S_IFCHR) | 0600,
                              blk ? makedev(7, 0) : makedev(1, 3)) < 0)
                return;
        own(t->e[p].fd, name, 0666, false);
        add_entry(t, p, add_inode(t, blk ? K_BLK : K_CHR, 0666), name);
}

/* Any mode, setuid and friends included, on anything but /out itself,
 * symlinks (chmod follows them) and the canary. */
static void op_chmod(struct tree *t, struct rd *r)
{
        uint8_t b = u8(r);
        mode_t mode = (mode_t) ((u8(r) << 8 | u8(r)) & 07777);
        const struct entry *e;
        struct inode *i;

        if (t->n < 2)
                return;
        e = &t->e[1 + b % (t->n - 1)];
        i = &t->ino[e->ino];
        if (i->kind == K_LNK || !i->job_owned)
                return;
        setup_check(fchmodat(t->e[e->parent].fd, e->name, mode, 0) == 0, "chmod");
        i->mode = mode;
}

/* Sizes around the sniffer's 64 KiB head and the copy's 1 MiB chunk. */
static void op_grow(struct tree *t, struct rd *r)
{
        static const uint64_t grow[] = { 0,
                                         1,
                                         SNIFF_BYTES - 1,
                                         SNIFF_BYTES,
                                         SNIFF_BYTES + 1,
                                         1 << 20,
                                         (1 << 20) + 1,
                                         (2 << 20) + 3 };
        int f = pick(t, u8(r), K_REG, true), fd;
        uint64_t size = grow[u8(r) % ELEMENTS(grow)];
        struct inode *i;
        struct stat st;

        if (f < 0 || t->sparse + size > MAX_SPARSE)
                return;
        i = &t->ino[t->e[f].ino];
        fd = openat(t->e[t->e[f].parent].fd, t->e[f].name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
        setup_check(fd >= 0 && ftruncate(fd, (off_t) size) == 0 && fstat(fd, &st) == 0, "truncate");
        (void) close(fd);
        t->sparse += size;
        i->size = size;
        if (i->len > size)
                i->len = size;
        i->mode = st.st_mode & 07777; /* root keeps setuid across truncate (CAP_FSETID) */
}

static void build_tree(struct tree *t, struct rd *r)
{
        static void (*const ops[])(struct tree *, struct rd *) = {
                op_mkdir,  op_file,   op_symlink, op_link, op_fifo,
                op_socket, op_device, op_chmod,   op_grow,
        };
        int fd;

        t->n = t->n_ino = 0;
        t->sparse = 0;
        add_inode(t, K_REG, 0644);
        t->ino[0].job_owned = false;
        t->ino[0].size = strlen(secret);
        setup_check(mkdirat(shm_fd, "out", 0700) == 0, "mkdir out");
        own(shm_fd, "out", 0755, false);
        fd = openat(shm_fd, "out", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        setup_check(fd >= 0, "open out");
        t->e[0] = (struct entry){ .parent = -1, .ino = add_inode(t, K_DIR, 0755), .fd = fd };
        t->e[0].path = strdup("");
        CHECK(t->e[0].path, "out of memory");
        t->n = 1;
        for (int i = 0; r->n > 0 && i < MAX_OPS && t->n < ELEMENTS(t->e); i++)
                ops[u8(r) % ELEMENTS(ops)](t, r);
}

static void free_tree(struct tree *t)
{
        for (size_t i = 0; i < t->n; i++) {
                if (t->e[i].fd >= 0)
                        (void) close(t->e[i].fd);
                free(t->e[i].path);
        }
        t->n = 0;
}

/* ---- looking at what is there ---- */

static int open_dir(int dirfd, const char *name)
{
        return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Call @fn for each name in @dirfd (not "." or ".."); returns how many. */
static size_t each(int dir, void (*fn)(int dirfd, const char *name, void *ctx), void *ctx)
{
        int fd = open_dir(dir, ".");
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *de;
        size_t n = 0;

        CHECK(d, "opendir: %s", strerror(errno));
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                        n++;
                        if (fn)
                                fn(dirfd(d), de->d_name, ctx);
                }
        (void) closedir(d);
        return n;
}

static size_t count_fds(void)
{
        int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        size_t n;

        CHECK(fd >= 0, "open /proc/self/fd: %s", strerror(errno));
        n = each(fd, NULL, NULL);
        (void) close(fd);
        return n;
}

/* All of @fd's bytes (up to a few MiB here), NUL-terminated; *@n their count. */
static char *slurp(int fd, size_t *n)
{
        struct stat st;
        char *buf;
        ssize_t k;

        CHECK(fstat(fd, &st) == 0 && st.st_size < (64 << 20), "fstat a copied file");
        buf = malloc((size_t) st.st_size + 1);
        CHECK(buf, "out of memory");
        *n = 0;
        while (*n < (size_t) st.st_size &&
               (k = pread(fd, buf + *n, (size_t) st.st_size - *n, (off_t) *n)) > 0)
                *n += (size_t) k;
        CHECK(*n == (size_t) st.st_size, "short read of a copied file");
        buf[*n] = '\0';
        return buf;
}

/* Byte loops, not memmem() or memcmp(): libFuzzer hooks those and would
 * learn the canaries from the comparison, then write them into /out. */
static bool contains(const char *buf, size_t n, const char *needle)
{
        size_t k = strlen(needle);

        for (size_t i = 0; i + k <= n; i++) {
                size_t j = 0;

                while (j < k && buf[i + j] == needle[j])
                        j++;
                if (j == k)
                        return true;
        }
        return false;
}

static bool holds_secret(const char *buf, size_t n)
{
        return contains(buf, n, secret) || contains(buf, n, outside_secret);
}

static void sha256_hex(const void *const *parts, const size_t *lens, size_t n, char out[65])
{
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int dlen = 0;
        EVP_MD_CTX *c = EVP_MD_CTX_new();

        CHECK(c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1, "EVP init");
        for (size_t i = 0; i < n; i++)
                CHECK(EVP_DigestUpdate(c, parts[i], lens[i]) == 1, "EVP update");
        CHECK(EVP_DigestFinal_ex(c, d, &dlen) == 1 && dlen == 32, "EVP final");
        EVP_MD_CTX_free(c);
        for (unsigned int i = 0; i < dlen; i++)
                (void) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The SHA-256 of what the model says @i holds: its content, then zeros. */
static void model_sha256(const struct inode *i, char out[65])
{
        static const char zeros[(2 << 20) + 3];
        const void *parts[2] = { i->content, zeros };
        size_t lens[2] = { i->len, (size_t) (i->size - i->len) };

        CHECK(i->size - i->len <= sizeof(zeros), "model: file too large");
        sha256_hex(parts, lens, 2, out);
}

/* ---- the oracle: the walk as the model predicts it ---- */

struct oracle {
        const struct tree *t;
        const struct cd_manifest *m;
        const struct cd_artifact_rules *rules;
        size_t k; /* next manifest item */
        uint64_t files, bytes;
        size_t in_dest;               /* walked directories and taken files */
        int sniffed[MAX_ENTRIES + 1]; /* entries given a type, and their items */
        size_t sniffed_item[MAX_ENTRIES + 1], n_sniffed;
};

static char *esc(const char *raw)
{
        static char *last;

        free(last);
        last = model_escape(raw);
        return last;
}

/* The entries in @dir, in the collector's order (strcmp of the raw names). */
static size_t children(const struct tree *t, int dir, int *out)
{
        size_t n = 0;

        for (size_t i = 1; i < t->n; i++) {
                size_t j = n++;

                if (t->e[i].parent != dir) {
                        n--;
                        continue;
                }
                for (; j > 0 && strcmp(t->e[out[j - 1]].name, t->e[i].name) > 0; j--)
                        out[j] = out[j - 1];
                out[j] = (int) i;
        }
        return n;
}

/* What the collector must do with @e, found in a directory of mode @dir_mode
 * at @depth (1 for /out's entries), reading with the job's rights: the owner
 * bits, since the job owns its files (the canary is only ever a hardlink). */
static int classify(const struct oracle *o, mode_t dir_mode, const struct entry *e, uint64_t depth)
{
        const struct cd_artifact_rules *r = o->rules;
        const struct inode *i = &o->t->ino[e->ino];

        if (!(dir_mode & S_IXUSR))
                return CD_REFUSED_UNREADABLE; /* fstatat needs search permission */
        if (!model_acceptable(e->name, r->max_name_bytes))
                return CD_REFUSED_BAD_NAME;
        switch (i->kind) {
        case K_DIR:
                if (depth >= r->max_depth)
                        return CD_REFUSED_TOO_DEEP;
                return i->mode & S_IRUSR ? WALK : CD_REFUSED_UNREADABLE;
        case K_REG:
                if (i->nlink > 1)
                        return CD_REFUSED_HARDLINK;
                CHECK(i->job_owned, "model: the canary with one link in the tree");
                if (o->files >= r->max_files)
                        return CD_REFUSED_TOO_MANY;
                if (i->size > r->max_file_bytes || o->bytes + i->size > r->max_total_bytes)
                        return CD_REFUSED_TOO_LARGE;
                return i->mode & S_IRUSR ? SNIFF : CD_REFUSED_UNREADABLE;
        case K_LNK:
                return CD_REFUSED_SYMLINK;
        case K_FIFO:
                return CD_REFUSED_FIFO;
        case K_SOCK:
                return CD_REFUSED_SOCKET;
        default:
                return CD_REFUSED_DEVICE;
        }
}

static const struct cd_artifact *next_item(struct oracle *o, const struct entry *e)
{
        const struct cd_artifact *a;
        char *raw;
        size_t n;

        CHECK(o->k < o->m->n, "%s is not in the manifest (%zu items)", esc(e->path), o->m->n);
        a = &o->m->items[o->k++];
        CHECK(a->path, "item %zu has no path", o->k - 1);
        raw = malloc(strlen(a->path) + 1);
        CHECK(raw, "out of memory");
        n = check_shown(a->path, raw);
        CHECK(n == strlen(e->path) && memcmp(raw, e->path, n) == 0,
              "item %zu is \"%s\", expected \"%s\"", o->k - 1, a->path, esc(e->path));
        free(raw);
        return a;
}

static bool type_listed(const struct cd_artifact_rules *r, const char *type)
{
        if (!r->types)
                return true;
        for (size_t i = 0; r->types[i]; i++)
                if (strcmp(r->types[i], type) == 0)
                        return true;
        return false;
}

/* The shape cd_sniffer_type promises: lowercase MIME "x/y". */
static void check_mime(const char *path, const char *type)
{
        const char *slash = strchr(type, '/');
        size_t n = strnlen(type, 128);

        CHECK(n < 128 && slash && slash != type && slash[1] && !strchr(slash + 1, '/') &&
                      strspn(type, "abcdefghijklmnopqrstuvwxyz0123456789/+-._") == n,
              "%s: type \"%.128s\" is not a MIME type", path, type);
}

/* The copy of a taken file: a new regular file of root's, mode 0600, with
 * the model's bytes. */
static void check_copy(const struct oracle *o, const struct entry *e, const struct cd_artifact *a,
                       int dest_fd)
{
        const struct inode *i = &o->t->ino[e->ino];
        int fd = openat(dest_fd, e->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        char want[65], got[65], *buf;
        struct stat st;
        size_t n;

        CHECK(fd >= 0, "%s: taken but not in the copy", a->path);
        CHECK(fstat(fd, &st) == 0 && S_ISREG(st.st_mode), "%s: copy is not a regular file",
              a->path);
        CHECK((st.st_mode & 07777) == 0600 && st.st_uid == 0 && st.st_nlink == 1,
              "%s: copy has mode %o, uid %u, %lu links", a->path, st.st_mode & 07777,
              (unsigned int) st.st_uid, (unsigned long) st.st_nlink);
        CHECK((uint64_t) st.st_size == i->size && a->size == i->size,
              "%s: size %llu in the manifest, %llu copied, %llu written", a->path,
              (unsigned long long) a->size, (unsigned long long) st.st_size,
              (unsigned long long) i->size);
        buf = slurp(fd, &n);
        sha256_hex((const void *const[]){ buf }, (const size_t[]){ n }, 1, got);
        model_sha256(i, want);
        CHECK(strcmp(a->sha256, want) == 0 && strcmp(got, want) == 0,
              "%s: sha256 %s in the manifest, %s copied, %s written", a->path, a->sha256, got,
              want);
        CHECK(!holds_secret(buf, n), "%s: the copy holds a canary", a->path);
        free(buf);
        (void) close(fd);
}

static void check_sniffed(struct oracle *o, int ei, const struct cd_artifact *a, int dest_fd)
{
        const struct entry *e = &o->t->e[ei];
        const struct inode *i = &o->t->ino[e->ino];

        CHECK(a->refused == CD_TAKEN || a->refused == CD_REFUSED_TYPE_NOT_ALLOWED,
              "%s: refused %s, expected taken or type_not_allowed (the sniffer died, hung, or its "
              "answer was refused)",
              a->path, reasons[a->refused]);
        check_mime(a->path, a->type);
        /* Refused by its tail (src/artifacts/types.c): an allowed head, a
         * listed type set; else the head's type decides. */
        if (a->tail_type) {
                check_mime(a->path, a->tail_type);
                CHECK(a->refused == CD_REFUSED_TYPE_NOT_ALLOWED && o->rules->types &&
                              type_listed(o->rules, a->type),
                      "%s: %s with type %s and tail type %s", a->path, reasons[a->refused], a->type,
                      a->tail_type);
        } else {
                CHECK(type_listed(o->rules, a->type) == (a->refused == CD_TAKEN),
                      "%s: %s with type %s", a->path, reasons[a->refused], a->type);
        }
        o->sniffed[o->n_sniffed] = ei;
        o->sniffed_item[o->n_sniffed++] = o->k - 1;
        if (a->refused != CD_TAKEN)
                return;
        o->files++;
        o->bytes += i->size;
        o->in_dest++;
        check_copy(o, e, a, dest_fd);
}

static void expect_dir(struct oracle *o, int dir, int dest_fd, uint64_t depth);

static void expect_walked(struct oracle *o, int ei, int dest_fd, uint64_t depth)
{
        const struct entry *e = &o->t->e[ei];
        int sub = open_dir(dest_fd, e->name);
        struct stat st;

        CHECK(sub >= 0, "%s: walked, but not a directory in the copy", esc(e->path));
        CHECK(fstat(sub, &st) == 0 && st.st_uid == 0 && (st.st_mode & 07777) == 0700,
              "%s: copied directory has mode %o", esc(e->path), st.st_mode & 07777);
        o->in_dest++;
        expect_dir(o, ei, sub, depth + 1);
        (void) close(sub);
}

static void expect_dir(struct oracle *o, int dir, int dest_fd, uint64_t depth)
{
        int kids[MAX_ENTRIES + 1];
        size_t n = children(o->t, dir, kids);
        mode_t mode = o->t->ino[o->t->e[dir].ino].mode;

        for (size_t i = 0; i < n; i++) {
                const struct entry *e = &o->t->e[kids[i]];
                int want = classify(o, mode, e, depth);
                const struct cd_artifact *a;

                if (want == WALK) {
                        expect_walked(o, kids[i], dest_fd, depth);
                        continue;
                }
                a = next_item(o, e);
                if (want == SNIFF) {
                        check_sniffed(o, kids[i], a, dest_fd);
                        continue;
                }
                CHECK((int) a->refused == want, "%s: %s, expected %s", a->path, reasons[a->refused],
                      reason(want));
        }
}

/* Two files whose first 64 KiB are equal get the same type: the sniffer's
 * answers are not shifted or mixed up. */
static bool same_head(const struct inode *a, const struct inode *b)
{
        uint64_t ha = a->size < SNIFF_BYTES ? a->size : SNIFF_BYTES;
        uint64_t hb = b->size < SNIFF_BYTES ? b->size : SNIFF_BYTES;
        size_t common = a->len < b->len ? a->len : b->len;
        const struct inode *longer = a->len > b->len ? a : b;

        if (ha != hb || memcmp(a->content, b->content, common) != 0)
                return false;
        for (size_t k = common; k < longer->len && k < ha; k++)
                if (longer->content[k] != 0)
                        return false;
        return true;
}

static void check_types(const struct oracle *o)
{
        for (size_t i = 0; i < o->n_sniffed; i++)
                for (size_t j = i + 1; j < o->n_sniffed; j++) {
                        const struct cd_artifact *a = &o->m->items[o->sniffed_item[i]];
                        const struct cd_artifact *b = &o->m->items[o->sniffed_item[j]];

                        CHECK(!same_head(&o->t->ino[o->t->e[o->sniffed[i]].ino],
                                         &o->t->ino[o->t->e[o->sniffed[j]].ino]) ||
                                      strcmp(a->type, b->type) == 0,
                              "%s is %s but %s, same bytes, is %s", a->path, a->type, b->path,
                              b->type);
                }
}

/* Everything in the copy is a directory or a regular file; count them. */
static void count_copy(int dirfd, const char *name, void *ctx)
{
        size_t *n = ctx;
        struct stat st;

        CHECK(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0, "stat in the copy");
        CHECK(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode), "the copy holds a %s (mode %o)",
              S_ISLNK(st.st_mode)    ? "symlink"
              : S_ISFIFO(st.st_mode) ? "FIFO"
              : S_ISSOCK(st.st_mode) ? "socket"
                                     : "device",
              st.st_mode);
        (*n)++;
        if (S_ISDIR(st.st_mode)) {
                int fd = open_dir(dirfd, name);

                CHECK(fd >= 0, "open a directory of the copy");
                (void) each(fd, count_copy, ctx);
                (void) close(fd);
        }
}

static void check_manifest(const struct tree *t, const struct cd_artifact_rules *rules,
                           const struct cd_manifest *m, int dest_fd)
{
        struct oracle o = { .t = t, .m = m, .rules = rules };
        size_t in_copy = 0;

        expect_dir(&o, 0, dest_fd, 1);
        CHECK(o.k == m->n, "the manifest has %zu items, the tree %zu (first extra: \"%s\")", m->n,
              o.k, m->items[o.k].path);
        CHECK(m->files == o.files && m->bytes == o.bytes,
              "manifest counts %llu files, %llu bytes; taken: %llu, %llu",
              (unsigned long long) m->files, (unsigned long long) m->bytes,
              (unsigned long long) o.files, (unsigned long long) o.bytes);
        CHECK(m->refused == m->n - m->files, "manifest counts %llu refused of %zu items",
              (unsigned long long) m->refused, m->n);
        CHECK(m->files <= rules->max_files && m->bytes <= rules->max_total_bytes,
              "caps exceeded: %llu files, %llu bytes", (unsigned long long) m->files,
              (unsigned long long) m->bytes);
        check_types(&o);
        (void) each(dest_fd, count_copy, &in_copy);
        CHECK(in_copy == o.in_dest, "the copy holds %zu entries, expected %zu", in_copy, o.in_dest);
}

/* The manifest as JSON: dumps, loads back equal, says what the items say. */
static void check_json(const struct cd_manifest *m)
{
        json_t *j = cd_manifest_to_json(m), *back;
        json_error_t jerr;
        char *dump;

        CHECK(j && json_is_array(j) && json_array_size(j) == m->n, "cd_manifest_to_json failed");
        dump = json_dumps(j, JSON_COMPACT);
        CHECK(dump, "json_dumps of the manifest failed");
        if (secure_getenv("CORDON_FUZZ_VERBOSE"))
                fprintf(stderr, "manifest: %s\n", dump);
        CHECK(!holds_secret(dump, strlen(dump)), "the manifest holds a canary");
        back = json_loads(dump, JSON_REJECT_DUPLICATES, &jerr);
        CHECK(back && json_equal(j, back), "the manifest does not round-trip: %s", jerr.text);
        for (size_t i = 0; i < m->n; i++) {
                const struct cd_artifact *a = &m->items[i];
                json_t *e = json_array_get(j, i);
                const char *why = json_string_value(json_object_get(e, "refused"));

                CHECK(strcmp(json_string_value(json_object_get(e, "path")), a->path) == 0,
                      "item %zu: JSON path differs", i);
                CHECK(a->refused == CD_TAKEN ? !why : why && strcmp(why, reasons[a->refused]) == 0,
                      "%s: JSON says refused \"%s\", expected %s", a->path, why ? why : "(none)",
                      reasons[a->refused]);
                CHECK(a->refused != CD_TAKEN && a->refused != CD_REFUSED_TYPE_NOT_ALLOWED
                              ? !json_object_get(e, "type")
                              : strcmp(json_string_value(json_object_get(e, "type")), a->type) == 0,
                      "%s: JSON type differs", a->path);
                CHECK(a->tail_type
                              ? json_string_value(json_object_get(e, "tail_type")) &&
                                        strcmp(json_string_value(json_object_get(e, "tail_type")),
                                               a->tail_type) == 0
                              : !json_object_get(e, "tail_type"),
                      "%s: JSON tail type differs", a->path);
                if (a->refused == CD_TAKEN)
                        CHECK(json_integer_value(json_object_get(e, "size")) ==
                                              (json_int_t) a->size &&
                                      strcmp(json_string_value(json_object_get(e, "sha256")),
                                             a->sha256) == 0,
                              "%s: JSON size or sha256 differs", a->path);
        }
        json_decref(back);
        json_decref(j);
        free(dump);
}

/* The source tree is as built: each entry there, same type, mode, size and links. */
static void check_source(const struct tree *t, const char *when)
{
        static const mode_t fmt[] = {
                [K_DIR] = S_IFDIR,   [K_REG] = S_IFREG, [K_LNK] = S_IFLNK, [K_FIFO] = S_IFIFO,
                [K_SOCK] = S_IFSOCK, [K_CHR] = S_IFCHR, [K_BLK] = S_IFBLK
        };

        for (size_t k = 1; k < t->n; k++) {
                const struct entry *e = &t->e[k];
                const struct inode *i = &t->ino[e->ino];
                struct stat st;

                CHECK(fstatat(t->e[e->parent].fd, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                              (st.st_mode & S_IFMT) == fmt[i->kind],
                      "%s: %s is gone or changed type", when, esc(e->path));
                if (i->kind == K_LNK)
                        continue;
                CHECK((st.st_mode & 07777) == i->mode, "%s: %s has mode %o, expected %o", when,
                      esc(e->path), st.st_mode & 07777, i->mode);
                CHECK(i->kind != K_REG ||
                              ((uint64_t) st.st_size == i->size && st.st_nlink == i->nlink),
                      "%s: %s has size %lld and %lu links", when, esc(e->path),
                      (long long) st.st_size, (unsigned long) st.st_nlink);
        }
}

/* ---- outside the destination ---- */

struct names {
        const char *const *want;
        size_t n;
};

static void expect_name(int dirfd, const char *name, void *ctx)
{
        const struct names *w = ctx;

        (void) dirfd;
        for (size_t i = 0; i < w->n; i++)
                if (strcmp(w->want[i], name) == 0)
                        return;
        fail("\"%s\" appeared beside the destination", esc(name));
}

static void check_file(int dirfd, const char *name, const char *content)
{
        int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        size_t n;
        char *buf;

        CHECK(fd >= 0, "%s is gone", name);
        buf = slurp(fd, &n);
        CHECK(n == strlen(content) && contains(buf, n, content), "%s changed", name);
        free(buf);
        (void) close(fd);
}

/* /dev/shm holds what this target made and nothing else; the canaries are untouched. */
static void check_outside(bool with_tree, size_t canary_links)
{
        static const char *const all[] = { "canary", "outside", "scratch", "out", "dest" };
        struct names w = { all, with_tree ? 5 : 3 };
        struct stat st;
        int fd;

        CHECK(each(shm_fd, expect_name, &w) == w.n, "/dev/shm lost an entry");
        CHECK(fstatat(shm_fd, "canary", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
                      st.st_uid == 0 && (st.st_mode & 07777) == 0644 &&
                      st.st_nlink == canary_links && st.st_mtim.tv_sec == canary_mtime.tv_sec &&
                      st.st_mtim.tv_nsec == canary_mtime.tv_nsec,
              "the canary changed (mode %o, %lu links, expected %zu)", st.st_mode & 07777,
              (unsigned long) st.st_nlink, canary_links);
        check_file(shm_fd, "canary", secret);
        fd = open_dir(shm_fd, "outside");
        CHECK(fd >= 0 && each(fd, NULL, NULL) == 1, "the outside directory changed");
        check_file(fd, "file", outside_secret);
        (void) close(fd);
        CHECK(each(scratch_fd, NULL, NULL) == 0, "the scratch directory is not empty");
}

/* rm -r as root (modes do not stop it), through fds only. */
static void remove_entry(int dirfd, const char *name, void *ctx)
{
        int fd;

        (void) ctx;
        if (unlinkat(dirfd, name, 0) == 0)
                return;
        CHECK(errno == EISDIR, "cleanup: unlink: %s", strerror(errno));
        fd = open_dir(dirfd, name);
        CHECK(fd >= 0, "cleanup: open: %s", strerror(errno));
        (void) each(fd, remove_entry, NULL);
        (void) close(fd);
        CHECK(unlinkat(dirfd, name, AT_REMOVEDIR) == 0, "cleanup: rmdir: %s", strerror(errno));
}

/* The collector runs as root and switches this thread's fsuid to the job's
 * and back; it forks the sniffer and must reap it; it must close its fds. */
static void check_process(size_t fds)
{
        long fsuid = syscall(SYS_setfsuid, -1), fsgid = syscall(SYS_setfsgid, -1);
        size_t now = count_fds();

        CHECK(fsuid == 0 && fsgid == 0, "collect returned with fsuid %ld, fsgid %ld", fsuid, fsgid);
        CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "collect left a child process");
        CHECK(now == fds, "collect leaked %zd fds", (ssize_t) now - (ssize_t) fds);
}

static void collect(const struct tree *t, const struct cd_artifact_rules *rules, int dest)
{
        const struct cd_collect c = { .rules = rules,
                                      .job_uid = JOB_UID,
                                      .job_gid = JOB_GID,
                                      .dest_fd = dest,
                                      .cancel_fd = -1 };
        struct cd_manifest m = { 0 };
        struct cd_err err = { 0 };
        size_t fds = count_fds();
        int r = cd_artifacts_collect(t->e[0].fd, &c, &m, &err);

        CHECK(r == 0, "collect failed (%d): %s", r, err.msg);
        check_process(fds);
        check_manifest(t, rules, &m, dest);
        check_json(&m);
        cd_manifest_clear(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct tree t;
        struct rd r = { data, size };
        struct cd_artifact_rules rules;
        char *types[ELEMENTS(mime_types) + 1];
        size_t fds = count_fds();
        int dest;

        read_rules(&r, &rules, types);
        build_tree(&t, &r);
        check_source(&t, "setup");
        setup_check(mkdirat(shm_fd, "dest", 0755) == 0 && fchmodat(shm_fd, "dest", 0755, 0) == 0,
                    "mkdir dest");
        dest = open_dir(shm_fd, "dest");
        setup_check(dest >= 0, "open dest");

        collect(&t, &rules, dest);
        check_source(&t, "after collect");
        check_outside(true, t.ino[0].nlink);

        (void) close(dest);
        free_tree(&t);
        remove_entry(shm_fd, "out", NULL);
        remove_entry(shm_fd, "dest", NULL);
        check_outside(false, 1);
        CHECK(count_fds() == fds, "fds leaked over one input");
        return 0;
}

/* An ASan report inside the collector comes while this thread is the job
 * (setfsuid): become root again so that libFuzzer can write the crash input. */
static void asan_report(const char *report)
{
        (void) report;
        (void) syscall(SYS_setfsuid, 0);
        (void) syscall(SYS_setfsgid, 0);
}

static void write_new(int dirfd, const char *name, const char *content)
{
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

        setup_check(fd >= 0 && write(fd, content, strlen(content)) == (ssize_t) strlen(content),
                    name);
        (void) close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        unsigned char rnd[12];
        char hex[2 * sizeof(rnd) + 1];
        struct stat st;
        int fd;

        (void) argc;
        (void) argv;
        if (geteuid() != 0) {
                fputs(TARGET ": needs root (the collector switches fsuid and runs its sniffer "
                             "as another uid); skipped\n",
                      stderr);
                exit(77);
        }
        /* A private mount namespace with a tmpfs of its own on /dev/shm: the
         * host's /dev/shm never sees a file, even if this process is killed. */
        setup_check(unshare(CLONE_NEWNS) == 0 &&
                            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
                            mount("cordon-fuzz", SHM, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                  "size=64m,nr_inodes=16384,mode=0755") == 0,
                    "private tmpfs on " SHM);
        shm_fd = open(SHM, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        setup_check(shm_fd >= 0, SHM);
        setup_check(getrandom(rnd, sizeof(rnd), 0) == (ssize_t) sizeof(rnd), "getrandom");
        for (size_t i = 0; i < sizeof(rnd); i++)
                (void) snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
        (void) snprintf(secret, sizeof(secret), "CORDON-CANARY-%s", hex);
        (void) snprintf(outside_secret, sizeof(outside_secret), "CORDON-OUTSIDE-%s", hex);
        write_new(shm_fd, "canary", secret);
        setup_check(mkdirat(shm_fd, "outside", 0755) == 0, "mkdir outside");
        fd = open_dir(shm_fd, "outside");
        setup_check(fd >= 0, "open outside");
        write_new(fd, "file", outside_secret);
        (void) close(fd);
        setup_check(mkdirat(shm_fd, "scratch", 0700) == 0, "mkdir scratch");
        scratch_fd = open_dir(shm_fd, "scratch");
        setup_check(scratch_fd >= 0 && fstatat(shm_fd, "canary", &st, 0) == 0, "scratch");
        canary_mtime = st.st_mtim;
        __asan_set_error_report_callback(asan_report);
        return 0;
}

#endif
