/*
 * conn.c: the zk command's connection, as the global options say:
 *   --fake FILE.json   an in-memory ZooKeeper loaded from FILE (tests,
 *                      trying things out); --fake-save writes it back
 *   --server H:P,...   one quorum, dialled with a connect timeout
 *   --zkocc H:P,...    zkocc daemons (read-only: cat, ls, stat, ...)
 *   (default)          the cells of zk_client.json through the router;
 *                      locks switch to a cell's own connection
 * and the details of a cell's errors (which cell, why it is unreachable).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "zkcmd.h"
#include "zkcell/auth.h"
#include "zkcell/cells.h"
#include "zkcell/conncache.h"
#include "zkcell/global.h"
#include "zkcell/meta.h"
#include "zkcell/zkocc.h"

static const char *auth_cred(const zk_ctx *z)
{
    if (z->auth != NULL && *z->auth != '\0')
        return z->auth;
    const char *e = getenv("ZK_AUTH");
    return e != NULL && *e != '\0' ? e : NULL;
}

static int connect_fake(zk_ctx *z)
{
    zkc_fake_tree *t = zkc_fake_tree_new();
    if (t == NULL)
        return ZKC_ENOMEM;
    int rc = zkc_fake_tree_load_json(t, z->fake_file);
    if (rc != ZKC_OK) {
        zk_errf(z, "%s", zkc_errmsg());
        zkc_fake_tree_free(t);
        return rc;
    }
    rc = zkc_fake_open(t, &z->conn);
    if (rc == ZKC_OK && auth_cred(z) != NULL)
        rc = zkc_fake_add_auth(z->conn, "digest", auth_cred(z));
    if (rc != ZKC_OK) {
        zk_errf(z, "%s: %s", z->fake_file, zkc_strerror(rc));
        zkc_conn_close(z->conn);
        z->conn = NULL;
        zkc_fake_tree_free(t);
        return rc;
    }
    z->fake_tree = t;
    return ZKC_OK;
}

static int connect_server(zk_ctx *z)
{
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = z->connect_timeout_ms;
    o.base_timeout_ms = z->session_timeout_ms;
    if (auth_cred(z) != NULL) {
        o.auth_scheme = "digest";
        o.auth_cred = auth_cred(z);
    }
    int rc = zkc_zk_dial(z->server, &o, &z->conn);
    if (rc != ZKC_OK)
        zk_errf(z, "cannot connect: %s", zkc_errmsg());
    return rc;
}

static int connect_zkocc(zk_ctx *z)
{
    zkc_zkocc_opts o = ZKC_ZKOCC_OPTS_INIT;
    o.connect_timeout_ms = z->connect_timeout_ms;
    int rc = zkc_zkocc_dial(z->zkocc_addrs, &o, &z->conn);
    if (rc != ZKC_OK)
        zk_errf(z, "cannot connect: %s", zkc_errmsg());
    return rc;
}

static zkc_cells *cells;
/* zk_auth.json: digest credentials per cell. */
static zkc_auth_config *cell_auth;

/* The cache's dial: zkc_zk_dial() with our timeouts and credentials. */
static int dial_cell(const char *cell, const char *addrs, void *userdata, zkc_conn **ret)
{
    const zk_ctx *z = userdata;
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    if (z->use_zkocc) {
        zkc_zkocc_opts zo = ZKC_ZKOCC_OPTS_INIT;
        zo.connect_timeout_ms = z->connect_timeout_ms;
        return zkc_zkocc_dial(addrs, &zo, ret);
    }
    o.connect_timeout_ms = z->connect_timeout_ms;
    o.base_timeout_ms = z->session_timeout_ms;
    /* --auth for every cell, else the cell's own, else $ZK_AUTH; the C
     * client sends them again after every reconnect. */
    const char *cred = z->auth != NULL && *z->auth != '\0' ? z->auth : NULL;
    if (cred == NULL)
        cred = zkc_auth_config_cred(cell_auth, cell);
    if (cred == NULL)
        cred = auth_cred(z);
    if (cred != NULL) {
        o.auth_scheme = "digest";
        o.auth_cred = cred;
    }
    /* A cell given as a list of quorums: one global namespace. */
    return zkc_dial_quorums(addrs, &o, ret);
}

