/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * A `cordon run` killed (SIGKILL, a crash) leaves job.submitted and
 * job.started with no job.finished. Each run keeps a marker,
 * /run/cordon/runs/<job>, flock(2)ed while it runs and holding the log's
 * seq before its first record, the profile and the audit directory; it
 * is removed once job.finished is written. The next run (on any state
 * directory) that finds a marker whose lock it can take (its run is gone)
 * reads that log back from the seq and closes the job with job.finished
 * (failed, reason run_interrupted) when the log has its job.submitted but
 * no verdict; then removes the marker. The markers live on tmpfs: a
 * marker costs no journal commit in the state directory's fsyncs, and a
 * reboot (which ends every run) forgets them.
 */
#include <stdint.h>

#include "cordon/audit.h"
#include "cordon/err.h"

/* Open (creating) /run/cordon/runs, root's and writable by nobody else.
 * Returns the fd or -errno with @err. */
int run_marker_dir(struct cd_err *err);

/* Close the jobs of killed runs found in @dir, recorded by @uid; @log is
 * the log of @audit_dir (absolute, as run_marker_create was given it),
 * other runs' logs are opened for it. A marker that cannot be settled now
 * is left for a later run (one line on stderr says why). */
void run_marker_sweep(int dir, struct cd_audit *log, const char *audit_dir, uint32_t uid);

/* Create the marker of @job: @mark (cd_audit_mark() before the job's first
 * record), @profile and @audit_dir (absolute). *@ret_fd holds its lock
 * until closed. */
int run_marker_create(int dir, const char *job, uint64_t mark, const char *profile,
                      const char *audit_dir, int *ret_fd, struct cd_err *err);

/* The job's job.finished is written: its marker goes. */
void run_marker_remove(int dir, const char *job);
