/*
 * test_recipes_real.c: the recipes (lock.c, election.c) against real
 * ZooKeeper 3.8 servers run with zkctl (issue 5, item 6).
 *
 *  - mutex_100: 100 threads on 6 connections take turns on one mutex.  A
 *    non-atomic read-sleep-write counter and an "inside" flag prove
 *    mutual exclusion; fencing tokens rise; everyone acquires once.
 *  - herd_free: a gate holds the lock until all 100 contenders queue and
 *    watch; then every release must wake exactly one waiter.  Counted
 *    honestly by a wrapper connection (the counting conn below, built on
 *    the implementers' interface) that sees every request the recipe
 *    sends and every exists watch it is given: the k-th holder (in
 *    order) must find exactly k+1 watch events and k+1 children listings
 *    since the gate went, and no lock node may have two watchers or two
 *    events.
 *  - election_failover: a 3-server ensemble (--tick 200); three candidates
 *    on connections pinned to one server each.  The leader's server is
 *    killed; its task must be stopped, and run must have returned, before
 *    the next leader's task starts (monotonic timestamps); the next in
 *    line takes over, and only it.
 *  - queue_lock_real, pidnode_real: ObtainQueueLock serves 30 entries
 *    one at a time in queue order, each watching only its predecessor;
 *    a pid node deleted from outside is made again, and deleted on free.
 *  - lock_expiry: a holder whose session is ended from outside (a raw
 *    client joins the session and closes it, zk_test_expire()) must see
 *    IN_DOUBT or LOST before the waiting contender holds the lock, and end
 *    LOST; its expired connection cannot queue again.
 *  - lock_expiry_partition: the same with a real expiry: the holder's only
 *    server (of the ensemble) is killed and the quorum expires its
 *    session; the holder is IN_DOUBT, never HELD again, from the kill
 *    until the other holds, and LOST once its server is back.
 *
 * Servers: one standalone for the group (client port in 23200-23289)
 * and an ensemble for the election (client ports 23300-23329, quorum
 * +30, election +60).  Every server started here is stopped by the test
 * that started it (its teardown runs even when it fails), at exit, and
 * on TERM/INT by the pids zkctl recorded.  Without ZKCTL the tests are
 * left out with a "# SKIP" line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "zk_test_util.h"
#include <zkcell/sys/conn_impl.h>

#define OK(expr) assert_int_equal(ZKC_OK, (expr))

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ms(void)
{
    return now_ns() / 1000000;
}

/* ------------------------------------------------------------------ */
/* Servers: a registry, so that everything started is stopped.         */
/* ------------------------------------------------------------------ */

#define MAX_CLUSTERS 4
static struct {
    char dir[64];
    int n;
    volatile pid_t pid[3];
} clusters[MAX_CLUSTERS];
static pthread_mutex_t clusters_mu = PTHREAD_MUTEX_INITIALIZER;

static void cluster_refresh_pids(int k)
{
    for (int m = 0; m < clusters[k].n; m++)
        clusters[k].pid[m] = zk_test_member_pid(clusters[k].dir, m + 1);
}

/* Stop and remove cluster k (idempotent). */
static void cluster_stop(int k)
{
    pthread_mutex_lock(&clusters_mu);
    char dir[64];
    memcpy(dir, clusters[k].dir, sizeof dir);
    clusters[k].dir[0] = '\0';
    pthread_mutex_unlock(&clusters_mu);
    if (dir[0] == '\0')
        return;
    zk_test_zkctl(dir, "stop");
    zk_test_zkctl(dir, "teardown");
    rmdir(dir);
}

static void clusters_stop_all(void)
{
    for (int k = 0; k < MAX_CLUSTERS; k++)
        cluster_stop(k);
}

