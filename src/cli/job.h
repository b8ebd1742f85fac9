/* SPDX-License-Identifier: MIT */
/* Jobs as the CLI shows and waits for them. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"

/* A job's field as a string, or NULL. */
const char *cli_job_str(const json_t *job, const char *key);

/* The job's state, "queued", "running" or "finished"; NULL for anything
 * else (cordond sends nothing else: its answer is broken). */
const char *cli_job_state(const json_t *job);

/*
 * Polls that ask cordond to hold them (?wait=N) spaced out when it does
 * not: after an answer in less than half the time asked, a pause of 250
 * ms, doubling up to 4 s while answers keep coming early (one held as
 * asked starts over). A cordond that ignores ?wait= is then asked a few
 * times a second, not thousands.
 */
struct cli_pace {
        uint64_t gap_ms;
};

/* After a poll that asked to be held @asked_ms and was answered after
 * @took_ms: pause as said above, never past @deadline_ms (cd_now_ms();
 * UINT64_MAX: none). Returns 0, or -1 when interrupted. */
int cli_pace(struct cli_pace *p, uint64_t asked_ms, uint64_t took_ms, uint64_t deadline_ms);

/*
 * The exit status for a finished job (docs/cli.md): its own exit code for
 * ok and failed, 128+N when a signal killed it, cd_result's fixed codes
 * for the other verdicts. CLI_EXIT_SERVER when @job makes no sense.
 */
int cli_job_exit_status(const json_t *job);

/* No --timeout: wait as long as the job runs. */
#define CLI_WAIT_FOREVER UINT64_MAX

/*
 * Wait until job @id has finished, or @timeout_ms has passed (it is asked
 * at least once): GET /v1/jobs/ID?wait=60 in a loop (2 s polls when @live,
 * which redraws one status line on stderr: state, queue position, elapsed
 * time). Each request ends by the deadline (plus 2 s for the answer to
 * arrive), however cordond answers, and polls that come back too soon are
 * spaced out (struct cli_pace). Returns 0 with the finished job in *@ret
 * (caller owns it); CLI_EXIT_STILL_RUNNING with the job as it is in
 * *@ret (NULL when cordond did not answer in time), after saying on
 * stderr that it goes on; or another exit status (130 when interrupted,
 * after saying that the job goes on; 70 for an answer without a valid
 * state).
 */
int cli_job_wait(struct cli_client *c, const char *id, bool live, uint64_t timeout_ms,
                 json_t **ret);

/* "finished: ok, exit 0, 812 ms" and the like, for a job, into @buf. */
void cli_job_outcome(const json_t *job, char *buf, size_t size);

/* One line for people about finished job @job on stdout, and where to look
 * next when it did not succeed. */
void cli_job_print_outcome(const json_t *job);
