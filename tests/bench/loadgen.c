/*
 * loadgen - a TLS load generator for the terminator benchmark.
 *
 * N concurrent connections, nonblocking, one epoll loop per process. Each
 * connection: connect, full TLS handshake (or, in resume mode, a TLS 1.2
 * session-ID resumption of the session it got last time, tickets off), one
 * request of proto.h, read the reply, send close_notify, close; then again.
 *
 *   loadgen -p PORT -m MODE [options]
 *
 *   -a ADDR     server address (127.0.0.1)
 *   -p PORT     server port
 *   -m MODE     handshake  full handshakes, no session offered (default)
 *               resume     TLS 1.2, SSL_OP_NO_TICKET, each connection slot
 *                          offers the session it got last time
 *               download   per transaction, download -s MiB (one connection)
 *               upload     per transaction, upload -s MiB
 *               idle       open -c connections (handshake, one small
 *                          request), print "READY held=N errors=N", hold
 *                          them until SIGUSR1/SIGTERM or -d seconds, then
 *                          send one more request on each ("alive" count)
 *   -V 1.2|1.3  TLS version (1.3; resume is always 1.2)
 *   -c N        concurrent connections (1)
 *   -d SECS     duration (handshake/resume/bulk: stop starting new
 *               transactions; idle: hold time, 0 = until a signal)
 *   -n COUNT    stop after COUNT transactions were started (0 = no limit)
 *   -s MIB      transfer size for download/upload (512)
 *   -r N        at most N handshakes in flight (idle ramp; default -c)
 *   -g SECS     grace for in-flight transactions after -d (10)
 *   -T SECS     idle ramp: give up after SECS without progress (10)
 *   -L SECS     hard limit on the whole run (600)
 *   -P PROCS    fork PROCS processes sharing -c; results are summed
 *   -N NAME     send SNI NAME (default: no SNI)
 *   -q          do not print the first errors on stderr
 *
 * TCP_NODELAY is set on every socket: otherwise a client's CCS+Finished meet
 * Nagle and delayed ACK (40 ms stalls). The client offers one cipher suite
 * per version (TLS_AES_128_GCM_SHA256; ECDHE-{RSA,ECDSA}-AES128-GCM-SHA256)
 * and one group (X25519), so every server does the same work. The result
 * is one line on stdout:
 *
 *   RESULT mode=... ok=N handshakes=N resumed=N errors=N elapsed=S rate=R
 *          bytes=N mibps=R held=N alive=N dropped=N ...
 *
 * "offered" counts the handshakes that offered a session (resume mode);
 * "resumed" those the server resumed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proto.h"

enum mode { M_HANDSHAKE, M_RESUME, M_DOWNLOAD, M_UPLOAD, M_IDLE };
static const char *mode_names[] = { "handshake", "resume", "download",
    "upload", "idle" };

enum state { S_FREE, S_CONNECTING, S_HS, S_SEND, S_RECV, S_IDLE };

struct conn {
	int fd;
	enum state state;
	uint32_t ev;
	SSL *ssl;
	SSL_SESSION *sess;	/* resume: the session to offer next */
	uint64_t left;		/* bytes still to send (upload) / read (down) */
	size_t off;		/* request header bytes sent */
	size_t reqlen;
	int kind;		/* 'S', 'D' or 'U' */
	int offered;		/* a session was offered in this handshake */
	char req[REQ_MAX];
};

struct stats {
	unsigned long long started, ok, handshakes, offered, resumed, errors;
	unsigned long long err_connect, err_handshake, err_io, stalled;
	unsigned long long bytes, held, alive, dropped;
	double elapsed;
};

static struct {
	const char *addr;
	int port;
	enum mode mode;
	int tls13;
	int conns;
	double duration;
	unsigned long long count;
	unsigned long long size;
	int ramp;
	double grace;
	double stall;
	double limit;
	int procs;
	const char *sni;
	int quiet;
} opt = {
	.addr = "127.0.0.1", .mode = M_HANDSHAKE, .tls13 = 1, .conns = 1,
	.size = 512ULL << 20, .grace = 10, .stall = 10, .limit = 600,
	.procs = 1,
};

