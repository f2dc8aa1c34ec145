/*
 * The mutex (lock.c) on the fake, with faults injected: protected
 * creates survive lost replies, foreign children do not break the order,
 * a release wakes one waiter, a wait that ends early leaves nothing, and
 * a holder hears that its lock is in doubt or lost before anyone else can
 * take it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <poll.h>
#include <stdio.h>

#include "recipe_helpers.h"

#define DIR "/zk/test/locks/l1"

static atomic_int seqno; /* orders events across threads */

/* A contender on its own thread. */
typedef struct contender {
    zkc_lock *l;
    int timeout_ms;
    zkc_cancel *cancel;
    int rc;
    int order;
    atomic_int done;
    pthread_t thr;
} contender;

static void *contend_main(void *arg)
{
    contender *c = arg;
    c->rc = zkc_lock_acquire(c->l, c->timeout_ms, c->cancel);
    c->order = atomic_fetch_add(&seqno, 1) + 1;
    atomic_store(&c->done, 1);
    return NULL;
}

static void contend_start(contender *c, zkc_lock *l, int timeout_ms, zkc_cancel *cancel)
{
    memset(c, 0, sizeof *c);
    c->l = l;
    c->timeout_ms = timeout_ms;
    c->cancel = cancel;
    atomic_init(&c->done, 0);
    assert_int_equal(0, pthread_create(&c->thr, NULL, contend_main, c));
}

static void contend_join(contender *c)
{
    pthread_join(c->thr, NULL);
}

/* What a lock's callback saw. */
typedef struct seen {
    atomic_int count;
    atomic_int last;
    atomic_int doubt_order;
    atomic_int lost_order;
} seen;

static void on_state(zkc_lock *l, zkc_lock_state s, void *ud)
{
    (void)l;
    seen *sn = ud;
    atomic_fetch_add(&sn->count, 1);
    atomic_store(&sn->last, (int)s);
    int order = atomic_fetch_add(&seqno, 1) + 1;
    if (s == ZKC_LOCK_IN_DOUBT && atomic_load(&sn->doubt_order) == 0)
        atomic_store(&sn->doubt_order, order);
    if (s == ZKC_LOCK_LOST && atomic_load(&sn->lost_order) == 0)
        atomic_store(&sn->lost_order, order);
}

static bool name_is_protected(const char *name)
{
    /* _c_ + 32 hex + -lock- + 10 digits */
    if (strlen(name) != 3 + 32 + 6 + 10 || strncmp(name, "_c_", 3) != 0)
        return false;
    for (int i = 3; i < 35; i++)
        if (!strchr("0123456789abcdef", name[i]))
            return false;
    return strncmp(name + 35, "-lock-", 6) == 0;
}

/* ---- tests ---- */

