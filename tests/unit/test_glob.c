/*
 * test_glob.c: zkc_glob_match against the semantics of Go's path.Match
 * (the cases of Go's match_test.go, rewritten, plus our own), and
 * zkc_glob_has_magic.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "zkcell/err.h"
#include "zkcell/util.h"

typedef struct match_case {
    const char *pattern;
    const char *name;
    bool match;
    int rc;
} match_case;

#define BAD ZKC_EBADPATTERN

static const match_case go_cases[] = {
    /* literal text and stars */
    {"abc", "abc", true, ZKC_OK},
    {"*", "abc", true, ZKC_OK},
    {"*c", "abc", true, ZKC_OK},
    {"a*", "a", true, ZKC_OK},
    {"a*", "abc", true, ZKC_OK},
    {"a*", "ab/c", false, ZKC_OK},
    {"a*/b", "abc/b", true, ZKC_OK},
    {"a*/b", "a/c/b", false, ZKC_OK},
    {"a*b*c*d*e*/f", "axbxcxdxe/f", true, ZKC_OK},
    {"a*b*c*d*e*/f", "axbxcxdxexxx/f", true, ZKC_OK},
    {"a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false, ZKC_OK},
    {"a*b*c*d*e*/f", "axbxcxdxexxx/fff", false, ZKC_OK},
    {"a*b?c*x", "abxbbxdbxebxczzx", true, ZKC_OK},
    {"a*b?c*x", "abxbbxdbxebxczzy", false, ZKC_OK},
    /* classes */
    {"ab[c]", "abc", true, ZKC_OK},
    {"ab[b-d]", "abc", true, ZKC_OK},
    {"ab[e-g]", "abc", false, ZKC_OK},
    {"ab[^c]", "abc", false, ZKC_OK},
    {"ab[^b-d]", "abc", false, ZKC_OK},
    {"ab[^e-g]", "abc", true, ZKC_OK},
    /* escapes */
    {"a\\*b", "a*b", true, ZKC_OK},
    {"a\\*b", "ab", false, ZKC_OK},
    /* characters, not bytes */
    {"a?b", "a\xe2\x98\xba" "b", true, ZKC_OK},
    {"a[^a]b", "a\xe2\x98\xba" "b", true, ZKC_OK},
    {"a???b", "a\xe2\x98\xba" "b", false, ZKC_OK},
    {"a[^a][^a][^a]b", "a\xe2\x98\xba" "b", false, ZKC_OK},
    {"[a-\xce\xb6]*", "\xce\xb1", true, ZKC_OK},
    {"*[a-\xce\xb6]", "A", false, ZKC_OK},
    /* '?' and '*' never match '/' */
    {"a?b", "a/b", false, ZKC_OK},
    {"a*b", "a/b", false, ZKC_OK},
    /* escapes inside classes */
    {"[\\]a]", "]", true, ZKC_OK},
    {"[\\-]", "-", true, ZKC_OK},
    {"[x\\-]", "x", true, ZKC_OK},
    {"[x\\-]", "-", true, ZKC_OK},
    {"[x\\-]", "z", false, ZKC_OK},
    {"[\\-x]", "x", true, ZKC_OK},
    {"[\\-x]", "-", true, ZKC_OK},
    {"[\\-x]", "a", false, ZKC_OK},
    /* malformed: reported whether or not the name would match */
    {"[]a]", "]", false, BAD},
    {"[-]", "-", false, BAD},
    {"[x-]", "x", false, BAD},
    {"[x-]", "-", false, BAD},
    {"[x-]", "z", false, BAD},
    {"[-x]", "x", false, BAD},
    {"[-x]", "-", false, BAD},
    {"[-x]", "a", false, BAD},
    {"\\", "a", false, BAD},
    {"[a-b-c]", "a", false, BAD},
    {"[", "a", false, BAD},
    {"[^", "a", false, BAD},
    {"[^bc", "a", false, BAD},
    {"a[", "a", false, BAD},
    {"a[", "ab", false, BAD},
    {"a[", "x", false, BAD},
    {"a/b[", "x", false, BAD},
    {"*x", "xxx", true, ZKC_OK},
};

