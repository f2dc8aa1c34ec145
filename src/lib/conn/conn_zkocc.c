/*
 * conn_zkocc.c: the zkocc client (ZkoccConn, DialZkocc) behind the
 * zkc_conn interface: get, children and exists over the zkocc wire,
 * everything else ZKC_ENOTSUPPORTED.  zkocc.h says what callers see.
 *
 * One mutex guards the connection's state: the socket, the bytes not yet
 * written (out), and the operations not yet handed to their completion,
 * in a ring sorted by Seq (Seq is taken at submit under the lock, so
 * submission order is Seq order and a reply's operation is found by
 * binary search).  Every operation's request frame goes into out when it
 * is submitted; out therefore always holds the frames of operations still
 * waiting to be sent, and a broken connection fails every operation not
 * yet answered and empties out, so nothing is sent twice.
 *
 * Threads: the io thread owns the socket's reading side and its reader;
 * it dials (without the lock, watching stop_fd so a close is not held up
 * by a slow dial), polls, reads, decodes frames outside the lock and
 * marks the matching operations answered.  submit writes what it can at
 * once (non-blocking, under the lock) so a lone call costs no thread
 * switch, and leaves the rest to the io thread.  The completion thread
 * runs completions from the ring's head, in order, as they are answered.
 * No user code runs with the lock held.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zkcell/sys/conn_impl.h"
#include "zkcell/zkocc.h"
#include "zkcell/zkocc_wire.h"

typedef struct zo_op {
    int64_t seq;
    zkc_op op;
    char *path;
    zkc_done_fn done;
    void *ud;
    bool answered;
    int rc;
    char *errmsg;
    zkc_wire_node *node;
} zo_op;

typedef struct zo_conn {
    zkc_conn base;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* an operation answered, or stop */
    char **addrs;
    size_t naddrs;
    char *addrs_text;
    int connect_timeout_ms;

    /* Under lock. */
    int fd;             /* -1: none */
    bool ever_broken;   /* a connection was lost: the next one is RECONNECTED */
    zkc_wire_buf out;   /* frames not yet written */
    size_t out_off;     /* bytes of out already written */
    zo_op **ring;       /* operations not yet completed, in Seq order */
    size_t ring_cap;    /* a power of two */
    size_t ring_head;
    size_t ring_count;
    size_t unanswered;  /* of the ring's operations */
    int64_t next_seq;
    bool stop;          /* closing: the threads end */
    bool self_close;    /* closed from a completion: its thread frees */

    zkc_wire_reader *reader; /* the socket's; the io thread's only */
    int wake_fd;        /* eventfd: work for the io thread */
    int stop_fd;        /* eventfd: readable once closing */
    pthread_t io_thread;
    pthread_t done_thread;
} zo_conn;

/* ---- small helpers ---- */

/* strerror for library threads: the text of e in a per-thread buffer. */
static const char *errtext(int e)
{
    static _Thread_local char buf[128];
    return strerror_r(e, buf, sizeof buf); /* GNU: may return a static string */
}

static void free_op(zo_op *o)
{
    if (o == NULL)
        return;
    free(o->path);
    free(o->errmsg);
    zkc_wire_node_free(o->node);
    free(o);
}

static void wake(int fd)
{
    uint64_t one = 1;
    ssize_t r = write(fd, &one, sizeof one);
    (void)r;
}

static void drain(int fd)
{
    uint64_t n;
    ssize_t r = read(fd, &n, sizeof n);
    (void)r;
}

/* Split "a,b, c" into trimmed non-empty parts.  Returns the count (0 on
 * an empty list), or -1 when out of memory. */
static ssize_t split_addrs(const char *text, char ***ret)
{
    size_t n = 0, cap = 4;
    char **v = malloc(cap * sizeof *v);
    if (v == NULL)
        return -1;
    const char *p = text;
    while (*p != '\0') {
        const char *e = strchr(p, ',');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        while (len > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len > 0) {
            if (n == cap) {
                char **nv = realloc(v, 2 * cap * sizeof *v);
                if (nv == NULL)
                    goto nomem;
                v = nv;
                cap *= 2;
            }
            if ((v[n] = strndup(s, len)) == NULL)
                goto nomem;
            n++;
        }
        p = e != NULL ? e + 1 : p + strlen(p);
    }
    *ret = v;
    return (ssize_t)n;
nomem:
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return -1;
}

