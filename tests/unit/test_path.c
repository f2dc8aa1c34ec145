/* Path rules (ZooKeeper's own), the join/dir/base helpers, and the
 * library's one UTF-8 decoder they use. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <zkcell/zkcell.h>

#include "../../src/lib/core/utf8.h"

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

/* The UTF-8 decoder: each boundary of RFC 3629's table, and what is not
 * a character (length 0). */
static void test_utf8_decode(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len;
        uint32_t cp;
    } v[] = {
        {"a", 1, 'a'},
        {"\x7f", 1, 0x7f},
        {"\xc2\x80", 2, 0x80},
        {"\xdf\xbf", 2, 0x7ff},
        {"\xe0\xa0\x80", 3, 0x800},
        {"\xed\x9f\xbf", 3, 0xd7ff},
        {"\xee\x80\x80", 3, 0xe000},
        {"\xef\xbf\xbf", 3, 0xffff},
        {"\xf0\x90\x80\x80", 4, 0x10000},
        {"\xf4\x8f\xbf\xbf", 4, 0x10ffff},
        {"\x80", 0, 0},             /* a continuation byte first */
        {"\xc0\xaf", 0, 0},         /* overlong */
        {"\xc1\xbf", 0, 0},         /* overlong */
        {"\xe0\x9f\xbf", 0, 0},     /* overlong */
        {"\xf0\x8f\xbf\xbf", 0, 0}, /* overlong */
        {"\xed\xa0\x80", 0, 0},     /* a surrogate */
        {"\xf4\x90\x80\x80", 0, 0}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 0, 0}, /* no such lead byte */
        {"\xc2", 0, 0},             /* truncated */
        {"\xe2\x82", 0, 0},         /* truncated */
        {"\xc2\x41", 0, 0},         /* not a continuation */
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        uint32_t cp = 0;
        size_t n = strlen(v[i].s);
        assert_int_equal(v[i].len, zkc__utf8_decode((const unsigned char *)v[i].s, n, &cp));
        if (v[i].len > 0)
            assert_int_equal(v[i].cp, cp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_utf8_decode),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_sequential_trailing_slash),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests_name("path", tests, NULL, NULL);
}
