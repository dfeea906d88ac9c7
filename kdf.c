/* kdf.c - HMAC, the TLS 1.2 PRF and TLS 1.3's HKDF over SHA-256 or SHA-384,
 * on one digest context reused by every call: the key derivations of
 * record.c, resume.c and stud's OpenSSL provider (provider.c). */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "kdf.h"

static EVP_MD		*md_alg[2];	/* SHA-256, SHA-384: fetched once */
static EVP_MD_CTX	*mdctx;
static EVP_MD_CTX	*run, *peek;	/* kdf_run_*() */

static const EVP_MD *
md_of(int sha384)
{
	static const char *const name[2] = { "SHA2-256", "SHA2-384" };
	int i = sha384 != 0;

	if (mdctx == NULL && (mdctx = EVP_MD_CTX_new()) == NULL)
		return NULL;
	if (md_alg[i] == NULL)
		md_alg[i] = EVP_MD_fetch(NULL, name[i], NULL);
	return md_alg[i];
}

int
kdf_hash(int sha384, const unsigned char *d1, size_t n1,
    const unsigned char *d2, size_t n2, const unsigned char *d3, size_t n3,
    unsigned char *out)
{
	const EVP_MD *md = md_of(sha384);

	return md != NULL && EVP_DigestInit_ex2(mdctx, md, NULL) == 1 &&
	    (n1 == 0 || EVP_DigestUpdate(mdctx, d1, n1) == 1) &&
	    (n2 == 0 || EVP_DigestUpdate(mdctx, d2, n2) == 1) &&
	    (n3 == 0 || EVP_DigestUpdate(mdctx, d3, n3) == 1) &&
	    EVP_DigestFinal_ex(mdctx, out, NULL) == 1 ? 0 : -1;
}

int
kdf_run_start(int sha384)
{
	const EVP_MD *md = md_of(sha384);

	if (run == NULL && (run = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (peek == NULL && (peek = EVP_MD_CTX_new()) == NULL)
		return -1;
	return md != NULL && EVP_DigestInit_ex2(run, md, NULL) == 1 ? 0 : -1;
}

int
kdf_run_add(const unsigned char *d, size_t n)
{
	return EVP_DigestUpdate(run, d, n) == 1 ? 0 : -1;
}

int
kdf_run_peek(unsigned char *out)
{
	return EVP_MD_CTX_copy_ex(peek, run) == 1 &&
	    EVP_DigestFinal_ex(peek, out, NULL) == 1 ? 0 : -1;
}

/* Digest contexts of runs dropped, reused by the next ones. */
#define SPARE_RUNS	64
static EVP_MD_CTX	*spare[SPARE_RUNS];
static size_t		 nspare;

struct kdf_run *
kdf_run_take(void)
{
	EVP_MD_CTX *r = run;

	run = nspare > 0 ? spare[--nspare] : NULL;
	return (struct kdf_run *)r;
}

void
kdf_run_free(struct kdf_run *r)
{
	if (r == NULL)
		return;
	if (nspare < SPARE_RUNS)
		spare[nspare++] = (EVP_MD_CTX *)r;
	else
		EVP_MD_CTX_free((EVP_MD_CTX *)r);
}

void
kdf_run_give(struct kdf_run *r)
{
	kdf_run_free((struct kdf_run *)run);
	run = (EVP_MD_CTX *)r;
}

int
kdf_hmac(int sha384, const unsigned char *key, size_t keylen,
    const unsigned char *d1, size_t n1, const unsigned char *d2, size_t n2,
    unsigned char *out)
{
	unsigned char pad[128], inner[KDF_HASH_MAX];
	size_t bl = sha384 ? 128 : 64, hl = kdf_hash_len(sha384), i;
	int r = 0;

	memset(pad, 0, bl);
	if (keylen > bl)	/* a long key is hashed first (RFC 2104, 2) */
		r = kdf_hash(sha384, key, keylen, NULL, 0, NULL, 0, pad);
	else if (keylen > 0)
		memcpy(pad, key, keylen);
	for (i = 0; i < bl; i++)
		pad[i] ^= 0x36;
	if (r == 0)
		r = kdf_hash(sha384, pad, bl, d1, n1, d2, n2, inner);
	for (i = 0; i < bl; i++)
		pad[i] ^= 0x36 ^ 0x5c;
	if (r == 0)
		r = kdf_hash(sha384, pad, bl, inner, hl, NULL, 0, out);
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return r;
}

int
kdf_prf12(int sha384, const unsigned char *secret, size_t slen,
    const unsigned char *seed, size_t seedlen, unsigned char *out, size_t len)
{
	unsigned char a[KDF_HASH_MAX], t[KDF_HASH_MAX];
	size_t hl = kdf_hash_len(sha384), n;
	int r;

	/* A(1) = HMAC(secret, seed); each block HMAC(secret, A(i) || seed) */
	r = kdf_hmac(sha384, secret, slen, seed, seedlen, NULL, 0, a);
	while (len > 0 && r == 0) {
		r = kdf_hmac(sha384, secret, slen, a, hl, seed, seedlen, t);
		n = len < hl ? len : hl;
		memcpy(out, t, n);
		out += n;
		len -= n;
		if (len > 0 && r == 0)
			r = kdf_hmac(sha384, secret, slen, a, hl, NULL, 0, a);
	}
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(t, sizeof(t));
	return r;
}

int
kdf_extract(int sha384, const unsigned char *salt, size_t saltlen,
    const unsigned char *ikm, size_t ikmlen, unsigned char *out)
{
	/* HMAC pads its key with zeros: no salt is the same as hl zeros */
	return kdf_hmac(sha384, salt, saltlen, ikm, ikmlen, NULL, 0, out);
}

int
kdf_expand_label(int sha384, const unsigned char *prk, size_t prklen,
    const unsigned char *prefix, size_t plen, const unsigned char *label,
    size_t llen, const unsigned char *ctx, size_t clen, unsigned char *out,
    size_t len)
{
	/* T(i-1) || HkdfLabel || i: room for T, then the label's vector */
	unsigned char buf[KDF_HASH_MAX + 2 + 1 + 255 + 1 + 255 + 1],
	    t[KDF_HASH_MAX];
	unsigned char *info = buf + KDF_HASH_MAX, *p = info;
	size_t hl = kdf_hash_len(sha384), n, infolen;
	unsigned i;
	int r = 0;

	if (plen + llen > 255 || clen > 255 || len > 255 * hl)
		return -1;
	*p++ = (unsigned char)(len >> 8);
	*p++ = (unsigned char)len;
	*p++ = (unsigned char)(plen + llen);
	if (plen > 0)
		memcpy(p, prefix, plen);
	if (llen > 0)
		memcpy(p + plen, label, llen);
	p += plen + llen;
	*p++ = (unsigned char)clen;
	if (clen > 0)
		memcpy(p, ctx, clen);
	p += clen;
	infolen = (size_t)(p - info);
	for (i = 1; len > 0 && r == 0; i++) {
		info[infolen] = (unsigned char)i;
		if (i == 1)
			r = kdf_hmac(sha384, prk, prklen, info, infolen + 1,
			    NULL, 0, t);
		else {
			memcpy(info - hl, t, hl);
			r = kdf_hmac(sha384, prk, prklen, info - hl,
			    hl + infolen + 1, NULL, 0, t);
		}
		n = len < hl ? len : hl;
		memcpy(out, t, n);
		out += n;
		len -= n;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(t, sizeof(t));
	return r;
}
