/*
 * ObtainQueueLock (queuelock.c) on the fake: first in line wins, a check
 * (timeout 0) does not wait, waiters watch only their predecessor, the
 * cancel token and the deadline end a wait, connection loss is retried,
 * foreign children are ignored, and missing entries are ZKC_ENONODE.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "recipe_helpers.h"

#define Q "/zk/test/queue"

static int setup(void **state)
{
    fixture_setup(state);
    fixture *f = *state;
    assert_int_equal(ZKC_OK, zkc_create_recursive(f->a, Q, NULL, 0, 0, NULL, NULL));
    return 0;
}

static char *entry(zkc_conn *c)
{
    char *p = NULL;
    assert_int_equal(ZKC_OK, zkc_create(c, Q "/lock-", "x", 1, ZKC_EPHEMERAL | ZKC_SEQUENCE,
                                        NULL, &p));
    return p;
}

typedef struct waiter {
    zkc_conn *c;
    const char *path;
    int timeout_ms;
    zkc_cancel *cancel;
    int rc;
    atomic_int done;
    pthread_t thr;
} waiter;

static void *wait_main(void *arg)
{
    waiter *w = arg;
    w->rc = zkc_queue_lock(w->c, w->path, w->timeout_ms, w->cancel);
    atomic_store(&w->done, 1);
    return NULL;
}

static void wait_start(waiter *w, zkc_conn *c, const char *path, int timeout_ms,
                       zkc_cancel *cancel)
{
    memset(w, 0, sizeof *w);
    w->c = c;
    w->path = path;
    w->timeout_ms = timeout_ms;
    w->cancel = cancel;
    assert_int_equal(0, pthread_create(&w->thr, NULL, wait_main, w));
}

static void test_first_and_check(void **state)
{
    fixture *f = *state;
    char *e1 = entry(f->a);
    char *e2 = entry(f->b);
    assert_int_equal(ZKC_OK, zkc_queue_lock(f->a, e1, 0, NULL));
    assert_int_equal(ZKC_OK, zkc_queue_lock(f->a, e1, -1, NULL));
    assert_int_equal(ZKC_ETIMEDOUT, zkc_queue_lock(f->b, e2, 0, NULL));
    assert_non_null(strstr(zkc_errmsg(), e2));
    assert_int_equal(ZKC_ETIMEDOUT, zkc_queue_lock(f->b, e2, 30, NULL));
    /* The caller's entries are left alone. */
    assert_int_equal(2, count_kids(f->a, Q));
    assert_int_equal(ZKC_OK, zkc_delete(f->a, e1, -1));
    assert_int_equal(ZKC_OK, zkc_queue_lock(f->b, e2, 0, NULL));
    zkc_free(e1);
    zkc_free(e2);
}

static void test_wait_for_predecessor(void **state)
{
    fixture *f = *state;
    zkc_conn *p = proxy_open(f->tree);
    char *e1 = entry(f->a);
    char *e2 = entry(f->a);
    char *e3 = entry(p);
    waiter w;
    wait_start(&w, p, e3, 10000, NULL);
    WAIT_FOR(proxy_ops_count(p, ZKC_OP_EXISTS) == 1, 5000);
    /* e1 goes: e3 is not woken, it watches e2 only. */
    int lists = proxy_ops_count(p, ZKC_OP_CHILDREN);
    assert_int_equal(ZKC_OK, zkc_delete(f->a, e1, -1));
    /* No sleep to see nothing happen: the count at the end says it.  A
     * waiter woken by e1 would list for e1 and again for e2.  The
     * operation on p below completes after any event of e1's delete, so
     * such a wake-up is under way before e2 goes (a waiter slower than
     * this thread could still hide it; it can never show a herd that is
     * not there). */
    bool there = false;
    assert_int_equal(ZKC_OK, zkc_exists(p, e1, &there, NULL, NULL));
    assert_false(there);
    assert_int_equal(ZKC_OK, zkc_delete(f->a, e2, -1));
    pthread_join(w.thr, NULL);
    assert_int_equal(ZKC_OK, w.rc);
    assert_int_equal(lists + 1, proxy_ops_count(p, ZKC_OP_CHILDREN));
    zkc_free(e1);
    zkc_free(e2);
    zkc_free(e3);
    zkc_conn_close(p);
}

