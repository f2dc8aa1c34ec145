/*
 * zkcell/conncache.h: one connection per cell (the seed's ConnCache).
 *
 * The cache dials a cell the first time it is asked for, and hands the
 * same connection to every later caller.  "local" and the cell it names
 * share one connection (one session: the same ephemerals and watches).
 * At most one dial per cell is in flight: other callers for that cell
 * wait for its result.  A failed dial is remembered: until a jittered,
 * growing delay has passed (100 ms doubling up to 30 s by default),
 * callers get the same error at once instead of dialing again, so a cell
 * that is down sees no storm of dials.  A connection whose session
 * expired (or that closed) is replaced by a fresh dial on the next use.
 *
 * Connections are reference counted: every zkc_conn_cache_get() must be
 * matched by one zkc_conn_cache_release().  A replaced connection is
 * closed when its last reference goes.
 *
 * Threads: every function may be called from any thread, except that
 * zkc_conn_cache_free() must come after every other call has returned and
 * every reference has been released.  zkc_conn_cache_get() may block for
 * as long as a dial takes (the cells' connect timeout), so it should not
 * be called from a connection's completion thread; zkc_conn_cache_try()
 * never blocks.
 */
#ifndef ZKC_CONNCACHE_H
#define ZKC_CONNCACHE_H

#include <stdbool.h>

#include "cells.h"
#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct zkc_conn_cache zkc_conn_cache;

/*
 * The cache's dial (zkc_dial_fn, conn.h) connects to the cell named cell
 * (never "local", never NULL) at addrs (from zk_client.json, or its
 * ":_zkocc" key in zkocc mode).  It is called from the thread inside
 * zkc_conn_cache_get(), without any cache lock held, at most once at a
 * time per cell.
 */

typedef struct zkc_conn_cache_opts {
    unsigned version; /* 1 */
    bool zkocc;       /* look up the ":_zkocc" addresses */
    /* NULL: the real backend, zkc_dial_quorums() (zkc_zk_dial(), or a
     * global namespace for a list of quorums) with the cells' timeouts
     * and the cell's credentials from auth; in zkocc mode
     * zkc_zkocc_dial() with the base timeout. */
    zkc_dial_fn dial;
    void *dial_ud;
    int backoff_min_ms; /* first delay after a failed dial; 0: 100 */
    int backoff_max_ms; /* largest delay; 0: 30000 */
    /* Open connections kept, 0: no bound.  Before a dial that would go
     * past it, the least recently used connection no caller holds (no
     * reference, no router operation in flight) is closed, with its
     * session: its watches end and its ephemerals go.  When every
     * connection is in use the dial happens anyway, so the bound is
     * soft.  For tools that visit many cells one after another. */
    int max_conns;
    /* Digest credentials per cell (zk_auth.json, auth.h), used by the
     * default dial: borrowed, must outlive the cache; NULL: none. */
    const struct zkc_auth_config *auth;
} zkc_conn_cache_opts;

#define ZKC_CONN_CACHE_OPTS_INIT {1, false, NULL, NULL, 0, 0, 0, NULL}

/*
 * zkc_conn_cache_new: an empty cache over cells, which is borrowed and
 * must outlive the cache.  opts may be NULL.  Returns ZKC_OK with
 * *ret_cache, ZKC_EBADARGUMENTS or ZKC_ENOMEM.
 */
int zkc_conn_cache_new(zkc_cells *cells, const zkc_conn_cache_opts *opts,
                       zkc_conn_cache **ret_cache);

/*
 * zkc_conn_cache_get: the connection of cell ("local", "global" or a
 * name), dialing it if needed.  Returns ZKC_OK with *ret_conn, a
 * reference the caller gives back with zkc_conn_cache_release(); or an
 * error with zkc_errmsg() naming the cell: ZKC_EBADPATH (not a cell
 * name), ZKC_ENOCELL, ZKC_EBADCONFIG (address lookup), the dial's error
 * (also when it is remembered from a recent failed dial: then the
 * message says when the next dial may happen), ZKC_ECLOSED (the cache
 * was closed), ZKC_ENOMEM.
 */
int zkc_conn_cache_get(zkc_conn_cache *cache, const char *cell, zkc_conn **ret_conn);

/*
 * zkc_conn_cache_get_path: the same for the cell of path (ConnForPath).
 * Also ZKC_EBADPATH for a path without a valid cell.
 */
int zkc_conn_cache_get_path(zkc_conn_cache *cache, const char *path, zkc_conn **ret_conn);

/*
 * zkc_conn_cache_try: like zkc_conn_cache_get() but never dials or
 * waits.  Returns true with a reference in *ret_conn when the connection
 * of cell (a real name, not "local") is there and alive; false otherwise
 * (then use zkc_conn_cache_get() from a thread that may block).
 */
bool zkc_conn_cache_try(zkc_conn_cache *cache, const char *cell, zkc_conn **ret_conn);

/* zkc_conn_cache_release: give back a reference; NULL is accepted. */
void zkc_conn_cache_release(zkc_conn_cache *cache, zkc_conn *conn);

/* zkc_conn_cache_cells: the configuration the cache uses (borrowed). */
zkc_cells *zkc_conn_cache_cells(zkc_conn_cache *cache);

/* zkc_conn_cache_zkocc: true when the cache dials zkocc addresses. */
bool zkc_conn_cache_zkocc(const zkc_conn_cache *cache);

/*
 * zkc_conn_cache_status: the state of each cell as JSON text, for status
 * pages: {"<cell>": {"state": "connected"|"connecting"|"disconnected"|
 * "backoff", "dials": n, "failures": n, "last_error": "..."}}.  Returns
 * ZKC_OK with *ret_json (zkc_free) or ZKC_ENOMEM.
 */
int zkc_conn_cache_status(zkc_conn_cache *cache, char **ret_json);

/*
 * zkc_conn_cache_close: close every connection (those still referenced
 * when their last reference goes), wake every waiting caller, and make
 * every later get fail with ZKC_ECLOSED.  A dial in flight finishes and
 * its connection is closed at once.  Idempotent.
 */
void zkc_conn_cache_close(zkc_conn_cache *cache);

/*
 * zkc_conn_cache_free: close, wait for calls still inside a get (a dial
 * in flight), and free.  Every reference must have been released.  NULL
 * is accepted.
 */
void zkc_conn_cache_free(zkc_conn_cache *cache);

#ifdef __cplusplus
}
#endif
#endif