/* ---- dialing (no lock held) ---- */

/* Wait for events on fd, or stop_fd, until deadline (<0: none).  Returns
 * ZKC_OK, ZKC_ETIMEDOUT, ZKC_ECLOSING or ZKC_EIO. */
static int wait_fd(int fd, short events, int stop_fd, int64_t deadline)
{
    for (;;) {
        int tmo = -1;
        if (deadline >= 0) {
            int64_t left = deadline - zkc_impl_now_ms();
            if (left <= 0)
                return ZKC_ETIMEDOUT;
            tmo = left > 60000 ? 60000 : (int)left;
        }
        struct pollfd p[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
        int r = poll(p, stop_fd >= 0 ? 2 : 1, tmo);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return ZKC_EIO;
        }
        if (stop_fd >= 0 && (p[1].revents & POLLIN))
            return ZKC_ECLOSING;
        if (p[0].revents != 0)
            return ZKC_OK;
    }
}

/* Split host:port ("[v6]:port" too) into host and port. */
static int parse_addr(const char *addr, char *host, size_t hsize, char *port, size_t psize)
{
    const char *colon;
    const char *h = addr;
    size_t hlen;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        h = addr + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - addr);
    }
    size_t plen = strlen(colon + 1);
    if (hlen == 0 || hlen >= hsize || plen == 0 || plen >= psize)
        return -1;
    for (size_t i = 0; i < plen; i++)
        if (colon[1 + i] < '0' || colon[1 + i] > '9')
            return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, colon + 1, plen + 1);
    return 0;
}

/*
 * Connect to one daemon and do the CONNECT handshake within timeout_ms
 * (<0: none).  Returns ZKC_OK with *ret_fd (non-blocking) and *ret_reader
 * (holding any bytes read past the HTTP head), or an error with the
 * reason in err.
 */
static int dial_one(const char *addr, int timeout_ms, int stop_fd, int *ret_fd,
                    zkc_wire_reader **ret_reader, char *err, size_t errlen)
{
    char host[256], port[16];
    if (parse_addr(addr, host, sizeof host, port, sizeof port) != 0) {
        snprintf(err, errlen, "not host:port");
        return ZKC_ECONNECT;
    }
    int64_t deadline = timeout_ms < 0 ? -1 : zkc_impl_now_ms() + timeout_ms;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0) {
        snprintf(err, errlen, "%s", gai_strerror(g));
        return ZKC_ECONNECT;
    }
    int fd = -1;
    int rc = ZKC_ECONNECT;
    snprintf(err, errlen, "no address");
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            snprintf(err, errlen, "socket: %s", errtext(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            rc = ZKC_OK;
            break;
        }
        if (errno == EINPROGRESS) {
            rc = wait_fd(fd, POLLOUT, stop_fd, deadline);
            if (rc == ZKC_OK) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
                    soerr = errno;
                if (soerr == 0)
                    break;
                snprintf(err, errlen, "%s", errtext(soerr));
                rc = ZKC_ECONNECT;
            } else {
                snprintf(err, errlen, "%s", rc == ZKC_ETIMEDOUT ? "connect timed out"
                                            : rc == ZKC_ECLOSING ? "closing"
                                                                 : "poll failed");
            }
        } else {
            snprintf(err, errlen, "%s", errtext(errno));
            rc = ZKC_ECONNECT;
        }
        close(fd);
        fd = -1;
        if (rc == ZKC_ECLOSING || rc == ZKC_ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return rc == ZKC_OK ? ZKC_ECONNECT : rc;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    /* The handshake. */
    const char *req = ZKC_WIRE_CONNECT_REQUEST;
    size_t off = 0, len = strlen(req);
    while (off < len) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if ((rc = wait_fd(fd, POLLOUT, stop_fd, deadline)) != ZKC_OK)
                goto fail_wait;
            continue;
        }
        snprintf(err, errlen, "send: %s", w < 0 ? errtext(errno) : "nothing written");
        rc = ZKC_ECONNECT;
        goto fail;
    }
    zkc_wire_reader *rd = NULL;
    if ((rc = zkc_wire_reader_new(NULL, &rd)) != ZKC_OK) {
        snprintf(err, errlen, "%s", zkc_strerror(rc));
        goto fail;
    }
    for (;;) {
        const char *head;
        size_t hlen;
        rc = zkc_wire_reader_head(rd, &head, &hlen);
        if (rc == ZKC_OK) {
            rc = zkc_wire_check_connect_reply(head, hlen);
            if (rc != ZKC_OK) {
                snprintf(err, errlen, "%s", zkc_errmsg());
                rc = ZKC_ECONNECT;
                break;
            }
            *ret_fd = fd;
            *ret_reader = rd;
            return ZKC_OK;
        }
        if (rc != ZKC_WIRE_MORE) {
            snprintf(err, errlen, "not a Go RPC server (no HTTP reply head)");
            rc = ZKC_ECONNECT;
            break;
        }
        void *space;
        size_t slen;
        if ((rc = zkc_wire_reader_space(rd, 4096, &space, &slen)) != ZKC_OK) {
            snprintf(err, errlen, "%s", zkc_strerror(rc));
            break;
        }
        ssize_t r = recv(fd, space, slen, 0);
        if (r > 0) {
            zkc_wire_reader_commit(rd, (size_t)r);
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if ((rc = wait_fd(fd, POLLIN, stop_fd, deadline)) != ZKC_OK) {
                snprintf(err, errlen, "%s", rc == ZKC_ETIMEDOUT ? "no handshake reply in time"
                                            : rc == ZKC_ECLOSING ? "closing"
                                                                 : "poll failed");
                if (rc != ZKC_ECLOSING)
                    rc = ZKC_ECONNECT;
                break;
            }
            continue;
        }
        snprintf(err, errlen, "handshake: %s", r == 0 ? "connection closed by the server"
                                                       : errtext(errno));
        rc = ZKC_ECONNECT;
        break;
    }
    zkc_wire_reader_free(rd);
    goto fail;
