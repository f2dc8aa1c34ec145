/*
 * The conformance suite against the cell router (conn_meta.c) over fake
 * cells: each session of the suite is a router with its own connection
 * cache, so two sessions are two sessions on every cell.  The suite works
 * under /zk/local/conformance (the local cell is nyc, so this also checks
 * that "local" is rewritten and given back), while the other cells hold
 * their own nodes, which the suite must never see.
 *
 * The cache dials through the same callback as with real servers, over
 * the fake: an address "fake:<tree>" is a new session on that tree, and a
 * cell given as a list of quorums goes through zkc_dial_quorums_with().
 * With the argument "quorums", nyc is such a cell (two quorums, so the
 * router runs over a global namespace); without, every cell is one.
 *
 * Expiry is not run: the router replaces an expired session and retries
 * reads (meta.h), so the expiry test's expectations are not its own;
 * test_meta.c covers that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

#define NTREES 4
/* The trees, by the name their address gives ("fake:nyc2"), and the
 * cell whose nodes each holds. */
static const char *const tree_names[NTREES] = {"nyc", "sfo", "global", "nyc2"};
static const char *const tree_cells[NTREES] = {"nyc", "sfo", "global", "nyc"};

typedef struct world {
    zkc_fake_tree *tree[NTREES];
    zkc_cells *cells;
} world;

/* One quorum: "fake:<tree>". */
static int fake_quorum_dial(const char *cell, const char *addrs, void *ud, zkc_conn **ret)
{
    (void)cell;
    world *w = ud;
    for (int i = 0; i < NTREES; i++)
        if (strncmp(addrs, "fake:", 5) == 0 && strcmp(addrs + 5, tree_names[i]) == 0)
            return zkc_fake_open(w->tree[i], ret);
    return ZKC_ENOCELL;
}

/* The cache's dial: a cell of one quorum or of several. */
static int fake_dial(const char *cell, const char *addrs, void *ud, zkc_conn **ret)
{
    return zkc_dial_quorums_with(cell, addrs, fake_quorum_dial, ud, ret);
}

static int meta_conn_open(void *ud, zkc_conn **ret)
{
    world *w = ud;
    zkc_conn_cache_opts co = ZKC_CONN_CACHE_OPTS_INIT;
    co.dial = fake_dial;
    co.dial_ud = w;
    zkc_conn_cache *cache = NULL;
    int rc = zkc_conn_cache_new(w->cells, &co, &cache);
    if (rc != ZKC_OK)
        return rc;
    return zkc_meta_open(cache, NULL, ret);
}

/* The reply of the next operation on the local cell's session lost (on
 * each of its quorums when it has several). */
static int meta_lose_reply(void *ud, zkc_conn *c)
{
    (void)ud;
    zkc_conn_cache *cache = zkc_meta_cache(c);
    zkc_conn *cell = NULL;
    if (!zkc_conn_cache_try(cache, "nyc", &cell))
        return ZKC_ENOCELL;
    int rc = ZKC_OK;
    size_t nq = zkc_global_size(cell);
    if (nq == 0)
        rc = zkc_fake_inject(cell, ZKC_FAKE_LOSS_AFTER, 1);
    for (size_t i = 0; i < nq && rc == ZKC_OK; i++)
        rc = zkc_fake_inject(zkc_global_quorum(cell, i), ZKC_FAKE_LOSS_AFTER, 1);
    zkc_conn_cache_release(cache, cell);
    return rc;
}

int main(int argc, char **argv)
{
    bool quorums = argc > 1 && strcmp(argv[1], "quorums") == 0;
    world w = {{NULL}, NULL};
    int failed = 1;
    for (int i = 0; i < NTREES; i++) {
        char json[100];
        snprintf(json, sizeof json, "{\"/zk/%s/other\": \"%s\"}", tree_cells[i], tree_cells[i]);
        if ((w.tree[i] = zkc_fake_tree_new()) == NULL ||
            zkc_fake_tree_load_json_string(w.tree[i], json) != ZKC_OK)
            goto out;
    }
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.config_text = quorums ? "{\"nyc\": [\"fake:nyc\", \"fake:nyc2\"], \"sfo\": \"fake:sfo\","
                              " \"global\": \"fake:global\"}"
                            : "{\"nyc\": \"fake:nyc\", \"sfo\": \"fake:sfo\","
                              " \"global\": \"fake:global\"}";
    o.local_cell = "nyc";
    o.ignore_env = true;
    if (zkc_cells_new(&o, &w.cells) != ZKC_OK)
        goto out;
    zkc_conformance_backend b = {.name = quorums ? "meta-quorums" : "meta",
                                 .open = meta_conn_open,
                                 .ud = &w,
                                 .root = "/zk/local/conformance",
                                 .lose_reply = meta_lose_reply,
                                 .routed = true,
                                 .many_sessions = true,
                                 .quorums = quorums};
    failed = zkc_conformance_run(&b);
out:
    zkc_cells_free(w.cells);
    for (int i = 0; i < NTREES; i++)
        zkc_fake_tree_free(w.tree[i]);
    return failed == 0 ? 0 : 1;
}
