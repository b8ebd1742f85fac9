/* SPDX-License-Identifier: MIT */
/* Job directories under <state_dir>/jobs (jobfiles.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/jobfiles.h"
#include "cordon/plan.h"
#include "cordon/store.h"

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
/* jobs/<id> is depth 0 and artifacts/ 1, under which the collector makes
 * at most CD_ARTIFACT_MAX_DEPTH levels; inputs/ holds files only. */
#define MAX_DEPTH (CD_ARTIFACT_MAX_DEPTH + 2)
#define PARTIAL   ".partial"

bool cd_job_id_is_valid(const char *id)
{
        if (!id || strlen(id) != CD_JOB_ID_LEN)
                return false;
        return strspn(id, "0123456789abcdef") == CD_JOB_ID_LEN;
}

/* mkdirat + open without following, then check it is ours and private. */
static int open_private_dir(int at, const char *name, struct cd_err *err)
{
        cleanup_close int fd = -1;
        struct stat st;

        if (mkdirat(at, name, 0700) < 0 && errno != EEXIST)
                return cd_err_errno(err, "state: create %s", name);
        fd = openat(at, name, DIR_FLAGS);
        if (fd < 0)
                return cd_err_errno(err, "state: open %s (a symlink is refused)", name);
        if (fstat(fd, &st) < 0)
                return cd_err_errno(err, "state: stat %s", name);
        if (st.st_uid != geteuid() || (st.st_mode & 022))
                return cd_err_set(err, EPERM,
                                  "state: %s must be owned by uid %u and not writable by group "
                                  "or others",
                                  name, (unsigned) geteuid());
        return TAKE_FD(fd);
}

int cd_jobfiles_open(const char *state_dir, struct cd_jobfiles *ret, struct cd_err *err)
{
        cleanup_close int state = open_private_dir(AT_FDCWD, state_dir, err);
        int jobs;

        if (state < 0)
                return state;
        jobs = open_private_dir(state, "jobs", err);
        if (jobs < 0)
                return jobs;
        *ret = (struct cd_jobfiles){ .state_fd = TAKE_FD(state), .jobs_fd = jobs };
        return 0;
}

void cd_jobfiles_close(struct cd_jobfiles *jf)
{
        jf->state_fd = cd_close(jf->state_fd);
        jf->jobs_fd = cd_close(jf->jobs_fd);
}

int cd_jobfiles_stage(const struct cd_jobfiles *jf, const char *id, int *ret_dir_fd,
                      int *ret_inputs_fd, struct cd_err *err)
{
        cleanup_close int dir = -1;
        char name[CD_JOB_ID_LEN + sizeof(PARTIAL)];
        int inputs;

        if (!cd_job_id_is_valid(id))
                return cd_err_set(err, EINVAL, "state: invalid job id");
        (void) snprintf(name, sizeof(name), "%s%s", id, PARTIAL);
        if (mkdirat(jf->jobs_fd, name, 0700) < 0)
                return cd_err_errno(err, "state: job %s: create its directory", id);
        dir = openat(jf->jobs_fd, name, DIR_FLAGS);
        if (dir < 0)
                return cd_err_errno(err, "state: job %s: open its directory", id);
        if (mkdirat(dir, "inputs", 0700) < 0)
                return cd_err_errno(err, "state: job %s: create inputs/", id);
        inputs = openat(dir, "inputs", DIR_FLAGS);
        if (inputs < 0)
                return cd_err_errno(err, "state: job %s: open inputs/", id);
        *ret_dir_fd = TAKE_FD(dir);
        *ret_inputs_fd = inputs;
        return 0;
}

int cd_jobfiles_commit(const struct cd_jobfiles *jf, const char *id, int dir_fd, int inputs_fd,
                       struct cd_err *err)
{
        char name[CD_JOB_ID_LEN + sizeof(PARTIAL)];

        (void) snprintf(name, sizeof(name), "%s%s", id, PARTIAL);
        /* The files were fsync'd as they were closed; now their names. */
        if (fsync(inputs_fd) < 0 || fsync(dir_fd) < 0)
                return cd_err_errno(err, "state: job %s: fsync inputs", id);
        if (renameat(jf->jobs_fd, name, jf->jobs_fd, id) < 0)
                return cd_err_errno(err, "state: job %s: rename into place", id);
        if (fsync(jf->jobs_fd) < 0)
                return cd_err_errno(err, "state: job %s: fsync jobs/", id);
        return 0;
}

