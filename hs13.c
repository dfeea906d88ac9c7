/* hs13.c - stud's own TLS 1.3 full handshake (RFC 8446): the ClientHello
 * reader, the key schedule, the server's flight and the check of the
 * client's Finished. No SSL object; signatures and tickets by the caller. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hello.h"
#include "hs13.h"
#include "kdf.h"
#include "record.h"
#include "x25519.h"

#define HS_SERVER_HELLO		2
#define HS_NEW_SESSION_TICKET	4
#define HS_ENCRYPTED_EXTENSIONS	8
#define HS_CERTIFICATE_VERIFY	15
#define HS_FINISHED		20

#define EXT_SERVER_NAME		0x0000
#define EXT_MAX_FRAGMENT	0x0001
#define EXT_STATUS_REQUEST	0x0005
#define EXT_GROUPS		0x000a
#define EXT_SIGALGS		0x000d
#define EXT_PSK			0x0029
#define EXT_EARLY_DATA		0x002a
#define EXT_VERSIONS		0x002b
#define EXT_COOKIE		0x002c
#define EXT_SIGALGS_CERT	0x0032
#define EXT_KEY_SHARE		0x0033

#define GROUP_X25519		0x001d
#define TICKET_NONCE_LEN	8

/* ---------------------------------------------------------------------
 * The ClientHello.
 */

/* Whether OpenSSL 3.0 could take a TLS 1.3 key share of this group
 * (RFC 8446, 4.2.7: the NIST curves, X25519, X448, FFDHE): those are what
 * decides, other groups (GREASE, hybrids) are passed over. */
static int
openssl_group(unsigned g)
{
	return (g >= 0x0017 && g <= 0x0019) || g == GROUP_X25519 ||
	    g == 0x001e || (g >= 0x0100 && g <= 0x0104);
}

/* key_share: well formed; the first share OpenSSL could take must be
 * X25519's, as OpenSSL then takes it. */
static int
hello_share(struct hs13_hello *h, const unsigned char *p, size_t len)
{
	size_t off, klen;
	unsigned g;
	int decided = 0;

	if (len < 2 || hello_get16(p) != len - 2)
		return -1;
	for (off = 2; off < len; off += 4 + klen) {
		if (len - off < 4)
			return -1;
		g = hello_get16(p + off);
		klen = hello_get16(p + off + 2);
		if (klen == 0 || klen > len - off - 4)
			return -1;
		if (!decided && openssl_group(g)) {
			decided = 1;
			if (g == GROUP_X25519 && klen == 32)
				h->share = p + off + 4;
		}
	}
	return h->share != NULL ? 0 : -1;
}

/* What the extensions walk fills. */
struct walk {
	struct hs13_hello	*h;
	int			 tls13;		/* supported_versions has 1.3 */
	const unsigned char	*groups;	/* supported_groups */
	size_t			 ngroups;
	const unsigned char	*shares;	/* key_share's entries */
	size_t			 nshares;
};

/* One extension of the hello. Returns 0, or -1 if it is OpenSSL's. */
static int
hello_ext(void *arg, unsigned type, const unsigned char *p, size_t len)
{
	struct walk *w = arg;
	struct hs13_hello *h = w->h;
	const unsigned char *l;
	size_t n;

	switch (type) {
	case EXT_SERVER_NAME:
		return hello_server_name(p, len, h->sni, sizeof(h->sni));
	case EXT_STATUS_REQUEST:
		h->status = 1;
		return 0;
	case EXT_GROUPS:
		if ((w->groups = hello_list16(p, len, 2, &w->ngroups)) == NULL)
			return -1;
		return 0;
	case EXT_SIGALGS:
	case EXT_SIGALGS_CERT:
		if ((l = hello_list16(p, len, 2, &n)) == NULL)
			return -1;
		if (type == EXT_SIGALGS) {
			h->sigalgs = l;
			h->sigalgslen = n;
		} else {
			h->certalgs = l;
			h->certalgslen = n;
		}
		return 0;
	case EXT_VERSIONS:
		if ((l = hello_list16(p, len, 1, &n)) == NULL)
			return -1;
		w->tls13 = hello_list_has(l, n, REC_TLS13);
		return 0;
	case EXT_KEY_SHARE:
		w->shares = p + 2;
		w->nshares = len - 2;
		return hello_share(h, p, len);
	case EXT_MAX_FRAGMENT:
	case EXT_PSK:
	case EXT_EARLY_DATA:
	case EXT_COOKIE:
		return -1;
	default:
		return 0;
	}
}

