/*
 * conn_global.c: one namespace over n quorums (the seed's GlobalConn) as
 * a zkc_conn, and zkc_global_dial_with(), which dials its quorums with a
 * dial callback (zkc_dial_fn): which backend the quorums are is the
 * caller's (dial_default.c wires the real one).  zkc_global_diff() and
 * zkc_global_repair() are in global_diff.c.
 *
 * An operation is a struct gop: it is sent to every quorum at once (a
 * fan-out), each quorum's answer is copied into its slot, and the last
 * answer to arrive runs advance(), which either starts the next step
 * (sequential creates ask quorum 0 first; unversioned sets read the
 * versions first) or compares the answers and completes.  The semantics
 * (what agrees, what is inconsistent, how versions, sequential names and
 * watches work) are written down in include/zkcell/global.h.  A multi
 * is a gop too: its operations are sent as one multi to every quorum
 * (with sequential creates, to quorum 0 first, then with quorum 0's
 * names as plain creates to the others), and the quorums' per-operation
 * results are compared like a write's.
 *
 * Closing takes a write lock on the gate that every fan-out holds for
 * reading, so no operation is sent to a quorum being closed.  The struct
 * is reference counted by the operations in flight, since a close from a
 * quorum's own completion thread lets that thread run its remaining
 * completions after the close returns.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zkcell/global.h"
#include "zkcell/path.h"
#include "global_impl.h"
#include "zkcell/sys/conn_impl.h"

#define MAX_CAS_ROUNDS 8

typedef struct global_conn global_conn;

/* One quorum's answer, copied out of its completion. */
typedef struct qres {
    int rc;
    char *errmsg;
    char *data;
    size_t data_len;
    bool has_stat;
    zkc_stat stat;
    zkc_strings *children;
    zkc_acl_list *acl;
    char *created;
    zkc_watch *watch;
    bool nomem;
    /* multi: the per-operation results, when the quorum answered */
    bool has_ops;
    size_t nops;
    zkc_op_result *ops; /* created_path and stat point into ostat/onames */
    zkc_stat *ostat;
    char **onames;
} qres;

typedef enum gstep {
    STEP_MAIN = 0,  /* the operation itself, on every quorum */
    STEP_PREREAD,   /* unversioned set/set_acl: read each quorum's version */
    STEP_SEQ_FIRST, /* sequential create: quorum 0 picks the name */
    STEP_SEQ_REST   /* ...then the others create exactly that name */
} gstep;

typedef struct gop gop;

typedef struct qslot {
    gop *op;
    size_t i;
} qslot;

struct gop {
    global_conn *g;
    size_t n;        /* quorums (g may be gone when op is freed) */
    zkc_request req; /* copies of path, data and acl */
    char *path;
    void *data;
    zkc_acl_list *acl;
    zkc_done_fn done;
    void *ud;
    gstep step;
    unsigned round;
    pthread_mutex_t lock;
    size_t pending;
    qres *res;         /* n */
    qslot *slots;      /* n */
    int32_t *versions; /* n: per-quorum versions for STEP_MAIN, or NULL */
    char *seq_name;
    /* A multi (req.op ZKC_OP_MULTI): copies of its operations, and for
     * STEP_SEQ_REST the same with quorum 0's sequential names. */
    zkc_request *mops;
    zkc_request *rest_ops;
    size_t nmops;
    /* Completion order (see release): the ticket taken at submit, and
     * the finished result, kept until every earlier one was delivered. */
    uint64_t ticket;
    bool deliver; /* false: the submit failed, there is nothing to deliver */
    zkc_result final;
    char *final_msg, *final_created; /* owned copies behind final */
    gop *park_next;
};

/* A watch set on every quorum for one caller's watch. */
typedef struct glink {
    zkc_watch *outer;
    zkc_watch **inner; /* n */
    size_t fired;      /* inner callbacks that ran */
    bool outer_fired;
    global_conn *g;
    struct glink *next;
} glink;

struct global_conn {
    zkc_conn base;
    size_t n;
    zkc_conn **q;
    /* Each quorum's description, copied at open: messages built by one
     * quorum's completion while close is freeing another quorum still
     * name it. */
    char **qdesc;
    pthread_rwlock_t gate; /* read: sending to quorums; write: closing */
    bool closing;
    pthread_mutex_t lock;  /* reap, qstate */
    glink *reap;
    zkc_state *qstate;
    bool was_connected;         /* every quorum was up once */
    bool was_down;              /* ...and some went down after that */
    unsigned state_gen;         /* counts quorum state changes */
    atomic_int refs;            /* the owner + operations in flight */
    /* Completions run in submission order (conn.h), although an
     * operation of two steps (sequential create, unversioned set) ends
     * after later ones of one step: each operation takes a ticket when
     * submitted, and a finished one is parked until every earlier one
     * was delivered (release). */
    pthread_mutex_t order_lock;
    uint64_t next_ticket;  /* the next operation's */
    uint64_t next_deliver; /* the ticket whose completion runs next */
    gop *parked;           /* finished, not yet delivered, by ticket */
    bool delivering;       /* a thread is running completions */
};

static const struct zkc_conn_ops global_ops;
static void advance(gop *op);

/* ---- small helpers ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_acl(const void *a, const void *b)
{
    const zkc_acl *x = a, *y = b;
    if (x->perms != y->perms)
        return x->perms < y->perms ? -1 : 1;
    int c = strcmp(x->scheme, y->scheme);
    return c != 0 ? c : strcmp(x->id, y->id);
}

/* Whether two arrays hold the same elements in any order (both sorted in
 * place by cmp). */
static bool same_set(void *a, size_t na, void *b, size_t nb, size_t size,
                     int (*cmp)(const void *, const void *))
{
    if (na != nb)
        return false;
    if (na == 0)
        return true;
    qsort(a, na, size, cmp);
    qsort(b, nb, size, cmp);
    for (size_t i = 0; i < na; i++)
        if (cmp((char *)a + i * size, (char *)b + i * size) != 0)
            return false;
    return true;
}

static bool strings_equal_sorted(zkc_strings *a, zkc_strings *b)
{
    return same_set(a != NULL ? a->v : NULL, a != NULL ? a->count : 0, b != NULL ? b->v : NULL,
                    b != NULL ? b->count : 0, sizeof(char *), cmp_str);
}

