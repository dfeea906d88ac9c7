/* worker.c - a worker process: accepts TLS connections on the shared
 * listening socket and pumps each one's cleartext to and from its own backend
 * connection through ring buffers, on a libev loop. */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certs.h"
#include "configuration.h"
#include "hello.h"
#include "hs12.h"
#include "hs13.h"
#include "log.h"
#include "peersync.h"
#include "proxy.h"
#include "record.h"
#include "resume.h"
#include "ringbuffer.h"
#include "sockbio.h"
#include "tls.h"
#include "worker.h"

#define SLOT_SIZE	16384	/* one TLS record of plaintext */
#define RING_SLOTS	4	/* per direction: 64 KiB in flight at most */
#define RECORD_MAX	(SLOT_SIZE + 5 + 256)	/* a whole TLS record at most */
/* a pool slot: a record's plaintext with room to seal it in place */
#define POOL_SLOT	(REC_HEAD_MAX + SLOT_SIZE + REC_TAIL_MAX + 34)
#define RX_SIZE		(RING_SLOTS * REC_CIPHER_MAX)	/* client bytes read
							 * ahead, stud's records */
#define ALERT_SILENT	256	/* close after the client's fatal alert */
#define ACCEPT_BATCH	32	/* connections taken per readiness event */
#define PUMP_PASSES	8	/* pump passes before yielding to the loop */
#define ACCEPT_PAUSE	0.1	/* seconds without accepting after EMFILE */
#define COALESCE_LOWAT	(128 * 1024)	/* --upload-coalesce: wake at this */
#define COALESCE_START	SLOT_SIZE	/* after one read of this much */

/* A frontend socket this worker accepts on. */
struct listener {
	ev_io			w;
	SSL_CTX			*ctx;	/* its connections start with it */
	int			 resume;	/* resume.c may serve them */
	int			 hs13;		/* and hs13.c */
	int			 hs12;		/* and hs12.c */
	int			 tls13;		/* ctx could do TLS 1.3 */
};

static const struct setup		*su;	/* what the parent built */
static const struct stud_config		*cfg;	/* su->cfg */
static struct listener			*listeners;
static size_t				 nlisteners;

/* ---------------------------------------------------------------------
 * Worker: connections.
 */

enum conn_state { CS_PROXYHDR, CS_HANDSHAKE, CS_CONNECTING, CS_PROXY };

/* Where stud's own handshakes are: the ClientHello read, then waiting for
 * the client's Finished of a TLS 1.2 resumption (resume.c) or of a TLS 1.3
 * full handshake (hs13.c), or for the client's flight of a TLS 1.2 full
 * handshake (hs12.c). */
enum conn_resume { RZ_OFF, RZ_HELLO, RZ_FINISHED, RZ_FINISHED13,
    RZ_CLIENT12 };

/* How the handshake went, for --log-level=2. */
enum conn_hs { HS_NONE, HS_FULL, HS_RESUMED, HS_RESUMED_STUD, HS_FULL_STUD };

struct conn {
	struct sockbio	 sk;		/* client socket, as OpenSSL uses it */
	int		 bfd;		/* backend socket, -1 until connecting */
	SSL		*ssl;		/* NULL once stud seals the records */
	struct rec_state rec;		/* then: its keys (record.c) */
	unsigned char	*rx;		/* then: client records read, from rxpool */
	uint32_t	 rx_start;	/* first byte not yet opened */
	uint32_t	 rx_end;
	ev_io		 cw;		/* client socket watcher */
	ev_io		 bw;		/* backend socket watcher */
	ev_timer	 tw;		/* the timeout of the current state */
	ev_tstamp	 last;		/* last progress, for --idle-timeout */
	ev_tstamp	 started;
	uint64_t	 up_bytes;	/* delivered to the backend */
	uint64_t	 down_bytes;	/* delivered to the client */
	const char	*why;		/* why it closes, for --log-level=2 */
	struct sockaddr_in6 peer;	/* the client (or a sockaddr_in) */
	struct ring	 up;		/* client -> backend */
	struct ring	 down;		/* backend -> client */
	const struct listener *l;	/* where it came in */
	unsigned char	 fin[48];	/* RZ_FINISHED*: the client's due */
	unsigned char	 sid[32];	/* RZ_FINISHED: the session resumed */
	struct hs12_state *h12;		/* RZ_CLIENT12: the handshake */
	uint8_t		 sidlen;
	unsigned	 resuming:3;	/* enum conn_resume */
	unsigned	 hs:3;		/* enum conn_hs */
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
	unsigned	 b_unconfirmed:1; /* sending before connect(2) is known
					 * to have succeeded */
	unsigned	 no_detach:1;	/* keeps OpenSSL's record layer */
	unsigned	 ku_due:1;	/* a KeyUpdate precedes the next record */
	unsigned	 noreneg_due:1;	/* a no_renegotiation warning is due */
	unsigned	 c_shut_queued:1; /* close_notify sealed, not yet sent */
	unsigned	 coalescing:1;	/* client SO_RCVLOWAT raised; tw is
					 * then the --upload-coalesce timer */
	uint16_t	 hdr_len;	/* PROXY header bytes read so far */
};

static struct ring_pool	 pool;
static struct ring_pool	 rxpool;
static int		 own_records;	/* record.c takes over after handshakes */
static int		 own_resumption; /* resume.c answers TLS 1.2 resumptions */
static int		 own_hs13;	/* hs13.c answers TLS 1.3 handshakes */
static int		 own_hs12;	/* hs12.c answers TLS 1.2 handshakes */
static unsigned long	 nconns;
static int		 draining;
static int		 accept_full;	/* paused at --max-connections */
static ev_timer		 accept_pause_timer;
static ev_timer		 drain_timer;
static ev_io		 parent_watch;
static ev_signal	 term_watch;

