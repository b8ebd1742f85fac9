/* SPDX-License-Identifier: MIT */
/*
 * The launch sequence of docs/architecture.md, one call per step. Every
 * step's state is undone by stop_job(), whatever step failed: a job either
 * runs fully isolated or not at all, and nothing is left behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/util.h"
#include "launcher-internal.h"

/* The default policy (prebuilt), or one with the profile's additions. */
static int job_seccomp(struct cd_job *job, struct cd_err *err)
{
        int r;

        if (!job->plan->seccomp_allow || !job->plan->seccomp_allow[0])
                return 0;
        r = cd_seccomp_build_with(job->plan->seccomp_allow, &job->own_seccomp, err);
        if (r == 0)
                job->sb.seccomp = job->own_seccomp;
        return r;
}

/* Scratch and inputs (the root is built meanwhile: prep.c): written
 * through fds. See fs_lock in launcher-internal.h. */
static int build_filesystems(struct cd_job *job, struct cd_err *err)
{
        int r;

        pthread_rwlock_rdlock(&job->l->fs_lock);
        r = cd_scratch_create(&job->sb, job->slot.uid, job->slot.gid, err);
        if (r == 0)
                r = cd_inputs_copy(&job->sb, job->slot.uid, job->slot.gid, err);
        pthread_rwlock_unlock(&job->l->fs_lock);
        return r;
}

static int clone_sandbox(struct cd_job *job, struct cd_err *err)
{
        cleanup_close int netns = -1;
        int r;

        r = cd_prep_take_root(job->prep, &job->sb, err);
        if (r == 0)
                r = cd_netns_make_finish(cd_prep_netns(job->prep), &netns, err);
        if (r < 0)
                return r;
        pthread_rwlock_wrlock(&job->l->fs_lock);
        r = cd_clone_sandbox(&job->sb, &job->cg, job->slot.uid, netns, &job->child, err);
        pthread_rwlock_unlock(&job->l->fs_lock);
        return r;
}

/* Cancelled, or out of wall time, while the sandbox was built (a long
 * input copy, a wait for the fs_lock): the job is not let go, and
 * cd_supervise() stops it at once. */
static bool hold_back(const struct cd_job *job)
{
        struct pollfd p = { .fd = job->io->cancel_fd, .events = POLLIN };

        if (cd_now_ms() >= job->start_ms + job->plan->limits.wall_timeout_ms)
                return true;
        return p.fd >= 0 && poll(&p, 1, 0) > 0;
}

/* The network namespace and the root, from cd_launcher_prepare() or
 * started now: their threads build them while this one goes on. */
static int start_prep(struct cd_job *job, struct cd_err *err)
{
        struct cd_launcher *l = job->l;

        /* Only a launcher that was prepared is written to: cordond's
         * concurrent launches only read the NULL. */
        if (cd_prep_is_for(l->prep, job->plan)) {
                job->prep = l->prep;
                l->prep = NULL;
                return 0;
        }
        job->prep = cd_prep_start(l, job->plan, err);
        return job->prep ? 0 : -err->code;
}

/* Steps 1 to 3 (the child runs 3 to 5 once released). */
static int start_job(struct cd_job *job, struct cd_err *err)
{
        int r;

        r = start_prep(job, err);
        if (r < 0)
                return r;
        r = cd_slot_acquire(job->l, &job->slot, err);
        if (r < 0)
                return r;
        /* A profile's own seccomp program is compiled meanwhile too. */
        r = job_seccomp(job, err);
        if (r < 0)
                return r;
        r = cd_cgroup_create(&job->cg, job->l->cgroup, job->slot.name, &job->plan->limits, err);
        if (r < 0)
                return r;
        r = build_filesystems(job, err);
        if (r < 0)
                return r;
        r = cd_relay_open(&job->relay, job->io, job->sb.stdio, err);
        if (r < 0)
                return r;
        r = clone_sandbox(job, err);
        if (r < 0)
                return r;
        r = cd_userns_setup_parent(job->plan, job->child.pid, job->slot.uid, job->slot.gid, err);
        if (r < 0)
                return r;
        r = cd_oom_setup_parent(job->child.pid, err);
        if (r < 0)
                return r;
        /* 'm': the maps are written, build the sandbox; meanwhile the caller
         * records the start (an fsync), and 'g' lets the job run. */
        r = cd_clone_release(&job->child, 'm', err);
        if (r < 0)
                return r;
        if (cd_fault("go_hold")) /* a test's window (test builds only) */
                cd_fault_wait();
        job->held = hold_back(job);
        if (job->held)
                return 0;
        if (job->io->before_start) {
                r = job->io->before_start(job->io->before_start_data, job->slot.uid, err);
                if (r < 0)
                        return r;
        }
        return cd_clone_release(&job->child, 'g', err);
}

