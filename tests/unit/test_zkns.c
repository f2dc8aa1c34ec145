/* zkns records (zkcell/zkns.h): the JSON as the original read and wrote
 * it, the kinds, answers, RFC 2782 order, LookupName and the name to path
 * mapping, against the in-memory fake. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <zkcell/zkcell.h>

static zkc_zkns_record *parse(const char *s)
{
    zkc_zkns_record *r = NULL;
    assert_int_equal(ZKC_OK, zkc_zkns_parse(s, strlen(s), &r));
    assert_non_null(r);
    return r;
}

static void test_parse_original(void **state)
{
    (void)state;
    zkc_zkns_record *r = parse("{\"Entries\": [{\"host\": \"h1\", \"port\": 3306, "
                               "\"named_port_map\": {\"_http\": 80, \"_vtocc\": 8101}, "
                               "\"ipv4\": \"\"}, {\"host\": \"h2\", \"named_port_map\": "
                               "{\"_http\": 81}}]}");
    assert_int_equal(2, r->count);
    assert_string_equal("h1", r->v[0].host);
    assert_int_equal(3306, r->v[0].port);
    assert_null(r->v[0].ipv4);
    assert_int_equal(2, r->v[0].nports);
    assert_string_equal("_http", r->v[0].ports[0].name);
    assert_int_equal(80, r->v[0].ports[0].port);
    assert_int_equal(8101, r->v[0].ports[1].port);
    assert_int_equal(-1, r->v[0].priority);
    assert_int_equal(-1, r->v[0].weight);
    assert_int_equal(-1, r->ttl);
    assert_true(zkc_zkns_is_srv(r));
    assert_false(zkc_zkns_is_a(r));
    assert_false(zkc_zkns_is_cname(r));
    assert_int_equal(ZKC_ZKNS_SRV, zkc_zkns_kind_of(r));
    zkc_zkns_record_free(r);

    /* keys without case; unknown keys ignored; later spelling wins */
    r = parse("{\"entries\": [{\"IPV4\": \"10.0.0.1\", \"Host\": null, \"uid\": 7}], "
              "\"ENTRIES\": [{\"ipv4\": \"10.0.0.2\"}], \"ttl\": 30}");
    assert_int_equal(1, r->count);
    assert_string_equal("10.0.0.2", r->v[0].ipv4);
    assert_int_equal(30, r->ttl);
    assert_true(zkc_zkns_is_a(r));
    assert_int_equal(ZKC_ZKNS_A, zkc_zkns_kind_of(r));
    zkc_zkns_record_free(r);

    r = parse("{\"Entries\": [{\"host\": \"db.example.com\"}]}");
    assert_true(zkc_zkns_is_cname(r));
    assert_int_equal(ZKC_ZKNS_CNAME, zkc_zkns_kind_of(r));
    zkc_zkns_record_free(r);

    r = parse("{\"Entries\": [{\"ipv6\": \"::1\"}, {\"ipv6\": \"fe80::2\", \"ipv4\": \"1.2.3.4\"}]}");
    assert_true(zkc_zkns_is_aaaa(r));
    assert_false(zkc_zkns_is_a(r));
    assert_int_equal(ZKC_ZKNS_AAAA, zkc_zkns_kind_of(r));
    zkc_zkns_record_free(r);

    /* the original's kinds: an empty list is SRV; null is an empty record */
    r = parse("{}");
    assert_int_equal(0, r->count);
    assert_true(zkc_zkns_is_srv(r));
    assert_false(zkc_zkns_is_a(r));
    zkc_zkns_record_free(r);
    r = parse("null");
    assert_int_equal(0, r->count);
    zkc_zkns_record_free(r);

    /* neither: host and ipv4 together, two CNAME hosts */
    r = parse("{\"Entries\": [{\"host\": \"a\", \"ipv4\": \"1.1.1.1\"}]}");
    assert_int_equal(ZKC_ZKNS_NONE, zkc_zkns_kind_of(r));
    zkc_zkns_record_free(r);
    r = parse("{\"Entries\": [{\"host\": \"a\"}, {\"host\": \"b\"}]}");
    assert_int_equal(ZKC_ZKNS_NONE, zkc_zkns_kind_of(r));
    assert_int_equal(ZKC_EBADDATA, zkc_zkns_validate(r));
    zkc_zkns_record_free(r);
}

