/*
 * conn_cache.c: one connection per cell (the seed's ConnCache).
 *
 * A table of cells, each with its current connection, whether a dial is
 * in flight, and what the last failed dial said.  One mutex guards the
 * table and one condition variable wakes callers waiting for a dial; the
 * dial itself runs without the lock, so other cells are not held up.
 *
 * Fixed from the original: "local" is resolved before it becomes a key
 * (one session per quorum, not two); a failed dial is remembered for a
 * jittered, growing delay instead of being retried by every caller; only
 * an expired (or closed) session is thrown away, not a connection that
 * is merely reconnecting; connections are reference counted, so one that
 * is replaced is never closed under a caller that is still using it.
 *
 * The cache knows no backend: it dials through a callback (zkc_dial_fn),
 * the caller's or dial_default.c's.  Address lookup is cells.c's; what
 * runs on the connections is the router's (conn_meta.c).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dial_default.h"
#include "zkcell/conncache.h"
#include "zkcell/sys/conn_impl.h"

#define DEFAULT_BACKOFF_MIN_MS 100
#define DEFAULT_BACKOFF_MAX_MS 30000

/* One connection and its references: the cache's own while it is a
 * cell's current connection, plus one per zkc_conn_cache_get(). */
typedef struct cached {
    zkc_conn *conn;
    int refs;
    int busy; /* router operations in flight on it (zkc__conn_cache_busy) */
    struct cached *next;
} cached;

typedef struct entry {
    char *cell;
    cached *cur;          /* the current connection, or NULL */
    bool dialing;         /* a dial is in flight */
    int failures;         /* consecutive failed dials */
    int64_t retry_at;     /* no dial before this (monotonic ms) */
    int last_rc;          /* the last failed dial's code */
    char *last_err;       /* and its message */
    unsigned long dials;
    unsigned long total_failures;
    unsigned long used_at; /* the cache's tick at the last get, for max_conns */
    struct entry *next;
} entry;

struct zkc_conn_cache {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* a dial ended, the cache closed, or busy hit 0 */
    zkc_cells *cells;
    bool zkocc;
    zkc_dial_fn dial;
    void *dial_ud;
    int backoff_min_ms;
    int backoff_max_ms;
    int max_conns;
    zkc__dial_defaults dial_defaults; /* the default dial's userdata */
    unsigned long tick;               /* counts gets, to order entries by last use */
    entry *entries;
    cached *all; /* every connection that still has references */
    bool closed;
    int busy; /* callers inside zkc_conn_cache_get() */
};

