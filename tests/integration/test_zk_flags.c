/*
 * test_zk_flags: the round trip of the -zk.* flags through a real
 * program.  A parent's cell settings become argv words
 * (zkc_cells_subprocess_flags); `zk` given only those words and the same
 * zk_client.json routes /zk/local and /zk/global as the parent's
 * configuration does, on the shared server ($ZKC_TEST_ZK, skipped
 * without it); without them it cannot.  $ZK_BIN is the zk under test.
 */
#include "zk_test_util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zkcell/zkcell.h>

static const char *servers, *zk_bin;
static char dir[64], cfg[128], prefix[64];

/* Run zk with argv (ZK_CLIENT_CONFIG cfg, ZK_CLIENT_LOCAL_CELL unset); its
 * stdout (up to size) in out; returns the exit status. */
static int run_zk(char *const *argv, char *out, size_t size)
{
    char client_config[160];
    snprintf(client_config, sizeof client_config, "ZK_CLIENT_CONFIG=%s", cfg);
    const char *env[] = {client_config, "ZK_CLIENT_LOCAL_CELL", NULL};
    return zk_test_run(zk_bin, argv, env, 0, out, size);
}

static void test_round_trip(void **state)
{
    (void)state;
    if (servers == NULL || zk_bin == NULL)
        skip();
    /* On the server: a node of cell "rtcell<pid>" and one under /zk/global. */
    zkc_conn *c = NULL;
    assert_int_equal(ZKC_OK, zkc_zk_dial(servers, NULL, &c));
    char local_path[128], global_path[128];
    snprintf(local_path, sizeof local_path, "/zk/%s/flags", prefix);
    snprintf(global_path, sizeof global_path, "/zk/global/flags-%s", prefix);
    assert_int_equal(ZKC_OK, zkc_create_or_update(c, local_path, "local-data", 10, 0, NULL,
                                                   true, NULL));
    assert_int_equal(ZKC_OK, zkc_create_or_update(c, global_path, "global-data", 11, 0, NULL,
                                                   true, NULL));

    /* The file names the cell but no global quorum: only the flags do. */
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"%s\": \"%s\"}\n", prefix, servers);
    fclose(f);

    zkc_cells_opts po = ZKC_CELLS_OPTS_INIT;
    const char *paths[1] = {cfg};
    po.config_paths = paths;
    po.n_config_paths = 1;
    po.local_cell = prefix;
    po.global_addrs = servers;
    po.base_timeout_ms = 7000;
    po.connect_timeout_ms = 20000;
    zkc_cells *parent = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_new(&po, &parent));
    char *addrs = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_addrs(parent, "local", false, &addrs));
    assert_string_equal(servers, addrs);
    zkc_free(addrs);
    zkc_strings *flags = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_subprocess_flags(parent, &flags));
    assert_int_equal(8, flags->count);

    char *argv[20];
    int n = 0;
    argv[n++] = "zk";
    for (size_t i = 0; i < flags->count; i++)
        argv[n++] = flags->v[i];
    int cmd = n;
    char out[4096];
    argv[n++] = "cat";
    argv[n++] = "/zk/local/flags";
    argv[n++] = global_path;
    argv[n] = NULL;
    assert_int_equal(0, run_zk(argv, out, sizeof out));
    assert_string_equal("local-dataglobal-data", out);

    /* Without the flags neither path has a quorum (unless this host's
     * name happens to guess the cell, which "rt<pid>" rules out). */
    char *bare[] = {"zk", "cat", global_path, NULL};
    assert_int_equal(1, run_zk(bare, out, sizeof out));
    char *bare_local[] = {"zk", "--connect-timeout", "2s", "cat", "/zk/local/flags", NULL};
    assert_int_not_equal(0, run_zk(bare_local, out, sizeof out));
    assert_null(strstr(out, "local-data"));

    /* The same words in the GNU spelling work too. */
    char dd[8][128];
    for (int i = 1; i < cmd; i += 2) {
        snprintf(dd[i / 2], sizeof dd[0], "-%s=%s", argv[i], argv[i + 1]);
    }
    char *gnu[20];
    int m = 0;
    gnu[m++] = "zk";
    for (int i = 0; i < (cmd - 1) / 2; i++)
        gnu[m++] = dd[i];
    gnu[m++] = "ls";
    gnu[m++] = "/zk/local";
    gnu[m] = NULL;
    assert_int_equal(0, run_zk(gnu, out, sizeof out));
    assert_string_equal("flags\n", out);

    assert_int_equal(ZKC_OK, zkc_delete_recursive(c, local_path, -1));
    assert_int_equal(ZKC_OK, zkc_delete_recursive(c, global_path, -1));
    zkc_strings_free(flags);
    zkc_cells_free(parent);
    zkc_conn_close(c);
}

int main(void)
{
    servers = getenv("ZKC_TEST_ZK");
    if (servers != NULL && *servers == '\0')
        servers = NULL;
    zk_bin = getenv("ZK_BIN");
    snprintf(dir, sizeof dir, "/tmp/zkc-flags-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(cfg, sizeof cfg, "%s/zk_client.json", dir);
    snprintf(prefix, sizeof prefix, "rt%ld", (long)getpid());
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_trip)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(cfg);
    rmdir(dir);
    return rc;
}
