/* zkc_parse_duration_ms: the one duration parser of zk, zkocc,
 * zkns-pdns and the -zk.* flags (zkcell/duration.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>

#include <zkcell/zkcell.h>

static void expect_ms(const char *s, int bare_unit_ms, int want)
{
    int ms = -7;
    int rc = zkc_parse_duration_ms(s, bare_unit_ms, &ms);
    if (rc != ZKC_OK || ms != want)
        fail_msg("'%s' (bare unit %d): rc %d, %d ms; want %d ms", s, bare_unit_ms, rc, ms,
                 want);
}

static void expect_bad(const char *s, int bare_unit_ms)
{
    int ms = -7;
    int rc = zkc_parse_duration_ms(s, bare_unit_ms, &ms);
    if (rc != ZKC_EBADARGUMENTS || ms != -7)
        fail_msg("'%s' (bare unit %d): rc %d, %d ms; want ZKC_EBADARGUMENTS, untouched",
                 s != NULL ? s : "(null)", bare_unit_ms, rc, ms);
}

static void test_units(void **state)
{
    (void)state;
    expect_ms("1s", 1000, 1000);
    expect_ms("250ms", 1000, 250);
    expect_ms("1.5m", 1000, 90000);
    expect_ms("1.1s", 1000, 1100); /* exact: not 1101 through a double */
    expect_ms("2h", 1000, 7200000);
    expect_ms("1m30s", 1000, 90000);
    expect_ms("1h2m3s4ms", 1000, 3723004);
    expect_ms(".5s", 1000, 500);
    expect_ms("5.s", 1000, 5000);
    expect_ms("0.25s", 0, 250);
    expect_ms("0s", 0, 0);
    expect_ms("0", 0, 0);
    expect_ms("0", 1000, 0);
    expect_ms("00010ms", 0, 10);
}

static void test_rounded_up(void **state)
{
    (void)state;
    expect_ms("1ns", 0, 1);
    expect_ms("100us", 0, 1);
    expect_ms("1\xc2\xb5s", 0, 1); /* micro sign */
    expect_ms("1\xce\xbcs", 0, 1); /* Greek mu */
    expect_ms("1500000ns", 0, 2);
    expect_ms("1000000ns", 0, 1);
    expect_ms("0.0001s", 1000, 1);
    expect_ms("0.000000000000000000001s", 0, 0); /* below 1 ns */
}

static void test_bare_numbers(void **state)
{
    (void)state;
    expect_ms("5", 1000, 5000); /* zk, zkocc: seconds */
    expect_ms("1.5", 1000, 1500);
    expect_ms("500", 1, 500); /* zkns-pdns --timeout: milliseconds */
    expect_bad("5", 0);       /* Go: a unit is needed, but for "0" */
    expect_bad("0.0", 0);
    expect_bad("1s5", 1000); /* only a whole string may be bare */
    expect_bad("5", -1);
}

static void test_not_durations(void **state)
{
    (void)state;
    static const char *const bad[] = {
        NULL,     "",     "nan",    "NaN",    "inf",   "-inf", "infinity", "1e3s",
        "1e400",  "0x10", "0x1p3s", "-1s",    "-0.5s", "+1s",  " 5s",      "5s ",
        "5 s",    "5x",   "5sx",    "s",      "ms",    ".",    ".s",       "1..5s",
        "1.2.3s", "5S",   "1m30",   "1\xc2s", "5s\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_bad(bad[i], 1000);
        expect_bad(bad[i], 0);
    }
}

static void test_range(void **state)
{
    (void)state;
    /* The longest: INT_MAX ms, 2147483.647 s; one more millisecond is not. */
    expect_ms("2147483647ms", 0, INT_MAX);
    expect_ms("2147483.647s", 0, INT_MAX);
    expect_bad("2147483648ms", 0);
    expect_bad("2147483.6471s", 0);
    expect_bad("2147484", 1000);
    expect_bad("1000000h", 0);
    /* Past Go's 2^63-1 ns, in one number, in the sum, in the digits. */
    expect_bad("9223372036854775808ns", 0);
    expect_bad("9223372036s9223372036s", 0);
    expect_bad("99999999999999999999999999999999s", 0);
    expect_bad("1e400ms", 0);
    char many[400];
    for (size_t i = 0; i < sizeof many - 2; i++)
        many[i] = '9';
    many[sizeof many - 2] = 's';
    many[sizeof many - 1] = '\0';
    expect_bad(many, 0);
    /* A fraction of many digits is read, not an overflow: the digits
     * past what a count holds are below a nanosecond. */
    expect_ms("1.000000000000000000000000000000000001s", 0, 1000);
    expect_ms("1.99999999999999999999999999s", 0, 2000);
    expect_ms("1.00000099999999999999999999s", 0, 1001);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units),        cmocka_unit_test(test_rounded_up),
        cmocka_unit_test(test_bare_numbers), cmocka_unit_test(test_not_durations),
        cmocka_unit_test(test_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
