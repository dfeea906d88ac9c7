/* fuzz_hs12.c - libFuzzer harness for hs12.c (stud's own TLS 1.2 full
 * handshake): its ClientHello reader, the server's first flight for a
 * hello it takes, and its check of the client's flight.
 *
 * Each input, as an exact-size heap copy, goes to:
 * - hs12_parse_hello(), against a reference reader written from hs12.h and
 *   hello.h: the same answer (more, taken, refused) for every input; a
 *   hello taken fills the input exactly (record and message), its random,
 *   suites and signature algorithms are where the reference finds them
 *   inside the input, its flags (ticket, ri, pf, status) and its
 *   NUL-terminated SNI are the reference's; every strictly shorter prefix
 *   wants more, one byte more is refused;
 * - for such a hello, hs12_server_flight() as a made-up server (suites,
 *   their kinds and order, server preference, X25519 first, stapling,
 *   tickets, downgrade, the Certificate's size, the signature's and the
 *   ticket's length, from bytes of the hello's random) into an exact-size
 *   buffer: served exactly when the reference chooses a suite and a scheme
 *   and nothing is left to OpenSSL; the flight is one plaintext record of
 *   the length returned holding ServerHello (version 0x0303, a fresh
 *   random ending in "DOWNGRD\1" iff downgrade, a 32-byte session ID
 *   unless a ticket is promised, the suite expected and offered, exactly
 *   the extensions due), the Certificate given, ServerKeyExchange (the
 *   public key of st.priv, the scheme expected, the signature made over
 *   the hash of both randoms and the parameters) and ServerHelloDone;
 * - the client's flight for that server flight, made here the way a client
 *   makes it with OpenSSL (X25519, TLS1-PRF, the transcript hashed here):
 *   every strictly shorter prefix wants more, the whole is taken with bytes
 *   after it left alone, the master secret and rs's keys are the client's,
 *   the answer is NewSessionTicket (if promised) with the ticket and
 *   lifetime given, ChangeCipherSpec and a Finished that opens with the
 *   client's keys to the expected verify_data, the ticket callback seeing
 *   the state's suite, master secret, server name and lifetime and the
 *   owner the caller set; then, on a second flight,
 *   the client's flight damaged (one byte changed, a small-order share, no
 *   ChangeCipherSpec, the Finished sealed with the server's key or with a
 *   wrong verify_data) is refused with the alert expected, rs untouched;
 * - hs12_client_flight() on the raw input, with the state of a server
 *   flight for a fixed hello (each suite): never taken, no answer, rs
 *   untouched;
 * - the input as the content of the client's Finished record, sealed with
 *   the right keys after a genuine ClientKeyExchange and ChangeCipherSpec:
 *   taken exactly when it is the Finished expected, decode_error when it is
 *   no 16-byte Finished message, decrypt_error when only its verify_data is
 *   wrong.
 * hs12_state_wipe() ends every state; LeakSanitizer sees what it leaves.
 *
 * The hello's random (bytes 11..42 of a seed) sets the made-up server (see
 * server_from()): r[0] bit 0 server preference, 1 X25519 not first, 2
 * stapling, 3 tickets, 4 downgrade, 5-7 the signature's length; r[1] bits
 * 0-1 the Certificate's size, 2-3 the ticket's length; r[2] the suites
 * left out, r[3] their rotation (bit 7: reversed), r[4..5] the kinds of
 * the five suites besides 0xc02f, 0xc030 and 0xcca8 (always HS12_TAKE);
 * r[6] % 5 how the second client flight is damaged (0: one byte xored
 * with r[7] | 1, at r[8..9] modulo its length or, if r[8] bit 7 is set,
 * at byte r[9] % 15 of the three record headers; then a small-order
 * share, no ChangeCipherSpec, the server's key, a wrong verify_data);
 * r[10] bytes after the client's flight; r[11..14] the ticket lifetime.
 *
 * Seeds (corpus/hs12/): real ClientHellos from OpenSSL's s_client and
 * Python's ssl module with TLS 1.2 at most (openssl-*, python-*), a few
 * changed by hand (made-*), and client flights (flight-*), written by
 * make_seeds.py. */
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "fuzz.h"
#include "hs12.h"
#include "record.h"
#include "x25519.h"

#define CKE_LEN		(5 + 4 + 33)	/* the ClientKeyExchange record */
#define CCS_LEN		6

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static size_t
get24(const unsigned char *p)
{
	return (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2];
}

static int
has16(const unsigned char *p, size_t len, unsigned v)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		if (get16(p + i) == v)
			return 1;
	return 0;
}

static int
inside(const unsigned char *p, size_t n, const unsigned char *buf,
    size_t size)
{
	return p >= buf && n <= size && p + n <= buf + size;
}

/* ---------------------------------------------------------------------
 * Set-up: a client key, certificate messages, fixed hellos.
 */

#define NCERTS		4
static const size_t	 cert_sizes[NCERTS] = { 64, 1200,
			    REC_PLAIN_MAX - HS12_FLIGHT_BASE,
			    REC_PLAIN_MAX - HS12_FLIGHT_BASE + 1 };
static unsigned char	*certs[NCERTS];

static int		 ready;
static EVP_KDF		*tls1_prf;
static EVP_PKEY		*client_key;	/* the client's X25519 key */
static unsigned char	 client_pub[32];

/* fixed hellos offering one suite each (with a ticket, without, with) */
#define NFIXED		3
static const unsigned	 fixed_suites[NFIXED] = { 0xc02f, 0xc030, 0xcca8 };
static unsigned char	 fixed_buf[NFIXED][128];
static struct hs12_hello fixed[NFIXED];

static unsigned char *
put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
	return p + 2;
}

