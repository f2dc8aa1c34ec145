/*
 * zkutil.c: tree helpers over any zkc_conn (the seed's zkutil):
 * CreateRecursive, CreateOrUpdate, DeleteRecursive, ChildrenRecursive and
 * ResolveWildcards, with the original's bugs fixed (reference 10.2-10.6,
 * 10.12).
 *
 * The bulk helpers share one small engine, the pipe: a bounded window of
 * asynchronous operations.  The caller's thread submits the first ones and
 * waits; each completion (on the connection's completion thread) records
 * its result under the pipe's mutex, and the one that finds a sixteenth of
 * the window free refills it, so the window stays nearly full without a
 * thread hop per operation and requests go out in bursts.  A job tells
 * the pipe what to submit next and what to do with each result.  Nothing
 * here blocks inside a completion, and zkc_submit() is never called with
 * the pipe's mutex held.
 *
 * DeleteRecursive sends its deletes in batches of multi where the
 * connection has it (see delete_batched), and level by level through
 * the pipe where it does not; it counts what it lists and deletes for a
 * progress callback (del_progress).
 *
 * Glob matching is glob.c's; the blocking calls and errors are conn.c's.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zkcell/sys/conn_impl.h"
#include "zkcell/path.h"
#include "zkcell/util.h"

/* The largest window we allocate slots for. */
#define MAX_WINDOW 65536u
/*
 * A completion refills the window only once 1/REFILL_DIV of it is free
 * (or nothing is left in flight), so that requests go out in bursts: one
 * by one, each would wake the C client's I/O thread on its own.
 */
#define REFILL_DIV 16u
/* How many times the creator lock-out re-reads an ACL changed meanwhile. */
#define LOCKOUT_TRIES 4
/* How deep delete_recursive goes back for a child that grew new children
 * while its subtree was being deleted. */
#define DELETE_RETRY_DEPTH 2

/* ---- small helpers ---- */

/*
 * Set the thread's message to "<what> <path>: <detail>", where detail is
 * the message the failed call left (it names the operation and the path
 * that failed) or, without one, the code's text.  Returns rc.
 */
static int wrap_errmsg(int rc, const char *what, const char *path)
{
    char detail[768];
    snprintf(detail, sizeof detail, "%s", zkc_errmsg());
    zkc_impl_set_errmsg("%s %s: %s", what, path, detail[0] != '\0' ? detail : zkc_strerror(rc));
    return rc;
}

/* dir + "/" + name (name of len bytes), without "//" when dir is "/" or "". */
static char *join_n(const char *dir, const char *name, size_t len)
{
    size_t dl = strlen(dir);
    if (dl > 0 && dir[dl - 1] == '/')
        dl--;
    char *p = malloc(dl + 1 + len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, dir, dl);
    p[dl] = '/';
    memcpy(p + dl + 1, name, len);
    p[dl + 1 + len] = '\0';
    return p;
}

static char *join(const char *dir, const char *name)
{
    return join_n(dir, name, strlen(name));
}

/* A growable array of owned strings. */
typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

static int strvec_push(strvec *s, char *str)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **v = realloc(s->v, cap * sizeof *v);
        if (v == NULL)
            return ZKC_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = str;
    return ZKC_OK;
}

static void strvec_clear(strvec *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort by bytes and drop duplicates. */
static void strvec_sort_unique(strvec *s)
{
    if (s->n < 2)
        return;
    qsort(s->v, s->n, sizeof *s->v, cmp_strp);
    size_t k = 1;
    for (size_t i = 1; i < s->n; i++) {
        if (strcmp(s->v[i], s->v[k - 1]) == 0)
            free(s->v[i]);
        else
            s->v[k++] = s->v[i];
    }
    s->n = k;
}

/* Move s's strings into a new zkc_strings, leaving s empty. */
static int strvec_to_strings(strvec *s, zkc_strings **ret)
{
    zkc_strings *out = zkc_impl_strings_new(s->n);
    if (out == NULL)
        return ZKC_ENOMEM;
    for (size_t i = 0; i < s->n; i++)
        out->v[i] = s->v[i];
    free(s->v);
    memset(s, 0, sizeof *s);
    *ret = out;
    return ZKC_OK;
}

/* ---- progress of a recursive delete ---- */

/*
 * The counts of one zkc_delete_recursive_progress() and whom to tell.
 * They are updated under the lock of whichever engine runs at the time
 * (the pipe's or the batches'), and those run one after the other, so
 * the callback is called one call at a time.  NULL where nobody asked.
 */
typedef struct del_progress {
    zkc_delete_progress_fn fn;
    void *ud;
    zkc_delete_progress counts;
} del_progress;

static void progress_add(del_progress *pg, uint64_t listed, uint64_t deleted)
{
    if (pg == NULL || (listed == 0 && deleted == 0))
        return;
    pg->counts.listed += listed;
    pg->counts.deleted += deleted;
    pg->fn(&pg->counts, pg->ud);
}

/* ---- the pipe: a bounded window of asynchronous operations ---- */

typedef struct pipe pipe_t;

typedef struct pipe_slot {
    pipe_t *p;
    uintptr_t tag;
} pipe_slot;

typedef struct pipe_job {
    /* Under the mutex: fill *req (path in *path, malloc'd) and *tag for
     * the next operation, or return false when there is none now. */
    bool (*next)(pipe_t *p, zkc_request *req, char **path, uintptr_t *tag);
    /* Under the mutex, on the completion thread: take in one result. */
    void (*done)(pipe_t *p, const zkc_result *res, uintptr_t tag);
    /* Under the mutex, may be NULL: the operation of tag was refused by
     * zkc_submit() (the pipe has recorded the error). */
    void (*drop)(pipe_t *p, uintptr_t tag);
} pipe_job;

struct pipe {
    zkc_conn *c;
    const pipe_job *job;
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned window;
    unsigned refill;   /* free slots a completion waits for before it refills */
    unsigned inflight; /* submitted, completion not run yet */
    unsigned busy;     /* threads inside a completion or the first pump */
    int rc;            /* the first error, or ZKC_OK */
    char msg[512];     /* its detail */
    pipe_slot *slots;
    unsigned *free_slots;
    unsigned nfree;
};

static int pipe_init(pipe_t *p, zkc_conn *c, unsigned window, const pipe_job *job, void *ctx)
{
    memset(p, 0, sizeof *p);
    if (window == 0)
        window = ZKC_DEFAULT_WINDOW;
    if (window > MAX_WINDOW)
        window = MAX_WINDOW;
    p->c = c;
    p->job = job;
    p->ctx = ctx;
    p->window = window;
    p->refill = window / REFILL_DIV > 0 ? window / REFILL_DIV : 1;
    p->slots = calloc(window, sizeof *p->slots);
    p->free_slots = calloc(window, sizeof *p->free_slots);
    if (p->slots == NULL || p->free_slots == NULL) {
        free(p->slots);
        free(p->free_slots);
        return ZKC_ENOMEM;
    }
    for (unsigned i = 0; i < window; i++) {
        p->slots[i].p = p;
        p->free_slots[i] = window - 1 - i;
    }
    p->nfree = window;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return ZKC_OK;
}

static void pipe_fini(pipe_t *p)
{
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->slots);
    free(p->free_slots);
}

