/*
 * zkcell/conn.h: the connection interface (the seed's Conn).
 *
 * A zkc_conn is one of several implementations (real ZooKeeper, the
 * in-memory fake, the cell router, the n-quorum global namespace, the
 * zkocc client) behind one table of operations.  Every operation is
 * asynchronous underneath: zkc_submit() returns at once, and when it
 * returns ZKC_OK exactly one completion follows, also when the connection
 * is closed first (then with ZKC_ECLOSING).  When it returns an error the
 * completion is never called.  The blocking calls (zkc_get() and friends)
 * are thin wrappers that submit and wait.
 *
 * Threads: a zkc_conn may be used from any number of threads at once.
 * Completions run on a thread owned by the connection (its completion
 * thread), never inside zkc_submit() on the caller's thread, and, for one
 * connection, in the order the operations were submitted.  A completion
 * must not make blocking calls on the connection that runs it (it would
 * wait for itself); it may submit more operations and may close the
 * connection.
 *
 * Node data is bytes: every call takes and returns a pointer and a
 * length.  Returned data carries an extra NUL byte after its length, for
 * convenience only.
 *
 * Ownership: results returned through ret_ pointers belong to the caller
 * and are freed with zkc_free(), zkc_strings_free(), zkc_acl_list_free()
 * or zkc_watch_free().  Every free function accepts NULL.
 */
#ifndef ZKC_CONN_H
#define ZKC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "watch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Create flags (the same values as ZooKeeper's). */
#define ZKC_EPHEMERAL 1u
#define ZKC_SEQUENCE 2u
/* Request flag of get, children and exists: set a watch. */
#define ZKC_WATCH 0x100u
/* Request flag of children: no stat wanted, so the result's stat may be
 * NULL (on ZooKeeper: getChildren rather than getChildren2, an answer
 * without the stat's 80 bytes). */
#define ZKC_NOSTAT 0x200u

/* Permissions (the same values as ZooKeeper's). */
#define ZKC_PERM_READ 1u
#define ZKC_PERM_WRITE 2u
#define ZKC_PERM_CREATE 4u
#define ZKC_PERM_DELETE 8u
#define ZKC_PERM_ADMIN 16u
#define ZKC_PERM_ALL 31u
/* Default permissions of a node that may have children. */
#define ZKC_PERM_DIRECTORY                                                     \
    (ZKC_PERM_ADMIN | ZKC_PERM_CREATE | ZKC_PERM_DELETE | ZKC_PERM_READ | ZKC_PERM_WRITE)
/* A node that emulates a file: no CREATE, so no children. */
#define ZKC_PERM_FILE (ZKC_PERM_ADMIN | ZKC_PERM_READ | ZKC_PERM_WRITE)

/* Largest node data ZooKeeper accepts by default (jute.maxbuffer). */
#define ZKC_MAX_DATA (1024 * 1024)

typedef struct zkc_conn zkc_conn;

/* The eleven fields of a ZooKeeper stat.  Times are ms since the epoch. */
typedef struct zkc_stat {
    int64_t czxid;
    int64_t mzxid;
    int64_t ctime;
    int64_t mtime;
    int32_t version;
    int32_t cversion;
    int32_t aversion;
    int64_t ephemeral_owner; /* session id, 0 if not ephemeral */
    int32_t data_length;
    int32_t num_children;
    int64_t pzxid;
} zkc_stat;

/* A list of strings (child names, paths).  Free with zkc_strings_free. */
typedef struct zkc_strings {
    size_t count;
    char **v;
} zkc_strings;

typedef struct zkc_acl {
    uint32_t perms;
    char *scheme; /* "world", "digest", "auth", "ip", ... */
    char *id;     /* "anyone", "user:base64(sha1)", ... */
} zkc_acl;

/* A list of ACL entries.  Free with zkc_acl_list_free. */
typedef struct zkc_acl_list {
    size_t count;
    zkc_acl *v;
} zkc_acl_list;

