/*
 * zkcell/zkocc.h: a read-only connection to zkocc cache daemons (the
 * original's ZkoccConn / DialZkocc), over the zkocc wire protocol
 * (zkocc_wire.h: Go RPC over HTTP CONNECT, BSON frames).
 *
 * What goes over the wire: get (ZkReader.Get), children
 * (ZkReader.Children) and exists (ZkReader.Get, its data dropped), each
 * without a watch.  Everything else (create, set, delete, get_acl,
 * set_acl, multi, and any read with ZKC_WATCH) is accepted by submit and
 * completes with ZKC_ENOTSUPPORTED and a message naming the operation
 * ("zkocc: ZkoccConn doesn't implement create"); the original panicked.
 * The blocking forms return ZKC_ENOTSUPPORTED with zkc_errmsg() saying
 * the same.  zkc_amulti() returns ZKC_ENOTSUPPORTED at once.
 *
 * Exists through zkocc.  The original's ZkoccConn.Exists called
 * ZkReader.Get and returned any error as an error, a missing node
 * included, so a caller could not tell "missing" from "zkocc is down"
 * (its errors were bare strings).  zkcell's daemon names the code in
 * brackets at the end of the error ("... node does not exist
 * [ENONODE]", see zkc_wire_error_code()); this client maps ENONODE to
 * what every other connection answers: ZKC_OK with no stat (zkc_exists
 * sets *ret_exists false).  An error without a code, from another server,
 * is ZKC_ENONODE when its text says "node does not exist" or "no node"
 * (gozk's text), else ZKC_ESYSTEMERROR with the server's text as the
 * message; every other code is passed on as it came.
 *
 * Daemons: addrs is a comma-separated list of host:port ("[v6]:port"
 * too).  Each dial tries them in a random order, the first to accept the
 * CONNECT handshake wins.  Requests are pipelined on that one TCP
 * connection and replies matched by Seq; completions still run in
 * submission order.  When the connection breaks (the daemon closes it,
 * a read or write fails, the daemon sends something that is not the
 * protocol), every call in flight completes with an error
 * (ZKC_ECONNECTIONLOSS, or ZKC_EPROTO for garbage) and the state goes to
 * ZKC_STATE_SUSPENDED; the next call dials again (all addresses, random
 * order), and the state goes to ZKC_STATE_RECONNECTED when that works.
 * When the dial fails, the calls waiting for it complete with
 * ZKC_ECONNECT.  There is no session: the state is never
 * ZKC_STATE_EXPIRED and zkc_conn_session_id() is 0, so a connection cache
 * keeps one zkocc connection for good and it heals itself.  Calls are not
 * retried (reads are safe to retry: the caller may).
 *
 * Threads: as every zkc_conn (conn.h).  Each connection runs two threads
 * of its own: one does the socket (dials, writes, reads, matches
 * replies), the other runs the completions.  State changes (and the state
 * callback) run on the socket thread, which must not be made to wait:
 * close the connection from a completion or another thread, not from the
 * state callback.
 */
#ifndef ZKC_ZKOCC_H
#define ZKC_ZKOCC_H

#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZKC_ZKOCC_DEFAULT_CONNECT_TIMEOUT_MS 5000

typedef struct zkc_zkocc_opts {
    unsigned version;       /* 1 */
    int connect_timeout_ms; /* per address: TCP connect plus the handshake;
                               0: the default, <0: none */
    zkc_log_fn log_fn;      /* dial failures, broken connections; NULL: silence */
    void *log_ud;
} zkc_zkocc_opts;

#define ZKC_ZKOCC_OPTS_INIT {1, 0, NULL, NULL}

/*
 * zkc_zkocc_dial: connect to one of the daemons of addrs and return the
 * connection (DialZkocc).  Returns ZKC_OK with *ret_conn (close with
 * zkc_conn_close), ZKC_EBADARGUMENTS (NULL argument, unknown opts
 * version), ZKC_ECONNECT ("zkocc connect failed: <addrs>" and each
 * address's reason in zkc_errmsg(); an empty or malformed list too),
 * ZKC_ENOMEM.  opts may be NULL.
 */
int zkc_zkocc_dial(const char *addrs, const zkc_zkocc_opts *opts, zkc_conn **ret_conn);

#ifdef __cplusplus
}
#endif
#endif
