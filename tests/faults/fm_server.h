/*
 * fm_server.h: the ZooKeeper servers the fault programs run for
 * themselves (fault_matrix.c, daemon_faults.c), and the faults made to
 * them.  A server is started with $ZKCTL on free loopback ports in a
 * folder of its own under /tmp, torn down at exit; a member is killed and
 * restarted with its data, or paused with SIGSTOP and resumed.
 *
 * From the first start on: on TERM, INT or ABRT every server started and
 * every process named with fm_server_kill_also() is killed by its pid
 * (a paused server resumed first) and the signal raised again; at exit a
 * paused server is resumed and the processes named with
 * fm_server_kill_also() are killed and reaped, before the servers'
 * teardown.  Tests only; start and stop from the main thread.
 */
#ifndef FAULTS_FM_SERVER_H
#define FAULTS_FM_SERVER_H

#include <sys/types.h>

/* A standalone server (n 1) or an ensemble (n 3). */
typedef struct fm_server {
    char dir[64];          /* zkctl's folder */
    char addrs[128];       /* "127.0.0.1:PORT[,...]" */
    int n;                 /* members */
    volatile pid_t pid[3]; /* each member's, as zkctl wrote it (0: unknown) */
} fm_server;

/* A loopback TCP port free now (bound with port 0), or -1. */
int fm_free_port(void);

/* Start n servers (1: standalone, tick 500 ms; 3: an ensemble, tick
 * 200 ms) in a new folder made from dir_template (mkdtemp's XXXXXX), on
 * free ports, trying five times.  Returns 0 once member 1's pid is known,
 * else -1. */
int fm_server_start(fm_server *s, const char *dir_template, int n);

/* Kill member (0-based) with zkctl and start it again on its data
 * (retried five times); its pid read again. */
void fm_server_kill_restart(fm_server *s, int member);

/* Pause member 1 with SIGSTOP for ms, then resume it (SIGCONT); resumed
 * on exit or on a signal if the program ends meanwhile. */
void fm_server_pause(fm_server *s, int ms);

/* Kill *pid (when > 0) too on a signal, and at exit (reaped then). */
void fm_server_kill_also(volatile pid_t *pid);

#endif
