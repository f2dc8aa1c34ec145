/*
 * lost_steps: lost replies at every step of every recipe (issue 13),
 * deterministic, on the fake.
 *
 * Each scenario runs one recipe to completion on session A, against a
 * second session B (never faulted) that competes or looks on.  A clean
 * run first counts A's operations (N; a multi is one).  Then, for each
 * fault (ZKC_FAKE_LOSS_BEFORE: the request is lost; ZKC_FAKE_LOSS_AFTER:
 * it is applied and its reply lost) and each step k = 1..N, the scenario
 * runs again on a fresh tree with the k-th operation of A lost
 * (zkc_fake_inject_nth), and its invariants are checked:
 *   - no double holder: B, trying the lock while A holds it, never gets
 *     it, and the holders' intervals never overlap (history.c);
 *   - no leaked node: after the release, the free or the recipe's end, A
 *     left nothing in the folder (looked at through B while A's session
 *     is still open, so that its ephemerals would show);
 *   - every call ends, acknowledged or with an error the caller can act
 *     on; a recipe not back within a generous deadline (DEADLINE_MS; the
 *     clean run takes milliseconds) has stalled;
 *   - a counter changed with zkc_retry_change (directly, through the
 *     cell router, through the global namespace over 3 quorums) holds
 *     every acknowledged update once and none twice; through the global
 *     namespace, quorums never diverge silently (some call returned
 *     ZKC_EINCONSISTENT) and zkc_global_repair() makes them agree.
 *
 * Where A waits behind B (mutex, election, queue lock), B lets go once
 * A's node is queued and A has stopped submitting operations.
 * TAP: one test per scenario and fault, naming the steps that failed.
 *
 *   lost_steps [-v] [SCENARIO]
 */
#include "history.h"

#include <zkcell/zkcell.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DEADLINE_MS 20000 /* a recipe not back by then has stalled */
#define SETTLE_MS   30    /* A that long without a new operation is waiting */
#define CLEANUP_MS  5000  /* a cleanup not done by then has left its node */

static bool verbose;

/* ---- one run ---- */

typedef struct run {
    zkc_fake_tree *tree;
    zkc_conn *a, *b;
    int k; /* lose A's k-th operation; 0: clean */
    zkc_fake_fault fault;
    zkc_conn *inj; /* the fake session the steps are counted on */
    uint64_t ops0; /* its count when armed */
    uint64_t nops; /* operations from arming to finish() */
    bool pending;  /* the loss never came (the run was shorter) */
    char why[512]; /* the first invariant broken; "" when none */
    hist h;
} run;

