/* SPDX-License-Identifier: MIT */
/*
 * The audit trail of `cordon run` (issue 6): every job leaves job.submitted,
 * job.started and job.finished (and profiles.loaded for a profile) in the
 * state directory, the log refuses to be skipped, `cordon audit verify`
 * catches a flipped byte, a deleted line and two swapped lines, and no
 * PII-looking string a job is given or writes reaches the audit log or
 * cordon's own messages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cordon/audit.h"
#include "cordon/crypto.h"
#include "harness.h"

/* Strings that look like a person: none may reach the audit log or a log line. */
static const char *const pii[] = {
        "jane.doe@example.com", "+1-555-0142", "Jane Doe", "1985-03-14", "Ödegaard",
};

static char base[128], profiles[192], log_path[320];

static void write_text(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
}

static int setup(void **state)
{
        harness_setup(state);
        snprintf(base, sizeof(base), "/run/cordon-test-audit-%d", (int) getpid());
        snprintf(profiles, sizeof(profiles), "%s/profiles", base);
        snprintf(log_path, sizeof(log_path), "%s/audit/audit.jsonl", harness_state_dir());
        if (mkdir(base, 0755) < 0 || mkdir(profiles, 0755) < 0)
                return -1;
        /* A shell profile that passes one caller variable through. */
        write_text("/dev/null", "");
        {
                char path[256];

                snprintf(path, sizeof(path), "%s/piitest.json", profiles);
                write_text(path, "{\"name\": \"piitest\", \"command\": [\"/bin/sh\", \"{entry}\"],"
                                 " \"environment\": {\"allow\": [\"PATIENT_NAME\"]}}\n");
        }
        return 0;
}

static int teardown(void **state)
{
        harness_remove_tree(AT_FDCWD, base);
        return harness_teardown(state);
}

static char *slurp(const char *path, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        char *buf = NULL;
        size_t len = 0;
        ssize_t n;

        assert_true(fd >= 0);
        do {
                buf = realloc(buf, len + 65536 + 1);
                assert_non_null(buf);
                n = read(fd, buf + len, 65536);
                assert_true(n >= 0);
                len += (size_t) n;
        } while (n > 0);
        close(fd);
        buf[len] = '\0';
        if (ret_len)
                *ret_len = len;
        return buf;
}

/* The records of @job, in order, as a JSON array. */
static json_t *records_of(const char *job)
{
        char *text = slurp(log_path, NULL), *save = NULL;
        json_t *out = json_array();

        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                json_t *rec = json_loads(line, 0, NULL);

                assert_non_null(rec);
                if (json_is_string(json_object_get(rec, "job")) &&
                    strcmp(json_string_value(json_object_get(rec, "job")), job) == 0)
                        json_array_append(out, rec);
                json_decref(rec);
        }
        free(text);
        return out;
}

static const char *event_of(json_t *records, size_t i)
{
        return json_string_value(json_object_get(json_array_get(records, i), "event"));
}

static void test_every_event_recorded(void **state)
{
        char out[192], profile[256], hash[CD_AUDIT_HASH_HEX], *raw;
        json_t *recs, *fin, *details, *arts, *e;
        size_t len, i, listed = 0;
        struct cd_run r;

        (void) state;
        snprintf(out, sizeof(out), "%s/out-events", base);
        snprintf(profile, sizeof(profile), "%s/piitest.json", profiles);
        raw = slurp(profile, &len);
        assert_int_equal(cd_sha256_hex(raw, len, hash, &(struct cd_err){ 0 }), 0);
        free(raw);
        harness_run(&r, NULL, NULL, "--profiles-dir", profiles, "--profile", "piitest", "--out",
                    out, "--", "/bin/sh", "-c", "echo a > /out/a.txt; echo b > /out/b.txt", NULL);
        assert_int_equal(r.status, 0);
        recs = records_of(harness_result_str(&r, "job"));
        assert_int_equal(json_array_size(recs), 4);
        assert_string_equal(event_of(recs, 0), "profiles.loaded");
        assert_string_equal(event_of(recs, 1), "job.submitted");
        assert_string_equal(event_of(recs, 2), "job.started");
        assert_string_equal(event_of(recs, 3), "job.finished");
        assert_string_equal(
                json_string_value(json_array_get(
                        json_object_get(json_object_get(json_array_get(recs, 0), "details"),
                                        "sha256"),
                        0)),
                hash);
        fin = json_array_get(recs, 3);
        assert_string_equal(json_string_value(json_object_get(fin, "verdict")), "ok");
        assert_string_equal(json_string_value(json_object_get(fin, "profile")), "piitest");
        details = json_object_get(fin, "details");
        assert_int_equal(json_integer_value(json_object_get(details, "artifacts_taken")), 2);
        /* The hashes of what left, as the manifest gives them. */
        arts = json_object_get(r.result, "artifacts");
        json_array_foreach(arts, i, e)
        {
                const char *sha = json_string_value(json_object_get(e, "sha256"));
                json_t *h;
                size_t j;
                bool found = false;

                json_array_foreach(json_object_get(details, "artifact_sha256"), j, h) found =
                        found || strcmp(json_string_value(h), sha) == 0;
                assert_true(found);
                listed++;
        }
        assert_int_equal(listed, 2);
        json_decref(recs);
        harness_run_free(&r);
}

