/*
 * backend - the cleartext server behind every terminator in the benchmark.
 *
 *   backend -p PORT [-a ADDR] [-P PROCS]   serve proto.h until SIGTERM
 *   backend -F                              print a free loopback port, exit
 *
 * One epoll loop per process, level-triggered, nonblocking sockets. With
 * -P N it forks N processes, each with its own SO_REUSEPORT listening socket
 * on the same port (the kernel spreads connections over them), so that
 * together they can hold more connections than one process has descriptors.
 * Replies come from memory; uploads are counted and dropped; connections stay
 * open until the peer closes them.
 */
#define _GNU_SOURCE
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
#include <sys/wait.h>
#include <unistd.h>

#include "proto.h"

struct bconn {
	int fd;
	struct proto_in in;
	uint32_t ev;
};

static char reply[REPLY_LEN];
static char filler[FILLER_LEN];
static char scratch[256 * 1024];
static int epfd;
static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void
die(const char *what)
{
	fprintf(stderr, "backend: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
want(struct bconn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (c->ev != ev && epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->ev = ev;
}

static void
conn_close(struct bconn *c)
{
	close(c->fd);
	free(c);
}

static void
handle(struct bconn *c)
{
	ssize_t r;

	for (;;) {
		const char *out;
		size_t len;

		switch (c->in.state) {
		case ST_REQ:
		case ST_SINK:
			r = read(c->fd, scratch, sizeof(scratch));
			if (r > 0) {
				if (proto_feed(&c->in, scratch, (size_t)r) == -1)
					goto drop;
				continue;
			}
			if (r == -1 && (errno == EAGAIN || errno == EINTR)) {
				want(c, EPOLLIN);
				return;
			}
			goto drop;	/* EOF or error */
		case ST_REPLY:
		case ST_OK:
			out = c->in.state == ST_REPLY ? reply : "OK\n";
			len = c->in.state == ST_REPLY ? REPLY_LEN : 3;
			r = write(c->fd, out + c->in.off, len - c->in.off);
			if (r > 0 && (c->in.off += (size_t)r) == len) {
				c->in.state = ST_REQ;
				continue;
			}
			break;
		case ST_DOWNLOAD:
			if (c->in.left == 0) {
				c->in.state = ST_REQ;
				continue;
			}
			len = c->in.left < FILLER_LEN ? (size_t)c->in.left :
			    FILLER_LEN;
			r = write(c->fd, filler, len);
			if (r > 0) {
				c->in.left -= (uint64_t)r;
				continue;
			}
			break;
		default:
			goto drop;
		}
		/* a write that did not complete */
		if (r == -1 && (errno == EAGAIN || errno == EINTR)) {
			want(c, EPOLLOUT);
			return;
		}
		if (r >= 0)
			continue;
		goto drop;
	}
drop:
	conn_close(c);
}

static int
listen_on(const char *addr, int port, int reuseport)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd, one = 1;

	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "backend: bad address %s\n", addr);
		exit(1);
	}
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("bind");
	if (listen(fd, 4096) == -1)
		die("listen");
	return fd;
}

static void
serve(int lfd)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
	struct epoll_event evs[256];
	int i, n, one = 1;

	if ((epfd = epoll_create1(0)) == -1)
		die("epoll_create1");
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &e) == -1)
		die("epoll_ctl");
	while (!stop) {
		n = epoll_wait(epfd, evs, 256, 500);
		for (i = 0; i < n; i++) {
			struct bconn *c = evs[i].data.ptr;

			if (c != NULL) {
				handle(c);
				continue;
			}
			for (;;) {
				int fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (fd == -1)
					break;	/* EAGAIN, or EMFILE: retry later */
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				    sizeof(one));
				if ((c = calloc(1, sizeof(*c))) == NULL) {
					close(fd);
					continue;
				}
				c->fd = fd;
				c->in.state = ST_REQ;
				c->ev = EPOLLIN;
				e.events = EPOLLIN;
				e.data.ptr = c;
				if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) == -1) {
					close(fd);
					free(c);
				}
			}
		}
	}
	exit(0);
}

/* Bind 127.0.0.1:0, print the port the kernel chose, close. */
static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		die("free port");
	printf("%d\n", ntohs(sin.sin_port));
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	int port = 0, procs = 1, opt, i;
	struct sigaction sa = { .sa_handler = on_term };
	pid_t *kids;

	while ((opt = getopt(argc, argv, "a:p:P:F")) != -1) {
		switch (opt) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'P':
			procs = atoi(optarg);
			break;
		case 'F':
			return free_port();
		default:
			fprintf(stderr, "usage: backend -p PORT [-a ADDR] "
			    "[-P PROCS] | backend -F\n");
			return 2;
		}
	}
	if (port <= 0 || procs < 1) {
		fprintf(stderr, "backend: give -p PORT (and -P >= 1)\n");
		return 2;
	}
	raise_nofile();
	proto_fill_reply(reply);
	memset(filler, '.', sizeof(filler));
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (procs == 1)
		serve(listen_on(addr, port, 0));

	/* Every child binds before the parent returns from the loop below, so
	 * the port is listening (in every child) once the parent is up. */
	if ((kids = calloc((size_t)procs, sizeof(*kids))) == NULL)
		die("calloc");
	for (i = 0; i < procs; i++) {
		int lfd = listen_on(addr, port, 1);

		if ((kids[i] = fork()) == -1)
			die("fork");
		if (kids[i] == 0)
			serve(lfd);
		close(lfd);
	}
	while (!stop) {
		if (waitpid(-1, NULL, 0) > 0) {
			stop = 1;	/* a child died: stop them all */
			break;
		}
	}
	for (i = 0; i < procs; i++)
		kill(kids[i], SIGTERM);
	for (i = 0; i < procs; i++)
		waitpid(kids[i], NULL, 0);
	return 0;
}
