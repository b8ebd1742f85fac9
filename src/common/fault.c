/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "cordon/fault.h"

#ifdef CORDON_FAULT_INJECTION
static char fault_step[64];

void cd_fault_init(void)
{
        const char *s = secure_getenv("CORDON_FAULT");

        if (s && strlen(s) < sizeof(fault_step))
                memcpy(fault_step, s, strlen(s) + 1);
}

int cd_fault(const char *step)
{
        return fault_step[0] != '\0' && strcmp(fault_step, step) == 0;
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