static void pipe_fail(pipe_t *p, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record an error (the first one wins); under the mutex. */
static void pipe_fail(pipe_t *p, int rc, const char *fmt, ...)
{
    if (p->rc != ZKC_OK)
        return;
    p->rc = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof p->msg, fmt, ap);
    va_end(ap);
}

/* Record a failed operation, naming it (and what it was for, if not
 * NULL). */
static void pipe_fail_op(pipe_t *p, const zkc_result *res, const char *opname, const char *what)
{
    pipe_fail(p, res->rc, "%s%s%s %s: %s%s%s", what ? what : "", what ? ": " : "", opname,
              res->path ? res->path : "?", zkc_strerror(res->rc), res->errmsg ? ": " : "",
              res->errmsg ? res->errmsg : "");
}

static void pipe_done(const zkc_result *res, void *userdata);

/* Submit operations until the window is full, the job has nothing more
 * to give, or an error was recorded. */
static void pipe_pump(pipe_t *p)
{
    for (;;) {
        zkc_request req;
        char *path = NULL;
        uintptr_t tag = 0;

        pthread_mutex_lock(&p->mu);
        memset(&req, 0, sizeof req);
        if (p->rc != ZKC_OK || p->inflight >= p->window ||
            !p->job->next(p, &req, &path, &tag)) {
            pthread_mutex_unlock(&p->mu);
            free(path);
            return;
        }
        unsigned si = p->free_slots[--p->nfree];
        p->slots[si].tag = tag;
        p->inflight++;
        pthread_mutex_unlock(&p->mu);

        req.path = path;
        int rc = zkc_submit(p->c, &req, pipe_done, &p->slots[si]);
        if (rc != ZKC_OK) {
            pthread_mutex_lock(&p->mu);
            p->inflight--;
            p->free_slots[p->nfree++] = si;
            pipe_fail(p, rc, "submit %s: %s", path, zkc_strerror(rc));
            if (p->job->drop != NULL)
                p->job->drop(p, tag);
            pthread_mutex_unlock(&p->mu);
            free(path);
            return;
        }
        free(path);
    }
}

