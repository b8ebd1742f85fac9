/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Slow clients: libmicrohttpd's connection timeout restarts at every byte,
 * so a client that trickles a request head one byte at a time would hold a
 * connection (and its thread) for ever. The watchdog shuts down any
 * connection that has not completed a request head within @head_timeout
 * of connecting or of its previous request, whatever it sends meanwhile.
 * An upload gets a deadline of its own: the bytes that frame a chunked
 * body (chunk sizes, extensions, trailers) reach no handler, so a check
 * of the clock as body bytes arrive would never run for a client that
 * trickles only those. Other requests are bounded elsewhere (long-poll
 * wait).
 */

#include <stdbool.h>
#include <stdint.h>

#include "cordon/err.h"

struct cd_watchdog;

int cd_watchdog_start(unsigned int head_timeout_s, struct cd_watchdog **ret, struct cd_err *err);
/* Stop the thread and free; accepts NULL. */
void cd_watchdog_stop(struct cd_watchdog *w);

/* A new connection on @fd; the handle to pass below, or NULL on ENOMEM
 * (the connection is then watched by MHD's own timeout only). */
void *cd_watchdog_add(struct cd_watchdog *w, int fd);
/* The connection is closing: forget it (before its fd is closed). */
void cd_watchdog_remove(struct cd_watchdog *w, void *handle);
/* A request head is complete (@busy) or its answer is done (!@busy, which
 * also lifts a deadline). */
void cd_watchdog_busy(struct cd_watchdog *w, void *handle, bool busy);
/* Shut the connection down once cd_now_ms() is past @deadline_ms, busy or
 * not; 0 lifts the deadline. Accepts a NULL handle. */
void cd_watchdog_deadline(struct cd_watchdog *w, void *handle, uint64_t deadline_ms);
