/*
 * test_zk_auth: digest credentials per cell (zk_auth.json) on a server of
 * its own (zkctl, a free port):
 *  - zk reads a node with a digest ACL through its cell with
 *    --auth-config or $ZK_AUTH_CONFIG, and cannot without them; a file
 *    readable by others is refused, naming the file; the password is in
 *    no output;
 *  - elock's COMMAND does not see ZK_AUTH / ZK_AUTH_CONFIG unless
 *    --pass-auth;
 *  - through the cell router and connection cache (dialling with the
 *    cell's credentials as zk does), the node stays readable after the
 *    server restarts under the session: the C client sends the
 *    credentials again on reconnect.
 * $ZK_BIN is the zk under test, $ZKCTL the zkctl.
 */
#include "zk_test_util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>

#define PW       "pw-9f3a1c"
#define CRED     "alice:" PW
/* base64(sha1("alice:pw-9f3a1c")), computed at start. */

static const char *zk_bin, *zkocc_bin;
static char dir[64], srv[64], cfg[128], authf[128], addr[64];

/* Run zk with argv (ZK_AUTH unset; ZK_AUTH_CONFIG env_auth_config, or
 * unset); its stdout and stderr in out; its exit status.  It must never
 * print the password. */
static int run_zk(char *const *argv, const char *env_auth_config, char *out, size_t size)
{
    char set_auth_config[192];
    snprintf(set_auth_config, sizeof set_auth_config, "ZK_AUTH_CONFIG=%s",
             env_auth_config != NULL ? env_auth_config : "");
    const char *env[] = {"ZK_AUTH",
                         env_auth_config != NULL ? set_auth_config : "ZK_AUTH_CONFIG", NULL};
    int rc = zk_test_run(zk_bin, argv, env, 1, out, size);
    if (strstr(out, PW) != NULL)
        fail_msg("zk printed the password: %s", out);
    return rc;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(0, chmod(path, mode));
}

static int setup(void **state)
{
    (void)state;
    if (zk_bin == NULL || zk_test_zkctl_bin == NULL)
        return 0;
    snprintf(srv, sizeof srv, "/tmp/zkc-auth-srv-XXXXXX");
    if (mkdtemp(srv) == NULL)
        return -1;
    zk_test_track(srv);
    int port = zk_test_pick_ports(23700, 1);
    if (port < 0 || zk_test_zkctl(srv, "start --ports %d", port) != 0)
        return -1;
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    /* The secret node, readable by alice only. */
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.auth_scheme = "digest";
    o.auth_cred = CRED;
    zkc_conn *c = NULL;
    if (zkc_zk_dial(addr, &o, &c) != ZKC_OK)
        return -1;
    zkc_acl creator[] = {{ZKC_PERM_ALL, "auth", ""}};
    zkc_acl_list l = {1, creator};
    int rc = zkc_create_recursive(c, "/zk/sec/secret", "s", 1, 0, &l, NULL);
    zkc_conn_close(c);
    if (rc != ZKC_OK)
        return -1;
    snprintf(cfg, sizeof cfg, "%s/zk_client.json", dir);
    snprintf(authf, sizeof authf, "%s/zk_auth.json", dir);
    char text[256];
    snprintf(text, sizeof text, "{\"sec\": \"%s\"}\n", addr);
    write_text(cfg, text, 0644);
    write_text(authf, "{\"sec\": \"" CRED "\"}\n", 0600);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (srv[0] != '\0') {
        zk_test_zkctl(srv, "teardown");
        rmdir(srv);
        zk_test_untrack(srv);
    }
    return 0;
}

#define NEED()                                                                                 \
    do {                                                                                       \
        if (zk_bin == NULL || zk_test_zkctl_bin == NULL)                                       \
            skip();                                                                            \
    } while (0)

