/* SPDX-License-Identifier: MIT */
/*
 * A run leaves nothing behind: no process, mount, cgroup, namespace handle
 * or temporary directory, after success, after every failed setup step,
 * after a killed job and after a killed supervisor. The harness teardown
 * checks again at the end.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cordon/cleanup.h"
#include "cordon/launcher.h"
#include "cordon/plan.h"
#include "cordon/result.h"
#include "harness.h"

static void test_nothing_left_after_success(void **state)
{
        struct cd_run r;

        (void) state;
        harness_run(&r, NULL, NULL, "--", "/bin/sh", "-c", "echo hi > /out/f; sleep 0.2 &", NULL);
        assert_int_equal(r.status, 0);
        harness_run_free(&r);
        harness_assert_nothing_left();
}

#ifdef CORDON_FAULT_INJECTION
/* Every step of the launch, parent and child side, in order (net_up fails
 * on the thread that makes the network namespace, meanwhile). */
static const char *const steps[] = {
        "slot",  "net",   "net_up", "cgroup",   "rootfs",  "scratch", "inputs",
        "relay", "clone", "userns", "oom",      "creds",   "mount",   "uts",
        "caps",  "init",  "rlimit", "landlock", "seccomp",
};
#endif

static void test_nothing_left_after_failed_setup(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                char fault[64], expect[64];
                char *env[] = { fault, NULL };
                struct cd_run r;

                snprintf(fault, sizeof(fault), "CORDON_FAULT=%s", steps[i]);
                snprintf(expect, sizeof(expect), "%s: injected fault", steps[i]);
                harness_run(&r, NULL, env, "--", "/bin/sh", "-c", "echo ran", NULL);
                if (r.status != 125 ||
                    strcmp(harness_result_str(&r, "verdict"), "setup_error") != 0)
                        fail_msg("step %s: status %d, verdict %s", steps[i], r.status,
                                 harness_result_str(&r, "verdict"));
                /* The job never ran half-isolated: it did not run at all. */
                assert_string_equal(r.out, "");
                assert_non_null(strstr(harness_result_str(&r, "error"), expect));
                assert_non_null(strstr(r.err, expect));
                harness_run_free(&r);
                harness_assert_nothing_left();
        }
#endif
}

/* The job ran, then its teardown failed (injected after the cgroup is
 * removed): its own verdict stands in the result, with the teardown's
 * error, and cordon run exits 125, not the job's 0. */
static void test_failed_teardown_after_the_job_ran(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        char fault[] = "CORDON_FAULT=teardown";
        char *env[] = { fault, NULL };
        struct cd_run r;

        harness_run(&r, NULL, env, "--", "/bin/sh", "-c", "echo ran", NULL);
        if (r.status != 125)
                fail_msg("status %d, stderr: %s", r.status, r.err);
        assert_string_equal(r.out, "ran\n");
        assert_string_equal(harness_result_str(&r, "verdict"), "ok");
        assert_non_null(strstr(harness_result_str(&r, "error"), "teardown: injected fault"));
        harness_run_free(&r);
        harness_assert_nothing_left();
#endif
}

/* Pid 1 cannot read whether the payload's exec worked (injected: believed
 * unreachable, since pid 1 resumes only after the exec): the job is ended
 * there, not left to run unaccounted for. The payload had exec'd; its
 * "ran", 5 s later, never comes. */
static void test_unreadable_exec_status_ends_the_job(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        char fault[] = "CORDON_FAULT=exec_status";
        char *env[] = { fault, NULL };
        struct cd_run r;

        harness_run(&r, NULL, env, "--", "/bin/sh", "-c", "sleep 5; echo ran", NULL);
        if (r.status != 125 || strcmp(harness_result_str(&r, "verdict"), "setup_error") != 0)
                fail_msg("status %d, verdict %s", r.status, harness_result_str(&r, "verdict"));
        assert_string_equal(r.out, "");
        assert_non_null(strstr(harness_result_str(&r, "error"), "exec_status: injected fault"));
        harness_run_free(&r);
        harness_assert_nothing_left();
#endif
}