static void clusters_signal(int sig)
{
    for (int k = 0; k < MAX_CLUSTERS; k++)
        if (clusters[k].dir[0] != '\0')
            for (int m = 0; m < clusters[k].n; m++)
                if (clusters[k].pid[m] > 0)
                    kill(clusters[k].pid[m], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Start n servers with zkctl args; the cluster's index, or -1. */
static int cluster_start(int n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cluster_start(int n, const char *fmt, ...)
{
    static int hooked;
    if (!hooked) {
        hooked = 1;
        atexit(clusters_stop_all);
        signal(SIGTERM, clusters_signal);
        signal(SIGINT, clusters_signal);
    }
    int k;
    pthread_mutex_lock(&clusters_mu);
    for (k = 0; k < MAX_CLUSTERS && clusters[k].dir[0] != '\0'; k++)
        ;
    if (k == MAX_CLUSTERS) {
        pthread_mutex_unlock(&clusters_mu);
        return -1;
    }
    snprintf(clusters[k].dir, sizeof clusters[k].dir, "/tmp/zkc-it-recipes-XXXXXX");
    if (mkdtemp(clusters[k].dir) == NULL) {
        clusters[k].dir[0] = '\0';
        pthread_mutex_unlock(&clusters_mu);
        return -1;
    }
    clusters[k].n = n;
    pthread_mutex_unlock(&clusters_mu);
    char args[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int rc = zk_test_zkctl(clusters[k].dir, "start %s", args);
    cluster_refresh_pids(k);
    if (rc != 0) {
        cluster_stop(k);
        return -1;
    }
    return k;
}

/* ------------------------------------------------------------------ */
/* The counting connection: forwards to a real one, counts.            */
/* ------------------------------------------------------------------ */

#define MAX_PATHS 512

typedef struct cstats {
    pthread_mutex_t mu;
    char prefix[64];    /* only paths under this folder are counted */
    int children;       /* children requests on the folder itself */
    int exists_watch;   /* exists with a watch, answered */
    int exists_missing; /* ... of which found no node */
    int fires;          /* events of those watches */
    int fires_deleted;
    int other_events;
    int npaths;
    struct {
        char path[96];
        int sets;
        int fires;
    } p[MAX_PATHS];
} cstats;

static cstats stats = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void stats_reset(const char *prefix)
{
    pthread_mutex_lock(&stats.mu);
    stats.children = stats.exists_watch = stats.exists_missing = 0;
    stats.fires = stats.fires_deleted = stats.other_events = 0;
    stats.npaths = 0;
    snprintf(stats.prefix, sizeof stats.prefix, "%s", prefix);
    pthread_mutex_unlock(&stats.mu);
}

/* The path's entry; stats.mu held. */
static int stats_path(const char *path)
{
    for (int i = 0; i < stats.npaths; i++)
        if (strcmp(stats.p[i].path, path) == 0)
            return i;
    if (stats.npaths == MAX_PATHS)
        return -1;
    int i = stats.npaths++;
    snprintf(stats.p[i].path, sizeof stats.p[i].path, "%s", path);
    stats.p[i].sets = stats.p[i].fires = 0;
    return i;
}

static bool under_prefix(const char *path)
{
    size_t n = strlen(stats.prefix);
    return n > 0 && strncmp(path, stats.prefix, n) == 0 && path[n] == '/';
}

static void stats_snapshot(int *children, int *fires)
{
    pthread_mutex_lock(&stats.mu);
    *children = stats.children;
    *fires = stats.fires;
    pthread_mutex_unlock(&stats.mu);
}

typedef struct cconn {
    struct zkc_conn base; /* first */
    zkc_conn *inner;
} cconn;

typedef struct cctx {
    zkc_done_fn done;
    void *ud;
    zkc_op op;
    unsigned flags;
} cctx;

static void cc_watch_fired(zkc_watch *w, const zkc_event *ev, void *ud)
{
    (void)w;
    (void)ud;
    pthread_mutex_lock(&stats.mu);
    if (ev->type == ZKC_EVENT_DELETED || ev->type == ZKC_EVENT_CREATED ||
        ev->type == ZKC_EVENT_CHANGED) {
        stats.fires++;
        if (ev->type == ZKC_EVENT_DELETED)
            stats.fires_deleted++;
        int i = stats_path(ev->path);
        if (i >= 0)
            stats.p[i].fires++;
    } else {
        stats.other_events++; /* expired, closed */
    }
    pthread_mutex_unlock(&stats.mu);
}

static void cc_done(const zkc_result *res, void *ud)
{
    cctx *x = ud;
    if (x->op == ZKC_OP_EXISTS && (x->flags & ZKC_WATCH) && res->rc == ZKC_OK) {
        pthread_mutex_lock(&stats.mu);
        bool counted = under_prefix(res->path);
        if (counted) {
            stats.exists_watch++;
            if (res->stat == NULL)
                stats.exists_missing++;
            int i = stats_path(res->path);
            if (i >= 0)
                stats.p[i].sets++;
        }
        pthread_mutex_unlock(&stats.mu);
        /* Before the recipe sees the watch: it only waits on it. */
        if (counted && res->watch != NULL)
            zkc_watch_set_callback(res->watch, cc_watch_fired, NULL);
    }
    x->done(res, x->ud);
    free(x);
}

static int cc_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *ud)
{
    cconn *cc = (cconn *)c;
    cctx *x = malloc(sizeof *x);
    if (x == NULL)
        return ZKC_ENOMEM;
    *x = (cctx){done, ud, req->op, req->flags};
    if (req->op == ZKC_OP_CHILDREN) {
        pthread_mutex_lock(&stats.mu);
        if (stats.prefix[0] != '\0' && strcmp(req->path, stats.prefix) == 0)
            stats.children++;
        pthread_mutex_unlock(&stats.mu);
    }
    int rc = zkc_submit(cc->inner, req, cc_done, x);
    if (rc != ZKC_OK)
        free(x);
    return rc;
}

static void cc_close(zkc_conn *c)
{
    cconn *cc = (cconn *)c;
    zkc_conn_close(cc->inner);
    zkc_impl_conn_fini(&cc->base);
    free(cc);
}

static int64_t cc_session_id(zkc_conn *c)
{
    return zkc_conn_session_id(((cconn *)c)->inner);
}

/* Designated: later members of the table (multi, ...) stay NULL, which
 * the recipes do not need. */
static const struct zkc_conn_ops cc_ops = {
    .version = 1,
    .name = "counting",
    .submit = cc_submit,
    .close = cc_close,
    .session_id = cc_session_id,
};

static void cc_forward_state(zkc_conn *inner, zkc_state s, void *ud)
{
    (void)inner;
    zkc_impl_conn_set_state(ud, s);
}

/* Wrap inner (taken over: closed with the wrapper). */
static zkc_conn *cc_wrap(zkc_conn *inner)
{
    cconn *cc = calloc(1, sizeof *cc);
    if (cc == NULL || zkc_impl_conn_init(&cc->base, &cc_ops, "counting") != ZKC_OK) {
        free(cc);
        zkc_conn_close(inner);
        return NULL;
    }
    cc->inner = inner;
    zkc_conn_set_state_callback(inner, cc_forward_state, &cc->base);
    zkc_impl_conn_set_state(&cc->base, zkc_conn_state(inner));
    return &cc->base;
}

/* ------------------------------------------------------------------ */
/* Helpers.                                                            */
/* ------------------------------------------------------------------ */

static char solo_addr[64]; /* the group's standalone server */
static int solo_port;
static int solo_k = -1;

static zkc_conn *dial_opts(const char *addrs, int session_ms)
{
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.base_timeout_ms = session_ms;
    o.connect_timeout_ms = 15000;
    zkc_conn *c = NULL;
    int rc = zkc_zk_dial(addrs, &o, &c);
    if (rc != ZKC_OK)
        fail_msg("dial %s: %s", addrs, zkc_errmsg());
    return c;
}

static int count_children(zkc_conn *c, const char *dir)
{
    zkc_strings *kids = NULL;
    int rc = zkc_children(c, dir, &kids, NULL, NULL);
    if (rc == ZKC_ENONODE)
        return 0;
    if (rc != ZKC_OK)
        return -1;
    int n = (int)kids->count;
    zkc_strings_free(kids);
    return n;
}

/* Send a four-letter word to 127.0.0.1:port; the answer (NUL-terminated,
 * truncated to size) or -1. */
static int four_lw(int port, const char *cmd, char *buf, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t n = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd)) {
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == size - 1)
            break;
    }
    close(fd);
    buf[n] = '\0';
    return (int)n;
}

/* From "wchp": how many paths under dir/ are watched, the most sessions
 * watching one of them, and whether dir itself is watched. */
