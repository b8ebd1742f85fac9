/* SPDX-License-Identifier: MIT */
/*
 * cordon-probe [--bare] NAME [ARGS...]    run one probe
 * cordon-probe --list                     name, arguments and summary of each
 * cordon-probe --sleep SECONDS            a target for the bare runs (the harness's
 *                                         stand-in for pid 1); dies with its parent
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "probe.h"

static const struct {
        const struct probe *list;
        const size_t *n;
} groups[] = {
        { caps_probes, &caps_probes_n },         { ns_probes, &ns_probes_n },
        { proc_probes, &proc_probes_n },         { fs_probes, &fs_probes_n },
        { mount_probes, &mount_probes_n },       { kernel_probes, &kernel_probes_n },
        { arch_probes, &arch_probes_n },         { net_probes, &net_probes_n },
        { tty_probes, &tty_probes_n },           { ipc_probes, &ipc_probes_n },
        { resource_probes, &resource_probes_n },
};

static const char *const words[] = {
        [BLOCKED] = "blocked",
        [ESCAPED] = "escaped",
        [BROKEN] = "broken",
        [NOT_APPLICABLE] = "n/a",
};

static const struct probe *find(const char *name)
{
        for (size_t g = 0; g < ELEMENTSOF(groups); g++)
                for (size_t i = 0; i < *groups[g].n; i++)
                        if (strcmp(groups[g].list[i].name, name) == 0)
                                return &groups[g].list[i];
        return NULL;
}

static void list(void)
{
        for (size_t g = 0; g < ELEMENTSOF(groups); g++)
                for (size_t i = 0; i < *groups[g].n; i++) {
                        const struct probe *p = &groups[g].list[i];

                        printf("%s\t%s\t%s\n", p->name, p->args, p->summary);
                }
}

static int decoy(const char *seconds)
{
        unsigned long long s;

        if (parse_uint(seconds, 86400, &s) < 0)
                return BROKEN;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                return BROKEN;
        while (s > 0)
                s = sleep((unsigned int) s);
        return 0;
}

static int usage(FILE *f, int status)
{
        fprintf(f, "Usage: cordon-probe [--bare] NAME [ARGS...]\n"
                   "       cordon-probe --list\n"
                   "       cordon-probe --sleep SECONDS\n"
                   "\n"
                   "Attempts one sandbox escape and prints 'NAME: OUTCOME: detail'.\n"
                   "Exit status: 0 blocked, 1 escaped, 2 the probe broke, 3 not applicable.\n"
                   "--bare: running on the host to show the probe sees the hole; a feature\n"
                   "the kernel lacks is then n/a, not blocked.\n");
        return status;
}

int main(int argc, char **argv)
{
        struct probe_ctx c = { 0 };
        const struct probe *p;
        int i = 1, r;

        if (argc > i && strcmp(argv[i], "--bare") == 0) {
                c.bare = true;
                i++;
        }
        if (argc <= i)
                return usage(stderr, BROKEN);
        if (strcmp(argv[i], "--list") == 0) {
                list();
                return 0;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
                return usage(stdout, 0);
        if (strcmp(argv[i], "--sleep") == 0 && argc == i + 2)
                return decoy(argv[i + 1]);
        p = find(argv[i]);
        if (!p) {
                fprintf(stderr, "cordon-probe: unknown probe '%s' (see --list)\n", argv[i]);
                return BROKEN;
        }
        c.name = p->name;
        /* Default action of SIGALRM ends a probe that hangs; the harness
         * reports it as broken. */
        alarm(PROBE_TIMEOUT_S);
        r = p->fn(&c, argc - i - 1, argv + i + 1);
        if (r < BLOCKED || r > NOT_APPLICABLE) {
                note(&c, "probe returned %d", r);
                r = BROKEN;
        }
        printf("%s: %s: %s\n", c.name, words[r], c.detail[0] ? c.detail : "-");
        if (fflush(stdout) != 0)
                return BROKEN;
        return r;
}
