/*
 * history.h: the history checker of the fault matrix (issue 13).  Every
 * acquisition and release of a lock or leadership is recorded (client,
 * fencing token, the interval as the holder saw it, and every side
 * effect the holder made while it believed it held), written to a log
 * file, and checked for overlap.  A counter changed with RetryChange is
 * checked against the acknowledged updates.  Tests only; thread-safe.
 */
#ifndef FAULTS_HISTORY_H
#define FAULTS_HISTORY_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

typedef struct hist_hold {
    int client;
    int64_t token;
    int64_t t_acquired; /* monotonic us: acquire returned / leadership began */
    int64_t t_last_act; /* last side effect made while believing it held */
    int64_t t_end;      /* released, or loss/doubt seen */
    int nacts;
} hist_hold;

typedef struct hist {
    pthread_mutex_t lock;
    hist_hold *holds;
    size_t n, cap;
    /* The protected resource: side effects in the order they happened. */
    int64_t max_token; /* newest token that acted */
    long stale_acts;   /* acts by an older token after a newer one acted */
    FILE *log;         /* may be NULL */
} hist;

int64_t hist_now_us(void);
void hist_init(hist *h, FILE *log);
void hist_free(hist *h);
/* A holder begins: returns its index. */
size_t hist_begin(hist *h, int client, int64_t token);
/* A side effect of holder i (call only while believing it held). */
void hist_act(hist *h, size_t i);
/* Holder i stops believing it holds (release, doubt, loss). */
void hist_end(hist *h, size_t i);
/* Pairs of holders whose intervals [acquired, last act] overlap. */
long hist_overlaps(hist *h);

#endif
