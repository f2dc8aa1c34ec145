/*
 * zkcell/meta.h: the cell router (the seed's MetaConn), a zkc_conn over
 * every cell.
 *
 * Routing.  Every operation, the ACL ones included, goes to the
 * connection of its path's cell, from a connection cache.  A path names
 * its cell as /zk/<cell>/...; /zk/local/... is rewritten to the local
 * cell's real name before it is sent, so "local" and that cell share one
 * session.  children("/zk") lists the known cells (zkc_cells_known) with
 * no stat and no watch; any other operation on a path without a valid
 * cell ("/", "/zk", "/zk//x", "/zk/bad-cell", "/other") completes with
 * ZKC_EBADPATH, and a cell without an address with ZKC_ENOCELL, each with
 * result.errmsg naming the path or the cell.
 *
 * What the caller sees is in the caller's terms: result.path is the
 * path as given, result.created_path of a create under /zk/local/...
 * starts with /zk/local/ too (the original returned /zk/<cell>/...), and
 * a watch on a /zk/local/... path reports that path in its event.  So
 * paths the router hands back can be compared with and joined to the
 * caller's own.  To name a node for another process (whose local cell
 * may differ), resolve "local" with zkc_cells_local_cell().
 *
 * Retries.  ZKC_ECONNECTIONLOSS means the request may or may not have
 * been applied.  The router retries, after a jittered delay that grows
 * (backoff_min_ms doubling to backoff_max_ms), at most max_attempts
 * attempts in all and never past retry_budget_ms after the submit or
 * once the cancel token is triggered, only what is safe to repeat:
 *   - get, children, exists, get_acl: always (also after
 *     ZKC_ESESSIONEXPIRED: the cache replaces the expired session).
 *   - set, delete, set_acl with a version >= 0: ZooKeeper's version check
 *     means a repeat can never apply a second time.  If a repeat then
 *     fails with what the first attempt itself would have caused
 *     (ZKC_EBADVERSION; for delete also ZKC_ENONODE), the outcome is
 *     unknown: it completes with ZKC_ECONNECTIONLOSS and an errmsg saying
 *     the earlier attempt may have been applied.  (A node deleted and
 *     re-created at the same version between the attempts would be hit
 *     by the repeat: the unavoidable ABA of version checks.)
 *   - set, delete, set_acl with version -1: not retried (a repeat could
 *     overwrite or delete a newer node): ZKC_ECONNECTIONLOSS.
 *   - create, plain: never blindly repeated.  After a lost reply the
 *     router checks whether the node exists: missing, it creates it again;
 *     present and ephemeral owned by the same session, the create
 *     succeeded; an ephemeral of another session, ZKC_ENODEEXISTS (the
 *     attempt cannot have made it); present otherwise, the outcome is
 *     unknown: ZKC_ECONNECTIONLOSS with an errmsg saying an earlier
 *     attempt of this create may have made it, as a direct connection
 *     reports a lost reply (so zkc_retry_change never applies its change
 *     twice).
 *   - create, sequential: never repeated; ZKC_ECONNECTIONLOSS (a retry
 *     could leave two nodes).  Protected creation (a GUID in the name) is
 *     the recipes' business.
 * A session that expired is never retried for writes: the caller's
 * ephemerals went with it (ZKC_ESESSIONEXPIRED).  Retries run on the
 * router's own threads, never on a completion thread, and re-ask the cache
 * for the cell's connection, so an expired session is replaced.
 *
 * Multi (zkc_amulti).  A transaction is one cell's: every operation must
 * name the same cell once "local" is resolved (/zk/local/x and
 * /zk/<local cell>/y may be mixed), else zkc_amulti returns
 * ZKC_EBADARGUMENTS and zkc_errmsg() names both operations and their
 * cells; an operation on a path without a valid cell makes it return
 * that path's routing error (ZKC_EBADPATH, ...) naming the operation.
 * Nothing is sent then, and done never runs.  The multi goes to its
 * cell's connection with /zk/local rewritten, and the results are in
 * the caller's terms: the created path of a create given under
 * /zk/local/ starts with /zk/local/, result.path is the first
 * operation's path as given ("/" for an empty multi, which succeeds
 * without reaching any cell).  Retries: a multi of checks only is
 * retried as reads are; any other multi is never repeated after a lost
 * reply (it may have been applied, wholly): ZKC_ECONNECTIONLOSS with an
 * errmsg saying so, and no per-operation results.
 *
 * Fresh cells.  A cell's server may have no /zk yet.  A create of
 * exactly /zk/<cell> (or /zk/local) that fails with ZKC_ENONODE, alone
 * or as the operation that refused a multi, makes /zk on that cell's
 * connection (persistent, empty, world:anyone with ZKC_PERM_DIRECTORY;
 * one already there is fine) and is sent again once; if /zk cannot be
 * made, the create fails with that error, named.  So
 * zkc_create_recursive("/zk/<cell>/a/b") works on a fresh server.
 * "/zk" itself stays unroutable.
 *
 * Order.  Completions run on the cells' completion threads (or the
 * router's), in submission order per cell, except that an operation that
 * was retried (or made /zk first) completes after the ones submitted
 * after it.
 *
 * Backends.  The router sees only zkc_conn: each cell's connection is
 * whatever the cache's dial callback made (zkc_conn_cache_opts.dial:
 * real ZooKeeper by default, the fake or anything else when the caller
 * gives its own), so one router may mix backends.
 *
 * Lifetime.  The router owns the cache it is given: closing the router
 * closes and frees the cache (and so every cell's connection, which ends
 * every watch with ZKC_EVENT_CLOSED and completes every operation).  The
 * cache's zkc_cells must outlive the router.  A close may wait for a dial
 * in flight.
 *
 * Threads: as for every zkc_conn (conn.h).  The router's state is
 * ZKC_STATE_CONNECTED from open to close; each cell's state is its own
 * connection's (zkc_conn_cache_get).
 */
#ifndef ZKC_META_H
#define ZKC_META_H

#include "conn.h"
#include "conncache.h"
#include "watch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct zkc_meta_opts {
    unsigned version;      /* 1 */
    unsigned max_attempts; /* attempts per operation, the first included; 0: 5 */
    int backoff_min_ms;    /* delay before the first retry; 0: 100 */
    int backoff_max_ms;    /* largest delay; 0: 3000 */
    int retry_budget_ms;   /* no retry starts later than this after the
                              submit; 0: 30000; < 0: no limit */
    zkc_cancel *cancel;    /* triggered: no more retries (borrowed; may be NULL) */
    unsigned threads;      /* router threads (dials, retries); 0: 4 */
} zkc_meta_opts;

#define ZKC_META_OPTS_INIT {1, 0, 0, 0, 0, NULL, 0}

/*
 * zkc_meta_open: a router over cache, which it takes over (even when
 * this fails).  opts may be NULL.  Returns ZKC_OK with *ret_conn,
 * ZKC_EBADARGUMENTS, ZKC_ENOMEM or ZKC_ESYSTEMERROR (no threads).
 */
int zkc_meta_open(zkc_conn_cache *cache, const zkc_meta_opts *opts, zkc_conn **ret_conn);

/* zkc_meta_cache: the router's cache (borrowed), for status and direct
 * per-cell access; NULL when c is not a router. */
zkc_conn_cache *zkc_meta_cache(zkc_conn *c);

#ifdef __cplusplus
}
#endif
#endif