static SSL_CTX *ctx;
static int epfd;
static struct sockaddr_in server;
static struct conn *conns;
static struct stats st;
static int inflight;		/* connections not yet done with their first
				 * reply (idle) / not free (other modes) */
static int running = 1;		/* may start new transactions */
static int printed_errors;
static double t_start, t_last_done, t_progress;
static volatile sig_atomic_t got_signal;
static char scratch[64 * 1024];
static char body[16384];

static void
on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

static void
fatal(const char *msg)
{
	fprintf(stderr, "loadgen: %s\n", msg);
	exit(2);
}

static void
note_error(struct conn *c, const char *what, int ssl_err)
{
	char buf[256];
	unsigned long e;

	if (opt.quiet || printed_errors >= 5) {
		ERR_clear_error();
		return;
	}
	printed_errors++;
	e = ERR_get_error();
	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "errno %d (%s)", errno,
		    strerror(errno));
	fprintf(stderr, "loadgen[%d]: conn %d: %s failed (ssl error %d): %s\n",
	    (int)getpid(), (int)(c - conns), what, ssl_err, buf);
	ERR_clear_error();
}

static void
want(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (c->ev != ev && epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->ev = ev;
}

static void
conn_release(struct conn *c, int graceful)
{
	if (c->ssl != NULL) {
		if (graceful)
			SSL_shutdown(c->ssl);	/* send close_notify, no wait */
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	c->state = S_FREE;
}

static void conn_start(struct conn *c);

static void
prepare_request(struct conn *c)
{
	c->off = 0;
	switch (opt.mode) {
	case M_DOWNLOAD:
		c->kind = 'D';
		c->left = opt.size;
		c->reqlen = (size_t)snprintf(c->req, sizeof(c->req), "D %llu\n",
		    opt.size);
		break;
	case M_UPLOAD:
		c->kind = 'U';
		c->left = opt.size;
		c->reqlen = (size_t)snprintf(c->req, sizeof(c->req), "U %llu\n",
		    opt.size);
		break;
	default:
		c->kind = 'S';
		c->left = 0;
		c->reqlen = 2;
		memcpy(c->req, "S\n", 2);
		break;
	}
}

static int
may_start(void)
{
	return running && (opt.count == 0 || st.started < opt.count);
}

/* A connection failed: count it, and in the looping modes start over. */
static void
conn_fail(struct conn *c, const char *what, int ssl_err,
    unsigned long long *counter)
{
	int was_idle = c->state == S_IDLE;

	note_error(c, what, ssl_err);
	(*counter)++;
	st.errors++;
	if (c->sess != NULL) {
		SSL_SESSION_free(c->sess);
		c->sess = NULL;
	}
	conn_release(c, 0);
	t_progress = now_s();
	if (opt.mode == M_IDLE) {
		if (!was_idle)
			inflight--;
		return;
	}
	inflight--;
	if (may_start())
		conn_start(c);
}

static void
conn_start(struct conn *c)
{
	struct epoll_event e;
	int one = 1, r;

	st.started++;
	inflight++;
	c->ev = 0;
	c->ssl = NULL;
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		c->state = S_CONNECTING;
		conn_fail(c, "socket", 0, &st.err_connect);
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r = connect(c->fd, (struct sockaddr *)&server, sizeof(server));
	if (r == -1 && errno != EINPROGRESS) {
		c->state = S_CONNECTING;
		conn_fail(c, "connect", 0, &st.err_connect);
		return;
	}
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		fatal("SSL_new failed");
	SSL_set_connect_state(c->ssl);
	if (opt.sni != NULL)
		SSL_set_tlsext_host_name(c->ssl, opt.sni);
	c->offered = opt.mode == M_RESUME && c->sess != NULL &&
	    SSL_set_session(c->ssl, c->sess) == 1;
	c->state = S_CONNECTING;
	c->ev = EPOLLOUT;
	e.events = EPOLLOUT;
	e.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e) == -1)
		fatal("epoll_ctl ADD failed");
}