static void pipe_done(const zkc_result *res, void *userdata)
{
    pipe_slot *slot = userdata;
    pipe_t *p = slot->p;

    /* We never ask for watches; should one come, it is ours to free. */
    zkc_watch_free(res->watch);

    pthread_mutex_lock(&p->mu);
    p->inflight--;
    p->free_slots[p->nfree++] = (unsigned)(slot - p->slots);
    p->job->done(p, res, slot->tag);
    if (p->rc != ZKC_OK || p->window - p->inflight < p->refill) {
        /* Later completions refill (or, after an error, nobody does). */
        if (p->inflight == 0 && p->busy == 0)
            pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    p->busy++;
    pthread_mutex_unlock(&p->mu);

    pipe_pump(p);

    /* Last touch of p: once inflight and busy are 0 the waiter frees it. */
    pthread_mutex_lock(&p->mu);
    p->busy--;
    if (p->inflight == 0 && p->busy == 0)
        pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Run the job to the end: every operation submitted has completed. */
static int pipe_run(pipe_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->busy++;
    pthread_mutex_unlock(&p->mu);

    pipe_pump(p);

    pthread_mutex_lock(&p->mu);
    p->busy--;
    while (p->inflight > 0 || p->busy > 0)
        pthread_cond_wait(&p->cv, &p->mu);
    int rc = p->rc;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ---- ChildrenRecursive ---- */

/*
 * A breadth-first walk.  nodes[] holds every descendant found so far, as
 * a path relative to root; it doubles as the queue of nodes still to
 * list (those from index next on).  Tag 0 is root itself, tag i+1 is
 * nodes[i].
 */
typedef struct walk_node {
    char *rel;
    bool gone; /* deleted before it could be listed */
} walk_node;

typedef struct walk {
    const char *root;
    walk_node *nodes;
    size_t count, cap, next;
    bool root_listed;
    del_progress *pg; /* counts the nodes found; may be NULL */
} walk;

static bool walk_next(pipe_t *p, zkc_request *req, char **path, uintptr_t *tag)
{
    walk *w = p->ctx;
    if (!w->root_listed) {
        w->root_listed = true;
        *path = strdup(w->root);
        *tag = 0;
    } else if (w->next < w->count) {
        *path = join(w->root, w->nodes[w->next].rel);
        *tag = (uintptr_t)++w->next;
    } else {
        return false;
    }
    if (*path == NULL) {
        pipe_fail(p, ZKC_ENOMEM, "children %s: %s", w->root, zkc_strerror(ZKC_ENOMEM));
        return false;
    }
    req->op = ZKC_OP_CHILDREN;
    req->flags = ZKC_NOSTAT; /* names only */
    req->version = -1;
    return true;
}

static void walk_done(pipe_t *p, const zkc_result *res, uintptr_t tag)
{
    walk *w = p->ctx;
    if (res->rc == ZKC_ENONODE && tag > 0) {
        w->nodes[tag - 1].gone = true;
        return;
    }
    if (res->rc != ZKC_OK) {
        pipe_fail_op(p, res, "children", NULL);
        return;
    }
    const zkc_strings *ch = res->children;
    if (ch == NULL || ch->count == 0)
        return;
    if (w->count + ch->count > w->cap) {
        size_t cap = w->cap ? w->cap : 64;
        while (cap < w->count + ch->count)
            cap *= 2;
        walk_node *nodes = realloc(w->nodes, cap * sizeof *nodes);
        if (nodes == NULL) {
            pipe_fail(p, ZKC_ENOMEM, "children %s: %s", res->path, zkc_strerror(ZKC_ENOMEM));
            return;
        }
        w->nodes = nodes;
        w->cap = cap;
    }
    const char *parent = tag > 0 ? w->nodes[tag - 1].rel : NULL;
    for (size_t i = 0; i < ch->count; i++) {
        char *rel = parent != NULL ? join(parent, ch->v[i]) : strdup(ch->v[i]);
        if (rel == NULL) {
            pipe_fail(p, ZKC_ENOMEM, "children %s: %s", res->path, zkc_strerror(ZKC_ENOMEM));
            return;
        }
        w->nodes[w->count].rel = rel;
        w->nodes[w->count].gone = false;
        w->count++;
    }
    progress_add(w->pg, ch->count, 0);
}

static const pipe_job walk_job = {walk_next, walk_done, NULL};

static void walk_free(walk *w)
{
    for (size_t i = 0; i < w->count; i++)
        free(w->nodes[i].rel);
    free(w->nodes);
    memset(w, 0, sizeof *w);
}

/*
 * List the subtree under path into *out (relative paths of the nodes that
 * still existed when listed, unsorted), counting them in pg (may be
 * NULL).  On error, *msg holds the failed operation's detail.
 */
static int list_tree(zkc_conn *c, const char *path, unsigned window, del_progress *pg,
                     strvec *out, char *msg, size_t msglen)
{
    walk w = {.root = path, .pg = pg};
    pipe_t p;
    int rc = pipe_init(&p, c, window, &walk_job, &w);
    if (rc != ZKC_OK) {
        snprintf(msg, msglen, "%s", zkc_strerror(rc));
        return rc;
    }
    rc = pipe_run(&p);
    if (rc != ZKC_OK)
        snprintf(msg, msglen, "%s", p.msg);
    pipe_fini(&p);

    for (size_t i = 0; rc == ZKC_OK && i < w.count; i++) {
        if (w.nodes[i].gone)
            continue;
        if (strvec_push(out, w.nodes[i].rel) != ZKC_OK) {
            rc = ZKC_ENOMEM;
            snprintf(msg, msglen, "%s", zkc_strerror(rc));
            break;
        }
        w.nodes[i].rel = NULL;
    }
    if (rc != ZKC_OK)
        strvec_clear(out);
    walk_free(&w);
    return rc;
}

int zkc_children_recursive(zkc_conn *c, const char *path, unsigned window,
                           zkc_strings **ret_paths)
{
    if (ret_paths != NULL)
        *ret_paths = NULL;
    if (c == NULL || path == NULL || ret_paths == NULL) {
        zkc_impl_set_errmsg("children_recursive: NULL argument");
        return ZKC_EBADARGUMENTS;
    }
    if (zkc_path_validate(path, false) != ZKC_OK) {
        zkc_impl_set_errmsg("children_recursive %s: %s", path, zkc_strerror(ZKC_EBADPATH));
        return ZKC_EBADPATH;
    }

    strvec out = {0};
    char msg[512];
    int rc = list_tree(c, path, window, NULL, &out, msg, sizeof msg);
    if (rc != ZKC_OK) {
        zkc_impl_set_errmsg("children_recursive %s: %s", path, msg);
        return rc;
    }
    strvec_sort_unique(&out);
    rc = strvec_to_strings(&out, ret_paths);
    if (rc != ZKC_OK) {
        strvec_clear(&out);
        zkc_impl_set_errmsg("children_recursive %s: %s", path, zkc_strerror(rc));
    }
    return rc;
}

/* ---- CreateRecursive and CreateOrUpdate ---- */

/*
 * The ACL of the directories made on the way: acl's entries with
 * ZKC_PERM_DIRECTORY (world:anyone when acl is NULL).  The entries'
 * strings are borrowed from acl; free only the returned list's array.
 */
static const zkc_acl_list *dir_acl(const zkc_acl_list *acl, zkc_acl_list *buf)
{
    if (acl == NULL)
        return zkc_acl_world(ZKC_PERM_DIRECTORY);
    buf->count = acl->count;
    buf->v = NULL;
    if (acl->count == 0)
        return buf;
    buf->v = calloc(acl->count, sizeof *buf->v);
    if (buf->v == NULL)
        return NULL;
    for (size_t i = 0; i < acl->count; i++) {
        buf->v[i] = acl->v[i];
        buf->v[i].perms = ZKC_PERM_DIRECTORY;
    }
    return buf;
}

/*
 * An ancestor's create: ZKC_OK when the node is there afterwards, made by
 * us or not.  A lost reply (ZKC_ECONNECTIONLOSS: the create may have been
 * applied) is settled by looking, since either outcome will do.
 */
static int create_ancestor(zkc_conn *c, const char *node, const zkc_acl_list *dacl)
{
    int rc = zkc_create(c, node, NULL, 0, 0, dacl, NULL);
    if (rc == ZKC_ENODEEXISTS)
        return ZKC_OK;
    if (rc == ZKC_ECONNECTIONLOSS) {
        zkc_stat st;
        bool there = false;
        if (zkc_exists(c, node, &there, &st, NULL) == ZKC_OK && there)
            return ZKC_OK;
        zkc_impl_set_errmsg("%s: %s", node, zkc_strerror(rc));
    }
    return rc;
}

/*
 * Create the missing ancestors of path, like mkdir -p: the nearest one
 * first, going up while ZKC_ENONODE says its own parent is missing, then
 * back down.  Nodes that exist already, or appear meanwhile, are fine.
 */
static int create_ancestors(zkc_conn *c, const char *path, const zkc_acl_list *acl)
{
    size_t n = strlen(path);
    /* Slash positions: ancestor i is path[0 .. slash[i]). */
    size_t *slash = malloc((n + 1) * sizeof *slash);
    char *buf = strdup(path);
    zkc_acl_list dbuf = {0, NULL};
    const zkc_acl_list *dacl = dir_acl(acl, &dbuf);
    int rc = ZKC_OK;

    if (slash == NULL || buf == NULL || dacl == NULL) {
        rc = ZKC_ENOMEM;
        zkc_impl_set_errmsg("create_recursive %s: %s", path, zkc_strerror(rc));
        goto out;
    }
    size_t k = 0;
    for (size_t i = 1; i < n; i++)
        if (path[i] == '/')
            slash[k++] = i;
    /* The leaf's parent is ancestor k-1; none when the parent is "/". */
    size_t i = k;
    while (i > 0) {
        buf[slash[i - 1]] = '\0';
        rc = create_ancestor(c, buf, dacl);
        buf[slash[i - 1]] = '/';
        if (rc == ZKC_ENONODE) {
            i--;
            continue;
        }
        if (rc != ZKC_OK) {
            wrap_errmsg(rc, "create_recursive", path);
            goto out;
        }
        break;
    }
    if (i == 0 && k > 0) {
        /* Even the top ancestor's parent, "/", was missing. */
        rc = ZKC_ENONODE;
        wrap_errmsg(rc, "create_recursive", path);
        goto out;
    }
    /* Ancestor i-1 exists now; create i .. k-1. */
    for (; i < k; i++) {
        buf[slash[i]] = '\0';
        rc = create_ancestor(c, buf, dacl);
        buf[slash[i]] = '/';
        if (rc != ZKC_OK) {
            wrap_errmsg(rc, "create_recursive", path);
            goto out;
        }
    }
    rc = ZKC_OK;
out:
    free(slash);
    free(buf);
    free(dbuf.v);
    return rc;
}

int zkc_create_recursive(zkc_conn *c, const char *path, const void *data, size_t len,
                         unsigned flags, const zkc_acl_list *acl, char **ret_path)
{
    if (ret_path != NULL)
        *ret_path = NULL;
    if (c == NULL || path == NULL) {
        zkc_impl_set_errmsg("create_recursive: NULL argument");
        return ZKC_EBADARGUMENTS;
    }
    if (zkc_path_validate(path, (flags & ZKC_SEQUENCE) != 0) != ZKC_OK || strcmp(path, "/") == 0) {
        zkc_impl_set_errmsg("create_recursive %s: %s", path, zkc_strerror(ZKC_EBADPATH));
        return ZKC_EBADPATH;
    }
    int rc = zkc_create(c, path, data, len, flags, acl, ret_path);
    if (rc != ZKC_ENONODE)
        return rc;
    rc = create_ancestors(c, path, acl);
    if (rc != ZKC_OK)
        return rc;
    return zkc_create(c, path, data, len, flags, acl, ret_path);
}

int zkc_create_or_update(zkc_conn *c, const char *path, const void *data, size_t len,
                         unsigned flags, const zkc_acl_list *acl, bool recursive,
                         char **ret_path)
{
    if (ret_path != NULL)
        *ret_path = NULL;
    if (c == NULL || path == NULL) {
        zkc_impl_set_errmsg("create_or_update: NULL argument");
        return ZKC_EBADARGUMENTS;
    }
    int rc = recursive ? zkc_create_recursive(c, path, data, len, flags, acl, ret_path)
                       : zkc_create(c, path, data, len, flags, acl, ret_path);
    if (rc != ZKC_ENODEEXISTS)
        return rc;
    return zkc_set(c, path, data, len, -1, NULL);
}

/* ---- DeleteRecursive ---- */

/* One depth of the subtree, deleted in a window; children that grew new
 * children meanwhile are collected in retry. */
typedef struct del_level {
    const char *root;
    char **rels;
    size_t n, next;
    bool *retry;
    del_progress *pg;
} del_level;

static bool del_next(pipe_t *p, zkc_request *req, char **path, uintptr_t *tag)
{
    del_level *d = p->ctx;
    if (d->next >= d->n)
        return false;
    *path = join(d->root, d->rels[d->next]);
    if (*path == NULL) {
        pipe_fail(p, ZKC_ENOMEM, "delete %s: %s", d->root, zkc_strerror(ZKC_ENOMEM));
        return false;
    }
    *tag = d->next++;
    req->op = ZKC_OP_DELETE;
    req->version = -1;
    return true;
}

static void del_done(pipe_t *p, const zkc_result *res, uintptr_t tag)
{
    del_level *d = p->ctx;
    if (res->rc == ZKC_OK)
        progress_add(d->pg, 0, 1);
    if (res->rc == ZKC_OK || res->rc == ZKC_ENONODE)
        return;
    if (res->rc == ZKC_ENOTEMPTY) {
        d->retry[tag] = true;
        return;
    }
    pipe_fail_op(p, res, "delete", NULL);
}

static const pipe_job del_job = {del_next, del_done, NULL};

/*
 * Take CREATE away from path's ACL so nobody adds children while its
 * subtree goes, checked against the ACL's own version (aversion).  Not
 * having ADMIN (ZKC_ENOAUTH) is no reason to stop: the lock-out is a
 * courtesy, the final delete tells whether it worked.  On success with a
 * change made, *saved and *aversion allow putting the ACL back.
 */
static int lock_out_creators(zkc_conn *c, const char *path, zkc_acl_list **saved,
                             int32_t *aversion)
{
    *saved = NULL;
    for (int tries = 0; tries < LOCKOUT_TRIES; tries++) {
        zkc_acl_list *acl = NULL;
        zkc_stat st;
        int rc = zkc_get_acl(c, path, &acl, &st);
        if (rc == ZKC_ENOAUTH)
            return ZKC_OK;
        if (rc != ZKC_OK)
            return rc;
        zkc_acl_list *locked = zkc_acl_list_dup(acl);
        if (locked == NULL) {
            zkc_acl_list_free(acl);
            zkc_impl_set_errmsg("get_acl %s: %s", path, zkc_strerror(ZKC_ENOMEM));
            return ZKC_ENOMEM;
        }
        bool change = false;
        for (size_t i = 0; i < locked->count; i++) {
            if (locked->v[i].perms & ZKC_PERM_CREATE) {
                locked->v[i].perms &= ~ZKC_PERM_CREATE;
                change = true;
            }
        }
        if (!change) {
            zkc_acl_list_free(acl);
            zkc_acl_list_free(locked);
            return ZKC_OK;
        }
        rc = zkc_set_acl(c, path, locked, st.aversion);
        zkc_acl_list_free(locked);
        if (rc == ZKC_OK) {
            *saved = acl;
            *aversion = st.aversion + 1;
            return ZKC_OK;
        }
        zkc_acl_list_free(acl);
        if (rc == ZKC_ENOAUTH)
            return ZKC_OK;
        if (rc != ZKC_EBADVERSION)
            return rc;
        /* The ACL changed under us: read it again. */
    }
    return ZKC_OK;
}

/* Delete the nodes of rels (relative to path), deepest first, one depth
 * at a time so no parent goes before its children have. */
static int delete_levels(zkc_conn *c, const char *path, strvec *rels, unsigned window,
                         int retry_depth, del_progress *pg);

static int delete_tree(zkc_conn *c, const char *path, int32_t version, unsigned window,
                       int retry_depth, del_progress *pg)
{
    int rc = zkc_delete(c, path, version);
    if (rc == ZKC_OK)
        progress_add(pg, 0, 1);
    if (rc != ZKC_ENOTEMPTY)
        return rc;

    zkc_acl_list *saved = NULL;
    int32_t aversion = 0;
    rc = lock_out_creators(c, path, &saved, &aversion);
    if (rc != ZKC_OK)
        return wrap_errmsg(rc, "delete_recursive", path);

    strvec rels = {0};
    char msg[512];
    rc = list_tree(c, path, window, pg, &rels, msg, sizeof msg);
    if (rc != ZKC_OK) {
        zkc_impl_set_errmsg("delete_recursive %s: %s", path, msg);
        goto fail;
    }
    if (pg != NULL && !pg->counts.listing_done) {
        pg->counts.listing_done = true;
        pg->fn(&pg->counts, pg->ud);
    }
    rc = delete_levels(c, path, &rels, window, retry_depth, pg);
    strvec_clear(&rels);
    if (rc != ZKC_OK)
        goto fail;

    rc = zkc_delete(c, path, version);
    if (rc == ZKC_ENOTEMPTY) {
        zkc_impl_set_errmsg("delete_recursive %s: nodes were created under it while it was "
                        "being deleted",
                        path);
        goto fail;
    }
    if (rc != ZKC_OK)
        goto fail;
    progress_add(pg, 0, 1);
    zkc_acl_list_free(saved);
    return ZKC_OK;

fail:
    if (saved != NULL) {
        /* Give the node back its CREATE permission; keep our message. */
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", zkc_errmsg());
        (void)zkc_set_acl(c, path, saved, aversion);
        zkc_impl_set_errmsg("%s", keep);
        zkc_acl_list_free(saved);
    }
    return rc;
}

static size_t depth_of(const char *rel)
{
    size_t d = 1;
    for (; *rel != '\0'; rel++)
        d += *rel == '/';
    return d;
}

/*
 * Batched deletes: the nodes, deepest first, cut into multis of at most
 * DEL_BATCH_OPS deletes and DEL_BATCH_BYTES of request, DEL_MULTI_WINDOW
 * of them in flight.  A multi may hold a node and, after it, its parent:
 * the server applies a multi's operations in order, and one session's
 * requests in the order sent.  A batch that fails (the tree changed
 * meanwhile: a node gone, a child created; or anything else) is done
 * again node by node, pipelined, before any later batch is sent; a later
 * multi already in flight that needed it fails in turn and is done node
 * by node after it, so the order of deletes holds.  Node by node, a node
 * already gone is fine and one that grew children is marked for retry,
 * as in the level-by-level path; any other error stops the delete.  One
 * thread at a time submits (the pumper), so what is sent goes in the
 * order chosen.
 */
#define DEL_BATCH_OPS    1000
#define DEL_BATCH_BYTES  (768 * 1024)
#define DEL_MULTI_WINDOW 4

typedef struct mdel mdel;

typedef struct mdel_tag {
    mdel *md;
    size_t i; /* a batch, or a node */
} mdel_tag;

struct mdel {
    zkc_conn *c;
    const char *root;
    char **order; /* relative paths, deepest first */
    bool *retry;
    del_progress *pg;
    size_t *bstart; /* batch b is order[bstart[b] .. bstart[b + 1]) */
    size_t nb;
    unsigned window;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next_batch; /* the next batch to send as a multi */
    size_t *fq;        /* failed batches, to do node by node */
    size_t fq_head, fq_tail;
    size_t fq_pos; /* the next node of batch fq[fq_head] */
    bool no_multi; /* the server does not do multi: the rest node by node */
    bool first_sent;
    unsigned inflight_multi, inflight_single, busy;
    bool pumping;
    int rc;
    char msg[512];
};

static void mdel_fail(mdel *md, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void mdel_fail(mdel *md, int rc, const char *fmt, ...)
{
    if (md->rc != ZKC_OK)
        return;
    md->rc = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(md->msg, sizeof md->msg, fmt, ap);
    va_end(ap);
}

static void mdel_pump(mdel *md);

static void mdel_finish(mdel *md)
{
    pthread_mutex_lock(&md->mu);
    md->busy--;
    if (md->inflight_multi == 0 && md->inflight_single == 0 && md->busy == 0)
        pthread_cond_signal(&md->cv);
    pthread_mutex_unlock(&md->mu);
}

static void mdel_single_done(const zkc_result *res, void *ud)
{
    mdel_tag *t = ud;
    mdel *md = t->md;
    zkc_watch_free(res->watch);
    pthread_mutex_lock(&md->mu);
    md->inflight_single--;
    md->busy++;
    if (res->rc == ZKC_OK)
        progress_add(md->pg, 0, 1);
    else if (res->rc == ZKC_ENOTEMPTY)
        md->retry[t->i] = true;
    else if (res->rc != ZKC_ENONODE)
        mdel_fail(md, res->rc, "delete %s: %s%s%s", res->path ? res->path : "?",
                  zkc_strerror(res->rc), res->errmsg ? ": " : "",
                  res->errmsg ? res->errmsg : "");
    pthread_mutex_unlock(&md->mu);
    free(t);
    mdel_pump(md);
    mdel_finish(md);
}

static void mdel_multi_done(const zkc_result *res, void *ud)
{
    mdel_tag *t = ud;
    mdel *md = t->md;
    pthread_mutex_lock(&md->mu);
    md->inflight_multi--;
    md->busy++;
    if (res->rc == ZKC_OK)
        progress_add(md->pg, 0, md->bstart[t->i + 1] - md->bstart[t->i]);
    if (res->rc != ZKC_OK) {
        /* Node by node, after the batches that failed before it. */
        md->fq[md->fq_tail++] = t->i;
        if (res->rc == ZKC_EUNIMPLEMENTED)
            md->no_multi = true; /* a server from before multi */
    }
    pthread_mutex_unlock(&md->mu);
    free(t);
    mdel_pump(md);
    mdel_finish(md);
}

/* Send one batch as a multi (not under the mutex).  Returns what
 * zkc_amulti returned. */
static int mdel_send_batch(mdel *md, size_t b)
{
    size_t lo = md->bstart[b], n = md->bstart[b + 1] - lo;
    zkc_request *ops = calloc(n, sizeof *ops);
    char **paths = calloc(n, sizeof *paths);
    mdel_tag *t = malloc(sizeof *t);
    int rc = ops != NULL && paths != NULL && t != NULL ? ZKC_OK : ZKC_ENOMEM;
    for (size_t k = 0; rc == ZKC_OK && k < n; k++) {
        paths[k] = join(md->root, md->order[lo + k]);
        if (paths[k] == NULL)
            rc = ZKC_ENOMEM;
        ops[k].op = ZKC_OP_DELETE;
        ops[k].path = paths[k];
        ops[k].version = -1;
    }
    if (rc == ZKC_OK) {
        t->md = md;
        t->i = b;
        rc = zkc_amulti(md->c, ops, n, mdel_multi_done, t);
    }
    if (rc != ZKC_OK)
        free(t);
    for (size_t k = 0; paths != NULL && k < n; k++)
        free(paths[k]);
    free(paths);
    free(ops);
    return rc;
}

static int mdel_send_single(mdel *md, size_t i)
{
    char *path = join(md->root, md->order[i]);
    mdel_tag *t = malloc(sizeof *t);
    int rc = path != NULL && t != NULL ? ZKC_OK : ZKC_ENOMEM;
    if (rc == ZKC_OK) {
        t->md = md;
        t->i = i;
        rc = zkc_adelete(md->c, path, -1, mdel_single_done, t);
    }
    if (rc != ZKC_OK) {
        free(t);
        pthread_mutex_lock(&md->mu);
        mdel_fail(md, rc, "delete %s: %s", path != NULL ? path : md->root, zkc_strerror(rc));
        pthread_mutex_unlock(&md->mu);
    }
    free(path);
    return rc;
}

/* Send what may be sent now: failed batches' nodes first, then multis.
 * One pumper at a time; the others leave it their work. */
static void mdel_pump(mdel *md)
{
    pthread_mutex_lock(&md->mu);
    if (md->pumping) {
        pthread_mutex_unlock(&md->mu);
        return;
    }
    md->pumping = true;
    for (;;) {
        if (md->rc != ZKC_OK)
            break;
        /* A batch waiting for node-by-node goes before any later one. */
        if (md->fq_head == md->fq_tail && md->no_multi && md->next_batch < md->nb) {
            md->fq[md->fq_tail++] = md->next_batch++;
            continue;
        }
        if (md->fq_head < md->fq_tail) {
            size_t b = md->fq[md->fq_head];
            if (md->fq_pos < md->bstart[b])
                md->fq_pos = md->bstart[b];
            if (md->fq_pos >= md->bstart[b + 1]) {
                md->fq_head++;
                continue;
            }
            if (md->inflight_single >= md->window)
                break;
            size_t i = md->fq_pos++;
            md->inflight_single++;
            pthread_mutex_unlock(&md->mu);
            int rc = mdel_send_single(md, i);
            pthread_mutex_lock(&md->mu);
            if (rc != ZKC_OK)
                md->inflight_single--;
            continue;
        }
        if (md->next_batch >= md->nb || md->inflight_multi >= DEL_MULTI_WINDOW)
            break;
        size_t b = md->next_batch++;
        bool first = !md->first_sent;
        md->first_sent = true;
        md->inflight_multi++;
        pthread_mutex_unlock(&md->mu);
        int rc = mdel_send_batch(md, b);
        pthread_mutex_lock(&md->mu);
        if (rc == ZKC_OK)
            continue;
        md->inflight_multi--;
        if (rc == ZKC_ENOTSUPPORTED && first) {
            /* Not this connection's: the caller goes level by level. */
            mdel_fail(md, rc, "multi: %s", zkc_strerror(rc));
        } else if (rc == ZKC_ENOTSUPPORTED) {
            md->no_multi = true;
            md->fq[md->fq_tail++] = b;
        } else {
            mdel_fail(md, rc, "multi (deletes from %s/%s): %s", md->root,
                      md->order[md->bstart[b]], zkc_strerror(rc));
        }
    }
    md->pumping = false;
    pthread_mutex_unlock(&md->mu);
}

/*
 * Delete order[0..n) (relative to path, deepest first) in batches of
 * multi.  Returns ZKC_OK, ZKC_ENOTSUPPORTED when the connection does not
 * do multi (nothing was sent), or the error that stopped it (message
 * set).  Nodes that grew children are marked in retry.
 */
static int delete_batched(zkc_conn *c, const char *path, char **order, size_t n,
                          unsigned window, bool *retry, del_progress *pg)
{
    mdel md;
    memset(&md, 0, sizeof md);
    md.c = c;
    md.root = path;
    md.order = order;
    md.retry = retry;
    md.pg = pg;
    md.window = window == 0 ? ZKC_DEFAULT_WINDOW : window > MAX_WINDOW ? MAX_WINDOW : window;
    md.bstart = malloc((n + 1) * sizeof *md.bstart);
    md.fq = malloc((n + 1) * sizeof *md.fq);
    if (md.bstart == NULL || md.fq == NULL) {
        free(md.bstart);
        free(md.fq);
        zkc_impl_set_errmsg("delete_recursive %s: %s", path, zkc_strerror(ZKC_ENOMEM));
        return ZKC_ENOMEM;
    }
    /* Cut the batches: by count, and by the request's size. */
    size_t root_len = strlen(path), bytes = 0;
    md.bstart[0] = 0;
    for (size_t i = 0; i < n; i++) {
        /* a MultiHeader, the path (length and bytes), the version */
        size_t op_bytes = 9 + 4 + root_len + 1 + strlen(order[i]) + 4;
        size_t count = i - md.bstart[md.nb];
        if (count > 0 && (count >= DEL_BATCH_OPS || bytes + op_bytes > DEL_BATCH_BYTES)) {
            md.bstart[++md.nb] = i;
            bytes = 0;
        }
        bytes += op_bytes;
    }
    if (n > 0)
        md.bstart[++md.nb] = n;
    pthread_mutex_init(&md.mu, NULL);
    pthread_cond_init(&md.cv, NULL);

    pthread_mutex_lock(&md.mu);
    md.busy++;
    pthread_mutex_unlock(&md.mu);
    mdel_pump(&md);
    pthread_mutex_lock(&md.mu);
    md.busy--;
    while (md.inflight_multi > 0 || md.inflight_single > 0 || md.busy > 0)
        pthread_cond_wait(&md.cv, &md.mu);
    int rc = md.rc;
    pthread_mutex_unlock(&md.mu);
    if (rc != ZKC_OK && rc != ZKC_ENOTSUPPORTED)
        zkc_impl_set_errmsg("delete_recursive %s: %s", path, md.msg);
    pthread_mutex_destroy(&md.mu);
    pthread_cond_destroy(&md.cv);
    free(md.bstart);
    free(md.fq);
    return rc;
}

/* The nodes of rels (deepest first) that grew children while being
 * deleted: their own recursive delete, a bounded number of times. */
static int delete_retries(zkc_conn *c, const char *path, char **rels, const bool *retry,
                          size_t n, unsigned window, int retry_depth, del_progress *pg)
{
    int rc = ZKC_OK;
    for (size_t i = 0; rc == ZKC_OK && i < n; i++) {
        if (!retry[i])
            continue;
        char *child = join(path, rels[i]);
        if (child == NULL) {
            rc = ZKC_ENOMEM;
            zkc_impl_set_errmsg("delete_recursive %s: %s", path, zkc_strerror(rc));
            break;
        }
        if (retry_depth > 0) {
            rc = delete_tree(c, child, -1, window, retry_depth - 1, pg);
            if (rc == ZKC_ENONODE)
                rc = ZKC_OK;
            else if (rc != ZKC_OK)
                wrap_errmsg(rc, "delete_recursive", path);
        } else {
            rc = ZKC_ENOTEMPTY;
            zkc_impl_set_errmsg("delete_recursive %s: nodes were created under %s while it "
                            "was being deleted",
                            path, child);
        }
        free(child);
    }
    return rc;
}

static int delete_levels(zkc_conn *c, const char *path, strvec *rels, unsigned window,
                         int retry_depth, del_progress *pg)
{
    size_t maxd = 0;
    for (size_t i = 0; i < rels->n; i++) {
        size_t d = depth_of(rels->v[i]);
        if (d > maxd)
            maxd = d;
    }
    /* Bucket the nodes by depth (counting sort, pointers only). */
    size_t *start = calloc(maxd + 2, sizeof *start);
    char **order = malloc((rels->n ? rels->n : 1) * sizeof *order);
    bool *retry = calloc(rels->n ? rels->n : 1, sizeof *retry);
    int rc = ZKC_OK;
    if (start == NULL || order == NULL || retry == NULL) {
        rc = ZKC_ENOMEM;
        zkc_impl_set_errmsg("delete_recursive %s: %s", path, zkc_strerror(rc));
        goto out;
    }
    for (size_t i = 0; i < rels->n; i++)
        start[depth_of(rels->v[i]) + 1]++;
    for (size_t d = 1; d <= maxd + 1; d++)
        start[d] += start[d - 1];
    {
        size_t *fill = calloc(maxd + 1, sizeof *fill);
        if (fill == NULL) {
            rc = ZKC_ENOMEM;
            zkc_impl_set_errmsg("delete_recursive %s: %s", path, zkc_strerror(rc));
            goto out;
        }
        for (size_t i = 0; i < rels->n; i++) {
            size_t d = depth_of(rels->v[i]);
            order[start[d] + fill[d]++] = rels->v[i];
        }
        free(fill);
    }

    /* Deepest first, in batches of multi, where the connection does
     * multi; else one depth at a time. */
    {
        char **deep = malloc((rels->n ? rels->n : 1) * sizeof *deep);
        if (deep == NULL) {
            rc = ZKC_ENOMEM;
            zkc_impl_set_errmsg("delete_recursive %s: %s", path, zkc_strerror(rc));
            goto out;
        }
        size_t k = 0;
        for (size_t d = maxd; d >= 1; d--)
            for (size_t i = start[d]; i < start[d + 1]; i++)
                deep[k++] = order[i];
        rc = delete_batched(c, path, deep, rels->n, window, retry, pg);
        if (rc == ZKC_OK)
            rc = delete_retries(c, path, deep, retry, rels->n, window, retry_depth, pg);
        free(deep);
        if (rc != ZKC_ENOTSUPPORTED)
            goto out;
        rc = ZKC_OK;
        memset(retry, 0, rels->n * sizeof *retry);
    }

    for (size_t d = maxd; d >= 1 && rc == ZKC_OK; d--) {
        del_level lvl = {.root = path,
                         .rels = order + start[d],
                         .n = start[d + 1] - start[d],
                         .retry = retry + start[d],
                         .pg = pg};
        if (lvl.n == 0)
            continue;
        pipe_t p;
        rc = pipe_init(&p, c, window, &del_job, &lvl);
        if (rc != ZKC_OK) {
            zkc_impl_set_errmsg("delete_recursive %s: %s", path, zkc_strerror(rc));
            break;
        }
        rc = pipe_run(&p);
        if (rc != ZKC_OK)
            zkc_impl_set_errmsg("delete_recursive %s: %s", path, p.msg);
        pipe_fini(&p);

        /* Children that grew children meanwhile: their own recursive
         * delete, which locks their creators out, a bounded number of
         * times. */
        if (rc == ZKC_OK)
            rc = delete_retries(c, path, lvl.rels, lvl.retry, lvl.n, window, retry_depth, pg);
    }
out:
    free(start);
    free(order);
    free(retry);
    return rc;
}

int zkc_delete_recursive_progress(zkc_conn *c, const char *path, int32_t version,
                                  zkc_delete_progress_fn fn, void *userdata)
{
    if (c == NULL || path == NULL) {
        zkc_impl_set_errmsg("delete_recursive: NULL argument");
        return ZKC_EBADARGUMENTS;
    }
    if (zkc_path_validate(path, false) != ZKC_OK) {
        zkc_impl_set_errmsg("delete_recursive %s: %s", path, zkc_strerror(ZKC_EBADPATH));
        return ZKC_EBADPATH;
    }
    /* path itself is listed from the start. */
    del_progress pg = {.fn = fn, .ud = userdata, .counts = {.listed = 1}};
    int rc = delete_tree(c, path, version, 0, DELETE_RETRY_DEPTH, fn != NULL ? &pg : NULL);
    if (rc == ZKC_OK && fn != NULL && !pg.counts.listing_done) {
        /* A node without children: nothing was listed. */
        pg.counts.listing_done = true;
        fn(&pg.counts, userdata);
    }
    return rc;
}

int zkc_delete_recursive(zkc_conn *c, const char *path, int32_t version)
{
    return zkc_delete_recursive_progress(c, path, version, NULL, NULL);
}

/* ---- ResolveWildcards ---- */

/*
 * Each pattern is split at '/' and resolved component by component, as in
 * the original (reference 10.5), but as tasks in one window of operations
 * rather than a goroutine per match:
 *
 * - literal components (no unescaped '*', '?' or '[') are appended with
 *   their escapes undone ("a\*b" names the node "a*b");
 * - a wildcard component lists its parent and keeps the children that
 *   match (a missing parent matches nothing); in the cell position of
 *   /zk/<cell>/... the candidates are the caller's known cells instead;
 * - a path expanded from a wildcard is kept only if it exists: an exists
 *   check, except when its last component came from a listing;
 * - a pattern with no wildcard at all is returned without any check
 *   (escapes undone), as the user typed it.
 *
 * Malformed wildcards are found before anything is listed, so a bad
 * pattern fails the same way whatever the tree holds.
 */

/* One pattern, split at '/': comps[0] is the empty string before the
 * leading '/'. */
typedef struct wpattern {
    const char *text; /* the pattern as given */
    char *buf;        /* a copy, NULs at the slashes */
    char **comps;
    size_t ncomps;
    bool *magic;
    strvec found;
} wpattern;

/* A partly resolved path: prefix is literal, comps from k on are not
 * resolved yet. */
typedef struct wtask {
    struct wtask *next_free;
    size_t pat;
    size_t k;
    char *prefix; /* "" for the root */
} wtask;

typedef struct wresolve {
    wpattern *pats;
    const zkc_strings *known_cells;
    wtask **todo; /* a stack: depth first keeps it small */
    size_t ntodo, captodo;
} wresolve;

/* Copy s without its escapes: "\x" is x, as in a glob. */
static void unescape(char *dst, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' && s[1] != '\0')
            s++;
        *dst++ = *s;
    }
    *dst = '\0';
}

static wtask *wtask_new(size_t pat, size_t k, const char *prefix, const char *name)
{
    wtask *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->pat = pat;
    t->k = k;
    t->prefix = name != NULL ? join(prefix, name) : strdup(prefix);
    if (t->prefix == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

static void wtask_free(wtask *t)
{
    if (t != NULL)
        free(t->prefix);
    free(t);
}

static int wresolve_push(wresolve *w, wtask *t)
{
    if (t == NULL)
        return ZKC_ENOMEM;
    if (w->ntodo == w->captodo) {
        size_t cap = w->captodo ? w->captodo * 2 : 16;
        wtask **v = realloc(w->todo, cap * sizeof *v);
        if (v == NULL) {
            wtask_free(t);
            return ZKC_ENOMEM;
        }
        w->todo = v;
        w->captodo = cap;
    }
    w->todo[w->ntodo++] = t;
    return ZKC_OK;
}

/*
 * Queue a task for each name that matches t's next component.  listed
 * tells that the names come from listing t's prefix: then a match of the
 * last component is known to exist and needs no exists round trip.
 */
static int expand(pipe_t *p, wtask *t, const char *const *names, size_t n, bool listed)
{
    wresolve *w = p->ctx;
    wpattern *pat = &w->pats[t->pat];
    const char *comp = pat->comps[t->k];
    bool last = t->k + 1 == pat->ncomps;
    for (size_t i = 0; i < n; i++) {
        bool m = false;
        int rc = zkc_glob_match(comp, names[i], &m);
        if (rc != ZKC_OK) {
            pipe_fail(p, rc, "%s: %s", comp, zkc_strerror(rc));
            return rc;
        }
        if (!m)
            continue;
        if (listed && last) {
            char *found = join(t->prefix, names[i]);
            rc = found != NULL ? strvec_push(&pat->found, found) : ZKC_ENOMEM;
            if (rc != ZKC_OK)
                free(found);
        } else {
            rc = wresolve_push(w, wtask_new(t->pat, t->k + 1, t->prefix, names[i]));
        }
        if (rc != ZKC_OK) {
            pipe_fail(p, rc, "%s: %s", t->prefix, zkc_strerror(rc));
            return rc;
        }
    }
    return ZKC_OK;
}

static bool wresolve_next(pipe_t *p, zkc_request *req, char **path, uintptr_t *tag)
{
    wresolve *w = p->ctx;
    while (w->ntodo > 0) {
        wtask *t = w->todo[--w->ntodo];
        wpattern *pat = &w->pats[t->pat];

        /* Append the literal components up to the next wildcard. */
        size_t j = t->k;
        size_t extra = 0;
        while (j < pat->ncomps && !pat->magic[j])
            extra += 1 + strlen(pat->comps[j++]);
        if (j > t->k) {
            size_t pl = strlen(t->prefix);
            char *np = realloc(t->prefix, pl + extra + 1);
            if (np == NULL) {
                wtask_free(t);
                pipe_fail(p, ZKC_ENOMEM, "%s", zkc_strerror(ZKC_ENOMEM));
                return false;
            }
            t->prefix = np;
            for (size_t i = t->k; i < j; i++) {
                np[pl++] = '/';
                unescape(np + pl, pat->comps[i]);
                pl += strlen(np + pl);
            }
            t->k = j;
        }

        if (j == pat->ncomps) {
            /* Fully expanded: keep it if it exists. */
            req->op = ZKC_OP_EXISTS;
        } else if (j == 2 && w->known_cells != NULL && strcmp(pat->comps[1], "zk") == 0) {
            /* The cell position: the caller's cells, no round trip. */
            int rc = expand(p, t, (const char *const *)w->known_cells->v,
                            w->known_cells->count, false);
            wtask_free(t);
            if (rc != ZKC_OK)
                return false;
            continue;
        } else {
            req->op = ZKC_OP_CHILDREN;
        }
        *path = strdup(t->prefix[0] != '\0' ? t->prefix : "/");
        if (*path == NULL) {
            wtask_free(t);
            pipe_fail(p, ZKC_ENOMEM, "%s", zkc_strerror(ZKC_ENOMEM));
            return false;
        }
        req->version = -1;
        *tag = (uintptr_t)t;
        return true;
    }
    return false;
}

static void wresolve_done(pipe_t *p, const zkc_result *res, uintptr_t tag)
{
    wresolve *w = p->ctx;
    wtask *t = (wtask *)tag;

    if (res->op == ZKC_OP_EXISTS) {
        if (res->rc == ZKC_OK && res->stat != NULL) {
            if (strvec_push(&w->pats[t->pat].found, t->prefix) != ZKC_OK)
                pipe_fail(p, ZKC_ENOMEM, "%s", zkc_strerror(ZKC_ENOMEM));
            else
                t->prefix = NULL;
        } else if (res->rc != ZKC_OK && res->rc != ZKC_ENONODE) {
            pipe_fail_op(p, res, "exists", w->pats[t->pat].text);
        }
    } else if (res->rc == ZKC_OK) {
        if (res->children != NULL)
            expand(p, t, (const char *const *)res->children->v, res->children->count,
                   true);
    } else if (res->rc != ZKC_ENONODE) {
        /* A missing directory matches nothing; anything else fails. */
        pipe_fail_op(p, res, "children", w->pats[t->pat].text);
    }
    wtask_free(t);
}

static void wresolve_drop(pipe_t *p, uintptr_t tag)
{
    (void)p;
    wtask_free((wtask *)tag);
}

static const pipe_job wresolve_job = {wresolve_next, wresolve_done, wresolve_drop};

/* Split pattern into components and check the wildcards in them. */
static int wpattern_parse(wpattern *wp, const char *pattern)
{
    size_t n = 1;
    for (const char *s = pattern; *s != '\0'; s++)
        n += *s == '/';
    wp->text = pattern;
    wp->buf = strdup(pattern);
    wp->comps = calloc(n, sizeof *wp->comps);
    wp->magic = calloc(n, sizeof *wp->magic);
    if (wp->buf == NULL || wp->comps == NULL || wp->magic == NULL) {
        zkc_impl_set_errmsg("resolve_wildcards %s: %s", pattern, zkc_strerror(ZKC_ENOMEM));
        return ZKC_ENOMEM;
    }
    wp->ncomps = 0;
    char *s = wp->buf;
    for (;;) {
        wp->comps[wp->ncomps++] = s;
        char *slash = strchr(s, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        s = slash + 1;
    }
    bool any = false;
    for (size_t i = 0; i < wp->ncomps; i++) {
        wp->magic[i] = zkc_glob_has_magic(wp->comps[i]);
        any |= wp->magic[i];
    }
    if (!any)
        return ZKC_OK;
    /* A wildcard path must be absolute, without empty components. */
    for (size_t i = 0; i < wp->ncomps; i++) {
        if ((i == 0) != (wp->comps[i][0] == '\0')) {
            zkc_impl_set_errmsg("resolve_wildcards %s: %s", pattern, zkc_strerror(ZKC_EBADPATH));
            return ZKC_EBADPATH;
        }
    }
    /* Matching the empty name reports any malformed pattern, so a bad
     * pattern fails even where nothing would be listed. */
    for (size_t i = 0; i < wp->ncomps; i++) {
        bool m;
        if (wp->magic[i] && zkc_glob_match(wp->comps[i], "", &m) != ZKC_OK) {
            zkc_impl_set_errmsg("resolve_wildcards %s: %s: %s", pattern, wp->comps[i],
                            zkc_strerror(ZKC_EBADPATTERN));
            return ZKC_EBADPATTERN;
        }
    }
    return ZKC_OK;
}

static bool wpattern_literal(const wpattern *wp)
{
    for (size_t i = 0; i < wp->ncomps; i++)
        if (wp->magic[i])
            return false;
    return true;
}

int zkc_resolve_wildcards(zkc_conn *c, const char *const *patterns, size_t n,
                          const zkc_strings *known_cells, zkc_strings **ret_paths)
{
    if (ret_paths != NULL)
        *ret_paths = NULL;
    if (c == NULL || (patterns == NULL && n > 0) || ret_paths == NULL) {
        zkc_impl_set_errmsg("resolve_wildcards: NULL argument");
        return ZKC_EBADARGUMENTS;
    }
    for (size_t i = 0; i < n; i++) {
        if (patterns[i] == NULL) {
            zkc_impl_set_errmsg("resolve_wildcards: NULL pattern");
            return ZKC_EBADARGUMENTS;
        }
    }

    wresolve w = {.known_cells = known_cells};
    strvec out = {0};
    int rc = ZKC_OK;
    w.pats = calloc(n ? n : 1, sizeof *w.pats);
    if (w.pats == NULL) {
        zkc_impl_set_errmsg("resolve_wildcards: %s", zkc_strerror(ZKC_ENOMEM));
        return ZKC_ENOMEM;
    }

    for (size_t i = 0; i < n && rc == ZKC_OK; i++) {
        rc = wpattern_parse(&w.pats[i], patterns[i]);
        if (rc == ZKC_OK && !wpattern_literal(&w.pats[i]))
            rc = wresolve_push(&w, wtask_new(i, 1, "", NULL));
        if (rc == ZKC_ENOMEM)
            zkc_impl_set_errmsg("resolve_wildcards: %s", zkc_strerror(rc));
    }

    if (rc == ZKC_OK && w.ntodo > 0) {
        pipe_t p;
        rc = pipe_init(&p, c, 0, &wresolve_job, &w);
        if (rc == ZKC_OK) {
            rc = pipe_run(&p);
            if (rc != ZKC_OK) {
                /* Name the first pattern still being resolved. */
                zkc_impl_set_errmsg("resolve_wildcards: %s", p.msg);
            }
            pipe_fini(&p);
        } else {
            zkc_impl_set_errmsg("resolve_wildcards: %s", zkc_strerror(rc));
        }
    }

    /* In pattern order: a literal as typed (escapes undone), unchecked;
     * a wildcard pattern's matches sorted. */
    for (size_t i = 0; i < n && rc == ZKC_OK; i++) {
        wpattern *wp = &w.pats[i];
        if (wpattern_literal(wp)) {
            char *lit = malloc(strlen(patterns[i]) + 1);
            if (lit != NULL) {
                unescape(lit, patterns[i]);
                rc = strvec_push(&out, lit);
            }
            if (lit == NULL || rc != ZKC_OK) {
                free(lit);
                rc = ZKC_ENOMEM;
            }
        } else {
            strvec_sort_unique(&wp->found);
            for (size_t j = 0; j < wp->found.n && rc == ZKC_OK; j++) {
                rc = strvec_push(&out, wp->found.v[j]);
                if (rc == ZKC_OK)
                    wp->found.v[j] = NULL;
            }
        }
        if (rc != ZKC_OK)
            zkc_impl_set_errmsg("resolve_wildcards: %s", zkc_strerror(rc));
    }
    if (rc == ZKC_OK) {
        rc = strvec_to_strings(&out, ret_paths);
        if (rc != ZKC_OK)
            zkc_impl_set_errmsg("resolve_wildcards: %s", zkc_strerror(rc));
    }

    strvec_clear(&out);
    for (size_t i = 0; i < w.ntodo; i++)
        wtask_free(w.todo[i]);
    free(w.todo);
    for (size_t i = 0; i < n; i++) {
        strvec_clear(&w.pats[i].found);
        free(w.pats[i].buf);
        free(w.pats[i].comps);
        free(w.pats[i].magic);
    }
    free(w.pats);
    return rc;
}
