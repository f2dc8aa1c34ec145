/*
 * main.c: the zk command's front door: global options, the connection,
 * help texts and dispatch to the subcommands (cmd_*.c).
 *
 * Connections, in order of precedence:
 *   --fake FILE.json   an in-memory ZooKeeper loaded from FILE (tests,
 *                      trying things out); --fake-save writes it back
 *   --server H:P,...   one quorum, dialled with a connect timeout
 *   --zkocc H:P,...    zkocc daemons (read-only: cat, ls, stat, ...);
 *                      the original's --zk.zkocc-addr
 *   (default)          the cells of zk_client.json: /zk/<cell>/... goes to
 *                      that cell's quorum (when built with the cell router)
 * Digest credentials come from --auth or $ZK_AUTH and are never printed;
 * --auth is wiped from the process's argument list once read.
 *
 * Exit status: 0, 1 when some path failed, 2 for a usage error.
 */
#include <getopt.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

#include "zkcmd.h"
#include "zkcell/zkocc.h"

#ifdef ZK_HAVE_CELLS
#include "zkcell/cells.h"
#endif
#ifdef ZK_HAVE_META
#include "zkcell/conncache.h"
#include "zkcell/meta.h"
#endif

#define DEFAULT_WINDOW 2048
#define DEFAULT_CONNECT_TIMEOUT_MS 10000

typedef struct zk_cmd {
    const char *name;
    zk_cmd_fn fn;
    const char *synopsis;
    const char *help;
} zk_cmd;

/* What elock and qlock promise about their COMMAND. */
#define LOCK_COMMAND_HELP                                                      \
    "COMMAND runs in a process group of its own, with ZKCELL_LOCK_TOKEN (the\n" \
    "lock node's czxid, a fencing token) and ZKCELL_LOCK_PATH (the node) in\n" \
    "its environment.  When the lock is lost (session suspended, expired or\n" \
    "closed, node gone), on SIGINT/SIGTERM, and when COMMAND exits, the whole\n" \
    "group gets SIGTERM, then SIGKILL after the grace period, and always\n"   \
    "before the session could expire on the server; if zk dies, a watchdog\n" \
    "does the same.  A lost lock exits with status 1.\n"                     \
    "  --kill-grace D    SIGTERM to SIGKILL (default 2s), cut short to end\n" \
    "                    10% of the session timeout (0.5s at least) before\n" \
    "                    the session could expire\n"

