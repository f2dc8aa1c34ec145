/*
 * zkcell/err.h: error codes.
 *
 * Every call that can fail returns an int: ZKC_OK (0) or a negative code.
 * Codes above -1000 are ZooKeeper's own, with the same values as the
 * Apache C client (ZKC_ENONODE == ZNONODE == -101), so the real backend
 * passes them through unchanged.  Codes at -1000 and below are zkcell's.
 * Codes are only ever appended, never renumbered.
 *
 * Thread safety: everything here is safe from any thread.
 */
#ifndef ZKC_ERR_H
#define ZKC_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

/* XX(name, value, message): the one table the enum, zkc_strerror() and
 * zkc_err_name() are generated from. */
#define ZKC_ERRNO_MAP(XX)                                                      \
    XX(OK, 0, "ok")                                                            \
    XX(ESYSTEMERROR, -1, "system error")                                       \
    XX(ERUNTIMEINCONSISTENCY, -2, "runtime inconsistency")                     \
    XX(EDATAINCONSISTENCY, -3, "data inconsistency")                           \
    XX(ECONNECTIONLOSS, -4, "connection to the server lost")                   \
    XX(EMARSHALLINGERROR, -5, "error marshalling or unmarshalling data")       \
    XX(EUNIMPLEMENTED, -6, "operation unimplemented by the server")            \
    XX(EOPERATIONTIMEOUT, -7, "operation timed out")                           \
    XX(EBADARGUMENTS, -8, "invalid arguments")                                 \
    XX(EINVALIDSTATE, -9, "invalid handle state")                              \
    XX(ENEWCONFIGNOQUORUM, -13, "no quorum of the new configuration is connected") \
    XX(ERECONFIGINPROGRESS, -14, "another reconfiguration is in progress")     \
    XX(ESSLCONNECTIONERROR, -15, "SSL connection error")                      \
    XX(EAPIERROR, -100, "api error")                                           \
    XX(ENONODE, -101, "node does not exist")                                   \
    XX(ENOAUTH, -102, "not authorized")                                        \
    XX(EBADVERSION, -103, "version conflict")                                  \
    XX(ENOCHILDRENFOREPHEMERALS, -108, "ephemeral nodes may not have children") \
    XX(ENODEEXISTS, -110, "node already exists")                               \
    XX(ENOTEMPTY, -111, "node has children")                                   \
    XX(ESESSIONEXPIRED, -112, "session expired")                               \
    XX(EINVALIDCALLBACK, -113, "invalid callback")                             \
    XX(EINVALIDACL, -114, "invalid acl")                                       \
    XX(EAUTHFAILED, -115, "authentication failed")                             \
    XX(ECLOSING, -116, "connection is closing")                                \
    XX(ESESSIONMOVED, -118, "session moved to another server")                 \
    XX(ENOTREADONLY, -119, "write sent to a read-only server")                 \
    XX(EEPHEMERALONLOCALSESSION, -120, "ephemeral node on a local session")    \
    XX(ENOWATCHER, -121, "watcher not found")                                  \
    XX(ERECONFIGDISABLED, -123, "reconfiguration is disabled on the server")   \
    XX(ESESSIONCLOSEDREQUIRESASLAUTH, -124,                                    \
       "session closed: the server requires SASL authentication")              \
    XX(ETHROTTLEDOP, -127, "operation throttled by the server")                \
    XX(ETIMEDOUT, -1001, "timed out")                                          \
    XX(EINTERRUPTED, -1002, "interrupted")                                     \
    XX(ECLOSED, -1003, "connection is closed")                                 \
    XX(ENOTSUPPORTED, -1004, "operation not implemented by this connection")   \
    XX(EINCONSISTENT, -1005, "quorums disagree")                               \
    XX(EBADPATH, -1006, "bad path")                                            \
    XX(EBADCONFIG, -1007, "bad configuration")                                 \
    XX(ENOMEM, -1008, "out of memory")                                         \
    XX(ECONFLICT, -1009, "too many conflicting updates")                       \
    XX(EBADPATTERN, -1010, "bad wildcard pattern")                             \
    XX(ECONNECT, -1011, "cannot connect")                                      \
    XX(EPROTO, -1012, "protocol error")                                        \
    XX(EIO, -1013, "input/output error")                                       \
    XX(EBADDATA, -1014, "bad data")                                            \
    XX(ENOCELL, -1015, "unknown cell")

typedef enum zkc_error {
#define ZKC__ERR_ENUM(name, value, msg) ZKC_##name = (value),
    ZKC_ERRNO_MAP(ZKC__ERR_ENUM)
#undef ZKC__ERR_ENUM
} zkc_error;

/*
 * zkc_strerror: a short English message for code, never NULL.
 * Unknown codes give "unknown error".  The string is static.
 */
const char *zkc_strerror(int code);

/*
 * zkc_err_name: the code's name without prefix ("ENONODE"), or "EUNKNOWN"
 * for a code not in the table; never NULL.  The string is static.
 */
const char *zkc_err_name(int code);

/*
 * zkc_errmsg: the detailed message of the last blocking zkcell call that
 * failed on the calling thread, naming the path or cell concerned, for
 * example "get /zk/nyc/x: node does not exist".  Never NULL; "" when no
 * call has failed on this thread.  Valid until the next zkcell call on
 * this thread.
 */
const char *zkc_errmsg(void);

#ifdef __cplusplus
}
#endif
#endif
