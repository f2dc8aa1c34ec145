/*
 * conn.c: the dispatcher of the connection interface.
 *
 * It owns what every implementation shares: argument checks (done once,
 * here), the base object (state, state fd and callback, log callback,
 * description) and the blocking calls built on zkc_submit().  The
 * implementations (conn/fake/, conn_zk.c, ...) see only checked
 * requests.  RetryChange, written on top of the blocking calls, is
 * tree/retry_change.c's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <semaphore.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "zkcell/sys/conn_impl.h"
#include "zkcell/zkcell.h"

/* ---- base object ---- */

struct zkc__state_listener {
    zkc_state_fn fn; /* NULL once removed during a dispatch */
    void *ud;
    struct zkc__state_listener *next;
};

int zkc_impl_conn_init(zkc_conn *c, const struct zkc_conn_ops *ops, const char *desc)
{
    c->ops = ops;
    c->state = ZKC_STATE_CONNECTING;
    c->state_fn = NULL;
    c->log_fn = NULL;
    c->listeners = NULL;
    c->listen_depth = 0;
    atomic_init(&c->closed, 0);
    c->desc = strdup(desc != NULL ? desc : ops->name);
    if (c->desc == NULL)
        return ZKC_ENOMEM;
    c->state_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->state_fd < 0) {
        free(c->desc);
        return ZKC_ESYSTEMERROR;
    }
    pthread_mutex_init(&c->base_lock, NULL);
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&c->listen_lock, &ma);
    pthread_mutexattr_destroy(&ma);
    return ZKC_OK;
}

void zkc_impl_conn_fini(zkc_conn *c)
{
    if (c->state_fd >= 0)
        close(c->state_fd);
    c->state_fd = -1;
    free(c->desc);
    c->desc = NULL;
    while (c->listeners != NULL) {
        struct zkc__state_listener *l = c->listeners;
        c->listeners = l->next;
        free(l);
    }
    pthread_mutex_destroy(&c->listen_lock);
    pthread_mutex_destroy(&c->base_lock);
}

int zkc_impl_conn_add_state_listener(zkc_conn *c, zkc_state_fn fn, void *userdata)
{
    struct zkc__state_listener *l = calloc(1, sizeof *l);
    if (l == NULL)
        return ZKC_ENOMEM;
    l->fn = fn;
    l->ud = userdata;
    pthread_mutex_lock(&c->listen_lock);
    struct zkc__state_listener **pp = &c->listeners;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = l;
    pthread_mutex_unlock(&c->listen_lock);
    return ZKC_OK;
}

/* Unlink and free removed entries; only outside a dispatch. */
static void listeners_sweep(zkc_conn *c)
{
    struct zkc__state_listener **pp = &c->listeners;
    while (*pp != NULL) {
        struct zkc__state_listener *l = *pp;
        if (l->fn == NULL) {
            *pp = l->next;
            free(l);
        } else {
            pp = &l->next;
        }
    }
}

void zkc_impl_conn_remove_state_listener(zkc_conn *c, zkc_state_fn fn, void *userdata)
{
    /* Taking the lock waits out a dispatch on another thread; on this
     * thread (a listener removing itself) the entry is only marked. */
    pthread_mutex_lock(&c->listen_lock);
    for (struct zkc__state_listener *l = c->listeners; l != NULL; l = l->next) {
        if (l->fn == fn && l->ud == userdata) {
            l->fn = NULL;
            break;
        }
    }
    if (c->listen_depth == 0)
        listeners_sweep(c);
    pthread_mutex_unlock(&c->listen_lock);
}

void zkc_impl_conn_set_state(zkc_conn *c, zkc_state s)
{
    /* listen_lock orders the changes and their listeners. */
    pthread_mutex_lock(&c->listen_lock);
    pthread_mutex_lock(&c->base_lock);
    int changed = c->state != s && c->state != ZKC_STATE_CLOSED;
    if (changed)
        c->state = s;
    zkc_state_fn fn = c->state_fn;
    void *ud = c->state_ud;
    pthread_mutex_unlock(&c->base_lock);
    if (!changed) {
        pthread_mutex_unlock(&c->listen_lock);
        return;
    }
    uint64_t one = 1;
    ssize_t r = write(c->state_fd, &one, sizeof one);
    (void)r;
    c->listen_depth++;
    for (struct zkc__state_listener *l = c->listeners; l != NULL; l = l->next) {
        if (l->fn != NULL)
            l->fn(c, s, l->ud);
    }
    /* Under listen_lock too: states reach the callback in the order they
     * happened, and none after zkc_conn_set_state_callback() returns. */
    if (fn != NULL)
        fn(c, s, ud);
    if (--c->listen_depth == 0)
        listeners_sweep(c);
    pthread_mutex_unlock(&c->listen_lock);
}