static void test_setup_error_recorded(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        char fault[] = "CORDON_FAULT=rootfs";
        char *env[] = { fault, NULL };
        json_t *recs, *last;
        struct cd_run r;

        harness_run(&r, NULL, env, "--", "/bin/true", NULL);
        assert_int_equal(r.status, 125);
        recs = records_of(harness_result_str(&r, "job"));
        assert_true(json_array_size(recs) >= 2);
        assert_string_equal(event_of(recs, 0), "job.submitted");
        last = json_array_get(recs, json_array_size(recs) - 1);
        assert_string_equal(json_string_value(json_object_get(last, "event")), "job.finished");
        assert_string_equal(json_string_value(json_object_get(last, "verdict")), "setup_error");
        json_decref(recs);
        harness_run_free(&r);
#endif
}

/* The first append to a new log whose directory fsync fails is cut back
 * like a failed write: the job does not run, and the retry (job.finished)
 * does not find job.submitted and job.started already there. Before, they
 * stayed: job.submitted twice, and a job.started for a job that never ran. */
static void test_failed_directory_fsync_is_undone(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        char fault[] = "CORDON_FAULT=audit_dir_fsync:once";
        char *env[] = { fault, NULL };
        char state_dir[192], path[256];
        size_t submitted = 0, started = 0;
        char *text, *save = NULL;
        const char *last = NULL;
        struct cd_run r;

        snprintf(state_dir, sizeof(state_dir), "%s/fresh-state", base);
        snprintf(path, sizeof(path), "%s/audit/audit.jsonl", state_dir);
        harness_run(&r, NULL, env, "--state-dir", state_dir, "--", "/bin/sh", "-c", "echo ran",
                    NULL);
        if (r.status != 125 || strstr(r.out, "ran") || !strstr(r.err, "fsync the directory of"))
                fail_msg("status %d, stdout: %s, stderr: %s", r.status, r.out, r.err);
        text = slurp(path, NULL);
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                submitted += strstr(line, "\"job.submitted\"") != NULL;
                started += strstr(line, "\"job.started\"") != NULL;
                last = line;
        }
        assert_int_equal(submitted, 1);
        assert_int_equal(started, 0);
        assert_non_null(last);
        assert_non_null(strstr(last, "\"job.finished\""));
        assert_non_null(strstr(last, "\"setup_error\""));
        free(text);
        harness_run_free(&r);
        harness_assert_nothing_left();
#endif
}

static size_t count_started(void)
{
        return harness_audit_count("job.started");
}

static bool started_since(void *before)
{
        return count_started() > *(size_t *) before;
}

/* SIGTERM to cordon run: job.cancelled, then job.finished with that verdict. */
static void test_cancel_recorded(void **state)
{
        const char *const args[] = { "--", "/bin/sleep", "60", NULL };
        char result[192];
        size_t before = count_started();
        json_t *recs;
        struct cd_run r;
        pid_t pid;

        (void) state;
        snprintf(result, sizeof(result), "%s/cancel.json", base);
        pid = harness_spawn(result, args);
        assert_true(harness_until(started_since, &before, 20000));
        assert_int_equal(kill(pid, SIGTERM), 0);
        harness_wait(pid, result, &r);
        assert_int_equal(r.status, 123);
        recs = records_of(harness_result_str(&r, "job"));
        assert_int_equal(json_array_size(recs), 4);
        assert_string_equal(event_of(recs, 2), "job.cancelled");
        assert_string_equal(event_of(recs, 3), "job.finished");
        assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 3), "verdict")),
                            "cancelled");
        json_decref(recs);
        harness_run_free(&r);
}

