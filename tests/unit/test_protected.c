/*
 * Protected creation (protected.c) on the fake with its faults: a create
 * whose reply is lost after it was applied is found by its guid, never
 * made twice, for sequential, ephemeral and both; a create lost before it
 * was applied is made once; the listing after a loss may be lost too;
 * the give-up paths (timeout, cancel) and bad arguments.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zkcell/zkcell.h>

typedef struct fx {
    zkc_fake_tree *t;
    zkc_conn *c;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->t = zkc_fake_tree_new();
    if (f->t == NULL || zkc_fake_open(f->t, &f->c) != ZKC_OK)
        return -1;
    if (zkc_create(f->c, "/q", NULL, 0, 0, NULL, NULL) != ZKC_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    zkc_conn_close(f->c);
    zkc_fake_tree_free(f->t);
    free(f);
    return 0;
}

static size_t count_children(zkc_conn *c, const char *dir)
{
    zkc_strings *k = NULL;
    assert_int_equal(ZKC_OK, zkc_children(c, dir, &k, NULL, NULL));
    size_t n = k->count;
    zkc_strings_free(k);
    return n;
}

/* One protected create under /q with fault (n ops) injected first. */
static void one(fx *f, unsigned flags, zkc_fake_fault fault, unsigned n, const char *want_rest)
{
    if (n > 0)
        assert_int_equal(ZKC_OK, zkc_fake_inject(f->c, fault, n));
    char *path = NULL;
    assert_int_equal(ZKC_OK,
                     zkc_create_protected(f->c, "/q/n-", "d", 1, flags, NULL, NULL, &path));
    assert_non_null(path);
    assert_int_equal(1, count_children(f->c, "/q"));
    const char *rest = NULL;
    assert_true(zkc_protected_name(zkc_path_base(path), &rest));
    if (flags & ZKC_SEQUENCE) {
        assert_int_equal(strlen("n-") + 10, strlen(rest));
        assert_memory_equal("n-", rest, 2);
    } else {
        assert_string_equal(want_rest, rest);
    }
    zkc_stat st;
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(ZKC_OK, zkc_get(f->c, path, &data, &len, &st, NULL));
    assert_int_equal(1, len);
    zkc_free(data);
    if (flags & ZKC_EPHEMERAL)
        assert_int_equal(zkc_conn_session_id(f->c), st.ephemeral_owner);
    else
        assert_int_equal(0, st.ephemeral_owner);
    assert_int_equal(ZKC_OK, zkc_delete(f->c, path, -1));
    zkc_free(path);
}

static void test_loss_after_not_duplicated(void **state)
{
    fx *f = *state;
    one(f, ZKC_SEQUENCE, ZKC_FAKE_LOSS_AFTER, 1, NULL);
    one(f, ZKC_EPHEMERAL, ZKC_FAKE_LOSS_AFTER, 1, "n-");
    one(f, ZKC_SEQUENCE | ZKC_EPHEMERAL, ZKC_FAKE_LOSS_AFTER, 1, NULL);
    /* The create and the listings after it lost. */
    one(f, ZKC_SEQUENCE, ZKC_FAKE_LOSS_AFTER, 3, NULL);
    one(f, ZKC_EPHEMERAL, ZKC_FAKE_LOSS_AFTER, 3, "n-");
}

static void test_loss_before_made_once(void **state)
{
    fx *f = *state;
    one(f, ZKC_SEQUENCE, ZKC_FAKE_LOSS_BEFORE, 1, NULL);
    one(f, ZKC_EPHEMERAL, ZKC_FAKE_LOSS_BEFORE, 2, "n-");
    one(f, ZKC_SEQUENCE | ZKC_EPHEMERAL, ZKC_FAKE_LOSS_BEFORE, 3, NULL);
    one(f, ZKC_SEQUENCE, ZKC_FAKE_LOSS_BEFORE, 0, NULL);
}

/* What it protects against: a plain retry after a lost reply duplicates. */
static void test_plain_retry_duplicates(void **state)
{
    fx *f = *state;
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->c, ZKC_FAKE_LOSS_AFTER, 1));
    assert_int_equal(ZKC_ECONNECTIONLOSS,
                     zkc_create(f->c, "/q/n-", NULL, 0, ZKC_SEQUENCE, NULL, NULL));
    assert_int_equal(ZKC_OK, zkc_create(f->c, "/q/n-", NULL, 0, ZKC_SEQUENCE, NULL, NULL));
    assert_int_equal(2, count_children(f->c, "/q"));
}

