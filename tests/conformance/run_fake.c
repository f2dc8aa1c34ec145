/* The conformance suite against the in-memory fake. */
#include <stdlib.h>

#include "conformance.h"

static int fake_open(void *ud, zkc_conn **ret)
{
    return zkc_fake_open(ud, ret);
}

static int fake_expire(void *ud, zkc_conn *c)
{
    (void)ud;
    return zkc_fake_inject(c, ZKC_FAKE_EXPIRE, 0);
}

static int fake_lose_reply(void *ud, zkc_conn *c)
{
    (void)ud;
    return zkc_fake_inject(c, ZKC_FAKE_LOSS_AFTER, 1);
}

int main(void)
{
    zkc_fake_tree *t = zkc_fake_tree_new();
    if (t == NULL)
        return 1;
    zkc_conformance_backend b = {.name = "fake",
                                 .open = fake_open,
                                 .expire = fake_expire,
                                 .lose_reply = fake_lose_reply,
                                 .ud = t,
                                 .root = "/conformance"};
    int failed = zkc_conformance_run(&b);
    zkc_fake_tree_free(t);
    return failed == 0 ? 0 : 1;
}