static void test_parse_empty_and_bad(void **state)
{
    (void)state;
    zkc_zkns_record *r = (void *)1;
    assert_int_equal(ZKC_OK, zkc_zkns_parse("", 0, &r));
    assert_null(r);
    r = (void *)1;
    assert_int_equal(ZKC_OK, zkc_zkns_parse(NULL, 0, &r));
    assert_null(r);
    assert_int_equal(ZKC_OK, zkc_zkns_parse(" \n", 2, &r));
    assert_null(r);
    static const char *bad[] = {
        "{", "[]", "\"x\"", "3", "{\"Entries\": 3}", "{\"Entries\": [3]}",
        "{\"Entries\": [{\"host\": 3}]}", "{\"Entries\": [{\"port\": \"80\"}]}",
        "{\"Entries\": [{\"port\": 1.5}]}", "{\"Entries\": [{\"port\": 70000}]}",
        "{\"Entries\": [{\"port\": -1}]}", "{\"Entries\": [{\"named_port_map\": []}]}",
        "{\"Entries\": [{\"named_port_map\": {\"_a\": \"1\"}}]}", "{\"ttl\": -5}",
        "{\"Entries\": [{\"ipv4\": \"a\\u0000b\"}]}", "{\"Entries\": [{\"weight\": 1e3}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = (void *)1;
        int rc = zkc_zkns_parse(bad[i], strlen(bad[i]), &r);
        if (rc != ZKC_EBADDATA)
            fail_msg("%s: %d", bad[i], rc);
        assert_null(r);
        assert_true(strlen(zkc_errmsg()) > 0);
    }
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_zkns_parse("{}", 2, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_zkns_parse(NULL, 3, &r));
}

static void test_format_as_go(void **state)
{
    (void)state;
    zkc_zkns_record *r = parse("{\"Entries\": [{\"host\": \"h1\", \"port\": 0, "
                               "\"named_port_map\": {\"_vtocc\": 8101, \"_http\": 80}}]}");
    char *json = NULL;
    assert_int_equal(ZKC_OK, zkc_zkns_format(r, &json));
    assert_string_equal("{\n"
                        "  \"Entries\": [\n"
                        "    {\n"
                        "      \"host\": \"h1\",\n"
                        "      \"named_port_map\": {\n"
                        "        \"_http\": 80,\n"
                        "        \"_vtocc\": 8101\n"
                        "      },\n"
                        "      \"ipv4\": \"\"\n"
                        "    }\n"
                        "  ]\n"
                        "}",
                        json);
    /* and it reads back the same */
    zkc_zkns_record *back = parse(json);
    assert_int_equal(1, back->count);
    assert_string_equal("h1", back->v[0].host);
    assert_int_equal(2, back->v[0].nports);
    zkc_free(json);
    zkc_zkns_record_free(back);
    zkc_zkns_record_free(r);

    r = parse("{\"entries\": [{\"ipv4\": \"1.2.3.4\", \"port\": 5, \"ipv6\": \"::1\", "
              "\"priority\": 2, \"weight\": 3}], \"ttl\": 60}");
    assert_int_equal(ZKC_OK, zkc_zkns_format(r, &json));
    assert_string_equal("{\n"
                        "  \"Entries\": [\n"
                        "    {\n"
                        "      \"host\": \"\",\n"
                        "      \"port\": 5,\n"
                        "      \"named_port_map\": null,\n"
                        "      \"ipv4\": \"1.2.3.4\",\n"
                        "      \"ipv6\": \"::1\",\n"
                        "      \"priority\": 2,\n"
                        "      \"weight\": 3\n"
                        "    }\n"
                        "  ],\n"
                        "  \"ttl\": 60\n"
                        "}",
                        json);
    zkc_free(json);
    zkc_zkns_record_free(r);

    r = zkc_zkns_record_new();
    assert_int_equal(ZKC_OK, zkc_zkns_format(r, &json));
    assert_string_equal("{\n  \"Entries\": []\n}", json);
    zkc_free(json);
    zkc_zkns_record_free(r);
}

