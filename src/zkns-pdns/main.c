/*
 * main.c: zkns-pdns, a PowerDNS pipe backend coprocess answering from
 * zkns records in ZooKeeper (the seed's zkns2pdns).  The command line,
 * the connection the records are read through, the line loop on stdin
 * and stdout, and the small HTTP endpoint for counters (--bind-addr).
 * The answers are server.c's, the protocol lines pdns_line.c's, the
 * cache store.c's.
 *
 * The loop reads stdin in blocks and answers every complete line before
 * reading again; a line of PDNS_MAX_LINE bytes or more is skipped up to its
 * '\n' and answered FAIL, once, so the stream never gets out of step.
 * EOF on stdin ends the process (status 0): that is how PowerDNS stops
 * its coprocesses.  Nothing about ZooKeeper makes it exit: it connects
 * lazily, on the first question, and a cell that is down gives FAIL (or
 * the last known record) until it is back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "server.h"
#include "zkcell/auth.h"
#include "zkcell/cells.h"
#include "zkcell/conncache.h"
#include "zkcell/duration.h"
#include "zkcell/fake.h"
#include "zkcell/meta.h"
#include "zkcell/path.h"
#include "zkcell/zk.h"
#include "zkcell/zkocc.h"
#include "zkcell/zkns.h"

#define EXIT_USAGE 2
#define DEFAULT_TIMEOUT_MS 1000
#define DEFAULT_CACHE 10000

typedef struct options {
    const char *config;
    const char *auth_config;
    const char *domain;
    const char *root;
    const char *zkocc;
    const char *bind_addr;
    const char *soa_host;
    const char *fake;
    const char *local_cell;
    zkc_cells_opts zkflags; /* -zk.* flags: addresses and timeouts */
    unsigned ttl;
    int timeout_ms;
    size_t cache;
} options;

static const char usage_text[] =
    "Usage: zkns-pdns [--config FILE] --zkns-domain DOMAIN --zkns-root PATH\n"
    "                 [--zkocc HOST:PORT] [--ttl SECONDS] [--bind-addr ADDR]\n"
    "\n"
    "A PowerDNS pipe backend (ABI 1 to 5) answering from zkns records in\n"
    "ZooKeeper: a name x.y.DOMAIN is the record at PATH/y/x, _port.x.DOMAIN the\n"
    "SRV record's named port _port.  Questions on stdin, answers on stdout.\n"
    "Single-dash forms (-zkns-domain) work too.\n"
    "\n"
    "  --zkns-domain DOMAIN  the zone served (\".zkns.test.zk\" or \"zkns.test.zk.\")\n"
    "  --zkns-root PATH      the node names resolve under, /zk/CELL/...\n"
    "  --config FILE         cells configuration (default $ZK_CLIENT_CONFIG,\n"
    "                        else /etc/zookeeper/zk_client.json)\n"
    "  --local-cell CELL     the cell of /zk/local\n"
    "  --auth-config FILE    digest credentials per cell (zk_auth.json, mode 0600;\n"
    "                        default $ZK_AUTH_CONFIG, else none)\n"
    "  -zk.local-cell CELL, -zk.local-addrs H, -zk.global-addrs H, -zk.base-timeout D,\n"
    "  -zk.connect-timeout D the original's flags (also --zk.NAME[=VALUE])\n"
    "  --zkocc HOST:PORT     read through zkocc daemons (HOST:PORT,...)\n"
    "  --ttl SECONDS         TTL of answers (default 1); a record's \"ttl\" wins\n"
    "  --timeout D           longest wait for one read: 500ms, 1s (default 1s;\n"
    "                        keep it under PowerDNS's pipe-timeout)\n"
    "  --cache-size N        records kept in memory, fresh by watches (default\n"
    "                        10000; 0: no cache)\n"
    "  --soa-host NAME       primary name of the SOA (default: the host name)\n"
    "  --bind-addr ADDR      serve /debug/vars and /metrics on HOST:PORT or :PORT\n"
    "  --fake FILE.json      read an in-memory tree loaded from FILE (tests)\n"
    "  --help, --version\n"
    "\n"
    "See zkns-pdns(8) for the PowerDNS configuration.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "zkns-pdns: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'zkns-pdns --help'.\n");
    return EXIT_USAGE;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    if (*s == '\0' || *s == '-')
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