static void	conn_pump(struct conn *c);
static int	pump_client_read(struct conn *c);
static void	conn_free(struct conn *c);
static void	conn_detach(struct conn *c);
static int	rec_client_read(struct conn *c);
static int	rec_client_write(struct conn *c);
static int	rec_control(struct conn *c);

/* Start (on) or stop accepting on every frontend. */
static void
listeners_watch(int on)
{
	size_t i;

	for (i = 0; i < nlisteners; i++) {
		if (on)
			ev_io_start(EV_DEFAULT, &listeners[i].w);
		else
			ev_io_stop(EV_DEFAULT, &listeners[i].w);
	}
}
static char	backend_name[sizeof(((struct config_addr *)0)->host)];

/* --log-level=2: one line per connection. */
static void
conn_log(const struct conn *c)
{
	static const char *hs[] = { "none", "full", "resumed",
	    "resumed-stud", "full-stud" };
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	proxy_addr_text((const struct sockaddr *)&c->peer, host, sizeof(host),
	    &port);
	log_conn("client=%s:%u backend=%s in=%llu out=%llu duration=%.3f "
	    "handshake=%s close=%s", host, port, backend_name,
	    (unsigned long long)c->up_bytes,
	    (unsigned long long)c->down_bytes,
	    ev_now(EV_DEFAULT) - c->started, hs[c->hs], c->why);
}

/* Close both sockets and free everything; why is logged at level 2. */
static void
conn_close(struct conn *c, const char *why)
{
	if (c->why == NULL)
		c->why = why;
	if (log_connections())
		conn_log(c);
	conn_free(c);
}

static void
conn_free(struct conn *c)
{
	ev_io_stop(EV_DEFAULT, &c->cw);
	ev_io_stop(EV_DEFAULT, &c->bw);
	ev_timer_stop(EV_DEFAULT, &c->tw);
	ring_release(&c->up, &pool);
	ring_release(&c->down, &pool);
	if (c->ssl != NULL)
		tls_session_free(c->ssl, c->state >= CS_CONNECTING);
	if (c->rx != NULL)
		ring_pool_put(&rxpool, c->rx);
	if (c->h12 != NULL) {
		hs12_state_wipe(c->h12);
		free(c->h12);
	}
	rec_wipe(&c->rec);
	close(c->sk.fd);
	if (c->bfd != -1)
		close(c->bfd);
	free(c);
	nconns--;
	if (draining && nconns == 0)
		ev_break(EV_DEFAULT, EVBREAK_ALL);
	if (accept_full && !draining) {
		accept_full = 0;
		listeners_watch(1);
	}
}

/* Arm the connection's timer for secs (0 = none). */
static void
conn_timer(struct conn *c, ev_tstamp secs)
{
	ev_timer_stop(EV_DEFAULT, &c->tw);
	if (secs <= 0)
		return;
	ev_timer_set(&c->tw, secs, 0.);
	ev_timer_start(EV_DEFAULT, &c->tw);
}

/* --upload-coalesce. On: wake for the client only once COALESCE_LOWAT
 * bytes are in (or at EOF or an error), and at the latest after
 * upload_coalesce microseconds (tw). Off: back to every byte, the idle
 * timer again, and a read for whatever is under the mark. */
static void
coalesce(struct conn *c, int on)
{
	int lowat = on ? COALESCE_LOWAT : 1;

	if (setsockopt(c->sk.fd, SOL_SOCKET, SO_RCVLOWAT, &lowat,
	    sizeof(lowat)) == -1 && on)
		return;
	c->coalescing = (unsigned)on;
	if (on)
		ev_timer_stop(EV_DEFAULT, &c->tw);
	else {
		c->c_can_r = 1;
		conn_timer(c, cfg->idle_timeout);
	}
}

