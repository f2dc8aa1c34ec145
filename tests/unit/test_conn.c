/*
 * The dispatcher (conn.c) against a scripted backend: arguments are
 * checked once, before an implementation sees them; blocking calls copy
 * results out and name the path on failure; state changes reach the fd
 * and the callback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zkcell/sys/conn_impl.h>
#include <zkcell/zkcell.h>

#include "thread_blocked.h"

/* A backend that answers every request from a worker thread with a
 * scripted result, and counts what reached it. */
typedef struct mock {
    zkc_conn base;
    int submits;
    int rc;          /* the answer's code */
    int closes;
    int *close_count;
    pthread_t thr;
    zkc_request last;
    char last_path[256];
} mock;

typedef struct pending {
    mock *m;
    zkc_op op;
    char path[256];
    int watch;
    zkc_done_fn done;
    void *ud;
} pending;

static void *answer(void *arg)
{
    pending *p = arg;
    static const char data[] = "hello\0world";
    zkc_stat st = {.version = 7, .data_length = sizeof data - 1};
    char *kids_v[2] = {"b", "a"};
    zkc_strings kids = {2, kids_v};
    zkc_result r = {.rc = p->m->rc, .op = p->op, .path = p->path};
    if (r.rc == ZKC_OK) {
        r.data = data;
        r.data_len = sizeof data - 1;
        r.stat = &st;
        r.children = &kids;
        r.acl = zkc_acl_world(ZKC_PERM_FILE);
        r.created_path = "/made-0000000001";
        if (p->watch) {
            r.watch = zkc_impl_watch_new(p->path);
            zkc_impl_watch_fire(r.watch, ZKC_EVENT_CHANGED);
        }
    } else {
        r.errmsg = "scripted failure";
    }
    p->done(&r, p->ud);
    free(p);
    return NULL;
}

static int mock_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *ud)
{
    mock *m = (mock *)c;
    m->submits++;
    m->last = *req;
    snprintf(m->last_path, sizeof m->last_path, "%s", req->path);
    pending *p = calloc(1, sizeof *p);
    p->m = m;
    p->op = req->op;
    snprintf(p->path, sizeof p->path, "%s", req->path);
    p->watch = (req->flags & ZKC_WATCH) != 0;
    p->done = done;
    p->ud = ud;
    pthread_join(m->thr, NULL); /* one at a time keeps this mock simple */
    pthread_create(&m->thr, NULL, answer, p);
    return ZKC_OK;
}

static void mock_close(zkc_conn *c)
{
    mock *m = (mock *)c;
    pthread_join(m->thr, NULL);
    (*m->close_count)++;
    zkc_impl_conn_fini(c);
    free(m);
}

static int64_t mock_session(zkc_conn *c)
{
    (void)c;
    return 42;
}

static const struct zkc_conn_ops mock_ops = {
    .version = 1, .name = "mock", .submit = mock_submit, .close = mock_close,
    .session_id = mock_session};

static void *noop(void *arg)
{
    return arg;
}

static mock *mock_new(int *close_count)
{
    mock *m = calloc(1, sizeof *m);
    assert_int_equal(ZKC_OK, zkc_impl_conn_init(&m->base, &mock_ops, "mock(test)"));
    m->close_count = close_count;
    pthread_create(&m->thr, NULL, noop, NULL);
    zkc_impl_conn_set_state(&m->base, ZKC_STATE_CONNECTED);
    return m;
}

/* A rejected submission must never complete: counted wherever it runs,
 * asserted on the test's thread. */
static atomic_int never_calls;

static void never(const zkc_result *r, void *ud)
{
    (void)r;
    (void)ud;
    atomic_fetch_add(&never_calls, 1);
}

