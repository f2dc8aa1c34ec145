/*
 * pipe.c: bulk work with many operations in flight.
 *
 * A pipe is a queue of requests and a window: at most `window` of them
 * are submitted and unanswered at any time.  The caller's thread submits
 * the first ones and waits; each completion (on a connection thread) hands
 * its result to the request's function, then refills the window itself,
 * so the window stays full without a thread hop per operation.  Result
 * functions of one pipe never run at the same time (a meta connection has
 * one completion thread per cell), so they may share state freely and may
 * queue more requests.  zkc_submit() is never called with a lock held.
 *
 * On top of it: the tree walker (one children or get per node, plus
 * get_acl when asked, deleted nodes skipped, each node found counted on
 * a progress meter when given one) and stat_many (exists for a list of
 * paths).  A walk stops at the first error that is the
 * session's rather than a node's (connection lost, session expired...):
 * every node left would fail the same way, so the walk fails once.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "zkcmd.h"

typedef struct job {
    struct job *next;
    zkc_request req;
    char *path;
    char *data;
    zkc_acl_list *acl;
    zk_pipe_fn fn;
    void *tag;
    zk_pipe *pipe;
} job;

struct zk_pipe {
    zkc_conn *conn;
    zkc_cancel *cancel;
    unsigned window;
    pthread_mutex_t lock; /* queue, inflight, active */
    pthread_cond_t idle;
    pthread_mutex_t cb_lock; /* serializes result functions */
    job *head, *tail;
    unsigned inflight;
    unsigned active; /* threads inside pump() */
    int rc;
};

zk_pipe *zk_pipe_new(zkc_conn *c, unsigned window, zkc_cancel *cancel)
{
    zk_pipe *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->conn = c;
    p->cancel = cancel;
    p->window = window > 0 ? window : ZKC_DEFAULT_WINDOW;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->cb_lock, NULL);
    pthread_cond_init(&p->idle, NULL);
    return p;
}

static void job_free(job *j)
{
    free(j->path);
    free(j->data);
    zkc_acl_list_free(j->acl);
    free(j);
}

void zk_pipe_free(zk_pipe *p)
{
    if (p == NULL)
        return;
    while (p->head != NULL) {
        job *j = p->head;
        p->head = j->next;
        job_free(j);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->cb_lock);
    pthread_cond_destroy(&p->idle);
    free(p);
}

int zk_pipe_add(zk_pipe *p, const zkc_request *req, zk_pipe_fn fn, void *tag)
{
    job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return ZKC_ENOMEM;
    j->req = *req;
    j->path = strdup(req->path);
    if (req->data_len > 0) {
        j->data = malloc(req->data_len);
        if (j->data != NULL)
            memcpy(j->data, req->data, req->data_len);
    }
    if (req->acl != NULL)
        j->acl = zkc_acl_list_dup(req->acl);
    if (j->path == NULL || (req->data_len > 0 && j->data == NULL) ||
        (req->acl != NULL && j->acl == NULL)) {
        job_free(j);
        return ZKC_ENOMEM;
    }
    j->req.path = j->path;
    j->req.data = j->data;
    j->req.acl = j->acl;
    j->fn = fn;
    j->tag = tag;
    j->pipe = p;
    pthread_mutex_lock(&p->lock);
    if (p->tail != NULL)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    pthread_mutex_unlock(&p->lock);
    return ZKC_OK;
}

static void deliver(job *j, const zkc_result *res)
{
    zk_pipe *p = j->pipe;
    pthread_mutex_lock(&p->cb_lock);
    j->fn(p, res, j->tag);
    pthread_mutex_unlock(&p->cb_lock);
}

static void on_done(const zkc_result *res, void *userdata);

/* Submit queued jobs while the window has room; finished_one: called
 * by the completion of a job, still counted in inflight.  The last
 * thread out, when nothing is queued or in flight, wakes the waiting
 * caller, which may then free the pipe: so every thread inside pump is
 * counted in active, and touches nothing of the pipe after its final
 * unlock. */
