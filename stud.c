/* stud.c - the daemon: main(), the supervising parent, and the workers that
 * accept TLS connections and pump their cleartext to the backend through
 * ring buffers, one backend connection per client connection. */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "configuration.h"
#include "daemon.h"
#include "log.h"
#include "proxy.h"
#include "ringbuffer.h"
#include "tls.h"

#define SLOT_SIZE	16384	/* one TLS record of plaintext */
#define RING_SLOTS	4	/* per direction: 64 KiB in flight at most */
#define ACCEPT_BATCH	32	/* connections taken per readiness event */
#define PUMP_PASSES	8	/* pump passes before yielding to the loop */
#define ACCEPT_PAUSE	0.1	/* seconds without accepting after EMFILE */
#define RESPAWN_MAX	10.0	/* longest wait before replacing a worker */
#define QUICK_DEATH	1.0	/* a worker dying younger than this backs off */

#ifdef USE_SHARED_CACHE
#define STUD_FEATURES ", shared session cache"
#else
#define STUD_FEATURES ""
#endif

/* ---------------------------------------------------------------------
 * Process-wide state, set up by the parent before workers fork.
 */

struct listener {
	int			fd;
	ev_io			w;
};

static struct stud_config	 cfg;
static SSL_CTX			*ssl_ctx;
static struct listener		 listener;
static struct sockaddr_storage	 backend_addr;
static socklen_t		 backend_addrlen;
static uid_t			 run_uid;
static gid_t			 run_gid;
static int			 drop_uid, drop_gid;
static int			 parent_pipe[2] = { -1, -1 };

/* ---------------------------------------------------------------------
 * Worker: connections.
 */

enum conn_state { CS_PROXYHDR, CS_HANDSHAKE, CS_CONNECTING, CS_PROXY };

struct conn {
	int		 cfd;		/* client socket */
	int		 bfd;		/* backend socket, -1 until connecting */
	SSL		*ssl;
	ev_io		 cw;		/* client socket watcher */
	ev_io		 bw;		/* backend socket watcher */
	ev_timer	 tw;		/* the timeout of the current state */
	ev_tstamp	 last;		/* last progress, for --idle-timeout */
	struct ring	 up;		/* client -> backend */
	struct ring	 down;		/* backend -> client */
	unsigned	 state:2;
	unsigned	 c_can_r:1;	/* client not known to be drained */
	unsigned	 c_can_w:1;	/* client not known to be full */
	unsigned	 b_can_r:1;
	unsigned	 b_can_w:1;
	unsigned	 hs_wants_r:1;	/* handshake waits for readability */
	unsigned	 hs_wants_w:1;
	unsigned	 rd_wants_w:1;	/* SSL_read waits for writability */
	unsigned	 wr_wants_r:1;	/* SSL_write waits for readability */
	unsigned	 c_eof:1;	/* the client will send nothing more */
	unsigned	 b_eof:1;	/* the backend will send nothing more */
	unsigned	 b_shut:1;	/* backend write side shut down */
	unsigned	 c_shut:1;	/* close_notify sent to the client */
	uint16_t	 hdr_len;	/* PROXY header bytes read so far */
};

static struct ring_pool	 pool;
static unsigned long	 nconns;
static int		 draining;
static int		 accept_full;	/* paused at --max-connections */
static ev_timer		 accept_pause_timer;
static ev_timer		 drain_timer;
static ev_io		 parent_watch;
static ev_signal	 term_watch;

static void	conn_pump(struct conn *c);

static void
conn_free(struct conn *c)
{
	ev_io_stop(EV_DEFAULT, &c->cw);
	ev_io_stop(EV_DEFAULT, &c->bw);
	ev_timer_stop(EV_DEFAULT, &c->tw);
	ring_release(&c->up, &pool);
	ring_release(&c->down, &pool);
	tls_session_free(c->ssl, c->state >= CS_CONNECTING);
	close(c->cfd);
	if (c->bfd != -1)
		close(c->bfd);
	free(c);
	nconns--;
	if (draining && nconns == 0)
		ev_break(EV_DEFAULT, EVBREAK_ALL);
	if (accept_full && !draining) {
		accept_full = 0;
		ev_io_start(EV_DEFAULT, &listener.w);
	}
}

