/*
 * The conformance suite against a real ZooKeeper server, whose address
 * list comes from ZKC_TEST_ZK (for example "127.0.0.1:22181", as printed
 * by `zkctl addrs`).  Without it, a standalone server of its own is run
 * with the zkctl named by ZKCTL (port in 22900-22999); with neither, the
 * whole suite is skipped (TAP).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../integration/zk_test_util.h"
#include "conformance.h"

static int zk_open(void *ud, zkc_conn **ret)
{
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 10000;
    return zkc_zk_dial(ud, &o, ret);
}

static int zk_expire(void *ud, zkc_conn *c)
{
    return zk_test_expire(ud, c);
}

int main(void)
{
    const char *servers = getenv("ZKC_TEST_ZK");
    if ((servers == NULL || *servers == '\0') && zk_test_zkctl_init() != NULL)
        servers = zk_test_own_server_start(22900);
    if (servers == NULL || *servers == '\0') {
        printf("1..0 # SKIP neither ZKC_TEST_ZK (a server's address list) nor ZKCTL (the "
               "zkctl binary) is set\n");
        return 0;
    }
    char root[64];
    snprintf(root, sizeof root, "/zkc-conformance-%d", (int)getpid());
    zkc_conformance_backend b = {
        .name = "zk", .open = zk_open, .expire = zk_expire, .ud = (void *)servers, .root = root};
    int failed = zkc_conformance_run(&b);
    /* Leave the server as we found it. */
    zkc_conn *c = NULL;
    if (zk_open((void *)servers, &c) == ZKC_OK) {
        zkc_delete(c, root, -1);
        zkc_conn_close(c);
    }
    return failed == 0 ? 0 : 1;
}
