/* SPDX-License-Identifier: MIT */
/*
 * cgroup/cgroup.c helpers that need no cgroupfs: keyed files, numbers and
 * "max", pid lists, creating the parent directories (in a temp dir standing
 * in for the hierarchy root) and the mode names. Wraps: mkdirat, openat.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroup/cgroup-internal.h"
#include "cordon/cleanup.h"
#include "unit.h"
#include "wrap.h"

struct fixture {
        char *dir;
        int dirfd;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        f->dirfd = -1;
        *state = f;
        f->dir = ut_mkdtemp();
        if (f->dir)
                f->dirfd = ut_open_dir(f->dir);
        return f->dirfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        cd_wrap_reset();
        ut_run_deferred();
        if (!f)
                return 0;
        if (f->dirfd >= 0)
                (void) close(f->dirfd);
        (void) ut_rm_rf(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

/* ---- v1's CPU times: the exact total, split by the tick samples ---- */

static void split_cpu_keeps_the_exact_total(void **state)
{
        uint64_t user, sys;

        (void) state;
        /* A job that dodged the tick: 2.4 s of CPU, sampled as 4 ms + 4 ms. */
        cd_cgroup_split_cpu(2436000, 4000000, 4000000, &user, &sys);
        assert_int_equal(user, 1218000);
        assert_int_equal(sys, 1218000);
        cd_cgroup_split_cpu(1000, 3, 1, &user, &sys);
        assert_int_equal(user + sys, 1000);
        assert_int_equal(sys, 250);
        /* No samples, or only one kind: the whole total goes to the one seen. */
        cd_cgroup_split_cpu(777, 0, 0, &user, &sys);
        assert_int_equal(user, 777);
        assert_int_equal(sys, 0);
        cd_cgroup_split_cpu(777, 0, 5, &user, &sys);
        assert_int_equal(user, 0);
        assert_int_equal(sys, 777);
        /* No overflow where total x ticks passes 64 bits. */
        cd_cgroup_split_cpu(UINT64_MAX / 2, UINT64_MAX / 4, UINT64_MAX / 4, &user, &sys);
        assert_int_equal(user + sys, UINT64_MAX / 2);
        assert_true(sys == UINT64_MAX / 4);
}

/* ---- keyed files ---- */

static void keyed_finds_exact_key(void **state)
{
        const char *events = "low 0\nhigh 12\nmax 3\noom 1\noom_kill 7\noom_group_kill 0\n";
        uint64_t v = 99;

        (void) state;
        assert_int_equal(cd_cgroup_keyed(events, "oom_kill", &v), 0);
        assert_true(v == 7);
        /* "oom" is a prefix of "oom_kill": the exact key wins wherever it is. */
        assert_int_equal(cd_cgroup_keyed(events, "oom", &v), 0);
        assert_true(v == 1);
        assert_int_equal(cd_cgroup_keyed("oom_kill 7\noom 2\n", "oom", &v), 0);
        assert_true(v == 2);
        assert_int_equal(cd_cgroup_keyed(events, "low", &v), 0);
        assert_true(v == 0);
        assert_int_equal(cd_cgroup_keyed(events, "high", &v), 0);
        assert_true(v == 12);
        /* cgroup.events style, and a last line without newline. */
        assert_int_equal(cd_cgroup_keyed("populated 0\nfrozen 1", "populated", &v), 0);
        assert_true(v == 0);
        assert_int_equal(cd_cgroup_keyed("populated 0\nfrozen 1", "frozen", &v), 0);
        assert_true(v == 1);
        assert_int_equal(cd_cgroup_keyed("usage_usec 18446744073709551615\n", "usage_usec", &v), 0);
        assert_true(v == UINT64_MAX);
}

