/*
 * zkcell/protected.h: protected creation, the recipes' "_c_<guid>-"
 * scheme as a public call.
 *
 * A sequential or ephemeral create whose reply is lost (connection loss)
 * may or may not have been applied.  Sending it again would make a second
 * sequential node, or an ephemeral node the caller cannot tell from one
 * of another client.  A protected create names the node
 * "<dir>/_c_<guid>-<name>" (plus the sequence suffix), with a guid drawn
 * for this call; after a lost reply it lists dir and returns the node
 * carrying its guid when the first create was applied, and creates again
 * only when it was not.  So the node exists exactly once.
 *
 * Usable on any connection (a server, the fake, the cell router); after
 * the session has expired the ephemeral node is gone and the call fails
 * with ZKC_ESESSIONEXPIRED rather than guess.
 *
 * Threads: as the connection's calls; blocks the calling thread.
 */
#ifndef ZKC_PROTECTED_H
#define ZKC_PROTECTED_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The prefix of a protected node's name, then 32 hex digits and '-'. */
#define ZKC_PROTECTED_PREFIX "_c_"

typedef struct zkc_protected_opts {
    unsigned version;  /* 1 */
    /* How long to keep trying through connection loss, in ms: 0 means
     * 30000, -1 no limit. */
    int timeout_ms;
    /* Stops the waits between attempts (ZKC_EINTERRUPTED); may be NULL. */
    zkc_cancel *cancel;
} zkc_protected_opts;

#define ZKC_PROTECTED_OPTS_INIT {1, 0, NULL}

/*
 * zkc_create_protected: create "<dir of path>/_c_<guid>-<base of path>"
 * with data, flags (ZKC_SEQUENCE and/or ZKC_EPHEMERAL; at least one) and
 * acl (NULL: open to all) on c, trying again through connection loss as
 * described above.  The parent must exist.  opts may be NULL.  Returns
 * ZKC_OK with *ret_path (may be NULL; zkc_free) the node created; or
 * ZKC_EBADARGUMENTS (NULL c or path, neither flag, unknown opts version),
 * ZKC_EBADPATH (path invalid or "/"), the create's error (ZKC_ENONODE for
 * a missing parent, ZKC_ENOAUTH, ...), ZKC_ETIMEDOUT (connection loss for
 * longer than the timeout: the node may exist, carrying the guid, and is
 * left for its session or the caller), ZKC_EINTERRUPTED, ZKC_ENOMEM.
 */
int zkc_create_protected(zkc_conn *c, const char *path, const void *data, size_t len,
                         unsigned flags, const zkc_acl_list *acl,
                         const zkc_protected_opts *opts, char **ret_path);

/*
 * zkc_protected_name: whether name (a node's last component) is a
 * protected one, "_c_" then 32 lowercase hex digits then '-'; when it is,
 * *ret_rest (may be NULL) points at what follows the '-' (the caller's
 * name, with its sequence suffix).
 */
bool zkc_protected_name(const char *name, const char **ret_rest);

#ifdef __cplusplus
}
#endif
#endif
