/* SPDX-License-Identifier: MIT */
#pragma once

#include <pthread.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cordon/err.h"
#include "cordon/plan.h"

/*
 * The artifact collector: the only way anything leaves a sandbox. It walks
 * a finished job's /out through directory fds only (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_XDEV, O_NOFOLLOW | O_NONBLOCK), takes regular files only,
 * reads at most the size fstat() gave, hashes them (SHA-256), sniffs their
 * type (libmagic, in an unprivileged helper process) and copies them into a
 * destination directory, never following a link there either. Every entry
 * it finds is in the manifest: taken, or refused with a reason.
 */

enum cd_refusal {
        CD_TAKEN = 0,
        CD_REFUSED_SYMLINK,
        CD_REFUSED_FIFO,
        CD_REFUSED_DEVICE,
        CD_REFUSED_SOCKET,
        CD_REFUSED_HARDLINK,
        CD_REFUSED_TOO_LARGE,
        CD_REFUSED_TOO_MANY,
        CD_REFUSED_TOO_DEEP,
        CD_REFUSED_BAD_NAME,
        CD_REFUSED_TYPE_NOT_ALLOWED,
        CD_REFUSED_UNREADABLE,
        CD_REFUSED_OUT_OF_TIME, /* the collection's time (artifacts.max_time) was spent */
        CD_REFUSED_CANCELLED,   /* the collection was cancelled (struct cd_collect.cancel_fd) */
        /* The type sniffer hung on the file: no whole answer within
         * CD_SNIFF_TIMEOUT_MS (artifacts/artifacts-internal.h). */
        CD_REFUSED_SNIFF_TIMEOUT,
        /* It died or answered out of protocol on the file, or none could be
         * had for it (CD_SNIFF_RESTARTS replacements at most). */
        CD_REFUSED_SNIFF_FAILED,
        _CD_REFUSAL_MAX,
};

/* "symlink", "too_large", ... (the manifest's reason codes), NULL for CD_TAKEN. */
const char *cd_refusal_to_string(enum cd_refusal r);

struct cd_artifact {
        char *path; /* relative to /out, escaped for display (see cd_name_escape) */
        enum cd_refusal refused;
        uint64_t size;   /* bytes copied (taken files) */
        char sha256[65]; /* hex, taken files */
        char type[128];  /* MIME type, taken files and type_not_allowed */
        /* type_not_allowed by the file's end (its last window, or a ZIP end
         * record there): the type found there, else NULL. */
        char *tail_type;
};

/* Refused entries listed in a manifest; those past it are only counted. */
#define CD_MANIFEST_MAX_REFUSED 256
/* The most files a profile may let a job leave (artifacts.max_files): with
 * the refused entries, every one of them fits a manifest. */
#define CD_ARTIFACTS_MAX_FILES  100000
#define CD_MANIFEST_MAX_ENTRIES (CD_ARTIFACTS_MAX_FILES + CD_MANIFEST_MAX_REFUSED)

struct cd_manifest {
        struct cd_artifact *items;
        size_t n;
        uint64_t files;     /* taken */
        uint64_t bytes;     /* taken */
        uint64_t refused;   /* all refused, listed or not */
        uint64_t over_caps; /* of them, too_large, too_many or out_of_time (an output limit) */
        /* Why the walk stopped examining files: every regular file it
         * reached afterwards was refused for this (out_of_time or
         * cancelled). CD_TAKEN: it did not stop. */
        enum cd_refusal stopped;
};

