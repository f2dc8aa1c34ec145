/* The zkocc client connection (zkocc.h) against a scripted server in this
 * process: a thread on a free loopback port that speaks the wire with the
 * wire library and misbehaves on demand.  Pipelining (the server answers
 * only once every call has arrived, in reverse order), Seq matching, a
 * server that closes mid-call, garbage, close with calls in flight and
 * from a completion, errors, the unsupported operations, several
 * addresses.  Every wait is on an event with a generous deadline. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <bson/bson.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zkcell/zkcell.h>
#include <zkcell/zkocc.h>
#include <zkcell/zkocc_wire.h>
#include <zkcell/sys/conn_impl.h>

#define DEADLINE_MS 30000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the scripted server ----
 * Its thread makes no cmocka assertion (they belong to the test's
 * thread): a failed check is counted, and srv_stop() asserts none. */

static atomic_int srv_failures;
#define SRV_CHECK(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            atomic_fetch_add(&srv_failures, 1);                                \
            fprintf(stderr, "# server check failed, line %d: %s\n", __LINE__, #cond); \
        }                                                                      \
    } while (0)

typedef struct srv srv;
/* Serve one accepted connection (the nconn-th, from 0), handshake done. */
typedef void (*script_fn)(srv *s, int fd, zkc_wire_reader *rd, int nconn);

struct srv {
    int lfd;
    int port;
    pthread_t thread;
    script_fn script;
    const char *handshake; /* NULL: the right reply */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int accepted;
    int requests; /* requests read, all connections */
    int fds[16];  /* accepted sockets, closed at the end */
};

static void srv_count(srv *s, int *field, int delta)
{
    pthread_mutex_lock(&s->lock);
    *field += delta;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static int srv_get(srv *s, const int *field)
{
    pthread_mutex_lock(&s->lock);
    int v = *field;
    pthread_mutex_unlock(&s->lock);
    return v;
}

/* Record (or forget, fd -1) the socket of connection n. */
static void srv_set_fd(srv *s, int n, int fd)
{
    pthread_mutex_lock(&s->lock);
    if (n < 16)
        s->fds[n] = fd;
    pthread_mutex_unlock(&s->lock);
}

/* Wait until *field >= want. */
static void srv_wait(srv *s, int *field, int want)
{
    int64_t end = now_ms() + DEADLINE_MS;
    pthread_mutex_lock(&s->lock);
    while (*field < want && now_ms() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    int got = *field;
    pthread_mutex_unlock(&s->lock);
    assert_true(got >= want);
}

static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the client went away: fine for a script */
        c += w;
        n -= (size_t)w;
    }
}

/* Read until rd holds a frame; 0 with it, -1 at EOF or error. */
static int read_frame(int fd, zkc_wire_reader *rd, zkc_wire_frame *f)
{
    for (;;) {
        int rc = zkc_wire_reader_next(rd, f);
        if (rc == ZKC_OK)
            return 0;
        if (rc != ZKC_WIRE_MORE)
            return -1;
        void *space;
        size_t len;
        if (zkc_wire_reader_space(rd, 0, &space, &len) != ZKC_OK)
            return -1;
        ssize_t r = recv(fd, space, len, 0);
        if (r <= 0)
            return -1;
        zkc_wire_reader_commit(rd, (size_t)r);
    }
}

typedef struct req {
    char method[64];
    int64_t seq;
    char path[256];
} req;

/* Read one request; 0, or -1 at EOF. */
static int read_req(srv *s, int fd, zkc_wire_reader *rd, req *r)
{
    zkc_wire_frame f;
    if (read_frame(fd, rd, &f) != 0)
        return -1;
    zkc_wire_header h;
    const char *p;
    size_t plen;
    if (zkc_wire_decode_header(f.header, f.header_len, &h) != ZKC_OK ||
        zkc_wire_decode_path(f.body, f.body_len, &p, &plen) != ZKC_OK ||
        h.method_len >= sizeof r->method || plen >= sizeof r->path) {
        SRV_CHECK(!"a well-formed request");
        return -1;
    }
    memcpy(r->method, h.method, h.method_len);
    r->method[h.method_len] = '\0';
    memcpy(r->path, p, plen);
    r->path[plen] = '\0';
    r->seq = h.seq;
    srv_count(s, &s->requests, 1);
    return 0;
}

