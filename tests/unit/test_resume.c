/* test_resume.c - unit tests of resume.c and its use by tls.c: a real
 * OpenSSL client makes a TLS 1.2 session with stud's server context, then
 * resumes it through resume.c alone (every AEAD suite, with and without
 * extended master secret) and exchanges data with record.c; a tampered
 * Finished fails and the session is forgotten; ClientHellos this path must
 * leave to OpenSSL are refused; the session table's rules. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "configuration.h"
#include "record.h"
#include "resume.h"
#include "tls.h"
#include "tls_fixture.h"
#include "unit.h"

static SSL_CTX		*server_ctx;

/* A client with memory BIOs: c_in is what it will read, c_out what it
 * wrote. */
struct client {
	SSL	*ssl;
	BIO	*c_in;
	BIO	*c_out;
};

static void
client_new(struct client *c, const char *suite, int max, uint64_t opts,
    SSL_SESSION *sess)
{
	static SSL_CTX *ctx;

	if (ctx == NULL) {
		ctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	c->ssl = SSL_new(ctx);
	SSL_set_max_proto_version(c->ssl, max);
	SSL_set_options(c->ssl, opts);
	SSL_set_cipher_list(c->ssl, suite);
	if (sess != NULL)
		SSL_set_session(c->ssl, sess);
	fixture_client_bios(c->ssl, &c->c_in, &c->c_out);
}

/* Free the client, its session left resumable (as after close_notify). */
static void
client_free(struct client *c)
{
	SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c->ssl);
}

/* Everything the client wrote, into buf (size bytes). */
static size_t
client_drain(struct client *c, unsigned char *buf, size_t size)
{
	int n = BIO_read(c->c_out, buf, (int)size);

	return n > 0 ? (size_t)n : 0;
}

/* A full TLS 1.2 handshake with stud's server context (OpenSSL), noted
 * for resume.c as the worker does. Returns the client's session. */
static SSL_SESSION *
full_handshake(const char *suite, uint64_t opts)
{
	struct client c;
	struct rec_state rs;
	unsigned char buf[65536];
	BIO *sbio, *wire;
	SSL *server;
	SSL_SESSION *sess = NULL;
	int i, cd = 0, sd = 0, n;

	memset(&rs, 0, sizeof(rs));
	client_new(&c, suite, TLS1_2_VERSION, opts | SSL_OP_NO_TICKET, NULL);
	BIO_new_bio_pair(&sbio, 0, &wire, 0);
	server = tls_session_new(server_ctx, sbio, &rs);
	for (i = 0; i < 20 && !(cd && sd); i++) {
		if (!cd)
			cd = SSL_do_handshake(c.ssl) == 1;
		while ((n = BIO_read(c.c_out, buf, sizeof(buf))) > 0)
			BIO_write(wire, buf, n);
		if (!sd)
			sd = tls_handshake(server) == 1;
		while ((n = BIO_read(wire, buf, sizeof(buf))) > 0)
			BIO_write(c.c_in, buf, n);
	}
	CHECK(cd && sd);
	if (cd && sd) {
		tls_resume_note(server);
		sess = SSL_get1_session(c.ssl);
	}
	ERR_clear_error();
	tls_session_free(server, 1);
	BIO_free(wire);
	client_free(&c);
	rec_wipe(&rs);
	return sess;
}

/* The ClientHello of a client offering sess. */
static size_t
hello_of(struct client *c, SSL_SESSION *sess, const char *suite, int max,
    uint64_t opts, unsigned char *buf, size_t size)
{
	client_new(c, suite, max, opts, sess);
	SSL_do_handshake(c->ssl);
	return client_drain(c, buf, size);
}

/* Resume sess through resume.c; tamper flips a bit of the client's
 * Finished. Returns resume_client_finished()'s result; with a verified
 * Finished, data must go both ways through record.c. */
