/*
 * help.c: the zk command's help texts: the global usage and each
 * subcommand's synopsis and options (zk --help, zk help COMMAND,
 * zk COMMAND --help), and the option loop of subcommands that take only
 * --help.  Texts only: dispatch is main.c's.
 */
#include <getopt.h>
#include <string.h>

#include "zkcmd.h"

typedef struct zk_cmd_help {
    const char *name;
    const char *synopsis;
    const char *help;
} zk_cmd_help;

/* What elock and qlock promise about their COMMAND. */
#define LOCK_COMMAND_HELP                                                      \
    "COMMAND runs in a process group of its own, with ZKCELL_LOCK_TOKEN (the\n" \
    "lock node's czxid, a fencing token) and ZKCELL_LOCK_PATH (the node) in\n" \
    "its environment.  When the lock is lost (session suspended, expired or\n" \
    "closed, node gone), on SIGINT/SIGTERM, and when COMMAND exits, the whole\n" \
    "group gets SIGTERM, then SIGKILL after the grace period, and always\n"   \
    "before the session could expire on the server; if zk dies, a watchdog\n" \
    "does the same.  A lost lock exits with status 1.\n"                     \
    "  --kill-grace D    SIGTERM to SIGKILL (default 2s), cut short to end\n" \
    "                    10% of the session timeout (0.5s at least) before\n" \
    "                    the session could expire\n"

/* The options of the commands with a progress meter. */
#define PROGRESS_HELP                                                          \
    "  --quiet     neither\n"                                                  \
    "  --progress  both, even when stderr is not a terminal (a line every 10 s)\n"

