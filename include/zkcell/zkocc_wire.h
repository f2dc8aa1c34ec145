/*
 * zkcell/zkocc_wire.h: the zkocc wire protocol (the original's Go RPC over
 * HTTP CONNECT with BSON framing), byte-compatible with Vitess zkocc.
 *
 * A client opens TCP, sends ZKC_WIRE_CONNECT_REQUEST, reads an HTTP head
 * whose status must be "200 Connected to Go RPC" (ZKC_WIRE_CONNECT_REPLY
 * is what a server sends), then both sides exchange frames.  A frame is
 * two BSON documents back to back: a header, then a body.
 *
 *   request header  {ServiceMethod: binary, Seq: int64}
 *   reply header    {ServiceMethod: binary, Seq: int64, Error: binary}
 *   bodies          ZkPath {Path}            Get, Children requests
 *                   ZkPathV {Paths: [..]}    GetV request
 *                   ZkNode {Path, Data, Stat{..}, Children, Cached, Stale}
 *                   ZkNodeV {Nodes: [ZkNode..]}
 * Replies carry the Seq of their request; calls may be pipelined and are
 * matched by Seq.  A reply whose Error is not empty failed, and its body
 * is an empty document.
 *
 * Encoders write exactly the original's bytes: strings as BSON binary
 * (0x05, subtype 0), Version, CVersion, AVersion, DataLength and
 * NumChildren as int32 (0x10), zxids, EphemeralOwner and Seq as int64
 * (0x12), CTime and MTime as UTC datetimes in ms (0x09), Cached and Stale
 * as booleans (0x08), Stat as an embedded document (0x03), arrays (0x04)
 * keyed "0", "1", ..., and a missing list (Children of a Get reply, a NULL
 * list) as null (0x0A); keys in the order listed above.
 *
 * Decoders accept what the original accepted: strings as 0x05 or 0x02,
 * integers as 0x10 or 0x12 (an int64 outside an int32 field's range is an
 * error), booleans as 0x08 or an integer, and null for any of these (the
 * zero value); they skip unknown keys, check every length against the
 * buffer and the limits, and fail with ZKC_EPROTO and a zkc_errmsg()
 * saying what is wrong.  Paths and child names may not contain a NUL byte.
 *
 * Ownership: a zkc_wire_buf belongs to its owner, who frees it with
 * zkc_wire_buf_free(); decoded nodes are freed with zkc_wire_node_free()
 * or zkc_wire_nodes_free(); zero-copy decoders return pointers into the
 * document they were given.
 *
 * Threads: no function here keeps state between calls except through the
 * objects passed in; different objects may be used from different threads
 * at once, one object from one thread at a time.
 */
#ifndef ZKC_ZKOCC_WIRE_H
#define ZKC_ZKOCC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The zkocc daemon's default port (the original's). */
#define ZKC_ZKOCC_DEFAULT_PORT 14850

/* What a client sends first, and what a server answers. */
#define ZKC_WIRE_CONNECT_REQUEST "CONNECT /_bson_rpc_ HTTP/1.0\n\n"
#define ZKC_WIRE_CONNECT_REPLY "HTTP/1.0 200 Connected to Go RPC\n\n"
/* The status a client must see in the reply's status line. */
#define ZKC_WIRE_CONNECT_STATUS "200 Connected to Go RPC"

/* The methods of the ZkReader service. */
#define ZKC_WIRE_METHOD_GET "ZkReader.Get"
#define ZKC_WIRE_METHOD_GETV "ZkReader.GetV"
#define ZKC_WIRE_METHOD_CHILDREN "ZkReader.Children"

/* Returned (positive, not an error) when more bytes are needed. */
#define ZKC_WIRE_MORE 1

/* Defaults of the limits below. */
#define ZKC_WIRE_DEFAULT_MAX_DOC (64u * 1024 * 1024)
#define ZKC_WIRE_DEFAULT_MAX_ARRAY (1024u * 1024)
/* Largest HTTP head read before the frames. */
#define ZKC_WIRE_MAX_HTTP_HEAD 8192

/* Limits applied while parsing and decoding.  NULL means the defaults. */
typedef struct zkc_wire_limits {
    size_t max_doc;   /* largest document (header or body) in bytes; 0: default */
    size_t max_array; /* most elements of one array (Paths, Children, Nodes); 0: default */
} zkc_wire_limits;

/* A growable byte buffer the encoders append to.  Zero-initialise it. */
typedef struct zkc_wire_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} zkc_wire_buf;

/* Free the buffer's bytes and reset it to empty; NULL is accepted. */
void zkc_wire_buf_free(zkc_wire_buf *b);

/* Make room for n more bytes.  Returns ZKC_OK or ZKC_ENOMEM. */
int zkc_wire_buf_reserve(zkc_wire_buf *b, size_t n);

