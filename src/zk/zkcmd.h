/*
 * zkcmd.h: what the files of the zk command share.
 *
 *   main.c     global options, dispatch to the subcommands (nothing
 *              depends on it)
 *   conn.c     the connection (--server, --fake, --zkocc, the cells),
 *              cell error details
 *   help.c     help texts: zk --help, zk help COMMAND
 *   signals.c  SIGINT/SIGTERM/SIGHUP to the cancel token
 *   out.c      output: errors on stderr, escaping of binary data on a
 *              terminal, times, JSON helpers, base64
 *   pipe.c     a window of asynchronous operations, and the tree walker
 *              built on it (ls -R, tree, find, du, dump, zip)
 *   progress.c the progress meter of long commands and their summary
 *              (rm -r, ls -R, dump, restore, zip, unzip) on stderr
 *   paths.c    path arguments: cleaning, wildcards, "zk:" prefixes
 *   cmd_read.c    ls, cat, stat, tree, find, du
 *   cmd_write.c   touch, rm, cp, edit, chmod
 *   cmd_wait.c    wait, watch, elock, qlock
 *   child.c       a command run under a lock: its own process group, a
 *                 watchdog, stopped as a group (and the watchdog's main)
 *   cmd_archive.c zip, unzip, dump, restore
 *   cmd_zkns.c    zkns-set, zkns-resolve
 *
 * The command is single-threaded except inside pipe.c, whose completions
 * run on the connection's threads, and progress.c, whose meter draws from
 * a thread of its own.
 */
#ifndef ZK_ZKCMD_H
#define ZK_ZKCMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "zkcell/conn.h"
#include "zkcell/err.h"
#include "zkcell/fake.h"
#include "zkcell/path.h"
#include "zkcell/sys/conn_impl.h" /* zkc_impl_now_ms(): the library's monotonic clock */
#include "zkcell/util.h"
#include "zkcell/watch.h"
#include "zkcell/zk.h"

/*
 * The server drops the connection on a request longer than its packet
 * limit, jute.maxbuffer, 0xfffff bytes by default.  Besides the data, a
 * create or set carries its header, lengths, the path, and the version or
 * the ACL and flags: measured on ZooKeeper 3.8 at the path "/m" (2 bytes),
 * the largest set takes 1048553 bytes of data (20 bytes of overhead) and
 * the largest create 1048526 (47 bytes), so a write of exactly 1 MiB
 * never fits.  zk_max_data() is what the zk command lets through.
 */
#define ZK_MAX_PACKET 1048575
#define ZK_REQUEST_OVERHEAD 64

/* Exit statuses. */
#define ZK_EXIT_OK 0
#define ZK_EXIT_FAIL 1  /* some paths failed */
#define ZK_EXIT_USAGE 2 /* bad arguments */

/* Everything a subcommand needs. */
typedef struct zk_progress zk_progress;

/* Whether long commands show a progress meter and a summary. */
enum {
    ZK_PROGRESS_AUTO, /* when stderr is a terminal */
    ZK_PROGRESS_ON,   /* --progress: always */
    ZK_PROGRESS_OFF   /* --quiet: never */
};

typedef struct zk_ctx {
    const char *cmd;           /* subcommand name, for messages */
    zkc_conn *conn;            /* NULL until zk_connect() */
    zkc_strings *known_cells;  /* cells for a '*' in /zk/<cell>; NULL: children of /zk */
    zkc_cancel *cancel;        /* triggered by SIGINT/SIGTERM when handled */
    int status;                /* exit status so far */
    unsigned window;           /* operations in flight for bulk work */
    int escape;                /* escape data on stdout: 1 yes, 0 raw */
    bool json;                 /* the subcommand's --json */
    int64_t lock_wait_ms;      /* --lock-wait-timeout, -1: forever */
    int progress_mode;         /* ZK_PROGRESS_*: --progress, --quiet */
    zk_progress *meter;        /* the meter on stderr now, or NULL */
    int meter_held;            /* zk_progress_hold() depth */

    /* connection options, from main.c, used by conn.c */
    const char *server;
    const char *fake_file;
    const char *fake_save;
    const char *auth;          /* "user:password", never printed */
    const char *auth_config;   /* --auth-config (zk_auth.json), else $ZK_AUTH_CONFIG */
    const char *quorums;       /* --quorums "H1;H2;H3": the global namespace */
    bool pass_auth;            /* --pass-auth: COMMANDs keep ZK_AUTH, ZK_AUTH_CONFIG */
    const char *config;        /* --config */
    const char *local_cell;    /* --local-cell */
    const char *zkocc_addrs;   /* --zkocc: zkocc daemons for every path */
    const char *local_addrs;   /* -zk.local-addrs: the local cell's addresses */
    const char *global_addrs;  /* -zk.global-addrs: the global cell's addresses */
    bool use_zkocc;            /* --use-zkocc: the cells' ":_zkocc" daemons */
    int connect_timeout_ms;
    int session_timeout_ms;
    zkc_fake_tree *fake_tree;
    zkc_conn *routed;          /* the router while conn is a cell's (locks) */
} zk_ctx;

