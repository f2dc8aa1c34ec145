/*
 * conn_fake.c: an in-memory ZooKeeper 3.8 server and its sessions
 * (fakezk), behind the zkc_conn interface.
 *
 * A zkc_fake_tree is the server: one data tree, one zxid counter, one
 * table of watches, under one mutex.  A session (zkc_fake_open) is a
 * zkc_conn with its own completion thread.  zkc_submit() applies the
 * operation to the tree at once, under the tree lock, with the server's
 * checks in the server's order (PrepRequestProcessor and
 * FinalRequestProcessor of ZooKeeper 3.8), and queues the answer on the
 * session's completion queue.  Watch events are queued on the queue of
 * the session that owns the watch, in the order the server sends them,
 * so a session sees the events caused by its own change before that
 * change's completion, like a real client.
 *
 * Server behaviour reproduced here, checked against a real 3.8.0 server:
 *   - every write takes a zxid, also a failed one (the server logs an
 *     error transaction); opening and ending a session take one too, and
 *     the ephemerals of an ending session all go with that zxid;
 *   - the server keeps a parent's cversion as the number of child
 *     creates; the sequence number of a new child is that count, and the
 *     cversion it reports is 2 * creates - children (so creates and
 *     deletes both count, and a fresh "/" reports -1);
 *   - "/", "/zookeeper", "/zookeeper/quota" and "/zookeeper/config" can
 *     not be deleted (ZKC_EBADARGUMENTS); "/zookeeper/config" is
 *     world:anyone READ, like the server's;
 *   - ACLs: world, digest, ip (with /bits), and auth expanded to the
 *     session's digest identities; get_acl needs READ or ADMIN and
 *     without ADMIN shows digest ids as "user:x".
 *
 * A multi is one transaction: checked and applied operation by operation
 * against the effects of the ones before it, with one zxid, all or
 * nothing (undone on the first failure), its watch events held back
 * until it commits; the fault injector counts it as one operation.
 *
 * What it leaves to others: argument and path checks (conn.c, before
 * submit), the watch handles themselves (watch.c).  Faults are injected
 * per session with zkc_fake_inject(); fake.h documents them.
 *
 * Locks: tree->lock, then a session's qlock; never the other way round.
 * No user callback runs with either held.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/sha1.h"
#include "zkcell/fake.h"
#include "zkcell/util.h"
#include "zkcell/path.h"
#include "zkcell/sys/conn_impl.h"

typedef struct fake_conn fake_conn;
typedef struct fk_reg fk_reg;

/* ------------------------------------------------------------------ */
/* A hash table of strings (paths), intrusive and chained.             */
/* ------------------------------------------------------------------ */

typedef struct fk_hlink {
    struct fk_hlink *hnext;
    size_t hash;
    char *key; /* NUL-terminated, owned by the entry */
    size_t klen;
} fk_hlink;

typedef struct fk_htab {
    fk_hlink **b;
    size_t mask; /* bucket count - 1 */
    size_t count;
} fk_htab;

static size_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return (size_t)(h ^ (h >> 29));
}

static int htab_init(fk_htab *h, size_t buckets)
{
    h->b = calloc(buckets, sizeof *h->b);
    h->mask = buckets - 1;
    h->count = 0;
    return h->b == NULL ? ZKC_ENOMEM : ZKC_OK;
}

static fk_hlink *htab_find(const fk_htab *h, const char *key, size_t klen)
{
    size_t hash = hash_bytes(key, klen);
    for (fk_hlink *l = h->b[hash & h->mask]; l != NULL; l = l->hnext)
        if (l->hash == hash && l->klen == klen && memcmp(l->key, key, klen) == 0)
            return l;
    return NULL;
}

/* Insert l (l->key and l->klen set).  Grows the table when it can; a
 * chained table works at any load, so a failed grow is not an error. */
static void htab_insert(fk_htab *h, fk_hlink *l)
{
    if (h->count >= h->mask + 1 && (h->mask + 1) * 2 > h->mask) {
        size_t nb = (h->mask + 1) * 2;
        fk_hlink **b = calloc(nb, sizeof *b);
        if (b != NULL) {
            for (size_t i = 0; i <= h->mask; i++) {
                fk_hlink *e = h->b[i];
                while (e != NULL) {
                    fk_hlink *next = e->hnext;
                    e->hnext = b[e->hash & (nb - 1)];
                    b[e->hash & (nb - 1)] = e;
                    e = next;
                }
            }
            free(h->b);
            h->b = b;
            h->mask = nb - 1;
        }
    }
    l->hash = hash_bytes(l->key, l->klen);
    l->hnext = h->b[l->hash & h->mask];
    h->b[l->hash & h->mask] = l;
    h->count++;
}

static void htab_remove(fk_htab *h, fk_hlink *l)
{
    fk_hlink **pp = &h->b[l->hash & h->mask];
    while (*pp != NULL && *pp != l)
        pp = &(*pp)->hnext;
    if (*pp == l) {
        *pp = l->hnext;
        h->count--;
    }
}

/* ------------------------------------------------------------------ */
/* The tree: nodes, shared ACL lists, watch points.                    */
/* ------------------------------------------------------------------ */

/* An ACL list shared by the nodes that carry it (the server caches ACLs
 * the same way); refs are guarded by the tree lock. */
typedef struct fk_acl {
    int refs;
    zkc_acl_list list;
} fk_acl;

typedef struct fk_node {
    fk_hlink link; /* key: the full path */
    struct fk_node *parent;
    struct fk_node **kids;
    size_t nkids, kids_cap;
    size_t kid_index; /* our slot in parent->kids */
    char *data;       /* len bytes and a NUL */
    size_t len;
    fk_acl *acl;
    int64_t czxid, mzxid, pzxid, ctime, mtime;
    int32_t version, aversion;
    int32_t creates; /* the server's persisted cversion: child creates */
    int64_t owner;   /* ephemeral owner's session id, or 0 */
    fake_conn *owner_conn;
    struct fk_node *eph_prev, *eph_next; /* in owner_conn's list */
} fk_node;

/* The two watch tables of the server: data watches (get, exists) and
 * child watches, both keyed by path. */
enum { WL_DATA = 0, WL_CHILD = 1 };

typedef struct fk_wpoint {
    fk_hlink link; /* key: the watched path */
    fk_reg *lists[2];
    size_t n;        /* registrations in both lists */
    size_t prune_at; /* look for abandoned watches when n reaches this */
} fk_wpoint;

struct zkc_fake_tree {
    pthread_mutex_t lock;
    int refs; /* the creator's, and one per open session */
    fk_htab nodes;
    fk_htab wpoints;
    fk_node *root;
    fk_acl *acl_open; /* world:anyone ALL, shared */
    int64_t zxid;     /* the last zxid given out */
    int64_t next_session;
};

/* ------------------------------------------------------------------ */
/* Sessions and their completion queues.                               */
/* ------------------------------------------------------------------ */

enum { IT_DONE = 1, IT_FIRE = 2, IT_STATE = 3 };

/* Everything queued for a session's completion thread starts with this. */
typedef struct fk_item {
    struct fk_item *next;
    int kind;
    int64_t due_ms; /* monotonic ms, 0: at once */
    uint64_t seq;
} fk_item;

/* A completion, with the storage its zkc_result points into. */
typedef struct fk_done {
    fk_item it;
    zkc_done_fn done;
    void *ud;
    zkc_result res;
    zkc_stat stat;
    char *path;
    char *data;
    zkc_strings *children;
    zkc_acl_list *acl;
    char *created;
    char *errmsg;
    /* A multi's results: mres[nm], with their stats and created names. */
    zkc_op_result *mres;
    zkc_stat *mstats;
    char **mcreated;
    size_t nm;
} fk_done;

/* A watch registration; it becomes the queue item that fires the watch,
 * so firing never allocates. */
struct fk_reg {
    fk_item it;
    zkc_watch *watch;
    zkc_event_type ev;
    fake_conn *owner;
    fk_wpoint *wp;
    int which;
    fk_reg *wp_prev, *wp_next; /* in wp->lists[which] */
    fk_reg *s_prev, *s_next;   /* in owner->regs */
};

typedef struct fk_state {
    fk_item it;
    zkc_state state;
} fk_state;

/* An identity of the session, for ACL checks. */
typedef struct fk_id {
    char *scheme;
    char *id;
} fk_id;

struct fake_conn {
    zkc_conn base; /* must be first */
    zkc_fake_tree *tree;
    int64_t session_id;
    pthread_t thread;

    /* Guarded by tree->lock. */
    int closed, expired, suspended;
    int hold; /* keep watch events back (reply being lost) */
    unsigned loss_before, loss_after;
    fk_id *ids;
    size_t nids;
    fk_node *eph_head, *eph_tail;
    fk_reg *regs;                   /* live registrations */
    fk_item *held_head, *held_tail; /* fired while disconnected */
    fk_state *expire_item;          /* kept so expiry never allocates */

    /* Guarded by qlock. */
    pthread_mutex_t qlock;
    pthread_cond_t qcond; /* the thread waits for items */
    pthread_cond_t qdone; /* waiters for an item to be run */
    fk_item *q_head, *q_tail;
    unsigned delay_ms;
    uint64_t q_enq, q_ran;
    int q_waiters;
    int q_stop, q_self_close;
};

static const struct zkc_conn_ops fake_ops;

/* ------------------------------------------------------------------ */
/* Small helpers.                                                      */
/* ------------------------------------------------------------------ */

