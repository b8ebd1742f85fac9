/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * What every fuzz target does when one of its invariants breaks: say so
 * on stderr in one line and abort(), so that libFuzzer keeps the input.
 * Define FUZZ_TARGET ("fuzz_name") before including this, and FUZZ_ON_FAIL
 * (a function of the target's, no arguments) for what must happen first:
 * abort() runs no atexit handler.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
        va_list ap;

#ifdef FUZZ_ON_FAIL
        FUZZ_ON_FAIL();
#endif
        va_start(ap, fmt);
        fputs(FUZZ_TARGET ": invariant broken: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        abort();
}

#define CHECK(cond, ...)                                                                           \
        do {                                                                                       \
                if (!(cond))                                                                       \
                        fail(__VA_ARGS__);                                                         \
        } while (0)