static uint64_t blocks_bytes(uint64_t blocks, uint64_t block_size)
{
        uint64_t n;

        return __builtin_mul_overflow(blocks, block_size, &n) ? UINT64_MAX : n;
}

int cd_jobfiles_space(const struct cd_jobfiles *jf, struct cd_fs_space *ret, struct cd_err *err)
{
        struct statvfs st;

        if (fstatvfs(jf->state_fd, &st) < 0)
                return cd_err_errno(err, "state directory: statvfs");
        *ret = (struct cd_fs_space){ .free_bytes = blocks_bytes(st.f_bavail, st.f_frsize),
                                     .size_bytes = blocks_bytes(st.f_blocks, st.f_frsize),
                                     .free_inodes = st.f_favail,
                                     .inodes = st.f_files };
        return 0;
}

uint64_t cd_fs_space_inode_bytes(const struct cd_fs_space *sp)
{
        return sp->inodes ? sp->size_bytes / sp->inodes : 0;
}

static void use_add(struct cd_disk_use *u, const struct stat *st)
{
        u->bytes += blocks_bytes((uint64_t) st->st_blocks, 512);
        u->inodes++;
}

/* Add what the entries of directory @at/@name take; entries are never
 * followed. */
static int use_of_dir(int at, const char *name, const char *skip, unsigned int depth,
                      struct cd_disk_use *u)
{
        struct dirent *de;
        DIR *d;
        int fd, r = 0;

        if (depth > MAX_DEPTH)
                return -ELOOP;
        fd = openat(at, name, DIR_FLAGS);
        d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                r = -errno;
                (void) cd_close(fd);
                return r;
        }
        while (r == 0 && (errno = 0, de = readdir(d))) {
                struct stat st;

                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
                    (skip && !strcmp(de->d_name, skip)))
                        continue;
                if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
                use_add(u, &st);
                if (S_ISDIR(st.st_mode))
                        r = use_of_dir(fd, de->d_name, NULL, depth + 1, u);
        }
        if (r == 0 && errno != 0)
                r = -errno;
        (void) closedir(d);
        return r;
}

int cd_jobfiles_usage(int dir_fd, const char *skip, struct cd_disk_use *ret, struct cd_err *err)
{
        struct stat st;
        int r;

        *ret = (struct cd_disk_use){ 0 };
        if (fstat(dir_fd, &st) < 0)
                return cd_err_errno(err, "state: stat a job's directory");
        use_add(ret, &st);
        /* "." for a description of its own: @dir_fd's offset stays. */
        r = use_of_dir(dir_fd, ".", skip, 0, ret);
        if (r < 0)
                return cd_err_neg(err, r, "state: measure a job's files");
        return 0;
}

int cd_jobfiles_open_job(const struct cd_jobfiles *jf, const char *id)
{
        int fd;

        if (!cd_job_id_is_valid(id))
                return -EINVAL;
        fd = openat(jf->jobs_fd, id, DIR_FLAGS);
        return fd < 0 ? -errno : fd;
}

static int remove_tree(int at, const char *name, unsigned int depth);

/* Empty the directory @fd; entries are never followed. An entry gone
 * meanwhile is fine: a job's inputs are removed by its worker (or a
 * cancel) while a delete of the job may be removing the same tree. */