static void server_watches(int port, const char *dir, int *paths, int *max_watchers,
                           bool *dir_watched)
{
    static char buf[1 << 20];
    *paths = *max_watchers = 0;
    *dir_watched = false;
    assert_true(four_lw(port, "wchp", buf, sizeof buf) > 0);
    size_t dl = strlen(dir);
    int cur = -1; /* watchers of the current path, -1: not ours */
    for (char *line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (line[0] == '/') {
            cur = -1;
            if (strcmp(line, dir) == 0)
                *dir_watched = true;
            else if (strncmp(line, dir, dl) == 0 && line[dl] == '/') {
                cur = 0;
                ++*paths;
            }
        } else if (cur >= 0 && strstr(line, "0x") != NULL) {
            if (++cur > *max_watchers)
                *max_watchers = cur;
        }
    }
}

/* ------------------------------------------------------------------ */
/* (a) and (b): 100 contenders on one mutex.                           */
/* ------------------------------------------------------------------ */

#define NCONN 6
#define NTHR  100

typedef struct mutex_run {
    zkc_conn *conns[NCONN];
    zkc_conn *obs; /* plain, not counted: the test's own looks */
    const char *dir;
    pthread_barrier_t start;
    bool use_barrier;
    atomic_int inside;
    atomic_int violations;
    atomic_int errors;
    atomic_int last_error;
    int counter;        /* plain: guarded by the lock under test only */
    int64_t last_token; /* ditto */
    int acquired[NTHR];
    /* herd_free: what the k-th holder saw since the gate was released */
    int children_at_gate;
    int fires_at_gate;
    int saw_children[NTHR];
    int saw_fires[NTHR];
} mutex_run;

typedef struct contender {
    mutex_run *r;
    int idx;
} contender;

static void *contender_main(void *arg)
{
    contender *ct = arg;
    mutex_run *r = ct->r;
    if (r->use_barrier)
        pthread_barrier_wait(&r->start);
    zkc_lock *l = NULL;
    int rc = zkc_lock_new(r->conns[ct->idx % NCONN], r->dir, NULL, &l);
    if (rc == ZKC_OK)
        rc = zkc_lock_acquire(l, 60000, NULL);
    if (rc != ZKC_OK) {
        atomic_fetch_add(&r->errors, 1);
        atomic_store(&r->last_error, rc);
        fprintf(stderr, "# contender %d: %s\n", ct->idx, zkc_errmsg());
        zkc_lock_free(l);
        return NULL;
    }
    /* The critical section. */
    if (atomic_exchange(&r->inside, 1) != 0)
        atomic_fetch_add(&r->violations, 1);
    int64_t token = zkc_lock_fencing_token(l);
    if (token <= r->last_token || zkc_lock_get_state(l) != ZKC_LOCK_HELD)
        atomic_fetch_add(&r->violations, 1);
    r->last_token = token;
    int k = r->counter;
    if (k >= 0 && k < NTHR) {
        int ch, fi;
        stats_snapshot(&ch, &fi);
        r->saw_children[k] = ch - r->children_at_gate;
        r->saw_fires[k] = fi - r->fires_at_gate;
    }
    usleep(500 + (unsigned)(zkc_impl_random() % 1000));
    if (atomic_load(&r->inside) != 1 || zkc_lock_get_state(l) != ZKC_LOCK_HELD)
        atomic_fetch_add(&r->violations, 1);
    r->counter = k + 1;
    r->acquired[ct->idx]++;
    atomic_store(&r->inside, 0);
    rc = zkc_lock_release(l);
    if (rc != ZKC_OK) {
        atomic_fetch_add(&r->errors, 1);
        atomic_store(&r->last_error, rc);
    }
    zkc_lock_free(l);
    return NULL;
}

static mutex_run *mutex_run_new(const char *dir)
{
    mutex_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->dir = dir;
    for (int i = 0; i < NCONN; i++) {
        r->conns[i] = cc_wrap(dial_opts(solo_addr, 10000));
        assert_non_null(r->conns[i]);
    }
    r->obs = dial_opts(solo_addr, 10000);
    return r;
}

static void mutex_run_free(mutex_run *r)
{
    for (int i = 0; i < NCONN; i++)
        zkc_conn_close(r->conns[i]);
    zkc_conn_close(r->obs);
    free(r);
}

/* Per-path: no lock node watched twice or fired twice. */
static void assert_one_watcher_per_node(int *max_sets, int *max_fires)
{
    pthread_mutex_lock(&stats.mu);
    *max_sets = *max_fires = 0;
    for (int i = 0; i < stats.npaths; i++) {
        if (stats.p[i].sets > *max_sets)
            *max_sets = stats.p[i].sets;
        if (stats.p[i].fires > *max_fires)
            *max_fires = stats.p[i].fires;
    }
    pthread_mutex_unlock(&stats.mu);
    assert_true(*max_sets <= 1);
    assert_true(*max_fires <= 1);
}

static void test_mutex_100(void **state)
{
    (void)state;
    const char *dir = "/recipes/mutex";
    stats_reset(dir);
    mutex_run *r = mutex_run_new(dir);
    r->use_barrier = true;
    pthread_barrier_init(&r->start, NULL, NTHR);
    pthread_t th[NTHR];
    contender ct[NTHR];
    int64_t t0 = now_ms();
    for (int i = 0; i < NTHR; i++) {
        ct[i] = (contender){r, i};
        assert_int_equal(0, pthread_create(&th[i], NULL, contender_main, &ct[i]));
    }
    for (int i = 0; i < NTHR; i++)
        pthread_join(th[i], NULL);
    int64_t took = now_ms() - t0;
    pthread_barrier_destroy(&r->start);

    print_message("# mutex: %d contenders on %d connections: %lld ms; children %d, "
                  "exists+watch %d (missing %d), watch events %d\n",
                  NTHR, NCONN, (long long)took, stats.children, stats.exists_watch,
                  stats.exists_missing, stats.fires);
    assert_int_equal(0, atomic_load(&r->errors));
    assert_int_equal(0, atomic_load(&r->violations));
    assert_int_equal(NTHR, r->counter);
    for (int i = 0; i < NTHR; i++)
        assert_int_equal(1, r->acquired[i]);
    /* Each waiter watched only its predecessor; each deletion woke at
     * most one; nobody listed the folder except on entry and on a wake
     * (or when its predecessor was already gone). */
    int max_sets, max_fires;
    assert_one_watcher_per_node(&max_sets, &max_fires);
    assert_int_equal(0, stats.other_events);
    assert_true(stats.fires <= stats.exists_watch - stats.exists_missing);
    assert_int_equal(NTHR + stats.fires + stats.exists_missing, stats.children);
    /* Nothing left behind. */
    assert_int_equal(0, count_children(r->obs, dir));
    mutex_run_free(r);
}

