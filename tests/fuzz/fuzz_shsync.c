/* fuzz_shsync.c - libFuzzer harness for shsync.c, the UDP packet codec of
 * the shared session cache.
 *
 * Byte 0 of the input selects the mode (a fresh struct shsync, keyed with a
 * fixed secret, for every input so that runs are reproducible):
 *   0 the rest as a packet, as an attacker without the key would send it;
 *   1 the same behind a correct magic ("STS1"), to get past the framing
 *     checks into the authentication;
 *     both must never be accepted, and must be counted once.
 *   2 the rest as the plaintext of an authentic packet (sealed with the real
 *     key by shsync_seal_for_test()), decoded at a time and with a session
 *     buffer chosen by the input: the inner parser must accept exactly the
 *     well-formed ones, return what they hold, and refuse a second copy
 *     (replay);
 *   3 a genuine packet (shsync_encode() of an ID and a session from the
 *     input) decoded once, then damaged (a bit flipped, or cut short) and
 *     decoded again: the damaged copy must never be accepted.
 * Outputs of a refused packet must be untouched. Every buffer is malloc'd
 * at its exact size so that ASan sees overruns. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shsync.h"
#include "fuzz.h"

#define NOW	1700000000000ULL	/* ms since the epoch */

static const unsigned char secret[] = "fuzzing secret, 32 bytes long!!";

static uint64_t
total(const struct shsync_stats *st)
{
	return st->accepted + st->malformed + st->truncated + st->forged +
	    st->stale + st->replayed + st->full + st->toobig + st->crypto;
}

struct out {
	unsigned char	*id;		/* SHSYNC_ID_MAX bytes */
	unsigned char	*sess;		/* max bytes */
	size_t		 max, idlen, sesslen;
};

/* Decode pkt[0..len) (an exact-size copy) into o; check the counters and
 * that a refusal left the outputs alone. */
static int
decode(struct shsync *s, const unsigned char *pkt, size_t len, uint64_t now,
    struct out *o)
{
	struct shsync_stats a, b;
	unsigned char *copy = dup_exact(pkt, len);
	int r;

	memset(o->id, 0xa5, SHSYNC_ID_MAX);
	memset(o->sess, 0xa5, o->max);
	o->idlen = o->sesslen = 12345;
	shsync_stats(s, &a);
	r = shsync_decode(s, copy, len, now, o->id, &o->idlen, o->sess, o->max,
	    &o->sesslen);
	shsync_stats(s, &b);
	free(copy);
	CHECK(r <= 0 && r >= SHSYNC_E_CRYPTO && r != SHSYNC_E_INVAL);
	CHECK(r != SHSYNC_E_CRYPTO);
	CHECK(total(&b) == total(&a) + 1);
	CHECK((b.accepted == a.accepted + 1) == (r == 0));
	if (r == 0) {
		CHECK(o->idlen >= 1 && o->idlen <= SHSYNC_ID_MAX);
		CHECK(o->sesslen >= 1 && o->sesslen <= o->max);
		CHECK(len == SHSYNC_OVERHEAD + o->idlen + o->sesslen);
	} else {
		size_t i;

		CHECK(o->idlen == 12345 && o->sesslen == 12345);
		for (i = 0; i < SHSYNC_ID_MAX; i++)
			CHECK(o->id[i] == 0xa5);
		for (i = 0; i < o->max; i++)
			CHECK(o->sess[i] == 0xa5);
	}
	return r;
}

