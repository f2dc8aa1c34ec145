/*
 * err.c: the error table (zkc_strerror, zkc_err_name) and the calling
 * thread's detailed message (zkc_errmsg).  The codes themselves are in
 * include/zkcell/err.h, generated from the same ZKC_ERRNO_MAP.
 */
#include <stdarg.h>
#include <stdio.h>

#include "zkcell/err.h"
#include "zkcell/sys/conn_impl.h"

/* The one piece of per-thread state: the last failure's message, like
 * libgit2's git_error_last.  Never shared between threads. */
static _Thread_local char errmsg_buf[1024];

const char *zkc_strerror(int code)
{
    switch (code) {
#define ZKC__ERR_MSG(name, value, msg)                                         \
    case (value):                                                              \
        return (msg);
        ZKC_ERRNO_MAP(ZKC__ERR_MSG)
#undef ZKC__ERR_MSG
    }
    return "unknown error";
}

const char *zkc_err_name(int code)
{
    switch (code) {
#define ZKC__ERR_NAME(name, value, msg)                                        \
    case (value):                                                              \
        return #name;
        ZKC_ERRNO_MAP(ZKC__ERR_NAME)
#undef ZKC__ERR_NAME
    }
    return "EUNKNOWN";
}

const char *zkc_errmsg(void)
{
    return errmsg_buf;
}

void zkc_impl_set_errmsg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg_buf, sizeof errmsg_buf, fmt, ap);
    va_end(ap);
}