static void test_arguments_checked_once(void **state)
{
    (void)state;
    int closes = 0;
    mock *m = mock_new(&closes);
    zkc_conn *c = &m->base;
    zkc_request r = {.op = ZKC_OP_GET, .path = "/a", .version = -1};

    assert_int_equal(ZKC_EBADARGUMENTS, zkc_submit(NULL, &r, never, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_submit(c, NULL, never, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_submit(c, &r, NULL, NULL));
    r.op = (zkc_op)99;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_submit(c, &r, never, NULL));
    r.op = ZKC_OP_SET;
    r.data_len = 3; /* data NULL */
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_submit(c, &r, never, NULL));
    r.data = "abc";
    r.data_len = ZKC_MAX_DATA + 1;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_submit(c, &r, never, NULL));
    r.op = ZKC_OP_SET_ACL;
    r.data_len = 0;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_submit(c, &r, never, NULL)); /* acl NULL */
    zkc_acl holes[1] = {{ZKC_PERM_ALL, NULL, "anyone"}};
    zkc_acl_list bad_acl = {1, holes};
    r.acl = &bad_acl; /* an entry without a scheme */
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_submit(c, &r, never, NULL));
    zkc_acl_list no_entries = {2, NULL};
    r.acl = &no_entries;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_submit(c, &r, never, NULL));
    r.acl = NULL;
    r.op = ZKC_OP_GET;
    r.path = "relative";
    assert_int_equal(ZKC_EBADPATH, zkc_submit(c, &r, never, NULL));
    r.path = "/a/";
    assert_int_equal(ZKC_EBADPATH, zkc_submit(c, &r, never, NULL));
    r.op = ZKC_OP_CREATE;
    r.flags = ZKC_SEQUENCE; /* a trailing '/' is fine for a sequential create */
    assert_int_equal(0, m->submits);
    assert_int_equal(ZKC_OK, zkc_create(c, "/a/", NULL, 0, ZKC_SEQUENCE, NULL, NULL));
    assert_int_equal(1, m->submits);

    /* The blocking form reports the path. */
    assert_int_equal(ZKC_EBADPATH, zkc_get(c, "nope", NULL, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "get nope"));
    assert_int_equal(1, m->submits);
    zkc_conn_close(c);
    assert_int_equal(0, atomic_load(&never_calls));
    assert_int_equal(1, closes);
}

static void test_blocking_results(void **state)
{
    (void)state;
    int closes = 0;
    mock *m = mock_new(&closes);
    zkc_conn *c = &m->base;
    char *data = NULL;
    size_t len = 0;
    zkc_stat st = {0};
    zkc_watch *w = NULL;
    assert_int_equal(ZKC_OK, zkc_get(c, "/x", &data, &len, &st, &w));
    assert_int_equal(11, len);
    assert_memory_equal("hello\0world", data, 11);
    assert_int_equal(0, data[11]);
    assert_int_equal(7, st.version);
    assert_non_null(w);
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(w)->type);
    assert_int_equal(ZKC_WATCH, m->last.flags & ZKC_WATCH);
    zkc_watch_free(w);
    zkc_free(data);

    /* No watch asked, none set; NULL out-parameters are fine. */
    assert_int_equal(ZKC_OK, zkc_get(c, "/x", NULL, NULL, NULL, NULL));
    assert_int_equal(0, m->last.flags & ZKC_WATCH);

    zkc_strings *kids = NULL;
    assert_int_equal(ZKC_OK, zkc_children(c, "/x", &kids, NULL, NULL));
    assert_int_equal(2, kids->count);
    zkc_strings_free(kids);

    bool exists = false;
    assert_int_equal(ZKC_OK, zkc_exists(c, "/x", &exists, &st, NULL));
    assert_true(exists);

    char *made = NULL;
    assert_int_equal(ZKC_OK, zkc_create(c, "/made-", "d", 1, ZKC_SEQUENCE, NULL, &made));
    assert_string_equal("/made-0000000001", made);
    assert_int_equal(ZKC_OP_CREATE, m->last.op);
    assert_int_equal(1, m->last.data_len);
    zkc_free(made);

    zkc_acl_list *acl = NULL;
    assert_int_equal(ZKC_OK, zkc_get_acl(c, "/x", &acl, &st));
    assert_int_equal(ZKC_PERM_FILE, acl->v[0].perms);
    zkc_acl_list_free(acl);

    assert_int_equal(ZKC_OK, zkc_set(c, "/x", "v", 1, 3, &st));
    assert_int_equal(3, m->last.version);
    assert_int_equal(ZKC_OK, zkc_delete(c, "/x", 4));
    assert_int_equal(4, m->last.version);
    assert_int_equal(ZKC_OK, zkc_set_acl(c, "/x", zkc_acl_world(ZKC_PERM_ALL), 5));
    assert_int_equal(ZKC_OP_SET_ACL, m->last.op);

    /* Failures carry the operation, the path and the backend's detail. */
    m->rc = ZKC_ENONODE;
    assert_int_equal(ZKC_ENONODE, zkc_delete(c, "/gone", -1));
    assert_string_equal("delete /gone: node does not exist: scripted failure", zkc_errmsg());
    data = (char *)1;
    assert_int_equal(ZKC_ENONODE, zkc_get(c, "/gone", &data, NULL, NULL, NULL));
    assert_ptr_equal((char *)1, data); /* untouched on failure */

    assert_int_equal(42, zkc_conn_session_id(c));
    assert_string_equal("mock(test)", zkc_conn_describe(c));
    zkc_conn_close(c);
    zkc_conn_close(NULL);
}