static void pump(zk_pipe *p, bool finished_one)
{
    pthread_mutex_lock(&p->lock);
    if (finished_one)
        p->inflight--;
    p->active++;
    for (;;) {
        if (zkc_cancel_is_set(p->cancel)) {
            while (p->head != NULL) {
                job *d = p->head;
                p->head = d->next;
                job_free(d);
            }
            p->tail = NULL;
            p->rc = ZKC_EINTERRUPTED;
        }
        if (p->head == NULL || p->inflight >= p->window)
            break;
        job *j = p->head;
        p->head = j->next;
        if (p->head == NULL)
            p->tail = NULL;
        p->inflight++;
        pthread_mutex_unlock(&p->lock);

        int rc = zkc_submit(p->conn, &j->req, on_done, j);
        if (rc != ZKC_OK) {
            zkc_result res = {.rc = rc, .op = j->req.op, .path = j->req.path};
            deliver(j, &res);
            job_free(j);
            pthread_mutex_lock(&p->lock);
            p->inflight--;
        } else {
            pthread_mutex_lock(&p->lock);
        }
    }
    p->active--;
    if (p->head == NULL && p->inflight == 0 && p->active == 0)
        pthread_cond_broadcast(&p->idle);
    pthread_mutex_unlock(&p->lock);
}

static void on_done(const zkc_result *res, void *userdata)
{
    job *j = userdata;
    zk_pipe *p = j->pipe;
    deliver(j, res);
    if (res->watch != NULL)
        zkc_watch_free(res->watch);
    job_free(j);
    pump(p, true);
}

int zk_pipe_run(zk_pipe *p)
{
    pump(p, false);
    pthread_mutex_lock(&p->lock);
    while (p->head != NULL || p->inflight > 0 || p->active > 0)
        pthread_cond_wait(&p->idle, &p->lock);
    int rc = p->rc;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* ---- the tree walker ---- */

int zk_path_cmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    for (;; x++, y++) {
        unsigned cx = *x == '/' ? 1 : (*x == '\0' ? 0 : *x + 1u);
        unsigned cy = *y == '/' ? 1 : (*y == '\0' ? 0 : *y + 1u);
        if (cx != cy)
            return cx < cy ? -1 : 1;
        if (cx == 0)
            return 0;
    }
}

static int node_cmp(const void *a, const void *b)
{
    const zk_node *x = *(zk_node *const *)a, *y = *(zk_node *const *)b;
    return zk_path_cmp(x->path, y->path);
}

typedef struct walker {
    const zk_walk_opts *o;
    zk_tree *out;
    int rc; /* ENOMEM, or the session's error that stopped the walk */
} walker;

/* An error of the session or connection, not of the node asked about. */
static bool session_error(int rc)
{
    switch (rc) {
    case ZKC_ESYSTEMERROR:
    case ZKC_ECONNECTIONLOSS:
    case ZKC_EOPERATIONTIMEOUT:
    case ZKC_EINVALIDSTATE:
    case ZKC_ESESSIONEXPIRED:
    case ZKC_EAUTHFAILED:
    case ZKC_ECLOSING:
    case ZKC_ESESSIONMOVED:
    case ZKC_ETIMEDOUT:
    case ZKC_EINTERRUPTED:
    case ZKC_ECLOSED:
    case ZKC_ECONNECT:
        return true;
    default:
        return false;
    }
}

/* What is still pending for one node. */
typedef struct wnode {
    zk_node *node;
    walker *w;
    int pending;
    bool gone;
} wnode;

static void free_node(zk_node *n)
{
    if (n == NULL)
        return;
    free(n->path);
    free(n->data);
    zkc_acl_list_free(n->acl);
    free(n);
}

static void walk_fn(zk_pipe *p, const zkc_result *res, void *tag);

static int walk_add_node(zk_pipe *p, walker *w, char *path, int depth)
{
    zk_node *n = calloc(1, sizeof *n);
    wnode *wn = calloc(1, sizeof *wn);
    if (n == NULL || wn == NULL) {
        free(n);
        free(wn);
        free(path);
        return ZKC_ENOMEM;
    }
    n->path = path;
    n->depth = depth;
    wn->node = n;
    wn->w = w;
    zkc_request req = {.op = w->o->want_data ? ZKC_OP_GET : ZKC_OP_CHILDREN, .path = path,
                       .version = -1, .flags = w->o->names_only ? ZKC_NOSTAT : 0};
    wn->pending = 1 + (w->o->want_acl ? 1 : 0);
    int rc = zk_pipe_add(p, &req, walk_fn, wn);
    if (rc == ZKC_OK && w->o->want_acl) {
        req.op = ZKC_OP_GET_ACL;
        rc = zk_pipe_add(p, &req, walk_fn, wn);
        if (rc != ZKC_OK)
            wn->pending--;
    }
    if (rc != ZKC_OK && wn->pending == 1 + (w->o->want_acl ? 1 : 0)) {
        free_node(n);
        free(wn);
        return rc;
    }
    return rc;
}

