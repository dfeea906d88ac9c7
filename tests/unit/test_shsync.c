/* test_shsync.c - unit test of shsync.c: round trips, the packet format
 * checked with an independent HKDF and AES-GCM, forged, truncated, stale,
 * replayed and malformed packets, a random mutation loop, stats, key files. */
#define _POSIX_C_SOURCE 200809L
#include <sys/types.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "shsync.h"
#include "unit.h"

#define T0		1700000000000ULL	/* a "now", ms */
#define FUZZ_ITERS	200000
#define FUZZ_POOL	64

static const unsigned char secret_a[] = "correct horse battery staple 1234";
static const unsigned char secret_b[] = "correct horse battery staple 1235";

/* splitmix64: a small deterministic PRNG. */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
fill(unsigned char *buf, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)rnd(&seed);
}

static struct shsync *
make(const unsigned char *secret)
{
	return shsync_new(secret, strlen((const char *)secret));
}

static size_t
max_sess(size_t idlen)
{
	return SHSYNC_MAX_PACKET - SHSYNC_OVERHEAD - idlen;
}

/* Encode a session made from seed (ID of idlen bytes, session of sesslen)
 * created at t; returns the packet's length, or 0 if encoding failed. */
static size_t
packet(struct shsync *s, uint64_t seed, size_t idlen, size_t sesslen,
    uint64_t t, unsigned char *out)
{
	unsigned char id[SHSYNC_ID_MAX], sess[SHSYNC_MAX_PACKET];
	ssize_t n;

	fill(id, idlen, seed);
	fill(sess, sesslen, ~seed);
	n = shsync_encode(s, id, idlen, sess, sesslen, t, out,
	    SHSYNC_MAX_PACKET);
	return n > 0 ? (size_t)n : 0;
}

/* Decode into throwaway buffers. */
static int
dec(struct shsync *s, const unsigned char *pkt, size_t len, uint64_t now)
{
	unsigned char id[SHSYNC_ID_MAX], sess[SHSYNC_SESS_MAX];
	size_t idlen, sesslen;

	return shsync_decode(s, pkt, len, now, id, &idlen, sess, sizeof(sess),
	    &sesslen);
}

static void
put_be64(unsigned char *p, uint64_t x)
{
	int i;

	for (i = 7; i >= 0; i--, x >>= 8)
		p[i] = (unsigned char)x;
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t x = 0;
	int i;

	for (i = 0; i < 8; i++)
		x = x << 8 | p[i];
	return x;
}

