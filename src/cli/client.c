/* SPDX-License-Identifier: MIT */
/*
 * libcurl over cordond's unix socket (client.h). One easy handle per
 * client, reused between requests (one connection). Bodies are bounded:
 * JSON and problem documents in memory up to a cap, everything else
 * handed to the caller's sink as it arrives.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cordon/cleanup.h"
#include "cordon/fault.h"
#include "cordon/util.h"
#include "output.h"

#ifndef CORDON_VERSION
#define CORDON_VERSION "0.0.0"
#endif

#define CONNECT_TIMEOUT_S 10
#define CALL_TIMEOUT_S    120
/* A transfer slower than 1 byte/s for this long is given up. */
#define STALL_S 300

struct cli_client {
        CURL *curl;
        char *socket;
        const char *cmd;
        int conn_fd; /* the socket curl opened last (open_socket), or -1 */
};

/* The state of one transfer, for curl's callbacks. */
struct xfer {
        const struct cli_request *rq;
        struct cli_response *resp;
        int sink_status; /* what the sink returned, or CLI_EXIT_SERVER for too large */
        bool too_large;
        bool sink_done; /* the sink returned CLI_SINK_DONE */
        bool final;     /* a final (non-1xx) status line was seen */
        uint64_t next_tick_ms;
        struct cli_client *c;
        int peer_err;     /* the connection was refused before sending: -errno */
        bool by_deadline; /* rq->deadline_ms, not rq->timeout_s, limits the transfer */
        uid_t peer_uid;   /* with -EPERM: who listens on the socket */
};

int cli_client_new(const char *cmd, const char *flag, struct cli_client **ret)
{
        const char *env = secure_getenv("CORDON_SOCKET");
        const char *path = flag ? flag : env && *env ? env : CLI_DEFAULT_SOCKET;
        struct cli_client *c;

        cd_fault_init(); /* test builds: CORDON_FAULT for download.c */
        if (strlen(path) >= sizeof(((struct sockaddr_un *) 0)->sun_path) || !*path) {
                cli_error(cmd, "socket path: expected a path of 1 to %zu bytes",
                          sizeof(((struct sockaddr_un *) 0)->sun_path) - 1);
                return CLI_EXIT_USAGE;
        }
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                const char *why = cli_curl_load_error();

                cli_error(cmd, "cannot initialise libcurl%s%s", *why ? ": " : "", why);
                return CLI_EXIT_IO;
        }
        c = calloc(1, sizeof(*c));
        if (c)
                c->socket = strdup(path);
        if (c && c->socket)
                c->curl = curl_easy_init();
        if (!c || !c->curl) {
                cli_client_free(c);
                cli_error(cmd, "out of memory");
                return CLI_EXIT_IO;
        }
        c->cmd = cmd;
        c->conn_fd = -1;
        *ret = c;
        return 0;
}

struct cli_client *cli_client_free(struct cli_client *c)
{
        if (!c)
                return NULL;
        if (c->curl)
                curl_easy_cleanup(c->curl);
        free(c->socket);
        free(c);
        curl_global_cleanup();
        return NULL;
}

void cli_client_freep(struct cli_client **c)
{
        *c = cli_client_free(*c);
}

const char *cli_client_cmd(const struct cli_client *c)
{
        return c->cmd;
}

const char *cli_client_socket(const struct cli_client *c)
{
        return c->socket;
}

void cli_response_clear(struct cli_response *r)
{
        free(r->body);
        json_decref(r->json);
        *r = (struct cli_response){ 0 };
}

/* Copy header value @v (length @n, CRLF stripped) into @dst. */
static void header_value(char *dst, size_t size, const char *v, size_t n)
{
        while (n > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                n--;
        }
        while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
                n--;
        if (n >= size)
                n = size - 1;
        memcpy(dst, v, n);
        dst[n] = '\0';
}

static bool header_is(const char *line, size_t n, const char *name, const char **ret_value,
                      size_t *ret_len)
{
        size_t k = strlen(name);

        if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
                return false;
        *ret_value = line + k + 1;
        *ret_len = n - k - 1;
        return true;
}