static void on_state(zkc_conn *c, zkc_state s, void *ud)
{
    (void)c;
    int *seen = ud;
    seen[seen[0] + 1] = (int)s;
    seen[0]++;
}

static void test_state_changes(void **state)
{
    (void)state;
    int closes = 0;
    mock *m = mock_new(&closes);
    zkc_conn *c = &m->base;
    int seen[8] = {0};
    zkc_conn_set_state_callback(c, on_state, seen);
    struct pollfd p = {zkc_conn_state_fd(c), POLLIN, 0};
    zkc_conn_state_ack(c);
    assert_int_equal(0, poll(&p, 1, 0));
    zkc_impl_conn_set_state(c, ZKC_STATE_SUSPENDED);
    assert_int_equal(1, poll(&p, 1, 0));
    assert_int_equal(ZKC_STATE_SUSPENDED, zkc_conn_state(c));
    zkc_conn_state_ack(c);
    assert_int_equal(0, poll(&p, 1, 0));
    zkc_impl_conn_set_state(c, ZKC_STATE_SUSPENDED); /* no change, no wake-up */
    assert_int_equal(0, poll(&p, 1, 0));
    zkc_impl_conn_set_state(c, ZKC_STATE_RECONNECTED);
    assert_int_equal(2, seen[0]);
    assert_int_equal(ZKC_STATE_SUSPENDED, seen[1]);
    assert_int_equal(ZKC_STATE_RECONNECTED, seen[2]);
    zkc_conn_close(c); /* CLOSED reaches the callback before the handle goes */
    assert_int_equal(3, seen[0]);
    assert_int_equal(ZKC_STATE_CLOSED, seen[3]);
    for (int s = 0; s <= 5; s++)
        assert_string_not_equal("unknown", zkc_state_name((zkc_state)s));
}

/* Clearing the state callback from another thread waits for a running
 * callback: once zkc_conn_set_state_callback() has returned, the old
 * callback's userdata may go. */
typedef struct slow_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered, release;
    atomic_int cleared;
    int cleared_during_cb;
    zkc_conn *c;
} slow_state;

static void slow_state_fn(zkc_conn *c, zkc_state s, void *ud)
{
    (void)c;
    (void)s;
    slow_state *ss = ud;
    pthread_mutex_lock(&ss->lock);
    ss->entered = 1;
    pthread_cond_broadcast(&ss->cond);
    while (!ss->release)
        pthread_cond_wait(&ss->cond, &ss->lock);
    pthread_mutex_unlock(&ss->lock);
    ss->cleared_during_cb = atomic_load(&ss->cleared);
}

