/* SPDX-License-Identifier: MIT */
/*
 * The artifact collector against a hostile job (issue 6): whatever the job
 * plants in /out, collection ends in bounded time, takes nothing of a host
 * canary or /etc/shadow, writes nothing outside the result directory,
 * keeps no setuid bit, and lists every entry with the right reason.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cordon/util.h"
#include "harness.h"

static char base[128], canary[192], secret[64];

static int setup(void **state)
{
        int fd;

        harness_setup(state);
        snprintf(base, sizeof(base), "/run/cordon-test-artifacts-%d", (int) getpid());
        snprintf(canary, sizeof(canary), "%s/canary.txt", base);
        snprintf(secret, sizeof(secret), "CANARY-%d-c0ffee", (int) getpid());
        if (mkdir(base, 0755) < 0)
                return -1;
        fd = open(canary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, secret, strlen(secret)) < 0)
                return -1;
        close(fd);
        return 0;
}

static int teardown(void **state)
{
        harness_remove_tree(AT_FDCWD, base);
        return harness_teardown(state);
}

/* The manifest entry for @path (as escaped in the manifest), or NULL. */
static json_t *entry(const struct cd_run *r, const char *path)
{
        json_t *arts = json_object_get(r->result, "artifacts"), *e;
        size_t i;

        json_array_foreach(arts, i, e) if (strcmp(json_string_value(json_object_get(e, "path")),
                                                  path) == 0) return e;
        return NULL;
}

static void expect(const struct cd_run *r, const char *path, const char *reason)
{
        json_t *e = entry(r, path);
        const char *refused = json_string_value(json_object_get(e, "refused"));

        if (!e)
                fail_msg("%s is not in the manifest", path);
        if (reason ? !refused || strcmp(refused, reason) != 0 : refused != NULL)
                fail_msg("%s: refused \"%s\", expected %s", path, refused ? refused : "(taken)",
                         reason ? reason : "taken");
}

/* Walk what the collector wrote: no symlink, modes exactly 0600/0700, and no byte
 * of the canary or of /etc/shadow. */
static void check_copy(int fd_dir, int depth)
{
        DIR *d = fdopendir(fd_dir);
        struct dirent *de;

        assert_non_null(d);
        while ((de = readdir(d))) {
                struct stat st;
                char buf[4096];
                ssize_t n;
                int fd;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                assert_int_equal(fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW), 0);
                if (S_ISDIR(st.st_mode)) {
                        assert_int_equal(st.st_mode & 07777, 0700);
                        fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                        assert_true(fd >= 0);
                        check_copy(fd, depth + 1);
                        continue;
                }
                assert_true(S_ISREG(st.st_mode));
                assert_int_equal(st.st_mode & 07777, 0600);
                fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                assert_true(fd >= 0);
                while ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
                        buf[n] = '\0';
                        assert_null(memmem(buf, (size_t) n, secret, strlen(secret)));
                        assert_null(memmem(buf, (size_t) n, "root:*:", 7));
                        assert_null(memmem(buf, (size_t) n, "root:!", 6));
                }
                close(fd);
        }
        closedir(d);
}

