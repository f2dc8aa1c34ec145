/*
 * pidnode.c: CreatePidNode (reference 10.10): an ephemeral node that says
 * "this process is alive", kept in place by a thread of its own.
 *
 * The first create is synchronous, so that a configuration mistake (no
 * parent, no permission) shows at start-up; a node left by another
 * session is replaced, one left by ours (a create whose reply was lost)
 * is adopted.  Then the keeper watches the node: when it is deleted, or
 * the session expires and the connection comes back with a new one (the
 * cell router's do), it creates the node again, with the same ACL as the
 * first time (the original switched from PERM_FILE to PERM_ALL).  After
 * each event it waits a random time in [min_delay_ms, max_delay_ms], so
 * that many processes losing their nodes together do not come back
 * together; connection loss is retried sooner, with jittered backoff.
 * zkc_pidnode_free() stops the keeper through a cancel token and deletes
 * the node if it is still ours, through connection loss for a while.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "recipes_impl.h"
#include "zkcell/path.h"
#include "zkcell/recipes.h"

#define DEFAULT_MIN_DELAY_MS 5000
#define DEFAULT_MAX_DELAY_MS 60000
#define FIRST_CREATE_TRIES   5
#define FREE_CLEANUP_MS      5000 /* how long free tries to delete through connection loss */

struct zkc_pidnode {
    zkc_conn *conn;
    char *path;
    char *data;
    size_t len;
    zkc_acl_list *acl; /* NULL: world FILE */
    int min_ms, max_ms;
    zkc_cancel *stop;
    pthread_t thread;
    bool started;
    atomic_uint recreated;
};

static const zkc_acl_list *pid_acl(const zkc_pidnode *p)
{
    return p->acl != NULL ? p->acl : zkc_acl_world(ZKC_PERM_FILE);
}

/*
 * Create the node.  When it exists already: ours (same session) is
 * adopted; another session's is deleted and created again when replace
 * is true, else left (ZKC_ENODEEXISTS).
 */
static int pid_create(zkc_pidnode *p, bool replace)
{
    for (int i = 0; i < 3; i++) {
        int rc = zkc_create(p->conn, p->path, p->data, p->len, ZKC_EPHEMERAL, pid_acl(p), NULL);
        if (rc != ZKC_ENODEEXISTS)
            return rc;
        bool exists = false;
        zkc_stat st;
        rc = zkc_exists(p->conn, p->path, &exists, &st, NULL);
        if (rc != ZKC_OK)
            return rc;
        if (!exists)
            continue;
        if (st.ephemeral_owner != 0 && st.ephemeral_owner == zkc_conn_session_id(p->conn))
            return ZKC_OK;
        if (!replace)
            return ZKC_ENODEEXISTS;
        zkc_impl_log(p->conn, ZKC_LOG_INFO,
                     "pid node %s: replacing a node left by session 0x%llx", p->path,
                     (unsigned long long)st.ephemeral_owner);
        rc = zkc_delete(p->conn, p->path, st.version);
        if (rc != ZKC_OK && rc != ZKC_ENONODE && rc != ZKC_EBADVERSION) {
            zkc_impl_set_errmsg("pid node %s: failed deleting the old node: %s", p->path,
                                zkc_strerror(rc));
            return rc;
        }
    }
    return ZKC_ENODEEXISTS;
}

static void *keeper_main(void *arg)
{
    zkc_pidnode *p = arg;
    zkc_impl_backoff bo = ZKC_IMPL_BACKOFF_INIT(10, 1000);
    while (!zkc_cancel_is_set(p->stop)) {
        bool exists = false;
        zkc_watch *w = NULL;
        int rc = zkc_exists(p->conn, p->path, &exists, NULL, &w);
        if (rc == ZKC_OK && !exists) {
            zkc_watch_free(w);
            rc = pid_create(p, false);
            if (rc == ZKC_OK) {
                atomic_fetch_add(&p->recreated, 1);
                zkc_impl_log(p->conn, ZKC_LOG_INFO, "pid node %s: created again", p->path);
                zkc_impl_backoff_reset(&bo);
                continue; /* watch it at once */
            }
            if (rc == ZKC_ENODEEXISTS)
                continue; /* someone else's now: watch that */
            zkc_impl_log(p->conn, ZKC_LOG_WARN, "pid node %s: failed creating it again: %s",
                         p->path, zkc_strerror(rc));
        } else if (rc == ZKC_OK) {
            zkc_impl_backoff_reset(&bo);
            rc = zkc_watch_wait(w, -1, p->stop);
            zkc_event_type ev = rc == ZKC_OK ? zkc_watch_event(w)->type : ZKC_EVENT_NONE;
            zkc_watch_free(w);
            if (rc != ZKC_OK)
                break; /* stopped */
            if (ev == ZKC_EVENT_CLOSED)
                break;
            zkc_impl_log(p->conn, ev == ZKC_EVENT_CHANGED ? ZKC_LOG_INFO : ZKC_LOG_WARN,
                         "pid node %s: %s", p->path,
                         ev == ZKC_EVENT_DELETED           ? "deleted (another process?)"
                         : ev == ZKC_EVENT_SESSION_EXPIRED ? "session expired"
                                                           : "changed");
        } else if (rc == ZKC_ECLOSED || rc == ZKC_ECLOSING) {
            break;
        } else if (zkc__rc_retryable(rc)) {
            if (zkc_impl_backoff_wait(&bo, -1, p->stop) != ZKC_OK)
                break;
            continue;
        } else {
            zkc_impl_log(p->conn, ZKC_LOG_WARN, "pid node %s: %s", p->path, zkc_strerror(rc));
        }
        /* Not all at once after a common cause. */
        if (zkc_sleep(zkc_impl_random_between(p->min_ms, p->max_ms), p->stop) != ZKC_OK)
            break;
    }
    return NULL;
}

