/* resume.c - stud's own TLS 1.2 session-ID resumption (RFC 5246, 7.3): the
 * table of resumable sessions, the ClientHello reader, the server's flight
 * and the check of the client's Finished. No SSL object, no allocation. */
#define _DEFAULT_SOURCE	/* MAP_ANONYMOUS */
#include <sys/mman.h>

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hello.h"
#include "kdf.h"
#include "record.h"
#include "resume.h"

#define HS_SERVER_HELLO		2
#define HS_FINISHED		20

#define EXT_SERVER_NAME		0x0000
#define EXT_MAX_FRAGMENT	0x0001
#define EXT_POINT_FORMATS	0x000b
#define EXT_ALPN		0x0010
#define EXT_EMS			0x0017
#define EXT_SESSION_TICKET	0x0023
#define EXT_PSK			0x0029
#define EXT_EARLY_DATA		0x002a
#define EXT_VERSIONS		0x002b
#define EXT_RENEGOTIATION	0xff01
#define SCSV_RENEGOTIATION	0x00ff
#define SCSV_FALLBACK		0x5600

/* ---------------------------------------------------------------------
 * The table: one slot per session, a sequence number per slot (odd while
 * a writer fills it), words copied with atomic loads and stores.
 */

/* What a slot holds (no ID: empty). */
struct entry {
	struct resume_session	s;
	uint8_t			idlen;
	unsigned char		id[32];
};

#define SLOT_WORDS	((sizeof(struct entry) + 7) / 8)

struct slot {
	uint64_t	seq;
	uint64_t	w[SLOT_WORDS];	/* a struct entry */
};

/* A struct entry laid over a slot's words. */
union words {
	uint64_t	w[SLOT_WORDS];
	struct entry	e;
};

static struct slot	*table;
static unsigned		 nslots;