static void test_validate(void **state)
{
    (void)state;
    static const char *good[] = {
        "{\"Entries\": [{\"ipv4\": \"10.0.0.1\"}, {\"ipv4\": \"10.0.0.2\"}]}",
        "{\"Entries\": [{\"ipv6\": \"2001:db8::1\"}]}",
        "{\"Entries\": [{\"host\": \"db-1.example.com.\"}]}",
        "{\"Entries\": [{\"host\": \"h\", \"named_port_map\": {\"_http\": 80}}]}",
    };
    static const char *bad[] = {
        "{\"Entries\": [{\"ipv4\": \"10.0.0.300\"}]}",
        "{\"Entries\": [{\"ipv6\": \"::g\"}]}",
        "{\"Entries\": [{\"host\": \"a b\"}]}",
        "{\"Entries\": [{\"host\": \"a..b\"}]}",
        "{\"Entries\": [{\"host\": \"10.0.0.300\"}]}",
        "{\"Entries\": [{\"host\": \"h\", \"named_port_map\": {\"http\": 80}}]}",
        "{\"Entries\": [{\"host\": \"h\", \"named_port_map\": {\"_ht\\ttp\": 80}}]}",
        "{\"Entries\": [{\"host\": \"h\", \"ipv4\": \"1.2.3.4\"}]}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        zkc_zkns_record *r = parse(good[i]);
        if (zkc_zkns_validate(r) != ZKC_OK)
            fail_msg("%s: %s", good[i], zkc_errmsg());
        zkc_zkns_record_free(r);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zkc_zkns_record *r = parse(bad[i]);
        assert_int_equal(ZKC_EBADDATA, zkc_zkns_validate(r));
        assert_non_null(strstr(zkc_errmsg(), "zkns record"));
        zkc_zkns_record_free(r);
    }
    assert_int_equal(ZKC_EBADDATA, zkc_zkns_validate(NULL));
}

/* A scripted random source: returns the values in order, then 0. */
typedef struct script {
    const uint32_t *v;
    size_t n, i;
} script;

static uint32_t scripted(uint32_t bound, void *ud)
{
    script *s = ud;
    uint32_t r = s->i < s->n ? s->v[s->i++] : 0;
    assert_true(r < bound);
    return r;
}

static uint32_t always_zero(uint32_t bound, void *ud)
{
    (void)bound;
    (void)ud;
    return 0;
}