/* The echo answer: data is the path, children a and b, version 7;
 * /missing... is ENONODE, /fail... a bare error. */
static void reply_echo(int fd, const req *r)
{
    zkc_wire_buf b = {0};
    if (strncmp(r->path, "/missing", 8) == 0 || strncmp(r->path, "/fail", 5) == 0) {
        char err[300];
        if (r->path[1] == 'm')
            snprintf(err, sizeof err, "zkocc: get %s: node does not exist [ENONODE]", r->path);
        else
            snprintf(err, sizeof err, "plain failure of %s", r->path);
        SRV_CHECK(ZKC_OK == zkc_wire_put_reply_header(&b, r->method, strlen(r->method),
                                                           r->seq, err, strlen(err)));
        SRV_CHECK(ZKC_OK == zkc_wire_put_empty(&b));
    } else {
        zkc_wire_node n;
        memset(&n, 0, sizeof n);
        n.path = (char *)r->path;
        n.path_len = strlen(r->path);
        n.data = (char *)r->path;
        n.data_len = strlen(r->path);
        n.stat.version = 7;
        n.stat.data_length = (int32_t)n.data_len;
        char a[] = "a", bb[] = "b";
        char *kids[] = {a, bb};
        zkc_strings ks = {2, kids};
        bool children = strcmp(r->method, ZKC_WIRE_METHOD_CHILDREN) == 0;
        if (children) {
            n.children = &ks;
            n.stat.num_children = 2;
        }
        n.cached = true;
        SRV_CHECK(ZKC_OK == zkc_wire_put_reply_header(&b, r->method, strlen(r->method),
                                                           r->seq, NULL, 0));
        SRV_CHECK(ZKC_OK == zkc_wire_put_node(&b, &n));
    }
    write_all(fd, b.data, b.len);
    zkc_wire_buf_free(&b);
}

static void script_echo(srv *s, int fd, zkc_wire_reader *rd, int nconn)
{
    (void)nconn;
    req r;
    while (read_req(s, fd, rd, &r) == 0)
        reply_echo(fd, &r);
}

static void *srv_main(void *arg)
{
    srv *s = arg;
    for (int n = 0;; n++) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            break;
        srv_set_fd(s, n, fd);
        srv_count(s, &s->accepted, 1);
        /* The handshake. */
        zkc_wire_reader *rd = NULL;
        SRV_CHECK(ZKC_OK == zkc_wire_reader_new(NULL, &rd));
        const char *head;
        size_t hlen;
        bool ok = true;
        while (zkc_wire_reader_head(rd, &head, &hlen) == ZKC_WIRE_MORE) {
            void *space;
            size_t len;
            zkc_wire_reader_space(rd, 0, &space, &len);
            ssize_t r = recv(fd, space, len, 0);
            if (r <= 0) {
                ok = false;
                break;
            }
            zkc_wire_reader_commit(rd, (size_t)r);
        }
        if (ok) {
            const char *reply = s->handshake ? s->handshake : ZKC_WIRE_CONNECT_REPLY;
            write_all(fd, reply, strlen(reply));
            if (s->handshake == NULL)
                s->script(s, fd, rd, n);
        }
        zkc_wire_reader_free(rd);
        /* Keep the socket open until the end unless the script closed it
         * (then it set fds[n] to -1). */
        if (n >= 16)
            close(fd);
    }
    return NULL;
}

