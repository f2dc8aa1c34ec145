/*
 * lock.c: the mutex recipe (the seed's ZLocker / CreateMutex).  The
 * helpers every recipe shares are in recipes_common.c.
 *
 * A contender creates "<dir>/_c_<guid>-lock-" with ZKC_SEQUENCE (and
 * ZKC_EPHEMERAL unless persistent), lists the folder, and holds the lock
 * when its node has the lowest sequence among the lock nodes; otherwise
 * it waits on an exists watch of the node just before its own, and lists
 * again when that fires.  A create whose reply is lost is found again by
 * its guid before anything is created again.
 *
 * The holder's belief follows the session, through a state listener on
 * the connection (conn.c): SUSPENDED makes a held lock IN_DOUBT at once;
 * RECONNECTED checks, with one exists, that our node is still there with
 * our czxid and our session as ephemeral owner (HELD) or not (LOST);
 * EXPIRED and CLOSED make it LOST.
 *
 * Cleanup never gives up silently: a node we could not delete (the
 * connection was down) is remembered by its guid as an orphan, and swept
 * when the connection comes back, so a timed-out or interrupted waiter
 * never stays in the queue ahead of others.
 *
 * The handle is reference counted: the owner holds one reference and
 * each asynchronous operation in flight (a verification, a sweep) one
 * more, so zkc_lock_free() never waits for the server.
 *
 * Locks: cb_mu (recursive) serialises changes of state with the owner's
 * callback; mu guards the fields.  Order: the connection's listener lock,
 * then cb_mu, then mu.
 */
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "recipes_impl.h"
#include "zkcell/path.h"
#include "zkcell/recipes.h"
#include "zkcell/util.h"

/* ------------------------------------------------------------------ */
/* The lock handle.                                                    */
/* ------------------------------------------------------------------ */

#define LOCK_SUFFIX        "-lock-"
#define GUID_PREFIX        "_c_"
#define DEFAULT_CLEANUP_MS 5000

struct zkc_lock {
    zkc_conn *conn;
    char *dir;
    bool ephemeral;
    zkc_acl_list *acl;     /* the caller's, copied; NULL: world FILE */
    zkc_acl_list *dir_acl; /* the same entries with DIRECTORY perms; NULL: world */
    char *contents;
    size_t contents_len;
    int cleanup_ms;
    int state_fd;
    bool listening;

    pthread_mutex_t cb_mu; /* recursive: state changes and the callback */
    pthread_mutex_t mu;    /* everything below */
    int refs;
    bool freed;
    bool busy; /* acquire or release running */
    zkc_lock_state state;
    char guid[33];
    char *node;      /* our node while held, in doubt, lost, or acquiring */
    int64_t token;   /* czxid of node */
    int64_t session; /* the session that holds it */
    uint64_t gen;    /* bumped by every acquisition and release */
    uint64_t susp;   /* bumped by every suspension, expiry and close */
    char (*orphans)[33];
    size_t n_orphans;
    zkc_lock_state_fn fn;
    void *fn_ud;
};

const char *zkc_lock_state_name(zkc_lock_state s)
{
    switch (s) {
    case ZKC_LOCK_UNLOCKED:
        return "unlocked";
    case ZKC_LOCK_HELD:
        return "held";
    case ZKC_LOCK_IN_DOUBT:
        return "in doubt";
    case ZKC_LOCK_LOST:
        return "lost";
    }
    return "unknown";
}

static void lock_destroy(zkc_lock *l)
{
    if (l->state_fd >= 0)
        close(l->state_fd);
    zkc_acl_list_free(l->acl);
    zkc_acl_list_free(l->dir_acl);
    free(l->contents);
    free(l->dir);
    free(l->node);
    free(l->orphans);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->cb_mu);
    free(l);
}

static void lock_unref(zkc_lock *l)
{
    pthread_mutex_lock(&l->mu);
    int left = --l->refs;
    pthread_mutex_unlock(&l->mu);
    if (left == 0)
        lock_destroy(l);
}

/* Tell the owner about a new state.  cb_mu held, mu not. */
static void lock_notify(zkc_lock *l, zkc_lock_state s)
{
    uint64_t one = 1;
    ssize_t r = write(l->state_fd, &one, sizeof one);
    (void)r;
    pthread_mutex_lock(&l->mu);
    zkc_lock_state_fn fn = l->freed ? NULL : l->fn;
    void *ud = l->fn_ud;
    pthread_mutex_unlock(&l->mu);
    if (fn != NULL)
        fn(l, s, ud);
}