static void test_cancel_and_timeout(void **state)
{
    fixture *f = *state;
    char *e1 = entry(f->a);
    char *e2 = entry(f->b);
    zkc_cancel *cancel = zkc_cancel_new();
    waiter w;
    wait_start(&w, f->b, e2, -1, cancel);
    /* With no deadline, only the token can end the wait: EINTERRUPTED
     * below says it waited until then. */
    zkc_cancel_trigger(cancel);
    pthread_join(w.thr, NULL);
    assert_int_equal(ZKC_EINTERRUPTED, w.rc);
    /* The trigger stays: the next call is interrupted too. */
    assert_int_equal(ZKC_EINTERRUPTED, zkc_queue_lock(f->b, e2, -1, cancel));
    zkc_cancel_free(cancel);
    assert_int_equal(ZKC_ETIMEDOUT, zkc_queue_lock(f->b, e2, 20, NULL));
    assert_int_equal(2, count_kids(f->a, Q));
    zkc_free(e1);
    zkc_free(e2);
}

static void test_missing_and_foreign(void **state)
{
    fixture *f = *state;
    assert_int_equal(ZKC_ENONODE, zkc_queue_lock(f->a, Q "/lock-0000000042", 0, NULL));
    assert_non_null(strstr(zkc_errmsg(), "empty queue"));
    assert_int_equal(ZKC_ENONODE, zkc_queue_lock(f->a, "/zk/test/noqueue/lock-1", 0, NULL));
    assert_int_equal(ZKC_EBADPATH, zkc_queue_lock(f->a, "bad", 0, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_queue_lock(NULL, Q "/x", 0, NULL));

    /* Children without a sequence do not take part. */
    assert_int_equal(ZKC_OK, zkc_create(f->a, Q "/0-config", NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_OK, zkc_create(f->a, Q "/AAA", NULL, 0, 0, NULL, NULL));
    char *e1 = entry(f->a);
    assert_int_equal(ZKC_OK, zkc_queue_lock(f->a, e1, 0, NULL));
    char *e2 = entry(f->b);
    assert_int_equal(ZKC_ETIMEDOUT, zkc_queue_lock(f->b, e2, 0, NULL));
    assert_int_equal(ZKC_OK, zkc_delete(f->a, e1, -1));
    assert_int_equal(ZKC_ENONODE, zkc_queue_lock(f->a, e1, 0, NULL));
    assert_non_null(strstr(zkc_errmsg(), "not in the queue"));
    assert_int_equal(ZKC_OK, zkc_queue_lock(f->b, e2, 0, NULL));

    /* An entry without a sequence: everything sorts bytewise (the
     * original rule), so "0-config" is first. */
    assert_int_equal(ZKC_ETIMEDOUT, zkc_queue_lock(f->a, Q "/AAA", 0, NULL));
    assert_int_equal(ZKC_OK, zkc_queue_lock(f->a, Q "/0-config", 0, NULL));
    zkc_free(e1);
    zkc_free(e2);
}

static void test_connection_loss(void **state)
{
    fixture *f = *state;
    char *e1 = entry(f->a);
    char *e2 = entry(f->b);
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_LOSS_BEFORE, 2));
    assert_int_equal(ZKC_OK, zkc_queue_lock(f->a, e1, 5000, NULL));
    /* A check with a connection loss: no time to retry. */
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->b, ZKC_FAKE_LOSS_BEFORE, 1));
    assert_int_equal(ZKC_ETIMEDOUT, zkc_queue_lock(f->b, e2, 0, NULL));
    /* Lost replies while looking, then the predecessor goes once the
     * waiter watches it (through the counting proxy: its exists is the
     * watch, after two lists whose replies were lost and a third). */
    zkc_conn *p = proxy_open(f->tree);
    assert_non_null(p);
    assert_int_equal(ZKC_OK, zkc_fake_inject(proxy_inner(p), ZKC_FAKE_LOSS_AFTER, 2));
    waiter w;
    wait_start(&w, p, e2, 10000, NULL);
    WAIT_FOR(proxy_ops_count(p, ZKC_OP_EXISTS) == 1, 5000);
    assert_int_equal(1, proxy_ops_count(p, ZKC_OP_EXISTS));
    assert_int_equal(3, proxy_ops_count(p, ZKC_OP_CHILDREN));
    assert_int_equal(ZKC_OK, zkc_delete(f->a, e1, -1));
    pthread_join(w.thr, NULL);
    assert_int_equal(ZKC_OK, w.rc);
    zkc_conn_close(p);
    /* An expired session is not retried. */
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->b, ZKC_FAKE_EXPIRE, 0));
    assert_int_equal(ZKC_ESESSIONEXPIRED, zkc_queue_lock(f->b, e2, 1000, NULL));
    zkc_free(e1);
    zkc_free(e2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_and_check, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_wait_for_predecessor, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_timeout, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_foreign, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_connection_loss, setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("queuelock", tests, NULL, NULL);
}
