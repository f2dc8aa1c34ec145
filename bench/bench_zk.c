/*
 * bench_zk: one measurement per run, printed as "<seconds> <count>".
 * Each zkcell mode has a raw libzookeeper_mt twin measured the same way,
 * so bench/run.sh can print ratios from the same run.
 *
 *   bench_zk populate ADDR ROOT N          a tree of N nodes under ROOT (fan-out 100)
 *   bench_zk raw-get  ADDR PATH N          N blocking zoo_get
 *   bench_zk zkc-get  ADDR PATH N          N blocking zkc_get
 *   bench_zk raw-aget ADDR PATH N WINDOW   N pipelined zoo_aget, WINDOW in flight
 *   bench_zk zkc-aget ADDR PATH N WINDOW   N pipelined zkc_aget, WINDOW in flight
 *   bench_zk raw-walk ADDR ROOT WINDOW     list the tree with pipelined zoo_aget_children
 *   bench_zk zkc-walk ADDR ROOT WINDOW     zkc_children_recursive
 *   bench_zk meta-get ADDR PATH N          N blocking zkc_get through the cell router
 *                                          (PATH is /zk/<cell>/...; a zk_client.json
 *                                          names that cell at ADDR)
 *   bench_zk raw-rm   ADDR ROOT WINDOW     delete the tree: pipelined listing, then
 *                                          pipelined zoo_adelete deepest first
 *   bench_zk raw-rm-multi ADDR ROOT BATCH  the same, deleting with zoo_amulti batches of
 *                                          BATCH deletes, 10 in flight (zkCli deleteall's way)
 *   bench_zk zkc-lock ADDR DIR WAITERS CONNS [FILE]
 *                                          lock hand-off: WAITERS threads over CONNS
 *                                          connections queue on one zkc_lock; prints
 *                                          "<median hand-off seconds> <hand-offs>" and
 *                                          writes every hand-off (seconds, one a line,
 *                                          in the order they happened) to FILE
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zookeeper/zookeeper.h>
#include <zkcell/zkcell.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_zk: %s: %d\n", what, rc);
    exit(1);
}

/* ---- raw C client ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int connected, inflight;
static long done_count, errors;

static void session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh, (void)path, (void)ctx;
    if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE) {
        pthread_mutex_lock(&mu);
        connected = 1;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
}

static zhandle_t *raw_dial(const char *addr)
{
    zoo_set_debug_level(0);
    zhandle_t *zh = zookeeper_init(addr, session_watcher, 10000, NULL, NULL, 0);
    if (zh == NULL)
        die("zookeeper_init", -1);
    /* As zkc_zk_dial sets it (conn_zk.c, RESOLVE_DELAY_MS): without it the
     * C client looks the server names up again on every turn of its I/O
     * loop, which costs more CPU per blocking get than zkcell's whole
     * layer, and the rows would compare resolver settings, not clients. */
    zoo_set_servers_resolution_delay(zh, 1000);
    pthread_mutex_lock(&mu);
    while (!connected)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return zh;
}

