/*
 * zk_test_util.h: helpers shared by the tests that run against a real
 * ZooKeeper server (tests/integration, tests/conformance/run_zk.c,
 * tests/faults).  Header-only, for tests only.
 *
 * zk_test_expire() ends a zkc_conn's session from outside, the way kazoo
 * and Curator tests do: a second raw C client handle joins the same
 * session (id and password) and closes it.
 *
 * zk_test_zkctl() runs the zkctl named by $ZKCTL on a folder;
 * zk_test_own_server_start() runs a standalone server for the whole
 * process (stopped at exit, or on TERM/INT by its recorded pid).
 *
 * zk_test_run() runs a program (zk) with changes to its environment and
 * reads what it prints.
 */
#ifndef ZK_TEST_UTIL_H
#define ZK_TEST_UTIL_H

#include <zookeeper/zookeeper.h>

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <zkcell/zkcell.h>

/* In conn_zk.c, deliberately not in a public header. */
int zkc__zk_session_credentials(zkc_conn *c, int64_t *ret_id, char ret_passwd[16]);
int zkc__zk_client_state(zkc_conn *c);
long zkc__zk_calls(zkc_conn *c, int *ret_inside);

typedef struct zk_test_waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state;
    int connected; /* CONNECTED seen at least once */
} zk_test_waiter;

static inline void zk_test_silent_log(const char *msg)
{
    (void)msg;
}

static inline void zk_test_waiter_watch(zhandle_t *zh, int type, int state, const char *path,
                                        void *ctx)
{
    (void)zh;
    (void)path;
    zk_test_waiter *w = ctx;
    if (type != ZOO_SESSION_EVENT)
        return;
    pthread_mutex_lock(&w->lock);
    w->state = state;
    if (state == ZOO_CONNECTED_STATE)
        w->connected = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Join c's session with a raw handle on servers, then close it: the
 * server ends the session.  The two handles steal the session from each
 * other until one closes it, so the close is made as soon as the raw
 * handle is in, and tried again if c's session survives.  Returns ZKC_OK
 * once c reports EXPIRED, or an error. */
/* One attempt: join c's session from a second handle and close it.  Does
 * not wait for c to notice (its completion thread may be busy). */
static inline int zk_test_expire_once(const char *servers, zkc_conn *c)
{
    clientid_t cid;
    memset(&cid, 0, sizeof cid);
    int rc = zkc__zk_session_credentials(c, &cid.client_id, cid.passwd);
    if (rc != ZKC_OK)
        return rc;
    zk_test_waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    zhandle_t *zh =
        zookeeper_init2(servers, zk_test_waiter_watch, 10000, &cid, &w, 0, zk_test_silent_log);
    if (zh == NULL)
        return ZKC_ECONNECT;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&w.lock);
    while (!w.connected && w.state != ZOO_EXPIRED_SESSION_STATE)
        if (pthread_cond_timedwait(&w.cond, &w.lock, &dl) != 0)
            break;
    pthread_mutex_unlock(&w.lock);
    zookeeper_close(zh);
    return ZKC_OK;
}

static inline int zk_test_expire(const char *servers, zkc_conn *c)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        int rc = zk_test_expire_once(servers, c);
        if (rc != ZKC_OK)
            return rc;
        for (int i = 0; i < 50; i++) {
            if (zkc_conn_state(c) == ZKC_STATE_EXPIRED)
                return ZKC_OK;
            zkc_sleep(10, NULL);
        }
    }
    return ZKC_ETIMEDOUT;
}

/* ---- servers run with zkctl ---- */

static const char *zk_test_zkctl_bin;

/* $ZKCTL if it names an executable, else NULL. */
static inline const char *zk_test_zkctl_init(void)
{
    const char *z = getenv("ZKCTL");
    zk_test_zkctl_bin = z != NULL && *z != '\0' && access(z, X_OK) == 0 ? z : NULL;
    return zk_test_zkctl_bin;
}

static inline int zk_test_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* n consecutive free client ports in [lo, lo+90), with their quorum and
 * election ports (+100, +200) free too when n > 1; -1 if none.  (The last
 * ten of each hundred stay unused: 22998 and 22999 serve as dead ports.) */
static inline int zk_test_pick_ports(int lo, int n)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned seed = (unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec;
    int span = 90 - n;
    int start = (int)(seed % (unsigned)span);
    for (int k = 0; k < span; k++) {
        int p = lo + (start + k) % span;
        int ok = 1;
        for (int i = 0; i < n && ok; i++)
            ok = zk_test_port_free(p + i) &&
                 (n == 1 || (zk_test_port_free(p + i + 100) && zk_test_port_free(p + i + 200)));
        if (ok)
            return p;
    }
    return -1;
}

