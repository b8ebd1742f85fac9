/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the bytes of an audit log, checked by cd_audit_verify.
 *
 * The first input byte picks how the rest is used:
 *   0  the bytes are one file, verified alone;
 *   1  the bytes are <dir>/audit.jsonl, the directory verified;
 *   2  as 0, but each line's "prev" value is first rewritten to the SHA-256
 *      of the line before, so that the fuzzer gets past the hashes to the
 *      seq, shape and rotation rules;
 *   3  the bytes are (offset, byte) pairs applied to a valid six-record log
 *      written by cd_audit_append at start-up (tampering, byte by byte).
 *
 * Besides the sanitizers, it abort()s when an invariant breaks:
 * - verify never fails to read a readable file;
 * - a refusal names a file and says what is wrong;
 * - when verify says ok, the file really chains: rechecked here without the
 *   module's code (line split, jansson, libcrypto): complete lines, seq +1,
 *   each prev the hash of the line before, a genesis or audit.rotated start,
 *   and the reported count, seqs and last hash;
 * - the untouched start-up log verifies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cordon/audit.h"

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base_dir[] = "/tmp/cordon-fuzz-audit.XXXXXX";
static char file_path[64], dir_path[64], dir_log[80], seed_dir[64];
static char *seed;
static size_t seed_len;

static void remove_tmp(void)
{
        static const char *const files[] = { "log.jsonl",           "dir/" CD_AUDIT_FILE, "dir",
                                             "seed/" CD_AUDIT_FILE, "seed/audit.lock",    "seed" };
        char path[sizeof(base_dir) + 32];

        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                (void) snprintf(path, sizeof(path), "%s/%s", base_dir, files[i]);
                (void) remove(path);
        }
        (void) rmdir(base_dir);
}

#define FUZZ_TARGET  "fuzz_audit_line"
#define FUZZ_ON_FAIL remove_tmp
#include "fuzz-check.h"

static void sha_hex(const char *s, size_t len, char out[CD_AUDIT_HASH_HEX])
{
        static const char hex[] = "0123456789abcdef";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        CHECK(EVP_Digest(s, len, md, &n, EVP_sha256(), NULL) == 1 && n == 32, "EVP_Digest");
        for (unsigned int i = 0; i < n; i++) {
                out[2 * i] = hex[md[i] >> 4];
                out[2 * i + 1] = hex[md[i] & 15];
        }
        out[64] = '\0';
}

static void write_file(const char *path, const void *data, size_t len)
{
        FILE *f = fopen(path, "we");

        CHECK(f, "fopen %s: %s", path, strerror(errno));
        CHECK(len == 0 || fwrite(data, 1, len, f) == len, "fwrite %s", path);
        CHECK(fclose(f) == 0, "fclose %s", path);
}

static char *read_file(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t cap = 0, len = 0, n;

        CHECK(f, "fopen %s", path);
        do {
                if (len == cap) {
                        cap = cap ? 2 * cap : 4096;
                        buf = realloc(buf, cap);
                        CHECK(buf, "out of memory");
                }
                n = fread(buf + len, 1, cap - len, f);
                len += n;
        } while (n > 0);
        (void) fclose(f);
        *ret_len = len;
        return buf;
}

/* Mode 2: overwrite each '"prev":"' + 64 bytes with the hash of the line before. */
static void fix_prevs(char *buf, size_t len)
{
        static const char key[] = "\"prev\":\"";
        char hash[CD_AUDIT_HASH_HEX];
        char *line = buf, *prev_line = NULL;

        while (line < buf + len) {
                char *nl = memchr(line, '\n', (size_t) (buf + len - line));
                char *end = nl ? nl : buf + len;
                char *p = memmem(line, (size_t) (end - line), key, sizeof(key) - 1);

                if (p && end - (p + sizeof(key) - 1) >= 64) {
                        if (prev_line)
                                sha_hex(prev_line, (size_t) (line - 1 - prev_line), hash);
                        memcpy(p + sizeof(key) - 1, prev_line ? hash : ZEROS, 64);
                }
                if (!nl)
                        break;
                prev_line = line;
                line = nl + 1;
        }
}

