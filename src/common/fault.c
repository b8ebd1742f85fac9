/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cordon/fault.h"

#ifdef CORDON_FAULT_INJECTION
#define FAULT_MAX   8
#define ONCE_SUFFIX ":once"
static char fault_list[256];
static atomic_bool fired[FAULT_MAX]; /* a ":once" entry has failed its step */

void cd_fault_init(void)
{
        const char *s = secure_getenv("CORDON_FAULT");

        if (s && strlen(s) < sizeof(fault_list))
                memcpy(fault_list, s, strlen(s) + 1);
}

/* No allocation and no lock: the post-clone child calls this too. */
int cd_fault(const char *step)
{
        size_t n = strlen(step), k = 0;

        for (const char *e = fault_list; *e && k < FAULT_MAX; k++) {
                size_t len = strcspn(e, ",");

                if (len >= n && strncmp(e, step, n) == 0) {
                        if (len == n)
                                return 1;
                        if (len == n + strlen(ONCE_SUFFIX) &&
                            strncmp(e + n, ONCE_SUFFIX, strlen(ONCE_SUFFIX)) == 0)
                                return !atomic_exchange(&fired[k], true);
                }
                e += len + (e[len] == ',');
        }
        return 0;
}
#else
void cd_fault_init(void)
{
}

int cd_fault(const char *step)
{
        (void) step;
        return 0;
}
#endif
