/*
 * zkcell/zkcell.h: the umbrella header.  See each header for its thread
 * safety paragraph; in short, every handle may be used from any thread,
 * completions and watch callbacks run on the connection's own threads.
 */
#ifndef ZKC_ZKCELL_H
#define ZKC_ZKCELL_H

#define ZKC_VERSION_MAJOR 0
#define ZKC_VERSION_MINOR 1
#define ZKC_VERSION_PATCH 0
#define ZKC_VERSION_STRING "0.1.0"

#include "err.h"
#include "watch.h"
#include "conn.h"
#include "path.h"
#include "duration.h"
#include "util.h"
#include "recipes.h"
#include "fake.h"
#include "zk.h"
#include "cells.h"
#include "auth.h"
#include "protected.h"
#include "conncache.h"
#include "meta.h"
#include "global.h"
#include "zkocc_wire.h"
#include "zkocc.h"
#include "zkns.h"

#endif
