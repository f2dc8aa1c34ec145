/*
 * server.c: zkocc's one port.  Each client starts with an HTTP head:
 * "CONNECT /_bson_rpc_ HTTP/1.x" switches it to RPC frames (the Go RPC
 * BSON protocol, zkocc_wire.h); "GET /debug/vars", "GET /metrics" and
 * "GET /healthz" get one answer and are closed; anything else gets a 4xx
 * status and is closed.
 *
 * RPC: every frame already in the read buffer is handled before one
 * write answers them all (uv_try_write first, uv_write for the rest).  A
 * frame whose body is bad, or names an unknown method, is answered with
 * an error in its header and the connection goes on; a frame that cannot
 * be delimited (a length below 5 or above --max-frame-bytes, garbage) or
 * a header that cannot be read gets an error reply and the connection is
 * closed after it is written.  Limits: --max-connections (over it, a
 * connection is accepted and closed at once), --max-inflight requests
 * waiting for ZooKeeper per client (over it, the client is not read until
 * answers go out), --max-output-bytes of unwritten answers (over it, the
 * client is closed: it does not read), --write-timeout without write
 * progress while answers wait, --idle-timeout without a request, and a
 * bound on the time to send the HTTP head.
 *
 * A client may go while answers are still on their way: waiters hold a
 * reference, and the client is freed when the last one is answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zkcell/sys/conn_impl.h>

#include "zkocc.h"

enum { ST_HEAD, ST_RPC, ST_CLOSING };

struct zo_client {
    struct zo_client *prev, *next;
    zo *z;
    uv_tcp_t tcp;
    zkc_wire_reader *reader;
    zkc_wire_buf out;     /* answers not yet written */
    zkc_wire_buf writing; /* the bytes of the write in flight */
    uv_write_t wreq;
    bool write_busy;
    bool dirty;
    bool reading;
    bool closed;       /* uv_close called */
    bool handle_gone;  /* its close callback ran */
    bool close_after_write;
    bool processing;
    bool needs_process;
    int state;
    int refs;
    unsigned inflight;
    int64_t created_ms, active_ms, write_progress_ms;
    struct zo_client *dnext; /* the dirty list */
    bool on_dirty;
};

typedef struct zo_server {
    uv_tcp_t listener;
    bool listening;
    zo_client *clients;
    unsigned nclients;
    zo_client *dirty;
    uv_timer_t sweep;
    uint64_t rejected;
} zo_server;

static const char *const method_name[3] = {ZKC_WIRE_METHOD_GET, ZKC_WIRE_METHOD_CHILDREN,
                                           ZKC_WIRE_METHOD_GETV};

/* ---- lifetime ---- */

static void client_free(zo_client *c)
{
    zkc_wire_reader_free(c->reader);
    zkc_wire_buf_free(&c->out);
    zkc_wire_buf_free(&c->writing);
    free(c);
}

void zo_client_ref(zo_client *c)
{
    c->refs++;
    c->inflight++;
}

static void maybe_resume(zo_client *c);

void zo_client_unref(zo_client *c)
{
    c->inflight--;
    if (--c->refs == 0 && c->handle_gone) {
        client_free(c);
        return;
    }
    maybe_resume(c);
}

static void on_closed(uv_handle_t *h)
{
    zo_client *c = h->data;
    c->handle_gone = true;
    if (--c->refs == 0)
        client_free(c);
}

static void client_close(zo_client *c)
{
    if (c->closed)
        return;
    zo_server *s = c->z->server;
    c->closed = true;
    c->state = ST_CLOSING;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->nclients--;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* ---- writing ---- */

static void mark_dirty(zo_client *c)
{
    if (c->on_dirty || c->closed)
        return;
    zo_server *s = c->z->server;
    c->on_dirty = true;
    c->dnext = s->dirty;
    s->dirty = c;
}

static void flush(zo_client *c);

static void on_written(uv_write_t *req, int status)
{
    zo_client *c = req->data;
    c->write_busy = false;
    c->writing.len = 0;
    if (status != 0 || c->closed) {
        client_close(c);
        return;
    }
    c->write_progress_ms = zkc_impl_now_ms();
    flush(c);
    maybe_resume(c);
    zo_clients_flush(c->z);
}

static void flush(zo_client *c)
{
    if (c->closed || c->write_busy)
        return;
    if (c->out.len == 0) {
        if (c->close_after_write)
            client_close(c);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)c->out.len) {
        c->out.len = 0;
        c->write_progress_ms = zkc_impl_now_ms();
        if (c->close_after_write)
            client_close(c);
        else
            maybe_resume(c); /* it may have stopped reading for this output */
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        client_close(c);
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    if (done > 0)
        c->write_progress_ms = zkc_impl_now_ms();
    /* The rest goes out with uv_write, from the other buffer. */
    zkc_wire_buf t = c->writing;
    c->writing = c->out;
    c->out = t;
    c->out.len = 0;
    b = uv_buf_init((char *)c->writing.data + done, (unsigned)(c->writing.len - done));
    c->wreq.data = c;
    c->write_busy = true;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        c->write_busy = false;
        client_close(c);
    }
}

