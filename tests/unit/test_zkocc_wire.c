/* The zkocc wire protocol (zkocc_wire.h): exact bytes of every document
 * against the layout reference-behavior.md section 7 gives, built here by
 * hand from the BSON spec (not with libbson), decoders' leniency and
 * limits, frames, the handshake and the incremental reader. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zkcell/zkcell.h>
#include <zkcell/zkocc_wire.h>

/* ---- a tiny BSON writer, from the spec, for expected bytes ---- */

typedef struct bb {
    uint8_t d[4096];
    size_t n;
} bb;

static void raw(bb *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof b->d);
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void u8(bb *b, uint8_t v) { raw(b, &v, 1); }
static void le32(bb *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    raw(b, x, 4);
}
static void le64(bb *b, uint64_t v)
{
    le32(b, (uint32_t)v);
    le32(b, (uint32_t)(v >> 32));
}
static void key(bb *b, uint8_t type, const char *k)
{
    u8(b, type);
    raw(b, k, strlen(k) + 1);
}
static void e_bin(bb *b, const char *k, const char *s, size_t n)
{
    key(b, 0x05, k);
    le32(b, (uint32_t)n);
    u8(b, 0);
    raw(b, s, n);
}
static void e_str(bb *b, const char *k, const char *s)
{
    key(b, 0x02, k);
    le32(b, (uint32_t)strlen(s) + 1);
    raw(b, s, strlen(s) + 1);
}
static void e_i32(bb *b, const char *k, int32_t v) { key(b, 0x10, k); le32(b, (uint32_t)v); }
static void e_i64(bb *b, const char *k, int64_t v) { key(b, 0x12, k); le64(b, (uint64_t)v); }
static void e_dt(bb *b, const char *k, int64_t v) { key(b, 0x09, k); le64(b, (uint64_t)v); }
static void e_bool(bb *b, const char *k, bool v) { key(b, 0x08, k); u8(b, v); }
static void e_null(bb *b, const char *k) { key(b, 0x0A, k); }
/* Start and end a document: start returns its offset. */
static size_t d_begin(bb *b)
{
    size_t at = b->n;
    le32(b, 0);
    return at;
}
static void d_end(bb *b, size_t at)
{
    u8(b, 0);
    uint32_t n = (uint32_t)(b->n - at);
    uint8_t x[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    memcpy(b->d + at, x, 4);
}

static const zkc_stat stat1 = {
    .czxid = 0x100000002LL, .mzxid = 0x100000003LL, .ctime = 1700000000123LL,
    .mtime = 1700000000456LL, .version = 7, .cversion = 4, .aversion = 1,
    .ephemeral_owner = 0x1234567890LL, .data_length = 3, .num_children = 2, .pzxid = 0x100000009LL,
};

static void stat_bytes(bb *b, const zkc_stat *s)
{
    key(b, 0x03, "Stat");
    size_t at = d_begin(b);
    e_i64(b, "Czxid", s->czxid);
    e_i64(b, "Mzxid", s->mzxid);
    e_dt(b, "CTime", s->ctime);
    e_dt(b, "MTime", s->mtime);
    e_i32(b, "Version", s->version);
    e_i32(b, "CVersion", s->cversion);
    e_i32(b, "AVersion", s->aversion);
    e_i64(b, "EphemeralOwner", s->ephemeral_owner);
    e_i32(b, "DataLength", s->data_length);
    e_i32(b, "NumChildren", s->num_children);
    e_i64(b, "Pzxid", s->pzxid);
    d_end(b, at);
}

static void assert_buf(const bb *want, const zkc_wire_buf *got)
{
    assert_int_equal(want->n, got->len);
    assert_memory_equal(want->d, got->data, want->n);
}

/* ---- encoders: exact bytes ---- */

static void test_path_bytes(void **state)
{
    (void)state;
    static const uint8_t want[] = {0x15, 0, 0, 0, 0x05, 'P', 'a', 't', 'h', 0, 5, 0, 0, 0,
                                   0,    '/', 'z', 'k', '/', 'a', 0};
    zkc_wire_buf b = {0};
    assert_int_equal(ZKC_OK, zkc_wire_put_path(&b, "/zk/a", 5));
    assert_int_equal(sizeof want, b.len);
    assert_memory_equal(want, b.data, sizeof want);
    const char *p;
    size_t n;
    assert_int_equal(ZKC_OK, zkc_wire_decode_path(b.data, b.len, &p, &n));
    assert_int_equal(5, n);
    assert_memory_equal("/zk/a", p, 5);
    zkc_wire_buf_free(&b);
}

static void test_headers_bytes(void **state)
{
    (void)state;
    bb w = {0};
    size_t at = d_begin(&w);
    e_bin(&w, "ServiceMethod", "ZkReader.Get", 12);
    e_i64(&w, "Seq", 42);
    d_end(&w, at);
    assert_int_equal(50, w.n);
    zkc_wire_buf b = {0};
    assert_int_equal(ZKC_OK, zkc_wire_put_request_header(&b, "ZkReader.Get", 12, 42));
    assert_buf(&w, &b);

    bb r = {0};
    at = d_begin(&r);
    e_bin(&r, "ServiceMethod", "ZkReader.Get", 12);
    e_i64(&r, "Seq", 42);
    e_bin(&r, "Error", "boom", 4);
    d_end(&r, at);
    b.len = 0;
    assert_int_equal(ZKC_OK, zkc_wire_put_reply_header(&b, "ZkReader.Get", 12, 42, "boom", 4));
    assert_buf(&r, &b);
    zkc_wire_header h;
    assert_int_equal(ZKC_OK, zkc_wire_decode_header(b.data, b.len, &h));
    assert_int_equal(42, h.seq);
    assert_int_equal(12, h.method_len);
    assert_memory_equal("ZkReader.Get", h.method, 12);
    assert_int_equal(4, h.error_len);
    assert_memory_equal("boom", h.error, 4);

    /* No error: Error is present and empty. */
    b.len = 0;
    assert_int_equal(ZKC_OK, zkc_wire_put_reply_header(&b, "M", 1, -1, NULL, 0));
    assert_int_equal(ZKC_OK, zkc_wire_decode_header(b.data, b.len, &h));
    assert_int_equal(0, h.error_len);
    assert_int_equal(-1, h.seq);

    b.len = 0;
    assert_int_equal(ZKC_OK, zkc_wire_put_empty(&b));
    assert_int_equal(5, b.len);
    assert_memory_equal("\x05\0\0\0\0", b.data, 5);
    zkc_wire_buf_free(&b);
}

static void node_bytes(bb *w, const char *path, const char *data, size_t dlen,
                       const char *const *children, size_t nch, bool cached, bool stale)
{
    size_t at = d_begin(w);
    e_bin(w, "Path", path, strlen(path));
    e_bin(w, "Data", data, dlen);
    stat_bytes(w, &stat1);
    if (children == NULL) {
        e_null(w, "Children");
    } else {
        key(w, 0x04, "Children");
        size_t aat = d_begin(w);
        for (size_t i = 0; i < nch; i++) {
            char k[24];
            snprintf(k, sizeof k, "%u", (unsigned)i);
            e_bin(w, k, children[i], strlen(children[i]));
        }
        d_end(w, aat);
    }
    e_bool(w, "Cached", cached);
    e_bool(w, "Stale", stale);
    d_end(w, at);
}

static void test_node_bytes(void **state)
{
    (void)state;
    /* A Get reply: Children null, binary data with a NUL inside. */
    bb w = {0};
    node_bytes(&w, "/zk/c1/x", "a\0b", 3, NULL, 0, true, false);
    zkc_wire_node n = {.path = (char *)"/zk/c1/x", .path_len = 8, .data = (char *)"a\0b",
                       .data_len = 3, .stat = stat1, .children = NULL, .cached = true};
    zkc_wire_buf b = {0};
    assert_int_equal(ZKC_OK, zkc_wire_put_node(&b, &n));
    assert_buf(&w, &b);

    zkc_wire_node *d = NULL;
    assert_int_equal(ZKC_OK, zkc_wire_decode_node(b.data, b.len, NULL, &d));
    assert_string_equal("/zk/c1/x", d->path);
    assert_int_equal(3, d->data_len);
    assert_memory_equal("a\0b", d->data, 3);
    assert_memory_equal(&stat1, &d->stat, sizeof stat1);
    assert_null(d->children);
    assert_true(d->cached);
    assert_false(d->stale);
    zkc_wire_node_free(d);

    /* Flags patched in place. */
    assert_int_equal(ZKC_OK, zkc_wire_node_set_flags(b.data, b.len, false, true));
    bb w2 = {0};
    node_bytes(&w2, "/zk/c1/x", "a\0b", 3, NULL, 0, false, true);
    assert_buf(&w2, &b);
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_wire_node_set_flags(b.data, b.len - 1, true, true));

    /* A Children reply: empty data, an array of binary names. */
    const char *kids[] = {"a", "bb"};
    zkc_strings ks = {2, (char **)kids};
    bb w3 = {0};
    node_bytes(&w3, "/zk/c1", "", 0, kids, 2, false, false);
    zkc_wire_node c = {.path = (char *)"/zk/c1", .path_len = 6, .data = NULL, .data_len = 0,
                       .stat = stat1, .children = &ks};
    b.len = 0;
    assert_int_equal(ZKC_OK, zkc_wire_put_node(&b, &c));
    assert_buf(&w3, &b);
    assert_int_equal(ZKC_OK, zkc_wire_decode_node(b.data, b.len, NULL, &d));
    assert_non_null(d->children);
    assert_int_equal(2, d->children->count);
    assert_string_equal("bb", d->children->v[1]);
    zkc_wire_node_free(d);
    zkc_wire_buf_free(&b);
}