/* A Certificate message of n bytes: one entry filling it. */
static unsigned char *
make_cert(size_t n)
{
	unsigned char *c = malloc(n);

	CHECK(c != NULL && n >= 10);
	memset(c, 0x99, n);
	c[0] = 11;
	c[1] = (unsigned char)((n - 4) >> 16);
	put16(c + 2, (unsigned)(n - 4));
	c[4] = (unsigned char)((n - 7) >> 16);
	put16(c + 5, (unsigned)(n - 7));
	c[7] = (unsigned char)((n - 10) >> 16);
	put16(c + 8, (unsigned)(n - 10));
	return c;
}

/* A minimal ClientHello hs12.c takes, offering suite, at buf. */
static size_t
make_hello(unsigned char *buf, unsigned suite, int ticket)
{
	static const unsigned char exts[] = {
		0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d,	/* groups */
		0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,		/* formats */
		0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x08, 0x04,	/* sigalgs */
		0x00, 0x17, 0x00, 0x00,				/* EMS */
		0x00, 0x23, 0x00, 0x00,				/* ticket */
	};
	size_t elen = sizeof(exts) - (ticket ? 0 : 4), n;
	unsigned char *p = buf + 9;

	p = put16(p, REC_TLS12);
	memset(p, 0xab, 32);
	p += 32;
	*p++ = 0;				/* no session ID */
	p = put16(put16(p, 2), suite);
	*p++ = 1;
	*p++ = 0;
	p = put16(p, (unsigned)elen);
	memcpy(p, exts, elen);
	p += elen;
	n = (size_t)(p - buf);
	buf[0] = REC_HANDSHAKE;
	put16(buf + 1, 0x0301);
	put16(buf + 3, (unsigned)(n - 5));
	buf[5] = 1;
	buf[6] = 0;
	put16(buf + 7, (unsigned)(n - 9));
	return n;
}

static void
setup(void)
{
	unsigned char raw[32];
	size_t i, n = sizeof(client_pub);

	CHECK(rec_init() == 0);
	CHECK(x25519_init() == 0);
	tls1_prf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	CHECK(tls1_prf != NULL);
	memset(raw, 0x21, sizeof(raw));
	client_key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, raw,
	    sizeof(raw));
	CHECK(client_key != NULL && EVP_PKEY_get_raw_public_key(client_key,
	    client_pub, &n) == 1 && n == 32);
	for (i = 0; i < NCERTS; i++)
		certs[i] = make_cert(cert_sizes[i]);
	for (i = 0; i < NFIXED; i++) {
		n = make_hello(fixed_buf[i], fixed_suites[i], i != 1);
		CHECK(n <= sizeof(fixed_buf[i]));
		CHECK(hs12_parse_hello(fixed_buf[i], n, &fixed[i]) == HS12_OK);
	}
	ready = 1;
}

/* ---------------------------------------------------------------------
 * The reference ClientHello reader.
 */

#define REF_MORE	0
#define REF_OK		1
#define REF_NO		(-1)

struct ref {
	const unsigned char *msg, *random, *suites, *sigalgs;
	size_t		 msglen, suiteslen, sigalgslen;
	char		 sni[256];
	int		 ticket, ri, pf, status;
};

/* Whether OpenSSL 3.0 knows the group (hs12.h: the first one it knows
 * must be X25519). */
static int
known_group(unsigned g)
{
	return (g >= 0x0001 && g <= 0x001e) || (g >= 0x0100 && g <= 0x0104);
}

/* A vector of 16-bit values with a lb-byte length filling d[0..len). */
static int
list16(const unsigned char *d, size_t len, size_t lb)
{
	size_t l;

	if (len < lb)
		return 0;
	l = lb == 1 ? d[0] : get16(d);
	return l == len - lb && l >= 2 && l % 2 == 0;
}

static int
ref_hello(const unsigned char *p, size_t size, struct ref *f)
{
	const unsigned char *q, *end, *comp, *e;
	size_t rl, n, complen, i, len, next = 0;
	unsigned types[64], type, version, ems = 0, x25519 = 0, groups = 0;

	memset(f, 0, sizeof(*f));
	if (size >= 1 && p[0] != 22)
		return REF_NO;
	if (size < 5)
		return REF_MORE;
	rl = get16(p + 3);
	if (p[1] != 3 || rl < 4 || rl > 16384)
		return REF_NO;
	if (size < 5 + rl)
		return REF_MORE;
	if (size != 5 + rl || p[5] != 1 || get24(p + 6) != rl - 4)
		return REF_NO;
	f->msg = p + 5;
	f->msglen = rl;
	q = p + 9;
	end = p + size;
	if (end - q < 35)
		return REF_NO;
	version = get16(q);
	f->random = q + 2;
	q += 34;
	n = *q++;
	if (n != 0 || end - q < 2)	/* no session ID */
		return REF_NO;
	n = get16(q);
	q += 2;
	if (n < 2 || n % 2 != 0 || (size_t)(end - q) < n + 1)
		return REF_NO;
	f->suites = q;
	f->suiteslen = n;
	q += n;
	complen = *q++;
	if (complen == 0 || (size_t)(end - q) < complen)
		return REF_NO;
	comp = q;
	q += complen;
	if (version < 0x0303 || memchr(comp, 0, complen) == NULL ||
	    has16(f->suites, f->suiteslen, 0x5600))
		return REF_NO;
	f->ri = has16(f->suites, f->suiteslen, 0x00ff);
	/* the extensions: there must be some (EMS at least) */
	if (end - q < 2 || get16(q) != (size_t)(end - q) - 2)
		return REF_NO;
	for (q += 2; q < end; q += len) {
		if (end - q < 4 || next == 64)
			return REF_NO;
		type = get16(q);
		len = get16(q + 2);
		e = q + 4;
		q += 4;
		if (len > (size_t)(end - q))
			return REF_NO;
		for (i = 0; i < next; i++)
			if (types[i] == type)
				return REF_NO;
		types[next++] = type;
		switch (type) {
		case 0x0000:	/* server_name: one host_name, no NUL */
			if (len < 5 || get16(e) != len - 2 || e[2] != 0 ||
			    get16(e + 3) != len - 5 || len - 5 == 0 ||
			    len - 5 > 255 || memchr(e + 5, 0, len - 5) != NULL)
				return REF_NO;
			memcpy(f->sni, e + 5, len - 5);
			f->sni[len - 5] = '\0';
			break;
		case 0x0005:
			f->status = 1;
			break;
		case 0x000a:	/* supported_groups */
			if (!list16(e, len, 2))
				return REF_NO;
			groups = 1;
			for (i = 2; i < len; i += 2)
				if (known_group(get16(e + i))) {
					x25519 = get16(e + i) == 0x001d;
					break;
				}
			break;
		case 0x000b:	/* ec_point_formats with uncompressed */
			f->pf = 1;
			if (len < 2 || e[0] != len - 1 ||
			    memchr(e + 1, 0, len - 1) == NULL)
				return REF_NO;
			break;
		case 0x000d:
			if (!list16(e, len, 2))
				return REF_NO;
			f->sigalgs = e + 2;
			f->sigalgslen = len - 2;
			break;
		case 0x002b:	/* supported_versions: 1.2, not 1.3 */
			if (!list16(e, len, 1) || has16(e + 1, len - 1,
			    0x0304) || !has16(e + 1, len - 1, 0x0303))
				return REF_NO;
			break;
		case 0x0017:
			ems = 1;
			if (len != 0)
				return REF_NO;
			break;
		case 0x0023:	/* session_ticket: empty only */
			f->ticket = 1;
			if (len != 0)
				return REF_NO;
			break;
		case 0xff01:	/* renegotiation_info: empty only */
			f->ri = 1;
			if (len != 1 || e[0] != 0)
				return REF_NO;
			break;
		case 0x0001: case 0x0029: case 0x002a:
			return REF_NO;
		default:
			break;
		}
	}
	return ems && groups && x25519 && f->sigalgs != NULL ? REF_OK : REF_NO;
}

