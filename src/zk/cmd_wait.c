/*
 * cmd_wait.c: the subcommands that wait: wait, watch, elock and qlock.
 *
 * They wait with poll(2) on watch descriptors, the cancel token that
 * SIGINT and SIGTERM trigger, and, for the locks, the session's state
 * descriptor: a lock is given up as lost (and a command run under it is
 * stopped, its whole process group, before the session could expire on
 * the server: see child.c) as soon as its node goes or its session is in
 * doubt, never kept silently.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zkcmd.h"
#include "zkcell/recipes.h"

#define EXIT_INTERRUPTED 130

static const char *event_name(zkc_event_type t)
{
    switch (t) {
    case ZKC_EVENT_CREATED: return "CREATED";
    case ZKC_EVENT_DELETED: return "DELETED";
    case ZKC_EVENT_CHANGED: return "CHANGED";
    case ZKC_EVENT_CHILD: return "CHILD";
    case ZKC_EVENT_SESSION_EXPIRED: return "SESSION_EXPIRED";
    case ZKC_EVENT_CLOSED: return "CLOSED";
    default: return "NONE";
    }
}

/* ---- --ready-fd ---- */

enum { OPT_READY_FD = 256 };

/* The value of --ready-fd: a descriptor open in this process.  Returns 0
 * with *fd, or reports a usage error and returns ZK_EXIT_USAGE. */
static int ready_fd_opt(zk_ctx *z, const char *val, int *fd)
{
    unsigned n;
    if (zk_parse_uint(val, 0, INT_MAX, &n) != 0 || fcntl((int)n, F_GETFD) == -1)
        return zk_usage(z, "--ready-fd: want an open file descriptor, got '%s'", val);
    *fd = (int)n;
    return 0;
}

/* The watches are set: say "ready" on *fd and close it (nothing when
 * *fd < 0; stdin, stdout and stderr stay open), so that a script may now
 * make the change it waits for. */
static void ready(zk_ctx *z, int *fd)
{
    if (*fd < 0)
        return;
    static const char msg[] = "ready\n";
    ssize_t n;
    do {
        n = write(*fd, msg, sizeof msg - 1);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)(sizeof msg - 1))
        zk_errf(z, "--ready-fd %d: %s", *fd, n < 0 ? strerror(errno) : "short write");
    if (*fd > STDERR_FILENO)
        close(*fd);
    *fd = -1;
}

/* ---- wait ---- */

int zk_cmd_wait(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"timeout", required_argument, NULL, 't'},
                                       {"ready-fd", required_argument, NULL, OPT_READY_FD},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    bool exit_if_exists = false;
    int timeout = -1, ready_fd = -1, c, rc;
    while ((c = getopt_long(argc, argv, "et:h", lo, NULL)) != -1) {
        switch (c) {
        case 'e': exit_if_exists = true; break;
        case 't':
            if ((rc = zk_parse_duration_opt(z, "--timeout", optarg, &timeout)) != 0)
                return rc;
            break;
        case OPT_READY_FD:
            if ((rc = ready_fd_opt(z, optarg, &ready_fd)) != 0)
                return rc;
            break;
        ZK_HELP_CASE;
        }
    }
    if (argc - optind != 1)
        return zk_usage(z, "want exactly one path");
    zk_args a;
    if (zk_expand_single(z, argv[optind], &a) != 0)
        return ZK_EXIT_FAIL;
    zk_catch_signals(z);
    const char *path = a.v[0].path;
    bool children = a.v[0].trailing;
    zkc_watch *w = NULL;
    for (;;) {
        if (children)
            rc = zkc_children(z->conn, path, NULL, NULL, &w);
        else
            rc = zkc_get(z->conn, path, NULL, NULL, NULL, &w);
        if (rc == ZKC_OK && exit_if_exists) {
            zkc_watch_free(w);
            zk_args_free(&a);
            return ZK_EXIT_OK;
        }
        if (rc != ZKC_ENONODE)
            break;
        bool exists = false;
        rc = zkc_exists(z->conn, path, &exists, NULL, &w);
        if (rc != ZKC_OK || !exists)
            break;
        /* Created meanwhile: read it again. */
        zkc_watch_free(w);
        w = NULL;
    }
    if (rc != ZKC_OK) {
        zk_err(z, path, rc, NULL);
    } else {
        ready(z, &ready_fd);
        rc = zkc_watch_wait(w, timeout, z->cancel);
        if (rc == ZKC_OK) {
            printf("event: %s %s\n", event_name(zkc_watch_event(w)->type), path);
        } else if (rc == ZKC_EINTERRUPTED) {
            z->status = EXIT_INTERRUPTED;
        } else {
            zk_err(z, path, rc, NULL);
        }
    }
    zkc_watch_free(w);
    zk_args_free(&a);
    return z->status;
}

