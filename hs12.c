/* hs12.c - stud's own TLS 1.2 full handshake (RFC 5246, ECDHE with X25519
 * per RFC 8422, extended master secret per RFC 7627): the ClientHello
 * reader, both server flights and the check of the client's Finished. No
 * SSL object; signatures, tickets and sessions by the caller. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hello.h"
#include "hs12.h"
#include "kdf.h"
#include "record.h"
#include "x25519.h"

#define HS_SERVER_HELLO		2
#define HS_NEW_SESSION_TICKET	4
#define HS_SERVER_KEY_EXCHANGE	12
#define HS_SERVER_HELLO_DONE	14
#define HS_CLIENT_KEY_EXCHANGE	16
#define HS_FINISHED		20

#define EXT_SERVER_NAME		0x0000
#define EXT_MAX_FRAGMENT	0x0001
#define EXT_STATUS_REQUEST	0x0005
#define EXT_GROUPS		0x000a
#define EXT_POINT_FORMATS	0x000b
#define EXT_SIGALGS		0x000d
#define EXT_EMS			0x0017
#define EXT_SESSION_TICKET	0x0023
#define EXT_PSK			0x0029
#define EXT_EARLY_DATA		0x002a
#define EXT_VERSIONS		0x002b
#define EXT_RENEGOTIATION	0xff01
#define SCSV_RENEGOTIATION	0x00ff
#define SCSV_FALLBACK		0x5600

#define GROUP_X25519		0x001d
#define ALERT_ILLEGAL_PARAMETER	47
#define ALERT_PROTOCOL_VERSION	70

/* ---------------------------------------------------------------------
 * The ClientHello.
 */

/* Whether OpenSSL 3.0 knows a group (RFC 8422's curves, X25519, X448,
 * FFDHE): the first of those the client lists decides; others (GREASE,
 * hybrids) are passed over. */
static int
openssl_group(unsigned g)
{
	return (g >= 0x0001 && g <= 0x001e) || (g >= 0x0100 && g <= 0x0104);
}

/* What the extensions walk fills. */
struct walk {
	struct hs12_hello	*h;
	unsigned		 ems:1;
	unsigned		 x25519:1;	/* the first group known */
};

static int
walk_groups(struct walk *w, const unsigned char *p, size_t len)
{
	const unsigned char *l;
	size_t n, i;

	if ((l = hello_list16(p, len, 2, &n)) == NULL)
		return -1;
	for (i = 0; i < n; i += 2)
		if (openssl_group(hello_get16(l + i))) {
			w->x25519 = hello_get16(l + i) == GROUP_X25519;
			break;
		}
	return 0;
}

/* One extension of the hello. Returns 0, or -1 if it is OpenSSL's. */
static int
hello_ext(void *arg, unsigned type, const unsigned char *p, size_t len)
{
	struct walk *w = arg;
	struct hs12_hello *h = w->h;
	const unsigned char *l;
	size_t n;

	switch (type) {
	case EXT_SERVER_NAME:
		return hello_server_name(p, len, h->sni, sizeof(h->sni));
	case EXT_STATUS_REQUEST:
		h->status = 1;
		return 0;
	case EXT_GROUPS:
		return walk_groups(w, p, len);
	case EXT_POINT_FORMATS:
		h->pf = 1;
		return len >= 2 && p[0] == len - 1 &&
		    memchr(p + 1, 0, len - 1) != NULL ? 0 : -1;
	case EXT_SIGALGS:
		if ((h->sigalgs = hello_list16(p, len, 2, &n)) == NULL)
			return -1;
		h->sigalgslen = n;
		return 0;
	case EXT_VERSIONS:
		if ((l = hello_list16(p, len, 1, &n)) == NULL ||
		    hello_list_has(l, n, REC_TLS13) ||
		    !hello_list_has(l, n, REC_TLS12))
			return -1;
		return 0;
	case EXT_EMS:
		w->ems = 1;
		return len == 0 ? 0 : -1;
	case EXT_SESSION_TICKET:
		h->ticket = 1;
		return len == 0 ? 0 : -1;
	case EXT_RENEGOTIATION:
		h->ri = 1;
		return len == 1 && p[0] == 0 ? 0 : -1;
	case EXT_MAX_FRAGMENT:
	case EXT_PSK:
	case EXT_EARLY_DATA:
		return -1;
	default:
		return 0;
	}
}

