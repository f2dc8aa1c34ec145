/*
 * test_zk_lockcmd.c: the COMMAND of `zk elock` and `zk qlock` against a
 * real server: it never runs alongside the next holder of the lock.
 *
 * The server is this test's own (zkctl, a free port found by scanning
 * 22700-22789), because the loss tests pause it with SIGSTOP; it is
 * resumed (SIGCONT) on every way out: each test's teardown, at exit, and
 * on SIGINT/SIGTERM.  zk runs with a 4 s session (the server's minimum
 * with its 2 s tick).  The COMMAND of the loss tests ignores SIGTERM and
 * leaves a grandchild that ignores it too and writes a heartbeat file;
 * both write their PIDs to files.  A process counts as gone when kill(pid,
 * 0) fails with ESRCH, or it is a zombie (PID 1 here need not reap the
 * orphans left after zk is killed).
 *
 * Every wait is for an event, with a generous deadline.  In the loss
 * tests the server stays paused (so it can neither expire zk's session
 * nor grant the lock) until COMMAND's whole group is gone; the time zk
 * took is printed against its bound (zk kills 0.5 s before the session
 * timeout has passed since the last request that was answered), not
 * asserted.  The server is then resumed and a second client takes the
 * lock as soon as it can: at that moment too, nothing of the old
 * holder's COMMAND may be left, and its heartbeat has stopped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zk_test_util.h"

#define OK(expr) assert_int_equal(ZKC_OK, (expr))

#define SESSION_MS 4000
#define DEADLINE_MS 60000 /* generous: for events that come in seconds */

extern char **environ;

static const char *zk_bin;  /* $ZK_BIN */
static const char *servers; /* our own server */
static volatile int paused; /* the server is SIGSTOPped */
static char work[64];       /* scratch folder */
static int test_no;

/* Processes to kill at teardown: zk, the COMMAND's group, and its two
 * processes by pid (an old zk leaves them in its own group). */
static pid_t zk_pid, cmd_pgid, cmd_pids[2];