static void test_pathv_nodev(void **state)
{
    (void)state;
    const char *paths[] = {"/zk/a", "/zk/b/c"};
    bb w = {0};
    size_t at = d_begin(&w);
    key(&w, 0x04, "Paths");
    size_t aat = d_begin(&w);
    e_bin(&w, "0", "/zk/a", 5);
    e_bin(&w, "1", "/zk/b/c", 7);
    d_end(&w, aat);
    d_end(&w, at);
    zkc_wire_buf b = {0};
    assert_int_equal(ZKC_OK, zkc_wire_put_pathv(&b, paths, 2));
    assert_buf(&w, &b);
    zkc_strings *s = NULL;
    assert_int_equal(ZKC_OK, zkc_wire_decode_pathv(b.data, b.len, NULL, &s));
    assert_int_equal(2, s->count);
    assert_string_equal("/zk/b/c", s->v[1]);
    zkc_strings_free(s);

    /* A nil list is null; it decodes as no paths. */
    b.len = 0;
    assert_int_equal(ZKC_OK, zkc_wire_put_pathv(&b, NULL, 0));
    assert_int_equal(4 + 1 + 6 + 1, b.len);
    assert_int_equal(0x0A, b.data[4]);
    assert_int_equal(ZKC_OK, zkc_wire_decode_pathv(b.data, b.len, NULL, &s));
    assert_int_equal(0, s->count);
    zkc_strings_free(s);

    /* ZkNodeV: the encoded one and the one spliced from raw documents
     * are the same bytes, and both match the layout. */
    zkc_wire_node nodes[2] = {
        {.path = (char *)"/zk/a", .path_len = 5, .data = (char *)"x", .data_len = 1, .stat = stat1, .cached = true},
        {.path = (char *)"/zk/b", .path_len = 5, .data = (char *)"", .data_len = 0, .stat = stat1, .stale = true},
    };
    bb v = {0};
    at = d_begin(&v);
    key(&v, 0x04, "Nodes");
    aat = d_begin(&v);
    key(&v, 0x03, "0");
    node_bytes(&v, "/zk/a", "x", 1, NULL, 0, true, false);
    key(&v, 0x03, "1");
    node_bytes(&v, "/zk/b", "", 0, NULL, 0, false, true);
    d_end(&v, aat);
    d_end(&v, at);
    b.len = 0;
    assert_int_equal(ZKC_OK, zkc_wire_put_nodev(&b, nodes, 2));
    assert_buf(&v, &b);

    zkc_wire_buf n0 = {0}, n1 = {0}, raw_v = {0};
    assert_int_equal(ZKC_OK, zkc_wire_put_node(&n0, &nodes[0]));
    assert_int_equal(ZKC_OK, zkc_wire_put_node(&n1, &nodes[1]));
    const uint8_t *docs[2] = {n0.data, n1.data};
    size_t lens[2] = {n0.len, n1.len};
    assert_int_equal(ZKC_OK, zkc_wire_put_nodev_raw(&raw_v, docs, lens, 2));
    assert_buf(&v, &raw_v);

    zkc_wire_node *dv = NULL;
    size_t count = 0;
    assert_int_equal(ZKC_OK, zkc_wire_decode_nodev(b.data, b.len, NULL, &dv, &count));
    assert_int_equal(2, count);
    assert_string_equal("/zk/b", dv[1].path);
    assert_true(dv[1].stale);
    assert_true(dv[0].cached);
    assert_memory_equal(&stat1, &dv[1].stat, sizeof stat1);
    zkc_wire_nodes_free(dv, count);

    /* Empty raw list, and null Nodes. */
    raw_v.len = 0;
    assert_int_equal(ZKC_OK, zkc_wire_put_nodev_raw(&raw_v, NULL, NULL, 0));
    assert_int_equal(ZKC_OK, zkc_wire_decode_nodev(raw_v.data, raw_v.len, NULL, &dv, &count));
    assert_int_equal(0, count);
    zkc_wire_nodes_free(dv, count);
    b.len = 0;
    assert_int_equal(ZKC_OK, zkc_wire_put_nodev(&b, NULL, 0));
    assert_int_equal(ZKC_OK, zkc_wire_decode_nodev(b.data, b.len, NULL, &dv, &count));
    assert_int_equal(0, count);
    assert_null(dv);

    zkc_wire_buf_free(&b);
    zkc_wire_buf_free(&n0);
    zkc_wire_buf_free(&n1);
    zkc_wire_buf_free(&raw_v);
}

