/*
 * zkcell/recipes.h: coordination recipes over any zkc_conn: the mutex
 * (the seed's ZLocker / CreateMutex), leader election (ZElector /
 * CreateElection / RunTask), the queue lock (ObtainQueueLock) and the pid
 * node (CreatePidNode).
 *
 * What they promise beyond the original:
 *  - Lock nodes are protected sequential creates, named
 *    "_c_<guid>-lock-<seq>" as Curator and kazoo name theirs: a create
 *    whose reply was lost is found again by its guid, never duplicated.
 *  - Waiters are ordered by the 10-digit sequence suffix; children of
 *    the lock folder that are not lock nodes are ignored.  Each waiter
 *    watches only its predecessor, so a release wakes exactly one waiter.
 *  - Lost means lost: a lock reports ZKC_LOCK_IN_DOUBT the moment its
 *    connection is suspended (before the session can expire on the server
 *    and another process be granted the lock), ZKC_LOCK_HELD again after
 *    a reconnect only if its node is still there and owned by its
 *    session, and ZKC_LOCK_LOST when the session expires or the node
 *    goes.  A leader's task is stopped as soon as leadership is in doubt.
 *  - Every blocking call takes a timeout and a cancel token; a trigger is
 *    never lost (a token stays triggered), and a wait that ends early
 *    leaves no node behind.
 *
 * Threads: every handle may be used from any thread, but a handle's
 * blocking calls (acquire, release, run) must not run concurrently on two
 * threads, and no blocking call may be made from a completion, watch
 * callback or state callback of the connection it uses.  State callbacks
 * given to these recipes (and an elector task's stop) run on the thread
 * that observes the change, often the connection's own: they must be
 * quick, must not block, and must not free the handle that calls them.
 *
 * A recipe handle must be freed before its connection is closed.
 */
#ifndef ZKC_RECIPES_H
#define ZKC_RECIPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- mutex ---- */

typedef struct zkc_lock zkc_lock;

/* What the holder of a lock may believe. */
typedef enum zkc_lock_state {
    ZKC_LOCK_UNLOCKED = 0, /* not held: never acquired, released, or acquiring */
    ZKC_LOCK_HELD = 1,     /* held, as far as the session can tell */
    ZKC_LOCK_IN_DOUBT = 2, /* connection suspended: stop acting on the lock */
    ZKC_LOCK_LOST = 3      /* certainly not held any more */
} zkc_lock_state;

const char *zkc_lock_state_name(zkc_lock_state s);

typedef struct zkc_lock_opts {
    unsigned version;       /* 1 */
    bool persistent;        /* false (default): ephemeral lock nodes */
    /* A JSON object whose members are added to the node's contents
     * ({"hostname": ..., "pid": ...}); NULL for none.  It may not
     * replace "hostname" and "pid". */
    const char *extra_json;
    /* ACL of the lock nodes; NULL: world:anyone ZKC_PERM_FILE.  Missing
     * folders get the same entries with ZKC_PERM_DIRECTORY. */
    const zkc_acl_list *acl;
    /* How long cleanup (deleting our node after a failed, timed out or
     * interrupted acquire, or on release) keeps retrying through
     * connection loss before it leaves the node for the handle to delete
     * when the connection comes back; 0: 5000 ms. */
    int cleanup_ms;
} zkc_lock_opts;

#define ZKC_LOCK_OPTS_INIT {1, false, NULL, NULL, 0}

/*
 * zkc_lock_new: a mutex on the folder dir (created when missing).  opts
 * may be NULL.  Returns ZKC_OK with *ret_lock, ZKC_EBADARGUMENTS,
 * ZKC_EBADPATH (dir), ZKC_EBADDATA (extra_json is not a JSON object),
 * ZKC_ENOMEM.  Nothing is sent to the server yet.
 */
int zkc_lock_new(zkc_conn *c, const char *dir, const zkc_lock_opts *opts, zkc_lock **ret_lock);

/*
 * zkc_lock_acquire: take the lock, waiting at most timeout_ms
 * milliseconds (-1: no limit; 0: try once, and leave nothing behind when
 * someone else holds it), or until cancel (may be NULL) is triggered.
 * Returns:
 *   ZKC_OK            held (ZKC_LOCK_HELD), with a fencing token;
 *   ZKC_ETIMEDOUT     not held within timeout_ms;
 *   ZKC_EINTERRUPTED  cancel was triggered (also when it already was);
 *   ZKC_EINVALIDSTATE the handle is held, in doubt, or being acquired;
 *   ZKC_ESESSIONEXPIRED, ZKC_ECLOSED, ZKC_ECLOSING, ZKC_ENOAUTH, or
 *                     another server error that retrying cannot cure.
 * Connection loss is retried (with jittered backoff) until the deadline.
 * On every error our lock node is deleted (or, if the connection is down,
 * deleted by the handle once it is back); zkc_errmsg() names the folder.
 */
