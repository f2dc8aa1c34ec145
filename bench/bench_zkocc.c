/*
 * bench_zkocc.c: load for the zkocc rows of make bench (not a test).
 *
 *   bench_zkocc zkocc HOST:PORT PATH CONNS INFLIGHT SECONDS
 *       ZkReader.Get of PATH through a zkocc daemon: CONNS connections,
 *       one thread each, INFLIGHT calls pipelined on each, replies matched
 *       by Seq.
 *   bench_zkocc zk HOST:PORT PATH CONNS INFLIGHT SECONDS
 *       the same reads straight from ZooKeeper with the C client (through
 *       zkc_zk_dial and zkc_aget: one session per connection, a window of
 *       INFLIGHT gets on each).
 *   bench_zkocc null PORT
 *       a do-nothing responder on the same wire: answers every Get with
 *       one fixed ZkNode (one thread, libuv, all complete frames of a read
 *       answered with one write), until killed.
 *
 * Prints one line: "<seconds> <calls> <p50 us> <p99 us>".
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <zkcell/zkcell.h>
#include <zkcell/zkocc_wire.h>

#include "../tests/tcp_dial.h"

#define MAX_SAMPLES 2000000

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Latency samples, shared (a lock per sample would distort: each thread
 * keeps its own and they are merged at the end). */
typedef struct worker {
    pthread_t t;
    const char *host;
    int port;
    const char *path;
    int inflight;
    int64_t end_us;
    uint64_t calls;
    uint32_t *lat;
    size_t nlat;
    int failed;
} worker;

