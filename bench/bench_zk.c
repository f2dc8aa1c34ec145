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
 */
#include <pthread.h>
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

static void raw_create_done(int rc, const char *value, const void *data)
{
    (void)value, (void)data;
    op_finished(rc);
}

static void populate(const char *addr, const char *root, long n)
{
    zhandle_t *zh = raw_dial(addr);
    zoo_create(zh, root, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    long dirs = (n + 99) / 100;
    char path[512];
    long made = 0;
    for (long d = 0; d < dirs && made < n; d++, made++) {
        snprintf(path, sizeof path, "%s/d%05ld", root, d);
        wait_window(1000);
        zoo_acreate(zh, path, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, raw_create_done, NULL);
    }
    wait_all();
    for (long i = 0; made < n; i++, made++) {
        snprintf(path, sizeof path, "%s/d%05ld/n%05ld", root, i % dirs, i);
        wait_window(1000);
        zoo_acreate(zh, path, "datadata", 8, &ZOO_OPEN_ACL_UNSAFE, 0, raw_create_done, NULL);
    }
    wait_all();
    if (errors)
        die("populate errors", (int)errors);
    zookeeper_close(zh);
    printf("0 %ld\n", made);
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

static void raw_walk(const char *addr, const char *root, int window)
{
    zhandle_t *zh = raw_dial(addr);
    double t0 = now();
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
        pthread_mutex_unlock(&mu);
        zoo_aget_children(zh, it->path, 0, raw_children_done, it->path);
        free(it);
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
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
    } else {
        fprintf(stderr, "bench_zk: unknown mode %s\n", mode);
        return 2;
    }
    return errors ? 1 : 0;
}
