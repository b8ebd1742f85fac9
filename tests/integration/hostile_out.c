/* SPDX-License-Identifier: MIT */
/*
 * cordon-hostile-out: run inside a sandbox, it plants in /out everything a
 * job could use to turn the artifact collector against the host (issue 6):
 *
 *   hostile-out traps CANARY   symlinks (to CANARY, /etc/shadow, /etc,
 *                              /proc/self/environ, named like runner files),
 *                              hardlinks, a FIFO, a socket, a device attempt,
 *                              a 1 TiB sparse file, a nest deeper than
 *                              PATH_MAX, hostile names, a setuid file, and a
 *                              background child that keeps appending to a
 *                              file and swapping one for a symlink
 *   hostile-out many N         N small files in /out/many
 *
 * It prints one line per attempt that the kernel refused, so the test can
 * see the sandbox blocked them before the collector saw anything.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

static void file(const char *path, const char *content)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || write(fd, content, strlen(content)) < 0)
                printf("could not write %s: %s\n", path, strerror(errno));
        if (fd >= 0)
                close(fd);
}

static void symlinks(const char *canary)
{
        const char *const links[][2] = {
                { canary, "/out/canary-link" },
                { "/etc/shadow", "/out/shadow-link" },
                { "/etc", "/out/outside-dir" },
                { "/proc/self/environ", "/out/environ-link" },
                { "/etc/shadow", "/out/manifest.json" },
                { "/etc/passwd", "/out/stdout" },
        };

        for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
                if (symlink(links[i][0], links[i][1]) < 0)
                        printf("symlink %s: %s\n", links[i][1], strerror(errno));
}

static void specials(void)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/out/sock" };
        int s = socket(AF_UNIX, SOCK_STREAM, 0);

        file("/out/a.txt", "linked twice\n");
        if (link("/out/a.txt", "/out/a-link.txt") < 0)
                printf("link inside /out: %s\n", strerror(errno));
        if (link("/etc/passwd", "/out/host-link") < 0)
                printf("refused: hardlink to a host file: %s\n", strerror(errno));
        if (mkfifo("/out/fifo", 0644) < 0)
                printf("mkfifo: %s\n", strerror(errno));
        if (s < 0 || bind(s, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                printf("socket: %s\n", strerror(errno));
        if (mknod("/out/null", S_IFCHR | 0666, makedev(1, 3)) < 0)
                printf("refused: device node: %s\n", strerror(errno));
}

static void sparse(void)
{
        int fd = open("/out/sparse", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

        if (fd < 0 || ftruncate(fd, 1LL << 40) < 0)
                printf("sparse: %s\n", strerror(errno));
        if (fd >= 0)
                close(fd);
}

/* 200 levels of 40-byte names: 8000+ bytes, deeper than PATH_MAX, made
 * relative to each directory's fd. */
