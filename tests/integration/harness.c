/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cordon/launcher.h"
#include "harness.h"

#define RUN_TIMEOUT_MS (180 * 1000)
#define MAX_ARGS       128

static char run_dir[256];   /* a prefix for this test's files in /run */
static char state_dir[280]; /* the audit log of the runs */
static char cg_parent[64];
static char result_path[300];
static int baseline_mounts = -1;

static const char *const hierarchies_v1[] = { "memory", "cpu", "cpuacct", "pids", "freezer" };

static bool fs_is(const char *path, long magic)
{
        struct statfs fs;

        return statfs(path, &fs) == 0 && fs.f_type == magic;
}

const char *harness_cgroup_mode(void)
{
        const char *m = getenv("CORDON_TEST_CGROUP");

        if (m && *m)
                return m;
        return fs_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC) ? "v2" : "v1";
}

void harness_require_root(void)
{
        const char *mode = harness_cgroup_mode();

        if (geteuid() != 0) {
                printf("SKIP: integration tests need root (they build real sandboxes)\n");
                exit(77);
        }
        if (!getenv("CORDON_BIN") || !getenv("CORDON_PROBE")) {
                printf("SKIP: CORDON_BIN and CORDON_PROBE must name the built binaries\n");
                exit(77);
        }
        if (strcmp(mode, "v2") == 0 && !fs_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC)) {
                printf("SKIP: cgroup v2 requested but /sys/fs/cgroup is not cgroup2 here "
                       "(tests/qemu/run-v2 runs them on a v2 kernel)\n");
                exit(77);
        }
        if (strcmp(mode, "v1") == 0 && !fs_is("/sys/fs/cgroup/memory", CGROUP_SUPER_MAGIC)) {
                printf("SKIP: cgroup v1 requested but there is no v1 memory hierarchy here\n");
                exit(77);
        }
        printf("# cgroup mode: %s\n", mode);
}

const char *harness_cgroup_parent(void)
{
        return cg_parent;
}

/*
 * Mounts a run of cordon could leave in the host's namespace. cordon never
 * mounts there (every mount is detached until the child attaches it in its
 * own namespace), so a leak would be a mount at /tmp or below (where the
 * child attaches the new root) or one naming cordon. Other mounts come and
 * go on a shared machine and are not ours to count.
 */
static int suspicious_mounts(void)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096];
        int n = 0;

        while (f && fgets(line, sizeof(line), f)) {
                char mountpoint[2048];

                if (sscanf(line, "%*s %*s %*s %*s %2047s", mountpoint) != 1)
                        continue;
                if (strcmp(mountpoint, "/tmp") == 0 || strncmp(mountpoint, "/tmp/", 5) == 0 ||
                    strstr(line, "cordon")) {
                        fprintf(stderr, "mount: %s", line);
                        n++;
                }
        }
        if (f)
                fclose(f);
        return n;
}

/* Parents left by a test run that was killed before its teardown (a ctest
 * timeout): "cordon-test-<pid>" whose process is gone, with any empty job
 * cgroup below it. A killed run's jobs died with their supervisor. */
/* Every "slot-*" leaf below @parent (empty, their jobs long dead). */
static void remove_slots(const char *parent)
{
        DIR *d = opendir(parent);
        struct dirent *de;

        while (d && (de = readdir(d))) {
                char sub[800];

                if (strncmp(de->d_name, "slot-", 5) != 0)
                        continue;
                if (snprintf(sub, sizeof(sub), "%s/%s", parent, de->d_name) >= (int) sizeof(sub))
                        continue;
                (void) rmdir(sub);
        }
        if (d)
                closedir(d);
}

static void sweep_dead_parents(void)
{
        bool is_v2 = strcmp(harness_cgroup_mode(), "v2") == 0;
        size_t count = is_v2 ? 1 : sizeof(hierarchies_v1) / sizeof(hierarchies_v1[0]);

        for (size_t i = 0; i < count; i++) {
                char path[512];
                DIR *d;
                struct dirent *de;

                snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", is_v2 ? "" : hierarchies_v1[i]);
                d = opendir(path);
                while (d && (de = readdir(d))) {
                        char proc[64], sub[800];
                        int pid;

                        if (sscanf(de->d_name, "cordon-test-%d", &pid) != 1 || pid <= 0)
                                continue;
                        snprintf(proc, sizeof(proc), "/proc/%d", pid);
                        if (access(proc, F_OK) == 0)
                                continue;
                        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
                        remove_slots(sub);
                        (void) rmdir(sub);
                }
                if (d)
                        closedir(d);
        }
}

