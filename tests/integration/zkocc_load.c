/*
 * zkocc_load.c: many clients of a zkocc daemon at once, for a bounded
 * time, with the daemon's memory sampled (the load part of
 * test_zkocc.py; not a benchmark: it prints counts, not rates).
 *
 *   zkocc_load HOST:PORT PID PATH DATA CONNS INFLIGHT SECONDS
 *
 * Opens CONNS connections (raising the soft descriptor limit to the
 * hard one first), each keeping INFLIGHT ZkReader.Get calls of PATH
 * pipelined, for SECONDS, on one thread (epoll).  Every reply is checked:
 * its Seq is one this connection sent and has not been answered, no
 * Error, the body a ZkNode of PATH whose Data is DATA.  Once a second
 * it samples VmRSS of process PID (/proc/PID/status).  Stops asking at
 * the end and waits for every outstanding answer.
 *
 * Prints "# rss_kb S1 S2 ..." (one sample a second) and one line
 * "conns N replies N bad N unanswered N"; exits 0 when every connection
 * was made and every reply was right, else 1 (the first bad reply is
 * described on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <zkcell/zkcell.h>
#include <zkcell/zkocc_wire.h>

#include "../tcp_dial.h"

/* Past this, the wait for outstanding answers at the end gives up. */
#define DRAIN_MS    60000
#define MAX_SAMPLES 4096

typedef struct client {
    int fd;
    bool connected; /* the CONNECT reply was read */
    zkc_wire_reader *r;
    zkc_wire_buf out;
    size_t out_off; /* written so far of out */
    int64_t next_seq;
    int64_t *pending; /* sent, unanswered seqs; npending of them */
    int npending;
} client;

static const char *want_path, *want_data;
static size_t want_path_len, want_data_len;
static long replies, bad;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void bad_reply(const client *c, const char *fmt, const char *detail)
{
    if (bad++ == 0) {
        fprintf(stderr, "zkocc_load: connection fd %d: ", c->fd);
        fprintf(stderr, fmt, detail);
        fputc('\n', stderr);
    }
}

static long rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static int ask(client *c)
{
    int64_t seq = c->next_seq++;
    if (zkc_wire_put_request_header(&c->out, ZKC_WIRE_METHOD_GET, strlen(ZKC_WIRE_METHOD_GET),
                                    seq) != ZKC_OK ||
        zkc_wire_put_path(&c->out, want_path, want_path_len) != ZKC_OK)
        return -1;
    c->pending[c->npending++] = seq;
    return 0;
}

/* Write what is buffered; 0 when all or part went (the rest waits for
 * EPOLLOUT), -1 when the connection broke. */
static int flush_out(client *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return -1;
        c->out_off += (size_t)n;
    }
    c->out.len = c->out_off = 0;
    return 0;
}

static void check_reply(client *c, const zkc_wire_frame *f)
{
    zkc_wire_header h;
    if (zkc_wire_decode_header(f->header, f->header_len, &h) != ZKC_OK) {
        bad_reply(c, "bad reply header: %s", zkc_errmsg());
        return;
    }
    int at = -1;
    for (int i = 0; i < c->npending && at < 0; i++)
        if (c->pending[i] == h.seq)
            at = i;
    if (at < 0) {
        bad_reply(c, "a reply to a Seq not outstanding%s", "");
        return;
    }
    c->pending[at] = c->pending[--c->npending];
    replies++;
    if (h.error_len > 0) {
        char e[256];
        snprintf(e, sizeof e, "%.*s", (int)h.error_len, h.error);
        bad_reply(c, "error reply: %s", e);
        return;
    }
    zkc_wire_node *n = NULL;
    if (zkc_wire_decode_node(f->body, f->body_len, NULL, &n) != ZKC_OK) {
        bad_reply(c, "bad ZkNode: %s", zkc_errmsg());
        return;
    }
    if (n->path_len != want_path_len || memcmp(n->path, want_path, want_path_len) != 0 ||
        n->data_len != want_data_len || memcmp(n->data, want_data, want_data_len) != 0)
        bad_reply(c, "wrong node or data for %s", want_path);
    zkc_wire_node_free(n);
}