void zkc_impl_log(zkc_conn *c, zkc_log_level level, const char *fmt, ...)
{
    pthread_mutex_lock(&c->base_lock);
    zkc_log_fn fn = c->log_fn;
    void *ud = c->log_ud;
    pthread_mutex_unlock(&c->base_lock);
    if (fn == NULL)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fn(level, buf, ud);
}

const char *zkc_state_name(zkc_state s)
{
    switch (s) {
    case ZKC_STATE_CONNECTING:
        return "connecting";
    case ZKC_STATE_CONNECTED:
        return "connected";
    case ZKC_STATE_SUSPENDED:
        return "suspended";
    case ZKC_STATE_RECONNECTED:
        return "reconnected";
    case ZKC_STATE_EXPIRED:
        return "expired";
    case ZKC_STATE_CLOSED:
        return "closed";
    }
    return "unknown";
}

zkc_state zkc_conn_state(zkc_conn *c)
{
    pthread_mutex_lock(&c->base_lock);
    zkc_state s = c->state;
    pthread_mutex_unlock(&c->base_lock);
    return s;
}

int zkc_conn_state_fd(zkc_conn *c)
{
    return c->state_fd;
}

void zkc_conn_state_ack(zkc_conn *c)
{
    uint64_t n;
    ssize_t r = read(c->state_fd, &n, sizeof n);
    (void)r;
}

void zkc_conn_set_state_callback(zkc_conn *c, zkc_state_fn fn, void *userdata)
{
    /* listen_lock waits out a callback running on another thread. */
    pthread_mutex_lock(&c->listen_lock);
    pthread_mutex_lock(&c->base_lock);
    c->state_fn = fn;
    c->state_ud = userdata;
    pthread_mutex_unlock(&c->base_lock);
    pthread_mutex_unlock(&c->listen_lock);
}

void zkc_conn_set_log(zkc_conn *c, zkc_log_fn fn, void *userdata)
{
    pthread_mutex_lock(&c->base_lock);
    c->log_fn = fn;
    c->log_ud = userdata;
    pthread_mutex_unlock(&c->base_lock);
}

int64_t zkc_conn_session_id(zkc_conn *c)
{
    return c->ops->session_id != NULL ? c->ops->session_id(c) : 0;
}

const char *zkc_conn_describe(zkc_conn *c)
{
    return c->desc;
}

void zkc_conn_close(zkc_conn *c)
{
    if (c == NULL)
        return;
    if (atomic_exchange(&c->closed, 1))
        return;
    zkc_impl_conn_set_state(c, ZKC_STATE_CLOSED);
    c->ops->close(c);
}

/* ---- dispatch ---- */

const char *zkc_impl_op_name(zkc_op op)
{
    switch (op) {
    case ZKC_OP_GET:
        return "get";
    case ZKC_OP_CHILDREN:
        return "children";
    case ZKC_OP_EXISTS:
        return "exists";
    case ZKC_OP_CREATE:
        return "create";
    case ZKC_OP_SET:
        return "set";
    case ZKC_OP_DELETE:
        return "delete";
    case ZKC_OP_GET_ACL:
        return "get_acl";
    case ZKC_OP_SET_ACL:
        return "set_acl";
    case ZKC_OP_CHECK:
        return "check";
    case ZKC_OP_MULTI:
        return "multi";
    }
    return "unknown";
}

