/* SPDX-License-Identifier: MIT */
/*
 * bench/collect: time the artifact collector on a directory, the way
 * cordon collects a job's /out: cordon-bench-collect SRC DEST prints the
 * milliseconds and the bytes taken. Run by bench/artifacts.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cordon/artifacts.h"
#include "cordon/plan.h"

int main(int argc, char **argv)
{
        struct cd_artifact_rules rules;
        struct cd_manifest m;
        struct cd_err err = { 0 };
        struct timespec a, b;
        struct stat st;
        int src, dest;

        if (argc != 3)
                return 2;
        src = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src < 0 || fstat(src, &st) < 0 || mkdir(argv[2], 0755) < 0)
                return 2;
        dest = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cd_artifact_rules_default(&rules);
        rules.max_files = 100000;
        rules.max_total_bytes = rules.max_file_bytes = 1ULL << 40;
        rules.max_time_ms = 0; /* timed here, not cut short */
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (cd_artifacts_collect(src,
                                 &(struct cd_collect){ .rules = &rules,
                                                       .job_uid = st.st_uid,
                                                       .job_gid = st.st_gid,
                                                       .dest_fd = dest,
                                                       .cancel_fd = -1 },
                                 &m, &err) < 0) {
                fprintf(stderr, "collect: %s\n", err.msg);
                return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("%.1f ms, %" PRIu64 " files, %" PRIu64 " bytes, %" PRIu64 " refused\n",
               (double) (b.tv_sec - a.tv_sec) * 1e3 + (double) (b.tv_nsec - a.tv_nsec) / 1e6,
               m.files, m.bytes, m.refused);
        cd_manifest_clear(&m);
        return 0;
}