/* Move to state s (whatever the current one), telling the owner. */
static void lock_set_state(zkc_lock *l, zkc_lock_state s)
{
    pthread_mutex_lock(&l->cb_mu);
    pthread_mutex_lock(&l->mu);
    bool changed = l->state != s;
    l->state = s;
    pthread_mutex_unlock(&l->mu);
    if (changed)
        lock_notify(l, s);
    pthread_mutex_unlock(&l->cb_mu);
}

/* ---- orphans: nodes to delete once the connection is back ---- */

static void orphan_add(zkc_lock *l, const char *guid)
{
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n_orphans; i++) {
        if (strcmp(l->orphans[i], guid) == 0) {
            pthread_mutex_unlock(&l->mu);
            return;
        }
    }
    char(*v)[33] = realloc(l->orphans, (l->n_orphans + 1) * sizeof *v);
    if (v != NULL) {
        l->orphans = v;
        memcpy(v[l->n_orphans++], guid, 33);
    }
    pthread_mutex_unlock(&l->mu);
    zkc_impl_log(l->conn, ZKC_LOG_WARN,
             "lock %s: could not delete our node (guid %s) yet; will delete it on reconnect",
             l->dir, guid);
}

static void orphan_forget(zkc_lock *l, const char *guid)
{
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n_orphans; i++) {
        if (strcmp(l->orphans[i], guid) == 0) {
            memmove(l->orphans[i], l->orphans[i + 1], (l->n_orphans - i - 1) * 33);
            l->n_orphans--;
            break;
        }
    }
    pthread_mutex_unlock(&l->mu);
}

/* A copy of the orphans' guids (free()), or NULL when there are none. */
static char (*orphans_copy(zkc_lock *l, size_t *ret_n))[33]
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->n_orphans;
    char(*v)[33] = n > 0 ? malloc(n * sizeof *v) : NULL;
    if (v != NULL)
        memcpy(v, l->orphans, n * sizeof *v);
    pthread_mutex_unlock(&l->mu);
    *ret_n = v != NULL ? n : 0;
    return v;
}

/* Does child name carry guid? */
static bool name_has_guid(const char *name, const char *guid)
{
    return strncmp(name, GUID_PREFIX, sizeof GUID_PREFIX - 1) == 0 &&
           strncmp(name + sizeof GUID_PREFIX - 1, guid, 32) == 0 &&
           name[sizeof GUID_PREFIX - 1 + 32] == '-';
}

static void sweep_delete_done(const zkc_result *res, void *ud)
{
    (void)res;
    lock_unref(ud);
}

/* The listing of an asynchronous sweep: delete what carries an orphan's
 * guid; forget the guids a listing shows gone. */
static void sweep_list_done(const zkc_result *res, void *ud)
{
    zkc_lock *l = ud;
    size_t n = 0;
    char(*guids)[33] = NULL;
    if (res->rc == ZKC_OK || res->rc == ZKC_ENONODE)
        guids = orphans_copy(l, &n);
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; res->children != NULL && k < res->children->count; k++) {
            if (!name_has_guid(res->children->v[k], guids[i]))
                continue;
            found = true;
            char *p = zkc_path_join(l->dir, res->children->v[k]);
            if (p == NULL)
                continue;
            pthread_mutex_lock(&l->mu);
            l->refs++;
            pthread_mutex_unlock(&l->mu);
            if (zkc_adelete(l->conn, p, -1, sweep_delete_done, l) != ZKC_OK)
                lock_unref(l);
            free(p);
        }
        if (!found)
            orphan_forget(l, guids[i]);
    }
    free(guids);
    lock_unref(l);
}

static void sweep_async(zkc_lock *l)
{
    pthread_mutex_lock(&l->mu);
    l->refs++;
    pthread_mutex_unlock(&l->mu);
    if (zkc_achildren(l->conn, l->dir, 0, sweep_list_done, l) != ZKC_OK)
        lock_unref(l);
}

/* The same, synchronously and once (from acquire and release). */
static void sweep_sync(zkc_lock *l)
{
    size_t n = 0;
    char(*guids)[33] = orphans_copy(l, &n);
    if (n == 0)
        return;
    zkc_strings *kids = NULL;
    int rc = zkc_children(l->conn, l->dir, &kids, NULL, NULL);
    for (size_t i = 0; i < n && (rc == ZKC_OK || rc == ZKC_ENONODE); i++) {
        bool left = false;
        for (size_t k = 0; kids != NULL && k < kids->count; k++) {
            if (!name_has_guid(kids->v[k], guids[i]))
                continue;
            char *p = zkc_path_join(l->dir, kids->v[k]);
            int drc = p != NULL ? zkc_delete(l->conn, p, -1) : ZKC_ENOMEM;
            free(p);
            left |= drc != ZKC_OK && drc != ZKC_ENONODE;
        }
        if (!left)
            orphan_forget(l, guids[i]);
    }
    zkc_strings_free(kids);
    free(guids);
}

