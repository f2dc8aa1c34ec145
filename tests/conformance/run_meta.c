/*
 * The conformance suite against the cell router (conn_meta.c) over three
 * fake cells: each session of the suite is a router with its own
 * connection cache, so two sessions are two sessions on every cell.  The
 * suite works under /zk/local/conformance (the local cell is nyc, so this
 * also checks that "local" is rewritten and given back), while the other
 * cells hold their own nodes, which the suite must never see.
 *
 * Expiry is not run: the router replaces an expired session and retries
 * reads (meta.h), so the expiry test's expectations are not its own;
 * test_meta.c covers that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

#define NCELLS 3
static const char *const cell_names[NCELLS] = {"nyc", "sfo", "global"};

typedef struct world {
    zkc_fake_tree *tree[NCELLS];
    zkc_cells *cells;
} world;

static int fake_dial(const char *cell, const char *addrs, void *ud, zkc_conn **ret)
{
    (void)addrs;
    world *w = ud;
    for (int i = 0; i < NCELLS; i++)
        if (strcmp(cell, cell_names[i]) == 0)
            return zkc_fake_open(w->tree[i], ret);
    return ZKC_ENOCELL;
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

int main(void)
{
    world w = {{NULL}, NULL};
    int failed = 1;
    for (int i = 0; i < NCELLS; i++) {
        char json[100];
        snprintf(json, sizeof json, "{\"/zk/%s/other\": \"%s\"}", cell_names[i], cell_names[i]);
        if ((w.tree[i] = zkc_fake_tree_new()) == NULL ||
            zkc_fake_tree_load_json_string(w.tree[i], json) != ZKC_OK)
            goto out;
    }
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.config_text =
        "{\"nyc\": \"fake:nyc\", \"sfo\": \"fake:sfo\", \"global\": \"fake:global\"}";
    o.local_cell = "nyc";
    o.ignore_env = true;
    if (zkc_cells_new(&o, &w.cells) != ZKC_OK)
        goto out;
    zkc_conformance_backend b = {.name = "meta",
                                 .open = meta_conn_open,
                                 .ud = &w,
                                 .root = "/zk/local/conformance",
                                 .routed = true,
                                 .many_sessions = true};
    failed = zkc_conformance_run(&b);
out:
    zkc_cells_free(w.cells);
    for (int i = 0; i < NCELLS; i++)
        zkc_fake_tree_free(w.tree[i]);
    return failed == 0 ? 0 : 1;
}
