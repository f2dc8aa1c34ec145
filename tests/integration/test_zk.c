/*
 * test_zk.c: the zk implementation of zkc_conn (conn_zk.c) against real
 * ZooKeeper 3.8 servers.
 *
 * Three kinds of tests:
 *  - dial tests that need no server (dead port, bad address lists,
 *    silence by default, the log callback);
 *  - tests on a shared server whose address list is in ZKC_TEST_ZK; when
 *    it is not set but ZKCTL (the zkctl binary; meson sets it) is, they
 *    get a standalone server of their own, started and stopped here;
 *  - tests on private servers this test starts and stops itself with
 *    zkctl: a restart under a session with credentials re-applied, and
 *    an ensemble losing each member in turn.
 * Tests that cannot run are left out with a "# SKIP" comment (cmocka's
 * own skip prints "not ok", which TAP consumers count as a failure).
 * Ports are picked free in 22500-22899; servers are stopped by the pid
 * zkctl recorded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "../children_wait.h"
#include "zk_test_util.h"

#define OK(expr) assert_int_equal(ZKC_OK, (expr))

static const char *servers; /* ZKC_TEST_ZK */
static char base[128];      /* this run's folder on the shared server */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static zkc_conn *dial_to(const char *addrs, const char *scheme, const char *cred)
{
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 10000;
    o.auth_scheme = scheme;
    o.auth_cred = cred;
    zkc_conn *c = NULL;
    int rc = zkc_zk_dial(addrs, &o, &c);
    if (rc != ZKC_OK)
        fail_msg("dial %s: %s", addrs, zkc_errmsg());
    return c;
}

static zkc_conn *dial(void)
{
    return dial_to(servers, NULL, NULL);
}

static zkc_conn *dial_auth(const char *cred)
{
    return dial_to(servers, "digest", cred);
}

#define NEED_SERVER()                                                                          \
    do {                                                                                       \
        if (servers == NULL)                                                                   \
            skip();                                                                            \
    } while (0)

static char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *P(const char *fmt, ...)
{
    static _Thread_local char buf[8][1200];
    static _Thread_local int n;
    char *p = buf[n++ % 8];
    int off = snprintf(p, 1200, "%s/", base);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p + off, (size_t)(1200 - off), fmt, ap);
    va_end(ap);
    return p;
}

static void rm_tree(zkc_conn *c, const char *path)
{
    zkc_strings *kids = NULL;
    if (zkc_children(c, path, &kids, NULL, NULL) == ZKC_OK) {
        for (size_t i = 0; i < kids->count; i++) {
            char *p = zkc_path_join(path, kids->v[i]);
            rm_tree(c, p);
            free(p);
        }
        zkc_strings_free(kids);
    }
    zkc_delete(c, path, -1);
}

/* A collector of asynchronous completions and watch events. */
typedef struct coll {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n;
    int rc[64];
    int idx[64];
    int events;
    int event_type[16];
    zkc_conn *close_me;
    int after_close_rc;
    int submitted; /* the test has submitted everything */
} coll;

#define COLL_INIT                                                                              \
    {                                                                                          \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {0}, {0}, 0, {0}, NULL, 0, 0   \
    }

typedef struct tag {
    coll *c;
    int idx;
} tag;

static void coll_done(const zkc_result *res, void *ud)
{
    tag *t = ud;
    coll *c = t->c;
    zkc_watch_free(res->watch);
    pthread_mutex_lock(&c->lock);
    if (c->n < 64) {
        c->rc[c->n] = res->rc;
        c->idx[c->n] = t->idx;
    }
    c->n++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void coll_event(zkc_watch *w, const zkc_event *ev, void *ud)
{
    (void)w;
    coll *c = ud;
    pthread_mutex_lock(&c->lock);
    if (c->events < 16)
        c->event_type[c->events] = ev->type;
    c->events++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static int coll_wait(coll *c, int n, int events, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    pthread_mutex_lock(&c->lock);
    while ((c->n < n || c->events < events) && now_ms() < deadline) {
        pthread_mutex_unlock(&c->lock);
        zkc_sleep(5, NULL);
        pthread_mutex_lock(&c->lock);
    }
    int ok = c->n >= n && c->events >= events;
    pthread_mutex_unlock(&c->lock);
    return ok;
}

/* ---- dialing (no server needed) ---- */

static void test_dial_dead_port(void **state)
{
    (void)state;
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 700;
    zkc_conn *c = (zkc_conn *)1;
    int64_t t0 = now_ms();
    /* Nothing listens on 22999 (our range's last port), nor on 22998. */
    int rc = zkc_zk_dial("127.0.0.1:22999,127.0.0.1:22998", &o, &c);
    int64_t took = now_ms() - t0;
    assert_int_equal(ZKC_ETIMEDOUT, rc);
    assert_null(c);
    assert_true(took >= 650); /* the bound is honoured; no upper bound on a loaded machine */
    assert_non_null(strstr(zkc_errmsg(), "127.0.0.1:22999,127.0.0.1:22998"));
    print_message("# dial to a dead port: ETIMEDOUT after %lld ms (bound 700 ms)\n",
                  (long long)took);
}

static void test_dial_bad_addresses(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "127.0.0.1",
                         ":2181",
                         "127.0.0.1:",
                         "127.0.0.1:0",
                         "127.0.0.1:65536",
                         "127.0.0.1:21x",
                         "127.0.0.1:2181,",
                         "127.0.0.1:2181/",
                         "127.0.0.1:2181/a/",
                         ",127.0.0.1:2181"};
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 500;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        zkc_conn *c = NULL;
        int rc = zkc_zk_dial(bad[i], &o, &c);
        if (rc != ZKC_ECONNECT)
            fail_msg("\"%s\": got %s", bad[i], zkc_err_name(rc));
        assert_null(c);
    }
    /* A name that does not resolve: refused (ZKC_ECONNECT), not left to
     * a timeout (ZKC_ETIMEDOUT, after longer than the test may run). */
    zkc_conn *c = NULL;
    o.connect_timeout_ms = 3600 * 1000;
    assert_int_equal(ZKC_ECONNECT, zkc_zk_dial("no-such-host.invalid:2181", &o, &c));
    assert_non_null(strstr(zkc_errmsg(), "no-such-host.invalid"));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_zk_dial(NULL, &o, &c));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_zk_dial("127.0.0.1:2181", &o, NULL));
    zkc_zk_opts v2 = ZKC_ZK_OPTS_INIT;
    v2.version = 2;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_zk_dial("127.0.0.1:2181", &v2, &c));
    zkc_zk_opts half = ZKC_ZK_OPTS_INIT;
    half.auth_scheme = "digest";
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_zk_dial("127.0.0.1:2181", &half, &c));
}

/* A list longer than ZKC_ZK_MAX_SERVERS is refused before the C client
 * spends (for 100,000 addresses) many seconds sorting it, beyond any
 * connect timeout; the longest list allowed is tried as usual. */
static void test_dial_too_many_addresses(void **state)
{
    (void)state;
    size_t n = ZKC_ZK_MAX_SERVERS + 1;
    char *list = malloc(n * 24);
    assert_non_null(list);
    size_t off = 0;
    for (size_t i = 0; i < n; i++)
        off += (size_t)sprintf(list + off, "%s10.%zu.%zu.%zu:2181", i > 0 ? "," : "",
                               (i >> 16) & 255, (i >> 8) & 255, i & 255);
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 500;
    zkc_conn *c = NULL;
    assert_int_equal(ZKC_ECONNECT, zkc_zk_dial(list, &o, &c));
    assert_null(c);
    char want[64];
    snprintf(want, sizeof want, "%zu addresses", n);
    if (strstr(zkc_errmsg(), want) == NULL || strstr(zkc_errmsg(), "1024") == NULL)
        fail_msg("message: %s", zkc_errmsg());
    /* With a chroot too. */
    strcat(list, "/chroot");
    assert_int_equal(ZKC_ECONNECT, zkc_zk_dial(list, &o, &c));
    /* One fewer: dialed, and nobody answers (a dead local port). */
    off = 0;
    for (size_t i = 0; i < n - 1; i++)
        off += (size_t)sprintf(list + off, "%s127.0.0.1:%d", i > 0 ? "," : "", 1);
    int rc = zkc_zk_dial(list, &o, &c);
    if (rc != ZKC_ETIMEDOUT)
        fail_msg("%zu addresses: got %s (%s)", n - 1, zkc_err_name(rc), zkc_errmsg());
    assert_null(c);
    free(list);
}

