/*
 * retry_change.c: RetryChange (the seed's Conn.RetryChange), a
 * read-modify-write of one node written once, on top of the blocking
 * calls, for every implementation of the connection interface.
 *
 * It never repeats a write whose outcome is unknown: a create or set
 * that ends with ZKC_ECONNECTIONLOSS is returned as is, so one call
 * applies its change at most once.  Only a conflict the server proved
 * (ZKC_ENODEEXISTS for the create, ZKC_EBADVERSION or ZKC_ENONODE for
 * the versioned set) reads again.  That is why the
 * router reports a create whose reply was lost as ZKC_ECONNECTIONLOSS,
 * never as ZKC_ENODEEXISTS (meta.h).
 */
#include <stdlib.h>
#include <string.h>

#include "zkcell/sys/conn_impl.h"
#include "zkcell/zkcell.h"

#define ZKC_DEFAULT_MAX_CONFLICTS 16

int zkc_retry_change(zkc_conn *c, const char *path, unsigned flags, const zkc_acl_list *acl,
                     zkc_change_fn fn, void *userdata, unsigned max_conflicts,
                     zkc_cancel *cancel)
{
    if (c == NULL || path == NULL || fn == NULL)
        return ZKC_EBADARGUMENTS;
    if (max_conflicts == 0)
        max_conflicts = ZKC_DEFAULT_MAX_CONFLICTS;

    for (unsigned conflicts = 0;; conflicts++) {
        if (conflicts > max_conflicts) {
            zkc_impl_set_errmsg("retry_change %s: gave up after %u conflicting updates", path,
                                max_conflicts);
            return ZKC_ECONFLICT;
        }
        if (zkc_cancel_is_set(cancel)) {
            zkc_impl_set_errmsg("retry_change %s: interrupted", path);
            return ZKC_EINTERRUPTED;
        }
        if (conflicts > 0) {
            /* Back off a little, with jitter, so contenders spread out. */
            int ms = (int)(zkc_impl_random() % (1u << (conflicts < 6 ? conflicts : 6)));
            if (zkc_sleep(ms, cancel) != ZKC_OK) {
                zkc_impl_set_errmsg("retry_change %s: interrupted", path);
                return ZKC_EINTERRUPTED;
            }
        }

        char *old = NULL;
        size_t old_len = 0;
        zkc_stat st;
        int rc = zkc_get(c, path, &old, &old_len, &st, NULL);
        if (rc != ZKC_OK && rc != ZKC_ENONODE)
            return rc;
        bool missing = rc == ZKC_ENONODE;

        char *nv = NULL;
        size_t nv_len = 0;
        rc = fn(missing ? NULL : old, old_len, missing ? NULL : &st, &nv, &nv_len, userdata);
        if (rc != ZKC_OK) {
            free(old);
            free(nv);
            zkc_impl_set_errmsg("retry_change %s: change function failed: %s", path,
                                zkc_strerror(rc));
            return rc;
        }
        if (missing) {
            free(old);
            rc = zkc_create(c, path, nv, nv_len, flags, acl, NULL);
            free(nv);
            if (rc == ZKC_ENODEEXISTS)
                continue;
            return rc;
        }
        bool same = nv_len == old_len && (nv_len == 0 || memcmp(nv, old, nv_len) == 0);
        free(old);
        if (same) {
            free(nv);
            return ZKC_OK;
        }
        rc = zkc_set(c, path, nv, nv_len, st.version, NULL);
        free(nv);
        if (rc == ZKC_EBADVERSION || rc == ZKC_ENONODE)
            continue;
        return rc;
    }
}