/* ---- following the session ---- */

typedef struct verify_ctx {
    zkc_lock *l;
    uint64_t gen;
    uint64_t susp;
} verify_ctx;

/* After a reconnect: is our node still there, and ours? */
static void verify_done(const zkc_result *res, void *ud)
{
    verify_ctx *v = ud;
    zkc_lock *l = v->l;
    pthread_mutex_lock(&l->cb_mu);
    pthread_mutex_lock(&l->mu);
    zkc_lock_state to = l->state;
    if (l->state == ZKC_LOCK_IN_DOUBT && l->gen == v->gen && l->susp == v->susp) {
        if (res->rc == ZKC_OK) {
            const zkc_stat *st = res->stat;
            bool ours = st != NULL && st->czxid == l->token &&
                        (!l->ephemeral || st->ephemeral_owner == l->session);
            to = ours ? ZKC_LOCK_HELD : ZKC_LOCK_LOST;
        } else if (!zkc__rc_retryable(res->rc)) {
            to = ZKC_LOCK_LOST;
        }
        /* Connection lost again: stay in doubt; the next reconnect
         * checks again. */
    }
    bool changed = to != l->state;
    l->state = to;
    pthread_mutex_unlock(&l->mu);
    if (changed) {
        zkc_impl_log(l->conn, to == ZKC_LOCK_HELD ? ZKC_LOG_INFO : ZKC_LOG_WARN,
                 "lock %s: %s after reconnect", l->dir, zkc_lock_state_name(to));
        lock_notify(l, to);
    }
    pthread_mutex_unlock(&l->cb_mu);
    free(v);
    lock_unref(l);
}

static void lock_on_conn_state(zkc_conn *c, zkc_state s, void *ud)
{
    zkc_lock *l = ud;
    verify_ctx *v = NULL;
    char *node = NULL;
    bool sweep = false;

    pthread_mutex_lock(&l->cb_mu);
    pthread_mutex_lock(&l->mu);
    zkc_lock_state to = l->state;
    switch (s) {
    case ZKC_STATE_SUSPENDED:
        l->susp++;
        if (l->state == ZKC_LOCK_HELD)
            to = ZKC_LOCK_IN_DOUBT;
        break;
    case ZKC_STATE_CONNECTED:
    case ZKC_STATE_RECONNECTED:
        if (l->state == ZKC_LOCK_IN_DOUBT && l->node != NULL) {
            if (zkc_conn_session_id(c) != l->session) {
                to = ZKC_LOCK_LOST; /* a new session: our ephemeral is gone */
            } else if ((v = malloc(sizeof *v)) != NULL && (node = strdup(l->node)) != NULL) {
                v->l = l;
                v->gen = l->gen;
                v->susp = l->susp;
                l->refs++;
            } else {
                free(v);
                v = NULL; /* out of memory: stay in doubt */
            }
        }
        sweep = l->n_orphans > 0;
        break;
    case ZKC_STATE_EXPIRED:
    case ZKC_STATE_CLOSED:
        l->susp++;
        if (l->state == ZKC_LOCK_HELD || l->state == ZKC_LOCK_IN_DOUBT)
            to = ZKC_LOCK_LOST;
        if (l->ephemeral || s == ZKC_STATE_CLOSED)
            l->n_orphans = 0; /* gone with the session, or out of reach */
        break;
    case ZKC_STATE_CONNECTING:
        break;
    }
    bool changed = to != l->state;
    l->state = to;
    pthread_mutex_unlock(&l->mu);

    if (changed) {
        zkc_impl_log(c, to == ZKC_LOCK_LOST ? ZKC_LOG_WARN : ZKC_LOG_INFO, "lock %s: %s (%s)",
                 l->dir, zkc_lock_state_name(to), zkc_state_name(s));
        lock_notify(l, to);
    }
    if (v != NULL) {
        zkc_request req = {.op = ZKC_OP_EXISTS, .path = node, .version = -1};
        if (zkc_submit(c, &req, verify_done, v) != ZKC_OK) {
            free(v);
            lock_unref(l);
        }
    }
    free(node);
    if (sweep)
        sweep_async(l);
    pthread_mutex_unlock(&l->cb_mu);
}

