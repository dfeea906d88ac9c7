/* test_hs13.c - unit tests of hs13.c, stud's own TLS 1.3 full handshake,
 * and of tls_hs13_flight(), which serves it an SSL_CTX: a real OpenSSL
 * client (memory BIOs) completes handshakes through hs13.c alone with ECDSA
 * P-256, P-384 and RSA-2048 certificates, every TLS 1.3 suite and both
 * RSA-PSS schemes, then data goes both ways through record.c and the
 * client counts the tickets; the suite and scheme chosen are OpenSSL's
 * choice; OpenSSL resumes those tickets (keyed by the first context);
 * tampered, forged or misplaced Finished records and ChangeCipherSpecs are
 * refused, a Finished in fragments taken; the ClientHellos this path leaves to
 * OpenSSL (real ones, cut short, and real ones modified by hand); the
 * flights it refuses (stapling, signature_algorithms_cert, no common suite
 * or scheme, contexts it cannot serve, too little room), and OpenSSL
 * taking over after a refusal. */
#define _POSIX_C_SOURCE 200809L	/* mkstemp() */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "configuration.h"
#include "hs13.h"
#include "record.h"
#include "tls.h"
#include "hello_edit.h"
#include "tls_fixture.h"
#include "unit.h"

#define TLS_AES128	"TLS_AES_128_GCM_SHA256"
#define TLS_AES256	"TLS_AES_256_GCM_SHA384"
#define TLS_CHACHA	"TLS_CHACHA20_POLY1305_SHA256"

static const char *suites[] = { TLS_AES128, TLS_AES256, TLS_CHACHA };

static unsigned char	 flight_buf[65536];	/* about the worker's */

/* ---------------------------------------------------------------------
 * Server contexts.
 */

/* stud's server context (default configuration) with no certificate. */
static SSL_CTX *
bare_ctx(void)
{
	struct stud_config cfg;
	char err[256];
	SSL_CTX *ctx;

	config_init(&cfg);
	ctx = tls_ctx_new(&cfg, err, sizeof(err));
	CHECK(ctx != NULL);
	config_free(&cfg);
	return ctx;
}

/* A context like fixture_server_ctx()'s, for a new key: "RSA" with bits,
 * or "EC" on curve. */
static SSL_CTX *
key_ctx(const char *type, const char *curve, size_t bits)
{
	SSL_CTX *ctx = bare_ctx();
	EVP_PKEY *key = curve != NULL ?
	    EVP_PKEY_Q_keygen(NULL, NULL, type, curve) :
	    EVP_PKEY_Q_keygen(NULL, NULL, type, bits);

	CHECK(key != NULL);
	if (ctx != NULL && key != NULL)
		fixture_add_cert(ctx, key, EVP_sha256());
	EVP_PKEY_free(key);
	return ctx;
}

/* A P-256 context whose ticket key comes from a file: not the process's
 * random one, which every other context shares. */
static SSL_CTX *
keyfile_ctx(void)
{
	struct stud_config cfg;
	char path[] = "/tmp/test_hs13.XXXXXX", err[256], line[128];
	unsigned char raw[80];
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	SSL_CTX *ctx = NULL;
	int fd = mkstemp(path), n;

	CHECK(fd != -1 && RAND_bytes(raw, sizeof(raw)) == 1);
	n = EVP_EncodeBlock((unsigned char *)line, raw, sizeof(raw));
	line[n++] = '\n';
	CHECK(fd != -1 && write(fd, line, (size_t)n) == n);
	config_init(&cfg);
	free(cfg.ticket_key_file);
	cfg.ticket_key_file = malloc(sizeof(path));
	if (fd != -1 && cfg.ticket_key_file != NULL) {
		memcpy(cfg.ticket_key_file, path, sizeof(path));
		ctx = tls_ctx_new(&cfg, err, sizeof(err));
	}
	CHECK(ctx != NULL);
	if (ctx != NULL && key != NULL)
		fixture_add_cert(ctx, key, EVP_sha256());
	if (fd != -1) {
		close(fd);
		unlink(path);
	}
	config_free(&cfg);
	EVP_PKEY_free(key);
	return ctx;
}

/* ---------------------------------------------------------------------
 * The client.
 */

/* suite: TLS 1.3 suites (NULL: OpenSSL's); sigalgs, groups: NULL for
 * OpenSSL's; max: the highest version (0: TLS 1.3); sess: to offer. */
static void
client_new(struct fixture_client *c, const char *suite,
    const char *sigalgs, const char *groups, int max, SSL_SESSION *sess)
{
	fixture_client_new(c, max, 0, sigalgs, groups, sess, "hs13.test");
	if (suite != NULL)
		CHECK(SSL_set_ciphersuites(c->ssl, suite) == 1);
}

/* ClientHellos taken apart and put back together: hello_edit.h. */

/* ---------------------------------------------------------------------
 * Handshakes.
 */

/* From the client's hello to its Finished through hs13.c with ctx (first:
 * the connection's first context). The client's last flight goes to out
 * (*outlen bytes); rs and fin are ready for hs13_client_finished().
 * Returns 0, or -1 (a check failed). */
static int
to_finished(SSL_CTX *first, SSL_CTX *ctx, struct fixture_client *c,
    struct rec_state *rs, unsigned char fin[48], unsigned char *out,
    size_t size, size_t *outlen)
{
	struct hs13_hello h;
	size_t n;
	long r;

	n = fixture_client_hello(c, out, size);
	CHECK(hs13_parse_hello(out, n, &h) == HS13_OK);
	CHECK(h.reclen == n && h.msg == out + 5 && h.msglen == n - 5);
	CHECK(strcmp(h.sni, "hs13.test") == 0);
	CHECK(h.share != NULL && h.sigalgs != NULL && h.certalgs == NULL);
	CHECK(!h.status);
	r = tls_hs13_flight(first, ctx, 0, &h, rs, flight_buf,
	    sizeof(flight_buf), fin);
	CHECK(r > 0 && (size_t)r <= sizeof(flight_buf));
	if (r <= 0)
		return -1;
	/* ServerHello echoing the session ID, then a ChangeCipherSpec if
	 * there was one (RFC 8446, D.4), then sealed records */
	n = 5 + hello_get16(flight_buf + 3);
	CHECK(flight_buf[0] == 22 && flight_buf[5] == 2 && n < (size_t)r);
	CHECK(flight_buf[5 + 38] == h.sidlen &&
	    memcmp(flight_buf + 5 + 39, h.sid, h.sidlen) == 0);
	if (h.sidlen > 0)
		CHECK(memcmp(flight_buf + n, "\x14\x03\x03\x00\x01\x01", 6) ==
		    0);
	else
		CHECK(flight_buf[n] == 23);
	BIO_write(c->c_in, flight_buf, (int)r);
	CHECK(SSL_do_handshake(c->ssl) == 1);
	*outlen = fixture_client_drain(c, out, size);
	CHECK(*outlen > 6);
	return *outlen > 6 ? 0 : -1;
}