/* The operations of the interface. */
typedef enum zkc_op {
    ZKC_OP_GET = 1,
    ZKC_OP_CHILDREN = 2,
    ZKC_OP_EXISTS = 3,
    ZKC_OP_CREATE = 4,
    ZKC_OP_SET = 5,
    ZKC_OP_DELETE = 6,
    ZKC_OP_GET_ACL = 7,
    ZKC_OP_SET_ACL = 8,
    /* Only inside a multi: check a node's version. */
    ZKC_OP_CHECK = 9,
    /* Only in results: the completion of a multi. */
    ZKC_OP_MULTI = 10
} zkc_op;

/* One request.  Borrowed by zkc_submit() for the duration of the call at
 * most: the connection is done with it before done can run, so done may
 * free it (and what it points to), even before zkc_submit() returns. */
typedef struct zkc_request {
    zkc_op op;
    const char *path;
    const void *data;  /* create, set; may be NULL when data_len is 0 */
    size_t data_len;
    unsigned flags;    /* create: ZKC_EPHEMERAL|ZKC_SEQUENCE; reads: ZKC_WATCH;
                        * children: ZKC_NOSTAT */
    int32_t version;   /* set, delete, set_acl, check: -1 means any */
    const zkc_acl_list *acl; /* create, set_acl; NULL means world:anyone ALL */
} zkc_request;

/*
 * The result of one operation of a multi (see zkc_amulti).  Borrowed like
 * the zkc_result that holds it.
 */
typedef struct zkc_op_result {
    int rc;                   /* ZKC_OK, or see zkc_amulti */
    zkc_op op;                /* the operation's op */
    const char *created_path; /* create, when the multi succeeded */
    const zkc_stat *stat;     /* set, when the multi succeeded */
} zkc_op_result;

/*
 * The result handed to a completion.  All pointers are borrowed and valid
 * during the completion only, except watch, which the completion owns
 * (and must zkc_watch_free() once done with it).
 */
typedef struct zkc_result {
    int rc;                       /* ZKC_OK or an error code */
    zkc_op op;
    const char *path;             /* the request's path */
    const char *errmsg;           /* extra detail, or NULL */
    const char *data;             /* get */
    size_t data_len;
    const zkc_stat *stat;         /* get, children (may be NULL with ZKC_NOSTAT), exists
                                   * (NULL: missing), set, get_acl */
    const zkc_strings *children;  /* children, unsorted as the server gives them */
    const zkc_acl_list *acl;      /* get_acl */
    const char *created_path;     /* create */
    zkc_watch *watch;             /* set when ZKC_WATCH was asked and a watch was set */
    size_t nops;                  /* multi: count of ops (0 when ops is NULL) */
    const zkc_op_result *ops;     /* multi: one per operation, or NULL (see zkc_amulti) */
} zkc_result;

typedef void (*zkc_done_fn)(const zkc_result *res, void *userdata);

/*
 * zkc_submit: submit one operation.  Returns ZKC_OK (then done runs
 * exactly once, later, on the completion thread), or an error and done
 * never runs: ZKC_EBADARGUMENTS (NULL argument, bad op), ZKC_EBADPATH
 * (not an absolute ZooKeeper path), ZKC_ECLOSED (closed), ZKC_ENOMEM.
 */
int zkc_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *userdata);

/* Convenience forms of zkc_submit(). */
int zkc_aget(zkc_conn *c, const char *path, unsigned flags, zkc_done_fn done, void *userdata);
int zkc_achildren(zkc_conn *c, const char *path, unsigned flags, zkc_done_fn done,
                  void *userdata);
int zkc_aexists(zkc_conn *c, const char *path, unsigned flags, zkc_done_fn done,
                void *userdata);
int zkc_acreate(zkc_conn *c, const char *path, const void *data, size_t len, unsigned flags,
                const zkc_acl_list *acl, zkc_done_fn done, void *userdata);
int zkc_aset(zkc_conn *c, const char *path, const void *data, size_t len, int32_t version,
             zkc_done_fn done, void *userdata);
int zkc_adelete(zkc_conn *c, const char *path, int32_t version, zkc_done_fn done,
                void *userdata);

