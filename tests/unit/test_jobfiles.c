/* SPDX-License-Identifier: MIT */
/*
 * store/jobfiles.c: a job's files go however deep a profile lets the
 * collector nest its artifacts, and the startup sweep removes what it can
 * when one stale entry will not go, instead of keeping cordond from
 * starting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cordon/jobfiles.h"
#include "cordon/plan.h"
#include "cordon/store.h"
#include "cordon/util.h"
#include "unit.h"

struct fixture {
        char *tmp;
        struct cd_jobfiles jf;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct cd_err err = { 0 };

        assert_non_null(f);
        f->tmp = ut_mkdtemp();
        assert_non_null(f->tmp);
        if (cd_jobfiles_open(f->tmp, &f->jf, &err) < 0)
                fail_msg("cd_jobfiles_open: %s", err.msg);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        cd_jobfiles_close(&f->jf);
        assert_int_equal(ut_rm_rf(f->tmp), 0);
        free(f->tmp);
        free(f);
        return 0;
}

/* jobs/@entry/@sub/d/d/.../d (@levels of d) with a file at the bottom. */
static void make_tree(const struct fixture *f, const char *entry, const char *sub,
                      unsigned int levels)
{
        int fd = openat(f->jf.jobs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        const char *step[] = { entry, sub };

        assert_true(fd >= 0);
        for (unsigned int i = 0; i < levels + 2; i++) {
                const char *name = i < 2 ? step[i] : "d";
                int next;

                assert_int_equal(mkdirat(fd, name, 0700), 0);
                next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                assert_true(next >= 0);
                (void) close(fd);
                fd = next;
        }
        assert_int_equal(ut_write_file(fd, "f.csv", "1\n", 2), 0);
        (void) close(fd);
}

static bool exists(const struct fixture *f, const char *entry)
{
        struct stat st;

        return fstatat(f->jf.jobs_fd, entry, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void id_of(unsigned int n, char id[CD_JOB_ID_LEN + 1])
{
        (void) snprintf(id, CD_JOB_ID_LEN + 1, "%032x", n);
}

/* The collector makes up to CD_ARTIFACT_MAX_DEPTH levels under artifacts/:
 * all of it goes (it stopped at the 64th level, and the row was gone). */
static void test_remove_deepest_artifacts(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        char id[CD_JOB_ID_LEN + 1];

        id_of(1, id);
        make_tree(f, id, "artifacts", CD_ARTIFACT_MAX_DEPTH);
        if (cd_jobfiles_remove(&f->jf, id, &err) < 0)
                fail_msg("cd_jobfiles_remove: %s", err.msg);
        assert_false(exists(f, id));
}

struct dropper {
        const struct fixture *f;
        const char *id;
        int r;
        struct cd_err err;
};

static void *drop_inputs(void *data)
{
        struct dropper *d = data;

        d->r = cd_jobfiles_drop_inputs(&d->f->jf, d->id, &d->err);
        return NULL;
}

/* A job's worker removes its inputs while a delete removes the whole job:
 * both walk inputs/, and an entry the other took first is no failure. The
 * delete used to stop at it (ENOENT) and leave the job's other files. */
static void test_delete_while_inputs_are_dropped(void **state)
{
        struct fixture *f = *state;
        char id[CD_JOB_ID_LEN + 1];

        id_of(3, id);
        for (int round = 0; round < 100; round++) {
                struct dropper d = { .f = f, .id = id };
                struct cd_err err = { 0 };
                pthread_t t;
                int fd;

                make_tree(f, id, "artifacts", 1);
                fd = cd_jobfiles_open_job(&f->jf, id);
                assert_true(fd >= 0);
                assert_int_equal(mkdirat(fd, "inputs", 0700), 0);
                for (int i = 0; i < 64; i++) {
                        char name[16];
                        int in = openat(fd, "inputs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                        assert_true(in >= 0);
                        (void) snprintf(name, sizeof(name), "in%d.csv", i);
                        assert_int_equal(ut_write_file(in, name, "1\n", 2), 0);
                        (void) close(in);
                }
                (void) close(fd);
                assert_int_equal(pthread_create(&t, NULL, drop_inputs, &d), 0);
                if (cd_jobfiles_remove(&f->jf, id, &err) < 0)
                        fail_msg("round %d: cd_jobfiles_remove: %s", round, err.msg);
                assert_int_equal(pthread_join(t, NULL), 0);
                if (d.r < 0)
                        fail_msg("round %d: cd_jobfiles_drop_inputs: %s", round, d.err.msg);
                assert_false(exists(f, id));
        }
}

static bool known_is_7(const char *id, void *data)
{
        char seven[CD_JOB_ID_LEN + 1];

        (void) data;
        id_of(7, seven);
        return strcmp(id, seven) == 0;
}

/* A stale entry too deep to remove is counted and reported; the other
 * stale entries still go, and known jobs stay. */
static void test_sweep_goes_on_past_a_failure(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        char deep[CD_JOB_ID_LEN + 1], stale[CD_JOB_ID_LEN + 1], known[CD_JOB_ID_LEN + 1];
        char partial[CD_JOB_ID_LEN + 16];
        unsigned int failed = 0;
        int r;

        id_of(5, deep);
        id_of(6, stale);
        id_of(7, known);
        (void) snprintf(partial, sizeof(partial), "%s.partial", known);
        make_tree(f, deep, "artifacts", CD_ARTIFACT_MAX_DEPTH + 8);
        make_tree(f, stale, "inputs", 0);
        make_tree(f, known, "artifacts", 2);
        make_tree(f, partial, "inputs", 0);
        assert_int_equal(ut_write_file(f->jf.jobs_fd, "junk", "x", 1), 0);

        r = cd_jobfiles_sweep(&f->jf, known_is_7, NULL, &failed, &err);
        assert_int_equal(r, 3); /* stale, partial, junk */
        assert_int_equal(failed, 1);
        assert_non_null(strstr(err.msg, "remove a stale entry of jobs/"));
        assert_true(exists(f, deep));
        assert_false(exists(f, stale));
        assert_false(exists(f, partial));
        assert_false(exists(f, "junk"));
        assert_true(exists(f, known));
}

/* What a job's tree takes: every directory and file, in blocks, the
 * skipped top-level entry left out, a symlink counted as itself and never
 * followed (it points at a large file outside the job). */
static void test_usage_counts_blocks_and_inodes(void **state)
{
        struct fixture *f = *state;
        struct cd_err err = { 0 };
        struct cd_disk_use use, all;
        static char big[1 << 20];
        char id[CD_JOB_ID_LEN + 1];
        int dir;

        id_of(3, id);
        make_tree(f, id, "artifacts", 3); /* id, artifacts, d, d, d and f.csv */
        dir = cd_jobfiles_open_job(&f->jf, id);
        assert_true(dir >= 0);
        assert_int_equal(mkdirat(dir, "inputs", 0700), 0);
        assert_int_equal(ut_write_file(f->jf.state_fd, "outside", big, sizeof(big)), 0);
        assert_int_equal(symlinkat("../../outside", dir, "link"), 0);
        if (cd_jobfiles_usage(dir, "inputs", &use, &err) < 0)
                fail_msg("cd_jobfiles_usage: %s", err.msg);
        assert_int_equal(use.inodes, 7); /* the six above and the link */
        assert_true(use.bytes >= 1);     /* the file's block (a tmpfs page, or an ext4 block) */
        assert_true(use.bytes < sizeof(big) / 2); /* the link's target is not counted */
        if (cd_jobfiles_usage(dir, NULL, &all, &err) < 0)
                fail_msg("cd_jobfiles_usage: %s", err.msg);
        assert_int_equal(all.inodes, 8);
        assert_true(all.bytes >= use.bytes);
        (void) close(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_remove_deepest_artifacts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delete_while_inputs_are_dropped, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_sweep_goes_on_past_a_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_usage_counts_blocks_and_inodes, setup,
                                                teardown),
        };

        return cmocka_run_group_tests_name("jobfiles", tests, NULL, NULL);
}
