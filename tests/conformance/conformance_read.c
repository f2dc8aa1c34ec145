/*
 * conformance_read.c: the read part of the conformance suite, for
 * implementations that only read (zkocc) and as a check of any other.
 * Nodes are written by the backend's writer session, and a path is read
 * through the reader only once it is final, so a caching reader must give
 * exactly what the server has: the expectations are ZooKeeper 3.8's,
 * checked against the writer's own reads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conformance.h"

static const zkc_conformance_backend *B;
static unsigned test_seq;

typedef struct fixture {
    zkc_conn *w;   /* the writer */
    zkc_conn *r;   /* the reader under test */
    char dir[256]; /* the test's own folder */
} fixture;

#define OK(expr) assert_int_equal(ZKC_OK, (expr))

static zkc_conn *open_with(int (*fn)(void *, zkc_conn **))
{
    zkc_conn *c = NULL;
    int rc = fn(B->ud, &c);
    if (rc != ZKC_OK)
        fprintf(stderr, "# open: %s\n", zkc_errmsg());
    OK(rc);
    assert_non_null(c);
    return c;
}

static zkc_conn *open_reader(void)
{
    return open_with(B->open);
}

static void rm_tree(zkc_conn *c, const char *path)
{
    zkc_strings *kids = NULL;
    if (zkc_children(c, path, &kids, NULL, NULL) != ZKC_OK)
        return;
    for (size_t i = 0; i < kids->count; i++) {
        char *p = zkc_path_join(path, kids->v[i]);
        rm_tree(c, p);
        free(p);
    }
    zkc_strings_free(kids);
    zkc_delete(c, path, -1);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->w = open_with(B->open_writer != NULL ? B->open_writer : B->open);
    f->r = open_reader();
    int rc = zkc_create(f->w, B->root, NULL, 0, 0, NULL, NULL);
    assert_true(rc == ZKC_OK || rc == ZKC_ENODEEXISTS);
    snprintf(f->dir, sizeof f->dir, "%s/r%u-%d", B->root, ++test_seq, (int)getpid());
    rm_tree(f->w, f->dir);
    OK(zkc_create(f->w, f->dir, NULL, 0, 0, NULL, NULL));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rm_tree(f->w, f->dir);
    zkc_conn_close(f->r);
    zkc_conn_close(f->w);
    free(f);
    return 0;
}

static char *P(fixture *f, const char *rel)
{
    static _Thread_local char buf[8][512];
    static _Thread_local int n;
    char *p = buf[n++ % 8];
    snprintf(p, 512, "%s/%s", f->dir, rel);
    return p;
}

static void assert_stat_equal(const zkc_stat *a, const zkc_stat *b)
{
    assert_int_equal(a->czxid, b->czxid);
    assert_int_equal(a->mzxid, b->mzxid);
    assert_int_equal(a->ctime, b->ctime);
    assert_int_equal(a->mtime, b->mtime);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->cversion, b->cversion);
    assert_int_equal(a->aversion, b->aversion);
    assert_int_equal(a->ephemeral_owner, b->ephemeral_owner);
    assert_int_equal(a->data_length, b->data_length);
    assert_int_equal(a->num_children, b->num_children);
    assert_int_equal(a->pzxid, b->pzxid);
}

/* ---- get ---- */

static void check_get(fixture *f, const char *path, const void *want, size_t want_len)
{
    char *wd = NULL, *rd = NULL;
    size_t wl = 0, rl = 0;
    zkc_stat ws, rs;
    OK(zkc_get(f->w, path, &wd, &wl, &ws, NULL));
    OK(zkc_get(f->r, path, &rd, &rl, &rs, NULL));
    assert_int_equal(want_len, rl);
    assert_non_null(rd);
    if (want_len > 0)
        assert_memory_equal(want, rd, want_len);
    assert_int_equal(0, rd[rl]); /* the courtesy NUL */
    assert_stat_equal(&ws, &rs);
    zkc_free(wd);
    zkc_free(rd);
}