/* A hello hs12_parse_hello() took, at p (size bytes), as the reference
 * read it. */
static void
check_hello(const unsigned char *p, size_t size, const struct hs12_hello *h,
    const struct ref *f)
{
	struct hs12_hello h2;
	unsigned char *more;
	size_t i;

	CHECK(h->reclen == size && h->msg == p + 5 && h->msglen + 5 == size);
	CHECK(h->msg == f->msg && h->msglen == f->msglen);
	CHECK(h->random == p + 11 && h->random == f->random);
	CHECK(h->suites == f->suites && h->suiteslen == f->suiteslen &&
	    inside(h->suites, h->suiteslen, p, size));
	CHECK(h->sigalgs == f->sigalgs && h->sigalgslen == f->sigalgslen &&
	    h->sigalgslen >= 2 && inside(h->sigalgs, h->sigalgslen, p, size));
	CHECK(memchr(h->sni, '\0', sizeof(h->sni)) != NULL);
	CHECK(strcmp(h->sni, f->sni) == 0);
	CHECK(h->ticket == (unsigned)f->ticket && h->ri == (unsigned)f->ri &&
	    h->pf == (unsigned)f->pf && h->status == (unsigned)f->status);
	for (i = 0; i < size; i++)
		CHECK(hs12_parse_hello(p, i, &h2) == HS12_MORE);
	more = malloc(size + 1);
	CHECK(more != NULL);
	memcpy(more, p, size);
	more[size] = 22;
	CHECK(hs12_parse_hello(more, size + 1, &h2) == HS12_NO);
	free(more);
}

/* ---------------------------------------------------------------------
 * The made-up server.
 */

#define NCAND		8
static const uint16_t	 cand[NCAND] = { 0xc02f, 0xc030, 0xcca8, 0xc02b,
			    0xc02c, 0xcca9, 0x009c, 0xc027 };

#define SIG_ROOM	(-2)	/* the whole room */
#define SIG_FAIL	(-1)
static const long	 sig_lens[8] = { 256, 384, 512, SIG_ROOM, 1024,
			    SIG_FAIL, 1, 256 };
static const long	 ticket_lens[4] = { 100, SIG_ROOM, SIG_FAIL, 1 };

/* What the callbacks are to do, and what they saw. */
struct fake {
	long		 siglen, ticketlen;
	int		 signs, tickets;
	unsigned	 scheme, suite;
	unsigned char	 hash[48], master[48];
	size_t		 hashlen;
	long		 sigret;
	const char	*sni;		/* the host name expected */
};

struct server {
	struct hs12_server s;
	uint16_t	 suites[NCAND];
	uint8_t		 kinds[NCAND];
	struct fake	 fake;
};

static long
fake_sign(const struct hs12_server *s, unsigned scheme,
    const unsigned char *hash, size_t hashlen, unsigned char *sig,
    size_t room)
{
	struct fake *f = s->arg;
	long n = f->siglen == SIG_ROOM ? (long)room : f->siglen;

	CHECK(f->signs++ == 0);
	CHECK(scheme == 0x0804 || scheme == 0x0805 || scheme == 0x0401 ||
	    scheme == 0x0501);
	CHECK(hashlen == (scheme == 0x0805 || scheme == 0x0501 ? 48u : 32u));
	CHECK(hash != NULL && sig != NULL);
	/* HS12_FLIGHT_BASE leaves room for an RSA-4096 signature */
	CHECK(room >= 512);
	f->scheme = scheme;
	memcpy(f->hash, hash, hashlen);
	f->hashlen = hashlen;
	if (n == SIG_FAIL || n > (long)room || n > 0xffff)
		n = -1;
	else
		memset(sig, 0x5c, (size_t)n);
	f->sigret = n;
	return n;
}

