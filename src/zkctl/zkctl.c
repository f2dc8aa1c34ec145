/*
 * zkctl: initialise, start, check, stop and tear down local ZooKeeper
 * servers (one standalone server or an ensemble) from the installed
 * Debian package, for development, tests, benchmarks and the demo.
 *
 * Everything lives under one folder (--dir): zkctl.conf (the ports and
 * settings chosen at init), and per member zkN/zoo.cfg, zkN/data,
 * zkN/zk.log (the JVM's output) and zkN/zk.pid.  Servers listen on
 * 127.0.0.1 only.  A server is ready when the `srvr` four-letter word
 * reports "Mode:" (`ruok` answers before the database is loaded), read
 * with a short timeout because a 4lw sent during start-up can hang.
 * Stopping goes by the recorded PID, checked against /proc so that a
 * stale PID file never kills a stranger, and treats a zombie as gone.
 *
 * This command does not use libzkcell: it only speaks the four-letter
 * words.  Exit codes: 0 success, 1 failure, 2 usage.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

extern char **environ;

#define EXIT_USAGE  2
#define MAX_MEMBERS 32
#define MAX_EXTRA   32
#define CONF_NAME   "zkctl.conf"

#define ZK_JAR           "/usr/share/java/zookeeper.jar"
#define SLF4J_SIMPLE_JAR "/usr/share/java/slf4j-simple.jar"
#define MAIN_STANDALONE  "org.apache.zookeeper.server.ZooKeeperServerMain"
#define MAIN_QUORUM      "org.apache.zookeeper.server.quorum.QuorumPeerMain"

/* The lean JVM settings measured in environment.md: ~0.3 s, ~52 MB.  The
 * heap may grow to 256 MB (it starts at 8 MB and the serial collector
 * grows it only when needed): a server keeps its last 500 transactions in
 * memory, about 4 MB of heap per 1 MB write, and 64 MB ran out under
 * repeated large writes. */
static const char *const lean_jvm_flags[] = {
    "-Xmx256m",
    "-Xms8m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:CICompilerCount=1",
    "-XX:-UsePerfData",
    "-Xss256k",
    "-XX:ReservedCodeCacheSize=16m",
    "-XX:MaxMetaspaceSize=64m",
    "-Xshare:auto",
    "-Djava.net.preferIPv4Stack=true",
};

typedef struct config {
    int n;                  /* members; 1 means standalone */
    int port[MAX_MEMBERS];  /* client ports */
    int qport[MAX_MEMBERS]; /* quorum ports (ensemble only) */
    int eport[MAX_MEMBERS]; /* election ports (ensemble only) */
    int tick;               /* tickTime, ms */
    int nextra;
    char *extra[MAX_EXTRA]; /* extra zoo.cfg lines, key=value */
} config;

typedef struct options {
    const char *dir;
    int servers; /* --servers, 0 if not given */
    int nports, nqports, neports;
    int ports[MAX_MEMBERS], qports[MAX_MEMBERS], eports[MAX_MEMBERS];
    int base_port; /* --port, 0 if not given */
    int tick;      /* 0 if not given */
    int nextra;
    char *extra[MAX_EXTRA];
    int timeout_ms;      /* readiness wait */
    int stop_timeout_ms; /* TERM -> KILL */
    bool json, quiet;
} options;

static const char *prog = "zkctl";
static options opt;
static char dir_abs[PATH_MAX];

/* ---- small helpers ---- */

static void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnx_(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    if (opt.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* "22181,22182" -> ports; returns the count or -1. */
static int parse_port_list(const char *s, int *ports)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        char buf[16];
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len >= sizeof buf || n == MAX_MEMBERS)
            return -1;
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (parse_int(buf, 1, 65535, &ports[n]) != 0)
            return -1;
        n++;
        if (comma == NULL)
            return n;
        p = comma + 1;
    }
}

static void format_port_list(const int *ports, int n, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%d", i ? "," : "", ports[i]);
}

/* snprintf for paths: dir_abs is at most PATH_MAX - 64 bytes (checked in
 * main), so the paths built from it always fit. */
static void pathf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pathf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size)
        buf[0] = '\0';
}

static void member_dir(int id, char *buf, size_t size)
{
    pathf(buf, size, "%s/zk%d", dir_abs, id);
}