/* ---- creation ---- */

static zkc_acl_list *acl_with_perms(const zkc_acl_list *acl, uint32_t perms)
{
    zkc_acl_list *d = zkc_acl_list_dup(acl);
    if (d != NULL)
        for (size_t i = 0; i < d->count; i++)
            d->v[i].perms = perms;
    return d;
}

int zkc_lock_new(zkc_conn *c, const char *dir, const zkc_lock_opts *opts, zkc_lock **ret_lock)
{
    if (ret_lock != NULL)
        *ret_lock = NULL;
    if (c == NULL || dir == NULL || ret_lock == NULL || (opts != NULL && opts->version != 1)) {
        zkc_impl_set_errmsg("lock: bad arguments");
        return ZKC_EBADARGUMENTS;
    }
    if (zkc_path_validate(dir, false) != ZKC_OK || strcmp(dir, "/") == 0) {
        zkc_impl_set_errmsg("lock %s: %s", dir, zkc_strerror(ZKC_EBADPATH));
        return ZKC_EBADPATH;
    }
    zkc_lock_opts o = ZKC_LOCK_OPTS_INIT;
    if (opts != NULL)
        o = *opts;

    zkc_lock *l = calloc(1, sizeof *l);
    if (l == NULL)
        return ZKC_ENOMEM;
    l->state_fd = -1;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&l->cb_mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_mutex_init(&l->mu, NULL);
    l->refs = 1;
    l->conn = c;
    l->ephemeral = !o.persistent;
    l->cleanup_ms = o.cleanup_ms > 0 ? o.cleanup_ms : DEFAULT_CLEANUP_MS;
    l->state = ZKC_LOCK_UNLOCKED;

    int rc = ZKC_ENOMEM;
    l->dir = strdup(dir);
    if (l->dir == NULL)
        goto fail;
    if (o.acl != NULL) {
        l->acl = zkc_acl_list_dup(o.acl);
        l->dir_acl = acl_with_perms(o.acl, ZKC_PERM_DIRECTORY);
        if (l->acl == NULL || l->dir_acl == NULL)
            goto fail;
    }
    rc = zkc__contents_json(o.extra_json, NULL, NULL, &l->contents, &l->contents_len);
    if (rc != ZKC_OK) {
        if (rc == ZKC_EBADDATA)
            zkc_impl_set_errmsg("lock %s: extra_json is not a JSON object", dir);
        goto fail;
    }
    l->state_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->state_fd < 0) {
        rc = ZKC_ESYSTEMERROR;
        goto fail;
    }
    rc = zkc_impl_conn_add_state_listener(c, lock_on_conn_state, l);
    if (rc != ZKC_OK)
        goto fail;
    l->listening = true;
    *ret_lock = l;
    return ZKC_OK;
fail:
    lock_destroy(l);
    return rc;
}

/* ---- acquire ---- */

static bool is_lock_name(const char *name)
{
    size_t n = strlen(name);
    size_t sl = sizeof LOCK_SUFFIX - 1;
    /* "lock-" then 10 digits; the seed's "lock-NNNNNNNNNN" too. */
    return n >= 10 + sl - 1 && zkc__seq_suffix(name, NULL) &&
           memcmp(name + n - 10 - (sl - 1), &LOCK_SUFFIX[1], sl - 1) == 0;
}

/* Find the (lowest) child carrying our guid.  ZKC_OK with *ret_path or
 * NULL when there is none. */
static int find_ours(zkc_lock *l, char **ret_path)
{
    *ret_path = NULL;
    zkc_strings *kids = NULL;
    int rc = zkc_children(l->conn, l->dir, &kids, NULL, NULL);
    if (rc == ZKC_ENONODE)
        return ZKC_OK;
    if (rc != ZKC_OK)
        return rc;
    const char *best = NULL;
    int64_t best_seq = 0;
    for (size_t i = 0; i < kids->count; i++) {
        int64_t seq;
        if (!name_has_guid(kids->v[i], l->guid) || !zkc__seq_suffix(kids->v[i], &seq))
            continue;
        if (best == NULL || seq < best_seq) {
            best = kids->v[i];
            best_seq = seq;
        }
    }
    rc = ZKC_OK;
    if (best != NULL && (*ret_path = zkc_path_join(l->dir, best)) == NULL)
        rc = ZKC_ENOMEM;
    zkc_strings_free(kids);
    return rc;
}

/*
 * Create our node, protected: after a lost reply, look for it by guid
 * before creating again.  *maybe is set while a create may have been
 * applied without our knowing its name.
 */
