/*
 * cache.c: zkocc's cache (the original's ZkReader, zkCell and cache
 * entries), owned by the loop thread.
 *
 * An entry is one resolved path with two halves, data (Get) and children
 * (Children), each holding its answer already encoded as a ZkNode
 * document with its own Stat, so a cached answer is a copy of bytes.  A
 * half is:
 *   fresh    it has a document read in the cell's current session, not
 *            invalidated by its watch, and the cell is connected;
 *   stale    it has a document but the cell is not connected (answered
 *            at once with Stale set), or the document comes from an
 *            older session or a snapshot (answered with Stale set while
 *            it is re-read);
 *   invalid  its watch fired: it is re-read at once, and requests wait
 *            for the new value (the old one answers, Stale, if the read
 *            fails for want of a connection);
 *   missing  the node did not exist: "node does not exist" is answered
 *            for --negative-ttl, then it is asked again;
 *   empty.
 * One read per half is in flight at a time (single flight); requests
 * that arrive meanwhile wait on the half, and nothing else waits.  A
 * change in ZooKeeper is visible through zkocc as soon as its watch event
 * reaches the loop (a node created after being seen missing: within
 * --negative-ttl).
 *
 * Cells connect through the connection cache on libuv's thread pool
 * (dials block); a failed dial is retried after a jittered delay that
 * grows from --reconnect-interval to --reconnect-max.  A new session
 * makes every older document of the cell stale (one epoch counter, no
 * walk), and they are re-read at once, --cache-refresh-count at a time.
 * A session that is only suspended keeps its watches, so documents come
 * back fresh when it reconnects.
 *
 * Memory: every entry's bytes are counted; above --max-cache-bytes,
 * entries that nobody waits on are evicted, least recently asked first
 * (a clock over the entry slots).
 *
 * Snapshot: "zkocc-snapshot 1\n" then the ZkNode documents, written to a
 * temporary file, fsync'd and renamed; read at start, every document
 * checked by the wire decoder, and served as stale until re-read.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zkcell/sys/conn_impl.h>

#include "zkocc.h"

_Static_assert(sizeof(uintptr_t) >= 8, "zkocc packs message ids into pointers");

#define SNAP_MAGIC "zkocc-snapshot 1\n"
#define MAX_CELLS 1024

enum { CS_DISCONNECTED = 0, CS_CONNECTING = 1, CS_CONNECTED = 2, CS_BACKOFF = 3, CS_N = 4 };
static const char *const state_label[CS_N] = {"Disconnected", "Connecting", "Connected",
                                               "BackOff"};

typedef struct counters {
    uint64_t cache_reads, zk_reads, stale_reads, not_found, other_errors;
} counters;

typedef struct zo_cell {
    struct zo_cache *cache;
    unsigned index;
    char *name;
    zkc_conn *conn;
    int64_t session_id;
    uint32_t epoch; /* bumped for every new session; 0: none yet */
    int state;
    unsigned failures;
    char *last_error;
    uv_timer_t retry;
    uv_work_t work;
    bool dialing;
    zkc_conn *dialed;
    int dial_rc;
    char dial_err[512];
    bool needs_refresh;
    bool parked; /* requests wait for the first dial */
    unsigned refreshing;
    size_t refresh_pos;
    counters n;
    int64_t since_ms;
    int64_t dur_ms[CS_N];
    uint64_t into[CS_N];
} zo_cell;

typedef struct waiter {
    struct waiter *next;
    zo_client *client;
    int64_t seq;
    int kind;
    struct getv *getv;
    size_t idx;
    bool heap; /* parked on a half: allocated; else on the caller's stack */
} waiter;

typedef struct half {
    uint8_t *doc; /* ZkNode, Cached=true Stale=false */
    uint32_t len;
    uint32_t epoch;      /* the session it was read in */
    uint32_t gen;        /* the current read or watch */
    bool invalid;
    bool fetching;
    bool refresh;        /* the read counts against the cell's refresh window */
    uint32_t fetch_epoch;
    int64_t neg_until;   /* missing until then (ms, monotonic) */
    zkc_watch *watch;
    waiter *waiters;
} half;

typedef struct entry {
    char *path;
    size_t path_len;
    uint32_t hash;
    struct entry *hnext;
    uint32_t slot;
    zo_cell *cell;
    bool ref;
    half h[2];
} entry;

typedef struct getv {
    zo_client *client;
    int64_t seq;
    size_t n, left;
    uint8_t **docs;
    size_t *lens;
    char *error;
} getv;

enum { M_FETCH, M_WATCH, M_STATE };
typedef struct msg {
    struct msg *next;
    int type;
    uintptr_t id;
    int rc;
    char *errmsg;
    zkc_stat stat;
    bool has_stat;
    char *data;
    size_t data_len;
    zkc_strings *children;
    zkc_watch *watch;
    zkc_event_type ev;
    zkc_state state;
    zkc_conn *conn; /* M_STATE: compared, never used */
} msg;

struct zo_cache {
    zo *z;
    zo_cell *cells[MAX_CELLS];
    unsigned ncells;
    entry **buckets;
    size_t nbuckets, nentries;
    entry **slots;
    uint32_t nslots, slots_cap;
    uint32_t *free_slots;
    uint32_t nfree;
    uint32_t hand;
    size_t bytes;
    uint64_t evictions;
    uint32_t gen;
    uint64_t rpc_calls, unknown_cell_errors;
    pthread_mutex_t qlock;
    msg *qhead, *qtail;
    uv_async_t async;
    uv_timer_t refresh_timer;
    uv_timer_t snapshot_timer;
    uv_work_t snap_work;
    bool snap_busy;
    zkc_wire_buf snap_buf;
    int snap_rc;
    long snap_round_at;
    char *snap_err;
};

/* ---- ids: slot, generation and half in one pointer-sized word ---- */

static uintptr_t make_id(uint32_t slot, uint32_t gen, int h)
{
    return (uintptr_t)slot << 32 | (uintptr_t)(gen & 0x7fffffffu) << 1 | (uintptr_t)h;
}

static entry *id_entry(struct zo_cache *k, uintptr_t id, int *ret_h)
{
    uint32_t slot = (uint32_t)(id >> 32);
    uint32_t gen = (uint32_t)(id >> 1) & 0x7fffffffu;
    int h = (int)(id & 1);
    if (slot >= k->nslots || k->slots[slot] == NULL)
        return NULL;
    entry *e = k->slots[slot];
    if ((e->h[h].gen & 0x7fffffffu) != gen)
        return NULL;
    *ret_h = h;
    return e;
}

/* ---- messages from the C client's threads ---- */

/* One daemon, one cache: the completion, watch and state callbacks find
 * it here (their one user pointer carries the id). */
static struct zo_cache *the_cache;

static void push(struct zo_cache *k, msg *m)
{
    m->next = NULL;
    pthread_mutex_lock(&k->qlock);
    if (k->qtail != NULL)
        k->qtail->next = m;
    else
        k->qhead = m;
    k->qtail = m;
    pthread_mutex_unlock(&k->qlock);
    uv_async_send(&k->async);
}