static void walk_finish(wnode *wn)
{
    walker *w = wn->w;
    if (wn->gone) {
        free_node(wn->node);
    } else {
        zk_tree *t = w->out;
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 256;
            zk_node **v = realloc(t->v, cap * sizeof *v);
            if (v == NULL) {
                w->rc = ZKC_ENOMEM;
                free_node(wn->node);
                free(wn);
                return;
            }
            t->v = v;
            t->cap = cap;
        }
        t->v[t->n++] = wn->node;
        if (w->o->progress != NULL)
            zk_progress_add(w->o->progress, 1);
    }
    free(wn);
}

static void walk_children(zk_pipe *p, wnode *wn, const zkc_strings *kids)
{
    zk_node *n = wn->node;
    walker *w = wn->w;
    if (w->rc != ZKC_OK || (w->o->max_depth >= 0 && n->depth >= w->o->max_depth))
        return;
    for (size_t i = 0; kids != NULL && i < kids->count; i++) {
        char *child = zkc_path_join(n->path, kids->v[i]);
        int rc = child != NULL ? walk_add_node(p, w, child, n->depth + 1) : ZKC_ENOMEM;
        if (rc != ZKC_OK)
            w->rc = rc;
    }
}

static void walk_fn(zk_pipe *p, const zkc_result *res, void *tag)
{
    wnode *wn = tag;
    zk_node *n = wn->node;
    if (res->rc != ZKC_OK) {
        if (session_error(res->rc) && wn->w->rc == ZKC_OK)
            wn->w->rc = res->rc;
        /* A node deleted meanwhile is simply not there (the root is). */
        if (res->rc == ZKC_ENONODE && n->depth > 0)
            wn->gone = true;
        else if (n->rc == ZKC_OK)
            n->rc = res->rc;
    } else if (res->op == ZKC_OP_GET_ACL) {
        n->acl = zkc_acl_list_dup(res->acl);
        if (n->acl == NULL)
            wn->w->rc = ZKC_ENOMEM;
        if (res->stat != NULL && !wn->w->o->want_data)
            n->stat = *res->stat;
    } else {
        if (res->stat != NULL)
            n->stat = *res->stat;
        if (res->op == ZKC_OP_GET) {
            n->data = malloc(res->data_len + 1);
            if (n->data != NULL) {
                if (res->data_len > 0)
                    memcpy(n->data, res->data, res->data_len);
                n->data[res->data_len] = '\0';
                n->data_len = res->data_len;
            } else {
                wn->w->rc = ZKC_ENOMEM;
            }
            if (res->stat != NULL && res->stat->num_children > 0 && wn->w->rc == ZKC_OK &&
                !(wn->w->o->max_depth >= 0 && n->depth >= wn->w->o->max_depth)) {
                zkc_request req = {.op = ZKC_OP_CHILDREN, .path = n->path, .version = -1};
                if (zk_pipe_add(p, &req, walk_fn, wn) == ZKC_OK)
                    wn->pending++;
                else
                    wn->w->rc = ZKC_ENOMEM;
            }
        } else if (res->op == ZKC_OP_CHILDREN) {
            walk_children(p, wn, res->children);
        }
    }
    if (--wn->pending == 0)
        walk_finish(wn);
}

