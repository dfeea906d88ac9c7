/* tls_fixture.h - for the unit tests that drive stud's TLS code with a real
 * OpenSSL client: stud's server context (tls_ctx_new() with the default
 * configuration) holding a fresh self-signed P-256 certificate, and a
 * client over memory BIOs that counts its sessions. */
#ifndef STUD_TLS_FIXTURE_H
#define STUD_TLS_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <openssl/err.h>

#include "configuration.h"
#include "record.h"
#include "tls.h"
#include "unit.h"

/* Make ssl a client over memory BIOs: *in holds what it will read (EOF
 * reads as "retry"), *out what it wrote. */
static inline void
fixture_client_bios(SSL *ssl, BIO **in, BIO **out)
{
	*in = BIO_new(BIO_s_mem());
	*out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(*in, -1);
	SSL_set_bio(ssl, *in, *out);
	SSL_set_connect_state(ssl);
}

/* Give ctx a certificate for key, self-signed with md. */
static inline void
fixture_add_cert(SSL_CTX *ctx, EVP_PKEY *key, const EVP_MD *md)
{
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	CHECK(X509_sign(x, key, md) > 0);
	CHECK(ctx != NULL && SSL_CTX_use_certificate(ctx, x) == 1);
	CHECK(ctx != NULL && SSL_CTX_use_PrivateKey(ctx, key) == 1);
	X509_free(x);
}

/* The server context, or NULL (a failed check); x25519: the --x25519
 * setting, NULL for the default. */
static inline SSL_CTX *
fixture_server_ctx(const char *x25519)
{
	struct stud_config cfg;
	char err[256];
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	SSL_CTX *ctx;

	config_init(&cfg);
	if (x25519 != NULL) {
		free(cfg.x25519);
		cfg.x25519 = malloc(strlen(x25519) + 1);
		CHECK(cfg.x25519 != NULL);
		if (cfg.x25519 != NULL)
			memcpy(cfg.x25519, x25519, strlen(x25519) + 1);
	}
	ctx = tls_ctx_new(&cfg, err, sizeof(err));
	CHECK(ctx != NULL);
	fixture_add_cert(ctx, key, EVP_sha256());
	EVP_PKEY_free(key);
	config_free(&cfg);
	return ctx;
}

/* A client with memory BIOs: c_in is what it will read, c_out what it
 * wrote; tickets counts the sessions it was given, sess is the last. */
struct fixture_client {
	SSL		*ssl;
	BIO		*c_in;
	BIO		*c_out;
	int		 tickets;
	SSL_SESSION	*sess;
};

/* The clients' context, made on first use. */
static inline SSL_CTX **
fixture_client_ctxp(void)
{
	static SSL_CTX *ctx;

	return &ctx;
}

static inline int
fixture_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct fixture_client *c = SSL_get_app_data(ssl);

	c->tickets++;
	SSL_SESSION_free(c->sess);
	c->sess = sess;
	return 1;			/* we keep the reference */
}

/* A new client asking for server name sni: max the highest version (0:
 * OpenSSL's), opts options set, sigalgs and groups NULL for OpenSSL's,
 * sess to offer (NULL: none). Suites are the caller's to set after. */