/* OpenSSL refuses a hello whose key shares, up to the one it takes, are
 * not all of groups the client lists (illegal_parameter): so does this
 * path, leaving it to OpenSSL. */
static int
shares_listed(const struct walk *w)
{
	size_t off;

	for (off = 0; off + 4 <= w->nshares;
	    off += 4 + hello_get16(w->shares + off + 2)) {
		if (!hello_list_has(w->groups, w->ngroups,
		    hello_get16(w->shares + off)))
			return 0;
		if (w->shares + off + 4 == w->h->share)
			return 1;
	}
	return 0;
}

int
hs13_parse_hello(const unsigned char *buf, size_t len, struct hs13_hello *h)
{
	struct hello f;
	struct walk w = { h, 0, NULL, 0, NULL, 0 };
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = hello_read(buf, len, &f)) != HELLO_OK)
		return r == HELLO_MORE ? HS13_MORE : HS13_NO;
	h->msg = f.msg;
	h->msglen = f.msglen;
	h->reclen = f.reclen;
	h->sid = f.sid;
	h->sidlen = f.sidlen;
	h->suites = f.suites;
	h->suiteslen = f.suiteslen;
	/* TLS 1.3: exactly the null compression method (RFC 8446, 4.1.2) */
	if (f.version != REC_TLS12 || f.complen != 1 || f.comp[0] != 0 ||
	    f.exts == f.end || hello_each_ext(&f, hello_ext, &w) == -1 ||
	    !w.tls13 || h->share == NULL || h->sigalgs == NULL ||
	    w.groups == NULL || !shares_listed(&w))
		return HS13_NO;
	return HS13_OK;
}

/* ---------------------------------------------------------------------
 * The server's flight.
 */

/* Choose among ours (n values) what the client's list (len bytes) also
 * has: in our order, or in the client's. 0 if nothing. */
static unsigned
choose(const uint16_t *ours, size_t n, const unsigned char *theirs,
    size_t len, int our_order)
{
	size_t i, j;

	if (our_order) {
		for (i = 0; i < n; i++)
			if (hello_list_has(theirs, len, ours[i]))
				return ours[i];
		return 0;
	}
	for (j = 0; j + 1 < len; j += 2)
		for (i = 0; i < n; i++)
			if (hello_get16(theirs + j) == ours[i])
				return ours[i];
	return 0;
}

/* Derive-Secret and HKDF-Expand-Label with the "tls13 " prefix. */
static int
label(int sha384, const unsigned char *secret, const char *lbl,
    const unsigned char *ctx, size_t clen, unsigned char *out, size_t len)
{
	return kdf_expand_label(sha384, secret, kdf_hash_len(sha384),
	    (const unsigned char *)"tls13 ", 6, (const unsigned char *)lbl,
	    strlen(lbl), ctx, clen, out, len);
}

/* Derive-Secret(early secret, "derived", "") for a handshake without a
 * PSK: the same every time, computed once per hash. */
static const unsigned char *
derived_early(int sha384)
{
	static unsigned char derived[2][KDF_HASH_MAX];
	static int ready[2];
	unsigned char zeros[KDF_HASH_MAX] = { 0 }, early[KDF_HASH_MAX],
	    empty[KDF_HASH_MAX];
	size_t hl = kdf_hash_len(sha384);

	if (!ready[sha384] &&
	    kdf_extract(sha384, NULL, 0, zeros, hl, early) == 0 &&
	    kdf_hash(sha384, NULL, 0, NULL, 0, NULL, 0, empty) == 0 &&
	    label(sha384, early, "derived", empty, hl, derived[sha384],
	    hl) == 0)
		ready[sha384] = 1;
	return ready[sha384] ? derived[sha384] : NULL;
}