/* Arm the connection's timer for secs (0 = none). */
static void
conn_timer(struct conn *c, long secs)
{
	ev_timer_stop(EV_DEFAULT, &c->tw);
	if (secs <= 0)
		return;
	ev_timer_set(&c->tw, (ev_tstamp)secs, 0.);
	ev_timer_start(EV_DEFAULT, &c->tw);
}

static void
timeout_cb(EV_P_ ev_timer *w, int revents)
{
	struct conn *c = w->data;
	ev_tstamp left;

	(void)revents;
	if (c->state == CS_PROXY) {
		left = c->last + (ev_tstamp)cfg.idle_timeout - ev_now(EV_A);
		if (left > 0.001) {
			ev_timer_set(w, left, 0.);
			ev_timer_start(EV_A_ w);
			return;
		}
	}
	conn_free(c);
}

/* Set one watcher to exactly the events wanted. */
static inline void
watch(ev_io *w, int fd, int events)
{
	if (w->fd == fd && (w->events & (EV_READ | EV_WRITE)) == events &&
	    (events == 0) == !ev_is_active(w))
		return;
	ev_io_stop(EV_DEFAULT, w);
	ev_io_set(w, fd, events);
	if (events != 0)
		ev_io_start(EV_DEFAULT, w);
}

static void
conn_watch(struct conn *c)
{
	int ce = 0, be = 0;

	if (c->state == CS_PROXYHDR)
		ce = EV_READ;
	else if (c->state == CS_HANDSHAKE) {
		ce = (c->hs_wants_r ? EV_READ : 0) |
		    (c->hs_wants_w ? EV_WRITE : 0);
	} else {
		if ((!c->c_eof && !ring_is_full(&c->up)) || c->wr_wants_r)
			ce |= EV_READ;
		if (!ring_is_empty(&c->down) || c->rd_wants_w ||
		    (c->b_eof && !c->c_shut))
			ce |= EV_WRITE;
	}
	if (c->state == CS_CONNECTING)
		be = EV_WRITE;
	else if (c->state == CS_PROXY) {
		if (!c->b_eof && !ring_is_full(&c->down))
			be |= EV_READ;
		if (!ring_is_empty(&c->up))
			be |= EV_WRITE;
	}
	watch(&c->cw, c->cfd, ce);
	if (c->bfd != -1)
		watch(&c->bw, c->bfd, be);
}

/* Queue the --write-ip or --write-proxy header ahead of the client's data.
 * Returns 0, or -1. */
static int
conn_client_header(struct conn *c)
{
	struct sockaddr_storage peer, local;
	socklen_t plen = sizeof(peer), llen = sizeof(local);
	char *p;
	int n;

	if (!cfg.write_ip && !cfg.write_proxy)
		return 0;
	if (getpeername(c->cfd, (struct sockaddr *)&peer, &plen) == -1 ||
	    getsockname(c->cfd, (struct sockaddr *)&local, &llen) == -1 ||
	    (p = ring_write_ptr(&c->up, &pool)) == NULL)
		return -1;
	if (cfg.write_ip)
		n = proxy_write_ip((unsigned char *)p,
		    (struct sockaddr *)&peer);
	else
		n = proxy_write_v1(p, (struct sockaddr *)&peer,
		    (struct sockaddr *)&local);
	if (n <= 0) {
		ring_write_cancel(&c->up, &pool);
		return -1;
	}
	ring_write_commit(&c->up, (size_t)n);
	return 0;
}

/* Start the nonblocking connect to the backend. Returns 0, or -1. */
static int
conn_connect(struct conn *c)
{
	int one = 1;

	if (conn_client_header(c) == -1)
		return -1;

	c->bfd = socket(backend_addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->bfd == -1) {
		log_warn("cannot create backend socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(c->bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->bfd, (struct sockaddr *)&backend_addr,
	    backend_addrlen) == -1 && errno != EINPROGRESS) {
		log_info("cannot connect to backend: %s", strerror(errno));
		return -1;
	}
	c->state = CS_CONNECTING;
	conn_timer(c, cfg.backend_connect_timeout);
	return 0;
}

