/* SPDX-License-Identifier: MIT */
/*
 * Artifacts onto the caller's disk (download.h). The manifest is the
 * reference: cordond serves the stored file, which could have changed
 * since the collector hashed it, so every byte is hashed here and
 * compared with the manifest before the file counts as fetched.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cli.h"
#include "cordon/artifacts.h"
#include "cordon/cleanup.h"
#include "cordon/crypto.h"
#include "cordon/fault.h"
#include "cordon/util.h"
#include "download.h"
#include "output.h"

#define MAX_NAME  255
#define MAX_DEPTH 64
#define SHA_HEX   64

bool cli_artifact_taken(const json_t *e)
{
        return json_is_string(json_object_get(e, "sha256"));
}

static bool hex64(const char *s)
{
        return s && strlen(s) == SHA_HEX && strspn(s, "0123456789abcdef") == SHA_HEX;
}

bool cli_artifact_safe(const json_t *e)
{
        const json_t *p = json_object_get(e, "path"), *size = json_object_get(e, "size");
        cleanup_free char *copy = NULL;
        size_t depth = 0;

        if (!json_is_string(p) || !json_is_integer(size) || json_integer_value(size) < 0 ||
            !hex64(json_string_value(json_object_get(e, "sha256"))))
                return false;
        /* An embedded NUL would make the path shorter than the name. */
        if (strlen(json_string_value(p)) != json_string_length(p) || json_string_length(p) == 0 ||
            json_string_length(p) > 4096)
                return false;
        copy = strdup(json_string_value(p));
        if (!copy)
                return false;
        /* Each '/'-separated component: "", ".", ".." and an absolute path
         * fail cd_name_is_acceptable or the checks here. */
        for (char *comp = copy, *next; comp; comp = next) {
                next = strchr(comp, '/');
                if (next)
                        *next++ = '\0';
                if (++depth > MAX_DEPTH || !*comp || strcmp(comp, ".") == 0 ||
                    strcmp(comp, "..") == 0 || !cd_name_is_acceptable(comp, MAX_NAME))
                        return false;
        }
        return true;
}

/* The names right below the directory @dir (@len bytes, 0: the top) in
 * the paths of @manifest, into *@ret. 0, or -ENOMEM. */
