/*
 * The read part of the conformance suite against the zkocc client, over
 * a real zkocc daemon (argv[1], started here on a free loopback port and
 * stopped by its PID) in front of the ZooKeeper server of ZKC_TEST_ZK
 * (cell c1 of a zk_client.json in a temporary folder).  The writer is a
 * direct ZooKeeper session on the same server.  Without ZKC_TEST_ZK the
 * suite is skipped (TAP).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conformance.h"

typedef struct world {
    const char *servers; /* ZooKeeper */
    char addr[64];       /* zkocc */
} world;

static int zkocc_open(void *ud, zkc_conn **ret)
{
    world *w = ud;
    return zkc_zkocc_dial(w->addr, NULL, ret);
}

static int zk_open(void *ud, zkc_conn **ret)
{
    world *w = ud;
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 10000;
    return zkc_zk_dial(w->servers, &o, ret);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

/* Start the daemon; wait until it answers a dial (or dies: then another
 * port, in case someone took ours).  Returns its PID, or -1. */
static pid_t start_zkocc(const char *bin, const char *cfg, const char *log, world *w)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = free_port();
        if (port < 0)
            return -1;
        char ports[16];
        snprintf(ports, sizeof ports, "%d", port);
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execl(bin, bin, "--port", ports, "--bind", "127.0.0.1", "--config", cfg,
                  (char *)NULL);
            _exit(127);
        }
        snprintf(w->addr, sizeof w->addr, "127.0.0.1:%d", port);
        for (int i = 0; i < 3000; i++) { /* 30 s */
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid)
                break; /* died: try another port */
            zkc_conn *c = NULL;
            zkc_zkocc_opts o = ZKC_ZKOCC_OPTS_INIT;
            o.connect_timeout_ms = 1000;
            if (zkc_zkocc_dial(w->addr, &o, &c) == ZKC_OK) {
                zkc_conn_close(c);
                return pid;
            }
            zkc_sleep(10, NULL);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return -1;
}

int main(int argc, char **argv)
{
    const char *servers = getenv("ZKC_TEST_ZK");
    if (argc < 2) {
        printf("1..0 # SKIP no zkocc binary given\n");
        return 0;
    }
    if (servers == NULL || *servers == '\0') {
        printf("1..0 # SKIP ZKC_TEST_ZK (a ZooKeeper server's address list) is not set\n");
        return 0;
    }
    world w = {servers, ""};
    char dir[] = "/tmp/zkc-conformance-zkocc.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        printf("1..1\nnot ok 1 - mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    char cfg[256], log[256];
    snprintf(cfg, sizeof cfg, "%s/zk_client.json", dir);
    snprintf(log, sizeof log, "%s/zkocc.log", dir);
    FILE *f = fopen(cfg, "w");
    if (f == NULL) {
        printf("1..1\nnot ok 1 - cannot write %s\n", cfg);
        return 1;
    }
    fprintf(f, "{\"c1\": \"%s\"}\n", servers);
    fclose(f);

    /* /zk/c1 on the server, the root's parent. */
    zkc_conn *wc = NULL;
    if (zk_open(&w, &wc) != ZKC_OK) {
        printf("1..1\nnot ok 1 - cannot reach ZooKeeper at %s: %s\n", servers, zkc_errmsg());
        return 1;
    }
    zkc_create(wc, "/zk", NULL, 0, 0, NULL, NULL);
    zkc_create(wc, "/zk/c1", NULL, 0, 0, NULL, NULL);

    pid_t pid = start_zkocc(argv[1], cfg, log, &w);
    if (pid < 0) {
        printf("1..1\nnot ok 1 - zkocc did not start (log in %s)\n", log);
        zkc_conn_close(wc);
        return 1;
    }
    char root[64];
    snprintf(root, sizeof root, "/zk/c1/zkc-conformance-zkocc-%d", (int)getpid());
    zkc_conformance_backend b = {.name = "zkocc", .open = zkocc_open, .ud = &w, .root = root,
                                 .open_writer = zk_open, .read_only = 1};
    int failed = zkc_conformance_run_read(&b);

    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        printf("# zkocc ended with status %d (log in %s)\n", status, log);
    else {
        unlink(log);
        unlink(cfg);
        rmdir(dir);
    }
    zkc_delete(wc, root, -1);
    zkc_conn_close(wc);
    return failed == 0 ? 0 : 1;
}
