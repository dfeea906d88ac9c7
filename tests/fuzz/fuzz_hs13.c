/* fuzz_hs13.c - libFuzzer harness for hs13.c (stud's own TLS 1.3 full
 * handshake): its ClientHello reader, the server's flight for a hello it
 * takes, and its check of the client's Finished.
 *
 * Each input, as an exact-size heap copy, goes to:
 * - hs13_parse_hello(): a hello it takes lies inside the input and fills
 *   it exactly (record, message, session ID, suites, key share, signature
 *   algorithms and _cert), has an X25519 share and signature algorithms, a
 *   NUL-terminated SNI; every strictly shorter prefix wants more, and one
 *   byte more is refused;
 * - for such a hello, hs13_server_flight() as a made-up server (suites,
 *   server preference, stapling and ticket count from bytes of the hello's
 *   random; a fixed signature and ticket) into an exact-size buffer: served
 *   exactly when a suite and scheme are shared, no stapling is asked for,
 *   signature_algorithms_cert (if any) has the certificate's, and the share
 *   is no small-order point (OpenSSL's X25519 says); the flight fits, its
 *   ServerHello echoes the session ID with the suite expected, a
 *   ChangeCipherSpec follows exactly when there was a session ID; the
 *   client's Finished, forged from rs's read keys, is then taken;
 * - hs13_client_finished() on the raw input with keys from fixed secrets
 *   (each suite): never taken, rs untouched;
 * - the input's first byte as an inner content type and the rest as the
 *   content of one record sealed with those keys (after a ChangeCipherSpec
 *   when the input's length is odd): taken exactly when it is the
 *   expected Finished, 0 exactly when it is a shorter handshake fragment.
 *
 * Seeds (corpus/hs13/): real ClientHellos from OpenSSL's and Python's
 * clients (openssl-*, python-*), a few modified by hand (made-*), and
 * sealed-mode inputs (finished-*), written once by a small Python script
 * with the ssl module's MemoryBIO. */
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "fuzz.h"
#include "hs13.h"
#include "record.h"

#define SUITES		3

static const unsigned	suite_ids[SUITES] = { 0x1301, 0x1302, 0x1303 };
static const int	suite_aead[SUITES] = { REC_AES_128_GCM,
			    REC_AES_256_GCM, REC_CHACHA20_POLY1305 };
static const int	suite_sha384[SUITES] = { 0, 1, 0 };

static int		 ready;
/* per suite, rs as hs13.c leaves it for the client's Finished */
static struct rec_state	 keys[SUITES];
static unsigned char	 fin[48];	/* the verify_data expected */
static unsigned char	 certmsg[64];	/* a Certificate message */
static EVP_PKEY		*x_priv;	/* OpenSSL's view of a share */

static long
fake_sign(const struct hs13_server *s, unsigned scheme,
    const unsigned char *hash, size_t hashlen, unsigned char *sig,
    size_t room)
{
	(void)s;
	CHECK(scheme == 0x0403 || scheme == 0x0804);
	CHECK(hashlen == 32);
	CHECK(hash != NULL);
	if (room < 72)
		return -1;
	memset(sig, 0x30, 72);
	return 72;
}

static long
fake_ticket(const struct hs13_server *s, unsigned suite,
    const unsigned char *psk, size_t psklen, unsigned char *out, size_t room)
{
	(void)s;
	CHECK(suite >= 0x1301 && suite <= 0x1303);
	CHECK(psklen == (suite == 0x1302 ? 48u : 32u));
	CHECK(psk != NULL);
	if (room < 100)
		return -1;
	memset(out, 0x77, 100);
	return 100;
}

static void
setup(void)
{
	unsigned char raw[32];
	size_t i;

	CHECK(rec_init() == 0);
	memset(fin, 0x5a, sizeof(fin));
	for (i = 0; i < SUITES; i++) {
		memset(&keys[i], 0, sizeof(keys[i]));
		memset(keys[i].rd.secret, 0x42, sizeof(keys[i].rd.secret));
		memset(keys[i].wr.secret, 0x24, sizeof(keys[i].wr.secret));
		CHECK(rec_start13(&keys[i], (enum rec_aead)suite_aead[i],
		    suite_sha384[i]) == 0);
		memset(keys[i].rd.secret, 0x43, sizeof(keys[i].rd.secret));
	}
	/* Certificate: no context, one 50-byte entry, no extensions */
	memset(certmsg, 0, sizeof(certmsg));
	certmsg[0] = 11;
	certmsg[3] = sizeof(certmsg) - 4;
	certmsg[7] = sizeof(certmsg) - 8;
	certmsg[10] = sizeof(certmsg) - 8 - 5;
	memset(certmsg + 11, 0x99, sizeof(certmsg) - 8 - 5);
	memset(raw, 0x11, sizeof(raw));
	x_priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, raw, 32);
	CHECK(x_priv != NULL);
	ready = 1;
}