/* What a flight computes, wiped after. */
struct flight {
	int		sha384;
	size_t		hl;
	unsigned char	priv[32], pub[32], shared[32];
	unsigned char	hs[KDF_HASH_MAX];	/* handshake secret */
	unsigned char	master[KDF_HASH_MAX];
	unsigned char	c_hs[KDF_HASH_MAX], s_hs[KDF_HASH_MAX];
	unsigned char	c_ap[KDF_HASH_MAX], s_ap[KDF_HASH_MAX];
	unsigned char	res[KDF_HASH_MAX];	/* resumption master secret */
	unsigned char	th[KDF_HASH_MAX];	/* a transcript hash */
	unsigned char	key[KDF_HASH_MAX];	/* a finished key */
};

/* ServerHello at p (its record's body). Returns its length. */
static size_t
server_hello(unsigned char *p, const struct hs13_hello *h, unsigned suite,
    const unsigned char random[32], const unsigned char pub[32])
{
	unsigned char *q = p + 4;

	q = hello_put16(q, REC_TLS12);
	memcpy(q, random, 32);
	q += 32;
	*q++ = (unsigned char)h->sidlen;
	if (h->sidlen > 0)
		memcpy(q, h->sid, h->sidlen);
	q += h->sidlen;
	q = hello_put16(q, suite);
	*q++ = 0;
	q = hello_put16(q, 6 + 40);
	q = hello_put16(q, EXT_VERSIONS);
	q = hello_put16(q, 2);
	q = hello_put16(q, REC_TLS13);
	q = hello_put16(q, EXT_KEY_SHARE);
	q = hello_put16(q, 36);
	q = hello_put16(q, GROUP_X25519);
	q = hello_put16(q, 32);
	memcpy(q, pub, 32);
	q += 32;
	hello_put_head(p, HS_SERVER_HELLO, (size_t)(q - p) - 4);
	return (size_t)(q - p);
}

/* A plaintext record of type at out. Returns its length. */
static size_t
plain_record(unsigned char *out, unsigned type, const unsigned char *body,
    size_t len)
{
	out[0] = (unsigned char)type;
	hello_put16(out + 1, REC_TLS12);
	hello_put16(out + 3, len);
	if (body != NULL)
		memmove(out + 5, body, len);
	return 5 + len;
}

/* Seal len bytes of handshake messages at msgs into records at out (room
 * bytes; msgs may not overlap out). Returns the bytes written, or -1. */
static long
seal_messages(struct rec_state *rs, const unsigned char *msgs, size_t len,
    unsigned char *out, size_t room)
{
	size_t done = 0, n, used = 0;
	long r;

	while (done < len) {
		n = len - done < REC_PLAIN_MAX ? len - done : REC_PLAIN_MAX;
		if (room - used < 5 + n + REC_TAIL_MAX)
			return -1;
		memcpy(out + used + 5, msgs + done, n);
		if ((r = rec_seal(rs, REC_HANDSHAKE, out + used, n)) < 0)
			return -1;
		used += (size_t)r;
		done += n;
	}
	return (long)used;
}

/* The key schedule up to the handshake traffic secrets (RFC 8446, 7.1),
 * the transcript holding ClientHello and ServerHello. */
static int
schedule_handshake(struct flight *f)
{
	const unsigned char *derived = derived_early(f->sha384);
	unsigned char zeros[KDF_HASH_MAX] = { 0 }, empty[KDF_HASH_MAX],
	    d2[KDF_HASH_MAX];
	int r;

	r = derived == NULL ||
	    kdf_extract(f->sha384, derived, f->hl, f->shared, 32, f->hs) ||
	    kdf_run_peek(f->th) ||
	    label(f->sha384, f->hs, "c hs traffic", f->th, f->hl, f->c_hs,
	    f->hl) ||
	    label(f->sha384, f->hs, "s hs traffic", f->th, f->hl, f->s_hs,
	    f->hl) ||
	    kdf_hash(f->sha384, NULL, 0, NULL, 0, NULL, 0, empty) ||
	    label(f->sha384, f->hs, "derived", empty, f->hl, d2, f->hl) ||
	    kdf_extract(f->sha384, d2, f->hl, zeros, f->hl, f->master);
	OPENSSL_cleanse(d2, sizeof(d2));
	return r ? -1 : 0;
}

