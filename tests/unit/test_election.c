/*
 * Leader election (election.c) on the fake: one leader at a time, the
 * task stopped as soon as leadership is in doubt and before anyone else
 * leads, hand-over when the leader's session ends, no self-deadlock
 * after a failed promotion, and a clean end on interrupt.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>

#include "recipe_helpers.h"

#define EPATH "/zk/test/election/e1"
#define CANDS EPATH "/candidates"
#define LEADER EPATH "/leader"

static atomic_int seqno; /* orders events across threads */
/* Tasks that are inside run and have not been asked to stop: leaders
 * that act.  Never more than one. */
static atomic_int running;
static atomic_int max_running;

static int setup(void **state)
{
    atomic_store(&running, 0);
    atomic_store(&max_running, 0);
    return fixture_setup(state);
}

/* A task that works until stopped (or returns at once with quick). */
typedef struct task {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    bool acting;    /* inside run, not asked to stop */
    bool quick;     /* run returns at once */
    int run_rc;     /* what run returns */
    bool interrupt; /* interrupted() answer */
    atomic_int runs;
    atomic_int stops;
    atomic_int first_run_order;
    atomic_int first_stop_order;
    atomic_int last_run_order;
    int64_t token;
} task;

static int task_run(int64_t token, void *ud)
{
    task *t = ud;
    pthread_mutex_lock(&t->mu);
    t->acting = !t->stop;
    if (t->acting) {
        int now = atomic_fetch_add(&running, 1) + 1;
        int max = atomic_load(&max_running);
        while (now > max && !atomic_compare_exchange_weak(&max_running, &max, now)) {
        }
    }
    pthread_mutex_unlock(&t->mu);
    int order = atomic_fetch_add(&seqno, 1) + 1;
    if (atomic_fetch_add(&t->runs, 1) == 0)
        atomic_store(&t->first_run_order, order);
    atomic_store(&t->last_run_order, order);
    pthread_mutex_lock(&t->mu);
    t->token = token;
    while (!t->quick && !t->stop)
        pthread_cond_wait(&t->cond, &t->mu);
    t->stop = false;
    if (t->acting)
        atomic_fetch_sub(&running, 1);
    t->acting = false;
    int rc = t->run_rc;
    pthread_mutex_unlock(&t->mu);
    return rc;
}

static void task_stop(void *ud)
{
    task *t = ud;
    int order = atomic_fetch_add(&seqno, 1) + 1;
    if (atomic_fetch_add(&t->stops, 1) == 0)
        atomic_store(&t->first_stop_order, order);
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    if (t->acting)
        atomic_fetch_sub(&running, 1);
    t->acting = false;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->mu);
}

static bool task_interrupted(void *ud)
{
    task *t = ud;
    pthread_mutex_lock(&t->mu);
    bool i = t->interrupt;
    pthread_mutex_unlock(&t->mu);
    return i;
}

static void task_init(task *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cond, NULL);
}

static void task_fini(task *t)
{
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cond);
}

/* An elector on its own thread. */
typedef struct elector {
    zkc_election *e;
    zkc_elector_task et;
    task t;
    zkc_cancel *cancel;
    int rc;
    char errmsg[256];
    atomic_int done;
    pthread_t thr;
} elector;

static void *elector_main(void *arg)
{
    elector *el = arg;
    el->rc = zkc_election_run(el->e, &el->et, el->cancel);
    snprintf(el->errmsg, sizeof el->errmsg, "%s", zkc_errmsg());
    atomic_store(&el->done, 1);
    return NULL;
}

static void elector_start(elector *el, zkc_conn *c, const zkc_election_opts *o)
{
    memset(el, 0, sizeof *el);
    task_init(&el->t);
    el->et = (zkc_elector_task){task_run, task_stop, task_interrupted, &el->t};
    el->cancel = zkc_cancel_new();
    zkc_election_opts def = ZKC_ELECTION_OPTS_INIT;
    def.min_backoff_ms = 10;
    def.max_backoff_ms = 50;
    assert_int_equal(ZKC_OK, zkc_election_new(c, EPATH, o != NULL ? o : &def, &el->e));
    assert_int_equal(0, pthread_create(&el->thr, NULL, elector_main, el));
}