static void test_acquire_release(void **state)
{
    fixture *f = *state;
    zkc_lock_opts o = ZKC_LOCK_OPTS_INIT;
    o.extra_json = "{\"action\": \"reparent \\\"x\\\"\\n\", \"hostname\": \"forged\"}";
    zkc_lock *l = NULL;
    assert_int_equal(ZKC_OK, zkc_lock_new(f->a, DIR, &o, &l));
    seen sn = {0};
    zkc_lock_set_callback(l, on_state, &sn);
    assert_int_equal(ZKC_LOCK_UNLOCKED, zkc_lock_get_state(l));
    assert_int_equal(0, zkc_lock_fencing_token(l));
    assert_null(zkc_lock_node_path(l));

    assert_int_equal(ZKC_OK, zkc_lock_acquire(l, -1, NULL)); /* creates the folder */
    assert_int_equal(ZKC_LOCK_HELD, zkc_lock_get_state(l));
    assert_int_equal(ZKC_LOCK_HELD, atomic_load(&sn.last));
    struct pollfd p = {zkc_lock_state_fd(l), POLLIN, 0};
    assert_int_equal(1, poll(&p, 1, 0));
    zkc_lock_state_ack(l);
    assert_int_equal(0, poll(&p, 1, 0));

    /* One protected, ephemeral node, whose czxid is the fencing token. */
    zkc_strings *kids = NULL;
    assert_int_equal(ZKC_OK, zkc_children(f->admin, DIR, &kids, NULL, NULL));
    assert_int_equal(1, kids->count);
    assert_true(name_is_protected(kids->v[0]));
    char path[512];
    snprintf(path, sizeof path, DIR "/%s", kids->v[0]);
    zkc_strings_free(kids);
    assert_string_equal(path, zkc_lock_node_path(l));
    char *data = NULL;
    size_t len = 0;
    zkc_stat st;
    assert_int_equal(ZKC_OK, zkc_get(f->admin, path, &data, &len, &st, NULL));
    assert_int_equal(st.czxid, zkc_lock_fencing_token(l));
    assert_int_equal(zkc_conn_session_id(f->a), st.ephemeral_owner);

    /* Contents: properly escaped JSON, our identity, the caller's field. */
    json_error_t jerr;
    json_t *j = json_loadb(data, len, 0, &jerr);
    assert_non_null(j);
    char host[256];
    gethostname(host, sizeof host);
    host[255] = '\0';
    assert_string_equal(host, json_string_value(json_object_get(j, "hostname")));
    assert_int_equal(getpid(), json_integer_value(json_object_get(j, "pid")));
    assert_string_equal("reparent \"x\"\n", json_string_value(json_object_get(j, "action")));
    json_decref(j);
    zkc_free(data);

    /* The lock folder gets directory permissions, the node file ones. */
    zkc_acl_list *acl = NULL;
    assert_int_equal(ZKC_OK, zkc_get_acl(f->admin, path, &acl, NULL));
    assert_int_equal(ZKC_PERM_FILE, acl->v[0].perms);
    zkc_acl_list_free(acl);

    /* Not reentrant. */
    assert_int_equal(ZKC_EINVALIDSTATE, zkc_lock_acquire(l, 0, NULL));

    assert_int_equal(ZKC_OK, zkc_lock_release(l));
    assert_int_equal(ZKC_LOCK_UNLOCKED, zkc_lock_get_state(l));
    assert_int_equal(0, zkc_lock_fencing_token(l));
    assert_int_equal(0, count_kids(f->admin, DIR));
    assert_int_equal(ZKC_OK, zkc_lock_release(l)); /* releasing twice is fine */

    /* Again, with a newer token. */
    assert_int_equal(ZKC_OK, zkc_lock_acquire(l, 0, NULL));
    assert_true(zkc_lock_fencing_token(l) > st.czxid);
    zkc_lock_free(l); /* releases */
    assert_int_equal(0, count_kids(f->admin, DIR));
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    zkc_lock *l = NULL;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_lock_new(NULL, DIR, NULL, &l));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_lock_new(f->a, NULL, NULL, &l));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_lock_new(f->a, DIR, NULL, NULL));
    assert_int_equal(ZKC_EBADPATH, zkc_lock_new(f->a, "relative", NULL, &l));
    assert_int_equal(ZKC_EBADPATH, zkc_lock_new(f->a, "/", NULL, &l));
    assert_int_equal(ZKC_EBADPATH, zkc_lock_new(f->a, "/a/", NULL, &l));
    zkc_lock_opts o = ZKC_LOCK_OPTS_INIT;
    o.extra_json = "[1, 2]";
    assert_int_equal(ZKC_EBADDATA, zkc_lock_new(f->a, DIR, &o, &l));
    o.extra_json = "{\"unterminated";
    assert_int_equal(ZKC_EBADDATA, zkc_lock_new(f->a, DIR, &o, &l));
    o.extra_json = NULL;
    o.version = 2;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_lock_new(f->a, DIR, &o, &l));
    assert_null(l);
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_lock_acquire(NULL, 0, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_lock_release(NULL));
    assert_int_equal(ZKC_LOCK_UNLOCKED, zkc_lock_get_state(NULL));
    assert_int_equal(-1, zkc_lock_state_fd(NULL));
    zkc_lock_free(NULL);
    assert_string_equal("in doubt", zkc_lock_state_name(ZKC_LOCK_IN_DOUBT));
}