/* CertificateVerify at p (RFC 8446, 4.4.3), the transcript running up to
 * the Certificate. Returns its length, or -1. */
static long
cert_verify(const struct hs13_server *s, struct flight *f, unsigned scheme,
    unsigned char *p, size_t room)
{
	static const char context[] = "TLS 1.3, server CertificateVerify";
	unsigned char tbs[64 + sizeof(context) + KDF_HASH_MAX],
	    hash[KDF_HASH_MAX];
	int sha384 = scheme == 0x0503 || scheme == 0x0805;
	long n;

	if (room < 8 || kdf_run_peek(f->th) == -1)
		return -1;
	memset(tbs, 0x20, 64);
	memcpy(tbs + 64, context, sizeof(context));	/* with its 0 */
	memcpy(tbs + 64 + sizeof(context), f->th, f->hl);
	if (kdf_hash(sha384, tbs, 64 + sizeof(context) + f->hl, NULL, 0,
	    NULL, 0, hash) == -1 ||
	    (n = s->sign(s, scheme, hash, kdf_hash_len(sha384), p + 8,
	    room - 8)) <= 0)
		return -1;
	hello_put16(p + 4, scheme);
	hello_put16(p + 6, (size_t)n);
	hello_put_head(p, HS_CERTIFICATE_VERIFY, (size_t)n + 4);
	return n + 8;
}

/* A Finished message at p: HMAC(finished key of secret, transcript). */
static int
finished(struct flight *f, const unsigned char *secret, unsigned char *p)
{
	hello_put_head(p, HS_FINISHED, f->hl);
	return kdf_run_peek(f->th) == 0 &&
	    label(f->sha384, secret, "finished", NULL, 0, f->key, f->hl) == 0 &&
	    kdf_hmac(f->sha384, f->key, f->hl, f->th, f->hl, NULL, 0,
	    p + 4) == 0 ? 0 : -1;
}

/* Sealed NewSessionTicket records at out. Returns their length or -1. */
static long
tickets(const struct hs13_server *s, struct flight *f, unsigned suite,
    struct rec_state *rs, unsigned char *out, size_t room)
{
	unsigned char nonce[TICKET_NONCE_LEN] = { 0 }, psk[KDF_HASH_MAX];
	unsigned char *p;
	size_t used = 0;
	long n, r = 0;

	for (unsigned i = 0; i < s->tickets && r == 0; i++) {
		if (room - used < HS13_TICKET_MAX)
			return -1;
		p = out + used + 5;
		nonce[TICKET_NONCE_LEN - 1] = (unsigned char)i;
		p[4] = (unsigned char)(s->lifetime >> 24);
		p[5] = (unsigned char)(s->lifetime >> 16);
		hello_put16(p + 6, s->lifetime & 0xffff);
		if (RAND_bytes(p + 8, 4) != 1 ||
		    label(f->sha384, f->res, "resumption", nonce,
		    sizeof(nonce), psk, f->hl) == -1 ||
		    (n = s->ticket(s, suite, psk, f->hl, p + 23,
		    HS13_TICKET_MAX - 64)) <= 0) {
			r = -1;
			break;
		}
		p[12] = TICKET_NONCE_LEN;
		memcpy(p + 13, nonce, TICKET_NONCE_LEN);
		hello_put16(p + 21, (size_t)n);
		hello_put16(p + 23 + n, 0);		/* no extensions */
		hello_put_head(p, HS_NEW_SESSION_TICKET, 21 + (size_t)n);
		if ((n = rec_seal(rs, REC_HANDSHAKE, out + used,
		    25 + (size_t)n)) < 0)
			r = -1;
		else
			used += (size_t)n;
	}
	OPENSSL_cleanse(psk, sizeof(psk));
	return r == 0 ? (long)used : -1;
}