static void test_read_get(void **state)
{
    fixture *f = *state;
    const char bin[] = {'a', 0, 'b', (char)0xff, 0};
    OK(zkc_create(f->w, P(f, "bin"), bin, sizeof bin, 0, NULL, NULL));
    OK(zkc_create(f->w, P(f, "empty"), NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->w, P(f, "changed"), "one", 3, 0, NULL, NULL));
    OK(zkc_set(f->w, P(f, "changed"), "two!", 4, 0, NULL));
    OK(zkc_set(f->w, P(f, "changed"), "three", 5, 1, NULL));
    check_get(f, P(f, "bin"), bin, sizeof bin);
    check_get(f, P(f, "empty"), "", 0);
    check_get(f, P(f, "changed"), "three", 5);
    zkc_stat st;
    OK(zkc_get(f->r, P(f, "changed"), NULL, NULL, &st, NULL));
    assert_int_equal(2, st.version);
    assert_true(st.mzxid > st.czxid);
}

static void test_read_large(void **state)
{
    fixture *f = *state;
    size_t n = 1000 * 1000;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7 + 3);
    OK(zkc_create(f->w, P(f, "big"), big, n, 0, NULL, NULL));
    check_get(f, P(f, "big"), big, n);
    free(big);
}

/* ---- children ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_read_children(void **state)
{
    fixture *f = *state;
    enum { N = 60 };
    OK(zkc_create(f->w, P(f, "d"), "dd", 2, 0, NULL, NULL));
    char *names[N];
    for (int i = 0; i < N; i++) {
        char rel[32];
        snprintf(rel, sizeof rel, "d/k%02d", (i * 37) % N);
        names[i] = strdup(rel + 2);
        OK(zkc_create(f->w, P(f, rel), NULL, 0, 0, NULL, NULL));
    }
    OK(zkc_delete(f->w, P(f, "d/k05"), -1)); /* cversion counts deletes too */
    zkc_strings *wk = NULL, *rk = NULL;
    zkc_stat ws, rs;
    OK(zkc_children(f->w, P(f, "d"), &wk, &ws, NULL));
    OK(zkc_children(f->r, P(f, "d"), &rk, &rs, NULL));
    assert_int_equal(N - 1, rk->count);
    zkc_strings_sort(wk);
    zkc_strings_sort(rk);
    for (size_t i = 0; i < rk->count; i++)
        assert_string_equal(wk->v[i], rk->v[i]);
    qsort(names, N, sizeof *names, cmp_str);
    for (size_t i = 0, j = 0; i < N; i++) {
        if (strcmp(names[i], "k05") == 0)
            continue;
        assert_string_equal(names[i], rk->v[j++]);
    }
    assert_stat_equal(&ws, &rs);
    assert_int_equal(N - 1, rs.num_children);
    for (int i = 0; i < N; i++)
        free(names[i]);
    zkc_strings_free(wk);
    zkc_strings_free(rk);

    /* A leaf has an empty list, not an error. */
    OK(zkc_children(f->r, P(f, "d/k00"), &rk, &rs, NULL));
    assert_int_equal(0, rk->count);
    assert_int_equal(0, rs.num_children);
    zkc_strings_free(rk);
    /* The reader's get of the folder agrees with its children. */
    char *data = NULL;
    OK(zkc_get(f->r, P(f, "d"), &data, NULL, &rs, NULL));
    assert_string_equal("dd", data);
    assert_int_equal(N - 1, rs.num_children);
    zkc_free(data);
}

/* ---- exists ---- */