static srv *srv_start_hs(script_fn script, const char *handshake)
{
    srv *s = calloc(1, sizeof *s);
    assert_non_null(s);
    for (int i = 0; i < 16; i++)
        s->fds[i] = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->script = script;
    s->handshake = handshake;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(0, bind(s->lfd, (struct sockaddr *)&sa, sizeof sa));
    assert_int_equal(0, listen(s->lfd, 16));
    socklen_t sl = sizeof sa;
    assert_int_equal(0, getsockname(s->lfd, (struct sockaddr *)&sa, &sl));
    s->port = ntohs(sa.sin_port);
    assert_int_equal(0, pthread_create(&s->thread, NULL, srv_main, s));
    return s;
}

static srv *srv_start(script_fn script)
{
    return srv_start_hs(script, NULL);
}

static void srv_stop(srv *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    /* Wake a script blocked on a client the test already closed. */
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < 16; i++)
        if (s->fds[i] >= 0)
            shutdown(s->fds[i], SHUT_RDWR);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    for (int i = 0; i < 16; i++)
        if (s->fds[i] >= 0)
            close(s->fds[i]);
    assert_int_equal(0, atomic_load(&srv_failures));
    close(s->lfd);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

static zkc_conn *dial(srv *s)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", s->port);
    zkc_conn *c = NULL;
    int rc = zkc_zkocc_dial(addr, NULL, &c);
    if (rc != ZKC_OK)
        fprintf(stderr, "# dial: %s\n", zkc_errmsg());
    assert_int_equal(ZKC_OK, rc);
    assert_int_equal(ZKC_STATE_CONNECTED, zkc_conn_state(c));
    return c;
}

/* A port nobody listens on. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(0, bind(fd, (struct sockaddr *)&sa, sizeof sa));
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

static void wait_state(zkc_conn *c, zkc_state want)
{
    int64_t end = now_ms() + DEADLINE_MS;
    while (zkc_conn_state(c) != want && now_ms() < end) {
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(want, zkc_conn_state(c));
}

/* ---- completions ---- */

#define MAXC 64
typedef struct collect {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n;
    int order[MAXC]; /* the index of each completion, as it came */
    int rc[MAXC];
    char data[MAXC][64];
    char errmsg[MAXC][256];
    int calls[MAXC];   /* completions per index: exactly 1 each */
    zkc_conn *close_me; /* closed from the first completion */
} collect;

typedef struct tag {
    collect *col;
    int idx;
} tag;

static void on_done(const zkc_result *res, void *ud)
{
    tag *t = ud;
    collect *col = t->col;
    if (col->close_me != NULL && t->idx == 0) {
        zkc_conn *c = col->close_me;
        col->close_me = NULL;
        zkc_conn_close(c);
    }
    pthread_mutex_lock(&col->lock);
    if (col->n < MAXC)
        col->order[col->n] = t->idx;
    col->n++;
    col->rc[t->idx] = res->rc;
    col->calls[t->idx]++;
    if (res->data != NULL)
        snprintf(col->data[t->idx], sizeof col->data[0], "%.*s", (int)res->data_len, res->data);
    if (res->errmsg != NULL)
        snprintf(col->errmsg[t->idx], sizeof col->errmsg[0], "%s", res->errmsg);
    pthread_cond_broadcast(&col->cond);
    pthread_mutex_unlock(&col->lock);
}

static void collect_init(collect *col)
{
    memset(col, 0, sizeof *col);
    pthread_mutex_init(&col->lock, NULL);
    pthread_cond_init(&col->cond, NULL);
}

static void collect_wait(collect *col, int want)
{
    int64_t end = now_ms() + DEADLINE_MS;
    pthread_mutex_lock(&col->lock);
    while (col->n < want && now_ms() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&col->cond, &col->lock, &ts);
    }
    int n = col->n;
    pthread_mutex_unlock(&col->lock);
    assert_int_equal(want, n);
}

static void submit_gets(zkc_conn *c, collect *col, tag *tags, int n, const char *fmt)
{
    for (int i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof path, fmt, i);
        tags[i].col = col;
        tags[i].idx = i;
        assert_int_equal(ZKC_OK, zkc_aget(c, path, 0, on_done, &tags[i]));
    }
}

/* ---- tests ---- */