/* The flight once the suite and scheme are chosen. */
static long
flight(const struct hs13_server *s, const struct hs13_hello *h,
    struct flight *f, unsigned suite, unsigned scheme, struct rec_state *rs,
    unsigned char *out, size_t room, unsigned char fin[48])
{
	/* the encrypted messages are assembled at the end of out first */
	unsigned char random[32], *msgs, *p;
	size_t used, mlen;
	long n, m;
	int aead = rec_suite_aead(suite, &f->sha384);

	f->hl = kdf_hash_len(f->sha384);
	if (room < HS13_FLIGHT_BASE + s->certmsglen * 2 +
	    s->tickets * HS13_TICKET_MAX)
		return -1;
	msgs = out + room - (HS13_FLIGHT_BASE / 2 + s->certmsglen);
	if (RAND_priv_bytes(f->priv, 32) != 1 || RAND_bytes(random, 32) != 1 ||
	    x25519_public(f->pub, f->priv) == -1 ||
	    x25519_shared(f->shared, f->priv, h->share) == -1)
		return -1;
	used = plain_record(out, REC_HANDSHAKE, NULL, server_hello(out + 5, h,
	    suite, random, f->pub));
	if (kdf_run_start(f->sha384) == -1 ||
	    kdf_run_add(h->msg, h->msglen) == -1 ||
	    kdf_run_add(out + 5, used - 5) == -1 ||
	    schedule_handshake(f) == -1)
		return -1;
	if (h->sidlen > 0)	/* middlebox compatibility (RFC 8446, D.4) */
		used += plain_record(out + used, REC_CHANGE_CIPHER_SPEC,
		    (const unsigned char *)"\1", 1);

	/* EncryptedExtensions (none), Certificate, CertificateVerify */
	p = msgs;
	p = hello_put_head(p, HS_ENCRYPTED_EXTENSIONS, 2);
	p = hello_put16(p, 0);
	memcpy(p, s->certmsg, s->certmsglen);
	p += s->certmsglen;
	if (kdf_run_add(msgs, (size_t)(p - msgs)) == -1 ||
	    (n = cert_verify(s, f, scheme, p, HS13_FLIGHT_BASE / 2 - 64 -
	    6 - f->hl)) < 0 || kdf_run_add(p, (size_t)n) == -1)
		return -1;
	p += n;
	/* our Finished, then the client's as it must be */
	if (finished(f, f->s_hs, p) == -1 || kdf_run_add(p, 4 + f->hl) == -1)
		return -1;
	p += 4 + f->hl;
	mlen = (size_t)(p - msgs);
	if (kdf_run_peek(f->th) == -1 ||
	    label(f->sha384, f->master, "c ap traffic", f->th, f->hl, f->c_ap,
	    f->hl) == -1 ||
	    label(f->sha384, f->master, "s ap traffic", f->th, f->hl, f->s_ap,
	    f->hl) == -1 || finished(f, f->c_hs, p) == -1 ||
	    kdf_run_add(p, 4 + f->hl) == -1 || kdf_run_peek(f->th) == -1 ||
	    label(f->sha384, f->master, "res master", f->th, f->hl, f->res,
	    f->hl) == -1)
		return -1;
	memcpy(fin, p + 4, f->hl);

	/* sealed with the handshake keys, then the tickets with ours */
	memset(rs, 0, sizeof(*rs));
	memcpy(rs->rd.secret, f->c_hs, f->hl);
	memcpy(rs->wr.secret, f->s_hs, f->hl);
	if (rec_start13(rs, (enum rec_aead)aead, f->sha384) == -1 ||
	    (n = seal_messages(rs, msgs, mlen, out + used,
	    (size_t)(msgs - out) - used)) < 0)
		return -1;
	used += (size_t)n;
	memcpy(rs->wr.secret, f->s_ap, f->hl);
	rs->wr.seq = 0;
	if (rec_start13(rs, (enum rec_aead)aead, f->sha384) == -1 ||
	    (m = tickets(s, f, suite, rs, out + used, room - used)) < 0)
		return -1;
	/* the client's handshake key stays until its Finished is in */
	memcpy(rs->rd.secret, f->c_ap, f->hl);
	return (long)(used + (size_t)m);
}

