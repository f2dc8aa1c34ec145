/*
 * store.h: zkns records as zkns-pdns reads them: from any zkc_conn (the
 * cell router, or zkc_fake for tests), through a small cache kept fresh by
 * watches, with a bound on how long one read may take.
 *
 * Freshness.  Each cached path holds the record read with a watch (an
 * exists watch for a missing node).  It is served from memory until the
 * watch fires (the node changed, was created or deleted, the session
 * expired, the connection closed); the next question then reads it
 * again.  So a cached answer lags ZooKeeper by at most the watch's
 * delivery delay while the session is up.  While the connection is down
 * (before the session expires) the watch cannot fire and cached records
 * are served as they were: possibly stale, without notice.  When a read
 * fails or takes longer than the timeout, the last record known for the
 * path is served and the answer is flagged stale; with none, the read's
 * error is returned.
 *
 * Threads: one thread (the protocol loop) uses a store; the completions
 * of the reads it submits run on the connection's threads and only touch
 * their own request.
 */
#ifndef ZKNS_PDNS_STORE_H
#define ZKNS_PDNS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zkcell/conn.h"
#include "zkcell/zkns.h"

typedef struct zkns_store zkns_store;

/* Counters, read by the metrics endpoint from another thread. */
typedef struct zkns_store_counts {
    uint64_t hits, misses, stale, reads_failed, evictions;
} zkns_store_counts;

/* A store over c (borrowed, must outlive it); timeout_ms bounds each read;
 * at most max_entries paths are cached (0: no cache at all). */
zkns_store *zkns_store_new(zkc_conn *c, int timeout_ms, size_t max_entries);
/* Whether reads set watches (the default).  Off for a connection without
 * watches (zkocc, which keeps its own cache fresh): every question reads
 * again, and a failed read still falls back to the last known record. */
void zkns_store_set_watches(zkns_store *s, bool on);
void zkns_store_free(zkns_store *s);

/* Flags of a lookup. */
#define ZKNS_FROM_CACHE 1u
#define ZKNS_STALE 2u

/*
 * zkns_store_get: the record at path.  Returns ZKC_OK with *rec (borrowed
 * until the next call on s; NULL when the node is missing or has no
 * data), ZKC_EBADDATA when the node's data is not a record (*rec NULL,
 * err says why), or the read's error (err says which).  *flags gets
 * ZKNS_FROM_CACHE and ZKNS_STALE as they apply.
 */
int zkns_store_get(zkns_store *s, const char *path, const zkc_zkns_record **rec,
                   unsigned *flags, char *err, size_t errsize);

/* zkns_store_list: every node under root (root excluded), as paths
 * relative to it, sorted.  A blocking call (zkc_children_recursive). */
int zkns_store_list(zkns_store *s, const char *root, zkc_strings **ret);

/* zkns_store_flush: forget every cached record. */
void zkns_store_flush(zkns_store *s);

/* The counters so far, and the number of cached paths. */
void zkns_store_counts_get(zkns_store *s, zkns_store_counts *out, size_t *entries);

#endif
