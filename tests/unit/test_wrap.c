/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/wrap/: the fault-injection wraps themselves. This binary wraps
 * every symbol of wrap.h: each passes through (the same answer as the raw
 * syscall), fails the armed call with the armed errno exactly once, and
 * cd_wrap_reset() disarms. Other test binaries wrap a few symbols only and
 * still link (the weak __real_ references).
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
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

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

/* -errno or 0, for comparing a wrapped call with the raw syscall. */
#define RES(call) ((call) < 0 ? -errno : 0)

static void fail_fires_on_nth_call_once(void **state)
{
        struct fixture *f = *state;

        cd_wrap_fail(WRAP_MKDIRAT, EACCES, 3);
        assert_true(cd_wrap_pending(WRAP_MKDIRAT));
        assert_int_equal(mkdirat(f->dirfd, "a", 0700), 0);
        assert_int_equal(mkdirat(f->dirfd, "b", 0700), 0);
        errno = 0;
        assert_int_equal(mkdirat(f->dirfd, "c", 0700), -1);
        assert_int_equal(errno, EACCES);
        assert_false(cd_wrap_pending(WRAP_MKDIRAT));
        /* Fired once: the next call is real again. */
        assert_int_equal(mkdirat(f->dirfd, "c", 0700), 0);
        /* The failed call did nothing; the others did. */
        assert_int_equal(ut_count_entries(f->dir), 3);
}

static void reset_disarms(void **state)
{
        struct fixture *f = *state;

        cd_wrap_fail(WRAP_UNLINKAT, EBUSY, 1);
        cd_wrap_fail(WRAP_MKDIRAT, EBUSY, 1);
        cd_wrap_reset();
        assert_false(cd_wrap_pending(WRAP_UNLINKAT));
        assert_int_equal(mkdirat(f->dirfd, "d", 0700), 0);
        assert_int_equal(unlinkat(f->dirfd, "d", AT_REMOVEDIR), 0);
        assert_int_equal(ut_count_entries(f->dir), 0);
}

static void arms_are_per_symbol(void **state)
{
        struct fixture *f = *state;
        int fd;

        cd_wrap_fail(WRAP_UNLINKAT, ENOENT, 1);
        fd = openat(f->dirfd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0); /* openat not armed */
        assert_int_equal(write(fd, "x", 1), 1);
        (void) close(fd);
        assert_int_equal(unlinkat(f->dirfd, "f", 0), -1);
        assert_int_equal(errno, ENOENT);
        assert_int_equal(ut_count_entries(f->dir), 1);
}

