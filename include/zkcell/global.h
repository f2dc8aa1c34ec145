/*
 * zkcell/global.h: one namespace over n independent ZooKeeper quorums
 * (the seed's GlobalConn), and tools to find and repair divergence.
 *
 * ZooKeeper gives no transaction across quorums, so this cannot be
 * atomic.  What it promises instead is that nothing goes silently
 * divergent: every disagreement it sees is reported with
 * ZKC_EINCONSISTENT and a result.errmsg naming each quorum's answer
 * ("quorum 0 zk(a:2181): ok, 3 bytes; quorum 1 zk(b:2181): node does not
 * exist"), and zkc_global_diff() / zkc_global_repair() find and fix what
 * a partial write left behind.  Prefer one global quorum with local
 * observers (the "global" cell of zk_client.json, through the router)
 * where that is possible: Vitess moved to it for these reasons.
 *
 * Reads (get, children, exists, get_acl) go to every quorum in parallel
 * and compare the answers: the data; the child names (as sets); whether
 * the node exists; the ACL (as a set).  When they agree, the result is
 * quorum 0's (its stat included: stats, zxids and versions are per
 * quorum).  When they differ, ZKC_EINCONSISTENT.  When a quorum could not
 * answer (connection loss, expired session, ...), that quorum's error,
 * named: a missing answer is not a disagreement.
 *
 * Writes go to every quorum in parallel.  All succeeded: ZKC_OK (set
 * returns quorum 0's stat).  All failed with the same code: that code,
 * nothing changed.  Anything else (some succeeded, or different errors):
 * ZKC_EINCONSISTENT; the write may be applied on some quorums, and the
 * message says which.
 *
 * Versions.  Each quorum keeps its own versions; they stay equal as long
 * as every write goes through the global connection, and
 * zkc_global_repair() realigns them.  A write with version v >= 0
 * requires every quorum to be at v (each quorum checks its own).  A set
 * or set_acl with version -1 is made safe against concurrent global
 * writers: each quorum's current version is read first and the write
 * sent with it, so two writers cannot land in different orders on
 * different quorums (which would diverge silently); if every quorum
 * refused (someone else wrote first everywhere) it reads and tries
 * again, up to 8 rounds, then ZKC_ECONFLICT.  A delete with version -1 is
 * sent as is.
 *
 * Sequential creates: quorum 0 picks the name (its sequence number); the
 * others then create exactly that name (a plain create), so names always
 * agree.  A quorum where that name already exists makes it
 * ZKC_EINCONSISTENT.
 *
 * Multi (zkc_amulti): sent as one multi to every quorum in parallel and
 * combined like a write.  Committed everywhere: ZKC_OK with quorum 0's
 * per-operation results (its stats; created names agree).  Refused
 * everywhere alike (the same operation with the same code): that code
 * and quorum 0's per-operation results; nothing changed.  Anything else
 * (committed on some quorums only, refused at different operations,
 * lost replies on some): ZKC_EINCONSISTENT, no per-operation results,
 * and an errmsg naming each quorum's outcome ("committed", "refused at
 * operation 1 (/a/b): node does not exist", "connection to the server
 * lost").  Each quorum's multi is atomic; the whole is not.  Sequential
 * creates in a multi work as single ones do: the multi goes to quorum 0
 * first, and when it committed, to the others with each sequential
 * create turned into a plain create of the name quorum 0 gave (two
 * round trips, and a quorum refusing then makes it ZKC_EINCONSISTENT,
 * committed on quorum 0).  Sets and deletes in a multi are sent with the
 * version given: version -1 is not made safe against concurrent global
 * writers as a single set's is, so give versions (or a check) when other
 * writers may race.
 *
 * Watches: a read that asks for a watch sets one on every quorum, and the
 * caller's watch fires with the first quorum's event (a change made
 * through the global connection fires it once; a change made behind its
 * back on any one quorum fires it too).  An expired session on any
 * quorum ends it with ZKC_EVENT_SESSION_EXPIRED, close with
 * ZKC_EVENT_CLOSED.
 *
 * State: connected when every quorum is; suspended when any is
 * suspended; expired, for good, when any quorum's session expired (open a
 * new global connection: the other quorums' ephemerals are still
 * there); session id 0.
 *
 * Threads: as for every zkc_conn (conn.h).  Completions run on the
 * completion thread of the quorum that answered last, in submission
 * order, also when an operation of two steps (a sequential create, a set
 * with version -1) ends on the quorums after later ones.  zkc_global_diff()
 * and zkc_global_repair() are blocking calls: never from a completion.
 */
#ifndef ZKC_GLOBAL_H
#define ZKC_GLOBAL_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "zk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most quorums one global connection or diff handles. */
#define ZKC_GLOBAL_MAX_QUORUMS 64

/*
 * zkc_global_open: a global connection over conns[0..n-1] (1 <= n <=
 * ZKC_GLOBAL_MAX_QUORUMS), which it takes over: closing it closes them,
 * and they are closed when this fails.  Returns ZKC_OK with *ret_conn,
 * ZKC_EBADARGUMENTS or ZKC_ENOMEM.
 */
int zkc_global_open(zkc_conn *const *conns, size_t n, zkc_conn **ret_conn);