static void member_file(int id, const char *name, char *buf, size_t size)
{
    pathf(buf, size, "%s/zk%d/%s", dir_abs, id, name);
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(tmp, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int write_file(const char *path, const char *text)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (f == NULL)
        return -1;
    int ok = fputs(text, f) >= 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* ---- the folder's configuration (zkctl.conf) ---- */

static void conf_path(char *buf, size_t size)
{
    pathf(buf, size, "%s/" CONF_NAME, dir_abs);
}

static bool is_inited(void)
{
    char p[PATH_MAX];
    conf_path(p, sizeof p);
    return access(p, F_OK) == 0;
}

static void config_free(config *c)
{
    for (int i = 0; i < c->nextra; i++)
        free(c->extra[i]);
    c->nextra = 0;
}

/* Returns 0, or -1 with a message printed. */
static int config_load(config *c)
{
    char p[PATH_MAX];
    conf_path(p, sizeof p);
    memset(c, 0, sizeof *c);
    c->tick = 2000;
    FILE *f = fopen(p, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            warnx_("%s is not initialised (run: zkctl --dir %s init|start ...)", dir_abs,
                   dir_abs);
        else
            warnx_("cannot read %s: %s", p, strerror(errno));
        return -1;
    }
    char line[1024];
    int nq = 0, ne = 0, lineno = 0, bad = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *eq = strchr(line, '=');
        if (eq == NULL) {
            bad = lineno;
            break;
        }
        *eq = '\0';
        const char *k = line, *v = eq + 1;
        if (strcmp(k, "ports") == 0) {
            c->n = parse_port_list(v, c->port);
        } else if (strcmp(k, "quorum_ports") == 0) {
            nq = parse_port_list(v, c->qport);
        } else if (strcmp(k, "election_ports") == 0) {
            ne = parse_port_list(v, c->eport);
        } else if (strcmp(k, "tick") == 0) {
            if (parse_int(v, 1, 1000000, &c->tick) != 0)
                bad = lineno;
        } else if (strcmp(k, "cfg") == 0) {
            if (c->nextra < MAX_EXTRA)
                c->extra[c->nextra++] = strdup(v);
        } else {
            bad = lineno;
        }
        if (bad)
            break;
    }
    fclose(f);
    if (bad || c->n <= 0 || (c->n > 1 && (nq != c->n || ne != c->n))) {
        warnx_("%s is damaged%s; run zkctl teardown and init again", p,
               bad ? " (bad line)" : "");
        config_free(c);
        return -1;
    }
    return 0;
}

static int config_save(const config *c)
{
    char text[8192], list[512];
    size_t off = 0;
    off += (size_t)snprintf(text + off, sizeof text - off,
                            "# written by zkctl init; read by every zkctl command\n");
    format_port_list(c->port, c->n, list, sizeof list);
    off += (size_t)snprintf(text + off, sizeof text - off, "ports=%s\n", list);
    if (c->n > 1) {
        format_port_list(c->qport, c->n, list, sizeof list);
        off += (size_t)snprintf(text + off, sizeof text - off, "quorum_ports=%s\n", list);
        format_port_list(c->eport, c->n, list, sizeof list);
        off += (size_t)snprintf(text + off, sizeof text - off, "election_ports=%s\n", list);
    }
    off += (size_t)snprintf(text + off, sizeof text - off, "tick=%d\n", c->tick);
    for (int i = 0; i < c->nextra && off < sizeof text; i++)
        off += (size_t)snprintf(text + off, sizeof text - off, "cfg=%s\n", c->extra[i]);
    if (off >= sizeof text) {
        warnx_("configuration too long");
        return -1;
    }
    char p[PATH_MAX];
    conf_path(p, sizeof p);
    if (write_file(p, text) != 0) {
        warnx_("cannot write %s: %s", p, strerror(errno));
        return -1;
    }
    return 0;
}

/* Build the configuration the command line asks for.  Returns 0, -1
 * (message printed), or 1 when the command line says nothing about the
 * layout (then an existing folder's configuration is used as is). */
static int config_from_options(config *c)
{
    memset(c, 0, sizeof *c);
    bool any = opt.servers || opt.nports || opt.base_port || opt.nqports || opt.neports ||
               opt.tick || opt.nextra;
    if (!any)
        return 1;
    int n = opt.nports ? opt.nports : (opt.servers ? opt.servers : 1);
    if (opt.servers && opt.nports && opt.servers != opt.nports) {
        warnx_("--servers %d but --ports lists %d ports", opt.servers, opt.nports);
        return -1;
    }
    if (n == 2)
        warnx_("warning: a 2-server ensemble cannot survive the loss of either server");
    c->n = n;
    for (int i = 0; i < n; i++) {
        c->port[i] = opt.nports ? opt.ports[i] : (opt.base_port ? opt.base_port : 2181) + i;
        if (n > 1) {
            c->qport[i] = opt.nqports ? opt.qports[i] : c->port[i] + 100;
            c->eport[i] = opt.neports ? opt.eports[i] : c->port[i] + 200;
        }
    }
    if ((opt.nqports && opt.nqports != n) || (opt.neports && opt.neports != n)) {
        warnx_("--quorum-ports and --election-ports need one port per server (%d)", n);
        return -1;
    }
    if (n == 1 && (opt.nqports || opt.neports))
        warnx_("warning: a standalone server has no quorum or election port; ignored");
    /* Every port once. */
    int all[3 * MAX_MEMBERS], na = 0;
    for (int i = 0; i < n; i++) {
        all[na++] = c->port[i];
        if (n > 1) {
            all[na++] = c->qport[i];
            all[na++] = c->eport[i];
        }
    }
    for (int i = 0; i < na; i++) {
        if (all[i] < 1 || all[i] > 65535) {
            warnx_("port %d out of range (derived ports are client+100 and client+200)",
                   all[i]);
            return -1;
        }
        for (int j = i + 1; j < na; j++) {
            if (all[i] == all[j]) {
                warnx_("port %d is used twice (quorum ports are client+100, election "
                       "client+200 unless chosen)",
                       all[i]);
                return -1;
            }
        }
    }
    c->tick = opt.tick ? opt.tick : 2000;
    for (int i = 0; i < opt.nextra; i++)
        c->extra[c->nextra++] = strdup(opt.extra[i]);
    return 0;
}

static bool config_same(const config *a, const config *b)
{
    if (a->n != b->n || a->tick != b->tick || a->nextra != b->nextra)
        return false;
    for (int i = 0; i < a->n; i++) {
        if (a->port[i] != b->port[i])
            return false;
        if (a->n > 1 && (a->qport[i] != b->qport[i] || a->eport[i] != b->eport[i]))
            return false;
    }
    for (int i = 0; i < a->nextra; i++)
        if (strcmp(a->extra[i], b->extra[i]) != 0)
            return false;
    return true;
}

/* ---- processes ---- */

/* The process state letter from /proc/PID/stat, or 0 when it is gone. */
static char proc_state(pid_t pid)
{
    char p[64], buf[512];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    if (rp == NULL || rp[1] != ' ')
        return 0;
    return rp[2];
}

/* True when pid runs and is the server of member id (its command line
 * names that member's zoo.cfg): a stale PID file never kills a stranger.
 * A zombie counts as gone. */
static bool member_alive(pid_t pid, int id)
{
    if (pid <= 0)
        return false;
    char st = proc_state(pid);
    if (st == 0 || st == 'Z' || st == 'X' || st == 'x')
        return false;
    char p[64], cfg[PATH_MAX];
    snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
    member_file(id, "zoo.cfg", cfg, sizeof cfg);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    static char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false; /* exiting, or a kernel thread */
    buf[n] = '\0';
    /* The arguments, NUL-separated: the last one is the zoo.cfg. */
    for (ssize_t off = 0; off < n; off += (ssize_t)strlen(buf + off) + 1)
        if (strcmp(buf + off, cfg) == 0)
            return true;
    return false;
}

static pid_t read_pid(int id)
{
    char p[PATH_MAX];
    member_file(id, "zk.pid", p, sizeof p);
    FILE *f = fopen(p, "re");
    if (f == NULL)
        return 0;
    int pid = 0;
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    fclose(f);
    return pid;
}

static void remove_pid(int id)
{
    char p[PATH_MAX];
    member_file(id, "zk.pid", p, sizeof p);
    unlink(p);
}

/* The running server's pid of member id, or 0 (a stale file is removed). */
static pid_t running_pid(int id)
{
    pid_t pid = read_pid(id);
    if (pid == 0)
        return 0;
    if (member_alive(pid, id))
        return pid;
    remove_pid(id);
    return 0;
}

/* Reap pid if it is our child; ignore otherwise. */
static void reap(pid_t pid)
{
    while (waitpid(pid, NULL, WNOHANG) < 0 && errno == EINTR) {
    }
}

/* Threads of pid other than the main one that have not yet exited. */
static int other_threads(pid_t pid)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/task", (int)pid);
    DIR *d = opendir(p);
    if (d == NULL)
        return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.' && atoi(e->d_name) != (int)pid)
            n++;
    closedir(d);
    return n;
}