static int names_below(const json_t *manifest, const char *dir, size_t len, char ***ret)
{
        const json_t *e;
        size_t i;

        json_array_foreach(manifest, i, e)
        {
                const char *p = json_string_value(json_object_get(e, "path"));
                char name[MAX_NAME + 1];
                size_t n;

                if (!p || (len > 0 && (strncmp(p, dir, len) != 0 || p[len] != '/')))
                        continue;
                p += len > 0 ? len + 1 : 0;
                n = strcspn(p, "/");
                if (n > MAX_NAME)
                        continue; /* refused as unsafe anyway */
                memcpy(name, p, n);
                name[n] = '\0';
                if (cd_strv_push(ret, name) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* A HEAD that, with what the manifest puts beside it, makes git take its
 * directory for a repository (cd_names_are_repository()). */
static bool head_of_repository(const json_t *manifest, const char *path)
{
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        cleanup_strv char **names = NULL;

        if (!cd_name_folds_to(base, "HEAD"))
                return false;
        if (names_below(manifest, path, slash ? (size_t) (slash - path) : 0, &names) < 0)
                return true; /* out of memory: refused, not fetched unchecked */
        return cd_names_are_repository(names);
}

/* No component a repository's directory (cd_name_is_repository(): its
 * config names commands git, hg, jj... run in the tree the download
 * makes), and not the HEAD of a bare repository's layout in @manifest. */
bool cli_artifact_inert(const json_t *manifest, const json_t *e)
{
        const char *path = json_string_value(json_object_get(e, "path")) ?: "";
        cleanup_free char *copy = strdup(path);

        if (!copy)
                return false;
        for (char *comp = copy, *next; comp; comp = next) {
                next = strchr(comp, '/');
                if (next)
                        *next++ = '\0';
                if (cd_name_is_repository(comp))
                        return false;
        }
        return !head_of_repository(manifest, path);
}

struct fetch {
        const char *cmd;
        const char *label; /* "artifact <escaped path>" */
        int fd;
        bool escape;
        struct cd_tty_escape esc;
        struct cd_sha256 md;
        uint64_t got, want;
};

static int fetch_sink(void *data, const char *buf, size_t n)
{
        struct fetch *f = data;
        int r;

        if (n > f->want - f->got) {
                cli_error(f->cmd, "%s: more bytes than the manifest's size; refused", f->label);
                return CLI_EXIT_VERIFY;
        }
        if (cd_crypto_sha256_update(&f->md, buf, n) < 0) {
                cli_error(f->cmd, "%s: cannot hash", f->label);
                return CLI_EXIT_IO;
        }
        f->got += n;
        if (f->escape)
                r = cli_write_escaped(stdout, buf, n, true, &f->esc);
        else
                r = cd_write_all(f->fd, buf, n);
        if (r < 0) {
                cli_error(f->cmd, "%s: cannot write: %s", f->label, strerror(-r == EIO ? EIO : -r));
                return CLI_EXIT_IO;
        }
        return 0;
}

/* The hash of what arrived against the manifest. */
static int verify(struct fetch *f, const struct cli_response *resp, const char *sha)
{
        char hex[CD_SHA256_HEX], etag[SHA_HEX + 3];

        if (cd_crypto_sha256_final_hex(&f->md, hex) < 0) {
                cli_error(f->cmd, "%s: cannot hash", f->label);
                return CLI_EXIT_IO;
        }
        (void) snprintf(etag, sizeof(etag), "\"%s\"", sha);
        if (resp->etag[0] && strcmp(resp->etag, etag) != 0) {
                cli_error(f->cmd, "%s: cordond's ETag differs from the manifest; refused",
                          f->label);
                return CLI_EXIT_VERIFY;
        }
        if (f->got != f->want) {
                cli_error(f->cmd, "%s: %llu of %llu bytes arrived; refused", f->label,
                          (unsigned long long) f->got, (unsigned long long) f->want);
                return CLI_EXIT_VERIFY;
        }
        if (strcmp(hex, sha) != 0) {
                cli_error(f->cmd,
                          "%s: SHA-256 mismatch: what cordond served is not what its manifest "
                          "lists (changed since it was collected?); refused",
                          f->label);
                return CLI_EXIT_VERIFY;
        }
        return 0;
}

static char *artifact_label(const json_t *e)
{
        cleanup_free char *name = cli_escape(json_string_value(json_object_get(e, "path")));
        char *label = NULL;

        if (!name || asprintf(&label, "artifact %s", name) < 0)
                return NULL;
        return label;
}

int cli_artifact_fetch_fd(struct cli_client *c, const char *id, const json_t *e, int out_fd,
                          bool escape)
{
        const char *sha = json_string_value(json_object_get(e, "sha256"));
        cleanup_free char *label = artifact_label(e);
        cleanup_free char *enc =
                cli_url_encode(json_string_value(json_object_get(e, "path")), true);
        cleanup_free char *path = NULL;
        struct fetch f = { .cmd = cli_client_cmd(c),
                           .fd = out_fd,
                           .escape = escape,
                           .esc = { .ascii_only = !cd_tty_locale_utf8() },
                           .want = (uint64_t) json_integer_value(json_object_get(e, "size")) };
        struct cli_request rq = { .sink = fetch_sink, .sink_data = &f };
        struct cli_response resp = { 0 };
        struct cd_err err = { 0 };
        int r;

        if (!label || !enc || asprintf(&path, "/v1/jobs/%s/artifacts/%s", id, enc) < 0) {
                cli_error(f.cmd, "out of memory");
                return CLI_EXIT_IO;
        }
        f.label = label;
        rq.path = path;
        if (cd_crypto_sha256_init(&f.md, &err) < 0) {
                cli_error(f.cmd, "cannot set up SHA-256: %s", err.msg);
                return CLI_EXIT_IO;
        }
        r = cli_send(c, &rq, &resp);
        if (r == 0)
                r = cli_check(c, &resp, label);
        if (r == 0 && escape &&
            (cli_write_escaped_end(stdout, true, &f.esc) < 0 || fflush(stdout) == EOF))
                r = CLI_EXIT_IO;
        if (r == 0)
                r = verify(&f, &resp, sha);
        cli_response_clear(&resp);
        return r;
}

/* The directory for @path's last component beneath @dir_fd, made as
 * needed and never through a symlink. Sets *@ret_name to that component
 * (inside @path, which is modified). Returns an fd or -errno. */
static int parent_dir(int dir_fd, char *path, const char **ret_name)
{
        cleanup_close int cur = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        char *slash;

        if (cur < 0)
                return -errno;
        while ((slash = strchr(path, '/'))) {
                int next;

                *slash = '\0';
                if (mkdirat(cur, path, 0700) < 0 && errno != EEXIST)
                        return -errno;
                next = openat(cur, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0)
                        return errno == ENOTDIR ? -ELOOP : -errno;
                (void) cd_close(cur);
                cur = next;
                path = slash + 1;
        }
        *ret_name = path;
        return TAKE_FD(cur);
}

/* @where: " in DIR", or "" */
static int local_error(const char *cmd, const char *label, const char *where, int err)
{
        if (err == ELOOP) {
                cli_error(cmd, "%s: a symlink or non-directory in the way%s; refused", label,
                          where);
                return CLI_EXIT_VERIFY;
        }
        if (err == EEXIST) {
                cli_error(cmd, "%s: already exists%s; not overwritten", label, where);
                return CLI_EXIT_IO;
        }
        cli_error(cmd, "%s: cannot create it%s: %s", label, where, strerror(err));
        return CLI_EXIT_IO;
}

/* The file a download is written to until it is verified. */
struct tmp_file {
        int fd;
        char name[32]; /* "" for an unnamed one (O_TMPFILE) */
};

/*
 * A new file for a download in @dir_fd that no one sees under a name:
 * O_TMPFILE (open(2)). Owner only, 0600: artifacts are a job's output,
 * PHI often. A file system without it (NFS, FUSE:
 * EOPNOTSUPP; EISDIR before Linux 3.11) gets a file under a random hidden
 * name instead, which is never the final one. Returns 0 or -errno.
 */
static int tmp_open(int dir_fd, struct tmp_file *t)
{
        char rnd[17];
        int r;

        *t = (struct tmp_file){ .fd = -1 };
        if (cd_fault("cli_tmpfile"))
                errno = EOPNOTSUPP;
        else
                t->fd = openat(dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (t->fd >= 0)
                return 0;
        if (errno != EOPNOTSUPP && errno != EISDIR)
                return -errno;
        for (int i = 0; i < 8 && t->fd < 0; i++) {
                r = cd_random_hex(rnd, 8);
                if (r < 0)
                        return r;
                (void) snprintf(t->name, sizeof(t->name), ".cordon-%s", rnd);
                t->fd = openat(dir_fd, t->name,
                               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (t->fd < 0 && errno != EEXIST)
                        break;
        }
        if (t->fd < 0) {
                t->name[0] = '\0';
                return -errno;
        }
        return 0;
}

/* Give the verified file @t the name @name in @dir_fd. linkat(2) never
 * replaces what is there (EEXIST). An unnamed file is linked through
 * /proc/self/fd (AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH). */
static int tmp_link(int dir_fd, const struct tmp_file *t, const char *name)
{
        char proc[48];

        if (t->name[0])
                return linkat(dir_fd, t->name, dir_fd, name, 0) < 0 ? -errno : 0;
        (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
        return linkat(AT_FDCWD, proc, dir_fd, name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

/* Whether @size bytes fit in the file system of @fd: what it has free for
 * this user (f_bavail, statvfs(3)). A manifest that claims more is refused
 * before a byte is fetched, so a broken server fills no disk. */
static int check_space(const char *cmd, const char *label, int fd, uint64_t size, const char *where)
{
        struct statvfs st;
        uint64_t avail;
        char need[32], free_text[32];

        if (fstatvfs(fd, &st) < 0) {
                cli_error(cmd, "%s: cannot tell the free space%s: %s", label, where,
                          strerror(errno));
                return CLI_EXIT_IO;
        }
        if (__builtin_mul_overflow((uint64_t) st.f_bavail, (uint64_t) st.f_frsize, &avail))
                avail = UINT64_MAX;
        if (size <= avail)
                return 0;
        cli_human_bytes(size, need, sizeof(need));
        cli_human_bytes(avail, free_text, sizeof(free_text));
        cli_error(cmd, "%s: %s does not fit%s (%s free); nothing fetched", label, need, where,
                  free_text);
        return CLI_EXIT_IO;
}

/* The end of a download into @t, whose outcome so far is @r: when 0, the
 * file gets @name; a named temporary goes either way. Returns @r, or the
 * exit status of what failed here. */
static int tmp_finish(const char *cmd, const char *label, const char *where, int dir_fd,
                      struct tmp_file *t, const char *name, int r)
{
        /* A named file is closed first: NFS reports a failed write at close. */
        if (t->name[0] && close(TAKE_FD(t->fd)) < 0 && r == 0) {
                cli_error(cmd, "%s: cannot write%s: %s", label, where, strerror(errno));
                r = CLI_EXIT_IO;
        }
        if (r == 0) {
                int l = tmp_link(dir_fd, t, name);

                if (l < 0)
                        r = local_error(cmd, label, where, -l);
        }
        if (t->fd >= 0 && close(TAKE_FD(t->fd)) < 0 && r == 0) {
                cli_error(cmd, "%s: cannot write%s: %s", label, where, strerror(errno));
                (void) unlinkat(dir_fd, name, 0);
                r = CLI_EXIT_IO;
        }
        if (t->name[0])
                (void) unlinkat(dir_fd, t->name, 0);
        return r;
}

/*
 * Fetch @e into the new file @name in @dir_fd. It is written to a file no
 * one sees under @name (tmp_open) and given that name only once its size
 * and SHA-256 match the manifest: an unverified file is never seen under
 * its final name, and one that fails leaves nothing, interrupted or not.
 */
static int fetch_at(struct cli_client *c, const char *id, const json_t *e, int dir_fd,
                    const char *name, const char *label, const char *where)
{
        const char *cmd = cli_client_cmd(c);
        struct tmp_file t;
        struct stat st;
        int r;

        /* Before the transfer rather than after it; linkat refuses it too. */
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                return local_error(cmd, label, where, EEXIST);
        r = tmp_open(dir_fd, &t);
        if (r < 0)
                return local_error(cmd, label, where, -r);
        r = check_space(cmd, label, t.fd, (uint64_t) json_integer_value(json_object_get(e, "size")),
                        where);
        if (r == 0)
                r = cli_artifact_fetch_fd(c, id, e, t.fd, false);
        return tmp_finish(cmd, label, where, dir_fd, &t, name, r);
}

/* Fetch @e to its path beneath @dir_fd. */
static int fetch_into(struct cli_client *c, const char *id, const json_t *e, int dir_fd,
                      const char *dir)
{
        cleanup_free char *label = artifact_label(e);
        cleanup_free char *path = strdup(json_string_value(json_object_get(e, "path")));
        cleanup_free char *where = NULL;
        cleanup_close int parent = -1;
        const char *name = NULL;

        if (!label || !path || asprintf(&where, " in %s", dir) < 0) {
                cli_error(cli_client_cmd(c), "out of memory");
                return CLI_EXIT_IO;
        }
        parent = parent_dir(dir_fd, path, &name);
        if (parent < 0)
                return local_error(cli_client_cmd(c), label, where, -parent);
        return fetch_at(c, id, e, parent, name, label, where);
}

int cli_artifact_fetch_file(struct cli_client *c, const char *id, const json_t *e, const char *file)
{
        cleanup_free char *copy = strdup(file);
        cleanup_close int dir_fd = -1;
        char *slash = copy ? strrchr(copy, '/') : NULL;
        const char *dir = ".", *name = copy;

        if (!copy) {
                cli_error(cli_client_cmd(c), "out of memory");
                return CLI_EXIT_IO;
        }
        if (slash) {
                *slash = '\0';
                dir = slash == copy ? "/" : copy;
                name = slash + 1;
        }
        if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
                cli_error(cli_client_cmd(c), "-o: expected a file name");
                return CLI_EXIT_USAGE;
        }
        /* The path the caller named is theirs to hold symlinks. */
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0) {
                cli_error(cli_client_cmd(c), "-o: cannot open its directory: %s", strerror(errno));
                return CLI_EXIT_IO;
        }
        return fetch_at(c, id, e, dir_fd, name, "-o", "");
}

static void print_fetched(const json_t *e, bool colour)
{
        cleanup_free char *name = cli_escape(json_string_value(json_object_get(e, "path")));
        char size[32];

        cli_human_bytes((uint64_t) json_integer_value(json_object_get(e, "size")), size,
                        sizeof(size));
        printf("%s  %s (%s, SHA-256 %sverified%s)\n", name ? name : "?", size,
               cli_token(json_string_value(json_object_get(e, "type"))) ?: "?",
               cli_sgr(colour, CLI_GREEN), cli_sgr(colour, CLI_PLAIN));
}

static int vcs_refused(const char *cmd, const json_t *e)
{
        cleanup_free char *label = artifact_label(e);

        cli_error(cmd,
                  "%s: a repository in the path (.git, .hg, .jj, ..., a bare repository's "
                  "HEAD) would make the download one whose configuration runs commands the "
                  "job chose wherever its tool is used in it; refused",
                  label ? label : "artifact");
        return CLI_EXIT_VERIFY;
}

int cli_artifacts_fetch_all(struct cli_client *c, const char *id, const json_t *manifest,
                            const char *dir, bool quiet)
{
        const char *cmd = cli_client_cmd(c);
        cleanup_close int dir_fd = cli_out_dir_open(cmd, "-o", dir, true);
        bool colour = cli_colour(STDOUT_FILENO);
        uint64_t files = 0, bytes = 0;
        int status = 0, r;
        const json_t *e;
        size_t i;

        if (dir_fd < 0)
                return CLI_EXIT_IO;
        json_array_foreach(manifest, i, e)
        {
                if (!cli_artifact_taken(e))
                        continue;
                /* cordond refuses such names (bad_name); an older one took
                 * them. Before the general check, which refuses them too,
                 * to say why. */
                if (!cli_artifact_inert(manifest, e)) {
                        r = vcs_refused(cmd, e);
                } else if (!cli_artifact_safe(e)) {
                        cli_error(cmd,
                                  "artifact %zu: the manifest names a path outside the "
                                  "directory or an unsafe name; refused",
                                  i + 1);
                        r = CLI_EXIT_VERIFY;
                } else {
                        r = fetch_into(c, id, e, dir_fd, dir);
                }
                if (r == CLI_EXIT_UNREACHABLE || r == CLI_EXIT_INTERRUPTED)
                        return r;
                if (r != 0 && status == 0)
                        status = r;
                if (r == 0) {
                        files++;
                        bytes += (uint64_t) json_integer_value(json_object_get(e, "size"));
                        if (!quiet)
                                print_fetched(e, colour);
                }
        }
        if (!quiet) {
                char size[32];

                cli_human_bytes(bytes, size, sizeof(size));
                printf("%llu artifact%s, %s, in %s\n", (unsigned long long) files,
                       files == 1 ? "" : "s", size, dir);
        }
        (void) fflush(stdout);
        return status;
}

int cli_artifacts_manifest(struct cli_client *c, const char *id, json_t **ret)
{
        cleanup_free char *path = NULL;
        char what[96];
        json_t *j = NULL, *m;
        int r;

        (void) snprintf(what, sizeof(what), "job %s", id);
        if (asprintf(&path, "/v1/jobs/%s/artifacts", id) < 0) {
                cli_error(cli_client_cmd(c), "out of memory");
                return CLI_EXIT_IO;
        }
        r = cli_call(c, "GET", path, what, 0, &j);
        if (r != 0)
                return r;
        m = json_object_get(j, "artifacts");
        if (!json_is_array(m)) {
                json_decref(j);
                cli_error(cli_client_cmd(c), "cordond's manifest is not a list");
                return CLI_EXIT_SERVER;
        }
        *ret = json_incref(m);
        json_decref(j);
        return 0;
}