/* Append n bytes.  Returns ZKC_OK or ZKC_ENOMEM. */
int zkc_wire_buf_append(zkc_wire_buf *b, const void *p, size_t n);

/*
 * A node as carried by ZkNode.  Encoders read it (children NULL: null on
 * the wire); decoders fill it with memory of their own: path, data and
 * children are then owned by the node (path and data carry a NUL after
 * their length).
 */
typedef struct zkc_wire_node {
    char *path;
    size_t path_len;
    char *data;
    size_t data_len;
    zkc_stat stat;
    zkc_strings *children; /* NULL: null (a Get reply) */
    bool cached;
    bool stale;
} zkc_wire_node;

/* A decoded header: pointers into the document (zero copy). */
typedef struct zkc_wire_header {
    const char *method; /* ServiceMethod; not NUL-terminated */
    size_t method_len;
    int64_t seq;
    const char *error; /* Error; "" (length 0) when absent or empty */
    size_t error_len;
} zkc_wire_header;

/* One frame: a header and a body document, pointing into a buffer. */
typedef struct zkc_wire_frame {
    const uint8_t *header;
    size_t header_len;
    const uint8_t *body;
    size_t body_len;
} zkc_wire_frame;

/* ---- encoders: each appends one document to b ----
 * Each returns ZKC_OK, ZKC_ENOMEM, or ZKC_EBADARGUMENTS (NULL argument,
 * a document above 2 GiB). */

/* A request header {ServiceMethod, Seq}. */
int zkc_wire_put_request_header(zkc_wire_buf *b, const char *method, size_t method_len,
                                int64_t seq);
/* A reply header {ServiceMethod, Seq, Error}; error may be NULL (""). */
int zkc_wire_put_reply_header(zkc_wire_buf *b, const char *method, size_t method_len,
                              int64_t seq, const char *error, size_t error_len);
/* An empty document (the body of a failed call). */
int zkc_wire_put_empty(zkc_wire_buf *b);
/* ZkPath {Path}. */
int zkc_wire_put_path(zkc_wire_buf *b, const char *path, size_t path_len);
/* ZkPathV {Paths}: paths NULL gives null, else an array of n paths. */
int zkc_wire_put_pathv(zkc_wire_buf *b, const char *const *paths, size_t n);
/* ZkNode. */
int zkc_wire_put_node(zkc_wire_buf *b, const zkc_wire_node *node);
/* ZkNodeV {Nodes}: nodes NULL gives null, else an array of n nodes. */
int zkc_wire_put_nodev(zkc_wire_buf *b, const zkc_wire_node *nodes, size_t n);

/*
 * ZkNodeV from documents already encoded (each a complete ZkNode
 * document, as zkc_wire_put_node writes, copied as is): docs[i] of
 * lens[i] bytes.  For servers that keep encoded answers.
 */
int zkc_wire_put_nodev_raw(zkc_wire_buf *b, const uint8_t *const *docs, const size_t *lens,
                           size_t n);

/*
 * zkc_wire_node_set_flags: set Cached and Stale in a ZkNode document
 * written by zkc_wire_put_node (they are its last two elements), in
 * place.  Returns ZKC_OK, or ZKC_EBADARGUMENTS when doc does not end with
 * them.
 */
int zkc_wire_node_set_flags(uint8_t *doc, size_t len, bool cached, bool stale);

/* ---- frames ---- */

/*
 * zkc_wire_frame_parse: the first complete frame in buf[0..len).
 * Returns ZKC_OK with *ret_frame (pointing into buf) and *ret_used (its
 * size), ZKC_WIRE_MORE when buf holds only part of a frame, or ZKC_EPROTO
 * when a document's length is below 5 or above the limit, or a document
 * does not end with its NUL byte (the stream cannot be resynchronised:
 * drop the connection).  The documents' contents are not checked here.
 */
int zkc_wire_frame_parse(const void *buf, size_t len, const zkc_wire_limits *lim,
                         zkc_wire_frame *ret_frame, size_t *ret_used);

/*
 * zkc_wire_http_head: the length of the HTTP head at the start of
 * buf[0..len) (up to and including its empty line, "\n\n" or
 * "\r\n\r\n").  Returns ZKC_OK with *ret_len, ZKC_WIRE_MORE, or
 * ZKC_EPROTO when no head ends within ZKC_WIRE_MAX_HTTP_HEAD bytes.
 */
int zkc_wire_http_head(const void *buf, size_t len, size_t *ret_len);

/*
 * zkc_wire_check_connect_reply: ZKC_OK when head (an HTTP head) has the
 * status "200 Connected to Go RPC", else ZKC_EPROTO with zkc_errmsg()
 * "unexpected HTTP response: <status line>".
 */
int zkc_wire_check_connect_reply(const char *head, size_t len);