static void
timeout_cb(EV_P_ ev_timer *w, int revents)
{
	struct conn *c = w->data;
	ev_tstamp left;

	static const char *why[] = { "handshake timeout",
	    "handshake timeout", "backend connect timeout", "idle timeout" };

	(void)revents;
	if (c->coalescing) {
		coalesce(c, 0);
		conn_pump(c);
		return;
	}
	if (c->b_unconfirmed) {
		conn_close(c, why[CS_CONNECTING]);
		return;
	}
	if (c->state == CS_PROXY) {
		left = c->last + (ev_tstamp)cfg->idle_timeout - ev_now(EV_A);
		if (left > 0.001) {
			ev_timer_set(w, left, 0.);
			ev_timer_start(EV_A_ w);
			return;
		}
	}
	conn_close(c, why[c->state]);
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

/* Before waiting: push what was held for coalescing, watch what is due. */
static void
conn_watch(struct conn *c)
{
	int ce = 0, be = 0;

	sockbio_push(&c->sk);

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
	watch(&c->cw, c->sk.fd, ce);
	if (c->bfd != -1)
		watch(&c->bw, c->bfd, be);
	/* coalescing ends upload_coalesce after the last read of the client,
	 * whatever the backend does meanwhile; then tw is the idle timer */
	if (c->coalescing && !ev_is_active(&c->tw))
		conn_timer(c, cfg->upload_coalesce * 1e-6);
}

/* Queue the --write-ip or --write-proxy header ahead of the client's data.
 * Returns 0, or -1. */
static int
conn_client_header(struct conn *c)
{
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);
	const struct sockaddr *peer = (const struct sockaddr *)&c->peer;
	struct proxy_tls tls;
	char cn[256];
	char *p;
	int n;

	if (!cfg->write_ip && !cfg->write_proxy && !cfg->write_proxy_v2)
		return 0;
	if (getsockname(c->sk.fd, (struct sockaddr *)&local, &llen) == -1 ||
	    (p = ring_write_ptr(&c->up, &pool)) == NULL)
		return -1;
	if (cfg->write_ip)
		n = proxy_write_ip((unsigned char *)p, peer);
	else if (cfg->write_proxy)
		n = proxy_write_v1(p, peer, (struct sockaddr *)&local);
	else {
		tls_describe(c->ssl, &tls, cn, sizeof(cn));
		n = proxy_write_v2((unsigned char *)p, PROXY_V2_MAX, peer,
		    (struct sockaddr *)&local, &tls);
	}
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

	c->bfd = socket(su->backend.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->bfd == -1) {
		log_warn("cannot create backend socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(c->bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* bytes already waiting: the ACK ending the TCP handshake rides with
	 * them, one packet fewer (with none, the kernel would hold it 200 ms) */
	if (!ring_is_empty(&c->up))
		setsockopt(c->bfd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one,
		    sizeof(one));
	if (connect(c->bfd, (const struct sockaddr *)&su->backend,
	    su->backend_len) == -1 && errno != EINPROGRESS) {
		log_info("cannot connect to backend: %s", strerror(errno));
		c->why = "backend connect failed";
		return -1;
	}
	c->state = CS_CONNECTING;
	conn_timer(c, cfg->backend_connect_timeout);
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
	n = recv(c->sk.fd, p + c->hdr_len, SLOT_SIZE - c->hdr_len, MSG_PEEK);
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
	if (recv(c->sk.fd, p + c->hdr_len, (size_t)n, 0) != n)
		return -1;
	c->hdr_len += (uint16_t)n;
	if (r == 0)
		return 0;
	ring_write_commit(&c->up, c->hdr_len);
	c->state = CS_HANDSHAKE;
	return 1;
}

/* The handshake is done: queue the header first, then what the client has
 * sent already (so that the connect knows whether bytes are waiting), and
 * connect. Returns 1, or -1. */
static int
conn_handshaken(struct conn *c)
{
	if (conn_client_header(c) == -1 || pump_client_read(c) < 0)
		return -1;
	return conn_connect(c) == 0 ? 1 : -1;
}

/* Drive the handshake. Returns 1 when done, 0 while waiting, -1 on error. */
static int
conn_handshake(struct conn *c)
{
	int r;

	/* TLS 1.3: past our Finished, what this call writes is the session
	 * tickets, which no client waits for: they share the first reply's
	 * packet (left held, not pushed; if nothing follows, the kernel sends
	 * them on its own within a fraction of a second) */
	c->sk.more = SSL_get_state(c->ssl) == TLS_ST_EARLY_DATA;
	r = tls_handshake(c->ssl);
	c->sk.more = 0;
	c->hs_wants_r = c->hs_wants_w = 0;
	if (r == 1) {
		ERR_clear_error();
		c->sk.corked = 0;
		/* bulk data: up to a ring's worth of records per read(2) */
		SSL_set_default_read_buffer_len(c->ssl, RING_SLOTS * RECORD_MAX);
		c->hs = SSL_session_reused(c->ssl) ? HS_RESUMED : HS_FULL;
		if (own_resumption)
			tls_resume_note(c->ssl);
		return conn_handshaken(c);
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
		if (own_resumption)
			tls_resume_failed(c->ssl);
		return -1;
	}
}

/* Move decrypted client data into the up ring. Returns progress or -1. */
static int
pump_client_read(struct conn *c)
{
	int n, progress = 0;
	char *p;

	conn_detach(c);
	if (c->ssl == NULL)
		return rec_client_read(c);
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
			c->why = "client error";
			return -1;
		}
	}
	conn_detach(c);
	return progress;
}

/* The backend turned out unreachable: log it as a failed connect. */
static int
backend_unreachable(struct conn *c, int err)
{
	log_info("cannot connect to backend: %s", strerror(err));
	c->why = "backend connect failed";
	return -1;
}

/* The backend is connected: from now on only --idle-timeout applies. */
static void
backend_confirmed(struct conn *c)
{
	c->b_unconfirmed = 0;
	c->last = ev_now(EV_DEFAULT);
	conn_timer(c, cfg->idle_timeout);
}

/* Write the up ring to the backend, every slot in one call; pass the
 * client's EOF on (its FIN in the same packet as the last bytes). */
static int
pump_backend_write(struct conn *c)
{
	struct iovec iov[RING_SLOTS];
	struct msghdr msg = { .msg_iov = iov };
	int progress = 0;
	ssize_t n;

	while (c->b_can_w &&
	    (msg.msg_iovlen = ring_read_iov(&c->up, iov, RING_SLOTS)) > 0) {
		n = sendmsg(c->bfd, &msg, MSG_NOSIGNAL |
		    (c->c_eof ? MSG_MORE : 0));
		if (n > 0) {
			ring_read_consume(&c->up, &pool, (size_t)n);
			c->up_bytes += (uint64_t)n;
			progress = 1;
			if (c->b_unconfirmed)
				backend_confirmed(c);
		} else if (errno == EAGAIN || errno == EWOULDBLOCK)
			c->b_can_w = 0;
		else if (c->b_unconfirmed)
			return backend_unreachable(c, errno);
		else if (errno != EINTR) {
			c->why = "backend error";
			return -1;
		}
	}
	if (c->c_eof && !c->b_shut && ring_is_empty(&c->up)) {
		shutdown(c->bfd, SHUT_WR);
		c->b_shut = 1;
		progress = 1;
	}
	return progress;
}

/* Append n bytes read into the reserved down slots (SLOT_SIZE each at
 * iov) to the ring; once stud seals the records, as one record a slot. */
static int
down_commit(struct conn *c, const struct iovec *iov, size_t n)
{
	size_t i, len;
	long rl;

	for (i = 0; n > 0; i++, n -= len) {
		len = n < SLOT_SIZE ? n : SLOT_SIZE;
		rl = (long)len;
		if (c->ssl == NULL) {
			rl = rec_seal(&c->rec, REC_APPDATA,
			    (unsigned char *)iov[i].iov_base -
			    rec_head_len(&c->rec), len);
			if (rl < 0) {
				c->why = "cannot seal a record";
				return -1;
			}
			c->down_bytes += len;
		}
		ring_write_commit(&c->down, (size_t)rl);
	}
	return 0;
}