static const zk_cmd commands[] = {
    {"ls", zk_cmd_ls, "ls [-l] [-d] [-R] [-f] [--json] PATH...",
     "List the children of each PATH, sorted.  A node without children is\n"
     "listed as itself.  With several PATHs each listing gets a 'PATH:' header.\n"
     "  -l        long listing: type, size, mtime (local time), name;\n"
     "            type d: has children, n: children and data, e: ephemeral\n"
     "  -d        list the node itself, not its children\n"
     "  -R        recursive: every descendant, as full paths (pipelined)\n"
     "  -f        no error for missing nodes\n"
     "  --json    one JSON object per line: path, name, stat\n"},
    {"cat", zk_cmd_cat, "cat [-l] [-f] [--json] PATH...",
     "Print the data of each PATH.  Data goes out raw to a pipe or file and\n"
     "with non-printable bytes escaped (\\xNN) on a terminal.\n"
     "  -l        print a 'PATH:' header before each node's data\n"
     "  -f        no error for missing nodes\n"
     "  --json    one JSON object per line: path, data (or data_base64), stat\n"},
    {"stat", zk_cmd_stat, "stat [-f] [--json] PATH...",
     "Print the stat and the ACL of each PATH.\n"
     "  -f        no error for missing nodes\n"
     "  --json    one JSON object per line: path, stat, acl\n"},
    {"tree", zk_cmd_tree, "tree [-L DEPTH] [-s] [--json] PATH...",
     "Draw the subtree under each PATH.\n"
     "  -L DEPTH  descend at most DEPTH levels\n"
     "  -s        show each node's data size\n"
     "  --json    one nested JSON document per PATH: path, name, stat, children\n"},
    {"find", zk_cmd_find, "find [-n GLOB] [-t TYPE] [-0] PATH...",
     "Print the paths of every node under each PATH (PATH included) that\n"
     "matches all the tests given.\n"
     "  -n, --name GLOB   the node's name matches GLOB (*, ?, [...])\n"
     "  -t, --type TYPE   e: ephemeral, d: has children, f: no children\n"
     "  -0                end each path with a NUL byte, for xargs -0\n"},
    {"du", zk_cmd_du, "du [-s] [--json] PATH...",
     "Count nodes and data bytes under each PATH (PATH included): one line\n"
     "per child of PATH, then PATH's total, as NODES BYTES PATH.\n"
     "  -s        only the total of each PATH\n"
     "  --json    one JSON object per line: path, nodes, bytes, ephemerals\n"},
    {"touch", zk_cmd_touch, "touch [-c] [-p] PATH...",
     "Create each PATH empty, or rewrite its data at its current version to\n"
     "bump its mtime.\n"
     "  -c        do not create: a missing node is an error\n"
     "  -p        create missing parents (there is no mkdir: use touch -p)\n"},
    {"rm", zk_cmd_rm, "rm [-r] [-f] PATH...",
     "Delete each PATH.\n"
     "  -r        delete the whole subtree (pipelined); refused for '/', '/zk',\n"
     "            '/zk/CELL', '/zookeeper' and patterns that could match them\n"
     "  -f        no error for missing nodes\n"},
    {"cp", zk_cmd_cp, "cp SRC DST | cp SRC... DIR/",
     "Copy data between ZooKeeper and files: ZooKeeper to file, file to\n"
     "ZooKeeper, ZooKeeper to ZooKeeper.  A ZooKeeper path is /zk/..., or any\n"
     "path written zk:/path; anything else is a local file ('-' is standard\n"
     "input or output).  With several sources, or a DST ending in '/' (or an\n"
     "existing local folder), each source is copied under DST by its name.\n"
     "Nodes are written with version -1; missing parents are created.\n"},
    {"edit", zk_cmd_edit, "edit PATH",
     "Edit the data of PATH with $VISUAL, else $EDITOR, else vi.  The data\n"
     "is written back only if it changed, and only if nobody changed the\n"
     "node meanwhile; on a conflict the edited copy is kept and its name\n"
     "printed.\n"},
    {"wait", zk_cmd_wait, "wait [-e] [-t DURATION] PATH | wait [-t DURATION] PATH/",
     "Wait for one change of PATH's data (or its creation, or its deletion)\n"
     "and print 'event: TYPE PATH'.  With a trailing '/', wait for a change of\n"
     "its children.\n"
     "  -e        exit at once if PATH exists\n"
     "  -t, --timeout D   give up after D (250ms, 10s, 2m); exit status 1\n"},
    {"watch", zk_cmd_watch, "watch [-n COUNT] [-t DURATION] [--json] PATH...",
     "Watch PATHs and print every event; after a change, the new data.  A\n"
     "deleted node is no longer watched; a missing node is watched for its\n"
     "creation.  Ends on SIGINT, when nothing is left to watch, after COUNT\n"
     "events, or after DURATION.\n"
     "  -n, --count N     exit after N events\n"
     "  -t, --timeout D   exit after D (250ms, 10s, 2m)\n"
     "  --json    one JSON object per event: event, path, data, stat\n"},
    {"chmod", zk_cmd_chmod, "chmod n+PERMS|n-PERMS PATH...",
     "Add (n+) or remove (n-) permissions, from r w d c a (read, write,\n"
     "delete, create, admin), on the first ACL entry of each PATH.  The ACL is\n"
     "written back at the ACL version read, so concurrent changes are not\n"
     "overwritten.\n"},
    {"elock", zk_cmd_elock, "elock [--kill-grace D] PATH [COMMAND [ARG...]]",
     "Take an exclusive lock: create PATH as an ephemeral node and hold it\n"
     "until SIGINT or SIGTERM, or, with COMMAND, while COMMAND runs (then exit\n"
     "with its status).  Fails if PATH exists; missing parents are created.\n"
     LOCK_COMMAND_HELP},
    {"qlock", zk_cmd_qlock, "qlock [-t DURATION] [--kill-grace D] DIR/ [COMMAND [ARG...]]",
     "Queue for a lock on the folder DIR: create a sequential ephemeral entry\n"
     "in it, wait until it is first (watching only the entry before ours),\n"
     "print 'qlock: locked ENTRY', and hold it until SIGINT or SIGTERM, or,\n"
     "with COMMAND, while COMMAND runs.\n"
     "  -t, --timeout D   give up after D (default: --lock-wait-timeout, or\n"
     "                    forever); exit status 1\n"
     LOCK_COMMAND_HELP},
    {"zip", zk_cmd_zip, "zip PATH... OUT.zip",
     "Archive the subtrees at PATHs into OUT.zip: one deflated entry per node,\n"
     "named by its absolute path without the leading '/', with the node's\n"
     "mtime.  The PATH nodes' own data is archived too.  Ephemeral nodes are\n"
     "skipped, and ACLs are not kept: use dump for those.\n"},
    {"unzip", zk_cmd_unzip, "unzip IN.zip PREFIX",
     "Write each entry of IN.zip to PREFIX/ENTRY (ENTRY itself when PREFIX\n"
     "is '/'), creating missing nodes (world:anyone, all permissions) and\n"
     "setting the data of existing ones.\n"},
    {"dump", zk_cmd_dump, "dump [-e] [-o FILE] PATH",
     "Write the subtree at PATH as one JSON document: every node's path\n"
     "(absolute), data (\"data\", or \"data_base64\" when it is not\n"
     "UTF-8 text) and ACL.\n"
     "  -e        include ephemeral nodes (marked \"ephemeral\": true)\n"
     "  -o FILE   write to FILE instead of standard output\n"},
    {"restore", zk_cmd_restore, "restore [-e] [--no-acl] FILE [PATH]",
     "Recreate a dump under PATH (default: the dump's own root).  Missing\n"
     "nodes are created, existing ones get the dumped data; ACLs are applied\n"
     "once every node exists, deepest first.\n"
     "  -e        also restore nodes dumped as ephemeral (as persistent nodes;\n"
     "            they are skipped otherwise)\n"
     "  --no-acl  leave ACLs alone (new nodes get world:anyone, all)\n"},
    {"zkns-set", zk_cmd_zkns_set,
     "zkns-set [--ttl S] [--version V] [--json] PATH ENTRY... | zkns-set -f FILE PATH",
     "Write a zkns record at PATH (missing parents created), checked first:\n"
     "an A record (IPv4 addresses), AAAA (IPv6), CNAME (one host) or SRV\n"
     "(hosts with named ports).  An ENTRY is an address, a host, or\n"
     "HOST,_PORT=N[,_PORT=N...][,priority=N][,weight=N][,port=N].\n"
     "  -f, --file FILE   the record as JSON instead ('-': standard input)\n"
     "  -t, --ttl S       the record's TTL for zkns-pdns\n"
     "  -v, --version V   write only if the node is at version V\n"
     "  --json    print the path, kind and record written\n"},
    {"zkns-resolve", zk_cmd_zkns_resolve,
     "zkns-resolve [--type T] [--json] --domain D --root PATH NAME | zkns-resolve PATH[:_PORT]",
     "Show how a DNS name under domain D resolves to the zkns record of a node\n"
     "under PATH (labels reversed, a first label _PORT naming a port), and the\n"
     "answers zkns-pdns gives; or, for PATH[:_PORT], what LookupName returns\n"
     "(RFC 2782 order).  Exit status 1 when there is no answer.\n"
     "  -d, --domain D    the zone served (zkns-pdns --zkns-domain)\n"
     "  -r, --root PATH   the root of the names (zkns-pdns --zkns-root)\n"
     "  -t, --type T      A, AAAA, CNAME, SRV or ANY (default)\n"
     "  --json    one JSON object: name, path, port, kind, ttl, answers\n"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char global_help[] =
    "Usage: zk [OPTIONS] COMMAND [ARGS...]\n"
    "\n"
    "A command line for ZooKeeper cells: /zk/<cell>/... paths go to that cell's\n"
    "quorum (zk_client.json), wildcards work in every path (/zk/*/svc/*).\n"
    "\n"
    "Commands:\n"
    "  ls cat stat tree find du         read\n"
    "  touch rm cp edit chmod           write\n"
    "  wait watch elock qlock           watches and locks\n"
    "  zip unzip dump restore           archives\n"
    "  zkns-set zkns-resolve            zkns service records (DNS)\n"
    "  help [COMMAND]                   this text, or a command's\n"
    "\n"
    "Options:\n"
    "  -s, --server HOST:PORT,...  use this quorum for every path\n"
    "      --zkocc HOST:PORT,...   read through these zkocc daemons (read commands only;\n"
    "                              also --zk.zkocc-addr)\n"
    "      --use-zkocc             route cells through their \"<cell>:_zkocc\" daemons\n"
    "      --fake FILE.json        use an in-memory ZooKeeper loaded from FILE\n"
    "      --fake-save FILE.json   after the command, save the fake tree to FILE\n"
    "  -a, --auth USER:PASSWORD    digest credentials (default $ZK_AUTH)\n"
    "      --config FILE           cells configuration (default $ZK_CLIENT_CONFIG,\n"
    "                              else /etc/zookeeper/zk_client.json)\n"
    "      --local-cell CELL       the cell of /zk/local (default $ZK_CLIENT_LOCAL_CELL,\n"
    "                              else guessed from the host name)\n"
    "      --connect-timeout D     give up connecting after D (default 10s)\n"
    "      --session-timeout D     session timeout (default 5s)\n"
    "      --lock-wait-timeout D   how long qlock waits (default: forever)\n"
    "      --window N              operations in flight for bulk work (default 2048)\n"
    "      --raw | --escape        write data raw, or escaped, whatever stdout is\n"
    "  -h, --help                  this text\n"
    "      --version               print the version\n"
    "\n"
    "Exit status: 0 success, 1 some paths failed, 2 usage error.\n"
    "See zk(1), or 'zk help COMMAND'.\n";

static const zk_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

void zk_help(FILE *f, const char *cmd)
{
    const zk_cmd *c = cmd != NULL ? find_cmd(cmd) : NULL;
    if (c == NULL) {
        fputs(global_help, f);
        return;
    }
    fprintf(f, "Usage: zk [OPTIONS] %s\n\n%s", c->synopsis, c->help);
}

int zk_getopt_none(zk_ctx *z, int argc, char **argv, const char *optstring)
{
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, optstring, lo, NULL)) != -1) {
        switch (c) {
        ZK_HELP_CASE;
        }
    }
    return -1;
}