/*
 * Wait until member id's process is gone.  A killed JVM's main thread
 * turns zombie while its other threads are still exiting and still hold
 * the listening sockets: wait for them too, so that the ports are free
 * when this returns.
 */
static bool wait_gone(pid_t pid, int id, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        reap(pid);
        if (!member_alive(pid, id) && other_threads(pid) == 0)
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(20);
    }
}

/* ---- four-letter words ---- */

/* Send cmd to 127.0.0.1:port and read the answer into buf, within
 * timeout_ms.  Returns the length read, or -1. */
static int four_letter(int port, const char *cmd, char *buf, size_t size, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int len = -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)
        goto out;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, timeout_ms) != 1)
        goto out;
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0)
        goto out;
    if (send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd))
        goto out;
    size_t got = 0;
    for (;;) {
        int left = (int)(deadline - now_ms());
        if (left <= 0)
            goto out; /* the start-up hang: give up, the caller retries */
        p.events = POLLIN;
        int r = poll(&p, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != 1)
            goto out;
        ssize_t n = recv(fd, buf + got, size - 1 - got, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0)
            goto out;
        got += (size_t)n;
        if (n == 0 || got == size - 1)
            break;
    }
    buf[got] = '\0';
    len = (int)got;
out:
    close(fd);
    return len;
}

/* The server's mode ("standalone", "leader", "follower", ...) into mode,
 * or false when it does not serve (yet). */
static bool server_mode(int port, char *mode, size_t size)
{
    char buf[4096];
    if (four_letter(port, "srvr", buf, sizeof buf, 400) < 0)
        return false;
    const char *m = strstr(buf, "Mode: ");
    if (m == NULL)
        return false;
    m += 6;
    size_t n = strcspn(m, "\r\n");
    if (n >= size)
        n = size - 1;
    memcpy(mode, m, n);
    mode[n] = '\0';
    return true;
}

/* 0 when port can be bound on 127.0.0.1, else errno. */
static int port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

/* ---- init ---- */

