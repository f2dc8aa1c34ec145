/*
 * fm_workers.c: the fault matrix's components run in this process, one
 * thread per client, each with its own session: the mutex, the
 * election, the cell router with RetryChange, the queue lock, the pid
 * node, and the global namespace (3 quorums) with RetryChange.  Each
 * records what it did in its cell (history.c for holders; counters for
 * updates) and redials when its session is gone.
 *
 * Sessions are registered in the cell for the fault injector: owner < 100
 * a direct session (worker id); 100..199 a router or a global connection
 * (id + 100); >= 200 quorum q of a global connection (200 + 10 id + q).
 */
#include "fm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OWNER_WRAP(id)      ((id) + 100)
#define OWNER_QUORUM(id, q) (200 + 10 * (id) + (q))

/* ---- sessions ---- */

void fm_reg_conn(cell *c, int owner, zkc_conn *conn)
{
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < MAXCONNS; i++)
        if (c->conns[i] == NULL) {
            c->conns[i] = conn;
            c->conn_owner[i] = owner;
            break;
        }
    pthread_mutex_unlock(&c->lock);
}

static void unreg_owner(cell *c, int owner)
{
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < MAXCONNS; i++)
        if (c->conns[i] != NULL && c->conn_owner[i] == owner)
            c->conns[i] = NULL;
    pthread_mutex_unlock(&c->lock);
}

static int fake_dial(const char *cellname, const char *addrs, void *ud, zkc_conn **ret)
{
    (void)cellname;
    (void)addrs;
    worker *w = ud;
    int rc = zkc_fake_open(w->c->trees[0], ret);
    if (rc == ZKC_OK)
        fm_reg_conn(w->c, w->id, *ret);
    return rc;
}

/* A plain session on servers (the cell's, with a chroot for a quorum). */
static int zk_session(const char *servers, zkc_conn **ret)
{
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.base_timeout_ms = SESSION_MS;
    o.connect_timeout_ms = 5000;
    return zkc_zk_dial(servers, &o, ret);
}

/* Quorum q of the global namespace: a fake session on the cell's tree q,
 * or a session on the server chrooted at /gq<q>. */
static int quorum_session(cell *c, int q, zkc_conn **ret)
{
    if (c->fault == F_LOSS)
        return zkc_fake_open(c->trees[q], ret);
    char s[160];
    snprintf(s, sizeof s, "%s/gq%d", c->servers, q);
    return zk_session(s, ret);
}

static int dial_router(worker *w, zkc_conn **ret)
{
    cell *c = w->c;
    char json[256];
    snprintf(json, sizeof json, "{\"fm\": \"%s\"}", c->servers);
    zkc_cells_opts co = ZKC_CELLS_OPTS_INIT;
    co.config_text = json;
    co.local_cell = "fm";
    co.ignore_env = true;
    co.base_timeout_ms = SESSION_MS;
    co.connect_timeout_ms = 5000;
    zkc_cells *cs = NULL;
    int rc = zkc_cells_new(&co, &cs);
    zkc_conn_cache *cache = NULL;
    if (rc == ZKC_OK) {
        zkc_conn_cache_opts ko = ZKC_CONN_CACHE_OPTS_INIT;
        ko.backoff_min_ms = 50;
        ko.backoff_max_ms = 500;
        if (c->fault == F_LOSS) {
            ko.dial = fake_dial;
            ko.dial_ud = w;
        }
        rc = zkc_conn_cache_new(cs, &ko, &cache);
    }
    if (rc == ZKC_OK) {
        zkc_meta_opts mo = ZKC_META_OPTS_INIT;
        mo.backoff_min_ms = 20;
        mo.backoff_max_ms = 300;
        mo.retry_budget_ms = 5000;
        rc = zkc_meta_open(cache, &mo, ret);
        if (rc != ZKC_OK)
            zkc_conn_cache_free(cache);
    }
    /* The cells outlive the router: freed in fm_hangup(). */
    if (rc != ZKC_OK)
        zkc_cells_free(cs);
    else
        w->cells = cs;
    return rc;
}