int zkc_conn_cache_new(zkc_cells *cells, const zkc_conn_cache_opts *opts,
                       zkc_conn_cache **ret_cache)
{
    static const zkc_conn_cache_opts defaults = ZKC_CONN_CACHE_OPTS_INIT;
    if (cells == NULL || ret_cache == NULL) {
        zkc_impl_set_errmsg("zkc_conn_cache_new: %s is NULL", cells == NULL ? "cells" : "ret_cache");
        return ZKC_EBADARGUMENTS;
    }
    *ret_cache = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (opts->version != 1 || opts->backoff_min_ms < 0 || opts->backoff_max_ms < 0 ||
        opts->max_conns < 0) {
        zkc_impl_set_errmsg("zkc_conn_cache_new: bad options (version %d, backoff %d..%d ms, "
                            "max_conns %d)",
                            opts->version, opts->backoff_min_ms, opts->backoff_max_ms,
                            opts->max_conns);
        return ZKC_EBADARGUMENTS;
    }
    zkc_conn_cache *c = calloc(1, sizeof *c);
    if (c == NULL) {
        zkc_impl_set_errmsg("zkc_conn_cache_new: out of memory");
        return ZKC_ENOMEM;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->cells = cells;
    c->zkocc = opts->zkocc;
    c->dial_defaults =
        (zkc__dial_defaults){.cells = cells, .zkocc = opts->zkocc, .auth = opts->auth};
    c->dial = opts->dial != NULL ? opts->dial : zkc__dial_default;
    c->dial_ud = opts->dial != NULL ? opts->dial_ud : &c->dial_defaults;
    c->backoff_min_ms = opts->backoff_min_ms > 0 ? opts->backoff_min_ms : DEFAULT_BACKOFF_MIN_MS;
    c->backoff_max_ms = opts->backoff_max_ms > 0 ? opts->backoff_max_ms : DEFAULT_BACKOFF_MAX_MS;
    if (c->backoff_max_ms < c->backoff_min_ms)
        c->backoff_max_ms = c->backoff_min_ms;
    c->max_conns = opts->max_conns;
    *ret_cache = c;
    return ZKC_OK;
}

zkc_cells *zkc_conn_cache_cells(zkc_conn_cache *cache)
{
    return cache != NULL ? cache->cells : NULL;
}

bool zkc_conn_cache_zkocc(const zkc_conn_cache *cache)
{
    return cache != NULL && cache->zkocc;
}

/* ---- the table (lock held) ---- */

static entry *find_entry(zkc_conn_cache *c, const char *cell)
{
    for (entry *e = c->entries; e != NULL; e = e->next)
        if (strcmp(e->cell, cell) == 0)
            return e;
    return NULL;
}

static entry *add_entry(zkc_conn_cache *c, const char *cell)
{
    entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->cell = strdup(cell);
    if (e->cell == NULL) {
        free(e);
        return NULL;
    }
    e->next = c->entries;
    c->entries = e;
    return e;
}

static bool alive(zkc_conn *conn)
{
    zkc_state s = zkc_conn_state(conn);
    return s != ZKC_STATE_EXPIRED && s != ZKC_STATE_CLOSED;
}

/* Drop one reference; returns the connection to close (outside the
 * lock) when it was the last. */
static zkc_conn *unref(zkc_conn_cache *c, cached *k)
{
    if (--k->refs > 0)
        return NULL;
    for (cached **pp = &c->all; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    }
    zkc_conn *conn = k->conn;
    free(k);
    return conn;
}

/* Before a dial: when max_conns connections are open, take the least
 * recently used one that nobody holds out of the table.  Returns it, to
 * close outside the lock, or NULL. */
static zkc_conn *evict_locked(zkc_conn_cache *c, const entry *dialing)
{
    if (c->max_conns <= 0)
        return NULL;
    int open = 0;
    entry *lru = NULL;
    for (entry *e = c->entries; e != NULL; e = e->next) {
        if (e->cur == NULL)
            continue;
        open++;
        if (e != dialing && e->cur->refs == 1 && e->cur->busy == 0 &&
            (lru == NULL || e->used_at < lru->used_at))
            lru = e;
    }
    if (open < c->max_conns || lru == NULL)
        return NULL;
    zkc_conn *conn = unref(c, lru->cur);
    lru->cur = NULL;
    return conn;
}

/* ---- get ---- */

/* Why a dial of cell at addrs failed, in msg: "cell CELL: dial ADDRS: why"
 * (the dial's own message, else rc's name). */
static void dial_message(const char *cell, const char *addrs, int rc, char *msg, size_t size)
{
    const char *detail = zkc_errmsg()[0] != '\0' ? zkc_errmsg() : zkc_strerror(rc);
    /* A long list is cut, as zkc_zk_dial cuts it, so that the reason
     * still shows. */
    char shown[256];
    size_t al = strlen(addrs);
    if (al > 200)
        snprintf(shown, sizeof shown, "%.200s... (%zu bytes)", addrs, al);
    else
        snprintf(shown, sizeof shown, "%s", addrs);
    /* zkc_zk_dial's own message starts "dial <addrs>: ": say it once. */
    size_t sl = strlen(shown);
    if (strncmp(detail, "dial ", 5) == 0 && strncmp(detail + 5, shown, sl) == 0 &&
        strncmp(detail + 5 + sl, ": ", 2) == 0)
        detail += 5 + sl + 2;
    snprintf(msg, size, "cell %s: dial %s: %s", cell, shown, detail);
}

/* Dial cell, without the lock: its addresses from the cells (a changed
 * file is seen by this dial), then c->dial.  On failure msg says why;
 * *lookup_failed when the cell has no addresses (no dial was made). */
static int dial_entry(zkc_conn_cache *c, const char *cell, zkc_conn **ret_conn, char *msg,
                      size_t size, bool *lookup_failed)
{
    char *addrs = NULL;
    zkc_conn *conn = NULL;
    *lookup_failed = false;
    *msg = '\0';
    zkc_cells_refresh(c->cells);
    int rc = zkc_cells_addrs(c->cells, cell, c->zkocc, &addrs);
    if (rc != ZKC_OK) {
        *lookup_failed = true;
    } else {
        zkc_impl_set_errmsg("%s", "");
        rc = c->dial(cell, addrs, c->dial_ud, &conn);
        if (rc == ZKC_OK && conn == NULL)
            rc = ZKC_ECONNECT;
    }
    if (rc != ZKC_OK && !*lookup_failed)
        dial_message(cell, addrs, rc, msg, size);
    else if (rc != ZKC_OK)
        snprintf(msg, size, "%s", zkc_errmsg());
    free(addrs);
    *ret_conn = conn;
    return rc;
}

/* Back under the lock after a dial of e (rc, conn, msg from dial_entry):
 * keep the connection, with a reference for the cache and one for the
 * caller, or remember the failure so that waiters get it at once.  A
 * connection that cannot be kept goes to *to_close. */
static int dial_done_locked(zkc_conn_cache *c, entry *e, const char *cell, int rc,
                            zkc_conn *conn, const char *msg, bool lookup_failed,
                            zkc_conn **ret_conn, zkc_conn **to_close)
{
    e->dialing = false;
    pthread_cond_broadcast(&c->cond);
    if (rc == ZKC_OK) {
        cached *k = calloc(1, sizeof *k);
        if (k == NULL || c->closed) {
            free(k);
            *to_close = conn;
            rc = c->closed ? ZKC_ECLOSED : ZKC_ENOMEM;
            if (rc == ZKC_ECLOSED)
                zkc_impl_set_errmsg("cell %s: the connection cache is closed", cell);
            else
                zkc_impl_set_errmsg("cell %s: out of memory", cell);
            return rc;
        }
        k->conn = conn;
        k->refs = 2; /* the cache's and the caller's */
        k->next = c->all;
        c->all = k;
        e->cur = k;
        e->failures = 0;
        e->used_at = ++c->tick;
        *ret_conn = conn;
        return ZKC_OK;
    }
    zkc_impl_set_errmsg("%s", msg);
    if (!lookup_failed) {
        e->failures++;
        e->total_failures++;
        e->retry_at = zkc_impl_now_ms() +
                      zkc_impl_backoff_delay(c->backoff_min_ms, c->backoff_max_ms,
                                             (unsigned)e->failures);
        e->last_rc = rc;
        free(e->last_err);
        e->last_err = strdup(msg);
    }
    return rc;
}

/* e's current connection when it is alive, with a reference for the
 * caller (lock held); else NULL, and an expired one is taken out of the
 * table (*to_close: to close outside the lock, when it was the last
 * reference).  Whoever still uses an expired one keeps it until they
 * release it. */
static zkc_conn *take_current_locked(zkc_conn_cache *c, entry *e, zkc_conn **to_close)
{
    if (e->cur == NULL)
        return NULL;
    if (alive(e->cur->conn)) {
        e->cur->refs++;
        e->used_at = ++c->tick;
        return e->cur->conn;
    }
    *to_close = unref(c, e->cur);
    e->cur = NULL;
    return NULL;
}

/* While the delay after e's last failed dial runs (lock held): that
 * dial's error, with a message saying when the next dial may be; else
 * ZKC_OK, a dial may be made. */
static int remembered_failure_locked(const entry *e)
{
    int64_t now = zkc_impl_now_ms();
    if (e->failures == 0 || now >= e->retry_at)
        return ZKC_OK;
    zkc_impl_set_errmsg("%s (%d failed dial%s; next dial in %lld ms)",
                        e->last_err != NULL ? e->last_err : zkc_strerror(e->last_rc),
                        e->failures, e->failures > 1 ? "s" : "",
                        (long long)(e->retry_at - now));
    return e->last_rc;
}

/* Dial e (lock held on entry and on return, released meanwhile): mark
 * it dialing, make room under max_conns, close what waits to be closed,
 * dial, and keep the result (dial_done_locked). */
static int dial_unlocked(zkc_conn_cache *c, entry *e, const char *cell, zkc_conn **ret_conn,
                         zkc_conn **to_close)
{
    e->dialing = true;
    e->dials++;
    zkc_conn *evicted = evict_locked(c, e);
    pthread_mutex_unlock(&c->lock);
    if (*to_close != NULL) {
        zkc_conn_close(*to_close);
        *to_close = NULL;
    }
    zkc_conn_close(evicted);
    zkc_conn *conn = NULL;
    bool lookup_failed = false;
    char msg[1024];
    int rc = dial_entry(c, cell, &conn, msg, sizeof msg, &lookup_failed);
    pthread_mutex_lock(&c->lock);
    return dial_done_locked(c, e, cell, rc, conn, msg, lookup_failed, ret_conn, to_close);
}

static int get_resolved(zkc_conn_cache *c, const char *cell, zkc_conn **ret_conn)
{
    zkc_conn *to_close = NULL;
    int rc;
    pthread_mutex_lock(&c->lock);
    if (c->closed) {
        pthread_mutex_unlock(&c->lock);
        zkc_impl_set_errmsg("cell %s: the connection cache is closed", cell);
        return ZKC_ECLOSED;
    }
    entry *e = find_entry(c, cell);
    if (e == NULL && (e = add_entry(c, cell)) == NULL) {
        pthread_mutex_unlock(&c->lock);
        zkc_impl_set_errmsg("cell %s: out of memory", cell);
        return ZKC_ENOMEM;
    }
    c->busy++;
    for (;;) {
        if (c->closed) {
            zkc_impl_set_errmsg("cell %s: the connection cache is closed", cell);
            rc = ZKC_ECLOSED;
            break;
        }
        zkc_conn *cur = take_current_locked(c, e, &to_close);
        if (cur != NULL) {
            *ret_conn = cur;
            rc = ZKC_OK;
            break;
        }
        if (e->dialing) {
            pthread_cond_wait(&c->cond, &c->lock);
            continue;
        }
        if ((rc = remembered_failure_locked(e)) == ZKC_OK)
            rc = dial_unlocked(c, e, cell, ret_conn, &to_close);
        break;
    }
    if (--c->busy == 0)
        pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    if (to_close != NULL)
        zkc_conn_close(to_close);
    return rc;
}

int zkc_conn_cache_get(zkc_conn_cache *cache, const char *cell, zkc_conn **ret_conn)
{
    if (cache == NULL || cell == NULL || ret_conn == NULL) {
        zkc_impl_set_errmsg("zkc_conn_cache_get: %s is NULL",
                            cache == NULL ? "cache" : cell == NULL ? "cell" : "ret_conn");
        return ZKC_EBADARGUMENTS;
    }
    char *name = NULL;
    int rc = zkc_cells_resolve(cache->cells, cell, &name);
    if (rc != ZKC_OK)
        return rc;
    rc = get_resolved(cache, name, ret_conn);
    free(name);
    return rc;
}

int zkc_conn_cache_get_path(zkc_conn_cache *cache, const char *path, zkc_conn **ret_conn)
{
    if (cache == NULL || ret_conn == NULL)
        return ZKC_EBADARGUMENTS;
    const char *cell;
    size_t len;
    int rc = zkc_cell_from_path(path, &cell, &len);
    if (rc != ZKC_OK)
        return rc;
    char *name = strndup(cell, len);
    if (name == NULL)
        return ZKC_ENOMEM;
    rc = zkc_conn_cache_get(cache, name, ret_conn);
    free(name);
    return rc;
}

bool zkc_conn_cache_try(zkc_conn_cache *cache, const char *cell, zkc_conn **ret_conn)
{
    if (cache == NULL || cell == NULL || ret_conn == NULL)
        return false;
    bool ok = false;
    pthread_mutex_lock(&cache->lock);
    entry *e = cache->closed ? NULL : find_entry(cache, cell);
    if (e != NULL && e->cur != NULL && alive(e->cur->conn)) {
        e->cur->refs++;
        e->used_at = ++cache->tick;
        *ret_conn = e->cur->conn;
        ok = true;
    }
    pthread_mutex_unlock(&cache->lock);
    return ok;
}

void zkc_conn_cache_release(zkc_conn_cache *cache, zkc_conn *conn)
{
    if (cache == NULL || conn == NULL)
        return;
    zkc_conn *to_close = NULL;
    pthread_mutex_lock(&cache->lock);
    for (cached *k = cache->all; k != NULL; k = k->next) {
        if (k->conn == conn) {
            to_close = unref(cache, k);
            break;
        }
    }
    pthread_mutex_unlock(&cache->lock);
    zkc_conn_close(to_close);
}

/* For the router (conn_meta.c), not in a public header: count an
 * operation sent on conn (delta 1) or completed (-1), so that the bound
 * never closes a connection under one.  conn is matched by identity;
 * one no longer in the cache is ignored. */
void zkc__conn_cache_busy(zkc_conn_cache *cache, zkc_conn *conn, int delta);
void zkc__conn_cache_busy(zkc_conn_cache *cache, zkc_conn *conn, int delta)
{
    if (cache == NULL || conn == NULL)
        return;
    pthread_mutex_lock(&cache->lock);
    for (cached *k = cache->all; k != NULL; k = k->next) {
        if (k->conn == conn) {
            k->busy = k->busy + delta < 0 ? 0 : k->busy + delta;
            break;
        }
    }
    pthread_mutex_unlock(&cache->lock);
}

/* ---- status ---- */

int zkc_conn_cache_status(zkc_conn_cache *cache, char **ret_json)
{
    if (cache == NULL || ret_json == NULL)
        return ZKC_EBADARGUMENTS;
    json_t *root = json_object();
    if (root == NULL)
        return ZKC_ENOMEM;
    int rc = ZKC_OK;
    pthread_mutex_lock(&cache->lock);
    int64_t now = zkc_impl_now_ms();
    for (entry *e = cache->entries; e != NULL && rc == ZKC_OK; e = e->next) {
        const char *state = "disconnected";
        if (e->cur != NULL && alive(e->cur->conn))
            state = "connected";
        else if (e->dialing)
            state = "connecting";
        else if (e->failures > 0 && now < e->retry_at)
            state = "backoff";
        json_t *o = json_pack("{s:s, s:I, s:I, s:s*}", "state", state, "dials",
                              (json_int_t)e->dials, "failures",
                              (json_int_t)e->total_failures, "last_error", e->last_err);
        if (o == NULL || json_object_set_new(root, e->cell, o) != 0)
            rc = ZKC_ENOMEM;
    }
    pthread_mutex_unlock(&cache->lock);
    char *text = rc == ZKC_OK ? json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(root);
    if (text == NULL)
        return ZKC_ENOMEM;
    /* json_dumps uses jansson's allocator (malloc by default); copy so
     * the caller frees with zkc_free. */
    *ret_json = strdup(text);
    free(text);
    return *ret_json != NULL ? ZKC_OK : ZKC_ENOMEM;
}

/* ---- close ---- */

void zkc_conn_cache_close(zkc_conn_cache *cache)
{
    if (cache == NULL)
        return;
    pthread_mutex_lock(&cache->lock);
    if (cache->closed) {
        pthread_mutex_unlock(&cache->lock);
        return;
    }
    cache->closed = true;
    /* Collect the connections to close into a private list first: they
     * are closed without the lock, since a close completes operations
     * whose callbacks may come back here. */
    size_t n = 0;
    for (entry *e = cache->entries; e != NULL; e = e->next)
        n += e->cur != NULL;
    zkc_conn **to_close = n > 0 ? calloc(n, sizeof *to_close) : NULL;
    size_t k = 0;
    for (entry *e = cache->entries; e != NULL; e = e->next) {
        if (e->cur == NULL)
            continue;
        zkc_conn *conn = unref(cache, e->cur);
        e->cur = NULL;
        if (conn != NULL && to_close != NULL)
            to_close[k++] = conn;
        else if (conn != NULL) {
            /* Out of memory for the list: close under the lock rather
             * than leak (callbacks must not call back into the cache). */
            zkc_conn_close(conn);
        }
    }
    pthread_cond_broadcast(&cache->cond);
    pthread_mutex_unlock(&cache->lock);
    for (size_t i = 0; i < k; i++)
        zkc_conn_close(to_close[i]);
    free(to_close);
}

void zkc_conn_cache_free(zkc_conn_cache *cache)
{
    if (cache == NULL)
        return;
    zkc_conn_cache_close(cache);
    pthread_mutex_lock(&cache->lock);
    while (cache->busy > 0)
        pthread_cond_wait(&cache->cond, &cache->lock);
    pthread_mutex_unlock(&cache->lock);
    while (cache->entries != NULL) {
        entry *e = cache->entries;
        cache->entries = e->next;
        free(e->cell);
        free(e->last_err);
        free(e);
    }
    /* References never released are the caller's bug; close anyway. */
    while (cache->all != NULL) {
        cached *k = cache->all;
        cache->all = k->next;
        zkc_conn_close(k->conn);
        free(k);
    }
    pthread_cond_destroy(&cache->cond);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}