static int
contains(const unsigned char *hay, size_t len, const unsigned char *needle,
    size_t n)
{
	size_t i;

	for (i = 0; i + n <= len; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return 1;
	return 0;
}

/* --- round trips and encode refusals --------------------------------- */

static void
round_trip(struct shsync *tx, struct shsync *rx, size_t idlen,
    size_t sesslen, uint64_t seed)
{
	unsigned char id[SHSYNC_ID_MAX], sess[SHSYNC_MAX_PACKET];
	unsigned char pkt[SHSYNC_MAX_PACKET], gid[SHSYNC_ID_MAX];
	unsigned char gsess[SHSYNC_SESS_MAX];
	size_t gidlen = 0, gsesslen = 0;
	ssize_t n;

	fill(id, idlen, seed);
	fill(sess, sesslen, ~seed);
	n = shsync_encode(tx, id, idlen, sess, sesslen, T0, pkt, sizeof(pkt));
	CHECK(n == (ssize_t)(SHSYNC_OVERHEAD + idlen + sesslen));
	if (n <= 0)
		return;
	CHECK(shsync_decode(rx, pkt, (size_t)n, T0 + 5, gid, &gidlen, gsess,
	    sizeof(gsess), &gsesslen) == 0);
	CHECK(gidlen == idlen && memcmp(gid, id, idlen) == 0);
	CHECK(gsesslen == sesslen && memcmp(gsess, sess, sesslen) == 0);
}

static void
test_round_trip(void)
{
	static const size_t idlens[] = { 1, 2, 8, 16, 31, 32 };
	struct shsync *tx = make(secret_a), *rx = make(secret_a);
	size_t i, k, sizes[5];

	CHECK(tx != NULL && rx != NULL);
	if (tx == NULL || rx == NULL)
		return;
	for (i = 0; i < sizeof(idlens) / sizeof(idlens[0]); i++) {
		sizes[0] = 1;
		sizes[1] = 2;
		sizes[2] = 300;
		sizes[3] = max_sess(idlens[i]) - 1;
		sizes[4] = max_sess(idlens[i]);
		for (k = 0; k < 5; k++)
			round_trip(tx, rx, idlens[i], sizes[k], i * 10 + k);
	}
	/* the sender decodes its own packets too (other context, same key) */
	round_trip(tx, tx, 32, 500, 99);
	shsync_free(tx);
	shsync_free(rx);
}

static void
test_encode_refusals(void)
{
	struct shsync *s = make(secret_a);
	unsigned char id[SHSYNC_ID_MAX + 1] = { 1 }, sess[SHSYNC_MAX_PACKET];
	unsigned char out[SHSYNC_MAX_PACKET + 100];
	struct shsync_stats st;

	CHECK(s != NULL);
	if (s == NULL)
		return;
	memset(sess, 7, sizeof(sess));
	CHECK(shsync_encode(s, id, 0, sess, 10, T0, out, sizeof(out)) ==
	    SHSYNC_E_INVAL);
	CHECK(shsync_encode(s, id, 33, sess, 10, T0, out, sizeof(out)) ==
	    SHSYNC_E_INVAL);
	CHECK(shsync_encode(s, id, 8, sess, 0, T0, out, sizeof(out)) ==
	    SHSYNC_E_INVAL);
	CHECK(shsync_encode(s, NULL, 8, sess, 10, T0, out, sizeof(out)) ==
	    SHSYNC_E_INVAL);
	CHECK(shsync_encode(s, id, 8, NULL, 10, T0, out, sizeof(out)) ==
	    SHSYNC_E_INVAL);
	CHECK(shsync_encode(s, id, 8, sess, 10, T0, NULL, sizeof(out)) ==
	    SHSYNC_E_INVAL);
	CHECK(shsync_encode(NULL, id, 8, sess, 10, T0, out, sizeof(out)) ==
	    SHSYNC_E_INVAL);
	/* over SHSYNC_MAX_PACKET, even with room in out */
	CHECK(shsync_encode(s, id, 32, sess, max_sess(32) + 1, T0, out,
	    sizeof(out)) == SHSYNC_E_TOOBIG);
	CHECK(shsync_encode(s, id, 1, sess, max_sess(1) + 1, T0, out,
	    sizeof(out)) == SHSYNC_E_TOOBIG);
	CHECK(shsync_encode(s, id, 1, sess, SIZE_MAX, T0, out,
	    sizeof(out)) == SHSYNC_E_TOOBIG);
	/* out one byte short, then just right */
	CHECK(shsync_encode(s, id, 8, sess, 100, T0, out,
	    SHSYNC_OVERHEAD + 8 + 100 - 1) == SHSYNC_E_TOOBIG);
	CHECK(shsync_encode(s, id, 8, sess, 100, T0, out,
	    SHSYNC_OVERHEAD + 8 + 100) == SHSYNC_OVERHEAD + 8 + 100);
	CHECK(SHSYNC_SESS_MAX == max_sess(1));
	shsync_stats(s, &st);
	CHECK(st.encoded == 1);
	shsync_free(s);
}

static void
test_new(void)
{
	struct shsync *s;

	errno = 0;
	CHECK(shsync_new((const unsigned char *)"fifteen bytes..", 15) ==
	    NULL && errno == EINVAL);
	errno = 0;
	CHECK(shsync_new(NULL, 32) == NULL && errno == EINVAL);
	s = shsync_new((const unsigned char *)"sixteen bytes...", 16);
	CHECK(s != NULL);
	shsync_free(s);
	shsync_free(NULL);
}

/* --- the format, checked independently ------------------------------- */

/* HKDF-SHA256 (RFC 5869), no salt, one block, from plain HMAC. */
static int
hkdf_by_hand(const unsigned char *secret, size_t len, unsigned char *key)
{
	static const char info[] = "stud shared cache v1";
	unsigned char zeros[32] = { 0 }, prk[32], msg[sizeof(info)];
	size_t n;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, zeros, 32, secret,
	    len, prk, sizeof(prk), &n) == NULL || n != 32)
		return -1;
	memcpy(msg, info, sizeof(info) - 1);
	msg[sizeof(info) - 1] = 1;
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, prk, 32, msg,
	    sizeof(msg), key, 32, &n) == NULL || n != 32)
		return -1;
	return 0;
}

/* Open pkt with AES-256-GCM under key into plain; 0 if authentic. */
static int
gcm_open(const unsigned char *key, const unsigned char *pkt, size_t len,
    unsigned char *plain)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char tag[16];
	int n, ok;

	memcpy(tag, pkt + len - 16, 16);
	ok = c != NULL &&
	    EVP_DecryptInit_ex2(c, EVP_aes_256_gcm(), key, pkt + 4, NULL) &&
	    EVP_DecryptUpdate(c, NULL, &n, pkt, 4) &&
	    EVP_DecryptUpdate(c, plain, &n, pkt + 16, (int)(len - 32)) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag) &&
	    EVP_DecryptFinal_ex(c, plain + n, &n);
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

