/*
 * fm.h: what the fault matrix's files share (fault_matrix.c: the
 * driver, servers and faults; fm_workers.c: the components run in this
 * process; fm_procs.c: the components run as processes, zk elock/qlock
 * with a COMMAND and the mutex in a child process).
 */
#ifndef FAULTS_FM_H
#define FAULTS_FM_H

#include "fm_errs.h"
#include "history.h"

#include <zkcell/zkcell.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#define NWORKERS     3
#define NQUORUMS     3 /* the global namespace's */
#define SESSION_MS   2000
#define COUNTER_SPAN 8
#define MAXCONNS     (NWORKERS * 8)

enum {
    C_LOCK,      /* the mutex */
    C_ELECTION,  /* leader election */
    C_COUNTER,   /* the cell router with RetryChange */
    C_QLOCK,     /* the queue lock (zkc_queue_lock on a protected entry) */
    C_PIDNODE,   /* the pid node */
    C_GLOBAL,    /* the global namespace (3 quorums) with RetryChange */
    C_ELOCK_CMD, /* zk elock PATH COMMAND, processes */
    C_QLOCK_CMD, /* zk qlock DIR/ COMMAND, processes */
    C_LOCK_PROC, /* the mutex in child processes */
    NCOMP
};

enum {
    F_KILL,        /* the server killed and restarted */
    F_PAUSE,       /* SIGSTOP past the session timeout */
    F_EXPIRE,      /* every session expired from outside */
    F_LOSS,        /* replies lost at random (the fake) */
    F_CLIENT_KILL, /* the process holding the lock killed (SIGKILL) */
    F_MEMBER_KILL, /* a follower of the 3-server ensemble killed, restarted */
    F_LEADER_KILL, /* the ensemble's leader killed, restarted */
    NFAULT
};

extern const char *fm_comp_name[NCOMP];
extern const char *fm_fault_name[NFAULT];

typedef struct cell {
    int comp, fault;
    char prefix[96];
    const char *servers;            /* the address list of this cell's server(s) */
    zkc_fake_tree *trees[NQUORUMS]; /* F_LOSS: the fake's (one, or one per quorum) */
    atomic_int stop;
    zkc_cancel *cancel;
    hist h;
    FILE *log; /* may be NULL */
    pthread_mutex_t lock;
    long attempted, acked, lost, twice, unended, watches, leaked, silent;
    errcount errs[32];
    int nerrs;
    atomic_llong last_ack_us;
    /* Sessions of the workers (for expiry and injection); owner >= 100
     * marks a router or a global connection (the worker's id + 100). */
    zkc_conn *conns[MAXCONNS];
    int conn_owner[MAXCONNS];
    /* Process cells: the ordered history log the holders append to. */
    char holdlog[128];
    pid_t procs[NWORKERS]; /* the child each worker runs now, or 0 (under lock) */
    const char *self_exe, *zk_exe;
} cell;

typedef struct worker {
    cell *c;
    int id;
    /* counter */
    long seq, acked_ops, maybe_ops, dup_seen;
    /* election */
    atomic_int task_stop;
    zkc_cells *cells;            /* the router's configuration */
    zkc_conn *quorums[NQUORUMS]; /* the global connection's */
    pid_t pid;                   /* process cells: the child running */
} worker;

/* fault_matrix.c */
void fm_note_err(cell *c, int rc);
void fm_note_attempt(cell *c);
void fm_note_ack(cell *c);

/* fm_workers.c */
zkc_conn *fm_dial(worker *w);
void fm_hangup(worker *w, zkc_conn *conn);
void fm_reg_conn(cell *c, int owner, zkc_conn *conn);
void *fm_worker_main(void *arg);
/* After the workers stopped: the counters against the acknowledged
 * updates (C_COUNTER, C_GLOBAL). */
void fm_check_counters(cell *c, worker *ws);

/* fm_procs.c */
void *fm_proc_worker_main(void *arg);
/* The pid of the process holding the lock now (its newest "start" in
 * the history log has no "end"), or 0. */
pid_t fm_proc_holder(cell *c);
/* Holds in the log so far. */
long fm_proc_starts(cell *c);
/* After the workers stopped: the history log checked. */
void fm_proc_check(cell *c);
/* The helper modes (argv[1] is --hold-cmd, --hold-lock or --check-holds): 0 when argv
 * is not one, else the process's exit status + 1. */
int fm_proc_helper(int argc, char **argv);

#endif
