/*
 * election.c: leader election (the seed's ZElector: CreateElection,
 * RunTask, ElectorTask).
 *
 * Candidates queue on a mutex (lock.c) at <path>/candidates; the one
 * that holds it writes its contents, which name its candidate node and
 * so tell apart two electors of one process, into <path>/leader, and runs
 * the task on a thread of its own while the caller's thread watches:
 *
 *   - the lock's state: IN_DOUBT (connection suspended) or LOST stops the
 *     task at once, from the thread that observed it, before the session
 *     can expire and another candidate take over;
 *   - <path>/leader: contents that are not ours (or no node) mean someone
 *     else leads: stop;
 *   - the cancel token: stop, and end once the task has returned;
 *   - the task's end.
 *
 * Once the task has returned (always joined: no thread is left behind),
 * the leader node is emptied if it still holds our contents (through
 * connection loss for a while: the write is versioned), and our
 * candidate node is deleted before anything else happens: a failed
 * promotion or a lost leadership never leaves a stale node at the head of
 * the queue (the original deadlocked on its own node).  Errors and lost
 * leaderships back off with jitter before queueing again.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "recipes_impl.h"
#include "zkcell/path.h"
#include "zkcell/recipes.h"
#include "zkcell/util.h"

#define DEFAULT_MIN_BACKOFF_MS 100
#define DEFAULT_MAX_BACKOFF_MS 60000
#define STEP_DOWN_MS           2000 /* how long stepping down tries to empty the leader node */

struct zkc_election {
    zkc_conn *conn;
    char *path;
    char *leader_path;
    char *cand_dir;
    char *extra_json;
    int min_ms, max_ms;
    zkc_lock *lock;
    int wake_fd; /* eventfd: the task ended, or leadership is in doubt */

    pthread_mutex_t mu; /* everything below */
    bool running;       /* zkc_election_run() is in progress */
    const zkc_elector_task *task;
    bool task_running; /* a task thread exists for this term */
    bool task_done;
    int task_rc;
    bool stop_sent;
    bool lost;
    bool leading;
    int64_t token;
};

static void wake(zkc_election *e)
{
    uint64_t one = 1;
    ssize_t r = write(e->wake_fd, &one, sizeof one);
    (void)r;
}

static void drain(int fd)
{
    uint64_t n;
    ssize_t r = read(fd, &n, sizeof n);
    (void)r;
}

/* Ask the task to stop (once per term); lost says why.  A task whose
 * thread has not called run yet is not started at all. */
static void term_stop(zkc_election *e, bool lost)
{
    pthread_mutex_lock(&e->mu);
    bool call = e->task_running && !e->task_done && !e->stop_sent;
    if (e->task_running && !e->task_done)
        e->stop_sent = true;
    if (lost)
        e->lost = true;
    e->leading = false;
    const zkc_elector_task *t = e->task;
    pthread_mutex_unlock(&e->mu);
    if (call)
        t->stop(t->userdata);
    wake(e);
}

/* The candidate lock's state: doubt or loss stops the task at once. */
static void on_lock_state(zkc_lock *l, zkc_lock_state s, void *ud)
{
    (void)l;
    zkc_election *e = ud;
    if (s == ZKC_LOCK_IN_DOUBT || s == ZKC_LOCK_LOST) {
        zkc_impl_log(e->conn, ZKC_LOG_WARN, "election %s: leadership %s; stopping the task",
                     e->path, zkc_lock_state_name(s));
        term_stop(e, true);
    }
}

