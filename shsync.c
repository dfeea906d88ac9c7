/* shsync.c - the shared cache sync packet codec: key derivation and key
 * file, AES-256-GCM sealing and opening, the freshness window and the
 * per-process replay memory. A library module: no logging, no exit. */
#define _POSIX_C_SOURCE 200809L
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "shsync.h"

#define HKDF_INFO	"stud shared cache v1"
#define KEY_LEN		32			/* AES-256 */
#define HDR_LEN		(SHSYNC_MAGIC_LEN + SHSYNC_NONCE_LEN)
#define INNER_FIXED	(8 + 8 + 1 + 2)		/* time, packet ID, lengths */
#define KEYFILE_MAX	4096			/* longest key file */

/*
 * Replay memory: a ring of the packets accepted, in the order accepted,
 * and a hash table of chains through the ring to find a packet ID. A packet
 * is remembered until its creation time falls out of the window (it would
 * then be refused as stale), and only then: the ring pops expired entries
 * from its head; when it is full of live ones, new packets are refused.
 *
 * Entries are popped in the order accepted, not created, so one may outlive
 * its expiry behind an older head; that only keeps it longer. An entry is
 * accepted with created <= now + MAX_FUTURE, so it is gone by the time the
 * window's lower edge passes now + MAX_FUTURE, i.e. within MAX_AGE +
 * MAX_FUTURE of its acceptance (see the limit in shsync.h).
 */
#define REPLAY_MASK	(SHSYNC_REPLAY_MAX - 1)
#define REPLAY_BUCKETS	(2 * SHSYNC_REPLAY_MAX)
#define NIL		UINT32_MAX

_Static_assert((SHSYNC_REPLAY_MAX & REPLAY_MASK) == 0,
    "SHSYNC_REPLAY_MAX must be a power of 2");
_Static_assert(SHSYNC_OVERHEAD == HDR_LEN + INNER_FIXED + SHSYNC_TAG_LEN,
    "SHSYNC_OVERHEAD does not match the packet format");
_Static_assert(SHSYNC_SESS_MAX <= UINT16_MAX, "sesslen has 2 bytes");

struct replay_entry {
	uint64_t	 created;	/* creation time of the packet */
	uint64_t	 pktid;
	uint32_t	 next;		/* next in the same bucket, or NIL */
};

/* The fields of an opened packet; id and sess point into s->plain. */
struct inner {
	uint64_t		 created;
	uint64_t		 pktid;
	const unsigned char	*id;
	size_t			 idlen;
	const unsigned char	*sess;
	size_t			 sesslen;
};

struct shsync {
	EVP_CIPHER		*cipher;	/* AES-256-GCM */
	EVP_CIPHER_CTX		*ectx;		/* keyed for sealing */
	EVP_CIPHER_CTX		*dctx;		/* keyed for opening */
	uint64_t		 horizon;	/* largest now_ms decoded at */
	uint64_t		 seed;		/* random key of the hash */
	uint32_t		 head;		/* oldest entry of the ring */
	uint32_t		 count;		/* entries in the ring */
	struct shsync_stats	 st;
	unsigned char		 plain[SHSYNC_MAX_PACKET];	/* opened */
	uint32_t		 bucket[REPLAY_BUCKETS];	/* heads */
	struct replay_entry	 ring[SHSYNC_REPLAY_MAX];
};

/* --- bytes ----------------------------------------------------------- */

static inline void
put_be64(unsigned char *p, uint64_t x)
{
	int i;

	for (i = 7; i >= 0; i--, x >>= 8)
		p[i] = (unsigned char)x;
}

static inline uint64_t
get_be64(const unsigned char *p)
{
	uint64_t x = 0;
	int i;

	for (i = 0; i < 8; i++)
		x = x << 8 | p[i];
	return x;
}

static inline void
put_be16(unsigned char *p, size_t x)
{
	p[0] = (unsigned char)(x >> 8);
	p[1] = (unsigned char)x;
}

static inline size_t
get_be16(const unsigned char *p)
{
	return (size_t)p[0] << 8 | p[1];
}

/* --- keys ------------------------------------------------------------ */