static void fail(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(run *r, const char *fmt, ...)
{
    if (r->why[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

/* Start counting steps on c (a fake session), losing the k-th. */
static void arm(run *r, zkc_conn *c)
{
    r->inj = c;
    zkc_fake_ops(c, &r->ops0, NULL);
    if (r->k > 0)
        zkc_fake_inject_nth(c, r->fault, (unsigned)r->k);
}

/* Stop counting (before the counted session is closed). */
static void finish(run *r)
{
    uint64_t n = 0;
    if (r->inj != NULL && zkc_fake_ops(r->inj, &n, &r->pending) == ZKC_OK)
        r->nops = n - r->ops0;
    r->inj = NULL;
}

static int64_t now_ms(void)
{
    return hist_now_us() / 1000;
}

/* Wait until c has submitted nothing for SETTLE_MS. */
static void settle(zkc_conn *c)
{
    uint64_t last = 0, n = 0;
    zkc_fake_ops(c, &last, NULL);
    int64_t since = now_ms(), end = since + 2000;
    while (now_ms() < end) {
        zkc_sleep(5, NULL);
        zkc_fake_ops(c, &n, NULL);
        if (n != last) {
            last = n;
            since = now_ms();
        } else if (now_ms() - since >= SETTLE_MS) {
            return;
        }
    }
}

/* The children of dir seen by B ("" joined by ','), for messages. */
static int kids(run *r, const char *dir, char *buf, size_t size)
{
    zkc_strings *s = NULL;
    buf[0] = '\0';
    int rc = zkc_children(r->b, dir, &s, NULL, NULL);
    if (rc == ZKC_ENONODE)
        return 0;
    if (rc != ZKC_OK) {
        snprintf(buf, size, "(children of %s: %s)", dir, zkc_strerror(rc));
        return -1;
    }
    size_t off = 0;
    for (size_t i = 0; i < s->count && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? "," : "", s->v[i]);
    int n = (int)s->count;
    zkc_strings_free(s);
    return n;
}

/* Wait (up to CLEANUP_MS) until dir has n children; false, with the
 * children named, when it never does.  A cleanup may be asynchronous (a
 * lock's orphan swept on reconnect). */
static bool wait_kids(run *r, const char *dir, int n, const char *what)
{
    char buf[400];
    int64_t end = now_ms() + CLEANUP_MS;
    int have;
    while ((have = kids(r, dir, buf, sizeof buf)) != n && now_ms() < end)
        zkc_sleep(5, NULL);
    if (have == n)
        return true;
    fail(r, "%s: %s has %d children, want %d: %s", what, dir, have, n, buf);
    return false;
}

/* Wait until *flag is set; false after DEADLINE_MS. */
static bool wait_flag(atomic_int *flag)
{
    int64_t end = now_ms() + DEADLINE_MS;
    while (!atomic_load(flag) && now_ms() < end)
        zkc_sleep(2, NULL);
    return atomic_load(flag) != 0;
}

static bool retryable(int rc)
{
    return rc == ZKC_ECONNECTIONLOSS || rc == ZKC_EOPERATIONTIMEOUT;
}

/* What a caller does with its own node: delete, again through connection
 * loss (a lost reply makes the second try ZKC_ENONODE). */
static int delete_own(zkc_conn *c, const char *path)
{
    int rc;
    for (int i = 0; i < 50; i++) {
        rc = zkc_delete(c, path, -1);
        if (rc == ZKC_ENONODE)
            return ZKC_OK;
        if (!retryable(rc))
            return rc;
        zkc_sleep(5, NULL);
    }
    return rc;
}

/* ---- a blocking call of A's on a thread of its own ---- */

typedef struct bg {
    pthread_t th;
    int (*fn)(void *);
    void *arg;
    int rc;
    atomic_int done;
} bg;

static void *bg_main(void *p)
{
    bg *g = p;
    g->rc = g->fn(g->arg);
    atomic_store(&g->done, 1);
    return NULL;
}

static void bg_start(bg *g, int (*fn)(void *), void *arg)
{
    g->fn = fn;
    g->arg = arg;
    g->rc = ZKC_OK;
    atomic_init(&g->done, 0);
    if (pthread_create(&g->th, NULL, bg_main, g) != 0)
        abort();
}

/* Join g; when it is not back within DEADLINE_MS, trigger cancel (which
 * the call honours) and report a stall. */
static int bg_join(run *r, bg *g, zkc_cancel *cancel, const char *what)
{
    if (!wait_flag(&g->done)) {
        fail(r, "%s stalled (not back after %d ms)", what, DEADLINE_MS);
        zkc_cancel_trigger(cancel);
    }
    pthread_join(g->th, NULL);
    return g->rc;
}

/* ---- scenario: the mutex ---- */

typedef struct lock_call {
    zkc_lock *l;
    int timeout_ms;
    zkc_cancel *cancel;
} lock_call;

static int lock_call_fn(void *p)
{
    lock_call *x = p;
    return zkc_lock_acquire(x->l, x->timeout_ms, x->cancel);
}

/* B holds; A tries once (must not get it, must leave nothing); A waits;
 * B releases; A holds (B cannot get it meanwhile); A releases. */
static void sc_mutex(run *r)
{
    const char *dir = "/m";
    zkc_lock *la = NULL, *lb = NULL;
    zkc_cancel *cancel = zkc_cancel_new();
    if (zkc_lock_new(r->a, dir, NULL, &la) != ZKC_OK ||
        zkc_lock_new(r->b, dir, NULL, &lb) != ZKC_OK)
        abort();
    int rc = zkc_lock_acquire(lb, DEADLINE_MS, NULL);
    if (rc != ZKC_OK) {
        fail(r, "B's acquire: %s", zkc_strerror(rc));
        goto out;
    }
    size_t hb = hist_begin(&r->h, 1, zkc_lock_fencing_token(lb));
    hist_act(&r->h, hb);
    arm(r, r->a);

    rc = zkc_lock_acquire(la, 0, NULL);
    if (rc == ZKC_OK)
        fail(r, "A's try-once got the lock B holds");
    else if (rc != ZKC_ETIMEDOUT && !retryable(rc))
        fail(r, "A's try-once: %s, want timed out", zkc_strerror(rc));
    if (rc == ZKC_OK)
        zkc_lock_release(la);
    wait_kids(r, dir, 1, "after A's failed try-once");

    lock_call call = {la, DEADLINE_MS + 5000, cancel};
    bg g;
    bg_start(&g, lock_call_fn, &call);
    char buf[400];
    int64_t end = now_ms() + DEADLINE_MS;
    while (kids(r, dir, buf, sizeof buf) < 2 && !atomic_load(&g.done) && now_ms() < end)
        zkc_sleep(2, NULL);
    settle(r->a);
    hist_act(&r->h, hb);
    hist_end(&r->h, hb);
    zkc_lock_release(lb);
    rc = bg_join(r, &g, cancel, "A's acquire");
    if (rc != ZKC_OK) {
        fail(r, "A's acquire after B's release: %s", zkc_strerror(rc));
        wait_kids(r, dir, 0, "after A's failed acquire");
        goto out;
    }
    size_t ha = hist_begin(&r->h, 0, zkc_lock_fencing_token(la));
    hist_act(&r->h, ha);
    rc = zkc_lock_acquire(lb, 0, NULL);
    if (rc == ZKC_OK) {
        fail(r, "double holder: B got the lock while A held it");
        zkc_lock_release(lb);
    }
    if (zkc_lock_get_state(la) == ZKC_LOCK_HELD)
        hist_act(&r->h, ha);
    hist_end(&r->h, ha);
    rc = zkc_lock_release(la);
    if (rc != ZKC_OK)
        fail(r, "A's release: %s", zkc_strerror(rc));
    wait_kids(r, dir, 0, "after A's release");
out:
    finish(r);
    zkc_lock_free(la);
    zkc_lock_free(lb);
    zkc_cancel_free(cancel);
}

/* ---- scenario: the election ---- */

typedef struct candidate {
    run *r;
    int id;
    bool hold; /* lead until told to let go (release) */
    atomic_int release, stop, leading, terms;
    zkc_election *e;
    zkc_cancel *cancel;
} candidate;

static int cand_run(int64_t token, void *ud)
{
    candidate *c = ud;
    size_t i = hist_begin(&c->r->h, c->id, token);
    atomic_store(&c->leading, 1);
    int acts = 0;
    for (int k = 0; !atomic_load(&c->stop) && (c->hold ? !atomic_load(&c->release) : k < 3);
         k++) {
        hist_act(&c->r->h, i);
        acts++;
        zkc_sleep(1, NULL);
    }
    hist_end(&c->r->h, i);
    if (acts > 0)
        atomic_fetch_add(&c->terms, 1);
    atomic_store(&c->stop, 0);
    return ZKC_OK;
}

static void cand_stop(void *ud)
{
    candidate *c = ud;
    atomic_store(&c->stop, 1);
}

/* End after one term of work (B: once told to let go). */
static bool cand_interrupted(void *ud)
{
    candidate *c = ud;
    return atomic_load(&c->terms) > 0 && (!c->hold || atomic_load(&c->release));
}

static int cand_fn(void *p)
{
    candidate *c = p;
    zkc_elector_task t = {cand_run, cand_stop, cand_interrupted, c};
    return zkc_election_run(c->e, &t, c->cancel);
}

static void cand_init(candidate *c, run *r, int id, zkc_conn *conn, bool hold)
{
    memset(c, 0, sizeof *c);
    c->r = r;
    c->id = id;
    c->hold = hold;
    c->cancel = zkc_cancel_new();
    zkc_election_opts o = ZKC_ELECTION_OPTS_INIT;
    o.min_backoff_ms = 1;
    o.max_backoff_ms = 20;
    if (zkc_election_new(conn, "/e", &o, &c->e) != ZKC_OK)
        abort();
}

/* B leads; A queues behind it; B lets go; A leads one term and ends. */
static void sc_election(run *r)
{
    candidate ca, cb;
    cand_init(&cb, r, 1, r->b, true);
    cand_init(&ca, r, 0, r->a, false);
    bg gb, ga;
    bg_start(&gb, cand_fn, &cb);
    if (!wait_flag(&cb.leading)) {
        fail(r, "B never led");
        zkc_cancel_trigger(cb.cancel);
        pthread_join(gb.th, NULL);
        goto out;
    }
    arm(r, r->a);
    bg_start(&ga, cand_fn, &ca);
    char buf[400];
    int64_t end = now_ms() + DEADLINE_MS;
    while (kids(r, "/e/candidates", buf, sizeof buf) < 2 && !atomic_load(&ga.done) &&
           now_ms() < end)
        zkc_sleep(2, NULL);
    settle(r->a);
    atomic_store(&cb.release, 1);
    int rcb = bg_join(r, &gb, cb.cancel, "B's election");
    int rca = bg_join(r, &ga, ca.cancel, "A's election");
    if (rcb != ZKC_OK)
        fail(r, "B's election: %s", zkc_strerror(rcb));
    if (rca != ZKC_OK)
        fail(r, "A's election: %s (A led %d terms)", zkc_strerror(rca), atomic_load(&ca.terms));
    else if (atomic_load(&ca.terms) < 1)
        fail(r, "A's election ended without A leading");
    wait_kids(r, "/e/candidates", 0, "after both elections ended");
    char *data = NULL;
    size_t len = 0;
    int rc = zkc_get(r->b, "/e/leader", &data, &len, NULL, NULL);
    if (rc != ZKC_OK)
        fail(r, "reading /e/leader: %s", zkc_strerror(rc));
    else if (len != 0)
        fail(r, "/e/leader still names a leader after both stepped down: %.*s", (int)len, data);
    zkc_free(data);
out:
    finish(r);
    zkc_election_free(ca.e);
    zkc_election_free(cb.e);
    zkc_cancel_free(ca.cancel);
    zkc_cancel_free(cb.cancel);
}

/* ---- scenario: the queue lock ---- */

typedef struct qcall {
    zkc_conn *c;
    const char *entry;
    zkc_cancel *cancel;
} qcall;

static int qcall_fn(void *p)
{
    qcall *x = p;
    return zkc_queue_lock(x->c, x->entry, DEADLINE_MS + 5000, x->cancel);
}

/* B's entry first; A makes its entry (protected) and waits; B deletes
 * its entry; A is first; A deletes its entry. */
static void sc_queue(run *r)
{
    zkc_cancel *cancel = zkc_cancel_new();
    char *eb = NULL, *ea = NULL;
    unsigned fl = ZKC_SEQUENCE | ZKC_EPHEMERAL;
    if (zkc_create(r->b, "/q", NULL, 0, 0, NULL, NULL) != ZKC_OK ||
        zkc_create_protected(r->b, "/q/entry-", "b", 1, fl, NULL, NULL, &eb) != ZKC_OK)
        abort();
    int rc = zkc_queue_lock(r->b, eb, 0, NULL);
    if (rc != ZKC_OK)
        fail(r, "B's entry alone is not first: %s", zkc_strerror(rc));
    arm(r, r->a);
    rc = zkc_create_protected(r->a, "/q/entry-", "a", 1, fl, NULL, NULL, &ea);
    if (rc != ZKC_OK) {
        fail(r, "A's protected create: %s", zkc_strerror(rc));
        goto out;
    }
    rc = zkc_queue_lock(r->a, ea, 0, NULL);
    if (rc == ZKC_OK)
        fail(r, "double holder: A's entry first while B's is there");
    else if (rc != ZKC_ETIMEDOUT && !retryable(rc))
        fail(r, "A's check-once: %s, want timed out", zkc_strerror(rc));
    qcall call = {r->a, ea, cancel};
    bg g;
    bg_start(&g, qcall_fn, &call);
    settle(r->a);
    rc = delete_own(r->b, eb);
    if (rc != ZKC_OK)
        fail(r, "B's delete: %s", zkc_strerror(rc));
    rc = bg_join(r, &g, cancel, "A's queue lock");
    if (rc != ZKC_OK)
        fail(r, "A's queue lock after B left: %s", zkc_strerror(rc));
    rc = delete_own(r->a, ea);
    if (rc != ZKC_OK)
        fail(r, "A's delete of its entry: %s", zkc_strerror(rc));
    wait_kids(r, "/q", 0, "after both entries were deleted");
out:
    finish(r);
    zkc_free(ea);
    zkc_free(eb);
    zkc_cancel_free(cancel);
}

/* ---- scenario: the pid node ---- */

/* Is path there, an ephemeral of session sid? */
static bool owned_by(run *r, const char *path, int64_t sid)
{
    bool exists = false;
    zkc_stat st;
    return zkc_exists(r->b, path, &exists, &st, NULL) == ZKC_OK && exists &&
           st.ephemeral_owner == sid;
}

/* A makes its pid node; B deletes it; A's keeper makes it again; A frees
 * it: gone. */
static void sc_pidnode(run *r)
{
    const char *path = "/p/pid";
    if (zkc_create(r->b, "/p", NULL, 0, 0, NULL, NULL) != ZKC_OK)
        abort();
    int64_t sid = zkc_conn_session_id(r->a);
    zkc_pidnode_opts o = ZKC_PIDNODE_OPTS_INIT;
    o.min_delay_ms = 1;
    o.max_delay_ms = 5;
    zkc_pidnode *p = NULL;
    arm(r, r->a);
    int rc = zkc_pidnode_create(r->a, path, "1", 1, &o, &p);
    if (rc != ZKC_OK) {
        fail(r, "A's pid node: %s", zkc_strerror(rc));
        wait_kids(r, "/p", 0, "after A's pid node failed");
        goto out;
    }
    if (!owned_by(r, path, sid))
        fail(r, "A's pid node is not A's after create returned");
    settle(r->a);
    rc = delete_own(r->b, path);
    if (rc != ZKC_OK)
        fail(r, "B's delete: %s", zkc_strerror(rc));
    int64_t end = now_ms() + DEADLINE_MS;
    while (!owned_by(r, path, sid) && now_ms() < end)
        zkc_sleep(2, NULL);
    if (!owned_by(r, path, sid))
        fail(r, "A's pid node was not made again after B deleted it (stalled)");
    settle(r->a);
    zkc_pidnode_free(p);
    wait_kids(r, "/p", 0, "after A freed its pid node");
out:
    finish(r);
}

/* ---- scenarios: a counter with zkc_retry_change ---- */

/* The node holds "<applied> <seq>": updates applied, the newest sequence
 * number applied. */
typedef struct counter {
    long seq; /* of the update being made */
    long dup; /* change() saw its own update applied already */
    long acked, maybe;
} counter;

static int count_change(const char *old, size_t old_len, const zkc_stat *st, char **ret_new,
                        size_t *ret_len, void *ud)
{
    (void)st;
    counter *x = ud;
    long n = 0, s = 0;
    if (old != NULL) {
        char buf[64];
        size_t m = old_len < sizeof buf - 1 ? old_len : sizeof buf - 1;
        memcpy(buf, old, m);
        buf[m] = '\0';
        sscanf(buf, "%ld %ld", &n, &s);
    }
    if (s >= x->seq)
        x->dup++;
    char out[64];
    int len = snprintf(out, sizeof out, "%ld %ld", n + 1, x->seq);
    *ret_new = strdup(out);
    *ret_len = (size_t)len;
    return *ret_new != NULL ? ZKC_OK : ZKC_ENOMEM;
}

/* Three updates of path on c (the first creates it); then the node's
 * count (read on check, a clean session) against what was acknowledged.
 * *inconsistent counts calls that returned ZKC_EINCONSISTENT. */
static void count_updates(run *r, zkc_conn *c, zkc_conn *check, const char *path,
                          long *inconsistent)
{
    counter x = {0};
    for (int i = 0; i < 3; i++) {
        x.seq++;
        int rc = zkc_retry_change(c, path, 0, NULL, count_change, &x, 0, NULL);
        if (rc == ZKC_OK) {
            x.acked++;
            continue;
        }
        x.maybe++;
        if (rc == ZKC_EINCONSISTENT && inconsistent != NULL)
            (*inconsistent)++;
        else if (!retryable(rc))
            fail(r, "update %ld: %s, not an error to retry", x.seq, zkc_strerror(rc));
    }
    if (x.dup > 0)
        fail(r, "twice: the change function saw its own update applied %ld times", x.dup);
    char *d = NULL;
    size_t len = 0;
    int rc = zkc_get(check, path, &d, &len, NULL, NULL);
    long n = 0;
    if (rc == ZKC_OK) {
        char buf[64];
        size_t m = len < sizeof buf - 1 ? len : sizeof buf - 1;
        memcpy(buf, d, m);
        buf[m] = '\0';
        sscanf(buf, "%ld", &n);
    } else if (rc != ZKC_ENONODE) {
        fail(r, "reading %s: %s", path, zkc_strerror(rc));
    }
    zkc_free(d);
    if (n < x.acked)
        fail(r, "lost: %ld updates acknowledged, %ld applied", x.acked, n);
    if (n > x.acked + x.maybe)
        fail(r, "twice: %ld updates attempted, %ld applied", x.acked + x.maybe, n);
}

static void sc_change(run *r)
{
    arm(r, r->a);
    count_updates(r, r->a, r->b, "/counter", NULL);
    finish(r);
}

/* The cell router over one cell "fc" whose connection is r->a's kind: a
 * fake session on r->tree, dialled by the cache. */
static int router_dial(const char *cell, const char *addrs, void *ud, zkc_conn **ret)
{
    (void)cell;
    (void)addrs;
    run *r = ud;
    int rc = zkc_fake_open(r->tree, ret);
    if (rc == ZKC_OK && r->inj == NULL)
        arm(r, *ret);
    return rc;
}

static void sc_router(run *r)
{
    zkc_cells_opts co = ZKC_CELLS_OPTS_INIT;
    co.config_text = "{\"fc\": \"127.0.0.1:1\"}";
    co.local_cell = "fc";
    co.ignore_env = true;
    zkc_cells *cells = NULL;
    zkc_conn_cache *cache = NULL;
    zkc_conn *router = NULL;
    if (zkc_cells_new(&co, &cells) != ZKC_OK ||
        zkc_create_recursive(r->b, "/zk/fc", NULL, 0, 0, NULL, NULL) != ZKC_OK)
        abort();
    zkc_conn_cache_opts ko = ZKC_CONN_CACHE_OPTS_INIT;
    ko.backoff_min_ms = 1;
    ko.backoff_max_ms = 20;
    ko.dial = router_dial;
    ko.dial_ud = r;
    if (zkc_conn_cache_new(cells, &ko, &cache) != ZKC_OK)
        abort();
    zkc_meta_opts mo = ZKC_META_OPTS_INIT;
    mo.backoff_min_ms = 1;
    mo.backoff_max_ms = 20;
    mo.retry_budget_ms = 2000;
    if (zkc_meta_open(cache, &mo, &router) != ZKC_OK)
        abort();
    count_updates(r, router, r->b, "/zk/fc/counter", NULL);
    finish(r);
    zkc_conn_close(router);
    zkc_cells_free(cells);
}

/* The global namespace over 3 quorums (3 trees); A's steps are counted
 * on quorum q's session. */
static void global_run(run *r, size_t q)
{
    zkc_fake_tree *trees[3] = {r->tree, zkc_fake_tree_new(), zkc_fake_tree_new()};
    zkc_conn *qs[3], *checks[3], *g = NULL;
    for (int i = 0; i < 3; i++)
        if (trees[i] == NULL || zkc_fake_open(trees[i], &qs[i]) != ZKC_OK ||
            zkc_fake_open(trees[i], &checks[i]) != ZKC_OK)
            abort();
    if (zkc_global_open(qs, 3, &g) != ZKC_OK)
        abort();
    long inconsistent = 0;
    arm(r, qs[q]);
    count_updates(r, g, checks[0], "/counter", &inconsistent);
    finish(r);
    zkc_diff *d = NULL;
    int rc = zkc_global_diff(checks, 3, "/counter", &d);
    if (rc != ZKC_OK) {
        fail(r, "diff: %s", zkc_strerror(rc));
    } else if (d->count > 0 && inconsistent == 0) {
        fail(r,
             "silent divergence: the quorums differ at %s (%s) and no call said "
             "inconsistent",
             d->v[0].path, d->v[0].detail != NULL ? d->v[0].detail : "");
    } else if (d->count > 0) {
        rc = zkc_global_repair(checks, 3, 0, "/counter", NULL);
        if (rc != ZKC_OK)
            fail(r, "repair: %s", zkc_strerror(rc));
    }
    zkc_diff_free(d);
    zkc_conn_close(g);
    for (int i = 0; i < 3; i++)
        zkc_conn_close(checks[i]);
    zkc_fake_tree_free(trees[1]);
    zkc_fake_tree_free(trees[2]);
}

static void sc_global0(run *r)
{
    global_run(r, 0);
}

static void sc_global1(run *r)
{
    global_run(r, 1);
}

/* ---- the driver ---- */

typedef struct scenario {
    const char *name;
    void (*fn)(run *r);
} scenario;

static const scenario scenarios[] = {
    {"mutex", sc_mutex},
    {"election", sc_election},
    {"queue-lock", sc_queue},
    {"pid-node", sc_pidnode},
    {"retry-change", sc_change},
    {"router+retry-change", sc_router},
    {"global+retry-change (quorum 0 lossy)", sc_global0},
    {"global+retry-change (quorum 1 lossy)", sc_global1},
};
#define NSCEN (sizeof scenarios / sizeof *scenarios)

/* One run of s with A's k-th step lost (k == 0: none).  Returns the
 * operations counted; *why the broken invariant ("" when none). */
static uint64_t run_once(const scenario *s, int k, zkc_fake_fault fault, char *why, size_t size,
                         bool *pending)
{
    run r;
    memset(&r, 0, sizeof r);
    r.k = k;
    r.fault = fault;
    hist_init(&r.h, NULL);
    r.tree = zkc_fake_tree_new();
    if (r.tree == NULL || zkc_fake_open(r.tree, &r.a) != ZKC_OK ||
        zkc_fake_open(r.tree, &r.b) != ZKC_OK)
        abort();
    s->fn(&r);
    long overlaps = hist_overlaps(&r.h) + r.h.stale_acts;
    if (overlaps > 0)
        fail(&r, "double holder: %ld overlapping holders or stale acts", overlaps);
    zkc_conn_close(r.a);
    zkc_conn_close(r.b);
    zkc_fake_tree_free(r.tree);
    hist_free(&r.h);
    snprintf(why, size, "%s", r.why);
    *pending = r.pending;
    return r.nops;
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = true;
        else
            only = argv[i];
    }
    printf("1..%zu\n", NSCEN * 2);
    int failed = 0, t = 0;
    for (size_t i = 0; i < NSCEN; i++) {
        const scenario *s = &scenarios[i];
        bool skip = only != NULL && strcmp(only, s->name) != 0;
        char why[512];
        bool pending;
        uint64_t n = skip ? 0 : run_once(s, 0, ZKC_FAKE_LOSS_BEFORE, why, sizeof why, &pending);
        static const zkc_fake_fault faults[2] = {ZKC_FAKE_LOSS_BEFORE, ZKC_FAKE_LOSS_AFTER};
        static const char *fname[2] = {"request lost", "reply lost"};
        for (int f = 0; f < 2; f++) {
            t++;
            if (skip) {
                printf("ok %d # SKIP %s / %s: not selected\n", t, s->name, fname[f]);
                continue;
            }
            if (why[0] != '\0') {
                printf("not ok %d - %s / %s: the clean run fails: %s\n", t, s->name, fname[f],
                       why);
                failed++;
                continue;
            }
            int bad = 0;
            char first[700] = "";
            for (uint64_t k = 1; k <= n; k++) {
                char w[512];
                uint64_t m = run_once(s, (int)k, faults[f], w, sizeof w, &pending);
                if (verbose)
                    printf("# %s / %s, step %llu of %llu: %llu ops%s%s%s\n", s->name, fname[f],
                           (unsigned long long)k, (unsigned long long)n, (unsigned long long)m,
                           pending ? " (the loss never came)" : "", w[0] ? ": " : "", w);
                if (w[0] != '\0') {
                    printf("# %s / %s, step %llu of %llu: %s\n", s->name, fname[f],
                           (unsigned long long)k, (unsigned long long)n, w);
                    if (bad++ == 0)
                        snprintf(first, sizeof first, "step %llu: %s", (unsigned long long)k,
                                 w);
                }
            }
            printf("%s %d - %s / %s: %llu steps, %d failed%s%s\n", bad ? "not ok" : "ok", t,
                   s->name, fname[f], (unsigned long long)n, bad, bad ? "; first: " : "",
                   first);
            fflush(stdout);
            failed += bad > 0;
        }
    }
    return failed ? 1 : 0;
}