static void msg_free(msg *m)
{
    free(m->errmsg);
    free(m->data);
    zkc_strings_free(m->children);
    free(m);
}

static void fetch_done(const zkc_result *res, void *ud)
{
    struct zo_cache *k = the_cache;
    uintptr_t id = (uintptr_t)ud;
    msg *m = calloc(1, sizeof *m);
    if (m == NULL) {
        zkc_watch_free(res->watch);
        return; /* out of memory: the half stays "fetching" and its waiters wait */
    }
    m->type = M_FETCH;
    m->id = id;
    m->rc = res->rc;
    m->watch = res->watch;
    if (res->errmsg != NULL)
        m->errmsg = strdup(res->errmsg);
    if (res->stat != NULL) {
        m->stat = *res->stat;
        m->has_stat = true;
    }
    if (res->rc == ZKC_OK && res->op == ZKC_OP_GET) {
        m->data = zkc_impl_memdup(res->data != NULL ? res->data : "", res->data_len);
        m->data_len = res->data_len;
        if (m->data == NULL)
            m->rc = ZKC_ENOMEM;
    } else if (res->rc == ZKC_OK && res->op == ZKC_OP_CHILDREN) {
        m->children = zkc_strings_dup(res->children);
        if (m->children == NULL)
            m->rc = ZKC_ENOMEM;
    }
    push(k, m);
}


static void watch_fired(zkc_watch *w, const zkc_event *ev, void *ud)
{
    (void)w;
    msg *m = calloc(1, sizeof *m);
    if (m == NULL)
        return;
    m->type = M_WATCH;
    m->id = (uintptr_t)ud;
    m->ev = ev->type;
    push(the_cache, m);
}

static void state_changed(zkc_conn *c, zkc_state state, void *ud)
{
    msg *m = calloc(1, sizeof *m);
    if (m == NULL)
        return;
    m->type = M_STATE;
    m->id = (uintptr_t)ud; /* the cell's index */
    m->state = state;
    m->conn = c;
    push(the_cache, m);
}

/* ---- cells ---- */

static void set_state(zo_cell *cl, int s)
{
    int64_t now = zkc_impl_now_ms();
    cl->dur_ms[cl->state] += now - cl->since_ms;
    cl->since_ms = now;
    if (s != cl->state)
        cl->into[s]++;
    cl->state = s;
}

static void cell_error(zo_cell *cl, const char *text)
{
    free(cl->last_error);
    cl->last_error = strdup(text);
}

static void connect_cell(zo_cell *cl);

static void dial_work(uv_work_t *w)
{
    zo_cell *cl = w->data;
    zkc_impl_set_errmsg("%s", "");
    cl->dialed = NULL;
    cl->dial_rc = zkc_conn_cache_get(cl->cache->z->conns, cl->name, &cl->dialed);
    snprintf(cl->dial_err, sizeof cl->dial_err, "%s",
             zkc_errmsg()[0] != '\0' ? zkc_errmsg() : zkc_strerror(cl->dial_rc));
}

static void refresh_pump(zo_cell *cl);
static void start_fetch(struct zo_cache *k, struct entry *e, int hi, bool refresh);
static void fail_waiters(struct entry *e, int hi, const char *text);

/* Requests that arrived while the cell's first dial was on its way wait
 * for it: read for them once connected, or fail them. */
static void flush_parked(zo_cell *cl, const char *failure)
{
    struct zo_cache *k = cl->cache;
    for (uint32_t i = 0; i < k->nslots; i++) {
        struct entry *e = k->slots[i];
        if (e == NULL || e->cell != cl)
            continue;
        for (int j = 0; j < 2; j++) {
            if (e->h[j].waiters == NULL || e->h[j].fetching)
                continue;
            if (failure == NULL)
                start_fetch(k, e, j, false);
            else
                fail_waiters(e, j, failure);
        }
    }
}

static void on_session(zo_cell *cl)
{
    int64_t sid = zkc_conn_session_id(cl->conn);
    if (sid != cl->session_id || cl->epoch == 0) {
        cl->session_id = sid;
        cl->epoch++;
        cl->needs_refresh = true;
        cl->refresh_pos = 0;
    }
    set_state(cl, CS_CONNECTED);
    cl->failures = 0;
    if (cl->parked) {
        cl->parked = false;
        flush_parked(cl, NULL);
    }
    refresh_pump(cl);
}

static void retry_fired(uv_timer_t *t)
{
    zo_cell *cl = t->data;
    if (cl->state == CS_BACKOFF) {
        set_state(cl, CS_DISCONNECTED);
        connect_cell(cl);
    }
}

static void dial_after(uv_work_t *w, int status)
{
    zo_cell *cl = w->data;
    struct zo_cache *k = cl->cache;
    cl->dialing = false;
    if (k->z->stopping) {
        if (cl->dialed != NULL)
            zkc_conn_cache_release(k->z->conns, cl->dialed);
        return;
    }
    if (status == 0 && cl->dial_rc == ZKC_OK) {
        cl->conn = cl->dialed;
        zkc_conn_set_state_callback(cl->conn, state_changed, (void *)(uintptr_t)cl->index);
        zkc_state s = zkc_conn_state(cl->conn);
        if (s == ZKC_STATE_CONNECTED || s == ZKC_STATE_RECONNECTED) {
            zo_log("cell %s: connected (session 0x%llx)", cl->name,
                   (unsigned long long)zkc_conn_session_id(cl->conn));
            on_session(cl);
        } else {
            set_state(cl, CS_CONNECTING);
        }
        return;
    }
    cl->failures++;
    cell_error(cl, cl->dial_err);
    int delay = zkc_impl_backoff_delay(k->z->opt.reconnect_min_ms, k->z->opt.reconnect_max_ms,
                                   cl->failures);
    zo_log("cell %s: %s; next attempt in %d ms", cl->name, cl->dial_err, delay);
    set_state(cl, CS_BACKOFF);
    if (cl->parked) {
        char text[700];
        cl->parked = false;
        snprintf(text, sizeof text, "zkocc: cell %s: %s [ECONNECTIONLOSS]", cl->name,
                 cl->dial_err);
        flush_parked(cl, text);
    }
    uv_timer_start(&cl->retry, retry_fired, (uint64_t)delay, 0);
}

static void connect_cell(zo_cell *cl)
{
    if (cl->dialing || cl->conn != NULL || cl->state == CS_BACKOFF || cl->cache->z->stopping)
        return;
    set_state(cl, CS_CONNECTING);
    cl->dialing = true;
    cl->work.data = cl;
    if (uv_queue_work(cl->cache->z->loop, &cl->work, dial_work, dial_after) != 0) {
        cl->dialing = false;
        set_state(cl, CS_DISCONNECTED);
    }
}

static void drop_conn(zo_cell *cl)
{
    if (cl->conn == NULL)
        return;
    zkc_conn_set_state_callback(cl->conn, NULL, NULL);
    zkc_conn_cache_release(cl->cache->z->conns, cl->conn);
    cl->conn = NULL;
}