int
resume_table_init(unsigned n, int shared)
{
	void *p;

	if (table != NULL)
		return 0;
	if (n == 0) {
		errno = EINVAL;
		return -1;
	}
	p = mmap(NULL, (size_t)n * sizeof(struct slot), PROT_READ | PROT_WRITE,
	    (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	table = p;
	nslots = n;
	return 0;
}

static struct slot *
slot_of(const unsigned char *id, size_t idlen)
{
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */
	size_t i;

	for (i = 0; i < idlen; i++)
		h = (h ^ id[i]) * 1099511628211ULL;
	return &table[h % nslots];
}

/* Fill one slot's words, unless another writer holds it. */
static void
slot_write(struct slot *sl, const uint64_t *w)
{
	uint64_t seq = __atomic_load_n(&sl->seq, __ATOMIC_RELAXED);
	size_t i;

	if ((seq & 1) || !__atomic_compare_exchange_n(&sl->seq, &seq, seq + 1,
	    0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;		/* another writer is at it: let it win */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (i = 0; i < SLOT_WORDS; i++)
		__atomic_store_n(&sl->w[i], w[i], __ATOMIC_RELAXED);
	__atomic_store_n(&sl->seq, seq + 2, __ATOMIC_RELEASE);
}

void
resume_table_store(const unsigned char *id, size_t idlen,
    const struct resume_session *s)
{
	union words u;

	if (table == NULL || idlen == 0 || idlen > 32)
		return;
	memset(&u, 0, sizeof(u));
	u.e.s = *s;
	u.e.idlen = (uint8_t)idlen;
	memcpy(u.e.id, id, idlen);
	slot_write(slot_of(id, idlen), u.w);
	OPENSSL_cleanse(&u, sizeof(u));
}

int
resume_table_lookup(const unsigned char *id, size_t idlen, int64_t now,
    struct resume_session *s)
{
	union words u;
	struct slot *sl;
	uint64_t seq;
	size_t i;
	int r = -1;

	if (table == NULL || idlen == 0 || idlen > 32)
		return -1;
	sl = slot_of(id, idlen);
	seq = __atomic_load_n(&sl->seq, __ATOMIC_ACQUIRE);
	if (seq & 1)
		return -1;
	for (i = 0; i < SLOT_WORDS; i++)
		u.w[i] = __atomic_load_n(&sl->w[i], __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&sl->seq, __ATOMIC_RELAXED) == seq &&
	    u.e.idlen == idlen && CRYPTO_memcmp(u.e.id, id, idlen) == 0) {
		*s = u.e.s;
		r = now > s->expires ? -1 : 0;
	}
	OPENSSL_cleanse(&u, sizeof(u));
	return r;
}

void
resume_table_forget(const unsigned char *id, size_t idlen)
{
	union words u;
	struct resume_session s;

	if (resume_table_lookup(id, idlen, INT64_MIN, &s) == -1)
		return;
	OPENSSL_cleanse(&s, sizeof(s));
	memset(&u, 0, sizeof(u));
	slot_write(slot_of(id, idlen), u.w);
}

/* ---------------------------------------------------------------------
 * The ClientHello.
 */

/* A list of 1-byte-long items in a vector with a 2-byte length (server
 * names with their type byte, ALPN names): well formed? */
static int
names_ok(const unsigned char *p, size_t len, int typed)
{
	size_t n;

	if (len < 2 || hello_get16(p) != len - 2)
		return 0;
	for (p += 2, len -= 2; len > 0; p += n, len -= n) {
		if (typed) {
			if (len < 3 || *p != 0)
				return 0;
			n = 3 + hello_get16(p + 1);
		} else
			n = 1 + (size_t)*p;
		if (n == (typed ? 3u : 1u) || n > len)
			return 0;
	}
	return 1;
}

/* One extension of the hello. Returns 0, or -1 if it is OpenSSL's. */
static int
hello_ext(void *arg, unsigned type, const unsigned char *p, size_t len)
{
	struct resume_hello *h = arg;
	size_t i;

	switch (type) {
	case EXT_RENEGOTIATION:
		h->ri = 1;
		return len == 1 && p[0] == 0 ? 0 : -1;
	case EXT_EMS:
		h->ems = 1;
		return len == 0 ? 0 : -1;
	case EXT_POINT_FORMATS:
		h->pf = 1;
		return len >= 2 && p[0] == len - 1 &&
		    memchr(p + 1, 0, len - 1) != NULL ? 0 : -1;
	case EXT_VERSIONS:
		if (len < 3 || p[0] != len - 1 || (len - 1) % 2 != 0)
			return -1;
		for (i = 1; i < len; i += 2)
			if (hello_get16(p + i) == 0x0304)
				h->tls13 = 1;
		for (i = 1; i < len; i += 2)
			if (hello_get16(p + i) == 0x0303)
				return 0;
		return -1;
	case EXT_SERVER_NAME:
		return names_ok(p, len, 1) ? 0 : -1;
	case EXT_ALPN:
		return names_ok(p, len, 0) ? 0 : -1;
	case EXT_SESSION_TICKET:
	case EXT_MAX_FRAGMENT:
	case EXT_PSK:
	case EXT_EARLY_DATA:
		return -1;
	default:
		return 0;
	}
}

int
resume_parse_hello(const unsigned char *buf, size_t len,
    struct resume_hello *h)
{
	struct hello f;
	size_t i;
	unsigned cs;
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = hello_read(buf, len, &f)) != HELLO_OK)
		return r == HELLO_MORE ? RESUME_MORE : RESUME_NO;
	if (f.version < 0x0303 || f.sidlen == 0)
		return RESUME_NO;
	h->msg = f.msg;
	h->msglen = f.msglen;
	h->reclen = f.reclen;
	h->random = f.random;
	h->sid = f.sid;
	h->sidlen = f.sidlen;
	h->suites = f.suites;
	h->suiteslen = f.suiteslen;
	for (i = 0; i < f.suiteslen; i += 2) {
		cs = hello_get16(f.suites + i);
		if (cs == SCSV_FALLBACK)
			return RESUME_NO;
		if (cs == SCSV_RENEGOTIATION)
			h->ri = 1;
	}
	if (memchr(f.comp, 0, f.complen) == NULL ||
	    hello_each_ext(&f, hello_ext, h) == -1)
		return RESUME_NO;
	return RESUME_OK;
}

int
resume_hello_offers(const struct resume_hello *h, unsigned cipher)
{
	size_t i;

	for (i = 0; i < h->suiteslen; i += 2)
		if (hello_get16(h->suites + i) == cipher)
			return 1;
	return 0;
}

/* ---------------------------------------------------------------------
 * The server's flight and the client's Finished.
 */

static int
ecc_suite(unsigned cipher)
{
	return (cipher >> 8) == 0xc0 || cipher == 0xcca8 || cipher == 0xcca9;
}

/* ServerHello at sh; returns its length, or 0. */
static size_t
server_hello(const struct resume_hello *h, const struct resume_session *s,
    int downgrade, unsigned char *sh)
{
	unsigned char *p = sh + 4, *exts;

	*p++ = 3;
	*p++ = 3;
	if (RAND_bytes(p, 32) != 1)
		return 0;
	if (downgrade)
		memcpy(p + 24, "DOWNGRD\001", 8);
	p += 32;
	*p++ = (unsigned char)h->sidlen;
	memcpy(p, h->sid, h->sidlen);
	p = hello_put16(p + h->sidlen, s->cipher);
	*p++ = 0;			/* null compression */
	exts = p + 2;
	p = exts;
	if (h->ri) {			/* RFC 5746: empty renegotiation_info */
		p = hello_put16(hello_put16(p, EXT_RENEGOTIATION), 1);
		*p++ = 0;
	}
	if (s->ems)
		p = hello_put16(hello_put16(p, EXT_EMS), 0);
	if (h->pf && ecc_suite(s->cipher)) {	/* uncompressed only */
		p = hello_put16(hello_put16(p, EXT_POINT_FORMATS), 2);
		*p++ = 1;
		*p++ = 0;
	}
	if (p > exts)
		hello_put16(exts - 2, (size_t)(p - exts));
	else
		p -= 2;
	sh[0] = HS_SERVER_HELLO;
	sh[1] = 0;
	hello_put16(sh + 2, (size_t)(p - sh) - 4);
	return (size_t)(p - sh);
}

/* A TLS 1.2 Finished's verify_data: PRF(master, label, Hash(the
 * handshake messages d1, d2, d3))[0..11] (RFC 5246, 7.4.9). */
static int
finished(const struct resume_session *s, const char *label,
    const unsigned char *d1, size_t n1, const unsigned char *d2, size_t n2,
    const unsigned char *d3, size_t n3, unsigned char out[12])
{
	unsigned char seed[15 + KDF_HASH_MAX];
	size_t ll = strlen(label);

	if (ll > 15 || kdf_hash(s->sha384, d1, n1, d2, n2, d3, n3,
	    seed + ll) == -1)
		return -1;
	memcpy(seed, label, ll);
	return kdf_prf12(s->sha384, s->master, 48, seed,
	    ll + kdf_hash_len(s->sha384), out, 12);
}

long
resume_server_flight(const struct resume_hello *h,
    const struct resume_session *s, int downgrade, struct rec_state *rs,
    unsigned char *out, unsigned char fin[12])
{
	static const unsigned char ccs[6] = { REC_CHANGE_CIPHER_SPEC, 3, 3,
	    0, 1, 1 };
	unsigned char sf[16], *rec;
	size_t shlen;
	long n;

	if ((shlen = server_hello(h, s, downgrade, out + 5)) == 0)
		return -1;
	out[0] = REC_HANDSHAKE;
	out[1] = out[2] = 3;
	hello_put16(out + 3, shlen);
	memcpy(out + 5 + shlen, ccs, sizeof(ccs));
	rec = out + 5 + shlen + sizeof(ccs);
	rs->rd.seq = rs->wr.seq = 0;
	sf[0] = HS_FINISHED;
	sf[1] = sf[2] = 0;
	sf[3] = 12;
	if (rec_start12(rs, s->aead, s->sha384, s->master, h->random,
	    out + 5 + 6) == -1 ||
	    finished(s, "server finished", h->msg, h->msglen, out + 5, shlen,
	    NULL, 0, sf + 4) == -1 ||
	    finished(s, "client finished", h->msg, h->msglen, out + 5, shlen,
	    sf, sizeof(sf), fin) == -1)
		return -1;
	memcpy(rec + rec_head_len(rs), sf, sizeof(sf));
	if ((n = rec_seal(rs, REC_HANDSHAKE, rec, sizeof(sf))) < 0)
		return -1;
	return (long)(rec - out) + n;
}

long
resume_client_finished(struct rec_state *rs, const unsigned char fin[12],
    const unsigned char *buf, size_t len)
{
	/* the Finished record: header, explicit nonce, message, tag */
	size_t want = rec_head_len(rs) + 16 + 16;
	unsigned char msg[32];
	unsigned type;
	long ccs, n, m;

	if ((ccs = rec_frame(buf, len)) <= 0)
		return ccs;
	if (buf[0] != REC_CHANGE_CIPHER_SPEC || ccs != 6 || buf[5] != 1)
		return -REC_UNEXPECTED_MESSAGE;
	if ((n = rec_frame(buf + 6, len - 6)) <= 0)
		return n;
	if (buf[6] != REC_HANDSHAKE)
		return -REC_UNEXPECTED_MESSAGE;
	if ((size_t)n != want)
		return -REC_DECODE_ERROR;
	if ((m = rec_open(rs, buf + 6, (size_t)n, msg, &type)) < 0)
		return m;
	if (m != 16 || msg[0] != HS_FINISHED || msg[1] != 0 || msg[2] != 0 ||
	    msg[3] != 12)
		return -REC_DECODE_ERROR;
	if (CRYPTO_memcmp(msg + 4, fin, 12) != 0)
		return -REC_DECRYPT_ERROR;
	return 6 + n;
}
