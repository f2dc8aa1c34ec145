/*
 * fuzz_cells.c: libFuzzer target for the cell configuration (cells.c).
 *
 * The input is a zk_client.json text, then a NUL byte, then lines: the
 * first is a host name to guess the local cell from, the others are
 * paths.  (Without a NUL, all of it is the configuration and a few fixed
 * paths are used.)  Besides "no crash", it checks what the API promises:
 * a bad configuration is ZKC_EBADCONFIG with a message naming it; every
 * known cell is a valid name whose address can be looked up; the cell of
 * a path points into the path; errors come with messages.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zkcell/zkcell.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        abort();
}

static void lookups(zkc_cells *cells, const char *path)
{
    const char *cell = NULL;
    size_t len = 0;
    int rc = zkc_cell_from_path(path, &cell, &len);
    check(rc == ZKC_OK || rc == ZKC_EBADPATH);
    if (rc == ZKC_OK) {
        check(cell >= path && cell + len <= path + strlen(path));
        check(zkc_cell_name_valid(cell, len));
        check(strncmp(path, "/zk/", 4) == 0);
    } else {
        check(zkc_errmsg()[0] != '\0');
    }
    for (int zkocc = 0; zkocc < 2; zkocc++) {
        char *addrs = NULL;
        int arc = zkc_cells_path_addrs(cells, path, zkocc != 0, &addrs);
        check(arc == ZKC_OK || arc == ZKC_EBADPATH || arc == ZKC_ENOCELL ||
              arc == ZKC_EBADCONFIG || arc == ZKC_ESYSTEMERROR);
        check((arc == ZKC_OK) == (addrs != NULL));
        check(rc == ZKC_OK || arc == ZKC_EBADPATH);
        if (arc == ZKC_OK)
            check(addrs[0] != '\0');
        else
            check(zkc_errmsg()[0] != '\0');
        zkc_free(addrs);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    const uint8_t *nul = memchr(data, '\0', size);
    size_t cfg_len = nul != NULL ? (size_t)(nul - data) : size;
    char *rest = NULL;
    if (nul != NULL) {
        size_t rl = size - cfg_len - 1;
        rest = malloc(rl + 1);
        if (rest == NULL)
            return 0;
        memcpy(rest, nul + 1, rl);
        rest[rl] = '\0';
    }
    /* The first line of the rest is the host name. */
    char *host = rest;
    char *paths = NULL;
    if (rest != NULL) {
        char *nl = strchr(rest, '\n');
        if (nl != NULL) {
            *nl = '\0';
            paths = nl + 1;
        }
    }

    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    /* An empty text would mean strlen: give "" as a one-byte-short
     * buffer instead, which is bad JSON all the same. */
    o.config_text = cfg_len > 0 ? (const char *)data : " ";
    o.config_text_len = cfg_len > 0 ? cfg_len : 1;
    o.hostname = host != NULL ? host : "fuzzhost1";
    o.ignore_env = true;
    if (host != NULL && host[0] == 'G')
        o.global_addrs = "g:1";
    if (host != NULL && host[0] == 'L')
        o.local_addrs = "l:1";
    zkc_cells *cells = NULL;
    int rc = zkc_cells_new(&o, &cells);
    check(rc == ZKC_OK);

    rc = zkc_cells_refresh(cells);
    check(rc == ZKC_OK || rc == ZKC_EBADCONFIG);
    if (rc == ZKC_EBADCONFIG) /* "zk config (text): why" or "...(text):LINE:COL: why" */
        check(strncmp(zkc_errmsg(), "zk config (text):", 17) == 0);

    char *local = NULL;
    int lrc = zkc_cells_local_cell(cells, &local);
    check(lrc == ZKC_OK || lrc == ZKC_ENOCELL);
    if (lrc == ZKC_OK)
        check(zkc_cell_name_valid(local, strlen(local)) && strcmp(local, "local") != 0);
    zkc_free(local);

    for (int zkocc = 0; zkocc < 2; zkocc++) {
        zkc_strings *known = NULL;
        int krc = zkc_cells_known(cells, zkocc != 0, &known);
        check(krc == rc);
        for (size_t i = 0; known != NULL && i < known->count; i++) {
            check(zkc_cell_name_valid(known->v[i], strlen(known->v[i])));
            if (i > 0)
                check(strcmp(known->v[i - 1], known->v[i]) < 0);
            /* Every known cell has an address. */
            char *addrs = NULL;
            int arc = zkc_cells_addrs(cells, known->v[i], zkocc != 0, &addrs);
            check(arc == ZKC_OK && addrs != NULL && addrs[0] != '\0');
            zkc_free(addrs);
        }
        zkc_strings_free(known);
    }

    if (paths != NULL) {
        char *line = paths;
        for (int n = 0; line != NULL && n < 64; n++) {
            char *nl = strchr(line, '\n');
            if (nl != NULL)
                *nl = '\0';
            lookups(cells, line);
            line = nl != NULL ? nl + 1 : NULL;
        }
    } else {
        static const char *const fixed[] = {"/zk/local/x", "/zk/global", "/zk/nyc/a",
                                            "/zk",         "/zk//x",     "/zk/a-b"};
        for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
            lookups(cells, fixed[i]);
    }
    zkc_strings *argv = NULL;
    check(zkc_cells_subprocess_flags(cells, &argv) == ZKC_OK);
    check(argv->count % 2 == 0);
    zkc_strings_free(argv);
    zkc_cells_free(cells);
    free(rest);
    return 0;
}
