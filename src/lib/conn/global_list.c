/*
 * global_list.c: dial an address string that may name several quorums,
 * "H:P,H:P;H:P;...", with a dial callback: one quorum is one call of the
 * dial, more are one global namespace over them (zkc_global_dial_with).
 * This is how a zk_client.json cell whose value is a list of address
 * strings is dialled.  Which backend the dial makes is the caller's
 * (dial_default.c wires the real one).
 */
#include <stdlib.h>
#include <string.h>

#include "zkcell/global.h"
#include "zkcell/sys/conn_impl.h"

int zkc_dial_quorums_with(const char *cell, const char *addrs, zkc_dial_fn dial, void *dial_ud,
                          zkc_conn **ret_conn)
{
    if (addrs == NULL || dial == NULL || ret_conn == NULL)
        return ZKC_EBADARGUMENTS;
    if (strchr(addrs, ';') == NULL)
        return dial(cell, addrs, dial_ud, ret_conn);
    char *copy = strdup(addrs);
    if (copy == NULL)
        return ZKC_ENOMEM;
    const char *lists[ZKC_GLOBAL_MAX_QUORUMS];
    size_t n = 0;
    int rc = ZKC_OK;
    char *p = copy;
    for (;;) {
        char *semi = strchr(p, ';');
        if (semi != NULL)
            *semi = '\0';
        if (*p == '\0' || n == ZKC_GLOBAL_MAX_QUORUMS) {
            zkc_impl_set_errmsg("quorums %s: want 1 to %d non-empty address lists separated by ';'",
                            addrs, ZKC_GLOBAL_MAX_QUORUMS);
            rc = ZKC_EBADARGUMENTS;
            break;
        }
        lists[n++] = p;
        if (semi == NULL)
            break;
        p = semi + 1;
    }
    if (rc == ZKC_OK)
        rc = zkc_global_dial_with(cell, lists, n, dial, dial_ud, ret_conn);
    free(copy);
    return rc;
}