/* The checks a request's fields share, whatever carries it. */
static int request_check(const zkc_request *req)
{
    if (req->path == NULL)
        return ZKC_EBADARGUMENTS;
    if (req->data_len > 0 && req->data == NULL)
        return ZKC_EBADARGUMENTS;
    if (req->data_len > ZKC_MAX_DATA)
        return ZKC_EBADARGUMENTS;
    if (req->op == ZKC_OP_SET_ACL && req->acl == NULL)
        return ZKC_EBADARGUMENTS;
    if (req->acl != NULL && (req->op == ZKC_OP_CREATE || req->op == ZKC_OP_SET_ACL)) {
        if (req->acl->count > 0 && req->acl->v == NULL)
            return ZKC_EBADARGUMENTS;
        for (size_t i = 0; i < req->acl->count; i++)
            if (req->acl->v[i].scheme == NULL || req->acl->v[i].id == NULL)
                return ZKC_EBADARGUMENTS;
    }
    bool seq = req->op == ZKC_OP_CREATE && (req->flags & ZKC_SEQUENCE);
    if (zkc_path_validate(req->path, seq) != ZKC_OK)
        return ZKC_EBADPATH;
    return ZKC_OK;
}

/* What zkc_submit and zkc__call_or_submit check before the connection
 * sees the request. */
static int submit_check(zkc_conn *c, const zkc_request *req, zkc_done_fn done)
{
    if (c == NULL || req == NULL || done == NULL || req->path == NULL)
        return ZKC_EBADARGUMENTS;
    if (req->op < ZKC_OP_GET || req->op > ZKC_OP_SET_ACL)
        return ZKC_EBADARGUMENTS;
    int rc = request_check(req);
    if (rc != ZKC_OK)
        return rc;
    if (atomic_load(&c->closed))
        return ZKC_ECLOSED;
    return ZKC_OK;
}

int zkc_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *userdata)
{
    int rc = submit_check(c, req, done);
    if (rc != ZKC_OK)
        return rc;
    return c->ops->submit(c, req, done, userdata);
}

/* ---- multi ---- */

/* Jute sizes: an int, a length-prefixed buffer or string. */
#define JUTE_INT    4u
#define JUTE_BUF(n) (4u + (size_t)(n))
/* A MultiHeader: type, done, err. */
#define JUTE_MULTI_HEADER (4u + 1u + 4u)

/* a + b, or SIZE_MAX when that does not fit: a size past any limit. */
static size_t add_sat(size_t a, size_t b)
{
    size_t r;
    return __builtin_add_overflow(a, b, &r) ? SIZE_MAX : r;
}

/* A length-prefixed buffer of n bytes, saturating. */
static size_t jute_buf(size_t n)
{
    return add_sat(4u, n);
}

size_t zkc_multi_size(const zkc_request *ops, size_t nops)
{
    /* length prefix, RequestHeader (xid, type), the closing MultiHeader */
    size_t n = 4u + 8u + JUTE_MULTI_HEADER;
    for (size_t i = 0; i < nops; i++) {
        const zkc_request *r = &ops[i];
        size_t plen = r->path != NULL ? strlen(r->path) : 0;
        n = add_sat(n, add_sat(JUTE_MULTI_HEADER, jute_buf(plen)));
        switch (r->op) {
        case ZKC_OP_CREATE:
            n = add_sat(n, add_sat(jute_buf(r->data_len), 2 * JUTE_INT)); /* acl count, flags */
            if (r->acl == NULL) {
                n = add_sat(n, JUTE_INT + JUTE_BUF(5) + JUTE_BUF(6)); /* world:anyone */
            } else {
                for (size_t k = 0; k < r->acl->count && n != SIZE_MAX; k++)
                    n = add_sat(n, add_sat(JUTE_INT + 8u, add_sat(strlen(r->acl->v[k].scheme),
                                                                 strlen(r->acl->v[k].id))));
            }
            break;
        case ZKC_OP_SET:
            n = add_sat(n, add_sat(jute_buf(r->data_len), JUTE_INT));
            break;
        default: /* delete, check: the version */
            n = add_sat(n, JUTE_INT);
            break;
        }
    }
    return n;
}