static void status_line(struct xfer *x, const char *line, size_t n)
{
        char buf[16];
        uint64_t code;

        /* "HTTP/1.1 201 Created": each new status line (after a 100
         * Continue) starts the headers over. */
        header_value(buf, sizeof(buf), line + 9, n > 9 ? (n - 9 < 3 ? n - 9 : 3) : 0);
        if (cd_parse_u64(buf, &code) < 0)
                code = 0;
        free(x->resp->body);
        *x->resp = (struct cli_response){ .status = (long) code };
        x->final = code >= 200;
}

/* N of "bytes N-M/SIZE" (RFC 9110 14.4); anything else leaves 0. */
static void content_range(struct cli_response *r, const char *v, size_t len)
{
        char buf[96], *dash;
        uint64_t n;

        header_value(buf, sizeof(buf), v, len);
        dash = strchr(buf, '-');
        if (strncmp(buf, "bytes ", 6) != 0 || !dash)
                return;
        *dash = '\0';
        if (cd_parse_u64(buf + 6, &n) == 0)
                r->range_start = n;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *data)
{
        struct xfer *x = data;
        size_t n = size * nitems, len;
        const char *v;
        char buf[32];
        uint64_t secs;

        if (n > 9 && strncmp(line, "HTTP/", 5) == 0)
                status_line(x, line, n);
        else if (header_is(line, n, "Content-Type", &v, &len))
                header_value(x->resp->content_type, sizeof(x->resp->content_type), v, len);
        else if (header_is(line, n, "ETag", &v, &len))
                header_value(x->resp->etag, sizeof(x->resp->etag), v, len);
        else if (header_is(line, n, "Retry-After", &v, &len)) {
                header_value(buf, sizeof(buf), v, len);
                if (cd_parse_u64(buf, &secs) == 0 && secs < 86400)
                        x->resp->retry_after_s = (unsigned int) secs;
        } else if (header_is(line, n, "Cordon-Truncated", &v, &len)) {
                header_value(buf, sizeof(buf), v, len);
                x->resp->truncated = strcmp(buf, "true") == 0;
        } else if (header_is(line, n, "Content-Range", &v, &len)) {
                content_range(x->resp, v, len);
        }
        return n;
}

static int keep(struct xfer *x, const char *buf, size_t n, size_t cap)
{
        struct cli_response *r = x->resp;
        char *b;

        if (r->len + n > cap) {
                x->too_large = true;
                return -1;
        }
        b = realloc(r->body, r->len + n + 1);
        if (!b) {
                x->too_large = true;
                return -1;
        }
        memcpy(b + r->len, buf, n);
        r->len += n;
        b[r->len] = '\0';
        r->body = b;
        return 0;
}

static size_t on_body(char *buf, size_t size, size_t nitems, void *data)
{
        struct xfer *x = data;
        size_t n = size * nitems;
        bool ok = x->resp->status >= 200 && x->resp->status < 300;
        size_t cap = x->rq->max_bytes ? x->rq->max_bytes : CLI_MAX_JSON_BYTES;

        /* A problem document never reaches the sink (a file, stdout). */
        if (!ok || !x->rq->sink)
                return keep(x, buf, n, ok ? cap : CLI_MAX_ERROR_BYTES) < 0 ? 0 : n;
        x->sink_status = x->rq->sink(x->rq->sink_data, buf, n);
        if (x->sink_status == CLI_SINK_DONE) {
                x->sink_status = 0;
                x->sink_done = true;
                return 0; /* CURLE_WRITE_ERROR: the transfer ends here */
        }
        return x->sink_status ? 0 : n;
}

static int on_progress(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
        struct xfer *x = data;
        uint64_t now = cd_now_ms();

        if (x->rq->tick && now >= x->next_tick_ms) {
                x->next_tick_ms = now + 1000;
                x->rq->tick(x->rq->tick_data);
        }
        (void) dltotal;
        (void) dlnow;
        (void) ultotal;
        (void) ulnow;
        return cli_interrupted() ? 1 : 0;
}

