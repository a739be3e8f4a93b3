/* floor_relay: the least a proxy can do, as a reference for bench/proxy/compare.
 *
 *   floor_relay PORT WORKERS BACKEND_PORT [BACKEND_PORT ...]
 *
 * WORKERS processes (forked after the listening socket is made, like nginx's workers),
 * each one thread, epoll, level-triggered. Each client connection gets one backend connection
 * (backends taken in turn; nothing is parsed, so there is no key to hash), and every read
 * is forwarded as it is to the peer. Bytes a peer cannot take at once wait in a buffer of
 * the connection, and that side is not read meanwhile (back-pressure). Either side's end
 * or error closes both. On 127.0.0.1 only. What a real proxy costs above this is its
 * overhead; the kernel's TCP path is the floor under every proxy alike.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

enum { buffer_size = 65536, max_backends = 16 };

struct side {
    int fd;
    struct side* peer;
    char* pending; /* bytes read from this side that the peer has not taken yet */
    size_t pending_len, pending_off;
};

static int epfd;
/* Pairs closed during one epoll batch: freed after it, since a later event of the same
 * batch may still point at them (their fd is -1 meanwhile). */
static void* graveyard[512];
static int buried;

static void watch(struct side* s, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.ptr = s};
    if (epoll_ctl(epfd, op, s->fd, &ev) != 0 && op != EPOLL_CTL_DEL) perror("epoll_ctl");
}

static void close_pair(struct side* s) {
    struct side* p = s->peer;
    if (s->fd < 0) return;
    close(s->fd); /* closing removes it from the epoll set */
    close(p->fd);
    s->fd = p->fd = -1;
    free(s->pending);
    free(p->pending);
    s->pending = p->pending = NULL;
    graveyard[buried++] = s < p ? s : p; /* both sides live in one allocation */
}

/* Reads from s and writes to its peer; 0 when the pair was closed. */
static int relay(struct side* s) {
    static char buf[buffer_size];
    ssize_t n = recv(s->fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close_pair(s);
        return 0;
    }
    if (n < 0) return 1;
    ssize_t sent = send(s->peer->fd, buf, (size_t)n, MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN) {
        close_pair(s);
        return 0;
    }
    if (sent < 0) sent = 0;
    if (sent < n) { /* the peer is full: keep the rest, stop reading s, wait for the peer */
        s->pending = malloc((size_t)(n - sent));
        memcpy(s->pending, buf + sent, (size_t)(n - sent));
        s->pending_len = (size_t)(n - sent);
        s->pending_off = 0;
        watch(s, 0, EPOLL_CTL_MOD);
        watch(s->peer, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    }
    return 1;
}

/* The peer of `s` became writable: flush what `s` left pending. */
static void flush(struct side* writer) {
    struct side* s = writer->peer;
    if (s->pending == NULL) return;
    ssize_t sent = send(writer->fd, s->pending + s->pending_off, s->pending_len - s->pending_off, MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN) {
        close_pair(s);
        return;
    }
    if (sent > 0) s->pending_off += (size_t)sent;
    if (s->pending_off == s->pending_len) {
        free(s->pending);
        s->pending = NULL;
        watch(writer, EPOLLIN, EPOLL_CTL_MOD);
        watch(s, EPOLLIN, EPOLL_CTL_MOD);
    }
}

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr*)&a, sizeof a) != 0 || listen(fd, 4096) != 0) {
        perror("listen");
        exit(1);
    }
    return fd;
}

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) { /* blocking: loopback, at accept only */
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int main(int argc, char** argv) {
    if (argc < 4 || argc - 3 > max_backends || atoi(argv[2]) < 1 || atoi(argv[2]) > 64) {
        fprintf(stderr, "usage: floor_relay PORT WORKERS(1..64) BACKEND_PORT [BACKEND_PORT ...] (at most %d)\n",
                max_backends);
        return 2;
    }
    int backends[max_backends], count = argc - 3, next = 0;
    for (int i = 0; i < count; ++i) backends[i] = atoi(argv[i + 3]);
    int lfd = listen_on(atoi(argv[1]));
    for (int w = 1; w < atoi(argv[2]); ++w) /* the parent is worker 0; children die with it */
        if (fork() == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            break;
        }
    next = getpid(); /* workers start their turn at different backends */
    epfd = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epfd, events, 256, -1);
        for (int i = 0; i < n; ++i) {
            struct side* s = events[i].data.ptr;
            if (s == NULL) { /* accept every waiting client */
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    int bfd = connect_to(backends[next++ % count]), one = 1;
                    if (bfd < 0) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    ioctl(bfd, FIONBIO, &one); /* connected blocking; from here it is not */
                    struct side* pair = calloc(2, sizeof *pair);
                    pair[0] = (struct side){.fd = cfd, .peer = &pair[1]};
                    pair[1] = (struct side){.fd = bfd, .peer = &pair[0]};
                    watch(&pair[0], EPOLLIN, EPOLL_CTL_ADD);
                    watch(&pair[1], EPOLLIN, EPOLL_CTL_ADD);
                }
                continue;
            }
            if (s->fd < 0) continue; /* closed earlier in this batch */
            if (events[i].events & EPOLLOUT) {
                flush(s);
                continue; /* its reads wait for the next round */
            }
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) relay(s);
        }
        while (buried > 0) free(graveyard[--buried]);
    }
}
