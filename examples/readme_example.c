/* The README's example: a node written and read back, then watched.
 * Runs against the in-memory fake here; swap in zkc_zk_dial() for a
 * real server ("127.0.0.1:2181"). */
#include <stdio.h>
#include <zkcell/zkcell.h>

int main(void)
{
    zkc_fake_tree *tree = zkc_fake_tree_new();
    zkc_conn *conn = NULL;
    if (tree == NULL || zkc_fake_open(tree, &conn) != ZKC_OK)
        return 1;

    int rc = zkc_create_recursive(conn, "/zk/nyc/service", "v1", 2, 0, NULL, NULL);
    if (rc != ZKC_OK) {
        fprintf(stderr, "%s\n", zkc_errmsg()); /* names the path that failed */
        return 1;
    }

    char *data = NULL;
    size_t len = 0;
    zkc_stat stat;
    zkc_watch *watch = NULL;
    rc = zkc_get(conn, "/zk/nyc/service", &data, &len, &stat, &watch);
    if (rc != ZKC_OK) {
        fprintf(stderr, "%s\n", zkc_errmsg());
        return 1;
    }
    printf("%.*s (version %d)\n", (int)len, data, stat.version);
    zkc_free(data);

    zkc_set(conn, "/zk/nyc/service", "v2", 2, stat.version, NULL);
    if (zkc_watch_wait(watch, 5000, NULL) == ZKC_OK)
        printf("event %d on %s\n", (int)zkc_watch_event(watch)->type,
               zkc_watch_event(watch)->path);
    zkc_watch_free(watch);
    zkc_conn_close(conn);
    zkc_fake_tree_free(tree);
    return 0;
}