static void
test_format(void)
{
	struct shsync *s = make(secret_a);
	unsigned char key[32], pkt[SHSYNC_MAX_PACKET], pkt2[SHSYNC_MAX_PACKET];
	unsigned char plain[SHSYNC_MAX_PACKET], id[20], sess[100];
	size_t len;

	CHECK(s != NULL && hkdf_by_hand(secret_a, sizeof(secret_a) - 1,
	    key) == 0);
	if (s == NULL)
		return;
	fill(id, sizeof(id), 1);
	fill(sess, sizeof(sess), 2);
	CHECK(shsync_encode(s, id, 20, sess, 100, T0 + 42, pkt, sizeof(pkt)) ==
	    SHSYNC_OVERHEAD + 20 + 100);
	CHECK(shsync_encode(s, id, 20, sess, 100, T0 + 42, pkt2,
	    sizeof(pkt2)) == SHSYNC_OVERHEAD + 20 + 100);
	len = SHSYNC_OVERHEAD + 20 + 100;
	CHECK(memcmp(pkt, "STS1", 4) == 0);
	/* fresh nonce, packet ID and so ciphertext each time */
	CHECK(memcmp(pkt + 4, pkt2 + 4, 12) != 0);
	CHECK(memcmp(pkt + 16, pkt2 + 16, len - 16) != 0);
	/* the session is not in clear */
	CHECK(!contains(pkt, len, sess, 16));
	CHECK(gcm_open(key, pkt, len, plain) == 0);
	CHECK(get_be64(plain) == T0 + 42);
	CHECK(plain[16] == 20 && memcmp(plain + 17, id, 20) == 0);
	CHECK(plain[37] == 0 && plain[38] == 100);
	CHECK(memcmp(plain + 39, sess, 100) == 0);
	CHECK(gcm_open(key, pkt2, len, plain) == 0);
	/* the magic is authenticated */
	pkt[3] = '2';
	CHECK(gcm_open(key, pkt, len, plain) == -1);
	shsync_free(s);
}

/* --- forged and truncated -------------------------------------------- */

static void
test_forged(void)
{
	static const unsigned char flips[] = { 0x01, 0x80, 0xff };
	struct shsync *tx = make(secret_a), *rx = make(secret_a);
	struct shsync *other = make(secret_b);
	unsigned char pkt[SHSYNC_MAX_PACKET], bad[SHSYNC_MAX_PACKET];
	size_t len, len2, i, k, wrong = 0, accepted = 0;
	int rc;

	CHECK(tx != NULL && rx != NULL && other != NULL);
	if (tx == NULL || rx == NULL || other == NULL)
		return;
	len = packet(tx, 5, 32, 200, T0, pkt);
	CHECK(len == SHSYNC_OVERHEAD + 32 + 200);
	for (i = 0; i < len; i++) {
		for (k = 0; k < sizeof(flips); k++) {
			memcpy(bad, pkt, len);
			bad[i] ^= flips[k];
			rc = dec(rx, bad, len, T0);
			if (rc == 0)
				accepted++;
			if (rc != (i < 4 ? SHSYNC_E_MALFORMED :
			    SHSYNC_E_FORGED))
				wrong++;
		}
	}
	CHECK(accepted == 0);
	CHECK(wrong == 0);
	/* wrong key, both ways */
	CHECK(dec(other, pkt, len, T0) == SHSYNC_E_FORGED);
	len2 = packet(other, 6, 16, 50, T0, bad);
	CHECK(dec(rx, bad, len2, T0) == SHSYNC_E_FORGED);
	/* the untouched packet still passes: only the flips were refused */
	CHECK(dec(rx, pkt, len, T0) == 0);
	shsync_free(tx);
	shsync_free(rx);
	shsync_free(other);
}

static void
test_truncated(void)
{
	struct shsync *tx = make(secret_a), *rx = make(secret_a);
	unsigned char pkt[SHSYNC_MAX_PACKET + 8];
	size_t len, i, wrong = 0, accepted = 0;
	int rc;

	CHECK(tx != NULL && rx != NULL);
	if (tx == NULL || rx == NULL)
		return;
	len = packet(tx, 7, 10, 120, T0, pkt);
	for (i = 0; i < len; i++) {
		rc = dec(rx, pkt, i, T0);
		if (rc == 0)
			accepted++;
		if (rc != (i < SHSYNC_MIN_PACKET ? SHSYNC_E_TRUNCATED :
		    SHSYNC_E_FORGED))
			wrong++;
	}
	CHECK(accepted == 0);
	CHECK(wrong == 0);
	CHECK(dec(rx, NULL, 0, T0) == SHSYNC_E_TRUNCATED);
	/* a byte too many */
	pkt[len] = 0;
	CHECK(dec(rx, pkt, len + 1, T0) == SHSYNC_E_FORGED);
	CHECK(dec(rx, pkt, len, T0) == 0);
	/* the largest packet is fine, anything longer is not ours */
	len = packet(tx, 8, 1, SHSYNC_SESS_MAX, T0, pkt);
	CHECK(len == SHSYNC_MAX_PACKET);
	CHECK(dec(rx, pkt, len + 1, T0) == SHSYNC_E_MALFORMED);
	CHECK(dec(rx, pkt, len, T0) == 0);
	shsync_free(tx);
	shsync_free(rx);
}