static void deep(void)
{
        char name[41];
        int dir = open("/out", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        memset(name, 'd', 40);
        name[40] = '\0';
        for (int i = 0; i < 200 && dir >= 0; i++) {
                int next;

                if (mkdirat(dir, name, 0755) < 0)
                        break;
                next = openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                close(dir);
                dir = next;
        }
        if (dir >= 0) {
                int fd = openat(dir, "bottom.txt", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

                if (fd >= 0)
                        close(fd);
                close(dir);
        }
}

static void names(void)
{
        char long_name[300];

        file("/out/..x", "dot dot\n");
        file("/out/new\nline", "newline\n");
        file("/out/esc\033[31mred", "escape\n");
        file("/out/bad\xff\xfeutf8", "invalid utf-8\n");
        file("/out/report\xe2\x80\xaegnp.exe", "right-to-left override\n");
        file("/out/-rf", "leading dash\n");
        /* A repository whose config runs a command wherever git is used in
         * the tree the artifacts land in, and Mercurial's, as a file. */
        if (mkdir("/out/.git", 0755) < 0 || mkdir("/out/.git/objects", 0755) < 0 ||
            mkdir("/out/.git/refs", 0755) < 0)
                printf("mkdir .git: %s\n", strerror(errno));
        file("/out/.git/HEAD", "ref: refs/heads/main\n");
        file("/out/.git/config", "[core]\n\tfsmonitor = \"touch /tmp/owned; false\"\n");
        file("/out/.HG", "[hooks]\n");
        /* Jujutsu's repository config (a pager it runs), Darcs's as a file. */
        if (mkdir("/out/.jj", 0755) < 0 || mkdir("/out/.jj/repo", 0755) < 0)
                printf("mkdir .jj: %s\n", strerror(errno));
        file("/out/.jj/repo/config.toml", "[ui]\npager = \"touch /tmp/owned\"\n");
        file("/out/_Darcs", "posthook\n");
        /* A bare repository under another name (its HEAD is refused, the
         * rest taken), a linked worktree's git dir, and a HEAD that makes
         * no repository. */
        if (mkdir("/out/bare", 0755) < 0 || mkdir("/out/bare/objects", 0755) < 0 ||
            mkdir("/out/bare/refs", 0755) < 0 || mkdir("/out/linked", 0755) < 0 ||
            mkdir("/out/plain", 0755) < 0 || mkdir("/out/plain/refs", 0755) < 0)
                printf("mkdir bare: %s\n", strerror(errno));
        file("/out/bare/HEAD", "ref: refs/heads/main\n");
        file("/out/bare/config", "[core]\n\tpager = \"touch /tmp/owned\"\n");
        file("/out/linked/HEAD", "ref: refs/heads/main\n");
        file("/out/linked/commondir", "../bare\n");
        file("/out/plain/HEAD", "not a repository\n");
        /* The same, as Windows and a case-folding file system take names:
         * ".git." is .git there, "GIT~1" may be its short alias, and a
         * bare repository whose HEAD ends in a dot, with "object\u017f". */
        if (mkdir("/out/.git.", 0755) < 0 || mkdir("/out/GIT~1", 0755) < 0 ||
            mkdir("/out/folded", 0755) < 0 || mkdir("/out/folded/object\u017f", 0755) < 0 ||
            mkdir("/out/folded/refs", 0755) < 0)
                printf("mkdir folded: %s\n", strerror(errno));
        file("/out/.git./config", "[core]\n\tfsmonitor = \"touch /tmp/owned; false\"\n");
        file("/out/GIT~1/config", "[core]\n\tfsmonitor = \"touch /tmp/owned; false\"\n");
        file("/out/folded/HEAD.", "ref: refs/heads/main\n");
        memcpy(long_name, "/out/", 5);
        memset(long_name + 5, 'n', 255);
        long_name[260] = '\0';
        file(long_name, "255 bytes\n");
        file("/out/suid", "setuid\n");
        if (chmod("/out/suid", 04755) < 0)
                printf("chmod setuid: %s\n", strerror(errno));
}

/* Until the sandbox ends it: append to one file, swap another between a
 * file and a symlink to the canary. */
static void background(const char *canary)
{
        if (fork() != 0)
                return;
        if (fork() != 0)
                _exit(0);
        setsid();
        for (unsigned long i = 0;; i++) {
                int fd = open("/out/growing", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

                if (fd >= 0) {
                        (void) !write(fd, "more\n", 5);
                        close(fd);
                }
                unlink("/out/swap");
                if (i % 2)
                        (void) !symlink(canary, "/out/swap");
                else
                        file("/out/swap", "now a file\n");
        }
}

static int many(long n)
{
        char path[64];

        if (mkdir("/out/many", 0755) < 0)
                return 1;
        for (long i = 0; i < n; i++) {
                int fd;

                snprintf(path, sizeof(path), "/out/many/f%05ld", i);
                fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                if (fd < 0) {
                        printf("stopped after %ld files: %s\n", i, strerror(errno));
                        return 0;
                }
                close(fd);
        }
        printf("made %ld files\n", n);
        return 0;
}

int main(int argc, char **argv)
{
        setvbuf(stdout, NULL, _IONBF, 0);
        if (argc == 3 && strcmp(argv[1], "traps") == 0) {
                file("/out/normal.txt", "a normal result\n");
                symlinks(argv[2]);
                specials();
                sparse();
                deep();
                names();
                background(argv[2]);
                sleep(1); /* let the background child churn */
                printf("planted\n");
                return 0;
        }
        if (argc == 3 && strcmp(argv[1], "many") == 0)
                return many(strtol(argv[2], NULL, 10));
        fprintf(stderr, "usage: hostile-out traps CANARY | many N\n");
        return 2;
}