static void add_sample(worker *w, int64_t us)
{
    if (w->nlat < MAX_SAMPLES / 4)
        w->lat[w->nlat++] = (uint32_t)(us > 0 ? us : 0);
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

static void *zkocc_worker(void *arg)
{
    worker *w = arg;
    int fd = tcp_dial(w->host, w->port);
    zkc_wire_reader *r = NULL;
    zkc_wire_buf out = {0};
    int64_t *sent = calloc((size_t)w->inflight, sizeof *sent);
    if (fd < 0 || zkc_wire_reader_new(NULL, &r) != ZKC_OK || sent == NULL ||
        write_all(fd, ZKC_WIRE_CONNECT_REQUEST, strlen(ZKC_WIRE_CONNECT_REQUEST)) != 0) {
        w->failed = 1;
        goto done;
    }
    const char *head;
    size_t hl;
    int rc;
    do {
        void *sp;
        size_t cap;
        zkc_wire_reader_space(r, 0, &sp, &cap);
        ssize_t n = read(fd, sp, cap);
        if (n <= 0) {
            w->failed = 1;
            goto done;
        }
        zkc_wire_reader_commit(r, (size_t)n);
    } while ((rc = zkc_wire_reader_head(r, &head, &hl)) == ZKC_WIRE_MORE);
    if (rc != ZKC_OK || zkc_wire_check_connect_reply(head, hl) != ZKC_OK) {
        w->failed = 1;
        goto done;
    }
    size_t plen = strlen(w->path);
    int64_t seq = 0;
    for (int i = 0; i < w->inflight; i++) {
        sent[seq % w->inflight] = now_us();
        zkc_wire_put_request_header(&out, ZKC_WIRE_METHOD_GET, strlen(ZKC_WIRE_METHOD_GET), seq++);
        zkc_wire_put_path(&out, w->path, plen);
    }
    write_all(fd, out.data, out.len);
    bool stopping = false;
    int outstanding = w->inflight;
    while (outstanding > 0) {
        void *sp;
        size_t cap;
        zkc_wire_reader_space(r, 0, &sp, &cap);
        ssize_t n = read(fd, sp, cap);
        if (n <= 0) {
            w->failed = 1;
            break;
        }
        zkc_wire_reader_commit(r, (size_t)n);
        out.len = 0;
        int64_t t = now_us();
        if (t >= w->end_us)
            stopping = true;
        zkc_wire_frame f;
        while (zkc_wire_reader_next(r, &f) == ZKC_OK) {
            zkc_wire_header h;
            if (zkc_wire_decode_header(f.header, f.header_len, &h) != ZKC_OK || h.error_len > 0) {
                fprintf(stderr, "bench_zkocc: error reply: %.*s\n", (int)h.error_len, h.error);
                w->failed = 1;
                goto done;
            }
            add_sample(w, t - sent[h.seq % w->inflight]);
            w->calls++;
            outstanding--;
            if (!stopping) {
                sent[seq % w->inflight] = t;
                zkc_wire_put_request_header(&out, ZKC_WIRE_METHOD_GET,
                                            strlen(ZKC_WIRE_METHOD_GET), seq++);
                zkc_wire_put_path(&out, w->path, plen);
                outstanding++;
            }
        }
        if (out.len > 0 && write_all(fd, out.data, out.len) != 0) {
            w->failed = 1;
            break;
        }
    }
done:
    if (fd >= 0)
        close(fd);
    zkc_wire_reader_free(r);
    zkc_wire_buf_free(&out);
    free(sent);
    return NULL;
}

/* ---- straight from ZooKeeper ---- */

typedef struct zk_slot {
    worker *w;
    zkc_conn *c;
    int64_t sent;
    atomic_int *outstanding;
    pthread_mutex_t *lock;
} zk_slot;

static void zk_done(const zkc_result *res, void *ud)
{
    zk_slot *s = ud;
    worker *w = s->w;
    int64_t t = now_us();
    if (res->rc != ZKC_OK)
        w->failed = 1;
    pthread_mutex_lock(s->lock);
    add_sample(w, t - s->sent);
    w->calls++;
    pthread_mutex_unlock(s->lock);
    if (t < w->end_us && res->rc == ZKC_OK) {
        s->sent = t;
        if (zkc_aget(s->c, w->path, 0, zk_done, s) == ZKC_OK)
            return;
    }
    atomic_fetch_sub(s->outstanding, 1);
}

static void *zk_worker(void *arg)
{
    worker *w = arg;
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%d", w->host, w->port);
    zkc_conn *c = NULL;
    if (zkc_zk_dial(addr, NULL, &c) != ZKC_OK) {
        w->failed = 1;
        return NULL;
    }
    atomic_int outstanding = 0;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    zk_slot *slots = calloc((size_t)w->inflight, sizeof *slots);
    for (int i = 0; slots != NULL && i < w->inflight; i++) {
        slots[i] = (zk_slot){w, c, now_us(), &outstanding, &lock};
        atomic_fetch_add(&outstanding, 1);
        if (zkc_aget(c, w->path, 0, zk_done, &slots[i]) != ZKC_OK) {
            atomic_fetch_sub(&outstanding, 1);
            w->failed = 1;
        }
    }
    while (atomic_load(&outstanding) > 0)
        usleep(1000);
    zkc_conn_close(c);
    free(slots);
    return NULL;
}

/* ---- the do-nothing responder ---- */

typedef struct nconn {
    uv_tcp_t tcp;
    zkc_wire_reader *r;
    zkc_wire_buf out;
    bool head_done;
} nconn;

static zkc_wire_buf reply_body;

static void n_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    nconn *c = h->data;
    void *p;
    size_t n;
    (void)s;
    zkc_wire_reader_space(c->r, 0, &p, &n);
    *b = uv_buf_init(p, (unsigned)n);
}

static void n_closed(uv_handle_t *h)
{
    nconn *c = h->data;
    zkc_wire_reader_free(c->r);
    zkc_wire_buf_free(&c->out);
    free(c);
}

static void n_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    nconn *c = st->data;
    (void)b;
    if (n < 0) {
        uv_close((uv_handle_t *)st, n_closed);
        return;
    }
    zkc_wire_reader_commit(c->r, (size_t)n);
    c->out.len = 0;
    if (!c->head_done) {
        const char *head;
        size_t hl;
        if (zkc_wire_reader_head(c->r, &head, &hl) != ZKC_OK)
            return;
        c->head_done = true;
        zkc_wire_buf_append(&c->out, ZKC_WIRE_CONNECT_REPLY, strlen(ZKC_WIRE_CONNECT_REPLY));
    }
    zkc_wire_frame f;
    while (zkc_wire_reader_next(c->r, &f) == ZKC_OK) {
        zkc_wire_header h;
        if (zkc_wire_decode_header(f.header, f.header_len, &h) != ZKC_OK)
            continue;
        zkc_wire_put_reply_header(&c->out, h.method, h.method_len, h.seq, NULL, 0);
        zkc_wire_buf_append(&c->out, reply_body.data, reply_body.len);
    }
    if (c->out.len > 0) {
        uv_buf_t ob = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
        int k = uv_try_write(st, &ob, 1);
        if (k != (int)c->out.len) /* a benchmark peer reads: not expected */
            fprintf(stderr, "bench_zkocc null: short write\n");
    }
}