enum {
    OPT_CONFIG = 256,
    OPT_DOMAIN,
    OPT_ROOT,
    OPT_ZKOCC,
    OPT_TTL,
    OPT_BIND,
    OPT_TIMEOUT,
    OPT_CACHE,
    OPT_SOA_HOST,
    OPT_FAKE,
    OPT_LOCAL_CELL,
    OPT_AUTH_CONFIG,
    OPT_HELP,
    OPT_VERSION
};

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, options *o)
{
    static const struct option lo[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"zkns-domain", required_argument, NULL, OPT_DOMAIN},
        {"zkns-root", required_argument, NULL, OPT_ROOT},
        {"zkocc", required_argument, NULL, OPT_ZKOCC},
        {"ttl", required_argument, NULL, OPT_TTL},
        {"bind-addr", required_argument, NULL, OPT_BIND},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"cache-size", required_argument, NULL, OPT_CACHE},
        {"soa-host", required_argument, NULL, OPT_SOA_HOST},
        {"fake", required_argument, NULL, OPT_FAKE},
        {"local-cell", required_argument, NULL, OPT_LOCAL_CELL},
        {"auth-config", required_argument, NULL, OPT_AUTH_CONFIG},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    /* The -zk.* flags a parent hands its children (zkc_cells_flag). */
    if (zkc_cells_take_flags(&argc, argv, &o->zkflags, NULL, NULL) != ZKC_OK)
        return usage_error("%s", zkc_errmsg());
    if (o->zkflags.local_cell != NULL)
        o->local_cell = o->zkflags.local_cell;
    if (o->zkflags.connect_timeout_ms > 0)
        o->timeout_ms = o->zkflags.connect_timeout_ms;
    opterr = 0;
    int c;
    unsigned long v;
    while ((c = getopt_long_only(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case OPT_CONFIG:
            o->config = optarg;
            break;
        case OPT_AUTH_CONFIG:
            o->auth_config = optarg;
            break;
        case OPT_DOMAIN:
            o->domain = optarg;
            break;
        case OPT_ROOT:
            o->root = optarg;
            break;
        case OPT_ZKOCC:
            o->zkocc = optarg;
            break;
        case OPT_TTL:
            if (parse_uint(optarg, 2147483647ul, &v) != 0)
                return usage_error("--ttl: want seconds from 0 to 2147483647, got '%s'", optarg);
            o->ttl = (unsigned)v;
            break;
        case OPT_BIND:
            o->bind_addr = optarg;
            break;
        case OPT_TIMEOUT:
            /* A bare number is milliseconds here. */
            if (zkc_parse_duration_ms(optarg, 1, &o->timeout_ms) != ZKC_OK ||
                o->timeout_ms <= 0 || o->timeout_ms > 3600000)
                return usage_error("--timeout: want a duration like 500ms or 1s, got '%s'",
                                   optarg);
            break;
        case OPT_CACHE:
            if (parse_uint(optarg, 10000000ul, &v) != 0)
                return usage_error("--cache-size: want a number up to 10000000, got '%s'",
                                   optarg);
            o->cache = v;
            break;
        case OPT_SOA_HOST:
            o->soa_host = optarg;
            break;
        case OPT_FAKE:
            o->fake = optarg;
            break;
        case OPT_LOCAL_CELL:
            o->local_cell = optarg;
            break;
        case OPT_HELP:
            fputs(usage_text, stdout);
            return 0;
        case OPT_VERSION:
            printf("zkns-pdns (zkcell) %s\n", zkc_version());
            return 0;
        default:
            return usage_error("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (o->domain == NULL)
        return usage_error("%s", "--zkns-domain is required");
    if (o->root == NULL)
        return usage_error("%s", "--zkns-root is required");
    if (zkc_path_validate(o->root, false) != ZKC_OK)
        return usage_error("--zkns-root: not a valid path: '%s'", o->root);
    if (o->fake == NULL) {
        const char *cell;
        size_t len;
        if (zkc_cell_from_path(o->root, &cell, &len) != ZKC_OK)
            return usage_error("--zkns-root: want a /zk/CELL/... path, got '%s'", o->root);
    }
    return -1;
}

/* ---- the connection records are read through ----
 *
 * This is the one place it is made.  zkocc: when the library gains a
 * zkocc client (zkc_zkocc_dial), the cache below dials it for every cell
 * instead of ZooKeeper (zkc_conn_cache_opts.zkocc = true, dial = a
 * function calling zkc_zkocc_dial), and answers keep coming from
 * zkocc's cache while ZooKeeper is away. */

typedef struct conn_state {
    zkc_auth_config *auth;
    zkc_cells *cells;
    zkc_fake_tree *fake;
    zkc_conn *conn;
    int timeout_ms;
} conn_state;

static int open_conn(const options *o, conn_state *cs)
{
    cs->timeout_ms = o->timeout_ms;
    int rc;
    if (o->zkocc != NULL) {
        /* zkocc routes /zk/<cell>/... itself and keeps its cache fresh
         * with watches; it answers from that cache, stale, while a cell
         * is away. */
        zkc_zkocc_opts zo = ZKC_ZKOCC_OPTS_INIT;
        zo.connect_timeout_ms = o->timeout_ms;
        rc = zkc_zkocc_dial(o->zkocc, &zo, &cs->conn);
        if (rc != ZKC_OK)
            fprintf(stderr, "zkns-pdns: --zkocc %s: %s\n", o->zkocc, zkc_errmsg());
        return rc;
    }
    if (o->fake != NULL) {
        cs->fake = zkc_fake_tree_new();
        if (cs->fake == NULL)
            return ZKC_ENOMEM;
        rc = zkc_fake_tree_load_json(cs->fake, o->fake);
        if (rc == ZKC_OK)
            rc = zkc_fake_open(cs->fake, &cs->conn);
        if (rc != ZKC_OK)
            fprintf(stderr, "zkns-pdns: --fake %s: %s\n", o->fake, zkc_errmsg());
        return rc;
    }
    zkc_cells_opts co = ZKC_CELLS_OPTS_INIT;
    co.connect_timeout_ms = o->timeout_ms;
    if (o->config != NULL) {
        co.config_paths = &o->config;
        co.n_config_paths = 1;
    }
    co.local_cell = o->local_cell;
    co.local_addrs = o->zkflags.local_addrs;
    co.global_addrs = o->zkflags.global_addrs;
    co.base_timeout_ms = o->zkflags.base_timeout_ms;
    rc = zkc_auth_config_load(o->auth_config, &cs->auth);
    if (rc != ZKC_OK) {
        fprintf(stderr, "zkns-pdns: %s\n", zkc_errmsg());
        return rc;
    }
    rc = zkc_cells_new(&co, &cs->cells);
    if (rc == ZKC_OK)
        rc = zkc_cells_refresh(cs->cells);
    if (rc != ZKC_OK) {
        fprintf(stderr, "zkns-pdns: %s\n", zkc_errmsg());
        return rc;
    }
    zkc_conn_cache_opts cco = ZKC_CONN_CACHE_OPTS_INIT;
    cco.auth = cs->auth; /* each cell's dial sends its credentials */
    /* A cell that is down is tried again soon: answers come back within
     * about a second of it. */
    cco.backoff_max_ms = 1000;
    zkc_conn_cache *cache = NULL;
    rc = zkc_conn_cache_new(cs->cells, &cco, &cache);
    if (rc != ZKC_OK) {
        fprintf(stderr, "zkns-pdns: %s\n", zkc_strerror(rc));
        return rc;
    }
    zkc_meta_opts mo = ZKC_META_OPTS_INIT;
    mo.retry_budget_ms = o->timeout_ms;
    rc = zkc_meta_open(cache, &mo, &cs->conn);
    if (rc != ZKC_OK)
        fprintf(stderr, "zkns-pdns: %s\n", zkc_strerror(rc));
    return rc;
}

static void close_conn(conn_state *cs)
{
    zkc_conn_close(cs->conn);
    zkc_fake_tree_free(cs->fake);
    zkc_cells_free(cs->cells);
    zkc_auth_config_free(cs->auth);
}

/* ---- the counters over HTTP (--bind-addr) ---- */

typedef struct http_ctx {
    int fd;
    pthread_t thread;
    pdns_server *server;
    zkns_store *store;
} http_ctx;

static int vars_text(http_ctx *h, bool prometheus, char *buf, size_t size)
{
    pdns_counts c;
    zkns_store_counts sc;
    size_t entries = 0;
    pdns_server_counts(h->server, &c);
    zkns_store_counts_get(h->store, &sc, &entries);
    if (prometheus)
        return snprintf(buf, size,
                        "# TYPE zkns_pdns_requests_total counter\n"
                        "zkns_pdns_requests_total %llu\n"
                        "# TYPE zkns_pdns_errors_total counter\n"
                        "zkns_pdns_errors_total %llu\n"
                        "# TYPE zkns_pdns_empty_total counter\n"
                        "zkns_pdns_empty_total %llu\n"
                        "# TYPE zkns_pdns_fails_total counter\n"
                        "zkns_pdns_fails_total %llu\n"
                        "# TYPE zkns_pdns_stale_total counter\n"
                        "zkns_pdns_stale_total %llu\n"
                        "# TYPE zkns_pdns_cache_hits_total counter\n"
                        "zkns_pdns_cache_hits_total %llu\n"
                        "# TYPE zkns_pdns_cache_misses_total counter\n"
                        "zkns_pdns_cache_misses_total %llu\n"
                        "# TYPE zkns_pdns_cache_entries gauge\n"
                        "zkns_pdns_cache_entries %zu\n",
                        (unsigned long long)c.requests, (unsigned long long)c.errors,
                        (unsigned long long)c.empty, (unsigned long long)c.fails,
                        (unsigned long long)c.stale, (unsigned long long)sc.hits,
                        (unsigned long long)sc.misses, entries);
    return snprintf(buf, size,
                    "{\"PdnsRequestCount\": %llu, \"PdnsErrorCount\": %llu, "
                    "\"PdnsEmptyCount\": %llu, \"PdnsFailCount\": %llu, "
                    "\"PdnsStaleCount\": %llu, \"PdnsCacheHits\": %llu, "
                    "\"PdnsCacheMisses\": %llu, \"PdnsCacheEntries\": %zu}\n",
                    (unsigned long long)c.requests, (unsigned long long)c.errors,
                    (unsigned long long)c.empty, (unsigned long long)c.fails,
                    (unsigned long long)c.stale, (unsigned long long)sc.hits,
                    (unsigned long long)sc.misses, entries);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void http_one(http_ctx *h, int fd)
{
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char req[2048];
    size_t n = 0;
    while (n < sizeof req - 1) {
        ssize_t r = read(fd, req + n, sizeof req - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL || strstr(req, "\n\n") != NULL)
            break;
    }
    req[n] = '\0';
    char body[2048], head[256];
    const char *status = "200 OK", *type = "application/json";
    int len;
    if (strncmp(req, "GET /debug/vars ", 16) == 0) {
        len = vars_text(h, false, body, sizeof body);
    } else if (strncmp(req, "GET /metrics ", 13) == 0) {
        type = "text/plain; version=0.0.4";
        len = vars_text(h, true, body, sizeof body);
    } else {
        status = "404 Not Found";
        type = "text/plain";
        len = snprintf(body, sizeof body, "not found: try /debug/vars or /metrics\n");
    }
    if (len < 0 || (size_t)len >= sizeof body)
        len = 0;
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                      "Connection: close\r\n\r\n",
                      status, type, len);
    write_all(fd, head, (size_t)hl);
    write_all(fd, body, (size_t)len);
}

static void *http_thread(void *arg)
{
    http_ctx *h = arg;
    for (;;) {
        int fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                usleep(100000);
                continue;
            }
            return NULL; /* shut down by http_stop() */
        }
        http_one(h, fd);
        close(fd);
    }
}

/* Listen on ADDR ("host:port" or ":port").  Failure is logged, not fatal:
 * PowerDNS runs several copies of the coprocess, and only one can have
 * the port.  Returns the endpoint, or NULL. */
static http_ctx *http_start(const char *addr, pdns_server *server, zkns_store *store)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL) {
        fprintf(stderr, "zkns-pdns: --bind-addr %s: want HOST:PORT or :PORT\n", addr);
        return NULL;
    }
    char host[256];
    size_t hn = (size_t)(colon - addr);
    if (hn >= sizeof host) {
        fprintf(stderr, "zkns-pdns: --bind-addr %s: host too long\n", addr);
        return NULL;
    }
    memcpy(host, addr, hn);
    host[hn] = '\0';
    if (hn >= 2 && host[0] == '[' && host[hn - 1] == ']') {
        memmove(host, host + 1, hn - 2);
        host[hn - 2] = '\0';
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(hn > 0 ? host : NULL, colon + 1, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "zkns-pdns: --bind-addr %s: %s\n", addr, gai_strerror(gai));
        return NULL;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        fprintf(stderr, "zkns-pdns: --bind-addr %s: %s (no metrics endpoint)\n", addr,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return NULL;
    }
    freeaddrinfo(ai);
    http_ctx *h = malloc(sizeof *h);
    if (h == NULL) {
        close(fd);
        return NULL;
    }
    h->fd = fd;
    h->server = server;
    h->store = store;
    if (pthread_create(&h->thread, NULL, http_thread, h) != 0) {
        close(fd);
        free(h);
        return NULL;
    }
    return h;
}