static void test_nothing_left_after_timeout(void **state)
{
        struct cd_run r;

        (void) state;
        harness_run(&r, NULL, NULL, "--wall", "1s", "--grace", "200ms", "--", "/bin/sh", "-c",
                    "trap '' TERM; sleep 30 & sleep 30", NULL);
        assert_int_equal(r.status, 124);
        assert_string_equal(harness_result_str(&r, "verdict"), "timeout");
        harness_run_free(&r);
        harness_assert_nothing_left();
}

static int job_processes(void)
{
        return harness_job_processes();
}

/* Poll @cond up to @ms; generous bounds only catch hangs. */
static int wait_for(int (*count)(void), int want, int ms)
{
        for (int i = 0; i < ms / 10; i++) {
                struct timespec ts = { 0, 10 * 1000 * 1000 };

                if (count() == want)
                        return 1;
                nanosleep(&ts, NULL);
        }
        return count() == want;
}

static int at_least_two(void)
{
        return job_processes() >= 2 ? 1 : 0;
}

/* pid 1, the shell and its sleep: the shell's trap is set before the sleep starts. */
static int at_least_three(void)
{
        return job_processes() >= 3 ? 1 : 0;
}

static void test_killed_supervisor_takes_the_sandbox_along(void **state)
{
        const char *const args[] = { "--", "/bin/sh", "-c", "sleep 60 & sleep 60", NULL };
        char result[128];
        struct cd_run r;
        pid_t pid;

        (void) state;
        snprintf(result, sizeof(result), "/run/cordon-test-%d-kill.json", (int) getpid());
        pid = harness_spawn(result, args);
        assert_true(wait_for(at_least_two, 1, 20000));
        assert_int_equal(kill(pid, SIGKILL), 0);
        harness_wait(pid, result, &r);
        assert_int_equal(r.status, 128 + SIGKILL);
        harness_run_free(&r);
        /* pid 1 has a parent-death signal: the whole pid namespace goes. */
        assert_true(wait_for(job_processes, 0, 20000));
        /* The dead supervisor's cgroup is swept by the next run. */
        harness_run(&r, NULL, NULL, "--", "/bin/true", NULL);
        assert_int_equal(r.status, 0);
        harness_run_free(&r);
        harness_assert_nothing_left();
}

/* A run's launcher removes the stale job cgroup @leaf (made here, once a
 * first run has made its parent), and leaves nothing else. */
static void assert_swept(const char *leaf)
{
        struct cd_run r;

        harness_run(&r, NULL, NULL, "--", "/bin/true", NULL); /* the parents exist */
        assert_int_equal(r.status, 0);
        harness_run_free(&r);
        assert_int_equal(mkdir(leaf, 0755), 0);
        harness_run(&r, NULL, NULL, "--", "/bin/true", NULL);
        assert_int_equal(r.status, 0);
        harness_run_free(&r);
        if (access(leaf, F_OK) == 0) {
                (void) rmdir(leaf);
                fail_msg("%s was left", leaf);
        }
        harness_assert_nothing_left();
}

/* A leaf left by a killed supervisor of a version that named leaves by
 * slot index ("slot-0", not "slot-<uid>") is swept too. */
static void test_leaf_of_an_older_version_is_swept(void **state)
{
        bool v2 = strcmp(harness_cgroup_mode(), "v2") == 0;
        char leaf[256];

        (void) state;
        snprintf(leaf, sizeof(leaf), "/sys/fs/cgroup/%s%s/slot-0", v2 ? "" : "memory/",
                 harness_cgroup_parent());
        assert_swept(leaf);
}

/* v1: a supervisor killed while it removed a leaf's directories (memory
 * first) leaves them in the later hierarchies only. The next launcher's
 * sweep finds them there too, not only in the memory hierarchy. */
static void test_leaf_left_in_one_hierarchy_is_swept(void **state)
{
        char leaf[256];

        (void) state;
        if (strcmp(harness_cgroup_mode(), "v1") != 0)
                skip(); /* v2 has one hierarchy */
        /* A slot of the default uid range that no run holds. */
        snprintf(leaf, sizeof(leaf), "/sys/fs/cgroup/freezer/%s/slot-%u", harness_cgroup_parent(),
                 1879048192u + 1000u);
        assert_swept(leaf);
}