bool gl_acl_equal_sorted(zkc_acl_list *a, zkc_acl_list *b)
{
    return same_set(a != NULL ? a->v : NULL, a != NULL ? a->count : 0, b != NULL ? b->v : NULL,
                    b != NULL ? b->count : 0, sizeof(zkc_acl), cmp_acl);
}

void gl_sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, b->p != NULL ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->p != NULL && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap > 0 ? b->cap * 2 : 256) + (size_t)n;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return;
        if (b->p == NULL)
            p[0] = '\0';
        b->p = p;
        b->cap = cap;
    }
}

static bool transient(int rc)
{
    switch (rc) {
    case ZKC_ECONNECTIONLOSS:
    case ZKC_EOPERATIONTIMEOUT:
    case ZKC_ESESSIONEXPIRED:
    case ZKC_ESESSIONMOVED:
    case ZKC_ETHROTTLEDOP:
    case ZKC_ENOTREADONLY:
    case ZKC_ECLOSING:
    case ZKC_ECLOSED:
    case ZKC_ETIMEDOUT:
    case ZKC_ENOMEM:
    case ZKC_ESYSTEMERROR:
        return true;
    default:
        return false;
    }
}

/* ---- lifetime ---- */

static void reap_links(glink *l)
{
    while (l != NULL) {
        glink *next = l->next;
        for (size_t i = 0; l->inner != NULL && i < l->g->n; i++)
            zkc_watch_free(l->inner[i]);
        free(l->inner);
        free(l);
        l = next;
    }
}

static void global_free(global_conn *g)
{
    reap_links(g->reap);
    for (size_t i = 0; g->qdesc != NULL && i < g->n; i++)
        free(g->qdesc[i]);
    free(g->qdesc);
    free(g->q);
    free(g->qstate);
    pthread_rwlock_destroy(&g->gate);
    pthread_mutex_destroy(&g->lock);
    pthread_mutex_destroy(&g->order_lock);
    zkc_impl_conn_fini(&g->base);
    free(g);
}

static void global_unref(global_conn *g)
{
    if (atomic_fetch_sub(&g->refs, 1) == 1)
        global_free(g);
}

static void reap_now(global_conn *g)
{
    pthread_mutex_lock(&g->lock);
    glink *l = g->reap;
    g->reap = NULL;
    pthread_mutex_unlock(&g->lock);
    reap_links(l);
}

/* ---- operations ---- */

static void qres_clear(qres *r)
{
    for (size_t i = 0; r->onames != NULL && i < r->nops; i++)
        free(r->onames[i]);
    free(r->onames);
    free(r->ops);
    free(r->ostat);
    free(r->errmsg);
    free(r->data);
    zkc_strings_free(r->children);
    zkc_acl_list_free(r->acl);
    free(r->created);
    zkc_watch_free(r->watch);
    memset(r, 0, sizeof *r);
}

static void gop_free(gop *op)
{
    if (op == NULL)
        return;
    size_t n = op->n;
    for (size_t i = 0; op->res != NULL && i < n; i++)
        qres_clear(&op->res[i]);
    free(op->res);
    free(op->slots);
    for (size_t i = 0; op->mops != NULL && i < op->nmops; i++) {
        free((char *)op->mops[i].path);
        free((void *)op->mops[i].data);
        zkc_acl_list_free((zkc_acl_list *)op->mops[i].acl);
    }
    free(op->mops);
    free(op->rest_ops); /* its paths are quorum 0's names, in res[0] */
    free(op->versions);
    free(op->seq_name);
    free(op->final_msg);
    free(op->final_created);
    free(op->path);
    free(op->data);
    zkc_acl_list_free(op->acl);
    pthread_mutex_destroy(&op->lock);
    free(op);
}

/* A ticket for an operation about to be sent: its place in the order
 * of completions. */
static void take_ticket(gop *op)
{
    global_conn *g = op->g;
    pthread_mutex_lock(&g->order_lock);
    op->ticket = g->next_ticket++;
    pthread_mutex_unlock(&g->order_lock);
}

/*
 * op has finished (op->deliver: with op->final): park it, then, unless
 * another thread is at it, run the completions whose turn has come, in
 * ticket order, and free their operations.  The caller holds a reference
 * on g (a quorum's completion, or the submitter), so g outlives a
 * completion that closes it.  Only when a submit fails may this run
 * other operations' completions on the submitter's thread: when it was
 * their turn's only obstacle.
 */
static void release(gop *op)
{
    global_conn *g = op->g;
    pthread_mutex_lock(&g->order_lock);
    gop **pp = &g->parked;
    while (*pp != NULL && (*pp)->ticket < op->ticket)
        pp = &(*pp)->park_next;
    op->park_next = *pp;
    *pp = op;
    if (g->delivering) {
        pthread_mutex_unlock(&g->order_lock);
        return;
    }
    g->delivering = true;
    while (g->parked != NULL && g->parked->ticket == g->next_deliver) {
        gop *h = g->parked;
        g->parked = h->park_next;
        g->next_deliver++;
        pthread_mutex_unlock(&g->order_lock);
        if (h->deliver)
            h->done(&h->final, h->ud);
        gop_free(h);
        pthread_mutex_lock(&g->order_lock);
    }
    g->delivering = false;
    pthread_mutex_unlock(&g->order_lock);
}

/* Complete op with r (its path set here; what r points to must live as
 * long as op, except errmsg and created_path, which are copied).  The
 * completion runs in its turn (release); nothing may touch op after. */
static void finish(gop *op, zkc_result *r)
{
    r->op = op->req.op;
    r->path = op->path;
    op->final = *r;
    if (r->errmsg != NULL)
        op->final.errmsg = op->final_msg = strdup(r->errmsg);
    if (r->created_path != NULL) {
        op->final.created_path = op->final_created = strdup(r->created_path);
        if (op->final_created == NULL && op->final.rc == ZKC_OK) {
            op->final.rc = ZKC_ENOMEM;
            op->final.created_path = NULL;
        }
    }
    op->deliver = true;
    release(op);
}