/* Cells visited one after another (a '*' over thousands of cells) must
 * not run the process out of file descriptors: the cache keeps at most
 * this many connections open, from the descriptor limit at
 * ZK_FDS_PER_CONN each (socket, the C client's wakeup pipe, the state
 * eventfd, and room), with ZK_FDS_RESERVED left for the rest. */
#define ZK_FDS_PER_CONN 8
#define ZK_FDS_RESERVED 64
#define ZK_MAX_CELL_CONNS 256
static int max_cell_conns(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return ZK_MAX_CELL_CONNS;
    rlim_t n = rl.rlim_cur > ZK_FDS_RESERVED ? (rl.rlim_cur - ZK_FDS_RESERVED) / ZK_FDS_PER_CONN : 0;
    return n < 4 ? 4 : n > ZK_MAX_CELL_CONNS ? ZK_MAX_CELL_CONNS : (int)n;
}

static int connect_cells(zk_ctx *z)
{
    zkc_cells_opts co = ZKC_CELLS_OPTS_INIT;
    co.connect_timeout_ms = z->connect_timeout_ms;
    co.base_timeout_ms = z->session_timeout_ms;
    const char *cfg = z->config;
    if (cfg != NULL) {
        co.config_paths = &cfg;
        co.n_config_paths = 1;
    }
    int rc = zkc_auth_config_load(z->auth_config, &cell_auth);
    if (rc != ZKC_OK) {
        zk_errf(z, "%s", zkc_errmsg());
        return rc;
    }
    co.local_cell = z->local_cell;
    co.local_addrs = z->local_addrs;
    co.global_addrs = z->global_addrs;
    rc = zkc_cells_new(&co, &cells);
    if (rc == ZKC_OK)
        rc = zkc_cells_refresh(cells);
    if (rc == ZKC_OK)
        rc = zkc_cells_known(cells, z->use_zkocc, &z->known_cells);
    if (rc != ZKC_OK) {
        zk_errf(z, "%s", zkc_errmsg());
        return rc;
    }
    zkc_conn_cache_opts cco = ZKC_CONN_CACHE_OPTS_INIT;
    cco.dial = dial_cell;
    cco.dial_ud = z;
    cco.zkocc = z->use_zkocc;
    cco.max_conns = max_cell_conns();
    zkc_conn_cache *cache = NULL;
    rc = zkc_conn_cache_new(cells, &cco, &cache);
    if (rc != ZKC_OK) {
        zk_errf(z, "%s", zkc_strerror(rc));
        return rc;
    }
    zkc_meta_opts mo = ZKC_META_OPTS_INIT;
    mo.cancel = z->cancel;
    /* A down cell should fail fast in a command line tool. */
    mo.retry_budget_ms = z->connect_timeout_ms;
    rc = zkc_meta_open(cache, &mo, &z->conn);
    if (rc != ZKC_OK)
        zk_errf(z, "%s", zkc_strerror(rc));
    return rc;
}

/* The status of cell in the cache's JSON: "state" and "last_error". */
static void cell_status(zkc_conn_cache *cache, const char *cell, char *state, size_t ssize,
                        char *err, size_t esize)
{
    char *text = NULL;
    snprintf(state, ssize, "unknown");
    *err = '\0';
    if (zkc_conn_cache_status(cache, &text) != ZKC_OK)
        return;
    json_t *doc = json_loads(text, 0, NULL);
    zkc_free(text);
    json_t *c = json_object_get(doc, cell);
    const char *s = json_string_value(json_object_get(c, "state"));
    const char *e = json_string_value(json_object_get(c, "last_error"));
    if (s != NULL)
        snprintf(state, ssize, "%s", s);
    if (e != NULL)
        snprintf(err, esize, "%s", e);
    json_decref(doc);
}