static int dial_global(worker *w, zkc_conn **ret)
{
    cell *c = w->c;
    zkc_conn *qs[NQUORUMS] = {NULL};
    int rc = ZKC_OK;
    for (int q = 0; q < NQUORUMS && rc == ZKC_OK; q++)
        rc = quorum_session(c, q, &qs[q]);
    if (rc != ZKC_OK) {
        for (int q = 0; q < NQUORUMS; q++)
            zkc_conn_close(qs[q]);
        return rc;
    }
    rc = zkc_global_open(qs, NQUORUMS, ret); /* takes them over, also on failure */
    if (rc != ZKC_OK)
        return rc;
    for (int q = 0; q < NQUORUMS; q++) {
        w->quorums[q] = qs[q];
        fm_reg_conn(c, OWNER_QUORUM(w->id, q), qs[q]);
    }
    return ZKC_OK;
}

/* The library's log lines, into the cell's log. */
static void conn_log(zkc_log_level level, const char *msg, void *ud)
{
    (void)level;
    worker *w = ud;
    fprintf(w->c->log, "%lld worker %d: %s\n", (long long)hist_now_us(), w->id, msg);
}

/* A session for worker w: direct, a router over one cell "fm"
 * (C_COUNTER), or a global connection (C_GLOBAL).  NULL on failure
 * (counted). */
zkc_conn *fm_dial(worker *w)
{
    cell *c = w->c;
    zkc_conn *conn = NULL;
    int rc;
    if (c->comp == C_COUNTER)
        rc = dial_router(w, &conn);
    else if (c->comp == C_GLOBAL)
        rc = dial_global(w, &conn);
    else if (c->fault == F_LOSS)
        rc = zkc_fake_open(c->trees[0], &conn);
    else
        rc = zk_session(c->servers, &conn);
    if (rc != ZKC_OK) {
        fm_note_err(c, rc);
        return NULL;
    }
    bool wrapped = c->comp == C_COUNTER || c->comp == C_GLOBAL;
    fm_reg_conn(c, wrapped ? OWNER_WRAP(w->id) : w->id, conn);
    if (c->log != NULL && !wrapped)
        zkc_conn_set_log(conn, conn_log, w);
    return conn;
}

void fm_hangup(worker *w, zkc_conn *conn)
{
    cell *c = w->c;
    unreg_owner(c, w->id);
    unreg_owner(c, OWNER_WRAP(w->id));
    for (int q = 0; q < NQUORUMS; q++) {
        unreg_owner(c, OWNER_QUORUM(w->id, q));
        w->quorums[q] = NULL;
    }
    zkc_conn_close(conn);
    if (w->cells != NULL) {
        zkc_cells_free(w->cells);
        w->cells = NULL;
    }
}

/* One exists watch per session on a node nobody makes: it must end (with
 * the session's expiry or the close). */
static zkc_watch *never_watch(worker *w, zkc_conn *conn)
{
    char p[160];
    snprintf(p, sizeof p, "%s/never", w->c->prefix);
    zkc_watch *wt = NULL;
    if (zkc_exists(conn, p, NULL, NULL, &wt) != ZKC_OK)
        return NULL;
    return wt;
}

static void watch_done(cell *c, zkc_watch *wt)
{
    if (wt == NULL)
        return;
    /* The session is closed: the watch must have ended.  Generous wait for
     * the event's delivery (never a failure by time alone: a watch that
     * does not end within 30 s has not ended). */
    int fired = zkc_watch_wait(wt, 30000, NULL) == ZKC_OK || zkc_watch_fired(wt);
    pthread_mutex_lock(&c->lock);
    c->watches++;
    if (!fired)
        c->unended++;
    pthread_mutex_unlock(&c->lock);
    zkc_watch_free(wt);
}