static void *set_state_main(void *arg)
{
    slow_state *ss = arg;
    zkc_impl_conn_set_state(ss->c, ZKC_STATE_SUSPENDED);
    return NULL;
}

static atomic_int clearer_tid;

static void *clear_cb_main(void *arg)
{
    slow_state *ss = arg;
    thread_blocked_self(&clearer_tid);
    zkc_conn_set_state_callback(ss->c, NULL, NULL);
    atomic_store(&ss->cleared, 1);
    return NULL;
}

static void test_state_callback_cleared_waits(void **state)
{
    (void)state;
    int closes = 0;
    mock *m = mock_new(&closes);
    slow_state ss = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, &m->base};
    zkc_conn_set_state_callback(&m->base, slow_state_fn, &ss);
    pthread_t setter, clearer;
    assert_int_equal(0, pthread_create(&setter, NULL, set_state_main, &ss));
    pthread_mutex_lock(&ss.lock);
    while (!ss.entered)
        pthread_cond_wait(&ss.cond, &ss.lock);
    pthread_mutex_unlock(&ss.lock);
    assert_int_equal(0, pthread_create(&clearer, NULL, clear_cb_main, &ss));
    /* A clear that does not wait returns; one that waits blocks. */
    thread_blocked_wait(&clearer_tid, &ss.cleared);
    pthread_mutex_lock(&ss.lock);
    ss.release = 1;
    pthread_cond_broadcast(&ss.cond);
    pthread_mutex_unlock(&ss.lock);
    pthread_join(setter, NULL);
    pthread_join(clearer, NULL);
    assert_int_equal(0, ss.cleared_during_cb);
    zkc_conn_close(&m->base);
}

static void on_log(zkc_log_level level, const char *msg, void *ud)
{
    snprintf(ud, 64, "%d:%s", (int)level, msg);
}

static void test_log(void **state)
{
    (void)state;
    int closes = 0;
    mock *m = mock_new(&closes);
    char buf[64] = "";
    zkc_impl_log(&m->base, ZKC_LOG_WARN, "silent %d", 1); /* no callback: nothing */
    zkc_conn_set_log(&m->base, on_log, buf);
    zkc_impl_log(&m->base, ZKC_LOG_WARN, "hello %d", 2);
    assert_string_equal("1:hello 2", buf);
    zkc_conn_close(&m->base);
}

/* ---- multi ---- */

/* The mock with a multi entry: answers from a thread, each op OK (or the
 * scripted code on op 1, with the server's pattern), with a created name
 * for creates and a stat for sets. */
typedef struct mpending {
    mock *m;
    size_t n;
    zkc_op ops[8];
    zkc_done_fn done;
    void *ud;
} mpending;

static int multi_calls;
static size_t multi_last_n;

static void *manswer(void *arg)
{
    mpending *p = arg;
    zkc_op_result res[8];
    zkc_stat st = {.version = 9};
    int rc = p->m->rc;
    for (size_t i = 0; i < p->n; i++) {
        res[i] = (zkc_op_result){.op = p->ops[i]};
        if (rc == ZKC_OK) {
            res[i].created_path = p->ops[i] == ZKC_OP_CREATE ? "/made-0000000007" : NULL;
            res[i].stat = p->ops[i] == ZKC_OP_SET ? &st : NULL;
        } else {
            res[i].rc = i < 1 ? ZKC_OK : i == 1 ? rc : ZKC_ERUNTIMEINCONSISTENCY;
        }
    }
    zkc_result r = {.rc = rc, .op = ZKC_OP_MULTI, .path = "/", .ops = res, .nops = p->n};
    p->done(&r, p->ud);
    free(p);
    return NULL;
}