/* A transaction (handshake + request + reply) completed. */
static void
conn_done(struct conn *c)
{
	double t = now_s();

	st.ok++;
	st.bytes += (c->kind == 'S') ? 0 : opt.size;
	t_last_done = t_progress = t;
	if (opt.mode == M_IDLE)
		return;		/* the caller keeps the connection */
	if (opt.mode == M_RESUME) {
		if (c->sess != NULL)
			SSL_SESSION_free(c->sess);
		c->sess = SSL_get1_session(c->ssl);
	}
	conn_release(c, 1);
	inflight--;
	if (may_start())
		conn_start(c);
}

/* idle mode phases */
static int ping_phase;

/* After an SSL call returned r <= 0: wait for what it wants, or fail the
 * connection as what, counted in *counter. */
static void
ssl_wait(struct conn *c, int r, const char *what,
    unsigned long long *counter)
{
	int err = SSL_get_error(c->ssl, r);

	if (err == SSL_ERROR_WANT_READ)
		want(c, EPOLLIN);
	else if (err == SSL_ERROR_WANT_WRITE)
		want(c, EPOLLOUT);
	else
		conn_fail(c, what, err, counter);
}

static void
conn_step(struct conn *c)
{
	int r, err, so_err;
	socklen_t len;

	for (;;) {
		switch (c->state) {
		case S_CONNECTING:
			so_err = 0;
			len = sizeof(so_err);
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &so_err,
			    &len) == -1 || so_err != 0) {
				errno = so_err;
				conn_fail(c, "connect", 0, &st.err_connect);
				return;
			}
			c->state = S_HS;
			continue;
		case S_HS:
			r = SSL_do_handshake(c->ssl);
			if (r == 1) {
				st.handshakes++;
				st.offered += (unsigned)c->offered;
				if (SSL_session_reused(c->ssl))
					st.resumed++;
				prepare_request(c);
				c->state = S_SEND;
				continue;
			}
			ssl_wait(c, r, "handshake", &st.err_handshake);
			return;
		case S_SEND:
			if (c->off < c->reqlen) {
				r = SSL_write(c->ssl, c->req + c->off,
				    (int)(c->reqlen - c->off));
				if (r > 0) {
					c->off += (size_t)r;
					continue;
				}
			} else if (c->kind == 'U' && c->left > 0) {
				int n = c->left < sizeof(body) ?
				    (int)c->left : (int)sizeof(body);

				r = SSL_write(c->ssl, body, n);
				if (r > 0) {
					c->left -= (uint64_t)r;
					continue;
				}
			} else {
				c->state = S_RECV;
				if (c->kind == 'D')
					c->left = opt.size;
				continue;
			}
			ssl_wait(c, r, "write", &st.err_io);
			return;
		case S_RECV:
			r = SSL_read(c->ssl, scratch, sizeof(scratch));
			if (r > 0) {
				if (c->kind == 'D') {
					c->left -= (uint64_t)r < c->left ?
					    (uint64_t)r : c->left;
					if (c->left > 0)
						continue;
				} else if (scratch[r - 1] != '\n')
					continue;
				/* the reply is complete */
				if (opt.mode != M_IDLE) {
					conn_done(c);
					return;
				}
				conn_done(c);
				if (ping_phase)
					st.alive++;
				else
					st.held++;
				inflight--;
				c->state = S_IDLE;
				want(c, EPOLLIN);
				return;
			}
			ssl_wait(c, r, "read", &st.err_io);
			return;
		case S_IDLE:
			/* nothing is expected on a held connection */
			r = SSL_read(c->ssl, scratch, sizeof(scratch));
			if (r <= 0) {
				err = SSL_get_error(c->ssl, r);
				if (err == SSL_ERROR_WANT_READ)
					return;
			}
			st.dropped++;
			conn_fail(c, "held connection", 0, &st.err_io);
			return;
		case S_FREE:
			return;
		}
	}
}

static void
emit(int fd, const char *line)
{
	size_t len = strlen(line), off = 0;

	while (off < len) {
		ssize_t r = write(fd, line + off, len - off);

		if (r <= 0) {
			if (r == -1 && errno == EINTR)
				continue;
			return;
		}
		off += (size_t)r;
	}
}