/*
 * zkc_global_dial_with: dial the quorums addr_lists[0..n-1] (1 <= n <=
 * ZKC_GLOBAL_MAX_QUORUMS) with dial, each on a thread of its own (in
 * parallel; on the caller's thread when no thread can be started), and
 * open a global connection over them.  dial gets cell (may be NULL),
 * quorum i's address list and dial_ud, and may run on several threads at
 * once.  If any dial fails, the others' connections are closed and the
 * first failed quorum's error returned, with zkc_errmsg() naming it
 * ("quorum 1 (b:2181): ...").  Returns ZKC_OK with *ret_conn, that error,
 * ZKC_EBADARGUMENTS or ZKC_ENOMEM.  Blocks as long as the slowest dial:
 * never from a completion.
 */
int zkc_global_dial_with(const char *cell, const char *const *addr_lists, size_t n,
                         zkc_dial_fn dial, void *dial_ud, zkc_conn **ret_conn);

/*
 * zkc_global_dial: zkc_global_dial_with() over real ZooKeeper sessions:
 * zkc_zk_dial() of each address list with opts (may be NULL).
 */
int zkc_global_dial(const char *const *addr_lists, size_t n, const zkc_zk_opts *opts,
                    zkc_conn **ret_conn);

/*
 * zkc_dial_quorums_with: addrs is one address list ("h:p,h:p": one call
 * of dial) or several separated by ';' ("a:1;b:1,b:2;c:1":
 * zkc_global_dial_with() over them, with dial).  cell and dial_ud are
 * handed to dial.  This is how a zk_client.json cell whose value is a
 * list of address strings is dialled.  Returns as those calls, or
 * ZKC_EBADARGUMENTS (an empty list, more than ZKC_GLOBAL_MAX_QUORUMS)
 * with zkc_errmsg() naming addrs.
 */
int zkc_dial_quorums_with(const char *cell, const char *addrs, zkc_dial_fn dial, void *dial_ud,
                          zkc_conn **ret_conn);

/*
 * zkc_dial_quorums: zkc_dial_quorums_with() over real ZooKeeper
 * sessions: zkc_zk_dial() with opts (may be NULL).  The connection
 * cache's default dial uses it.
 */
int zkc_dial_quorums(const char *addrs, const zkc_zk_opts *opts, zkc_conn **ret_conn);

/* zkc_global_quorum: quorum i's connection (borrowed), or NULL when c is
 * not a global connection or i is out of range. */
zkc_conn *zkc_global_quorum(zkc_conn *c, size_t i);
/* zkc_global_size: the number of quorums (0 when c is not global). */
size_t zkc_global_size(zkc_conn *c);

/* What differs at one path. */
typedef enum zkc_diff_kind {
    ZKC_DIFF_MISSING = 1,   /* present on some quorums only (see present) */
    ZKC_DIFF_DATA = 2,      /* the data differs */
    ZKC_DIFF_ACL = 3,       /* the ACL differs */
    ZKC_DIFF_EPHEMERAL = 4, /* ephemeral on some quorums, persistent on others */
    ZKC_DIFF_VERSION = 5,   /* same data, different data versions or ACL versions */
} zkc_diff_kind;

typedef struct zkc_diff_entry {
    char *path;
    zkc_diff_kind kind;
    uint64_t present; /* bit i: the node exists on quorum i */
    char *detail;     /* each quorum's side, for people */
} zkc_diff_entry;

typedef struct zkc_diff {
    size_t count;
    zkc_diff_entry *v; /* in walk order: parents before children */
} zkc_diff;

/*
 * zkc_global_diff: compare the subtrees at path (the node included) on
 * conns[0..n-1] (2 <= n <= ZKC_GLOBAL_MAX_QUORUMS; "/zookeeper" is
 * skipped).  Each node is read on every quorum at about the same time,
 * but the walk is not a snapshot: writes during it may show up as
 * differences.  Returns ZKC_OK with *ret_diff (empty when they agree;
 * zkc_diff_free), ZKC_EBADARGUMENTS, ZKC_EBADPATH, ZKC_ENOMEM, or a read
 * error other than "no node", with zkc_errmsg() naming the quorum and
 * path.
 */
int zkc_global_diff(zkc_conn *const *conns, size_t n, const char *path, zkc_diff **ret_diff);

/*
 * zkc_global_repair: make the subtrees at path on every quorum equal to
 * quorum source's: create what is missing (parents first, with the
 * source's data and ACL, persistent), delete what the source lacks
 * (children first), set differing data and ACLs, and realign versions
 * by rewriting the same data (or ACL) on the quorums that are behind (the
 * source too, when it is behind: versions only grow).  Every change is
 * checked against the version just read, so a concurrent writer makes
 * the repair stop with ZKC_EBADVERSION or ZKC_ENODEEXISTS rather than be
 * overwritten.  An ephemeral node cannot be made for another session:
 * one that exists on the source only is left as is and reported.
 * Returns ZKC_OK when the subtrees agree afterwards, ZKC_EINCONSISTENT
 * when differences remain that cannot be repaired (zkc_errmsg() names
 * the first), or the error that stopped it.  *ret_changes (may be NULL)
 * counts the writes made.
 */
int zkc_global_repair(zkc_conn *const *conns, size_t n, size_t source, const char *path,
                      size_t *ret_changes);

/* zkc_diff_free: free a diff; NULL is accepted. */
void zkc_diff_free(zkc_diff *d);

/* zkc_diff_kind_name: "missing", "data", "acl", "ephemeral", "version". */
const char *zkc_diff_kind_name(zkc_diff_kind kind);

#ifdef __cplusplus
}
#endif
#endif
