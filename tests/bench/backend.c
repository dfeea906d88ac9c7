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
#include <sys/wait.h>

#include "proto.h"
#define SRV_NAME "backend"
#include "srv.h"

struct bconn {
	int fd;
	struct proto_in in;
	uint32_t ev;
};

static char reply[REPLY_LEN];
static char filler[FILLER_LEN];
static char scratch[256 * 1024];

static void
want(struct bconn *c, uint32_t ev)
{
	srv_want(c->fd, &c->ev, ev, c);
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

static void
on_accept(int fd)
{
	struct bconn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->in.state = ST_REQ;
	c->ev = EPOLLIN;
	if (srv_add(fd, c) == -1) {
		close(fd);
		free(c);
	}
}

static void
on_ready(void *ptr)
{
	handle(ptr);
}

static void
serve(int lfd)
{
	srv_run(lfd, on_accept, on_ready);
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
		srv_die("free port");
	printf("%d\n", ntohs(sin.sin_port));
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	int port = 0, procs = 1, opt, i;
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
	srv_signals();
	if (procs == 1)
		serve(srv_listen(addr, port, 0));

	/* Every child binds before the parent returns from the loop below, so
	 * the port is listening (in every child) once the parent is up. */
	if ((kids = calloc((size_t)procs, sizeof(*kids))) == NULL)
		srv_die("calloc");
	for (i = 0; i < procs; i++) {
		int lfd = srv_listen(addr, port, 1);

		if ((kids[i] = fork()) == -1)
			srv_die("fork");
		if (kids[i] == 0)
			serve(lfd);
		close(lfd);
	}
	while (!srv_stop) {
		if (waitpid(-1, NULL, 0) > 0) {
			srv_stop = 1;	/* a child died: stop them all */
			break;
		}
	}
	for (i = 0; i < procs; i++)
		kill(kids[i], SIGTERM);
	for (i = 0; i < procs; i++)
		waitpid(kids[i], NULL, 0);
	return 0;
}