static char *fmt_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_msg(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

/* Wrapping increments, as Java's int arithmetic does. */
static int32_t inc32(int32_t v)
{
    return (int32_t)(uint32_t)((uint32_t)v + 1u);
}

/* ------------------------------------------------------------------ */
/* ACL lists.                                                          */
/* ------------------------------------------------------------------ */

static fk_acl *acl_alloc(size_t count)
{
    fk_acl *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->refs = 1;
    if (count > 0) {
        a->list.v = calloc(count, sizeof *a->list.v);
        if (a->list.v == NULL) {
            free(a);
            return NULL;
        }
    }
    return a;
}

static void acl_unref(fk_acl *a)
{
    if (a == NULL || --a->refs > 0)
        return;
    for (size_t i = 0; i < a->list.count; i++) {
        free(a->list.v[i].scheme);
        free(a->list.v[i].id);
    }
    free(a->list.v);
    free(a);
}

/* Append an entry (strings copied).  The array was sized by acl_alloc. */
static int acl_push(fk_acl *a, uint32_t perms, const char *scheme, const char *id)
{
    zkc_acl *e = &a->list.v[a->list.count];
    e->perms = perms;
    e->scheme = strdup(scheme);
    e->id = strdup(id);
    a->list.count++; /* counted now so acl_unref frees what we got */
    return e->scheme == NULL || e->id == NULL ? ZKC_ENOMEM : ZKC_OK;
}

static int acl_entry_equal(const zkc_acl *x, const zkc_acl *y)
{
    return x->perms == y->perms && strcmp(x->scheme, y->scheme) == 0 &&
           strcmp(x->id, y->id) == 0;
}

/* Parse an ip ACL id, "a.b.c.d", "a.b.c.d/bits" or the IPv6 forms, like
 * IPAuthenticationProvider.isValid.  addr gets the bytes, *alen 4 or 16. */
static int ip_parse(const char *s, unsigned char addr[16], size_t *alen, unsigned *bits)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, addr) == 1)
        *alen = 4;
    else if (inet_pton(AF_INET6, buf, addr) == 1)
        *alen = 16;
    else
        return 0;
    *bits = (unsigned)*alen * 8;
    if (slash != NULL) {
        const char *p = slash + 1;
        unsigned v = 0;
        if (*p == '\0')
            return 0;
        for (; *p != '\0'; p++) {
            if (*p < '0' || *p > '9' || v > 1000)
                return 0;
            v = v * 10 + (unsigned)(*p - '0');
        }
        if (v > *bits)
            return 0;
        *bits = v;
    }
    return 1;
}

/* IPAuthenticationProvider.matches: the session's address against an
 * ACL's address and prefix. */
static int ip_matches(const char *session_addr, const char *acl_id)
{
    unsigned char a[16], b[16];
    size_t alen, blen;
    unsigned abits, bits;
    if (!ip_parse(session_addr, a, &alen, &abits) || !ip_parse(acl_id, b, &blen, &bits))
        return 0;
    if (alen != blen)
        return 0;
    for (unsigned i = 0; i < bits; i++) {
        unsigned char m = (unsigned char)(0x80u >> (i % 8));
        if ((a[i / 8] & m) != (b[i / 8] & m))
            return 0;
    }
    return 1;
}

/* DigestAuthenticationProvider.isValid: id.split(":") gives two parts.
 * Java's split keeps leading empty parts and drops trailing ones, so the
 * last non-empty part must be the second one ("u:h", ":h", "u:h:"). */
static int digest_id_valid(const char *id)
{
    int idx = 0, last = -1;
    for (const char *p = id; *p != '\0'; p++) {
        if (*p == ':')
            idx++;
        else
            last = idx;
    }
    return idx > 0 && last == 1;
}

/*
 * The server's fixupACL: no entries -> ZKC_EINVALIDACL; duplicates
 * dropped; "auth" replaced by the session's authenticated (digest)
 * identities, none -> ZKC_EINVALIDACL; world must be "anyone"; digest
 * and ip ids must be valid; other schemes are unknown -> ZKC_EINVALIDACL.
 * NULL means world:anyone ALL (the interface's default).
 */
static int acl_fixup(zkc_fake_tree *t, fake_conn *fc, const zkc_acl_list *in, fk_acl **ret)
{
    if (in == NULL) {
        t->acl_open->refs++;
        *ret = t->acl_open;
        return ZKC_OK;
    }
    if (in->count == 0 || in->v == NULL)
        return ZKC_EINVALIDACL;
    size_t ndigest = 0;
    for (size_t i = 0; i < fc->nids; i++)
        ndigest += strcmp(fc->ids[i].scheme, "digest") == 0;

    size_t need = 0;
    for (size_t i = 0; i < in->count; i++) {
        const zkc_acl *e = &in->v[i];
        if (e->scheme == NULL || e->id == NULL)
            return ZKC_EINVALIDACL;
        if (strcmp(e->scheme, "world") == 0) {
            if (strcmp(e->id, "anyone") != 0)
                return ZKC_EINVALIDACL;
        } else if (strcmp(e->scheme, "auth") == 0) {
            if (ndigest == 0)
                return ZKC_EINVALIDACL;
        } else if (strcmp(e->scheme, "digest") == 0) {
            if (!digest_id_valid(e->id))
                return ZKC_EINVALIDACL;
        } else if (strcmp(e->scheme, "ip") == 0) {
            unsigned char a[16];
            size_t alen;
            unsigned bits;
            if (!ip_parse(e->id, a, &alen, &bits))
                return ZKC_EINVALIDACL;
        } else {
            return ZKC_EINVALIDACL;
        }
        need += strcmp(e->scheme, "auth") == 0 ? ndigest : 1;
    }

    /* The common case shares one list. */
    if (in->count == 1 && in->v[0].perms == ZKC_PERM_ALL &&
        strcmp(in->v[0].scheme, "world") == 0) {
        t->acl_open->refs++;
        *ret = t->acl_open;
        return ZKC_OK;
    }

    fk_acl *a = acl_alloc(need);
    if (a == NULL)
        return ZKC_ENOMEM;
    for (size_t i = 0; i < in->count; i++) {
        const zkc_acl *e = &in->v[i];
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = acl_entry_equal(e, &in->v[j]);
        if (dup)
            continue;
        int rc = ZKC_OK;
        if (strcmp(e->scheme, "auth") == 0) {
            for (size_t k = 0; k < fc->nids && rc == ZKC_OK; k++)
                if (strcmp(fc->ids[k].scheme, "digest") == 0)
                    rc = acl_push(a, e->perms, "digest", fc->ids[k].id);
        } else {
            rc = acl_push(a, e->perms, e->scheme, e->id);
        }
        if (rc != ZKC_OK) {
            acl_unref(a);
            return rc;
        }
    }
    *ret = a;
    return ZKC_OK;
}

/* The server's checkACL: an empty list allows everything; otherwise one
 * entry with one of the perm bits must match an identity. */
static int acl_check(const fake_conn *fc, const fk_acl *a, uint32_t perm)
{
    if (a->list.count == 0)
        return ZKC_OK;
    for (size_t i = 0; i < a->list.count; i++) {
        const zkc_acl *e = &a->list.v[i];
        if ((e->perms & perm) == 0)
            continue;
        if (strcmp(e->scheme, "world") == 0 && strcmp(e->id, "anyone") == 0)
            return ZKC_OK;
        for (size_t k = 0; k < fc->nids; k++) {
            const fk_id *id = &fc->ids[k];
            if (strcmp(id->scheme, e->scheme) != 0)
                continue;
            if (strcmp(e->scheme, "digest") == 0 && strcmp(id->id, e->id) == 0)
                return ZKC_OK;
            if (strcmp(e->scheme, "ip") == 0 && ip_matches(id->id, e->id))
                return ZKC_OK;
        }
    }
    return ZKC_ENOAUTH;
}

/* ------------------------------------------------------------------ */
/* Nodes.                                                              */
/* ------------------------------------------------------------------ */

static fk_node *node_find(zkc_fake_tree *t, const char *path, size_t len)
{
    fk_hlink *l = htab_find(&t->nodes, path, len);
    return l == NULL ? NULL : (fk_node *)l;
}

/* Length of the parent's path: "/a/b" -> 2, "/a" -> 1 ("/"), "/" -> 1. */
static size_t parent_len(const char *path, size_t len)
{
    size_t i = len;
    while (i > 0 && path[i - 1] != '/')
        i--;
    /* i - 1 is the last '/' */
    return i <= 1 ? 1 : i - 1;
}

static int path_is_special(const char *path)
{
    return strcmp(path, "/") == 0 || strcmp(path, "/zookeeper") == 0 ||
           strcmp(path, "/zookeeper/quota") == 0 || strcmp(path, "/zookeeper/config") == 0;
}

static void node_stat(const fk_node *n, zkc_stat *st)
{
    st->czxid = n->czxid;
    st->mzxid = n->mzxid;
    st->ctime = n->ctime;
    st->mtime = n->mtime;
    st->version = n->version;
    /* DataNode.copyStat: the count of creates becomes the count of
     * changes, "for every create there is a delete except for the
     * children still present". */
    st->cversion = (int32_t)(uint32_t)(2u * (uint32_t)n->creates - (uint32_t)n->nkids);
    st->aversion = n->aversion;
    st->ephemeral_owner = n->owner;
    st->data_length = (int32_t)n->len;
    st->num_children = (int32_t)n->nkids;
    st->pzxid = n->pzxid;
}

static void node_free(fk_node *n)
{
    if (n == NULL)
        return;
    free(n->link.key);
    free(n->kids);
    free(n->data);
    acl_unref(n->acl);
    free(n);
}

/* A detached node; data and path copied, acl reference taken over. */
static fk_node *node_new(const char *path, size_t plen, const void *data, size_t len)
{
    fk_node *n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    n->link.key = zkc__memdup(path, plen);
    n->link.klen = plen;
    n->data = zkc__memdup(data, len);
    n->len = len;
    if (n->link.key == NULL || n->data == NULL) {
        node_free(n);
        return NULL;
    }
    return n;
}

/* Make room for one more child of p (before anything is changed). */
static int node_reserve_kid(fk_node *p)
{
    if (p->nkids < p->kids_cap)
        return ZKC_OK;
    size_t cap = p->kids_cap == 0 ? 4 : p->kids_cap * 2;
    fk_node **k = realloc(p->kids, cap * sizeof *k);
    if (k == NULL)
        return ZKC_ENOMEM;
    p->kids = k;
    p->kids_cap = cap;
    return ZKC_OK;
}

/* Attach n under p with the stats of a create at zxid (room reserved). */
static void node_link(zkc_fake_tree *t, fk_node *p, fk_node *n, int64_t zxid, int64_t now)
{
    n->czxid = n->mzxid = n->pzxid = zxid;
    n->ctime = n->mtime = now;
    n->parent = p;
    n->kid_index = p->nkids;
    p->kids[p->nkids++] = n;
    p->creates = inc32(p->creates);
    p->pzxid = zxid;
    htab_insert(&t->nodes, &n->link);
    if (n->owner_conn != NULL) {
        fake_conn *fc = n->owner_conn;
        n->eph_prev = fc->eph_tail;
        n->eph_next = NULL;
        if (fc->eph_tail != NULL)
            fc->eph_tail->eph_next = n;
        else
            fc->eph_head = n;
        fc->eph_tail = n;
    }
}