static void test_zk_reads_with_cell_credentials(void **state)
{
    (void)state;
    NEED();
    char out[4096];
    char *with_opt[] = {"zk", "--config", cfg, "--auth-config", authf, "cat", "/zk/sec/secret",
                        NULL};
    assert_int_equal(0, run_zk(with_opt, NULL, out, sizeof out));
    assert_string_equal("s", out);
    char *plain[] = {"zk", "--config", cfg, "cat", "/zk/sec/secret", NULL};
    assert_int_equal(0, run_zk(plain, authf, out, sizeof out));
    assert_string_equal("s", out);
    /* Without credentials: not authorized. */
    assert_int_equal(1, run_zk(plain, NULL, out, sizeof out));
    assert_non_null(strstr(out, "not authorized"));
    /* A cell the file does not name gets nothing (the same quorum here). */
    char *other[] = {"zk", "--config", cfg, "--auth-config", authf, "ls", "-l", "/zk/sec", NULL};
    assert_int_equal(0, run_zk(other, NULL, out, sizeof out));
}

static void test_zk_refuses_open_file(void **state)
{
    (void)state;
    NEED();
    char out[4096];
    char loose[160];
    snprintf(loose, sizeof loose, "%s/loose.json", dir);
    write_text(loose, "{\"sec\": \"" CRED "\"}\n", 0644);
    char *argv[] = {"zk", "--config", cfg, "--auth-config", loose, "cat", "/zk/sec/secret", NULL};
    assert_int_equal(1, run_zk(argv, NULL, out, sizeof out));
    assert_non_null(strstr(out, loose));
    assert_non_null(strstr(out, "want 0600 or stricter"));
    /* Not JSON: the position, never the text. */
    write_text(loose, "{\"sec\": " PW "}\n", 0600);
    assert_int_equal(1, run_zk(argv, NULL, out, sizeof out));
    assert_non_null(strstr(out, "not valid JSON"));
    unlink(loose);
}

static void test_commands_do_not_inherit(void **state)
{
    (void)state;
    NEED();
    char out[4096];
    char *argv[] = {"zk", "--config", cfg, "--auth-config", authf, "elock", "/zk/sec/lock",
                    "sh", "-c", "echo \"[${ZK_AUTH_CONFIG-unset}]\"", NULL};
    assert_int_equal(0, run_zk(argv, authf, out, sizeof out));
    assert_string_equal("[unset]\n", out);
    char *pass[] = {"zk", "--config", cfg, "--pass-auth", "elock", "/zk/sec/lock",
                    "sh", "-c", "test \"$ZK_AUTH_CONFIG\" = \"$0\" && echo passed", authf, NULL};
    assert_int_equal(0, run_zk(pass, authf, out, sizeof out));
    assert_string_equal("passed\n", out);
}

/* The dial zk uses: the cell's credentials from the file. */
static void test_restart_reapplies(void **state)
{
    (void)state;
    NEED();
    zkc_auth_config *a = NULL;
    assert_int_equal(ZKC_OK, zkc_auth_config_load(authf, &a));
    zkc_cells_opts co = ZKC_CELLS_OPTS_INIT;
    const char *paths[1] = {cfg};
    co.config_paths = paths;
    co.n_config_paths = 1;
    co.ignore_env = true;
    co.base_timeout_ms = 30000; /* outlives the restart */
    co.connect_timeout_ms = 10000;
    zkc_cells *cells = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_new(&co, &cells));
    /* The cache's own dial, with the cell's credentials from the file. */
    zkc_conn_cache_opts cco = ZKC_CONN_CACHE_OPTS_INIT;
    cco.auth = a;
    zkc_conn_cache *cache = NULL;
    assert_int_equal(ZKC_OK, zkc_conn_cache_new(cells, &cco, &cache));
    zkc_meta_opts mo = ZKC_META_OPTS_INIT;
    mo.retry_budget_ms = 60000;
    zkc_conn *router = NULL;
    assert_int_equal(ZKC_OK, zkc_meta_open(cache, &mo, &router));
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(ZKC_OK, zkc_get(router, "/zk/sec/secret", &data, &len, NULL, NULL));
    assert_int_equal(1, len);
    zkc_free(data);
    zkc_conn *cell = NULL;
    assert_int_equal(ZKC_OK, zkc_conn_cache_get(cache, "sec", &cell));
    int64_t sid = zkc_conn_session_id(cell);
    assert_true(sid != 0);

    assert_int_equal(0, zk_test_zkctl(srv, "kill 1"));
    assert_int_equal(0, zk_test_zkctl(srv, "start-one 1"));
    /* The router retries the read until the session is back. */
    data = NULL;
    assert_int_equal(ZKC_OK, zkc_get(router, "/zk/sec/secret", &data, &len, NULL, NULL));
    assert_int_equal(1, len);
    zkc_free(data);
    /* The same session: the credentials were sent again, not dialled anew. */
    assert_int_equal(sid, zkc_conn_session_id(cell));
    zkc_conn_cache_release(cache, cell);
    zkc_conn_close(router);
    zkc_cells_free(cells);
    zkc_auth_config_free(a);
}