static const match_case our_cases[] = {
    /* empty pattern and name */
    {"", "", true, ZKC_OK},
    {"", "a", false, ZKC_OK},
    {"*", "", true, ZKC_OK},
    {"**", "", true, ZKC_OK},
    {"?", "", false, ZKC_OK},
    {"a", "", false, ZKC_OK},
    {"*", "/", false, ZKC_OK},
    {"*/*", "a/b", true, ZKC_OK},
    {"*/*", "/", true, ZKC_OK},
    {"**/b", "a/b", true, ZKC_OK},
    {"a**c", "abbc", true, ZKC_OK},
    {"*a*", "bab", true, ZKC_OK},
    {"*a", "aab", false, ZKC_OK},
    {"*ab", "aab", true, ZKC_OK},
    {"*a?", "aab", true, ZKC_OK},
    {"*?", "", false, ZKC_OK},
    {"*?", "x", true, ZKC_OK},
    {"shard-*", "shard-0", true, ZKC_OK},
    {"shard-*", "shard", false, ZKC_OK},
    {"lock-??????????", "lock-0000000001", true, ZKC_OK},
    {"lock-??????????", "lock-000000001", false, ZKC_OK},
    /* a class may match '/', as in Go's path.Match */
    {"a[^x]b", "a/b", true, ZKC_OK},
    {"a[/]b", "a/b", true, ZKC_OK},
    /* '*' inside a class does not end the chunk */
    {"[*]", "*", true, ZKC_OK},
    {"[*]x", "*x", true, ZKC_OK},
    {"a*[*]", "abc*", true, ZKC_OK},
    /* '?' eats one whole character, even a four-byte one */
    {"?", "\xf0\x9f\x98\x80", true, ZKC_OK},
    {"??", "\xf0\x9f\x98\x80", false, ZKC_OK},
    /* invalid UTF-8 in the name: one byte is one (error) character */
    {"?", "\xff", true, ZKC_OK},
    {"??", "\xe2\x98", true, ZKC_OK},
    {"[^a]", "\xff", true, ZKC_OK},
    {"\xff", "\xff", true, ZKC_OK},
    {"[\xef\xbf\xbd]", "\xff", true, ZKC_OK},
    /* invalid UTF-8 inside a class is a bad pattern */
    {"[\xff]", "a", false, BAD},
    {"[a-\xff]", "a", false, BAD},
    /* escapes */
    {"\\a", "a", true, ZKC_OK},
    {"\\\\", "\\", true, ZKC_OK},
    {"\\?", "?", true, ZKC_OK},
    {"\\?", "x", false, ZKC_OK},
    {"\\[", "[", true, ZKC_OK},
    {"a\\", "a", false, BAD},
    {"a\\", "b", false, BAD},
    {"*\\", "abc", false, BAD},
    {"[\\", "a", false, BAD},
    {"[a\\", "a", false, BAD},
    {"[\\a]", "a", true, ZKC_OK},
    /* classes */
    {"[abc]", "b", true, ZKC_OK},
    {"[abc]", "d", false, ZKC_OK},
    {"[a-cx-z]", "y", true, ZKC_OK},
    {"[a-cx-z]", "m", false, ZKC_OK},
    {"[^a-cx-z]", "m", true, ZKC_OK},
    {"[]", "a", false, BAD},
    {"[^]", "a", false, BAD},
    {"[a]]", "a]", true, ZKC_OK},
    {"[^^]", "^", false, ZKC_OK},
    {"[^^]", "a", true, ZKC_OK},
    {"[z-a]", "m", false, ZKC_OK},
    {"[[]", "[", true, ZKC_OK},
    /* a malformed later chunk is found after an early mismatch */
    {"x*[", "abc", false, BAD},
    {"a*b[", "xyz", false, BAD},
    {"a*b*[-]", "a", false, BAD},
    {"b*\\", "a", false, BAD},
    /* ...and a malformed chunk after a match is found too */
    {"a*[", "ab", false, BAD},
    /* long runs of stars stay fast enough */
    {"*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, ZKC_OK},
};

static void run_cases(const match_case *cases, size_t n)
{
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        bool m = !cases[i].match;
        int rc = zkc_glob_match(cases[i].pattern, cases[i].name, &m);
        if (rc != cases[i].rc || m != cases[i].match) {
            print_error("case %zu: match(\"%s\", \"%s\") = (%d, %s), want (%d, %s)\n", i,
                        cases[i].pattern, cases[i].name, m, zkc_err_name(rc),
                        cases[i].match, zkc_err_name(cases[i].rc));
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_go_table(void **state)
{
    (void)state;
    run_cases(go_cases, sizeof go_cases / sizeof go_cases[0]);
}

static void test_our_table(void **state)
{
    (void)state;
    run_cases(our_cases, sizeof our_cases / sizeof our_cases[0]);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    bool m = true;
    assert_int_equal(zkc_glob_match(NULL, "a", &m), ZKC_EBADARGUMENTS);
    assert_false(m);
    assert_int_equal(zkc_glob_match("a", NULL, &m), ZKC_EBADARGUMENTS);
    assert_int_equal(zkc_glob_match("a", "a", NULL), ZKC_EBADARGUMENTS);
}

/* Every literal name matches itself once its magic is escaped. */
static void test_escaped_literal(void **state)
{
    (void)state;
    const char *names[] = {"a*b", "[x]", "what?", "back\\slash", "-]^", "*", ""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char pat[64];
        size_t k = 0;
        for (const char *s = names[i]; *s != '\0'; s++) {
            if (strchr("*?[\\", *s) != NULL)
                pat[k++] = '\\';
            pat[k++] = *s;
        }
        pat[k] = '\0';
        bool m = false;
        assert_int_equal(zkc_glob_match(pat, names[i], &m), ZKC_OK);
        assert_true(m);
        assert_false(zkc_glob_has_magic(pat));
    }
}

static void test_has_magic(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool magic;
    } cases[] = {
        {"", false},         {"abc", false},       {"/zk/nyc/x", false},
        {"*", true},         {"a?", true},         {"[ab]", true},
        {"a]", false},       {"a^-", false},       {"\\*", false},
        {"\\?\\[", false},   {"\\\\*", true},      {"\\", true},
        {"a\\", true},       {"a\\\\", false},     {"\\\\\\", true},
        {"x\\y", false},     {"/zk/*/a", true},    {"\\**", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (zkc_glob_has_magic(cases[i].s) != cases[i].magic)
            fail_msg("has_magic(\"%s\") != %d", cases[i].s, cases[i].magic);
    }
    assert_false(zkc_glob_has_magic(NULL));
}

/* A pattern without magic matches exactly itself. */
static void test_no_magic_is_literal(void **state)
{
    (void)state;
    const char *lits[] = {"abc", "a-b", "a]b", "x^y", "lock-0001"};
    for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) {
        bool m = false;
        assert_false(zkc_glob_has_magic(lits[i]));
        assert_int_equal(zkc_glob_match(lits[i], lits[i], &m), ZKC_OK);
        assert_true(m);
        char other[64];
        snprintf(other, sizeof other, "%sx", lits[i]);
        assert_int_equal(zkc_glob_match(lits[i], other, &m), ZKC_OK);
        assert_false(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_table),
        cmocka_unit_test(test_our_table),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_escaped_literal),
        cmocka_unit_test(test_has_magic),
        cmocka_unit_test(test_no_magic_is_literal),
    };
    return cmocka_run_group_tests_name("glob", tests, NULL, NULL);
}