static void finish_err(gop *op, int rc, const char *msg)
{
    zkc_result r = {.rc = rc, .errmsg = msg};
    finish(op, &r);
}

static void quorum_done(const zkc_result *res, void *userdata);

/*
 * Send step requests to quorums [from, to).  req_for fills quorum i's
 * request.  Returns ZKC_OK when at least one went out (the last answer
 * then runs advance(); op may be gone by the time this returns), else an
 * error and nothing is pending.  A quorum that refuses at once gets that
 * code as its answer; the first one refusing means nothing went out.
 */
static int fan_out(gop *op, size_t from, size_t to, void (*req_for)(gop *, size_t, zkc_request *))
{
    global_conn *g = op->g;
    for (size_t i = from; i < to; i++)
        qres_clear(&op->res[i]);
    pthread_rwlock_rdlock(&g->gate);
    if (g->closing) {
        pthread_rwlock_unlock(&g->gate);
        return ZKC_ECLOSING;
    }
    /* Answers cannot all arrive before the last request is out, so the
     * count needs no guard. */
    pthread_mutex_lock(&op->lock);
    op->pending = to - from;
    pthread_mutex_unlock(&op->lock);
    bool sent = false, last = false;
    int rc = ZKC_OK;
    for (size_t i = from; i < to; i++) {
        atomic_fetch_add(&g->refs, 1);
        if (op->req.op == ZKC_OP_MULTI) {
            const zkc_request *ops = op->step == STEP_SEQ_REST ? op->rest_ops : op->mops;
            rc = zkc_amulti(g->q[i], ops, op->nmops, quorum_done, &op->slots[i]);
        } else {
            zkc_request r;
            req_for(op, i, &r);
            rc = zkc_submit(g->q[i], &r, quorum_done, &op->slots[i]);
        }
        if (rc == ZKC_OK) {
            sent = true;
            continue;
        }
        atomic_fetch_sub(&g->refs, 1);
        if (!sent)
            break; /* nothing out: refuse the whole step */
        /* Out of memory half way (the only refusal that can differ
         * between quorums): that quorum's answer. */
        op->res[i].rc = rc;
        pthread_mutex_lock(&op->lock);
        last = --op->pending == 0;
        pthread_mutex_unlock(&op->lock);
    }
    pthread_rwlock_unlock(&g->gate);
    if (!sent)
        return rc;
    if (last) {
        /* Every other answer came back before the refusal: complete on
         * this thread (inside the submit, on this out-of-memory path). */
        advance(op);
    }
    return ZKC_OK;
}

static void req_main(gop *op, size_t i, zkc_request *r)
{
    *r = op->req;
    if (op->versions != NULL)
        r->version = op->versions[i];
}

static void req_exists(gop *op, size_t i, zkc_request *r)
{
    (void)i;
    *r = (zkc_request){.op = ZKC_OP_EXISTS, .path = op->path, .version = -1};
}

static void req_seq_rest(gop *op, size_t i, zkc_request *r)
{
    (void)i;
    *r = op->req;
    r->path = op->seq_name;
    r->flags &= ~ZKC_SEQUENCE;
}

static void quorum_done(const zkc_result *res, void *userdata)
{
    qslot *s = userdata;
    gop *op = s->op;
    global_conn *g = op->g;
    qres *q = &op->res[s->i];
    q->rc = res->rc;
    if (res->errmsg != NULL)
        q->errmsg = strdup(res->errmsg);
    if (res->stat != NULL) {
        q->has_stat = true;
        q->stat = *res->stat;
    }
    if (res->rc == ZKC_OK) {
        if (res->op == ZKC_OP_GET) {
            q->data = zkc_impl_memdup(res->data != NULL ? res->data : "", res->data_len);
            q->data_len = res->data_len;
            q->nomem |= q->data == NULL;
        }
        if (res->children != NULL) {
            q->children = zkc_strings_dup(res->children);
            q->nomem |= q->children == NULL;
        }
        if (res->acl != NULL) {
            q->acl = zkc_acl_list_dup(res->acl);
            q->nomem |= q->acl == NULL;
        }
        if (res->created_path != NULL) {
            q->created = strdup(res->created_path);
            q->nomem |= q->created == NULL;
        }
        if (q->nomem)
            q->rc = ZKC_ENOMEM;
    }
    if (res->ops != NULL) {
        /* A multi's results, also when it was refused: which operation
         * failed is compared between quorums. */
        size_t n = res->nops;
        q->has_ops = true;
        q->nops = n;
        q->ops = calloc(n > 0 ? n : 1, sizeof *q->ops);
        q->ostat = calloc(n > 0 ? n : 1, sizeof *q->ostat);
        q->onames = calloc(n > 0 ? n : 1, sizeof *q->onames);
        q->nomem |= q->ops == NULL || q->ostat == NULL || q->onames == NULL;
        for (size_t k = 0; !q->nomem && k < n; k++) {
            q->ops[k].rc = res->ops[k].rc;
            q->ops[k].op = res->ops[k].op;
            if (res->ops[k].stat != NULL) {
                q->ostat[k] = *res->ops[k].stat;
                q->ops[k].stat = &q->ostat[k];
            }
            if (res->ops[k].created_path != NULL) {
                q->onames[k] = strdup(res->ops[k].created_path);
                q->nomem |= q->onames[k] == NULL;
                q->ops[k].created_path = q->onames[k];
            }
        }
        if (q->nomem) {
            q->rc = ZKC_ENOMEM;
            q->has_ops = false;
        }
    }
    q->watch = res->watch;
    pthread_mutex_lock(&op->lock);
    bool last = --op->pending == 0;
    pthread_mutex_unlock(&op->lock);
    if (last)
        advance(op);
    global_unref(g);
}

/* ---- comparing answers ---- */