/* ---- decoders: leniency and errors ---- */

static void test_decode_lenient(void **state)
{
    (void)state;
    /* Header: 0x02 string, 0x10 Seq, an unknown key, keys in another order. */
    bb w = {0};
    size_t at = d_begin(&w);
    e_i32(&w, "Seq", 9);
    e_str(&w, "Extra", "ignored");
    e_str(&w, "ServiceMethod", "ZkReader.Children");
    e_null(&w, "Error");
    d_end(&w, at);
    zkc_wire_header h;
    assert_int_equal(ZKC_OK, zkc_wire_decode_header(w.d, w.n, &h));
    assert_int_equal(9, h.seq);
    assert_int_equal(17, h.method_len);
    assert_memory_equal("ZkReader.Children", h.method, 17);
    assert_int_equal(0, h.error_len);

    /* Node: 0x02 strings, 0x12 for int32 fields, nulls, unknown keys,
     * a bool given as an int. */
    bb n = {0};
    at = d_begin(&n);
    e_str(&n, "Path", "/zk/c/p");
    e_null(&n, "Data");
    e_i64(&n, "Unknown", 5);
    key(&n, 0x03, "Stat");
    size_t sat = d_begin(&n);
    e_i64(&n, "Version", 3);
    e_i32(&n, "Czxid", 77);
    e_null(&n, "MTime");
    e_str(&n, "Whatever", "x");
    d_end(&n, sat);
    key(&n, 0x04, "Children");
    size_t aat = d_begin(&n);
    e_str(&n, "0", "k1");
    e_bin(&n, "1", "k2", 2);
    d_end(&n, aat);
    e_i32(&n, "Cached", 1);
    e_null(&n, "Stale");
    d_end(&n, at);
    zkc_wire_node *d = NULL;
    assert_int_equal(ZKC_OK, zkc_wire_decode_node(n.d, n.n, NULL, &d));
    assert_string_equal("/zk/c/p", d->path);
    assert_int_equal(0, d->data_len);
    assert_int_equal(3, d->stat.version);
    assert_int_equal(77, d->stat.czxid);
    assert_int_equal(0, d->stat.mtime);
    assert_int_equal(2, d->children->count);
    assert_string_equal("k1", d->children->v[0]);
    assert_true(d->cached);
    assert_false(d->stale);
    zkc_wire_node_free(d);
}