static void elector_end(elector *el)
{
    zkc_cancel_trigger(el->cancel);
    pthread_join(el->thr, NULL);
    zkc_election_free(el->e);
    zkc_cancel_free(el->cancel);
    task_fini(&el->t);
}

/* The leader node's "candidate" field. */
static char *leader_candidate(zkc_conn *c)
{
    char *data = NULL;
    size_t len = 0;
    if (zkc_election_leader(c, EPATH, &data, &len, NULL) != ZKC_OK)
        return NULL;
    json_error_t jerr;
    json_t *j = len > 0 ? json_loadb(data, len, 0, &jerr) : NULL;
    zkc_free(data);
    const char *s = j != NULL ? json_string_value(json_object_get(j, "candidate")) : NULL;
    char *r = s != NULL ? strdup(s) : NULL;
    json_decref(j);
    return r;
}

static bool leader_empty(zkc_conn *c)
{
    char *data = NULL;
    size_t len = 1;
    if (zkc_election_leader(c, EPATH, &data, &len, NULL) != ZKC_OK)
        return false;
    zkc_free(data);
    return len == 0;
}

/* ---- tests ---- */

static void test_lead_and_interrupt(void **state)
{
    fixture *f = *state;
    zkc_election_opts o = ZKC_ELECTION_OPTS_INIT;
    o.extra_json = "{\"port\": 15000}";
    elector a;
    elector_start(&a, f->a, &o);
    WAIT_FOR(atomic_load(&a.t.runs) == 1, 5000);
    assert_int_equal(1, atomic_load(&a.t.runs));
    assert_true(zkc_election_is_leader(a.e));

    /* The leader node names our candidate node, which holds the lock. */
    char *cand = leader_candidate(f->admin);
    assert_non_null(cand);
    zkc_strings *kids = NULL;
    assert_int_equal(ZKC_OK, zkc_children(f->admin, CANDS, &kids, NULL, NULL));
    assert_int_equal(1, kids->count);
    assert_string_equal(cand, kids->v[0]);
    char path[512];
    snprintf(path, sizeof path, CANDS "/%s", cand);
    zkc_stat st;
    assert_true(node_exists(f->admin, path, &st));
    pthread_mutex_lock(&a.t.mu);
    assert_int_equal(st.czxid, a.t.token); /* the task's fencing token */
    pthread_mutex_unlock(&a.t.mu);
    zkc_strings_free(kids);
    free(cand);
    char *data = NULL;
    size_t len = 0;
    zkc_watch *w = NULL;
    assert_int_equal(ZKC_OK, zkc_election_leader(f->admin, EPATH, &data, &len, &w));
    assert_non_null(strstr(data, "\"port\": 15000"));
    zkc_free(data);

    /* Interrupt: the task is stopped, run returns, nothing is left. */
    zkc_cancel_trigger(a.cancel);
    pthread_join(a.thr, NULL);
    assert_int_equal(ZKC_EINTERRUPTED, a.rc);
    assert_non_null(strstr(a.errmsg, EPATH));
    assert_int_equal(1, atomic_load(&a.t.stops));
    assert_false(zkc_election_is_leader(a.e));
    assert_int_equal(0, count_kids(f->admin, CANDS));
    assert_true(leader_empty(f->admin));
    assert_int_equal(ZKC_OK, zkc_watch_wait(w, 5000, NULL)); /* followers saw it */
    zkc_watch_free(w);
    zkc_election_free(a.e);
    zkc_cancel_free(a.cancel);
    task_fini(&a.t);
}

