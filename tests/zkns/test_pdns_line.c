/* The PowerDNS pipe protocol lines alone (src/zkns-pdns/pdns_line.c):
 * the handshake, the question layouts of ABI 1 to 5, bad lines, and the
 * answer layouts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdns_line.h"

/* Parse a copy of s (with room for the NUL). */
static char *parse(const char *s, int abi, pdns_question *q)
{
    size_t n = strlen(s);
    char *line = malloc(n + 1);
    memcpy(line, s, n + 1);
    pdns_parse(line, n, abi, q);
    return line;
}

static void test_handshake(void **state)
{
    (void)state;
    pdns_question q;
    for (int v = 1; v <= 5; v++) {
        char s[16];
        snprintf(s, sizeof s, "HELO\t%d", v);
        free(parse(s, 0, &q));
        assert_int_equal(PDNS_HELO, q.kind);
        assert_int_equal(v, q.abi);
    }
    static const char *bad[] = {"HELO\t0", "HELO\t6", "HELO\t12", "HELO", "HELO\t", "HELO\t2\t3",
                                "helo\t2", "HELO 2", "Q\ta\tIN\tA\t1\t2", "", "HELO\t2\r"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        free(parse(bad[i], 0, &q));
        assert_int_equal(PDNS_BAD, q.kind);
        assert_non_null(q.why);
    }
    /* after the handshake, HELO is not a question */
    free(parse("HELO\t2", 2, &q));
    assert_int_equal(PDNS_BAD, q.kind);
}

static void test_questions(void **state)
{
    (void)state;
    pdns_question q;
    char *l = parse("Q\tfoo.example\tIN\tANY\t-1\t127.0.0.1", 1, &q);
    assert_int_equal(PDNS_Q, q.kind);
    assert_string_equal("foo.example", q.qname);
    assert_string_equal("IN", q.qclass);
    assert_string_equal("ANY", q.qtype);
    assert_string_equal("-1", q.id);
    assert_string_equal("127.0.0.1", q.remote);
    assert_null(q.local);
    assert_null(q.subnet);
    free(l);
    l = parse("Q\tfoo.example\tIN\tSOA\t-1\t0.0.0.0\t0.0.0.0", 2, &q);
    assert_int_equal(PDNS_Q, q.kind);
    assert_string_equal("0.0.0.0", q.local);
    assert_null(q.subnet);
    free(l);
    for (int abi = 3; abi <= 5; abi++) {
        l = parse("Q\tfoo.example\tIN\tA\t7\t127.0.0.1\t127.0.0.2\t192.0.2.0/24", abi, &q);
        assert_int_equal(PDNS_Q, q.kind);
        assert_string_equal("127.0.0.2", q.local);
        assert_string_equal("192.0.2.0/24", q.subnet);
        assert_string_equal("7", q.id);
        free(l);
    }
    /* short lines per ABI */
    free(parse("Q\tfoo.example\tIN\tANY\t-1", 1, &q));
    assert_int_equal(PDNS_BAD, q.kind);
    free(parse("Q\tfoo.example\tIN\tANY\t-1\t127.0.0.1", 2, &q));
    assert_int_equal(PDNS_BAD, q.kind);
    free(parse("Q\tfoo.example\tIN\tANY\t-1\t127.0.0.1\t127.0.0.1", 3, &q));
    assert_int_equal(PDNS_BAD, q.kind);
    free(parse("Q\t\tIN\tANY\t-1\t127.0.0.1", 1, &q));
    assert_int_equal(PDNS_BAD, q.kind);
    /* a longer line than the ABI needs is fine */
    free(parse("Q\tfoo.example\tIN\tANY\t-1\t127.0.0.1\t127.0.0.1\t0.0.0.0/0", 1, &q));
    assert_int_equal(PDNS_Q, q.kind);

    /* AXFR */
    l = parse("AXFR\t3", 1, &q);
    assert_int_equal(PDNS_AXFR, q.kind);
    assert_string_equal("3", q.id);
    assert_null(q.zone);
    free(l);
    free(parse("AXFR\t3", 4, &q));
    assert_int_equal(PDNS_BAD, q.kind);
    l = parse("AXFR\t3\texample", 4, &q);
    assert_int_equal(PDNS_AXFR, q.kind);
    assert_string_equal("example", q.zone);
    free(l);
    /* CMD: ABI 5 only; the text keeps its TABs */
    l = parse("CMD\tstats\tnow", 5, &q);
    assert_int_equal(PDNS_CMD, q.kind);
    assert_string_equal("stats\tnow", q.cmd);
    free(l);
    free(parse("CMD\tstats", 4, &q));
    assert_int_equal(PDNS_BAD, q.kind);
    free(parse("PING", 2, &q));
    assert_int_equal(PDNS_PING, q.kind);
    static const char *bad[] = {"X", "", "q\ta\tIN\tA\t1\t2", "Q a IN A 1 2", "DATA\tx",
                                "Q\ta\x01\tIN\tA\t1\t2", "Q\ta\tIN\tA\t1\t2\x7f", "PING\t1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        free(parse(bad[i], 1, &q));
        assert_int_equal(PDNS_BAD, q.kind);
    }
    /* a NUL inside the line */
    char nul[] = "Q\ta\0b\tIN\tA\t1\t2";
    pdns_parse(nul, sizeof nul - 1, 1, &q);
    assert_int_equal(PDNS_BAD, q.kind);
}

static void test_answers(void **state)
{
    (void)state;
    pdns_out o = {0};
    pdns_put_ok(&o, "banner\twith\ntab");
    pdns_put_data(&o, 1, "foo.example", "A", 30, "-1", "127.0.0.1");
    pdns_put_data(&o, 2, "foo.example", "SRV", 1, "1", "10\t0 21811 zk1.example.");
    pdns_put_data(&o, 3, "foo.example", "SRV", 1, "1", "10\t0 21811 zk1.example.");
    pdns_put_log(&o, "a %s b", "x\ny");
    pdns_put_text(&o, "t\tt");
    pdns_put_end(&o);
    pdns_put_fail(&o);
    assert_false(o.oom);
    assert_string_equal("OK\tbanner?with?tab\n"
                        "DATA\tfoo.example\tIN\tA\t30\t-1\t127.0.0.1\n"
                        "DATA\tfoo.example\tIN\tSRV\t1\t1\t10\t0 21811 zk1.example.\n"
                        "DATA\t0\t1\tfoo.example\tIN\tSRV\t1\t1\t10\t0 21811 zk1.example.\n"
                        "LOG\ta x?y b\n"
                        "t?t\n"
                        "END\n"
                        "FAIL\n",
                        o.buf);
    pdns_out_reset(&o);
    assert_int_equal(0, o.len);
    pdns_out_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_questions),
        cmocka_unit_test(test_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