static void handle_state(struct zo_cache *k, msg *m)
{
    if (m->id >= k->ncells)
        return;
    zo_cell *cl = k->cells[m->id];
    if (cl->conn == NULL || cl->conn != m->conn || k->z->stopping)
        return; /* a connection we already gave back */
    switch (m->state) {
    case ZKC_STATE_CONNECTED:
    case ZKC_STATE_RECONNECTED:
        if (zkc_conn_state(cl->conn) == ZKC_STATE_CONNECTED ||
            zkc_conn_state(cl->conn) == ZKC_STATE_RECONNECTED) {
            zo_log("cell %s: connected", cl->name);
            on_session(cl);
        }
        break;
    case ZKC_STATE_SUSPENDED:
        if (cl->state == CS_CONNECTED)
            zo_log("cell %s: connection lost; answering from the cache, marked stale", cl->name);
        cell_error(cl, "connection to ZooKeeper lost");
        set_state(cl, CS_CONNECTING);
        break;
    case ZKC_STATE_EXPIRED:
    case ZKC_STATE_CLOSED:
        zo_log("cell %s: session %s; reconnecting", cl->name,
               m->state == ZKC_STATE_EXPIRED ? "expired" : "closed");
        cell_error(cl, m->state == ZKC_STATE_EXPIRED ? "ZooKeeper session expired"
                                                     : "ZooKeeper connection closed");
        drop_conn(cl);
        set_state(cl, CS_DISCONNECTED);
        cl->failures = 0;
        connect_cell(cl);
        break;
    default:
        break;
    }
}

static zo_cell *find_cell(struct zo_cache *k, const char *name, size_t len)
{
    for (unsigned i = 0; i < k->ncells; i++) {
        zo_cell *cl = k->cells[i];
        if (strlen(cl->name) == len && memcmp(cl->name, name, len) == 0)
            return cl;
    }
    return NULL;
}

/* The cell named name[0..len), made (and dialed) on first use.  NULL
 * with *err set when it has no address. */