/* Whether the list of 16-bit values at p (len bytes) holds v. */
static int
has16(const unsigned char *p, size_t len, unsigned v)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		if (((unsigned)p[i] << 8 | p[i + 1]) == v)
			return 1;
	return 0;
}

/* Whether OpenSSL's X25519 takes the share (not a small-order point). */
static int
share_ok(const unsigned char share[32])
{
	EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL,
	    share, 32);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(x_priv, NULL);
	unsigned char out[32];
	size_t n = sizeof(out);
	int ok;

	CHECK(peer != NULL && c != NULL);
	ok = EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c,
	    peer) == 1 && EVP_PKEY_derive(c, out, &n) == 1;
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(peer);
	return ok;
}

static int
inside(const unsigned char *p, size_t n, const unsigned char *buf,
    size_t size)
{
	return p >= buf && n <= size && p + n <= buf + size;
}

/* The suite the made-up server must choose, or 0. */
static unsigned
expected_suite(const struct hs13_hello *h, int server_pref)
{
	size_t i, j;

	if (server_pref) {
		for (i = 0; i < SUITES; i++)
			if (has16(h->suites, h->suiteslen, suite_ids[i]))
				return suite_ids[i];
		return 0;
	}
	for (j = 0; j + 1 < h->suiteslen; j += 2)
		for (i = 0; i < SUITES; i++)
			if (((unsigned)h->suites[j] << 8 | h->suites[j + 1]) ==
			    suite_ids[i])
				return suite_ids[i];
	return 0;
}

/* A hello hs13_parse_hello() took, at p (size bytes). */
static void
check_hello(const unsigned char *p, size_t size, const struct hs13_hello *h)
{
	struct hs13_hello h2;
	unsigned char *more;
	size_t i;

	CHECK(h->reclen == size && h->msg == p + 5 && h->msglen + 5 == size);
	CHECK(h->sidlen <= 32 && inside(h->sid, h->sidlen, p, size));
	CHECK(h->suiteslen >= 2 && h->suiteslen % 2 == 0 &&
	    inside(h->suites, h->suiteslen, p, size));
	CHECK(h->share != NULL && inside(h->share, 32, p, size));
	CHECK(h->sigalgs != NULL && h->sigalgslen >= 2 &&
	    h->sigalgslen % 2 == 0 && inside(h->sigalgs, h->sigalgslen, p,
	    size));
	CHECK(h->certalgs == NULL || (h->certalgslen >= 2 &&
	    h->certalgslen % 2 == 0 && inside(h->certalgs, h->certalgslen, p,
	    size)));
	CHECK(memchr(h->sni, '\0', sizeof(h->sni)) != NULL);
	for (i = 0; i < size; i++)
		CHECK(hs13_parse_hello(p, i, &h2) == HS13_MORE);
	more = malloc(size + 1);
	CHECK(more != NULL);
	memcpy(more, p, size);
	more[size] = 22;
	CHECK(hs13_parse_hello(more, size + 1, &h2) == HS13_NO);
	free(more);
}