static void test_read_exists(void **state)
{
    fixture *f = *state;
    OK(zkc_create(f->w, P(f, "e"), "x", 1, 0, NULL, NULL));
    OK(zkc_create(f->w, P(f, "eph"), "y", 1, ZKC_EPHEMERAL, NULL, NULL));
    bool exists = false;
    zkc_stat ws, rs;
    OK(zkc_exists(f->w, P(f, "e"), &exists, &ws, NULL));
    exists = false;
    OK(zkc_exists(f->r, P(f, "e"), &exists, &rs, NULL));
    assert_true(exists);
    assert_stat_equal(&ws, &rs);
    OK(zkc_exists(f->r, P(f, "eph"), &exists, &rs, NULL));
    assert_true(exists);
    assert_int_equal(zkc_conn_session_id(f->w), rs.ephemeral_owner);
    assert_true(rs.ephemeral_owner != 0);
    /* Missing: no error, exists false (also under a missing parent). */
    exists = true;
    OK(zkc_exists(f->r, P(f, "nope"), &exists, NULL, NULL));
    assert_false(exists);
    exists = true;
    OK(zkc_exists(f->r, P(f, "nope/deeper"), &exists, NULL, NULL));
    assert_false(exists);
}

static void test_read_missing(void **state)
{
    fixture *f = *state;
    char *data = NULL;
    assert_int_equal(ZKC_ENONODE, zkc_get(f->r, P(f, "gone"), &data, NULL, NULL, NULL));
    assert_null(data);
    assert_non_null(strstr(zkc_errmsg(), P(f, "gone")));
    zkc_strings *kids = NULL;
    assert_int_equal(ZKC_ENONODE, zkc_children(f->r, P(f, "gone/x"), &kids, NULL, NULL));
    assert_null(kids);
    /* The reader is still good after errors. */
    check_get(f, f->dir, "", 0);
}

/* ---- pipelining and close ---- */

typedef struct counter {
    pthread_mutex_t lock;
    int n;
    int in_order;
    int bad_data;
    int closed_codes;
    int other_codes;
    int last;
} counter;

static void count_done(const zkc_result *res, void *ud)
{
    counter *c = ((void **)ud)[0];
    int idx = (int)(intptr_t)((void **)ud)[1];
    pthread_mutex_lock(&c->lock);
    if (idx != c->last + 1)
        c->in_order = 0;
    c->last = idx;
    c->n++;
    if (res->rc == ZKC_OK) {
        /* Node i % 10 holds the text of i % 10. */
        char want[16];
        snprintf(want, sizeof want, "%d", idx % 10);
        if (res->data == NULL || res->data_len != strlen(want) ||
            memcmp(res->data, want, res->data_len) != 0)
            c->bad_data++;
    } else if (res->rc == ZKC_ECLOSING || res->rc == ZKC_ECLOSED) {
        c->closed_codes++;
    } else {
        c->other_codes++;
    }
    pthread_mutex_unlock(&c->lock);
}

static void make_ten(fixture *f)
{
    for (int i = 0; i < 10; i++) {
        char rel[16], val[16];
        snprintf(rel, sizeof rel, "p%d", i);
        snprintf(val, sizeof val, "%d", i);
        OK(zkc_create(f->w, P(f, rel), val, strlen(val), 0, NULL, NULL));
    }
}

static void submit_many(fixture *f, zkc_conn *c, counter *cnt, void *(*uds)[2], int n)
{
    for (int i = 0; i < n; i++) {
        char rel[16];
        snprintf(rel, sizeof rel, "p%d", i % 10);
        uds[i][0] = cnt;
        uds[i][1] = (void *)(intptr_t)i;
        OK(zkc_aget(c, P(f, rel), 0, count_done, uds[i]));
    }
}

static void test_read_pipeline(void **state)
{
    fixture *f = *state;
    enum { N = 2000 };
    make_ten(f);
    counter cnt = {PTHREAD_MUTEX_INITIALIZER, 0, 1, 0, 0, 0, -1};
    static void *uds[N][2];
    submit_many(f, f->r, &cnt, uds, N);
    for (int i = 0; i < 6000; i++) {
        pthread_mutex_lock(&cnt.lock);
        int n = cnt.n;
        pthread_mutex_unlock(&cnt.lock);
        if (n == N)
            break;
        zkc_sleep(10, NULL);
    }
    assert_int_equal(N, cnt.n);
    assert_true(cnt.in_order);
    assert_int_equal(0, cnt.bad_data);
    assert_int_equal(0, cnt.other_codes);
    assert_int_equal(0, cnt.closed_codes);
}

