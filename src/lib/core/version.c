/*
 * version.c: the library's version string.
 */
#include "zkcell/zkcell.h"

const char *zkc_version(void)
{
    return ZKC_VERSION_STRING;
}