/* A create whose reply is lost: one node, acquired once. */
static void test_lost_create_reply(void **state)
{
    fixture *f = *state;
    zkc_lock *l = NULL;
    assert_int_equal(ZKC_OK, zkc_lock_new(f->a, DIR, NULL, &l));
    seen sn = {0};
    zkc_lock_set_callback(l, on_state, &sn);
    /* The folder first, so that the next operation is the lock's create. */
    assert_int_equal(ZKC_OK, zkc_create_recursive(f->admin, DIR, NULL, 0, 0, NULL, NULL));

    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_LOSS_AFTER, 1));
    assert_int_equal(ZKC_OK, zkc_lock_acquire(l, 5000, NULL));
    assert_int_equal(ZKC_LOCK_HELD, zkc_lock_get_state(l));
    assert_int_equal(1, count_kids(f->admin, DIR));
    assert_int_equal(1, atomic_load(&sn.count)); /* HELD, once */
    assert_int_equal(ZKC_OK, zkc_lock_release(l));
    assert_int_equal(0, count_kids(f->admin, DIR));

    /* Lost before it was applied: created once, after looking. */
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_LOSS_BEFORE, 1));
    assert_int_equal(ZKC_OK, zkc_lock_acquire(l, 5000, NULL));
    assert_int_equal(1, count_kids(f->admin, DIR));
    assert_int_equal(ZKC_OK, zkc_lock_release(l));

    /* Every reply lost for a while: create, the search, the listing... */
    for (unsigned n = 2; n <= 6; n++) {
        assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_LOSS_AFTER, n));
        assert_int_equal(ZKC_OK, zkc_lock_acquire(l, 10000, NULL));
        assert_int_equal(ZKC_LOCK_HELD, zkc_lock_get_state(l));
        assert_int_equal(1, count_kids(f->admin, DIR));
        assert_int_equal(ZKC_OK, zkc_lock_release(l));
        assert_int_equal(0, count_kids(f->admin, DIR));
    }

    /* A lost reply on a try-lock: nothing left behind. */
    zkc_lock *other = NULL;
    assert_int_equal(ZKC_OK, zkc_lock_new(f->b, DIR, NULL, &other));
    assert_int_equal(ZKC_OK, zkc_lock_acquire(other, 0, NULL));
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_LOSS_AFTER, 1));
    assert_int_equal(ZKC_ETIMEDOUT, zkc_lock_acquire(l, 0, NULL));
    assert_int_equal(1, count_kids(f->admin, DIR));
    zkc_lock_free(other);
    zkc_lock_free(l);
    assert_int_equal(0, count_kids(f->admin, DIR));
}

/* A duplicate with our guid (a create applied twice, which a reply lost
 * at the wrong moment can cause on a real ensemble) is deleted by its
 * owner the next time it lists the folder. */
static void test_duplicate_deleted(void **state)
{
    fixture *f = *state;
    zkc_conn *pb = proxy_open(f->tree);
    zkc_lock *la = NULL, *lb = NULL;
    assert_int_equal(ZKC_OK, zkc_lock_new(f->a, DIR, NULL, &la));
    assert_int_equal(ZKC_OK, zkc_lock_new(pb, DIR, NULL, &lb));
    assert_int_equal(ZKC_OK, zkc_lock_acquire(la, 0, NULL));
    contender c;
    contend_start(&c, lb, 10000, NULL);
    /* Once it watches its predecessor, it has listed the folder. */
    WAIT_FOR(proxy_ops_count(pb, ZKC_OP_EXISTS) == 1, 5000);
    assert_int_equal(2, count_kids(f->admin, DIR));
    zkc_strings *kids = NULL;
    assert_int_equal(ZKC_OK, zkc_children(f->admin, DIR, &kids, NULL, NULL));
    const char *a_name = zkc_path_base(zkc_lock_node_path(la));
    const char *b_name = strcmp(kids->v[0], a_name) == 0 ? kids->v[1] : kids->v[0];
    char forged[512];
    snprintf(forged, sizeof forged, DIR "/%.*s", 3 + 32 + 6, b_name);
    zkc_strings_free(kids);
    char *dup = NULL;
    assert_int_equal(ZKC_OK, zkc_create(f->admin, forged, NULL, 0, ZKC_SEQUENCE, NULL, &dup));
    assert_int_equal(3, count_kids(f->admin, DIR));
    assert_int_equal(ZKC_OK, zkc_lock_release(la));
    contend_join(&c);
    assert_int_equal(ZKC_OK, c.rc);
    assert_false(node_exists(f->admin, dup, NULL));
    assert_int_equal(1, count_kids(f->admin, DIR));
    zkc_free(dup);
    zkc_lock_free(lb);
    zkc_lock_free(la);
    zkc_conn_close(pb);
    assert_int_equal(0, count_kids(f->admin, DIR));
}