static void test_reads_and_errors(void **state)
{
    (void)state;
    srv *s = srv_start(script_echo);
    zkc_conn *c = dial(s);
    assert_string_equal("zkocc", c->ops->name);

    char *data = NULL;
    size_t len = 0;
    zkc_stat st;
    assert_int_equal(ZKC_OK, zkc_get(c, "/x/y", &data, &len, &st, NULL));
    assert_int_equal(4, len);
    assert_string_equal("/x/y", data);
    assert_int_equal(7, st.version);
    zkc_free(data);

    zkc_strings *kids = NULL;
    assert_int_equal(ZKC_OK, zkc_children(c, "/x", &kids, &st, NULL));
    assert_int_equal(2, kids->count);
    assert_string_equal("a", kids->v[0]);
    assert_string_equal("b", kids->v[1]);
    assert_int_equal(2, st.num_children);
    zkc_strings_free(kids);

    bool exists = false;
    assert_int_equal(ZKC_OK, zkc_exists(c, "/x", &exists, &st, NULL));
    assert_true(exists);
    assert_int_equal(7, st.version);

    /* Missing: ENONODE for get and children, exists false without error. */
    assert_int_equal(ZKC_ENONODE, zkc_get(c, "/missing/a", NULL, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "node does not exist"));
    assert_int_equal(ZKC_ENONODE, zkc_children(c, "/missing/a", NULL, NULL, NULL));
    exists = true;
    assert_int_equal(ZKC_OK, zkc_exists(c, "/missing/a", &exists, NULL, NULL));
    assert_false(exists);

    /* An error without a code: a generic failure, the server's text kept;
     * exists reports it as an error too. */
    assert_int_equal(ZKC_ESYSTEMERROR, zkc_get(c, "/fail/1", NULL, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "plain failure of /fail/1"));
    assert_int_equal(ZKC_ESYSTEMERROR, zkc_exists(c, "/fail/2", &exists, NULL, NULL));

    /* The connection is still good. */
    assert_int_equal(ZKC_OK, zkc_get(c, "/z", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_STATE_CONNECTED, zkc_conn_state(c));
    assert_int_equal(0, zkc_conn_session_id(c));
    assert_non_null(strstr(zkc_conn_describe(c), "zkocc("));
    zkc_conn_close(c);
    assert_int_equal(1, srv_get(s, &s->accepted));
    srv_stop(s);
}

static void test_unsupported(void **state)
{
    (void)state;
    srv *s = srv_start(script_echo);
    zkc_conn *c = dial(s);
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_create(c, "/a", "x", 1, 0, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "create"));
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_set(c, "/a", "x", 1, -1, NULL));
    assert_non_null(strstr(zkc_errmsg(), "set"));
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_delete(c, "/a", -1));
    assert_non_null(strstr(zkc_errmsg(), "delete"));
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_get_acl(c, "/a", NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "get_acl"));
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_set_acl(c, "/a", zkc_acl_world(ZKC_PERM_ALL), -1));
    assert_non_null(strstr(zkc_errmsg(), "set_acl"));
    zkc_watch *w = NULL;
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_get(c, "/a", NULL, NULL, NULL, &w));
    assert_null(w);
    assert_non_null(strstr(zkc_errmsg(), "watch"));
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_exists(c, "/a", NULL, NULL, &w));
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_children(c, "/a", NULL, NULL, &w));
    zkc_request op = {.op = ZKC_OP_DELETE, .path = "/a", .version = -1};
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_multi(c, &op, 1, NULL));
    /* The async form: one completion, with the message naming it. */
    collect col;
    collect_init(&col);
    tag t = {&col, 0};
    assert_int_equal(ZKC_OK, zkc_acreate(c, "/a", "x", 1, 0, NULL, on_done, &t));
    collect_wait(&col, 1);
    assert_int_equal(ZKC_ENOTSUPPORTED, col.rc[0]);
    assert_non_null(strstr(col.errmsg[0], "ZkoccConn doesn't implement Create"));
    /* Nothing was sent for any of them; reads still work. */
    assert_int_equal(0, srv_get(s, &s->requests));
    assert_int_equal(ZKC_OK, zkc_get(c, "/a", NULL, NULL, NULL, NULL));
    zkc_conn_close(c);
    srv_stop(s);
}

