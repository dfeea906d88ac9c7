/* test_hs12.c - hs12.c (stud's own TLS 1.2 handshake) and tls_hs12_*() with
 * real OpenSSL clients: every suite and scheme, tickets and IDs OpenSSL
 * resumes, OpenSSL's choice, refusals, tampered client flights, room. */
#define _POSIX_C_SOURCE 200809L	/* mkstemp(), strdup() */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "configuration.h"
#include "hs12.h"
#include "kdf.h"
#include "record.h"
#include "resume.h"
#include "tls.h"
#include "hello_edit.h"
#include "tls_fixture.h"
#include "unit.h"

static const struct suite12 {
	const char	*name;
	unsigned	 iana;
	int		 aead;
	int		 sha384;
} suites[] = {
	{ "ECDHE-RSA-AES128-GCM-SHA256", 0xc02f, REC_AES_128_GCM, 0 },
	{ "ECDHE-RSA-AES256-GCM-SHA384", 0xc030, REC_AES_256_GCM, 1 },
	{ "ECDHE-RSA-CHACHA20-POLY1305", 0xcca8, REC_CHACHA20_POLY1305, 0 },
};
#define NSUITES	(sizeof(suites) / sizeof(suites[0]))

/* The schemes this path signs with, as a client's only sigalgs. */
static const struct scheme12 {
	const char	*list;
	unsigned	 scheme;
	int		 type;		/* SSL_get_peer_signature_type_nid() */
	int		 md;		/* SSL_get_peer_signature_nid() */
} schemes[] = {
	{ "RSA-PSS+SHA256", 0x0804, EVP_PKEY_RSA_PSS, NID_sha256 },
	{ "rsa_pss_rsae_sha384", 0x0805, EVP_PKEY_RSA_PSS, NID_sha384 },
	{ "RSA+SHA256", 0x0401, EVP_PKEY_RSA, NID_sha256 },
	{ "rsa_pkcs1_sha384", 0x0501, EVP_PKEY_RSA, NID_sha384 },
};
#define NSCHEMES	(sizeof(schemes) / sizeof(schemes[0]))

static EVP_PKEY		*rsa_key;		/* one RSA-2048 key for all */
static unsigned char	 flight_buf[65536];	/* about the worker's */
static char		 served_name[256];	/* openssl_serves()'s server's
						 * SSL_get_servername() */



/* ---------------------------------------------------------------------
 * Server contexts.
 */

static void
set_str(char **field, const char *v)
{
	free(*field);
	*field = strdup(v);
	CHECK(*field != NULL);
}

/* stud's server context (default configuration but: the server's
 * preference if prefer, groups if not NULL, a ticket key file of random
 * keys if keyfile) with no certificate. */
static SSL_CTX *
bare_ctx(int prefer, const char *groups, int keyfile)
{
	struct stud_config cfg;
	char path[] = "/tmp/test_hs12.XXXXXX", err[256], line[128];
	unsigned char raw[80];
	SSL_CTX *ctx = NULL;
	int fd = -1, n;

	config_init(&cfg);
	cfg.prefer_server_ciphers = prefer;
	if (groups != NULL)
		set_str(&cfg.ecdh_curve, groups);
	if (keyfile) {
		fd = mkstemp(path);
		CHECK(fd != -1 && RAND_bytes(raw, sizeof(raw)) == 1);
		n = EVP_EncodeBlock((unsigned char *)line, raw, sizeof(raw));
		line[n++] = '\n';
		CHECK(fd != -1 && write(fd, line, (size_t)n) == n);
		set_str(&cfg.ticket_key_file, path);
	}
	ctx = tls_ctx_new(&cfg, err, sizeof(err));
	CHECK(ctx != NULL);
	if (fd != -1) {
		close(fd);
		unlink(path);
	}
	config_free(&cfg);
	return ctx;
}

/* An RSA-2048 context (rsa_key) as bare_ctx() makes them. */
static SSL_CTX *
rsa_ctx(int prefer, const char *groups, int keyfile)
{
	SSL_CTX *ctx = bare_ctx(prefer, groups, keyfile);

	if (ctx != NULL)
		fixture_add_cert(ctx, rsa_key, EVP_sha256());
	return ctx;
}

/* ---------------------------------------------------------------------
 * The client.
 */

/* ciphers: the TLS 1.2 cipher list; sigalgs, groups (NULL for OpenSSL's);
 * max: the highest version (0: TLS 1.3, OpenSSL's default); opts: options
 * set; sess: to offer. */
static void
client_new(struct fixture_client *c, const char *ciphers,
    const char *sigalgs, const char *groups, int max, uint64_t opts,
    SSL_SESSION *sess)
{
	fixture_client_new(c, max, opts, sigalgs, groups, sess, "hs12.test");
	if (ciphers != NULL)
		CHECK(SSL_set_cipher_list(c->ssl, ciphers) == 1);
}

/* A TLS 1.2 client: the usual case here. */
static void
client12(struct fixture_client *c, const char *ciphers,
    const char *sigalgs, uint64_t opts, SSL_SESSION *sess)
{
	client_new(c, ciphers, sigalgs, NULL, TLS1_2_VERSION, opts, sess);
}

/* What the client negotiated: the suite's name, the server's signature
 * type and hash. */
struct seen {
	const char	*suite;
	int		 type;
	int		 md;
};

static void
client_saw(struct fixture_client *c, struct seen *s)
{
	const SSL_CIPHER *ci = SSL_get_current_cipher(c->ssl);

	s->suite = ci != NULL ? SSL_CIPHER_get_name(ci) : NULL;
	s->type = s->md = 0;
	SSL_get_peer_signature_type_nid(c->ssl, &s->type);
	SSL_get_peer_signature_nid(c->ssl, &s->md);
}

/* ---------------------------------------------------------------------
 * OpenSSL as the server, on a stud context.
 */

/* A real OpenSSL server (SSL_new(ctx), memory BIOs) serves client c from
 * its first byte; data both ways after. Returns whether both sides
 * resumed a session (checked equal), or -1 when the handshake failed. */
