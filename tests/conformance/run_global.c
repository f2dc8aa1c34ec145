/*
 * The conformance suite against the global namespace (conn_global.c)
 * over three fake quorums: each session of the suite is a global
 * connection over one fresh fake session per quorum, dialled through
 * the dial callback the real quorums are dialled through too
 * (zkc_global_dial_with).  An expiry expires the session on every
 * quorum, as a partition of the client from all of them would.
 */
#include <stdlib.h>

#include "conformance.h"

#define NQ 3

/* The dial callback the global namespace takes, over the fake: "q<i>"
 * is a new session on tree i. */
static int fake_dial(const char *cell, const char *addrs, void *ud, zkc_conn **ret)
{
    (void)cell;
    zkc_fake_tree **trees = ud;
    if (addrs[0] != 'q' || addrs[1] < '0' || addrs[1] >= '0' + NQ || addrs[2] != '\0')
        return ZKC_ECONNECT;
    return zkc_fake_open(trees[addrs[1] - '0'], ret);
}

static int global_conn_open(void *ud, zkc_conn **ret)
{
    static const char *const lists[NQ] = {"q0", "q1", "q2"};
    return zkc_global_dial_with(NULL, lists, NQ, fake_dial, ud, ret);
}

/* Inject fault into every quorum of the global connection c. */
static int inject_all(zkc_conn *c, zkc_fake_fault fault, unsigned n)
{
    for (size_t i = 0; i < zkc_global_size(c); i++) {
        int rc = zkc_fake_inject(zkc_global_quorum(c, i), fault, n);
        if (rc != ZKC_OK)
            return rc;
    }
    return ZKC_OK;
}

static int global_expire(void *ud, zkc_conn *c)
{
    (void)ud;
    return inject_all(c, ZKC_FAKE_EXPIRE, 0);
}

/* A reply lost on every quorum: the write applied everywhere, and every
 * quorum says the outcome is unknown. */
static int global_lose_reply(void *ud, zkc_conn *c)
{
    (void)ud;
    return inject_all(c, ZKC_FAKE_LOSS_AFTER, 1);
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
                                 .lose_reply = global_lose_reply,
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