static void keyed_absent_and_malformed(void **state)
{
        const char *events = "oom_kill 7\noom_group_kill 0\n";
        uint64_t v = 99;

        (void) state;
        assert_int_equal(cd_cgroup_keyed(events, "oom", &v), -ENOENT);
        assert_int_equal(cd_cgroup_keyed(events, "kill", &v), -ENOENT);
        assert_int_equal(cd_cgroup_keyed(events, "max", &v), -ENOENT);
        assert_int_equal(cd_cgroup_keyed("", "oom", &v), -ENOENT);
        /* A key in the value position is not a key. */
        assert_int_equal(cd_cgroup_keyed("nr_periods 5 oom 1\n", "oom", &v), -ENOENT);
        assert_true(v == 99);
        assert_int_equal(cd_cgroup_keyed("oom x\n", "oom", &v), -EINVAL);
        assert_int_equal(cd_cgroup_keyed("oom \n", "oom", &v), -EINVAL);
        assert_int_equal(cd_cgroup_keyed("oom -1\n", "oom", &v), -EINVAL);
        assert_int_equal(cd_cgroup_keyed("oom 18446744073709551616\n", "oom", &v), -ERANGE);
        assert_true(v == 99);
}

/* ---- numbers ---- */

static void read_u64_numbers_and_max(void **state)
{
        struct fixture *f = *state;
        uint64_t v = 0;

        assert_int_equal(ut_write_file(f->dirfd, "memory.max", "max\n", 4), 0);
        assert_int_equal(cd_cgroup_read_u64(f->dirfd, "memory.max", &v), 0);
        assert_true(v == UINT64_MAX);
        assert_int_equal(ut_write_file(f->dirfd, "memory.peak", "1073741824\n", 11), 0);
        assert_int_equal(cd_cgroup_read_u64(f->dirfd, "memory.peak", &v), 0);
        assert_true(v == 1073741824);
        assert_int_equal(ut_write_file(f->dirfd, "pids.max", "0", 1), 0);
        assert_int_equal(cd_cgroup_read_u64(f->dirfd, "pids.max", &v), 0);
        assert_true(v == 0);
}

static void read_u64_refuses_junk(void **state)
{
        struct fixture *f = *state;
        uint64_t v = 42;

        assert_int_equal(ut_write_file(f->dirfd, "a", "", 0), 0);
        assert_int_equal(cd_cgroup_read_u64(f->dirfd, "a", &v), -EINVAL);
        assert_int_equal(ut_write_file(f->dirfd, "b", "12 34\n", 6), 0);
        assert_int_equal(cd_cgroup_read_u64(f->dirfd, "b", &v), -EINVAL);
        assert_int_equal(ut_write_file(f->dirfd, "c", "maximum\n", 8), 0);
        assert_int_equal(cd_cgroup_read_u64(f->dirfd, "c", &v), -EINVAL);
        assert_int_equal(ut_write_file(f->dirfd, "d", "-1\n", 3), 0);
        assert_int_equal(cd_cgroup_read_u64(f->dirfd, "d", &v), -EINVAL);
        assert_int_equal(cd_cgroup_read_u64(f->dirfd, "missing", &v), -ENOENT);
        assert_int_equal(symlinkat("d", f->dirfd, "link"), 0);
        assert_int_equal(cd_cgroup_read_u64(f->dirfd, "link", &v), -ELOOP);
        assert_true(v == 42);
}

static void write_u64_writes_decimal(void **state)
{
        struct fixture *f = *state;
        char *got = NULL;
        uint64_t v = 0;

        assert_int_equal(ut_write_file(f->dirfd, "pids.max", "", 0), 0);
        assert_int_equal(cd_cgroup_write_u64(f->dirfd, "pids.max", 18446744073709551615ULL), 0);
        got = ut_defer(free, ut_read_file(f->dirfd, "pids.max", NULL));
        assert_non_null(got);
        assert_string_equal(got, "18446744073709551615");
        assert_int_equal(cd_cgroup_read_u64(f->dirfd, "pids.max", &v), 0);
        assert_true(v == UINT64_MAX);
        /* cgroup files exist or the controller is missing: never create one. */
        assert_int_equal(cd_cgroup_write_u64(f->dirfd, "cpu.max", 1), -ENOENT);
        assert_int_equal(faccessat(f->dirfd, "cpu.max", F_OK, AT_SYMLINK_NOFOLLOW), -1);
}

/* ---- pid lists ---- */

struct pids {
        pid_t v[4096];
        size_t n;
        size_t stop_after; /* 0: never */
};

