/*
 * zkocc_wire.c: the zkocc wire protocol through libbson: encoders and
 * decoders of the ZkReader documents (ZkPath, ZkPathV, ZkStat, ZkNode,
 * ZkNodeV) and of the Go RPC headers, the frame parser, the HTTP CONNECT
 * handshake and an incremental reader.  The byte layout, and what the
 * decoders accept, is in include/zkcell/zkocc_wire.h.
 *
 * Encoders build each document in a bson_t (whose inline storage holds a
 * header without allocating) and append its bytes to the caller's
 * buffer.  Decoders walk documents with bson_iter, which checks every
 * length against the buffer; a walk that stops before the end is a
 * corrupt document.  What a server or client does with the documents is
 * elsewhere (src/zkocc/, the zkocc connection).
 */
#include <bson/bson.h>

#include <stdlib.h>
#include <string.h>

#include "zkcell/sys/conn_impl.h"
#include "zkcell/zkocc_wire.h"

#define DOC_MAX ((size_t)INT32_MAX)

/* ---- buffers ---- */

void zkc_wire_buf_free(zkc_wire_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int zkc_wire_buf_reserve(zkc_wire_buf *b, size_t n)
{
    if (b == NULL)
        return ZKC_EBADARGUMENTS;
    if (n > SIZE_MAX / 2 - b->len)
        return ZKC_ENOMEM;
    if (b->len + n <= b->cap)
        return ZKC_OK;
    size_t cap = b->cap > 0 ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (d == NULL)
        return ZKC_ENOMEM;
    b->data = d;
    b->cap = cap;
    return ZKC_OK;
}

int zkc_wire_buf_append(zkc_wire_buf *b, const void *p, size_t n)
{
    int rc = zkc_wire_buf_reserve(b, n);
    if (rc != ZKC_OK)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return ZKC_OK;
}

/* ---- encoders ---- */

static int finish(zkc_wire_buf *b, bson_t *doc, bool ok)
{
    int rc = ok ? zkc_wire_buf_append(b, bson_get_data(doc), doc->len) : ZKC_EBADARGUMENTS;
    bson_destroy(doc);
    return rc;
}

static bool put_bin(bson_t *d, const char *key, const char *s, size_t len)
{
    if (len > DOC_MAX - 64)
        return false;
    return bson_append_binary(d, key, -1, BSON_SUBTYPE_BINARY, (const uint8_t *)(s ? s : ""),
                              (uint32_t)len);
}

int zkc_wire_put_request_header(zkc_wire_buf *b, const char *method, size_t method_len,
                                int64_t seq)
{
    if (b == NULL || (method == NULL && method_len > 0))
        return ZKC_EBADARGUMENTS;
    bson_t d;
    bson_init(&d);
    bool ok = put_bin(&d, "ServiceMethod", method, method_len) &&
              bson_append_int64(&d, "Seq", -1, seq);
    return finish(b, &d, ok);
}

int zkc_wire_put_reply_header(zkc_wire_buf *b, const char *method, size_t method_len,
                              int64_t seq, const char *error, size_t error_len)
{
    if (b == NULL || (method == NULL && method_len > 0) || (error == NULL && error_len > 0))
        return ZKC_EBADARGUMENTS;
    bson_t d;
    bson_init(&d);
    bool ok = put_bin(&d, "ServiceMethod", method, method_len) &&
              bson_append_int64(&d, "Seq", -1, seq) && put_bin(&d, "Error", error, error_len);
    return finish(b, &d, ok);
}

int zkc_wire_put_empty(zkc_wire_buf *b)
{
    static const uint8_t empty[5] = {5, 0, 0, 0, 0};
    if (b == NULL)
        return ZKC_EBADARGUMENTS;
    return zkc_wire_buf_append(b, empty, sizeof empty);
}

int zkc_wire_put_path(zkc_wire_buf *b, const char *path, size_t path_len)
{
    if (b == NULL || (path == NULL && path_len > 0))
        return ZKC_EBADARGUMENTS;
    bson_t d;
    bson_init(&d);
    bool ok = put_bin(&d, "Path", path, path_len);
    return finish(b, &d, ok);
}

/* An array of strings (binary), or null when s is NULL. */
static bool put_string_array(bson_t *d, const char *key, const char *const *v, size_t n,
                             bool null)
{
    if (null)
        return bson_append_null(d, key, -1);
    bson_t arr;
    if (!bson_append_array_begin(d, key, -1, &arr))
        return false;
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        char buf[16];
        const char *k;
        bson_uint32_to_string((uint32_t)i, &k, buf, sizeof buf);
        ok = v[i] != NULL && put_bin(&arr, k, v[i], strlen(v[i]));
    }
    return bson_append_array_end(d, &arr) && ok;
}