/* Read the balancer's PROXY header (--proxy-proxy) into the first up-ring
 * slot, byte-exactly so that the TLS bytes after it stay in the socket.
 * Returns 1 when it is complete, 0 while waiting, -1 to close. */
static int
conn_proxy_header(struct conn *c)
{
	unsigned char *p = (unsigned char *)ring_write_ptr(&c->up, &pool);
	ssize_t n;
	long r;

	if (p == NULL)
		return -1;
	n = recv(c->cfd, p + c->hdr_len, SLOT_SIZE - c->hdr_len, MSG_PEEK);
	if (n <= 0) {
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			c->c_can_r = 0;
			return 0;
		}
		return -1;
	}
	if ((r = proxy_parse(p, c->hdr_len + (size_t)n, SLOT_SIZE)) < 0) {
		log_info("malformed PROXY header from a client; closing it");
		return -1;
	}
	if (r > 0)
		n = r - c->hdr_len;
	else
		c->c_can_r = 0;
	if (recv(c->cfd, p + c->hdr_len, (size_t)n, 0) != n)
		return -1;
	c->hdr_len += (uint16_t)n;
	if (r == 0)
		return 0;
	ring_write_commit(&c->up, c->hdr_len);
	c->state = CS_HANDSHAKE;
	return 1;
}

/* Drive the handshake. Returns 1 when done, 0 while waiting, -1 on error. */
static int
conn_handshake(struct conn *c)
{
	int r = SSL_do_handshake(c->ssl);

	c->hs_wants_r = c->hs_wants_w = 0;
	if (r == 1) {
		ERR_clear_error();
		return conn_connect(c) == 0 ? 1 : -1;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		c->hs_wants_r = 1;
		c->c_can_r = 0;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->hs_wants_w = 1;
		c->c_can_w = 0;
		return 0;
	default:
		ERR_clear_error();
		return -1;
	}
}

/* Move decrypted client data into the up ring. Returns progress or -1. */
static int
pump_client_read(struct conn *c)
{
	int n, progress = 0;
	char *p;

	while (!c->c_eof && c->c_can_r && (!c->rd_wants_w || c->c_can_w) &&
	    (p = ring_write_ptr(&c->up, &pool)) != NULL) {
		n = SSL_read(c->ssl, p, SLOT_SIZE);
		if (n > 0) {
			ring_write_commit(&c->up, (size_t)n);
			c->rd_wants_w = 0;
			progress = 1;
			continue;
		}
		ring_write_cancel(&c->up, &pool);
		switch (SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_READ:
			c->c_can_r = 0;
			c->rd_wants_w = 0;
			break;
		case SSL_ERROR_WANT_WRITE:
			c->c_can_w = 0;
			c->rd_wants_w = 1;
			break;
		case SSL_ERROR_ZERO_RETURN:
			c->c_eof = 1;
			progress = 1;
			break;
		default:
			ERR_clear_error();
			return -1;
		}
	}
	return progress;
}

/* Write the up ring to the backend; pass the client's EOF on. */
static int
pump_backend_write(struct conn *c)
{
	int progress = 0;
	ssize_t n;
	size_t len;
	char *p;

	while (c->b_can_w && (p = ring_read_ptr(&c->up, &len)) != NULL) {
		n = send(c->bfd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			ring_read_consume(&c->up, &pool, (size_t)n);
			progress = 1;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK)
			c->b_can_w = 0;
		else if (errno != EINTR)
			return -1;
	}
	if (c->c_eof && !c->b_shut && ring_is_empty(&c->up)) {
		shutdown(c->bfd, SHUT_WR);
		c->b_shut = 1;
		progress = 1;
	}
	return progress;
}

