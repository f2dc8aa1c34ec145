/* Watch handles and cancel tokens, driven directly through the
 * implementer's functions (the connections fire them the same way). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#include <zkcell/sys/conn_impl.h>
#include <zkcell/zkcell.h>

#include "thread_blocked.h"

static void test_fire_once(void **state)
{
    (void)state;
    zkc_watch *w = zkc_impl_watch_new("/a");
    assert_non_null(w);
    assert_false(zkc_watch_fired(w));
    assert_int_equal(ZKC_EVENT_NONE, zkc_watch_event(w)->type);
    assert_int_equal(ZKC_ETIMEDOUT, zkc_watch_wait(w, 10, NULL));
    zkc_impl_watch_fire(w, ZKC_EVENT_CHANGED);
    zkc_impl_watch_fire(w, ZKC_EVENT_DELETED); /* ignored: one event per watch */
    assert_true(zkc_watch_fired(w));
    assert_int_equal(ZKC_OK, zkc_watch_wait(w, 0, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(w)->type);
    assert_string_equal("/a", zkc_watch_event(w)->path);
    zkc_watch_free(w);
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_watch_wait(NULL, 0, NULL));
    zkc_watch_free(NULL);
}

static void test_fd(void **state)
{
    (void)state;
    zkc_watch *w = zkc_impl_watch_new("/b");
    int fd = zkc_watch_fd(w);
    assert_true(fd >= 0);
    struct pollfd p = {fd, POLLIN, 0};
    assert_int_equal(0, poll(&p, 1, 0));
    zkc_impl_watch_fire(w, ZKC_EVENT_CHILD);
    assert_int_equal(1, poll(&p, 1, 1000));
    assert_int_equal(1, poll(&p, 1, 0)); /* stays readable */
    zkc_watch_free(w);

    /* Asking for the descriptor after the event: readable at once. */
    w = zkc_impl_watch_new("/c");
    zkc_impl_watch_fire(w, ZKC_EVENT_CREATED);
    p.fd = zkc_watch_fd(w);
    assert_int_equal(1, poll(&p, 1, 0));
    zkc_watch_free(w);
}

static void on_fire(zkc_watch *w, const zkc_event *ev, void *ud)
{
    (void)w;
    *(int *)ud = (int)ev->type;
}

static void test_callback(void **state)
{
    (void)state;
    int got = 0;
    zkc_watch *w = zkc_impl_watch_new("/d");
    zkc_watch_set_callback(w, on_fire, &got);
    assert_int_equal(0, got);
    zkc_impl_watch_fire(w, ZKC_EVENT_DELETED);
    assert_int_equal(ZKC_EVENT_DELETED, got);
    /* Set after the event: runs at once. */
    got = 0;
    zkc_watch_set_callback(w, on_fire, &got);
    assert_int_equal(ZKC_EVENT_DELETED, got);
    zkc_watch_free(w);

    /* Freed before the event: no callback, and the firer still cleans up. */
    got = 0;
    w = zkc_impl_watch_new("/e");
    zkc_watch_set_callback(w, on_fire, &got);
    zkc_watch_free(w);
    assert_true(zkc_impl_watch_abandoned(w));
    zkc_impl_watch_fire(w, ZKC_EVENT_CHANGED);
    assert_int_equal(0, got);

    /* Never handed out. */
    zkc_impl_watch_discard(zkc_impl_watch_new("/f"));
    /* Abandoned and released without an event. */
    w = zkc_impl_watch_new("/g");
    zkc_watch_free(w);
    zkc_impl_watch_release(w);
}

static void *fire_later(void *arg)
{
    zkc_sleep(50, NULL);
    zkc_impl_watch_fire(arg, ZKC_EVENT_CHANGED);
    return NULL;
}

static void test_wait_across_threads(void **state)
{
    (void)state;
    zkc_watch *w = zkc_impl_watch_new("/h");
    pthread_t t;
    pthread_create(&t, NULL, fire_later, w);
    int64_t t0 = zkc_impl_now_ms();
    assert_int_equal(ZKC_OK, zkc_watch_wait(w, -1, NULL));
    assert_true(zkc_impl_now_ms() - t0 >= 40);
    pthread_join(t, NULL);
    zkc_watch_free(w);

    /* The same, waiting with a token that is never triggered. */
    w = zkc_impl_watch_new("/i");
    zkc_cancel *c = zkc_cancel_new();
    pthread_create(&t, NULL, fire_later, w);
    assert_int_equal(ZKC_OK, zkc_watch_wait(w, 5000, c));
    pthread_join(t, NULL);
    zkc_watch_free(w);
    zkc_cancel_free(c);
}

static void *trigger_later(void *arg)
{
    zkc_sleep(50, NULL);
    zkc_cancel_trigger(arg);
    return NULL;
}

