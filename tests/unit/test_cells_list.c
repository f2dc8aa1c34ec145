/*
 * A zk_client.json cell whose value is a list of address strings (one
 * namespace over those quorums): kept as "A;B;C", listed as a cell, and
 * every bad list refused naming the key; zkc_dial_quorums' argument
 * checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <zkcell/zkcell.h>

static zkc_cells *from_text(const char *text, int want_rc)
{
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.config_text = text;
    o.ignore_env = true;
    o.hostname = "nyc1";
    zkc_cells *c = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    assert_int_equal(want_rc, zkc_cells_refresh(c));
    return c;
}

static void test_list_is_joined(void **state)
{
    (void)state;
    zkc_cells *c = from_text("{\"gl\": [\"a:1\", \"b:1,b:2\", \"c:1\"], \"one\": [\"d:1\"], "
                             "\"nyc\": \"n:1\"}",
                             ZKC_OK);
    char *addrs = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_addrs(c, "gl", false, &addrs));
    assert_string_equal("a:1;b:1,b:2;c:1", addrs);
    zkc_free(addrs);
    assert_int_equal(ZKC_OK, zkc_cells_addrs(c, "one", false, &addrs));
    assert_string_equal("d:1", addrs);
    zkc_free(addrs);
    assert_int_equal(ZKC_OK, zkc_cells_addrs(c, "local", false, &addrs));
    assert_string_equal("n:1", addrs);
    zkc_free(addrs);
    zkc_strings *known = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_known(c, false, &known));
    assert_int_equal(3, known->count);
    assert_string_equal("gl", known->v[0]);
    zkc_strings_free(known);
    zkc_cells_free(c);
}

static void test_bad_lists(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"gl\": []}",
        "{\"gl\": [\"a:1\", 2]}",
        "{\"gl\": [\"a:1\", \"\"]}",
        "{\"gl\": [\"a:1;b:1\"]}",
        "{\"gl\": [[\"a:1\"]]}",
        "{\"gl\": [\"a:1\", null]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zkc_cells *c = from_text(bad[i], ZKC_EBADCONFIG);
        if (strstr(zkc_errmsg(), "the value of key \"gl\" is not a string or a list") == NULL)
            fail_msg("%s: %s", bad[i], zkc_errmsg());
        zkc_cells_free(c);
    }
}

static void test_dial_quorums_args(void **state)
{
    (void)state;
    zkc_conn *c = NULL;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_dial_quorums(NULL, NULL, &c));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_dial_quorums("a:1", NULL, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_dial_quorums("a:1;;b:1", NULL, &c));
    assert_non_null(strstr(zkc_errmsg(), "quorums a:1;;b:1"));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_dial_quorums("a:1;", NULL, &c));
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_is_joined),
        cmocka_unit_test(test_bad_lists),
        cmocka_unit_test(test_dial_quorums_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