/* Read and answer what came; -1 when the connection broke. */
static int on_readable(client *c, bool asking, int inflight)
{
    for (;;) {
        void *sp;
        size_t cap;
        if (zkc_wire_reader_space(c->r, 0, &sp, &cap) != ZKC_OK)
            return -1;
        ssize_t n = read(c->fd, sp, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0)
            return -1;
        zkc_wire_reader_commit(c->r, (size_t)n);
        if (!c->connected) {
            const char *head;
            size_t hl;
            int rc = zkc_wire_reader_head(c->r, &head, &hl);
            if (rc == ZKC_WIRE_MORE)
                continue;
            if (rc != ZKC_OK || zkc_wire_check_connect_reply(head, hl) != ZKC_OK)
                return -1;
            c->connected = true;
        }
        zkc_wire_frame f;
        int rc;
        while ((rc = zkc_wire_reader_next(c->r, &f)) == ZKC_OK)
            check_reply(c, &f);
        if (rc != ZKC_WIRE_MORE) {
            bad_reply(c, "unreadable frame: %s", zkc_errmsg());
            return -1;
        }
    }
    while (c->connected && asking && c->npending < inflight)
        if (ask(c) != 0)
            return -1;
    return flush_out(c);
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: zkocc_load HOST:PORT PID PATH DATA CONNS INFLIGHT SECONDS\n");
        return 2;
    }
    char host[64];
    snprintf(host, sizeof host, "%s", argv[1]);
    char *colon = strrchr(host, ':');
    if (colon == NULL) {
        fprintf(stderr, "zkocc_load: %s: want HOST:PORT\n", argv[1]);
        return 2;
    }
    *colon = '\0';
    int port = atoi(colon + 1), pid = atoi(argv[2]);
    want_path = argv[3];
    want_path_len = strlen(want_path);
    want_data = argv[4];
    want_data_len = strlen(want_data);
    int nconns = atoi(argv[5]), inflight = atoi(argv[6]);
    double seconds = atof(argv[7]);
    if (nconns <= 0 || inflight <= 0 || !(seconds > 0)) {
        fprintf(stderr, "zkocc_load: CONNS, INFLIGHT and SECONDS must be positive\n");
        return 2;
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    client *cs = calloc((size_t)nconns, sizeof *cs);
    if (ep < 0 || cs == NULL) {
        fprintf(stderr, "zkocc_load: out of memory or descriptors\n");
        return 1;
    }
    long samples[MAX_SAMPLES];
    int nsamples = 0;
    int made = 0;
    for (int i = 0; i < nconns; i++) {
        client *c = &cs[i];
        c->fd = tcp_dial(host, port);
        c->pending = calloc((size_t)inflight, sizeof *c->pending);
        if (c->fd < 0 || c->pending == NULL || zkc_wire_reader_new(NULL, &c->r) != ZKC_OK ||
            zkc_wire_buf_append(&c->out, ZKC_WIRE_CONNECT_REQUEST,
                                strlen(ZKC_WIRE_CONNECT_REQUEST)) != ZKC_OK) {
            fprintf(stderr, "zkocc_load: connection %d of %d: %s\n", i + 1, nconns,
                    c->fd < 0 ? strerror(errno) : "out of memory");
            break;
        }
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0 || flush_out(c) != 0) {
            fprintf(stderr, "zkocc_load: connection %d of %d: %s\n", i + 1, nconns,
                    strerror(errno));
            break;
        }
        made++;
    }

    int64_t start = now_ms();
    int64_t end = start + (int64_t)(seconds * 1000);
    int64_t next_sample = start;
    int broken = 0;
    bool asking = made == nconns;
    for (;;) {
        int64_t t = now_ms();
        if (t >= next_sample && nsamples < MAX_SAMPLES) {
            samples[nsamples++] = rss_kb(pid);
            next_sample += 1000;
        }
        if (asking && t >= end)
            asking = false;
        long outstanding = 0;
        for (int i = 0; i < made; i++)
            outstanding += cs[i].fd >= 0 ? cs[i].npending : 0;
        if (!asking && outstanding == 0)
            break;
        if (!asking && t >= end + DRAIN_MS)
            break;
        struct epoll_event evs[256];
        int wait = (int)(next_sample > t ? next_sample - t : 0);
        int n = epoll_wait(ep, evs, 256, wait);
        for (int k = 0; k < n; k++) {
            client *c = evs[k].data.ptr;
            if (c->fd < 0)
                continue;
            if (on_readable(c, asking, inflight) != 0) {
                if (broken++ == 0)
                    fprintf(stderr, "zkocc_load: a connection broke (fd %d, %d pending)\n",
                            c->fd, c->npending);
                close(c->fd);
                c->fd = -1;
            }
        }
    }
    samples[nsamples < MAX_SAMPLES ? nsamples++ : MAX_SAMPLES - 1] = rss_kb(pid);

    long unanswered = 0;
    for (int i = 0; i < made; i++) {
        unanswered += cs[i].npending;
        if (cs[i].fd >= 0)
            close(cs[i].fd);
        zkc_wire_reader_free(cs[i].r);
        zkc_wire_buf_free(&cs[i].out);
        free(cs[i].pending);
    }
    free(cs);
    close(ep);
    printf("# rss_kb");
    for (int i = 0; i < nsamples; i++)
        printf(" %ld", samples[i]);
    printf("\nconns %d replies %ld bad %ld unanswered %ld broken %d\n", made, replies, bad,
           unanswered, broken);
    return made == nconns && bad == 0 && unanswered == 0 && broken == 0 && replies > 0 ? 0 : 1;
}
