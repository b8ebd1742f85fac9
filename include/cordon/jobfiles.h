/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The files of cordond's jobs under <state_dir>/jobs/<id>/: inputs/ (what
 * the client uploaded, until the job finishes), stdout, stderr, artifacts/
 * (what the collector took) and manifest.json. Only cordond (root) writes
 * there; directories are 0700, files 0600, everything is created and
 * opened without following a symlink. An upload is staged in <id>.partial/ and renamed
 * into place only once complete and fsync'd.
 */

#include <stdbool.h>
#include <stdint.h>

#include "cordon/err.h"

struct cd_jobfiles {
        int state_fd; /* <state_dir> */
        int jobs_fd;  /* <state_dir>/jobs */
};

/* Open (creating, mode 0700, last component only) @state_dir and its jobs/.
 * @state_dir must not be a symlink, must be owned by root and not writable
 * by group or others. Returns 0 or -errno with @err. */
int cd_jobfiles_open(const char *state_dir, struct cd_jobfiles *ret, struct cd_err *err);
void cd_jobfiles_close(struct cd_jobfiles *jf);

/* Create jobs/<id>.partial/ and its inputs/; returns both fds. */
int cd_jobfiles_stage(const struct cd_jobfiles *jf, const char *id, int *ret_dir_fd,
                      int *ret_inputs_fd, struct cd_err *err);

/* fsync the staged tree, rename it to jobs/<id> and fsync jobs/. */
int cd_jobfiles_commit(const struct cd_jobfiles *jf, const char *id, int dir_fd, int inputs_fd,
                       struct cd_err *err);

/* The state directory's file system, as an unprivileged user may use it
 * (f_bavail, f_favail: root's own reserve is not counted). */
struct cd_fs_space {
        uint64_t free_bytes;
        uint64_t size_bytes;
        uint64_t free_inodes;
        uint64_t inodes; /* 0: the file system has no fixed number of inodes */
};

/* Returns 0 or -errno with @err. */
int cd_jobfiles_space(const struct cd_jobfiles *jf, struct cd_fs_space *ret, struct cd_err *err);

/* The disk bytes one inode stands for (size / inodes: what mkfs gave each
 * inode), so that a byte quota also bounds a share of the inodes. 0 when
 * the file system has no fixed number of inodes. */
uint64_t cd_fs_space_inode_bytes(const struct cd_fs_space *sp);

/* What a tree takes on disk: allocated blocks (st_blocks, so block
 * rounding, directories and sparse files count as the disk holds them)
 * and inodes, the directory itself included. */
struct cd_disk_use {
        uint64_t bytes;
        uint64_t inodes;
};

/* Measure the tree under @dir_fd, skipping its top-level entry @skip
 * (NULL: none). Entries are never followed. Returns 0 or -errno with @err. */
int cd_jobfiles_usage(int dir_fd, const char *skip, struct cd_disk_use *ret, struct cd_err *err);

/* Open jobs/<id> (a directory, no symlink). Returns the fd or -errno. */
int cd_jobfiles_open_job(const struct cd_jobfiles *jf, const char *id);

/* Remove jobs/<id> and jobs/<id>.partial with everything in them, never
 * following a symlink. Missing is not an error. Returns 0 or -errno. */
int cd_jobfiles_remove(const struct cd_jobfiles *jf, const char *id, struct cd_err *err);

/* Remove jobs/<id>/inputs once the job has finished: nothing serves them
 * afterwards, and they are the client's data. Missing is not an error.
 * Returns 0 or -errno with @err. */
int cd_jobfiles_drop_inputs(const struct cd_jobfiles *jf, const char *id, struct cd_err *err);

/* Remove jobs/<id>/artifacts, for a job whose collection a stop cut short:
 * no manifest lists what it holds, so nothing could serve it. Missing is
 * not an error. Returns 0 or -errno with @err. */
int cd_jobfiles_drop_artifacts(const struct cd_jobfiles *jf, const char *id, struct cd_err *err);

/* Startup: remove every jobs/ entry that is a *.partial (an upload cut
 * short by a crash) or whose id @known() does not know (a job deleted
 * while its files were being removed). An entry that cannot be removed is
 * counted in *@ret_failed (which the caller zeroes), the first one's
 * reason put in @err, and the sweep goes on. Returns the number removed,
 * or -errno when jobs/ cannot be read. */
int cd_jobfiles_sweep(const struct cd_jobfiles *jf, bool (*known)(const char *id, void *data),
                      void *data, unsigned int *ret_failed, struct cd_err *err);

/* True if @id is CD_JOB_ID_LEN lowercase hex digits. */
bool cd_job_id_is_valid(const char *id);