static void test_herd_free(void **state)
{
    (void)state;
    const char *dir = "/recipes/herd";
    stats_reset(dir);
    mutex_run *r = mutex_run_new(dir);
    r->use_barrier = false;
    r->children_at_gate = 1 << 30; /* the gate's listing is not recorded */

    /* The gate holds the lock while everyone queues. */
    zkc_lock *gate = NULL;
    OK(zkc_lock_new(r->conns[0], dir, NULL, &gate));
    OK(zkc_lock_acquire(gate, 10000, NULL));
    r->last_token = zkc_lock_fencing_token(gate);
    stats_reset(dir); /* count the contenders only */

    pthread_t th[NTHR];
    contender ct[NTHR];
    for (int i = 0; i < NTHR; i++) {
        ct[i] = (contender){r, i};
        assert_int_equal(0, pthread_create(&th[i], NULL, contender_main, &ct[i]));
    }
    /* Wait until all 100 wait on a watch. */
    int64_t deadline = now_ms() + 30000;
    int watching = 0;
    while (now_ms() < deadline) {
        pthread_mutex_lock(&stats.mu);
        watching = stats.exists_watch;
        pthread_mutex_unlock(&stats.mu);
        if (watching >= NTHR)
            break;
        zkc_sleep(10, NULL);
    }
    assert_int_equal(NTHR, watching);
    assert_int_equal(NTHR + 1, count_children(r->obs, dir));
    /* The server's own view: every lock node but the last watched by
     * exactly one session, and nobody watching the folder. */
    int wpaths = 0, wmax = 0;
    bool dir_watched = true;
    server_watches(solo_port, dir, &wpaths, &wmax, &dir_watched);
    print_message("# herd: the server sees %d lock nodes watched, at most %d watcher(s) each; "
                  "folder watched: %s\n",
                  wpaths, wmax, dir_watched ? "yes" : "no");
    assert_int_equal(NTHR, wpaths);
    assert_int_equal(1, wmax);
    assert_false(dir_watched);
    int ch0, fi0;
    stats_snapshot(&ch0, &fi0);
    assert_int_equal(NTHR, ch0); /* one listing each, on entry */
    assert_int_equal(0, fi0);
    r->fires_at_gate = fi0;
    r->children_at_gate = ch0;

    int64_t t0 = now_ms();
    OK(zkc_lock_release(gate));
    for (int i = 0; i < NTHR; i++)
        pthread_join(th[i], NULL);
    int64_t took = now_ms() - t0;
    zkc_lock_free(gate);

    int ch1, fi1;
    stats_snapshot(&ch1, &fi1);
    print_message("# herd: %d queued waiters drained in %lld ms; after the gate: %d listings, "
                  "%d watch events (%d deleted); exists+watch %d, missing %d\n",
                  NTHR, (long long)took, ch1 - ch0, fi1 - fi0, stats.fires_deleted,
                  stats.exists_watch, stats.exists_missing);
    assert_int_equal(0, atomic_load(&r->errors));
    assert_int_equal(0, atomic_load(&r->violations));
    assert_int_equal(NTHR, r->counter);
    for (int i = 0; i < NTHR; i++)
        assert_int_equal(1, r->acquired[i]);
    /* Release k (the gate's, then each holder's) woke exactly one waiter:
     * the k-th holder saw exactly k+1 events and k+1 listings.  (Its own
     * event may still be being counted on the connection's thread when it
     * looks, so k or k+1 events; never more: that would be a herd.) */
    int bad = -1;
    for (int k = 0; k < NTHR && bad < 0; k++)
        if (r->saw_children[k] != k + 1 || r->saw_fires[k] > k + 1 || r->saw_fires[k] < k)
            bad = k;
    if (bad >= 0)
        fail_msg("holder %d saw %d listings and %d watch events since the gate (want %d)", bad,
                 r->saw_children[bad], r->saw_fires[bad], bad + 1);
    /* Every release but the last woke one waiter, and only the lock-node
     * deletions fired. */
    assert_int_equal(NTHR, fi1 - fi0);
    assert_int_equal(NTHR, stats.fires_deleted);
    assert_int_equal(NTHR, ch1 - ch0);
    assert_int_equal(NTHR, stats.exists_watch);
    assert_int_equal(0, stats.exists_missing);
    int max_sets, max_fires;
    assert_one_watcher_per_node(&max_sets, &max_fires);
    assert_int_equal(0, count_children(r->obs, dir));
    mutex_run_free(r);
}

/* ------------------------------------------------------------------ */
/* The queue lock and the pid node, briefly.                           */
/* ------------------------------------------------------------------ */

#define NQ 30

typedef struct queue_run {
    zkc_conn *conns[NCONN];
    atomic_int inside, violations, errors;
    int64_t last_seq; /* guarded by the queue under test */
    int served;
} queue_run;

typedef struct queue_arg {
    queue_run *r;
    int idx;
} queue_arg;

static void *queuer_main(void *arg)
{
    queue_arg *qa = arg;
    queue_run *r = qa->r;
    zkc_conn *c = r->conns[qa->idx % NCONN];
    char *entry = NULL;
    int rc =
        zkc_create(c, "/recipes/queue/q-", NULL, 0, ZKC_EPHEMERAL | ZKC_SEQUENCE, NULL, &entry);
    if (rc == ZKC_OK)
        rc = zkc_queue_lock(c, entry, 30000, NULL);
    if (rc != ZKC_OK) {
        fprintf(stderr, "# queuer %d: %s\n", qa->idx, zkc_errmsg());
        atomic_fetch_add(&r->errors, 1);
        if (entry != NULL)
            zkc_delete(c, entry, -1);
        zkc_free(entry);
        return NULL;
    }
    if (atomic_exchange(&r->inside, 1) != 0)
        atomic_fetch_add(&r->violations, 1);
    int64_t seq = atoll(entry + strlen(entry) - 10);
    if (seq <= r->last_seq) /* served in the order of the queue */
        atomic_fetch_add(&r->violations, 1);
    r->last_seq = seq;
    int k = r->served;
    usleep(500);
    r->served = k + 1;
    atomic_store(&r->inside, 0);
    if (zkc_delete(c, entry, -1) != ZKC_OK)
        atomic_fetch_add(&r->errors, 1);
    zkc_free(entry);
    return NULL;
}