/* Read the backend into the down ring. */
static int
pump_backend_read(struct conn *c)
{
	int progress = 0;
	ssize_t n;
	char *p;

	while (!c->b_eof && c->b_can_r &&
	    (p = ring_write_ptr(&c->down, &pool)) != NULL) {
		n = recv(c->bfd, p, SLOT_SIZE, 0);
		if (n > 0) {
			ring_write_commit(&c->down, (size_t)n);
			progress = 1;
			continue;
		}
		ring_write_cancel(&c->down, &pool);
		if (n == 0) {
			c->b_eof = 1;
			progress = 1;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK)
			c->b_can_r = 0;
		else if (errno != EINTR)
			return -1;
	}
	return progress;
}

/* Send close_notify once everything from the backend is delivered. */
static int
pump_client_shutdown(struct conn *c)
{
	int r;

	if (c->c_shut || !c->b_eof || !ring_is_empty(&c->down) ||
	    !c->c_can_w)
		return 0;
	r = SSL_shutdown(c->ssl);
	if (r >= 0) {
		c->c_shut = 1;
		return 1;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_WRITE:
		c->c_can_w = 0;
		return 0;
	case SSL_ERROR_WANT_READ:	/* close_notify is out; peer's pending */
		c->c_shut = 1;
		return 1;
	default:
		ERR_clear_error();
		return -1;
	}
}

/* Encrypt the down ring to the client. */
static int
pump_client_write(struct conn *c)
{
	int n, progress = 0;
	size_t len;
	char *p;

	while (c->c_can_w && (!c->wr_wants_r || c->c_can_r) &&
	    (p = ring_read_ptr(&c->down, &len)) != NULL) {
		n = SSL_write(c->ssl, p, (int)len);
		if (n > 0) {
			ring_read_consume(&c->down, &pool, (size_t)n);
			c->wr_wants_r = 0;
			progress = 1;
			continue;
		}
		switch (SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_WRITE:
			c->c_can_w = 0;
			c->wr_wants_r = 0;
			break;
		case SSL_ERROR_WANT_READ:
			c->c_can_r = 0;
			c->wr_wants_r = 1;
			break;
		default:
			ERR_clear_error();
			return -1;
		}
	}
	if (progress < 0)
		return progress;
	n = pump_client_shutdown(c);
	return n < 0 ? n : (progress | n);
}

/* One pass over every direction. Returns progress (0/1) or -1 to close. */
static int
pump_once(struct conn *c)
{
	int p, progress = 0;

	if ((p = pump_client_read(c)) < 0)
		return -1;
	progress |= p;
	if (c->state != CS_PROXY)
		return progress;
	if ((p = pump_backend_write(c)) < 0 || (progress |= p,
	    (p = pump_backend_read(c)) < 0) || (progress |= p,
	    (p = pump_client_write(c)) < 0))
		return -1;
	return progress | p;
}

static inline int
conn_finished(const struct conn *c)
{
	return c->b_shut && c->c_shut;
}

/* Make every move the sockets allow, then watch for the next ones. */
static void
conn_pump(struct conn *c)
{
	int r, pass;

	if (c->state == CS_PROXYHDR) {
		if ((r = conn_proxy_header(c)) < 0) {
			conn_free(c);
			return;
		}
		if (r == 0) {
			conn_watch(c);
			return;
		}
	}
	if (c->state == CS_HANDSHAKE) {
		if ((r = conn_handshake(c)) < 0) {
			conn_free(c);
			return;
		}
		if (r == 0) {
			conn_watch(c);
			return;
		}
	}
	for (pass = 0; pass < PUMP_PASSES; pass++)
		if ((r = pump_once(c)) <= 0)
			break;
	if (pass > 0)
		c->last = ev_now(EV_DEFAULT);
	if (r < 0 || conn_finished(c)) {
		conn_free(c);
		return;
	}
	if (pass == PUMP_PASSES)	/* still busy: come back next turn */
		ev_feed_event(EV_DEFAULT, &c->cw, EV_CUSTOM);
	conn_watch(c);
}

static void
client_cb(EV_P_ ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	if (revents & EV_READ)
		c->c_can_r = 1;
	if (revents & EV_WRITE)
		c->c_can_w = 1;
	conn_pump(c);
}

