/*
 * zk_auth.json (auth_config.c): credentials per cell, the file's mode
 * checked, every bad file refused with a message naming the file and
 * never a password, $ZK_AUTH_CONFIG.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zkcell/zkcell.h>

static char dir[64];

static const char *write_file(const char *name, const char *text, mode_t mode)
{
    static char path[4][128];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    unlink(p);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(0, chmod(p, mode));
    return p;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/zkc-auth-XXXXXX");
    unsetenv("ZK_AUTH_CONFIG");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_load(void **state)
{
    (void)state;
    const char *p = write_file("zk_auth.json",
                               "{\"nyc\": \"app:s3cret\", \"global\": \"admin:p:w\"}", 0600);
    zkc_auth_config *a = NULL;
    assert_int_equal(ZKC_OK, zkc_auth_config_load(p, &a));
    assert_int_equal(2, zkc_auth_config_count(a));
    assert_string_equal("app:s3cret", zkc_auth_config_cred(a, "nyc"));
    assert_string_equal("admin:p:w", zkc_auth_config_cred(a, "global"));
    assert_null(zkc_auth_config_cred(a, "sfo"));
    assert_null(zkc_auth_config_cred(a, NULL));
    assert_null(zkc_auth_config_cred(NULL, "nyc"));
    zkc_auth_config_free(a);
    zkc_auth_config_free(NULL);

    /* 0400 is stricter: fine; an empty object: no credentials. */
    p = write_file("ro.json", "{}", 0400);
    assert_int_equal(ZKC_OK, zkc_auth_config_load(p, &a));
    assert_int_equal(0, zkc_auth_config_count(a));
    zkc_auth_config_free(a);
}

static void test_env(void **state)
{
    (void)state;
    zkc_auth_config *a = (zkc_auth_config *)1;
    assert_int_equal(ZKC_OK, zkc_auth_config_load(NULL, &a));
    assert_null(a);
    setenv("ZK_AUTH_CONFIG", "", 1);
    assert_int_equal(ZKC_OK, zkc_auth_config_load(NULL, &a));
    assert_null(a);
    const char *p = write_file("env.json", "{\"sfo\": \"u:pw\"}", 0600);
    setenv("ZK_AUTH_CONFIG", p, 1);
    assert_int_equal(ZKC_OK, zkc_auth_config_load(NULL, &a));
    assert_string_equal("u:pw", zkc_auth_config_cred(a, "sfo"));
    zkc_auth_config_free(a);
    unsetenv("ZK_AUTH_CONFIG");
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_auth_config_load(p, NULL));
}

static void test_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        mode_t mode;
        const char *msg;
    } bad[] = {
        {"{\"nyc\": \"app:SECRETPW\"}", 0644, "mode 0644 lets others read it"},
        {"{\"nyc\": \"app:SECRETPW\"}", 0640, "want 0600 or stricter"},
        {"{\"nyc\": \"app:SECRETPW\"}", 0602, "mode 0602"},
        {"{\"nyc\": SECRETPW}", 0600, "not valid JSON (line 1, column"},
        {"{\"nyc\": \"app:SECRETPW\"", 0600, "not valid JSON"},
        {"[\"app:SECRETPW\"]", 0600, "want a JSON object"},
        {"{\"bad-cell\": \"app:SECRETPW\"}", 0600, "\"bad-cell\" is not a cell name"},
        {"{\"nyc\": \"SECRETPW\"}", 0600, "cell \"nyc\": want a string \"user:password\""},
        {"{\"nyc\": \":SECRETPW\"}", 0600, "cell \"nyc\": want a string"},
        {"{\"nyc\": 7}", 0600, "cell \"nyc\": want a string"},
        {"{\"nyc\": \"a:SECRETPW\", \"nyc\": \"b:SECRETPW\"}", 0600, "not valid JSON"},
        {"{\"nyc\": \"a:SECRETPW\\u0000x\"}", 0600, "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *p = write_file("bad.json", bad[i].text, bad[i].mode);
        zkc_auth_config *a = (zkc_auth_config *)1;
        assert_int_equal(ZKC_EBADCONFIG, zkc_auth_config_load(p, &a));
        assert_null(a);
        const char *m = zkc_errmsg();
        if (strstr(m, bad[i].msg) == NULL || strstr(m, p) == NULL)
            fail_msg("case %zu: message '%s', want '%s' and the path", i, m, bad[i].msg);
        if (strstr(m, "SECRETPW") != NULL)
            fail_msg("case %zu: the message shows the password: %s", i, m);
    }
    zkc_auth_config *a = NULL;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/none.json", dir);
    assert_int_equal(ZKC_EBADCONFIG, zkc_auth_config_load(missing, &a));
    assert_non_null(strstr(zkc_errmsg(), missing));
    assert_int_equal(ZKC_EBADCONFIG, zkc_auth_config_load(dir, &a));
    assert_non_null(strstr(zkc_errmsg(), "not a regular file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