static zo_cell *get_cell(struct zo_cache *k, const char *name, size_t len, char *err,
                         size_t errlen)
{
    zo_cell *cl = find_cell(k, name, len);
    if (cl != NULL)
        return cl;
    char *cname = strndup(name, len);
    char *addrs = NULL;
    if (cname == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int rc = zkc_cells_addrs(k->z->cells, cname, false, &addrs);
    if (rc != ZKC_OK) {
        snprintf(err, errlen, "zkocc: unknown cell %s: %s [%s]", cname, zkc_errmsg(),
                 zkc_err_name(rc) ? zkc_err_name(rc) : "ENOCELL");
        free(cname);
        return NULL;
    }
    zkc_free(addrs);
    if (k->ncells >= MAX_CELLS || (cl = calloc(1, sizeof *cl)) == NULL) {
        snprintf(err, errlen, "zkocc: too many cells [ENOMEM]");
        free(cname);
        return NULL;
    }
    cl->cache = k;
    cl->index = k->ncells;
    cl->name = cname;
    cl->since_ms = zkc_impl_now_ms();
    uv_timer_init(k->z->loop, &cl->retry);
    cl->retry.data = cl;
    k->cells[k->ncells++] = cl;
    connect_cell(cl);
    return cl;
}

/* ---- entries ---- */

static uint32_t hash_path(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

static entry *find_entry(struct zo_cache *k, const char *p, size_t n, uint32_t h)
{
    if (k->nbuckets == 0)
        return NULL;
    for (entry *e = k->buckets[h & (k->nbuckets - 1)]; e != NULL; e = e->hnext)
        if (e->hash == h && e->path_len == n && memcmp(e->path, p, n) == 0)
            return e;
    return NULL;
}

static size_t entry_bytes(const entry *e)
{
    return sizeof *e + e->path_len + 1 + e->h[0].len + e->h[1].len;
}

static void evict_some(struct zo_cache *k);

static entry *add_entry(struct zo_cache *k, zo_cell *cl, const char *p, size_t n, uint32_t h)
{
    if (k->nentries + 1 > k->nbuckets) {
        size_t nb = k->nbuckets > 0 ? k->nbuckets * 2 : 1024;
        entry **b = calloc(nb, sizeof *b);
        if (b == NULL)
            return NULL;
        for (size_t i = 0; i < k->nbuckets; i++) {
            for (entry *e = k->buckets[i], *next; e != NULL; e = next) {
                next = e->hnext;
                e->hnext = b[e->hash & (nb - 1)];
                b[e->hash & (nb - 1)] = e;
            }
        }
        free(k->buckets);
        k->buckets = b;
        k->nbuckets = nb;
    }
    uint32_t slot;
    if (k->nfree > 0) {
        slot = k->free_slots[--k->nfree];
    } else {
        if (k->nslots == k->slots_cap) {
            uint32_t nc = k->slots_cap > 0 ? k->slots_cap * 2 : 1024;
            entry **s = realloc(k->slots, nc * sizeof *s);
            uint32_t *f = realloc(k->free_slots, nc * sizeof *f);
            if (s != NULL)
                k->slots = s;
            if (f != NULL)
                k->free_slots = f;
            if (s == NULL || f == NULL)
                return NULL;
            k->slots_cap = nc;
        }
        slot = k->nslots++;
    }
    entry *e = calloc(1, sizeof *e);
    if (e == NULL || (e->path = zkc_impl_memdup(p, n)) == NULL) {
        free(e);
        k->free_slots[k->nfree++] = slot;
        return NULL;
    }
    e->path_len = n;
    e->hash = h;
    e->slot = slot;
    e->cell = cl;
    e->ref = true;
    e->h[0].gen = ++k->gen;
    e->h[1].gen = ++k->gen;
    k->slots[slot] = e;
    e->hnext = k->buckets[h & (k->nbuckets - 1)];
    k->buckets[h & (k->nbuckets - 1)] = e;
    k->nentries++;
    k->bytes += entry_bytes(e);
    return e;
}

static bool pinned(const entry *e)
{
    return e->h[0].fetching || e->h[1].fetching || e->h[0].waiters || e->h[1].waiters;
}

static void remove_entry(struct zo_cache *k, entry *e)
{
    for (entry **pp = &k->buckets[e->hash & (k->nbuckets - 1)]; *pp != NULL;
         pp = &(*pp)->hnext) {
        if (*pp == e) {
            *pp = e->hnext;
            break;
        }
    }
    k->bytes -= entry_bytes(e);
    k->nentries--;
    k->slots[e->slot] = NULL;
    k->free_slots[k->nfree++] = e->slot;
    for (int i = 0; i < 2; i++) {
        zkc_watch_free(e->h[i].watch);
        free(e->h[i].doc);
    }
    free(e->path);
    free(e);
}

/* The clock: pass over the slots, giving each recently asked entry a
 * second chance, until the cache fits (or nothing can go). */
static void evict_some(struct zo_cache *k)
{
    size_t max = k->z->opt.max_cache_bytes;
    uint64_t steps = 0, limit = 2 * (uint64_t)k->nslots + 2;
    while (k->bytes > max && k->nslots > 0 && steps++ < limit) {
        if (k->hand >= k->nslots)
            k->hand = 0;
        entry *e = k->slots[k->hand++];
        if (e == NULL || pinned(e))
            continue;
        if (e->ref) {
            e->ref = false;
            continue;
        }
        remove_entry(k, e);
        k->evictions++;
    }
}

static void set_doc(struct zo_cache *k, entry *e, half *h, uint8_t *doc, uint32_t len)
{
    k->bytes -= h->len;
    free(h->doc);
    h->doc = doc;
    h->len = doc != NULL ? len : 0;
    k->bytes += h->len;
}

/* ---- answering ---- */

static void answer_doc(waiter *w, const uint8_t *doc, size_t len, bool cached, bool stale)
{
    if (w->getv != NULL) {
        getv *g = w->getv;
        uint8_t *copy = malloc(len);
        if (copy != NULL) {
            memcpy(copy, doc, len);
            zkc_wire_node_set_flags(copy, len, cached, stale);
            g->docs[w->idx] = copy;
            g->lens[w->idx] = len;
        } else if (g->error == NULL) {
            g->error = strdup("zkocc: out of memory [ENOMEM]");
        }
    } else {
        zo_client_answer(w->client, w->seq, w->kind, doc, len, cached, stale);
    }
}

static void getv_slot_done(getv *g);

static void answer_err(waiter *w, const char *path, const char *text)
{
    if (w->getv != NULL) {
        getv *g = w->getv;
        if (g->error == NULL) {
            size_t n = strlen(path) + strlen(text) + 64;
            g->error = malloc(n);
            if (g->error != NULL)
                snprintf(g->error, n, "zkocc: partial read: %s: %s", path, text);
        }
    } else {
        zo_client_fail(w->client, w->seq, w->kind, text);
    }
}

static void waiter_done(waiter *w)
{
    if (w->getv != NULL)
        getv_slot_done(w->getv);
    else
        zo_client_unref(w->client);
    if (w->heap)
        free(w);
}

/* ---- reads ---- */

static const char *op_word(int h)
{
    return h == ZO_GET ? "get" : "children";
}

/* Answer the half's waiters without a read: from its document, marked
 * stale, or with text. */
static void fail_waiters(entry *e, int hi, const char *text)
{
    half *h = &e->h[hi];
    zo_cell *cl = e->cell;
    for (waiter *w = h->waiters, *next; w != NULL; w = next) {
        next = w->next;
        if (h->doc != NULL) {
            cl->n.stale_reads++;
            answer_doc(w, h->doc, h->len, true, true);
        } else {
            cl->n.other_errors++;
            answer_err(w, e->path, text);
        }
        waiter_done(w);
    }
    h->waiters = NULL;
}

static void start_fetch(struct zo_cache *k, entry *e, int hi, bool refresh)
{
    half *h = &e->h[hi];
    zo_cell *cl = e->cell;
    if (h->fetching || cl->conn == NULL)
        return;
    h->gen = ++k->gen;
    void *ud = (void *)make_id(e->slot, h->gen, hi);
    h->fetching = true;
    h->refresh = refresh;
    h->fetch_epoch = cl->epoch;
    /* A path is NUL-terminated in the entry (zkc_impl_memdup). */
    int rc = hi == ZO_GET ? zkc_aget(cl->conn, e->path, ZKC_WATCH, fetch_done, ud)
                          : zkc_achildren(cl->conn, e->path, ZKC_WATCH, fetch_done, ud);
    if (rc != ZKC_OK) {
        h->fetching = false;
        h->refresh = false;
        /* Answer the waiters now: from the old document, or an error. */
        char text[512 + ZKC_MAX_PATH];
        snprintf(text, sizeof text, "zkocc: %s %s: %s [%s]", op_word(hi), e->path,
                 zkc_strerror(rc), zkc_err_name(rc) ? zkc_err_name(rc) : "EIO");
        fail_waiters(e, hi, text);
        return;
    }
    cl->n.zk_reads++;
    if (refresh)
        cl->refreshing++;
}

/* Re-read the cell's stale documents, --cache-refresh-count at a time. */
static void refresh_pump(zo_cell *cl)
{
    struct zo_cache *k = cl->cache;
    unsigned window = k->z->opt.refresh_count > 0 ? k->z->opt.refresh_count : 100;
    if (!cl->needs_refresh || cl->state != CS_CONNECTED)
        return;
    while (cl->refreshing < window && cl->refresh_pos < k->nslots) {
        entry *e = k->slots[cl->refresh_pos++];
        if (e == NULL || e->cell != cl)
            continue;
        for (int i = 0; i < 2; i++) {
            half *h = &e->h[i];
            if (h->doc != NULL && !h->fetching && (h->epoch != cl->epoch || h->invalid))
                start_fetch(k, e, i, true);
        }
    }
    if (cl->refresh_pos >= k->nslots && cl->refreshing == 0)
        cl->needs_refresh = false;
}

static uint8_t *encode_half(entry *e, int hi, const msg *m, uint32_t *ret_len)
{
    zkc_wire_node n = {0};
    n.path = e->path;
    n.path_len = e->path_len;
    if (hi == ZO_GET) {
        n.data = m->data;
        n.data_len = m->data_len;
    } else {
        n.children = m->children;
    }
    if (m->has_stat)
        n.stat = m->stat;
    n.cached = true;
    zkc_wire_buf b = {0};
    if (zkc_wire_put_node(&b, &n) != ZKC_OK || b.len > UINT32_MAX) {
        zkc_wire_buf_free(&b);
        return NULL;
    }
    *ret_len = (uint32_t)b.len;
    return b.data;
}

static void handle_fetch(struct zo_cache *k, msg *m)
{
    int hi;
    entry *e = id_entry(k, m->id, &hi);
    if (e == NULL || !e->h[hi].fetching) {
        zkc_watch_free(m->watch);
        return;
    }
    half *h = &e->h[hi];
    zo_cell *cl = e->cell;
    h->fetching = false;
    if (h->refresh && cl->refreshing > 0)
        cl->refreshing--;
    h->refresh = false;
    uint32_t len = 0;
    uint8_t *doc = m->rc == ZKC_OK ? encode_half(e, hi, m, &len) : NULL;
    if (m->rc == ZKC_OK && doc == NULL)
        m->rc = ZKC_ENOMEM;
    if (m->rc == ZKC_OK) {
        set_doc(k, e, h, doc, len);
        h->epoch = h->fetch_epoch;
        h->invalid = false;
        h->neg_until = 0;
        zkc_watch_free(h->watch);
        h->watch = m->watch;
        m->watch = NULL;
        if (h->watch != NULL)
            zkc_watch_set_callback(h->watch, watch_fired,
                                   (void *)make_id(e->slot, h->gen, hi));
        for (waiter *w = h->waiters, *next; w != NULL; w = next) {
            next = w->next;
            answer_doc(w, h->doc, h->len, false, false);
            waiter_done(w);
        }
    } else {
        zkc_watch_free(m->watch);
        m->watch = NULL;
        bool missing = m->rc == ZKC_ENONODE;
        if (missing) {
            set_doc(k, e, h, NULL, 0);
            h->invalid = false;
            zkc_watch_free(h->watch);
            h->watch = NULL;
            h->neg_until = zkc_impl_now_ms() + k->z->opt.negative_ttl_ms;
        }
        char text[768];
        snprintf(text, sizeof text, "zkocc: %s %s: %s [%s]", op_word(hi), e->path,
                 m->errmsg != NULL && m->errmsg[0] != '\0' ? m->errmsg : zkc_strerror(m->rc),
                 zkc_err_name(m->rc) ? zkc_err_name(m->rc) : "EIO");
        for (waiter *w = h->waiters, *next; w != NULL; w = next) {
            next = w->next;
            if (!missing && h->doc != NULL) {
                cl->n.stale_reads++;
                answer_doc(w, h->doc, h->len, true, true);
            } else {
                if (missing)
                    cl->n.not_found++;
                else
                    cl->n.other_errors++;
                answer_err(w, e->path, text);
            }
            waiter_done(w);
        }
    }
    h->waiters = NULL;
    e->ref = true;
    refresh_pump(cl);
    if (k->bytes > k->z->opt.max_cache_bytes)
        evict_some(k);
}

static void handle_watch(struct zo_cache *k, msg *m)
{
    int hi;
    entry *e = id_entry(k, m->id, &hi);
    if (e == NULL || e->h[hi].fetching)
        return; /* replaced, evicted, or a newer read is on its way */
    half *h = &e->h[hi];
    zkc_watch_free(h->watch);
    h->watch = NULL;
    if (m->ev == ZKC_EVENT_SESSION_EXPIRED || m->ev == ZKC_EVENT_CLOSED)
        return; /* the cell's new session makes the document stale */
    h->invalid = true;
    if (e->cell->state == CS_CONNECTED)
        start_fetch(k, e, hi, false);
}

static void drain(uv_async_t *a)
{
    struct zo_cache *k = a->data;
    pthread_mutex_lock(&k->qlock);
    msg *m = k->qhead;
    k->qhead = k->qtail = NULL;
    pthread_mutex_unlock(&k->qlock);
    while (m != NULL) {
        msg *next = m->next;
        if (m->type == M_FETCH)
            handle_fetch(k, m);
        else if (m->type == M_WATCH)
            handle_watch(k, m);
        else
            handle_state(k, m);
        msg_free(m);
        m = next;
    }
    zo_clients_flush(k->z);
}

/* ---- requests ---- */

/*
 * Resolve path[0..len) to its entry, made when new.  Returns NULL with
 * text set (and the counter counted) on a bad path or unknown cell.
 */
static entry *resolve(struct zo_cache *k, const char *path, size_t len, char *text,
                      size_t textlen)
{
    /* Entries exist only for valid paths: a hit needs no checks. */
    if (len < 9 || memcmp(path, "/zk/local", 9) != 0 || (len > 9 && path[9] != '/')) {
        entry *hit = find_entry(k, path, len, hash_path(path, len));
        if (hit != NULL)
            return hit;
    }
    char buf[ZKC_MAX_PATH + 1];
    if (len > ZKC_MAX_PATH) {
        snprintf(text, textlen, "zkocc: path longer than %d bytes [EBADPATH]", ZKC_MAX_PATH);
        k->unknown_cell_errors++;
        return NULL;
    }
    memcpy(buf, path, len);
    buf[len] = '\0';
    const char *cell;
    size_t clen;
    if (zkc_cell_from_path(buf, &cell, &clen) != ZKC_OK ||
        zkc_path_validate(buf, false) != ZKC_OK) {
        snprintf(text, textlen, "zkocc: bad path %s: %s [EBADPATH]", buf, zkc_errmsg());
        k->unknown_cell_errors++;
        return NULL;
    }
    if (clen == 5 && memcmp(cell, "local", 5) == 0) {
        if (k->z->local_cell == NULL) {
            snprintf(text, textlen, "zkocc: cannot resolve local cell [ENOCELL]");
            k->unknown_cell_errors++;
            return NULL;
        }
        size_t ll = strlen(k->z->local_cell);
        size_t rest = len - 4 - 5;
        if (4 + ll + rest > ZKC_MAX_PATH) {
            snprintf(text, textlen, "zkocc: path longer than %d bytes [EBADPATH]", ZKC_MAX_PATH);
            k->unknown_cell_errors++;
            return NULL;
        }
        memmove(buf + 4 + ll, buf + 9, rest + 1);
        memcpy(buf + 4, k->z->local_cell, ll);
        len = 4 + ll + rest;
        cell = buf + 4;
        clen = ll;
    }
    uint32_t h = hash_path(buf, len);
    entry *e = find_entry(k, buf, len, h);
    if (e != NULL)
        return e;
    zo_cell *cl = get_cell(k, cell, clen, text, textlen);
    if (cl == NULL) {
        k->unknown_cell_errors++;
        return NULL;
    }
    e = add_entry(k, cl, buf, len, h);
    if (e == NULL)
        snprintf(text, textlen, "zkocc: out of memory [ENOMEM]");
    return e;
}

/* A waiter that must outlive the call: a heap copy of w (answered with
 * an error when there is no memory, then NULL). */
static waiter *park(waiter *w)
{
    if (w->heap)
        return w;
    waiter *p = malloc(sizeof *p);
    if (p == NULL) {
        answer_err(w, "", "zkocc: out of memory [ENOMEM]");
        waiter_done(w);
        return NULL;
    }
    *p = *w;
    p->heap = true;
    return p;
}

/* Answer w from half hi of e, now or once its read completes.  A cached
 * answer allocates nothing: w may live on the caller's stack. */
static void serve(struct zo_cache *k, entry *e, int hi, waiter *w)
{
    half *h = &e->h[hi];
    zo_cell *cl = e->cell;
    bool connected = cl->state == CS_CONNECTED;
    e->ref = true;
    if (h->doc != NULL && !h->invalid && h->epoch == cl->epoch && connected) {
        cl->n.cache_reads++;
        answer_doc(w, h->doc, h->len, true, false);
        waiter_done(w);
        return;
    }
    if (h->doc != NULL && (!connected || !h->invalid)) {
        /* Disconnected, or read in an older session (being re-read). */
        cl->n.stale_reads++;
        answer_doc(w, h->doc, h->len, true, true);
        waiter_done(w);
        if (connected)
            start_fetch(k, e, hi, false);
        else
            connect_cell(cl);
        return;
    }
    if (h->doc == NULL && h->neg_until > zkc_impl_now_ms()) {
        char text[256 + ZKC_MAX_PATH];
        snprintf(text, sizeof text, "zkocc: %s %s: node does not exist [ENONODE]", op_word(hi),
                 e->path);
        cl->n.not_found++;
        answer_err(w, e->path, text);
        waiter_done(w);
        return;
    }
    if (!connected && cl->conn == NULL && cl->dialing && cl->failures == 0) {
        /* The first dial is on its way: wait for it. */
        if ((w = park(w)) == NULL)
            return;
        w->next = h->waiters;
        h->waiters = w;
        cl->parked = true;
        return;
    }
    if (!connected) {
        char text[1024 + ZKC_MAX_PATH];
        snprintf(text, sizeof text,
                 "zkocc: %s %s: cell %s is not connected (%s): %s [ECONNECTIONLOSS]",
                 op_word(hi), e->path, cl->name, state_label[cl->state],
                 cl->last_error != NULL ? cl->last_error : "connecting");
        cl->n.other_errors++;
        answer_err(w, e->path, text);
        waiter_done(w);
        connect_cell(cl);
        return;
    }
    if ((w = park(w)) == NULL)
        return;
    w->next = h->waiters;
    h->waiters = w;
    start_fetch(k, e, hi, false);
}

void zo_cache_count_call(zo *z)
{
    z->cache->rpc_calls++;
}

void zo_cache_get(zo *z, zo_client *c, int64_t seq, int kind, const char *path, size_t len)
{
    struct zo_cache *k = z->cache;
    char text[1024 + ZKC_MAX_PATH];
    entry *e = resolve(k, path, len, text, sizeof text);
    if (e == NULL) {
        zo_client_fail(c, seq, kind, text);
        return;
    }
    waiter w = {NULL, c, seq, kind, NULL, 0, false};
    zo_client_ref(c);
    serve(k, e, kind, &w);
    if (k->bytes > z->opt.max_cache_bytes)
        evict_some(k);
}

static void getv_free(getv *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->docs[i]);
    free(g->docs);
    free(g->lens);
    free(g->error);
    free(g);
}

static void getv_slot_done(getv *g)
{
    if (--g->left > 0)
        return;
    if (g->error != NULL) {
        zo_client_fail(g->client, g->seq, ZO_GETV, g->error);
    } else {
        zkc_wire_buf b = {0};
        if (zkc_wire_put_nodev_raw(&b, (const uint8_t *const *)g->docs, g->lens, g->n) ==
            ZKC_OK)
            zo_client_answer_raw(g->client, g->seq, ZO_GETV, &b);
        else
            zo_client_fail(g->client, g->seq, ZO_GETV, "zkocc: reply too large [ENOMEM]");
        zkc_wire_buf_free(&b);
    }
    zo_client_unref(g->client);
    getv_free(g);
}

void zo_cache_getv(zo *z, zo_client *c, int64_t seq, zkc_strings *paths)
{
    struct zo_cache *k = z->cache;
    getv *g = calloc(1, sizeof *g);
    size_t n = paths->count;
    if (g == NULL || (n > 0 && ((g->docs = calloc(n, sizeof *g->docs)) == NULL ||
                                (g->lens = calloc(n, sizeof *g->lens)) == NULL))) {
        if (g != NULL)
            getv_free(g);
        zkc_strings_free(paths);
        zo_client_fail(c, seq, ZO_GETV, "zkocc: out of memory [ENOMEM]");
        return;
    }
    g->client = c;
    g->seq = seq;
    g->n = n;
    g->left = n + 1; /* one for this function, released at the end */
    zo_client_ref(c);
    for (size_t i = 0; i < n; i++) {
        char text[1024 + ZKC_MAX_PATH];
        entry *e = resolve(k, paths->v[i], strlen(paths->v[i]), text, sizeof text);
        waiter *w = e != NULL ? malloc(sizeof *w) : NULL;
        if (w == NULL) {
            if (g->error == NULL) {
                size_t tn = strlen(paths->v[i]) + strlen(text) + 64;
                if ((g->error = malloc(tn)) != NULL)
                    snprintf(g->error, tn, "zkocc: partial read: %s: %s", paths->v[i],
                             e == NULL ? text : "out of memory");
            }
            g->left--;
            continue;
        }
        *w = (waiter){NULL, c, seq, ZO_GET, g, i, true};
        serve(k, e, ZO_GET, w);
    }
    zkc_strings_free(paths);
    getv_slot_done(g);
    if (k->bytes > z->opt.max_cache_bytes)
        evict_some(k);
}

/* ---- timers ---- */

static void refresh_tick(uv_timer_t *t)
{
    struct zo_cache *k = t->data;
    for (unsigned i = 0; i < k->ncells; i++) {
        zo_cell *cl = k->cells[i];
        if (cl->state == CS_CONNECTED && cl->needs_refresh && cl->refresh_pos >= k->nslots) {
            cl->refresh_pos = 0; /* another pass for what the last one missed */
        }
        refresh_pump(cl);
    }
}

/* ---- snapshot ---- */

static int snapshot_collect(struct zo_cache *k, zkc_wire_buf *b)
{
    b->len = 0;
    if (zkc_wire_buf_append(b, SNAP_MAGIC, strlen(SNAP_MAGIC)) != ZKC_OK)
        return -1;
    for (uint32_t i = 0; i < k->nslots; i++) {
        entry *e = k->slots[i];
        for (int j = 0; e != NULL && j < 2; j++)
            if (e->h[j].doc != NULL &&
                zkc_wire_buf_append(b, e->h[j].doc, e->h[j].len) != ZKC_OK)
                return -1;
    }
    return 0;
}

/* The rename of a periodic write (on a pool thread) never replaces a
 * newer snapshot written at shutdown: both rename under this lock, and
 * a periodic write whose round is no longer current gives up. */
static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned snap_round;

/* Write b to path atomically: a temporary file, fsync, rename, fsync of
 * the folder.  round: the snap_round the data was collected in, or -1
 * to write unconditionally (and make older rounds give up).  Returns 0,
 * 1 (gave up) or -1 with err set. */
static int write_atomic(const char *path, const zkc_wire_buf *b, long round, char *err,
                        size_t errlen)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (tmp == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Unique per write: a periodic write may still run at shutdown. */
    static atomic_uint serial;
    snprintf(tmp, pl + 32, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&serial, 1));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    size_t off = 0;
    int rc = 0;
    while (off < b->len) {
        ssize_t n = write(fd, b->data + off, b->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "%s: write: %s", tmp, strerror(errno));
            rc = -1;
            break;
        }
        off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0) {
        snprintf(err, errlen, "%s: fsync: %s", tmp, strerror(errno));
        rc = -1;
    }
    if (close(fd) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: close: %s", tmp, strerror(errno));
        rc = -1;
    }
    if (rc == 0) {
        pthread_mutex_lock(&snap_lock);
        if (round >= 0 && (unsigned)round != snap_round) {
            rc = 1;
        } else {
            if (round < 0)
                snap_round++;
            if (rename(tmp, path) != 0) {
                snprintf(err, errlen, "rename %s: %s", path, strerror(errno));
                rc = -1;
            }
        }
        pthread_mutex_unlock(&snap_lock);
    }
    if (rc != 0) {
        unlink(tmp);
    } else {
        char *dir = strdup(path);
        char *slash = dir != NULL ? strrchr(dir, '/') : NULL;
        const char *d = slash == NULL ? "." : (slash == dir ? "/" : (*slash = '\0', dir));
        int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    free(tmp);
    return rc;
}