/* One quorum's answer, in a few words. */
static void describe(sbuf *b, const global_conn *g, size_t i, const qres *q, zkc_op op)
{
    gl_sb_printf(b, "%squorum %zu %s: ", i > 0 ? "; " : "", i, g->qdesc[i]);
    if (q->rc != ZKC_OK) {
        gl_sb_printf(b, "%s", zkc_strerror(q->rc));
        return;
    }
    switch (op) {
    case ZKC_OP_GET:
        gl_sb_printf(b, "ok, %zu bytes, version %d", q->data_len, (int)q->stat.version);
        break;
    case ZKC_OP_CHILDREN:
        gl_sb_printf(b, "ok, %zu children", q->children != NULL ? q->children->count : 0);
        break;
    case ZKC_OP_EXISTS:
        gl_sb_printf(b, "%s", q->has_stat ? "exists" : "does not exist");
        break;
    case ZKC_OP_GET_ACL:
        gl_sb_printf(b, "ok, %zu ACL entries", q->acl != NULL ? q->acl->count : 0);
        break;
    case ZKC_OP_CREATE:
        gl_sb_printf(b, "created %s", q->created != NULL ? q->created : "?");
        break;
    default:
        gl_sb_printf(b, "ok");
        break;
    }
}

/* One quorum's answer to a multi, in a few words. */
static void describe_multi(sbuf *b, const gop *op, size_t i)
{
    const global_conn *g = op->g;
    const qres *q = &op->res[i];
    gl_sb_printf(b, "%squorum %zu %s: ", i > 0 ? "; " : "", i, g->qdesc[i]);
    if (q->rc == ZKC_OK) {
        gl_sb_printf(b, "committed");
        return;
    }
    for (size_t k = 0; q->has_ops && k < q->nops && k < op->nmops; k++) {
        if (q->ops[k].rc != ZKC_OK && q->ops[k].rc != ZKC_ERUNTIMEINCONSISTENCY) {
            const zkc_request *ops = op->step == STEP_SEQ_REST && i > 0 ? op->rest_ops : op->mops;
            gl_sb_printf(b, "refused at operation %zu (%s): %s", k, ops[k].path,
                      zkc_strerror(q->ops[k].rc));
            return;
        }
    }
    gl_sb_printf(b, "%s", zkc_strerror(q->rc));
}

static void finish_inconsistent(gop *op, const char *what)
{
    global_conn *g = op->g;
    sbuf b = {0};
    gl_sb_printf(&b, "%s: ", what);
    for (size_t i = 0; i < g->n; i++) {
        if (op->req.op == ZKC_OP_MULTI && op->step != STEP_PREREAD)
            describe_multi(&b, op, i);
        else
            describe(&b, g, i, &op->res[i],
                     op->step == STEP_PREREAD ? ZKC_OP_EXISTS : op->req.op);
    }
    finish_err(op, ZKC_EINCONSISTENT, b.p != NULL ? b.p : what);
    free(b.p);
}

/* One quorum's error as the whole answer. */
static void finish_quorum_err(gop *op, size_t i)
{
    global_conn *g = op->g;
    const qres *q = &op->res[i];
    sbuf b = {0};
    gl_sb_printf(&b, "quorum %zu %s: %s%s%s", i, g->qdesc[i], zkc_strerror(q->rc),
              q->errmsg != NULL ? ": " : "", q->errmsg != NULL ? q->errmsg : "");
    finish_err(op, q->rc, b.p);
    free(b.p);
}

static bool answers_agree(gop *op, zkc_op kind)
{
    global_conn *g = op->g;
    qres *a = &op->res[0];
    for (size_t i = 1; i < g->n; i++) {
        qres *b = &op->res[i];
        if (a->rc != b->rc)
            return false;
        if (a->rc != ZKC_OK)
            continue;
        switch (kind) {
        case ZKC_OP_GET:
            if (a->data_len != b->data_len ||
                (a->data_len > 0 && memcmp(a->data, b->data, a->data_len) != 0))
                return false;
            break;
        case ZKC_OP_CHILDREN:
            if (!strings_equal_sorted(a->children, b->children))
                return false;
            break;
        case ZKC_OP_EXISTS:
            if (a->has_stat != b->has_stat)
                return false;
            break;
        case ZKC_OP_GET_ACL:
            if (!gl_acl_equal_sorted(a->acl, b->acl))
                return false;
            break;
        default:
            break;
        }
    }
    return true;
}

static void glink_fired(zkc_watch *w, const zkc_event *ev, void *userdata)
{
    glink *l = userdata;
    global_conn *g = l->g;
    (void)w;
    /* The first quorum's event wins.  Once fired, outer may be gone
     * (the caller's free drops the last reference), so fire it once. */
    pthread_mutex_lock(&g->lock);
    bool first = !l->outer_fired;
    l->outer_fired = true;
    pthread_mutex_unlock(&g->lock);
    if (first)
        zkc_impl_watch_fire(l->outer, ev->type);
    pthread_mutex_lock(&g->lock);
    if (++l->fired == g->n) {
        l->next = g->reap;
        g->reap = l;
    }
    pthread_mutex_unlock(&g->lock);
}

/* One watch for the caller over every quorum's, or NULL (and the
 * quorums' freed) when not every quorum set one. */
static zkc_watch *combine_watches(gop *op)
{
    global_conn *g = op->g;
    bool all = true;
    for (size_t i = 0; i < g->n; i++)
        all &= op->res[i].watch != NULL;
    glink *l = all ? calloc(1, sizeof *l) : NULL;
    if (l != NULL) {
        l->g = g;
        l->inner = calloc(g->n, sizeof *l->inner);
        l->outer = l->inner != NULL ? zkc_impl_watch_new(op->path) : NULL;
        if (l->outer == NULL) {
            free(l->inner);
            free(l);
            l = NULL;
        }
    }
    if (l == NULL) {
        for (size_t i = 0; i < g->n; i++) {
            zkc_watch_free(op->res[i].watch);
            op->res[i].watch = NULL;
        }
        return NULL;
    }
    zkc_watch *outer = l->outer;
    for (size_t i = 0; i < g->n; i++) {
        l->inner[i] = op->res[i].watch;
        op->res[i].watch = NULL;
    }
    /* After this loop the link may be complete and reaped at any time:
     * do not touch it. */
    for (size_t i = 0; i < g->n; i++)
        zkc_watch_set_callback(l->inner[i], glink_fired, l);
    return outer;
}