static void test_task_interrupted_ends_run(void **state)
{
    fixture *f = *state;
    elector a;
    memset(&a, 0, sizeof a);
    task_init(&a.t);
    a.t.quick = true;
    a.t.interrupt = true;
    a.et = (zkc_elector_task){task_run, task_stop, task_interrupted, &a.t};
    assert_int_equal(ZKC_OK, zkc_election_new(f->a, EPATH, NULL, &a.e));
    assert_int_equal(ZKC_OK, zkc_election_run(a.e, &a.et, NULL));
    assert_int_equal(1, atomic_load(&a.t.runs));
    assert_int_equal(0, atomic_load(&a.t.stops)); /* it ended by itself */
    assert_int_equal(0, count_kids(f->admin, CANDS));

    /* A task that ends without asking to stop runs again. */
    pthread_mutex_lock(&a.t.mu);
    a.t.interrupt = false;
    pthread_mutex_unlock(&a.t.mu);
    a.cancel = zkc_cancel_new();
    assert_int_equal(0, pthread_create(&a.thr, NULL, elector_main, &a));
    WAIT_FOR(atomic_load(&a.t.runs) >= 4, 5000);
    assert_true(atomic_load(&a.t.runs) >= 4);
    zkc_cancel_trigger(a.cancel);
    pthread_join(a.thr, NULL);
    assert_int_equal(ZKC_EINTERRUPTED, a.rc);
    assert_int_equal(0, count_kids(f->admin, CANDS));
    zkc_election_free(a.e);
    zkc_cancel_free(a.cancel);
    task_fini(&a.t);
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    zkc_election *e = NULL;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_election_new(NULL, EPATH, NULL, &e));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_election_new(f->a, NULL, NULL, &e));
    assert_int_equal(ZKC_EBADPATH, zkc_election_new(f->a, "e1", NULL, &e));
    zkc_election_opts o = ZKC_ELECTION_OPTS_INIT;
    o.extra_json = "\"not an object\"";
    assert_int_equal(ZKC_EBADDATA, zkc_election_new(f->a, EPATH, &o, &e));
    assert_null(e);
    assert_int_equal(ZKC_OK, zkc_election_new(f->a, EPATH, NULL, &e));
    task t;
    task_init(&t);
    zkc_elector_task no_stop = {task_run, NULL, NULL, &t};
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_election_run(e, NULL, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_election_run(e, &no_stop, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_election_run(NULL, &no_stop, NULL));
    /* Cancelled before it starts: interrupted, nothing created. */
    zkc_elector_task et = {task_run, task_stop, NULL, &t};
    zkc_cancel *cancel = zkc_cancel_new();
    zkc_cancel_trigger(cancel);
    assert_int_equal(ZKC_EINTERRUPTED, zkc_election_run(e, &et, cancel));
    assert_int_equal(0, atomic_load(&t.runs));
    size_t n = count_kids(f->admin, CANDS);
    assert_true(n == 0 || n == (size_t)-1);
    zkc_cancel_free(cancel);
    assert_false(zkc_election_is_leader(NULL));
    zkc_election_free(e);
    zkc_election_free(NULL);
    task_fini(&t);
}

/* The leader's session ends: its task is stopped before the next leader
 * starts, and the other elector takes over. */
static void test_handover_on_expiry(void **state)
{
    fixture *f = *state;
    elector a, b;
    elector_start(&a, f->a, NULL);
    WAIT_FOR(atomic_load(&a.t.runs) == 1, 5000);
    elector_start(&b, f->b, NULL);
    WAIT_FOR(count_kids(f->admin, CANDS) == 2, 5000);
    assert_int_equal(2, count_kids(f->admin, CANDS));
    assert_int_equal(0, atomic_load(&b.t.runs));

    /* Slow the follower's replies, so that the order below does not hang
     * on thread scheduling (see test_lock.c, test_expire_notifies_first). */
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->b, ZKC_FAKE_DELAY, 50));
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_EXPIRE, 0));
    assert_int_equal(1, atomic_load(&a.t.stops)); /* stopped by the time EXPIRED was seen */
    WAIT_FOR(atomic_load(&b.t.runs) == 1, 10000);
    assert_int_equal(1, atomic_load(&b.t.runs));
    assert_true(atomic_load(&a.t.first_stop_order) < atomic_load(&b.t.first_run_order));
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->b, ZKC_FAKE_DELAY, 0));

    /* A's connection stays expired: its run ends and says so. */
    pthread_join(a.thr, NULL);
    assert_int_equal(ZKC_ESESSIONEXPIRED, a.rc);
    assert_int_equal(1, atomic_load(&a.t.runs));
    char *cand = leader_candidate(f->admin);
    assert_non_null(cand);
    zkc_strings *kids = NULL;
    assert_int_equal(ZKC_OK, zkc_children(f->admin, CANDS, &kids, NULL, NULL));
    assert_int_equal(1, kids->count);
    assert_string_equal(cand, kids->v[0]);
    zkc_strings_free(kids);
    free(cand);
    assert_int_equal(1, atomic_load(&max_running));

    elector_end(&b);
    assert_int_equal(ZKC_EINTERRUPTED, b.rc);
    zkc_election_free(a.e);
    zkc_cancel_free(a.cancel);
    task_fini(&a.t);
    assert_int_equal(0, count_kids(f->admin, CANDS));
}