/* ---- watch ---- */

typedef struct watched {
    const char *path;
    zkc_watch *w; /* NULL: no longer watched */
} watched;

/* Arm a data watch on path (or an exists watch while it is missing), and
 * print the data when asked. */
static int arm(zk_ctx *z, watched *wd, const char *event)
{
    for (;;) {
        char *data = NULL;
        size_t len = 0;
        zkc_stat st;
        int rc = zkc_get(z->conn, wd->path, &data, &len, &st, &wd->w);
        if (rc == ZKC_OK) {
            if (event != NULL && z->json) {
                json_t *j = json_pack("{ss ss}", "event", event, "path", wd->path);
                zk_json_set_data(j, data, len);
                json_object_set_new(j, "stat", zk_json_stat(&st));
                zk_json_print(j, false);
                json_decref(j);
            } else if (event != NULL) {
                printf("%s %s version=%d size=%zu\n", event, wd->path, (int)st.version, len);
                zk_write_data(z, stdout, data, len);
                if (len > 0 && data[len - 1] != '\n')
                    fputc('\n', stdout);
            }
            fflush(stdout);
            zkc_free(data);
            return ZKC_OK;
        }
        if (rc != ZKC_ENONODE)
            return rc;
        bool exists = false;
        rc = zkc_exists(z->conn, wd->path, &exists, NULL, &wd->w);
        if (rc != ZKC_OK || !exists)
            return rc;
        zkc_watch_free(wd->w);
        wd->w = NULL;
    }
}

static void print_event(zk_ctx *z, const char *event, const char *path)
{
    if (z->json) {
        json_t *j = json_pack("{ss ss}", "event", event, "path", path);
        zk_json_print(j, false);
        json_decref(j);
    } else {
        printf("%s %s\n", event, path);
    }
    fflush(stdout);
}

