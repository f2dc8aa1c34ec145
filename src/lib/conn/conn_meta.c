/*
 * conn_meta.c: the cell router (the seed's MetaConn) as a zkc_conn.
 *
 * Each operation is copied into a struct mop, its path's cell worked out
 * (/zk/local rewritten to the real cell), and sent to that cell's
 * connection from the cache.  When the connection is there, the submit
 * goes straight through on the caller's thread (the fast path: one copy,
 * two short locks).  Otherwise, and for every retry, the operation joins
 * its cell's queue and one of the router's threads takes it: these
 * threads may block in a dial, the completion threads never do.  A cell
 * queue is served by one thread at a time, so operations of one cell are
 * sent in submission order.
 *
 * The retry policy (what is safe to repeat after a lost reply) is
 * written down in include/zkcell/meta.h; inner_done() and check_done()
 * implement it, multi_reply() for a multi.  A multi is one struct mop
 * too: all its operations name one cell, and it travels as a single
 * operation.  A create of a cell's own node /zk/<cell> on a server
 * without /zk makes /zk there first (PHASE_MKZK), then runs again once.
 * Address lookup is cells.c's, dialing conn_cache.c's: the router knows
 * no backend, only zkc_conn and the cache, which dials through the
 * caller's dial callback (or dial_default.c's).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zkcell/cells.h"
#include "zkcell/meta.h"
#include "zkcell/sys/conn_impl.h"

#define DEFAULT_MAX_ATTEMPTS 5
#define DEFAULT_BACKOFF_MIN_MS 100
#define DEFAULT_BACKOFF_MAX_MS 3000
#define DEFAULT_BUDGET_MS 30000
#define DEFAULT_THREADS 4
#define MAX_THREADS 64
/* Not an error code: the fast path found no connection ready. */
#define ZKC_EAGAIN_FAST 1

typedef struct meta_conn meta_conn;

typedef enum mop_kind {
    MOP_ROUTE = 0, /* an operation for a cell's connection */
    MOP_KNOWN,     /* children("/zk"): the known cells */
    MOP_FAIL,      /* a path the router cannot route: complete with fail_rc */
    MOP_EMPTY      /* a multi of no operations: complete with no results */
} mop_kind;

typedef enum mop_phase {
    PHASE_RUN = 0, /* send the operation */
    PHASE_CHECK,   /* a create lost its reply: does the node exist? */
    PHASE_MKZK     /* a create of /zk/<cell> found no /zk: create /zk */
} mop_phase;

/* One operation of a multi, as the caller gave it and as it is sent. */
typedef struct mitem {
    char *path;     /* the caller's */
    char *real;     /* /zk/local rewritten */
    bool rewritten; /* real differs from path */
    void *data;
    zkc_acl_list *acl;
} mitem;

/* One operation, from submit to completion. */
typedef struct mop {
    meta_conn *m;
    struct mop *next; /* in a cell queue or the timer list */
    mop_kind kind;
    mop_phase phase;
    zkc_request req;  /* as sent: the real path, copies of data and acl */
    char *path;       /* the caller's path */
    char *real;       /* the real path (req.path) */
    char *cell;       /* the real cell; "" for MOP_KNOWN and MOP_FAIL */
    bool rewritten;   /* real differs from path */
    void *data;
    zkc_acl_list *acl;
    zkc_done_fn done;
    void *ud;
    unsigned attempts;  /* operations sent so far */
    bool blocking;      /* from a blocking call (meta_call) */
    int64_t start;      /* submit time */
    int64_t due;        /* when a scheduled retry may run */
    bool lost;          /* an earlier attempt lost its reply */
    int64_t session;    /* the session the last create went to */
    int fail_rc;
    char *fail_msg;
    bool made_zk;       /* the fresh-cell step (PHASE_MKZK) ran once */
    /* A multi (req.op ZKC_OP_MULTI): its operations as sent. */
    zkc_request *mops;
    mitem *mitems;
    size_t nmops;
    bool checks_only;   /* retried like a read */
    /* The connection the operation is in flight on, counted busy in the
     * cache until the completion, so that the cache's bound (max_conns)
     * never closes a connection under an operation.  Identity only. */
    zkc_conn *held;
} mop;

/* The queue of one cell. */
typedef struct mcell {
    char *name;
    mop *head, *tail;
    bool busy; /* a router thread is sending from this queue */
    struct mcell *next;
} mcell;

/* A watch on a rewritten path: the caller holds outer (which reports the
 * caller's path); inner is the cell connection's.  Fired inners wait in
 * the reap list to be freed by a router thread, since a watch callback
 * must not free its own watch. */
typedef struct wlink {
    zkc_watch *inner;
    zkc_watch *outer;
    meta_conn *m;
    struct wlink *next;
} wlink;

struct meta_conn {
    zkc_conn base;
    zkc_conn_cache *cache;
    /* The cache as completions see it, to count a connection's
     * operations done; NULL once closing frees the cache. */
    pthread_mutex_t busy_lock;
    zkc_conn_cache *busy_cache;
    zkc_cells *cells;
    unsigned max_attempts;
    int backoff_min_ms;
    int backoff_max_ms;
    int budget_ms;
    zkc_cancel *cancel;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* work for the threads, or stopping */
    pthread_cond_t idle; /* submitting went to 0 */
    mcell *queues;
    mop *timers; /* sorted by due */
    wlink *reap;
    bool stopping;
    int submitting; /* callers on the fast path */
    pthread_t *threads;
    unsigned nthreads;
    /* The struct lives while any of these do: the owner (until close),
     * each router thread, each operation sent to a cell (a completion
     * may come after close, when a close from a cell's own completion
     * thread lets that thread finish its queue). */
    atomic_int refs;
};

static const struct zkc_conn_ops meta_ops;

