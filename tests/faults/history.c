/*
 * history.c: the fault matrix's history checker (see history.h).
 */
#include "history.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t hist_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void hist_init(hist *h, FILE *log)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    h->log = log;
}

void hist_free(hist *h)
{
    free(h->holds);
    pthread_mutex_destroy(&h->lock);
}

size_t hist_begin(hist *h, int client, int64_t token)
{
    pthread_mutex_lock(&h->lock);
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        hist_hold *nh = realloc(h->holds, cap * sizeof *nh);
        if (nh == NULL)
            abort();
        h->holds = nh;
        h->cap = cap;
    }
    size_t i = h->n++;
    int64_t now = hist_now_us();
    h->holds[i] = (hist_hold){client, token, now, now, 0, 0};
    if (h->log != NULL)
        fprintf(h->log, "%lld acquire client=%d token=%lld\n", (long long)now, client,
                (long long)token);
    pthread_mutex_unlock(&h->lock);
    return i;
}

void hist_act(hist *h, size_t i)
{
    pthread_mutex_lock(&h->lock);
    hist_hold *x = &h->holds[i];
    x->t_last_act = hist_now_us();
    x->nacts++;
    if (x->token < h->max_token) {
        h->stale_acts++;
        if (h->log != NULL)
            fprintf(h->log, "%lld STALE act client=%d token=%lld newest=%lld\n",
                    (long long)x->t_last_act, x->client, (long long)x->token,
                    (long long)h->max_token);
    } else {
        h->max_token = x->token;
    }
    pthread_mutex_unlock(&h->lock);
}

void hist_end(hist *h, size_t i)
{
    pthread_mutex_lock(&h->lock);
    hist_hold *x = &h->holds[i];
    if (x->t_end == 0) {
        x->t_end = hist_now_us();
        if (h->log != NULL)
            fprintf(h->log, "%lld release client=%d token=%lld acts=%d last_act=%lld\n",
                    (long long)x->t_end, x->client, (long long)x->token, x->nacts,
                    (long long)x->t_last_act);
    }
    pthread_mutex_unlock(&h->lock);
}

static int by_start(const void *a, const void *b)
{
    const hist_hold *x = a, *y = b;
    return x->t_acquired < y->t_acquired ? -1 : x->t_acquired > y->t_acquired;
}

long hist_overlaps(hist *h)
{
    pthread_mutex_lock(&h->lock);
    if (h->n > 1)
        qsort(h->holds, h->n, sizeof *h->holds, by_start);
    long bad = 0;
    for (size_t i = 0; i < h->n; i++) {
        /* A holder that never acted claimed nothing; the interval it
         * acted in is [acquired, last act]. */
        if (h->holds[i].nacts == 0)
            continue;
        for (size_t j = i + 1; j < h->n && h->holds[j].t_acquired < h->holds[i].t_last_act;
             j++) {
            if (h->holds[j].nacts == 0)
                continue;
            bad++;
            if (h->log != NULL)
                fprintf(h->log,
                        "OVERLAP client=%d token=%lld [%lld,%lld] and client=%d "
                        "token=%lld [%lld,%lld]\n",
                        h->holds[i].client, (long long)h->holds[i].token,
                        (long long)h->holds[i].t_acquired, (long long)h->holds[i].t_last_act,
                        h->holds[j].client, (long long)h->holds[j].token,
                        (long long)h->holds[j].t_acquired, (long long)h->holds[j].t_last_act);
        }
    }
    pthread_mutex_unlock(&h->lock);
    return bad;
}
