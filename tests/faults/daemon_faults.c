/*
 * daemon_faults: the zkocc rows of issue 13's fault matrix.  Readers
 * (zkc_zkocc_dial connections, one per reader) read ten nodes through a
 * zkocc daemon while a writer changes them straight on ZooKeeper, under
 * three faults: zkocc killed (SIGKILL) and restarted on its port,
 * ZooKeeper killed and restarted with its data under zkocc, and
 * ZooKeeper paused (SIGSTOP) past zkocc's session timeout and resumed.
 *
 * Recorded per cell: reads attempted and answered, the error codes
 * readers saw, wrong answers (a value no write ever carried: must be 0),
 * calls that did not return within 30 s (hung: must be 0), whether zkocc
 * came back fresh after the fault (every node read through it equal to
 * its newest acknowledged write, within a generous deadline: must be
 * yes), and the time from the end of the fault to the first answer.
 *
 *   daemon_faults ZKOCC [--seconds N]
 *
 * Without --seconds: about 2 s of work around each fault (TAP, one test
 * per cell, asserting only wrong, hung and fresh).  With --seconds N: each
 * cell repeats its fault for about N seconds and the table is printed
 * (make soak).  ZooKeeper is this program's own ($ZKCTL, a free port),
 * zkocc too (a free port); both are stopped by their PIDs on every exit
 * path, and a paused server is resumed first.
 */
#include "fm_errs.h"
#include "fm_server.h"
#include "history.h"
#include "../integration/zk_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <zkcell/zkocc.h>

#define NREADERS   3
#define NKEYS      10
#define SESSION_MS 2000
#define PAUSE_MS   3200
#define HUNG_US    30000000LL

extern char **environ;

enum { F_ZKOCC_KILL, F_ZK_KILL, F_ZK_PAUSE, NFAULT };
static const char *fault_name[NFAULT] = {"zkocc kill+restart", "zk kill+restart",
                                         "zk SIGSTOP>timeout"};

static const char *g_zkocc_bin;
static fm_server g_zk;
static char g_zkocc_addr[64];
static int g_zkocc_port;
static volatile pid_t g_zkocc_pid;

/* ---- the cell ---- */

typedef struct cell {
    int fault;
    atomic_int stop;
    pthread_mutex_t lock;
    long attempted, acked, wrong;
    errcount errs[16];
    int nerrs;
    /* Per key: the newest value any write carried (set before it is
     * sent) and the newest acknowledged. */
    atomic_long written[NKEYS];
    atomic_long acked_value[NKEYS];
    /* Per reader: when its current call began (0: not in a call). */
    atomic_llong in_call_us[NREADERS];
    atomic_long hung;
    atomic_llong fault_end_us; /* 0 while the fault lasts */
    atomic_llong first_ack_after_us;
} cell;

static void note_err(cell *c, int rc)
{
    pthread_mutex_lock(&c->lock);
    fm_errs_note(c->errs, &c->nerrs, (int)(sizeof c->errs / sizeof *c->errs), rc);
    pthread_mutex_unlock(&c->lock);
}

static void key_path(char *buf, size_t n, int k)
{
    snprintf(buf, n, "/zk/fm/d/k%d", k);
}

/* A value as written: "<key>:<value>". */
static bool parse_value(const char *data, size_t len, int k, long *ret)
{
    char buf[64];
    if (data == NULL || len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, data, len);
    buf[len] = '\0';
    char *end;
    long key = strtol(buf, &end, 10);
    if (key != k || *end != ':')
        return false;
    *ret = strtol(end + 1, &end, 10);
    return *end == '\0';
}

/* ---- the writer: straight to ZooKeeper ---- */

static zkc_conn *dial_zk(void)
{
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.base_timeout_ms = SESSION_MS;
    o.connect_timeout_ms = 5000;
    zkc_conn *conn = NULL;
    return zkc_zk_dial(g_zk.addrs, &o, &conn) == ZKC_OK ? conn : NULL;
}

static void *writer_main(void *arg)
{
    cell *c = arg;
    zkc_conn *conn = NULL;
    unsigned seed = (unsigned)getpid();
    while (!atomic_load(&c->stop)) {
        if (conn == NULL && (conn = dial_zk()) == NULL) {
            zkc_sleep(100, NULL);
            continue;
        }
        int k = (int)(rand_r(&seed) % NKEYS);
        long v = atomic_fetch_add(&c->written[k], 1) + 1;
        char p[64], data[64];
        key_path(p, sizeof p, k);
        int len = snprintf(data, sizeof data, "%d:%ld", k, v);
        int rc = zkc_set(conn, p, data, (size_t)len, -1, NULL);
        if (rc == ZKC_OK) {
            long old = atomic_load(&c->acked_value[k]);
            while (old < v && !atomic_compare_exchange_weak(&c->acked_value[k], &old, v))
                ;
        } else if (zkc_conn_state(conn) == ZKC_STATE_EXPIRED || rc == ZKC_ECLOSED) {
            zkc_conn_close(conn);
            conn = NULL;
        }
        zkc_sleep(20, NULL);
    }
    if (conn != NULL)
        zkc_conn_close(conn);
    return NULL;
}