/* Detach a childless node from the tree (not freed). */
static void node_unlink(zkc_fake_tree *t, fk_node *n, int64_t zxid)
{
    fk_node *p = n->parent;
    fk_node *last = p->kids[--p->nkids];
    p->kids[n->kid_index] = last;
    last->kid_index = n->kid_index;
    if (zxid > p->pzxid)
        p->pzxid = zxid;
    htab_remove(&t->nodes, &n->link);
    if (n->owner_conn != NULL) {
        fake_conn *fc = n->owner_conn;
        if (n->eph_prev != NULL)
            n->eph_prev->eph_next = n->eph_next;
        else
            fc->eph_head = n->eph_next;
        if (n->eph_next != NULL)
            n->eph_next->eph_prev = n->eph_prev;
        else
            fc->eph_tail = n->eph_prev;
        n->owner_conn = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* Completion queues.                                                  */
/* ------------------------------------------------------------------ */

/* Queue it on fc (tree lock held, or fc not yet shared).  Returns its
 * sequence number, for queue_wait(). */
static uint64_t queue_push(fake_conn *fc, fk_item *it)
{
    pthread_mutex_lock(&fc->qlock);
    /* Once the lock is dropped the thread may run and free it: keep
     * what we return. */
    uint64_t seq = ++fc->q_enq;
    it->next = NULL;
    it->seq = seq;
    it->due_ms = fc->delay_ms > 0 ? zkc__now_ms() + fc->delay_ms : 0;
    /* The thread sleeps only on an empty queue or for the head's due
     * time, so only a first item needs to wake it. */
    if (fc->q_tail != NULL) {
        fc->q_tail->next = it;
    } else {
        fc->q_head = it;
        pthread_cond_signal(&fc->qcond);
    }
    fc->q_tail = it;
    pthread_mutex_unlock(&fc->qlock);
    return seq;
}

/* To wait for an item (queue_wait), first register as a waiter, with the
 * tree lock held and the session not closed: from then on the session's
 * thread does not end, and so does not free it, before we are done.
 * Returns 0 (no waiting) on the session's own completion thread, where
 * everything before the current item has run and waiting for later
 * items would wait for ourselves. */
static int queue_wait_prepare(fake_conn *fc)
{
    if (pthread_equal(pthread_self(), fc->thread))
        return 0;
    pthread_mutex_lock(&fc->qlock);
    fc->q_waiters++;
    pthread_mutex_unlock(&fc->qlock);
    return 1;
}

/* Wait until the completion thread has run item seq (see above). */
static void queue_wait(fake_conn *fc, uint64_t seq)
{
    pthread_mutex_lock(&fc->qlock);
    while (fc->q_ran < seq)
        pthread_cond_wait(&fc->qdone, &fc->qlock);
    /* The thread may be waiting for us to leave before it ends. */
    if (--fc->q_waiters == 0)
        pthread_cond_broadcast(&fc->qdone);
    pthread_mutex_unlock(&fc->qlock);
}

static void done_multi_free(fk_done *d)
{
    for (size_t i = 0; d->mcreated != NULL && i < d->nm; i++)
        free(d->mcreated[i]);
    free(d->mcreated);
    free(d->mres);
    free(d->mstats);
    d->mcreated = NULL;
    d->mres = NULL;
    d->mstats = NULL;
    d->nm = 0;
}

static void done_free(fk_done *d)
{
    done_multi_free(d);
    free(d->path);
    free(d->data);
    zkc_strings_free(d->children);
    zkc_acl_list_free(d->acl);
    free(d->created);
    free(d->errmsg);
    free(d);
}

/* Forget a result's payload (a reply that is lost). */
static void done_clear(fk_done *d, int rc, const char *msg)
{
    free(d->data);
    zkc_strings_free(d->children);
    zkc_acl_list_free(d->acl);
    free(d->created);
    free(d->errmsg);
    d->data = d->created = NULL;
    d->children = NULL;
    d->acl = NULL;
    done_multi_free(d);
    d->errmsg = msg != NULL ? strdup(msg) : NULL;
    zkc_op op = d->res.op;
    memset(&d->res, 0, sizeof d->res);
    d->res.op = op;
    d->res.path = d->path;
    d->res.rc = rc;
    d->res.errmsg = d->errmsg;
}

static fk_state *state_item_new(zkc_state s)
{
    fk_state *st = calloc(1, sizeof *st);
    if (st != NULL) {
        st->it.kind = IT_STATE;
        st->state = s;
    }
    return st;
}

static void item_run(fake_conn *fc, fk_item *it)
{
    switch (it->kind) {
    case IT_DONE: {
        fk_done *d = (fk_done *)it;
        d->done(&d->res, d->ud);
        done_free(d);
        break;
    }
    case IT_FIRE: {
        fk_reg *r = (fk_reg *)it;
        zkc__watch_fire(r->watch, r->ev);
        free(r);
        break;
    }
    case IT_STATE:
        zkc__conn_set_state(&fc->base, ((fk_state *)it)->state);
        free(it);
        break;
    default:
        free(it);
        break;
    }
}

static void session_free(fake_conn *fc);

/* The completion thread: run items in order, each when it is due; once
 * stopping, run what is left at once and end. */
static void *session_main(void *arg)
{
    fake_conn *fc = arg;
    pthread_mutex_lock(&fc->qlock);
    for (;;) {
        fk_item *it = fc->q_head;
        if (it == NULL) {
            if (fc->q_stop)
                break;
            pthread_cond_wait(&fc->qcond, &fc->qlock);
            continue;
        }
        if (!fc->q_stop && it->due_ms > 0) {
            if (it->due_ms > zkc__now_ms()) {
                zkc__cond_wait_until(&fc->qcond, &fc->qlock, it->due_ms);
                continue;
            }
        }
        fc->q_head = it->next;
        if (fc->q_head == NULL)
            fc->q_tail = NULL;
        uint64_t seq = it->seq;
        pthread_mutex_unlock(&fc->qlock);
        item_run(fc, it);
        pthread_mutex_lock(&fc->qlock);
        fc->q_ran = seq;
        if (fc->q_waiters > 0)
            pthread_cond_broadcast(&fc->qdone);
    }
    /* A thread still in queue_wait() (an injected fault whose state
     * change closed the session) must be out before the session goes. */
    while (fc->q_waiters > 0)
        pthread_cond_wait(&fc->qdone, &fc->qlock);
    int self = fc->q_self_close;
    pthread_mutex_unlock(&fc->qlock);
    if (self)
        session_free(fc);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Watches.                                                            */
/* ------------------------------------------------------------------ */

/* Hand a fired registration to its session: queued, or held back while
 * the session is disconnected (delivered after it reconnects, as the
 * client's SetWatches would get them). */
static void reg_deliver(fk_reg *r)
{
    fake_conn *fc = r->owner;
    if (fc->hold) {
        r->it.next = NULL;
        if (fc->held_tail != NULL)
            fc->held_tail->next = &r->it;
        else
            fc->held_head = &r->it;
        fc->held_tail = &r->it;
        return;
    }
    queue_push(fc, &r->it);
}

static void wpoint_free_if_empty(zkc_fake_tree *t, fk_wpoint *wp)
{
    if (wp->lists[WL_DATA] != NULL || wp->lists[WL_CHILD] != NULL)
        return;
    htab_remove(&t->wpoints, &wp->link);
    free(wp->link.key);
    free(wp);
}

/* Take r out of its watch point's list and its session's list. */
static void reg_detach(fk_reg *r)
{
    fk_wpoint *wp = r->wp;
    if (r->wp_prev != NULL)
        r->wp_prev->wp_next = r->wp_next;
    else
        wp->lists[r->which] = r->wp_next;
    if (r->wp_next != NULL)
        r->wp_next->wp_prev = r->wp_prev;
    wp->n--;
    fake_conn *fc = r->owner;
    if (r->s_prev != NULL)
        r->s_prev->s_next = r->s_next;
    else
        fc->regs = r->s_next;
    if (r->s_next != NULL)
        r->s_next->s_prev = r->s_prev;
    r->wp_prev = r->wp_next = r->s_prev = r->s_next = NULL;
}

/* Drop registrations whose handle the caller already freed, so a path
 * watched over and over does not pile them up.  Amortised: only when the
 * count doubled since the last look. */
static void wpoint_prune(fk_wpoint *wp)
{
    if (wp->n < wp->prune_at)
        return;
    for (int which = 0; which < 2; which++) {
        fk_reg *r = wp->lists[which];
        while (r != NULL) {
            fk_reg *next = r->wp_next;
            if (zkc__watch_abandoned(r->watch)) {
                reg_detach(r);
                zkc__watch_release(r->watch);
                free(r);
            }
            r = next;
        }
    }
    wp->prune_at = wp->n * 2 > 16 ? wp->n * 2 : 16;
}

/* Register r for path in list which.  Returns ZKC_OK or ZKC_ENOMEM. */
static int reg_add(zkc_fake_tree *t, fake_conn *fc, fk_reg *r, const char *path, int which)
{
    size_t plen = strlen(path);
    fk_wpoint *wp = (fk_wpoint *)htab_find(&t->wpoints, path, plen);
    if (wp == NULL) {
        wp = calloc(1, sizeof *wp);
        if (wp == NULL)
            return ZKC_ENOMEM;
        wp->link.key = zkc__memdup(path, plen);
        if (wp->link.key == NULL) {
            free(wp);
            return ZKC_ENOMEM;
        }
        wp->link.klen = plen;
        wp->prune_at = 16;
        htab_insert(&t->wpoints, &wp->link);
    } else {
        wpoint_prune(wp);
    }
    r->it.kind = IT_FIRE;
    r->owner = fc;
    r->wp = wp;
    r->which = which;
    r->wp_prev = NULL;
    r->wp_next = wp->lists[which];
    if (r->wp_next != NULL)
        r->wp_next->wp_prev = r;
    wp->lists[which] = r;
    wp->n++;
    r->s_prev = NULL;
    r->s_next = fc->regs;
    if (fc->regs != NULL)
        fc->regs->s_prev = r;
    fc->regs = r;
    return ZKC_OK;
}

/* Fire every watch in one list of path, oldest registration first. */
static void watches_fire(zkc_fake_tree *t, const char *path, size_t plen, int which,
                         zkc_event_type ev)
{
    fk_wpoint *wp = (fk_wpoint *)htab_find(&t->wpoints, path, plen);
    if (wp == NULL || wp->lists[which] == NULL)
        return;
    /* The list is newest first; fire in registration order. */
    fk_reg *r = wp->lists[which];
    while (r->wp_next != NULL)
        r = r->wp_next;
    while (r != NULL) {
        fk_reg *prev = r->wp_prev;
        reg_detach(r);
        r->ev = ev;
        reg_deliver(r);
        r = prev;
    }
    wpoint_free_if_empty(t, wp);
}

/* The server's order of events for a create, a delete and a set. */
static void fire_created(zkc_fake_tree *t, const fk_node *n)
{
    watches_fire(t, n->link.key, n->link.klen, WL_DATA, ZKC_EVENT_CREATED);
    watches_fire(t, n->parent->link.key, n->parent->link.klen, WL_CHILD, ZKC_EVENT_CHILD);
}

static void fire_deleted(zkc_fake_tree *t, const char *path, size_t plen, const fk_node *parent)
{
    watches_fire(t, path, plen, WL_DATA, ZKC_EVENT_DELETED);
    watches_fire(t, path, plen, WL_CHILD, ZKC_EVENT_DELETED);
    watches_fire(t, parent->link.key, parent->link.klen, WL_CHILD, ZKC_EVENT_CHILD);
}

/* Remove a childless node at zxid, with its events, and free it. */
static void node_delete(zkc_fake_tree *t, fk_node *n, int64_t zxid)
{
    fk_node *p = n->parent;
    node_unlink(t, n, zxid);
    fire_deleted(t, n->link.key, n->link.klen, p);
    node_free(n);
}

/* The end of a session (expiry or close): its watches end with ev, its
 * ephemerals go in one closeSession transaction.  Tree lock held. */
static void session_end(zkc_fake_tree *t, fake_conn *fc, zkc_event_type ev, int alive)
{
    /* Oldest registration first; fc->regs is newest first. */
    fk_reg *r = fc->regs;
    while (r != NULL && r->s_next != NULL)
        r = r->s_next;
    while (r != NULL) {
        fk_reg *prev = r->s_prev;
        fk_wpoint *wp = r->wp;
        reg_detach(r);
        wpoint_free_if_empty(t, wp);
        r->ev = ev;
        queue_push(fc, &r->it);
        r = prev;
    }
    while (fc->held_head != NULL) {
        fk_item *it = fc->held_head;
        fc->held_head = it->next;
        ((fk_reg *)it)->ev = ev;
        queue_push(fc, it);
    }
    fc->held_tail = NULL;
    fc->hold = 0;
    fc->suspended = 0;
    if (!alive)
        return;
    int64_t zxid = ++t->zxid;
    while (fc->eph_head != NULL)
        node_delete(t, fc->eph_head, zxid);
}

/* ------------------------------------------------------------------ */
/* The operations, applied under the tree lock.                        */
/* ------------------------------------------------------------------ */

/* Set an error detail on d (best effort). */
#define DONE_MSG(d, ...)                                                                       \
    do {                                                                                       \
        free((d)->errmsg);                                                                     \
        (d)->errmsg = fmt_msg(__VA_ARGS__);                                                    \
        (d)->res.errmsg = (d)->errmsg;                                                         \
    } while (0)

static int version_ok(int32_t want, int32_t have)
{
    return want == -1 || want == have;
}

/*
 * The checks of a create, in the server's order, then the new node with
 * its ACL and owner, not yet linked under *ret_parent.  d (may be NULL)
 * gets the detail of a refusal.
 */
static int create_prepare(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d,
                          fk_node **ret_parent, fk_node **ret_node)
{
    const char *path = req->path;
    size_t len = strlen(path);
    fk_acl *acl = NULL;
    int rc = acl_fixup(t, fc, req->acl, &acl);
    if (rc != ZKC_OK)
        return rc;
    size_t plen = parent_len(path, len);
    fk_node *p = node_find(t, path, plen);
    if (p == NULL) {
        acl_unref(acl);
        if (d != NULL)
            DONE_MSG(d, "parent %.*s does not exist", (int)plen, path);
        return ZKC_ENONODE;
    }
    if (acl_check(fc, p->acl, ZKC_PERM_CREATE) != ZKC_OK) {
        acl_unref(acl);
        if (d != NULL)
            DONE_MSG(d, "no CREATE permission on %s", p->link.key);
        return ZKC_ENOAUTH;
    }
    char seqbuf[16] = "";
    if (req->flags & ZKC_SEQUENCE)
        snprintf(seqbuf, sizeof seqbuf, "%010d", p->creates);
    size_t slen = strlen(seqbuf);
    if (len + slen > ZKC_MAX_PATH) {
        acl_unref(acl);
        return ZKC_EBADARGUMENTS;
    }
    char *full = malloc(len + slen + 1);
    if (full == NULL) {
        acl_unref(acl);
        return ZKC_ENOMEM;
    }
    memcpy(full, path, len);
    memcpy(full + len, seqbuf, slen + 1);
    rc = ZKC_OK;
    if (node_find(t, full, len + slen) != NULL) {
        rc = ZKC_ENODEEXISTS;
    } else if (p->owner != 0) {
        rc = ZKC_ENOCHILDRENFOREPHEMERALS;
        if (d != NULL)
            DONE_MSG(d, "parent %s is ephemeral", p->link.key);
    }
    fk_node *n = NULL;
    if (rc == ZKC_OK) {
        n = node_new(full, len + slen, req->data, req->data_len);
        if (n == NULL || node_reserve_kid(p) != ZKC_OK)
            rc = ZKC_ENOMEM;
    }
    free(full);
    if (rc != ZKC_OK) {
        node_free(n);
        acl_unref(acl);
        return rc;
    }
    n->acl = acl;
    if (req->flags & ZKC_EPHEMERAL) {
        n->owner = fc->session_id;
        n->owner_conn = fc;
    }
    *ret_parent = p;
    *ret_node = n;
    return ZKC_OK;
}

static int op_create(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d)
{
    t->zxid++; /* the transaction's zxid, also when it fails */
    int64_t zxid = t->zxid;
    fk_node *p = NULL, *n = NULL;
    int rc = create_prepare(t, fc, req, d, &p, &n);
    if (rc != ZKC_OK)
        return rc;
    char *created = zkc__memdup(n->link.key, n->link.klen);
    if (created == NULL) {
        node_free(n);
        return ZKC_ENOMEM;
    }
    node_link(t, p, n, zxid, zkc__wall_ms());
    fire_created(t, n);
    d->created = created;
    d->res.created_path = created;
    return ZKC_OK;
}

static int op_delete(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d)
{
    const char *path = req->path;
    size_t len = strlen(path);
    int64_t zxid = ++t->zxid;
    if (path_is_special(path)) {
        DONE_MSG(d, "%s is the server's own node", path);
        return ZKC_EBADARGUMENTS;
    }
    size_t plen = parent_len(path, len);
    fk_node *p = node_find(t, path, plen);
    if (p == NULL)
        return ZKC_ENONODE;
    if (acl_check(fc, p->acl, ZKC_PERM_DELETE) != ZKC_OK) {
        DONE_MSG(d, "no DELETE permission on %s", p->link.key);
        return ZKC_ENOAUTH;
    }
    fk_node *n = node_find(t, path, len);
    if (n == NULL)
        return ZKC_ENONODE;
    if (!version_ok(req->version, n->version))
        return ZKC_EBADVERSION;
    if (n->nkids > 0)
        return ZKC_ENOTEMPTY;
    node_delete(t, n, zxid);
    return ZKC_OK;
}

static int op_set(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d)
{
    int64_t zxid = ++t->zxid;
    fk_node *n = node_find(t, req->path, strlen(req->path));
    if (n == NULL)
        return ZKC_ENONODE;
    if (acl_check(fc, n->acl, ZKC_PERM_WRITE) != ZKC_OK) {
        DONE_MSG(d, "no WRITE permission");
        return ZKC_ENOAUTH;
    }
    if (!version_ok(req->version, n->version))
        return ZKC_EBADVERSION;
    char *data = zkc__memdup(req->data, req->data_len);
    if (data == NULL)
        return ZKC_ENOMEM;
    free(n->data);
    n->data = data;
    n->len = req->data_len;
    n->version = inc32(n->version);
    n->mzxid = zxid;
    n->mtime = zkc__wall_ms();
    watches_fire(t, n->link.key, n->link.klen, WL_DATA, ZKC_EVENT_CHANGED);
    node_stat(n, &d->stat);
    d->res.stat = &d->stat;
    return ZKC_OK;
}

static int op_set_acl(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d)
{
    t->zxid++;
    fk_acl *acl = NULL;
    int rc = acl_fixup(t, fc, req->acl, &acl);
    if (rc != ZKC_OK)
        return rc;
    fk_node *n = node_find(t, req->path, strlen(req->path));
    if (n == NULL) {
        acl_unref(acl);
        return ZKC_ENONODE;
    }
    if (acl_check(fc, n->acl, ZKC_PERM_ADMIN) != ZKC_OK) {
        acl_unref(acl);
        DONE_MSG(d, "no ADMIN permission");
        return ZKC_ENOAUTH;
    }
    if (!version_ok(req->version, n->aversion)) {
        acl_unref(acl);
        return ZKC_EBADVERSION;
    }
    acl_unref(n->acl);
    n->acl = acl;
    n->aversion = inc32(n->aversion);
    node_stat(n, &d->stat);
    d->res.stat = &d->stat;
    return ZKC_OK;
}

/* get, children, exists: reg (may be NULL) is registered when the
 * server would set the watch; *used tells whether it was. */
static int op_read(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d,
                   fk_reg *reg, int *used)
{
    fk_node *n = node_find(t, req->path, strlen(req->path));
    if (req->op == ZKC_OP_EXISTS) {
        /* statNode: the watch goes in first, also for a missing node. */
        if (reg != NULL) {
            if (reg_add(t, fc, reg, req->path, WL_DATA) != ZKC_OK)
                return ZKC_ENOMEM;
            *used = 1;
            d->res.watch = reg->watch;
        }
        if (n != NULL) {
            node_stat(n, &d->stat);
            d->res.stat = &d->stat;
        }
        return ZKC_OK;
    }
    if (n == NULL)
        return ZKC_ENONODE;
    if (acl_check(fc, n->acl, ZKC_PERM_READ) != ZKC_OK) {
        DONE_MSG(d, "no READ permission");
        return ZKC_ENOAUTH;
    }
    if (req->op == ZKC_OP_GET) {
        d->data = zkc__memdup(n->data, n->len);
        if (d->data == NULL)
            return ZKC_ENOMEM;
        d->res.data = d->data;
        d->res.data_len = n->len;
    } else {
        d->children = zkc__strings_new(0);
        if (d->children == NULL)
            return ZKC_ENOMEM;
        for (size_t i = 0; i < n->nkids; i++) {
            const char *name = zkc_path_base(n->kids[i]->link.key);
            if (zkc__strings_push(d->children, name, strlen(name)) != ZKC_OK)
                return ZKC_ENOMEM;
        }
        zkc_strings_sort(d->children);
        d->res.children = d->children;
    }
    if (reg != NULL) {
        int which = req->op == ZKC_OP_GET ? WL_DATA : WL_CHILD;
        if (reg_add(t, fc, reg, req->path, which) != ZKC_OK)
            return ZKC_ENOMEM;
        *used = 1;
        d->res.watch = reg->watch;
    }
    node_stat(n, &d->stat);
    d->res.stat = &d->stat;
    return ZKC_OK;
}

static int op_get_acl(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d)
{
    fk_node *n = node_find(t, req->path, strlen(req->path));
    if (n == NULL)
        return ZKC_ENONODE;
    if (acl_check(fc, n->acl, ZKC_PERM_READ | ZKC_PERM_ADMIN) != ZKC_OK) {
        DONE_MSG(d, "no READ or ADMIN permission");
        return ZKC_ENOAUTH;
    }
    d->acl = zkc_acl_list_dup(&n->acl->list);
    if (d->acl == NULL)
        return ZKC_ENOMEM;
    /* Without ADMIN, digest ids lose their hash: "user:x". */
    if (acl_check(fc, n->acl, ZKC_PERM_ADMIN) != ZKC_OK) {
        for (size_t i = 0; i < d->acl->count; i++) {
            zkc_acl *e = &d->acl->v[i];
            char *colon = strchr(e->id, ':');
            if (strcmp(e->scheme, "digest") == 0 && colon != NULL && colon[1] != '\0') {
                colon[1] = 'x';
                colon[2] = '\0';
            }
        }
    }
    d->res.acl = d->acl;
    node_stat(n, &d->stat);
    d->res.stat = &d->stat;
    return ZKC_OK;
}

static int op_apply(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d,
                    fk_reg *reg, int *used)
{
    if (req->data_len > ZKC_MAX_DATA)
        return ZKC_EBADARGUMENTS;
    switch (req->op) {
    case ZKC_OP_GET:
    case ZKC_OP_CHILDREN:
    case ZKC_OP_EXISTS:
        return op_read(t, fc, req, d, reg, used);
    case ZKC_OP_CREATE:
        return op_create(t, fc, req, d);
    case ZKC_OP_SET:
        return op_set(t, fc, req, d);
    case ZKC_OP_DELETE:
        return op_delete(t, fc, req, d);
    case ZKC_OP_GET_ACL:
        return op_get_acl(t, fc, req, d);
    case ZKC_OP_SET_ACL:
        return op_set_acl(t, fc, req, d);
    case ZKC_OP_CHECK:
    case ZKC_OP_MULTI:
        break; /* only through fake_multi */
    }
    return ZKC_EBADARGUMENTS;
}

/* ------------------------------------------------------------------ */
/* Multi: one transaction, all or nothing.                             */
/* ------------------------------------------------------------------ */

/*
 * The server checks each operation of a multi against the effects of the
 * ones before it, then commits them all with one zxid or none (the whole
 * multi then takes its zxid as an error transaction), and fires watches
 * only for a committed multi, in operation order.  Here each operation is
 * applied to the tree at once, with an undo record and its events kept
 * back; a failure undoes the records in reverse order, a commit fires
 * the events and frees what the deletes took out.  Nothing allocates
 * during an undo.
 */
enum { MU_CREATE = 1, MU_DELETE = 2, MU_SET = 3 };

typedef struct mundo {
    int kind;
    fk_node *n;
    fk_node *parent;
    int32_t p_creates; /* create: the parent's before */
    int64_t p_pzxid;   /* create, delete: the parent's before */
    fake_conn *owner;  /* delete: the ephemeral's owner */
    char *old_data;    /* set: what it replaced */
    size_t old_len;
    int32_t old_version;
    int64_t old_mzxid, old_mtime;
} mundo;

/* Put a node that op_multi took out back where it was (room is left in
 * parent->kids by the unlink). */
static void node_relink(zkc_fake_tree *t, const mundo *u)
{
    fk_node *p = u->parent, *n = u->n;
    n->parent = p;
    n->kid_index = p->nkids;
    p->kids[p->nkids++] = n;
    p->pzxid = u->p_pzxid;
    htab_insert(&t->nodes, &n->link);
    if (u->owner != NULL) {
        fake_conn *fc = u->owner;
        n->owner_conn = fc;
        n->eph_prev = fc->eph_tail;
        n->eph_next = NULL;
        if (fc->eph_tail != NULL)
            fc->eph_tail->eph_next = n;
        else
            fc->eph_head = n;
        fc->eph_tail = n;
    }
}

static void multi_undo(zkc_fake_tree *t, mundo *u)
{
    switch (u->kind) {
    case MU_CREATE:
        node_unlink(t, u->n, 0);
        u->parent->creates = u->p_creates;
        u->parent->pzxid = u->p_pzxid;
        node_free(u->n);
        break;
    case MU_DELETE:
        node_relink(t, u);
        break;
    case MU_SET:
        free(u->n->data);
        u->n->data = u->old_data;
        u->n->len = u->old_len;
        u->n->version = u->old_version;
        u->n->mzxid = u->old_mzxid;
        u->n->mtime = u->old_mtime;
        u->old_data = NULL;
        break;
    }
}

/* A committed operation's events, in the server's order, then the memory
 * a delete or set let go of. */
static void multi_commit(zkc_fake_tree *t, mundo *u)
{
    switch (u->kind) {
    case MU_CREATE:
        watches_fire(t, u->n->link.key, u->n->link.klen, WL_DATA, ZKC_EVENT_CREATED);
        watches_fire(t, u->parent->link.key, u->parent->link.klen, WL_CHILD, ZKC_EVENT_CHILD);
        break;
    case MU_DELETE:
        fire_deleted(t, u->n->link.key, u->n->link.klen, u->parent);
        break;
    case MU_SET:
        watches_fire(t, u->n->link.key, u->n->link.klen, WL_DATA, ZKC_EVENT_CHANGED);
        free(u->old_data);
        u->old_data = NULL;
        break;
    }
}

/* Freed only after every event has fired: a later event may name a node
 * (a parent) that an earlier delete took out. */
static void multi_release(mundo *u)
{
    if (u->kind == MU_DELETE)
        node_free(u->n);
}

static int multi_create(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, int64_t zxid,
                        mundo *u, char **ret_name)
{
    fk_node *p = NULL, *n = NULL;
    int rc = create_prepare(t, fc, req, NULL, &p, &n);
    if (rc != ZKC_OK)
        return rc;
    char *name = zkc__memdup(n->link.key, n->link.klen);
    if (name == NULL) {
        node_free(n);
        return ZKC_ENOMEM;
    }
    u->kind = MU_CREATE;
    u->n = n;
    u->parent = p;
    u->p_creates = p->creates;
    u->p_pzxid = p->pzxid;
    node_link(t, p, n, zxid, zkc__wall_ms());
    *ret_name = name;
    return ZKC_OK;
}

static int multi_delete(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, int64_t zxid,
                        mundo *u)
{
    const char *path = req->path;
    size_t len = strlen(path);
    if (path_is_special(path))
        return ZKC_EBADARGUMENTS;
    fk_node *p = node_find(t, path, parent_len(path, len));
    if (p == NULL)
        return ZKC_ENONODE;
    if (acl_check(fc, p->acl, ZKC_PERM_DELETE) != ZKC_OK)
        return ZKC_ENOAUTH;
    fk_node *n = node_find(t, path, len);
    if (n == NULL)
        return ZKC_ENONODE;
    if (!version_ok(req->version, n->version))
        return ZKC_EBADVERSION;
    if (n->nkids > 0)
        return ZKC_ENOTEMPTY;
    u->kind = MU_DELETE;
    u->n = n;
    u->parent = p;
    u->p_pzxid = p->pzxid;
    u->owner = n->owner_conn;
    node_unlink(t, n, zxid);
    return ZKC_OK;
}

static int multi_set(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, int64_t zxid,
                     mundo *u, zkc_stat *st)
{
    fk_node *n = node_find(t, req->path, strlen(req->path));
    if (n == NULL)
        return ZKC_ENONODE;
    if (acl_check(fc, n->acl, ZKC_PERM_WRITE) != ZKC_OK)
        return ZKC_ENOAUTH;
    if (!version_ok(req->version, n->version))
        return ZKC_EBADVERSION;
    char *data = zkc__memdup(req->data, req->data_len);
    if (data == NULL)
        return ZKC_ENOMEM;
    u->kind = MU_SET;
    u->n = n;
    u->old_data = n->data;
    u->old_len = n->len;
    u->old_version = n->version;
    u->old_mzxid = n->mzxid;
    u->old_mtime = n->mtime;
    n->data = data;
    n->len = req->data_len;
    n->version = inc32(n->version);
    n->mzxid = zxid;
    n->mtime = zkc__wall_ms();
    node_stat(n, st);
    return ZKC_OK;
}

static int multi_check(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req)
{
    fk_node *n = node_find(t, req->path, strlen(req->path));
    if (n == NULL)
        return ZKC_ENONODE;
    if (acl_check(fc, n->acl, ZKC_PERM_READ) != ZKC_OK)
        return ZKC_ENOAUTH;
    if (!version_ok(req->version, n->version))
        return ZKC_EBADVERSION;
    return ZKC_OK;
}

/* Give d room for n results (before the tree lock: no allocation may
 * fail half-way through a multi). */
static int multi_prepare(fk_done *d, size_t n)
{
    d->nm = n;
    if (n == 0)
        return ZKC_OK;
    d->mres = calloc(n, sizeof *d->mres);
    d->mstats = calloc(n, sizeof *d->mstats);
    d->mcreated = calloc(n, sizeof *d->mcreated);
    return d->mres == NULL || d->mstats == NULL || d->mcreated == NULL ? ZKC_ENOMEM : ZKC_OK;
}

/* Apply the multi (tree lock held); d was prepared for nops results,
 * undo has room for nops records. */
static int op_multi(zkc_fake_tree *t, fake_conn *fc, const zkc_request *ops, size_t nops,
                    fk_done *d, mundo *undo)
{
    int64_t zxid = ++t->zxid; /* one for the whole multi, also when it fails */
    size_t done_n = 0, bad = nops;
    int rc = ZKC_OK;
    for (size_t i = 0; i < nops; i++) {
        const zkc_request *r = &ops[i];
        mundo *u = &undo[done_n];
        memset(u, 0, sizeof *u);
        d->mres[i].op = r->op;
        if (r->data_len > ZKC_MAX_DATA) {
            rc = ZKC_EBADARGUMENTS;
        } else {
            switch (r->op) {
            case ZKC_OP_CREATE:
                rc = multi_create(t, fc, r, zxid, u, &d->mcreated[i]);
                break;
            case ZKC_OP_DELETE:
                rc = multi_delete(t, fc, r, zxid, u);
                break;
            case ZKC_OP_SET:
                rc = multi_set(t, fc, r, zxid, u, &d->mstats[i]);
                break;
            case ZKC_OP_CHECK:
                rc = multi_check(t, fc, r);
                break;
            default:
                rc = ZKC_EBADARGUMENTS;
                break;
            }
        }
        if (rc != ZKC_OK) {
            bad = i;
            break;
        }
        if (u->kind != 0)
            done_n++;
    }
    if (rc != ZKC_OK) {
        while (done_n > 0)
            multi_undo(t, &undo[--done_n]);
        for (size_t i = 0; i < nops; i++) {
            free(d->mcreated[i]);
            d->mcreated[i] = NULL;
            d->mres[i].rc = i < bad ? ZKC_OK : i == bad ? rc : ZKC_ERUNTIMEINCONSISTENCY;
            d->mres[i].op = ops[i].op;
        }
    } else {
        for (size_t i = 0; i < done_n; i++)
            multi_commit(t, &undo[i]);
        for (size_t i = 0; i < done_n; i++)
            multi_release(&undo[i]);
        for (size_t i = 0; i < nops; i++) {
            d->mres[i].rc = ZKC_OK;
            d->mres[i].created_path = d->mcreated[i];
            d->mres[i].stat = ops[i].op == ZKC_OP_SET ? &d->mstats[i] : NULL;
        }
    }
    /* The server answers an empty multi with an empty list. */
    static const zkc_op_result none[1];
    d->res.ops = nops > 0 ? d->mres : none;
    d->res.nops = nops;
    return rc;
}

/* ------------------------------------------------------------------ */
/* The zkc_conn operations.                                            */
/* ------------------------------------------------------------------ */

/* Back after a (real or injected) disconnection: RECONNECTED, then the
 * watch events held meanwhile, as SetWatches would bring them. */
static uint64_t session_reconnect(fake_conn *fc, fk_state *up)
{
    uint64_t seq = queue_push(fc, &up->it);
    fc->hold = 0;
    while (fc->held_head != NULL) {
        fk_item *it = fc->held_head;
        fc->held_head = it->next;
        queue_push(fc, it);
    }
    fc->held_tail = NULL;
    return seq;
}

/* What one submission applies: a request, or a multi's operations. */
typedef struct fk_work {
    const zkc_request *req; /* NULL for a multi */
    const zkc_request *mops;
    size_t nops;
    mundo *undo;
    fk_reg *reg;
    int used;
} fk_work;

static int work_apply(zkc_fake_tree *t, fake_conn *fc, fk_work *w, fk_done *d, int watch)
{
    if (w->req == NULL)
        return op_multi(t, fc, w->mops, w->nops, d, w->undo);
    return op_apply(t, fc, w->req, d, watch ? w->reg : NULL, watch ? &w->used : &(int){0});
}

/* Apply w (or fail it, as the session's faults say) and queue d.  The
 * fault injection treats a multi as one operation.  Returns ZKC_OK, or
 * ZKC_ECLOSED / ZKC_ENOMEM and d is not queued. */
static int fake_dispatch(fake_conn *fc, fk_done *d, fk_work *w)
{
    zkc_fake_tree *t = fc->tree;
    pthread_mutex_lock(&t->lock);
    if (fc->closed) {
        pthread_mutex_unlock(&t->lock);
        return ZKC_ECLOSED;
    }
    if (fc->expired) {
        done_clear(d, ZKC_ESESSIONEXPIRED, NULL);
        queue_push(fc, &d->it);
    } else if (fc->suspended) {
        done_clear(d, ZKC_ECONNECTIONLOSS, "connection suspended (injected fault)");
        queue_push(fc, &d->it);
    } else if (fc->loss_before > 0 || fc->loss_after > 0) {
        fk_state *down = state_item_new(ZKC_STATE_SUSPENDED);
        fk_state *up = state_item_new(ZKC_STATE_RECONNECTED);
        if (down == NULL || up == NULL) {
            pthread_mutex_unlock(&t->lock);
            free(down);
            free(up);
            return ZKC_ENOMEM;
        }
        queue_push(fc, &down->it);
        if (fc->loss_before > 0) {
            fc->loss_before--;
            done_clear(d, ZKC_ECONNECTIONLOSS, "connection lost before the request (injected)");
        } else {
            /* Applied, but the reply (and the watch it would set) is
             * lost; events for this session come after the reconnect. */
            fc->loss_after--;
            fc->hold = 1;
            work_apply(t, fc, w, d, 0);
            done_clear(d, ZKC_ECONNECTIONLOSS, "connection lost before the reply (injected)");
        }
        queue_push(fc, &d->it);
        session_reconnect(fc, up);
    } else {
        d->res.rc = work_apply(t, fc, w, d, 1);
        queue_push(fc, &d->it);
    }
    pthread_mutex_unlock(&t->lock);
    return ZKC_OK;
}

static fk_done *done_new(const char *path, zkc_op op, zkc_done_fn done, void *userdata)
{
    fk_done *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->path = strdup(path);
    if (d->path == NULL) {
        free(d);
        return NULL;
    }
    d->it.kind = IT_DONE;
    d->done = done;
    d->ud = userdata;
    d->res.op = op;
    d->res.path = d->path;
    return d;
}

static int fake_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *userdata)
{
    fake_conn *fc = (fake_conn *)c;
    int is_read =
        req->op == ZKC_OP_GET || req->op == ZKC_OP_CHILDREN || req->op == ZKC_OP_EXISTS;

    fk_done *d = done_new(req->path, req->op, done, userdata);
    if (d == NULL)
        return ZKC_ENOMEM;
    fk_work w = {.req = req};
    if (is_read && (req->flags & ZKC_WATCH)) {
        w.reg = calloc(1, sizeof *w.reg);
        if (w.reg != NULL) {
            w.reg->watch = zkc__watch_new(req->path);
            if (w.reg->watch == NULL) {
                free(w.reg);
                w.reg = NULL;
            }
        }
        if (w.reg == NULL) {
            done_free(d);
            return ZKC_ENOMEM;
        }
    }
    int rc = fake_dispatch(fc, d, &w);
    if (rc != ZKC_OK)
        done_free(d);
    if (w.reg != NULL && !w.used) {
        zkc__watch_discard(w.reg->watch);
        free(w.reg);
    }
    return rc;
}

static int fake_multi(zkc_conn *c, const zkc_request *ops, size_t nops, zkc_done_fn done,
                      void *userdata)
{
    fake_conn *fc = (fake_conn *)c;
    fk_done *d = done_new(nops > 0 ? ops[0].path : "/", ZKC_OP_MULTI, done, userdata);
    if (d == NULL)
        return ZKC_ENOMEM;
    fk_work w = {.mops = ops, .nops = nops};
    w.undo = calloc(nops > 0 ? nops : 1, sizeof *w.undo);
    int rc = w.undo == NULL ? ZKC_ENOMEM : multi_prepare(d, nops);
    if (rc == ZKC_OK)
        rc = fake_dispatch(fc, d, &w);
    if (rc != ZKC_OK)
        done_free(d);
    free(w.undo);
    return rc;
}

static void tree_unref(zkc_fake_tree *t);

static void session_free(fake_conn *fc)
{
    for (size_t i = 0; i < fc->nids; i++) {
        free(fc->ids[i].scheme);
        free(fc->ids[i].id);
    }
    free(fc->ids);
    free(fc->expire_item);
    pthread_mutex_destroy(&fc->qlock);
    pthread_cond_destroy(&fc->qcond);
    pthread_cond_destroy(&fc->qdone);
    zkc_fake_tree *t = fc->tree;
    zkc__conn_fini(&fc->base);
    free(fc);
    tree_unref(t);
}

static void fake_close(zkc_conn *c)
{
    fake_conn *fc = (fake_conn *)c;
    zkc_fake_tree *t = fc->tree;

    pthread_mutex_lock(&t->lock);
    fc->closed = 1;
    /* A close ends the session like an expiry, but the watches end with
     * CLOSED; the other sessions see the ephemerals go. */
    session_end(t, fc, ZKC_EVENT_CLOSED, !fc->expired);
    pthread_mutex_unlock(&t->lock);

    int self = pthread_equal(pthread_self(), fc->thread);
    pthread_mutex_lock(&fc->qlock);
    fc->q_stop = 1;
    fc->q_self_close = self;
    pthread_cond_signal(&fc->qcond);
    pthread_mutex_unlock(&fc->qlock);
    if (self) {
        /* We are a completion of this session: the thread finishes the
         * queue after we return, then frees the session. */
        pthread_detach(fc->thread);
        return;
    }
    pthread_join(fc->thread, NULL);
    session_free(fc);
}

static int64_t fake_session_id(zkc_conn *c)
{
    fake_conn *fc = (fake_conn *)c;
    pthread_mutex_lock(&fc->tree->lock);
    int64_t id = fc->expired || fc->closed ? 0 : fc->session_id;
    pthread_mutex_unlock(&fc->tree->lock);
    return id;
}

static const struct zkc_conn_ops fake_ops = {
    .version = 1,
    .name = "fake",
    .submit = fake_submit,
    .close = fake_close,
    .session_id = fake_session_id,
    .multi = fake_multi,
};

/* ------------------------------------------------------------------ */
/* Trees.                                                              */
/* ------------------------------------------------------------------ */

/* A node of a fresh server: zxid 0, time 0. */
static fk_node *tree_add_initial(zkc_fake_tree *t, fk_node *p, const char *path, fk_acl *acl)
{
    fk_node *n = node_new(path, strlen(path), NULL, 0);
    if (n == NULL)
        return NULL;
    acl->refs++;
    n->acl = acl;
    if (p == NULL) {
        htab_insert(&t->nodes, &n->link);
        return n;
    }
    if (node_reserve_kid(p) != ZKC_OK) {
        node_free(n);
        return NULL;
    }
    /* The server builds these by hand: no create is counted. */
    n->parent = p;
    n->kid_index = p->nkids;
    p->kids[p->nkids++] = n;
    htab_insert(&t->nodes, &n->link);
    return n;
}

static void tree_destroy(zkc_fake_tree *t)
{
    if (t->nodes.b != NULL) {
        for (size_t i = 0; i <= t->nodes.mask; i++) {
            fk_hlink *l = t->nodes.b[i];
            while (l != NULL) {
                fk_hlink *next = l->hnext;
                node_free((fk_node *)l);
                l = next;
            }
        }
    }
    /* Watch points die with their sessions; none is left here. */
    if (t->wpoints.b != NULL) {
        for (size_t i = 0; i <= t->wpoints.mask; i++) {
            fk_hlink *l = t->wpoints.b[i];
            while (l != NULL) {
                fk_hlink *next = l->hnext;
                free(l->key);
                free(l);
                l = next;
            }
        }
    }
    free(t->nodes.b);
    free(t->wpoints.b);
    acl_unref(t->acl_open);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

zkc_fake_tree *zkc_fake_tree_new(void)
{
    zkc_fake_tree *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    pthread_mutex_init(&t->lock, NULL);
    t->refs = 1;
    fk_acl *read_only = acl_alloc(1);
    t->acl_open = acl_alloc(1);
    if (htab_init(&t->nodes, 64) != ZKC_OK || htab_init(&t->wpoints, 64) != ZKC_OK ||
        t->acl_open == NULL || read_only == NULL ||
        acl_push(t->acl_open, ZKC_PERM_ALL, "world", "anyone") != ZKC_OK ||
        acl_push(read_only, ZKC_PERM_READ, "world", "anyone") != ZKC_OK) {
        acl_unref(read_only);
        tree_destroy(t);
        return NULL;
    }
    /* Like DataTree's constructor: "/", "/zookeeper", its "quota" and
     * "config" (world:anyone READ, and an aversion of -1 as the server
     * reports it). */
    t->root = tree_add_initial(t, NULL, "/", t->acl_open);
    fk_node *zk =
        t->root != NULL ? tree_add_initial(t, t->root, "/zookeeper", t->acl_open) : NULL;
    fk_node *quota =
        zk != NULL ? tree_add_initial(t, zk, "/zookeeper/quota", t->acl_open) : NULL;
    fk_node *config =
        quota != NULL ? tree_add_initial(t, zk, "/zookeeper/config", read_only) : NULL;
    acl_unref(read_only);
    if (config == NULL) {
        tree_destroy(t);
        return NULL;
    }
    config->aversion = -1;
    /* Session ids like the server's: time in the middle bits, the server
     * id (1) in the top byte, then counted up. */
    uint64_t ms = (uint64_t)zkc__wall_ms();
    t->next_session = (int64_t)(((ms << 24) >> 8) | (1ull << 56));
    return t;
}

static void tree_unref(zkc_fake_tree *t)
{
    pthread_mutex_lock(&t->lock);
    int left = --t->refs;
    pthread_mutex_unlock(&t->lock);
    if (left == 0)
        tree_destroy(t);
}

void zkc_fake_tree_free(zkc_fake_tree *t)
{
    if (t != NULL)
        tree_unref(t);
}

/* ------------------------------------------------------------------ */
/* Sessions: open, faults, identities.                                 */
/* ------------------------------------------------------------------ */

static int session_add_id(fake_conn *fc, const char *scheme, const char *id)
{
    for (size_t i = 0; i < fc->nids; i++)
        if (strcmp(fc->ids[i].scheme, scheme) == 0 && strcmp(fc->ids[i].id, id) == 0)
            return ZKC_OK; /* addAuthInfo keeps one of each */
    fk_id *ids = realloc(fc->ids, (fc->nids + 1) * sizeof *ids);
    if (ids == NULL)
        return ZKC_ENOMEM;
    fc->ids = ids;
    char *s = strdup(scheme), *i = strdup(id);
    if (s == NULL || i == NULL) {
        free(s);
        free(i);
        return ZKC_ENOMEM;
    }
    fc->ids[fc->nids].scheme = s;
    fc->ids[fc->nids].id = i;
    fc->nids++;
    return ZKC_OK;
}

int zkc_fake_open(zkc_fake_tree *t, zkc_conn **ret_conn)
{
    if (t == NULL || ret_conn == NULL)
        return ZKC_EBADARGUMENTS;
    fake_conn *fc = calloc(1, sizeof *fc);
    if (fc == NULL)
        return ZKC_ENOMEM;
    fc->expire_item = state_item_new(ZKC_STATE_EXPIRED);
    if (fc->expire_item == NULL || session_add_id(fc, "ip", "127.0.0.1") != ZKC_OK) {
        free(fc->expire_item);
        if (fc->nids > 0) {
            free(fc->ids[0].scheme);
            free(fc->ids[0].id);
        }
        free(fc->ids);
        free(fc);
        return ZKC_ENOMEM;
    }

    pthread_mutex_lock(&t->lock);
    fc->session_id = t->next_session++;
    t->zxid++; /* createSession */
    pthread_mutex_unlock(&t->lock);

    char desc[64];
    snprintf(desc, sizeof desc, "fake(0x%llx)", (unsigned long long)fc->session_id);
    int rc = zkc__conn_init(&fc->base, &fake_ops, desc);
    if (rc != ZKC_OK) {
        free(fc->expire_item);
        free(fc->ids[0].scheme);
        free(fc->ids[0].id);
        free(fc->ids);
        free(fc);
        return rc == ZKC_ENOMEM ? rc : ZKC_ENOMEM;
    }
    pthread_mutex_init(&fc->qlock, NULL);
    zkc__cond_init_monotonic(&fc->qcond);
    pthread_cond_init(&fc->qdone, NULL);
    fc->tree = t;
    /* Nobody can watch the state yet: set it without an event. */
    fc->base.state = ZKC_STATE_CONNECTED;

    pthread_mutex_lock(&t->lock);
    t->refs++;
    pthread_mutex_unlock(&t->lock);
    if (pthread_create(&fc->thread, NULL, session_main, fc) != 0) {
        /* session_free drops the tree reference taken above. */
        session_free(fc);
        return ZKC_ENOMEM;
    }
    *ret_conn = &fc->base;
    return ZKC_OK;
}

static int inject_state(fake_conn *fc, int suspend)
{
    zkc_fake_tree *t = fc->tree;
    fk_state *st = state_item_new(suspend ? ZKC_STATE_SUSPENDED : ZKC_STATE_RECONNECTED);
    if (st == NULL)
        return ZKC_ENOMEM;
    pthread_mutex_lock(&t->lock);
    if (fc->closed || fc->expired || (suspend != 0) == (fc->suspended != 0)) {
        pthread_mutex_unlock(&t->lock);
        free(st);
        return ZKC_OK;
    }
    int wait = queue_wait_prepare(fc);
    uint64_t seq;
    if (suspend) {
        fc->suspended = 1;
        fc->hold = 1;
        seq = queue_push(fc, &st->it);
    } else {
        fc->suspended = 0;
        seq = session_reconnect(fc, st);
    }
    pthread_mutex_unlock(&t->lock);
    if (wait)
        queue_wait(fc, seq);
    return ZKC_OK;
}

int zkc_fake_inject(zkc_conn *c, zkc_fake_fault fault, unsigned n)
{
    if (c == NULL || c->ops != &fake_ops)
        return ZKC_EBADARGUMENTS;
    fake_conn *fc = (fake_conn *)c;
    zkc_fake_tree *t = fc->tree;
    switch (fault) {
    case ZKC_FAKE_LOSS_BEFORE:
    case ZKC_FAKE_LOSS_AFTER:
        pthread_mutex_lock(&t->lock);
        if (fault == ZKC_FAKE_LOSS_BEFORE)
            fc->loss_before = n;
        else
            fc->loss_after = n;
        pthread_mutex_unlock(&t->lock);
        return ZKC_OK;
    case ZKC_FAKE_EXPIRE: {
        uint64_t seq = 0;
        int wait = 0;
        pthread_mutex_lock(&t->lock);
        if (!fc->closed && !fc->expired) {
            fc->expired = 1;
            wait = queue_wait_prepare(fc);
            /* The state first, so a watch that ends with expiry finds
             * the session EXPIRED already. */
            seq = queue_push(fc, &fc->expire_item->it);
            fc->expire_item = NULL;
            session_end(t, fc, ZKC_EVENT_SESSION_EXPIRED, 1);
        }
        pthread_mutex_unlock(&t->lock);
        if (wait)
            queue_wait(fc, seq);
        return ZKC_OK;
    }
    case ZKC_FAKE_DELAY:
        pthread_mutex_lock(&fc->qlock);
        fc->delay_ms = n;
        pthread_mutex_unlock(&fc->qlock);
        return ZKC_OK;
    case ZKC_FAKE_SUSPEND:
        return inject_state(fc, n != 0);
    }
    return ZKC_EBADARGUMENTS;
}

int zkc_fake_add_auth(zkc_conn *c, const char *scheme, const char *cred)
{
    if (c == NULL || c->ops != &fake_ops || scheme == NULL || cred == NULL)
        return ZKC_EBADARGUMENTS;
    fake_conn *fc = (fake_conn *)c;
    char *id = NULL;
    if (strcmp(scheme, "digest") == 0) {
        /* DigestAuthenticationProvider.generateDigest: the user part
         * before the first ':', and the hash of the whole string. */
        uint8_t h[ZKC_SHA1_LEN];
        zkc__sha1(cred, strlen(cred), h);
        char *b64 = zkc_base64_encode(h, sizeof h);
        const char *colon = strchr(cred, ':');
        size_t ulen = colon != NULL ? (size_t)(colon - cred) : strlen(cred);
        id = b64 != NULL ? fmt_msg("%.*s:%s", (int)ulen, cred, b64) : NULL;
        free(b64);
        if (id == NULL)
            return ZKC_ENOMEM;
    } else if (strcmp(scheme, "ip") == 0) {
        unsigned char a[16];
        size_t alen;
        unsigned bits;
        if (strchr(cred, '/') != NULL || !ip_parse(cred, a, &alen, &bits))
            return ZKC_EAUTHFAILED;
        id = strdup(cred);
        if (id == NULL)
            return ZKC_ENOMEM;
    } else {
        return ZKC_EAUTHFAILED;
    }
    zkc_fake_tree *t = fc->tree;
    pthread_mutex_lock(&t->lock);
    int rc = fc->expired ? ZKC_ESESSIONEXPIRED : session_add_id(fc, scheme, id);
    pthread_mutex_unlock(&t->lock);
    free(id);
    return rc;
}

/* ------------------------------------------------------------------ */
/* JSON load and dump.                                                 */
/* ------------------------------------------------------------------ */

typedef struct load_entry {
    char *path;
    char *data;
    size_t len;
} load_entry;

static int load_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const load_entry *)a)->path, ((const load_entry *)b)->path);
}