/* Read the backend into the down ring, as many slots as free in one call. */
static int
pump_backend_read(struct conn *c)
{
	struct iovec iov[RING_SLOTS];
	size_t niov, room, i, head = c->ssl ? 0 : rec_head_len(&c->rec);
	int progress = 0;
	ssize_t n;

	while (!c->b_eof && c->b_can_r && !c->ku_due &&
	    (niov = ring_write_iov(&c->down, &pool, iov, RING_SLOTS)) > 0) {
		for (i = 0; i < niov; i++) {
			iov[i].iov_base = (char *)iov[i].iov_base + head;
			iov[i].iov_len = SLOT_SIZE;
		}
		room = niov * SLOT_SIZE;
		n = readv(c->bfd, iov, (int)niov);
		if (n > 0 && down_commit(c, iov, (size_t)n) == -1) {
			ring_write_cancel(&c->down, &pool);
			return -1;
		}
		ring_write_cancel(&c->down, &pool);
		if (n >= 0 && c->b_unconfirmed)
			backend_confirmed(c);
		if (n > 0) {
			/* a stream socket returns less only when it has no more */
			c->b_can_r = (size_t)n == room;
			progress = 1;
		} else if (n == 0) {
			c->b_eof = 1;
			progress = 1;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK)
			c->b_can_r = 0;
		else if (c->b_unconfirmed)
			return backend_unreachable(c, errno);
		else if (errno != EINTR) {
			c->why = "backend error";
			return -1;
		}
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
	/* if the connection closes right after, its FIN rides along */
	c->sk.more = c->b_shut;
	r = SSL_shutdown(c->ssl);
	c->sk.more = 0;
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
		c->why = "client error";
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

	if (c->ssl == NULL)
		return rec_client_write(c);
	while (c->c_can_w && (!c->wr_wants_r || c->c_can_r) &&
	    (p = ring_read_ptr(&c->down, &len)) != NULL) {
		/* another record follows at once: let them share packets */
		c->sk.more = ring_bytes(&c->down) > len || c->b_eof;
		n = SSL_write(c->ssl, p, (int)len);
		c->sk.more = 0;
		if (n > 0) {
			ring_read_consume(&c->down, &pool, (size_t)n);
			c->down_bytes += (uint64_t)n;
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
			c->why = "client error";
			return -1;
		}
	}
	n = pump_client_shutdown(c);
	return n < 0 ? n : (progress | n);
}

/* ---------------------------------------------------------------------
 * Worker: the records of a connection that has left OpenSSL (record.c).
 */

/* Take the records over from OpenSSL as soon as it holds nothing of ours:
 * no client bytes buffered, no write or close_notify half done. */
static void
conn_detach(struct conn *c)
{
	int r;

	if (c->ssl == NULL || c->no_detach || !ring_is_empty(&c->down) ||
	    c->rd_wants_w || c->wr_wants_r || c->c_shut || c->sk.pre != NULL)
		return;
	if ((r = tls_detach(c->ssl, &c->rec)) == 0)
		return;
	if (r < 0) {
		c->no_detach = 1;
		return;
	}
	tls_session_free(c->ssl, 1);
	c->ssl = NULL;
	if (c->sk.drained)	/* OpenSSL's last read found the socket empty */
		c->c_can_r = 0;
}

/* Close on a record error, telling the client why (alert) when nothing
 * else is queued for it; ALERT_SILENT after the client's own alert. */
static int
rec_fail(struct conn *c, int alert)
{
	unsigned char rec[REC_HEAD_MAX + 2 + REC_TAIL_MAX];
	long n;

	c->why = alert == ALERT_SILENT ? "client alert" : "bad client record";
	if (alert == ALERT_SILENT || !ring_is_empty(&c->down) || c->c_shut)
		return -1;
	if ((n = rec_seal_alert(&c->rec, rec, 2, (unsigned)alert)) > 0)
		(void)send(c->sk.fd, rec, (size_t)n, MSG_NOSIGNAL |
		    MSG_DONTWAIT);
	return -1;
}

/* An alert from the client: close_notify ends its data; other warnings of
 * TLS 1.2 and TLS 1.3's user_canceled pass; anything else closes. */
static int
rec_alert(struct conn *c, const unsigned char *a, long len)
{
	if (len != 2)
		return -REC_DECODE_ERROR;
	if (a[1] == REC_CLOSE_NOTIFY) {
		c->c_eof = 1;
		return 0;
	}
	if (c->rec.version == REC_TLS12 ? a[0] == 1 : a[1] == 90)
		return 0;
	return -ALERT_SILENT;
}

/* Open the next record read from the client: application data into the up
 * ring, alerts and handshake messages acted on. Returns 1 when one was
 * taken, 0 when none is complete or the ring has no room, or -alert. */
static int
rec_take(struct conn *c)
{
	unsigned char *rec, *p;
	unsigned type;
	long n, len;
	int r = 0;

	if (c->rx == NULL || c->c_eof)
		return 0;
	rec = c->rx + c->rx_start;
	if ((n = rec_frame(rec, c->rx_end - c->rx_start)) == 0)
		return 0;
	if (n < 0)
		return (int)n;
	if ((p = (unsigned char *)ring_write_ptr(&c->up, &pool)) == NULL)
		return 0;
	c->rx_start += (uint32_t)n;
	if ((len = rec_open(&c->rec, rec, (size_t)n, p, &type)) < 0)
		r = (int)len;
	else if (type == REC_APPDATA && len > 0) {
		ring_write_commit(&c->up, (size_t)len);
		return 1;
	} else if (type == REC_ALERT)
		r = rec_alert(c, p, len);
	else if (type == REC_HANDSHAKE &&
	    (r = rec_handshake(&c->rec, p, (size_t)len)) > 0) {
		c->ku_due |= (r & REC_PH_UPDATE_REQUESTED) != 0;
		c->noreneg_due |= (r & REC_PH_RENEGOTIATE) != 0;
		r = 0;
	}
	ring_write_cancel(&c->up, &pool);
	return r < 0 ? r : 1;
}

/* Give the read buffer back to the pool. */
static void
rx_release(struct conn *c)
{
	if (c->rx != NULL) {
		ring_pool_put(&rxpool, c->rx);
		c->rx = NULL;
		c->rx_start = c->rx_end = 0;
	}
}

/* ... once nothing is left in it. */
static void
rx_release_empty(struct conn *c)
{
	if (c->rx_start == c->rx_end)
		rx_release(c);
}

/* Read client bytes after those not yet opened (a partial record moves to
 * the front first). Returns 1 if some came, 0 if none (drained or EOF),
 * -1 on error. */
static int
rx_fill(struct conn *c)
{
	size_t have, room;
	ssize_t n;

	if (c->rx == NULL && (c->rx = ring_pool_get(&rxpool)) == NULL)
		return -1;
	if (c->rx_start > 0) {
		have = c->rx_end - c->rx_start;
		memmove(c->rx, c->rx + c->rx_start, have);
		c->rx_start = 0;
		c->rx_end = (uint32_t)have;
	}
	if ((room = RX_SIZE - c->rx_end) == 0)
		return 0;	/* whole records wait for ring slots */
	do
		n = recv(c->sk.fd, c->rx + c->rx_end, room, 0);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		/* a stream socket returns less only when it has no more */
		c->c_can_r = (size_t)n == room;
		c->rx_end += (uint32_t)n;
		if (c->coalescing)
			ev_timer_stop(EV_DEFAULT, &c->tw);
		else if ((size_t)n >= COALESCE_START &&
		    cfg->upload_coalesce > 0 && c->state == CS_PROXY &&
		    !c->b_unconfirmed)
			coalesce(c, 1);
		return 1;
	}
	if (n == 0) {		/* EOF, with or without close_notify */
		c->c_eof = 1;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		c->c_can_r = 0;
		return 0;
	}
	return -1;
}

