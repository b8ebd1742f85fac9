/* SPDX-License-Identifier: MIT */
/*
 * Closing the jobs of `cordon run`s that a host crash ended.
 *
 * A killed run's job is closed by the next run from its marker
 * (run-marker.h), but the markers live on tmpfs and a reboot forgets
 * them. So each run names in its job.submitted the boot it runs in, and
 * the first run of each boot reads its log from where the last boot's
 * first run stopped, and closes every job of a `cordon run` of another
 * boot that has no job.finished: that run is certainly gone. Where it
 * stopped is a note beside the log (RUN_BOOT_NOTE: "<boot id> <seq>\n").
 */
#pragma once

#include <stdint.h>

#include "cordon/audit.h"
#include "cordon/err.h"

/* The `runner` of job.submitted's details for `cordon run`'s jobs. */
#define RUN_BOOT_RUNNER "cordon run"
#define RUN_BOOT_NOTE   "runs-boot"
/* A boot id: 36 characters (a UUID), and the NUL. */
#define RUN_BOOT_ID_SIZE 37

/* This boot's id, from /proc/sys/kernel/random/boot_id. 0 or -errno with
 * @err. */
int run_boot_id(char ret[RUN_BOOT_ID_SIZE], struct cd_err *err);

/*
 * Once per boot and log: close the jobs of runs of other boots in @log
 * (job.finished, verdict failed, reason host_restart, by @uid as admin),
 * then note that this boot has. Under an exclusive flock(2) on @runs_fd
 * (the markers' directory), which the markers' sweep takes shared, so no
 * job is closed twice; a run that finds the note of another boot waits
 * for the first run of the boot to finish. A job that cannot be closed
 * is reported on stderr, and the note is not written, so the next run
 * tries again.
 */
void run_boot_sweep(int runs_fd, struct cd_audit *log, const char *boot, uint32_t uid);