/* The job id of the last job.started in the log. */
static void last_started(char job[33])
{
        char *text = slurp(log_path, NULL), *save = NULL;

        job[0] = '\0';
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                json_t *rec = json_loads(line, 0, NULL);

                assert_non_null(rec);
                if (strcmp(json_string_value(json_object_get(rec, "event")), "job.started") == 0)
                        snprintf(job, 33, "%s", json_string_value(json_object_get(rec, "job")));
                json_decref(rec);
        }
        free(text);
}

static size_t count_finished(const char *job)
{
        json_t *recs = records_of(job);
        size_t n = 0;

        for (size_t i = 0; i < json_array_size(recs); i++)
                n += strcmp(event_of(recs, i), "job.finished") == 0;
        json_decref(recs);
        return n;
}

/* Whether the marker of a run of @job is in /run/cordon/runs. */
static bool has_marker(const char *job)
{
        char path[128];

        snprintf(path, sizeof(path), "/run/cordon/runs/%s", job);
        return access(path, F_OK) == 0;
}

static bool no_job_processes(void *data)
{
        (void) data;
        return harness_job_processes() == 0;
}

/* @job has its job.submitted (of a `cordon run`, with its boot), its
 * job.started and a job.finished (failed, @reason) another run wrote. */
static void assert_closed_by_another_run(const char *job, const char *reason)
{
        json_t *recs = records_of(job), *sub, *fin;

        assert_int_equal(json_array_size(recs), 3);
        sub = json_object_get(json_array_get(recs, 0), "details");
        assert_string_equal(json_string_value(json_object_get(sub, "runner")), "cordon run");
        assert_int_equal(strlen(json_string_value(json_object_get(sub, "boot"))), 36);
        fin = json_array_get(recs, 2);
        assert_string_equal(event_of(recs, 2), "job.finished");
        assert_string_equal(json_string_value(json_object_get(fin, "verdict")), "failed");
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(fin, "details"), "reason")),
                reason);
        json_decref(recs);
}

/* A `cordon run` killed with SIGKILL leaves job.submitted and job.started
 * with no verdict; the next run closes that job with job.finished (failed,
 * run_interrupted), once, and leaves a run still going alone. Before, the
 * killed run's job stayed open in the log for good. */
static void test_killed_run_closed_by_the_next(void **state)
{
        const char *const args[] = { "--", "/bin/sleep", "60", NULL };
        char killed[33], live[33], result[192], result2[192];
        size_t before = count_started();
        struct cd_run r;
        pid_t pid, pid2;
        int status;

        (void) state;
        snprintf(result, sizeof(result), "%s/killed.json", base);
        snprintf(result2, sizeof(result2), "%s/live.json", base);
        pid = harness_spawn(result, args);
        assert_true(harness_until(started_since, &before, 20000));
        last_started(killed);
        before = count_started();
        pid2 = harness_spawn(result2, args);
        assert_true(harness_until(started_since, &before, 20000));
        last_started(live);
        assert_string_not_equal(killed, live);
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_int_equal(count_finished(killed), 0);
        assert_true(has_marker(killed));

        harness_run(&r, NULL, NULL, "--", "/bin/true", NULL);
        assert_int_equal(r.status, 0);
        harness_run_free(&r);
        assert_closed_by_another_run(killed, "run_interrupted");
        assert_int_equal(count_finished(live), 0); /* still running: left alone */
        assert_false(has_marker(killed));
        assert_true(has_marker(live));

        assert_int_equal(kill(pid2, SIGTERM), 0);
        harness_wait(pid2, result2, &r);
        assert_int_equal(r.status, 123);
        harness_run_free(&r);
        harness_run(&r, NULL, NULL, "--", "/bin/true", NULL);
        harness_run_free(&r);
        assert_int_equal(count_finished(killed), 1);
        assert_int_equal(count_finished(live), 1);
        assert_false(has_marker(live));
        /* The killed run's sandbox pid 1 died with it and was reparented to
         * the host's pid 1, which reaps it when it will. */
        assert_true(harness_until(no_job_processes, NULL, 20000));
        harness_assert_nothing_left();
}

#ifdef CORDON_FAULT_INJECTION
/* A `cordon run` (sleep 60) that a host crash ends: started, then killed
 * with its marker removed. Its job id in @job. */