static uint64_t
be64(const uint8_t *p)
{
	uint64_t x = 0;
	int i;

	for (i = 0; i < 8; i++)
		x = x << 8 | p[i];
	return x;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char pkt[SHSYNC_MAX_PACKET + 64];
	struct shsync *s;
	struct out o;
	size_t n;
	ssize_t len;
	int mode, r;

	if (size < 1)
		return 0;
	mode = data[0] & 3;
	data++;
	size--;
	CHECK((s = shsync_new(secret, sizeof(secret) - 1)) != NULL);
	o.max = SHSYNC_SESS_MAX;
	o.id = o.sess = NULL;
	switch (mode) {
	case 0:
	case 1:
		n = 0;
		if (mode == 1)
			memcpy(pkt, SHSYNC_MAGIC, (n = SHSYNC_MAGIC_LEN));
		if (size > sizeof(pkt) - n)
			size = sizeof(pkt) - n;
		memcpy(pkt + n, data, size);
		o.id = malloc(SHSYNC_ID_MAX);
		o.sess = malloc(o.max);
		CHECK(o.id != NULL && o.sess != NULL);
		r = decode(s, pkt, n + size, NOW, &o);
		CHECK(r != 0);
		break;
	case 2: {
		/* bytes 0-1: session buffer size; 2: time offset; the rest is
		 * the plaintext, its creation time bytes included */
		int64_t skew;
		const uint8_t *plain;
		size_t plen, i;

		if (size < 3)
			break;
		o.max = ((size_t)data[0] << 8 | data[1]) % (SHSYNC_SESS_MAX + 1);
		skew = ((int64_t)(int8_t)data[2]) * 100;	/* +-12.8 s */
		plain = data + 3;
		plen = size - 3;
		if (plen == 0 || plen > SHSYNC_MAX_PACKET - SHSYNC_OVERHEAD +
		    8 + 8 + 1 + 2)
			break;
		/* creation time: the input's, unless it asks for "now+skew"
		 * with a first byte of 0xff (to reach the admit path) */
		{
			unsigned char *p = dup_exact(plain, plen);

			if (plen >= 8 && p[0] == 0xff) {
				uint64_t t = NOW + (uint64_t)skew;

				for (i = 0; i < 8; i++)
					p[i] = (unsigned char)(t >> (56 - 8 * i));
			}
			len = shsync_seal_for_test(s, p, plen, pkt, sizeof(pkt));
			CHECK(len == (ssize_t)(plen + SHSYNC_OVERHEAD - 19));
			o.id = malloc(SHSYNC_ID_MAX);
			o.sess = malloc(o.max ? o.max : 1);
			CHECK(o.id != NULL && o.sess != NULL);
			r = decode(s, pkt, (size_t)len, NOW, &o);
			if (r == 0) {
				/* accepted: must be exactly what was sealed */
				uint64_t t = be64(p);

				CHECK(t + SHSYNC_MAX_AGE_MS >= NOW &&
				    t <= NOW + SHSYNC_MAX_FUTURE_MS);
				CHECK(p[16] == o.idlen);
				CHECK(memcmp(p + 17, o.id, o.idlen) == 0);
				CHECK(((size_t)p[17 + o.idlen] << 8 |
				    p[18 + o.idlen]) == o.sesslen);
				CHECK(19 + o.idlen + o.sesslen == plen);
				CHECK(memcmp(p + 19 + o.idlen, o.sess,
				    o.sesslen) == 0);
				CHECK(decode(s, pkt, (size_t)len, NOW, &o) ==
				    SHSYNC_E_REPLAY);
			}
			free(p);
		}
		break;
	}
	case 3: {
		/* byte 0: ID length, 1: time skew, 2-3: damage position,
		 * 4: damage kind, then the ID and the session */
		size_t idlen, sesslen, pos;
		int64_t skew;

		o.id = malloc(SHSYNC_ID_MAX);
		o.sess = malloc(o.max);
		CHECK(o.id != NULL && o.sess != NULL);
		if (size < 7)
			break;
		idlen = 1 + data[0] % SHSYNC_ID_MAX;
		skew = ((int64_t)(int8_t)data[1]) * 100;
		pos = (size_t)data[2] << 8 | data[3];
		if (size - 5 < idlen + 1)
			break;
		sesslen = size - 5 - idlen;
		len = shsync_encode(s, data + 5, idlen, data + 5 + idlen,
		    sesslen, NOW, pkt, sizeof(pkt));
		if (SHSYNC_OVERHEAD + idlen + sesslen > SHSYNC_MAX_PACKET) {
			CHECK(len == SHSYNC_E_TOOBIG);
			break;
		}
		CHECK(len == (ssize_t)(SHSYNC_OVERHEAD + idlen + sesslen));
		/* damaged copies first (they must not use up the packet ID) */
		if (data[4] & 1) {
			pos %= (size_t)len * 8;
			pkt[pos / 8] ^= (unsigned char)(1u << (pos % 8));
			CHECK(decode(s, pkt, (size_t)len, NOW, &o) != 0);
			pkt[pos / 8] ^= (unsigned char)(1u << (pos % 8));
		} else {
			pos %= (size_t)len;
			CHECK(decode(s, pkt, pos, NOW, &o) != 0);
			if ((size_t)len + 1 <= sizeof(pkt)) {
				pkt[len] = data[4];
				CHECK(decode(s, pkt, (size_t)len + 1, NOW, &o)
				    != 0);
			}
		}
		r = decode(s, pkt, (size_t)len, NOW + (uint64_t)skew, &o);
		if (skew < -SHSYNC_MAX_FUTURE_MS)
			CHECK(r == SHSYNC_E_STALE);
		else if (skew > SHSYNC_MAX_AGE_MS)
			CHECK(r == SHSYNC_E_STALE);
		else {
			CHECK(r == 0);
			CHECK(o.idlen == idlen && o.sesslen == sesslen);
			CHECK(memcmp(o.id, data + 5, idlen) == 0);
			CHECK(memcmp(o.sess, data + 5 + idlen, sesslen) == 0);
			CHECK(decode(s, pkt, (size_t)len, NOW + (uint64_t)skew,
			    &o) == SHSYNC_E_REPLAY);
		}
		break;
	}
	}
	free(o.id);
	free(o.sess);
	shsync_free(s);
	return 0;
}