static size_t read_input(char *buf, size_t size, size_t nitems, void *arg)
{
        const struct cli_input *in = arg;
        ssize_t n;

        do
                n = read(in->fd, buf, size * nitems);
        while (n < 0 && errno == EINTR);
        return n < 0 ? CURL_READFUNC_ABORT : (size_t) n;
}

static int seek_input(void *arg, curl_off_t offset, int origin)
{
        const struct cli_input *in = arg;

        return lseek(in->fd, (off_t) offset, origin) < 0 ? CURL_SEEKFUNC_FAIL : CURL_SEEKFUNC_OK;
}

/* The multipart body: the job part, then one part per input, streamed. */
static curl_mime *build_form(CURL *curl, const struct cli_request *rq)
{
        curl_mime *m = curl_mime_init(curl);
        curl_mimepart *p = m ? curl_mime_addpart(m) : NULL;

        if (!p || curl_mime_name(p, "job") != CURLE_OK ||
            curl_mime_type(p, "application/json") != CURLE_OK ||
            curl_mime_data(p, rq->job_json, CURL_ZERO_TERMINATED) != CURLE_OK)
                goto fail;
        for (size_t i = 0; i < rq->n_inputs; i++) {
                const struct cli_input *in = &rq->inputs[i];

                p = curl_mime_addpart(m);
                if (!p || curl_mime_name(p, "input") != CURLE_OK ||
                    curl_mime_filename(p, in->name) != CURLE_OK ||
                    curl_mime_type(p, "application/octet-stream") != CURLE_OK ||
                    curl_mime_data_cb(p, (curl_off_t) in->size, read_input, seek_input, NULL,
                                      (void *) in) != CURLE_OK)
                        goto fail;
        }
        return m;
fail:
        curl_mime_free(m);
        return NULL;
}

/*
 * The request's own headers: a Range, an Expect, or none (NULL). An upload
 * waits for cordond's go-ahead (100 Continue) before its body: what
 * cordond turns away on the headers alone (429, 503, 413 on the declared
 * length) it answers and closes at once, and a body sent into that close
 * ends in a reset that can reach curl before the answer does.
 */
static struct curl_slist *request_headers(const struct cli_request *rq)
{
        char range[48];

        if (rq->job_json)
                return curl_slist_append(NULL, "Expect: 100-continue");
        if (rq->range_from == 0)
                return NULL;
        (void) snprintf(range, sizeof(range), "Range: bytes=%llu-",
                        (unsigned long long) rq->range_from);
        return curl_slist_append(NULL, range);
}

/*
 * Who listens on the socket is checked before anything is sent: anyone who
 * can bind the path first (a stale /tmp socket, a directory writable by
 * others) would otherwise receive every upload and answer every status.
 * curl makes each connection's socket here and connects it itself; the
 * socket is recorded so that on_prereq can ask the kernel who is at the
 * other end. (Connecting it here and returning CURL_SOCKOPT_ALREADY_CONNECTED
 * would be simpler, but libcurl 7.88 connects such a socket again and
 * fails with EISCONN; and its CURLINFO_ACTIVESOCKET is -1 in on_prereq.)
 */
static curl_socket_t open_socket(void *data, curlsocktype purpose, struct curl_sockaddr *addr)
{
        struct cli_client *c = data;
        int fd;

        /* CURLOPT_UNIX_SOCKET_PATH makes every address AF_UNIX: anything
         * else is believed unreachable, and refused. */
        if (purpose != CURLSOCKTYPE_IPCXN || addr->family != AF_UNIX) {
                errno = EAFNOSUPPORT;
                return CURL_SOCKET_BAD;
        }
        fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
        if (fd < 0)
                return CURL_SOCKET_BAD;
        c->conn_fd = fd;
        return fd;
}