static void test_queue_lock_real(void **state)
{
    (void)state;
    const char *dir = "/recipes/queue";
    stats_reset(dir);
    queue_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->last_seq = -1;
    for (int i = 0; i < NCONN; i++)
        assert_non_null(r->conns[i] = cc_wrap(dial_opts(solo_addr, 10000)));
    OK(zkc_create_recursive(r->conns[0], dir, NULL, 0, 0, NULL, NULL));
    /* A foreign child without a sequence suffix is ignored. */
    OK(zkc_create(r->conns[0], "/recipes/queue/readme", NULL, 0, 0, NULL, NULL));
    pthread_t th[NQ];
    queue_arg qa[NQ];
    for (int i = 0; i < NQ; i++) {
        qa[i] = (queue_arg){r, i};
        assert_int_equal(0, pthread_create(&th[i], NULL, queuer_main, &qa[i]));
    }
    for (int i = 0; i < NQ; i++)
        pthread_join(th[i], NULL);
    print_message("# queue lock: %d entries; children %d, exists+watch %d (missing %d), "
                  "watch events %d\n",
                  NQ, stats.children, stats.exists_watch, stats.exists_missing, stats.fires);
    assert_int_equal(0, atomic_load(&r->errors));
    assert_int_equal(0, atomic_load(&r->violations));
    assert_int_equal(NQ, r->served);
    int max_sets, max_fires;
    assert_one_watcher_per_node(&max_sets, &max_fires);
    assert_int_equal(NQ + stats.fires + stats.exists_missing, stats.children);
    assert_int_equal(1, count_children(r->conns[0], dir)); /* the readme */
    for (int i = 0; i < NCONN; i++)
        zkc_conn_close(r->conns[i]);
    free(r);
}

static void test_pidnode_real(void **state)
{
    (void)state;
    zkc_conn *a = dial_opts(solo_addr, 10000);
    zkc_conn *b = dial_opts(solo_addr, 10000);
    OK(zkc_create_recursive(a, "/recipes/pid", NULL, 0, 0, NULL, NULL));
    zkc_pidnode_opts po = ZKC_PIDNODE_OPTS_INIT;
    po.min_delay_ms = 20;
    po.max_delay_ms = 50;
    zkc_pidnode *p = NULL;
    OK(zkc_pidnode_create(a, "/recipes/pid/me", "1234", 4, &po, &p));
    zkc_stat st;
    bool exists = false;
    OK(zkc_exists(b, "/recipes/pid/me", &exists, &st, NULL));
    assert_true(exists);
    assert_int_equal(zkc_conn_session_id(a), st.ephemeral_owner);
    /* Deleted by someone else: made again by the keeper.  The keeper
     * counts a re-creation after its create returned, which may be after
     * another client already sees the node: wait for the count (the
     * event), then look at the node. */
    OK(zkc_delete(b, "/recipes/pid/me", -1));
    int64_t deadline = now_ms() + 30000;
    while (zkc_pidnode_recreated(p) < 1 && now_ms() < deadline)
        zkc_sleep(10, NULL);
    assert_true(zkc_pidnode_recreated(p) >= 1);
    OK(zkc_exists(b, "/recipes/pid/me", &exists, &st, NULL));
    assert_true(exists);
    assert_int_equal(zkc_conn_session_id(a), st.ephemeral_owner);
    char *data = NULL;
    size_t len = 0;
    OK(zkc_get(b, "/recipes/pid/me", &data, &len, NULL, NULL));
    assert_int_equal(4, len);
    assert_memory_equal("1234", data, 4);
    zkc_free(data);
    zkc_pidnode_free(p);
    OK(zkc_exists(b, "/recipes/pid/me", &exists, NULL, NULL));
    assert_false(exists); /* deleted on free */
    zkc_conn_close(a);
    zkc_conn_close(b);
}

/* ------------------------------------------------------------------ */
/* (d) a holder whose session expires.                                 */
/* ------------------------------------------------------------------ */

typedef struct expiry_rec {
    atomic_llong first_doubt_ns; /* IN_DOUBT or LOST, first seen */
    atomic_llong lost_ns;
    atomic_llong held_ns;
    atomic_int states[8];
    atomic_llong times[8];
    atomic_int nstates;
} expiry_rec;

static void on_holder_state(zkc_lock *l, zkc_lock_state s, void *ud)
{
    (void)l;
    expiry_rec *e = ud;
    int64_t t = now_ns();
    int n = atomic_fetch_add(&e->nstates, 1);
    if (n < 8) {
        atomic_store(&e->times[n], t);
        atomic_store(&e->states[n], (int)s);
    }
    if (s == ZKC_LOCK_IN_DOUBT || s == ZKC_LOCK_LOST) {
        long long zero = 0;
        atomic_compare_exchange_strong(&e->first_doubt_ns, &zero, t);
    }
    if (s == ZKC_LOCK_LOST)
        atomic_store(&e->lost_ns, t);
    if (s == ZKC_LOCK_HELD)
        atomic_store(&e->held_ns, t);
}

typedef struct waiter_arg {
    zkc_lock *l;
    int rc;
    int64_t returned_ns;
} waiter_arg;

static void *waiter_main(void *arg)
{
    waiter_arg *w = arg;
    w->rc = zkc_lock_acquire(w->l, 30000, NULL);
    w->returned_ns = now_ns();
    return NULL;
}

/* What the holder believed when the other came to hold (its last state
 * change before held_ns), and whether it had held again after a doubt
 * by then. */
static zkc_lock_state state_at(expiry_rec *e, int64_t t, bool *reheld)
{
    zkc_lock_state at = ZKC_LOCK_UNLOCKED;
    bool doubted = false;
    *reheld = false;
    for (int i = 0; i < atomic_load(&e->nstates) && i < 8; i++) {
        if (atomic_load(&e->times[i]) >= t)
            break;
        at = (zkc_lock_state)atomic_load(&e->states[i]);
        if (at == ZKC_LOCK_IN_DOUBT)
            doubted = true;
        else if (at == ZKC_LOCK_HELD && doubted)
            *reheld = true;
    }
    return at;
}