fail_wait:
    snprintf(err, errlen, "%s", rc == ZKC_ETIMEDOUT ? "handshake timed out"
                                : rc == ZKC_ECLOSING ? "closing"
                                                     : "poll failed");
    if (rc != ZKC_ECLOSING)
        rc = ZKC_ECONNECT;
fail:
    close(fd);
    return rc;
}

/* Try every address in a random order.  On failure the message
 * ("zkocc connect failed: <addrs> (a: why; b: why)") is in msg. */
static int dial_any(zo_conn *z, int *ret_fd, zkc_wire_reader **ret_reader, char *msg,
                    size_t msglen)
{
    size_t n = z->naddrs;
    size_t order[64];
    size_t *ord = n <= 64 ? order : malloc(n * sizeof *ord);
    if (ord == NULL) {
        snprintf(msg, msglen, "zkocc connect failed: %s: out of memory", z->addrs_text);
        return ZKC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
        size_t j = (size_t)(zkc_impl_random() % i);
        size_t t = ord[i - 1];
        ord[i - 1] = ord[j];
        ord[j] = t;
    }
    int written = snprintf(msg, msglen, "zkocc connect failed: %s (", z->addrs_text);
    size_t used = written > 0 && (size_t)written < msglen ? (size_t)written : msglen - 1;
    int rc = ZKC_ECONNECT;
    for (size_t i = 0; i < n; i++) {
        const char *a = z->addrs[ord[i]];
        char why[256];
        rc = dial_one(a, z->connect_timeout_ms, z->stop_fd, ret_fd, ret_reader, why,
                      sizeof why);
        if (rc == ZKC_OK)
            break;
        zkc_impl_log(&z->base, ZKC_LOG_WARN, "zkocc: dial %s: %s", a, why);
        if (used < msglen - 1) {
            written = snprintf(msg + used, msglen - used, "%s%s: %s", i > 0 ? "; " : "", a, why);
            used += written > 0 ? (size_t)written : 0;
            if (used >= msglen)
                used = msglen - 1;
        }
        if (rc == ZKC_ECLOSING)
            break;
    }
    if (rc != ZKC_OK && used < msglen - 1)
        snprintf(msg + used, msglen - used, ")");
    if (ord != order)
        free(ord);
    if (rc != ZKC_OK && rc != ZKC_ECLOSING)
        rc = ZKC_ECONNECT;
    return rc;
}

/* ---- the ring of operations (lock held) ---- */

static zo_op *ring_at(zo_conn *z, size_t i)
{
    return z->ring[(z->ring_head + i) & (z->ring_cap - 1)];
}

