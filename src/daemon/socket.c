/* SPDX-License-Identifier: MIT */
/* cordond's listening socket: from systemd, or bound here (daemon.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/util.h"
#include "daemon.h"

#define SD_LISTEN_FDS_START 3

/* sd_listen_fds(3), the protocol without libsystemd: one stream socket. */
static int from_systemd(struct cd_err *err)
{
        const char *pid = secure_getenv("LISTEN_PID"), *fds = secure_getenv("LISTEN_FDS");
        uint64_t p, n;
        int type = 0;
        socklen_t len = sizeof(type);

        if (!pid || !fds)
                return -ENOENT;
        if (cd_parse_u64(pid, &p) < 0 || p != (uint64_t) getpid())
                return -ENOENT; /* meant for another process */
        (void) unsetenv("LISTEN_PID");
        (void) unsetenv("LISTEN_FDS");
        (void) unsetenv("LISTEN_FDNAMES");
        if (cd_parse_u64(fds, &n) < 0 || n != 1)
                return cd_err_set(err, EINVAL, "socket: systemd passed %s sockets; expected one",
                                  fds);
        if (getsockopt(SD_LISTEN_FDS_START, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
            type != SOCK_STREAM)
                return cd_err_set(err, EINVAL,
                                  "socket: the fd systemd passed is not a stream "
                                  "socket");
        if (fcntl(SD_LISTEN_FDS_START, F_SETFD, FD_CLOEXEC) < 0)
                return cd_err_errno(err, "socket: set FD_CLOEXEC");
        return SD_LISTEN_FDS_START;
}

/* A socket file at @path that nobody listens on is left from a crash. */
static int remove_stale(const char *path, const struct sockaddr_un *sa, struct cd_err *err)
{
        cleanup_close int probe = -1;
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : cd_err_errno(err, "socket: stat %s", path);
        if (!S_ISSOCK(st.st_mode))
                return cd_err_set(err, EEXIST, "socket: %s exists and is not a socket", path);
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0)
                return cd_err_errno(err, "socket: probe");
        if (connect(probe, (const struct sockaddr *) sa, sizeof(*sa)) == 0)
                return cd_err_set(err, EADDRINUSE, "socket: %s: another cordond is listening",
                                  path);
        if (unlink(path) < 0 && errno != ENOENT)
                return cd_err_errno(err, "socket: remove stale %s", path);
        return 0;
}

/* The socket's directory (e.g. /run/cordon): made 0755 when missing. */
static int make_parent(const char *path, struct cd_err *err)
{
        cleanup_free char *dir = strdup(path);
        char *slash = dir ? strrchr(dir, '/') : NULL;

        if (!slash)
                return dir ? 0 : cd_err_set(err, ENOMEM, "out of memory");
        if (slash == dir)
                return 0;
        *slash = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return cd_err_errno(err, "socket: create %s", dir);
        return 0;
}

static int bind_here(const struct cd_config *cfg, struct cd_err *err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        cleanup_close int fd = -1;
        mode_t old;
        int r;

        if (strlen(cfg->socket_path) >= sizeof(sa.sun_path))
                return cd_err_set(err, ENAMETOOLONG, "socket: the path is too long");
        memcpy(sa.sun_path, cfg->socket_path, strlen(cfg->socket_path) + 1);
        r = make_parent(cfg->socket_path, err);
        if (r == 0)
                r = remove_stale(cfg->socket_path, &sa, err);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return cd_err_errno(err, "socket: create");
        /* Born 0600, then opened up to the configured mode and group. */
        old = umask(0177);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        (void) umask(old);
        if (r < 0)
                return cd_err_errno(err, "socket: bind %s", cfg->socket_path);
        /* Never through a symlink someone swapped in for the socket. */
        if (cfg->socket_group_set && lchown(cfg->socket_path, 0, cfg->socket_group) < 0)
                return cd_err_errno(err, "socket: chown %s", cfg->socket_path);
        if (fchmodat(AT_FDCWD, cfg->socket_path, cfg->socket_mode, AT_SYMLINK_NOFOLLOW) < 0)
                return cd_err_errno(err, "socket: chmod %s", cfg->socket_path);
        if (listen(fd, 128) < 0)
                return cd_err_errno(err, "socket: listen");
        return TAKE_FD(fd);
}

int cd_daemon_listen(const struct cd_config *cfg, bool *ret_created, struct cd_err *err)
{
        int fd = from_systemd(err);

        *ret_created = false;
        if (fd != -ENOENT)
                return fd;
        fd = bind_here(cfg, err);
        *ret_created = fd >= 0;
        return fd;
}
