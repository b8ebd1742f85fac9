/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>

#include "cordon/artifacts.h"
#include "cordon/fault.h"
#include "launcher-internal.h"

/* Caps on what leaves are output limits like /out's size: a job whose
 * output was refused as too large or too many, or left more than the
 * collection could examine in its time (out_of_time), did not finish its
 * output. Counted as found, listed or not (the manifest lists 256
 * refusals). */
static bool over_caps(const struct cd_manifest *m)
{
        return m->over_caps > 0;
}

/* A cancel is pending: @fd is readable (polled, never read). */
static bool cancel_pending(int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return fd >= 0 && poll(&p, 1, 0) > 0;
}

/* A cancel (SIGINT to cordon run, cordond's cancel) that came once the
 * job's payload had ended, and before its collection did. One that came
 * with the end, or before the walk began, was left pending by
 * cd_supervise() and stopped the walk at its first file; one that came
 * after the walk's last look at it (the last file's copy, an empty /out)
 * cut nothing, but was still asked for while the job was not over, and
 * cordond has recorded it (job.cancelled) or is shutting down: the verdict
 * says so too (ranked by cd_verdict_yields_to_cancel()). */
static bool cut_by_cancel(const struct cd_job *job, const struct cd_result *ret)
{
        if (ret->manifest.stopped != CD_REFUSED_CANCELLED && !cancel_pending(job->io->cancel_fd))
                return false;
        return cd_verdict_yields_to_cancel(ret->verdict);
}

int cd_collect_out(struct cd_job *job, struct cd_result *ret, struct cd_err *err)
{
        const struct cd_collect c = {
                .rules = &job->plan->artifacts,
                .job_uid = job->slot.uid,
                .job_gid = job->slot.gid,
                .dest_fd = job->io->out_dir_fd,
                .keep_free_bytes = job->io->out_keep_free_bytes,
                .keep_free_inodes = job->io->out_keep_free_inodes,
                .src_max_bytes = cd_out_capacity(job->plan->limits.out_size_bytes),
                .fork_lock = &job->l->fs_lock,
                .cancel_fd = job->io->cancel_fd,
        };
        struct cd_err why = { 0 };
        int r;

        if (cd_fault("collect"))
                r = cd_err_set(&why, CD_E_FAULT, "collect: injected fault");
        else
                r = cd_artifacts_collect(job->sb.out_fd, &c, &ret->manifest, &why);
        ret->collected = true;
        if (r < 0) {
                /* The message of a command that could not be executed stands. */
                if (!ret->exec_failed)
                        *err = why;
                cd_result_output_lost(ret);
        }
        if (r == 0 && over_caps(&ret->manifest) &&
            (ret->verdict == CD_VERDICT_OK || ret->verdict == CD_VERDICT_FAILED))
                ret->verdict = CD_VERDICT_OUTPUT_LIMIT;
        if (r == 0 && cut_by_cancel(job, ret))
                ret->verdict = CD_VERDICT_CANCELLED;
        return r;
}
