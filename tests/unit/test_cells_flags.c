/*
 * The -zk.* flags (cells_flags.c): each flag in its four spellings, Go
 * durations, every bad value with its message, argv compaction, and the
 * round trip: what zkc_cells_subprocess_flags() produces, parsed again,
 * gives a configuration that routes and times out as the parent's does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zkcell/zkcell.h>

static int setup(void **state)
{
    (void)state;
    unsetenv("ZK_CLIENT_CONFIG");
    unsetenv("ZK_CLIENT_LOCAL_CELL");
    return 0;
}

/* Apply one argument pair; return the code, *used the count. */
static int flag(const char *a, const char *b, zkc_cells_opts *o, int *used)
{
    return zkc_cells_flag(a, b, o, NULL, NULL, used);
}

static void test_each_flag_each_form(void **state)
{
    (void)state;
    static const char *const prefixes[] = {"-zk.", "--zk."};
    for (int p = 0; p < 2; p++) {
        for (int eq = 0; eq < 2; eq++) {
            zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
            int used = -1;
            char a[5][64]; /* the options point into them */
            const char *const names[] = {"local-cell", "local-addrs", "global-addrs",
                                         "base-timeout", "connect-timeout"};
            const char *const vals[] = {"nyc", "l1:2181,l2:2181", "g1:2181", "7s", "1m30s"};
            for (int i = 0; i < 5; i++) {
                if (eq) {
                    snprintf(a[i], sizeof a[i], "%s%s=%s", prefixes[p], names[i], vals[i]);
                    assert_int_equal(ZKC_OK, flag(a[i], "next", &o, &used));
                    assert_int_equal(1, used);
                } else {
                    snprintf(a[i], sizeof a[i], "%s%s", prefixes[p], names[i]);
                    assert_int_equal(ZKC_OK, flag(a[i], vals[i], &o, &used));
                    assert_int_equal(2, used);
                }
            }
            assert_string_equal("nyc", o.local_cell);
            assert_string_equal("l1:2181,l2:2181", o.local_addrs);
            assert_string_equal("g1:2181", o.global_addrs);
            assert_int_equal(7000, o.base_timeout_ms);
            assert_int_equal(90000, o.connect_timeout_ms);
        }
    }
    /* An empty value unsets a string. */
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    int used;
    assert_int_equal(ZKC_OK, flag("-zk.global-addrs", "g:1", &o, &used));
    assert_int_equal(ZKC_OK, flag("-zk.global-addrs=", NULL, &o, &used));
    assert_null(o.global_addrs);
    assert_int_equal(ZKC_OK, flag("-zk.local-cell", "", &o, &used));
    assert_null(o.local_cell);
}

static void test_not_a_flag(void **state)
{
    (void)state;
    static const char *const args[] = {"-z", "--server", "zk.local-cell", "-zklocal-cell",
                                       "/zk/nyc", "-", "--", "-s"};
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
        zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
        int used = -1;
        assert_int_equal(ZKC_OK, flag(args[i], "x", &o, &used));
        assert_int_equal(0, used);
        assert_null(o.local_cell);
    }
    int used = -1;
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    assert_int_equal(ZKC_OK, flag(NULL, NULL, &o, &used));
    assert_int_equal(0, used);
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_flag("-zk.x", NULL, NULL, NULL, NULL, &used));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_flag("-zk.x", NULL, &o, NULL, NULL, NULL));
}

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int ms;
    } good[] = {{"5s", 5000},      {"1m30s", 90000}, {"1.5s", 1500}, {"250ms", 250},
                {"100us", 1},      {"1h", 3600000},  {"2h45m", 9900000},
                {"1500000ns", 2},  {"0.25s", 250},   {"1\xc2\xb5s", 1}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
        int used;
        assert_int_equal(ZKC_OK, flag("-zk.base-timeout", good[i].text, &o, &used));
        assert_int_equal(good[i].ms, o.base_timeout_ms);
    }
}