static int collect(pid_t pid, void *u)
{
        struct pids *p = u;

        if (p->n >= ELEMENTSOF(p->v))
                return -E2BIG;
        p->v[p->n++] = pid;
        if (p->stop_after && p->n == p->stop_after)
                return -ECANCELED;
        return 0;
}

static void for_each_pid_reports_every_pid(void **state)
{
        struct fixture *f = *state;
        struct pids p = { .n = 0 };
        char *big = NULL;
        size_t len = 0;
        FILE *m;

        assert_int_equal(ut_write_file(f->dirfd, "cgroup.procs", "1\n22\n333\n2147483647\n", 20),
                         0);
        assert_int_equal(cd_cgroup_for_each_pid(f->dirfd, "cgroup.procs", collect, &p), 0);
        assert_int_equal(p.n, 4);
        assert_int_equal(p.v[0], 1);
        assert_int_equal(p.v[1], 22);
        assert_int_equal(p.v[2], 333);
        assert_int_equal(p.v[3], 2147483647);

        /* Empty: no call. */
        p.n = 0;
        assert_int_equal(ut_write_file(f->dirfd, "empty", "", 0), 0);
        assert_int_equal(cd_cgroup_for_each_pid(f->dirfd, "empty", collect, &p), 0);
        assert_int_equal(p.n, 0);

        /* More than one read(2) worth, numbers split across buffer ends. */
        m = open_memstream(&big, &len);
        assert_non_null(m);
        for (int i = 0; i < 3000; i++)
                fprintf(m, "%d\n", 100000 + i * 7);
        assert_int_equal(fclose(m), 0);
        assert_true(len > 16384);
        assert_int_equal(ut_write_file(f->dirfd, "tasks", big, len), 0);
        free(big);
        p.n = 0;
        assert_int_equal(cd_cgroup_for_each_pid(f->dirfd, "tasks", collect, &p), 0);
        assert_int_equal(p.n, 3000);
        for (int i = 0; i < 3000; i++)
                if (p.v[i] != 100000 + i * 7)
                        fail_msg("pid %d: got %d, expected %d", i, p.v[i], 100000 + i * 7);
}

static void for_each_pid_stops_on_callback_error(void **state)
{
        struct fixture *f = *state;
        struct pids p = { .n = 0, .stop_after = 2 };

        assert_int_equal(ut_write_file(f->dirfd, "cgroup.procs", "5\n6\n7\n8\n", 8), 0);
        assert_int_equal(cd_cgroup_for_each_pid(f->dirfd, "cgroup.procs", collect, &p), -ECANCELED);
        assert_int_equal(p.n, 2);
}

static void for_each_pid_refuses_junk(void **state)
{
        static const char *const junk[] = {
                "12\nabc\n",
                "12\n\n",
                "0\n",
                "-5\n",
                "2147483648\n",
                " 7\n",
                "7 \n",
                "99999999999999999999\n",
                "1234567890123456789012\n",
        };
        struct fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(junk); i++) {
                struct pids p = { .n = 0 };
                int r;

                assert_int_equal(ut_write_file(f->dirfd, "procs", junk[i], strlen(junk[i])), 0);
                r = cd_cgroup_for_each_pid(f->dirfd, "procs", collect, &p);
                if (r != -EINVAL)
                        fail_msg("\"%s\": returned %d, expected -EINVAL", junk[i], r);
        }
        assert_int_equal(cd_cgroup_for_each_pid(f->dirfd, "missing", collect, NULL), -ENOENT);
}

/* The last pid of a file without a final newline must not vanish silently:
 * either it is reported or the file is refused. */
static void for_each_pid_unterminated_last_line(void **state)
{
        struct fixture *f = *state;
        struct pids p = { .n = 0 };
        int r;

        assert_int_equal(ut_write_file(f->dirfd, "procs", "5\n6", 3), 0);
        r = cd_cgroup_for_each_pid(f->dirfd, "procs", collect, &p);
        if (!(r == 0 && p.n == 2 && p.v[1] == 6) && r != -EINVAL)
                fail_msg("\"5\\n6\": returned %d with %zu pids: pid 6 silently dropped", r, p.n);

        p.n = 0;
        assert_int_equal(ut_write_file(f->dirfd, "procs", "5\njunk", 6), 0);
        r = cd_cgroup_for_each_pid(f->dirfd, "procs", collect, &p);
        if (r != -EINVAL)
                fail_msg("\"5\\njunk\": returned %d, expected -EINVAL", r);
}