/*
 * An incremental reader: bytes in, frames out.  Usable from a libuv read
 * callback (zkc_wire_reader_space as the buffer to read into, then
 * zkc_wire_reader_commit) and from a blocking client (read into the same
 * space, or zkc_wire_reader_feed a copy).
 */
typedef struct zkc_wire_reader zkc_wire_reader;

/* A new empty reader with lim (copied; NULL: defaults).  Returns ZKC_OK
 * with *ret_reader, ZKC_EBADARGUMENTS or ZKC_ENOMEM. */
int zkc_wire_reader_new(const zkc_wire_limits *lim, zkc_wire_reader **ret_reader);
/* Free; NULL is accepted. */
void zkc_wire_reader_free(zkc_wire_reader *r);
/*
 * zkc_wire_reader_space: at least want bytes (want 0: 64 KiB) of free
 * space to read into, at *ret_ptr, *ret_len bytes.  Frames returned
 * before are no longer valid.  Returns ZKC_OK or ZKC_ENOMEM.
 */
int zkc_wire_reader_space(zkc_wire_reader *r, size_t want, void **ret_ptr, size_t *ret_len);
/* zkc_wire_reader_commit: n bytes were written into the space. */
void zkc_wire_reader_commit(zkc_wire_reader *r, size_t n);
/* zkc_wire_reader_feed: copy n bytes in.  Returns ZKC_OK or ZKC_ENOMEM. */
int zkc_wire_reader_feed(zkc_wire_reader *r, const void *p, size_t n);
/*
 * zkc_wire_reader_next: the next frame, as zkc_wire_frame_parse; on
 * ZKC_OK it is consumed, and *ret_frame stays valid until the next call
 * to space or feed.  After ZKC_EPROTO the reader is broken for good.
 */
int zkc_wire_reader_next(zkc_wire_reader *r, zkc_wire_frame *ret_frame);
/*
 * zkc_wire_reader_head: an HTTP head at the start of the unread bytes,
 * as zkc_wire_http_head; on ZKC_OK it is consumed, and *ret_head
 * (*ret_len bytes, not NUL-terminated) stays valid as a frame does.
 */
int zkc_wire_reader_head(zkc_wire_reader *r, const char **ret_head, size_t *ret_len);
/* zkc_wire_reader_pending: bytes buffered and not yet consumed. */
size_t zkc_wire_reader_pending(const zkc_wire_reader *r);

/* ---- decoders ----
 * Each returns ZKC_OK, ZKC_EPROTO (malformed, a field of the wrong type,
 * a limit passed; zkc_errmsg() says which), ZKC_EBADARGUMENTS (NULL
 * argument) or ZKC_ENOMEM. */

/* A request or reply header, zero copy.  A missing ServiceMethod or Seq
 * is ZKC_EPROTO. */
int zkc_wire_decode_header(const void *doc, size_t len, zkc_wire_header *ret);

/* ZkPath, zero copy: *ret_path points into doc (length *ret_len, not
 * NUL-terminated).  A missing Path is ZKC_EPROTO. */
int zkc_wire_decode_path(const void *doc, size_t len, const char **ret_path, size_t *ret_len);

/* ZkPathV: the paths (zkc_strings_free); null gives an empty list. */
int zkc_wire_decode_pathv(const void *doc, size_t len, const zkc_wire_limits *lim,
                          zkc_strings **ret_paths);

/* ZkNode, into *ret_node (free with zkc_wire_node_free). */
int zkc_wire_decode_node(const void *doc, size_t len, const zkc_wire_limits *lim,
                         zkc_wire_node **ret_node);

/* ZkNodeV: *ret_count nodes in *ret_nodes (zkc_wire_nodes_free); null
 * gives none (and *ret_nodes NULL). */
int zkc_wire_decode_nodev(const void *doc, size_t len, const zkc_wire_limits *lim,
                          zkc_wire_node **ret_nodes, size_t *ret_count);

/* ---- errors ----
 * The original sent errors as bare text, so a client could not tell a
 * missing node from other failures.  zkcell's daemon appends the code's
 * name in brackets: "zkocc: get /zk/c1/x: node does not exist
 * [ENONODE]"; peers that only show the text still read it. */

/*
 * zkc_wire_error_code: the zkcell error code named by a trailing
 * "[NAME]" in error[0..len) (a name of zkc_err_name()), or
 * ZKC_ESYSTEMERROR when there is none (an error from another server).
 * ZKC_OK for an empty error.
 */
int zkc_wire_error_code(const char *error, size_t len);

/* Free a decoded node; NULL is accepted. */
void zkc_wire_node_free(zkc_wire_node *node);
/* Free count decoded nodes; NULL is accepted. */
void zkc_wire_nodes_free(zkc_wire_node *nodes, size_t count);

#ifdef __cplusplus
}
#endif
#endif