static int close_socket(void *data, curl_socket_t fd)
{
        struct cli_client *c = data;

        if (fd == c->conn_fd)
                c->conn_fd = -1;
        return close(fd);
}

/*
 * cordond runs as root (docs/operations.md). The caller's own uid is
 * accepted too: a socket it forwards itself (ssh -L) or serves in a test
 * is no one else's. SO_PEERCRED gives the credentials of whoever called
 * listen(), fixed for the life of the connection (socket(7), unix(7)).
 */
static int check_peer(int fd, uid_t *ret_uid)
{
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        *ret_uid = cred.uid;
        return cred.uid == 0 || cred.uid == geteuid() ? 0 : -EPERM;
}

/* After curl connected (or took the connection of an earlier request),
 * before it sends the request: for every request, the peer check. A
 * connection is made in one go from open_socket to here (one address, no
 * other connection meanwhile), so conn_fd is the one this request uses. */
static int on_prereq(void *data, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
        struct xfer *x = data;
        int r;

        (void) conn_primary_ip;
        (void) conn_local_ip;
        (void) conn_primary_port;
        (void) conn_local_port;
        /* Believed unreachable: curl sends only on a connection it opened
         * through open_socket, and close_socket forgets only a closed one. */
        r = x->c->conn_fd < 0 ? -ENOTCONN : check_peer(x->c->conn_fd, &x->peer_uid);
        if (r < 0) {
                x->peer_err = r;
                return CURL_PREREQFUNC_ABORT;
        }
        return CURL_PREREQFUNC_OK;
}

/* The transfer's time limit in ms (0: none): rq->timeout_s, or what is
 * left before rq->deadline_ms when that is sooner. */
static long transfer_timeout_ms(const struct cli_request *rq, bool *ret_by_deadline)
{
        uint64_t limit = rq->timeout_s > 0 ? (uint64_t) rq->timeout_s * 1000 : 0;
        uint64_t now = cd_now_ms(), left;

        *ret_by_deadline = false;
        if (rq->deadline_ms != 0) {
                /* Passed already: 1 ms, since 0 would mean no limit. */
                left = rq->deadline_ms > now ? rq->deadline_ms - now : 1;
                if (limit == 0 || left < limit) {
                        limit = left;
                        *ret_by_deadline = true;
                }
        }
        return limit < LONG_MAX ? (long) limit : LONG_MAX;
}

static int setup(struct cli_client *c, const struct cli_request *rq, struct xfer *x,
                 curl_mime *form, struct curl_slist *headers, char *url, size_t url_size)
{
        CURL *h = c->curl;
        const char *method = rq->method ? rq->method : "GET";
        CURLcode e = CURLE_OK;

        curl_easy_reset(h);
        if (snprintf(url, url_size, "http://cordon%s", rq->path) >= (int) url_size)
                return -E2BIG;
        /* libcurl 7.80 or later: without the check, nothing is sent. */
        if (curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq) != CURLE_OK)
                return -ENOTSUP;
