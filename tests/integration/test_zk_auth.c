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

#include <sys/stat.h>

#define PW       "pw-9f3a1c"
#define CRED     "alice:" PW
/* base64(sha1("alice:pw-9f3a1c")), computed at start. */

static const char *zk_bin;
static char dir[64], srv[64], cfg[128], authf[128], addr[64];

static int run_zk(char *const *argv, const char *env_auth_config, char *out, size_t size)
{
    int fds[2];
    assert_int_equal(0, pipe(fds));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        unsetenv("ZK_AUTH");
        if (env_auth_config != NULL)
            setenv("ZK_AUTH_CONFIG", env_auth_config, 1);
        else
            unsetenv("ZK_AUTH_CONFIG");
        execv(zk_bin, argv);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < size && (r = read(fds[0], out + n, size - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int st;
    assert_int_equal(pid, waitpid(pid, &st, 0));
    if (strstr(out, PW) != NULL)
        fail_msg("zk printed the password: %s", out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
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
static int dial_cell(const char *cell, const char *addrs, void *ud, zkc_conn **ret)
{
    const zkc_auth_config *a = ud;
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.base_timeout_ms = 30000; /* outlives the restart */
    o.connect_timeout_ms = 10000;
    const char *cred = zkc_auth_config_cred(a, cell);
    if (cred != NULL) {
        o.auth_scheme = "digest";
        o.auth_cred = cred;
    }
    return zkc_zk_dial(addrs, &o, ret);
}

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
    zkc_cells *cells = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_new(&co, &cells));
    zkc_conn_cache_opts cco = ZKC_CONN_CACHE_OPTS_INIT;
    cco.dial = dial_cell;
    cco.dial_ud = a;
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

int main(void)
{
    zk_bin = getenv("ZK_BIN");
    zk_test_zkctl_init();
    snprintf(dir, sizeof dir, "/tmp/zkc-auth-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zk_reads_with_cell_credentials),
        cmocka_unit_test(test_zk_refuses_open_file),
        cmocka_unit_test(test_commands_do_not_inherit),
        cmocka_unit_test(test_restart_reapplies),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    unlink(cfg);
    unlink(authf);
    rmdir(dir);
    return rc;
}