static void finish_read(gop *op)
{
    global_conn *g = op->g;
    zkc_op kind = op->req.op;
    for (size_t i = 0; i < g->n; i++) {
        if (op->res[i].rc == ZKC_ECLOSING) {
            finish_quorum_err(op, i);
            return;
        }
    }
    for (size_t i = 0; i < g->n; i++) {
        if (transient(op->res[i].rc)) {
            finish_quorum_err(op, i);
            return;
        }
    }
    if (!answers_agree(op, kind)) {
        char what[64];
        snprintf(what, sizeof what, "quorums disagree on %s",
                 kind == ZKC_OP_GET        ? "the data"
                 : kind == ZKC_OP_CHILDREN ? "the children"
                 : kind == ZKC_OP_EXISTS   ? "whether the node exists"
                                           : "the ACL");
        finish_inconsistent(op, what);
        return;
    }
    qres *a = &op->res[0];
    zkc_result r = {.rc = a->rc, .errmsg = a->errmsg};
    if (a->rc == ZKC_OK) {
        r.data = a->data;
        r.data_len = a->data_len;
        r.stat = a->has_stat ? &a->stat : NULL;
        r.children = a->children;
        r.acl = a->acl;
        if (op->req.flags & ZKC_WATCH)
            r.watch = combine_watches(op);
    } else {
        combine_watches(op); /* frees any */
    }
    finish(op, &r);
}

/* The answers of a write over quorums [0, n). */
static void finish_write(gop *op, const char *created)
{
    global_conn *g = op->g;
    for (size_t i = 0; i < g->n; i++) {
        if (op->res[i].rc == ZKC_ECLOSING) {
            finish_quorum_err(op, i);
            return;
        }
    }
    int rc0 = op->res[0].rc;
    bool same = true;
    for (size_t i = 1; i < g->n; i++)
        same &= op->res[i].rc == rc0;
    if (!same) {
        finish_inconsistent(op, "the write succeeded or failed differently on the quorums; "
                                "repair with zkc_global_repair");
        return;
    }
    qres *a = &op->res[0];
    zkc_result r = {.rc = rc0, .errmsg = a->errmsg};
    if (rc0 == ZKC_OK) {
        r.stat = a->has_stat ? &a->stat : NULL;
        r.created_path = created;
    }
    finish(op, &r);
}

/* Two quorums refused a multi alike: the same operation, the same code. */
static bool multi_refusals_equal(const qres *a, const qres *b)
{
    if (a->has_ops != b->has_ops || a->nops != b->nops)
        return false;
    for (size_t k = 0; a->has_ops && k < a->nops; k++)
        if (a->ops[k].rc != b->ops[k].rc)
            return false;
    return true;
}

/* The answers of a multi over quorums [0, n), as a write's: quorum 0's
 * results when every quorum agrees. */
static void finish_multi(gop *op)
{
    global_conn *g = op->g;
    for (size_t i = 0; i < g->n; i++) {
        if (op->res[i].rc == ZKC_ECLOSING) {
            finish_quorum_err(op, i);
            return;
        }
    }
    qres *a = &op->res[0];
    bool same = true, all_refused = true, any_ok = false;
    for (size_t i = 0; i < g->n; i++) {
        const qres *q = &op->res[i];
        same &= q->rc == a->rc && (a->rc == ZKC_OK || multi_refusals_equal(a, q));
        all_refused &= q->rc != ZKC_OK && q->has_ops;
        any_ok |= q->rc == ZKC_OK;
    }
    if (!same) {
        finish_inconsistent(op, all_refused
                                    ? "the multi was refused differently on the quorums "
                                      "(applied on none)"
                                : any_ok ? "the multi committed on some quorums only; repair "
                                           "with zkc_global_repair"
                                         : "the multi failed differently on the quorums "
                                           "(lost replies: it may be applied on some)");
        return;
    }
    zkc_result r = {.rc = a->rc, .errmsg = a->errmsg};
    if (a->has_ops) {
        r.ops = a->ops;
        r.nops = a->nops;
    }
    finish(op, &r);
}

/* After quorum 0 committed a multi with sequential creates: the same
 * operations for the others, each sequential create made a plain create
 * of the name quorum 0 gave. */
static int make_rest_ops(gop *op)
{
    const qres *a = &op->res[0];
    if (!a->has_ops || a->nops != op->nmops)
        return ZKC_EMARSHALLINGERROR;
    op->rest_ops = calloc(op->nmops, sizeof *op->rest_ops);
    if (op->rest_ops == NULL)
        return ZKC_ENOMEM;
    for (size_t k = 0; k < op->nmops; k++) {
        op->rest_ops[k] = op->mops[k];
        if (op->mops[k].op != ZKC_OP_CREATE || !(op->mops[k].flags & ZKC_SEQUENCE))
            continue;
        if (a->ops[k].created_path == NULL)
            return ZKC_EMARSHALLINGERROR;
        op->rest_ops[k].path = a->ops[k].created_path;
        op->rest_ops[k].flags &= ~ZKC_SEQUENCE;
    }
    return ZKC_OK;
}

/* A multi's first step (quorum 0) answered: finish with its result, or
 * send the rest of the quorums the same operations. */
static void multi_first_done(gop *op)
{
    global_conn *g = op->g;
    qres *a = &op->res[0];
    if (a->rc != ZKC_OK || g->n == 1) {
        zkc_result r = {.rc = a->rc, .errmsg = a->errmsg};
        if (a->has_ops) {
            r.ops = a->ops;
            r.nops = a->nops;
        }
        finish(op, &r);
        return;
    }
    op->step = STEP_SEQ_REST;
    int rc = make_rest_ops(op);
    if (rc == ZKC_OK)
        rc = fan_out(op, 1, g->n, req_main);
    if (rc != ZKC_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "the multi (from %s) was committed on quorum 0 only: %s",
                 op->path, zkc_strerror(rc));
        finish_err(op, rc == ZKC_ECLOSING ? rc : ZKC_EINCONSISTENT, msg);
    }
}

/* The pre-read of an unversioned set or setacl answered: the versions to
 * send, or why not to write at all. */