static bool conn_ok(zkc_conn *conn)
{
    zkc_state s = zkc_conn_state(conn);
    return s == ZKC_STATE_CONNECTED || s == ZKC_STATE_RECONNECTED;
}

static bool conn_gone(zkc_conn *conn, int rc)
{
    zkc_state s = zkc_conn_state(conn);
    return rc == ZKC_ESESSIONEXPIRED || rc == ZKC_ECLOSED || s == ZKC_STATE_EXPIRED ||
           s == ZKC_STATE_CLOSED;
}

/* After a release that said OK: is our node (path) still there, owned by
 * our session?  Then it leaked. */
static void check_gone(cell *c, zkc_conn *conn, const char *path)
{
    bool exists = false;
    zkc_stat st;
    if (path == NULL || !conn_ok(conn) ||
        zkc_exists(conn, path, &exists, &st, NULL) != ZKC_OK || !exists ||
        st.ephemeral_owner != zkc_conn_session_id(conn))
        return;
    pthread_mutex_lock(&c->lock);
    c->leaked++;
    pthread_mutex_unlock(&c->lock);
    if (c->log != NULL)
        fprintf(c->log, "LEAKED %s after its release said OK\n", path);
}

/* ---- mutex ---- */

static void lock_session(worker *w, zkc_conn *conn)
{
    cell *c = w->c;
    char dir[160];
    snprintf(dir, sizeof dir, "%s/lock", c->prefix);
    zkc_lock *l = NULL;
    if (zkc_lock_new(conn, dir, NULL, &l) != ZKC_OK)
        abort();
    while (!atomic_load(&c->stop)) {
        fm_note_attempt(c);
        int rc = zkc_lock_acquire(l, 1000, c->cancel);
        if (rc == ZKC_OK) {
            fm_note_ack(c);
            size_t i = hist_begin(&c->h, w->id, zkc_lock_fencing_token(l));
            for (int k = 0; k < 10; k++) {
                if (zkc_lock_get_state(l) != ZKC_LOCK_HELD)
                    break;
                hist_act(&c->h, i);
                zkc_sleep(5, NULL);
            }
            hist_end(&c->h, i);
            const char *np = zkc_lock_node_path(l);
            char *node = np != NULL ? strdup(np) : NULL;
            if (zkc_lock_release(l) == ZKC_OK)
                check_gone(c, conn, node);
            free(node);
            zkc_sleep(2, NULL);
            continue;
        }
        if (rc == ZKC_EINTERRUPTED)
            break;
        fm_note_err(c, rc);
        if (conn_gone(conn, rc))
            break;
    }
    zkc_lock_free(l);
}

/* ---- election ---- */

static int elect_run(int64_t token, void *ud)
{
    worker *w = ud;
    cell *c = w->c;
    fm_note_attempt(c);
    size_t i = hist_begin(&c->h, w->id, token);
    int acts = 0;
    for (int k = 0; k < 10 && !atomic_load(&w->task_stop) && !atomic_load(&c->stop); k++) {
        hist_act(&c->h, i);
        acts++;
        zkc_sleep(5, NULL);
    }
    hist_end(&c->h, i);
    if (acts > 0)
        fm_note_ack(c);
    atomic_store(&w->task_stop, 0);
    return ZKC_OK;
}

static void elect_stop(void *ud)
{
    worker *w = ud;
    atomic_store(&w->task_stop, 1);
}

static bool elect_interrupted(void *ud)
{
    worker *w = ud;
    return atomic_load(&w->c->stop) != 0;
}

static void election_session(worker *w, zkc_conn *conn)
{
    cell *c = w->c;
    char path[160];
    snprintf(path, sizeof path, "%s/elect", c->prefix);
    zkc_elector_task task = {elect_run, elect_stop, elect_interrupted, w};
    zkc_election_opts eo = ZKC_ELECTION_OPTS_INIT;
    eo.min_backoff_ms = 10;
    eo.max_backoff_ms = 200;
    zkc_election *e = NULL;
    if (zkc_election_new(conn, path, &eo, &e) != ZKC_OK)
        abort();
    int rc = zkc_election_run(e, &task, c->cancel);
    if (rc != ZKC_OK && rc != ZKC_EINTERRUPTED)
        fm_note_err(c, rc);
    zkc_election_free(e);
}