/* Start "$ZKOCC_BIN --port P --config cfg [--auth-config F] sec"; its
 * pid, once it accepts connections, or -1. */
static pid_t start_zkocc(const char *auth, int *ret_port)
{
    int port = zk_test_pick_ports(23800, 1);
    if (port < 0)
        return -1;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        unsetenv("ZK_AUTH_CONFIG");
        if (auth != NULL)
            execl(zkocc_bin, "zkocc", "--port", ps, "--config", cfg, "--auth-config", auth,
                  "sec", (char *)NULL);
        else
            execl(zkocc_bin, "zkocc", "--port", ps, "--config", cfg, "sec", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) {
        if (!zk_test_port_free(port)) {
            *ret_port = port;
            return pid;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return -1;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void stop_zkocc(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* zkocc dials each cell with its credentials from zk_auth.json. */
static void test_zkocc_reads_with_cell_credentials(void **state)
{
    (void)state;
    NEED();
    if (zkocc_bin == NULL)
        skip();
    char out[4096];
    int port = 0;
    pid_t pid = start_zkocc(authf, &port);
    assert_true(pid > 0);
    char occ[64];
    snprintf(occ, sizeof occ, "127.0.0.1:%d", port);
    char *argv[] = {"zk", "--zkocc", occ, "cat", "/zk/sec/secret", NULL};
    int rc = run_zk(argv, NULL, out, sizeof out);
    stop_zkocc(pid);
    assert_int_equal(0, rc);
    assert_string_equal("s", out);
    /* The same daemon without credentials is refused by the server. */
    pid = start_zkocc(NULL, &port);
    assert_true(pid > 0);
    snprintf(occ, sizeof occ, "127.0.0.1:%d", port);
    rc = run_zk(argv, NULL, out, sizeof out);
    stop_zkocc(pid);
    assert_int_equal(1, rc);
    assert_non_null(strstr(out, "not authorized"));
    /* A file others may read: zkocc refuses to start, naming it. */
    char loose[160];
    snprintf(loose, sizeof loose, "%s/loose-occ.json", dir);
    write_text(loose, "{\"sec\": \"" CRED "\"}\n", 0644);
    pid = start_zkocc(loose, &port);
    assert_int_equal(-1, pid);
    unlink(loose);
}

int main(void)
{
    zk_bin = getenv("ZK_BIN");
    zkocc_bin = getenv("ZKOCC_BIN");
    zk_test_zkctl_init();
    snprintf(dir, sizeof dir, "/tmp/zkc-auth-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zk_reads_with_cell_credentials),
        cmocka_unit_test(test_zk_refuses_open_file),
        cmocka_unit_test(test_commands_do_not_inherit),
        cmocka_unit_test(test_restart_reapplies),
        cmocka_unit_test(test_zkocc_reads_with_cell_credentials),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    unlink(cfg);
    unlink(authf);
    rmdir(dir);
    return rc;
}
