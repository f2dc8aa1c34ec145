/*
 * zkcell/cells.h: cells and their configuration (the seed's config.go).
 *
 * A cell is one ZooKeeper quorum, usually one per datacenter, named by
 * the third component of a path: /zk/<cell>/...  Two names are special:
 * "local" means the cell of this host, and "global" the global quorum.
 *
 * Addresses come from zk_client.json, a JSON object mapping string keys
 * to string values (anything else is a configuration error):
 *
 *   "<cell>"           that cell's quorum, "host:port,host:port"
 *   "global"           the global quorum
 *   "<cell>-global"    a local address of the global quorum (an
 *                      observer), used when there is no "global" key
 *   "<key>:_zkocc"     zkocc cache servers for <key> (zkocc mode)
 *
 * A zkc_cells object holds one process's settings (there are no process
 * globals: the caller creates it, usually once): the configuration files
 * to read, the overrides a program takes as flags (the original's
 * -zk.local-cell, -zk.local-addrs, -zk.global-addrs, -zk.base-timeout,
 * -zk.connect-timeout) and the environment read when it is created
 * (ZK_CLIENT_CONFIG, ZK_CLIENT_LOCAL_CELL).
 *
 * The file is parsed once and kept; a lookup checks, at most once a
 * second, whether the file changed (inode, size, mtime, ctime), and
 * zkc_cells_refresh() checks at once (the connection cache calls it before
 * every dial), so an edited file is picked up without a restart.  A file
 * that became bad makes lookups fail until it is fixed.
 *
 * Threads: a zkc_cells may be used from any number of threads at once;
 * zkc_cells_free() must not race with other calls.  zkc_cell_from_path()
 * is a pure function.
 */
#ifndef ZKC_CELLS_H
#define ZKC_CELLS_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The default configuration file, replaced by $ZK_CLIENT_CONFIG. */
#define ZKC_DEFAULT_CONFIG_PATH "/etc/zookeeper/zk_client.json"
/* The first path component of every cell path. */
#define ZKC_MAGIC_PREFIX "zk"
/* Largest configuration file read, in bytes. */
#define ZKC_MAX_CONFIG_SIZE (4 * 1024 * 1024)

typedef struct zkc_cells zkc_cells;

typedef struct zkc_cells_opts {
    unsigned version; /* 1 */
    /*
     * Configuration files, tried in order: the first one that exists is
     * used (a missing file is skipped; any other problem is an error).
     * NULL: $ZK_CLIENT_CONFIG when set and non-empty, else
     * ZKC_DEFAULT_CONFIG_PATH.  An explicit list wins over the
     * environment.  The array and strings are copied.
     */
    const char *const *config_paths;
    size_t n_config_paths;
    /* A configuration given as text instead of files (tests, fuzzing,
     * embedding); config_text_len 0 means strlen.  Wins over files. */
    const char *config_text;
    size_t config_text_len;
    /* -zk.local-cell: the local cell; NULL or "" means not set. */
    const char *local_cell;
    /* -zk.local-addrs: the local cell's quorum, bypassing the file (the
     * original declared it but never used it). */
    const char *local_addrs;
    /* -zk.global-addrs: the global quorum, bypassing the file (ZooKeeper
     * mode only: zkocc lookups still use "...:_zkocc" keys). */
    const char *global_addrs;
    /* -zk.base-timeout: session timeout; 0 means 5000 ms. */
    int base_timeout_ms;
    /* -zk.connect-timeout: first-connect bound; 0 means 30000 ms. */
    int connect_timeout_ms;
    /* The host name the local cell is guessed from; NULL means
     * gethostname().  For tests and odd hosts. */
    const char *hostname;
    /* true: do not read ZK_CLIENT_CONFIG and ZK_CLIENT_LOCAL_CELL. */
    bool ignore_env;
} zkc_cells_opts;

#define ZKC_CELLS_OPTS_INIT {1, NULL, 0, NULL, 0, NULL, NULL, NULL, 0, 0, NULL, false}