/* Run "$ZKCTL --quiet --dir DIR <args>"; its exit status, or -1. */
static inline int zk_test_zkctl(const char *dir, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int zk_test_zkctl(const char *dir, const char *fmt, ...)
{
    if (zk_test_zkctl_bin == NULL)
        return -1;
    char args[512], cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' --quiet --dir '%s' %s", zk_test_zkctl_bin, dir, args);
    int rc = system(cmd);
    return rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The quorum mode of each member of the 3-server ensemble in dir
 * ("leader", "follower"; "?" when unknown), from zkctl status --json. */
static inline void zk_test_member_modes(const char *dir, char modes[3][16])
{
    for (int i = 0; i < 3; i++)
        strcpy(modes[i], "?");
    if (zk_test_zkctl_bin == NULL)
        return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' --dir '%s' status --json", zk_test_zkctl_bin, dir);
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        return;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    pclose(f);
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "\"id\":%d,", i + 1);
        const char *s = strstr(buf, key);
        const char *m = s != NULL ? strstr(s, "\"mode\":\"") : NULL;
        if (m != NULL)
            sscanf(m + 8, "%15[a-z]", modes[i]);
    }
}

/* The pid member (1-based) of the server in dir wrote (zkN/zk.pid), or 0. */
static inline pid_t zk_test_member_pid(const char *dir, int member)
{
    char p[128];
    snprintf(p, sizeof p, "%s/zk%d/zk.pid", dir, member);
    FILE *f = fopen(p, "r");
    int pid = 0;
    if (f != NULL) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid;
}

/* Run bin with argv in a child process and read its standard output (and
 * its standard error too when with_stderr) into out: up to size - 1 bytes,
 * NUL-terminated.  env: what to change in the child's environment, in
 * order, "NAME=VALUE" set and "NAME" unset; NULL-terminated, or NULL.
 * Returns the child's exit status, or -1 (no pipe or no child, or the
 * child killed by a signal). */
static inline int zk_test_run(const char *bin, char *const *argv, const char *const *env,
                              int with_stderr, char *out, size_t size)
{
    out[0] = '\0';
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        if (with_stderr)
            dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        for (const char *const *e = env; e != NULL && *e != NULL; e++) {
            const char *eq = strchr(*e, '=');
            char name[128];
            snprintf(name, sizeof name, "%.*s", eq != NULL ? (int)(eq - *e) : (int)strlen(*e),
                     *e);
            if (eq != NULL)
                setenv(name, eq + 1, 1);
            else
                unsetenv(name);
        }
        execv(bin, argv);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < size && (r = read(fds[0], out + n, size - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Folders of servers a test started: torn down at exit, so that a failed
 * assertion (which leaves its test early) leaves no server running. */
static char zk_test_tracked[8][64];

static inline void zk_test_tracked_stop(void)
{
    for (int i = 0; i < 8; i++) {
        if (zk_test_tracked[i][0] == '\0')
            continue;
        zk_test_zkctl(zk_test_tracked[i], "teardown");
        rmdir(zk_test_tracked[i]);
        zk_test_tracked[i][0] = '\0';
    }
}

static inline void zk_test_track(const char *dir)
{
    static int registered;
    if (!registered) {
        atexit(zk_test_tracked_stop);
        registered = 1;
    }
    for (int i = 0; i < 8; i++) {
        if (zk_test_tracked[i][0] == '\0') {
            snprintf(zk_test_tracked[i], sizeof zk_test_tracked[i], "%s", dir);
            return;
        }
    }
}

static inline void zk_test_untrack(const char *dir)
{
    for (int i = 0; i < 8; i++)
        if (strcmp(zk_test_tracked[i], dir) == 0)
            zk_test_tracked[i][0] = '\0';
}

static char zk_test_own_dir[64];
static char zk_test_own_addr[64];
static volatile pid_t zk_test_own_pid;

static inline void zk_test_own_server_signal(int sig)
{
    if (zk_test_own_pid > 0)
        kill(zk_test_own_pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* A standalone server on a free port in [lo, lo+100) for this process;
 * its address list, or NULL. */
static inline const char *zk_test_own_server_start(int lo)
{
    snprintf(zk_test_own_dir, sizeof zk_test_own_dir, "/tmp/zkc-test-server-XXXXXX");
    if (mkdtemp(zk_test_own_dir) == NULL)
        return NULL;
    int port = zk_test_pick_ports(lo, 1);
    if (port < 0 || zk_test_zkctl(zk_test_own_dir, "start --ports %d", port) != 0) {
        zk_test_zkctl(zk_test_own_dir, "teardown");
        rmdir(zk_test_own_dir);
        zk_test_own_dir[0] = '\0';
        return NULL;
    }
    zk_test_own_pid = zk_test_member_pid(zk_test_own_dir, 1);
    zk_test_track(zk_test_own_dir); /* torn down at exit */
    signal(SIGTERM, zk_test_own_server_signal);
    signal(SIGINT, zk_test_own_server_signal);
    snprintf(zk_test_own_addr, sizeof zk_test_own_addr, "127.0.0.1:%d", port);
    return zk_test_own_addr;
}

#endif