/* ---- connections ---- */

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

/* --zkocc: dial the zkocc daemons (DialZkocc) for every path. */
static const char *zkocc_addrs;
/* --use-zkocc: the cells' ":_zkocc" daemons. */
static int use_zkocc;

static int connect_zkocc(zk_ctx *z)
{
    zkc_zkocc_opts o = ZKC_ZKOCC_OPTS_INIT;
    o.connect_timeout_ms = z->connect_timeout_ms;
    int rc = zkc_zkocc_dial(zkocc_addrs, &o, &z->conn);
    if (rc != ZKC_OK)
        zk_errf(z, "cannot connect: %s", zkc_errmsg());
    return rc;
}

#ifdef ZK_HAVE_META
static zkc_cells *cells;

/* The cache's dial: zkc_zk_dial() with our timeouts and credentials. */
static int dial_cell(const char *cell, const char *addrs, void *userdata, zkc_conn **ret)
{
    const zk_ctx *z = userdata;
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    (void)cell;
    if (use_zkocc) {
        zkc_zkocc_opts zo = ZKC_ZKOCC_OPTS_INIT;
        zo.connect_timeout_ms = z->connect_timeout_ms;
        return zkc_zkocc_dial(addrs, &zo, ret);
    }
    o.connect_timeout_ms = z->connect_timeout_ms;
    o.base_timeout_ms = z->session_timeout_ms;
    if (auth_cred(z) != NULL) {
        o.auth_scheme = "digest";
        o.auth_cred = auth_cred(z);
    }
    return zkc_zk_dial(addrs, &o, ret);
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
    co.local_cell = z->local_cell;
    int rc = zkc_cells_new(&co, &cells);
    if (rc == ZKC_OK)
        rc = zkc_cells_refresh(cells);
    if (rc == ZKC_OK)
        rc = zkc_cells_known(cells, use_zkocc != 0, &z->known_cells);
    if (rc != ZKC_OK) {
        zk_errf(z, "%s", zkc_errmsg());
        return rc;
    }
    zkc_conn_cache_opts cco = ZKC_CONN_CACHE_OPTS_INIT;
    cco.dial = dial_cell;
    cco.dial_ud = z;
    cco.zkocc = use_zkocc != 0;
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
#endif

#ifdef ZK_HAVE_META
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
#endif

#ifdef ZK_HAVE_META
/* Why the router knows no cell for path: the cells' own message, which
 * names the configuration read (or the files looked for).  The router's
 * message itself may have been set on another thread. */
static const char *no_cell_detail(const char *path, char *buf, size_t size)
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
        rc = zkc_cells_addrs(cells, cell, use_zkocc != 0, &addrs);
    if (rc != ZKC_OK)
        snprintf(buf, size, "%s", zkc_errmsg());
    free(given);
    zkc_free(cell);
    zkc_free(addrs);
    return rc != ZKC_OK && *buf != '\0' ? buf : NULL;
}
#endif