static int create_node(zkc_lock *l, int64_t deadline, zkc_cancel *cancel, zkc_impl_backoff *bo,
                       bool *maybe, char **ret_node)
{
    char name[sizeof GUID_PREFIX + 32 + sizeof LOCK_SUFFIX];
    snprintf(name, sizeof name, GUID_PREFIX "%s" LOCK_SUFFIX, l->guid);
    char *path = zkc_path_join(l->dir, name);
    if (path == NULL)
        return ZKC_ENOMEM;
    unsigned flags = ZKC_SEQUENCE | (l->ephemeral ? ZKC_EPHEMERAL : 0);
    const zkc_acl_list *acl = l->acl != NULL ? l->acl : zkc_acl_world(ZKC_PERM_FILE);
    const zkc_acl_list *dacl = l->dir_acl != NULL ? l->dir_acl : zkc_acl_world(ZKC_PERM_ALL);
    int rc;
    for (;;) {
        if (*maybe) {
            char *found = NULL;
            rc = find_ours(l, &found);
            if (rc == ZKC_OK && found != NULL) {
                *ret_node = found;
                break;
            }
            if (rc == ZKC_OK) {
                *maybe = false; /* it was not applied: create again */
            } else if (!zkc__rc_retryable(rc)) {
                break;
            } else if ((rc = zkc_impl_backoff_wait(bo, deadline, cancel)) != ZKC_OK) {
                break;
            }
            continue;
        }
        if (zkc_cancel_is_set(cancel)) {
            rc = ZKC_EINTERRUPTED;
            break;
        }
        rc = zkc_create(l->conn, path, l->contents, l->contents_len, flags, acl, ret_node);
        if (rc == ZKC_OK)
            break;
        if (rc == ZKC_ENONODE) {
            rc = zkc_create_recursive(l->conn, l->dir, NULL, 0, 0, dacl, NULL);
            if (rc == ZKC_OK || rc == ZKC_ENODEEXISTS)
                continue;
        }
        if (!zkc__rc_retryable(rc))
            break;
        *maybe = true; /* the reply was lost, not necessarily the create */
        if ((rc = zkc_impl_backoff_wait(bo, deadline, cancel)) != ZKC_OK)
            break;
    }
    free(path);
    return rc;
}

/* Delete the children that carry our guid but are not node (duplicates
 * from a create applied twice). */
static void delete_ghosts(zkc_lock *l, const zkc_strings *kids, const char *node)
{
    const char *base = zkc_path_base(node);
    for (size_t i = 0; i < kids->count; i++) {
        if (!name_has_guid(kids->v[i], l->guid) || strcmp(kids->v[i], base) == 0)
            continue;
        char *p = zkc_path_join(l->dir, kids->v[i]);
        if (p != NULL) {
            zkc_impl_log(l->conn, ZKC_LOG_WARN, "lock %s: deleting duplicate node %s", l->dir, p);
            zkc_delete(l->conn, p, -1);
        }
        free(p);
    }
}

/*
 * Delete our node, retrying connection loss for cleanup_ms; when the
 * name is unknown (maybe) find it by guid first.  On failure the guid
 * becomes an orphan.  Returns ZKC_OK or the last error.
 */
static int lock_cleanup(zkc_lock *l, const char *node, bool maybe)
{
    if (node == NULL && !maybe)
        return ZKC_OK;
    zkc_impl_backoff bo = ZKC_IMPL_BACKOFF_INIT(10, 500);
    int64_t deadline = zkc_impl_deadline(l->cleanup_ms);
    char *found = NULL;
    int rc;
    for (;;) {
        if (node == NULL) {
            rc = find_ours(l, &found);
            if (rc == ZKC_OK && found == NULL)
                return ZKC_OK;
            node = found;
        }
        if (node != NULL)
            rc = zkc_delete(l->conn, node, -1);
        if (rc == ZKC_OK || rc == ZKC_ENONODE) {
            rc = ZKC_OK;
            break;
        }
        if (rc == ZKC_ESESSIONEXPIRED && l->ephemeral) {
            rc = ZKC_OK; /* gone with the session */
            break;
        }
        if (!zkc__rc_retryable(rc) || zkc_impl_backoff_wait(&bo, deadline, NULL) != ZKC_OK)
            break;
    }
    if (rc != ZKC_OK && rc != ZKC_ECLOSED && rc != ZKC_ECLOSING)
        orphan_add(l, l->guid);
    free(found);
    return rc;
}