static void meta_free(meta_conn *m);

static void meta_unref(meta_conn *m)
{
    if (atomic_fetch_sub(&m->refs, 1) == 1)
        meta_free(m);
}

/* ---- operations ---- */

static bool is_read(zkc_op op)
{
    return op == ZKC_OP_GET || op == ZKC_OP_CHILDREN || op == ZKC_OP_EXISTS ||
           op == ZKC_OP_GET_ACL;
}

static void mop_free(mop *op)
{
    if (op == NULL)
        return;
    for (size_t i = 0; op->mitems != NULL && i < op->nmops; i++) {
        free(op->mitems[i].path);
        free(op->mitems[i].real);
        free(op->mitems[i].data);
        zkc_acl_list_free(op->mitems[i].acl);
    }
    free(op->mitems);
    free(op->mops);
    free(op->path);
    free(op->real);
    free(op->cell);
    free(op->data);
    zkc_acl_list_free(op->acl);
    free(op->fail_msg);
    free(op);
}

static void chain_fired(zkc_watch *w, const zkc_event *ev, void *userdata)
{
    wlink *l = userdata;
    (void)w;
    meta_conn *m = l->m;
    zkc_impl_watch_fire(l->outer, ev->type);
    pthread_mutex_lock(&m->lock);
    l->next = m->reap;
    m->reap = l;
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

/* A watch that reports the caller's path; inner is taken over. */
static zkc_watch *wrap_watch(meta_conn *m, zkc_watch *inner, const char *path)
{
    zkc_watch *outer = zkc_impl_watch_new(path);
    wlink *l = outer != NULL ? malloc(sizeof *l) : NULL;
    if (l == NULL) {
        /* Out of memory: hand out the cell's watch (the real path). */
        zkc_impl_watch_discard(outer);
        return inner;
    }
    l->inner = inner;
    l->outer = outer;
    l->m = m;
    l->next = NULL;
    zkc_watch_set_callback(inner, chain_fired, l);
    return outer;
}

static void reap_links(wlink *l)
{
    while (l != NULL) {
        wlink *next = l->next;
        zkc_watch_free(l->inner);
        free(l);
        l = next;
    }
}

/* "/zk/" */
#define CELL_HEAD (2 + (sizeof ZKC_MAGIC_PREFIX - 1))

/* A path the cell's server gave (/zk/<cell>/...) in the caller's terms,
 * /zk/local/... (malloc'd), or NULL. */
static char *to_local(const char *cell, const char *created)
{
    size_t cl = strlen(cell);
    if (strlen(created) < CELL_HEAD + cl)
        return NULL;
    const char *rest = created + CELL_HEAD + cl;
    size_t rl = strlen(rest);
    char *s = malloc(CELL_HEAD + 5 + rl + 1);
    if (s != NULL) {
        memcpy(s, "/" ZKC_MAGIC_PREFIX "/local", CELL_HEAD + 5);
        memcpy(s + CELL_HEAD + 5, rest, rl + 1);
    }
    return s;
}

/*
 * Complete op with res (NULL: an empty result), as the caller must see
 * it, and free op.  Nothing may touch the router after this: the
 * completion may have closed it.
 */
static void finish(mop *op, const zkc_result *res)
{
    zkc_result r = {0};
    if (res != NULL)
        r = *res;
    r.op = op->req.op;
    r.path = op->path;
    char *created = NULL;
    if (op->rewritten) {
        if (r.watch != NULL)
            r.watch = wrap_watch(op->m, r.watch, op->path);
        /* The created path in the caller's terms: /zk/local/... */
        if (r.created_path != NULL && (created = to_local(op->cell, r.created_path)) != NULL)
            r.created_path = created;
    }
    /* A multi's created paths likewise, for the operations given under
     * /zk/local. */
    zkc_op_result *ov = NULL;
    char **names = NULL;
    if (op->mitems != NULL && r.ops != NULL && r.nops == op->nmops && r.nops > 0) {
        bool any = false;
        for (size_t i = 0; i < r.nops; i++)
            any |= op->mitems[i].rewritten && r.ops[i].created_path != NULL;
        if (any) {
            ov = malloc(r.nops * sizeof *ov);
            names = calloc(r.nops, sizeof *names);
        }
        if (ov != NULL && names != NULL) {
            memcpy(ov, r.ops, r.nops * sizeof *ov);
            for (size_t i = 0; i < r.nops; i++) {
                if (!op->mitems[i].rewritten || ov[i].created_path == NULL)
                    continue;
                names[i] = to_local(op->cell, ov[i].created_path);
                if (names[i] != NULL)
                    ov[i].created_path = names[i];
            }
            r.ops = ov;
        }
    }
    zkc_done_fn done = op->done;
    void *ud = op->ud;
    done(&r, ud);
    free(created);
    for (size_t i = 0; names != NULL && i < r.nops; i++)
        free(names[i]);
    free(names);
    free(ov);
    mop_free(op);
}

static void finish_err(mop *op, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish_err(mop *op, int rc, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    zkc_result r = {.rc = rc, .errmsg = msg};
    finish(op, &r);
}

/* ---- queues (lock held) ---- */

static mcell *find_queue(meta_conn *m, const char *name, bool add)
{
    for (mcell *q = m->queues; q != NULL; q = q->next)
        if (strcmp(q->name, name) == 0)
            return q;
    if (!add)
        return NULL;
    mcell *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->name = strdup(name);
    if (q->name == NULL) {
        free(q);
        return NULL;
    }
    q->next = m->queues;
    m->queues = q;
    return q;
}

static void queue_push(mcell *q, mop *op)
{
    op->next = NULL;
    if (q->tail != NULL)
        q->tail->next = op;
    else
        q->head = op;
    q->tail = op;
}

static void timer_insert(meta_conn *m, mop *op)
{
    mop **pp = &m->timers;
    while (*pp != NULL && (*pp)->due <= op->due)
        pp = &(*pp)->next;
    op->next = *pp;
    *pp = op;
}

/* ---- sending ---- */

static void inner_done(const zkc_result *res, void *userdata);

/* In conn_cache.c: count an operation in flight on conn (+1, -1). */
void zkc__conn_cache_busy(zkc_conn_cache *cache, zkc_conn *conn, int delta);
/* In conn.c: a blocking call's submit, maybe answered on this thread. */
int zkc__call_or_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *userdata);

/* Send op on conn; on_caller: from the thread that submitted it.  On
 * ZKC_OK op belongs to the completion, which may already have run: do
 * not touch it. */
static int send_op(mop *op, zkc_conn *conn, bool on_caller)
{
    zkc_request r = op->req;
    bool multi = false;
    if (op->phase == PHASE_CHECK) {
        r = (zkc_request){.op = ZKC_OP_EXISTS, .path = op->real, .version = -1};
    } else if (op->phase == PHASE_MKZK) {
        /* As zkc_create_recursive makes a folder. */
        r = (zkc_request){.op = ZKC_OP_CREATE,
                          .path = "/" ZKC_MAGIC_PREFIX,
                          .version = -1,
                          .acl = zkc_acl_world(ZKC_PERM_DIRECTORY)};
    } else if (r.op == ZKC_OP_MULTI) {
        multi = true;
    } else if (r.op == ZKC_OP_CREATE) {
        op->session = zkc_conn_session_id(conn);
    }
    op->attempts++;
    meta_conn *m = op->m;
    atomic_fetch_add(&m->refs, 1);
    op->held = conn;
    zkc__conn_cache_busy(m->cache, conn, 1);
    /* A blocking call sent on its caller's thread (the fast path) goes
     * as a blocking call to the cell too; a router thread submits. */
    bool call = on_caller && op->blocking && !multi && op->phase == PHASE_RUN;
    int rc = multi  ? zkc_amulti(conn, op->mops, op->nmops, inner_done, op)
             : call ? zkc__call_or_submit(conn, &r, inner_done, op)
                    : zkc_submit(conn, &r, inner_done, op);
    if (rc != ZKC_OK) {
        op->held = NULL;
        zkc__conn_cache_busy(m->cache, conn, -1);
        atomic_fetch_sub(&m->refs, 1); /* never the last: the caller holds one */
    }
    return rc;
}

/*
 * Schedule another attempt of op after a delay (none when now is true),
 * or, when the attempts, the budget or the cancel token say no, complete
 * it with rc and detail.  Either way op is consumed.
 */
/* Put op on the timer list to be sent again after delay ms.  Returns
 * false (op untouched) when the router is closing. */
static bool schedule(mop *op, int delay)
{
    meta_conn *m = op->m;
    pthread_mutex_lock(&m->lock);
    if (m->stopping) {
        pthread_mutex_unlock(&m->lock);
        return false;
    }
    op->due = zkc_impl_now_ms() + delay;
    timer_insert(m, op);
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
    return true;
}

static void retry_or_fail(mop *op, bool now, int rc, const char *detail)
{
    meta_conn *m = op->m;
    const char *why = NULL;
    char buf[384];
    int64_t t = zkc_impl_now_ms();
    int delay = now ? 0 : zkc_impl_backoff_delay(m->backoff_min_ms, m->backoff_max_ms, op->attempts);
    if (op->attempts >= m->max_attempts) {
        snprintf(buf, sizeof buf, "gave up after %u attempts on cell %s", op->attempts,
                 op->cell);
        why = buf;
    } else if (zkc_cancel_is_set(m->cancel)) {
        why = "retries cancelled";
    } else if (m->budget_ms >= 0 && t + delay - op->start > m->budget_ms) {
        snprintf(buf, sizeof buf, "retry budget of %d ms spent after %u attempts on cell %s",
                 m->budget_ms, op->attempts, op->cell);
        why = buf;
    }
    if (why == NULL) {
        if (schedule(op, delay))
            return;
        why = "connection closing";
    }
    finish_err(op, rc, "%s%s%s", detail, detail[0] != '\0' ? "; " : "", why);
}

/* A reply that never came: the request may or may not have been
 * applied.  The C client reports a request the server did not answer in
 * time as ZKC_EOPERATIONTIMEOUT: the same doubt as a lost connection. */
static bool reply_lost(int rc)
{
    return rc == ZKC_ECONNECTIONLOSS || rc == ZKC_EOPERATIONTIMEOUT;
}

/* The reply to the existence check of a create whose reply was lost. */
static void check_done(mop *op, const zkc_result *res)
{
    bool ephemeral = (op->req.flags & ZKC_EPHEMERAL) != 0;
    int rc = res->rc;
    if (rc == ZKC_OK && res->stat == NULL) {
        /* Not there: the lost attempt was not applied.  Create again. */
        op->phase = PHASE_RUN;
        retry_or_fail(op, true, ZKC_ECONNECTIONLOSS,
                      "the create's reply was lost and the node is not there");
        return;
    }
    if (rc == ZKC_OK) {
        if (ephemeral && res->stat->ephemeral_owner != 0 &&
            res->stat->ephemeral_owner == op->session) {
            /* Ours beyond doubt: an ephemeral of the very session. */
            zkc_result r = {.rc = ZKC_OK, .created_path = op->real};
            finish(op, &r);
            return;
        }
        if (ephemeral && res->stat->ephemeral_owner != 0 && op->session != 0) {
            /* Another session's ephemeral: the lost attempt, made by
             * op->session, cannot have made it. */
            finish_err(op, ZKC_ENODEEXISTS,
                       "the node exists, an ephemeral of another session (0x%llx)",
                       (unsigned long long)res->stat->ephemeral_owner);
            return;
        }
        /* Present, and nothing tells whose: the outcome is unknown.
         * ZKC_ENODEEXISTS would say someone else made it, and a caller
         * such as zkc_retry_change would then read the node again and
         * apply its change a second time. */
        finish_err(op, ZKC_ECONNECTIONLOSS,
                   "an earlier attempt of this create lost its reply; the node exists now "
                   "and may be the one that attempt made");
        return;
    }
    char detail[700];
    snprintf(detail, sizeof detail,
             "the create's reply was lost; checking whether the node was made failed: %s%s%s",
             zkc_strerror(rc), res->errmsg != NULL ? ": " : "",
             res->errmsg != NULL ? res->errmsg : "");
    if (reply_lost(rc) || rc == ZKC_ESESSIONMOVED ||
        (!ephemeral && (rc == ZKC_ESESSIONEXPIRED || rc == ZKC_ECLOSING))) {
        retry_or_fail(op, false, ZKC_ECONNECTIONLOSS, detail);
        return;
    }
    if (rc == ZKC_ESESSIONEXPIRED) {
        /* An ephemeral create: whatever it made went with the session. */
        finish_err(op, rc, "%s", detail);
        return;
    }
    finish_err(op, ZKC_ECONNECTIONLOSS, "%s", detail);
}

/* After a lost reply, the errors the lost attempt itself would cause. */
static bool ambiguous(const mop *op, int rc)
{
    switch (op->req.op) {
    case ZKC_OP_SET:
    case ZKC_OP_SET_ACL:
        return rc == ZKC_EBADVERSION;
    case ZKC_OP_DELETE:
        return rc == ZKC_EBADVERSION || rc == ZKC_ENONODE;
    default:
        return false;
    }
}

/* The completion of an operation sent to a cell (its completion thread). */
static void handle_reply(mop *op, const zkc_result *res);

static void inner_done(const zkc_result *res, void *userdata)
{
    mop *op = userdata;
    meta_conn *m = op->m;
    zkc_conn *held = op->held;
    op->held = NULL;
    pthread_mutex_lock(&m->busy_lock);
    zkc__conn_cache_busy(m->busy_cache, held, -1);
    pthread_mutex_unlock(&m->busy_lock);
    handle_reply(op, res);
    meta_unref(m);
}

/* real is a cell's own node, /zk/<cell>. */
static bool is_cell_node(const char *real)
{
    return strncmp(real, "/" ZKC_MAGIC_PREFIX "/", CELL_HEAD) == 0 &&
           real[CELL_HEAD] != '\0' && strchr(real + CELL_HEAD, '/') == NULL;
}

/* A create of /zk/<cell> failed with ZKC_ENONODE: a fresh server with
 * no /zk.  Make /zk on the cell's connection, then send op again. */
static void start_mkzk(mop *op)
{
    op->made_zk = true;
    op->phase = PHASE_MKZK;
    if (!schedule(op, 0))
        finish_err(op, ZKC_ECLOSING, "the connection was closed");
}

static void mkzk_done(mop *op, const zkc_result *res)
{
    int rc = res->rc;
    if (rc == ZKC_OK || rc == ZKC_ENODEEXISTS) {
        op->phase = PHASE_RUN;
        if (!schedule(op, 0))
            finish_err(op, ZKC_ECLOSING, "the connection was closed");
        return;
    }
    char detail[700];
    snprintf(detail, sizeof detail,
             "cell %s's server has no /%s; creating it failed: %s%s%s", op->cell,
             ZKC_MAGIC_PREFIX, zkc_strerror(rc), res->errmsg != NULL ? ": " : "",
             res->errmsg != NULL ? res->errmsg : "");
    /* Creating /zk again is harmless (ZKC_ENODEEXISTS is fine), and
     * nothing of op was applied yet. */
    if (reply_lost(rc) || rc == ZKC_ESESSIONEXPIRED || rc == ZKC_ESESSIONMOVED ||
        rc == ZKC_ECLOSING) {
        retry_or_fail(op, false, rc, detail);
        return;
    }
    finish_err(op, rc, "%s", detail);
}

/* The reply to a multi.  Never repeated after a lost reply (it may have
 * been applied), unless it only checks versions. */
static void multi_reply(mop *op, const zkc_result *res, const char *detail)
{
    int rc = res->rc;
    if (op->checks_only && (reply_lost(rc) || rc == ZKC_ESESSIONEXPIRED ||
                            rc == ZKC_ESESSIONMOVED || rc == ZKC_ECLOSING)) {
        retry_or_fail(op, false, rc, detail);
        return;
    }
    if (reply_lost(rc)) {
        if (rc != ZKC_ECONNECTIONLOSS && detail[0] == '\0')
            detail = zkc_strerror(rc);
        finish_err(op, ZKC_ECONNECTIONLOSS,
                   "%s%sthe multi may or may not have been applied on cell %s (a multi "
                   "that writes is never repeated)",
                   detail, detail[0] != '\0' ? "; " : "", op->cell);
        return;
    }
    if (rc == ZKC_ENONODE && !op->made_zk && res->ops != NULL && res->nops == op->nmops) {
        /* Refused, so nothing applied: a create of /zk/<cell> on a
         * fresh server may go again once /zk is there. */
        for (size_t i = 0; i < res->nops; i++) {
            if (res->ops[i].rc == ZKC_OK)
                continue;
            if (res->ops[i].rc == ZKC_ENONODE && op->mops[i].op == ZKC_OP_CREATE &&
                is_cell_node(op->mops[i].path)) {
                start_mkzk(op);
                return;
            }
            break;
        }
    }
    finish(op, res);
}

static void handle_reply(mop *op, const zkc_result *res)
{
    int rc = res->rc;
    if (op->phase == PHASE_CHECK) {
        check_done(op, res);
        return;
    }
    if (op->phase == PHASE_MKZK) {
        mkzk_done(op, res);
        return;
    }
    /* The cell's own detail, unless it only repeats the code's text:
     * the code itself is the result's rc (and the blocking calls put its
     * text in front of errmsg), so it is not repeated here. */
    const char *detail = res->errmsg;
    if (detail == NULL || strcmp(detail, zkc_strerror(rc)) == 0)
        detail = "";
    zkc_op kind = op->req.op;
    if (kind == ZKC_OP_MULTI) {
        multi_reply(op, res, detail);
        return;
    }
    if (is_read(kind) && (reply_lost(rc) || rc == ZKC_ESESSIONEXPIRED ||
                          rc == ZKC_ESESSIONMOVED || rc == ZKC_ECLOSING)) {
        retry_or_fail(op, false, rc, detail);
        return;
    }
    if (reply_lost(rc)) {
        /* Writes report any lost reply as ZKC_ECONNECTIONLOSS (meta.h). */
        if (rc != ZKC_ECONNECTIONLOSS && detail[0] == '\0')
            detail = zkc_strerror(rc);
        rc = ZKC_ECONNECTIONLOSS;
        if (kind == ZKC_OP_CREATE && (op->req.flags & ZKC_SEQUENCE)) {
            finish_err(op, rc,
                       "%s%sthe node may or may not have been created (a sequential "
                       "create is never repeated)",
                       detail, detail[0] != '\0' ? "; " : "");
        } else if (kind == ZKC_OP_CREATE) {
            op->lost = true;
            op->phase = PHASE_CHECK;
            retry_or_fail(op, false, rc, detail);
        } else if (op->req.version >= 0) {
            op->lost = true;
            retry_or_fail(op, false, rc, detail);
        } else {
            finish_err(op, rc,
                       "%s%sthe write may or may not have been applied (a write without a "
                       "version is never repeated)",
                       detail, detail[0] != '\0' ? "; " : "");
        }
        return;
    }
    if (op->lost && ambiguous(op, rc)) {
        finish_err(op, ZKC_ECONNECTIONLOSS,
                   "an earlier attempt lost its reply and the retry got \"%s\": the earlier "
                   "attempt may have been applied",
                   zkc_strerror(rc));
        return;
    }
    if (kind == ZKC_OP_CREATE && rc == ZKC_ENONODE && !op->made_zk && is_cell_node(op->real)) {
        start_mkzk(op);
        return;
    }
    finish(op, res);
}

/* Send op from a router thread: dial if need be.  Consumes op. */
static void dispatch(meta_conn *m, mop *op)
{
    if (op->kind == MOP_KNOWN) {
        zkc_strings *cells = NULL;
        int rc = zkc_cells_known(m->cells, zkc_conn_cache_zkocc(m->cache), &cells);
        if (rc != ZKC_OK) {
            finish_err(op, rc, "%s", zkc_errmsg());
            return;
        }
        zkc_result r = {.rc = ZKC_OK, .children = cells};
        finish(op, &r);
        zkc_strings_free(cells);
        return;
    }
    if (op->kind == MOP_EMPTY) {
        static const zkc_op_result none;
        zkc_result r = {.rc = ZKC_OK, .ops = &none, .nops = 0};
        finish(op, &r);
        return;
    }
    if (op->kind == MOP_FAIL) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", op->fail_msg != NULL ? op->fail_msg : "");
        finish_err(op, op->fail_rc, "%s", msg);
        return;
    }
    zkc_conn *conn = NULL;
    int rc = zkc_conn_cache_get(m->cache, op->cell, &conn);
    if (rc != ZKC_OK) {
        finish_err(op, rc, "%s", zkc_errmsg());
        return;
    }
    rc = send_op(op, conn, false);
    zkc_conn_cache_release(m->cache, conn);
    if (rc != ZKC_OK)
        finish_err(op, rc, "cell %s: cannot send: %s", op->cell, zkc_strerror(rc));
}