/* ---- the readers: through zkocc ---- */

typedef struct reader {
    cell *c;
    int id;
} reader;

static void *reader_main(void *arg)
{
    reader *r = arg;
    cell *c = r->c;
    unsigned seed = (unsigned)getpid() ^ (unsigned)(r->id * 7919);
    zkc_zkocc_opts o = ZKC_ZKOCC_OPTS_INIT;
    o.connect_timeout_ms = 2000;
    zkc_conn *conn = NULL;
    while (!atomic_load(&c->stop)) {
        if (conn == NULL) {
            atomic_store(&c->in_call_us[r->id], hist_now_us());
            int rc = zkc_zkocc_dial(g_zkocc_addr, &o, &conn);
            atomic_store(&c->in_call_us[r->id], 0);
            if (rc != ZKC_OK) {
                note_err(c, rc);
                conn = NULL;
                zkc_sleep(50, NULL);
                continue;
            }
        }
        int k = (int)(rand_r(&seed) % NKEYS);
        char p[64];
        key_path(p, sizeof p, k);
        char *data = NULL;
        size_t len = 0;
        pthread_mutex_lock(&c->lock);
        c->attempted++;
        pthread_mutex_unlock(&c->lock);
        atomic_store(&c->in_call_us[r->id], hist_now_us());
        int rc = zkc_get(conn, p, &data, &len, NULL, NULL);
        atomic_store(&c->in_call_us[r->id], 0);
        if (rc == ZKC_OK) {
            long v = -1;
            /* Read after the get: any value the get saw was written by then. */
            long most = atomic_load(&c->written[k]);
            bool ok = parse_value(data, len, k, &v) && v >= 0 && v <= most;
            pthread_mutex_lock(&c->lock);
            c->acked++;
            c->wrong += !ok;
            pthread_mutex_unlock(&c->lock);
            if (!ok)
                fprintf(stderr, "# wrong answer for %s: %.*s (newest written %ld)\n", p,
                        (int)len, data != NULL ? data : "", most);
            long long end = atomic_load(&c->fault_end_us);
            long long zero = 0;
            if (end != 0)
                atomic_compare_exchange_strong(&c->first_ack_after_us, &zero, hist_now_us());
        } else {
            note_err(c, rc);
            zkc_sleep(10, NULL);
        }
        zkc_free(data);
        zkc_sleep(1, NULL);
    }
    if (conn != NULL)
        zkc_conn_close(conn);
    return NULL;
}

/* Calls that have not returned for HUNG_US, counted once per call. */
static void *watchdog_main(void *arg)
{
    cell *c = arg;
    long long seen[NREADERS] = {0};
    while (!atomic_load(&c->stop)) {
        long long now = hist_now_us();
        for (int i = 0; i < NREADERS; i++) {
            long long t = atomic_load(&c->in_call_us[i]);
            if (t != 0 && t != seen[i] && now - t > HUNG_US) {
                atomic_fetch_add(&c->hung, 1);
                seen[i] = t;
            }
        }
        zkc_sleep(200, NULL);
    }
    return NULL;
}

/* ---- processes ---- */

static void zkocc_stop(void)
{
    pid_t p = g_zkocc_pid;
    if (p > 0) {
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);
        g_zkocc_pid = 0;
    }
}