int zk_cmd_watch(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"timeout", required_argument, NULL, 't'},
                                       {"count", required_argument, NULL, 'n'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"ready-fd", required_argument, NULL, OPT_READY_FD},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int timeout = -1, ready_fd = -1, c, rc;
    unsigned count = 0;
    while ((c = getopt_long(argc, argv, "t:n:h", lo, NULL)) != -1) {
        switch (c) {
        case 't':
            if ((rc = zk_parse_duration_opt(z, "--timeout", optarg, &timeout)) != 0)
                return rc;
            break;
        case 'n':
            if (zk_parse_uint(optarg, 1, UINT32_MAX, &count) != 0)
                return zk_usage(z, "--count: want a number of events, got '%s'", optarg);
            break;
        case 'j': z->json = true; break;
        case OPT_READY_FD:
            if ((rc = ready_fd_opt(z, optarg, &ready_fd)) != 0)
                return rc;
            break;
        ZK_HELP_CASE;
        }
    }
    if (optind >= argc)
        return zk_usage(z, "no path given");
    zk_args a;
    if (zk_expand_connect(z, argv + optind, argc - optind, false, &a) != 0 || a.n == 0) {
        zk_args_free(&a);
        return ZK_EXIT_FAIL;
    }
    zk_catch_signals(z);
    watched *ws = calloc(a.n, sizeof *ws);
    struct pollfd *pfd = calloc(a.n + 1, sizeof *pfd);
    size_t *idx = calloc(a.n + 1, sizeof *idx);
    if (ws == NULL || pfd == NULL || idx == NULL) {
        zk_errf(z, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < a.n; i++) {
        ws[i].path = a.v[i].path;
        if ((rc = arm(z, &ws[i], NULL)) != ZKC_OK)
            zk_err(z, ws[i].path, rc, NULL);
    }
    ready(z, &ready_fd); /* every path that could be is watched */
    int64_t deadline = timeout >= 0 ? zkc_impl_now_ms() + timeout : -1;
    unsigned events = 0;
    for (;;) {
        nfds_t n = 0;
        for (size_t i = 0; i < a.n; i++) {
            if (ws[i].w == NULL)
                continue;
            pfd[n].fd = zkc_watch_fd(ws[i].w);
            pfd[n].events = POLLIN;
            idx[n++] = i;
        }
        if (n == 0)
            break; /* nothing left to watch */
        pfd[n].fd = zkc_cancel_fd(z->cancel);
        pfd[n].events = POLLIN;
        int wait_ms = -1;
        if (deadline >= 0) {
            int64_t left = deadline - zkc_impl_now_ms();
            if (left <= 0)
                break;
            wait_ms = (int)left;
        }
        int r = poll(pfd, n + 1, wait_ms);
        if (r < 0 && errno != EINTR) {
            zk_errf(z, "poll: %s", strerror(errno));
            break;
        }
        if (zkc_cancel_is_set(z->cancel))
            break;
        bool closed = false;
        for (nfds_t k = 0; k < n; k++) {
            watched *wd = &ws[idx[k]];
            if (!zkc_watch_fired(wd->w))
                continue;
            zkc_event_type t = zkc_watch_event(wd->w)->type;
            zkc_watch_free(wd->w);
            wd->w = NULL;
            events++;
            switch (t) {
            case ZKC_EVENT_CHANGED:
            case ZKC_EVENT_CREATED:
                if ((rc = arm(z, wd, event_name(t))) != ZKC_OK)
                    zk_err(z, wd->path, rc, NULL);
                break;
            case ZKC_EVENT_DELETED:
                print_event(z, "DELETED", wd->path);
                break;
            case ZKC_EVENT_CLOSED:
                print_event(z, "CLOSED", wd->path);
                closed = true;
                break;
            default:
                print_event(z, event_name(t), wd->path);
                if ((rc = arm(z, wd, NULL)) != ZKC_OK) {
                    zk_err(z, wd->path, rc, NULL);
                    closed = true;
                }
                break;
            }
            if (count > 0 && events >= count)
                closed = true;
        }
        if (closed)
            break;
    }
out:
    for (size_t i = 0; ws != NULL && i < a.n; i++)
        zkc_watch_free(ws[i].w);
    free(ws);
    free(pfd);
    free(idx);
    zk_args_free(&a);
    return z->status;
}

/* ---- holding a lock node ---- */

#define DEFAULT_KILL_GRACE_MS 2000

