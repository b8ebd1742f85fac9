/* SPDX-License-Identifier: MIT */
/*
 * libmicrohttpd on cordond's unix socket (http.h). Before any handler runs:
 * the peer's role (SO_PEERCRED), the connection count, the client's request
 * rate, the URL's length (query included) and escapes, the headers' size,
 * names, body framing and Host, the form of the request target, the
 * route, the role it needs and the query parameters it takes; for an
 * upload, its content type and declared length, for any other route that
 * there is no body. The body is then counted as it arrives, and a problem
 * is answered at once (answer_now(): MHD stops reading the body).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cordon/cleanup.h"
#include "cordon/http.h"
#include "cordon/log.h"
#include "cordon/util.h"
#include "watchdog.h"

#define POST_BUFFER (64U << 10)
/* What a streamed body is read in (the tar of the artifacts). */
#define STREAM_BLOCK (64U << 10)

/* The open connections of one peer uid. */
struct client {
        uint32_t uid;
        unsigned int connections;
        struct client *next;
};

struct cd_http {
        struct MHD_Daemon *mhd;
        struct cd_service *svc;
        atomic_uint connections;
        pthread_mutex_t clients_lock;
        struct client *clients; /* only uids with a connection open */
        struct cd_watchdog *watchdog;
};

/* One connection: its watchdog entry and the client it counts for. */
struct conn_ctx {
        void *watch;
        struct client *client; /* NULL: the peer could not be identified */
        bool refused;          /* answered 503 as it came in: serve nothing */
};

static void *watch_handle(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        struct conn_ctx *c = ci ? ci->socket_context : NULL;

        return c ? c->watch : NULL;
}

/* Count a connection of @uid. Returns its client, or NULL without memory. */
static struct client *client_add(struct cd_http *h, uint32_t uid)
{
        struct client *c;

        pthread_mutex_lock(&h->clients_lock);
        for (c = h->clients; c && c->uid != uid; c = c->next)
                ;
        if (!c && (c = calloc(1, sizeof(*c)))) {
                c->uid = uid;
                c->next = h->clients;
                h->clients = c;
        }
        if (c)
                c->connections++;
        pthread_mutex_unlock(&h->clients_lock);
        return c;
}

static void client_remove(struct cd_http *h, struct client *gone)
{
        pthread_mutex_lock(&h->clients_lock);
        if (--gone->connections == 0) {
                struct client **p = &h->clients;

                while (*p != gone)
                        p = &(*p)->next;
                *p = gone->next;
                free(gone);
        }
        pthread_mutex_unlock(&h->clients_lock);
}

/* Was @conn refused as it came in? */
static bool conn_refused(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        struct conn_ctx *c = ci ? ci->socket_context : NULL;

        return c && c->refused;
}

/* One request. */
struct req_state {
        struct cd_http *http;
        bool called;            /* the access handler has seen the request */
        size_t target_len;      /* the request target as sent: path and query */
        bool bad_escape;        /* it has a '%' without two hex digits */
        const char *bad_target; /* why its form is refused (static text), or NULL */
        size_t target_prefix;   /* absolute-form: the "http://host" before the path */
        struct cd_peer peer;
        const struct cd_route *route;
        char id[CD_ROUTE_MAX_ID + 1];
        const char *rest;
        struct MHD_PostProcessor *pp;
        struct cd_upload upload;
        bool has_upload;
        bool answered;
        uint64_t body_bytes;
        uint64_t started_ms;
};

