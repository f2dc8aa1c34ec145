/*
 * zkcell/util.h: tree helpers over any zkc_conn (the seed's zkutil):
 * CreateRecursive, CreateOrUpdate, DeleteRecursive, ChildrenRecursive,
 * ResolveWildcards, and the glob matcher they use.
 *
 * Threads: each call is synchronous and may be made from any thread, but
 * not from a completion of the connection it uses.  Bulk helpers keep a
 * bounded window of operations in flight.
 */
#ifndef ZKC_UTIL_H
#define ZKC_UTIL_H

#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default number of operations in flight for bulk helpers. */
#define ZKC_DEFAULT_WINDOW 512

/*
 * zkc_create_recursive: create path, and any missing ancestors first
 * (think mkdir -p).  Ancestors are created empty, persistent, with acl's
 * entries given ZKC_PERM_DIRECTORY (world:anyone directory when acl is
 * NULL); never with the leaf's ephemeral or sequence flags.  Ancestors
 * that appear meanwhile are fine.  Returns the create's code;
 * *ret_path (may be NULL) is the created path (zkc_free).
 */
int zkc_create_recursive(zkc_conn *c, const char *path, const void *data, size_t len,
                         unsigned flags, const zkc_acl_list *acl, char **ret_path);

/*
 * zkc_create_or_update: create path with flags and acl (recursively when
 * recursive is true); if it exists, set its data (version -1).
 * *ret_path is the created path, or NULL when it was an update.
 */
int zkc_create_or_update(zkc_conn *c, const char *path, const void *data, size_t len,
                         unsigned flags, const zkc_acl_list *acl, bool recursive,
                         char **ret_path);

/*
 * zkc_delete_recursive: delete path and everything under it.  version
 * applies to path itself (-1: any).  Creators are locked out first: the
 * node's ACL loses CREATE (checked against its own aversion) before its
 * children go.  Children deleted meanwhile are fine; children created
 * meanwhile give ZKC_ENOTEMPTY.  On a connection that does multi (zk,
 * fake, the cell router, the n-quorum namespace) the subtree goes
 * deepest first in transactions of up to 1000 deletes, a few in flight,
 * each done again node by node if it fails (the tree changed meanwhile);
 * elsewhere (zkocc) one depth at a time, node by node, pipelined.  Returns ZKC_OK, ZKC_ENONODE, ZKC_EBADVERSION,
 * ZKC_ENOTEMPTY or another server error, with zkc_errmsg() naming the path.
 */
int zkc_delete_recursive(zkc_conn *c, const char *path, int32_t version);

/*
 * How far a recursive delete has got, for a progress meter.  listed: the
 * nodes of the subtree found so far, path itself included; it is the
 * total once listing_done is set (a node that grows children meanwhile
 * adds them when they are listed).  deleted: the nodes this call has
 * deleted so far, path itself last (nodes another client deleted first
 * are not counted).  Both only grow.
 */
typedef struct zkc_delete_progress {
    uint64_t listed;
    uint64_t deleted;
    bool listing_done;
} zkc_delete_progress;

/*
 * Called with the counts after every listing and every delete (or batch
 * of deletes) that changed them, on the connection's completion threads
 * or the caller's, one call at a time, while the library holds a lock of
 * the delete's own: it must return quickly and must not call the library
 * on the same connection.  p is valid during the call only.
 */
typedef void (*zkc_delete_progress_fn)(const zkc_delete_progress *p, void *userdata);

/*
 * zkc_delete_recursive_progress: zkc_delete_recursive(), telling fn (may
 * be NULL) how far it has got.  fn is never called after this returns.
 * Same return values.
 */
int zkc_delete_recursive_progress(zkc_conn *c, const char *path, int32_t version,
                                  zkc_delete_progress_fn fn, void *userdata);

/*
 * zkc_children_recursive: every descendant of path, as paths relative to
 * it ("a", "a/b", ...), sorted bytewise.  At most window (0: default)
 * operations are in flight.  Nodes deleted while walking are skipped.
 * *ret_paths is the caller's (zkc_strings_free).
 */
int zkc_children_recursive(zkc_conn *c, const char *path, unsigned window,
                           zkc_strings **ret_paths);

/*
 * zkc_resolve_wildcards: expand glob patterns (Go path.Match semantics,
 * per component: '*', '?', '[...]' with ranges and '^', '\\' escapes)
 * into the existing paths they match, each pattern's results sorted, in
 * pattern order.  A path without wildcards is returned unchecked.  A
 * wildcard in the cell position of a /zk/<cell>/... path expands over
 * known_cells (may be NULL: then over the children of /zk).  Returns
 * ZKC_OK, ZKC_EBADPATTERN, or a server error; *ret_paths is the caller's.
 */
int zkc_resolve_wildcards(zkc_conn *c, const char *const *patterns, size_t n,
                          const zkc_strings *known_cells, zkc_strings **ret_paths);

/*
 * zkc_glob_match: Go path.Match.  *ret_match is set to whether name
 * matches pattern; returns ZKC_OK or ZKC_EBADPATTERN (a malformed pattern,
 * reported even when the name does not match).
 */
int zkc_glob_match(const char *pattern, const char *name, bool *ret_match);

/* zkc_glob_has_magic: true when s has an unescaped '*', '?' or '[', or
 * ends in a lone backslash. */
bool zkc_glob_has_magic(const char *s);

/*
 * Base64 (RFC 4648 alphabet, with padding): the encoding of binary node
 * data in the JSON trees of the fake and in zk's dumps.
 * zkc_base64_encode returns a NUL-terminated string (zkc_free), NULL when
 * out of memory.  zkc_base64_decode is strict: padding optional but exact
 * when present, no whitespace, no stray bits; *ret (zkc_free) gets a NUL
 * after its *ret_len bytes.  Returns ZKC_OK, ZKC_EBADDATA or ZKC_ENOMEM.
 */
char *zkc_base64_encode(const void *data, size_t len);
int zkc_base64_decode(const char *s, size_t n, char **ret, size_t *ret_len);

#ifdef __cplusplus
}
#endif
#endif