static int write_member_files(const config *c, int id)
{
    char d[PATH_MAX], data[PATH_MAX], p[PATH_MAX];
    member_dir(id, d, sizeof d);
    pathf(data, sizeof data, "%s/data", d);
    if (mkdir_p(data, 0775) != 0) {
        warnx_("cannot create %s: %s", data, strerror(errno));
        return -1;
    }
    char text[8192];
    size_t off = 0;
    int i = id - 1;
    off += (size_t)snprintf(text + off, sizeof text - off,
                            "# written by zkctl init (%s)\n"
                            "tickTime=%d\n"
                            "dataDir=%s\n"
                            "clientPort=%d\n"
                            "clientPortAddress=127.0.0.1\n"
                            "maxClientCnxns=0\n"
                            "admin.enableServer=false\n"
                            "4lw.commands.whitelist=ruok,srvr,mntr,stat\n",
                            c->n > 1 ? "ensemble member" : "standalone", c->tick, data,
                            c->port[i]);
    if (c->n > 1) {
        off += (size_t)snprintf(text + off, sizeof text - off, "initLimit=10\nsyncLimit=5\n");
        for (int k = 0; k < c->n && off < sizeof text; k++)
            off +=
                (size_t)snprintf(text + off, sizeof text - off, "server.%d=127.0.0.1:%d:%d\n",
                                 k + 1, c->qport[k], c->eport[k]);
        pathf(p, sizeof p, "%s/myid", data);
        char idtext[16];
        snprintf(idtext, sizeof idtext, "%d\n", id);
        if (write_file(p, idtext) != 0) {
            warnx_("cannot write %s: %s", p, strerror(errno));
            return -1;
        }
    }
    for (int k = 0; k < c->nextra && off < sizeof text; k++)
        off += (size_t)snprintf(text + off, sizeof text - off, "%s\n", c->extra[k]);
    if (off >= sizeof text) {
        warnx_("zoo.cfg too long");
        return -1;
    }
    pathf(p, sizeof p, "%s/zoo.cfg", d);
    if (write_file(p, text) != 0) {
        warnx_("cannot write %s: %s", p, strerror(errno));
        return -1;
    }
    return 0;
}

static int make_dir(void)
{
    if (mkdir_p(dir_abs, 0775) != 0) {
        warnx_("cannot create folder %s: %s", dir_abs, strerror(errno));
        return -1;
    }
    if (access(dir_abs, W_OK | X_OK) != 0) {
        warnx_("folder %s is not writable: %s", dir_abs, strerror(errno));
        return -1;
    }
    return 0;
}

static int do_init(const config *c)
{
    if (make_dir() != 0)
        return -1;
    for (int id = 1; id <= c->n; id++)
        if (write_member_files(c, id) != 0)
            return -1;
    return config_save(c);
}

/* The configuration to work with: from the folder, from the command
 * line, or both when they agree.  init_if_needed: write it if missing. */
static int get_config(config *c, bool init_if_needed)
{
    config want;
    int r = config_from_options(&want);
    if (r < 0)
        return -1;
    if (is_inited()) {
        if (config_load(c) != 0) {
            if (r == 0)
                config_free(&want);
            return -1;
        }
        if (r == 0) {
            bool same = config_same(c, &want);
            config_free(&want);
            if (!same) {
                char have[512];
                format_port_list(c->port, c->n, have, sizeof have);
                warnx_("%s is already initialised with other settings (ports %s, tick %d); "
                       "run zkctl --dir %s teardown first",
                       dir_abs, have, c->tick, dir_abs);
                config_free(c);
                return -1;
            }
        }
        return 0;
    }
    if (!init_if_needed || r == 1) {
        if (r == 0)
            config_free(&want);
        if (!init_if_needed)
            return config_load(c); /* prints "not initialised" */
        /* start with no layout on a fresh folder: one server on 2181 */
        r = 0;
        memset(&want, 0, sizeof want);
        want.n = 1;
        want.port[0] = 2181;
        want.tick = 2000;
    }
    if (do_init(&want) != 0) {
        config_free(&want);
        return -1;
    }
    *c = want;
    return 0;
}

/* ---- start ---- */

static const char *find_java(char *buf, size_t size)
{
    const char *j = getenv("JAVA");
    if (j != NULL && *j != '\0')
        return access(j, X_OK) == 0 ? j : NULL;
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && n + 6 < size) {
            snprintf(buf, size, "%.*s/java", (int)n, path);
            if (access(buf, X_OK) == 0)
                return buf;
        }
        path += n;
        if (*path == ':')
            path++;
    }
    return NULL;
}

/* Launch member id in the background; its pid is recorded.  Returns the
 * pid, or -1 with a message printed. */