static bool conn_usable(zkc_conn *c)
{
    zkc_state s = zkc_conn_state(c);
    return s == ZKC_STATE_CONNECTED || s == ZKC_STATE_RECONNECTED;
}

/* What a step of acquire_loop() decided: go round again, stop with the
 * step's rc, or the lock is held. */
typedef enum { ACQ_AGAIN, ACQ_STOP, ACQ_HELD } acq_step;

/* After a failed call: a retryable *rc waits out the backoff and goes
 * round again (*rc is then the wait's: cancelled, out of time); any other
 * stops. */
static acq_step retry_or_stop(int *rc, zkc_impl_backoff *bo, int64_t deadline,
                              zkc_cancel *cancel)
{
    if (zkc__rc_retryable(*rc) && (*rc = zkc_impl_backoff_wait(bo, deadline, cancel)) == ZKC_OK)
        return ACQ_AGAIN;
    return ACQ_STOP;
}

/* Our node in the queue: a new one when *node is NULL, recorded in
 * l->node too. */
static int enqueue(zkc_lock *l, int64_t deadline, zkc_cancel *cancel, zkc_impl_backoff *bo,
                   bool *maybe, char **node)
{
    if (*node != NULL)
        return ZKC_OK;
    int rc = create_node(l, deadline, cancel, bo, maybe, node);
    if (rc != ZKC_OK)
        return rc;
    *maybe = false;
    pthread_mutex_lock(&l->mu);
    free(l->node);
    l->node = strdup(*node);
    pthread_mutex_unlock(&l->mu);
    return ZKC_OK;
}

/* Where node stands among the folder's children kids (freed here), once
 * the ghosts of our earlier attempts are deleted: *me of *n, *pred the
 * node just before ours when there is one. */
static int queue_place(zkc_lock *l, zkc_strings *kids, const char *node, size_t *me, size_t *n,
                       char **pred)
{
    delete_ghosts(l, kids, node);
    int rc = zkc__queue_position(kids, l->dir, zkc_path_base(node), is_lock_name, true, me, n,
                                 pred);
    zkc_strings_free(kids);
    return rc;
}

/* Our node is not among the children (deleted by someone, or the session
 * that made it ended): queue again, unless the session expired. */
static acq_step requeue_vanished(zkc_lock *l, char **node, int *rc)
{
    zkc_impl_log(l->conn, ZKC_LOG_WARN, "lock %s: our node %s vanished; queueing again", l->dir,
                 *node);
    free(*node);
    *node = NULL;
    if (zkc_conn_state(l->conn) == ZKC_STATE_EXPIRED) {
        *rc = ZKC_ESESSIONEXPIRED;
        return ACQ_STOP;
    }
    return ACQ_AGAIN;
}

/* First in line: make sure the node is ours and the session was not in
 * doubt meanwhile, then hold. */
static acq_step take_if_first(zkc_lock *l, char **node, zkc_impl_backoff *bo, int64_t deadline,
                              zkc_cancel *cancel, int *rc)
{
    pthread_mutex_lock(&l->mu);
    uint64_t susp = l->susp;
    pthread_mutex_unlock(&l->mu);
    bool exists = false;
    zkc_stat st;
    *rc = zkc_exists(l->conn, *node, &exists, &st, NULL);
    if (*rc != ZKC_OK)
        return retry_or_stop(rc, bo, deadline, cancel);
    int64_t sid = zkc_conn_session_id(l->conn);
    if (!exists || (l->ephemeral && st.ephemeral_owner != sid)) {
        /* Gone, or an ephemeral of an earlier session of this
         * connection that will go with it: start afresh. */
        free(*node);
        *node = NULL;
        zkc__guid(l->guid);
        return ACQ_AGAIN;
    }
    pthread_mutex_lock(&l->cb_mu);
    pthread_mutex_lock(&l->mu);
    bool ok = l->susp == susp && conn_usable(l->conn);
    if (ok) {
        l->state = ZKC_LOCK_HELD;
        l->token = st.czxid;
        l->session = sid;
        l->gen++;
    }
    pthread_mutex_unlock(&l->mu);
    if (ok)
        lock_notify(l, ZKC_LOCK_HELD);
    pthread_mutex_unlock(&l->cb_mu);
    if (ok)
        return ACQ_HELD;
    /* The connection was in doubt while we looked: look again. */
    *rc = zkc_impl_backoff_wait(bo, deadline, cancel);
    return *rc == ZKC_OK ? ACQ_AGAIN : ACQ_STOP;
}

/* Not first: watch only the node just before ours (pred, freed here) and
 * wait until it changes. */