/* Foreign children of the folder are ignored; seed-style lock nodes are
 * not. */
static void test_foreign_children(void **state)
{
    fixture *f = *state;
    assert_int_equal(ZKC_OK, zkc_create_recursive(f->admin, DIR "/0-first", "x", 1, 0, NULL, NULL));
    assert_int_equal(ZKC_OK, zkc_create(f->admin, DIR "/ABC", NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_OK, zkc_create(f->admin, DIR "/zzz", NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_OK, zkc_create(f->admin, DIR "/other-", NULL, 0, ZKC_SEQUENCE, NULL, NULL));
    assert_int_equal(ZKC_OK, zkc_create(f->admin, DIR "/0000000000", NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_OK, zkc_create(f->admin, DIR "/lockless-9", NULL, 0, 0, NULL, NULL));

    zkc_lock *la = NULL, *lb = NULL;
    assert_int_equal(ZKC_OK, zkc_lock_new(f->a, DIR, NULL, &la));
    assert_int_equal(ZKC_OK, zkc_lock_new(f->b, DIR, NULL, &lb));
    assert_int_equal(ZKC_OK, zkc_lock_acquire(la, 0, NULL));
    assert_int_equal(ZKC_ETIMEDOUT, zkc_lock_acquire(lb, 0, NULL));
    contender c;
    contend_start(&c, lb, 10000, NULL);
    WAIT_FOR(count_kids(f->admin, DIR) == 8, 5000);
    assert_int_equal(0, atomic_load(&c.done));
    assert_int_equal(ZKC_OK, zkc_lock_release(la));
    contend_join(&c);
    assert_int_equal(ZKC_OK, c.rc);
    assert_int_equal(ZKC_OK, zkc_lock_release(lb));

    /* A lock node of the original kind ("lock-" + sequence) is honoured. */
    char *seed = NULL;
    assert_int_equal(ZKC_OK, zkc_create(f->admin, DIR "/lock-", NULL, 0, ZKC_SEQUENCE, NULL, &seed));
    assert_int_equal(ZKC_ETIMEDOUT, zkc_lock_acquire(la, 0, NULL));
    assert_int_equal(ZKC_OK, zkc_delete(f->admin, seed, -1));
    zkc_free(seed);
    assert_int_equal(ZKC_OK, zkc_lock_acquire(la, 0, NULL));
    zkc_lock_free(la);
    zkc_lock_free(lb);
    assert_int_equal(6, count_kids(f->admin, DIR)); /* only the foreign ones */
}

/* Try-lock and timeouts leave nothing; an interrupt is never lost. */
static void test_try_timeout_interrupt(void **state)
{
    fixture *f = *state;
    zkc_lock *la = NULL, *lb = NULL;
    assert_int_equal(ZKC_OK, zkc_lock_new(f->a, DIR, NULL, &la));
    assert_int_equal(ZKC_OK, zkc_lock_new(f->b, DIR, NULL, &lb));
    assert_int_equal(ZKC_OK, zkc_lock_acquire(la, -1, NULL));

    assert_int_equal(ZKC_ETIMEDOUT, zkc_lock_acquire(lb, 0, NULL));
    assert_non_null(strstr(zkc_errmsg(), DIR));
    assert_int_equal(1, count_kids(f->admin, DIR));
    assert_int_equal(ZKC_LOCK_UNLOCKED, zkc_lock_get_state(lb));

    assert_int_equal(ZKC_ETIMEDOUT, zkc_lock_acquire(lb, 50, NULL));
    assert_int_equal(1, count_kids(f->admin, DIR));

    /* Triggered before the call: interrupted, nothing created. */
    zkc_cancel *cancel = zkc_cancel_new();
    zkc_cancel_trigger(cancel);
    assert_int_equal(ZKC_EINTERRUPTED, zkc_lock_acquire(lb, -1, cancel));
    assert_int_equal(1, count_kids(f->admin, DIR));
    zkc_cancel_free(cancel);

    /* Triggered while waiting. */
    cancel = zkc_cancel_new();
    contender c;
    contend_start(&c, lb, -1, cancel);
    WAIT_FOR(count_kids(f->admin, DIR) == 2, 5000);
    assert_int_equal(2, count_kids(f->admin, DIR));
    assert_int_equal(0, atomic_load(&c.done));
    zkc_cancel_trigger(cancel);
    contend_join(&c);
    assert_int_equal(ZKC_EINTERRUPTED, c.rc);
    assert_int_equal(1, count_kids(f->admin, DIR));
    zkc_cancel_free(cancel);

    /* The holder was not disturbed. */
    assert_int_equal(ZKC_LOCK_HELD, zkc_lock_get_state(la));
    zkc_lock_free(la);
    assert_int_equal(ZKC_OK, zkc_lock_acquire(lb, 0, NULL));
    zkc_lock_free(lb);
    assert_int_equal(0, count_kids(f->admin, DIR));
}

/* Each release wakes exactly one waiter, in queue order. */
#define WAITERS 6
static void test_release_wakes_one(void **state)
{
    fixture *f = *state;
    zkc_conn *pc[WAITERS];
    zkc_lock *lw[WAITERS];
    contender c[WAITERS];
    zkc_lock *la = NULL;
    assert_int_equal(ZKC_OK, zkc_lock_new(f->a, DIR, NULL, &la));
    assert_int_equal(ZKC_OK, zkc_lock_acquire(la, -1, NULL));
    for (int i = 0; i < WAITERS; i++) {
        pc[i] = proxy_open(f->tree);
        assert_non_null(pc[i]);
        assert_int_equal(ZKC_OK, zkc_lock_new(pc[i], DIR, NULL, &lw[i]));
        contend_start(&c[i], lw[i], 20000, NULL);
        WAIT_FOR(count_kids(f->admin, DIR) == (size_t)i + 2, 5000);
        assert_int_equal(i + 2, count_kids(f->admin, DIR));
    }
    /* Everyone is waiting on one watch. */
    for (int i = 0; i < WAITERS; i++) {
        WAIT_FOR(proxy_ops_count(pc[i], ZKC_OP_EXISTS) >= 1, 5000);
        assert_int_equal(1, proxy_ops_count(pc[i], ZKC_OP_EXISTS));
        assert_int_equal(0, atomic_load(&c[i].done));
    }
    int lists[WAITERS];
    for (int i = 0; i < WAITERS; i++)
        lists[i] = proxy_ops_count(pc[i], ZKC_OP_CHILDREN);

    assert_int_equal(ZKC_OK, zkc_lock_release(la));
    for (int i = 0; i < WAITERS; i++) {
        WAIT_FOR(atomic_load(&c[i].done), 10000);
        contend_join(&c[i]);
        assert_int_equal(ZKC_OK, c[i].rc);
        assert_int_equal(ZKC_LOCK_HELD, zkc_lock_get_state(lw[i]));
        /* Nobody else looked.  No sleep to give a herd time: one read on
         * each other waiter's connection completes after any event that
         * release fired for it, so a wrong wake-up is under way; a
         * waiter's thread slower than ours could still hide one, never
         * show one that is not there (the counts below stay exact). */
        for (int k = i + 1; k < WAITERS; k++)
            assert_int_equal(ZKC_OK, zkc_exists(pc[k], "/", NULL, NULL, NULL));
        for (int k = i + 1; k < WAITERS; k++) {
            assert_int_equal(0, atomic_load(&c[k].done));
            assert_int_equal(lists[k], proxy_ops_count(pc[k], ZKC_OP_CHILDREN));
        }
        /* The one woken listed once. */
        assert_int_equal(lists[i] + 1, proxy_ops_count(pc[i], ZKC_OP_CHILDREN));
        assert_int_equal(ZKC_OK, zkc_lock_release(lw[i]));
    }
    for (int i = 0; i < WAITERS; i++) {
        zkc_lock_free(lw[i]);
        zkc_conn_close(pc[i]);
    }
    zkc_lock_free(la);
    assert_int_equal(0, count_kids(f->admin, DIR));
}

/* Suspension: in doubt at once; held again after a reconnect if the node
 * is still ours; then expiry: lost, before the waiter gets it. */
static void test_suspend_then_expire(void **state)
{
    fixture *f = *state;
    zkc_lock *la = NULL, *lb = NULL;
    assert_int_equal(ZKC_OK, zkc_lock_new(f->a, DIR, NULL, &la));
    assert_int_equal(ZKC_OK, zkc_lock_new(f->b, DIR, NULL, &lb));
    seen sn = {0};
    zkc_lock_set_callback(la, on_state, &sn);
    assert_int_equal(ZKC_OK, zkc_lock_acquire(la, -1, NULL));
    int64_t token = zkc_lock_fencing_token(la);
    contender c;
    contend_start(&c, lb, 20000, NULL);
    WAIT_FOR(count_kids(f->admin, DIR) == 2, 5000);

    /* The injection returns once the session has seen SUSPENDED. */
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_SUSPEND, 1));
    assert_int_equal(ZKC_LOCK_IN_DOUBT, zkc_lock_get_state(la));
    assert_int_equal(ZKC_LOCK_IN_DOUBT, atomic_load(&sn.last));
    assert_int_equal(token, zkc_lock_fencing_token(la));
    struct pollfd p = {zkc_lock_state_fd(la), POLLIN, 0};
    assert_int_equal(1, poll(&p, 1, 0));
    zkc_lock_state_ack(la);

    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_SUSPEND, 0));
    WAIT_FOR(zkc_lock_get_state(la) == ZKC_LOCK_HELD, 5000);
    assert_int_equal(ZKC_LOCK_HELD, zkc_lock_get_state(la));
    assert_int_equal(token, zkc_lock_fencing_token(la));
    assert_int_equal(0, atomic_load(&c.done));

    /* Suspended again, and the session expires meanwhile. */
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_SUSPEND, 1));
    assert_int_equal(ZKC_LOCK_IN_DOUBT, zkc_lock_get_state(la));
    int doubt = atomic_load(&sn.doubt_order);
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_EXPIRE, 0));
    assert_int_equal(ZKC_LOCK_LOST, zkc_lock_get_state(la));
    assert_int_equal(0, zkc_lock_fencing_token(la));
    contend_join(&c);
    assert_int_equal(ZKC_OK, c.rc);
    assert_true(doubt > 0 && doubt < c.order);
    assert_true(atomic_load(&sn.lost_order) < c.order);

    /* A lost lock releases quietly; the handle can be freed. */
    assert_int_equal(ZKC_OK, zkc_lock_release(la));
    assert_int_equal(ZKC_LOCK_UNLOCKED, zkc_lock_get_state(la));
    zkc_lock_free(la);
    zkc_lock_free(lb);
    assert_int_equal(0, count_kids(f->admin, DIR));
}

