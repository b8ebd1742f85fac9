/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Integration test helpers: run the real `cordon run` as root, capture its
 * output and JSON result, and check that nothing is left behind (cgroups,
 * mounts, processes of the job uid range).
 *
 * Environment: CORDON_BIN (the cordon CLI), CORDON_PROBE (the static escape
 * probe), CORDON_TEST_CGROUP=v1|v2 (default: what the host has).
 */

#include <jansson.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <stddef.h>
#include <sys/types.h>

struct cd_run {
        int status; /* cordon's exit status, or 128+N if it was killed by signal N */
        char *out;  /* captured stdout, NUL-terminated */
        size_t out_len;
        char *err;      /* captured stderr */
        json_t *result; /* the --result file, NULL if none was written */
};

/* Exit 77 (skipped) with a reason unless we are root and the requested
 * cgroup mode exists. Call first thing in main(). */
void harness_require_root(void);

/* The cgroup mode the tests run in: "v1" or "v2". */
const char *harness_cgroup_mode(void);

/* Per-test-binary setup: private run dir and cgroup parent, baseline of
 * mounts. Teardown removes them and fails if anything was left. */
int harness_setup(void **state);
int harness_teardown(void **state);

/*
 * Run `cordon run <harness flags> <args...>` (args end with NULL; include
 * "--" and the command). @stdin_data may be NULL (stdin is /dev/null).
 * The harness adds --state-dir, --cgroup, --cgroup-parent, --result and a
 * read-only bind of the probe at /opt/cordon-probe. Extra environment
 * entries ("NAME=value", NULL-terminated) may be given in @env.
 */
/* The --state-dir given to every run (its audit log is <dir>/audit), removed at teardown. */
const char *harness_state_dir(void);

/* How many records of @event ("job.started") the runs' audit log holds. */
size_t harness_audit_count(const char *event);

/* Remove @name below @parent recursively, never following a symlink. */
void harness_remove_tree(int parent, const char *name);

void harness_run(struct cd_run *r, const char *stdin_data, char *const *env, const char *arg, ...)
        __attribute__((sentinel));

/* Same, with an argument vector. */
/* When set, the RLIMIT_CORE cordon is started with by harness_run(). */
extern const struct rlimit *harness_child_core;
extern const struct rlimit *harness_child_fsize; /* the same for RLIMIT_FSIZE */

void harness_runv(struct cd_run *r, const char *stdin_data, char *const *env,
                  const char *const *args);

/* Run the probe NAME [ARG] inside a sandbox; returns the probe's exit code
 * (0 blocked) or 128+N if it was killed by signal N. */
int harness_probe(const char *name, const char *arg);

void harness_run_free(struct cd_run *r);

/* Start `cordon run <harness flags> <args>` in the background with its
 * result written to @result_file and stdio on /dev/null. */
pid_t harness_spawn(const char *result_file, const char *const *args);
/* When set (NULL-terminated), the cgroup.procs files a spawned cordon is
 * moved into before it starts. */
extern const char *const *harness_child_cgroups;
/* The same, with stdout on @out_fd (-1: /dev/null). */
pid_t harness_spawn_to(const char *result_file, const char *const *args, int out_fd);

/* Wait for a spawned run; fills r->status and r->result. */
void harness_wait(pid_t pid, const char *result_file, struct cd_run *r);
/* The same, waiting at most @ms (a bound that catches a hang): false, with
 * @pid still running and @r untouched, when it has not ended by then. */
bool harness_wait_for(pid_t pid, const char *result_file, unsigned int ms, struct cd_run *r);

/* The string field @key of the result ("verdict"), or "" if absent. */
const char *harness_result_str(const struct cd_run *r, const char *key);

/* An integer field, or -1 if absent/null. Nested with "sandbox.host_uid". */
long long harness_result_int(const struct cd_run *r, const char *path);

/* Fail the test if a job cgroup, a mount or a process of the job uid range
 * is left. */
void harness_assert_nothing_left(void);

/* Processes of this test's jobs: a host uid of the job range, and a cgroup
 * below this test's parent (or below no cordon cgroup at all, which would
 * be an escape). Another test run's jobs on the same machine do not count. */
int harness_job_processes(void);

/* Ask @done(@data) every 20 ms until it says true or @ms have passed, and
 * return its last answer: a bound that catches a hang, never a timing. */
bool harness_until(bool (*done)(void *data), void *data, unsigned int ms);
/* For harness_until(): does the file @path (a char *) exist? */
bool harness_path_exists(void *path);

/* How many processes in /proc @match(pid, @data) picks; the first of them
 * in *@ret_first when not NULL (-1 when none). */
int harness_processes(bool (*match)(pid_t pid, void *data), void *data, pid_t *ret_first);

/* The cgroup parent (relative) the harness uses, e.g. "cordon-test-1234". */
const char *harness_cgroup_parent(void);