static void
format_result(char *buf, size_t len, const struct stats *s)
{
	double el = s->elapsed > 0 ? s->elapsed : 1e-9;

	snprintf(buf, len, "RESULT mode=%s tls=%s procs=%d conns=%d "
	    "started=%llu ok=%llu handshakes=%llu offered=%llu resumed=%llu "
	    "errors=%llu "
	    "err_connect=%llu err_handshake=%llu err_io=%llu stalled=%llu "
	    "bytes=%llu held=%llu alive=%llu dropped=%llu elapsed=%.3f "
	    "rate=%.1f mibps=%.1f\n", mode_names[opt.mode],
	    opt.tls13 ? "1.3" : "1.2", opt.procs, opt.conns, s->started, s->ok,
	    s->handshakes, s->offered, s->resumed, s->errors, s->err_connect,
	    s->err_handshake, s->err_io, s->stalled, s->bytes, s->held,
	    s->alive, s->dropped, s->elapsed, (double)s->handshakes / el,
	    (double)s->bytes / 1048576.0 / el);
}

static void
parse_result(const char *line, struct stats *s)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
#define K(f) { #f "=", offsetof(struct stats, f) }
		K(started), K(ok), K(handshakes), K(offered), K(resumed), K(errors),
		K(err_connect), K(err_handshake), K(err_io), K(stalled),
		K(bytes), K(held), K(alive), K(dropped),
#undef K
	};
	const char *p;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char pat[32];

		snprintf(pat, sizeof(pat), " %s", keys[i].key);
		if ((p = strstr(line, pat)) != NULL)
			*(unsigned long long *)((char *)s + keys[i].off) +=
			    strtoull(p + strlen(pat), NULL, 10);
	}
	if ((p = strstr(line, " elapsed=")) != NULL) {
		double e = strtod(p + 9, NULL);

		if (e > s->elapsed)
			s->elapsed = e;
	}
}

static SSL_CTX *
make_ctx(void)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	int v = (opt.mode == M_RESUME || !opt.tls13) ? TLS1_2_VERSION :
	    TLS1_3_VERSION;

	if (c == NULL)
		fatal("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(c, v);
	SSL_CTX_set_max_proto_version(c, v);
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-AES128-GCM-SHA256:"
	    "ECDHE-RSA-AES128-GCM-SHA256") != 1 ||
	    SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256") != 1 ||
	    SSL_CTX_set1_groups_list(c, "X25519") != 1)
		fatal("cannot set the cipher suites");
	if (opt.mode == M_RESUME) {
		/* Session-ID resumption only: no ticket is asked for. The
		 * sessions are kept by hand, one per connection slot. */
		SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
		SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT |
		    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	} else
		SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	return c;
}