/* ---- router threads ---- */

static void *router_main(void *arg)
{
    meta_conn *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->stopping) {
        if (m->reap != NULL) {
            wlink *l = m->reap;
            m->reap = NULL;
            pthread_mutex_unlock(&m->lock);
            reap_links(l);
            pthread_mutex_lock(&m->lock);
            continue;
        }
        int64_t now = zkc_impl_now_ms();
        while (m->timers != NULL && m->timers->due <= now) {
            mop *op = m->timers;
            m->timers = op->next;
            mcell *q = find_queue(m, op->cell, false);
            /* The queue exists: the operation went through it before,
             * or the fast path made it. */
            if (q == NULL) {
                pthread_mutex_unlock(&m->lock);
                finish_err(op, ZKC_ENOMEM, "out of memory");
                pthread_mutex_lock(&m->lock);
                continue;
            }
            queue_push(q, op);
        }
        mcell *q = m->queues;
        while (q != NULL && (q->head == NULL || q->busy))
            q = q->next;
        if (q != NULL) {
            mop *op = q->head;
            q->head = op->next;
            if (q->head == NULL)
                q->tail = NULL;
            q->busy = true;
            pthread_mutex_unlock(&m->lock);
            dispatch(m, op);
            pthread_mutex_lock(&m->lock);
            q->busy = false;
            continue;
        }
        if (m->timers != NULL) {
            zkc_impl_cond_wait_until(&m->cond, &m->lock, m->timers->due);
        } else {
            pthread_cond_wait(&m->cond, &m->lock);
        }
    }
    pthread_mutex_unlock(&m->lock);
    meta_unref(m);
    return NULL;
}