/* zkocc on g_zkocc_port, serving cell fm; 0 once it accepts connections. */
static int zkocc_start(void)
{
    char config[128], port[16], log[128];
    snprintf(config, sizeof config, "%s/zk_client.json", g_zk.dir);
    snprintf(port, sizeof port, "%d", g_zkocc_port);
    snprintf(log, sizeof log, "%s/zkocc.log", g_zk.dir);
    char *argv[] = {(char *)g_zkocc_bin,
                    "--port",
                    port,
                    "--config",
                    config,
                    "--session-timeout",
                    "2s",
                    "--connect-timeout",
                    "2s",
                    "--reconnect-interval",
                    "100ms",
                    "--reconnect-max",
                    "500ms",
                    "--cache-refresh-interval",
                    "200ms",
                    "--negative-ttl",
                    "200ms",
                    "fm",
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, g_zkocc_bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    g_zkocc_pid = pid;
    /* Accepting: a dial works (polled, generous). */
    for (int i = 0; i < 600; i++) {
        zkc_conn *conn = NULL;
        if (zkc_zkocc_dial(g_zkocc_addr, NULL, &conn) == ZKC_OK) {
            zkc_conn_close(conn);
            return 0;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            g_zkocc_pid = 0;
            return -1;
        }
        zkc_sleep(50, NULL);
    }
    return -1;
}

static int setup_tree(void)
{
    zkc_conn *conn = dial_zk();
    if (conn == NULL)
        return -1;
    int rc = zkc_create_recursive(conn, "/zk/fm/d", NULL, 0, 0, NULL, NULL);
    for (int k = 0; k < NKEYS && (rc == ZKC_OK || rc == ZKC_ENODEEXISTS); k++) {
        char p[64], data[32];
        key_path(p, sizeof p, k);
        int len = snprintf(data, sizeof data, "%d:0", k);
        rc = zkc_create_or_update(conn, p, data, (size_t)len, 0, NULL, false, NULL);
    }
    zkc_conn_close(conn);
    return rc == ZKC_OK ? 0 : -1;
}

/* ---- faults ---- */

static void inject_fault(int fault)
{
    switch (fault) {
    case F_ZKOCC_KILL:
        zkocc_stop();
        zkc_sleep(300, NULL);
        for (int i = 0; i < 5 && zkocc_start() != 0; i++)
            zkc_sleep(500, NULL);
        break;
    case F_ZK_KILL:
        fm_server_kill_restart(&g_zk, 0);
        break;
    case F_ZK_PAUSE:
        fm_server_pause(&g_zk, PAUSE_MS);
        break;
    default:
        break;
    }
}

/* After the fault: every key read through zkocc equals its newest
 * acknowledged write, with the writer stopped (polled for 60 s: zkocc
 * refreshes stale entries on its own). */
static bool fresh_again(cell *c)
{
    zkc_conn *conn = NULL;
    bool fresh = false;
    for (int i = 0; i < 600 && !fresh; i++) {
        if (conn == NULL && zkc_zkocc_dial(g_zkocc_addr, NULL, &conn) != ZKC_OK) {
            conn = NULL;
            zkc_sleep(100, NULL);
            continue;
        }
        fresh = true;
        for (int k = 0; k < NKEYS && fresh; k++) {
            char p[64];
            key_path(p, sizeof p, k);
            char *data = NULL;
            size_t len = 0;
            long v = -1;
            int rc = zkc_get(conn, p, &data, &len, NULL, NULL);
            fresh = rc == ZKC_OK && parse_value(data, len, k, &v) &&
                    v >= atomic_load(&c->acked_value[k]);
            zkc_free(data);
            if (rc == ZKC_ECONNECTIONLOSS || rc == ZKC_ECONNECT) {
                zkc_conn_close(conn);
                conn = NULL;
            }
        }
        if (!fresh)
            zkc_sleep(100, NULL);
    }
    if (conn != NULL)
        zkc_conn_close(conn);
    return fresh;
}

typedef struct row {
    int fault;
    long attempted, acked, wrong, hung;
    bool fresh;
    long long recovery_ms; /* -1: no answer after the fault */
    char errs[160];
} row;

static void run_cell(int fault, int seconds, row *r)
{
    cell c;
    memset(&c, 0, sizeof c);
    c.fault = fault;
    pthread_mutex_init(&c.lock, NULL);
    /* The writer's values continue from the tree's (every key ends each
     * cell at its newest acknowledged value: start from what is there). */
    zkc_conn *zc = dial_zk();
    for (int k = 0; k < NKEYS && zc != NULL; k++) {
        char p[64];
        key_path(p, sizeof p, k);
        char *data = NULL;
        size_t len = 0;
        long v = 0;
        if (zkc_get(zc, p, &data, &len, NULL, NULL) == ZKC_OK &&
            parse_value(data, len, k, &v)) {
            atomic_store(&c.written[k], v);
            atomic_store(&c.acked_value[k], v);
        }
        zkc_free(data);
    }
    if (zc != NULL)
        zkc_conn_close(zc);

    pthread_t wt, dog, rt[NREADERS];
    reader rs[NREADERS];
    pthread_create(&wt, NULL, writer_main, &c);
    pthread_create(&dog, NULL, watchdog_main, &c);
    for (int i = 0; i < NREADERS; i++) {
        rs[i] = (reader){&c, i};
        pthread_create(&rt[i], NULL, reader_main, &rs[i]);
    }
    long long t_end = hist_now_us() + (long long)seconds * 1000000;
    do {
        zkc_sleep(500, NULL);
        atomic_store(&c.fault_end_us, 0);
        atomic_store(&c.first_ack_after_us, 0);
        inject_fault(fault);
        atomic_store(&c.fault_end_us, hist_now_us());
        /* Work after the fault until someone is answered (bounded). */
        for (int i = 0; i < 300 && atomic_load(&c.first_ack_after_us) == 0; i++)
            zkc_sleep(50, NULL);
        zkc_sleep(500, NULL);
    } while (hist_now_us() < t_end);
    atomic_store(&c.stop, 1);
    pthread_join(wt, NULL);
    for (int i = 0; i < NREADERS; i++)
        pthread_join(rt[i], NULL);
    pthread_join(dog, NULL);

    r->fault = fault;
    r->attempted = c.attempted;
    r->acked = c.acked;
    r->wrong = c.wrong;
    r->hung = atomic_load(&c.hung);
    long long fe = atomic_load(&c.fault_end_us), fa = atomic_load(&c.first_ack_after_us);
    r->recovery_ms = fa != 0 && fe != 0 ? (fa - fe) / 1000 : -1;
    r->fresh = fresh_again(&c);
    r->errs[0] = '\0';
    size_t off = 0;
    for (int i = 0; i < c.nerrs && off < sizeof r->errs; i++)
        off += (size_t)snprintf(r->errs + off, sizeof r->errs - off, "%s%s:%ld",
                                i > 0 ? " " : "", zkc_err_name(c.errs[i].code), c.errs[i].n);
    if (r->errs[0] == '\0')
        snprintf(r->errs, sizeof r->errs, "-");
    pthread_mutex_destroy(&c.lock);
}

static void print_table(const char *pfx, const row *rows, int n)
{
    printf("%s%-20s %-8s %7s %7s %5s %4s %5s %9s  %s\n", pfx, "fault", "comp", "reads",
           "answered", "wrong", "hung", "fresh", "recovery", "errors (name:count)");
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        char rec[32];
        if (r->recovery_ms < 0)
            snprintf(rec, sizeof rec, "n/a");
        else
            snprintf(rec, sizeof rec, "%lld ms", r->recovery_ms);
        printf("%s%-20s %-8s %7ld %7ld %5ld %4ld %5s %9s  %s\n", pfx, fault_name[r->fault],
               "zkocc", r->attempted, r->acked, r->wrong, r->hung, r->fresh ? "yes" : "NO", rec,
               r->errs);
    }
}