#define SET(opt, val)                                                                              \
        do {                                                                                       \
                if (e == CURLE_OK)                                                                 \
                        e = curl_easy_setopt(h, opt, val);                                         \
        } while (0)
        SET(CURLOPT_PREREQDATA, x);
        SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
        SET(CURLOPT_OPENSOCKETDATA, c);
        SET(CURLOPT_CLOSESOCKETFUNCTION, close_socket);
        SET(CURLOPT_CLOSESOCKETDATA, c);
        SET(CURLOPT_UNIX_SOCKET_PATH, c->socket);
        SET(CURLOPT_URL, url);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_USERAGENT, "cordon/" CORDON_VERSION);
        SET(CURLOPT_CONNECTTIMEOUT, (long) CONNECT_TIMEOUT_S);
        SET(CURLOPT_TIMEOUT_MS, transfer_timeout_ms(rq, &x->by_deadline));
        SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
        SET(CURLOPT_LOW_SPEED_TIME, (long) STALL_S);
        SET(CURLOPT_HEADERFUNCTION, on_header);
        SET(CURLOPT_HEADERDATA, x);
        SET(CURLOPT_WRITEFUNCTION, on_body);
        SET(CURLOPT_WRITEDATA, x);
        SET(CURLOPT_NOPROGRESS, 0L);
        SET(CURLOPT_XFERINFOFUNCTION, on_progress);
        SET(CURLOPT_XFERINFODATA, x);
        SET(CURLOPT_PROTOCOLS_STR, "http");
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        if (headers)
                SET(CURLOPT_HTTPHEADER, headers);
        /* libcurl sends the body anyway when no 100 Continue has come
         * within 1 s (its default): a cordond that slow to take the headers
         * (a loaded host) could then close on a body in flight, the reset
         * request_headers() is there to avoid. Wait as long as for a stall. */
        if (form) {
                SET(CURLOPT_EXPECT_100_TIMEOUT_MS, (long) STALL_S * 1000L);
                SET(CURLOPT_MIMEPOST, form);
        } else if (strcmp(method, "POST") == 0) {
                SET(CURLOPT_POSTFIELDSIZE, 0L);
        }
        if (strcmp(method, "POST") == 0 && !form)
                SET(CURLOPT_POST, 1L);
        else if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
                SET(CURLOPT_CUSTOMREQUEST, method);
#undef SET
        return e == CURLE_OK ? 0 : -EINVAL;
}

/* errno of a failed connect, in words, with what to do about it. */
static void connect_error(const struct cli_client *c, long os_errno)
{
        const char *what, *hint;

        switch (os_errno) {
        case ENOENT:
                what = "no such file", hint = " (is cordond running?)";
                break;
        case ECONNREFUSED:
                what = "connection refused", hint = " (is cordond running?)";
                break;
        case EACCES:
        case EPERM:
                what = "permission denied",
                hint = " (connecting needs write access to the socket: is your user in its group?)";
                break;
        case ENOTDIR:
                what = "a path component is not a directory", hint = "";
                break;
        case EAGAIN:
                what = "cordond is not accepting connections", hint = " (retry shortly)";
                break;
        default:
                what = os_errno ? strerror((int) os_errno) : "cannot connect", hint = "";
        }
        cli_error(c->cmd, "cannot reach cordond at %s: %s%s", c->socket, what, hint);
}

/* What went wrong, once curl gave up. Returns the exit status. */
static int transfer_error(const struct cli_client *c, CURLcode e, const struct xfer *x)
{
        long os_errno = 0;

        if (x->peer_err == -EPERM) {
                cli_error(c->cmd,
                          "cannot reach cordond at %s: the socket is served by uid %u, not by "
                          "root or you; refused, nothing was sent (is another program listening "
                          "there?)",
                          c->socket, (unsigned int) x->peer_uid);
                return CLI_EXIT_UNREACHABLE;
        }
        if (x->peer_err) {
                cli_error(c->cmd,
                          "cannot reach cordond at %s: cannot tell who serves the socket: %s; "
                          "nothing was sent",
                          c->socket, strerror(-x->peer_err));
                return CLI_EXIT_UNREACHABLE;
        }
        if (x->sink_status)
                return x->sink_status;
        if (x->too_large) {
                cli_error(c->cmd, "cordond's answer is over the client's size limit");
                return CLI_EXIT_SERVER;
        }
        switch (e) {
        case CURLE_ABORTED_BY_CALLBACK:
                return CLI_EXIT_INTERRUPTED;
        case CURLE_COULDNT_CONNECT:
                (void) curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
                connect_error(c, os_errno);
                return CLI_EXIT_UNREACHABLE;
        case CURLE_OPERATION_TIMEDOUT:
                if (x->by_deadline)
                        return CLI_EXIT_STILL_RUNNING;
                cli_error(c->cmd, "cordond at %s did not answer in time", c->socket);
                return CLI_EXIT_UNREACHABLE;
        default:
                cli_error(c->cmd, "lost the connection to cordond at %s: %s", c->socket,
                          curl_easy_strerror(e));
                return CLI_EXIT_UNREACHABLE;
        }
}