/* The peer of @fd and its role; a peer that cannot be identified has none. */
static void identify(const struct cd_config *cfg, int fd, struct cd_peer *peer)
{
        struct ucred cr;
        socklen_t len = sizeof(cr);
        socklen_t glen = sizeof(peer->groups);

        *peer = (struct cd_peer){ .uid = UINT32_MAX, .gid = UINT32_MAX, .role = CD_ROLE_NONE };
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
                return;
        peer->uid = cr.uid;
        peer->gid = cr.gid;
        /* More than CD_PEER_MAX_GROUPS (ERANGE): only the uid and primary gid count. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, peer->groups, &glen) == 0)
                peer->n_groups = glen / sizeof(gid_t);
        if (cd_peer_is(peer, &cfg->admins))
                peer->role = CD_ROLE_ADMIN;
        else if (cd_peer_is(peer, &cfg->submitters))
                peer->role = CD_ROLE_SUBMITTER;
}

static const char *query(void *conn, const char *key)
{
        return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

static const char *header(void *conn, const char *name)
{
        return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* A body from a producer: a clean end only when the producer says it is
 * whole; else MHD breaks the connection (no final chunk), and the client
 * sees the body cut short. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        ssize_t n = cd_api_stream_read(cls, buf, max);

        (void) pos;
        if (n > 0)
                return n;
        return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
        cd_api_stream_release(cls);
}

static struct MHD_Response *body_of(struct cd_api_response *r)
{
        char *s;

        if (r->json) {
                s = json_dumps(r->json, JSON_COMPACT);
                return s ? MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE)
                         : NULL;
        }
        if (r->fd >= 0) {
                struct MHD_Response *m =
                        MHD_create_response_from_fd_at_offset64(r->fd_size, r->fd, r->fd_offset);

                if (m)
                        r->fd = -1; /* MHD closes it */
                return m;
        }
        if (r->stream) {
                struct MHD_Response *m = MHD_create_response_from_callback(
                        MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, r->stream, stream_free);

                if (m)
                        r->stream = NULL; /* MHD drops the hold (stream_free) */
                return m;
        }
        if (r->text) {
                s = TAKE_PTR(r->text);
                return MHD_create_response_from_buffer(r->text_len, s, MHD_RESPMEM_MUST_FREE);
        }
        return MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct cd_http *h,
                                     struct cd_api_response *r)
{
        struct MHD_Response *m;
        enum MHD_Result ret;

        if (r->status >= 400 && r->code)
                cd_metrics_refused(&h->svc->metrics, r->code);
        m = body_of(r);
        if (!m) {
                cd_api_response_clear(r);
                return MHD_NO;
        }
        if (r->content_type)
                (void) MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
        for (size_t i = 0; i < r->n_headers; i++)
                (void) MHD_add_response_header(m, r->headers[i].name, r->headers[i].value);
        (void) MHD_add_response_header(m, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        ret = MHD_queue_response(conn, r->status, m);
        MHD_destroy_response(m);
        cd_api_response_clear(r);
        return ret;
}

static enum MHD_Result problem(struct MHD_Connection *conn, struct req_state *st,
                               unsigned int status, const char *code, const char *detail)
{
        struct cd_api_response r;

        cd_api_response_init(&r);
        cd_api_problem(&r, status, code, "%s", detail);
        if (status == 429)
                cd_api_header(&r, "Retry-After", "1");
        st->answered = true;
        return send_response(conn, st->http, &r);
}

/* Who may call what: an unknown peer is refused everywhere, and audited;
 * the refusals have their own, lower rate, which bounds the log. Their
 * records keep out of the half of min_free kept for verdicts, as reads'
 * do (cd_service_read_room): a peer with no role must not be able to fill
 * the disk to where no job's verdict can be recorded. */
static enum MHD_Result refuse_peer(struct MHD_Connection *conn, struct req_state *st)
{
        struct cd_service *svc = st->http->svc;
        struct cd_err err = { 0 };

        if (!cd_service_refusal_ok(svc, st->peer.uid))
                return problem(conn, st, 429, "rate_limited", "too many requests; slow down");
        if (cd_service_read_room(svc, &err) < 0 ||
            cd_service_audit1(svc, CD_AUDIT_AUTH_REFUSED, &st->peer, NULL, NULL, "no_role", NULL,
                              &err) < 0)
                cd_log_err(CD_LOG_WARN, NULL, &err);
        cd_log_warn(NULL, "msg=\"refused a peer without a role\" uid=%u gid=%u", st->peer.uid,
                    st->peer.gid);
        return problem(conn, st, 403, "forbidden", "this uid has no role in cordond");
}

/* All of @len bytes on the (non-blocking) socket @fd, within about 2 s. */
static void send_all(int fd, const char *buf, size_t len)
{
        for (int waits = 0; len > 0 && waits < 20;) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

                if (n > 0) {
                        buf += n;
                        len -= (size_t) n;
                } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                        struct pollfd p = { .fd = fd, .events = POLLOUT };

                        (void) poll(&p, 1, 100);
                        waits++;
                } else {
                        return;
                }
        }
}

