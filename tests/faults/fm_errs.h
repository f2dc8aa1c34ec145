/*
 * fm_errs.h: the tally of error codes the fault programs keep per cell
 * (fault_matrix.c, daemon_faults.c): each code seen, with how often.
 * Tests only.
 */
#ifndef FAULTS_FM_ERRS_H
#define FAULTS_FM_ERRS_H

typedef struct errcount {
    int code; /* a zkc error (< 0), or a zk exit status (> 0) */
    long n;
} errcount;

/* Count rc in errs, which holds *nerrs codes of at most max (a code past
 * max is not counted).  The caller holds the lock that guards errs. */
static inline void fm_errs_note(errcount *errs, int *nerrs, int max, int rc)
{
    int i;
    for (i = 0; i < *nerrs && errs[i].code != rc; i++)
        ;
    if (i == *nerrs && *nerrs < max)
        errs[(*nerrs)++] = (errcount){rc, 0};
    if (i < *nerrs)
        errs[i].n++;
}

#endif