static long
resume(SSL_SESSION *sess, const char *suite, uint64_t opts, int tamper)
{
	unsigned char buf[4096], flight[RESUME_FLIGHT_MAX], fin[12],
	    plain[REC_OPEN_ROOM], rec[64];
	struct resume_hello h;
	struct resume_session s;
	struct rec_state rs;
	struct client c;
	unsigned type;
	size_t n;
	long r, len;

	memset(&rs, 0, sizeof(rs));
	n = hello_of(&c, sess, suite, TLS1_2_VERSION, opts | SSL_OP_NO_TICKET,
	    buf, sizeof(buf));
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_OK);
	CHECK(tls_resume_lookup(h.sid, h.sidlen, &s) == 0);
	CHECK(resume_hello_offers(&h, s.cipher));
	CHECK(s.ems == h.ems);
	r = resume_server_flight(&h, &s, 1, &rs, flight, fin);
	CHECK(r > 0 && r <= RESUME_FLIGHT_MAX);
	/* RFC 8446, 4.1.3: a server able to do TLS 1.3 says it chose 1.2 */
	CHECK(memcmp(flight + 5 + 6 + 24, "DOWNGRD\001", 8) == 0);
	BIO_write(c.c_in, flight, (int)r);
	CHECK(SSL_do_handshake(c.ssl) == 1);
	CHECK(SSL_session_reused(c.ssl) == 1);
	n = client_drain(&c, buf, sizeof(buf));
	if (tamper)
		buf[n - 3] ^= 0x40;
	CHECK(resume_client_finished(&rs, fin, buf, n - 1) == 0);
	r = resume_client_finished(&rs, fin, buf, n);
	if (r > 0) {
		CHECK(r == (long)n);
		/* data both ways */
		CHECK(SSL_write(c.ssl, "ping", 4) == 4);
		n = client_drain(&c, buf, sizeof(buf));
		len = rec_open(&rs, buf, n, plain, &type);
		CHECK(len == 4 && type == REC_APPDATA &&
		    memcmp(plain, "ping", 4) == 0);
		memcpy(rec + rec_head_len(&rs), "pong!", 5);
		len = rec_seal(&rs, REC_APPDATA, rec, 5);
		CHECK(len > 0);
		BIO_write(c.c_in, rec, (int)len);
		CHECK(SSL_read(c.ssl, buf, sizeof(buf)) == 5 &&
		    memcmp(buf, "pong!", 5) == 0);
	}
	OPENSSL_cleanse(&s, sizeof(s));
	client_free(&c);
	rec_wipe(&rs);
	ERR_clear_error();
	return r;
}

static void
test_suites(void)
{
	static const char *suites[] = { "ECDHE-ECDSA-AES128-GCM-SHA256",
	    "ECDHE-ECDSA-AES256-GCM-SHA384",
	    "ECDHE-ECDSA-CHACHA20-POLY1305" };
	SSL_SESSION *sess;
	size_t i;
	int ems;

	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		for (ems = 0; ems < 2; ems++) {
			uint64_t o = ems ? 0 : SSL_OP_NO_EXTENDED_MASTER_SECRET;

			sess = full_handshake(suites[i], o);
			CHECK(sess != NULL);
			/* twice: a resumed session stays resumable */
			CHECK(resume(sess, suites[i], o, 0) > 0);
			CHECK(resume(sess, suites[i], o, 0) > 0);
			SSL_SESSION_free(sess);
		}
}

/* A Finished that does not verify fails, and the session is gone from
 * resume.c's table and from OpenSSL's cache; a handshake OpenSSL failed
 * takes its session out of the table. */
static void
test_tampered_finished(void)
{
	const char *suite = "ECDHE-ECDSA-AES128-GCM-SHA256";
	SSL_SESSION *sess = full_handshake(suite, 0);
	struct resume_session s;
	const unsigned char *id;
	unsigned int idlen;
	SSL *ssl;

	CHECK(resume(sess, suite, 0, 1) < 0);
	id = SSL_SESSION_get_id(sess, &idlen);
	CHECK(tls_resume_lookup(id, idlen, &s) == 0);	/* the caller forgets */
	tls_resume_forget(server_ctx, id, idlen);
	CHECK(tls_resume_lookup(id, idlen, &s) == -1);
	CHECK(!SSL_CTX_remove_session(server_ctx, sess));
	SSL_SESSION_free(sess);
	/* the same check on a session not forgotten: OpenSSL has it */
	sess = full_handshake(suite, 0);
	CHECK(SSL_CTX_remove_session(server_ctx, sess) == 1);
	SSL_SESSION_free(sess);
	/* a handshake OpenSSL failed: its session leaves the table too */
	sess = full_handshake(suite, 0);
	id = SSL_SESSION_get_id(sess, &idlen);
	CHECK(tls_resume_lookup(id, idlen, &s) == 0);
	ssl = SSL_new(server_ctx);
	CHECK(SSL_set_session(ssl, sess) == 1);
	tls_resume_failed(ssl);
	CHECK(tls_resume_lookup(id, idlen, &s) == -1);
	SSL_free(ssl);
	SSL_SESSION_free(sess);
}

