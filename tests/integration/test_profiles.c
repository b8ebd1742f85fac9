/* SPDX-License-Identifier: MIT */
/*
 * Every shipped profile (every profiles/NAME.json) runs a real job end to end on this
 * host (issue 5): inputs copied into /work, the profile's command on the
 * entry file, files collected from /out with their types. quarto runs only
 * where Quarto is installed; without it the refusal must name what is
 * missing. A request may tighten a limit but not loosen one past the
 * profile's maximum.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static char base[128], in_dir[192];

static const char *profiles(void)
{
        return getenv("CORDON_PROFILES");
}

static int setup(void **state)
{
        harness_setup(state);
        snprintf(base, sizeof(base), "/run/cordon-test-profiles-%d", (int) getpid());
        snprintf(in_dir, sizeof(in_dir), "%s/in", base);
        if (!profiles()) {
                fprintf(stderr, "CORDON_PROFILES is not set\n");
                return -1;
        }
        return mkdir(base, 0755) < 0 || mkdir(in_dir, 0755) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
        harness_remove_tree(AT_FDCWD, base);
        return harness_teardown(state);
}

static void write_file(const char *dir, const char *name, const char *text)
{
        char path[256];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
}

/* Write @text to <in_dir>/@name; returns the path (static buffer per slot). */
static const char *input(int slot, const char *name, const char *text)
{
        static char paths[4][256];

        snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", in_dir, name);
        (void) unlink(paths[slot]);
        write_file(in_dir, name, text);
        return paths[slot];
}

static const char *out_dir(const char *name)
{
        static char path[256];

        snprintf(path, sizeof(path), "%s/out-%s", base, name);
        return path;
}

/* The manifest entry @path: taken, with @type. */
static void expect_taken(const struct cd_run *r, const char *path, const char *type)
{
        json_t *e;
        size_t i;

        json_array_foreach(json_object_get(r->result, "artifacts"), i, e)
        {
                if (strcmp(json_string_value(json_object_get(e, "path")), path) != 0)
                        continue;
                if (json_object_get(e, "refused"))
                        fail_msg("%s refused: %s", path,
                                 json_string_value(json_object_get(e, "refused")));
                assert_string_equal(json_string_value(json_object_get(e, "type")), type);
                assert_int_equal(strlen(json_string_value(json_object_get(e, "sha256"))), 64);
                return;
        }
        fail_msg("%s is not in the manifest", path);
}

static void expect_ok(const struct cd_run *r)
{
        if (r->status != 0 || strcmp(harness_result_str(r, "verdict"), "ok") != 0)
                fail_msg("status %d, verdict %s, stderr: %s", r->status,
                         harness_result_str(r, "verdict"), r->err);
}

static void test_default_profile(void **state)
{
        const char *script = input(0, "job.sh",
                                   "pwd > /out/where.txt\n"
                                   "wc -l < /work/data.csv >> /out/where.txt\n");
        const char *data = input(1, "data.csv", "a,b\n1,2\n3,4\n");
        struct cd_run r;
        char path[300], buf[64] = "";
        int fd;

        (void) state;
        harness_run(&r, NULL, NULL, "--profiles-dir", profiles(), "--profile", "default", "--input",
                    script, "--input", data, "--entry", "job.sh", "--out", out_dir("default"),
                    NULL);
        expect_ok(&r);
        expect_taken(&r, "where.txt", "text/plain");
        snprintf(path, sizeof(path), "%s/where.txt", out_dir("default"));
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
        close(fd);
        assert_string_equal(buf, "/work\n3\n");
        harness_run_free(&r);
}

static void test_rscript_profile(void **state)
{
        const char *script = input(0, "squares.R",
                                   "d <- data.frame(n = 1:5, sq = (1:5)^2)\n"
                                   "write.csv(d, '/out/squares.csv', row.names = FALSE)\n"
                                   "cat(sum(d$sq), '\\n')\n");
        struct cd_run r;

        (void) state;
        harness_run(&r, NULL, NULL, "--profiles-dir", profiles(), "--profile", "rscript", "--input",
                    script, "--entry", "squares.R", "--out", out_dir("rscript"), NULL);
        expect_ok(&r);
        assert_non_null(strstr(r.out, "55"));
        expect_taken(&r, "squares.csv", "text/csv");
        harness_run_free(&r);
}