/* Why the router knows no cell for path: the cells' own message, which
 * names the configuration read (or the files looked for).  The router's
 * message itself may have been set on another thread. */
static const char *no_cell_detail(const zk_ctx *z, const char *path, char *buf, size_t size)
{
    const char *name;
    size_t len;
    if (cells == NULL || zkc_cell_from_path(path, &name, &len) != ZKC_OK)
        return NULL;
    char *given = strndup(name, len), *cell = NULL, *addrs = NULL;
    if (given == NULL)
        return NULL;
    int rc = zkc_cells_resolve(cells, given, &cell);
    if (rc == ZKC_OK)
        rc = zkc_cells_addrs(cells, cell, z->use_zkocc, &addrs);
    if (rc != ZKC_OK)
        snprintf(buf, size, "%s", zkc_errmsg());
    free(given);
    zkc_free(cell);
    zkc_free(addrs);
    return rc != ZKC_OK && *buf != '\0' ? buf : NULL;
}

const char *zk_cell_detail(zk_ctx *z, const char *path, int rc, char *buf, size_t size)
{
    /* --quorums: the global connection's message names each quorum's
     * answer (a synchronous call leaves it in zkc_errmsg()). */
    if (rc == ZKC_EINCONSISTENT && z->quorums != NULL && zkc_errmsg()[0] != '\0') {
        snprintf(buf, size, "%s", zkc_errmsg());
        return buf;
    }
    if (rc == ZKC_ENOCELL)
        return no_cell_detail(z, path, buf, size);
    if (rc != ZKC_ETIMEDOUT && rc != ZKC_ECONNECTIONLOSS && rc != ZKC_EOPERATIONTIMEOUT &&
        rc != ZKC_ECLOSED && rc != ZKC_ESESSIONEXPIRED && rc != ZKC_ECONNECT &&
        rc != ZKC_ESYSTEMERROR && rc != ZKC_EAUTHFAILED && rc != ZKC_ENOMEM)
        return NULL;
    zkc_conn_cache *cache = z->conn != NULL ? zkc_meta_cache(z->conn) : NULL;
    const char *name;
    size_t len;
    if (cache == NULL || cells == NULL || zkc_cell_from_path(path, &name, &len) != ZKC_OK)
        return NULL;
    char *given = strndup(name, len), *cell = NULL, *addrs = NULL;
    if (given == NULL || zkc_cells_resolve(cells, given, &cell) != ZKC_OK) {
        free(given);
        return NULL;
    }
    free(given);
    if (zkc_cells_addrs(cells, cell, false, &addrs) != ZKC_OK)
        addrs = NULL;
    char state[32], err[512];
    cell_status(cache, cell, state, sizeof state, err, sizeof err);
    if (strcmp(state, "connected") == 0 && rc != ZKC_ESESSIONEXPIRED) {
        snprintf(buf, size, "cell %s at %s", cell, addrs != NULL ? addrs : "?");
    } else if (*err != '\0') {
        snprintf(buf, size, "%s", err); /* "cell NAME: dial ...: why" */
    } else {
        snprintf(buf, size, "cell %s is down: no server at %s answered within %d ms", cell,
                 addrs != NULL ? addrs : "?", z->connect_timeout_ms);
    }
    zkc_free(cell);
    zkc_free(addrs);
    return buf;
}

int zk_cell_conn_begin(zk_ctx *z, char **path)
{
    zkc_conn_cache *cache = z->conn != NULL ? zkc_meta_cache(z->conn) : NULL;
    if (cache == NULL || z->routed != NULL)
        return ZKC_OK;
    const char *name;
    size_t len;
    int rc = zkc_cell_from_path(*path, &name, &len);
    char *given = rc == ZKC_OK ? strndup(name, len) : NULL, *cell = NULL;
    if (rc == ZKC_OK && given == NULL)
        rc = ZKC_ENOMEM;
    if (rc == ZKC_OK)
        rc = zkc_cells_resolve(cells, given, &cell);
    if (rc == ZKC_OK && strcmp(cell, given) != 0) {
        /* /zk/local/...: the cell's own connection wants the real name. */
        const char *rest = name + len;
        char *real = malloc(4 + strlen(cell) + strlen(rest) + 1);
        if (real == NULL) {
            rc = ZKC_ENOMEM;
        } else {
            sprintf(real, "/zk/%s%s", cell, rest);
            free(*path);
            *path = real;
        }
    }
    zkc_conn *cc = NULL;
    if (rc == ZKC_OK)
        rc = zkc_conn_cache_get(cache, cell, &cc);
    if (rc != ZKC_OK) {
        zk_err(z, *path, rc, zkc_errmsg());
    } else {
        z->routed = z->conn;
        z->conn = cc;
    }
    free(given);
    zkc_free(cell);
    return rc;
}