/* a. A full handshake through hs13.c: suite and sigalgs the client's
 * only ones (sigalgs NULL: OpenSSL's); the server's signature must be of
 * type sig_type with hash sig_md; tickets as configured. Returns the
 * client's last session (for b), or NULL. */
static SSL_SESSION *
full(SSL_CTX *first, SSL_CTX *ctx, const char *suite, const char *sigalgs,
    int sig_type, int sig_md, int tickets)
{
	unsigned char buf[4096], fin[48];
	struct rec_state rs;
	struct fixture_client c;
	SSL_SESSION *sess = NULL;
	size_t n, i;
	int nid = 0, ok = 1;

	memset(&rs, 0, sizeof(rs));
	client_new(&c, suite, sigalgs, NULL, 0, NULL);
	if (to_finished(first, ctx, &c, &rs, fin, buf, sizeof(buf), &n) == -1)
		goto out;
	CHECK(SSL_version(c.ssl) == TLS1_3_VERSION);
	CHECK(strcmp(SSL_CIPHER_get_name(SSL_get_current_cipher(c.ssl)),
	    suite) == 0);
	CHECK(SSL_get_peer_signature_type_nid(c.ssl, &nid) == 1 &&
	    nid == sig_type);
	CHECK(SSL_get_peer_signature_nid(c.ssl, &nid) == 1 && nid == sig_md);
	/* the client's ChangeCipherSpec, then its Finished */
	CHECK(memcmp(buf, "\x14\x03\x03\x00\x01\x01", 6) == 0);
	for (i = 0; i < n; i++)
		ok &= hs13_client_finished(&rs, fin, buf, i) == 0;
	CHECK(ok);
	CHECK(hs13_client_finished(&rs, fin, buf, n) == (long)n);
	fixture_data_both_ways(&c, &rs);
	CHECK(c.tickets == tickets);
	if (c.sess != NULL) {
		CHECK(SSL_SESSION_has_ticket(c.sess));
		CHECK(SSL_SESSION_get_protocol_version(c.sess) ==
		    TLS1_3_VERSION);
	}
	sess = c.sess;
	c.sess = NULL;
out:
	fixture_client_free(&c);
	rec_wipe(&rs);
	return sess;
}

/* A client without middlebox compatibility: no session ID, so no
 * ChangeCipherSpec either way. */