/* Stop accepting, let a request in progress finish, and free. */
static void http_stop(http_ctx *h)
{
    if (h == NULL)
        return;
    shutdown(h->fd, SHUT_RDWR);
    pthread_join(h->thread, NULL);
    close(h->fd);
    free(h);
}



/* ---- the line loop ---- */

static int flush_out(pdns_out *out)
{
    size_t off = 0;
    while (off < out->len) {
        ssize_t w = write(STDOUT_FILENO, out->buf + off, out->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    pdns_out_reset(out);
    return 0;
}

static int serve(pdns_server *server)
{
    static char buf[PDNS_MAX_LINE + 1];
    size_t have = 0;
    bool skipping = false; /* inside a line too long to keep */
    pdns_out out = {0};
    for (;;) {
        ssize_t r = read(STDIN_FILENO, buf + have, PDNS_MAX_LINE - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            /* EOF: an unterminated last line is still a question. */
            if (r == 0 && (have > 0 || skipping)) {
                if (skipping)
                    pdns_server_long_line(server, &out);
                else
                    pdns_server_line(server, buf, have, &out);
                flush_out(&out);
            }
            pdns_out_free(&out);
            return r == 0 ? 0 : 1;
        }
        size_t end = have + (size_t)r, start = 0;
        for (size_t i = have; i < end; i++) {
            if (buf[i] != '\n')
                continue;
            if (skipping) {
                skipping = false;
                pdns_server_long_line(server, &out);
            } else {
                pdns_server_line(server, buf + start, i - start, &out);
            }
            start = i + 1;
        }
        have = end - start;
        memmove(buf, buf + start, have);
        if (have == PDNS_MAX_LINE) {
            /* No '\n' in a full buffer: drop it and the rest of the
             * line, and answer FAIL once its end comes. */
            skipping = true;
            have = 0;
        }
        if (out.len > 0 && flush_out(&out) != 0) {
            pdns_out_free(&out);
            return 0; /* PowerDNS went away */
        }
    }
}

int main(int argc, char **argv)
{
    options o = {0};
    o.ttl = 1;
    o.timeout_ms = DEFAULT_TIMEOUT_MS;
    o.cache = DEFAULT_CACHE;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    char *domain = NULL;
    if (zkc_zkns_domain_normalize(o.domain, &domain) != ZKC_OK)
        return usage_error("--zkns-domain: not a DNS name: '%s'", o.domain);
    char host[256] = "localhost";
    if (o.soa_host != NULL) {
        snprintf(host, sizeof host, "%s", o.soa_host);
    } else if (gethostname(host, sizeof host) != 0) {
        snprintf(host, sizeof host, "localhost");
    }
    host[sizeof host - 1] = '\0';
    size_t hl = strlen(host);
    if (hl > 0 && host[hl - 1] == '.')
        host[hl - 1] = '\0';
    char *check = NULL;
    if (zkc_zkns_domain_normalize(host, &check) != ZKC_OK) {
        free(domain);
        return usage_error("--soa-host: not a DNS name: '%s'", host);
    }
    free(check);

    signal(SIGPIPE, SIG_IGN);
    conn_state cs = {0};
    if (open_conn(&o, &cs) != ZKC_OK) {
        close_conn(&cs);
        free(domain);
        return 1;
    }
    zkns_store *store = zkns_store_new(cs.conn, o.timeout_ms, o.cache);
    if (store != NULL && o.zkocc != NULL)
        zkns_store_set_watches(store, false);
    char banner[128];
    snprintf(banner, sizeof banner, "zkns-pdns %s", zkc_version());
    pdns_server_opts so = {domain, o.root, o.ttl, host, banner};
    pdns_server *server = store != NULL ? pdns_server_new(store, &so) : NULL;
    if (server == NULL) {
        fprintf(stderr, "zkns-pdns: out of memory\n");
        zkns_store_free(store);
        close_conn(&cs);
        free(domain);
        return 1;
    }
    http_ctx *http = o.bind_addr != NULL ? http_start(o.bind_addr, server, store) : NULL;
    rc = serve(server);
    http_stop(http);
    pdns_server_free(server);
    zkns_store_free(store);
    close_conn(&cs);
    free(domain);
    return rc;
}
