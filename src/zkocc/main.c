/*
 * main.c: the zkocc daemon's command line, start and shutdown.
 *
 * Options are parsed with getopt_long_only, so the original's single-dash
 * forms (-port 14850, -resolve-local) work as well as --port.  The cells
 * come from zk_client.json (--config, else $ZK_CLIENT_CONFIG, else
 * /etc/zookeeper/zk_client.json) through the library's zkc_cells and its
 * connection cache; positional arguments are cells to connect at start.
 *
 * SIGTERM or SIGINT: stop accepting, let answers in flight go out (at most
 * --shutdown-timeout), close the clients, write the snapshot, exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <zkcell/duration.h>
#include <zkcell/sys/conn_impl.h>

#include "zkocc.h"

void zo_log(const char *fmt, ...)
{
    char ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ zkocc: %s\n", ts, now.tv_nsec / 1000000, line);
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: zkocc [options] [CELL...]\n"
"\n"
"A caching read proxy in front of ZooKeeper cells, speaking the zkocc\n"
"protocol (Go RPC over HTTP CONNECT, BSON): ZkReader.Get, GetV, Children.\n"
"CELLs are connected at start; others on first use.  Single-dash forms work.\n"
"\n"
"  --port N                    port (default 14850)\n"
"  --bind ADDR                 address to listen on (default 127.0.0.1)\n"
"  --config FILE               zk_client.json (default $ZK_CLIENT_CONFIG or\n"
"                              /etc/zookeeper/zk_client.json)\n"
"  --auth-config FILE          digest credentials per cell, {\"CELL\": \"USER:PASSWORD\"},\n"
"                              mode 0600 (default $ZK_AUTH_CONFIG; none)\n"
"  --local-cell CELL           the local cell (default: from the host name)\n"
"  -zk.local-cell CELL, -zk.local-addrs H, -zk.global-addrs H, -zk.base-timeout D,\n"
"  -zk.connect-timeout D       the original's flags (also --zk.NAME[=VALUE])\n"
"  --resolve-local             serve /zk/local/... as the local cell\n"
"  --session-timeout D         ZooKeeper session timeout (default 30s)\n"
"  --connect-timeout D         bound on one dial (default 30s)\n"
"  --reconnect-interval D      first delay after a failed dial (default 1s)\n"
"  --reconnect-max D           largest delay, jittered (default 30s)\n"
"  --cache-refresh-interval D  how often stale entries are looked for (default 1s)\n"
"  --cache-refresh-count N     re-reads in flight per cell after a reconnect\n"
"                              (default 100)\n"
"  --max-cache-bytes N         memory bound of the cache, K/M/G suffixes\n"
"                              (default 256M)\n"
"  --negative-ttl D            how long a missing node is remembered (default 1s)\n"
"  --snapshot FILE             keep the cache in FILE: loaded at start (served\n"
"                              stale until re-read), written periodically and at exit\n"
"  --snapshot-interval D       (default 60s; 0: only at exit)\n"
"  --max-frame-bytes N         largest request document (default 1M)\n"
"  --max-connections N         open client connections (default 4096)\n"
"  --max-inflight N            requests waiting for ZooKeeper per client (default 1000)\n"
"  --max-output-bytes N        unread answers per client before it is closed\n"
"                              (default 64M)\n"
"  --idle-timeout D            close clients idle this long (default 5m)\n"
"  --write-timeout D           close clients whose answers wait unread this long\n"
"                              (default 30s)\n"
"  --shutdown-timeout D        bound on finishing answers at SIGTERM (default 5s)\n"
"  --help, --version\n"
"\n"
"Durations: 500ms, 10s, 2m, 1h (a bare number is seconds).\n"
"HTTP on the same port: GET /debug/vars, /metrics, /healthz.\n");
}

static int parse_size(const char *s, size_t *ret)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned long long mult = 1;
    if (*end == 'K' || *end == 'k')
        mult = 1024, end++;
    else if (*end == 'M' || *end == 'm')
        mult = 1024 * 1024, end++;
    else if (*end == 'G' || *end == 'g')
        mult = 1024ull * 1024 * 1024, end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (errno != 0 || *end != '\0' || v > SIZE_MAX / mult)
        return -1;
    *ret = (size_t)(v * mult);
    return 0;
}

enum {
    O_PORT = 256, O_BIND, O_CONFIG, O_LOCAL_CELL, O_RESOLVE_LOCAL, O_SESSION_TIMEOUT,
    O_CONNECT_TIMEOUT, O_RECONNECT, O_RECONNECT_MAX, O_REFRESH_INTERVAL, O_REFRESH_COUNT,
    O_MAX_CACHE, O_NEG_TTL, O_SNAPSHOT, O_SNAPSHOT_INTERVAL, O_MAX_FRAME, O_MAX_CONN,
    O_MAX_INFLIGHT, O_MAX_OUTPUT, O_IDLE, O_WRITE_TIMEOUT, O_SHUTDOWN, O_HELP, O_VERSION, O_IGNORED,
    O_AUTH_CONFIG
};

/* --auth-config (or $ZK_AUTH_CONFIG): the cells' digest credentials. */
static const char *auth_config_path;
static zkc_auth_config *auth_config;