static void
backend_connected(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		log_info("cannot connect to backend: %s", strerror(err));
		conn_free(c);
		return;
	}
	c->state = CS_PROXY;
	c->b_can_w = 1;
	c->last = ev_now(EV_DEFAULT);
	conn_timer(c, cfg.idle_timeout);
	conn_pump(c);
}

static void
backend_cb(EV_P_ ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	if (c->state == CS_CONNECTING) {
		backend_connected(c);
		return;
	}
	if (revents & EV_READ)
		c->b_can_r = 1;
	if (revents & EV_WRITE)
		c->b_can_w = 1;
	conn_pump(c);
}

static void
conn_setsockopts(int fd)
{
	int one = 1, idle = (int)cfg.keepalive;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (idle <= 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
}

static void
conn_new(int fd)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->ssl = tls_session_new(ssl_ctx, fd)) == NULL) {
		log_warn("out of memory: dropping a connection");
		free(c);
		close(fd);
		return;
	}
	conn_setsockopts(fd);
	c->cfd = fd;
	c->bfd = -1;
	c->c_can_r = c->c_can_w = 1;
	c->state = cfg.proxy_proxy ? CS_PROXYHDR : CS_HANDSHAKE;
	ring_init(&c->up, RING_SLOTS);
	ring_init(&c->down, RING_SLOTS);
	ev_io_init(&c->cw, client_cb, fd, 0);
	ev_io_init(&c->bw, backend_cb, -1, 0);
	ev_init(&c->tw, timeout_cb);
	c->cw.data = c->bw.data = c->tw.data = c;
	conn_timer(c, cfg.ssl_handshake_timeout);
	nconns++;
	conn_pump(c);
}

/* ---------------------------------------------------------------------
 * Worker: accepting, draining, entry point.
 */

static void
accept_resume_cb(EV_P_ ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	if (!draining)
		ev_io_start(EV_A_ &listener.w);
}

static void
accept_cb(EV_P_ ev_io *w, int revents)
{
	int i, fd;

	(void)revents;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		if (cfg.max_connections > 0 &&
		    nconns >= (unsigned long)cfg.max_connections) {
			accept_full = 1;
			ev_io_stop(EV_A_ w);
			return;
		}
		fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd != -1) {
			conn_new(fd);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			log_warn("cannot accept: %s; pausing", strerror(errno));
			ev_io_stop(EV_A_ w);
			ev_timer_set(&accept_pause_timer, ACCEPT_PAUSE, 0.);
			ev_timer_start(EV_A_ &accept_pause_timer);
		}
		return;
	}
}

static void
drain_timeout_cb(EV_P_ ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	log_info("worker %d: drain timeout, closing %lu connections",
	    (int)getpid(), nconns);
	ev_break(EV_A_ EVBREAK_ALL);
}

/* Stop accepting; exit once the open connections are finished. */
static void
worker_drain(EV_P)
{
	if (draining)
		return;
	draining = 1;
	ev_io_stop(EV_A_ &listener.w);
	ev_timer_stop(EV_A_ &accept_pause_timer);
	close(listener.fd);
	if (nconns == 0) {
		ev_break(EV_A_ EVBREAK_ALL);
		return;
	}
	ev_timer_init(&drain_timer, drain_timeout_cb,
	    (ev_tstamp)cfg.shutdown_timeout, 0.);
	ev_timer_start(EV_A_ &drain_timer);
}

static void
parent_gone_cb(EV_P_ ev_io *w, int revents)
{
	(void)revents;
	ev_io_stop(EV_A_ w);
	log_info("worker %d: parent is gone, draining", (int)getpid());
	worker_drain(EV_A);
}

static void
term_cb(EV_P_ ev_signal *w, int revents)
{
	(void)w;
	(void)revents;
	worker_drain(EV_A);
}

