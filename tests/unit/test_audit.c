/* SPDX-License-Identifier: MIT */
/*
 * audit/: appending records (chain, fields, locking, rotation, refusals,
 * failed writes) and `verify` against every kind of tampering: a flipped
 * byte anywhere, deleted, reordered, duplicated, truncated and forged lines,
 * edited seqs, tampered or removed rotated files. Hashes are recomputed here
 * with libcrypto, independently of the module. Wraps: write, pwrite,
 * ftruncate, fsync, fdatasync (failures, kills, and the file as it stood at
 * each write and sync of a repair).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit/audit-internal.h"
#include "cordon/audit.h"
#include "cordon/cleanup.h"
#include "cordon/crypto.h"
#include "cordon/util.h"
#include "unit.h"
#include "wrap.h"

#if defined(__SANITIZE_ADDRESS__)
#define UT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) /* clang */
#define UT_ASAN 1
#endif
#endif
#ifndef UT_ASAN
#define UT_ASAN 0
#endif

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

struct fixture {
        char *tmp;
        char *dir; /* tmp/audit, made by cd_audit_open */
        char *log; /* dir/audit.jsonl */
        struct cd_audit *a;
};

struct lines {
        char **v; /* without the newline */
        size_t n;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        *state = f;
        f->tmp = ut_mkdtemp();
        if (!f->tmp || asprintf(&f->dir, "%s/audit", f->tmp) < 0 ||
            asprintf(&f->log, "%s/" CD_AUDIT_FILE, f->dir) < 0)
                return -1;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        (void) alarm(0); /* a test's hang bound, when it failed before its end */
        cd_wrap_reset();
        ut_run_deferred();
        if (!f)
                return 0;
        f->a = cd_audit_close(f->a);
        (void) ut_rm_rf(f->tmp);
        free(f->tmp);
        free(f->dir);
        free(f->log);
        free(f);
        return 0;
}

static char *path_in(const struct fixture *f, const char *name)
{
        char *p;

        assert_true(asprintf(&p, "%s/%s", f->dir, name) > 0);
        return ut_defer(free, p);
}

static void reopen(struct fixture *f, uint64_t max_bytes)
{
        struct cd_audit_config cfg = { .max_bytes = max_bytes };
        struct cd_err err = { 0 };

        f->a = cd_audit_close(f->a);
        assert_int_equal(cd_audit_open(f->dir, &cfg, &f->a, &err), 0);
}

static int append_one(struct cd_audit *a, uint32_t writer, uint64_t i, struct cd_err *err)
{
        json_t *d = json_pack("{s:I, s:I, s:s}", "writer", (json_int_t) writer, "i", (json_int_t) i,
                              "sha256",
                              "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
        struct cd_audit_event e = {
                .event = CD_AUDIT_JOB_FINISHED,
                .uid = 1000 + writer,
                .role = "submit",
                .job = "5f0c2a9e",
                .profile = "python",
                .verdict = "ok",
                .details = d,
        };
        int r = cd_audit_append(a, &e, err);

        json_decref(d);
        return r;
}

static void append_n(struct fixture *f, unsigned int n)
{
        struct cd_err err = { 0 };

        for (unsigned int i = 0; i < n; i++)
                assert_int_equal(append_one(f->a, 0, i, &err), 0);
}

static bool append_n_fails(struct fixture *f, int code)
{
        struct cd_err err = { 0 };

        return append_one(f->a, 0, 0, &err) == code && err.code == -code;
}

static void sha_hex(const char *s, size_t len, char out[CD_AUDIT_HASH_HEX])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        assert_int_equal(EVP_Digest(s, len, md, &n, EVP_sha256(), NULL), 1);
        assert_int_equal(n, 32);
        for (unsigned int i = 0; i < n; i++)
                (void) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static char *slurp(const char *path, size_t *len)
{
        char *s = ut_read_file(AT_FDCWD, path, len);

        assert_non_null(s);
        return ut_defer(free, s);
}

static void strv_free(void *v)
{
        cd_strv_free(v);
}

static void json_free(void *j)
{
        json_decref(j);
}

static void audit_free(void *a)
{
        (void) cd_audit_close(a);
}

/* Split a file into lines; a final newline is required. */
static struct lines read_lines(const char *path)
{
        size_t len;
        char *s = slurp(path, &len);
        struct lines l = { 0 };
        char **v = NULL;

        assert_true(len > 0 && s[len - 1] == '\n');
        for (char *p = s, *nl; p < s + len; p = nl + 1) {
                nl = memchr(p, '\n', (size_t) (s + len - p));
                *nl = '\0';
                assert_int_equal(cd_strv_push(&v, p), 0);
                l.n++;
        }
        l.v = ut_defer(strv_free, v);
        return l;
}

static void write_lines(const char *path, char *const *v, size_t n, bool final_newline)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);

        assert_non_null(m);
        for (size_t i = 0; i < n; i++)
                fprintf(m, "%s%s", v[i], i + 1 < n || final_newline ? "\n" : "");
        assert_int_equal(fclose(m), 0);
        ut_defer(free, buf);
        assert_int_equal(ut_write_file(AT_FDCWD, path, buf, len), 0);
}

static struct cd_audit_report verify(const char *path, const struct cd_audit_verify_opts *o)
{
        struct cd_audit_report rep;
        struct cd_err err = { 0 };

        memset(&rep, 0x5a, sizeof(rep));
        assert_int_equal(cd_audit_verify(path, o, &rep, &err), 0);
        if (!rep.ok)
                assert_true(rep.problem[0] != '\0');
        return rep;
}

static void assert_broken(const struct cd_audit_report *rep, uint64_t line, uint64_t seq,
                          const char *text)
{
        if (rep->ok || rep->bad_line != line || rep->bad_seq != seq || !strstr(rep->problem, text))
                fail_msg("expected line %" PRIu64 " seq %" PRIu64 " \"%s\"; got ok=%d line %" PRIu64
                         " seq %" PRIu64 " \"%s\"",
                         line, seq, text, rep->ok, rep->bad_line, rep->bad_seq, rep->problem);
}

static int count_rotated(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                n += strncmp(de->d_name, "audit-", 6) == 0;
        (void) closedir(d);
        return n;
}

/* The sorted names of the rotated files. */
static char **rotated_names(const char *dir)
{
        struct dirent **list;
        char **v = NULL;
        int n = scandir(dir, &list, NULL, alphasort);

        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
                if (strncmp(list[i]->d_name, "audit-", 6) == 0)
                        assert_int_equal(cd_strv_push(&v, list[i]->d_name), 0);
                free(list[i]);
        }
        free(list);
        return ut_defer(strv_free, v);
}

/* ---- appending ---- */

/* The chain's SHA-256 (libcrypto's low-level calls) against known vectors
 * and against EVP over inputs of every length around the block size. */
static void sha256_hex_matches_evp(void **state)
{
        static const char abc[] =
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        static const char none[] =
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        char got[CD_AUDIT_HASH_HEX], want[CD_AUDIT_HASH_HEX];
        char *buf = ut_defer(free, malloc(1 << 20));

        (void) state;
        assert_int_equal(cd_sha256_hex("abc", 3, got, &(struct cd_err){ 0 }), 0);
        assert_string_equal(got, abc);
        assert_int_equal(cd_sha256_hex("", 0, got, &(struct cd_err){ 0 }), 0);
        assert_string_equal(got, none);
        for (size_t i = 0; i < (1 << 20); i++)
                buf[i] = (char) (i * 131 + (i >> 9));
        for (size_t len = 0; len <= 200; len++) {
                assert_int_equal(cd_sha256_hex(buf, len, got, &(struct cd_err){ 0 }), 0);
                sha_hex(buf, len, want);
                assert_string_equal(got, want);
        }
        assert_int_equal(cd_sha256_hex(buf, 1 << 20, got, &(struct cd_err){ 0 }), 0);
        sha_hex(buf, 1 << 20, want);
        assert_string_equal(got, want);
}

static void append_writes_a_chain(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_report rep;
        char hash[CD_AUDIT_HASH_HEX], want[96];
        struct lines l;

        reopen(f, 0);
        append_n(f, 5);
        l = read_lines(f->log);
        assert_int_equal(l.n, 5);
        for (size_t i = 0; i < l.n; i++) {
                (void) snprintf(want, sizeof(want), "{\"seq\":%zu,\"time\":\"", i + 1);
                assert_true(strncmp(l.v[i], want, strlen(want)) == 0);
                if (i == 0)
                        (void) snprintf(want, sizeof(want), "\"prev\":\"%s\"}", ZEROS);
                else {
                        sha_hex(l.v[i - 1], strlen(l.v[i - 1]), hash);
                        (void) snprintf(want, sizeof(want), "\"prev\":\"%s\"}", hash);
                }
                assert_string_equal(l.v[i] + strlen(l.v[i]) - strlen(want), want);
        }
        rep = verify(f->log, NULL);
        assert_true(rep.ok);
        assert_true(rep.genesis);
        assert_int_equal(rep.records, 5);
        assert_int_equal(rep.first_seq, 1);
        assert_int_equal(rep.last_seq, 5);
        sha_hex(l.v[4], strlen(l.v[4]), hash);
        assert_string_equal(rep.last_hash, hash);
        assert_string_equal(rep.start_note, "");
        /* A new handle (another process) continues the same chain. */
        reopen(f, 0);
        append_n(f, 1);
        rep = verify(f->dir, NULL);
        assert_true(rep.ok);
        assert_int_equal(rep.last_seq, 6);
}

/* Several events in one append: consecutive seqs, each chained to the one
 * before, one write; a bad event anywhere in the batch writes nothing. */
static void append_many_chains_a_batch(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_event e[3] = {
                { .event = CD_AUDIT_PROFILES_LOADED, .uid = 0 },
                { .event = CD_AUDIT_JOB_SUBMITTED, .uid = 0, .job = "j1" },
                { .event = CD_AUDIT_JOB_STARTED, .uid = 0, .job = "j1" },
        };
        const struct cd_audit_event *ev[3] = { &e[0], &e[1], &e[2] };
        struct cd_err err = { 0 };
        char hash[CD_AUDIT_HASH_HEX], want[96];
        struct cd_audit_report rep;
        struct lines l;

        reopen(f, 0);
        append_n(f, 1);
        assert_int_equal(cd_audit_append_many(f->a, ev, 3, &err), 0);
        l = read_lines(f->log);
        assert_int_equal(l.n, 4);
        for (size_t i = 1; i < 4; i++) {
                (void) snprintf(want, sizeof(want), "{\"seq\":%zu,", i + 1);
                assert_true(strncmp(l.v[i], want, strlen(want)) == 0);
                sha_hex(l.v[i - 1], strlen(l.v[i - 1]), hash);
                (void) snprintf(want, sizeof(want), "\"prev\":\"%s\"}", hash);
                assert_string_equal(l.v[i] + strlen(l.v[i]) - strlen(want), want);
        }
        assert_non_null(strstr(l.v[3], "\"event\":\"job.started\""));
        rep = verify(f->log, NULL);
        assert_true(rep.ok);
        assert_int_equal(rep.last_seq, 4);

        /* A bad event in the middle: nothing of the batch is written. */
        e[1].event = "Not An Event";
        assert_int_equal(cd_audit_append_many(f->a, ev, 3, &err), -CD_E_INVALID);
        assert_int_equal(cd_audit_append_many(f->a, ev, 0, &err), -CD_E_INVALID);
        l = read_lines(f->log);
        assert_int_equal(l.n, 4);
        /* And the next append continues the chain. */
        append_n(f, 1);
        rep = verify(f->log, NULL);
        assert_true(rep.ok);
        assert_int_equal(rep.last_seq, 5);
}