int zkc_election_new(zkc_conn *c, const char *path, const zkc_election_opts *opts,
                     zkc_election **ret)
{
    if (ret != NULL)
        *ret = NULL;
    if (c == NULL || path == NULL || ret == NULL || (opts != NULL && opts->version != 1)) {
        zkc_impl_set_errmsg("election: bad arguments");
        return ZKC_EBADARGUMENTS;
    }
    if (zkc_path_validate(path, false) != ZKC_OK) {
        zkc_impl_set_errmsg("election %s: %s", path, zkc_strerror(ZKC_EBADPATH));
        return ZKC_EBADPATH;
    }
    zkc_election_opts o = ZKC_ELECTION_OPTS_INIT;
    if (opts != NULL)
        o = *opts;
    zkc_election *e = calloc(1, sizeof *e);
    if (e == NULL)
        return ZKC_ENOMEM;
    e->conn = c;
    e->wake_fd = -1;
    pthread_mutex_init(&e->mu, NULL);
    e->min_ms = o.min_backoff_ms > 0 ? o.min_backoff_ms : DEFAULT_MIN_BACKOFF_MS;
    e->max_ms = o.max_backoff_ms > 0 ? o.max_backoff_ms : DEFAULT_MAX_BACKOFF_MS;
    if (e->max_ms < e->min_ms)
        e->max_ms = e->min_ms;
    int rc = ZKC_ENOMEM;
    e->path = strdup(path);
    e->leader_path = zkc_path_join(path, "leader");
    e->cand_dir = zkc_path_join(path, "candidates");
    if (e->path == NULL || e->leader_path == NULL || e->cand_dir == NULL)
        goto fail;
    if (o.extra_json != NULL && (e->extra_json = strdup(o.extra_json)) == NULL)
        goto fail;
    e->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (e->wake_fd < 0) {
        rc = ZKC_ESYSTEMERROR;
        goto fail;
    }
    zkc_lock_opts lo = ZKC_LOCK_OPTS_INIT;
    lo.extra_json = o.extra_json;
    rc = zkc_lock_new(c, e->cand_dir, &lo, &e->lock);
    if (rc != ZKC_OK)
        goto fail;
    zkc_lock_set_callback(e->lock, on_lock_state, e);
    *ret = e;
    return ZKC_OK;
fail:
    zkc_election_free(e);
    return rc;
}

void zkc_election_free(zkc_election *e)
{
    if (e == NULL)
        return;
    zkc_lock_free(e->lock);
    if (e->wake_fd >= 0)
        close(e->wake_fd);
    pthread_mutex_destroy(&e->mu);
    free(e->path);
    free(e->leader_path);
    free(e->cand_dir);
    free(e->extra_json);
    free(e);
}

bool zkc_election_is_leader(zkc_election *e)
{
    if (e == NULL)
        return false;
    pthread_mutex_lock(&e->mu);
    bool l = e->leading;
    pthread_mutex_unlock(&e->mu);
    return l;
}

int zkc_election_leader(zkc_conn *c, const char *path, char **ret_data, size_t *ret_len,
                        zkc_watch **ret_watch)
{
    if (c == NULL || path == NULL) {
        zkc_impl_set_errmsg("election_leader: NULL argument");
        return ZKC_EBADARGUMENTS;
    }
    char *lp = zkc_path_join(path, "leader");
    if (lp == NULL)
        return ZKC_ENOMEM;
    int rc = zkc_get(c, lp, ret_data, ret_len, NULL, ret_watch);
    free(lp);
    return rc;
}

static void *task_main(void *arg)
{
    zkc_election *e = arg;
    pthread_mutex_lock(&e->mu);
    const zkc_elector_task *t = e->task;
    int64_t token = e->token;
    /* Leadership went before the task started: do not start it. */
    bool skip = e->stop_sent;
    pthread_mutex_unlock(&e->mu);
    int rc = skip ? ZKC_OK : t->run(token, t->userdata);
    pthread_mutex_lock(&e->mu);
    e->task_done = true;
    e->task_rc = rc;
    e->leading = false;
    pthread_mutex_unlock(&e->mu);
    wake(e);
    return NULL;
}

/* Is the connection gone for good?  Then rc is what run returns. */
static bool conn_gone(zkc_election *e, int rc)
{
    if (rc == ZKC_ECLOSED || rc == ZKC_ECLOSING)
        return true;
    zkc_state s = zkc_conn_state(e->conn);
    return s == ZKC_STATE_CLOSED || (rc == ZKC_ESESSIONEXPIRED && s == ZKC_STATE_EXPIRED);
}

/* Write our contents into the leader node; *ret_version is the version
 * written. */
static int write_leader(zkc_election *e, const char *contents, size_t len, int32_t *ret_version)
{
    zkc_stat st;
    int rc = zkc_set(e->conn, e->leader_path, contents, len, -1, &st);
    if (rc == ZKC_OK) {
        *ret_version = st.version;
    } else if (rc == ZKC_ENONODE) {
        /* Someone deleted it: make it again, with our contents. */
        rc = zkc_create_recursive(e->conn, e->leader_path, contents, len, 0,
                                  zkc_acl_world(ZKC_PERM_FILE), NULL);
        *ret_version = 0;
    }
    return rc;
}

/*
 * Is the leader node still ours?  Read it, with a watch in *lw (which
 * replaces the one there).  Names someone else, or cannot be read for
 * good: the task is stopped.  Returns whether to look again, after
 * *retry_ms (a read that may work later: the lock's state covers the
 * doubt meanwhile).
 */