/* A direct expiry (no suspension first) still tells the holder before the
 * waiter holds.  The waiter's replies are slowed so that the order does
 * not depend on thread scheduling: the fake expires the session by
 * queueing EXPIRED for it and deleting its ephemerals in one step. */
static void test_expire_notifies_first(void **state)
{
    fixture *f = *state;
    zkc_lock *la = NULL, *lb = NULL;
    assert_int_equal(ZKC_OK, zkc_lock_new(f->a, DIR, NULL, &la));
    assert_int_equal(ZKC_OK, zkc_lock_new(f->b, DIR, NULL, &lb));
    seen sn = {0};
    zkc_lock_set_callback(la, on_state, &sn);
    assert_int_equal(ZKC_OK, zkc_lock_acquire(la, -1, NULL));
    contender c;
    contend_start(&c, lb, 20000, NULL);
    WAIT_FOR(count_kids(f->admin, DIR) == 2, 5000);
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->b, ZKC_FAKE_DELAY, 100));
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_EXPIRE, 0));
    assert_int_equal(ZKC_LOCK_LOST, zkc_lock_get_state(la));
    contend_join(&c);
    assert_int_equal(ZKC_OK, c.rc);
    assert_true(atomic_load(&sn.lost_order) > 0);
    assert_true(atomic_load(&sn.lost_order) < c.order);
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->b, ZKC_FAKE_DELAY, 0));

    /* On an expired session: the error, and nothing created. */
    assert_int_equal(ZKC_ESESSIONEXPIRED, zkc_lock_acquire(la, 0, NULL));
    assert_int_equal(1, count_kids(f->admin, DIR));
    zkc_lock_free(la);
    zkc_lock_free(lb);
}