static void states_text(expiry_rec *e, int64_t t0, char *out, size_t size)
{
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; i < atomic_load(&e->nstates) && i < 8 && off < size; i++)
        off += (size_t)snprintf(out + off, size - off, " %s@%.1f",
                                zkc_lock_state_name((zkc_lock_state)atomic_load(&e->states[i])),
                                (atomic_load(&e->times[i]) - t0) / 1e6);
}

/* Records that outlive a failed test (the callbacks may still run). */
static expiry_rec ea, eb;
static waiter_arg wa;

/*
 * The holder on a, a waiter on b; end a's session with end_session(),
 * whose return is when it began; the waiter must hold after the holder
 * stopped believing.
 */
typedef struct expiry_case {
    const char *dir;
    zkc_conn *a, *b;
    zkc_lock *la, *lb;
} expiry_case;

static void expiry_begin(expiry_case *x)
{
    memset(&ea, 0, sizeof ea);
    memset(&eb, 0, sizeof eb);
    OK(zkc_lock_new(x->a, x->dir, NULL, &x->la));
    OK(zkc_lock_new(x->b, x->dir, NULL, &x->lb));
    zkc_lock_set_callback(x->la, on_holder_state, &ea);
    zkc_lock_set_callback(x->lb, on_holder_state, &eb);
    OK(zkc_lock_acquire(x->la, 10000, NULL));
    assert_int_equal(ZKC_LOCK_HELD, zkc_lock_get_state(x->la));
    wa = (waiter_arg){x->lb, -1, 0};
}

static void expiry_wait_queued(expiry_case *x)
{
    int64_t deadline = now_ms() + 10000;
    while (count_children(x->b, x->dir) < 2 && now_ms() < deadline)
        zkc_sleep(10, NULL);
    assert_int_equal(2, count_children(x->b, x->dir));
    assert_int_equal(ZKC_LOCK_UNLOCKED, zkc_lock_get_state(x->lb));
    assert_int_equal(ZKC_LOCK_HELD, zkc_lock_get_state(x->la));
}

static void expiry_end(expiry_case *x)
{
    assert_int_equal(ZKC_LOCK_LOST, zkc_lock_get_state(x->la));
    assert_int_equal(ZKC_STATE_EXPIRED, zkc_conn_state(x->a));
    assert_true(zkc_lock_fencing_token(x->lb) > 0);
    assert_int_equal(0, zkc_lock_fencing_token(x->la));
    /* An expired connection cannot queue again, and says so
     * (ZKC_ESESSIONEXPIRED, not ZKC_ETIMEDOUT after the wait). */
    assert_int_equal(ZKC_ESESSIONEXPIRED, zkc_lock_acquire(x->la, 5000, NULL));
    assert_int_equal(ZKC_LOCK_UNLOCKED, zkc_lock_get_state(x->la));
    OK(zkc_lock_release(x->la));
    OK(zkc_lock_release(x->lb));
    assert_int_equal(0, count_children(x->b, x->dir));
    zkc_lock_free(x->la);
    zkc_lock_free(x->lb);
    zkc_conn_close(x->a);
    zkc_conn_close(x->b);
}

static void wait_lock_state(zkc_lock *l, zkc_lock_state s, int ms)
{
    int64_t deadline = now_ms() + ms;
    while (zkc_lock_get_state(l) != s && now_ms() < deadline)
        zkc_sleep(10, NULL);
}

/* (d) The session ended from outside with zk_test_expire(). */
static void test_lock_expiry(void **state)
{
    (void)state;
    expiry_case x = {.dir = "/recipes/expiry"};
    x.a = dial_opts(solo_addr, 4000);
    x.b = dial_opts(solo_addr, 4000);
    expiry_begin(&x);
    pthread_t th;
    assert_int_equal(0, pthread_create(&th, NULL, waiter_main, &wa));
    expiry_wait_queued(&x);

    int64_t t0 = now_ns();
    int rc = zk_test_expire(solo_addr, x.a);
    pthread_join(th, NULL);
    OK(rc);
    OK(wa.rc);
    int64_t doubt = atomic_load(&ea.first_doubt_ns);
    int64_t held = atomic_load(&eb.held_ns);
    char seen[256];
    states_text(&ea, t0, seen, sizeof seen);
    bool reheld = false;
    zkc_lock_state at = state_at(&ea, held, &reheld);
    print_message(
        "# expiry (from outside): the other holds at %.1f ms; holder's states (ms):%s\n",
        (held - t0) / 1e6, seen);
    /* The holder stopped believing before the other held. */
    assert_true(doubt > 0);
    assert_true(held > 0);
    assert_true(doubt < held);
    /* The helper's raw handle and ours steal the session from each other
     * until the raw one closes it: a reconnect in between may (rightly)
     * find our node still there and hold again, and a close sent then
     * gives no warning before the node goes.  Only then may the holder
     * still have believed HELD when the other came to hold. */
    if (at != ZKC_LOCK_IN_DOUBT && at != ZKC_LOCK_LOST) {
        assert_int_equal(ZKC_LOCK_HELD, at);
        assert_true(reheld);
        print_message("# note: the holder held again after a session steal-back, then the "
                      "close came without warning\n");
    }
    wait_lock_state(x.la, ZKC_LOCK_LOST, 10000);
    assert_int_equal(ZKC_LOCK_HELD, zkc_lock_get_state(x.lb));
    expiry_end(&x);
}

/* (d') A real expiry: the holder's only server dies, the quorum expires
 * its session; the holder is in doubt all along, and lost once its server
 * is back. */
static int ens_k = -1;
static int ens_port;

