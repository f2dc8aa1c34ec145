/*
 * fuzz_pdns_line.c: libFuzzer target for the PowerDNS pipe protocol of
 * zkns-pdns: the line parser (src/zkns-pdns/pdns_line.c) and the answers
 * (server.c, store.c) over an in-memory tree.
 *
 * fuzz-sources: src/zkns-pdns/pdns_line.c src/zkns-pdns/server.c src/zkns-pdns/store.c
 *
 * The input is a stream of lines (the last one may lack its '\n').
 * Besides "no crash", it checks what server.h promises: every line gets
 * exactly one answer that ends it (OK, FAIL or END), and every DATA line
 * has the fields its ABI needs, so PowerDNS would stay in step.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/zkns-pdns/pdns_line.h"
#include "../src/zkns-pdns/server.h"
#include "zkcell/fake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        abort();
}

static zkc_conn *conn;

static void setup(void)
{
    if (conn != NULL)
        return;
    zkc_fake_tree *t = zkc_fake_tree_new();
    check(t != NULL);
    check(zkc_fake_tree_load_json_string(
              t, "{\"/zk/t/ns/a\": {\"Entries\": [{\"ipv4\": \"10.0.0.1\"}, {\"ipv4\": \"x\"}]},"
                 " \"/zk/t/ns/b/c\": {\"Entries\": [{\"host\": \"h.example\"}], \"ttl\": 5},"
                 " \"/zk/t/ns/s\": {\"Entries\": [{\"host\": \"h1\", \"named_port_map\": "
                 "{\"_http\": 80, \"_x\": 1}, \"priority\": 3}]},"
                 " \"/zk/t/ns/v\": {\"Entries\": [{\"ipv6\": \"::1\"}]},"
                 " \"/zk/t/ns/bad\": \"{\","
                 " \"/zk/t/ns/e\": \"\"}") == ZKC_OK);
    check(zkc_fake_open(t, &conn) == ZKC_OK);
    zkc_fake_tree_free(t);
}

/* Count the answers in out and check each line's shape. */
static size_t answers(const char *out, int abi)
{
    size_t n = 0;
    const char *p = out;
    while (*p) {
        const char *nl = strchr(p, '\n');
        check(nl != NULL);
        size_t len = (size_t)(nl - p);
        size_t tabs = 0;
        for (const char *t = p; t < nl; t++)
            tabs += *t == '\t';
        if (len == 3 && memcmp(p, "END", 3) == 0)
            n++;
        else if (len == 4 && memcmp(p, "FAIL", 4) == 0)
            n++;
        else if (len > 3 && memcmp(p, "OK\t", 3) == 0)
            n++;
        else if (len > 5 && memcmp(p, "DATA\t", 5) == 0)
            check(tabs >= (abi >= 3 ? 8u : 6u));
        else if (len > 4 && memcmp(p, "LOG\t", 4) == 0)
            check(tabs == 1);
        p = nl + 1;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    setup();
    zkns_store *store = zkns_store_new(conn, 1000, size % 2 ? 0 : 8);
    pdns_server_opts o = {".ns.test", "/zk/t/ns", 1, "ns1.test", "fuzz"};
    pdns_server *s = pdns_server_new(store, &o);
    check(store != NULL && s != NULL);
    pdns_out out = {0};
    char *buf = malloc(size + 1);
    check(buf != NULL);
    memcpy(buf, data, size);
    size_t start = 0;
    while (start < size) {
        char *nl = memchr(buf + start, '\n', size - start);
        size_t end = nl != NULL ? (size_t)(nl - buf) : size;
        int abi_before = pdns_server_abi(s);
        if (end - start > PDNS_MAX_LINE)
            pdns_server_long_line(s, &out);
        else
            pdns_server_line(s, buf + start, end - start, &out);
        int abi = pdns_server_abi(s) ? pdns_server_abi(s) : abi_before;
        check(!out.oom);
        check(answers(out.buf, abi) == 1);
        pdns_out_reset(&out);
        start = end + 1;
    }
    free(buf);
    pdns_out_free(&out);
    pdns_server_free(s);
    zkns_store_free(store);
    return 0;
}
