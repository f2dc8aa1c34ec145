/*
 * test_zk_expiry.c: exactly one completion for every accepted operation
 * across a session expiry, on a real server (ZKC_TEST_ZK).
 *
 * The C client's I/O thread marks an expired session gone, then completes
 * everything it holds.  A request that passed the C client's own state
 * check just before the mark and is queued just after the cleanup is
 * accepted (ZOK) and then answered only at close, or never.  Under load
 * this window is met now and then (cells_real lost 3 of 5,579 reads that
 * way); here it is made certain: this binary is linked with
 * -Wl,--wrap=zoo_aget,--wrap=zoo_amulti, and an armed wrapper waits until
 * the C client reports the session expired and then returns ZOK, as the
 * C client does for a request it takes in after its cleanup.
 *
 * The same wrapper makes a second window certain (test_multi_borrow): a
 * multi's completion, on the C client's thread, runs and frees the
 * caller's operations before zoo_amulti returns (the cell router does
 * that); zk_multi_submit must not read them after the hand-over.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <sys/mman.h>

#include "zk_test_util.h"

int __real_zoo_aget(zhandle_t *zh, const char *path, int watch, data_completion_t dc,
                    const void *data);
int __wrap_zoo_aget(zhandle_t *zh, const char *path, int watch, data_completion_t dc,
                    const void *data);
int __real_zoo_amulti(zhandle_t *zh, int count, const zoo_op_t *ops,
                      zoo_op_result_t *results, void_completion_t cb, const void *data);
int __wrap_zoo_amulti(zhandle_t *zh, int count, const zoo_op_t *ops,
                      zoo_op_result_t *results, void_completion_t cb, const void *data);

enum { PASS = 0, STRAND, LATE, AFTER_DONE };
/* What the next zoo_aget or zoo_amulti does: pass through; STRAND: wait
 * for the expiry, then accept without queueing (the request the cleanup
 * missed); LATE: once the connection is lost, queue it for real, then
 * return only after the expiry (a request the cleanup answers, or the
 * server before it, seen as accepted after the expiry). */
static atomic_int next_mode;

/* AFTER_DONE: queue the multi for real, then return only once its
 * completion has run (set by the test's completion). */
static atomic_int multi_done_ran;

static void wait_gone(zhandle_t *zh)
{
    for (int i = 0; i < 60000 && zoo_state(zh) != ZOO_EXPIRED_SESSION_STATE; i++)
        usleep(1000);
}

/* Until the connection is lost (the expiry's first step) or gone. */
static void wait_lost(zhandle_t *zh)
{
    for (int i = 0; i < 60000 && zoo_state(zh) == ZOO_CONNECTED_STATE; i++)
        usleep(100);
}

int __wrap_zoo_aget(zhandle_t *zh, const char *path, int watch, data_completion_t dc,
                    const void *data)
{
    int mode = atomic_exchange(&next_mode, PASS);
    if (mode == STRAND) {
        wait_gone(zh);
        return ZOK;
    }
    if (mode == LATE)
        wait_lost(zh);
    int rc = __real_zoo_aget(zh, path, watch, dc, data);
    if (mode == LATE)
        wait_gone(zh);
    return rc;
}

int __wrap_zoo_amulti(zhandle_t *zh, int count, const zoo_op_t *ops,
                      zoo_op_result_t *results, void_completion_t cb, const void *data)
{
    int mode = atomic_exchange(&next_mode, PASS);
    if (mode == STRAND) {
        wait_gone(zh);
        return ZOK;
    }
    if (mode == LATE)
        wait_lost(zh);
    int rc = __real_zoo_amulti(zh, count, ops, results, cb, data);
    if (mode == LATE)
        wait_gone(zh);
    for (int i = 0; mode == AFTER_DONE && rc == ZOK && i < 60000 && !atomic_load(&multi_done_ran);
         i++)
        usleep(1000);
    return rc;
}

static const char *servers;

/* Completions, in the order they came. */
typedef struct coll {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n;
    int tag[16];
    int rc[16];
} coll;

typedef struct tagged {
    coll *c;
    int tag;
} tagged;