/* The independent re-check of a log that verify called ok. */
static void recheck(const char *buf, size_t len, const struct cd_audit_report *rep)
{
        char hash[CD_AUDIT_HASH_HEX], prev_hash[CD_AUDIT_HASH_HEX];
        uint64_t n = 0, prev_seq = 0;
        const char *line = buf;

        CHECK(len == 0 || buf[len - 1] == '\n', "ok, but the last line is incomplete");
        while (line < buf + len) {
                const char *nl = memchr(line, '\n', (size_t) (buf + len - line));
                json_t *rec = json_loadb(line, (size_t) (nl - line), JSON_REJECT_DUPLICATES, NULL);
                json_t *jseq = json_object_get(rec, "seq");
                const char *prev = json_string_value(json_object_get(rec, "prev"));
                const char *event = json_string_value(json_object_get(rec, "event"));
                uint64_t seq;

                CHECK(rec && json_is_object(rec) && json_object_size(rec) == 9,
                      "ok, but line %" PRIu64 " is not a 9-field object", n + 1);
                CHECK(json_is_integer(jseq) && prev && event,
                      "ok, but line %" PRIu64 " lacks seq, prev or event", n + 1);
                seq = (uint64_t) json_integer_value(jseq);
                if (n == 0) {
                        CHECK((seq == 1 && strcmp(prev, ZEROS) == 0) ||
                                      (strcmp(event, "audit.rotated") == 0 && rep->start_note[0]),
                              "ok, but the first record neither starts the chain nor says why");
                } else {
                        CHECK(seq == prev_seq + 1, "ok, but seq %" PRIu64 " follows %" PRIu64, seq,
                              prev_seq);
                        CHECK(strcmp(prev, prev_hash) == 0,
                              "ok, but record %" PRIu64 "'s prev is not the hash before", seq);
                }
                sha_hex(line, (size_t) (nl - line), hash);
                memcpy(prev_hash, hash, sizeof(hash));
                prev_seq = seq;
                n++;
                json_decref(rec);
                line = nl + 1;
        }
        CHECK(rep->records == n, "ok with %" PRIu64 " records, the file has %" PRIu64, rep->records,
              n);
        if (n > 0)
                CHECK(rep->last_seq == prev_seq && strcmp(rep->last_hash, prev_hash) == 0,
                      "ok, but the reported last seq or hash is not the file's");
}

static void check_report(int r, const struct cd_audit_report *rep, const struct cd_err *err)
{
        CHECK(r == 0, "verify could not read a readable log: %s", err->msg);
        if (!rep->ok)
                CHECK(rep->problem[0] && rep->bad_file[0], "a refusal without a file or problem");
}

static void make_seed(void)
{
        struct cd_audit *a = NULL;
        struct cd_err err = { 0 };
        char path[96];

        CHECK(cd_audit_open(seed_dir, NULL, &a, &err) == 0, "%s", err.msg);
        for (int i = 0; i < 6; i++) {
                json_t *d = json_pack("{s:i, s:s}", "bytes", i * 512, "sha256", ZEROS);
                struct cd_audit_event e = { .event = i % 2 ? "job.finished" : "job.submitted",
                                            .uid = 1000,
                                            .role = "submit",
                                            .job = "5f0c2a9e",
                                            .profile = "python",
                                            .verdict = i % 2 ? "ok" : NULL,
                                            .details = d };

                CHECK(cd_audit_append(a, &e, &err) == 0, "%s", err.msg);
                json_decref(d);
        }
        (void) cd_audit_close(a);
        (void) snprintf(path, sizeof(path), "%s/" CD_AUDIT_FILE, seed_dir);
        seed = read_file(path, &seed_len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void) argc;
        (void) argv;
        if (!mkdtemp(base_dir)) {
                perror("fuzz_audit_line: mkdtemp");
                exit(1);
        }
        (void) atexit(remove_tmp);
        (void) snprintf(file_path, sizeof(file_path), "%s/log.jsonl", base_dir);
        (void) snprintf(dir_path, sizeof(dir_path), "%s/dir", base_dir);
        (void) snprintf(dir_log, sizeof(dir_log), "%s/" CD_AUDIT_FILE, dir_path);
        (void) snprintf(seed_dir, sizeof(seed_dir), "%s/seed", base_dir);
        CHECK(mkdir(dir_path, 0700) == 0, "mkdir: %s", strerror(errno));
        make_seed();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cd_audit_report rep;
        struct cd_err err = { 0 };
        unsigned int mode;
        const char *path;
        char *buf, *back;
        size_t len, back_len;
        int r;

        if (size == 0)
                return 0;
        mode = data[0] % 4;
        data++;
        size--;
        if (mode == 3) {
                len = seed_len;
                buf = malloc(len);
                CHECK(buf, "out of memory");
                memcpy(buf, seed, len);
                for (size_t i = 0; i + 2 < size; i += 3)
                        buf[((size_t) data[i] << 8 | data[i + 1]) % len] = (char) data[i + 2];
        } else {
                len = size;
                buf = malloc(len ? len : 1);
                CHECK(buf, "out of memory");
                memcpy(buf, data, len);
                if (mode == 2)
                        fix_prevs(buf, len);
        }
        path = mode == 1 ? dir_log : file_path;
        write_file(path, buf, len);
        r = cd_audit_verify(mode == 1 ? dir_path : path, NULL, &rep, &err);
        check_report(r, &rep, &err);
        if (mode == 3 && memcmp(buf, seed, len) == 0)
                CHECK(rep.ok && rep.records == 6, "the untouched log does not verify: %s",
                      rep.problem);
        if (rep.ok) {
                back = read_file(path, &back_len);
                recheck(back, back_len, &rep);
                free(back);
        }
        free(buf);
        return 0;
}