static void test_lock_expiry_partition(void **state)
{
    (void)state;
    const char *dir = clusters[ens_k].dir;
    char modes[3][16];
    zk_test_member_modes(dir, modes);
    int ma = -1;
    for (int i = 0; i < 3 && ma < 0; i++)
        if (strcmp(modes[i], "follower") == 0)
            ma = i;
    assert_true(ma >= 0);
    int mb = (ma + 1) % 3;
    char addr_a[64], addr_b[64];
    snprintf(addr_a, sizeof addr_a, "127.0.0.1:%d", ens_port + ma);
    snprintf(addr_b, sizeof addr_b, "127.0.0.1:%d", ens_port + mb);
    expiry_case x = {.dir = "/recipes/partition"};
    x.a = dial_opts(addr_a, 2000); /* pinned to member ma+1 */
    x.b = dial_opts(addr_b, 2000);
    expiry_begin(&x);
    pthread_t th;
    assert_int_equal(0, pthread_create(&th, NULL, waiter_main, &wa));
    expiry_wait_queued(&x);

    int64_t t0 = now_ns();
    int rc = zk_test_zkctl(dir, "kill %d", ma + 1);
    pthread_join(th, NULL);
    assert_int_equal(0, rc);
    OK(wa.rc);
    int64_t held = atomic_load(&eb.held_ns);
    char seen[256];
    states_text(&ea, t0, seen, sizeof seen);
    print_message("# expiry (holder's server killed): the other holds at %.1f ms; holder's "
                  "states (ms):%s\n",
                  (held - t0) / 1e6, seen);
    bool reheld = false;
    assert_int_equal(ZKC_LOCK_IN_DOUBT, state_at(&ea, held, &reheld));
    assert_false(reheld);
    assert_true(atomic_load(&ea.first_doubt_ns) < held);
    assert_int_equal(ZKC_LOCK_IN_DOUBT, zkc_lock_get_state(x.la)); /* still cut off */

    /* Its server back: the session is gone, the lock lost. */
    int64_t t1 = now_ms();
    assert_int_equal(0, zk_test_zkctl(dir, "start-one %d", ma + 1));
    cluster_refresh_pids(ens_k);
    wait_lock_state(x.la, ZKC_LOCK_LOST, 15000);
    print_message("# member %d back, holder lost after %lld ms\n", ma + 1,
                  (long long)(now_ms() - t1));
    expiry_end(&x);
}

/* ------------------------------------------------------------------ */
/* (c) election on an ensemble, the leader's server killed.            */
/* ------------------------------------------------------------------ */

typedef struct cand {
    int idx; /* server index, 0-based */
    zkc_conn *conn;
    zkc_election *el;
    zkc_cancel *cancel;
    pthread_t th;
    bool started;
    int run_rc;
    atomic_int stop_req;
    atomic_int runs;
    atomic_int stops;
    atomic_llong run_start_ns; /* first run */
    atomic_llong stop_ns;      /* first stop */
    atomic_llong run_end_ns;   /* first return of run */
} cand;

static int task_run(int64_t token, void *ud)
{
    (void)token;
    cand *c = ud;
    long long zero = 0;
    atomic_compare_exchange_strong(&c->run_start_ns, &zero, now_ns());
    atomic_fetch_add(&c->runs, 1);
    while (!atomic_load(&c->stop_req))
        usleep(1000);
    zero = 0;
    atomic_compare_exchange_strong(&c->run_end_ns, &zero, now_ns());
    atomic_store(&c->stop_req, 0);
    return ZKC_OK;
}

static void task_stop(void *ud)
{
    cand *c = ud;
    long long zero = 0;
    atomic_compare_exchange_strong(&c->stop_ns, &zero, now_ns());
    atomic_fetch_add(&c->stops, 1);
    atomic_store(&c->stop_req, 1);
}

static void *cand_main(void *arg)
{
    cand *c = arg;
    zkc_elector_task t = {task_run, task_stop, NULL, c};
    c->run_rc = zkc_election_run(c->el, &t, c->cancel);
    return NULL;
}

/* The ensemble is shared by the tests that need it: started by the first,
 * its missing members started again before each next one, stopped by
 * the group's teardown (and at exit, and on TERM/INT). */
static int ens_setup(void **state)
{
    (void)state;
    if (ens_k >= 0) {
        int64_t t0 = now_ms();
        int rc = zk_test_zkctl(clusters[ens_k].dir, "start");
        cluster_refresh_pids(ens_k);
        printf("# zkctl start (the ensemble again): %lld ms\n", (long long)(now_ms() - t0));
        if (rc == 0)
            return 0;
        /* A port of the stopped ensemble was taken meanwhile (by anything
         * on this machine): a new ensemble on free ports. */
        printf("# the ensemble could not start again on its ports: a new one\n");
        cluster_stop(ens_k);
        ens_k = -1;
    }
    /* Client ports p..p+2 in 23300-23329, quorum +30, election +60. */
    int p = -1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int start = (int)(((unsigned)getpid() ^ (unsigned)ts.tv_nsec) % 28u);
    for (int k = 0; k < 28 && p < 0; k++) {
        int q = 23300 + (start + k) % 28;
        bool ok = true;
        for (int i = 0; i < 3 && ok; i++)
            ok = zk_test_port_free(q + i) && zk_test_port_free(q + i + 30) &&
                 zk_test_port_free(q + i + 60);
        if (ok)
            p = q;
    }
    if (p < 0)
        return -1;
    ens_port = p;
    int64_t t0 = now_ms();
    ens_k = cluster_start(3,
                          "--ports %d,%d,%d --quorum-ports %d,%d,%d --election-ports %d,%d,%d "
                          "--tick 200 --cfg forceSync=no",
                          p, p + 1, p + 2, p + 30, p + 31, p + 32, p + 60, p + 61, p + 62);
    printf("# zkctl start (3-server ensemble, ports %d-%d): %lld ms\n", p, p + 2,
           (long long)(now_ms() - t0));
    return ens_k >= 0 ? 0 : -1;
}

/*
 * One failover: the first candidate leads from the member whose quorum
 * mode is victim_mode; that member is taken down with how ("kill" or
 * "stop-one"); returns the member taken down (1-based).
 */
