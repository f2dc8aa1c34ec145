/* Path rules (ZooKeeper's own) and the join/dir/base helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <zkcell/zkcell.h>

static void test_valid(void **state)
{
    (void)state;
    const char *good[] = {"/", "/a", "/zk/nyc/vt", "/a-b_c.d", "/..a", "/a/...", "/é/ü",
                          "/a b", "/zookeeper/quota"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(ZKC_OK, zkc_path_validate(good[i], false));
}

static void test_invalid(void **state)
{
    (void)state;
    const char *bad[] = {NULL,     "",        "a",      "a/b",      "/a/",
                         "//",     "/a//b",   "/.",     "/a/.",     "/a/./b",
                         "/..",    "/a/..",   "/a\x01", "/\x7f",    "/\xc2\x85",
                         "/\xff",  "/\xc0\xaf", "/\xe0\x80", "/\xef\xbf\xbf", "/\xed\xa0\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(ZKC_EBADPATH, zkc_path_validate(bad[i], false));
}

static void test_sequential_trailing_slash(void **state)
{
    (void)state;
    assert_int_equal(ZKC_OK, zkc_path_validate("/a/", true));
    assert_int_equal(ZKC_OK, zkc_path_validate("/a/lock-", true));
    assert_int_equal(ZKC_EBADPATH, zkc_path_validate("/a//", true));
    assert_int_equal(ZKC_EBADPATH, zkc_path_validate("/a/./", true));
}

static void test_length_limit(void **state)
{
    (void)state;
    char *p = malloc(ZKC_MAX_PATH + 2);
    memset(p, 'a', ZKC_MAX_PATH + 1);
    p[0] = '/';
    p[ZKC_MAX_PATH] = '\0';
    assert_int_equal(ZKC_OK, zkc_path_validate(p, false));
    p[ZKC_MAX_PATH] = 'a';
    p[ZKC_MAX_PATH + 1] = '\0';
    assert_int_equal(ZKC_EBADPATH, zkc_path_validate(p, false));
    free(p);
}

static void test_helpers(void **state)
{
    (void)state;
    char *s = zkc_path_join("/", "a");
    assert_string_equal("/a", s);
    zkc_free(s);
    s = zkc_path_join("/a/b", "c");
    assert_string_equal("/a/b/c", s);
    zkc_free(s);
    s = zkc_path_dir("/a/b/c");
    assert_string_equal("/a/b", s);
    zkc_free(s);
    s = zkc_path_dir("/a");
    assert_string_equal("/", s);
    zkc_free(s);
    s = zkc_path_dir("/");
    assert_string_equal("/", s);
    zkc_free(s);
    s = zkc_path_dir("noslash");
    assert_string_equal("/", s);
    zkc_free(s);
    assert_string_equal("c", zkc_path_base("/a/b/c"));
    assert_string_equal("", zkc_path_base("/"));
    assert_string_equal("x", zkc_path_base("x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_sequential_trailing_slash),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests_name("path", tests, NULL, NULL);
}
