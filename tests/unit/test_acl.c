/* ACL helpers, string lists and the error table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <zkcell/sys/conn_impl.h>
#include <zkcell/zkcell.h>

static void test_world(void **state)
{
    (void)state;
    const zkc_acl_list *a = zkc_acl_world(ZKC_PERM_FILE);
    assert_int_equal(1, a->count);
    assert_int_equal(ZKC_PERM_FILE, a->v[0].perms);
    assert_string_equal("world", a->v[0].scheme);
    assert_string_equal("anyone", a->v[0].id);
    assert_int_equal(ZKC_PERM_ALL, zkc_acl_world(ZKC_PERM_ALL)->v[0].perms);
    /* PERM_DIRECTORY is all permissions, PERM_FILE lacks CREATE and DELETE. */
    assert_int_equal(31, ZKC_PERM_DIRECTORY);
    assert_int_equal(19, ZKC_PERM_FILE);
}

static void test_is_directory(void **state)
{
    (void)state;
    assert_true(zkc_is_directory(zkc_acl_world(ZKC_PERM_DIRECTORY)));
    assert_false(zkc_is_directory(zkc_acl_world(ZKC_PERM_FILE)));
    zkc_acl_list empty = {0, NULL};
    assert_true(zkc_is_directory(&empty));
    zkc_acl two[2] = {{31, "world", "anyone"}, {19, "digest", "u:x"}};
    zkc_acl_list mixed = {2, two};
    assert_false(zkc_is_directory(&mixed));
}

static void test_strings_dup(void **state)
{
    (void)state;
    zkc_strings *s = zkc_impl_strings_new(0);
    assert_int_equal(ZKC_OK, zkc_impl_strings_push(s, "b", 1));
    assert_int_equal(ZKC_OK, zkc_impl_strings_push(s, "a", 1));
    zkc_strings *d = zkc_strings_dup(s);
    assert_non_null(d);
    assert_int_equal(2, d->count);
    assert_string_equal("b", d->v[0]);
    assert_string_equal("a", d->v[1]);
    assert_ptr_not_equal(s->v[0], d->v[0]);
    zkc_strings_free(s);
    zkc_strings_free(d);
    d = zkc_strings_dup(NULL);
    assert_non_null(d);
    assert_int_equal(0, d->count);
    zkc_strings_free(d);
}

static void test_dup(void **state)
{
    (void)state;
    zkc_acl two[2] = {{31, "world", "anyone"}, {1, "digest", "u:abc="}};
    zkc_acl_list l = {2, two};
    zkc_acl_list *d = zkc_acl_list_dup(&l);
    assert_non_null(d);
    assert_int_equal(2, d->count);
    assert_ptr_not_equal(two[1].id, d->v[1].id);
    assert_string_equal("u:abc=", d->v[1].id);
    assert_int_equal(1, d->v[1].perms);
    zkc_acl_list_free(d);
    d = zkc_acl_list_dup(NULL);
    assert_non_null(d);
    assert_int_equal(0, d->count);
    zkc_acl_list_free(d);
    zkc_acl_list_free(NULL);
}

static void test_perms_format(void **state)
{
    (void)state;
    char buf[6];
    zkc_perms_format(ZKC_PERM_ALL, buf);
    assert_string_equal("rwdca", buf);
    zkc_perms_format(ZKC_PERM_FILE, buf);
    assert_string_equal("rw--a", buf);
    zkc_perms_format(0, buf);
    assert_string_equal("-----", buf);
    zkc_perms_format(ZKC_PERM_CREATE, buf);
    assert_string_equal("---c-", buf);
}

static void test_strings(void **state)
{
    (void)state;
    zkc_strings *s = zkc_impl_strings_new(0);
    const char *words[] = {"pear", "apple", "fig", "b", "a\xff", "a"};
    for (int round = 0; round < 100; round++)
        for (size_t i = 0; i < 6; i++)
            assert_int_equal(ZKC_OK, zkc_impl_strings_push(s, words[i], strlen(words[i])));
    assert_int_equal(600, s->count);
    zkc_strings_sort(s);
    assert_string_equal("a", s->v[0]);
    assert_string_equal("apple", s->v[100]);
    assert_string_equal("a\xff", s->v[200]); /* bytewise: 0xff after p */
    assert_string_equal("pear", s->v[599]);
    zkc_strings_free(s);
    zkc_strings_free(NULL);
    zkc_free(NULL);
}

static void test_errors(void **state)
{
    (void)state;
    int codes[] = {
#define XX(name, value, msg) value,
        ZKC_ERRNO_MAP(XX)
#undef XX
    };
    size_t n = sizeof codes / sizeof *codes;
    for (size_t i = 0; i < n; i++) {
        assert_non_null(zkc_err_name(codes[i]));
        assert_string_not_equal("unknown error", zkc_strerror(codes[i]));
        for (size_t j = i + 1; j < n; j++)
            assert_int_not_equal(codes[i], codes[j]);
        /* Our own codes live in their own range. */
        if (codes[i] <= -1000)
            assert_int_equal('E', zkc_err_name(codes[i])[0]);
    }
    assert_int_equal(0, ZKC_OK);
    assert_int_equal(-101, ZKC_ENONODE);
    assert_int_equal(-102, ZKC_ENOAUTH);
    assert_int_equal(-103, ZKC_EBADVERSION);
    assert_int_equal(-112, ZKC_ESESSIONEXPIRED);
    assert_int_equal(-116, ZKC_ECLOSING);
    assert_true(ZKC_ETIMEDOUT <= -1000);
    assert_string_equal("ENONODE", zkc_err_name(ZKC_ENONODE));
    assert_string_equal("unknown error", zkc_strerror(-99999));
    assert_string_equal("EUNKNOWN", zkc_err_name(-99999));
    /* Every code the C client 3.8 can pass through has a name. */
    int zk_codes[] = {-13, -14, -15, -120, -123, -124, -127};
    for (size_t i = 0; i < sizeof zk_codes / sizeof *zk_codes; i++) {
        assert_string_not_equal("EUNKNOWN", zkc_err_name(zk_codes[i]));
        assert_string_not_equal("unknown error", zkc_strerror(zk_codes[i]));
    }
    zkc_impl_set_errmsg("get %s: %s", "/a", zkc_strerror(ZKC_ENONODE));
    assert_string_equal("get /a: node does not exist", zkc_errmsg());
    assert_string_equal(ZKC_VERSION_STRING, zkc_version());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_world),     cmocka_unit_test(test_is_directory),
        cmocka_unit_test(test_dup), cmocka_unit_test(test_strings_dup),       cmocka_unit_test(test_perms_format),
        cmocka_unit_test(test_strings),   cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("acl", tests, NULL, NULL);
}