static void test_rmarkdown_profile(void **state)
{
        const char *rmd = input(0, "small.Rmd",
                                "---\ntitle: small\n---\n\n```{r}\nsummary(c(2, 4, 9))\n```\n");
        struct cd_run r;

        (void) state;
        harness_run(&r, NULL, NULL, "--profiles-dir", profiles(), "--profile", "rmarkdown",
                    "--input", rmd, "--entry", "small.Rmd", "--out", out_dir("rmarkdown"), NULL);
        expect_ok(&r);
        expect_taken(&r, "small.html", "text/html");
        harness_run_free(&r);
}

/* R and Python exports over read-only inputs; /work cannot be written, an
 * ELF binary named .csv does not leave, and the limits are the depot's. */
static void test_data_export_profile(void **state)
{
        const char *cohort = input(0, "cohort.csv", "id,age\n1,34\n2,51\n3,47\n");
        const char *r_script =
                input(1, "export.R",
                      "d <- read.csv('cohort.csv')\n"
                      "d$over_40 <- d$age > 40\n"
                      "write.csv(d, '/out/summary.csv', row.names = FALSE)\n"
                      "ok <- tryCatch({ writeLines('x', '/work/new.txt'); 'WRITABLE' },"
                      " warning = function(w) 'READONLY', error = function(e) 'READONLY')\n"
                      "cat(ok, '\\n')\n"
                      "file.copy('/bin/true', '/out/fake.csv')\n");
        const char *py_script =
                input(2, "export.py",
                      "import json\n"
                      "rows = open('cohort.csv').read().split()[1:]\n"
                      "json.dump({'n': len(rows)}, open('/out/count.json', 'w'))\n");
        struct cd_run r;
        json_t *e;
        size_t i;
        bool fake_refused = false;

        (void) state;
        harness_run(&r, NULL, NULL, "--profiles-dir", profiles(), "--profile", "data-export",
                    "--input", cohort, "--input", r_script, "--entry", "export.R", "--out",
                    out_dir("export-r"), NULL);
        expect_ok(&r);
        assert_non_null(strstr(r.out, "READONLY"));
        expect_taken(&r, "summary.csv", "text/csv");
        json_array_foreach(json_object_get(r.result, "artifacts"), i, e) fake_refused =
                fake_refused ||
                (strcmp(json_string_value(json_object_get(e, "path")), "fake.csv") == 0 &&
                 json_object_get(e, "refused") &&
                 strcmp(json_string_value(json_object_get(e, "refused")), "type_not_allowed") == 0);
        assert_true(fake_refused);
        /* The clinical depot's requirement. */
        assert_int_equal(harness_result_int(&r, "limits.memory_bytes"), 1LL << 30);
        assert_int_equal(harness_result_int(&r, "limits.wall_ms"), 300000);
        harness_run_free(&r);

        harness_run(&r, NULL, NULL, "--profiles-dir", profiles(), "--profile", "data-export",
                    "--input", cohort, "--input", py_script, "--entry", "export.py", "--out",
                    out_dir("export-py"), NULL);
        expect_ok(&r);
        expect_taken(&r, "count.json", "application/json");
        harness_run_free(&r);
}

/* The manifest entry @path: refused as type_not_allowed with head type
 * @type, and with its tail's type (NULL: none, the head refused it). */
static const char *expect_type_refused(const struct cd_run *r, const char *path, const char *type)
{
        json_t *e;
        size_t i;

        json_array_foreach(json_object_get(r->result, "artifacts"), i, e)
        {
                const char *why = json_string_value(json_object_get(e, "refused"));

                if (strcmp(json_string_value(json_object_get(e, "path")), path) != 0)
                        continue;
                if (!why || strcmp(why, "type_not_allowed") != 0)
                        fail_msg("%s: %s, expected type_not_allowed", path, why ? why : "taken");
                if (type)
                        assert_string_equal(json_string_value(json_object_get(e, "type")), type);
                return json_string_value(json_object_get(e, "tail_type"));
        }
        fail_msg("%s is not in the manifest", path);
        return NULL;
}

/* data-export types a file by its last 64 KiB too (src/artifacts/types.c):
 * a CSV with an executable after its first window, and a CSV with a ZIP
 * appended that zipfile opens, are refused with the type of their tail;
 * large CSV, ZIP, PNG and UTF-16 CSV files are still taken. Before, the
 * first two left as text/csv. */