static void load_entries_free(load_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].path);
        free(e[i].data);
    }
    free(e);
}

/* One JSON value to node data: a string is its bytes, {"base64": "..."}
 * is decoded, anything else is its compact JSON text. */
static int load_value(json_t *v, char **ret, size_t *ret_len)
{
    if (json_is_string(v)) {
        *ret_len = json_string_length(v);
        *ret = zkc__memdup(json_string_value(v), *ret_len);
        return *ret == NULL ? ZKC_ENOMEM : ZKC_OK;
    }
    json_t *b =
        json_is_object(v) && json_object_size(v) == 1 ? json_object_get(v, "base64") : NULL;
    if (b != NULL) {
        if (!json_is_string(b))
            return ZKC_EBADDATA;
        return zkc_base64_decode(json_string_value(b), json_string_length(b), ret, ret_len);
    }
    *ret = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (*ret == NULL)
        return ZKC_ENOMEM;
    *ret_len = strlen(*ret);
    /* jansson's allocation: hand back one of ours. */
    char *copy = zkc__memdup(*ret, *ret_len);
    free(*ret);
    *ret = copy;
    return copy == NULL ? ZKC_ENOMEM : ZKC_OK;
}

/* Create the node at path (parents first) or set its data.  Tree lock
 * held; nothing on the way is ephemeral (checked before). */
