/*
 * fake_impl.h: the inside of the fake ZooKeeper (the files of conn/fake/):
 * an in-memory ZooKeeper 3.8 server and its sessions (fakezk), behind the
 * zkc_conn interface.  Its types, the helpers its files share, and which
 * file implements each.  Not installed.
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
#ifndef ZKC_FAKE_IMPL_H
#define ZKC_FAKE_IMPL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "zkcell/fake.h"
#include "zkcell/sys/conn_impl.h"

typedef struct fake_conn fake_conn;
typedef struct fk_reg fk_reg;

/* The hash table of strings (fake_htab.c): intrusive and chained. */
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
    unsigned loss_skip; /* operations to let through before the loss */
    uint64_t nops;      /* operations submitted (a multi is one) */
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

static inline char *fk_fmt_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *fk_fmt_msg(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

/* Wrapping increments, as Java's int arithmetic does. */
static inline int32_t fk_inc32(int32_t v)
{
    return (int32_t)(uint32_t)((uint32_t)v + 1u);
}

/* Set an error detail on d (best effort). */
#define DONE_MSG(d, ...)                                                                       \
    do {                                                                                       \
        free((d)->errmsg);                                                                     \
        (d)->errmsg = fk_fmt_msg(__VA_ARGS__);                                                 \
        (d)->res.errmsg = (d)->errmsg;                                                         \
    } while (0)

/* A multi's undo record of one operation (fake_multi.c). */
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

/* fake_htab.c */
fk_hlink *fk_htab_find(const fk_htab *h, const char *key, size_t klen);
int fk_htab_init(fk_htab *h, size_t buckets);
void fk_htab_insert(fk_htab *h, fk_hlink *l);
void fk_htab_remove(fk_htab *h, fk_hlink *l);

/* fake_acl.c */
fk_acl *fk_acl_alloc(size_t count);
int fk_acl_check(const fake_conn *fc, const fk_acl *a, uint32_t perm);
int fk_acl_fixup(zkc_fake_tree *t, fake_conn *fc, const zkc_acl_list *in, fk_acl **ret);
int fk_acl_push(fk_acl *a, uint32_t perms, const char *scheme, const char *id);
void fk_acl_unref(fk_acl *a);
int fk_ip_parse(const char *s, unsigned char addr[16], size_t *alen, unsigned *bits);

/* fake_tree.c */
fk_node *fk_node_find(zkc_fake_tree *t, const char *path, size_t len);
void fk_node_free(fk_node *n);
void fk_node_link(zkc_fake_tree *t, fk_node *p, fk_node *n, int64_t zxid, int64_t now);
fk_node *fk_node_new(const char *path, size_t plen, const void *data, size_t len);
int fk_node_reserve_kid(fk_node *p);
void fk_node_stat(const fk_node *n, zkc_stat *st);
void fk_node_unlink(zkc_fake_tree *t, fk_node *n, int64_t zxid);
size_t fk_parent_len(const char *path, size_t len);
int fk_path_is_special(const char *path);
void fk_tree_unref(zkc_fake_tree *t);

/* fake_queue.c */
void fk_done_clear(fk_done *d, int rc, const char *msg);
void fk_done_free(fk_done *d);
uint64_t fk_queue_push(fake_conn *fc, fk_item *it);
void fk_queue_wait(fake_conn *fc, uint64_t seq);
int fk_queue_wait_prepare(fake_conn *fc);
void *fk_session_main(void *arg);
fk_state *fk_state_item_new(zkc_state s);

/* fake_watch.c */
void fk_fire_created(zkc_fake_tree *t, const fk_node *n);
void fk_fire_deleted(zkc_fake_tree *t, const char *path, size_t plen, const fk_node *parent);
void fk_node_delete(zkc_fake_tree *t, fk_node *n, int64_t zxid);
int fk_reg_add(zkc_fake_tree *t, fake_conn *fc, fk_reg *r, const char *path, int which);
void fk_session_end(zkc_fake_tree *t, fake_conn *fc, zkc_event_type ev, int alive);
void fk_watches_fire(zkc_fake_tree *t, const char *path, size_t plen, int which,
                     zkc_event_type ev);

/* fake_ops.c: the server's checks, one implementation for single
 * operations and multi; d gets the detail of a refusal. */
int fk_check_delete(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d,
                    fk_node **ret_node);
int fk_check_node(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, uint32_t perm,
                  fk_done *d, fk_node **ret_node);
char *fk_node_set_data(fk_node *n, char *data, size_t len, int64_t zxid);
int fk_create_prepare(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d,
                      fk_node **ret_parent, fk_node **ret_node);
int fk_op_apply(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d,
                fk_reg *reg, int *used);
int fk_version_ok(int32_t want, int32_t have);

/* fake_multi.c */
int fk_multi_prepare(fk_done *d, size_t n);
int fk_op_multi(zkc_fake_tree *t, fake_conn *fc, const zkc_request *ops, size_t nops,
                fk_done *d, mundo *undo);

/* fake_session.c */
void fk_session_free(fake_conn *fc);

#endif