int zkc_lock_acquire(zkc_lock *l, int timeout_ms, zkc_cancel *cancel);

/*
 * zkc_lock_release: give the lock up (delete our node).  The state
 * becomes ZKC_LOCK_UNLOCKED whatever happens.  Returns ZKC_OK (also when
 * the node was already gone, or the lock was lost or never held), or the
 * delete's error after cleanup_ms of retries (the handle deletes the node
 * when the connection is back; an ephemeral node goes with its session).
 */
int zkc_lock_release(zkc_lock *l);

/* zkc_lock_get_state: the current state. */
zkc_lock_state zkc_lock_get_state(zkc_lock *l);

/*
 * zkc_lock_fencing_token: the czxid of our lock node while the lock is
 * held or in doubt (pass it to the systems the lock protects, which
 * reject tokens older than the newest they have seen), else 0.
 */
int64_t zkc_lock_fencing_token(zkc_lock *l);

/*
 * zkc_lock_node_path: the path of our lock node while held or in doubt,
 * else NULL.  Borrowed: valid until the next acquire or release.
 */
const char *zkc_lock_node_path(zkc_lock *l);

/*
 * zkc_lock_set_callback: call fn on every change of state, with the new
 * state.  It runs on the thread that caused the change (the connection's
 * own, for a suspension or loss; the caller's, for acquire and release),
 * never twice at once.  One callback per lock; NULL removes it.
 */
typedef void (*zkc_lock_state_fn)(zkc_lock *l, zkc_lock_state state, void *userdata);
void zkc_lock_set_callback(zkc_lock *l, zkc_lock_state_fn fn, void *userdata);

/*
 * zkc_lock_state_fd: a descriptor that becomes readable on every change
 * of state; read the state with zkc_lock_get_state() and drain the
 * descriptor with zkc_lock_state_ack().  Owned by the lock.
 */
int zkc_lock_state_fd(zkc_lock *l);
void zkc_lock_state_ack(zkc_lock *l);

/*
 * zkc_lock_free: release the lock if held and free the handle.  Work
 * still in flight (a watch on our node, a cleanup waiting for the
 * connection) ends on its own and never calls the callback again.  NULL
 * is accepted.
 */
void zkc_lock_free(zkc_lock *l);

/* ---- leader election ---- */

typedef struct zkc_election zkc_election;

/*
 * The task a leader runs (the seed's ElectorTask).
 *  run:         called on a thread of the election's while we lead, with
 *               the fencing token of our candidate node; blocks for as
 *               long as it works, and returns ZKC_OK or an error (which
 *               makes the election back off before running again).
 *  stop:        ask run to return soon.  Called at most once per run,
 *               from any thread (often the connection's), as soon as
 *               leadership is in doubt or lost, or the election is
 *               cancelled.  Must not block.  It may come just as run
 *               starts: keep the request until run returns (do not clear
 *               it at the start of run).  When leadership goes before
 *               run was called, run is not called at all.
 *  interrupted: asked after run returns: true ends zkc_election_run()
 *               with ZKC_OK; false queues for leadership again.  NULL
 *               means false.
 */
typedef struct zkc_elector_task {
    int (*run)(int64_t fencing_token, void *userdata);
    void (*stop)(void *userdata);
    bool (*interrupted)(void *userdata);
    void *userdata;
} zkc_elector_task;

typedef struct zkc_election_opts {
    unsigned version; /* 1 */
    /* A JSON object added to the candidate and leader contents; NULL for
     * none. */
    const char *extra_json;
    /* Backoff after errors and lost leadership: jittered, doubling from
     * min to max; 0: 100 ms and 60000 ms. */
    int min_backoff_ms;
    int max_backoff_ms;
} zkc_election_opts;

#define ZKC_ELECTION_OPTS_INIT {1, NULL, 0, 0}

/*
 * zkc_election_new: an election at path: candidates queue under
 * <path>/candidates (ephemeral, protected), the leader writes its
 * contents into <path>/leader for followers to read and watch.  opts may
 * be NULL.  Returns ZKC_OK with *ret, ZKC_EBADARGUMENTS, ZKC_EBADPATH,
 * ZKC_EBADDATA (extra_json), ZKC_ENOMEM.
 */
int zkc_election_new(zkc_conn *c, const char *path, const zkc_election_opts *opts,
                     zkc_election **ret);