static void test_answers(void **state)
{
    (void)state;
    zkc_zkns_answers *a = NULL;
    zkc_zkns_record *r = parse("{\"Entries\": [{\"ipv4\": \"10.0.0.1\"}, {\"ipv4\": \"bogus\"}, "
                               "{\"ipv4\": \"10.0.0.3\"}]}");
    assert_int_equal(ZKC_OK, zkc_zkns_answers_for(r, ZKC_ZKNS_A, NULL, always_zero, NULL, &a));
    assert_int_equal(2, a->count);
    assert_int_equal(1, a->skipped);
    /* Fisher-Yates with j = 0 at each step: [x, y] -> [y, x] */
    assert_string_equal("10.0.0.3", a->v[0].target);
    assert_string_equal("10.0.0.1", a->v[1].target);
    assert_int_equal(ZKC_ZKNS_A, a->v[0].type);
    zkc_zkns_answers_free(a);
    assert_int_equal(ZKC_OK, zkc_zkns_answers_for(r, ZKC_ZKNS_AAAA, NULL, NULL, NULL, &a));
    assert_int_equal(0, a->count);
    zkc_zkns_answers_free(a);
    assert_int_equal(ZKC_OK, zkc_zkns_answers_for(r, ZKC_ZKNS_SRV, "_http", NULL, NULL, &a));
    assert_int_equal(0, a->count);
    zkc_zkns_answers_free(a);
    zkc_zkns_record_free(r);

    /* a CNAME answers A (the original's fallback), CNAME and ANY */
    r = parse("{\"Entries\": [{\"host\": \"db.example.com\"}]}");
    zkc_zkns_kind qs[] = {ZKC_ZKNS_A, ZKC_ZKNS_AAAA, ZKC_ZKNS_CNAME, ZKC_ZKNS_ANY};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(ZKC_OK, zkc_zkns_answers_for(r, qs[i], NULL, NULL, NULL, &a));
        assert_int_equal(1, a->count);
        assert_int_equal(ZKC_ZKNS_CNAME, a->v[0].type);
        assert_string_equal("db.example.com.", a->v[0].target);
        zkc_zkns_answers_free(a);
    }
    assert_int_equal(ZKC_OK, zkc_zkns_answers_for(r, ZKC_ZKNS_SRV, NULL, NULL, NULL, &a));
    assert_int_equal(0, a->count);
    zkc_zkns_answers_free(a);
    zkc_zkns_record_free(r);

    /* both families: ANY gives A and AAAA */
    r = parse("{\"Entries\": [{\"ipv4\": \"1.2.3.4\", \"ipv6\": \"::1\"}]}");
    assert_int_equal(ZKC_OK, zkc_zkns_answers_for(r, ZKC_ZKNS_ANY, NULL, NULL, NULL, &a));
    assert_int_equal(2, a->count);
    assert_int_equal(ZKC_ZKNS_A, a->v[0].type);
    assert_int_equal(ZKC_ZKNS_AAAA, a->v[1].type);
    assert_string_equal("::1", a->v[1].target);
    zkc_zkns_answers_free(a);
    zkc_zkns_record_free(r);

    /* SRV: entries with the named port, in order, priority and weight */
    r = parse("{\"Entries\": [{\"host\": \"h1\", \"named_port_map\": {\"_http\": 80}}, "
              "{\"host\": \"h2\", \"named_port_map\": {\"_grpc\": 90}}, "
              "{\"host\": \"h3.\", \"named_port_map\": {\"_http\": 81}, \"priority\": 5, "
              "\"weight\": 0}]}");
    assert_int_equal(ZKC_OK, zkc_zkns_answers_for(r, ZKC_ZKNS_ANY, "_http", NULL, NULL, &a));
    assert_int_equal(2, a->count);
    assert_string_equal("h1.", a->v[0].target);
    assert_int_equal(80, a->v[0].port);
    assert_int_equal(0, a->v[0].priority);
    assert_int_equal(1, a->v[0].weight);
    assert_string_equal("h3.", a->v[1].target);
    assert_int_equal(5, a->v[1].priority);
    assert_int_equal(0, a->v[1].weight);
    zkc_zkns_answers_free(a);
    assert_int_equal(ZKC_OK, zkc_zkns_answers_for(r, ZKC_ZKNS_A, "_http", NULL, NULL, &a));
    assert_int_equal(0, a->count);
    zkc_zkns_answers_free(a);
    assert_int_equal(ZKC_OK, zkc_zkns_answers_for(r, ZKC_ZKNS_ANY, NULL, NULL, NULL, &a));
    assert_int_equal(0, a->count);
    zkc_zkns_answers_free(a);
    zkc_zkns_record_free(r);

    assert_int_equal(ZKC_OK, zkc_zkns_answers_for(NULL, ZKC_ZKNS_ANY, NULL, NULL, NULL, &a));
    assert_int_equal(0, a->count);
    zkc_zkns_answers_free(a);
}

static void add(zkc_zkns_answers *a, const char *t, int prio, int weight)
{
    a->v = realloc(a->v, (a->count + 1) * sizeof *a->v);
    a->v[a->count].type = ZKC_ZKNS_SRV;
    a->v[a->count].target = strdup(t);
    a->v[a->count].port = 1;
    a->v[a->count].priority = prio;
    a->v[a->count].weight = weight;
    a->count++;
}

