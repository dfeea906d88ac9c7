/* fuzz_x25519.c - x25519.c against OpenSSL's X25519. Input: a 32-byte
 * private key, then a 32-byte peer u-coordinate (any bytes: unreduced,
 * top bit set, small order). Checked: the same public key as OpenSSL's,
 * the same shared secret or the same refusal (all zeros) from each ladder
 * (the AVX-512 IFMA one where the CPU has it, and the portable one), and
 * both sides of a key agreement with a second, derived private key agree. */
#include <openssl/evp.h>

#include "fuzz.h"
#include "x25519.h"

/* OpenSSL's secret of priv and peer, 0; or -1 when it refuses it. */
static int
ref_shared(uint8_t out[32], const uint8_t priv[32], const uint8_t peer[32])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL,
	    priv, 32);
	EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL,
	    peer, 32);
	EVP_PKEY_CTX *c;
	size_t len = 32;
	int r;

	CHECK(k != NULL && p != NULL);
	c = EVP_PKEY_CTX_new(k, NULL);
	CHECK(c != NULL && EVP_PKEY_derive_init(c) == 1);
	r = EVP_PKEY_derive_set_peer_ex(c, p, 0) == 1 &&
	    EVP_PKEY_derive(c, out, &len) == 1 ? 0 : -1;
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(k);
	EVP_PKEY_free(p);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	uint8_t priv[32], peer[32], pub[32], ref[32], s1[32], s2[32];
	uint8_t priv2[32], pub2[32];
	size_t len = 32;
	EVP_PKEY *k;

	if (!ready) {
		CHECK(x25519_init() == 0);
		ready = 1;
	}
	if (size < 64)
		return 0;
	memcpy(priv, data, 32);
	memcpy(peer, data + 32, 32);

	CHECK(x25519_public(pub, priv) == 0);
	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	CHECK(k != NULL && EVP_PKEY_get_raw_public_key(k, ref, &len) == 1);
	EVP_PKEY_free(k);
	CHECK(memcmp(pub, ref, 32) == 0);

	/* each ladder: the four-lane one where this CPU has it, the portable */
	for (int vector = 1; vector >= 0; vector--) {
		if (x25519_ladder(vector) != vector)
			continue;
		CHECK(x25519_shared(s1, priv, peer) ==
		    ref_shared(ref, priv, peer));
		if (ref_shared(ref, priv, peer) == 0)
			CHECK(memcmp(s1, ref, 32) == 0);
	}
	x25519_ladder(1);

	for (int i = 0; i < 32; i++)
		priv2[i] = (uint8_t)(priv[i] ^ peer[i] ^ 0x5a);
	CHECK(x25519_public(pub2, priv2) == 0);
	CHECK(x25519_shared(s1, priv, pub2) == 0);
	CHECK(x25519_shared(s2, priv2, pub) == 0);
	CHECK(memcmp(s1, s2, 32) == 0);
	return 0;
}