struct cd_collect {
        const struct cd_artifact_rules *rules;
        uid_t job_uid; /* the job's host uid and gid: /out is read with its rights */
        gid_t job_gid;
        int dest_fd; /* an empty directory to copy into */
        /* Bytes and inodes dest_fd's file system must keep free: a file or
         * directory that would take them is not stored, and the collection
         * fails (ENOSPC). 0: no floor. */
        uint64_t keep_free_bytes;
        uint64_t keep_free_inodes;
        /* The size of the source (/out's limit): no file, and not all of
         * them together, can be larger than that unless it has holes
         * (tmpfs counts blocks), which the copy would fill. A cap on top of
         * the rules' max_file_bytes and max_total_bytes. 0: none. */
        uint64_t src_max_bytes;
        /* Taken exclusively around the sniffer's fork(): the launcher's lock
         * against children inheriting other jobs' writable fds. NULL: none. */
        pthread_rwlock_t *fork_lock;
        /* Becomes readable to cancel the collection (the job's signalfd or
         * eventfd); never read here, so that it stays readable. -1: none. */
        int cancel_fd;
};

/*
 * Collect the tree under @src_fd (the root of a finished job's /out; the
 * job's processes must all be dead) into c->dest_fd. Returns 0 and the
 * manifest in @ret (clear with cd_manifest_clear), or -errno when the
 * collection itself failed (@err says why; what was copied stays).
 * Once c->rules->max_time_ms have passed, or c->cancel_fd is readable, no
 * file is sniffed or copied any more: the rest are listed as out_of_time
 * or cancelled (ret->stopped says which), and no sniffer is awaited past
 * that time or that cancel, neither its answer nor its start (a start cut
 * short so is no failure). A copy under way is finished (at most
 * max_file_bytes), so that a file is stored whole or not at all.
 * Context: parent; forks the type sniffer.
 */
int cd_artifacts_collect(int src_fd, const struct cd_collect *c, struct cd_manifest *ret,
                         struct cd_err *err);

void cd_manifest_clear(struct cd_manifest *m);

/* The manifest as a JSON array (caller owns the reference), NULL on ENOMEM. */
struct json_t *cd_manifest_to_json(const struct cd_manifest *m);

/*
 * True if @name (one path component, raw bytes) may leave: valid UTF-8 of
 * at most @max_bytes, no control, C1, bidirectional or invisible character
 * (formatting, tags, variation selectors, fillers, spaces other than
 * U+0020: names.c), no '/' or '\\', not "." or "..", not starting with '-',
 * not a version control directory's name, nor one Windows or a
 * case-folding file system takes for it (cd_name_is_repository(): a
 * repository's configuration runs commands wherever its tool is used in
 * the tree it lands in).
 */
bool cd_name_is_acceptable(const char *name, uint64_t max_bytes);

/* True if @name, in any case, is what a version control tool takes for a
 * repository (.git, .hg, .sl, .jj, .pijul, _darcs, .fslckout, _FOSSIL_,
 * .bzr), which cd_name_is_acceptable() refuses (names.c says why); also
 * if it is one after a ':' and what follows is cut, trailing '.' and ' '
 * are dropped and the code points Unicode case folding makes ASCII
 * (U+017F long s, U+212A Kelvin sign, U+00DF sharp s...) are folded
 * (".git. ", ".git::$INDEX_ALLOCATION", "_darc\u017f"), or if it is shaped
 * like an 8.3 short name (1 to 6 characters other than '.' and '~', '~',
 * 1 to 6 digits: "GIT~1", "report~1"), which may be a repository's alias
 * on Windows. Any context. */
bool cd_name_is_repository(const char *name);

/* True if @name is @ascii as Windows or a case-folding file system may
 * take it: folded as cd_name_is_repository() folds ("HEAD.", "refs:x",
 * "object\u017f" for "objects"), then compared in any case. */
bool cd_name_folds_to(const char *name, const char *ascii);

/* True if @names (the entries of one directory, NULL-terminated) are what
 * git takes for a repository without a .git, folded (cd_name_folds_to()):
 * HEAD beside objects and refs (a bare repository), or beside commondir (a
 * linked worktree's git directory). The collector then refuses that HEAD
 * (any name that folds to it), without which git sees no repository there
 * (names.c says why). */
bool cd_names_are_repository(char *const *names);

/* @name for display: printable UTF-8 kept, everything else as \xNN.
 * Returns a new string or NULL on ENOMEM. */
char *cd_name_escape(const char *name);