static long
fake_ticket(const struct hs12_server *s, const struct hs12_state *st,
    unsigned char *out, size_t room)
{
	struct fake *f = s->arg;
	long n = f->ticketlen == SIG_ROOM ? (long)room : f->ticketlen;

	CHECK(f->tickets++ == 0);
	CHECK(st != NULL && out != NULL);
	CHECK(st->s == s && st->ticket && st->owner == s->arg);
	CHECK(st->suite == 0xc02f || st->suite == 0xc030 || st->suite ==
	    0xcca8);
	CHECK(st->lifetime == s->lifetime);
	CHECK(f->sni != NULL && memchr(st->sni, '\0', sizeof(st->sni)) !=
	    NULL && strcmp(st->sni, f->sni) == 0);
	CHECK(room >= 256);
	f->suite = st->suite;
	memcpy(f->master, st->master, 48);
	if (n == SIG_FAIL || n > (long)room)
		return -1;
	memset(out, 0x77, (size_t)n);
	return n;
}

/* The made-up server of random r. */
static void
server_from(struct server *v, const unsigned char *r)
{
	uint16_t all[NCAND];
	uint8_t kinds[NCAND];
	unsigned k = (unsigned)r[4] | (unsigned)r[5] << 8, m;
	size_t i, n = 0, rot;

	memset(v, 0, sizeof(*v));
	for (i = 0; i < NCAND; i++) {
		if (r[2] >> i & 1)
			continue;
		all[n] = cand[i];
		if (i < 3)
			kinds[n] = HS12_TAKE;
		else {
			m = k >> (2 * (i - 3)) & 3;
			/* 0: as tls.c does for an RSA certificate */
			kinds[n] = m == 0 ? (cand[i] == 0xc02b ||
			    cand[i] == 0xc02c || cand[i] == 0xcca9 ?
			    HS12_SKIP : HS12_OTHER) : m == 1 ? HS12_SKIP :
			    m == 2 ? HS12_OTHER : HS12_TAKE;
		}
		n++;
	}
	rot = n > 0 ? (r[3] & 0x7f) % n : 0;
	for (i = 0; i < n; i++) {
		size_t j = (i + rot) % n;

		if (r[3] & 0x80)
			j = n - 1 - j;
		v->suites[i] = all[j];
		v->kinds[i] = kinds[j];
	}
	v->s.suites = v->suites;
	v->s.kinds = v->kinds;
	v->s.nsuites = n;
	v->s.server_pref = r[0] & 1;
	v->s.x25519_first = !(r[0] >> 1 & 1);
	v->s.staple = r[0] >> 2 & 1;
	v->s.tickets = r[0] >> 3 & 1;
	v->s.downgrade = r[0] >> 4 & 1;
	v->s.lifetime = (uint32_t)r[11] << 24 | (uint32_t)r[12] << 16 |
	    (uint32_t)r[13] << 8 | r[14];
	v->s.certmsg = certs[r[1] & 3];
	v->s.certmsglen = cert_sizes[r[1] & 3];
	v->s.sign = fake_sign;
	v->s.ticket = fake_ticket;
	v->s.arg = &v->fake;
	v->fake.siglen = sig_lens[r[0] >> 5];
	v->fake.ticketlen = ticket_lens[r[1] >> 2 & 3];
}

/* The fixed server of the raw and sealed modes. */
static void
server_fixed(struct server *v)
{
	static const unsigned char r[32] = { 0x08, 0x00, 0xf8, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0x1c, 0x20 };

	server_from(v, r);	/* client's order, tickets, 64-byte cert */
}

static int
known_suite(unsigned cs)
{
	return cs == 0xc02f || cs == 0xc030 || cs == 0xcca8;
}

static int
kind_of(const struct hs12_server *s, unsigned cs)
{
	size_t i;

	for (i = 0; i < s->nsuites; i++)
		if (s->suites[i] == cs)
			return s->kinds[i];
	return HS12_SKIP;
}

/* The suite OpenSSL would choose if hs12.c may, else 0 (hs12.h). */
static unsigned
ref_suite(const struct hs12_server *s, const struct hs12_hello *h)
{
	size_t i, n = s->server_pref ? s->nsuites : h->suiteslen / 2;
	unsigned cs;
	int kind;

	for (i = 0; i < n; i++) {
		cs = s->server_pref ? s->suites[i] : get16(h->suites + 2 * i);
		if (s->server_pref && !has16(h->suites, h->suiteslen, cs))
			continue;
		kind = kind_of(s, cs);
		if (kind == HS12_OTHER)
			return 0;
		if (kind == HS12_TAKE)
			return known_suite(cs) ? cs : 0;
	}
	return 0;
}

/* OpenSSL 3.0's TLS 1.2 schemes for an RSA key, in its order. */
static const unsigned	 rsa_order[8] = { 0x0804, 0x0805, 0x0806, 0x0401,
			    0x0501, 0x0601, 0x0301, 0x0201 };

static int
rsa_scheme(unsigned v)
{
	size_t i;

	for (i = 0; i < 8; i++)
		if (rsa_order[i] == v)
			return 1;
	return 0;
}

/* The scheme OpenSSL would choose if hs12.c signs with it, else 0. */
static unsigned
ref_scheme(const struct hs12_server *s, const struct hs12_hello *h)
{
	unsigned v = 0;
	size_t i;

	if (s->server_pref) {
		for (i = 0; i < 8 && v == 0; i++)
			if (has16(h->sigalgs, h->sigalgslen, rsa_order[i]))
				v = rsa_order[i];
	} else
		for (i = 0; i + 1 < h->sigalgslen && v == 0; i += 2)
			if (rsa_scheme(get16(h->sigalgs + i)))
				v = get16(h->sigalgs + i);
	return v == 0x0804 || v == 0x0805 || v == 0x0401 || v == 0x0501 ?
	    v : 0;
}

/* ---------------------------------------------------------------------
 * Client side, with OpenSSL.
 */

static int
suite_aead(unsigned cs)
{
	return cs == 0xc02f ? REC_AES_128_GCM : cs == 0xc030 ?
	    REC_AES_256_GCM : REC_CHACHA20_POLY1305;
}