int zo_cache_snapshot_sync(zo *z)
{
    struct zo_cache *k = z->cache;
    if (z->opt.snapshot == NULL || k == NULL)
        return 0;
    zkc_wire_buf b = {0};
    char err[512];
    int rc = snapshot_collect(k, &b);
    if (rc != 0)
        snprintf(err, sizeof err, "out of memory");
    else
        rc = write_atomic(z->opt.snapshot, &b, -1, err, sizeof err);
    if (rc != 0)
        zo_log("snapshot %s: %s", z->opt.snapshot, err);
    else
        zo_log("snapshot %s: %zu entries, %zu bytes written", z->opt.snapshot, k->nentries,
               b.len);
    zkc_wire_buf_free(&b);
    return rc;
}

static void snap_work(uv_work_t *w)
{
    struct zo_cache *k = w->data;
    char err[512];
    k->snap_rc = write_atomic(k->z->opt.snapshot, &k->snap_buf, k->snap_round_at, err,
                              sizeof err);
    free(k->snap_err);
    k->snap_err = k->snap_rc != 0 ? strdup(err) : NULL;
}

static void snap_after(uv_work_t *w, int status)
{
    struct zo_cache *k = w->data;
    k->snap_busy = false;
    if (status == 0 && k->snap_rc < 0)
        zo_log("snapshot %s: %s", k->z->opt.snapshot, k->snap_err ? k->snap_err : "failed");
    zkc_wire_buf_free(&k->snap_buf);
}

