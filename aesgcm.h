/* aesgcm.h - AES-GCM (128 and 256-bit keys, 96-bit nonces) on x86-64
 * CPUs with VAES, VPCLMULQDQ and AVX-512: sixteen blocks per step where
 * OpenSSL 3.0 does one xmm register's worth. The record layer uses it when
 * aesgcm_available() says so, and OpenSSL's EVP otherwise. */
#ifndef STUD_AESGCM_H
#define STUD_AESGCM_H

#include <stddef.h>

#define AESGCM_TAG_LEN	16

/* An expanded key: round keys and the powers of the hash key. */
struct aesgcm_key {
	unsigned char	hp[16][16];	/* hp[i]: H^(16 - i), POLYVAL form */
	unsigned char	rk[15][16];	/* round keys */
	int		rounds;		/* 10 or 14 */
} __attribute__((aligned(64)));

/* True when this CPU and OS run the code here (checked once). */
int	aesgcm_available(void);

/* Expand a 16 or 32-byte key into k. Returns 0, or -1 for another key
 * length or a CPU that aesgcm_available() refuses. */
int	aesgcm_set_key(struct aesgcm_key *k, const unsigned char *key,
	    size_t keylen);

/* Wipe an expanded key. */
void	aesgcm_wipe(struct aesgcm_key *k);

/* Encrypt len bytes from in to out (which may be the same buffer; not
 * otherwise overlapping) under nonce, authenticating aad too, and write
 * the 16-byte tag. len is below 2^32 - 2 blocks. Returns 0, or -1 only
 * for a key that aesgcm_set_key() refused. */
int	aesgcm_seal(const struct aesgcm_key *k, const unsigned char nonce[12],
	    const unsigned char *aad, size_t aadlen, const unsigned char *in,
	    unsigned char *out, size_t len, unsigned char tag[16]);

/* Decrypt len bytes from in to out (same rules) and check tag. Returns 0,
 * or -1 if the tag is wrong: out then holds bytes that must not be used. */
int	aesgcm_open(const struct aesgcm_key *k, const unsigned char nonce[12],
	    const unsigned char *aad, size_t aadlen, const unsigned char *in,
	    unsigned char *out, size_t len, const unsigned char tag[16]);

#endif