/* ---- the interface ---- */

/*
 * The cell of path (*ret_cell, "local" resolved) and the path as that
 * cell's server sees it (*ret_real, /zk/local rewritten; *ret_rewritten
 * says whether it was), both malloc'd.  Returns ZKC_OK, ZKC_ENOMEM, or
 * why path cannot be routed (ZKC_EBADPATH, ...; zkc_errmsg() says).
 */
static int resolve(meta_conn *m, const char *path, char **ret_cell, char **ret_real,
                   bool *ret_rewritten)
{
    const char *cell;
    size_t len;
    char *real_cell = NULL;
    int rc = zkc_cell_from_path(path, &cell, &len);
    if (rc == ZKC_OK) {
        if (len == 5 && memcmp(cell, "local", 5) == 0)
            rc = zkc_cells_local_cell(m->cells, &real_cell);
        else if ((real_cell = strndup(cell, len)) == NULL)
            rc = ZKC_ENOMEM;
    }
    if (rc != ZKC_OK)
        return rc;
    bool rewritten = strlen(real_cell) != len || memcmp(real_cell, cell, len) != 0;
    char *real;
    if (!rewritten) {
        real = strdup(path);
    } else {
        const char *rest = cell + len;
        size_t rl = strlen(rest), cl = strlen(real_cell);
        real = malloc(CELL_HEAD + cl + rl + 1);
        if (real != NULL) {
            memcpy(real, path, CELL_HEAD);
            memcpy(real + CELL_HEAD, real_cell, cl);
            memcpy(real + CELL_HEAD + cl, rest, rl + 1);
        }
    }
    if (real == NULL) {
        free(real_cell);
        return ZKC_ENOMEM;
    }
    *ret_cell = real_cell;
    *ret_real = real;
    *ret_rewritten = rewritten;
    return ZKC_OK;
}