/* ClientHellos of real clients this path must not take, or takes. */
static void
test_real_hellos(void)
{
	const char *suite = "ECDHE-ECDSA-AES128-GCM-SHA256";
	SSL_SESSION *sess = full_handshake(suite, 0);
	struct resume_hello h;
	unsigned char buf[4096];
	struct client c;
	size_t n;

	/* no session offered */
	n = hello_of(&c, NULL, suite, TLS1_2_VERSION, SSL_OP_NO_TICKET, buf,
	    sizeof(buf));
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
	client_free(&c);
	/* a session ticket extension: OpenSSL's (it would issue a ticket) */
	n = hello_of(&c, sess, suite, TLS1_2_VERSION, 0, buf, sizeof(buf));
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
	client_free(&c);
	/* TLS 1.3 offered too: noted for the caller */
	n = hello_of(&c, sess, suite, TLS1_3_VERSION, SSL_OP_NO_TICKET, buf,
	    sizeof(buf));
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_OK && h.tls13);
	client_free(&c);
	/* the plain case; then cut short, and with a byte too many */
	n = hello_of(&c, sess, suite, TLS1_2_VERSION, SSL_OP_NO_TICKET, buf,
	    sizeof(buf));
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_OK && !h.tls13 &&
	    h.ems && h.ri && h.reclen == n);
	CHECK(!resume_hello_offers(&h, 0xc030));
	CHECK(resume_hello_offers(&h, 0xc02b));
	CHECK(resume_parse_hello(buf, 3, &h) == RESUME_MORE);
	CHECK(resume_parse_hello(buf, n - 1, &h) == RESUME_MORE);
	CHECK(resume_parse_hello(buf, n + 1, &h) == RESUME_NO);
	client_free(&c);
	SSL_SESSION_free(sess);
}

/* A hand-made ClientHello: suites and extensions given as wire bytes. */
static size_t
make_hello(unsigned char *b, const unsigned char *suites, size_t slen,
    const unsigned char *comp, size_t clen, const unsigned char *exts,
    size_t elen)
{
	size_t n = 9;

	b[n++] = 3;
	b[n++] = 3;
	memset(b + n, 0x11, 32);
	n += 32;
	b[n++] = 32;
	memset(b + n, 0x22, 32);
	n += 32;
	b[n++] = (unsigned char)(slen >> 8);
	b[n++] = (unsigned char)slen;
	memcpy(b + n, suites, slen);
	n += slen;
	b[n++] = (unsigned char)clen;
	memcpy(b + n, comp, clen);
	n += clen;
	if (exts != NULL) {
		b[n++] = (unsigned char)(elen >> 8);
		b[n++] = (unsigned char)elen;
		memcpy(b + n, exts, elen);
		n += elen;
	}
	b[0] = 22;
	b[1] = 3;
	b[2] = 1;
	b[3] = (unsigned char)((n - 5) >> 8);
	b[4] = (unsigned char)(n - 5);
	b[5] = 1;
	b[6] = 0;
	b[7] = (unsigned char)((n - 9) >> 8);
	b[8] = (unsigned char)(n - 9);
	return n;
}

#define HELLO(s, c, e)	make_hello(buf, (const unsigned char *)(s),	\
	sizeof(s) - 1, (const unsigned char *)(c), sizeof(c) - 1,	\
	(const unsigned char *)(e), (e) == NULL ? 0 : sizeof(e) - 1)