/* Decrypt the client's records into the up ring: those read already, then
 * more from the socket while the ring has room. */
static int
rec_client_read(struct conn *c)
{
	int r, progress = 0;

	for (;;) {
		while ((r = rec_take(c)) > 0)
			progress = 1;
		if (r < 0)
			return rec_fail(c, -r);
		if (c->c_eof || !c->c_can_r || ring_is_full(&c->up))
			break;
		if ((r = rx_fill(c)) < 0) {
			c->why = "client error";
			return -1;
		}
		if (r == 0) {
			progress |= c->c_eof;
			break;
		}
	}
	rx_release_empty(c);
	return progress;
}

/* Queue one control record in a free down slot: our KeyUpdate, or a
 * warning alert desc. Returns 1 when queued, 0 when the ring has no room,
 * -1 on error. */
static int
down_control(struct conn *c, int key_update, unsigned desc)
{
	unsigned char *p = (unsigned char *)ring_write_ptr(&c->down, &pool);
	long n;

	if (p == NULL)
		return 0;
	n = key_update ? rec_seal_key_update(&c->rec, p) :
	    rec_seal_alert(&c->rec, p, 1, desc);
	if (n < 0) {
		ring_write_cancel(&c->down, &pool);
		c->why = "cannot seal a record";
		return -1;
	}
	ring_write_commit(&c->down, (size_t)n);
	return 1;
}

/* Seal what must go before the next application data record: a KeyUpdate
 * (the client asked, or our key is worn), a refused renegotiation's
 * warning. Returns 0, or -1 on error; what the ring has no room for waits. */
static int
rec_control(struct conn *c)
{
	int r;

	c->ku_due |= rec_wants_key_update(&c->rec);
	while (c->ku_due || c->noreneg_due) {
		if ((r = down_control(c, c->ku_due, REC_NO_RENEGOTIATION)) <= 0)
			return r;
		if (c->ku_due)
			c->ku_due = 0;
		else
			c->noreneg_due = 0;
	}
	return 0;
}

/* Queue close_notify once the backend has closed and all it sent is
 * sealed. Returns 1 when queued, 0 if not yet, -1 on error. */
static int
rec_client_shutdown(struct conn *c)
{
	int r;

	if (c->c_shut_queued || !c->b_eof || c->ku_due ||
	    (r = down_control(c, 0, REC_CLOSE_NOTIFY)) == 0)
		return 0;
	c->c_shut_queued = r > 0;
	return r;
}

/* Send the sealed records, every slot in one call; close_notify counts as
 * sent once the ring is empty. */
static int
rec_client_write(struct conn *c)
{
	struct iovec iov[RING_SLOTS];
	struct msghdr msg = { .msg_iov = iov };
	int progress, more;
	ssize_t n;

	if ((progress = rec_client_shutdown(c)) < 0)
		return -1;
	/* the connection closes right after: its FIN rides along */
	more = c->c_shut_queued && c->b_shut ? MSG_MORE : 0;
	while (c->c_can_w &&
	    (msg.msg_iovlen = ring_read_iov(&c->down, iov, RING_SLOTS)) > 0) {
		n = sendmsg(c->sk.fd, &msg, MSG_NOSIGNAL | more);
		if (n > 0) {
			ring_read_consume(&c->down, &pool, (size_t)n);
			c->sk.corked = more != 0;
			progress = 1;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK)
			c->c_can_w = 0;
		else if (errno != EINTR) {
			c->why = "client error";
			return -1;
		}
	}
	if (c->c_shut_queued && !c->c_shut && ring_is_empty(&c->down)) {
		c->c_shut = 1;
		progress = 1;
	}
	return progress;
}

/* ---------------------------------------------------------------------
 * Worker: stud's own TLS 1.2 resumption (resume.c).
 */

/* Read client bytes while more are needed and may come. Returns 1 when
 * some came, 0 to wait for readability, -1 to close (EOF, error). */
