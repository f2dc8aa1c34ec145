/*
 * zkcell/zk.h: a connection to a real ZooKeeper quorum, through the
 * Apache ZooKeeper C client (libzookeeper_mt).
 *
 * Threads: every function may be called from any thread.  Completions and
 * watch events run on the C client's completion thread.
 */
#ifndef ZKC_ZK_H
#define ZKC_ZK_H

#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZKC_DEFAULT_BASE_TIMEOUT_MS 5000
#define ZKC_DEFAULT_CONNECT_TIMEOUT_MS 30000
/* Most addresses one dial takes.  The C client resolves and sorts the
 * whole list before it tries any, in time that grows faster than the
 * list (100,000 addresses: about 18 s), where no connect timeout can
 * stop it; a real ensemble has a handful. */
#define ZKC_ZK_MAX_SERVERS 1024

typedef struct zkc_zk_opts {
    unsigned version;          /* 1 */
    int base_timeout_ms;       /* session timeout asked of the server; 0: default */
    int connect_timeout_ms;    /* bound on the first connect; 0: default, <0: none */
    const char *auth_scheme;   /* "digest" or NULL */
    const char *auth_cred;     /* "user:password"; never logged */
    zkc_log_fn log_fn;         /* the C client's log lines go here; NULL: silence */
    void *log_ud;
} zkc_zk_opts;

#define ZKC_ZK_OPTS_INIT {1, 0, 0, NULL, NULL, NULL, NULL}

/*
 * Logging: the log function runs on the C client's threads and on the
 * thread that dials, submits or closes.  It may close its connection (the
 * close then completes on a helper thread), but must not dial.  A process
 * may have any number of connections; past the first 256 open at once,
 * the lines of the C client's own I/O threads cannot be told apart by
 * connection: each goes to those connections' log functions (each
 * distinct function and userdata once), marked "one of the N connections
 * past the 256 log slots".
 */

/*
 * zkc_zk_dial: connect to servers ("host:port,host:port") and wait for
 * the session (DialZk / DialZkTimeout).  Returns ZKC_OK with *ret_conn,
 * ZKC_ETIMEDOUT when no server answered within the connect timeout,
 * ZKC_ECONNECT (bad address list, more than ZKC_ZK_MAX_SERVERS addresses,
 * or the session could not be made),
 * ZKC_EAUTHFAILED, ZKC_ENOMEM; zkc_errmsg() names the servers.
 * opts may be NULL.
 */
int zkc_zk_dial(const char *servers, const zkc_zk_opts *opts, zkc_conn **ret_conn);

/*
 * zkc_zk_session_timeout: the session timeout the server granted, in ms
 * (it may differ from base_timeout_ms); 0 before the session is made,
 * after it expired, or when c is not a connection of zkc_zk_dial().
 */
int zkc_zk_session_timeout(zkc_conn *c);

/*
 * zkc_zk_last_heard: the latest moment the server is known to have heard
 * from the session: the time, in CLOCK_MONOTONIC milliseconds, at which
 * the latest request that the server answered (successfully or with a
 * server error such as ZKC_ENONODE) was sent.  The server received that
 * request later, so it cannot expire the session before
 * zkc_zk_last_heard() + zkc_zk_session_timeout() (clock rate differences
 * between the two machines aside).  The C client's own pings are not
 * seen here: a caller that wants the bound to stay fresh sends a request
 * of its own at least every third of the session timeout (the C client
 * does not ping while requests flow).  0 when no request was answered
 * yet, or c is not a connection of zkc_zk_dial().
 */
int64_t zkc_zk_last_heard(zkc_conn *c);

#ifdef __cplusplus
}
#endif
#endif