/* Hash of the concatenated parts (n of them, NULL-terminated pairs). */
static void
hash_of(int sha384, const unsigned char *const *d, const size_t *n,
    size_t parts, unsigned char *out)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t i;

	CHECK(c != NULL && EVP_DigestInit_ex(c, sha384 ? EVP_sha384() :
	    EVP_sha256(), NULL) == 1);
	for (i = 0; i < parts; i++)
		CHECK(EVP_DigestUpdate(c, d[i], n[i]) == 1);
	CHECK(EVP_DigestFinal_ex(c, out, NULL) == 1);
	EVP_MD_CTX_free(c);
}

/* OpenSSL's TLS1-PRF(secret, label || hash) for len bytes. */
static void
prf(int sha384, const unsigned char *secret, size_t slen,
    const char *label, const unsigned char *hash, unsigned char *out,
    size_t len)
{
	EVP_KDF_CTX *c = EVP_KDF_CTX_new(tls1_prf);
	unsigned char seed[64 + 48];
	size_t ll = strlen(label), hl = sha384 ? 48 : 32;
	OSSL_PARAM p[4];

	CHECK(c != NULL && ll <= 64);
	memcpy(seed, label, ll);
	memcpy(seed + ll, hash, hl);
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    sha384 ? "SHA384" : "SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET,
	    (void *)(uintptr_t)secret, slen);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed,
	    ll + hl);
	p[3] = OSSL_PARAM_construct_end();
	CHECK(EVP_KDF_derive(c, out, len, p) == 1);
	EVP_KDF_CTX_free(c);
}

/* OpenSSL's X25519 of priv (32 bytes) and peer into out; 0, or -1. */
static int
ossl_x25519(EVP_PKEY *priv, const unsigned char *peer, unsigned char *out)
{
	EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer,
	    32);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(priv, NULL);
	size_t n = 32;
	int ok;

	CHECK(p != NULL && c != NULL);
	ok = EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c,
	    p) == 1 && EVP_PKEY_derive(c, out, &n) == 1 && n == 32;
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(p);
	return ok ? 0 : -1;
}

/* What a server flight holds (pointers into it). */
struct flight {
	const unsigned char *sh, *srandom, *sid, *exts, *cert, *params, *sig;
	size_t		 shlen, sidlen, extslen, certlen, siglen;
	unsigned	 suite, scheme;
};

/* Split the flight of r bytes at out, checking its framing. */
static void
split_flight(const unsigned char *out, long r, struct flight *fl)
{
	const unsigned char *p = out + 5, *end = out + r, *m, *ske;
	size_t n;

	memset(fl, 0, sizeof(*fl));
	CHECK(r > 5 && out[0] == REC_HANDSHAKE && get16(out + 1) == REC_TLS12 &&
	    get16(out + 3) == (size_t)r - 5 && (size_t)r - 5 <= REC_PLAIN_MAX);
	/* ServerHello */
	CHECK(end - p >= 4 && p[0] == 2);
	n = get24(p + 1);
	CHECK(n >= 38 && n <= (size_t)(end - p) - 4);
	fl->sh = p;
	fl->shlen = 4 + n;
	m = p + 4;
	CHECK(get16(m) == REC_TLS12);
	fl->srandom = m + 2;
	fl->sidlen = m[34];
	CHECK(n >= 38 + fl->sidlen + 2);
	fl->sid = m + 35;
	fl->suite = get16(m + 35 + fl->sidlen);
	CHECK(m[37 + fl->sidlen] == 0);		/* null compression */
	fl->exts = m + 38 + fl->sidlen + 2;
	CHECK(n >= 40 + fl->sidlen && get16(m + 38 + fl->sidlen) ==
	    n - 40 - fl->sidlen);
	fl->extslen = n - 40 - fl->sidlen;
	p += 4 + n;
	/* Certificate */
	CHECK(end - p >= 4 && p[0] == 11);
	n = get24(p + 1);
	CHECK(n <= (size_t)(end - p) - 4);
	fl->cert = p;
	fl->certlen = 4 + n;
	p += 4 + n;
	/* ServerKeyExchange */
	CHECK(end - p >= 4 && p[0] == 12);
	n = get24(p + 1);
	CHECK(n >= 40 && n <= (size_t)(end - p) - 4);
	ske = p + 4;
	CHECK(ske[0] == 3 && get16(ske + 1) == 0x001d && ske[3] == 32);
	fl->params = ske;
	fl->scheme = get16(ske + 36);
	fl->siglen = get16(ske + 38);
	CHECK(n == 40 + fl->siglen);
	fl->sig = ske + 40;
	p += 4 + n;
	/* ServerHelloDone, last */
	CHECK(end - p == 4 && memcmp(p, "\016\000\000\000", 4) == 0);
}

/* How the client's flight is made. */
#define GOOD		0
#define SMALL_ORDER	1	/* a share of order 1 or 8 */
#define NO_CCS		2
#define REFLECT		3	/* sealed with the server's write key */
#define BAD_VERIFY	4	/* a wrong verify_data */
#define FLIP		5	/* one byte changed afterwards */
#define CONTENT		6	/* given content as the Finished record's */

/* A client's flight and what it expects back. */
struct client {
	unsigned char	*buf;		/* the records, then extra bytes */
	size_t		 len;		/* the records */
	size_t		 total;
	int		 sha384;
	unsigned	 suite;
	unsigned char	 master[48];
	unsigned char	 finmsg[16];	/* the client's Finished message */
	unsigned char	 hash[48];	/* transcript through the CKE */
	struct rec_state keys;		/* as rec_start12() makes them */
};

/* The client's flight answering the server flight fl (r bytes at out) for
 * hello h: how (content: clen bytes at content), extra bytes after. */