/* After a parent-side failure, the child may have failed first and said
 * why; its reason is the one to report. */
static void prefer_child_error(struct cd_job *job, struct cd_err *err)
{
        struct cd_child_msg m;

        if (job->child.pid <= 0 || job->child.msg_fd < 0)
                return;
        cd_clone_kill(&job->child); /* dead now: the reads below end at EOF */
        while (cd_read_exact(job->child.msg_fd, &m, sizeof(m)) > 0)
                if (m.kind == CD_MSG_SETUP_FAILED) {
                        *err = m.err;
                        err->msg[sizeof(err->msg) - 1] = '\0';
                        return;
                }
}

static int stop_job(struct cd_job *job, struct cd_err *err)
{
        int r;

        job->prep = cd_prep_free(job->prep);
        cd_clone_destroy(&job->child);
        cd_relay_close(&job->relay);
        r = cd_cgroup_destroy(&job->cg, err);
        /* Injected after a removal that worked, so that the failure's paths
         * can be tested with nothing left behind. */
        if (r == 0 && cd_fault("teardown"))
                r = cd_err_set(err, CD_E_FAULT, "teardown: injected fault");
        cd_sandbox_destroy(&job->sb);
        job->own_seccomp = cd_seccomp_free(job->own_seccomp);
        /* A cgroup that could not be removed keeps its slot's name; the next
         * holder of the slot removes it (cgroup/cgroup.c). */
        cd_slot_release(&job->slot);
        return r;
}

static void job_init(struct cd_job *job, struct cd_launcher *l, const struct cd_plan *plan,
                     const struct cd_launch_io *io)
{
        *job = (struct cd_job){ .l = l, .plan = plan, .io = io, .start_ms = cd_now_ms() };
        job->slot.lock_fd = -1;
        cd_cgroup_init(&job->cg);
        cd_sandbox_init(&job->sb, plan);
        job->sb.seccomp = l->seccomp;
        job->sb.nocaps = l->nocaps;
        job->sb.landlock_abi = l->landlock_abi;
        cd_child_init(&job->child);
        for (int i = 0; i < 3; i++)
                job->relay.s[i] = (struct cd_stream){ .src = -1, .dst = -1 };
}

static void result_init(struct cd_result *ret, const struct cd_launcher *l,
                        const struct cd_plan *plan)
{
        *ret = (struct cd_result){
                .verdict = CD_VERDICT_SETUP_ERROR,
                .exit_code = -1,
                .limits = plan->limits,
                .cgroup_mode = cd_cgroup_mode_to_string(cd_cgroup_host_mode(l->cgroup)),
                .landlock_abi = l->landlock_abi,
        };
}

int cd_launch(struct cd_launcher *l, const struct cd_plan *plan, const struct cd_launch_io *io,
              struct cd_result *ret)
{
        struct cd_err cleanup_err = { 0 };
        struct cd_job job;
        int r, rc = 0, rs;

        result_init(ret, l, plan);
        r = cd_plan_validate(plan, &ret->error);
        if (r < 0) {
                ret->verdict = CD_VERDICT_REJECTED;
                return r;
        }
        job_init(&job, l, plan, io);
        r = start_job(&job, &ret->error);
        if (r < 0)
                prefer_child_error(&job, &ret->error);
        else
                r = cd_supervise(&job, ret, &ret->error);
        if (r == 0 && ret->verdict == CD_VERDICT_SETUP_ERROR)
                r = -(ret->error.code > 0 ? ret->error.code : EIO);
        /* The job is over and its cgroup empty (cd_supervise): /out is still. */
        if (r == 0 && io->collect)
                rc = cd_collect_out(&job, ret, &ret->error);
        ret->host_uid = job.slot.uid;
        rs = stop_job(&job, &cleanup_err);
        /* The job's own time: from its start to pid 1's end, not the drain
         * of its output (a stalled terminal), the copy of /out or teardown. */
        ret->wall_ms = (job.end_ms ? job.end_ms : cd_now_ms()) - job.start_ms;
        if (r < 0) {
                ret->verdict = CD_VERDICT_SETUP_ERROR;
                return r;
        }
        if (rc < 0) /* setup_error unless the job had failed; the manifest lists what was stored */
                return rc;
        if (rs < 0) {
                ret->error = cleanup_err;
                return rs;
        }
        return 0;
}