/* ---- queue lock ---- */

/* Delete our own entry through connection loss (a lost reply makes the
 * next try ZKC_ENONODE), while the session lives. */
static int delete_own(zkc_conn *conn, const char *path)
{
    int rc = ZKC_OK;
    for (int i = 0; i < 100; i++) {
        rc = zkc_delete(conn, path, -1);
        if (rc == ZKC_OK || rc == ZKC_ENONODE)
            return ZKC_OK;
        if (conn_gone(conn, rc) || (rc != ZKC_ECONNECTIONLOSS && rc != ZKC_EOPERATIONTIMEOUT))
            return rc;
        zkc_sleep(20, NULL);
    }
    return rc;
}

/* One turn: a protected sequential ephemeral entry, wait to be first,
 * hold while the session is sure, delete the entry.  Returns the error
 * that ended it (ZKC_OK after a hold). */
static int qlock_turn(worker *w, zkc_conn *conn, const char *dir)
{
    cell *c = w->c;
    char base[200];
    snprintf(base, sizeof base, "%s/entry-", dir);
    zkc_protected_opts po = ZKC_PROTECTED_OPTS_INIT;
    po.timeout_ms = 10000; /* longer than a fault: a ghost entry would block the queue */
    po.cancel = c->cancel;
    char *entry = NULL;
    int rc = zkc_create_protected(conn, base, NULL, 0, ZKC_SEQUENCE | ZKC_EPHEMERAL, NULL, &po,
                                  &entry);
    if (rc != ZKC_OK)
        return rc;
    rc = zkc_queue_lock(conn, entry, 1000, c->cancel);
    zkc_stat st;
    bool exists = false;
    if (rc == ZKC_OK && (rc = zkc_exists(conn, entry, &exists, &st, NULL)) == ZKC_OK && !exists)
        rc = ZKC_ENONODE;
    if (rc == ZKC_OK) {
        fm_note_ack(c);
        size_t i = hist_begin(&c->h, w->id, st.czxid);
        /* Held while the session is sure: a suspension may end in an
         * expiry, and our entry with it. */
        for (int k = 0; k < 10 && conn_ok(conn); k++) {
            hist_act(&c->h, i);
            zkc_sleep(5, NULL);
        }
        hist_end(&c->h, i);
    }
    int drc = delete_own(conn, entry);
    if (drc == ZKC_OK)
        check_gone(c, conn, entry);
    zkc_free(entry);
    return rc;
}

static void qlock_session(worker *w, zkc_conn *conn)
{
    cell *c = w->c;
    char dir[160];
    snprintf(dir, sizeof dir, "%s/queue", c->prefix);
    while (!atomic_load(&c->stop)) {
        fm_note_attempt(c);
        int rc = qlock_turn(w, conn, dir);
        if (rc == ZKC_EINTERRUPTED)
            break;
        if (rc != ZKC_OK) {
            fm_note_err(c, rc);
            if (conn_gone(conn, rc))
                break;
        }
        zkc_sleep(2, NULL);
    }
}

/* ---- pid node ---- */

/* Is path there, an ephemeral of conn's session?  -1: could not look. */
static int ours(zkc_conn *conn, const char *path)
{
    bool exists = false;
    zkc_stat st;
    int rc = zkc_exists(conn, path, &exists, &st, NULL);
    if (rc != ZKC_OK)
        return -1;
    return exists && st.ephemeral_owner == zkc_conn_session_id(conn);
}