static bool leader_node_check(zkc_election *e, const char *contents, size_t len, zkc_watch **lw,
                              zkc_impl_backoff *bo, int *retry_ms)
{
    char *data = NULL;
    size_t dlen = 0;
    zkc_watch_free(*lw);
    *lw = NULL;
    int rc = zkc_get(e->conn, e->leader_path, &data, &dlen, NULL, lw);
    *retry_ms = -1;
    bool again = false;
    if (rc == ZKC_OK) {
        zkc_impl_backoff_reset(bo);
        if (dlen != len || memcmp(data, contents, len) != 0) {
            zkc_impl_log(e->conn, ZKC_LOG_WARN,
                         "election %s: the leader node names someone else; stopping", e->path);
            term_stop(e, true);
        }
    } else if (zkc__rc_retryable(rc)) {
        *retry_ms = zkc_impl_backoff_next(bo);
        again = true;
    } else {
        zkc_impl_log(e->conn, ZKC_LOG_WARN, "election %s: reading %s: %s; stopping", e->path,
                     e->leader_path, zkc_strerror(rc));
        term_stop(e, true);
    }
    free(data);
    return again;
}

/*
 * One term: run the task while we lead, until it returns.  Returns
 * whether the cancel token was seen.
 */
static bool lead(zkc_election *e, const zkc_elector_task *task, const char *contents,
                 size_t len, zkc_cancel *cancel)
{
    bool cancelled = false;
    pthread_t thr;
    if (pthread_create(&thr, NULL, task_main, e) != 0) {
        pthread_mutex_lock(&e->mu);
        e->task_done = true;
        e->task_rc = ZKC_ESYSTEMERROR;
        e->leading = false;
        pthread_mutex_unlock(&e->mu);
        return false;
    }
    /* Leadership may have been put in doubt before the thread existed. */
    if (zkc_lock_get_state(e->lock) != ZKC_LOCK_HELD)
        term_stop(e, true);

    zkc_impl_backoff bo = ZKC_IMPL_BACKOFF_INIT(10, 1000);
    zkc_watch *lw = NULL;
    bool need_check = true;
    int retry_ms = -1;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        bool done = e->task_done;
        bool stopping = e->stop_sent;
        pthread_mutex_unlock(&e->mu);
        if (done)
            break;
        if (need_check && !stopping) {
            need_check = leader_node_check(e, contents, len, &lw, &bo, &retry_ms);
            continue;
        }
        struct pollfd p[3];
        nfds_t n = 0;
        p[n++] = (struct pollfd){.fd = e->wake_fd, .events = POLLIN};
        int cfd = -1, wfd = -1;
        if (!cancelled && cancel != NULL) {
            cfd = zkc_cancel_fd(cancel);
            p[n++] = (struct pollfd){.fd = cfd, .events = POLLIN};
        }
        if (lw != NULL && (wfd = zkc_watch_fd(lw)) >= 0)
            p[n++] = (struct pollfd){.fd = wfd, .events = POLLIN};
        int timeout = need_check && !stopping ? retry_ms : -1;
        if (lw != NULL && wfd < 0)
            timeout = timeout < 0 || timeout > 50 ? 50 : timeout; /* no fd: poll the watch */
        int r = poll(p, n, timeout);
        if (r < 0 && errno != EINTR)
            break; /* cannot happen with valid fds; the join below still waits */
        drain(e->wake_fd);
        if (!cancelled && zkc_cancel_is_set(cancel)) {
            cancelled = true;
            term_stop(e, false);
        }
        if (lw != NULL && zkc_watch_fired(lw)) {
            zkc_event_type ev = zkc_watch_event(lw)->type;
            zkc_watch_free(lw);
            lw = NULL;
            if (ev == ZKC_EVENT_SESSION_EXPIRED || ev == ZKC_EVENT_CLOSED)
                term_stop(e, true);
            else
                need_check = true;
        }
    }
    zkc_watch_free(lw);
    pthread_join(thr, NULL);
    return cancelled;
}

/* The leader node, for followers to watch: created with its parents when
 * missing, with backoff, until the connection is gone (*why set) or
 * cancel fires. */