/* /run/cordon/slots: the uid leases of every launcher on the host. */
static int open_slots(const char *run_dir, struct cd_err *err)
{
        int fd = cd_open_root_subdir(run_dir, "slots", 0700, err);

        return fd < 0 ? cd_err_prefix(err, "launcher") : fd;
}

static int check_uid_range(uint32_t base, uint32_t count, struct cd_err *err)
{
        uint64_t end = (uint64_t) base + count; /* exclusive */

        if (count == 0 || base < 65536 || end > 0xfffffffeULL)
                return cd_err_set(err, CD_E_INVALID,
                                  "launcher: the job uid range must lie within [65536, 2^32-2)");
        return 0;
}

/* Writer-preferring: a clone or a sniffer's fork (the writers) waits for
 * the file system builds under way, not for every one that starts after
 * it. glibc's default prefers readers, and a stream of jobs with large
 * inputs could hold another job's launch back without end, its wall time
 * running. No thread takes the read lock twice. */
static int init_fs_lock(pthread_rwlock_t *lock)
{
        pthread_rwlockattr_t a;
        int r = pthread_rwlockattr_init(&a);

        if (r != 0)
                return -r;
        r = pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        if (r == 0)
                r = pthread_rwlock_init(lock, &a);
        (void) pthread_rwlockattr_destroy(&a);
        return -r;
}

int cd_launcher_new(const struct cd_launcher_config *cfg, struct cd_launcher **ret,
                    struct cd_err *err)
{
        struct cd_launcher *l;
        int r;

        if (geteuid() != 0)
                return cd_err_set(err, EPERM, "launcher: building sandboxes needs root");
        cd_fault_init();
        /* Writes to a dead child's pipe must fail with EPIPE, not kill us. */
        if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
                return cd_err_errno(err, "launcher: ignore SIGPIPE");
        if (setgroups(0, NULL) < 0)
                return cd_err_errno(err, "launcher: drop supplementary groups");
        l = calloc(1, sizeof(*l));
        if (!l)
                return cd_err_set(err, ENOMEM, "launcher: out of memory");
        l->slots_fd = -1;
        r = init_fs_lock(&l->fs_lock);
        if (r < 0) {
                free(l);
                return cd_err_neg(err, r, "launcher: set up a lock");
        }
        l->uid_base = cfg && cfg->uid_base ? cfg->uid_base : CD_DEFAULT_UID_BASE;
        l->uid_count = cfg && cfg->uid_count ? cfg->uid_count : CD_DEFAULT_UID_COUNT;
        r = check_uid_range(l->uid_base, l->uid_count, err);
        if (r == 0) {
                l->slots_fd = open_slots(CD_DEFAULT_RUN_DIR, err);
                r = l->slots_fd < 0 ? l->slots_fd : 0;
        }
        if (r == 0)
                r = cd_cgroup_host_open(cfg ? &cfg->cgroup : NULL, &l->cgroup, err);
        if (r == 0)
                r = cd_slot_sweep(l, err) < 0 ? -err->code : 0;
        if (r == 0)
                r = cd_seccomp_build(&l->seccomp, err);
        if (r == 0) {
                l->nocaps = cap_init();
                if (!l->nocaps)
                        r = cd_err_errno(err, "launcher: cap_init");
        }
        if (r < 0) {
                (void) cd_launcher_free(l);
                return r;
        }
        l->landlock_abi = cd_landlock_abi();
        *ret = l;
        return 0;
}

void cd_launcher_prepare(struct cd_launcher *l, const struct cd_plan *plan)
{
        struct cd_err ignored;

        l->prep = cd_prep_free(l->prep);
        /* A plan cd_launch() refuses gets nothing built; builders that could
         * not start are started again by cd_launch(), which then says why. */
        if (cd_plan_validate(plan, &ignored) == 0)
                l->prep = cd_prep_start(l, plan, &ignored);
}

struct cd_launcher *cd_launcher_free(struct cd_launcher *l)
{
        if (!l)
                return NULL;
        l->prep = cd_prep_free(l->prep);
        (void) cd_cgroup_host_free(l->cgroup);
        (void) cd_seccomp_free(l->seccomp);
        if (l->nocaps)
                (void) cap_free(l->nocaps);
        (void) cd_close(l->slots_fd);
        pthread_rwlock_destroy(&l->fs_lock);
        free(l);
        return NULL;
}

enum cd_cgroup_mode cd_launcher_cgroup_mode(const struct cd_launcher *l)
{
        return cd_cgroup_host_mode(l->cgroup);
}