static void test_data_export_judges_the_tail(void **state)
{
        const char *script =
                input(0, "smuggle.py",
                      "import io, struct, zipfile, zlib, random\n"
                      "rows = b''.join(b'%d,%d\\n' % (i, i * i) for i in range(40000))\n"
                      "head = b'id,value\\n' + rows[:70000]\n"
                      "head = head[:head.rindex(b'\\n') + 1]\n"
                      "elf = open('/bin/ls', 'rb').read()\n"
                      "open('/out/cohort.csv', 'wb').write(head + elf)\n"
                      "b = io.BytesIO()\n"
                      "with zipfile.ZipFile(b, 'w') as z:\n"
                      "    z.writestr('payload.bin', elf)\n"
                      "open('/out/summary.csv', 'wb').write(head + b.getvalue())\n"
                      "print('zip:', zipfile.ZipFile('/out/summary.csv').namelist())\n"
                      "open('/out/plain.csv', 'wb').write(elf)\n"
                      "open('/out/big.csv', 'wb').write(b'id,value\\n' + rows)\n"
                      "with zipfile.ZipFile('/out/big.zip', 'w', zipfile.ZIP_DEFLATED) as z:\n"
                      "    z.writestr('rows.csv', rows)\n"
                      "    z.writestr('ls', elf)\n"
                      "open('/out/utf16.csv', 'wb').write(('a,Zoë\\n' * 20000).encode('utf-16'))\n"
                      "random.seed(1)\n"
                      "px = bytes(random.getrandbits(8) for _ in range(300 * 301))\n"
                      "def chunk(t, d):\n"
                      "    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', "
                      "zlib.crc32(t + d))\n"
                      "open('/out/plot.png', 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n'\n"
                      "    + chunk(b'IHDR', struct.pack('>IIBBBBB', 300, 300, 8, 0, 0, 0, 0))\n"
                      "    + chunk(b'IDAT', zlib.compress(px)) + chunk(b'IEND', b''))\n");
        struct cd_run r;
        const char *tail;

        (void) state;
        harness_run(&r, NULL, NULL, "--profiles-dir", profiles(), "--profile", "data-export",
                    "--input", script, "--entry", "smuggle.py", "--out", out_dir("smuggle"), NULL);
        expect_ok(&r);
        assert_non_null(strstr(r.out, "zip: ['payload.bin']")); /* a working polyglot */
        tail = expect_type_refused(&r, "cohort.csv", "text/csv");
        assert_non_null(tail);
        assert_null(strstr(tail, "text/"));
        tail = expect_type_refused(&r, "summary.csv", "text/csv");
        assert_non_null(tail);
        assert_string_equal(tail, "application/zip");
        assert_null(expect_type_refused(&r, "plain.csv", NULL)); /* its head refuses it */
        expect_taken(&r, "big.csv", "text/csv");
        expect_taken(&r, "big.zip", "application/zip");
        expect_taken(&r, "utf16.csv", "text/csv");
        expect_taken(&r, "plot.png", "image/png");
        harness_run_free(&r);
        harness_assert_nothing_left();
}

/* Tighter than the profile is fine; looser than its maximum is refused. */
static void test_limits_against_profile_maximum(void **state)
{
        struct cd_run r;

        (void) state;
        harness_run(&r, NULL, NULL, "--profiles-dir", profiles(), "--profile", "data-export",
                    "--memory", "256M", "--", "/bin/true", NULL);
        expect_ok(&r);
        assert_int_equal(harness_result_int(&r, "limits.memory_bytes"), 256LL << 20);
        harness_run_free(&r);
        harness_run(&r, NULL, NULL, "--profiles-dir", profiles(), "--profile", "data-export",
                    "--memory", "2G", "--", "/bin/true", NULL);
        assert_int_equal(r.status, 64);
        assert_non_null(strstr(r.err, "--memory: 2G is above the data-export profile's maximum"));
        assert_null(r.result); /* refused before anything ran */
        harness_run_free(&r);
}