static void process(zo_client *c);

void zo_clients_flush(zo *z)
{
    zo_server *s = z->server;
    while (s->dirty != NULL) {
        zo_client *c = s->dirty;
        s->dirty = c->dnext;
        c->on_dirty = false;
        if (c->needs_process && !c->closed && !c->processing) {
            c->needs_process = false;
            process(c);
        }
        flush(c);
    }
}

static bool over_output(zo_client *c)
{
    if (c->out.len + c->writing.len <= c->z->opt.max_output_bytes)
        return false;
    zo_log("client: more than %zu bytes of answers unread; closing it",
           c->z->opt.max_output_bytes);
    client_close(c);
    return true;
}

static void put_header(zo_client *c, int64_t seq, const char *method, size_t mlen,
                       const char *err)
{
    zkc_wire_put_reply_header(&c->out, method, mlen, seq, err, err != NULL ? strlen(err) : 0);
}

void zo_client_answer(zo_client *c, int64_t seq, int kind, const uint8_t *doc, size_t len,
                      bool cached, bool stale)
{
    if (c->closed)
        return;
    const char *m = method_name[kind];
    put_header(c, seq, m, strlen(m), NULL);
    size_t at = c->out.len;
    if (zkc_wire_buf_append(&c->out, doc, len) == ZKC_OK)
        zkc_wire_node_set_flags(c->out.data + at, len, cached, stale);
    if (!over_output(c))
        mark_dirty(c);
}

void zo_client_answer_raw(zo_client *c, int64_t seq, int kind, const zkc_wire_buf *body)
{
    if (c->closed)
        return;
    const char *m = method_name[kind];
    put_header(c, seq, m, strlen(m), NULL);
    zkc_wire_buf_append(&c->out, body->data, body->len);
    if (!over_output(c))
        mark_dirty(c);
}

static void fail_method(zo_client *c, int64_t seq, const char *m, size_t mlen,
                        const char *msg)
{
    put_header(c, seq, m, mlen, msg);
    zkc_wire_put_empty(&c->out);
    if (!over_output(c))
        mark_dirty(c);
}

void zo_client_fail(zo_client *c, int64_t seq, int kind, const char *msg)
{
    if (c->closed)
        return;
    fail_method(c, seq, method_name[kind], strlen(method_name[kind]), msg);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    zo_client *c = h->data;
    void *p;
    size_t n;
    (void)suggested;
    if (zkc_wire_reader_space(c->reader, 64 * 1024, &p, &n) != ZKC_OK) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init(p, (unsigned)(n > (1u << 30) ? (1u << 30) : n));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void maybe_resume(zo_client *c)
{
    if (c->closed || c->reading || c->state != ST_RPC)
        return;
    if (c->inflight > c->z->opt.max_inflight / 2 ||
        c->out.len + c->writing.len > c->z->opt.max_output_bytes / 2)
        return;
    c->reading = true;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    /* Frames already read wait for no new bytes; they are handled by
     * zo_clients_flush, never from inside the cache's callbacks. */
    if (zkc_wire_reader_pending(c->reader) > 0) {
        c->needs_process = true;
        mark_dirty(c);
    }
}

static void http_reply(zo_client *c, const char *status, const char *type, const char *body)
{
    char head[512];
    size_t bl = strlen(body);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, bl);
    zkc_wire_buf_append(&c->out, head, (size_t)n);
    zkc_wire_buf_append(&c->out, body, bl);
    c->close_after_write = true;
    c->state = ST_CLOSING;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    mark_dirty(c);
}