/* --- time and replays ------------------------------------------------ */

static void
test_stale(void)
{
	struct shsync *tx = make(secret_a), *rx = make(secret_a);
	unsigned char pkt[SHSYNC_MAX_PACKET];
	size_t len;

	CHECK(tx != NULL && rx != NULL);
	if (tx == NULL || rx == NULL)
		return;
	len = packet(tx, 1, 8, 64, T0 - SHSYNC_MAX_AGE_MS - 1000, pkt);
	CHECK(dec(rx, pkt, len, T0) == SHSYNC_E_STALE);
	len = packet(tx, 2, 8, 64, T0 + 3600 * 1000, pkt);
	CHECK(dec(rx, pkt, len, T0) == SHSYNC_E_STALE);
	len = packet(tx, 3, 8, 64, UINT64_MAX, pkt);
	CHECK(dec(rx, pkt, len, T0) == SHSYNC_E_STALE);
	len = packet(tx, 4, 8, 64, 0, pkt);
	CHECK(dec(rx, pkt, len, T0) == SHSYNC_E_STALE);
	/* the edges of the window */
	len = packet(tx, 5, 8, 64, T0 - SHSYNC_MAX_AGE_MS - 1, pkt);
	CHECK(dec(rx, pkt, len, T0) == SHSYNC_E_STALE);
	len = packet(tx, 6, 8, 64, T0 - SHSYNC_MAX_AGE_MS, pkt);
	CHECK(dec(rx, pkt, len, T0) == 0);
	len = packet(tx, 7, 8, 64, T0 + SHSYNC_MAX_FUTURE_MS + 1, pkt);
	CHECK(dec(rx, pkt, len, T0) == SHSYNC_E_STALE);
	len = packet(tx, 8, 8, 64, T0 + SHSYNC_MAX_FUTURE_MS, pkt);
	CHECK(dec(rx, pkt, len, T0) == 0);
	/* the clock steps back 6 s: the window does not follow it */
	len = packet(tx, 9, 8, 64, T0 - SHSYNC_MAX_AGE_MS - 500, pkt);
	CHECK(dec(rx, pkt, len, T0 - 6000) == SHSYNC_E_STALE);
	len = packet(tx, 10, 8, 64, T0 - 6100, pkt);
	CHECK(dec(rx, pkt, len, T0 - 6000) == 0);
	/* near the epoch: no underflow */
	shsync_free(rx);
	rx = make(secret_a);
	len = packet(tx, 11, 8, 64, 0, pkt);
	CHECK(rx != NULL && dec(rx, pkt, len, 5000) == 0);
	shsync_free(tx);
	shsync_free(rx);
}

/* Encode and decode n fresh packets created at t; count acceptances. */
static size_t
accept_many(struct shsync *tx, struct shsync *rx, size_t n, uint64_t t,
    uint64_t now, uint64_t seed)
{
	unsigned char pkt[SHSYNC_MAX_PACKET];
	size_t i, ok = 0, len;

	for (i = 0; i < n; i++) {
		len = packet(tx, seed + i, 16, 40, t, pkt);
		if (len > 0 && dec(rx, pkt, len, now) == 0)
			ok++;
	}
	return ok;
}

