/*
 * store.c: the records zkns-pdns answers from (store.h): reads with a
 * deadline over the asynchronous interface, and a hash table of parsed
 * records kept fresh by watches.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "zkcell/util.h"

#define NBUCKETS 4096

typedef struct entry {
    struct entry *next;
    char *path;
    bool known;            /* a read succeeded once */
    int rc;                /* ZKC_OK or ZKC_EBADDATA */
    char why[160];         /* ZKC_EBADDATA: the parse error */
    zkc_zkns_record *rec;  /* NULL: missing node or no data */
    zkc_watch *watch;      /* armed watch; NULL: always read again */
} entry;

struct zkns_store {
    zkc_conn *conn;
    bool watches; /* reads set watches */
    int timeout_ms;
    size_t max_entries, count;
    entry *buckets[NBUCKETS];
    entry *uncached; /* the last answer when caching is off */
    _Atomic uint64_t hits, misses, stale, failed, evictions;
    _Atomic size_t entries;
};

/* ---- one read with a deadline ---- */

typedef struct fetch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool done;
    int rc;
    bool exists;
    char *data;
    size_t len;
    zkc_watch *watch;
} fetch;

static void fetch_unref(fetch *f)
{
    pthread_mutex_lock(&f->mu);
    bool last = --f->refs == 0;
    pthread_mutex_unlock(&f->mu);
    if (!last)
        return;
    zkc_watch_free(f->watch);
    free(f->data);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

static void fetch_done(const zkc_result *res, void *ud)
{
    fetch *f = ud;
    pthread_mutex_lock(&f->mu);
    f->rc = res->rc;
    f->watch = res->watch;
    if (res->rc == ZKC_OK && res->op == ZKC_OP_GET) {
        f->exists = true;
        f->data = malloc(res->data_len + 1);
        if (f->data == NULL) {
            f->rc = ZKC_ENOMEM;
        } else {
            if (res->data_len > 0)
                memcpy(f->data, res->data, res->data_len);
            f->data[res->data_len] = '\0';
            f->len = res->data_len;
        }
    } else if (res->rc == ZKC_OK) {
        f->exists = res->stat != NULL;
    }
    f->done = true;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    fetch_unref(f);
}

/* Submit op on path with a watch and wait until the deadline.  Returns
 * the finished fetch (the caller unrefs it) or NULL with *rc set. */
static fetch *fetch_run(zkns_store *s, zkc_op op, const char *path, const struct timespec *dl,
                        int *rc)
{
    fetch *f = calloc(1, sizeof *f);
    if (f == NULL) {
        *rc = ZKC_ENOMEM;
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&f->mu, NULL);
    f->refs = 2;
    zkc_request req = {0};
    req.op = op;
    req.path = path;
    req.flags = s->watches ? ZKC_WATCH : 0;
    *rc = zkc_submit(s->conn, &req, fetch_done, f);
    if (*rc != ZKC_OK) {
        f->refs = 1;
        fetch_unref(f);
        return NULL;
    }
    pthread_mutex_lock(&f->mu);
    while (!f->done)
        if (pthread_cond_timedwait(&f->cv, &f->mu, dl) != 0 && !f->done)
            break;
    bool done = f->done;
    pthread_mutex_unlock(&f->mu);
    if (!done) {
        *rc = ZKC_ETIMEDOUT;
        fetch_unref(f); /* the completion frees it */
        return NULL;
    }
    *rc = f->rc;
    return f;
}

/* ---- the table ---- */

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void entry_clear(entry *e)
{
    zkc_zkns_record_free(e->rec);
    e->rec = NULL;
    zkc_watch_free(e->watch);
    e->watch = NULL;
}

static void entry_free(entry *e)
{
    if (e == NULL)
        return;
    entry_clear(e);
    free(e->path);
    free(e);
}

zkns_store *zkns_store_new(zkc_conn *c, int timeout_ms, size_t max_entries)
{
    zkns_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->conn = c;
    s->watches = true;
    s->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
    s->max_entries = max_entries;
    return s;
}

void zkns_store_flush(zkns_store *s)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        while (s->buckets[i] != NULL) {
            entry *e = s->buckets[i];
            s->buckets[i] = e->next;
            entry_free(e);
        }
    }
    s->count = 0;
    atomic_store(&s->entries, 0);
}

void zkns_store_free(zkns_store *s)
{
    if (s == NULL)
        return;
    zkns_store_flush(s);
    entry_free(s->uncached);
    free(s);
}