int harness_setup(void **state)
{
        (void) state;
        sweep_dead_parents();
        snprintf(run_dir, sizeof(run_dir), "/run/cordon-test-%d", (int) getpid());
        snprintf(cg_parent, sizeof(cg_parent), "cordon-test-%d", (int) getpid());
        snprintf(result_path, sizeof(result_path), "%s.result.json", run_dir);
        snprintf(state_dir, sizeof(state_dir), "%s.state", run_dir);
        baseline_mounts = suspicious_mounts();
        return 0;
}

/* Remove the parent cgroup(s) the run created; they must be empty. */
static void remove_parents(void)
{
        char path[512];

        if (strcmp(harness_cgroup_mode(), "v2") == 0) {
                snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", cg_parent);
                (void) rmdir(path);
                return;
        }
        for (size_t i = 0; i < sizeof(hierarchies_v1) / sizeof(hierarchies_v1[0]); i++) {
                snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/%s", hierarchies_v1[i], cg_parent);
                (void) rmdir(path);
        }
}

static void remove_run_files(void)
{
        (void) unlink(result_path);
        harness_remove_tree(AT_FDCWD, state_dir);
}

size_t harness_audit_count(const char *event)
{
        char path[320], quoted[80], *text = NULL;
        size_t n = 0, len = 0;
        FILE *f;

        snprintf(path, sizeof(path), "%s/audit/audit.jsonl", state_dir);
        snprintf(quoted, sizeof(quoted), "\"%s\"", event);
        f = fopen(path, "re");
        if (!f) {
                assert_int_equal(errno, ENOENT); /* no run has written it yet */
                return 0;
        }
        assert_true(getdelim(&text, &len, '\0', f) >= 0 || feof(f));
        (void) fclose(f);
        for (const char *p = text; p && (p = strstr(p, quoted)); p++)
                n++;
        free(text);
        return n;
}

const char *harness_state_dir(void)
{
        return state_dir;
}

void harness_remove_tree(int parent, const char *name)
{
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *de;

        while (d && (de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno == EISDIR)
                                harness_remove_tree(dirfd(d), de->d_name);
        if (d)
                closedir(d);
        else if (fd >= 0)
                close(fd);
        (void) unlinkat(parent, name, AT_REMOVEDIR);
}

int harness_teardown(void **state)
{
        (void) state;
        harness_assert_nothing_left();
        remove_parents();
        remove_run_files();
        return 0;
}

/* Any child cgroup below our parent is a leftover. */
static int leftover_cgroups(void)
{
        char path[512];
        int n = 0;
        const char *const v2[] = { "" };
        bool is_v2 = strcmp(harness_cgroup_mode(), "v2") == 0;
        size_t count = is_v2 ? 1 : sizeof(hierarchies_v1) / sizeof(hierarchies_v1[0]);

        for (size_t i = 0; i < count; i++) {
                DIR *d;
                struct dirent *de;

                snprintf(path, sizeof(path), "/sys/fs/cgroup/%s%s%s",
                         is_v2 ? v2[0] : hierarchies_v1[i], is_v2 ? "" : "/", cg_parent);
                d = opendir(path);
                while (d && (de = readdir(d)))
                        if (de->d_type == DT_DIR && de->d_name[0] != '.') {
                                fprintf(stderr, "leftover cgroup: %s/%s\n", path, de->d_name);
                                n++;
                        }
                if (d)
                        closedir(d);
        }
        return n;
}

static bool in_job_uid_range(const char *pid)
{
        char path[300], line[256];
        bool in = false;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%s/status", pid);
        f = fopen(path, "re");
        while (f && fgets(line, sizeof(line), f)) {
                unsigned long uid;

                if (sscanf(line, "Uid:\t%lu", &uid) == 1)
                        in = uid >= CD_DEFAULT_UID_BASE &&
                             uid < (unsigned long) CD_DEFAULT_UID_BASE + CD_DEFAULT_UID_COUNT;
        }
        if (f)
                fclose(f);
        return in;
}

/* The parent pid of @pid, or -1. */
static long parent_of(const char *pid)
{
        char path[300], line[256];
        long ppid = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%s/status", pid);
        f = fopen(path, "re");
        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "PPid:\t%ld", &ppid) == 1)
                        break;
        if (f)
                fclose(f);
        return ppid;
}