static void test_srv_order(void **state)
{
    (void)state;
    zkc_zkns_answers *a = calloc(1, sizeof *a);
    add(a, "p10-w5", 10, 5);
    add(a, "p0-w1", 0, 1);
    add(a, "p10-w0", 10, 0);
    add(a, "p0-w3", 0, 3);
    add(a, "p10-w1", 10, 1);
    /* priority 0: sum 4, r = 2: running sums 1 (p0-w1), 4 (p0-w3) -> p0-w3
     * first; then one left.  priority 10: zero weight first: sum 6, r = 0
     * picks p10-w0 (running sum 0 >= 0); then sum 6, r = 6 -> p10-w1
     * (running 5, 6). */
    uint32_t vals[] = {2, 0, 6};
    script s = {vals, 3, 0};
    zkc_zkns_srv_order(a, scripted, &s);
    const char *want[] = {"p0-w3", "p0-w1", "p10-w0", "p10-w1", "p10-w5"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(want[i], a->v[i].target);
    assert_int_equal(3, s.i);

    /* with a real random source: priorities always in order, and over many
     * shuffles the heavier weight comes first more often */
    int heavy_first = 0;
    for (int round = 0; round < 400; round++) {
        zkc_zkns_srv_order(a, NULL, NULL);
        for (size_t i = 1; i < a->count; i++)
            assert_true(a->v[i - 1].priority <= a->v[i].priority);
        size_t w5 = 0, w1 = 0;
        for (size_t i = 0; i < a->count; i++) {
            if (strcmp(a->v[i].target, "p10-w5") == 0)
                w5 = i;
            if (strcmp(a->v[i].target, "p10-w1") == 0)
                w1 = i;
        }
        if (w5 < w1)
            heavy_first++;
    }
    /* about 5 in 6; far above one half */
    assert_true(heavy_first > 240);
    zkc_zkns_answers_free(a);
    zkc_zkns_srv_order(NULL, NULL, NULL);
}

static void test_names(void **state)
{
    (void)state;
    char *d = NULL;
    assert_int_equal(ZKC_OK, zkc_zkns_domain_normalize("zkns.Test.zk.", &d));
    assert_string_equal(".zkns.test.zk", d);
    zkc_free(d);
    assert_int_equal(ZKC_OK, zkc_zkns_domain_normalize(".zkns.test.zk", &d));
    assert_string_equal(".zkns.test.zk", d);
    zkc_free(d);
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_zkns_domain_normalize(".", &d));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_zkns_domain_normalize("a..b", &d));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_zkns_domain_normalize("a b", &d));

    static const struct {
        const char *qname, *path, *port;
    } ok[] = {
        {"a.zkns.test.zk", "/zk/test/zkns/a", NULL},
        {"x.y.zkns.test.zk", "/zk/test/zkns/y/x", NULL},
        {"X.Y.ZKNS.test.zk.", "/zk/test/zkns/y/x", NULL},
        {"_http.srv.zkns.test.zk", "/zk/test/zkns/srv", "_http"},
        {"_HTTP.b.a.zkns.test.zk", "/zk/test/zkns/a/b", "_http"},
        {"_http._tcp.srv.zkns.test.zk", "/zk/test/zkns/srv/_tcp", "_http"},
        {"_http.zkns.test.zk", "/zk/test/zkns", "_http"},
        {"zkns.test.zk", "/zk/test/zkns", NULL},
        {"zkns.test.zk.", "/zk/test/zkns", NULL},
        {"*.zkns.test.zk", "/zk/test/zkns/*", NULL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *path = NULL, *port = NULL;
        int rc = zkc_zkns_name_to_path("/zk/test/zkns", ".zkns.test.zk", ok[i].qname, &path,
                                       &port);
        if (rc != ZKC_OK)
            fail_msg("%s: %d %s", ok[i].qname, rc, zkc_errmsg());
        assert_string_equal(ok[i].path, path);
        if (ok[i].port == NULL)
            assert_null(port);
        else
            assert_string_equal(ok[i].port, port);
        zkc_free(path);
        zkc_free(port);
    }
    static const char *outside[] = {
        "zkns.test.zk.other", "test.zk", "xzkns.test.zk", "", ".", "a..zkns.test.zk",
        ".zkns.test.zk", "a b.zkns.test.zk", "a/b.zkns.test.zk", "a\tb.zkns.test.zk",
        "\xff.zkns.test.zk", "_.zkns.test.zk.", "a.zkns.test.zk..",
    };
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        char *path = (void *)1, *port = (void *)1;
        int rc = zkc_zkns_name_to_path("/zk/test/zkns", "zkns.test.zk", outside[i], &path, &port);
        if (rc == ZKC_OK) {
            /* "_" alone is a port label with no name after it: fine */
            assert_string_equal("_.zkns.test.zk.", outside[i]);
            zkc_free(path);
            zkc_free(port);
            continue;
        }
        assert_int_equal(ZKC_ENONODE, rc);
        assert_null(path);
    }
    /* a root of "/" */
    char *path = NULL;
    assert_int_equal(ZKC_OK, zkc_zkns_name_to_path("/", "d", "b.a.d", &path, NULL));
    assert_string_equal("/a/b", path);
    zkc_free(path);
    assert_int_equal(ZKC_OK, zkc_zkns_name_to_path("/", "d", "D.", &path, NULL));
    assert_string_equal("/", path);
    zkc_free(path);
}

