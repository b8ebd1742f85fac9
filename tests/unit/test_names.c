/* SPDX-License-Identifier: MIT */
/*
 * Names of files leaving a sandbox (src/artifacts/names.c): which may
 * leave, and how the manifest shows the others.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cordon/artifacts.h"

static void acceptable_names(void **state)
{
        static const char *const ok[] = {
                "report.html",
                "a",
                "Ödegaard 2024.csv",
                "数据.json",
                "x-y_z.tar.gz",
                ".hidden",
                "..x",
                "emoji-\xf0\x9f\x93\x8a.png",
                ".gitignore",
                ".git2",
                "git",
                ".hgrc",
                ".jjx",
                "darcs",
                "_darcs_",
                ".fslckout~",
                "FOSSIL",
        };

        (void) state;
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                if (!cd_name_is_acceptable(ok[i], 255))
                        fail_msg("\"%s\" refused", ok[i]);
}

static void refused_names(void **state)
{
        static const char *const bad[] = {
                "", /* empty */
                ".",
                "..",   /* the directory itself, its parent */
                "-rf",  /* read as an option */
                ".git", /* a repository's config runs commands: any case */
                ".GIT",
                ".Git",
                ".hg",
                ".HG",
                ".sl", /* Sapling, Jujutsu, Pijul, Darcs, Fossil, Bazaar */
                ".jj",
                ".JJ",
                ".pijul",
                "_darcs",
                "_DARCS",
                ".fslckout",
                "_FOSSIL_",
                "_fossil_",
                ".bzr",
                "a/b",  /* not one component */
                "a\\b", /* the manifest's escape character */
                "new\nline",
                "tab\there",
                "esc\x1b[31m",
                "del\x7f",
                "c1-\xc2\x85",               /* U+0085 NEL */
                "report\xe2\x80\xaegnp.exe", /* U+202E right-to-left override */
                "lrm\xe2\x80\x8e",           /* U+200E left-to-right mark */
                "alm\xd8\x9c",               /* U+061C Arabic letter mark */
                "iso\xe2\x81\xa6x",          /* U+2066 left-to-right isolate */
                "zw\xe2\x80\x8bsp",          /* U+200B zero-width space */
                "zwj\xe2\x80\x8d",           /* U+200D zero-width joiner */
                "ls\xe2\x80\xa8",            /* U+2028 line separator */
                "wj\xe2\x81\xa0",            /* U+2060 word joiner */
                "\357\273\277bom.csv", /* U+FEFF byte order mark (octal: hex escapes run on) */
                "soft\xc2\xadhyphen",  /* U+00AD soft hyphen */
                "bad\xff",             /* not UTF-8 */
                "over\xc0\xaf",        /* overlong '/' */
                "sur\xed\xa0\x80",     /* a surrogate */
                "cut\xe2\x80",         /* truncated sequence */
                "tag\xf3\xa0\x80\xa0", /* U+E0020 tag space */
                "vs\xef\xb8\x8f",      /* U+FE0F variation selector 16 */
                "vs\xf3\xa0\x84\x80",  /* U+E0100 variation selector 17 */
                "cgj\xcd\x8f",         /* U+034F combining grapheme joiner */
                "fill\xe3\x85\xa4",    /* U+3164 Hangul filler */
                "fill\xe1\x85\x9f",    /* U+115F Hangul choseong filler */
                "fill\xef\xbe\xa0",    /* U+FFA0 halfwidth Hangul filler */
                "a\xc2\xa0"
                "b.csv", /* U+00A0 no-break space */
                "a\xe2\x80\xaf"
                "b.csv", /* U+202F narrow no-break space */
                "a\xe3\x80\x80"
                "b.csv",             /* U+3000 ideographic space */
                "blank\xe2\xa0\x80", /* U+2800 braille blank */
        };

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (cd_name_is_acceptable(bad[i], 255))
                        fail_msg("name %zu accepted", i);
}

/* What Windows or a case-folding file system opens as a repository's
 * directory: refused by name, and so from a name or a path alike. */
static void folded_repository_names(void **state)
{
        static const char *const bad[] = {
                ".git.", /* Win32 drops trailing dots and spaces */
                ".git ",
                ".git. .",
                ".HG. ",
                ".git::$INDEX_ALLOCATION", /* NTFS: the directory's own index */
                ".git:$I30:$INDEX_ALLOCATION",
                ".git:stream", /* a stream of .git */
                ".git:",
                ".jj. :x",
                "GIT~1", /* 8.3 short names: .git's alias */
                "git~1",
                "GI7EBA~1",
                "FSLCKO~1",
                "git~1.",
                "git~1:x",
                "report~1", /* any name shaped like an alias */
                "a~123456",
                "_darc\xc5\xbf",        /* U+017F long s */
                ".\xc5\xbfl",           /* U+017F */
                ".f\xc5\xbflckout",     /* U+017F */
                ".fslc\xe2\x84\xaaout", /* U+212A Kelvin sign */
                "_FO\xc3\x9fIL_",       /* U+00DF sharp s: "ss", full folding */
                "_FO\xe1\xba\x9eIL_",   /* U+1E9E capital sharp s */
                ".g\xc4\xb0t",          /* U+0130, Turkic fold to 'i' */
                ".g\xc4\xb1t",          /* U+0131 dotless i */
                ".\xc5\xbfl. ::$DATA",  /* folded and cut */
                "\xc5\xbfL~1",          /* folded before the short-name test */
        };

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (!cd_name_is_repository(bad[i]))
                        fail_msg("name %zu is not a repository", i);
                if (cd_name_is_acceptable(bad[i], 255))
                        fail_msg("name %zu accepted", i);
        }
}