/* The flight of a made-up server for hello h. */
static void
check_flight(const struct hs13_hello *h)
{
	struct hs13_server s;
	struct rec_state rs, f;
	unsigned char fn[48], rec[128], *out;
	unsigned suite, chosen;
	size_t room, n, hl, i;
	long r, k;
	int serve;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < SUITES; i++)
		s.suites[i] = (uint16_t)suite_ids[i];
	s.nsuites = SUITES;
	s.schemes[0] = 0x0403;
	s.schemes[1] = 0x0804;
	s.nschemes = 2;
	s.certalg = 0x0403;
	/* the hello's random picks the server's settings */
	s.server_pref = h->msg[6] & 1;
	s.staple = (h->msg[7] & 1) != 0;
	s.tickets = h->msg[8] % 3;
	s.lifetime = 7200;
	s.certmsg = certmsg;
	s.certmsglen = sizeof(certmsg);
	s.sign = fake_sign;
	s.ticket = fake_ticket;
	suite = expected_suite(h, s.server_pref);
	serve = suite != 0 && (has16(h->sigalgs, h->sigalgslen, 0x0403) ||
	    has16(h->sigalgs, h->sigalgslen, 0x0804)) &&
	    !(h->status && s.staple) && (h->certalgs == NULL ||
	    has16(h->certalgs, h->certalgslen, 0x0403)) && share_ok(h->share);
	room = HS13_FLIGHT_BASE + 2 * s.certmsglen +
	    s.tickets * HS13_TICKET_MAX;
	out = malloc(room);
	CHECK(out != NULL);
	memset(&rs, 0, sizeof(rs));
	r = hs13_server_flight(&s, h, &rs, out, room, fn);
	CHECK(r == -1 || (r > 0 && (size_t)r <= room));
	CHECK((r > 0) == serve);
	if (r > 0) {
		n = 5 + ((size_t)out[3] << 8 | out[4]);
		CHECK(out[0] == 22 && out[5] == 2 && n < (size_t)r);
		CHECK(out[5 + 38] == h->sidlen &&
		    memcmp(out + 5 + 39, h->sid, h->sidlen) == 0);
		chosen = (unsigned)out[5 + 39 + h->sidlen] << 8 |
		    out[5 + 40 + h->sidlen];
		CHECK(chosen == suite);
		if (h->sidlen > 0)
			CHECK(memcmp(out + n, "\x14\x03\x03\x00\x01\x01", 6) ==
			    0);
		else
			CHECK(out[n] == 23);
		/* the client's Finished, forged with its handshake keys */
		hl = suite == 0x1302 ? 48 : 32;
		memcpy(&f, &rs, sizeof(f));
		f.wr = rs.rd;
		rec[5] = 20;
		rec[6] = 0;
		rec[7] = 0;
		rec[8] = (unsigned char)hl;
		memcpy(rec + 9, fn, hl);
		k = rec_seal(&f, REC_HANDSHAKE, rec, 4 + hl);
		CHECK(k > 0);
		CHECK(hs13_client_finished(&rs, fn, rec, (size_t)k) == k);
		rec_wipe(&f);
	}
	rec_wipe(&rs);
	free(out);
}

/* The input's first byte as the inner content type, the rest as content,
 * sealed in one record with the client's keys of suite i. */
static void
check_sealed(const unsigned char *data, size_t size, size_t i)
{
	struct rec_state rs, f;
	unsigned char *rec, *plain;
	size_t hl = suite_sha384[i] ? 48 : 32, clen, pre = size % 2 ? 6 : 0;
	unsigned type;
	long r, k;
	int good;

	if (size < 1 || size - 1 > REC_PLAIN_MAX)
		return;
	/* what the receiver sees: content || type, then zeros stripped */
	plain = malloc(size);
	CHECK(plain != NULL);
	memcpy(plain, data + 1, size - 1);
	plain[size - 1] = data[0];
	clen = size;
	while (clen > 0 && plain[clen - 1] == 0)
		clen--;
	type = clen > 0 ? plain[--clen] : 0;
	good = type == REC_HANDSHAKE && clen == 4 + hl && plain[0] == 20 &&
	    plain[1] == 0 && plain[2] == 0 && plain[3] == hl &&
	    memcmp(plain + 4, fin, hl) == 0;
	free(plain);

	rec = malloc(pre + 5 + size - 1 + REC_TAIL_MAX);
	CHECK(rec != NULL);
	memcpy(rec, "\x14\x03\x03\x00\x01\x01", pre);
	memcpy(rec + pre + 5, data + 1, size - 1);
	memcpy(&f, &keys[i], sizeof(f));
	f.wr = keys[i].rd;
	k = rec_seal(&f, data[0], rec + pre, size - 1);
	CHECK(k > 0);
	memcpy(&rs, &keys[i], sizeof(rs));
	r = hs13_client_finished(&rs, fin, rec, pre + (size_t)k);
	if (good)
		CHECK(r == (long)pre + k);
	else if (type == REC_HANDSHAKE && clen > 0 && clen < 4 + hl)
		CHECK(r == 0);
	else
		CHECK(r < 0);
	if (r <= 0)
		CHECK(memcmp(&rs, &keys[i], sizeof(rs)) == 0);
	rec_wipe(&rs);
	rec_wipe(&f);
	free(rec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hs13_hello h;
	struct rec_state rs;
	unsigned char *p;
	size_t i;
	long r;

	if (!ready)
		setup();
	p = dup_exact(data, size);
	r = hs13_parse_hello(p, size, &h);
	CHECK(r == HS13_OK || r == HS13_MORE || r == HS13_NO);
	if (r == HS13_MORE)
		CHECK(size < 5 || size < 5 + ((size_t)p[3] << 8 | p[4]));
	if (r == HS13_OK) {
		check_hello(p, size, &h);
		check_flight(&h);
	}
	for (i = 0; i < SUITES; i++) {
		memcpy(&rs, &keys[i], sizeof(rs));
		r = hs13_client_finished(&rs, fin, p, size);
		CHECK(r <= 0);
		CHECK(memcmp(&rs, &keys[i], sizeof(rs)) == 0);
		check_sealed(p, size, i);
	}
	free(p);
	return 0;
}
