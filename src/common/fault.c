/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cordon/fault.h"

#ifdef CORDON_FAULT_INJECTION
#define FAULT_MAX   8
#define ONCE_SUFFIX ":once"
static char fault_list[256];
/* A ":once" entry has failed its step. In a shared page, so that a step
 * failed in a post-clone child (no CLONE_VM) counts for its parent too. */
static atomic_bool fired_private[FAULT_MAX];
static atomic_bool *fired = fired_private;

/* A list this build cannot hold is a mistake in the test that set it:
 * ignoring a part of it would let a fault test pass without its fault. */
static void check_list(const char *s)
{
        size_t entries = 1;

        for (const char *c = s; *c; c++)
                entries += *c == ',';
        if (strlen(s) < sizeof(fault_list) && entries <= FAULT_MAX)
                return;
        (void) fprintf(stderr, "CORDON_FAULT: at most %d entries and %zu bytes\n", FAULT_MAX,
                       sizeof(fault_list) - 1);
        abort();
}

void cd_fault_init(void)
{
        const char *s = secure_getenv("CORDON_FAULT");

        fault_list[0] = '\0';
        if (s) {
                check_list(s);
                memcpy(fault_list, s, strlen(s) + 1);
        }
        if (fired == fired_private) {
                void *p = mmap(NULL, sizeof(fired_private), PROT_READ | PROT_WRITE,
                               MAP_SHARED | MAP_ANONYMOUS, -1, 0);

                if (p != MAP_FAILED) /* else per process: a test would say so */
                        fired = p;
        }
        for (int k = 0; k < FAULT_MAX; k++) /* a new list: its ":once" entries are armed */
                atomic_store(&fired[k], false);
}

/* No allocation and no lock: the post-clone child calls this too. */
int cd_fault(const char *step)
{
        size_t n = strlen(step), k = 0;

        if (n == 0)
                return 0;
        for (const char *e = fault_list; *e; k++) { /* at most FAULT_MAX: check_list() */
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

void cd_fault_wait(void)
{
        const char *release = secure_getenv("CORDON_FAULT_RELEASE");
        const char *reached = secure_getenv("CORDON_FAULT_REACHED");
        struct timespec tick = { 0, 10 * 1000 * 1000 };
        int fd;

        /* Tests: a sign that the hold is reached (its absence fails them). */
        if (reached && (fd = open(reached, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0)
                (void) close(fd);
        for (int i = 0; release && i < 6000 && access(release, F_OK) < 0; i++)
                (void) nanosleep(&tick, NULL);
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

void cd_fault_wait(void)
{
}
#endif