static void file_calls_pass_through_and_fail(void **state)
{
        struct fixture *f = *state;
        char buf[8] = { 0 };
        int p[2], fd;

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(write(p[1], "abc", 3), 3);
        assert_int_equal(read(p[0], buf, sizeof(buf)), 3);
        assert_string_equal(buf, "abc");
        assert_true(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
        assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
        assert_true(fcntl(p[0], F_GETFL) & O_NONBLOCK);

        cd_wrap_fail(WRAP_WRITE, ENOSPC, 1);
        assert_int_equal(write(p[1], "x", 1), -1);
        assert_int_equal(errno, ENOSPC);
        cd_wrap_fail(WRAP_READ, EIO, 1);
        assert_int_equal(read(p[0], buf, 1), -1);
        assert_int_equal(errno, EIO);
        assert_int_equal(read(p[0], buf, 1), -1); /* real: empty, non-blocking */
        assert_int_equal(errno, EAGAIN);
        cd_wrap_fail(WRAP_FCNTL, EBADF, 1);
        assert_int_equal(fcntl(p[0], F_GETFL), -1);
        assert_int_equal(errno, EBADF);
        (void) close(p[0]);
        (void) close(p[1]);

        cd_wrap_fail(WRAP_PIPE2, EMFILE, 1);
        assert_int_equal(pipe2(p, O_CLOEXEC), -1);
        assert_int_equal(errno, EMFILE);

        /* openat with O_CREAT passes its mode on. */
        fd = openat(f->dirfd, "m", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        assert_true(fd >= 0);
        (void) close(fd);
        {
                mode_t mask = umask(0);
                struct stat st;

                (void) umask(mask);
                assert_int_equal(fstatat(f->dirfd, "m", &st, 0), 0);
                assert_int_equal(st.st_mode & 0777, 0640 & ~mask);
        }
        cd_wrap_fail(WRAP_OPENAT, EACCES, 1);
        assert_int_equal(openat(f->dirfd, "m", O_RDONLY | O_CLOEXEC), -1);
        assert_int_equal(errno, EACCES);

        assert_int_equal(symlinkat("m", f->dirfd, "l"), 0);
        cd_wrap_fail(WRAP_SYMLINKAT, EEXIST, 1);
        assert_int_equal(symlinkat("m", f->dirfd, "l2"), -1);
        assert_int_equal(errno, EEXIST);
        assert_int_equal(mknodat(f->dirfd, "fifo", S_IFIFO | 0600, 0), 0);
        cd_wrap_fail(WRAP_MKNODAT, EPERM, 1);
        assert_int_equal(mknodat(f->dirfd, "fifo2", S_IFIFO | 0600, 0), -1);
        assert_int_equal(errno, EPERM);
        assert_int_equal(ut_count_entries(f->dir), 3); /* m, l, fifo */
}

static void short_read_and_write(void **state)
{
        char buf[16] = { 0 };
        int p[2];

        (void) state;
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        cd_wrap_short(WRAP_WRITE, 2, 1);
        assert_int_equal(write(p[1], "abcdef", 6), 2);
        assert_int_equal(write(p[1], "cdef", 4), 4);
        cd_wrap_short(WRAP_READ, 1, 1);
        assert_int_equal(read(p[0], buf, sizeof(buf)), 1);
        assert_int_equal(read(p[0], buf + 1, sizeof(buf) - 1), 5);
        assert_string_equal(buf, "abcdef");
        (void) close(p[0]);
        (void) close(p[1]);
}

/* pwrite, ftruncate, fsync and fdatasync pass through and fail; write,
 * pwrite, ftruncate, fsync and fdatasync die on the armed call, before it:
 * what it would have written is not. */
static void pwrite_ftruncate_and_dying_calls(void **state)
{
        static const enum cd_wrap_sym syms[] = { WRAP_WRITE, WRAP_PWRITE, WRAP_FTRUNCATE,
                                                 WRAP_FSYNC, WRAP_FDATASYNC };
        static const off_t sizes[] = { 25, 15, 12, 21, 23 };
        struct fixture *f = *state;
        cleanup_close int fd = -1;
        struct stat st;

        fd = openat(f->dirfd, "p", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "abcd", 4, 2), 4);
        cd_wrap_fail(WRAP_PWRITE, ENOSPC, 1);
        assert_int_equal(pwrite(fd, "x", 1, 0), -1);
        assert_int_equal(errno, ENOSPC);
        assert_int_equal(ftruncate(fd, 3), 0);
        cd_wrap_fail(WRAP_FTRUNCATE, EIO, 1);
        assert_int_equal(ftruncate(fd, 0), -1);
        assert_int_equal(errno, EIO);
        assert_int_equal(fsync(fd), 0);
        assert_int_equal(fdatasync(fd), 0);
        cd_wrap_fail(WRAP_FSYNC, EIO, 1);
        assert_int_equal(fsync(fd), -1);
        assert_int_equal(errno, EIO);
        cd_wrap_fail(WRAP_FDATASYNC, EROFS, 1);
        assert_int_equal(fdatasync(fd), -1);
        assert_int_equal(errno, EROFS);
        for (size_t i = 0; i < ELEMENTSOF(syms); i++) {
                int status;
                pid_t pid = fork();

                assert_true(pid >= 0);
                if (pid == 0) {
                        cd_wrap_die(syms[i], 2);
                        if (pwrite(fd, "y", 1, 10) != 1 || fsync(fd) < 0 || ftruncate(fd, 12) < 0 ||
                            fdatasync(fd) < 0 || write(fd, "z", 1) != 1 || ftruncate(fd, 15) < 0 ||
                            pwrite(fd, "y", 1, 20) != 1 || fsync(fd) < 0 || ftruncate(fd, 23) < 0 ||
                            fdatasync(fd) < 0 || ftruncate(fd, 25) < 0 || write(fd, "z", 1) != 1)
                                _exit(1);
                        _exit(0);
                }
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFEXITED(status));
                assert_int_equal(WEXITSTATUS(status), CD_WRAP_DIED);
                /* Everything before the second call of the armed kind. */
                assert_int_equal(fstat(fd, &st), 0);
                assert_int_equal(st.st_size, sizes[i]);
                assert_int_equal(ftruncate(fd, 3), 0);
                assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        }
}