static void test_hostile_out_is_contained(void **state)
{
        char out[192], deep[800] = "";
        struct cd_run r;
        int fd;

        (void) state;
        snprintf(out, sizeof(out), "%s/result", base);
        /* --fsize 1T: the default 1G would kill the sparse file's ftruncate (SIGXFSZ). */
        harness_run(&r, NULL, NULL, "--wall", "60s", "--fsize", "1T", "--out", out, "--",
                    "/opt/cordon-hostile", "traps", canary, NULL);
        printf("# job said: %s", r.out);
        /* The 1 TiB sparse file is too large to leave: output_limit. */
        assert_string_equal(harness_result_str(&r, "verdict"), "output_limit");
        assert_true(harness_result_int(&r, "wall_ms") < 60000);
        assert_non_null(strstr(r.out, "refused: hardlink to a host file"));
        assert_non_null(strstr(r.out, "refused: device node"));
        expect(&r, "normal.txt", NULL);
        expect(&r, "canary-link", "symlink");
        expect(&r, "shadow-link", "symlink");
        expect(&r, "outside-dir", "symlink");
        expect(&r, "environ-link", "symlink");
        expect(&r, "manifest.json", "symlink");
        expect(&r, "stdout", "symlink");
        expect(&r, "a.txt", "hardlink");
        expect(&r, "a-link.txt", "hardlink");
        expect(&r, "fifo", "fifo");
        expect(&r, "sock", "socket");
        expect(&r, "sparse", "too_large");
        expect(&r, "..x", NULL);
        expect(&r, "new\\x0aline", "bad_name");
        expect(&r, "esc\\x1b[31mred", "bad_name");
        expect(&r, "bad\\xff\\xfeutf8", "bad_name");
        expect(&r, "report\\xe2\\x80\\xaegnp.exe", "bad_name");
        expect(&r, "-rf", "bad_name");
        expect(&r, ".git", "bad_name"); /* the directory, and nothing in it */
        assert_null(entry(&r, ".git/config"));
        expect(&r, ".HG", "bad_name");
        expect(&r, ".jj", "bad_name");
        assert_null(entry(&r, ".jj/repo"));
        assert_null(entry(&r, ".jj/repo/config.toml"));
        expect(&r, "_Darcs", "bad_name");
        expect(&r, "bare/HEAD", "bad_name");
        expect(&r, "bare/config", NULL);
        expect(&r, "linked/HEAD", "bad_name");
        expect(&r, "linked/commondir", NULL);
        expect(&r, "plain/HEAD", NULL);
        expect(&r, ".git.", "bad_name");
        assert_null(entry(&r, ".git./config"));
        expect(&r, "GIT~1", "bad_name");
        expect(&r, "folded/HEAD.", "bad_name");
        expect(&r, "suid", NULL);
        {
                char name[256];

                memset(name, 'n', 255);
                name[255] = '\0';
                expect(&r, name, NULL);
        }
        /* The nest stops at the profile's depth (16): the 16th directory is refused. */
        for (int i = 0, n = 0; i < 16; i++)
                n += snprintf(deep + n, sizeof(deep) - n, "%s%s", i ? "/" : "",
                              "dddddddddddddddddddddddddddddddddddddddd");
        expect(&r, deep, "too_deep");
        /* Nothing of the host went into the manifest either. */
        {
                char *dump = json_dumps(r.result, 0);

                assert_null(strstr(dump, secret));
                free(dump);
        }
        fd = open(out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        assert_true(fd >= 0);
        check_copy(fd, 0);
        assert_int_equal(faccessat(fd, ".git", F_OK, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(faccessat(fd, ".HG", F_OK, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(faccessat(fd, ".jj", F_OK, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(faccessat(fd, "_Darcs", F_OK, AT_SYMLINK_NOFOLLOW), -1);
        /* Nothing written beside the result directory. */
        {
                DIR *d = opendir(base);
                struct dirent *de;
                int n = 0;

                while (d && (de = readdir(d)))
                        n += de->d_name[0] != '.';
                closedir(d);
                assert_int_equal(n, 2); /* canary.txt and result */
        }
        harness_run_free(&r);
        harness_assert_nothing_left();
}

static void test_many_files_are_bounded(void **state)
{
        char out[192];
        json_t *arts, *e;
        size_t i, taken = 0, too_many = 0;
        struct cd_run r;

        (void) state;
        snprintf(out, sizeof(out), "%s/many", base);
        harness_run(&r, NULL, NULL, "--wall", "120s", "--out", out, "--", "/opt/cordon-hostile",
                    "many", "20000", NULL);
        printf("# job said: %s", r.out);
        /* /out has room for max_files * 2 + 64 inodes: the job hits the wall. */
        assert_non_null(strstr(r.out, "stopped after"));
        assert_string_equal(harness_result_str(&r, "verdict"), "output_limit");
        arts = json_object_get(r.result, "artifacts");
        json_array_foreach(arts, i, e)
        {
                const char *why = json_string_value(json_object_get(e, "refused"));

                taken += !why;
                too_many += why && strcmp(why, "too_many") == 0;
        }
        assert_int_equal(taken, 1000);
        /* Over a thousand were refused as too_many; the manifest lists
         * CD_MANIFEST_MAX_REFUSED (256) of them, so that reading it stays
         * small however much junk the job leaves. */
        assert_int_equal(too_many, 256);
        assert_int_equal(json_array_size(arts), 1000 + 256);
        harness_run_free(&r);
        harness_assert_nothing_left();
}

/* Over max_files is an output limit even when the refusals that say so are
 * past the 256 the manifest lists: 300 symlinks sort first, then one file
 * more than the 1000 taken. */
static void test_output_limit_past_the_listed_refusals(void **state)
{
        char out[192];
        struct cd_run r;

        (void) state;
        snprintf(out, sizeof(out), "%s/past", base);
        harness_run(&r, NULL, NULL, "--wall", "120s", "--out", out, "--", "/bin/sh", "-c",
                    "cd /out && for i in $(seq 300); do ln -s /x a$i; done &&"
                    " for i in $(seq 1001); do : > f$i; done",
                    NULL);
        assert_string_equal(harness_result_str(&r, "verdict"), "output_limit");
        assert_int_equal(json_array_size(json_object_get(r.result, "artifacts")), 1000 + 256);
        harness_run_free(&r);
        harness_assert_nothing_left();
}

/* /out's size bounds blocks, not what stat says: a sparse file far larger
 * than /out is refused (too_large, so output_limit), not copied out in full
 * with its holes filled; the other files are taken. */
static void test_sparse_file_larger_than_out_is_refused(void **state)
{
        char out[192], path[256];
        struct cd_run r;

        (void) state;
        snprintf(out, sizeof(out), "%s/sparse", base);
        harness_run(&r, NULL, NULL, "--out-size", "4M", "--out", out, "--", "/bin/sh", "-c",
                    "seq 1 20000 > /out/r.csv && truncate -s 20M /out/r.csv &&"
                    " echo ok > /out/small.txt",
                    NULL);
        assert_string_equal(harness_result_str(&r, "verdict"), "output_limit");
        expect(&r, "r.csv", "too_large");
        expect(&r, "small.txt", NULL);
        snprintf(path, sizeof(path), "%s/r.csv", out);
        assert_int_equal(access(path, F_OK), -1);
        snprintf(path, sizeof(path), "%s/small.txt", out);
        assert_int_equal(access(path, F_OK), 0);
        harness_run_free(&r);
        harness_assert_nothing_left();
}

/* Entries of directory @path but . and .. */
static int count_entries(const char *path)
{
        DIR *d = opendir(path);
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
        closedir(d);
        return n;
}

/* A job that takes its own right to read /out (chmod 000 /out) leaves
 * nothing, and that is its doing: verdict ok, exit 0, an empty manifest.
 * Before, the collection failed, and lost output made it setup_error, an
 * infrastructure alarm a job could raise at will. */
static void test_unreadable_out_is_the_jobs_doing(void **state)
{
        char out[192];
        struct cd_run r;

        (void) state;
        snprintf(out, sizeof(out), "%s/closed", base);
        harness_run(&r, NULL, NULL, "--out", out, "--", "/bin/sh", "-c",
                    "echo a > /out/a.csv && chmod 000 /out", NULL);
        assert_int_equal(r.status, 0);
        assert_string_equal(harness_result_str(&r, "verdict"), "ok");
        assert_int_equal(json_array_size(json_object_get(r.result, "artifacts")), 0);
        assert_int_equal(count_entries(out), 0);
        harness_run_free(&r);
        harness_assert_nothing_left();
}

/* The small disk of the next test, unmounted even when it failed. */
static int unmount_small(void **state)
{
        char disk[192];

        (void) state;
        snprintf(disk, sizeof(disk), "%s/small", base);
        (void) umount2(disk, MNT_DETACH);
        return 0;
}

/* The destination fills up mid-copy (a 1 MiB tmpfs; a 2 MiB file after a
 * 16 KiB one): the job ran and exited 0, but its result is setup_error
 * (exit 125) naming ENOSPC; the manifest lists only the file that was
 * stored, with its checksum, and the half-written file is gone. Before,
 * the verdict stayed ok and the manifest listed the failed file as taken,
 * with no checksum. */
static void test_full_destination_keeps_what_was_stored(void **state)
{
        static const char zeros_16k[] =
                "4fe7b59af6de3b665b67788cc2f99892ab827efae3a467342b3bb4e3bc8e5bfe";
        char disk[192], out[224];
        struct cd_run r;
        json_t *a;

        (void) state;
        snprintf(disk, sizeof(disk), "%s/small", base);
        snprintf(out, sizeof(out), "%s/out", disk);
        assert_int_equal(mkdir(disk, 0700), 0);
        assert_int_equal(mount("cordon-test-full", disk, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m"),
                         0);
        harness_run(&r, NULL, NULL, "--out", out, "--", "/bin/sh", "-c",
                    "head -c 16384 /dev/zero > /out/a.bin && head -c 2M /dev/zero > /out/b.bin"
                    " && echo c > /out/c.txt",
                    NULL);
        assert_int_equal(r.status, 125);
        assert_string_equal(harness_result_str(&r, "verdict"), "setup_error");
        assert_int_equal(json_integer_value(json_object_get(r.result, "exit_code")), 0);
        assert_non_null(strstr(harness_result_str(&r, "error"), "No space left on device"));
        assert_int_equal(json_array_size(json_object_get(r.result, "artifacts")), 1);
        expect(&r, "a.bin", NULL);
        a = entry(&r, "a.bin");
        assert_string_equal(json_string_value(json_object_get(a, "sha256")), zeros_16k);
        assert_null(entry(&r, "b.bin"));
        assert_int_equal(count_entries(out), 1);
        harness_run_free(&r);
        assert_int_equal(umount2(disk, MNT_DETACH), 0);
        harness_assert_nothing_left();
}

/* A libmagic that spins forever on a file (injected) costs the collection
 * CD_SNIFF_TIMEOUT_MS per sniffer, for at most four sniffers: the files
 * they hung on are refused as sniff_timeout, the rest as sniff_failed (no
 * sniffer was left to ask), the job's result stands and no sniffer is
 * left. Before, all were unreadable, which says the job could not read
 * them. */
#ifdef CORDON_FAULT_INJECTION
static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}
#endif

#ifdef CORDON_FAULT_INJECTION
/* A sniffer broken by the fault @step on every sniffer's first file: the
 * first four files (the first sniffer's and its three replacements') are
 * refused as @why, each after the per-file deadline at most, the other two
 * as sniff_failed, and the job keeps its verdict. */
static void assert_broken_sniffer_is_bounded(const char *step, const char *dir, const char *why)
{
        char out[192], fault[64];
        char *env[] = { fault, NULL };
        json_t *arts, *e;
        size_t i;
        struct cd_run r;
        uint64_t t0 = now_ms();

        snprintf(fault, sizeof(fault), "CORDON_FAULT=%s", step);
        snprintf(out, sizeof(out), "%s/%s", base, dir);
        harness_run(&r, NULL, env, "--out", out, "--", "/bin/sh", "-c",
                    "for i in 1 2 3 4 5 6; do echo $i > /out/f$i.csv; done", NULL);
        /* Four sniffers of 2 s each, and generous room for a loaded host. */
        assert_true(now_ms() - t0 < 60000);
        assert_string_equal(harness_result_str(&r, "verdict"), "ok");
        arts = json_object_get(r.result, "artifacts");
        assert_int_equal(json_array_size(arts), 6);
        json_array_foreach(arts, i, e)
        {
                const char *want = i < 4 ? why : "sniff_failed";

                assert_string_equal(json_string_value(json_object_get(e, "refused")), want);
        }
        harness_run_free(&r);
        harness_assert_nothing_left();
}
#endif

#ifdef CORDON_FAULT_INJECTION /* used only by fault-injected tests */
/* A profile @name in base/profiles (made if need be) with @artifacts as
 * its "artifacts"; returns the directory. */
static const char *profile_with(const char *name, const char *artifacts)
{
        static char dir[192];
        char path[256], *text = NULL;
        int fd, n;

        snprintf(dir, sizeof(dir), "%s/profiles", base);
        assert_true(mkdir(dir, 0755) == 0 || errno == EEXIST);
        snprintf(path, sizeof(path), "%s/%s.json", dir, name);
        n = asprintf(&text,
                     "{ \"name\": \"%s\", \"command\": [\"/bin/true\"], \"artifacts\": %s }\n",
                     name, artifacts);
        assert_true(n > 0);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, (size_t) n), n);
        close(fd);
        free(text);
        return dir;
}
#endif

/* libmagic takes a second on each file (injected; 64 KiB of newlines take
 * it a third of a second, within the per-file deadline): the collection
 * stops when the profile's artifacts.max_time is spent. The files it took
 * come first, whole; every one after is listed as out_of_time, none left
 * out; the verdict is output_limit. Before, there was no such bound: a
 * thousand such files held the supervisor's CPU for minutes after a job
 * of a few milliseconds. */
static void test_collection_time_is_bounded(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        char out[192], fault[] = "CORDON_FAULT=sniff_slow";
        char *env[] = { fault, NULL };
        const char *dir = profile_with("budget", "{ \"max_time\": \"3s\" }");
        size_t i, taken = 0, late = 0;
        json_t *arts, *e;
        struct cd_run r;
        uint64_t t0 = now_ms();

        snprintf(out, sizeof(out), "%s/budget", base);
        harness_run(&r, NULL, env, "--profiles-dir", dir, "--profile", "budget", "--out", out, "--",
                    "/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8; do echo $i > /out/f$i.csv; done",
                    NULL);
        assert_true(now_ms() - t0 < 60000); /* 3 s and a second, on any host: a hang bound */
        assert_int_equal(r.status, 120);
        assert_string_equal(harness_result_str(&r, "verdict"), "output_limit");
        assert_non_null(strstr(r.err, "the collection of --out ran out of time"));
        arts = json_object_get(r.result, "artifacts");
        assert_int_equal(json_array_size(arts), 8);
        json_array_foreach(arts, i, e)
        {
                const char *why = json_string_value(json_object_get(e, "refused"));

                if (!why) {
                        assert_int_equal(late, 0); /* taken ones first, in walk order */
                        taken++;
                        continue;
                }
                assert_string_equal(why, "out_of_time");
                late++;
        }
        assert_true(late > 0);
        assert_int_equal(count_entries(out), (int) taken);
        harness_run_free(&r);
        harness_assert_nothing_left();
#endif
}

/* A libmagic that spins on a crafted file. */
static void test_hung_sniffer_is_bounded(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        assert_broken_sniffer_is_bounded("sniff_hang", "hung", "sniff_timeout");
#endif
}

/* A libmagic that crashes on a file: the file is refused as sniff_failed,
 * and the sniffer replaced for the next one. */
static void test_dying_sniffer_is_bounded(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        assert_broken_sniffer_is_bounded("sniff_die", "died", "sniff_failed");
#endif
}

/* An exploited sniffer that sends the first byte of its answer and then
 * waits in read(2), using no CPU. Before, the collector read the rest of
 * the answer with no deadline and hung with the job's slot. */
static void test_stalled_sniffer_answer_is_bounded(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        assert_broken_sniffer_is_bounded("sniff_stall_reply", "stalled", "sniff_timeout");
#endif
}

#ifdef CORDON_FAULT_INJECTION
/* A "cordon-sniff" child of *@data (the collector's pid). */
static bool is_sniffer_of(pid_t pid, void *data)
{
        char path[64], buf[512] = "";
        const char *pp;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        if (cd_read_at(AT_FDCWD, path, buf, sizeof(buf) - 1) <= 0)
                return false;
        pp = strstr(buf, "\nPPid:\t");
        if (!pp || strtol(pp + 7, NULL, 10) != *(pid_t *) data)
                return false;
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
        memset(buf, 0, sizeof(buf));
        return cd_read_at(AT_FDCWD, path, buf, sizeof(buf) - 1) > 0 &&
               strcmp(buf, "cordon-sniff") == 0;
}

struct sniffer_search {
        pid_t parent;
        pid_t found;
};

static bool sniffer_found(void *data)
{
        struct sniffer_search *s = data;

        return harness_processes(is_sniffer_of, &s->parent, &s->found) > 0;
}

/* The pid of a "cordon-sniff" child of @parent, within 20 s, or -1. */
static pid_t find_sniffer(pid_t parent)
{
        struct sniffer_search s = { .parent = parent, .found = -1 };

        return harness_until(sniffer_found, &s, 20000) ? s.found : -1;
}

/* Whether @needle is anywhere in @pid's readable memory (regions up to
 * 64 MiB: the sanitizers' shadow reservations are skipped). */
static bool in_memory(pid_t pid, const char *needle)
{
        char path[64], line[512];
        FILE *maps;
        int mem;
        bool found = false;

        snprintf(path, sizeof(path), "/proc/%d/maps", (int) pid);
        maps = fopen(path, "re");
        snprintf(path, sizeof(path), "/proc/%d/mem", (int) pid);
        mem = open(path, O_RDONLY | O_CLOEXEC);
        while (maps && mem >= 0 && !found && fgets(line, sizeof(line), maps)) {
                unsigned long lo, hi;
                char perms[8];
                char *buf;
                ssize_t n;

                if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' ||
                    hi - lo > (64UL << 20))
                        continue;
                buf = malloc(hi - lo);
                assert_non_null(buf);
                n = pread(mem, buf, hi - lo, (off_t) lo);
                found = n > 0 && memmem(buf, (size_t) n, needle, strlen(needle));
                free(buf);
        }
        if (maps)
                fclose(maps);
        if (mem >= 0)
                close(mem);
        return found;
}
#endif

/* The sniffer runs libmagic on the job's bytes in an address space of its
 * own: not a fork of the collector (in cordond, every other job's buffers),
 * but the program exec'd again. A canary in the collector's environment is
 * nowhere in the sniffer's memory, which a hung sniffer (injected) keeps
 * alive long enough to read. */
static pid_t spawned = -1; /* a collector test_sniffer_... left running when it failed */

static int kill_spawned(void **state)
{
        (void) state;
        if (spawned > 0) {
                (void) kill(spawned, SIGKILL);
                (void) waitpid(spawned, NULL, 0);
                spawned = -1;
        }
        return 0;
}

#ifdef CORDON_FAULT_INJECTION
struct environ_search {
        pid_t pid;
        const char *needle;
};

static bool environ_holds(void *data)
{
        const struct environ_search *e = data;
        char path[64], buf[8192];
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%d/environ", (int) e->pid);
        n = cd_read_at(AT_FDCWD, path, buf, sizeof(buf) - 1);
        return n > 0 && memmem(buf, (size_t) n, e->needle, strlen(e->needle));
}

/* Whether /proc/@pid/environ holds @needle, within @ms. */
static bool in_environ(pid_t pid, const char *needle, unsigned int ms)
{
        struct environ_search e = { .pid = pid, .needle = needle };

        return harness_until(environ_holds, &e, ms);
}

static bool path_gone(void *path)
{
        return access(path, F_OK) < 0;
}

/* A cordon run in the background (in `spawned`, for kill_spawned) whose
 * sniffer hangs on its one artifact (injected), with @mark in its
 * environment if given; its result goes to base/@name.json. */
static pid_t spawn_hung_collector(const char *name, const char *mark, char *result, size_t size)
{
        char out[192];
        const char *args[] = { "--out", out, "--", "/bin/sh", "-c", "echo 1 > /out/a.csv", NULL };

        snprintf(out, sizeof(out), "%s/%s", base, name);
        snprintf(result, size, "%s/%s.json", base, name);
        if (mark)
                assert_int_equal(setenv("CORDON_TEST_CANARY", mark, 1), 0);
        assert_int_equal(setenv("CORDON_FAULT", "sniff_hang", 1), 0);
        spawned = harness_spawn(result, args);
        assert_int_equal(unsetenv("CORDON_FAULT"), 0);
        assert_int_equal(unsetenv("CORDON_TEST_CANARY"), 0);
        return spawned;
}
#endif

static void test_sniffer_has_a_fresh_address_space(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        char result[256], mark[64];
        struct cd_run r;
        pid_t pid, sniffer;

        snprintf(mark, sizeof(mark), "collector-canary-%d-5eed", (int) getpid());
        pid = spawn_hung_collector("fresh", mark, result, sizeof(result));
        /* The canary is in the collector's memory, where its environment is. */
        assert_true(in_environ(pid, mark, 10000));
        sniffer = find_sniffer(pid);
        assert_true(sniffer > 0);                        /* a process of its own, "cordon-sniff" */
        assert_true(in_memory(sniffer, "cordon-sniff")); /* its memory can be read */
        assert_false(in_memory(sniffer, mark));
        assert_false(in_environ(sniffer, "CANARY", 0));
        spawned = -1;
        harness_wait(pid, result, &r);
        assert_string_equal(harness_result_str(&r, "verdict"), "ok");
        harness_run_free(&r);
        harness_assert_nothing_left();
#endif
}

/* A collector killed while its sniffer works (here: hangs) takes the
 * sniffer with it, rather than leaving it spinning until its CPU limit. */
static void test_sniffer_dies_with_its_collector(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        char result[256], path[64];
        struct cd_run r;
        pid_t pid, sniffer;

        pid = spawn_hung_collector("orphan", NULL, result, sizeof(result));
        sniffer = find_sniffer(pid);
        assert_true(sniffer > 0);
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        spawned = -1;
        /* Killed, then reaped by whoever adopted it: gone from /proc. */
        snprintf(path, sizeof(path), "/proc/%d", (int) sniffer);
        assert_true(harness_until(path_gone, path, 10000));
        /* The next run clears what the killed one left (its job's cgroup). */
        harness_run(&r, NULL, NULL, "--", "/bin/true", NULL);
        assert_int_equal(r.status, 0);
        harness_run_free(&r);
        harness_assert_nothing_left();
#endif
}

/* SIGINT to cordon run once the job is over and its files are being
 * collected (a second each, injected): the collection stops there. What
 * was stored stays, whole; every file after it is listed as cancelled;
 * the verdict is cancelled (exit 123), recorded as such. Before, the
 * signal sat in the signalfd until the collection ended: the job came out
 * ok with every file, however long that took. */
static void test_cancel_stops_the_collection(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        static const char one_sha[] =
                "4355a46b19d348dc2f57c046f8ef63d4538ebb936000f3c9ee954a27460dd865"; /* "1\n" */
        char out[192], result[256], first[224];
        const char *args[] = { "--out", out,
                               "--",    "/bin/sh",
                               "-c",    "for i in 1 2 3 4 5 6 7 8; do echo $i > /out/f$i.csv; done",
                               NULL };
        size_t i, taken = 0, cancelled = 0, records = harness_audit_count("job.cancelled");
        json_t *arts, *e;
        struct cd_run r;
        pid_t pid;

        snprintf(out, sizeof(out), "%s/cancelled", base);
        snprintf(result, sizeof(result), "%s/cancelled.json", base);
        snprintf(first, sizeof(first), "%s/f1.csv", out);
        assert_int_equal(setenv("CORDON_FAULT", "sniff_slow", 1), 0);
        pid = spawned = harness_spawn(result, args);
        assert_int_equal(unsetenv("CORDON_FAULT"), 0);
        /* The first file is stored: the job is over, the walk is on. */
        assert_true(harness_until(harness_path_exists, first, 30000));
        assert_int_equal(kill(pid, SIGINT), 0);
        spawned = -1;
        harness_wait(pid, result, &r);
        assert_int_equal(r.status, 123);
        assert_string_equal(harness_result_str(&r, "verdict"), "cancelled");
        assert_int_equal(json_integer_value(json_object_get(r.result, "exit_code")), 0);
        arts = json_object_get(r.result, "artifacts");
        assert_int_equal(json_array_size(arts), 8);
        expect(&r, "f1.csv", NULL);
        assert_string_equal(json_string_value(json_object_get(entry(&r, "f1.csv"), "sha256")),
                            one_sha);
        json_array_foreach(arts, i, e)
        {
                const char *why = json_string_value(json_object_get(e, "refused"));

                if (!why) {
                        assert_int_equal(cancelled, 0); /* taken ones first, in walk order */
                        taken++;
                        continue;
                }
                assert_string_equal(why, "cancelled");
                cancelled++;
        }
        assert_true(cancelled > 0);
        assert_int_equal(count_entries(out), (int) taken);
        assert_int_equal(harness_audit_count("job.cancelled"), records + 1);
        harness_run_free(&r);
        harness_assert_nothing_left();
#endif
}

#ifdef CORDON_FAULT_INJECTION
/* An exited, unreaped child of *@data (cordon run's pid): the sandbox's
 * pid 1 once the job is over (the kernel killed the rest of its pid
 * namespace with it), which the supervisor has not looked at yet. */
static bool is_ended_job_of(pid_t pid, void *data)
{
        char path[64], buf[512] = "";
        const char *pp;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        if (cd_read_at(AT_FDCWD, path, buf, sizeof(buf) - 1) <= 0)
                return false;
        pp = strstr(buf, "\nPPid:\t");
        return pp && strtol(pp + 7, NULL, 10) == *(pid_t *) data && strstr(buf, "\nState:\tZ");
}

static bool job_ended(void *data)
{
        return harness_processes(is_ended_job_of, data, NULL) > 0;
}

/* SIGINT to cordon run once its job has ended, before the supervisor saw
 * the end (held before its first look: the supervise_hold fault, test
 * builds only), so that the end and the cancel come to it together: the
 * cancel stops the collection before its first file. Every one of the
 * @files files @script leaves is listed as cancelled, none is copied, and
 * the verdict is cancelled (exit 123), recorded as such; exit_code stays
 * the job's. Before, the supervisor read the cancel and dropped it, as
 * one that came after the job's end: the job came out ok with every
 * file, although the caller's cancel had come before the collection. */
static void cancel_as_the_job_ends(const char *name, const char *script, size_t files)
{
        char out[192], result[256], release[256];
        const char *args[] = { "--out", out, "--", "/bin/sh", "-c", script, NULL };
        size_t i, records = harness_audit_count("job.cancelled");
        json_t *arts, *e;
        struct cd_run r;
        pid_t pid;
        int fd;

        snprintf(out, sizeof(out), "%s/%s", base, name);
        snprintf(result, sizeof(result), "%s/%s.json", base, name);
        snprintf(release, sizeof(release), "%s/%s.release", base, name);
        assert_int_equal(setenv("CORDON_FAULT", "supervise_hold", 1), 0);
        assert_int_equal(setenv("CORDON_FAULT_RELEASE", release, 1), 0);
        pid = spawned = harness_spawn(result, args);
        assert_int_equal(unsetenv("CORDON_FAULT"), 0);
        assert_int_equal(unsetenv("CORDON_FAULT_RELEASE"), 0);
        assert_true(harness_until(job_ended, &pid, 30000));
        assert_int_equal(kill(pid, SIGINT), 0);
        fd = open(release, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        (void) close(fd);
        spawned = -1;
        harness_wait(pid, result, &r);
        assert_int_equal(r.status, 123);
        assert_string_equal(harness_result_str(&r, "verdict"), "cancelled");
        assert_int_equal(json_integer_value(json_object_get(r.result, "exit_code")), 0);
        arts = json_object_get(r.result, "artifacts");
        assert_int_equal(json_array_size(arts), files);
        json_array_foreach(arts, i, e)
                assert_string_equal(json_string_value(json_object_get(e, "refused")), "cancelled");
        assert_int_equal(count_entries(out), 0);
        assert_int_equal(harness_audit_count("job.cancelled"), records + 1);
        harness_run_free(&r);
        harness_assert_nothing_left();
}
#endif

static void test_cancel_as_the_job_ends(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        cancel_as_the_job_ends("ending", "echo 1 > /out/a.csv; echo 2 > /out/b.csv", 2);
#endif
}

/* The same with nothing in /out: the walk never looks at a file, and the
 * cancel, which came before the collection ended, still decides the
 * verdict. */
static void test_cancel_as_a_job_without_files_ends(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        cancel_as_the_job_ends("ending-empty", "exit 0", 0);
#endif
}

#ifdef CORDON_FAULT_INJECTION
/* cordon run whose sniffer never says it is ready (injected), with three
 * files in /out, under the profile @name from @dir (NULL: the default
 * profile); its result to base/@name.json. */
static pid_t spawn_unready_sniffer(const char *name, const char *dir, char *result, size_t size)
{
        static const char script[] = "for i in 1 2 3; do echo $i > /out/f$i.csv; done";
        char out[192];
        const char *plain[] = { "--out", out, "--", "/bin/sh", "-c", script, NULL };
        const char *own[] = { "--profiles-dir", dir,  "--profile", name, "--out", out, "--",
                              "/bin/sh",        "-c", script,      NULL };

        snprintf(out, sizeof(out), "%s/%s", base, name);
        snprintf(result, size, "%s/%s.json", base, name);
        assert_int_equal(setenv("CORDON_FAULT", "sniff_start_hang", 1), 0);
        spawned = harness_spawn(result, dir ? own : plain);
        assert_int_equal(unsetenv("CORDON_FAULT"), 0);
        return spawned;
}

/* Every entry of @r's manifest (@n of them) is refused as @why. */
static void assert_all_refused(const struct cd_run *r, size_t n, const char *why)
{
        json_t *arts = json_object_get(r->result, "artifacts"), *e;
        size_t i;

        assert_int_equal(json_array_size(arts), n);
        json_array_foreach(arts, i, e)
                assert_string_equal(json_string_value(json_object_get(e, "refused")), why);
}
#endif

/* A sniffer that never gets ready (injected) against a collection of 1 s
 * (artifacts.max_time): the wait for it ends with the collection's time,
 * and the files are listed as out_of_time (output_limit), as with any
 * other wait of the collection's. Before, the start had its own 2 s,
 * outside max_time (and each of three restarts had 2 s more). */
static void test_max_time_cuts_the_sniffers_start(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        const char *dir = profile_with("quick", "{ \"max_time\": \"1s\" }");
        char result[256];
        struct cd_run r;
        pid_t pid = spawn_unready_sniffer("quick", dir, result, sizeof(result));

        spawned = -1;
        harness_wait(pid, result, &r);
        assert_int_equal(r.status, 120);
        assert_string_equal(harness_result_str(&r, "verdict"), "output_limit");
        assert_all_refused(&r, 3, "out_of_time");
        harness_run_free(&r);
        harness_assert_nothing_left();
#endif
}

/* SIGINT to cordon run while the collection waits for a sniffer that
 * never gets ready (injected): the wait ends there, the files are listed
 * as cancelled and the verdict is cancelled. Before, the cancel waited for
 * the start's own 2 s, which then failed the collection (setup_error). */
static void test_cancel_cuts_the_sniffers_start(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        char result[256];
        struct cd_run r;
        pid_t pid = spawn_unready_sniffer("unready", NULL, result, sizeof(result));

        assert_true(find_sniffer(pid) > 0);
        assert_int_equal(kill(pid, SIGINT), 0);
        spawned = -1;
        harness_wait(pid, result, &r);
        assert_int_equal(r.status, 123);
        assert_string_equal(harness_result_str(&r, "verdict"), "cancelled");
        assert_all_refused(&r, 3, "cancelled");
        harness_run_free(&r);
        harness_assert_nothing_left();
#endif
}

/* libmagic cannot be loaded (injected; it is dlopen'd when artifacts are
 * first sniffed): the job runs, nothing of /out is taken, cordon run says
 * why and exits with setup_error's code, and nothing is left. */
static void test_sniffer_without_libmagic(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        char out[192], fault[] = "CORDON_FAULT=magic_load";
        char *env[] = { fault, NULL };
        struct cd_run r;

        snprintf(out, sizeof(out), "%s/nomagic", base);
        harness_run(&r, NULL, env, "--out", out, "--", "/bin/sh", "-c", "echo 1 > /out/a.csv",
                    NULL);
        assert_int_equal(r.status, 125);
        assert_non_null(strstr(r.err, "libmagic.so.1"));
        assert_int_equal(count_entries(out), 0);
        harness_run_free(&r);
        harness_assert_nothing_left();
#endif
}

/* No magic database (MAGIC names a missing file; libmagic reads the
 * variable): the sniffer never says it is ready, so the collection fails
 * with that reason and exit 125, instead of refusing every file as
 * unreadable and succeeding with nothing. */
static void test_sniffer_without_database(void **state)
{
        char out[192], magic[] = "MAGIC=/nonexistent/magic.mgc";
        char *env[] = { magic, NULL };
        struct cd_run r;

        (void) state;
        snprintf(out, sizeof(out), "%s/nodb", base);
        harness_run(&r, NULL, env, "--out", out, "--", "/bin/sh", "-c", "echo 1 > /out/a.csv",
                    NULL);
        assert_int_equal(r.status, 125);
        assert_non_null(strstr(r.err, "libmagic could not load its database"));
        assert_int_equal(count_entries(out), 0);
        harness_run_free(&r);
        harness_assert_nothing_left();
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hostile_out_is_contained),
                cmocka_unit_test(test_many_files_are_bounded),
                cmocka_unit_test(test_unreadable_out_is_the_jobs_doing),
                cmocka_unit_test(test_output_limit_past_the_listed_refusals),
                cmocka_unit_test(test_sparse_file_larger_than_out_is_refused),
                cmocka_unit_test_teardown(test_full_destination_keeps_what_was_stored,
                                          unmount_small),
                cmocka_unit_test(test_hung_sniffer_is_bounded),
                cmocka_unit_test(test_dying_sniffer_is_bounded),
                cmocka_unit_test(test_collection_time_is_bounded),
                cmocka_unit_test(test_stalled_sniffer_answer_is_bounded),
                cmocka_unit_test_teardown(test_sniffer_has_a_fresh_address_space, kill_spawned),
                cmocka_unit_test_teardown(test_sniffer_dies_with_its_collector, kill_spawned),
                cmocka_unit_test_teardown(test_cancel_stops_the_collection, kill_spawned),
                cmocka_unit_test_teardown(test_cancel_as_the_job_ends, kill_spawned),
                cmocka_unit_test_teardown(test_cancel_as_a_job_without_files_ends, kill_spawned),
                cmocka_unit_test_teardown(test_max_time_cuts_the_sniffers_start, kill_spawned),
                cmocka_unit_test_teardown(test_cancel_cuts_the_sniffers_start, kill_spawned),
                cmocka_unit_test(test_sniffer_without_libmagic),
                cmocka_unit_test(test_sniffer_without_database),
        };

        harness_require_root();
        return cmocka_run_group_tests_name("artifacts", tests, setup, teardown);
}
