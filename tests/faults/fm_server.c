/*
 * fm_server.c: the fault programs' own ZooKeeper servers (see
 * fm_server.h), run with zkctl through zk_test_util.h.
 */
#include "fm_server.h"
#include "../integration/zk_test_util.h"

#include <stdbool.h>

#define MAX_SERVERS 4
#define MAX_ALSO    4

/* What the signal handler and the exit handler stop. */
static fm_server *g_servers[MAX_SERVERS];
static int g_nservers;
static volatile pid_t *g_also[MAX_ALSO];
static int g_nalso;
static fm_server *volatile g_paused;

int fm_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void resume_paused(void)
{
    fm_server *s = g_paused;
    if (s != NULL && s->pid[0] > 0)
        kill(s->pid[0], SIGCONT);
    g_paused = NULL;
}

static void on_exit_stop(void)
{
    resume_paused();
    for (int i = 0; i < g_nalso; i++) {
        pid_t p = *g_also[i];
        if (p > 0) {
            kill(p, SIGKILL);
            waitpid(p, NULL, 0);
            *g_also[i] = 0;
        }
    }
}

static void on_signal(int sig)
{
    resume_paused();
    for (int i = 0; i < g_nalso; i++)
        if (*g_also[i] > 0)
            kill(*g_also[i], SIGKILL);
    for (int k = 0; k < g_nservers; k++)
        for (int m = 0; m < g_servers[k]->n; m++)
            if (g_servers[k]->pid[m] > 0)
                kill(g_servers[k]->pid[m], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

void fm_server_kill_also(volatile pid_t *pid)
{
    if (g_nalso < MAX_ALSO)
        g_also[g_nalso++] = pid;
}

int fm_server_start(fm_server *s, const char *dir_template, int n)
{
    if (g_nservers == MAX_SERVERS ||
        (zk_test_zkctl_bin == NULL && zk_test_zkctl_init() == NULL))
        return -1;
    snprintf(s->dir, sizeof s->dir, "%s", dir_template);
    if (mkdtemp(s->dir) == NULL)
        return -1;
    zk_test_track(s->dir); /* torn down at exit */
    if (g_nservers == 0) {
        atexit(on_exit_stop); /* registered after the teardown: runs before it */
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        signal(SIGABRT, on_signal);
    }
    g_servers[g_nservers++] = s;
    s->n = n;
    for (int attempt = 0; attempt < 5; attempt++) {
        int p[9];
        bool ports = true;
        for (int i = 0; i < 3 * n; i++)
            ports &= (p[i] = fm_free_port()) > 0;
        if (!ports)
            continue;
        int rc;
        if (n == 1)
            rc = zk_test_zkctl(s->dir, "start --ports %d --tick 500 --cfg forceSync=no", p[0]);
        else
            rc = zk_test_zkctl(s->dir,
                               "start --ports %d,%d,%d --quorum-ports %d,%d,%d "
                               "--election-ports %d,%d,%d --tick 200 --cfg forceSync=no",
                               p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]);
        if (rc == 0) {
            size_t off = 0;
            for (int i = 0; i < n; i++)
                off += (size_t)snprintf(s->addrs + off, sizeof s->addrs - off, "%s127.0.0.1:%d",
                                        i ? "," : "", p[i]);
            for (int i = 0; i < n; i++)
                s->pid[i] = zk_test_member_pid(s->dir, i + 1);
            return s->pid[0] > 0 ? 0 : -1;
        }
        zk_test_zkctl(s->dir, "teardown");
    }
    return -1;
}

void fm_server_kill_restart(fm_server *s, int member)
{
    zk_test_zkctl(s->dir, "kill %d", member + 1);
    zkc_sleep(300, NULL);
    for (int i = 0; i < 5 && zk_test_zkctl(s->dir, "start-one %d", member + 1) != 0; i++)
        zkc_sleep(500, NULL);
    s->pid[member] = zk_test_member_pid(s->dir, member + 1);
}

void fm_server_pause(fm_server *s, int ms)
{
    g_paused = s;
    kill(s->pid[0], SIGSTOP);
    zkc_sleep(ms, NULL);
    resume_paused();
}