/*
 * zkc_cells_new: a configuration object from opts (NULL: all defaults).
 * Nothing is read yet besides the environment.  Returns ZKC_OK with
 * *ret_cells (free with zkc_cells_free), ZKC_EBADARGUMENTS (NULL
 * ret_cells, unknown opts version, negative timeout), ZKC_EBADCONFIG (a
 * local cell override that is not a valid cell name, with zkc_errmsg()
 * naming it) or ZKC_ENOMEM.
 */
int zkc_cells_new(const zkc_cells_opts *opts, zkc_cells **ret_cells);

/* zkc_cells_free: free; NULL is accepted. */
void zkc_cells_free(zkc_cells *cells);

/*
 * zkc_cells_refresh: check the configuration file now and parse it again
 * if it changed.  Returns ZKC_OK (also when no file exists: then there
 * are no cells but the overrides) or ZKC_EBADCONFIG with zkc_errmsg()
 * naming the file and the problem (unreadable, too large, not JSON, not
 * an object, a value that is not a string).
 */
int zkc_cells_refresh(zkc_cells *cells);

/*
 * zkc_cells_local_cell: GuessLocalCell.  The override, else
 * ZK_CLIENT_LOCAL_CELL, else the host name up to its first character
 * that is not an ASCII letter ("pa1" -> "pa", "sjl-1.x.com" -> "sjl").
 * Returns ZKC_OK with *ret_cell (zkc_free), ZKC_ENOCELL when the host
 * name gives no cell (it starts with a digit, for example) or
 * ZKC_ESYSTEMERROR (gethostname failed), naming the host; ZKC_ENOMEM.
 */
int zkc_cells_local_cell(zkc_cells *cells, char **ret_cell);

/*
 * zkc_cells_known: ZkKnownCells.  The cells named in the file, sorted
 * bytewise: in zkocc mode the keys ending in ":_zkocc" (suffix
 * stripped), else the others.  Keys ending in "-global", keys with an
 * empty value and keys that are not valid cell names ("local", names
 * with '-' or ':') are not listed, so every listed cell has an address; "global" is listed when there is a "global" key, a
 * "<local>-global" key or (ZooKeeper mode) a global address override.
 * Returns ZKC_OK with *ret_cells (zkc_strings_free), ZKC_EBADCONFIG,
 * ZKC_ENOMEM.
 */
int zkc_cells_known(zkc_cells *cells, bool zkocc, zkc_strings **ret_cells);

/*
 * zkc_cells_addrs: the server addresses of cell ("local", "global" or a
 * name).  "local" is the local cell; "global" is the global override
 * (ZooKeeper mode), else the "global" key, else "<local>-global"; the
 * local address override serves the local cell (ZooKeeper mode).  In
 * zkocc mode every key gets ":_zkocc" appended.  Returns ZKC_OK with
 * *ret_addrs (zkc_free), ZKC_ENOCELL (no address: the message names the
 * key and the file), ZKC_EBADPATH (not a valid cell name),
 * ZKC_EBADCONFIG, an error of zkc_cells_local_cell(), ZKC_ENOMEM.
 */
int zkc_cells_addrs(zkc_cells *cells, const char *cell, bool zkocc, char **ret_addrs);

/*
 * zkc_cells_path_addrs: ZkPathToZkAddr: zkc_cells_addrs() of the path's
 * cell.  Also ZKC_EBADPATH for a path without a valid cell.
 */
int zkc_cells_path_addrs(zkc_cells *cells, const char *path, bool zkocc, char **ret_addrs);

/*
 * zkc_cells_resolve: the real name of cell: the local cell for "local",
 * else cell itself after checking it.  Returns ZKC_OK with *ret_cell
 * (zkc_free), ZKC_EBADPATH (not a valid cell name), an error of
 * zkc_cells_local_cell(), ZKC_ENOMEM.
 */