/* chroot and drop to the configured user and group. Returns 0 or -1. */
static int
worker_drop_privileges(void)
{
	if (*cfg.chroot != '\0' && (chroot(cfg.chroot) == -1 ||
	    chdir("/") == -1)) {
		log_err("cannot chroot to %s: %s", cfg.chroot, strerror(errno));
		return -1;
	}
	if (drop_gid && (setgroups(0, NULL) == -1 ||
	    setgid(run_gid) == -1)) {
		log_err("cannot set group %d: %s", (int)run_gid,
		    strerror(errno));
		return -1;
	}
	if (drop_uid && setuid(run_uid) == -1) {
		log_err("cannot set user %d: %s", (int)run_uid,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* The worker process: accept and serve until told to stop. Never returns. */
static void
worker_run(void)
{
	struct ev_loop *loop;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_IGN);
	close(parent_pipe[1]);
	if (worker_drop_privileges() == -1)
		_exit(2);
	if (ring_pool_init(&pool, SLOT_SIZE, 64, 256) == -1) {
		log_err("out of memory");
		_exit(2);
	}
	loop = ev_default_loop(EVFLAG_AUTO);
	ev_io_init(&listener.w, accept_cb, listener.fd, EV_READ);
	ev_io_start(loop, &listener.w);
	ev_timer_init(&accept_pause_timer, accept_resume_cb, ACCEPT_PAUSE, 0.);
	ev_io_init(&parent_watch, parent_gone_cb, parent_pipe[0], EV_READ);
	ev_io_start(loop, &parent_watch);
	ev_signal_init(&term_watch, term_cb, SIGTERM);
	ev_signal_start(loop, &term_watch);
	ev_run(loop, 0);
	exit(0);
}

/* ---------------------------------------------------------------------
 * Parent: supervising the workers.
 */

struct worker_slot {
	pid_t		pid;		/* 0 while waiting to be respawned */
	double		started;
	double		backoff;	/* wait before the next respawn */
	double		respawn_at;
};

static struct worker_slot	*slots;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
worker_spawn(struct worker_slot *s, int index)
{
	pid_t pid = fork();

	if (pid == -1) {
		log_err("cannot fork worker %d: %s", index, strerror(errno));
		return -1;
	}
	if (pid == 0)
		worker_run();
	s->pid = pid;
	s->started = now();
	log_info("worker %d started (pid %d)", index, (int)pid);
	return 0;
}

/* Note a dead worker and schedule its replacement, later if it died young. */
static void
worker_reaped(pid_t pid, int status, int stopping)
{
	struct worker_slot *s;
	long i;

	for (i = 0; i < cfg.workers && slots[i].pid != pid; i++)
		;
	if (i == cfg.workers)
		return;
	s = &slots[i];
	s->pid = 0;
	if (stopping)
		return;
	if (WIFSIGNALED(status))
		log_err("worker %ld (pid %d) killed by signal %d; replacing "
		    "it", i, (int)pid, WTERMSIG(status));
	else
		log_err("worker %ld (pid %d) exited with status %d; "
		    "replacing it", i, (int)pid, WEXITSTATUS(status));
	if (now() - s->started < QUICK_DEATH)
		s->backoff = s->backoff == 0 ? 0.1 : s->backoff * 2;
	else
		s->backoff = 0;
	if (s->backoff > RESPAWN_MAX)
		s->backoff = RESPAWN_MAX;
	s->respawn_at = now() + s->backoff;
}

static int
workers_alive(void)
{
	long i;
	int n = 0;

	for (i = 0; i < cfg.workers; i++)
		n += slots[i].pid != 0;
	return n;
}

static void
workers_signal(int sig)
{
	long i;

	for (i = 0; i < cfg.workers; i++)
		if (slots[i].pid != 0)
			kill(slots[i].pid, sig);
}

static void
reap_children(int stopping)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		worker_reaped(pid, status, stopping);
}

/* Respawn due workers; return seconds until the next one is due. */
static double
respawn_due(void)
{
	double t = now(), next = 1.0;
	long i;

	for (i = 0; i < cfg.workers; i++) {
		if (slots[i].pid != 0)
			continue;
		if (slots[i].respawn_at <= t) {
			if (worker_spawn(&slots[i], (int)i) == -1)
				slots[i].respawn_at = t + RESPAWN_MAX;
		}
		if (slots[i].pid == 0 && slots[i].respawn_at - t < next)
			next = slots[i].respawn_at - t;
	}
	return next;
}

/* Wait for the workers to finish after sig; kill them if they overstay. */
static void
workers_stop(sigset_t *set, int sig)
{
	double deadline = now() + (double)cfg.shutdown_timeout + 5.0;
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	workers_signal(sig);
	for (;;) {
		reap_children(1);
		if (workers_alive() == 0)
			return;
		if (now() > deadline) {
			workers_signal(SIGKILL);
			deadline = now() + 5.0;
		}
		sigtimedwait(set, NULL, &ts);
	}
}

/* The parent process: keep cfg.workers workers running until told to stop.
 * Signals stay blocked and are taken synchronously: no handlers. */
static int
parent_run(void)
{
	sigset_t set;
	struct timespec ts;
	double wait;
	long i;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((slots = calloc((size_t)cfg.workers, sizeof(*slots))) == NULL) {
		log_err("out of memory");
		return 1;
	}
	for (i = 0; i < cfg.workers; i++)
		if (worker_spawn(&slots[i], (int)i) == -1)
			return 1;
	daemon_notify("READY=1");
	for (;;) {
		reap_children(0);
		wait = respawn_due();
		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	log_info("received signal %d, stopping workers", sig);
	daemon_notify("STOPPING=1");
	close(listener.fd);
	workers_stop(&set, sig);
	log_info("all workers stopped");
	if (*cfg.pidfile != '\0')
		daemon_remove_pidfile(cfg.pidfile);
	return 0;
}

/* ---------------------------------------------------------------------
 * Parent: start-up steps.
 */

static void
exit_config(enum config_action act, const char *err)
{
	switch (act) {
	case CONFIG_HELP:
		config_usage(stdout, "stud");
		exit(0);
	case CONFIG_VERSION:
		printf("stud %s (%s, libev %d.%d%s)\n", STUD_VERSION,
		    OpenSSL_version(OPENSSL_VERSION), ev_version_major(),
		    ev_version_minor(), STUD_FEATURES);
		exit(0);
	case CONFIG_ERROR:
		log_err("%s", err);
		exit(1);
	default:
		break;
	}
}

static void
parse_options(int argc, char **argv)
{
	struct stud_config defaults;
	enum config_action act;
	char err[1024];

	if (config_init(&cfg) == -1) {
		log_err("out of memory");
		exit(1);
	}
	act = config_parse_cli(&cfg, argc, argv, err, sizeof(err));
	if (act == CONFIG_DEFAULT) {
		if (config_init(&defaults) == -1)
			exit(1);
		config_print(stdout, &defaults, 1);
		config_free(&defaults);
		exit(0);
	}
	exit_config(act, err);
}

static void	fatal(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2), noreturn));