int
hs12_parse_hello(const unsigned char *buf, size_t len, struct hs12_hello *h)
{
	struct hello f;
	struct walk w = { h, 0, 0 };
	size_t i;
	unsigned cs;
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = hello_read(buf, len, &f)) != HELLO_OK)
		return r == HELLO_MORE ? HS12_MORE : HS12_NO;
	h->msg = f.msg;
	h->msglen = f.msglen;
	h->reclen = f.reclen;
	h->random = f.random;
	h->suites = f.suites;
	h->suiteslen = f.suiteslen;
	if (f.version < REC_TLS12 || f.sidlen != 0 ||
	    memchr(f.comp, 0, f.complen) == NULL)
		return HS12_NO;
	for (i = 0; i < f.suiteslen; i += 2) {
		cs = hello_get16(f.suites + i);
		if (cs == SCSV_FALLBACK)
			return HS12_NO;
		if (cs == SCSV_RENEGOTIATION)
			h->ri = 1;
	}
	if (hello_each_ext(&f, hello_ext, &w) == -1 || !w.ems || !w.x25519 ||
	    h->sigalgs == NULL)
		return HS12_NO;
	return HS12_OK;
}

/* ---------------------------------------------------------------------
 * Choosing as OpenSSL 3.0 does (ssl3_choose_cipher, tls_choose_sigalg).
 */

/* What s does with suite cs: HS12_* (HS12_SKIP if it has not got it). */
static int
suite_kind(const struct hs12_server *s, unsigned cs)
{
	for (size_t i = 0; i < s->nsuites; i++)
		if (s->suites[i] == cs)
			return s->kinds[i];
	return HS12_SKIP;
}

/* The suite OpenSSL would choose, if this path can too; else 0. */
static unsigned
choose_suite(const struct hs12_server *s, const struct hs12_hello *h)
{
	size_t i, n = s->server_pref ? s->nsuites : h->suiteslen / 2;
	unsigned cs;
	int kind, sha384;

	for (i = 0; i < n; i++) {
		cs = s->server_pref ? s->suites[i] : hello_get16(h->suites +
		    2 * i);
		if (s->server_pref && !hello_list_has(h->suites, h->suiteslen,
		    cs))
			continue;
		kind = suite_kind(s, cs);
		if (kind == HS12_TAKE)
			return rec_suite_aead(cs, &sha384) >= 0 ? cs : 0;
		if (kind == HS12_OTHER)
			return 0;
	}
	return 0;
}

/* OpenSSL's own list of TLS 1.2 schemes an RSA key can sign with, in its
 * order; this path signs with the first four. */
static const uint16_t rsa_schemes[] = { 0x0804, 0x0805, 0x0806, 0x0401,
    0x0501, 0x0601, 0x0301, 0x0201 };
#define RSA_SCHEMES	(sizeof(rsa_schemes) / sizeof(rsa_schemes[0]))

static int
scheme_ours(unsigned v)
{
	return v == 0x0804 || v == 0x0805 || v == 0x0401 || v == 0x0501;
}

/* The signature scheme OpenSSL would choose, if this path can too; else
 * 0. */