static entry *find(zkns_store *s, const char *path, bool create)
{
    if (s->max_entries == 0) {
        /* No cache: one scratch entry, read again every time. */
        if (s->uncached == NULL)
            s->uncached = calloc(1, sizeof *s->uncached);
        if (s->uncached == NULL)
            return NULL;
        if (s->uncached->path == NULL || strcmp(s->uncached->path, path) != 0) {
            entry_clear(s->uncached);
            free(s->uncached->path);
            s->uncached->path = strdup(path);
            s->uncached->known = false;
            if (s->uncached->path == NULL)
                return NULL;
        }
        return s->uncached;
    }
    uint32_t b = hash(path) % NBUCKETS;
    for (entry *e = s->buckets[b]; e != NULL; e = e->next)
        if (strcmp(e->path, path) == 0)
            return e;
    if (!create)
        return NULL;
    if (s->count >= s->max_entries) {
        /* Full: start again (simple, and rare at a sane bound). */
        zkns_store_flush(s);
        atomic_fetch_add(&s->evictions, 1);
    }
    entry *e = calloc(1, sizeof *e);
    if (e == NULL || (e->path = strdup(path)) == NULL) {
        free(e);
        return NULL;
    }
    e->next = s->buckets[b];
    s->buckets[b] = e;
    s->count++;
    atomic_store(&s->entries, s->count);
    return e;
}

void zkns_store_set_watches(zkns_store *s, bool on)
{
    s->watches = on;
}

static bool fresh(const entry *e)
{
    return e->known && e->watch != NULL && !zkc_watch_fired(e->watch);
}

/* Read path into e.  Returns ZKC_OK (e updated) or the error. */
static int refresh(zkns_store *s, entry *e, char *err, size_t errsize)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += s->timeout_ms / 1000;
    dl.tv_nsec += (long)(s->timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    int rc;
    fetch *f = fetch_run(s, ZKC_OP_GET, e->path, &dl, &rc);
    if (rc == ZKC_ENONODE) {
        /* Missing: watch for its creation. */
        fetch_unref(f);
        f = fetch_run(s, ZKC_OP_EXISTS, e->path, &dl, &rc);
        if (rc == ZKC_OK && f->exists) {
            /* Created meanwhile: no record yet, and no watch, so the
             * next question reads it. */
            zkc_watch_free(f->watch);
            f->watch = NULL;
        }
    }
    if (rc != ZKC_OK) {
        snprintf(err, errsize, "%s: %s", e->path, zkc_strerror(rc));
        if (f != NULL)
            fetch_unref(f);
        return rc;
    }
    entry_clear(e);
    e->known = true;
    e->rc = ZKC_OK;
    e->why[0] = '\0';
    if (f->data != NULL) {
        int prc = zkc_zkns_parse(f->data, f->len, &e->rec);
        if (prc == ZKC_EBADDATA) {
            e->rc = ZKC_EBADDATA;
            snprintf(e->why, sizeof e->why, "%s", zkc_errmsg());
        } else if (prc != ZKC_OK) {
            e->known = false;
            fetch_unref(f);
            snprintf(err, errsize, "%s: %s", e->path, zkc_strerror(prc));
            return prc;
        }
    }
    e->watch = f->watch;
    f->watch = NULL;
    fetch_unref(f);
    return ZKC_OK;
}

int zkns_store_get(zkns_store *s, const char *path, const zkc_zkns_record **rec,
                   unsigned *flags, char *err, size_t errsize)
{
    *rec = NULL;
    *flags = 0;
    err[0] = '\0';
    entry *e = find(s, path, true);
    if (e == NULL) {
        snprintf(err, errsize, "%s: %s", path, zkc_strerror(ZKC_ENOMEM));
        return ZKC_ENOMEM;
    }
    if (fresh(e)) {
        atomic_fetch_add(&s->hits, 1);
        *flags |= ZKNS_FROM_CACHE;
    } else {
        atomic_fetch_add(&s->misses, 1);
        int rc = refresh(s, e, err, errsize);
        if (rc != ZKC_OK) {
            atomic_fetch_add(&s->failed, 1);
            if (!e->known)
                return rc;
            /* Serve the last record known, flagged. */
            atomic_fetch_add(&s->stale, 1);
            *flags |= ZKNS_FROM_CACHE | ZKNS_STALE;
        }
    }
    if (e->rc == ZKC_EBADDATA) {
        snprintf(err, errsize, "%s: %s", path, e->why);
        return ZKC_EBADDATA;
    }
    *rec = e->rec;
    return ZKC_OK;
}

int zkns_store_list(zkns_store *s, const char *root, zkc_strings **ret)
{
    return zkc_children_recursive(s->conn, root, 0, ret);
}

void zkns_store_counts_get(zkns_store *s, zkns_store_counts *out, size_t *entries)
{
    out->hits = atomic_load(&s->hits);
    out->misses = atomic_load(&s->misses);
    out->stale = atomic_load(&s->stale);
    out->reads_failed = atomic_load(&s->failed);
    out->evictions = atomic_load(&s->evictions);
    if (entries != NULL)
        *entries = atomic_load(&s->entries);
}