void zk_cell_conn_end(zk_ctx *z)
{
    if (z->routed == NULL)
        return;
    zkc_conn_cache_release(zkc_meta_cache(z->routed), z->conn);
    z->conn = z->routed;
    z->routed = NULL;
}

/* --quorums "H1;H2;...": one global namespace over those quorums
 * (zkc_global_dial): writes go to all, reads compare all. */
static int connect_quorums(zk_ctx *z)
{
    char *copy = strdup(z->quorums);
    const char *lists[ZKC_GLOBAL_MAX_QUORUMS];
    size_t n = 0;
    int rc = ZKC_OK;
    if (copy == NULL)
        return ZKC_ENOMEM;
    for (char *save = NULL, *t = strtok_r(copy, ";", &save); t != NULL;
         t = strtok_r(NULL, ";", &save)) {
        if (n == ZKC_GLOBAL_MAX_QUORUMS) {
            rc = ZKC_EBADARGUMENTS;
            break;
        }
        lists[n++] = t;
    }
    if (rc != ZKC_OK || n == 0) {
        zk_errf(z, "--quorums: want 1 to %d address lists separated by ';'",
                ZKC_GLOBAL_MAX_QUORUMS);
        free(copy);
        return ZKC_EBADARGUMENTS;
    }
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = z->connect_timeout_ms;
    o.base_timeout_ms = z->session_timeout_ms;
    if (auth_cred(z) != NULL) {
        o.auth_scheme = "digest";
        o.auth_cred = auth_cred(z);
    }
    rc = zkc_global_dial(lists, n, &o, &z->conn);
    if (rc != ZKC_OK)
        zk_errf(z, "cannot connect: %s", zkc_errmsg());
    free(copy);
    return rc;
}

int zk_connect(zk_ctx *z)
{
    static int failed;
    if (z->conn != NULL)
        return ZKC_OK;
    if (failed != 0)
        return failed;
    int rc;
    if (z->fake_file != NULL)
        rc = connect_fake(z);
    else if (z->server != NULL)
        rc = connect_server(z);
    else if (z->quorums != NULL)
        rc = connect_quorums(z);
    else if (z->zkocc_addrs != NULL)
        rc = connect_zkocc(z);
    else
        rc = connect_cells(z);
    if (rc != ZKC_OK)
        failed = rc;
    return rc;
}

void zk_disconnect(zk_ctx *z)
{
    if (z->fake_tree != NULL && z->fake_save != NULL && z->conn != NULL) {
        char *json = NULL;
        int rc = zkc_fake_tree_dump_json(z->fake_tree, "/", &json);
        FILE *f = rc == ZKC_OK ? fopen(z->fake_save, "we") : NULL;
        if (f == NULL || fputs(json, f) == EOF || fputc('\n', f) == EOF || fclose(f) != 0) {
            zk_errf(z, "cannot save the fake tree to %s", z->fake_save);
        }
        zkc_free(json);
    }
    zkc_conn_close(z->conn);
    z->conn = NULL;
    zkc_fake_tree_free(z->fake_tree);
    z->fake_tree = NULL;
    zkc_strings_free(z->known_cells);
    z->known_cells = NULL;
    zkc_cells_free(cells);
    cells = NULL;
    zkc_auth_config_free(cell_auth);
    cell_auth = NULL;
}