/* Our node deleted while we were away: lost on reconnect. */
static void test_node_gone_on_reconnect(void **state)
{
    fixture *f = *state;
    zkc_lock *la = NULL;
    assert_int_equal(ZKC_OK, zkc_lock_new(f->a, DIR, NULL, &la));
    seen sn = {0};
    zkc_lock_set_callback(la, on_state, &sn);
    assert_int_equal(ZKC_OK, zkc_lock_acquire(la, -1, NULL));
    char node[512];
    snprintf(node, sizeof node, "%s", zkc_lock_node_path(la));
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_SUSPEND, 1));
    assert_int_equal(ZKC_OK, zkc_delete(f->admin, node, -1));
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_SUSPEND, 0));
    WAIT_FOR(zkc_lock_get_state(la) == ZKC_LOCK_LOST, 5000);
    assert_int_equal(ZKC_LOCK_LOST, zkc_lock_get_state(la));
    /* A lost handle acquires again. */
    assert_int_equal(ZKC_OK, zkc_lock_acquire(la, 0, NULL));
    assert_int_equal(1, count_kids(f->admin, DIR));
    zkc_lock_free(la);
    assert_int_equal(0, count_kids(f->admin, DIR));
}

/* A waiter that gives up while the connection is down leaves its node to
 * the handle, which deletes it once the connection is back. */