static void
test_replay(void)
{
	struct shsync *tx = make(secret_a), *rx = make(secret_a);
	unsigned char p[SHSYNC_MAX_PACKET], q[SHSYNC_MAX_PACKET];
	unsigned char r[SHSYNC_MAX_PACKET];
	struct shsync_stats st;
	size_t plen, qlen, rlen, n;

	CHECK(tx != NULL && rx != NULL);
	if (tx == NULL || rx == NULL)
		return;
	plen = packet(tx, 1, 32, 100, T0, p);
	CHECK(dec(rx, p, plen, T0) == 0);
	CHECK(dec(rx, p, plen, T0) == SHSYNC_E_REPLAY);
	/* the same session sealed again is a new packet */
	qlen = packet(tx, 1, 32, 100, T0, q);
	CHECK(dec(rx, q, qlen, T0 + 1) == 0);
	CHECK(dec(rx, q, qlen, T0 + 2) == SHSYNC_E_REPLAY);
	/* still known after 10,000 others */
	CHECK(accept_many(tx, rx, 10000, T0 + 1000, T0 + 1000, 1000) ==
	    10000);
	CHECK(dec(rx, p, plen, T0 + 2000) == SHSYNC_E_REPLAY);
	CHECK(dec(rx, q, qlen, T0 + 2000) == SHSYNC_E_REPLAY);
	/* ... and up to the limit: the memory is then full */
	n = SHSYNC_REPLAY_MAX - 2 - 10000;
	CHECK(accept_many(tx, rx, n, T0 + 3000, T0 + 3000, 100000) == n);
	rlen = packet(tx, 3, 8, 8, T0 + 4000, r);
	CHECK(dec(rx, r, rlen, T0 + 4000) == SHSYNC_E_FULL);
	CHECK(dec(rx, p, plen, T0 + 4000) == SHSYNC_E_REPLAY);
	CHECK(dec(rx, q, qlen, T0 + 9000) == SHSYNC_E_REPLAY);
	/* once p and q leave the window, they are stale and forgotten:
	 * exactly two slots free up */
	CHECK(dec(rx, p, plen, T0 + SHSYNC_MAX_AGE_MS + 2) == SHSYNC_E_STALE);
	CHECK(dec(rx, r, rlen, T0 + SHSYNC_MAX_AGE_MS + 2) == 0);
	CHECK(dec(rx, r, rlen, T0 + SHSYNC_MAX_AGE_MS + 2) == SHSYNC_E_REPLAY);
	CHECK(accept_many(tx, rx, 2, T0 + 9000, T0 + SHSYNC_MAX_AGE_MS + 2,
	    200000) == 1);
	/* later, everything has expired */
	CHECK(accept_many(tx, rx, 100, T0 + 20000, T0 + 20000, 300000) == 100);
	CHECK(dec(rx, r, rlen, T0 + 20000) == SHSYNC_E_STALE);
	/* a packet forgotten once out of the window stays refused when the
	 * clock steps back to when it was fresh */
	plen = packet(tx, 4, 8, 8, T0 + 20000, p);
	CHECK(dec(rx, p, plen, T0 + 20000) == 0);
	CHECK(accept_many(tx, rx, 1, T0 + 31000, T0 + 31000, 400000) == 1);
	CHECK(dec(rx, p, plen, T0 + 21000) == SHSYNC_E_STALE);
	shsync_stats(rx, &st);
	CHECK(st.accepted == SHSYNC_REPLAY_MAX + 2 + 100 + 2);
	CHECK(st.replayed == 7);
	CHECK(st.full == 2);
	CHECK(st.stale == 3);
	shsync_free(tx);
	shsync_free(rx);
}

/* --- malformed ------------------------------------------------------- */

/* Seal an inner part made of the given fields; sesslen and the number of
 * session bytes actually present may differ. */
static size_t
sealed(struct shsync *s, unsigned idlen_field, size_t idbytes,
    unsigned sesslen_field, size_t sessbytes, unsigned char *out)
{
	unsigned char plain[SHSYNC_MAX_PACKET];
	size_t n = 0;
	ssize_t r;

	put_be64(plain, T0);
	fill(plain + 8, 8, idlen_field * 1000 + sesslen_field + idbytes);
	plain[16] = (unsigned char)idlen_field;
	n = 17;
	memset(plain + n, 'i', idbytes);
	n += idbytes;
	if (sesslen_field <= 0xffff) {
		plain[n++] = (unsigned char)(sesslen_field >> 8);
		plain[n++] = (unsigned char)sesslen_field;
	}
	memset(plain + n, 's', sessbytes);
	n += sessbytes;
	r = shsync_seal_for_test(s, plain, n, out, SHSYNC_MAX_PACKET);
	return r > 0 ? (size_t)r : 0;
}