/* True if @ppid's command line holds this test's cgroup parent: our cordon run. */
static bool parent_is_our_run(long ppid)
{
        char path[64], buf[4096];
        size_t n;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%ld/cmdline", ppid);
        f = fopen(path, "re");
        n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
                fclose(f);
        for (size_t i = 0; i < n; i++)
                if (buf[i] == '\0')
                        buf[i] = ' ';
        buf[n] = '\0';
        return strstr(buf, cg_parent) != NULL;
}

/*
 * Ours: in a cgroup below our parent; or in no cordon cgroup at all (a job
 * process that got out, or the collector's type sniffer, which runs as the
 * job's uid) while its parent is our cordon run or it was orphaned to
 * pid 1. Jobs and sniffers of other cordon runs on the machine are not.
 */
static bool is_ours(const char *pid)
{
        char path[300], line[1024];
        bool other = false, ours = false;
        long ppid;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%s/cgroup", pid);
        f = fopen(path, "re");
        while (f && fgets(line, sizeof(line), f)) {
                if (strstr(line, cg_parent))
                        ours = true;
                else if (strstr(line, ":/cordon"))
                        other = true;
        }
        if (f)
                fclose(f);
        if (ours || other)
                return ours;
        ppid = parent_of(pid);
        return ppid <= 1 || parent_is_our_run(ppid);
}

bool harness_until(bool (*done)(void *data), void *data, unsigned int ms)
{
        for (unsigned int t = 0;; t += 20) {
                if (done(data))
                        return true;
                if (t >= ms)
                        return false;
                usleep(20 * 1000);
        }
}

bool harness_path_exists(void *path)
{
        return access(path, F_OK) == 0;
}

int harness_processes(bool (*match)(pid_t pid, void *data), void *data, pid_t *ret_first)
{
        DIR *d = opendir("/proc");
        struct dirent *de;
        int n = 0;

        if (ret_first)
                *ret_first = -1;
        while (d && (de = readdir(d))) {
                pid_t pid;

                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                pid = (pid_t) strtol(de->d_name, NULL, 10);
                if (!match(pid, data))
                        continue;
                if (n++ == 0 && ret_first)
                        *ret_first = pid;
        }
        if (d)
                closedir(d);
        return n;
}

static bool job_process(pid_t pid, void *report)
{
        char name[16];

        snprintf(name, sizeof(name), "%d", (int) pid);
        if (!in_job_uid_range(name) || !is_ours(name))
                return false;
        if (*(bool *) report)
                fprintf(stderr, "leftover job process %s\n", name);
        return true;
}

static int count_job_processes(bool report)
{
        return harness_processes(job_process, &report, NULL);
}

int harness_job_processes(void)
{
        return count_job_processes(false);
}

void harness_assert_nothing_left(void)
{
        int mounts = suspicious_mounts();

        assert_int_equal(leftover_cgroups(), 0);
        assert_int_equal(count_job_processes(true), 0);
        /* A run must not add a mount to the host's namespace. */
        assert_true(mounts <= baseline_mounts);
}

static void read_result(struct cd_run *r)
{
        json_error_t jerr;

        r->result = json_load_file(result_path, 0, &jerr);
        (void) unlink(result_path);
}