/* key = HKDF-SHA256(secret, no salt, HKDF_INFO), KEY_LEN bytes. */
static int
derive_key(const unsigned char *secret, size_t len, unsigned char *key)
{
	char digest[] = "SHA256", info[] = HKDF_INFO;
	OSSL_PARAM p[4];
	EVP_KDF_CTX *kctx;
	EVP_KDF *kdf;
	int ok;

	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL)
		return -1;
	kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (kctx == NULL)
		return -1;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    digest, 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)secret, len);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    info, sizeof(info) - 1);
	p[3] = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(kctx, key, KEY_LEN, p) == 1;
	EVP_KDF_CTX_free(kctx);
	return ok ? 0 : -1;
}

/* Fetch the cipher and key both contexts; only nonces change afterwards. */
static int
cipher_setup(struct shsync *s, const unsigned char *key)
{
	s->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	if (s->cipher == NULL ||
	    (s->ectx = EVP_CIPHER_CTX_new()) == NULL ||
	    (s->dctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	if (EVP_EncryptInit_ex2(s->ectx, s->cipher, key, NULL, NULL) != 1 ||
	    EVP_DecryptInit_ex2(s->dctx, s->cipher, key, NULL, NULL) != 1)
		return -1;
	return 0;
}

struct shsync *
shsync_new(const unsigned char *secret, size_t secret_len)
{
	unsigned char key[KEY_LEN];
	struct shsync *s;
	int err;

	if (secret == NULL || secret_len < SHSYNC_SECRET_MIN) {
		errno = EINVAL;
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	memset(s->bucket, 0xff, sizeof(s->bucket));	/* all NIL */
	err = derive_key(secret, secret_len, key) == -1 ||
	    cipher_setup(s, key) == -1 ||
	    RAND_bytes((unsigned char *)&s->seed, sizeof(s->seed)) != 1;
	OPENSSL_cleanse(key, sizeof(key));
	if (err) {
		shsync_free(s);
		errno = EIO;
		return NULL;
	}
	return s;
}

void
shsync_free(struct shsync *s)
{
	if (s == NULL)
		return;
	EVP_CIPHER_CTX_free(s->ectx);	/* wipes the key schedule */
	EVP_CIPHER_CTX_free(s->dctx);
	EVP_CIPHER_free(s->cipher);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

/* --- key file -------------------------------------------------------- */

static void
key_error(char *errbuf, size_t errlen, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (errbuf == NULL || errlen == 0)
		return;
	n = snprintf(errbuf, errlen, "%s: ", path);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Read up to max + 1 bytes of path into buf; returns the count or -1. */
static ssize_t
read_small_file(const char *path, unsigned char *buf, size_t max)
{
	size_t got = 0;
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (got <= max) {
		n = read(fd, buf + got, max + 1 - got);
		if (n == 0)
			break;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

static inline int
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	    c == '\f';
}

/* Find the first line of buf that is not blank; returns its length with
 * trailing whitespace stripped (0 if none) and its start in *line. */
static size_t
first_line(const unsigned char *buf, size_t len, const unsigned char **line)
{
	const unsigned char *p = buf, *end = buf + len, *eol;
	size_t n;

	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		for (n = (size_t)(eol - p); n > 0 && is_space(p[n - 1]); n--)
			;
		if (n > 0) {
			*line = p;
			return n;
		}
		p = eol + 1;
	}
	return 0;
}

int
shsync_load_key_file(const char *path, unsigned char *out, size_t outlen,
    size_t *len, char *errbuf, size_t errlen)
{
	unsigned char buf[KEYFILE_MAX + 1];
	const unsigned char *line = NULL;
	ssize_t got;
	size_t n = 0;

	if (path == NULL || out == NULL || len == NULL) {
		key_error(errbuf, errlen, "(null)", "no key file given");
		return -1;
	}
	if ((got = read_small_file(path, buf, KEYFILE_MAX)) == -1)
		key_error(errbuf, errlen, path, "%s", strerror(errno));
	else if (got > KEYFILE_MAX)
		key_error(errbuf, errlen, path, "longer than %d bytes: not a "
		    "key file", KEYFILE_MAX);
	else if (got == 0)
		key_error(errbuf, errlen, path, "empty file, no secret");
	else if ((n = first_line(buf, (size_t)got, &line)) == 0)
		key_error(errbuf, errlen, path, "only blank lines, no secret");
	else if (n < SHSYNC_SECRET_MIN)
		key_error(errbuf, errlen, path, "secret of %zu bytes is too "
		    "short, at least %d are needed (e.g. openssl rand -base64 "
		    "32)", n, SHSYNC_SECRET_MIN);
	else if (n > outlen)
		key_error(errbuf, errlen, path, "secret of %zu bytes is too "
		    "long, at most %zu are allowed", n, outlen);
	else {
		memcpy(out, line, n);
		*len = n;
		OPENSSL_cleanse(buf, sizeof(buf));
		return 0;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(out, outlen);
	return -1;
}

/* --- sealing and opening --------------------------------------------- */

/* Seal the plainlen bytes at out + HDR_LEN in place: write the magic and a
 * fresh nonce before them, the tag after. Returns the packet's length. */
static ssize_t
seal(struct shsync *s, unsigned char *out, size_t plainlen)
{
	unsigned char *ct = out + HDR_LEN, *nonce = out + SHSYNC_MAGIC_LEN;
	OSSL_PARAM p[2];
	int n, fin;

	memcpy(out, SHSYNC_MAGIC, SHSYNC_MAGIC_LEN);
	p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
	    ct + plainlen, SHSYNC_TAG_LEN);
	p[1] = OSSL_PARAM_construct_end();
	if (RAND_bytes(nonce, SHSYNC_NONCE_LEN) != 1 ||
	    EVP_EncryptInit_ex2(s->ectx, NULL, NULL, nonce, NULL) != 1 ||
	    EVP_EncryptUpdate(s->ectx, NULL, &n, out, SHSYNC_MAGIC_LEN) != 1 ||
	    EVP_EncryptUpdate(s->ectx, ct, &n, ct, (int)plainlen) != 1 ||
	    EVP_EncryptFinal_ex(s->ectx, ct + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_get_params(s->ectx, p) != 1) {
		OPENSSL_cleanse(ct, plainlen);	/* session secrets */
		return SHSYNC_E_CRYPTO;
	}
	return (ssize_t)(HDR_LEN + plainlen + SHSYNC_TAG_LEN);
}

/* Check what can be checked in clear: size bounds and magic. */
static int
check_frame(const unsigned char *pkt, size_t len)
{
	size_t n = len < SHSYNC_MAGIC_LEN ? len : SHSYNC_MAGIC_LEN;

	if (len > SHSYNC_MAX_PACKET || memcmp(pkt, SHSYNC_MAGIC, n) != 0)
		return SHSYNC_E_MALFORMED;
	if (len < SHSYNC_MIN_PACKET)
		return SHSYNC_E_TRUNCATED;
	return 0;
}

/* Authenticate and decrypt a framed packet into s->plain. */
static int
open_packet(struct shsync *s, const unsigned char *pkt, size_t len)
{
	size_t ctlen = len - HDR_LEN - SHSYNC_TAG_LEN;
	unsigned char tag[SHSYNC_TAG_LEN];
	OSSL_PARAM p[2];
	int n, fin;

	memcpy(tag, pkt + len - SHSYNC_TAG_LEN, SHSYNC_TAG_LEN);
	p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
	    tag, SHSYNC_TAG_LEN);
	p[1] = OSSL_PARAM_construct_end();
	if (EVP_DecryptInit_ex2(s->dctx, NULL, NULL, pkt + SHSYNC_MAGIC_LEN,
	    NULL) != 1 ||
	    EVP_DecryptUpdate(s->dctx, NULL, &n, pkt, SHSYNC_MAGIC_LEN) != 1 ||
	    EVP_DecryptUpdate(s->dctx, s->plain, &n, pkt + HDR_LEN,
	    (int)ctlen) != 1 ||
	    EVP_CIPHER_CTX_set_params(s->dctx, p) != 1)
		return SHSYNC_E_CRYPTO;
	if (EVP_DecryptFinal_ex(s->dctx, s->plain + n, &fin) != 1)
		return SHSYNC_E_FORGED;
	return 0;
}

/* Split the len bytes of an opened packet into their fields. */
static int
parse_inner(const unsigned char *p, size_t len, struct inner *in)
{
	size_t off;

	/* len >= INNER_FIXED + 2: check_frame() saw to it */
	in->created = get_be64(p);
	in->pktid = get_be64(p + 8);
	in->idlen = p[16];
	if (in->idlen == 0 || in->idlen > SHSYNC_ID_MAX)
		return SHSYNC_E_MALFORMED;
	off = 17 + in->idlen;
	if (off + 2 > len)
		return SHSYNC_E_TRUNCATED;
	in->id = p + 17;
	in->sesslen = get_be16(p + off);
	off += 2;
	if (in->sesslen == 0)
		return SHSYNC_E_MALFORMED;
	if (in->sesslen > len - off)
		return SHSYNC_E_TRUNCATED;
	if (in->sesslen < len - off)
		return SHSYNC_E_MALFORMED;	/* bytes left over */
	in->sess = p + off;
	return 0;
}

/* --- freshness and replays ------------------------------------------- */

/* Created before the window's lower edge, which never moves back. */
static inline int
too_old(const struct shsync *s, uint64_t created)
{
	return s->horizon >= SHSYNC_MAX_AGE_MS &&
	    created < s->horizon - SHSYNC_MAX_AGE_MS;
}

static inline int
is_stale(const struct shsync *s, uint64_t created, uint64_t now)
{
	return too_old(s, created) ||
	    (created > now && created - now > SHSYNC_MAX_FUTURE_MS);
}

static inline uint32_t
replay_hash(const struct shsync *s, uint64_t pktid)
{
	uint64_t z = pktid ^ s->seed;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)((z ^ (z >> 31)) & (REPLAY_BUCKETS - 1));
}

static int
replay_seen(const struct shsync *s, uint64_t pktid)
{
	uint32_t i;

	for (i = s->bucket[replay_hash(s, pktid)]; i != NIL;
	    i = s->ring[i].next)
		if (s->ring[i].pktid == pktid)
			return 1;
	return 0;
}

/* Forget the oldest entries while they are out of the window. */
static void
replay_expire(struct shsync *s)
{
	uint32_t *pp, h;

	while (s->count > 0 && too_old(s, s->ring[s->head].created)) {
		h = s->head;
		pp = &s->bucket[replay_hash(s, s->ring[h].pktid)];
		while (*pp != h)
			pp = &s->ring[*pp].next;
		*pp = s->ring[h].next;
		s->head = (h + 1) & REPLAY_MASK;
		s->count--;
	}
}

/* Remember a packet; the ring is known not to be full. */
static void
replay_add(struct shsync *s, uint64_t created, uint64_t pktid)
{
	uint32_t i = (s->head + s->count) & REPLAY_MASK;
	uint32_t *b = &s->bucket[replay_hash(s, pktid)];

	s->ring[i].created = created;
	s->ring[i].pktid = pktid;
	s->ring[i].next = *b;
	*b = i;
	s->count++;
}

/* Admit an authentic packet: fresh, not seen, and room to remember it. */
static int
admit(struct shsync *s, const struct inner *in, uint64_t now)
{
	if (is_stale(s, in->created, now))
		return SHSYNC_E_STALE;
	replay_expire(s);
	if (replay_seen(s, in->pktid))
		return SHSYNC_E_REPLAY;
	if (s->count == SHSYNC_REPLAY_MAX)
		return SHSYNC_E_FULL;
	replay_add(s, in->created, in->pktid);
	return 0;
}

/* --- public entry points --------------------------------------------- */

ssize_t
shsync_encode(struct shsync *s, const unsigned char *id, size_t idlen,
    const unsigned char *sess, size_t sesslen, uint64_t now_ms,
    unsigned char *out, size_t outlen)
{
	unsigned char *p;
	ssize_t n;

	if (s == NULL || id == NULL || sess == NULL || out == NULL ||
	    idlen == 0 || idlen > SHSYNC_ID_MAX || sesslen == 0)
		return SHSYNC_E_INVAL;
	if (sesslen > SHSYNC_MAX_PACKET - SHSYNC_OVERHEAD - idlen ||
	    SHSYNC_OVERHEAD + idlen + sesslen > outlen)
		return SHSYNC_E_TOOBIG;
	p = out + HDR_LEN;
	put_be64(p, now_ms);
	if (RAND_bytes(p + 8, 8) != 1)
		return SHSYNC_E_CRYPTO;
	p[16] = (unsigned char)idlen;
	memcpy(p + 17, id, idlen);
	put_be16(p + 17 + idlen, sesslen);
	memcpy(p + 19 + idlen, sess, sesslen);
	if ((n = seal(s, out, INNER_FIXED + idlen + sesslen)) >= 0)
		s->st.encoded++;
	return n;
}

static void
count(struct shsync *s, int err)
{
	uint64_t *c;

	switch (err) {
	case 0:
		c = &s->st.accepted;
		break;
	case SHSYNC_E_MALFORMED:
		c = &s->st.malformed;
		break;
	case SHSYNC_E_TRUNCATED:
		c = &s->st.truncated;
		break;
	case SHSYNC_E_FORGED:
		c = &s->st.forged;
		break;
	case SHSYNC_E_STALE:
		c = &s->st.stale;
		break;
	case SHSYNC_E_REPLAY:
		c = &s->st.replayed;
		break;
	case SHSYNC_E_FULL:
		c = &s->st.full;
		break;
	case SHSYNC_E_TOOBIG:
		c = &s->st.toobig;
		break;
	default:
		c = &s->st.crypto;
		break;
	}
	(*c)++;
}

/* Open, parse and admit a packet; on success *in points into s->plain. */
static int
decode(struct shsync *s, const unsigned char *pkt, size_t len,
    uint64_t now, size_t sesslen_max, struct inner *in)
{
	size_t plainlen;
	int err;

	if ((err = check_frame(pkt, len)) != 0)
		return err;
	plainlen = len - HDR_LEN - SHSYNC_TAG_LEN;
	if ((err = open_packet(s, pkt, len)) != 0 ||
	    (err = parse_inner(s->plain, plainlen, in)) != 0)
		return err;
	if (in->sesslen > sesslen_max)
		return SHSYNC_E_TOOBIG;
	return admit(s, in, now);
}

int
shsync_decode(struct shsync *s, const unsigned char *pkt, size_t len,
    uint64_t now_ms, unsigned char *id, size_t *idlen, unsigned char *sess,
    size_t sesslen_max, size_t *sesslen)
{
	struct inner in;
	int err;

	if (s == NULL || (pkt == NULL && len > 0) || id == NULL ||
	    idlen == NULL || sess == NULL || sesslen == NULL)
		return SHSYNC_E_INVAL;
	if (now_ms > s->horizon)
		s->horizon = now_ms;
	if (pkt == NULL)
		pkt = (const unsigned char *)"";
	if ((err = decode(s, pkt, len, now_ms, sesslen_max, &in)) == 0) {
		memcpy(id, in.id, in.idlen);
		*idlen = in.idlen;
		memcpy(sess, in.sess, in.sesslen);
		*sesslen = in.sesslen;
	}
	OPENSSL_cleanse(s->plain, sizeof(s->plain));
	count(s, err);
	return err;
}

void
shsync_stats(const struct shsync *s, struct shsync_stats *st)
{
	*st = s->st;
}

ssize_t
shsync_seal_for_test(struct shsync *s, const unsigned char *plain,
    size_t plainlen, unsigned char *out, size_t outlen)
{
	size_t total = HDR_LEN + plainlen + SHSYNC_TAG_LEN;

	if (s == NULL || plain == NULL || out == NULL || plainlen == 0)
		return SHSYNC_E_INVAL;
	if (plainlen > SHSYNC_MAX_PACKET || total > outlen ||
	    total > SHSYNC_MAX_PACKET)
		return SHSYNC_E_TOOBIG;
	memmove(out + HDR_LEN, plain, plainlen);
	return seal(s, out, plainlen);
}