static int
openssl_serves(SSL_CTX *ctx, struct fixture_client *c)
{
	BIO *sbio, *wire;
	SSL *server = SSL_new(ctx);
	const char *name;
	int reused;

	BIO_new_bio_pair(&sbio, 0, &wire, 0);
	SSL_set_bio(server, sbio, sbio);
	SSL_set_accept_state(server);
	reused = fixture_serve(server, SSL_do_handshake, wire, c);
	name = reused == -1 ? NULL :
	    SSL_get_servername(server, TLSEXT_NAMETYPE_host_name);
	snprintf(served_name, sizeof(served_name), "%s",
	    name != NULL ? name : "");
	ERR_clear_error();
	SSL_set_shutdown(server, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(server);
	BIO_free(wire);
	return reused;
}

/* sess offered to OpenSSL serving ctx by a TLS 1.2 client with these
 * settings: openssl_serves()'s result. */
static int
resume_by_openssl(SSL_CTX *ctx, SSL_SESSION *sess, const char *ciphers,
    uint64_t opts)
{
	struct fixture_client c;
	int r;

	client12(&c, ciphers, NULL, opts, sess);
	r = openssl_serves(ctx, &c);
	fixture_client_free(&c);
	return r;
}

/* ---------------------------------------------------------------------
 * Handshakes through hs12.c.
 */

/* One handshake: the client, its hello, our first flight (a copy) and
 * state, the client's flight. */
struct run12 {
	struct fixture_client	 c;
	unsigned char	 hello[4096];
	size_t		 hellolen;
	struct hs12_hello h;
	struct hs12_state st;
	struct hs12_state saved;	/* st as the first flight left it */
	unsigned char	 flight[16384];
	size_t		 flightlen;
	unsigned char	 cf[4096];	/* ClientKeyExchange, CCS, Finished */
	size_t		 cflen;
	size_t		 ske;		/* ServerKeyExchange's offset in flight */
	int		 any_hello;	/* a hello not for this path is no
					 * failed check */
};

static struct run12 *
run_new(void)
{
	struct run12 *r = calloc(1, sizeof(*r));

	CHECK(r != NULL);
	if (r == NULL)
		abort();
	return r;
}

static void
run_free(struct run12 *r)
{
	hs12_state_wipe(&r->st);
	fixture_client_free(&r->c);
	free(r);
}

/* The handshake messages of our first flight (one record): ServerHello,
 * Certificate, ServerKeyExchange, ServerHelloDone, each well framed. Notes
 * the ServerKeyExchange's offset. Returns 1 if so. */
static int
flight_ok(struct run12 *r)
{
	static const unsigned char types[4] = { 2, 11, 12, 14 };
	const unsigned char *f = r->flight;
	size_t off = 5, len, i;

	if (r->flightlen < 5 || f[0] != 22 || hello_get16(f + 1) != 0x0303 ||
	    hello_get16(f + 3) != r->flightlen - 5)
		return 0;
	for (i = 0; i < 4; i++) {
		if (off + 4 > r->flightlen || f[off] != types[i] ||
		    f[off + 1] != 0)
			return 0;
		len = hello_get16(f + off + 2);
		if (types[i] == 12)
			r->ske = off;
		if (types[i] == 14 && len != 0)
			return 0;
		off += 4 + len;
	}
	return off == r->flightlen;
}

/* From the client's hello (r->c made) to its flight, through
 * tls_hs12_flight() with ctx (first: the connection's first context).
 * Returns the flight's length, tls_hs12_flight()'s -1, or -2 when the
 * hello was not for this path (a failed check unless r->any_hello). */
static long
start12(SSL_CTX *first, SSL_CTX *ctx, struct run12 *r)
{
	const unsigned char *sh = flight_buf + 5;
	long n;
	int e;

	r->hellolen = fixture_client_hello(&r->c, r->hello, sizeof(r->hello));
	e = hs12_parse_hello(r->hello, r->hellolen, &r->h);
	if (!r->any_hello)
		CHECK(e == HS12_OK);
	if (e != HS12_OK)
		return -2;
	CHECK(r->h.reclen == r->hellolen && r->h.msg == r->hello + 5 &&
	    r->h.msglen == r->hellolen - 5 && r->h.random == r->hello + 11);
	CHECK(strcmp(r->h.sni, "hs12.test") == 0 && r->h.sigalgs != NULL);
	memset(&r->st, 0, sizeof(r->st));
	n = tls_hs12_flight(first, ctx, 0, &r->h, &r->st, flight_buf,
	    sizeof(flight_buf));
	if (n <= 0) {
		CHECK(n == -1);
		memset(&r->st, 0, sizeof(r->st));
		return n;
	}
	CHECK((size_t)n <= sizeof(r->flight));
	if ((size_t)n > sizeof(r->flight))
		return -1;
	memcpy(r->flight, flight_buf, (size_t)n);
	r->flightlen = (size_t)n;
	CHECK(flight_ok(r));
	/* ServerHello: TLS 1.2, our random, the session ID, the suite */
	CHECK(hello_get16(sh + 4) == 0x0303);
	CHECK(memcmp(r->st.randoms, r->h.random, 32) == 0);
	CHECK(memcmp(sh + 6, r->st.randoms + 32, 32) == 0);
	CHECK(sh[38] == r->st.sidlen && (r->st.sidlen == 0 ||
	    memcmp(sh + 39, r->st.sid, r->st.sidlen) == 0));
	CHECK(hello_get16(sh + 39 + r->st.sidlen) == r->st.suite);
	CHECK(r->st.run != NULL && r->st.s != NULL);
	memcpy(&r->saved, &r->st, sizeof(r->st));
	BIO_write(r->c.c_in, flight_buf, (int)n);
	e = SSL_do_handshake(r->c.ssl);
	CHECK(e == -1 && SSL_get_error(r->c.ssl, e) == SSL_ERROR_WANT_READ);
	r->cflen = fixture_client_drain(&r->c, r->cf, sizeof(r->cf));
	/* ClientKeyExchange (X25519: 42 bytes), ChangeCipherSpec, Finished */
	CHECK(r->cflen > 42 + 6 && r->cf[0] == 22 && r->cf[5] == 16 &&
	    hello_get16(r->cf + 3) == 37);
	CHECK(r->cflen > 42 + 6 &&
	    memcmp(r->cf + 42, "\x14\x03\x03\x00\x01\x01", 6) == 0);
	return n;
}

/* A fresh copy of the state the first flight left (its transcript hash
 * rebuilt from the hello and our flight, as hs12.c makes it), for another
 * try at the client's flight. Returns 0 or -1. */
static int
rearm(const struct run12 *r, struct hs12_state *st)
{
	memcpy(st, &r->saved, sizeof(*st));
	st->run = NULL;
	if (kdf_run_start(r->saved.sha384) == -1 ||
	    kdf_run_add(r->h.msg, r->h.msglen) == -1 ||
	    kdf_run_add(r->flight + 5, r->flightlen - 5) == -1 ||
	    (st->run = kdf_run_take()) == NULL)
		return -1;
	return 0;
}

/* Our answer (NewSessionTicket if ticket, ChangeCipherSpec, Finished) is
 * well framed. */
static int
answer_ok(const unsigned char *a, size_t n, int ticket, size_t *tlen)
{
	size_t off = 0;

	*tlen = 0;
	if (ticket) {
		if (n < 15 || a[0] != 22 || a[5] != 4 ||
		    hello_get16(a + 3) != hello_get16(a + 13) + 10 ||
		    hello_get16(a + 7) != hello_get16(a + 13) + 6 || a[6] != 0)
			return 0;
		*tlen = hello_get16(a + 13);
		off = 15 + *tlen;
	}
	return n > off + 6 + 5 &&
	    memcmp(a + off, "\x14\x03\x03\x00\x01\x01", 6) == 0 &&
	    a[off + 6] == 22 && hello_get16(a + off + 9) == n - off - 11;
}

/* The client's flight through hs12_client_flight() (every prefix first:
 * 0, nothing written), our answer to the client, whose handshake then
 * completes. Returns 0, or -1 (a check failed). */
static int
finish12(struct run12 *r, struct rec_state *rs)
{
	unsigned char *ans = malloc(HS12_ANSWER_MAX);
	size_t alen = 1, i, tlen;
	long n;
	int ok = 1;

	CHECK(ans != NULL);
	if (ans == NULL)
		return -1;
	for (i = 0; i < r->cflen; i++) {
		n = hs12_client_flight(&r->st, rs, r->cf, i, ans, &alen);
		ok &= n == 0 && alen == 0;
	}
	CHECK(ok);
	n = hs12_client_flight(&r->st, rs, r->cf, r->cflen, ans, &alen);
	CHECK(n == (long)r->cflen);
	if (n != (long)r->cflen) {
		free(ans);
		return -1;
	}
	CHECK(alen > 0 && alen <= HS12_ANSWER_MAX);
	CHECK(answer_ok(ans, alen, r->st.ticket, &tlen));
	CHECK(rs->version == REC_TLS12 && rs->aead == r->st.aead &&
	    rs->sha384 == r->st.sha384);
	CHECK(rs->rd.seq == 1 && rs->wr.seq == 1);
	BIO_write(r->c.c_in, ans, (int)alen);
	free(ans);
	n = SSL_do_handshake(r->c.ssl);
	CHECK(n == 1);
	return n == 1 ? 0 : -1;
}

/* ---------------------------------------------------------------------
 * 1. Full handshakes: every suite and scheme.
 */

/* A full handshake through hs12.c on ctx (first: the first context) for a
 * TLS 1.2 client with suite su and scheme sc alone; opts: the client's.
 * Returns the client's session (NULL if a check failed); the handshake's
 * state goes to *stout (wipe it) unless NULL. */
static SSL_SESSION *
full12(SSL_CTX *first, SSL_CTX *ctx, const struct suite12 *su,
    const struct scheme12 *sc, uint64_t opts, struct hs12_state *stout)
{
	struct run12 *r = run_new();
	struct rec_state rs;
	SSL_SESSION *sess = NULL;
	struct seen s;
	const unsigned char *ske;

	memset(&rs, 0, sizeof(rs));
	client12(&r->c, su->name, sc->list, opts, NULL);
	if (start12(first, ctx, r) <= 0) {
		CHECK(0);
		goto out;
	}
	CHECK(r->st.suite == su->iana && r->st.aead == su->aead &&
	    r->st.sha384 == su->sha384);
	/* ServerKeyExchange: named curve X25519, 32 bytes, then the scheme */
	ske = r->flight + r->ske + 4;
	CHECK(memcmp(ske, "\x03\x00\x1d\x20", 4) == 0);
	CHECK(hello_get16(ske + 36) == sc->scheme);
	CHECK(hello_get16(ske + 38) == 256 &&
	    hello_get16(r->flight + r->ske + 2) == 36 + 4 + 256);
	/* a context that could do TLS 1.3 marks its random (RFC 8446,
	 * 4.1.3) */
	CHECK(memcmp(r->st.randoms + 56, "DOWNGRD\001", 8) == 0);
	if (finish12(r, &rs) == -1)
		goto out;
	CHECK(SSL_version(r->c.ssl) == TLS1_2_VERSION);
	client_saw(&r->c, &s);
	CHECK(s.suite != NULL && strcmp(s.suite, su->name) == 0);
	CHECK(s.type == sc->type);
	CHECK(s.md == sc->md);
	CHECK(SSL_get_extms_support(r->c.ssl) == 1);
	CHECK(X509_cmp(SSL_get0_peer_certificate(r->c.ssl),
	    SSL_CTX_get0_certificate(ctx)) == 0);
	fixture_data_both_ways(&r->c, &rs);
	sess = SSL_get1_session(r->c.ssl);
out:
	rec_wipe(&rs);
	if (stout != NULL) {		/* theirs to wipe */
		memcpy(stout, &r->st, sizeof(r->st));
		memset(&r->st, 0, sizeof(r->st));
	}
	run_free(r);
	return sess;
}

static void
test_handshakes(SSL_CTX *rsa)
{
	struct hs12_state st;
	SSL_SESSION *sess;
	size_t i, j;

	for (i = 0; i < NSUITES; i++)
		for (j = 0; j < NSCHEMES; j++) {
			sess = full12(rsa, rsa, &suites[i], &schemes[j], 0,
			    &st);
			CHECK(sess != NULL);
			/* the client offered tickets: it has one */
			CHECK(st.ticket == 1 && st.sidlen == 0);
			CHECK(sess != NULL && SSL_SESSION_has_ticket(sess));
			hs12_state_wipe(&st);
			SSL_SESSION_free(sess);
		}
}

/* ---------------------------------------------------------------------
 * 2. Tickets and session IDs, resumed by OpenSSL.
 */

static void
test_tickets(SSL_CTX *rsa, SSL_CTX *keyed)
{
	struct hs12_state st;
	struct resume_session rsess;
	SSL_SESSION *sess;
	SSL_CTX *nt;
	const unsigned char *id;
	unsigned idlen = 0;
	size_t i;
	int tls13;

	for (i = 0; i < NSUITES; i++) {
		sess = full12(rsa, rsa, &suites[i], &schemes[0], 0, &st);
		CHECK(st.ticket == 1 && st.sidlen == 0);
		hs12_state_wipe(&st);
		CHECK(sess != NULL);
		if (sess == NULL)
			continue;
		CHECK(SSL_SESSION_has_ticket(sess));
		CHECK(SSL_SESSION_get_protocol_version(sess) == TLS1_2_VERSION);
		CHECK(SSL_SESSION_get_ticket_lifetime_hint(sess) ==
		    (unsigned long)SSL_CTX_get_timeout(rsa));
		/* OpenSSL on the same context resumes it: OpenSSL's format,
		 * the right master secret, the EMS flag (the client offers
		 * EMS: OpenSSL would not resume a session without it) */
		CHECK(resume_by_openssl(rsa, sess, suites[i].name, 0) == 1);
		/* with the server name the session was made for */
		CHECK(strcmp(served_name, "hs12.test") == 0);
		/* another context's ticket keys: a full handshake */
		CHECK(resume_by_openssl(keyed, sess, suites[i].name, 0) == 0);
		SSL_SESSION_free(sess);
	}

	/* SNI moved the connection from its first context to another: the
	 * ticket is the first's (OpenSSL decrypts tickets before SNI) */
	sess = full12(keyed, rsa, &suites[0], &schemes[0], 0, &st);
	hs12_state_wipe(&st);
	CHECK(sess != NULL);
	if (sess != NULL) {
		CHECK(resume_by_openssl(keyed, sess, suites[0].name, 0) == 1);
		CHECK(resume_by_openssl(rsa, sess, suites[0].name, 0) == 0);
	}
	SSL_SESSION_free(sess);

	/* no ticket asked for: a session ID, kept by tls_hs12_session() */
	for (i = 0; i < NSUITES; i++) {
		sess = full12(rsa, rsa, &suites[i], &schemes[2],
		    SSL_OP_NO_TICKET, &st);
		CHECK(st.ticket == 0 && st.sidlen == 32);
		CHECK(sess != NULL);
		if (sess == NULL) {
			hs12_state_wipe(&st);
			continue;
		}
		CHECK(!SSL_SESSION_has_ticket(sess));
		id = SSL_SESSION_get_id(sess, &idlen);
		CHECK(idlen == 32 && memcmp(id, st.sid, 32) == 0);
		/* not kept yet: OpenSSL makes a new session */
		CHECK(resume_by_openssl(rsa, sess, suites[i].name,
		    SSL_OP_NO_TICKET) == 0);
		tls_hs12_session(rsa, &st);
		CHECK(resume_by_openssl(rsa, sess, suites[i].name,
		    SSL_OP_NO_TICKET) == 1);
		CHECK(strcmp(served_name, "hs12.test") == 0);
		/* and in resume.c's table (on by default), with the extended
		 * master secret */
		CHECK(tls_resume_ready(rsa, &tls13));
		memset(&rsess, 0, sizeof(rsess));
		CHECK(tls_resume_lookup(st.sid, 32, &rsess) == 0);
		CHECK(rsess.ems == 1 && rsess.cipher == suites[i].iana &&
		    rsess.aead == suites[i].aead &&
		    rsess.sha384 == suites[i].sha384 &&
		    memcmp(rsess.master, st.master, 48) == 0);
		hs12_state_wipe(&st);
		SSL_SESSION_free(sess);
	}

	/* a context without tickets: a session ID though the client asks
	 * for a ticket */
	nt = rsa_ctx(0, NULL, 0);
	SSL_CTX_set_options(nt, SSL_OP_NO_TICKET);
	sess = full12(nt, nt, &suites[1], &schemes[1], 0, &st);
	CHECK(st.ticket == 0 && st.sidlen == 32);
	CHECK(sess != NULL && !SSL_SESSION_has_ticket(sess));
	if (sess != NULL) {
		tls_hs12_session(nt, &st);
		CHECK(resume_by_openssl(nt, sess, suites[1].name, 0) == 1);
	}
	hs12_state_wipe(&st);
	SSL_SESSION_free(sess);
	SSL_CTX_free(nt);
}

/* Two handshakes at once on two first contexts with different ticket
 * keys, as a worker interleaves connections: each ticket must be sealed
 * with its own first context's key. */
static void
test_interleaved(SSL_CTX *rsa, SSL_CTX *keyed)
{
	struct run12 *a = run_new(), *b = run_new();
	struct rec_state rsa_rs, rsb;
	SSL_SESSION *sa = NULL, *sb = NULL;
	const char *su = suites[0].name;

	memset(&rsa_rs, 0, sizeof(rsa_rs));
	memset(&rsb, 0, sizeof(rsb));
	client12(&a->c, su, NULL, 0, NULL);
	client12(&b->c, su, NULL, 0, NULL);
	if (start12(rsa, rsa, a) > 0 && start12(keyed, keyed, b) > 0 &&
	    finish12(a, &rsa_rs) == 0 && finish12(b, &rsb) == 0) {
		sa = SSL_get1_session(a->c.ssl);
		sb = SSL_get1_session(b->c.ssl);
	}
	CHECK(sa != NULL && sb != NULL);
	if (sa != NULL && sb != NULL) {
		/* b finished last with its own first context: fine */
		CHECK(resume_by_openssl(keyed, sb, su, 0) == 1);
		/* a's ticket, made after b's first flight, is sealed with
		 * a's first context's key (kept in a's state) */
		CHECK(resume_by_openssl(rsa, sa, su, 0) == 1);
		CHECK(resume_by_openssl(keyed, sa, su, 0) == 0);
	}
	SSL_SESSION_free(sa);
	SSL_SESSION_free(sb);
	rec_wipe(&rsa_rs);
	rec_wipe(&rsb);
	run_free(a);
	run_free(b);
}

/* ---------------------------------------------------------------------
 * 3. OpenSSL's choice.
 */

/* hs12.c's choice for a client with these lists on ctx, as the client sees
 * it, into *ours. Returns 1 when taken, 0 when tls_hs12_flight() left
 * the hello to OpenSSL, -1 when hs12_parse_hello() did. */
static int
ours_choose(SSL_CTX *ctx, const char *ciphers, const char *sigalgs,
    struct seen *ours)
{
	struct run12 *r = run_new();
	struct rec_state rs;
	long n;
	int taken = 0;

	memset(&rs, 0, sizeof(rs));
	memset(ours, 0, sizeof(*ours));
	client12(&r->c, ciphers, sigalgs, 0, NULL);
	r->any_hello = 1;
	n = start12(ctx, ctx, r);
	if (n == -2)
		taken = -1;
	if (n > 0 && finish12(r, &rs) == 0) {
		client_saw(&r->c, ours);
		taken = 1;
	}
	rec_wipe(&rs);
	run_free(r);
	return taken;
}

static void
theirs_choose(SSL_CTX *ctx, const char *ciphers, const char *sigalgs,
    struct seen *theirs)
{
	struct fixture_client c;

	memset(theirs, 0, sizeof(*theirs));
	client12(&c, ciphers, sigalgs, 0, NULL);
	CHECK(openssl_serves(ctx, &c) == 0);
	client_saw(&c, theirs);
	fixture_client_free(&c);
}

static void
test_choice(SSL_CTX *rsa, SSL_CTX *pref)
{
	static const char *ciphers[] = {
	    NULL,			/* OpenSSL's DEFAULT */
	    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
	    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384",
	    "DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	    "ECDHE-RSA-CHACHA20-POLY1305",
	    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256",
	    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:"
	    "ECDHE-RSA-AES128-GCM-SHA256",
	    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305",
	    "AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA256:"
	    "ECDHE-RSA-AES256-GCM-SHA384",
	    "ECDHE-ECDSA-CHACHA20-POLY1305:DHE-RSA-CHACHA20-POLY1305:"
	    "ECDHE-RSA-CHACHA20-POLY1305",
	    "DHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384",
	};
	static const char *sigalgs[] = {
	    NULL,			/* OpenSSL's */
	    "rsa_pkcs1_sha384:rsa_pss_rsae_sha256",
	    "rsa_pss_rsae_sha384:rsa_pkcs1_sha256",
	    "rsa_pkcs1_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha256",
	    "ECDSA+SHA256:rsa_pss_pss_sha256:rsa_pss_rsae_sha256:"
	    "rsa_pkcs1_sha384",
	    "rsa_pss_rsae_sha512:rsa_pkcs1_sha256",
	    "rsa_pkcs1_sha512:rsa_pss_rsae_sha384",
	    "rsa_pkcs1_sha256:rsa_pkcs1_sha384",
	};
	SSL_CTX *ctxs[2] = { rsa, pref };
	struct seen ours, theirs;
	size_t i, j;
	int sp, t, taken = 0, left = 0, parse_no = 0, same = 1;
	int dflt[2] = { 0, 0 };
	int dhe_first = -1, sha512_first[2] = { -1, -1 };

	for (sp = 0; sp < 2; sp++)
		for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
			for (j = 0; j < sizeof(sigalgs) / sizeof(sigalgs[0]);
			    j++) {
				t = ours_choose(ctxs[sp], ciphers[i],
				    sigalgs[j], &ours);
				if (i == 0 && j == 0)
					dflt[sp] = t;
				if (sp == 0 && i == 2 && j == 0)
					dhe_first = t;
				if (i == 0 && j == 6)
					sha512_first[sp] = t;
				if (t <= 0) {
					left++;
					parse_no += t < 0;
					continue;
				}
				taken++;
				theirs_choose(ctxs[sp], ciphers[i], sigalgs[j],
				    &theirs);
				if (ours.suite == NULL || theirs.suite == NULL ||
				    strcmp(ours.suite, theirs.suite) != 0 ||
				    ours.type != theirs.type ||
				    ours.md != theirs.md) {
					same = 0;
					fprintf(stderr, "choice differs (server "
					    "preference %d, ciphers %s, sigalgs "
					    "%s): ours %s %d/%d, OpenSSL's %s "
					    "%d/%d\n", sp, ciphers[i] ?
					    ciphers[i] : "default", sigalgs[j] ?
					    sigalgs[j] : "default", ours.suite ?
					    ours.suite : "-", ours.type, ours.md,
					    theirs.suite ? theirs.suite : "-",
					    theirs.type, theirs.md);
				}
			}
	CHECK(same);
	printf("choice: %d hellos taken by hs12.c (as OpenSSL chooses), %d "
	    "left to OpenSSL (%d by hs12_parse_hello)\n", taken, left,
	    parse_no);
	/* OpenSSL's default client lists: taken in both modes */
	CHECK(dflt[0] == 1 && dflt[1] == 1);
	/* left: with the client's preference, DHE or an ECDSA suite met
	 * first (ciphers 2, 7, 8: 24), rsa_pss_rsae_sha512 or
	 * rsa_pkcs1_sha512 first (sigalgs 5, 6 with the 6 other lists: 12);
	 * with ours, DHE-RSA before any suite of ours (list 8: 8) and
	 * rsa_pss_rsae_sha512 (sigalgs 5 with the 8 other lists: 8). Of
	 * those, list 8 with RSA-only sigalgs offers no ECDHE suite at all
	 * (the client drops ECDSA's), hence no groups: 2 x 6 at the hello */
	CHECK(taken == 92 && left == 52 && parse_no == 12);
	/* DHE first in the client's order: OpenSSL might take it */
	CHECK(dhe_first == 0);
	/* rsa_pkcs1_sha512 first: not ours in the client's order; in ours,
	 * rsa_pss_rsae_sha384 comes first */
	CHECK(sha512_first[0] == 0 && sha512_first[1] == 1);
}

/* The server's groups do not start with X25519: with the server's
 * preference OpenSSL would choose another group, so hs12.c leaves it;
 * with the client's, X25519 (the client's first) is served. Run last: a
 * context's groups change tls.c's process-wide notes. */
static void
test_groups(void)
{
	SSL_CTX *pref = rsa_ctx(1, "P-256:X25519", 0);
	SSL_CTX *cp = rsa_ctx(0, "P-256:X25519", 0);
	struct run12 *r = run_new();
	struct rec_state rs;
	struct fixture_client c;

	memset(&rs, 0, sizeof(rs));
	client12(&r->c, NULL, NULL, 0, NULL);
	CHECK(start12(pref, pref, r) == -1);
	run_free(r);
	client12(&c, NULL, NULL, 0, NULL);
	CHECK(openssl_serves(pref, &c) == 0);
	CHECK(SSL_get_negotiated_group(c.ssl) == NID_X9_62_prime256v1);
	fixture_client_free(&c);

	r = run_new();
	client12(&r->c, NULL, NULL, 0, NULL);
	CHECK(start12(cp, cp, r) > 0 && finish12(r, &rs) == 0);
	CHECK(SSL_get_negotiated_group(r->c.ssl) == NID_X25519);
	rec_wipe(&rs);
	run_free(r);
	client12(&c, NULL, NULL, 0, NULL);
	CHECK(openssl_serves(cp, &c) == 0);
	CHECK(SSL_get_negotiated_group(c.ssl) == NID_X25519);
	fixture_client_free(&c);
	SSL_CTX_free(pref);
	SSL_CTX_free(cp);
}

/* ---------------------------------------------------------------------
 * 4. Hellos and contexts left to OpenSSL.
 */

/* The client's hello and hs12_parse_hello()'s verdict on it. */
static int
parse_of(struct fixture_client *c, struct hs12_hello *h)
{
	unsigned char buf[4096];
	size_t n = fixture_client_hello(c, buf, sizeof(buf));

	CHECK(n > 0);
	return hs12_parse_hello(buf, n, h);
}

static void
test_real_hellos(SSL_CTX *rsa)
{
	unsigned char buf[4096], *p;
	struct hs12_hello h;
	struct hs12_state st;
	struct fixture_client c;
	SSL_SESSION *sess;
	size_t n, i;
	int ok;

	/* the control: a TLS 1.2 client, OpenSSL's defaults */
	client12(&c, NULL, NULL, 0, NULL);
	CHECK(parse_of(&c, &h) == HS12_OK);
	CHECK(h.ticket && h.ri && h.pf && !h.status && h.sigalgs != NULL);
	CHECK(h.suites != NULL && h.suiteslen >= 2 && h.suiteslen % 2 == 0);
	fixture_client_free(&c);
	/* offering TLS 1.3, with and without a session ID */
	client_new(&c, NULL, NULL, NULL, 0, 0, NULL);
	CHECK(parse_of(&c, &h) == HS12_NO);
	fixture_client_free(&c);
	client_new(&c, NULL, NULL, NULL, 0, 0, NULL);
	SSL_clear_options(c.ssl, SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
	CHECK(parse_of(&c, &h) == HS12_NO);
	fixture_client_free(&c);
	/* no extended master secret */
	client12(&c, NULL, NULL, SSL_OP_NO_EXTENDED_MASTER_SECRET, NULL);
	CHECK(parse_of(&c, &h) == HS12_NO);
	fixture_client_free(&c);
	/* no ticket wanted: taken, noted */
	client12(&c, NULL, NULL, SSL_OP_NO_TICKET, NULL);
	CHECK(parse_of(&c, &h) == HS12_OK && !h.ticket);
	fixture_client_free(&c);
	/* a session offered: its ticket (and ID); its ID alone */
	sess = full12(rsa, rsa, &suites[0], &schemes[0], 0, &st);
	hs12_state_wipe(&st);
	CHECK(sess != NULL);
	if (sess != NULL) {
		client12(&c, NULL, NULL, 0, sess);
		CHECK(parse_of(&c, &h) == HS12_NO);
		fixture_client_free(&c);
	}
	SSL_SESSION_free(sess);
	sess = full12(rsa, rsa, &suites[0], &schemes[0], SSL_OP_NO_TICKET,
	    &st);
	tls_hs12_session(rsa, &st);
	hs12_state_wipe(&st);
	CHECK(sess != NULL);
	if (sess != NULL) {
		client12(&c, NULL, NULL, SSL_OP_NO_TICKET, sess);
		CHECK(parse_of(&c, &h) == HS12_NO);
		fixture_client_free(&c);
	}
	SSL_SESSION_free(sess);
	/* groups: X25519 not first, first, missing */
	client_new(&c, NULL, NULL, "P-256:X25519", TLS1_2_VERSION, 0, NULL);
	CHECK(parse_of(&c, &h) == HS12_NO);
	fixture_client_free(&c);
	client_new(&c, NULL, NULL, "X25519:P-256", TLS1_2_VERSION, 0, NULL);
	CHECK(parse_of(&c, &h) == HS12_OK);
	fixture_client_free(&c);
	client_new(&c, NULL, NULL, "P-256:P-384", TLS1_2_VERSION, 0, NULL);
	CHECK(parse_of(&c, &h) == HS12_NO);
	fixture_client_free(&c);
	/* the fallback SCSV */
	client12(&c, NULL, NULL, 0, NULL);
	SSL_set_mode(c.ssl, SSL_MODE_SEND_FALLBACK_SCSV);
	CHECK(parse_of(&c, &h) == HS12_NO);
	fixture_client_free(&c);
	/* OCSP asked for: taken, noted */
	client12(&c, NULL, NULL, 0, NULL);
	SSL_set_tlsext_status_type(c.ssl, TLSEXT_STATUSTYPE_ocsp);
	CHECK(parse_of(&c, &h) == HS12_OK && h.status);
	fixture_client_free(&c);
	/* no SNI: taken, sni empty */
	client12(&c, NULL, NULL, 0, NULL);
	SSL_set_tlsext_host_name(c.ssl, NULL);
	CHECK(parse_of(&c, &h) == HS12_OK && h.sni[0] == '\0');
	fixture_client_free(&c);

	/* cut short: every strict prefix wants more (an exact-size copy
	 * each); a byte too many is not for this path */
	client12(&c, NULL, NULL, 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	fixture_client_free(&c);
	CHECK(hs12_parse_hello(buf, n, &h) == HS12_OK);
	ok = 1;
	for (i = 0; i < n; i++) {
		p = malloc(i ? i : 1);
		if (p == NULL)
			abort();
		memcpy(p, buf, i);
		ok &= hs12_parse_hello(p, i, &h) == HS12_MORE;
		free(p);
	}
	CHECK(ok);
	p = malloc(n + 1);
	if (p == NULL)
		abort();
	memcpy(p, buf, n);
	p[n] = 22;
	CHECK(hs12_parse_hello(p, n + 1, &h) == HS12_NO);
	free(p);
	buf[0] = 23;
	CHECK(hs12_parse_hello(buf, 1, &h) == HS12_NO);
}

/* ClientHellos taken apart and put back together: hello_edit.h. */

/* Add suite cs at the end of the head's suites. */
static void
suite_add(struct parts *q, unsigned cs)
{
	size_t at = 35 + q->head[34];

	hello_put16(q->head + at, hello_get16(q->head + at) + 2);
	hello_put16(q->head + q->headlen, cs);
	q->headlen += 2;
}

/* Real TLS 1.2 hellos modified by hand. */
static void
test_made_hellos(void)
{
	unsigned char buf[4096], b2[8192];
	struct parts *q = malloc(sizeof(*q)), *o = malloc(sizeof(*o));
	struct hs12_hello h;
	struct fixture_client c;
	size_t n;
	int k;

	client12(&c, NULL, NULL, 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	fixture_client_free(&c);
	CHECK(q != NULL && o != NULL && hello_split(buf, n, o) == 0);
	if (q == NULL || o == NULL)
		goto out;
	CHECK(hello_join(o, b2) == n && memcmp(b2, buf, n) == 0);
	CHECK(o->head[34] == 0);
#define TRY(expect) CHECK(hs12_parse_hello(b2, hello_join(q, b2), &h) == \
	(expect))

	*q = *o; TRY(HS12_OK);
	/* a session ID, of 32 or 1 bytes */
	*q = *o; memmove(q->head + 67, q->head + 35, q->headlen - 35);
	memset(q->head + 35, 0xab, 32); q->head[34] = 32; q->headlen += 32;
	TRY(HS12_NO);
	*q = *o; memmove(q->head + 36, q->head + 35, q->headlen - 35);
	q->head[35] = 1; q->head[34] = 1; q->headlen++; TRY(HS12_NO);
	/* a ticket offered; an empty one asked for; none */
	*q = *o; EXT_SET(q, 0x0023, "\x01\x02\x03\x04"); TRY(HS12_NO);
	*q = *o; EXT_SET(q, 0x0023, ""); TRY(HS12_OK); CHECK(h.ticket);
	*q = *o; ext_del(q, ext_find(q, 0x0023)); TRY(HS12_OK);
	CHECK(!h.ticket);
	/* the extended master secret: missing, not empty */
	*q = *o; ext_del(q, ext_find(q, 0x0017)); TRY(HS12_NO);
	*q = *o; EXT_SET(q, 0x0017, "\x00"); TRY(HS12_NO);
	/* legacy_version below TLS 1.2 */
	*q = *o; q->head[1] = 2; TRY(HS12_NO);
	/* supported_versions: TLS 1.2 alone (taken); with 1.3; without 1.2 */
	*q = *o; EXT_SET(q, 0x002b, "\x02\x03\x03"); TRY(HS12_OK);
	*q = *o; EXT_SET(q, 0x002b, "\x04\x03\x03\x03\x04"); TRY(HS12_NO);
	*q = *o; EXT_SET(q, 0x002b, "\x02\x03\x02"); TRY(HS12_NO);
	/* compression: null among others (taken), null missing */
	*q = *o; q->complen = 2; q->comp[0] = 1; q->comp[1] = 0;
	TRY(HS12_OK);
	*q = *o; q->comp[0] = 1; TRY(HS12_NO);
	/* the fallback SCSV; the renegotiation SCSV (noted) */
	*q = *o; suite_add(q, 0x5600); TRY(HS12_NO);
	*q = *o; suite_add(q, 0x00ff); TRY(HS12_OK); CHECK(h.ri);
	/* renegotiation_info: empty (taken), with data (a renegotiation) */
	*q = *o; EXT_SET(q, 0xff01, "\x00"); TRY(HS12_OK); CHECK(h.ri);
	*q = *o; EXT_SET(q, 0xff01, "\x0c\x01\x02\x03\x04\x05\x06\x07\x08"
	    "\x09\x0a\x0b\x0c"); TRY(HS12_NO);
	/* max_fragment_length, pre_shared_key, early_data */
	*q = *o; ext_add(q, 0x0001, "\x02", 1); TRY(HS12_NO);
	*q = *o; ext_add(q, 0x0029, "\x00\x00", 2); TRY(HS12_NO);
	*q = *o; ext_add(q, 0x002a, "", 0); TRY(HS12_NO);
	/* point formats: without uncompressed, with it second, none */
	*q = *o; EXT_SET(q, 0x000b, "\x01\x01"); TRY(HS12_NO);
	*q = *o; EXT_SET(q, 0x000b, "\x02\x01\x00"); TRY(HS12_OK);
	CHECK(h.pf);
	*q = *o; ext_del(q, ext_find(q, 0x000b)); TRY(HS12_OK); CHECK(!h.pf);
	/* signature_algorithms missing or empty */
	*q = *o; ext_del(q, ext_find(q, 0x000d)); TRY(HS12_NO);
	*q = *o; EXT_SET(q, 0x000d, "\x00\x00"); TRY(HS12_NO);
	/* groups: an unknown one (GREASE) before X25519 (taken); P-256,
	 * X448, ffdhe2048 first; none; malformed */
	*q = *o; EXT_SET(q, 0x000a, "\x00\x04\x0a\x0a\x00\x1d"); TRY(HS12_OK);
	*q = *o; EXT_SET(q, 0x000a, "\x00\x04\x00\x17\x00\x1d"); TRY(HS12_NO);
	*q = *o; EXT_SET(q, 0x000a, "\x00\x04\x00\x1e\x00\x1d"); TRY(HS12_NO);
	*q = *o; EXT_SET(q, 0x000a, "\x00\x04\x01\x00\x00\x1d"); TRY(HS12_NO);
	*q = *o; ext_del(q, ext_find(q, 0x000a)); TRY(HS12_NO);
	*q = *o; EXT_SET(q, 0x000a, "\x00\x03\x00\x1d\x00"); TRY(HS12_NO);
	/* a repeated extension */
	*q = *o; k = ext_find(q, 0x000d);
	ext_add(q, 0x000d, q->ext[k].data, q->ext[k].len); TRY(HS12_NO);
	/* status_request: noted */
	*q = *o; ext_add(q, 0x0005, "\x01\x00\x00\x00\x00", 5); TRY(HS12_OK);
	CHECK(h.status);
#undef TRY
out:
	free(q);
	free(o);
}

/* tls_hs12_flight() on ctx with staples for the hello of a TLS 1.2 client
 * (asking for OCSP if ocsp): its result; when it refuses, the output and
 * the state are untouched. */
static long
flight_of(SSL_CTX *ctx, int staples, int ocsp)
{
	static unsigned char out[65536];
	unsigned char buf[4096];
	struct hs12_hello h;
	struct hs12_state st;
	struct fixture_client c;
	size_t n;
	long r;

	client12(&c, NULL, NULL, 0, NULL);
	if (ocsp)
		SSL_set_tlsext_status_type(c.ssl, TLSEXT_STATUSTYPE_ocsp);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	fixture_client_free(&c);
	CHECK(hs12_parse_hello(buf, n, &h) == HS12_OK);
	memset(&st, 0, sizeof(st));
	memset(out, 0xa5, 4096);
	r = tls_hs12_flight(ctx, ctx, staples, &h, &st, out, sizeof(out));
	if (r < 0) {
		CHECK(r == -1);
		CHECK(st.run == NULL);
		CHECK(out[0] == 0xa5 && memcmp(out, out + 1, 4095) == 0);
	} else {
		CHECK(st.run != NULL);
		hs12_state_wipe(&st);
	}
	return r;
}

static void
test_refusals(SSL_CTX *rsa, SSL_CTX *ecdsa)
{
	SSL_CTX *ctx;
	EVP_PKEY *k;
	struct run12 *r;
	struct rec_state rs;

	/* an ECDSA certificate */
	CHECK(flight_of(ecdsa, 0, 0) == -1);
	/* OCSP asked for and a response to staple; either alone */
	CHECK(flight_of(rsa, 1, 1) == -1);
	CHECK(flight_of(rsa, 0, 1) > 0);
	CHECK(flight_of(rsa, 1, 0) > 0);
	/* RSA-1024 */
	ctx = bare_ctx(0, NULL, 0);
	SSL_CTX_set_security_level(ctx, 1);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	fixture_add_cert(ctx, k, EVP_sha256());
	EVP_PKEY_free(k);
	CHECK(flight_of(ctx, 0, 0) == -1);
	SSL_CTX_free(ctx);
	/* two certificates */
	ctx = rsa_ctx(0, NULL, 0);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	fixture_add_cert(ctx, k, EVP_sha256());
	EVP_PKEY_free(k);
	CHECK(flight_of(ctx, 0, 0) == -1);
	SSL_CTX_free(ctx);
	/* no TLS 1.2 */
	ctx = rsa_ctx(0, NULL, 0);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	CHECK(flight_of(ctx, 0, 0) == -1);
	SSL_CTX_free(ctx);
	ctx = rsa_ctx(0, NULL, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TLSv1_2);
	CHECK(flight_of(ctx, 0, 0) == -1);
	SSL_CTX_free(ctx);
	/* TLS 1.2 at most: served, and no downgrade mark in the random */
	ctx = rsa_ctx(0, NULL, 0);
	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	r = run_new();
	memset(&rs, 0, sizeof(rs));
	client12(&r->c, NULL, NULL, 0, NULL);
	CHECK(start12(ctx, ctx, r) > 0);
	CHECK(memcmp(r->st.randoms + 56, "DOWNGRD", 7) != 0);
	CHECK(finish12(r, &rs) == 0);
	rec_wipe(&rs);
	run_free(r);
	SSL_CTX_free(ctx);
}

/* ---------------------------------------------------------------------
 * 5. The client's flight tampered with or forged.
 */

/* hs12_client_flight() on a fresh copy of r's state for the n bytes at
 * buf: its result; rs must be left alone unless it is taken. */
static long
try_flight(const struct run12 *r, const unsigned char *buf, size_t n,
    unsigned char *ans, size_t *alen, unsigned char master[48])
{
	struct hs12_state st;
	struct rec_state rs, before;
	long res;

	memset(&rs, 0x5a, sizeof(rs));
	memcpy(&before, &rs, sizeof(rs));
	if (rearm(r, &st) == -1) {
		CHECK(0);
		return -1000;
	}
	res = hs12_client_flight(&st, &rs, buf, n, ans, alen);
	if (res <= 0) {
		CHECK(memcmp(&rs, &before, sizeof(rs)) == 0 && *alen == 0);
	} else if (master != NULL)
		memcpy(master, st.master, 48);
	hs12_state_wipe(&st);
	rec_wipe(&rs);
	return res;
}

/* The Finished record of the client's flight (cf + 48) replaced by msg
 * (len bytes) sealed with the client's keys (from master) as record type,
 * sequence number seq, at out with the rest of the flight. Its length. */
static size_t
forge(const struct run12 *r, const unsigned char master[48],
    unsigned type, uint64_t seq, const unsigned char *msg, size_t len,
    unsigned char *out)
{
	struct rec_state f;
	long n;

	memset(&f, 0, sizeof(f));
	CHECK(rec_start12(&f, (enum rec_aead)r->saved.aead, r->saved.sha384,
	    master, r->saved.randoms, r->saved.randoms + 32) == 0);
	f.wr = f.rd;			/* seal as the client */
	f.wr.seq = seq;
	memcpy(out, r->cf, 48);
	memcpy(out + 48 + rec_head_len(&f), msg, len);
	n = rec_seal(&f, type, out + 48, len);
	CHECK(n > 0);
	rec_wipe(&f);
	return 48 + (size_t)(n > 0 ? n : 0);
}

static void
test_tampering(SSL_CTX *rsa, const struct suite12 *su)
{
	struct run12 *r = run_new();
	unsigned char bad[4096], ans[HS12_ANSWER_MAX], master[48], fin[64];
	unsigned char plain[REC_OPEN_ROOM];
	struct rec_state f;
	size_t alen, n, i, fl, len_at[6];
	unsigned type = 0;
	long res;
	int bit, ok_never = 1, ok_zero = 1, ok_ver = 1, j, in_len;

	client12(&r->c, su->name, NULL, 0, NULL);
	if (start12(rsa, rsa, r) <= 0)
		goto out;
	n = r->cflen;
	fl = n - 48;			/* the Finished record */
	/* the untouched flight, on a copy of the state: taken */
	res = try_flight(r, r->cf, n, ans, &alen, master);
	CHECK(res == (long)n && alen > 0);
	/* a second copy gives the same master secret (the flight fixes it) */
	memset(fin, 0, 48);
	CHECK(try_flight(r, r->cf, n, ans, &alen, fin) == (long)n &&
	    memcmp(fin, master, 48) == 0);

	/* every bit of the three records: never taken; 0 (more to come)
	 * only for a bit of a record's length */
	len_at[0] = 3; len_at[1] = 4; len_at[2] = 42 + 3; len_at[3] = 42 + 4;
	len_at[4] = 48 + 3; len_at[5] = 48 + 4;
	for (i = 0; i < n; i++)
		for (bit = 0; bit < 8; bit++) {
			memcpy(bad, r->cf, n);
			bad[i] ^= (unsigned char)(1 << bit);
			res = try_flight(r, bad, n, ans, &alen, NULL);
			for (in_len = 0, j = 0; j < 6; j++)
				in_len |= len_at[j] == i;
			/* a record's minor version: protocol_version (it
			 * is not authenticated: the AEAD's data has 0x0303
			 * whatever the header says) */
			if (i == 2 || i == 42 + 2 || i == 48 + 2)
				ok_ver &= res == -70;
			ok_never &= res <= 0;
			if (res == 0)
				ok_zero &= in_len;
		}
	CHECK(ok_never);
	CHECK(ok_zero);
	CHECK(ok_ver);

	/* more than the flight: what follows is left */
	memcpy(bad, r->cf, n);
	memcpy(bad + n, "\x17\x03\x03\x00\x01\x00", 6);
	CHECK(try_flight(r, bad, n + 6, ans, &alen, NULL) == (long)n);

	/* the Finished forged with the client's keys: the right one (taken),
	 * wrong verify_data, wrong type, wrong length, wrong sequence
	 * number, as another record type */
	memset(&f, 0, sizeof(f));
	CHECK(rec_start12(&f, (enum rec_aead)su->aead, su->sha384, master,
	    r->saved.randoms, r->saved.randoms + 32) == 0);
	CHECK(rec_open(&f, r->cf + 48, fl, plain, &type) == 16 &&
	    type == REC_HANDSHAKE && memcmp(plain, "\x14\x00\x00\x0c", 4) ==
	    0);
	rec_wipe(&f);
	memcpy(fin, plain, 16);
	CHECK(try_flight(r, bad, forge(r, master, 22, 0, fin, 16, bad), ans,
	    &alen, NULL) == (long)n);
	for (i = 4; i < 16; i++) {
		fin[i] ^= 0x10;
		res = try_flight(r, bad, forge(r, master, 22, 0, fin, 16, bad),
		    ans, &alen, NULL);
		CHECK(res == -REC_DECRYPT_ERROR);
		fin[i] ^= 0x10;
	}
	fin[0] = 15;
	CHECK(try_flight(r, bad, forge(r, master, 22, 0, fin, 16, bad), ans,
	    &alen, NULL) == -REC_DECODE_ERROR);
	fin[0] = 20;
	fin[3] = 11;
	CHECK(try_flight(r, bad, forge(r, master, 22, 0, fin, 15, bad), ans,
	    &alen, NULL) == -REC_DECODE_ERROR);
	fin[3] = 12;
	fin[16] = 0;
	CHECK(try_flight(r, bad, forge(r, master, 22, 0, fin, 17, bad), ans,
	    &alen, NULL) == -REC_DECODE_ERROR);
	CHECK(try_flight(r, bad, forge(r, master, 22, 0, fin, 15, bad), ans,
	    &alen, NULL) == -REC_DECODE_ERROR);
	CHECK(try_flight(r, bad, forge(r, master, 22, 1, fin, 16, bad), ans,
	    &alen, NULL) == -REC_BAD_RECORD_MAC);
	CHECK(try_flight(r, bad, forge(r, master, 23, 0, fin, 16, bad), ans,
	    &alen, NULL) == -REC_UNEXPECTED_MESSAGE);
	/* the Finished in the clear */
	memcpy(bad, r->cf, 48);
	memcpy(bad + 48, "\x16\x03\x03\x00\x10", 5);
	memcpy(bad + 53, fin, 16);
	res = try_flight(r, bad, 48 + 21, ans, &alen, NULL);
	CHECK(res == -REC_BAD_RECORD_MAC);

	/* the client's share: small order (all zeros, then u = 1) */
	memcpy(bad, r->cf, n);
	memset(bad + 10, 0, 32);
	CHECK(try_flight(r, bad, n, ans, &alen, NULL) == -47);
	bad[10] = 1;
	CHECK(try_flight(r, bad, n, ans, &alen, NULL) == -47);
	/* a ClientKeyExchange of 31 bytes, well framed */
	memcpy(bad, "\x16\x03\x03\x00\x24\x10\x00\x00\x20\x1f", 10);
	memcpy(bad + 10, r->cf + 10, 31);
	memcpy(bad + 41, r->cf + 42, n - 42);
	CHECK(try_flight(r, bad, n - 1, ans, &alen, NULL) == -REC_DECODE_ERROR);
	/* another message in its place (a Certificate) */
	memcpy(bad, r->cf, n);
	bad[5] = 11;
	CHECK(try_flight(r, bad, n, ans, &alen, NULL) ==
	    -REC_UNEXPECTED_MESSAGE);
	/* the ChangeCipherSpec first; missing; not 01; an alert instead */
	memcpy(bad, r->cf + 42, 6);
	memcpy(bad + 6, r->cf, 42);
	memcpy(bad + 48, r->cf + 48, fl);
	CHECK(try_flight(r, bad, n, ans, &alen, NULL) ==
	    -REC_UNEXPECTED_MESSAGE);
	memcpy(bad, r->cf, 42);
	memcpy(bad + 42, r->cf + 48, fl);
	CHECK(try_flight(r, bad, n - 6, ans, &alen, NULL) ==
	    -REC_UNEXPECTED_MESSAGE);
	memcpy(bad, r->cf, n);
	bad[47] = 2;
	CHECK(try_flight(r, bad, n, ans, &alen, NULL) ==
	    -REC_UNEXPECTED_MESSAGE);
	memcpy(bad, r->cf, 42);
	memcpy(bad + 42, "\x15\x03\x03\x00\x02\x02\x28", 7);
	memcpy(bad + 49, r->cf + 48, fl);
	CHECK(try_flight(r, bad, n + 1, ans, &alen, NULL) ==
	    -REC_UNEXPECTED_MESSAGE);

	/* cut short: 0, the state not consumed; then the real state takes the
	 * whole flight (finish12() tries every prefix first) and the client
	 * completes */
	memset(&f, 0, sizeof(f));
	if (finish12(r, &f) == 0)
		fixture_data_both_ways(&r->c, &f);
	rec_wipe(&f);
out:
	run_free(r);
}

/* ---------------------------------------------------------------------
 * 6. Room.
 */

static void
test_room(SSL_CTX *rsa)
{
	unsigned char hb[4096], *out;
	struct hs12_hello h;
	struct hs12_state st;
	struct fixture_client c;
	size_t n, room, first_ok = 0, certlen = 0, full = 0;
	long r;
	int ok = 1, mono = 1;

	client12(&c, NULL, NULL, 0, NULL);
	n = fixture_client_hello(&c, hb, sizeof(hb));
	fixture_client_free(&c);
	CHECK(hs12_parse_hello(hb, n, &h) == HS12_OK);
	/* the Certificate message's length, from a flight */
	memset(&st, 0, sizeof(st));
	r = tls_hs12_flight(rsa, rsa, 0, &h, &st, flight_buf,
	    sizeof(flight_buf));
	CHECK(r > 0);
	if (r > 0) {
		size_t sh = 4 + hello_get16(flight_buf + 7);

		full = (size_t)r;
		CHECK(flight_buf[5 + sh] == 11);
		certlen = 4 + ((size_t)flight_buf[5 + sh + 1] << 16 |
		    hello_get16(flight_buf + 5 + sh + 2));
	}
	hs12_state_wipe(&st);
	for (room = 0; room < 20000; room += room < 900 ? 61 : 1) {
		out = malloc(room ? room : 1);
		if (out == NULL)
			abort();
		memset(&st, 0, sizeof(st));
		r = tls_hs12_flight(rsa, rsa, 0, &h, &st, out, room);
		ok &= r == -1 || (r > 0 && (size_t)r <= room);
		if (r > 0 && first_ok == 0)
			first_ok = room;
		mono &= first_ok == 0 || r > 0;
		if (r > 0)
			hs12_state_wipe(&st);
		else
			ok &= st.run == NULL;
		free(out);
		if (first_ok != 0 && room > first_ok + 30)
			break;
	}
	CHECK(ok);
	CHECK(mono);
	/* refused below HS12_FLIGHT_BASE besides the Certificate, as hs12.h
	 * says; the flight itself is well under that */
	CHECK(first_ok == HS12_FLIGHT_BASE + certlen);
	CHECK(full > 0 && full < first_ok);
}

int
main(void)
{
	SSL_CTX *rsa, *pref, *keyed, *ecdsa;
	size_t i;

	CHECK(rec_init() == 0);
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	CHECK(rsa_key != NULL);
	if (rsa_key == NULL)
		return unit_summary();
	ecdsa = fixture_server_ctx(NULL);
	rsa = rsa_ctx(0, NULL, 0);
	pref = rsa_ctx(1, NULL, 0);
	keyed = rsa_ctx(0, NULL, 1);

	test_handshakes(rsa);
	test_tickets(rsa, keyed);
	test_interleaved(rsa, keyed);
	test_choice(rsa, pref);
	test_real_hellos(rsa);
	test_made_hellos();
	test_refusals(rsa, ecdsa);
	for (i = 0; i < NSUITES; i++)
		test_tampering(rsa, &suites[i]);
	test_room(rsa);
	test_groups();

	SSL_CTX_free(rsa);
	SSL_CTX_free(pref);
	SSL_CTX_free(keyed);
	SSL_CTX_free(ecdsa);
	fixture_clients_done();
	EVP_PKEY_free(rsa_key);
	rec_cleanup();
	return unit_summary();
}