static void test_each_call_its_own_guid(void **state)
{
    fx *f = *state;
    char *a = NULL, *b = NULL;
    assert_int_equal(ZKC_OK,
                     zkc_create_protected(f->c, "/q/e", NULL, 0, ZKC_EPHEMERAL, NULL, NULL, &a));
    assert_int_equal(ZKC_OK,
                     zkc_create_protected(f->c, "/q/e", NULL, 0, ZKC_EPHEMERAL, NULL, NULL, &b));
    assert_string_not_equal(a, b);
    assert_int_equal(2, count_children(f->c, "/q"));
    zkc_free(a);
    zkc_free(b);
    /* ret_path may be NULL. */
    assert_int_equal(ZKC_OK,
                     zkc_create_protected(f->c, "/q/s", NULL, 0, ZKC_SEQUENCE, NULL, NULL, NULL));
    assert_int_equal(3, count_children(f->c, "/q"));
}

static void test_give_up(void **state)
{
    fx *f = *state;
    zkc_protected_opts o = ZKC_PROTECTED_OPTS_INIT;
    o.timeout_ms = 50;
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->c, ZKC_FAKE_SUSPEND, 1));
    char *p = (char *)"x";
    assert_int_equal(ZKC_ETIMEDOUT,
                     zkc_create_protected(f->c, "/q/n-", NULL, 0, ZKC_SEQUENCE, NULL, &o, &p));
    assert_null(p);
    assert_non_null(strstr(zkc_errmsg(), "a node carrying guid"));
    o.timeout_ms = -1;
    o.cancel = zkc_cancel_new();
    zkc_cancel_trigger(o.cancel);
    assert_int_equal(ZKC_EINTERRUPTED,
                     zkc_create_protected(f->c, "/q/n-", NULL, 0, ZKC_SEQUENCE, NULL, &o, NULL));
    zkc_cancel_free(o.cancel);
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->c, ZKC_FAKE_SUSPEND, 0));
    assert_int_equal(0, count_children(f->c, "/q"));
    /* An expired session: no guessing. */
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->c, ZKC_FAKE_EXPIRE, 0));
    assert_int_equal(ZKC_ESESSIONEXPIRED, zkc_create_protected(f->c, "/q/n-", NULL, 0,
                                                               ZKC_EPHEMERAL, NULL, NULL, NULL));
}

static void test_bad_arguments(void **state)
{
    fx *f = *state;
    zkc_protected_opts v2 = {2, 0, NULL};
    assert_int_equal(ZKC_EBADARGUMENTS,
                     zkc_create_protected(f->c, "/q/x", NULL, 0, 0, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "ZKC_SEQUENCE"));
    assert_int_equal(ZKC_EBADARGUMENTS,
                     zkc_create_protected(f->c, "/q/x", NULL, 0, 64, NULL, NULL, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS,
                     zkc_create_protected(NULL, "/q/x", NULL, 0, ZKC_SEQUENCE, NULL, NULL, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS,
                     zkc_create_protected(f->c, NULL, NULL, 0, ZKC_SEQUENCE, NULL, NULL, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS,
                     zkc_create_protected(f->c, "/q/x", NULL, 0, ZKC_SEQUENCE, NULL, &v2, NULL));
    assert_int_equal(ZKC_EBADPATH,
                     zkc_create_protected(f->c, "q/x", NULL, 0, ZKC_SEQUENCE, NULL, NULL, NULL));
    assert_int_equal(ZKC_EBADPATH,
                     zkc_create_protected(f->c, "/", NULL, 0, ZKC_EPHEMERAL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ENONODE, zkc_create_protected(f->c, "/none/x", NULL, 0, ZKC_SEQUENCE,
                                                       NULL, NULL, NULL));
    assert_int_equal(0, count_children(f->c, "/q"));
}

static void test_protected_name(void **state)
{
    (void)state;
    const char *rest = NULL;
    assert_true(zkc_protected_name("_c_0123456789abcdef0123456789abcdef-lock-0000000001", &rest));
    assert_string_equal("lock-0000000001", rest);
    assert_true(zkc_protected_name("_c_0123456789abcdef0123456789abcdef-", NULL));
    assert_false(zkc_protected_name("_c_0123456789ABCDEF0123456789abcdef-x", NULL));
    assert_false(zkc_protected_name("_c_0123456789abcdef0123456789abcde-x", NULL));
    assert_false(zkc_protected_name("_c_0123456789abcdef0123456789abcdefx", NULL));
    assert_false(zkc_protected_name("lock-0000000001", NULL));
    assert_false(zkc_protected_name("", NULL));
    assert_false(zkc_protected_name(NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_loss_after_not_duplicated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loss_before_made_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_retry_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_call_its_own_guid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_give_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test(test_protected_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