static int run_failover(const char *path, const char *victim_mode, const char *how)
{
    const char *dir = clusters[ens_k].dir;
    char modes[3][16];
    int first = -1;
    int64_t deadline0 = now_ms() + 15000;
    while (first < 0 && now_ms() < deadline0) {
        zk_test_member_modes(dir, modes);
        for (int i = 0; i < 3 && first < 0; i++)
            if (strcmp(modes[i], victim_mode) == 0)
                first = i;
        if (first < 0)
            zkc_sleep(100, NULL);
    }
    assert_true(first >= 0);
    print_message("# members: %s %s %s; first leader on member %d (the quorum's %s), "
                  "taken down with %s\n",
                  modes[0], modes[1], modes[2], first + 1, victim_mode, how);

    cand cs[3];
    memset(cs, 0, sizeof cs);
    zkc_election_opts eo = ZKC_ELECTION_OPTS_INIT;
    eo.min_backoff_ms = 50;
    eo.max_backoff_ms = 500;
    for (int i = 0; i < 3; i++) {
        char addr[64];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", ens_port + i);
        cs[i].idx = i;
        cs[i].conn = dial_opts(addr, 2000); /* pinned: one server only */
        cs[i].cancel = zkc_cancel_new();
        assert_non_null(cs[i].cancel);
        OK(zkc_election_new(cs[i].conn, path, &eo, &cs[i].el));
    }
    /* The order: first, then the other two, each queued before the next. */
    int order[3] = {first, (first + 1) % 3, (first + 2) % 3};
    for (int j = 0; j < 3; j++) {
        cand *c = &cs[order[j]];
        assert_int_equal(0, pthread_create(&c->th, NULL, cand_main, c));
        c->started = true;
        int64_t deadline = now_ms() + 10000;
        if (j == 0) {
            while (atomic_load(&c->run_start_ns) == 0 && now_ms() < deadline)
                zkc_sleep(5, NULL);
            assert_true(atomic_load(&c->run_start_ns) > 0);
        } else {
            char cdir[128];
            snprintf(cdir, sizeof cdir, "%s/candidates", path);
            while (count_children(c->conn, cdir) < j + 1 && now_ms() < deadline)
                zkc_sleep(5, NULL);
            assert_int_equal(j + 1, count_children(c->conn, cdir));
        }
    }
    cand *l0 = &cs[order[0]], *next = &cs[order[1]], *last = &cs[order[2]];
    assert_true(zkc_election_is_leader(l0->el));
    assert_int_equal(1, atomic_load(&l0->runs));
    assert_int_equal(0, atomic_load(&next->runs));
    assert_int_equal(0, atomic_load(&last->runs));

    /* Kill the leader's server. */
    int64_t kill_ns = now_ns();
    assert_int_equal(0, zk_test_zkctl(dir, "%s %d", how, first + 1));
    int64_t deadline = now_ms() + 20000;
    while (atomic_load(&next->run_start_ns) == 0 && atomic_load(&last->run_start_ns) == 0 &&
           now_ms() < deadline)
        zkc_sleep(5, NULL);
    int64_t start2 = atomic_load(&next->run_start_ns);
    int64_t stop1 = atomic_load(&l0->stop_ns), end1 = atomic_load(&l0->run_end_ns);
    print_message("# failover: old leader stopped %.1f ms after the kill, its run returned "
                  "at %.1f ms; new leader's task started at %.1f ms\n",
                  (stop1 - kill_ns) / 1e6, (end1 - kill_ns) / 1e6, (start2 - kill_ns) / 1e6);
    assert_true(start2 > 0);                               /* the next in line took over */
    assert_int_equal(0, atomic_load(&last->run_start_ns)); /* and only it */
    assert_true(stop1 > 0 && stop1 >= kill_ns);
    assert_true(end1 > 0);
    assert_true(stop1 < start2); /* stopped before the new task started */
    assert_true(end1 < start2);  /* and had returned */
    assert_false(zkc_election_is_leader(l0->el));
    assert_true(zkc_election_is_leader(next->el));
    assert_int_equal(1, atomic_load(&l0->runs));
    assert_int_equal(1, atomic_load(&l0->stops));

    /* The leader node names the new leader's candidate node. */
    char *data = NULL;
    size_t len = 0;
    OK(zkc_election_leader(next->conn, path, &data, &len, NULL));
    assert_true(len > 0);
    assert_non_null(strstr(data, "\"candidate\""));
    zkc_free(data);

    /* Wind down: cancel everyone, wait, free. */
    for (int i = 0; i < 3; i++)
        zkc_cancel_trigger(cs[i].cancel);
    for (int i = 0; i < 3; i++) {
        if (cs[i].started)
            pthread_join(cs[i].th, NULL);
        assert_int_equal(ZKC_EINTERRUPTED, cs[i].run_rc);
    }
    assert_int_equal(1, atomic_load(&next->stops));
    for (int i = 0; i < 3; i++) {
        zkc_election_free(cs[i].el);
        zkc_cancel_free(cs[i].cancel);
        zkc_conn_close(cs[i].conn);
    }
    return first + 1;
}

static void test_election_failover(void **state)
{
    (void)state;
    /* A follower's member killed: the quorum keeps its leader, and the
     * failover is the election's alone. */
    int down = run_failover("/recipes/election1", "follower", "kill");
    int64_t t0 = now_ms();
    assert_int_equal(0, zk_test_zkctl(clusters[ens_k].dir, "start-one %d", down));
    cluster_refresh_pids(ens_k);
    print_message("# zkctl start-one %d: %lld ms\n", down, (long long)(now_ms() - t0));
    /* The quorum leader's member stopped: ZooKeeper elects a new quorum
     * leader while the candidates' sessions ride it out. */
    run_failover("/recipes/election2", "leader", "stop-one");
}

/* ------------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    int port = zk_test_pick_ports(23200, 1);
    if (port < 0)
        return -1;
    int64_t t0 = now_ms();
    solo_port = port;
    solo_k = cluster_start(1,
                           "--ports %d --tick 200 --cfg forceSync=no "
                           "--cfg 4lw.commands.whitelist=ruok,srvr,mntr,stat,wchp",
                           port);
    if (solo_k < 0)
        return -1;
    printf("# zkctl start (standalone, port %d): %lld ms\n", port, (long long)(now_ms() - t0));
    snprintf(solo_addr, sizeof solo_addr, "127.0.0.1:%d", port);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (solo_k >= 0)
        cluster_stop(solo_k);
    solo_k = -1;
    if (ens_k >= 0)
        cluster_stop(ens_k);
    ens_k = -1;
    return 0;
}

int main(void)
{
    if (zk_test_zkctl_init() == NULL) {
        printf("1..0 # SKIP ZKCTL is not set: no servers to run the recipes against\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutex_100),
        cmocka_unit_test(test_herd_free),
        cmocka_unit_test(test_queue_lock_real),
        cmocka_unit_test(test_pidnode_real),
        cmocka_unit_test(test_lock_expiry),
        cmocka_unit_test_setup(test_lock_expiry_partition, ens_setup),
        cmocka_unit_test_setup(test_election_failover, ens_setup),
    };
    int rc = cmocka_run_group_tests_name("recipes_real", tests, group_setup, group_teardown);
    clusters_stop_all();
    return rc;
}