int zkc_wire_put_pathv(zkc_wire_buf *b, const char *const *paths, size_t n)
{
    if (b == NULL)
        return ZKC_EBADARGUMENTS;
    bson_t d;
    bson_init(&d);
    bool ok = put_string_array(&d, "Paths", paths, n, paths == NULL);
    return finish(b, &d, ok);
}

static bool put_stat(bson_t *d, const zkc_stat *s)
{
    bson_t st;
    if (!bson_append_document_begin(d, "Stat", -1, &st))
        return false;
    bool ok = bson_append_int64(&st, "Czxid", -1, s->czxid) &&
              bson_append_int64(&st, "Mzxid", -1, s->mzxid) &&
              bson_append_date_time(&st, "CTime", -1, s->ctime) &&
              bson_append_date_time(&st, "MTime", -1, s->mtime) &&
              bson_append_int32(&st, "Version", -1, s->version) &&
              bson_append_int32(&st, "CVersion", -1, s->cversion) &&
              bson_append_int32(&st, "AVersion", -1, s->aversion) &&
              bson_append_int64(&st, "EphemeralOwner", -1, s->ephemeral_owner) &&
              bson_append_int32(&st, "DataLength", -1, s->data_length) &&
              bson_append_int32(&st, "NumChildren", -1, s->num_children) &&
              bson_append_int64(&st, "Pzxid", -1, s->pzxid);
    return bson_append_document_end(d, &st) && ok;
}

static bool put_node_fields(bson_t *d, const zkc_wire_node *n)
{
    return put_bin(d, "Path", n->path, n->path_len) &&
           put_bin(d, "Data", n->data, n->data_len) && put_stat(d, &n->stat) &&
           put_string_array(d, "Children", n->children ? (const char *const *)n->children->v : NULL,
                            n->children ? n->children->count : 0, n->children == NULL) &&
           bson_append_bool(d, "Cached", -1, n->cached) &&
           bson_append_bool(d, "Stale", -1, n->stale);
}

static bool node_ok(const zkc_wire_node *n)
{
    return (n->path != NULL || n->path_len == 0) && (n->data != NULL || n->data_len == 0);
}

int zkc_wire_put_node(zkc_wire_buf *b, const zkc_wire_node *node)
{
    if (b == NULL || node == NULL || !node_ok(node))
        return ZKC_EBADARGUMENTS;
    bson_t d;
    bson_init(&d);
    bool ok = put_node_fields(&d, node);
    return finish(b, &d, ok);
}

