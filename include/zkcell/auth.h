/*
 * zkcell/auth.h: digest credentials per cell (zk_auth.json).
 *
 * The file is a JSON object mapping a cell name to "user:password":
 *
 *   {"nyc": "app:s3cret", "global": "admin:other"}
 *
 * It holds secrets, so it is refused unless it is a regular file whose
 * mode gives the group and others nothing (0600, 0400 or stricter).  Its
 * path is the caller's (a --auth-config option), else $ZK_AUTH_CONFIG.
 *
 * The credentials are never part of an error message; the memory that
 * held them is cleared when the object is freed.  A connection cache's
 * dial callback looks up its cell here and passes the result as
 * zkc_zk_opts.auth_cred with auth_scheme "digest"; the ZooKeeper C client
 * sends added credentials again after every reconnect.
 *
 * Threads: a loaded object is immutable; any number of threads may call
 * zkc_auth_config_cred() at once.
 */
#ifndef ZKC_AUTH_H
#define ZKC_AUTH_H

#ifdef __cplusplus
extern "C" {
#endif

/* The environment variable naming the credentials file. */
#define ZKC_AUTH_CONFIG_ENV "ZK_AUTH_CONFIG"
/* Largest credentials file read, in bytes. */
#define ZKC_MAX_AUTH_CONFIG_SIZE (1024 * 1024)

typedef struct zkc_auth_config zkc_auth_config;

/*
 * zkc_auth_config_load: read path (NULL: $ZK_AUTH_CONFIG; when that is
 * unset or empty: ZKC_OK with *ret NULL, no credentials).  Returns ZKC_OK
 * with *ret (free with zkc_auth_config_free), ZKC_EBADARGUMENTS (NULL
 * ret), ZKC_ENOMEM, or ZKC_EBADCONFIG with zkc_errmsg() naming the file and
 * the problem: cannot be opened, not a regular file, its mode lets the
 * group or others read or write it, too large, not JSON (line and column
 * only: never the text), not an object, a key that is not a cell name, a
 * value that is not a string "user:password" with a non-empty user.
 */
int zkc_auth_config_load(const char *path, zkc_auth_config **ret);

/*
 * zkc_auth_config_cred: the "user:password" of cell, or NULL when the
 * file names no credentials for it (or auth is NULL).  Borrowed: valid
 * until zkc_auth_config_free().
 */
const char *zkc_auth_config_cred(const zkc_auth_config *auth, const char *cell);

/* zkc_auth_config_count: the number of cells with credentials. */
unsigned zkc_auth_config_count(const zkc_auth_config *auth);

/* zkc_auth_config_free: clear the credentials and free; NULL is accepted. */
void zkc_auth_config_free(zkc_auth_config *auth);

#ifdef __cplusplus
}
#endif
#endif