/* Collect stdout and stderr of @pid until both close, feeding @in. */
static void collect(struct cd_run *r, int out_fd, int err_fd, int in_fd, const char *in_data)
{
        size_t cap[2] = { 4096, 4096 }, len[2] = { 0, 0 };
        char *buf[2] = { malloc(cap[0]), malloc(cap[1]) };
        int fds[2] = { out_fd, err_fd };
        size_t in_off = 0, in_len = in_data ? strlen(in_data) : 0;
        struct timespec start;

        clock_gettime(CLOCK_MONOTONIC, &start);
        while (fds[0] >= 0 || fds[1] >= 0) {
                struct pollfd p[3];
                int n = 0;

                for (int i = 0; i < 2; i++)
                        p[n++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
                p[n++] = (struct pollfd){ .fd = in_fd, .events = POLLOUT };
                if (poll(p, (nfds_t) n, 1000) < 0 && errno != EINTR)
                        break;
                for (int i = 0; i < 2; i++) {
                        ssize_t k;

                        if (fds[i] < 0 || !p[i].revents)
                                continue;
                        if (len[i] + 4096 > cap[i]) {
                                cap[i] *= 2;
                                buf[i] = realloc(buf[i], cap[i]);
                        }
                        k = read(fds[i], buf[i] + len[i], cap[i] - len[i] - 1);
                        if (k <= 0) {
                                close(fds[i]);
                                fds[i] = -1;
                        } else {
                                len[i] += (size_t) k;
                        }
                }
                if (in_fd >= 0 && p[2].revents) {
                        ssize_t k = in_off < in_len
                                            ? write(in_fd, in_data + in_off, in_len - in_off)
                                            : 0;

                        if (k > 0)
                                in_off += (size_t) k;
                        if (k <= 0 || in_off >= in_len) {
                                close(in_fd);
                                in_fd = -1;
                        }
                }
                {
                        struct timespec now;

                        clock_gettime(CLOCK_MONOTONIC, &now);
                        if ((now.tv_sec - start.tv_sec) * 1000 > RUN_TIMEOUT_MS)
                                fail_msg("cordon run did not finish within %d s",
                                         RUN_TIMEOUT_MS / 1000);
                }
        }
        if (in_fd >= 0)
                close(in_fd);
        buf[0][len[0]] = '\0';
        buf[1][len[1]] = '\0';
        r->out = buf[0];
        r->out_len = len[0];
        r->err = buf[1];
}

/* Test programs bound read-only into every sandbox, when built. */
static const char *const tools[][2] = {
        { "CORDON_STRESS", "/opt/cordon-stress" },
        { "CORDON_HOSTILE", "/opt/cordon-hostile" },
};
static char tool_binds[2][512];

static size_t base_args_to(const char **argv, char *bind, size_t bind_size, const char *result)
{
        size_t n = 0;

        snprintf(bind, bind_size, "%s:/opt/cordon-probe", getenv("CORDON_PROBE"));
        argv[n++] = getenv("CORDON_BIN");
        argv[n++] = "run";
        argv[n++] = "--state-dir";
        argv[n++] = state_dir;
        argv[n++] = "--cgroup";
        argv[n++] = harness_cgroup_mode();
        argv[n++] = "--cgroup-parent";
        argv[n++] = cg_parent;
        argv[n++] = "--result";
        argv[n++] = result;
        argv[n++] = "--ro-bind";
        argv[n++] = bind;
        for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
                if (!getenv(tools[i][0]))
                        continue;
                snprintf(tool_binds[i], sizeof(tool_binds[i]), "%s:%s", getenv(tools[i][0]),
                         tools[i][1]);
                argv[n++] = "--ro-bind";
                argv[n++] = tool_binds[i];
        }
        return n;
}

static size_t base_args(const char **argv, char *bind, size_t bind_size)
{
        return base_args_to(argv, bind, bind_size, result_path);
}

pid_t harness_spawn(const char *result_file, const char *const *args)
{
        return harness_spawn_to(result_file, args, -1);
}

const char *const *harness_child_cgroups;

