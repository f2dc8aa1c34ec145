/*
 * dial_default.h: the default dial of the connection cache, inside the
 * library only.  conn_cache.c takes a dial callback and knows no backend;
 * when its caller gives none, it uses this one (dial_default.c), with a
 * zkc__dial_defaults the cache keeps as the callback's userdata.
 */
#ifndef ZKC_DIAL_DEFAULT_H
#define ZKC_DIAL_DEFAULT_H

#include <stdbool.h>

#include "zkcell/auth.h"
#include "zkcell/cells.h"
#include "zkcell/conn.h"

/* What the default dial needs to know, all borrowed from the cache's
 * caller. */
typedef struct zkc__dial_defaults {
    zkc_cells *cells;            /* the timeouts */
    bool zkocc;                  /* dial zkocc daemons, not ZooKeeper */
    const zkc_auth_config *auth; /* digest credentials per cell, or NULL */
} zkc__dial_defaults;

/* A zkc_dial_fn; userdata is a const zkc__dial_defaults *. */
int zkc__dial_default(const char *cell, const char *addrs, void *userdata, zkc_conn **ret_conn);

#endif