static int mock_multi(zkc_conn *c, const zkc_request *ops, size_t n, zkc_done_fn done, void *ud)
{
    mock *m = (mock *)c;
    multi_calls++;
    multi_last_n = n;
    mpending *p = calloc(1, sizeof *p);
    p->m = m;
    p->n = n < 8 ? n : 8;
    for (size_t i = 0; i < p->n; i++)
        p->ops[i] = ops[i].op;
    p->done = done;
    p->ud = ud;
    pthread_join(m->thr, NULL);
    pthread_create(&m->thr, NULL, manswer, p);
    return ZKC_OK;
}

static const struct zkc_conn_ops mock_multi_ops = {
    .version = 1, .name = "mock", .submit = mock_submit, .close = mock_close,
    .session_id = mock_session, .multi = mock_multi};

/* The optional call op (version 2): the blocking calls run a request
 * there first, and submit it when it says ZKC_ENOTSUPPORTED; a version 1
 * struct's call is never read; the asynchronous forms never use it. */
static int calls_made;
static int call_answer; /* ZKC_OK: answers; else returned as is */

static int mock_call(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *ud)
{
    (void)c;
    calls_made++;
    if (call_answer != ZKC_OK)
        return call_answer;
    zkc_stat st = {.version = 9, .data_length = 4};
    zkc_result r = {.rc = ZKC_OK, .op = req->op, .path = req->path, .data = "here",
                    .data_len = 4, .stat = &st};
    done(&r, ud);
    return ZKC_OK;
}

static const struct zkc_conn_ops mock_call_ops = {
    .version = 2, .name = "mock", .submit = mock_submit, .close = mock_close,
    .call = mock_call};
static const struct zkc_conn_ops mock_call_v1_ops = {
    .version = 1, .name = "mock", .submit = mock_submit, .close = mock_close,
    .call = mock_call};

typedef struct aget_wait {
    sem_t sem;
    int rc;
} aget_wait;

static void aget_wait_done(const zkc_result *r, void *ud)
{
    aget_wait *w = ud;
    w->rc = r->rc;
    sem_post(&w->sem);
}

static void test_call_op(void **state)
{
    (void)state;
    int closes = 0;
    mock *m = mock_new(&closes);
    m->base.ops = &mock_call_ops;
    calls_made = 0;
    call_answer = ZKC_OK;
    char *data = NULL;
    size_t len = 0;
    zkc_stat st;
    assert_int_equal(ZKC_OK, zkc_get(&m->base, "/a", &data, &len, &st, NULL));
    assert_string_equal("here", data);
    assert_int_equal(4, len);
    assert_int_equal(9, st.version);
    zkc_free(data);
    assert_int_equal(1, calls_made);
    assert_int_equal(0, m->submits);

    /* Not here: submitted, with the submitted answer. */
    call_answer = ZKC_ENOTSUPPORTED;
    assert_int_equal(ZKC_OK, zkc_get(&m->base, "/a", &data, &len, &st, NULL));
    assert_int_equal(11, len);
    assert_memory_equal("hello\0world", data, 11);
    zkc_free(data);
    assert_int_equal(2, calls_made);
    assert_int_equal(1, m->submits);

    /* A refusal is the call's result, with a message naming the path. */
    call_answer = ZKC_ECLOSED;
    assert_int_equal(ZKC_ECLOSED, zkc_get(&m->base, "/refused", &data, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "/refused"));
    assert_int_equal(1, m->submits);
    /* Bad arguments are caught before the call. */
    assert_int_equal(ZKC_EBADPATH, zkc_get(&m->base, "no-slash", &data, NULL, NULL, NULL));
    assert_int_equal(3, calls_made);

    /* The asynchronous form submits. */
    call_answer = ZKC_OK;
    aget_wait w = {.rc = 1};
    sem_init(&w.sem, 0, 0);
    assert_int_equal(ZKC_OK, zkc_aget(&m->base, "/a", 0, aget_wait_done, &w));
    while (sem_wait(&w.sem) != 0)
        ;
    sem_destroy(&w.sem);
    assert_int_equal(ZKC_OK, w.rc);
    assert_int_equal(3, calls_made);
    assert_int_equal(2, m->submits);

    /* Version 1: call is not read. */
    m->base.ops = &mock_call_v1_ops;
    assert_int_equal(ZKC_OK, zkc_get(&m->base, "/a", &data, NULL, NULL, NULL));
    zkc_free(data);
    assert_int_equal(3, calls_made);
    assert_int_equal(3, m->submits);
    zkc_conn_close(&m->base);
    assert_int_equal(1, closes);
}