static void snapshot_tick(uv_timer_t *t)
{
    struct zo_cache *k = t->data;
    if (k->snap_busy || k->z->stopping)
        return;
    if (snapshot_collect(k, &k->snap_buf) != 0) {
        zkc_wire_buf_free(&k->snap_buf);
        return;
    }
    pthread_mutex_lock(&snap_lock);
    k->snap_round_at = snap_round;
    pthread_mutex_unlock(&snap_lock);
    k->snap_busy = true;
    k->snap_work.data = k;
    if (uv_queue_work(k->z->loop, &k->snap_work, snap_work, snap_after) != 0) {
        k->snap_busy = false;
        zkc_wire_buf_free(&k->snap_buf);
    }
}

static void snapshot_load(struct zo_cache *k)
{
    const char *path = k->z->opt.snapshot;
    FILE *f = fopen(path, "rbe");
    if (f == NULL) {
        if (errno != ENOENT)
            zo_log("snapshot %s: %s (starting empty)", path, strerror(errno));
        return;
    }
    zkc_wire_buf b = {0};
    char chunk[65536];
    size_t n;
    size_t limit = k->z->opt.max_cache_bytes * 2 + 1024;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > limit || zkc_wire_buf_append(&b, chunk, n) != ZKC_OK) {
            zo_log("snapshot %s: larger than twice --max-cache-bytes; ignored", path);
            fclose(f);
            zkc_wire_buf_free(&b);
            return;
        }
    }
    fclose(f);
    size_t ml = strlen(SNAP_MAGIC);
    if (b.len < ml || memcmp(b.data, SNAP_MAGIC, ml) != 0) {
        zo_log("snapshot %s: not a zkocc snapshot; ignored", path);
        zkc_wire_buf_free(&b);
        return;
    }
    size_t off = ml, loaded = 0;
    zkc_wire_limits lim = {0, 0};
    while (off < b.len) {
        if (b.len - off < 5) {
            zo_log("snapshot %s: truncated at byte %zu", path, off);
            break;
        }
        uint32_t dl = (uint32_t)b.data[off] | (uint32_t)b.data[off + 1] << 8 |
                      (uint32_t)b.data[off + 2] << 16 | (uint32_t)b.data[off + 3] << 24;
        zkc_wire_node *node = NULL;
        if (dl < 5 || dl > b.len - off ||
            zkc_wire_decode_node(b.data + off, dl, &lim, &node) != ZKC_OK) {
            zo_log("snapshot %s: bad document at byte %zu: %s", path, off, zkc_errmsg());
            break;
        }
        off += dl;
        char text[1024 + ZKC_MAX_PATH];
        entry *e = resolve(k, node->path, node->path_len, text, sizeof text);
        if (e == NULL || e->path_len != node->path_len ||
            memcmp(e->path, node->path, node->path_len) != 0) {
            zkc_wire_node_free(node); /* a cell no longer configured, or a "local" path */
            continue;
        }
        int hi = node->children != NULL ? ZO_CHILDREN : ZO_GET;
        node->cached = true;
        node->stale = false;
        zkc_wire_buf nb = {0};
        if (zkc_wire_put_node(&nb, node) == ZKC_OK && nb.len <= UINT32_MAX) {
            set_doc(k, e, &e->h[hi], nb.data, (uint32_t)nb.len);
            e->h[hi].epoch = 0; /* stale until re-read */
            loaded++;
        } else {
            zkc_wire_buf_free(&nb);
        }
        zkc_wire_node_free(node);
    }
    zkc_wire_buf_free(&b);
    zo_log("snapshot %s: %zu documents loaded (stale until re-read)", path, loaded);
    if (k->bytes > k->z->opt.max_cache_bytes)
        evict_some(k);
}