static void preread_done(gop *op)
{
    global_conn *g = op->g;
    zkc_op kind = op->req.op;
    bool all_there = true, none_there = true;
    for (size_t i = 0; i < g->n; i++) {
        if (op->res[i].rc != ZKC_OK) {
            finish_quorum_err(op, i);
            return;
        }
        all_there &= op->res[i].has_stat;
        none_there &= !op->res[i].has_stat;
    }
    if (none_there) {
        finish_err(op, ZKC_ENONODE, NULL);
        return;
    }
    if (!all_there) {
        finish_inconsistent(op, "the node exists on some quorums only; nothing written");
        return;
    }
    for (size_t i = 0; i < g->n; i++)
        op->versions[i] =
            kind == ZKC_OP_SET ? op->res[i].stat.version : op->res[i].stat.aversion;
    op->step = STEP_MAIN;
    int rc = fan_out(op, 0, g->n, req_main);
    if (rc != ZKC_OK)
        finish_err(op, rc, "the connection is closing");
}

/* A sequential create answered on quorum 0: the other quorums get the
 * name it made. */
static void seq_first_done(gop *op)
{
    global_conn *g = op->g;
    qres *a = &op->res[0];
    if (a->rc != ZKC_OK || g->n == 1) {
        zkc_result r = {.rc = a->rc, .errmsg = a->errmsg, .created_path = a->created};
        finish(op, &r);
        return;
    }
    op->seq_name = strdup(a->created);
    if (op->seq_name == NULL) {
        finish_err(op, ZKC_ENOMEM, "created on quorum 0 only: out of memory");
        return;
    }
    op->step = STEP_SEQ_REST;
    int rc = fan_out(op, 1, g->n, req_seq_rest);
    if (rc != ZKC_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s was created on quorum 0 only: %s", op->seq_name,
                 zkc_strerror(rc));
        finish_err(op, rc == ZKC_ECLOSING ? rc : ZKC_EINCONSISTENT, msg);
    }
}

/* The operation itself answered on every quorum. */
static void main_done(gop *op)
{
    global_conn *g = op->g;
    zkc_op kind = op->req.op;
    if (kind == ZKC_OP_GET || kind == ZKC_OP_CHILDREN || kind == ZKC_OP_EXISTS ||
        kind == ZKC_OP_GET_ACL) {
        finish_read(op);
        return;
    }
    if (op->versions != NULL) {
        /* An unversioned set sent with each quorum's version: refused
         * everywhere means another writer came first everywhere. */
        bool all_bad = true;
        for (size_t i = 0; i < g->n; i++)
            all_bad &= op->res[i].rc == ZKC_EBADVERSION;
        if (all_bad) {
            if (++op->round >= MAX_CAS_ROUNDS) {
                finish_err(op, ZKC_ECONFLICT, "other writers kept changing the node");
                return;
            }
            op->step = STEP_PREREAD;
            int rc = fan_out(op, 0, g->n, req_exists);
            if (rc != ZKC_OK)
                finish_err(op, rc, "the connection is closing");
            return;
        }
    }
    if (kind == ZKC_OP_CREATE) {
        /* Plain creates: every quorum made the same name. */
        char *name = op->res[0].created != NULL ? strdup(op->res[0].created) : NULL;
        finish_write(op, name);
        free(name);
        return;
    }
    finish_write(op, NULL);
}

/* Run the step after every quorum answered (the last answer's thread). */
static void advance(gop *op)
{
    if (op->req.op == ZKC_OP_MULTI) {
        if (op->step == STEP_SEQ_FIRST)
            multi_first_done(op);
        else
            finish_multi(op);
        return;
    }
    switch (op->step) {
    case STEP_PREREAD:
        preread_done(op);
        return;
    case STEP_SEQ_FIRST:
        seq_first_done(op);
        return;
    case STEP_SEQ_REST: {
        char *name = op->seq_name;
        op->seq_name = NULL;
        finish_write(op, name);
        free(name);
        return;
    }
    case STEP_MAIN:
        main_done(op);
        return;
    }
}

/* A new operation for every quorum of g, its result slots ready; req is
 * copied as is (the caller replaces its borrowed pointers).  NULL when
 * out of memory. */
static gop *gop_new(global_conn *g, const zkc_request *req, const char *path, zkc_done_fn done,
                    void *userdata)
{
    gop *op = calloc(1, sizeof *op);
    if (op == NULL)
        return NULL;
    op->g = g;
    op->n = g->n;
    pthread_mutex_init(&op->lock, NULL);
    op->req = *req;
    op->done = done;
    op->ud = userdata;
    op->res = calloc(g->n, sizeof *op->res);
    op->slots = calloc(g->n, sizeof *op->slots);
    op->path = strdup(path);
    if (op->res == NULL || op->slots == NULL || op->path == NULL) {
        gop_free(op);
        return NULL;
    }
    op->req.path = op->path;
    for (size_t i = 0; i < g->n; i++)
        op->slots[i] = (qslot){op, i};
    return op;
}

/* Owned copies of r's data and ACL; false when out of memory (whatever
 * was copied is in *data and *acl, for the caller to free). */
static bool copy_payload(const zkc_request *r, void **data, zkc_acl_list **acl)
{
    if (r->data_len > 0) {
        if ((*data = malloc(r->data_len)) == NULL)
            return false;
        memcpy(*data, r->data, r->data_len);
    }
    return r->acl == NULL || (*acl = zkc_acl_list_dup(r->acl)) != NULL;
}

static int global_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *userdata)
{
    global_conn *g = (global_conn *)c;
    reap_now(g);
    gop *op = gop_new(g, req, req->path, done, userdata);
    if (op == NULL)
        return ZKC_ENOMEM;
    void *data = NULL;
    bool nomem = !copy_payload(req, &data, &op->acl);
    op->data = data;
    bool cas = (req->op == ZKC_OP_SET || req->op == ZKC_OP_SET_ACL) && req->version < 0;
    if (!nomem && cas)
        nomem = (op->versions = calloc(g->n, sizeof *op->versions)) == NULL;
    if (nomem) {
        gop_free(op);
        return ZKC_ENOMEM;
    }
    op->req.data = op->data;
    op->req.acl = op->acl;

    int rc;
    take_ticket(op);
    if (cas) {
        op->step = STEP_PREREAD;
        rc = fan_out(op, 0, g->n, req_exists);
    } else if (req->op == ZKC_OP_CREATE && (req->flags & ZKC_SEQUENCE)) {
        op->step = STEP_SEQ_FIRST;
        rc = fan_out(op, 0, 1, req_main);
    } else {
        rc = fan_out(op, 0, g->n, req_main);
    }
    if (rc != ZKC_OK) {
        release(op); /* nothing went out: its ticket is passed over */
        return rc == ZKC_ECLOSING ? ZKC_ECLOSED : rc;
    }
    return ZKC_OK;
}