static void test_read_close_completes_everything(void **state)
{
    fixture *f = *state;
    enum { N = 500 };
    make_ten(f);
    zkc_conn *c = open_reader();
    counter cnt = {PTHREAD_MUTEX_INITIALIZER, 0, 1, 0, 0, 0, -1};
    static void *uds[N][2];
    submit_many(f, c, &cnt, uds, N);
    zkc_conn_close(c);
    /* Every accepted submission completed exactly once by now: with its
     * answer, or closing. */
    assert_int_equal(N, cnt.n);
    assert_true(cnt.in_order);
    assert_int_equal(0, cnt.bad_data);
    assert_int_equal(0, cnt.other_codes);
}

static void close_in_completion(const zkc_result *res, void *ud)
{
    _Atomic(zkc_conn *) *cp = ud;
    zkc_conn_close(atomic_load(cp));
    atomic_store(cp, NULL);
    (void)res;
}

static void test_read_close_from_completion(void **state)
{
    fixture *f = *state;
    zkc_conn *c = open_reader();
    _Atomic(zkc_conn *) holder = c;
    OK(zkc_aexists(c, f->dir, 0, close_in_completion, (void *)&holder));
    for (int i = 0; i < 3000 && atomic_load(&holder) != NULL; i++)
        zkc_sleep(10, NULL);
    assert_null(atomic_load(&holder));
}

/* ---- what a read-only connection refuses ---- */

static void test_read_only(void **state)
{
    fixture *f = *state;
    OK(zkc_create(f->w, P(f, "ro"), "v", 1, 0, NULL, NULL));
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_create(f->r, P(f, "x"), NULL, 0, 0, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "create"));
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_set(f->r, P(f, "ro"), "w", 1, -1, NULL));
    assert_non_null(strstr(zkc_errmsg(), "set"));
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_delete(f->r, P(f, "ro"), -1));
    assert_non_null(strstr(zkc_errmsg(), "delete"));
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_get_acl(f->r, P(f, "ro"), NULL, NULL));
    assert_int_equal(ZKC_ENOTSUPPORTED,
                     zkc_set_acl(f->r, P(f, "ro"), zkc_acl_world(ZKC_PERM_ALL), -1));
    zkc_watch *w = NULL;
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_get(f->r, P(f, "ro"), NULL, NULL, NULL, &w));
    assert_null(w);
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_children(f->r, P(f, "ro"), NULL, NULL, &w));
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_exists(f->r, P(f, "ro"), NULL, NULL, &w));
    zkc_request op = {.op = ZKC_OP_DELETE, .path = P(f, "ro"), .version = -1};
    assert_int_equal(ZKC_ENOTSUPPORTED, zkc_multi(f->r, &op, 1, NULL));
    /* Nothing changed, and the reader still reads. */
    check_get(f, P(f, "ro"), "v", 1);
}

static void test_read_state(void **state)
{
    fixture *f = *state;
    zkc_state s = zkc_conn_state(f->r);
    assert_true(s == ZKC_STATE_CONNECTED || s == ZKC_STATE_RECONNECTED);
    assert_true(zkc_conn_state_fd(f->r) >= 0);
    assert_non_null(zkc_conn_describe(f->r));
}

int zkc_conformance_run_read(const zkc_conformance_backend *b)
{
    B = b;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_children, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_close_completes_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_close_from_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_state, setup, teardown),
        /* last: only for read-only backends */
        cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
    };
    size_t n = sizeof tests / sizeof tests[0] - (b->read_only ? 0 : 1);
    return _cmocka_run_group_tests(b->name, tests, n, NULL, NULL);
}