/* One process's run; writes READY (idle) and RESULT lines to out. */
static int
run(int nconns, int out)
{
	struct epoll_event evs[512];
	double now, t_end, hard, hold_end = 0;
	int i, n, phase = 0;	/* idle: 0 ramp, 1 hold, 2 ping */
	char line[1024];
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	ctx = make_ctx();
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1 failed");
	if ((conns = calloc((size_t)nconns, sizeof(*conns))) == NULL)
		fatal("out of memory");
	for (i = 0; i < nconns; i++)
		conns[i].fd = -1;
	memset(body, 'u', sizeof(body));

	t_start = t_progress = t_last_done = now_s();
	t_end = opt.duration > 0 && opt.mode != M_IDLE ? t_start +
	    opt.duration : 0;
	hard = t_start + opt.limit;
	if (opt.mode == M_IDLE) {
		int ramp = opt.ramp > 0 ? opt.ramp : nconns;
		int next = 0;

		for (;;) {
			while (phase == 0 && next < nconns && inflight < ramp)
				conn_start(&conns[next++]);
			now = now_s();
			if (phase == 0 && next == nconns && inflight == 0)
				phase = 1;
			else if (phase == 0 && (now - t_progress > opt.stall ||
			    now > hard || got_signal)) {
				/* give up on what is still in flight */
				for (i = 0; i < next; i++)
					if (conns[i].state != S_IDLE &&
					    conns[i].state != S_FREE) {
						conns[i].state = S_CONNECTING;
						conn_fail(&conns[i], "ramp",
						    0, &st.stalled);
					}
				phase = 1;
			}
			if (phase == 1 && hold_end == 0) {
				snprintf(line, sizeof(line), "READY held=%llu "
				    "errors=%llu elapsed=%.3f\n", st.held,
				    st.errors, now - t_start);
				emit(out, line);
				hold_end = opt.duration > 0 ? now +
				    opt.duration : hard;
				got_signal = 0;
			}
			if (phase == 1 && (got_signal || now > hold_end ||
			    now > hard)) {
				/* ping every held connection once */
				phase = 2;
				ping_phase = 1;
				t_progress = now;
				for (i = 0; i < nconns; i++)
					if (conns[i].state == S_IDLE) {
						inflight++;
						prepare_request(&conns[i]);
						conns[i].state = S_SEND;
						conn_step(&conns[i]);
					}
			}
			if (phase == 2 && (inflight == 0 ||
			    now - t_progress > opt.stall || now > hard + 30))
				break;
			n = epoll_wait(epfd, evs, 512, 100);
			for (i = 0; i < n; i++)
				conn_step(evs[i].data.ptr);
		}
		st.elapsed = t_last_done - t_start;
		for (i = 0; i < nconns; i++)
			if (conns[i].state != S_FREE)
				conn_release(&conns[i], 1);
	} else {
		for (i = 0; i < nconns && may_start(); i++)
			conn_start(&conns[i]);
		for (;;) {
			now = now_s();
			if (running && ((t_end > 0 && now >= t_end) ||
			    got_signal))
				running = 0;
			if (inflight == 0)
				break;
			if (now > hard || (!running && t_end > 0 &&
			    now > t_end + opt.grace))
				break;
			n = epoll_wait(epfd, evs, 512, 100);
			for (i = 0; i < n; i++)
				conn_step(evs[i].data.ptr);
		}
		for (i = 0; i < nconns; i++)
			if (conns[i].state != S_FREE) {
				st.stalled++;
				st.errors++;
				conn_release(&conns[i], 0);
			}
		st.elapsed = t_last_done - t_start;
	}
	format_result(line, sizeof(line), &st);
	emit(out, line);
	return 0;
}