static inline void
fixture_client_new(struct fixture_client *c, int max, uint64_t opts,
    const char *sigalgs, const char *groups, SSL_SESSION *sess,
    const char *sni)
{
	SSL_CTX **ctx = fixture_client_ctxp();

	if (*ctx == NULL) {
		*ctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_verify(*ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_session_cache_mode(*ctx,
		    SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(*ctx, fixture_new_session_cb);
	}
	memset(c, 0, sizeof(*c));
	c->ssl = SSL_new(*ctx);
	SSL_set_app_data(c->ssl, c);
	if (max != 0)
		SSL_set_max_proto_version(c->ssl, max);
	if (opts != 0)
		SSL_set_options(c->ssl, opts);
	if (sigalgs != NULL)
		CHECK(SSL_set1_sigalgs_list(c->ssl, sigalgs) == 1);
	if (groups != NULL)
		CHECK(SSL_set1_groups_list(c->ssl, groups) == 1);
	if (sess != NULL)
		CHECK(SSL_set_session(c->ssl, sess) == 1);
	SSL_set_tlsext_host_name(c->ssl, sni);
	fixture_client_bios(c->ssl, &c->c_in, &c->c_out);
}

static inline void
fixture_client_free(struct fixture_client *c)
{
	SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c->ssl);
	SSL_SESSION_free(c->sess);
	ERR_clear_error();
}

/* Free the clients' context (for leak checkers). */
static inline void
fixture_clients_done(void)
{
	SSL_CTX_free(*fixture_client_ctxp());
	*fixture_client_ctxp() = NULL;
}

/* Everything the client wrote, into buf (size bytes). */
static inline size_t
fixture_client_drain(struct fixture_client *c, unsigned char *buf,
    size_t size)
{
	int n = BIO_read(c->c_out, buf, (int)size);

	return n > 0 ? (size_t)n : 0;
}

/* The client's ClientHello. */
static inline size_t
fixture_client_hello(struct fixture_client *c, unsigned char *buf,
    size_t size)
{
	CHECK(SSL_do_handshake(c->ssl) == -1);
	return fixture_client_drain(c, buf, size);
}

/* One exchange between the handshaken client and rs (record.c): the
 * client's up reaches rs as one whole, authentic record, and rs's down
 * reaches the client. */
static inline void
fixture_exchange(struct fixture_client *c, struct rec_state *rs,
    const char *up, const char *down)
{
	unsigned char buf[4096], plain[REC_OPEN_ROOM], rec[64];
	size_t n, nu = strlen(up), nd = strlen(down);
	unsigned type = 0;
	long len;

	CHECK(SSL_write(c->ssl, up, (int)nu) == (int)nu);
	n = fixture_client_drain(c, buf, sizeof(buf));
	CHECK(n > 0 && rec_frame(buf, n) == (long)n);
	len = rec_open(rs, buf, n, plain, &type);
	CHECK(len == (long)nu && type == REC_APPDATA &&
	    memcmp(plain, up, nu) == 0);
	memcpy(rec + rec_head_len(rs), down, nd);
	len = rec_seal(rs, REC_APPDATA, rec, nd);
	CHECK(len > 0);
	BIO_write(c->c_in, rec, (int)len);
	CHECK(SSL_read(c->ssl, buf, sizeof(buf)) == (int)nd &&
	    memcmp(buf, down, nd) == 0);
}

/* Data both ways, twice, between the handshaken client and rs (record.c):
 * each record whole and authentic, the sequence numbers moving on. */
static inline void
fixture_data_both_ways(struct fixture_client *c, struct rec_state *rs)
{
	fixture_exchange(c, rs, "ping", "pong!");
	fixture_exchange(c, rs, "again", "ok");
}

/* Client c and an OpenSSL server (its BIO pair's other end is wire,
 * handshake() its SSL_do_handshake: stud's tls_handshake() or OpenSSL's)
 * handshake, then data goes both ways. Returns whether both resumed a
 * session (checked equal), or -1 when the handshake failed. */
static inline int
fixture_serve(SSL *server, int (*handshake)(SSL *), BIO *wire,
    struct fixture_client *c)
{
	unsigned char buf[65536];
	int i, cd = 0, sd = 0, k, reused;

	for (i = 0; i < 20 && !(cd && sd); i++) {
		if (!cd)
			cd = SSL_do_handshake(c->ssl) == 1;
		while ((k = BIO_read(c->c_out, buf, sizeof(buf))) > 0)
			BIO_write(wire, buf, k);
		if (!sd)
			sd = handshake(server) == 1;
		while ((k = BIO_read(wire, buf, sizeof(buf))) > 0)
			BIO_write(c->c_in, buf, k);
	}
	if (!cd || !sd)
		return -1;
	CHECK(SSL_write(c->ssl, "ping", 4) == 4);
	while ((k = BIO_read(c->c_out, buf, sizeof(buf))) > 0)
		BIO_write(wire, buf, k);
	CHECK(SSL_read(server, buf, sizeof(buf)) == 4 &&
	    memcmp(buf, "ping", 4) == 0);
	CHECK(SSL_write(server, "pong", 4) == 4);
	while ((k = BIO_read(wire, buf, sizeof(buf))) > 0)
		BIO_write(c->c_in, buf, k);
	CHECK(SSL_read(c->ssl, buf, sizeof(buf)) == 4 &&
	    memcmp(buf, "pong", 4) == 0);
	reused = SSL_session_reused(server);
	CHECK(SSL_session_reused(c->ssl) == reused);
	return reused;
}

#endif /* STUD_TLS_FIXTURE_H */