static int
resume_read(struct conn *c)
{
	int r = 0;

	if (c->c_eof || (c->c_can_r && (r = rx_fill(c)) < 0) ||
	    (r == 0 && c->c_eof))
		return -1;
	if (r == 0) {
		/* no buffer held while waiting: a burst of connections that
		 * have not sent their hello yet costs no memory */
		rx_release_empty(c);
		c->hs_wants_r = 1;
	}
	return r;
}

/* Not for resume.c: OpenSSL takes the connection over, bytes read so far
 * first. Returns like conn_handshake(). */
static int
resume_to_openssl(struct conn *c)
{
	size_t have = c->rx != NULL ? c->rx_end - c->rx_start : 0;
	BIO *bio;

	c->resuming = RZ_OFF;
	if ((bio = sockbio_new(&c->sk, c->sk.fd)) == NULL)
		return -1;
	if (have > 0 && sockbio_replay(&c->sk, c->rx + c->rx_start, have) ==
	    -1) {
		BIO_free(bio);
		return -1;
	}
	c->sk.drained = !c->c_can_r;
	c->sk.eof = c->c_eof;
	rx_release(c);
	if ((c->ssl = tls_session_new(c->l->ctx, bio, &c->rec)) == NULL)
		return -1;
	return conn_handshake(c);
}

/* The client's ChangeCipherSpec and Finished. */
static int
resume_finished(struct conn *c)
{
	long n;
	int r;

	while ((n = c->rx == NULL ? 0 : resume_client_finished(&c->rec,
	    c->fin, c->rx + c->rx_start, c->rx_end - c->rx_start)) == 0)
		if ((r = resume_read(c)) <= 0)
			return r;
	if (n < 0) {
		tls_resume_forget(c->l->ctx, c->sid, c->sidlen);
		return rec_fail(c, (int)-n);
	}
	c->rx_start += (uint32_t)n;
	c->resuming = RZ_OFF;
	c->hs = HS_RESUMED_STUD;
	return conn_handshaken(c);
}

/* ---------------------------------------------------------------------
 * Worker: stud's own TLS 1.3 full handshake (hs13.c).
 */

/* A flight this long always fits in a new socket's send buffer. */
#define FLIGHT_SEND_MAX	12288

/* Where stud's own handshakes write their flights (room to spare: one
 * too long goes to OpenSSL). */
static unsigned char	 flight_buf[FLIGHT_SEND_MAX + 65536];

/* The client's ChangeCipherSpec and Finished. */
static int
hs13_finished(struct conn *c)
{
	long n;
	int r;

	while ((n = c->rx == NULL ? 0 : hs13_client_finished(&c->rec, c->fin,
	    c->rx + c->rx_start, c->rx_end - c->rx_start)) == 0)
		if ((r = resume_read(c)) <= 0)
			return r;
	if (n < 0)
		return rec_fail(c, (int)-n);
	c->rx_start += (uint32_t)n;
	c->resuming = RZ_OFF;
	c->hs = HS_FULL_STUD;
	return conn_handshaken(c);
}

/* A TLS 1.3 hello hs13.c may take: the whole server flight at once, or
 * OpenSSL if that path cannot serve it after all. */
static int
hs13_hello(struct conn *c, const struct hs13_hello *h)
{
	SSL_CTX *ctx;
	int staples;
	long n;

	ctx = certs_for_name(su->certs, c->l->ctx, h->sni, &staples);
	n = tls_hs13_flight(c->l->ctx, ctx, staples, h, &c->rec, flight_buf,
	    sizeof(flight_buf), c->fin);
	if (n < 0 || n > FLIGHT_SEND_MAX) {
		OPENSSL_cleanse(&c->rec, sizeof(c->rec));	/* as new */
		return resume_to_openssl(c);
	}
	if (send(c->sk.fd, flight_buf, (size_t)n, MSG_NOSIGNAL) != n) {
		c->why = "handshake failed";
		return -1;
	}
	c->rx_start += (uint32_t)h->reclen;
	c->resuming = RZ_FINISHED13;
	return hs13_finished(c);
}

/* ---------------------------------------------------------------------
 * Worker: stud's own TLS 1.2 full handshake (hs12.c).
 */

/* A fatal alert in the clear (our ChangeCipherSpec is not sent yet), then
 * close. */
static int
hs12_fail(struct conn *c, int alert)
{
	unsigned char a[7] = { REC_ALERT, 3, 3, 0, 2, 2, 0 };

	c->why = "bad client record";
	a[6] = (unsigned char)alert;
	(void)send(c->sk.fd, a, sizeof(a), MSG_NOSIGNAL | MSG_DONTWAIT);
	return -1;
}

static void
hs12_done(struct conn *c)
{
	hs12_state_wipe(c->h12);
	free(c->h12);
	c->h12 = NULL;
}

/* The client's ClientKeyExchange, ChangeCipherSpec and Finished; then our
 * answer. */
static int
hs12_client(struct conn *c)
{
	unsigned char out[HS12_ANSWER_MAX];
	size_t outlen;
	long n;
	int r;

	while ((n = c->rx == NULL ? 0 : hs12_client_flight(c->h12, &c->rec,
	    c->rx + c->rx_start, c->rx_end - c->rx_start, out,
	    &outlen)) == 0)
		if ((r = resume_read(c)) <= 0)
			return r;
	if (n < 0) {
		hs12_done(c);
		return hs12_fail(c, (int)-n);
	}
	if (send(c->sk.fd, out, outlen, MSG_NOSIGNAL) != (ssize_t)outlen) {
		hs12_done(c);
		c->why = "handshake failed";
		return -1;
	}
	tls_hs12_session(c->l->ctx, c->h12);
	hs12_done(c);
	c->rx_start += (uint32_t)n;
	c->resuming = RZ_OFF;
	c->hs = HS_FULL_STUD;
	return conn_handshaken(c);
}

/* A TLS 1.2 hello hs12.c may take: its first flight at once, or OpenSSL
 * if that path cannot serve it after all. */
