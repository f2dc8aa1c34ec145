/*
 * fm_procs.c: the fault matrix's components run as processes, so that a
 * holder can be killed (SIGKILL) as a crashed client would be:
 *   - `zk elock PATH COMMAND` and `zk qlock DIR/ COMMAND`, where COMMAND
 *     is this program in its --hold-cmd mode;
 *   - the mutex in a child process: this program in its --hold-lock mode.
 * Whoever holds appends its start, its acts and its end, each with its
 * fencing token (ZKCELL_LOCK_TOKEN for a COMMAND), to the cell's history
 * log, one write() per line on an O_APPEND descriptor: the order of the
 * lines is the order of the events.  After the cell the log is replayed
 * into the history checker (history.c), so double holders are found from
 * the holders' own side effects, not from what zk reported.
 *
 * Line: "<start|act|end> <token> <pid> <worker>", where pid is the
 * process to kill to crash the holder: zk (the COMMAND's parent), or the
 * --hold-lock process itself.
 */
#include "fm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define ACTS 10

static void log_line(int fd, const char *kind, long long token, int pid, int who)
{
    char line[128];
    int n = snprintf(line, sizeof line, "%s %lld %d %d\n", kind, token, pid, who);
    ssize_t r = write(fd, line, (size_t)n);
    (void)r;
}

/* ---- the helper modes ---- */

/* COMMAND of zk elock/qlock: --hold-cmd LOG WORKER. */
static int hold_cmd(const char *logpath, int who)
{
    const char *t = getenv("ZKCELL_LOCK_TOKEN");
    if (t == NULL)
        return 3;
    long long token = strtoll(t, NULL, 10);
    int fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return 3;
    int zk = (int)getppid();
    log_line(fd, "start", token, zk, who);
    for (int k = 0; k < ACTS; k++) {
        log_line(fd, "act", token, zk, who);
        zkc_sleep(5, NULL);
    }
    log_line(fd, "end", token, zk, who);
    close(fd);
    return 0;
}

/* The mutex in a process of its own: --hold-lock SERVERS DIR LOG WORKER.
 * Takes and releases the lock until killed (SIGTERM ends it). */
static int hold_lock(const char *servers, const char *dir, const char *logpath, int who)
{
    int fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return 3;
    for (;;) {
        zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
        o.base_timeout_ms = SESSION_MS;
        o.connect_timeout_ms = 5000;
        zkc_conn *conn = NULL;
        if (zkc_zk_dial(servers, &o, &conn) != ZKC_OK) {
            zkc_sleep(50, NULL);
            continue;
        }
        zkc_lock *l = NULL;
        if (zkc_lock_new(conn, dir, NULL, &l) != ZKC_OK)
            return 3;
        for (;;) {
            int rc = zkc_lock_acquire(l, 1000, NULL);
            if (rc == ZKC_OK) {
                long long token = (long long)zkc_lock_fencing_token(l);
                log_line(fd, "start", token, (int)getpid(), who);
                for (int k = 0; k < ACTS && zkc_lock_get_state(l) == ZKC_LOCK_HELD; k++) {
                    log_line(fd, "act", token, (int)getpid(), who);
                    zkc_sleep(5, NULL);
                }
                log_line(fd, "end", token, (int)getpid(), who);
                zkc_lock_release(l);
                zkc_sleep(2, NULL);
                continue;
            }
            zkc_state s = zkc_conn_state(conn);
            if (rc == ZKC_ESESSIONEXPIRED || s == ZKC_STATE_EXPIRED || s == ZKC_STATE_CLOSED)
                break;
        }
        zkc_lock_free(l);
        zkc_conn_close(conn);
    }
}

/* --check-holds LOG: the checker on a log of one's own (its tests);
 * exit status 1 when it finds a double holder. */
static int check_holds(const char *logpath)
{
    cell *c = calloc(1, sizeof *c);
    if (c == NULL)
        return 3;
    snprintf(c->holdlog, sizeof c->holdlog, "%s", logpath);
    hist_init(&c->h, stdout);
    fm_proc_check(c);
    long doubles = hist_overlaps(&c->h) + c->h.stale_acts;
    printf("holds %ld double %ld\n", c->acked, doubles);
    hist_free(&c->h);
    free(c);
    return doubles > 0;
}

int fm_proc_helper(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--check-holds") == 0)
        return check_holds(argv[2]) + 1;
    if (argc == 4 && strcmp(argv[1], "--hold-cmd") == 0)
        return hold_cmd(argv[2], atoi(argv[3])) + 1;
    if (argc == 6 && strcmp(argv[1], "--hold-lock") == 0)
        return hold_lock(argv[2], argv[3], argv[4], atoi(argv[5])) + 1;
    return 0;
}

/* ---- the workers: one child at a time each ---- */

static pid_t spawn(cell *c, char **argv)
{
    char errpath[160];
    snprintf(errpath, sizeof errpath, "%s.err", c->holdlog);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
}

/* Wait for pid; once the cell stops, ask it to end (SIGTERM: zk releases
 * the lock after stopping its COMMAND), and SIGKILL it after 20 s. */
static int reap(cell *c, pid_t pid)
{
    int status = 0;
    int64_t term_at = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            break;
        if (atomic_load(&c->stop)) {
            int64_t now = hist_now_us();
            if (term_at == 0) {
                term_at = now;
                kill(pid, SIGTERM);
            } else if (now - term_at > 20 * 1000000LL) {
                kill(pid, SIGKILL);
            }
        }
        zkc_sleep(5, NULL);
    }
    return status;
}