static void record_holds_exactly_what_was_given(void **state)
{
        struct fixture *f = *state;
        json_t *d = json_pack("{s:I, s:s, s:b, s:[s, s]}", "bytes", (json_int_t) 4096, "sha256",
                              "ab12", "truncated", 0, "inputs", "cd01", "ef23");
        struct cd_audit_event e = { .event = CD_AUDIT_ARTIFACT_READ,
                                    .uid = 4242,
                                    .role = "read",
                                    .job = "0a1b2c",
                                    .details = d };
        struct cd_err err = { 0 };
        static const char *const order[] = { "seq",     "time",    "event",   "actor", "job",
                                             "profile", "verdict", "details", "prev" };
        json_t *rec, *actor;
        const char *key;
        size_t len, i = 0;
        json_t *v;
        char *s;

        ut_defer(json_free, d);
        /* Secrets the module could pick up on its own: it must not. */
        assert_int_equal(setenv("CORDON_AUDIT_TEST_SECRET", "env-value-xyzzy", 1), 0);
        reopen(f, 0);
        assert_int_equal(cd_audit_append(f->a, &e, &err), 0);
        s = slurp(f->log, &len);
        assert_null(strstr(s, "xyzzy"));
        assert_null(strstr(s, f->tmp));
        assert_null(strstr(s, "test_audit"));
        rec = json_loadb(s, len, 0, NULL);
        assert_non_null(rec);
        ut_defer(json_free, rec);
        assert_int_equal(json_object_size(rec), 9);
        json_object_foreach(rec, key, v)
        {
                assert_true(i < ELEMENTSOF(order));
                assert_string_equal(key, order[i++]);
        }
        assert_string_equal(json_string_value(json_object_get(rec, "event")), "artifact.read");
        actor = json_object_get(rec, "actor");
        assert_int_equal(json_object_size(actor), 2);
        assert_int_equal(json_integer_value(json_object_get(actor, "uid")), 4242);
        assert_string_equal(json_string_value(json_object_get(actor, "role")), "read");
        assert_string_equal(json_string_value(json_object_get(rec, "job")), "0a1b2c");
        assert_true(json_is_null(json_object_get(rec, "profile")));
        assert_true(json_is_null(json_object_get(rec, "verdict")));
        assert_true(json_equal(json_object_get(rec, "details"), d));
        /* The caller keeps its reference. */
        assert_int_equal(d->refcount, 1);
        assert_int_equal(unsetenv("CORDON_AUDIT_TEST_SECRET"), 0);
}

static int find_fd_of(const char *path)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        char target[PATH_MAX];
        int found = -1;
        uint64_t fd;

        assert_non_null(d);
        while ((de = readdir(d))) {
                ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);

                if (n < 0)
                        continue;
                target[n] = '\0';
                if (strcmp(target, path) == 0 && cd_parse_u64(de->d_name, &fd) == 0)
                        found = (int) fd;
        }
        (void) closedir(d);
        return found;
}