/* A stale leaf holding a task: a host process put into an unheld slot's
 * leaf, in every hierarchy. */
static pid_t stale_task = -1;
static const char *const hierarchies_v1[] = { "memory", "cpu", "cpuacct", "pids", "freezer" };
static const char *const hierarchies_v2[] = { "" };

static size_t hierarchies(const char *const **ret)
{
        bool v2 = strcmp(harness_cgroup_mode(), "v2") == 0;

        *ret = v2 ? hierarchies_v2 : hierarchies_v1;
        return v2 ? ELEMENTSOF(hierarchies_v2) : ELEMENTSOF(hierarchies_v1);
}

static void stale_leaf_path(char *buf, size_t size, const char *h)
{
        snprintf(buf, size, "/sys/fs/cgroup/%s%s%s/slot-%u", h, *h ? "/" : "",
                 harness_cgroup_parent(), 1879048192u + 1001u);
}

static int stale_teardown(void **state)
{
        const char *const *hs;
        size_t n = hierarchies(&hs);
        char dir[512];

        (void) state;
        if (stale_task > 0) {
                (void) kill(stale_task, SIGKILL);
                (void) waitpid(stale_task, NULL, 0);
                stale_task = -1;
        }
        for (size_t i = 0; i < n; i++) {
                stale_leaf_path(dir, sizeof(dir), hs[i]);
                (void) rmdir(dir);
        }
        return 0;
}

static void put_into(const char *dir, pid_t pid)
{
        char path[600];
        FILE *f;

        snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_true(fprintf(f, "%d\n", (int) pid) > 0);
        assert_int_equal(fclose(f), 0);
}

/* rmdir(2) of the job's leaf is what proves it empty; a leaf that still
 * holds a task is refused, and only then are its tasks killed. A stale
 * leaf with a live task (the sweep's case) takes that path: the next run
 * kills the task and removes the leaf in every hierarchy. */
static void test_stale_leaf_with_a_task_is_emptied(void **state)
{
        const char *const *hs;
        size_t n = hierarchies(&hs);
        char dir[512];
        struct cd_run r;
        int status;

        (void) state;
        harness_run(&r, NULL, NULL, "--", "/bin/true", NULL); /* the parents exist */
        assert_int_equal(r.status, 0);
        harness_run_free(&r);
        stale_task = fork();
        assert_true(stale_task >= 0);
        if (stale_task == 0) {
                (void) pause();
                _exit(0);
        }
        for (size_t i = 0; i < n; i++) {
                stale_leaf_path(dir, sizeof(dir), hs[i]);
                assert_int_equal(mkdir(dir, 0755), 0);
                put_into(dir, stale_task);
        }
        harness_run(&r, NULL, NULL, "--", "/bin/true", NULL);
        assert_int_equal(r.status, 0);
        harness_run_free(&r);
        assert_int_equal(waitpid(stale_task, &status, 0), stale_task);
        stale_task = -1;
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        for (size_t i = 0; i < n; i++) {
                stale_leaf_path(dir, sizeof(dir), hs[i]);
                if (access(dir, F_OK) == 0)
                        fail_msg("a stale leaf was left in %s", *hs[i] ? hs[i] : "cgroup2");
        }
        harness_assert_nothing_left();
}

/* v1: the launching thread sits in the job's leaves for its clone3, and
 * may then be its own cgroup's last task. Removed meanwhile (a service
 * manager tidying an empty cgroup), that cgroup cannot take the thread back:
 * it goes to the hierarchy's root instead, and the job runs. Before, the
 * thread stayed in the job's leaves, the launch failed, and the teardown
 * froze the leaf with the thread in it: cordon run hung for good. */
static char own_test[64];
static pid_t own_pid = -1;

