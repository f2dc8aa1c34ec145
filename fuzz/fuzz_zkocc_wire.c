/*
 * fuzz_zkocc_wire.c: libFuzzer target for the zkocc wire (zkocc_wire.c).
 *
 * The input is a byte stream as a peer would send it, with limits small
 * enough to be hit.  It goes through the incremental reader in chunks
 * whose sizes come from the first byte, and every frame's documents go
 * through every decoder.  Besides "no crash", it checks what the
 * decoders promise: a decoded node encodes again into a document that
 * decodes to the same node, and a header's fields lie inside it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zkcell/zkocc_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        abort();
}

static void same_node(const zkc_wire_node *a, const zkc_wire_node *b)
{
    check(a->path_len == b->path_len && memcmp(a->path, b->path, a->path_len) == 0);
    check(a->data_len == b->data_len && memcmp(a->data, b->data, a->data_len) == 0);
    check(memcmp(&a->stat, &b->stat, sizeof a->stat) == 0);
    check(a->cached == b->cached && a->stale == b->stale);
    check((a->children == NULL) == (b->children == NULL));
    if (a->children != NULL) {
        check(a->children->count == b->children->count);
        for (size_t i = 0; i < a->children->count; i++)
            check(strcmp(a->children->v[i], b->children->v[i]) == 0);
    }
}

static void decode_all(const uint8_t *doc, size_t len, const zkc_wire_limits *lim)
{
    zkc_wire_header h;
    if (zkc_wire_decode_header(doc, len, &h) == 0) {
        check(h.method_len <= len && h.error_len <= len);
        check(h.method_len == 0 || ((const uint8_t *)h.method >= doc &&
                                    (const uint8_t *)h.method + h.method_len <= doc + len));
    }
    const char *p;
    size_t n;
    if (zkc_wire_decode_path(doc, len, &p, &n) == 0)
        check(n <= len && memchr(p, 0, n) == NULL);
    zkc_strings *s = NULL;
    if (zkc_wire_decode_pathv(doc, len, lim, &s) == 0) {
        check(s->count <= lim->max_array);
        zkc_strings_free(s);
    }
    zkc_wire_node *node = NULL;
    if (zkc_wire_decode_node(doc, len, lim, &node) == 0) {
        zkc_wire_buf b = {0};
        check(zkc_wire_put_node(&b, node) == 0);
        zkc_wire_node *again = NULL;
        check(zkc_wire_decode_node(b.data, b.len, lim, &again) == 0);
        same_node(node, again);
        check(zkc_wire_node_set_flags(b.data, b.len, true, true) == 0);
        zkc_wire_node_free(again);
        zkc_wire_buf_free(&b);
        zkc_wire_node_free(node);
    }
    zkc_wire_node *nodes = NULL;
    size_t count = 0;
    if (zkc_wire_decode_nodev(doc, len, lim, &nodes, &count) == 0) {
        check(count <= lim->max_array);
        zkc_wire_nodes_free(nodes, count);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 64 + 1;
    data++;
    size--;
    zkc_wire_limits lim = {4096, 64};
    zkc_wire_reader *r = NULL;
    if (zkc_wire_reader_new(&lim, &r) != 0)
        return 0;
    /* An optional HTTP head first, as a server would read it. */
    size_t off = 0;
    int head_done = size == 0 || data[0] != 'C';
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (zkc_wire_reader_feed(r, data + off, n) != 0)
            break;
        off += n;
        if (!head_done) {
            const char *head;
            size_t hl;
            int rc = zkc_wire_reader_head(r, &head, &hl);
            if (rc == ZKC_WIRE_MORE)
                continue;
            if (rc != 0)
                break;
            (void)zkc_wire_check_connect_reply(head, hl);
            head_done = 1;
        }
        zkc_wire_frame f;
        int rc;
        while ((rc = zkc_wire_reader_next(r, &f)) == 0) {
            check(f.header_len >= 5 && f.header_len <= lim.max_doc);
            decode_all(f.header, f.header_len, &lim);
            decode_all(f.body, f.body_len, &lim);
        }
        if (rc != ZKC_WIRE_MORE)
            break;
    }
    zkc_wire_reader_free(r);
    return 0;
}