static void open_makes_a_private_dir_and_append_only_file(void **state)
{
        struct fixture *f = *state;
        struct stat st;
        struct lines l;
        int fd;

        reopen(f, 0);
        assert_int_equal(stat(f->dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(stat(f->log, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        fd = find_fd_of(f->log);
        assert_true(fd >= 0);
        assert_true(fcntl(fd, F_GETFL) & O_APPEND);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        /* On disk after return: read back through another open file. */
        append_n(f, 1);
        l = read_lines(f->log);
        assert_int_equal(l.n, 1);
        assert_non_null(strstr(l.v[0], "\"seq\":1,"));
}

static void open_refuses_unsafe_places(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        struct cd_audit *a = NULL;
        char *link, *other, *planted;

        assert_true(asprintf(&link, "%s/link", f->tmp) > 0);
        assert_true(asprintf(&other, "%s/other", f->tmp) > 0);
        assert_true(asprintf(&planted, "%s/other/" CD_AUDIT_FILE, f->tmp) > 0);
        ut_defer(free, link);
        ut_defer(free, other);
        ut_defer(free, planted);

        assert_int_equal(mkdir(other, 0700), 0);
        assert_int_equal(symlink(other, link), 0);
        /* O_NOFOLLOW | O_DIRECTORY on a symlink: ENOTDIR (open(2)). */
        assert_int_equal(cd_audit_open(link, NULL, &a, &err), -ENOTDIR);
        assert_null(a);
        assert_non_null(strstr(err.msg, "link"));
        assert_int_equal(chmod(other, 0770), 0);
        assert_int_equal(cd_audit_open(other, NULL, &a, &err), -EPERM);
        assert_non_null(strstr(err.msg, "writable by group or others"));
        assert_int_equal(chmod(other, 0700), 0);
        /* audit.jsonl planted as a symlink or a directory */
        assert_int_equal(symlink("/etc/passwd", planted), 0);
        assert_int_equal(cd_audit_open(other, NULL, &a, &err), -ELOOP);
        assert_int_equal(unlink(planted), 0);
        assert_int_equal(mkdir(planted, 0700), 0);
        assert_true(cd_audit_open(other, NULL, &a, &err) < 0);
        assert_null(a);
}

static void append_refuses_bad_events(void **state)
{
        struct fixture *f = *state;
        char long_role[CD_AUDIT_MAX_STRING + 2];
        struct cd_err err = { 0 };
        struct stat st;
        json_t *big = json_array();
        struct {
                struct cd_audit_event e;
                json_t *details;
        } bad[] = {
                { .e = { .event = NULL } },
                { .e = { .event = "Job.Submitted" } },
                { .e = { .event = "job submitted" } },
                { .e = { .event = CD_AUDIT_ROTATED } },
                { .e = { .event = "job.submitted", .job = "a\nb" } },
                { .e = { .event = "job.submitted", .role = long_role } },
                { .e = { .event = "job.submitted" }, .details = json_pack("[i]", 1) },
                { .e = { .event = "job.submitted" },
                  .details = json_pack("{s:{s:i}}", "a", "b", 1) },
                { .e = { .event = "job.submitted" }, .details = json_pack("{s:i}", "Bad-Key", 1) },
                { .e = { .event = "job.submitted" }, .details = json_pack("{s:[[]]}", "a") },
                { .e = { .event = "job.submitted" }, .details = json_pack("{s:o}", "big", big) },
        };

        memset(long_role, 'r', sizeof(long_role) - 1);
        long_role[sizeof(long_role) - 1] = '\0';
        /* Past CD_AUDIT_MAX_RECORD once formatted, though every part is allowed. */
        for (int i = 0; i < 400; i++)
                assert_int_equal(json_array_append_new(big, json_string(long_role + 90)), 0);
        reopen(f, 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                bad[i].e.details = bad[i].details;
                cd_err_clear(&err);
                assert_int_equal(cd_audit_append(f->a, &bad[i].e, &err), -CD_E_INVALID);
                assert_true(err.msg[0] != '\0');
                json_decref(bad[i].details);
        }
        assert_int_equal(stat(f->log, &st), 0);
        assert_int_equal(st.st_size, 0);
}

/* An event with @chunks 200-byte strings and one of @rest bytes in details. */
static json_t *padding(size_t chunks, size_t rest)
{
        char s[257];
        json_t *pad = json_array();

        assert_true(rest < sizeof(s));
        memset(s, 'p', sizeof(s) - 1);
        s[200] = '\0';
        for (size_t i = 0; i < chunks; i++)
                assert_int_equal(json_array_append_new(pad, json_string(s)), 0);
        s[200] = 'p';
        s[rest] = '\0';
        return ut_defer(json_free, json_pack("{s:o, s:s}", "pad", pad, "rest", s));
}

static size_t line_length(json_t *details)
{
        struct cd_audit_event e = { .event = "job.submitted", .details = details };
        struct cd_err err = { 0 };
        size_t len = 0;
        char *line;
        int r = audit_record_format(2, ZEROS, &e, &line, &len, &err);

        if (r == -CD_E_INVALID)
                return SIZE_MAX; /* over the limit */
        assert_int_equal(r, 0);
        free(line);
        return len;
}

static void records_up_to_the_size_limit(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_event e = { .event = "job.submitted" };
        struct cd_err err = { 0 };
        size_t chunks = 0, len, first;

        /* Padding that makes record 2 exactly CD_AUDIT_MAX_RECORD bytes. */
        while (line_length(padding(chunks + 1, 0)) <= CD_AUDIT_MAX_RECORD)
                chunks++;
        len = line_length(padding(chunks, 0));
        reopen(f, 0);
        append_n(f, 1);
        (void) slurp(f->log, &first);
        e.details = padding(chunks, CD_AUDIT_MAX_RECORD - len + 1);
        assert_int_equal(cd_audit_append(f->a, &e, &err), -CD_E_INVALID);
        assert_non_null(strstr(err.msg, "more than 65536"));
        e.details = padding(chunks, CD_AUDIT_MAX_RECORD - len);
        assert_int_equal(cd_audit_append(f->a, &e, &err), 0);
        (void) slurp(f->log, &len);
        assert_int_equal(len, first + CD_AUDIT_MAX_RECORD);
        /* The next append of a new handle reads that full-size line back as
         * the tail, the newline before it included (this handle knows it). */
        reopen(f, 0);
        append_n(f, 1);
        assert_int_equal(verify(f->log, NULL).records, 3);
}

/* The tail is read in a first window of 4 KiB, then whole: a last line
 * just shorter or longer than the window is found either way. */
static void tail_lines_around_the_first_window(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_event e = { .event = "job.submitted" };
        struct cd_err err = { 0 };
        size_t chunks = 0, base;

        while (line_length(padding(chunks + 1, 0)) < 4093)
                chunks++;
        base = line_length(padding(chunks, 0));
        for (size_t want = 4093; want <= 4099; want++) {
                /* After another line, and as the file's only line. */
                for (unsigned int before = 0; before <= 1; before++) {
                        assert_true(want >= base && want - base < 256);
                        assert_true(unlink(f->log) == 0 || errno == ENOENT);
                        reopen(f, 0);
                        append_n(f, before);
                        e.details = padding(chunks, want - base);
                        assert_int_equal(line_length(e.details), want);
                        assert_int_equal(cd_audit_append(f->a, &e, &err), 0);
                        reopen(f, 0); /* a new handle reads the tail */
                        append_n(f, 1);
                        assert_int_equal(verify(f->log, NULL).records, before + 2);
                }
        }
}

/* ---- verify: tampering with one file ---- */

static void verify_detects_every_flipped_byte(void **state)
{
        static const unsigned char masks[] = { 0x01, 0x80, 0x20 };
        struct fixture *f = *state;
        struct cd_audit_verify_opts anchor = { .anchor_seq = 6 };
        struct cd_audit_report rep;
        unsigned int undetected_last = 0;
        size_t len, line = 1;
        char *orig, *buf;

        reopen(f, 0);
        append_n(f, 6);
        rep = verify(f->log, NULL);
        assert_true(rep.ok);
        anchor.anchor_hash = ut_defer(free, strdup(rep.last_hash));
        orig = slurp(f->log, &len);
        buf = ut_defer(free, malloc(len));
        for (size_t off = 0; off < len; off++) {
                for (size_t m = 0; m < ELEMENTSOF(masks); m++) {
                        memcpy(buf, orig, len);
                        buf[off] ^= (char) masks[m];
                        assert_int_equal(ut_write_file(AT_FDCWD, f->log, buf, len), 0);
                        rep = verify(f->log, &anchor);
                        /* seq 0: line 1 unreadable, whose seq nothing before it tells. */
                        if (rep.ok || (rep.bad_line != line && rep.bad_line != line + 1) ||
                            (rep.bad_seq != rep.bad_line && !(rep.bad_seq == 0 && line == 1)))
                                fail_msg("byte %zu ^ 0x%02x (line %zu): ok=%d line %" PRIu64
                                         " seq %" PRIu64 " %s",
                                         off, masks[m], line, rep.ok, rep.bad_line, rep.bad_seq,
                                         rep.problem);
                        rep = verify(f->log, NULL);
                        if (line < 6)
                                assert_false(rep.ok);
                        else
                                undetected_last += rep.ok;
                }
                line += orig[off] == '\n';
        }
        /* Without an anchor nothing covers the last record's own bytes (the
         * next record would): some of its flips pass, which is why the anchor
         * exists (docs/audit.md). */
        assert_true(undetected_last > 0);
}

static void verify_detects_deleted_lines(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_verify_opts anchor = { .anchor_seq = 6 };
        struct cd_audit_report rep;
        struct lines l;

        reopen(f, 0);
        append_n(f, 6);
        l = read_lines(f->log);
        anchor.anchor_hash = ut_defer(free, strdup(verify(f->log, NULL).last_hash));

        write_lines(f->log, l.v + 1, 5, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 1, 1,
                      "record 1 missing: seq jumps from 0 to 2 (line 1 of audit.jsonl)");

        write_lines(f->log, (char *[]){ l.v[0], l.v[1], l.v[3], l.v[4], l.v[5] }, 5, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 3, 3,
                      "record 3 missing: seq jumps from 2 to 4 (line 3 of audit.jsonl)");

        write_lines(f->log, (char *[]){ l.v[0], l.v[1], l.v[4], l.v[5] }, 4, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 3, 3,
                      "records 3-4 missing: seq jumps from 2 to 5 (line 3 of audit.jsonl)");

        /* The last line: the chain alone cannot tell, the anchor can. */
        write_lines(f->log, l.v, 5, true);
        rep = verify(f->log, NULL);
        assert_true(rep.ok);
        assert_int_equal(rep.last_seq, 5);
        assert_broken((rep = verify(f->log, &anchor), &rep), 0, 6,
                      "record 6 (the anchor) is missing: the log ends at seq 5");
        /* Every line gone. */
        assert_int_equal(truncate(f->log, 0), 0);
        assert_broken((rep = verify(f->log, &anchor), &rep), 0, 6, "the anchor");
}

static void verify_detects_reordered_and_duplicated_lines(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_report rep;
        struct lines l;

        reopen(f, 0);
        append_n(f, 6);
        l = read_lines(f->log);

        write_lines(f->log, (char *[]){ l.v[0], l.v[1], l.v[3], l.v[2], l.v[4], l.v[5] }, 6, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 3, 3, "record 3 missing");

        write_lines(f->log, (char *[]){ l.v[0], l.v[1], l.v[2], l.v[3], l.v[5], l.v[4] }, 6, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 5, 5, "record 5 missing");

        write_lines(f->log, (char *[]){ l.v[5], l.v[1], l.v[2], l.v[3], l.v[4], l.v[0] }, 6, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 1, 1, "records 1-5 missing");

        write_lines(f->log, (char *[]){ l.v[0], l.v[1], l.v[2], l.v[2], l.v[3] }, 5, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 4, 4,
                      "line 4 of audit.jsonl has seq 3 where 4 was expected");
}

static char *replace(const char *s, const char *from, const char *to)
{
        const char *p = strstr(s, from);
        char *out;

        assert_non_null(p);
        assert_true(asprintf(&out, "%.*s%s%s", (int) (p - s), s, to, p + strlen(from)) > 0);
        return ut_defer(free, out);
}

static void verify_detects_edited_seq_and_forged_lines(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_report rep;
        char hash[CD_AUDIT_HASH_HEX];
        struct lines l;
        char *v[7];

        reopen(f, 0);
        append_n(f, 6);
        l = read_lines(f->log);
        memcpy(v, l.v, 6 * sizeof(char *));

        v[3] = replace(l.v[3], "\"seq\":4,", "\"seq\":40,");
        write_lines(f->log, v, 6, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 4, 4,
                      "records 4-39 missing: seq jumps from 3 to 40 (line 4 of audit.jsonl)");

        v[3] = replace(l.v[3], "\"seq\":4,", "\"seq\":3,");
        write_lines(f->log, v, 6, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 4, 4, "has seq 3 where 4 was expected");

        /* A forged line appended: right shape, wrong prev. */
        v[3] = l.v[3];
        v[6] = replace(l.v[5], "\"seq\":6,", "\"seq\":7,");
        write_lines(f->log, v, 7, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 7, 7,
                      "record 7 (line 7 of audit.jsonl): prev does not match the hash of record 6");

        /* An edit that keeps the line valid is caught by the next record. */
        v[6] = NULL;
        v[2] = replace(l.v[2], "\"verdict\":\"ok\"", "\"verdict\":\"no\"");
        write_lines(f->log, v, 6, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 4, 4,
                      "record 4 (line 4 of audit.jsonl): prev does not match the hash of record 3");

        /* The first record's prev must be zeros. */
        sha_hex("x", 1, hash);
        v[2] = l.v[2];
        v[0] = replace(l.v[0], ZEROS, hash);
        write_lines(f->log, v, 6, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 1, 1, "prev is not 64 zeros");
}

static void verify_detects_truncated_and_malformed_lines(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_report rep;
        struct lines l;
        char *v[6], *half;

        reopen(f, 0);
        append_n(f, 5);
        l = read_lines(f->log);
        memcpy(v, l.v, 5 * sizeof(char *));

        write_lines(f->log, v, 5, false);
        assert_broken(
                (rep = verify(f->log, NULL), &rep), 5, 5,
                "the last line (line 5 of audit.jsonl) is incomplete (a crash while writing?)");
        half = ut_defer(free, strndup(l.v[4], strlen(l.v[4]) / 2));
        v[4] = half;
        write_lines(f->log, v, 5, false);
        assert_broken((rep = verify(f->log, NULL), &rep), 5, 5, "is incomplete");
        /* Cut mid-line and then appended to: not JSON any more. */
        write_lines(f->log, (char *[]){ l.v[0], l.v[1], half, l.v[4] }, 4, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 3, 3,
                      "line 3 of audit.jsonl is not valid JSON");

        v[4] = l.v[4];
        v[2] = "";
        write_lines(f->log, v, 5, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 3, 3,
                      "line 3 of audit.jsonl is not valid");
        v[2] = "[1,2]";
        write_lines(f->log, v, 5, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 3, 3, "is not a JSON object");
        v[2] = replace(l.v[2], "\"seq\":3,", "\"seq\":3,\"extra\":1,");
        write_lines(f->log, v, 5, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 3, 3, "fields a record does not have");
        v[2] = replace(l.v[2], "\"seq\":3,", "\"seq\":3,\"seq\":3,");
        write_lines(f->log, v, 5, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 3, 3, "not valid JSON");
        v[2] = replace(l.v[2], "\"job\":\"5f0c2a9e\",", "");
        write_lines(f->log, v, 5, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 3, 3, "\"job\", \"profile\" or");
        v[2] = replace(l.v[2], "T", " ");
        write_lines(f->log, v, 5, true);
        assert_broken((rep = verify(f->log, NULL), &rep), 3, 3, "\"time\"");
}

static void verify_reports_what_it_cannot_read(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_verify_opts bad = { .anchor_seq = 1, .anchor_hash = "abc" };
        struct cd_audit_report rep = { .records = 77 };
        struct cd_err err = { 0 };

        assert_int_equal(cd_audit_verify(f->dir, NULL, &rep, &err), -ENOENT);
        assert_non_null(strstr(err.msg, f->dir));
        assert_int_equal(rep.records, 77); /* untouched on failure */
        reopen(f, 0);
        assert_int_equal(cd_audit_verify(f->dir, &bad, &rep, &err), -CD_E_INVALID);
        assert_int_equal(cd_audit_verify("/dev/null", NULL, &rep, &err), -CD_E_INVALID);
        /* An empty log is a valid one. */
        rep = verify(f->dir, NULL);
        assert_true(rep.ok);
        assert_int_equal(rep.records, 0);
}

/* ---- rotation ---- */

/* With max_bytes 1 every append after the first rotates: audit-1-1 holds
 * record 1, each later file an audit.rotated record and one event. */
static void make_rotated_log(struct fixture *f, unsigned int events)
{
        reopen(f, 1);
        append_n(f, events);
        assert_int_equal(count_rotated(f->dir), (int) events - 1);
}

static void rotation_keeps_the_chain(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_report rep;
        char **names;
        struct lines l;

        make_rotated_log(f, 6);
        names = rotated_names(f->dir);
        assert_string_equal(names[0], "audit-00000000000000000001-00000000000000000001.jsonl");
        assert_string_equal(names[1], "audit-00000000000000000002-00000000000000000003.jsonl");
        assert_string_equal(names[4], "audit-00000000000000000008-00000000000000000009.jsonl");
        l = read_lines(f->log);
        assert_int_equal(l.n, 2);
        assert_non_null(strstr(l.v[0], "\"seq\":10,"));
        assert_non_null(strstr(l.v[0], "\"event\":\"audit.rotated\""));
        assert_non_null(strstr(l.v[0], "\"details\":{\"previous_file\":\"audit-"
                                       "00000000000000000008-00000000000000000009.jsonl\","
                                       "\"previous_last_seq\":9}"));
        rep = verify(f->dir, NULL);
        assert_true(rep.ok);
        assert_true(rep.genesis);
        assert_int_equal(rep.files, 6);
        assert_int_equal(rep.records, 11);
        assert_int_equal(rep.last_seq, 11);
        /* Alone, a continued file is accepted and said to be one. */
        rep = verify(f->log, NULL);
        assert_true(rep.ok);
        assert_false(rep.genesis);
        assert_int_equal(rep.first_seq, 10);
        assert_non_null(strstr(rep.start_note, "audit.jsonl starts at seq 10"));
        rep = verify(path_in(f, names[2]), NULL);
        assert_true(rep.ok);
        assert_int_equal(rep.records, 2);
}

static void rotation_tampering_is_detected(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_verify_opts pruned = { .allow_pruned = true };
        struct cd_audit_report rep;
        char **names, *p2, *p3, *saved;
        struct lines l;
        size_t len;

        make_rotated_log(f, 6);
        names = rotated_names(f->dir);
        p2 = path_in(f, names[2]); /* seq 4-5 */
        p3 = path_in(f, names[3]); /* seq 6-7 */
        saved = slurp(p2, &len);
        l = read_lines(p2);

        /* An edited record in a rotated file: the next file's first record says so. */
        write_lines(p2, (char *[]){ l.v[0], replace(l.v[1], "5f0c2a9e", "5f0c2a9f") }, 2, true);
        rep = verify(f->dir, NULL);
        assert_broken(&rep, 1, 6, "record 6 (line 1 of audit-00000000000000000006");
        assert_non_null(strstr(rep.problem, "the last of "
                                            "audit-00000000000000000004-"));
        assert_string_equal(rep.bad_file, names[3]);

        /* Records cut from the end of a rotated file. */
        write_lines(p2, l.v, 1, true);
        assert_broken((rep = verify(f->dir, NULL), &rep), 1, 5,
                      "ends at seq 4, but its name says 5");

        /* A rotated file removed. */
        assert_int_equal(ut_write_file(AT_FDCWD, p2, saved, len), 0);
        assert_true(verify(f->dir, NULL).ok);
        assert_int_equal(rename(p2, path_in(f, "../moved")), 0);
        rep = verify(f->dir, NULL);
        assert_broken(&rep, 1, 4, "records 4-5 missing: seq jumps from 3 to 6");
        assert_non_null(strstr(rep.problem, "(a file removed?)"));
        assert_int_equal(rename(path_in(f, "../moved"), p2), 0);

        /* The audit.rotated record taken out of a file. */
        l = read_lines(p3);
        write_lines(p3, l.v + 1, 1, true);
        assert_broken((rep = verify(f->dir, NULL), &rep), 1, 6, "record 6 missing");
        write_lines(p3, l.v, 2, true);

        /* The oldest file removed: refused, unless pruning is allowed. */
        assert_int_equal(unlink(path_in(f, names[0])), 0);
        assert_broken((rep = verify(f->dir, NULL), &rep), 1, 1, "record 1 missing");
        rep = verify(f->dir, &pruned);
        assert_true(rep.ok);
        assert_false(rep.genesis);
        assert_int_equal(rep.first_seq, 2);
        assert_non_null(strstr(rep.start_note, names[1]));
}

static void rotation_checks_the_file_links(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_report rep;
        char hash[CD_AUDIT_HASH_HEX], old_prev[CD_AUDIT_HASH_HEX], **names;
        struct lines l;
        char *forged;

        /* An audit.rotated record anywhere but first in a file. */
        make_rotated_log(f, 3);
        l = read_lines(f->log);
        sha_hex(l.v[1], strlen(l.v[1]), hash);
        memcpy(old_prev, l.v[0] + strlen(l.v[0]) - 66, 64); /* ...,"prev":"<64>"} */
        old_prev[64] = '\0';
        forged = replace(replace(l.v[0], "\"seq\":4,", "\"seq\":6,"), old_prev, hash);
        forged = replace(forged, "\"previous_last_seq\":3", "\"previous_last_seq\":5");
        write_lines(f->log, (char *[]){ l.v[0], l.v[1], forged }, 3, true);
        assert_broken((rep = verify(f->dir, NULL), &rep), 3, 6,
                      "audit.rotated is only valid as the first line of a file");
        /* The last record, an audit.rotated naming another file. */
        names = rotated_names(f->dir);
        write_lines(f->log, (char *[]){ replace(l.v[0], names[1], names[0]) }, 1, true);
        assert_broken((rep = verify(f->dir, NULL), &rep), 1, 4,
                      "audit.rotated names another previous file than");
        write_lines(
                f->log,
                (char *[]){ replace(l.v[0], "\"previous_last_seq\":3", "\"previous_last_seq\":2") },
                1, true);
        assert_broken((rep = verify(f->dir, NULL), &rep), 1, 4,
                      "audit.rotated details do not name the previous file and its last seq");
        write_lines(f->log, l.v, 2, true);
        assert_true(verify(f->dir, NULL).ok);
        /* File names must agree with what the files hold. */
        assert_int_equal(ut_write_file(AT_FDCWD,
                                       path_in(f, "audit-00000000000000000004-"
                                                  "00000000000000000004.jsonl"),
                                       "", 0),
                         0);
        assert_broken((rep = verify(f->dir, NULL), &rep), 0, 4,
                      "audit-00000000000000000004-00000000000000000004.jsonl is empty, but its "
                      "name says seq 4-4");
        assert_int_equal(rename(path_in(f, names[1]), path_in(f, "audit-00000000000000000001-"
                                                                 "00000000000000000003.jsonl")),
                         0);
        assert_broken((rep = verify(path_in(f, "audit-00000000000000000001-"
                                               "00000000000000000003.jsonl"),
                                    NULL),
                       &rep),
                      1, 2, "starts at seq 2, but its name says 1");
        /* A file split by hand: the second part does not start with audit.rotated. */
        assert_int_equal(
                unlink(path_in(f, "audit-00000000000000000004-00000000000000000004.jsonl")), 0);
        assert_int_equal(rename(path_in(f, "audit-00000000000000000001-00000000000000000003.jsonl"),
                                path_in(f, names[1])),
                         0);
        assert_int_equal(unlink(path_in(f, names[0])), 0);
        assert_int_equal(unlink(path_in(f, names[1])), 0);
        assert_int_equal(unlink(f->log), 0);
        reopen(f, 0);
        append_n(f, 4);
        l = read_lines(f->log);
        write_lines(path_in(f, "audit-00000000000000000001-00000000000000000002.jsonl"), l.v, 2,
                    true);
        write_lines(f->log, l.v + 2, 2, true);
        assert_broken((rep = verify(f->dir, NULL), &rep), 1, 3,
                      "a file that continues the chain must start with audit.rotated");
}

static void rotation_never_overwrites_a_file(void **state)
{
        struct fixture *f = *state;
        char *decoy;
        size_t len;

        reopen(f, 1);
        append_n(f, 1);
        decoy = path_in(f, "audit-00000000000000000001-00000000000000000001.jsonl");
        assert_int_equal(ut_write_file(AT_FDCWD, decoy, "decoy\n", 6), 0);
        assert_true(append_n_fails(f, -EEXIST));
        assert_string_equal(slurp(decoy, &len), "decoy\n");
        assert_int_equal(read_lines(f->log).n, 1);
}

static void rotation_resumes_after_a_crash(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_report rep;
        struct lines l;

        /* Crash right after the rename: no audit.jsonl, or an empty one. */
        reopen(f, 0);
        append_n(f, 3);
        assert_int_equal(rename(f->log, path_in(f, "audit-00000000000000000001-"
                                                   "00000000000000000003.jsonl")),
                         0);
        rep = verify(f->dir, NULL);
        assert_true(rep.ok);
        assert_int_equal(rep.records, 3);
        append_n(f, 1); /* the same handle notices the rename */
        l = read_lines(f->log);
        assert_int_equal(l.n, 2);
        assert_non_null(strstr(l.v[0], "\"seq\":4,\"time\""));
        assert_non_null(strstr(l.v[0], "audit.rotated"));
        rep = verify(f->dir, NULL);
        assert_true(rep.ok);
        assert_int_equal(rep.records, 5);
}

/* ---- several writers ---- */

static void writer(const char *dir, struct cd_audit *inherited, uint64_t max_bytes, uint32_t id)
{
        struct cd_audit_config cfg = { .max_bytes = max_bytes };
        struct cd_audit *a = inherited;
        struct cd_err err = { 0 };

        if (!a && cd_audit_open(dir, &cfg, &a, &err) < 0)
                _exit(2);
        for (uint64_t i = 0; i < 200; i++)
                if (append_one(a, id, i, &err) < 0) {
                        fprintf(stderr, "writer %u: %s\n", id, err.msg);
                        _exit(1);
                }
        _exit(0);
}

/* Each writer's records appear in its own order, all 200 of them. */
static void check_writers(const char *path, uint64_t *next)
{
        struct lines l = read_lines(path);

        for (size_t i = 0; i < l.n; i++) {
                json_t *rec = json_loads(l.v[i], 0, NULL);
                json_t *d = json_object_get(rec, "details");
                json_t *w = json_object_get(d, "writer");

                assert_non_null(rec);
                if (w && json_integer_value(w) != 0) { /* 0: the parent's, before the fork */
                        json_int_t id = json_integer_value(w);

                        assert_true(id == 1 || id == 2);
                        assert_int_equal(json_integer_value(json_object_get(d, "i")), next[id]++);
                }
                json_decref(rec);
        }
}

static void run_two_writers(struct fixture *f, bool share_handle, uint64_t max_bytes)
{
        struct cd_audit_report rep;
        uint64_t next[3] = { 0 };
        char **names;
        pid_t pid[2];
        int status[2];

        reopen(f, max_bytes);
        /* A shared handle that has appended already: each child starts with
         * the tail the parent remembers, which the other child's appends
         * make stale. */
        if (share_handle)
                append_n(f, 1); /* writer 0 */
        for (uint32_t i = 0; i < 2; i++) {
                pid[i] = fork();
                assert_true(pid[i] >= 0);
                if (pid[i] == 0)
                        writer(f->dir, share_handle ? f->a : NULL, max_bytes, i + 1);
        }
        /* Reap both before any assertion, so none is left writing into the
         * directory that teardown removes. */
        for (int i = 0; i < 2; i++)
                if (waitpid(pid[i], &status[i], 0) != pid[i])
                        status[i] = -1;
        for (int i = 0; i < 2; i++) {
                assert_true(WIFEXITED(status[i]));
                assert_int_equal(WEXITSTATUS(status[i]), 0);
        }
        rep = verify(f->dir, NULL);
        if (!rep.ok)
                fail_msg("%s", rep.problem);
        /* One audit.rotated record per rotated file. */
        assert_int_equal(rep.records, 400 + share_handle + (uint64_t) count_rotated(f->dir));
        names = rotated_names(f->dir);
        for (size_t i = 0; names && names[i]; i++)
                check_writers(path_in(f, names[i]), next);
        check_writers(f->log, next);
        assert_int_equal(next[1], 200);
        assert_int_equal(next[2], 200);
}

static void two_processes_share_one_chain(void **state)
{
        run_two_writers(*state, true, 0);
        assert_int_equal(count_rotated(((struct fixture *) *state)->dir), 0);
}

static void two_processes_rotating_share_one_chain(void **state)
{
        run_two_writers(*state, false, 8192);
        assert_true(count_rotated(((struct fixture *) *state)->dir) >= 5);
}

/* verify while two writers append and rotate (every 4 KiB): every run sees
 * a whole chain. Before, verify listed and read without the writers' lock,
 * so a rotation between listing and reading looked like a gap, and a line
 * being appended like a torn one. */
static void verify_while_writers_rotate(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_report last;
        unsigned int runs = 0;
        pid_t pid[2];
        int status, failed = 0;

        reopen(f, 4096);
        for (uint32_t i = 0; i < 2; i++) {
                pid[i] = fork();
                assert_true(pid[i] >= 0);
                if (pid[i] == 0)
                        writer(f->dir, NULL, 4096, i + 1);
        }
        for (bool busy = true; busy; runs++) {
                struct cd_audit_report rep;
                struct cd_err err = { 0 };
                int r = cd_audit_verify(f->dir, NULL, &rep, &err);

                busy = false;
                for (int k = 0; k < 2; k++) {
                        pid_t got = pid[k] > 0 ? waitpid(pid[k], &status, WNOHANG) : -1;

                        if (got == 0)
                                busy = true;
                        else if (got == pid[k]) {
                                failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
                                pid[k] = -1;
                        }
                }
                if (r < 0 || !rep.ok) {
                        for (int k = 0; k < 2; k++)
                                if (pid[k] > 0)
                                        (void) kill(pid[k], SIGKILL);
                        while (wait(NULL) > 0)
                                ;
                        fail_msg("run %u: %s", runs, r < 0 ? err.msg : rep.problem);
                }
        }
        while (wait(NULL) > 0)
                ;
        assert_int_equal(failed, 0);
        assert_true(runs > 1);
        /* Both writers' 200 records, and one audit.rotated per rotated file. */
        last = verify(f->dir, NULL);
        assert_true(last.ok);
        assert_int_equal(last.records, 400 + (uint64_t) count_rotated(f->dir));
}

/* ---- refusals and failed writes ---- */

static void append_refuses_after_a_corrupt_tail(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        struct stat st, after;
        int fd;

        reopen(f, 0);
        append_n(f, 3);
        fd = open(f->log, O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "{\"seq\":4,\"ti", 12), 12);
        (void) close(fd);
        assert_int_equal(stat(f->log, &st), 0);
        assert_int_equal(append_one(f->a, 0, 9, &err), -CD_E_INVALID);
        assert_non_null(strstr(err.msg, "the last line of audit.jsonl is incomplete"));
        assert_non_null(strstr(err.msg, "refusing to append"));
        /* Nothing papered over: the file is as the crash left it. */
        assert_int_equal(stat(f->log, &after), 0);
        assert_int_equal(after.st_size, st.st_size);
        assert_broken((struct cd_audit_report[]){ verify(f->log, NULL) }, 4, 4, "incomplete");

        assert_int_equal(truncate(f->log, st.st_size - 12), 0);
        fd = open(f->log, O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_int_equal(write(fd, "garbage\n", 8), 8);
        (void) close(fd);
        assert_int_equal(append_one(f->a, 0, 9, &err), -CD_E_INVALID);
        assert_non_null(strstr(err.msg, "is not valid JSON"));
}

static void append_bytes(const char *path, const char *s, size_t n)
{
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, s, n), (ssize_t) n);
        (void) close(fd);
}

struct scanned {
        uint64_t seq[32];
        unsigned int n, jobs;
        uint64_t stop_at; /* 0: never */
};

static int collect_seq(const struct cd_audit_seen *r, void *data)
{
        struct scanned *sc = data;

        assert_true(sc->n < 32);
        sc->seq[sc->n++] = r->seq;
        assert_non_null(r->event);
        if (strcmp(r->event, CD_AUDIT_JOB_FINISHED) == 0) {
                assert_string_equal(r->job, "5f0c2a9e");
                assert_string_equal(r->verdict, "ok");
                assert_string_equal(r->profile, "python");
                assert_true(json_is_integer(json_object_get(r->details, "writer")));
                sc->jobs++;
        } else {
                assert_string_equal(r->event, CD_AUDIT_ROTATED);
                assert_null(r->job);
        }
        return r->seq == sc->stop_at ? 7 : 0;
}

static struct scanned scan_from(struct fixture *f, uint64_t from, uint64_t stop_at, int want)
{
        struct scanned sc = { .stop_at = stop_at };
        struct cd_err err = { 0 };

        assert_int_equal(cd_audit_scan(f->a, from, collect_seq, &sc, &err), want);
        for (unsigned int i = 1; i < sc.n; i++)
                assert_true(sc.seq[i] > sc.seq[i - 1]);
        return sc;
}

/* A note beside the log: read back whole, replaced whole, never one of
 * the log's own files, and checked as they are (no symlink, no file of
 * another owner or group-writable). */
static void notes_beside_the_log(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        char buf[16];

        reopen(f, 0);
        assert_int_equal(cd_audit_note_get(f->a, "runs-boot", buf, sizeof(buf), &err), -ENOENT);
        assert_int_equal(cd_audit_note_set(f->a, "runs-boot", "first text\n", &err), 0);
        assert_int_equal(cd_audit_note_set(f->a, "runs-boot", "second\n", &err), 0);
        assert_int_equal(cd_audit_note_get(f->a, "runs-boot", buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "second\n");
        assert_int_equal(access(path_in(f, ".runs-boot.new"), F_OK), -1);
        assert_int_equal(
                cd_audit_note_set(f->a, "runs-boot", "a text longer than the buffer", &err), 0);
        assert_int_equal(cd_audit_note_get(f->a, "runs-boot", buf, sizeof(buf), &err), 0);
        assert_int_equal(strlen(buf), sizeof(buf) - 1);

        for (const char *const *n = (const char *const[]){ CD_AUDIT_FILE, "audit.lock", "../x",
                                                           ".hidden", "", NULL };
             *n; n++) {
                assert_int_equal(cd_audit_note_set(f->a, *n, "x\n", &err), -EINVAL);
                assert_int_equal(cd_audit_note_get(f->a, *n, buf, sizeof(buf), &err), -EINVAL);
        }

        assert_int_equal(symlink("/etc/passwd", path_in(f, "linked")), 0);
        assert_true(cd_audit_note_get(f->a, "linked", buf, sizeof(buf), &err) < 0);
        assert_int_equal(chmod(path_in(f, "runs-boot"), 0620), 0);
        assert_int_equal(cd_audit_note_get(f->a, "runs-boot", buf, sizeof(buf), &err), -EPERM);
}

/* A scan passes each record from a seq on, in order, across rotated
 * files; cd_audit_mark() is at or below the next record's seq. */
static void scan_reads_from_a_seq_across_rotation(void **state)
{
        struct fixture *f = *state;
        struct scanned sc;

        reopen(f, 0);
        assert_int_equal(cd_audit_mark(f->a), 0);
        f->a = cd_audit_close(f->a);
        make_rotated_log(f, 6); /* seq 1..11 in six files */
        assert_int_equal(cd_audit_mark(f->a), 11);
        sc = scan_from(f, 1, 0, 0);
        assert_int_equal(sc.n, 11);
        for (unsigned int i = 0; i < sc.n; i++)
                assert_int_equal(sc.seq[i], i + 1);
        assert_int_equal(sc.jobs, 6);
        sc = scan_from(f, 5, 0, 0);
        assert_int_equal(sc.n, 7);
        assert_int_equal(sc.seq[0], 5);
        assert_int_equal(sc.seq[6], 11);
        sc = scan_from(f, 11, 0, 0);
        assert_int_equal(sc.n, 1);
        sc = scan_from(f, cd_audit_mark(f->a) + 1, 0, 0);
        assert_int_equal(sc.n, 0);
        /* Stopped by the callback: its value, nothing after. */
        sc = scan_from(f, 2, 4, 7);
        assert_int_equal(sc.n, 3);
        assert_int_equal(sc.seq[2], 4);
        /* Another handle's appends: still at or below the next seq. */
        reopen(f, 0);
        assert_int_equal(cd_audit_mark(f->a), 0);
        append_n(f, 1);
        assert_int_equal(cd_audit_mark(f->a), 12);
}

/* cd_audit_prime() makes a fresh handle's mark the log's last seq, also
 * after a rotation; appends after it chain on, whatever another handle
 * appended in between; a torn tail is refused as an append would be. */
static void prime_marks_the_last_seq(void **state)
{
        struct fixture *f = *state;
        struct cd_audit *other = NULL;
        struct cd_err err = { 0 };
        char rotated[AUDIT_ROTATED_NAME_MAX];
        uint64_t last;

        make_rotated_log(f, 3);
        reopen(f, 1);
        assert_int_equal(cd_audit_mark(f->a), 0);
        assert_int_equal(cd_audit_prime(f->a, &err), 0);
        assert_int_equal(cd_audit_mark(f->a), verify(f->dir, NULL).last_seq);
        assert_int_equal(cd_audit_open(f->dir, NULL, &other, &err), 0);
        assert_int_equal(append_one(other, 1, 0, &err), 0);
        other = cd_audit_close(other);
        append_n(f, 1); /* chains on the other handle's record, not the primed tail */
        assert_true(verify(f->dir, NULL).ok);
        assert_int_equal(cd_audit_mark(f->a), verify(f->dir, NULL).last_seq);
        /* Primed right after a rotation (audit.jsonl empty): the tail is the
         * rotated file's, and the next append links to it. */
        f->a = cd_audit_close(f->a);
        last = verify(f->dir, NULL).last_seq;
        audit_rotated_name(verify(f->log, NULL).first_seq, last, rotated);
        assert_int_equal(rename(f->log, path_in(f, rotated)), 0);
        assert_int_equal(close(open(f->log, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)), 0);
        reopen(f, 0);
        assert_int_equal(cd_audit_prime(f->a, &err), 0);
        assert_int_equal(cd_audit_mark(f->a), last);
        append_n(f, 1);
        assert_true(verify(f->dir, NULL).ok);
        assert_true(cd_audit_mark(f->a) > last);
        /* A torn tail: refused, as an append would be. */
        append_bytes(f->log, "{\"seq\":99,", 10);
        reopen(f, 0);
        assert_int_equal(cd_audit_prime(f->a, &err), -CD_E_INVALID);
}

/* What is not a record is passed over: a line that does not parse, and a
 * torn end (a writer killed mid-append); the records around are read. */
static void scan_passes_over_what_is_not_a_record(void **state)
{
        static const char junk[] = "not a record\n{\"seq\":3,\"event\":\"job.finished\"}\n";
        static const char torn[] = "{\"seq\":5,\"time\":\"2026";
        struct fixture *f = *state;
        struct scanned sc;

        reopen(f, 0);
        append_n(f, 2);
        append_bytes(f->log, junk, sizeof(junk) - 1);
        f->a = cd_audit_close(f->a);
        /* A later record (as another writer would leave it after a repair). */
        {
                struct lines l = read_lines(f->log);
                char *line3 = replace(l.v[1], "\"seq\":2,", "\"seq\":4,");

                append_bytes(f->log, line3, strlen(line3));
                append_bytes(f->log, "\n", 1);
        }
        append_bytes(f->log, torn, sizeof(torn) - 1);
        reopen(f, 0);
        sc = scan_from(f, 1, 0, 0);
        assert_int_equal(sc.n, 3);
        assert_int_equal(sc.seq[1], 2);
        assert_int_equal(sc.seq[2], 4);
        sc = scan_from(f, 3, 0, 0);
        assert_int_equal(sc.n, 1);
        assert_int_equal(sc.seq[0], 4);
}

/* Lines around CD_AUDIT_MAX_RECORD bytes, newline included: a line that
 * has not ended by then is named as too long, whether a newline comes
 * later or never (before, one without a newline was read whole and called
 * incomplete). */
static void verify_names_a_line_too_long(void **state)
{
        static const struct {
                size_t x;     /* bytes of 'x' */
                bool newline; /* and then a newline */
                const char *problem;
        } cases[] = {
                { CD_AUDIT_MAX_RECORD - 1, true, "line 3 of audit.jsonl is not valid JSON" },
                { CD_AUDIT_MAX_RECORD, true, "line 3 of audit.jsonl is longer than 65536 bytes" },
                { CD_AUDIT_MAX_RECORD - 1, false,
                  "the last line (line 3 of audit.jsonl) is "
                  "incomplete" },
                { CD_AUDIT_MAX_RECORD, false, "line 3 of audit.jsonl is longer than 65536 bytes" },
                { 1 << 20, false, "line 3 of audit.jsonl is longer than 65536 bytes" },
        };
        struct fixture *f = *state;
        char *big = ut_defer(free, malloc((1 << 20) + 1));
        struct cd_audit_report rep;
        struct lines l;

        reopen(f, 0);
        append_n(f, 2);
        l = read_lines(f->log);
        memset(big, 'x', (1 << 20) + 1);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                write_lines(f->log, l.v, 2, true);
                big[cases[i].x] = '\n';
                append_bytes(f->log, big, cases[i].x + cases[i].newline);
                big[cases[i].x] = 'x';
                rep = verify(f->log, NULL);
                assert_broken(&rep, 3, 3, cases[i].problem);
                assert_int_equal(rep.records, 2);
        }
}

/* In a child whose address space may grow by only 64 MiB, @fn(@f): a
 * reader that buffered a whole line of 256 MiB fails there with ENOMEM.
 * Returns what @fn returned (0: as expected). */
static int in_capped_child(int (*fn)(struct fixture *), struct fixture *f)
{
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                unsigned long pages = 0;
                struct rlimit lim;
                FILE *statm = fopen("/proc/self/statm", "re");

                if (!statm || fscanf(statm, "%lu", &pages) != 1)
                        _exit(100);
                (void) fclose(statm);
                lim.rlim_cur = lim.rlim_max =
                        (rlim_t) pages * (rlim_t) sysconf(_SC_PAGESIZE) + (64 << 20);
                if (setrlimit(RLIMIT_AS, &lim) < 0)
                        _exit(101);
                _exit(fn(f));
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* @n bytes of zeros at the end of @path: a hole, no disk. */
static void append_hole(const char *path, off_t n)
{
        struct stat st;

        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(truncate(path, st.st_size + n), 0);
}

static int verify_capped(struct fixture *f)
{
        struct cd_audit_report rep;
        struct cd_err err = { 0 };

        if (cd_audit_verify(f->dir, NULL, &rep, &err) < 0)
                return 2; /* ENOMEM: it buffered the line */
        return !rep.ok && rep.bad_line == 3 && strstr(rep.problem, "is longer than") ? 0 : 1;
}

static int count_seq(const struct cd_audit_seen *r, void *data)
{
        uint64_t *sum = data;

        *sum = *sum * 10 + r->seq;
        return 0;
}

static int scan_capped(struct fixture *f)
{
        struct cd_err err = { 0 };
        uint64_t seqs = 0;

        if (cd_audit_scan(f->a, 1, count_seq, &seqs, &err) < 0)
                return 2;
        return seqs == 123 ? 0 : 1; /* 1, 2, then 3 after the long line */
}

/* A line of 256 MiB costs verify and scan a record's worth of memory:
 * verify names it, scan passes over it to the record after it. */
static void readers_never_buffer_more_than_a_record(void **state)
{
        struct fixture *f = *state;
        struct lines l;
        char *line3;

        if (UT_ASAN)
                skip(); /* ASan reserves its own address space: RLIMIT_AS would break it */
        reopen(f, 0);
        append_n(f, 2);
        l = read_lines(f->log);
        append_hole(f->log, 256 << 20);
        assert_int_equal(in_capped_child(verify_capped, f), 0);
        line3 = replace(l.v[1], "\"seq\":2,", "\"seq\":3,");
        append_bytes(f->log, "\n", 1);
        append_bytes(f->log, line3, strlen(line3));
        append_bytes(f->log, "\n", 1);
        assert_int_equal(in_capped_child(scan_capped, f), 0);
}

/* Put @name of the log aside, and a FIFO in its place; undone by restore(). */
static void fifo_instead(struct fixture *f, const char *name)
{
        assert_int_equal(rename(path_in(f, name), path_in(f, "../aside")), 0);
        assert_int_equal(mkfifo(path_in(f, name), 0600), 0);
}

static void restore(struct fixture *f, const char *name)
{
        assert_int_equal(unlink(path_in(f, name)), 0);
        assert_int_equal(rename(path_in(f, "../aside"), path_in(f, name)), 0);
}

/* What is not a regular file where a log file should be is named at once
 * by verify, scan and append. A FIFO made their open(2) wait for a writer
 * forever: verify and scan with the shared lock held, so that every append
 * waited too, and an append with the exclusive lock. alarm() turns such a
 * wait into a failure. */
static void fifos_are_refused_not_waited_on(void **state)
{
        struct fixture *f = *state;
        char *fifo = path_in(f, "fifo.jsonl"), **names;
        struct cd_audit_report rep = { .records = 77 };
        struct cd_err err = { 0 };
        uint64_t seqs = 0;

        (void) alarm(60);       /* a hang bound */
        make_rotated_log(f, 3); /* audit-1-1, audit-2-3, audit.jsonl with 4-5 */
        names = rotated_names(f->dir);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_int_equal(cd_audit_verify(fifo, NULL, &rep, &err), -CD_E_INVALID);
        assert_non_null(strstr(err.msg, "fifo.jsonl is not a file or directory"));
        /* Nor is a symlink followed, as cordon's writers follow none. */
        assert_int_equal(symlink(f->log, path_in(f, "link")), 0);
        assert_int_equal(cd_audit_verify(path_in(f, "link"), NULL, &rep, &err), -ELOOP);
        assert_non_null(strstr(err.msg, "link is a symbolic link, which verify does not follow"));

        fifo_instead(f, CD_AUDIT_FILE);
        assert_int_equal(cd_audit_verify(f->dir, NULL, &rep, &err), -CD_E_INVALID);
        assert_non_null(strstr(err.msg, "audit/audit.jsonl is not a regular file"));
        assert_int_equal(cd_audit_scan(f->a, 1, count_seq, &seqs, &err), -CD_E_INVALID);
        assert_non_null(strstr(err.msg, "audit.jsonl is not a regular file"));
        restore(f, CD_AUDIT_FILE);
        fifo_instead(f, names[1]);
        assert_int_equal(cd_audit_verify(f->dir, NULL, &rep, &err), -CD_E_INVALID);
        assert_non_null(strstr(err.msg, "audit-00000000000000000002-00000000000000000003.jsonl "
                                        "is not a regular file"));
        restore(f, names[1]);
        assert_int_equal(rep.records, 77); /* untouched on failure */
        /* A FIFO lock file is flock(2)ed like a file: the log is read. */
        fifo_instead(f, AUDIT_LOCK_FILE);
        rep = verify(f->dir, NULL);
        assert_true(rep.ok);
        assert_int_equal(rep.last_seq, 5);
        restore(f, AUDIT_LOCK_FILE);

        /* Right after a rotation (audit.jsonl empty) an append reads the tail
         * of the newest rotated file. */
        assert_int_equal(truncate(f->log, 0), 0);
        assert_int_equal(
                mkfifo(path_in(f, "audit-00000000000000000004-00000000000000000005.jsonl"), 0600),
                0);
        reopen(f, 0);
        assert_int_equal(append_one(f->a, 0, 0, &err), -CD_E_INVALID);
        assert_non_null(strstr(err.msg, "is not a regular file"));
        (void) alarm(0);
}

/* The log is evidence: its readers take only what cordon's writers would
 * append to (open_refuses_unsafe_places), never a directory or a log file
 * that group or others may write. verify and scan used to read them. The
 * owner is checked the same way, as root (test_cli's
 * test_log_others_may_write_is_refused). */
static void readers_refuse_what_others_may_write(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_report rep = { .records = 77 };
        struct cd_err err = { 0 };
        const char *files[2];
        uint64_t seqs = 0;

        make_rotated_log(f, 3); /* audit-1-1, audit-2-3, audit.jsonl with 4-5 */
        files[0] = rotated_names(f->dir)[1];
        files[1] = CD_AUDIT_FILE;
        assert_int_equal(chmod(f->dir, 0730), 0);
        assert_int_equal(cd_audit_verify(f->dir, NULL, &rep, &err), -EPERM);
        assert_non_null(strstr(err.msg, "audit is writable by group or others"));
        assert_int_equal(chmod(f->dir, 0700), 0);
        for (size_t i = 0; i < 2; i++) {
                assert_int_equal(chmod(path_in(f, files[i]), 0602), 0);
                assert_int_equal(cd_audit_verify(f->dir, NULL, &rep, &err), -EPERM);
                assert_non_null(strstr(err.msg, files[i]));
                assert_non_null(strstr(err.msg, "is writable by group or others"));
                assert_int_equal(cd_audit_verify(path_in(f, files[i]), NULL, &rep, &err), -EPERM);
                assert_non_null(strstr(err.msg, "is writable by group or others"));
                assert_int_equal(cd_audit_scan(f->a, 1, count_seq, &seqs, &err), -EPERM);
                assert_non_null(strstr(err.msg, "is writable by group or others"));
                assert_int_equal(chmod(path_in(f, files[i]), 0600), 0);
        }
        assert_int_equal(rep.records, 77); /* untouched on failure */
        rep = verify(f->dir, NULL);
        assert_true(rep.ok);
        assert_int_equal(rep.last_seq, 5);
        assert_int_equal(cd_audit_scan(f->a, 1, count_seq, &seqs, &err), 0);
        assert_int_equal(seqs, 12345);
}

/* A torn last record (a writer killed mid-append) is cut, with its count
 * and SHA-256 in an audit.repaired record that continues the chain, and
 * appends work again. A whole log has nothing to cut. */
static void repair_cuts_a_torn_tail(void **state)
{
        static const char torn[] = "{\"seq\":4,\"time\":\"2026";
        struct fixture *f = *state;
        struct cd_audit_repair rep;
        struct cd_err err = { 0 };
        char sha[CD_AUDIT_HASH_HEX];
        struct lines l;
        json_t *rec;

        reopen(f, 0);
        append_n(f, 3);
        assert_int_equal(cd_audit_repair(f->a, 0, &rep, &err), 0);
        assert_int_equal(rep.cut_bytes, 0);
        append_bytes(f->log, torn, sizeof(torn) - 1);
        assert_int_equal(append_one(f->a, 0, 9, &err), -CD_E_INVALID);
        assert_non_null(strstr(err.msg, "cordon audit repair"));
        assert_int_equal(cd_audit_repair(f->a, 1000, &rep, &err), 0);
        sha_hex(torn, sizeof(torn) - 1, sha);
        assert_int_equal(rep.cut_bytes, sizeof(torn) - 1);
        assert_string_equal(rep.cut_sha256, sha);
        assert_int_equal(rep.seq, 4);
        l = read_lines(f->log);
        assert_int_equal(l.n, 4);
        rec = ut_defer(json_free, json_loads(l.v[3], 0, NULL));
        assert_string_equal(json_string_value(json_object_get(rec, "event")), CD_AUDIT_REPAIRED);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(rec, "actor"), "uid")),
                         1000);
        assert_int_equal(
                json_integer_value(json_object_get(json_object_get(rec, "details"), "cut_bytes")),
                sizeof(torn) - 1);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(rec, "details"), "cut_sha256")),
                sha);
        assert_int_equal(append_one(f->a, 0, 9, &err), 0);
        assert_true(verify(f->log, NULL).ok);
        /* Only the module writes the event. */
        {
                struct cd_audit_event e = { .event = CD_AUDIT_REPAIRED, .role = "admin" };

                assert_int_equal(cd_audit_append(f->a, &e, &err), -CD_E_INVALID);
        }
}