const char *zk_cell_detail(zk_ctx *z, const char *path, int rc, char *buf, size_t size)
{
#ifdef ZK_HAVE_META
    if (rc == ZKC_ENOCELL)
        return no_cell_detail(path, buf, size);
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
#else
    (void)z;
    (void)path;
    (void)rc;
    (void)buf;
    (void)size;
    return NULL;
#endif
}

int zk_cell_conn_begin(zk_ctx *z, char **path)
{
#ifdef ZK_HAVE_META
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
#else
    (void)z;
    (void)path;
    return ZKC_OK;
#endif
}

void zk_cell_conn_end(zk_ctx *z)
{
#ifdef ZK_HAVE_META
    if (z->routed == NULL)
        return;
    zkc_conn_cache_release(zkc_meta_cache(z->routed), z->conn);
    z->conn = z->routed;
    z->routed = NULL;
#else
    (void)z;
#endif
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
    else if (zkocc_addrs != NULL)
        rc = connect_zkocc(z);
    else {
#ifdef ZK_HAVE_META
        rc = connect_cells(z);
#else
        zk_errf(z, "no --server or --fake given (this zk was built without the cell router)");
        rc = ZKC_EBADCONFIG;
#endif
    }
    if (rc != ZKC_OK)
        failed = rc;
    return rc;
}