static void
test_malformed(void)
{
	struct shsync *s = make(secret_a);
	unsigned char pkt[SHSYNC_MAX_PACKET + 200];
	size_t len, i, bad = 0;
	uint64_t seed = 42;
	int rc;

	CHECK(s != NULL);
	if (s == NULL)
		return;
	/* the hook makes real packets */
	len = sealed(s, 4, 4, 10, 10, pkt);
	CHECK(len == SHSYNC_OVERHEAD + 14);
	CHECK(dec(s, pkt, len, T0) == 0);
	/* authentic but inconsistent inner fields */
	CHECK(dec(s, pkt, sealed(s, 0, 4, 10, 10, pkt), T0) ==
	    SHSYNC_E_MALFORMED);			/* idlen 0 */
	CHECK(dec(s, pkt, sealed(s, 33, 33, 10, 10, pkt), T0) ==
	    SHSYNC_E_MALFORMED);			/* idlen 33 */
	CHECK(dec(s, pkt, sealed(s, 255, 4, 10, 10, pkt), T0) ==
	    SHSYNC_E_MALFORMED);			/* idlen 255 */
	CHECK(dec(s, pkt, sealed(s, 4, 4, 0, 10, pkt), T0) ==
	    SHSYNC_E_MALFORMED);			/* sesslen 0 */
	CHECK(dec(s, pkt, sealed(s, 4, 4, 9, 10, pkt), T0) ==
	    SHSYNC_E_MALFORMED);			/* a byte left over */
	CHECK(dec(s, pkt, sealed(s, 4, 4, 11, 10, pkt), T0) ==
	    SHSYNC_E_TRUNCATED);			/* sesslen past end */
	CHECK(dec(s, pkt, sealed(s, 4, 4, 0xffff, 10, pkt), T0) ==
	    SHSYNC_E_TRUNCATED);
	CHECK(dec(s, pkt, sealed(s, 32, 2, 0x10000, 2, pkt), T0) ==
	    SHSYNC_E_TRUNCATED);			/* idlen past end */
	CHECK(dec(s, pkt, sealed(s, 4, 4, 0x10000, 0, pkt), T0) ==
	    SHSYNC_E_TRUNCATED);			/* no sesslen */
	/* the shortest packet, all its inner fields in place */
	len = sealed(s, 1, 1, 1, 1, pkt);
	CHECK(len == SHSYNC_MIN_PACKET && dec(s, pkt, len, T0) == 0);
	CHECK(shsync_seal_for_test(s, pkt, 0, pkt, sizeof(pkt)) ==
	    SHSYNC_E_INVAL);
	CHECK(shsync_seal_for_test(s, pkt, SHSYNC_MAX_PACKET - 31, pkt,
	    sizeof(pkt)) == SHSYNC_E_TOOBIG);
	/* bad magic or version */
	len = packet(s, 9, 8, 64, T0, pkt);
	pkt[3] = '2';
	CHECK(dec(s, pkt, len, T0) == SHSYNC_E_MALFORMED);
	memcpy(pkt, "STS", 3);
	CHECK(dec(s, pkt, 3, T0) == SHSYNC_E_TRUNCATED);
	CHECK(dec(s, (const unsigned char *)"XYZ", 3, T0) ==
	    SHSYNC_E_MALFORMED);
	/* garbage of every size, with and without the magic */
	for (i = 0; i <= sizeof(pkt); i++) {
		fill(pkt, sizeof(pkt), rnd(&seed));
		rc = dec(s, pkt, i, T0);
		if (rc == 0 || (i == 0 && rc != SHSYNC_E_TRUNCATED) ||
		    (i > 0 && memcmp(pkt, "STS1", i < 4 ? i : 4) != 0 &&
		    rc != SHSYNC_E_MALFORMED))
			bad++;
		memcpy(pkt, "STS1", 4);
		rc = dec(s, pkt, i, T0);
		if (rc != (i > SHSYNC_MAX_PACKET ? SHSYNC_E_MALFORMED :
		    i < SHSYNC_MIN_PACKET ? SHSYNC_E_TRUNCATED :
		    SHSYNC_E_FORGED))
			bad++;
	}
	CHECK(bad == 0);
	/* session larger than the caller's buffer */
	len = packet(s, 10, 8, 64, T0, pkt);
	{
		unsigned char id[SHSYNC_ID_MAX], sess[64];
		size_t idlen = 99, sesslen = 99;

		CHECK(shsync_decode(s, pkt, len, T0, id, &idlen, sess, 63,
		    &sesslen) == SHSYNC_E_TOOBIG);
		CHECK(idlen == 99 && sesslen == 99);
		CHECK(shsync_decode(s, pkt, len, T0, id, &idlen, sess, 64,
		    &sesslen) == 0 && idlen == 8 && sesslen == 64);
		CHECK(shsync_decode(s, pkt, len, T0, NULL, &idlen, sess, 64,
		    &sesslen) == SHSYNC_E_INVAL);
		CHECK(shsync_decode(s, NULL, 5, T0, id, &idlen, sess, 64,
		    &sesslen) == SHSYNC_E_INVAL);
	}
	shsync_free(s);
}

/* --- random mutations ------------------------------------------------ */

struct pool {
	unsigned char	 pkt[FUZZ_POOL][SHSYNC_MAX_PACKET];
	size_t		 len[FUZZ_POOL];
};

/* Mutate a copy of a pool packet into buf; returns its length. */
static size_t
mutate(const struct pool *pl, uint64_t *seed, unsigned char *buf,
    size_t room)
{
	size_t k = rnd(seed) % FUZZ_POOL, len = pl->len[k], i, n, cut;
	const unsigned char *o;

	memcpy(buf, pl->pkt[k], len);
	switch (rnd(seed) % 6) {
	case 0:		/* a few bytes changed */
	case 1:
		for (n = 1 + rnd(seed) % 4; n > 0; n--)
			buf[rnd(seed) % len] ^= (unsigned char)(1 + rnd(seed) %
			    255);
		break;
	case 2:		/* truncated */
		len = rnd(seed) % len;
		break;
	case 3:		/* extended */
		n = 1 + rnd(seed) % 64;
		if (len + n > room)
			n = room - len;
		fill(buf + len, n, rnd(seed));
		len += n;
		break;
	case 4:		/* spliced: head of one, tail of another */
		o = pl->pkt[rnd(seed) % FUZZ_POOL];
		cut = rnd(seed) % len;
		memcpy(buf + cut, o + cut, len - cut);
		break;
	default:	/* a run of random bytes */
		i = rnd(seed) % len;
		n = 1 + rnd(seed) % (len - i);
		fill(buf + i, n, rnd(seed));
		break;
	}
	return len;
}