int zkc_amulti(zkc_conn *c, const zkc_request *ops, size_t nops, zkc_done_fn done,
               void *userdata)
{
    if (c == NULL || done == NULL || (ops == NULL && nops > 0)) {
        zkc_impl_set_errmsg("multi: %s (NULL argument)", zkc_strerror(ZKC_EBADARGUMENTS));
        return ZKC_EBADARGUMENTS;
    }
    if (nops > ZKC_MULTI_MAX_OPS) {
        zkc_impl_set_errmsg("multi: %s (%zu operations, at most %d)",
                        zkc_strerror(ZKC_EBADARGUMENTS), nops, ZKC_MULTI_MAX_OPS);
        return ZKC_EBADARGUMENTS;
    }
    for (size_t i = 0; i < nops; i++) {
        const zkc_request *r = &ops[i];
        int rc = ZKC_OK;
        if (r->op != ZKC_OP_CREATE && r->op != ZKC_OP_SET && r->op != ZKC_OP_DELETE &&
            r->op != ZKC_OP_CHECK)
            rc = ZKC_EBADARGUMENTS;
        else
            rc = request_check(r);
        if (rc != ZKC_OK) {
            zkc_impl_set_errmsg("multi: operation %zu (%s %s): %s", i, zkc_impl_op_name(r->op),
                            r->path != NULL ? r->path : "(null)", zkc_strerror(rc));
            return rc;
        }
    }
    size_t size = zkc_multi_size(ops, nops);
    if (size > ZKC_MULTI_MAX_BYTES) {
        zkc_impl_set_errmsg("multi: %s (the request would take %zu bytes, at most %d)",
                        zkc_strerror(ZKC_EBADARGUMENTS), size, ZKC_MULTI_MAX_BYTES);
        return ZKC_EBADARGUMENTS;
    }
    if (atomic_load(&c->closed)) {
        zkc_impl_set_errmsg("multi: %s", zkc_strerror(ZKC_ECLOSED));
        return ZKC_ECLOSED;
    }
    if (c->ops->multi == NULL) {
        zkc_impl_set_errmsg("multi: %s (%s connections do not do transactions; do the "
                        "operations one by one)",
                        zkc_strerror(ZKC_ENOTSUPPORTED), c->ops->name);
        return ZKC_ENOTSUPPORTED;
    }
    /* An implementation may say why it refused (the cell router names
     * the cells of a multi that spans two); else the code says it. */
    zkc_impl_set_errmsg("%s", "");
    int rc = c->ops->multi(c, ops, nops, done, userdata);
    if (rc != ZKC_OK && zkc_errmsg()[0] == '\0')
        zkc_impl_set_errmsg("multi: %s", zkc_strerror(rc));
    return rc;
}

int zkc_aget(zkc_conn *c, const char *path, unsigned flags, zkc_done_fn done, void *userdata)
{
    zkc_request r = {.op = ZKC_OP_GET, .path = path, .flags = flags, .version = -1};
    return zkc_submit(c, &r, done, userdata);
}

int zkc_achildren(zkc_conn *c, const char *path, unsigned flags, zkc_done_fn done,
                  void *userdata)
{
    zkc_request r = {.op = ZKC_OP_CHILDREN, .path = path, .flags = flags, .version = -1};
    return zkc_submit(c, &r, done, userdata);
}

int zkc_aexists(zkc_conn *c, const char *path, unsigned flags, zkc_done_fn done,
                void *userdata)
{
    zkc_request r = {.op = ZKC_OP_EXISTS, .path = path, .flags = flags, .version = -1};
    return zkc_submit(c, &r, done, userdata);
}

int zkc_acreate(zkc_conn *c, const char *path, const void *data, size_t len, unsigned flags,
                const zkc_acl_list *acl, zkc_done_fn done, void *userdata)
{
    zkc_request r = {.op = ZKC_OP_CREATE, .path = path, .data = data, .data_len = len,
                     .flags = flags, .version = -1, .acl = acl};
    return zkc_submit(c, &r, done, userdata);
}

int zkc_aset(zkc_conn *c, const char *path, const void *data, size_t len, int32_t version,
             zkc_done_fn done, void *userdata)
{
    zkc_request r = {.op = ZKC_OP_SET, .path = path, .data = data, .data_len = len,
                     .version = version};
    return zkc_submit(c, &r, done, userdata);
}

int zkc_adelete(zkc_conn *c, const char *path, int32_t version, zkc_done_fn done,
                void *userdata)
{
    zkc_request r = {.op = ZKC_OP_DELETE, .path = path, .version = version};
    return zkc_submit(c, &r, done, userdata);
}