static int
hs12_hello(struct conn *c, const struct hs12_hello *h)
{
	SSL_CTX *ctx;
	int staples;
	long n = -1;

	ctx = certs_for_name(su->certs, c->l->ctx, h->sni, &staples);
	if ((c->h12 = malloc(sizeof(*c->h12))) != NULL &&
	    (n = tls_hs12_flight(c->l->ctx, ctx, staples, h, c->h12,
	    flight_buf, sizeof(flight_buf))) > FLIGHT_SEND_MAX)
		hs12_state_wipe(c->h12);
	if (n < 0 || n > FLIGHT_SEND_MAX) {
		free(c->h12);
		c->h12 = NULL;
		return resume_to_openssl(c);
	}
	if (send(c->sk.fd, flight_buf, (size_t)n, MSG_NOSIGNAL) != n) {
		hs12_done(c);
		c->why = "handshake failed";
		return -1;
	}
	c->rx_start += (uint32_t)h->reclen;
	c->resuming = RZ_CLIENT12;
	return hs12_client(c);
}

/* The ClientHello: a TLS 1.3 one hs13.c can answer, a TLS 1.2 one hs12.c
 * can, or a session of ours offered as resume.c can resume it, gets the
 * server's flight; anything else goes to OpenSSL. */
static int
own_hello(struct conn *c)
{
	unsigned char flight[RESUME_FLIGHT_MAX];
	struct resume_hello h;
	struct resume_session s;
	struct hs13_hello h13;
	struct hs12_hello h12;
	struct hello f;
	long n;
	int r;

	/* the whole record first; then each reader looks at it once */
	while (c->rx == NULL || hello_read(c->rx + c->rx_start, c->rx_end -
	    c->rx_start, &f) == HELLO_MORE)
		if ((r = resume_read(c)) <= 0)
			return r;
	if (c->l->hs13 && hs13_parse_hello(c->rx + c->rx_start, c->rx_end -
	    c->rx_start, &h13) == HS13_OK)
		return hs13_hello(c, &h13);
	if (c->l->hs12 && hs12_parse_hello(c->rx + c->rx_start, c->rx_end -
	    c->rx_start, &h12) == HS12_OK)
		return hs12_hello(c, &h12);
	if (!c->l->resume || resume_parse_hello(c->rx + c->rx_start,
	    c->rx_end - c->rx_start, &h) != RESUME_OK ||
	    (h.tls13 && c->l->tls13) ||
	    tls_resume_lookup(h.sid, h.sidlen, &s) == -1)
		return resume_to_openssl(c);
	if (s.ems != h.ems || !resume_hello_offers(&h, s.cipher)) {
		OPENSSL_cleanse(&s, sizeof(s));
		return resume_to_openssl(c);
	}
	n = resume_server_flight(&h, &s, c->l->tls13, &c->rec, flight, c->fin);
	OPENSSL_cleanse(&s, sizeof(s));
	if (n < 0 || send(c->sk.fd, flight, (size_t)n, MSG_NOSIGNAL) != n) {
		c->why = "handshake failed";
		return -1;
	}
	memcpy(c->sid, h.sid, h.sidlen);
	c->sidlen = (uint8_t)h.sidlen;
	c->rx_start += (uint32_t)h.reclen;
	c->resuming = RZ_FINISHED;
	return resume_finished(c);
}

/* Drive stud's own handshakes. Returns like conn_handshake(). */
static int
conn_resume(struct conn *c)
{
	c->hs_wants_r = c->hs_wants_w = 0;
	switch (c->resuming) {
	case RZ_HELLO:
		return own_hello(c);
	case RZ_FINISHED:
		return resume_finished(c);
	case RZ_CLIENT12:
		return hs12_client(c);
	default:
		return hs13_finished(c);
	}
}