/* Read 20 requests before answering any, then answer in reverse. */
#define NPIPE 20
static void script_batch_reverse(srv *s, int fd, zkc_wire_reader *rd, int nconn)
{
    (void)nconn;
    req r[NPIPE];
    for (int i = 0; i < NPIPE; i++)
        if (read_req(s, fd, rd, &r[i]) != 0)
            return;
    for (int i = NPIPE - 1; i >= 0; i--)
        reply_echo(fd, &r[i]);
    script_echo(s, fd, rd, nconn);
}

static void test_pipelining_and_seq(void **state)
{
    (void)state;
    srv *s = srv_start(script_batch_reverse);
    zkc_conn *c = dial(s);
    collect col;
    collect_init(&col);
    tag tags[NPIPE];
    submit_gets(c, &col, tags, NPIPE, "/p/%d");
    collect_wait(&col, NPIPE);
    for (int i = 0; i < NPIPE; i++) {
        char want[64];
        snprintf(want, sizeof want, "/p/%d", i);
        assert_int_equal(ZKC_OK, col.rc[i]);
        assert_string_equal(want, col.data[i]); /* its own reply, by Seq */
        assert_int_equal(i, col.order[i]);      /* completions in submission order */
        assert_int_equal(1, col.calls[i]);
    }
    zkc_conn_close(c);
    assert_int_equal(1, srv_get(s, &s->accepted));
    srv_stop(s);
}

/* Connection 0: read 3 requests, then close.  Later ones: echo. */
static void script_close_after_3(srv *s, int fd, zkc_wire_reader *rd, int nconn)
{
    if (nconn == 0) {
        req r;
        for (int i = 0; i < 3; i++)
            if (read_req(s, fd, rd, &r) != 0)
                return;
        srv_set_fd(s, 0, -1);
        close(fd);
        return;
    }
    script_echo(s, fd, rd, nconn);
}

static atomic_int log_warnings;

static void count_log(zkc_log_level level, const char *msg, void *ud)
{
    (void)ud;
    if (level == ZKC_LOG_WARN && strstr(msg, "closed by the server") != NULL)
        atomic_fetch_add(&log_warnings, 1);
}

static void test_server_closes_mid_call(void **state)
{
    (void)state;
    srv *s = srv_start(script_close_after_3);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", s->port);
    zkc_zkocc_opts o = ZKC_ZKOCC_OPTS_INIT;
    o.log_fn = count_log;
    zkc_conn *c = NULL;
    assert_int_equal(ZKC_OK, zkc_zkocc_dial(addr, &o, &c));
    collect col;
    collect_init(&col);
    tag tags[3];
    submit_gets(c, &col, tags, 3, "/c/%d");
    collect_wait(&col, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ZKC_ECONNECTIONLOSS, col.rc[i]);
        assert_int_equal(1, col.calls[i]);
        assert_non_null(strstr(col.errmsg[i], "closed by the server"));
    }
    wait_state(c, ZKC_STATE_SUSPENDED);
    assert_int_equal(1, atomic_load(&log_warnings)); /* logged before the state changed */
    /* The next call dials again and works. */
    char *data = NULL;
    assert_int_equal(ZKC_OK, zkc_get(c, "/after", &data, NULL, NULL, NULL));
    assert_string_equal("/after", data);
    zkc_free(data);
    assert_int_equal(2, srv_get(s, &s->accepted));
    wait_state(c, ZKC_STATE_RECONNECTED);
    zkc_conn_close(c);
    srv_stop(s);
}

/* Connection 0: a frame with a bad length.  1: a reply to a Seq never
 * asked.  2: a good frame whose body is not a ZkNode, then echo. */