static void
test_made_hellos(void)
{
	unsigned char buf[512];
	struct resume_hello h;
	size_t n;

	n = HELLO("\xc0\x2b", "\x00", NULL);
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_OK && !h.ri);
	n = HELLO("\xc0\x2b\x00\xff", "\x01\x00", "\x00\x17\x00\x00");
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_OK && h.ri && h.ems);
	/* the fallback SCSV, odd suites, no null compression */
	n = HELLO("\xc0\x2b\x56\x00", "\x00", NULL);
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
	n = HELLO("\xc0\x2b\x00", "\x00", NULL);
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
	n = HELLO("\xc0\x2b", "\x01", NULL);
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
	/* extensions: repeated, malformed, or OpenSSL's to handle */
	n = HELLO("\xc0\x2b", "\x00", "\x00\x17\x00\x00\x00\x17\x00\x00");
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
	n = HELLO("\xc0\x2b", "\x00", "\x00\x17\x00\x01\x00");
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
	n = HELLO("\xc0\x2b", "\x00", "\xff\x01\x00\x02\x01\x00");
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
	n = HELLO("\xc0\x2b", "\x00", "\x00\x0b\x00\x02\x01\x01");
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
	n = HELLO("\xc0\x2b", "\x00", "\x00\x2b\x00\x03\x02\x03\x04");
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
	n = HELLO("\xc0\x2b", "\x00", "\x00\x2b\x00\x05\x04\x03\x04\x03\x03");
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_OK && h.tls13);
	n = HELLO("\xc0\x2b", "\x00", "\x00\x01\x00\x01\x01");
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
	n = HELLO("\xc0\x2b", "\x00", "\x00\x23\x00\x00");
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
	n = HELLO("\xc0\x2b", "\x00", "\x00\x00\x00\x05\x00\x03\x00\x00\x00");
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);	/* empty name */
	n = HELLO("\xc0\x2b", "\x00", "\x00\x00\x00\x06\x00\x04\x00\x00\x01x");
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_OK);
	n = HELLO("\xc0\x2b", "\x00", "\x00\x10\x00\x03\x00\x01\x00");
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);	/* empty ALPN */
	n = HELLO("\xc0\x2b", "\x00", "\x12\x34\x00\x05");	/* overruns */
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
	n = HELLO("\xc0\x2b", "\x00", "\x12\x34\x00\x00");	/* unknown */
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_OK);
	/* not a ClientHello record */
	n = HELLO("\xc0\x2b", "\x00", NULL);
	buf[0] = 23;
	CHECK(resume_parse_hello(buf, 1, &h) == RESUME_NO);
	buf[0] = 22;
	buf[5] = 2;
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
	buf[5] = 1;
	buf[9 + 1] = 2;			/* TLS 1.1 */
	CHECK(resume_parse_hello(buf, n, &h) == RESUME_NO);
}

static void
test_table(void)
{
	struct resume_session s, out;
	unsigned char id[32], other[32];
	int64_t now = (int64_t)time(NULL);

	memset(&s, 0, sizeof(s));
	memset(id, 0x5a, sizeof(id));
	memcpy(other, id, sizeof(id));
	other[31] ^= 1;
	memset(s.master, 0x77, sizeof(s.master));
	s.cipher = 0xc02b;
	s.expires = now + 100;
	resume_table_store(id, sizeof(id), &s);
	CHECK(resume_table_lookup(id, sizeof(id), now, &out) == 0 &&
	    memcmp(&out, &s, sizeof(s)) == 0);
	CHECK(resume_table_lookup(other, sizeof(other), now, &out) == -1);
	CHECK(resume_table_lookup(id, 31, now, &out) == -1);
	CHECK(resume_table_lookup(id, sizeof(id), now + 101, &out) == -1);
	CHECK(resume_table_lookup(id, 0, now, &out) == -1);
	CHECK(resume_table_lookup(id, 33, now, &out) == -1);
	resume_table_forget(other, sizeof(other));
	CHECK(resume_table_lookup(id, sizeof(id), now, &out) == 0);
	resume_table_forget(id, sizeof(id));
	CHECK(resume_table_lookup(id, sizeof(id), now, &out) == -1);
}

int
main(void)
{
	server_ctx = fixture_server_ctx(NULL);
	CHECK(rec_init() == 0);
	test_table();
	test_made_hellos();
	test_real_hellos();
	test_suites();
	test_tampered_finished();
	SSL_CTX_free(server_ctx);
	rec_cleanup();
	return unit_summary();
}