/* A problem+json answer written straight on the socket, closing it. */
static void write_problem(struct cd_http *h, int fd, unsigned int status, const char *code,
                          const char *detail)
{
        const char *reason = MHD_get_reason_phrase_for(status);
        cleanup_free char *body = NULL, *msg = NULL;
        struct cd_api_response r;
        int n;

        cd_api_response_init(&r);
        cd_api_problem(&r, status, code, "%s", detail);
        cd_metrics_refused(&h->svc->metrics, code);
        body = r.json ? json_dumps(r.json, JSON_COMPACT) : NULL;
        cd_api_response_clear(&r);
        if (!body || fd < 0)
                return;
        n = asprintf(&msg,
                     "HTTP/1.1 %u %s\r\nConnection: close\r\n"
                     "Content-Type: application/problem+json\r\nCache-Control: no-store\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     status, reason && *reason ? reason : "Error", strlen(body), body);
        if (n > 0)
                send_all(fd, msg, (size_t) n);
}

/*
 * A problem found while the body arrives. MHD queues a response only
 * before it reads a body or once it has read all of it (MHD_queue_response
 * fails in between, and the client would get no answer at all), and a
 * client must not have to send the rest of a refused upload to learn why:
 * the answer is written on the socket here, and the connection closed
 * (MHD_NO) without reading further. On a unix socket what was written
 * stays readable by the client after the close.
 */
static enum MHD_Result answer_now(struct MHD_Connection *conn, struct req_state *st,
                                  unsigned int status, const char *code, const char *detail)
{
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

        st->answered = true;
        write_problem(st->http, ci ? ci->connect_fd : -1, status, code, detail);
        return MHD_NO;
}

static enum MHD_Result post_iterator(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *filename, const char *content_type,
                                     const char *transfer_encoding, const char *data, uint64_t off,
                                     size_t size)
{
        struct req_state *st = cls;

        (void) kind;
        (void) transfer_encoding;
        return cd_upload_data(&st->upload, key, filename, content_type, data, off, size) < 0
                       ? MHD_NO
                       : MHD_YES;
}

/* The queue has no room for another job of this peer: answered in *@ret. */
static bool queue_refuses(struct MHD_Connection *conn, struct req_state *st, enum MHD_Result *ret)
{
        int r = cd_queue_check(st->http->svc->queue, st->peer.uid);

        if (r == -ESHUTDOWN)
                *ret = problem(conn, st, 503, "shutting_down", "cordond is stopping");
        else if (r == -ENOSPC)
                *ret = problem(conn, st, 429, "queue_full", "the queue is full; retry later");
        else if (r == -EDQUOT)
                *ret = problem(conn, st, 429, "client_queue_full",
                               "you have the most queued jobs allowed");
        else if (r < 0)
                *ret = problem(conn, st, 500, "internal", "cannot check the queue");
        return r < 0;
}

/*
 * What keeps libmicrohttpd (0.9.75) from reading the boundary of the
 * multipart Content-Type @params (what follows "multipart/form-data"), as
 * the detail of a 415, or NULL. It looks for "boundary=" in that case
 * only, and takes all the rest of the header as the boundary, less
 * enclosing quotes: RFC 2045 parameter names are caseless and a parameter
 * may follow (RFC 2046 5.1.1), and then the body never shows that
 * boundary, and the request was refused as having no `job` part.
 */
static const char *boundary_problem(const char *params)
{
        static const char bchars[] = "0123456789abcdefghijklmnopqrstuvwxyz"
                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ";
        const char *b = strstr(params, "boundary=");
        size_t n;

        if (!b)
                return strcasestr(params, "boundary=")
                               ? "Content-Type: spell the boundary parameter \"boundary=\" in "
                                 "lower case (this server reads no other spelling)"
                               : NULL;
        b += strlen("boundary=");
        n = strlen(b);
        if (n >= 2 && b[0] == '"' && b[n - 1] == '"') {
                b++;
                n -= 2;
        }
        if (n > 70 || (n > 0 && b[n - 1] == ' ') || strspn(b, bchars) < n)
                return "Content-Type: the boundary must be the last parameter (this server "
                       "reads the rest of the header as the boundary), of at most 70 of the "
                       "characters RFC 2046 allows";
        return NULL;
}

/* POST /v1/jobs, before its body: content type, declared size, capacity. */
static enum MHD_Result begin_upload(struct MHD_Connection *conn, struct req_state *st)
{
        struct cd_service *svc = st->http->svc;
        const char *type =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        const char *length =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        const char *bad;
        enum MHD_Result ret;
        uint64_t n = 0, limit_s;

        if (!type || strncasecmp(type, "multipart/form-data", 19) != 0)
                return problem(conn, st, 415, "unsupported_media_type",
                               "expected multipart/form-data");
        if ((bad = boundary_problem(type + 19)))
                return problem(conn, st, 415, "unsupported_media_type", bad);
        if (length && (cd_parse_u64(length, &n) < 0 || n > svc->cfg->max_body_bytes))
                return problem(conn, st, 413, "body_too_large", "the body is over the limit");
        if (queue_refuses(conn, st, &ret))
                return ret;
        if (cd_upload_begin(&st->upload, svc, st->peer.uid) < 0)
                return problem(conn, st, 500, "internal", "cannot start the upload");
        st->has_upload = true; /* from here on, completed() gives its room back */
        /* The declared length is reserved whole, before any of it arrives:
         * uploads side by side cannot each count on the same free space. */
        if (cd_upload_reserve(&st->upload, n) < 0)
                return problem(conn, st, st->upload.status, st->upload.code, st->upload.detail);
        st->pp = MHD_create_post_processor(conn, POST_BUFFER, post_iterator, st);
        /* libmicrohttpd (0.9.75) takes no boundary shorter than two
         * characters, though RFC 2046 5.1.1 allows one: the media type is
         * valid, this server cannot parse it, hence 415 and not 400. */
        if (!st->pp)
                return problem(conn, st, 415, "unsupported_media_type",
                               "expected multipart/form-data with a boundary of two characters "
                               "or more (boundaries of one character are not supported)");
        /* Framing bytes (chunk sizes, extensions, trailers) reach no
         * handler: only the watchdog sees the time run out while a client
         * trickles them. One that sends body bytes is answered 408 at the
         * first past request_timeout, which MHD's idle timeout makes come
         * within connection_timeout: the watchdog cuts only after both. */
        limit_s = (uint64_t) svc->cfg->request_timeout_s + svc->cfg->connection_timeout_s;
        cd_watchdog_deadline(st->http->watchdog, watch_handle(conn),
                             st->started_ms + limit_s * 1000);
        return MHD_YES;
}

/* What the request's headers add up to, and how it frames its body. */
struct header_count {
        size_t bytes;
        unsigned int content_length;    /* Content-Length headers */
        unsigned int transfer_encoding; /* Transfer-Encoding headers */
        unsigned int host;              /* Host headers */
        bool bad_host;                  /* a Host value that is no host[:port] */
        bool bad_name;                  /* a name that is not a token */
        bool bad_coding;                /* a Transfer-Encoding other than "chunked" */
};

/* A field name is a token (RFC 9110 5.1 and 5.6.2): one or more tchar. */
static bool is_token(const char *s)
{
        static const char tchar_symbols[] = "!#$%&'*+-.^_`|~";

        if (!*s)
                return false;
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if (c > 0x7f || (!isalnum(c) && !strchr(tchar_symbols, c)))
                        return false;
        }
        return true;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
        struct header_count *h = cls;

        (void) kind;
        h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
        /* libmicrohttpd (0.9.75) keeps what precedes the colon as the name,
         * whitespace included: "Content-Length : 5" would match neither
         * framing header below, while MHD itself frames the body by the
         * other one. RFC 9112 5.1: such a request MUST be refused with 400.
         * MHD_OPTION_STRICT_FOR_CLIENT does not do it: 0.9.75 refuses a
         * space there only at -1, its most tolerant level, and not with a
         * problem+json answer. */
        if (!is_token(key))
                h->bad_name = true;
        if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
                h->host++;
                if (!value || !cd_http_host_valid(value))
                        h->bad_host = true;
        } else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
                h->content_length++;
        else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
                h->transfer_encoding++;
                /* Any other coding, or a list ("gzip, chunked", "chunked,
                 * chunked"): libmicrohttpd (0.9.75) decodes chunked only
                 * when the value is "chunked" in any case, and otherwise
                 * reads the body until the connection closes, so the
                 * request would never be answered. It drops the
                 * whitespace before a value but keeps what follows, so
                 * "chunked " is not chunked to it either: the same
                 * caseless match here. RFC 9112 6.1: a request whose final
                 * coding is not chunked is 400; one we cannot decode gets
                 * the same answer (we decode no other coding). */
                if (!value || strcasecmp(value, "chunked") != 0)
                        h->bad_coding = true;
        }
        return MHD_YES;
}

