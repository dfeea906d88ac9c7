/*
 * floor - the cost of OpenSSL itself: a minimal single-process nonblocking
 * TLS server with no backend. It handshakes and answers proto.h from memory,
 * so a terminator's CPU per handshake (or per MiB) can be read against what
 * the TLS library alone needs on this machine.
 *
 *   floor -p PORT [-a ADDR] CERT.pem      (certificate chain + private key)
 *
 * Configured like a sensible terminator: TLS 1.2 and 1.3, OpenSSL's built-in
 * server session cache, stateless tickets (OpenSSL's default key), no
 * renegotiation, SSL_MODE_RELEASE_BUFFERS. Stops on SIGTERM.
 */
#define _GNU_SOURCE
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proto.h"
#define SRV_NAME "floor"
#include "srv.h"

struct fconn {
	int fd;
	struct proto_in in;
	int handshaken;
	uint32_t ev;
	SSL *ssl;
};

static char reply[REPLY_LEN];
static char filler[FILLER_LEN];
static char scratch[64 * 1024];

static void
die_ssl(const char *what)
{
	fprintf(stderr, "floor: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void
want(struct fconn *c, uint32_t ev)
{
	srv_want(c->fd, &c->ev, ev, c);
}

static void
conn_close(struct fconn *c)
{
	/* Keep the session of a completed handshake resumable, whatever way
	 * the client closed (see SSL_free's eviction of unclosed sessions). */
	if (c->handshaken)
		SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN |
		    SSL_RECEIVED_SHUTDOWN);
	SSL_free(c->ssl);
	close(c->fd);
	free(c);
}

/* After an SSL call returned r <= 0: 1 = wait (interest set), 0 = close. */
static int
ssl_wait(struct fconn *c, int r)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		want(c, EPOLLIN);
		return 1;
	case SSL_ERROR_WANT_WRITE:
		want(c, EPOLLOUT);
		return 1;
	case SSL_ERROR_ZERO_RETURN:	/* close_notify: answer it, close */
		SSL_shutdown(c->ssl);
		return 0;
	default:
		ERR_clear_error();
		return 0;
	}
}

static void
handle(struct fconn *c)
{
	int r;

	for (;;) {
		const char *out;
		int len;

		switch (c->in.state) {
		case ST_HS:
			r = SSL_do_handshake(c->ssl);
			if (r == 1) {
				c->handshaken = 1;
				c->in.state = ST_REQ;
				continue;
			}
			break;
		case ST_REQ:
		case ST_SINK:
			r = SSL_read(c->ssl, scratch, sizeof(scratch));
			if (r > 0) {
				if (proto_feed(&c->in, scratch, (size_t)r) == -1)
					goto drop;
				continue;
			}
			break;
		case ST_REPLY:
		case ST_OK:
			out = c->in.state == ST_REPLY ? reply : "OK\n";
			len = c->in.state == ST_REPLY ? REPLY_LEN : 3;
			r = SSL_write(c->ssl, out + c->in.off, len - (int)c->in.off);
			if (r > 0) {
				c->in.off += (size_t)r;
				if ((int)c->in.off == len)
					c->in.state = ST_REQ;
				continue;
			}
			break;
		case ST_DOWNLOAD:
			if (c->in.left == 0) {
				c->in.state = ST_REQ;
				continue;
			}
			len = c->in.left < 16384 ? (int)c->in.left : 16384;
			r = SSL_write(c->ssl, filler, len);
			if (r > 0) {
				c->in.left -= (uint64_t)r;
				continue;
			}
			break;
		default:
			goto drop;
		}
		if (ssl_wait(c, r))
			return;
		goto drop;
	}
drop:
	conn_close(c);
}

static SSL_CTX *
make_ctx(const char *pem)
{
	static const unsigned char sid_ctx[] = "floor";
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		die_ssl("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	if (SSL_CTX_use_certificate_chain_file(ctx, pem) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, pem, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		die_ssl("cannot load the certificate and key");
	return ctx;
}

static SSL_CTX *ctx;

static void
on_accept(int fd)
{
	struct fconn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, fd) != 1)
		goto fail;
	SSL_set_accept_state(c->ssl);
	c->fd = fd;
	c->ev = EPOLLIN;
	if (srv_add(fd, c) == -1)
		goto fail;
	handle(c);
	return;
fail:
	if (c != NULL)
		SSL_free(c->ssl);
	free(c);
	close(fd);
}

static void
on_ready(void *ptr)
{
	handle(ptr);
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	int port = 0, opt;

	while ((opt = getopt(argc, argv, "a:p:")) != -1) {
		switch (opt) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (port <= 0 || optind != argc - 1)
		goto usage;
	raise_nofile();
	proto_fill_reply(reply);
	memset(filler, '.', sizeof(filler));
	srv_signals();
	ctx = make_ctx(argv[optind]);
	srv_run(srv_listen(addr, port, 0), on_accept, on_ready);
	SSL_CTX_free(ctx);
	return 0;
usage:
	fprintf(stderr, "usage: floor -p PORT [-a ADDR] CERT.pem\n");
	return 2;
}
