/*
 * recipe_helpers.h: what the recipe tests share.
 *
 * A proxy connection over a fake session that counts the operations it
 * forwards (so tests can prove that a release wakes one waiter, not a
 * herd) and, after its session expires, opens a new session on the same
 * tree on the next operation, as the cell router's connections do (so
 * tests can prove that a pid node comes back after an expiry).
 *
 * The fixture: three sessions on one fake tree (fixture_setup, fixture_teardown).
 *
 * Include after cmocka.h.  Everything here is static inline.
 */
#ifndef ZKC_TEST_RECIPE_HELPERS_H
#define ZKC_TEST_RECIPE_HELPERS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zkcell/sys/conn_impl.h>
#include <zkcell/zkcell.h>

/* Three sessions on one fake tree: two contenders and an observer. */
typedef struct fixture {
    zkc_fake_tree *tree;
    zkc_conn *a, *b, *admin;
} fixture;

static inline int fixture_setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->tree = zkc_fake_tree_new();
    assert_non_null(f->tree);
    assert_int_equal(ZKC_OK, zkc_fake_open(f->tree, &f->a));
    assert_int_equal(ZKC_OK, zkc_fake_open(f->tree, &f->b));
    assert_int_equal(ZKC_OK, zkc_fake_open(f->tree, &f->admin));
    *state = f;
    return 0;
}

static inline int fixture_teardown(void **state)
{
    fixture *f = *state;
    zkc_conn_close(f->a);
    zkc_conn_close(f->b);
    zkc_conn_close(f->admin);
    zkc_fake_tree_free(f->tree);
    free(f);
    return 0;
}

/* Wait up to ms for expr to hold (a generous bound, not a timing test). */
#define WAIT_FOR(expr, ms)                                                     \
    do {                                                                       \
        int64_t wait_for_deadline_ = zkc_impl_now_ms() + (ms);                     \
        while (!(expr) && zkc_impl_now_ms() < wait_for_deadline_)                  \
            usleep(1000);                                                      \
    } while (0)

static inline size_t count_kids(zkc_conn *c, const char *dir)
{
    zkc_strings *k = NULL;
    if (zkc_children(c, dir, &k, NULL, NULL) != ZKC_OK)
        return (size_t)-1;
    size_t n = k->count;
    zkc_strings_free(k);
    return n;
}

static inline bool node_exists(zkc_conn *c, const char *path, zkc_stat *st)
{
    bool ex = false;
    return zkc_exists(c, path, &ex, st, NULL) == ZKC_OK && ex;
}

/* ---- the proxy ---- */

#define PROXY_MAX_SESSIONS 16

typedef struct proxy_conn {
    zkc_conn base;
    zkc_fake_tree *tree;
    pthread_mutex_t mu;
    zkc_conn *inner;
    zkc_conn *old[PROXY_MAX_SESSIONS];
    size_t n_old;
    bool dead;
    atomic_int ops[ZKC_OP_SET_ACL + 1];
    atomic_int sessions;
} proxy_conn;

typedef struct proxy_call {
    proxy_conn *p;
    zkc_done_fn done;
    void *ud;
} proxy_call;

static inline void proxy_on_state(zkc_conn *c, zkc_state s, void *ud)
{
    proxy_conn *p = ud;
    pthread_mutex_lock(&p->mu);
    bool current = c == p->inner;
    if (current && s == ZKC_STATE_EXPIRED)
        p->dead = true;
    pthread_mutex_unlock(&p->mu);
    if (current)
        zkc_impl_conn_set_state(&p->base, s);
}

static inline void proxy_done(const zkc_result *res, void *ud)
{
    proxy_call *pc = ud;
    if (res->rc == ZKC_ESESSIONEXPIRED) {
        pthread_mutex_lock(&pc->p->mu);
        pc->p->dead = true;
        pthread_mutex_unlock(&pc->p->mu);
    }
    pc->done(res, pc->ud);
    free(pc);
}

static inline int proxy_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *ud)
{
    proxy_conn *p = (proxy_conn *)c;
    bool redialed = false;
    pthread_mutex_lock(&p->mu);
    if (p->dead && p->n_old + 1 < PROXY_MAX_SESSIONS) {
        zkc_conn *n = NULL;
        if (zkc_fake_open(p->tree, &n) == ZKC_OK) {
            zkc_impl_conn_add_state_listener(n, proxy_on_state, p);
            p->old[p->n_old++] = p->inner;
            p->inner = n;
            p->dead = false;
            redialed = true;
            atomic_fetch_add(&p->sessions, 1);
        }
    }
    zkc_conn *inner = p->inner;
    pthread_mutex_unlock(&p->mu);
    if (redialed)
        zkc_impl_conn_set_state(&p->base, ZKC_STATE_CONNECTED);
    atomic_fetch_add(&p->ops[req->op], 1);
    proxy_call *pc = malloc(sizeof *pc);
    if (pc == NULL)
        return ZKC_ENOMEM;
    pc->p = p;
    pc->done = done;
    pc->ud = ud;
    int rc = zkc_submit(inner, req, proxy_done, pc);
    if (rc != ZKC_OK)
        free(pc);
    return rc;
}

static inline void proxy_close(zkc_conn *c)
{
    proxy_conn *p = (proxy_conn *)c;
    pthread_mutex_lock(&p->mu);
    p->old[p->n_old++] = p->inner;
    p->inner = NULL;
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->n_old; i++) {
        zkc_impl_conn_remove_state_listener(p->old[i], proxy_on_state, p);
        zkc_conn_close(p->old[i]);
    }
    pthread_mutex_destroy(&p->mu);
    zkc_impl_conn_fini(&p->base);
    free(p);
}

static inline int64_t proxy_session_id(zkc_conn *c)
{
    proxy_conn *p = (proxy_conn *)c;
    pthread_mutex_lock(&p->mu);
    zkc_conn *inner = p->inner;
    pthread_mutex_unlock(&p->mu);
    return inner != NULL ? zkc_conn_session_id(inner) : 0;
}

static const struct zkc_conn_ops proxy_ops = {
    .version = 1,
    .name = "proxy",
    .submit = proxy_submit,
    .close = proxy_close,
    .session_id = proxy_session_id,
};

static inline zkc_conn *proxy_open(zkc_fake_tree *t)
{
    proxy_conn *p = calloc(1, sizeof *p);
    if (p == NULL || zkc_impl_conn_init(&p->base, &proxy_ops, "proxy(fake)") != ZKC_OK) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    p->tree = t;
    if (zkc_fake_open(t, &p->inner) != ZKC_OK) {
        zkc_impl_conn_fini(&p->base);
        free(p);
        return NULL;
    }
    atomic_init(&p->sessions, 1);
    zkc_impl_conn_add_state_listener(p->inner, proxy_on_state, p);
    zkc_impl_conn_set_state(&p->base, ZKC_STATE_CONNECTED);
    return &p->base;
}

/* The fake session behind the proxy now (for fault injection). */
static inline zkc_conn *proxy_inner(zkc_conn *c)
{
    proxy_conn *p = (proxy_conn *)c;
    pthread_mutex_lock(&p->mu);
    zkc_conn *inner = p->inner;
    pthread_mutex_unlock(&p->mu);
    return inner;
}

static inline int proxy_ops_count(zkc_conn *c, zkc_op op)
{
    return atomic_load(&((proxy_conn *)c)->ops[op]);
}

static inline int proxy_sessions(zkc_conn *c)
{
    return atomic_load(&((proxy_conn *)c)->sessions);
}

#endif
