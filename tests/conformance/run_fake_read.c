/* The read part of the conformance suite against the in-memory fake
 * (reader and writer both fake sessions): the suite's own check. */
#include <stdlib.h>

#include "conformance.h"

static int fake_open(void *ud, zkc_conn **ret)
{
    return zkc_fake_open(ud, ret);
}

int main(void)
{
    zkc_fake_tree *t = zkc_fake_tree_new();
    if (t == NULL)
        return 1;
    zkc_conformance_backend b = {.name = "fake-read", .open = fake_open, .ud = t, .root = "/conformance"};
    int failed = zkc_conformance_run_read(&b);
    zkc_fake_tree_free(t);
    return failed == 0 ? 0 : 1;
}