/* The cut is recorded or not made: when audit.repaired cannot be written
 * (the disk that just crashed is full), the torn bytes are put back and a
 * second try still finds them. Before, they were gone unrecorded. */
static void repair_undone_when_it_cannot_be_recorded(void **state)
{
        static const char torn[] = "{\"seq\":3,\"ti";
        struct fixture *f = *state;
        struct cd_audit_repair rep;
        struct cd_err err = { 0 };
        struct stat before, after;

        reopen(f, 0);
        append_n(f, 2);
        append_bytes(f->log, torn, sizeof(torn) - 1);
        assert_int_equal(stat(f->log, &before), 0);
        cd_wrap_fail(WRAP_PWRITE, ENOSPC, 1);
        assert_int_equal(cd_audit_repair(f->a, 0, &rep, &err), -ENOSPC);
        assert_false(cd_wrap_pending(WRAP_PWRITE));
        assert_non_null(strstr(err.msg, "write the record of the repair"));
        assert_int_equal(rep.cut_bytes, 0);
        assert_int_equal(stat(f->log, &after), 0);
        assert_int_equal(after.st_size, before.st_size);
        assert_int_equal(cd_audit_repair(f->a, 0, &rep, &err), 0);
        assert_int_equal(rep.cut_bytes, sizeof(torn) - 1);
        assert_true(verify(f->log, NULL).ok);
}

