/*
 * tcp_dial.h: a blocking TCP connection to an IPv4 address, for the
 * programs that load a server over its wire directly (bench/bench_zkocc.c,
 * tests/integration/zkocc_load.c).  Header-only, for tests and
 * benchmarks only.
 */
#ifndef TESTS_TCP_DIAL_H
#define TESTS_TCP_DIAL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connect to host (dotted IPv4) port, with TCP_NODELAY and close-on-exec;
 * the descriptor, or -1. */
static inline int tcp_dial(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

#endif
