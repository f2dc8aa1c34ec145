/*
 * queuelock.c: ObtainQueueLock (reference 10.7): wait until an entry the
 * caller made, normally sequential, comes first in its queue folder.
 *
 * Only the entry just before ours is watched, so each departure wakes
 * one waiter.  Unlike the original, entries are ordered by their
 * sequence suffix (foreign children are ignored), the wait ends on a
 * cancel token that cannot be missed, connection loss is retried with
 * jittered backoff until the deadline, and a missing entry or queue is
 * ZKC_ENONODE, not a generic error.  The entry belongs to the caller:
 * nothing here deletes it.
 */
#include <stdlib.h>
#include <string.h>

#include "recipes_impl.h"
#include "zkcell/path.h"
#include "zkcell/recipes.h"

static bool has_seq(const char *name)
{
    return zkc__seq_suffix(name, NULL);
}

int zkc_queue_lock(zkc_conn *c, const char *entry_path, int timeout_ms, zkc_cancel *cancel)
{
    if (c == NULL || entry_path == NULL) {
        zkc_impl_set_errmsg("queue_lock: NULL argument");
        return ZKC_EBADARGUMENTS;
    }
    if (zkc_path_validate(entry_path, false) != ZKC_OK || strcmp(entry_path, "/") == 0) {
        zkc_impl_set_errmsg("queue_lock %s: %s", entry_path, zkc_strerror(ZKC_EBADPATH));
        return ZKC_EBADPATH;
    }
    char *dir = zkc_path_dir(entry_path);
    if (dir == NULL)
        return ZKC_ENOMEM;
    const char *me_name = zkc_path_base(entry_path);
    bool by_seq = zkc__seq_suffix(me_name, NULL);
    int64_t deadline = zkc_impl_deadline(timeout_ms);
    zkc_impl_backoff bo = ZKC_IMPL_BACKOFF_INIT(10, 1000);
    const char *why = NULL;
    int rc;

    for (;;) {
        if (zkc_cancel_is_set(cancel)) {
            rc = ZKC_EINTERRUPTED;
            break;
        }
        zkc_strings *kids = NULL;
        rc = zkc_children(c, dir, &kids, NULL, NULL);
        if (rc != ZKC_OK) {
            if (zkc__rc_retryable(rc) &&
                (rc = zkc_impl_backoff_wait(&bo, deadline, cancel)) == ZKC_OK)
                continue;
            if (rc == ZKC_ENONODE)
                why = "the queue is missing";
            break;
        }
        size_t me = 0, n = 0;
        char *pred = NULL;
        rc = zkc__queue_position(kids, dir, me_name, by_seq ? has_seq : NULL, by_seq, &me, &n,
                                 &pred);
        zkc_strings_free(kids);
        if (rc != ZKC_OK)
            break;
        if (me == n) {
            rc = ZKC_ENONODE;
            why = n == 0 ? "empty queue" : "our entry is not in the queue";
            break;
        }
        if (me == 0) {
            rc = ZKC_OK;
            break;
        }
        if (timeout_ms == 0) {
            free(pred);
            rc = ZKC_ETIMEDOUT;
            break;
        }
        bool exists = false;
        zkc_watch *w = NULL;
        rc = zkc_exists(c, pred, &exists, NULL, &w);
        free(pred);
        if (rc != ZKC_OK) {
            if (zkc__rc_retryable(rc) &&
                (rc = zkc_impl_backoff_wait(&bo, deadline, cancel)) == ZKC_OK)
                continue;
            break;
        }
        zkc_impl_backoff_reset(&bo);
        if (exists) {
            int left = zkc_impl_time_left(deadline);
            rc = left == 0 ? ZKC_ETIMEDOUT : zkc_watch_wait(w, left, cancel);
        }
        zkc_watch_free(w);
        if (rc != ZKC_OK)
            break;
        /* Whatever the event, look at the queue again. */
    }

    if (rc == ZKC_ETIMEDOUT)
        zkc_impl_set_errmsg("queue_lock %s: timed out waiting", entry_path);
    else if (rc == ZKC_EINTERRUPTED)
        zkc_impl_set_errmsg("queue_lock %s: interrupted", entry_path);
    else if (rc != ZKC_OK)
        zkc_impl_set_errmsg("queue_lock %s: %s%s%s in %s", entry_path, zkc_strerror(rc),
                        why != NULL ? ": " : "", why != NULL ? why : "", dir);
    free(dir);
    return rc;
}
