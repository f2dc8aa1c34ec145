/*
 * recipes_impl.h: helpers shared by the recipes (lock.c, election.c,
 * queuelock.c, pidnode.c), defined in recipes_common.c.  Not installed.
 */
#ifndef ZKC_RECIPES_IMPL_H
#define ZKC_RECIPES_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "zkcell/recipes.h"
#include "zkcell/sys/conn_impl.h"

/* Errors after which the same request may be sent again: the connection
 * dropped, the session may live on. */
bool zkc__rc_retryable(int rc);

/* Errors after which the connection cannot serve us any more. */
bool zkc__rc_fatal(int rc);

/* True when name ends in the 10 digits ZooKeeper appends to a sequential
 * node; *ret_seq (may be NULL) gets the number. */
bool zkc__seq_suffix(const char *name, int64_t *ret_seq);

/* A child of a folder, ordered by sequence number (then bytewise). */
typedef struct zkc__seq_entry {
    const char *name; /* borrowed from the children list */
    int64_t seq;
} zkc__seq_entry;

/*
 * Select the children that keep(name) accepts (all when keep is NULL)
 * and sort them by sequence (by_seq) or bytewise.  *ret is malloc'd
 * (free()); returns ZKC_OK or ZKC_ENOMEM.
 */
int zkc__seq_order(const zkc_strings *kids, bool (*keep)(const char *name), bool by_seq,
                   zkc__seq_entry **ret, size_t *ret_n);

/*
 * Where me_name stands in the queue of dir, whose children are kids: the
 * children keep() accepts, ordered as zkc__seq_order does.  *ret_pos is
 * its index (*ret_n when it is not among them), *ret_n the length of the
 * queue, and *ret_pred, when 0 < *ret_pos < *ret_n, the malloc'd path of
 * the entry just before (NULL otherwise).  Returns ZKC_OK or ZKC_ENOMEM
 * (then *ret_pred is NULL).
 */
int zkc__queue_position(const zkc_strings *kids, const char *dir, const char *me_name,
                        bool (*keep)(const char *name), bool by_seq, size_t *ret_pos,
                        size_t *ret_n, char **ret_pred);

/*
 * The contents of lock and candidate nodes: a JSON object with
 * "hostname" and "pid", then key/value when key is not NULL, then the
 * members of extra_json (a JSON object text, may be NULL) that do not
 * clash.  Returns ZKC_OK with *ret (malloc'd, NUL-terminated) and
 * *ret_len, ZKC_EBADDATA (extra_json is not an object) or ZKC_ENOMEM.
 */
int zkc__contents_json(const char *extra_json, const char *key, const char *value, char **ret,
                       size_t *ret_len);

/* 32 random hex digits and a NUL. */
void zkc__guid(char out[33]);

#endif