static void crashed_run(const char *name, char job[33])
{
        const char *const args[] = { "--", "/bin/sleep", "60", NULL };
        char path[128], result[192];
        size_t before = count_started();
        pid_t pid;
        int status;

        snprintf(result, sizeof(result), "%s/%s.json", base, name);
        pid = harness_spawn(result, args);
        assert_true(harness_until(started_since, &before, 20000));
        last_started(job);
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        snprintf(path, sizeof(path), "/run/cordon/runs/%s", job);
        assert_int_equal(unlink(path), 0);
        assert_true(harness_until(no_job_processes, NULL, 20000));
}

static void boot_note_path(char *buf, size_t size)
{
        snprintf(buf, size, "%s/audit/runs-boot", harness_state_dir());
}

/* A run of this boot, or of the next (the fault boot_id_next), which must
 * succeed. */
static void run_in_boot(bool next)
{
        char fault[] = "CORDON_FAULT=boot_id_next";
        char *env[] = { fault, NULL };
        struct cd_run r;

        harness_run(&r, NULL, next ? env : NULL, "--", "/bin/true", NULL);
        assert_int_equal(r.status, 0);
        harness_run_free(&r);
}

/* The note a boot's first run leaves beside the log: "<boot id> <seq>\n". */
static void read_boot_note(char *buf, size_t size)
{
        char path[320];
        char *text;

        boot_note_path(path, sizeof(path));
        text = slurp(path, NULL);
        snprintf(buf, size, "%s", text);
        free(text);
}
#endif

/* A host crash ends a run and its marker (tmpfs) with it. The first run of
 * the next boot closes the job (failed, host_restart), once; a run of the
 * same boot does not, since the killed run's job could be a live one's.
 * Before, such a job stayed open in the log for good. The next boot is the
 * fault boot_id_next (a fixed boot id); the crash, a SIGKILL and the
 * marker's removal. */
static void test_job_of_a_crashed_boot_closed_by_the_next_boot(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        char job[33], note[128];

        crashed_run("crashed", job);
        run_in_boot(false); /* the same boot */
        assert_int_equal(count_finished(job), 0);
        read_boot_note(note, sizeof(note));
        assert_null(strstr(note, "00000000-0000-4000-8000-00000000000b"));

        run_in_boot(true); /* the next boot's first run, and its second */
        run_in_boot(true);
        assert_closed_by_another_run(job, "host_restart");
        read_boot_note(note, sizeof(note));
        assert_non_null(strstr(note, "00000000-0000-4000-8000-00000000000b "));

        /* Back to this boot's id: a boot after that one again, which reads
         * on from the note and closes nothing twice. */
        run_in_boot(false);
        assert_int_equal(count_finished(job), 1);
        harness_assert_nothing_left();
#endif
}

/* A note whose seq is past the log's end (the log was replaced since: cut,
 * restored, started anew) passes over nothing: the next boot's first run
 * reads the log from its start. Before, it read from that seq, found
 * nothing, and wrote a note past the crashed job for good. */
static void test_boot_note_past_the_log_end_read_from_the_start(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        static const char stale[] = "00000000-0000-4000-8000-00000000000a 999999999\n";
        char job[33], path[320];
        int fd;

        crashed_run("past-end", job);
        boot_note_path(path, sizeof(path));
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, stale, sizeof(stale) - 1), (ssize_t) sizeof(stale) - 1);
        assert_int_equal(close(fd), 0);

        run_in_boot(true);
        assert_closed_by_another_run(job, "host_restart");
        harness_assert_nothing_left();
#endif
}

/* A run whose own sweep failed goes on with its job; a later run of the same
 * boot that sweeps must not note a seq past that job's job.submitted, or the
 * next boot never reads it. The failure: a directory where the note is. */
static void test_job_of_a_run_whose_sweep_failed_closed_by_the_next_boot(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        char job[33], path[320];

        boot_note_path(path, sizeof(path));
        (void) unlink(path);
        assert_int_equal(mkdir(path, 0700), 0);
        crashed_run("sweep-failed", job); /* ran although its sweep failed */
        assert_int_equal(rmdir(path), 0);

        run_in_boot(false); /* this boot's sweep */
        assert_int_equal(count_finished(job), 0);

        run_in_boot(true);
        assert_closed_by_another_run(job, "host_restart");
        harness_assert_nothing_left();
#endif
}