static void kill_leftovers(void)
{
    if (zk_pid > 0)
        kill(zk_pid, SIGKILL);
    if (cmd_pgid > 0)
        kill(-cmd_pgid, SIGKILL);
    for (int i = 0; i < 2; i++)
        if (cmd_pids[i] > 0)
            kill(cmd_pids[i], SIGKILL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void server_resume(void)
{
    if (zk_test_own_pid > 0)
        kill(zk_test_own_pid, SIGCONT);
    paused = 0;
}

static void server_pause(void)
{
    paused = 1;
    assert_int_equal(0, kill(zk_test_own_pid, SIGSTOP));
}

static void on_fatal_signal(int sig)
{
    if (zk_test_own_pid > 0)
        kill(zk_test_own_pid, SIGCONT);
    kill_leftovers();
    zk_test_own_server_signal(sig);
}

static zkc_conn *dial(void)
{
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 20000;
    zkc_conn *c = NULL;
    if (zkc_zk_dial(servers, &o, &c) != ZKC_OK)
        fail_msg("dial %s: %s", servers, zkc_errmsg());
    return c;
}

/* A file of the test's scratch folder. */
static const char *wpath(const char *name)
{
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%d-%s", work, test_no, name);
    return p;
}

/* The pid of a process that is not gone: not a zombie, not missing. */
static bool pid_gone(pid_t pid)
{
    if (kill(pid, 0) < 0)
        return errno == ESRCH;
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    bool zombie = false;
    if (fgets(line, sizeof line, f) != NULL) {
        const char *p = strrchr(line, ')');
        zombie = p != NULL && (p[2] == 'Z' || p[2] == 'X');
    }
    fclose(f);
    return zombie;
}

/* Wait for a number in file name; returns it, or fails. */
static pid_t wait_pid_file(const char *name)
{
    int64_t end = now_ms() + DEADLINE_MS;
    while (now_ms() < end) {
        FILE *f = fopen(wpath(name), "r");
        int v = 0;
        if (f != NULL) {
            if (fscanf(f, "%d", &v) != 1)
                v = 0;
            fclose(f);
        }
        if (v > 0)
            return v;
        if (zk_pid > 0 && waitpid(zk_pid, NULL, WNOHANG) == zk_pid) {
            zk_pid = 0;
            fail_msg("zk ended before %s was written", name);
        }
        usleep(20000);
    }
    fail_msg("no %s within %d ms", name, DEADLINE_MS);
    return 0;
}

static bool wait_gone(pid_t pid, int ms)
{
    int64_t end = now_ms() + ms;
    while (!pid_gone(pid)) {
        if (now_ms() >= end)
            return false;
        usleep(10000);
    }
    return true;
}

/* Wait for zk to exit; its wait status.  Fails after the deadline. */
static int wait_zk(void)
{
    int64_t end = now_ms() + DEADLINE_MS;
    int ws = 0;
    for (;;) {
        pid_t p = waitpid(zk_pid, &ws, WNOHANG);
        if (p == zk_pid)
            break;
        if (now_ms() >= end)
            fail_msg("zk (pid %d) did not exit within %d ms", (int)zk_pid, DEADLINE_MS);
        usleep(10000);
    }
    zk_pid = 0;
    return ws;
}

static char *slurp(const char *path)
{
    static char buf[4096];
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

/* Run zk --server S --session-timeout 4s SUBCMD TARGET sh -c SCRIPT, with
 * stdout and stderr to files. */
static void start_zk(const char *subcmd, const char *target, const char *script)
{
    char *argv[] = {(char *)zk_bin, "--server", (char *)servers, "--session-timeout", "4s",
                    (char *)subcmd, (char *)target, "sh", "-c", (char *)script, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, wpath("out"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, wpath("err"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = posix_spawn(&zk_pid, zk_bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(0, rc);
}

/* The loss tests' COMMAND: ignores SIGTERM, writes its pid, and leaves a
 * grandchild (ignoring SIGTERM too) that writes its pid and a heartbeat. */
static const char *stubborn_script(void)
{
    static char s[1024];
    snprintf(s, sizeof s,
             "trap '' TERM; echo $$ > %s.tmp && mv %s.tmp %s; "
             "(trap '' TERM; while :; do date +%%s%%N > %s; sleep 0.05; done) & "
             "echo $! > %s.tmp && mv %s.tmp %s; wait",
             wpath("leader"), wpath("leader"), wpath("leader"), wpath("hb"), wpath("gc"),
             wpath("gc"), wpath("gc"));
    return s;
}

static int setup(void **state)
{
    (void)state;
    test_no++;
    zk_pid = cmd_pgid = cmd_pids[0] = cmd_pids[1] = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    server_resume();
    kill_leftovers();
    if (zk_pid > 0)
        waitpid(zk_pid, NULL, 0);
    /* The environment test's COMMAND waits for this file. */
    FILE *f = fopen(wpath("go"), "w");
    if (f != NULL)
        fclose(f);
    zk_pid = cmd_pgid = cmd_pids[0] = cmd_pids[1] = 0;
    return 0;
}

/* The lock path of this test: elock takes it, qlock queues in it. */
static const char *lock_path(void)
{
    static char p[128];
    snprintf(p, sizeof p, "/zk-lockcmd-%d/t%d", (int)getpid(), test_no);
    return p;
}

/* The node that holds the lock now: the elock node, or the first qlock
 * entry; its stat in *st.  Returns a static path, or NULL. */
static const char *holder_node(zkc_conn *c, bool queue, zkc_stat *st)
{
    static char p[256];
    if (!queue) {
        bool exists = false;
        if (zkc_exists(c, lock_path(), &exists, st, NULL) != ZKC_OK || !exists)
            return NULL;
        snprintf(p, sizeof p, "%s", lock_path());
        return p;
    }
    zkc_strings *kids = NULL;
    if (zkc_children(c, lock_path(), &kids, NULL, NULL) != ZKC_OK)
        return NULL;
    zkc_strings_sort(kids);
    bool found = kids->count > 0;
    if (found)
        snprintf(p, sizeof p, "%s/%s", lock_path(), kids->v[0]);
    zkc_strings_free(kids);
    bool exists = false;
    if (!found || zkc_exists(c, p, &exists, st, NULL) != ZKC_OK || !exists)
        return NULL;
    return p;
}

/* (c) COMMAND sees the fencing token (the node's czxid) and the node. */
static void run_env(bool queue)
{
    char script[1024];
    snprintf(script, sizeof script,
             "printf '%%s %%s\\n' \"$ZKCELL_LOCK_TOKEN\" \"$ZKCELL_LOCK_PATH\" > %s.tmp && "
             "mv %s.tmp %s; while [ ! -e %s ]; do sleep 0.02; done",
             wpath("env"), wpath("env"), wpath("env"), wpath("go"));
    char target[160];
    snprintf(target, sizeof target, "%s%s", lock_path(), queue ? "/" : "");
    start_zk(queue ? "qlock" : "elock", target, script);
    int64_t end = now_ms() + DEADLINE_MS;
    while (access(wpath("env"), F_OK) != 0) {
        if (now_ms() >= end)
            fail_msg("COMMAND did not write its environment");
        usleep(20000);
    }
    char path[256] = "";
    long long token = -1;
    assert_int_equal(2, sscanf(slurp(wpath("env")), "%lld %255s", &token, path));
    zkc_conn *c = dial();
    zkc_stat st;
    const char *node = holder_node(c, queue, &st);
    assert_non_null(node);
    assert_string_equal(node, path);
    assert_true(st.ephemeral_owner != 0);
    assert_int_equal(st.czxid, token);
    FILE *f = fopen(wpath("go"), "w");
    assert_non_null(f);
    fclose(f);
    int ws = wait_zk();
    assert_true(WIFEXITED(ws));
    assert_int_equal(0, WEXITSTATUS(ws));
    /* Released. */
    zkc_stat st2;
    assert_null(holder_node(c, queue, &st2));
    zkc_conn_close(c);
}

static void test_elock_env(void **state)
{
    (void)state;
    run_env(false);
}

static void test_qlock_env(void **state)
{
    (void)state;
    run_env(true);
}

/* Start zk holding the lock with the stubborn COMMAND; its two pids. */
static void start_stubborn(bool queue, pid_t *leader, pid_t *gc)
{
    char target[160];
    snprintf(target, sizeof target, "%s%s", lock_path(), queue ? "/" : "");
    start_zk(queue ? "qlock" : "elock", target, stubborn_script());
    *leader = wait_pid_file("leader");
    cmd_pgid = cmd_pids[0] = *leader;
    *gc = cmd_pids[1] = wait_pid_file("gc");
    assert_false(pid_gone(*leader));
    assert_false(pid_gone(*gc));
}

/*
 * (a) The server paused past the session timeout: zk reports the loss
 * and the whole group is gone before another client can hold the lock;
 * zk exits 1 with the reason.
 */
static void run_suspend(bool queue)
{
    pid_t leader, gc;
    start_stubborn(queue, &leader, &gc);
    zkc_conn *c = dial();
    zkc_stat st;
    assert_non_null(holder_node(c, queue, &st));
    zkc_conn_close(c);

    int64_t stopped = now_ms();
    server_pause();
    /* While the server is paused it can neither expire zk's session nor
     * grant the lock to anyone: the server stays paused until COMMAND's
     * whole group is gone (an event, waited for with a generous
     * deadline), and at least until the session could have expired.
     * zk's own bound (SIGKILL before last heard + session timeout) is
     * measured and printed, not asserted: on a loaded machine a test
     * cannot tell a late zk from a late test. */
    int64_t gone_at = -1;
    int64_t end_wait = stopped + DEADLINE_MS;
    while (now_ms() < end_wait) {
        if (pid_gone(leader) && pid_gone(gc)) {
            gone_at = now_ms();
            break;
        }
        usleep(10000);
    }
    print_message("# COMMAND gone %lld ms after SIGSTOP (session timeout %d ms)\n",
                  (long long)(gone_at >= 0 ? gone_at - stopped : -1), SESSION_MS);
    if (gone_at < 0)
        fail_msg("COMMAND still ran %d ms after the server was paused", DEADLINE_MS);
    while (now_ms() < stopped + SESSION_MS + 500)
        usleep(20000);
    server_resume();

    /* Take the lock from another session as soon as the server lets us:
     * after zk's session expired, or zk gave the node up. */
    c = dial();
    char other[160];
    snprintf(other, sizeof other, "%s%s", lock_path(), queue ? "/other" : "");
    int64_t end = now_ms() + DEADLINE_MS;
    for (;;) {
        int rc = queue ? ZKC_OK : zkc_create(c, other, NULL, 0, ZKC_EPHEMERAL, NULL, NULL);
        if (queue) {
            /* qlock: ours is the first entry once zk's is gone. */
            zkc_strings *kids = NULL;
            rc = zkc_children(c, lock_path(), &kids, NULL, NULL);
            if (rc == ZKC_OK && kids->count > 0)
                rc = ZKC_ENODEEXISTS;
            zkc_strings_free(kids);
        }
        if (rc == ZKC_OK)
            break;
        if (now_ms() >= end)
            fail_msg("the lock never became free (last: %s)", zkc_strerror(rc));
        usleep(20000);
    }
    int64_t taken = now_ms();
    bool leader_gone = pid_gone(leader), gc_gone = pid_gone(gc);
    char hb1[64];
    snprintf(hb1, sizeof hb1, "%s", slurp(wpath("hb")));
    print_message("# lock free again %lld ms after SIGSTOP; COMMAND gone: %d %d\n",
                  (long long)(taken - stopped), leader_gone, gc_gone);
    assert_true(leader_gone);
    assert_true(gc_gone);

    int ws = wait_zk();
    assert_true(WIFEXITED(ws));
    assert_int_equal(1, WEXITSTATUS(ws));
    const char *err = slurp(wpath("err"));
    assert_non_null(strstr(err, "lock lost"));
    /* No heartbeat since the other client took the lock. */
    assert_string_equal(hb1, slurp(wpath("hb")));
    zkc_conn_close(c);
}

static void test_elock_suspend(void **state)
{
    (void)state;
    run_suspend(false);
}

static void test_qlock_suspend(void **state)
{
    (void)state;
    run_suspend(true);
}

/* (b) zk killed with SIGKILL while holding: the group goes too. */
static void run_sigkill(bool queue)
{
    pid_t leader, gc;
    start_stubborn(queue, &leader, &gc);
    assert_int_equal(0, kill(zk_pid, SIGKILL));
    waitpid(zk_pid, NULL, 0);
    zk_pid = 0;
    assert_true(wait_gone(leader, DEADLINE_MS));
    assert_true(wait_gone(gc, DEADLINE_MS));
}

static void test_elock_sigkill(void **state)
{
    (void)state;
    run_sigkill(false);
}

static void test_qlock_sigkill(void **state)
{
    (void)state;
    run_sigkill(true);
}

/* SIGINT to zk while a COMMAND that ignores SIGTERM runs: zk stops the
 * group, releases the lock and exits. */
static void test_elock_sigint(void **state)
{
    (void)state;
    pid_t leader, gc;
    start_stubborn(false, &leader, &gc);
    assert_int_equal(0, kill(zk_pid, SIGINT));
    int ws = wait_zk();
    assert_true(WIFEXITED(ws));
    assert_int_equal(130, WEXITSTATUS(ws));
    assert_true(pid_gone(leader));
    assert_true(pid_gone(gc));
    zkc_conn *c = dial();
    zkc_stat st;
    assert_null(holder_node(c, false, &st));
    zkc_conn_close(c);
}

/* The command exits, leaving a grandchild in its group: the grandchild is
 * stopped before the lock is released. */
static void test_elock_leftover(void **state)
{
    (void)state;
    char script[512];
    snprintf(script, sizeof script,
             "(trap '' TERM; while :; do sleep 0.05; done) & echo $! > %s.tmp && mv %s.tmp %s; "
             "exit 4",
             wpath("gc"), wpath("gc"), wpath("gc"));
    start_zk("elock", lock_path(), script);
    int ws = wait_zk();
    pid_t gc = cmd_pids[1] = wait_pid_file("gc");
    assert_true(WIFEXITED(ws));
    assert_int_equal(4, WEXITSTATUS(ws));
    assert_true(pid_gone(gc));
}

static void cleanup_tree(void)
{
    if (servers == NULL || paused)
        return;
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 10000;
    zkc_conn *c = NULL;
    if (zkc_zk_dial(servers, &o, &c) != ZKC_OK)
        return;
    char root[64];
    snprintf(root, sizeof root, "/zk-lockcmd-%d", (int)getpid());
    zkc_strings *kids = NULL;
    if (zkc_children(c, root, &kids, NULL, NULL) == ZKC_OK) {
        for (size_t i = 0; i < kids->count; i++) {
            char p[256];
            snprintf(p, sizeof p, "%s/%s", root, kids->v[i]);
            zkc_strings *gk = NULL;
            if (zkc_children(c, p, &gk, NULL, NULL) == ZKC_OK) {
                for (size_t j = 0; j < gk->count; j++) {
                    char q[320];
                    snprintf(q, sizeof q, "%s/%s", p, gk->v[j]);
                    zkc_delete(c, q, -1);
                }
            }
            zkc_strings_free(gk);
            zkc_delete(c, p, -1);
        }
    }
    zkc_strings_free(kids);
    zkc_delete(c, root, -1);
    zkc_conn_close(c);
}

static void at_exit(void)
{
    server_resume();
    kill_leftovers();
    if (work[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", work);
    }
}

int main(void)
{
    zk_bin = getenv("ZK_BIN");
    if (zk_bin == NULL || access(zk_bin, X_OK) != 0 || zk_test_zkctl_init() == NULL) {
        printf("Bail out! ZK_BIN (the zk binary) and ZKCTL (zkctl) must be set\n");
        return 1;
    }
    servers = zk_test_own_server_start(22700);
    if (servers == NULL) {
        printf("Bail out! could not start a server with zkctl\n");
        return 1;
    }
    /* Registered after the server's teardown, so run before it. */
    atexit(at_exit);
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    snprintf(work, sizeof work, "/tmp/zk-lockcmd-XXXXXX");
    if (mkdtemp(work) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    zkc_conn *c = dial();
    char root[64];
    snprintf(root, sizeof root, "/zk-lockcmd-%d", (int)getpid());
    OK(zkc_create(c, root, NULL, 0, 0, NULL, NULL));
    zkc_conn_close(c);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_elock_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qlock_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elock_leftover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elock_sigint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elock_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qlock_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elock_suspend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qlock_suspend, setup, teardown),
    };
    int rc = cmocka_run_group_tests_name("zk-lockcmd", tests, NULL, NULL);
    cleanup_tree();
    return rc;
}