static void test_quarto_profile(void **state)
{
        const char *qmd = input(0, "doc.qmd", "---\ntitle: doc\n---\n\nHello.\n");
        struct cd_run r;

        (void) state;
        harness_run(&r, NULL, NULL, "--profiles-dir", profiles(), "--profile", "quarto", "--input",
                    qmd, "--entry", "doc.qmd", "--out", out_dir("quarto"), NULL);
        if (access("/opt/quarto/bin/quarto", X_OK) != 0) {
                /* Not installed: a clear refusal naming what is missing. */
                assert_int_equal(r.status, 69);
                assert_non_null(strstr(r.err, "the quarto profile needs /opt/quarto"));
                harness_run_free(&r);
                printf("# quarto render skipped: /opt/quarto/bin/quarto is not installed\n");
                return;
        }
        expect_ok(&r);
        expect_taken(&r, "doc.html", "text/html");
        harness_run_free(&r);
}

/* A sound profile that binds a path this host lacks exits 69; one that
 * does not load exits 64 (the escape harness skips only the first). */
/* An input directory (maybe writable by others) holding @what: the copy
 * fails, setup_error, before anything in it is opened. */
static void expect_input_refused(const char *dir, const char *why)
{
        struct cd_run r;

        harness_run(&r, NULL, NULL, "--input", dir, "--", "/bin/true", NULL);
        assert_int_equal(r.status, 125);
        assert_string_equal(harness_result_str(&r, "verdict"), "setup_error");
        if (!strstr(harness_result_str(&r, "error"), why))
                fail_msg("error: %s", harness_result_str(&r, "error"));
        harness_run_free(&r);
        harness_assert_nothing_left();
}

static void test_input_dir_refuses_links_and_specials(void **state)
{
        char dir[256], path[300];

        (void) state;
        snprintf(dir, sizeof(dir), "%s/linked", base);
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(path, sizeof(path), "%s/shadow", dir);
        assert_int_equal(symlink("/etc/shadow", path), 0);
        expect_input_refused(dir, "input 1 holds a symlink or special file");
        assert_int_equal(unlink(path), 0);
        /* A FIFO would read as an empty file (or, opened blocking, hang). */
        snprintf(path, sizeof(path), "%s/fifo", dir);
        assert_int_equal(mkfifo(path, 0644), 0);
        expect_input_refused(dir, "input 1 holds a symlink or special file");
}

/* The entry is a file when looked at and a FIFO when opened: refused, not
 * copied as an empty file. Held between the two by a fault point. */
static void test_input_swapped_while_copied(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        char dir[256], file[300], release[300], reached[300], result[300];
        const char *args[] = { "--input", dir, "--", "/bin/true", NULL };
        struct cd_run r;
        pid_t pid;

        snprintf(dir, sizeof(dir), "%s/swapped", base);
        snprintf(release, sizeof(release), "%s/release", base);
        snprintf(reached, sizeof(reached), "%s/reached", base);
        snprintf(result, sizeof(result), "%s/swapped.json", base);
        assert_int_equal(mkdir(dir, 0755), 0);
        write_file(dir, "data.csv", "a,b\n1,2\n");
        snprintf(file, sizeof(file), "%s/data.csv", dir);
        assert_int_equal(setenv("CORDON_FAULT", "inputs_hold", 1), 0);
        assert_int_equal(setenv("CORDON_FAULT_RELEASE", release, 1), 0);
        assert_int_equal(setenv("CORDON_FAULT_REACHED", reached, 1), 0);
        pid = harness_spawn(result, args);
        assert_int_equal(unsetenv("CORDON_FAULT"), 0);
        assert_int_equal(unsetenv("CORDON_FAULT_RELEASE"), 0);
        assert_int_equal(unsetenv("CORDON_FAULT_REACHED"), 0);
        if (!harness_until(harness_path_exists, reached, 30000)) {
                write_file(base, "release", "");
                harness_wait(pid, result, &r);
                fail_msg("the hold was never reached");
        }
        assert_int_equal(unlink(file), 0);
        assert_int_equal(mkfifo(file, 0644), 0);
        write_file(base, "release", "");
        harness_wait(pid, result, &r);
        assert_int_equal(r.status, 125);
        assert_string_equal(harness_result_str(&r, "verdict"), "setup_error");
        if (!strstr(harness_result_str(&r, "error"), "input 1 changed while it was copied"))
                fail_msg("error: %s", harness_result_str(&r, "error"));
        harness_run_free(&r);
        harness_assert_nothing_left();
#endif
}

