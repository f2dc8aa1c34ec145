/*
 * main.c: the zk command's front door: global options and dispatch to the
 * subcommands (cmd_*.c); the connection is conn.c's, help texts help.c's,
 * signals signals.c's.
 *
 * Connections, in order of precedence:
 *   --fake FILE.json   an in-memory ZooKeeper loaded from FILE (tests,
 *                      trying things out); --fake-save writes it back
 *   --server H:P,...   one quorum, dialled with a connect timeout
 *   --zkocc H:P,...    zkocc daemons (read-only: cat, ls, stat, ...);
 *                      the original's --zk.zkocc-addr
 *   (default)          the cells of zk_client.json: /zk/<cell>/... goes to
 *                      that cell's quorum (when built with the cell router)
 * Digest credentials come from --auth, else (cells) the cell's entry of
 * zk_auth.json (--auth-config, $ZK_AUTH_CONFIG), else $ZK_AUTH, and are
 * never printed; --auth is wiped from the process's argument list once
 * read.  COMMANDs (elock, qlock) get neither variable unless --pass-auth.
 *
 * Long commands (rm -r, ls -R, dump, restore, zip, unzip) show a progress
 * meter and a summary on stderr when it is a terminal (progress.c):
 * --progress forces them, --quiet turns them off, here or as options of
 * those commands.
 *
 * Exit status: 0, 1 when some path failed, 2 for a usage error.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zkcmd.h"
#include "zkcell/cells.h"

#define DEFAULT_WINDOW 2048
#define DEFAULT_CONNECT_TIMEOUT_MS 10000

typedef struct zk_cmd {
    const char *name;
    zk_cmd_fn fn;
} zk_cmd;

/* The subcommands; their help is help.c's. */
static const zk_cmd commands[] = {
    {"ls", zk_cmd_ls},
    {"cat", zk_cmd_cat},
    {"stat", zk_cmd_stat},
    {"tree", zk_cmd_tree},
    {"find", zk_cmd_find},
    {"du", zk_cmd_du},
    {"touch", zk_cmd_touch},
    {"rm", zk_cmd_rm},
    {"cp", zk_cmd_cp},
    {"edit", zk_cmd_edit},
    {"wait", zk_cmd_wait},
    {"watch", zk_cmd_watch},
    {"chmod", zk_cmd_chmod},
    {"elock", zk_cmd_elock},
    {"qlock", zk_cmd_qlock},
    {"zip", zk_cmd_zip},
    {"unzip", zk_cmd_unzip},
    {"dump", zk_cmd_dump},
    {"restore", zk_cmd_restore},
    {"zkns-set", zk_cmd_zkns_set},
    {"zkns-resolve", zk_cmd_zkns_resolve},
    {"diff", zk_cmd_diff},
    {"repair", zk_cmd_repair},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const zk_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* ---- main ---- */

enum {
    OPT_FAKE = 256,
    OPT_FAKE_SAVE,
    OPT_CONFIG,
    OPT_LOCAL_CELL,
    OPT_CONNECT_TIMEOUT,
    OPT_SESSION_TIMEOUT,
    OPT_LOCK_WAIT,
    OPT_WINDOW,
    OPT_RAW,
    OPT_ESCAPE,
    OPT_VERSION,
    OPT_ZKOCC,
    OPT_USE_ZKOCC,
    OPT_AUTH_CONFIG,
    OPT_PASS_AUTH,
    OPT_QUORUMS
};

/* Whether arg ("-zk.NAME", "--zk.NAME=V") is the -zk. flag name. */
static int zk_flag_is(const char *arg, const char *name)
{
    arg += arg[1] == '-' ? 5 : 4;
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], ZK_WATCHDOG_ARG) == 0)
        return zk_watchdog_main(argc, argv);
    zk_ctx z;
    memset(&z, 0, sizeof z);
    z.cmd = "";
    z.window = DEFAULT_WINDOW;
    z.escape = isatty(STDOUT_FILENO);
    z.lock_wait_ms = -1;
    z.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;

    static const struct option lo[] = {
        {"server", required_argument, NULL, 's'},
        {"fake", required_argument, NULL, OPT_FAKE},
        {"zkocc", required_argument, NULL, OPT_ZKOCC},
        {"use-zkocc", no_argument, NULL, OPT_USE_ZKOCC},
        {"fake-save", required_argument, NULL, OPT_FAKE_SAVE},
        {"auth", required_argument, NULL, 'a'},
        {"auth-config", required_argument, NULL, OPT_AUTH_CONFIG},
        {"quorums", required_argument, NULL, OPT_QUORUMS},
        {"pass-auth", no_argument, NULL, OPT_PASS_AUTH},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"local-cell", required_argument, NULL, OPT_LOCAL_CELL},
        {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
        {"session-timeout", required_argument, NULL, OPT_SESSION_TIMEOUT},
        {"lock-wait-timeout", required_argument, NULL, OPT_LOCK_WAIT},
        {"window", required_argument, NULL, OPT_WINDOW},
        {"raw", no_argument, NULL, OPT_RAW},
        {"escape", no_argument, NULL, OPT_ESCAPE},
        ZK_PROGRESS_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int c, rc;
    for (;;) {
        /* The original's -zk.* flags (what zkc_cells_subprocess_flags()
         * hands a child), single or double dash; getopt stops at the
         * command ("+"), so operands are never taken for them. */
        if (optind < argc && optind > 0) {
            zkc_cells_opts f = ZKC_CELLS_OPTS_INIT;
            int used = 0;
            const char *direct = NULL, *zkocc = NULL;
            if (zkc_cells_flag(argv[optind], optind + 1 < argc ? argv[optind + 1] : NULL, &f,
                               &zkocc, &direct, &used) != ZKC_OK) {
                fprintf(stderr, "zk: %s\nTry 'zk --help'.\n", zkc_errmsg());
                return ZK_EXIT_USAGE;
            }
            if (used > 0) {
                const char *a = argv[optind];
                if (zk_flag_is(a, "local-cell"))
                    z.local_cell = f.local_cell;
                else if (zk_flag_is(a, "local-addrs"))
                    z.local_addrs = f.local_addrs;
                else if (zk_flag_is(a, "global-addrs"))
                    z.global_addrs = f.global_addrs;
                else if (zk_flag_is(a, "base-timeout"))
                    z.session_timeout_ms = f.base_timeout_ms;
                else if (zk_flag_is(a, "connect-timeout"))
                    z.connect_timeout_ms = f.connect_timeout_ms;
                else if (zk_flag_is(a, "zkocc-addr"))
                    z.zkocc_addrs = zkocc;
                else
                    z.server = direct;
                optind += used;
                continue;
            }
        }
        if ((c = getopt_long(argc, argv, "+s:a:h", lo, NULL)) == -1)
            break;
        switch (c) {
        case 's':
            z.server = optarg;
            break;
        case OPT_FAKE:
            z.fake_file = optarg;
            break;
        case OPT_ZKOCC:
            z.zkocc_addrs = optarg;
            break;
        case OPT_USE_ZKOCC:
            z.use_zkocc = true;
            break;
        case OPT_FAKE_SAVE:
            z.fake_save = optarg;
            break;
        case 'a':
            free((char *)z.auth);
            z.auth = strdup(optarg);
            if (z.auth == NULL) {
                /* Not silently without the credentials asked for. */
                fputs("zk: --auth: out of memory\n", stderr);
                return ZK_EXIT_FAIL;
            }
            /* Hide the credentials from ps and /proc. */
            memset(optarg, 'x', strlen(optarg));
            break;
        case OPT_AUTH_CONFIG:
            z.auth_config = optarg;
            break;
        case OPT_PASS_AUTH:
            z.pass_auth = true;
            break;
        case OPT_QUORUMS:
            z.quorums = optarg;
            break;
        case OPT_CONFIG:
            z.config = optarg;
            break;
        case OPT_LOCAL_CELL:
            z.local_cell = optarg;
            break;
        case OPT_CONNECT_TIMEOUT:
            if ((rc = zk_parse_duration_opt(&z, "--connect-timeout", optarg,
                                            &z.connect_timeout_ms)))
                return rc;
            if (z.connect_timeout_ms == 0)
                z.connect_timeout_ms = 1;
            break;
        case OPT_SESSION_TIMEOUT:
            if ((rc = zk_parse_duration_opt(&z, "--session-timeout", optarg,
                                            &z.session_timeout_ms)))
                return rc;
            break;
        case OPT_LOCK_WAIT: {
            int ms;
            if ((rc = zk_parse_duration_opt(&z, "--lock-wait-timeout", optarg, &ms)))
                return rc;
            z.lock_wait_ms = ms;
            break;
        }
        case OPT_WINDOW:
            if (zk_parse_uint(optarg, 1, 65536, &z.window) != 0)
                return zk_usage(&z, "--window: want a number from 1 to 65536, got '%s'",
                                optarg);
            break;
        case OPT_RAW:
            z.escape = 0;
            break;
        case OPT_ESCAPE:
            z.escape = 1;
            break;
        case ZK_OPT_QUIET:
            z.progress_mode = ZK_PROGRESS_OFF;
            break;
        case ZK_OPT_PROGRESS:
            z.progress_mode = ZK_PROGRESS_ON;
            break;
        case 'h':
            zk_help(stdout, NULL);
            return ZK_EXIT_OK;
        case OPT_VERSION:
            printf("zk (zkcell) %s\n", zkc_version());
            return ZK_EXIT_OK;
        default:
            if (optopt != 0 && optopt < 256)
                fprintf(stderr, "zk: unknown option or missing value: -%c\n", optopt);
            else
                fprintf(stderr, "zk: unknown option or missing value: %s\n", argv[optind - 1]);
            fputs("Try 'zk --help'.\n", stderr);
            return ZK_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        zk_help(stderr, NULL);
        return ZK_EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        if (optind + 1 < argc && find_cmd(argv[optind + 1]) == NULL) {
            fprintf(stderr, "zk: unknown command '%s'\nTry 'zk help'.\n", argv[optind + 1]);
            return ZK_EXIT_USAGE;
        }
        zk_help(stdout, optind + 1 < argc ? argv[optind + 1] : NULL);
        return ZK_EXIT_OK;
    }
    const zk_cmd *cmd = find_cmd(name);
    if (cmd == NULL) {
        fprintf(stderr, "zk: unknown command '%s'\nTry 'zk help'.\n", name);
        return ZK_EXIT_USAGE;
    }
    z.cmd = cmd->name;
    z.cancel = zkc_cancel_new();
    if (z.zkocc_addrs != NULL && z.server != NULL) {
        /* The original: mutually exclusive. */
        zk_usage(&z, "--zkocc and --server are mutually exclusive");
        zkc_cancel_free(z.cancel);
        return ZK_EXIT_USAGE;
    }
    if (z.quorums != NULL &&
        (z.server != NULL || z.zkocc_addrs != NULL || z.fake_file != NULL)) {
        zk_usage(&z, "--quorums goes with none of --server, --zkocc, --fake");
        zkc_cancel_free(z.cancel);
        return ZK_EXIT_USAGE;
    }
    if (z.fake_save != NULL && z.fake_file == NULL) {
        zk_usage(&z, "--fake-save needs --fake");
        zkc_cancel_free(z.cancel);
        return ZK_EXIT_USAGE;
    }

    int cargc = argc - optind;
    char **cargv = argv + optind;
    optind = 0; /* glibc: reinitialise for the subcommand's options */
    rc = cmd->fn(&z, cargc, cargv);
    fflush(stdout);
    if (ferror(stdout) && rc == ZK_EXIT_OK) {
        fprintf(stderr, "zk %s: error writing to standard output\n", z.cmd);
        rc = ZK_EXIT_FAIL;
    }
    zk_disconnect(&z);
    if (rc == ZK_EXIT_OK && z.status != ZK_EXIT_OK)
        rc = z.status;
    zk_release_signals();
    zkc_cancel_free(z.cancel);
    free((char *)z.auth);
    return rc;
}