static int global_multi(zkc_conn *c, const zkc_request *ops, size_t nops, zkc_done_fn done,
                        void *userdata)
{
    global_conn *g = (global_conn *)c;
    reap_now(g);
    const zkc_request multi = {.op = ZKC_OP_MULTI, .version = -1};
    gop *op = gop_new(g, &multi, nops > 0 ? ops[0].path : "/", done, userdata);
    if (op == NULL)
        return ZKC_ENOMEM;
    op->mops = calloc(nops > 0 ? nops : 1, sizeof *op->mops);
    op->nmops = nops;
    bool nomem = op->mops == NULL;
    bool seq = false;
    for (size_t k = 0; !nomem && k < nops; k++) {
        const zkc_request *r = &ops[k];
        zkc_request *d = &op->mops[k];
        *d = *r;
        d->data = NULL;
        d->acl = NULL;
        void *data = NULL;
        zkc_acl_list *acl = NULL;
        d->path = strdup(r->path);
        nomem = d->path == NULL || !copy_payload(r, &data, &acl);
        d->data = data;
        d->acl = acl;
        seq |= r->op == ZKC_OP_CREATE && (r->flags & ZKC_SEQUENCE);
    }
    if (nomem) {
        gop_free(op);
        return ZKC_ENOMEM;
    }
    int rc;
    take_ticket(op);
    if (seq) {
        /* Quorum 0 picks the sequential names; the others then make
         * exactly those (make_rest_ops). */
        op->step = STEP_SEQ_FIRST;
        rc = fan_out(op, 0, 1, req_main);
    } else {
        op->step = STEP_MAIN;
        rc = fan_out(op, 0, g->n, req_main);
    }
    if (rc != ZKC_OK) {
        release(op); /* nothing went out: its ticket is passed over */
        return rc == ZKC_ECLOSING ? ZKC_ECLOSED : rc;
    }
    return ZKC_OK;
}

/* ---- state ---- */

/* Our state from the quorums' (lock held). */
static zkc_state compute_state(global_conn *g)
{
    bool expired = false, down = false;
    for (size_t i = 0; i < g->n; i++) {
        expired |= g->qstate[i] == ZKC_STATE_EXPIRED;
        down |= g->qstate[i] == ZKC_STATE_SUSPENDED || g->qstate[i] == ZKC_STATE_CONNECTING ||
                g->qstate[i] == ZKC_STATE_CLOSED;
    }
    if (expired)
        return ZKC_STATE_EXPIRED;
    if (down) {
        g->was_down |= g->was_connected;
        return g->was_connected ? ZKC_STATE_SUSPENDED : ZKC_STATE_CONNECTING;
    }
    g->was_connected = true;
    return g->was_down ? ZKC_STATE_RECONNECTED : ZKC_STATE_CONNECTED;
}

static void on_quorum_state(zkc_conn *qc, zkc_state s, void *userdata)
{
    global_conn *g = userdata;
    (void)s;
    pthread_mutex_lock(&g->lock);
    /* The quorum's state now, not s: calls for one quorum can take the
     * lock out of order (zkc_global_open() reads a state that the
     * quorum's own thread may be changing at that moment), and a stale
     * value kept here would leave our state wrong until the next change. */
    zkc_state now = zkc_conn_state(qc);
    for (size_t i = 0; i < g->n; i++)
        if (g->q[i] == qc)
            g->qstate[i] = now;
    g->state_gen++;
    pthread_mutex_unlock(&g->lock);
    /* Set our state without holding a lock (the state callback is the
     * caller's code); when another quorum changed meanwhile, set it
     * again so the last value set is the current one.  Expired stays. */
    for (;;) {
        pthread_mutex_lock(&g->lock);
        zkc_state next = compute_state(g);
        unsigned gen = g->state_gen;
        pthread_mutex_unlock(&g->lock);
        if (zkc_conn_state(&g->base) != ZKC_STATE_EXPIRED)
            zkc_impl_conn_set_state(&g->base, next);
        pthread_mutex_lock(&g->lock);
        bool stable = gen == g->state_gen;
        pthread_mutex_unlock(&g->lock);
        if (stable)
            return;
    }
}

/* ---- close ---- */

static void global_close(zkc_conn *c)
{
    global_conn *g = (global_conn *)c;
    pthread_rwlock_wrlock(&g->gate);
    g->closing = true;
    pthread_rwlock_unlock(&g->gate);
    for (size_t i = 0; i < g->n; i++)
        zkc_conn_set_state_callback(g->q[i], NULL, NULL);
    /* Each close completes that quorum's operations (ZKC_ECLOSING) and
     * ends its watches, which ends ours. */
    for (size_t i = 0; i < g->n; i++)
        zkc_conn_close(g->q[i]);
    reap_now(g);
    global_unref(g);
}

static const struct zkc_conn_ops global_ops = {
    .version = 1,
    .name = "global",
    .submit = global_submit,
    .close = global_close,
    .session_id = NULL,
    .multi = global_multi,
};