static void script_garbage(srv *s, int fd, zkc_wire_reader *rd, int nconn)
{
    req r;
    if (read_req(s, fd, rd, &r) != 0)
        return;
    zkc_wire_buf b = {0};
    if (nconn == 0) {
        static const char junk[] = "\x03\x00\x00\x00garbage garbage garbage";
        write_all(fd, junk, sizeof junk - 1);
    } else if (nconn == 1) {
        zkc_wire_put_reply_header(&b, r.method, strlen(r.method), r.seq + 1000, NULL, 0);
        zkc_wire_put_empty(&b);
    } else {
        zkc_wire_put_reply_header(&b, r.method, strlen(r.method), r.seq, NULL, 0);
        bson_t doc;
        bson_init(&doc);
        bson_append_double(&doc, "Path", -1, 1.5);
        zkc_wire_buf_append(&b, bson_get_data(&doc), doc.len);
        bson_destroy(&doc);
    }
    write_all(fd, b.data, b.len);
    zkc_wire_buf_free(&b);
    if (nconn >= 2)
        script_echo(s, fd, rd, nconn);
    else
        while (read_req(s, fd, rd, &r) == 0) {
        }
}

static void test_garbage_from_server(void **state)
{
    (void)state;
    srv *s = srv_start(script_garbage);
    zkc_conn *c = dial(s);
    /* A bad frame: the call fails, the connection is dropped. */
    assert_int_equal(ZKC_EPROTO, zkc_get(c, "/g/0", NULL, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "garbage"));
    /* A reply matching no call: the same. */
    assert_int_equal(ZKC_EPROTO, zkc_get(c, "/g/1", NULL, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "matches no call"));
    /* A well-framed reply whose body is wrong: that call fails, the
     * connection stays. */
    assert_int_equal(ZKC_EPROTO, zkc_get(c, "/g/2", NULL, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "bad reply body"));
    assert_int_equal(ZKC_OK, zkc_get(c, "/g/3", NULL, NULL, NULL, NULL));
    assert_int_equal(3, srv_get(s, &s->accepted));
    zkc_conn_close(c);
    srv_stop(s);
}

/* Read everything, answer nothing. */
static void script_silent(srv *s, int fd, zkc_wire_reader *rd, int nconn)
{
    (void)nconn;
    req r;
    while (read_req(s, fd, rd, &r) == 0) {
    }
}

static void test_close_with_calls_in_flight(void **state)
{
    (void)state;
    srv *s = srv_start(script_silent);
    zkc_conn *c = dial(s);
    collect col;
    collect_init(&col);
    tag tags[5];
    submit_gets(c, &col, tags, 5, "/s/%d");
    srv_wait(s, &s->requests, 5); /* all five are on the wire */
    zkc_conn_close(c);
    /* Every completion ran, once, before close returned. */
    assert_int_equal(5, col.n);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ZKC_ECLOSING, col.rc[i]);
        assert_int_equal(1, col.calls[i]);
        assert_int_equal(i, col.order[i]);
    }
    srv_stop(s);
}

static void test_close_from_completion(void **state)
{
    (void)state;
    srv *s = srv_start(script_batch_reverse); /* answers once 20 came */
    zkc_conn *c = dial(s);
    collect col;
    collect_init(&col);
    col.close_me = c;
    tag tags[NPIPE];
    submit_gets(c, &col, tags, NPIPE, "/cc/%d");
    /* The first completion closes; every call completes exactly once. */
    collect_wait(&col, NPIPE);
    assert_int_equal(ZKC_OK, col.rc[0]);
    for (int i = 0; i < NPIPE; i++) {
        assert_int_equal(1, col.calls[i]);
        assert_true(col.rc[i] == ZKC_OK || col.rc[i] == ZKC_ECLOSING);
    }
    srv_stop(s);
}