/* ---- blocking calls: submit, then wait for the one completion ---- */

/*
 * One blocking call.  The waiter sleeps on a semaphore that the
 * completion posts as its very last touch of the struct: sem_post() is
 * one atomic add (and a futex wake when the waiter sleeps), and the
 * waiter may free the struct as soon as sem_wait() returns.  A mutex and
 * condition variable cost more here: the waiter, woken while the
 * completion still holds the mutex, would go back to sleep on it.
 */
typedef struct sync_call {
    sem_t done;
    int rc;
    char *errmsg;
    char *data;
    size_t data_len;
    bool have_stat;
    zkc_stat stat;
    zkc_strings *children;
    zkc_acl_list *acl;
    char *created_path;
    zkc_watch *watch;
    zkc_multi_results *mres;
    int nomem;
} sync_call;

/* A multi's results as one block: the array, the stats, the names. */
static zkc_multi_results *multi_results_dup(const zkc_op_result *v, size_t n)
{
    size_t strs = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].created_path != NULL)
            strs += strlen(v[i].created_path) + 1;
    size_t size =
        sizeof(zkc_multi_results) + n * sizeof(zkc_op_result) + n * sizeof(zkc_stat) + strs;
    char *block = calloc(1, size);
    if (block == NULL)
        return NULL;
    zkc_multi_results *m = (zkc_multi_results *)(void *)block;
    zkc_op_result *ov = (zkc_op_result *)(void *)(block + sizeof *m);
    zkc_stat *sv = (zkc_stat *)(void *)(block + sizeof *m + n * sizeof *ov);
    char *sp = (char *)(sv + n);
    m->count = n;
    m->v = n > 0 ? ov : NULL;
    for (size_t i = 0; i < n; i++) {
        ov[i].rc = v[i].rc;
        ov[i].op = v[i].op;
        if (v[i].stat != NULL) {
            sv[i] = *v[i].stat;
            ov[i].stat = &sv[i];
        }
        if (v[i].created_path != NULL) {
            size_t l = strlen(v[i].created_path) + 1;
            memcpy(sp, v[i].created_path, l);
            ov[i].created_path = sp;
            sp += l;
        }
    }
    return m;
}

static void sync_done(const zkc_result *res, void *userdata)
{
    sync_call *sc = userdata;
    /* Copy what the waiter needs: the result's pointers die with us. */
    sc->rc = res->rc;
    if (res->errmsg != NULL)
        sc->errmsg = strdup(res->errmsg);
    if (res->stat != NULL) {
        sc->have_stat = true;
        sc->stat = *res->stat;
    }
    if (res->rc == ZKC_OK) {
        if (res->data != NULL || res->op == ZKC_OP_GET) {
            sc->data = zkc_impl_memdup(res->data != NULL ? res->data : "", res->data_len);
            sc->data_len = res->data_len;
            sc->nomem |= sc->data == NULL;
        }
        if (res->children != NULL) {
            sc->children = zkc_strings_dup(res->children);
            sc->nomem |= sc->children == NULL;
        }
        if (res->acl != NULL) {
            sc->acl = zkc_acl_list_dup(res->acl);
            sc->nomem |= sc->acl == NULL;
        }
        if (res->created_path != NULL) {
            sc->created_path = strdup(res->created_path);
            sc->nomem |= sc->created_path == NULL;
        }
    }
    if (res->ops != NULL) {
        sc->mres = multi_results_dup(res->ops, res->nops);
        sc->nomem |= sc->mres == NULL;
    }
    sc->watch = res->watch;
    sem_post(&sc->done); /* last touch: the waiter may free sc now */
}

static void sync_init(sync_call *sc)
{
    memset(sc, 0, sizeof *sc);
    sem_init(&sc->done, 0, 0);
}

/* Wait for sync_done. */
static void sync_wait(sync_call *sc)
{
    while (sem_wait(&sc->done) != 0)
        ; /* EINTR: a signal handler ran */
}

/*
 * Submit req for a blocking call: through the connection's call op when
 * it has one (which may complete it on this thread, one thread hop less
 * than a submit), else, or when the op says ZKC_ENOTSUPPORTED, through
 * submit.  The same contract as zkc_submit.  Also the router's, for the
 * blocking calls it forwards to a cell.
 */