static const zk_cmd_help commands[] = {
    {"ls", "ls [-l] [-d] [-R] [-f] [--json] [--quiet|--progress] PATH...",
     "List the children of each PATH, sorted.  A node without children is\n"
     "listed as itself.  With several PATHs each listing gets a 'PATH:' header.\n"
     "  -l        long listing: type, size, mtime (local time), name;\n"
     "            type d: has children, n: children and data, e: ephemeral\n"
     "  -d        list the node itself, not its children\n"
     "  -R        recursive: every descendant, as full paths (pipelined)\n"
     "  -f        no error for missing nodes\n"
     "  --json    one JSON object per line: path, name, stat\n"
     "With -R, a progress meter and a summary on stderr when it is a terminal:\n"
     PROGRESS_HELP},
    {"cat", "cat [-l] [-f] [--json] PATH...",
     "Print the data of each PATH.  Data goes out raw to a pipe or file and\n"
     "with non-printable bytes escaped (\\xNN) on a terminal.\n"
     "  -l        print a 'PATH:' header before each node's data\n"
     "  -f        no error for missing nodes\n"
     "  --json    one JSON object per line: path, data (or data_base64), stat\n"},
    {"stat", "stat [-f] [--json] PATH...",
     "Print the stat and the ACL of each PATH.\n"
     "  -f        no error for missing nodes\n"
     "  --json    one JSON object per line: path, stat, acl\n"},
    {"tree", "tree [-L DEPTH] [-s] [--json] PATH...",
     "Draw the subtree under each PATH.\n"
     "  -L DEPTH  descend at most DEPTH levels\n"
     "  -s        show each node's data size\n"
     "  --json    one nested JSON document per PATH: path, name, stat, children\n"},
    {"find", "find [-n GLOB] [-t TYPE] [-0] PATH...",
     "Print the paths of every node under each PATH (PATH included) that\n"
     "matches all the tests given.\n"
     "  -n, --name GLOB   the node's name matches GLOB (*, ?, [...])\n"
     "  -t, --type TYPE   e: ephemeral, d: has children, f: no children\n"
     "  -0                end each path with a NUL byte, for xargs -0\n"},
    {"du", "du [-s] [--json] PATH...",
     "Count nodes and data bytes under each PATH (PATH included): one line\n"
     "per child of PATH, then PATH's total, as NODES BYTES PATH.\n"
     "  -s        only the total of each PATH\n"
     "  --json    one JSON object per line: path, nodes, bytes, ephemerals\n"},
    {"touch", "touch [-c] [-p] [-s] PATH...",
     "Create each PATH empty, or rewrite its data at its current version to\n"
     "bump its mtime.\n"
     "  -c        do not create: a missing node is an error\n"
     "  -p        create missing parents (there is no mkdir: use touch -p)\n"
     "  -s, --sequence\n"
     "            create a new sequential node DIR/_c_GUID-NAME0000000001 for\n"
     "            each PATH DIR/NAME and print it; protected: a reply lost to a\n"
     "            connection loss never makes a second node\n"},
    {"rm", "rm [-r] [-f] [--quiet|--progress] PATH...",
     "Delete each PATH.\n"
     "  -r        delete the whole subtree (pipelined); refused for '/', '/zk',\n"
     "            '/zk/CELL', '/zookeeper' and patterns that could match them\n"
     "  -f        no error for missing nodes\n"
     "With -r, a progress meter (nodes listed, then deleted) and a summary on\n"
     "stderr when it is a terminal:\n"
     PROGRESS_HELP},
    {"cp", "cp SRC DST | cp SRC... DIR/",
     "Copy data between ZooKeeper and files: ZooKeeper to file, file to\n"
     "ZooKeeper, ZooKeeper to ZooKeeper.  A ZooKeeper path is /zk/..., or any\n"
     "path written zk:/path; anything else is a local file ('-' is standard\n"
     "input or output).  With several sources, or a DST ending in '/' (or an\n"
     "existing local folder), each source is copied under DST by its name.\n"
     "Nodes are written with version -1; missing parents are created.\n"},
    {"edit", "edit PATH",
     "Edit the data of PATH with $VISUAL, else $EDITOR, else vi.  The data\n"
     "is written back only if it changed, and only if nobody changed the\n"
     "node meanwhile; on a conflict the edited copy is kept and its name\n"
     "printed.\n"},
    {"wait", "wait [-e] [-t DURATION] [--ready-fd N] PATH | wait [-t DURATION] PATH/",
     "Wait for one change of PATH's data (or its creation, or its deletion)\n"
     "and print 'event: TYPE PATH'.  With a trailing '/', wait for a change of\n"
     "its children.\n"
     "  -e        exit at once if PATH exists\n"
     "  -t, --timeout D   give up after D (250ms, 10s, 2m); exit status 1\n"
     "  --ready-fd N      once the watch is set, write 'ready' to descriptor N\n"
     "                    and close it: a change made after that is seen\n"},
    {"watch", "watch [-n COUNT] [-t DURATION] [--json] [--ready-fd N] PATH...",
     "Watch PATHs and print every event; after a change, the new data.  A\n"
     "deleted node is no longer watched; a missing node is watched for its\n"
     "creation.  Ends on SIGINT, when nothing is left to watch, after COUNT\n"
     "events, or after DURATION.\n"
     "  -n, --count N     exit after N events\n"
     "  -t, --timeout D   exit after D (250ms, 10s, 2m)\n"
     "  --json    one JSON object per event: event, path, data, stat\n"
     "  --ready-fd N      once every PATH is watched, write 'ready' to\n"
     "                    descriptor N and close it\n"},
    {"chmod", "chmod n+PERMS|n-PERMS PATH...",
     "Add (n+) or remove (n-) permissions, from r w d c a (read, write,\n"
     "delete, create, admin), on the first ACL entry of each PATH.  The ACL is\n"
     "written back at the ACL version read, so concurrent changes are not\n"
     "overwritten.\n"},
    {"elock", "elock [--kill-grace D] PATH [COMMAND [ARG...]]",
     "Take an exclusive lock: create PATH as an ephemeral node and hold it\n"
     "until SIGINT or SIGTERM, or, with COMMAND, while COMMAND runs (then exit\n"
     "with its status).  Fails if PATH exists; missing parents are created.\n"
     LOCK_COMMAND_HELP},
    {"qlock", "qlock [-t DURATION] [--kill-grace D] DIR/ [COMMAND [ARG...]]",
     "Queue for a lock on the folder DIR: create a sequential ephemeral entry\n"
     "in it, wait until it is first (watching only the entry before ours),\n"
     "print 'qlock: locked ENTRY', and hold it until SIGINT or SIGTERM, or,\n"
     "with COMMAND, while COMMAND runs.\n"
     "  -t, --timeout D   give up after D (default: --lock-wait-timeout, or\n"
     "                    forever); exit status 1\n"
     LOCK_COMMAND_HELP},
    {"zip", "zip [--quiet|--progress] PATH... OUT.zip",
     "Archive the subtrees at PATHs into OUT.zip: one deflated entry per node,\n"
     "named by its absolute path without the leading '/', with the node's\n"
     "mtime.  The PATH nodes' own data is archived too.  Ephemeral nodes are\n"
     "skipped, and ACLs are not kept: use dump for those.\n"
     "A progress meter and a summary on stderr when it is a terminal:\n"
     PROGRESS_HELP},
    {"unzip", "unzip [--quiet|--progress] IN.zip PREFIX",
     "Write each entry of IN.zip to PREFIX/ENTRY (ENTRY itself when PREFIX\n"
     "is '/'), creating missing nodes (world:anyone, all permissions) and\n"
     "setting the data of existing ones.\n"
     "A progress meter and a summary on stderr when it is a terminal:\n"
     PROGRESS_HELP},
    {"dump", "dump [-e] [-o FILE] [--quiet|--progress] PATH",
     "Write the subtree at PATH as one JSON document: every node's path\n"
     "(absolute), data (\"data\", or \"data_base64\" when it is not\n"
     "UTF-8 text) and ACL.\n"
     "  -e        include ephemeral nodes (marked \"ephemeral\": true)\n"
     "  -o FILE   write to FILE instead of standard output\n"
     "A progress meter and a summary on stderr when it is a terminal:\n"
     PROGRESS_HELP},
    {"restore", "restore [-e] [--no-acl] [--quiet|--progress] FILE [PATH]",
     "Recreate a dump under PATH (default: the dump's own root).  Missing\n"
     "nodes are created, existing ones get the dumped data; ACLs are applied\n"
     "once every node exists, deepest first.\n"
     "  -e        also restore nodes dumped as ephemeral (as persistent nodes;\n"
     "            they are skipped otherwise)\n"
     "  --no-acl  leave ACLs alone (new nodes get world:anyone, all)\n"
     "A progress meter and a summary on stderr when it is a terminal:\n"
     PROGRESS_HELP},
    {"zkns-set",
     "zkns-set [--ttl S] [--version V] [--json] PATH ENTRY... | zkns-set -f FILE PATH",
     "Write a zkns record at PATH (missing parents created), checked first:\n"
     "an A record (IPv4 addresses), AAAA (IPv6), CNAME (one host) or SRV\n"
     "(hosts with named ports).  An ENTRY is an address, a host, or\n"
     "HOST,_PORT=N[,_PORT=N...][,priority=N][,weight=N][,port=N].\n"
     "  -f, --file FILE   the record as JSON instead ('-': standard input)\n"
     "  -t, --ttl S       the record's TTL for zkns-pdns\n"
     "  -v, --version V   write only if the node is at version V\n"
     "  --json    print the path, kind and record written\n"},
    {"zkns-resolve",
     "zkns-resolve [--type T] [--json] --domain D --root PATH NAME | zkns-resolve PATH[:_PORT]",
     "Show how a DNS name under domain D resolves to the zkns record of a node\n"
     "under PATH (labels reversed, a first label _PORT naming a port), and the\n"
     "answers zkns-pdns gives; or, for PATH[:_PORT], what LookupName returns\n"
     "(RFC 2782 order).  Exit status 1 when there is no answer.\n"
     "  -d, --domain D    the zone served (zkns-pdns --zkns-domain)\n"
     "  -r, --root PATH   the root of the names (zkns-pdns --zkns-root)\n"
     "  -t, --type T      A, AAAA, CNAME, SRV or ANY (default)\n"
     "  --json    one JSON object: name, path, port, kind, ttl, answers\n"},
    {"diff", "diff [--quorums Q] [--json] PATH...",
     "List what differs between the quorums of --quorums under each PATH (the\n"
     "node included): one line per difference, its kind (missing, data, acl,\n"
     "ephemeral, version), its path and each quorum's side.  Exit status 0 when\n"
     "they agree, 1 when something differs or a quorum cannot answer.\n"
     "  --quorums Q  'H:P,..;H:P,..;...' (also a global option)\n"
     "  --json       a JSON array of {kind, path, present, detail}\n"},
    {"repair", "repair [--quorums Q] --from N [--dry-run] PATH...",
     "Make the subtree at each PATH on every quorum of --quorums equal to\n"
     "quorum N's (0 is the first): create what is missing, delete what quorum N\n"
     "lacks, set differing data and ACLs, realign versions.  Every write checks\n"
     "the version just read, so a concurrent writer stops it.  Ephemeral nodes\n"
     "cannot be made for another session: they are reported, exit status 1.\n"
     "  --from N     the quorum whose tree is right\n"
     "  --dry-run    print the writes it would make, change nothing\n"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char global_help[] =
    "Usage: zk [OPTIONS] COMMAND [ARGS...]\n"
    "\n"
    "A command line for ZooKeeper cells: /zk/<cell>/... paths go to that cell's\n"
    "quorum (zk_client.json), wildcards work in every path (/zk/*/svc/*).\n"
    "\n"
    "Commands:\n"
    "  ls cat stat tree find du         read\n"
    "  touch rm cp edit chmod           write\n"
    "  wait watch elock qlock           watches and locks\n"
    "  zip unzip dump restore           archives\n"
    "  zkns-set zkns-resolve            zkns service records (DNS)\n"
    "  diff repair                      divergence across --quorums\n"
    "  help [COMMAND]                   this text, or a command's\n"
    "\n"
    "Options:\n"
    "  -s, --server HOST:PORT,...  use this quorum for every path\n"
    "      --quorums 'H:P,..;H:P,..;...'\n"
    "                              one namespace over these quorums: writes go to\n"
    "                              all, reads compare all; divergence names each\n"
    "                              quorum's answer (exit 1); see diff, repair\n"
    "      --zkocc HOST:PORT,...   read through these zkocc daemons (read commands only;\n"
    "                              also --zk.zkocc-addr)\n"
    "      --use-zkocc             route cells through their \"<cell>:_zkocc\" daemons\n"
    "      --fake FILE.json        use an in-memory ZooKeeper loaded from FILE\n"
    "      --fake-save FILE.json   after the command, save the fake tree to FILE\n"
    "  -a, --auth USER:PASSWORD    digest credentials for every cell (default: the\n"
    "                              cell's in zk_auth.json, else $ZK_AUTH)\n"
    "      --auth-config FILE      credentials per cell, {\"CELL\": \"USER:PASSWORD\"}, mode\n"
    "                              0600 or stricter (default $ZK_AUTH_CONFIG)\n"
    "      --pass-auth             let elock/qlock COMMANDs inherit ZK_AUTH and\n"
    "                              ZK_AUTH_CONFIG (default: removed)\n"
    "      --config FILE           cells configuration (default $ZK_CLIENT_CONFIG,\n"
    "                              else /etc/zookeeper/zk_client.json)\n"
    "      --local-cell CELL       the cell of /zk/local (default $ZK_CLIENT_LOCAL_CELL,\n"
    "                              else guessed from the host name)\n"
    "      --connect-timeout D     give up connecting after D (default 10s)\n"
    "      --session-timeout D     session timeout (default 5s)\n"
    "      --lock-wait-timeout D   how long qlock waits (default: forever)\n"
    "      --window N              operations in flight for bulk work (default 2048)\n"
    "      --raw | --escape        write data raw, or escaped, whatever stdout is\n"
    "      --progress              the progress meter and summary of rm -r, ls -R, dump,\n"
    "                              restore, zip and unzip even when stderr is not a\n"
    "                              terminal (a line every 10 s)\n"
    "      --quiet                 no progress meter or summary, even on a terminal\n"
    "  -zk.local-cell CELL, -zk.local-addrs H, -zk.global-addrs H, -zk.base-timeout D,\n"
    "  -zk.connect-timeout D, -zk.zkocc-addr H, -zk.addrs H\n"
    "                              the original's flags (also --zk.NAME[=VALUE])\n"
    "  -h, --help                  this text\n"
    "      --version               print the version\n"
    "\n"
    "Exit status: 0 success, 1 some paths failed, 2 usage error.\n"
    "See zk(1), or 'zk help COMMAND'.\n";

static const zk_cmd_help *find_help(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

void zk_help(FILE *f, const char *cmd)
{
    const zk_cmd_help *c = cmd != NULL ? find_help(cmd) : NULL;
    if (c == NULL) {
        fputs(global_help, f);
        return;
    }
    fprintf(f, "Usage: zk [OPTIONS] %s\n\n%s", c->synopsis, c->help);
}

int zk_getopt_none(zk_ctx *z, int argc, char **argv, const char *optstring)
{
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, optstring, lo, NULL)) != -1) {
        switch (c) {
        ZK_HELP_CASE;
        }
    }
    return -1;
}