int zkc_global_open(zkc_conn *const *conns, size_t n, zkc_conn **ret_conn)
{
    bool bad = conns == NULL || ret_conn == NULL || n == 0 || n > ZKC_GLOBAL_MAX_QUORUMS;
    for (size_t i = 0; !bad && i < n; i++)
        bad = conns[i] == NULL;
    if (bad) {
        for (size_t i = 0; conns != NULL && i < n && i < ZKC_GLOBAL_MAX_QUORUMS; i++)
            zkc_conn_close(conns[i]);
        if (conns == NULL || ret_conn == NULL)
            zkc_impl_set_errmsg("zkc_global_open: %s is NULL", conns == NULL ? "conns" : "ret_conn");
        else if (n == 0 || n > ZKC_GLOBAL_MAX_QUORUMS)
            zkc_impl_set_errmsg("zkc_global_open: %zu quorums (1 to %d)", n,
                                ZKC_GLOBAL_MAX_QUORUMS);
        else
            zkc_impl_set_errmsg("zkc_global_open: a quorum's connection is NULL");
        return ZKC_EBADARGUMENTS;
    }
    *ret_conn = NULL;
    global_conn *g = calloc(1, sizeof *g);
    sbuf desc = {0};
    gl_sb_printf(&desc, "global(");
    for (size_t i = 0; i < n; i++)
        gl_sb_printf(&desc, "%s%s", i > 0 ? "," : "", zkc_conn_describe(conns[i]));
    gl_sb_printf(&desc, ")");
    int rc = ZKC_ENOMEM;
    if (g != NULL && desc.p != NULL) {
        g->n = n;
        g->q = calloc(n, sizeof *g->q);
        g->qstate = calloc(n, sizeof *g->qstate);
        g->qdesc = calloc(n, sizeof *g->qdesc);
        bool all = g->q != NULL && g->qstate != NULL && g->qdesc != NULL;
        for (size_t i = 0; all && i < n; i++)
            all = (g->qdesc[i] = strdup(zkc_conn_describe(conns[i]))) != NULL;
        if (all)
            rc = zkc_impl_conn_init(&g->base, &global_ops, desc.p);
    }
    free(desc.p);
    if (rc != ZKC_OK) {
        if (g != NULL) {
            for (size_t i = 0; g->qdesc != NULL && i < n; i++)
                free(g->qdesc[i]);
            free(g->qdesc);
            free(g->q);
            free(g->qstate);
            free(g);
        }
        for (size_t i = 0; i < n; i++)
            zkc_conn_close(conns[i]);
        zkc_impl_set_errmsg("zkc_global_open: %s", zkc_strerror(rc));
        return rc;
    }
    pthread_rwlock_init(&g->gate, NULL);
    pthread_mutex_init(&g->lock, NULL);
    pthread_mutex_init(&g->order_lock, NULL);
    atomic_init(&g->refs, 1);
    memcpy(g->q, conns, n * sizeof *conns);
    for (size_t i = 0; i < n; i++)
        g->qstate[i] = ZKC_STATE_CONNECTING;
    for (size_t i = 0; i < n; i++) {
        zkc_conn_set_state_callback(conns[i], on_quorum_state, g);
        on_quorum_state(conns[i], zkc_conn_state(conns[i]), g);
    }
    *ret_conn = &g->base;
    return ZKC_OK;
}

zkc_conn *zkc_global_quorum(zkc_conn *c, size_t i)
{
    if (c == NULL || c->ops != &global_ops)
        return NULL;
    global_conn *g = (global_conn *)c;
    return i < g->n ? g->q[i] : NULL;
}

size_t zkc_global_size(zkc_conn *c)
{
    if (c == NULL || c->ops != &global_ops)
        return 0;
    return ((global_conn *)c)->n;
}

/* ---- dialing n quorums ---- */

typedef struct dial_job {
    const char *cell;
    const char *addrs;
    zkc_dial_fn dial;
    void *dial_ud;
    zkc_conn *conn;
    int rc;
    char msg[1024];
    pthread_t thr;
    bool started;
} dial_job;

static void *dial_run(void *arg)
{
    dial_job *j = arg;
    zkc_impl_set_errmsg("%s", "");
    j->rc = j->dial(j->cell, j->addrs, j->dial_ud, &j->conn);
    if (j->rc == ZKC_OK && j->conn == NULL)
        j->rc = ZKC_ECONNECT;
    if (j->rc != ZKC_OK)
        snprintf(j->msg, sizeof j->msg, "%s",
                 zkc_errmsg()[0] != '\0' ? zkc_errmsg() : zkc_strerror(j->rc));
    return NULL;
}

/* Close what the dials of jobs[0..n-1] made. */
static void dial_jobs_close(dial_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        zkc_conn_close(jobs[i].conn);
}

int zkc_global_dial_with(const char *cell, const char *const *addr_lists, size_t n,
                         zkc_dial_fn dial, void *dial_ud, zkc_conn **ret_conn)
{
    bool bad = addr_lists == NULL || dial == NULL || ret_conn == NULL || n == 0 ||
               n > ZKC_GLOBAL_MAX_QUORUMS;
    for (size_t i = 0; !bad && i < n; i++)
        bad = addr_lists[i] == NULL;
    if (bad) {
        zkc_impl_set_errmsg("zkc_global_dial: bad arguments (%zu quorums, 1 to %d with an "
                            "address list each, a dial and ret_conn)",
                            n, ZKC_GLOBAL_MAX_QUORUMS);
        return ZKC_EBADARGUMENTS;
    }
    *ret_conn = NULL;
    dial_job *jobs = calloc(n, sizeof *jobs);
    if (jobs == NULL)
        return ZKC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        jobs[i] =
            (dial_job){.cell = cell, .addrs = addr_lists[i], .dial = dial, .dial_ud = dial_ud};
        jobs[i].started = pthread_create(&jobs[i].thr, NULL, dial_run, &jobs[i]) == 0;
        if (!jobs[i].started)
            dial_run(&jobs[i]);
    }
    size_t failed = n;
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].started)
            pthread_join(jobs[i].thr, NULL);
        if (jobs[i].rc != ZKC_OK && failed == n)
            failed = i;
    }
    if (failed < n) {
        int rc = jobs[failed].rc;
        dial_jobs_close(jobs, n);
        zkc_impl_set_errmsg("quorum %zu (%s): %s", failed, jobs[failed].addrs,
                            jobs[failed].msg);
        free(jobs);
        return rc;
    }
    zkc_conn **conns = calloc(n, sizeof *conns);
    if (conns == NULL) {
        dial_jobs_close(jobs, n);
        free(jobs);
        return ZKC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        conns[i] = jobs[i].conn;
    free(jobs);
    int rc = zkc_global_open(conns, n, ret_conn);
    free(conns);
    return rc;
}