static int load_put(zkc_fake_tree *t, const load_entry *e)
{
    size_t len = strlen(e->path);
    fk_node *n = node_find(t, e->path, len);
    if (n != NULL) {
        if (n->len == e->len && (e->len == 0 || memcmp(n->data, e->data, e->len) == 0))
            return ZKC_OK;
        char *data = zkc__memdup(e->data, e->len);
        if (data == NULL)
            return ZKC_ENOMEM;
        free(n->data);
        n->data = data;
        n->len = e->len;
        n->version = inc32(n->version);
        n->mzxid = ++t->zxid;
        n->mtime = zkc__wall_ms();
        watches_fire(t, n->link.key, n->link.klen, WL_DATA, ZKC_EVENT_CHANGED);
        return ZKC_OK;
    }
    /* Walk down from the first missing ancestor. */
    size_t at = 1;
    fk_node *p = t->root;
    while (at < len) {
        size_t end = at;
        while (end < len && e->path[end] != '/')
            end++;
        fk_node *kid = node_find(t, e->path, end);
        if (kid == NULL) {
            int leaf = end == len;
            kid = node_new(e->path, end, leaf ? e->data : NULL, leaf ? e->len : 0);
            if (kid == NULL || node_reserve_kid(p) != ZKC_OK) {
                node_free(kid);
                return ZKC_ENOMEM;
            }
            t->acl_open->refs++;
            kid->acl = t->acl_open;
            node_link(t, p, kid, ++t->zxid, zkc__wall_ms());
            fire_created(t, kid);
        }
        p = kid;
        at = end + 1;
    }
    return ZKC_OK;
}