pid_t harness_spawn_to(const char *result_file, const char *const *args, int out_fd)
{
        const char *argv[MAX_ARGS];
        char bind[512];
        size_t n = base_args_to(argv, bind, sizeof(bind), result_file);
        pid_t pid;

        for (size_t i = 0; args[i] && n + 1 < MAX_ARGS; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR);

                if (out_fd < 0)
                        out_fd = null;
                if (null < 0 || dup2(null, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(null, 2) < 0)
                        _exit(126);
                for (size_t i = 0; harness_child_cgroups && harness_child_cgroups[i]; i++) {
                        int fd = open(harness_child_cgroups[i], O_WRONLY | O_CLOEXEC);

                        if (fd < 0 || write(fd, "0", 1) != 1)
                                _exit(126);
                        close(fd);
                }
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        return pid;
}

/* @r from the exit @status of a spawned run and its result file (removed). */
static void finish_run(int status, const char *result_file, struct cd_run *r)
{
        json_error_t jerr;

        *r = (struct cd_run){ 0 };
        r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        r->result = json_load_file(result_file, 0, &jerr);
        (void) unlink(result_file);
}

void harness_wait(pid_t pid, const char *result_file, struct cd_run *r)
{
        int status;

        assert_int_equal(waitpid(pid, &status, 0), pid);
        finish_run(status, result_file, r);
}

bool harness_wait_for(pid_t pid, const char *result_file, unsigned int ms, struct cd_run *r)
{
        int status;

        for (unsigned int waited = 0;; waited += 100) {
                pid_t done = waitpid(pid, &status, WNOHANG);

                assert_true(done >= 0);
                if (done == pid)
                        break;
                if (waited >= ms)
                        return false;
                (void) usleep(100000);
        }
        finish_run(status, result_file, r);
        return true;
}

const struct rlimit *harness_child_core;
const struct rlimit *harness_child_fsize;

void harness_runv(struct cd_run *r, const char *stdin_data, char *const *env,
                  const char *const *args)
{
        const char *argv[MAX_ARGS];
        char bind[512];
        size_t n = base_args(argv, bind, sizeof(bind));
        int out[2], err[2], in[2];
        pid_t pid;
        int status;

        for (size_t i = 0; args[i] && n + 1 < MAX_ARGS; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        *r = (struct cd_run){ 0 };
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        assert_int_equal(pipe2(err, O_CLOEXEC), 0);
        assert_int_equal(pipe2(in, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
                        _exit(126);
                for (size_t i = 0; env && env[i]; i++)
                        putenv(env[i]);
                if (harness_child_core && setrlimit(RLIMIT_CORE, harness_child_core) < 0)
                        _exit(126);
                if (harness_child_fsize && setrlimit(RLIMIT_FSIZE, harness_child_fsize) < 0)
                        _exit(126);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        close(out[1]);
        close(err[1]);
        close(in[0]);
        if (!stdin_data) {
                close(in[1]);
                in[1] = -1;
        }
        collect(r, out[0], err[0], in[1], stdin_data);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        read_result(r);
}

void harness_run(struct cd_run *r, const char *stdin_data, char *const *env, const char *arg, ...)
{
        const char *args[MAX_ARGS];
        size_t n = 0;
        va_list ap;

        va_start(ap, arg);
        for (const char *a = arg; a && n + 1 < MAX_ARGS; a = va_arg(ap, const char *))
                args[n++] = a;
        va_end(ap);
        args[n] = NULL;
        harness_runv(r, stdin_data, env, args);
}

int harness_probe(const char *name, const char *arg)
{
        struct cd_run r;
        int status;

        harness_run(&r, NULL, NULL, "--wall", "60s", "--", "/opt/cordon-probe", name, arg, NULL);
        if (r.status != 0)
                fprintf(stderr, "probe %s: %s%s", name, r.out, r.err);
        status = r.status;
        harness_run_free(&r);
        return status;
}

void harness_run_free(struct cd_run *r)
{
        free(r->out);
        free(r->err);
        if (r->result)
                json_decref(r->result);
        *r = (struct cd_run){ 0 };
}

static json_t *lookup(const struct cd_run *r, const char *path)
{
        char key[128];
        json_t *cur = r->result;

        for (const char *p = path; cur && *p;) {
                size_t n = strcspn(p, ".");

                snprintf(key, sizeof(key), "%.*s", (int) n, p);
                cur = json_object_get(cur, key);
                p += n + (p[n] == '.');
        }
        return cur;
}

const char *harness_result_str(const struct cd_run *r, const char *key)
{
        const char *s = json_string_value(lookup(r, key));

        return s ? s : "";
}

long long harness_result_int(const struct cd_run *r, const char *path)
{
        json_t *v = lookup(r, path);

        return json_is_integer(v) ? (long long) json_integer_value(v) : -1;
}