int zkc_cells_resolve(zkc_cells *cells, const char *cell, char **ret_cell);

/*
 * zkc_cells_subprocess_flags: GetZkSubprocessFlags: the argv words that
 * give a child process this object's overrides: "-zk.local-cell" X,
 * "-zk.local-addrs" X, "-zk.global-addrs" X, "-zk.base-timeout" D,
 * "-zk.connect-timeout" D, each only when set (timeouts: when not the
 * default), durations in Go's form ("5s", "1m30s", "250ms").  The
 * environment is not included: children inherit it.  Returns ZKC_OK with
 * *ret_argv (zkc_strings_free) or ZKC_ENOMEM.
 */
int zkc_cells_subprocess_flags(zkc_cells *cells, zkc_strings **ret_argv);

/*
 * zkc_cells_flag: recognise arg (with next, the argument after it, or
 * NULL) as one of the original's -zk.* flags and apply it to opts:
 * "-zk.NAME VALUE", "--zk.NAME VALUE", "-zk.NAME=VALUE" or
 * "--zk.NAME=VALUE", NAME one of local-cell, local-addrs, global-addrs,
 * base-timeout, connect-timeout (Go durations: "5s", "1m30s", "250ms"),
 * and, when the caller passes somewhere to put them, zkocc-addr
 * (*ret_zkocc_addr) and addrs (*ret_addrs, a quorum for every path).  An
 * empty value unsets a string.  Strings are not copied: opts and the
 * out pointers point into arg or next afterwards.
 * Returns ZKC_OK with *ret_used the number of arguments consumed: 0 (arg
 * is not a -zk.* flag; nothing changed), 1 or 2; or ZKC_EBADARGUMENTS with
 * zkc_errmsg() naming the flag: an unknown -zk.* name, a missing value, a
 * duration that is not positive, an invalid cell name.
 */
int zkc_cells_flag(const char *arg, const char *next, zkc_cells_opts *opts,
                   const char **ret_zkocc_addr, const char **ret_addrs, int *ret_used);

/*
 * zkc_cells_take_flags: zkc_cells_flag() over argv[1..*argc-1], up to a
 * "--": every -zk.* flag is applied and removed (argv compacted, *argc
 * lowered, argv[*argc] set to NULL), the other arguments keep their
 * order.  For programs whose other arguments never start with "-zk."
 * (daemons); a program with free-form operands calls zkc_cells_flag() in
 * its option loop instead.  Returns ZKC_OK or the first error of
 * zkc_cells_flag() (argv then partly compacted).
 */
int zkc_cells_take_flags(int *argc, char **argv, zkc_cells_opts *opts,
                         const char **ret_zkocc_addr, const char **ret_addrs);

/* The timeouts in effect, in milliseconds. */
int zkc_cells_base_timeout_ms(const zkc_cells *cells);
int zkc_cells_connect_timeout_ms(const zkc_cells *cells);

/*
 * zkc_cell_name_valid: true when the len bytes at name may be a cell
 * name: 1 to 255 bytes, not "." or "..", without control characters,
 * '/', '-' or ':'
 * (a '-' would clash with the "<cell>-global" keys, a ':' with the
 * ":_zkocc" keys).
 */
bool zkc_cell_name_valid(const char *name, size_t len);

/*
 * zkc_cell_from_path: ZkCellFromZkPath.  path must be "/zk/<cell>" or
 * "/zk/<cell>/...", with a valid cell name (see zkc_cell_name_valid;
 * "local" and "global" are ordinary names here).  Returns ZKC_OK with
 * *ret_cell pointing into path and *ret_len its length (no copy), or
 * ZKC_EBADPATH with zkc_errmsg() naming the path and the problem ("/zk",
 * "/zk/", "/zk//x", "/zk/bad-cell", "/other/...").
 */
int zkc_cell_from_path(const char *path, const char **ret_cell, size_t *ret_len);

#ifdef __cplusplus
}
#endif
#endif