/* A suspended leader stops its task at once, and gives its candidacy up
 * once it can: the follower leads, the old leader queues behind it with
 * one node, never two. */
static void test_stop_on_suspend(void **state)
{
    fixture *f = *state;
    elector a, b;
    elector_start(&a, f->a, NULL);
    WAIT_FOR(atomic_load(&a.t.runs) == 1, 5000);
    elector_start(&b, f->b, NULL);
    WAIT_FOR(count_kids(f->admin, CANDS) == 2, 5000);

    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_SUSPEND, 1));
    assert_int_equal(1, atomic_load(&a.t.stops)); /* before the injection returned */
    assert_false(zkc_election_is_leader(a.e));
    /* The session lives: its candidate stays, so nobody else may lead
     * meanwhile (no sleep to see nothing happen: the node is the cause). */
    assert_int_equal(2, count_kids(f->admin, CANDS));
    assert_int_equal(0, atomic_load(&b.t.runs));

    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_SUSPEND, 0));
    WAIT_FOR(atomic_load(&b.t.runs) == 1, 10000);
    assert_int_equal(1, atomic_load(&b.t.runs));
    WAIT_FOR(count_kids(f->admin, CANDS) == 2, 5000);
    assert_int_equal(2, count_kids(f->admin, CANDS));
    assert_int_equal(1, atomic_load(&a.t.runs));
    assert_int_equal(1, atomic_load(&max_running));

    elector_end(&b);
    WAIT_FOR(atomic_load(&a.t.runs) == 2, 10000); /* A leads again */
    assert_int_equal(2, atomic_load(&a.t.runs));
    elector_end(&a);
    assert_int_equal(ZKC_EINTERRUPTED, a.rc);
    assert_int_equal(1, atomic_load(&max_running));
    assert_int_equal(0, count_kids(f->admin, CANDS));
}

/* Promotion fails (the leader node is read-only): the candidate node is
 * given up each time, so the elector never waits on itself, and leads as
 * soon as the leader node is writable. */
static void test_failed_promotion(void **state)
{
    fixture *f = *state;
    assert_int_equal(ZKC_OK, zkc_create_recursive(f->admin, LEADER, NULL, 0, 0,
                                                  zkc_acl_world(ZKC_PERM_READ | ZKC_PERM_ADMIN), NULL));
    /* Through the counting proxy: each promotion is a set of the leader
     * node; wait for three that failed, not for a time. */
    zkc_conn *p = proxy_open(f->tree);
    assert_non_null(p);
    elector a;
    elector_start(&a, p, NULL);
    WAIT_FOR(proxy_ops_count(p, ZKC_OP_SET) >= 3, 10000);
    assert_true(proxy_ops_count(p, ZKC_OP_SET) >= 3);
    size_t n = count_kids(f->admin, CANDS);
    assert_true(n <= 1);
    assert_int_equal(0, atomic_load(&a.t.runs));
    assert_int_equal(ZKC_OK, zkc_set_acl(f->admin, LEADER, zkc_acl_world(ZKC_PERM_FILE), -1));
    WAIT_FOR(atomic_load(&a.t.runs) == 1, 10000);
    assert_int_equal(1, atomic_load(&a.t.runs));
    assert_int_equal(1, count_kids(f->admin, CANDS));
    elector_end(&a);
    assert_int_equal(ZKC_EINTERRUPTED, a.rc);
    assert_int_equal(0, count_kids(f->admin, CANDS));
    zkc_conn_close(p);
}

/* Someone else's contents in the leader node: the task stops, the node
 * is given up, and (alone) we lead again. */