/* One pass over every direction. Returns progress (0/1) or -1 to close. */
static int
pump_once(struct conn *c)
{
	int p, progress = 0;

	if ((p = pump_client_read(c)) < 0 ||
	    (c->ssl == NULL && rec_control(c) < 0))
		return -1;
	progress |= p;
	if (c->state == CS_CONNECTING && !ring_is_empty(&c->up)) {
		/* A connect(2) to a near backend is usually complete when it
		 * returns: send at once rather than wait for writability. The
		 * send says whether it worked (EAGAIN: not yet). */
		c->state = CS_PROXY;
		c->b_unconfirmed = c->b_can_w = 1;
	}
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
			conn_close(c, "bad PROXY header");
			return;
		}
		if (r == 0) {
			conn_watch(c);
			return;
		}
	}
	if (c->state == CS_HANDSHAKE) {
		if ((r = c->resuming ? conn_resume(c) : conn_handshake(c)) < 0) {
			conn_close(c, "handshake failed");
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
		conn_close(c, r < 0 ? "error" : "done");
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
	if (revents & EV_READ) {
		c->c_can_r = 1;
		sockbio_readable(&c->sk);
	}
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
		backend_unreachable(c, err);
		conn_close(c, c->why);
		return;
	}
	c->state = CS_PROXY;
	c->b_can_w = 1;
	backend_confirmed(c);
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
conn_new(int fd, const struct sockaddr_storage *peer, socklen_t peerlen,
    const struct listener *l)
{
	struct conn *c;
	BIO *bio = NULL;

	/* stud reads the ClientHello first; OpenSSL may come later */
	if ((c = calloc(1, sizeof(*c))) == NULL || (!l->resume && !l->hs13 && !l->hs12 &&
	    ((bio = sockbio_new(&c->sk, fd)) == NULL ||
	    (c->ssl = tls_session_new(l->ctx, bio, own_records ? &c->rec :
	    NULL)) == NULL))) {
		log_warn("out of memory: dropping a connection");
		free(c);
		close(fd);
		return;
	}
	c->sk.fd = fd;
	c->l = l;
	c->resuming = l->resume || l->hs13 || l->hs12 ? RZ_HELLO : RZ_OFF;
	memcpy(&c->peer, peer, peerlen < sizeof(c->peer) ? peerlen :
	    sizeof(c->peer));
	c->started = ev_now(EV_DEFAULT);
	c->bfd = -1;
	c->c_can_r = c->c_can_w = 1;
	c->no_detach = !own_records;
	c->state = cfg->proxy_proxy ? CS_PROXYHDR : CS_HANDSHAKE;
	ring_init(&c->up, RING_SLOTS);
	ring_init(&c->down, RING_SLOTS);
	ev_io_init(&c->cw, client_cb, fd, 0);
	ev_io_init(&c->bw, backend_cb, -1, 0);
	ev_init(&c->tw, timeout_cb);
	c->cw.data = c->bw.data = c->tw.data = c;
	conn_timer(c, cfg->ssl_handshake_timeout);
	nconns++;
	conn_pump(c);
}

/* ---------------------------------------------------------------------
 * Worker: accepting, draining, entry point.
 */

static void
accept_resume_cb(EV_P_ ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (!draining && !accept_full)
		listeners_watch(1);
}

static void
accept_cb(EV_P_ ev_io *w, int revents)
{
	const struct listener *l = w->data;
	struct sockaddr_storage peer;
	socklen_t len;
	int i, fd;

	(void)revents;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		if (cfg->max_connections > 0 &&
		    nconns >= (unsigned long)cfg->max_connections) {
			accept_full = 1;
			listeners_watch(0);
			return;
		}
		len = sizeof(peer);
		fd = accept4(w->fd, (struct sockaddr *)&peer, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd != -1) {
			conn_new(fd, &peer, len, l);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			log_warn("cannot accept: %s; pausing", strerror(errno));
			listeners_watch(0);
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
	size_t i;

	if (draining)
		return;
	draining = 1;
	listeners_watch(0);
	ev_timer_stop(EV_A_ &accept_pause_timer);
	for (i = 0; i < nlisteners; i++)
		close(listeners[i].w.fd);
	if (nconns == 0) {
		ev_break(EV_A_ EVBREAK_ALL);
		return;
	}
	ev_timer_init(&drain_timer, drain_timeout_cb,
	    (ev_tstamp)cfg->shutdown_timeout, 0.);
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
	if (*cfg->chroot != '\0' && (chroot(cfg->chroot) == -1 ||
	    chdir("/") == -1)) {
		log_err("cannot chroot to %s: %s", cfg->chroot, strerror(errno));
		return -1;
	}
	if (su->drop_gid && (setgroups(0, NULL) == -1 ||
	    setgid(su->gid) == -1)) {
		log_err("cannot set group %d: %s", (int)su->gid,
		    strerror(errno));
		return -1;
	}
	if (su->drop_uid && setuid(su->uid) == -1) {
		log_err("cannot set user %d: %s", (int)su->uid,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
name_backend(void)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (su->backend.ss_family == AF_UNIX) {
		snprintf(backend_name, sizeof(backend_name), "%s",
		    su->cfg.backend.host);
		return;
	}
	proxy_addr_text((const struct sockaddr *)&su->backend, host,
	    sizeof(host), &port);
	snprintf(backend_name, sizeof(backend_name), "%s:%u", host, port);
}

void
worker_run(const struct setup *s, int parent_fd)
{
	struct ev_loop *loop;
	sigset_t none;
	int own_hello_ok;

	su = s;
	cfg = &s->cfg;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);	/* the parent's business */
	signal(SIGUSR1, SIG_IGN);
	name_backend();
	if (worker_drop_privileges() == -1)
		_exit(2);
	if (ring_pool_init(&pool, POOL_SLOT, 64, 256) == -1 ||
	    ring_pool_init(&rxpool, RX_SIZE, 4, 16) == -1) {
		log_err("out of memory");
		_exit(2);
	}
	if (strcmp(cfg->record_layer, "stud") == 0 &&
	    !(own_records = rec_init() == 0))
		log_info("worker %d: OpenSSL lacks what stud's record layer "
		    "needs; OpenSSL keeps sealing records", (int)getpid());
	loop = ev_default_loop(EVFLAG_AUTO);
	if ((listeners = calloc(s->nfronts, sizeof(*listeners))) == NULL) {
		log_err("out of memory");
		_exit(2);
	}
	/* what stud's own handshakes leave to OpenSSL, server-wide */
	own_hello_ok = own_records && *cfg->alpn_protos == '\0' &&
	    strcmp(cfg->client_verify, "none") == 0 &&
	    !cfg->write_proxy_v2 && !cfg->sni_nomatch_abort;
	own_resumption = own_hello_ok && strcmp(cfg->resumption, "stud") == 0;
	own_hs13 = own_hello_ok && strcmp(cfg->tls13_handshake, "stud") == 0 &&
	    strcmp(cfg->x25519, "stud") == 0;
	own_hs12 = own_hello_ok && strcmp(cfg->tls12_handshake, "stud") == 0 &&
	    strcmp(cfg->x25519, "stud") == 0;
	for (nlisteners = 0; nlisteners < s->nfronts; nlisteners++) {
		struct listener *l = &listeners[nlisteners];

		l->ctx = s->fronts[nlisteners].ctx;
		l->resume = tls_resume_ready(l->ctx, &l->tls13) &&
		    own_resumption;
		l->hs13 = own_hs13 && l->tls13;
		l->hs12 = own_hs12;
		ev_io_init(&l->w, accept_cb, s->fronts[nlisteners].fd,
		    EV_READ);
		l->w.data = l;
		ev_io_start(loop, &l->w);
	}
	ev_timer_init(&accept_pause_timer, accept_resume_cb, ACCEPT_PAUSE, 0.);
	ev_io_init(&parent_watch, parent_gone_cb, parent_fd, EV_READ);
	ev_io_start(loop, &parent_watch);
	ev_signal_init(&term_watch, term_cb, SIGTERM);
	ev_signal_start(loop, &term_watch);
	peersync_start(s);
	ev_run(loop, 0);
	exit(0);
}