static void n_conn(uv_stream_t *l, int status)
{
    if (status != 0)
        return;
    nconn *c = calloc(1, sizeof *c);
    zkc_wire_reader_new(NULL, &c->r);
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) == 0) {
        uv_tcp_nodelay(&c->tcp, 1);
        uv_read_start((uv_stream_t *)&c->tcp, n_alloc, n_read);
    } else {
        uv_close((uv_handle_t *)&c->tcp, n_closed);
    }
}

static int run_null(int port)
{
    zkc_wire_node n = {0};
    n.path = (char *)"/zk/bench/one";
    n.path_len = strlen(n.path);
    n.data = (char *)"x";
    n.data_len = 1;
    n.cached = true;
    zkc_wire_put_node(&reply_body, &n);
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t l;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", port, &sa);
    uv_tcp_init(loop, &l);
    if (uv_tcp_bind(&l, (struct sockaddr *)&sa, 0) != 0 ||
        uv_listen((uv_stream_t *)&l, 1024, n_conn) != 0) {
        fprintf(stderr, "bench_zkocc null: cannot listen on %d\n", port);
        return 1;
    }
    return uv_run(loop, UV_RUN_DEFAULT);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "null") == 0)
        return run_null(atoi(argv[2]));
    if (argc != 7 || (strcmp(argv[1], "zkocc") != 0 && strcmp(argv[1], "zk") != 0)) {
        fprintf(stderr, "usage: bench_zkocc zkocc|zk HOST:PORT PATH CONNS INFLIGHT SECONDS\n"
                        "       bench_zkocc null PORT\n");
        return 2;
    }
    bool zk = strcmp(argv[1], "zk") == 0;
    char host[256];
    snprintf(host, sizeof host, "%s", argv[2]);
    char *colon = strrchr(host, ':');
    if (colon == NULL)
        return 2;
    *colon = '\0';
    int port = atoi(colon + 1);
    int conns = atoi(argv[4]), inflight = atoi(argv[5]);
    double secs = atof(argv[6]);
    if (conns < 1 || conns > 64 || inflight < 1 || inflight > 100000 || secs <= 0)
        return 2;
    worker *ws = calloc((size_t)conns, sizeof *ws);
    int64_t t0 = now_us();
    for (int i = 0; i < conns; i++) {
        ws[i] = (worker){.host = host, .port = port, .path = argv[3], .inflight = inflight,
                         .end_us = t0 + (int64_t)(secs * 1e6)};
        ws[i].lat = malloc(MAX_SAMPLES / 4 * sizeof *ws[i].lat);
        pthread_create(&ws[i].t, NULL, zk ? zk_worker : zkocc_worker, &ws[i]);
    }
    uint64_t calls = 0;
    size_t nlat = 0;
    uint32_t *all = malloc((size_t)conns * (MAX_SAMPLES / 4) * sizeof *all);
    int failed = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(ws[i].t, NULL);
        calls += ws[i].calls;
        memcpy(all + nlat, ws[i].lat, ws[i].nlat * sizeof *all);
        nlat += ws[i].nlat;
        failed |= ws[i].failed;
        free(ws[i].lat);
    }
    double el = (double)(now_us() - t0) / 1e6;
    qsort(all, nlat, sizeof *all, cmp_u32);
    uint32_t p50 = nlat ? all[nlat / 2] : 0, p99 = nlat ? all[nlat * 99 / 100] : 0;
    printf("%.3f %llu %u %u\n", el, (unsigned long long)calls, p50, p99);
    free(all);
    free(ws);
    if (failed)
        fprintf(stderr, "bench_zkocc: some calls failed\n");
    return failed;
}
