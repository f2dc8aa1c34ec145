/*
 * child.c: a command run while a lock is held (elock, qlock): spawned in
 * a process group of its own, watched over by a watchdog process, and
 * stopped as a whole group.
 *
 * The promise is that no process of the command runs once the lock may
 * belong to someone else, which happens at the earliest when the server
 * expires our session.  So:
 *  - The command is spawned with posix_spawnp() (zk is threaded: no
 *    fork) as the leader of a new process group, and zk becomes a child
 *    subreaper, so that the command's orphaned descendants, which stay in
 *    the group, come back to zk to be reaped.
 *  - Stopping sends SIGTERM (and SIGCONT, for stopped members) to the
 *    whole group, then SIGKILL when the caller's deadline passes (the
 *    earlier of a grace period and a bound before the session can
 *    expire), and waits until no member is left; it gives up with an
 *    error when members survive SIGKILL for KILL_WAIT_MS, so zk never
 *    hangs on them.
 *  - A watchdog (zk itself, started again from /proc/self/exe in a
 *    hidden mode, in a process group of its own and deaf to the
 *    terminal's signals) holds one end of a socket pair whose other end
 *    only zk holds (close-on-exec: the command never inherits it).  zk
 *    sends it the latest kill deadline as it moves; when zk dies, the
 *    watchdog reads end-of-file and stops the group as zk would have
 *    (SIGTERM, then SIGKILL at the earlier of the grace period and the
 *    deadline).  Should zk be frozen (SIGSTOP, a debugger) past the
 *    deadline, the watchdog kills the group too.
 * Processes that leave the group (setsid, setpgid) are out of reach, as
 * they are for any process supervisor.  The watchdog is started just
 * after the command (it needs the group's id): a zk killed between the
 * two spawns leaves the command without one.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zkcmd.h"

extern char **environ;

/* How long members may survive SIGKILL before zk gives up on them. */
#define KILL_WAIT_MS 10000
/* How often the group is looked at while it is being stopped. */
#define STOP_TICK_MS 10

/* Watchdog messages: an int64_t each.  > 0: the kill deadline (monotonic
 * ms); 0: no deadline; WD_DONE: the group is gone, exit. */
#define WD_DONE INT64_C(-1)

/* True when no process is left in group pgid. */
static bool group_gone(pid_t pgid)
{
    return kill(-pgid, 0) < 0 && errno == ESRCH;
}

/* Whether env ("NAME=value") holds credentials: COMMANDs do not inherit
 * them unless zk was given --pass-auth. */
static bool is_auth_var(const char *env)
{
    return strncmp(env, "ZK_AUTH=", 8) == 0 || strncmp(env, "ZK_AUTH_CONFIG=", 15) == 0;
}

/* The environment with add[] ("NAME=value") set, and without the
 * credentials unless keep_auth; a malloc'd array of borrowed strings, or
 * NULL. */
static char **env_with(char *const *add, bool keep_auth)
{
    size_t n = 0, nadd = 0;
    while (environ[n] != NULL)
        n++;
    while (add[nadd] != NULL)
        nadd++;
    char **env = calloc(n + nadd + 1, sizeof *env);
    if (env == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t j = 0; j < nadd && !replaced; j++) {
            size_t len = strcspn(add[j], "=") + 1;
            replaced = strncmp(environ[i], add[j], len) == 0;
        }
        if (!replaced && (keep_auth || !is_auth_var(environ[i])))
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < nadd; j++)
        env[k++] = add[j];
    return env;
}

/* Spawn the watchdog of ch->pgid, reading from fd.  Returns 0 or an
 * errno value. */
