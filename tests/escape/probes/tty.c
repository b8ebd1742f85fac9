/* SPDX-License-Identifier: MIT */
/*
 * Terminal injection: TIOCSTI pushes bytes into a terminal's input, as if
 * typed, to be run by the shell that owns it once the job ends
 * (CVE-2017-5226); TIOCLINUX does the same through a virtual console's
 * selection. The harness runs these under a pseudo-terminal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "probe.h"

#define TIOCL_GETSHIFTSTATE 6 /* a harmless TIOCLINUX subcode: read the shift keys */

struct tty_fd {
        int fd;
        const char *name;
        bool opened;
};

/* fds 0-2 and the given device nodes, where they open. */
static size_t candidates(struct tty_fd *out, size_t max, const char *const *devices, size_t n)
{
        static const char *const std_names[] = { "fd 0", "fd 1", "fd 2" };
        size_t k = 0;

        for (int i = 0; i < 3 && k < max; i++)
                out[k++] = (struct tty_fd){ .fd = i, .name = std_names[i] };
        for (size_t i = 0; i < n && k < max; i++) {
                int fd = open(devices[i], O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

                if (fd < 0)
                        fd = open(devices[i], O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
                if (fd >= 0)
                        out[k++] = (struct tty_fd){ .fd = fd, .name = devices[i], .opened = true };
        }
        return k;
}

static void close_candidates(struct tty_fd *t, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (t[i].opened)
                        (void) close(t[i].fd);
}

/* ENOTTY, EINVAL, EBADF, EIO: not a terminal of that kind, or no fd. */
static bool no_terminal(int err)
{
        return err == ENOTTY || err == EINVAL || err == EBADF || err == EIO || err == ENXIO;
}

static int finish(struct probe_ctx *c, int denied, const char *what)
{
        if (denied)
                return BLOCKED;
        if (c->bare)
                return verdict(c, NOT_APPLICABLE, "no %s reachable", what);
        return verdict(c, BLOCKED, "no %s reachable", what);
}

static int probe_tiocsti(struct probe_ctx *c, int argc, char **argv)
{
        static const char *const devices[] = { "/dev/tty" };
        struct tty_fd t[4];
        size_t n = candidates(t, ELEMENTSOF(t), devices, ELEMENTSOF(devices));
        int denied = 0;

        (void) argc;
        (void) argv;
        for (size_t i = 0; i < n; i++) {
                char ch = ' ';
                int e;

                if (ioctl(t[i].fd, TIOCSTI, &ch) == 0) {
                        /* Take the injected byte back out of the input queue. */
                        (void) tcflush(t[i].fd, TCIFLUSH);
                        close_candidates(t, n);
                        return verdict(c, ESCAPED, "TIOCSTI on %s injected a byte", t[i].name);
                }
                e = errno;
                note(c, "%s: %s", t[i].name, ename(e));
                if (!no_terminal(e))
                        denied++;
        }
        close_candidates(t, n);
        return finish(c, denied, "terminal");
}

static int probe_tioclinux(struct probe_ctx *c, int argc, char **argv)
{
        static const char *const devices[] = { "/dev/tty0", "/dev/console" };
        struct tty_fd t[5];
        size_t n = candidates(t, ELEMENTSOF(t), devices, ELEMENTSOF(devices));
        int denied = 0;

        (void) argc;
        (void) argv;
        for (size_t i = 0; i < n; i++) {
                char arg[2] = { TIOCL_GETSHIFTSTATE, 0 };
                int e;

                if (ioctl(t[i].fd, TIOCLINUX, arg) == 0) {
                        close_candidates(t, n);
                        return verdict(c, ESCAPED, "TIOCLINUX reaches a virtual console (%s)",
                                       t[i].name);
                }
                e = errno;
                note(c, "%s: %s", t[i].name, ename(e));
                if (!no_terminal(e))
                        denied++;
        }
        close_candidates(t, n);
        return finish(c, denied, "virtual console");
}

const struct probe tty_probes[] = {
        { "tiocsti", probe_tiocsti, "", "TIOCSTI into fds 0-2 or /dev/tty (CVE-2017-5226)" },
        { "tioclinux", probe_tioclinux, "", "TIOCLINUX on fds 0-2, /dev/tty0, /dev/console" },
};
const size_t tty_probes_n = ELEMENTSOF(tty_probes);
