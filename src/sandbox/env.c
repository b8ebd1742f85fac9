/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sandbox-internal.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

static const char *env_path(char *const *envp)
{
        for (size_t i = 0; envp && envp[i]; i++)
                if (strncmp(envp[i], "PATH=", 5) == 0)
                        return envp[i] + 5;
        return DEFAULT_PATH;
}

/*
 * execvpe() without its allocation and without its /bin/sh fallback for
 * files that are not executables. Messages never name the command: for
 * API jobs it may hold a user-chosen file name.
 */
int cd_exec_child(const struct cd_plan *plan, struct cd_err *err)
{
        const char *file = plan->argv[0];
        const char *path = env_path(plan->envp);
        char buf[PATH_MAX];
        int saved = ENOENT;

        if (strchr(file, '/')) {
                execve(file, plan->argv, plan->envp);
                return cd_err_errno(err, "exec: cannot execute the command");
        }
        while (*path) {
                size_t len = strcspn(path, ":");
                int n = snprintf(buf, sizeof(buf), "%.*s/%s", (int) len, len ? path : ".", file);

                path += len + (path[len] == ':');
                if (n < 0 || (size_t) n >= sizeof(buf))
                        continue;
                execve(buf, plan->argv, plan->envp);
                if (errno == EACCES)
                        saved = EACCES;
                else if (errno != ENOENT && errno != ENOTDIR)
                        return cd_err_errno(err, "exec: cannot execute the command");
        }
        errno = saved;
        return cd_err_errno(err, saved == ENOENT ? "exec: command not found in PATH"
                                                 : "exec: cannot execute the command");
}
