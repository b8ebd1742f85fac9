/* SPDX-License-Identifier: MIT */
/* common/fault.c: CORDON_FAULT's list of steps and its ":once" entries. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_list_and_once),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