static void
client_make(struct client *c, const struct hs12_hello *h,
    const unsigned char *out, long r, const struct flight *fl, int how,
    const unsigned char *content, size_t clen, size_t extra)
{
	static const unsigned char small[2][32] = { { 0 }, { 1 } };
	unsigned char cke[4 + 33], pms[32], *rec, *p;
	const unsigned char *parts[3];
	size_t lens[3], recroom;
	struct rec_state w;
	long k;

	memset(c, 0, sizeof(*c));
	c->suite = fl->suite;
	c->sha384 = fl->suite == 0xc030;
	cke[0] = 16;
	cke[1] = 0;
	put16(cke + 2, 33);
	cke[4] = 32;
	memcpy(cke + 5, how == SMALL_ORDER ? small[extra & 1] : client_pub,
	    32);
	parts[0] = h->msg;
	lens[0] = h->msglen;
	parts[1] = out + 5;
	lens[1] = (size_t)r - 5;
	parts[2] = cke;
	lens[2] = sizeof(cke);
	hash_of(c->sha384, parts, lens, 3, c->hash);
	if (how != SMALL_ORDER)
		CHECK(ossl_x25519(client_key, fl->params + 4, pms) == 0);
	else
		memset(pms, 0, sizeof(pms));
	prf(c->sha384, pms, 32, "extended master secret", c->hash, c->master,
	    48);
	c->finmsg[0] = 20;
	c->finmsg[1] = 0;
	c->finmsg[2] = 0;
	c->finmsg[3] = 12;
	prf(c->sha384, c->master, 48, "client finished", c->hash,
	    c->finmsg + 4, 12);
	CHECK(rec_start12(&c->keys, (enum rec_aead)suite_aead(fl->suite),
	    c->sha384, c->master, h->random, fl->srandom) == 0);

	if (how != CONTENT) {
		content = c->finmsg;
		clen = sizeof(c->finmsg);
	}
	recroom = REC_HEAD_MAX + clen + REC_TAIL_MAX;
	c->buf = malloc(CKE_LEN + CCS_LEN + recroom + extra);
	CHECK(c->buf != NULL);
	p = c->buf;
	p[0] = REC_HANDSHAKE;
	put16(p + 1, REC_TLS12);
	put16(p + 3, sizeof(cke));
	memcpy(p + 5, cke, sizeof(cke));
	p += CKE_LEN;
	if (how != NO_CCS) {
		memcpy(p, "\024\003\003\000\001\001", CCS_LEN);
		p += CCS_LEN;
	}
	rec = p;
	memcpy(&w, &c->keys, sizeof(w));
	if (how != REFLECT)
		w.wr = c->keys.rd;	/* the client writes what rs reads */
	memcpy(rec + rec_head_len(&w), content, clen);
	if (how == BAD_VERIFY)
		rec[rec_head_len(&w) + 4 + (extra % 12)] ^= 0x10;
	k = rec_seal(&w, REC_HANDSHAKE, rec, clen);
	CHECK(k > 0);
	p += k;
	c->len = (size_t)(p - c->buf);
	memset(p, 0x17, extra);
	c->total = c->len + extra;
	rec_wipe(&w);
	OPENSSL_cleanse(pms, sizeof(pms));
}

static void
client_free(struct client *c)
{
	free(c->buf);
	rec_wipe(&c->keys);
}

/* Our answer (n bytes at a) to client c, for server v: NewSessionTicket if
 * ticket, ChangeCipherSpec, the Finished over the transcript. */
static void
check_answer(const struct client *c, const struct hs12_hello *h,
    const unsigned char *out, long r, const struct server *v, int ticket,
    const unsigned char *a, size_t n)
{
	const unsigned char *parts[5], *p = a, *end = a + n;
	unsigned char hash[48], want[16], plain[REC_OPEN_ROOM];
	size_t lens[5], np = 0, tl;
	struct rec_state m;
	unsigned type;
	long k;

	CHECK(n > 0 && n <= HS12_ANSWER_MAX);
	parts[np] = h->msg;
	lens[np++] = h->msglen;
	parts[np] = out + 5;
	lens[np++] = (size_t)r - 5;
	parts[np] = c->buf + 5;
	lens[np++] = 4 + 33;
	parts[np] = c->finmsg;
	lens[np++] = sizeof(c->finmsg);
	if (ticket) {
		CHECK(end - p >= 15 && p[0] == REC_HANDSHAKE &&
		    get16(p + 1) == REC_TLS12 && p[5] == 4);
		tl = get16(p + 13);
		CHECK(get16(p + 3) == 10 + tl && get24(p + 6) == 6 + tl &&
		    (size_t)(end - p) >= 15 + tl);
		CHECK(((uint32_t)p[9] << 24 | (uint32_t)p[10] << 16 |
		    (uint32_t)p[11] << 8 | p[12]) == v->s.lifetime);
		CHECK(v->fake.tickets == 1 && v->fake.suite == c->suite);
		CHECK(memcmp(v->fake.master, c->master, 48) == 0);
		CHECK(tl >= 1);
		for (size_t i = 0; i < tl; i++)
			CHECK(p[15 + i] == 0x77);
		parts[np] = p + 5;
		lens[np++] = 10 + tl;
		p += 15 + tl;
	} else
		CHECK(v->fake.tickets == 0);
	CHECK(end - p >= CCS_LEN && memcmp(p, "\024\003\003\000\001\001",
	    CCS_LEN) == 0);
	p += CCS_LEN;
	CHECK(rec_frame(p, (size_t)(end - p)) == end - p);
	hash_of(c->sha384, parts, lens, np, hash);
	want[0] = 20;
	want[1] = 0;
	want[2] = 0;
	want[3] = 12;
	prf(c->sha384, c->master, 48, "server finished", hash, want + 4, 12);
	memcpy(&m, &c->keys, sizeof(m));
	m.rd = c->keys.wr;	/* the client reads what rs writes */
	k = rec_open(&m, p, (size_t)(end - p), plain, &type);
	CHECK(k == 16 && type == REC_HANDSHAKE && memcmp(plain, want, 16) ==
	    0);
	rec_wipe(&m);
}

/* ---------------------------------------------------------------------
 * The flights.
 */

/* A server flight for hello h as server v into an exact-size buffer, in
 * *st: its length, or -1 (*out freed, nothing in *st). */