static void test_leader_node_overwritten(void **state)
{
    fixture *f = *state;
    elector a;
    elector_start(&a, f->a, NULL);
    WAIT_FOR(atomic_load(&a.t.runs) == 1, 5000);
    assert_int_equal(ZKC_OK, zkc_set(f->admin, LEADER, "impostor", 8, -1, NULL));
    WAIT_FOR(atomic_load(&a.t.stops) == 1, 5000);
    assert_int_equal(1, atomic_load(&a.t.stops));
    WAIT_FOR(atomic_load(&a.t.runs) == 2, 10000);
    assert_int_equal(2, atomic_load(&a.t.runs));
    assert_int_equal(1, count_kids(f->admin, CANDS));
    char *cand = leader_candidate(f->admin);
    assert_non_null(cand);
    free(cand);

    /* Deleted leader node: the same, and the node comes back. */
    assert_int_equal(ZKC_OK, zkc_delete(f->admin, LEADER, -1));
    WAIT_FOR(atomic_load(&a.t.runs) == 3, 10000);
    assert_int_equal(3, atomic_load(&a.t.runs));
    assert_true(node_exists(f->admin, LEADER, NULL));
    elector_end(&a);
    assert_int_equal(0, count_kids(f->admin, CANDS));
}

/* Lost replies while queueing and promoting: still one leader, one node. */
static void test_lost_replies(void **state)
{
    fixture *f = *state;
    assert_int_equal(ZKC_OK, zkc_create_recursive(f->admin, LEADER, NULL, 0, 0,
                                                  zkc_acl_world(ZKC_PERM_FILE), NULL));
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_LOSS_AFTER, 3));
    elector a;
    elector_start(&a, f->a, NULL);
    WAIT_FOR(atomic_load(&a.t.runs) >= 1, 10000);
    assert_true(atomic_load(&a.t.runs) >= 1);
    WAIT_FOR(count_kids(f->admin, CANDS) == 1, 5000);
    assert_int_equal(1, count_kids(f->admin, CANDS));
    elector_end(&a);
    assert_int_equal(ZKC_EINTERRUPTED, a.rc);
    assert_int_equal(0, count_kids(f->admin, CANDS));
}

static int find_leader(elector *el, int n)
{
    for (int i = 0; i < n; i++)
        if (zkc_election_is_leader(el[i].e))
            return i;
    return -1;
}

/* Several electors on several sessions, leaders cut off in turn: never
 * two tasks running at once. */
#define ELECTORS 4
static void test_one_leader_at_a_time(void **state)
{
    fixture *f = *state;
    zkc_conn *cs[ELECTORS];
    elector el[ELECTORS];
    for (int i = 0; i < ELECTORS; i++) {
        assert_int_equal(ZKC_OK, zkc_fake_open(f->tree, &cs[i]));
        elector_start(&el[i], cs[i], NULL);
    }
    for (int round = 0; round < ELECTORS; round++) {
        WAIT_FOR(find_leader(el, ELECTORS) >= 0, 10000);
        int leader = find_leader(el, ELECTORS);
        assert_true(leader >= 0);
        /* Cut the leader off as a network does: first the connection
         * (its task is stopped and returns), then, a session timeout
         * later, the session: only then may the next one take over. */
        zkc_conn *victim = cs[leader];
        assert_int_equal(ZKC_OK, zkc_fake_inject(victim, ZKC_FAKE_SUSPEND, 1));
        assert_false(zkc_election_is_leader(el[leader].e));
        assert_int_equal(0, atomic_load(&running));
        assert_int_equal(ZKC_OK, zkc_fake_inject(victim, ZKC_FAKE_EXPIRE, 0));
        pthread_join(el[leader].thr, NULL);
        assert_int_equal(ZKC_ESESSIONEXPIRED, el[leader].rc);
        zkc_election_free(el[leader].e);
        zkc_cancel_free(el[leader].cancel);
        task_fini(&el[leader].t);
        zkc_conn_close(victim);
        assert_int_equal(ZKC_OK, zkc_fake_open(f->tree, &cs[leader]));
        elector_start(&el[leader], cs[leader], NULL);
    }
    for (int i = 0; i < ELECTORS; i++) {
        elector_end(&el[i]);
        zkc_conn_close(cs[i]);
    }
    assert_int_equal(1, atomic_load(&max_running));
    assert_int_equal(0, count_kids(f->admin, CANDS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lead_and_interrupt, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_task_interrupted_ends_run, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_handover_on_expiry, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_stop_on_suspend, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_failed_promotion, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_leader_node_overwritten, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lost_replies, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_one_leader_at_a_time, setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("election", tests, NULL, NULL);
}
