/*
 * test_zkutil.c: the tree helpers (zkutil.c) over the in-memory fake.
 *
 * A proxy connection sits between the helpers and the fake where a test
 * needs to see or disturb the traffic: it counts operations in flight
 * (the window), fails the Nth operation (connection loss before or after
 * it is applied, or a refused submit), and has a second session delete a
 * node just before it is listed (nodes deleted during a walk) or grow a
 * node just before it is deleted (nodes created during a delete).
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
#include <zkcell/fake.h>
#include <zkcell/path.h>
#include <zkcell/util.h>

/* ---- fixture: one tree, one session ---- */

typedef struct fx {
    zkc_fake_tree *t;
    zkc_conn *c;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->t = zkc_fake_tree_new();
    assert_non_null(f->t);
    assert_int_equal(zkc_fake_open(f->t, &f->c), ZKC_OK);
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

/* ---- helpers ---- */

/* Wait for a batch of asynchronous operations. */
typedef struct batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;
    int failed;
    int first_rc;
} batch;

static void batch_done(const zkc_result *r, void *ud)
{
    batch *b = ud;
    zkc_watch_free(r->watch);
    pthread_mutex_lock(&b->mu);
    if (r->rc != ZKC_OK && r->rc != ZKC_ENODEEXISTS) {
        if (b->failed++ == 0)
            b->first_rc = r->rc;
    }
    b->pending--;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/*
 * Build root/n<i>/n<j>/... fanout[0] x fanout[1] x ... nodes below root
 * (root included), pipelined.  Returns the number of nodes below root.
 */
static size_t build_tree(zkc_conn *c, const char *root, const int *fanout, int levels)
{
    int rc = zkc_create_recursive(c, root, NULL, 0, 0, NULL, NULL);
    assert_true(rc == ZKC_OK || rc == ZKC_ENODEEXISTS);

    batch b = {.pending = 0};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);

    /* Level by level; the fake applies operations in submission order,
     * but we wait anyway, as a real server pipeline would not need to. */
    size_t nprev = 1, total = 0;
    char **prev = malloc(sizeof *prev);
    prev[0] = strdup(root);
    for (int l = 0; l < levels; l++) {
        size_t ncur = nprev * (size_t)fanout[l];
        char **cur = malloc(ncur * sizeof *cur);
        size_t k = 0;
        for (size_t i = 0; i < nprev; i++) {
            for (int j = 0; j < fanout[l]; j++) {
                char name[32];
                snprintf(name, sizeof name, "n%d", j);
                cur[k] = zkc_path_join(prev[i], name);
                char data[64];
                int dl = snprintf(data, sizeof data, "data of %s", name);
                pthread_mutex_lock(&b.mu);
                b.pending++;
                pthread_mutex_unlock(&b.mu);
                assert_int_equal(zkc_acreate(c, cur[k], data, (size_t)dl, 0, NULL, batch_done, &b),
                                 ZKC_OK);
                k++;
            }
        }
        pthread_mutex_lock(&b.mu);
        while (b.pending > 0)
            pthread_cond_wait(&b.cv, &b.mu);
        pthread_mutex_unlock(&b.mu);
        assert_int_equal(b.failed, 0);
        for (size_t i = 0; i < nprev; i++)
            free(prev[i]);
        free(prev);
        prev = cur;
        nprev = ncur;
        total += ncur;
    }
    for (size_t i = 0; i < nprev; i++)
        free(prev[i]);
    free(prev);
    pthread_mutex_destroy(&b.mu);
    pthread_cond_destroy(&b.cv);
    return total;
}

static bool node_exists(zkc_conn *c, const char *path)
{
    bool ex = false;
    assert_int_equal(zkc_exists(c, path, &ex, NULL, NULL), ZKC_OK);
    return ex;
}

static void mk(zkc_conn *c, const char *path, const char *data, const zkc_acl_list *acl)
{
    int rc = zkc_create_recursive(c, path, data, data ? strlen(data) : 0, 0, acl, NULL);
    if (rc != ZKC_OK)
        fail_msg("create %s: %s", path, zkc_errmsg());
}

/* The one-entry ACL list {perms, scheme:id}. */
typedef struct acl1 {
    zkc_acl e;
    zkc_acl_list l;
} acl1;

static const zkc_acl_list *acl_make(acl1 *a, uint32_t perms, const char *scheme, const char *id)
{
    a->e.perms = perms;
    a->e.scheme = (char *)scheme;
    a->e.id = (char *)id;
    a->l.count = 1;
    a->l.v = &a->e;
    return &a->l;
}

static void assert_sorted_unique(const zkc_strings *s)
{
    for (size_t i = 1; i < s->count; i++)
        if (strcmp(s->v[i - 1], s->v[i]) >= 0)
            fail_msg("not sorted at %zu: \"%s\" then \"%s\"", i, s->v[i - 1], s->v[i]);
}

static void assert_strings(const zkc_strings *s, const char *const *want, size_t n)
{
    if (s->count != n) {
        for (size_t i = 0; i < s->count; i++)
            print_message("  got[%zu] = %s\n", i, s->v[i]);
        fail_msg("got %zu strings, want %zu", s->count, n);
    }
    for (size_t i = 0; i < n; i++)
        assert_string_equal(s->v[i], want[i]);
}

/* ---- the proxy connection ---- */

enum { FAIL_LOSS_BEFORE = 1, FAIL_LOSS_AFTER = 2, FAIL_SUBMIT = 3 };

typedef struct proxy {
    zkc_conn base;
    zkc_conn *inner;
    pthread_mutex_t mu;
    int submits;        /* operations seen */
    int fail_at;        /* the operation (1-based) to fail; 0: none */
    int fail_how;
    /* Just before listing vanish_path, a second session deletes it. */
    const char *vanish_path;
    int vanish_rc;
    /* Just before a delete of grow_path, a second session creates
     * grow_path/<grow_name> (the result goes to grow_rc). */
    const char *grow_path;
    zkc_conn *grower;
    int grow_count;
    int grow_rc;
    int inflight, max_inflight;
    int ops[ZKC_OP_SET_ACL + 1];
    /* Multis (the proxy does multi when made by proxy_new_multi). */
    int multis, multi_ops, multi_failed;
    int mfail_at, mfail_how; /* the multi (1-based) to lose, and how */
    /* Just before the first multi, a second session creates a child of
     * mgrow_path, or deletes mvanish_path. */
    const char *mgrow_path, *mvanish_path;
    int mgrow_rc, mvanish_rc;
} proxy;

typedef struct proxy_call {
    proxy *p;
    zkc_done_fn done;
    void *ud;
} proxy_call;

static void proxy_done(const zkc_result *res, void *ud)
{
    proxy_call *pc = ud;
    proxy *p = pc->p;
    pthread_mutex_lock(&p->mu);
    p->inflight--;
    if (res->op == ZKC_OP_MULTI && res->rc != ZKC_OK)
        p->multi_failed++;
    pthread_mutex_unlock(&p->mu);
    pc->done(res, pc->ud);
    free(pc);
}