static void disconnect(zk_ctx *z)
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
#ifdef ZK_HAVE_META
    zkc_cells_free(cells);
    cells = NULL;
#endif
}

/* ---- main ---- */

enum {
    OPT_FAKE = 256,
    OPT_FAKE_SAVE,
    OPT_CONFIG,
    OPT_LOCAL_CELL,
    OPT_CONNECT_TIMEOUT,
    OPT_SESSION_TIMEOUT,
    OPT_LOCK_WAIT,
    OPT_WINDOW,
    OPT_RAW,
    OPT_ESCAPE,
    OPT_VERSION,
    OPT_ZKOCC,
    OPT_USE_ZKOCC
};

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], ZK_WATCHDOG_ARG) == 0)
        return zk_watchdog_main(argc, argv);
    zk_ctx z;
    memset(&z, 0, sizeof z);
    z.cmd = "";
    z.window = DEFAULT_WINDOW;
    z.escape = isatty(STDOUT_FILENO);
    z.lock_wait_ms = -1;
    z.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;

    static const struct option lo[] = {
        {"server", required_argument, NULL, 's'},
        {"fake", required_argument, NULL, OPT_FAKE},
        {"zkocc", required_argument, NULL, OPT_ZKOCC},
        {"zk.zkocc-addr", required_argument, NULL, OPT_ZKOCC},
        {"use-zkocc", no_argument, NULL, OPT_USE_ZKOCC},
        {"fake-save", required_argument, NULL, OPT_FAKE_SAVE},
        {"auth", required_argument, NULL, 'a'},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"local-cell", required_argument, NULL, OPT_LOCAL_CELL},
        {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
        {"session-timeout", required_argument, NULL, OPT_SESSION_TIMEOUT},
        {"lock-wait-timeout", required_argument, NULL, OPT_LOCK_WAIT},
        {"window", required_argument, NULL, OPT_WINDOW},
        {"raw", no_argument, NULL, OPT_RAW},
        {"escape", no_argument, NULL, OPT_ESCAPE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, "+s:a:h", lo, NULL)) != -1) {
        switch (c) {
        case 's':
            z.server = optarg;
            break;
        case OPT_FAKE:
            z.fake_file = optarg;
            break;
        case OPT_ZKOCC:
            zkocc_addrs = optarg;
            break;
        case OPT_USE_ZKOCC:
            use_zkocc = 1;
            break;
        case OPT_FAKE_SAVE:
            z.fake_save = optarg;
            break;
        case 'a':
            free((char *)z.auth);
            z.auth = strdup(optarg);
            if (z.auth == NULL) {
                /* Not silently without the credentials asked for. */
                fputs("zk: --auth: out of memory\n", stderr);
                return ZK_EXIT_FAIL;
            }
            /* Hide the credentials from ps and /proc. */
            memset(optarg, 'x', strlen(optarg));
            break;
        case OPT_CONFIG:
            z.config = optarg;
            break;
        case OPT_LOCAL_CELL:
            z.local_cell = optarg;
            break;
        case OPT_CONNECT_TIMEOUT:
            if ((rc = zk_parse_duration_opt(&z, "--connect-timeout", optarg,
                                            &z.connect_timeout_ms)))
                return rc;
            if (z.connect_timeout_ms == 0)
                z.connect_timeout_ms = 1;
            break;
        case OPT_SESSION_TIMEOUT:
            if ((rc = zk_parse_duration_opt(&z, "--session-timeout", optarg,
                                            &z.session_timeout_ms)))
                return rc;
            break;
        case OPT_LOCK_WAIT: {
            int ms;
            if ((rc = zk_parse_duration_opt(&z, "--lock-wait-timeout", optarg, &ms)))
                return rc;
            z.lock_wait_ms = ms;
            break;
        }
        case OPT_WINDOW:
            if (zk_parse_uint(optarg, 1, 65536, &z.window) != 0)
                return zk_usage(&z, "--window: want a number from 1 to 65536, got '%s'",
                                optarg);
            break;
        case OPT_RAW:
            z.escape = 0;
            break;
        case OPT_ESCAPE:
            z.escape = 1;
            break;
        case 'h':
            zk_help(stdout, NULL);
            return ZK_EXIT_OK;
        case OPT_VERSION:
            printf("zk (zkcell) %s\n", zkc_version());
            return ZK_EXIT_OK;
        default:
            if (optopt != 0 && optopt < 256)
                fprintf(stderr, "zk: unknown option or missing value: -%c\n", optopt);
            else
                fprintf(stderr, "zk: unknown option or missing value: %s\n", argv[optind - 1]);
            fputs("Try 'zk --help'.\n", stderr);
            return ZK_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(global_help, stderr);
        return ZK_EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        if (optind + 1 < argc && find_cmd(argv[optind + 1]) == NULL) {
            fprintf(stderr, "zk: unknown command '%s'\nTry 'zk help'.\n", argv[optind + 1]);
            return ZK_EXIT_USAGE;
        }
        zk_help(stdout, optind + 1 < argc ? argv[optind + 1] : NULL);
        return ZK_EXIT_OK;
    }
    const zk_cmd *cmd = find_cmd(name);
    if (cmd == NULL) {
        fprintf(stderr, "zk: unknown command '%s'\nTry 'zk help'.\n", name);
        return ZK_EXIT_USAGE;
    }
    z.cmd = cmd->name;
    z.cancel = zkc_cancel_new();
    if (zkocc_addrs != NULL && z.server != NULL) {
        /* The original: mutually exclusive. */
        zk_usage(&z, "--zkocc and --server are mutually exclusive");
        zkc_cancel_free(z.cancel);
        return ZK_EXIT_USAGE;
    }
    if (z.fake_save != NULL && z.fake_file == NULL) {
        zk_usage(&z, "--fake-save needs --fake");
        zkc_cancel_free(z.cancel);
        return ZK_EXIT_USAGE;
    }

    int cargc = argc - optind;
    char **cargv = argv + optind;
    optind = 0; /* glibc: reinitialise for the subcommand's options */
    rc = cmd->fn(&z, cargc, cargv);
    fflush(stdout);
    if (ferror(stdout) && rc == ZK_EXIT_OK) {
        fprintf(stderr, "zk %s: error writing to standard output\n", z.cmd);
        rc = ZK_EXIT_FAIL;
    }
    disconnect(&z);
    if (rc == ZK_EXIT_OK && z.status != ZK_EXIT_OK)
        rc = z.status;
    zk_release_signals();
    zkc_cancel_free(z.cancel);
    free((char *)z.auth);
    return rc;
}