/* The first runs of a boot, several at once: one reads the log and closes
 * the crashed boot's job under the exclusive lock, the others wait for it
 * and find the note written; the job is closed once, and every run runs. */
static void test_first_runs_of_a_boot_at_once_close_a_job_once(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        const char *const args[] = { "--", "/bin/true", NULL };
        char job[33], results[4][192];
        pid_t pids[4];
        int statuses[4];

        crashed_run("at-once", job);
        run_in_boot(false); /* this boot's note, whatever a test before left */
        /* The sweep reads for 0.5 s: without the lock they would all close it. */
        assert_int_equal(setenv("CORDON_FAULT", "boot_id_next,boot_sweep_slow", 1), 0);
        for (int i = 0; i < 4; i++) {
                snprintf(results[i], sizeof(results[i]), "%s/at-once-%d.json", base, i);
                pids[i] = harness_spawn(results[i], args);
        }
        assert_int_equal(unsetenv("CORDON_FAULT"), 0);
        for (int i = 0; i < 4; i++) { /* all waited for before any is judged */
                struct cd_run r;

                harness_wait(pids[i], results[i], &r);
                statuses[i] = r.status;
                harness_run_free(&r);
        }
        for (int i = 0; i < 4; i++)
                assert_int_equal(statuses[i], 0);
        assert_closed_by_another_run(job, "host_restart"); /* one job.finished */
        harness_assert_nothing_left();
#endif
}