static void test_unavailable_or_broken(void **state)
{
        static const char needs[] = "{ \"name\": \"needs\", \"command\": [\"/bin/true\"],\n"
                                    "  \"mounts\": [ { \"source\": \"/nonexistent/cordon-tool\", "
                                    "\"target\": \"/opt/tool\" } ] }\n";
        static const char broken[] = "{ \"name\": \"broken\", \"command\": [\"/bin/true\"], }\n";
        char dir[192];
        struct cd_run r;

        (void) state;
        snprintf(dir, sizeof(dir), "%s/profiles", base);
        assert_int_equal(mkdir(dir, 0755), 0);
        write_file(dir, "needs.json", needs);
        write_file(dir, "broken.json", broken);
        harness_run(&r, NULL, NULL, "--profiles-dir", dir, "--profile", "needs", NULL);
        assert_int_equal(r.status, 69);
        assert_non_null(strstr(r.err, "the needs profile needs /nonexistent/cordon-tool"));
        assert_null(r.result);
        harness_run_free(&r);
        harness_run(&r, NULL, NULL, "--profiles-dir", dir, "--profile", "broken", NULL);
        assert_int_equal(r.status, 64);
        assert_null(r.result);
        harness_run_free(&r);
        harness_assert_nothing_left();
}

/* `cordon run --profile` exits 64 with @want on stderr, running nothing. */
static void expect_profile_refused(const char *dir, const char *want)
{
        struct cd_run r;

        harness_run(&r, NULL, NULL, "--profiles-dir", dir, "--profile", "mine", NULL);
        if (r.status != 64 || !strstr(r.err, want))
                fail_msg("status %d, stderr \"%s\": expected 64 and \"%s\"", r.status, r.err, want);
        assert_null(r.result);
        harness_run_free(&r);
}

/*
 * A profile, or its directory, that someone other than root may change
 * (or put another in place of): `cordon run` refuses it as it refuses a
 * malformed one, naming the path. Each ran the job.
 */
static void test_profile_others_may_change(void **state)
{
        static const char mine[] = "{ \"name\": \"mine\", \"command\": [\"/bin/true\"] }\n";
        char dir[192], file[224], real[224], must[320];
        struct cd_run r;

        (void) state;
        snprintf(dir, sizeof(dir), "%s/owned", base);
        snprintf(file, sizeof(file), "%s/mine.json", dir);
        snprintf(real, sizeof(real), "%s/real.json", base);
        assert_int_equal(mkdir(dir, 0755), 0);
        write_file(dir, "mine.json", mine);
        assert_int_equal(chmod(file, 0664), 0);
        snprintf(must, sizeof(must), "%s must be owned by root and not writable by group or others",
                 file);
        expect_profile_refused(dir, must);
        assert_int_equal(chmod(file, 0644), 0);
        assert_int_equal(chown(file, 65534, 65534), 0);
        expect_profile_refused(dir, must);
        assert_int_equal(chown(file, 0, 0), 0);
        assert_int_equal(chmod(dir, 0777), 0);
        snprintf(must, sizeof(must),
                 "profiles: %s must be owned by root and not writable by group or others", dir);
        expect_profile_refused(dir, must);
        assert_int_equal(chmod(dir, 0755), 0);
        assert_int_equal(rename(file, real), 0);
        assert_int_equal(symlink(real, file), 0);
        snprintf(must, sizeof(must), "%s is a symlink", file);
        expect_profile_refused(dir, must);
        assert_int_equal(unlink(file), 0);
        assert_int_equal(rename(real, file), 0);
        harness_run(&r, NULL, NULL, "--profiles-dir", dir, "--profile", "mine", NULL);
        expect_ok(&r);
        harness_run_free(&r);
        harness_assert_nothing_left();
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default_profile),
                cmocka_unit_test(test_unavailable_or_broken),
                cmocka_unit_test(test_profile_others_may_change),
                cmocka_unit_test(test_input_dir_refuses_links_and_specials),
                cmocka_unit_test(test_input_swapped_while_copied),
                cmocka_unit_test(test_rscript_profile),
                cmocka_unit_test(test_rmarkdown_profile),
                cmocka_unit_test(test_data_export_profile),
                cmocka_unit_test(test_data_export_judges_the_tail),
                cmocka_unit_test(test_limits_against_profile_maximum),
                cmocka_unit_test(test_quarto_profile),
        };

        harness_require_root();
        return cmocka_run_group_tests_name("profiles", tests, setup, teardown);
}