/* Each worker keeps its own pid node and looks at it every 20 ms: ops
 * are the looks, acked the looks that found it in place (owned by our
 * session).  Once freed it must be gone.  "lost" counts a worker whose
 * session lives at the end of the cell but whose node is not back (after
 * a generous wait). */
static void pidnode_session(worker *w, zkc_conn *conn)
{
    cell *c = w->c;
    char path[160];
    snprintf(path, sizeof path, "%s/pid-%d", c->prefix, w->id);
    zkc_pidnode_opts po = ZKC_PIDNODE_OPTS_INIT;
    po.min_delay_ms = 20;
    po.max_delay_ms = 50;
    zkc_pidnode *p = NULL;
    int rc = zkc_pidnode_create(conn, path, "1", 1, &po, &p);
    if (rc != ZKC_OK) {
        fm_note_err(c, rc);
        zkc_sleep(50, c->cancel);
        return;
    }
    while (!atomic_load(&c->stop) && !conn_gone(conn, ZKC_OK)) {
        fm_note_attempt(c);
        int o = ours(conn, path);
        if (o == 1)
            fm_note_ack(c);
        zkc_sleep(20, NULL);
    }
    if (atomic_load(&c->stop) && !conn_gone(conn, ZKC_OK)) {
        /* The end of the cell: is our node back? */
        int o = -1;
        for (int i = 0; i < 500 && o != 1 && !conn_gone(conn, ZKC_OK); i++) {
            o = ours(conn, path);
            if (o != 1)
                zkc_sleep(20, NULL);
        }
        if (o != 1 && !conn_gone(conn, ZKC_OK)) {
            pthread_mutex_lock(&c->lock);
            c->lost++;
            pthread_mutex_unlock(&c->lock);
            if (c->log != NULL)
                fprintf(c->log, "LOST pid node %s: not back on a live session\n", path);
        }
    }
    zkc_pidnode_free(p);
    check_gone(c, conn, path);
}

/* ---- counters: RetryChange through the router or the global namespace ---- */

/* Node contents: "n0:s0 n1:s1 n2:s2": per worker, updates applied and the
 * newest sequence number applied. */
typedef struct change_ctx {
    worker *w;
    zkc_conn *conn;
    int calls;         /* calls of change() in this zkc_retry_change() */
    bool prev_missing; /* the previous call saw no node */
} change_ctx;

/* Lose the reply of the write that follows, or the write itself: on the
 * router's session, or on one quorum's. */
static void inject_own(change_ctx *x, zkc_fake_fault f)
{
    worker *w = x->w;
    if (w->c->comp == C_GLOBAL) {
        zkc_fake_inject(w->quorums[rand() % NQUORUMS], f, 1);
        return;
    }
    zkc_conn *under = NULL;
    if (zkc_conn_cache_get(zkc_meta_cache(x->conn), "fm", &under) != ZKC_OK)
        return;
    zkc_fake_inject(under, f, 1);
    zkc_conn_cache_release(zkc_meta_cache(x->conn), under);
}

static void parse_counts(const char *d, size_t len, long n[NWORKERS], long s[NWORKERS])
{
    char buf[256];
    size_t m = len < sizeof buf - 1 ? len : sizeof buf - 1;
    memcpy(buf, d, m);
    buf[m] = '\0';
    char *p = buf;
    for (int i = 0; i < NWORKERS; i++) {
        char *end;
        n[i] = strtol(p, &end, 10);
        if (*end == ':')
            s[i] = strtol(end + 1, &end, 10);
        p = end;
    }
}