static void op_finished(int rc)
{
    pthread_mutex_lock(&mu);
    inflight--;
    done_count++;
    if (rc != ZOK && rc != ZNODEEXISTS)
        errors++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void wait_window(int window)
{
    pthread_mutex_lock(&mu);
    while (inflight >= window)
        pthread_cond_wait(&cv, &mu);
    inflight++;
    pthread_mutex_unlock(&mu);
}

static void wait_all(void)
{
    pthread_mutex_lock(&mu);
    while (inflight > 0)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void raw_data_done(int rc, const char *value, int len, const struct Stat *st,
                          const void *data)
{
    (void)value, (void)len, (void)st, (void)data;
    op_finished(rc);
}

/* One multi of up to BATCH creates, alive until its completion. */
#define BATCH 100
typedef struct create_batch {
    int count;
    zoo_op_t ops[BATCH];
    zoo_op_result_t results[BATCH];
    char paths[BATCH][64];
} create_batch;

static void raw_batch_done(int rc, const void *data)
{
    create_batch *b = (create_batch *)data;
    if (rc != ZOK)
        fprintf(stderr, "bench_zk: populate multi: %s (%s...)\n", zerror(rc), b->paths[0]);
    free(b);
    op_finished(rc);
}

/* Creates are sent as multis of BATCH (populate is not timed: only fast). */
static void populate_level(zhandle_t *zh, const char *root, long from, long to, long dirs,
                           bool leaves)
{
    create_batch *b = NULL;
    for (long i = from; i < to; i++) {
        if (b == NULL)
            b = calloc(1, sizeof *b);
        char *p = b->paths[b->count];
        if (leaves) {
            snprintf(p, sizeof b->paths[0], "%s/d%05ld/n%05ld", root, i % dirs, i);
            zoo_create_op_init(&b->ops[b->count], p, "datadata", 8, &ZOO_OPEN_ACL_UNSAFE, 0,
                               NULL, 0);
        } else {
            snprintf(p, sizeof b->paths[0], "%s/d%05ld", root, i);
            zoo_create_op_init(&b->ops[b->count], p, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
        }
        if (++b->count == BATCH || i + 1 == to) {
            wait_window(20);
            int rc = zoo_amulti(zh, b->count, b->ops, b->results, raw_batch_done, b);
            if (rc != ZOK)
                die("zoo_amulti", rc);
            b = NULL;
        }
    }
    wait_all();
}

static void populate(const char *addr, const char *root, long n)
{
    zhandle_t *zh = raw_dial(addr);
    if (strlen(root) > 40)
        die("populate: root too long", 0);
    int rc = zoo_create(zh, root, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    if (rc != ZOK && rc != ZNODEEXISTS)
        die("populate: create root", rc);
    long dirs = (n + 99) / 100;
    if (dirs > n)
        dirs = n;
    populate_level(zh, root, 0, dirs, dirs, false);
    populate_level(zh, root, 0, n - dirs, dirs, true);
    if (errors)
        die("populate errors", (int)errors);
    zookeeper_close(zh);
    printf("0 %ld\n", n);
}

/* A pipelined breadth-first listing: the client-side limit. */
typedef struct walk_item {
    char *path;
    struct walk_item *next;
} walk_item;
static walk_item *queue_head, *queue_tail;
static long listed;

static void push_path(char *p)
{
    walk_item *it = malloc(sizeof *it);
    it->path = p;
    it->next = NULL;
    if (queue_tail)
        queue_tail->next = it;
    else
        queue_head = it;
    queue_tail = it;
}

static void raw_children_done(int rc, const struct String_vector *sv, const void *data)
{
    char *parent = (char *)data;
    pthread_mutex_lock(&mu);
    if (rc == ZOK) {
        for (int i = 0; i < sv->count; i++) {
            size_t l = strlen(parent) + strlen(sv->data[i]) + 2;
            char *p = malloc(l);
            snprintf(p, l, "%s/%s", parent, sv->data[i]);
            push_path(p);
            listed++;
        }
    } else if (rc != ZNONODE) {
        errors++;
    }
    inflight--;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    free(parent);
}

/*
 * The raw pipelined walk under root, window requests in flight.  With
 * collect, every path visited (root included) is kept, in *ret_all and
 * *ret_n; without, only counted (what the walk benchmark times).
 */
static void walk(zhandle_t *zh, const char *root, int window, bool collect, char ***ret_all,
                 size_t *ret_n)
{
    size_t cap = 1024, n = 0;
    char **all = collect ? malloc(cap * sizeof *all) : NULL;
    pthread_mutex_lock(&mu);
    push_path(strdup(root));
    for (;;) {
        while (queue_head == NULL && inflight > 0)
            pthread_cond_wait(&cv, &mu);
        if (queue_head == NULL)
            break;
        while (inflight >= window)
            pthread_cond_wait(&cv, &mu);
        walk_item *it = queue_head;
        queue_head = it->next;
        if (queue_head == NULL)
            queue_tail = NULL;
        inflight++;
        if (collect) {
            if (n == cap)
                all = realloc(all, (cap *= 2) * sizeof *all);
            all[n++] = strdup(it->path);
        }
        pthread_mutex_unlock(&mu);
        zoo_aget_children(zh, it->path, 0, raw_children_done, it->path);
        free(it);
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    if (collect) {
        *ret_all = all;
        *ret_n = n;
    }
}

static void raw_walk(const char *addr, const char *root, int window)
{
    zhandle_t *zh = raw_dial(addr);
    double t0 = now();
    walk(zh, root, window, false, NULL, NULL);
    double t = now() - t0;
    if (errors)
        die("walk errors", (int)errors);
    printf("%.6f %ld\n", t, listed);
    zookeeper_close(zh);
}

/* ---- zkcell ---- */

static zkc_conn *zkc_dial(const char *addr)
{
    zkc_conn *c = NULL;
    int rc = zkc_zk_dial(addr, NULL, &c);
    if (rc != ZKC_OK) {
        fprintf(stderr, "bench_zk: %s\n", zkc_errmsg());
        exit(1);
    }
    return c;
}

static void zkc_done(const zkc_result *res, void *ud)
{
    (void)ud;
    op_finished(res->rc);
}

/* ---- deletion limit: pipelined listing, then zoo_adelete deepest first ---- */

static void raw_delete_done(int rc, const void *data)
{
    (void)data;
    pthread_mutex_lock(&mu);
    inflight--;
    done_count++;
    if (rc != ZOK && rc != ZNONODE)
        errors++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static int depth_of(const char *p)
{
    int d = 0;
    for (; *p; p++)
        d += *p == '/';
    return d;
}

static int cmp_depth_desc(const void *a, const void *b)
{
    return depth_of(*(char *const *)b) - depth_of(*(char *const *)a);
}

/* List the tree under root with the pipelined walk; returns every path,
 * root included, deepest first. */
static char **list_deepest_first(zhandle_t *zh, const char *root, int window, size_t *ret_n)
{
    char **all = NULL;
    size_t n = 0;
    walk(zh, root, window, true, &all, &n);
    if (errors)
        die("rm walk errors", (int)errors);
    qsort(all, n, sizeof *all, cmp_depth_desc);
    *ret_n = n;
    return all;
}

static void raw_rm(const char *addr, const char *root, int window)
{
    zhandle_t *zh = raw_dial(addr);
    double t0 = now();
    size_t n = 0;
    char **all = list_deepest_first(zh, root, window, &n);
    /* One depth at a time, so a parent never goes before its children
     * have (as zkc_delete_recursive does). */
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && depth_of(all[i]) != depth_of(all[i - 1]))
            wait_all();
        wait_window(window);
        zoo_adelete(zh, all[i], -1, raw_delete_done, NULL);
    }
    wait_all();
    double t = now() - t0;
    if (errors)
        die("rm errors", (int)errors);
    printf("%.6f %zu\n", t, n - 1);
    for (size_t i = 0; i < n; i++)
        free(all[i]);
    free(all);
    zookeeper_close(zh);
}

typedef struct delete_batch {
    int count;
    zoo_op_t *ops;
    zoo_op_result_t *results;
} delete_batch;

static void raw_multi_delete_done(int rc, const void *data)
{
    delete_batch *b = (delete_batch *)data;
    free(b->ops);
    free(b->results);
    free(b);
    op_finished(rc); /* a multi is all or nothing: any failure counts */
}

/* zkCli deleteall's way (ZKUtil.deleteRecursive): the same listing, then
 * multis of batch deletes, deepest first, 10 in flight.  A session's
 * requests are applied in order, so a parent in a later multi goes after
 * its children in earlier ones. */
static void raw_rm_multi(const char *addr, const char *root, int batch)
{
    zhandle_t *zh = raw_dial(addr);
    double t0 = now();
    size_t n = 0;
    char **all = list_deepest_first(zh, root, 1000, &n);
    for (size_t i = 0; i < n;) {
        delete_batch *b = calloc(1, sizeof *b);
        size_t k = n - i < (size_t)batch ? n - i : (size_t)batch;
        b->count = (int)k;
        b->ops = calloc(k, sizeof *b->ops);
        b->results = calloc(k, sizeof *b->results);
        for (size_t j = 0; j < k; j++)
            zoo_delete_op_init(&b->ops[j], all[i + j], -1);
        wait_window(10);
        int rc = zoo_amulti(zh, b->count, b->ops, b->results, raw_multi_delete_done, b);
        if (rc != ZOK)
            die("zoo_amulti", rc);
        i += k;
    }
    wait_all();
    double t = now() - t0;
    if (errors)
        die("rm multi errors", (int)errors);
    printf("%.6f %zu\n", t, n - 1);
    for (size_t i = 0; i < n; i++)
        free(all[i]);
    free(all);
    zookeeper_close(zh);
}

/* ---- the cell router ---- */

static void meta_get(const char *addr, const char *path, long n)
{
    const char *cell_start = path + 4; /* /zk/<cell>/... */
    const char *slash = strchr(cell_start, '/');
    if (strncmp(path, "/zk/", 4) != 0 || slash == NULL)
        die("meta-get wants /zk/<cell>/... paths", 2);
    char cell[256];
    snprintf(cell, sizeof cell, "%.*s", (int)(slash - cell_start), cell_start);

    char cfg[] = "/tmp/bench-zk-client.XXXXXX";
    int fd = mkstemp(cfg);
    if (fd < 0)
        die("mkstemp", fd);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "{\"%s\": \"%s\"}\n", cell, addr);
    fclose(f);

    const char *paths[] = {cfg};
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.config_paths = paths;
    o.n_config_paths = 1;
    o.local_cell = cell;
    o.ignore_env = true;
    zkc_cells *cells = NULL;
    zkc_conn_cache *cache = NULL;
    zkc_conn *meta = NULL;
    if (zkc_cells_new(&o, &cells) != ZKC_OK ||
        zkc_conn_cache_new(cells, NULL, &cache) != ZKC_OK ||
        zkc_meta_open(cache, NULL, &meta) != ZKC_OK) {
        fprintf(stderr, "bench_zk: meta: %s\n", zkc_errmsg());
        exit(1);
    }
    /* The first get dials the cell: not timed. */
    char *data = NULL;
    int rc = zkc_get(meta, path, &data, NULL, NULL, NULL);
    if (rc != ZKC_OK) {
        fprintf(stderr, "bench_zk: meta get %s: %s\n", path, zkc_errmsg());
        exit(1);
    }
    zkc_free(data);
    double t0 = now();
    for (long i = 0; i < n; i++) {
        data = NULL;
        rc = zkc_get(meta, path, &data, NULL, NULL, NULL);
        if (rc != ZKC_OK)
            die("zkc_get (router)", rc);
        zkc_free(data);
    }
    printf("%.6f %ld\n", now() - t0, n);
    zkc_conn_close(meta); /* closes and frees the cache */
    zkc_cells_free(cells);
    unlink(cfg);
}

/* ---- lock hand-off ---- */

typedef struct lock_bench {
    zkc_conn **conns;
    int nconns;
    const char *dir;
    pthread_mutex_t mu;
    double last_release; /* set by the holder just before it releases */
    double *handoffs;
    int nhandoffs;
    atomic_int failed;
} lock_bench;

typedef struct lock_waiter {
    lock_bench *b;
    int idx;
    pthread_t thr;
} lock_waiter;

static void *lock_waiter_main(void *arg)
{
    lock_waiter *w = arg;
    lock_bench *b = w->b;
    zkc_lock *l = NULL;
    if (zkc_lock_new(b->conns[w->idx % b->nconns], b->dir, NULL, &l) != ZKC_OK) {
        atomic_fetch_add(&b->failed, 1);
        return NULL;
    }
    int rc = zkc_lock_acquire(l, 120000, NULL);
    double t = now();
    if (rc != ZKC_OK) {
        fprintf(stderr, "bench_zk: lock acquire: %s\n", zkc_errmsg());
        atomic_fetch_add(&b->failed, 1);
        zkc_lock_free(l);
        return NULL;
    }
    pthread_mutex_lock(&b->mu);
    b->handoffs[b->nhandoffs++] = t - b->last_release;
    b->last_release = now();
    pthread_mutex_unlock(&b->mu);
    zkc_lock_release(l);
    zkc_lock_free(l);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Every hand-off, in the order they happened, one a line, to path. */
static void write_handoffs(const char *path, const double *handoffs, int n)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    for (int i = 0; i < n; i++)
        fprintf(f, "%.6f\n", handoffs[i]);
    if (fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void zkc_lock_bench(const char *addr, const char *dir, int waiters, int nconns,
                           const char *handoffs_path)
{
    lock_bench b = {.dir = dir, .nconns = nconns};
    pthread_mutex_init(&b.mu, NULL);
    atomic_init(&b.failed, 0);
    b.conns = calloc((size_t)nconns, sizeof *b.conns);
    b.handoffs = calloc((size_t)waiters, sizeof *b.handoffs);
    for (int i = 0; i < nconns; i++)
        b.conns[i] = zkc_dial(addr);
    zkc_conn *admin = zkc_dial(addr);

    /* The first holder, on its own connection, takes the lock before the
     * waiters queue, and lets go once every waiter is in the queue. */
    zkc_lock *first = NULL;
    if (zkc_lock_new(admin, dir, NULL, &first) != ZKC_OK ||
        zkc_lock_acquire(first, 10000, NULL) != ZKC_OK) {
        fprintf(stderr, "bench_zk: first lock: %s\n", zkc_errmsg());
        exit(1);
    }
    lock_waiter *ws = calloc((size_t)waiters, sizeof *ws);
    for (int i = 0; i < waiters; i++) {
        ws[i].b = &b;
        ws[i].idx = i;
        pthread_create(&ws[i].thr, NULL, lock_waiter_main, &ws[i]);
    }
    for (int tries = 0;; tries++) {
        zkc_strings *kids = NULL;
        if (zkc_children(admin, dir, &kids, NULL, NULL) != ZKC_OK)
            die("children", -1);
        size_t n = kids->count;
        zkc_strings_free(kids);
        if (n >= (size_t)waiters + 1)
            break;
        if (tries > 6000)
            die("waiters did not queue", (int)n);
        usleep(10000);
    }
    usleep(100000); /* let the last waiters set their watches */
    pthread_mutex_lock(&b.mu);
    b.last_release = now();
    pthread_mutex_unlock(&b.mu);
    zkc_lock_release(first);
    for (int i = 0; i < waiters; i++)
        pthread_join(ws[i].thr, NULL);
    zkc_lock_free(first);
    if (atomic_load(&b.failed))
        die("lock waiters failed", atomic_load(&b.failed));
    if (handoffs_path != NULL)
        write_handoffs(handoffs_path, b.handoffs, b.nhandoffs);
    qsort(b.handoffs, (size_t)b.nhandoffs, sizeof *b.handoffs, cmp_double);
    printf("%.6f %d\n", b.handoffs[b.nhandoffs / 2], b.nhandoffs);
    zkc_conn_close(admin);
    for (int i = 0; i < nconns; i++)
        zkc_conn_close(b.conns[i]);
    free(ws);
    free(b.conns);
    free(b.handoffs);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_zk MODE ADDR PATH [N] [WINDOW]\n");
        return 2;
    }
    const char *mode = argv[1], *addr = argv[2], *path = argv[3];
    long n = argc > 4 ? atol(argv[4]) : 10000;
    int window = argc > 5 ? atoi(argv[5]) : 1000;

    if (strcmp(mode, "populate") == 0) {
        populate(addr, path, n);
    } else if (strcmp(mode, "raw-get") == 0) {
        zhandle_t *zh = raw_dial(addr);
        char buf[1024];
        double t0 = now();
        for (long i = 0; i < n; i++) {
            int len = sizeof buf;
            int rc = zoo_get(zh, path, 0, buf, &len, NULL);
            if (rc != ZOK)
                die("zoo_get", rc);
        }
        printf("%.6f %ld\n", now() - t0, n);
        zookeeper_close(zh);
    } else if (strcmp(mode, "zkc-get") == 0) {
        zkc_conn *c = zkc_dial(addr);
        double t0 = now();
        for (long i = 0; i < n; i++) {
            char *data = NULL;
            int rc = zkc_get(c, path, &data, NULL, NULL, NULL);
            if (rc != ZKC_OK)
                die("zkc_get", rc);
            zkc_free(data);
        }
        printf("%.6f %ld\n", now() - t0, n);
        zkc_conn_close(c);
    } else if (strcmp(mode, "raw-aget") == 0) {
        zhandle_t *zh = raw_dial(addr);
        double t0 = now();
        for (long i = 0; i < n; i++) {
            wait_window(window);
            zoo_aget(zh, path, 0, raw_data_done, NULL);
        }
        wait_all();
        printf("%.6f %ld\n", now() - t0, n);
        zookeeper_close(zh);
    } else if (strcmp(mode, "zkc-aget") == 0) {
        zkc_conn *c = zkc_dial(addr);
        double t0 = now();
        for (long i = 0; i < n; i++) {
            wait_window(window);
            int rc = zkc_aget(c, path, 0, zkc_done, NULL);
            if (rc != ZKC_OK)
                die("zkc_aget", rc);
        }
        wait_all();
        printf("%.6f %ld\n", now() - t0, n);
        zkc_conn_close(c);
    } else if (strcmp(mode, "raw-walk") == 0) {
        raw_walk(addr, path, argc > 4 ? atoi(argv[4]) : 1000);
    } else if (strcmp(mode, "zkc-walk") == 0) {
        zkc_conn *c = zkc_dial(addr);
        zkc_strings *all = NULL;
        double t0 = now();
        int rc = zkc_children_recursive(c, path, argc > 4 ? (unsigned)atoi(argv[4]) : 0, &all);
        double t = now() - t0;
        if (rc != ZKC_OK) {
            fprintf(stderr, "bench_zk: %s\n", zkc_errmsg());
            return 1;
        }
        printf("%.6f %zu\n", t, all->count);
        zkc_strings_free(all);
        zkc_conn_close(c);
    } else if (strcmp(mode, "meta-get") == 0) {
        meta_get(addr, path, n);
    } else if (strcmp(mode, "raw-rm") == 0) {
        raw_rm(addr, path, argc > 4 ? atoi(argv[4]) : 1000);
    } else if (strcmp(mode, "raw-rm-multi") == 0) {
        raw_rm_multi(addr, path, argc > 4 ? atoi(argv[4]) : 1000);
    } else if (strcmp(mode, "zkc-lock") == 0) {
        zkc_lock_bench(addr, path, argc > 4 ? atoi(argv[4]) : 100,
                       argc > 5 ? atoi(argv[5]) : 10, argc > 6 ? argv[6] : NULL);
    } else {
        fprintf(stderr, "bench_zk: unknown mode %s\n", mode);
        return 2;
    }
    return errors ? 1 : 0;
}