/* A subcommand: parses its own options (argv[0] is its name). */
typedef int (*zk_cmd_fn)(zk_ctx *z, int argc, char **argv);

/* ---- conn.c ---- */

/* Connect as the global options say.  Returns ZKC_OK, or prints the
 * error and returns it (the caller exits 1). */
int zk_connect(zk_ctx *z);
/* For a connection error on a /zk/<cell> path through the cells: a
 * detail naming the cell and why it is unreachable, in buf; else NULL. */
const char *zk_cell_detail(zk_ctx *z, const char *path, int rc, char *buf, size_t size);
/* Locks hold a session, so they talk to the cell's own connection
 * rather than through the router: after zk_connect(), switch z->conn to
 * the connection of *path's cell (rewriting /zk/local/... in *path, a
 * malloc'd string) until zk_cell_conn_end().  A no-op without cells.
 * Returns ZKC_OK, or prints the error and returns it. */
int zk_cell_conn_begin(zk_ctx *z, char **path);
void zk_cell_conn_end(zk_ctx *z);
/* Save the fake tree (--fake-save), close the connection, free the cells. */
void zk_disconnect(zk_ctx *z);

/* ---- help.c ---- */

/* Print the help of subcommand cmd to f; the global usage when cmd is
 * NULL or not a subcommand. */
void zk_help(FILE *f, const char *cmd);
/* The option loop of a subcommand whose only option is --help:
 * optstring is "h", or "+h" to stop at the first operand.  Returns -1 to
 * go on with the operands from optind, or the exit status to return (the
 * help was printed, or a bad option reported). */
int zk_getopt_none(zk_ctx *z, int argc, char **argv, const char *optstring);

/* ---- signals.c ---- */

/* Handle SIGINT/SIGTERM/SIGHUP by triggering z->cancel from now on. */
void zk_catch_signals(zk_ctx *z);
/* Stop reaching z->cancel from the handler (it does nothing from now on):
 * after this returns no handler touches the token, which can be freed. */
void zk_release_signals(void);

/* ---- out.c ---- */

/* "zk CMD: PATH: message" on stderr; sets status 1.  rc is a zkcell
 * code; detail may be NULL. */