static void test_decode_errors(void **state)
{
    (void)state;
    zkc_wire_header h;
    /* Missing Seq, missing method. */
    bb w = {0};
    size_t at = d_begin(&w);
    e_bin(&w, "ServiceMethod", "x", 1);
    d_end(&w, at);
    assert_int_equal(ZKC_EPROTO, zkc_wire_decode_header(w.d, w.n, &h));
    assert_non_null(strstr(zkc_errmsg(), "Seq"));
    /* Seq of the wrong type. */
    bb t = {0};
    at = d_begin(&t);
    e_bin(&t, "ServiceMethod", "x", 1);
    e_bin(&t, "Seq", "1", 1);
    d_end(&t, at);
    assert_int_equal(ZKC_EPROTO, zkc_wire_decode_header(t.d, t.n, &h));
    assert_non_null(strstr(zkc_errmsg(), "0x05"));
    /* Every truncation of a valid document fails cleanly. */
    for (size_t len = 0; len < t.n; len++)
        assert_int_equal(ZKC_EPROTO, zkc_wire_decode_header(t.d, len, &h));
    /* An inner length that lies. */
    bb l = {0};
    at = d_begin(&l);
    e_bin(&l, "Path", "/zk/a", 5);
    d_end(&l, at);
    l.d[10] = 0xff; /* binary length */
    const char *p;
    size_t pn;
    assert_int_equal(ZKC_EPROTO, zkc_wire_decode_path(l.d, l.n, &p, &pn));
    /* A path with a NUL, and no Path at all. */
    bb z = {0};
    at = d_begin(&z);
    e_bin(&z, "Path", "/zk\0a", 5);
    d_end(&z, at);
    assert_int_equal(ZKC_EPROTO, zkc_wire_decode_path(z.d, z.n, &p, &pn));
    assert_int_equal(ZKC_EPROTO, zkc_wire_decode_path("\x05\0\0\0\0", 5, &p, &pn));
    /* An int64 that does not fit Version. */
    bb v = {0};
    at = d_begin(&v);
    key(&v, 0x03, "Stat");
    size_t sat = d_begin(&v);
    e_i64(&v, "Version", (int64_t)1 << 40);
    d_end(&v, sat);
    d_end(&v, at);
    zkc_wire_node *node = NULL;
    assert_int_equal(ZKC_EPROTO, zkc_wire_decode_node(v.d, v.n, NULL, &node));
    assert_non_null(strstr(zkc_errmsg(), "Version"));
    /* Array limit. */
    const char *paths[] = {"/a", "/b", "/c"};
    zkc_wire_buf b = {0};
    assert_int_equal(ZKC_OK, zkc_wire_put_pathv(&b, paths, 3));
    zkc_wire_limits lim = {0, 2};
    zkc_strings *s = NULL;
    assert_int_equal(ZKC_EPROTO, zkc_wire_decode_pathv(b.data, b.len, &lim, &s));
    assert_non_null(strstr(zkc_errmsg(), "more than 2"));
    lim.max_array = 3;
    assert_int_equal(ZKC_OK, zkc_wire_decode_pathv(b.data, b.len, &lim, &s));
    zkc_strings_free(s);
    /* Paths of the wrong type. */
    bb q = {0};
    at = d_begin(&q);
    e_i32(&q, "Paths", 1);
    d_end(&q, at);
    assert_int_equal(ZKC_EPROTO, zkc_wire_decode_pathv(q.d, q.n, NULL, &s));
    zkc_wire_buf_free(&b);
}