static void parse_body(struct cli_response *r)
{
        const char *t = r->content_type;

        if (!r->body)
                return;
        if (strncasecmp(t, "application/json", 16) == 0 ||
            strncasecmp(t, "application/problem+json", 24) == 0)
                r->json = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, NULL);
}

static int send_once(struct cli_client *c, const struct cli_request *rq, struct cli_response *resp)
{
        struct xfer x = { .rq = rq, .resp = resp, .c = c };
        struct curl_slist *headers = request_headers(rq);
        curl_mime *form = NULL;
        char url[4096];
        CURLcode e;
        int r;

        cli_response_clear(resp);
        if (rq->job_json)
                form = build_form(c->curl, rq);
        if ((rq->job_json && (!form || !headers)) || (rq->range_from && !headers)) {
                curl_slist_free_all(headers);
                cli_error(c->cmd, "out of memory");
                return CLI_EXIT_IO;
        }
        r = setup(c, rq, &x, form, headers, url, sizeof(url));
        if (r < 0) {
                curl_mime_free(form);
                curl_slist_free_all(headers);
                if (r == -ENOTSUP) {
                        cli_error(c->cmd, "libcurl 7.80 or later is needed (to check who "
                                          "serves the socket before sending)");
                        return CLI_EXIT_IO;
                }
                cli_error(c->cmd, "cannot set up the request (URL over %zu bytes?)", sizeof(url));
                return CLI_EXIT_USAGE;
        }
        e = curl_easy_perform(c->curl);
        curl_mime_free(form);
        curl_slist_free_all(headers);
        /* An upload cordond refused early (413) may end in a send error
         * after the whole answer arrived: the answer is what counts. */
        if (e != CURLE_OK && !x.sink_done &&
            !(x.final && resp->status >= 300 && !x.too_large && resp->body &&
              (e == CURLE_SEND_ERROR || e == CURLE_RECV_ERROR))) {
                r = transfer_error(c, e, &x);
                cli_response_clear(resp);
                return r;
        }
        parse_body(resp);
        return 0;
}

/* What cordond turns away before reading the request (429 rate_limited,
 * 503 too_many_connections): nothing was done, so it may be sent again. */
static bool turned_away(const struct cli_response *r)
{
        const char *code = json_string_value(json_object_get(r->json, "code"));

        return code && ((r->status == 429 && strcmp(code, "rate_limited") == 0) ||
                        (r->status == 503 && strcmp(code, "too_many_connections") == 0));
}

/* Before sending a request again: its inputs from their start. */
static bool rewind_inputs(const struct cli_request *rq)
{
        for (size_t i = 0; i < rq->n_inputs; i++)
                if (lseek(rq->inputs[i].fd, 0, SEEK_SET) < 0)
                        return false;
        return true;
}

/* How long a request cordond turned away is sent again (docs/cli.md). */
#define CLI_RETRY_MS 10000

int cli_send(struct cli_client *c, const struct cli_request *rq, struct cli_response *resp)
{
        uint64_t until = cd_now_ms() + CLI_RETRY_MS;

        if (rq->deadline_ms != 0 && rq->deadline_ms < until)
                until = rq->deadline_ms;

        for (;;) {
                int r = send_once(c, rq, resp);
                uint64_t pause;

                if (r != 0 || !turned_away(resp))
                        return r;
                pause = resp->retry_after_s ? resp->retry_after_s * 1000ULL : 1000;
                if (pause > 5000)
                        pause = 5000;
                /* Out of time: the caller reports the 429 or 503 as it is. */
                if (cd_now_ms() + pause > until || !rewind_inputs(rq))
                        return 0;
                if (cli_sleep_ms(pause) < 0)
                        return CLI_EXIT_INTERRUPTED;
        }
}