/* The HTTP head: the request line decides. */
static void handle_head(zo_client *c, const char *head, size_t len)
{
    size_t eol = 0;
    while (eol < len && head[eol] != '\n' && head[eol] != '\r')
        eol++;
    char line[256];
    size_t ll = eol < sizeof line - 1 ? eol : sizeof line - 1;
    memcpy(line, head, ll);
    line[ll] = '\0';
    char method[16], target[200], proto[16];
    if (sscanf(line, "%15s %199s %15s", method, target, proto) != 3 ||
        strncmp(proto, "HTTP/1.", 7) != 0) {
        http_reply(c, "400 Bad Request", "text/plain", "zkocc: bad request line\n");
        return;
    }
    if (strcmp(method, "CONNECT") == 0) {
        if (strcmp(target, "/_bson_rpc_") != 0) {
            http_reply(c, "404 Not Found", "text/plain",
                       "zkocc: only CONNECT /_bson_rpc_ is served\n");
            return;
        }
        static const char reply[] = ZKC_WIRE_CONNECT_REPLY;
        zkc_wire_buf_append(&c->out, reply, sizeof reply - 1);
        c->state = ST_RPC;
        mark_dirty(c);
        return;
    }
    if (strcmp(method, "GET") != 0) {
        http_reply(c, "405 Method Not Allowed", "text/plain", "zkocc: GET or CONNECT\n");
        return;
    }
    if (strcmp(target, "/debug/vars") == 0) {
        char *j = zo_cache_vars_json(c->z);
        http_reply(c, j != NULL ? "200 OK" : "500 Internal Server Error",
                   "application/json; charset=utf-8", j != NULL ? j : "{}\n");
        free(j);
    } else if (strcmp(target, "/metrics") == 0) {
        char *m = zo_cache_metrics(c->z);
        http_reply(c, m != NULL ? "200 OK" : "500 Internal Server Error",
                   "text/plain; version=0.0.4", m != NULL ? m : "");
        free(m);
    } else if (strcmp(target, "/healthz") == 0) {
        http_reply(c, c->z->stopping ? "503 Service Unavailable" : "200 OK", "text/plain",
                   c->z->stopping ? "stopping\n" : "ok\n");
    } else {
        http_reply(c, "404 Not Found", "text/plain", "zkocc: not found\n");
    }
}

/* One frame; false when the connection must end. */
static bool handle_frame(zo_client *c, const zkc_wire_frame *f)
{
    zo *z = c->z;
    zkc_wire_header h;
    if (zkc_wire_decode_header(f->header, f->header_len, &h) != ZKC_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "rpc: bad request header: %s [EPROTO]", zkc_errmsg());
        fail_method(c, 0, "", 0, msg);
        return false;
    }
    int kind = -1;
    for (int i = 0; i < 3; i++)
        if (h.method_len == strlen(method_name[i]) &&
            memcmp(h.method, method_name[i], h.method_len) == 0)
            kind = i;
    if (kind < 0) {
        char msg[300];
        int ml = h.method_len > 100 ? 100 : (int)h.method_len;
        snprintf(msg, sizeof msg, "rpc: can't find method %.*s [ENOTSUPPORTED]", ml, h.method);
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = '?';
        fail_method(c, h.seq, h.method, h.method_len, msg);
        return true;
    }
    zo_cache_count_call(z);
    if (kind == ZO_GETV) {
        zkc_strings *paths = NULL;
        zkc_wire_limits lim = {z->opt.max_frame_bytes, 0};
        if (zkc_wire_decode_pathv(f->body, f->body_len, &lim, &paths) != ZKC_OK) {
            char msg[600];
            snprintf(msg, sizeof msg, "zkocc: bad request: %s [EPROTO]", zkc_errmsg());
            zo_client_fail(c, h.seq, kind, msg);
            return true;
        }
        zo_cache_getv(z, c, h.seq, paths);
        return true;
    }
    const char *path;
    size_t plen;
    if (zkc_wire_decode_path(f->body, f->body_len, &path, &plen) != ZKC_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "zkocc: bad request: %s [EPROTO]", zkc_errmsg());
        zo_client_fail(c, h.seq, kind, msg);
        return true;
    }
    zo_cache_get(z, c, h.seq, kind, path, plen);
    return true;
}

static void process_frames(zo_client *c);

static void process(zo_client *c)
{
    c->processing = true;
    process_frames(c);
    c->processing = false;
}

static void process_frames(zo_client *c)
{
    zo *z = c->z;
    if (c->state == ST_HEAD) {
        const char *head;
        size_t hl;
        int rc = zkc_wire_reader_head(c->reader, &head, &hl);
        if (rc == ZKC_WIRE_MORE)
            return;
        if (rc != ZKC_OK) {
            http_reply(c, "431 Request Header Fields Too Large", "text/plain",
                       "zkocc: HTTP head too large\n");
            return;
        }
        handle_head(c, head, hl);
    }
    while (c->state == ST_RPC && !c->closed) {
        if (c->inflight >= z->opt.max_inflight ||
            c->out.len + c->writing.len > z->opt.max_output_bytes / 2) {
            /* Back-pressure: stop reading until answers go out. */
            if (c->reading) {
                uv_read_stop((uv_stream_t *)&c->tcp);
                c->reading = false;
            }
            break;
        }
        zkc_wire_frame f;
        int rc = zkc_wire_reader_next(c->reader, &f);
        if (rc == ZKC_WIRE_MORE)
            break;
        if (rc != ZKC_OK) {
            char msg[600];
            snprintf(msg, sizeof msg, "rpc: %s [EPROTO]", zkc_errmsg());
            fail_method(c, 0, "", 0, msg);
            c->close_after_write = true;
            c->state = ST_CLOSING;
            break;
        }
        c->active_ms = zkc_impl_now_ms();
        if (!handle_frame(c, &f)) {
            c->close_after_write = true;
            c->state = ST_CLOSING;
            break;
        }
    }
    if (c->state == ST_CLOSING && c->reading && !c->closed) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    zo_client *c = st->data;
    (void)buf;
    if (n < 0) {
        client_close(c);
        return;
    }
    if (n == 0)
        return;
    zkc_wire_reader_commit(c->reader, (size_t)n);
    c->refs++; /* the client may be closed while processing */
    process(c);
    zo_clients_flush(c->z);
    if (--c->refs == 0 && c->handle_gone)
        client_free(c);
}