int zkc_wire_put_nodev(zkc_wire_buf *b, const zkc_wire_node *nodes, size_t n)
{
    if (b == NULL)
        return ZKC_EBADARGUMENTS;
    bson_t d;
    bson_init(&d);
    bool ok;
    if (nodes == NULL) {
        ok = bson_append_null(&d, "Nodes", -1);
    } else {
        bson_t arr;
        ok = bson_append_array_begin(&d, "Nodes", -1, &arr);
        for (size_t i = 0; ok && i < n; i++) {
            char buf[16];
            const char *k;
            bson_uint32_to_string((uint32_t)i, &k, buf, sizeof buf);
            bson_t nd;
            ok = node_ok(&nodes[i]) && bson_append_document_begin(&arr, k, -1, &nd);
            if (ok) {
                ok = put_node_fields(&nd, &nodes[i]);
                ok = bson_append_document_end(&arr, &nd) && ok;
            }
        }
        ok = bson_append_array_end(&d, &arr) && ok;
    }
    return finish(b, &d, ok);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Written by hand rather than with bson_append_array_begin + document
 * appends, which would copy each document twice: {Nodes: [doc, ...]}.
 */
int zkc_wire_put_nodev_raw(zkc_wire_buf *b, const uint8_t *const *docs, const size_t *lens,
                           size_t n)
{
    if (b == NULL || (n > 0 && (docs == NULL || lens == NULL)))
        return ZKC_EBADARGUMENTS;
    size_t total = 4 + 1 + 6 + 4 + 1; /* length, 0x04 "Nodes\0", array length, array NUL */
    for (size_t i = 0; i < n; i++) {
        if (docs[i] == NULL || lens[i] < 5 || lens[i] > DOC_MAX)
            return ZKC_EBADARGUMENTS;
        total += 1 + 11 + lens[i]; /* type, key up to 10 digits + NUL */
        if (total > DOC_MAX)
            return ZKC_EBADARGUMENTS;
    }
    total += 1; /* document NUL */
    int rc = zkc_wire_buf_reserve(b, total);
    if (rc != ZKC_OK)
        return rc;
    uint8_t *start = b->data + b->len;
    uint8_t *p = start + 4;
    *p++ = 0x04;
    memcpy(p, "Nodes", 6);
    p += 6;
    uint8_t *arr = p;
    p += 4;
    for (size_t i = 0; i < n; i++) {
        char buf[16];
        const char *k;
        size_t kl = bson_uint32_to_string((uint32_t)i, &k, buf, sizeof buf);
        *p++ = 0x03;
        memcpy(p, k, kl + 1);
        p += kl + 1;
        memcpy(p, docs[i], lens[i]);
        p += lens[i];
    }
    *p++ = 0;
    put_le32(arr, (uint32_t)(p - arr));
    *p++ = 0;
    put_le32(start, (uint32_t)(p - start));
    b->len += (size_t)(p - start);
    return ZKC_OK;
}

/* The tail zkc_wire_put_node writes: ... 0x08 "Cached\0" c 0x08 "Stale\0" s 0x00. */
int zkc_wire_node_set_flags(uint8_t *doc, size_t len, bool cached, bool stale)
{
    static const uint8_t tail_c[8] = {0x08, 'C', 'a', 'c', 'h', 'e', 'd', 0};
    static const uint8_t tail_s[7] = {0x08, 'S', 't', 'a', 'l', 'e', 0};
    if (doc == NULL || len < 4 + 18 || doc[len - 1] != 0 ||
        memcmp(doc + len - 1 - 1 - 7, tail_s, 7) != 0 ||
        memcmp(doc + len - 1 - 8 - 1 - 8, tail_c, 8) != 0)
        return ZKC_EBADARGUMENTS;
    doc[len - 2] = stale ? 1 : 0;
    doc[len - 10] = cached ? 1 : 0;
    return ZKC_OK;
}

/* ---- frames ---- */

static void limits_of(const zkc_wire_limits *lim, size_t *max_doc, size_t *max_array)
{
    *max_doc = lim != NULL && lim->max_doc > 0 ? lim->max_doc : ZKC_WIRE_DEFAULT_MAX_DOC;
    if (*max_doc > DOC_MAX)
        *max_doc = DOC_MAX;
    if (max_array != NULL)
        *max_array = lim != NULL && lim->max_array > 0 ? lim->max_array : ZKC_WIRE_DEFAULT_MAX_ARRAY;
}

/* One document's length at p (avail bytes there): ZKC_OK, MORE or EPROTO. */
static int doc_at(const uint8_t *p, size_t avail, size_t max_doc, const char *what,
                  size_t *ret_len)
{
    if (avail < 4)
        return ZKC_WIRE_MORE;
    uint32_t n = get_le32(p);
    if (n < 5) {
        zkc_impl_set_errmsg("zkocc wire: %s document length %u is below the minimum of 5", what,
                        (unsigned)n);
        return ZKC_EPROTO;
    }
    if (n > max_doc) {
        zkc_impl_set_errmsg("zkocc wire: %s document length %u is above the limit of %zu bytes", what,
                        (unsigned)n, max_doc);
        return ZKC_EPROTO;
    }
    if (avail < n)
        return ZKC_WIRE_MORE;
    if (p[n - 1] != 0) {
        zkc_impl_set_errmsg("zkocc wire: %s document of %u bytes does not end with a NUL byte", what,
                        (unsigned)n);
        return ZKC_EPROTO;
    }
    *ret_len = n;
    return ZKC_OK;
}

int zkc_wire_frame_parse(const void *buf, size_t len, const zkc_wire_limits *lim,
                         zkc_wire_frame *ret_frame, size_t *ret_used)
{
    if ((buf == NULL && len > 0) || ret_frame == NULL || ret_used == NULL)
        return ZKC_EBADARGUMENTS;
    size_t max_doc;
    limits_of(lim, &max_doc, NULL);
    const uint8_t *p = buf;
    size_t hl, bl;
    int rc = doc_at(p, len, max_doc, "header", &hl);
    if (rc != ZKC_OK)
        return rc;
    rc = doc_at(p + hl, len - hl, max_doc, "body", &bl);
    if (rc != ZKC_OK)
        return rc;
    ret_frame->header = p;
    ret_frame->header_len = hl;
    ret_frame->body = p + hl;
    ret_frame->body_len = bl;
    *ret_used = hl + bl;
    return ZKC_OK;
}

int zkc_wire_http_head(const void *buf, size_t len, size_t *ret_len)
{
    if ((buf == NULL && len > 0) || ret_len == NULL)
        return ZKC_EBADARGUMENTS;
    const uint8_t *p = buf;
    size_t lim = len < ZKC_WIRE_MAX_HTTP_HEAD ? len : ZKC_WIRE_MAX_HTTP_HEAD;
    for (size_t i = 0; i < lim; i++) {
        if (p[i] != '\n')
            continue;
        /* An empty line: "\n\n" or "\n\r\n". */
        if (i + 1 < lim && p[i + 1] == '\n') {
            *ret_len = i + 2;
            return ZKC_OK;
        }
        if (i + 2 < lim && p[i + 1] == '\r' && p[i + 2] == '\n') {
            *ret_len = i + 3;
            return ZKC_OK;
        }
    }
    if (len >= ZKC_WIRE_MAX_HTTP_HEAD) {
        zkc_impl_set_errmsg("zkocc wire: no end of the HTTP head within %d bytes",
                        ZKC_WIRE_MAX_HTTP_HEAD);
        return ZKC_EPROTO;
    }
    return ZKC_WIRE_MORE;
}

int zkc_wire_check_connect_reply(const char *head, size_t len)
{
    if (head == NULL && len > 0)
        return ZKC_EBADARGUMENTS;
    size_t eol = 0;
    while (eol < len && head[eol] != '\n')
        eol++;
    size_t line = eol;
    if (line > 0 && head[line - 1] == '\r')
        line--;
    /* The status is what follows the protocol word: "HTTP/1.x ". */
    const char *sp = memchr(head, ' ', line);
    static const char want[] = ZKC_WIRE_CONNECT_STATUS;
    if (sp != NULL && line >= 5 && memcmp(head, "HTTP/", 5) == 0 &&
        (size_t)(head + line - (sp + 1)) == sizeof want - 1 &&
        memcmp(sp + 1, want, sizeof want - 1) == 0)
        return ZKC_OK;
    int shown = line > 200 ? 200 : (int)line;
    zkc_impl_set_errmsg("unexpected HTTP response: %.*s", shown, head != NULL ? head : "");
    return ZKC_EPROTO;
}

/* ---- the incremental reader ---- */

struct zkc_wire_reader {
    zkc_wire_limits lim;
    uint8_t *buf;
    size_t cap;
    size_t rd; /* first unread byte */
    size_t wr; /* end of the bytes read */
    bool broken;
};

int zkc_wire_reader_new(const zkc_wire_limits *lim, zkc_wire_reader **ret_reader)
{
    if (ret_reader == NULL)
        return ZKC_EBADARGUMENTS;
    zkc_wire_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return ZKC_ENOMEM;
    if (lim != NULL)
        r->lim = *lim;
    *ret_reader = r;
    return ZKC_OK;
}

void zkc_wire_reader_free(zkc_wire_reader *r)
{
    if (r == NULL)
        return;
    free(r->buf);
    free(r);
}

int zkc_wire_reader_space(zkc_wire_reader *r, size_t want, void **ret_ptr, size_t *ret_len)
{
    if (r == NULL || ret_ptr == NULL || ret_len == NULL)
        return ZKC_EBADARGUMENTS;
    if (want == 0)
        want = 64 * 1024;
    if (r->rd == r->wr) {
        r->rd = r->wr = 0;
    } else if (r->cap - r->wr < want && r->rd > 0) {
        memmove(r->buf, r->buf + r->rd, r->wr - r->rd);
        r->wr -= r->rd;
        r->rd = 0;
    }
    if (r->cap - r->wr < want) {
        if (want > SIZE_MAX / 2 - r->wr)
            return ZKC_ENOMEM;
        size_t cap = r->cap > 0 ? r->cap : 4096;
        while (cap - r->wr < want)
            cap *= 2;
        uint8_t *b = realloc(r->buf, cap);
        if (b == NULL)
            return ZKC_ENOMEM;
        r->buf = b;
        r->cap = cap;
    }
    *ret_ptr = r->buf + r->wr;
    *ret_len = r->cap - r->wr;
    return ZKC_OK;
}

void zkc_wire_reader_commit(zkc_wire_reader *r, size_t n)
{
    if (r != NULL && n <= r->cap - r->wr)
        r->wr += n;
}

int zkc_wire_reader_feed(zkc_wire_reader *r, const void *p, size_t n)
{
    if (r == NULL || (p == NULL && n > 0))
        return ZKC_EBADARGUMENTS;
    if (n == 0)
        return ZKC_OK;
    void *dst;
    size_t cap;
    int rc = zkc_wire_reader_space(r, n, &dst, &cap);
    if (rc != ZKC_OK)
        return rc;
    memcpy(dst, p, n);
    r->wr += n;
    return ZKC_OK;
}

int zkc_wire_reader_next(zkc_wire_reader *r, zkc_wire_frame *ret_frame)
{
    if (r == NULL || ret_frame == NULL)
        return ZKC_EBADARGUMENTS;
    if (r->broken) {
        zkc_impl_set_errmsg("zkocc wire: the stream is broken by an earlier framing error");
        return ZKC_EPROTO;
    }
    size_t used;
    int rc = zkc_wire_frame_parse(r->buf + r->rd, r->wr - r->rd, &r->lim, ret_frame, &used);
    if (rc == ZKC_OK)
        r->rd += used;
    else if (rc == ZKC_EPROTO)
        r->broken = true;
    return rc;
}

int zkc_wire_reader_head(zkc_wire_reader *r, const char **ret_head, size_t *ret_len)
{
    if (r == NULL || ret_head == NULL || ret_len == NULL)
        return ZKC_EBADARGUMENTS;
    size_t n;
    int rc = zkc_wire_http_head(r->buf + r->rd, r->wr - r->rd, &n);
    if (rc == ZKC_OK) {
        *ret_head = (const char *)(r->buf + r->rd);
        *ret_len = n;
        r->rd += n;
    } else if (rc == ZKC_EPROTO) {
        r->broken = true;
    }
    return rc;
}

size_t zkc_wire_reader_pending(const zkc_wire_reader *r)
{
    return r != NULL ? r->wr - r->rd : 0;
}

/* ---- decoders ---- */

static int bad_type(const char *what, const bson_iter_t *it)
{
    zkc_impl_set_errmsg("zkocc wire: %s %s has BSON type 0x%02x", what, bson_iter_key(it),
                    (unsigned)bson_iter_type(it));
    return ZKC_EPROTO;
}

static int corrupt(const char *what)
{
    zkc_impl_set_errmsg("zkocc wire: %s document is malformed", what);
    return ZKC_EPROTO;
}

static int open_doc(bson_iter_t *it, const void *doc, size_t len, const char *what)
{
    if (doc == NULL || len < 5 || len > DOC_MAX ||
        !bson_iter_init_from_data(it, doc, len))
        return corrupt(what);
    return ZKC_OK;
}

/* After a walk: did it end at the document's end, or on corruption? */
static int walk_end(const bson_iter_t *it, const char *what)
{
    return it->err_off != 0 ? corrupt(what) : ZKC_OK;
}

static int get_str(const bson_iter_t *it, const char *what, const char **ret, size_t *ret_len)
{
    switch (bson_iter_type(it)) {
    case BSON_TYPE_BINARY: {
        bson_subtype_t st;
        uint32_t n;
        const uint8_t *p;
        bson_iter_binary(it, &st, &n, &p);
        if (p == NULL && n > 0)
            return corrupt(what);
        *ret = p != NULL ? (const char *)p : "";
        *ret_len = n;
        return ZKC_OK;
    }
    case BSON_TYPE_UTF8: {
        uint32_t n;
        const char *p = bson_iter_utf8(it, &n);
        *ret = p != NULL ? p : "";
        *ret_len = p != NULL ? n : 0;
        return ZKC_OK;
    }
    case BSON_TYPE_NULL:
        *ret = "";
        *ret_len = 0;
        return ZKC_OK;
    default:
        return bad_type(what, it);
    }
}

static int get_i64(const bson_iter_t *it, const char *what, int64_t *ret)
{
    switch (bson_iter_type(it)) {
    case BSON_TYPE_INT32:
        *ret = bson_iter_int32(it);
        return ZKC_OK;
    case BSON_TYPE_INT64:
        *ret = bson_iter_int64(it);
        return ZKC_OK;
    case BSON_TYPE_NULL:
        *ret = 0;
        return ZKC_OK;
    default:
        return bad_type(what, it);
    }
}

static int get_i32(const bson_iter_t *it, const char *what, int32_t *ret)
{
    int64_t v;
    int rc = get_i64(it, what, &v);
    if (rc != ZKC_OK)
        return rc;
    if (v < INT32_MIN || v > INT32_MAX) {
        zkc_impl_set_errmsg("zkocc wire: %s %s = %lld does not fit in 32 bits", what,
                        bson_iter_key(it), (long long)v);
        return ZKC_EPROTO;
    }
    *ret = (int32_t)v;
    return ZKC_OK;
}

static int get_time(const bson_iter_t *it, const char *what, int64_t *ret)
{
    if (BSON_ITER_HOLDS_DATE_TIME(it)) {
        *ret = bson_iter_date_time(it);
        return ZKC_OK;
    }
    if (BSON_ITER_HOLDS_NULL(it)) {
        *ret = 0;
        return ZKC_OK;
    }
    return bad_type(what, it);
}

static int get_bool(const bson_iter_t *it, const char *what, bool *ret)
{
    if (BSON_ITER_HOLDS_BOOL(it)) {
        *ret = bson_iter_bool(it);
        return ZKC_OK;
    }
    int64_t v;
    int rc = get_i64(it, what, &v);
    if (rc == ZKC_OK)
        *ret = v != 0;
    return rc;
}

static bool key_is(const bson_iter_t *it, const char *key)
{
    return strcmp(bson_iter_key(it), key) == 0;
}

int zkc_wire_decode_header(const void *doc, size_t len, zkc_wire_header *ret)
{
    if (ret == NULL)
        return ZKC_EBADARGUMENTS;
    bson_iter_t it;
    int rc = open_doc(&it, doc, len, "header");
    bool have_method = false, have_seq = false;
    zkc_wire_header h = {"", 0, 0, "", 0};
    while (rc == ZKC_OK && bson_iter_next(&it)) {
        if (key_is(&it, "ServiceMethod")) {
            rc = get_str(&it, "header", &h.method, &h.method_len);
            have_method = true;
        } else if (key_is(&it, "Seq")) {
            rc = get_i64(&it, "header", &h.seq);
            have_seq = true;
        } else if (key_is(&it, "Error")) {
            rc = get_str(&it, "header", &h.error, &h.error_len);
        }
    }
    if (rc == ZKC_OK)
        rc = walk_end(&it, "header");
    if (rc == ZKC_OK && (!have_method || !have_seq)) {
        zkc_impl_set_errmsg("zkocc wire: header has no %s", have_method ? "Seq" : "ServiceMethod");
        rc = ZKC_EPROTO;
    }
    if (rc == ZKC_OK)
        *ret = h;
    return rc;
}

int zkc_wire_decode_path(const void *doc, size_t len, const char **ret_path, size_t *ret_len)
{
    if (ret_path == NULL || ret_len == NULL)
        return ZKC_EBADARGUMENTS;
    bson_iter_t it;
    int rc = open_doc(&it, doc, len, "ZkPath");
    const char *p = NULL;
    size_t n = 0;
    while (rc == ZKC_OK && bson_iter_next(&it)) {
        if (key_is(&it, "Path"))
            rc = get_str(&it, "ZkPath", &p, &n);
    }
    if (rc == ZKC_OK)
        rc = walk_end(&it, "ZkPath");
    if (rc == ZKC_OK && p == NULL) {
        zkc_impl_set_errmsg("zkocc wire: ZkPath has no Path");
        rc = ZKC_EPROTO;
    }
    if (rc == ZKC_OK && memchr(p, 0, n) != NULL) {
        zkc_impl_set_errmsg("zkocc wire: ZkPath Path contains a NUL byte");
        rc = ZKC_EPROTO;
    }
    if (rc == ZKC_OK) {
        *ret_path = p;
        *ret_len = n;
    }
    return rc;
}

/* An array of strings at it (an array or null) into *ret (NULL for null). */
static int get_strings(const bson_iter_t *it, const char *what, size_t max_array,
                       zkc_strings **ret)
{
    *ret = NULL;
    if (BSON_ITER_HOLDS_NULL(it))
        return ZKC_OK;
    if (!BSON_ITER_HOLDS_ARRAY(it))
        return bad_type(what, it);
    bson_iter_t sub;
    if (!bson_iter_recurse(it, &sub))
        return corrupt(what);
    zkc_strings *s = zkc_impl_strings_new(0);
    if (s == NULL)
        return ZKC_ENOMEM;
    int rc = ZKC_OK;
    while (rc == ZKC_OK && bson_iter_next(&sub)) {
        if (s->count >= max_array) {
            zkc_impl_set_errmsg("zkocc wire: %s array has more than %zu elements", what, max_array);
            rc = ZKC_EPROTO;
            break;
        }
        const char *p;
        size_t n;
        if (BSON_ITER_HOLDS_NULL(&sub)) {
            rc = bad_type(what, &sub);
            break;
        }
        rc = get_str(&sub, what, &p, &n);
        if (rc == ZKC_OK && memchr(p, 0, n) != NULL) {
            zkc_impl_set_errmsg("zkocc wire: %s element %s contains a NUL byte", what,
                            bson_iter_key(&sub));
            rc = ZKC_EPROTO;
        }
        if (rc == ZKC_OK)
            rc = zkc_impl_strings_push(s, p, n);
    }
    if (rc == ZKC_OK)
        rc = walk_end(&sub, what);
    if (rc != ZKC_OK) {
        zkc_strings_free(s);
        return rc;
    }
    *ret = s;
    return ZKC_OK;
}

int zkc_wire_decode_pathv(const void *doc, size_t len, const zkc_wire_limits *lim,
                          zkc_strings **ret_paths)
{
    if (ret_paths == NULL)
        return ZKC_EBADARGUMENTS;
    size_t max_doc, max_array;
    limits_of(lim, &max_doc, &max_array);
    bson_iter_t it;
    int rc = open_doc(&it, doc, len, "ZkPathV");
    zkc_strings *paths = NULL;
    while (rc == ZKC_OK && bson_iter_next(&it)) {
        if (key_is(&it, "Paths")) {
            zkc_strings_free(paths);
            rc = get_strings(&it, "ZkPathV Paths", max_array, &paths);
        }
    }
    if (rc == ZKC_OK)
        rc = walk_end(&it, "ZkPathV");
    if (rc == ZKC_OK && paths == NULL && (paths = zkc_impl_strings_new(0)) == NULL)
        rc = ZKC_ENOMEM;
    if (rc != ZKC_OK) {
        zkc_strings_free(paths);
        return rc;
    }
    *ret_paths = paths;
    return ZKC_OK;
}

static int decode_stat(const bson_iter_t *parent, zkc_stat *st)
{
    if (BSON_ITER_HOLDS_NULL(parent)) {
        memset(st, 0, sizeof *st);
        return ZKC_OK;
    }
    if (!BSON_ITER_HOLDS_DOCUMENT(parent))
        return bad_type("ZkNode", parent);
    bson_iter_t it;
    if (!bson_iter_recurse(parent, &it))
        return corrupt("ZkStat");
    int rc = ZKC_OK;
    const char *w = "ZkStat";
    while (rc == ZKC_OK && bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "Czxid") == 0)
            rc = get_i64(&it, w, &st->czxid);
        else if (strcmp(k, "Mzxid") == 0)
            rc = get_i64(&it, w, &st->mzxid);
        else if (strcmp(k, "CTime") == 0)
            rc = get_time(&it, w, &st->ctime);
        else if (strcmp(k, "MTime") == 0)
            rc = get_time(&it, w, &st->mtime);
        else if (strcmp(k, "Version") == 0)
            rc = get_i32(&it, w, &st->version);
        else if (strcmp(k, "CVersion") == 0)
            rc = get_i32(&it, w, &st->cversion);
        else if (strcmp(k, "AVersion") == 0)
            rc = get_i32(&it, w, &st->aversion);
        else if (strcmp(k, "EphemeralOwner") == 0)
            rc = get_i64(&it, w, &st->ephemeral_owner);
        else if (strcmp(k, "DataLength") == 0)
            rc = get_i32(&it, w, &st->data_length);
        else if (strcmp(k, "NumChildren") == 0)
            rc = get_i32(&it, w, &st->num_children);
        else if (strcmp(k, "Pzxid") == 0)
            rc = get_i64(&it, w, &st->pzxid);
    }
    return rc == ZKC_OK ? walk_end(&it, w) : rc;
}