/*
 * Multi: ZooKeeper's atomic transaction.  The nops operations of ops
 * (each a zkc_request with op ZKC_OP_CREATE, ZKC_OP_SET, ZKC_OP_DELETE or
 * ZKC_OP_CHECK, fields as for the single operations; flags of a create:
 * ZKC_EPHEMERAL, ZKC_SEQUENCE) are applied in order, as one transaction
 * with one zxid: all of them or none.  Each sees the effects of the ones
 * before it (delete a child, then its parent; create a parent, then its
 * children), watches fire only when it commits, and sequential names
 * count the creates before them in the same multi.
 *
 * zkc_amulti: submit.  ops and everything it points to are borrowed for
 * the duration of the call at most, as zkc_submit()'s request: done may
 * free them, even before zkc_amulti() returns.  Returns ZKC_OK (then done runs exactly
 * once, later, on the completion thread, in order with the connection's
 * other operations), or an error and done never runs, with zkc_errmsg()
 * naming the operation at fault:
 *   ZKC_EBADARGUMENTS  NULL c or done, ops NULL with nops > 0, more than
 *                      ZKC_MULTI_MAX_OPS operations, an op that is not
 *                      create/set/delete/check, data_len > 0 with NULL
 *                      data or above ZKC_MAX_DATA, a malformed ACL list,
 *                      or the whole request above ZKC_MULTI_MAX_BYTES
 *                      (zkc_multi_size) once encoded;
 *   ZKC_EBADPATH       an operation's path is not a valid absolute path;
 *   ZKC_ENOTSUPPORTED  the connection does not implement multi (zkocc):
 *                      do the operations one by one instead;
 *   ZKC_ECLOSED, ZKC_ENOMEM;
 * and what an implementation adds (the cell router refuses a multi that
 * spans two cells: meta.h).
 * An empty multi (nops 0) is valid and succeeds.
 *
 * The completion's result: op ZKC_OP_MULTI, path the first operation's
 * (or "/"), rc ZKC_OK when the multi committed, else an error.  When the
 * server answered (rc ZKC_OK, or the multi was refused by an operation),
 * ops holds nops results in request order: on success each ZKC_OK, with
 * created_path (the name given, sequence number included) for creates
 * and the node's stat just after the set for sets; on failure, as
 * ZooKeeper 3.8 reports it, the operations before the first failing one
 * ZKC_OK, that one its code (which is also rc), the ones after it
 * ZKC_ERUNTIMEINCONSISTENCY, and nothing is applied.  When no answer
 * came (ZKC_ECONNECTIONLOSS: it may or may not have been applied;
 * ZKC_ESESSIONEXPIRED, ZKC_ECLOSING, ...) ops is NULL and nops 0.
 */
#define ZKC_MULTI_MAX_OPS   100000
#define ZKC_MULTI_MAX_BYTES (1024 * 1024 - 1024)
int zkc_amulti(zkc_conn *c, const zkc_request *ops, size_t nops, zkc_done_fn done,
               void *userdata);

/*
 * zkc_multi_size: the size in bytes of the request that carries ops on
 * the wire (an upper bound: "auth" ACLs counted as given), for batching
 * under ZKC_MULTI_MAX_BYTES.  Unchecked: ops must be valid.  A size
 * that does not fit in size_t is SIZE_MAX (never a wrapped small one).
 */
size_t zkc_multi_size(const zkc_request *ops, size_t nops);

/* The results of a blocking multi: one block, freed with zkc_free(). */
typedef struct zkc_multi_results {
    size_t count;
    zkc_op_result *v; /* created_path and stat point into the same block */
} zkc_multi_results;

/*
 * zkc_multi: the blocking form.  Returns ZKC_OK, an error of zkc_amulti,
 * or the multi's error (the first failing operation's code, or a
 * connection error), with zkc_errmsg() naming the failing operation and
 * its path.  *ret_results (may be NULL) is set whenever the server
 * answered, also on failure (per-operation codes), else to NULL; it is
 * the caller's, freed with zkc_free().
 */