/* Near the folded names above, but none of them. */
static void folded_near_misses(void **state)
{
        static const char *const ok[] = {
                ".gitignore",
                ".github",
                "git~",
                ".git~",
                ".git~1", /* aliases have no leading '.' */
                "a.git",
                ".gitx:y",
                "report:2024.csv",
                "x~1.txt",
                "abcdefg~1", /* 7 characters before '~' */
                "git~1234567",
                "git~1a",
                "~1",
                "report.sl.csv",
                "\xc5\xbf",           /* U+017F alone: "s" */
                "._darc\xc5\xbf",     /* "._darcs": not "_darcs" */
                "\xef\xac\x81le.txt", /* U+FB01 "fi" ligature */
        };

        (void) state;
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                if (cd_name_is_repository(ok[i]))
                        fail_msg("name %zu is a repository", i);
                if (!cd_name_is_acceptable(ok[i], 255))
                        fail_msg("name %zu refused", i);
        }
}

/* Dots and spaces go however many there are; a folded name too long
 * for any repository name is none. */
static void folded_length(void **state)
{
        char name[1100];

        (void) state;
        memset(name, '.', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        memcpy(name, ".git", 4);
        assert_true(cd_name_is_repository(name));
        memcpy(name + 1000, ": x", 4);
        assert_true(cd_name_is_repository(name));
        memset(name, 'a', 40);
        memcpy(name + 40, ".git", 5);
        assert_false(cd_name_is_repository(name));
}

static void length_limit(void **state)
{
        char name[257];

        (void) state;
        memset(name, 'n', 256);
        name[256] = '\0';
        assert_false(cd_name_is_acceptable(name, 255));
        name[255] = '\0';
        assert_true(cd_name_is_acceptable(name, 255));
        assert_false(cd_name_is_acceptable(name, 254));
        /* Bytes, not characters: 3 bytes of 'Ö' and 'x' are 3 bytes. */
        assert_false(cd_name_is_acceptable("\xc3\x96x", 2));
        assert_true(cd_name_is_acceptable("\xc3\x96x", 3));
}

/* A directory git takes for a repository although none of its names is
 * refused: a bare repository's layout, or a linked worktree's git dir. */
static void repository_layouts(void **state)
{
        static char *bare[] = { "HEAD", "config", "objects", "refs", NULL };
        static char *folded[] = { "head", "Objects", "REFS", NULL };
        static char *worktree[] = { "HEAD", "commondir", NULL };
        static char *no_head[] = { "config", "objects", "refs", NULL };
        static char *no_refs[] = { "HEAD", "objects", "report.csv", NULL };
        static char *head_only[] = { "HEAD", NULL };
        static char *none[] = { NULL };
        /* As Windows or a case-folding file system takes them. */
        static char *windows[] = { "HEAD.", "objects ", "refs::$INDEX_ALLOCATION", NULL };
        static char *casefold[] = { "HEAD", "object\u017f", "ref\u017f", NULL };
        static char *worktree_folded[] = { "head:x", "commondir.", NULL };
        static char *near[] = { "HEADER", "objects", "refs", NULL };

        (void) state;
        assert_true(cd_names_are_repository(windows));
        assert_true(cd_names_are_repository(casefold));
        assert_true(cd_names_are_repository(worktree_folded));
        assert_false(cd_names_are_repository(near));
        assert_true(cd_name_folds_to("HEAD. ", "HEAD"));
        assert_false(cd_name_folds_to("HEADS", "HEAD"));
        assert_true(cd_names_are_repository(bare));
        assert_true(cd_names_are_repository(folded));
        assert_true(cd_names_are_repository(worktree));
        assert_false(cd_names_are_repository(no_head));
        assert_false(cd_names_are_repository(no_refs));
        assert_false(cd_names_are_repository(head_only));
        assert_false(cd_names_are_repository(none));
        assert_false(cd_names_are_repository(NULL));
}

static void escaped_for_display(void **state)
{
        static const char *const cases[][2] = {
                { "report.html", "report.html" },
                { "Ödegaard.csv", "Ödegaard.csv" },
                { "new\nline", "new\\x0aline" },
                { "esc\x1b[31m", "esc\\x1b[31m" },
                { "a\\b", "a\\x5cb" },
                { "report\xe2\x80\xaegnp.exe", "report\\xe2\\x80\\xaegnp.exe" },
                { "zw\xe2\x80\x8bsp", "zw\\xe2\\x80\\x8bsp" },
                { "bad\xff", "bad\\xff" },
        };

        (void) state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *e = cd_name_escape(cases[i][0]);

                assert_non_null(e);
                assert_string_equal(e, cases[i][1]);
                free(e);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(acceptable_names),    cmocka_unit_test(refused_names),
                cmocka_unit_test(length_limit),        cmocka_unit_test(repository_layouts),
                cmocka_unit_test(escaped_for_display), cmocka_unit_test(folded_repository_names),
                cmocka_unit_test(folded_near_misses),  cmocka_unit_test(folded_length),
        };

        return cmocka_run_group_tests_name("names", tests, NULL, NULL);
}
