/* kdf.h - the HMAC-based derivations of TLS with SHA-256 or SHA-384: the
 * TLS 1.2 PRF and TLS 1.3's HKDF, computed straight on one reused digest
 * context (OpenSSL 3.0 builds and fetches a MAC and a digest per call). */
#ifndef STUD_KDF_H
#define STUD_KDF_H

#include <stddef.h>

#define KDF_HASH_MAX	48

/* The hash length of SHA-384 (sha384) or SHA-256. */
static inline size_t
kdf_hash_len(int sha384)
{
	return sha384 ? 48 : 32;
}

/* The hash of d1, d2 and d3 (n2, n3 may be 0) into out. Returns 0, or -1
 * if the digest is unavailable. */
int	kdf_hash(int sha384, const unsigned char *d1, size_t n1,
	    const unsigned char *d2, size_t n2, const unsigned char *d3,
	    size_t n3, unsigned char *out);

/* A running hash (one at a time per process): start it, add bytes, and
 * take the hash of what was added so far while the run goes on. Each
 * returns 0, or -1 if the digest failed. */
int	kdf_run_start(int sha384);
int	kdf_run_add(const unsigned char *d, size_t n);
int	kdf_run_peek(unsigned char *out);

/* A run set aside between two flights of one handshake while others use
 * the running hash. kdf_run_take() takes the current run away (NULL if
 * there is none; the next kdf_run_start() has a fresh one);
 * kdf_run_give() makes a run taken the current one again (the one current
 * is dropped); kdf_run_free() drops a run taken. */
struct kdf_run;
struct kdf_run *kdf_run_take(void);
void	kdf_run_give(struct kdf_run *r);
void	kdf_run_free(struct kdf_run *r);

/* out = HMAC(key, d1 || d2) (RFC 2104), kdf_hash_len(sha384) bytes; any
 * key length. Returns 0 or -1. */
int	kdf_hmac(int sha384, const unsigned char *key, size_t keylen,
	    const unsigned char *d1, size_t n1, const unsigned char *d2,
	    size_t n2, unsigned char *out);

/* TLS 1.2 PRF: P_hash(secret, seed) for len bytes (RFC 5246, 5); the
 * label is the seed's start. Returns 0 or -1. */
int	kdf_prf12(int sha384, const unsigned char *secret, size_t slen,
	    const unsigned char *seed, size_t seedlen, unsigned char *out,
	    size_t len);

/* HKDF-Extract(salt, ikm) (RFC 5869) into out (the hash length); an empty
 * salt is a string of zeros. Returns 0 or -1. */
int	kdf_extract(int sha384, const unsigned char *salt, size_t saltlen,
	    const unsigned char *ikm, size_t ikmlen, unsigned char *out);

/* HKDF-Expand(prk, HkdfLabel(len, prefix || label, context), len) (RFC
 * 8446, 7.1; prefix "tls13 "), len up to 255 hash lengths. Returns 0, or
 * -1 (also for a label or context too long for HkdfLabel). */
int	kdf_expand_label(int sha384, const unsigned char *prk, size_t prklen,
	    const unsigned char *prefix, size_t plen, const unsigned char *label,
	    size_t llen, const unsigned char *ctx, size_t clen,
	    unsigned char *out, size_t len);

#endif /* STUD_KDF_H */
