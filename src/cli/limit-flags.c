/* SPDX-License-Identifier: MIT */
/* The limit flags that `run` and `submit` share (cli.h). */
#define _GNU_SOURCE
#include <errno.h>

#include "cli.h"
#include "cordon/cleanup.h"

const struct option *cli_limit_options(struct cli_limit_options *o, const struct option *fixed,
                                       size_t n_fixed, int first_val)
{
        size_t n = 0;

        for (size_t i = 0; i < n_fixed && n + 1 < CLI_MAX_OPTIONS; i++)
                o->opts[n++] = fixed[i];
        for (size_t i = 0; i < cd_n_limit_defs && n + 1 < CLI_MAX_OPTIONS; i++, n++) {
                cd_limit_flag(&cd_limit_defs[i], o->names[n], sizeof(o->names[n]));
                o->opts[n] = (struct option){ o->names[n] + 2, required_argument, NULL,
                                              first_val + (int) i };
        }
        o->opts[n] = (struct option){ 0 };
        return o->opts;
}

int cli_parse_limit(const char *cmd, size_t index, const char *arg, uint64_t *ret)
{
        const struct cd_limit_def *d = &cd_limit_defs[index];
        struct cd_err err;
        char flag[32];
        int r;

        cd_limit_flag(d, flag, sizeof(flag));
        r = cd_limit_parse(d, arg, ret);
        if (r < 0) {
                cli_error(cmd, "%s: %s", flag,
                          r == -ERANGE ? "value out of range" : "invalid value");
                return -EINVAL;
        }
        if (cd_limit_check(d, flag, *ret, &err) < 0) {
                cli_error(cmd, "%s", err.msg);
                return -EINVAL;
        }
        return 0;
}
