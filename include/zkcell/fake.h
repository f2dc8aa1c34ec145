/*
 * zkcell/fake.h: an in-memory ZooKeeper for tests and tools (fakezk).
 *
 * A zkc_fake_tree is one server's data tree; zkc_fake_open() opens a
 * session on it as a zkc_conn.  Several sessions may share a tree: they
 * see each other's writes, watches and ephemerals exactly as clients of
 * one ZooKeeper 3.8 server do (sequential names from the parent's
 * cversion, zxids, stats, ACL checks, one-shot watches in the server's
 * order, ephemerals removed when their session expires or closes).
 *
 * Faults are injected per session, so the failure paths of code written
 * against zkc_conn run without a server.
 *
 * Threads: every function here may be called from any thread.  Each
 * session has its own completion thread; operations are applied to the
 * tree in submission order at submission time, and their completions run
 * later on that thread, in order.
 */
#ifndef ZKC_FAKE_H
#define ZKC_FAKE_H

#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct zkc_fake_tree zkc_fake_tree;

/*
 * zkc_fake_tree_new: an empty tree (just "/" and "/zookeeper", like a
 * fresh server), or NULL when out of memory.  The tree lives until it and
 * every session opened on it are gone: zkc_fake_tree_free() drops the
 * caller's reference.
 */
zkc_fake_tree *zkc_fake_tree_new(void);
void zkc_fake_tree_free(zkc_fake_tree *t);

/*
 * zkc_fake_tree_load_json: add nodes from a JSON object mapping absolute
 * paths to data: a string (stored as its bytes) or any other JSON value
 * (stored as its compact JSON text).  Missing parents are created empty.
 * Existing nodes get the new data.  Returns ZKC_OK, ZKC_EIO (unreadable
 * file), ZKC_EBADDATA (not JSON, not an object) or ZKC_EBADPATH, with
 * zkc_errmsg() naming the file and the problem.
 */
int zkc_fake_tree_load_json(zkc_fake_tree *t, const char *filename);
int zkc_fake_tree_load_json_string(zkc_fake_tree *t, const char *json);

/*
 * zkc_fake_tree_dump_json: the subtree at root (root included, except
 * "/zookeeper") as a JSON object mapping path to data, in the format
 * zkc_fake_tree_load_json reads back.  Data that is not valid UTF-8 is
 * written as {"base64": "..."}.  *ret_json is the caller's (zkc_free).
 */
int zkc_fake_tree_dump_json(zkc_fake_tree *t, const char *root, char **ret_json);

/*
 * zkc_fake_open: open a new session on t.  Returns ZKC_OK with
 * *ret_conn, or ZKC_ENOMEM.  The connection is ZKC_STATE_CONNECTED at
 * once.  It holds a reference on the tree.
 */
int zkc_fake_open(zkc_fake_tree *t, zkc_conn **ret_conn);

/* Faults, for one session.  A multi (zkc_amulti) counts as one
 * operation: lost before, nothing of it is applied; lost after, all of
 * it is. */
typedef enum zkc_fake_fault {
    /* The next n operations fail with ZKC_ECONNECTIONLOSS and are not
     * applied; the session goes SUSPENDED then RECONNECTED around them. */
    ZKC_FAKE_LOSS_BEFORE = 1,
    /* The next n operations are applied, but their replies are lost:
     * they complete with ZKC_ECONNECTIONLOSS (SUSPENDED, RECONNECTED). */
    ZKC_FAKE_LOSS_AFTER = 2,
    /* Expire the session now: its ephemerals go, its watches end with
     * ZKC_EVENT_SESSION_EXPIRED, state EXPIRED, and every later
     * operation fails with ZKC_ESESSIONEXPIRED.  n is ignored. */
    ZKC_FAKE_EXPIRE = 3,
    /* Delay every completion by n milliseconds (0 turns delays off). */
    ZKC_FAKE_DELAY = 4,
    /* Suspend the session (n != 0): operations fail with
     * ZKC_ECONNECTIONLOSS and state is SUSPENDED until n == 0 resumes it
     * (RECONNECTED); watches and ephemerals survive, as in ZooKeeper
     * when the client reconnects within the session timeout. */
    ZKC_FAKE_SUSPEND = 5
} zkc_fake_fault;

/*
 * zkc_fake_inject: inject a fault into the session c (a connection made by
 * zkc_fake_open).  Returns ZKC_OK, or ZKC_EBADARGUMENTS when c is not a
 * fake session or fault is unknown.
 */
int zkc_fake_inject(zkc_conn *c, zkc_fake_fault fault, unsigned n);

/*
 * zkc_fake_inject_nth: lose the k-th operation submitted on c from now on
 * (k >= 1; 1 is the next), as ZKC_FAKE_LOSS_BEFORE or ZKC_FAKE_LOSS_AFTER
 * do, and only that one: the k-1 before it are applied normally.  It
 * replaces any loss still pending on c.  Returns ZKC_OK, or
 * ZKC_EBADARGUMENTS (not a fake session, k == 0, another fault).  With
 * zkc_fake_ops(), a test loses each step of a sequence in turn.
 */
int zkc_fake_inject_nth(zkc_conn *c, zkc_fake_fault fault, unsigned k);

/*
 * zkc_fake_ops: how many operations were submitted on c so far (a multi
 * counts as one, the ones that failed by a fault too), and whether a loss
 * injected is still to come.  Either pointer may be NULL.  Returns ZKC_OK
 * or ZKC_EBADARGUMENTS (not a fake session).
 */
int zkc_fake_ops(zkc_conn *c, uint64_t *ret_n, bool *ret_loss_pending);

/*
 * zkc_fake_add_auth: add an identity to the session for ACL checks:
 * scheme "digest" with "user:password" (matched against digest ACL ids
 * "user:base64(sha1(user:password))"), or "ip" with an address (the
 * session's address is 127.0.0.1 by default).
 */
int zkc_fake_add_auth(zkc_conn *c, const char *scheme, const char *cred);

#ifdef __cplusplus
}
#endif
#endif