int zkc__call_or_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *userdata);
int zkc__call_or_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *userdata)
{
    int rc = submit_check(c, req, done);
    if (rc != ZKC_OK)
        return rc;
    if (c->ops->version >= 2 && c->ops->call != NULL) {
        rc = c->ops->call(c, req, done, userdata);
        if (rc != ZKC_ENOTSUPPORTED)
            return rc;
    }
    return c->ops->submit(c, req, done, userdata);
}

/* Run req to completion.  On return sc holds the results (the caller
 * takes what it wants and calls sync_finish). */
static int sync_run(zkc_conn *c, const zkc_request *req, sync_call *sc)
{
    sync_init(sc);
    int rc = zkc__call_or_submit(c, req, sync_done, sc);
    if (rc != ZKC_OK)
        sc->rc = rc;
    else
        sync_wait(sc); /* at once when the call op completed it here */
    if (sc->rc == ZKC_OK && sc->nomem)
        sc->rc = ZKC_ENOMEM;
    if (sc->rc != ZKC_OK) {
        zkc_impl_set_errmsg("%s %s: %s%s%s", zkc_impl_op_name(req->op),
                        req->path ? req->path : "(null)", zkc_strerror(sc->rc),
                        sc->errmsg ? ": " : "", sc->errmsg ? sc->errmsg : "");
    }
    return sc->rc;
}

static void sync_finish(sync_call *sc)
{
    free(sc->errmsg);
    free(sc->data);
    zkc_strings_free(sc->children);
    zkc_acl_list_free(sc->acl);
    free(sc->created_path);
    zkc_watch_free(sc->watch);
    free(sc->mres);
    sem_destroy(&sc->done);
}

/* Hand a result to an out-parameter, or leave it for sync_finish. */
#define TAKE(dst, field)                                                       \
    do {                                                                       \
        if ((dst) != NULL) {                                                   \
            *(dst) = sc.field;                                                 \
            sc.field = NULL;                                                   \
        }                                                                      \
    } while (0)

int zkc_get(zkc_conn *c, const char *path, char **ret_data, size_t *ret_len,
            zkc_stat *ret_stat, zkc_watch **ret_watch)
{
    zkc_request req = {.op = ZKC_OP_GET, .path = path, .version = -1,
                       .flags = ret_watch != NULL ? ZKC_WATCH : 0};
    sync_call sc;
    int rc = sync_run(c, &req, &sc);
    if (rc == ZKC_OK) {
        if (ret_len != NULL)
            *ret_len = sc.data_len;
        if (ret_stat != NULL && sc.have_stat)
            *ret_stat = sc.stat;
        TAKE(ret_data, data);
        TAKE(ret_watch, watch);
    }
    sync_finish(&sc);
    return rc;
}

int zkc_children(zkc_conn *c, const char *path, zkc_strings **ret_children,
                 zkc_stat *ret_stat, zkc_watch **ret_watch)
{
    zkc_request req = {.op = ZKC_OP_CHILDREN, .path = path, .version = -1,
                       .flags = (ret_watch != NULL ? ZKC_WATCH : 0) |
                                (ret_stat == NULL ? ZKC_NOSTAT : 0)};
    sync_call sc;
    int rc = sync_run(c, &req, &sc);
    if (rc == ZKC_OK) {
        if (ret_stat != NULL && sc.have_stat)
            *ret_stat = sc.stat;
        if (ret_children != NULL && sc.children == NULL)
            sc.children = zkc_impl_strings_new(0);
        TAKE(ret_children, children);
        TAKE(ret_watch, watch);
    }
    sync_finish(&sc);
    return rc;
}

int zkc_exists(zkc_conn *c, const char *path, bool *ret_exists, zkc_stat *ret_stat,
               zkc_watch **ret_watch)
{
    zkc_request req = {.op = ZKC_OP_EXISTS, .path = path, .version = -1,
                       .flags = ret_watch != NULL ? ZKC_WATCH : 0};
    sync_call sc;
    int rc = sync_run(c, &req, &sc);
    if (rc == ZKC_OK) {
        if (ret_exists != NULL)
            *ret_exists = sc.have_stat;
        if (ret_stat != NULL && sc.have_stat)
            *ret_stat = sc.stat;
        TAKE(ret_watch, watch);
    }
    sync_finish(&sc);
    return rc;
}