/* The C client resolves every name of the list before it tries one; a
 * slow resolver made 1,000 names take minutes.  The dial gives up at its
 * connect timeout (ETIMEDOUT, naming the cause) and leaves the resolving
 * to a thread that cleans up after itself; where names fail fast, the
 * dial fails with ECONNECT before that.  Either way, a long list is cut
 * in the message so that the reason shows. */
static void test_dial_slow_resolution(void **state)
{
    (void)state;
    size_t n = 1000;
    char *list = malloc(n * 24);
    assert_non_null(list);
    size_t off = 0;
    for (size_t i = 0; i < n; i++)
        off += (size_t)sprintf(list + off, "%sh%zu.invalid:2181", i > 0 ? "," : "", i);
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 300;
    zkc_conn *c = NULL;
    int rc = zkc_zk_dial(list, &o, &c);
    assert_null(c);
    if (rc == ZKC_ETIMEDOUT) {
        if (strstr(zkc_errmsg(), "resolving the server addresses took more than 300 ms") == NULL)
            fail_msg("message: %s", zkc_errmsg());
    } else if (rc != ZKC_ECONNECT) {
        fail_msg("got %s (%s)", zkc_err_name(rc), zkc_errmsg());
    }
    if (strstr(zkc_errmsg(), "bytes)") == NULL || strlen(zkc_errmsg()) > 400)
        fail_msg("the list is not cut: %s", zkc_errmsg());
    free(list);
}

/* The C client logs an ERROR line per failed connect; none may reach
 * stderr when no log function is installed. */