static int bad(const char *opt, const char *val, const char *want)
{
    fprintf(stderr, "zkocc: %s: want %s, got '%s'\n", opt, want, val);
    return 2;
}

static int parse_args(int argc, char **argv, zo_opts *o)
{
    static const struct option lo[] = {
        {"port", required_argument, NULL, O_PORT},
        {"bind", required_argument, NULL, O_BIND},
        {"config", required_argument, NULL, O_CONFIG},
        {"auth-config", required_argument, NULL, O_AUTH_CONFIG},
        {"local-cell", required_argument, NULL, O_LOCAL_CELL},
        {"zk.local-cell", required_argument, NULL, O_LOCAL_CELL},
        {"resolve-local", no_argument, NULL, O_RESOLVE_LOCAL},
        {"session-timeout", required_argument, NULL, O_SESSION_TIMEOUT},
        {"base-timeout", required_argument, NULL, O_SESSION_TIMEOUT},
        {"zk.base-timeout", required_argument, NULL, O_SESSION_TIMEOUT},
        {"connect-timeout", required_argument, NULL, O_CONNECT_TIMEOUT},
        {"zk.connect-timeout", required_argument, NULL, O_CONNECT_TIMEOUT},
        {"reconnect-interval", required_argument, NULL, O_RECONNECT},
        {"reconnect-max", required_argument, NULL, O_RECONNECT_MAX},
        {"cache-refresh-interval", required_argument, NULL, O_REFRESH_INTERVAL},
        {"cache-refresh-count", required_argument, NULL, O_REFRESH_COUNT},
        {"max-cache-bytes", required_argument, NULL, O_MAX_CACHE},
        {"negative-ttl", required_argument, NULL, O_NEG_TTL},
        {"snapshot", required_argument, NULL, O_SNAPSHOT},
        {"snapshot-interval", required_argument, NULL, O_SNAPSHOT_INTERVAL},
        {"max-frame-bytes", required_argument, NULL, O_MAX_FRAME},
        {"max-connections", required_argument, NULL, O_MAX_CONN},
        {"max-inflight", required_argument, NULL, O_MAX_INFLIGHT},
        {"max-output-bytes", required_argument, NULL, O_MAX_OUTPUT},
        {"idle-timeout", required_argument, NULL, O_IDLE},
        {"write-timeout", required_argument, NULL, O_WRITE_TIMEOUT},
        {"shutdown-timeout", required_argument, NULL, O_SHUTDOWN},
        /* The original's graceful-restart flags: accepted, unused. */
        {"lame-duck-period", required_argument, NULL, O_IGNORED},
        {"rebind-delay", required_argument, NULL, O_IGNORED},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    /* The -zk.* flags a parent hands its children (zkc_cells_flag). */
    zkc_cells_opts zf = ZKC_CELLS_OPTS_INIT;
    if (zkc_cells_take_flags(&argc, argv, &zf, NULL, NULL) != ZKC_OK) {
        fprintf(stderr, "zkocc: %s (see --help)\n", zkc_errmsg());
        return 2;
    }
    if (zf.local_cell != NULL)
        o->local_cell = zf.local_cell;
    o->local_addrs = zf.local_addrs;
    o->global_addrs = zf.global_addrs;
    if (zf.base_timeout_ms > 0)
        o->session_timeout_ms = zf.base_timeout_ms;
    if (zf.connect_timeout_ms > 0)
        o->connect_timeout_ms = zf.connect_timeout_ms;
    opterr = 0;
    int c;
    size_t sz;
    while ((c = getopt_long_only(argc, argv, "+h", lo, NULL)) != -1) {
        const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        switch (c) {
        case O_PORT: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 0 || v > 65535)
                return bad("--port", optarg, "a port number");
            o->port = (int)v;
            break;
        }
        case O_BIND: o->bind = optarg; break;
        case O_CONFIG: o->config = optarg; break;
        case O_LOCAL_CELL: o->local_cell = optarg; break;
        case O_RESOLVE_LOCAL: o->resolve_local = true; break;
        case O_SESSION_TIMEOUT:
            if (zkc_parse_duration_ms(optarg, 1000, &o->session_timeout_ms) != ZKC_OK ||
                o->session_timeout_ms == 0)
                return bad(name, optarg, "a duration like 10s");
            break;
        case O_CONNECT_TIMEOUT:
            if (zkc_parse_duration_ms(optarg, 1000, &o->connect_timeout_ms) != ZKC_OK ||
                o->connect_timeout_ms == 0)
                return bad(name, optarg, "a duration like 10s");
            break;
        case O_RECONNECT:
            if (zkc_parse_duration_ms(optarg, 1000, &o->reconnect_min_ms) != ZKC_OK ||
                o->reconnect_min_ms == 0)
                return bad(name, optarg, "a duration like 1s");
            break;
        case O_RECONNECT_MAX:
            if (zkc_parse_duration_ms(optarg, 1000, &o->reconnect_max_ms) != ZKC_OK ||
                o->reconnect_max_ms == 0)
                return bad(name, optarg, "a duration like 30s");
            break;
        case O_REFRESH_INTERVAL:
            if (zkc_parse_duration_ms(optarg, 1000, &o->refresh_interval_ms) != ZKC_OK ||
                o->refresh_interval_ms == 0)
                return bad(name, optarg, "a duration like 1s");
            break;
        case O_REFRESH_COUNT:
            if (parse_size(optarg, &sz) || sz == 0 || sz > 1000000)
                return bad(name, optarg, "a count from 1 to 1000000");
            o->refresh_count = (unsigned)sz;
            break;
        case O_MAX_CACHE:
            if (parse_size(optarg, &o->max_cache_bytes))
                return bad(name, optarg, "a size like 256M");
            break;
        case O_NEG_TTL:
            if (zkc_parse_duration_ms(optarg, 1000, &o->negative_ttl_ms) != ZKC_OK)
                return bad(name, optarg, "a duration like 1s");
            break;
        case O_SNAPSHOT: o->snapshot = optarg; break;
        case O_AUTH_CONFIG: auth_config_path = optarg; break;
        case O_SNAPSHOT_INTERVAL:
            if (zkc_parse_duration_ms(optarg, 1000, &o->snapshot_interval_ms) != ZKC_OK)
                return bad(name, optarg, "a duration like 60s");
            break;
        case O_MAX_FRAME:
            if (parse_size(optarg, &o->max_frame_bytes) || o->max_frame_bytes < 64 ||
                o->max_frame_bytes > (size_t)1 << 30)
                return bad(name, optarg, "a size from 64 to 1G");
            break;
        case O_MAX_CONN:
            if (parse_size(optarg, &sz) || sz == 0 || sz > 1000000)
                return bad(name, optarg, "a count from 1 to 1000000");
            o->max_connections = (unsigned)sz;
            break;
        case O_MAX_INFLIGHT:
            if (parse_size(optarg, &sz) || sz == 0 || sz > 1000000)
                return bad(name, optarg, "a count from 1 to 1000000");
            o->max_inflight = (unsigned)sz;
            break;
        case O_MAX_OUTPUT:
            if (parse_size(optarg, &o->max_output_bytes) || o->max_output_bytes < 4096)
                return bad(name, optarg, "a size of at least 4K");
            break;
        case O_IDLE:
            if (zkc_parse_duration_ms(optarg, 1000, &o->idle_timeout_ms) != ZKC_OK ||
                o->idle_timeout_ms == 0)
                return bad(name, optarg, "a duration like 5m");
            break;
        case O_WRITE_TIMEOUT:
            if (zkc_parse_duration_ms(optarg, 1000, &o->write_timeout_ms) != ZKC_OK ||
                o->write_timeout_ms == 0)
                return bad(name, optarg, "a duration like 30s");
            break;
        case O_SHUTDOWN:
            if (zkc_parse_duration_ms(optarg, 1000, &o->shutdown_timeout_ms) != ZKC_OK)
                return bad(name, optarg, "a duration like 5s");
            break;
        case O_IGNORED: break;
        case O_HELP:
        case 'h':
            usage(stdout);
            exit(0);
        case O_VERSION:
            printf("zkocc %s\n", zkc_version());
            exit(0);
        case ':':
            fprintf(stderr, "zkocc: %s needs a value (see --help)\n", name);
            return 2;
        default:
            fprintf(stderr, "zkocc: unknown option %s (see --help)\n", name);
            return 2;
        }
    }
    o->preload = argv + optind;
    o->npreload = argc - optind;
    for (int i = 0; i < o->npreload; i++) {
        const char *cell = o->preload[i];
        if (!zkc_cell_name_valid(cell, strlen(cell))) {
            fprintf(stderr, "zkocc: %s: not a cell name\n", cell);
            return 2;
        }
    }
    return 0;
}

