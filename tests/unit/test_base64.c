/* Base64 (zkc_base64_encode / zkc_base64_decode) and the internal
 * helpers zkc_impl_memdup, zkc_impl_cond_wait_until and zkc_impl_backoff_delay. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zkcell/sys/conn_impl.h>
#include <zkcell/zkcell.h>

/* RFC 4648 section 10 test vectors. */
static const struct {
    const char *plain, *coded;
} vectors[] = {
    {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

static void test_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        char *e = zkc_base64_encode(vectors[i].plain, strlen(vectors[i].plain));
        assert_non_null(e);
        assert_string_equal(vectors[i].coded, e);
        zkc_free(e);
        char *d = NULL;
        size_t n = 99;
        assert_int_equal(ZKC_OK,
                         zkc_base64_decode(vectors[i].coded, strlen(vectors[i].coded), &d, &n));
        assert_int_equal(strlen(vectors[i].plain), n);
        assert_memory_equal(vectors[i].plain, d, n);
        assert_int_equal('\0', d[n]);
        zkc_free(d);
    }
}

static void test_binary_round_trip(void **state)
{
    (void)state;
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)(255 - i);
    for (size_t len = 0; len <= sizeof all; len += 37) {
        char *e = zkc_base64_encode(all, len);
        assert_non_null(e);
        assert_int_equal((len + 2) / 3 * 4, strlen(e));
        char *d = NULL;
        size_t n = 0;
        assert_int_equal(ZKC_OK, zkc_base64_decode(e, strlen(e), &d, &n));
        assert_int_equal(len, n);
        assert_memory_equal(all, d, len);
        zkc_free(d);
        zkc_free(e);
    }
}

static void test_unpadded_accepted(void **state)
{
    (void)state;
    char *d = NULL;
    size_t n = 0;
    assert_int_equal(ZKC_OK, zkc_base64_decode("Zm8", 3, &d, &n));
    assert_int_equal(2, n);
    assert_memory_equal("fo", d, 2);
    zkc_free(d);
}

static void test_rejects(void **state)
{
    (void)state;
    static const char *bad[] = {
        "Z",        /* one character cannot be a byte */
        "Zm9v\n",   /* whitespace */
        "Zm=9",     /* padding in the middle */
        "Zg=",      /* padding, but not to a multiple of four */
        "Zh==",     /* stray bits after the last byte */
        "Zm9v!A==", /* outside the alphabet */
        "Zm-_",     /* the URL alphabet is not this one */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *d = (char *)"untouched";
        size_t n = 7;
        assert_int_equal(ZKC_EBADDATA, zkc_base64_decode(bad[i], strlen(bad[i]), &d, &n));
        assert_string_equal("untouched", d);
        assert_int_equal(7, n);
    }
    /* An embedded NUL is outside the alphabet too. */
    char *d = NULL;
    size_t n = 0;
    assert_int_equal(ZKC_EBADDATA, zkc_base64_decode("Zm\0v", 4, &d, &n));
}

static void test_memdup(void **state)
{
    (void)state;
    char *d = zkc_impl_memdup("ab\0cd", 5);
    assert_non_null(d);
    assert_memory_equal("ab\0cd", d, 5);
    assert_int_equal('\0', d[5]);
    free(d);
    d = zkc_impl_memdup(NULL, 0);
    assert_non_null(d);
    assert_int_equal('\0', d[0]);
    free(d);
}

static void test_cond_wait_until(void **state)
{
    (void)state;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_t cond;
    pthread_cond_init(&cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&m);
    /* A passed deadline returns at once; a near one after it passes
     * (a spurious wake-up may end a wait early, so loop as callers do). */
    int64_t t0 = zkc_impl_now_ms();
    zkc_impl_cond_wait_until(&cond, &m, t0 - 1000);
    int64_t deadline = zkc_impl_now_ms() + 50;
    while (zkc_impl_now_ms() < deadline)
        zkc_impl_cond_wait_until(&cond, &m, deadline);
    assert_true(zkc_impl_now_ms() >= deadline);
    pthread_mutex_unlock(&m);
    pthread_cond_destroy(&cond);
}

static void test_backoff_delay(void **state)
{
    (void)state;
    /* 100 ms doubling to at most 1000, each drawn from the upper half. */
    static const int want[] = {100, 200, 400, 800, 1000, 1000};
    for (unsigned n = 1; n <= 6; n++) {
        int d = want[n - 1];
        for (int i = 0; i < 200; i++) {
            int ms = zkc_impl_backoff_delay(100, 1000, n);
            assert_true(ms >= d - d / 2 && ms <= d);
        }
    }
    assert_int_equal(0, zkc_impl_backoff_delay(0, 1000, 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),          cmocka_unit_test(test_binary_round_trip),
        cmocka_unit_test(test_unpadded_accepted), cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_memdup),           cmocka_unit_test(test_cond_wait_until),
        cmocka_unit_test(test_backoff_delay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
