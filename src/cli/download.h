/* SPDX-License-Identifier: MIT */
/* Fetching artifacts, each checked against the manifest's SHA-256. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "client.h"

/*
 * True if manifest entry @e was taken (it has a sha256) and its path is
 * safe to create beneath a directory: relative, components that are
 * acceptable names (no "", ".", "..", '/', controls; cordon/artifacts.h),
 * a 64-digit hex sha256 and a size.
 */
bool cli_artifact_taken(const json_t *e);
bool cli_artifact_safe(const json_t *e);

/*
 * False if a component of @e's path names a version control directory
 * (cd_name_is_repository(): .git, .hg, .jj..., in any case), or if @e is a
 * HEAD that the other paths of @manifest make a bare repository's
 * (cd_names_are_repository()): created beneath a directory, it would make
 * that a repository whose configuration runs commands the job chose.
 */
bool cli_artifact_inert(const json_t *manifest, const json_t *e);

/*
 * Fetch artifact @e of job @id into @out_fd (a file the caller created, or
 * stdout; @escape shows control characters as ^X for a terminal), hashing
 * as it arrives. Returns 0 when the bytes match the manifest's size and
 * SHA-256 (and the ETag), CLI_EXIT_VERIFY when not, or another exit status.
 */
int cli_artifact_fetch_fd(struct cli_client *c, const char *id, const json_t *e, int out_fd,
                          bool escape);

/*
 * Fetch artifact @e of job @id into the new file @file (-o FILE) as
 * cli_artifacts_fetch_all does each: refused when there is no room for
 * its manifest size, never seen under @file before it is verified, never
 * overwriting. Returns 0 or an exit status, after saying why.
 */
int cli_artifact_fetch_file(struct cli_client *c, const char *id, const json_t *e,
                            const char *file);

/*
 * Fetch every taken artifact of @manifest (an array) into directory @dir
 * (cli_out_dir_open() with "-o", @dir itself may be a symlink), under
 * their manifest paths. Subdirectories are made with mkdirat beneath an
 * fd of @dir and opened with O_NOFOLLOW, so a name that would leave @dir,
 * or a symlink already there, is refused. Each file is written unnamed
 * (O_TMPFILE) and linked under its name (linkat, which never replaces
 * anything) once verified. Carries on past a failed file; returns 0 or
 * the first failure's exit status. Prints a line per file unless @quiet.
 */
int cli_artifacts_fetch_all(struct cli_client *c, const char *id, const json_t *manifest,
                            const char *dir, bool quiet);

/* GET /v1/jobs/ID/artifacts: the manifest array into *@ret (caller owns). */
int cli_artifacts_manifest(struct cli_client *c, const char *id, json_t **ret);