static void test_addresses(void **state)
{
    (void)state;
    srv *s = srv_start(script_echo);
    char addrs[128];
    /* One dead address and one live one: every dial works, whatever the
     * order drawn. */
    snprintf(addrs, sizeof addrs, "127.0.0.1:%d, 127.0.0.1:%d", closed_port(), s->port);
    for (int i = 0; i < 8; i++) {
        zkc_conn *c = NULL;
        assert_int_equal(ZKC_OK, zkc_zkocc_dial(addrs, NULL, &c));
        assert_int_equal(ZKC_OK, zkc_get(c, "/a", NULL, NULL, NULL, NULL));
        zkc_conn_close(c);
    }
    /* Nothing listening. */
    zkc_conn *c = NULL;
    snprintf(addrs, sizeof addrs, "127.0.0.1:%d,127.0.0.1:%d", closed_port(), closed_port());
    assert_int_equal(ZKC_ECONNECT, zkc_zkocc_dial(addrs, NULL, &c));
    assert_null(c);
    assert_non_null(strstr(zkc_errmsg(), "zkocc connect failed"));
    /* Not addresses. */
    assert_int_equal(ZKC_ECONNECT, zkc_zkocc_dial("", NULL, &c));
    assert_int_equal(ZKC_ECONNECT, zkc_zkocc_dial("nocolon", NULL, &c));
    assert_int_equal(ZKC_ECONNECT, zkc_zkocc_dial("127.0.0.1:x1", NULL, &c));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_zkocc_dial(NULL, NULL, &c));
    zkc_zkocc_opts o = ZKC_ZKOCC_OPTS_INIT;
    o.version = 99;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_zkocc_dial(addrs, &o, &c));
    srv_stop(s);

    /* A server that is not a Go RPC server. */
    s = srv_start_hs(script_echo, "HTTP/1.0 404 Not Found\n\n");
    snprintf(addrs, sizeof addrs, "127.0.0.1:%d", s->port);
    assert_int_equal(ZKC_ECONNECT, zkc_zkocc_dial(addrs, NULL, &c));
    assert_non_null(strstr(zkc_errmsg(), "unexpected HTTP response"));
    srv_stop(s);
}

/* The connection cache dials zkocc addresses with the zkocc client. */
static void test_conn_cache_zkocc(void **state)
{
    (void)state;
    srv *s = srv_start(script_echo);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"c1\": \"127.0.0.1:1\", \"c1:_zkocc\": \"127.0.0.1:%d\"}",
             s->port);
    zkc_cells_opts co = ZKC_CELLS_OPTS_INIT;
    co.config_text = cfg;
    co.ignore_env = true;
    co.local_cell = "c1";
    zkc_cells *cells = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_new(&co, &cells));
    assert_int_equal(ZKC_OK, zkc_cells_refresh(cells));
    zkc_conn_cache_opts cco = ZKC_CONN_CACHE_OPTS_INIT;
    cco.zkocc = true;
    zkc_conn_cache *cache = NULL;
    assert_int_equal(ZKC_OK, zkc_conn_cache_new(cells, &cco, &cache));
    zkc_conn *m = NULL;
    assert_int_equal(ZKC_OK, zkc_meta_open(cache, NULL, &m));
    char *data = NULL;
    assert_int_equal(ZKC_OK, zkc_get(m, "/zk/c1/x", &data, NULL, NULL, NULL));
    assert_string_equal("/zk/c1/x", data);
    zkc_free(data);
    zkc_conn *cc = NULL;
    assert_int_equal(ZKC_OK, zkc_conn_cache_get(cache, "c1", &cc));
    assert_string_equal("zkocc", cc->ops->name);
    zkc_conn_cache_release(cache, cc);
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_create(m, "/zk/c1/y", NULL, 0, 0, NULL, NULL));
    zkc_conn_close(m); /* the router owns the cache */
    zkc_cells_free(cells);
    srv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_and_errors),
        cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_pipelining_and_seq),
        cmocka_unit_test(test_server_closes_mid_call),
        cmocka_unit_test(test_garbage_from_server),
        cmocka_unit_test(test_close_with_calls_in_flight),
        cmocka_unit_test(test_close_from_completion),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_conn_cache_zkocc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