/* ---- start, stop, status ---- */

int zo_cache_start(zo *z)
{
    struct zo_cache *k = calloc(1, sizeof *k);
    if (k == NULL)
        return -1;
    k->z = z;
    z->cache = k;
    the_cache = k;
    pthread_mutex_init(&k->qlock, NULL);
    uv_async_init(z->loop, &k->async, drain);
    k->async.data = k;
    uv_timer_init(z->loop, &k->refresh_timer);
    k->refresh_timer.data = k;
    uv_timer_start(&k->refresh_timer, refresh_tick, (uint64_t)z->opt.refresh_interval_ms,
                   (uint64_t)z->opt.refresh_interval_ms);
    uv_timer_init(z->loop, &k->snapshot_timer);
    k->snapshot_timer.data = k;
    if (z->opt.snapshot != NULL) {
        snapshot_load(k);
        if (z->opt.snapshot_interval_ms > 0)
            uv_timer_start(&k->snapshot_timer, snapshot_tick,
                           (uint64_t)z->opt.snapshot_interval_ms,
                           (uint64_t)z->opt.snapshot_interval_ms);
    }
    for (int i = 0; i < z->opt.npreload; i++) {
        char err[1024];
        const char *name = z->opt.preload[i];
        if (strcmp(name, "local") == 0) {
            if (z->local_cell == NULL) {
                zo_log("preload local: cannot resolve local cell (no --resolve-local)");
                continue;
            }
            name = z->local_cell;
        }
        if (get_cell(k, name, strlen(name), err, sizeof err) == NULL)
            zo_log("preload %s: %s", name, err);
    }
    return 0;
}

bool zo_cache_dialing(zo *z)
{
    struct zo_cache *k = z->cache;
    for (unsigned i = 0; k != NULL && i < k->ncells; i++)
        if (k->cells[i]->dialing)
            return true;
    return k != NULL && k->snap_busy;
}