/* ---- shutdown ---- */

static uv_signal_t sig_term, sig_int;
static uv_timer_t drain_timer;
static int64_t drain_deadline;

static void finish(zo *z)
{
    uv_timer_stop(&drain_timer);
    zo_server_close_all(z);
    zo_cache_snapshot_sync(z);
    zo_cache_stop(z);
    zkc_conn_cache_close(z->conns);
    uv_stop(z->loop);
}

static void drain_tick(uv_timer_t *t)
{
    zo *z = t->data;
    if (zo_server_inflight(z) == 0 || zkc_impl_now_ms() >= drain_deadline) {
        if (zo_server_inflight(z) != 0)
            zo_log("shutdown: %zu requests unanswered after --shutdown-timeout",
                   zo_server_inflight(z));
        finish(z);
    }
}

/* Descriptors besides the clients': the cells' connections (a socket,
 * the C client's pipe and an eventfd each), the snapshot, libuv's own. */
#define FDS_RESERVED 256

/*
 * Raise the soft descriptor limit, up to the hard one, so that
 * --max-connections clients fit (a soft limit of 1024 is common; each
 * client is one descriptor).  Short of it, say so: clients past the
 * limit are accepted and closed at once.
 */
static void raise_fd_limit(unsigned max_connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    rlim_t want = (rlim_t)max_connections + FDS_RESERVED;
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < want)
        zo_log("descriptor limit %llu (hard) is below --max-connections %u + %d: clients "
               "past it are closed at once",
               (unsigned long long)rl.rlim_cur, max_connections, FDS_RESERVED);
}