/* A state directory cordon cannot use (a symlink): the job does not run. */
static void test_unusable_log_refuses_the_job(void **state)
{
        char link[192], target[192];
        const char *args[] = {
                getenv("CORDON_BIN"), "run", "--state-dir", link, "--", "/bin/sh", "-c",
                "echo ran",           NULL
        };
        int pipefd[2], status;
        char buf[4096];
        size_t len = 0;
        ssize_t n;
        pid_t pid;

        (void) state;
        snprintf(target, sizeof(target), "%s/elsewhere", base);
        snprintf(link, sizeof(link), "%s/state-link", base);
        assert_int_equal(mkdir(target, 0700), 0);
        assert_int_equal(symlink("elsewhere", link), 0);
        {
                char audit_link[256];

                /* cd_audit_open refuses a symlinked audit directory. */
                snprintf(audit_link, sizeof(audit_link), "%s/audit", target);
                assert_int_equal(symlink("/tmp", audit_link), 0);
        }
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(pipefd[1], 1);
                dup2(pipefd[1], 2);
                execv(args[0], (char *const *) args);
                _exit(127);
        }
        close(pipefd[1]);
        while (len + 1 < sizeof(buf) && (n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
                len += (size_t) n;
        close(pipefd[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        buf[len] = '\0';
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 125)
                fail_msg("status %#x, output: %s", status, buf);
        assert_null(strstr(buf, "ran"));
        assert_non_null(strstr(buf, "the job was not run"));
}

static void assert_no_pii(const char *what, const char *text)
{
        for (size_t i = 0; i < sizeof(pii) / sizeof(pii[0]); i++)
                if (strstr(text, pii[i]))
                        fail_msg("%s holds \"%s\"", what, pii[i]);
}

/* Inputs, names, arguments, environment and outputs full of PII: none of
 * it reaches the audit log or cordon's messages. */
static void test_no_pii_in_audit_or_logs(void **state)
{
        char in_dir[192], input[256], entry[256], out[192], env_var[] = "PATIENT_NAME=Jane Doe";
        char *env[] = { env_var, NULL }, *audit;
        const char *script = "cat \"/work/jane.doe@example.com.csv\"\n"
                             "echo \"Jane Doe, +1-555-0142\" > \"/out/Jane Doe +1-555-0142.csv\"\n"
                             "echo \"$PATIENT_NAME\" > /out/patient.txt\n"
                             "ln -s /etc/shadow \"/out/jane.doe@example.com\"\n"
                             "mkfifo \"/out/Ödegaard-1985-03-14\"\n";
        struct cd_run r;

        (void) state;
        snprintf(in_dir, sizeof(in_dir), "%s/in", base);
        snprintf(out, sizeof(out), "%s/out-pii", base);
        assert_int_equal(mkdir(in_dir, 0755), 0);
        snprintf(input, sizeof(input), "%s/jane.doe@example.com.csv", in_dir);
        write_text(input, "name,phone,born\nJane Doe,+1-555-0142,1985-03-14\n");
        snprintf(entry, sizeof(entry), "%s/Jane Doe.sh", in_dir);
        write_text(entry, script);
        harness_run(&r, NULL, env, "--profiles-dir", profiles, "--profile", "piitest", "--input",
                    input, "--input", entry, "--entry", "Jane Doe.sh", "--out", out, NULL);
        assert_int_equal(r.status, 0);
        /* The job saw it all (the test is not vacuous)... */
        assert_non_null(strstr(r.out, "Jane Doe,+1-555-0142"));
        assert_int_equal(json_array_size(json_object_get(r.result, "artifacts")), 4);
        /* ...and cordon said none of it. */
        assert_no_pii("cordon's stderr", r.err);
        harness_run_free(&r);

        /* Failures that name things: a missing command, a missing input. */
        harness_run(&r, NULL, env, "--", "/nonexistent/jane.doe@example.com", "Jane Doe", NULL);
        assert_int_equal(r.status, 127);
        assert_no_pii("cordon's stderr (exec failure)", r.err);
        assert_no_pii("the result (exec failure)", harness_result_str(&r, "error"));
        harness_run_free(&r);
        snprintf(input, sizeof(input), "%s/missing-jane.doe@example.com.csv", in_dir);
        harness_run(&r, NULL, env, "--input", input, "--", "/bin/true", NULL);
        assert_int_equal(r.status, 125);
        assert_no_pii("cordon's stderr (missing input)", r.err);
        harness_run_free(&r);

        audit = slurp(log_path, NULL);
        assert_non_null(strstr(audit, "job.finished"));
        assert_no_pii("the audit log", audit);
        free(audit);
}

/* Run `cordon audit @sub @arg1 @arg2`; its exit status, its output in @buf. */
static int audit_cli(const char *sub, const char *arg1, const char *arg2, char *buf, size_t size)
{
        const char *args[] = { getenv("CORDON_BIN"), "audit", sub, arg1, arg2, NULL };
        int pipefd[2], status;
        size_t len = 0;
        ssize_t n;
        pid_t pid;

        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(pipefd[1], 1);
                dup2(pipefd[1], 2);
                execv(args[0], (char *const *) args);
                _exit(127);
        }
        close(pipefd[1]);
        while (len + 1 < size && (n = read(pipefd[0], buf + len, size - 1 - len)) > 0)
                len += (size_t) n;
        buf[len] = '\0';
        close(pipefd[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int verify(const char *file, char *buf, size_t size)
{
        return audit_cli("verify", file, NULL, buf, size);
}

/* A record torn by a crash stops every cordon run (exit 125) until `cordon
 * audit repair` cuts it (exit 0, the cut recorded); a line that is not a
 * torn record is refused (exit 1) and left. */
static void test_repair_a_torn_log(void **state)
{
        char state_dir[192], path[256], msg[4096];
        struct stat st, after;
        struct cd_run r;
        int fd;

        (void) state;
        snprintf(state_dir, sizeof(state_dir), "%s/torn-state", base);
        snprintf(path, sizeof(path), "%s/audit/audit.jsonl", state_dir);
        harness_run(&r, NULL, NULL, "--state-dir", state_dir, "--", "/bin/true", NULL);
        assert_int_equal(r.status, 0);
        harness_run_free(&r);
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "{\"seq\":4,\"ti", 12), 12);
        close(fd);
        harness_run(&r, NULL, NULL, "--state-dir", state_dir, "--", "/bin/true", NULL);
        assert_int_equal(r.status, 125);
        assert_non_null(strstr(r.err, "cordon audit repair"));
        harness_run_free(&r);
        assert_int_equal(audit_cli("repair", "--state-dir", state_dir, msg, sizeof(msg)), 0);
        if (!strstr(msg, "cut 12 bytes") || !strstr(msg, "recorded as seq 4"))
                fail_msg("%s", msg);
        assert_int_equal(verify(path, msg, sizeof(msg)), 0);
        harness_run(&r, NULL, NULL, "--state-dir", state_dir, "--", "/bin/true", NULL);
        assert_int_equal(r.status, 0);
        harness_run_free(&r);
        assert_int_equal(audit_cli("repair", "--state-dir", state_dir, msg, sizeof(msg)), 0);
        assert_non_null(strstr(msg, "nothing to repair"));
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "garbage\n", 8), 8);
        close(fd);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(audit_cli("repair", "--state-dir", state_dir, msg, sizeof(msg)), 1);
        assert_non_null(strstr(msg, "not a torn append"));
        assert_int_equal(stat(path, &after), 0);
        assert_int_equal(after.st_size, st.st_size);
        harness_assert_nothing_left();
}

