/* SPDX-License-Identifier: MIT */
/* common/fault.c: CORDON_FAULT's list of steps and its ":once" entries. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cordon/fault.h"

static void test_list_and_once(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        assert_int_equal(setenv("CORDON_FAULT", "net,cancel_record:once,clone", 1), 0);
        cd_fault_init();
        assert_true(cd_fault("net"));
        assert_true(cd_fault("net")); /* every time */
        assert_true(cd_fault("clone"));
        assert_true(cd_fault("cancel_record"));
        assert_false(cd_fault("cancel_record")); /* the first time only */
        assert_false(cd_fault("cancel_record"));
        /* Whole entries only: no prefix, no suffix. */
        assert_false(cd_fault("ne"));
        assert_false(cd_fault("netx"));
        assert_false(cd_fault("cancel"));
        assert_false(cd_fault("clon"));
        assert_false(cd_fault("seccomp"));
        assert_false(cd_fault(""));
#endif
}

/* A ":once" step failed in a child process (as the post-clone child does,
 * without CLONE_VM) counts for its parent too; empty entries name nothing. */
static void test_once_across_fork(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        int status;
        pid_t pid;

        assert_int_equal(setenv("CORDON_FAULT", ",mount:once,,", 1), 0);
        cd_fault_init();
        assert_false(cd_fault(""));
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(cd_fault("mount") ? 0 : 1);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_false(cd_fault("mount"));
#endif
}

#ifdef CORDON_FAULT_INJECTION
/* cd_fault_init() of @list in a child: how it ended. */
static int init_in_child(const char *list)
{
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                if (setenv("CORDON_FAULT", list, 1) < 0)
                        _exit(2);
                cd_fault_init();
                _exit(cd_fault("h") ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return status;
}
#endif

/* A list longer than the build holds stops the process: a part ignored
 * would let a fault test pass without its fault. An unset list is empty. */
static void test_list_too_long(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        char list[300];
        int status;

        status = init_in_child("a,b,c,d,e,f,g,h");
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        status = init_in_child("a,b,c,d,e,f,g,x,h");
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
        memset(list, 'x', 253);
        memcpy(list + 253, ",h", 3); /* 255 bytes: the longest */
        status = init_in_child(list);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        memset(list, 'x', 254);
        memcpy(list + 254, ",h", 3); /* 256 bytes */
        status = init_in_child(list);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
        assert_int_equal(setenv("CORDON_FAULT", "h", 1), 0);
        cd_fault_init();
        assert_true(cd_fault("h"));
        assert_int_equal(unsetenv("CORDON_FAULT"), 0);
        cd_fault_init();
        assert_false(cd_fault("h"));
#endif
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_list_and_once),
                cmocka_unit_test(test_once_across_fork),
                cmocka_unit_test(test_list_too_long),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