/* What an observer saw: each call's symbol, fd and the file's size then. */
struct seen {
        enum cd_wrap_sym sym[16];
        int fd[16];
        off_t size[16];
        unsigned int n;
};

static void see(enum cd_wrap_sym sym, int fd, void *data)
{
        struct seen *s = data;
        struct stat st;

        if (s->n >= ELEMENTSOF(s->sym))
                return;
        s->sym[s->n] = sym;
        s->fd[s->n] = fd;
        s->size[s->n++] = fd >= 0 && fstat(fd, &st) == 0 ? st.st_size : -1;
        /* The observer's own calls are not observed. */
        if (sym == WRAP_FSYNC && fsync(fd) < 0)
                s->size[s->n - 1] = -2;
}

/* An observer sees each call that goes through, before it is made, with
 * its fd; not a call that an arm fails, nor anything after cd_wrap_reset(). */
static void observer_sees_calls_before_they_are_made(void **state)
{
        static const enum cd_wrap_sym want_sym[] = { WRAP_PWRITE, WRAP_FDATASYNC, WRAP_WRITE,
                                                     WRAP_FSYNC, WRAP_FTRUNCATE };
        static const off_t want_size[] = { 0, 3, 3, 4, 4 };
        struct fixture *f = *state;
        cleanup_close int fd = -1;
        struct seen s = { .n = 0 };

        fd = openat(f->dirfd, "o", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        cd_wrap_observe(see, &s);
        assert_int_equal(pwrite(fd, "abc", 3, 0), 3);
        cd_wrap_fail(WRAP_FSYNC, EIO, 1);
        assert_int_equal(fsync(fd), -1);
        assert_int_equal(fdatasync(fd), 0);
        assert_int_equal(lseek(fd, 0, SEEK_END), 3);
        assert_int_equal(write(fd, "d", 1), 1);
        assert_int_equal(fsync(fd), 0);
        assert_int_equal(ftruncate(fd, 1), 0);
        cd_wrap_reset();
        assert_int_equal(write(fd, "e", 1), 1);
        assert_int_equal(s.n, ELEMENTSOF(want_sym));
        for (unsigned int i = 0; i < s.n; i++) {
                assert_int_equal(s.sym[i], want_sym[i]);
                assert_int_equal(s.fd[i], fd);
                assert_int_equal(s.size[i], want_size[i]);
        }
}

/* The exit status of a child that arms cd_wrap_die(@sym, 1) and then makes
 * a mkdirat call (armed or not); 0 if it got past the arm. */
static int die_armed_in_child(struct fixture *f, enum cd_wrap_sym sym)
{
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                cd_wrap_die(sym, 1);
                _exit(mkdirat(f->dirfd, "d", 0700) == 0 ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* cd_wrap_die() on a symbol whose wrap cannot die stops the process at the
 * arm, before the call: it used to consume the arm, and the call went on
 * as if nothing had been armed (here: the directory was made). */
static void die_refused_where_the_wrap_cannot_die(void **state)
{
        struct fixture *f = *state;

        for (int sym = 0; sym <= _WRAP_MAX; sym++) {
                bool can = sym == WRAP_WRITE || sym == WRAP_PWRITE || sym == WRAP_FTRUNCATE ||
                           sym == WRAP_FSYNC || sym == WRAP_FDATASYNC;

                if (can)
                        continue;
                if (die_armed_in_child(f, (enum cd_wrap_sym) sym) != CD_WRAP_MISUSED)
                        fail_msg("cd_wrap_die(%d) was not refused", sym);
        }
        assert_int_equal(ut_count_entries(f->dir), 0);
        /* A symbol that can die is armed and the child goes on. */
        assert_int_equal(die_armed_in_child(f, WRAP_WRITE), 0);
        assert_int_equal(ut_count_entries(f->dir), 1);
}

/* cd_wrap_short() the same: on a wrap that moves no bytes it used to
 * consume the arm silently. Every other symbol is refused at the arm. */
static void short_refused_where_the_wrap_moves_no_bytes(void **state)
{
        (void) state;
        for (int sym = 0; sym <= _WRAP_MAX; sym++) {
                int status;
                pid_t pid;

                if (sym == WRAP_READ || sym == WRAP_WRITE || sym == WRAP_PWRITE)
                        continue;
                pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        cd_wrap_short((enum cd_wrap_sym) sym, 1, 1);
                        _exit(0);
                }
                assert_int_equal(waitpid(pid, &status, 0), pid);
                if (!WIFEXITED(status) || WEXITSTATUS(status) != CD_WRAP_MISUSED)
                        fail_msg("cd_wrap_short(%d) was not refused", sym);
        }
}

static void getrandom_passes_through_and_fails(void **state)
{
        unsigned char a[16] = { 0 }, zero[16] = { 0 };

        (void) state;
        assert_int_equal(getrandom(a, sizeof(a), 0), (ssize_t) sizeof(a));
        assert_memory_not_equal(a, zero, sizeof(a));
        cd_wrap_fail(WRAP_GETRANDOM, EAGAIN, 1);
        assert_int_equal(getrandom(a, sizeof(a), 0), -1);
        assert_int_equal(errno, EAGAIN);
}

/* Mount calls: unprivileged they fail, privileged they may not; either way
 * the wrapped call answers like the raw syscall. Arguments that can never
 * mount anything. */
static void mount_calls_pass_through_and_fail(void **state)
{
        struct fixture *f = *state;
        char *missing = NULL;

        assert_true(asprintf(&missing, "%s/missing", f->dir) > 0);
        ut_defer(free, missing);
        assert_int_equal(RES(mount("none", missing, "tmpfs", 0, NULL)),
                         RES(syscall(SYS_mount, "none", missing, "tmpfs", 0UL, NULL)));
        assert_int_equal(RES(umount2(missing, 0)), RES(syscall(SYS_umount2, missing, 0)));
        assert_int_equal(RES(fsconfig(-1, 0, NULL, NULL, 0)),
                         RES(syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0)));
        assert_int_equal(RES(fsmount(-1, 0, 0)), RES(syscall(SYS_fsmount, -1, 0, 0)));
        assert_int_equal(RES(open_tree(-1, missing, 0)),
                         RES(syscall(SYS_open_tree, -1, missing, 0)));
        assert_int_equal(RES(move_mount(-1, missing, -1, missing, 0)),
                         RES(syscall(SYS_move_mount, -1, missing, -1, missing, 0)));
        assert_int_equal(RES(fsopen("no-such-fs-type", 0)),
                         RES(syscall(SYS_fsopen, "no-such-fs-type", 0)));

        cd_wrap_fail(WRAP_MOUNT, ENOTBLK, 1);
        assert_int_equal(RES(mount("none", missing, "tmpfs", 0, NULL)), -ENOTBLK);
        cd_wrap_fail(WRAP_UMOUNT2, ENOTBLK, 1);
        assert_int_equal(RES(umount2(missing, 0)), -ENOTBLK);
        cd_wrap_fail(WRAP_FSOPEN, ENOTBLK, 1);
        assert_int_equal(RES(fsopen("tmpfs", 0)), -ENOTBLK);
        cd_wrap_fail(WRAP_FSCONFIG, ENOTBLK, 1);
        assert_int_equal(RES(fsconfig(-1, 0, NULL, NULL, 0)), -ENOTBLK);
        cd_wrap_fail(WRAP_FSMOUNT, ENOTBLK, 1);
        assert_int_equal(RES(fsmount(-1, 0, 0)), -ENOTBLK);
        cd_wrap_fail(WRAP_OPEN_TREE, ENOTBLK, 1);
        assert_int_equal(RES(open_tree(-1, missing, 0)), -ENOTBLK);
        cd_wrap_fail(WRAP_MOVE_MOUNT, ENOTBLK, 1);
        assert_int_equal(RES(move_mount(-1, missing, -1, missing, 0)), -ENOTBLK);
        assert_int_equal(ut_count_entries(f->dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(fail_fires_on_nth_call_once, setup, teardown),
                cmocka_unit_test_setup_teardown(reset_disarms, setup, teardown),
                cmocka_unit_test_setup_teardown(arms_are_per_symbol, setup, teardown),
                cmocka_unit_test_setup_teardown(file_calls_pass_through_and_fail, setup, teardown),
                cmocka_unit_test_setup_teardown(short_read_and_write, setup, teardown),
                cmocka_unit_test_setup_teardown(pwrite_ftruncate_and_dying_calls, setup, teardown),
                cmocka_unit_test_setup_teardown(die_refused_where_the_wrap_cannot_die, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(short_refused_where_the_wrap_moves_no_bytes, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(observer_sees_calls_before_they_are_made, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(getrandom_passes_through_and_fails, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(mount_calls_pass_through_and_fail, setup, teardown),
        };

        return cmocka_run_group_tests_name("wrap", tests, NULL, NULL);
}