static void test_bad_values(void **state)
{
    (void)state;
    static const struct {
        const char *arg, *next, *msg;
    } bad[] = {
        {"-zk.base-timeout", "soon", "-zk.base-timeout: want a positive duration like 5s or 1m30s, got 'soon'"},
        {"-zk.base-timeout", "5", "got '5'"},
        {"-zk.base-timeout", "0", "got '0'"},
        {"-zk.base-timeout", "0s", "got '0s'"},
        {"-zk.connect-timeout", "-1s", "-zk.connect-timeout: want a positive duration"},
        {"-zk.connect-timeout", "1..5s", "got '1..5s'"},
        {"-zk.connect-timeout", "5x", "got '5x'"},
        {"-zk.connect-timeout", "s", "got 's'"},
        {"-zk.connect-timeout", "1000000h", "got '1000000h'"},
        {"--zk.base-timeout=", NULL, "got ''"},
        {"-zk.local-cell", "bad-cell", "-zk.local-cell: invalid cell name 'bad-cell'"},
        {"-zk.local-cell", "a/b", "invalid cell name 'a/b'"},
        {"-zk.local-cell", NULL, "flag -zk.local-cell needs a value"},
        {"--zk.global-addrs", NULL, "flag -zk.global-addrs needs a value"},
        {"-zk.bogus", "x", "unknown flag -zk.bogus"},
        {"--zk.local-cel=x", NULL, "unknown flag -zk.local-cel"},
        {"-zk.", "x", "unknown flag -zk."},
        /* Not accepted unless the program has somewhere to put them. */
        {"-zk.zkocc-addr", "h:1", "unknown flag -zk.zkocc-addr"},
        {"-zk.addrs", "h:1", "unknown flag -zk.addrs"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
        int used = -1;
        assert_int_equal(ZKC_EBADARGUMENTS, flag(bad[i].arg, bad[i].next, &o, &used));
        assert_int_equal(0, used);
        if (strstr(zkc_errmsg(), bad[i].msg) == NULL)
            fail_msg("%s %s: message '%s', want '%s'", bad[i].arg,
                     bad[i].next ? bad[i].next : "", zkc_errmsg(), bad[i].msg);
        assert_int_equal(0, o.base_timeout_ms);
        assert_int_equal(0, o.connect_timeout_ms);
        assert_null(o.local_cell);
    }
}

static void test_direct_flags(void **state)
{
    (void)state;
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    const char *zkocc = NULL, *addrs = NULL;
    int used;
    assert_int_equal(ZKC_OK, zkc_cells_flag("--zk.zkocc-addr", "z:14850", &o, &zkocc, &addrs, &used));
    assert_int_equal(2, used);
    assert_string_equal("z:14850", zkocc);
    assert_int_equal(ZKC_OK, zkc_cells_flag("-zk.addrs=a:1,b:2", NULL, &o, &zkocc, &addrs, &used));
    assert_int_equal(1, used);
    assert_string_equal("a:1,b:2", addrs);
}

static void test_take_flags(void **state)
{
    (void)state;
    char *argv[] = {"prog", "-port", "1", "-zk.local-cell", "nyc", "cellA",
                    "--zk.base-timeout=9s", "-x", "--", "-zk.local-cell", "sfo", NULL};
    int argc = 11;
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    assert_int_equal(ZKC_OK, zkc_cells_take_flags(&argc, argv, &o, NULL, NULL));
    assert_int_equal(8, argc);
    static const char *const want[] = {"prog", "-port", "1", "cellA", "-x", "--",
                                       "-zk.local-cell", "sfo"};
    for (int i = 0; i < 8; i++)
        assert_string_equal(want[i], argv[i]);
    assert_null(argv[8]);
    assert_string_equal("nyc", o.local_cell);
    assert_int_equal(9000, o.base_timeout_ms);

    char *bad[] = {"prog", "a", "-zk.base-timeout", "never", NULL};
    argc = 4;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_take_flags(&argc, bad, &o, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "-zk.base-timeout"));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_take_flags(NULL, bad, &o, NULL, NULL));
    char *none[] = {NULL};
    argc = 0;
    assert_int_equal(ZKC_OK, zkc_cells_take_flags(&argc, none, &o, NULL, NULL));
    assert_int_equal(0, argc);
}