static int own_teardown(void **state)
{
        char dir[512];
        DIR *d;

        (void) state;
        if (own_pid > 0) {
                /* A launcher that froze itself: thaw every leaf, then end it. */
                snprintf(dir, sizeof(dir), "/sys/fs/cgroup/freezer/%s", harness_cgroup_parent());
                d = opendir(dir);
                for (struct dirent *e; d && (e = readdir(d));) {
                        char path[800];
                        FILE *f;

                        snprintf(path, sizeof(path), "%s/%s/freezer.state", dir, e->d_name);
                        f = e->d_name[0] != '.' ? fopen(path, "we") : NULL;
                        if (f) {
                                (void) fputs("THAWED\n", f);
                                (void) fclose(f);
                        }
                }
                if (d)
                        (void) closedir(d);
                (void) kill(own_pid, SIGKILL);
                (void) waitpid(own_pid, NULL, 0);
                own_pid = -1;
        }
        for (size_t i = 0; i < ELEMENTSOF(hierarchies_v1); i++) {
                snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s/%s", hierarchies_v1[i], own_test);
                (void) rmdir(dir);
        }
        return 0;
}

#ifdef CORDON_FAULT_INJECTION
/* The test process's own cgroup in hierarchy @h, from /proc/self/cgroup. */
static void own_cgroup(const char *h, char *buf, size_t size)
{
        char line[512];
        FILE *f = fopen("/proc/self/cgroup", "re");

        assert_non_null(f);
        buf[0] = '\0';
        while (fgets(line, sizeof(line), f)) {
                char *ctrls = strchr(line, ':'), *path, *c;

                path = ctrls ? strchr(ctrls + 1, ':') : NULL;
                if (!path)
                        continue;
                *path++ = '\0';
                path[strcspn(path, "\n")] = '\0';
                for (c = ctrls + 1; c; c = strchr(c, ','), c = c ? c + 1 : NULL)
                        if (strncmp(c, h, strlen(h)) == 0 && (c[strlen(h)] == ',' || !c[strlen(h)]))
                                snprintf(buf, size, "/sys/fs/cgroup/%s%s", h, path);
        }
        (void) fclose(f);
        assert_true(buf[0] != '\0');
}

/* cordon run started in a cgroup of its own in every hierarchy, held with
 * its thread in the job's leaves (@faults hold it there) while the test
 * removes that cgroup. */
static void run_while_own_cgroup_goes(const char *faults, struct cd_run *r)
{
        const char *args[] = { "--", "/bin/sh", "-c", "echo ran", NULL };
        char dir[512], orig[ELEMENTSOF(hierarchies_v1)][512];
        char release[300], reached[300], result[300];

        snprintf(own_test, sizeof(own_test), "cordon-test-own-%d", (int) getpid());
        snprintf(release, sizeof(release), "%s/own-release", harness_state_dir());
        snprintf(reached, sizeof(reached), "%s/own-reached", harness_state_dir());
        snprintf(result, sizeof(result), "%s/own.json", harness_state_dir());
        (void) unlink(reached);
        (void) rmdir(release);
        for (size_t i = 0; i < ELEMENTSOF(hierarchies_v1); i++) {
                own_cgroup(hierarchies_v1[i], orig[i], sizeof(orig[i]));
                snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s/%s", hierarchies_v1[i], own_test);
                assert_true(mkdir(dir, 0755) == 0 || errno == EEXIST); /* cpu,cpuacct */
                put_into(dir, getpid());
        }
        assert_int_equal(setenv("CORDON_FAULT", faults, 1), 0);
        assert_int_equal(setenv("CORDON_FAULT_RELEASE", release, 1), 0);
        assert_int_equal(setenv("CORDON_FAULT_REACHED", reached, 1), 0);
        own_pid = harness_spawn(result, args);
        (void) unsetenv("CORDON_FAULT");
        (void) unsetenv("CORDON_FAULT_RELEASE");
        (void) unsetenv("CORDON_FAULT_REACHED");
        for (size_t i = 0; i < ELEMENTSOF(hierarchies_v1); i++)
                put_into(orig[i], getpid());
        if (!harness_until(harness_path_exists, reached, 30000))
                fail_msg("the hold was never reached");
        /* Its one thread is in the job's leaves: the own cgroups are empty. */
        for (size_t i = 0; i < ELEMENTSOF(hierarchies_v1); i++) {
                snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s/%s", hierarchies_v1[i], own_test);
                if (rmdir(dir) < 0 && errno != ENOENT)
                        fail_msg("rmdir %s: %s", dir, strerror(errno));
        }
        assert_int_equal(mkdir(release, 0700), 0);
        /* 60 s catches the hang, not a timing. */
        if (!harness_wait_for(own_pid, result, 60000, r))
                fail_msg("cordon run hung after its own cgroup was removed");
        own_pid = -1;
        assert_int_equal(rmdir(release), 0);
}
#endif