static void node_clear(zkc_wire_node *n)
{
    free(n->path);
    free(n->data);
    zkc_strings_free(n->children);
    memset(n, 0, sizeof *n);
}

/* Decode the ZkNode document at it (already initialised) into n. */
static int decode_node_fields(bson_iter_t *it, size_t max_array, zkc_wire_node *n)
{
    int rc = ZKC_OK;
    const char *w = "ZkNode";
    while (rc == ZKC_OK && bson_iter_next(it)) {
        const char *k = bson_iter_key(it);
        const char *p;
        size_t len;
        if (strcmp(k, "Path") == 0 || strcmp(k, "Data") == 0) {
            bool is_path = k[0] == 'P';
            rc = get_str(it, w, &p, &len);
            if (rc != ZKC_OK)
                break;
            if (is_path && memchr(p, 0, len) != NULL) {
                zkc_impl_set_errmsg("zkocc wire: ZkNode Path contains a NUL byte");
                rc = ZKC_EPROTO;
                break;
            }
            char *copy = zkc_impl_memdup(p, len);
            if (copy == NULL) {
                rc = ZKC_ENOMEM;
                break;
            }
            char **dst = is_path ? &n->path : &n->data;
            free(*dst);
            *dst = copy;
            *(is_path ? &n->path_len : &n->data_len) = len;
        } else if (strcmp(k, "Stat") == 0) {
            rc = decode_stat(it, &n->stat);
        } else if (strcmp(k, "Children") == 0) {
            zkc_strings_free(n->children);
            n->children = NULL;
            rc = get_strings(it, "ZkNode Children", max_array, &n->children);
        } else if (strcmp(k, "Cached") == 0) {
            rc = get_bool(it, w, &n->cached);
        } else if (strcmp(k, "Stale") == 0) {
            rc = get_bool(it, w, &n->stale);
        }
    }
    if (rc == ZKC_OK)
        rc = walk_end(it, w);
    if (rc == ZKC_OK && n->path == NULL && (n->path = zkc_impl_memdup("", 0)) == NULL)
        rc = ZKC_ENOMEM;
    if (rc == ZKC_OK && n->data == NULL && (n->data = zkc_impl_memdup("", 0)) == NULL)
        rc = ZKC_ENOMEM;
    return rc;
}