int zkc_multi(zkc_conn *c, const zkc_request *ops, size_t nops,
              zkc_multi_results **ret_results);

/*
 * Blocking calls.  Each returns ZKC_OK or an error code (the server's,
 * ZKC_ECLOSED, ZKC_ECLOSING, ZKC_ECONNECTIONLOSS, ...); on error
 * zkc_errmsg() names the operation and the path.  Out-parameters may be
 * NULL when not wanted, and are only written on success.  ret_watch is
 * set only when a watch was set (get and children on an existing node,
 * exists always).
 *
 * Ownership: *ret_data (zkc_free), *ret_children (zkc_strings_free),
 * *ret_acl (zkc_acl_list_free), *ret_path (zkc_free), *ret_watch
 * (zkc_watch_free) belong to the caller.
 */
int zkc_get(zkc_conn *c, const char *path, char **ret_data, size_t *ret_len,
            zkc_stat *ret_stat, zkc_watch **ret_watch);
int zkc_children(zkc_conn *c, const char *path, zkc_strings **ret_children,
                 zkc_stat *ret_stat, zkc_watch **ret_watch);
/* A missing node is not an error: ZKC_OK with *ret_exists false. */
int zkc_exists(zkc_conn *c, const char *path, bool *ret_exists, zkc_stat *ret_stat,
               zkc_watch **ret_watch);
int zkc_create(zkc_conn *c, const char *path, const void *data, size_t len, unsigned flags,
               const zkc_acl_list *acl, char **ret_path);
int zkc_set(zkc_conn *c, const char *path, const void *data, size_t len, int32_t version,
            zkc_stat *ret_stat);
int zkc_delete(zkc_conn *c, const char *path, int32_t version);
int zkc_get_acl(zkc_conn *c, const char *path, zkc_acl_list **ret_acl, zkc_stat *ret_stat);
int zkc_set_acl(zkc_conn *c, const char *path, const zkc_acl_list *acl, int32_t version);

/*
 * zkc_retry_change: read-modify-write of one node (the seed's
 * RetryChange).  fn gets the current data (NULL and stat NULL when the
 * node is missing) and returns ZKC_OK with new data in *ret_new (malloc'd,
 * the library frees it) and *ret_new_len, or an error that ends the loop
 * and is returned.  A missing node is created with flags and acl; an
 * unchanged value is not written; a conflict (node created or changed
 * meanwhile) reads again, at most max_conflicts times (0: the default,
 * 16), then ZKC_ECONFLICT.  cancel (may be NULL) stops it with
 * ZKC_EINTERRUPTED.
 */
typedef int (*zkc_change_fn)(const char *old, size_t old_len, const zkc_stat *old_stat,
                             char **ret_new, size_t *ret_new_len, void *userdata);
int zkc_retry_change(zkc_conn *c, const char *path, unsigned flags, const zkc_acl_list *acl,
                     zkc_change_fn fn, void *userdata, unsigned max_conflicts,
                     zkc_cancel *cancel);

/* Session states, as seen by callers. */
typedef enum zkc_state {
    ZKC_STATE_CONNECTING = 0,  /* not yet connected for the first time */
    ZKC_STATE_CONNECTED = 1,
    ZKC_STATE_SUSPENDED = 2,   /* connection lost; the session may still live */
    ZKC_STATE_RECONNECTED = 3, /* connected again, same session */
    ZKC_STATE_EXPIRED = 4,     /* the session is gone: ephemerals and watches with it */
    ZKC_STATE_CLOSED = 5
} zkc_state;

const char *zkc_state_name(zkc_state s);

/* zkc_conn_state: the current session state. */
zkc_state zkc_conn_state(zkc_conn *c);

/*
 * zkc_conn_state_fd: a descriptor that becomes readable whenever the
 * state changes; read the new state with zkc_conn_state() and drain it
 * with zkc_conn_state_ack().  Owned by the connection.
 */
int zkc_conn_state_fd(zkc_conn *c);
void zkc_conn_state_ack(zkc_conn *c);

/*
 * zkc_conn_set_state_callback: fn runs on the thread that observes each
 * state change, with the new state.  One callback per connection.
 */