void *fm_proc_worker_main(void *arg)
{
    worker *w = arg;
    cell *c = w->c;
    char id[16], path[200];
    snprintf(id, sizeof id, "%d", w->id);
    char *argv[16];
    int n = 0;
    if (c->comp == C_LOCK_PROC) {
        snprintf(path, sizeof path, "%s/lock", c->prefix);
        argv[n++] = (char *)c->self_exe;
        argv[n++] = "--hold-lock";
        argv[n++] = (char *)c->servers;
        argv[n++] = path;
    } else {
        argv[n++] = (char *)c->zk_exe;
        argv[n++] = "--server";
        argv[n++] = (char *)c->servers;
        argv[n++] = "--session-timeout";
        argv[n++] = "2s";
        if (c->comp == C_ELOCK_CMD) {
            snprintf(path, sizeof path, "%s/elock", c->prefix);
            argv[n++] = "elock";
        } else {
            snprintf(path, sizeof path, "%s/qlock/", c->prefix);
            argv[n++] = "qlock";
            argv[n++] = "-t";
            argv[n++] = "2s";
        }
        argv[n++] = path;
        argv[n++] = (char *)c->self_exe;
        argv[n++] = "--hold-cmd";
    }
    argv[n++] = c->holdlog;
    argv[n++] = id;
    argv[n] = NULL;
    while (!atomic_load(&c->stop)) {
        fm_note_attempt(c);
        pid_t pid = spawn(c, argv);
        if (pid < 0) {
            fm_note_err(c, 126);
            zkc_sleep(50, NULL);
            continue;
        }
        pthread_mutex_lock(&c->lock);
        c->procs[w->id] = pid;
        pthread_mutex_unlock(&c->lock);
        int status = reap(c, pid);
        pthread_mutex_lock(&c->lock);
        c->procs[w->id] = 0;
        pthread_mutex_unlock(&c->lock);
        /* zk's exit status, or 128 + the signal that ended it; a failed
         * elock (the node exists: someone holds it) is the normal way to
         * wait, not an error. */
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        bool busy = c->comp == C_ELOCK_CMD && code == 1;
        if (code != 0 && !busy && !atomic_load(&c->stop))
            fm_note_err(c, code);
        if (busy)
            zkc_sleep(20, NULL);
    }
    return NULL;
}

/* ---- the log ---- */

typedef struct line {
    char kind[8];
    long long token;
    int pid, worker;
} line;

/* Call fn on each line of the log, in order; stop when it returns false. */
static void each_line(cell *c, bool (*fn)(const line *, void *), void *ud)
{
    FILE *f = fopen(c->holdlog, "r");
    if (f == NULL)
        return;
    char buf[256];
    while (fgets(buf, sizeof buf, f) != NULL) {
        line l;
        if (sscanf(buf, "%7s %lld %d %d", l.kind, &l.token, &l.pid, &l.worker) != 4)
            continue;
        if (!fn(&l, ud))
            break;
    }
    fclose(f);
}

static bool count_start(const line *l, void *ud)
{
    long *n = ud;
    if (strcmp(l->kind, "start") == 0)
        (*n)++;
    return true;
}

long fm_proc_starts(cell *c)
{
    long n = 0;
    each_line(c, count_start, &n);
    return n;
}

typedef struct holder_scan {
    long long token;
    int pid;
    bool open;
} holder_scan;

static bool find_holder(const line *l, void *ud)
{
    holder_scan *h = ud;
    if (strcmp(l->kind, "start") == 0) {
        h->token = l->token;
        h->pid = l->pid;
        h->open = true;
    } else if (strcmp(l->kind, "end") == 0 && l->token == h->token) {
        h->open = false;
    }
    return true;
}

pid_t fm_proc_holder(cell *c)
{
    holder_scan h = {0, 0, false};
    each_line(c, find_holder, &h);
    return h.open ? (pid_t)h.pid : 0;
}

/* Replay: each token's lines become one holder in the history checker,
 * in the log's order. */
typedef struct replay {
    cell *c;
    long long tokens[4096];
    size_t idx[4096];
    size_t n;
} replay;

static bool replay_line(const line *l, void *ud)
{
    replay *r = ud;
    /* One line, one microsecond at least: the checker compares times, and
     * the log's order must survive as their order. */
    int64_t t = hist_now_us();
    while (hist_now_us() == t)
        ;
    size_t i;
    for (i = 0; i < r->n && r->tokens[i] != l->token; i++)
        ;
    if (i == r->n) {
        if (r->n == sizeof r->tokens / sizeof *r->tokens)
            return false;
        r->tokens[i] = l->token;
        r->idx[i] = hist_begin(&r->c->h, l->worker, l->token);
        r->n++;
    }
    hist_act(&r->c->h, r->idx[i]);
    if (strcmp(l->kind, "end") == 0)
        hist_end(&r->c->h, r->idx[i]);
    return true;
}

void fm_proc_check(cell *c)
{
    replay *r = calloc(1, sizeof *r);
    if (r == NULL)
        abort();
    r->c = c;
    each_line(c, replay_line, r);
    c->acked = fm_proc_starts(c);
    free(r);
}