static acq_step wait_for_pred(zkc_lock *l, char *pred, zkc_impl_backoff *bo, int64_t deadline,
                              zkc_cancel *cancel, int *rc)
{
    bool exists = false;
    zkc_watch *w = NULL;
    *rc = zkc_exists(l->conn, pred, &exists, NULL, &w);
    free(pred);
    if (*rc != ZKC_OK)
        return retry_or_stop(rc, bo, deadline, cancel);
    zkc_impl_backoff_reset(bo);
    if (!exists) {
        zkc_watch_free(w);
        return ACQ_AGAIN;
    }
    int left = zkc_impl_time_left(deadline);
    *rc = left == 0 ? ZKC_ETIMEDOUT : zkc_watch_wait(w, left, cancel);
    zkc_watch_free(w);
    return *rc == ZKC_OK ? ACQ_AGAIN : ACQ_STOP;
}

/*
 * The contender's loop.  On return (any code) *ret_node is our node, if
 * any, and *maybe says whether a create of unknown name may exist.
 */
static int acquire_loop(zkc_lock *l, int64_t deadline, bool try_once, zkc_cancel *cancel,
                        char **ret_node, bool *maybe)
{
    zkc_impl_backoff bo = ZKC_IMPL_BACKOFF_INIT(10, 1000);
    char *node = NULL;
    int rc;
    for (;;) {
        if (zkc_cancel_is_set(cancel)) {
            rc = ZKC_EINTERRUPTED;
            break;
        }
        if ((rc = enqueue(l, deadline, cancel, &bo, maybe, &node)) != ZKC_OK)
            break;
        zkc_strings *kids = NULL;
        rc = zkc_children(l->conn, l->dir, &kids, NULL, NULL);
        if (rc == ZKC_ENONODE) {
            /* The folder went, and our node with it. */
            free(node);
            node = NULL;
            continue;
        }
        if (rc != ZKC_OK) {
            if (retry_or_stop(&rc, &bo, deadline, cancel) == ACQ_AGAIN)
                continue;
            break;
        }
        size_t me = 0, n = 0;
        char *pred = NULL;
        if ((rc = queue_place(l, kids, node, &me, &n, &pred)) != ZKC_OK)
            break;
        acq_step step;
        if (me == n) {
            step = requeue_vanished(l, &node, &rc);
        } else if (me == 0) {
            step = take_if_first(l, &node, &bo, deadline, cancel, &rc);
        } else if (try_once) {
            free(pred);
            rc = ZKC_ETIMEDOUT;
            step = ACQ_STOP;
        } else {
            step = wait_for_pred(l, pred, &bo, deadline, cancel, &rc);
        }
        if (step == ACQ_HELD) {
            *ret_node = node;
            return ZKC_OK;
        }
        if (step == ACQ_STOP)
            break;
    }
    *ret_node = node;
    return rc;
}