typedef void (*zkc_state_fn)(zkc_conn *c, zkc_state state, void *userdata);
void zkc_conn_set_state_callback(zkc_conn *c, zkc_state_fn fn, void *userdata);

/* zkc_conn_session_id: the session id, 0 when there is none. */
int64_t zkc_conn_session_id(zkc_conn *c);

/* Log levels of the log callback. */
typedef enum zkc_log_level {
    ZKC_LOG_ERROR = 0,
    ZKC_LOG_WARN = 1,
    ZKC_LOG_INFO = 2,
    ZKC_LOG_DEBUG = 3
} zkc_log_level;
typedef void (*zkc_log_fn)(zkc_log_level level, const char *msg, void *userdata);

/* zkc_conn_set_log: install a log callback; none by default (silence). */
void zkc_conn_set_log(zkc_conn *c, zkc_log_fn fn, void *userdata);

/* zkc_conn_describe: a short text naming the implementation and target,
 * for example "zk(127.0.0.1:2181)".  Borrowed from the connection. */
const char *zkc_conn_describe(zkc_conn *c);

/*
 * zkc_conn_close: close and free the connection.  Outstanding operations
 * complete (those without an answer with ZKC_ECLOSING), outstanding
 * watches end with ZKC_EVENT_CLOSED, and the handle is gone when this
 * returns.  Safe from any thread, including from a completion of this
 * connection.  NULL is accepted.
 */
void zkc_conn_close(zkc_conn *c);

/*
 * A dial callback: make a connection to the quorum at addrs ("h:p,h:p",
 * as the backend reads it) for cell.  This is how the layers above the
 * implementations get connections without knowing which implementation
 * gives them: the connection cache (conncache.h) dials each cell with
 * one, the global namespace (global.h) each quorum.  cell is the cell
 * being dialled (never "local"), or NULL when the caller names none
 * (zkc_global_dial_with() without a cell).  Returns ZKC_OK with
 * *ret_conn, or an error code, ideally with zkc_impl_set_errmsg() /
 * zkc_errmsg() detail on the calling thread.  It may block (a real dial
 * waits for the session) and is called without any lock of the caller
 * held; the callers say on which threads.  When no dial is given, the
 * library's default is the real ZooKeeper backend (zk.h), or the zkocc
 * client (zkocc.h) for a cache in zkocc mode.
 */
typedef int (*zkc_dial_fn)(const char *cell, const char *addrs, void *userdata,
                           zkc_conn **ret_conn);

/* Ownership helpers. */
void zkc_free(void *p);
void zkc_strings_free(zkc_strings *s);
void zkc_acl_list_free(zkc_acl_list *a);

/*
 * zkc_strings_sort: sort in place, by bytes.
 */
void zkc_strings_sort(zkc_strings *s);

/* zkc_strings_dup: a deep copy (NULL gives an empty list), or NULL when
 * out of memory. */
zkc_strings *zkc_strings_dup(const zkc_strings *s);

/*
 * ACL helpers.  zkc_acl_world(perms) returns a static one-entry list
 * world:anyone with perms (only the values ZKC_PERM_ALL, ZKC_PERM_FILE,
 * ZKC_PERM_READ and any other 0..31 are supported: the lists are static).
 */
const zkc_acl_list *zkc_acl_world(uint32_t perms);

/* zkc_acl_list_dup: a deep copy, or NULL when out of memory. */
zkc_acl_list *zkc_acl_list_dup(const zkc_acl_list *a);

/* zkc_is_directory: true when every entry has perms exactly
 * ZKC_PERM_DIRECTORY; an empty list counts as a directory. */
bool zkc_is_directory(const zkc_acl_list *a);

/* zkc_perms_format: "rwdca" with '-' for missing permissions, in buf[6]. */
void zkc_perms_format(uint32_t perms, char buf[6]);

/* zkc_version: the library version, "MAJOR.MINOR.PATCH". */
const char *zkc_version(void);

#ifdef __cplusplus
}
#endif
#endif