static int ring_push(zo_conn *z, zo_op *o)
{
    if (z->ring_count == z->ring_cap) {
        size_t ncap = z->ring_cap * 2;
        zo_op **nr = malloc(ncap * sizeof *nr);
        if (nr == NULL)
            return ZKC_ENOMEM;
        for (size_t i = 0; i < z->ring_count; i++)
            nr[i] = ring_at(z, i);
        free(z->ring);
        z->ring = nr;
        z->ring_cap = ncap;
        z->ring_head = 0;
    }
    z->ring[(z->ring_head + z->ring_count) & (z->ring_cap - 1)] = o;
    z->ring_count++;
    return ZKC_OK;
}

/* The operation with seq, or NULL. */
static zo_op *ring_find(zo_conn *z, int64_t seq)
{
    size_t lo = 0, hi = z->ring_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        zo_op *o = ring_at(z, mid);
        if (o->seq == seq)
            return o;
        if (o->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void answer(zo_conn *z, zo_op *o, int rc, const char *msg)
{
    o->answered = true;
    o->rc = rc;
    if (msg != NULL && o->errmsg == NULL)
        o->errmsg = strdup(msg);
    z->unanswered--;
}

/* Fail every operation not yet answered, forget the socket's bytes. */
static void fail_all(zo_conn *z, int rc, const char *msg)
{
    for (size_t i = 0; i < z->ring_count; i++) {
        zo_op *o = ring_at(z, i);
        if (!o->answered)
            answer(z, o, rc, msg);
    }
    z->out.len = 0;
    z->out_off = 0;
    pthread_cond_broadcast(&z->cond);
}

/* Write what the socket takes now.  Returns 0, or -1 when it failed. */
static int flush_out(zo_conn *z)
{
    while (z->fd >= 0 && z->out_off < z->out.len) {
        ssize_t w = send(z->fd, z->out.data + z->out_off, z->out.len - z->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            z->out_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return -1;
    }
    if (z->out_off == z->out.len) {
        z->out.len = 0;
        z->out_off = 0;
    }
    return 0;
}

/* ---- the io thread ---- */

/* Drop the socket after a failure: every call in flight fails. */
static void broken(zo_conn *z, int rc, const char *msg, bool *state_changed)
{
    if (z->fd >= 0) {
        close(z->fd);
        z->fd = -1;
    }
    z->ever_broken = true;
    fail_all(z, rc, msg);
    *state_changed = true;
}

/* One reply frame, decoded outside the lock. */
typedef struct zo_reply {
    int64_t seq;
    int rc;
    char *errmsg;
    zkc_wire_node *node;
} zo_reply;

/* Decode frame.  Returns ZKC_OK (a reply, maybe failed, in *r) or
 * ZKC_EPROTO when the header is unusable (the stream is lost). */
static int decode_reply(const zkc_wire_frame *f, zo_reply *r, char *msg, size_t msglen)
{
    zkc_wire_header h;
    memset(r, 0, sizeof *r);
    if (zkc_wire_decode_header(f->header, f->header_len, &h) != ZKC_OK) {
        snprintf(msg, msglen, "zkocc: bad reply header from the server: %s", zkc_errmsg());
        return ZKC_EPROTO;
    }
    r->seq = h.seq;
    if (h.error_len > 0) {
        r->rc = zkc_wire_error_code(h.error, h.error_len);
        if (r->rc == ZKC_ESYSTEMERROR &&
            (memmem(h.error, h.error_len, "node does not exist", 19) != NULL ||
             memmem(h.error, h.error_len, "no node", 7) != NULL))
            r->rc = ZKC_ENONODE;
        if (r->rc == ZKC_OK)
            r->rc = ZKC_ESYSTEMERROR;
        r->errmsg = strndup(h.error, h.error_len);
        return ZKC_OK;
    }
    int rc = zkc_wire_decode_node(f->body, f->body_len, NULL, &r->node);
    if (rc != ZKC_OK) {
        r->rc = rc;
        char text[512];
        snprintf(text, sizeof text, "zkocc: bad reply body from the server: %s", zkc_errmsg());
        r->errmsg = strdup(text);
        r->node = NULL;
    }
    return ZKC_OK;
}

static void *io_main(void *arg)
{
    zo_conn *z = arg;
    zkc_wire_reader *rd = z->reader; /* the first dial's */
    z->reader = NULL;
    pthread_mutex_lock(&z->lock);
    for (;;) {
        bool state_changed = false;
        char why[512]; /* why the connection broke, when state_changed */
        zkc_state new_state = ZKC_STATE_CONNECTED;
        if (z->stop)
            break;
        if (z->fd < 0) {
            if (z->unanswered == 0) {
                /* Nothing to do until a call comes. */
                pthread_mutex_unlock(&z->lock);
                struct pollfd p[2] = {{z->wake_fd, POLLIN, 0}, {z->stop_fd, POLLIN, 0}};
                if (poll(p, 2, -1) > 0 && (p[0].revents & POLLIN))
                    drain(z->wake_fd);
                pthread_mutex_lock(&z->lock);
                continue;
            }
            /* Calls wait: dial. */
            pthread_mutex_unlock(&z->lock);
            int fd = -1;
            char msg[1024];
            zkc_wire_reader_free(rd);
            rd = NULL;
            int rc = dial_any(z, &fd, &rd, msg, sizeof msg);
            pthread_mutex_lock(&z->lock);
            if (rc != ZKC_OK) {
                if (z->stop)
                    break;
                fail_all(z, rc, msg);
                continue;
            }
            if (z->stop) {
                close(fd);
                break;
            }
            z->fd = fd;
            new_state = z->ever_broken ? ZKC_STATE_RECONNECTED : ZKC_STATE_CONNECTED;
            pthread_mutex_unlock(&z->lock);
            zkc_impl_log(&z->base, ZKC_LOG_INFO, "zkocc: connected to %s", z->addrs_text);
            zkc_impl_conn_set_state(&z->base, new_state);
            pthread_mutex_lock(&z->lock);
            continue;
        }
        /* Connected: send what waits, then wait for bytes. */
        if (flush_out(z) != 0) {
            snprintf(why, sizeof why, "zkocc: send to %s: %s", z->addrs_text, errtext(errno));
            broken(z, ZKC_ECONNECTIONLOSS, why, &state_changed);
        } else {
            int fd = z->fd;
            short ev = POLLIN | (z->out_off < z->out.len ? POLLOUT : 0);
            pthread_mutex_unlock(&z->lock);
            struct pollfd p[3] = {{fd, ev, 0}, {z->wake_fd, POLLIN, 0}, {z->stop_fd, POLLIN, 0}};
            int pr = poll(p, 3, -1);
            if (pr > 0 && (p[1].revents & POLLIN))
                drain(z->wake_fd);
            char msg[512];
            int lost = 0; /* 0, or the code to fail the calls with */
            msg[0] = '\0';
            if (pr > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
                /* Read what is there and turn it into replies. */
                for (;;) {
                    void *space;
                    size_t slen;
                    if (zkc_wire_reader_space(rd, 0, &space, &slen) != ZKC_OK) {
                        lost = ZKC_ENOMEM;
                        snprintf(msg, sizeof msg, "zkocc: out of memory reading a reply");
                        break;
                    }
                    ssize_t r = recv(fd, space, slen, MSG_DONTWAIT);
                    if (r > 0) {
                        zkc_wire_reader_commit(rd, (size_t)r);
                        if ((size_t)r < slen)
                            break;
                        continue;
                    }
                    if (r < 0 && errno == EINTR)
                        continue;
                    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        break;
                    lost = ZKC_ECONNECTIONLOSS;
                    snprintf(msg, sizeof msg, "zkocc: connection to %s %s", z->addrs_text,
                             r == 0 ? "closed by the server" : errtext(errno));
                    break;
                }
                /* Frames, decoded without the lock, matched with it a
                 * batch at a time. */
                bool more = true;
                while (more && lost != ZKC_EPROTO) {
                    zo_reply batch[64];
                    size_t nb = 0;
                    while (nb < 64) {
                        zkc_wire_frame f;
                        int rc = zkc_wire_reader_next(rd, &f);
                        if (rc == ZKC_WIRE_MORE) {
                            more = false;
                            break;
                        }
                        if (rc != ZKC_OK) {
                            lost = ZKC_EPROTO;
                            snprintf(msg, sizeof msg, "zkocc: garbage from the server: %s",
                                     zkc_errmsg());
                            break;
                        }
                        if (decode_reply(&f, &batch[nb], msg, sizeof msg) != ZKC_OK) {
                            lost = ZKC_EPROTO;
                            break;
                        }
                        nb++;
                    }
                    if (nb == 0)
                        break;
                    bool bad = false;
                    pthread_mutex_lock(&z->lock);
                    for (size_t i = 0; i < nb; i++) {
                        zo_op *o = bad ? NULL : ring_find(z, batch[i].seq);
                        if (o == NULL || o->answered) {
                            if (!bad) {
                                lost = ZKC_EPROTO;
                                snprintf(msg, sizeof msg,
                                         "zkocc: reply with Seq %lld from the server matches "
                                         "no call", (long long)batch[i].seq);
                            }
                            bad = true;
                            free(batch[i].errmsg);
                            zkc_wire_node_free(batch[i].node);
                            continue;
                        }
                        o->node = batch[i].node;
                        answer(z, o, batch[i].rc, NULL);
                        o->errmsg = batch[i].errmsg;
                    }
                    pthread_cond_broadcast(&z->cond);
                    pthread_mutex_unlock(&z->lock);
                }
            }
            pthread_mutex_lock(&z->lock);
            if (lost != 0 && z->fd == fd) {
                snprintf(why, sizeof why, "%s", msg);
                broken(z, lost, msg, &state_changed);
            }
        }
        if (state_changed && !z->stop) {
            pthread_mutex_unlock(&z->lock);
            zkc_impl_log(&z->base, ZKC_LOG_WARN, "%s", why);
            zkc_impl_conn_set_state(&z->base, ZKC_STATE_SUSPENDED);
            pthread_mutex_lock(&z->lock);
        }
    }
    if (z->fd >= 0) {
        close(z->fd);
        z->fd = -1;
    }
    pthread_mutex_unlock(&z->lock);
    zkc_wire_reader_free(rd);
    return NULL;
}

/* ---- the completion thread ---- */

static void deliver(zo_op *o)
{
    zkc_result res;
    memset(&res, 0, sizeof res);
    res.rc = o->rc;
    res.op = o->op;
    res.path = o->path;
    res.errmsg = o->errmsg;
    zkc_strings empty = {0, NULL};
    if (o->rc == ZKC_OK && o->node != NULL) {
        res.stat = &o->node->stat;
        if (o->op == ZKC_OP_GET) {
            res.data = o->node->data != NULL ? o->node->data : "";
            res.data_len = o->node->data_len;
        } else if (o->op == ZKC_OP_CHILDREN) {
            res.children = o->node->children != NULL ? o->node->children : &empty;
        }
    } else if (o->op == ZKC_OP_EXISTS && o->rc == ZKC_ENONODE) {
        /* Missing is an answer, not an error (zkocc.h). */
        res.rc = ZKC_OK;
        res.errmsg = NULL;
    }
    o->done(&res, o->ud);
}

static void conn_free(zo_conn *z);

static void *done_main(void *arg)
{
    zo_conn *z = arg;
    pthread_mutex_lock(&z->lock);
    for (;;) {
        /* Take the answered operations at the head, in order. */
        zo_op *batch[64];
        size_t nb = 0;
        while (nb < 64 && z->ring_count > 0 && ring_at(z, 0)->answered) {
            batch[nb++] = ring_at(z, 0);
            z->ring_head = (z->ring_head + 1) & (z->ring_cap - 1);
            z->ring_count--;
        }
        if (nb > 0) {
            pthread_mutex_unlock(&z->lock);
            for (size_t i = 0; i < nb; i++) {
                deliver(batch[i]);
                free_op(batch[i]);
            }
            pthread_mutex_lock(&z->lock);
            continue;
        }
        if (z->stop && z->ring_count == 0)
            break;
        pthread_cond_wait(&z->cond, &z->lock);
    }
    bool self = z->self_close;
    pthread_mutex_unlock(&z->lock);
    if (self)
        conn_free(z);
    return NULL;
}

/* ---- the interface ---- */

static const char *method_of(zkc_op op)
{
    return op == ZKC_OP_CHILDREN ? ZKC_WIRE_METHOD_CHILDREN : ZKC_WIRE_METHOD_GET;
}

static const char *unimplemented_name(zkc_op op)
{
    switch (op) {
    case ZKC_OP_CREATE: return "Create";
    case ZKC_OP_SET: return "Set";
    case ZKC_OP_DELETE: return "Delete";
    case ZKC_OP_GET_ACL: return "ACL";
    case ZKC_OP_SET_ACL: return "SetACL";
    case ZKC_OP_GET: return "GetW";
    case ZKC_OP_CHILDREN: return "ChildrenW";
    case ZKC_OP_EXISTS: return "ExistsW";
    default: return "this operation";
    }
}

static int zo_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *ud)
{
    zo_conn *z = (zo_conn *)c;
    bool readop = req->op == ZKC_OP_GET || req->op == ZKC_OP_CHILDREN ||
                  req->op == ZKC_OP_EXISTS;
    bool supported = readop && (req->flags & ZKC_WATCH) == 0;
    zo_op *o = calloc(1, sizeof *o);
    if (o == NULL || (o->path = strdup(req->path)) == NULL) {
        free(o);
        return ZKC_ENOMEM;
    }
    o->op = req->op;
    o->done = done;
    o->ud = ud;
    if (!supported) {
        char text[200];
        snprintf(text, sizeof text,
                 "zkocc: ZkoccConn doesn't implement %s (%s%s): zkocc serves reads only, "
                 "without watches", unimplemented_name(req->op), zkc_impl_op_name(req->op),
                 readop ? " with a watch" : "");
        if ((o->errmsg = strdup(text)) == NULL) {
            free_op(o);
            return ZKC_ENOMEM;
        }
        o->rc = ZKC_ENOTSUPPORTED;
        o->answered = true;
    }
    pthread_mutex_lock(&z->lock);
    if (z->stop) {
        pthread_mutex_unlock(&z->lock);
        free_op(o);
        return ZKC_ECLOSED;
    }
    o->seq = z->next_seq++;
    size_t before = z->out.len;
    if (supported) {
        const char *m = method_of(req->op);
        int rc = zkc_wire_put_request_header(&z->out, m, strlen(m), o->seq);
        if (rc == ZKC_OK)
            rc = zkc_wire_put_path(&z->out, req->path, strlen(req->path));
        if (rc != ZKC_OK) {
            z->out.len = before;
            pthread_mutex_unlock(&z->lock);
            free_op(o);
            return rc;
        }
    }
    if (ring_push(z, o) != ZKC_OK) {
        z->out.len = before;
        pthread_mutex_unlock(&z->lock);
        free_op(o);
        return ZKC_ENOMEM;
    }
    bool poke = false;
    if (!supported) {
        pthread_cond_broadcast(&z->cond);
    } else {
        z->unanswered++;
        if (z->fd < 0) {
            poke = true; /* the io thread dials */
        } else if (before == z->out_off) {
            /* Nothing was waiting: write now, the rest is the io thread's. */
            if (flush_out(z) != 0 || z->out.len > 0)
                poke = true;
        }
    }
    pthread_mutex_unlock(&z->lock);
    if (poke)
        wake(z->wake_fd);
    return ZKC_OK;
}

static void conn_free(zo_conn *z)
{
    for (size_t i = 0; i < z->naddrs; i++)
        free(z->addrs[i]);
    free(z->addrs);
    free(z->addrs_text);
    free(z->ring);
    zkc_wire_buf_free(&z->out);
    if (z->wake_fd >= 0)
        close(z->wake_fd);
    if (z->stop_fd >= 0)
        close(z->stop_fd);
    pthread_mutex_destroy(&z->lock);
    pthread_cond_destroy(&z->cond);
    zkc_impl_conn_fini(&z->base);
    free(z);
}

static void zo_close(zkc_conn *c)
{
    zo_conn *z = (zo_conn *)c;
    bool self = pthread_equal(pthread_self(), z->done_thread);
    pthread_mutex_lock(&z->lock);
    z->stop = true;
    z->self_close = self;
    fail_all(z, ZKC_ECLOSING, "zkocc: connection closed");
    pthread_mutex_unlock(&z->lock);
    wake(z->stop_fd);
    pthread_join(z->io_thread, NULL);
    if (self) {
        /* We are a completion: the thread finishes the ring after we
         * return, then frees. */
        pthread_detach(z->done_thread);
        return;
    }
    pthread_join(z->done_thread, NULL);
    conn_free(z);
}

static const struct zkc_conn_ops zkocc_ops = {
    .version = 1,
    .name = "zkocc",
    .submit = zo_submit,
    .close = zo_close,
    .session_id = NULL,
    .multi = NULL,
};

int zkc_zkocc_dial(const char *addrs, const zkc_zkocc_opts *opts, zkc_conn **ret_conn)
{
    static const zkc_zkocc_opts defaults = ZKC_ZKOCC_OPTS_INIT;
    if (addrs == NULL || ret_conn == NULL) {
        zkc_impl_set_errmsg("zkocc dial: %s", zkc_strerror(ZKC_EBADARGUMENTS));
        return ZKC_EBADARGUMENTS;
    }
    *ret_conn = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (opts->version != 1) {
        zkc_impl_set_errmsg("zkocc dial: unknown options version %u", opts->version);
        return ZKC_EBADARGUMENTS;
    }
    zo_conn *z = calloc(1, sizeof *z);
    if (z == NULL) {
        zkc_impl_set_errmsg("zkocc dial %s: out of memory", addrs);
        return ZKC_ENOMEM;
    }
    z->fd = -1;
    z->wake_fd = z->stop_fd = -1;
    pthread_mutex_init(&z->lock, NULL);
    pthread_cond_init(&z->cond, NULL);
    z->connect_timeout_ms = opts->connect_timeout_ms == 0 ? ZKC_ZKOCC_DEFAULT_CONNECT_TIMEOUT_MS
                                                          : opts->connect_timeout_ms;
    z->ring_cap = 64;
    z->next_seq = 1;
    char desc[512];
    snprintf(desc, sizeof desc, "zkocc(%s)", addrs);
    ssize_t n = split_addrs(addrs, &z->addrs);
    z->addrs_text = strdup(addrs);
    z->ring = malloc(z->ring_cap * sizeof *z->ring);
    z->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    z->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (n < 0 || z->addrs_text == NULL || z->ring == NULL ||
        zkc_impl_conn_init(&z->base, &zkocc_ops, desc) != ZKC_OK) {
        if (n < 0)
            z->addrs = NULL;
        z->naddrs = n > 0 ? (size_t)n : 0;
        free(z->addrs_text);
        z->addrs_text = NULL;
        for (size_t i = 0; i < z->naddrs; i++)
            free(z->addrs[i]);
        free(z->addrs);
        free(z->ring);
        if (z->wake_fd >= 0)
            close(z->wake_fd);
        if (z->stop_fd >= 0)
            close(z->stop_fd);
        pthread_mutex_destroy(&z->lock);
        pthread_cond_destroy(&z->cond);
        free(z);
        zkc_impl_set_errmsg("zkocc dial %s: out of memory", addrs);
        return ZKC_ENOMEM;
    }
    z->naddrs = (size_t)n;
    if (opts->log_fn != NULL)
        zkc_conn_set_log(&z->base, opts->log_fn, opts->log_ud);
    if (z->wake_fd < 0 || z->stop_fd < 0) {
        zkc_impl_set_errmsg("zkocc dial %s: eventfd: %s", addrs, errtext(errno));
        conn_free(z);
        return ZKC_ECONNECT;
    }
    if (n == 0) {
        zkc_impl_set_errmsg("zkocc connect failed: %s (no address)", addrs);
        conn_free(z);
        return ZKC_ECONNECT;
    }
    int fd = -1;
    zkc_wire_reader *rd = NULL;
    char msg[1024];
    int rc = dial_any(z, &fd, &rd, msg, sizeof msg);
    if (rc != ZKC_OK) {
        zkc_impl_set_errmsg("%s", msg);
        conn_free(z);
        return rc;
    }
    z->fd = fd;
    z->reader = rd; /* the io thread takes it */
    /* Before the threads, so that their changes come after it. */
    zkc_impl_conn_set_state(&z->base, ZKC_STATE_CONNECTED);
    if (pthread_create(&z->io_thread, NULL, io_main, z) != 0) {
        close(fd);
        zkc_wire_reader_free(rd);
        conn_free(z);
        zkc_impl_set_errmsg("zkocc dial %s: cannot start a thread", addrs);
        return ZKC_ENOMEM;
    }
    if (pthread_create(&z->done_thread, NULL, done_main, z) != 0) {
        pthread_mutex_lock(&z->lock);
        z->stop = true;
        pthread_mutex_unlock(&z->lock);
        wake(z->stop_fd);
        pthread_join(z->io_thread, NULL);
        conn_free(z);
        zkc_impl_set_errmsg("zkocc dial %s: cannot start a thread", addrs);
        return ZKC_ENOMEM;
    }
    *ret_conn = &z->base;
    return ZKC_OK;
}