static int
in_pool(const struct pool *pl, const unsigned char *buf, size_t len)
{
	size_t k;

	for (k = 0; k < FUZZ_POOL; k++)
		if (pl->len[k] == len && memcmp(pl->pkt[k], buf, len) == 0)
			return 1;
	return 0;
}

static void
test_fuzz(void)
{
	static struct pool pl;
	struct shsync *tx = make(secret_a), *rx = make(secret_a);
	unsigned char buf[SHSYNC_MAX_PACKET + 64];
	size_t i, len, accepted = 0, wrong = 0, same = 0;
	uint64_t seed = 7;
	int rc;

	CHECK(tx != NULL && rx != NULL);
	if (tx == NULL || rx == NULL)
		return;
	for (i = 0; i < FUZZ_POOL; i++) {
		pl.len[i] = packet(tx, i, 1 + i % 32, 1 + (i * 97) %
		    max_sess(32), T0, pl.pkt[i]);
		CHECK(pl.len[i] > 0 && dec(rx, pl.pkt[i], pl.len[i], T0) == 0);
		if (pl.len[i] == 0)
			return;
	}
	for (i = 0; i < FUZZ_ITERS; i++) {
		len = mutate(&pl, &seed, buf, sizeof(buf));
		rc = dec(rx, buf, len, T0 + 1000);
		if (rc == 0)
			accepted++;
		if (in_pool(&pl, buf, len)) {
			same++;
			if (rc != SHSYNC_E_REPLAY)
				wrong++;
		} else if (rc != SHSYNC_E_MALFORMED &&
		    rc != SHSYNC_E_TRUNCATED && rc != SHSYNC_E_FORGED)
			wrong++;
	}
	CHECK(accepted == 0);
	CHECK(wrong == 0);
	printf("fuzz: %d mutations, %zu left a packet unchanged\n",
	    FUZZ_ITERS, same);
	shsync_free(tx);
	shsync_free(rx);
}

/* --- stats ----------------------------------------------------------- */

static void
test_stats(void)
{
	struct shsync *tx = make(secret_a), *rx = make(secret_a);
	unsigned char pkt[SHSYNC_MAX_PACKET], id[SHSYNC_ID_MAX], sess[10];
	struct shsync_stats st;
	size_t len, idlen, sesslen;

	CHECK(tx != NULL && rx != NULL);
	if (tx == NULL || rx == NULL)
		return;
	shsync_stats(rx, &st);
	CHECK(st.encoded == 0 && st.accepted == 0 && st.forged == 0);
	len = packet(tx, 1, 8, 64, T0, pkt);
	CHECK(dec(rx, pkt, len, T0) == 0);			/* accepted */
	CHECK(dec(rx, pkt, len, T0) == SHSYNC_E_REPLAY);	/* replayed */
	CHECK(dec(rx, pkt, len - 1, T0) == SHSYNC_E_FORGED);	/* forged */
	CHECK(dec(rx, pkt, 20, T0) == SHSYNC_E_TRUNCATED);	/* truncated */
	CHECK(dec(rx, pkt + 1, len - 1, T0) == SHSYNC_E_MALFORMED);
	CHECK(dec(rx, pkt, len, T0 + 60000) == SHSYNC_E_STALE);	/* stale */
	len = packet(tx, 2, 8, 64, T0 + 60000, pkt);
	CHECK(shsync_decode(rx, pkt, len, T0 + 60000, id, &idlen, sess,
	    sizeof(sess), &sesslen) == SHSYNC_E_TOOBIG);	/* toobig */
	CHECK(dec(rx, NULL, 0, T0 + 60000) == SHSYNC_E_TRUNCATED);
	CHECK(shsync_decode(rx, pkt, len, T0, NULL, &idlen, sess,
	    sizeof(sess), &sesslen) == SHSYNC_E_INVAL);		/* uncounted */
	shsync_stats(tx, &st);
	CHECK(st.encoded == 2 && st.accepted == 0);
	shsync_stats(rx, &st);
	CHECK(st.encoded == 0);
	CHECK(st.accepted == 1);
	CHECK(st.replayed == 1);
	CHECK(st.forged == 1);
	CHECK(st.truncated == 2);
	CHECK(st.malformed == 1);
	CHECK(st.stale == 1);
	CHECK(st.toobig == 1);
	CHECK(st.full == 0 && st.crypto == 0);
	shsync_free(tx);
	shsync_free(rx);
}