static void test_own_cgroup_gone_during_clone(void **state)
{
        (void) state;
#ifndef CORDON_FAULT_INJECTION
        skip();
#else
        struct cd_run r;

        if (strcmp(harness_cgroup_mode(), "v1") != 0)
                skip(); /* v2: clone3 puts the child in; the thread never moves */
        run_while_own_cgroup_goes("clone_hold", &r);
        if (r.status != 0)
                fail_msg("status %d, error: %s", r.status, harness_result_str(&r, "error"));
        assert_string_equal(harness_result_str(&r, "verdict"), "ok");
        harness_run_free(&r);
        harness_assert_nothing_left();
        /* The root refusing it too (injected): the thread is still in the
         * job's leaves. The launch fails, and the teardown does not freeze
         * the leaf the thread is in (it would never thaw): the run ends. */
        run_while_own_cgroup_goes("clone_hold,cgroup_top", &r);
        assert_int_equal(r.status, 125);
        assert_string_equal(harness_result_str(&r, "verdict"), "setup_error");
        if (!strstr(harness_result_str(&r, "error"), "move into our own"))
                fail_msg("error: %s", harness_result_str(&r, "error"));
        harness_run_free(&r);
        /* Its leaves, empty once it exited, go with the next run's sweep. */
        harness_run(&r, NULL, NULL, "--", "/bin/true", NULL);
        assert_int_equal(r.status, 0);
        harness_run_free(&r);
        harness_assert_nothing_left();
#endif
}

/* SIGTERM to cordon run cancels the job: pid 1 forwards SIGTERM, and the
 * job's own handler runs (its exit code shows it did). */
static void test_cancel_forwards_sigterm_to_the_job(void **state)
{
        const char *const args[] = { "--grace", "5s", "--",
                                     "/bin/sh", "-c", "trap 'exit 3' TERM; sleep 60 & wait",
                                     NULL };
        char result[128];
        struct cd_run r;
        pid_t pid;

        (void) state;
        snprintf(result, sizeof(result), "/run/cordon-test-%d-cancel.json", (int) getpid());
        pid = harness_spawn(result, args);
        assert_true(wait_for(at_least_three, 1, 20000));
        assert_int_equal(kill(pid, SIGTERM), 0);
        harness_wait(pid, result, &r);
        assert_int_equal(r.status, 123);
        assert_string_equal(harness_result_str(&r, "verdict"), "cancelled");
        assert_int_equal(harness_result_int(&r, "exit_code"), 3);
        /* Well inside the grace period: the job ended on SIGTERM, not SIGKILL. */
        assert_true(harness_result_int(&r, "wall_ms") < 5000);
        harness_run_free(&r);
        harness_assert_nothing_left();
}

/* A plan of "sh -c @script"; with a read-only /usr/lib at /opt/prep when @bind. */
static struct cd_plan *sh_plan(const char *script, bool bind)
{
        char *const argv[] = { "/bin/sh", "-c", (char *) script, NULL };
        char *const no_env[] = { NULL };
        struct cd_plan *plan = NULL;
        struct cd_err err = { 0 };

        if (cd_plan_new_host(argv, no_env, &plan, &err) < 0 ||
            (bind && cd_plan_add_bind(plan, "/usr/lib", "/opt/prep", false, &err) < 0))
                fail_msg("plan: %s", err.msg);
        return plan;
}