static int change(const char *old, size_t old_len, const zkc_stat *st, char **ret_new,
                  size_t *ret_len, void *ud)
{
    (void)st;
    change_ctx *x = ud;
    worker *w = x->w;
    long n[NWORKERS] = {0}, s[NWORKERS] = {0};
    if (old != NULL)
        parse_counts(old, old_len, n, s);
    if (s[w->id] >= w->seq) {
        w->dup_seen++; /* our own update is in already: applying again is twice */
        if (w->c->log != NULL)
            fprintf(w->c->log,
                    "TWICE worker %d seq %ld: call %d of one zkc_retry_change sees its "
                    "update applied (previous call saw the node %s)\n",
                    w->id, w->seq, x->calls + 1,
                    x->prev_missing ? "missing: the create" : "present: a set");
    }
    x->calls++;
    x->prev_missing = old == NULL;
    n[w->id]++;
    s[w->id] = w->seq;
    char out[256];
    int len = snprintf(out, sizeof out, "%ld:%ld %ld:%ld %ld:%ld", n[0], s[0], n[1], s[1], n[2],
                       s[2]);
    *ret_new = strdup(out);
    *ret_len = (size_t)len;
    if (w->c->fault == F_LOSS) {
        int r = rand() % 4;
        if (r == 0)
            inject_own(x, ZKC_FAKE_LOSS_AFTER);
        else if (r == 1)
            inject_own(x, ZKC_FAKE_LOSS_BEFORE);
    }
    return *ret_new != NULL ? ZKC_OK : ZKC_ENOMEM;
}

static void counter_session(worker *w, zkc_conn *conn)
{
    cell *c = w->c;
    char path[160];
    while (!atomic_load(&c->stop)) {
        w->seq++;
        /* A new node every COUNTER_SPAN updates: the create path
         * (a missing node) is exercised as often as the set path. */
        snprintf(path, sizeof path, "%s/counter-%ld", c->prefix, w->seq / COUNTER_SPAN);
        fm_note_attempt(c);
        change_ctx x = {w, conn, 0, false};
        int rc = zkc_retry_change(conn, path, 0, NULL, change, &x, 0, NULL);
        if (rc == ZKC_OK) {
            w->acked_ops++;
            fm_note_ack(c);
        } else {
            w->maybe_ops++;
            fm_note_err(c, rc);
            zkc_sleep(10, NULL);
            /* The global connection stays expired once a quorum's
             * session is: dial again. */
            if (c->comp == C_GLOBAL && conn_gone(conn, rc))
                break;
        }
        zkc_sleep(2, NULL);
    }
}

/* One client: a session (dialled again when it is gone), with a watch
 * that must end with it, and the component's work on it. */
void *fm_worker_main(void *arg)
{
    worker *w = arg;
    cell *c = w->c;
    void (*session)(worker *, zkc_conn *) = c->comp == C_LOCK       ? lock_session
                                            : c->comp == C_ELECTION ? election_session
                                            : c->comp == C_QLOCK    ? qlock_session
                                            : c->comp == C_PIDNODE  ? pidnode_session
                                                                    : counter_session;
    while (!atomic_load(&c->stop)) {
        zkc_conn *conn = fm_dial(w);
        if (conn == NULL) {
            zkc_sleep(50, c->cancel);
            continue;
        }
        zkc_watch *wt = never_watch(w, conn);
        session(w, conn);
        fm_hangup(w, conn);
        watch_done(c, wt);
    }
    return NULL;
}

/* ---- the counters checked ---- */

/* The views to read the counters on: the router (one), or each quorum. */
static int open_views(cell *c, worker *w0, zkc_conn *views[NQUORUMS])
{
    int n = c->comp == C_GLOBAL ? NQUORUMS : 1;
    for (int q = 0; q < n; q++) {
        views[q] = NULL;
        for (int i = 0; i < 50 && views[q] == NULL; i++) {
            int rc = c->comp == C_GLOBAL ? quorum_session(c, q, &views[q])
                                         : dial_router(w0, &views[q]);
            if (rc != ZKC_OK) {
                views[q] = NULL;
                zkc_sleep(200, NULL);
            }
        }
        if (views[q] == NULL)
            return -1;
    }
    return n;
}

/* Read path on view: ZKC_OK with the counts, ZKC_ENONODE, or the error
 * after retries. */