static int ensure_leader_node(zkc_election *e, zkc_impl_backoff *bo, zkc_cancel *cancel,
                              const char **why)
{
    for (;;) {
        int rc = zkc_create_recursive(e->conn, e->leader_path, NULL, 0, 0,
                                      zkc_acl_world(ZKC_PERM_FILE), NULL);
        if (rc == ZKC_OK || rc == ZKC_ENODEEXISTS)
            return ZKC_OK;
        if (conn_gone(e, rc)) {
            *why = "creating the leader node";
            return rc;
        }
        zkc_impl_log(e->conn, ZKC_LOG_WARN, "election %s: creating %s: %s; backing off",
                     e->path, e->leader_path, zkc_strerror(rc));
        if ((rc = zkc_impl_backoff_wait(bo, -1, cancel)) != ZKC_OK)
            return rc;
    }
}

/* Promoted: announce ourselves in the leader node.  *contents (malloc'd,
 * also on failure) is what was written, *version the node's version
 * after. */
static int announce(zkc_election *e, char **contents, size_t *len, int32_t *version)
{
    const char *node = zkc_lock_node_path(e->lock);
    int rc = zkc__contents_json(e->extra_json, "candidate",
                                node != NULL ? zkc_path_base(node) : "", contents, len);
    if (rc == ZKC_OK)
        rc = write_leader(e, *contents, *len, version);
    return rc;
}

/* Stepping down: empty the leader node if it still holds what we wrote
 * (version), through connection loss for a while, so that followers do
 * not read a leader that is gone.  The version makes every try safe: once
 * someone else wrote (or our lost write was applied), it is refused. */
static void clear_leader(zkc_election *e, int32_t version)
{
    zkc_impl_backoff bo = ZKC_IMPL_BACKOFF_INIT(10, 200);
    int64_t deadline = zkc_impl_deadline(STEP_DOWN_MS);
    int rc;
    while (zkc__rc_retryable(rc = zkc_set(e->conn, e->leader_path, NULL, 0, version, NULL)) &&
           zkc_impl_backoff_wait(&bo, deadline, NULL) == ZKC_OK)
        ;
    if (rc != ZKC_OK && rc != ZKC_EBADVERSION && rc != ZKC_ENONODE)
        zkc_impl_log(e->conn, ZKC_LOG_WARN, "election %s: could not empty %s: %s", e->path,
                     e->leader_path, zkc_strerror(rc));
}

/* One term as leader: run the task (lead()) until it ends, leadership is
 * lost or cancel fires; then step down: empty the leader node if it still
 * names us, and give up our candidate node before anything else.
 * Returns whether lead() was cancelled; *lost and *task_rc say how the
 * term went. */
static bool serve_term(zkc_election *e, const zkc_elector_task *task, const char *contents,
                       size_t len, int32_t version, zkc_cancel *cancel, bool *lost,
                       int *task_rc)
{
    pthread_mutex_lock(&e->mu);
    e->task = task;
    e->task_running = true;
    e->task_done = false;
    e->task_rc = ZKC_OK;
    e->stop_sent = false;
    e->lost = false;
    e->leading = true;
    e->token = zkc_lock_fencing_token(e->lock);
    pthread_mutex_unlock(&e->mu);
    drain(e->wake_fd);
    zkc_impl_log(e->conn, ZKC_LOG_INFO, "election %s: leading (token %lld)", e->path,
                 (long long)e->token);

    bool cancelled = lead(e, task, contents, len, cancel);

    pthread_mutex_lock(&e->mu);
    e->task_running = false;
    e->leading = false;
    *lost = e->lost;
    *task_rc = e->task_rc;
    pthread_mutex_unlock(&e->mu);

    if (zkc_lock_get_state(e->lock) == ZKC_LOCK_HELD)
        clear_leader(e, version);
    zkc_lock_release(e->lock);
    return cancelled;
}

/* After a term: true to end the run with *rc (and *why); else queue
 * again, after a backoff when the term went wrong. */
static bool term_ends_run(zkc_election *e, const zkc_elector_task *task, zkc_cancel *cancel,
                          bool cancelled, bool lost, int task_rc, zkc_impl_backoff *bo, int *rc,
                          const char **why)
{
    if (cancelled || zkc_cancel_is_set(cancel)) {
        *rc = ZKC_EINTERRUPTED;
        return true;
    }
    if (task->interrupted != NULL && task->interrupted(task->userdata)) {
        *rc = ZKC_OK;
        *why = "the task asked to end";
        return true;
    }
    zkc_state cs = zkc_conn_state(e->conn);
    if (cs == ZKC_STATE_CLOSED || cs == ZKC_STATE_EXPIRED) {
        *rc = cs == ZKC_STATE_CLOSED ? ZKC_ECLOSED : ZKC_ESESSIONEXPIRED;
        *why = "leading";
        return true;
    }
    if (lost || task_rc != ZKC_OK) {
        zkc_impl_log(e->conn, ZKC_LOG_WARN,
                     "election %s: %s; backing off before queueing again", e->path,
                     lost ? "leadership lost" : "the task failed");
        return (*rc = zkc_impl_backoff_wait(bo, -1, cancel)) != ZKC_OK;
    }
    zkc_impl_backoff_reset(bo);
    return false;
}