/* The job's exit code, or -1 when it did not end ok/failed. */
static int launch_exit(struct cd_launcher *l, const struct cd_plan *plan)
{
        struct cd_launch_io io = {
                .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1, .cancel_fd = -1, .out_dir_fd = -1
        };
        struct cd_result res;
        int r = cd_launch(l, plan, &io, &res), code = res.exit_code;

        if (r < 0 || (res.verdict != CD_VERDICT_OK && res.verdict != CD_VERDICT_FAILED))
                code = -1;
        if (r < 0)
                fprintf(stderr, "launch: %s\n", res.error.msg);
        cd_result_clear(&res);
        return code;
}

/* Network namespaces this process holds an fd of: a prepared one, made
 * and not yet taken by a launch. */
static int netns_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d))) {
                char path[300], link[64];
                ssize_t len;

                snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
                len = readlink(path, link, sizeof(link) - 1);
                if (len > 0 && (link[len] = '\0', strncmp(link, "net:[", 5) == 0))
                        n++;
        }
        closedir(d);
        return n;
}

static bool one_netns_held(void *data)
{
        (void) data;
        return netns_fds() == 1;
}

/*
 * cd_launcher_prepare() builds a plan's root and network namespace ahead
 * (cordon run's path). A launch of that plan takes them; a launch of
 * another plan builds its own (the prepared root, with its extra bind, is
 * not the one it gets); what is prepared and never launched goes with
 * the launcher. None of it leaves anything behind.
 */
static void test_prepared_root_goes_to_its_plan_only(void **state)
{
        struct cd_launcher_config cfg = { .cgroup.parent = harness_cgroup_parent() };
        struct cd_plan *with = sh_plan("test -d /opt/prep/x86_64-linux-gnu", true);
        struct cd_plan *without = sh_plan("test ! -e /opt/prep", false);
        struct cd_launcher *l = NULL;
        struct cd_err err = { 0 };

        (void) state;
        if (cd_launcher_new(&cfg, &l, &err) < 0)
                fail_msg("launcher: %s", err.msg);
        cd_launcher_prepare(l, with);
        assert_true(harness_until(one_netns_held, NULL, 5000)); /* made ahead */
        assert_int_equal(launch_exit(l, with), 0);
        assert_int_equal(netns_fds(), 0); /* taken by the launch */
        cd_launcher_prepare(l, without);  /* replaced by the next */
        cd_launcher_prepare(l, with);
        assert_int_equal(launch_exit(l, without), 0);
        assert_true(harness_until(one_netns_held, NULL, 5000)); /* not taken */
        assert_int_equal(launch_exit(l, with), 0);
        assert_int_equal(netns_fds(), 0);
        cd_launcher_prepare(l, with);
        assert_true(harness_until(one_netns_held, NULL, 5000));
        l = cd_launcher_free(l); /* never launched */
        assert_int_equal(netns_fds(), 0);
        cd_plan_free(with);
        cd_plan_free(without);
        harness_assert_nothing_left();
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_nothing_left_after_success),
                cmocka_unit_test(test_nothing_left_after_failed_setup),
                cmocka_unit_test(test_failed_teardown_after_the_job_ran),
                cmocka_unit_test(test_unreadable_exec_status_ends_the_job),
                cmocka_unit_test(test_nothing_left_after_timeout),
                cmocka_unit_test(test_killed_supervisor_takes_the_sandbox_along),
                cmocka_unit_test(test_leaf_of_an_older_version_is_swept),
                cmocka_unit_test(test_leaf_left_in_one_hierarchy_is_swept),
                cmocka_unit_test_teardown(test_stale_leaf_with_a_task_is_emptied, stale_teardown),
                cmocka_unit_test_teardown(test_own_cgroup_gone_during_clone, own_teardown),
                cmocka_unit_test(test_cancel_forwards_sigterm_to_the_job),
                cmocka_unit_test(test_prepared_root_goes_to_its_plan_only),
        };

        harness_require_root();
        return cmocka_run_group_tests_name("cleanup", tests, harness_setup, harness_teardown);
}