static unsigned
choose_scheme(const struct hs12_server *s, const struct hs12_hello *h)
{
	size_t i, j;
	unsigned v;

	if (s->server_pref) {
		for (i = 0; i < RSA_SCHEMES; i++)
			if (hello_list_has(h->sigalgs, h->sigalgslen,
			    rsa_schemes[i]))
				return scheme_ours(rsa_schemes[i]) ?
				    rsa_schemes[i] : 0;
		return 0;
	}
	for (j = 0; j + 1 < h->sigalgslen; j += 2) {
		v = hello_get16(h->sigalgs + j);
		for (i = 0; i < RSA_SCHEMES; i++)
			if (rsa_schemes[i] == v)
				return scheme_ours(v) ? v : 0;
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * The server's first flight.
 */

/* ServerHello at p. Returns its length. */
static size_t
server_hello(unsigned char *p, const struct hs12_hello *h,
    const struct hs12_state *st)
{
	unsigned char *q = p + 4, *exts;

	q = hello_put16(q, REC_TLS12);
	memcpy(q, st->randoms + 32, 32);
	q += 32;
	*q++ = st->sidlen;
	memcpy(q, st->sid, st->sidlen);
	q = hello_put16(q + st->sidlen, st->suite);
	*q++ = 0;			/* null compression */
	exts = q + 2;
	q = exts;
	if (h->ri) {			/* RFC 5746: empty renegotiation_info */
		q = hello_put16(hello_put16(q, EXT_RENEGOTIATION), 1);
		*q++ = 0;
	}
	if (h->sni[0] != '\0')		/* RFC 6066, 3: the name was used */
		q = hello_put16(hello_put16(q, EXT_SERVER_NAME), 0);
	if (h->pf) {			/* uncompressed only */
		q = hello_put16(hello_put16(q, EXT_POINT_FORMATS), 2);
		*q++ = 1;
		*q++ = 0;
	}
	if (st->ticket)
		q = hello_put16(hello_put16(q, EXT_SESSION_TICKET), 0);
	q = hello_put16(hello_put16(q, EXT_EMS), 0);
	hello_put16(exts - 2, (size_t)(q - exts));
	hello_put_head(p, HS_SERVER_HELLO, (size_t)(q - p) - 4);
	return (size_t)(q - p);
}

/* ServerKeyExchange at p (RFC 8422, 5.4): our X25519 share, signed with
 * the randoms. Returns its length, or -1. */
static long
key_exchange(const struct hs12_server *s, const struct hs12_state *st,
    unsigned scheme, unsigned char *p, size_t room)
{
	unsigned char *params = p + 4, hash[KDF_HASH_MAX];
	int sha384 = (scheme & 0xff00) == 0x0500 || scheme == 0x0805;
	long n;

	if (room < 4 + 36 + 4)
		return -1;
	params[0] = 3;			/* named_curve */
	hello_put16(params + 1, GROUP_X25519);
	params[3] = 32;
	if (x25519_public(params + 4, st->priv) == -1 ||
	    kdf_hash(sha384, st->randoms, 64, params, 36, NULL, 0,
	    hash) == -1 ||
	    (n = s->sign(s, scheme, hash, kdf_hash_len(sha384), p + 44,
	    room - 44)) <= 0)
		return -1;
	hello_put16(p + 40, scheme);
	hello_put16(p + 42, (size_t)n);
	hello_put_head(p, HS_SERVER_KEY_EXCHANGE, 40 + (size_t)n);
	return 44 + n;
}

static long
first_flight(const struct hs12_server *s, const struct hs12_hello *h,
    struct hs12_state *st, unsigned scheme, unsigned char *out, size_t room)
{
	unsigned char *p = out + 5;
	long n;

	if (room < HS12_FLIGHT_BASE + s->certmsglen ||
	    RAND_priv_bytes(st->priv, 32) != 1 ||
	    RAND_bytes(st->randoms + 32, 32) != 1 ||
	    (!st->ticket && RAND_bytes(st->sid, 32) != 1))
		return -1;
	if (s->downgrade)		/* RFC 8446, 4.1.3 */
		memcpy(st->randoms + 56, "DOWNGRD\001", 8);
	st->sidlen = st->ticket ? 0 : 32;
	p += server_hello(p, h, st);
	memcpy(p, s->certmsg, s->certmsglen);
	p += s->certmsglen;
	if ((n = key_exchange(s, st, scheme, p, room - (size_t)(p - out) -
	    4)) < 0)
		return -1;
	p += n;
	p = hello_put_head(p, HS_SERVER_HELLO_DONE, 0);
	out[0] = REC_HANDSHAKE;
	hello_put16(out + 1, REC_TLS12);
	hello_put16(out + 3, (size_t)(p - out) - 5);
	if (kdf_run_start(st->sha384) == -1 ||
	    kdf_run_add(h->msg, h->msglen) == -1 ||
	    kdf_run_add(out + 5, (size_t)(p - out) - 5) == -1 ||
	    (st->run = kdf_run_take()) == NULL)
		return -1;
	return p - out;
}

long
hs12_server_flight(const struct hs12_server *s, const struct hs12_hello *h,
    struct hs12_state *st, unsigned char *out, size_t room)
{
	unsigned scheme;
	int sha384, aead;
	long n;

	memset(st, 0, sizeof(*st));
	if ((!s->x25519_first && s->server_pref) || (h->status && s->staple) ||
	    (st->suite = (uint16_t)choose_suite(s, h)) == 0 ||
	    (scheme = choose_scheme(s, h)) == 0 ||
	    s->certmsglen > REC_PLAIN_MAX - HS12_FLIGHT_BASE) {
		memset(st, 0, sizeof(*st));	/* nothing decided */
		return -1;
	}
	aead = rec_suite_aead(st->suite, &sha384);
	st->s = s;
	st->aead = (uint8_t)aead;
	st->sha384 = (uint8_t)sha384;
	st->ticket = h->ticket && s->tickets;
	st->lifetime = s->lifetime;
	memcpy(st->randoms, h->random, 32);
	memcpy(st->sni, h->sni, sizeof(st->sni));
	if ((n = first_flight(s, h, st, scheme, out, room)) < 0)
		hs12_state_wipe(st);
	return n;
}

/* ---------------------------------------------------------------------
 * The client's flight and our answer.
 */

/* A TLS 1.2 PRF output of 48 (master) or 12 (Finished) bytes: PRF(secret,
 * label, hash) (RFC 5246, 5; RFC 7627, 4). */
static int
prf(const struct hs12_state *st, const unsigned char *secret, size_t slen,
    const char *label, const unsigned char *hash, unsigned char *out,
    size_t len)
{
	unsigned char seed[22 + KDF_HASH_MAX];
	size_t ll = strlen(label), hl = kdf_hash_len(st->sha384);

	memcpy(seed, label, ll);
	memcpy(seed + ll, hash, hl);
	return kdf_prf12(st->sha384, secret, slen, seed, ll + hl, out, len);
}

/* The ClientKeyExchange record at rec (n bytes): the client's share. */
static long
client_share(const unsigned char *rec, long n, const unsigned char **share)
{
	if (n < 6)
		return -REC_DECODE_ERROR;
	if (rec[5] != HS_CLIENT_KEY_EXCHANGE)
		return -REC_UNEXPECTED_MESSAGE;
	if (n != 5 + 4 + 33 || rec[6] != 0 || hello_get16(rec + 7) != 33 ||
	    rec[9] != 32)
		return -REC_DECODE_ERROR;
	*share = rec + 10;
	return 0;
}

/* Our answer at out: NewSessionTicket (if any), ChangeCipherSpec, sealed
 * Finished; the transcript runs up to the client's Finished. Returns its
 * length, or -1. */
static long
answer(struct hs12_state *st, struct rec_state *rs, unsigned char *out)
{
	const struct hs12_server *s = st->s;
	unsigned char hash[KDF_HASH_MAX], *p = out, *rec;
	long n;

	if (st->ticket) {
		p[9] = (unsigned char)(st->lifetime >> 24);
		p[10] = (unsigned char)(st->lifetime >> 16);
		hello_put16(p + 11, st->lifetime & 0xffff);
		if ((n = s->ticket(s, st, p + 15, HS12_ANSWER_MAX - 64 -
		    15)) <= 0)
			return -1;
		hello_put16(p + 13, (size_t)n);
		hello_put_head(p + 5, HS_NEW_SESSION_TICKET, 6 + (size_t)n);
		p[0] = REC_HANDSHAKE;
		hello_put16(p + 1, REC_TLS12);
		hello_put16(p + 3, 10 + (size_t)n);
		if (kdf_run_add(p + 5, 10 + (size_t)n) == -1)
			return -1;
		p += 15 + n;
	}
	memcpy(p, "\024\003\003\000\001\001", 6);	/* ChangeCipherSpec */
	rec = p + 6;
	p = rec + rec_head_len(rs);
	hello_put_head(p, HS_FINISHED, 12);
	if (kdf_run_peek(hash) == -1 ||
	    prf(st, st->master, 48, "server finished", hash, p + 4, 12) == -1 ||
	    (n = rec_seal(rs, REC_HANDSHAKE, rec, 16)) < 0)
		return -1;
	return (rec - out) + n;
}

/* The client's three records complete at buf: the master secret, rs's
 * keys, the Finished checked. Returns the bytes taken or -alert. */
static long
client_flight(struct hs12_state *st, struct rec_state *rs,
    const unsigned char *buf, long cke, long fin)
{
	static unsigned char plain[REC_OPEN_ROOM];
	unsigned char pms[32], hash[KDF_HASH_MAX], want[12];
	const unsigned char *share = NULL;
	struct rec_state t;
	unsigned type;
	long r, m;

	if ((r = client_share(buf, cke, &share)) < 0)
		return r;
	kdf_run_give(st->run);
	st->run = NULL;
	if (x25519_shared(pms, st->priv, share) == -1)
		return -ALERT_ILLEGAL_PARAMETER;
	memset(&t, 0, sizeof(t));
	r = kdf_run_add(buf + 5, (size_t)cke - 5) == -1 ||
	    kdf_run_peek(hash) == -1 ||
	    prf(st, pms, 32, "extended master secret", hash, st->master,
	    48) == -1 ||
	    prf(st, st->master, 48, "client finished", hash, want, 12) == -1 ||
	    rec_start12(&t, (enum rec_aead)st->aead, st->sha384, st->master,
	    st->randoms, st->randoms + 32) == -1 ? -REC_INTERNAL_ERROR : 0;
	OPENSSL_cleanse(pms, sizeof(pms));
	if (r == 0 && (m = rec_open(&t, buf + cke + 6, (size_t)fin, plain,
	    &type)) < 0)
		r = m;
	else if (r == 0 && (type != REC_HANDSHAKE || m != 16 ||
	    plain[0] != HS_FINISHED || plain[1] != 0 ||
	    hello_get16(plain + 2) != 12))
		r = -REC_DECODE_ERROR;
	else if (r == 0 && CRYPTO_memcmp(plain + 4, want, 12) != 0)
		r = -REC_DECRYPT_ERROR;
	else if (r == 0 && kdf_run_add(plain, 16) == -1)
		r = -REC_INTERNAL_ERROR;
	if (r == 0) {
		*rs = t;
		r = cke + 6 + fin;
	}
	OPENSSL_cleanse(&t, sizeof(t));
	OPENSSL_cleanse(plain, 16);
	return r;
}

/* A complete record at buf (len bytes so far) of TLS 1.2, the version
 * agreed: its length, 0 while incomplete, or -alert. */
static long
frame12(const unsigned char *buf, size_t len)
{
	long n = rec_frame(buf, len);

	if (n > 0 && hello_get16(buf + 1) != REC_TLS12)
		return -ALERT_PROTOCOL_VERSION;
	return n;
}

long
hs12_client_flight(struct hs12_state *st, struct rec_state *rs,
    const unsigned char *buf, size_t len, unsigned char *out,
    size_t *outlen)
{
	long cke, ccs, fin, r, n;

	*outlen = 0;
	if ((cke = frame12(buf, len)) <= 0)
		return cke;
	if (buf[0] != REC_HANDSHAKE)
		return -REC_UNEXPECTED_MESSAGE;
	if ((ccs = frame12(buf + cke, len - (size_t)cke)) <= 0)
		return ccs;
	if (buf[cke] != REC_CHANGE_CIPHER_SPEC || ccs != 6 || buf[cke + 5] != 1)
		return -REC_UNEXPECTED_MESSAGE;
	if ((fin = frame12(buf + cke + 6, len - (size_t)cke - 6)) <= 0)
		return fin;
	if (buf[cke + 6] != REC_HANDSHAKE)
		return -REC_UNEXPECTED_MESSAGE;
	if (st->run == NULL)
		return -REC_INTERNAL_ERROR;
	if ((r = client_flight(st, rs, buf, cke, fin)) < 0)
		return r;
	if ((n = answer(st, rs, out)) < 0) {
		rec_wipe(rs);
		return -REC_INTERNAL_ERROR;
	}
	*outlen = (size_t)n;
	return r;
}

void
hs12_state_wipe(struct hs12_state *st)
{
	kdf_run_free(st->run);
	OPENSSL_cleanse(st, sizeof(*st));
}
