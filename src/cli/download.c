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
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cordon/artifacts.h"
#include "cordon/cleanup.h"
#include "cordon/crypto.h"
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

static int local_error(const char *cmd, const char *label, const char *dir, int err)
{
        if (err == ELOOP) {
                cli_error(cmd, "%s: a symlink or non-directory in the way in %s; refused", label,
                          dir);
                return CLI_EXIT_VERIFY;
        }
        if (err == EEXIST) {
                cli_error(cmd, "%s: already exists in %s; not overwritten", label, dir);
                return CLI_EXIT_IO;
        }
        cli_error(cmd, "%s: cannot create it in %s: %s", label, dir, strerror(err));
        return CLI_EXIT_IO;
}

/* Fetch @e to its path beneath @dir_fd; on any failure, remove the file. */
static int fetch_into(struct cli_client *c, const char *id, const json_t *e, int dir_fd,
                      const char *dir)
{
        cleanup_free char *label = artifact_label(e);
        cleanup_free char *path = strdup(json_string_value(json_object_get(e, "path")));
        cleanup_close int parent = -1;
        const char *name = NULL;
        int fd, r;

        if (!label || !path) {
                cli_error(cli_client_cmd(c), "out of memory");
                return CLI_EXIT_IO;
        }
        parent = parent_dir(dir_fd, path, &name);
        if (parent < 0)
                return local_error(cli_client_cmd(c), label, dir, -parent);
        /* Owner only: artifacts are the job's output (PHI, often). */
        fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return local_error(cli_client_cmd(c), label, dir, errno);
        r = cli_artifact_fetch_fd(c, id, e, fd, false);
        if (close(fd) < 0 && r == 0) {
                cli_error(cli_client_cmd(c), "%s: cannot write: %s", label, strerror(errno));
                r = CLI_EXIT_IO;
        }
        if (r != 0)
                (void) unlinkat(parent, name, 0);
        return r;
}

int cli_out_dir_open(const char *cmd, const char *dir)
{
        int fd, r;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                cli_error(cmd, "-o: cannot create the directory: %s", strerror(errno));
                return -CLI_EXIT_IO;
        }
        /* The directory the caller named is theirs to be a symlink; what is
         * made beneath it is opened without following any. */
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                cli_error(cmd, "-o: not a directory: %s", strerror(errno));
                return -CLI_EXIT_IO;
        }
        r = cli_dir_empty(fd);
        if (r != 1) {
                if (r < 0)
                        cli_error(cmd, "-o: cannot read the directory: %s", strerror(-r));
                else
                        cli_error(cmd, "-o: the directory must be empty (or not exist yet)");
                (void) cd_close(fd);
                return -CLI_EXIT_IO;
        }
        return fd;
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

int cli_artifacts_fetch_all(struct cli_client *c, const char *id, const json_t *manifest,
                            const char *dir, bool quiet)
{
        const char *cmd = cli_client_cmd(c);
        cleanup_close int dir_fd = cli_out_dir_open(cmd, dir);
        bool colour = cli_colour(STDOUT_FILENO);
        uint64_t files = 0, bytes = 0;
        int status = 0, r;
        const json_t *e;
        size_t i;

        if (dir_fd < 0)
                return -dir_fd;
        json_array_foreach(manifest, i, e)
        {
                if (!cli_artifact_taken(e))
                        continue;
                if (!cli_artifact_safe(e)) {
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