static int empty_dir(int fd, unsigned int depth)
{
        int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
        struct dirent *de;
        int r = 0;

        if (!d) {
                r = -errno;
                (void) cd_close(dup_fd);
                return r;
        }
        while ((errno = 0, de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (unlinkat(fd, de->d_name, 0) == 0 || errno == ENOENT)
                        continue;
                if (errno == EISDIR)
                        r = remove_tree(fd, de->d_name, depth + 1);
                else
                        r = -errno;
                if (r < 0)
                        break;
        }
        if (r == 0 && errno != 0)
                r = -errno;
        (void) closedir(d);
        return r;
}

static int remove_tree(int at, const char *name, unsigned int depth)
{
        cleanup_close int fd = -1;
        int r;

        if (depth > MAX_DEPTH)
                return -ELOOP;
        fd = openat(at, name, DIR_FLAGS);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        r = empty_dir(fd, depth);
        if (r < 0)
                return r;
        if (unlinkat(at, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int cd_jobfiles_remove(const struct cd_jobfiles *jf, const char *id, struct cd_err *err)
{
        char name[CD_JOB_ID_LEN + sizeof(PARTIAL)];
        int r;

        if (!cd_job_id_is_valid(id))
                return cd_err_set(err, EINVAL, "state: invalid job id");
        /* Tests: a removal that takes 5 s (a large job's files). */
        for (int i = 0; i < 50 && cd_fault("remove_slow"); i++)
                (void) usleep(100000);
        if (cd_fault("remove_files"))
                return cd_err_set(err, CD_E_FAULT,
                                  "state: job %s: remove its files: injected fault", id);
        r = remove_tree(jf->jobs_fd, id, 0);
        if (r < 0)
                return cd_err_neg(err, r, "state: job %s: remove its files", id);
        (void) snprintf(name, sizeof(name), "%s%s", id, PARTIAL);
        r = remove_tree(jf->jobs_fd, name, 0);
        if (r < 0)
                return cd_err_neg(err, r, "state: job %s: remove its partial upload", id);
        if (fsync(jf->jobs_fd) < 0)
                return cd_err_errno(err, "state: fsync jobs/");
        return 0;
}

/* Remove jobs/<id>/@name and everything in it. */
static int drop_subdir(const struct cd_jobfiles *jf, const char *id, const char *name,
                       struct cd_err *err)
{
        cleanup_close int dir = -1;
        int r;

        if (!cd_job_id_is_valid(id))
                return cd_err_set(err, EINVAL, "state: invalid job id");
        dir = cd_jobfiles_open_job(jf, id);
        if (dir == -ENOENT)
                return 0; /* deleted meanwhile */
        if (dir < 0)
                return cd_err_neg(err, dir, "state: job %s: open its directory", id);
        r = remove_tree(dir, name, 1);
        if (r < 0)
                return cd_err_neg(err, r, "state: job %s: remove its %s", id, name);
        return 0;
}

int cd_jobfiles_drop_inputs(const struct cd_jobfiles *jf, const char *id, struct cd_err *err)
{
        return drop_subdir(jf, id, "inputs", err);
}

int cd_jobfiles_drop_artifacts(const struct cd_jobfiles *jf, const char *id, struct cd_err *err)
{
        return drop_subdir(jf, id, "artifacts", err);
}

/* A stale entry: a partial upload, a job the store does not know, or junk. */
static bool is_stale(const char *name, bool (*known)(const char *, void *), void *data)
{
        char id[CD_JOB_ID_LEN + 1];
        size_t len = strlen(name);

        if (len == CD_JOB_ID_LEN + strlen(PARTIAL) && !strcmp(name + CD_JOB_ID_LEN, PARTIAL))
                return true;
        if (len != CD_JOB_ID_LEN)
                return true;
        memcpy(id, name, sizeof(id));
        return !cd_job_id_is_valid(id) || !known(id, data);
}

int cd_jobfiles_sweep(const struct cd_jobfiles *jf, bool (*known)(const char *id, void *data),
                      void *data, unsigned int *ret_failed, struct cd_err *err)
{
        int dup_fd = fcntl(jf->jobs_fd, F_DUPFD_CLOEXEC, 3);
        DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
        struct dirent *de;
        int removed = 0, r = 0;

        if (!d) {
                r = cd_err_errno(err, "state: read jobs/");
                (void) cd_close(dup_fd);
                return r;
        }
        while ((errno = 0, de = readdir(d))) {
                int rr = 0;

                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
                    !is_stale(de->d_name, known, data))
                        continue;
                if (unlinkat(jf->jobs_fd, de->d_name, 0) < 0)
                        rr = errno == EISDIR ? remove_tree(jf->jobs_fd, de->d_name, 0) : -errno;
                /* One entry that will not go does not keep the others. */
                if (rr == 0)
                        removed++;
                else if ((*ret_failed)++ == 0)
                        (void) cd_err_neg(err, rr, "state: remove a stale entry of jobs/");
        }
        if (errno != 0)
                r = cd_err_errno(err, "state: read jobs/");
        (void) closedir(d);
        return r < 0 ? r : removed;
}