/* Start-up failure: one line naming the problem, exit status 1. */
static void
fatal(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_err("%s", line);
	exit(1);
}

static void
setup_logging(void)
{
	int facility = log_facility(cfg.syslog_facility);

	if (facility == -1)
		fatal("unknown syslog facility '%s'", cfg.syslog_facility);
	log_setup(cfg.quiet, cfg.syslog, facility);
}

static void
load_certificates(void)
{
	char err[1024];

	if (tls_init(&cfg, err, sizeof(err)) == -1)
		fatal("%s", err);
	if ((ssl_ctx = tls_ctx_new(&cfg, err, sizeof(err))) == NULL)
		fatal("%s", err);
}

/* Resolve HOST,PORT; "*" resolves to the wildcard for passive use. */
static struct addrinfo *
resolve(const struct config_addr *a, int passive, const char *what)
{
	struct addrinfo hints, *res;
	const char *host = a->host;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	if (passive && strcmp(host, "*") == 0) {
		host = NULL;
		hints.ai_family = AF_INET6;	/* dual-stack [::] */
	}
	r = getaddrinfo(host, a->port, &hints, &res);
	if (r != 0 && host == NULL) {
		hints.ai_family = AF_INET;
		r = getaddrinfo(host, a->port, &hints, &res);
	}
	if (r != 0) {
		log_err("cannot resolve %s address %s: %s", what, a->host,
		    gai_strerror(r));
		exit(1);
	}
	return res;
}