/*
 * What is wrong with the headers of a request of @version, as the detail of
 * a 400, or NULL. One way to frame the body, given once (RFC 9112 6.3): a
 * request with both headers, or either twice, or an HTTP/1.0 request
 * with Transfer-Encoding, is the shape of request smuggling; refuse it
 * rather than guess which one a proxy in front of us believed. A Host
 * header (RFC 9112 3.2): at most one, a valid one, and one in every
 * request after HTTP/1.0. libmicrohttpd (0.9.75) checks none of these
 * itself unless MHD_OPTION_STRICT_FOR_CLIENT is 1, and then only a missing
 * Host, answered with its own HTML page rather than problem+json.
 */
static const char *headers_problem(const struct header_count *h, const char *version)
{
        if (h->bad_name)
                return "a header field name is not a token (RFC 9110 5.6.2), "
                       "such as one with whitespace before its colon";
        if (h->content_length + h->transfer_encoding > 1)
                return "send one Content-Length or one Transfer-Encoding, not both";
        /* RFC 9112 6.1: HTTP/1.0 has no transfer codings, and a 1.0 message
         * with the header has faulty framing; libmicrohttpd (0.9.75)
         * decoded it as chunked, where an HTTP/1.0 proxy in front would
         * not have. */
        if (h->transfer_encoding && strcmp(version, MHD_HTTP_VERSION_1_0) == 0)
                return "an HTTP/1.0 request cannot have a Transfer-Encoding (RFC 9112 6.1)";
        if (h->bad_coding)
                return "the only Transfer-Encoding accepted is \"chunked\", alone";
        if (h->host > 1)
                return "more than one Host header";
        if (h->bad_host)
                return "the Host header is not a host with an optional port";
        if (h->host == 0 && strcmp(version, MHD_HTTP_VERSION_1_0) != 0)
                return "an HTTP/1.1 request needs a Host header (RFC 9112 3.2)";
        return NULL;
}