static void test_cancel(void **state)
{
    (void)state;
    zkc_cancel *c = zkc_cancel_new();
    assert_false(zkc_cancel_is_set(c));
    assert_false(zkc_cancel_is_set(NULL));
    zkc_watch *w = zkc_impl_watch_new("/j");
    pthread_t t;
    pthread_create(&t, NULL, trigger_later, c);
    assert_int_equal(ZKC_EINTERRUPTED, zkc_watch_wait(w, 10000, c));
    pthread_join(t, NULL);
    assert_true(zkc_cancel_is_set(c));
    /* A trigger is never lost: later waits see it too. */
    assert_int_equal(ZKC_EINTERRUPTED, zkc_watch_wait(w, 10000, c));
    assert_int_equal(ZKC_EINTERRUPTED, zkc_sleep(10000, c));
    zkc_cancel_trigger(c); /* idempotent */
    struct pollfd p = {zkc_cancel_fd(c), POLLIN, 0};
    assert_int_equal(1, poll(&p, 1, 0));
    zkc_impl_watch_fire(w, ZKC_EVENT_CHANGED);
    zkc_watch_free(w);
    zkc_cancel_free(c);
    zkc_cancel_free(NULL);
}

static void test_sleep(void **state)
{
    (void)state;
    int64_t t0 = zkc_impl_now_ms();
    assert_int_equal(ZKC_OK, zkc_sleep(30, NULL));
    assert_true(zkc_impl_now_ms() - t0 >= 29);
    zkc_cancel *c = zkc_cancel_new();
    t0 = zkc_impl_now_ms();
    assert_int_equal(ZKC_OK, zkc_sleep(30, c));
    assert_true(zkc_impl_now_ms() - t0 >= 29);
    zkc_cancel_free(c);
    assert_true(zkc_impl_wall_ms() > 1500000000000LL);
    assert_true(zkc_impl_random() != zkc_impl_random());
}

/* A free from another thread waits for a running callback: once
 * zkc_watch_free() has returned, the callback's userdata may go. */
typedef struct slow_cb {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered, release;
    atomic_int freed;      /* zkc_watch_free() has returned */
    int freed_during_cb;   /* seen by the callback before it returned */
    zkc_watch *w;
} slow_cb;

static void slow_fn(zkc_watch *w, const zkc_event *ev, void *ud)
{
    (void)w;
    (void)ev;
    slow_cb *s = ud;
    pthread_mutex_lock(&s->lock);
    s->entered = 1;
    pthread_cond_broadcast(&s->cond);
    while (!s->release)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
    s->freed_during_cb = atomic_load(&s->freed);
}

static void *fire_main(void *arg)
{
    slow_cb *s = arg;
    zkc_impl_watch_fire(s->w, ZKC_EVENT_CHANGED);
    return NULL;
}

static atomic_int freer_tid;

static void *free_main(void *arg)
{
    slow_cb *s = arg;
    thread_blocked_self(&freer_tid);
    zkc_watch_free(s->w);
    atomic_store(&s->freed, 1);
    return NULL;
}

static void test_free_waits_for_running_callback(void **state)
{
    (void)state;
    slow_cb s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, NULL};
    s.w = zkc_impl_watch_new("/x");
    assert_non_null(s.w);
    zkc_watch_set_callback(s.w, slow_fn, &s);
    pthread_t fire, freer;
    assert_int_equal(0, pthread_create(&fire, NULL, fire_main, &s));
    pthread_mutex_lock(&s.lock);
    while (!s.entered)
        pthread_cond_wait(&s.cond, &s.lock);
    pthread_mutex_unlock(&s.lock);
    assert_int_equal(0, pthread_create(&freer, NULL, free_main, &s));
    /* A free that does not wait returns; one that waits blocks. */
    thread_blocked_wait(&freer_tid, &s.freed);
    pthread_mutex_lock(&s.lock);
    s.release = 1;
    pthread_cond_broadcast(&s.cond);
    pthread_mutex_unlock(&s.lock);
    pthread_join(fire, NULL);
    pthread_join(freer, NULL);
    assert_int_equal(0, s.freed_during_cb);
    assert_int_equal(1, atomic_load(&s.freed));
}

/* A wait with a timeout and no cancel token times out on the monotonic
 * clock, and returns at once when the watch has fired. */
static void test_wait_timeout(void **state)
{
    (void)state;
    zkc_watch *w = zkc_impl_watch_new("/t");
    assert_non_null(w);
    assert_int_equal(ZKC_ETIMEDOUT, zkc_watch_wait(w, 20, NULL));
    zkc_impl_watch_fire(w, ZKC_EVENT_DELETED);
    assert_int_equal(ZKC_OK, zkc_watch_wait(w, 20, NULL));
    assert_int_equal(ZKC_OK, zkc_watch_wait(w, -1, NULL));
    zkc_watch_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fire_once),  cmocka_unit_test(test_fd),
        cmocka_unit_test(test_callback),   cmocka_unit_test(test_wait_across_threads),
        cmocka_unit_test(test_cancel),     cmocka_unit_test(test_sleep),
        cmocka_unit_test(test_free_waits_for_running_callback),
        cmocka_unit_test(test_wait_timeout),
    };
    return cmocka_run_group_tests_name("watch", tests, NULL, NULL);
}
