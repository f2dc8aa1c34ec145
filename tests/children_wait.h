/*
 * children_wait.h: an asynchronous children call (zkc_achildren with
 * flags) waited for, its answer kept: for the conformance suite and the
 * real-server tests.  Header-only, for tests only; the assertions run on
 * the test's thread, the completion only records.
 */
#ifndef TESTS_CHILDREN_WAIT_H
#define TESTS_CHILDREN_WAIT_H

#include <semaphore.h>
#include <stdbool.h>
#include <string.h>

#include <zkcell/zkcell.h>

typedef struct names_wait {
    sem_t done;
    int rc;
    bool had_stat;
    zkc_strings *names; /* a copy when rc is ZKC_OK; the caller frees it */
    zkc_watch *watch;   /* the caller's */
} names_wait;

static inline void names_done(const zkc_result *res, void *ud)
{
    names_wait *w = ud;
    w->rc = res->rc;
    w->had_stat = res->stat != NULL;
    if (res->rc == ZKC_OK)
        w->names = zkc_strings_dup(res->children);
    w->watch = res->watch;
    sem_post(&w->done);
}

/* zkc_achildren(c, path, flags) to its end, in *w; returns the submit's
 * code (w->rc is the completion's when that is ZKC_OK). */
static inline int names_get(zkc_conn *c, const char *path, unsigned flags, names_wait *w)
{
    memset(w, 0, sizeof *w);
    w->rc = 1;
    sem_init(&w->done, 0, 0);
    int rc = zkc_achildren(c, path, flags, names_done, w);
    if (rc == ZKC_OK)
        while (sem_wait(&w->done) != 0)
            ;
    sem_destroy(&w->done);
    return rc;
}

#endif