static int spawn_watchdog(zk_child *ch, int fd, int grace_ms)
{
    char pgid[24], grace[24];
    snprintf(pgid, sizeof pgid, "%d", (int)ch->pgid);
    snprintf(grace, sizeof grace, "%d", grace_ms);
    char *argv[] = {"zk", ZK_WATCHDOG_ARG, pgid, grace, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&fa, fd, STDIN_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    int rc = posix_spawn(&ch->watchdog, "/proc/self/exe", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        ch->watchdog = 0;
    return rc;
}

int zk_child_spawn(zk_ctx *z, char *const *argv, char *const *env_add, int grace_ms,
                   zk_child *ch)
{
    memset(ch, 0, sizeof *ch);
    ch->wd_fd = -1;
    ch->grace_ms = grace_ms;
    /* Orphans of the command come back to us, still in its group. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    char **env = env_with(env_add, z->pass_auth);
    if (env == NULL) {
        zk_errf(z, "out of memory");
        return -1;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        zk_errf(z, "socketpair: %s", strerror(errno));
        free(env);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* Nothing of ours but the standard streams: not the watchdog's
     * socket, not the session's. */
    posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    fflush(stdout);
    fflush(stderr);
    int rc = posix_spawnp(&ch->pgid, argv[0], &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    free(env);
    if (rc != 0) {
        ch->pgid = 0;
        zk_errf(z, "%s: %s", argv[0], strerror(rc));
        close(sv[0]);
        close(sv[1]);
        return rc;
    }
    rc = spawn_watchdog(ch, sv[1], grace_ms);
    close(sv[1]);
    if (rc != 0) {
        zk_errf(z, "cannot start the watchdog of %s: %s", argv[0], strerror(rc));
        close(sv[0]);
        kill(-ch->pgid, SIGKILL);
        int64_t give_up = zkc_impl_now_ms() + KILL_WAIT_MS;
        while (!group_gone(ch->pgid) && zkc_impl_now_ms() < give_up) {
            while (waitpid(-ch->pgid, NULL, WNOHANG) > 0)
                ;
            poll(NULL, 0, STOP_TICK_MS);
        }
        ch->pgid = 0;
        return -1;
    }
    ch->wd_fd = sv[0];
    return 0;
}

static void wd_send(zk_child *ch, int64_t v)
{
    if (ch->wd_fd < 0)
        return;
    ssize_t n;
    do
        n = send(ch->wd_fd, &v, sizeof v, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
}

void zk_child_set_deadline(zk_child *ch, int64_t kill_by)
{
    if (ch->pgid <= 0 || kill_by == ch->sent_deadline)
        return;
    ch->sent_deadline = kill_by;
    wd_send(ch, kill_by);
}

/* Reap every member of the group that has ended (the leader, and the
 * orphans that came back to us). */
static void reap(zk_child *ch)
{
    int ws;
    pid_t p;
    while ((p = waitpid(-ch->pgid, &ws, WNOHANG)) > 0) {
        if (p == ch->pgid) {
            ch->exited = true;
            ch->wstatus = ws;
        }
    }
}

bool zk_child_exited(zk_child *ch)
{
    if (ch->pgid > 0 && !ch->exited)
        reap(ch);
    return ch->exited;
}

int zk_child_stop(zk_ctx *z, zk_child *ch, zk_kill_at_fn kill_at, void *ud)
{
    if (ch->pgid <= 0)
        return 0;
    reap(ch);
    if (group_gone(ch->pgid))
        return 0;
    kill(-ch->pgid, SIGTERM);
    kill(-ch->pgid, SIGCONT);
    int64_t killed_at = -1;
    for (;;) {
        poll(NULL, 0, STOP_TICK_MS);
        reap(ch);
        if (group_gone(ch->pgid))
            return 0;
        int64_t now = zkc_impl_now_ms();
        if (killed_at < 0) {
            int64_t at = kill_at(ud);
            zk_child_set_deadline(ch, at);
            if (now >= at) {
                killed_at = now;
                kill(-ch->pgid, SIGKILL);
            }
        } else {
            /* Again: a member may have forked as the first one went. */
            kill(-ch->pgid, SIGKILL);
            if (now - killed_at >= KILL_WAIT_MS) {
                zk_errf(z, "process group %d: members left after SIGKILL", (int)ch->pgid);
                return -1;
            }
        }
    }
}

void zk_child_end(zk_child *ch)
{
    if (ch->wd_fd >= 0) {
        /* Only once the group is gone: the watchdog must not signal a
         * group id that may be reused. */
        if (ch->pgid <= 0 || group_gone(ch->pgid))
            wd_send(ch, WD_DONE);
        close(ch->wd_fd);
        ch->wd_fd = -1;
    }
    if (ch->watchdog > 0) {
        /* It exits on our message or end-of-file, after at most its
         * grace period; do not wait longer than that for it. */
        int64_t give_up = zkc_impl_now_ms() + ch->grace_ms + KILL_WAIT_MS;
        while (waitpid(ch->watchdog, NULL, WNOHANG) == 0 && zkc_impl_now_ms() < give_up)
            poll(NULL, 0, STOP_TICK_MS);
        ch->watchdog = 0;
    }
}

/* ---- the watchdog ---- */

/* Stop group pgid as zk would have: SIGTERM, then SIGKILL at the earlier
 * of grace_ms from now and deadline (0: none). */
static void wd_stop(pid_t pgid, int grace_ms, int64_t deadline)
{
    if (group_gone(pgid))
        return;
    kill(-pgid, SIGTERM);
    kill(-pgid, SIGCONT);
    int64_t end = zkc_impl_now_ms() + grace_ms;
    if (deadline > 0 && deadline < end)
        end = deadline;
    while (zkc_impl_now_ms() < end) {
        /* Members that die may stay zombies of someone else's: then the
         * group looks alive until the end, and SIGKILL is harmless. */
        if (group_gone(pgid))
            return;
        poll(NULL, 0, STOP_TICK_MS);
    }
    kill(-pgid, SIGKILL);
}

int zk_watchdog_main(int argc, char **argv)
{
    if (argc != 4)
        return ZK_EXIT_USAGE;
    long pg = strtol(argv[2], NULL, 10), grace = strtol(argv[3], NULL, 10);
    if (pg <= 1 || grace < 0 || grace > INT32_MAX)
        return ZK_EXIT_USAGE;
    pid_t pgid = (pid_t)pg;
    /* The terminal's signals are for zk, which stops the group itself;
     * this process outlives zk only to do it in its place. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    int64_t deadline = 0;
    unsigned char buf[sizeof(int64_t)];
    size_t have = 0;
    for (;;) {
        int timeout = -1;
        if (deadline > 0) {
            int64_t left = deadline - zkc_impl_now_ms();
            timeout = left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
        }
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int r = poll(&pfd, 1, timeout);
        if (r < 0 && errno != EINTR)
            break; /* cannot watch: act as if zk were gone */
        if (r == 0) {
            /* zk is alive but silent past the deadline (frozen): the
             * session may be gone, so must the group. */
            if (!group_gone(pgid))
                kill(-pgid, SIGKILL);
            deadline = 0;
            continue;
        }
        if (r < 0)
            continue;
        ssize_t n = read(STDIN_FILENO, buf + have, sizeof buf - have);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break; /* zk is gone */
        have += (size_t)n;
        if (have < sizeof buf)
            continue;
        have = 0;
        int64_t v;
        memcpy(&v, buf, sizeof v);
        if (v == WD_DONE)
            return ZK_EXIT_OK;
        deadline = v > 0 ? v : 0;
    }
    wd_stop(pgid, (int)grace, deadline);
    return ZK_EXIT_OK;
}