/* How many complete lines of @s (@len bytes) are audit.repaired records. */
static size_t repaired_lines(const char *s, size_t len)
{
        static const char key[] = "\"event\":\"" CD_AUDIT_REPAIRED "\"";
        size_t n = 0;

        for (const char *p = s, *nl; (nl = memchr(p, '\n', (size_t) (s + len - p))); p = nl + 1)
                n += memmem(p, (size_t) (nl - p), key, sizeof(key) - 1) != NULL;
        return n;
}

/* The bytes after the last newline of @s (@len bytes). */
static size_t tail_length(const char *s, size_t len)
{
        const char *nl = memrchr(s, '\n', len);

        return nl ? (size_t) (s + len - nl - 1) : len;
}

/* Torn bytes: the start of record @seq, then 'x' up to @n bytes. */
static const char *torn_bytes(uint64_t seq, size_t n)
{
        char *t = ut_defer(free, malloc(n + 1)), head[32];
        int w = snprintf(head, sizeof(head), "{\"seq\":%" PRIu64 ",\"time\":", seq);

        assert_non_null(t);
        assert_true(w > 0 && (size_t) w <= n);
        memset(t, 'x', n);
        memcpy(t, head, (size_t) w);
        t[n] = '\0';
        return t;
}

/* A fresh directory whose audit.jsonl holds two records and @n torn
 * bytes. Returns where the torn bytes begin. */
