/* SPDX-License-Identifier: MIT */
/* What a file name leaving the sandbox may look like, and how to show one. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cordon/artifacts.h"
#include "cordon/util.h"

/* Characters that show as nothing, or as a plain space: two names that
 * differ by one look the same. Format characters (the zero-width ones,
 * joiners, separators, BOM, tags), variation selectors, the combining
 * grapheme joiner, fillers and the spaces other than U+0020. */
static bool invisible(unsigned int cp)
{
        return cp == 0xa0 || cp == 0xad || cp == 0x034f || cp == 0x115f || cp == 0x1160 ||
               cp == 0x1680 || cp == 0x17b4 || cp == 0x17b5 || cp == 0x180e ||
               (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
               (cp >= 0x205f && cp <= 0x206f) || cp == 0x2800 || cp == 0x3000 || cp == 0x3164 ||
               (cp >= 0xfe00 && cp <= 0xfe0f) || cp == 0xfeff || cp == 0xffa0 ||
               (cp >= 0xfff9 && cp <= 0xfffb) || (cp >= 0x1d173 && cp <= 0x1d17a) ||
               (cp >= 0xe0000 && cp <= 0xe0fff);
}

/* Control characters (C0, DEL, C1), the bidirectional controls that can
 * make a name display as something it is not ("gnp.exe" shown as
 * "exe.png": U+061C, U+200E-F, U+202A-E, U+2066-9), and the invisible
 * characters above. */
static bool deceptive(unsigned int cp)
{
        return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || invisible(cp);
}

/*
 * (artifacts.h) The directories (and files) version control tools look for
 * in a tree: made in one, they make it a repository whose configuration
 * names commands the tool runs, as whoever runs it there, and a shell
 * prompt runs some of them in every directory it enters. git:
 * core.fsmonitor, core.pager, hooks (".git" as a file, "gitdir: ...",
 * points elsewhere). Mercurial and Sapling: [hooks], [extensions]. Jujutsu:
 * .jj/repo/config.toml (ui.pager, diff tools). Pijul: [hooks]. Darcs:
 * _darcs/prefs/defaults (posthooks). Fossil: a checkout database naming a
 * repository whose settings name commands (diff-command, editor). Bazaar
 * and Breezy: .bzr, whose branch configuration loads no code but is
 * refused with the rest. A tree copied out for an admin is the admin's
 * own, so git's safe.directory check trusts it. In any case: these tools
 * on a file system that folds case (vfat, exfat, ext4 casefold) take
 * ".GIT" for ".git".
 */
static const char *const repository_names[] = {
        ".git", ".hg", ".sl", ".jj", ".pijul", "_darcs", ".fslckout", "_FOSSIL_", ".bzr", NULL,
};

/* @name is in the NULL-terminated @names, in any case. */
static bool has_name(const char *const *names, const char *name)
{
        for (; names && *names; names++)
                if (strcasecmp(*names, name) == 0)
                        return true;
        return false;
}

/*
 * Every code point Unicode's CaseFolding.txt (14.0: simple, full and
 * Turkic folds) folds to ASCII. A case-insensitive ext4 (casefold) folds
 * C and F entries (the kernel's mkutf8data.c): it opens "_darc\u017f" as
 * "_darcs" and "_FO\u00dfIL_" as "_FOSSIL_". U+0131 is the Turkic fold of
 * 'I' and uppercases to it. No name here holds the ligatures' letter pairs;
 * they are listed so that the list is whole.
 */
static const struct {
        unsigned int cp;
        const char *ascii;
} ascii_folds[] = {
        { 0x00df, "ss" },  { 0x0130, "i" },  { 0x0131, "i" },  { 0x017f, "s" },  { 0x1e9e, "ss" },
        { 0x212a, "k" },   { 0xfb00, "ff" }, { 0xfb01, "fi" }, { 0xfb02, "fl" }, { 0xfb03, "ffi" },
        { 0xfb04, "ffl" }, { 0xfb05, "st" }, { 0xfb06, "st" },
};

static const char *ascii_fold(unsigned int cp)
{
        for (size_t i = 0; i < sizeof(ascii_folds) / sizeof(ascii_folds[0]); i++)
                if (ascii_folds[i].cp == cp)
                        return ascii_folds[i].ascii;
        return NULL;
}

/* Room for any repository name or short name (6 characters of 4 bytes,
 * '~', 6 digits) once folded. */
#define FOLDED_MAX 32

/*
 * @name as Windows and case-folding file systems may take it, into @out.
 * Win32 path handling ends a name at its last character other than '.'
 * and ' ' (".git. ." opens .git), and NTFS reads what follows a ':' as a
 * stream of the file before it (".git::$INDEX_ALLOCATION" is the
 * directory .git itself: git's is_ntfs_dotgit). Folding makes no '.', ' '
 * or ':' (nor does a multibyte UTF-8 sequence hold one), so those are cut
 * on the bytes first. False if the rest does not fit: then it is none of
 * the names.
 */
static bool fold(const char *name, char out[static FOLDED_MAX])
{
        const unsigned char *s = (const unsigned char *) name;
        size_t n = strcspn(name, ":"), o = 0;

        while (n > 0 && (s[n - 1] == '.' || s[n - 1] == ' '))
                n--;
        for (size_t i = 0; i < n;) {
                unsigned int cp;
                size_t len = cd_utf8_decode(s + i, n - i, &cp);
                const char *to = len > 0 ? ascii_fold(cp) : NULL;
                size_t m;

                if (len == 0) /* not UTF-8 (refused anyway): kept byte by byte */
                        len = 1;
                m = to ? strlen(to) : len;
                if (o + m >= FOLDED_MAX)
                        return false;
                memcpy(out + o, to ? to : name + i, m);
                o += m;
                i += len;
        }
        out[o] = '\0';
        return true;
}

/*
 * NTFS gives a name that is not 8.3 a short alias (.git: GIT~1, or after
 * four of a kind a hashed one such as GI7EBA~1) unless the volume has
 * them off, and a path written with the alias opens the existing
 * directory: "git~1/config" unpacked into a checkout lands in its .git
 * (git's CVE-2019-1353). Which aliases a tree has is not known here, so
 * every name shaped like a directory's alias (1 to 6 characters other
 * than '.' and '~', '~', 1 to 6 digits) is refused. That refuses an
 * ordinary "report~1" too: a rare name, and a clear bad_name rather than
 * a file that lands elsewhere.
 */
static bool short_name(const char *folded)
{
        size_t base = strcspn(folded, ".~"), chars = 0, digits;

        for (size_t i = 0; i < base; i++) /* UTF-8 lead bytes (others are 10xxxxxx) */
                chars += ((unsigned char) folded[i] & 0xc0) != 0x80;
        if (chars == 0 || chars > 6 || folded[base] != '~')
                return false;
        digits = strspn(folded + base + 1, "0123456789");
        return digits >= 1 && digits <= 6 && folded[base + 1 + digits] == '\0';
}

bool cd_name_is_repository(const char *name)
{
        char folded[FOLDED_MAX];

        return fold(name, folded) && (has_name(repository_names, folded) || short_name(folded));
}

/*
 * (artifacts.h) git takes a directory for a repository when it holds a
 * HEAD (read: a ref or an object id) and objects and refs, there or where
 * a commondir file says (setup.c, is_git_directory: only access(2), so any
 * file type will do). A bare repository needs no .git: one laid out under
 * any name runs its config's core.pager when git log is used inside it on
 * a terminal, and any command git runs there reads its config. Without the
 * HEAD, git passes it by.
 */
bool cd_name_folds_to(const char *name, const char *ascii)
{
        char folded[FOLDED_MAX];

        return fold(name, folded) && strcasecmp(folded, ascii) == 0;
}

/* One of @names folds to @ascii (cd_name_folds_to()). */
static bool has_folded(char *const *names, const char *ascii)
{
        for (; names && *names; names++)
                if (cd_name_folds_to(*names, ascii))
                        return true;
        return false;
}

bool cd_names_are_repository(char *const *names)
{
        return has_folded(names, "HEAD") &&
               (has_folded(names, "commondir") ||
                (has_folded(names, "objects") && has_folded(names, "refs")));
}

bool cd_name_is_acceptable(const char *name, uint64_t max_bytes)
{
        const unsigned char *s = (const unsigned char *) name;
        size_t n = strlen(name);

        if (n == 0 || n > max_bytes || name[0] == '-' || strcmp(name, ".") == 0 ||
            strcmp(name, "..") == 0 || cd_name_is_repository(name))
                return false;
        for (size_t i = 0; i < n;) {
                unsigned int cp;
                size_t len = cd_utf8_decode(s + i, n - i, &cp);

                /* '\\' starts an escape in the manifest (cd_name_escape): a name
                 * holding one would be listed differently from its copy. */
                if (len == 0 || cp == '/' || cp == '\\' || deceptive(cp))
                        return false;
                i += len;
        }
        return true;
}

char *cd_name_escape(const char *name)
{
        const unsigned char *s = (const unsigned char *) name;
        size_t n = strlen(name), o = 0;
        char *out = malloc(n * 4 + 1);

        if (!out)
                return NULL;
        for (size_t i = 0; i < n;) {
                unsigned int cp;
                size_t len = cd_utf8_decode(s + i, n - i, &cp);

                if (len == 0 || deceptive(cp) || cp == '\\') {
                        o += (size_t) snprintf(out + o, 5, "\\x%02x", s[i]);
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