void zk_err(zk_ctx *z, const char *path, int rc, const char *detail);
/* "zk CMD: message" on stderr; sets status 1. */
void zk_errf(zk_ctx *z, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "zk CMD: message" and a hint on stderr; returns ZK_EXIT_USAGE. */
int zk_usage(zk_ctx *z, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Write bytes to f: raw, or with non-printable bytes as \xNN when
 * z->escape. */
void zk_write_data(zk_ctx *z, FILE *f, const char *data, size_t len);
/* Format ms since the epoch, local time: "YYYY-MM-DD HH:MM:SS". */
void zk_fmt_time(int64_t ms, char *buf, size_t size);
/* Same, with milliseconds and the zone offset. */
void zk_fmt_time_long(int64_t ms, char *buf, size_t size);
/* Parse the value of option opt as a duration in int milliseconds
 * (zkc_parse_duration_ms, a bare number is seconds): returns 0 and *ms,
 * or reports a usage error and returns ZK_EXIT_USAGE. */
int zk_parse_duration_opt(zk_ctx *z, const char *opt, const char *val, int *ms);
/* Parse an unsigned integer in [min, max]. */
int zk_parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret);

/* JSON: the stat as an object; data as "data" (UTF-8 text) or
 * "data_base64" set into obj; an ACL list as an array. */
json_t *zk_json_stat(const zkc_stat *st);
void zk_json_set_data(json_t *obj, const char *data, size_t len);
json_t *zk_json_acl(const zkc_acl_list *acl);
/* Read data back from an object written by zk_json_set_data: returns 0
 * with a malloc'd buffer (NUL-terminated), or -1 when malformed. */
int zk_json_get_data(json_t *obj, char **data, size_t *len);
/* Read an ACL array back; -1 when malformed. */
int zk_json_get_acl(json_t *arr, zkc_acl_list **ret);
/* Print one JSON document and a newline to stdout. */
void zk_json_print(json_t *doc, bool pretty);

/* The largest data a node at path can be written with (ZK_MAX_PACKET
 * less the path, with --server's chroot, and ZK_REQUEST_OVERHEAD). */
size_t zk_max_data(const zk_ctx *z, const char *path);
/* Whether len bytes of data fit a node at path; if not, an error naming
 * what (a file, an entry; NULL: path), the size and the limit. */
bool zk_data_fits(zk_ctx *z, const char *what, const char *path, size_t len);
/* The same check, the message (without the path) in buf. */
bool zk_data_fits_msg(const zk_ctx *z, const char *path, size_t len, char *buf, size_t size);
/* A string as a JSON string literal, for naming hostile names in
 * messages (quotes, control characters and NUL escaped); malloc'd, or
 * NULL when out of memory. */
char *zk_quote(const char *s, size_t len);

/* "rwdca" -> perms; -1 on a bad letter. */
int zk_perms_parse(const char *s, uint32_t *ret);

/* ---- progress.c ---- */

/*
 * Start the meter of a long command, counting nodes VERB ("listed",
 * "deleted"; a static string) out of total (0: unknown), labelled with
 * what ("rm -r") and the nargs operands as typed.  Returns NULL when
 * progress is off (stderr not a terminal without --progress, or --quiet),
 * when a meter runs already, or out of memory: the functions below take
 * NULL and do nothing.  The meter is z->meter until zk_progress_end().
 */
zk_progress *zk_progress_start(zk_ctx *z, const char *what, char *const *args, int nargs,
                               const char *verb, uint64_t total);
/* Count n more nodes done.  Any thread. */
void zk_progress_add(zk_progress *p, uint64_t n);
/* Set the count and the total (0: unknown).  Any thread. */
void zk_progress_set(zk_progress *p, uint64_t done, uint64_t total);
/* A new phase: nodes VERB (static), counting from done out of total, the
 * rate measured from now.  Any thread. */
void zk_progress_phase(zk_progress *p, const char *verb, uint64_t done, uint64_t total);
/* Around anything else written to stderr, or to stdout on a terminal,
 * while a meter may run: clear its line and keep it off until released.
 * Nests.  The command's thread only; no-ops without a meter. */
void zk_progress_hold(zk_ctx *z);
void zk_progress_release(zk_ctx *z);
/* Stop z's meter (if any), clear its line, and print the summary "zk:
 * LABEL: COUNT nodes VERB in T s" (after flushing stdout); free it. */
void zk_progress_end(zk_ctx *z, uint64_t count, const char *verb);

/* --quiet and --progress: global options, and options of the commands
 * with a meter (values clear of the commands' own). */
enum { ZK_OPT_QUIET = 600, ZK_OPT_PROGRESS };
#define ZK_PROGRESS_OPTIONS                                                    \
    {"quiet", no_argument, NULL, ZK_OPT_QUIET},                                \
        {"progress", no_argument, NULL, ZK_OPT_PROGRESS}
#define ZK_PROGRESS_CASE                                                       \
    case ZK_OPT_QUIET:                                                         \
        z->progress_mode = ZK_PROGRESS_OFF;                                    \
        break;                                                                 \
    case ZK_OPT_PROGRESS:                                                      \
        z->progress_mode = ZK_PROGRESS_ON;                                     \
        break

/* ---- paths.c ---- */

/* One path argument after expansion. */
typedef struct zk_arg {
    char *path;      /* cleaned, no trailing '/' except for "/" */
    bool trailing;   /* the argument ended in '/' */
    const char *arg; /* the argument as typed (borrowed) */
} zk_arg;

typedef struct zk_args {
    size_t n, cap;
    zk_arg *v;
} zk_args;

/* Clean a ZooKeeper path the way Go's path.Clean does (no "." or "..",
 * no doubled or trailing '/').  Returns a malloc'd string, or NULL when
 * the path is not absolute. */
char *zk_path_clean(const char *in, bool *trailing);

/* Expand the path arguments (wildcards, cells).  Errors are printed
 * naming the argument; with quiet_missing, patterns that match nothing
 * are skipped silently.  Returns the number of failed arguments. */
size_t zk_expand(zk_ctx *z, char **argv, int argc, bool quiet_missing, zk_args *out);
void zk_args_free(zk_args *a);
/* zk_expand(), then zk_connect() when any path is left.  Returns 0, or -1
 * when the connection failed (printed; *out freed). */
int zk_expand_connect(zk_ctx *z, char **argv, int argc, bool quiet_missing, zk_args *out);
/* For the subcommands that take one node: expand arg, which must match
 * exactly one node (else an error naming it and z->cmd), and connect.
 * Returns 0 with the node in out->v[0], or -1 (printed; *out freed). */
int zk_expand_single(zk_ctx *z, char *arg, zk_args *out);
/* A path argument taken literally (no wildcards): the "zk:" prefix
 * dropped, then cleaned.  Returns a malloc'd path, or NULL after an error
 * naming arg. */
char *zk_arg_clean(zk_ctx *z, const char *arg, bool *trailing);

/* A path in ZooKeeper ("/zk/...", or any path with a "zk:" prefix)
 * rather than a local file; *zpath points past the prefix. */
bool zk_is_zk_path(const char *arg, const char **zpath);

/* ---- pipe.c ---- */

typedef struct zk_pipe zk_pipe;
/* Called once per added request, on a connection thread, serialized
 * with the other calls of the same pipe.  May call zk_pipe_add(). */
typedef void (*zk_pipe_fn)(zk_pipe *p, const zkc_result *res, void *tag);

zk_pipe *zk_pipe_new(zkc_conn *c, unsigned window, zkc_cancel *cancel);
/* Queue a request (copied).  Returns ZKC_OK or ZKC_ENOMEM. */
int zk_pipe_add(zk_pipe *p, const zkc_request *req, zk_pipe_fn fn, void *tag);
/* Run until every queued request has completed (or the cancel token is
 * triggered: then ZKC_EINTERRUPTED). */
int zk_pipe_run(zk_pipe *p);
void zk_pipe_free(zk_pipe *p);

/* One node found by the walker. */
typedef struct zk_node {
    char *path;
    int depth;             /* 0 for the root */
    int rc;                /* ZKC_OK, or why this node could not be read */
    zkc_stat stat;
    char *data;            /* with want_data */
    size_t data_len;
    zkc_acl_list *acl;     /* with want_acl */
} zk_node;

typedef struct zk_walk_opts {
    bool want_data;
    bool want_acl;
    bool names_only;       /* no stats wanted: nodes' stats stay zero */
    int max_depth;         /* -1: no limit */
    zk_progress *progress; /* counts each node found; may be NULL */
} zk_walk_opts;

typedef struct zk_tree {
    size_t n, cap;
    zk_node **v; /* sorted depth-first, children by name */
} zk_tree;

/* Walk the subtree at root with a window of operations.  Returns ZKC_OK
 * (nodes that could not be read carry their rc), or the root's error.
 * Nodes deleted during the walk are left out. */
int zk_walk(zk_ctx *z, const char *root, const zk_walk_opts *o, zk_tree *out);
void zk_tree_free(zk_tree *t);
/* Compare paths depth-first ('/' before every other byte). */
int zk_path_cmp(const char *a, const char *b);

/* Fetch the stats of many paths at once (exists).  st[i] gets the stat
 * and rc[i] ZKC_OK, ZKC_ENONODE or another error. */
int zk_stat_many(zk_ctx *z, char *const *paths, size_t n, zkc_stat *st, int *rc);

/* The result of one get or get_acl of zk_fetch_many(). */
typedef struct zk_fetched {
    int rc;
    zkc_stat stat;
    char *data; /* get: NUL-terminated */
    size_t data_len;
    zkc_acl_list *acl; /* get_acl */
} zk_fetched;

/* Run op (ZKC_OP_GET or ZKC_OP_GET_ACL) on n paths, pipelined; out has
 * n slots.  Returns ZKC_OK (each slot has its rc) or a global error. */
int zk_fetch_many(zk_ctx *z, zkc_op op, char *const *paths, size_t n, zk_fetched *out);
/* Free the contents of n slots, and the array. */
void zk_fetched_free(zk_fetched *f, size_t n);

/* ---- child.c ---- */

/* argv[1] of zk started as a watchdog (never typed by users). */
#define ZK_WATCHDOG_ARG "--zk-internal-watchdog"

/* A command run under a lock, and its watchdog. */
typedef struct zk_child {
    pid_t pgid;            /* the command, leader of its own group; 0: none */
    pid_t watchdog;        /* 0: none */
    int wd_fd;             /* our end of the watchdog's socket, close-on-exec; -1 */
    int grace_ms;          /* the watchdog's SIGTERM-to-SIGKILL grace */
    int64_t sent_deadline; /* the last kill deadline sent to the watchdog */
    bool exited;           /* the leader has been reaped, with wstatus */
    int wstatus;
} zk_child;

/* Spawn argv (searched in $PATH) as the leader of a new process group,
 * with env_add ("NAME=value", NULL-terminated) set in its environment,
 * and its watchdog (which stops the group, SIGTERM then SIGKILL after
 * grace_ms, if zk dies).  Returns 0; the errno of a spawn that failed
 * (ENOENT: not found), printed; or -1 after another error, printed.
 * Nothing is left running on failure. */
int zk_child_spawn(zk_ctx *z, char *const *argv, char *const *env_add, int grace_ms,
                   zk_child *ch);
/* Tell the watchdog the time (zkc_impl_now_ms()) by which the group must be
 * dead, zk or no zk; 0: no such bound.  Sent only when it changed. */
void zk_child_set_deadline(zk_child *ch, int64_t kill_by);
/* Reap what has ended; true once the leader has (ch->wstatus). */
bool zk_child_exited(zk_child *ch);
/* The time (zkc_impl_now_ms()) to send SIGKILL, asked again every few ms while
 * stopping (it may also do the caller's periodic work). */
typedef int64_t (*zk_kill_at_fn)(void *ud);
/* Stop the whole group: SIGTERM (and SIGCONT) now, SIGKILL once
 * kill_at(ud) has passed, and reap until no member is left.  Returns 0,
 * or -1 when members outlived SIGKILL for seconds (printed). */
int zk_child_stop(zk_ctx *z, zk_child *ch, zk_kill_at_fn kill_at, void *ud);
/* After zk_child_stop(): dismiss the watchdog and reap it. */
void zk_child_end(zk_child *ch);
/* main() of zk started with ZK_WATCHDOG_ARG PGID GRACE_MS, its standard
 * input the socket from zk.  Returns the exit status. */
int zk_watchdog_main(int argc, char **argv);

/* ---- subcommands ---- */

int zk_cmd_ls(zk_ctx *z, int argc, char **argv);
int zk_cmd_cat(zk_ctx *z, int argc, char **argv);
int zk_cmd_stat(zk_ctx *z, int argc, char **argv);
int zk_cmd_tree(zk_ctx *z, int argc, char **argv);
int zk_cmd_find(zk_ctx *z, int argc, char **argv);
int zk_cmd_du(zk_ctx *z, int argc, char **argv);
int zk_cmd_touch(zk_ctx *z, int argc, char **argv);
int zk_cmd_rm(zk_ctx *z, int argc, char **argv);
int zk_cmd_cp(zk_ctx *z, int argc, char **argv);
int zk_cmd_edit(zk_ctx *z, int argc, char **argv);
int zk_cmd_chmod(zk_ctx *z, int argc, char **argv);
int zk_cmd_wait(zk_ctx *z, int argc, char **argv);
int zk_cmd_watch(zk_ctx *z, int argc, char **argv);
int zk_cmd_elock(zk_ctx *z, int argc, char **argv);
int zk_cmd_qlock(zk_ctx *z, int argc, char **argv);
int zk_cmd_zip(zk_ctx *z, int argc, char **argv);
int zk_cmd_unzip(zk_ctx *z, int argc, char **argv);
int zk_cmd_dump(zk_ctx *z, int argc, char **argv);
int zk_cmd_restore(zk_ctx *z, int argc, char **argv);
int zk_cmd_zkns_set(zk_ctx *z, int argc, char **argv);
int zk_cmd_zkns_resolve(zk_ctx *z, int argc, char **argv);

/* ---- cmd_global.c: divergence across --quorums ---- */

int zk_cmd_diff(zk_ctx *z, int argc, char **argv);
int zk_cmd_repair(zk_ctx *z, int argc, char **argv);

/* Report the option getopt_long() just refused; returns ZK_EXIT_USAGE. */
int zk_bad_option(zk_ctx *z, char **argv);

/* The end of a subcommand's option switch: --help and bad options. */
#define ZK_HELP_CASE                                                           \
    case 'h':                                                                  \
        zk_help(stdout, z->cmd);                                               \
        return ZK_EXIT_OK;                                                     \
    default:                                                                   \
        return zk_bad_option(z, argv)

#endif