/* ---- frames, handshake, reader ---- */

static void frame_bytes(zkc_wire_buf *b, int64_t seq, const char *path)
{
    assert_int_equal(ZKC_OK, zkc_wire_put_request_header(b, "ZkReader.Get", 12, seq));
    assert_int_equal(ZKC_OK, zkc_wire_put_path(b, path, strlen(path)));
}

static void test_frames(void **state)
{
    (void)state;
    zkc_wire_buf b = {0};
    frame_bytes(&b, 1, "/zk/a");
    size_t one = b.len;
    frame_bytes(&b, 2, "/zk/bb");
    zkc_wire_frame f;
    size_t used;
    for (size_t len = 0; len < one; len++)
        assert_int_equal(ZKC_WIRE_MORE, zkc_wire_frame_parse(b.data, len, NULL, &f, &used));
    assert_int_equal(ZKC_OK, zkc_wire_frame_parse(b.data, b.len, NULL, &f, &used));
    assert_int_equal(one, used);
    assert_int_equal(50, f.header_len);
    assert_int_equal(one - 50, f.body_len);

    /* A length below 5, above the limit, a missing NUL. */
    uint8_t bad[8] = {4, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(ZKC_EPROTO, zkc_wire_frame_parse(bad, 8, NULL, &f, &used));
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(ZKC_EPROTO, zkc_wire_frame_parse(huge, 4, NULL, &f, &used));
    assert_non_null(strstr(zkc_errmsg(), "limit"));
    zkc_wire_limits lim = {64, 0};
    assert_int_equal(ZKC_OK, zkc_wire_frame_parse(b.data, b.len, &lim, &f, &used));
    lim.max_doc = 40;
    assert_int_equal(ZKC_EPROTO, zkc_wire_frame_parse(b.data, b.len, &lim, &f, &used));
    uint8_t nonul[5] = {5, 0, 0, 0, 1};
    assert_int_equal(ZKC_EPROTO, zkc_wire_frame_parse(nonul, 5, NULL, &f, &used));

    /* The reader, fed one byte at a time, gives both frames. */
    zkc_wire_reader *r = NULL;
    assert_int_equal(ZKC_OK, zkc_wire_reader_new(NULL, &r));
    int got = 0;
    for (size_t i = 0; i < b.len; i++) {
        assert_int_equal(ZKC_OK, zkc_wire_reader_feed(r, b.data + i, 1));
        int rc;
        while ((rc = zkc_wire_reader_next(r, &f)) == ZKC_OK) {
            zkc_wire_header h;
            assert_int_equal(ZKC_OK, zkc_wire_decode_header(f.header, f.header_len, &h));
            assert_int_equal(got + 1, h.seq);
            got++;
        }
        assert_int_equal(ZKC_WIRE_MORE, rc);
    }
    assert_int_equal(2, got);
    assert_int_equal(0, zkc_wire_reader_pending(r));
    /* Through space/commit, pipelined in one read. */
    void *sp;
    size_t cap;
    assert_int_equal(ZKC_OK, zkc_wire_reader_space(r, b.len, &sp, &cap));
    assert_true(cap >= b.len);
    memcpy(sp, b.data, b.len);
    zkc_wire_reader_commit(r, b.len);
    assert_int_equal(ZKC_OK, zkc_wire_reader_next(r, &f));
    assert_int_equal(ZKC_OK, zkc_wire_reader_next(r, &f));
    assert_int_equal(ZKC_WIRE_MORE, zkc_wire_reader_next(r, &f));
    /* A framing error breaks it for good. */
    assert_int_equal(ZKC_OK, zkc_wire_reader_feed(r, bad, 8));
    assert_int_equal(ZKC_EPROTO, zkc_wire_reader_next(r, &f));
    assert_int_equal(ZKC_EPROTO, zkc_wire_reader_next(r, &f));
    zkc_wire_reader_free(r);
    zkc_wire_buf_free(&b);
}

static void test_handshake(void **state)
{
    (void)state;
    size_t n;
    const char *req = ZKC_WIRE_CONNECT_REQUEST;
    assert_int_equal(ZKC_OK, zkc_wire_http_head(req, strlen(req), &n));
    assert_int_equal(strlen(req), n);
    assert_int_equal(ZKC_WIRE_MORE, zkc_wire_http_head(req, strlen(req) - 1, &n));
    const char *crlf = "HTTP/1.0 200 Connected to Go RPC\r\n\r\nXYZ";
    assert_int_equal(ZKC_OK, zkc_wire_http_head(crlf, strlen(crlf), &n));
    assert_int_equal(strlen(crlf) - 3, n);
    assert_int_equal(ZKC_OK, zkc_wire_check_connect_reply(crlf, n));
    const char *rep = ZKC_WIRE_CONNECT_REPLY;
    assert_int_equal(ZKC_OK, zkc_wire_check_connect_reply(rep, strlen(rep)));
    const char *nf = "HTTP/1.0 404 Not Found\n\n";
    assert_int_equal(ZKC_EPROTO, zkc_wire_check_connect_reply(nf, strlen(nf)));
    assert_string_equal("unexpected HTTP response: HTTP/1.0 404 Not Found", zkc_errmsg());
    const char *longer = "HTTP/1.0 200 Connected to Go RPC!\n\n";
    assert_int_equal(ZKC_EPROTO, zkc_wire_check_connect_reply(longer, strlen(longer)));
    char *big = malloc(ZKC_WIRE_MAX_HTTP_HEAD + 10);
    memset(big, 'a', ZKC_WIRE_MAX_HTTP_HEAD + 10);
    assert_int_equal(ZKC_EPROTO, zkc_wire_http_head(big, ZKC_WIRE_MAX_HTTP_HEAD + 10, &n));
    free(big);

    zkc_wire_reader *r = NULL;
    assert_int_equal(ZKC_OK, zkc_wire_reader_new(NULL, &r));
    assert_int_equal(ZKC_OK, zkc_wire_reader_feed(r, crlf, strlen(crlf)));
    const char *head;
    assert_int_equal(ZKC_OK, zkc_wire_reader_head(r, &head, &n));
    assert_int_equal(ZKC_OK, zkc_wire_check_connect_reply(head, n));
    assert_int_equal(3, zkc_wire_reader_pending(r));
    zkc_wire_reader_free(r);
}

static void test_error_code(void **state)
{
    (void)state;
    const char *e = "zkocc: get /zk/c1/x: node does not exist [ENONODE]";
    assert_int_equal(ZKC_ENONODE, zkc_wire_error_code(e, strlen(e)));
    e = "zkocc: cannot resolve local cell [ENOCELL]";
    assert_int_equal(ZKC_ENOCELL, zkc_wire_error_code(e, strlen(e)));
    e = "zookeeper: get \"/zk/x\": no node";
    assert_int_equal(ZKC_ESYSTEMERROR, zkc_wire_error_code(e, strlen(e)));
    e = "x [NOSUCHNAME]";
    assert_int_equal(ZKC_ESYSTEMERROR, zkc_wire_error_code(e, strlen(e)));
    e = "x [OK]";
    assert_int_equal(ZKC_ESYSTEMERROR, zkc_wire_error_code(e, strlen(e)));
    assert_int_equal(ZKC_ESYSTEMERROR, zkc_wire_error_code("]", 1));
    assert_int_equal(ZKC_ESYSTEMERROR, zkc_wire_error_code("[]", 2));
    assert_int_equal(ZKC_OK, zkc_wire_error_code("", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_bytes),    cmocka_unit_test(test_headers_bytes),
        cmocka_unit_test(test_node_bytes),    cmocka_unit_test(test_pathv_nodev),
        cmocka_unit_test(test_decode_lenient), cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_frames),        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_error_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