int zkc_wire_decode_node(const void *doc, size_t len, const zkc_wire_limits *lim,
                         zkc_wire_node **ret_node)
{
    if (ret_node == NULL)
        return ZKC_EBADARGUMENTS;
    size_t max_doc, max_array;
    limits_of(lim, &max_doc, &max_array);
    bson_iter_t it;
    int rc = open_doc(&it, doc, len, "ZkNode");
    if (rc != ZKC_OK)
        return rc;
    zkc_wire_node *n = calloc(1, sizeof *n);
    if (n == NULL)
        return ZKC_ENOMEM;
    rc = decode_node_fields(&it, max_array, n);
    if (rc != ZKC_OK) {
        zkc_wire_node_free(n);
        return rc;
    }
    *ret_node = n;
    return ZKC_OK;
}

int zkc_wire_decode_nodev(const void *doc, size_t len, const zkc_wire_limits *lim,
                          zkc_wire_node **ret_nodes, size_t *ret_count)
{
    if (ret_nodes == NULL || ret_count == NULL)
        return ZKC_EBADARGUMENTS;
    size_t max_doc, max_array;
    limits_of(lim, &max_doc, &max_array);
    bson_iter_t it;
    int rc = open_doc(&it, doc, len, "ZkNodeV");
    zkc_wire_node *v = NULL;
    size_t count = 0, cap = 0;
    bool seen = false;
    while (rc == ZKC_OK && bson_iter_next(&it)) {
        if (!key_is(&it, "Nodes"))
            continue;
        if (seen) {
            zkc_impl_set_errmsg("zkocc wire: ZkNodeV has Nodes twice");
            rc = ZKC_EPROTO;
            break;
        }
        seen = true;
        if (BSON_ITER_HOLDS_NULL(&it))
            continue;
        if (!BSON_ITER_HOLDS_ARRAY(&it)) {
            rc = bad_type("ZkNodeV", &it);
            break;
        }
        bson_iter_t sub;
        if (!bson_iter_recurse(&it, &sub)) {
            rc = corrupt("ZkNodeV");
            break;
        }
        while (rc == ZKC_OK && bson_iter_next(&sub)) {
            if (count >= max_array) {
                zkc_impl_set_errmsg("zkocc wire: ZkNodeV Nodes array has more than %zu elements",
                                max_array);
                rc = ZKC_EPROTO;
                break;
            }
            if (!BSON_ITER_HOLDS_DOCUMENT(&sub)) {
                rc = bad_type("ZkNodeV Nodes", &sub);
                break;
            }
            if (count == cap) {
                size_t nc = cap > 0 ? cap * 2 : 8;
                zkc_wire_node *nv = realloc(v, nc * sizeof *nv);
                if (nv == NULL) {
                    rc = ZKC_ENOMEM;
                    break;
                }
                v = nv;
                cap = nc;
            }
            memset(&v[count], 0, sizeof v[count]);
            count++;
            bson_iter_t nit;
            if (!bson_iter_recurse(&sub, &nit))
                rc = corrupt("ZkNodeV Nodes");
            else
                rc = decode_node_fields(&nit, max_array, &v[count - 1]);
        }
        if (rc == ZKC_OK)
            rc = walk_end(&sub, "ZkNodeV Nodes");
    }
    if (rc == ZKC_OK)
        rc = walk_end(&it, "ZkNodeV");
    if (rc != ZKC_OK) {
        zkc_wire_nodes_free(v, count);
        return rc;
    }
    *ret_nodes = v;
    *ret_count = count;
    return ZKC_OK;
}