static int read_counts(zkc_conn *view, const char *path, long n[NWORKERS], bool *present,
                       char **ret_raw, size_t *ret_len)
{
    char *d = NULL;
    size_t len = 0;
    int rc = ZKC_ECONNECTIONLOSS;
    for (int i = 0; i < 100 && rc != ZKC_OK && rc != ZKC_ENONODE; i++) {
        rc = zkc_get(view, path, &d, &len, NULL, NULL);
        if (rc != ZKC_OK && rc != ZKC_ENONODE)
            zkc_sleep(100, NULL);
    }
    *present = rc == ZKC_OK;
    if (rc == ZKC_OK) {
        long v[NWORKERS] = {0}, s[NWORKERS] = {0};
        parse_counts(d, len, v, s);
        for (int i = 0; i < NWORKERS; i++)
            n[i] += v[i];
    }
    *ret_raw = d;
    *ret_len = len;
    return rc == ZKC_ENONODE ? ZKC_OK : rc;
}

static bool saw_error(cell *c, int code)
{
    for (int i = 0; i < c->nerrs; i++)
        if (c->errs[i].code == code)
            return true;
    return false;
}

void fm_check_counters(cell *c, worker *ws)
{
    worker w0 = {.c = c, .id = NWORKERS + 60};
    zkc_conn *views[NQUORUMS];
    int nv = open_views(c, &w0, views);
    if (nv < 0) {
        c->lost = -1; /* could not read: reported, and a failure */
        return;
    }
    long n[NQUORUMS][NWORKERS];
    memset(n, 0, sizeof n);
    long maxseq = 0, differ = 0;
    for (int i = 0; i < NWORKERS; i++)
        if (ws[i].seq > maxseq)
            maxseq = ws[i].seq;
    for (long k = 0; k <= maxseq / COUNTER_SPAN && c->lost == 0; k++) {
        char p[160];
        snprintf(p, sizeof p, "%s/counter-%ld", c->prefix, k);
        char *raw0 = NULL;
        size_t len0 = 0;
        bool present0 = false;
        for (int q = 0; q < nv; q++) {
            char *raw = NULL;
            size_t len = 0;
            bool present = false;
            if (read_counts(views[q], p, n[q], &present, &raw, &len) != ZKC_OK)
                c->lost = -1;
            if (q == 0) {
                raw0 = raw;
                len0 = len;
                present0 = present;
                continue;
            }
            if (present != present0 || len != len0 || (len > 0 && memcmp(raw, raw0, len) != 0))
                differ++;
            zkc_free(raw);
        }
        zkc_free(raw0);
    }
    for (int q = 0; q < nv; q++) {
        if (c->comp == C_GLOBAL)
            zkc_conn_close(views[q]);
        else
            fm_hangup(&w0, views[q]);
    }
    if (c->lost != 0)
        return;
    /* A divergence nobody was told of (no call said ZKC_EINCONSISTENT). */
    if (differ > 0 && !saw_error(c, ZKC_EINCONSISTENT))
        c->silent = differ;
    if (c->log != NULL && differ > 0)
        fprintf(c->log, "quorums differ at %ld counters\n", differ);
    for (int i = 0; i < NWORKERS; i++) {
        long worst_lost = 0, worst_twice = 0;
        for (int q = 0; q < nv; q++) {
            if (ws[i].acked_ops - n[q][i] > worst_lost)
                worst_lost = ws[i].acked_ops - n[q][i];
            if (n[q][i] - (ws[i].acked_ops + ws[i].maybe_ops) > worst_twice)
                worst_twice = n[q][i] - (ws[i].acked_ops + ws[i].maybe_ops);
        }
        c->lost += worst_lost;
        c->twice += worst_twice + ws[i].dup_seen;
        if (c->log != NULL)
            fprintf(c->log, "counter worker %d: node %ld acked %ld maybe %ld dup %ld\n", i,
                    n[0][i], ws[i].acked_ops, ws[i].maybe_ops, ws[i].dup_seen);
    }
}
