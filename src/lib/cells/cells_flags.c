/*
 * cells_flags.c: the original's -zk.* flags on a command line: one flag
 * recognised and applied to a zkc_cells_opts (zkc_cells_flag), or all of
 * them taken out of an argument vector (zkc_cells_take_flags), so that
 * every program accepts what zkc_cells_subprocess_flags() hands a child.
 */
#include <stdlib.h>
#include <string.h>

#include "zkcell/cells.h"
#include "zkcell/duration.h"
#include "zkcell/sys/conn_impl.h"

enum { F_LOCAL_CELL, F_LOCAL_ADDRS, F_GLOBAL_ADDRS, F_BASE_TIMEOUT, F_CONNECT_TIMEOUT,
       F_ZKOCC_ADDR, F_ADDRS };

static const char *const flag_names[] = {"local-cell",   "local-addrs",     "global-addrs",
                                         "base-timeout", "connect-timeout", "zkocc-addr",
                                         "addrs"};

int zkc_cells_flag(const char *arg, const char *next, zkc_cells_opts *opts,
                   const char **ret_zkocc_addr, const char **ret_addrs, int *ret_used)
{
    if (ret_used == NULL || opts == NULL)
        return ZKC_EBADARGUMENTS;
    *ret_used = 0;
    if (arg == NULL)
        return ZKC_OK;
    const char *name;
    if (strncmp(arg, "--zk.", 5) == 0)
        name = arg + 5;
    else if (strncmp(arg, "-zk.", 4) == 0)
        name = arg + 4;
    else
        return ZKC_OK;
    const char *eq = strchr(name, '=');
    size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
    int which = -1;
    for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0]; i++)
        if (strlen(flag_names[i]) == nlen && strncmp(flag_names[i], name, nlen) == 0)
            which = (int)i;
    if ((which == F_ZKOCC_ADDR && ret_zkocc_addr == NULL) ||
        (which == F_ADDRS && ret_addrs == NULL))
        which = -1;
    if (which < 0) {
        zkc_impl_set_errmsg("unknown flag -zk.%.*s", (int)(nlen > 64 ? 64 : nlen), name);
        return ZKC_EBADARGUMENTS;
    }
    const char *val;
    int used;
    if (eq != NULL) {
        val = eq + 1;
        used = 1;
    } else if (next != NULL) {
        val = next;
        used = 2;
    } else {
        zkc_impl_set_errmsg("flag -zk.%s needs a value", flag_names[which]);
        return ZKC_EBADARGUMENTS;
    }
    int ms;
    switch (which) {
    case F_LOCAL_CELL:
        if (*val != '\0' && !zkc_cell_name_valid(val, strlen(val))) {
            zkc_impl_set_errmsg("-zk.local-cell: invalid cell name '%.64s'", val);
            return ZKC_EBADARGUMENTS;
        }
        opts->local_cell = *val != '\0' ? val : NULL;
        break;
    case F_LOCAL_ADDRS:
        opts->local_addrs = *val != '\0' ? val : NULL;
        break;
    case F_GLOBAL_ADDRS:
        opts->global_addrs = *val != '\0' ? val : NULL;
        break;
    case F_BASE_TIMEOUT:
    case F_CONNECT_TIMEOUT:
        /* Go's form: only "0" goes without a unit, and 0 is refused. */
        if (zkc_parse_duration_ms(val, 0, &ms) != ZKC_OK || ms <= 0) {
            zkc_impl_set_errmsg("-zk.%s: want a positive duration like 5s or 1m30s, got '%.64s'",
                            flag_names[which], val);
            return ZKC_EBADARGUMENTS;
        }
        if (which == F_BASE_TIMEOUT)
            opts->base_timeout_ms = ms;
        else
            opts->connect_timeout_ms = ms;
        break;
    case F_ZKOCC_ADDR:
        *ret_zkocc_addr = *val != '\0' ? val : NULL;
        break;
    default: /* F_ADDRS */
        *ret_addrs = *val != '\0' ? val : NULL;
        break;
    }
    *ret_used = used;
    return ZKC_OK;
}

int zkc_cells_take_flags(int *argc, char **argv, zkc_cells_opts *opts,
                         const char **ret_zkocc_addr, const char **ret_addrs)
{
    if (argc == NULL || argv == NULL || opts == NULL || *argc < 0)
        return ZKC_EBADARGUMENTS;
    int n = *argc, out = n > 0 ? 1 : 0;
    int i = out;
    while (i < n) {
        if (strcmp(argv[i], "--") == 0)
            break;
        int used = 0;
        int rc = zkc_cells_flag(argv[i], i + 1 < n ? argv[i + 1] : NULL, opts, ret_zkocc_addr,
                                ret_addrs, &used);
        if (rc != ZKC_OK)
            return rc;
        if (used == 0)
            argv[out++] = argv[i++];
        else
            i += used;
    }
    while (i < n)
        argv[out++] = argv[i++];
    if (out < n)
        argv[out] = NULL;
    *argc = out;
    return ZKC_OK;
}