int main(int argc, char **argv)
{
    int seconds = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: daemon_faults ZKOCC [--seconds N]\n");
        return 2;
    }
    g_zkocc_bin = argv[1];
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atoi(argv[++i]);
        else {
            fprintf(stderr, "daemon_faults: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    bool soak = seconds > 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("1..%d\n", NFAULT);
    if (zk_test_zkctl_init() == NULL) {
        for (int f = 0; f < NFAULT; f++)
            printf("ok %d # SKIP $ZKCTL not set\n", f + 1);
        return 0;
    }
    if (access(g_zkocc_bin, X_OK) != 0) {
        printf("Bail out! %s is not an executable\n", g_zkocc_bin);
        return 1;
    }
    fm_server_kill_also(&g_zkocc_pid);
    if (fm_server_start(&g_zk, "/tmp/zkc-dfaults-XXXXXX", 1) != 0) {
        printf("Bail out! cannot start a ZooKeeper server\n");
        return 1;
    }
    char config[128];
    snprintf(config, sizeof config, "%s/zk_client.json", g_zk.dir);
    FILE *f = fopen(config, "w");
    if (f == NULL) {
        printf("Bail out! cannot write %s\n", config);
        return 1;
    }
    fprintf(f, "{\"fm\": \"%s\"}\n", g_zk.addrs);
    fclose(f);
    if (setup_tree() != 0) {
        printf("Bail out! cannot make the tree on %s\n", g_zk.addrs);
        return 1;
    }
    g_zkocc_port = fm_free_port();
    snprintf(g_zkocc_addr, sizeof g_zkocc_addr, "127.0.0.1:%d", g_zkocc_port);
    if (g_zkocc_port <= 0 || zkocc_start() != 0) {
        printf("Bail out! cannot start zkocc on %s (log: %s/zkocc.log)\n", g_zkocc_addr,
               g_zk.dir);
        return 1;
    }
    row rows[NFAULT];
    int failed = 0;
    for (int fault = 0; fault < NFAULT; fault++) {
        row *r = &rows[fault];
        run_cell(fault, soak ? seconds : 2, r);
        bool ok = r->wrong == 0 && r->hung == 0 && r->fresh && r->acked > 0;
        failed += !ok;
        printf("%s %d - %s / zkocc: reads %ld answered %ld wrong %ld hung %ld fresh %s\n",
               ok ? "ok" : "not ok", fault + 1, fault_name[fault], r->attempted, r->acked,
               r->wrong, r->hung, r->fresh ? "yes" : "no");
    }
    print_table(soak ? "" : "# ", rows, NFAULT);
    zkocc_stop();
    return failed ? 1 : 0;
}