static void on_signal(uv_signal_t *s, int signum)
{
    zo *z = s->data;
    if (z->stopping)
        return;
    zo_log("%s: stopping (no new connections; finishing answers in flight)",
           signum == SIGTERM ? "SIGTERM" : "SIGINT");
    z->stopping = true;
    zo_server_stop_accepting(z);
    drain_deadline = zkc_impl_now_ms() + z->opt.shutdown_timeout_ms;
    uv_timer_init(z->loop, &drain_timer);
    drain_timer.data = z;
    uv_timer_start(&drain_timer, drain_tick, 0, 20);
}

int main(int argc, char **argv)
{
    static zo z;
    zo_opts *o = &z.opt;
    *o = (zo_opts){
        .bind = "127.0.0.1",
        .port = ZKC_ZKOCC_DEFAULT_PORT,
        .session_timeout_ms = 30000,
        .connect_timeout_ms = 30000,
        .reconnect_min_ms = 1000,
        .reconnect_max_ms = 30000,
        .refresh_interval_ms = 1000,
        .refresh_count = 100,
        .max_cache_bytes = 256u * 1024 * 1024,
        .negative_ttl_ms = 1000,
        .snapshot_interval_ms = 60000,
        .max_frame_bytes = 1024 * 1024,
        .max_connections = 4096,
        .max_inflight = 1000,
        .max_output_bytes = 64u * 1024 * 1024,
        .idle_timeout_ms = 300000,
        .write_timeout_ms = 30000,
        .head_timeout_ms = 10000,
        .shutdown_timeout_ms = 5000,
    };
    int rc = parse_args(argc, argv, o);
    if (rc != 0)
        return rc;
    if (o->reconnect_max_ms < o->reconnect_min_ms)
        o->reconnect_max_ms = o->reconnect_min_ms;
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(o->max_connections);
    /* Dials block a thread-pool thread each; leave room for the snapshot. */
    setenv("UV_THREADPOOL_SIZE", "16", 0);

    zkc_cells_opts co = ZKC_CELLS_OPTS_INIT;
    const char *paths[1] = {o->config};
    if (o->config != NULL) {
        co.config_paths = paths;
        co.n_config_paths = 1;
    }
    co.local_cell = o->local_cell;
    co.local_addrs = o->local_addrs;
    co.global_addrs = o->global_addrs;
    co.base_timeout_ms = o->session_timeout_ms;
    co.connect_timeout_ms = o->connect_timeout_ms;
    if ((rc = zkc_cells_new(&co, &z.cells)) != ZKC_OK) {
        fprintf(stderr, "zkocc: %s\n", zkc_errmsg()[0] ? zkc_errmsg() : zkc_strerror(rc));
        return 1;
    }
    if ((rc = zkc_cells_refresh(z.cells)) != ZKC_OK) {
        fprintf(stderr, "zkocc: %s\n", zkc_errmsg());
        return 1;
    }
    if (o->resolve_local) {
        if ((rc = zkc_cells_local_cell(z.cells, &z.local_cell)) != ZKC_OK) {
            fprintf(stderr, "zkocc: --resolve-local: %s\n", zkc_errmsg());
            return 1;
        }
    }
    if ((rc = zkc_auth_config_load(auth_config_path, &auth_config)) != ZKC_OK) {
        fprintf(stderr, "zkocc: %s\n", zkc_errmsg());
        return 2;
    }
    zkc_conn_cache_opts cco = ZKC_CONN_CACHE_OPTS_INIT;
    cco.auth = auth_config; /* each cell's dial sends its credentials */
    /* The daemon paces its own redials (jittered, growing). */
    cco.backoff_min_ms = 1;
    cco.backoff_max_ms = 1;
    if ((rc = zkc_conn_cache_new(z.cells, &cco, &z.conns)) != ZKC_OK) {
        fprintf(stderr, "zkocc: %s\n", zkc_strerror(rc));
        return 1;
    }
    z.loop = uv_default_loop();
    if (zo_server_start(&z) != 0 || zo_cache_start(&z) != 0)
        return 1;
    uv_signal_init(z.loop, &sig_term);
    uv_signal_init(z.loop, &sig_int);
    sig_term.data = sig_int.data = &z;
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_run(z.loop, UV_RUN_DEFAULT);
    zo_log("stopped");
    fflush(stderr);
    /* A dial may still block a pool thread (up to --connect-timeout):
     * then leave without running exit handlers under it. */
    if (zo_cache_dialing(&z))
        _exit(0);
    exit(0);
}