static size_t torn_after_records(struct fixture *f, size_t n)
{
        struct stat st;

        f->a = cd_audit_close(f->a);
        assert_int_equal(ut_rm_rf(f->dir), 0);
        reopen(f, 0);
        append_n(f, 2);
        assert_int_equal(stat(f->log, &st), 0);
        append_bytes(f->log, torn_bytes(3, n), n);
        return (size_t) st.st_size;
}

/* A fresh directory where audit.jsonl was begun by a rotation and holds
 * nothing but @n torn bytes of its first record (seq 6, after
 * audit-4-5.jsonl). Returns 0, where they begin. */
static size_t torn_after_rotation(struct fixture *f, size_t n)
{
        char name[AUDIT_ROTATED_NAME_MAX];
        int fd;

        f->a = cd_audit_close(f->a);
        assert_int_equal(ut_rm_rf(f->dir), 0);
        make_rotated_log(f, 3);
        audit_rotated_name(4, 5, name);
        assert_int_equal(rename(f->log, path_in(f, name)), 0);
        fd = open(f->log, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        (void) close(fd);
        append_bytes(f->log, torn_bytes(6, n), n);
        reopen(f, 0);
        return 0;
}

/* A crash during a repair of a log whose first @keep bytes (those of
 * @before) were sound left @s (@len bytes). Those bytes are still there;
 * a repair of what follows them succeeds, cuts the bytes after the last
 * newline, whatever they hold, with their count and SHA-256, and leaves
 * a log that verifies and holds an audit.repaired record after them. */
static void repairable_after_crash(struct fixture *f, const char *before, size_t keep,
                                   const char *s, size_t len, const char *what)
{
        size_t tail = tail_length(s, len), got_len;
        struct cd_audit_repair rep;
        struct cd_err err = { 0 };
        char sha[CD_AUDIT_HASH_HEX];
        const char *got;

        if (len < keep || memcmp(s, before, keep) != 0)
                fail_msg("%s: the %zu bytes before the torn ones changed", what, keep);
        assert_int_equal(ut_write_file(AT_FDCWD, f->log, s, len), 0);
        reopen(f, 0);
        if (cd_audit_repair(f->a, 0, &rep, &err) != 0)
                fail_msg("%s (%zu bytes, %zu after the last newline): repair: %s", what, len, tail,
                         err.msg);
        if (rep.cut_bytes != tail)
                fail_msg("%s: cut %" PRIu64 " bytes, the tail is %zu", what, rep.cut_bytes, tail);
        if (tail > 0) {
                sha_hex(s + len - tail, tail, sha);
                assert_string_equal(rep.cut_sha256, sha);
        }
        if (!verify(f->dir, NULL).ok)
                fail_msg("%s: the repaired log does not verify: %s", what,
                         verify(f->dir, NULL).problem);
        got = slurp(f->log, &got_len);
        assert_true(got_len > keep && memcmp(got, before, keep) == 0);
        if (repaired_lines(got + keep, got_len - keep) == 0)
                fail_msg("%s: no audit.repaired record after the sound bytes", what);
}

/*
 * The crash states of a repair, built from what it did. An observer
 * (cd_wrap_observe) takes the log before each write to it and at each
 * sync of it that went through. A sync's bytes are on disk once it
 * returns; until the next one returns, the disk may hold any mixture of the
 * versions in between: the page cache writes a file's blocks back in any
 * order (ext4 data=ordered orders data before metadata, not one data block
 * before another). A state: the size of one of those versions, and each
 * CHUNK bytes as one of them had them; where the synced version had no
 * bytes yet, zeros are one more choice (a grown size may reach the disk
 * before the data). CHUNK divides every disk block size, so every split
 * at a block boundary is among them.
 */
#define CHUNK      128
#define MAX_SNAPS  24
#define MAX_STATES 4096

struct snap {
        const char *bytes;
        size_t len;
        bool synced; /* taken at a sync that went through: on disk once it returned */
};

struct history {
        const char *path;
        dev_t dev;
        ino_t ino;
        struct snap v[MAX_SNAPS];
        size_t n;
};

static void history_add(struct history *h, bool synced)
{
        size_t len;
        char *s = ut_read_file(AT_FDCWD, h->path, &len);

        assert_non_null(s);
        assert_true(h->n < MAX_SNAPS);
        h->v[h->n++] = (struct snap){ .bytes = ut_defer(free, s), .len = len, .synced = synced };
}

static void snap_log(enum cd_wrap_sym sym, int fd, void *data)
{
        struct history *h = data;
        struct stat st;

        if (fstat(fd, &st) == 0 && st.st_dev == h->dev && st.st_ino == h->ino)
                history_add(h, sym == WRAP_FSYNC || sym == WRAP_FDATASYNC);
}

/* Byte @i of version @s, zero past its end. */
static char byte_of(const struct snap *s, size_t i)
{
        return i < s->len ? s->bytes[i] : '\0';
}

static bool same_chunk(const struct snap *a, const struct snap *b, size_t c)
{
        for (size_t i = c * CHUNK; i < (c + 1) * CHUNK; i++)
                if (byte_of(a, i) != byte_of(b, i))
                        return false;
        return true;
}

/* The versions @v[0..@n) of a window between two syncs; calls
 * repairable_after_crash() on each state they allow. The number of states. */
static size_t check_window(struct fixture *f, const char *before, size_t keep, const struct snap *v,
                           size_t n, const char *what)
{
        size_t max = 0, chunks, states = 1, done = 0, c;
        size_t *pick, *choices, (*alt)[MAX_SNAPS];
        char *s, name[160];

        for (size_t i = 0; i < n; i++)
                max = v[i].len > max ? v[i].len : max;
        chunks = (max + CHUNK - 1) / CHUNK;
        pick = ut_defer(free, calloc(chunks + 1, sizeof(*pick)));
        choices = ut_defer(free, calloc(chunks + 1, sizeof(*choices)));
        alt = ut_defer(free, calloc(chunks + 1, sizeof(*alt)));
        s = ut_defer(free, malloc(max + 1));
        assert_true(pick && choices && alt && s);
        /* Per chunk, the versions that differ; chunk number @chunks picks the size. */
        for (c = 0; c <= chunks; c++) {
                for (size_t i = 0; i < n; i++) {
                        bool seen = false;

                        /* A version that ends before the chunk gives it
                         * zeros: the synced one only (a cut that reaches
                         * the disk leaves the shorter size, not zeros). */
                        if (c < chunks && i > 0 && v[i].len <= c * CHUNK)
                                continue;
                        for (size_t k = 0; k < choices[c] && !seen; k++)
                                seen = c == chunks ? v[alt[c][k]].len == v[i].len
                                                   : same_chunk(&v[alt[c][k]], &v[i], c);
                        if (!seen)
                                alt[c][choices[c]++] = i;
                }
                states *= choices[c];
                if (states > MAX_STATES)
                        fail_msg("%s: more than %d crash states", what, MAX_STATES);
        }
        for (;;) {
                size_t len = v[alt[chunks][pick[chunks]]].len;

                for (size_t i = 0; i < len; i++)
                        s[i] = byte_of(&v[alt[i / CHUNK][pick[i / CHUNK]]], i);
                (void) snprintf(name, sizeof(name), "%s, crash state %zu of %zu", what, done,
                                states);
                repairable_after_crash(f, before, keep, s, len, name);
                done++;
                /* The next combination, chunk 0 fastest. */
                for (c = 0; c <= chunks && ++pick[c] == choices[c]; c++)
                        pick[c] = 0;
                if (c > chunks)
                        return done;
        }
}

/* Repair the log (its first @keep bytes sound, torn bytes after them),
 * with a fault armed by @arm (NULL: none), expecting @want; then check
 * every state a crash at any moment of it could leave on disk. */
static void repair_under_power_loss(struct fixture *f, size_t keep, void (*arm)(void), int want,
                                    const char *what)
{
        struct history h = { .path = f->log };
        struct cd_audit_repair rep;
        struct cd_err err = { 0 };
        size_t from = 0, syncs = 0, states = 0;
        struct stat st;
        int r;

        assert_int_equal(stat(f->log, &st), 0);
        h.dev = st.st_dev;
        h.ino = st.st_ino;
        history_add(&h, true); /* what the crash interrupted was on disk */
        cd_wrap_observe(snap_log, &h);
        if (arm)
                arm();
        r = cd_audit_repair(f->a, 0, &rep, &err);
        cd_wrap_observe(NULL, NULL);
        if (r != want)
                fail_msg("%s: repair returned %d (%s), expected %d", what, r, err.msg, want);
        for (int sym = 0; sym < _WRAP_MAX; sym++)
                assert_false(cd_wrap_pending((enum cd_wrap_sym) sym));
        history_add(&h, false);
        for (size_t i = 1; i < h.n; i++) {
                if (!h.v[i].synced && i + 1 < h.n)
                        continue;
                states += check_window(f, h.v[0].bytes, keep, &h.v[from], i - from + 1, what);
                syncs += h.v[i].synced;
                from = i;
        }
        /* The record's bytes and the cut, each synced, at the least. */
        assert_true(syncs >= 2);
        assert_true(states > h.n);
}

static void fail_the_cut(void)
{
        cd_wrap_fail(WRAP_FTRUNCATE, EIO, 1);
}

static void fail_the_second_pwrite(void)
{
        cd_wrap_fail(WRAP_PWRITE, ENOSPC, 2);
}

static void fail_the_second_fdatasync(void)
{
        cd_wrap_fail(WRAP_FDATASYNC, EIO, 2);
}

/*
 * A power loss at any moment of a repair leaves a log that the next
 * repair repairs. The repair writes its record where the torn bytes
 * begin. It used to write the record and its newline in one pwrite and
 * then fdatasync: the disk could then get the block holding the newline
 * and not the one holding the record's start, and the log ended in a
 * complete line that was neither a record nor torn, which repair refuses
 * ("not valid JSON") and verify fails: cordond would not start until a
 * person cut it; its undoing wrote the torn bytes back over the record and
 * its newline in one pwrite, with the same result. The torn bytes longer
 * than the record and shorter;
 * the torn first record of a file begun by a rotation (two lines, the
 * audit.rotated record first); and the undoing of a repair that could not
 * finish (the torn bytes put back), from each point it can fail.
 */
static void repair_survives_a_power_loss_at_any_moment(void **state)
{
        static const size_t lengths[] = { 1500, 20 };
        struct fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(lengths); i++) {
                size_t n = lengths[i];

                repair_under_power_loss(f, torn_after_records(f, n), NULL, 0, "repair");
                repair_under_power_loss(f, torn_after_rotation(f, n), NULL, 0,
                                        "repair after a rotation");
                repair_under_power_loss(f, torn_after_records(f, n), fail_the_cut, -EIO,
                                        "undone after a failed cut");
                repair_under_power_loss(f, torn_after_rotation(f, n), fail_the_cut, -EIO,
                                        "undone after a failed cut, after a rotation");
                repair_under_power_loss(f, torn_after_records(f, n), fail_the_second_pwrite,
                                        -ENOSPC, "undone after a failed second write");
                repair_under_power_loss(f, torn_after_records(f, n), fail_the_second_fdatasync,
                                        -EIO, "undone after a failed second sync");
        }
}

