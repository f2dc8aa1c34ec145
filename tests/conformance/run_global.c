/*
 * The conformance suite against the global namespace (conn_global.c)
 * over three fake quorums: each session of the suite is a global
 * connection over one fresh fake session per quorum.  An expiry expires
 * the session on every quorum, as a partition of the client from all of
 * them would.
 */
#include <stdlib.h>

#include "conformance.h"

#define NQ 3

static int global_conn_open(void *ud, zkc_conn **ret)
{
    zkc_fake_tree **trees = ud;
    zkc_conn *qs[NQ] = {NULL};
    for (size_t i = 0; i < NQ; i++) {
        int rc = zkc_fake_open(trees[i], &qs[i]);
        if (rc != ZKC_OK) {
            for (size_t j = 0; j < i; j++)
                zkc_conn_close(qs[j]);
            return rc;
        }
    }
    return zkc_global_open(qs, NQ, ret);
}

static int global_expire(void *ud, zkc_conn *c)
{
    (void)ud;
    for (size_t i = 0; i < zkc_global_size(c); i++) {
        int rc = zkc_fake_inject(zkc_global_quorum(c, i), ZKC_FAKE_EXPIRE, 0);
        if (rc != ZKC_OK)
            return rc;
    }
    return ZKC_OK;
}

int main(void)
{
    zkc_fake_tree *trees[NQ] = {NULL};
    int failed = 1;
    for (size_t i = 0; i < NQ; i++)
        if ((trees[i] = zkc_fake_tree_new()) == NULL)
            goto out;
    zkc_conformance_backend b = {.name = "global",
                                 .open = global_conn_open,
                                 .expire = global_expire,
                                 .ud = trees,
                                 .root = "/conformance",
                                 .many_sessions = true,
                                 .quorums = true};
    failed = zkc_conformance_run(&b);
out:
    for (size_t i = 0; i < NQ; i++)
        zkc_fake_tree_free(trees[i]);
    return failed == 0 ? 0 : 1;
}
