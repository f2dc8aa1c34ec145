/*
 * progress.c: the progress meter of zk's long commands (rm -r, ls -R,
 * dump, restore, zip, unzip) and the summary they end with.
 *
 * A meter counts nodes done, from any thread: the count is an atomic
 * that the command's work bumps (a relaxed add: all a walk pays per
 * node), and a thread of the meter's own reads it and draws
 *
 *   zk: LABEL: DONE[/TOTAL] nodes VERB[ (P%)], RATE nodes/s[, T left]
 *
 * on stderr: on a terminal drawn at once and redrawn in place (\r) at
 * most 10 times a second, the label shortened to fit the width; elsewhere (--progress to
 * a file or pipe, for logs) as a line of its own every 10 seconds.  A
 * phase (listing, then deleting) restarts the rate.  Anything else zk
 * writes to stderr or to a terminal while a meter runs goes between
 * zk_progress_hold() and zk_progress_release() (out.c's messages do),
 * which clear the line and keep it off meanwhile.  At the end the last
 * frame is drawn (so a recording of the terminal shows the final counts)
 * and cleared, and one summary line stays:
 *
 *   zk: rm -r /x: 100000 nodes deleted in 3.2 s
 *
 * When: stderr is a terminal, and not --quiet; or --progress.  The
 * decision is zk_progress_start()'s; the commands only count.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include "zkcmd.h"

#define REDRAW_MS    100   /* on a terminal */
#define LOG_LINE_MS  10000 /* elsewhere */
#define DEFAULT_COLS 80
#define MAX_LABEL    200

struct zk_progress {
    zk_ctx *z;
    char label[MAX_LABEL + 4];
    bool tty; /* redraw in place; else whole lines */

    /* Written by any thread. */
    _Atomic uint64_t done, total; /* total 0: unknown */
    _Atomic uint64_t base;        /* done when the phase began */
    _Atomic int64_t phase_ms;     /* when the phase began */
    _Atomic(const char *) verb;
    int64_t start_ms;

    pthread_mutex_t mu; /* the line on stderr: drawing, clearing */
    pthread_cond_t cv;
    bool stopping;
    bool thread_started;
    pthread_t thread;
    size_t drawn; /* columns of the frame on screen, 0: none */
};

/* ---- drawing (under mu) ---- */

/* A duration in whole units: "42 s", "3 min 05 s", "2 h 10 min". */
static void fmt_left(double s, char *buf, size_t size)
{
    long t = (long)(s + 0.5);
    if (t < 60)
        snprintf(buf, size, "%ld s", t);
    else if (t < 3600)
        snprintf(buf, size, "%ld min %02ld s", t / 60, t % 60);
    else
        snprintf(buf, size, "%ld h %02ld min", t / 3600, t / 60 % 60);
}

/* Columns a string takes: its bytes less UTF-8 continuation bytes. */
static size_t columns(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Cut s to at most cols columns, at a character's start. */
static void cut_columns(char *s, size_t cols)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80 && n++ == cols) {
            *s = '\0';
            return;
        }
    }
}

/* The terminal's width, or DEFAULT_COLS when it does not say. */
static size_t term_cols(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return DEFAULT_COLS;
}

/* The counts part of a frame: "DONE[/TOTAL] nodes VERB ...". */
static void fmt_counts(zk_progress *p, int64_t now, char *buf, size_t size)
{
    uint64_t done = atomic_load_explicit(&p->done, memory_order_relaxed);
    uint64_t total = atomic_load_explicit(&p->total, memory_order_relaxed);
    uint64_t base = atomic_load_explicit(&p->base, memory_order_relaxed);
    const char *verb = atomic_load_explicit(&p->verb, memory_order_relaxed);
    int64_t since = atomic_load_explicit(&p->phase_ms, memory_order_relaxed);
    double secs = (double)(now - since) / 1000.0;
    double rate = secs > 0 && done > base ? (double)(done - base) / secs : 0;
    size_t n;
    if (total > 0 && done <= total)
        n = (size_t)snprintf(buf, size, "%llu/%llu nodes %s (%d%%)", (unsigned long long)done,
                             (unsigned long long)total, verb,
                             (int)((double)done * 100.0 / (double)total));
    else
        n = (size_t)snprintf(buf, size, "%llu nodes %s", (unsigned long long)done, verb);
    if (n < size && rate > 0)
        n += (size_t)snprintf(buf + n, size - n, ", %.0f nodes/s", rate);
    if (n < size && rate > 0 && total > done) {
        char left[32];
        fmt_left((double)(total - done) / rate, left, sizeof left);
        snprintf(buf + n, size - n, ", %s left", left);
    }
}

/* Erase the frame on screen, if any. */
static void clear_line(zk_progress *p)
{
    if (p->drawn == 0)
        return;
    fprintf(stderr, "\r%*s\r", (int)p->drawn, "");
    fflush(stderr);
    p->drawn = 0;
}

