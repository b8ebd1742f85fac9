/* SPDX-License-Identifier: MIT */
/*
 * Other jobs' IPC objects: a System V shared memory segment (by the key the
 * harness created it with) and anything listed in /proc/sysvipc, and POSIX
 * shared memory in /dev/shm. A job has an IPC namespace and a /dev/shm of
 * its own, so it should see none.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "probe.h"

/* Entries of a /proc/sysvipc table (the first line is a header). */
static int sysvipc_entries(const char *path)
{
        char buf[16384];
        int lines = 0;

        if (read_text(path, buf, sizeof(buf)) <= 0)
                return 0;
        for (const char *p = buf; (p = strchr(p, '\n')); p++)
                lines++;
        return lines > 0 ? lines - 1 : 0;
}

static int probe_sysv_shm(struct probe_ctx *c, int argc, char **argv)
{
        static const char *const tables[] = { "/proc/sysvipc/shm", "/proc/sysvipc/sem",
                                              "/proc/sysvipc/msg" };
        unsigned long long key;
        int r = BLOCKED;

        if (argc > 1 || (argc == 1 && parse_uint(argv[0], 0xffffffffULL, &key) < 0))
                return verdict(c, BROKEN, "usage: sysv-shm [KEY]");
        if (argc == 1) {
                int id = shmget((key_t) (unsigned int) key, 0, 0);

                if (id < 0) {
                        note(c, "shmget key %#llx: %s", key, ename(errno));
                } else {
                        char copy[33] = { 0 };
                        void *p = shmat(id, NULL, SHM_RDONLY);

                        r = ESCAPED;
                        if (p == (void *) -1) {
                                note(c, "segment %#llx visible (id %d), attach: %s", key, id,
                                     ename(errno));
                        } else {
                                memcpy(copy, p, sizeof(copy) - 1);
                                copy[strcspn(copy, "\n")] = '\0';
                                note(c, "attached segment %#llx: '%s'", key, copy);
                                (void) shmdt(p);
                        }
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(tables); i++) {
                int n = sysvipc_entries(tables[i]);

                if (n > 0) {
                        note(c, "%d objects in %s", n, tables[i]);
                        r = ESCAPED;
                }
        }
        if (r == BLOCKED)
                note(c, "no System V IPC object is visible");
        return r;
}

static int probe_posix_shm(struct probe_ctx *c, int argc, char **argv)
{
        char path[PATH_MAX];
        struct dirent *e;
        int r = BLOCKED, others = 0;
        DIR *d;

        if (argc > 1 || (argc == 1 && (strchr(argv[0], '/') || argv[0][0] == '.')))
                return verdict(c, BROKEN, "usage: posix-shm [NAME]");
        if (argc == 1) {
                int fd;

                (void) snprintf(path, sizeof(path), "/dev/shm/%s", argv[0]);
                fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
                if (fd >= 0) {
                        (void) close(fd);
                        r = verdict(c, ESCAPED, "opened %s", path);
                } else {
                        note(c, "%s: %s", path, ename(errno));
                }
        }
        d = opendir("/dev/shm");
        if (!d)
                return verdict(c, r, "/dev/shm: %s", ename(errno));
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                        others++;
        (void) closedir(d);
        if (others) {
                note(c, "%d objects in /dev/shm", others);
                r = ESCAPED;
        }
        if (r == BLOCKED)
                note(c, "/dev/shm is empty");
        return r;
}

const struct probe ipc_probes[] = {
        { "sysv-shm", probe_sysv_shm, "[KEY]",
          "attach SysV segment KEY; any object in /proc/sysvipc" },
        { "posix-shm", probe_posix_shm, "[NAME]", "open /dev/shm/NAME; any object in /dev/shm" },
};
const size_t ipc_probes_n = ELEMENTSOF(ipc_probes);