/* The exit status of a repair in a child killed right before its @nth
 * call of @sym; 0 if it made fewer and succeeded. */
static int repair_killed_at(struct fixture *f, enum cd_wrap_sym sym, unsigned int nth)
{
        struct cd_audit_repair rep;
        struct cd_err err = { 0 };
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                cd_wrap_die(sym, nth);
                _exit(cd_audit_repair(f->a, 0, &rep, &err) == 0 ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/*
 * A repair killed at any of its writes (the process, or the machine once
 * its writes reached the disk in order) never leaves the torn bytes cut
 * without a record of the cut, nor a complete line that is not a record:
 * the log keeps its sound bytes, then complete records of the repair, then
 * maybe bytes without a newline, and a second repair leaves a sound log
 * holding an audit.repaired record. Torn bytes longer than the record, so
 * that a part of them outlives the record until the cut.
 *
 * The repair's writes: the record's bytes without their newline, the
 * newline, the cut (two pwrites and an ftruncate), and no write(2). The
 * newline used to go with the record's bytes: one pwrite, and the kill
 * before a second pwrite never came.
 */
static void repair_killed_at_any_write_loses_nothing_unrecorded(void **state)
{
        static const struct {
                enum cd_wrap_sym sym;
                const char *name;
                unsigned int calls;
        } points[] = { { WRAP_WRITE, "write", 0 },
                       { WRAP_PWRITE, "pwrite", 2 },
                       { WRAP_FTRUNCATE, "ftruncate", 1 } };
        struct fixture *f = *state;
        unsigned int died = 0;

        for (size_t p = 0; p < ELEMENTSOF(points); p++)
                for (unsigned int nth = 1; nth <= points[p].calls + 1; nth++) {
                        size_t keep = torn_after_records(f, 1500), before_len, after_len;
                        const char *before = slurp(f->log, &before_len), *after;
                        int status = repair_killed_at(f, points[p].sym, nth);
                        char what[64];

                        (void) snprintf(what, sizeof(what), "killed before %s %u", points[p].name,
                                        nth);
                        if (nth > points[p].calls) {
                                if (status != 0)
                                        fail_msg("%s: exit %d, expected no such call", what,
                                                 status);
                                continue;
                        }
                        if (status != CD_WRAP_DIED)
                                fail_msg("%s: exit %d, expected the kill", what, status);
                        died++;
                        after = slurp(f->log, &after_len);
                        repairable_after_crash(f, before, keep, after, after_len, what);
                }
        assert_int_equal(died, 3);
}

/* A torn first record of an audit.jsonl begun by a rotation: the repair
 * writes an audit.rotated record, then its own, and the directory
 * verifies; also after a kill at any of its writes, after which a second
 * repair finishes the work. Its writes: the two lines' bytes, each
 * newline, the cut (four pwrites and an ftruncate: a kill at a fifth or a
 * second is never reached). */
static void repair_torn_first_record_after_rotation(void **state)
{
        static const struct {
                enum cd_wrap_sym sym;
                const char *name;
                unsigned int nth;
                bool dies;
        } kills[] = {
                { WRAP_PWRITE, "pwrite", 1, true },       { WRAP_PWRITE, "pwrite", 2, true },
                { WRAP_PWRITE, "pwrite", 3, true },       { WRAP_PWRITE, "pwrite", 4, true },
                { WRAP_PWRITE, "pwrite", 5, false },      { WRAP_FTRUNCATE, "ftruncate", 1, true },
                { WRAP_FTRUNCATE, "ftruncate", 2, false }
        };
        struct fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(kills); i++) {
                struct cd_audit_repair rep;
                struct cd_err err = { 0 };
                struct lines l;
                int status;

                torn_after_rotation(f, 1500);
                status = repair_killed_at(f, kills[i].sym, kills[i].nth);
                if (status != (kills[i].dies ? CD_WRAP_DIED : 0))
                        fail_msg("killed before %s %u: exit %d", kills[i].name, kills[i].nth,
                                 status);
                reopen(f, 0);
                assert_int_equal(cd_audit_repair(f->a, 0, &rep, &err), 0);
                if (!kills[i].dies)
                        assert_int_equal(rep.cut_bytes, 0);
                l = read_lines(f->log);
                assert_true(l.n >= 2);
                assert_non_null(strstr(l.v[0], "\"event\":\"" CD_AUDIT_ROTATED "\""));
                assert_non_null(strstr(l.v[1], "\"event\":\"" CD_AUDIT_REPAIRED "\""));
                assert_true(verify(f->dir, NULL).ok);
                assert_int_equal(append_one(f->a, 0, 9, &err), 0);
                assert_true(verify(f->dir, NULL).ok);
        }
}

/* Exactly a record's length without a newline is not a torn record. */
static void repair_refuses_a_record_length_tail(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_repair rep;
        struct cd_err err = { 0 };
        char *big = ut_defer(free, malloc(CD_AUDIT_MAX_RECORD));

        reopen(f, 0);
        assert_non_null(big);
        memset(big, 'x', CD_AUDIT_MAX_RECORD);
        append_bytes(f->log, big, CD_AUDIT_MAX_RECORD);
        assert_int_equal(cd_audit_repair(f->a, 0, &rep, &err), -CD_E_INVALID);
        assert_non_null(strstr(err.msg, "longer than any record"));
}

/* A torn first record: the whole file was the torn append. */
static void repair_cuts_a_torn_first_record(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_repair rep;
        struct cd_err err = { 0 };

        reopen(f, 0);
        append_bytes(f->log, "{\"seq\":1,", 9);
        assert_int_equal(cd_audit_repair(f->a, 0, &rep, &err), 0);
        assert_int_equal(rep.cut_bytes, 9);
        assert_int_equal(rep.seq, 1);
        assert_true(verify(f->log, NULL).ok);
}

/* What a torn append cannot leave is refused and left as it is: a complete
 * line that is not a record, a torn line after one, a tail longer than a
 * record. */
static void repair_refuses_what_is_not_torn(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_repair rep;
        struct cd_err err = { 0 };
        char *big = ut_defer(free, malloc(CD_AUDIT_MAX_RECORD + 10));
        struct stat st, after;

        reopen(f, 0);
        append_n(f, 2);
        append_bytes(f->log, "garbage\n", 8);
        assert_int_equal(stat(f->log, &st), 0);
        assert_int_equal(cd_audit_repair(f->a, 0, &rep, &err), -CD_E_INVALID);
        assert_non_null(strstr(err.msg, "complete but not a record"));
        append_bytes(f->log, "{\"seq\":", 7);
        assert_int_equal(cd_audit_repair(f->a, 0, &rep, &err), -CD_E_INVALID);
        assert_non_null(strstr(err.msg, "is not valid JSON"));
        assert_int_equal(stat(f->log, &after), 0);
        assert_int_equal(after.st_size, st.st_size + 7);
        assert_int_equal(truncate(f->log, st.st_size - 8), 0);
        assert_non_null(big);
        memset(big, 'x', CD_AUDIT_MAX_RECORD + 10);
        append_bytes(f->log, big, CD_AUDIT_MAX_RECORD + 10);
        assert_int_equal(cd_audit_repair(f->a, 0, &rep, &err), -CD_E_INVALID);
        assert_non_null(strstr(err.msg, "longer than any record"));
        assert_int_equal(stat(f->log, &after), 0);
        assert_int_equal(after.st_size, st.st_size - 8 + CD_AUDIT_MAX_RECORD + 10);
}

static void append_refuses_a_log_that_went_backwards(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_verify_opts anchor = { .anchor_seq = 3 };
        struct cd_err err = { 0 };
        struct cd_audit *other = NULL;
        struct lines l;

        reopen(f, 0);
        append_n(f, 3);
        anchor.anchor_hash = ut_defer(free, strdup(verify(f->log, NULL).last_hash));
        l = read_lines(f->log);
        write_lines(f->log, l.v, 2, true);
        assert_int_equal(append_one(f->a, 0, 9, &err), -CD_E_INVALID);
        assert_non_null(strstr(err.msg, "ends at seq 2 but this process already wrote seq 3"));
        /* A process that never saw seq 3 cannot tell; the anchor can. */
        assert_int_equal(cd_audit_open(f->dir, NULL, &other, &err), 0);
        ut_defer(audit_free, other);
        assert_int_equal(append_one(other, 0, 9, &err), 0);
        assert_true(verify(f->log, NULL).ok);
        assert_broken((struct cd_audit_report[]){ verify(f->log, &anchor) }, 3, 3,
                      "record 3 (line 3 of audit.jsonl) does not match the anchor");
}

static void full_disk_leaves_no_half_record(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_report rep;
        struct cd_err err = { 0 };
        struct stat before, after;

        reopen(f, 0);
        append_n(f, 2);
        assert_int_equal(stat(f->log, &before), 0);
        cd_wrap_fail(WRAP_WRITE, ENOSPC, 1);
        assert_int_equal(append_one(f->a, 0, 2, &err), -ENOSPC);
        assert_false(cd_wrap_pending(WRAP_WRITE));
        assert_int_equal(err.code, ENOSPC);
        assert_non_null(strstr(err.msg, "audit: write audit.jsonl: No space left on device"));
        assert_int_equal(stat(f->log, &after), 0);
        assert_int_equal(after.st_size, before.st_size);
        /* A short write is completed: the lock keeps other writers out. */
        cd_wrap_short(WRAP_WRITE, 10, 1);
        assert_int_equal(append_one(f->a, 0, 2, &err), 0);
        assert_false(cd_wrap_pending(WRAP_WRITE));
        rep = verify(f->log, NULL);
        assert_true(rep.ok);
        assert_int_equal(rep.records, 3);
}

static void partial_write_is_cut_back(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        struct rlimit old, lim;
        struct stat before, after;
        int r;

        reopen(f, 0);
        append_n(f, 2);
        assert_int_equal(stat(f->log, &before), 0);
        /* A file size limit 40 bytes past the end: the first write(2) moves
         * 40 bytes, the next fails with EFBIG (setrlimit(2)). */
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = (struct rlimit){ .rlim_cur = (rlim_t) before.st_size + 40, .rlim_max = old.rlim_max };
        assert_true(signal(SIGXFSZ, SIG_IGN) != SIG_ERR);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        r = append_one(f->a, 0, 2, &err);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        (void) signal(SIGXFSZ, SIG_DFL);
        assert_int_equal(r, -EFBIG);
        assert_int_equal(stat(f->log, &after), 0);
        assert_int_equal(after.st_size, before.st_size);
        assert_true(verify(f->log, NULL).ok);
        append_n(f, 1);
        assert_int_equal(verify(f->log, NULL).last_seq, 3);
}

static void full_disk_during_rotation(void **state)
{
        struct fixture *f = *state;
        struct cd_audit_report rep;
        struct cd_err err = { 0 };
        struct stat st;

        make_rotated_log(f, 2);
        cd_wrap_fail(WRAP_WRITE, ENOSPC, 1);
        assert_int_equal(append_one(f->a, 0, 2, &err), -ENOSPC);
        assert_int_equal(count_rotated(f->dir), 2);
        assert_int_equal(stat(f->log, &st), 0);
        assert_int_equal(st.st_size, 0);
        rep = verify(f->dir, NULL);
        assert_true(rep.ok);
        assert_int_equal(rep.last_seq, 3);
        append_n(f, 1);
        rep = verify(f->dir, NULL);
        assert_true(rep.ok);
        assert_int_equal(rep.last_seq, 5);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(sha256_hex_matches_evp),
                T(append_writes_a_chain),
                T(append_many_chains_a_batch),
                T(record_holds_exactly_what_was_given),
                T(open_makes_a_private_dir_and_append_only_file),
                T(open_refuses_unsafe_places),
                T(append_refuses_bad_events),
                T(records_up_to_the_size_limit),
                T(tail_lines_around_the_first_window),
                T(verify_detects_every_flipped_byte),
                T(verify_detects_deleted_lines),
                T(verify_detects_reordered_and_duplicated_lines),
                T(verify_detects_edited_seq_and_forged_lines),
                T(verify_detects_truncated_and_malformed_lines),
                T(verify_reports_what_it_cannot_read),
                T(rotation_keeps_the_chain),
                T(scan_reads_from_a_seq_across_rotation),
                T(notes_beside_the_log),
                T(scan_passes_over_what_is_not_a_record),
                T(verify_names_a_line_too_long),
                T(readers_never_buffer_more_than_a_record),
                T(fifos_are_refused_not_waited_on),
                T(readers_refuse_what_others_may_write),
                T(prime_marks_the_last_seq),
                T(rotation_tampering_is_detected),
                T(rotation_checks_the_file_links),
                T(rotation_never_overwrites_a_file),
                T(rotation_resumes_after_a_crash),
                T(two_processes_share_one_chain),
                T(two_processes_rotating_share_one_chain),
                T(verify_while_writers_rotate),
                T(append_refuses_after_a_corrupt_tail),
                T(append_refuses_a_log_that_went_backwards),
                T(repair_cuts_a_torn_tail),
                T(repair_cuts_a_torn_first_record),
                T(repair_undone_when_it_cannot_be_recorded),
                T(repair_killed_at_any_write_loses_nothing_unrecorded),
                T(repair_torn_first_record_after_rotation),
                T(repair_survives_a_power_loss_at_any_moment),
                T(repair_refuses_a_record_length_tail),
                T(repair_refuses_what_is_not_torn),
                T(full_disk_leaves_no_half_record),
                T(partial_write_is_cut_back),
                T(full_disk_during_rotation),
#undef T
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