/* --- key files ------------------------------------------------------- */

/* Write content to a fresh temporary file; its name goes to path. */
static int
write_tmp(char *path, size_t size, const char *content, size_t len)
{
	FILE *f;
	int fd;

	snprintf(path, size, "/tmp/test_shsync.XXXXXX");
	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
		return -1;
	if (fwrite(content, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* Load content as a key file; returns shsync_load_key_file()'s result. */
static int
load(const char *content, unsigned char *out, size_t outlen, size_t *len,
    char *err, size_t errlen, char *path, size_t pathlen)
{
	int rc;

	err[0] = '\0';
	if (write_tmp(path, pathlen, content, strlen(content)) == -1)
		return -99;
	rc = shsync_load_key_file(path, out, outlen, len, err, errlen);
	unlink(path);
	return rc;
}

/* The message is one line starting with "path: " and mentions what. */
static int
names(const char *err, const char *path, const char *what)
{
	size_t n = strlen(path);

	return strncmp(err, path, n) == 0 && strncmp(err + n, ": ", 2) == 0 &&
	    strchr(err, '\n') == NULL && strstr(err, what) != NULL;
}

static void
test_key_file(void)
{
	static const char b64[] =
	    "q0lT3dnWFm3bKJ0RkR3H6mJ3o9p1V1q3c5m2mYl3xkQ=";
	unsigned char key[128], other[128];
	char err[512], path[64];
	size_t len = 0, len2 = 0;
	struct shsync *a, *b;
	unsigned char pkt[SHSYNC_MAX_PACKET];

	CHECK(load("q0lT3dnWFm3bKJ0RkR3H6mJ3o9p1V1q3c5m2mYl3xkQ=\n", key,
	    sizeof(key), &len, err, sizeof(err), path, sizeof(path)) == 0);
	CHECK(len == 44 && memcmp(key, b64, 44) == 0);
	/* blank lines first, trailing whitespace, CRLF, a second line */
	CHECK(load("\n  \r\n"
	    "\tq0lT3dnWFm3bKJ0RkR3H6mJ3o9p1V1q3c5m2mYl3xkQ= \t\r\n"
	    "second line\n", other, sizeof(other), &len2, err, sizeof(err),
	    path, sizeof(path)) == 0);
	CHECK(len2 == 45 && other[0] == '\t' && memcmp(other + 1, b64,
	    44) == 0);
	/* no final newline; a passphrase works too */
	CHECK(load("a long enough passphrase", other, sizeof(other), &len2,
	    err, sizeof(err), path, sizeof(path)) == 0 && len2 == 24);
	/* a key from the file keys two codecs that understand each other */
	a = shsync_new(key, len);
	b = shsync_new(key, len);
	CHECK(a != NULL && b != NULL);
	if (a != NULL && b != NULL) {
		len2 = packet(a, 1, 4, 4, T0, pkt);
		CHECK(dec(b, pkt, len2, T0) == 0);
	}
	shsync_free(a);
	shsync_free(b);

	CHECK(load("fifteen bytes..\n", key, sizeof(key), &len, err,
	    sizeof(err), path, sizeof(path)) == -1);
	CHECK(names(err, path, "too short"));
	CHECK(load("sixteen bytes...\n", key, sizeof(key), &len, err,
	    sizeof(err), path, sizeof(path)) == 0 && len == 16);
	CHECK(load("", key, sizeof(key), &len, err, sizeof(err), path,
	    sizeof(path)) == -1);
	CHECK(names(err, path, "empty"));
	CHECK(load("\n \n\t\r\n", key, sizeof(key), &len, err, sizeof(err),
	    path, sizeof(path)) == -1);
	CHECK(names(err, path, "blank"));
	CHECK(load(b64, key, 20, &len, err, sizeof(err), path,
	    sizeof(path)) == -1);
	CHECK(names(err, path, "too long"));
	CHECK(shsync_load_key_file("/nonexistent/stud.key", key, sizeof(key),
	    &len, err, sizeof(err)) == -1);
	CHECK(names(err, "/nonexistent/stud.key", "No such file"));
	CHECK(shsync_load_key_file("/tmp", key, sizeof(key), &len, err,
	    sizeof(err)) == -1);
	CHECK(names(err, "/tmp", "directory"));
	/* a tiny errbuf is cut, not overrun */
	CHECK(shsync_load_key_file("/nonexistent/stud.key", key, sizeof(key),
	    &len, err, 5) == -1 && strlen(err) == 4);
}

int
main(void)
{
	test_new();
	test_round_trip();
	test_encode_refusals();
	test_format();
	test_forged();
	test_truncated();
	test_stale();
	test_replay();
	test_malformed();
	test_fuzz();
	test_stats();
	test_key_file();
	return unit_summary();
}
