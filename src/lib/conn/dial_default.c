/*
 * dial_default.c: the one place where the layers that take a dial
 * callback (zkc_dial_fn, conn.h) meet the real backends.  The connection
 * cache (and so the router) and the global namespace know only the
 * callback; what they get when their caller names no other is here:
 *
 *   - the cache's default dial: a cell's zk_client.json addresses through
 *     zkc_dial_quorums() with the cells' timeouts and the cell's digest
 *     credentials, or in zkocc mode its ":_zkocc" addresses through
 *     zkc_zkocc_dial() with the base timeout (as the original);
 *   - zkc_global_dial() and zkc_dial_quorums(): their _with forms
 *     (conn_global.c, global_list.c) with zkc_zk_dial() as the dial.
 *
 * Tests hand the same layers a dial over the fake instead.
 */
#include <stddef.h>

#include "dial_default.h"
#include "zkcell/global.h"
#include "zkcell/zk.h"
#include "zkcell/zkocc.h"

/* A zkc_dial_fn over zkc_zk_dial(); userdata is the zkc_zk_opts (may be
 * NULL), and the cell is not looked at. */
static int zk_dial(const char *cell, const char *addrs, void *userdata, zkc_conn **ret_conn)
{
    (void)cell;
    return zkc_zk_dial(addrs, userdata, ret_conn);
}

int zkc_global_dial(const char *const *addr_lists, size_t n, const zkc_zk_opts *opts,
                    zkc_conn **ret_conn)
{
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    if (opts != NULL)
        o = *opts;
    return zkc_global_dial_with(NULL, addr_lists, n, zk_dial, &o, ret_conn);
}

int zkc_dial_quorums(const char *addrs, const zkc_zk_opts *opts, zkc_conn **ret_conn)
{
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    if (opts != NULL)
        o = *opts;
    return zkc_dial_quorums_with(NULL, addrs, zk_dial, &o, ret_conn);
}

int zkc__dial_default(const char *cell, const char *addrs, void *userdata, zkc_conn **ret_conn)
{
    const zkc__dial_defaults *d = userdata;
    if (d->zkocc) {
        /* The ":_zkocc" addresses are zkocc daemons (DialZkocc with the
         * base timeout, as the original). */
        zkc_zkocc_opts zo = ZKC_ZKOCC_OPTS_INIT;
        zo.connect_timeout_ms = zkc_cells_base_timeout_ms(d->cells);
        return zkc_zkocc_dial(addrs, &zo, ret_conn);
    }
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.base_timeout_ms = zkc_cells_base_timeout_ms(d->cells);
    o.connect_timeout_ms = zkc_cells_connect_timeout_ms(d->cells);
    /* The cell's digest credentials; the C client sends them again after
     * every reconnect. */
    const char *cred = zkc_auth_config_cred(d->auth, cell);
    if (cred != NULL) {
        o.auth_scheme = "digest";
        o.auth_cred = cred;
    }
    /* A cell given as a list of quorums: one global namespace. */
    return zkc_dial_quorums_with(cell, addrs, zk_dial, &o, ret_conn);
}