static void
resolve_backend(void)
{
	struct addrinfo *ai = resolve(&cfg.backend, 0, "backend");

	memcpy(&backend_addr, ai->ai_addr, ai->ai_addrlen);
	backend_addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
}

static void
format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
	}
	snprintf(buf, len, "[%s]:%u", host, port);
}

static void
bind_frontend(void)
{
	struct addrinfo *ai = resolve(&cfg.frontend, 1, "frontend");
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char name[128];
	int one = 1, v6only = strcmp(cfg.frontend.host, "*") != 0;
	int fd;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		fatal("cannot create the frontend socket: %s",
		    strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
		    sizeof(v6only));
	format_addr(ai->ai_addr, name, sizeof(name));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
		fatal("cannot bind frontend %s: %s", name, strerror(errno));
	if (listen(fd, (int)cfg.backlog) == -1)
		fatal("cannot listen on frontend %s: %s", name,
		    strerror(errno));
	freeaddrinfo(ai);
	getsockname(fd, (struct sockaddr *)&ss, &sslen);
	format_addr((struct sockaddr *)&ss, name, sizeof(name));
	log_info("listening on %s", name);
	listener.fd = fd;
}

/* Look up -u and -g now (the chroot may not hold the user database) and
 * check the chroot directory. */
static void
lookup_identity(void)
{
	struct passwd *pw;
	struct group *gr;
	struct stat st;

	if (*cfg.user != '\0') {
		if ((pw = getpwnam(cfg.user)) == NULL)
			fatal("unknown user '%s'", cfg.user);
		run_uid = pw->pw_uid;
		run_gid = pw->pw_gid;
		drop_uid = drop_gid = 1;
	}
	if (*cfg.group != '\0') {
		if ((gr = getgrnam(cfg.group)) == NULL)
			fatal("unknown group '%s'", cfg.group);
		run_gid = gr->gr_gid;
		drop_gid = 1;
	}
	if (*cfg.chroot == '\0')
		return;
	if (stat(cfg.chroot, &st) == -1)
		fatal("cannot chroot to %s: %s", cfg.chroot, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		fatal("cannot chroot to %s: not a directory", cfg.chroot);
}

/* Raise the descriptor limit to its hard limit; each connection needs two. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)cfg.max_connections * 2 + 32;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (cfg.max_connections > 0 && rl.rlim_cur < need)
		log_warn("the descriptor limit (%llu) cannot hold "
		    "--max-connections=%ld (needs %llu)",
		    (unsigned long long)rl.rlim_cur, cfg.max_connections,
		    (unsigned long long)need);
}

static void
test_configuration(void)
{
	config_print(stdout, &cfg, 0);
	log_msg(LOG_NOTICE, "configuration OK");
	exit(0);
}

/* Detach (--daemon), then write the pidfile (--pidfile). */
static void
become_service(void)
{
	char err[1024];

	if (cfg.daemonize && daemon_detach(err, sizeof(err)) == -1)
		fatal("%s", err);
	if (*cfg.pidfile != '\0' &&
	    daemon_write_pidfile(cfg.pidfile, err, sizeof(err)) == -1)
		fatal("%s", err);
	if (cfg.daemonize)
		daemon_detach_done();
}

static void
open_parent_pipe(void)
{
	if (pipe2(parent_pipe, O_CLOEXEC) == -1)
		fatal("cannot create a pipe: %s", strerror(errno));
}

int
main(int argc, char **argv)
{
	parse_options(argc, argv);
	setup_logging();
	load_certificates();
	resolve_backend();
	lookup_identity();
	if (cfg.test_only)
		test_configuration();
	raise_fd_limit();
	bind_frontend();
	become_service();
	open_parent_pipe();
	return parent_run();
}
