/*
 * zkocc.h: the zkocc daemon's internal interface between its three files.
 *
 *   main.c    command line, signals, start and shutdown
 *   server.c  the one port: clients, HTTP heads, RPC frames, status pages
 *   cache.c   cells, cache entries, ZooKeeper reads and watches, snapshot
 *
 * Threads: everything here runs on the loop thread, which owns the cache,
 * the cells and the clients.  ZooKeeper completions, watch events and
 * session states arrive on the C client's threads; cache.c copies them
 * into messages, queues them under one mutex and wakes the loop with
 * uv_async_send.  A cached answer touches no lock and allocates nothing.
 */
#ifndef ZKOCC_H
#define ZKOCC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <zkcell/zkcell.h>

/* Request kinds: which half of an entry answers. */
enum { ZO_GET = 0, ZO_CHILDREN = 1, ZO_GETV = 2 };

typedef struct zo_opts {
    const char *bind;
    int port;
    const char *config;
    const char *local_cell;
    const char *local_addrs, *global_addrs; /* -zk.local-addrs, -zk.global-addrs */
    bool resolve_local;
    int session_timeout_ms;
    int connect_timeout_ms;
    int reconnect_min_ms;
    int reconnect_max_ms;
    int refresh_interval_ms;
    unsigned refresh_count;
    size_t max_cache_bytes;
    int negative_ttl_ms;
    const char *snapshot;
    int snapshot_interval_ms;
    size_t max_frame_bytes;
    unsigned max_connections;
    unsigned max_inflight;
    size_t max_output_bytes;
    int idle_timeout_ms;
    int write_timeout_ms;
    int head_timeout_ms;
    int shutdown_timeout_ms;
    char **preload;
    int npreload;
} zo_opts;

typedef struct zo zo;
typedef struct zo_client zo_client;

/* ---- server.c ---- */

int zo_server_start(zo *z);
/* Stop accepting; returns at once. */
void zo_server_stop_accepting(zo *z);
/* Close every client (after their answers are written when possible). */
void zo_server_close_all(zo *z);
/* Requests still waiting for ZooKeeper, over all clients. */
size_t zo_server_inflight(zo *z);
unsigned zo_server_clients(zo *z);

/* Answers, called by cache.c (the client may have gone: then dropped). */
void zo_client_answer(zo_client *c, int64_t seq, int kind, const uint8_t *doc, size_t len,
                      bool cached, bool stale);
void zo_client_answer_raw(zo_client *c, int64_t seq, int kind, const zkc_wire_buf *body);
void zo_client_fail(zo_client *c, int64_t seq, int kind, const char *msg);
/* A waiter holds a reference on its client until it is answered. */
void zo_client_ref(zo_client *c);
void zo_client_unref(zo_client *c);
/* Write whatever the answers above queued (called after a batch). */
void zo_clients_flush(zo *z);

/* ---- cache.c ---- */

int zo_cache_start(zo *z);
/* A Get or Children (kind) of path[0..len). */
void zo_cache_get(zo *z, zo_client *c, int64_t seq, int kind, const char *path, size_t len);
/* A GetV; paths is taken over. */
void zo_cache_getv(zo *z, zo_client *c, int64_t seq, zkc_strings *paths);
/* Count one RPC call. */
void zo_cache_count_call(zo *z);
/* /debug/vars and /metrics bodies (malloc'd), or NULL. */
char *zo_cache_vars_json(zo *z);
char *zo_cache_metrics(zo *z);
/* Write the snapshot now, on this thread.  Returns 0 or -1 (logged). */
int zo_cache_snapshot_sync(zo *z);
/* True while a dial or a periodic snapshot write runs on the pool. */
bool zo_cache_dialing(zo *z);
/* Stop timers and close every cell's connection. */
void zo_cache_stop(zo *z);

/* ---- main.c ---- */

struct zo {
    uv_loop_t *loop;
    zo_opts opt;
    zkc_cells *cells;
    zkc_conn_cache *conns;
    char *local_cell; /* with --resolve-local */
    bool stopping;
    struct zo_server *server; /* server.c's */
    struct zo_cache *cache;   /* cache.c's */
};

void zo_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