/*
 * zkc_election_run: queue for leadership, run the task while leading, and
 * queue again, until one of these, which is the return value:
 *   ZKC_EINTERRUPTED     cancel was triggered (the task, if running, was
 *                        stopped and has returned);
 *   ZKC_OK               the task's interrupted() said to end;
 *   ZKC_ESESSIONEXPIRED  the session expired and the connection stays
 *                        expired;
 *   ZKC_ECLOSED, ZKC_ECLOSING  the connection was closed;
 *   ZKC_EBADARGUMENTS, ZKC_EINVALIDSTATE (already running), ZKC_ENOMEM.
 * zkc_errmsg() says why, naming the path.  Every other error, and every
 * loss of leadership, gives up our candidate node, backs off with jitter,
 * and queues again.  When it returns, the task is not running and our
 * candidate node is gone (or goes with the session).
 */
int zkc_election_run(zkc_election *e, const zkc_elector_task *task, zkc_cancel *cancel);

/* zkc_election_is_leader: true while the task runs with leadership held. */
bool zkc_election_is_leader(zkc_election *e);

/*
 * zkc_election_leader: read the leader's contents at <path>/leader, for
 * followers; "" when nobody leads.  ret_watch (may be NULL) gets a data
 * watch on it.  Same returns as zkc_get().
 */
int zkc_election_leader(zkc_conn *c, const char *path, char **ret_data, size_t *ret_len,
                        zkc_watch **ret_watch);

/* zkc_election_free: free an election that is not running.  NULL is
 * accepted. */
void zkc_election_free(zkc_election *e);

/* ---- queue lock ---- */

/*
 * zkc_queue_lock: the seed's ObtainQueueLock.  The caller has created its
 * own entry, normally sequential, at entry_path; the queue is its parent.
 * Waits until the entry is first in the queue, at most timeout_ms
 * milliseconds (-1: no limit; 0: check once), or until cancel (may be
 * NULL) is triggered, watching only the entry just before ours.  Entries
 * are ordered by their 10-digit sequence suffix and children without one
 * are ignored; if our own entry has no suffix, all children are ordered
 * bytewise (the original rule).  The entry is never deleted here.
 * Returns ZKC_OK (first), ZKC_ETIMEDOUT, ZKC_EINTERRUPTED, ZKC_ENONODE
 * (our entry, or the queue, is missing), or a server error that retrying
 * cannot cure; connection loss is retried until the deadline.
 */
int zkc_queue_lock(zkc_conn *c, const char *entry_path, int timeout_ms, zkc_cancel *cancel);

/* ---- pid node ---- */

typedef struct zkc_pidnode zkc_pidnode;

typedef struct zkc_pidnode_opts {
    unsigned version; /* 1 */
    /* ACL of the node, at creation and every re-creation; NULL:
     * world:anyone ZKC_PERM_FILE. */
    const zkc_acl_list *acl;
    /* After each event (a deletion, an expiry, an error) the keeper waits
     * a uniformly random time in [min_delay_ms, max_delay_ms] before
     * checking again, so that many processes do not come back at once;
     * 0: 5000 ms and 60000 ms. */
    int min_delay_ms;
    int max_delay_ms;
} zkc_pidnode_opts;

#define ZKC_PIDNODE_OPTS_INIT {1, NULL, 0, 0}

/*
 * zkc_pidnode_create: create the ephemeral node path with data (replacing
 * a node left by another session), then keep it there from a thread of
 * its own: it is created again after it is deleted, or after the session
 * expires once the connection has a new session (the cell router's
 * connections do).  opts may be NULL.  Returns ZKC_OK with *ret, or the
 * first create's error (ZKC_ENONODE: no parent, ZKC_ENOAUTH, ...) so that
 * configuration mistakes show at start-up, or ZKC_EBADARGUMENTS,
 * ZKC_EBADPATH, ZKC_ENOMEM.
 */
int zkc_pidnode_create(zkc_conn *c, const char *path, const void *data, size_t len,
                       const zkc_pidnode_opts *opts, zkc_pidnode **ret);

/* zkc_pidnode_recreated: how many times the keeper created the node
 * again. */
unsigned zkc_pidnode_recreated(zkc_pidnode *p);

/*
 * zkc_pidnode_free: stop the keeper, delete the node if it is still ours,
 * and free the handle.  Connection loss is retried, with backoff, for up
 * to 5 s (so it may block that long while the connection is down); after
 * that the node is left to go with its session.  NULL is accepted.
 */
void zkc_pidnode_free(zkc_pidnode *p);

#ifdef __cplusplus
}
#endif
#endif
