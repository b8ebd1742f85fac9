/* SPDX-License-Identifier: MIT */
/* Which NSS setups let the launcher cache "this uid names no account". */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "launcher/launcher-internal.h"

static void local_sources_are_cacheable(void **state)
{
        (void) state;
        assert_true(cd_accounts_nss_local("passwd:         files systemd\n"
                                          "group:          files systemd\n"
                                          "hosts:          files dns\n"));
        assert_true(cd_accounts_nss_local("passwd: compat\ngroup: compat\n"));
        assert_true(cd_accounts_nss_local("passwd: files [NOTFOUND=return] systemd\n"));
        /* No passwd or group line: glibc reads the files. */
        assert_true(cd_accounts_nss_local("hosts: files ldap\n"));
        assert_true(cd_accounts_nss_local(""));
}

static void remote_sources_are_asked_every_time(void **state)
{
        (void) state;
        assert_false(cd_accounts_nss_local("passwd: files ldap\ngroup: files\n"));
        assert_false(cd_accounts_nss_local("passwd: files\ngroup: files winbind\n"));
        assert_false(cd_accounts_nss_local("passwd: sss files\n"));
        assert_false(cd_accounts_nss_local("passwd: files [NOTFOUND=return] sss\n"));
        /* A prefix of a local name is not that name. */
        assert_false(cd_accounts_nss_local("passwd: filesx\n"));
        assert_false(cd_accounts_nss_local("group: files systemdX"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(local_sources_are_cacheable),
                cmocka_unit_test(remote_sources_are_asked_every_time),
        };

        return cmocka_run_group_tests_name("accounts", tests, NULL, NULL);
}