static void test_orphan_swept_on_reconnect(void **state)
{
    fixture *f = *state;
    zkc_lock *la = NULL, *lb = NULL;
    assert_int_equal(ZKC_OK, zkc_lock_new(f->a, DIR, NULL, &la));
    zkc_lock_opts o = ZKC_LOCK_OPTS_INIT;
    o.cleanup_ms = 50;
    assert_int_equal(ZKC_OK, zkc_lock_new(f->b, DIR, &o, &lb));
    assert_int_equal(ZKC_OK, zkc_lock_acquire(la, -1, NULL));
    zkc_cancel *cancel = zkc_cancel_new();
    contender c;
    contend_start(&c, lb, -1, cancel);
    WAIT_FOR(count_kids(f->admin, DIR) == 2, 5000);
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->b, ZKC_FAKE_SUSPEND, 1));
    zkc_cancel_trigger(cancel);
    contend_join(&c);
    assert_int_equal(ZKC_EINTERRUPTED, c.rc);
    assert_int_equal(2, count_kids(f->admin, DIR)); /* could not delete it yet */
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->b, ZKC_FAKE_SUSPEND, 0));
    WAIT_FOR(count_kids(f->admin, DIR) == 1, 5000);
    assert_int_equal(1, count_kids(f->admin, DIR));
    assert_int_equal(ZKC_LOCK_HELD, zkc_lock_get_state(la));
    zkc_cancel_free(cancel);
    zkc_lock_free(la);
    zkc_lock_free(lb);
    assert_int_equal(0, count_kids(f->admin, DIR));
}

/* A release whose reply is lost still releases. */
static void test_release_reply_lost(void **state)
{
    fixture *f = *state;
    zkc_lock *la = NULL;
    assert_int_equal(ZKC_OK, zkc_lock_new(f->a, DIR, NULL, &la));
    assert_int_equal(ZKC_OK, zkc_lock_acquire(la, -1, NULL));
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_LOSS_AFTER, 1));
    assert_int_equal(ZKC_OK, zkc_lock_release(la));
    assert_int_equal(0, count_kids(f->admin, DIR));
    assert_int_equal(ZKC_OK, zkc_lock_acquire(la, -1, NULL));
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_LOSS_BEFORE, 1));
    assert_int_equal(ZKC_OK, zkc_lock_release(la));
    assert_int_equal(0, count_kids(f->admin, DIR));
    zkc_lock_free(la);
}

/* Persistent lock nodes, and a custom ACL. */
static void test_persistent_and_acl(void **state)
{
    fixture *f = *state;
    zkc_acl e = {ZKC_PERM_ALL, (char *)"world", (char *)"anyone"};
    zkc_acl_list acl = {1, &e};
    zkc_lock_opts o = ZKC_LOCK_OPTS_INIT;
    o.persistent = true;
    o.acl = &acl;
    zkc_lock *l = NULL;
    assert_int_equal(ZKC_OK, zkc_lock_new(f->a, DIR, &o, &l));
    assert_int_equal(ZKC_OK, zkc_lock_acquire(l, 0, NULL));
    zkc_stat st;
    assert_true(node_exists(f->admin, zkc_lock_node_path(l), &st));
    assert_int_equal(0, st.ephemeral_owner);
    zkc_acl_list *got = NULL;
    assert_int_equal(ZKC_OK, zkc_get_acl(f->admin, zkc_lock_node_path(l), &got, NULL));
    assert_int_equal(ZKC_PERM_ALL, got->v[0].perms);
    zkc_acl_list_free(got);
    assert_int_equal(ZKC_OK, zkc_lock_release(l));
    assert_int_equal(0, count_kids(f->admin, DIR));
    zkc_lock_free(l);
}