/* What a round of zkc_election_run() came to: queue again, end the run,
 * or lead. */
typedef enum { ROUND_AGAIN, ROUND_STOP, ROUND_LEAD } round_step;

/* After a failed step of a round: back off, then queue again (or end
 * the run with the wait's *rc: cancelled). */
static round_step back_off(zkc_impl_backoff *bo, zkc_cancel *cancel, int *rc)
{
    return (*rc = zkc_impl_backoff_wait(bo, -1, cancel)) == ZKC_OK ? ROUND_AGAIN : ROUND_STOP;
}

/* Wait in the queue until first, then announce ourselves in the leader
 * node.  ROUND_LEAD: leading, *contents (malloc'd), *len and *version
 * what the leader node holds.  Otherwise *rc (ZKC_OK for ROUND_AGAIN)
 * and *why say what happened. */
static round_step become_leader(zkc_election *e, zkc_cancel *cancel, zkc_impl_backoff *bo,
                                char **contents, size_t *len, int32_t *version, int *rc,
                                const char **why)
{
    *rc = zkc_lock_acquire(e->lock, -1, cancel);
    if (*rc == ZKC_EINTERRUPTED)
        return ROUND_STOP;
    if (*rc != ZKC_OK) {
        if (conn_gone(e, *rc)) {
            *why = "queueing";
            return ROUND_STOP;
        }
        zkc_impl_log(e->conn, ZKC_LOG_WARN, "election %s: queueing: %s; backing off", e->path,
                     zkc_strerror(*rc));
        return back_off(bo, cancel, rc);
    }
    *rc = announce(e, contents, len, version);
    if (*rc == ZKC_OK)
        return ROUND_LEAD;
    zkc_impl_log(e->conn, ZKC_LOG_WARN, "election %s: promotion failed: %s; giving up our node",
                 e->path, zkc_strerror(*rc));
    free(*contents);
    *contents = NULL;
    zkc_lock_release(e->lock);
    if (conn_gone(e, *rc)) {
        *why = "writing the leader node";
        return ROUND_STOP;
    }
    return back_off(bo, cancel, rc);
}

int zkc_election_run(zkc_election *e, const zkc_elector_task *task, zkc_cancel *cancel)
{
    if (e == NULL || task == NULL || task->run == NULL || task->stop == NULL) {
        zkc_impl_set_errmsg("election: bad arguments");
        return ZKC_EBADARGUMENTS;
    }
    pthread_mutex_lock(&e->mu);
    bool busy = e->running;
    e->running = true;
    pthread_mutex_unlock(&e->mu);
    if (busy) {
        zkc_impl_set_errmsg("election %s: already running", e->path);
        return ZKC_EINVALIDSTATE;
    }

    zkc_impl_backoff bo = ZKC_IMPL_BACKOFF_INIT(e->min_ms, e->max_ms);
    const char *why = NULL;
    int rc = ensure_leader_node(e, &bo, cancel, &why);
    if (rc == ZKC_OK)
        zkc_impl_backoff_reset(&bo);
    while (rc == ZKC_OK) {
        char *contents = NULL;
        size_t len = 0;
        int32_t version = -1;
        round_step step = become_leader(e, cancel, &bo, &contents, &len, &version, &rc, &why);
        if (step == ROUND_STOP)
            break;
        if (step == ROUND_AGAIN)
            continue;
        bool lost = false;
        int task_rc = ZKC_OK;
        bool cancelled = serve_term(e, task, contents, len, version, cancel, &lost, &task_rc);
        free(contents);
        if (term_ends_run(e, task, cancel, cancelled, lost, task_rc, &bo, &rc, &why))
            break;
    }

    if (rc == ZKC_EINTERRUPTED)
        zkc_impl_set_errmsg("election %s: interrupted", e->path);
    else if (rc != ZKC_OK)
        zkc_impl_set_errmsg("election %s: %s while %s", e->path, zkc_strerror(rc),
                            why != NULL ? why : "running");
    pthread_mutex_lock(&e->mu);
    e->running = false;
    pthread_mutex_unlock(&e->mu);
    return rc;
}