static void test_multi_not_supported(void **state)
{
    (void)state;
    int closes = 0;
    mock *m = mock_new(&closes); /* no multi entry */
    zkc_request r = {.op = ZKC_OP_DELETE, .path = "/a", .version = -1};
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_amulti(&m->base, &r, 1, never, NULL));
    assert_non_null(strstr(zkc_errmsg(), "multi"));
    assert_non_null(strstr(zkc_errmsg(), "mock"));
    zkc_multi_results *res = (zkc_multi_results *)1;
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_multi(&m->base, &r, 1, &res));
    assert_null(res);
    assert_non_null(strstr(zkc_errmsg(), "not implemented by this connection"));
    assert_int_equal(0, m->submits);
    zkc_conn_close(&m->base);
}

/* zkc_multi_size saturates instead of wrapping, so a huge operation can
 * never pass the ZKC_MULTI_MAX_BYTES check as a small one. */
static void test_multi_size_saturates(void **state)
{
    (void)state;
    zkc_request ok = {.op = ZKC_OP_SET, .path = "/a", .data = "x", .data_len = 1, .version = -1};
    size_t one = zkc_multi_size(&ok, 1);
    assert_true(one > 0 && one < 100);
    zkc_request huge = ok;
    huge.data_len = SIZE_MAX - 2;
    assert_int_equal(SIZE_MAX, zkc_multi_size(&huge, 1));
    zkc_request two[2] = {huge, ok};
    assert_int_equal(SIZE_MAX, zkc_multi_size(two, 2));
    zkc_request c = {.op = ZKC_OP_CREATE, .path = "/b", .data_len = SIZE_MAX / 2, .version = -1};
    zkc_request cc[3] = {c, c, c};
    assert_int_equal(SIZE_MAX, zkc_multi_size(cc, 3));
}