static long
serve(struct server *v, const struct hs12_hello *h, struct hs12_state *st,
    unsigned char **out, size_t *room)
{
	long r;

	*room = HS12_FLIGHT_BASE + v->s.certmsglen;
	*out = malloc(*room);
	CHECK(*out != NULL);
	v->fake.signs = v->fake.tickets = 0;
	v->fake.sni = h->sni;
	r = hs12_server_flight(&v->s, h, st, *out, *room);
	CHECK(r == -1 || (r > 0 && (size_t)r <= *room));
	if (r < 0) {
		CHECK(st->run == NULL);
		free(*out);
		*out = NULL;
	} else {
		CHECK(st->owner == NULL && st->lifetime == v->s.lifetime);
		st->owner = v->s.arg;	/* the caller's, from now on */
	}
	return r;
}

/* hs12_client_flight() on an exact-size copy of buf (len bytes), rs and
 * the answer's buffer filled with a pattern first: its result. */
static long
client_run(struct hs12_state *st, const unsigned char *buf, size_t len,
    struct rec_state *rs, unsigned char **ans, size_t *anslen)
{
	unsigned char *in = dup_exact(buf, len);
	struct rec_state before;
	long r;

	*ans = malloc(HS12_ANSWER_MAX);
	CHECK(*ans != NULL);
	memset(*ans, 0xee, HS12_ANSWER_MAX);
	memset(rs, 0xee, sizeof(*rs));
	memcpy(&before, rs, sizeof(before));
	*anslen = 12345;
	r = hs12_client_flight(st, rs, in, len, *ans, anslen);
	CHECK(r <= (long)len);
	if (r <= 0)
		CHECK(*anslen == 0 && (r == -REC_INTERNAL_ERROR ||
		    memcmp(rs, &before, sizeof(before)) == 0));
	free(in);
	return r;
}

/* A flight of server v for hello h, then the client's flight damaged as
 * the hello's random says: refused. */
static void
check_damaged(struct server *v, const struct hs12_hello *h)
{
	const unsigned char *rnd = h->random;
	struct hs12_state st;
	struct rec_state rs;
	struct flight fl;
	struct client c;
	unsigned char *out, *ans;
	size_t room, anslen, pos = 0;
	int how = rnd[6] % 5;
	long r;

	if ((r = serve(v, h, &st, &out, &room)) < 0)
		return;
	split_flight(out, r, &fl);
	how = how == 0 ? FLIP : how;
	client_make(&c, h, out, r, &fl, how, NULL, 0, rnd[10]);
	if (how == FLIP) {
		/* r[8] bit 7: a byte of the three record headers */
		pos = rnd[8] & 0x80 ? (size_t)(rnd[9] % 15 / 5 == 0 ? 0 :
		    rnd[9] % 15 / 5 == 1 ? CKE_LEN : CKE_LEN + CCS_LEN) +
		    rnd[9] % 5 : ((size_t)rnd[8] << 8 | rnd[9]) % c.len;
		c.buf[pos] ^= rnd[7] | 1;
	}
	r = client_run(&st, c.buf, c.len, &rs, &ans, &anslen);
	switch (how) {
	case SMALL_ORDER:
		CHECK(r == -47);	/* illegal_parameter */
		break;
	case NO_CCS:
		CHECK(r == -REC_UNEXPECTED_MESSAGE);
		break;
	case REFLECT:
		CHECK(r == -REC_BAD_RECORD_MAC);
		break;
	case BAD_VERIFY:
		CHECK(r == -REC_DECRYPT_ERROR);
		break;
	default:
		CHECK(r <= 0);
		break;
	}
	free(ans);
	rec_wipe(&rs);
	client_free(&c);
	hs12_state_wipe(&st);
	free(out);
}