/* Line @n (1-based) of @text: its start and length (newline excluded). */
static const char *line_at(const char *text, int n, size_t *len)
{
        const char *p = text;

        for (int i = 1; i < n; i++) {
                p = strchr(p, '\n');
                assert_non_null(p);
                p++;
        }
        *len = (size_t) (strchr(p, '\n') - p);
        return p;
}

static void write_variant(const char *path, const char *a, size_t alen, const char *b, size_t blen,
                          const char *c)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, a, alen), (ssize_t) alen);
        assert_int_equal(write(fd, b, blen), (ssize_t) blen);
        assert_int_equal(write(fd, c, strlen(c)), (ssize_t) strlen(c));
        close(fd);
}

/* SHA-256 comes from libcrypto linked statically (include/cordon/crypto.h;
 * the default, CORDON_STATIC_HELPERS): a libcrypto.so.3 that cannot be
 * loaded, first on the library path, changes nothing. The job runs and its
 * records chain. Before, it was loaded at run time, and such a library
 * failed every launch. */
static void test_no_libcrypto_so_needed(void **state)
{
#ifndef CORDON_STATIC_HELPERS
        (void) state;
        skip(); /* -DCORDON_STATIC_HELPERS=OFF: libcrypto.so.3 is linked */
#else
        char dir[192], lib[256], env_var[256];
        char *env[] = { env_var, NULL }, msg[512];
        size_t before = count_started();
        struct cd_run r;
        FILE *f;

        (void) state;
        snprintf(dir, sizeof(dir), "%s/badcrypto", base);
        snprintf(lib, sizeof(lib), "%s/libcrypto.so.3", dir);
        snprintf(env_var, sizeof(env_var), "LD_LIBRARY_PATH=%s", dir);
        assert_int_equal(mkdir(dir, 0755), 0);
        f = fopen(lib, "w");
        assert_non_null(f);
        assert_int_equal(fputs("not a library\n", f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
        harness_run(&r, NULL, env, "--", "/bin/sh", "-c", "echo ran", NULL);
        if (r.status != 0)
                fail_msg("status %d, stderr: %s", r.status, r.err);
        assert_string_equal(r.out, "ran\n");
        assert_int_equal(count_started(), before + 1);
        harness_run_free(&r);
        assert_int_equal(verify(log_path, msg, sizeof(msg)), 0);
        harness_assert_nothing_left();
        assert_int_equal(unlink(lib), 0);
        assert_int_equal(rmdir(dir), 0);
#endif
}

static void test_verify_catches_tampering(void **state)
{
        char path[256], msg[4096], *text;
        const char *l2, *l3;
        size_t len, n2, n3;
        struct cd_run r;

        (void) state;
        harness_run(&r, NULL, NULL, "--", "/bin/true", NULL);
        harness_run_free(&r);
        assert_int_equal(verify(log_path, msg, sizeof(msg)), 0);
        assert_non_null(strstr(msg, "ok: "));
        text = slurp(log_path, &len);
        snprintf(path, sizeof(path), "%s/tampered.jsonl", base);
        l2 = line_at(text, 2, &n2);
        l3 = line_at(text, 3, &n3);

        /* One byte flipped in line 2 (a digit of its time). */
        {
                char *copy = strdup(text);
                char *t = copy + (l2 - text) + (strstr(l2, "\"time\":\"") - l2) + 9;

                *t = *t == '1' ? '2' : '1';
                write_variant(path, copy, len, "", 0, "");
                free(copy);
        }
        assert_int_equal(verify(path, msg, sizeof(msg)), 1);
        assert_non_null(strstr(msg, "line 3")); /* line 3's prev no longer matches */

        /* Line 2 deleted. */
        write_variant(path, text, (size_t) (l2 - text), l3, len - (size_t) (l3 - text), "");
        assert_int_equal(verify(path, msg, sizeof(msg)), 1);
        assert_non_null(strstr(msg, "line 2"));

        /* Lines 2 and 3 swapped. */
        {
                char *swapped = malloc(len + 1);
                size_t k = 0;

                assert_non_null(swapped);
                memcpy(swapped + k, text, (size_t) (l2 - text));
                k += (size_t) (l2 - text);
                memcpy(swapped + k, l3, n3 + 1);
                k += n3 + 1;
                memcpy(swapped + k, l2, n2 + 1);
                k += n2 + 1;
                memcpy(swapped + k, l3 + n3 + 1, len - k);
                write_variant(path, swapped, len, "", 0, "");
                free(swapped);
        }
        assert_int_equal(verify(path, msg, sizeof(msg)), 1);
        assert_non_null(strstr(msg, "line 2"));
        free(text);
}

static off_t size_of(const char *path)
{
        struct stat st;

        assert_int_equal(stat(path, &st), 0);
        return st.st_size;
}

/* cordon run under a file size limit of its own (ulimit -f, LimitFSIZE=):
 * a write past it fails with EFBIG, and what was written is undone. The
 * SIGXFSZ it used to die of left half a record, after which every append
 * (cordond's too) was refused, or a truncated artifact and no job.finished. */
static void test_file_size_limit_undoes_writes(void **state)
{
        struct rlimit lim = { .rlim_max = RLIM_INFINITY };
        char out[192], msg[4096], path[256];
        struct cd_run r;
        off_t before;

        (void) state;
        harness_run(&r, NULL, NULL, "--", "/bin/true", NULL);
        harness_run_free(&r);
        /* The first records would pass the limit: refused, the log cut back. */
        before = size_of(log_path);
        lim.rlim_cur = (rlim_t) before + 100;
        harness_child_fsize = &lim;
        harness_run(&r, NULL, NULL, "--", "/bin/sh", "-c", "echo ran", NULL);
        harness_child_fsize = NULL;
        if (r.status != 125 || !strstr(r.err, "the job did not run") ||
            !strstr(r.err, "File too large"))
                fail_msg("status %d, stderr: %s", r.status, r.err);
        assert_null(strstr(r.out, "ran"));
        assert_int_equal(size_of(log_path), before);
        assert_int_equal(verify(log_path, msg, sizeof(msg)), 0);
        harness_run_free(&r);
        harness_assert_nothing_left();
        /* An artifact past it: not stored, the run a setup_error, recorded. */
        snprintf(out, sizeof(out), "%s/fsize-out", base);
        lim.rlim_cur = (rlim_t) size_of(log_path) + 65536;
        harness_child_fsize = &lim;
        harness_run(&r, NULL, NULL, "--out", out, "--", "/bin/sh", "-c",
                    "head -c 1048576 /dev/zero > /out/big.bin", NULL);
        harness_child_fsize = NULL;
        if (r.status != 125 || !strstr(r.err, "File too large"))
                fail_msg("status %d, stderr: %s", r.status, r.err);
        snprintf(path, sizeof(path), "%s/big.bin", out);
        assert_int_equal(access(path, F_OK), -1);
        assert_string_equal(harness_result_str(&r, "verdict"), "setup_error");
        {
                json_t *recs = records_of(harness_result_str(&r, "job"));
                size_t n = json_array_size(recs);

                assert_true(n >= 3);
                assert_string_equal(event_of(recs, n - 1), "job.finished");
                json_decref(recs);
        }
        assert_int_equal(verify(log_path, msg, sizeof(msg)), 0);
        harness_run_free(&r);
        harness_assert_nothing_left();
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_event_recorded),
                cmocka_unit_test(test_setup_error_recorded),
                cmocka_unit_test(test_failed_directory_fsync_is_undone),
                cmocka_unit_test(test_cancel_recorded),
                cmocka_unit_test(test_killed_run_closed_by_the_next),
                cmocka_unit_test(test_job_of_a_crashed_boot_closed_by_the_next_boot),
                cmocka_unit_test(test_boot_note_past_the_log_end_read_from_the_start),
                cmocka_unit_test(test_job_of_a_run_whose_sweep_failed_closed_by_the_next_boot),
                cmocka_unit_test(test_first_runs_of_a_boot_at_once_close_a_job_once),
                cmocka_unit_test(test_unusable_log_refuses_the_job),
                cmocka_unit_test(test_no_libcrypto_so_needed),
                cmocka_unit_test(test_no_pii_in_audit_or_logs),
                cmocka_unit_test(test_verify_catches_tampering),
                cmocka_unit_test(test_repair_a_torn_log),
                cmocka_unit_test(test_file_size_limit_undoes_writes),
        };

        harness_require_root();
        return cmocka_run_group_tests_name("audit_run", tests, setup, teardown);
}