/* The path to route: the target's, after an absolute-form's "http://host",
 * or NULL with *@ret_problem. @url is the decoded path: the prefix, with
 * no '%' in it (cd_http_target_check()), is the same there. */
static const char *route_path(const struct req_state *st, const char *url, const char **ret_problem)
{
        const char *path;

        *ret_problem = st->bad_target;
        if (st->bad_target)
                return NULL;
        if (strlen(url) < st->target_prefix) { /* believed unreachable: see above */
                *ret_problem = "the request target changed as it was decoded";
                return NULL;
        }
        path = url + st->target_prefix;
        if (!*path)
                path = "/"; /* "http://host": RFC 9112 3.2.2 */
        *ret_problem = cd_http_path_check(path);
        return *ret_problem ? NULL : path;
}

/* The query parameters of a request against those its route takes (each
 * with a value: "?state" alone is a bad value). */
struct query_check {
        const char *allowed; /* space-separated names, or NULL */
        const char *seen[8];
        size_t n;
        bool bad;
};

static bool word_in(const char *list, const char *word)
{
        size_t len = strlen(word);

        for (const char *p = list; p && *p;) {
                size_t n = strcspn(p, " ");

                if (n == len && !strncmp(p, word, len))
                        return true;
                p += n;
                p += strspn(p, " ");
        }
        return false;
}

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
        struct query_check *q = cls;

        (void) kind;
        if (!key || !value || !word_in(q->allowed, key) || q->n >= ELEMENTSOF(q->seen)) {
                q->bad = true;
                return MHD_NO;
        }
        for (size_t i = 0; i < q->n; i++)
                if (!strcmp(q->seen[i], key)) {
                        q->bad = true; /* each at most once */
                        return MHD_NO;
                }
        q->seen[q->n++] = key;
        return MHD_YES;
}