static void expect_same_addrs(zkc_cells *a, zkc_cells *b, const char *cell)
{
    char *x = NULL, *y = NULL;
    int ra = zkc_cells_addrs(a, cell, false, &x), rb = zkc_cells_addrs(b, cell, false, &y);
    assert_int_equal(ra, rb);
    if (ra == ZKC_OK)
        assert_string_equal(x, y);
    zkc_free(x);
    zkc_free(y);
}

/* Parent settings -> subprocess flags -> a child's settings: the same
 * routes, timeouts and flags again. */
static void test_round_trip(void **state)
{
    (void)state;
    static const char cfg[] = "{\"nyc\": \"n1:2181\", \"sfo\": \"s1:2181\", "
                              "\"sfo-global\": \"sg:2181\"}";
    static const struct {
        const char *local, *laddrs, *gaddrs;
        int base, conn;
    } cases[] = {
        {"nyc", "n9:2181", "g1:2181,g2:2181", 7500, 1500},
        {"sfo", NULL, NULL, 0, 0},
        {NULL, NULL, "g:1", 3600000, 90000},
        {"sfo", NULL, NULL, 5000, 30000}, /* the defaults: not passed on */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zkc_cells_opts po = ZKC_CELLS_OPTS_INIT;
        po.config_text = cfg;
        po.hostname = "sfo1";
        po.ignore_env = true;
        po.local_cell = cases[i].local;
        po.local_addrs = cases[i].laddrs;
        po.global_addrs = cases[i].gaddrs;
        po.base_timeout_ms = cases[i].base;
        po.connect_timeout_ms = cases[i].conn;
        zkc_cells *parent = NULL;
        assert_int_equal(ZKC_OK, zkc_cells_new(&po, &parent));
        zkc_strings *flags = NULL;
        assert_int_equal(ZKC_OK, zkc_cells_subprocess_flags(parent, &flags));

        /* The child: the same file, a different host, only the flags. */
        char *argv[16];
        int argc = 0;
        argv[argc++] = "child";
        assert_true(flags->count < 14);
        for (size_t k = 0; k < flags->count; k++)
            argv[argc++] = flags->v[k];
        argv[argc] = NULL;
        zkc_cells_opts co = ZKC_CELLS_OPTS_INIT;
        co.config_text = cfg;
        co.hostname = cases[i].local != NULL ? "other1" : "sfo1";
        co.ignore_env = true;
        assert_int_equal(ZKC_OK, zkc_cells_take_flags(&argc, argv, &co, NULL, NULL));
        assert_int_equal(1, argc);
        zkc_cells *child = NULL;
        assert_int_equal(ZKC_OK, zkc_cells_new(&co, &child));

        static const char *const cells[] = {"local", "global", "nyc", "sfo", "other"};
        for (size_t k = 0; k < sizeof cells / sizeof cells[0]; k++)
            expect_same_addrs(parent, child, cells[k]);
        assert_int_equal(zkc_cells_base_timeout_ms(parent), zkc_cells_base_timeout_ms(child));
        assert_int_equal(zkc_cells_connect_timeout_ms(parent),
                         zkc_cells_connect_timeout_ms(child));
        zkc_strings *again = NULL;
        assert_int_equal(ZKC_OK, zkc_cells_subprocess_flags(child, &again));
        assert_int_equal(flags->count, again->count);
        for (size_t k = 0; k < flags->count; k++)
            assert_string_equal(flags->v[k], again->v[k]);
        zkc_strings_free(again);
        zkc_strings_free(flags);
        zkc_cells_free(child);
        zkc_cells_free(parent);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_each_flag_each_form, setup),
        cmocka_unit_test_setup(test_not_a_flag, setup),
        cmocka_unit_test_setup(test_durations, setup),
        cmocka_unit_test_setup(test_bad_values, setup),
        cmocka_unit_test_setup(test_direct_flags, setup),
        cmocka_unit_test_setup(test_take_flags, setup),
        cmocka_unit_test_setup(test_round_trip, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