static void pid_destroy(zkc_pidnode *p)
{
    zkc_cancel_free(p->stop);
    zkc_acl_list_free(p->acl);
    free(p->data);
    free(p->path);
    free(p);
}

int zkc_pidnode_create(zkc_conn *c, const char *path, const void *data, size_t len,
                       const zkc_pidnode_opts *opts, zkc_pidnode **ret)
{
    if (ret != NULL)
        *ret = NULL;
    if (c == NULL || path == NULL || ret == NULL || (len > 0 && data == NULL) ||
        len > ZKC_MAX_DATA || (opts != NULL && opts->version != 1)) {
        zkc_impl_set_errmsg("pid node: bad arguments");
        return ZKC_EBADARGUMENTS;
    }
    if (zkc_path_validate(path, false) != ZKC_OK || strcmp(path, "/") == 0) {
        zkc_impl_set_errmsg("pid node %s: %s", path, zkc_strerror(ZKC_EBADPATH));
        return ZKC_EBADPATH;
    }
    zkc_pidnode_opts o = ZKC_PIDNODE_OPTS_INIT;
    if (opts != NULL)
        o = *opts;
    zkc_pidnode *p = calloc(1, sizeof *p);
    if (p == NULL)
        return ZKC_ENOMEM;
    p->conn = c;
    p->min_ms = o.min_delay_ms > 0 ? o.min_delay_ms : DEFAULT_MIN_DELAY_MS;
    p->max_ms = o.max_delay_ms > 0 ? o.max_delay_ms : DEFAULT_MAX_DELAY_MS;
    if (p->max_ms < p->min_ms)
        p->max_ms = p->min_ms;
    atomic_init(&p->recreated, 0);
    p->path = strdup(path);
    p->data = malloc(len + 1);
    p->stop = zkc_cancel_new();
    if (p->path == NULL || p->data == NULL || p->stop == NULL ||
        (o.acl != NULL && (p->acl = zkc_acl_list_dup(o.acl)) == NULL)) {
        pid_destroy(p);
        return ZKC_ENOMEM;
    }
    if (len > 0)
        memcpy(p->data, data, len);
    p->len = len;

    zkc_impl_backoff bo = ZKC_IMPL_BACKOFF_INIT(10, 500);
    int rc = ZKC_OK;
    for (int i = 0; i < FIRST_CREATE_TRIES; i++) {
        rc = pid_create(p, true);
        if (!zkc__rc_retryable(rc))
            break;
        zkc_impl_backoff_wait(&bo, -1, NULL);
    }
    if (rc != ZKC_OK) {
        zkc_impl_set_errmsg("pid node %s: failed creating it: %s", path, zkc_strerror(rc));
        pid_destroy(p);
        return rc;
    }
    if (pthread_create(&p->thread, NULL, keeper_main, p) != 0) {
        zkc_delete(c, path, -1);
        pid_destroy(p);
        zkc_impl_set_errmsg("pid node %s: cannot start its thread", path);
        return ZKC_ESYSTEMERROR;
    }
    p->started = true;
    *ret = p;
    return ZKC_OK;
}

unsigned zkc_pidnode_recreated(zkc_pidnode *p)
{
    return p == NULL ? 0 : atomic_load(&p->recreated);
}

/*
 * Delete the node if it is still ours, trying again through connection
 * loss for FREE_CLEANUP_MS (a lost exists or delete must not leave the
 * node behind while the session lives on).  A node that is not ours, or
 * gone, is left alone; one changed meanwhile is looked at again.
 */
static void pid_delete_own(zkc_pidnode *p)
{
    zkc_impl_backoff bo = ZKC_IMPL_BACKOFF_INIT(10, 500);
    int64_t deadline = zkc_impl_deadline(FREE_CLEANUP_MS);
    for (;;) {
        bool exists = false;
        zkc_stat st;
        int rc = zkc_exists(p->conn, p->path, &exists, &st, NULL);
        if (rc == ZKC_OK) {
            if (!exists || st.ephemeral_owner == 0 ||
                st.ephemeral_owner != zkc_conn_session_id(p->conn))
                return;
            rc = zkc_delete(p->conn, p->path, st.version);
            if (rc == ZKC_OK || rc == ZKC_ENONODE)
                return;
        }
        bool again = zkc__rc_retryable(rc) || rc == ZKC_EBADVERSION;
        if (!again || zkc_impl_backoff_wait(&bo, deadline, NULL) != ZKC_OK) {
            zkc_impl_log(p->conn, ZKC_LOG_WARN,
                         "pid node %s: not deleted (%s); it goes with the session", p->path,
                         zkc_strerror(rc));
            return;
        }
    }
}

void zkc_pidnode_free(zkc_pidnode *p)
{
    if (p == NULL)
        return;
    zkc_cancel_trigger(p->stop);
    if (p->started)
        pthread_join(p->thread, NULL);
    pid_delete_own(p);
    pid_destroy(p);
}