/* Work out where op goes.  Returns ZKC_OK or ZKC_ENOMEM; a path that
 * cannot be routed makes op a MOP_FAIL. */
static int route(meta_conn *m, mop *op)
{
    const char *path = op->path;
    if (strcmp(path, "/" ZKC_MAGIC_PREFIX) == 0 && op->req.op == ZKC_OP_CHILDREN) {
        op->kind = MOP_KNOWN;
        return (op->cell = strdup("")) != NULL ? ZKC_OK : ZKC_ENOMEM;
    }
    int rc = resolve(m, path, &op->cell, &op->real, &op->rewritten);
    if (rc == ZKC_ENOMEM)
        return rc;
    if (rc != ZKC_OK) {
        op->kind = MOP_FAIL;
        op->fail_rc = rc;
        op->fail_msg = strdup(zkc_errmsg());
        op->cell = strdup("");
        return op->cell != NULL && op->fail_msg != NULL ? ZKC_OK : ZKC_ENOMEM;
    }
    op->req.path = op->real;
    return ZKC_OK;
}

static mop *mop_new(meta_conn *m, const zkc_request *req, zkc_done_fn done, void *ud)
{
    mop *op = calloc(1, sizeof *op);
    if (op == NULL)
        return NULL;
    op->m = m;
    op->req = *req;
    op->done = done;
    op->ud = ud;
    op->start = zkc_impl_now_ms();
    op->path = strdup(req->path);
    bool nomem = op->path == NULL;
    if (!nomem && req->data_len > 0) {
        op->data = malloc(req->data_len);
        nomem = op->data == NULL;
        if (!nomem)
            memcpy(op->data, req->data, req->data_len);
    }
    op->req.data = op->data;
    if (!nomem && req->acl != NULL) {
        op->acl = zkc_acl_list_dup(req->acl);
        nomem = op->acl == NULL;
    }
    op->req.acl = op->acl;
    if (nomem || route(m, op) != ZKC_OK) {
        mop_free(op);
        return NULL;
    }
    return op;
}