/* -P: fork the processes, pass the signal on, sum their results. */
static int
run_procs(void)
{
	struct pollfd *pfd;
	pid_t *pids;
	char **bufs;
	size_t *lens;
	int i, open_pipes, ready = 0, forwarded = 0;
	unsigned long long ready_held = 0, ready_err = 0;
	double ready_el = 0;
	struct stats sum = { 0 };
	char line[1024];
	struct sigaction sa = { .sa_handler = on_signal };
	double hard = now_s() + opt.limit + 60;

	pfd = calloc((size_t)opt.procs, sizeof(*pfd));
	pids = calloc((size_t)opt.procs, sizeof(*pids));
	bufs = calloc((size_t)opt.procs, sizeof(*bufs));
	lens = calloc((size_t)opt.procs, sizeof(*lens));
	if (!pfd || !pids || !bufs || !lens)
		fatal("out of memory");
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (i = 0; i < opt.procs; i++) {
		int p[2];
		int share = opt.conns / opt.procs +
		    (i < opt.conns % opt.procs ? 1 : 0);

		if (pipe(p) == -1)
			fatal("pipe failed");
		if ((pids[i] = fork()) == -1)
			fatal("fork failed");
		if (pids[i] == 0) {
			close(p[0]);
			if (opt.count > 0)
				opt.count = opt.count / (unsigned)opt.procs +
				    ((unsigned)i < opt.count %
				    (unsigned)opt.procs ? 1 : 0);
			exit(run(share, p[1]));
		}
		close(p[1]);
		pfd[i].fd = p[0];
		pfd[i].events = POLLIN;
		if ((bufs[i] = malloc(4096)) == NULL)
			fatal("out of memory");
	}
	open_pipes = opt.procs;
	while (open_pipes > 0) {
		if (got_signal && !forwarded) {
			for (i = 0; i < opt.procs; i++)
				kill(pids[i], SIGUSR1);
			forwarded = 1;
		}
		if (now_s() > hard) {
			for (i = 0; i < opt.procs; i++)
				kill(pids[i], SIGKILL);
			break;
		}
		if (poll(pfd, (nfds_t)opt.procs, 200) <= 0)
			continue;
		for (i = 0; i < opt.procs; i++) {
			ssize_t r;
			char *nl;

			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN |
			    POLLHUP | POLLERR)))
				continue;
			r = read(pfd[i].fd, bufs[i] + lens[i],
			    4095 - lens[i]);
			if (r <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_pipes--;
				continue;
			}
			lens[i] += (size_t)r;
			bufs[i][lens[i]] = '\0';
			while ((nl = strchr(bufs[i], '\n')) != NULL) {
				*nl = '\0';
				if (strncmp(bufs[i], "READY ", 6) == 0) {
					const char *p;

					if ((p = strstr(bufs[i], "held=")))
						ready_held += strtoull(p + 5,
						    NULL, 10);
					if ((p = strstr(bufs[i], "errors=")))
						ready_err += strtoull(p + 7,
						    NULL, 10);
					if ((p = strstr(bufs[i], "elapsed=")) &&
					    strtod(p + 8, NULL) > ready_el)
						ready_el = strtod(p + 8, NULL);
					if (++ready == opt.procs) {
						printf("READY held=%llu "
						    "errors=%llu elapsed=%.3f\n",
						    ready_held, ready_err,
						    ready_el);
						fflush(stdout);
					}
				} else if (strncmp(bufs[i], "RESULT ", 7) == 0)
					parse_result(bufs[i], &sum);
				lens[i] -= (size_t)(nl + 1 - bufs[i]);
				memmove(bufs[i], nl + 1, lens[i] + 1);
			}
		}
	}
	for (i = 0; i < opt.procs; i++)
		waitpid(pids[i], NULL, 0);
	format_result(line, sizeof(line), &sum);
	fputs(line, stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "a:p:m:V:c:d:n:s:r:g:T:L:P:N:q")) != -1) {
		switch (c) {
		case 'a':
			opt.addr = optarg;
			break;
		case 'p':
			opt.port = atoi(optarg);
			break;
		case 'm':
			for (opt.mode = 0; opt.mode <= M_IDLE; opt.mode++)
				if (strcmp(optarg, mode_names[opt.mode]) == 0)
					break;
			if (opt.mode > M_IDLE)
				fatal("unknown mode");
			break;
		case 'V':
			if (strcmp(optarg, "1.2") == 0)
				opt.tls13 = 0;
			else if (strcmp(optarg, "1.3") == 0)
				opt.tls13 = 1;
			else
				fatal("-V takes 1.2 or 1.3");
			break;
		case 'c':
			opt.conns = atoi(optarg);
			break;
		case 'd':
			opt.duration = atof(optarg);
			break;
		case 'n':
			opt.count = strtoull(optarg, NULL, 10);
			break;
		case 's':
			opt.size = strtoull(optarg, NULL, 10) << 20;
			break;
		case 'r':
			opt.ramp = atoi(optarg);
			break;
		case 'g':
			opt.grace = atof(optarg);
			break;
		case 'T':
			opt.stall = atof(optarg);
			break;
		case 'L':
			opt.limit = atof(optarg);
			break;
		case 'P':
			opt.procs = atoi(optarg);
			break;
		case 'N':
			opt.sni = optarg;
			break;
		case 'q':
			opt.quiet = 1;
			break;
		default:
			fprintf(stderr, "usage: loadgen -p PORT [-m handshake|"
			    "resume|download|upload|idle] [-V 1.2|1.3] [-c N] "
			    "[-d SECS] [-n COUNT] [-s MIB] [-r N] [-g SECS] "
			    "[-T SECS] [-L SECS] [-P PROCS] [-N SNI] [-q]\n");
			return 2;
		}
	}
	if (opt.port <= 0 || opt.conns < 1 || opt.procs < 1 ||
	    opt.procs > opt.conns)
		fatal("give -p PORT, -c >= 1 and 1 <= -P <= -c");
	if (opt.mode == M_RESUME)
		opt.tls13 = 0;
	server.sin_family = AF_INET;
	server.sin_port = htons((uint16_t)opt.port);
	if (inet_pton(AF_INET, opt.addr, &server.sin_addr) != 1)
		fatal("bad address");
	raise_nofile();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (opt.procs > 1)
		return run_procs();
	return run(opt.conns, STDOUT_FILENO);
}
