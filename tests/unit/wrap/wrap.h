/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Fault injection for unit tests. A test binary lists the syscalls it wraps
 * (cd_add_unit_test(... WRAP openat mkdirat)); the linker then sends every
 * call to <sym> to __wrap_<sym> (wrap_<sym>.c), which passes through to the
 * real call until a test arms it:
 *
 *         cd_wrap_fail(WRAP_MKDIRAT, EACCES, 2);   the 2nd call from now fails
 *         r = cd_cgroup_open_parent(...);
 *
 * Every test binary links every wrap; each declares its __real_<sym> weak.
 * In a binary that wraps <sym>, the linker resolves __real_<sym> to the real
 * call; in one that does not, nothing calls __wrap_<sym> and the weak
 * __real_<sym> stays unresolved (null) without failing the link. (A static
 * library with one member per wrap would not do: CMake places libcordon's
 * own dependencies after it on the link line, past the wraps they need.)
 * Calls are counted from every caller in the binary, the test's own code
 * included: arm right before the call under test. cd_wrap_reset() (call it in
 * teardown) disarms everything. Not thread-safe; forked children inherit the
 * armed state.
 */

#include <stdbool.h>
#include <stddef.h>

enum cd_wrap_sym {
        WRAP_OPENAT,
        WRAP_MKDIRAT,
        WRAP_WRITE,
        WRAP_READ,
        WRAP_FSOPEN,
        WRAP_FSCONFIG,
        WRAP_FSMOUNT,
        WRAP_PIPE2,
        WRAP_FCNTL,
        WRAP_UNLINKAT,
        WRAP_MOUNT,
        WRAP_UMOUNT2,
        WRAP_OPEN_TREE,
        WRAP_MOVE_MOUNT,
        WRAP_MKNODAT,
        WRAP_SYMLINKAT,
        WRAP_GETRANDOM,
        WRAP_PWRITE,
        WRAP_FTRUNCATE,
        WRAP_FSYNC,
        WRAP_FDATASYNC,
        _WRAP_MAX,
};

/* The @nth call from now (1 = the next one) fails with @errnum: errno is set
 * and -1 returned. Fires once, then @sym passes through again. */
void cd_wrap_fail(enum cd_wrap_sym sym, int errnum, unsigned int nth);

/* read, write and pwrite only: the @nth call from now moves at most
 * @max_bytes (a short read or write, as a signal or a full pipe can
 * cause). Fires once. Any other @sym is a broken test, as for
 * cd_wrap_die(): the process prints why and exits with CD_WRAP_MISUSED. */
void cd_wrap_short(enum cd_wrap_sym sym, size_t max_bytes, unsigned int nth);

/* write, pwrite, ftruncate, fsync and fdatasync only: the @nth call from now exits the
 * process with CD_WRAP_DIED instead (a crash right before the call: what
 * earlier calls wrote stays, in a forked child of the test). Fires once.
 * Any other @sym, whose wrap would consume the arm and carry on, is a
 * broken test: the process prints why and exits with CD_WRAP_MISUSED at
 * once, in the test process or the child alike. */
#define CD_WRAP_DIED    86
#define CD_WRAP_MISUSED 2
void cd_wrap_die(enum cd_wrap_sym sym, unsigned int nth);

/* True while a fault armed on @sym has not fired yet: lets a test prove that
 * the path it wanted to drive was driven. */
bool cd_wrap_pending(enum cd_wrap_sym sym);

/* What a wrap shows an observer: the call about to be made. */
typedef void cd_wrap_observer_fn(enum cd_wrap_sym sym, int fd, void *data);

/* write, pwrite, ftruncate, fsync and fdatasync: from now on, each call
 * that goes through to the real one (none that an arm fails or kills)
 * first calls @fn (NULL: none) with its symbol and fd, so that a test can
 * see a file as it is before each write and at each sync of it. @fn may
 * call the observed symbols: those calls are not observed. cd_wrap_reset()
 * removes it. */
void cd_wrap_observe(cd_wrap_observer_fn *fn, void *data);

/* Disarm every wrap. */
void cd_wrap_reset(void);

/* For the __wrap_ functions: what to do with this call. */
struct cd_wrap_action {
        int errnum;       /* non-zero: fail with this errno */
        size_t max_bytes; /* read/write: move at most this much (SIZE_MAX: no limit) */
        bool die;         /* exit with CD_WRAP_DIED before the call */
};

/* For the __wrap_ functions that honour cd_wrap_die(): exit if @a says so. */
void cd_wrap_maybe_die(struct cd_wrap_action a);

/* For the observed __wrap_ functions: about to make the real call. */
void cd_wrap_passing(enum cd_wrap_sym sym, int fd);

struct cd_wrap_action cd_wrap_next(enum cd_wrap_sym sym);
