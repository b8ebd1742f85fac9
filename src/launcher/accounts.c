/* SPDX-License-Identifier: MIT */
/*
 * A job's host uid and gid must never name an account: the job would own
 * that account's files. The answer comes from NSS (getpwuid, getgrgid),
 * which on a systemd host loads a module and scans the userdb directories:
 * half a millisecond per launch. When every NSS source for users and
 * groups is local, the answer is cached in the slot's lease file, keyed on
 * the identity and modification time of every file and directory those
 * sources read; any change there asks NSS again. With a remote source
 * (LDAP, sssd, winbind, ...) NSS is asked every time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/util.h"
#include "launcher-internal.h"

static const char *const local_sources[] = {
        "/etc/passwd", "/etc/group",       "/etc/nsswitch.conf",    "/etc/userdb",
        "/run/userdb", "/run/host/userdb", "/usr/local/lib/userdb", "/usr/lib/userdb",
};

/* "passwd:" and "group:" name only files, compat and systemd (actions in
 * brackets aside). Without such lines glibc reads the files. */
static bool token_is_local(const char *t, size_t n)
{
        static const char *const ok[] = { "files", "compat", "systemd" };

        if (n > 0 && t[0] == '[')
                return true;
        for (size_t i = 0; i < ELEMENTSOF(ok); i++)
                if (strlen(ok[i]) == n && strncmp(t, ok[i], n) == 0)
                        return true;
        return false;
}

static bool line_is_local(const char *line)
{
        for (const char *p = strchr(line, ':') + 1; *p && *p != '\n';) {
                size_t n;

                p += strspn(p, " \t");
                n = p[0] == '[' ? strcspn(p, "]\n") + (p[strcspn(p, "]\n")] == ']')
                                : strcspn(p, " \t\n");
                if (n == 0)
                        break;
                if (!token_is_local(p, n))
                        return false;
                p += n;
        }
        return true;
}

bool cd_accounts_nss_local(const char *nsswitch)
{
        for (const char *line = nsswitch; line && *line;
             line = strchr(line, '\n'), line = line ? line + 1 : NULL)
                if ((strncmp(line, "passwd:", 7) == 0 || strncmp(line, "group:", 6) == 0) &&
                    !line_is_local(line))
                        return false;
        return true;
}

static bool nss_is_local(void)
{
        char buf[8192];

        if (cd_read_at(AT_FDCWD, "/etc/nsswitch.conf", buf, sizeof(buf)) < 0)
                return errno == ENOENT;
        return cd_accounts_nss_local(buf);
}

/* Identity and mtime of every local source, and the ids asked about. */
static void stamp(uid_t uid, gid_t gid, char *buf, size_t size)
{
        size_t n = (size_t) snprintf(buf, size, "cordon-accounts-v1 %u %u\n", (unsigned int) uid,
                                     (unsigned int) gid);

        for (size_t i = 0; i < ELEMENTSOF(local_sources) && n < size; i++) {
                struct stat st;

                if (stat(local_sources[i], &st) < 0)
                        n += (size_t) snprintf(buf + n, size - n, "-\n");
                else
                        n += (size_t) snprintf(buf + n, size - n, "%lu:%lu:%lld.%ld:%lld\n",
                                               (unsigned long) st.st_dev, (unsigned long) st.st_ino,
                                               (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                                               (long long) st.st_size);
        }
}

bool cd_accounts_ids_free(int lease_fd, uid_t uid, gid_t gid)
{
        char want[1024], have[1024];
        bool local = nss_is_local();
        ssize_t n;

        if (local) {
                stamp(uid, gid, want, sizeof(want));
                n = pread(lease_fd, have, sizeof(have) - 1, 0);
                if (n >= 0) {
                        have[n] = '\0';
                        if (strcmp(have, want) == 0)
                                return true;
                }
        }
        if (getpwuid(uid) != NULL || getgrgid(gid) != NULL)
                return false;
        /* A cache that cannot be written only costs the next launch an NSS lookup. */
        if (local && ftruncate(lease_fd, 0) == 0)
                (void) !pwrite(lease_fd, want, strlen(want), 0);
        return true;
}
