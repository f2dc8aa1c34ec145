/*
 * test_cells_real.c: cells, the connection cache, the cell router
 * (MetaConn) and the n-quorum GlobalConn against real ZooKeeper servers.
 *
 * Four standalone servers are started with zkctl (tick 200 ms, so
 * sessions are short): three cells, nyc, sfo and lon, and a global
 * quorum.  A zk_client.json in a temporary folder names them (keys of
 * reference section 1: "<cell>", "global", "<cell>-global", a
 * ":_zkocc" key that ZooKeeper mode ignores); ZK_CLIENT_CONFIG and
 * ZK_CLIENT_LOCAL_CELL point at it and make nyc the local cell.
 *
 * What is checked, in order (the tests share the servers and run in
 * sequence):
 *  - the configuration as the library reads it: known cells, addresses,
 *    "local" and "global" resolution, children("/zk") through the router;
 *  - routing: a write through the router to every cell, /zk/local and
 *    /zk/global included, lands on that cell's server and nowhere else
 *    (checked with direct connections); "local" and nyc share one
 *    session; a watch on /zk/local reports the caller's path; bad paths
 *    and unknown cells fail with ZKC_EBADPATH / ZKC_ENOCELL naming them;
 *    a "<cell>-global" key serves /zk/global when there is no "global";
 *  - an edited zk_client.json: a cell added to it is routed at once;
 *  - a multi through the router: /zk/local rewritten both ways, refused
 *    by the server, refused across two cells; a fresh cell (a chroot
 *    without /zk) where create_recursive, a create of /zk/<cell> and a
 *    multi starting with it make /zk first;
 *  - GlobalConn over three quorums: writes, reads, sequential names,
 *    versions, a divergence made behind its back reported as
 *    ZKC_EINCONSISTENT naming the quorum, then repaired;
 *  - a cell that goes down: a router that never reached it fails at once
 *    after one connect timeout with an error naming the cell, then from
 *    its remembered dial error without dialing, while the other cells
 *    keep working (also while the dead cell's dial is in flight: the
 *    test holds it at a gate in the router's dial, no timing); a
 *    router that was connected to it fails with connection loss naming
 *    the path; the server comes back and both routers (same routers,
 *    same caches) work again, the first after its dial backoff;
 *  - a session expired in one cell (from outside, by a second client
 *    joining the session and closing it): its watch ends with
 *    ZKC_EVENT_SESSION_EXPIRED and its ephemeral is gone, the other cells
 *    keep their sessions, and the cache replaces the expired connection;
 *    then the same under load: thousands of reads in flight to sfo, nyc
 *    and global while sfo's session is taken away all succeed.
 *
 * Servers are stopped whatever happens: at exit, on TERM/INT/HUP by the
 * recorded pids, and by a watchdog process that tears them down when this
 * process dies in any other way (a sanitizer abort, a crash).  Ports are
 * picked free in 23000-23089.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zk_test_util.h"

#define OK(expr) assert_int_equal(ZKC_OK, (expr))

#define TICK_MS 200
#define BASE_TIMEOUT_MS 2000    /* session timeout asked of the servers */
#define CONNECT_TIMEOUT_MS 1500 /* the cells' first-connect bound */
#define PORT_LO 23000

enum { NYC, SFO, LON, GLOB, NSRV };

typedef struct srv {
    const char *cell;
    char dir[64];
    int port;
    char addr[32];
    volatile pid_t pid;
} srv;

static srv S[NSRV] = {{.cell = "nyc"}, {.cell = "sfo"}, {.cell = "lon"}, {.cell = "global"}};

static char cfg_dir[64];
static char cfg_path[128];
static char base[64]; /* this run's node name under each cell */
static zkc_cells *cells;
static zkc_conn *router; /* the main router, connected to every cell */
static int watchdog_fd = -1;
static pid_t watchdog_pid;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A path under this run's node of a cell: C("nyc", "x") is
 * /zk/nyc/<base>/x; C("nyc", NULL) is /zk/nyc/<base>. */
static char *C(const char *cell, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *C(const char *cell, const char *fmt, ...)
{
    static _Thread_local char buf[16][512];
    static _Thread_local int n;
    char *p = buf[n++ % 16];
    int off = snprintf(p, 512, "/zk/%s/%s", cell, base);
    if (fmt != NULL) {
        p[off++] = '/';
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p + off, (size_t)(512 - off), fmt, ap);
        va_end(ap);
    }
    return p;
}

/* ---- servers ---- */

static void teardown_all(void)
{
    for (int i = 0; i < NSRV; i++) {
        if (S[i].dir[0] == '\0')
            continue;
        zk_test_zkctl(S[i].dir, "teardown");
        rmdir(S[i].dir);
        S[i].dir[0] = '\0';
        S[i].pid = 0;
    }
    if (cfg_path[0] != '\0')
        unlink(cfg_path);
    if (cfg_dir[0] != '\0')
        rmdir(cfg_dir);
    cfg_path[0] = cfg_dir[0] = '\0';
    if (watchdog_fd >= 0) {
        /* Nothing left for it to do: let it go and wait for it. */
        close(watchdog_fd);
        watchdog_fd = -1;
        waitpid(watchdog_pid, NULL, 0);
    }
}