static void coll_done(const zkc_result *res, void *ud)
{
    tagged *t = ud;
    zkc_watch_free(res->watch);
    pthread_mutex_lock(&t->c->lock);
    if (t->c->n < 16) {
        t->c->tag[t->c->n] = t->tag;
        t->c->rc[t->c->n] = res->rc;
    }
    t->c->n++;
    pthread_cond_broadcast(&t->c->cond);
    pthread_mutex_unlock(&t->c->lock);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until c holds n completions or 60 s pass; returns how many. */
static int coll_wait(coll *c, int n)
{
    int64_t deadline = now_ms() + 60000;
    pthread_mutex_lock(&c->lock);
    while (c->n < n && now_ms() < deadline) {
        pthread_mutex_unlock(&c->lock);
        zkc_sleep(5, NULL);
        pthread_mutex_lock(&c->lock);
    }
    int got = c->n;
    pthread_mutex_unlock(&c->lock);
    return got;
}

static zkc_conn *dial(void)
{
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 10000;
    zkc_conn *c = NULL;
    if (zkc_zk_dial(servers, &o, &c) != ZKC_OK)
        fail_msg("dial %s: %s", servers, zkc_errmsg());
    return c;
}

typedef struct submitter {
    zkc_conn *conn;
    bool multi;
    tagged t;
    int rc;
} submitter;

static void *submit_main(void *arg)
{
    submitter *s = arg;
    if (s->multi) {
        zkc_request op = {.op = ZKC_OP_CHECK, .path = "/", .version = -1};
        s->rc = zkc_amulti(s->conn, &op, 1, coll_done, &s->t);
    } else {
        s->rc = zkc_aget(s->conn, "/", 0, coll_done, &s->t);
    }
    return NULL;
}

/*
 * One operation submitted with the wrapper in mode, while the session is
 * expired from outside; then one more, refused by the C client.  Both
 * complete, once each, in submission order, before the connection is
 * closed, and the close adds nothing.
 */
static void run_case(int mode, bool multi)
{
    if (servers == NULL)
        skip();
    zkc_conn *c = dial();
    coll cl = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {0}, {0}};
    submitter s = {.conn = c, .multi = multi, .t = {&cl, 1}, .rc = -1};
    atomic_store(&next_mode, mode);
    pthread_t th;
    assert_int_equal(0, pthread_create(&th, NULL, submit_main, &s));
    assert_int_equal(ZKC_OK, zk_test_expire(servers, c));
    pthread_join(th, NULL);
    assert_int_equal(PASS, atomic_load(&next_mode)); /* the wrapper ran */
    assert_int_equal(ZKC_OK, s.rc);

    tagged after = {&cl, 2};
    assert_int_equal(ZKC_OK, zkc_aget(c, "/", 0, coll_done, &after));
    int got = coll_wait(&cl, 2);
    if (got < 2)
        fail_msg("%d of 2 operations completed while the expired connection stayed open", got);
    assert_int_equal(2, got);
    assert_int_equal(1, cl.tag[0]);
    assert_int_equal(2, cl.tag[1]);
    if (mode == STRAND)
        assert_int_equal(ZKC_ESESSIONEXPIRED, cl.rc[0]);
    else if (cl.rc[0] != ZKC_OK && cl.rc[0] != ZKC_ECONNECTIONLOSS &&
             cl.rc[0] != ZKC_EOPERATIONTIMEOUT && cl.rc[0] != ZKC_ESESSIONEXPIRED &&
             cl.rc[0] != ZKC_ESESSIONMOVED)
        /* whoever answered first: the server, the loss (or the C client
         * giving up on the request while disconnected), or the expiry */
        fail_msg("the first operation completed with %s", zkc_err_name(cl.rc[0]));
    assert_int_equal(ZKC_ESESSIONEXPIRED, cl.rc[1]);
    zkc_conn_close(c);
    assert_int_equal(2, cl.n); /* nothing completed twice, also at close */
}

static void test_stranded_get(void **state)
{
    (void)state;
    run_case(STRAND, false);
}

static void test_stranded_multi(void **state)
{
    (void)state;
    run_case(STRAND, true);
}

static void test_answered_by_cleanup_get(void **state)
{
    (void)state;
    run_case(LATE, false);
}

static void test_answered_by_cleanup_multi(void **state)
{
    (void)state;
    run_case(LATE, true);
}

/*
 * The caller's operations live in a page of their own, which the
 * completion makes unreadable (as a free would, only certain to fault)
 * before zoo_amulti returns: the multi submit must have finished reading
 * them when it handed the multi to the C client.
 */
typedef struct borrow {
    void *page;
    size_t size;
    int rc;
    int mprotect_rc;
    atomic_int n;
} borrow;

/* No assertion here, on the C client's thread: main checks. */
static void borrow_done(const zkc_result *res, void *ud)
{
    borrow *b = ud;
    b->rc = res->rc;
    b->mprotect_rc = mprotect(b->page, b->size, PROT_NONE);
    atomic_fetch_add(&b->n, 1);
    atomic_store(&multi_done_ran, 1);
}

static void test_multi_borrow(void **state)
{
    (void)state;
    if (servers == NULL)
        skip();
    zkc_conn *c = dial();
    size_t size = (size_t)sysconf(_SC_PAGESIZE);
    void *page = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(page != MAP_FAILED);
    zkc_request *ops = page;
    char *path = (char *)(ops + 2);
    snprintf(path, 64, "/zkc-borrow-%ld", (long)getpid());
    ops[0] = (zkc_request){.op = ZKC_OP_CREATE, .path = path, .flags = ZKC_EPHEMERAL};
    ops[1] = (zkc_request){.op = ZKC_OP_CHECK, .path = path, .version = -1};
    borrow b = {.page = page, .size = size, .rc = -1};
    atomic_store(&multi_done_ran, 0);
    atomic_store(&next_mode, AFTER_DONE);
    assert_int_equal(ZKC_OK, zkc_amulti(c, ops, 2, borrow_done, &b));
    assert_int_equal(PASS, atomic_load(&next_mode)); /* the wrapper ran */
    assert_int_equal(1, atomic_load(&b.n));          /* before zkc_amulti returned */
    assert_int_equal(ZKC_OK, b.rc);
    assert_int_equal(0, b.mprotect_rc);
    zkc_conn_close(c);
    assert_int_equal(1, atomic_load(&b.n));
    munmap(page, size);
}

int main(void)
{
    servers = getenv("ZKC_TEST_ZK");
    if (servers != NULL && servers[0] == '\0')
        servers = NULL;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stranded_get),
        cmocka_unit_test(test_stranded_multi),
        cmocka_unit_test(test_answered_by_cleanup_get),
        cmocka_unit_test(test_answered_by_cleanup_multi),
        cmocka_unit_test(test_multi_borrow),
    };
    return cmocka_run_group_tests_name("zk_expiry", tests, NULL, NULL);
}