int zkc_lock_acquire(zkc_lock *l, int timeout_ms, zkc_cancel *cancel)
{
    if (l == NULL) {
        zkc_impl_set_errmsg("lock: NULL handle");
        return ZKC_EBADARGUMENTS;
    }
    pthread_mutex_lock(&l->mu);
    bool busy = l->busy || l->state == ZKC_LOCK_HELD || l->state == ZKC_LOCK_IN_DOUBT;
    if (!busy)
        l->busy = true;
    char *old = busy ? NULL : l->node;
    if (!busy)
        l->node = NULL;
    pthread_mutex_unlock(&l->mu);
    if (busy) {
        zkc_impl_set_errmsg("lock %s: already held, in doubt, or being acquired", l->dir);
        return ZKC_EINVALIDSTATE;
    }
    /* A lost lock's node may still be there (a persistent one). */
    lock_set_state(l, ZKC_LOCK_UNLOCKED);
    if (old != NULL)
        lock_cleanup(l, old, false);
    free(old);
    sweep_sync(l);

    int rc;
    char *node = NULL;
    bool maybe = false;
    if (zkc_cancel_is_set(cancel)) {
        rc = ZKC_EINTERRUPTED;
    } else {
        zkc__guid(l->guid);
        rc = acquire_loop(l, zkc_impl_deadline(timeout_ms), timeout_ms == 0, cancel, &node, &maybe);
    }
    if (rc != ZKC_OK) {
        pthread_mutex_lock(&l->mu);
        free(l->node);
        l->node = NULL;
        pthread_mutex_unlock(&l->mu);
        lock_cleanup(l, node, maybe);
        free(node);
        if (rc == ZKC_ETIMEDOUT)
            zkc_impl_set_errmsg("lock %s: %s", l->dir,
                            timeout_ms == 0 ? "held by another" : "timed out waiting");
        else if (rc == ZKC_EINTERRUPTED)
            zkc_impl_set_errmsg("lock %s: interrupted", l->dir);
        else
            zkc_impl_set_errmsg("lock %s: %s", l->dir, zkc_strerror(rc));
    } else {
        free(node); /* l->node has its own copy */
    }
    pthread_mutex_lock(&l->mu);
    l->busy = false;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* ---- release, state, free ---- */

int zkc_lock_release(zkc_lock *l)
{
    if (l == NULL) {
        zkc_impl_set_errmsg("lock: NULL handle");
        return ZKC_EBADARGUMENTS;
    }
    pthread_mutex_lock(&l->mu);
    if (l->busy) {
        pthread_mutex_unlock(&l->mu);
        zkc_impl_set_errmsg("lock %s: an acquire is running", l->dir);
        return ZKC_EINVALIDSTATE;
    }
    l->busy = true;
    pthread_mutex_unlock(&l->mu);

    /* Stop believing first, then let go. */
    pthread_mutex_lock(&l->cb_mu);
    pthread_mutex_lock(&l->mu);
    char *node = l->node;
    l->node = NULL;
    l->token = 0;
    l->gen++;
    bool changed = l->state != ZKC_LOCK_UNLOCKED;
    l->state = ZKC_LOCK_UNLOCKED;
    pthread_mutex_unlock(&l->mu);
    if (changed)
        lock_notify(l, ZKC_LOCK_UNLOCKED);
    pthread_mutex_unlock(&l->cb_mu);
    int rc = lock_cleanup(l, node, false);
    if (rc == ZKC_ECLOSED || rc == ZKC_ECLOSING)
        rc = l->ephemeral ? ZKC_OK : rc;
    if (rc != ZKC_OK)
        zkc_impl_set_errmsg("lock %s: release of %s: %s", l->dir, node, zkc_strerror(rc));
    free(node);
    sweep_sync(l);
    pthread_mutex_lock(&l->mu);
    l->busy = false;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

zkc_lock_state zkc_lock_get_state(zkc_lock *l)
{
    if (l == NULL)
        return ZKC_LOCK_UNLOCKED;
    pthread_mutex_lock(&l->mu);
    zkc_lock_state s = l->state;
    pthread_mutex_unlock(&l->mu);
    return s;
}

int64_t zkc_lock_fencing_token(zkc_lock *l)
{
    if (l == NULL)
        return 0;
    pthread_mutex_lock(&l->mu);
    int64_t t = l->state == ZKC_LOCK_HELD || l->state == ZKC_LOCK_IN_DOUBT ? l->token : 0;
    pthread_mutex_unlock(&l->mu);
    return t;
}

const char *zkc_lock_node_path(zkc_lock *l)
{
    if (l == NULL)
        return NULL;
    pthread_mutex_lock(&l->mu);
    const char *p = l->state == ZKC_LOCK_HELD || l->state == ZKC_LOCK_IN_DOUBT ? l->node : NULL;
    pthread_mutex_unlock(&l->mu);
    return p;
}

void zkc_lock_set_callback(zkc_lock *l, zkc_lock_state_fn fn, void *userdata)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->cb_mu);
    pthread_mutex_lock(&l->mu);
    l->fn = fn;
    l->fn_ud = userdata;
    pthread_mutex_unlock(&l->mu);
    pthread_mutex_unlock(&l->cb_mu);
}

int zkc_lock_state_fd(zkc_lock *l)
{
    return l == NULL ? -1 : l->state_fd;
}

void zkc_lock_state_ack(zkc_lock *l)
{
    if (l == NULL)
        return;
    uint64_t n;
    ssize_t r = read(l->state_fd, &n, sizeof n);
    (void)r;
}

void zkc_lock_free(zkc_lock *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    bool held = l->node != NULL && !l->busy;
    pthread_mutex_unlock(&l->mu);
    if (held)
        zkc_lock_release(l);
    /* No listener runs after this; then no callback either. */
    if (l->listening)
        zkc_impl_conn_remove_state_listener(l->conn, lock_on_conn_state, l);
    pthread_mutex_lock(&l->cb_mu);
    pthread_mutex_lock(&l->mu);
    l->freed = true;
    l->fn = NULL;
    pthread_mutex_unlock(&l->mu);
    pthread_mutex_unlock(&l->cb_mu);
    lock_unref(l);
}