/* The flight of a made-up server for hello h, and the client's flight. */
static void
check_flight(const struct hs12_hello *h)
{
	const unsigned char *rnd = h->random;
	unsigned char pub[32], hash[48], *out, *ans;
	const unsigned char *parts[2], *e, *end;
	size_t room, lens[2], n, anslen, i;
	unsigned suite, scheme, seen = 0;
	struct server v;
	struct hs12_state st;
	struct rec_state rs;
	struct flight fl;
	struct client c;
	EVP_PKEY *k;
	int ticket, serve_it;
	long r, flen;

	server_from(&v, rnd);
	suite = ref_suite(&v.s, h);
	scheme = ref_scheme(&v.s, h);
	ticket = h->ticket && v.s.tickets;
	serve_it = !(v.s.server_pref && !v.s.x25519_first) &&
	    !(h->status && v.s.staple) && suite != 0 && scheme != 0 &&
	    v.s.certmsglen <= REC_PLAIN_MAX - HS12_FLIGHT_BASE;
	r = serve(&v, h, &st, &out, &room);
	/* signed exactly when the choices are made, served if signed */
	CHECK(v.fake.signs == serve_it);
	CHECK(v.fake.tickets == 0);
	CHECK((r > 0) == (serve_it && v.fake.sigret > 0));
	if (r < 0)
		return;
	flen = r;
	CHECK(v.fake.scheme == scheme);
	split_flight(out, r, &fl);

	/* ServerHello */
	CHECK(fl.suite == suite && has16(h->suites, h->suiteslen, suite));
	CHECK(fl.sidlen == (ticket ? 0u : 32u));
	CHECK(st.suite == suite && st.ticket == (unsigned)ticket &&
	    st.sidlen == fl.sidlen && memcmp(st.sid, fl.sid, fl.sidlen) == 0);
	CHECK(st.s == &v.s && st.run != NULL);
	CHECK(memchr(st.sni, '\0', sizeof(st.sni)) != NULL &&
	    strcmp(st.sni, h->sni) == 0);
	CHECK(st.owner == &v.fake);
	CHECK(memcmp(st.randoms, h->random, 32) == 0 &&
	    memcmp(st.randoms + 32, fl.srandom, 32) == 0);
	CHECK((memcmp(fl.srandom + 24, "DOWNGRD\001", 8) == 0) ==
	    v.s.downgrade);
	for (e = fl.exts, end = fl.exts + fl.extslen; e < end; e += 4 + n) {
		CHECK(end - e >= 4);
		n = get16(e + 2);
		CHECK(n <= (size_t)(end - e) - 4);
		switch (get16(e)) {
		case 0xff01:
			CHECK(!(seen & 1) && n == 1 && e[4] == 0);
			seen |= 1;
			break;
		case 0x0000:
			CHECK(!(seen & 2) && n == 0);
			seen |= 2;
			break;
		case 0x000b:
			CHECK(!(seen & 4) && n == 2 && e[4] == 1 && e[5] == 0);
			seen |= 4;
			break;
		case 0x0023:
			CHECK(!(seen & 8) && n == 0);
			seen |= 8;
			break;
		case 0x0017:
			CHECK(!(seen & 16) && n == 0);
			seen |= 16;
			break;
		default:
			CHECK(0);
		}
	}
	CHECK(seen == ((h->ri ? 1u : 0) | (h->sni[0] ? 2u : 0) |
	    (h->pf ? 4u : 0) | (ticket ? 8u : 0) | 16u));
	/* Certificate, ServerKeyExchange */
	CHECK(fl.certlen == v.s.certmsglen && memcmp(fl.cert, v.s.certmsg,
	    fl.certlen) == 0);
	CHECK(fl.scheme == scheme && (long)fl.siglen == v.fake.sigret);
	for (i = 0; i < fl.siglen; i++)
		CHECK(fl.sig[i] == 0x5c);
	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, st.priv, 32);
	n = sizeof(pub);
	CHECK(k != NULL && EVP_PKEY_get_raw_public_key(k, pub, &n) == 1);
	EVP_PKEY_free(k);
	CHECK(memcmp(fl.params + 4, pub, 32) == 0);
	parts[0] = st.randoms;
	lens[0] = 64;
	parts[1] = fl.params;
	lens[1] = 36;
	hash_of(scheme == 0x0805 || scheme == 0x0501, parts, lens, 2, hash);
	CHECK(memcmp(v.fake.hash, hash, v.fake.hashlen) == 0);

	/* the client's flight: prefixes want more; the whole is taken */
	client_make(&c, h, out, flen, &fl, GOOD, NULL, 0, rnd[10] % 8);
	for (i = 0; i < c.len; i++) {
		r = client_run(&st, c.buf, i, &rs, &ans, &anslen);
		CHECK(r == 0);
		free(ans);
	}
	r = client_run(&st, c.buf, c.total, &rs, &ans, &anslen);
	if (ticket && v.fake.ticketlen == SIG_FAIL) {
		CHECK(r == -REC_INTERNAL_ERROR && v.fake.tickets == 1);
	} else {
		CHECK(r == (long)c.len);
		CHECK(memcmp(st.master, c.master, 48) == 0);
		CHECK(rs.version == REC_TLS12 && rs.aead == c.keys.aead &&
		    rs.sha384 == c.keys.sha384);
		CHECK(memcmp(rs.rd.key, c.keys.rd.key, 32) == 0 &&
		    memcmp(rs.rd.iv, c.keys.rd.iv, 12) == 0 &&
		    memcmp(rs.wr.key, c.keys.wr.key, 32) == 0 &&
		    memcmp(rs.wr.iv, c.keys.wr.iv, 12) == 0);
		CHECK(rs.rd.seq == 1 && rs.wr.seq == 1);
		check_answer(&c, h, out, flen, &v, ticket, ans, anslen);
	}
	free(ans);
	rec_wipe(&rs);
	client_free(&c);
	hs12_state_wipe(&st);
	free(out);

	check_damaged(&v, h);
}

/* The raw input as the client's flight for fixed hello i. */
static void
check_raw(const unsigned char *data, size_t size, size_t i)
{
	struct server v;
	struct hs12_state st;
	struct rec_state rs;
	unsigned char *out, *ans;
	size_t room, anslen;
	long r;

	server_fixed(&v);
	CHECK(serve(&v, &fixed[i], &st, &out, &room) > 0);
	r = client_run(&st, data, size, &rs, &ans, &anslen);
	CHECK(r <= 0);
	free(ans);
	rec_wipe(&rs);
	hs12_state_wipe(&st);
	free(out);
}

/* The input as the content of the client's Finished record, for fixed
 * hello i. */
static void
check_sealed(const unsigned char *data, size_t size, size_t i)
{
	struct server v;
	struct hs12_state st;
	struct rec_state rs;
	struct flight fl;
	struct client c;
	unsigned char *out, *ans;
	size_t room, anslen;
	long r;

	if (size > REC_PLAIN_MAX)
		return;
	server_fixed(&v);
	r = serve(&v, &fixed[i], &st, &out, &room);
	CHECK(r > 0);
	split_flight(out, r, &fl);
	client_make(&c, &fixed[i], out, r, &fl, CONTENT, data, size, 0);
	r = client_run(&st, c.buf, c.len, &rs, &ans, &anslen);
	if (size == 16 && memcmp(data, c.finmsg, 16) == 0)
		CHECK(r == (long)c.len && anslen > 0);
	else if (size != 16 || memcmp(data, c.finmsg, 4) != 0)
		CHECK(r == -REC_DECODE_ERROR);
	else
		CHECK(r == -REC_DECRYPT_ERROR);
	free(ans);
	rec_wipe(&rs);
	client_free(&c);
	hs12_state_wipe(&st);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hs12_hello h;
	struct ref f;
	unsigned char *p;
	int r, want;

	if (!ready)
		setup();
	p = dup_exact(data, size);
	r = hs12_parse_hello(p, size, &h);
	want = ref_hello(p, size, &f);
	CHECK(r == want);
	if (r == HS12_OK) {
		check_hello(p, size, &h, &f);
		check_flight(&h);
	}
	check_raw(p, size, size % NFIXED);
	check_sealed(p, size, (size / NFIXED) % NFIXED);
	free(p);
	return 0;
}