static void test_silent_by_default(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/zkc-stderr-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    unlink(tmpl);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 400;
    zkc_conn *c = NULL;
    int rc = zkc_zk_dial("127.0.0.1:22999", &o, &c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat st;
    fstat(fd, &st);
    close(fd);
    assert_int_equal(ZKC_ETIMEDOUT, rc);
    assert_int_equal(0, st.st_size);
}

typedef struct log_rec {
    pthread_mutex_t lock;
    int lines;
    int errors;
    int initiating;
    int leaked_secret;
} log_rec;

static void log_collect(zkc_log_level level, const char *msg, void *ud)
{
    log_rec *l = ud;
    pthread_mutex_lock(&l->lock);
    l->lines++;
    l->errors += level == ZKC_LOG_ERROR;
    l->initiating += strstr(msg, "Initiating client connection") != NULL;
    l->leaked_secret += strstr(msg, "s3cr3t-pw") != NULL;
    pthread_mutex_unlock(&l->lock);
}

static void test_log_callback(void **state)
{
    (void)state;
    log_rec l = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 400;
    o.log_fn = log_collect;
    o.log_ud = &l;
    o.auth_scheme = "digest";
    o.auth_cred = "carol:s3cr3t-pw";
    zkc_conn *c = NULL;
    assert_int_equal(ZKC_ETIMEDOUT, zkc_zk_dial("127.0.0.1:22999", &o, &c));
    assert_true(l.initiating >= 1);
    assert_true(l.errors >= 1); /* connection refused */
    assert_int_equal(0, l.leaked_secret);
    if (servers != NULL) {
        o.connect_timeout_ms = 10000;
        OK(zkc_zk_dial(servers, &o, &c));
        OK(zkc_exists(c, "/", NULL, NULL, NULL));
        zkc_conn_close(c);
        assert_int_equal(0, l.leaked_secret);
    }
}

/* ---- operations (shared server) ---- */

/* A dial that returns OK has published CONNECTED: callers (the cache,
 * the recipes) may look at the state right away. */
static void test_dial_is_connected(void **state)
{
    (void)state;
    NEED_SERVER();
    for (int i = 0; i < 30; i++) {
        zkc_conn *c = dial();
        assert_int_equal(ZKC_STATE_CONNECTED, zkc_conn_state(c));
        assert_true(zkc_conn_session_id(c) != 0);
        zkc_conn_close(c);
    }
}

/* The granted session timeout, and the send time of the latest answered
 * request: advanced by answers (errors from the server included), not by
 * requests the server never saw. */
static void test_session_bound(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.base_timeout_ms = 6000;
    zkc_conn *c = NULL;
    OK(zkc_zk_dial(servers, &o, &c));
    /* The server may round it to its tick bounds, never to 0. */
    assert_true(zkc_zk_session_timeout(c) > 0);
    int64_t before = now_ms();
    bool exists = true;
    OK(zkc_exists(c, P("no-such-node"), &exists, NULL, NULL));
    int64_t heard = zkc_zk_last_heard(c);
    assert_true(heard >= before && heard <= now_ms());
    int64_t before2 = now_ms();
    assert_int_equal(ZKC_ENONODE, zkc_get(c, P("no-such-node"), NULL, NULL, NULL, NULL));
    assert_true(zkc_zk_last_heard(c) >= before2);
    zkc_conn_close(c);

    /* Other connections have no session of their own to bound. */
    zkc_fake_tree *t = zkc_fake_tree_new();
    zkc_conn *f = NULL;
    OK(zkc_fake_open(t, &f));
    OK(zkc_exists(f, "/x", &exists, NULL, NULL));
    assert_int_equal(0, zkc_zk_session_timeout(f));
    assert_int_equal(0, zkc_zk_last_heard(f));
    assert_int_equal(0, zkc_zk_session_timeout(NULL));
    zkc_conn_close(f);
    zkc_fake_tree_free(t);
}

static void test_basic_ops(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *a = dial(), *b = dial();
    assert_non_null(strstr(zkc_conn_describe(a), servers));
    const char bin[] = {0, 1, 2, (char)0xff, 0, 'z'};
    char *created = NULL;
    OK(zkc_create(a, P("basic"), bin, sizeof bin, 0, NULL, &created));
    assert_string_equal(P("basic"), created);
    zkc_free(created);
    char *data = NULL;
    size_t len = 0;
    zkc_stat st;
    OK(zkc_get(b, P("basic"), &data, &len, &st, NULL));
    assert_int_equal(sizeof bin, len);
    assert_memory_equal(bin, data, len);
    assert_int_equal(0, data[len]);
    assert_int_equal(sizeof bin, st.data_length);
    zkc_free(data);
    OK(zkc_set(b, P("basic"), "v2", 2, st.version, &st));
    assert_int_equal(1, st.version);
    assert_int_equal(ZKC_EBADVERSION, zkc_set(a, P("basic"), "v3", 2, 0, NULL));
    bool exists = false;
    OK(zkc_exists(a, P("basic"), &exists, &st, NULL));
    assert_true(exists);
    assert_int_equal(2, st.data_length);
    OK(zkc_delete(a, P("basic"), 1));
    OK(zkc_exists(b, P("basic"), &exists, NULL, NULL));
    assert_false(exists);
    assert_int_equal(ZKC_ENONODE, zkc_get(a, P("basic"), NULL, NULL, NULL, NULL));
    zkc_conn_close(a);
    zkc_conn_close(b);
}

/* A blocking get, children or exists with nothing else outstanding goes
 * through the C client's synchronous call (answered on the caller's
 * thread), with the submitted form's results; a node larger than the
 * call's buffer is read again whole, and a watched read is submitted. */
/* After a submitted operation, its completion may still be tidying up
 * when the next blocking call starts, which is then submitted too: read
 * until one goes through the synchronous call.  Returns the count then. */
static long calls_settle_at(zkc_conn *c, const char *path)
{
    long n = zkc__zk_calls(c, NULL);
    assert_true(n >= 0);
    for (int i = 0; i < 1000; i++) {
        bool exists = false;
        OK(zkc_exists(c, path, &exists, NULL, NULL));
        long m = zkc__zk_calls(c, NULL);
        if (m > n)
            return m;
    }
    fail_msg("no blocking call went through the synchronous call");
    return -1;
}

static long calls_settle(zkc_conn *c)
{
    return calls_settle_at(c, base);
}

static void test_blocking_calls_here(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *c = dial();
    OK(zkc_create(c, P("here"), "abc", 3, 0, NULL, NULL));
    OK(zkc_create(c, P("here/k1"), NULL, 0, 0, NULL, NULL));
    long n0 = calls_settle(c);
    char *data = NULL;
    size_t len = 0;
    zkc_stat st;
    OK(zkc_get(c, P("here"), &data, &len, &st, NULL));
    assert_int_equal(3, len);
    assert_memory_equal("abc", data, 4); /* with its NUL */
    assert_int_equal(3, st.data_length);
    assert_int_equal(1, st.num_children);
    zkc_free(data);
    assert_int_equal(n0 + 1, zkc__zk_calls(c, NULL));
    zkc_strings *kids = NULL;
    memset(&st, 0, sizeof st);
    OK(zkc_children(c, P("here"), &kids, &st, NULL));
    assert_int_equal(1, kids->count);
    assert_string_equal("k1", kids->v[0]);
    assert_int_equal(1, st.num_children);
    zkc_strings_free(kids);
    kids = NULL;
    OK(zkc_children(c, P("here/k1"), &kids, NULL, NULL));
    assert_int_equal(0, kids->count);
    zkc_strings_free(kids);
    bool exists = true;
    OK(zkc_exists(c, P("here/none"), &exists, NULL, NULL));
    assert_false(exists);
    OK(zkc_exists(c, P("here"), &exists, &st, NULL));
    assert_true(exists);
    assert_int_equal(3, st.data_length);
    assert_int_equal(ZKC_ENONODE, zkc_get(c, P("here/none"), &data, &len, NULL, NULL));
    assert_int_equal(ZKC_ENONODE, zkc_children(c, P("here/none"), &kids, NULL, NULL));
    assert_int_equal(n0 + 7, zkc__zk_calls(c, NULL));
    /* The error message names the path, as the submitted form's does. */
    assert_non_null(strstr(zkc_errmsg(), P("here/none")));

    /* Past the call's buffer: the data comes whole, read a second time. */
    static char big[10000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    OK(zkc_set(c, P("here"), big, sizeof big, -1, NULL));
    long n1 = calls_settle(c);
    OK(zkc_get(c, P("here"), &data, &len, &st, NULL));
    assert_int_equal(sizeof big, len);
    assert_memory_equal(big, data, len);
    assert_int_equal(sizeof big, st.data_length);
    zkc_free(data);
    assert_int_equal(n1 + 1, zkc__zk_calls(c, NULL)); /* called, then submitted */

    /* A watched read is submitted, and its watch works. */
    zkc_watch *w = NULL;
    n1 = calls_settle(c);
    OK(zkc_get(c, P("here"), NULL, NULL, NULL, &w));
    assert_int_equal(n1, zkc__zk_calls(c, NULL));
    OK(zkc_set(c, P("here"), "x", 1, -1, NULL));
    OK(zkc_watch_wait(w, 10000, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(w)->type);
    zkc_watch_free(w);
    rm_tree(c, P("here"));
    zkc_conn_close(c);
}

/* Children without their stat (ZKC_NOSTAT, getChildren): the names, no
 * stat; with a watch too; and the blocking form with no stat asked. */
static void test_children_nostat(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *c = dial();
    OK(zkc_create(c, P("ns"), NULL, 0, 0, NULL, NULL));
    OK(zkc_create(c, P("ns/x"), NULL, 0, 0, NULL, NULL));
    OK(zkc_create(c, P("ns/y"), NULL, 0, 0, NULL, NULL));
    names_wait w;
    assert_int_equal(ZKC_OK, names_get(c, P("ns"), ZKC_NOSTAT, &w));
    OK(w.rc);
    assert_false(w.had_stat);
    zkc_strings_sort(w.names);
    assert_int_equal(2, w.names->count);
    assert_string_equal("x", w.names->v[0]);
    assert_string_equal("y", w.names->v[1]);
    zkc_strings_free(w.names);
    assert_int_equal(ZKC_OK, names_get(c, P("ns"), 0, &w));
    OK(w.rc);
    assert_true(w.had_stat);
    zkc_strings_free(w.names);
    assert_int_equal(ZKC_OK, names_get(c, P("ns/none"), ZKC_NOSTAT, &w));
    assert_int_equal(ZKC_ENONODE, w.rc);

    assert_int_equal(ZKC_OK, names_get(c, P("ns"), ZKC_NOSTAT | ZKC_WATCH, &w));
    OK(w.rc);
    assert_false(w.had_stat);
    assert_int_equal(2, w.names->count);
    zkc_strings_free(w.names);
    assert_non_null(w.watch);
    OK(zkc_create(c, P("ns/z"), NULL, 0, 0, NULL, NULL));
    OK(zkc_watch_wait(w.watch, 10000, NULL));
    assert_int_equal(ZKC_EVENT_CHILD, zkc_watch_event(w.watch)->type);
    zkc_watch_free(w.watch);

    /* Blocking, with and without a stat asked for (answered here). */
    long n = calls_settle(c);
    zkc_strings *kids = NULL;
    OK(zkc_children(c, P("ns"), &kids, NULL, NULL));
    assert_int_equal(3, kids->count);
    zkc_strings_free(kids);
    zkc_stat st;
    memset(&st, 0, sizeof st);
    OK(zkc_children(c, P("ns"), &kids, &st, NULL));
    assert_int_equal(3, kids->count);
    assert_int_equal(3, st.num_children);
    zkc_strings_free(kids);
    assert_int_equal(n + 2, zkc__zk_calls(c, NULL));
    rm_tree(c, P("ns"));
    zkc_conn_close(c);
}

typedef struct slow_done_state {
    atomic_int done;
    int rc;
} slow_done_state;

static void slow_done(const zkc_result *res, void *ud)
{
    slow_done_state *s = ud;
    s->rc = res->rc;
    zkc_sleep(200, NULL); /* long enough for a call that overtook it to return */
    atomic_store(&s->done, 1);
}

/* A blocking call made while an earlier submission is outstanding (or
 * its completion is running) returns after that completion: it is then
 * submitted, not called. */
static void test_blocking_call_keeps_order(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *c = dial();
    OK(zkc_create(c, P("order"), "o", 1, 0, NULL, NULL));
    long n0 = zkc__zk_calls(c, NULL);
    for (int i = 0; i < 3; i++) {
        slow_done_state s = {0, 1};
        OK(zkc_aget(c, P("order"), 0, slow_done, &s));
        char *data = NULL;
        OK(zkc_get(c, P("order"), &data, NULL, NULL, NULL));
        assert_int_equal(1, atomic_load(&s.done));
        assert_int_equal(ZKC_OK, s.rc);
        assert_string_equal("o", data);
        zkc_free(data);
    }
    assert_int_equal(n0, zkc__zk_calls(c, NULL));
    OK(zkc_delete(c, P("order"), -1));
    zkc_conn_close(c);
}

static bool stat_equal(const zkc_stat *a, const zkc_stat *b)
{
    return a->czxid == b->czxid && a->mzxid == b->mzxid && a->ctime == b->ctime &&
           a->mtime == b->mtime && a->version == b->version && a->cversion == b->cversion &&
           a->aversion == b->aversion && a->ephemeral_owner == b->ephemeral_owner &&
           a->data_length == b->data_length && a->num_children == b->num_children &&
           a->pzxid == b->pzxid;
}

/* A node written with no data at all (length -1, as the Java client and
 * the C client can) reads back as empty. */
static void test_null_data(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *a = dial();
    zhandle_t *zh = zookeeper_init2(servers, NULL, 10000, NULL, NULL, 0, zk_test_silent_log);
    assert_non_null(zh);
    int rc = ZCONNECTIONLOSS;
    for (int i = 0; i < 500 && rc == ZCONNECTIONLOSS; i++) {
        rc = zoo_create(zh, P("null"), NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
        if (rc == ZCONNECTIONLOSS)
            zkc_sleep(10, NULL);
    }
    assert_int_equal(ZOK, rc);
    char *data = NULL;
    size_t len = 99;
    OK(zkc_get(a, P("null"), &data, &len, NULL, NULL));
    assert_int_equal(0, len);
    assert_non_null(data);
    zkc_free(data);

    /* All eleven stat fields, against the C client's own. */
    struct Stat zs;
    OK(zkc_set(a, P("null"), "abc", 3, -1, NULL));
    OK(zkc_create(a, P("null/kid"), NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZOK, zoo_exists(zh, P("null"), 0, &zs));
    zkc_stat st;
    OK(zkc_exists(a, P("null"), NULL, &st, NULL));
    assert_int_equal(zs.czxid, st.czxid);
    assert_int_equal(zs.mzxid, st.mzxid);
    assert_int_equal(zs.ctime, st.ctime);
    assert_int_equal(zs.mtime, st.mtime);
    assert_int_equal(zs.version, st.version);
    assert_int_equal(zs.cversion, st.cversion);
    assert_int_equal(zs.aversion, st.aversion);
    assert_int_equal(zs.ephemeralOwner, st.ephemeral_owner);
    assert_int_equal(zs.dataLength, st.data_length);
    assert_int_equal(zs.numChildren, st.num_children);
    assert_int_equal(zs.pzxid, st.pzxid);
    assert_true(st.mzxid > st.czxid && st.pzxid > st.mzxid);
    assert_int_equal(1, st.version);
    assert_int_equal(1, st.cversion);
    assert_int_equal(3, st.data_length);
    assert_int_equal(1, st.num_children);
    /* The same stat from get, children and get_acl. */
    zkc_stat s2;
    OK(zkc_get(a, P("null"), NULL, NULL, &s2, NULL));
    assert_true(stat_equal(&st, &s2));
    OK(zkc_children(a, P("null"), NULL, &s2, NULL));
    assert_true(stat_equal(&st, &s2));
    OK(zkc_get_acl(a, P("null"), NULL, &s2));
    assert_true(stat_equal(&st, &s2));
    zookeeper_close(zh);
    zkc_conn_close(a);
}

static void test_sequence_full_path(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *a = dial();
    OK(zkc_create(a, P("seq"), NULL, 0, 0, NULL, NULL));
    /* A long name: the created path is returned whole, whatever its size. */
    char name[900];
    memset(name, 'n', sizeof name - 2);
    name[sizeof name - 2] = '-';
    name[sizeof name - 1] = '\0';
    char *created = NULL;
    OK(zkc_create(a, P("seq/%s", name), "x", 1, ZKC_SEQUENCE, NULL, &created));
    assert_int_equal(strlen(P("seq/%s", name)) + 10, strlen(created));
    assert_memory_equal(P("seq/%s", name), created, strlen(P("seq/%s", name)));
    assert_string_equal("0000000000", created + strlen(created) - 10);
    OK(zkc_delete(a, created, -1));
    zkc_free(created);
    OK(zkc_create(a, P("seq/e-"), NULL, 0, ZKC_SEQUENCE | ZKC_EPHEMERAL, NULL, &created));
    assert_string_equal(P("seq/e-0000000001"), created);
    zkc_stat st;
    OK(zkc_exists(a, created, NULL, &st, NULL));
    assert_int_equal(zkc_conn_session_id(a), st.ephemeral_owner);
    zkc_free(created);
    zkc_conn_close(a);
}

static void test_children_unsorted(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *a = dial();
    OK(zkc_create(a, P("kids"), NULL, 0, 0, NULL, NULL));
    enum { N = 40 };
    bool seen[N] = {false};
    for (int i = 0; i < N; i++)
        OK(zkc_create(a, P("kids/k%02d", (i * 17) % N), NULL, 0, 0, NULL, NULL));
    zkc_strings *kids = NULL;
    zkc_stat st;
    OK(zkc_children(a, P("kids"), &kids, &st, NULL));
    assert_int_equal(N, kids->count);
    assert_int_equal(N, st.num_children);
    for (size_t i = 0; i < kids->count; i++) {
        int k = -1;
        assert_int_equal(1, sscanf(kids->v[i], "k%d", &k));
        assert_true(k >= 0 && k < N && !seen[k]);
        seen[k] = true;
    }
    zkc_strings_free(kids);
    zkc_conn_close(a);
}

static void test_ephemeral_close(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *a = dial(), *b = dial();
    OK(zkc_create(a, P("eph"), "e", 1, ZKC_EPHEMERAL, NULL, NULL));
    zkc_watch *w = NULL;
    bool exists = false;
    zkc_stat st;
    OK(zkc_exists(b, P("eph"), &exists, &st, &w));
    assert_true(exists);
    assert_int_equal(zkc_conn_session_id(a), st.ephemeral_owner);
    int64_t t0 = now_ms();
    zkc_conn_close(a);
    int64_t took = now_ms() - t0;
    OK(zkc_watch_wait(w, 5000, NULL));
    assert_int_equal(ZKC_EVENT_DELETED, zkc_watch_event(w)->type);
    zkc_watch_free(w);
    OK(zkc_exists(b, P("eph"), &exists, NULL, NULL));
    assert_false(exists);
    print_message("# close with an ephemeral: %lld ms\n", (long long)took);
    zkc_conn_close(b);
}

static void test_watches(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *a = dial(), *b = dial();
    coll cl = COLL_INIT;
    zkc_watch *wd = NULL, *wc = NULL, *we = NULL, *wx = (zkc_watch *)1;
    OK(zkc_create(a, P("w"), "0", 1, 0, NULL, NULL));
    OK(zkc_get(a, P("w"), NULL, NULL, NULL, &wd));
    OK(zkc_children(a, P("w"), NULL, NULL, &wc));
    OK(zkc_exists(a, P("w/new"), NULL, NULL, &we));
    zkc_watch_set_callback(wd, coll_event, &cl);
    zkc_watch_set_callback(wc, coll_event, &cl);
    zkc_watch_set_callback(we, coll_event, &cl);
    /* get and children on a missing node: no watch. */
    assert_int_equal(ZKC_ENONODE, zkc_get(a, P("w/none"), NULL, NULL, NULL, &wx));
    assert_ptr_equal((zkc_watch *)1, wx);
    assert_int_equal(ZKC_ENONODE, zkc_children(a, P("w/none"), NULL, NULL, &wx));
    assert_ptr_equal((zkc_watch *)1, wx);

    OK(zkc_set(b, P("w"), "1", 1, -1, NULL));
    OK(zkc_watch_wait(wd, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(wd)->type);
    assert_string_equal(P("w"), zkc_watch_event(wd)->path);
    OK(zkc_create(b, P("w/new"), NULL, 0, 0, NULL, NULL));
    OK(zkc_watch_wait(we, 5000, NULL));
    OK(zkc_watch_wait(wc, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CREATED, zkc_watch_event(we)->type);
    assert_int_equal(ZKC_EVENT_CHILD, zkc_watch_event(wc)->type);
    /* One-shot: more changes fire nothing more. */
    OK(zkc_set(b, P("w"), "2", 1, -1, NULL));
    OK(zkc_delete(b, P("w/new"), -1));
    /* A round trip after those: the session delivers events and replies
     * in the server's order, so any event of those changes came first. */
    OK(zkc_exists(a, "/", NULL, NULL, NULL));
    assert_int_equal(3, cl.events);
    zkc_watch_free(wd);
    zkc_watch_free(wc);
    zkc_watch_free(we);

    /* Many watches on one node, each fires once; a freed one never. */
    zkc_watch *ws[20];
    for (int i = 0; i < 20; i++)
        OK(zkc_get(a, P("w"), NULL, NULL, NULL, &ws[i]));
    zkc_watch_free(ws[19]);
    OK(zkc_delete(b, P("w"), -1));
    for (int i = 0; i < 19; i++) {
        OK(zkc_watch_wait(ws[i], 5000, NULL));
        assert_int_equal(ZKC_EVENT_DELETED, zkc_watch_event(ws[i])->type);
        zkc_watch_free(ws[i]);
    }
    zkc_conn_close(a);
    zkc_conn_close(b);
}

/* ---- authentication and ACLs ---- */

#define ALICE    "alice:secret"
#define ALICE_ID "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=" /* base64(sha1("alice:secret")) */

static void test_auth_acl(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *alice = dial_auth(ALICE), *alice2 = dial_auth(ALICE);
    zkc_conn *bob = dial_auth("bob:hunter2"), *anon = dial();
    OK(zkc_create(anon, P("acl"), NULL, 0, 0, NULL, NULL));

    /* digest: only alice, on any of her sessions. */
    zkc_acl dig[] = {{ZKC_PERM_ALL, "digest", ALICE_ID}};
    zkc_acl_list dig_l = {1, dig};
    OK(zkc_create(alice, P("acl/digest"), "d", 1, 0, &dig_l, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_get(anon, P("acl/digest"), NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_get(bob, P("acl/digest"), NULL, NULL, NULL, NULL));
    OK(zkc_get(alice2, P("acl/digest"), NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_set(bob, P("acl/digest"), "x", 1, -1, NULL));
    OK(zkc_set(alice, P("acl/digest"), "x", 1, -1, NULL));

    /* auth: the creator's own ids; get_acl shows the digest id. */
    zkc_acl au[] = {{ZKC_PERM_ALL, "auth", ""}};
    zkc_acl_list au_l = {1, au};
    OK(zkc_create(alice, P("acl/auth"), NULL, 0, 0, &au_l, NULL));
    zkc_acl_list *got = NULL;
    /* Since 3.4.14/3.5.5 reading an ACL needs READ or ADMIN (CVE-2019-0201). */
    assert_int_equal(ZKC_ENOAUTH, zkc_get_acl(anon, P("acl/auth"), &got, NULL));
    OK(zkc_get_acl(alice2, P("acl/auth"), &got, NULL));
    assert_int_equal(1, got->count);
    assert_string_equal("digest", got->v[0].scheme);
    assert_string_equal(ALICE_ID, got->v[0].id);
    assert_int_equal(ZKC_PERM_ALL, got->v[0].perms);
    zkc_acl_list_free(got);
    assert_int_equal(ZKC_ENOAUTH, zkc_get(anon, P("acl/auth"), NULL, NULL, NULL, NULL));
    OK(zkc_get(alice2, P("acl/auth"), NULL, NULL, NULL, NULL));
    /* An unauthenticated session has no ids for "auth". */
    assert_int_equal(ZKC_EINVALIDACL,
                     zkc_create(anon, P("acl/noauth"), NULL, 0, 0, &au_l, NULL));

    /* ip: this client is 127.0.0.1. */
    zkc_acl ip[] = {{ZKC_PERM_READ, "ip", "127.0.0.1"}, {ZKC_PERM_ALL, "ip", "10.9.9.9"}};
    zkc_acl_list ip_l = {2, ip};
    OK(zkc_create(anon, P("acl/ip"), "i", 1, 0, &ip_l, NULL));
    OK(zkc_get(bob, P("acl/ip"), NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_set(anon, P("acl/ip"), "j", 1, -1, NULL));
    zkc_acl ip_far[] = {{ZKC_PERM_ALL, "ip", "10.9.9.0/24"}};
    zkc_acl_list ip_far_l = {1, ip_far};
    OK(zkc_create(anon, P("acl/ipfar"), NULL, 0, 0, &ip_far_l, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_get(alice, P("acl/ipfar"), NULL, NULL, NULL, NULL));

    /* world, and a mixed list set and read back entry by entry. */
    OK(zkc_create(anon, P("acl/world"), "w", 1, 0, zkc_acl_world(ZKC_PERM_READ), NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_set(alice, P("acl/world"), "x", 1, -1, NULL));
    zkc_acl mixed[] = {{ZKC_PERM_READ, "world", "anyone"},
                       {ZKC_PERM_ALL, "digest", ALICE_ID},
                       {ZKC_PERM_READ | ZKC_PERM_WRITE, "ip", "127.0.0.1"}};
    zkc_acl_list mixed_l = {3, mixed};
    OK(zkc_create(anon, P("acl/mixed"), NULL, 0, 0, NULL, NULL));
    OK(zkc_set_acl(anon, P("acl/mixed"), &mixed_l, 0));
    zkc_stat st;
    OK(zkc_get_acl(bob, P("acl/mixed"), &got, &st));
    assert_int_equal(1, st.aversion);
    assert_int_equal(3, got->count);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(mixed[i].perms, got->v[i].perms);
        assert_string_equal(mixed[i].scheme, got->v[i].scheme);
        /* Without ADMIN, the server hides digest hashes (ZOOKEEPER-3472). */
        assert_string_equal(i == 1 ? "alice:x" : mixed[i].id, got->v[i].id);
    }
    zkc_acl_list_free(got);
    OK(zkc_get_acl(alice, P("acl/mixed"), &got, &st));
    assert_string_equal(ALICE_ID, got->v[1].id);
    zkc_acl_list_free(got);
    assert_int_equal(ZKC_ENOAUTH, zkc_set_acl(bob, P("acl/mixed"), zkc_acl_world(31), -1));
    OK(zkc_set_acl(alice, P("acl/mixed"), zkc_acl_world(ZKC_PERM_ALL), -1));

    /* A bad ACL is the server's EINVALIDACL, not a crash. */
    zkc_acl badip[] = {{ZKC_PERM_ALL, "ip", "not-an-ip"}};
    zkc_acl_list badip_l = {1, badip};
    assert_int_equal(ZKC_EINVALIDACL,
                     zkc_create(anon, P("acl/bad"), NULL, 0, 0, &badip_l, NULL));

    rm_tree(alice, P("acl"));
    zkc_conn_close(alice);
    zkc_conn_close(alice2);
    zkc_conn_close(bob);
    zkc_conn_close(anon);
}

static void test_auth_failure(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    /* Refused as such (ZKC_EAUTHFAILED), not left to the dial's bound
     * (ZKC_ETIMEDOUT, after longer than the test may run). */
    o.connect_timeout_ms = 3600 * 1000;
    o.auth_scheme = "no-such-scheme";
    o.auth_cred = "x:y";
    zkc_conn *c = (zkc_conn *)1;
    assert_int_equal(ZKC_EAUTHFAILED, zkc_zk_dial(servers, &o, &c));
    assert_null(c);
    assert_non_null(strstr(zkc_errmsg(), "authentication failed"));
    assert_null(strstr(zkc_errmsg(), "x:y"));
}

/* ---- sessions ---- */

typedef struct states {
    pthread_mutex_t lock;
    int n;
    zkc_state seen[32];
} states;

static void on_state(zkc_conn *c, zkc_state s, void *ud)
{
    (void)c;
    states *st = ud;
    pthread_mutex_lock(&st->lock);
    if (st->n < 32)
        st->seen[st->n++] = s;
    pthread_mutex_unlock(&st->lock);
}

static bool saw_state(states *st, zkc_state s)
{
    pthread_mutex_lock(&st->lock);
    bool found = false;
    for (int i = 0; i < st->n; i++)
        found |= st->seen[i] == s;
    pthread_mutex_unlock(&st->lock);
    return found;
}

static bool wait_state(states *st, zkc_state s, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (!saw_state(st, s)) {
        if (now_ms() >= deadline)
            return false;
        zkc_sleep(10, NULL);
    }
    return true;
}

static void test_expiry(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *c = dial(), *other = dial();
    states st = {PTHREAD_MUTEX_INITIALIZER, 0, {0}};
    zkc_conn_set_state_callback(c, on_state, &st);
    assert_int_equal(ZKC_STATE_CONNECTED, zkc_conn_state(c));
    int64_t sid = zkc_conn_session_id(c);
    assert_true(sid != 0);
    OK(zkc_create(c, P("exp"), NULL, 0, 0, NULL, NULL));
    OK(zkc_create(c, P("exp/eph"), "e", 1, ZKC_EPHEMERAL, NULL, NULL));
    zkc_watch *wg = NULL, *wc = NULL, *we = NULL, *theirs = NULL;
    OK(zkc_get(c, P("exp"), NULL, NULL, NULL, &wg));
    OK(zkc_children(c, P("exp"), NULL, NULL, &wc));
    OK(zkc_exists(c, P("exp/later"), NULL, NULL, &we));
    OK(zkc_exists(other, P("exp/eph"), NULL, NULL, &theirs));
    zkc_conn_state_ack(c);

    int64_t t0 = now_ms();
    OK(zk_test_expire(servers, c));
    print_message("# session expired from outside in %lld ms\n", (long long)(now_ms() - t0));
    zkc_watch *mine[] = {wg, wc, we};
    for (int i = 0; i < 3; i++) {
        OK(zkc_watch_wait(mine[i], 5000, NULL));
        zkc_event_type type = zkc_watch_event(mine[i])->type;
        /* The server deletes our ephemeral when the other handle closes
         * the session, and may tell our old connection about it (a CHILD
         * event on exp) before it drops that connection. */
        if (mine[i] == wc && type == ZKC_EVENT_CHILD)
            type = ZKC_EVENT_SESSION_EXPIRED;
        assert_int_equal(ZKC_EVENT_SESSION_EXPIRED, type);
        zkc_watch_free(mine[i]);
    }
    OK(zkc_watch_wait(theirs, 5000, NULL));
    assert_int_equal(ZKC_EVENT_DELETED, zkc_watch_event(theirs)->type);
    zkc_watch_free(theirs);
    assert_int_equal(ZKC_STATE_EXPIRED, zkc_conn_state(c));
    assert_true(wait_state(&st, ZKC_STATE_EXPIRED, 1000));
    struct pollfd p = {.fd = zkc_conn_state_fd(c), .events = POLLIN};
    assert_int_equal(1, poll(&p, 1, 0));
    assert_int_equal(0, zkc_conn_session_id(c));
    bool exists = true;
    OK(zkc_exists(other, P("exp/eph"), &exists, NULL, NULL));
    assert_false(exists);

    /* Afterwards: every operation fails with ESESSIONEXPIRED, accepted
     * and completed in order, never inside the submit. */
    assert_int_equal(ZKC_ESESSIONEXPIRED, zkc_get(c, P("exp"), NULL, NULL, NULL, NULL));
    coll cl = COLL_INIT;
    tag tags[5];
    for (int i = 0; i < 5; i++) {
        tags[i] = (tag){&cl, i};
        OK(zkc_aexists(c, P("exp"), ZKC_WATCH, coll_done, &tags[i]));
    }
    assert_true(coll_wait(&cl, 5, 0, 5000));
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ZKC_ESESSIONEXPIRED, cl.rc[i]);
        assert_int_equal(i, cl.idx[i]);
    }
    zkc_conn_close(c);
    rm_tree(other, P("exp"));
    zkc_conn_close(other);
}

/* The first completion holds the completion thread until released. */
typedef struct held {
    tag t;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered, release;
} held;

static void held_done(const zkc_result *res, void *ud)
{
    held *h = ud;
    pthread_mutex_lock(&h->lock);
    h->entered = 1;
    pthread_cond_broadcast(&h->cond);
    while (!h->release)
        pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
    coll_done(res, &h->t);
}

/* Operations refused because the session expired while an earlier
 * operation's completion was still running complete after it, in order. */
static void test_refused_wait_for_running_completion(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *c = dial();
    coll cl = COLL_INIT;
    held h = {{&cl, 0}, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    OK(zkc_aexists(c, "/", 0, held_done, &h));
    pthread_mutex_lock(&h.lock);
    while (!h.entered)
        pthread_cond_wait(&h.cond, &h.lock);
    pthread_mutex_unlock(&h.lock);

    /* The completion thread is busy: the expiry reaches the C client's I/O
     * thread, and the operations submitted from now on are refused. */
    bool expired = false;
    for (int attempt = 0; attempt < 10 && !expired; attempt++) {
        OK(zk_test_expire_once(servers, c));
        for (int i = 0; i < 100 && !expired; i++) {
            expired = zkc__zk_client_state(c) == ZOO_EXPIRED_SESSION_STATE;
            if (!expired)
                zkc_sleep(20, NULL);
        }
    }
    assert_true(expired);
    tag tags[40];
    int n = 0;
    for (; n < 40; n++) {
        tags[n] = (tag){&cl, n + 1};
        OK(zkc_aexists(c, "/", 0, coll_done, &tags[n]));
    }
    pthread_mutex_lock(&cl.lock);
    int early = cl.n;
    pthread_mutex_unlock(&cl.lock);
    assert_int_equal(0, early); /* nothing overtook the running completion */

    pthread_mutex_lock(&h.lock);
    h.release = 1;
    pthread_cond_broadcast(&h.cond);
    pthread_mutex_unlock(&h.lock);
    assert_true(coll_wait(&cl, n + 1, 0, 10000));
    assert_int_equal(ZKC_OK, cl.rc[0]);
    int refused = 0;
    for (int i = 0; i <= n; i++) {
        assert_int_equal(i, cl.idx[i]);
        refused += cl.rc[i] == ZKC_ESESSIONEXPIRED;
    }
    assert_int_equal(n, refused);
    zkc_conn_close(c);
}

static void close_in_done(const zkc_result *res, void *ud)
{
    coll *cl = ud;
    zkc_watch_free(res->watch);
    pthread_mutex_lock(&cl->lock);
    zkc_conn *c = cl->close_me;
    cl->close_me = NULL;
    /* Hold the completion thread until everything is submitted, so the
     * close finds operations outstanding. */
    while (c != NULL && !cl->submitted)
        pthread_cond_wait(&cl->cond, &cl->lock);
    pthread_mutex_unlock(&cl->lock);
    if (c != NULL) {
        zkc_conn_close(c);
        /* Still inside the completion: the handle is closed, not gone. */
        cl->after_close_rc = zkc_aexists(c, "/", 0, close_in_done, cl);
    }
    pthread_mutex_lock(&cl->lock);
    cl->n++;
    pthread_cond_broadcast(&cl->cond);
    pthread_mutex_unlock(&cl->lock);
}

static void test_close_in_completion(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *c = dial();
    zkc_watch *w = NULL;
    OK(zkc_exists(c, "/", NULL, NULL, &w));
    coll cl = COLL_INIT;
    cl.close_me = c;
    enum { N = 200 };
    int64_t t0 = now_ms();
    for (int i = 0; i < N; i++)
        OK(zkc_aget(c, "/", ZKC_WATCH, close_in_done, &cl));
    pthread_mutex_lock(&cl.lock);
    cl.submitted = 1;
    pthread_cond_broadcast(&cl.cond);
    pthread_mutex_unlock(&cl.lock);
    /* The first completion closes; every other one still completes once. */
    assert_true(coll_wait(&cl, N, 0, 10000));
    assert_int_equal(ZKC_ECLOSED, cl.after_close_rc);
    OK(zkc_watch_wait(w, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CLOSED, zkc_watch_event(w)->type);
    /* No second completion: close has run them all by now (the watch's
     * CLOSED comes last). */
    pthread_mutex_lock(&cl.lock);
    int completions = cl.n;
    pthread_mutex_unlock(&cl.lock);
    assert_int_equal(N, completions);
    zkc_watch_free(w);
    print_message("# close from a completion, %d operations: %lld ms\n", N,
                  (long long)(now_ms() - t0));
}

static void close_in_watch(zkc_watch *w, const zkc_event *ev, void *ud)
{
    (void)w;
    (void)ev;
    coll *cl = ud;
    zkc_conn_close(cl->close_me);
    pthread_mutex_lock(&cl->lock);
    cl->events++;
    pthread_mutex_unlock(&cl->lock);
}

static void test_close_in_watch_callback(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *c = dial(), *b = dial();
    OK(zkc_create(b, P("cw"), NULL, 0, 0, NULL, NULL));
    zkc_watch *w = NULL, *w2 = NULL;
    OK(zkc_get(c, P("cw"), NULL, NULL, NULL, &w));
    OK(zkc_children(c, P("cw"), NULL, NULL, &w2));
    coll cl = COLL_INIT;
    cl.close_me = c;
    zkc_watch_set_callback(w, close_in_watch, &cl);
    OK(zkc_set(b, P("cw"), "x", 1, -1, NULL));
    assert_true(coll_wait(&cl, 0, 1, 5000));
    /* The other watch of the closed connection ends with CLOSED. */
    OK(zkc_watch_wait(w2, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CLOSED, zkc_watch_event(w2)->type);
    zkc_watch_free(w);
    zkc_watch_free(w2);
    OK(zkc_delete(b, P("cw"), -1));
    zkc_conn_close(b);
}

/* Several threads share one connection: blocking calls and pipelined
 * submits at once, each completion exactly once. */
typedef struct worker {
    zkc_conn *c;
    int id;
    int errors;
    coll cl;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    char path[256];
    snprintf(path, sizeof path, "%s", P("threads/w%d", w->id));
    if (zkc_create(w->c, path, "0", 1, 0, NULL, NULL) != ZKC_OK)
        w->errors++;
    tag t = {&w->cl, w->id};
    for (int i = 0; i < 300; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        if (zkc_set(w->c, path, v, strlen(v), i, NULL) != ZKC_OK)
            w->errors++;
        if (zkc_aget(w->c, path, ZKC_WATCH, coll_done, &t) != ZKC_OK)
            w->errors++;
    }
    char *data = NULL;
    size_t len = 0;
    zkc_stat st;
    if (zkc_get(w->c, path, &data, &len, &st, NULL) != ZKC_OK || st.version != 300 ||
        len != 3 || memcmp(data, "299", 3) != 0)
        w->errors++;
    zkc_free(data);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    NEED_SERVER();
    zkc_conn *c = dial();
    OK(zkc_create(c, P("threads"), NULL, 0, 0, NULL, NULL));
    enum { T = 6 };
    worker w[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].c = c;
        w[i].id = i;
        coll init = COLL_INIT;
        w[i].cl = init;
        assert_int_equal(0, pthread_create(&th[i], NULL, worker_main, &w[i]));
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < T; i++) {
        assert_int_equal(0, w[i].errors);
        assert_true(coll_wait(&w[i].cl, 300, 0, 10000));
    }
    zkc_conn_close(c);
    for (int i = 0; i < T; i++)
        assert_int_equal(300, w[i].cl.n);
}

/* Many connections at once, each with its own log function. */
static void test_many_connections(void **state)
{
    (void)state;
    NEED_SERVER();
    enum { N = 24 };
    zkc_conn *c[N];
    log_rec l = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.log_fn = log_collect;
    o.log_ud = &l;
    for (int i = 0; i < N; i++)
        OK(zkc_zk_dial(servers, &o, &c[i]));
    assert_true(l.initiating >= N);
    for (int i = 0; i < N; i++) {
        OK(zkc_exists(c[i], "/", NULL, NULL, NULL));
        zkc_conn_close(c[i]);
    }
}

/* More connections than conn_zk.c has log trampolines (256), open at
 * once: every dial works, every connection answers a get, every one's
 * own log function hears its own dial (lines on the dialing thread are
 * traced to their connection past the slots too), and the lines of the
 * C client's I/O threads past the slots arrive marked as such. */
typedef struct slot_log {
    pthread_mutex_t lock;
    int initiating; /* "Initiating client connection", unmarked */
    int marked;     /* lines marked "past the 256 log slots" */
} slot_log;

static void slot_log_collect(zkc_log_level level, const char *msg, void *ud)
{
    (void)level;
    slot_log *l = ud;
    pthread_mutex_lock(&l->lock);
    bool marked = strstr(msg, "past the 256 log slots") != NULL;
    l->marked += marked;
    l->initiating += !marked && strstr(msg, "Initiating client connection") != NULL;
    pthread_mutex_unlock(&l->lock);
}

static void test_connections_past_log_slots(void **state)
{
    (void)state;
    NEED_SERVER();
    enum { N = 300 };
    /* Each connection holds a socket, the C client's wake-up pipe and a
     * state eventfd: more than a soft limit of 1024 descriptors. */
    struct rlimit rl;
    assert_int_equal(0, getrlimit(RLIMIT_NOFILE, &rl));
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        assert_int_equal(0, setrlimit(RLIMIT_NOFILE, &rl));
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 6 * N)
        fail_msg("descriptor limit %llu, want %d", (unsigned long long)rl.rlim_cur, 6 * N);

    zkc_conn *setup = dial();
    OK(zkc_create(setup, P("slots"), "many", 4, 0, NULL, NULL));
    zkc_conn_close(setup);

    zkc_conn **c = calloc(N, sizeof *c);
    slot_log *logs = calloc(N, sizeof *logs);
    assert_non_null(c);
    assert_non_null(logs);
    int dialed = 0, answered = 0;
    for (int i = 0; i < N; i++) {
        pthread_mutex_init(&logs[i].lock, NULL);
        zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
        o.connect_timeout_ms = 30000;
        o.log_fn = slot_log_collect;
        o.log_ud = &logs[i];
        int rc = zkc_zk_dial(servers, &o, &c[i]);
        if (rc != ZKC_OK)
            fail_msg("dial %d of %d: %s", i + 1, N, zkc_errmsg());
        dialed++;
    }
    for (int i = 0; i < N; i++) {
        char *data = NULL;
        size_t len = 0;
        int rc = zkc_get(c[i], P("slots"), &data, &len, NULL, NULL);
        if (rc != ZKC_OK || len != 4 || memcmp(data, "many", 4) != 0)
            fail_msg("connection %d: get: %s", i + 1, zkc_strerror(rc));
        zkc_free(data);
        answered++;
    }
    for (int i = 0; i < N; i++)
        zkc_conn_close(c[i]);
    int marked = 0;
    for (int i = 0; i < N; i++) {
        if (logs[i].initiating < 1)
            fail_msg("connection %d of %d did not hear its own dial", i + 1, N);
        marked += logs[i].marked;
        pthread_mutex_destroy(&logs[i].lock);
    }
    printf("# %d connections dialed, %d answered, %d marked lines\n", dialed, answered, marked);
    assert_int_equal(N, dialed);
    assert_int_equal(N, answered);
    assert_true(marked >= 1);
    free(c);
    free(logs);
}

/* ---- private servers, run with zkctl ---- */

/* zk_test_zkctl() and friends are in zk_test_util.h. */
#define zkctl      zk_test_zkctl
#define pick_ports zk_test_pick_ports

#define NEED_ZKCTL()                                                                           \
    do {                                                                                       \
        if (zk_test_zkctl_bin == NULL)                                                         \
            skip();                                                                            \
    } while (0)

/* A standalone server restarted under a session: SUSPENDED, then
 * RECONNECTED with the same session, credentials sent again by the C
 * client, ephemerals and watches kept. */
static void test_restart_keeps_session(void **state)
{
    (void)state;
    NEED_ZKCTL();
    char dir[] = "/tmp/zkc-it-restart-XXXXXX";
    assert_non_null(mkdtemp(dir));
    zk_test_track(dir);
    int port = pick_ports(22500, 1);
    assert_true(port > 0);
    int64_t t0 = now_ms();
    assert_int_equal(0, zkctl(dir, "start --ports %d", port));
    print_message("# zkctl start (standalone): %lld ms\n", (long long)(now_ms() - t0));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.base_timeout_ms = 20000; /* outlives the restart */
    o.connect_timeout_ms = 10000;
    o.auth_scheme = "digest";
    o.auth_cred = ALICE;
    zkc_conn *c = NULL;
    OK(zkc_zk_dial(addr, &o, &c));
    states st = {PTHREAD_MUTEX_INITIALIZER, 0, {0}};
    zkc_conn_set_state_callback(c, on_state, &st);
    int64_t sid = zkc_conn_session_id(c);
    zkc_acl dig[] = {{ZKC_PERM_ALL, "digest", ALICE_ID}};
    zkc_acl_list dig_l = {1, dig};
    OK(zkc_create(c, "/secret", "s", 1, 0, &dig_l, NULL));
    OK(zkc_create(c, "/eph", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    zkc_watch *w = NULL;
    OK(zkc_get(c, "/secret", NULL, NULL, NULL, &w));

    t0 = now_ms();
    assert_int_equal(0, zkctl(dir, "kill 1"));
    assert_true(wait_state(&st, ZKC_STATE_SUSPENDED, 10000));
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_get(c, "/secret", NULL, NULL, NULL, NULL));
    assert_int_equal(0, zkctl(dir, "start-one 1"));
    assert_true(wait_state(&st, ZKC_STATE_RECONNECTED, 15000));
    print_message("# kill + restart -> reconnected: %lld ms\n", (long long)(now_ms() - t0));
    assert_false(saw_state(&st, ZKC_STATE_EXPIRED));
    assert_int_equal(sid, zkc_conn_session_id(c));
    char *data = NULL;
    size_t len = 0;
    OK(zkc_get(c, "/secret", &data, &len, NULL, NULL)); /* credentials re-applied */
    assert_int_equal(1, len);
    zkc_free(data);
    bool exists = false;
    OK(zkc_exists(c, "/eph", &exists, NULL, NULL));
    assert_true(exists);
    /* The watch set before the restart is still there. */
    assert_false(zkc_watch_fired(w));
    OK(zkc_set(c, "/secret", "t", 1, -1, NULL));
    OK(zkc_watch_wait(w, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(w)->type);
    zkc_watch_free(w);
    zkc_conn_close(c);
    t0 = now_ms();
    assert_int_equal(0, zkctl(dir, "stop"));
    print_message("# zkctl stop: %lld ms\n", (long long)(now_ms() - t0));
    assert_int_equal(0, zkctl(dir, "teardown"));
    rmdir(dir);
    zk_test_untrack(dir);
}

typedef struct call_thread {
    zkc_conn *c;
    int rc;
} call_thread;

static void *blocking_get_main(void *arg)
{
    call_thread *t = arg;
    t->rc = zkc_get(t->c, "/paused", NULL, NULL, NULL, NULL);
    return NULL;
}

/* Close while another thread's blocking call waits inside the C client
 * for a server that went silent: close waits for the call to leave the C
 * client (which gives up on the connection within its receive timeout),
 * and the call returns an error. */
static void test_close_during_blocking_call(void **state)
{
    (void)state;
    NEED_ZKCTL();
    char dir[] = "/tmp/zkc-it-call-XXXXXX";
    assert_non_null(mkdtemp(dir));
    zk_test_track(dir);
    int port = pick_ports(22600, 1);
    assert_true(port > 0);
    assert_int_equal(0, zkctl(dir, "start --ports %d", port));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.base_timeout_ms = 3000;
    o.connect_timeout_ms = 10000;
    zkc_conn *c = NULL;
    OK(zkc_zk_dial(addr, &o, &c));
    OK(zkc_create(c, "/paused", "p", 1, 0, NULL, NULL));
    char pidfile[sizeof dir + 32];
    snprintf(pidfile, sizeof pidfile, "%s/zk1/zk.pid", dir);
    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    int pid = 0;
    assert_int_equal(1, fscanf(f, "%d", &pid));
    fclose(f);
    assert_true(pid > 0);

    long n0 = calls_settle_at(c, "/");
    assert_int_equal(0, kill(pid, SIGSTOP));
    call_thread t = {c, 1};
    pthread_t th;
    assert_int_equal(0, pthread_create(&th, NULL, blocking_get_main, &t));
    int inside = 0;
    for (int i = 0; i < 6000 && inside == 0 && zkc__zk_calls(c, &inside) == n0; i++)
        zkc_sleep(5, NULL);
    assert_int_equal(1, inside); /* the get waits inside the C client */
    zkc_conn_close(c); /* waits for the call */
    assert_int_equal(0, pthread_join(th, NULL));
    assert_int_equal(0, kill(pid, SIGCONT));
    print_message("# blocking get under close: %s\n", zkc_err_name(t.rc));
    assert_true(t.rc == ZKC_ECONNECTIONLOSS || t.rc == ZKC_EOPERATIONTIMEOUT ||
                t.rc == ZKC_ECLOSING);
    assert_int_equal(0, zkctl(dir, "stop"));
    assert_int_equal(0, zkctl(dir, "teardown"));
    rmdir(dir);
    zk_test_untrack(dir);
}

/* An ensemble loses each member in turn; the session moves and lives. */
static void test_ensemble_failover(void **state)
{
    (void)state;
    NEED_ZKCTL();
    char dir[] = "/tmp/zkc-it-ens-XXXXXX";
    assert_non_null(mkdtemp(dir));
    zk_test_track(dir);
    int port = pick_ports(22600, 3);
    assert_true(port > 0);
    int64_t t0 = now_ms();
    assert_int_equal(0,
                     zkctl(dir, "start --ports %d,%d,%d --tick 500", port, port + 1, port + 2));
    print_message("# zkctl start (3-server ensemble): %lld ms\n", (long long)(now_ms() - t0));
    char addrs[128];
    snprintf(addrs, sizeof addrs, "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", port, port + 1,
             port + 2);
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.base_timeout_ms = 10000; /* the server caps it at 20 ticks */
    o.connect_timeout_ms = 10000;
    zkc_conn *c = NULL;
    OK(zkc_zk_dial(addrs, &o, &c));
    states st = {PTHREAD_MUTEX_INITIALIZER, 0, {0}};
    zkc_conn_set_state_callback(c, on_state, &st);
    int64_t sid = zkc_conn_session_id(c);
    OK(zkc_create(c, "/eph", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    OK(zkc_create(c, "/n", "0", 1, 0, NULL, NULL));
    for (int m = 1; m <= 3; m++) {
        assert_int_equal(0, zkctl(dir, "kill %d", m));
        /* Writes go on (after the move, if it was our server). */
        int rc = ZKC_ECONNECTIONLOSS;
        int64_t deadline = now_ms() + 20000;
        while (rc != ZKC_OK && now_ms() < deadline) {
            char v[8];
            snprintf(v, sizeof v, "%d", m);
            rc = zkc_set(c, "/n", v, strlen(v), -1, NULL);
            if (rc != ZKC_OK) {
                assert_true(rc == ZKC_ECONNECTIONLOSS || rc == ZKC_EOPERATIONTIMEOUT);
                zkc_sleep(50, NULL);
            }
        }
        OK(rc);
        assert_int_equal(0, zkctl(dir, "start-one %d", m));
    }
    /* The member we used was killed once: the loss may still be on its
     * way to the state callback when the last write went through. */
    bool suspended = wait_state(&st, ZKC_STATE_SUSPENDED, 5000);
    if (!suspended) {
        pthread_mutex_lock(&st.lock);
        for (int i = 0; i < st.n; i++)
            print_message("# state %d: %s\n", i, zkc_state_name(st.seen[i]));
        pthread_mutex_unlock(&st.lock);
    }
    assert_true(suspended);
    assert_true(wait_state(&st, ZKC_STATE_RECONNECTED, 10000));
    assert_false(saw_state(&st, ZKC_STATE_EXPIRED));
    assert_int_equal(sid, zkc_conn_session_id(c));
    bool exists = false;
    OK(zkc_exists(c, "/eph", &exists, NULL, NULL));
    assert_true(exists);
    char *data = NULL;
    size_t len = 0;
    OK(zkc_get(c, "/n", &data, &len, NULL, NULL));
    assert_memory_equal("3", data, 1);
    zkc_free(data);
    zkc_conn_close(c);
    t0 = now_ms();
    assert_int_equal(0, zkctl(dir, "stop"));
    print_message("# zkctl stop (3 servers): %lld ms\n", (long long)(now_ms() - t0));
    assert_int_equal(0, zkctl(dir, "teardown"));
    rmdir(dir);
    zk_test_untrack(dir);
}

static int group_setup(void **state)
{
    (void)state;
    if (servers == NULL)
        return 0;
    snprintf(base, sizeof base, "/zkc-it-%d", (int)getpid());
    zkc_conn *c = dial_to(servers, NULL, NULL);
    int rc = zkc_create(c, base, NULL, 0, 0, NULL, NULL);
    zkc_conn_close(c);
    return rc == ZKC_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (servers == NULL)
        return 0;
    zkc_conn *c = NULL;
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.auth_scheme = "digest";
    o.auth_cred = ALICE;
    if (zkc_zk_dial(servers, &o, &c) == ZKC_OK) {
        rm_tree(c, base);
        zkc_conn_close(c);
    }
    return 0;
}

int main(void)
{
    servers = getenv("ZKC_TEST_ZK");
    if (servers != NULL && *servers == '\0')
        servers = NULL;
    const char *zkctl_bin = zk_test_zkctl_init();
    if (servers == NULL && zkctl_bin != NULL) {
        servers = zk_test_own_server_start(22500);
        printf("# ZKC_TEST_ZK is not set: %s\n",
               servers ? "using a server of our own, started with zkctl"
                       : "could not start a server with zkctl");
    }

    enum { NONE, SERVER, ZKCTL };
    static const struct {
        struct CMUnitTest t;
        int needs;
    } all[] = {
        {cmocka_unit_test(test_dial_dead_port), NONE},
        {cmocka_unit_test(test_dial_bad_addresses), NONE},
        {cmocka_unit_test(test_dial_too_many_addresses), NONE},
        {cmocka_unit_test(test_dial_slow_resolution), NONE},
        {cmocka_unit_test(test_silent_by_default), NONE},
        {cmocka_unit_test(test_log_callback), NONE},
        {cmocka_unit_test(test_dial_is_connected), SERVER},
        {cmocka_unit_test(test_session_bound), SERVER},
        {cmocka_unit_test(test_basic_ops), SERVER},
        {cmocka_unit_test(test_blocking_calls_here), SERVER},
        {cmocka_unit_test(test_blocking_call_keeps_order), SERVER},
        {cmocka_unit_test(test_children_nostat), SERVER},
        {cmocka_unit_test(test_null_data), SERVER},
        {cmocka_unit_test(test_sequence_full_path), SERVER},
        {cmocka_unit_test(test_children_unsorted), SERVER},
        {cmocka_unit_test(test_ephemeral_close), SERVER},
        {cmocka_unit_test(test_watches), SERVER},
        {cmocka_unit_test(test_auth_acl), SERVER},
        {cmocka_unit_test(test_auth_failure), SERVER},
        {cmocka_unit_test(test_expiry), SERVER},
        {cmocka_unit_test(test_refused_wait_for_running_completion), SERVER},
        {cmocka_unit_test(test_close_in_completion), SERVER},
        {cmocka_unit_test(test_close_in_watch_callback), SERVER},
        {cmocka_unit_test(test_many_connections), SERVER},
        {cmocka_unit_test(test_connections_past_log_slots), SERVER},
        {cmocka_unit_test(test_threads), SERVER},
        {cmocka_unit_test(test_restart_keeps_session), ZKCTL},
        {cmocka_unit_test(test_close_during_blocking_call), ZKCTL},
        {cmocka_unit_test(test_ensemble_failover), ZKCTL},
    };
    /* cmocka reports a skip as "not ok # SKIP", which TAP consumers count
     * as a failure: tests that cannot run are left out, and said so. */
    struct CMUnitTest tests[sizeof all / sizeof *all];
    size_t n = 0, left_out = 0;
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        bool can = all[i].needs == NONE || (all[i].needs == SERVER && servers != NULL) ||
                   (all[i].needs == ZKCTL && zkctl_bin != NULL);
        if (can)
            tests[n++] = all[i].t;
        else
            printf("# SKIP %s: %s is not set\n", all[i].t.name,
                   all[i].needs == SERVER ? "ZKC_TEST_ZK" : "ZKCTL");
        left_out += !can;
    }
    if (left_out > 0)
        printf("# %zu of %zu tests left out (set ZKC_TEST_ZK to a server's address list, "
               "ZKCTL to the zkctl binary)\n",
               left_out, sizeof all / sizeof *all);
    fflush(stdout);
    return _cmocka_run_group_tests("zk", tests, n, group_setup, group_teardown);
}