static int load_root(zkc_fake_tree *t, json_t *root, const json_error_t *jerr, const char *what)
{
    if (root == NULL) {
        zkc__set_errmsg("load %s: not JSON: line %d column %d: %s", what, jerr->line,
                        jerr->column, jerr->text);
        return ZKC_EBADDATA;
    }
    if (!json_is_object(root)) {
        zkc__set_errmsg("load %s: not a JSON object", what);
        json_decref(root);
        return ZKC_EBADDATA;
    }
    size_t n = json_object_size(root);
    load_entry *ents = calloc(n > 0 ? n : 1, sizeof *ents);
    if (ents == NULL) {
        json_decref(root);
        return ZKC_ENOMEM;
    }
    size_t got = 0;
    int rc = ZKC_OK;
    const char *key;
    size_t klen;
    json_t *val;
#if JANSSON_VERSION_HEX >= 0x020e00
    json_object_keylen_foreach(root, key, klen, val)
#else
    json_object_foreach(root, key, val)
#endif
    {
#if JANSSON_VERSION_HEX < 0x020e00
        klen = strlen(key);
#endif
        /* A key with a NUL inside ("\u0000") is not a path either. */
        if (strlen(key) != klen || zkc_path_validate(key, false) != ZKC_OK) {
            zkc__set_errmsg("load %s: bad path \"%s\"", what, key);
            rc = ZKC_EBADPATH;
            break;
        }
        rc = load_value(val, &ents[got].data, &ents[got].len);
        if (rc == ZKC_OK && ents[got].len > ZKC_MAX_DATA)
            rc = ZKC_EBADDATA;
        if (rc == ZKC_OK) {
            ents[got].path = strdup(key);
            if (ents[got].path == NULL)
                rc = ZKC_ENOMEM;
        }
        got++;
        if (rc != ZKC_OK) {
            if (rc == ZKC_EBADDATA)
                zkc__set_errmsg("load %s: %s: bad data (bad base64, or over %d bytes)", what,
                                key, ZKC_MAX_DATA);
            else
                zkc__set_errmsg("load %s: out of memory", what);
            break;
        }
    }
    json_decref(root);
    if (rc != ZKC_OK) {
        load_entries_free(ents, got);
        return rc;
    }
    /* Parents before children: a parent is a prefix, so it sorts first. */
    qsort(ents, got, sizeof *ents, load_entry_cmp);

    pthread_mutex_lock(&t->lock);
    /* All or nothing, but for memory: refuse before changing anything if
     * a path goes through an ephemeral node. */
    for (size_t i = 0; i < got && rc == ZKC_OK; i++) {
        const char *p = ents[i].path;
        size_t len = strlen(p);
        for (size_t end = 1; end < len; end++) {
            if (p[end] != '/')
                continue;
            fk_node *a = node_find(t, p, end);
            if (a == NULL)
                break;
            if (a->owner != 0) {
                zkc__set_errmsg("load %s: %s: %.*s is ephemeral", what, p, (int)end, p);
                rc = ZKC_ENOCHILDRENFOREPHEMERALS;
                break;
            }
        }
    }
    for (size_t i = 0; i < got && rc == ZKC_OK; i++) {
        rc = load_put(t, &ents[i]);
        if (rc != ZKC_OK)
            zkc__set_errmsg("load %s: %s: out of memory", what, ents[i].path);
    }
    pthread_mutex_unlock(&t->lock);
    load_entries_free(ents, got);
    return rc;
}