/* The first call of a request: everything that needs no body. */
static enum MHD_Result first_call(struct MHD_Connection *conn, struct req_state *st,
                                  const char *url, const char *method, const char *version)
{
        struct cd_service *svc = st->http->svc;
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        unsigned int status = 404;
        struct header_count headers = { 0 };
        struct query_check q = { 0 };
        const char *length, *path, *bad;
        char allow[64];

        if (conn_refused(conn))
                return MHD_NO; /* answered already; nothing it sent is served */
        identify(svc->cfg, ci ? ci->connect_fd : -1, &st->peer);
        if (atomic_load(&st->http->connections) > svc->cfg->max_connections)
                return problem(conn, st, 503, "too_many_connections", "too many connections");
        if (!cd_service_rate_ok(svc, st->peer.uid))
                return problem(conn, st, 429, "rate_limited", "too many requests; slow down");
        if (st->peer.role == CD_ROLE_NONE)
                return refuse_peer(conn, st);
        if (st->target_len > svc->cfg->max_url_bytes)
                return problem(conn, st, 414, "uri_too_long", "the URL is too long");
        (void) MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &headers);
        if (headers.bytes > svc->cfg->max_header_bytes)
                return problem(conn, st, 431, "headers_too_large",
                               "the request headers are over the limit");
        if ((bad = headers_problem(&headers, version)))
                return problem(conn, st, 400, "bad_request", bad);
        if (st->bad_escape)
                return problem(conn, st, 400, "bad_request", "malformed percent-encoding");
        if (!(path = route_path(st, url, &bad)))
                return problem(conn, st, 400, "bad_request", bad);
        st->route = cd_route_match(method, path, st->id, &st->rest, &status, allow, sizeof(allow));
        if (!st->route && status == 405) {
                struct cd_api_response r;

                cd_api_response_init(&r);
                cd_api_problem(&r, 405, "method_not_allowed", "allowed: %s", allow);
                cd_api_header(&r, "Allow", "%s", allow);
                st->answered = true;
                return send_response(conn, st->http, &r);
        }
        if (!st->route)
                return problem(conn, st, 404, "not_found", "no such route");
        if (st->route->min_role > st->peer.role)
                return problem(conn, st, 403, "forbidden", "this route needs another role");
        q.allowed = st->route->params;
        (void) MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, check_arg, &q);
        if (q.bad)
                return problem(conn, st, 400, "bad_request",
                               "a query parameter this route does not take, or one given twice");
        if (st->route->upload)
                return begin_upload(conn, st);
        length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if ((length && strcmp(length, "0") != 0) ||
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
                return problem(conn, st, 400, "bad_request", "this route takes no body");
        return MHD_YES;
}

/* The upload has taken longer than request_timeout. */
static bool upload_late(const struct req_state *st)
{
        return cd_now_ms() - st->started_ms > st->http->svc->cfg->request_timeout_s * 1000ULL;
}

/* A chunk of the upload. */
static enum MHD_Result body_chunk(struct MHD_Connection *conn, struct req_state *st,
                                  const char *data, size_t *size)
{
        const struct cd_config *cfg = st->http->svc->cfg;
        size_t n = *size;

        *size = 0;
        if (!st->pp)
                return answer_now(conn, st, 400, "bad_request", "this route takes no body");
        st->body_bytes += n;
        if (st->body_bytes > cfg->max_body_bytes)
                return answer_now(conn, st, 413, "body_too_large", "the body is over the limit");
        if (upload_late(st))
                return answer_now(conn, st, 408, "request_timeout", "the upload took too long");
        if (MHD_post_process(st->pp, data, n) == MHD_YES)
                return MHD_YES;
        if (st->upload.status)
                return answer_now(conn, st, st->upload.status, st->upload.code, st->upload.detail);
        return answer_now(conn, st, 400, "bad_request", "malformed multipart body");
}