/*
 * A multi as one operation: every path routed, all to one cell.
 * Returns ZKC_OK with *ret, or an error with zkc_errmsg() saying why
 * (ZKC_EBADARGUMENTS for two cells, the routing error of a path, or
 * ZKC_ENOMEM).
 */
static int mop_new_multi(meta_conn *m, const zkc_request *ops, size_t nops, zkc_done_fn done,
                         void *ud, mop **ret)
{
    mop *op = calloc(1, sizeof *op);
    if (op == NULL)
        goto nomem;
    op->m = m;
    op->req = (zkc_request){.op = ZKC_OP_MULTI, .version = -1};
    op->done = done;
    op->ud = ud;
    op->start = zkc_impl_now_ms();
    op->nmops = nops;
    op->checks_only = true;
    if (nops == 0) {
        /* Nothing to send anywhere: a router thread completes it. */
        op->kind = MOP_EMPTY;
        op->path = strdup("/");
        op->cell = strdup("");
        op->req.path = op->path;
        if (op->path == NULL || op->cell == NULL)
            goto nomem;
        *ret = op;
        return ZKC_OK;
    }
    op->mops = calloc(nops, sizeof *op->mops);
    op->mitems = calloc(nops, sizeof *op->mitems);
    if (op->mops == NULL || op->mitems == NULL)
        goto nomem;
    size_t first = 0; /* the operation that named the cell */
    for (size_t i = 0; i < nops; i++) {
        const zkc_request *r = &ops[i];
        mitem *it = &op->mitems[i];
        char *cell = NULL;
        it->path = strdup(r->path);
        if (it->path == NULL)
            goto nomem;
        int rc = resolve(m, r->path, &cell, &it->real, &it->rewritten);
        if (rc == ZKC_ENOMEM)
            goto nomem;
        if (rc != ZKC_OK) {
            char why[600];
            snprintf(why, sizeof why, "%s", zkc_errmsg());
            zkc_impl_set_errmsg("multi: operation %zu (%s %s): %s%s%s", i, zkc_impl_op_name(r->op), r->path,
                            zkc_strerror(rc), why[0] != '\0' ? ": " : "", why);
            mop_free(op);
            return rc;
        }
        if (op->cell == NULL) {
            op->cell = cell;
            first = i;
        } else if (strcmp(op->cell, cell) != 0) {
            zkc_impl_set_errmsg("multi: %s: operation %zu (%s %s) is for cell %s and operation %zu "
                            "(%s %s) for cell %s; a multi is a transaction of one cell's "
                            "servers (send one per cell: they will not be atomic together)",
                            zkc_strerror(ZKC_EBADARGUMENTS), first, zkc_impl_op_name(ops[first].op),
                            ops[first].path, op->cell, i, zkc_impl_op_name(r->op), r->path, cell);
            free(cell);
            mop_free(op);
            return ZKC_EBADARGUMENTS;
        } else {
            free(cell);
        }
        op->mops[i] = *r;
        op->mops[i].path = it->real;
        if (r->data_len > 0) {
            if ((it->data = malloc(r->data_len)) == NULL)
                goto nomem;
            memcpy(it->data, r->data, r->data_len);
        }
        op->mops[i].data = it->data;
        if (r->acl != NULL && (it->acl = zkc_acl_list_dup(r->acl)) == NULL)
            goto nomem;
        op->mops[i].acl = it->acl;
        op->checks_only &= r->op == ZKC_OP_CHECK;
    }
    /* The result names the first operation's path, as the caller gave it. */
    op->path = strdup(op->mitems[0].path);
    if (op->path == NULL)
        goto nomem;
    op->req.path = op->mitems[0].real;
    *ret = op;
    return ZKC_OK;
nomem:
    mop_free(op);
    zkc_impl_set_errmsg("multi: %s", zkc_strerror(ZKC_ENOMEM));
    return ZKC_ENOMEM;
}