/* ---- accepting ---- */

static void on_connection(uv_stream_t *l, int status)
{
    zo *z = l->data;
    zo_server *s = z->server;
    if (status != 0 || z->stopping)
        return;
    zo_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return;
    zkc_wire_limits lim = {z->opt.max_frame_bytes, 0};
    uv_tcp_init(z->loop, &c->tcp);
    c->tcp.data = c;
    c->z = z;
    c->refs = 1; /* the handle's */
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
        zkc_wire_reader_new(&lim, &c->reader) != ZKC_OK) {
        c->closed = true;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    if (s->nclients >= z->opt.max_connections) {
        s->rejected++;
        if (s->rejected == 1 || s->rejected % 1000 == 0)
            zo_log("more than %u connections: refusing (%llu refused so far)",
                   z->opt.max_connections, (unsigned long long)s->rejected);
        c->closed = true;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->created_ms = c->active_ms = c->write_progress_ms = zkc_impl_now_ms();
    c->next = s->clients;
    if (s->clients != NULL)
        s->clients->prev = c;
    s->clients = c;
    s->nclients++;
    c->reading = true;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void sweep(uv_timer_t *t)
{
    zo *z = t->data;
    int64_t now = zkc_impl_now_ms();
    for (zo_client *c = z->server->clients, *next; c != NULL; c = next) {
        next = c->next;
        if (c->state == ST_HEAD && now - c->created_ms > z->opt.head_timeout_ms) {
            client_close(c);
        } else if (c->write_busy && now - c->write_progress_ms > z->opt.write_timeout_ms) {
            zo_log("client: answers unread for more than %d ms; closing it",
                   z->opt.write_timeout_ms);
            client_close(c);
        } else if (c->state == ST_RPC && c->inflight == 0 && !c->write_busy &&
                   now - c->active_ms > z->opt.idle_timeout_ms) {
            client_close(c);
        }
    }
    zo_clients_flush(z);
}

int zo_server_start(zo *z)
{
    zo_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    z->server = s;
    struct sockaddr_storage ss;
    if (uv_ip4_addr(z->opt.bind, z->opt.port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(z->opt.bind, z->opt.port, (struct sockaddr_in6 *)&ss) != 0) {
        zo_log("--bind %s: not an IPv4 or IPv6 address", z->opt.bind);
        return -1;
    }
    uv_tcp_init(z->loop, &s->listener);
    s->listener.data = z;
    int rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (rc != 0) {
        zo_log("listen %s:%d: %s", z->opt.bind, z->opt.port, uv_strerror(rc));
        return -1;
    }
    s->listening = true;
    struct sockaddr_storage got;
    int gl = sizeof got;
    int port = z->opt.port;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &gl) == 0)
        port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                               : ((struct sockaddr_in *)&got)->sin_port);
    zo_log("listening on %s:%d", z->opt.bind, port);
    uv_timer_init(z->loop, &s->sweep);
    s->sweep.data = z;
    uv_timer_start(&s->sweep, sweep, 1000, 1000);
    return 0;
}

void zo_server_stop_accepting(zo *z)
{
    zo_server *s = z->server;
    if (s == NULL || !s->listening)
        return;
    s->listening = false;
    uv_close((uv_handle_t *)&s->listener, NULL);
}

void zo_server_close_all(zo *z)
{
    zo_server *s = z->server;
    if (s == NULL)
        return;
    uv_timer_stop(&s->sweep);
    uv_close((uv_handle_t *)&s->sweep, NULL);
    while (s->clients != NULL)
        client_close(s->clients);
}

size_t zo_server_inflight(zo *z)
{
    size_t n = 0;
    for (zo_client *c = z->server ? z->server->clients : NULL; c != NULL; c = c->next)
        n += c->inflight + (c->write_busy || c->out.len > 0);
    return n;
}

unsigned zo_server_clients(zo *z)
{
    return z->server != NULL ? z->server->nclients : 0;
}