static void on_signal(int sig)
{
    for (int i = 0; i < NSRV; i++)
        if (S[i].pid > 0)
            kill(S[i].pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* A child that waits for this process to end (the pipe's end of file)
 * and then tears down whatever folders are still there: covers deaths
 * that skip atexit (a sanitizer's abort, a crash, SIGKILL). */
static void start_watchdog(void)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        close(fds[1]);
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        char c;
        while (read(fds[0], &c, 1) < 0 && errno == EINTR)
            ;
        for (int i = 0; i < NSRV; i++) {
            struct stat st;
            if (S[i].dir[0] != '\0' && stat(S[i].dir, &st) == 0) {
                zk_test_zkctl(S[i].dir, "teardown");
                rmdir(S[i].dir);
            }
        }
        if (cfg_path[0] != '\0')
            unlink(cfg_path);
        if (cfg_dir[0] != '\0')
            rmdir(cfg_dir);
        _exit(0);
    }
    close(fds[0]);
    watchdog_fd = fds[1];
    watchdog_pid = pid;
}

static int start_server(srv *s)
{
    /* Right after a stop the port may still be held for a moment. */
    for (int attempt = 0; attempt < 20; attempt++) {
        if (zk_test_zkctl(s->dir, "start --port %d --tick %d --timeout 60", s->port, TICK_MS) ==
            0) {
            s->pid = zk_test_member_pid(s->dir, 1);
            return 0;
        }
        zk_test_zkctl(s->dir, "stop");
        zkc_sleep(250, NULL);
    }
    return -1;
}

static int stop_server(srv *s)
{
    int rc = zk_test_zkctl(s->dir, "stop");
    s->pid = 0;
    return rc;
}

static void *start_thread(void *arg)
{
    return (void *)(intptr_t)start_server(arg);
}

/* A direct connection to one server (not through the cells). */
static zkc_conn *direct(int i)
{
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.base_timeout_ms = BASE_TIMEOUT_MS;
    o.connect_timeout_ms = 10000;
    zkc_conn *c = NULL;
    int rc = zkc_zk_dial(S[i].addr, &o, &c);
    if (rc != ZKC_OK)
        fail_msg("dial %s (%s): %s", S[i].cell, S[i].addr, zkc_errmsg());
    return c;
}

/* ---- routers ---- */

/* A router over cs with a cache of its own; dial NULL: the default. */
static zkc_conn *open_router_with(zkc_cells *cs, int backoff_min_ms, int backoff_max_ms,
                                  zkc_dial_fn dial, void *dial_ud)
{
    zkc_conn_cache_opts co = ZKC_CONN_CACHE_OPTS_INIT;
    co.backoff_min_ms = backoff_min_ms;
    co.backoff_max_ms = backoff_max_ms;
    co.dial = dial;
    co.dial_ud = dial_ud;
    zkc_conn_cache *cache = NULL;
    if (zkc_conn_cache_new(cs, &co, &cache) != ZKC_OK)
        return NULL;
    zkc_meta_opts mo = ZKC_META_OPTS_INIT;
    mo.max_attempts = 4;
    mo.backoff_min_ms = 50;
    mo.backoff_max_ms = 300;
    mo.retry_budget_ms = 3000;
    zkc_conn *m = NULL;
    if (zkc_meta_open(cache, &mo, &m) != ZKC_OK)
        return NULL;
    return m;
}

static zkc_conn *open_router(zkc_cells *cs, int backoff_min_ms, int backoff_max_ms)
{
    return open_router_with(cs, backoff_min_ms, backoff_max_ms, NULL, NULL);
}

/* The data at path through c, as a NUL-terminated string (static). */
static const char *get_str(zkc_conn *c, const char *path, int *ret_rc)
{
    static char out[256];
    char *d = NULL;
    size_t n = 0;
    int rc = zkc_get(c, path, &d, &n, NULL, NULL);
    if (ret_rc != NULL)
        *ret_rc = rc;
    if (rc != ZKC_OK)
        return NULL;
    snprintf(out, sizeof out, "%.*s", (int)n, d != NULL ? d : "");
    zkc_free(d);
    return out;
}

static void assert_data(zkc_conn *c, const char *path, const char *want)
{
    int rc;
    const char *got = get_str(c, path, &rc);
    if (rc != ZKC_OK)
        fail_msg("get %s: %s (%s)", path, zkc_err_name(rc), zkc_errmsg());
    assert_string_equal(want, got);
}

static bool node_exists(zkc_conn *c, const char *path)
{
    bool e = false;
    OK(zkc_exists(c, path, &e, NULL, NULL));
    return e;
}

/* ---- setup ---- */

static int group_setup(void **state)
{
    (void)state;
    snprintf(base, sizeof base, "zkc-cells-%d", (int)getpid());

    /* Ports: four distinct free ones. */
    for (int i = 0; i < NSRV; i++) {
        int p = -1;
        for (int tries = 0; tries < 50 && p < 0; tries++) {
            p = zk_test_pick_ports(PORT_LO, 1);
            for (int j = 0; j < i && p >= 0; j++)
                if (S[j].port == p)
                    p = -1;
        }
        if (p < 0) {
            fprintf(stderr, "# no free port in %d-%d\n", PORT_LO, PORT_LO + 89);
            return -1;
        }
        S[i].port = p;
        snprintf(S[i].addr, sizeof S[i].addr, "127.0.0.1:%d", p);
    }

    /* zk_client.json.  "global" wins over "nyc-global" (which points at
     * nothing); the zkocc key is not a cell in ZooKeeper mode. */
    char json[1024];
    snprintf(json, sizeof json,
             "{\n  \"nyc\": \"%s\",\n  \"sfo\": \"%s\",\n  \"lon\": \"%s\",\n"
             "  \"global\": \"%s\",\n  \"nyc-global\": \"127.0.0.1:23099\",\n"
             "  \"nyc:_zkocc\": \"127.0.0.1:23098\"\n}\n",
             S[NYC].addr, S[SFO].addr, S[LON].addr, S[GLOB].addr);
    FILE *f = fopen(cfg_path, "w");
    if (f == NULL || fputs(json, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "# cannot write %s\n", cfg_path);
        return -1;
    }
    setenv("ZK_CLIENT_CONFIG", cfg_path, 1);
    setenv("ZK_CLIENT_LOCAL_CELL", "nyc", 1);

    /* The servers, in parallel. */
    int64_t t0 = now_ms();
    pthread_t th[NSRV];
    for (int i = 0; i < NSRV; i++)
        if (pthread_create(&th[i], NULL, start_thread, &S[i]) != 0)
            return -1;
    int bad = 0;
    for (int i = 0; i < NSRV; i++) {
        void *r;
        pthread_join(th[i], &r);
        if ((intptr_t)r != 0) {
            fprintf(stderr, "# cannot start the %s server on %s\n", S[i].cell, S[i].addr);
            bad = 1;
        }
    }
    if (bad)
        return -1;
    printf("# 4 servers up in %lld ms: nyc %s, sfo %s, lon %s, global %s\n",
           (long long)(now_ms() - t0), S[NYC].addr, S[SFO].addr, S[LON].addr, S[GLOB].addr);

    /* Each cell's server holds /zk/<cell>/<base>, as a real deployment
     * holds /zk/<cell>. */
    for (int i = 0; i < NSRV; i++) {
        zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
        o.connect_timeout_ms = 10000;
        zkc_conn *c = NULL;
        if (zkc_zk_dial(S[i].addr, &o, &c) != ZKC_OK)
            return -1;
        int rc = zkc_create_recursive(c, C(S[i].cell, NULL), NULL, 0, 0, NULL, NULL);
        zkc_conn_close(c);
        if (rc != ZKC_OK && rc != ZKC_ENODEEXISTS)
            return -1;
    }

    zkc_cells_opts co = ZKC_CELLS_OPTS_INIT; /* files and local cell from the environment */
    co.base_timeout_ms = BASE_TIMEOUT_MS;
    co.connect_timeout_ms = CONNECT_TIMEOUT_MS;
    if (zkc_cells_new(&co, &cells) != ZKC_OK)
        return -1;
    router = open_router(cells, 100, 1000);
    return router != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    zkc_conn_close(router);
    router = NULL;
    zkc_cells_free(cells);
    cells = NULL;
    teardown_all();
    return 0;
}

/* ---- configuration ---- */

static void test_config(void **state)
{
    (void)state;
    zkc_strings *known = NULL;
    OK(zkc_cells_known(cells, false, &known));
    assert_int_equal(4, known->count);
    assert_string_equal("global", known->v[0]);
    assert_string_equal("lon", known->v[1]);
    assert_string_equal("nyc", known->v[2]);
    assert_string_equal("sfo", known->v[3]);
    zkc_strings_free(known);

    char *a = NULL;
    OK(zkc_cells_addrs(cells, "local", false, &a));
    assert_string_equal(S[NYC].addr, a);
    zkc_free(a);
    OK(zkc_cells_addrs(cells, "global", false, &a));
    assert_string_equal(S[GLOB].addr, a); /* "global" wins over "nyc-global" */
    zkc_free(a);
    OK(zkc_cells_path_addrs(cells, "/zk/lon/x/y", false, &a));
    assert_string_equal(S[LON].addr, a);
    zkc_free(a);
    OK(zkc_cells_addrs(cells, "local", true, &a)); /* zkocc mode: "nyc:_zkocc" */
    assert_string_equal("127.0.0.1:23098", a);
    zkc_free(a);
    assert_int_equal(ZKC_ENOCELL, zkc_cells_addrs(cells, "tokyo", false, &a));
    assert_non_null(strstr(zkc_errmsg(), "tokyo"));
    char *local = NULL;
    OK(zkc_cells_local_cell(cells, &local));
    assert_string_equal("nyc", local);
    zkc_free(local);

    /* children("/zk") through the router: the known cells. */
    zkc_strings *kids = NULL;
    OK(zkc_children(router, "/zk", &kids, NULL, NULL));
    zkc_strings_sort(kids);
    assert_int_equal(4, kids->count);
    assert_string_equal("global", kids->v[0]);
    assert_string_equal("sfo", kids->v[3]);
    zkc_strings_free(kids);
}

/* ---- routing ---- */

static void test_routing(void **state)
{
    (void)state;
    const char *names[] = {"nyc", "sfo", "lon", "global"};
    /* A write to every cell through the router... */
    for (int i = 0; i < NSRV; i++) {
        char data[64];
        snprintf(data, sizeof data, "written to %s", names[i]);
        char *created = NULL;
        OK(zkc_create(router, C(names[i], "x"), data, strlen(data), 0, NULL, &created));
        assert_string_equal(C(names[i], "x"), created);
        zkc_free(created);
    }
    /* ...lands on that cell's server and nowhere else. */
    for (int i = 0; i < NSRV; i++) {
        zkc_conn *d = direct(i);
        for (int j = 0; j < NSRV; j++) {
            if (j == i) {
                char want[64];
                snprintf(want, sizeof want, "written to %s", names[i]);
                assert_data(d, C(names[j], "x"), want);
            } else {
                assert_false(node_exists(d, C(names[j], "x")));
            }
        }
        zkc_conn_close(d);
    }
    /* Reads through the router, each from its own cell. */
    assert_data(router, C("sfo", "x"), "written to sfo");
    assert_data(router, C("global", "x"), "written to global");

    /* /zk/local is nyc, in the caller's terms. */
    assert_data(router, C("local", "x"), "written to nyc");
    char *created = NULL;
    OK(zkc_create(router, C("local", "via-local"), "L", 1, 0, NULL, &created));
    assert_string_equal(C("local", "via-local"), created);
    zkc_free(created);
    assert_data(router, C("nyc", "via-local"), "L");
    zkc_conn *d = direct(NYC);
    assert_data(d, C("nyc", "via-local"), "L");
    zkc_conn_close(d);
    zkc_strings *kids = NULL;
    OK(zkc_children(router, C("local", NULL), &kids, NULL, NULL));
    zkc_strings_sort(kids);
    assert_int_equal(2, kids->count);
    assert_string_equal("via-local", kids->v[0]);
    assert_string_equal("x", kids->v[1]);
    zkc_strings_free(kids);

    /* "local" and nyc share one connection (one session). */
    zkc_conn_cache *cache = zkc_meta_cache(router);
    zkc_conn *cl = NULL, *cn = NULL;
    OK(zkc_conn_cache_get(cache, "local", &cl));
    OK(zkc_conn_cache_get(cache, "nyc", &cn));
    assert_ptr_equal(cl, cn);
    zkc_conn *cs = NULL;
    OK(zkc_conn_cache_get(cache, "sfo", &cs));
    assert_ptr_not_equal(cn, cs);
    assert_true(zkc_conn_session_id(cn) != zkc_conn_session_id(cs));
    zkc_conn_cache_release(cache, cl);
    zkc_conn_cache_release(cache, cn);
    zkc_conn_cache_release(cache, cs);

    /* An ephemeral through /zk/local belongs to nyc's session, and a
     * watch on a /zk/local path reports that path. */
    zkc_watch *w = NULL;
    bool e = true;
    OK(zkc_exists(router, C("local", "w"), &e, NULL, &w));
    assert_false(e);
    assert_non_null(w);
    zkc_stat st;
    OK(zkc_create(router, C("nyc", "w"), "", 0, ZKC_EPHEMERAL, NULL, NULL));
    OK(zkc_watch_wait(w, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CREATED, zkc_watch_event(w)->type);
    assert_string_equal(C("local", "w"), zkc_watch_event(w)->path);
    zkc_watch_free(w);
    OK(zkc_get(router, C("local", "w"), NULL, NULL, &st, NULL));
    OK(zkc_conn_cache_get(cache, "nyc", &cn));
    assert_true(st.ephemeral_owner == zkc_conn_session_id(cn));
    zkc_conn_cache_release(cache, cn);
    OK(zkc_delete(router, C("local", "w"), -1));

    /* Versions work through the router as on the cell. */
    OK(zkc_set(router, C("lon", "x"), "v1", 2, 0, &st));
    assert_int_equal(1, st.version);
    assert_int_equal(ZKC_EBADVERSION, zkc_set(router, C("lon", "x"), "v2", 2, 0, NULL));
    assert_data(router, C("lon", "x"), "v1");
    OK(zkc_set(router, C("lon", "x"), "written to lon", 14, 1, NULL));

    /* What cannot be routed, named. */
    assert_int_equal(ZKC_ENOCELL, zkc_get(router, "/zk/tokyo/x", NULL, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "tokyo"));
    assert_int_equal(ZKC_EBADPATH, zkc_get(router, "/zk/bad-cell/x", NULL, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "bad-cell"));
    assert_int_equal(ZKC_EBADPATH, zkc_get(router, "/zk//x", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_EBADPATH, zkc_get(router, "/other/x", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ENONODE, zkc_get(router, C("sfo", "missing"), NULL, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), C("sfo", "missing")));
}

/* A blocking read through the router, with nothing else of its cell in
 * flight, goes to the cell's connection as a blocking call, answered on
 * the caller's thread (see test_zk's test_blocking_calls_here). */
static void test_router_blocking_calls(void **state)
{
    (void)state;
    zkc_conn_cache *cache = zkc_meta_cache(router);
    zkc_conn *cn = NULL;
    OK(zkc_conn_cache_get(cache, "nyc", &cn));
    long n = zkc__zk_calls(cn, NULL);
    assert_true(n >= 0);
    /* The completion of the last submitted operation may still be
     * tidying up: read until one read goes through. */
    for (int i = 0; i < 1000 && zkc__zk_calls(cn, NULL) == n; i++)
        assert_data(router, C("nyc", "x"), "written to nyc");
    n = zkc__zk_calls(cn, NULL);
    assert_data(router, C("local", "x"), "written to nyc");
    assert_data(router, C("nyc", "x"), "written to nyc");
    bool e = true;
    OK(zkc_exists(router, C("local", "none"), &e, NULL, NULL));
    assert_false(e);
    assert_int_equal(ZKC_ENONODE, zkc_get(router, C("local", "none"), NULL, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), C("local", "none")));
    zkc_strings *kids = NULL;
    OK(zkc_children(router, C("local", NULL), &kids, NULL, NULL));
    assert_true(kids->count >= 2);
    zkc_strings_free(kids);
    assert_int_equal(n + 5, zkc__zk_calls(cn, NULL));
    zkc_conn_cache_release(cache, cn);
}

/* Without a "global" key, "<local>-global" serves /zk/global. */
static void test_local_global_key(void **state)
{
    (void)state;
    char json[512];
    snprintf(json, sizeof json, "{\"nyc\": \"%s\", \"nyc-global\": \"%s\"}", S[NYC].addr,
             S[GLOB].addr);
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.config_text = json;
    o.local_cell = "nyc";
    o.ignore_env = true;
    o.connect_timeout_ms = CONNECT_TIMEOUT_MS;
    o.base_timeout_ms = BASE_TIMEOUT_MS;
    zkc_cells *cs = NULL;
    OK(zkc_cells_new(&o, &cs));
    zkc_strings *known = NULL;
    OK(zkc_cells_known(cs, false, &known));
    assert_int_equal(2, known->count);
    assert_string_equal("global", known->v[0]);
    assert_string_equal("nyc", known->v[1]);
    zkc_strings_free(known);
    zkc_conn *m = open_router(cs, 100, 1000);
    assert_non_null(m);
    assert_data(m, C("global", "x"), "written to global");
    assert_data(m, C("local", "x"), "written to nyc");
    assert_int_equal(ZKC_ENOCELL, zkc_get(m, C("sfo", "x"), NULL, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "sfo"));
    zkc_conn_close(m);
    zkc_cells_free(cs);
}

/* ---- an edited zk_client.json ---- */

static void write_config(const char *extra)
{
    char json[1024], tmp[160];
    snprintf(json, sizeof json,
             "{\n  \"nyc\": \"%s\",\n  \"sfo\": \"%s\",\n  \"lon\": \"%s\",\n"
             "  \"global\": \"%s\",\n  \"nyc-global\": \"127.0.0.1:23099\",\n"
             "  \"nyc:_zkocc\": \"127.0.0.1:23098\"%s\n}\n",
             S[NYC].addr, S[SFO].addr, S[LON].addr, S[GLOB].addr, extra);
    /* A new file put in place at once (a new inode), as editors do. */
    snprintf(tmp, sizeof tmp, "%s.tmp", cfg_path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_true(fputs(json, f) >= 0);
    assert_int_equal(0, fclose(f));
    assert_int_equal(0, rename(tmp, cfg_path));
}

/* A cell added to the file is routed without a restart. */
static void test_config_edit(void **state)
{
    (void)state;
    assert_int_equal(ZKC_ENOCELL, zkc_get(router, C("tokyo", "x"), NULL, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "tokyo"));
    zkc_conn *d = direct(GLOB);
    OK(zkc_create_recursive(d, C("tokyo", "x"), "tokyo", 5, 0, NULL, NULL));
    zkc_conn_close(d);

    char extra[128];
    snprintf(extra, sizeof extra, ",\n  \"tokyo\": \"%s\"", S[GLOB].addr);
    write_config(extra);
    assert_data(router, C("tokyo", "x"), "tokyo");
    zkc_strings *kids = NULL;
    OK(zkc_children(router, "/zk", &kids, NULL, NULL));
    zkc_strings_sort(kids);
    assert_int_equal(5, kids->count);
    assert_string_equal("tokyo", kids->v[4]);
    zkc_strings_free(kids);
    /* tokyo and global name one server but are two cells: two sessions. */
    zkc_conn_cache *cache = zkc_meta_cache(router);
    zkc_conn *ct = NULL, *cg = NULL;
    OK(zkc_conn_cache_get(cache, "tokyo", &ct));
    OK(zkc_conn_cache_get(cache, "global", &cg));
    assert_true(zkc_conn_session_id(ct) != zkc_conn_session_id(cg));
    zkc_conn_cache_release(cache, ct);
    zkc_conn_cache_release(cache, cg);
    write_config("");
}

/* ---- multi through the router, and a fresh cell ---- */

static void test_multi_and_fresh_cell(void **state)
{
    (void)state;
    /* A multi on one cell, given under /zk/local: made on nyc's server,
     * created paths handed back under /zk/local. */
    char lm[160], ls[160], nm[160];
    snprintf(lm, sizeof lm, "/zk/local/%s/m", base);
    snprintf(ls, sizeof ls, "/zk/local/%s/m/s-", base);
    snprintf(nm, sizeof nm, "%s", C("nyc", "m/k"));
    zkc_request ops[] = {
        {.op = ZKC_OP_CREATE, .path = lm, .data = "m", .data_len = 1, .version = -1},
        {.op = ZKC_OP_CREATE, .path = ls, .flags = ZKC_SEQUENCE, .version = -1},
        {.op = ZKC_OP_CREATE, .path = nm, .version = -1},
        {.op = ZKC_OP_SET, .path = lm, .data = "m2", .data_len = 2, .version = 0},
        {.op = ZKC_OP_CHECK, .path = lm, .version = 1},
    };
    zkc_multi_results *r = NULL;
    OK(zkc_multi(router, ops, 5, &r));
    assert_int_equal(5, r->count);
    assert_string_equal(lm, r->v[0].created_path);
    char want[200];
    snprintf(want, sizeof want, "%s0000000000", ls);
    assert_string_equal(want, r->v[1].created_path);
    assert_string_equal(nm, r->v[2].created_path);
    assert_int_equal(1, r->v[3].stat->version);
    zkc_free(r);
    zkc_conn *d = direct(NYC);
    assert_data(d, C("nyc", "m"), "m2");
    assert_true(node_exists(d, C("nyc", "m/s-0000000000")));
    zkc_conn_close(d);
    d = direct(SFO);
    assert_false(node_exists(d, C("sfo", "m")));
    zkc_conn_close(d);
    /* Refused by the server: nothing applied, the operation named. */
    zkc_request bad[] = {{.op = ZKC_OP_DELETE, .path = nm, .version = -1},
                         {.op = ZKC_OP_CHECK, .path = lm, .version = 7}};
    assert_int_equal(ZKC_EBADVERSION, zkc_multi(router, bad, 2, &r));
    assert_non_null(strstr(zkc_errmsg(), lm));
    assert_int_equal(ZKC_EBADVERSION, r->v[1].rc);
    zkc_free(r);
    assert_true(node_exists(router, nm));
    /* Two cells: refused before anything is sent. */
    zkc_request two[] = {{.op = ZKC_OP_DELETE, .path = nm, .version = -1},
                         {.op = ZKC_OP_CHECK, .path = C("sfo", NULL), .version = -1}};
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_multi(router, two, 2, NULL));
    assert_non_null(strstr(zkc_errmsg(), "for cell nyc"));
    assert_non_null(strstr(zkc_errmsg(), "for cell sfo"));
    assert_true(node_exists(router, nm));
    OK(zkc_delete_recursive(router, lm, -1));
    assert_false(node_exists(router, C("nyc", "m")));

    /* A fresh cell: a server (here a chroot of the global one) without
     * /zk.  Creating under /zk/fresh makes /zk there first. */
    char chroot[96], extra[200], zkp[160], leaf[160];
    snprintf(chroot, sizeof chroot, "/%s-fresh", base);
    d = direct(GLOB);
    OK(zkc_create(d, chroot, NULL, 0, 0, NULL, NULL));
    snprintf(extra, sizeof extra, ",\n  \"fresh\": \"%s%s\"", S[GLOB].addr, chroot);
    write_config(extra);
    char *p = NULL;
    OK(zkc_create_recursive(router, "/zk/fresh/svc/a", "a", 1, 0, NULL, &p));
    assert_string_equal("/zk/fresh/svc/a", p);
    zkc_free(p);
    snprintf(zkp, sizeof zkp, "%s/zk", chroot);
    snprintf(leaf, sizeof leaf, "%s/zk/fresh/svc/a", chroot);
    assert_data(d, leaf, "a");
    zkc_acl_list *acl = NULL;
    OK(zkc_get_acl(d, zkp, &acl, NULL));
    assert_int_equal(1, acl->count);
    assert_int_equal(ZKC_PERM_DIRECTORY, acl->v[0].perms);
    zkc_acl_list_free(acl);
    /* A plain create of the cell's node, and a multi that starts with
     * it, on a fresh server again. */
    OK(zkc_delete_recursive(d, zkp, -1));
    OK(zkc_create(router, "/zk/fresh", "f", 1, 0, NULL, NULL));
    assert_data(d, zkp, "");
    OK(zkc_delete_recursive(d, zkp, -1));
    zkc_request fresh[] = {
        {.op = ZKC_OP_CREATE, .path = "/zk/fresh", .version = -1},
        {.op = ZKC_OP_CREATE, .path = "/zk/fresh/k", .data = "k", .data_len = 1, .version = -1},
    };
    OK(zkc_multi(router, fresh, 2, NULL));
    assert_data(router, "/zk/fresh/k", "k");
    OK(zkc_delete_recursive(d, chroot, -1));
    zkc_conn_close(d);
    write_config("");
}

/* ---- GlobalConn over three quorums ---- */

static void test_global_conn(void **state)
{
    (void)state;
    const char *addrs[3] = {S[GLOB].addr, S[NYC].addr, S[SFO].addr};
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.base_timeout_ms = BASE_TIMEOUT_MS;
    o.connect_timeout_ms = 10000;
    zkc_conn *g = NULL;
    OK(zkc_global_dial(addrs, 3, &o, &g));
    assert_int_equal(3, zkc_global_size(g));
    /* (zkc_zk_dial() may return a moment before its state says
     * connected: give the quorums' state callbacks that moment.) */
    for (int i = 0; i < 200 && zkc_conn_state(g) != ZKC_STATE_CONNECTED; i++)
        zkc_sleep(10, NULL);
    assert_int_equal(ZKC_STATE_CONNECTED, zkc_conn_state(g));

    char root[96], k[128], seqp[128];
    snprintf(root, sizeof root, "/%s-g", base);
    snprintf(k, sizeof k, "%s/k", root);
    snprintf(seqp, sizeof seqp, "%s/s-", root);
    OK(zkc_create(g, root, NULL, 0, 0, NULL, NULL));
    OK(zkc_create(g, k, "hello", 5, 0, NULL, NULL));
    assert_data(g, k, "hello");
    zkc_stat st;
    OK(zkc_set(g, k, "hello2", 6, 0, &st));
    assert_int_equal(1, st.version);
    assert_int_equal(ZKC_EBADVERSION, zkc_set(g, k, "x", 1, 0, NULL));
    OK(zkc_set(g, k, "hello3", 6, -1, &st));
    assert_int_equal(2, st.version);
    char *s1 = NULL, *s2 = NULL;
    OK(zkc_create(g, seqp, "a", 1, ZKC_SEQUENCE, NULL, &s1));
    OK(zkc_create(g, seqp, "b", 1, ZKC_SEQUENCE, NULL, &s2));
    assert_true(strcmp(s1, s2) < 0);
    assert_int_equal(ZKC_ENODEEXISTS, zkc_create(g, k, "", 0, 0, NULL, NULL));
    zkc_strings *kids = NULL;
    OK(zkc_children(g, root, &kids, NULL, NULL));
    assert_int_equal(3, kids->count);
    zkc_strings_free(kids);

    /* Each quorum holds the same thing, at the same versions. */
    int servers[3] = {GLOB, NYC, SFO};
    for (int i = 0; i < 3; i++) {
        zkc_conn *d = direct(servers[i]);
        OK(zkc_get(d, k, NULL, NULL, &st, NULL));
        assert_int_equal(2, st.version);
        assert_data(d, k, "hello3");
        assert_data(d, s1, "a");
        assert_data(d, s2, "b");
        zkc_conn_close(d);
    }

    /* A write behind its back on quorum 1: reads say so, naming it. */
    zkc_conn *d = direct(NYC);
    OK(zkc_set(d, k, "rogue", 5, -1, NULL));
    zkc_conn_close(d);
    assert_int_equal(ZKC_EINCONSISTENT, zkc_get(g, k, NULL, NULL, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "quorum 1"));
    zkc_conn *q[3] = {zkc_global_quorum(g, 0), zkc_global_quorum(g, 1), zkc_global_quorum(g, 2)};
    zkc_diff *diff = NULL;
    OK(zkc_global_diff(q, 3, root, &diff));
    assert_int_equal(1, diff->count);
    assert_string_equal(k, diff->v[0].path);
    assert_int_equal(ZKC_DIFF_DATA, diff->v[0].kind);
    zkc_diff_free(diff);
    size_t changes = 0;
    OK(zkc_global_repair(q, 3, 0, root, &changes));
    assert_true(changes >= 1);
    assert_data(g, k, "hello3");
    OK(zkc_global_diff(q, 3, root, &diff));
    assert_int_equal(0, diff->count);
    zkc_diff_free(diff);

    /* A multi on every quorum: quorum 0 names the sequential node, the
     * others make that name. */
    char mm[128];
    snprintf(mm, sizeof mm, "%s/m-", root);
    zkc_request gops[] = {{.op = ZKC_OP_CREATE, .path = mm, .flags = ZKC_SEQUENCE, .version = -1},
                          {.op = ZKC_OP_CHECK, .path = k, .version = -1}};
    zkc_multi_results *mr = NULL;
    OK(zkc_multi(g, gops, 2, &mr));
    for (int i = 0; i < 3; i++) {
        zkc_conn *dq = direct(servers[i]);
        assert_true(node_exists(dq, mr->v[0].created_path));
        zkc_conn_close(dq);
    }
    zkc_free(mr);

    /* Deletes everywhere. */
    OK(zkc_delete(g, s1, -1));
    assert_int_equal(ZKC_ENONODE, zkc_get(g, s1, NULL, NULL, NULL, NULL));
    zkc_free(s1);
    zkc_free(s2);
    OK(zkc_delete_recursive(g, root, -1));
    bool e = true;
    OK(zkc_exists(g, root, &e, NULL, NULL));
    assert_false(e);
    zkc_conn_close(g);
}

/* ---- a cell that goes down, and comes back ---- */

typedef struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    int rc;
    char msg[1024];
    int64_t at;
} waiter;

static void waiter_done(const zkc_result *res, void *ud)
{
    waiter *w = ud;
    zkc_watch_free(res->watch);
    pthread_mutex_lock(&w->lock);
    w->rc = res->rc;
    snprintf(w->msg, sizeof w->msg, "%s", res->errmsg != NULL ? res->errmsg : "");
    w->at = now_ms();
    w->done = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static bool waiter_wait(waiter *w, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    pthread_mutex_lock(&w->lock);
    while (!w->done && now_ms() < deadline) {
        pthread_mutex_unlock(&w->lock);
        zkc_sleep(5, NULL);
        pthread_mutex_lock(&w->lock);
    }
    bool done = w->done;
    pthread_mutex_unlock(&w->lock);
    return done;
}

static void status_of(zkc_conn *m, const char *cell, char *state, size_t n, long *dials,
                      long *failures)
{
    char *json = NULL;
    OK(zkc_conn_cache_status(zkc_meta_cache(m), &json));
    char key[64];
    snprintf(key, sizeof key, "\"%s\":{", cell);
    const char *p = strstr(json, key);
    if (p == NULL)
        fail_msg("no %s in %s", cell, json);
    const char *s = strstr(p, "\"state\":\"");
    const char *dd = strstr(p, "\"dials\":");
    const char *f = strstr(p, "\"failures\":");
    assert_non_null(s);
    assert_non_null(dd);
    assert_non_null(f);
    s += 9;
    size_t len = strcspn(s, "\"");
    snprintf(state, n, "%.*s", (int)len, s);
    *dials = strtol(dd + 8, NULL, 10);
    *failures = strtol(f + 11, NULL, 10);
    zkc_free(json);
}

/* How many dials of cell the router's cache has begun (-1: it has not
 * met the cell yet). */
static long dials_begun(zkc_conn *m, const char *cell)
{
    char *json = NULL;
    if (zkc_conn_cache_status(zkc_meta_cache(m), &json) != ZKC_OK)
        return -1;
    char key[64];
    snprintf(key, sizeof key, "\"%s\":{", cell);
    const char *p = strstr(json, key);
    const char *dd = p != NULL ? strstr(p, "\"dials\":") : NULL;
    long n = dd != NULL ? strtol(dd + 8, NULL, 10) : -1;
    zkc_free(json);
    return n;
}

/*
 * A dial for a router whose dials of one cell the test holds back: the
 * real dial (zkc_dial_quorums with the cells' timeouts, as the cache's
 * default), except that a dial of cell first waits at the gate until the
 * test opens it.  So the test, not the connect timeout, decides how long
 * that dial is in flight.
 */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    const char *cell;
    bool open;
    int held;  /* dials of cell waiting at the gate */
    int dials; /* dials of cell let through */
} gate;

static int gated_dial(const char *cell, const char *addrs, void *ud, zkc_conn **ret_conn)
{
    gate *g = ud;
    if (strcmp(cell, g->cell) == 0) {
        pthread_mutex_lock(&g->lock);
        g->held++;
        pthread_cond_broadcast(&g->cond);
        while (!g->open)
            pthread_cond_wait(&g->cond, &g->lock);
        g->held--;
        g->dials++;
        pthread_mutex_unlock(&g->lock);
    }
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.base_timeout_ms = zkc_cells_base_timeout_ms(cells);
    o.connect_timeout_ms = zkc_cells_connect_timeout_ms(cells);
    return zkc_dial_quorums(addrs, &o, ret_conn);
}

/* Wait until a dial is held at the gate (a minute at most: then fail). */
static void gate_wait_held(gate *g)
{
    int64_t deadline = now_ms() + 60000;
    pthread_mutex_lock(&g->lock);
    while (g->held == 0 && now_ms() < deadline) {
        pthread_mutex_unlock(&g->lock);
        zkc_sleep(5, NULL);
        pthread_mutex_lock(&g->lock);
    }
    int held = g->held;
    pthread_mutex_unlock(&g->lock);
    if (held == 0)
        fail_msg("no dial of %s reached the gate in 60 s", g->cell);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static int gate_dials(gate *g)
{
    pthread_mutex_lock(&g->lock);
    int n = g->dials;
    pthread_mutex_unlock(&g->lock);
    return n;
}

/* The delay in "...; next dial in N ms)". */
static int next_dial_in_ms(const char *msg)
{
    const char *p = strstr(msg, "next dial in ");
    if (p == NULL)
        fail_msg("no \"next dial in\" in: %s", msg);
    return atoi(p + 13);
}

static void test_cell_down_and_back(void **state)
{
    (void)state;
    /* The main router has every cell connected already. */
    assert_data(router, C("lon", "x"), "written to lon");

    OK(stop_server(&S[LON]));

    /* A second router, with its own cache, that has not met lon yet; its
     * dials of lon wait at a gate that the test opens. */
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, "lon", false, 0, 0};
    zkc_conn *r2 = open_router_with(cells, 400, 2000, gated_dial, &g);
    assert_non_null(r2);
    assert_data(r2, C("nyc", "x"), "written to nyc"); /* nyc dialled */

    /* sfo (a dial of its own, on another router thread), nyc and global
     * answer while lon's dial is in flight (held at the gate: the test,
     * not a timeout, keeps it there); they do not wait for it. */
    waiter lw = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, "", 0};
    OK(zkc_aget(r2, C("lon", "x"), 0, waiter_done, &lw));
    gate_wait_held(&g);
    assert_int_equal(1, dials_begun(r2, "lon"));
    assert_data(r2, C("sfo", "x"), "written to sfo");
    assert_data(r2, C("nyc", "x"), "written to nyc");
    assert_data(r2, C("global", "x"), "written to global");
    pthread_mutex_lock(&lw.lock);
    int lon_done = lw.done;
    pthread_mutex_unlock(&lw.lock);
    assert_int_equal(0, lon_done);

    /* Let it through: lon's dial fails (no server answers within the
     * cells' connect timeout), with an error naming the cell and its
     * address. */
    gate_open(&g);
    assert_true(waiter_wait(&lw, 60000)); /* a hang guard, not a bound */
    print_message("# lon down, first use: %s: %s\n", zkc_err_name(lw.rc), lw.msg);
    assert_true(lw.rc == ZKC_ETIMEDOUT || lw.rc == ZKC_ECONNECT);
    assert_non_null(strstr(lw.msg, "cell lon"));
    assert_non_null(strstr(lw.msg, S[LON].addr));
    assert_int_equal(1, gate_dials(&g));

    /* At once again: the remembered error, no new dial. */
    char st[32];
    long dials, failures;
    status_of(r2, "lon", st, sizeof st, &dials, &failures);
    assert_string_equal("backoff", st);
    assert_int_equal(1, dials);
    assert_int_equal(1, failures);
    int rc = zkc_get(r2, C("lon", "x"), NULL, NULL, NULL, NULL);
    print_message("# lon down, in backoff: %s: %s\n", zkc_err_name(rc), zkc_errmsg());
    assert_int_equal(lw.rc, rc);
    assert_non_null(strstr(zkc_errmsg(), "cell lon"));
    assert_non_null(strstr(zkc_errmsg(), "next dial in"));
    /* Writes too, and writes to the other cells go through. */
    assert_int_equal(lw.rc, zkc_create(r2, C("lon", "y"), "", 0, 0, NULL, NULL));
    OK(zkc_create(r2, C("sfo", "during-lon-outage"), "", 0, 0, NULL, NULL));
    status_of(r2, "lon", st, sizeof st, &dials, &failures);
    assert_int_equal(1, dials);
    assert_int_equal(1, gate_dials(&g));

    /* Once the delay has passed, one dial again (still down), and a
     * longer delay after it (400 ms doubled: 400..800 ms). */
    zkc_sleep(next_dial_in_ms(zkc_errmsg()) + 30, NULL);
    rc = zkc_get(r2, C("lon", "x"), NULL, NULL, NULL, NULL);
    assert_int_equal(lw.rc, rc);
    assert_int_equal(2, gate_dials(&g));
    status_of(r2, "lon", st, sizeof st, &dials, &failures);
    assert_int_equal(2, dials);
    assert_int_equal(2, failures);
    rc = zkc_exists(r2, C("lon", "x"), NULL, NULL, NULL);
    assert_int_equal(lw.rc, rc);
    assert_non_null(strstr(zkc_errmsg(), "2 failed dials"));
    int next = next_dial_in_ms(zkc_errmsg());
    print_message("# lon down, after a second failed dial: next dial in %d ms\n", next);
    /* The delay drawn is 400..800 ms, less the time since: never more. */
    assert_true(next > 0 && next <= 800);

    /* The main router's lon connection lost its server: reads are
     * retried, then fail with connection loss naming the path; the other
     * cells carry on. */
    int64_t t0 = now_ms();
    rc = zkc_get(router, C("lon", "x"), NULL, NULL, NULL, NULL);
    int64_t took = now_ms() - t0;
    print_message("# lon down, connected router: %s after %lld ms: %s\n", zkc_err_name(rc),
                  (long long)took, zkc_errmsg());
    assert_int_equal(ZKC_ECONNECTIONLOSS, rc);
    assert_non_null(strstr(zkc_errmsg(), C("lon", "x")));
    assert_non_null(strstr(zkc_errmsg(), "cell lon"));
    /* An unversioned write is not repeated. */
    rc = zkc_set(router, C("lon", "x"), "z", 1, -1, NULL);
    assert_int_equal(ZKC_ECONNECTIONLOSS, rc);
    assert_non_null(strstr(zkc_errmsg(), C("lon", "x")));
    assert_data(router, C("sfo", "x"), "written to sfo");
    assert_data(router, C("local", "x"), "written to nyc");
    OK(zkc_set(router, C("global", "x"), "written to global", 17, -1, NULL));

    /* lon comes back. */
    t0 = now_ms();
    assert_int_equal(0, start_server(&S[LON]));
    print_message("# lon restarted in %lld ms\n", (long long)(now_ms() - t0));

    /* The second router dials again once its backoff allows: the same
     * router, the same cache. */
    t0 = now_ms();
    int64_t deadline = t0 + 60000; /* a hang guard */
    int attempts = 0;
    while ((rc = zkc_get(r2, C("lon", "x"), NULL, NULL, NULL, NULL)) != ZKC_OK &&
           now_ms() < deadline) {
        attempts++;
        assert_true(rc == ZKC_ETIMEDOUT || rc == ZKC_ECONNECT);
        zkc_sleep(100, NULL);
    }
    print_message("# second router: lon back after %lld ms, %d failed tries\n",
                  (long long)(now_ms() - t0), attempts);
    OK(rc);
    assert_data(r2, C("lon", "x"), "written to lon");
    OK(zkc_create(r2, C("lon", "y"), "after", 5, 0, NULL, NULL));
    status_of(r2, "lon", st, sizeof st, &dials, &failures);
    assert_string_equal("connected", st);
    assert_true(dials >= 2);
    assert_int_equal(dials - 1, failures);

    /* The main router too: its session reconnected or was replaced. */
    t0 = now_ms();
    while ((rc = zkc_get(router, C("lon", "y"), NULL, NULL, NULL, NULL)) != ZKC_OK &&
           now_ms() < t0 + 60000)
        zkc_sleep(100, NULL);
    OK(rc);
    assert_data(router, C("lon", "y"), "after");
    zkc_conn *cl = NULL;
    OK(zkc_conn_cache_get(zkc_meta_cache(router), "lon", &cl));
    print_message("# main router: lon back after %lld ms, state %s\n",
                  (long long)(now_ms() - t0), zkc_state_name(zkc_conn_state(cl)));
    zkc_conn_cache_release(zkc_meta_cache(router), cl);
    OK(zkc_set(router, C("lon", "x"), "written to lon", 14, -1, NULL));
    OK(zkc_delete(router, C("lon", "y"), -1));
    OK(zkc_delete(router, C("sfo", "during-lon-outage"), -1));
    zkc_conn_close(r2);
}

/* ---- a session expired in one cell ---- */

static void test_session_expiry(void **state)
{
    (void)state;
    zkc_conn_cache *cache = zkc_meta_cache(router);
    zkc_conn *old = NULL, *nyc = NULL, *glob = NULL;
    OK(zkc_conn_cache_get(cache, "sfo", &old));
    OK(zkc_conn_cache_get(cache, "nyc", &nyc));
    OK(zkc_conn_cache_get(cache, "global", &glob));
    int64_t old_sid = zkc_conn_session_id(old);
    int64_t nyc_sid = zkc_conn_session_id(nyc);
    int64_t glob_sid = zkc_conn_session_id(glob);

    /* An ephemeral and watches on sfo; a watch on nyc. */
    OK(zkc_create(router, C("sfo", "eph"), "e", 1, ZKC_EPHEMERAL, NULL, NULL));
    zkc_watch *ws = NULL, *wn = NULL;
    OK(zkc_get(router, C("sfo", "x"), NULL, NULL, NULL, &ws));
    OK(zkc_get(router, C("local", "x"), NULL, NULL, NULL, &wn));
    assert_non_null(ws);
    assert_non_null(wn);

    int64_t t0 = now_ms();
    OK(zk_test_expire(S[SFO].addr, old));
    print_message("# sfo session expired from outside in %lld ms\n", (long long)(now_ms() - t0));
    assert_int_equal(ZKC_STATE_EXPIRED, zkc_conn_state(old));
    OK(zkc_watch_wait(ws, 5000, NULL));
    assert_int_equal(ZKC_EVENT_SESSION_EXPIRED, zkc_watch_event(ws)->type);
    assert_string_equal(C("sfo", "x"), zkc_watch_event(ws)->path);
    zkc_watch_free(ws);
    /* The session is gone on the old handle itself. */
    assert_int_equal(ZKC_ESESSIONEXPIRED, zkc_get(old, C("sfo", "x"), NULL, NULL, NULL, NULL));

    /* The other cells carry on, with their sessions. */
    assert_data(router, C("nyc", "x"), "written to nyc");
    assert_data(router, C("global", "x"), "written to global");
    assert_int_equal(0, zkc_watch_fired(wn));
    assert_true(zkc_conn_state(nyc) == ZKC_STATE_CONNECTED ||
                zkc_conn_state(nyc) == ZKC_STATE_RECONNECTED);

    /* sfo through the router: a new session, the ephemeral gone. */
    t0 = now_ms();
    assert_data(router, C("sfo", "x"), "written to sfo");
    print_message("# sfo answered again after %lld ms\n", (long long)(now_ms() - t0));
    assert_false(node_exists(router, C("sfo", "eph")));
    OK(zkc_create(router, C("sfo", "eph"), "e2", 2, ZKC_EPHEMERAL, NULL, NULL));
    zkc_conn *fresh = NULL;
    OK(zkc_conn_cache_get(cache, "sfo", &fresh));
    assert_ptr_not_equal(old, fresh);
    assert_true(zkc_conn_session_id(fresh) != 0);
    assert_true(zkc_conn_session_id(fresh) != old_sid);
    assert_true(zkc_conn_state(fresh) == ZKC_STATE_CONNECTED);
    zkc_stat st;
    OK(zkc_get(router, C("sfo", "eph"), NULL, NULL, &st, NULL));
    assert_true(st.ephemeral_owner == zkc_conn_session_id(fresh));
    zkc_conn_cache_release(cache, fresh);
    zkc_conn_cache_release(cache, old); /* the last reference: closed now */

    zkc_conn *n2 = NULL, *g2 = NULL;
    OK(zkc_conn_cache_get(cache, "local", &n2));
    OK(zkc_conn_cache_get(cache, "global", &g2));
    assert_ptr_equal(nyc, n2);
    assert_ptr_equal(glob, g2);
    assert_true(zkc_conn_session_id(n2) == nyc_sid);
    assert_true(zkc_conn_session_id(g2) == glob_sid);
    zkc_conn_cache_release(cache, n2);
    zkc_conn_cache_release(cache, g2);

    /* The nyc watch still works. */
    OK(zkc_set(router, C("nyc", "x"), "written to nyc", 14, -1, NULL));
    OK(zkc_watch_wait(wn, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(wn)->type);
    assert_string_equal(C("local", "x"), zkc_watch_event(wn)->path);
    zkc_watch_free(wn);

    /* Expire the local cell next, through "local": nyc is replaced, sfo
     * keeps its new session. */
    OK(zk_test_expire(S[NYC].addr, nyc));
    zkc_conn_cache_release(cache, nyc);
    OK(zkc_conn_cache_get(cache, "sfo", &fresh));
    int64_t sfo_sid = zkc_conn_session_id(fresh);
    zkc_conn_cache_release(cache, fresh);
    OK(zkc_create(router, C("local", "after-expiry"), "a", 1, ZKC_EPHEMERAL, NULL, NULL));
    assert_data(router, C("nyc", "after-expiry"), "a");
    OK(zkc_conn_cache_get(cache, "nyc", &n2));
    assert_true(zkc_conn_session_id(n2) != nyc_sid);
    zkc_conn_cache_release(cache, n2);
    assert_data(router, C("sfo", "eph"), "e2");
    OK(zkc_conn_cache_get(cache, "sfo", &fresh));
    assert_true(zkc_conn_session_id(fresh) == sfo_sid);
    zkc_conn_cache_release(cache, fresh);
    zkc_conn_cache_release(cache, glob);
}

/* ---- an expiry under load ---- */

typedef struct load {
    atomic_int inflight;
    atomic_int done;
    atomic_int ok;
    atomic_int retried_ok; /* sfo reads */
    pthread_mutex_t lock;
    int bad_rc;
    char bad_msg[1024];
    char bad_path[256];
} load;

typedef struct load_op {
    load *l;
    char path[256];
    int64_t submitted_at;
    struct load_op *prev, *next; /* the ones in flight, for a report */
} load_op;

static pthread_mutex_t flight_lock = PTHREAD_MUTEX_INITIALIZER;
static load_op *flight;

static void load_done(const zkc_result *res, void *ud)
{
    load_op *o = ud;
    load *l = o->l;
    zkc_watch_free(res->watch);
    if (res->rc == ZKC_OK && res->data_len > 0) {
        atomic_fetch_add(&l->ok, 1);
    } else {
        pthread_mutex_lock(&l->lock);
        if (l->bad_rc == 0) {
            l->bad_rc = res->rc != ZKC_OK ? res->rc : ZKC_EBADDATA;
            snprintf(l->bad_msg, sizeof l->bad_msg, "%s",
                     res->errmsg != NULL ? res->errmsg : "");
            snprintf(l->bad_path, sizeof l->bad_path, "%s", o->path);
        }
        pthread_mutex_unlock(&l->lock);
    }
    pthread_mutex_lock(&flight_lock);
    if (o->prev != NULL)
        o->prev->next = o->next;
    else
        flight = o->next;
    if (o->next != NULL)
        o->next->prev = o->prev;
    pthread_mutex_unlock(&flight_lock);
    free(o);
    atomic_fetch_sub(&l->inflight, 1);
    atomic_fetch_add(&l->done, 1);
}

typedef struct expirer {
    zkc_conn *conn;
    int rc;
    atomic_int finished;
} expirer;

static void *expire_thread(void *arg)
{
    expirer *e = arg;
    zkc_sleep(150, NULL);
    e->rc = zk_test_expire(S[SFO].addr, e->conn);
    atomic_store(&e->finished, 1);
    return NULL;
}

/* Reads keep flowing to sfo, nyc and global while sfo's session is
 * expired under them: every one succeeds (reads are retried, and the
 * cache replaces the session), nyc's and global's sessions stay. */
static void test_expiry_under_load(void **state)
{
    (void)state;
    zkc_conn_cache_opts co = ZKC_CONN_CACHE_OPTS_INIT;
    zkc_conn_cache *cache = NULL;
    OK(zkc_conn_cache_new(cells, &co, &cache));
    zkc_meta_opts mo = ZKC_META_OPTS_INIT;
    mo.max_attempts = 12;
    mo.backoff_min_ms = 20;
    mo.backoff_max_ms = 200;
    mo.retry_budget_ms = 10000;
    zkc_conn *r = NULL;
    OK(zkc_meta_open(cache, &mo, &r));
    assert_data(r, C("sfo", "x"), "written to sfo");
    assert_data(r, C("nyc", "x"), "written to nyc");
    assert_data(r, C("global", "x"), "written to global");
    zkc_conn *sfo = NULL, *nyc = NULL;
    OK(zkc_conn_cache_get(cache, "sfo", &sfo));
    OK(zkc_conn_cache_get(cache, "nyc", &nyc));
    int64_t nyc_sid = zkc_conn_session_id(nyc);

    static load l;
    memset(&l, 0, sizeof l);
    pthread_mutex_init(&l.lock, NULL);
    expirer ex = {.conn = sfo};
    atomic_init(&ex.finished, 0);
    pthread_t th;
    assert_int_equal(0, pthread_create(&th, NULL, expire_thread, &ex));
    const char *targets[] = {"sfo", "nyc", "sfo", "global"};
    int submitted = 0;
    int64_t end = -1, t0 = now_ms();
    for (;;) {
        if (end < 0 && atomic_load(&ex.finished))
            end = now_ms() + 300; /* and a little after */
        if ((end >= 0 && now_ms() >= end) || now_ms() - t0 > 20000)
            break;
        if (atomic_load(&l.inflight) >= 64) {
            zkc_sleep(1, NULL);
            continue;
        }
        load_op *o = malloc(sizeof *o);
        assert_non_null(o);
        o->l = &l;
        snprintf(o->path, sizeof o->path, "%s", C(targets[submitted % 4], "x"));
        o->submitted_at = now_ms();
        o->prev = NULL;
        pthread_mutex_lock(&flight_lock);
        o->next = flight;
        if (flight != NULL)
            flight->prev = o;
        flight = o;
        pthread_mutex_unlock(&flight_lock);
        atomic_fetch_add(&l.inflight, 1);
        int rc = zkc_aget(r, o->path, 0, load_done, o);
        if (rc != ZKC_OK)
            fail_msg("submit: %s", zkc_err_name(rc)); /* (o stays listed: a leak on failure) */
        submitted++;
    }
    pthread_join(th, NULL);
    OK(ex.rc);
    int64_t deadline = now_ms() + 15000;
    while (atomic_load(&l.done) < submitted && now_ms() < deadline)
        zkc_sleep(5, NULL);
    print_message("# %d reads during sfo's expiry in %lld ms: %d ok\n", submitted,
                  (long long)(now_ms() - t0), atomic_load(&l.ok));
    if (atomic_load(&l.done) < submitted) {
        char *json = NULL;
        if (zkc_conn_cache_status(cache, &json) == ZKC_OK)
            print_message("# cache: %s\n", json);
        zkc_free(json);
        print_message("# old sfo connection: %s\n", zkc_state_name(zkc_conn_state(sfo)));
        pthread_mutex_lock(&flight_lock);
        for (load_op *o = flight; o != NULL; o = o->next)
            print_message("# no completion: get %s submitted at +%lld ms\n", o->path,
                          (long long)(o->submitted_at - t0));
        pthread_mutex_unlock(&flight_lock);
    }
    assert_int_equal(submitted, atomic_load(&l.done));
    if (l.bad_rc != 0)
        fail_msg("%s: %s: %s", l.bad_path, zkc_err_name(l.bad_rc), l.bad_msg);
    assert_int_equal(submitted, atomic_load(&l.ok));
    assert_true(submitted > 100);

    zkc_conn *sfo2 = NULL, *nyc2 = NULL;
    OK(zkc_conn_cache_get(cache, "sfo", &sfo2));
    OK(zkc_conn_cache_get(cache, "nyc", &nyc2));
    assert_ptr_not_equal(sfo, sfo2);
    assert_ptr_equal(nyc, nyc2);
    assert_true(zkc_conn_session_id(nyc2) == nyc_sid);
    zkc_conn_cache_release(cache, sfo2);
    zkc_conn_cache_release(cache, nyc2);
    zkc_conn_cache_release(cache, nyc);
    zkc_conn_cache_release(cache, sfo);
    zkc_conn_close(r);
    pthread_mutex_destroy(&l.lock);
}

int main(void)
{
    const char *zkctl_bin = zk_test_zkctl_init();
    if (zkctl_bin == NULL) {
        printf("1..0 # SKIP ZKCTL is not set (the zkctl binary)\n");
        return 0;
    }
    snprintf(cfg_dir, sizeof cfg_dir, "/tmp/zkc-cells-cfg-XXXXXX");
    if (mkdtemp(cfg_dir) == NULL) {
        printf("1..0 # SKIP cannot make a temporary folder\n");
        return 0;
    }
    snprintf(cfg_path, sizeof cfg_path, "%s/zk_client.json", cfg_dir);
    for (int i = 0; i < NSRV; i++) {
        snprintf(S[i].dir, sizeof S[i].dir, "/tmp/zkc-cells-%s-XXXXXX", S[i].cell);
        if (mkdtemp(S[i].dir) == NULL) {
            S[i].dir[0] = '\0';
            teardown_all();
            printf("1..0 # SKIP cannot make a temporary folder\n");
            return 0;
        }
    }
    /* Before any thread: the watchdog, then the exit and signal paths. */
    start_watchdog();
    atexit(teardown_all);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGHUP, on_signal);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_router_blocking_calls),
        cmocka_unit_test(test_local_global_key),
        cmocka_unit_test(test_config_edit),
        cmocka_unit_test(test_multi_and_fresh_cell),
        cmocka_unit_test(test_global_conn),
        cmocka_unit_test(test_cell_down_and_back),
        cmocka_unit_test(test_session_expiry),
        cmocka_unit_test(test_expiry_under_load),
    };
    int64_t t0 = now_ms();
    int rc = cmocka_run_group_tests_name("cells_real", tests, group_setup, group_teardown);
    printf("# wall time %lld ms\n", (long long)(now_ms() - t0));
    return rc;
}