/* ---- parent directories ---- */

static void same_file(int fd, int dirfd, const char *path)
{
        struct stat a, b;

        assert_int_equal(fstat(fd, &a), 0);
        assert_int_equal(fstatat(dirfd, path, &b, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISDIR(b.st_mode));
        assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
}

static void open_parent_creates_nested(void **state)
{
        struct fixture *f = *state;
        struct cd_err e = { 0 };
        int fd = -1, fd2 = -1;

        assert_int_equal(cd_cgroup_open_parent(f->dirfd, "system.slice/cordon/jobs", &fd, &e), 0);
        same_file(fd, f->dirfd, "system.slice/cordon/jobs");
        (void) close(fd);
        /* Again: the existing directories are reused. Leading and doubled
         * slashes do not matter. */
        assert_int_equal(cd_cgroup_open_parent(f->dirfd, "/system.slice//cordon/", &fd2, &e), 0);
        same_file(fd2, f->dirfd, "system.slice/cordon");
        (void) close(fd2);
        assert_int_equal(ut_count_entries(f->dir), 1);
}

static void open_parent_refuses_dot_components(void **state)
{
        static const char *const bad[] = { "..", "../x", "a/../../x", "a/..", ".", "./a", "a/./b" };
        struct fixture *f = *state;
        char *root_path = NULL;
        int root;

        /* The hierarchy root is a subdirectory, so an escape would show up
         * next to it. */
        assert_int_equal(mkdirat(f->dirfd, "root", 0700), 0);
        root = openat(f->dirfd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(root >= 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct cd_err e = { 0 };
                int fd = -1;
                int r = cd_cgroup_open_parent(root, bad[i], &fd, &e);

                if (r != -CD_E_INVALID || e.code != CD_E_INVALID || !strstr(e.msg, bad[i]))
                        fail_msg("\"%s\": %d \"%s\"", bad[i], r, e.msg);
                assert_int_equal(fd, -1);
        }
        (void) close(root);
        assert_int_equal(ut_count_entries(f->dir), 1); /* only "root" */
        assert_true(asprintf(&root_path, "%s/root", f->dir) > 0);
        ut_defer(free, root_path);
        assert_true(ut_count_entries(root_path) <= 1); /* at most "a" */
}

static void open_parent_refuses_symlink_component(void **state)
{
        struct fixture *f = *state;
        struct cd_err e = { 0 };
        int fd = -1;

        assert_int_equal(mkdirat(f->dirfd, "elsewhere", 0700), 0);
        assert_int_equal(symlinkat("elsewhere", f->dirfd, "cordon"), 0);
        assert_true(cd_cgroup_open_parent(f->dirfd, "cordon/jobs", &fd, &e) < 0);
        assert_int_equal(fd, -1);
        assert_non_null(strstr(e.msg, "cordon/jobs"));
        assert_int_equal(ut_count_entries(f->dir), 2);
        {
                char *p = NULL;

                assert_true(asprintf(&p, "%s/elsewhere", f->dir) > 0);
                ut_defer(free, p);
                assert_int_equal(ut_count_entries(p), 0);
        }
}

static void open_parent_mkdir_failure_names_path(void **state)
{
        struct fixture *f = *state;
        struct cd_err e = { 0 };
        int fd = -1;
        int r;

        cd_wrap_fail(WRAP_MKDIRAT, EACCES, 1);
        r = cd_cgroup_open_parent(f->dirfd, "cordon/jobs", &fd, &e);
        assert_int_equal(r, -EACCES);
        assert_int_equal(e.code, EACCES);
        assert_non_null(strstr(e.msg, "cordon/jobs"));
        assert_non_null(strstr(e.msg, "Permission denied"));
        assert_int_equal(fd, -1);
        assert_int_equal(ut_count_entries(f->dir), 0);

        /* Failing deeper: the error still names the whole path. */
        cd_wrap_fail(WRAP_MKDIRAT, EROFS, 2);
        r = cd_cgroup_open_parent(f->dirfd, "cordon/jobs", &fd, &e);
        assert_int_equal(r, -EROFS);
        assert_non_null(strstr(e.msg, "cordon/jobs"));
        assert_int_equal(fd, -1);
        assert_int_equal(faccessat(f->dirfd, "cordon/jobs", F_OK, AT_SYMLINK_NOFOLLOW), -1);
}

static void open_parent_open_failures_leak_nothing(void **state)
{
        struct fixture *f = *state;
        struct cd_err e = { 0 };
        int fds = ut_count_fds();
        int fd = -1;

        cd_wrap_fail(WRAP_OPENAT, EMFILE, 1);
        assert_int_equal(cd_cgroup_open_parent(f->dirfd, "a/b/c", &fd, &e), -EMFILE);
        assert_non_null(strstr(e.msg, "hierarchy root"));
        assert_int_equal(ut_count_fds(), fds);

        cd_wrap_fail(WRAP_OPENAT, EMFILE, 3); /* root, "a", then "b" fails */
        assert_int_equal(cd_cgroup_open_parent(f->dirfd, "a/b/c", &fd, &e), -EMFILE);
        assert_non_null(strstr(e.msg, "a/b/c"));
        assert_int_equal(fd, -1);
        assert_int_equal(ut_count_fds(), fds);
}

/* ---- removal ---- */

/* A host whose hierarchies @n are the directories h0, h1, ... of @dirfd,
 * each with a leaf @name; the leaf of hierarchy @full holds a file, so its
 * rmdir(2) fails (ENOTEMPTY) as a cgroup's would with a task left in it. */
static struct cd_cgroup_host *fake_host(int dirfd, int n, const char *name, int full,
                                        struct cd_cgroup *cg)
{
        struct cd_cgroup_host *h = calloc(1, sizeof(*h));

        assert_non_null(ut_defer(free, h));
        h->mode = CD_CGROUP_V1;
        cd_cgroup_init(cg);
        for (int i = 0; i < _CG_MAX; i++) {
                h->parent_fd[i] = h->self_fd[i] = h->top_fd[i] = -1;
                h->alias[i] = i;
        }
        for (int i = 0; i < n; i++) {
                char hier[8];
                int leaf;

                (void) snprintf(hier, sizeof(hier), "h%d", i);
                assert_int_equal(mkdirat(dirfd, hier, 0700), 0);
                h->parent_fd[i] = openat(dirfd, hier, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_true(h->parent_fd[i] >= 0);
                assert_int_equal(mkdirat(h->parent_fd[i], name, 0700), 0);
                leaf = openat(h->parent_fd[i], name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_true(leaf >= 0);
                if (i == full)
                        assert_int_equal(ut_write_file(leaf, "task", "1", 1), 0);
                cg->fd[i] = leaf;
        }
        cg->host = h;
        (void) snprintf(cg->name, sizeof(cg->name), "%s", name);
        return h;
}

static void close_host(struct cd_cgroup_host *h)
{
        for (int i = 0; i < _CG_MAX; i++)
                h->parent_fd[i] = cd_close(h->parent_fd[i]);
}

/* A leaf that cannot be removed fails the removal, names the cgroup, and
 * leaves that leaf for the next holder of its name; no fd of the job's
 * cgroup stays open in the supervisor, in any hierarchy. */
static void destroy_failure_closes_every_leaf(void **state)
{
        struct fixture *f = *state;
        struct cd_cgroup_host *h;
        struct cd_cgroup cg;
        struct cd_err e = { 0 };
        int fds = ut_count_fds();
        int r;

        h = fake_host(f->dirfd, 3, "slot-70000", 1, &cg);
        assert_int_equal(ut_count_fds(), fds + 6); /* three parents, three leaves */
        r = cd_cgroup_destroy(&cg, &e);
        assert_int_equal(r, -ENOTEMPTY);
        assert_int_equal(e.code, ENOTEMPTY);
        assert_non_null(strstr(e.msg, "cgroup: remove slot-70000"));
        for (int i = 0; i < CD_CGROUP_MAX_FDS; i++)
                assert_int_equal(cg.fd[i], -1);
        /* Removed before the failure; left at it, and not tried after it. */
        assert_int_equal(faccessat(h->parent_fd[0], "slot-70000", F_OK, 0), -1);
        assert_int_equal(faccessat(h->parent_fd[1], "slot-70000", F_OK, 0), 0);
        assert_int_equal(faccessat(h->parent_fd[2], "slot-70000", F_OK, 0), 0);
        close_host(h);
        assert_int_equal(ut_count_fds(), fds);
}

static void destroy_removes_every_leaf(void **state)
{
        struct fixture *f = *state;
        struct cd_cgroup_host *h;
        struct cd_cgroup cg;
        struct cd_err e = { 0 };
        int fds = ut_count_fds();

        h = fake_host(f->dirfd, 3, "slot-70001", -1, &cg);
        assert_int_equal(cd_cgroup_destroy(&cg, &e), 0);
        assert_null(cg.host);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(cg.fd[i], -1);
                assert_int_equal(faccessat(h->parent_fd[i], "slot-70001", F_OK, 0), -1);
        }
        assert_int_equal(cd_cgroup_destroy(&cg, &e), 0); /* idempotent */
        close_host(h);
        assert_int_equal(ut_count_fds(), fds);
}

/* A thread that cannot be moved back into its own cgroup of one v1
 * hierarchy still leaves the job's cgroups of the others: the first
 * failure is reported, and no later hierarchy is skipped because of it.
 * Here the "tasks" of hierarchy 1 is a directory (EISDIR on open). */
static void leave_tries_every_hierarchy(void **state)
{
        struct fixture *f = *state;
        struct cd_cgroup_host *h;
        struct cd_cgroup cg;
        struct cd_err e = { 0 };
        int self[_CG_MAX];

        h = fake_host(f->dirfd, _CG_MAX, "slot-70002", -1, &cg);
        h->ops = &cd_cgroup_v1_ops;
        for (int i = 0; i < _CG_MAX; i++) {
                self[i] = h->self_fd[i] = h->parent_fd[i];
                if (i == 1)
                        assert_int_equal(mkdirat(self[i], "tasks", 0700), 0);
                else
                        assert_int_equal(ut_write_file(self[i], "tasks", "", 0), 0);
        }
        assert_int_equal(cd_cgroup_leave(&cg, &e), -EISDIR);
        assert_non_null(strstr(e.msg, "cgroup v1: move into our own cpu cgroup"));
        for (int i = 0; i < _CG_MAX; i++) {
                if (i == 1)
                        continue;
                size_t len;
                char *got = ut_read_file(self[i], "tasks", &len);

                assert_non_null(got);
                assert_int_equal(len, 1);
                assert_memory_equal(got, "0", 1);
                free(got);
        }
        assert_int_equal(cd_cgroup_destroy(&cg, &e), 0);
        close_host(h);
}

/* v1: an own cgroup that refuses the thread (removed while the thread sat
 * in the job's: here its "tasks" is a directory) gives way to the
 * hierarchy's root, and the leave succeeds; the others go home as usual. */
static void leave_falls_back_to_the_root(void **state)
{
        struct fixture *f = *state;
        struct cd_cgroup_host *h;
        struct cd_cgroup cg;
        struct cd_err e = { 0 };
        size_t len;
        char *got;

        h = fake_host(f->dirfd, _CG_MAX, "slot-70003", -1, &cg);
        h->ops = &cd_cgroup_v1_ops;
        assert_int_equal(mkdirat(f->dirfd, "top", 0700), 0);
        assert_int_equal(ut_write_file(f->dirfd, "top/tasks", "", 0), 0);
        for (int i = 0; i < _CG_MAX; i++) {
                h->self_fd[i] = h->parent_fd[i];
                h->top_fd[i] = openat(f->dirfd, "top", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_true(h->top_fd[i] >= 0);
                if (i == 1)
                        assert_int_equal(mkdirat(h->self_fd[i], "tasks", 0700), 0);
                else
                        assert_int_equal(ut_write_file(h->self_fd[i], "tasks", "", 0), 0);
        }
        assert_int_equal(cd_cgroup_leave(&cg, &e), 0);
        got = ut_read_file(f->dirfd, "top/tasks", &len);
        assert_non_null(got);
        assert_int_equal(len, 1); /* hierarchy 1 only */
        assert_memory_equal(got, "0", 1);
        free(got);
        for (int i = 0; i < _CG_MAX; i++) {
                if (i != 1) {
                        got = ut_read_file(h->self_fd[i], "tasks", &len);
                        assert_non_null(got);
                        assert_int_equal(len, 1);
                        free(got);
                }
                h->top_fd[i] = cd_close(h->top_fd[i]);
        }
        assert_int_equal(cd_cgroup_destroy(&cg, &e), 0);
        close_host(h);
}

/* ---- modes ---- */

static void mode_names(void **state)
{
        static const struct {
                const char *s;
                enum cd_cgroup_mode m;
        } ok[] = { { "v1", CD_CGROUP_V1 }, { "v2", CD_CGROUP_V2 }, { "auto", CD_CGROUP_AUTO } };
        static const char *const bad[] = { "", "V1", "v3", "1", "v1 ", "cgroup2", "Auto" };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                enum cd_cgroup_mode m = (enum cd_cgroup_mode) 77;

                assert_int_equal(cd_cgroup_mode_from_string(ok[i].s, &m), 0);
                assert_int_equal(m, ok[i].m);
                assert_string_equal(cd_cgroup_mode_to_string(ok[i].m), ok[i].s);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                enum cd_cgroup_mode m = CD_CGROUP_V1;

                if (cd_cgroup_mode_from_string(bad[i], &m) != -EINVAL)
                        fail_msg("\"%s\" accepted as a cgroup mode", bad[i]);
                assert_int_equal(m, CD_CGROUP_V1);
        }
        assert_non_null(cd_cgroup_mode_to_string((enum cd_cgroup_mode) 77));
}

static void swap_active_matches_proc_swaps(void **state)
{
        FILE *s = fopen("/proc/swaps", "re");
        char line[512];
        int lines = 0;

        (void) state;
        if (!s) {
                /* No /proc/swaps (no CONFIG_SWAP): no swap. */
                assert_false(cd_cgroup_swap_active());
                return;
        }
        while (fgets(line, sizeof(line), s))
                lines++;
        (void) fclose(s);
        assert_int_equal(cd_cgroup_swap_active(), lines > 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(split_cpu_keeps_the_exact_total),
                cmocka_unit_test(keyed_finds_exact_key),
                cmocka_unit_test(keyed_absent_and_malformed),
                cmocka_unit_test_setup_teardown(read_u64_numbers_and_max, setup, teardown),
                cmocka_unit_test_setup_teardown(read_u64_refuses_junk, setup, teardown),
                cmocka_unit_test_setup_teardown(write_u64_writes_decimal, setup, teardown),
                cmocka_unit_test_setup_teardown(for_each_pid_reports_every_pid, setup, teardown),
                cmocka_unit_test_setup_teardown(for_each_pid_stops_on_callback_error, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(for_each_pid_refuses_junk, setup, teardown),
                cmocka_unit_test_setup_teardown(for_each_pid_unterminated_last_line, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(open_parent_creates_nested, setup, teardown),
                cmocka_unit_test_setup_teardown(open_parent_refuses_dot_components, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(open_parent_refuses_symlink_component, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(open_parent_mkdir_failure_names_path, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(open_parent_open_failures_leak_nothing, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(destroy_failure_closes_every_leaf, setup, teardown),
                cmocka_unit_test_setup_teardown(destroy_removes_every_leaf, setup, teardown),
                cmocka_unit_test_setup_teardown(leave_falls_back_to_the_root, setup, teardown),
                cmocka_unit_test_setup_teardown(leave_tries_every_hierarchy, setup, teardown),
                cmocka_unit_test(mode_names),
                cmocka_unit_test(swap_active_matches_proc_swaps),
        };

        return cmocka_run_group_tests_name("cgroup", tests, NULL, NULL);
}