static void draw(zk_progress *p)
{
    char counts[160];
    fmt_counts(p, zkc_impl_now_ms(), counts, sizeof counts);
    if (!p->tty) {
        fprintf(stderr, "zk: %s: %s\n", p->label, counts);
        return;
    }
    /* "zk: " LABEL ": " COUNTS, within the width (one column spare, so
     * the cursor never wraps); a long label keeps its end. */
    size_t cols = term_cols(), fixed = 4 + 2 + columns(counts) + 1;
    const char *label = p->label;
    const char *dots = "";
    size_t room = cols > fixed ? cols - fixed : 0;
    if (columns(label) > room) {
        dots = room >= 3 ? "..." : "";
        size_t want = room >= 3 ? room - 3 : 0;
        while (columns(label) > want)
            label++;
        while (((unsigned char)*label & 0xc0) == 0x80)
            label++;
    }
    char frame[MAX_LABEL + 200];
    snprintf(frame, sizeof frame, "zk: %s%s: %s", dots, label, counts);
    /* A terminal too narrow even for the counts: cut them too. */
    cut_columns(frame, cols > 1 ? cols - 1 : 1);
    size_t w = columns(frame);
    /* Pad over what a longer frame left. */
    fprintf(stderr, "\r%s%*s", frame, w < p->drawn ? (int)(p->drawn - w) : 0, "");
    fflush(stderr);
    p->drawn = w > p->drawn ? w : p->drawn;
}

/* ---- the meter's thread ---- */

static struct timespec deadline_in(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void *meter_main(void *arg)
{
    zk_progress *p = arg;
    /* Signals are for the command's thread (its cancel token). */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    int64_t every = p->tty ? REDRAW_MS : LOG_LINE_MS;
    pthread_mutex_lock(&p->mu);
    int64_t next = zkc_impl_now_ms() + every;
    while (!p->stopping) {
        struct timespec ts = deadline_in(next - zkc_impl_now_ms());
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        if (p->stopping || zkc_impl_now_ms() < next)
            continue;
        draw(p);
        next = zkc_impl_now_ms() + every;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- the interface ---- */

zk_progress *zk_progress_start(zk_ctx *z, const char *what, char *const *args, int nargs,
                               const char *verb, uint64_t total)
{
    if (z->meter != NULL || z->progress_mode == ZK_PROGRESS_OFF)
        return NULL;
    bool tty = isatty(STDERR_FILENO);
    if (z->progress_mode != ZK_PROGRESS_ON && !tty)
        return NULL;
    zk_progress *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->z = z;
    p->tty = tty;
    /* The label: what, then the operands as typed, control characters
     * shown as '?', cut at MAX_LABEL. */
    size_t n = (size_t)snprintf(p->label, MAX_LABEL, "%s", what);
    for (int i = 0; i < nargs && n < MAX_LABEL; i++)
        n += (size_t)snprintf(p->label + n, MAX_LABEL - n, " %s", args[i]);
    if (n >= MAX_LABEL)
        strcpy(p->label + MAX_LABEL - 1, "...");
    for (char *s = p->label; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
    p->start_ms = zkc_impl_now_ms();
    atomic_init(&p->done, 0);
    atomic_init(&p->total, total);
    atomic_init(&p->base, 0);
    atomic_init(&p->phase_ms, p->start_ms);
    atomic_init(&p->verb, verb);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->mu, NULL);
    /* On a terminal the line is there from the start. */
    if (tty)
        draw(p);
    /* Without the thread there is still the summary. */
    p->thread_started = pthread_create(&p->thread, NULL, meter_main, p) == 0;
    z->meter = p;
    return p;
}

void zk_progress_add(zk_progress *p, uint64_t n)
{
    if (p != NULL)
        atomic_fetch_add_explicit(&p->done, n, memory_order_relaxed);
}

void zk_progress_set(zk_progress *p, uint64_t done, uint64_t total)
{
    if (p == NULL)
        return;
    atomic_store_explicit(&p->total, total, memory_order_relaxed);
    atomic_store_explicit(&p->done, done, memory_order_relaxed);
}

void zk_progress_phase(zk_progress *p, const char *verb, uint64_t done, uint64_t total)
{
    if (p == NULL)
        return;
    atomic_store_explicit(&p->phase_ms, zkc_impl_now_ms(), memory_order_relaxed);
    atomic_store_explicit(&p->base, done, memory_order_relaxed);
    atomic_store_explicit(&p->verb, verb, memory_order_relaxed);
    zk_progress_set(p, done, total);
}

void zk_progress_hold(zk_ctx *z)
{
    zk_progress *p = z->meter;
    if (p == NULL || z->meter_held++ > 0)
        return;
    pthread_mutex_lock(&p->mu);
    clear_line(p);
}

void zk_progress_release(zk_ctx *z)
{
    zk_progress *p = z->meter;
    if (p == NULL || z->meter_held == 0 || --z->meter_held > 0)
        return;
    pthread_mutex_unlock(&p->mu);
}

void zk_progress_end(zk_ctx *z, uint64_t count, const char *verb)
{
    zk_progress *p = z->meter;
    if (p == NULL)
        return;
    while (z->meter_held > 0)
        zk_progress_release(z);
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->thread_started)
        pthread_join(p->thread, NULL);
    if (p->tty) {
        draw(p);
        clear_line(p);
    }
    z->meter = NULL;
    double secs = (double)(zkc_impl_now_ms() - p->start_ms) / 1000.0;
    /* After what the command wrote to stdout, when both are a terminal. */
    fflush(stdout);
    fprintf(stderr, "zk: %s: %llu %s %s in %.1f s\n", p->label, (unsigned long long)count,
            count == 1 ? "node" : "nodes", verb, secs);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