long
hs13_server_flight(const struct hs13_server *s, const struct hs13_hello *h,
    struct rec_state *rs, unsigned char *out, size_t room,
    unsigned char fin[48])
{
	struct flight f;
	unsigned suite, scheme;
	long n;
	int sha384;

	suite = choose(s->suites, s->nsuites, h->suites, h->suiteslen,
	    s->server_pref);
	scheme = choose(s->schemes, s->nschemes, h->sigalgs, h->sigalgslen,
	    s->server_pref);
	if (suite == 0 || rec_suite_aead(suite, &sha384) == -1 || scheme == 0 ||
	    (h->status && s->staple) || (h->certalgs != NULL &&
	    (s->certalg == 0 || !hello_list_has(h->certalgs, h->certalgslen,
	    s->certalg))))
		return -1;
	n = flight(s, h, &f, suite, scheme, rs, out, room, fin);
	OPENSSL_cleanse(&f, sizeof(f));
	if (n < 0)
		rec_wipe(rs);
	return n;
}

/* ---------------------------------------------------------------------
 * The client's Finished.
 */

long
hs13_client_finished(struct rec_state *rs, const unsigned char fin[48],
    const unsigned char *buf, size_t len)
{
	static unsigned char plain[REC_OPEN_ROOM];
	unsigned char msg[4 + KDF_HASH_MAX];
	struct rec_state t = *rs;	/* rs moves on only once it is all in */
	size_t used = 0, got = 0, hl = kdf_hash_len(rs->sha384), last = 0;
	unsigned type;
	long n, m, r = 0;

	/* ChangeCipherSpec records, dropped unread (RFC 8446, 5), then the
	 * Finished, in one record or more (5.1) */
	while (r == 0 && (n = rec_frame(buf + used, len - used)) > 0) {
		m = 0;
		if (buf[used] == REC_CHANGE_CIPHER_SPEC && got == 0) {
			if (n != 6 || buf[used + 5] != 1)
				r = -REC_UNEXPECTED_MESSAGE;
		} else if (buf[used] != REC_APPDATA)
			r = -REC_UNEXPECTED_MESSAGE;
		else if ((m = rec_open(&t, buf + used, (size_t)n, plain,
		    &type)) < 0)
			r = m;
		else if (type != REC_HANDSHAKE)
			r = -REC_UNEXPECTED_MESSAGE;
		else if (m == 0 || got + (size_t)m > 4 + hl)
			r = -REC_DECODE_ERROR;
		else {
			memcpy(msg + got, plain, (size_t)m);
			got += (size_t)m;
		}
		if (m > 0 && (size_t)m > last)
			last = (size_t)m;
		used += (size_t)n;
		if (r == 0 && got == 4 + hl)
			r = (long)used;
	}
	if (r == 0 && n < 0)
		r = n;
	if (r > 0 && (msg[0] != HS_FINISHED || msg[1] != 0 ||
	    hello_get16(msg + 2) != hl))
		r = -REC_DECODE_ERROR;
	if (r > 0 && CRYPTO_memcmp(msg + 4, fin, hl) != 0)
		r = -REC_DECRYPT_ERROR;
	if (r > 0) {
		/* the client's application keys; ours are unchanged */
		*rs = t;
		rs->rd.seq = 0;
		if (rec_start13(rs, (enum rec_aead)rs->aead, rs->sha384) == -1)
			r = -REC_INTERNAL_ERROR;
	}
	OPENSSL_cleanse(&t, sizeof(t));
	OPENSSL_cleanse(msg, sizeof(msg));
	OPENSSL_cleanse(plain, last);
	return r;
}
