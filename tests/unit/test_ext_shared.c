/*
 * test_ext_shared.c: the extension API (zkcell/sys/conn_impl.h) is usable
 * from outside the library: this program is linked against the shared
 * libzkcell only, implements a tiny zkc_conn of its own (every get
 * answers "hi" at once, on a thread of its own), and runs a blocking get
 * and a watch through the public dispatcher.  It fails to link if a
 * function the header declares is not exported.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zkcell/sys/conn_impl.h>
#include <zkcell/zkcell.h>

typedef struct echo_conn {
    zkc_conn base;
} echo_conn;

typedef struct job {
    zkc_done_fn done;
    void *ud;
    zkc_op op;
    zkc_watch *w;
    char path[64];
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    zkc_result r = {.rc = ZKC_OK, .op = j->op, .path = j->path, .data = "hi", .data_len = 2,
                    .watch = j->w};
    j->done(&r, j->ud);
    zkc_impl_watch_fire(j->w, ZKC_EVENT_CHANGED); /* the node "changes" right after */
    free(j);
    return NULL;
}

static int echo_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *ud)
{
    (void)c;
    if (req->op != ZKC_OP_GET) {
        zkc_impl_set_errmsg("echo: %s: %s", zkc_impl_op_name(req->op),
                            zkc_strerror(ZKC_ENOTSUPPORTED));
        return ZKC_ENOTSUPPORTED;
    }
    job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return ZKC_ENOMEM;
    j->done = done;
    j->ud = ud;
    j->op = req->op;
    snprintf(j->path, sizeof j->path, "%s", req->path);
    j->w = zkc_impl_watch_new(req->path);
    pthread_t t;
    if (j->w == NULL || pthread_create(&t, NULL, run_job, j) != 0) {
        zkc_impl_watch_discard(j->w);
        free(j);
        return ZKC_ENOMEM;
    }
    pthread_detach(t);
    return ZKC_OK;
}

static void echo_close(zkc_conn *c)
{
    zkc_impl_conn_fini(c);
    free(c);
}

static const struct zkc_conn_ops echo_ops = {
    .version = 1, .name = "echo", .submit = echo_submit, .close = echo_close};

static void test_own_implementation(void **state)
{
    (void)state;
    echo_conn *e = calloc(1, sizeof *e);
    assert_non_null(e);
    assert_int_equal(ZKC_OK, zkc_impl_conn_init(&e->base, &echo_ops, "echo(test)"));
    zkc_impl_conn_set_state(&e->base, ZKC_STATE_CONNECTED);
    zkc_conn *c = &e->base;
    assert_string_equal("echo(test)", zkc_conn_describe(c));
    assert_int_equal(ZKC_STATE_CONNECTED, zkc_conn_state(c));
    char *data = NULL;
    size_t len = 0;
    zkc_watch *w = NULL;
    assert_int_equal(ZKC_OK, zkc_get(c, "/a", &data, &len, NULL, &w));
    assert_int_equal(2, len);
    assert_memory_equal("hi", data, 2);
    zkc_free(data);
    assert_int_equal(ZKC_OK, zkc_watch_wait(w, 60000, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(w)->type);
    zkc_watch_free(w);
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_delete(c, "/a", -1));
    zkc_conn_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_own_implementation)};
    return cmocka_run_group_tests_name("ext_shared", tests, NULL, NULL);
}