/* The exit status of a command that waitpid() reported as ws. */
static int child_status(int ws)
{
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* The probe that keeps zkc_zk_last_heard() fresh while a command runs:
 * one exists request at a time.  Static: its completion may come after
 * hold() returned, as late as the connection's close. */
static atomic_bool probe_busy;

static void probe_done(const zkc_result *res, void *userdata)
{
    (void)res;
    (void)userdata;
    atomic_store(&probe_busy, false);
}

/* What hold() knows about the session, for the command's deadlines. */
typedef struct holder {
    zk_ctx *z;
    const char *path;
    int session_ms;     /* granted at the start; 0: not a real session, no bound */
    int grace_ms;       /* --kill-grace */
    int64_t next_probe; /* zkc_impl_now_ms() */
    int64_t term_at;    /* when the group got SIGTERM */
} holder;

/* Send a probe when one is due: requests at least every quarter of the
 * session timeout, so that the C client sends no pings of its own and
 * the last answer is never older than that while the server answers. */
static void holder_probe(holder *h)
{
    if (h->session_ms <= 0 || atomic_load(&probe_busy))
        return;
    int64_t now = zkc_impl_now_ms();
    if (now < h->next_probe)
        return;
    h->next_probe = now + (h->session_ms >= 8 ? h->session_ms / 4 : 2);
    atomic_store(&probe_busy, true);
    if (zkc_aexists(h->z->conn, h->path, 0, probe_done, NULL) != ZKC_OK)
        atomic_store(&probe_busy, false);
}

/*
 * The time by which no process of the command may be left: the server
 * cannot expire the session before the send time of the latest request
 * it answered plus the session timeout.  We keep a margin for the kill
 * itself and for a busy machine: 10% of the timeout, at least
 * KILL_MARGIN_MIN_MS (at most a quarter of the timeout).  0: no bound
 * (the fake has no session timeout).
 */
#define KILL_MARGIN_MIN_MS 500
static int64_t holder_kill_by(const holder *h)
{
    if (h->session_ms <= 0)
        return 0;
    int margin = h->session_ms / 10;
    if (margin < KILL_MARGIN_MIN_MS)
        margin = KILL_MARGIN_MIN_MS;
    if (margin > h->session_ms / 4)
        margin = h->session_ms / 4;
    int64_t heard = zkc_zk_last_heard(h->z->conn);
    int64_t by = heard + h->session_ms - margin;
    return by > 0 ? by : 1; /* never heard: at once */
}

/* zk_kill_at_fn: SIGKILL after the grace period, or earlier when the
 * session bound comes first.  Keeps probing meanwhile. */
static int64_t holder_kill_at(void *userdata)
{
    holder *h = userdata;
    holder_probe(h);
    int64_t at = h->term_at + h->grace_ms;
    int64_t by = holder_kill_by(h);
    return by > 0 && by < at ? by : at;
}

/* Spawn the command with the fencing token and the node's path in its
 * environment.  Returns 0, or the exit status to give. */
static int hold_spawn(zk_ctx *z, const char *path, int64_t czxid, char **cmd, int ncmd,
                      int grace_ms, zk_child *ch)
{
    char token[48];
    snprintf(token, sizeof token, "ZKCELL_LOCK_TOKEN=%" PRId64, czxid);
    static const char path_var[] = "ZKCELL_LOCK_PATH=";
    char *path_env = malloc(sizeof path_var + strlen(path));
    char **args = calloc((size_t)ncmd + 1, sizeof *args);
    int status = ZK_EXIT_FAIL;
    if (path_env == NULL || args == NULL) {
        zk_errf(z, "out of memory");
    } else {
        sprintf(path_env, "%s%s", path_var, path);
        memcpy(args, cmd, (size_t)ncmd * sizeof *args);
        char *env_add[] = {token, path_env, NULL};
        int rc = zk_child_spawn(z, args, env_add, grace_ms, ch);
        status = rc == 0 ? 0 : rc == ENOENT ? 127 : rc > 0 ? 126 : ZK_EXIT_FAIL;
    }
    free(path_env);
    free(args);
    return status;
}

/*
 * Hold the node at path (ours, ephemeral) until a signal, or while the
 * command runs.  Lost when the node goes or the session is in doubt.
 * Returns the exit status.  The command's whole process group is gone
 * before the node is released, and, when the lock is lost, before the
 * session could have expired on the server.
 */
static int hold(zk_ctx *z, const char *path, char **cmd, int ncmd, int grace_ms)
{
    int status = ZK_EXIT_OK;
    holder h = {z, path, zkc_zk_session_timeout(z->conn), grace_ms, 0, 0};
    zk_child ch;
    bool running = false, lost = false;
    zkc_watch *w = NULL;
    zkc_stat st;
    int rc = zkc_get(z->conn, path, NULL, NULL, &st, &w);
    if (rc != ZKC_OK || st.ephemeral_owner != zkc_conn_session_id(z->conn)) {
        zk_err(z, path, rc != ZKC_OK ? rc : ZKC_ENONODE, "lock lost");
        lost = true;
        goto stop;
    }
    if (ncmd == 0) {
        printf("%s: locked %s\n", z->cmd, path);
        fflush(stdout);
    } else {
        status = hold_spawn(z, path, st.czxid, cmd, ncmd, grace_ms, &ch);
        if (status != 0)
            goto release;
        running = true;
    }
    for (;;) {
        if (w == NULL) {
            rc = zkc_get(z->conn, path, NULL, NULL, &st, &w);
            if (rc != ZKC_OK || st.ephemeral_owner != zkc_conn_session_id(z->conn)) {
                zk_err(z, path, rc != ZKC_OK ? rc : ZKC_ENONODE, "lock lost");
                lost = true;
                break;
            }
        }
        zkc_state s = zkc_conn_state(z->conn);
        if (s != ZKC_STATE_CONNECTED && s != ZKC_STATE_RECONNECTED) {
            zk_errf(z, "%s: lock lost: session %s", path, zkc_state_name(s));
            lost = true;
            break;
        }
        if (running) {
            holder_probe(&h);
            zk_child_set_deadline(&ch, holder_kill_by(&h));
        }
        struct pollfd pfd[3] = {
            {.fd = zkc_watch_fd(w), .events = POLLIN},
            {.fd = zkc_cancel_fd(z->cancel), .events = POLLIN},
            {.fd = zkc_conn_state_fd(z->conn), .events = POLLIN},
        };
        int r = poll(pfd, 3, running ? 50 : -1);
        if (r < 0 && errno != EINTR) {
            zk_errf(z, "poll: %s", strerror(errno));
            break;
        }
        if (pfd[2].revents & POLLIN)
            zkc_conn_state_ack(z->conn);
        if (running && zk_child_exited(&ch)) {
            status = child_status(ch.wstatus);
            break;
        }
        if (zkc_cancel_is_set(z->cancel)) {
            /* Without a command, a signal is the normal way to unlock. */
            status = running ? EXIT_INTERRUPTED : ZK_EXIT_OK;
            break;
        }
        if (zkc_watch_fired(w)) {
            zkc_watch_free(w);
            w = NULL; /* read again: a change re-arms, a deletion is lost */
        }
    }
stop:
    zkc_watch_free(w);
    if (running) {
        /* The lock is gone, we were told to stop, or the command ended:
         * so does every process it left in its group. */
        h.term_at = zkc_impl_now_ms();
        if (zk_child_stop(z, &ch, holder_kill_at, &h) != 0)
            status = ZK_EXIT_FAIL;
        zk_child_end(&ch);
    }
    if (lost)
        return ZK_EXIT_FAIL;
release:;
    /* The node goes with the session at exit anyway; while the session is
     * in doubt, do not wait for the server here. */
    zkc_state s = zkc_conn_state(z->conn);
    if (s != ZKC_STATE_CONNECTED && s != ZKC_STATE_RECONNECTED)
        return status;
    bool exists = false;
    if (zkc_exists(z->conn, path, &exists, &st, NULL) == ZKC_OK && exists &&
        st.ephemeral_owner == zkc_conn_session_id(z->conn)) {
        rc = zkc_delete(z->conn, path, st.version);
        if (rc != ZKC_OK && rc != ZKC_ENONODE)
            zk_err(z, path, rc, "could not release");
    }
    return status;
}

/* The options of elock and qlock: --kill-grace, and qlock's --timeout
 * (timeout NULL for elock).  Returns -1 to go on, or the exit status. */
static int lock_options(zk_ctx *z, int argc, char **argv, int *timeout, int *grace)
{
    enum { OPT_KILL_GRACE = 256 };
    static const struct option lo[] = {{"timeout", required_argument, NULL, 't'},
                                       {"kill-grace", required_argument, NULL, OPT_KILL_GRACE},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    *grace = DEFAULT_KILL_GRACE_MS;
    int c, rc;
    while ((c = getopt_long(argc, argv, timeout != NULL ? "+t:h" : "+h",
                            timeout != NULL ? lo : lo + 1, NULL)) != -1) {
        switch (c) {
        case 't':
            if ((rc = zk_parse_duration_opt(z, "--timeout", optarg, timeout)) != 0)
                return rc;
            break;
        case OPT_KILL_GRACE:
            if ((rc = zk_parse_duration_opt(z, "--kill-grace", optarg, grace)) != 0)
                return rc;
            break;
        ZK_HELP_CASE;
        }
    }
    return -1;
}

/*
 * The path argument of elock and qlock, cleaned, then the connection of
 * its cell (zk_cell_conn_begin(): the caller ends it), and signals
 * caught.  Returns the malloc'd path, or NULL (printed).
 */
static char *lock_begin(zk_ctx *z, const char *arg)
{
    char *path = zk_arg_clean(z, arg, NULL);
    if (path == NULL)
        return NULL;
    if (zk_connect(z) != ZKC_OK || zk_cell_conn_begin(z, &path) != ZKC_OK) {
        free(path);
        return NULL;
    }
    zk_catch_signals(z);
    return path;
}

/* ---- elock ---- */

int zk_cmd_elock(zk_ctx *z, int argc, char **argv)
{
    int grace;
    int status = lock_options(z, argc, argv, NULL, &grace);
    if (status >= 0)
        return status;
    if (optind >= argc)
        return zk_usage(z, "no path given");
    char *path = lock_begin(z, argv[optind]);
    if (path == NULL)
        return ZK_EXIT_FAIL;
    int rc = zkc_create_recursive(z->conn, path, NULL, 0, ZKC_EPHEMERAL, NULL, NULL);
    if (rc != ZKC_OK) {
        zk_err(z, path, rc, rc == ZKC_ENODEEXISTS ? "locked by someone else" : NULL);
        status = ZK_EXIT_FAIL;
    } else {
        status = hold(z, path, argv + optind + 1, argc - optind - 1, grace);
    }
    zk_cell_conn_end(z);
    free(path);
    return status;
}

/* ---- qlock ---- */


int zk_cmd_qlock(zk_ctx *z, int argc, char **argv)
{
    int timeout = z->lock_wait_ms >= 0 ? (int)z->lock_wait_ms : -1, grace, rc;
    rc = lock_options(z, argc, argv, &timeout, &grace);
    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return zk_usage(z, "no queue folder given");
    char *dir = lock_begin(z, argv[optind]);
    if (dir == NULL)
        return ZK_EXIT_FAIL;
    /* Our entry: "<dir>/" plus the server's sequence number. */
    char *prefix = malloc(strlen(dir) + 2);
    char *entry = NULL;
    int status = ZK_EXIT_FAIL;
    if (prefix == NULL)
        goto out;
    sprintf(prefix, "%s/", strcmp(dir, "/") == 0 ? "" : dir);
    rc = zkc_create_recursive(z->conn, prefix, NULL, 0, ZKC_EPHEMERAL | ZKC_SEQUENCE, NULL, &entry);
    if (rc != ZKC_OK) {
        zk_err(z, dir, rc, NULL);
        goto out;
    }
    rc = zkc_queue_lock(z->conn, entry, timeout, z->cancel);
    if (rc == ZKC_OK) {
        status = hold(z, entry, argv + optind + 1, argc - optind - 1, grace);
    } else {
        if (rc == ZKC_EINTERRUPTED)
            status = EXIT_INTERRUPTED;
        else
            zk_err(z, dir, rc, rc == ZKC_ETIMEDOUT ? "the lock was not free in time" : NULL);
        int drc = zkc_delete(z->conn, entry, -1);
        if (drc != ZKC_OK && drc != ZKC_ENONODE)
            zk_err(z, entry, drc, "could not remove our queue entry");
    }
out:
    zk_cell_conn_end(z);
    zkc_free(entry);
    free(prefix);
    free(dir);
    return status;
}