void zo_cache_stop(zo *z)
{
    struct zo_cache *k = z->cache;
    if (k == NULL)
        return;
    uv_timer_stop(&k->refresh_timer);
    uv_timer_stop(&k->snapshot_timer);
    for (unsigned i = 0; i < k->ncells; i++) {
        uv_timer_stop(&k->cells[i]->retry);
        drop_conn(k->cells[i]);
    }
}

static json_t *counters_json(const counters *n)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "CacheReads", (json_int_t)n->cache_reads,
                     "NodeNotFoundErrors", (json_int_t)n->not_found, "OtherErrors",
                     (json_int_t)n->other_errors, "StaleReads", (json_int_t)n->stale_reads,
                     "ZkReads", (json_int_t)n->zk_reads);
}

char *zo_cache_vars_json(zo *z)
{
    struct zo_cache *k = z->cache;
    json_t *r = json_object();
    json_t *reader = json_object();
    counters total = {0};
    int64_t now = zkc_impl_now_ms();
    json_object_set_new(reader, "RpcCalls", json_integer((json_int_t)k->rpc_calls));
    json_object_set_new(reader, "UnknownCellErrors",
                        json_integer((json_int_t)k->unknown_cell_errors));
    for (unsigned i = 0; i < k->ncells; i++) {
        zo_cell *cl = k->cells[i];
        json_t *o = counters_json(&cl->n);
        json_t *st = json_object();
        json_object_set_new(st, "Current", json_string(state_label[cl->state]));
        for (int s = 0; s < CS_N; s++) {
            char key[64];
            int64_t d = cl->dur_ms[s] + (s == cl->state ? now - cl->since_ms : 0);
            snprintf(key, sizeof key, "Duration%s", state_label[s]);
            json_object_set_new(st, key, json_integer((json_int_t)(d * 1000000)));
            snprintf(key, sizeof key, "TransitionInto%s", state_label[s]);
            json_object_set_new(st, key, json_integer((json_int_t)cl->into[s]));
        }
        json_object_set_new(o, "State", st);
        json_object_set_new(reader, cl->name, o);
        total.cache_reads += cl->n.cache_reads;
        total.zk_reads += cl->n.zk_reads;
        total.stale_reads += cl->n.stale_reads;
        total.not_found += cl->n.not_found;
        total.other_errors += cl->n.other_errors;
    }
    json_object_set_new(reader, "total", counters_json(&total));
    json_object_set_new(r, "ZkReader", reader);
    json_t *c = json_pack("{s:I, s:I, s:I, s:I}", "entries", (json_int_t)k->nentries, "bytes",
                          (json_int_t)k->bytes, "max_bytes",
                          (json_int_t)z->opt.max_cache_bytes, "evictions",
                          (json_int_t)k->evictions);
    json_object_set_new(r, "zkocc_cache", c);
    json_object_set_new(r, "zkocc_clients", json_integer((json_int_t)zo_server_clients(z)));
    char *s = json_dumps(r, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(r);
    return s;
}

/* Prometheus label values: escape backslash, quote and newline. */
static void label(char *out, size_t n, const char *v)
{
    size_t j = 0;
    for (size_t i = 0; v[i] != '\0' && j + 3 < n; i++) {
        if (v[i] == '\\' || v[i] == '"')
            out[j++] = '\\';
        if (v[i] == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
            continue;
        }
        out[j++] = v[i];
    }
    out[j] = '\0';
}

char *zo_cache_metrics(zo *z)
{
    struct zo_cache *k = z->cache;
    zkc_wire_buf b = {0};
    char line[1024];
#define OUT(...)                                                                               \
    do {                                                                                       \
        int ln_ = snprintf(line, sizeof line, __VA_ARGS__);                                    \
        if (ln_ > 0)                                                                           \
            zkc_wire_buf_append(&b, line, (size_t)ln_ < sizeof line ? (size_t)ln_ : sizeof line - 1); \
    } while (0)
    OUT("# HELP zkocc_rpc_calls_total ZkReader calls.\n# TYPE zkocc_rpc_calls_total counter\n");
    OUT("zkocc_rpc_calls_total %llu\n", (unsigned long long)k->rpc_calls);
    OUT("# HELP zkocc_unknown_cell_errors_total Calls naming no known cell or a bad path.\n"
        "# TYPE zkocc_unknown_cell_errors_total counter\n");
    OUT("zkocc_unknown_cell_errors_total %llu\n", (unsigned long long)k->unknown_cell_errors);
    static const char *const names[5] = {"cache_reads", "zk_reads", "stale_reads",
                                         "node_not_found_errors", "other_errors"};
    static const char *const help[5] = {
        "Answers from the cache, fresh.", "Reads sent to ZooKeeper.",
        "Answers from the cache marked stale.", "Answers: node does not exist.",
        "Answers: other errors."};
    for (int m = 0; m < 5; m++) {
        OUT("# HELP zkocc_%s_total %s\n# TYPE zkocc_%s_total counter\n", names[m], help[m],
            names[m]);
        for (unsigned i = 0; i < k->ncells; i++) {
            zo_cell *cl = k->cells[i];
            const uint64_t v[5] = {cl->n.cache_reads, cl->n.zk_reads, cl->n.stale_reads,
                                   cl->n.not_found, cl->n.other_errors};
            char l[600];
            label(l, sizeof l, cl->name);
            OUT("zkocc_%s_total{cell=\"%s\"} %llu\n", names[m], l, (unsigned long long)v[m]);
        }
    }
    OUT("# HELP zkocc_cell_state Cell connection state (1 for the current one).\n"
        "# TYPE zkocc_cell_state gauge\n");
    for (unsigned i = 0; i < k->ncells; i++) {
        char l[600];
        label(l, sizeof l, k->cells[i]->name);
        for (int s = 0; s < CS_N; s++)
            OUT("zkocc_cell_state{cell=\"%s\",state=\"%s\"} %d\n", l, state_label[s],
                k->cells[i]->state == s);
    }
    OUT("# HELP zkocc_cache_entries Cached paths.\n# TYPE zkocc_cache_entries gauge\n"
        "zkocc_cache_entries %zu\n",
        k->nentries);
    OUT("# HELP zkocc_cache_bytes Bytes held by the cache.\n# TYPE zkocc_cache_bytes gauge\n"
        "zkocc_cache_bytes %zu\n",
        k->bytes);
    OUT("# HELP zkocc_cache_evictions_total Entries evicted to stay under --max-cache-bytes.\n"
        "# TYPE zkocc_cache_evictions_total counter\nzkocc_cache_evictions_total %llu\n",
        (unsigned long long)k->evictions);
    OUT("# HELP zkocc_clients Open client connections.\n# TYPE zkocc_clients gauge\n"
        "zkocc_clients %u\n",
        zo_server_clients(z));
#undef OUT
    if (zkc_wire_buf_append(&b, "", 1) != ZKC_OK) {
        zkc_wire_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}
