/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "wrap.h"

enum arm_kind { ARM_NONE, ARM_FAIL, ARM_SHORT, ARM_DIE };

struct arm {
        enum arm_kind kind;
        unsigned int countdown; /* calls left until the one that fires */
        int errnum;
        size_t max_bytes;
};

static struct arm arms[_WRAP_MAX];

/* The wraps that call cd_wrap_maybe_die(). */
static const bool can_die[_WRAP_MAX] = {
        [WRAP_WRITE] = true, [WRAP_PWRITE] = true,    [WRAP_FTRUNCATE] = true,
        [WRAP_FSYNC] = true, [WRAP_FDATASYNC] = true,
};

static cd_wrap_observer_fn *observer;
static void *observer_data;
static bool observing; /* in the observer: its own calls are not observed */

static struct arm *arm_of(enum cd_wrap_sym sym)
{
        return (unsigned int) sym < _WRAP_MAX ? &arms[sym] : NULL;
}

void cd_wrap_fail(enum cd_wrap_sym sym, int errnum, unsigned int nth)
{
        struct arm *a = arm_of(sym);

        if (a)
                *a = (struct arm){ .kind = ARM_FAIL,
                                   .countdown = nth ? nth : 1,
                                   .errnum = errnum > 0 ? errnum : EIO };
}

/* The wraps that honour a byte limit (wrap_read*.c, wrap_write.c, wrap_pwrite.c). */
static const bool can_short[_WRAP_MAX] = {
        [WRAP_READ] = true,
        [WRAP_WRITE] = true,
        [WRAP_PWRITE] = true,
};

void cd_wrap_short(enum cd_wrap_sym sym, size_t max_bytes, unsigned int nth)
{
        struct arm *a = arm_of(sym);

        if (!a || !can_short[sym]) {
                fprintf(stderr, "cd_wrap_short: the wrap of symbol %d moves no bytes (wrap.h)\n",
                        (int) sym);
                _exit(CD_WRAP_MISUSED);
        }
        *a = (struct arm){ .kind = ARM_SHORT, .countdown = nth ? nth : 1, .max_bytes = max_bytes };
}

void cd_wrap_die(enum cd_wrap_sym sym, unsigned int nth)
{
        struct arm *a = arm_of(sym);

        /* An arm the wrap would consume without dying: the test would go on
         * as if it had driven the crash it meant to. */
        if (!a || !can_die[sym]) {
                fprintf(stderr, "cd_wrap_die: the wrap of symbol %d cannot die (wrap.h)\n",
                        (int) sym);
                _exit(CD_WRAP_MISUSED);
        }
        *a = (struct arm){ .kind = ARM_DIE, .countdown = nth ? nth : 1 };
}

void cd_wrap_maybe_die(struct cd_wrap_action a)
{
        if (a.die)
                _exit(CD_WRAP_DIED);
}

void cd_wrap_observe(cd_wrap_observer_fn *fn, void *data)
{
        observer = fn;
        observer_data = data;
}

void cd_wrap_passing(enum cd_wrap_sym sym, int fd)
{
        if (!observer || observing)
                return;
        observing = true;
        observer(sym, fd, observer_data);
        observing = false;
}

bool cd_wrap_pending(enum cd_wrap_sym sym)
{
        struct arm *a = arm_of(sym);

        return a && a->kind != ARM_NONE;
}

void cd_wrap_reset(void)
{
        for (unsigned int i = 0; i < _WRAP_MAX; i++)
                arms[i] = (struct arm){ .kind = ARM_NONE };
        observer = NULL;
        observer_data = NULL;
        observing = false; /* an observer left by a failed assertion's longjmp */
}

struct cd_wrap_action cd_wrap_next(enum cd_wrap_sym sym)
{
        struct cd_wrap_action act = { .errnum = 0, .max_bytes = SIZE_MAX, .die = false };
        struct arm *a = arm_of(sym);

        if (!a || a->kind == ARM_NONE || --a->countdown > 0)
                return act;
        if (a->kind == ARM_FAIL)
                act.errnum = a->errnum;
        else if (a->kind == ARM_DIE)
                act.die = true;
        else
                act.max_bytes = a->max_bytes;
        a->kind = ARM_NONE;
        return act;
}