static void
test_no_compat(SSL_CTX *ctx)
{
	unsigned char buf[4096], fin[48];
	struct rec_state rs;
	struct fixture_client c;
	size_t n;

	memset(&rs, 0, sizeof(rs));
	client_new(&c, TLS_AES128, NULL, NULL, 0, NULL);
	SSL_clear_options(c.ssl, SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
	if (to_finished(ctx, ctx, &c, &rs, fin, buf, sizeof(buf), &n) == 0) {
		CHECK(buf[0] == 23);
		CHECK(hs13_client_finished(&rs, fin, buf, n - 1) == 0);
		CHECK(hs13_client_finished(&rs, fin, buf, n) == (long)n);
		fixture_data_both_ways(&c, &rs);
		CHECK(c.tickets == 1);
	}
	fixture_client_free(&c);
	rec_wipe(&rs);
}

/* OpenSSL (tls_session_new(), tls_handshake()) serves the client whose
 * first bytes are pre (n bytes); data both ways after. Returns whether
 * the server resumed a session, or -1 when the handshake failed. */
static int
openssl_serves(SSL_CTX *ctx, struct fixture_client *c,
    const unsigned char *pre, size_t n)
{
	struct rec_state rs;
	BIO *sbio, *wire;
	SSL *server;
	int reused;

	memset(&rs, 0, sizeof(rs));
	BIO_new_bio_pair(&sbio, 0, &wire, 0);
	server = tls_session_new(ctx, sbio, &rs);
	BIO_write(wire, pre, (int)n);
	reused = fixture_serve(server, tls_handshake, wire, c);
	ERR_clear_error();
	tls_session_free(server, 1);
	BIO_free(wire);
	rec_wipe(&rs);
	return reused;
}

/* b. sess (from hs13.c's ticket) offered to OpenSSL serving ctx: hs13.c
 * leaves the hello alone (not without its pre_shared_key). Returns
 * openssl_serves()'s result. */
static int
resume_by_openssl(SSL_CTX *ctx, SSL_SESSION *sess, const char *suite,
    const char *sigalgs)
{
	unsigned char buf[4096], buf2[4096];
	struct hs13_hello h;
	struct parts *q = malloc(sizeof(*q));
	struct fixture_client c;
	size_t n;
	int r;

	client_new(&c, suite, sigalgs, NULL, 0, sess);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	CHECK(hs13_parse_hello(buf, n, &h) == HS13_NO);
	CHECK(q != NULL && hello_split(buf, n, q) == 0);
	if (q != NULL) {
		CHECK(q->next > 0 && q->ext[q->next - 1].type == 0x0029);
		ext_del(q, ext_find(q, 0x0029));
		CHECK(hs13_parse_hello(buf2, hello_join(q, buf2), &h) ==
		    HS13_OK);
	}
	free(q);
	r = openssl_serves(ctx, &c, buf, n);
	fixture_client_free(&c);
	return r;
}

static void
test_handshakes(SSL_CTX *ecdsa, SSL_CTX *p384, SSL_CTX *rsa, SSL_CTX *other)
{
	static const char *schemes[] = { "rsa_pss_rsae_sha256",
	    "rsa_pss_rsae_sha384" };
	static const int mds[] = { NID_sha256, NID_sha384 };
	SSL_SESSION *sess;
	size_t i, j;

	for (i = 0; i < 3; i++) {
		/* ECDSA P-256, one ticket (the default) */
		sess = full(ecdsa, ecdsa, suites[i], NULL, EVP_PKEY_EC,
		    NID_sha256, 1);
		CHECK(sess != NULL);
		if (sess != NULL) {
			/* another context's ticket keys: a full handshake */
			CHECK(resume_by_openssl(other, sess, suites[i],
			    NULL) == 0);
			/* (OpenSSL's client offers a TLS 1.3 ticket once) */
			CHECK(resume_by_openssl(ecdsa, sess, suites[i],
			    NULL) == 1);
		}
		SSL_SESSION_free(sess);
		/* ECDSA P-384, no ticket */
		sess = full(p384, p384, suites[i], NULL, EVP_PKEY_EC,
		    NID_sha384, 0);
		CHECK(sess == NULL);
		SSL_SESSION_free(sess);
		/* RSA-2048, both PSS schemes, two tickets */
		for (j = 0; j < 2; j++) {
			sess = full(rsa, rsa, suites[i], schemes[j],
			    EVP_PKEY_RSA_PSS, mds[j], 2);
			CHECK(sess != NULL);
			if (sess != NULL)
				CHECK(resume_by_openssl(rsa, sess, suites[i],
				    schemes[j]) == 1);
			SSL_SESSION_free(sess);
		}
	}
	/* SNI moved the connection from the first context to another: the
	 * ticket is the first's (OpenSSL decrypts tickets before SNI) */
	sess = full(other, ecdsa, TLS_AES128, NULL, EVP_PKEY_EC, NID_sha256, 1);
	CHECK(sess != NULL);
	if (sess != NULL) {
		CHECK(resume_by_openssl(ecdsa, sess, TLS_AES128, NULL) == 0);
		CHECK(resume_by_openssl(other, sess, TLS_AES128, NULL) == 1);
	}
	SSL_SESSION_free(sess);
}

/* The suite and signature scheme hs13.c chooses for a client with these
 * preferences, and OpenSSL's for the same client on the same context:
 * into ours and theirs (a suite's name, and the hash's nid). */
static void
both_choose(SSL_CTX *ctx, const char *suite, const char *sigalgs,
    const char **ours, int *our_md, const char **theirs, int *their_md)
{
	unsigned char buf[4096], fin[48];
	struct rec_state rs;
	struct fixture_client c;
	size_t n;

	memset(&rs, 0, sizeof(rs));
	*ours = *theirs = NULL;
	*our_md = *their_md = 0;
	client_new(&c, suite, sigalgs, NULL, 0, NULL);
	if (to_finished(ctx, ctx, &c, &rs, fin, buf, sizeof(buf), &n) == 0) {
		*ours = SSL_CIPHER_get_name(SSL_get_current_cipher(c.ssl));
		SSL_get_peer_signature_nid(c.ssl, our_md);
	}
	fixture_client_free(&c);
	rec_wipe(&rs);
	client_new(&c, suite, sigalgs, NULL, 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	CHECK(openssl_serves(ctx, &c, buf, n) == 0);
	*theirs = SSL_CIPHER_get_name(SSL_get_current_cipher(c.ssl));
	SSL_get_peer_signature_nid(c.ssl, their_md);
	fixture_client_free(&c);
}

/* hs13.c chooses the suite and scheme OpenSSL would: in the client's
 * order, or with the server's preference in ours. */
static void
test_choice(SSL_CTX *ecdsa, SSL_CTX *rsa)
{
	static const char *orders[] = {
	    TLS_CHACHA ":" TLS_AES128 ":" TLS_AES256,
	    TLS_AES128 ":" TLS_CHACHA,
	    TLS_AES128 ":" TLS_AES256,
	    TLS_AES256 ":" TLS_AES128,
	};
	static const char *schemes[] = {
	    "rsa_pss_rsae_sha384:rsa_pss_rsae_sha256",
	    "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384",
	    "rsa_pkcs1_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha256",
	};
	SSL_CTX *pref[2] = { key_ctx("EC", "P-256", 0),
	    key_ctx("RSA", NULL, 2048) };
	const char *ours, *theirs;
	size_t i;
	int server_pref, our_md, their_md;

	for (i = 0; i < 2; i++)
		SSL_CTX_set_options(pref[i], SSL_OP_CIPHER_SERVER_PREFERENCE);
	for (server_pref = 0; server_pref < 2; server_pref++) {
		for (i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
			both_choose(server_pref ? pref[0] : ecdsa, orders[i],
			    NULL, &ours, &our_md, &theirs, &their_md);
			CHECK(ours != NULL && theirs != NULL &&
			    strcmp(ours, theirs) == 0);
		}
		for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
			both_choose(server_pref ? pref[1] : rsa, TLS_AES128,
			    schemes[i], &ours, &our_md, &theirs, &their_md);
			CHECK(ours != NULL && our_md != 0 &&
			    our_md == their_md);
		}
	}
	SSL_CTX_free(pref[0]);
	SSL_CTX_free(pref[1]);
}

/* ---------------------------------------------------------------------
 * c. The client's Finished, tampered with or forged.
 */

/* Seal a handshake record of len bytes of msg as the client would, with
 * rs's read keys (the client's handshake keys), at rec. Its length. */
static long
forge(const struct rec_state *rs, unsigned type, const unsigned char *msg,
    size_t len, unsigned char *rec)
{
	struct rec_state f = *rs;

	f.wr = rs->rd;
	memcpy(rec + 5, msg, len);
	return rec_seal(&f, type, rec, len);
}

/* The Finished msg (len bytes) forged in records of step bytes from the
 * client's keys in rs; how: 0 plain, 1 a ChangeCipherSpec after the first
 * fragment, 2 an alert after it, 3 the last record tampered with. Checks
 * hs13_client_finished() on every prefix of the records (0, and the whole
 * taken, when plain; an alert or 0 otherwise) and leaves rs as it was.
 * Returns 1 when every check held. */
static int
fragments(struct rec_state *rs, const unsigned char fin[48],
    const unsigned char *msg, size_t len, size_t step, int how)
{
	unsigned char recs[4096];
	struct rec_state f, saved;
	size_t used = 0, i, k;
	long r;
	int ok = 1, good;

	memcpy(&saved, rs, sizeof(saved));
	memcpy(&f, rs, sizeof(f));
	f.wr = rs->rd;
	for (i = 0; i < len; i += step) {
		k = len - i < step ? len - i : step;
		memcpy(recs + used + 5, msg + i, k);
		used += (size_t)rec_seal(&f, REC_HANDSHAKE, recs + used, k);
		if (i == 0 && how == 1) {
			memcpy(recs + used, "\x14\x03\x03\x00\x01\x01", 6);
			used += 6;
		} else if (i == 0 && how == 2) {
			memcpy(recs + used + 5, "\x01\x00", 2);
			used += (size_t)rec_seal(&f, REC_ALERT, recs + used, 2);
		}
	}
	if (how == 3)
		recs[used - 1] ^= 1;
	good = how == 0 && len >= 4 && msg[0] == 20 &&
	    CRYPTO_memcmp(msg + 4, fin, len - 4) == 0;
	for (i = 0; i <= used; i++) {
		r = hs13_client_finished(rs, fin, recs, i);
		if (i < used)
			ok &= how == 0 ? r == 0 : r <= 0;
		else
			ok &= good ? r == (long)used : r < 0;
		memcpy(rs, &saved, sizeof(saved));
	}
	rec_wipe(&f);
	rec_wipe(&saved);
	return ok;
}

static void
test_tampering(SSL_CTX *ctx, const char *suite)
{
	static const unsigned char ccs[6] = { 20, 3, 3, 0, 1, 1 };
	unsigned char buf[4096], bad[4096], fin[48], msg[64], rec[128];
	struct rec_state rs, saved;
	struct fixture_client c;
	size_t n, i, hl;
	long r;
	int ok_ret = 1, ok_same = 1, bit;

	memset(&rs, 0, sizeof(rs));
	client_new(&c, suite, NULL, NULL, 0, NULL);
	if (to_finished(ctx, ctx, &c, &rs, fin, buf, sizeof(buf), &n) == -1)
		goto out;
	hl = rs.sha384 ? 48 : 32;
	memcpy(&saved, &rs, sizeof(rs));

	/* every bit of the ChangeCipherSpec and of the Finished record: never
	 * taken; a record that does not authenticate leaves rs alone */
	for (i = 0; i < n; i++)
		for (bit = 0; bit < 8; bit++) {
			memcpy(bad, buf, n);
			bad[i] ^= (unsigned char)(1 << bit);
			r = hs13_client_finished(&rs, fin, bad, n);
			if (i == 2) {
				/* the ChangeCipherSpec's legacy_record_version:
				 * ignored (RFC 8446, 5.1), as the record is */
				ok_ret &= r == (long)n;
				memcpy(&rs, &saved, sizeof(rs));
				continue;
			}
			ok_ret &= r <= 0;
			if (i >= 6 + 5)	/* the ciphertext, the tag */
				ok_ret &= r == -REC_BAD_RECORD_MAC;
			ok_same &= memcmp(&rs, &saved, sizeof(rs)) == 0;
			memcpy(&rs, &saved, sizeof(rs));
		}
	CHECK(ok_ret);
	CHECK(ok_same);
	memcpy(bad, buf, n);
	bad[n - 3] ^= 0x40;
	CHECK(hs13_client_finished(&rs, fin, bad, n) == -REC_BAD_RECORD_MAC);
	CHECK(memcmp(&rs, &saved, sizeof(rs)) == 0);

	/* the right Finished in the clear; an alert in the clear */
	memcpy(bad, ccs, 6);
	memcpy(bad + 6, "\x16\x03\x03\x00", 4);
	bad[10] = (unsigned char)(4 + hl);
	memcpy(bad + 11, "\x14\x00\x00", 3);
	bad[14] = (unsigned char)hl;
	memcpy(bad + 15, fin, hl);
	CHECK(hs13_client_finished(&rs, fin, bad, 15 + hl) ==
	    -REC_UNEXPECTED_MESSAGE);
	CHECK(hs13_client_finished(&rs, fin, bad + 6, 9 + hl) ==
	    -REC_UNEXPECTED_MESSAGE);
	CHECK(hs13_client_finished(&rs, fin,
	    (const unsigned char *)"\x15\x03\x03\x00\x02\x02\x28", 7) ==
	    -REC_UNEXPECTED_MESSAGE);
	/* the encrypted record's outer type changed to handshake */
	memcpy(bad, buf, n);
	bad[6] = 22;
	CHECK(hs13_client_finished(&rs, fin, bad, n) ==
	    -REC_UNEXPECTED_MESSAGE);
	/* ChangeCipherSpecs that are not exactly 01 */
	memcpy(bad, buf, n);
	bad[5] = 2;
	CHECK(hs13_client_finished(&rs, fin, bad, n) < 0);
	memcpy(bad, "\x14\x03\x03\x00\x02\x01\x01", 7);
	memcpy(bad + 7, buf + 6, n - 6);
	CHECK(hs13_client_finished(&rs, fin, bad, n + 1) < 0);
	memcpy(bad, "\x14\x03\x03\x00\x00", 5);
	memcpy(bad + 5, buf + 6, n - 6);
	CHECK(hs13_client_finished(&rs, fin, bad, n - 1) < 0);
	CHECK(memcmp(&rs, &saved, sizeof(rs)) == 0);

	/* forged with the client's keys: wrong verify_data, wrong length,
	 * wrong message, wrong inner type */
	msg[0] = 20;
	msg[1] = 0;
	msg[2] = 0;
	msg[3] = (unsigned char)hl;
	memcpy(msg + 4, fin, hl);
	msg[4] ^= 1;
	r = forge(&rs, REC_HANDSHAKE, msg, 4 + hl, rec);
	CHECK(hs13_client_finished(&rs, fin, rec, (size_t)r) ==
	    -REC_DECRYPT_ERROR);
	memcpy(&rs, &saved, sizeof(rs));
	msg[4] ^= 1;
	msg[3 + hl] ^= 0x80;
	r = forge(&rs, REC_HANDSHAKE, msg, 4 + hl, rec);
	CHECK(hs13_client_finished(&rs, fin, rec, (size_t)r) ==
	    -REC_DECRYPT_ERROR);
	memcpy(&rs, &saved, sizeof(rs));
	msg[3 + hl] ^= 0x80;
	/* a Finished whose length is not the hash's */
	msg[3]--;
	r = forge(&rs, REC_HANDSHAKE, msg, 4 + hl, rec);
	CHECK(hs13_client_finished(&rs, fin, rec, (size_t)r) ==
	    -REC_DECODE_ERROR);
	memcpy(&rs, &saved, sizeof(rs));
	msg[3]++;
	/* a byte too many in its record; a byte too few (more to come) */
	msg[4 + hl] = 0;
	r = forge(&rs, REC_HANDSHAKE, msg, 5 + hl, rec);
	CHECK(hs13_client_finished(&rs, fin, rec, (size_t)r) ==
	    -REC_DECODE_ERROR);
	memcpy(&rs, &saved, sizeof(rs));
	r = forge(&rs, REC_HANDSHAKE, msg, 3 + hl, rec);
	CHECK(hs13_client_finished(&rs, fin, rec, (size_t)r) == 0);
	CHECK(memcmp(&rs, &saved, sizeof(rs)) == 0);
	msg[0] = 15;
	r = forge(&rs, REC_HANDSHAKE, msg, 4 + hl, rec);
	CHECK(hs13_client_finished(&rs, fin, rec, (size_t)r) ==
	    -REC_DECODE_ERROR);
	memcpy(&rs, &saved, sizeof(rs));
	msg[0] = 20;
	r = forge(&rs, REC_APPDATA, msg, 4 + hl, rec);
	CHECK(hs13_client_finished(&rs, fin, rec, (size_t)r) ==
	    -REC_UNEXPECTED_MESSAGE);
	memcpy(&rs, &saved, sizeof(rs));
	r = forge(&rs, REC_ALERT, msg, 2, rec);
	CHECK(hs13_client_finished(&rs, fin, rec, (size_t)r) ==
	    -REC_UNEXPECTED_MESSAGE);
	memcpy(&rs, &saved, sizeof(rs));
	/* the right Finished in fragments (RFC 8446, 5.1): taken whole, in
	 * two records or one byte a record; with a ChangeCipherSpec or an
	 * alert between fragments, or a bad one, not */
	CHECK(fragments(&rs, fin, msg, 4 + hl, 3, 0) == 1);
	CHECK(fragments(&rs, fin, msg, 4 + hl, 1, 0) == 1);
	CHECK(fragments(&rs, fin, msg, 4 + hl, 4, 1) == 1);
	CHECK(fragments(&rs, fin, msg, 4 + hl, 3, 2) == 1);
	CHECK(fragments(&rs, fin, msg, 4 + hl, 3, 3) == 1);
	msg[4 + hl - 1] ^= 1;
	CHECK(fragments(&rs, fin, msg, 4 + hl, 3, 0) == 1);
	msg[4 + hl - 1] ^= 1;
	CHECK(memcmp(&rs, &saved, sizeof(rs)) == 0);
	/* the forger's right Finished: taken, then the client's own is not
	 * (its keys are the application keys now) */
	r = forge(&rs, REC_HANDSHAKE, msg, 4 + hl, rec);
	CHECK(hs13_client_finished(&rs, fin, rec, (size_t)r) == r);
	CHECK(hs13_client_finished(&rs, fin, buf, n) == -REC_BAD_RECORD_MAC);
	memcpy(&rs, &saved, sizeof(rs));

	/* after all that: no ChangeCipherSpec, two, data right behind */
	CHECK(hs13_client_finished(&rs, fin, buf + 6, n - 6) ==
	    (long)(n - 6));
	memcpy(&rs, &saved, sizeof(rs));
	memcpy(bad, ccs, 6);
	memcpy(bad + 6, buf, n);
	CHECK(hs13_client_finished(&rs, fin, bad, n + 6) == (long)(n + 6));
	memcpy(&rs, &saved, sizeof(rs));
	CHECK(SSL_write(c.ssl, "ping", 4) == 4);
	n += fixture_client_drain(&c, buf + n, sizeof(buf) - n);
	r = hs13_client_finished(&rs, fin, buf, n);
	CHECK(r > 6 && (size_t)r < n);
	if (r > 6 && (size_t)r < n) {
		unsigned char plain[REC_OPEN_ROOM];
		unsigned type = 0;

		CHECK(rec_open(&rs, buf + r, n - (size_t)r, plain, &type) ==
		    4 && type == REC_APPDATA && memcmp(plain, "ping", 4) == 0);
	}
out:
	fixture_client_free(&c);
	rec_wipe(&rs);
	rec_wipe(&saved);
}

/* ---------------------------------------------------------------------
 * d. ClientHellos left to OpenSSL.
 */

static void
test_real_hellos(void)
{
	unsigned char buf[4096], *big;
	struct hs13_hello h;
	struct fixture_client c;
	size_t n, i;
	int ok;

	/* TLS 1.2 only */
	client_new(&c, NULL, NULL, NULL, TLS1_2_VERSION, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	CHECK(n > 0 && hs13_parse_hello(buf, n, &h) == HS13_NO);
	fixture_client_free(&c);
	/* P-256's key share first; X25519's first (the control) */
	client_new(&c, NULL, NULL, "P-256:X25519", 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	CHECK(n > 0 && hs13_parse_hello(buf, n, &h) == HS13_NO);
	fixture_client_free(&c);
	client_new(&c, NULL, NULL, "X25519:P-256", 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	CHECK(hs13_parse_hello(buf, n, &h) == HS13_OK);
	fixture_client_free(&c);
	/* no X25519 at all */
	client_new(&c, NULL, NULL, "P-256:P-384", 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	CHECK(hs13_parse_hello(buf, n, &h) == HS13_NO);
	fixture_client_free(&c);
	/* OCSP asked for: taken, and noted */
	client_new(&c, NULL, NULL, NULL, 0, NULL);
	SSL_set_tlsext_status_type(c.ssl, TLSEXT_STATUSTYPE_ocsp);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	CHECK(hs13_parse_hello(buf, n, &h) == HS13_OK && h.status);
	fixture_client_free(&c);

	/* cut short: every prefix wants more (an exact-size copy each);
	 * a byte too many is not for this path */
	client_new(&c, NULL, NULL, NULL, 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	CHECK(hs13_parse_hello(buf, n, &h) == HS13_OK);
	ok = 1;
	for (i = 0; i < n; i++) {
		unsigned char *p = malloc(i ? i : 1);

		memcpy(p, buf, i);
		ok &= hs13_parse_hello(p, i, &h) == HS13_MORE;
		free(p);
	}
	CHECK(ok);
	big = malloc(n + 1);
	memcpy(big, buf, n);
	big[n] = 22;
	CHECK(hs13_parse_hello(big, n + 1, &h) == HS13_NO);
	free(big);
	/* not a handshake record, at the first byte */
	buf[0] = 23;
	CHECK(hs13_parse_hello(buf, 1, &h) == HS13_NO);
	fixture_client_free(&c);
}

/* Real hellos modified by hand. */
static void
test_made_hellos(void)
{
	unsigned char buf[4096], b2[8192], certalgs[] = { 0, 2, 4, 3 };
	struct parts *q = malloc(sizeof(*q)), *o = malloc(sizeof(*o));
	struct hs13_hello h;
	struct fixture_client c;
	size_t n, i;
	int k;

	client_new(&c, NULL, NULL, NULL, 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	fixture_client_free(&c);
	CHECK(q != NULL && o != NULL && hello_split(buf, n, o) == 0);
	if (q == NULL || o == NULL)
		goto out;
	/* taken apart and back together: the same bytes, taken */
	CHECK(hello_join(o, b2) == n && memcmp(b2, buf, n) == 0);
	CHECK(hs13_parse_hello(b2, n, &h) == HS13_OK && h.sidlen == 32);
#define TRY(expect) CHECK(hs13_parse_hello(b2, hello_join(q, b2), &h) == \
	(expect))

	/* compression methods: exactly { 0 } */
	*q = *o; q->complen = 2; q->comp[1] = 1; TRY(HS13_NO);
	*q = *o; q->comp[0] = 1; TRY(HS13_NO);
	*q = *o; q->complen = 0; TRY(HS13_NO);
	*q = *o; q->complen = 2; q->comp[0] = 1; q->comp[1] = 0; TRY(HS13_NO);
	/* a session ID of 0 (taken) or 33 bytes, odd suites */
	*q = *o; memmove(q->head + 35, q->head + 67, q->headlen - 67);
	q->head[34] = 0; q->headlen -= 32; TRY(HS13_OK);
	CHECK(h.sidlen == 0);
	*q = *o; memmove(q->head + 68, q->head + 67, q->headlen - 67);
	q->head[34] = 33; q->headlen++; TRY(HS13_NO);
	*q = *o; q->head[67] = 0; q->head[68] = 3; q->head[69] = 0x13;
	q->head[70] = 0x01; q->head[71] = 0x13; q->headlen = 72; TRY(HS13_NO);
	*q = *o; q->head[67] = 0; q->head[68] = 0; q->headlen = 69;
	TRY(HS13_NO);
	/* legacy_version */
	*q = *o; q->head[1] = 1; TRY(HS13_NO);
	/* a duplicated extension, known or not */
	*q = *o; k = ext_find(q, 0x000a);
	ext_add(q, 0x000a, q->ext[k].data, q->ext[k].len); TRY(HS13_NO);
	*q = *o; ext_add(q, 0x1234, "", 0); TRY(HS13_OK);
	ext_add(q, 0x1234, "", 0); TRY(HS13_NO);
	/* what OpenSSL takes: early_data, cookie, max_fragment_length,
	 * pre_shared_key */
	*q = *o; ext_add(q, 0x002a, "", 0); TRY(HS13_NO);
	*q = *o; ext_add(q, 0x002c, "\x00\x02\xab\xcd", 4); TRY(HS13_NO);
	*q = *o; ext_add(q, 0x0001, "\x02", 1); TRY(HS13_NO);
	*q = *o; ext_add(q, 0x0029, "\x00\x00", 2); TRY(HS13_NO);
	/* supported_versions */
	*q = *o; EXT_SET(q, 0x002b, "\x02\x03\x03"); TRY(HS13_NO);
	*q = *o; EXT_SET(q, 0x002b, "\x04\x03\x03\x03\x04"); TRY(HS13_OK);
	*q = *o; EXT_SET(q, 0x002b, "\x03\x03\x04\x03"); TRY(HS13_NO);
	*q = *o; ext_del(q, ext_find(q, 0x002b)); TRY(HS13_NO);
	/* supported_groups without X25519, malformed */
	*q = *o; EXT_SET(q, 0x000a, "\x00\x02\x00\x17"); TRY(HS13_NO);
	*q = *o; EXT_SET(q, 0x000a, "\x00\x04\x00\x17\x00\x1d"); TRY(HS13_OK);
	*q = *o; EXT_SET(q, 0x000a, "\x00\x03\x00\x17\x00"); TRY(HS13_NO);
	/* key_share: X25519's second, short, cut, or an empty list */
	*q = *o; k = ext_find(q, 0x0033);
	memcpy(b2, "\x00\x2a\x00\x17\x00\x02\xab\xcd", 8);
	memcpy(b2 + 8, q->ext[k].data + 2, 36);
	ext_set(q, 0x0033, b2, 44); TRY(HS13_NO);
	*q = *o; k = ext_find(q, 0x0033);
	memcpy(b2, q->ext[k].data, 38);
	memcpy(b2 + 38, "\x00\x17\x00\x02\xab\xcd", 6);
	b2[1] = 42;
	ext_set(q, 0x0033, b2, 44); TRY(HS13_OK);
	*q = *o; k = ext_find(q, 0x0033);
	q->ext[k].data[1]--; q->ext[k].data[5]--; q->ext[k].len--;
	TRY(HS13_NO);
	*q = *o; k = ext_find(q, 0x0033); q->ext[k].len--; TRY(HS13_NO);
	*q = *o; EXT_SET(q, 0x0033, "\x00\x00"); TRY(HS13_NO);
	/* a group OpenSSL does not know (GREASE) first: passed over if the
	 * client lists it among its groups (else OpenSSL refuses the hello:
	 * so does this path); X448 first: OpenSSL's */
	for (k = 0; k < 3; k++) {
		size_t at;

		*q = *o; at = (size_t)ext_find(q, 0x0033);
		memcpy(b2, k < 2 ? "\x00\x29\x0a\x0a\x00\x01\x00" :
		    "\x00\x29\x00\x1e\x00\x01\x00", 7);
		memcpy(b2 + 7, q->ext[at].data + 2, 36);
		ext_set(q, 0x0033, b2, 43);
		if (k == 0)
			EXT_SET(q, 0x000a, "\x00\x04\x0a\x0a\x00\x1d");
		TRY(k == 0 ? HS13_OK : HS13_NO);
	}
	/* signature_algorithms missing or empty; _cert noted */
	*q = *o; ext_del(q, ext_find(q, 0x000d)); TRY(HS13_NO);
	*q = *o; EXT_SET(q, 0x000d, "\x00\x00"); TRY(HS13_NO);
	*q = *o; ext_add(q, 0x0032, certalgs, 4); TRY(HS13_OK);
	CHECK(h.certalgs != NULL && h.certalgslen == 2 &&
	    memcmp(h.certalgs, "\x04\x03", 2) == 0);
	/* server_name: a NUL in it, empty, two names */
	*q = *o; EXT_SET(q, 0x0000, "\x00\x05\x00\x00\x02\x61\x62");
	TRY(HS13_OK);
	CHECK(strcmp(h.sni, "ab") == 0);
	*q = *o; EXT_SET(q, 0x0000, "\x00\x05\x00\x00\x02\x61\x00");
	TRY(HS13_NO);
	*q = *o; EXT_SET(q, 0x0000, "\x00\x03\x00\x00\x00"); TRY(HS13_NO);
	*q = *o; EXT_SET(q, 0x0000,
	    "\x00\x0a\x00\x00\x02\x61\x62\x00\x00\x02\x63\x64"); TRY(HS13_NO);
	*q = *o; ext_del(q, ext_find(q, 0x0000)); TRY(HS13_OK);
	CHECK(h.sni[0] == '\0');
	/* the longest name, 255 bytes; one more */
	for (i = 255; i <= 256; i++) {
		unsigned char name[5 + 256];

		hello_put16(name, i + 3);
		name[2] = 0;
		hello_put16(name + 3, i);
		memset(name + 5, 'a', i);
		*q = *o; ext_set(q, 0x0000, name, 5 + i);
		TRY(i == 255 ? HS13_OK : HS13_NO);
		if (i == 255)
			CHECK(strlen(h.sni) == 255);
	}
	/* 64 extensions at most */
	*q = *o;
	for (i = 0; q->next < 64; i++)
		ext_add(q, 0xfe00 + (unsigned)i, "", 0);
	TRY(HS13_OK);
	ext_add(q, 0xff00, "", 0); TRY(HS13_NO);
	/* an extension running past the block; the block's length wrong */
	*q = *o; n = hello_join(q, b2);
	b2[n - q->ext[q->next - 1].len - 1]++;
	CHECK(hs13_parse_hello(b2, n, &h) == HS13_NO);
	/* the record: a second message in it, its version, the message's
	 * length, not a ClientHello */
	*q = *o; n = hello_join(q, b2);
	memcpy(b2 + n, "\x14\x00\x00\x00", 4);
	hello_put16(b2 + 3, n - 5 + 4);
	CHECK(hs13_parse_hello(b2, n + 4, &h) == HS13_NO);
	n = hello_join(q, b2); b2[1] = 2;
	CHECK(hs13_parse_hello(b2, n, &h) == HS13_NO);
	n = hello_join(q, b2); b2[8]--;
	CHECK(hs13_parse_hello(b2, n, &h) == HS13_NO);
	n = hello_join(q, b2); b2[5] = 2;
	CHECK(hs13_parse_hello(b2, n, &h) == HS13_NO);
	/* a record header that cannot be: too long, too short */
	memcpy(b2, "\x16\x03\x01\x40\x01", 5);
	CHECK(hs13_parse_hello(b2, 5, &h) == HS13_NO);
	memcpy(b2, "\x16\x03\x01\x00\x03", 5);
	CHECK(hs13_parse_hello(b2, 5, &h) == HS13_NO);
#undef TRY
out:
	free(q);
	free(o);
}

/* ---------------------------------------------------------------------
 * e. Flights refused: -1, and nothing else done.
 */

/* tls_hs13_flight() on hello b (n bytes) with staples; when it refuses,
 * rs and the output are untouched. Returns its result. */
static long
flight_of(SSL_CTX *ctx, int staples, const unsigned char *b, size_t n)
{
	static unsigned char out[65536];
	unsigned char fin[48];
	struct hs13_hello h;
	struct rec_state rs, before;
	long r;

	CHECK(hs13_parse_hello(b, n, &h) == HS13_OK);
	memset(&rs, 0x5a, sizeof(rs));
	memcpy(&before, &rs, sizeof(rs));
	memset(out, 0xa5, 4096);
	r = tls_hs13_flight(ctx, ctx, staples, &h, &rs, out, sizeof(out), fin);
	if (r < 0) {
		CHECK(r == -1);
		CHECK(memcmp(&rs, &before, sizeof(rs)) == 0);
		CHECK(out[0] == 0xa5 && memcmp(out, out + 1, 4095) == 0);
	}
	rec_wipe(&rs);
	return r;
}

/* The client's hello refused; OpenSSL then serves it (reused 0). */
static void
refused_then_openssl(SSL_CTX *ctx, struct fixture_client *c, int staples)
{
	unsigned char buf[4096];
	size_t n = fixture_client_hello(c, buf, sizeof(buf));

	CHECK(flight_of(ctx, staples, buf, n) == -1);
	CHECK(openssl_serves(ctx, c, buf, n) == 0);
}

static void
test_refusals(SSL_CTX *ecdsa, SSL_CTX *rsa)
{
	unsigned char buf[4096], b2[4096];
	struct parts *q = malloc(sizeof(*q));
	struct fixture_client c;
	SSL_CTX *ctx;
	EVP_PKEY *k;
	size_t n;

	/* OCSP stapling possible and asked for; not possible, or not asked */
	client_new(&c, NULL, NULL, NULL, 0, NULL);
	SSL_set_tlsext_status_type(c.ssl, TLSEXT_STATUSTYPE_ocsp);
	refused_then_openssl(ecdsa, &c, 1);
	fixture_client_free(&c);
	client_new(&c, NULL, NULL, NULL, 0, NULL);
	SSL_set_tlsext_status_type(c.ssl, TLSEXT_STATUSTYPE_ocsp);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	CHECK(flight_of(ecdsa, 0, buf, n) > 0);
	fixture_client_free(&c);
	client_new(&c, NULL, NULL, NULL, 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	CHECK(flight_of(ecdsa, 1, buf, n) > 0);

	/* signature_algorithms_cert (OpenSSL's client never sends it: added
	 * by hand) without the certificate's own algorithm */
	CHECK(q != NULL && hello_split(buf, n, q) == 0);
	fixture_client_free(&c);
	if (q != NULL) {
		ext_add(q, 0x0032, "\x00\x02\x08\x04", 4);
		n = hello_join(q, b2);
		CHECK(flight_of(ecdsa, 0, b2, n) == -1);
		CHECK(flight_of(rsa, 0, b2, n) == -1);
		EXT_SET(q, 0x0032, "\x00\x04\x08\x04\x04\x03");
		n = hello_join(q, b2);
		CHECK(flight_of(ecdsa, 0, b2, n) > 0);
		CHECK(flight_of(rsa, 0, b2, n) == -1);
		EXT_SET(q, 0x0032, "\x00\x04\x04\x01\x04\x03");
		n = hello_join(q, b2);
		CHECK(flight_of(ecdsa, 0, b2, n) > 0);
		CHECK(flight_of(rsa, 0, b2, n) > 0);
	}

	/* a small-order X25519 share (all-zero secret, RFC 8446, 7.4.2) */
	client_new(&c, NULL, NULL, NULL, 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	fixture_client_free(&c);
	if (q != NULL && hello_split(buf, n, q) == 0) {
		int at = ext_find(q, 0x0033);
		unsigned char fin[48];
		struct hs13_hello h;
		struct rec_state rs;

		memset(q->ext[at].data + 6, 0, 32);
		n = hello_join(q, b2);
		CHECK(hs13_parse_hello(b2, n, &h) == HS13_OK);
		CHECK(tls_hs13_flight(ecdsa, ecdsa, 0, &h, &rs, flight_buf,
		    sizeof(flight_buf), fin) == -1);
		q->ext[at].data[6] = 1;	/* u = 1: small order too */
		n = hello_join(q, b2);
		CHECK(hs13_parse_hello(b2, n, &h) == HS13_OK);
		CHECK(tls_hs13_flight(ecdsa, ecdsa, 0, &h, &rs, flight_buf,
		    sizeof(flight_buf), fin) == -1);
		q->ext[at].data[6] = 9;	/* the base point: fine */
		n = hello_join(q, b2);
		CHECK(hs13_parse_hello(b2, n, &h) == HS13_OK);
		CHECK(tls_hs13_flight(ecdsa, ecdsa, 0, &h, &rs, flight_buf,
		    sizeof(flight_buf), fin) > 0);
		rec_wipe(&rs);
	}

	/* no signature scheme in common */
	client_new(&c, NULL, "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384",
	    NULL, 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	CHECK(flight_of(ecdsa, 0, buf, n) == -1);
	CHECK(flight_of(rsa, 0, buf, n) > 0);
	fixture_client_free(&c);
	client_new(&c, NULL, "ecdsa_secp256r1_sha256:rsa_pkcs1_sha256",
	    NULL, 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	CHECK(flight_of(rsa, 0, buf, n) == -1);
	fixture_client_free(&c);

	/* no suite in common */
	ctx = key_ctx("EC", "P-256", 0);
	CHECK(SSL_CTX_set_ciphersuites(ctx, TLS_AES256) == 1);
	client_new(&c, TLS_AES128, NULL, NULL, 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	CHECK(flight_of(ctx, 0, buf, n) == -1);
	fixture_client_free(&c);
	client_new(&c, TLS_AES128 ":" TLS_AES256, NULL, NULL, 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	CHECK(flight_of(ctx, 0, buf, n) > 0);
	fixture_client_free(&c);
	SSL_CTX_free(ctx);

	/* contexts this path cannot serve: no tickets, TLS 1.2 at most, a
	 * P-521 key, RSA-1024, two certificates, X25519 not allowed */
	client_new(&c, NULL, NULL, NULL, 0, NULL);
	n = fixture_client_hello(&c, buf, sizeof(buf));
	fixture_client_free(&c);
	ctx = key_ctx("EC", "P-256", 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	CHECK(flight_of(ctx, 0, buf, n) == -1);
	SSL_CTX_free(ctx);
	ctx = key_ctx("EC", "P-256", 0);
	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	CHECK(flight_of(ctx, 0, buf, n) == -1);
	SSL_CTX_free(ctx);
	ctx = key_ctx("EC", "P-521", 0);
	CHECK(flight_of(ctx, 0, buf, n) == -1);
	SSL_CTX_free(ctx);
	ctx = bare_ctx();
	SSL_CTX_set_security_level(ctx, 1);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	fixture_add_cert(ctx, k, EVP_sha256());
	EVP_PKEY_free(k);
	CHECK(flight_of(ctx, 0, buf, n) == -1);
	SSL_CTX_free(ctx);
	ctx = key_ctx("EC", "P-256", 0);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	fixture_add_cert(ctx, k, EVP_sha256());
	EVP_PKEY_free(k);
	CHECK(flight_of(ctx, 0, buf, n) == -1);
	SSL_CTX_free(ctx);
	free(q);
}

/* The flight never writes past its room: exact-size buffers from none to
 * well past what it needs; refused below some size, served above. */
static void
test_room(SSL_CTX *ctx)
{
	unsigned char hb[4096], fin[48], *out;
	struct hs13_hello h;
	struct rec_state rs;
	struct fixture_client c;
	size_t n, room, first_ok = 0;
	long r;
	int ok = 1, mono = 1;

	client_new(&c, NULL, NULL, NULL, 0, NULL);
	n = fixture_client_hello(&c, hb, sizeof(hb));
	CHECK(hs13_parse_hello(hb, n, &h) == HS13_OK);
	for (room = 0; room < 8192; room += room < 1500 ? 97 : 1) {
		out = malloc(room ? room : 1);
		r = tls_hs13_flight(ctx, ctx, 0, &h, &rs, out, room, fin);
		ok &= r == -1 || (r > 0 && (size_t)r <= room);
		if (r > 0 && first_ok == 0)
			first_ok = room;
		mono &= first_ok == 0 || r > 0;
		rec_wipe(&rs);
		free(out);
		if (first_ok != 0 && room > first_ok + 200)
			break;
	}
	CHECK(ok);
	CHECK(mono);
	CHECK(first_ok > 0);
	fixture_client_free(&c);
}

int
main(void)
{
	SSL_CTX *ecdsa, *p384, *rsa, *other;

	CHECK(rec_init() == 0);
	ecdsa = fixture_server_ctx(NULL);
	other = keyfile_ctx();
	p384 = key_ctx("EC", "P-384", 0);
	rsa = key_ctx("RSA", NULL, 2048);
	SSL_CTX_set_num_tickets(p384, 0);
	SSL_CTX_set_num_tickets(rsa, 2);

	test_real_hellos();
	test_made_hellos();
	test_handshakes(ecdsa, p384, rsa, other);
	test_choice(ecdsa, rsa);
	test_no_compat(ecdsa);
	test_tampering(ecdsa, TLS_AES128);
	test_tampering(rsa, TLS_AES256);
	test_tampering(ecdsa, TLS_CHACHA);
	test_refusals(ecdsa, rsa);
	test_room(ecdsa);
	test_room(rsa);

	SSL_CTX_free(ecdsa);
	SSL_CTX_free(other);
	SSL_CTX_free(p384);
	SSL_CTX_free(rsa);
	fixture_clients_done();
	rec_cleanup();
	return unit_summary();
}