int zkc_fake_tree_load_json_string(zkc_fake_tree *t, const char *json)
{
    if (t == NULL || json == NULL) {
        zkc__set_errmsg("load: NULL argument");
        return ZKC_EBADARGUMENTS;
    }
    json_error_t jerr;
    json_t *root =
        json_loads(json, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    return load_root(t, root, &jerr, "<string>");
}

int zkc_fake_tree_load_json(zkc_fake_tree *t, const char *filename)
{
    if (t == NULL || filename == NULL) {
        zkc__set_errmsg("load: NULL argument");
        return ZKC_EBADARGUMENTS;
    }
    FILE *f = fopen(filename, "rb");
    if (f == NULL) {
        zkc__set_errmsg("load %s: %s", filename, strerror(errno));
        return ZKC_EIO;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int err = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap == 0 ? 65536 : cap * 2;
            char *nb = ncap > cap ? realloc(buf, ncap) : NULL;
            if (nb == NULL) {
                err = ENOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) {
            if (ferror(f))
                err = errno != 0 ? errno : EIO;
            break;
        }
    }
    fclose(f);
    if (err != 0) {
        free(buf);
        zkc__set_errmsg("load %s: %s", filename, strerror(err));
        return err == ENOMEM ? ZKC_ENOMEM : ZKC_EIO;
    }
    json_error_t jerr;
    json_t *root = json_loadb(buf != NULL ? buf : "", len,
                              JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    free(buf);
    return load_root(t, root, &jerr, filename);
}

/* Node data as a JSON value: a string when it is UTF-8, else base64. */
static json_t *dump_value(const fk_node *n)
{
    json_t *v = json_stringn(n->data, n->len);
    if (v != NULL)
        return v;
    char *b = zkc_base64_encode((const unsigned char *)n->data, n->len);
    if (b == NULL)
        return NULL;
    v = json_pack("{s:s}", "base64", b);
    free(b);
    return v;
}

static int path_in_zookeeper(const char *p)
{
    return strncmp(p, "/zookeeper", 10) == 0 && (p[10] == '\0' || p[10] == '/');
}

int zkc_fake_tree_dump_json(zkc_fake_tree *t, const char *root, char **ret_json)
{
    if (t == NULL || root == NULL || ret_json == NULL) {
        zkc__set_errmsg("dump: NULL argument");
        return ZKC_EBADARGUMENTS;
    }
    if (zkc_path_validate(root, false) != ZKC_OK) {
        zkc__set_errmsg("dump %s: bad path", root);
        return ZKC_EBADPATH;
    }
    json_t *obj = json_object();
    if (obj == NULL)
        return ZKC_ENOMEM;
    int skip_zk = !path_in_zookeeper(root);
    int rc = ZKC_OK;

    pthread_mutex_lock(&t->lock);
    fk_node *top = node_find(t, root, strlen(root));
    size_t cap = 64, depth = 0;
    fk_node **stack = top != NULL ? malloc(cap * sizeof *stack) : NULL;
    if (top == NULL) {
        zkc__set_errmsg("dump %s: node does not exist", root);
        rc = ZKC_ENONODE;
    } else if (stack == NULL) {
        rc = ZKC_ENOMEM;
    } else {
        stack[depth++] = top;
    }
    while (rc == ZKC_OK && depth > 0) {
        fk_node *n = stack[--depth];
        if (skip_zk && path_in_zookeeper(n->link.key))
            continue;
        json_t *v = dump_value(n);
        if (v == NULL || json_object_set_new_nocheck(obj, n->link.key, v) != 0) {
            rc = ZKC_ENOMEM;
            break;
        }
        if (depth + n->nkids > cap) {
            size_t ncap = (depth + n->nkids) * 2;
            fk_node **ns = realloc(stack, ncap * sizeof *ns);
            if (ns == NULL) {
                rc = ZKC_ENOMEM;
                break;
            }
            stack = ns;
            cap = ncap;
        }
        for (size_t i = 0; i < n->nkids; i++)
            stack[depth++] = n->kids[i];
    }
    pthread_mutex_unlock(&t->lock);
    free(stack);

    if (rc == ZKC_OK) {
        /* Into our own allocation, whatever allocator jansson was given. */
        size_t flags = JSON_INDENT(2) | JSON_SORT_KEYS;
        size_t need = json_dumpb(obj, NULL, 0, flags);
        char *out = need > 0 ? malloc(need + 1) : NULL;
        if (out == NULL || json_dumpb(obj, out, need, flags) != need) {
            free(out);
            rc = ZKC_ENOMEM;
        } else {
            out[need] = '\0';
            *ret_json = out;
        }
    }
    json_decref(obj);
    return rc;
}