/* ---- errors ---- */

int zkc_wire_error_code(const char *error, size_t len)
{
    if (error == NULL || len == 0)
        return ZKC_OK;
    if (error[len - 1] != ']')
        return ZKC_ESYSTEMERROR;
    size_t open = len - 1;
    while (open > 0 && error[open - 1] != '[' && len - open < 40)
        open--;
    if (open == 0 || error[open - 1] != '[')
        return ZKC_ESYSTEMERROR;
    char name[48];
    size_t n = len - 1 - open;
    if (n == 0 || n >= sizeof name)
        return ZKC_ESYSTEMERROR;
    memcpy(name, error + open, n);
    name[n] = '\0';
    /* The codes are few: look the name up in the one table. */
#define ZKC__WIRE_ERR(nm, value, msg)                                          \
    if ((value) != 0 && strcmp(name, #nm) == 0)                                \
        return (value);
    ZKC_ERRNO_MAP(ZKC__WIRE_ERR)
#undef ZKC__WIRE_ERR
    return ZKC_ESYSTEMERROR;
}

void zkc_wire_node_free(zkc_wire_node *node)
{
    if (node == NULL)
        return;
    node_clear(node);
    free(node);
}

void zkc_wire_nodes_free(zkc_wire_node *nodes, size_t count)
{
    if (nodes == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        node_clear(&nodes[i]);
    free(nodes);
}