static enum MHD_Result dispatch(struct MHD_Connection *conn, struct req_state *st)
{
        struct cd_api_request req = {
                .svc = st->http->svc,
                .peer = &st->peer,
                .id = st->id[0] || st->rest ? st->id : NULL,
                .rest = st->rest,
                .query = query,
                .header = header,
                .conn = conn,
                .upload = st->has_upload ? &st->upload : NULL,
        };
        struct cd_api_response r;

        if (st->route->upload && !st->has_upload)
                return problem(conn, st, 400, "bad_request", "no body");
        if (st->pp) {
                /* The whole body is in: the multipart must have ended there
                 * too (its closing boundary seen, nothing left half-parsed). */
                enum MHD_Result ended = MHD_destroy_post_processor(st->pp);

                st->pp = NULL;
                /* The deadline lifted first, then the clock read: a watchdog
                 * that cut the connection did so past the deadline, which
                 * the check below sees too, and nothing is stored. */
                cd_watchdog_deadline(st->http->watchdog, watch_handle(conn), 0);
                if (upload_late(st))
                        return problem(conn, st, 408, "request_timeout",
                                       "the upload took too long");
                if (st->upload.status)
                        return problem(conn, st, st->upload.status, st->upload.code,
                                       st->upload.detail);
                if (ended != MHD_YES)
                        return problem(conn, st, 400, "bad_request", "malformed multipart body");
        }
        cd_api_response_init(&r);
        st->route->handler(&req, &r);
        st->answered = true;
        return send_response(conn, st->http, &r);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
        struct req_state *st = *con_cls;

        if (!st) { /* uri_logged() could not allocate */
                st = calloc(1, sizeof(*st));
                if (!st)
                        return MHD_NO;
                st->http = cls;
                st->started_ms = cd_now_ms();
                st->target_len = strlen(url);
                st->bad_target = cd_http_target_check(url, &st->target_prefix);
                *con_cls = st;
        }
        if (!st->called) {
                st->called = true;
                cd_watchdog_busy(st->http->watchdog, watch_handle(conn), true);
                return first_call(conn, st, url, method, version);
        }
        if (st->answered) {
                /* MHD discards the rest of a body after an early answer. */
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (*upload_data_size > 0)
                return body_chunk(conn, st, upload_data, upload_data_size);
        return dispatch(conn, st);
}

/* MHD leaves a malformed escape as it is: "x%zz" would reach a handler
 * as a name with a '%' of its own. */
static bool has_bad_escape(const char *s)
{
        for (; (s = strchr(s, '%')); s++)
                if (!isxdigit((unsigned char) s[1]) || !isxdigit((unsigned char) s[2]))
                        return true;
        return false;
}

/*
 * A new request, before MHD parses its target: the state starts here, with
 * the target as the client sent it (the access handler only sees the path,
 * without the query, unescaped): its length, whether its escapes are
 * well formed, and its form (origin or absolute). MHD passes the return
 * value as *con_cls and calls completed() for it whatever happens next.
 */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *conn)
{
        struct req_state *st = calloc(1, sizeof(*st));

        (void) conn;
        if (st) {
                st->http = cls;
                st->started_ms = cd_now_ms();
                st->target_len = strlen(uri);
                st->bad_escape = has_bad_escape(uri);
                st->bad_target = cd_http_target_check(uri, &st->target_prefix);
        }
        return st;
}

/* The request is over, answered or not (a client that went away mid-upload
 * ends here too): an upload not committed to a job is removed. */
static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
        struct req_state *st = *con_cls;
        struct cd_http *h = cls;

        (void) toe;
        cd_watchdog_busy(h->watchdog, watch_handle(conn), false);
        if (!st)
                return;
        if (st->pp)
                (void) MHD_destroy_post_processor(st->pp);
        if (st->has_upload)
                cd_upload_clear(&st->upload);
        free(st);
        *con_cls = NULL;
}

/*
 * A connection over its client's share: answered 503 at once and shut
 * down, before anything is read. Counted when it opens, not when a request
 * arrives, since a client holding idle connections (cut only after
 * connection_timeout, then reopened) would otherwise take every one of
 * them and lock the other clients out. Admins are not held to it, so that
 * they can come in and clean up after such a client.
 */