static pid_t spawn_member(const config *c, int id)
{
    char javabuf[PATH_MAX];
    const char *java = find_java(javabuf, sizeof javabuf);
    if (java == NULL) {
        warnx_("java not found%s (install default-jre-headless, or set JAVA)",
               getenv("JAVA") ? " at $JAVA" : " in PATH");
        return -1;
    }
    if (access(ZK_JAR, R_OK) != 0) {
        warnx_("%s not found (install the zookeeper package)", ZK_JAR);
        return -1;
    }
    bool simple = access(SLF4J_SIMPLE_JAR, R_OK) == 0;
    char cfg[PATH_MAX], logp[PATH_MAX], cp[PATH_MAX];
    member_file(id, "zoo.cfg", cfg, sizeof cfg);
    member_file(id, "zk.log", logp, sizeof logp);
    snprintf(cp, sizeof cp, "%s%s", ZK_JAR, simple ? ":" SLF4J_SIMPLE_JAR : "");

    const char *argv[64];
    int ac = 0;
    argv[ac++] = java;
    char *flags_copy = NULL;
    const char *env_flags = getenv("ZKCTL_JVM_FLAGS");
    if (env_flags != NULL) {
        flags_copy = strdup(env_flags);
        for (char *save = NULL, *t = strtok_r(flags_copy, " \t", &save); t && ac < 40;
             t = strtok_r(NULL, " \t", &save))
            argv[ac++] = t;
    } else {
        for (size_t i = 0; i < sizeof lean_jvm_flags / sizeof *lean_jvm_flags; i++)
            argv[ac++] = lean_jvm_flags[i];
    }
    argv[ac++] = "-cp";
    argv[ac++] = cp;
    argv[ac++] = "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn";
    argv[ac++] = c->n > 1 ? MAIN_QUORUM : MAIN_STANDALONE;
    argv[ac++] = cfg;
    argv[ac] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    /* Its own session: a terminal's ^C or a test runner's process group
     * signal does not reach it; it outlives zkctl. */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    pid_t pid;
    int rc = posix_spawn(&pid, java, &fa, &attr, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    free(flags_copy);
    if (rc != 0) {
        warnx_("cannot run %s: %s", java, strerror(rc));
        return -1;
    }
    char p[PATH_MAX], txt[32];
    member_file(id, "zk.pid", p, sizeof p);
    snprintf(txt, sizeof txt, "%d\n", (int)pid);
    if (write_file(p, txt) != 0) {
        warnx_("cannot write %s: %s; stopping pid %d", p, strerror(errno), (int)pid);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

static void print_log_tail(int id)
{
    char p[PATH_MAX];
    member_file(id, "zk.log", p, sizeof p);
    FILE *f = fopen(p, "re");
    if (f == NULL)
        return;
    static char lines[20][512];
    int n = 0;
    while (fgets(lines[n % 20], sizeof lines[0], f) != NULL)
        n++;
    fclose(f);
    int first = n > 20 ? n - 20 : 0;
    fprintf(stderr, "%s: last lines of %s:\n", prog, p);
    for (int i = first; i < n; i++)
        fprintf(stderr, "  %s", lines[i % 20]);
}

/* Checks before launching member id: its ports must be free. */
static int check_ports(const config *c, int id)
{
    int i = id - 1;
    int ports[3] = {c->port[i], c->n > 1 ? c->qport[i] : 0, c->n > 1 ? c->eport[i] : 0};
    const char *what[3] = {"client", "quorum", "election"};
    for (int k = 0; k < 3; k++) {
        if (ports[k] == 0)
            continue;
        int e = port_free(ports[k]);
        if (e == EADDRINUSE) {
            warnx_("zk%d: %s port %d on 127.0.0.1 is in use by another process", id, what[k],
                   ports[k]);
            return -1;
        }
        if (e != 0) {
            warnx_("zk%d: cannot bind %s port %d on 127.0.0.1: %s", id, what[k], ports[k],
                   strerror(e));
            return -1;
        }
    }
    return 0;
}

/* Start the members in ids[] (those not running), then wait until every
 * one of them serves. */
static int start_members(const config *c, const int *ids, int nids)
{
    int64_t t0 = now_ms();
    pid_t pids[MAX_MEMBERS] = {0};
    bool launched[MAX_MEMBERS] = {false};
    for (int k = 0; k < nids; k++) {
        int id = ids[k];
        pid_t pid = running_pid(id);
        if (pid != 0) {
            pids[k] = pid;
            continue;
        }
        if (check_ports(c, id) != 0)
            goto fail;
        /* A fresh zoo.cfg, in case the package or this tool changed. */
        if (write_member_files(c, id) != 0)
            goto fail;
        pids[k] = spawn_member(c, id);
        if (pids[k] < 0) {
            pids[k] = 0;
            goto fail;
        }
        launched[k] = true;
    }
    int64_t deadline = now_ms() + opt.timeout_ms;
    bool ready[MAX_MEMBERS] = {false};
    char modes[MAX_MEMBERS][32];
    for (int left = nids; left > 0;) {
        for (int k = 0; k < nids; k++) {
            if (ready[k])
                continue;
            int id = ids[k];
            /* Our own child is watched with waitpid (right after exec its
             * /proc entry may not show the command line yet); a server
             * that was already running, through /proc. */
            int status;
            bool exited = launched[k] ? waitpid(pids[k], &status, WNOHANG) == pids[k]
                                      : !member_alive(pids[k], id);
            if (exited) {
                if (launched[k] && WIFEXITED(status))
                    warnx_("zk%d (pid %d) exited with status %d while starting", id,
                           (int)pids[k], WEXITSTATUS(status));
                else if (launched[k] && WIFSIGNALED(status))
                    warnx_("zk%d (pid %d) was killed by signal %d while starting", id,
                           (int)pids[k], WTERMSIG(status));
                else
                    warnx_("zk%d (pid %d) exited while starting", id, (int)pids[k]);
                print_log_tail(id);
                remove_pid(id);
                launched[k] = false; /* reaped already */
                goto fail;
            }
            if (server_mode(c->port[id - 1], modes[k], sizeof modes[k])) {
                ready[k] = true;
                left--;
                say("zk%d ready on 127.0.0.1:%d (pid %d, %s) after %lld ms\n", id,
                    c->port[id - 1], (int)pids[k], modes[k], (long long)(now_ms() - t0));
            }
        }
        if (left == 0)
            break;
        if (now_ms() >= deadline) {
            for (int k = 0; k < nids; k++)
                if (!ready[k])
                    warnx_("zk%d on 127.0.0.1:%d not serving after %d ms (see %s/zk%d/zk.log)",
                           ids[k], c->port[ids[k] - 1], opt.timeout_ms, dir_abs, ids[k]);
            goto fail;
        }
        sleep_ms(25);
    }
    return 0;
fail:
    /* Do not leave half a start behind: stop what this call launched. */
    for (int k = 0; k < nids; k++) {
        if (!launched[k] || pids[k] <= 0)
            continue;
        kill(pids[k], SIGKILL);
        waitpid(pids[k], NULL, 0);
        remove_pid(ids[k]);
    }
    return -1;
}

/* ---- stop ---- */

/* Stop the members in ids[]: sig to all first (in parallel), then wait;
 * after TERM, KILL those still there after the stop timeout. */
static int stop_members(const int *ids, int nids, int sig)
{
    int64_t t0 = now_ms();
    pid_t pids[MAX_MEMBERS] = {0};
    int nstopped = 0, rc = 0;
    for (int k = 0; k < nids; k++) {
        pids[k] = running_pid(ids[k]);
        if (pids[k] == 0) {
            remove_pid(ids[k]);
            continue;
        }
        if (kill(pids[k], sig) != 0 && errno != ESRCH) {
            warnx_("zk%d: cannot signal pid %d: %s", ids[k], (int)pids[k], strerror(errno));
            pids[k] = 0;
            rc = -1;
        }
    }
    for (int k = 0; k < nids; k++) {
        if (pids[k] == 0)
            continue;
        if (!wait_gone(pids[k], ids[k], sig == SIGKILL ? 5000 : opt.stop_timeout_ms)) {
            if (sig != SIGKILL) {
                warnx_("zk%d (pid %d) ignored TERM for %d ms; sending KILL", ids[k],
                       (int)pids[k], opt.stop_timeout_ms);
                kill(pids[k], SIGKILL);
            }
            if (!wait_gone(pids[k], ids[k], 5000)) {
                warnx_("zk%d (pid %d) did not exit", ids[k], (int)pids[k]);
                rc = -1;
                continue;
            }
        }
        remove_pid(ids[k]);
        nstopped++;
        say("zk%d %s (pid %d)\n", ids[k], sig == SIGKILL ? "killed" : "stopped", (int)pids[k]);
    }
    if (nstopped > 0)
        say("%s %d server(s) in %lld ms\n", sig == SIGKILL ? "killed" : "stopped", nstopped,
            (long long)(now_ms() - t0));
    return rc;
}

/* ---- teardown ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = (flag == FTW_DP) ? rmdir(path) : unlink(path);
    if (r != 0 && errno != ENOENT) {
        warnx_("cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int do_teardown(void)
{
    /* Stop every member we find, even when zkctl.conf is gone. */
    int ids[MAX_MEMBERS], n = 0;
    DIR *d = opendir(dir_abs);
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        warnx_("cannot open %s: %s", dir_abs, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MAX_MEMBERS) {
        int id;
        if (strncmp(e->d_name, "zk", 2) == 0 &&
            parse_int(e->d_name + 2, 1, MAX_MEMBERS, &id) == 0)
            ids[n++] = id;
    }
    closedir(d);
    int rc = stop_members(ids, n, SIGTERM);
    if (rc != 0)
        return rc; /* never remove the data of a server that still runs */
    for (int k = 0; k < n; k++) {
        char p[PATH_MAX];
        member_dir(ids[k], p, sizeof p);
        if (nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
            rc = -1;
    }
    char p[PATH_MAX];
    conf_path(p, sizeof p);
    if (unlink(p) != 0 && errno != ENOENT) {
        warnx_("cannot remove %s: %s", p, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rmdir(dir_abs) != 0 && errno != ENOTEMPTY && errno != EEXIST)
        warnx_("warning: cannot remove %s: %s", dir_abs, strerror(errno));
    if (rc == 0)
        say("removed %d server folder(s) under %s\n", n, dir_abs);
    return rc;
}

/* ---- status ---- */

static int do_status(const config *c)
{
    int serving = 0;
    if (opt.json)
        printf("[");
    for (int id = 1; id <= c->n; id++) {
        pid_t pid = running_pid(id);
        char mode[32] = "";
        bool up = pid != 0 && server_mode(c->port[id - 1], mode, sizeof mode);
        const char *m = up ? mode : (pid != 0 ? "not-serving" : "down");
        serving += up;
        if (opt.json) {
            printf("%s{\"id\":%d,\"address\":\"127.0.0.1:%d\",\"pid\":%d,\"mode\":\"%s\"}",
                   id > 1 ? "," : "", id, c->port[id - 1], (int)pid, m);
        } else {
            char pidtxt[16] = "-";
            if (pid != 0)
                snprintf(pidtxt, sizeof pidtxt, "%d", (int)pid);
            printf("zk%d 127.0.0.1:%d pid %s %s\n", id, c->port[id - 1], pidtxt, m);
        }
    }
    if (opt.json)
        printf("]\n");
    return serving == c->n ? 0 : -1;
}

/* ---- command line ---- */

static void usage(FILE *f)
{
    fprintf(
        f, "Usage: zkctl [--dir DIR] [options] COMMAND [N]\n"
           "Run local ZooKeeper servers (standalone or an ensemble) on 127.0.0.1.\n"
           "\n"
           "Commands:\n"
           "  init          write the configuration under DIR (fails if already there)\n"
           "  start         init if needed, start every server, wait until all serve\n"
           "  status        print each server's address, pid and mode (exit 1 unless all "
           "serve)\n"
           "  stop          stop every server (TERM, then KILL after --stop-timeout)\n"
           "  teardown      stop, then remove the servers' folders and data\n"
           "  addrs         print the client address list (127.0.0.1:P1,127.0.0.1:P2,...)\n"
           "  kill N        kill member N with SIGKILL (a crash, for failover tests)\n"
           "  stop-one N    stop member N with TERM\n"
           "  start-one N   start member N again and wait until it serves\n"
           "\n"
           "Options:\n"
           "  -d, --dir DIR            state folder (default $ZKCTL_DIR, else ./zkctl-data)\n"
           "  -n, --servers N          number of servers (default 1: standalone)\n"
           "  -p, --ports P1,P2,...    client ports, one per server\n"
           "      --port P             first client port when --ports is not given "
           "(default 2181)\n"
           "      --quorum-ports LIST  quorum ports (default: client port + 100)\n"
           "      --election-ports LIST election ports (default: client port + 200)\n"
           "      --tick MS            tickTime (default 2000); sessions may last 2..20 ticks\n"
           "      --cfg KEY=VALUE      extra zoo.cfg line (repeatable), e.g. forceSync=no\n"
           "  -t, --timeout SEC        wait at most SEC for servers to serve (default 60)\n"
           "      --stop-timeout SEC   wait SEC after TERM before KILL (default 10)\n"
           "      --json               status as JSON\n"
           "  -q, --quiet              print only errors (and status/addrs output)\n"
           "  -h, --help               this text\n"
           "\n"
           "Environment: JAVA (the java binary), ZKCTL_JVM_FLAGS (replaces the lean JVM "
           "flags),\nZKCTL_DIR.  Exit status: 0 success, 1 failure, 2 usage error.\n");
}

enum { OPT_PORT = 256, OPT_QPORTS, OPT_EPORTS, OPT_TICK, OPT_CFG, OPT_STOP_TIMEOUT, OPT_JSON };

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'zkctl --help'.\n");
    return EXIT_USAGE;
}

static int parse_options(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"servers", required_argument, NULL, 'n'},
        {"ports", required_argument, NULL, 'p'},
        {"port", required_argument, NULL, OPT_PORT},
        {"quorum-ports", required_argument, NULL, OPT_QPORTS},
        {"election-ports", required_argument, NULL, OPT_EPORTS},
        {"tick", required_argument, NULL, OPT_TICK},
        {"cfg", required_argument, NULL, OPT_CFG},
        {"timeout", required_argument, NULL, 't'},
        {"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opt.timeout_ms = 60000;
    opt.stop_timeout_ms = 10000;
    opterr = 0;
    int ch, v;
    while ((ch = getopt_long(argc, argv, ":d:n:p:t:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            opt.dir = optarg;
            break;
        case 'n':
            if (parse_int(optarg, 1, MAX_MEMBERS, &opt.servers) != 0)
                return usage_error("--servers: want a number from 1 to %d, got '%s'",
                                   MAX_MEMBERS, optarg);
            break;
        case 'p':
            if ((opt.nports = parse_port_list(optarg, opt.ports)) < 0)
                return usage_error("--ports: want a comma-separated list of ports, got '%s'",
                                   optarg);
            break;
        case OPT_PORT:
            if (parse_int(optarg, 1, 65535, &opt.base_port) != 0)
                return usage_error("--port: bad port '%s'", optarg);
            break;
        case OPT_QPORTS:
            if ((opt.nqports = parse_port_list(optarg, opt.qports)) < 0)
                return usage_error("--quorum-ports: bad list '%s'", optarg);
            break;
        case OPT_EPORTS:
            if ((opt.neports = parse_port_list(optarg, opt.eports)) < 0)
                return usage_error("--election-ports: bad list '%s'", optarg);
            break;
        case OPT_TICK:
            if (parse_int(optarg, 10, 600000, &opt.tick) != 0)
                return usage_error("--tick: want milliseconds (10..600000), got '%s'", optarg);
            break;
        case OPT_CFG:
            if (strchr(optarg, '=') == NULL || optarg[0] == '=' || strchr(optarg, '\n'))
                return usage_error("--cfg: want KEY=VALUE, got '%s'", optarg);
            if (opt.nextra == MAX_EXTRA)
                return usage_error("--cfg: at most %d", MAX_EXTRA);
            opt.extra[opt.nextra++] = optarg;
            break;
        case 't':
            if (parse_int(optarg, 1, 3600, &v) != 0)
                return usage_error("--timeout: want seconds (1..3600), got '%s'", optarg);
            opt.timeout_ms = v * 1000;
            break;
        case OPT_STOP_TIMEOUT:
            if (parse_int(optarg, 0, 3600, &v) != 0)
                return usage_error("--stop-timeout: want seconds (0..3600), got '%s'", optarg);
            opt.stop_timeout_ms = v * 1000;
            break;
        case OPT_JSON:
            opt.json = true;
            break;
        case 'q':
            opt.quiet = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case ':':
            return usage_error("option '%s' needs an argument", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int rc = parse_options(argc, argv);
    if (rc != 0)
        return rc;
    if (optind >= argc)
        return usage_error("no command given");
    const char *cmd = argv[optind++];
    int member = 0;
    bool wants_member = strcmp(cmd, "kill") == 0 || strcmp(cmd, "start-one") == 0 ||
                        strcmp(cmd, "stop-one") == 0;
    if (wants_member) {
        if (optind >= argc)
            return usage_error("%s needs a member number", cmd);
        if (parse_int(argv[optind++], 1, MAX_MEMBERS, &member) != 0)
            return usage_error("%s: bad member number '%s'", cmd, argv[optind - 1]);
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);

    const char *dir = opt.dir ? opt.dir : getenv("ZKCTL_DIR");
    if (dir == NULL || *dir == '\0')
        dir = "zkctl-data";
    if (dir[0] == '/') {
        snprintf(dir_abs, sizeof dir_abs, "%s", dir);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL) {
            warnx_("cannot get the current folder: %s", strerror(errno));
            return 1;
        }
        if (snprintf(dir_abs, sizeof dir_abs, "%s/%s", cwd, dir) >= (int)sizeof dir_abs) {
            warnx_("folder name too long");
            return 1;
        }
    }
    size_t dl = strlen(dir_abs);
    while (dl > 1 && dir_abs[dl - 1] == '/')
        dir_abs[--dl] = '\0';
    if (strlen(dir_abs) > PATH_MAX - 64) {
        warnx_("folder name too long");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    config c;
    memset(&c, 0, sizeof c);
    if (strcmp(cmd, "init") == 0) {
        if (is_inited()) {
            warnx_("%s is already initialised (zkctl --dir %s teardown removes it)", dir_abs,
                   dir_abs);
            return 1;
        }
        rc = get_config(&c, true);
        if (rc == 0) {
            char list[512];
            format_port_list(c.port, c.n, list, sizeof list);
            say("initialised %s: %d server(s), client ports %s\n", dir_abs, c.n, list);
        }
    } else if (strcmp(cmd, "start") == 0) {
        rc = get_config(&c, true);
        if (rc == 0) {
            int ids[MAX_MEMBERS];
            for (int i = 0; i < c.n; i++)
                ids[i] = i + 1;
            rc = start_members(&c, ids, c.n);
        }
    } else if (strcmp(cmd, "status") == 0) {
        rc = get_config(&c, false);
        if (rc == 0)
            rc = do_status(&c);
    } else if (strcmp(cmd, "addrs") == 0) {
        rc = get_config(&c, false);
        if (rc == 0) {
            for (int i = 0; i < c.n; i++)
                printf("%s127.0.0.1:%d", i ? "," : "", c.port[i]);
            printf("\n");
        }
    } else if (strcmp(cmd, "stop") == 0) {
        if (!is_inited()) {
            say("nothing to stop: %s is not initialised\n", dir_abs);
            return 0;
        }
        rc = get_config(&c, false);
        if (rc == 0) {
            int ids[MAX_MEMBERS];
            for (int i = 0; i < c.n; i++)
                ids[i] = i + 1;
            rc = stop_members(ids, c.n, SIGTERM);
        }
    } else if (strcmp(cmd, "teardown") == 0) {
        rc = do_teardown();
    } else if (wants_member) {
        rc = get_config(&c, false);
        if (rc == 0 && member > c.n) {
            warnx_("no member %d: %s has %d server(s)", member, dir_abs, c.n);
            rc = -1;
        }
        if (rc == 0) {
            if (strcmp(cmd, "start-one") == 0) {
                rc = start_members(&c, &member, 1);
            } else {
                if (running_pid(member) == 0)
                    say("zk%d is not running\n", member);
                rc = stop_members(&member, 1, strcmp(cmd, "kill") == 0 ? SIGKILL : SIGTERM);
            }
        }
    } else {
        return usage_error("unknown command '%s'", cmd);
    }
    config_free(&c);
    return rc == 0 ? 0 : 1;
}