int cli_status_exit(long status)
{
        switch (status) {
        case 401:
        case 403:
                return CLI_EXIT_FORBIDDEN;
        case 404:
        case 410:
                return CLI_EXIT_NOT_FOUND;
        case 429:
        case 503:
                return CLI_EXIT_BUSY;
        }
        return status >= 400 && status < 500 ? CLI_EXIT_REJECTED : CLI_EXIT_SERVER;
}

/* What to do about a problem @code, or "". @buf holds a built hint. */
static const char *hint(const struct cli_response *r, const char *code, char *buf, size_t size)
{
        static const char *const fixed[][2] = {
                { "job_not_found", "see 'cordon list'" },
                { "artifact_not_found", "see 'cordon artifacts ID'" },
                { "job_not_finished", "wait for it with 'cordon wait ID'" },
                { "unknown_profile", "see 'cordon profiles'" },
                { "shutting_down", "retry when cordond is back" },
                { "too_many_connections", "retry shortly" },
                { "insufficient_storage",
                  "retry later; an admin can free space or lower min_free" },
                { "quota_exceeded", "delete jobs you no longer need ('cordon delete ID')" },
                { "internal", "cordond's log says more" },
        };

        if (strcmp(code, "forbidden") == 0) {
                (void) snprintf(buf, size,
                                "uid %u: an admin can list it under \"submitters\" or \"admins\" "
                                "in cordond.json",
                                (unsigned int) getuid());
                return buf;
        }
        if (r->status == 429) {
                (void) snprintf(buf, size, "retry in %u s",
                                r->retry_after_s ? r->retry_after_s : 1);
                return buf;
        }
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++)
                if (strcmp(code, fixed[i][0]) == 0)
                        return fixed[i][1];
        return "";
}

int cli_check(const struct cli_client *c, const struct cli_response *r, const char *what)
{
        const char *code = json_string_value(json_object_get(r->json, "code"));
        const char *detail = json_string_value(json_object_get(r->json, "detail"));
        const char *title = json_string_value(json_object_get(r->json, "title"));
        cleanup_free char *ecode = NULL, *edetail = NULL;
        char status[32], buf[160];
        const char *h;

        if (r->status >= 200 && r->status < 300)
                return 0;
        (void) snprintf(status, sizeof(status), "HTTP %ld", r->status);
        /* The answer is cordond's, but show it as inert text all the same. */
        ecode = cli_escape(code ? code : status);
        edetail = cli_escape(detail && *detail ? detail : title ? title : status);
        h = hint(r, code ? code : "", buf, sizeof(buf));
        cli_error(c->cmd, "%s%s%s (%s%s%s)", what ? what : "", what ? ": " : "",
                  edetail ? edetail : status, ecode ? ecode : status, *h ? "; " : "", h);
        return cli_status_exit(r->status);
}

int cli_call(struct cli_client *c, const char *method, const char *path, const char *what,
             long timeout_s, json_t **ret)
{
        struct cli_request rq = { .method = method,
                                  .path = path,
                                  .timeout_s = timeout_s ? timeout_s : CALL_TIMEOUT_S };
        struct cli_response resp = { 0 };
        int r = cli_send(c, &rq, &resp);

        if (r == 0)
                r = cli_check(c, &resp, what);
        if (r == 0 && resp.len > 0 && !resp.json) {
                cli_error(c->cmd, "cordond's answer is not JSON (HTTP %ld)", resp.status);
                r = CLI_EXIT_SERVER;
        }
        if (r == 0 && ret)
                *ret = TAKE_PTR(resp.json);
        cli_response_clear(&resp);
        return r;
}

char *cli_url_encode(const char *s, bool keep_slash)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(s);
        char *out = malloc(n * 3 + 1), *o = out;

        if (!out)
                return NULL;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~", *p) || (keep_slash && *p == '/')) {
                        *o++ = (char) *p;
                } else {
                        *o++ = '%';
                        *o++ = hex[*p >> 4];
                        *o++ = hex[*p & 15];
                }
        }
        *o = '\0';
        return out;
}