/* Queue op for its cell, or send it at once (the fast path).  Consumes
 * op; returns ZKC_OK or why it was not taken. */
static int enqueue(meta_conn *m, mop *op);

static int meta_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *userdata)
{
    meta_conn *m = (meta_conn *)c;
    mop *op = mop_new(m, req, done, userdata);
    if (op == NULL)
        return ZKC_ENOMEM;
    return enqueue(m, op);
}

/* The call op: a submit whose fast path, when it is taken, sends as a
 * blocking call to the cell's connection, so that the cell's answer may
 * complete it on this thread (see send_op). */
static int meta_call(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *userdata)
{
    meta_conn *m = (meta_conn *)c;
    mop *op = mop_new(m, req, done, userdata);
    if (op == NULL)
        return ZKC_ENOMEM;
    op->blocking = true;
    return enqueue(m, op);
}

static int meta_multi(zkc_conn *c, const zkc_request *ops, size_t nops, zkc_done_fn done,
                      void *userdata)
{
    meta_conn *m = (meta_conn *)c;
    mop *op = NULL;
    int rc = mop_new_multi(m, ops, nops, done, userdata, &op);
    if (rc != ZKC_OK)
        return rc;
    return enqueue(m, op);
}

static int enqueue(meta_conn *m, mop *op)
{
    pthread_mutex_lock(&m->lock);
    if (m->stopping) {
        pthread_mutex_unlock(&m->lock);
        mop_free(op);
        return ZKC_ECLOSED;
    }
    mcell *q = find_queue(m, op->cell, true);
    if (q == NULL) {
        pthread_mutex_unlock(&m->lock);
        mop_free(op);
        return ZKC_ENOMEM;
    }
    if (op->kind == MOP_ROUTE && q->head == NULL && !q->busy) {
        /* The fast path: nothing of this cell is waiting, so sending now
         * keeps the order.  Only a connection already there is used. */
        m->submitting++;
        pthread_mutex_unlock(&m->lock);
        zkc_conn *conn = NULL;
        int rc = ZKC_EAGAIN_FAST;
        if (zkc_conn_cache_try(m->cache, op->cell, &conn)) {
            rc = send_op(op, conn, true);
            zkc_conn_cache_release(m->cache, conn);
        }
        pthread_mutex_lock(&m->lock);
        if (--m->submitting == 0)
            pthread_cond_broadcast(&m->idle);
        if (rc == ZKC_OK) {
            pthread_mutex_unlock(&m->lock);
            return ZKC_OK;
        }
        if (rc != ZKC_EAGAIN_FAST || m->stopping) {
            pthread_mutex_unlock(&m->lock);
            mop_free(op);
            return rc != ZKC_EAGAIN_FAST ? rc : ZKC_ECLOSED;
        }
    }
    queue_push(q, op);
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
    return ZKC_OK;
}

static void meta_free(meta_conn *m)
{
    reap_links(m->reap);
    while (m->queues != NULL) {
        mcell *q = m->queues;
        m->queues = q->next;
        free(q->name);
        free(q);
    }
    free(m->threads);
    pthread_cond_destroy(&m->cond);
    pthread_cond_destroy(&m->idle);
    pthread_mutex_destroy(&m->lock);
    pthread_mutex_destroy(&m->busy_lock);
    zkc_impl_conn_fini(&m->base);
    free(m);
}