/* Contenders hammering one lock from several sessions: never two
 * holders. */
#define HAMMER_THREADS 4
#define HAMMER_ROUNDS 25
typedef struct hammer {
    zkc_lock *l;
    atomic_int *holders;
    atomic_int *max_holders;
    atomic_int *counter;
} hammer;

static void *hammer_main(void *arg)
{
    hammer *h = arg;
    for (int i = 0; i < HAMMER_ROUNDS; i++) {
        if (zkc_lock_acquire(h->l, 20000, NULL) != ZKC_OK)
            continue;
        int now = atomic_fetch_add(h->holders, 1) + 1;
        int max = atomic_load(h->max_holders);
        while (now > max && !atomic_compare_exchange_weak(h->max_holders, &max, now)) {
        }
        int v = atomic_load(h->counter);
        sched_yield();
        atomic_store(h->counter, v + 1);
        atomic_fetch_sub(h->holders, 1);
        zkc_lock_release(h->l);
    }
    return NULL;
}

static void test_mutual_exclusion(void **state)
{
    fixture *f = *state;
    zkc_conn *cs[HAMMER_THREADS];
    hammer h[HAMMER_THREADS];
    pthread_t t[HAMMER_THREADS];
    atomic_int holders = 0, max_holders = 0, counter = 0;
    for (int i = 0; i < HAMMER_THREADS; i++) {
        assert_int_equal(ZKC_OK, zkc_fake_open(f->tree, &cs[i]));
        h[i].holders = &holders;
        h[i].max_holders = &max_holders;
        h[i].counter = &counter;
        assert_int_equal(ZKC_OK, zkc_lock_new(cs[i], DIR, NULL, &h[i].l));
        pthread_create(&t[i], NULL, hammer_main, &h[i]);
    }
    for (int i = 0; i < HAMMER_THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(1, atomic_load(&max_holders));
    assert_int_equal(HAMMER_THREADS * HAMMER_ROUNDS, atomic_load(&counter));
    for (int i = 0; i < HAMMER_THREADS; i++) {
        zkc_lock_free(h[i].l);
        zkc_conn_close(cs[i]);
    }
    assert_int_equal(0, count_kids(f->admin, DIR));
}

/* After an expiry on a connection that gets a new session, the same
 * handle takes the lock again. */
static void test_reacquire_after_new_session(void **state)
{
    fixture *f = *state;
    zkc_conn *p = proxy_open(f->tree);
    zkc_lock *l = NULL;
    assert_int_equal(ZKC_OK, zkc_lock_new(p, DIR, NULL, &l));
    assert_int_equal(ZKC_OK, zkc_lock_acquire(l, 0, NULL));
    assert_int_equal(ZKC_OK, zkc_fake_inject(proxy_inner(p), ZKC_FAKE_EXPIRE, 0));
    assert_int_equal(ZKC_LOCK_LOST, zkc_lock_get_state(l));
    int rc = zkc_lock_acquire(l, 5000, NULL);
    if (rc == ZKC_ESESSIONEXPIRED) /* the first operation saw the old session */
        rc = zkc_lock_acquire(l, 5000, NULL);
    assert_int_equal(ZKC_OK, rc);
    assert_int_equal(2, proxy_sessions(p));
    zkc_stat st;
    assert_true(node_exists(f->admin, zkc_lock_node_path(l), &st));
    assert_int_equal(zkc_conn_session_id(p), st.ephemeral_owner);
    zkc_lock_free(l);
    zkc_conn_close(p);
    assert_int_equal(0, count_kids(f->admin, DIR));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_acquire_release, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lost_create_reply, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_deleted, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_children, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_try_timeout_interrupt, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_release_wakes_one, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_suspend_then_expire, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_expire_notifies_first, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_node_gone_on_reconnect, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_orphan_swept_on_reconnect, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_release_reply_lost, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_persistent_and_acl, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_mutual_exclusion, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reacquire_after_new_session, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("lock", tests, NULL, NULL);
}