int zk_walk(zk_ctx *z, const char *root, const zk_walk_opts *o, zk_tree *out)
{
    memset(out, 0, sizeof *out);
    zk_pipe *p = zk_pipe_new(z->conn, z->window, z->cancel);
    char *r = strdup(root);
    if (p == NULL || r == NULL) {
        zk_pipe_free(p);
        free(r);
        return ZKC_ENOMEM;
    }
    walker w = {.o = o, .out = out, .rc = ZKC_OK};
    int rc = walk_add_node(p, &w, r, 0);
    if (rc == ZKC_OK)
        rc = zk_pipe_run(p);
    zk_pipe_free(p);
    if (rc == ZKC_OK)
        rc = w.rc;
    if (rc == ZKC_OK) {
        qsort(out->v, out->n, sizeof *out->v, node_cmp);
        if (out->n == 0 || out->v[0]->depth != 0)
            rc = ZKC_ENONODE;
        else if (out->v[0]->rc != ZKC_OK)
            rc = out->v[0]->rc;
    }
    if (rc != ZKC_OK)
        zk_tree_free(out);
    return rc;
}

void zk_tree_free(zk_tree *t)
{
    for (size_t i = 0; i < t->n; i++)
        free_node(t->v[i]);
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* ---- stats of many paths ---- */

typedef struct stat_slot {
    zkc_stat *st;
    int *rc;
} stat_slot;

static void stat_fn(zk_pipe *p, const zkc_result *res, void *tag)
{
    stat_slot *s = tag;
    (void)p;
    if (res->rc != ZKC_OK)
        *s->rc = res->rc;
    else if (res->stat == NULL)
        *s->rc = ZKC_ENONODE;
    else {
        *s->rc = ZKC_OK;
        *s->st = *res->stat;
    }
}

int zk_stat_many(zk_ctx *z, char *const *paths, size_t n, zkc_stat *st, int *rc)
{
    stat_slot *slots = calloc(n > 0 ? n : 1, sizeof *slots);
    zk_pipe *p = zk_pipe_new(z->conn, z->window, z->cancel);
    int err = slots != NULL && p != NULL ? ZKC_OK : ZKC_ENOMEM;
    for (size_t i = 0; err == ZKC_OK && i < n; i++) {
        slots[i].st = &st[i];
        slots[i].rc = &rc[i];
        rc[i] = ZKC_ENONODE;
        zkc_request req = {.op = ZKC_OP_EXISTS, .path = paths[i], .version = -1};
        err = zk_pipe_add(p, &req, stat_fn, &slots[i]);
    }
    if (err == ZKC_OK)
        err = zk_pipe_run(p);
    zk_pipe_free(p);
    free(slots);
    return err;
}

/* ---- gets and ACLs of many paths ---- */

static void fetch_fn(zk_pipe *p, const zkc_result *res, void *tag)
{
    zk_fetched *f = tag;
    (void)p;
    f->rc = res->rc;
    if (res->rc != ZKC_OK)
        return;
    if (res->stat != NULL)
        f->stat = *res->stat;
    if (res->op == ZKC_OP_GET) {
        f->data = malloc(res->data_len + 1);
        if (f->data == NULL) {
            f->rc = ZKC_ENOMEM;
            return;
        }
        if (res->data_len > 0)
            memcpy(f->data, res->data, res->data_len);
        f->data[res->data_len] = '\0';
        f->data_len = res->data_len;
    } else if (res->op == ZKC_OP_GET_ACL) {
        f->acl = zkc_acl_list_dup(res->acl);
        if (f->acl == NULL)
            f->rc = ZKC_ENOMEM;
    }
}

int zk_fetch_many(zk_ctx *z, zkc_op op, char *const *paths, size_t n, zk_fetched *out)
{
    zk_pipe *p = zk_pipe_new(z->conn, z->window, z->cancel);
    int err = p != NULL ? ZKC_OK : ZKC_ENOMEM;
    memset(out, 0, n * sizeof *out);
    for (size_t i = 0; err == ZKC_OK && i < n; i++) {
        out[i].rc = ZKC_ENONODE;
        zkc_request req = {.op = op, .path = paths[i], .version = -1};
        err = zk_pipe_add(p, &req, fetch_fn, &out[i]);
    }
    if (err == ZKC_OK)
        err = zk_pipe_run(p);
    zk_pipe_free(p);
    return err;
}

void zk_fetched_free(zk_fetched *f, size_t n)
{
    for (size_t i = 0; f != NULL && i < n; i++) {
        free(f[i].data);
        zkc_acl_list_free(f[i].acl);
    }
    free(f);
}