static void test_multi_arguments(void **state)
{
    (void)state;
    int closes = 0;
    mock *m = mock_new(&closes);
    m->base.ops = &mock_multi_ops;
    zkc_conn *c = &m->base;
    multi_calls = 0;
    zkc_request ops[3] = {
        {.op = ZKC_OP_CREATE, .path = "/a", .version = -1},
        {.op = ZKC_OP_SET, .path = "/a", .data = "v", .data_len = 1, .version = 0},
        {.op = ZKC_OP_CHECK, .path = "/a", .version = 1},
    };
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_amulti(NULL, ops, 3, never, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_amulti(c, ops, 3, NULL, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_amulti(c, NULL, 3, never, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS,
                     zkc_amulti(c, ops, (size_t)ZKC_MULTI_MAX_OPS + 1, never, NULL));
    assert_non_null(strstr(zkc_errmsg(), "operations"));

    /* Each operation is checked, and the message names it. */
    ops[2].op = ZKC_OP_GET; /* not in a multi */
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_amulti(c, ops, 3, never, NULL));
    assert_non_null(strstr(zkc_errmsg(), "operation 2"));
    ops[2].op = ZKC_OP_MULTI;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_amulti(c, ops, 3, never, NULL));
    ops[2].op = ZKC_OP_CHECK;
    ops[1].path = "/a/";
    assert_int_equal(ZKC_EBADPATH, zkc_amulti(c, ops, 3, never, NULL));
    assert_non_null(strstr(zkc_errmsg(), "operation 1 (set /a/)"));
    ops[1].path = NULL;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_amulti(c, ops, 3, never, NULL));
    ops[1].path = "/a";
    ops[1].data = NULL; /* data_len 1 */
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_amulti(c, ops, 3, never, NULL));
    ops[1].data = "v";
    zkc_acl holes[1] = {{ZKC_PERM_ALL, "world", NULL}};
    zkc_acl_list bad_acl = {1, holes};
    ops[0].acl = &bad_acl;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_amulti(c, ops, 3, never, NULL));
    ops[0].acl = NULL;
    /* Sequential creates may end in '/', others may not. */
    ops[0].path = "/q/";
    assert_int_equal(ZKC_EBADPATH, zkc_amulti(c, ops, 3, never, NULL));
    ops[0].flags = ZKC_SEQUENCE;
    ops[1].path = ops[2].path = "/q";

    /* The whole request's size is bounded, so the server never drops
     * the connection over it. */
    static char big[ZKC_MAX_DATA];
    zkc_request two_big[2] = {
        {.op = ZKC_OP_SET,
         .path = "/a",
         .data = big,
         .data_len = ZKC_MAX_DATA / 2 + 1,
         .version = -1},
        {.op = ZKC_OP_SET,
         .path = "/b",
         .data = big,
         .data_len = ZKC_MAX_DATA / 2 + 1,
         .version = -1},
    };
    assert_true(zkc_multi_size(two_big, 2) > ZKC_MULTI_MAX_BYTES);
    assert_true(zkc_multi_size(two_big, 1) < ZKC_MULTI_MAX_BYTES);
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_amulti(c, two_big, 2, never, NULL));
    assert_non_null(strstr(zkc_errmsg(), "bytes"));
    assert_int_equal(0, multi_calls);
    assert_int_equal(0, m->submits);

    /* Valid: the blocking form copies the results out. */
    zkc_multi_results *res = NULL;
    assert_int_equal(ZKC_OK, zkc_multi(c, ops, 3, &res));
    assert_int_equal(1, multi_calls);
    assert_int_equal(3, multi_last_n);
    assert_int_equal(3, res->count);
    assert_string_equal("/made-0000000007", res->v[0].created_path);
    assert_null(res->v[0].stat);
    assert_int_equal(9, res->v[1].stat->version);
    assert_int_equal(ZKC_OP_CHECK, res->v[2].op);
    zkc_free(res);
    /* Empty is valid. */
    assert_int_equal(ZKC_OK, zkc_multi(c, NULL, 0, &res));
    assert_int_equal(0, res->count);
    zkc_free(res);

    /* A failure names the failing operation and keeps the per-op codes. */
    m->rc = ZKC_EBADVERSION;
    assert_int_equal(ZKC_EBADVERSION, zkc_multi(c, ops, 3, &res));
    assert_string_equal("multi: operation 1 (set /q): version conflict", zkc_errmsg());
    assert_int_equal(ZKC_OK, res->v[0].rc);
    assert_int_equal(ZKC_EBADVERSION, res->v[1].rc);
    assert_int_equal(ZKC_ERUNTIMEINCONSISTENCY, res->v[2].rc);
    zkc_free(res);

    zkc_conn_close(c);
    assert_int_equal(1, closes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arguments_checked_once), cmocka_unit_test(test_blocking_results),
        cmocka_unit_test(test_state_changes),          cmocka_unit_test(test_log),
        cmocka_unit_test(test_state_callback_cleared_waits),
        cmocka_unit_test(test_multi_size_saturates),
        cmocka_unit_test(test_call_op),
        cmocka_unit_test(test_multi_not_supported),    cmocka_unit_test(test_multi_arguments),
    };
    return cmocka_run_group_tests_name("conn", tests, NULL, NULL);
}
