/*
 * The one-process epoll server that backend.c and floor.c are built on:
 * signals, the listening socket, the level-triggered loop and its accepts.
 * Each program defines SRV_NAME (for messages) before including this file
 * and supplies the two callbacks srv_run() takes.
 */
#ifndef BENCH_SRV_H
#define BENCH_SRV_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SRV_NAME
#error "define SRV_NAME before including srv.h"
#endif

static int srv_epfd;
static volatile sig_atomic_t srv_stop;

static void
srv_on_term(int sig)
{
	(void)sig;
	srv_stop = 1;
}

/* Ignore SIGPIPE; SIGTERM and SIGINT end srv_run()'s loop. */
static inline void
srv_signals(void)
{
	struct sigaction sa = { .sa_handler = srv_on_term };

	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

static inline void
srv_die(const char *what)
{
	fprintf(stderr, SRV_NAME ": %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A nonblocking listening socket on addr:port (IPv4), or exit. */
static inline int
srv_listen(const char *addr, int port, int reuseport)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd, one = 1;

	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		fprintf(stderr, SRV_NAME ": bad address %s\n", addr);
		exit(1);
	}
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		srv_die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		srv_die("bind");
	if (listen(fd, 4096) == -1)
		srv_die("listen");
	return fd;
}

/* Watch fd for exactly ev (its current interest is *cur). */
static inline void
srv_want(int fd, uint32_t *cur, uint32_t ev, void *ptr)
{
	struct epoll_event e = { .events = ev, .data.ptr = ptr };

	if (*cur != ev && epoll_ctl(srv_epfd, EPOLL_CTL_MOD, fd, &e) == 0)
		*cur = ev;
}

/* Watch a new connection for input. Returns 0, or -1. */
static inline int
srv_add(int fd, void *ptr)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = ptr };

	return epoll_ctl(srv_epfd, EPOLL_CTL_ADD, fd, &e);
}

/* Until SIGTERM: accept every connection on lfd (TCP_NODELAY) and give it to
 * on_accept (which owns it from then on); give every ready connection's
 * pointer to on_ready. */
static inline void
srv_run(int lfd, void (*on_accept)(int fd), void (*on_ready)(void *ptr))
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
	struct epoll_event evs[256];
	int i, n, fd, one = 1;

	if ((srv_epfd = epoll_create1(0)) == -1)
		srv_die("epoll_create1");
	if (epoll_ctl(srv_epfd, EPOLL_CTL_ADD, lfd, &e) == -1)
		srv_die("epoll_ctl");
	while (!srv_stop) {
		n = epoll_wait(srv_epfd, evs, 256, 500);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr != NULL) {
				on_ready(evs[i].data.ptr);
				continue;
			}
			/* until EAGAIN, or EMFILE: the rest wait for later */
			while ((fd = accept4(lfd, NULL, NULL,
			    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				    sizeof(one));
				on_accept(fd);
			}
		}
	}
}

#endif