static void meta_close(zkc_conn *c)
{
    meta_conn *m = (meta_conn *)c;
    pthread_t self = pthread_self();

    pthread_mutex_lock(&m->lock);
    m->stopping = true;
    pthread_cond_broadcast(&m->cond);
    while (m->submitting > 0)
        pthread_cond_wait(&m->idle, &m->lock);
    pthread_mutex_unlock(&m->lock);

    /* The threads finish what they are sending (a dial may take a
     * while), then stop. */
    for (unsigned i = 0; i < m->nthreads; i++) {
        if (pthread_equal(m->threads[i], self)) {
            pthread_detach(self);
            continue;
        }
        pthread_join(m->threads[i], NULL);
    }

    /* Closing every cell's connection completes what they carry
     * (ZKC_ECLOSING) and ends their watches (ZKC_EVENT_CLOSED), which
     * ends ours. */
    zkc_conn_cache_close(m->cache);

    /* What never left our queues. */
    pthread_mutex_lock(&m->lock);
    mop *list = m->timers;
    m->timers = NULL;
    for (mcell *q = m->queues; q != NULL; q = q->next) {
        if (q->head == NULL)
            continue;
        q->tail->next = list;
        list = q->head;
        q->head = q->tail = NULL;
    }
    wlink *reap = m->reap;
    m->reap = NULL;
    pthread_mutex_unlock(&m->lock);
    while (list != NULL) {
        mop *op = list;
        list = op->next;
        finish_err(op, ZKC_ECLOSING, "the connection was closed");
    }
    reap_links(reap);
    pthread_mutex_lock(&m->busy_lock);
    m->busy_cache = NULL;
    pthread_mutex_unlock(&m->busy_lock);
    zkc_conn_cache_free(m->cache);
    m->cache = NULL;
    /* When we run inside a completion on one of our threads, or cells
     * still have completions to run, the last of them frees. */
    meta_unref(m);
}

static const struct zkc_conn_ops meta_ops = {
    .version = 2,
    .name = "meta",
    .submit = meta_submit,
    .close = meta_close,
    .session_id = NULL,
    .multi = meta_multi,
    .call = meta_call,
};

int zkc_meta_open(zkc_conn_cache *cache, const zkc_meta_opts *opts, zkc_conn **ret_conn)
{
    static const zkc_meta_opts defaults = ZKC_META_OPTS_INIT;
    if (opts == NULL)
        opts = &defaults;
    if (cache == NULL || ret_conn == NULL || opts->version != 1 || opts->backoff_min_ms < 0 ||
        opts->backoff_max_ms < 0 || opts->threads > MAX_THREADS) {
        zkc_conn_cache_free(cache);
        if (cache == NULL || ret_conn == NULL)
            zkc_impl_set_errmsg("zkc_meta_open: %s is NULL", cache == NULL ? "cache" : "ret_conn");
        else
            zkc_impl_set_errmsg("zkc_meta_open: bad options (version %d, backoff %d..%d ms, "
                                "threads %u, at most %d)",
                                opts->version, opts->backoff_min_ms, opts->backoff_max_ms,
                                (unsigned)opts->threads, MAX_THREADS);
        return ZKC_EBADARGUMENTS;
    }
    *ret_conn = NULL;
    meta_conn *m = calloc(1, sizeof *m);
    if (m == NULL) {
        zkc_conn_cache_free(cache);
        zkc_impl_set_errmsg("zkc_meta_open: out of memory");
        return ZKC_ENOMEM;
    }
    m->cache = cache;
    m->busy_cache = cache;
    m->cells = zkc_conn_cache_cells(cache);
    m->max_attempts = opts->max_attempts > 0 ? opts->max_attempts : DEFAULT_MAX_ATTEMPTS;
    m->backoff_min_ms = opts->backoff_min_ms > 0 ? opts->backoff_min_ms : DEFAULT_BACKOFF_MIN_MS;
    m->backoff_max_ms = opts->backoff_max_ms > 0 ? opts->backoff_max_ms : DEFAULT_BACKOFF_MAX_MS;
    if (m->backoff_max_ms < m->backoff_min_ms)
        m->backoff_max_ms = m->backoff_min_ms;
    m->budget_ms = opts->retry_budget_ms != 0 ? opts->retry_budget_ms : DEFAULT_BUDGET_MS;
    if (m->budget_ms < 0)
        m->budget_ms = -1;
    m->cancel = opts->cancel;
    m->nthreads = opts->threads > 0 ? opts->threads : DEFAULT_THREADS;

    int rc = zkc_impl_conn_init(&m->base, &meta_ops, "meta(cells)");
    if (rc != ZKC_OK) {
        free(m);
        zkc_conn_cache_free(cache);
        zkc_impl_set_errmsg("zkc_meta_open: %s", zkc_strerror(rc));
        return rc;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->busy_lock, NULL);
    zkc_impl_cond_init_monotonic(&m->cond);
    pthread_cond_init(&m->idle, NULL);
    m->threads = calloc(m->nthreads, sizeof *m->threads);
    unsigned started = 0;
    atomic_init(&m->refs, 1);
    if (m->threads != NULL) {
        for (; started < m->nthreads; started++) {
            atomic_fetch_add(&m->refs, 1);
            if (pthread_create(&m->threads[started], NULL, router_main, m) != 0) {
                atomic_fetch_sub(&m->refs, 1);
                break;
            }
        }
    }
    if (started < m->nthreads) {
        m->nthreads = started;
        bool nomem = m->threads == NULL;
        meta_close(&m->base);
        if (nomem)
            zkc_impl_set_errmsg("zkc_meta_open: out of memory");
        else
            zkc_impl_set_errmsg("zkc_meta_open: cannot start the router's threads (%u of %u)",
                                started, m->nthreads);
        return nomem ? ZKC_ENOMEM : ZKC_ESYSTEMERROR;
    }
    zkc_impl_conn_set_state(&m->base, ZKC_STATE_CONNECTED);
    *ret_conn = &m->base;
    return ZKC_OK;
}

zkc_conn_cache *zkc_meta_cache(zkc_conn *c)
{
    if (c == NULL || c->ops != &meta_ops)
        return NULL;
    return ((meta_conn *)c)->cache;
}