static void test_read_write_lookup(void **state)
{
    (void)state;
    zkc_fake_tree *t = zkc_fake_tree_new();
    assert_int_equal(ZKC_OK,
                     zkc_fake_tree_load_json_string(
                         t, "{\"/zk/test/zkns/a\": {\"Entries\": [{\"ipv4\": \"10.0.0.1\"}]},"
                            " \"/zk/test/zkns/c\": {\"Entries\": [{\"host\": \"a.example.\", "
                            "\"port\": 7}]},"
                            " \"/zk/test/zkns/bad\": \"not json\","
                            " \"/zk/test/zkns/empty\": \"\"}"));
    zkc_conn *c = NULL;
    assert_int_equal(ZKC_OK, zkc_fake_open(t, &c));

    zkc_zkns_record *r = NULL;
    assert_int_equal(ZKC_OK, zkc_zkns_read(c, "/zk/test/zkns/a", &r));
    assert_true(zkc_zkns_is_a(r));
    assert_int_equal(0, r->version);
    zkc_zkns_record_free(r);
    r = (void *)1;
    assert_int_equal(ZKC_OK, zkc_zkns_read(c, "/zk/test/zkns/empty", &r));
    assert_null(r);
    assert_int_equal(ZKC_OK, zkc_zkns_read(c, "/zk/test", &r));
    assert_null(r);
    assert_int_equal(ZKC_EBADDATA, zkc_zkns_read(c, "/zk/test/zkns/bad", &r));
    assert_non_null(strstr(zkc_errmsg(), "/zk/test/zkns/bad"));
    assert_int_equal(ZKC_ENONODE, zkc_zkns_read(c, "/zk/test/zkns/none", &r));

    /* write: validated, created with parents, ACL world FILE, then set */
    zkc_zkns_record *w = zkc_zkns_record_new();
    zkc_zkns_port ports[] = {{"_http", 80}, {"_grpc", 90}};
    zkc_zkns_addr e1 = {"h1.example", 0, 2, ports, NULL, NULL, 1, -1};
    zkc_zkns_addr e2 = {"h2.example", 0, 1, ports, NULL, NULL, 0, -1};
    assert_int_equal(ZKC_OK, zkc_zkns_record_add(w, &e1));
    assert_int_equal(ZKC_OK, zkc_zkns_record_add(w, &e2));
    assert_int_equal(ZKC_OK, zkc_zkns_write(c, "/zk/test/zkns/svc/web", w, -1));
    zkc_acl_list *acl = NULL;
    assert_int_equal(ZKC_OK, zkc_get_acl(c, "/zk/test/zkns/svc/web", &acl, NULL));
    assert_int_equal(1, acl->count);
    assert_int_equal(ZKC_PERM_FILE, acl->v[0].perms);
    zkc_acl_list_free(acl);
    assert_int_equal(ZKC_OK, zkc_zkns_write(c, "/zk/test/zkns/svc/web", w, -1));
    assert_int_equal(ZKC_OK, zkc_zkns_read(c, "/zk/test/zkns/svc/web", &r));
    assert_int_equal(1, r->version);
    assert_int_equal(2, r->count);
    assert_int_equal(1, r->v[0].priority);
    assert_int_equal(ZKC_EBADVERSION, zkc_zkns_write(c, "/zk/test/zkns/svc/web", w, 0));
    assert_int_equal(ZKC_OK, zkc_zkns_write(c, "/zk/test/zkns/svc/web", w, 1));
    zkc_zkns_record_free(r);

    zkc_zkns_addr bad = {"h1", 0, 0, NULL, "1.2.3.4", NULL, -1, -1};
    zkc_zkns_record *wb = zkc_zkns_record_new();
    assert_int_equal(ZKC_OK, zkc_zkns_record_add(wb, &bad));
    assert_int_equal(ZKC_EBADDATA, zkc_zkns_write(c, "/zk/test/zkns/svc/bad", wb, -1));
    assert_non_null(strstr(zkc_errmsg(), "/zk/test/zkns/svc/bad"));
    bool exists = true;
    assert_int_equal(ZKC_OK, zkc_exists(c, "/zk/test/zkns/svc/bad", &exists, NULL, NULL));
    assert_false(exists);
    zkc_zkns_record_free(wb);

    /* LookupName */
    zkc_zkns_answers *a = NULL;
    assert_int_equal(ZKC_OK, zkc_zkns_lookup_name(c, "/zk/test/zkns/svc/web:_http", always_zero,
                                                  NULL, &a));
    assert_int_equal(2, a->count);
    assert_string_equal("h2.example.", a->v[0].target); /* priority 0 first */
    assert_int_equal(80, a->v[0].port);
    assert_string_equal("h1.example.", a->v[1].target);
    zkc_zkns_answers_free(a);
    assert_int_equal(ZKC_EBADDATA,
                     zkc_zkns_lookup_name(c, "/zk/test/zkns/svc/web:_grpc", NULL, NULL, &a));
    assert_non_null(strstr(zkc_errmsg(), "no such named port"));
    assert_int_equal(ZKC_EBADDATA, zkc_zkns_lookup_name(c, "/zk/test/zkns/svc/web", NULL, NULL, &a));
    assert_int_equal(ZKC_OK, zkc_zkns_lookup_name(c, "/zk/test/zkns/a", NULL, NULL, &a));
    assert_int_equal(1, a->count);
    assert_string_equal("10.0.0.1", a->v[0].target);
    zkc_zkns_answers_free(a);
    assert_int_equal(ZKC_OK, zkc_zkns_lookup_name(c, "/zk/test/zkns/c", NULL, NULL, &a));
    assert_int_equal(1, a->count);
    assert_string_equal("a.example.", a->v[0].target);
    assert_int_equal(7, a->v[0].port);
    zkc_zkns_answers_free(a);
    assert_int_equal(ZKC_EBADDATA, zkc_zkns_lookup_name(c, "/zk/test/zkns/a:_http", NULL, NULL, &a));
    assert_int_equal(ZKC_ENONODE, zkc_zkns_lookup_name(c, "/zk/test/zkns/empty", NULL, NULL, &a));
    assert_int_equal(ZKC_ENONODE, zkc_zkns_lookup_name(c, "/zk/test/zkns/none", NULL, NULL, &a));
    assert_non_null(strstr(zkc_errmsg(), "/zk/test/zkns/none"));
    assert_null(a);

    zkc_zkns_record_free(w);
    zkc_conn_close(c);
    zkc_fake_tree_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_original), cmocka_unit_test(test_parse_empty_and_bad),
        cmocka_unit_test(test_format_as_go),   cmocka_unit_test(test_validate),
        cmocka_unit_test(test_answers),        cmocka_unit_test(test_srv_order),
        cmocka_unit_test(test_names),          cmocka_unit_test(test_read_write_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
