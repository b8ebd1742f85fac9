/* SPDX-License-Identifier: MIT */
/*
 * A response body made by a producer thread (api.h): the producer writes
 * into a pipe and says at the end whether what it wrote is whole. The HTTP
 * layer ends the response cleanly only then, and breaks the connection
 * otherwise, so that a client never takes a body cut short (a tar missing
 * its last files) for a whole one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "cordon/api.h"
#include "cordon/cleanup.h"

struct cd_api_stream {
        int read_fd;
        int write_fd;
        atomic_int refs;
        atomic_bool whole;
};

int cd_api_stream_new(struct cd_api_stream **ret)
{
        struct cd_api_stream *s = calloc(1, sizeof(*s));
        int p[2];

        if (!s)
                return -ENOMEM;
        if (pipe2(p, O_CLOEXEC) < 0) {
                int r = -errno;

                free(s);
                return r;
        }
        s->read_fd = p[0];
        s->write_fd = p[1];
        atomic_init(&s->refs, 2); /* the producer's and the response's */
        atomic_init(&s->whole, false);
        *ret = s;
        return 0;
}

int cd_api_stream_fd(const struct cd_api_stream *s)
{
        return s->write_fd;
}

static void unref(struct cd_api_stream *s)
{
        if (atomic_fetch_sub(&s->refs, 1) != 1)
                return;
        (void) cd_close(s->read_fd);
        (void) cd_close(s->write_fd);
        free(s);
}

void cd_api_stream_release(struct cd_api_stream *s)
{
        if (!s)
                return;
        /* The reader is done (the body was sent, or the client went away):
         * closing its end now makes a producer still writing get EPIPE and
         * stop, instead of blocking on a full pipe for good. */
        s->read_fd = cd_close(s->read_fd);
        unref(s);
}

void cd_api_stream_end(struct cd_api_stream *s, bool whole)
{
        /* Before the close: the reader sees end of file only after it. */
        atomic_store(&s->whole, whole);
        s->write_fd = cd_close(s->write_fd);
        unref(s);
}

ssize_t cd_api_stream_read(struct cd_api_stream *s, char *buf, size_t max)
{
        ssize_t n;

        do
                n = read(s->read_fd, buf, max);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n == 0 && !atomic_load(&s->whole))
                return -EPIPE;
        return n;
}