static int proxy_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *ud)
{
    proxy *p = (proxy *)c;
    zkc_request r = *req;
    pthread_mutex_lock(&p->mu);
    int n = ++p->submits;
    p->ops[req->op]++;
    if (n == p->fail_at && p->fail_how == FAIL_SUBMIT) {
        pthread_mutex_unlock(&p->mu);
        return ZKC_ECLOSED;
    }
    if (n == p->fail_at)
        zkc_fake_inject(p->inner, p->fail_how == FAIL_LOSS_BEFORE ? ZKC_FAKE_LOSS_BEFORE
                                                                  : ZKC_FAKE_LOSS_AFTER,
                        1);
    if (p->vanish_path != NULL && req->op == ZKC_OP_CHILDREN &&
        strcmp(req->path, p->vanish_path) == 0)
        p->vanish_rc = zkc_delete_recursive(p->grower, p->vanish_path, -1);
    if (p->grow_path != NULL && req->op == ZKC_OP_DELETE && strcmp(req->path, p->grow_path) == 0) {
        /* Another session, so blocking is fine even on our completion
         * thread. */
        char child[256];
        snprintf(child, sizeof child, "%s/grown-%d", p->grow_path, p->grow_count++);
        p->grow_rc = zkc_create(p->grower, child, NULL, 0, 0, NULL, NULL);
    }
    proxy_call *pc = malloc(sizeof *pc);
    pc->p = p;
    pc->done = done;
    pc->ud = ud;
    p->inflight++;
    if (p->inflight > p->max_inflight)
        p->max_inflight = p->inflight;
    int rc = zkc_submit(p->inner, &r, proxy_done, pc);
    if (rc != ZKC_OK) {
        p->inflight--;
        free(pc);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static void proxy_close(zkc_conn *c)
{
    proxy *p = (proxy *)c;
    pthread_mutex_destroy(&p->mu);
    zkc_impl_conn_fini(&p->base);
    free(p);
}

static const struct zkc_conn_ops proxy_ops = {
    .version = 1, .name = "proxy", .submit = proxy_submit, .close = proxy_close};

static int proxy_multi(zkc_conn *c, const zkc_request *ops, size_t n, zkc_done_fn done,
                       void *ud)
{
    proxy *p = (proxy *)c;
    pthread_mutex_lock(&p->mu);
    int k = ++p->multis;
    p->multi_ops += (int)n;
    if (k == p->mfail_at)
        zkc_fake_inject(
            p->inner,
            p->mfail_how == FAIL_LOSS_BEFORE ? ZKC_FAKE_LOSS_BEFORE : ZKC_FAKE_LOSS_AFTER, 1);
    if (k == 1 && p->mgrow_path != NULL) {
        char child[256];
        snprintf(child, sizeof child, "%s/grown", p->mgrow_path);
        p->mgrow_rc = zkc_create(p->grower, child, NULL, 0, 0, NULL, NULL);
    }
    if (k == 1 && p->mvanish_path != NULL)
        p->mvanish_rc = zkc_delete(p->grower, p->mvanish_path, -1);
    proxy_call *pc = malloc(sizeof *pc);
    pc->p = p;
    pc->done = done;
    pc->ud = ud;
    p->inflight++;
    int rc = zkc_amulti(p->inner, ops, n, proxy_done, pc);
    if (rc != ZKC_OK) {
        p->inflight--;
        free(pc);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static const struct zkc_conn_ops proxy_multi_ops = {.version = 1,
                                                    .name = "proxy",
                                                    .submit = proxy_submit,
                                                    .close = proxy_close,
                                                    .multi = proxy_multi};

static proxy *proxy_new(zkc_conn *inner)
{
    proxy *p = calloc(1, sizeof *p);
    assert_non_null(p);
    assert_int_equal(zkc_impl_conn_init(&p->base, &proxy_ops, "proxy"), ZKC_OK);
    zkc_impl_conn_set_state(&p->base, ZKC_STATE_CONNECTED);
    pthread_mutex_init(&p->mu, NULL);
    p->inner = inner;
    return p;
}

static proxy *proxy_new_multi(zkc_conn *inner)
{
    proxy *p = proxy_new(inner);
    p->base.ops = &proxy_multi_ops;
    return p;
}

static int proxy_submits(proxy *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->submits;
    pthread_mutex_unlock(&p->mu);
    return n;
}

/* ---- CreateRecursive ---- */

static void test_create_recursive_basic(void **state)
{
    fx *f = *state;
    char *made = NULL;
    assert_int_equal(zkc_create_recursive(f->c, "/a/b/c", "leaf", 4, 0, NULL, &made), ZKC_OK);
    assert_string_equal(made, "/a/b/c");
    zkc_free(made);

    char *data = NULL;
    size_t len = 0;
    zkc_stat st;
    assert_int_equal(zkc_get(f->c, "/a/b/c", &data, &len, &st, NULL), ZKC_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(data, "leaf", 4);
    zkc_free(data);

    /* Ancestors: empty, persistent, world directory ACL. */
    const char *anc[] = {"/a", "/a/b"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(zkc_get(f->c, anc[i], &data, &len, &st, NULL), ZKC_OK);
        assert_int_equal(len, 0);
        assert_int_equal(st.ephemeral_owner, 0);
        zkc_free(data);
        zkc_acl_list *acl = NULL;
        assert_int_equal(zkc_get_acl(f->c, anc[i], &acl, NULL), ZKC_OK);
        assert_int_equal(acl->count, 1);
        assert_int_equal(acl->v[0].perms, ZKC_PERM_DIRECTORY);
        assert_string_equal(acl->v[0].scheme, "world");
        assert_string_equal(acl->v[0].id, "anyone");
        zkc_acl_list_free(acl);
    }

    /* Existing ancestors are fine; ret_path may be NULL. */
    assert_int_equal(zkc_create_recursive(f->c, "/a/b/d/e", NULL, 0, 0, NULL, NULL), ZKC_OK);
    assert_true(node_exists(f->c, "/a/b/d/e"));
    /* A top-level node has no ancestor to make. */
    assert_int_equal(zkc_create_recursive(f->c, "/top", NULL, 0, 0, NULL, NULL), ZKC_OK);
    /* The leaf itself existing is the create's error. */
    assert_int_equal(zkc_create_recursive(f->c, "/a/b/c", NULL, 0, 0, NULL, &made),
                     ZKC_ENODEEXISTS);
    assert_null(made);
    assert_non_null(strstr(zkc_errmsg(), "/a/b/c"));
}

/* The leaf's ephemeral and sequence flags never reach the ancestors. */
static void test_create_recursive_flags_not_inherited(void **state)
{
    fx *f = *state;
    char *made = NULL;
    assert_int_equal(zkc_create_recursive(f->c, "/q/x/lock-", "me", 2,
                                          ZKC_EPHEMERAL | ZKC_SEQUENCE, NULL, &made),
                     ZKC_OK);
    assert_non_null(made);
    assert_int_equal(strncmp(made, "/q/x/lock-", 10), 0);
    assert_int_equal(strlen(made), strlen("/q/x/lock-") + 10);

    zkc_stat st;
    assert_int_equal(zkc_get(f->c, made, NULL, NULL, &st, NULL), ZKC_OK);
    assert_int_equal(st.ephemeral_owner, zkc_conn_session_id(f->c));
    assert_int_not_equal(st.ephemeral_owner, 0);
    zkc_free(made);

    /* The ancestors have their exact names and no owner. */
    zkc_strings *kids = NULL;
    assert_int_equal(zkc_children(f->c, "/q", &kids, NULL, NULL), ZKC_OK);
    assert_int_equal(kids->count, 1);
    assert_string_equal(kids->v[0], "x");
    zkc_strings_free(kids);
    assert_int_equal(zkc_get(f->c, "/q/x", NULL, NULL, &st, NULL), ZKC_OK);
    assert_int_equal(st.ephemeral_owner, 0);

    /* A sequential path ending in '/' has its parent made too. */
    assert_int_equal(zkc_create_recursive(f->c, "/s/q/", NULL, 0, ZKC_SEQUENCE, NULL, &made),
                     ZKC_OK);
    assert_int_equal(strncmp(made, "/s/q/", 5), 0);
    zkc_free(made);
    assert_int_equal(zkc_get(f->c, "/s/q", NULL, NULL, &st, NULL), ZKC_OK);
    assert_int_equal(st.ephemeral_owner, 0);
}

/* Ancestors get the given entries with directory permissions. */
static void test_create_recursive_dir_acl(void **state)
{
    fx *f = *state;
    zkc_acl e[2] = {{ZKC_PERM_READ, "world", "anyone"},
                    {ZKC_PERM_READ | ZKC_PERM_WRITE, "ip", "127.0.0.1"}};
    zkc_acl_list acl = {2, e};
    assert_int_equal(zkc_create_recursive(f->c, "/acl/d/file", "x", 1, 0, &acl, NULL), ZKC_OK);

    zkc_acl_list *got = NULL;
    assert_int_equal(zkc_get_acl(f->c, "/acl/d", &got, NULL), ZKC_OK);
    assert_int_equal(got->count, 2);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(got->v[i].perms, ZKC_PERM_DIRECTORY);
    assert_true(zkc_is_directory(got));
    zkc_acl_list_free(got);

    /* The leaf keeps the ACL as given. */
    assert_int_equal(zkc_get_acl(f->c, "/acl/d/file", &got, NULL), ZKC_OK);
    assert_int_equal(got->count, 2);
    for (size_t i = 0; i < 2; i++) {
        bool seen = false;
        for (size_t j = 0; j < 2; j++)
            seen |= strcmp(got->v[i].scheme, e[j].scheme) == 0 && got->v[i].perms == e[j].perms;
        assert_true(seen);
    }
    zkc_acl_list_free(got);
}

static void test_create_recursive_errors(void **state)
{
    fx *f = *state;
    acl1 a;
    /* An ancestor that forbids children: its error, naming the path. */
    mk(f->c, "/ro", NULL, acl_make(&a, ZKC_PERM_READ, "world", "anyone"));
    assert_int_equal(zkc_create_recursive(f->c, "/ro/x/y", NULL, 0, 0, NULL, NULL),
                     ZKC_ENOAUTH);
    assert_non_null(strstr(zkc_errmsg(), "/ro/x/y"));
    assert_non_null(strstr(zkc_errmsg(), "/ro/x"));

    /* An ephemeral ancestor cannot have children. */
    assert_int_equal(zkc_create(f->c, "/eph", NULL, 0, ZKC_EPHEMERAL, NULL, NULL), ZKC_OK);
    assert_int_equal(zkc_create_recursive(f->c, "/eph/x/y", NULL, 0, 0, NULL, NULL),
                     ZKC_ENOCHILDRENFOREPHEMERALS);
    assert_false(node_exists(f->c, "/eph/x"));
}

static void test_create_recursive_odd_paths(void **state)
{
    fx *f = *state;
    char *made = (char *)"untouched";
    const char *bad[] = {"", "a", "a/b", "/", "//", "/a/", "/a//b", "/a/./b", "/..", "/x\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = zkc_create_recursive(f->c, bad[i], NULL, 0, 0, NULL, &made);
        if (rc != ZKC_EBADPATH)
            fail_msg("create_recursive(\"%s\") = %s", bad[i], zkc_err_name(rc));
        assert_null(made);
    }
    assert_int_equal(zkc_create_recursive(f->c, NULL, NULL, 0, 0, NULL, NULL),
                     ZKC_EBADARGUMENTS);
    assert_int_equal(zkc_create_recursive(NULL, "/a", NULL, 0, 0, NULL, NULL),
                     ZKC_EBADARGUMENTS);
    /* A deep path. */
    char deep[2048];
    size_t k = 0;
    for (int i = 0; i < 200; i++)
        k += (size_t)snprintf(deep + k, sizeof deep - k, "/d%d", i % 10);
    assert_int_equal(zkc_create_recursive(f->c, deep, NULL, 0, 0, NULL, NULL), ZKC_OK);
    assert_true(node_exists(f->c, deep));
}

/* Connection loss at every step: an error or success, never a hang, and
 * the next attempt finishes the job. */
static void test_create_recursive_faults(void **state)
{
    fx *f = *state;
    for (int how = FAIL_LOSS_BEFORE; how <= FAIL_SUBMIT; how++) {
        for (int at = 1; at <= 8; at++) {
            char path[64];
            snprintf(path, sizeof path, "/f%d-%d/a/b/c", how, at);
            proxy *p = proxy_new(f->c);
            p->fail_at = at;
            p->fail_how = how;
            int rc = zkc_create_recursive(&p->base, path, "v", 1, 0, NULL, NULL);
            int want = how == FAIL_SUBMIT ? ZKC_ECLOSED : ZKC_ECONNECTIONLOSS;
            if (rc != ZKC_OK && rc != want)
                fail_msg("how %d at %d: %s (%s)", how, at, zkc_err_name(rc), zkc_errmsg());
            if (at > proxy_submits(p))
                assert_int_equal(rc, ZKC_OK);
            zkc_conn_close(&p->base);
            rc = zkc_create_recursive(f->c, path, "v", 1, 0, NULL, NULL);
            assert_true(rc == ZKC_OK || rc == ZKC_ENODEEXISTS);
            assert_true(node_exists(f->c, path));
        }
    }
    /* Every later operation fails once the session has expired. */
    assert_int_equal(zkc_fake_inject(f->c, ZKC_FAKE_EXPIRE, 0), ZKC_OK);
    assert_int_equal(zkc_create_recursive(f->c, "/late/x", NULL, 0, 0, NULL, NULL),
                     ZKC_ESESSIONEXPIRED);
}

/* ---- CreateOrUpdate ---- */

static void test_create_or_update(void **state)
{
    fx *f = *state;
    acl1 a;
    const zkc_acl_list *file = acl_make(&a, ZKC_PERM_FILE, "world", "anyone");
    char *made = NULL;

    /* Created with the flags and ACL given (the original dropped them). */
    assert_int_equal(
        zkc_create_or_update(f->c, "/cu/x", "one", 3, ZKC_EPHEMERAL, file, true, &made),
        ZKC_OK);
    assert_string_equal(made, "/cu/x");
    zkc_free(made);
    zkc_stat st;
    assert_int_equal(zkc_get(f->c, "/cu/x", NULL, NULL, &st, NULL), ZKC_OK);
    assert_int_equal(st.ephemeral_owner, zkc_conn_session_id(f->c));
    zkc_acl_list *got = NULL;
    assert_int_equal(zkc_get_acl(f->c, "/cu/x", &got, NULL), ZKC_OK);
    assert_int_equal(got->count, 1);
    assert_int_equal(got->v[0].perms, ZKC_PERM_FILE);
    zkc_acl_list_free(got);

    /* Existing: updated, no created path. */
    made = (char *)"untouched";
    assert_int_equal(zkc_create_or_update(f->c, "/cu/x", "two", 3, 0, NULL, true, &made), ZKC_OK);
    assert_null(made);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(zkc_get(f->c, "/cu/x", &data, &len, &st, NULL), ZKC_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "two", 3);
    assert_int_equal(st.version, 1);
    zkc_free(data);

    /* Not recursive: a missing parent is an error. */
    assert_int_equal(zkc_create_or_update(f->c, "/nope/x", "v", 1, 0, NULL, false, NULL),
                     ZKC_ENONODE);
    assert_non_null(strstr(zkc_errmsg(), "/nope/x"));
    assert_int_equal(zkc_create_or_update(f->c, "/cu/plain", NULL, 0, 0, NULL, false, NULL),
                     ZKC_OK);
    assert_int_equal(zkc_create_or_update(NULL, "/cu/plain", NULL, 0, 0, NULL, false, NULL),
                     ZKC_EBADARGUMENTS);
}

/* ---- DeleteRecursive ---- */

static void test_delete_recursive_basic(void **state)
{
    fx *f = *state;
    const int fan[] = {3, 3, 3};
    build_tree(f->c, "/del/t", fan, 3);
    mk(f->c, "/del/keep", NULL, NULL);
    assert_int_equal(zkc_delete_recursive(f->c, "/del/t", -1), ZKC_OK);
    assert_false(node_exists(f->c, "/del/t"));
    assert_true(node_exists(f->c, "/del/keep"));

    /* A leaf, then a missing node. */
    assert_int_equal(zkc_delete_recursive(f->c, "/del/keep", -1), ZKC_OK);
    assert_int_equal(zkc_delete_recursive(f->c, "/del/keep", -1), ZKC_ENONODE);
    assert_non_null(strstr(zkc_errmsg(), "/del/keep"));
    assert_int_equal(zkc_delete_recursive(f->c, "del", -1), ZKC_EBADPATH);
    assert_int_equal(zkc_delete_recursive(f->c, NULL, -1), ZKC_EBADARGUMENTS);
}

/* The version is the node's data version, and the ACL change is checked
 * against the ACL version (the original mixed them up). */
static void test_delete_recursive_version(void **state)
{
    fx *f = *state;
    mk(f->c, "/v/a/b", NULL, NULL);
    assert_int_equal(zkc_set(f->c, "/v", "1", 1, -1, NULL), ZKC_OK);
    zkc_stat st;
    assert_int_equal(zkc_set(f->c, "/v", "2", 1, -1, &st), ZKC_OK);
    assert_int_equal(st.version, 2);

    assert_int_equal(zkc_delete_recursive(f->c, "/v", 1), ZKC_EBADVERSION);
    assert_true(node_exists(f->c, "/v/a/b"));
    assert_non_null(strstr(zkc_errmsg(), "/v"));

    assert_int_equal(zkc_delete_recursive(f->c, "/v", 2), ZKC_OK);
    assert_false(node_exists(f->c, "/v"));
}

/* Without ADMIN the lock-out is skipped, and the delete goes on. */
static void test_delete_recursive_without_admin(void **state)
{
    fx *f = *state;
    acl1 a;
    const uint32_t no_admin = ZKC_PERM_ALL & ~ZKC_PERM_ADMIN;
    assert_int_equal(zkc_create(f->c, "/na", NULL, 0, 0,
                                acl_make(&a, no_admin, "world", "anyone"), NULL),
                     ZKC_OK);
    const int fan[] = {4, 2};
    build_tree(f->c, "/na", fan, 2);
    assert_int_equal(zkc_delete_recursive(f->c, "/na", -1), ZKC_OK);
    assert_false(node_exists(f->c, "/na"));
}

/* A delete that fails half way gives the node its CREATE back. */
static void test_delete_recursive_restores_acl(void **state)
{
    fx *f = *state;
    acl1 a;
    mk(f->c, "/r/ok1", NULL, NULL);
    /* Without DELETE on /r/stuck, its child cannot go. */
    assert_int_equal(zkc_create(f->c, "/r/stuck", NULL, 0, 0,
                                acl_make(&a, ZKC_PERM_ALL & ~ZKC_PERM_DELETE, "world", "anyone"),
                                NULL),
                     ZKC_OK);
    mk(f->c, "/r/stuck/child", NULL, NULL);

    assert_int_equal(zkc_delete_recursive(f->c, "/r", -1), ZKC_ENOAUTH);
    assert_non_null(strstr(zkc_errmsg(), "/r/stuck/child"));
    assert_true(node_exists(f->c, "/r"));

    zkc_acl_list *got = NULL;
    zkc_stat st;
    assert_int_equal(zkc_get_acl(f->c, "/r", &got, &st), ZKC_OK);
    assert_int_equal(got->count, 1);
    assert_int_equal(got->v[0].perms, ZKC_PERM_ALL);
    assert_int_equal(st.aversion, 2); /* locked, then given back */
    zkc_acl_list_free(got);
    /* The message survived the restore. */
    mk(f->c, "/r/new", NULL, NULL);
}

/* Creators are locked out: a create under the node while its children go
 * is refused, and the delete succeeds. */
static void test_delete_recursive_locks_out_creators(void **state)
{
    fx *f = *state;
    zkc_conn *other = NULL;
    assert_int_equal(zkc_fake_open(f->t, &other), ZKC_OK);
    const int fan[] = {5, 5};
    build_tree(f->c, "/lo", fan, 2);

    proxy *p = proxy_new(f->c);
    p->grow_path = "/lo";
    p->grower = other;
    assert_int_equal(zkc_delete_recursive(&p->base, "/lo", -1), ZKC_OK);
    /* First delete (not empty yet): the grower got in; the last one:
     * locked out. */
    assert_int_equal(p->grow_count, 2);
    assert_int_equal(p->grow_rc, ZKC_ENOAUTH);
    assert_false(node_exists(f->c, "/lo"));
    zkc_conn_close(&p->base);
    zkc_conn_close(other);
}

/* Without ADMIN nothing keeps creators out: a node created under it just
 * before the last delete gives ZKC_ENOTEMPTY and says so. */
static void test_delete_recursive_recreated_underneath(void **state)
{
    fx *f = *state;
    zkc_conn *other = NULL;
    assert_int_equal(zkc_fake_open(f->t, &other), ZKC_OK);
    acl1 a;
    assert_int_equal(zkc_create(f->c, "/rc", NULL, 0, 0,
                                acl_make(&a, ZKC_PERM_ALL & ~ZKC_PERM_ADMIN, "world", "anyone"),
                                NULL),
                     ZKC_OK);
    const int fan[] = {3, 3};
    build_tree(f->c, "/rc", fan, 2);

    proxy *p = proxy_new(f->c);
    p->grow_path = "/rc";
    p->grower = other;
    assert_int_equal(zkc_delete_recursive(&p->base, "/rc", -1), ZKC_ENOTEMPTY);
    assert_int_equal(p->grow_rc, ZKC_OK);
    assert_non_null(strstr(zkc_errmsg(), "/rc"));
    assert_non_null(strstr(zkc_errmsg(), "created"));
    zkc_conn_close(&p->base);

    /* Once the creator stops, it goes. */
    assert_int_equal(zkc_delete_recursive(f->c, "/rc", -1), ZKC_OK);
    zkc_conn_close(other);
}

/* A child that grows a child after the listing is deleted with its own
 * recursive delete (which locks its creators out). */
static void test_delete_recursive_child_grows(void **state)
{
    fx *f = *state;
    zkc_conn *other = NULL;
    assert_int_equal(zkc_fake_open(f->t, &other), ZKC_OK);
    const int fan[] = {3, 2};
    build_tree(f->c, "/cg", fan, 2);

    proxy *p = proxy_new(f->c);
    p->grow_path = "/cg/n1/n0";
    p->grower = other;
    assert_int_equal(zkc_delete_recursive(&p->base, "/cg", -1), ZKC_OK);
    assert_true(p->grow_count >= 2);
    assert_int_equal(p->grow_rc, ZKC_ENOAUTH);
    assert_false(node_exists(f->c, "/cg"));
    zkc_conn_close(&p->base);
    zkc_conn_close(other);
}

/* Nodes that vanish while the subtree is deleted are fine. */
static void test_delete_recursive_deleted_meanwhile(void **state)
{
    fx *f = *state;
    zkc_conn *other = NULL;
    assert_int_equal(zkc_fake_open(f->t, &other), ZKC_OK);
    const int fan[] = {4, 3};
    build_tree(f->c, "/dm", fan, 2);
    proxy *p = proxy_new(f->c);
    p->grower = other;
    p->vanish_path = "/dm/n2";
    assert_int_equal(zkc_delete_recursive(&p->base, "/dm", -1), ZKC_OK);
    assert_int_equal(p->vanish_rc, ZKC_OK);
    assert_false(node_exists(f->c, "/dm"));
    zkc_conn_close(&p->base);
    zkc_conn_close(other);
}

/* Connection loss (before or after the server applied it) or a refused
 * submit at every single operation: an error, never a hang, and a second
 * call finishes the job. */
static void test_delete_recursive_faults(void **state)
{
    fx *f = *state;
    const int fan[] = {3, 2, 2};
    int total_ops = 0;
    for (int how = FAIL_LOSS_BEFORE; how <= FAIL_SUBMIT; how++) {
        for (int at = 1;; at++) {
            build_tree(f->c, "/df", fan, 3);
            proxy *p = proxy_new(f->c);
            p->fail_at = at;
            p->fail_how = how;
            int rc = zkc_delete_recursive(&p->base, "/df", -1);
            int used = proxy_submits(p);
            zkc_conn_close(&p->base);
            if (at > used) {
                assert_int_equal(rc, ZKC_OK);
                total_ops = used;
                break;
            }
            int want = how == FAIL_SUBMIT ? ZKC_ECLOSED : ZKC_ECONNECTIONLOSS;
            if (rc != want && rc != ZKC_OK)
                fail_msg("how %d at %d/%d: %s (%s)", how, at, used, zkc_err_name(rc),
                         zkc_errmsg());
            if (rc != ZKC_OK)
                assert_true(strlen(zkc_errmsg()) > 0);
            rc = zkc_delete_recursive(f->c, "/df", -1);
            assert_true(rc == ZKC_OK || rc == ZKC_ENONODE);
            assert_false(node_exists(f->c, "/df"));
        }
    }
    /* delete, get_acl, set_acl, listing (1 + 3 + 6), 12 + 6 + 3 deletes,
     * final delete */
    assert_true(total_ops >= 25);
}

static void test_delete_recursive_large(void **state)
{
    fx *f = *state;
    const int fan[] = {10, 10, 60};
    size_t n = build_tree(f->c, "/big", fan, 3);
    assert_true(n >= 6000);
    proxy *p = proxy_new(f->c);
    assert_int_equal(zkc_delete_recursive(&p->base, "/big", -1), ZKC_OK);
    assert_false(node_exists(f->c, "/big"));
    assert_int_equal(p->ops[ZKC_OP_DELETE], (int)n + 2);
    assert_true(p->max_inflight > 1);
    assert_true(p->max_inflight <= ZKC_DEFAULT_WINDOW);
    zkc_conn_close(&p->base);
}

/* ---- ChildrenRecursive ---- */

static void test_children_recursive_small(void **state)
{
    fx *f = *state;
    mk(f->c, "/cr/b/x", NULL, NULL);
    mk(f->c, "/cr/a", NULL, NULL);
    mk(f->c, "/cr/b/y/z", NULL, NULL);
    mk(f->c, "/cr/a-b", NULL, NULL);
    mk(f->c, "/crx", NULL, NULL);

    zkc_strings *got = NULL;
    assert_int_equal(zkc_children_recursive(f->c, "/cr", 0, &got), ZKC_OK);
    const char *want[] = {"a", "a-b", "b", "b/x", "b/y", "b/y/z"};
    assert_strings(got, want, 6);
    zkc_strings_free(got);

    /* A leaf has no descendants. */
    assert_int_equal(zkc_children_recursive(f->c, "/cr/b/y/z", 1, &got), ZKC_OK);
    assert_int_equal(got->count, 0);
    zkc_strings_free(got);

    /* A missing node, a bad path, bad arguments. */
    got = (zkc_strings *)&got;
    assert_int_equal(zkc_children_recursive(f->c, "/nothing", 0, &got), ZKC_ENONODE);
    assert_null(got);
    assert_non_null(strstr(zkc_errmsg(), "/nothing"));
    assert_int_equal(zkc_children_recursive(f->c, "/cr/", 0, &got), ZKC_EBADPATH);
    assert_int_equal(zkc_children_recursive(f->c, "/cr", 0, NULL), ZKC_EBADARGUMENTS);
    assert_int_equal(zkc_children_recursive(NULL, "/cr", 0, &got), ZKC_EBADARGUMENTS);
}

/* 6000+ nodes through a window of 4: all of them, sorted, never more
 * than 4 operations in flight, and more than one at a time. */
static void test_children_recursive_large_small_window(void **state)
{
    fx *f = *state;
    const int fan[] = {20, 20, 15};
    size_t n = build_tree(f->c, "/lg", fan, 3);
    assert_int_equal(n, 20 + 400 + 6000);

    proxy *p = proxy_new(f->c);
    zkc_strings *got = NULL;
    assert_int_equal(zkc_children_recursive(&p->base, "/lg", 4, &got), ZKC_OK);
    assert_int_equal(got->count, n);
    assert_sorted_unique(got);
    assert_string_equal(got->v[0], "n0");
    assert_string_equal(got->v[1], "n0/n0");
    assert_string_equal(got->v[2], "n0/n0/n0");
    assert_string_equal(got->v[got->count - 1], "n9/n9/n9");
    assert_int_equal(p->ops[ZKC_OP_CHILDREN], (int)n + 1);
    assert_true(p->max_inflight <= 4);
    assert_true(p->max_inflight >= 2);
    zkc_strings_free(got);

    /* The default window. */
    p->max_inflight = 0;
    assert_int_equal(zkc_children_recursive(&p->base, "/lg", 0, &got), ZKC_OK);
    assert_int_equal(got->count, n);
    assert_true(p->max_inflight <= ZKC_DEFAULT_WINDOW);
    assert_true(p->max_inflight > 4);
    zkc_strings_free(got);

    /* A window the completions refill in bursts (of 3 here): the walk
     * still gets to the end, the window never overflows. */
    p->max_inflight = 0;
    memset(p->ops, 0, sizeof p->ops);
    assert_int_equal(zkc_children_recursive(&p->base, "/lg", 50, &got), ZKC_OK);
    assert_int_equal(got->count, n);
    assert_sorted_unique(got);
    assert_int_equal(p->ops[ZKC_OP_CHILDREN], (int)n + 1);
    assert_true(p->max_inflight <= 50);
    assert_true(p->max_inflight > 4);
    zkc_strings_free(got);

    /* A window of one is one operation at a time. */
    p->max_inflight = 0;
    assert_int_equal(zkc_children_recursive(&p->base, "/lg/n3", 1, &got), ZKC_OK);
    assert_int_equal(got->count, 20 + 300);
    assert_int_equal(p->max_inflight, 1);
    zkc_strings_free(got);
    zkc_conn_close(&p->base);
}

/* A node deleted between its parent's listing and its own is skipped,
 * its descendants with it. */
static void test_children_recursive_deleted_meanwhile(void **state)
{
    fx *f = *state;
    mk(f->c, "/dw/a/x", NULL, NULL);
    mk(f->c, "/dw/b/y", NULL, NULL);
    mk(f->c, "/dw/c", NULL, NULL);
    zkc_conn *other = NULL;
    assert_int_equal(zkc_fake_open(f->t, &other), ZKC_OK);
    proxy *p = proxy_new(f->c);
    p->grower = other;
    p->vanish_path = "/dw/b";
    zkc_strings *got = NULL;
    assert_int_equal(zkc_children_recursive(&p->base, "/dw", 2, &got), ZKC_OK);
    const char *want[] = {"a", "a/x", "c"};
    assert_strings(got, want, 3);
    zkc_strings_free(got);

    assert_int_equal(p->vanish_rc, ZKC_OK);

    /* The root itself missing is an error. */
    p->vanish_path = "/dw";
    assert_int_equal(zkc_children_recursive(&p->base, "/dw", 2, &got), ZKC_ENONODE);
    assert_int_equal(p->vanish_rc, ZKC_OK);
    zkc_conn_close(&p->base);
    zkc_conn_close(other);
}

/* A real concurrent deleter. */
typedef struct deleter {
    zkc_conn *c;
    const char *root;
    int n;
    int deleted;
} deleter;

static void *deleter_run(void *arg)
{
    deleter *d = arg;
    for (int i = d->n - 1; i >= 0; i--) {
        char path[64];
        snprintf(path, sizeof path, "%s/n%d", d->root, i);
        if (zkc_delete_recursive(d->c, path, -1) == ZKC_OK)
            d->deleted++;
    }
    return NULL;
}

static void test_children_recursive_concurrent_delete(void **state)
{
    fx *f = *state;
    const int fan[] = {40, 10, 5};
    size_t n = build_tree(f->c, "/cd", fan, 3);
    zkc_conn *other = NULL;
    assert_int_equal(zkc_fake_open(f->t, &other), ZKC_OK);
    deleter d = {other, "/cd", 40, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, deleter_run, &d), 0);
    zkc_strings *got = NULL;
    int rc = zkc_children_recursive(f->c, "/cd", 3, &got);
    pthread_join(th, NULL);
    assert_int_equal(rc, ZKC_OK);
    assert_true(got->count <= n);
    assert_sorted_unique(got);
    zkc_strings_free(got);
    assert_int_equal(d.deleted, 40);
    zkc_conn_close(other);
}

static void test_children_recursive_faults(void **state)
{
    fx *f = *state;
    const int fan[] = {4, 3, 2};
    size_t n = build_tree(f->c, "/cf", fan, 3);
    for (int how = FAIL_LOSS_BEFORE; how <= FAIL_SUBMIT; how++) {
        for (int at = 1;; at++) {
            proxy *p = proxy_new(f->c);
            p->fail_at = at;
            p->fail_how = how;
            zkc_strings *got = NULL;
            int rc = zkc_children_recursive(&p->base, "/cf", 3, &got);
            int used = proxy_submits(p);
            zkc_conn_close(&p->base);
            if (at > used) {
                assert_int_equal(rc, ZKC_OK);
                assert_int_equal(got->count, n);
                zkc_strings_free(got);
                assert_int_equal(used, (int)n + 1);
                break;
            }
            int want = how == FAIL_SUBMIT ? ZKC_ECLOSED : ZKC_ECONNECTIONLOSS;
            if (rc != want)
                fail_msg("how %d at %d: %s", how, at, zkc_err_name(rc));
            assert_null(got);
            assert_non_null(strstr(zkc_errmsg(), "/cf"));
        }
    }
    assert_int_equal(zkc_fake_inject(f->c, ZKC_FAKE_EXPIRE, 0), ZKC_OK);
    zkc_strings *got = NULL;
    assert_int_equal(zkc_children_recursive(f->c, "/cf", 0, &got), ZKC_ESESSIONEXPIRED);
}

/* A suspended session: every operation fails with connection loss. */
static void test_children_recursive_suspended(void **state)
{
    fx *f = *state;
    const int fan[] = {5, 5};
    build_tree(f->c, "/su", fan, 2);
    assert_int_equal(zkc_fake_inject(f->c, ZKC_FAKE_SUSPEND, 1), ZKC_OK);
    zkc_strings *got = NULL;
    assert_int_equal(zkc_children_recursive(f->c, "/su", 0, &got), ZKC_ECONNECTIONLOSS);
    assert_int_equal(zkc_delete_recursive(f->c, "/su", -1), ZKC_ECONNECTIONLOSS);
    assert_int_equal(zkc_fake_inject(f->c, ZKC_FAKE_SUSPEND, 0), ZKC_OK);
    assert_int_equal(zkc_children_recursive(f->c, "/su", 0, &got), ZKC_OK);
    assert_int_equal(got->count, 30);
    zkc_strings_free(got);
}

/* ---- ResolveWildcards ---- */

static void make_cells(zkc_conn *c)
{
    mk(c, "/zk/nj/shards/a/actionlog", NULL, NULL);
    mk(c, "/zk/nj/shards/b/actionlog", NULL, NULL);
    mk(c, "/zk/nj/shards/b/other", NULL, NULL);
    mk(c, "/zk/ny/shards/c/actionlog", NULL, NULL);
    mk(c, "/zk/ny/shards/d", NULL, NULL);
    mk(c, "/zk/global/shards/g/actionlog", NULL, NULL);
}

static void test_resolve_cells(void **state)
{
    fx *f = *state;
    make_cells(f->c);
    zkc_strings *cells = zkc_impl_strings_new(0);
    zkc_impl_strings_push(cells, "ny", 2);
    zkc_impl_strings_push(cells, "nj", 2);
    zkc_impl_strings_push(cells, "sf", 2); /* known, but not in this tree */

    const char *pats[] = {"/zk/*/shards/*/actionlog"};
    zkc_strings *got = NULL;
    assert_int_equal(zkc_resolve_wildcards(f->c, pats, 1, cells, &got), ZKC_OK);
    const char *want[] = {"/zk/nj/shards/a/actionlog", "/zk/nj/shards/b/actionlog",
                          "/zk/ny/shards/c/actionlog"};
    assert_strings(got, want, 3);
    zkc_strings_free(got);

    /* Without a cell list: the children of /zk. */
    assert_int_equal(zkc_resolve_wildcards(f->c, pats, 1, NULL, &got), ZKC_OK);
    const char *want2[] = {"/zk/global/shards/g/actionlog", "/zk/nj/shards/a/actionlog",
                           "/zk/nj/shards/b/actionlog", "/zk/ny/shards/c/actionlog"};
    assert_strings(got, want2, 4);
    zkc_strings_free(got);

    /* The cell position alone: known cells that exist. */
    const char *pats3[] = {"/zk/n?"};
    assert_int_equal(zkc_resolve_wildcards(f->c, pats3, 1, cells, &got), ZKC_OK);
    const char *want3[] = {"/zk/nj", "/zk/ny"};
    assert_strings(got, want3, 2);
    zkc_strings_free(got);

    /* Only /zk/<cell> is a cell position. */
    mk(f->c, "/other/x", NULL, NULL);
    const char *pats4[] = {"/other/*"};
    assert_int_equal(zkc_resolve_wildcards(f->c, pats4, 1, cells, &got), ZKC_OK);
    const char *want4[] = {"/other/x"};
    assert_strings(got, want4, 1);
    zkc_strings_free(got);
    zkc_strings_free(cells);
}

static void test_resolve_order_literal_empty(void **state)
{
    fx *f = *state;
    make_cells(f->c);
    const char *pats[] = {"/zk/ny/shards/*", "/zk/nyc/path*", "/zk/none/literal",
                          "/zk/nj/shards/[ab]", "/zk/nj/shards/b/*"};
    zkc_strings *got = NULL;
    assert_int_equal(zkc_resolve_wildcards(f->c, pats, 5, NULL, &got), ZKC_OK);
    const char *want[] = {"/zk/ny/shards/c",          "/zk/ny/shards/d",
                          "/zk/none/literal",         "/zk/nj/shards/a",
                          "/zk/nj/shards/b",          "/zk/nj/shards/b/actionlog",
                          "/zk/nj/shards/b/other"};
    assert_strings(got, want, 7);
    zkc_strings_free(got);

    /* No patterns, no paths. */
    assert_int_equal(zkc_resolve_wildcards(f->c, NULL, 0, NULL, &got), ZKC_OK);
    assert_int_equal(got->count, 0);
    zkc_strings_free(got);

    /* The root's children. */
    const char *root[] = {"/*"};
    assert_int_equal(zkc_resolve_wildcards(f->c, root, 1, NULL, &got), ZKC_OK);
    const char *want_root[] = {"/zk", "/zookeeper"};
    assert_strings(got, want_root, 2);
    zkc_strings_free(got);

    assert_int_equal(zkc_resolve_wildcards(f->c, pats, 1, NULL, NULL), ZKC_EBADARGUMENTS);
    assert_int_equal(zkc_resolve_wildcards(f->c, NULL, 1, NULL, &got), ZKC_EBADARGUMENTS);
}

static void test_resolve_bad_patterns(void **state)
{
    fx *f = *state;
    make_cells(f->c);
    /* Bad even where nothing would be listed. */
    const char *bad[] = {"/zk/nj/[", "/zk/missing/*/[a-", "/zk/*/x\\", "/zk/[]a]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zkc_strings *got = (zkc_strings *)&got;
        int rc = zkc_resolve_wildcards(f->c, &bad[i], 1, NULL, &got);
        if (rc != ZKC_EBADPATTERN)
            fail_msg("%s: %s", bad[i], zkc_err_name(rc));
        assert_null(got);
        assert_non_null(strstr(zkc_errmsg(), bad[i]));
    }
    /* Wildcard paths must be absolute and without empty components. */
    const char *badpath[] = {"zk/*", "/zk//*", "/zk/*/"};
    for (size_t i = 0; i < sizeof badpath / sizeof badpath[0]; i++) {
        zkc_strings *got = NULL;
        assert_int_equal(zkc_resolve_wildcards(f->c, &badpath[i], 1, NULL, &got),
                         ZKC_EBADPATH);
    }
}

static void test_resolve_escapes(void **state)
{
    fx *f = *state;
    mk(f->c, "/esc/a*b", NULL, NULL);
    mk(f->c, "/esc/axb", NULL, NULL);
    mk(f->c, "/esc/a?b", NULL, NULL);
    mk(f->c, "/esc/[x]/in", NULL, NULL);
    mk(f->c, "/esc/\xe2\x98\xba", NULL, NULL);

    struct {
        const char *pat;
        const char *want[4];
        size_t n;
    } cases[] = {
        /* Literals come back unchecked, with escapes undone. */
        {"/esc/a\\*b", {"/esc/a*b"}, 1},
        {"/esc/a\\?b", {"/esc/a?b"}, 1},
        {"/esc/nope\\*", {"/esc/nope*"}, 1},
        /* Escaped magic in a wildcard path. */
        {"/esc/a\\*[b]", {"/esc/a*b"}, 1},
        {"/esc/a?b", {"/esc/a*b", "/esc/a?b", "/esc/axb"}, 3},
        {"/esc/a[*?]b", {"/esc/a*b", "/esc/a?b"}, 2},
        {"/esc/\\[x]/*", {"/esc/[x]/in"}, 1},
        {"/esc/*/\\in", {"/esc/[x]/in"}, 1},
        /* One character, three bytes. */
        {"/esc/?", {"/esc/\xe2\x98\xba"}, 1},
        {"/esc/[^a]", {"/esc/\xe2\x98\xba"}, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zkc_strings *got = NULL;
        int rc = zkc_resolve_wildcards(f->c, &cases[i].pat, 1, NULL, &got);
        if (rc != ZKC_OK)
            fail_msg("%s: %s", cases[i].pat, zkc_errmsg());
        assert_strings(got, cases[i].want, cases[i].n);
        zkc_strings_free(got);
    }
}

/* Many matches: exists checks in a bounded window. */
static void test_resolve_window(void **state)
{
    fx *f = *state;
    const int fan[] = {700, 1};
    build_tree(f->c, "/w", fan, 2);
    mk(f->c, "/w/extra", NULL, NULL); /* no n0 under it */
    proxy *p = proxy_new(f->c);
    const char *pats[] = {"/w/*/n0"};
    zkc_strings *got = NULL;
    assert_int_equal(zkc_resolve_wildcards(&p->base, pats, 1, NULL, &got), ZKC_OK);
    assert_int_equal(got->count, 700);
    assert_sorted_unique(got);
    assert_int_equal(p->ops[ZKC_OP_CHILDREN], 1);
    assert_int_equal(p->ops[ZKC_OP_EXISTS], 701);
    assert_true(p->max_inflight <= ZKC_DEFAULT_WINDOW);
    assert_true(p->max_inflight > 1);
    zkc_strings_free(got);

    /* A last wildcard needs no exists checks: the listing shows them. */
    memset(p->ops, 0, sizeof p->ops);
    const char *pats2[] = {"/w/n1*"};
    assert_int_equal(zkc_resolve_wildcards(&p->base, pats2, 1, NULL, &got), ZKC_OK);
    assert_int_equal(got->count, 111); /* n1, n10-n19, n100-n199 */
    assert_int_equal(p->ops[ZKC_OP_EXISTS], 0);
    zkc_strings_free(got);
    zkc_conn_close(&p->base);
}

static void test_resolve_faults(void **state)
{
    fx *f = *state;
    make_cells(f->c);
    const char *pats[] = {"/zk/*/shards/*/actionlog", "/zk/n?/*"};
    for (int how = FAIL_LOSS_BEFORE; how <= FAIL_SUBMIT; how++) {
        for (int at = 1;; at++) {
            proxy *p = proxy_new(f->c);
            p->fail_at = at;
            p->fail_how = how;
            zkc_strings *got = NULL;
            int rc = zkc_resolve_wildcards(&p->base, pats, 2, NULL, &got);
            int used = proxy_submits(p);
            zkc_conn_close(&p->base);
            if (at > used) {
                assert_int_equal(rc, ZKC_OK);
                assert_int_equal(got->count, 4 + 2);
                zkc_strings_free(got);
                break;
            }
            int want = how == FAIL_SUBMIT ? ZKC_ECLOSED : ZKC_ECONNECTIONLOSS;
            if (rc != want)
                fail_msg("how %d at %d: %s", how, at, zkc_err_name(rc));
            assert_null(got);
            assert_non_null(strstr(zkc_errmsg(), "/zk"));
        }
    }

    /* A directory we may not read. */
    acl1 a;
    assert_int_equal(zkc_create(f->c, "/secret", NULL, 0, 0,
                                acl_make(&a, ZKC_PERM_ALL & ~ZKC_PERM_READ, "world", "anyone"),
                                NULL),
                     ZKC_OK);
    const char *pat[] = {"/secret/*"};
    zkc_strings *got = NULL;
    assert_int_equal(zkc_resolve_wildcards(f->c, pat, 1, NULL, &got), ZKC_ENOAUTH);
    assert_non_null(strstr(zkc_errmsg(), "/secret"));
}

/* ---- DeleteRecursive in batches of multi ---- */

/* 10 + 100 + 2500 nodes: three multis of at most 1000, deepest first. */
static const int big_fan[] = {10, 10, 25};
#define BIG_NODES 2610

static void test_delete_recursive_batched(void **state)
{
    fx *f = *state;
    build_tree(f->c, "/bt", big_fan, 3);
    proxy *p = proxy_new_multi(f->c);
    assert_int_equal(zkc_delete_recursive(&p->base, "/bt", -1), ZKC_OK);
    assert_false(node_exists(f->c, "/bt"));
    assert_int_equal(3, p->multis);
    assert_int_equal(BIG_NODES, p->multi_ops);
    assert_int_equal(0, p->multi_failed);
    /* The first try and the last delete of /bt itself, nothing else. */
    assert_int_equal(2, p->ops[ZKC_OP_DELETE]);
    zkc_conn_close(&p->base);

    /* Straight on the fake as well (one zxid per multi). */
    build_tree(f->c, "/bt", big_fan, 3);
    zkc_stat before, after;
    mk(f->c, "/probe1", NULL, NULL);
    assert_int_equal(ZKC_OK, zkc_exists(f->c, "/probe1", NULL, &before, NULL));
    assert_int_equal(zkc_delete_recursive(f->c, "/bt", -1), ZKC_OK);
    mk(f->c, "/probe2", NULL, NULL);
    assert_int_equal(ZKC_OK, zkc_exists(f->c, "/probe2", NULL, &after, NULL));
    assert_true(after.czxid - before.czxid < 20);
}

/* A node in a batch grows a child before the batch gets there: that
 * multi fails, is done again node by node, the node that grew is deleted
 * with its own recursive delete, and rm -r succeeds. */
static void test_delete_recursive_batch_child_grows(void **state)
{
    fx *f = *state;
    zkc_conn *other = NULL;
    assert_int_equal(zkc_fake_open(f->t, &other), ZKC_OK);
    build_tree(f->c, "/bg", big_fan, 3);
    proxy *p = proxy_new_multi(f->c);
    p->grower = other;
    p->mgrow_path = "/bg/n0/n0/n0";
    assert_int_equal(zkc_delete_recursive(&p->base, "/bg", -1), ZKC_OK);
    assert_int_equal(ZKC_OK, p->mgrow_rc);
    assert_true(p->multi_failed >= 1);
    assert_true(p->ops[ZKC_OP_DELETE] > 2); /* node by node for the failed batch */
    assert_false(node_exists(f->c, "/bg"));
    zkc_conn_close(&p->base);
    zkc_conn_close(other);
}

/* A node deleted by someone else meanwhile fails its multi; node by node
 * it is simply gone. */
static void test_delete_recursive_batch_vanished(void **state)
{
    fx *f = *state;
    zkc_conn *other = NULL;
    assert_int_equal(zkc_fake_open(f->t, &other), ZKC_OK);
    build_tree(f->c, "/bv", big_fan, 3);
    proxy *p = proxy_new_multi(f->c);
    p->grower = other;
    p->mvanish_path = "/bv/n0/n0/n3";
    assert_int_equal(zkc_delete_recursive(&p->base, "/bv", -1), ZKC_OK);
    assert_int_equal(ZKC_OK, p->mvanish_rc);
    /* Its batch, and the later batch in flight that held its parent. */
    assert_true(p->multi_failed >= 1);
    assert_false(node_exists(f->c, "/bv"));
    zkc_conn_close(&p->base);
    zkc_conn_close(other);
}

/* A multi lost before or after the server applied it is done again node
 * by node, and rm -r still succeeds. */
static void test_delete_recursive_batch_loss(void **state)
{
    fx *f = *state;
    for (int how = FAIL_LOSS_BEFORE; how <= FAIL_LOSS_AFTER; how++) {
        build_tree(f->c, "/bl", big_fan, 3);
        proxy *p = proxy_new_multi(f->c);
        p->mfail_at = 2;
        p->mfail_how = how;
        assert_int_equal(zkc_delete_recursive(&p->base, "/bl", -1), ZKC_OK);
        assert_true(p->multi_failed >= 1);
        assert_false(node_exists(f->c, "/bl"));
        zkc_conn_close(&p->base);
    }
}

/* ---- progress of a recursive delete ---- */

/* What a progress callback saw: the last counts, and whether anything
 * broke the promises (counts that went down, more deleted than listed,
 * listing_done unset again, two calls at once). */
typedef struct seen_progress {
    int calls;
    int running;
    bool bad;
    zkc_delete_progress last;
} seen_progress;

static void on_progress(const zkc_delete_progress *pr, void *ud)
{
    seen_progress *s = ud;
    if (__atomic_fetch_add(&s->running, 1, __ATOMIC_SEQ_CST) != 0)
        s->bad = true;
    if (s->calls > 0 &&
        (pr->listed < s->last.listed || pr->deleted < s->last.deleted ||
         (s->last.listing_done && !pr->listing_done)))
        s->bad = true;
    if (pr->deleted > pr->listed)
        s->bad = true;
    s->last = *pr;
    s->calls++;
    __atomic_fetch_sub(&s->running, 1, __ATOMIC_SEQ_CST);
}

static void test_delete_recursive_progress(void **state)
{
    fx *f = *state;
    /* In batches of multi, and level by level (no multi). */
    for (int multi = 1; multi >= 0; multi--) {
        build_tree(f->c, "/pg", big_fan, 3);
        proxy *p = multi ? proxy_new_multi(f->c) : proxy_new(f->c);
        seen_progress s = {0};
        assert_int_equal(zkc_delete_recursive_progress(&p->base, "/pg", -1, on_progress, &s),
                         ZKC_OK);
        assert_false(node_exists(f->c, "/pg"));
        assert_false(s.bad);
        assert_true(s.calls > 2);
        assert_int_equal(s.last.listed, BIG_NODES + 1);
        assert_int_equal(s.last.deleted, BIG_NODES + 1);
        assert_true(s.last.listing_done);
        zkc_conn_close(&p->base);
    }

    /* A leaf: one node listed and deleted. */
    mk(f->c, "/pgleaf", NULL, NULL);
    seen_progress s = {0};
    assert_int_equal(zkc_delete_recursive_progress(f->c, "/pgleaf", -1, on_progress, &s), ZKC_OK);
    assert_false(s.bad);
    assert_int_equal(s.last.listed, 1);
    assert_int_equal(s.last.deleted, 1);
    assert_true(s.last.listing_done);

    /* Missing: an error, no call; a bad path likewise. */
    memset(&s, 0, sizeof s);
    assert_int_equal(zkc_delete_recursive_progress(f->c, "/pgleaf", -1, on_progress, &s),
                     ZKC_ENONODE);
    assert_int_equal(zkc_delete_recursive_progress(f->c, "pg", -1, on_progress, &s),
                     ZKC_EBADPATH);
    assert_int_equal(s.calls, 0);
}

/* A node another session deletes first is listed but not counted as
 * deleted by us. */
static void test_delete_recursive_progress_vanished(void **state)
{
    fx *f = *state;
    zkc_conn *other = NULL;
    assert_int_equal(zkc_fake_open(f->t, &other), ZKC_OK);
    build_tree(f->c, "/pv", big_fan, 3);
    proxy *p = proxy_new_multi(f->c);
    p->grower = other;
    p->mvanish_path = "/pv/n0/n0/n3";
    seen_progress s = {0};
    assert_int_equal(zkc_delete_recursive_progress(&p->base, "/pv", -1, on_progress, &s),
                     ZKC_OK);
    assert_int_equal(ZKC_OK, p->mvanish_rc);
    assert_false(node_exists(f->c, "/pv"));
    assert_false(s.bad);
    assert_int_equal(s.last.listed, BIG_NODES + 1);
    assert_int_equal(s.last.deleted, BIG_NODES);
    zkc_conn_close(&p->base);
    zkc_conn_close(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_recursive_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_recursive_flags_not_inherited, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_create_recursive_dir_acl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_recursive_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_recursive_odd_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_recursive_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_or_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_without_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_restores_acl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_locks_out_creators, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_recreated_underneath, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_child_grows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_deleted_meanwhile, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_children_recursive_small, setup, teardown),
        cmocka_unit_test_setup_teardown(test_children_recursive_large_small_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_children_recursive_deleted_meanwhile, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_children_recursive_concurrent_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_children_recursive_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_children_recursive_suspended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_cells, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_order_literal_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_bad_patterns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_batched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_progress_vanished, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_batch_child_grows, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_batch_vanished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_recursive_batch_loss, setup, teardown),
    };
    return cmocka_run_group_tests_name("zkutil", tests, NULL, NULL);
}