int zkc_create(zkc_conn *c, const char *path, const void *data, size_t len, unsigned flags,
               const zkc_acl_list *acl, char **ret_path)
{
    zkc_request req = {.op = ZKC_OP_CREATE, .path = path, .data = data, .data_len = len,
                       .flags = flags, .version = -1, .acl = acl};
    sync_call sc;
    int rc = sync_run(c, &req, &sc);
    if (rc == ZKC_OK)
        TAKE(ret_path, created_path);
    sync_finish(&sc);
    return rc;
}

int zkc_set(zkc_conn *c, const char *path, const void *data, size_t len, int32_t version,
            zkc_stat *ret_stat)
{
    zkc_request req = {.op = ZKC_OP_SET, .path = path, .data = data, .data_len = len,
                       .version = version};
    sync_call sc;
    int rc = sync_run(c, &req, &sc);
    if (rc == ZKC_OK && ret_stat != NULL && sc.have_stat)
        *ret_stat = sc.stat;
    sync_finish(&sc);
    return rc;
}

int zkc_delete(zkc_conn *c, const char *path, int32_t version)
{
    zkc_request req = {.op = ZKC_OP_DELETE, .path = path, .version = version};
    sync_call sc;
    int rc = sync_run(c, &req, &sc);
    sync_finish(&sc);
    return rc;
}

int zkc_get_acl(zkc_conn *c, const char *path, zkc_acl_list **ret_acl, zkc_stat *ret_stat)
{
    zkc_request req = {.op = ZKC_OP_GET_ACL, .path = path, .version = -1};
    sync_call sc;
    int rc = sync_run(c, &req, &sc);
    if (rc == ZKC_OK) {
        if (ret_stat != NULL && sc.have_stat)
            *ret_stat = sc.stat;
        TAKE(ret_acl, acl);
    }
    sync_finish(&sc);
    return rc;
}

int zkc_set_acl(zkc_conn *c, const char *path, const zkc_acl_list *acl, int32_t version)
{
    zkc_request req = {.op = ZKC_OP_SET_ACL, .path = path, .acl = acl, .version = version};
    sync_call sc;
    int rc = sync_run(c, &req, &sc);
    sync_finish(&sc);
    return rc;
}

int zkc_multi(zkc_conn *c, const zkc_request *ops, size_t nops, zkc_multi_results **ret_results)
{
    if (ret_results != NULL)
        *ret_results = NULL;
    sync_call sc;
    sync_init(&sc);
    int rc = zkc_amulti(c, ops, nops, sync_done, &sc);
    if (rc != ZKC_OK) {
        sync_finish(&sc); /* zkc_amulti said why */
        return rc;
    }
    sync_wait(&sc);
    rc = sc.rc;
    if (sc.nomem && rc == ZKC_OK)
        rc = ZKC_ENOMEM;
    if (rc != ZKC_OK) {
        /* Name the operation that failed, when the server said which. */
        size_t bad = nops;
        for (size_t i = 0; sc.mres != NULL && i < sc.mres->count; i++) {
            int r = sc.mres->v[i].rc;
            if (r != ZKC_OK && r != ZKC_ERUNTIMEINCONSISTENCY) {
                bad = i;
                break;
            }
        }
        if (bad < nops)
            zkc_impl_set_errmsg("multi: operation %zu (%s %s): %s%s%s", bad, zkc_impl_op_name(ops[bad].op),
                            ops[bad].path, zkc_strerror(sc.mres->v[bad].rc),
                            sc.errmsg ? ": " : "", sc.errmsg ? sc.errmsg : "");
        else
            zkc_impl_set_errmsg("multi (%zu operations%s%s): %s%s%s", nops,
                            nops > 0 ? ", from " : "", nops > 0 ? ops[0].path : "",
                            zkc_strerror(rc), sc.errmsg ? ": " : "",
                            sc.errmsg ? sc.errmsg : "");
    }
    if (ret_results != NULL && rc != ZKC_ENOMEM) {
        *ret_results = sc.mres;
        sc.mres = NULL;
    }
    sync_finish(&sc);
    return rc;
}