static bool over_share(struct cd_http *h, const struct client *cl, int fd)
{
        struct cd_peer peer;
        bool over;

        pthread_mutex_lock(&h->clients_lock);
        over = cl->connections > h->svc->cfg->max_connections_per_client;
        pthread_mutex_unlock(&h->clients_lock);
        if (!over)
                return false;
        identify(h->svc->cfg, fd, &peer);
        return peer.role != CD_ROLE_ADMIN;
}

static void connection_started(struct cd_http *h, struct MHD_Connection *conn,
                               void **socket_context)
{
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        int fd = ci ? ci->connect_fd : -1;
        struct conn_ctx *c = calloc(1, sizeof(*c));
        struct ucred cr;
        socklen_t len = sizeof(cr);

        atomic_fetch_add(&h->connections, 1);
        if (!c)
                return; /* neither watched nor counted: MHD's idle timeout applies */
        *socket_context = c;
        c->watch = cd_watchdog_add(h->watchdog, fd);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
                c->client = client_add(h, cr.uid);
        if (c->client && over_share(h, c->client, fd)) {
                c->refused = true;
                write_problem(h, fd, 503, "too_many_connections",
                              "this client has too many connections open");
                (void) shutdown(fd, SHUT_RDWR);
        }
}

static void connection_event(void *cls, struct MHD_Connection *conn, void **socket_context,
                             enum MHD_ConnectionNotificationCode code)
{
        struct cd_http *h = cls;
        struct conn_ctx *c = *socket_context;

        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                connection_started(h, conn, socket_context);
                return;
        }
        atomic_fetch_sub(&h->connections, 1);
        if (!c)
                return;
        cd_watchdog_remove(h->watchdog, c->watch);
        if (c->client)
                client_remove(h, c->client);
        free(c);
        *socket_context = NULL;
}

/* The path and query values, decoded without ever making a NUL. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
        (void) cls;
        (void) conn;
        return cd_http_unescape(s);
}

int cd_http_start(struct cd_service *svc, int listen_fd, struct cd_http **ret, struct cd_err *err)
{
        const struct cd_config *cfg = svc->cfg;
        struct cd_http *h = calloc(1, sizeof(*h));

        if (!h) {
                (void) cd_close(listen_fd);
                return cd_err_set(err, ENOMEM, "http: out of memory");
        }
        h->svc = svc;
        if (cd_watchdog_start(cfg->connection_timeout_s, &h->watchdog, err) < 0) {
                free(h);
                (void) cd_close(listen_fd);
                return -err->code;
        }
        pthread_mutex_init(&h->clients_lock, NULL);
        h->mhd = MHD_start_daemon(
                MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                        MHD_USE_ITC,
                0, NULL, NULL, access_handler, h, MHD_OPTION_LISTEN_SOCKET, listen_fd,
                MHD_OPTION_URI_LOG_CALLBACK, uri_logged, h, MHD_OPTION_UNESCAPE_CALLBACK, unescape,
                NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_NOTIFY_CONNECTION,
                connection_event, h, MHD_OPTION_CONNECTION_LIMIT,
                (unsigned int) (cfg->max_connections + 16), MHD_OPTION_CONNECTION_TIMEOUT,
                cfg->connection_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                (size_t) (cfg->max_header_bytes + 2 * POST_BUFFER), MHD_OPTION_END);
        if (!h->mhd) {
                cd_watchdog_stop(h->watchdog);
                pthread_mutex_destroy(&h->clients_lock);
                free(h);
                (void) cd_close(listen_fd);
                return cd_err_set(err, EIO, "http: cannot start the server on the socket");
        }
        *ret = h;
        return 0;
}

void cd_http_quiesce(struct cd_http *h)
{
        MHD_socket fd;

        if (!h || !h->mhd)
                return;
        /* MHD hands the listening socket back: closed, new clients get
         * ECONNREFUSED at once instead of waiting in the backlog. */
        fd = MHD_quiesce_daemon(h->mhd);
        if (fd != MHD_INVALID_SOCKET)
                (void) cd_close(fd);
}

void cd_http_stop(struct cd_http *h)
{
        if (!h)
                return;
        if (h->mhd)
                MHD_stop_daemon(h->mhd);
        cd_watchdog_stop(h->watchdog);
        pthread_mutex_destroy(&h->clients_lock);
        free(h);
}
